/*
 * Tests of proto/keys.c: the public key text form and file (BUNDLE.md 3.1),
 * and the secret key file (3.2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Small Argon2id limits keep the tests fast; the format allows them. */
#define TEST_OPS 1
#define TEST_MEM (8192u * 1024u)

/*
 * Known answers computed independently (Python: cryptography's Ed25519,
 * hashlib.blake2b(b"samizdat-pk-checksum-v1" + pk, digest_size=32)[:4],
 * base64.b32encode lowercased without padding).
 */
struct pk_kat {
    const char *seed_hex;
    const char *pk_hex;
    const char *text;
};

static const struct pk_kat PK_KATS[] = {
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
     "szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le"},
    {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "76a1592044a6e4f511265bca73a604d90b0529d1df602be30a19a9257660d1f5",
     "szpk1o2qvsiceu3spkejglpfhhjqe3efqkkor35qcxyykdgusk5ta2h25ungrbm"},
};

static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567";

static void
seed_keypair(const char *seed_hex, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];

    assert_int_equal(sz_unhex(seed_hex, 64, seed, 32), 0);
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

static void
test_pk_kat(void **state)
{
    (void)state;

    for (size_t i = 0; i < N_ELEMS(PK_KATS); i++) {
        uint8_t pk[32], sk[64], want[32], back[32];
        char text[SZ_PK_TEXT_LEN + 1];

        seed_keypair(PK_KATS[i].seed_hex, pk, sk);
        assert_int_equal(sz_unhex(PK_KATS[i].pk_hex, 64, want, 32), 0);
        assert_memory_equal(pk, want, 32);
        sz_pk_to_text(pk, text);
        assert_int_equal(strlen(text), SZ_PK_TEXT_LEN);
        assert_string_equal(text, PK_KATS[i].text);
        assert_int_equal(sz_pk_from_text(PK_KATS[i].text, SZ_PK_TEXT_LEN, back), 0);
        assert_memory_equal(back, pk, 32);
    }
}

/* Random keys round-trip and always spell with a-z2-7 after the prefix. */
static void
test_pk_round_trip(void **state)
{
    (void)state;

    for (int i = 0; i < 2000; i++) {
        uint8_t pk[32], back[32];
        char text[SZ_PK_TEXT_LEN + 1];

        if (i == 0)
            memset(pk, 0, sizeof pk);
        else if (i == 1)
            memset(pk, 0xff, sizeof pk);
        else
            randombytes_buf(pk, sizeof pk);
        sz_pk_to_text(pk, text);
        assert_int_equal(strlen(text), SZ_PK_TEXT_LEN);
        assert_memory_equal(text, "szpk1", 5);
        for (size_t k = 5; k < SZ_PK_TEXT_LEN; k++)
            assert_non_null(strchr(B32, text[k]));
        /* The 2 padding bits of the last digit are zero. */
        assert_int_equal((strchr(B32, text[SZ_PK_TEXT_LEN - 1]) - B32) & 3, 0);
        memset(back, 0, sizeof back);
        assert_int_equal(sz_pk_from_text(text, strlen(text), back), 0);
        assert_memory_equal(back, pk, 32);
        /* In capitals, prefix too (BUNDLE.md 3.1), also as a key file. */
        for (size_t k = 0; k < SZ_PK_TEXT_LEN; k++)
            if (text[k] >= 'a' && text[k] <= 'z')
                text[k] = (char)(text[k] - 'a' + 'A');
        memset(back, 0, sizeof back);
        assert_int_equal(sz_pk_from_text(text, strlen(text), back), 0);
        assert_memory_equal(back, pk, 32);
        memset(back, 0, sizeof back);
        assert_int_equal(sz_pk_file_parse((const uint8_t *)text, strlen(text), back), 0);
        assert_memory_equal(back, pk, 32);
    }
}

/*
 * Every single-character substitution of a valid key is refused: with a
 * checksum error when the digit carries key or checksum bits, as malformed
 * when it only sets the padding bits or is not a base32 digit at all.
 */
