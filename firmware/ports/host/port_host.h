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

int hl_host_port_open(int in_fd, int out_fd, const char *state_dir, uint32_t store_bytes, FILE *markers);
void hl_host_port_close(void);
/* true once the link's input reached end of file (stdio mode: the host went away) */
bool hl_host_port_eof(void);

#endif /* HL_PORT_HOST_H */
