/* fake_port.c: see fake_port.h. */
#include "fake_port.h"

#include <string.h>

fake_port_t fake;

static const hl_memory_region_t fake_memory[] = {{"sram", 65536u}, {"flash", FAKE_STORE_BYTES}};
static const uint8_t fake_stages[] = {HL_STAGE_CAPTURE, HL_STAGE_INFERENCE};
const hl_board_info_t fake_board = {
    .kind = HL_BOARD_HOST,
    .name = "fake board",
    .serial = "T0001",
    .fw_version = {HL_CORE_VERSION_MAJOR, HL_CORE_VERSION_MINOR, HL_CORE_VERSION_PATCH},
    .capabilities = HL_CAP_SENSOR_CAPTURE | HL_CAP_HOST_INPUT | HL_CAP_MARKERS,
    .link_bps = 115200u,
    .formats = HL_FORMATS_TFLITE,
    .n_memory = 2,
    .memory = fake_memory,
    .n_stages = 2,
    .stages = fake_stages,
};

void fake_reset(void)
{
    memset(&fake, 0, sizeof fake);
    memset(fake.store, 0xFF, sizeof fake.store);
    fake.now_us = 1000u;
    hl_core_init(&fake_board);
    fake.n_marks = 0; /* init drives IDLE once; tests look at what follows */
}

void fake_reboot(void)
{
    static uint8_t store[FAKE_REGION_BYTES];
    static uint8_t programmed[FAKE_REGION_BYTES];
    memcpy(store, fake.store, sizeof store);
    memcpy(programmed, fake.programmed, sizeof programmed);
    bool violation = fake.contract_violation;
    memset(&fake, 0, sizeof fake);
    memcpy(fake.store, store, sizeof store);
    memcpy(fake.programmed, programmed, sizeof programmed);
    fake.contract_violation = violation;
    fake.now_us = 1000u;
    hl_core_init(&fake_board);
    fake.n_marks = 0;
}

size_t hl_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_us)
{
    (void)buf;
    (void)cap;
    fake.now_us += timeout_us; /* nothing arrives: time passes */
    return 0;
}

hl_status_t hl_port_link_write(const uint8_t *data, size_t len)
{
    if (fake.out_overflow || len > FAKE_LINK_BYTES - fake.out_len) {
        fake.out_overflow = true;
        return HL_OK;
    }
    memcpy(fake.out + fake.out_len, data, len);
    fake.out_len += len;
    return HL_OK;
}

uint64_t hl_port_time_us(void)
{
    fake.now_us += fake.time_step_us;
    return fake.now_us;
}

void hl_port_marker(uint8_t stage)
{
    if (fake.n_marks < FAKE_MARKS) {
        fake.marks[fake.n_marks++] = stage;
    }
}

static const hl_storage_geometry_t fake_geometry = {
    .size = FAKE_REGION_BYTES,
    .erase_block = FAKE_ERASE_BLOCK,
    .write_align = FAKE_WRITE_ALIGN,
    .erased = 0xFFu,
    .image_max = FAKE_STORE_BYTES,
};

const hl_storage_geometry_t *hl_port_storage_geometry(void) { return &fake_geometry; }

static uint32_t next_random(void)
{
    fake.rng = fake.rng * 1664525u + 1013904223u; /* Numerical Recipes LCG: deterministic tears */
    return fake.rng >> 8;
}

/* Count a mutation; true when power dies during this one (the caller tears it). */
static bool power_fails_now(void)
{
    fake.mutations++;
    if (fake.powercut_at != 0u && fake.mutations == fake.powercut_at) {
        fake.power_lost = true;
        return true;
    }
    return false;
}

hl_status_t hl_port_storage_erase(uint32_t offset, uint32_t len)
{
    if (fake.power_lost) {
        return HL_ERR_INTERNAL;
    }
    if (offset % FAKE_ERASE_BLOCK != 0u || len % FAKE_ERASE_BLOCK != 0u || offset > FAKE_REGION_BYTES ||
        len > FAKE_REGION_BYTES - offset) {
        fake.contract_violation = true;
        return HL_ERR_INTERNAL;
    }
    fake.staging_opens++;
    if (power_fails_now()) {
        len = next_random() % (len + 1u); /* erased up to some point */
    }
    memset(fake.store + offset, 0xFF, len);
    memset(fake.programmed + offset, 0, len);
    return fake.power_lost ? HL_ERR_INTERNAL : HL_OK;
}

