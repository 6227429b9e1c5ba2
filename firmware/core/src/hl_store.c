/* hl_store.c: the power-safe two-slot model store on the port's storage region (hl_port.h has the
 * contract and the slot layout).
 *
 * Why the order of writes makes it safe: a slot counts only when its header CRC, its commit word
 * and its image CRC all check out, and the commit word is the last thing written. An upload only
 * ever erases and programs the slot that does not hold the running model, so until the commit
 * word is complete the previous slot is the newest valid one, and from then on the new one is.
 * The sequence number tells the two apart when both are valid. */
#include <string.h>

#include "hl_crc.h"
#include "hl_internal.h"

#if HL_PORT_HAS_STORAGE

#define STORE_MAGIC 0x534D4C48u  /* "HLMS" */
#define STORE_VERSION 1u
#define STORE_COMMITTED 0x4B4F4D43u /* "CMOK": any torn or erased word differs from it */

/* header: magic u32, version u16, header_len u16, seq u32, size u32, crc32 u32, format u8,
 * name_len u8, reserved u16 (0), name, header CRC-32 u32 over everything before it */
#define HDR_FIXED 24u
#define HDR_NAME_MAX 255u
#define HDR_MAX (HDR_FIXED + HDR_NAME_MAX + 4u)

#define ROUND_UP_CONST(v, to) (((v) + (to)-1u) / (to) * (to))

static uint32_t round_up(uint32_t v, uint32_t to) { return (v + to - 1u) & ~(to - 1u); }

static bool pow2(uint32_t v) { return v != 0u && (v & (v - 1u)) == 0u; }

/* Slot geometry from the port's declaration; false when the port declared something unusable. */
static bool layout(void)
{
    hl_store_t *s = &hl_state.store;
    const hl_storage_geometry_t *g = hl_port_storage_geometry();
    s->ok = false;
    if (g == NULL || !pow2(g->erase_block) || !pow2(g->write_align) || g->write_align > HL_CFG_STORE_ALIGN_MAX) {
        return false;
    }
    s->erase_block = g->erase_block;
    s->write_align = g->write_align;
    s->erased = g->erased;
    s->slot_bytes = (g->size / 2u) & ~(g->erase_block - 1u);
    s->commit_off = round_up(HDR_MAX, g->write_align);
    s->data_off = s->commit_off + round_up(4u, g->write_align);
    if (s->slot_bytes <= s->data_off) {
        return false;
    }
    s->capacity = s->slot_bytes - s->data_off;
    if (g->image_max != 0u && g->image_max < s->capacity) {
        s->capacity = g->image_max;
    }
    s->ok = true;
    return true;
}

static uint32_t slot_base(uint8_t slot) { return (uint32_t)slot * hl_state.store.slot_bytes; }

uint32_t hl_store_capacity(void) { return hl_state.store.ok ? hl_state.store.capacity : 0u; }

uint32_t hl_store_image_offset(uint8_t slot) { return slot_base(slot) + hl_state.store.data_off; }

static hl_status_t image_crc(uint8_t slot, uint32_t size, uint32_t *crc_out)
{
    uint8_t buf[HL_CFG_VERIFY_CHUNK];
    uint32_t crc = HL_CRC32_INIT;
    uint32_t base = hl_store_image_offset(slot);
    for (uint32_t off = 0; off < size;) {
        uint32_t n = size - off < sizeof buf ? size - off : (uint32_t)sizeof buf;
        hl_status_t st = hl_port_storage_read(base + off, buf, n);
        if (st != HL_OK) {
            return st;
        }
        crc = hl_crc32(crc, buf, n);
        off += n;
    }
    *crc_out = crc;
    return HL_OK;
}

hl_status_t hl_store_verify(uint8_t slot, uint32_t size, uint32_t *crc_out)
{
    return image_crc(slot, size, crc_out);
}

/* Parse a slot's header and commit word into info (name, format, size, crc32) and *seq. */
static bool read_header(uint8_t slot, hl_model_info_t *info, uint32_t *seq)
{
    const hl_store_t *s = &hl_state.store;
    uint8_t h[HDR_MAX];
    uint8_t word[4];
    if (hl_port_storage_read(slot_base(slot) + s->commit_off, word, sizeof word) != HL_OK ||
        hl_le32(word) != STORE_COMMITTED || hl_port_storage_read(slot_base(slot), h, HDR_FIXED) != HL_OK ||
        hl_le32(h) != STORE_MAGIC || hl_le16(h + 4) != STORE_VERSION) {
        return false;
    }
    uint32_t name_len = h[21];
    uint32_t len = HDR_FIXED + name_len + 4u;
    if (hl_le16(h + 6) != len || hl_port_storage_read(slot_base(slot) + HDR_FIXED, h + HDR_FIXED, len - HDR_FIXED) != HL_OK ||
        hl_crc32(HL_CRC32_INIT, h, len - 4u) != hl_le32(h + len - 4u)) {
        return false;
    }
    uint32_t size = hl_le32(h + 12);
    if (size == 0u || size > hl_store_capacity()) {
        return false;
    }
    memset(info, 0, sizeof *info);
    *seq = hl_le32(h + 8);
    info->size = size;
    info->crc32 = hl_le32(h + 16);
    info->format = h[20];
    uint32_t keep = name_len < HL_CFG_NAME_MAX ? name_len : HL_CFG_NAME_MAX;
    memcpy(info->name, h + HDR_FIXED, keep);
    info->name[keep] = '\0';
    return true;
}

