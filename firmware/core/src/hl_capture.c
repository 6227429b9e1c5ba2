/* hl_capture.c: host inputs (INPUT) and frames (CAPTURE -> RESULT per frame).
 *
 * A frame is: [CAPTURE (sensor only)] -> INFERENCE -> results encoded straight from the port's
 * output buffers into RESULT frames. The core stamps CAPTURE and INFERENCE around the port's calls;
 * the port may split off PREPROCESS and TRANSFER itself. Host inputs stay staged after a capture,
 * so the same tensor can be run again; a new model or RESET drops them. */
#include <string.h>

#include "hl_internal.h"

void hl_inputs_reset(void)
{
    for (uint8_t i = 0; i < HL_CFG_MAX_INPUTS; i++) {
        hl_cover_reset(&hl_state.input_cov[i]);
    }
}

hl_status_t hl_on_input(const hl_frame_t *f, hl_rd_t *rd)
{
    uint8_t index = hl_rd_u8(rd);
    uint32_t total = hl_rd_u32(rd);
    uint32_t offset = hl_rd_u32(rd);
    size_t len = hl_rd_left(rd);
    const uint8_t *data = hl_rd_bytes(rd, len);
    const hl_model_info_t *m = &hl_state.active;
    if (!m->loaded) {
        return hl_fail(HL_ERR_NO_MODEL, "no model is loaded; upload one before sending input");
    }
    if (index >= m->n_inputs) {
        hl_fail(HL_ERR_INPUT_MISMATCH, "the model has ");
        hl_text_u64(hl_text_str(hl_text_u64(hl_fail_text(), m->n_inputs), " input(s), not "), index + 1u);
        return HL_ERR_INPUT_MISMATCH;
    }
    uint32_t need = hl_tensor_bytes(&m->inputs[index]);
    if (total != need) {
        hl_fail(HL_ERR_INPUT_MISMATCH, "input ");
        hl_text_u64(hl_text_str(hl_text_u64(hl_fail_text(), index), " needs "), need);
        hl_text_u64(hl_text_str(hl_fail_text(), " bytes, got "), total);
        return HL_ERR_INPUT_MISMATCH;
    }
    if (len > need || offset > need - len) {
        hl_fail(HL_ERR_CHUNK_OUT_OF_RANGE, "input chunk at ");
        hl_text_u64(hl_text_str(hl_text_u64(hl_fail_text(), offset), " runs past "), need);
        hl_text_str(hl_fail_text(), " bytes");
        return HL_ERR_CHUNK_OUT_OF_RANGE;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    hl_fail(HL_OK, "");
    hl_status_t st = hl_port_tensor(HL_TENSOR_HOST_INPUT, index, &buf, &cap);
    if (st != HL_OK) {
        return hl_state.msg.len ? st : hl_fail(st, "the board has no staging buffer for this input");
    }
    if (buf == NULL || cap < need) {
        hl_fail(HL_ERR_INPUT_MISMATCH, "the board stages at most ");
        hl_text_str(hl_text_u64(hl_fail_text(), cap), " bytes for this input");
        return HL_ERR_INPUT_MISMATCH;
    }
    hl_coverage_t *cov = &hl_state.input_cov[index];
    if (offset == 0u && cov->covered >= need) {
        hl_cover_reset(cov); /* a complete tensor was staged before: this starts the next one */
    }
    if (len > 0u) {
        memcpy(buf + offset, data, len);
    }
    if (!hl_cover_add(cov, offset, offset + (uint32_t)len)) {
        return hl_fail(HL_ERR_CHUNK_OUT_OF_RANGE, "too many gaps between received input pieces; send them in order");
    }
    hl_reply_ack(f->seq, cov->covered);
    return HL_OK;
}

/* Idle until the clock reaches t, still receiving (not handling) link bytes meanwhile. */
static void wait_until(uint64_t t)
{
    for (;;) {
        uint64_t now = hl_port_time_us();
        if (now >= t) {
            return;
        }
        uint64_t left = t - now;
        size_t room;
        uint8_t *dst = hl_rx_space(&hl_state.rx, &room);
        size_t n = hl_port_link_read(dst, room, left > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)left);
        hl_rx_commit(&hl_state.rx, n);
    }
}

