/* hl_port_spresense.c: the hostlink board core on Sony Spresense (CXD5602 main core, NuttX).
 *
 * UNTESTED ON HARDWARE: written against the Spresense SDK's public interfaces (NuttX termios,
 * V4L2-style /dev/video, the tflmrt TensorFlow Lite Micro runtime, board_gpio_*); it builds
 * only inside that SDK (README.md).
 *
 *   link      a serial device (CONFIG_EXAMPLES_HOSTLINK_DEVPATH), raw mode, poll() for timeouts
 *   clock     clock_gettime(CLOCK_MONOTONIC)
 *   markers   the stage id on three GPIOs (CONFIG_EXAMPLES_HOSTLINK_MARKER_PIN0..2)
 *   models    the core's power-safe two-slot store in store.bin on the SPI-flash file system,
 *             erased and programmed in place with fsync after every write (no rename). The check
 *             reads the verified image into the one RAM copy TFLM runs from; on a refusal the
 *             running image is read back from its slot and its runtime rebuilt, so the active
 *             model is unchanged (at the cost of that reload: RAM holds one model)
 *   camera    ISX012/ISX019 through /dev/video, QVGA UYVY, converted and resized to the model's
 *             input by the shared preprocessing (ports/common/hl_preprocess.c)
 *   inference tflmrt (tflm_runtime_*), one CPU
 */
#include <nuttx/config.h>

#include <arch/board/board.h>
#include <errno.h>
#include <fcntl.h>
#include <nuttx/video/video.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/boardctl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <tflmrt/runtime.h>
#include <unistd.h>

#include "hl_core.h"
#include "hl_preprocess.h"

#define MODEL_MAX CONFIG_EXAMPLES_HOSTLINK_MODEL_MAX
#define INPUT_MAX CONFIG_EXAMPLES_HOSTLINK_INPUT_MAX
#define CAM_W 320u
#define CAM_H 240u
/* the emulator's Spresense timing (hostlink/emulator/profiles.py): one QVGA frame at 30 fps,
 * 0.5 ms preprocessing; inference is measured here at activation */
#define CAMERA_US 33333u
#define PREPROCESS_US 500u

static uint8_t g_model[MODEL_MAX] __attribute__((aligned(16)));
static uint8_t g_host_inputs[HL_CFG_MAX_INPUTS][INPUT_MAX] __attribute__((aligned(16)));
static uint8_t g_sensor_input[INPUT_MAX] __attribute__((aligned(16)));
static uint8_t g_rgb[INPUT_MAX]; /* RGB at the model's input size: a 3-channel input's bytes */
static uint8_t g_frame[CAM_W * CAM_H * 2u] __attribute__((aligned(32)));

/* DEVICE_INFO declares 768 KiB of main-core SRAM for the application: the model's RAM copy, the
 * staging buffers, the camera frame and the TFLM arena (which tflmrt allocates) must fit in it.
 * Defaults: 256 + 3 * 32 + 32 + 150 + 192 = 726 KiB. */
#define HL_SPRESENSE_APP_RAM (768u * 1024u)
_Static_assert((uint64_t)MODEL_MAX + (HL_CFG_MAX_INPUTS + 2u) * (uint64_t)INPUT_MAX + CAM_W * CAM_H * 2u +
                       CONFIG_EXAMPLES_HOSTLINK_ARENA <=
                   HL_SPRESENSE_APP_RAM,
               "model copy + input staging + camera frame + arena exceed the 768 KiB the port declares");

static struct {
    int link;
    int video;
    bool loaded;
    tflm_runtime_t rt;
    char staging[96];
    char active[96];
    int staging_fd;
    int store_fd;
    uint32_t active_size;
    uint32_t active_offset; /* HL_PORT_HAS_STORAGE: where the running image lies in the store */
} g = {.link = -1, .video = -1, .staging_fd = -1, .store_fd = -1};

static const hl_memory_region_t memory[] = {
    {"main_core_sram", HL_SPRESENSE_APP_RAM}, {"sram", 1536u * 1024u}, {"spi_flash", 8u * 1024u * 1024u}};
