/* harness.c: see harness.h. */
#include "harness.h"

#include <string.h>

#include "hl_wire.h"

int g_failures;
int g_checks;

size_t make_frame(uint8_t *out, uint8_t type, uint8_t flags, uint16_t seq, const void *payload, uint32_t len)
{
    if (len > 0) {
        memcpy(out + HL_HEADER_SIZE, payload, len);
    }
    return hl_frame_seal(out, type, flags, seq, len);
}

void send_frame(uint8_t type, uint8_t flags, uint16_t seq, const void *payload, uint32_t len)
{
    static uint8_t buf[70000];
    size_t n = make_frame(buf, type, flags, seq, payload, len);
    hl_core_feed(buf, n);
}

int take_replies(reply_t *out, int max)
{
    static uint8_t rxbuf[FAKE_LINK_BYTES + HL_OVERHEAD];
    hl_rx_t rx;
    hl_rx_init(&rx, rxbuf, sizeof rxbuf, FAKE_LINK_BYTES);
    hl_rx_feed(&rx, fake.out, fake.out_len);
    fake.out_len = 0;
    int n = 0;
    hl_frame_t f;
    while (hl_rx_next(&rx, &f)) {
        if (n < max) {
            out[n].type = f.type;
            out[n].flags = f.flags;
            out[n].version = f.version;
            out[n].seq = f.seq;
            out[n].length = f.length;
            memcpy(out[n].payload, f.payload, f.length < sizeof out[n].payload ? f.length : sizeof out[n].payload);
        }
        n++;
    }
    CHECK_EQ(rx.stats.skipped_bytes, 0); /* the core only ever writes whole, valid frames */
    return n;
}

int error_code(const reply_t *r)
{
    return r->type == HL_MSG_ERROR ? (int)hl_le16(r->payload) : -1;
}

long long ack_value(const reply_t *r)
{
    return r->type == HL_MSG_ACK && r->length == 4 ? (long long)hl_le32(r->payload) : -1;
}
