/* hl_core.h: the board side of hostlink protocol v1, for any port.
 *
 *     static const hl_board_info_t board = {...};
 *     hl_core_init(&board);
 *     for (;;) hl_core_poll(10000);   // read the link for up to 10 ms, answer every complete request
 *
 * The core is one instance with static storage (a board has one protocol link). It allocates
 * nothing; sizes come from hl_config.h. */
#ifndef HL_CORE_H
#define HL_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "hl_frame.h"
#include "hl_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The core's own version; ports usually announce it as DEVICE_INFO.fw_version. */
#define HL_CORE_VERSION_MAJOR 0
#define HL_CORE_VERSION_MINOR 1
#define HL_CORE_VERSION_PATCH 0

/* Reset every piece of protocol state. With HL_PORT_HAS_STORAGE the model store is scanned and the
 * newest committed, CRC-verified model the port still admits becomes the active one (the port's
 * engine must be ready for hl_port_model_check/switch); otherwise no model is active afterwards. */
void hl_core_init(const hl_board_info_t *board);

/* Wait up to timeout_us for link bytes, then handle every complete frame received. */
void hl_core_poll(uint32_t timeout_us);

/* Hand bytes to the core directly (tests, fuzzing, ports that receive in their own loop); every
 * complete frame is handled before this returns. */
void hl_core_feed(const uint8_t *data, size_t len);

/* Send an unsolicited LOG event (flags EVENT). */
void hl_core_log(uint8_t level, const char *text);

/* For a port refusing a model, a frame or an input: record a human-readable reason that the core
 * puts in the ERROR message, and return code (`return hl_core_refuse(HL_ERR_MODEL_NOT_INT8, why);`). */
hl_status_t hl_core_refuse(hl_status_t code, const char *reason);

/* Receiver counters (frames, header/CRC errors, skipped bytes) for diagnostics. */
const hl_rx_stats_t *hl_core_rx_stats(void);

/* The active model, for ports that want to show it. */
const hl_model_info_t *hl_core_active_model(void);

/* Bytes per element of a protocol DType (0 for an unknown one), and a tensor's size in bytes
 * (0 when it overflows 32 bits). */
uint32_t hl_dtype_size(uint8_t dtype);
uint32_t hl_tensor_bytes(const hl_tensor_spec_t *spec);

#ifdef __cplusplus
}
#endif

#endif /* HL_CORE_H */