static void
test_pk_every_substitution(void **state)
{
    static const char others[] = "0189=!-_ .\x7f\xff";
    size_t n_checksum = 0, n_pad = 0;
    (void)state;

    for (size_t k = 0; k < N_ELEMS(PK_KATS); k++) {
        const char *valid = PK_KATS[k].text;

        for (size_t pos = 0; pos < SZ_PK_TEXT_LEN; pos++) {
            char t[SZ_PK_TEXT_LEN + 1];
            uint8_t pk[32];

            /* Alphabet digits, both cases. */
            for (size_t a = 0; a < 64; a++) {
                char c = B32[a % 32];
                int rc, want;

                if (a >= 32 && c >= 'a' && c <= 'z')
                    c = (char)(c - 'a' + 'A');
                else if (a >= 32)
                    continue;
                memcpy(t, valid, sizeof t);
                if (t[pos] == c || t[pos] == c - 'A' + 'a')
                    continue; /* The same letter in the other case is still valid. */
                t[pos] = c;
                if (pos < 5) {
                    want = -SZ_EBADMSG; /* not the prefix, in either case */
                } else if (pos == SZ_PK_TEXT_LEN - 1 &&
                           ((strchr(B32, valid[pos]) - B32) >> 2) == (long)((a % 32) >> 2)) {
                    want = -SZ_EBADMSG; /* only padding bits changed */
                } else if (pos == SZ_PK_TEXT_LEN - 1 && (a % 32) % 4 != 0) {
                    want = -SZ_EBADMSG; /* padding bits set */
                } else {
                    want = -SZ_ECHECKSUM;
                }
                memset(pk, 0x77, sizeof pk);
                rc = sz_pk_from_text(t, SZ_PK_TEXT_LEN, pk);
                if (rc != want)
                    fail_msg("key %zu pos %zu char '%c': rc %d, want %d", k, pos, c, rc, want);
                for (size_t b = 0; b < 32; b++)
                    assert_int_equal(pk[b], 0x77); /* untouched */
                if (a < 32 && want == -SZ_ECHECKSUM)
                    n_checksum++;
                else if (a < 32 && pos >= 5)
                    n_pad++;
            }
            /* Characters outside the alphabet. */
            for (size_t a = 0; a < sizeof others - 1; a++) {
                memcpy(t, valid, sizeof t);
                if (t[pos] == others[a])
                    continue;
                t[pos] = others[a];
                if (sz_pk_from_text(t, SZ_PK_TEXT_LEN, pk) != -SZ_EBADMSG)
                    fail_msg("key %zu pos %zu char 0x%02x accepted", k, pos,
                             (unsigned char)others[a]);
            }
        }
    }
    /* Lowercase: 57 digits x 31 others, plus the last digit's 7 that change data bits. */
    assert_int_equal(n_checksum, N_ELEMS(PK_KATS) * (57 * 31 + 7));
    assert_int_equal(n_pad, N_ELEMS(PK_KATS) * 24);
}

/* Swapping two adjacent different digits is caught too (a common typo). */
static void
test_pk_transpositions(void **state)
{
    (void)state;

    for (size_t k = 0; k < N_ELEMS(PK_KATS); k++) {
        for (size_t pos = 5; pos + 1 < SZ_PK_TEXT_LEN; pos++) {
            char t[SZ_PK_TEXT_LEN + 1];
            uint8_t pk[32];
            char c;

            memcpy(t, PK_KATS[k].text, sizeof t);
            if (t[pos] == t[pos + 1])
                continue;
            c = t[pos];
            t[pos] = t[pos + 1];
            t[pos + 1] = c;
            assert_true(sz_pk_from_text(t, SZ_PK_TEXT_LEN, pk) < 0);
        }
    }
}

struct text_case {
    const char *s;
    int want;
};

