/* hl_model.c: model upload. MODEL_BEGIN opens the staging slot, MODEL_CHUNKs fill it in any
 * order, MODEL_COMMIT reads the whole image back, checks its CRC-32, has the port admit it and the
 * core check that it can describe it, and only then commits it to storage and switches to it.
 * Any failure leaves the active model exactly as it was. With HL_PORT_HAS_STORAGE the slots are
 * the power-safe store of hl_store.c; without it the port's own staging slot (earlier contract). */
#include <string.h>

#include "hl_crc.h"
#include "hl_internal.h"

void hl_model_reset_session(void)
{
    hl_state.staging_open = false;
    hl_cover_reset(&hl_state.staging_cov);
}

hl_status_t hl_core_refuse(hl_status_t code, const char *reason)
{
    return hl_fail(code, reason);
}

hl_status_t hl_on_model_begin(const hl_frame_t *f, hl_rd_t *rd)
{
    uint32_t size = hl_rd_u32(rd);
    uint32_t crc = hl_rd_u32(rd);
    uint8_t format = hl_rd_u8(rd);
    char name[HL_CFG_NAME_MAX + 1];
    hl_rd_text8(rd, name, sizeof name);
    if (!rd->ok) {
        return hl_fail(HL_ERR_BAD_PAYLOAD, "malformed MODEL_BEGIN payload: the name runs past the end");
    }
    hl_model_reset_session(); /* a new BEGIN always drops the previous staged upload */
    if ((hl_state.board->formats & HL_FORMAT_BIT(format)) == 0u) {
        hl_fail(HL_ERR_MODEL_FORMAT_UNSUPPORTED, "this board does not accept model format ");
        hl_text_u64(hl_fail_text(), format);
        return HL_ERR_MODEL_FORMAT_UNSUPPORTED;
    }
    if (size == 0u) {
        return hl_fail(HL_ERR_BAD_PAYLOAD, "model size is 0");
    }
    hl_fail(HL_OK, "");
#if HL_PORT_HAS_STORAGE
    hl_status_t st = hl_store_begin(size, &hl_state.store.staging);
#else
    hl_status_t st = hl_port_staging(HL_STAGING_OPEN, 0, NULL, size);
#endif
    if (st != HL_OK) {
        if (hl_state.msg.len == 0u) {
            hl_fail(st, "the model store cannot stage ");
            hl_text_str(hl_text_u64(hl_fail_text(), size), " bytes");
        }
        return st;
    }
    hl_state.staging_open = true;
    hl_state.staging_size = size;
    hl_state.staging_crc = crc;
    hl_state.staging_format = format;
    memcpy(hl_state.staging_name, name, sizeof name);
    hl_reply_ack(f->seq, 0);
    return HL_OK;
}

static hl_status_t stage(uint32_t offset, const uint8_t *data, uint32_t len)
{
#if HL_PORT_HAS_STORAGE
    return hl_store_write(hl_state.store.staging, offset, data, len);
#else
    return hl_port_staging(HL_STAGING_WRITE, offset, (uint8_t *)(uintptr_t)data, len);
#endif
}

/* Program only the parts of [offset, offset + len) no earlier chunk covered: a retried or
 * overlapping chunk never programs flash twice (hl_port_storage_write's contract). */
static hl_status_t write_new_bytes(uint32_t offset, const uint8_t *data, uint32_t len)
{
    const hl_coverage_t *c = &hl_state.staging_cov;
    uint32_t end = offset + len;
    uint32_t at = offset;
    for (uint8_t i = 0; i < c->n && at < end; i++) {
        if (c->s[i].end <= at) {
            continue;
        }
        if (c->s[i].start >= end) {
            break;
        }
        if (c->s[i].start > at) {
            hl_status_t st = stage(at, data + (at - offset), c->s[i].start - at);
            if (st != HL_OK) {
                return st;
            }
        }
        at = c->s[i].end;
    }
    return at < end ? stage(at, data + (at - offset), end - at) : HL_OK;
}

