/*
 * What the two link harnesses (fuzz_handshake.c, fuzz_frame.c) share: a fixed
 * clock, input bounds, libsodium's randomness replaced by a ChaCha20 stream
 * whose counter each input resets (rng_counter = 0), so any finding replays
 * exactly, the two nodes' keys, and LLVMFuzzerInitialize. Included by exactly
 * one harness per program: it defines functions and state.
 */
#ifndef SZ_TESTS_FUZZ_LINK_H
#define SZ_TESTS_FUZZ_LINK_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "samizdat/buf.h"
#include "samizdat/link.h"

#include "fuzz.h"

#define NOW ((int64_t)1700000000)
#define INPUT_BOUND (2 * (SZ_FRAME_OVERHEAD + SZ_MAX_FRAME_LEN))
#define BUFFERED_BOUND (INPUT_BOUND + 65536)

/* ---- Deterministic randomness: ChaCha20 under a fixed key, counter reset per input. ---- */

static const uint8_t RNG_KEY[crypto_stream_chacha20_KEYBYTES] = "samizdat fuzzing randomness key";
static uint64_t rng_counter;

static const char *
rng_name(void)
{
    return "samizdat-fuzz";
}

static void
rng_buf(void *buf, size_t n)
{
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];

    sz_store64(nonce, rng_counter++);
    crypto_stream_chacha20(buf, n, nonce, RNG_KEY);
}

static uint32_t
rng_random(void)
{
    uint8_t b[4];

    rng_buf(b, sizeof b);
    return sz_load32(b);
}

static struct randombytes_implementation rng = {
    .implementation_name = rng_name,
    .random = rng_random,
    .buf = rng_buf,
};

static struct sz_link_keys keys_i, keys_r;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (randombytes_set_implementation(&rng) != 0 || sz_init() != 0)
        abort();
    rng_counter = 1u << 30;
    memcpy(keys_i.network_key, SZ_DEFAULT_NETWORK_KEY, SZ_NETWORK_KEY_LEN);
    memcpy(keys_r.network_key, SZ_DEFAULT_NETWORK_KEY, SZ_NETWORK_KEY_LEN);
    crypto_box_keypair(keys_i.node_pk, keys_i.node_sk);
    crypto_box_keypair(keys_r.node_pk, keys_r.node_sk);
    return 0;
}

static void
check(bool ok)
{
    if (!ok)
        abort();
}

#endif
