/*
 * Secret key files: sz_skfile_parse() on arbitrary bytes, then, for files
 * without a passphrase (kdf 0), sz_skfile_open(). Argon2id files are never
 * opened: one key derivation takes far longer than a fuzzing iteration should.
 * A mutated file almost never passes its AEAD tag, so each kdf 0 file is also
 * opened once more after the harness seals the fuzzer's own 64 bytes into it
 * with the all-zero key: that reaches the checks made after decryption.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "samizdat/buf.h"
#include "samizdat/keys.h"

#include "fuzz.h"

#define AD_LEN 96 /* BUNDLE.md 3.2: every byte before the sealed key */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    return 0;
}

/* The parsed fields are the file's bytes at the offsets of BUNDLE.md 3.2. */
static void
check_fields(const uint8_t *data, size_t size, const struct sz_skfile *f)
{
    if (size != SZ_SKFILE_LEN || (f->kdf != SZ_KDF_NONE && f->kdf != SZ_KDF_ARGON2ID))
        abort();
    if (data[5] != f->kdf || sz_load64(data + 8) != f->opslimit ||
        sz_load64(data + 16) != f->memlimit || memcmp(data + 24, f->salt, 16) != 0 ||
        memcmp(data + 40, f->nonce, 24) != 0 || memcmp(data + 64, f->public_key, 32) != 0 ||
        memcmp(data + 96, f->sealed, 80) != 0)
        abort();
    if (f->kdf == SZ_KDF_ARGON2ID &&
        (f->opslimit > SZ_SKFILE_MAX_OPSLIMIT || f->memlimit > SZ_SKFILE_MAX_MEMLIMIT))
        abort();
}

/* An opened key is the seed of the file's public key; sealing it again round-trips. */
static void
check_opened(const struct sz_skfile *f, const uint8_t sk[64])
{
    uint8_t pk[32], sk2[64], file[SZ_SKFILE_LEN];
    struct sz_skfile f2;

    crypto_sign_seed_keypair(pk, sk2, sk);
    if (memcmp(pk, f->public_key, 32) != 0 || memcmp(sk2, sk, 64) != 0)
        abort();
    if (sz_skfile_seal(sk, NULL, 0, 0, 0, file) != 0 ||
        sz_skfile_parse(file, sizeof file, &f2) != 0 || f2.kdf != SZ_KDF_NONE ||
        sz_skfile_open(&f2, NULL, 0, sk2) != 0 || memcmp(sk2, sk, 64) != 0)
        abort();
    sodium_memzero(sk2, sizeof sk2);
}

/* Opens f; a failure must leave sk untouched. Returns the result. */
static int
open_one(const struct sz_skfile *f)
{
    static const uint8_t marker[64] = {0xa5, 0x5a, 0xa5, 0x5a};
    uint8_t sk[64];
    int rc;

    memcpy(sk, marker, sizeof sk);
    rc = sz_skfile_open(f, NULL, 0, sk);
    fuzz_check_rc(rc);
    if (rc != 0 && memcmp(sk, marker, sizeof sk) != 0)
        abort();
    if (rc == 0)
        check_opened(f, sk);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

/*
 * Seals the first 64 bytes of the fuzzer's `sealed` field as the secret key,
 * under the all-zero key and the file's own header, and opens the result: it
 * must open exactly when those bytes are a seed followed by its public key,
 * and that key is the one the file names.
 */
static void
open_resealed(const uint8_t *data, const struct sz_skfile *f)
{
    static const uint8_t zero_key[32];
    struct sz_skfile g = *f;
    uint8_t pk[32], sk[64];
    bool valid;
    int rc;

    crypto_aead_xchacha20poly1305_ietf_encrypt(g.sealed, NULL, f->sealed, 64, data, AD_LEN, NULL,
                                               f->nonce, zero_key);
    crypto_sign_seed_keypair(pk, sk, f->sealed);
    valid = memcmp(sk, f->sealed, 64) == 0 && memcmp(pk, f->public_key, 32) == 0;
    rc = open_one(&g);
    if ((rc == 0) != valid || (rc != 0 && rc != -SZ_EPASS))
        abort();
    sodium_memzero(sk, sizeof sk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sz_skfile f, untouched;
    int rc;

    memset(&untouched, 0xa5, sizeof untouched);
    memcpy(&f, &untouched, sizeof f);
    rc = sz_skfile_parse(data, size, &f);
    fuzz_check_rc(rc);
    if (rc != 0) {
        if (memcmp(&f, &untouched, sizeof f) != 0)
            abort();
        return 0;
    }
    check_fields(data, size, &f);
    if (f.kdf != SZ_KDF_NONE)
        return 0;
    open_one(&f);
    open_resealed(data, &f);
    return 0;
}