hl_status_t hl_on_model_chunk(const hl_frame_t *f, hl_rd_t *rd)
{
    uint32_t offset = hl_rd_u32(rd);
    size_t len = hl_rd_left(rd);
    const uint8_t *data = hl_rd_bytes(rd, len);
    if (!hl_state.staging_open) {
        return hl_fail(HL_ERR_NO_UPLOAD, "MODEL_CHUNK without MODEL_BEGIN");
    }
    uint32_t size = hl_state.staging_size;
    if (len > size || offset > size - len) {
        hl_fail(HL_ERR_CHUNK_OUT_OF_RANGE, "chunk at ");
        hl_text_u64(hl_text_str(hl_text_u64(hl_fail_text(), offset), "+"), len);
        hl_text_u64(hl_text_str(hl_fail_text(), " runs past the announced size "), size);
        return HL_ERR_CHUNK_OUT_OF_RANGE;
    }
    hl_coverage_t next = hl_state.staging_cov;
    if (!hl_cover_add(&next, offset, offset + (uint32_t)len)) {
        return hl_fail(HL_ERR_CHUNK_OUT_OF_RANGE, "too many gaps between received chunks; send them in order");
    }
    hl_fail(HL_OK, "");
    hl_status_t st = write_new_bytes(offset, data, (uint32_t)len);
    if (st != HL_OK) {
        return hl_state.msg.len ? st : hl_fail(st, "writing the staging slot failed");
    }
    hl_state.staging_cov = next;
    hl_reply_ack(f->seq, hl_state.staging_cov.covered);
    return HL_OK;
}

static hl_status_t verify_staged_crc(uint32_t size, uint32_t *crc_out)
{
#if HL_PORT_HAS_STORAGE
    return hl_store_verify(hl_state.store.staging, size, crc_out);
#else
    uint8_t buf[HL_CFG_VERIFY_CHUNK];
    uint32_t crc = HL_CRC32_INIT;
    for (uint32_t off = 0; off < size;) {
        uint32_t n = size - off < sizeof buf ? size - off : (uint32_t)sizeof buf;
        hl_status_t st = hl_port_staging(HL_STAGING_READ, off, buf, n);
        if (st != HL_OK) {
            return st;
        }
        crc = hl_crc32(crc, buf, n);
        off += n;
    }
    *crc_out = crc;
    return HL_OK;
#endif
}

bool hl_specs_fit(const hl_model_info_t *m)
{
    if (m->n_inputs > HL_CFG_MAX_INPUTS || m->n_outputs > HL_CFG_MAX_OUTPUTS) {
        return false;
    }
    for (uint8_t i = 0; i < m->n_inputs; i++) {
        if (m->inputs[i].ndim > HL_CFG_MAX_DIMS || hl_tensor_bytes(&m->inputs[i]) == 0u) {
            return false;
        }
    }
    for (uint8_t i = 0; i < m->n_outputs; i++) {
        if (m->outputs[i].ndim > HL_CFG_MAX_DIMS || hl_tensor_bytes(&m->outputs[i]) == 0u) {
            return false;
        }
    }
    return true;
}