/* Serial-number order, so that the counter may wrap. */
static bool newer(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

void hl_store_boot(void)
{
    hl_store_t *s = &hl_state.store;
    s->active = HL_STORE_NONE;
    s->top_seq = 0;
    s->seen = false;
    if (!layout()) {
        return;
    }
    hl_model_info_t cand[2];
    uint32_t seq[2];
    bool valid[2];
    for (uint8_t i = 0; i < 2u; i++) {
        valid[i] = read_header(i, &cand[i], &seq[i]);
        if (valid[i] && (!s->seen || newer(seq[i], s->top_seq))) {
            s->top_seq = seq[i];
            s->seen = true;
        }
    }
    uint8_t first = valid[1] && (!valid[0] || newer(seq[1], seq[0])) ? 1u : 0u;
    for (uint8_t k = 0; k < 2u; k++) {
        uint8_t i = k == 0u ? first : (uint8_t)(first ^ 1u);
        uint32_t crc = 0;
        if (!valid[i] || image_crc(i, cand[i].size, &crc) != HL_OK || crc != cand[i].crc32) {
            continue; /* torn header, missing commit word or a damaged image: not a model */
        }
        hl_model_info_t *c = &hl_state.candidate;
        *c = cand[i];
        if (hl_port_model_check(hl_store_image_offset(i), c) != HL_OK || !hl_specs_fit(c) ||
            hl_port_model_switch(hl_store_image_offset(i), c) != HL_OK) {
            continue; /* the port no longer takes it (a different engine build): try the older one */
        }
        c->loaded = true;
        hl_state.active = *c;
        s->active = i;
        return;
    }
}

hl_status_t hl_store_begin(uint32_t size, uint8_t *slot_out)
{
    hl_store_t *s = &hl_state.store;
    if (!layout()) {
        return hl_fail(HL_ERR_INTERNAL, "the port declared an unusable storage geometry");
    }
    if (size > hl_store_capacity()) {
        hl_fail(HL_ERR_MODEL_TOO_LARGE, "model is ");
        hl_text_u64(hl_text_str(hl_text_u64(hl_fail_text(), size), " bytes but a model store slot holds "),
                    hl_store_capacity());
        return HL_ERR_MODEL_TOO_LARGE;
    }
    uint8_t slot = s->active == 0u ? 1u : 0u; /* never the slot holding the running model */
    uint32_t span = round_up(s->data_off + size, s->erase_block);
    hl_status_t st = hl_port_storage_erase(slot_base(slot), span);
    if (st != HL_OK) {
        return hl_state.msg.len ? st : hl_fail(st, "erasing the model store slot failed");
    }
    *slot_out = slot;
    return HL_OK;
}

hl_status_t hl_store_write(uint8_t slot, uint32_t offset, const uint8_t *data, size_t len)
{
    return hl_port_storage_write(hl_store_image_offset(slot) + offset, data, len);
}

/* One padded record (header or commit word) in a single aligned write. */
static hl_status_t write_record(uint32_t at, const uint8_t *rec, uint32_t len)
{
    const hl_store_t *s = &hl_state.store;
    uint8_t buf[ROUND_UP_CONST(HDR_MAX, HL_CFG_STORE_ALIGN_MAX)];
    uint32_t padded = round_up(len, s->write_align);
    memset(buf, s->erased, padded);
    memcpy(buf, rec, len);
    return hl_port_storage_write(at, buf, padded);
}

hl_status_t hl_store_seal(uint8_t slot, const hl_model_info_t *info)
{
    hl_store_t *s = &hl_state.store;
    uint8_t h[HDR_MAX];
    uint32_t name_len = (uint32_t)strlen(info->name);
    uint32_t len = HDR_FIXED + name_len + 4u;
    uint32_t seq = s->seen ? s->top_seq + 1u : 1u;
    hl_put32(h, STORE_MAGIC);
    hl_put16(h + 4, STORE_VERSION);
    hl_put16(h + 6, (uint16_t)len);
    hl_put32(h + 8, seq);
    hl_put32(h + 12, info->size);
    hl_put32(h + 16, info->crc32);
    h[20] = info->format;
    h[21] = (uint8_t)name_len;
    hl_put16(h + 22, 0);
    memcpy(h + HDR_FIXED, info->name, name_len);
    hl_put32(h + len - 4u, hl_crc32(HL_CRC32_INIT, h, len - 4u));
    hl_status_t st = write_record(slot_base(slot), h, len);
    if (st == HL_OK) {
        uint8_t word[4];
        hl_put32(word, STORE_COMMITTED);
        st = write_record(slot_base(slot) + s->commit_off, word, sizeof word); /* the commit point */
    }
    if (st != HL_OK) {
        return hl_state.msg.len ? st : hl_fail(st, "writing the model store header failed; the active model is unchanged");
    }
    /* read it back as boot will: a record the flash did not take must not look committed */
    hl_model_info_t back;
    uint32_t back_seq = 0;
    if (!read_header(slot, &back, &back_seq) || back_seq != seq || back.crc32 != info->crc32) {
        hl_store_withdraw(slot);
        return hl_fail(HL_ERR_INTERNAL, "the model store header did not read back; the active model is unchanged");
    }
    s->top_seq = seq;
    s->seen = true;
    return HL_OK;
}

void hl_store_activated(uint8_t slot) { hl_state.store.active = slot; }

void hl_store_withdraw(uint8_t slot)
{
    /* erasing the block with the header and commit word makes the slot invalid again */
    const hl_store_t *s = &hl_state.store;
    if (hl_port_storage_erase(slot_base(slot), round_up(s->data_off, s->erase_block)) != HL_OK) {
        /* the slot stays committed: the next boot restores it, which is the model the host sent */
        return;
    }
}

#endif /* HL_PORT_HAS_STORAGE */
