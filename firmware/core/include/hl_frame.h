/* hl_frame.h: protocol v1 frames: a resynchronising receiver and the header/trailer writer.
 *
 * Receiver contract (same rule as hostlink/framing.py, so both sides drop the same bytes):
 *  1. Bytes before a magic "HL" are skipped.
 *  2. A candidate whose header CRC fails, whose reserved byte is not 0, or whose length exceeds
 *     max_payload is rejected, and the scan resumes ONE byte after its magic; so does a candidate
 *     whose trailer CRC fails. A corrupted or truncated frame therefore never swallows the good
 *     frames behind it.
 *  3. Nothing else is trusted: the length is checked before a single payload byte is awaited.
 * The receiver never allocates; it works in a caller-provided buffer of at least
 * max_payload + HL_OVERHEAD bytes, which is all it needs to hold any frame it can accept. */
#ifndef HL_FRAME_H
#define HL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_protocol.h"

typedef struct {
    uint8_t version;
    uint8_t type;
    uint8_t flags;
    uint16_t seq;
    uint32_t length;
    uint32_t crc;           /* the trailer; identical for a byte-identical retry */
    const uint8_t *payload; /* valid until the next hl_rx_* call */
} hl_frame_t;

typedef struct {
    uint32_t frames;
    uint32_t header_errors;
    uint32_t crc_errors;
    uint32_t oversize;
    uint32_t skipped_bytes;
} hl_rx_stats_t;

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t head;    /* first unconsumed byte */
    size_t tail;    /* one past the last received byte */
    size_t release; /* bytes of the frame last returned, dropped on the next call */
    uint32_t max_payload;
    hl_rx_stats_t stats;
} hl_rx_t;

/* cap must be >= max_payload + HL_OVERHEAD (returns false otherwise). */
bool hl_rx_init(hl_rx_t *rx, uint8_t *buf, size_t cap, uint32_t max_payload);
void hl_rx_reset(hl_rx_t *rx);

/* Copy in as many bytes as fit; returns how many were taken (the rest must be fed again after
 * hl_rx_next has drained a frame). */
size_t hl_rx_feed(hl_rx_t *rx, const uint8_t *data, size_t n);

/* Zero-copy receive: where to read into and how much room there is, then how much arrived. */
uint8_t *hl_rx_space(hl_rx_t *rx, size_t *room);
void hl_rx_commit(hl_rx_t *rx, size_t n);

/* The next verified frame, or false when none is complete yet. */
bool hl_rx_next(hl_rx_t *rx, hl_frame_t *out);

/* Header for a frame whose payload is `length` bytes (14 bytes written to hdr). */
void hl_frame_header(uint8_t *hdr, uint8_t type, uint8_t flags, uint16_t seq, uint32_t length);

/* Write header and trailer around a payload already at frame + HL_HEADER_SIZE; returns the frame's
 * total size (payload_len + HL_OVERHEAD). */
size_t hl_frame_seal(uint8_t *frame, uint8_t type, uint8_t flags, uint16_t seq, uint32_t payload_len);

#endif /* HL_FRAME_H */
