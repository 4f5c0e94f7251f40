/*
 * Shared declarations for the libFuzzer harnesses. Each harness defines both
 * entry points below; with SZ_FUZZ the libFuzzer runtime calls them, otherwise
 * replay_main.c does, once per corpus file.
 */
#ifndef SZ_TESTS_FUZZ_H
#define SZ_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "samizdat/common.h"

/*
 * Seed of the Ed25519 key the bundle harness re-signs inputs with, and that
 * mkseeds.c signs the seed bundles with. Public on purpose: 32 bytes.
 */
#define FUZZ_KEY_SEED "samizdat fuzzing key, not secret"

/* Called once before any input: starts libsodium and builds fixed state. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Runs the decoder on one input. Returns 0; any broken invariant abort()s. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A decoder's return value must be 0 or a negated, named sz_err: anything else
 * means an error path leaked a raw value (a zstd code, a positive count, ...).
 */
static inline void
fuzz_check_rc(int rc)
{
    if (rc > 0 || rc < -SZ_ETRAILING)
        abort();
}

#endif