hl_status_t hl_on_model_commit(const hl_frame_t *f, hl_rd_t *rd)
{
    uint32_t crc = hl_rd_u32(rd);
    bool was_open = hl_state.staging_open;
    uint32_t size = hl_state.staging_size;
    bool complete = hl_cover_complete(&hl_state.staging_cov, size);
    uint32_t covered = hl_state.staging_cov.covered;
    hl_model_reset_session(); /* a failed commit discards the staged image */
    if (!was_open) {
        return hl_fail(HL_ERR_NO_UPLOAD, "MODEL_COMMIT without MODEL_BEGIN");
    }
    if (crc != hl_state.staging_crc) {
        return hl_fail(HL_ERR_MODEL_CRC_MISMATCH, "commit CRC differs from the one announced in MODEL_BEGIN");
    }
    if (!complete) {
        hl_fail(HL_ERR_MODEL_INCOMPLETE, "");
        hl_text_u64(hl_fail_text(), size - covered);
        hl_text_str(hl_text_u64(hl_text_str(hl_fail_text(), " of "), size), " bytes never arrived; upload again");
        return HL_ERR_MODEL_INCOMPLETE;
    }
    uint32_t actual = 0;
    hl_status_t st = verify_staged_crc(size, &actual);
    if (st != HL_OK) {
        return hl_fail(st, "reading the staging slot back failed");
    }
    if (actual != crc) {
        hl_fail(HL_ERR_MODEL_CRC_MISMATCH, "image CRC is ");
        hl_text_hex32(hl_fail_text(), actual);
        hl_text_hex32(hl_text_str(hl_fail_text(), ", expected "), crc);
        hl_text_str(hl_fail_text(), ": data was corrupted in transit; the active model is unchanged");
        return HL_ERR_MODEL_CRC_MISMATCH;
    }

    hl_model_info_t *c = &hl_state.candidate;
    memset(c, 0, sizeof *c);
    memcpy(c->name, hl_state.staging_name, sizeof c->name);
    c->format = hl_state.staging_format;
    c->size = size;
    c->crc32 = crc;
    hl_fail(HL_OK, "");
#if HL_PORT_HAS_STORAGE
    /* every check first; nothing has switched and nothing is committed until all have passed */
    uint8_t slot = hl_state.store.staging;
    uint32_t at = hl_store_image_offset(slot);
    st = hl_port_model_check(at, c);
    if (st != HL_OK) {
        return hl_state.msg.len ? st : hl_fail(st, "the board refused the model");
    }
    if (!hl_specs_fit(c)) {
        return hl_fail(HL_ERR_MODEL_OP_UNSUPPORTED,
                       "the model has more tensors or dimensions than this firmware describes (hl_config.h)");
    }
    st = hl_store_seal(slot, c); /* the commit point: from here a reboot restores this model */
    if (st != HL_OK) {
        return st;
    }
    hl_fail(HL_OK, "");
    st = hl_port_model_switch(at, c);
    if (st != HL_OK) {
        hl_store_withdraw(slot);
        return hl_state.msg.len ? st : hl_fail(st, "the board could not switch to the model; the active model is unchanged");
    }
    hl_store_activated(slot);
#else
    st = hl_port_model_activate(c);
    if (st != HL_OK) {
        return hl_state.msg.len ? st : hl_fail(st, "the board refused the model");
    }
    if (!hl_specs_fit(c)) {
        /* the port activated a model the core cannot describe: a port bug, reported as such */
        return hl_fail(HL_ERR_INTERNAL, "the activated model has more tensors or dimensions than hl_config.h allows");
    }
#endif
    c->loaded = true;
    hl_state.active = *c;
    hl_inputs_reset();

    hl_text_t log;
    hl_text_reset(&log);
    hl_text_str(hl_text_str(hl_text_str(&log, "model '"), c->name), "' active: ");
    hl_text_str(hl_text_u64(&log, c->size), " bytes, arena ");
    hl_text_str(hl_text_u64(&log, c->arena_bytes), " bytes, ");
    hl_text_str(hl_text_u64(&log, c->macs), " MACs, ");
    hl_text_str(&log, c->engine);
    hl_core_log(HL_LOG_INFO, log.buf);

    hl_enc_model_info(hl_reply_begin(HL_MSG_MODEL_INFO, f->seq), &hl_state.active);
    hl_reply_end();
    return HL_OK;
}

hl_status_t hl_on_model_info(const hl_frame_t *f, hl_rd_t *rd)
{
    (void)rd;
    hl_enc_model_info(hl_reply_begin(HL_MSG_MODEL_INFO, f->seq), &hl_state.active);
    hl_reply_end();
    return HL_OK;
}
