/* fake_port.h: an in-memory board for the C unit tests and the dispatcher fuzzer.
 *
 * Everything a HAL call does is recorded so a test can check it: bytes written to the link, marker
 * changes, staging calls. The "engine" is a real computation on a one-input, one-output INT8 model
 * (output[i] = input[i] + 1 + model tag), so a test can tell which model produced a result and that
 * the host's input reached it. The clock only moves when a test (or a capture wait) moves it. */
#ifndef HL_FAKE_PORT_H
#define HL_FAKE_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_core.h"

#define FAKE_STORE_BYTES 4096u
#define FAKE_TENSOR_BYTES 16u
#define FAKE_LINK_BYTES (256u * 1024u)
#define FAKE_MARKS 256u

typedef struct {
    uint8_t out[FAKE_LINK_BYTES]; /* everything the core wrote */
    size_t out_len;
    bool out_overflow;            /* more was written than out holds; the rest was dropped */
    unsigned invoke_limit;        /* 0: none; else invokes past it fail (bounds fuzz runs) */
    uint64_t now_us;
    uint32_t time_step_us; /* added on every hl_port_time_us() call: stages get a duration */
    uint8_t marks[FAKE_MARKS];
    size_t n_marks;
    unsigned staging_opens, staging_writes, activations, captures, invokes, reboots;
    /* fault injection */
    hl_status_t activate_refusal; /* HL_OK: admit */
    hl_status_t camera_fault;
    bool staging_corrupt_readback;
    /* the staging and active slots */
    uint8_t staging[FAKE_STORE_BYTES];
    uint32_t staging_size;
    uint8_t active[FAKE_STORE_BYTES];
    uint32_t active_size;
    uint8_t model_tag; /* first byte of the active image: part of every output */
    uint8_t host_input[FAKE_TENSOR_BYTES];
    uint8_t sensor_input[FAKE_TENSOR_BYTES];
    uint8_t output[FAKE_TENSOR_BYTES];
} fake_port_t;

extern fake_port_t fake;
extern const hl_board_info_t fake_board;

/* Reset the fake and the core (hl_core_init). */
void fake_reset(void);

#endif /* HL_FAKE_PORT_H */
