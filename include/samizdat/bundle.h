/*
 * Bundles: a signed header that commits to a zstd-compressed article
 * container. Format in proto/BUNDLE.md. Verification never touches zstd;
 * decompression is bounded by the declared length and by a caller's cap.
 */
#ifndef SZ_INCLUDE_BUNDLE_H
#define SZ_INCLUDE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "samizdat/article.h"

#define SZ_BUNDLE_VERSION 1
#define SZ_BUNDLE_HEADER_LEN 104
#define SZ_BUNDLE_SIG_LEN 64
#define SZ_BUNDLE_PREFIX_LEN (SZ_BUNDLE_HEADER_LEN + SZ_BUNDLE_SIG_LEN)
#define SZ_BUNDLE_ID_LEN 32
#define SZ_PUBLIC_KEY_LEN 32
#define SZ_SECRET_KEY_LEN 64
/* Hard cap of the format: no valid bundle declares more uncompressed bytes. */
#define SZ_BUNDLE_MAX_CONTENT_LEN (1024ull << 20)
/* Default cap for readers (configurable per call). */
#define SZ_BUNDLE_DEFAULT_CONTENT_CAP (64ull << 20)
/* zstd window the decoder accepts (2^24 = 16 MiB). */
#define SZ_ZSTD_WINDOW_LOG_MAX 24
#define SZ_DEFAULT_LEVEL 19

/* The signed header, decoded. */
struct sz_bundle_header {
    uint8_t version;
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence;
    int64_t created;          /* seconds since the Unix epoch */
    uint64_t payload_len;     /* compressed bytes following the signature */
    uint64_t content_len;     /* declared uncompressed length */
    uint8_t payload_hash[32]; /* BLAKE2b-256 of the compressed payload */
};

/* A fully opened bundle: verified, decompressed and decoded. */
struct sz_bundle {
    struct sz_bundle_header hdr;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint8_t *content; /* the uncompressed container, owned */
    size_t content_len;
    struct sz_container *c; /* points into content */
};

/*
 * Decodes the structure of a bundle without any cryptography: version, reserved
 * fields, lengths (total must equal header + signature + payload exactly), and
 * computes the id. Use it to show an unverified bundle. `content_cap` bounds the
 * declared uncompressed length (0 means SZ_BUNDLE_DEFAULT_CONTENT_CAP).
 * Returns 0 or -SZ_EBADMSG, -SZ_EVERSION, -SZ_ETOOBIG, -SZ_ECANON.
 */
int sz_bundle_parse(const uint8_t *buf, size_t len, uint64_t content_cap,
                    struct sz_bundle_header *hdr, uint8_t id[SZ_BUNDLE_ID_LEN]);

/*
 * sz_bundle_parse() plus the Ed25519 signature over the domain-separated header
 * and the BLAKE2b payload hash. Never decompresses. The caller then decides
 * whether hdr->publisher is trusted. Returns 0 or the parse errors, -SZ_EAUTH,
 * -SZ_EHASH.
 */
int sz_bundle_verify(const uint8_t *buf, size_t len, uint64_t content_cap,
                     struct sz_bundle_header *hdr, uint8_t id[SZ_BUNDLE_ID_LEN]);

/*
 * Whether buf still holds the bundle whose id is `id`, as read back from a
 * store: its header parses (any declared length), its id is `id` and its
 * payload matches the header's hash. The signature is not checked again (it
 * was when the bundle came in; an Ed25519 check costs some 50 us, the hashes
 * about 1 us per KB), so damage to its 64 bytes alone is not seen. Returns 0,
 * the parse errors or -SZ_EHASH (another id, or the payload changed).
 */
int sz_bundle_check_stored(const uint8_t *buf, size_t len, const uint8_t id[SZ_BUNDLE_ID_LEN]);

/*
 * Checks the start of a bundle whose length is known to be total, before the
 * rest has come: the header as sz_bundle_parse() checks it (total must be
 * exactly header + signature + payload_len) and the Ed25519 signature, and
 * computes the id. buf holds at least SZ_BUNDLE_PREFIX_LEN bytes (len);
 * anything after the prefix is not looked at. The payload hash is checked
 * only once the whole bundle is there (sz_bundle_verify()). The header's
 * errors come first, as sz_bundle_parse() gives them. Returns 0 or
 * -SZ_EBADMSG (len below the prefix, or a total below the bundle's length),
 * -SZ_EVERSION, -SZ_ETOOBIG, -SZ_ECANON, -SZ_ETRAILING (a total above it),
 * -SZ_EAUTH.
 */
