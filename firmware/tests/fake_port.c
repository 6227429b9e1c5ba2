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
    fake.now_us = 1000u;
    hl_core_init(&fake_board);
    fake.n_marks = 0; /* init drives IDLE once; tests look at what follows */
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

hl_status_t hl_port_staging(hl_staging_op_t op, uint32_t offset, uint8_t *data, size_t len)
{
    switch (op) {
    case HL_STAGING_OPEN:
        fake.staging_opens++;
        if (len > FAKE_STORE_BYTES) {
            return hl_core_refuse(HL_ERR_MODEL_TOO_LARGE, "fake store holds 4096 bytes");
        }
        memset(fake.staging, 0xFF, sizeof fake.staging); /* erased flash */
        fake.staging_size = (uint32_t)len;
        return HL_OK;
    case HL_STAGING_WRITE:
        fake.staging_writes++;
        if (offset > fake.staging_size || len > fake.staging_size - offset) {
            return HL_ERR_INTERNAL; /* the core must never ask this */
        }
        memcpy(fake.staging + offset, data, len);
        return HL_OK;
    case HL_STAGING_READ:
        if (offset > fake.staging_size || len > fake.staging_size - offset) {
            return HL_ERR_INTERNAL;
        }
        memcpy(data, fake.staging + offset, len);
        if (fake.staging_corrupt_readback && len > 0) {
            data[0] ^= 0x01u; /* a flash bit that did not take */
        }
        return HL_OK;
    }
    return HL_ERR_INTERNAL;
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

hl_status_t hl_port_model_activate(hl_model_info_t *info)
{
    if (fake.activate_refusal != HL_OK) {
        return hl_core_refuse(fake.activate_refusal, "fake admission refused it");
    }
    fake.activations++;
    memcpy(fake.active, fake.staging, fake.staging_size);
    fake.active_size = fake.staging_size;
    fake.model_tag = fake.active[0];
    info->arena_bytes = 2048u;
    info->macs = 12345678901ull;
    info->expected_frame_us = 1500u;
    strcpy(info->engine, "fake-engine");
    info->n_inputs = 1;
    info->n_outputs = 1;
    spec(&info->inputs[0], "in");
    spec(&info->outputs[0], "out");
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