static const uint8_t stages[] = {HL_STAGE_CAPTURE, HL_STAGE_PREPROCESS, HL_STAGE_INFERENCE, HL_STAGE_TRANSFER};
static const hl_board_info_t board = {
    .kind = HL_BOARD_SPRESENSE,
    .name = "Sony Spresense (CXD5602)",
    .serial = "SPRESENSE",
    .fw_version = {HL_CORE_VERSION_MAJOR, HL_CORE_VERSION_MINOR, HL_CORE_VERSION_PATCH},
    .capabilities = HL_CAP_SENSOR_CAPTURE | HL_CAP_HOST_INPUT | HL_CAP_MARKERS | HL_CAP_REALTIME,
    .link_bps = CONFIG_EXAMPLES_HOSTLINK_BAUD,
    .formats = HL_FORMATS_TFLITE,
    .n_memory = 3,
    .memory = memory,
    .n_stages = 4,
    .stages = stages,
};

/* ------------------------------------------------------------------------------ link, time */
size_t hl_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_us)
{
    if (cap == 0) {
        usleep(timeout_us);
        return 0;
    }
    struct pollfd p = {.fd = g.link, .events = POLLIN};
    int ms = (int)((timeout_us + 999u) / 1000u);
    if (poll(&p, 1, ms) <= 0) {
        return 0;
    }
    ssize_t n = read(g.link, buf, cap);
    return n > 0 ? (size_t)n : 0u;
}

hl_status_t hl_port_link_write(const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(g.link, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return HL_ERR_INTERNAL;
        }
        data += n;
        len -= (size_t)n;
    }
    return HL_OK;
}

uint64_t hl_port_time_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const int marker_pins[3] = {CONFIG_EXAMPLES_HOSTLINK_MARKER_PIN0, CONFIG_EXAMPLES_HOSTLINK_MARKER_PIN1,
                                   CONFIG_EXAMPLES_HOSTLINK_MARKER_PIN2};

void hl_port_marker(uint8_t stage)
{
    for (int bit = 0; bit < 3; bit++) {
        if (marker_pins[bit] != 0) {
            board_gpio_write(marker_pins[bit], (stage >> bit) & 1);
        }
    }
}

/* ------------------------------------------------------------------------------ models */
static hl_status_t fail_errno(hl_status_t code, const char *what)
{
    static char msg[HL_CFG_TEXT_MAX + 1];
    snprintf(msg, sizeof msg, "%s: errno %d", what, errno);
    return hl_core_refuse(code, msg);
}

#if HL_PORT_HAS_STORAGE
/* The model store's region: store.bin in the SPI-flash file system, created at its full size and
 * erased (0xFF) on first start, then only ever erased and programmed in place by the core's store
 * (core/src/hl_store.c): no rename, no file replaced. Every write is followed by fsync(), so a
 * call that returned HL_OK survives a power cut; a torn write is caught by the core's CRCs. */
#define STORE_BLOCK 4096u
/* a slot holds the largest model plus the core's header and commit records */
#define STORE_SLOT ((((uint32_t)MODEL_MAX + 2u * STORE_BLOCK - 1u) / STORE_BLOCK) * STORE_BLOCK)
static const hl_storage_geometry_t geometry = {
    .size = 2u * STORE_SLOT, .erase_block = STORE_BLOCK, .write_align = 16u, .erased = 0xFFu};

const hl_storage_geometry_t *hl_port_storage_geometry(void) { return &geometry; }

static bool in_region(uint32_t offset, size_t len) { return offset <= geometry.size && len <= geometry.size - offset; }

static hl_status_t store_io(bool write_it, uint32_t offset, uint8_t *data, size_t len)
{
    if (g.store_fd < 0) {
        return hl_core_refuse(HL_ERR_INTERNAL, "the model store file is not open");
    }
    while (len > 0) {
        ssize_t n = write_it ? pwrite(g.store_fd, data, len, (off_t)offset) : pread(g.store_fd, data, len, (off_t)offset);
        if (n <= 0) {
            return fail_errno(HL_ERR_INTERNAL, write_it ? "write store.bin" : "read store.bin");
        }
        data += n;
        offset += (uint32_t)n;
        len -= (size_t)n;
    }
    if (write_it && fsync(g.store_fd) != 0) {
        return fail_errno(HL_ERR_INTERNAL, "fsync store.bin");
    }
    return HL_OK;
}

