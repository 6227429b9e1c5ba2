/* test_vectors.c: the golden frames in protocols/vectors/NAME.hex, the same files the Python tests use.
 *
 * For every vector: the receiver finds exactly that frame (whole, byte by byte, and behind noise and
 * a corrupted copy), the header matches the "# header:" line, re-sealing the payload gives the same
 * bytes, and the payload's fields match the "# decoded:" JSON. Replies (DEVICE_INFO, MODEL_INFO,
 * ACK, ERROR, NAK, LOG, RESULT) are re-encoded with the core's own encoders and must come out byte
 * for byte; requests are fed to the core, whose answer shows it decoded them. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "hl_crc.h"
#include "hl_decode.h"
#include "hl_wire.h"
#include "mini_json.h"
#include "../core/src/hl_internal.h"

typedef struct {
    char stem[64];
    unsigned type, flags, seq, length;
    j_doc_t json;
    uint8_t frame[4096];
    size_t frame_len;
    const uint8_t *payload;
} vector_t;

static bool load_vector(const char *path, vector_t *v)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return false;
    }
    static char line[16384];
    bool have_header = false, have_json = false;
    v->frame_len = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        if (strncmp(line, "# header:", 9) == 0) {
            have_header = sscanf(line, "# header: type=0x%x flags=0x%x seq=%u length=%u", &v->type, &v->flags,
                                 &v->seq, &v->length) == 4;
        } else if (strncmp(line, "# decoded: ", 11) == 0) {
            have_json = j_parse(&v->json, line + 11);
        } else if (line[0] != '#') {
            char *p = line;
            while (*p) {
                char *end;
                unsigned long b = strtoul(p, &end, 16);
                if (end == p) {
                    break;
                }
                if (v->frame_len < sizeof v->frame) {
                    v->frame[v->frame_len++] = (uint8_t)b;
                }
                p = end;
            }
        }
    }
    fclose(fp);
    v->payload = v->frame + HL_HEADER_SIZE;
    return have_header && have_json && v->frame_len == (size_t)v->length + HL_OVERHEAD;
}

static double num(const vector_t *v, const char *path)
{
    const j_node_t *n = j_get(&v->json, path);
    CHECK(n != NULL && (n->type == J_NUM || n->type == J_BOOL));
    return n == NULL ? -1.0 : (n->type == J_BOOL ? (double)n->boolean : n->num);
}

static const char *str(const vector_t *v, const char *path)
{
    const j_node_t *n = j_get(&v->json, path);
    CHECK(n != NULL && n->type == J_STR);
    return n != NULL && n->type == J_STR ? n->str : "";
}

static size_t hexbytes(const vector_t *v, const char *path, uint8_t *out, size_t cap)
{
    const char *h = str(v, path);
    size_t n = 0;
    while (h[0] && h[1] && n < cap) {
        char two[3] = {h[0], h[1], 0};
        out[n++] = (uint8_t)strtoul(two, NULL, 16);
        h += 2;
    }
    return n;
}

/* Protocol enum names as the JSON spells them (construct Enum names = the Python IntEnum names). */
typedef struct {
    const char *name;
    int value;
} named_t;
static const named_t boards[] = {{"UNKNOWN", HL_BOARD_UNKNOWN}, {"IMX500", HL_BOARD_IMX500},
                                 {"CORALMICRO", HL_BOARD_CORALMICRO}, {"SPRESENSE", HL_BOARD_SPRESENSE},
                                 {"HOST", HL_BOARD_HOST}};
static const named_t dtypes[] = {{"INT8", HL_DTYPE_INT8}, {"UINT8", HL_DTYPE_UINT8}, {"INT16", HL_DTYPE_INT16},
                                 {"INT32", HL_DTYPE_INT32}, {"FLOAT32", HL_DTYPE_FLOAT32}};
static const named_t stages[] = {{"IDLE", HL_STAGE_IDLE}, {"CAPTURE", HL_STAGE_CAPTURE},
                                 {"PREPROCESS", HL_STAGE_PREPROCESS}, {"INFERENCE", HL_STAGE_INFERENCE},
                                 {"TRANSFER", HL_STAGE_TRANSFER}};
