/* hl_port.h: the ten functions a board port implements, and the types they exchange.
 *
 * The core calls these from one thread (the protocol task, or main() on bare metal) and never from
 * an interrupt. A port's ISR only queues bytes into its own ring; hl_port_link_read drains it.
 * Every function that can fail returns an hl_status_t that goes on the wire unchanged, so pick the
 * code that tells the host what to do (MODEL_OP_UNSUPPORTED, CAMERA_FAILED, ...).
 *
 *   link       hl_port_link_read, hl_port_link_write
 *   time       hl_port_time_us, hl_port_marker
 *   models     hl_port_staging, hl_port_model_activate
 *   frames     hl_port_tensor, hl_port_camera_capture, hl_port_invoke
 *   board      hl_port_reboot
 */
#ifndef HL_PORT_H
#define HL_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_config.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define HL_CHECK_RESULT __attribute__((warn_unused_result))
#else
#define HL_CHECK_RESULT
#endif

typedef struct {
    const char *name;
    uint32_t size;
} hl_memory_region_t;

/* What DEVICE_INFO says about the board; the port owns it (usually const, in flash). */
typedef struct {
    uint8_t kind;           /* hl_board_kind_t */
    const char *name;       /* human-readable board name */
    const char *serial;
    uint8_t fw_version[3];
    uint32_t capabilities;  /* HL_CAP_* */
    uint32_t link_bps;      /* 0 when the board cannot know (USB CDC) */
    uint8_t formats;        /* HL_FORMATS_* the port can activate */
    uint8_t n_memory;
    const hl_memory_region_t *memory;
    uint8_t n_stages;
    const uint8_t *stages;  /* hl_stage_t, in the order a frame runs them */
} hl_board_info_t;

typedef struct {
    char name[HL_CFG_NAME_MAX + 1];
    uint8_t dtype; /* hl_dtype_t */
    uint8_t ndim;
    uint32_t shape[HL_CFG_MAX_DIMS];
    float scale;
    int32_t zero_point;
} hl_tensor_spec_t;

/* The active model as MODEL_INFO reports it. The core fills name, format, size and crc32 from the
 * verified upload; hl_port_model_activate fills everything from arena_bytes on. */
typedef struct {
    bool loaded;
    char name[HL_CFG_NAME_MAX + 1];
    uint8_t format; /* hl_model_format_t */
    uint32_t size;
    uint32_t crc32;
    uint32_t arena_bytes;
    uint64_t macs;
    uint32_t expected_frame_us;
    char engine[HL_CFG_NAME_MAX + 1];
    uint8_t n_inputs;
    uint8_t n_outputs;
    hl_tensor_spec_t inputs[HL_CFG_MAX_INPUTS];
    hl_tensor_spec_t outputs[HL_CFG_MAX_OUTPUTS];
} hl_model_info_t;

/* Per-frame stage recorder. The core enters CAPTURE and INFERENCE around the port's calls; a port
 * that can tell finer stages apart calls hl_stage_enter() itself (PREPROCESS after the sensor
 * readout, TRANSFER while fetching results from an accelerator). Entering a stage ends the
 * previous one and drives the marker pins. */
typedef struct {
    uint8_t stage;
    uint64_t start;
    uint64_t end;
} hl_stage_time_t;
typedef struct {
    uint8_t count;
    uint8_t current;
    hl_stage_time_t t[HL_CFG_MAX_STAGE_RECORDS];
} hl_stages_t;

void hl_stage_enter(hl_stages_t *st, uint8_t stage);

typedef enum {
    HL_STAGING_OPEN = 0,  /* len = image size: erase/allocate the staging slot; MODEL_TOO_LARGE if it cannot hold it */
    HL_STAGING_WRITE = 1, /* copy len bytes from data to the staging slot at offset */
    HL_STAGING_READ = 2,  /* copy len bytes at offset from the staging slot into data (whole-image CRC check) */
} hl_staging_op_t;

typedef enum {
    HL_TENSOR_HOST_INPUT = 0, /* where INPUT bytes for input `index` are staged (may alias the model's input) */
    HL_TENSOR_OUTPUT = 1,     /* output `index` after hl_port_invoke */
} hl_tensor_kind_t;

/* Up to cap bytes from the link; waits at most timeout_us for the first one. Returns the count,
 * 0 on timeout. With cap == 0 it only waits (the core uses that to idle between frames). */
size_t hl_port_link_read(uint8_t *buf, size_t cap, uint32_t timeout_us);

/* All len bytes, blocking until the link has taken them. */
HL_CHECK_RESULT hl_status_t hl_port_link_write(const uint8_t *data, size_t len);

/* Monotonic microseconds since boot; stage timestamps and LOG times use it (clock_hz = 1 MHz). */
uint64_t hl_port_time_us(void);

/* Drive the stage id (hl_stage_t) on the marker pins; HL_STAGE_IDLE (0) between frames. */
void hl_port_marker(uint8_t stage);

/* Model staging slot; see hl_staging_op_t. The active slot is never written here. */
HL_CHECK_RESULT hl_status_t hl_port_staging(hl_staging_op_t op, uint32_t offset, uint8_t *data, size_t len);

/* Admit the verified staged image described by info (name, format, size, crc32 set) and, only if it
 * passes, make it the active model atomically and fill the rest of info. On failure the previously
 * active model must still run: return the refusal code and leave it in place. */
HL_CHECK_RESULT hl_status_t hl_port_model_activate(hl_model_info_t *info);

/* Buffer for a tensor of the active model; *len is its capacity in bytes. */
HL_CHECK_RESULT hl_status_t hl_port_tensor(hl_tensor_kind_t kind, uint8_t index, uint8_t **data, size_t *len);

/* Expose a frame and fill the model's input from the sensor (crop, resize, quantize). */
HL_CHECK_RESULT hl_status_t hl_port_camera_capture(hl_stages_t *st, uint32_t frame_index);

/* Run the active model once: on the staged host inputs when from_host, else on what
 * hl_port_camera_capture left in the input tensor. */
HL_CHECK_RESULT hl_status_t hl_port_invoke(hl_stages_t *st, bool from_host);

/* RESET with mode BOOTLOADER, after the ACK has been sent: reboot into the flashing mode. Returns
 * only if the board cannot (the host port, for one). */
void hl_port_reboot(uint8_t mode);

#ifdef __cplusplus
}
#endif

#endif /* HL_PORT_H */
