/* Publisher keys: public key text form, secret key file. Formats in BUNDLE.md. */
#include "samizdat/keys.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"

static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char PK_CHECKSUM_CONTEXT[] = "samizdat-pk-checksum-v1";
static const uint8_t SK_MAGIC[4] = {'S', 'Z', 'S', 'K'};
#define SK_VERSION 1
#define PK_RAW_LEN 36 /* key + 4 checksum bytes */
#define PK_B32_LEN 58 /* ceil(36 * 8 / 5) */
#define SK_AD_LEN 96  /* every byte before the sealed secret key */

static void
pk_checksum(const uint8_t pk[32], uint8_t out[4])
{
    crypto_generichash_state st;
    uint8_t h[32];

    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)PK_CHECKSUM_CONTEXT,
                              sizeof PK_CHECKSUM_CONTEXT - 1);
    crypto_generichash_update(&st, pk, 32);
    crypto_generichash_final(&st, h, sizeof h);
    memcpy(out, h, 4);
}

void
sz_pk_to_text(const uint8_t pk[32], char out[SZ_PK_TEXT_LEN + 1])
{
    uint8_t raw[PK_RAW_LEN];
    uint32_t acc = 0;
    int bits = 0;
    size_t i, o = sizeof SZ_PK_TEXT_PREFIX - 1;

    memcpy(raw, pk, 32);
    pk_checksum(pk, raw + 32);
    memcpy(out, SZ_PK_TEXT_PREFIX, o);
    for (i = 0; i < PK_RAW_LEN; i++) {
        acc = acc << 8 | raw[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = B32[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        out[o++] = B32[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

static int
b32_value(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int
sz_pk_from_text(const char *s, size_t len, uint8_t pk[32])
{
    const size_t plen = sizeof SZ_PK_TEXT_PREFIX - 1;
    uint8_t raw[PK_RAW_LEN], sum[4];
    uint32_t acc = 0;
    int bits = 0;
    size_t i, o = 0;

    while (len > 0 && is_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len != SZ_PK_TEXT_LEN)
        return -SZ_EBADMSG;
    /* Either case, as the digits (BUNDLE.md 3.1): SZPK1... from a form that
     * capitalises is the same key. */
    for (i = 0; i < plen; i++)
        if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]) != SZ_PK_TEXT_PREFIX[i])
            return -SZ_EBADMSG;
    for (i = plen; i < len; i++) {
        int v = b32_value(s[i]);
        if (v < 0)
            return -SZ_EBADMSG;
        acc = acc << 5 | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            raw[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* 58 digits carry 290 bits: the last 2 must be zero (one spelling per key). */
    if (o != PK_RAW_LEN || (acc & ((1u << bits) - 1)) != 0)
        return -SZ_EBADMSG;
    pk_checksum(raw, sum);
    if (sodium_memcmp(sum, raw + 32, 4) != 0)
        return -SZ_ECHECKSUM;
    memcpy(pk, raw, 32);
    return 0;
}

int
sz_pk_file_parse(const uint8_t *buf, size_t len, uint8_t pk[32])
{
    size_t i = 0;

    while (i < len) {
        size_t start = i, end;
        while (i < len && buf[i] != '\n')
            i++;
        end = i;
        if (i < len)
            i++;
        while (start < end && is_space((char)buf[start]))
            start++;
        if (start == end || buf[start] == '#')
            continue;
        return sz_pk_from_text((const char *)buf + start, end - start, pk);
    }
    return -SZ_EBADMSG;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;

    while (n-- > 0)
        acc |= *p++;
    return acc == 0;
}

static int skfile_parse(const uint8_t *buf, size_t len, struct sz_skfile *f);

/*
 * Without a passphrase the sealed key is the secret key under a known key:
 * the local copy is wiped whatever the outcome.
 */
int
sz_skfile_parse(const uint8_t *buf, size_t len, struct sz_skfile *out)
{
    struct sz_skfile f;
    int rc = skfile_parse(buf, len, &f);

    if (rc == 0)
        *out = f;
    sodium_memzero(&f, sizeof f);
    return rc;
}

static int
skfile_parse(const uint8_t *buf, size_t len, struct sz_skfile *f)
{
    uint8_t magic[4], version;
    uint16_t reserved;
    struct sz_rd r;

    memset(f, 0, sizeof *f);
    if (len < 8)
        return -SZ_EBADMSG;
    sz_rd_init(&r, buf, len);
    (void)sz_rd_copy(&r, magic, 4);
    (void)sz_rd_u8(&r, &version);
    if (memcmp(magic, SK_MAGIC, 4) != 0)
        return -SZ_EBADMSG;
    if (version != SK_VERSION)
        return -SZ_EVERSION;
    if (len < SZ_SKFILE_LEN)
        return -SZ_EBADMSG;
    if (len > SZ_SKFILE_LEN)
        return -SZ_ETRAILING;
    (void)sz_rd_u8(&r, &f->kdf);
    (void)sz_rd_u16(&r, &reserved);
    (void)sz_rd_u64(&r, &f->opslimit);
    (void)sz_rd_u64(&r, &f->memlimit);
    (void)sz_rd_copy(&r, f->salt, sizeof f->salt);
    (void)sz_rd_copy(&r, f->nonce, sizeof f->nonce);
    (void)sz_rd_copy(&r, f->public_key, sizeof f->public_key);
    (void)sz_rd_copy(&r, f->sealed, sizeof f->sealed);
    if (reserved != 0)
        return -SZ_ECANON;
    switch (f->kdf) {
    case SZ_KDF_NONE:
        if (f->opslimit != 0 || f->memlimit != 0 || !all_zero(f->salt, sizeof f->salt))
            return -SZ_ECANON;
        break;
    case SZ_KDF_ARGON2ID:
        if (f->opslimit > SZ_SKFILE_MAX_OPSLIMIT || f->memlimit > SZ_SKFILE_MAX_MEMLIMIT)
            return -SZ_ETOOBIG;
        if (f->opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
            f->memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN)
            return -SZ_EINVAL;
        break;
    default:
        return -SZ_EVERSION;
    }
    return 0;
}

/* The bytes the AEAD authenticates: the whole file before the sealed key. */
static void
sk_header(const struct sz_skfile *f, uint8_t out[SK_AD_LEN])
{
    memcpy(out, SK_MAGIC, 4);
    out[4] = SK_VERSION;
    out[5] = f->kdf;
    sz_store16(out + 6, 0);
    sz_store64(out + 8, f->opslimit);
    sz_store64(out + 16, f->memlimit);
    memcpy(out + 24, f->salt, 16);
    memcpy(out + 40, f->nonce, 24);
    memcpy(out + 64, f->public_key, 32);
}

/* Derives the wrapping key; an all-zero key for files without a passphrase. */
static int
derive_key(const struct sz_skfile *f, const char *pass, size_t pass_len, uint8_t key[32])
{
    if (f->kdf == SZ_KDF_NONE) {
        memset(key, 0, 32);
        return 0;
    }
    if (crypto_pwhash(key, 32, pass != NULL ? pass : "", pass != NULL ? pass_len : 0, f->salt,
                      f->opslimit, (size_t)f->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -SZ_ECRYPTO;
    return 0;
}

int
sz_skfile_open(const struct sz_skfile *f, const char *pass, size_t pass_len, uint8_t *sk)
{
    uint8_t key[32], ad[SK_AD_LEN], pk[32], plain[64];
    unsigned long long plain_len;
    int rc;

    sk_header(f, ad);
    rc = derive_key(f, pass, pass_len, key);
    if (rc != 0)
        goto out;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plain_len, NULL, f->sealed,
                                                   sizeof f->sealed, ad, sizeof ad, f->nonce,
                                                   key) != 0) {
        rc = -SZ_EPASS;
        goto out;
    }
    /* The secret key must be the seed of the public key the file names. */
    crypto_sign_ed25519_sk_to_pk(pk, plain);
    if (sodium_memcmp(pk, f->public_key, 32) != 0) {
        rc = -SZ_EPASS;
        goto out;
    }
    {
        uint8_t pk2[32], sk2[64];
        crypto_sign_seed_keypair(pk2, sk2, plain);
        rc = sodium_memcmp(pk2, f->public_key, 32) == 0 && sodium_memcmp(sk2, plain, 64) == 0
                 ? 0
                 : -SZ_EPASS;
        sodium_memzero(sk2, sizeof sk2);
    }
    if (rc == 0)
        memcpy(sk, plain, 64);
out:
    sodium_memzero(key, sizeof key);
    sodium_memzero(plain, sizeof plain);
    return rc;
}

int
sz_skfile_seal(const uint8_t *sk, const char *pass, size_t pass_len, uint64_t opslimit,
               uint64_t memlimit, uint8_t out[SZ_SKFILE_LEN])
{
    struct sz_skfile f;
    uint8_t key[32], ad[SK_AD_LEN];
    int rc;

    memset(&f, 0, sizeof f);
    f.kdf = pass != NULL ? SZ_KDF_ARGON2ID : SZ_KDF_NONE;
    if (f.kdf == SZ_KDF_ARGON2ID) {
        f.opslimit = opslimit != 0 ? opslimit : crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
        f.memlimit = memlimit != 0 ? memlimit : crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
        if (f.opslimit > SZ_SKFILE_MAX_OPSLIMIT || f.memlimit > SZ_SKFILE_MAX_MEMLIMIT ||
            f.opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
            f.memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN)
            return -SZ_EINVAL;
        randombytes_buf(f.salt, sizeof f.salt);
    }
    randombytes_buf(f.nonce, sizeof f.nonce);
    memcpy(f.public_key, sk + 32, 32);
    sk_header(&f, ad);
    rc = derive_key(&f, pass, pass_len, key);
    if (rc != 0)
        goto out;
    crypto_aead_xchacha20poly1305_ietf_encrypt(f.sealed, NULL, sk, 64, ad, sizeof ad, NULL, f.nonce,
                                               key);
    memcpy(out, ad, SK_AD_LEN);
    memcpy(out + SK_AD_LEN, f.sealed, sizeof f.sealed);
out:
    sodium_memzero(key, sizeof key);
    sodium_memzero(&f, sizeof f);
    return rc;
}

int
sz_keypair(uint8_t pk[32], uint8_t *sk)
{
    crypto_sign_keypair(pk, sk);
    return 0;
}

int
sz_seq_record_paths(const char *sk_path, char *canon, char *legacy, size_t cap)
{
    char real[PATH_MAX], dir[PATH_MAX], dir_real[PATH_MAX], joined[PATH_MAX + 8];
    const char *slash, *base;
    int n;

    if (sk_path == NULL || canon == NULL || legacy == NULL || cap == 0) {
        errno = EINVAL;
        return -1;
    }
    canon[0] = legacy[0] = '\0';
    if (realpath(sk_path, real) == NULL)
        return -1;
    /* The name given, its folder resolved: the same as REAL unless the key
     * itself is a link (or a name of a folder on the way is, which realpath
     * resolves alike in both). */
    slash = strrchr(sk_path, '/');
    base = slash != NULL ? slash + 1 : sk_path;
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == sk_path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - sk_path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - sk_path), sk_path);
    else {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (realpath(dir, dir_real) == NULL)
        return -1;
    snprintf(joined, sizeof joined, "%s%s%s.seq", dir_real, strcmp(dir_real, "/") == 0 ? "" : "/",
             base);
    n = snprintf(canon, cap, "%s.seq", real);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (strcmp(joined, canon) != 0) {
        n = snprintf(legacy, cap, "%s.seq", sk_path);
        if (n < 0 || (size_t)n >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
    }
    return 0;
}

int
sz_seq_record_parse(const uint8_t *buf, size_t len, uint64_t *last)
{
    uint64_t v = 0;

    if (len == 0) {
        *last = 0;
        return 0;
    }
    if (len > SZ_SEQ_RECORD_MAX)
        return -SZ_EBADMSG;
    if (buf[len - 1] == '\n')
        len--;
    if (len == 0)
        return -SZ_EBADMSG; /* a lone newline: not empty, and no number */
    for (size_t k = 0; k < len; k++) {
        if (buf[k] < '0' || buf[k] > '9')
            return -SZ_EBADMSG;
        if (v > (UINT64_MAX - (uint64_t)(buf[k] - '0')) / 10)
            return -SZ_EBADMSG;
        v = v * 10 + (uint64_t)(buf[k] - '0');
    }
    *last = v;
    return 0;
}
