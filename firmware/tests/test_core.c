/* test_core.c: the board core against the fake port: parser, model store, dispatcher, captures. */
#include <string.h>

#include "harness.h"
#include "hl_crc.h"
#include "hl_wire.h"
#include "../core/src/hl_internal.h"

static reply_t r[64];

/* ------------------------------------------------------------------ request builders */
static uint32_t hello(uint8_t *p, uint8_t pmin, uint8_t pmax, uint32_t max_payload)
{
    p[0] = pmin;
    p[1] = pmax;
    hl_put32(p + 2, max_payload);
    return 6;
}

static uint32_t begin(uint8_t *p, uint32_t size, uint32_t crc, uint8_t fmt, const char *name)
{
    hl_put32(p, size);
    hl_put32(p + 4, crc);
    p[8] = fmt;
    p[9] = (uint8_t)strlen(name);
    memcpy(p + 10, name, strlen(name));
    return 10u + (uint32_t)strlen(name);
}

static uint32_t chunk(uint8_t *p, uint32_t offset, const uint8_t *data, uint32_t len)
{
    hl_put32(p, offset);
    memcpy(p + 4, data, len);
    return 4u + len;
}

static uint32_t u32_payload(uint8_t *p, uint32_t v)
{
    hl_put32(p, v);
    return 4;
}

static uint32_t input(uint8_t *p, uint8_t index, uint32_t total, uint32_t offset, const uint8_t *data, uint32_t len)
{
    p[0] = index;
    hl_put32(p + 1, total);
    hl_put32(p + 5, offset);
    memcpy(p + 9, data, len);
    return 9u + len;
}

static uint32_t capture(uint8_t *p, uint32_t count, uint32_t period_us, uint8_t source)
{
    hl_put32(p, count);
    hl_put32(p + 4, period_us);
    p[8] = source;
    p[9] = 0;
    return 10;
}

static uint8_t image[3000];
static uint32_t image_crc;

static void make_image(uint8_t tag)
{
    for (size_t i = 0; i < sizeof image; i++) {
        image[i] = (uint8_t)(i * 7u + 3u);
    }
    image[0] = tag;
    image_crc = hl_crc32(HL_CRC32_INIT, image, sizeof image);
}

/* Upload `image` in chunks of `step` bytes and commit; returns the commit reply count. */
static int upload(uint16_t *seq, uint32_t step)
{
    static uint8_t p[sizeof image + 16];
    send_frame(HL_MSG_MODEL_BEGIN, 0, (*seq)++, p, begin(p, sizeof image, image_crc, HL_FMT_TFLITE, "net"));
    for (uint32_t off = 0; off < sizeof image; off += step) {
        uint32_t n = sizeof image - off < step ? (uint32_t)(sizeof image - off) : step;
        send_frame(HL_MSG_MODEL_CHUNK, 0, (*seq)++, p, chunk(p, off, image + off, n));
    }
    send_frame(HL_MSG_MODEL_COMMIT, 0, (*seq)++, p, u32_payload(p, image_crc));
    return take_replies(r, 64);
}

/* ------------------------------------------------------------------ tests */
static void test_crc(void)
{
    const uint8_t check[] = "123456789";
    CHECK_EQ(hl_crc16(HL_CRC16_INIT, check, 9), HL_CRC16_CHECK);
    CHECK_EQ(hl_crc32(HL_CRC32_INIT, check, 9), HL_CRC32_CHECK);
    /* incremental equals one-shot */
    uint32_t c = hl_crc32(HL_CRC32_INIT, check, 4);
    CHECK_EQ(hl_crc32(c, check + 4, 5), HL_CRC32_CHECK);
    uint16_t h = hl_crc16(HL_CRC16_INIT, check, 3);
    CHECK_EQ(hl_crc16(h, check + 3, 6), HL_CRC16_CHECK);
}