static const named_t codes[] = {{"BUSY", HL_ERR_BUSY}, {"MODEL_NOT_INT8", HL_ERR_MODEL_NOT_INT8},
                                {"BAD_CRC", HL_ERR_BAD_CRC}, {"NO_MODEL", HL_ERR_NO_MODEL}};
static const named_t formats[] = {{"TFLITE", HL_FMT_TFLITE}, {"EDGETPU_TFLITE", HL_FMT_EDGETPU_TFLITE},
                                  {"IMX500_PACKEROUT", HL_FMT_IMX500_PACKEROUT}, {"IMX500_RPK", HL_FMT_IMX500_RPK}};
static const named_t sources[] = {{"SENSOR", HL_SOURCE_SENSOR}, {"HOST", HL_SOURCE_HOST}};
static const named_t levels[] = {{"DEBUG", HL_LOG_DEBUG}, {"INFO", HL_LOG_INFO}, {"WARNING", HL_LOG_WARNING},
                                 {"ERROR", HL_LOG_ERROR}};
static const named_t resets[] = {{"SOFT", HL_RESET_SOFT}, {"BOOTLOADER", HL_RESET_BOOTLOADER}};
#define LOOKUP(table, s) lookup(table, sizeof table / sizeof table[0], s)

static int lookup(const named_t *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].name, name) == 0) {
            return t[i].value;
        }
    }
    fprintf(stderr, "vector names unknown enum member %s\n", name);
    g_failures++;
    return -1;
}

static void check_reencoded(const vector_t *v, const uint8_t *bytes, size_t len)
{
    CHECK_EQ(len, v->length);
    CHECK(len == v->length && memcmp(bytes, v->payload, len) == 0);
}

static void check_spec(const vector_t *v, const char *path, const hl_tensor_spec_t *s)
{
    char key[96];
    snprintf(key, sizeof key, "%s.name", path);
    CHECK(strcmp(s->name, str(v, key)) == 0);
    snprintf(key, sizeof key, "%s.dtype", path);
    CHECK_EQ(s->dtype, LOOKUP(dtypes, str(v, key)));
    snprintf(key, sizeof key, "%s.shape", path);
    CHECK_EQ(s->ndim, j_count(&v->json, key));
    for (int i = 0; i < s->ndim; i++) {
        snprintf(key, sizeof key, "%s.shape.%d", path, i);
        CHECK_EQ(s->shape[i], (uint32_t)num(v, key));
    }
    snprintf(key, sizeof key, "%s.scale", path);
    CHECK(fabs((double)s->scale - num(v, key)) < 1e-12);
    snprintf(key, sizeof key, "%s.zero_point", path);
    CHECK_EQ(s->zero_point, (int32_t)num(v, key));
}

static void check_framing(const vector_t *v)
{
    static uint8_t buf[4096 + HL_OVERHEAD];
    static uint8_t noisy[3 * 4096];
    hl_rx_t rx;
    hl_frame_t f;
    CHECK(hl_rx_init(&rx, buf, sizeof buf, 4096));
    CHECK_EQ(hl_rx_feed(&rx, v->frame, v->frame_len), v->frame_len);
    CHECK(hl_rx_next(&rx, &f));
    CHECK_EQ(f.type, v->type);
    CHECK_EQ(f.flags, v->flags);
    CHECK_EQ(f.seq, v->seq);
    CHECK_EQ(f.length, v->length);
    CHECK_EQ(f.version, HL_PROTO_VERSION);
    CHECK(!hl_rx_next(&rx, &f));

    /* behind noise and a copy with one flipped payload/trailer bit, byte by byte */
    size_t n = 0;
    memcpy(noisy, "\x00HL\xffHHL", 7);
    n += 7;
    memcpy(noisy + n, v->frame, v->frame_len);
    noisy[n + v->frame_len - 2] ^= 0x10u;
    n += v->frame_len;
    memcpy(noisy + n, v->frame, v->frame_len);
    n += v->frame_len;
    hl_rx_init(&rx, buf, sizeof buf, 4096);
    int frames = 0;
    for (size_t i = 0; i < n; i++) {
        hl_rx_feed(&rx, noisy + i, 1);
        while (hl_rx_next(&rx, &f)) {
            frames++;
            CHECK(f.length == v->length && memcmp(f.payload, v->payload, f.length) == 0);
        }
    }
    CHECK_EQ(frames, 1);
    CHECK_EQ(rx.stats.crc_errors, 1);

    /* sealing the payload again gives the vector, byte for byte */
    static uint8_t again[4096 + HL_OVERHEAD];
    memcpy(again + HL_HEADER_SIZE, v->payload, v->length);
    size_t m = hl_frame_seal(again, (uint8_t)v->type, (uint8_t)v->flags, (uint16_t)v->seq, v->length);
    CHECK(m == v->frame_len && memcmp(again, v->frame, m) == 0);
}

