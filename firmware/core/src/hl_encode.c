/* hl_encode.c: the variable-length replies (DEVICE_INFO, MODEL_INFO, RESULT's head, TensorSpec).
 *
 * Field order and widths are protocols/messages.py's; hl_config.h static-asserts the prefix widths
 * these encoders assume, and firmware/tests decode the golden vectors and re-encode them here byte
 * for byte. */
#include "hl_internal.h"

void hl_enc_tensor_spec(hl_wr_t *w, const hl_tensor_spec_t *s)
{
    hl_wr_text8(w, s->name);
    hl_wr_u8(w, s->dtype);
    uint8_t ndim = s->ndim <= HL_CFG_MAX_DIMS ? s->ndim : (uint8_t)HL_CFG_MAX_DIMS;
    hl_wr_u8(w, ndim);
    for (uint8_t i = 0; i < ndim; i++) {
        hl_wr_u32(w, s->shape[i]);
    }
    hl_wr_f32(w, s->scale);
    hl_wr_i32(w, s->zero_point);
}

void hl_enc_device_info(hl_wr_t *w, const hl_board_info_t *b, uint32_t max_payload)
{
    hl_wr_u8(w, b->kind);
    hl_wr_text8(w, b->name);
    hl_wr_text8(w, b->serial);
    hl_wr_bytes(w, b->fw_version, HL_DEVICE_INFO_FW_VERSION_SIZE);
    hl_wr_u8(w, HL_PROTO_VERSION);
    hl_wr_u32(w, b->capabilities);
    hl_wr_u32(w, max_payload);
    hl_wr_u32(w, 1000000u); /* clock_hz: stage timestamps are hl_port_time_us() microseconds */
    hl_wr_u32(w, b->link_bps);
    hl_wr_u8(w, b->formats);
    hl_wr_u8(w, b->n_memory);
    for (uint8_t i = 0; i < b->n_memory; i++) {
        hl_wr_text8(w, b->memory[i].name);
        hl_wr_u32(w, b->memory[i].size);
    }
    hl_wr_u8(w, b->n_stages);
    hl_wr_bytes(w, b->stages, b->n_stages);
}

void hl_enc_model_info(hl_wr_t *w, const hl_model_info_t *m)
{
    hl_wr_u8(w, m->loaded ? 1u : 0u);
    hl_wr_text8(w, m->loaded ? m->name : "");
    /* an empty store reports format TFLITE and zeros, as the reference board does */
    hl_wr_u8(w, m->loaded ? m->format : (uint8_t)HL_FMT_TFLITE);
    hl_wr_u32(w, m->loaded ? m->size : 0u);
    hl_wr_u32(w, m->loaded ? m->crc32 : 0u);
    hl_wr_u32(w, m->loaded ? m->arena_bytes : 0u);
    hl_wr_u64(w, m->loaded ? m->macs : 0u);
    hl_wr_u32(w, m->loaded ? m->expected_frame_us : 0u);
    hl_wr_text8(w, m->loaded ? m->engine : "");
    uint8_t n_in = m->loaded ? m->n_inputs : 0u;
    uint8_t n_out = m->loaded ? m->n_outputs : 0u;
    hl_wr_u8(w, n_in);
    for (uint8_t i = 0; i < n_in; i++) {
        hl_enc_tensor_spec(w, &m->inputs[i]);
    }
    hl_wr_u8(w, n_out);
    for (uint8_t i = 0; i < n_out; i++) {
        hl_enc_tensor_spec(w, &m->outputs[i]);
    }
}

void hl_enc_result_head(hl_wr_t *w, uint32_t frame, uint32_t count, const hl_stages_t *st)
{
    hl_wr_u32(w, frame);
    hl_wr_u32(w, count);
    hl_wr_u8(w, st->count);
    for (uint8_t i = 0; i < st->count; i++) {
        hl_wr_u8(w, st->t[i].stage);
        hl_wr_u64(w, st->t[i].start);
        hl_wr_u64(w, st->t[i].end);
    }
}
