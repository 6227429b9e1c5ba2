/* port_host.c: the HAL on Linux.
 *
 *   link      a file descriptor pair: a pty master, or stdin/stdout
 *   clock     CLOCK_MONOTONIC, microseconds since start
 *   markers   each stage change appended as "<time_us> <stage>" to a file (the "GPIO" a power
 *             monitor would watch); nothing when no file was given
 *   storage   the model store's region is one file, state_dir/store.bin, used like NOR flash:
 *             4 KiB erase blocks (0xFF), each write flushed with fdatasync before it returns. The
 *             core's two-slot store lives in it, so a model survives a restart, and power can be
 *             cut at any erase or write (HL_POWERCUT_AT) to prove the store survives that too.
 *             The engine gets the checked image as state_dir/candidate.bin (the helper's LOAD
 *             reads a file)
 *   camera,   the helper process (hostlink.emulator.hostport): camera frame, preprocessing,
 *   inference admission, LiteRT; the C side stamps the stages around each call
 */
#include "port_host.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    hl_storage_geometry_t geometry;
    int store_fd;
    unsigned storage_ops;
    unsigned powercut_at;
    uint32_t rng;
    char store_path[HL_HOST_PATH_MAX];
    char candidate_path[HL_HOST_PATH_MAX];
    hl_model_info_t checked; /* what the last passing hl_port_model_check found */
} port = {.in_fd = -1, .out_fd = -1, .store_fd = -1};

#define STORE_ERASE_BLOCK 4096u

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int hl_host_port_open(int in_fd, int out_fd, const char *state_dir, uint32_t store_bytes, FILE *markers,
                      unsigned powercut_at, uint32_t powercut_seed)
{
    port.in_fd = in_fd;
    port.out_fd = out_fd;
    port.markers = markers;
    port.t0_ns = mono_ns();
    port.powercut_at = powercut_at;
    port.rng = powercut_seed;
    int a = snprintf(port.store_path, sizeof port.store_path, "%s/store.bin", state_dir);
    int b = snprintf(port.candidate_path, sizeof port.candidate_path, "%s/candidate.bin", state_dir);
    if (a <= 0 || (size_t)a >= sizeof port.store_path || b <= 0 || (size_t)b >= sizeof port.candidate_path) {
        fprintf(stderr, "hl-host: --state-dir path too long\n");
        return -1;
    }
    /* two slots, each the profile's model store plus one erase block for the header */
    uint64_t slot = ((uint64_t)store_bytes + 2u * STORE_ERASE_BLOCK - 1u) / STORE_ERASE_BLOCK * STORE_ERASE_BLOCK;
    if (store_bytes == 0u || 2u * slot > UINT32_MAX) {
        fprintf(stderr, "hl-host: the helper declared a model store of %u bytes\n", (unsigned)store_bytes);
        return -1;
    }
    port.geometry = (hl_storage_geometry_t){.size = (uint32_t)(2u * slot),
                                            .erase_block = STORE_ERASE_BLOCK,
                                            .write_align = 8u,
                                            .erased = 0xFFu,
                                            .image_max = store_bytes};
    port.store_fd = open(port.store_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (port.store_fd < 0 || fstat(port.store_fd, &st) != 0 ||
        (st.st_size < (off_t)port.geometry.size && ftruncate(port.store_fd, (off_t)port.geometry.size) != 0)) {
        fprintf(stderr, "hl-host: cannot open the model store %s: %s\n", port.store_path, strerror(errno));
        return -1;
    }
    return 0;
}

void hl_host_port_close(bool keep_store)
{
    if (port.store_fd >= 0) {
        close(port.store_fd);
        port.store_fd = -1;
    }
    unlink(port.candidate_path);
    if (!keep_store) {
        unlink(port.store_path);
    }
}

unsigned hl_host_port_storage_ops(void) { return port.storage_ops; }

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

const hl_storage_geometry_t *hl_port_storage_geometry(void) { return &port.geometry; }

static bool in_region(uint32_t offset, size_t len)
{
    return offset <= port.geometry.size && len <= port.geometry.size - offset;
}

static hl_status_t pwrite_all(const uint8_t *data, size_t len, off_t at)
{
    while (len > 0) {
        ssize_t n = pwrite(port.store_fd, data, len, at);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return io_fail("writing the model store");
        }
        data += n;
        at += n;
        len -= (size_t)n;
    }
    return HL_OK;
}

static uint32_t next_random(void)
{
    port.rng = port.rng * 1664525u + 1013904223u; /* Numerical Recipes LCG: a reproducible tear */
    return port.rng >> 8;
}

/* Count a storage mutation; true when it is the one the supply drops in. */
static bool cut_now(void) { return ++port.storage_ops == port.powercut_at; }

/* Die like a board whose supply dropped: no cleanup, no reply; what landed stays (the page cache
 * outlives the process, as flash outlives the chip's power). */
static void power_lost(const char *what, size_t landed, size_t len)
{
    fprintf(stderr, "hl-host: power cut at storage write %u (%s, %zu of %zu bytes landed)\n", port.storage_ops, what,
            landed, len);
    _exit(HL_HOST_POWERCUT_EXIT);
}

