/* port_host.c: the HAL on Linux.
 *
 *   link      a file descriptor pair: a pty master, or stdin/stdout
 *   clock     CLOCK_MONOTONIC, microseconds since start
 *   markers   each stage change appended as "<time_us> <stage>" to a file (the "GPIO" a power
 *             monitor would watch); nothing when no file was given
 *   storage   two files in a state directory: staging.bin (written by chunks, read back for the CRC)
 *             and active.bin; activation is rename(2), atomic on every Linux file system
 *   camera,   the helper process (hostlink.emulator.hostport): camera frame, preprocessing,
 *   inference admission, LiteRT; the C side stamps the stages around each call
 */
#include "port_host.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hl_decode.h"
#include "hl_hostport.h"
#include "helper_link.h"

static uint8_t host_inputs[HL_CFG_MAX_INPUTS][HL_HOST_TENSOR_MAX];
static uint8_t sensor_input[HL_HOST_TENSOR_MAX];
static uint8_t outputs[HL_CFG_MAX_OUTPUTS][HL_HOST_TENSOR_MAX];
static size_t output_len[HL_CFG_MAX_OUTPUTS];

static struct {
    int in_fd;
    int out_fd;
    bool eof;
    FILE *markers;
    uint64_t t0_ns;
    uint32_t store_bytes;
    int staging_fd;
    char staging_path[HL_HOST_PATH_MAX];
    char active_path[HL_HOST_PATH_MAX];
} port = {.in_fd = -1, .out_fd = -1, .staging_fd = -1};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int hl_host_port_open(int in_fd, int out_fd, const char *state_dir, uint32_t store_bytes, FILE *markers)
{
    port.in_fd = in_fd;
    port.out_fd = out_fd;
    port.markers = markers;
    port.store_bytes = store_bytes;
    port.t0_ns = mono_ns();
    int a = snprintf(port.staging_path, sizeof port.staging_path, "%s/staging.bin", state_dir);
    int b = snprintf(port.active_path, sizeof port.active_path, "%s/active.bin", state_dir);
    return (a > 0 && (size_t)a < sizeof port.staging_path && b > 0 && (size_t)b < sizeof port.active_path) ? 0 : -1;
}

void hl_host_port_close(void)
{
    if (port.staging_fd >= 0) {
        close(port.staging_fd);
        port.staging_fd = -1;
    }
    unlink(port.staging_path);
    unlink(port.active_path);
}

bool hl_host_port_eof(void) { return port.eof; }

/* ------------------------------------------------------------------------------ link */
size_t hl_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_us)
{
    struct timespec ts = {.tv_sec = (time_t)(timeout_us / 1000000u), .tv_nsec = (long)(timeout_us % 1000000u) * 1000L};
    if (cap == 0) {
        nanosleep(&ts, NULL);
        return 0;
    }
    struct pollfd p = {.fd = port.in_fd, .events = POLLIN, .revents = 0};
    if (ppoll(&p, 1, &ts, NULL) <= 0) {
        return 0;
    }
    ssize_t n = read(port.in_fd, buf, cap);
    if (n > 0) {
        return (size_t)n;
    }
    if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        port.eof = true; /* stdin closed; a pty master never gets here while we hold the slave */
    }
    return 0;
}

hl_status_t hl_port_link_write(const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(port.out_fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                struct pollfd p = {.fd = port.out_fd, .events = POLLOUT, .revents = 0};
                (void)poll(&p, 1, 100);
                continue;
            }
            return HL_ERR_INTERNAL;
        }
        data += n;
        len -= (size_t)n;
    }
    return HL_OK;
}

/* ------------------------------------------------------------------------------ time */
uint64_t hl_port_time_us(void) { return (mono_ns() - port.t0_ns) / 1000u; }

void hl_port_marker(uint8_t stage)
{
    if (port.markers != NULL) {
        fprintf(port.markers, "%" PRIu64 " %u\n", hl_port_time_us(), (unsigned)stage);
        fflush(port.markers);
    }
}

/* ------------------------------------------------------------------------------ models */
static hl_status_t io_fail(const char *what)
{
    static char msg[HL_CFG_TEXT_MAX + 1];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
    return hl_core_refuse(HL_ERR_INTERNAL, msg);
}