static hl_status_t run_frame(bool from_host, uint32_t index, hl_stages_t *st)
{
    memset(st, 0, sizeof *st);
    hl_status_t s;
    hl_fail(HL_OK, "");
    if (!from_host) {
        hl_stage_enter(st, HL_STAGE_CAPTURE);
        s = hl_port_camera_capture(st, index);
        if (s != HL_OK) {
            hl_stage_enter(st, HL_STAGE_IDLE);
            return hl_state.msg.len ? s : hl_fail(s, "the camera did not deliver a frame");
        }
    }
    hl_stage_enter(st, HL_STAGE_INFERENCE);
    s = hl_port_invoke(st, from_host);
    hl_stage_enter(st, HL_STAGE_IDLE);
    if (s != HL_OK) {
        return hl_state.msg.len ? s : hl_fail(s, "inference failed");
    }
    return HL_OK;
}

static hl_status_t send_result(uint16_t seq, uint32_t index, uint32_t count, const hl_stages_t *st)
{
    const hl_model_info_t *m = &hl_state.active;
    hl_wr_t *w = hl_reply_begin(HL_MSG_RESULT, seq);
    hl_enc_result_head(w, index, count, st);
    hl_wr_u8(w, m->n_outputs);
    for (uint8_t i = 0; i < m->n_outputs; i++) {
        uint8_t *data = NULL;
        size_t cap = 0;
        uint32_t need = hl_tensor_bytes(&m->outputs[i]);
        hl_status_t s = hl_port_tensor(HL_TENSOR_OUTPUT, i, &data, &cap);
        if (s != HL_OK || data == NULL || cap < need) {
            /* the RESULT is already streaming: finish it with empty data so the host can parse it,
             * then report the failure (never happens unless the port disagrees with its own specs) */
            need = 0;
            data = NULL;
        }
        hl_enc_tensor_spec(w, &m->outputs[i]);
        hl_wr_u32(w, need);
        hl_wr_bytes(w, data, need);
    }
    hl_reply_end();
    return HL_OK;
}

hl_status_t hl_on_capture(const hl_frame_t *f, hl_rd_t *rd)
{
    uint32_t count = hl_rd_u32(rd);
    uint32_t period_us = hl_rd_u32(rd);
    uint8_t source = hl_rd_u8(rd);
    (void)hl_rd_u8(rd); /* options: return_input is not implemented by any board yet */
    const hl_model_info_t *m = &hl_state.active;
    if (!m->loaded) {
        return hl_fail(HL_ERR_NO_MODEL, "no model is loaded; upload one first");
    }
    bool from_host = source == HL_SOURCE_HOST;
    if (from_host) {
        for (uint8_t i = 0; i < m->n_inputs; i++) {
            if (!hl_cover_complete(&hl_state.input_cov[i], hl_tensor_bytes(&m->inputs[i]))) {
                hl_fail(HL_ERR_NO_INPUT, "input ");
                hl_text_str(hl_text_u64(hl_fail_text(), i), " has not been sent completely");
                return HL_ERR_NO_INPUT;
            }
        }
    } else if (source != HL_SOURCE_SENSOR) {
        hl_fail(HL_ERR_SOURCE_UNSUPPORTED, "unknown input source ");
        hl_text_u64(hl_fail_text(), source);
        return HL_ERR_SOURCE_UNSUPPORTED;
    } else if ((hl_state.board->capabilities & HL_CAP_SENSOR_CAPTURE) == 0u) {
        return hl_fail(HL_ERR_SOURCE_UNSUPPORTED, "this board has no sensor; send INPUT and capture from HOST");
    }
    if (count == 0u) {
        return hl_fail(HL_ERR_BAD_PAYLOAD, "capture count is 0");
    }
    if (!from_host && m->n_inputs != 1u) {
        hl_fail(HL_ERR_SOURCE_UNSUPPORTED, "the model has ");
        hl_text_str(hl_text_u64(hl_fail_text(), m->n_inputs), " inputs; the sensor feeds one. Send INPUT from the host");
        return HL_ERR_SOURCE_UNSUPPORTED;
    }
    uint16_t seq = f->seq; /* f->payload is not used past this point: waiting may move the rx buffer */
    uint64_t prev_start = 0;
    for (uint32_t i = 0; i < count; i++) {
        /* each frame starts at least a period after the one before, like a sensor's frame clock:
         * a frame that overran delays the next instead of causing a burst to catch up */
        if (period_us != 0u && i > 0u) {
            wait_until(prev_start + period_us);
        }
        hl_stages_t st;
        hl_status_t s = run_frame(from_host, i, &st);
        if (s != HL_OK) {
            return s;
        }
        prev_start = st.count > 0u ? st.t[0].start : hl_port_time_us();
        s = send_result(seq, i, count, &st);
        if (s != HL_OK) {
            return s;
        }
    }
    return HL_OK;
}
