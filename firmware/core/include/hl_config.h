/* hl_config.h: every buffer size of the board core, in one place, checked at compile time.
 *
 * A port overrides any of these by defining it first, on the command line (-DHL_CFG_MAX_PAYLOAD=4096)
 * or in its own header named by -DHL_PORT_CONFIG='"hl_port_config.h"'. Nothing is allocated at run
 * time: each size below becomes a static array in exactly one place, named in its comment. */
#ifndef HL_CONFIG_H
#define HL_CONFIG_H

#ifdef HL_PORT_CONFIG
#include HL_PORT_CONFIG
#endif

#include "hl_protocol.h"

/* Largest frame payload the board receives or sends; announced in DEVICE_INFO.max_payload. The host
 * sizes model chunks and INPUT pieces by it and never sends more. Frame buffers are this plus
 * HL_OVERHEAD: hl_core.c's rx buffer and tx buffer (one each). */
#ifndef HL_CFG_MAX_PAYLOAD
#define HL_CFG_MAX_PAYLOAD 1024u
#endif

/* Replies kept for duplicate requests (a host retry reuses the seq): the last N replies, byte for
 * byte, in one ring of HL_CFG_REPLY_CACHE_BYTES (hl_core.c). The host keeps up to 8 upload chunks in
 * flight (hostlink/config.py upload_window), so a retry can name any of the last 8 requests. */
#ifndef HL_CFG_REPLY_CACHE_ENTRIES
#define HL_CFG_REPLY_CACHE_ENTRIES 8u
#endif
#ifndef HL_CFG_REPLY_CACHE_BYTES
#define HL_CFG_REPLY_CACHE_BYTES 1536u
#endif

/* Model and tensor descriptions kept in RAM (hl_model_info_t): names are truncated to fit. */
#ifndef HL_CFG_NAME_MAX
#define HL_CFG_NAME_MAX 47u
#endif
#ifndef HL_CFG_MAX_INPUTS
#define HL_CFG_MAX_INPUTS 2u
#endif
#ifndef HL_CFG_MAX_OUTPUTS
#define HL_CFG_MAX_OUTPUTS 4u
#endif
#ifndef HL_CFG_MAX_DIMS
#define HL_CFG_MAX_DIMS 6u
#endif

/* Byte ranges tracked per upload and per host input (hl_coverage_t in hl_state): chunks may arrive
 * out of order or twice, and each gap between received ranges costs one span. */
#ifndef HL_CFG_MAX_SPANS
#define HL_CFG_MAX_SPANS 16u
#endif

/* Stage records per frame (hl_stages_t, on the stack during a capture). */
#ifndef HL_CFG_MAX_STAGE_RECORDS
#define HL_CFG_MAX_STAGE_RECORDS 8u
#endif

/* Bytes of the staged model read back per step while checking the whole-image CRC at commit
 * (a stack buffer in hl_model.c): bigger is faster on flash that reads in pages. */
#ifndef HL_CFG_VERIFY_CHUNK
#define HL_CFG_VERIFY_CHUNK 256u
#endif

/* Largest write_align a port's storage may declare (hl_storage_geometry_t): the model store's
 * header and commit word are padded to it in a stack buffer (hl_store.c). */
#ifndef HL_CFG_STORE_ALIGN_MAX
#define HL_CFG_STORE_ALIGN_MAX 256u
#endif

/* Longest ERROR message / LOG text the core formats (a stack buffer in hl_core.c). */
#ifndef HL_CFG_TEXT_MAX
#define HL_CFG_TEXT_MAX 96u
#endif

/* Derived sizes. */
#define HL_FRAME_BUF_SIZE (HL_CFG_MAX_PAYLOAD + HL_OVERHEAD)

#if defined(__cplusplus)
#define HL_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define HL_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

HL_STATIC_ASSERT(HL_CFG_MAX_PAYLOAD >= 256u,
                 "HL_CFG_MAX_PAYLOAD below 256 cannot carry DEVICE_INFO / MODEL_INFO in one frame");
HL_STATIC_ASSERT(HL_CFG_MAX_PAYLOAD <= HL_PROTOCOL_MAX_PAYLOAD, "HL_CFG_MAX_PAYLOAD exceeds protocol v1's limit");
HL_STATIC_ASSERT(HL_CFG_REPLY_CACHE_ENTRIES >= 1u && HL_CFG_REPLY_CACHE_ENTRIES <= 64u,
                 "HL_CFG_REPLY_CACHE_ENTRIES must be 1..64");