static void
test_pk_text_forms(void **state)
{
    static const struct text_case cases[] = {
        {"szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le", 0},
        {"szpk1AOQQPP7TZYIL4HLQ3UMOOS6ATFT6JVRQTOSQ2XY53SDGIESVGG4MUA36LE", 0},
        {"szpk1AoQqPp7TzYiL4hLq3UmOoS6aTfT6jVrQtOsQ2Xy53SdGiEsVgG4mUa36Le", 0},
        {"  szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le", 0},
        {"szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le\n", 0},
        {"\t szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le \r\n", 0},
        {"\r\n\v\fszpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le\f\v", 0},
        /* Read case-insensitively, the prefix included (BUNDLE.md 3.1). */
        {"SZPK1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le", 0},
        {"Szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le", 0},
        {"szpk2aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le", -SZ_EBADMSG},
        {"szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36l", -SZ_EBADMSG},
        {"szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36lea", -SZ_EBADMSG},
        {"szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le=", -SZ_EBADMSG},
        {"szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le====", -SZ_EBADMSG},
        {"szpk1 aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le", -SZ_EBADMSG},
        {"szpk1aoqqpp7tzyil4hlq3umoos6atft6 jvrqtosq2xy53sdgiesvgg4mua36le", -SZ_EBADMSG},
        {"aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le", -SZ_EBADMSG},
        {"szpk1", -SZ_EBADMSG},
        {"", -SZ_EBADMSG},
        {"   ", -SZ_EBADMSG},
        {"03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8", -SZ_EBADMSG},
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        uint8_t pk[32], want[32];
        int rc = sz_pk_from_text(cases[i].s, strlen(cases[i].s), pk);

        if (rc != cases[i].want)
            fail_msg("text #%zu \"%s\": rc %d, want %d", i, cases[i].s, rc, cases[i].want);
        if (rc == 0) {
            assert_int_equal(sz_unhex(PK_KATS[0].pk_hex, 64, want, 32), 0);
            assert_memory_equal(pk, want, 32);
        }
    }
    /* Only len bytes are read: the text need not be NUL-terminated. */
    {
        char buf[SZ_PK_TEXT_LEN + 8];
        uint8_t pk[32];
        memcpy(buf, PK_KATS[0].text, SZ_PK_TEXT_LEN);
        memcpy(buf + SZ_PK_TEXT_LEN, "garbage", 8);
        assert_int_equal(sz_pk_from_text(buf, SZ_PK_TEXT_LEN, pk), 0);
        assert_int_equal(sz_pk_from_text(buf, SZ_PK_TEXT_LEN + 1, pk), -SZ_EBADMSG);
        for (size_t n = 0; n < SZ_PK_TEXT_LEN; n++)
            assert_int_equal(sz_pk_from_text(buf, n, pk), -SZ_EBADMSG);
    }
}

struct file_case {
    const char *what;
    const char *s;
    int want;
};

#define KEY0 "szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36le"
#define KEY1 "szpk1o2qvsiceu3spkejglpfhhjqe3efqkkor35qcxyykdgusk5ta2h25ungrbm"

static void
test_pk_file(void **state)
{
    static const struct file_case cases[] = {
        {"bare", KEY0, 0},
        {"newline", KEY0 "\n", 0},
        {"comments first", "# samizdat public key\n#another\n" KEY0 "\n", 0},
        {"blank lines first", "\n\n   \n\t\n" KEY0, 0},
        {"CRLF", "# c\r\n\r\n" KEY0 "\r\n", 0},
        {"indented", "   " KEY0 "   \n", 0},
        {"first key wins", KEY0 "\n" KEY1 "\n", 0},
        {"rest ignored", KEY0 "\nanything at all \xff\xfe\n", 0},
        {"indented comment", "  # comment\n" KEY0, 0},
        {"empty", "", -SZ_EBADMSG},
        {"only comments", "# a\n# b\n", -SZ_EBADMSG},
        {"only blank", "\n \n\t\n", -SZ_EBADMSG},
        {"garbage first", "hello\n" KEY0 "\n", -SZ_EBADMSG},
        {"trailing words", KEY0 " alice\n", -SZ_EBADMSG},
        {"key after comment char", "#" KEY0 "\n", -SZ_EBADMSG},
        {"mistyped", "szpk1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4mua36la\n",
         -SZ_ECHECKSUM},
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        uint8_t pk[32], want[32];
        int rc = sz_pk_file_parse((const uint8_t *)cases[i].s, strlen(cases[i].s), pk);

        if (rc != cases[i].want)
            fail_msg("file \"%s\": rc %d, want %d", cases[i].what, rc, cases[i].want);
        if (rc == 0) {
            assert_int_equal(sz_unhex(PK_KATS[0].pk_hex, 64, want, 32), 0);
            assert_memory_equal(pk, want, 32);
        }
    }
}