hl_status_t hl_port_storage_erase(uint32_t offset, uint32_t len)
{
    static uint8_t ones[512];
    if (!in_region(offset, len) || offset % STORE_BLOCK != 0u || len % STORE_BLOCK != 0u) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model store erase outside the region or not block-aligned");
    }
    memset(ones, 0xFF, sizeof ones);
    for (uint32_t done = 0; done < len; done += sizeof ones) {
        if (pwrite(g.store_fd, ones, sizeof ones, (off_t)(offset + done)) != (ssize_t)sizeof ones) {
            return fail_errno(HL_ERR_INTERNAL, "erase store.bin");
        }
    }
    return fsync(g.store_fd) == 0 ? HL_OK : fail_errno(HL_ERR_INTERNAL, "fsync store.bin");
}

hl_status_t hl_port_storage_write(uint32_t offset, const uint8_t *data, size_t len)
{
    if (!in_region(offset, len)) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model store write outside the region");
    }
    return store_io(true, offset, (uint8_t *)(uintptr_t)data, len);
}

hl_status_t hl_port_storage_read(uint32_t offset, uint8_t *data, size_t len)
{
    if (!in_region(offset, len)) {
        return hl_core_refuse(HL_ERR_INTERNAL, "model store read outside the region");
    }
    return store_io(false, offset, data, len);
}

/* store.bin at its full size, every byte erased, the first time; afterwards as it was left */
static int open_store(const char *path)
{
    g.store_fd = open(path, O_RDWR | O_CREAT, 0644);
    struct stat st;
    if (g.store_fd < 0 || fstat(g.store_fd, &st) != 0) {
        return -1;
    }
    if ((uint32_t)st.st_size != geometry.size) {
        return hl_port_storage_erase(0, geometry.size) == HL_OK ? 0 : -1;
    }
    return 0;
}
#else
hl_status_t hl_port_staging(hl_staging_op_t op, uint32_t offset, uint8_t *data, size_t len)
{
    if (op == HL_STAGING_OPEN) {
        if (len > MODEL_MAX) {
            return hl_core_refuse(HL_ERR_MODEL_TOO_LARGE, "the model does not fit the RAM copy TFLM runs from "
                                                          "(CONFIG_EXAMPLES_HOSTLINK_MODEL_MAX)");
        }
        if (g.staging_fd >= 0) {
            close(g.staging_fd);
        }
        g.staging_fd = open(g.staging, O_RDWR | O_CREAT | O_TRUNC, 0644);
        return g.staging_fd >= 0 ? HL_OK : fail_errno(HL_ERR_INTERNAL, "cannot create staging.bin");
    }
    if (g.staging_fd < 0) {
        return hl_core_refuse(HL_ERR_NO_UPLOAD, "staging.bin is not open");
    }
    if (lseek(g.staging_fd, (off_t)offset, SEEK_SET) < 0) {
        return fail_errno(HL_ERR_INTERNAL, "seek in staging.bin");
    }
    while (len > 0) {
        ssize_t n = op == HL_STAGING_WRITE ? write(g.staging_fd, data, len) : read(g.staging_fd, data, len);
        if (n <= 0) {
            return fail_errno(HL_ERR_INTERNAL, op == HL_STAGING_WRITE ? "write staging.bin" : "read staging.bin");
        }
        data += n;
        len -= (size_t)n;
    }
    return HL_OK;
}

#endif

#if !HL_PORT_HAS_STORAGE
static int load_file(const char *path, uint32_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    uint32_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, g_model + done, size - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (uint32_t)n;
    }
    close(fd);
    return 0;
}
#endif

static uint8_t dtype_of(TfLiteType t)
{
    switch (t) {
    case kTfLiteInt8: return HL_DTYPE_INT8;
    case kTfLiteUInt8: return HL_DTYPE_UINT8;
    case kTfLiteInt16: return HL_DTYPE_INT16;
    case kTfLiteInt32: return HL_DTYPE_INT32;
    case kTfLiteFloat32: return HL_DTYPE_FLOAT32;
    default: return 0;
    }
}

static bool describe(const TfLiteTensor *t, const char *kind, int index, hl_tensor_spec_t *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s%d", kind, index); /* tflmrt keeps no tensor names */
    s->dtype = dtype_of(t->type);
    if (s->dtype == 0 || t->dims->size > (int)HL_CFG_MAX_DIMS) {
        return false;
    }
    s->ndim = (uint8_t)t->dims->size;
    for (int i = 0; i < t->dims->size; i++) {
        s->shape[i] = (uint32_t)t->dims->data[i];
    }
    s->scale = t->params.scale;
    s->zero_point = t->params.zero_point;
    return hl_tensor_bytes(s) <= INPUT_MAX || strcmp(kind, "output") == 0;
}

