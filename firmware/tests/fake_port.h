/* fake_port.h: an in-memory board for the C unit tests and the dispatcher fuzzer.
 *
 * Everything a HAL call does is recorded so a test can check it: bytes written to the link, marker
 * changes, staging calls. The "engine" is a real computation on a one-input, one-output INT8 model
 * (output[i] = input[i] + 1 + model tag), so a test can tell which model produced a result and that
 * the host's input reached it. The clock only moves when a test (or a capture wait) moves it.
 *
 * Storage is a NOR-flash-like region (erase to 0xFF in blocks, program each byte once between
 * erases: a second program of a byte is recorded as a contract violation). Power can be cut at the
 * Nth erase or write: that call tears (a random prefix lands, then one garbage byte) and every
 * later storage call fails, as on a board whose supply just dropped; fake_reboot() then boots the
 * core again on the same storage contents. */
#ifndef HL_FAKE_PORT_H
#define HL_FAKE_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl_core.h"

#define FAKE_STORE_BYTES 4096u /* largest model the fake board takes (geometry image_max) */
#define FAKE_ERASE_BLOCK 512u
#define FAKE_WRITE_ALIGN 8u
#define FAKE_REGION_BYTES (2u * (FAKE_STORE_BYTES + 1024u))
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
    unsigned staging_opens;  /* storage erases */
    unsigned staging_writes; /* storage writes */
    unsigned checks, activations, captures, invokes, reboots;
    /* fault injection */
    hl_status_t activate_refusal; /* returned by hl_port_model_check; HL_OK: admit */
    hl_status_t switch_refusal;   /* returned by hl_port_model_switch */
    uint8_t check_outputs;        /* 0: one output; else the count the check reports (specs_fit) */
    uint8_t refuse_tag;           /* nonzero: check refuses images whose first byte is this */
    hl_status_t camera_fault;
    bool staging_corrupt_readback;
    unsigned powercut_at; /* 0: never; else the Nth erase/write (counted from 1 by mutations) tears */
    unsigned mutations;
    bool power_lost;
    uint32_t rng;
    bool contract_violation; /* a byte programmed twice without an erase, or an unaligned erase */
    /* the storage region, and the engine's copy of the running image */
    uint8_t store[FAKE_REGION_BYTES];
    uint8_t programmed[FAKE_REGION_BYTES]; /* 1: programmed since the last erase */
    uint8_t active[FAKE_STORE_BYTES];
    uint32_t active_size;
    uint8_t model_tag; /* first byte of the active image: part of every output */
    uint8_t host_input[FAKE_TENSOR_BYTES];
    uint8_t sensor_input[FAKE_TENSOR_BYTES];
    uint8_t output[FAKE_TENSOR_BYTES];
} fake_port_t;

extern fake_port_t fake;
extern const hl_board_info_t fake_board;

/* Reset the fake (erased storage) and the core (hl_core_init). */
void fake_reset(void);

/* Power back on: keep the storage region, reset everything else, boot the core (hl_core_init). */
void fake_reboot(void);

#endif /* HL_FAKE_PORT_H */