/* ---- secret key file ---------------------------------------------------- */

static void
test_keypair(void **state)
{
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    (void)state;

    assert_int_equal(sz_keypair(pk, sk), 0);
    assert_memory_equal(sk + 32, pk, 32);
    /* The first half is the seed of the pair. */
    assert_int_equal(crypto_sign_seed_keypair(pk2, sk2, sk), 0);
    assert_memory_equal(pk2, pk, 32);
    assert_memory_equal(sk2, sk, 64);
    assert_int_equal(sz_keypair(pk2, sk2), 0);
    assert_memory_not_equal(pk2, pk, 32);
}

/* The file layout of BUNDLE.md 3.2, read back from the bytes. */
static void
check_layout(const uint8_t f[SZ_SKFILE_LEN], const uint8_t sk[64], uint8_t kdf, uint64_t ops,
             uint64_t mem)
{
    static const uint8_t zero[16];

    assert_memory_equal(f, "SZSK", 4);
    assert_int_equal(f[4], 1);
    assert_int_equal(f[5], kdf);
    assert_int_equal(sz_load16(f + 6), 0);
    assert_true(sz_load64(f + 8) == ops);
    assert_true(sz_load64(f + 16) == mem);
    if (kdf == SZ_KDF_NONE)
        assert_memory_equal(f + 24, zero, 16);
    else
        assert_memory_not_equal(f + 24, zero, 16);
    assert_memory_equal(f + 64, sk + 32, 32);
}

