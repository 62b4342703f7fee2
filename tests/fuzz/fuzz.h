/* Shared by the libFuzzer targets in tests/fuzz (see README.md there). */
#ifndef RA_FUZZ_H
#define RA_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <apr_general.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise of the API under test is a finding like a crash: abort,
 * so libFuzzer keeps the input. */
#define FUZZ_EXPECT(cond)                                                          \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* APR once per process, from LLVMFuzzerInitialize; every run then makes its
 * own pool and destroys it, so nothing grows from run to run. */
static inline void fuzz_apr_init(void)
{
    FUZZ_EXPECT(apr_initialize() == APR_SUCCESS);
    atexit(apr_terminate);
}

#endif
