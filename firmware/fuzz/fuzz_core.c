/* fuzz_core.c: libFuzzer target for the whole board core (dispatcher, model store, inputs,
 * captures, reply cache) on the in-memory fake port.
 *
 * Random bytes rarely make a frame with two valid CRCs, so the harness builds the frames: the input
 * is a list of records [type][flags][seq lo][seq hi][len lo][len hi][payload...], each sealed into
 * a valid frame and fed to the core in pieces. Record type 0xFF instead feeds its payload raw (noise,
 * cut frames). If the first byte is odd, a valid model is uploaded first so INPUT and CAPTURE reach
 * their deep paths. After every run, everything the core wrote must parse as whole, valid frames. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_port.h"
#include "hl_crc.h"
#include "hl_frame.h"
#include "hl_wire.h"

#define REQUIRE(c)      \
    do {                \
        if (!(c)) {     \
            abort();    \
        }               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t frame[HL_CFG_MAX_PAYLOAD + HL_OVERHEAD + 64u];

static void feed(uint8_t type, uint8_t flags, uint16_t seq, const uint8_t *payload, uint32_t len)
{
    memcpy(frame + HL_HEADER_SIZE, payload, len);
    size_t n = hl_frame_seal(frame, type, flags, seq, len);
    hl_core_feed(frame, n);
}

static void preload_model(void)
{
    static uint8_t image[600];
    uint8_t p[256];
    for (size_t i = 0; i < sizeof image; i++) {
        image[i] = (uint8_t)(i * 13u);
    }
    uint32_t crc = hl_crc32(HL_CRC32_INIT, image, sizeof image);
    hl_put32(p, sizeof image);
    hl_put32(p + 4, crc);
    p[8] = HL_FMT_TFLITE;
    p[9] = 1;
    p[10] = 'm';
    feed(HL_MSG_MODEL_BEGIN, 0, 1, p, 11);
    for (uint32_t off = 0; off < sizeof image; off += 200) {
        hl_put32(p, off);
        memcpy(p + 4, image + off, 200);
        feed(HL_MSG_MODEL_CHUNK, 0, (uint16_t)(2 + off), p, 204);
    }
    hl_put32(p, crc);
    feed(HL_MSG_MODEL_COMMIT, 0, 9, p, 4);
    REQUIRE(hl_core_active_model()->loaded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fake_reset();
    fake.invoke_limit = 64; /* CAPTURE count=4e9 is legal; it just must not take the run hostage */
    if (size > 0 && (data[0] & 1u)) {
        preload_model();
    }
    size_t pos = size > 0 ? 1u : 0u;
    while (size - pos >= 6u) {
        uint8_t type = data[pos];
        uint8_t flags = data[pos + 1];
        uint16_t seq = hl_le16(data + pos + 2);
        size_t len = hl_le16(data + pos + 4);
        pos += 6;
        if (len > size - pos) {
            len = size - pos;
        }
        if (len > HL_CFG_MAX_PAYLOAD) {
            len = HL_CFG_MAX_PAYLOAD;
        }
        if (type == 0xFFu) {
            hl_core_feed(data + pos, len);
        } else {
            feed(type, flags, seq, data + pos, (uint32_t)len);
        }
        pos += len;
    }
    if (fake.out_overflow) {
        return 0; /* output beyond what the fake link keeps: nothing left to check */
    }
    /* the core only ever emits whole, valid frames */
    static uint8_t rxbuf[FAKE_LINK_BYTES + HL_OVERHEAD];
    hl_rx_t rx;
    REQUIRE(hl_rx_init(&rx, rxbuf, sizeof rxbuf, HL_CFG_MAX_PAYLOAD));
    REQUIRE(hl_rx_feed(&rx, fake.out, fake.out_len) == fake.out_len);
    hl_frame_t f;
    while (hl_rx_next(&rx, &f)) {
        REQUIRE(f.version == HL_PROTO_VERSION && (f.flags & (HL_FLAG_RESPONSE | HL_FLAG_EVENT)) != 0u);
    }
    REQUIRE(rx.stats.skipped_bytes == 0u && rx.tail == rx.head);
    return 0;
}