/* Read the running model's image back into the RAM copy TFLM runs from. */
static int load_active(void)
{
#if HL_PORT_HAS_STORAGE
    return store_io(false, g.active_offset, g_model, g.active_size) == HL_OK ? 0 : -1;
#else
    return load_file(g.active, g.active_size);
#endif
}

/* Rebuild the runtime on the running model after a refused candidate clobbered the RAM copy. */
static void restore_active(void)
{
    if (g.loaded && load_active() == 0) {
        g.loaded = tflm_runtime_initialize(&g.rt, g_model, CONFIG_EXAMPLES_HOSTLINK_ARENA) == 0;
    }
}

/* The candidate image is in g_model (the previous runtime already finalized): build its runtime,
 * describe its tensors, time one forward on zeros. On any refusal the running model is restored. */
static hl_status_t admit_ram(hl_model_info_t *info, tflm_runtime_t *rt)
{
    if (tflm_runtime_initialize(rt, g_model, CONFIG_EXAMPLES_HOSTLINK_ARENA) != 0) {
        restore_active();
        return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "tflmrt refused the model: an op it lacks, or an arena "
                                                           "larger than CONFIG_EXAMPLES_HOSTLINK_ARENA");
    }
    int n_in = tflm_runtime_input_num(rt);
    int n_out = tflm_runtime_output_num(rt);
    bool ok = n_in >= 1 && n_in <= (int)HL_CFG_MAX_INPUTS && n_out >= 1 && n_out <= (int)HL_CFG_MAX_OUTPUTS;
    for (int i = 0; ok && i < n_in; i++) {
        ok = describe(tflm_runtime_input_variable(rt, (unsigned char)i), "input", i, &info->inputs[i]);
    }
    for (int i = 0; ok && i < n_out; i++) {
        ok = describe(tflm_runtime_output_variable(rt, (unsigned char)i), "output", i, &info->outputs[i]);
    }
    if (!ok) {
        tflm_runtime_finalize(rt);
        restore_active();
        return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "tensors this firmware cannot stage or describe");
    }
    info->n_inputs = (uint8_t)n_in;
    info->n_outputs = (uint8_t)n_out;
    /* one warm-up forward on zeros (the sensor scratch, not the host's staged inputs): the board's
     * own inference time for the host's deadlines */
    const void *inputs[HL_CFG_MAX_INPUTS];
    memset(g_sensor_input, 0, sizeof g_sensor_input);
    for (int i = 0; i < n_in; i++) {
        inputs[i] = g_sensor_input;
    }
    uint64_t t0 = hl_port_time_us();
    if (tflm_runtime_forward(rt, inputs, (unsigned char)n_in) != 0) {
        tflm_runtime_finalize(rt);
        restore_active();
        return hl_core_refuse(HL_ERR_INFERENCE_FAILED, "the warm-up inference failed");
    }
    uint32_t infer_us = (uint32_t)(hl_port_time_us() - t0);
    info->arena_bytes = CONFIG_EXAMPLES_HOSTLINK_ARENA;
    info->macs = 0; /* tflmrt does not expose the graph; MODEL_INFO says 0 = not counted on board */
    info->expected_frame_us = CAMERA_US + PREPROCESS_US + infer_us;
    strncpy(info->engine, "cortex-m4f tflm (tflmrt)", sizeof info->engine - 1);
    return HL_OK;
}

#if HL_PORT_HAS_STORAGE
/* RAM holds one model, so the check builds the candidate's runtime in place of the running one and
 * rebuilds the running one from the store when it refuses. Between a passing check and the switch
 * the core only writes the slot's records; no frame runs in between. */
hl_status_t hl_port_model_check(uint32_t offset, hl_model_info_t *info)
{
    if (info->size > MODEL_MAX) {
        return hl_core_refuse(HL_ERR_MODEL_TOO_LARGE, "the model does not fit the RAM copy TFLM runs from "
                                                      "(CONFIG_EXAMPLES_HOSTLINK_MODEL_MAX)");
    }
    if (g.loaded) {
        tflm_runtime_finalize(&g.rt);
    }
    if (store_io(false, offset, g_model, info->size) != HL_OK) {
        restore_active();
        return fail_errno(HL_ERR_INTERNAL, "cannot read the candidate image back");
    }
    tflm_runtime_t rt;
    hl_status_t st = admit_ram(info, &rt);
    if (st != HL_OK) {
        return st;
    }
    g.rt = rt;
    g.loaded = true;
    return HL_OK;
}

