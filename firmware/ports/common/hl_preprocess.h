/* hl_preprocess.h: camera pixels to a model's input tensor, for the board ports.
 *
 * The same arithmetic as the emulator's board-side preprocessing (hostlink/emulator/camera.py,
 * prepare_input) after its resize, so a model sees the same tensor on a board as in the emulator:
 *   channels   1: grey (the BT.601 weights of OpenCV's RGB2GRAY, in its fixed point);
 *              3: RGB;  more than 3: RGB, then CoordConv planes x, y, x, y, ... spanning [-1, 1]
 *   values     pixel / 127.5 - 1, in float32
 *   quantised  round-half-even(value / scale) + zero_point, clipped to the dtype (INT8, UINT8);
 *              FLOAT32 tensors take the value itself
 * No allocation; the caller owns every buffer. */
#ifndef HL_PREPROCESS_H
#define HL_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "hl_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Height, width and channels of an image tensor shaped [1, H, W, C] or [H, W, C]; 0 on success. */
int hl_pre_image_dims(const hl_tensor_spec_t *spec, uint32_t *h, uint32_t *w, uint32_t *c);

/* rgb: h*w*3 bytes at exactly the tensor's H x W. out: hl_tensor_bytes(spec) bytes. */
hl_status_t hl_pre_rgb_to_tensor(const uint8_t *rgb, const hl_tensor_spec_t *spec, uint8_t *out, size_t cap);

/* UYVY 4:2:2 (the Spresense ISX012/ISX019 output) at sw x sh to RGB888 at dw x dh, nearest pixel. */
void hl_pre_uyvy_to_rgb(const uint8_t *uyvy, uint32_t sw, uint32_t sh, uint8_t *rgb, uint32_t dw, uint32_t dh);

#ifdef __cplusplus
}
#endif

#endif /* HL_PREPROCESS_H */
