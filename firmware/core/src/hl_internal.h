/* hl_internal.h: state and helpers shared by the core's translation units; not for ports. */
#ifndef HL_INTERNAL_H
#define HL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "hl_core.h"
#include "hl_wire.h"

/* Byte ranges received so far (model image, each host input). Chunks may arrive out of order or
 * twice (retries); adjacent and overlapping ranges merge, so an in-order upload is one span. */
typedef struct {
    uint32_t start;
    uint32_t end;
} hl_span_t;
typedef struct {
    uint8_t n;
    uint32_t covered; /* bytes in the union of the spans */
    hl_span_t s[HL_CFG_MAX_SPANS];
} hl_coverage_t;

void hl_cover_reset(hl_coverage_t *c);
/* false when the range would need more than HL_CFG_MAX_SPANS separate spans. */
bool hl_cover_add(hl_coverage_t *c, uint32_t start, uint32_t end);
bool hl_cover_complete(const hl_coverage_t *c, uint32_t size);

/* A short ASCII message assembled without printf (which would cost kilobytes of flash). */
typedef struct {
    char buf[HL_CFG_TEXT_MAX + 1];
    uint8_t len;
} hl_text_t;
void hl_text_reset(hl_text_t *t);
hl_text_t *hl_text_str(hl_text_t *t, const char *s);
hl_text_t *hl_text_u64(hl_text_t *t, uint64_t v);
hl_text_t *hl_text_hex32(hl_text_t *t, uint32_t v);

/* The two-slot model store (hl_store.c), when the port has storage. */
#define HL_STORE_NONE 0xFFu
typedef struct {
    bool ok;              /* the port's geometry is usable */
    bool seen;            /* a committed slot was found or written: top_seq is meaningful */
    uint8_t active;       /* slot of the running model, or HL_STORE_NONE */
    uint8_t staging;      /* slot the open upload writes */
    uint8_t erased;
    uint32_t top_seq;     /* highest sequence number committed so far */
    uint32_t erase_block;
    uint32_t write_align;
    uint32_t slot_bytes;
    uint32_t commit_off;  /* commit word, from the slot start */
    uint32_t data_off;    /* image, from the slot start */
    uint32_t capacity;    /* largest image taken */
} hl_store_t;

typedef struct {
    const hl_board_info_t *board;
    hl_rx_t rx;
    uint32_t tx_limit; /* largest payload per frame we send: min(ours, the host's from HELLO) */
    uint16_t event_seq;

    bool staging_open;
    uint8_t staging_format;
    uint32_t staging_size;
    uint32_t staging_crc;
    char staging_name[HL_CFG_NAME_MAX + 1];
    hl_coverage_t staging_cov;

#if HL_PORT_HAS_STORAGE
    hl_store_t store;
#endif

    hl_model_info_t active;
    hl_model_info_t candidate; /* filled by the port during activation; copied to active on success */

    hl_coverage_t input_cov[HL_CFG_MAX_INPUTS];

    hl_text_t msg; /* the ERROR message of the request being handled */
} hl_core_state_t;

extern hl_core_state_t hl_state;

/* Replying: a reply is a train of frames sharing the request's seq; all but the last carry MORE.
 * The writer streams the payload into the tx frame buffer and sends a fragment whenever it fills. */
hl_wr_t *hl_reply_begin(uint8_t type, uint16_t seq);
void hl_reply_end(void);
void hl_reply_ack(uint16_t seq, uint32_t value);

/* Record why the request failed; returns code so a handler can `return hl_fail(...)`. */
hl_status_t hl_fail(hl_status_t code, const char *text);
hl_text_t *hl_fail_text(void); /* append details to the message started by hl_fail */

/* Encoders shared with the tests (hl_encode.c). */
void hl_enc_tensor_spec(hl_wr_t *w, const hl_tensor_spec_t *s);
void hl_enc_device_info(hl_wr_t *w, const hl_board_info_t *b, uint32_t max_payload);
void hl_enc_model_info(hl_wr_t *w, const hl_model_info_t *m);
void hl_enc_result_head(hl_wr_t *w, uint32_t frame, uint32_t count, const hl_stages_t *st);

/* Handlers: the payload reader is positioned at the start of the payload. */
hl_status_t hl_on_model_begin(const hl_frame_t *f, hl_rd_t *rd);
hl_status_t hl_on_model_chunk(const hl_frame_t *f, hl_rd_t *rd);
hl_status_t hl_on_model_commit(const hl_frame_t *f, hl_rd_t *rd);
hl_status_t hl_on_model_info(const hl_frame_t *f, hl_rd_t *rd);
hl_status_t hl_on_input(const hl_frame_t *f, hl_rd_t *rd);
hl_status_t hl_on_capture(const hl_frame_t *f, hl_rd_t *rd);

void hl_model_reset_session(void); /* drop the staged upload */
/* true when the core can describe the model: tensor counts, ranks and sizes within hl_config.h */
bool hl_specs_fit(const hl_model_info_t *m);

#if HL_PORT_HAS_STORAGE
/* The model store (hl_store.c); every hl_status_t failure has its message recorded (hl_fail). */
void hl_store_boot(void);           /* restore the newest valid slot and make it the running model */
uint32_t hl_store_capacity(void);   /* largest image a slot holds */
uint32_t hl_store_image_offset(uint8_t slot);
hl_status_t hl_store_begin(uint32_t size, uint8_t *slot_out); /* erase the slot not running */
hl_status_t hl_store_write(uint8_t slot, uint32_t offset, const uint8_t *data, size_t len);
hl_status_t hl_store_verify(uint8_t slot, uint32_t size, uint32_t *crc_out);
hl_status_t hl_store_seal(uint8_t slot, const hl_model_info_t *info); /* header, then commit word */
void hl_store_activated(uint8_t slot);
void hl_store_withdraw(uint8_t slot); /* make a sealed slot invalid again */
#endif
void hl_inputs_reset(void);        /* drop staged host inputs */

#endif /* HL_INTERNAL_H */
