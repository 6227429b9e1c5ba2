/* hl_decode.h: decoders for the board's own replies (DEVICE_INFO, MODEL_INFO, TensorSpec).
 *
 * A board never parses these; the Linux port does (its helper answers with the same declarations)
 * and so do the C unit tests, which decode the golden vectors and re-encode them with the core's
 * encoders byte for byte. Strings are copied into caller storage and truncated to fit. */
#ifndef HL_DECODE_H
#define HL_DECODE_H

#include <stdbool.h>

#include "hl_port.h"
#include "hl_wire.h"

#define HL_DEC_MAX_MEMORY 8u
#define HL_DEC_MAX_STAGES 8u

typedef struct {
    hl_board_info_t board; /* points into the arrays below */
    uint8_t proto_version;
    uint32_t max_payload;
    uint32_t clock_hz;
    char name[256];
    char serial[256];
    char memory_names[HL_DEC_MAX_MEMORY][64];
    hl_memory_region_t memory[HL_DEC_MAX_MEMORY];
    uint8_t stages[HL_DEC_MAX_STAGES];
} hl_device_info_t;

/* Each returns false (and leaves rd->ok false) when the bytes do not hold a whole, in-range value. */
bool hl_dec_tensor_spec(hl_rd_t *rd, hl_tensor_spec_t *s);
bool hl_dec_model_info(hl_rd_t *rd, hl_model_info_t *m);
bool hl_dec_device_info(hl_rd_t *rd, hl_device_info_t *d);

#endif /* HL_DECODE_H */