static void test_parser_resync(void)
{
    static uint8_t buf[256 + HL_OVERHEAD];
    static uint8_t stream[2048];
    hl_rx_t rx;
    CHECK(!hl_rx_init(&rx, buf, 100, 256)); /* too small for its own limit */
    CHECK(hl_rx_init(&rx, buf, sizeof buf, 256));

    uint8_t good[64], other[64];
    const uint8_t pl[5] = {1, 2, 3, 4, 5};
    size_t ng = make_frame(good, HL_MSG_ACK, HL_FLAG_RESPONSE, 7, pl, 5);
    size_t no = make_frame(other, HL_MSG_HELLO, 0, 8, pl, 3);
    size_t n = 0;
    const char junk[] = "xxHHL\x01garbage";
    memcpy(stream + n, junk, sizeof junk - 1); /* noise with a false magic */
    n += sizeof junk - 1;
    memcpy(stream + n, good, ng); /* a frame with a corrupted trailer */
    stream[n + ng - 1] ^= 0x40u;
    n += ng;
    memcpy(stream + n, good, 16); /* a frame cut after its header ... */
    n += 16;
    memcpy(stream + n, other, no); /* ... swallowing the start of a good one */
    n += no;
    memcpy(stream + n, good, ng); /* a good one with a corrupted header */
    stream[n + 3] ^= 0x01u;
    n += ng;
    uint8_t big[HL_HEADER_SIZE];
    hl_frame_header(big, HL_MSG_INPUT, 0, 9, 257); /* valid header, length over the limit */
    memcpy(stream + n, big, sizeof big);
    n += sizeof big;
    memcpy(stream + n, good, ng);
    n += ng;
    stream[n++] = 'H'; /* a lone trailing H is kept for the next read */

    /* fed one byte at a time: the slowest, most fragmented link */
    int got = 0;
    uint16_t seqs[4];
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(hl_rx_feed(&rx, stream + i, 1), 1);
        hl_frame_t f;
        while (hl_rx_next(&rx, &f)) {
            if (got < 4) {
                seqs[got] = f.seq;
            }
            got++;
            CHECK_EQ(f.version, HL_PROTO_VERSION);
        }
    }
    CHECK_EQ(got, 2);
    CHECK_EQ(seqs[0], 8);
    CHECK_EQ(seqs[1], 7);
    CHECK_EQ(rx.stats.frames, 2);
    CHECK_EQ(rx.stats.crc_errors, 2);     /* the corrupted trailer and the truncated frame */
    CHECK_EQ(rx.stats.header_errors, 2);  /* the false "HL\x01" magic and the corrupted header */
    CHECK_EQ(rx.stats.oversize, 1);
    CHECK_EQ(rx.tail - rx.head, 1);       /* the trailing 'H' */

    /* the same stream at once gives the same frames */
    hl_rx_init(&rx, buf, sizeof buf, 256);
    size_t off = 0;
    got = 0;
    while (off < n) {
        off += hl_rx_feed(&rx, stream + off, n - off);
        hl_frame_t f;
        while (hl_rx_next(&rx, &f)) {
            got++;
        }
    }
    CHECK_EQ(got, 2);

    /* a payload of exactly max_payload fills the buffer and still parses */
    static uint8_t maxframe[256 + HL_OVERHEAD];
    static uint8_t maxpl[256];
    memset(maxpl, 'L', sizeof maxpl);
    size_t nm = make_frame(maxframe, HL_MSG_INPUT, 0, 1, maxpl, 256);
    hl_rx_init(&rx, buf, sizeof buf, 256);
    CHECK_EQ(hl_rx_feed(&rx, maxframe, nm), nm);
    hl_frame_t f;
    CHECK(hl_rx_next(&rx, &f));
    CHECK_EQ(f.length, 256);
}

static void test_coverage(void)
{
    hl_coverage_t c;
    hl_cover_reset(&c);
    CHECK(hl_cover_add(&c, 10, 20));
    CHECK(hl_cover_add(&c, 30, 40));
    CHECK(hl_cover_add(&c, 0, 5));
    CHECK_EQ(c.n, 3);
    CHECK_EQ(c.covered, 25);
    CHECK(hl_cover_add(&c, 5, 10)); /* touches two spans: merge */
    CHECK_EQ(c.n, 2);
    CHECK(hl_cover_add(&c, 15, 35)); /* overlaps both */
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.covered, 40);
    CHECK(hl_cover_complete(&c, 40));
    CHECK(!hl_cover_complete(&c, 41));
    CHECK(hl_cover_add(&c, 0, 40)); /* a retry changes nothing */
    CHECK_EQ(c.covered, 40);
    hl_cover_reset(&c);
    for (uint32_t i = 0; i < HL_CFG_MAX_SPANS; i++) {
        CHECK(hl_cover_add(&c, i * 10u, i * 10u + 5u));
    }
    CHECK(!hl_cover_add(&c, 1000, 1001)); /* one gap too many */
    CHECK(hl_cover_add(&c, 5, 10));       /* filling a gap still works */
}

