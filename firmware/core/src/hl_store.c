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

/* Header and commit-word records are built, padded and read back here rather than on the stack:
 * the store runs inside the protocol task, whose stack the size table budgets. */
static uint8_t rec[ROUND_UP_CONST(HDR_MAX, HL_CFG_STORE_ALIGN_MAX)];

typedef struct {
    uint32_t seq;
    uint32_t size;
    uint32_t crc32;
    uint8_t format;
} slot_head_t;

/* Read and check a slot's commit word and header; the header stays in rec (the name for
 * head_info). False for anything boot must not restore: erased, torn, or from another layout. */
static bool read_header(uint8_t slot, slot_head_t *hd)
{
    const hl_store_t *s = &hl_state.store;
    if (hl_port_storage_read(slot_base(slot) + s->commit_off, rec, 4u) != HL_OK || hl_le32(rec) != STORE_COMMITTED ||
        hl_port_storage_read(slot_base(slot), rec, HDR_FIXED) != HL_OK || hl_le32(rec) != STORE_MAGIC ||
        hl_le16(rec + 4) != STORE_VERSION) {
        return false;
    }
    uint32_t len = HDR_FIXED + rec[21] + 4u;
    if (hl_le16(rec + 6) != len ||
        hl_port_storage_read(slot_base(slot) + HDR_FIXED, rec + HDR_FIXED, len - HDR_FIXED) != HL_OK ||
        hl_crc32(HL_CRC32_INIT, rec, len - 4u) != hl_le32(rec + len - 4u)) {
        return false;
    }
    hd->seq = hl_le32(rec + 8);
    hd->size = hl_le32(rec + 12);
    hd->crc32 = hl_le32(rec + 16);
    hd->format = rec[20];
    return hd->size != 0u && hd->size <= hl_store_capacity();
}

/* The model description boot starts from, from the header read last (in rec). */
static void head_info(const slot_head_t *hd, hl_model_info_t *info)
{
    memset(info, 0, sizeof *info);
    info->size = hd->size;
    info->crc32 = hd->crc32;
    info->format = hd->format;
    uint32_t keep = rec[21] < HL_CFG_NAME_MAX ? rec[21] : HL_CFG_NAME_MAX;
    memcpy(info->name, rec + HDR_FIXED, keep);
    info->name[keep] = '\0';
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
    slot_head_t hd[2];
    bool valid[2];
    for (uint8_t i = 0; i < 2u; i++) {
        valid[i] = read_header(i, &hd[i]);
        if (valid[i] && (!s->seen || newer(hd[i].seq, s->top_seq))) {
            s->top_seq = hd[i].seq;
            s->seen = true;
        }
    }
    uint8_t first = valid[1] && (!valid[0] || newer(hd[1].seq, hd[0].seq)) ? 1u : 0u;
    for (uint8_t k = 0; k < 2u; k++) {
        uint8_t i = k == 0u ? first : (uint8_t)(first ^ 1u);
        uint32_t crc = 0;
        slot_head_t again;
        if (!valid[i] || image_crc(i, hd[i].size, &crc) != HL_OK || crc != hd[i].crc32 || !read_header(i, &again)) {
            continue; /* torn header, missing commit word or a damaged image: not a model */
        }
        hl_model_info_t *c = &hl_state.candidate;
        head_info(&again, c);
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

/* The record in rec (len bytes), padded with erased bytes to write_align, in one write. */
static hl_status_t write_record(uint32_t at, uint32_t len)
{
    const hl_store_t *s = &hl_state.store;
    uint32_t padded = round_up(len, s->write_align);
    memset(rec + len, s->erased, padded - len);
    return hl_port_storage_write(at, rec, padded);
}

hl_status_t hl_store_seal(uint8_t slot, const hl_model_info_t *info)
{
    hl_store_t *s = &hl_state.store;
    uint32_t name_len = (uint32_t)strlen(info->name);
    uint32_t len = HDR_FIXED + name_len + 4u;
    uint32_t seq = s->seen ? s->top_seq + 1u : 1u;
    hl_put32(rec, STORE_MAGIC);
    hl_put16(rec + 4, STORE_VERSION);
    hl_put16(rec + 6, (uint16_t)len);
    hl_put32(rec + 8, seq);
    hl_put32(rec + 12, info->size);
    hl_put32(rec + 16, info->crc32);
    rec[20] = info->format;
    rec[21] = (uint8_t)name_len;
    hl_put16(rec + 22, 0);
    memcpy(rec + HDR_FIXED, info->name, name_len);
    hl_put32(rec + len - 4u, hl_crc32(HL_CRC32_INIT, rec, len - 4u));
    hl_status_t st = write_record(slot_base(slot), len);
    if (st == HL_OK) {
        hl_put32(rec, STORE_COMMITTED);
        st = write_record(slot_base(slot) + s->commit_off, 4u); /* the commit point */
    }
    if (st != HL_OK) {
        return hl_state.msg.len ? st : hl_fail(st, "writing the model store header failed; the active model is unchanged");
    }
    /* read it back as boot will: a record the flash did not take must not look committed */
    slot_head_t back;
    if (!read_header(slot, &back) || back.seq != seq || back.size != info->size || back.crc32 != info->crc32) {
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
