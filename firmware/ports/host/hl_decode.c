/* hl_decode.c: see hl_decode.h. */
#include "hl_decode.h"

#include <string.h>

static float f32(hl_rd_t *rd)
{
    uint32_t bits = hl_rd_u32(rd);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

bool hl_dec_tensor_spec(hl_rd_t *rd, hl_tensor_spec_t *s)
{
    memset(s, 0, sizeof *s);
    hl_rd_text8(rd, s->name, sizeof s->name);
    s->dtype = hl_rd_u8(rd);
    uint8_t ndim = hl_rd_u8(rd);
    if (ndim > HL_CFG_MAX_DIMS) {
        rd->ok = false;
        return false;
    }
    s->ndim = ndim;
    for (uint8_t i = 0; i < ndim; i++) {
        s->shape[i] = hl_rd_u32(rd);
    }
    s->scale = f32(rd);
    s->zero_point = (int32_t)hl_rd_u32(rd);
    return rd->ok;
}

static bool specs(hl_rd_t *rd, hl_tensor_spec_t *out, uint8_t max, uint8_t *n)
{
    *n = hl_rd_u8(rd);
    if (*n > max) {
        rd->ok = false;
        return false;
    }
    for (uint8_t i = 0; i < *n; i++) {
        if (!hl_dec_tensor_spec(rd, &out[i])) {
            return false;
        }
    }
    return rd->ok;
}

bool hl_dec_model_info(hl_rd_t *rd, hl_model_info_t *m)
{
    memset(m, 0, sizeof *m);
    m->loaded = hl_rd_u8(rd) != 0u;
    hl_rd_text8(rd, m->name, sizeof m->name);
    m->format = hl_rd_u8(rd);
    m->size = hl_rd_u32(rd);
    m->crc32 = hl_rd_u32(rd);
    m->arena_bytes = hl_rd_u32(rd);
    uint32_t lo = hl_rd_u32(rd);
    uint32_t hi = hl_rd_u32(rd);
    m->macs = ((uint64_t)hi << 32) | lo;
    m->expected_frame_us = hl_rd_u32(rd);
    hl_rd_text8(rd, m->engine, sizeof m->engine);
    return specs(rd, m->inputs, HL_CFG_MAX_INPUTS, &m->n_inputs) &&
           specs(rd, m->outputs, HL_CFG_MAX_OUTPUTS, &m->n_outputs);
}

bool hl_dec_device_info(hl_rd_t *rd, hl_device_info_t *d)
{
    memset(d, 0, sizeof *d);
    hl_board_info_t *b = &d->board;
    b->kind = hl_rd_u8(rd);
    hl_rd_text8(rd, d->name, sizeof d->name);
    hl_rd_text8(rd, d->serial, sizeof d->serial);
    const uint8_t *fw = hl_rd_bytes(rd, HL_DEVICE_INFO_FW_VERSION_SIZE);
    if (fw != NULL) {
        memcpy(b->fw_version, fw, HL_DEVICE_INFO_FW_VERSION_SIZE);
    }
    d->proto_version = hl_rd_u8(rd);
    b->capabilities = hl_rd_u32(rd);
    d->max_payload = hl_rd_u32(rd);
    d->clock_hz = hl_rd_u32(rd);
    b->link_bps = hl_rd_u32(rd);
    b->formats = hl_rd_u8(rd);
    b->n_memory = hl_rd_u8(rd);
    if (b->n_memory > HL_DEC_MAX_MEMORY) {
        rd->ok = false;
        return false;
    }
    for (uint8_t i = 0; i < b->n_memory; i++) {
        hl_rd_text8(rd, d->memory_names[i], sizeof d->memory_names[i]);
        d->memory[i].name = d->memory_names[i];
        d->memory[i].size = hl_rd_u32(rd);
    }
    b->n_stages = hl_rd_u8(rd);
    const uint8_t *stages = hl_rd_bytes(rd, b->n_stages);
    if (b->n_stages > HL_DEC_MAX_STAGES) {
        rd->ok = false;
        return false;
    }
    if (stages != NULL) {
        memcpy(d->stages, stages, b->n_stages);
    }
    b->name = d->name;
    b->serial = d->serial;
    b->memory = d->memory;
    b->stages = d->stages;
    return rd->ok;
}