static void test_hello(void)
{
    fake_reset();
    uint8_t p[16];
    send_frame(HL_MSG_HELLO, 0, 1, p, hello(p, 1, 1, 1u << 20));
    CHECK_EQ(take_replies(r, 64), 1);
    CHECK_EQ(r[0].type, HL_MSG_DEVICE_INFO);
    CHECK_EQ(r[0].flags, HL_FLAG_RESPONSE);
    CHECK_EQ(r[0].seq, 1);
    CHECK_EQ(r[0].payload[0], HL_BOARD_HOST);

    send_frame(HL_MSG_HELLO, 0, 2, p, hello(p, 2, 3, 4096));
    CHECK_EQ(take_replies(r, 64), 1);
    CHECK_EQ(error_code(&r[0]), HL_ERR_BAD_VERSION);

    send_frame(HL_MSG_HELLO, 0, 3, p, 5); /* one byte short */
    CHECK_EQ(take_replies(r, 64), 1);
    CHECK_EQ(error_code(&r[0]), HL_ERR_BAD_PAYLOAD);

    /* a frame of another protocol version: ERROR BAD_VERSION, whatever the type */
    static uint8_t f[64];
    size_t n = make_frame(f, HL_MSG_MODEL_INFO, 0, 4, NULL, 0);
    f[HL_HDR_VERSION_OFF] = 2;
    hl_put16(f + HL_HDR_HCRC_OFF, hl_crc16(HL_CRC16_INIT, f, HL_HEADER_FIELDS_SIZE));
    hl_put32(f + n - 4, hl_crc32(HL_CRC32_INIT, f, n - 4));
    hl_core_feed(f, n);
    CHECK_EQ(take_replies(r, 64), 1);
    CHECK_EQ(error_code(&r[0]), HL_ERR_BAD_VERSION);
    CHECK_EQ(r[0].version, HL_PROTO_VERSION);

    send_frame(0x7E, 0, 5, NULL, 0);
    CHECK_EQ(take_replies(r, 64), 1);
    CHECK_EQ(error_code(&r[0]), HL_ERR_UNKNOWN_TYPE);

    send_frame(HL_MSG_ACK, HL_FLAG_RESPONSE, 6, p, 4); /* an echo of a reply: ignored */
    CHECK_EQ(take_replies(r, 64), 0);
}

static void test_upload_and_commit(void)
{
    fake_reset();
    make_image(0x10);
    uint16_t seq = 1;
    int n = upload(&seq, 500);
    CHECK_EQ(n, 1 + 6 + 1 + 1); /* ACK, 6 chunk ACKs, LOG event, MODEL_INFO */
    CHECK_EQ(ack_value(&r[0]), 0);
    CHECK_EQ(ack_value(&r[1]), 500);
    CHECK_EQ(ack_value(&r[6]), 3000);
    CHECK_EQ(r[7].type, HL_MSG_LOG);
    CHECK_EQ(r[7].flags, HL_FLAG_EVENT);
    CHECK_EQ(r[8].type, HL_MSG_MODEL_INFO);
    CHECK_EQ(r[8].payload[0], 1); /* loaded */
    CHECK_EQ(fake.activations, 1);
    CHECK(memcmp(fake.active, image, sizeof image) == 0);
    CHECK(hl_core_active_model()->loaded);
    CHECK_EQ(hl_core_active_model()->crc32, image_crc);
    CHECK(strcmp(hl_core_active_model()->name, "net") == 0);

    /* out-of-order chunks with a repeat still commit */
    make_image(0x20);
    static uint8_t p[600];
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, begin(p, sizeof image, image_crc, HL_FMT_TFLITE, "second"));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 2000, image + 2000, 500));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 0, image, 500));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 2500, image + 2500, 500));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 500, image + 500, 500));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 1000, image + 1000, 500));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 0, image, 500)); /* a retransmission */
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 1500, image + 1500, 500));
    n = take_replies(r, 64);
    CHECK_EQ(n, 8);
    CHECK_EQ(ack_value(&r[6]), 2500);
    CHECK_EQ(ack_value(&r[7]), 3000);
    send_frame(HL_MSG_MODEL_COMMIT, 0, seq++, p, u32_payload(p, image_crc));
    n = take_replies(r, 64);
    CHECK_EQ(r[n - 1].type, HL_MSG_MODEL_INFO);
    CHECK_EQ(fake.model_tag, 0x20);
}

