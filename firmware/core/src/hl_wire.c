/* hl_wire.c: see hl_wire.h. */
#include "hl_wire.h"

#include <string.h>

void hl_rd_init(hl_rd_t *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->ok = true;
}

const uint8_t *hl_rd_bytes(hl_rd_t *r, size_t n)
{
    if (!r->ok || n > r->len - r->pos) {
        r->ok = false;
        r->pos = r->len;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

uint8_t hl_rd_u8(hl_rd_t *r)
{
    const uint8_t *p = hl_rd_bytes(r, 1);
    return p ? p[0] : 0u;
}

uint16_t hl_rd_u16(hl_rd_t *r)
{
    const uint8_t *p = hl_rd_bytes(r, 2);
    return p ? hl_le16(p) : 0u;
}

uint32_t hl_rd_u32(hl_rd_t *r)
{
    const uint8_t *p = hl_rd_bytes(r, 4);
    return p ? hl_le32(p) : 0u;
}

void hl_rd_text8(hl_rd_t *r, char *dst, size_t cap)
{
    size_t n = hl_rd_u8(r);
    const uint8_t *p = hl_rd_bytes(r, n);
    size_t keep = 0;
    if (p != NULL && cap > 0) {
        keep = n < cap - 1 ? n : cap - 1;
        memcpy(dst, p, keep);
    }
    if (cap > 0) {
        dst[keep] = '\0';
    }
}

void hl_wr_init(hl_wr_t *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->ok = true;
    w->flush = NULL;
    w->ctx = NULL;
}

void hl_wr_bytes(hl_wr_t *w, const void *data, size_t n)
{
    const uint8_t *src = (const uint8_t *)data;
    while (n > 0 && w->ok) {
        if (w->len == w->cap) {
            if (w->flush == NULL) {
                w->ok = false;
                return;
            }
            w->flush(w);
            continue;
        }
        size_t room = w->cap - w->len;
        size_t step = n < room ? n : room;
        memcpy(w->buf + w->len, src, step);
        w->len += step;
        src += step;
        n -= step;
    }
}

void hl_wr_u8(hl_wr_t *w, uint8_t v) { hl_wr_bytes(w, &v, 1); }

void hl_wr_u16(hl_wr_t *w, uint16_t v)
{
    uint8_t b[2];
    hl_put16(b, v);
    hl_wr_bytes(w, b, sizeof b);
}

void hl_wr_u32(hl_wr_t *w, uint32_t v)
{
    uint8_t b[4];
    hl_put32(b, v);
    hl_wr_bytes(w, b, sizeof b);
}

void hl_wr_i32(hl_wr_t *w, int32_t v) { hl_wr_u32(w, (uint32_t)v); }

void hl_wr_u64(hl_wr_t *w, uint64_t v)
{
    hl_wr_u32(w, (uint32_t)v);
    hl_wr_u32(w, (uint32_t)(v >> 32));
}

void hl_wr_f32(hl_wr_t *w, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits); /* IEEE-754 binary32 on every supported target */
    hl_wr_u32(w, bits);
}

void hl_wr_text8(hl_wr_t *w, const char *s)
{
    size_t n = s ? strlen(s) : 0u;
    if (n > 255u) {
        n = 255u;
    }
    hl_wr_u8(w, (uint8_t)n);
    hl_wr_bytes(w, s, n);
}

void hl_wr_text16(hl_wr_t *w, const char *s)
{
    size_t n = s ? strlen(s) : 0u;
    if (n > 65535u) {
        n = 65535u;
    }
    hl_wr_u16(w, (uint16_t)n);
    hl_wr_bytes(w, s, n);
}