/* Decrypts a file the way BUNDLE.md says, without the library. */
static int
independent_open(const uint8_t f[SZ_SKFILE_LEN], const char *pass, uint8_t sk[64])
{
    uint8_t key[32];
    unsigned long long n;

    memset(key, 0, sizeof key);
    if (f[5] == SZ_KDF_ARGON2ID &&
        crypto_pwhash(key, 32, pass, strlen(pass), f + 24, sz_load64(f + 8),
                      (size_t)sz_load64(f + 16), crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -1;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(sk, &n, NULL, f + 96, 80, f, 96, f + 40, key) !=
        0)
        return -1;
    return n == 64 ? 0 : -1;
}

static void
test_skfile_round_trip(void **state)
{
    uint8_t pk[32], sk[64], f[SZ_SKFILE_LEN], g[SZ_SKFILE_LEN], out[64], ind[64];
    struct sz_skfile p;
    (void)state;

    seed_keypair(PK_KATS[0].seed_hex, pk, sk);

    /* Without a passphrase. */
    assert_int_equal(sz_skfile_seal(sk, NULL, 0, 0, 0, f), 0);
    check_layout(f, sk, SZ_KDF_NONE, 0, 0);
    assert_int_equal(independent_open(f, "", ind), 0);
    assert_memory_equal(ind, sk, 64);
    assert_int_equal(sz_skfile_parse(f, sizeof f, &p), 0);
    assert_int_equal(p.kdf, SZ_KDF_NONE);
    assert_memory_equal(p.public_key, pk, 32);
    assert_memory_equal(p.nonce, f + 40, 24);
    assert_memory_equal(p.sealed, f + 96, 80);
    memset(out, 0, sizeof out);
    assert_int_equal(sz_skfile_open(&p, NULL, 0, out), 0);
    assert_memory_equal(out, sk, 64);
    /* A passphrase given for a file without one is ignored. */
    memset(out, 0, sizeof out);
    assert_int_equal(sz_skfile_open(&p, "whatever", 8, out), 0);
    assert_memory_equal(out, sk, 64);
    /* The nonce is random: two seals differ. */
    assert_int_equal(sz_skfile_seal(sk, NULL, 0, 0, 0, g), 0);
    assert_memory_not_equal(f + 40, g + 40, 24);

    /* With a passphrase. */
    assert_int_equal(sz_skfile_seal(sk, "correct horse", 13, TEST_OPS, TEST_MEM, f), 0);
    check_layout(f, sk, SZ_KDF_ARGON2ID, TEST_OPS, TEST_MEM);
    assert_int_equal(independent_open(f, "correct horse", ind), 0);
    assert_memory_equal(ind, sk, 64);
    assert_int_equal(sz_skfile_parse(f, sizeof f, &p), 0);
    assert_int_equal(p.kdf, SZ_KDF_ARGON2ID);
    assert_true(p.opslimit == TEST_OPS);
    assert_true(p.memlimit == TEST_MEM);
    assert_memory_equal(p.salt, f + 24, 16);
    memset(out, 0, sizeof out);
    assert_int_equal(sz_skfile_open(&p, "correct horse", 13, out), 0);
    assert_memory_equal(out, sk, 64);
    /* Only pass_len bytes of the passphrase count. */
    assert_int_equal(sz_skfile_open(&p, "correct horse battery", 13, out), 0);

    /* Wrong passphrases, and no passphrase, are refused; sk stays untouched. */
    {
        static const char *wrong[] = {"correct hors", "correct horsE", "correct horse ", ""};
        for (size_t i = 0; i < N_ELEMS(wrong); i++) {
            memset(out, 0x55, sizeof out);
            assert_int_equal(sz_skfile_open(&p, wrong[i], strlen(wrong[i]), out), -SZ_EPASS);
            for (size_t b = 0; b < 64; b++)
                assert_int_equal(out[b], 0x55);
        }
        assert_int_equal(sz_skfile_open(&p, NULL, 0, out), -SZ_EPASS);
    }

    /* An empty passphrase is still a passphrase (kdf 1), distinct from none. */
    assert_int_equal(sz_skfile_seal(sk, "", 0, TEST_OPS, TEST_MEM, f), 0);
    assert_int_equal(f[5], SZ_KDF_ARGON2ID);
    assert_int_equal(sz_skfile_parse(f, sizeof f, &p), 0);
    assert_int_equal(sz_skfile_open(&p, "", 0, out), 0);
    assert_int_equal(sz_skfile_open(&p, NULL, 0, out), 0);
    assert_int_equal(sz_skfile_open(&p, "x", 1, out), -SZ_EPASS);
}

/* A file built by hand from BUNDLE.md 3.2 (fixed salt and nonce) opens. */
static void
test_skfile_handmade(void **state)
{
    uint8_t pk[32], sk[64], f[SZ_SKFILE_LEN], key[32], out[64];
    struct sz_skfile p;
    (void)state;

    seed_keypair(PK_KATS[1].seed_hex, pk, sk);
    for (int kdf = 0; kdf <= 1; kdf++) {
        memset(f, 0, sizeof f);
        memcpy(f, "SZSK", 4);
        f[4] = 1;
        f[5] = (uint8_t)kdf;
        memset(key, 0, sizeof key);
        if (kdf == 1) {
            sz_store64(f + 8, TEST_OPS);
            sz_store64(f + 16, TEST_MEM);
            memset(f + 24, 0xa5, 16);
            assert_int_equal(crypto_pwhash(key, 32, "pw", 2, f + 24, TEST_OPS, TEST_MEM,
                                           crypto_pwhash_ALG_ARGON2ID13),
                             0);
        }
        for (int i = 0; i < 24; i++)
            f[40 + i] = (uint8_t)i;
        memcpy(f + 64, pk, 32);
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(f + 96, NULL, sk, 64, f, 96,
                                                                    NULL, f + 40, key),
                         0);
        assert_int_equal(sz_skfile_parse(f, sizeof f, &p), 0);
        memset(out, 0, sizeof out);
        assert_int_equal(sz_skfile_open(&p, "pw", 2, out), 0);
        assert_memory_equal(out, sk, 64);
    }
}