static void test_commit_failures_keep_active(void)
{
    fake_reset();
    make_image(0x11);
    uint16_t seq = 1;
    upload(&seq, 1000);
    uint32_t good_crc = image_crc;
    uint8_t p[1100];

    /* incomplete */
    make_image(0x22);
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, begin(p, sizeof image, image_crc, HL_FMT_TFLITE, "x"));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 0, image, 1000));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 2000, image + 2000, 1000));
    send_frame(HL_MSG_MODEL_COMMIT, 0, seq++, p, u32_payload(p, image_crc));
    int n = take_replies(r, 64);
    CHECK_EQ(error_code(&r[n - 1]), HL_ERR_MODEL_INCOMPLETE);
    /* the failed commit discarded the staging: a second commit has nothing to commit */
    send_frame(HL_MSG_MODEL_COMMIT, 0, seq++, p, u32_payload(p, image_crc));
    n = take_replies(r, 64);
    CHECK_EQ(error_code(&r[0]), HL_ERR_NO_UPLOAD);

    /* commit CRC differs from BEGIN's */
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, begin(p, sizeof image, image_crc, HL_FMT_TFLITE, "x"));
    for (uint32_t off = 0; off < sizeof image; off += 1000) {
        send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, off, image + off, 1000));
    }
    send_frame(HL_MSG_MODEL_COMMIT, 0, seq++, p, u32_payload(p, image_crc ^ 1u));
    n = take_replies(r, 64);
    CHECK_EQ(error_code(&r[n - 1]), HL_ERR_MODEL_CRC_MISMATCH);

    /* image corrupted in storage: the read-back CRC catches it */
    fake.staging_corrupt_readback = true;
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, begin(p, sizeof image, image_crc, HL_FMT_TFLITE, "x"));
    for (uint32_t off = 0; off < sizeof image; off += 1000) {
        send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, off, image + off, 1000));
    }
    send_frame(HL_MSG_MODEL_COMMIT, 0, seq++, p, u32_payload(p, image_crc));
    n = take_replies(r, 64);
    CHECK_EQ(error_code(&r[n - 1]), HL_ERR_MODEL_CRC_MISMATCH);
    fake.staging_corrupt_readback = false;

    /* admission refusal */
    fake.activate_refusal = HL_ERR_MODEL_NOT_INT8;
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, begin(p, sizeof image, image_crc, HL_FMT_TFLITE, "x"));
    for (uint32_t off = 0; off < sizeof image; off += 1000) {
        send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, off, image + off, 1000));
    }
    send_frame(HL_MSG_MODEL_COMMIT, 0, seq++, p, u32_payload(p, image_crc));
    n = take_replies(r, 64);
    CHECK_EQ(error_code(&r[n - 1]), HL_ERR_MODEL_NOT_INT8);
    CHECK(memcmp(r[n - 1].payload + 4, "fake admission refused it", 25) == 0);
    fake.activate_refusal = HL_OK;

    CHECK_EQ(fake.activations, 1);
    CHECK_EQ(hl_core_active_model()->crc32, good_crc);
    CHECK_EQ(fake.model_tag, 0x11);

    /* protocol errors around the store */
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 0, image, 10));
    n = take_replies(r, 64);
    CHECK_EQ(error_code(&r[0]), HL_ERR_NO_UPLOAD);
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, begin(p, 100, 0, HL_FMT_TFLITE, "x"));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 90, image, 11));
    send_frame(HL_MSG_MODEL_CHUNK, 0, seq++, p, chunk(p, 0xFFFFFFF0u, image, 32)); /* offset + len wraps */
    n = take_replies(r, 64);
    CHECK_EQ(error_code(&r[1]), HL_ERR_CHUNK_OUT_OF_RANGE);
    CHECK_EQ(error_code(&r[2]), HL_ERR_CHUNK_OUT_OF_RANGE);
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, begin(p, 100, 0, HL_FMT_EDGETPU_TFLITE, "x"));
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, begin(p, 0, 0, HL_FMT_TFLITE, "x"));
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, begin(p, 1u << 20, 0, HL_FMT_TFLITE, "x"));
    p[9] = 5;
    send_frame(HL_MSG_MODEL_BEGIN, 0, seq++, p, 11); /* the name's length says more than is there */
    n = take_replies(r, 64);
    CHECK_EQ(error_code(&r[0]), HL_ERR_MODEL_FORMAT_UNSUPPORTED);
    CHECK_EQ(error_code(&r[1]), HL_ERR_BAD_PAYLOAD);
    CHECK_EQ(error_code(&r[2]), HL_ERR_MODEL_TOO_LARGE);
    CHECK_EQ(error_code(&r[3]), HL_ERR_BAD_PAYLOAD);
}

