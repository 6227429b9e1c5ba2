/* hl_preprocess.c: see hl_preprocess.h. */
#include "hl_preprocess.h"

#include <math.h>
#include <string.h>

#include "hl_core.h"

int hl_pre_image_dims(const hl_tensor_spec_t *spec, uint32_t *h, uint32_t *w, uint32_t *c)
{
    const uint32_t *s = spec->shape;
    if (spec->ndim == 4u && s[0] == 1u) {
        s++;
    } else if (spec->ndim != 3u) {
        return -1;
    }
    *h = s[0];
    *w = s[1];
    *c = s[2];
    return (*h > 0u && *w > 0u && *c > 0u) ? 0 : -1;
}

/* np.linspace(-1, 1, n, dtype=float32)[i]: computed in double, the last point exactly 1 */
static float grid(uint32_t i, uint32_t n)
{
    if (n < 2u) {
        return -1.0f;
    }
    if (i == n - 1u) {
        return 1.0f;
    }
    double step = 2.0 / (double)(n - 1u);
    return (float)((double)i * step - 1.0);
}

static void store(const hl_tensor_spec_t *spec, float x, uint8_t *out, size_t index)
{
    if (spec->dtype == HL_DTYPE_FLOAT32) {
        memcpy(out + 4u * index, &x, sizeof x);
        return;
    }
    float q = x;
    if (spec->scale != 0.0f) {
        q = rintf(x / spec->scale) + (float)spec->zero_point; /* rint: half to even, like np.round */
    }
    if (spec->dtype == HL_DTYPE_INT8) {
        q = q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q);
        out[index] = (uint8_t)(int8_t)q;
    } else {
        q = q < 0.0f ? 0.0f : (q > 255.0f ? 255.0f : q);
        out[index] = (uint8_t)q;
    }
}

hl_status_t hl_pre_rgb_to_tensor(const uint8_t *rgb, const hl_tensor_spec_t *spec, uint8_t *out, size_t cap)
{
    uint32_t h, w, c;
    if (hl_pre_image_dims(spec, &h, &w, &c) != 0) {
        return hl_core_refuse(HL_ERR_SOURCE_UNSUPPORTED, "the model's input is not an image tensor [1, H, W, C]");
    }
    if (spec->dtype != HL_DTYPE_INT8 && spec->dtype != HL_DTYPE_UINT8 && spec->dtype != HL_DTYPE_FLOAT32) {
        return hl_core_refuse(HL_ERR_SOURCE_UNSUPPORTED, "the camera path feeds INT8, UINT8 or FLOAT32 inputs only");
    }
    if (cap < hl_tensor_bytes(spec)) {
        return hl_core_refuse(HL_ERR_INTERNAL, "the input tensor buffer is smaller than the tensor");
    }
    uint32_t colour = c == 1u ? 1u : (c < 3u ? c : 3u);
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            const uint8_t *px = rgb + 3u * ((size_t)y * w + x);
            size_t base = ((size_t)y * w + x) * c;
            if (c == 1u) {
                /* OpenCV RGB2GRAY on 8-bit: (R*4899 + G*9617 + B*1868 + 2^13) >> 14 */
                uint32_t g = (px[0] * 4899u + px[1] * 9617u + px[2] * 1868u + 8192u) >> 14;
                store(spec, (float)g / 127.5f - 1.0f, out, base);
                continue;
            }
            for (uint32_t k = 0; k < colour; k++) {
                store(spec, (float)px[k] / 127.5f - 1.0f, out, base + k);
            }
            for (uint32_t k = colour; k < c; k++) {
                float v = ((k - colour) % 2u == 0u) ? grid(x, w) : grid(y, h);
                store(spec, v, out, base + k);
            }
        }
    }
    return HL_OK;
}

static uint8_t clamp8(int32_t v)
{
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

void hl_pre_uyvy_to_rgb(const uint8_t *uyvy, uint32_t sw, uint32_t sh, uint8_t *rgb, uint32_t dw, uint32_t dh)
{
    for (uint32_t y = 0; y < dh; y++) {
        uint32_t sy = (uint32_t)(((uint64_t)y * sh) / dh);
        for (uint32_t x = 0; x < dw; x++) {
            uint32_t sx = (uint32_t)(((uint64_t)x * sw) / dw);
            const uint8_t *pair = uyvy + 2u * ((size_t)sy * sw + (sx & ~1u)); /* U Y0 V Y1 */
            int32_t yy = pair[(sx & 1u) ? 3 : 1] - 16;
            int32_t u = pair[0] - 128;
            int32_t v = pair[2] - 128;
            /* BT.601 limited range, 8.8 fixed point */
            uint8_t *o = rgb + 3u * ((size_t)y * dw + x);
            o[0] = clamp8((298 * yy + 409 * v + 128) >> 8);
            o[1] = clamp8((298 * yy - 100 * u - 208 * v + 128) >> 8);
            o[2] = clamp8((298 * yy + 516 * u + 128) >> 8);
        }
    }
}
