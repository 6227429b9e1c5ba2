/* hl_util.c: byte-range coverage, messages without printf, tensor sizes. */
#include <string.h>

#include "hl_internal.h"

void hl_cover_reset(hl_coverage_t *c)
{
    c->n = 0;
    c->covered = 0;
}

bool hl_cover_add(hl_coverage_t *c, uint32_t start, uint32_t end)
{
    if (end <= start) {
        return true;
    }
    /* find the spans [lo, hi) that touch or overlap [start, end) */
    uint8_t lo = 0;
    while (lo < c->n && c->s[lo].end < start) {
        lo++;
    }
    uint8_t hi = lo;
    uint32_t merged_start = start;
    uint32_t merged_end = end;
    uint32_t removed = 0;
    while (hi < c->n && c->s[hi].start <= end) {
        if (c->s[hi].start < merged_start) {
            merged_start = c->s[hi].start;
        }
        if (c->s[hi].end > merged_end) {
            merged_end = c->s[hi].end;
        }
        removed += c->s[hi].end - c->s[hi].start;
        hi++;
    }
    uint8_t n_after = (uint8_t)(c->n - (hi - lo) + 1u);
    if (n_after > HL_CFG_MAX_SPANS) {
        return false;
    }
    /* replace spans [lo, hi) by the merged one, keeping the list sorted */
    if (hi - lo != 1u) {
        memmove(&c->s[lo + 1u], &c->s[hi], (size_t)(c->n - hi) * sizeof c->s[0]);
    }
    c->s[lo].start = merged_start;
    c->s[lo].end = merged_end;
    c->n = n_after;
    c->covered = c->covered - removed + (merged_end - merged_start);
    return true;
}

bool hl_cover_complete(const hl_coverage_t *c, uint32_t size)
{
    return c->n == 1u && c->s[0].start == 0u && c->s[0].end == size;
}

void hl_text_reset(hl_text_t *t)
{
    t->len = 0;
    t->buf[0] = '\0';
}

hl_text_t *hl_text_str(hl_text_t *t, const char *s)
{
    while (s != NULL && *s != '\0' && t->len < HL_CFG_TEXT_MAX) {
        t->buf[t->len++] = *s++;
    }
    t->buf[t->len] = '\0';
    return t;
}

hl_text_t *hl_text_u64(hl_text_t *t, uint64_t v)
{
    char digits[21];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    char out[21];
    for (size_t i = 0; i < n; i++) {
        out[i] = digits[n - 1u - i];
    }
    out[n] = '\0';
    return hl_text_str(t, out);
}

hl_text_t *hl_text_hex32(hl_text_t *t, uint32_t v)
{
    static const char hex[] = "0123456789abcdef";
    char out[9];
    int width = v > 0xFFu ? 8 : 2;
    for (int i = 0; i < width; i++) {
        out[i] = hex[(v >> (4 * (width - 1 - i))) & 0xFu];
    }
    out[width] = '\0';
    return hl_text_str(t, out);
}

uint32_t hl_dtype_size(uint8_t dtype)
{
    switch (dtype) {
    case HL_DTYPE_INT8:
    case HL_DTYPE_UINT8:
        return 1u;
    case HL_DTYPE_INT16:
        return 2u;
    case HL_DTYPE_INT32:
    case HL_DTYPE_FLOAT32:
        return 4u;
    default:
        return 0u;
    }
}

uint32_t hl_tensor_bytes(const hl_tensor_spec_t *spec)
{
    uint64_t n = hl_dtype_size(spec->dtype);
    for (uint8_t i = 0; i < spec->ndim && i < HL_CFG_MAX_DIMS; i++) {
        n *= spec->shape[i];
        if (n > 0xFFFFFFFFu) {
            return 0u;
        }
    }
    return (uint32_t)n;
}
