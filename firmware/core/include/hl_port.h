/* hl_port.h: the functions a board port implements, and the types they exchange.
 *
 * The core calls these from one thread (the protocol task, or main() on bare metal) and never from
 * an interrupt. A port's ISR only queues bytes into its own ring; hl_port_link_read drains it.
 * Every function that can fail returns an hl_status_t that goes on the wire unchanged, so pick the
 * code that tells the host what to do (MODEL_OP_UNSUPPORTED, CAMERA_FAILED, ...).
 *
 *   link       hl_port_link_read, hl_port_link_write
 *   time       hl_port_time_us, hl_port_marker
 *   storage    hl_port_storage_geometry, hl_port_storage_erase, hl_port_storage_write,
 *              hl_port_storage_read                     (HL_PORT_HAS_STORAGE 1)
 *   models     hl_port_model_check, hl_port_model_switch (HL_PORT_HAS_STORAGE 1)
 *              hl_port_staging, hl_port_model_activate   (HL_PORT_HAS_STORAGE 0, transitional)
 *   frames     hl_port_tensor, hl_port_camera_capture, hl_port_invoke
 *   board      hl_port_reboot
 *
 * Model store (HL_PORT_HAS_STORAGE 1, core/src/hl_store.c). The port hands the core one region of
 * storage (flash, or RAM on a board that keeps nothing across a reset) and declares its geometry;
 * the core splits it into two slots and owns everything written there:
 *
 *     slot = [ header | commit word | image ]     each record starts on a write_align boundary
 *
 * MODEL_BEGIN erases the slot that does not hold the running model (only the erase blocks the
 * image needs). MODEL_CHUNKs program the image; a retried range is programmed once. MODEL_COMMIT
 * reads the image back and checks its CRC-32, asks hl_port_model_check to admit it (nothing
 * switches), checks that the core can describe it (tensor counts, ranks, sizes), and only then
 * writes the header (magic, version, sequence = newest + 1, size, CRC-32, format, name, header
 * CRC) and, last, the commit word; then hl_port_model_switch makes it the running model. At boot
 * (hl_core_init) the core takes the valid slot with the highest sequence number - header CRC,
 * commit word and image CRC-32 all checked - has the port check and switch to it, and falls back
 * to the other slot if that fails. A power cut at any storage call therefore leaves either the
 * previous model or the new one, never a mix: until the commit word is complete the new slot
 * is not valid, and the previous slot is not touched by an upload.
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

/* 1: the port implements the storage HAL and the two-step model admission below, and the core
 * runs the power-safe two-slot store. 0: the port still implements the earlier staging contract
 * (hl_port_staging + hl_port_model_activate, admission and switch in one call); kept only so that
 * ports not yet moved over keep building. Define it on the compiler command line (the same value
 * for the core and the port), or in the port's HL_PORT_CONFIG header. */
#ifndef HL_PORT_HAS_STORAGE
#define HL_PORT_HAS_STORAGE 0
#endif

#if HL_PORT_HAS_STORAGE
/* The storage region the port lends the model store. Offsets in the calls below are relative to
 * its start; the core never touches a byte at or past size. */
typedef struct {
    uint32_t size;        /* bytes in the region; holds two slots of size / 2 rounded down to erase_block */
    uint32_t erase_block; /* erase granularity in bytes, a power of two; the core erases whole blocks */
    uint32_t write_align; /* a power of two, 1..HL_CFG_STORE_ALIGN_MAX: header, commit word and image
                           * start on multiples of it, and the header and the commit word are each
                           * written by one call whose length is a multiple of it */
    uint8_t erased;       /* the value an erased byte reads as (0xFF on NOR flash) */
    uint32_t image_max;   /* largest model the board takes (MODEL_TOO_LARGE above it); 0: what a slot holds */
} hl_storage_geometry_t;

/* The region's geometry (usually a const in flash). Called at init and at every MODEL_BEGIN. */
const hl_storage_geometry_t *hl_port_storage_geometry(void);

/* Erase len bytes at offset; both are multiples of erase_block. Afterwards every byte reads as
 * `erased`. Blocking. */
HL_CHECK_RESULT hl_status_t hl_port_storage_erase(uint32_t offset, uint32_t len);

/* Program len bytes at offset. The core only programs bytes erased since their last erase, and
 * each at most once between erases. Offset and length are arbitrary for image data (host chunks
 * are not aligned), aligned to write_align for the header and commit word: a port whose flash
 * programs in pages splits or buffers as it needs. Blocking: when it returns HL_OK, the bytes
 * must survive a power cut (flush any write cache). A power cut during the call may leave any
 * mix of old and new bytes in the range; the core's CRCs catch that. */
HL_CHECK_RESULT hl_status_t hl_port_storage_write(uint32_t offset, const uint8_t *data, size_t len);

/* Read len bytes at offset into data (image verification, boot scan). */
HL_CHECK_RESULT hl_status_t hl_port_storage_read(uint32_t offset, uint8_t *data, size_t len);

/* Admission, step 1: the image at storage offset `offset` (info->size bytes, CRC-32 verified by
 * the core; info->name, format, size, crc32 set) is a candidate. Parse it, check the format, the
 * ops and the arena, and fill info from arena_bytes on - WITHOUT changing the running model: the
 * active model keeps running, with its tensors, whatever this returns. Refuse with the code and
 * reason the host should see (hl_core_refuse). */
HL_CHECK_RESULT hl_status_t hl_port_model_check(uint32_t offset, hl_model_info_t *info);

/* Admission, step 2: make the image that last passed hl_port_model_check (same offset and info)
 * the running model. The core calls it only after that check passed, the core accepted the
 * description, and the slot is committed to storage; at boot it follows the check of the restored
 * slot. It should not fail for an image that passed the check; if it does, the previous model
 * must still be running and the core withdraws the new slot. */
HL_CHECK_RESULT hl_status_t hl_port_model_switch(uint32_t offset, const hl_model_info_t *info);

#else /* HL_PORT_HAS_STORAGE == 0: the earlier contract, where admission and switch are one call */

typedef enum {
    HL_STAGING_OPEN = 0,  /* len = image size: erase/allocate the staging slot; MODEL_TOO_LARGE if it cannot hold it */
    HL_STAGING_WRITE = 1, /* copy len bytes from data to the staging slot at offset */
    HL_STAGING_READ = 2,  /* copy len bytes at offset from the staging slot into data (whole-image CRC check) */
} hl_staging_op_t;

/* Model staging slot; see hl_staging_op_t. The active slot is never written here. */
HL_CHECK_RESULT hl_status_t hl_port_staging(hl_staging_op_t op, uint32_t offset, uint8_t *data, size_t len);

/* Admit the verified staged image described by info (name, format, size, crc32 set) and, only if it
 * passes, make it the active model atomically and fill the rest of info. On failure the previously
 * active model must still run: return the refusal code and leave it in place. */
HL_CHECK_RESULT hl_status_t hl_port_model_activate(hl_model_info_t *info);
#endif /* HL_PORT_HAS_STORAGE */

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
