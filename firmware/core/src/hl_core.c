/* hl_core.c: receive loop, dispatcher, reply writer and reply cache.
 *
 * Behaviour follows the reference board (hostlink/emulator/core.py, BoardCore) request for request;
 * the conformance suite runs the same tests against both:
 *  - a frame whose version is not ours gets ERROR BAD_VERSION (never cached); frames with the
 *    RESPONSE flag are ignored (a loopback echo);
 *  - a request repeating the seq, type and payload of one of the last HL_CFG_REPLY_CACHE_ENTRIES
 *    requests is answered from the reply cache, byte for byte, without running it again; a reply
 *    too big for the cache is produced again by running the request (a capture: new frames);
 *  - HELLO is never cached and empties the cache (a new host session reuses small seq numbers);
 *  - an unknown type gets ERROR UNKNOWN_TYPE, a payload too short for its type ERROR BAD_PAYLOAD. */
#include <string.h>

#include "hl_crc.h"
#include "hl_internal.h"

hl_core_state_t hl_state;

/* The two frame buffers: the only storage sized by HL_CFG_MAX_PAYLOAD. */
static uint8_t hl_rx_buf[HL_FRAME_BUF_SIZE];
static uint8_t hl_tx_buf[HL_FRAME_BUF_SIZE];

/* ------------------------------------------------------------------------------ reply cache */
typedef struct {
    uint32_t req_crc;
    uint32_t start;
    uint32_t len;
    uint16_t seq;
    uint8_t type;
    uint8_t state;
} cache_entry_t;
enum { CE_RECORDING = 1, CE_DONE = 2, CE_TOO_BIG = 3 };

static uint8_t hl_reply_cache[HL_CFG_REPLY_CACHE_BYTES];
static struct {
    cache_entry_t e[HL_CFG_REPLY_CACHE_ENTRIES];
    uint8_t first; /* oldest entry */
    uint8_t count;
    uint32_t head; /* next byte to write in the ring */
    uint32_t used; /* bytes held by live entries */
    cache_entry_t *cur;
} cache;

static void cache_clear(void)
{
    memset(&cache, 0, sizeof cache);
}

static void cache_evict_oldest(void)
{
    cache_entry_t *old = &cache.e[cache.first];
    cache.used -= old->len;
    cache.first = (uint8_t)((cache.first + 1u) % HL_CFG_REPLY_CACHE_ENTRIES);
    cache.count--;
}

static void cache_begin(const hl_frame_t *f)
{
    if (cache.count == HL_CFG_REPLY_CACHE_ENTRIES) {
        cache_evict_oldest();
    }
    cache_entry_t *e = &cache.e[(cache.first + cache.count) % HL_CFG_REPLY_CACHE_ENTRIES];
    cache.count++;
    e->seq = f->seq;
    e->type = f->type;
    e->req_crc = hl_crc32(HL_CRC32_INIT, f->payload, f->length);
    e->start = cache.head;
    e->len = 0;
    e->state = CE_RECORDING;
    cache.cur = e;
}

static void cache_append(const uint8_t *data, size_t n)
{
    cache_entry_t *e = cache.cur;
    if (e == NULL || e->state != CE_RECORDING) {
        return;
    }
    if ((size_t)e->len + n > HL_CFG_REPLY_CACHE_BYTES) {
        /* the entry stays, marked: a repeat runs the request again. It is the newest, so giving
         * its bytes back is rewinding the head: free space stays one run after the head. */
        cache.used -= e->len;
        cache.head = e->start;
        e->len = 0;
        e->state = CE_TOO_BIG;
        return;
    }
    while (cache.used + n > HL_CFG_REPLY_CACHE_BYTES) {
        cache_evict_oldest(); /* never e itself: e->len + n fits the ring on its own */
    }
    for (size_t i = 0; i < n; i++) {
        hl_reply_cache[cache.head] = data[i];
        cache.head = (cache.head + 1u) % HL_CFG_REPLY_CACHE_BYTES;
    }
    e->len += (uint32_t)n;
    cache.used += (uint32_t)n;
}

static void cache_end(void)
{
    if (cache.cur != NULL && cache.cur->state == CE_RECORDING) {
        cache.cur->state = CE_DONE;
    }
    cache.cur = NULL;
}