/* Feed a request vector to a fresh core; returns the replies. */
static int feed_request(const vector_t *v, reply_t *out, int max)
{
    fake_reset();
    hl_core_feed(v->frame, v->frame_len);
    return take_replies(out, max);
}

static void check_fields(const vector_t *v)
{
    static reply_t rep[8];
    static uint8_t buf[4096];
    hl_wr_t w;
    hl_wr_init(&w, buf, sizeof buf);
    hl_rd_t rd;
    hl_rd_init(&rd, v->payload, v->length);
    bool response = (v->flags & HL_FLAG_RESPONSE) != 0;

    switch (v->type) {
    case HL_MSG_HELLO: {
        CHECK_EQ(hl_rd_u8(&rd), num(v, "proto_min"));
        CHECK_EQ(hl_rd_u8(&rd), num(v, "proto_max"));
        CHECK_EQ(hl_rd_u32(&rd), num(v, "max_payload"));
        CHECK_EQ(feed_request(v, rep, 8), 1);
        CHECK_EQ(rep[0].type, HL_MSG_DEVICE_INFO);
        CHECK_EQ(rep[0].seq, v->seq);
        CHECK_EQ(hl_state.tx_limit, HL_CFG_MAX_PAYLOAD); /* 1 MiB from the host, capped at ours */
        break;
    }
    case HL_MSG_DEVICE_INFO: {
        static hl_device_info_t d;
        CHECK(hl_dec_device_info(&rd, &d));
        CHECK_EQ(hl_rd_left(&rd), 0);
        CHECK_EQ(d.board.kind, LOOKUP(boards, str(v, "board")));
        CHECK(strcmp(d.name, str(v, "board_name")) == 0);
        CHECK(strcmp(d.serial, str(v, "serial")) == 0);
        for (int i = 0; i < 3; i++) {
            char key[32];
            snprintf(key, sizeof key, "fw_version.%d", i);
            CHECK_EQ(d.board.fw_version[i], num(v, key));
        }
        CHECK_EQ(d.proto_version, num(v, "proto_version"));
        uint32_t caps = (num(v, "capabilities.SENSOR_CAPTURE") ? HL_CAP_SENSOR_CAPTURE : 0u) |
                        (num(v, "capabilities.HOST_INPUT") ? HL_CAP_HOST_INPUT : 0u) |
                        (num(v, "capabilities.MARKERS") ? HL_CAP_MARKERS : 0u) |
                        (num(v, "capabilities.EMULATED") ? HL_CAP_EMULATED : 0u) |
                        (num(v, "capabilities.REALTIME") ? HL_CAP_REALTIME : 0u) |
                        (num(v, "capabilities.EDGETPU") ? HL_CAP_EDGETPU : 0u);
        CHECK_EQ(d.board.capabilities, caps);
        CHECK_EQ(d.max_payload, num(v, "max_payload"));
        CHECK_EQ(d.clock_hz, num(v, "clock_hz"));
        CHECK_EQ(d.board.link_bps, num(v, "link_bps"));
        uint8_t fm = (uint8_t)((num(v, "formats.tflite") ? HL_FORMATS_TFLITE : 0u) |
                               (num(v, "formats.edgetpu_tflite") ? HL_FORMATS_EDGETPU_TFLITE : 0u) |
                               (num(v, "formats.imx500_packerout") ? HL_FORMATS_IMX500_PACKEROUT : 0u) |
                               (num(v, "formats.imx500_rpk") ? HL_FORMATS_IMX500_RPK : 0u));
        CHECK_EQ(d.board.formats, fm);
        CHECK_EQ(d.board.n_memory, j_count(&v->json, "memory"));
        for (int i = 0; i < d.board.n_memory; i++) {
            char key[32];
            snprintf(key, sizeof key, "memory.%d.name", i);
            CHECK(strcmp(d.memory[i].name, str(v, key)) == 0);
            snprintf(key, sizeof key, "memory.%d.size", i);
            CHECK_EQ(d.memory[i].size, num(v, key));
        }
        CHECK_EQ(d.board.n_stages, j_count(&v->json, "stages"));
        for (int i = 0; i < d.board.n_stages; i++) {
            char key[32];
            snprintf(key, sizeof key, "stages.%d", i);
            CHECK_EQ(d.stages[i], LOOKUP(stages, str(v, key)));
        }
        CHECK_EQ(d.clock_hz, 1000000u); /* what hl_enc_device_info always announces */
        hl_enc_device_info(&w, &d.board, d.max_payload);
        check_reencoded(v, buf, w.len);
        break;
    }
    case HL_MSG_ACK:
        CHECK_EQ(hl_rd_u32(&rd), num(v, "value"));
        hl_wr_u32(&w, (uint32_t)num(v, "value"));
        check_reencoded(v, buf, w.len);
        break;
    case HL_MSG_NAK:
    case HL_MSG_ERROR: {
        const char *text_key = v->type == HL_MSG_NAK ? "detail" : "message";
        CHECK_EQ(hl_rd_u16(&rd), LOOKUP(codes, str(v, "code")));
        size_t n = hl_rd_u16(&rd);
        const uint8_t *t = hl_rd_bytes(&rd, n);
        CHECK(t != NULL && n == strlen(str(v, text_key)) && memcmp(t, str(v, text_key), n) == 0);
        hl_wr_u16(&w, (uint16_t)LOOKUP(codes, str(v, "code")));
        hl_wr_text16(&w, str(v, text_key));
        check_reencoded(v, buf, w.len);
        break;
    }
    case HL_MSG_LOG: {
        CHECK_EQ(v->flags, HL_FLAG_EVENT);
        /* the core's own LOG: after seq-1 earlier events, at the vector's time, same text */
        fake_reset();
        for (unsigned i = 1; i < v->seq; i++) {
            hl_core_log(HL_LOG_DEBUG, "earlier");
        }
        fake.out_len = 0;
        fake.now_us = (uint64_t)num(v, "time_us");
        hl_core_log((uint8_t)LOOKUP(levels, str(v, "level")), str(v, "text"));
        CHECK(fake.out_len == v->frame_len && memcmp(fake.out, v->frame, v->frame_len) == 0);
        break;
    }
    case HL_MSG_RESET:
        CHECK_EQ(hl_rd_u8(&rd), LOOKUP(resets, str(v, "mode")));
        CHECK_EQ(feed_request(v, rep, 8), 1);
        CHECK_EQ(ack_value(&rep[0]), 0);
        break;
    case HL_MSG_MODEL_BEGIN: {
        CHECK_EQ(hl_rd_u32(&rd), num(v, "size"));
        CHECK_EQ(hl_rd_u32(&rd), num(v, "crc32"));
        CHECK_EQ(hl_rd_u8(&rd), LOOKUP(formats, str(v, "format")));
        char name[64];
        hl_rd_text8(&rd, name, sizeof name);
        CHECK(strcmp(name, str(v, "name")) == 0);
        /* the core decodes the same size: the fake store is smaller, so it is refused as too large */
        CHECK_EQ(feed_request(v, rep, 8), 1);
        CHECK_EQ(error_code(&rep[0]), num(v, "size") > FAKE_STORE_BYTES ? HL_ERR_MODEL_TOO_LARGE : -1);
        CHECK_EQ(fake.staging_opens, num(v, "size") > FAKE_STORE_BYTES ? 0 : 1); /* too large: refused before any erase */
        break;
    }
    case HL_MSG_MODEL_CHUNK: {
        uint8_t data[256];
        size_t n = hexbytes(v, "data.hex", data, sizeof data);
        CHECK_EQ(hl_rd_u32(&rd), num(v, "offset"));
        CHECK(hl_rd_left(&rd) == n && memcmp(v->payload + 4, data, n) == 0);
        CHECK_EQ(feed_request(v, rep, 8), 1);
        CHECK_EQ(error_code(&rep[0]), HL_ERR_NO_UPLOAD);
        break;
    }
    case HL_MSG_MODEL_COMMIT:
        CHECK_EQ(hl_rd_u32(&rd), num(v, "crc32"));
        CHECK_EQ(feed_request(v, rep, 8), 1);
        CHECK_EQ(error_code(&rep[0]), HL_ERR_NO_UPLOAD);
        break;
    case HL_MSG_MODEL_INFO:
        if (!response) {
            CHECK_EQ(v->length, 0);
            CHECK_EQ(feed_request(v, rep, 8), 1);
            CHECK_EQ(rep[0].type, HL_MSG_MODEL_INFO);
            CHECK_EQ(rep[0].payload[0], 0); /* nothing loaded */
        } else {
            static hl_model_info_t m;
            CHECK(hl_dec_model_info(&rd, &m));
            CHECK_EQ(hl_rd_left(&rd), 0);
            CHECK_EQ(m.loaded, num(v, "loaded"));
            CHECK(strcmp(m.name, str(v, "name")) == 0);
            CHECK_EQ(m.format, LOOKUP(formats, str(v, "format")));
            CHECK_EQ(m.size, num(v, "size"));
            CHECK_EQ(m.crc32, num(v, "crc32"));
            CHECK_EQ(m.arena_bytes, num(v, "arena_bytes"));
            CHECK_EQ(m.macs, num(v, "macs"));
            CHECK_EQ(m.expected_frame_us, num(v, "expected_frame_us"));
            CHECK(strcmp(m.engine, str(v, "engine")) == 0);
            CHECK_EQ(m.n_inputs, j_count(&v->json, "inputs"));
            CHECK_EQ(m.n_outputs, j_count(&v->json, "outputs"));
            for (int i = 0; i < m.n_inputs; i++) {
                char key[32];
                snprintf(key, sizeof key, "inputs.%d", i);
                check_spec(v, key, &m.inputs[i]);
            }
            for (int i = 0; i < m.n_outputs; i++) {
                char key[32];
                snprintf(key, sizeof key, "outputs.%d", i);
                check_spec(v, key, &m.outputs[i]);
            }
            hl_enc_model_info(&w, &m);
            check_reencoded(v, buf, w.len);
        }
        break;
    case HL_MSG_CAPTURE:
        CHECK_EQ(hl_rd_u32(&rd), num(v, "count"));
        CHECK_EQ(hl_rd_u32(&rd), num(v, "period_us"));
        CHECK_EQ(hl_rd_u8(&rd), LOOKUP(sources, str(v, "source")));
        CHECK_EQ(hl_rd_u8(&rd) & HL_CAPTURE_OPTIONS_RETURN_INPUT, num(v, "options.return_input"));
        CHECK_EQ(feed_request(v, rep, 8), 1);
        CHECK_EQ(error_code(&rep[0]), HL_ERR_NO_MODEL);
        break;
    case HL_MSG_INPUT: {
        uint8_t data[256];
        size_t n = hexbytes(v, "data.hex", data, sizeof data);
        CHECK_EQ(hl_rd_u8(&rd), num(v, "index"));
        CHECK_EQ(hl_rd_u32(&rd), num(v, "total"));
        CHECK_EQ(hl_rd_u32(&rd), num(v, "offset"));
        CHECK(hl_rd_left(&rd) == n && memcmp(v->payload + 9, data, n) == 0);
        CHECK_EQ(feed_request(v, rep, 8), 1);
        CHECK_EQ(error_code(&rep[0]), HL_ERR_NO_MODEL);
        break;
    }
    case HL_MSG_RESULT:
        if (v->flags & HL_FLAG_MORE) {
            uint8_t raw[256];
            size_t n = hexbytes(v, "raw.hex", raw, sizeof raw);
            CHECK(n == v->length && memcmp(raw, v->payload, n) == 0);
        } else {
            hl_stages_t st;
            memset(&st, 0, sizeof st);
            CHECK_EQ(hl_rd_u32(&rd), num(v, "frame"));
            CHECK_EQ(hl_rd_u32(&rd), num(v, "count"));
            st.count = hl_rd_u8(&rd);
            CHECK_EQ(st.count, j_count(&v->json, "stages"));
            for (int i = 0; i < st.count && i < (int)HL_CFG_MAX_STAGE_RECORDS; i++) {
                char key[32];
                st.t[i].stage = hl_rd_u8(&rd);
                st.t[i].start = hl_rd_u32(&rd);
                st.t[i].start |= (uint64_t)hl_rd_u32(&rd) << 32;
                st.t[i].end = hl_rd_u32(&rd);
                st.t[i].end |= (uint64_t)hl_rd_u32(&rd) << 32;
                snprintf(key, sizeof key, "stages.%d.stage", i);
                CHECK_EQ(st.t[i].stage, LOOKUP(stages, str(v, key)));
                snprintf(key, sizeof key, "stages.%d.start", i);
                CHECK_EQ(st.t[i].start, num(v, key));
                snprintf(key, sizeof key, "stages.%d.end", i);
                CHECK_EQ(st.t[i].end, num(v, key));
            }
            hl_enc_result_head(&w, (uint32_t)num(v, "frame"), (uint32_t)num(v, "count"), &st);
            uint8_t n_out = hl_rd_u8(&rd);
            CHECK_EQ(n_out, j_count(&v->json, "outputs"));
            hl_wr_u8(&w, n_out);
            for (int i = 0; i < n_out; i++) {
                char key[32];
                hl_tensor_spec_t s;
                CHECK(hl_dec_tensor_spec(&rd, &s));
                snprintf(key, sizeof key, "outputs.%d.spec", i);
                check_spec(v, key, &s);
                uint32_t len = hl_rd_u32(&rd);
                const uint8_t *data = hl_rd_bytes(&rd, len);
                uint8_t want[256];
                snprintf(key, sizeof key, "outputs.%d.data.hex", i);
                size_t n = hexbytes(v, key, want, sizeof want);
                CHECK(data != NULL && len == n && memcmp(data, want, n) == 0);
                hl_enc_tensor_spec(&w, &s);
                hl_wr_u32(&w, len);
                hl_wr_bytes(&w, data, len);
            }
            CHECK(rd.ok && hl_rd_left(&rd) == 0);
            check_reencoded(v, buf, w.len);
        }
        break;
    default:
        fprintf(stderr, "%s: message type 0x%02x has no C check; add one\n", v->stem, v->type);
        g_failures++;
    }
    CHECK(rd.ok);
}

int run_vector_tests(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "cannot open vector directory %s\n", dir);
        g_failures++;
        return 0;
    }
    static vector_t v;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".hex") != 0) {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        memset(&v, 0, sizeof v);
        snprintf(v.stem, sizeof v.stem, "%.*s", (int)(n - 4), e->d_name);
        int before = g_failures;
        if (!load_vector(path, &v)) {
            fprintf(stderr, "%s: cannot parse (header line, decoded JSON and hex frame expected)\n", path);
            g_failures++;
            continue;
        }
        check_framing(&v);
        check_fields(&v);
        if (g_failures != before) {
            fprintf(stderr, "  ^ in vector %s\n", v.stem);
        }
        count++;
    }
    closedir(d);
    return count;
}