static void test_reply_cache(void)
{
    fake_reset();
    make_image(0x30);
    uint16_t seq = 1;
    upload(&seq, 1000);
    uint8_t p[1100];
    send_frame(HL_MSG_MODEL_BEGIN, 0, 100, p, begin(p, sizeof image, image_crc, HL_FMT_TFLITE, "again"));
    send_frame(HL_MSG_MODEL_CHUNK, 0, 101, p, chunk(p, 0, image, 1000));
    CHECK_EQ(take_replies(r, 64), 2);
    unsigned writes = fake.staging_writes, opens = fake.staging_opens;
    /* a retry of BEGIN (same seq, type, payload) must not reset the upload */
    send_frame(HL_MSG_MODEL_BEGIN, 0, 100, p, begin(p, sizeof image, image_crc, HL_FMT_TFLITE, "again"));
    send_frame(HL_MSG_MODEL_CHUNK, 0, 101, p, chunk(p, 0, image, 1000));
    CHECK_EQ(take_replies(r, 64), 2);
    CHECK_EQ(ack_value(&r[0]), 0);
    CHECK_EQ(ack_value(&r[1]), 1000);
    CHECK_EQ(fake.staging_opens, opens);
    CHECK_EQ(fake.staging_writes, writes);
    /* same seq and type but another payload: a new request, executed */
    send_frame(HL_MSG_MODEL_CHUNK, 0, 101, p, chunk(p, 1000, image + 1000, 1000));
    CHECK_EQ(take_replies(r, 64), 1);
    CHECK_EQ(ack_value(&r[0]), 2000);
    CHECK_EQ(fake.staging_writes, writes + 1);
    send_frame(HL_MSG_MODEL_CHUNK, 0, 102, p, chunk(p, 2000, image + 2000, 1000));
    send_frame(HL_MSG_MODEL_COMMIT, 0, 103, p, u32_payload(p, image_crc));
    int n = take_replies(r, 64);
    CHECK_EQ(r[n - 1].type, HL_MSG_MODEL_INFO);
    unsigned act = fake.activations;
    /* the commit's reply was lost: the retry gets the same MODEL_INFO, byte for byte, no LOG */
    reply_t first = r[n - 1];
    send_frame(HL_MSG_MODEL_COMMIT, 0, 103, p, u32_payload(p, image_crc));
    CHECK_EQ(take_replies(r, 64), 1);
    CHECK_EQ(r[0].type, HL_MSG_MODEL_INFO);
    CHECK(r[0].length == first.length && memcmp(r[0].payload, first.payload, first.length) == 0);
    CHECK_EQ(fake.activations, act);
    /* errors are cached too */
    send_frame(HL_MSG_CAPTURE, 0, 104, p, capture(p, 0, 0, HL_SOURCE_SENSOR));
    send_frame(HL_MSG_CAPTURE, 0, 104, p, capture(p, 0, 0, HL_SOURCE_SENSOR));
    CHECK_EQ(take_replies(r, 64), 2);
    CHECK_EQ(error_code(&r[1]), HL_ERR_BAD_PAYLOAD);
    CHECK_EQ(fake.captures, 0);
    /* HELLO empties the cache: a new session's seq 103 is a new request */
    send_frame(HL_MSG_HELLO, 0, 1, p, hello(p, 1, 1, 4096));
    send_frame(HL_MSG_MODEL_COMMIT, 0, 103, p, u32_payload(p, image_crc));
    CHECK_EQ(take_replies(r, 64), 2);
    CHECK_EQ(error_code(&r[1]), HL_ERR_NO_UPLOAD);
    /* the oldest entries are evicted after HL_CFG_REPLY_CACHE_ENTRIES newer ones */
    for (uint16_t s = 200; s < 200 + HL_CFG_REPLY_CACHE_ENTRIES + 1; s++) {
        send_frame(HL_MSG_MODEL_INFO, 0, s, NULL, 0);
    }
    take_replies(r, 64);
    send_frame(HL_MSG_MODEL_COMMIT, 0, 103, p, u32_payload(p, image_crc));
    CHECK_EQ(take_replies(r, 64), 1);
    CHECK_EQ(error_code(&r[0]), HL_ERR_NO_UPLOAD);
}