/* true when the request was answered from the cache */
static bool cache_replay(const hl_frame_t *f)
{
    uint32_t crc = 0;
    bool crc_known = false;
    for (uint8_t k = cache.count; k > 0; k--) { /* newest first */
        const cache_entry_t *e = &cache.e[(cache.first + k - 1u) % HL_CFG_REPLY_CACHE_ENTRIES];
        if (e->seq != f->seq || e->type != f->type) {
            continue;
        }
        if (!crc_known) {
            crc = hl_crc32(HL_CRC32_INIT, f->payload, f->length);
            crc_known = true;
        }
        if (e->req_crc != crc || e->state != CE_DONE) {
            continue;
        }
        uint32_t first = HL_CFG_REPLY_CACHE_BYTES - e->start;
        if (first > e->len) {
            first = e->len;
        }
        hl_status_t st = hl_port_link_write(hl_reply_cache + e->start, first);
        if (st == HL_OK && e->len > first) {
            st = hl_port_link_write(hl_reply_cache, e->len - first);
        }
        (void)st; /* a dead link fails the host's next request too; nothing to do here */
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------------------ replies */
static struct {
    hl_wr_t w;
    uint8_t type;
    uint16_t seq;
    bool open;
} tx;

static void tx_emit(uint8_t flags, bool cacheable)
{
    size_t n = hl_frame_seal(hl_tx_buf, tx.type, flags, tx.seq, (uint32_t)tx.w.len);
    hl_status_t st = hl_port_link_write(hl_tx_buf, n);
    (void)st; /* the host retries what it did not get */
    if (cacheable) {
        cache_append(hl_tx_buf, n);
    }
    tx.w.len = 0;
}

static void tx_flush(hl_wr_t *w)
{
    (void)w;
    tx_emit(HL_FLAG_RESPONSE | HL_FLAG_MORE, true);
}

hl_wr_t *hl_reply_begin(uint8_t type, uint16_t seq)
{
    hl_wr_init(&tx.w, hl_tx_buf + HL_HEADER_SIZE, hl_state.tx_limit);
    tx.w.flush = tx_flush;
    tx.type = type;
    tx.seq = seq;
    tx.open = true;
    return &tx.w;
}

void hl_reply_end(void)
{
    tx_emit(HL_FLAG_RESPONSE, true);
    tx.open = false;
}

void hl_reply_ack(uint16_t seq, uint32_t value)
{
    hl_wr_u32(hl_reply_begin(HL_MSG_ACK, seq), value);
    hl_reply_end();
}

static void reply_error(uint16_t seq, hl_status_t code, const char *message, bool cacheable)
{
    hl_wr_t *w = hl_reply_begin(HL_MSG_ERROR, seq);
    hl_wr_u16(w, (uint16_t)code);
    hl_wr_text16(w, message);
    tx_emit(HL_FLAG_RESPONSE, cacheable);
    tx.open = false;
}

hl_status_t hl_fail(hl_status_t code, const char *text)
{
    hl_text_reset(&hl_state.msg);
    hl_text_str(&hl_state.msg, text);
    return code;
}

hl_text_t *hl_fail_text(void) { return &hl_state.msg; }

void hl_core_log(uint8_t level, const char *text)
{
    if (tx.open) {
        return; /* never interleave an event into a reply being streamed */
    }
    hl_state.event_seq = (uint16_t)(hl_state.event_seq + 1u);
    hl_wr_init(&tx.w, hl_tx_buf + HL_HEADER_SIZE, hl_state.tx_limit); /* no flush: a LOG is one frame */
    tx.type = HL_MSG_LOG;
    tx.seq = hl_state.event_seq;
    hl_wr_u8(&tx.w, level);
    hl_wr_u64(&tx.w, hl_port_time_us());
    hl_wr_text16(&tx.w, text);
    if (tx.w.ok) {
        tx_emit(HL_FLAG_EVENT, false);
    }
}

/* ------------------------------------------------------------------------------ handlers */
static hl_status_t on_hello(const hl_frame_t *f, hl_rd_t *rd)
{
    uint8_t pmin = hl_rd_u8(rd);
    uint8_t pmax = hl_rd_u8(rd);
    uint32_t host_max = hl_rd_u32(rd);
    if (pmax < HL_PROTO_VERSION || pmin > HL_PROTO_VERSION) {
        hl_fail(HL_ERR_BAD_VERSION, "host speaks v");
        hl_text_u64(hl_text_str(hl_text_u64(hl_fail_text(), pmin), "..v"), pmax);
        hl_text_u64(hl_text_str(hl_fail_text(), ", this board speaks v"), HL_PROTO_VERSION);
        return HL_ERR_BAD_VERSION;
    }
    if (host_max < 64u) {
        host_max = 64u;
    }
    hl_state.tx_limit = host_max < HL_CFG_MAX_PAYLOAD ? host_max : HL_CFG_MAX_PAYLOAD;
    cache_clear();
    hl_enc_device_info(hl_reply_begin(HL_MSG_DEVICE_INFO, f->seq), hl_state.board, HL_CFG_MAX_PAYLOAD);
    hl_reply_end();
    return HL_OK;
}

static hl_status_t on_reset(const hl_frame_t *f, hl_rd_t *rd)
{
    uint8_t mode = hl_rd_u8(rd);
    hl_model_reset_session();
    hl_inputs_reset();
    hl_reply_ack(f->seq, 0);
    if (mode == HL_RESET_BOOTLOADER) {
        hl_port_reboot(mode);
    }
    return HL_OK;
}

typedef hl_status_t (*hl_handler_t)(const hl_frame_t *f, hl_rd_t *rd);
typedef struct {
    uint8_t type;
    uint8_t min_len; /* the fixed part of the request payload */
    hl_handler_t fn;
    const char *name;
} hl_route_t;

static const hl_route_t routes[] = {
    {HL_MSG_HELLO, HL_HELLO_SIZE, on_hello, "HELLO"},
    {HL_MSG_RESET, HL_RESET_SIZE, on_reset, "RESET"},
    {HL_MSG_MODEL_BEGIN, HL_MODEL_BEGIN_FIXED_PREFIX + HL_MODEL_BEGIN_NAME_PREFIX, hl_on_model_begin, "MODEL_BEGIN"},
    {HL_MSG_MODEL_CHUNK, HL_MODEL_CHUNK_FIXED_PREFIX, hl_on_model_chunk, "MODEL_CHUNK"},
    {HL_MSG_MODEL_COMMIT, HL_MODEL_COMMIT_SIZE, hl_on_model_commit, "MODEL_COMMIT"},
    {HL_MSG_MODEL_INFO, HL_EMPTY_SIZE, hl_on_model_info, "MODEL_INFO"},
    {HL_MSG_INPUT, HL_INPUT_FIXED_PREFIX, hl_on_input, "INPUT"},
    {HL_MSG_CAPTURE, HL_CAPTURE_SIZE, hl_on_capture, "CAPTURE"},
};

static void handle(const hl_frame_t *f)
{
    if (f->version != HL_PROTO_VERSION) {
        hl_fail(HL_ERR_BAD_VERSION, "protocol v");
        hl_text_u64(hl_text_str(hl_text_u64(hl_fail_text(), f->version), " is not supported; this board speaks v"),
                    HL_PROTO_VERSION);
        reply_error(f->seq, HL_ERR_BAD_VERSION, hl_state.msg.buf, false);
        return;
    }
    if (f->flags & HL_FLAG_RESPONSE) {
        return;
    }
    if (cache_replay(f)) {
        return;
    }
    const hl_route_t *route = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (routes[i].type == f->type) {
            route = &routes[i];
            break;
        }
    }
    bool cacheable = f->type != HL_MSG_HELLO;
    if (cacheable) {
        cache_begin(f);
    }
    hl_status_t st;
    hl_rd_t rd;
    hl_rd_init(&rd, f->payload, f->length);
    if (route == NULL) {
        st = hl_fail(HL_ERR_UNKNOWN_TYPE, "message type 0x");
        hl_text_str(hl_text_hex32(hl_fail_text(), f->type), " is not a request this board handles");
    } else if (f->length < route->min_len) {
        st = hl_fail(HL_ERR_BAD_PAYLOAD, "malformed ");
        hl_text_str(hl_text_str(hl_fail_text(), route->name), " payload: too short");
    } else {
        st = route->fn(f, &rd); /* reads past min_len are bounds-checked by hl_rd_* */
    }
    if (st != HL_OK) {
        /* after a capture that failed mid-way, the results already sent stay sent */
        reply_error(f->seq, st, hl_state.msg.buf, cacheable);
    }
    if (cacheable) {
        cache_end();
    }
}

/* ------------------------------------------------------------------------------ public */
void hl_core_init(const hl_board_info_t *board)
{
    memset(&hl_state, 0, sizeof hl_state);
    hl_state.board = board;
    hl_state.tx_limit = HL_CFG_MAX_PAYLOAD;
    (void)hl_rx_init(&hl_state.rx, hl_rx_buf, sizeof hl_rx_buf, HL_CFG_MAX_PAYLOAD);
    cache_clear();
    memset(&tx, 0, sizeof tx);
    hl_model_reset_session();
    hl_inputs_reset();
#if HL_PORT_HAS_STORAGE
    hl_store_boot(); /* the board comes back with the newest committed model */
    hl_fail(HL_OK, "");
#endif
    hl_port_marker(HL_STAGE_IDLE);
}

static void drain(void)
{
    hl_frame_t f;
    while (hl_rx_next(&hl_state.rx, &f)) {
        handle(&f);
    }
}

void hl_core_poll(uint32_t timeout_us)
{
    size_t room;
    uint8_t *dst = hl_rx_space(&hl_state.rx, &room);
    size_t n = hl_port_link_read(dst, room, timeout_us);
    hl_rx_commit(&hl_state.rx, n);
    drain();
}

void hl_core_feed(const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t took = hl_rx_feed(&hl_state.rx, data, len);
        data += took;
        len -= took;
        drain();
    }
}

const hl_rx_stats_t *hl_core_rx_stats(void) { return &hl_state.rx.stats; }

const hl_model_info_t *hl_core_active_model(void) { return &hl_state.active; }

void hl_stage_enter(hl_stages_t *st, uint8_t stage)
{
    uint64_t now = hl_port_time_us();
    if (st->current != HL_STAGE_IDLE && st->count > 0) {
        st->t[st->count - 1u].end = now;
    }
    st->current = HL_STAGE_IDLE;
    if (stage != HL_STAGE_IDLE && st->count < HL_CFG_MAX_STAGE_RECORDS) {
        hl_stage_time_t *t = &st->t[st->count++];
        t->stage = stage;
        t->start = now;
        t->end = now;
        st->current = stage;
    }
    hl_port_marker(st->current);
}
