/* port_host.h: what main.c needs from the Linux HAL beyond hl_port.h. */
#ifndef HL_PORT_HOST_H
#define HL_PORT_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hl_core.h"

/* Largest tensor the port stages (each host input, the sensor input, each output). */
#define HL_HOST_TENSOR_MAX (8u << 20)
#define HL_HOST_PATH_MAX 512u

/* Open the link and the model store (state_dir/store.bin, created erased-as-zero when missing).
 * powercut_at > 0: the Nth storage erase or write (counted from 1) writes a random prefix of its
 * bytes (seeded by powercut_seed) and the process exits at once with HL_HOST_POWERCUT_EXIT, as if
 * the supply had dropped. Returns 0, or -1 with the reason on stderr. */
int hl_host_port_open(int in_fd, int out_fd, const char *state_dir, uint32_t store_bytes, FILE *markers,
                      unsigned powercut_at, uint32_t powercut_seed);
/* Close the store; remove it too when keep_store is false (a state directory of our own). */
void hl_host_port_close(bool keep_store);
/* Storage erases and writes so far (the power-cut points a test can aim at). */
unsigned hl_host_port_storage_ops(void);
#define HL_HOST_POWERCUT_EXIT 99
/* true once the link's input reached end of file (stdio mode: the host went away) */
bool hl_host_port_eof(void);

#endif /* HL_PORT_HOST_H */