/* A reply too big for the cache must not leave the ring's free space split: the older entries it did
 * not evict stay intact and replay byte for byte (found by fuzz_core). */
static void test_reply_cache_survives_an_oversized_reply(void)
{
    fake_reset();
    make_image(0x42);
    uint16_t seq = 1;
    upload(&seq, 1000);
    uint8_t p[32];
    send_frame(0x70, 0, 33, NULL, 0);
    send_frame(0x71, 0, 34, NULL, 0);
    CHECK_EQ(take_replies(r, 64), 2);
    reply_t older = r[1];
    /* 40 RESULTs: far more than HL_CFG_REPLY_CACHE_BYTES, so that reply is not cached */
    send_frame(HL_MSG_CAPTURE, 0, 35, p, capture(p, 40, 0, HL_SOURCE_SENSOR));
    CHECK_EQ(take_replies(r, 64), 40);
    send_frame(0x72, 0, 36, NULL, 0); /* a new small reply lands after the rewound head */
    send_frame(0x71, 0, 34, NULL, 0); /* repeat of an older request: replayed from the cache */
    CHECK_EQ(take_replies(r, 64), 2);
    CHECK(r[1].type == older.type && r[1].length == older.length &&
          memcmp(r[1].payload, older.payload, older.length) == 0);
    unsigned captures = fake.captures;
    send_frame(HL_MSG_CAPTURE, 0, 35, p, capture(p, 40, 0, HL_SOURCE_SENSOR)); /* too big: runs again */
    CHECK_EQ(take_replies(r, 64), 40);
    CHECK_EQ(fake.captures, captures + 40);
}