hl_status_t hl_port_staging(hl_staging_op_t op, uint32_t offset, uint8_t *data, size_t len)
{
    if (op == HL_STAGING_OPEN) {
        if (len > port.store_bytes) {
            static char msg[HL_CFG_TEXT_MAX + 1];
            snprintf(msg, sizeof msg, "model is %zu KB but the model store holds %u KB", len / 1024u,
                     (unsigned)(port.store_bytes / 1024u));
            return hl_core_refuse(HL_ERR_MODEL_TOO_LARGE, msg);
        }
        if (port.staging_fd >= 0) {
            close(port.staging_fd);
        }
        port.staging_fd = open(port.staging_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (port.staging_fd < 0 || ftruncate(port.staging_fd, (off_t)len) != 0) {
            return io_fail("cannot create the staging file");
        }
        return HL_OK;
    }
    if (port.staging_fd < 0) {
        return hl_core_refuse(HL_ERR_NO_UPLOAD, "the staging file is not open");
    }
    while (len > 0) {
        ssize_t n = op == HL_STAGING_WRITE ? pwrite(port.staging_fd, data, len, (off_t)offset)
                                           : pread(port.staging_fd, data, len, (off_t)offset);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return io_fail(op == HL_STAGING_WRITE ? "writing the staging file" : "reading the staging file");
        }
        data += n;
        offset += (uint32_t)n;
        len -= (size_t)n;
    }
    return HL_OK;
}

hl_status_t hl_port_model_activate(hl_model_info_t *info)
{
    if (port.staging_fd < 0 || fsync(port.staging_fd) != 0) {
        return io_fail("the staged image is not on disk");
    }
    /* LoadRequest: format u8, crc32 u32, name (u8 length + text), path (u16 length + text) */
    size_t name_len = strlen(info->name);
    size_t path_len = strlen(port.staging_path);
    uint8_t head[HL_LOAD_REQUEST_FIXED_PREFIX + HL_LOAD_REQUEST_NAME_PREFIX];
    head[HL_LOAD_REQUEST_FORMAT_OFF] = info->format;
    hl_put32(head + HL_LOAD_REQUEST_CRC32_OFF, info->crc32);
    head[HL_LOAD_REQUEST_FIXED_PREFIX] = (uint8_t)name_len;
    uint8_t plen[HL_LOAD_REQUEST_PATH_PREFIX];
    hl_put16(plen, (uint16_t)path_len);
    struct iovec parts[] = {{head, sizeof head}, {info->name, name_len}, {plen, sizeof plen},
                            {port.staging_path, path_len}};
    const uint8_t *reply;
    size_t reply_len;
    hl_status_t st = hl_helper_call(HL_PORT_OP_LOAD, parts, 4, &reply, &reply_len);
    if (st != HL_OK) {
        return st;
    }
    hl_model_info_t loaded;
    hl_rd_t rd;
    hl_rd_init(&rd, reply, reply_len);
    if (!hl_dec_model_info(&rd, &loaded)) {
        static char msg[HL_CFG_TEXT_MAX + 1];
        snprintf(msg, sizeof msg, "this port handles models with at most %u inputs and %u outputs of rank <= %u",
                 (unsigned)HL_CFG_MAX_INPUTS, (unsigned)HL_CFG_MAX_OUTPUTS, (unsigned)HL_CFG_MAX_DIMS);
        return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, msg);
    }
    for (uint8_t i = 0; i < loaded.n_inputs + loaded.n_outputs; i++) {
        const hl_tensor_spec_t *s = i < loaded.n_inputs ? &loaded.inputs[i] : &loaded.outputs[i - loaded.n_inputs];
        uint32_t bytes = hl_tensor_bytes(s);
        if (bytes == 0u || bytes > HL_HOST_TENSOR_MAX) {
            static char msg[HL_CFG_TEXT_MAX + 1];
            snprintf(msg, sizeof msg, "tensor %.60s is %u bytes; this port stages tensors of 1..%u bytes", s->name,
                     (unsigned)bytes, (unsigned)HL_HOST_TENSOR_MAX);
            return hl_core_refuse(HL_ERR_MODEL_ARENA_TOO_LARGE, msg);
        }
    }
    /* the point of no return: the verified image becomes the active slot, then the engine switches */
    if (rename(port.staging_path, port.active_path) != 0) {
        return io_fail("cannot move the staged image into the active slot");
    }
    close(port.staging_fd);
    port.staging_fd = -1;
    st = hl_helper_call(HL_PORT_OP_ACTIVATE, NULL, 0, &reply, &reply_len);
    if (st != HL_OK) {
        return st;
    }
    info->arena_bytes = loaded.arena_bytes;
    info->macs = loaded.macs;
    info->expected_frame_us = loaded.expected_frame_us;
    memcpy(info->engine, loaded.engine, sizeof info->engine);
    info->n_inputs = loaded.n_inputs;
    info->n_outputs = loaded.n_outputs;
    memcpy(info->inputs, loaded.inputs, sizeof info->inputs);
    memcpy(info->outputs, loaded.outputs, sizeof info->outputs);
    memset(output_len, 0, sizeof output_len);
    return HL_OK;
}

