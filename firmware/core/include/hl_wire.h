/* hl_wire.h: bounds-checked little-endian readers and writers for payloads.
 *
 * A reader never reads past `len` (the payload length the frame parser verified); the first short
 * read clears `ok` and every later read returns zeros, so a decoder checks `ok` once at the end
 * (nanopb's bytes_left rule). A writer either fills a plain buffer (cleared `ok` on overflow) or,
 * with a flush callback, streams: when the buffer is full it calls flush, which sends the bytes as
 * one fragment and empties the buffer. The same encoders therefore build a 20-byte ACK in a test
 * buffer and a 100 KB RESULT as a train of MORE frames. */
#ifndef HL_WIRE_H
#define HL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool ok;
} hl_rd_t;

void hl_rd_init(hl_rd_t *r, const uint8_t *p, size_t len);
uint8_t hl_rd_u8(hl_rd_t *r);
uint16_t hl_rd_u16(hl_rd_t *r);
uint32_t hl_rd_u32(hl_rd_t *r);
/* n bytes in place (NULL and ok=false when fewer remain). */
const uint8_t *hl_rd_bytes(hl_rd_t *r, size_t n);
/* A u8-length-prefixed string, copied NUL-terminated and truncated to cap-1 bytes. */
void hl_rd_text8(hl_rd_t *r, char *dst, size_t cap);
static inline size_t hl_rd_left(const hl_rd_t *r) { return r->len - r->pos; }

typedef struct hl_wr hl_wr_t;
struct hl_wr {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool ok;
    /* Called when the buffer is full and more must be written; it must empty the buffer (len = 0)
     * or clear ok. NULL for a plain buffer. */
    void (*flush)(hl_wr_t *w);
    void *ctx;
};

void hl_wr_init(hl_wr_t *w, uint8_t *buf, size_t cap);
void hl_wr_bytes(hl_wr_t *w, const void *data, size_t n);
void hl_wr_u8(hl_wr_t *w, uint8_t v);
void hl_wr_u16(hl_wr_t *w, uint16_t v);
void hl_wr_u32(hl_wr_t *w, uint32_t v);
void hl_wr_i32(hl_wr_t *w, int32_t v);
void hl_wr_u64(hl_wr_t *w, uint64_t v);
void hl_wr_f32(hl_wr_t *w, float v);
/* Length-prefixed UTF-8 (the core only emits ASCII); truncated to what the prefix can count. */
void hl_wr_text8(hl_wr_t *w, const char *s);
void hl_wr_text16(hl_wr_t *w, const char *s);

/* Little-endian loads and stores on raw buffers (header fields). */
static inline uint16_t hl_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t hl_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void hl_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void hl_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#endif /* HL_WIRE_H */