/* The seed must derive the public key the file names. */
static void
test_skfile_mismatched_key(void **state)
{
    uint8_t pk[32], sk[64], pk2[32], sk2[64], bad[64], f[SZ_SKFILE_LEN], out[64];
    struct sz_skfile p;
    (void)state;

    seed_keypair(PK_KATS[0].seed_hex, pk, sk);
    seed_keypair(PK_KATS[1].seed_hex, pk2, sk2);
    /* Seed of key 0, public half of key 1: consistent with itself, not with the seed. */
    memcpy(bad, sk, 32);
    memcpy(bad + 32, pk2, 32);
    assert_int_equal(sz_skfile_seal(bad, NULL, 0, 0, 0, f), 0);
    assert_int_equal(sz_skfile_parse(f, sizeof f, &p), 0);
    memset(out, 0x55, sizeof out);
    assert_int_equal(sz_skfile_open(&p, NULL, 0, out), -SZ_EPASS);
    assert_int_equal(out[0], 0x55);
    /* And with a passphrase. */
    assert_int_equal(sz_skfile_seal(bad, "p", 1, TEST_OPS, TEST_MEM, f), 0);
    assert_int_equal(sz_skfile_parse(f, sizeof f, &p), 0);
    assert_int_equal(sz_skfile_open(&p, "p", 1, out), -SZ_EPASS);
}

static void
test_skfile_truncated(void **state)
{
    uint8_t pk[32], sk[64], f[SZ_SKFILE_LEN + 1];
    struct sz_skfile p;
    (void)state;

    seed_keypair(PK_KATS[0].seed_hex, pk, sk);
    for (int kdf = 0; kdf <= 1; kdf++) {
        assert_int_equal(sz_skfile_seal(sk, kdf ? "pw" : NULL, 2, TEST_OPS, TEST_MEM, f), 0);
        for (size_t n = 0; n < SZ_SKFILE_LEN; n++) {
            uint8_t *copy = malloc(n > 0 ? n : 1);

            assert_non_null(copy);
            memcpy(copy, f, n);
            memset(&p, 0x33, sizeof p);
            if (sz_skfile_parse(copy, n, &p) != -SZ_EBADMSG)
                fail_msg("kdf %d: prefix of %zu bytes not refused as truncated", kdf, n);
            assert_int_equal(p.kdf, 0x33);
            free(copy);
        }
        f[SZ_SKFILE_LEN] = 0;
        assert_int_equal(sz_skfile_parse(f, SZ_SKFILE_LEN + 1, &p), -SZ_ETRAILING);
    }
}

struct hdr_case {
    const char *what;
    size_t off;
    int width; /* 1, 2, 8 bytes; 16: fill 16 bytes */
    uint64_t value;
    int kdf; /* file to patch: 0 or 1 */
    int want_parse;
};

