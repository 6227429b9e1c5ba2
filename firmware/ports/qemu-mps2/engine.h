/* engine.h: the qemu image's inference engine. engine_tflm.cc runs models with tflite-micro and
 * CMSIS-NN (make -C firmware qemu-tflm, after firmware/tflm/build.sh); engine_none.c is the
 * default build's stand-in for images built without tflite-micro (CI), which refuses to run one. */
#ifndef HL_MPS2_ENGINE_H
#define HL_MPS2_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Nonzero when the image has an inference engine (DEVICE_INFO then offers host input frames). */
extern const bool hl_engine_present;

/* Build an interpreter for the verified image in model slot `slot` (0 or 1; never the active one)
 * and fill info from arena_bytes on. Nothing the active model uses is touched, so a refusal leaves
 * it running. */
HL_CHECK_RESULT hl_status_t hl_engine_admit(uint8_t slot, const uint8_t *image, size_t size, hl_model_info_t *info);

/* Switch to the interpreter hl_engine_admit built for `slot`. */
void hl_engine_activate(uint8_t slot);

HL_CHECK_RESULT hl_status_t hl_engine_tensor(hl_tensor_kind_t kind, uint8_t index, uint8_t **data, size_t *len);

/* Run the active model once on the staged host inputs. */
HL_CHECK_RESULT hl_status_t hl_engine_invoke(void);

#ifdef __cplusplus
}
#endif

#endif