HL_STATIC_ASSERT(HL_CFG_REPLY_CACHE_BYTES >= 4u * (HL_OVERHEAD + 16u),
                 "HL_CFG_REPLY_CACHE_BYTES too small to keep even the last few ACKs");
HL_STATIC_ASSERT(HL_CFG_NAME_MAX >= 8u && HL_CFG_NAME_MAX <= 255u, "names are u8-length-prefixed on the wire");
HL_STATIC_ASSERT(HL_CFG_MAX_INPUTS >= 1u && HL_CFG_MAX_INPUTS <= 255u, "tensor counts are u8 on the wire");
HL_STATIC_ASSERT(HL_CFG_MAX_OUTPUTS >= 1u && HL_CFG_MAX_OUTPUTS <= 255u, "tensor counts are u8 on the wire");
HL_STATIC_ASSERT(HL_CFG_MAX_DIMS >= 1u && HL_CFG_MAX_DIMS <= 255u, "ranks are u8 on the wire");
HL_STATIC_ASSERT(HL_CFG_VERIFY_CHUNK >= 16u && HL_CFG_VERIFY_CHUNK <= 4096u, "HL_CFG_VERIFY_CHUNK lives on the stack");
HL_STATIC_ASSERT(HL_CFG_MAX_SPANS >= 2u && HL_CFG_MAX_SPANS <= 255u, "span counts are uint8_t");
HL_STATIC_ASSERT(HL_CFG_MAX_STAGE_RECORDS >= 4u && HL_CFG_MAX_STAGE_RECORDS <= 255u,
                 "a frame records up to four stages; counts are u8 on the wire");
HL_STATIC_ASSERT(HL_CFG_STORE_ALIGN_MAX >= 4u && HL_CFG_STORE_ALIGN_MAX <= 1024u &&
                     (HL_CFG_STORE_ALIGN_MAX & (HL_CFG_STORE_ALIGN_MAX - 1u)) == 0u,
                 "HL_CFG_STORE_ALIGN_MAX is a power of two of at most 1 KiB (a stack buffer)");
HL_STATIC_ASSERT(HL_CFG_TEXT_MAX >= 32u && HL_CFG_TEXT_MAX <= 255u, "HL_CFG_TEXT_MAX lives on the stack");
/* The wire layouts the hand-written encoders and decoders assume; a protocol change that moves
 * them breaks the build here instead of on the wire. */
HL_STATIC_ASSERT(HL_HEADER_SIZE == 14u && HL_TRAILER_SIZE == 4u, "frame layout changed: update hl_frame.c");
HL_STATIC_ASSERT(HL_HDR_SEQ_OFF == 6u && HL_HDR_LENGTH_OFF == 8u && HL_HDR_HCRC_OFF == 12u,
                 "header layout changed: update hl_frame.c");
HL_STATIC_ASSERT(HL_HELLO_SIZE == 6u && HL_CAPTURE_SIZE == 10u && HL_MODEL_COMMIT_SIZE == 4u && HL_RESET_SIZE == 1u,
                 "request layout changed: update the decoders in hl_core.c / hl_model.c / hl_capture.c");
HL_STATIC_ASSERT(HL_MODEL_BEGIN_FIXED_PREFIX == 9u && HL_MODEL_CHUNK_FIXED_PREFIX == 4u && HL_INPUT_FIXED_PREFIX == 9u,
                 "request layout changed: update the decoders");
HL_STATIC_ASSERT(HL_TENSOR_SPEC_NAME_PREFIX == 1u && HL_TENSOR_SPEC_SHAPE_PREFIX == 1u &&
                     HL_OUTPUT_TENSOR_DATA_PREFIX == 4u && HL_ERROR_MESSAGE_PREFIX == 2u &&
                     HL_NAK_DETAIL_PREFIX == 2u && HL_LOG_TEXT_PREFIX == 2u && HL_STAGE_TIME_SIZE == 17u,
                 "payload layout changed: update the encoders in hl_encode.c");

#endif /* HL_CONFIG_H */
