/*
 * Publisher keys: the one-line public key text form with a checksum, and the
 * passphrase-encrypted secret key file. Formats in proto/BUNDLE.md, "Keys".
 */
#ifndef SZ_INCLUDE_KEYS_H
#define SZ_INCLUDE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define SZ_PK_TEXT_PREFIX "szpk1"
#define SZ_PK_TEXT_LEN 63 /* "szpk1" + 58 base32 characters */
#define SZ_SKFILE_LEN 176
#define SZ_SKFILE_MAX_MEMLIMIT (1ull << 30)
#define SZ_SKFILE_MAX_OPSLIMIT 16ull

/* Writes the text form of pk (SZ_PK_TEXT_LEN characters plus NUL) into out. */
void sz_pk_to_text(const uint8_t pk[32], char out[SZ_PK_TEXT_LEN + 1]);

/*
 * Parses a public key text form. Leading and trailing ASCII white space is
 * ignored; the prefix is case-sensitive, base32 digits are not.
 * Returns 0 or -SZ_EBADMSG (not a key), -SZ_ECHECKSUM (mistyped key).
 */
int sz_pk_from_text(const char *s, size_t len, uint8_t pk[32]);

/*
 * Parses the contents of a public key file: its first line that is not blank
 * and does not start with '#' must be a text form; anything after it on the
 * line must be white space. Returns as sz_pk_from_text().
 */
int sz_pk_file_parse(const uint8_t *buf, size_t len, uint8_t pk[32]);

/* The plain fields of a secret key file, readable without the passphrase. */
struct sz_skfile {
    uint8_t kdf; /* 0: no passphrase, 1: Argon2id */
    uint64_t opslimit;
    uint64_t memlimit;
    uint8_t salt[16];
    uint8_t nonce[24];
    uint8_t public_key[32];
    uint8_t sealed[64 + 16]; /* XChaCha20-Poly1305 of the 64-byte secret key */
};

#define SZ_KDF_NONE 0
#define SZ_KDF_ARGON2ID 1

/*
 * Decodes a secret key file's structure (no cryptography). Refuses unknown
 * versions and KDF limits above SZ_SKFILE_MAX_*. Returns 0 or -SZ_EBADMSG,
 * -SZ_EVERSION, -SZ_ETOOBIG, -SZ_ECANON.
 */
int sz_skfile_parse(const uint8_t *buf, size_t len, struct sz_skfile *out);

/*
 * Decrypts a parsed file into sk (SZ_SECRET_KEY_LEN bytes, caller's memory,
 * ideally sodium_malloc'd). For SZ_KDF_NONE the passphrase is ignored. Checks
 * that the secret key matches the public key. Returns 0 or -SZ_EPASS,
 * -SZ_ECRYPTO.
 */
int sz_skfile_open(const struct sz_skfile *f, const char *pass, size_t pass_len, uint8_t *sk);

/*
 * Builds a secret key file for sk. With pass == NULL the file is not
 * encrypted with a passphrase (SZ_KDF_NONE). opslimit/memlimit of 0 pick
 * libsodium's MODERATE limits. Writes SZ_SKFILE_LEN bytes to out.
 * Returns 0 or -SZ_EINVAL, -SZ_ECRYPTO.
 */
int sz_skfile_seal(const uint8_t *sk, const char *pass, size_t pass_len, uint64_t opslimit,
                   uint64_t memlimit, uint8_t out[SZ_SKFILE_LEN]);

/* Makes a new Ed25519 key pair. sk is SZ_SECRET_KEY_LEN bytes. Returns 0. */
int sz_keypair(uint8_t pk[32], uint8_t *sk);

/*
 * The sequence record of the secret key file sk_path (the last sequence signed
 * with the key, kept beside it): "REAL.seq", REAL being the file sk_path names
 * once every symbolic link is followed, so that each name of the key finds one
 * record. When "sk_path.seq" is another name (sk_path is or passes through a
 * link), *legacy is that name, where earlier versions kept the record; else it
 * is empty. Writes at most cap bytes to each. Returns 0, or -1 with errno set
 * (the key file cannot be found, ENAMETOOLONG).
 */
int sz_seq_record_paths(const char *sk_path, char *canon, char *legacy, size_t cap);

/* The longest sequence record sz_seq_record_parse() reads; a longer file is damaged. */
#define SZ_SEQ_RECORD_MAX 64

/*
 * Reads a sequence record's bytes (BUNDLE.md 1.4): empty means none used
 * (*last = 0); else ASCII decimal digits, optionally followed by one LF, of a
 * number that fits in 64 bits. Anything else (white space, a sign, a second
 * line, more than SZ_SEQ_RECORD_MAX bytes) is damaged. Returns 0, or
 * -SZ_EBADMSG with *last untouched.
 */
int sz_seq_record_parse(const uint8_t *buf, size_t len, uint64_t *last);

#endif