static void test_input_and_capture(void)
{
    fake_reset();
    make_image(0x05);
    uint16_t seq = 1;
    uint8_t p[256];
    send_frame(HL_MSG_CAPTURE, 0, seq++, p, capture(p, 1, 0, HL_SOURCE_SENSOR));
    uint8_t in[FAKE_TENSOR_BYTES];
    for (unsigned i = 0; i < FAKE_TENSOR_BYTES; i++) {
        in[i] = (uint8_t)(100 + i);
    }
    send_frame(HL_MSG_INPUT, 0, seq++, p, input(p, 0, FAKE_TENSOR_BYTES, 0, in, FAKE_TENSOR_BYTES));
    CHECK_EQ(take_replies(r, 64), 2);
    CHECK_EQ(error_code(&r[0]), HL_ERR_NO_MODEL);
    CHECK_EQ(error_code(&r[1]), HL_ERR_NO_MODEL);
    upload(&seq, 1000);

    send_frame(HL_MSG_CAPTURE, 0, seq++, p, capture(p, 1, 0, HL_SOURCE_HOST));
    send_frame(HL_MSG_INPUT, 0, seq++, p, input(p, 1, FAKE_TENSOR_BYTES, 0, in, 4));
    send_frame(HL_MSG_INPUT, 0, seq++, p, input(p, 0, 15, 0, in, 4));
    send_frame(HL_MSG_INPUT, 0, seq++, p, input(p, 0, FAKE_TENSOR_BYTES, 14, in, 4));
    send_frame(HL_MSG_INPUT, 0, seq++, p, input(p, 0, FAKE_TENSOR_BYTES, 8, in + 8, 8));
    send_frame(HL_MSG_CAPTURE, 0, seq++, p, capture(p, 1, 0, HL_SOURCE_HOST)); /* half an input */
    send_frame(HL_MSG_INPUT, 0, seq++, p, input(p, 0, FAKE_TENSOR_BYTES, 0, in, 8));
    int n = take_replies(r, 64);
    CHECK_EQ(n, 7);
    CHECK_EQ(error_code(&r[0]), HL_ERR_NO_INPUT);
    CHECK_EQ(error_code(&r[1]), HL_ERR_INPUT_MISMATCH);
    CHECK_EQ(error_code(&r[2]), HL_ERR_INPUT_MISMATCH);
    CHECK_EQ(error_code(&r[3]), HL_ERR_CHUNK_OUT_OF_RANGE);
    CHECK_EQ(ack_value(&r[4]), 8);
    CHECK_EQ(error_code(&r[5]), HL_ERR_NO_INPUT);
    CHECK_EQ(ack_value(&r[6]), 16);

    fake.time_step_us = 10;
    fake.n_marks = 0;
    send_frame(HL_MSG_CAPTURE, 0, seq, p, capture(p, 2, 0, HL_SOURCE_HOST));
    n = take_replies(r, 64);
    CHECK_EQ(n, 2);
    for (int k = 0; k < 2; k++) {
        CHECK_EQ(r[k].type, HL_MSG_RESULT);
        CHECK_EQ(r[k].seq, seq);
        hl_rd_t rd;
        hl_rd_init(&rd, r[k].payload, r[k].length);
        CHECK_EQ(hl_rd_u32(&rd), (uint32_t)k);
        CHECK_EQ(hl_rd_u32(&rd), 2);
        CHECK_EQ(hl_rd_u8(&rd), 1); /* host input: no CAPTURE stage */
        CHECK_EQ(hl_rd_u8(&rd), HL_STAGE_INFERENCE);
        uint32_t s_lo = hl_rd_u32(&rd);
        hl_rd_u32(&rd);
        uint32_t e_lo = hl_rd_u32(&rd);
        hl_rd_u32(&rd);
        CHECK(e_lo > s_lo);
        CHECK_EQ(hl_rd_u8(&rd), 1); /* outputs */
        char name[8];
        hl_rd_text8(&rd, name, sizeof name);
        CHECK(strcmp(name, "out") == 0);
        CHECK_EQ(hl_rd_u8(&rd), HL_DTYPE_INT8);
        CHECK_EQ(hl_rd_u8(&rd), 2);
        hl_rd_bytes(&rd, 8 + 8);
        CHECK_EQ(hl_rd_u32(&rd), FAKE_TENSOR_BYTES);
        const uint8_t *out = hl_rd_bytes(&rd, FAKE_TENSOR_BYTES);
        CHECK(out != NULL && out[0] == (uint8_t)(100 + 1 + 0x05) && out[15] == (uint8_t)(115 + 1 + 0x05));
        CHECK(rd.ok && hl_rd_left(&rd) == 0);
    }
    CHECK_EQ(fake.n_marks, 4);
    CHECK_EQ(fake.marks[0], HL_STAGE_INFERENCE);
    CHECK_EQ(fake.marks[1], HL_STAGE_IDLE);

    /* sensor: CAPTURE then INFERENCE, markers follow, a period spaces the frames */
    fake.n_marks = 0;
    uint64_t t_before = fake.now_us;
    send_frame(HL_MSG_CAPTURE, 0, ++seq, p, capture(p, 3, 5000, HL_SOURCE_SENSOR));
    n = take_replies(r, 64);
    CHECK_EQ(n, 3);
    CHECK(fake.now_us - t_before >= 10000);
    uint64_t starts[3];
    for (int k = 0; k < 3; k++) {
        hl_rd_t rd;
        hl_rd_init(&rd, r[k].payload, r[k].length);
        hl_rd_u32(&rd);
        hl_rd_u32(&rd);
        CHECK_EQ(hl_rd_u8(&rd), 2);
        CHECK_EQ(hl_rd_u8(&rd), HL_STAGE_CAPTURE);
        starts[k] = hl_rd_u32(&rd);
        starts[k] |= (uint64_t)hl_rd_u32(&rd) << 32;
    }
    CHECK(starts[1] - starts[0] >= 5000 && starts[2] - starts[1] >= 5000);
    CHECK_EQ(fake.n_marks, 9);
    CHECK_EQ(fake.marks[0], HL_STAGE_CAPTURE);
    CHECK_EQ(fake.marks[1], HL_STAGE_INFERENCE);
    CHECK_EQ(fake.marks[2], HL_STAGE_IDLE);

    /* a camera fault mid-capture: results so far, then ERROR */
    fake.camera_fault = HL_ERR_CAMERA_FAILED;
    send_frame(HL_MSG_CAPTURE, 0, ++seq, p, capture(p, 2, 0, HL_SOURCE_SENSOR));
    n = take_replies(r, 64);
    CHECK_EQ(n, 1);
    CHECK_EQ(error_code(&r[0]), HL_ERR_CAMERA_FAILED);
    CHECK_EQ(fake.marks[fake.n_marks - 1], HL_STAGE_IDLE);
    fake.camera_fault = HL_OK;

    send_frame(HL_MSG_CAPTURE, 0, ++seq, p, capture(p, 1, 0, 9));
    n = take_replies(r, 64);
    CHECK_EQ(error_code(&r[0]), HL_ERR_SOURCE_UNSUPPORTED);

    /* RESET drops staged inputs, keeps the model */
    p[0] = HL_RESET_SOFT;
    send_frame(HL_MSG_RESET, 0, ++seq, p, 1);
    send_frame(HL_MSG_CAPTURE, 0, ++seq, p, capture(p, 1, 0, HL_SOURCE_HOST));
    send_frame(HL_MSG_MODEL_INFO, 0, ++seq, NULL, 0);
    n = take_replies(r, 64);
    CHECK_EQ(ack_value(&r[0]), 0);
    CHECK_EQ(error_code(&r[1]), HL_ERR_NO_INPUT);
    CHECK_EQ(r[2].payload[0], 1);
    p[0] = HL_RESET_BOOTLOADER;
    send_frame(HL_MSG_RESET, 0, ++seq, p, 1);
    CHECK_EQ(take_replies(r, 64), 1);
    CHECK_EQ(fake.reboots, 1);
}

