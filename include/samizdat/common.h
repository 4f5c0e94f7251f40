/* Error codes, limits and small helpers shared by every proto module. */
#ifndef SZ_INCLUDE_COMMON_H
#define SZ_INCLUDE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define SZ_VERSION_STRING "0.1.0"

/*
 * 2026-11-01T00:00:00Z, before this release was made: a clock reading earlier
 * is wrong (a dead clock battery, a board that boots before its time is
 * synchronised), and a bundle signed with it would be dated so.
 */
#define SZ_CLOCK_FLOOR ((int64_t)1793491200)

/*
 * Every proto function that can fail returns 0 or one of these codes, negated.
 * Outputs are left untouched on failure.
 */
enum sz_err {
    SZ_OK = 0,
    SZ_EBADMSG = 1,    /* malformed or truncated input */
    SZ_ETOOBIG = 2,    /* a length exceeds its limit */
    SZ_EAUTH = 3,      /* signature or MAC does not verify */
    SZ_ENOMEM = 4,     /* allocation failed */
    SZ_EVERSION = 5,   /* unknown format version */
    SZ_EINVAL = 6,     /* invalid argument or field value */
    SZ_EHASH = 7,      /* payload does not match the hash in the signed header */
    SZ_ELENGTH = 8,    /* payload does not inflate to its declared length */
    SZ_ECANON = 9,     /* non-canonical encoding */
    SZ_EBADID = 10,    /* unsafe article id or attachment name */
    SZ_EDUPID = 11,    /* duplicate article id or attachment name */
    SZ_ECHECKSUM = 12, /* text form checksum mismatch (mistyped key) */
    SZ_EPASS = 13,     /* wrong passphrase or damaged secret key file */
    SZ_EUTF8 = 14,     /* text is not valid UTF-8 */
    SZ_ECOMPRESS = 15, /* the compressor failed */
    SZ_ECRYPTO = 16,   /* a libsodium primitive failed (out of memory for Argon2id, ...) */
    SZ_ETRAILING = 17, /* bytes after the end of the encoded data */
    SZ_EBUSY = 18,     /* busy now (too many control connections): retry shortly */
};

/* Returns a static, human-readable description of `err` (positive or negative). */
const char *sz_strerror(int err);

/*
 * Initialises libsodium. Returns 0, or -SZ_ECRYPTO when libsodium cannot start.
 * Safe to call more than once; every program calls it before any other sz_ call.
 */
int sz_init(void);

#endif
