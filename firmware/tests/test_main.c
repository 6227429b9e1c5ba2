/* test_main.c: runs the core tests, then the golden-vector tests on the directory given. */
#include <stdio.h>

#include "harness.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTOR_DIR   (protocols/vectors)\n", argv[0]);
        return 2;
    }
    run_core_tests();
    run_store_tests();
    int vectors = run_vector_tests(argv[1]);
    if (vectors == 0) {
        fprintf(stderr, "no golden vectors found in %s\n", argv[1]);
        g_failures++;
    }
    printf("firmware tests: %d checks, %d vectors, %d failures\n", g_checks, vectors, g_failures);
    return g_failures == 0 ? 0 : 1;
}
