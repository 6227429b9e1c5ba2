/* engine_none.c: the qemu image without an inference engine (the default build, which CI runs).
 * It admits any TFLite flatbuffer so that the protocol (upload, commit, cache, errors) runs on real
 * Cortex-M code, and refuses frames saying how to build the image that runs them. */
#include <string.h>

#include "engine.h"
#include "hl_core.h"

const bool hl_engine_present = false;

hl_status_t hl_engine_admit(uint8_t slot, const uint8_t *image, size_t size, hl_model_info_t *info)
{
    (void)slot;
    if (size < 8u || memcmp(image + 4, "TFL3", 4) != 0) {
        return hl_core_refuse(HL_ERR_MODEL_CORRUPT, "not a TFLite flatbuffer (no TFL3 identifier)");
    }
    strcpy(info->engine, "none (qemu image built without tflite-micro)");
    info->n_inputs = 0;
    info->n_outputs = 0;
    return HL_OK;
}

void hl_engine_activate(uint8_t slot) { (void)slot; }

hl_status_t hl_engine_tensor(hl_tensor_kind_t kind, uint8_t index, uint8_t **data, size_t *len)
{
    (void)kind;
    (void)index;
    *data = NULL;
    *len = 0;
    return hl_core_refuse(HL_ERR_INPUT_MISMATCH, "this qemu image has no inference engine, so no tensors");
}

hl_status_t hl_engine_invoke(void)
{
    return hl_core_refuse(HL_ERR_INFERENCE_FAILED, "this qemu image has no inference engine; build it with "
                                                   "firmware/tflm/build.sh and make -C firmware qemu-tflm");
}