hl_status_t hl_port_model_switch(uint32_t offset, const hl_model_info_t *info)
{
    g.active_offset = offset; /* the runtime the check built is the one that runs from now on */
    g.active_size = info->size;
    return g.loaded ? HL_OK : hl_core_refuse(HL_ERR_INTERNAL, "no runtime for the checked model");
}
#else
hl_status_t hl_port_model_activate(hl_model_info_t *info)
{
    if (g.staging_fd >= 0) {
        fsync(g.staging_fd);
        close(g.staging_fd);
        g.staging_fd = -1;
    }
    if (g.loaded) {
        tflm_runtime_finalize(&g.rt);
    }
    if (load_file(g.staging, info->size) != 0) {
        restore_active();
        return fail_errno(HL_ERR_INTERNAL, "cannot read staging.bin back");
    }
    tflm_runtime_t rt;
    hl_status_t st = admit_ram(info, &rt);
    if (st != HL_OK) {
        return st;
    }
    /* the point of no return: the verified image becomes the active file */
    if (rename(g.staging, g.active) != 0) {
        tflm_runtime_finalize(&rt);
        restore_active();
        return fail_errno(HL_ERR_INTERNAL, "cannot rename staging.bin to active.bin");
    }
    g.rt = rt;
    g.loaded = true;
    g.active_size = info->size;
    return HL_OK;
}
#endif

/* ------------------------------------------------------------------------------ frames */
hl_status_t hl_port_tensor(hl_tensor_kind_t kind, uint8_t index, uint8_t **data, size_t *len)
{
    const hl_model_info_t *m = hl_core_active_model();
    if (kind == HL_TENSOR_HOST_INPUT && index < m->n_inputs) {
        *data = g_host_inputs[index];
        *len = INPUT_MAX;
        return HL_OK;
    }
    if (kind == HL_TENSOR_OUTPUT && index < m->n_outputs) {
        *data = tflm_runtime_output_buffer(&g.rt, index);
        *len = hl_tensor_bytes(&m->outputs[index]);
        return *data != NULL ? HL_OK : HL_ERR_INTERNAL;
    }
    return HL_ERR_INTERNAL;
}

static int camera_start(void)
{
    if (g.video >= 0) {
        return 0;
    }
    if (video_initialize("/dev/video") != 0 || (g.video = open("/dev/video", 0)) < 0) {
        return -1;
    }
    struct v4l2_requestbuffers req = {0};
    req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    req.memory = V4L2_MEMORY_USERPTR;
    req.count = 1;
    req.mode = V4L2_BUF_MODE_RING;
    struct v4l2_format fmt = {0};
    fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    fmt.fmt.pix.width = CAM_W;
    fmt.fmt.pix.height = CAM_H;
    fmt.fmt.pix.field = V4L2_FIELD_ANY;
    fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_UYVY;
    struct v4l2_buffer buf = {0};
    buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    buf.memory = V4L2_MEMORY_USERPTR;
    buf.index = 0;
    buf.m.userptr = (unsigned long)g_frame;
    buf.length = sizeof g_frame;
    enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (ioctl(g.video, VIDIOC_REQBUFS, (unsigned long)&req) < 0 ||
        ioctl(g.video, VIDIOC_S_FMT, (unsigned long)&fmt) < 0 ||
        ioctl(g.video, VIDIOC_QBUF, (unsigned long)&buf) < 0 ||
        ioctl(g.video, VIDIOC_STREAMON, (unsigned long)&type) < 0) {
        close(g.video);
        g.video = -1;
        return -1;
    }
    return 0;
}