int sz_bundle_verify_prefix(const uint8_t *buf, size_t len, uint64_t total, uint64_t content_cap,
                            struct sz_bundle_header *hdr, uint8_t id[SZ_BUNDLE_ID_LEN]);

/*
 * sz_bundle_verify(), then decompression into exactly content_len bytes (never
 * more), then sz_container_decode(). On success *out is set; free it with
 * sz_bundle_free(). Returns 0 or the errors above, -SZ_ELENGTH, the container's
 * errors, -SZ_ENOMEM.
 */
int sz_bundle_open(const uint8_t *buf, size_t len, uint64_t content_cap, struct sz_bundle **out);

/*
 * Steps 8 and 9 of BUNDLE.md 1.3 for a bundle whose steps 1 to 7 the caller
 * has taken: buf must be bytes sz_bundle_verify() returned 0 for, unchanged
 * since, and their publisher one the caller trusts. The header is parsed
 * again (no cryptography); the signature and hash are not checked again.
 * Returns what sz_bundle_open() returns.
 */
int sz_bundle_open_verified(const uint8_t *buf, size_t len, uint64_t content_cap,
                            struct sz_bundle **out);

/*
 * A reusable zstd decompression context. Opening many small bundles with one
 * spares allocating and initialising a context per bundle. Used by one thread
 * at a time.
 */
struct sz_inflater;

/* Makes an inflater. Returns 0 or -SZ_ENOMEM. */
int sz_inflater_new(struct sz_inflater **out);

/* Frees an inflater (NULL is fine). */
void sz_inflater_free(struct sz_inflater *z);

/* sz_bundle_open() with a caller's inflater (NULL: a fresh context). */
int sz_bundle_open_with(const uint8_t *buf, size_t len, uint64_t content_cap, struct sz_inflater *z,
                        struct sz_bundle **out);

/*
 * Like sz_bundle_open() but WITHOUT checking the signature or the payload hash:
 * for showing what an untrusted bundle claims to hold. Decompression stays
 * bounded exactly as in sz_bundle_open(). Never use its result as trusted.
 */
int sz_bundle_inspect(const uint8_t *buf, size_t len, uint64_t content_cap, struct sz_bundle **out);

/* Frees an opened bundle (NULL is fine). */
void sz_bundle_free(struct sz_bundle *b);

/* What sz_bundle_seal() needs besides the content. */
struct sz_seal_params {
    const uint8_t *secret_key; /* SZ_SECRET_KEY_LEN bytes (seed || public key) */
    uint64_t sequence;
    int64_t created;
    int level; /* zstd level 1..19 */
};

/*
 * Compresses `content` (an encoded container), signs, and writes the bundle to
 * *out (malloc'd, caller frees). The id is written to id. Deterministic for the
 * same inputs. Returns 0 or -SZ_EINVAL, -SZ_ETOOBIG, -SZ_ECOMPRESS, -SZ_ENOMEM.
 */
int sz_bundle_seal(const struct sz_seal_params *p, const uint8_t *content, size_t content_len,
                   uint8_t **out, size_t *out_len, uint8_t id[SZ_BUNDLE_ID_LEN]);

/*
 * A compression context kept between bundles, for a caller that seals several
 * (a publishing daemon's burst): sz_bundle_seal_with() then spares making and
 * clearing zstd's workspace per bundle. The bundles are the same bytes as
 * sz_bundle_seal() makes. It holds the workspace of the largest level and
 * content used (tens of MB at level 19 for a large bundle) until freed. Used
 * by one thread at a time.
 */
struct sz_deflater;

/* Makes a deflater. Returns 0 or -SZ_ENOMEM. */
int sz_deflater_new(struct sz_deflater **out);

/* Frees a deflater (NULL is fine). */
void sz_deflater_free(struct sz_deflater *z);

/* sz_bundle_seal() with a caller's deflater (NULL: a fresh context). */
int sz_bundle_seal_with(const struct sz_seal_params *p, struct sz_deflater *z,
                        const uint8_t *content, size_t content_len, uint8_t **out, size_t *out_len,
                        uint8_t id[SZ_BUNDLE_ID_LEN]);

/* Writes an id as 64 lowercase hex characters plus NUL into out. */
void sz_bundle_id_hex(const uint8_t id[SZ_BUNDLE_ID_LEN], char out[2 * SZ_BUNDLE_ID_LEN + 1]);

#endif
