/* harness.h: assertions and wire helpers shared by the C unit tests. */
#ifndef HL_TEST_HARNESS_H
#define HL_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fake_port.h"
#include "hl_frame.h"

extern int g_failures;
extern int g_checks;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        g_checks++;                                                                    \
        if (!(cond)) {                                                                 \
            g_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                                   \
    do {                                                                                                 \
        g_checks++;                                                                                      \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                            \
        if (va_ != vb_) {                                                                                \
            g_failures++;                                                                                \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__, __LINE__, #a, \
                    va_, #b, vb_);                                                                       \
        }                                                                                                \
    } while (0)

/* A decoded reply frame with its payload copied out. */
typedef struct {
    uint8_t type, flags, version;
    uint16_t seq;
    uint32_t length;
    uint8_t payload[8192];
} reply_t;

/* Build a frame (payload copied after the header) and feed it to the core. */
void send_frame(uint8_t type, uint8_t flags, uint16_t seq, const void *payload, uint32_t len);
/* Build a frame into out (returns its size). */
size_t make_frame(uint8_t *out, uint8_t type, uint8_t flags, uint16_t seq, const void *payload, uint32_t len);
/* Deframe everything the core has written since the last call; returns the number of frames. */
int take_replies(reply_t *out, int max);
/* ERROR code of a reply, or -1 when it is not an ERROR. */
int error_code(const reply_t *r);
/* ACK value, or -1 when it is not an ACK. */
long long ack_value(const reply_t *r);

/* The suites (test_core.c, test_store.c, test_vectors.c); main() runs them all. */
void run_core_tests(void);
void run_store_tests(void);
int run_vector_tests(const char *dir);

#endif