hl_status_t hl_port_storage_erase(uint32_t offset, uint32_t len)
{
    static uint8_t ones[STORE_ERASE_BLOCK];
    memset(ones, 0xFF, sizeof ones);
    if (!in_region(offset, len) || offset % STORE_ERASE_BLOCK != 0u || len % STORE_ERASE_BLOCK != 0u) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model store erase outside the region or not block-aligned");
    }
    if (cut_now()) {
        /* an erase tears block by block: some leading blocks erased, the rest untouched */
        uint32_t blocks = next_random() % (len / STORE_ERASE_BLOCK + 1u);
        for (uint32_t i = 0; i < blocks; i++) {
            (void)pwrite_all(ones, STORE_ERASE_BLOCK, (off_t)offset + (off_t)i * STORE_ERASE_BLOCK);
        }
        power_lost("erase", (size_t)blocks * STORE_ERASE_BLOCK, len);
    }
    for (uint32_t off = 0; off < len; off += STORE_ERASE_BLOCK) {
        hl_status_t st = pwrite_all(ones, STORE_ERASE_BLOCK, (off_t)offset + off);
        if (st != HL_OK) {
            return st;
        }
    }
    return fdatasync(port.store_fd) == 0 ? HL_OK : io_fail("flushing the model store");
}

hl_status_t hl_port_storage_write(uint32_t offset, const uint8_t *data, size_t len)
{
    if (!in_region(offset, len)) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model store write outside the region");
    }
    if (cut_now()) {
        size_t keep = next_random() % (len + 1u); /* a prefix lands, possibly all of it */
        (void)pwrite_all(data, keep, (off_t)offset);
        if (keep < len) {
            uint8_t half = (uint8_t)(data[keep] | next_random()); /* one byte half-programmed */
            (void)pwrite_all(&half, 1, (off_t)offset + (off_t)keep);
        }
        power_lost("program", keep, len);
    }
    hl_status_t st = pwrite_all(data, len, (off_t)offset);
    if (st != HL_OK) {
        return st;
    }
    return fdatasync(port.store_fd) == 0 ? HL_OK : io_fail("flushing the model store");
}

hl_status_t hl_port_storage_read(uint32_t offset, uint8_t *data, size_t len)
{
    if (!in_region(offset, len)) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model store read outside the region");
    }
    while (len > 0) {
        ssize_t n = pread(port.store_fd, data, len, (off_t)offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return io_fail("reading the model store");
        }
        data += n;
        offset += (uint32_t)n;
        len -= (size_t)n;
    }
    return HL_OK;
}

/* The checked image as a file for the helper's LOAD, copied out of the store. */
static hl_status_t export_candidate(uint32_t offset, uint32_t size)
{
    static uint8_t buf[64u * 1024u];
    int fd = open(port.candidate_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return io_fail("cannot create candidate.bin");
    }
    hl_status_t st = HL_OK;
    for (uint32_t off = 0; off < size && st == HL_OK;) {
        uint32_t n = size - off < sizeof buf ? size - off : (uint32_t)sizeof buf;
        st = hl_port_storage_read(offset + off, buf, n);
        for (size_t done = 0; st == HL_OK && done < n;) {
            ssize_t w = write(fd, buf + done, n - done);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                st = io_fail("writing candidate.bin");
                break;
            }
            done += (size_t)w;
        }
        off += n;
    }
    close(fd);
    return st;
}

hl_status_t hl_port_model_check(uint32_t offset, hl_model_info_t *info)
{
    hl_status_t st = export_candidate(offset, info->size);
    if (st != HL_OK) {
        return st;
    }
    /* LoadRequest: format u8, crc32 u32, name (u8 length + text), path (u16 length + text) */
    size_t name_len = strlen(info->name);
    size_t path_len = strlen(port.candidate_path);
    uint8_t head[HL_LOAD_REQUEST_FIXED_PREFIX + HL_LOAD_REQUEST_NAME_PREFIX];
    head[HL_LOAD_REQUEST_FORMAT_OFF] = info->format;
    hl_put32(head + HL_LOAD_REQUEST_CRC32_OFF, info->crc32);
    head[HL_LOAD_REQUEST_FIXED_PREFIX] = (uint8_t)name_len;
    uint8_t plen[HL_LOAD_REQUEST_PATH_PREFIX];
    hl_put16(plen, (uint16_t)path_len);
    struct iovec parts[] = {{head, sizeof head}, {info->name, name_len}, {plen, sizeof plen},
                            {port.candidate_path, path_len}};
    const uint8_t *reply;
    size_t reply_len;
    st = hl_helper_call(HL_PORT_OP_LOAD, parts, 4, &reply, &reply_len);
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
    info->arena_bytes = loaded.arena_bytes;
    info->macs = loaded.macs;
    info->expected_frame_us = loaded.expected_frame_us;
    memcpy(info->engine, loaded.engine, sizeof info->engine);
    info->n_inputs = loaded.n_inputs;
    info->n_outputs = loaded.n_outputs;
    memcpy(info->inputs, loaded.inputs, sizeof info->inputs);
    memcpy(info->outputs, loaded.outputs, sizeof info->outputs);
    port.checked = *info;
    return HL_OK;
}

hl_status_t hl_port_model_switch(uint32_t offset, const hl_model_info_t *info)
{
    (void)offset;
    if (info->crc32 != port.checked.crc32 || info->size != port.checked.size) {
        return hl_core_refuse(HL_ERR_INTERNAL, "switch to a model that was not the last one checked");
    }
    const uint8_t *reply;
    size_t reply_len;
    hl_status_t st = hl_helper_call(HL_PORT_OP_ACTIVATE, NULL, 0, &reply, &reply_len);
    if (st != HL_OK) {
        return st;
    }
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