/* ------------------------------------------------------------------------------ frames */
hl_status_t hl_port_tensor(hl_tensor_kind_t kind, uint8_t index, uint8_t **data, size_t *len)
{
    const hl_model_info_t *m = hl_core_active_model();
    if (kind == HL_TENSOR_HOST_INPUT && index < m->n_inputs) {
        *data = host_inputs[index];
        *len = sizeof host_inputs[index];
        return HL_OK;
    }
    if (kind == HL_TENSOR_OUTPUT && index < m->n_outputs) {
        *data = outputs[index];
        *len = output_len[index];
        return HL_OK;
    }
    return hl_core_refuse(HL_ERR_INTERNAL, "no such tensor");
}

hl_status_t hl_port_camera_capture(hl_stages_t *st, uint32_t frame_index)
{
    uint8_t req[HL_SENSOR_REQUEST_SIZE];
    hl_put32(req + HL_SENSOR_REQUEST_INDEX_OFF, frame_index);
    struct iovec part = {req, sizeof req};
    const uint8_t *reply;
    size_t reply_len;
    hl_status_t s = hl_helper_call(HL_PORT_OP_SENSOR, &part, 1, &reply, &reply_len);
    if (s != HL_OK) {
        return s;
    }
    hl_stage_enter(st, HL_STAGE_PREPROCESS);
    s = hl_helper_call(HL_PORT_OP_PREPROCESS, NULL, 0, &reply, &reply_len);
    if (s != HL_OK) {
        return s;
    }
    uint32_t need = hl_tensor_bytes(&hl_core_active_model()->inputs[0]);
    if (reply_len != need) {
        return hl_core_refuse(HL_ERR_CAMERA_FAILED, "preprocessing returned a tensor of the wrong size");
    }
    memcpy(sensor_input, reply, reply_len);
    return HL_OK;
}

hl_status_t hl_port_invoke(hl_stages_t *st, bool from_host)
{
    const hl_model_info_t *m = hl_core_active_model();
    /* InvokeRequest: u8 count, then per input u32 length + bytes */
    uint8_t count = m->n_inputs;
    uint8_t lens[HL_CFG_MAX_INPUTS][4];
    struct iovec parts[1 + 2 * HL_CFG_MAX_INPUTS];
    int n = 0;
    parts[n++] = (struct iovec){&count, 1};
    for (uint8_t i = 0; i < m->n_inputs; i++) {
        uint32_t bytes = hl_tensor_bytes(&m->inputs[i]);
        hl_put32(lens[i], bytes);
        parts[n++] = (struct iovec){lens[i], 4};
        parts[n++] = (struct iovec){from_host ? host_inputs[i] : sensor_input, bytes};
    }
    const uint8_t *reply;
    size_t reply_len;
    hl_status_t s = hl_helper_call(HL_PORT_OP_INVOKE, parts, n, &reply, &reply_len);
    if (s != HL_OK) {
        return s;
    }
    /* results come back from the "accelerator" in their own step, as on a board with one */
    hl_stage_enter(st, HL_STAGE_TRANSFER);
    s = hl_helper_call(HL_PORT_OP_OUTPUTS, NULL, 0, &reply, &reply_len);
    if (s != HL_OK) {
        return s;
    }
    hl_rd_t rd;
    hl_rd_init(&rd, reply, reply_len);
    uint8_t got = hl_rd_u8(&rd);
    if (got != m->n_outputs) {
        return hl_core_refuse(HL_ERR_INFERENCE_FAILED, "the engine returned a different number of outputs");
    }
    for (uint8_t i = 0; i < got; i++) {
        uint32_t len = hl_rd_u32(&rd);
        const uint8_t *p = hl_rd_bytes(&rd, len);
        if (p == NULL || len > HL_HOST_TENSOR_MAX) {
            return hl_core_refuse(HL_ERR_INFERENCE_FAILED, "malformed OUTPUTS reply from the helper");
        }
        memcpy(outputs[i], p, len);
        output_len[i] = len;
    }
    return HL_OK;
}

void hl_port_reboot(uint8_t mode)
{
    (void)mode;
    fprintf(stderr, "hl-host: RESET to bootloader requested; a Linux process has none, staying up\n");
}