hl_status_t hl_port_camera_capture(hl_stages_t *st, uint32_t frame_index)
{
    (void)frame_index;
    const hl_tensor_spec_t *spec = &hl_core_active_model()->inputs[0];
    uint32_t h, w, c;
    if (hl_pre_image_dims(spec, &h, &w, &c) != 0 || (size_t)h * w * 3u > sizeof g_rgb) {
        return hl_core_refuse(HL_ERR_SOURCE_UNSUPPORTED, "the model's input is not an image the camera can fill");
    }
    if (camera_start() != 0) {
        return fail_errno(HL_ERR_CAMERA_FAILED, "the ISX012/ISX019 camera did not start");
    }
    struct v4l2_buffer buf = {0};
    buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    buf.memory = V4L2_MEMORY_USERPTR;
    if (ioctl(g.video, VIDIOC_DQBUF, (unsigned long)&buf) < 0) {
        return fail_errno(HL_ERR_CAMERA_FAILED, "VIDIOC_DQBUF");
    }
    hl_stage_enter(st, HL_STAGE_PREPROCESS);
    hl_pre_uyvy_to_rgb((const uint8_t *)buf.m.userptr, CAM_W, CAM_H, g_rgb, w, h);
    hl_status_t s = hl_pre_rgb_to_tensor(g_rgb, spec, g_sensor_input, sizeof g_sensor_input);
    if (ioctl(g.video, VIDIOC_QBUF, (unsigned long)&buf) < 0) {
        return fail_errno(HL_ERR_CAMERA_FAILED, "VIDIOC_QBUF");
    }
    return s;
}

hl_status_t hl_port_invoke(hl_stages_t *st, bool from_host)
{
    const hl_model_info_t *m = hl_core_active_model();
    const void *inputs[HL_CFG_MAX_INPUTS];
    for (uint8_t i = 0; i < m->n_inputs; i++) {
        inputs[i] = from_host ? (const void *)g_host_inputs[i] : (const void *)g_sensor_input;
    }
    if (tflm_runtime_forward(&g.rt, inputs, m->n_inputs) != 0) {
        return hl_core_refuse(HL_ERR_INFERENCE_FAILED, "tflm_runtime_forward failed");
    }
    hl_stage_enter(st, HL_STAGE_TRANSFER); /* the core reads the outputs out of the runtime from here on */
    return HL_OK;
}

void hl_port_reboot(uint8_t mode)
{
    (void)mode; /* flashing goes through the ROM updater after a DTR reset: a plain reboot gets there */
    boardctl(BOARDIOC_RESET, 0);
}

/* ------------------------------------------------------------------------------ main */
static int open_link(void)
{
    int fd = open(CONFIG_EXAMPLES_HOSTLINK_DEVPATH, O_RDWR);
    if (fd < 0) {
        return -1;
    }
    struct termios t;
    if (tcgetattr(fd, &t) == 0) { /* a UART: raw, 8N1, the configured rate; USB CDC ignores this */
        cfmakeraw(&t);
        cfsetspeed(&t, CONFIG_EXAMPLES_HOSTLINK_BAUD);
        tcsetattr(fd, TCSANOW, &t);
    }
    return fd;
}

int main(int argc, char *argv[])
{
    (void)argc;
    (void)argv;
    mkdir(CONFIG_EXAMPLES_HOSTLINK_MODEL_DIR, 0777);
#if HL_PORT_HAS_STORAGE
    snprintf(g.staging, sizeof g.staging, "%s/store.bin", CONFIG_EXAMPLES_HOSTLINK_MODEL_DIR);
    if (open_store(g.staging) != 0) {
        fprintf(stderr, "hostlink: cannot open %s: errno %d\n", g.staging, errno);
        return 1;
    }
#else
    snprintf(g.staging, sizeof g.staging, "%s/staging.bin", CONFIG_EXAMPLES_HOSTLINK_MODEL_DIR);
    snprintf(g.active, sizeof g.active, "%s/active.bin", CONFIG_EXAMPLES_HOSTLINK_MODEL_DIR);
#endif
    for (int bit = 0; bit < 3; bit++) {
        if (marker_pins[bit] != 0) {
            board_gpio_config(marker_pins[bit], 0, false, true, PIN_FLOAT);
        }
    }
    tflm_config_t cfg = {.cpu_num = 1};
    if (tflm_initialize(&cfg) != 0) {
        fprintf(stderr, "hostlink: tflm_initialize failed\n");
        return 1;
    }
    g.link = open_link();
    if (g.link < 0) {
        fprintf(stderr, "hostlink: cannot open %s: errno %d\n", CONFIG_EXAMPLES_HOSTLINK_DEVPATH, errno);
        return 1;
    }
    printf("hostlink: protocol v%u on %s\n", (unsigned)HL_PROTO_VERSION, CONFIG_EXAMPLES_HOSTLINK_DEVPATH);
    hl_core_init(&board);
    for (;;) {
        hl_core_poll(20000);
    }
    return 0;
}