hl_status_t hl_port_storage_write(uint32_t offset, const uint8_t *data, size_t len)
{
    if (fake.power_lost) {
        return HL_ERR_INTERNAL;
    }
    if (offset > FAKE_REGION_BYTES || len > FAKE_REGION_BYTES - offset) {
        fake.contract_violation = true;
        return HL_ERR_INTERNAL;
    }
    fake.staging_writes++;
    size_t n = len;
    if (power_fails_now()) {
        n = next_random() % (len + 1u); /* a prefix lands, possibly all of it ... */
    }
    for (size_t i = 0; i < n; i++) {
        if (fake.programmed[offset + i]) {
            fake.contract_violation = true;
        }
        fake.store[offset + i] &= data[i]; /* NOR programming only clears bits */
        fake.programmed[offset + i] = 1;
    }
    if (fake.power_lost) {
        if (n < len) {
            fake.store[offset + n] &= (uint8_t)next_random(); /* ... and one byte half-programmed */
        }
        return HL_ERR_INTERNAL;
    }
    return HL_OK;
}

hl_status_t hl_port_storage_read(uint32_t offset, uint8_t *data, size_t len)
{
    if (fake.power_lost || offset > FAKE_REGION_BYTES || len > FAKE_REGION_BYTES - offset) {
        return HL_ERR_INTERNAL;
    }
    memcpy(data, fake.store + offset, len);
    if (fake.staging_corrupt_readback && len > 0) {
        data[0] ^= 0x01u; /* a flash bit that did not take */
    }
    return HL_OK;
}

static void spec(hl_tensor_spec_t *s, const char *name)
{
    memset(s, 0, sizeof *s);
    strcpy(s->name, name);
    s->dtype = HL_DTYPE_INT8;
    s->ndim = 2;
    s->shape[0] = 1;
    s->shape[1] = FAKE_TENSOR_BYTES;
    s->scale = 0.5f;
    s->zero_point = -3;
}

hl_status_t hl_port_model_check(uint32_t offset, hl_model_info_t *info)
{
    fake.checks++;
    uint8_t tag = 0;
    if (info->size > FAKE_STORE_BYTES || hl_port_storage_read(offset, &tag, 1) != HL_OK) {
        return HL_ERR_INTERNAL; /* the core must never ask this */
    }
    if (fake.activate_refusal != HL_OK) {
        return hl_core_refuse(fake.activate_refusal, "fake admission refused it");
    }
    if (fake.refuse_tag != 0u && tag == fake.refuse_tag) {
        return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "fake engine no longer takes this model");
    }
    info->arena_bytes = 2048u;
    info->macs = 12345678901ull;
    info->expected_frame_us = 1500u;
    strcpy(info->engine, "fake-engine");
    info->n_inputs = 1;
    info->n_outputs = fake.check_outputs ? fake.check_outputs : 1u;
    spec(&info->inputs[0], "in");
    for (uint8_t i = 0; i < info->n_outputs && i < HL_CFG_MAX_OUTPUTS; i++) {
        spec(&info->outputs[i], "out");
    }
    return HL_OK;
}

hl_status_t hl_port_model_switch(uint32_t offset, const hl_model_info_t *info)
{
    if (fake.switch_refusal != HL_OK) {
        return hl_core_refuse(fake.switch_refusal, "fake engine failed to switch");
    }
    /* the engine loads the committed image, as a board copies it to RAM or maps it */
    if (hl_port_storage_read(offset, fake.active, info->size) != HL_OK) {
        return HL_ERR_INTERNAL;
    }
    fake.activations++;
    fake.active_size = info->size;
    fake.model_tag = fake.active[0];
    return HL_OK;
}

hl_status_t hl_port_tensor(hl_tensor_kind_t kind, uint8_t index, uint8_t **data, size_t *len)
{
    if (index != 0) {
        return HL_ERR_INTERNAL;
    }
    *data = kind == HL_TENSOR_HOST_INPUT ? fake.host_input : fake.output;
    *len = FAKE_TENSOR_BYTES;
    return HL_OK;
}

hl_status_t hl_port_camera_capture(hl_stages_t *st, uint32_t frame_index)
{
    (void)st;
    fake.captures++;
    if (fake.camera_fault != HL_OK) {
        return fake.camera_fault;
    }
    for (uint32_t i = 0; i < FAKE_TENSOR_BYTES; i++) {
        fake.sensor_input[i] = (uint8_t)(frame_index * 16u + i);
    }
    return HL_OK;
}

hl_status_t hl_port_invoke(hl_stages_t *st, bool from_host)
{
    (void)st;
    fake.invokes++;
    if (fake.invoke_limit != 0u && fake.invokes > fake.invoke_limit) {
        return hl_core_refuse(HL_ERR_INFERENCE_FAILED, "fake engine: invoke limit reached");
    }
    const uint8_t *in = from_host ? fake.host_input : fake.sensor_input;
    for (uint32_t i = 0; i < FAKE_TENSOR_BYTES; i++) {
        fake.output[i] = (uint8_t)(in[i] + 1u + fake.model_tag);
    }
    return HL_OK;
}

void hl_port_reboot(uint8_t mode)
{
    (void)mode;
    fake.reboots++;
}