/* Header fields: each rule of the table in BUNDLE.md 3.2. */
static void
test_skfile_fields(void **state)
{
    static const struct hdr_case cases[] = {
        {"magic", 0, 1, 'X', 0, -SZ_EBADMSG},
        {"magic last byte", 3, 1, 'k', 0, -SZ_EBADMSG},
        {"version 0", 4, 1, 0, 0, -SZ_EVERSION},
        {"version 2", 4, 1, 2, 0, -SZ_EVERSION},
        {"version 255", 4, 1, 255, 1, -SZ_EVERSION},
        {"kdf 2", 5, 1, 2, 0, -SZ_EVERSION},
        {"kdf 255", 5, 1, 255, 1, -SZ_EVERSION},
        {"kdf 1 with zero limits", 5, 1, 1, 0, -SZ_EINVAL},
        {"reserved", 6, 2, 1, 0, -SZ_ECANON},
        {"reserved high", 6, 2, 0x100, 1, -SZ_ECANON},
        {"kdf 0 with opslimit", 8, 8, 1, 0, -SZ_ECANON},
        {"kdf 0 with memlimit", 16, 8, 8192, 0, -SZ_ECANON},
        {"kdf 0 with salt", 24, 16, 1, 0, -SZ_ECANON},
        {"opslimit 0", 8, 8, 0, 1, -SZ_EINVAL},
        {"opslimit 16", 8, 8, 16, 1, 0},
        {"opslimit 17", 8, 8, 17, 1, -SZ_ETOOBIG},
        {"opslimit 2^64-1", 8, 8, UINT64_MAX, 1, -SZ_ETOOBIG},
        {"memlimit 8191", 16, 8, 8191, 1, -SZ_EINVAL},
        {"memlimit 0", 16, 8, 0, 1, -SZ_EINVAL},
        {"memlimit 8192", 16, 8, 8192, 1, 0},
        {"memlimit 2^30", 16, 8, 1ull << 30, 1, 0},
        {"memlimit 2^30+1", 16, 8, (1ull << 30) + 1, 1, -SZ_ETOOBIG},
        {"memlimit 2^63", 16, 8, 1ull << 63, 1, -SZ_ETOOBIG},
        {"kdf 1 salt may be anything", 24, 16, 0, 1, 0},
    };
    uint8_t pk[32], sk[64], files[2][SZ_SKFILE_LEN];
    (void)state;

    seed_keypair(PK_KATS[0].seed_hex, pk, sk);
    assert_int_equal(sz_skfile_seal(sk, NULL, 0, 0, 0, files[0]), 0);
    assert_int_equal(sz_skfile_seal(sk, "pw", 2, TEST_OPS, TEST_MEM, files[1]), 0);
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        uint8_t f[SZ_SKFILE_LEN];
        struct sz_skfile p;
        int rc;

        memcpy(f, files[cases[i].kdf], sizeof f);
        switch (cases[i].width) {
        case 1:
            f[cases[i].off] = (uint8_t)cases[i].value;
            break;
        case 2:
            sz_store16(f + cases[i].off, (uint16_t)cases[i].value);
            break;
        case 8:
            sz_store64(f + cases[i].off, cases[i].value);
            break;
        case 16:
            memset(f + cases[i].off, (int)cases[i].value, 16);
            break;
        }
        memset(&p, 0x33, sizeof p);
        rc = sz_skfile_parse(f, sizeof f, &p);
        if (rc != cases[i].want_parse)
            fail_msg("%s: parse rc %d, want %d", cases[i].what, rc, cases[i].want_parse);
        if (rc != 0) {
            assert_int_equal(p.kdf, 0x33); /* untouched */
        } else if (p.memlimit <= 32u << 20) {
            uint8_t out[64];
            /* The header is authenticated: the changed file no longer opens. */
            assert_int_equal(sz_skfile_open(&p, "pw", 2, out), -SZ_EPASS);
        }
    }
}

/* Kdf limits above the maximum are refused when writing, too. */
static void
test_skfile_seal_limits(void **state)
{
    uint8_t pk[32], sk[64], f[SZ_SKFILE_LEN], before[SZ_SKFILE_LEN];
    (void)state;

    seed_keypair(PK_KATS[0].seed_hex, pk, sk);
    memset(f, 0x44, sizeof f);
    memcpy(before, f, sizeof f);
    assert_int_equal(sz_skfile_seal(sk, "pw", 2, SZ_SKFILE_MAX_OPSLIMIT + 1, TEST_MEM, f),
                     -SZ_EINVAL);
    assert_int_equal(sz_skfile_seal(sk, "pw", 2, TEST_OPS, SZ_SKFILE_MAX_MEMLIMIT + 1, f),
                     -SZ_EINVAL);
    assert_int_equal(sz_skfile_seal(sk, "pw", 2, UINT64_MAX, UINT64_MAX, f), -SZ_EINVAL);
    assert_int_equal(sz_skfile_seal(sk, "pw", 2, TEST_OPS, 4096, f), -SZ_EINVAL);
    assert_memory_equal(f, before, sizeof f);
    /* The smallest limits the format allows work. */
    assert_int_equal(sz_skfile_seal(sk, "pw", 2, 1, 8192, f), 0);
    {
        struct sz_skfile p;
        uint8_t out[64];
        assert_int_equal(sz_skfile_parse(f, sizeof f, &p), 0);
        assert_int_equal(sz_skfile_open(&p, "pw", 2, out), 0);
        assert_memory_equal(out, sk, 64);
    }
}

/*
 * Every bit of a file without a passphrase, and one bit of every byte of a
 * file with one (Argon2id each time, so fewer), is covered: flipping it makes
 * parse or open fail.
 */
