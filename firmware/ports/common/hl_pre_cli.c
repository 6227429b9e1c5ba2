/* hl_pre_cli.c: hl_pre_rgb_to_tensor as a filter, so tests can hold it to the emulator's Python.
 *
 *   hl-pre-cli DTYPE H W C SCALE ZERO_POINT < rgb(H*W*3) > tensor */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl_core.h"
#include "hl_preprocess.h"

static uint8_t rgb[1u << 22];
static uint8_t out[1u << 24];

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s DTYPE H W C SCALE ZERO_POINT < rgb > tensor\n", argv[0]);
        return 2;
    }
    hl_tensor_spec_t spec;
    memset(&spec, 0, sizeof spec);
    spec.dtype = (uint8_t)atoi(argv[1]);
    spec.ndim = 4;
    spec.shape[0] = 1;
    spec.shape[1] = (uint32_t)atoi(argv[2]);
    spec.shape[2] = (uint32_t)atoi(argv[3]);
    spec.shape[3] = (uint32_t)atoi(argv[4]);
    spec.scale = strtof(argv[5], NULL);
    spec.zero_point = atoi(argv[6]);
    size_t need = (size_t)spec.shape[1] * spec.shape[2] * 3u;
    if (need > sizeof rgb || fread(rgb, 1, need, stdin) != need) {
        fprintf(stderr, "expected %zu bytes of RGB on stdin\n", need);
        return 1;
    }
    if (hl_pre_rgb_to_tensor(rgb, &spec, out, sizeof out) != HL_OK) {
        return 1;
    }
    fwrite(out, 1, hl_tensor_bytes(&spec), stdout);
    return 0;
}