static void test_fragmentation(void)
{
    fake_reset();
    make_image(0x01);
    uint16_t seq = 1;
    uint8_t p[64];
    upload(&seq, 1000);
    uint8_t in[FAKE_TENSOR_BYTES] = {0};
    send_frame(HL_MSG_INPUT, 0, seq++, p, input(p, 0, FAKE_TENSOR_BYTES, 0, in, FAKE_TENSOR_BYTES));
    send_frame(HL_MSG_CAPTURE, 0, seq, p, capture(p, 1, 0, HL_SOURCE_HOST));
    int n = take_replies(r, 64);
    CHECK_EQ(n, 2);
    reply_t whole = r[1];
    /* the host says it takes 64-byte payloads: MODEL_INFO and RESULT arrive as MORE trains */
    send_frame(HL_MSG_HELLO, 0, ++seq, p, hello(p, 1, 1, 10));
    send_frame(HL_MSG_CAPTURE, 0, ++seq, p, capture(p, 1, 0, HL_SOURCE_HOST));
    n = take_replies(r, 64);
    CHECK(n >= 3);
    uint8_t joined[1024];
    size_t len = 0;
    for (int k = 1; k < n; k++) {
        CHECK_EQ(r[k].type, HL_MSG_RESULT);
        CHECK(r[k].length <= 64);
        CHECK_EQ(r[k].flags, HL_FLAG_RESPONSE | (k < n - 1 ? HL_FLAG_MORE : 0));
        memcpy(joined + len, r[k].payload, r[k].length);
        len += r[k].length;
    }
    CHECK_EQ(len, whole.length);
    /* identical apart from the stage's timestamps (bytes 10..25) */
    CHECK(memcmp(joined, whole.payload, 10) == 0);
    CHECK(memcmp(joined + 26, whole.payload + 26, len - 26) == 0);
}

void run_core_tests(void)
{
    test_crc();
    test_parser_resync();
    test_coverage();
    test_hello();
    test_upload_and_commit();
    test_commit_failures_keep_active();
    test_reply_cache();
    test_reply_cache_survives_an_oversized_reply();
    test_input_and_capture();
    test_fragmentation();
}