static void
flip_one(const uint8_t f[SZ_SKFILE_LEN], size_t byte, int bit, const char *pass)
{
    uint8_t g[SZ_SKFILE_LEN], out[64];
    struct sz_skfile p;
    int rc;

    memcpy(g, f, sizeof g);
    g[byte] ^= (uint8_t)(1u << bit);
    rc = sz_skfile_parse(g, sizeof g, &p);
    if (rc == 0) {
        memset(out, 0x55, sizeof out);
        rc = sz_skfile_open(&p, pass, pass != NULL ? strlen(pass) : 0, out);
        if (rc == 0)
            fail_msg("flipped bit %d of byte %zu accepted", bit, byte);
        assert_int_equal(out[0], 0x55);
        /* Past the plain header, damage reads as a wrong passphrase. */
        if (rc != -SZ_EPASS)
            fail_msg("flipped bit %d of byte %zu: open rc %d", bit, byte, rc);
    } else if (byte >= 40) {
        fail_msg("flipped bit %d of byte %zu refused by parse (%d)", bit, byte, rc);
    }
}

static void
test_skfile_bit_flips(void **state)
{
    uint8_t pk[32], sk[64], f[SZ_SKFILE_LEN];
    (void)state;

    seed_keypair(PK_KATS[0].seed_hex, pk, sk);
    assert_int_equal(sz_skfile_seal(sk, NULL, 0, 0, 0, f), 0);
    for (size_t byte = 0; byte < SZ_SKFILE_LEN; byte++)
        for (int bit = 0; bit < 8; bit++)
            flip_one(f, byte, bit, NULL);
    /* Bit 0 keeps flipped memlimits small (at most 24 MiB). */
    assert_int_equal(sz_skfile_seal(sk, "pw", 2, TEST_OPS, TEST_MEM, f), 0);
    for (size_t byte = 0; byte < SZ_SKFILE_LEN; byte++)
        flip_one(f, byte, 0, "pw");
}

static int
setup(void **state)
{
    (void)state;
    return sz_init();
}

/* The sequence record (BUNDLE.md 1.4): empty, or digits with one optional LF;
 * anything else is damaged, so that a packer never starts again at 1. */
static void
test_seq_record_parse(void **state)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t last;
    } cases[] = {
        {"", 0, 0},
        {"0\n", 0, 0},
        {"7", 0, 7},
        {"7\n", 0, 7},
        {"18446744073709551615\n", 0, UINT64_MAX},
        {"0000000000000000000000000000000000000000000000000000000000077\n", 0, 77},
        {"18446744073709551616\n", -SZ_EBADMSG, 0},
        {"\n", -SZ_EBADMSG, 0},
        {"\n\n \n", -SZ_EBADMSG, 0},
        {" 7\n", -SZ_EBADMSG, 0},
        {"7 \n", -SZ_EBADMSG, 0},
        {"7\n\n", -SZ_EBADMSG, 0},
        {"7\r\n", -SZ_EBADMSG, 0},
        {"+7\n", -SZ_EBADMSG, 0},
        {"-1\n", -SZ_EBADMSG, 0},
        {"7\n8\n", -SZ_EBADMSG, 0},
        {"00000000000000000000000000000000000000000000000000000000000000077\n", -SZ_EBADMSG, 0},
    };
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint64_t last = 12345;
        int rc = sz_seq_record_parse((const uint8_t *)cases[k].in, strlen(cases[k].in), &last);
        if (rc != cases[k].rc)
            fail_msg("case %zu ('%s'): %d, wanted %d", k, cases[k].in, rc, cases[k].rc);
        assert_int_equal(last, rc == 0 ? cases[k].last : 12345);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pk_kat),
        cmocka_unit_test(test_pk_round_trip),
        cmocka_unit_test(test_pk_every_substitution),
        cmocka_unit_test(test_pk_transpositions),
        cmocka_unit_test(test_pk_text_forms),
        cmocka_unit_test(test_pk_file),
        cmocka_unit_test(test_keypair),
        cmocka_unit_test(test_skfile_round_trip),
        cmocka_unit_test(test_skfile_handmade),
        cmocka_unit_test(test_skfile_mismatched_key),
        cmocka_unit_test(test_skfile_truncated),
        cmocka_unit_test(test_skfile_fields),
        cmocka_unit_test(test_skfile_seal_limits),
        cmocka_unit_test(test_skfile_bit_flips),
        cmocka_unit_test(test_seq_record_parse),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
