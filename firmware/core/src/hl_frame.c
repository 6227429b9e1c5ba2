/* hl_frame.c: see hl_frame.h for the receiver contract. */
#include "hl_frame.h"

#include <string.h>

#include "hl_crc.h"
#include "hl_wire.h"

bool hl_rx_init(hl_rx_t *rx, uint8_t *buf, size_t cap, uint32_t max_payload)
{
    memset(rx, 0, sizeof *rx);
    if (buf == NULL || max_payload > HL_PROTOCOL_MAX_PAYLOAD || cap < (size_t)max_payload + HL_OVERHEAD) {
        return false;
    }
    rx->buf = buf;
    rx->cap = cap;
    rx->max_payload = max_payload;
    return true;
}

void hl_rx_reset(hl_rx_t *rx)
{
    rx->head = rx->tail = rx->release = 0;
}

static void drop(hl_rx_t *rx, size_t n)
{
    rx->head += n;
    if (rx->head == rx->tail) {
        rx->head = rx->tail = 0; /* empty: restart at the front for free */
    }
}

static void release_frame(hl_rx_t *rx)
{
    if (rx->release > 0) {
        drop(rx, rx->release);
        rx->release = 0;
    }
}

uint8_t *hl_rx_space(hl_rx_t *rx, size_t *room)
{
    release_frame(rx);
    if (rx->tail == rx->cap && rx->head > 0) {
        memmove(rx->buf, rx->buf + rx->head, rx->tail - rx->head);
        rx->tail -= rx->head;
        rx->head = 0;
    }
    *room = rx->cap - rx->tail;
    return rx->buf + rx->tail;
}

void hl_rx_commit(hl_rx_t *rx, size_t n)
{
    size_t room = rx->cap - rx->tail;
    rx->tail += n < room ? n : room;
}

size_t hl_rx_feed(hl_rx_t *rx, const uint8_t *data, size_t n)
{
    size_t room;
    uint8_t *dst = hl_rx_space(rx, &room);
    size_t take = n < room ? n : room;
    if (take > 0) {
        memcpy(dst, data, take);
        hl_rx_commit(rx, take);
    }
    return take;
}

bool hl_rx_next(hl_rx_t *rx, hl_frame_t *out)
{
    release_frame(rx);
    for (;;) {
        const uint8_t *p = rx->buf + rx->head;
        size_t avail = rx->tail - rx->head;

        /* 1. skip to the next magic; keep a lone trailing 'H' that may start one */
        size_t i = 0;
        while (i < avail && !(p[i] == HL_MAGIC_0 && (i + 1 == avail || p[i + 1] == HL_MAGIC_1))) {
            i++;
        }
        if (i > 0) {
            rx->stats.skipped_bytes += (uint32_t)i;
            drop(rx, i);
            continue;
        }
        if (avail < HL_HEADER_SIZE) {
            return false;
        }

        /* 2. header: its own CRC, the reserved byte, the length against what we announced */
        uint16_t hcrc = hl_le16(p + HL_HDR_HCRC_OFF);
        uint32_t length = hl_le32(p + HL_HDR_LENGTH_OFF);
        if (hcrc != hl_crc16(HL_CRC16_INIT, p, HL_HEADER_FIELDS_SIZE) || p[HL_HDR_RESERVED_OFF] != 0u) {
            rx->stats.header_errors++;
            rx->stats.skipped_bytes++;
            drop(rx, 1);
            continue;
        }
        if (length > rx->max_payload) {
            rx->stats.oversize++;
            rx->stats.skipped_bytes++;
            drop(rx, 1);
            continue;
        }
        size_t total = (size_t)HL_HEADER_SIZE + length + HL_TRAILER_SIZE;
        if (avail < total) {
            return false; /* fits: cap >= max_payload + overhead, checked at init */
        }

        /* 3. trailer CRC over header + payload */
        uint32_t crc = hl_le32(p + HL_HEADER_SIZE + length);
        if (crc != hl_crc32(HL_CRC32_INIT, p, HL_HEADER_SIZE + length)) {
            rx->stats.crc_errors++;
            rx->stats.skipped_bytes++;
            drop(rx, 1);
            continue;
        }
        out->version = p[HL_HDR_VERSION_OFF];
        out->type = p[HL_HDR_TYPE_OFF];
        out->flags = p[HL_HDR_FLAGS_OFF];
        out->seq = hl_le16(p + HL_HDR_SEQ_OFF);
        out->length = length;
        out->crc = crc;
        out->payload = p + HL_HEADER_SIZE;
        rx->release = total;
        rx->stats.frames++;
        return true;
    }
}

void hl_frame_header(uint8_t *hdr, uint8_t type, uint8_t flags, uint16_t seq, uint32_t length)
{
    hdr[HL_HDR_MAGIC_OFF] = HL_MAGIC_0;
    hdr[HL_HDR_MAGIC_OFF + 1] = HL_MAGIC_1;
    hdr[HL_HDR_VERSION_OFF] = HL_PROTO_VERSION;
    hdr[HL_HDR_TYPE_OFF] = type;
    hdr[HL_HDR_FLAGS_OFF] = flags;
    hdr[HL_HDR_RESERVED_OFF] = 0u;
    hl_put16(hdr + HL_HDR_SEQ_OFF, seq);
    hl_put32(hdr + HL_HDR_LENGTH_OFF, length);
    hl_put16(hdr + HL_HDR_HCRC_OFF, hl_crc16(HL_CRC16_INIT, hdr, HL_HEADER_FIELDS_SIZE));
}

size_t hl_frame_seal(uint8_t *frame, uint8_t type, uint8_t flags, uint16_t seq, uint32_t payload_len)
{
    hl_frame_header(frame, type, flags, seq, payload_len);
    size_t body = (size_t)HL_HEADER_SIZE + payload_len;
    hl_put32(frame + body, hl_crc32(HL_CRC32_INIT, frame, body));
    return body + HL_TRAILER_SIZE;
}
