/* hl_port_spresense.c: the hostlink board core on Sony Spresense (CXD5602 main core, NuttX).
 *
 * UNTESTED ON HARDWARE: written against the Spresense SDK's public interfaces (NuttX termios,
 * V4L2-style /dev/video, the tflmrt TensorFlow Lite Micro runtime, board_gpio_*); it builds
 * only inside that SDK (README.md).
 *
 *   link      a serial device (CONFIG_EXAMPLES_HOSTLINK_DEVPATH), raw mode, poll() for timeouts
 *   clock     clock_gettime(CLOCK_MONOTONIC)
 *   markers   the stage id on three GPIOs (CONFIG_EXAMPLES_HOSTLINK_MARKER_PIN0..2)
 *   models    staging.bin / active.bin in the SPI-flash file system; activation reads the verified
 *             image into the one RAM copy TFLM runs from and, only if the runtime accepts it,
 *             renames staging.bin over active.bin. On a refusal the old image is read back into
 *             RAM and its runtime rebuilt, so the active model is unchanged (at the cost of that
 *             reload: RAM holds one model)
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
    uint32_t active_size;
} g = {.link = -1, .video = -1, .staging_fd = -1};

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

/* Rebuild the runtime on active.bin after a refused candidate clobbered the RAM copy. */
static void restore_active(void)
{
    if (g.loaded && load_file(g.active, g.active_size) == 0) {
        g.loaded = tflm_runtime_initialize(&g.rt, g_model, CONFIG_EXAMPLES_HOSTLINK_ARENA) == 0;
    }
}

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
    if (tflm_runtime_initialize(&rt, g_model, CONFIG_EXAMPLES_HOSTLINK_ARENA) != 0) {
        restore_active();
        return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "tflmrt refused the model: an op it lacks, or an arena "
                                                           "larger than CONFIG_EXAMPLES_HOSTLINK_ARENA");
    }
    int n_in = tflm_runtime_input_num(&rt);
    int n_out = tflm_runtime_output_num(&rt);
    bool ok = n_in >= 1 && n_in <= (int)HL_CFG_MAX_INPUTS && n_out >= 1 && n_out <= (int)HL_CFG_MAX_OUTPUTS;
    for (int i = 0; ok && i < n_in; i++) {
        ok = describe(tflm_runtime_input_variable(&rt, (unsigned char)i), "input", i, &info->inputs[i]);
    }
    for (int i = 0; ok && i < n_out; i++) {
        ok = describe(tflm_runtime_output_variable(&rt, (unsigned char)i), "output", i, &info->outputs[i]);
    }
    if (!ok) {
        tflm_runtime_finalize(&rt);
        restore_active();
        return hl_core_refuse(HL_ERR_MODEL_OP_UNSUPPORTED, "tensors this firmware cannot stage or describe");
    }
    info->n_inputs = (uint8_t)n_in;
    info->n_outputs = (uint8_t)n_out;
    /* one warm-up forward on zeros: the board's own inference time for the host's deadlines */
    const void *inputs[HL_CFG_MAX_INPUTS];
    for (int i = 0; i < n_in; i++) {
        memset(g_host_inputs[i], 0, hl_tensor_bytes(&info->inputs[i]));
        inputs[i] = g_host_inputs[i];
    }
    uint64_t t0 = hl_port_time_us();
    if (tflm_runtime_forward(&rt, inputs, (unsigned char)n_in) != 0) {
        tflm_runtime_finalize(&rt);
        restore_active();
        return hl_core_refuse(HL_ERR_INFERENCE_FAILED, "the warm-up inference failed");
    }
    uint32_t infer_us = (uint32_t)(hl_port_time_us() - t0);
    /* the point of no return: the verified image becomes the active file */
    if (rename(g.staging, g.active) != 0) {
        tflm_runtime_finalize(&rt);
        restore_active();
        return fail_errno(HL_ERR_INTERNAL, "cannot rename staging.bin to active.bin");
    }
    g.rt = rt;
    g.loaded = true;
    g.active_size = info->size;
    info->arena_bytes = CONFIG_EXAMPLES_HOSTLINK_ARENA;
    info->macs = 0; /* tflmrt does not expose the graph; MODEL_INFO says 0 = not counted on board */
    info->expected_frame_us = CAMERA_US + PREPROCESS_US + infer_us;
    strncpy(info->engine, "cortex-m4f tflm (tflmrt)", sizeof info->engine - 1);
    return HL_OK;
}

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
    snprintf(g.staging, sizeof g.staging, "%s/staging.bin", CONFIG_EXAMPLES_HOSTLINK_MODEL_DIR);
    snprintf(g.active, sizeof g.active, "%s/active.bin", CONFIG_EXAMPLES_HOSTLINK_MODEL_DIR);
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
