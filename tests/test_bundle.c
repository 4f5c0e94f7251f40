/*
 * Tests of proto/bundle.c against BUNDLE.md section 1: layout, the processing
 * rules in their order, signatures, ids, zstd frames and decompression bombs.
 * Bundles with a wrong field are built by hand here (header bytes per the spec,
 * signed with libsodium directly) so that only the field under test is wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>
#include <zstd.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MIB (1u << 20)
#define S(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

/* BUNDLE.md 1.2: the 19-byte context string and its NUL. */
static const uint8_t CONTEXT[19] = "samizdat-bundle-v1";

/* Keys from fixed seeds (the first is also test_keys.c's known-answer key). */
static uint8_t PUB_PK[32], PUB_SK[64], OTHER_PK[32], OTHER_SK[64];

static void
check_rc(int got, int want, const char *what, size_t idx)
{
    if (got != want)
        fail_msg("%s #%zu: rc %d (%s), want %d (%s)", what, idx, got, sz_strerror(got), want,
                 sz_strerror(want));
}

/* ---- building blocks ------------------------------------------------------- */

/* A small valid container: one article. */
static uint8_t *
small_content(size_t *len)
{
    struct sz_article a;
    uint8_t *out;

    memset(&a, 0, sizeof a);
    a.id = (struct sz_str)S("hello");
    a.title = (struct sz_str)S("Hello");
    a.published = 1724925600;
    a.ctype = SZ_CTYPE_PLAIN;
    a.body = (const uint8_t *)"Hello, world.\n";
    a.body_len = 14;
    assert_int_equal(sz_container_encode(&a, 1, &out, len), 0);
    return out;
}

/* A container of one plain-text article with this id, title and body; takes body. */
static uint8_t *
plain_content(const char *id, const char *title, uint8_t *body, size_t body_len, size_t *len)
{
    struct sz_article a;
    uint8_t *out;

    memset(&a, 0, sizeof a);
    a.id = (struct sz_str){id, strlen(id)};
    a.title = (struct sz_str){title, strlen(title)};
    a.ctype = SZ_CTYPE_PLAIN;
    a.body = body;
    a.body_len = body_len;
    assert_int_equal(sz_container_encode(&a, 1, &out, len), 0);
    free(body);
    return out;
}

/* A container of one article whose body is body_len bytes of 'a'. */
static uint8_t *
big_content(size_t body_len, size_t *len)
{
    uint8_t *body = malloc(body_len);

    assert_non_null(body);
    memset(body, 'a', body_len);
    return plain_content("big", "Big", body, body_len, len);
}

/* A container of one article whose body is body_len hex digits that compress poorly. */
static uint8_t *
noisy_content(size_t body_len, size_t *len)
{
    static const uint8_t seed[randombytes_SEEDBYTES] = {42};
    static const char digits[] = "0123456789abcdef";
    uint8_t *body = malloc(body_len);

    assert_non_null(body);
    randombytes_buf_deterministic(body, body_len, seed);
    for (size_t i = 0; i < body_len; i++)
        body[i] = (uint8_t)digits[body[i] & 15];
    return plain_content("noisy", "Noisy", body, body_len, len);
}

/* One zstd frame of src; content size written or not, optional checksum and window. */
static uint8_t *
zframe(const uint8_t *src, size_t len, int level, bool with_size, bool checksum, int window_log,
       size_t *out_len)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    size_t bound = ZSTD_compressBound(len), n;
    uint8_t *out = malloc(bound);

    assert_non_null(c);
    assert_non_null(out);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, with_size)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum)));
    if (window_log != 0)
        assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log)));
    n = ZSTD_compress2(c, out, bound, src, len);
    assert_false(ZSTD_isError(n));
    ZSTD_freeCCtx(c);
    *out_len = n;
    return out;
}

/*
 * A frame made of raw (stored) blocks, written byte by byte per RFC 8878: a
 * window descriptor of 2^window_log + mantissa/8 of it, or Single_Segment.
 */
static uint8_t *
raw_frame(const uint8_t *src, size_t len, int window_log, int mantissa, bool single,
          size_t *out_len)
{
    size_t block_max = 128 * 1024, cap = 18 + len + 3 * (len / 1024 + 2), o = 0, i = 0;
    uint8_t *f = malloc(cap);

    assert_non_null(f);
    sz_store32(f, 0xFD2FB528u);
    o = 4;
    f[o++] = (uint8_t)(0x80 | (single ? 0x20 : 0)); /* 4-byte Frame_Content_Size */
    if (!single) {
        f[o++] = (uint8_t)((window_log - 10) << 3 | mantissa);
        if (window_log < 17)
            block_max = (size_t)1 << window_log;
    }
    sz_store32(f + o, (uint32_t)len);
    o += 4;
    do {
        size_t n = len - i < block_max ? len - i : block_max;
        uint32_t bh = (uint32_t)(n << 3) | (i + n == len ? 1u : 0u); /* Raw_Block = 0 */
        f[o++] = (uint8_t)bh;
        f[o++] = (uint8_t)(bh >> 8);
        f[o++] = (uint8_t)(bh >> 16);
        memcpy(f + o, src + i, n);
        o += n;
        i += n;
    } while (i < len);
    assert_true(o <= cap);
    *out_len = o;
    return f;
}

/*
 * A frame of raw blocks of `block` bytes each (the last one shorter), in a
 * window of 2^window_log: with block above the smaller of the window and
 * 128 KiB, each block breaks RFC 8878's Block_Maximum_Size.
 */
static uint8_t *
sized_blocks_frame(const uint8_t *src, size_t len, int window_log, size_t block, size_t *out_len)
{
    size_t cap = 10 + len + 3 * (len / block + 1), o = 0, i = 0;
    uint8_t *f = malloc(cap);

    assert_non_null(f);
    sz_store32(f, 0xFD2FB528u);
    o = 4;
    f[o++] = 0x80; /* 4-byte Frame_Content_Size */
    f[o++] = (uint8_t)((window_log - 10) << 3);
    sz_store32(f + o, (uint32_t)len);
    o += 4;
    do {
        size_t n = len - i < block ? len - i : block;
        uint32_t bh = (uint32_t)(n << 3) | (i + n == len ? 1u : 0u); /* Raw_Block = 0 */
        f[o++] = (uint8_t)bh;
        f[o++] = (uint8_t)(bh >> 8);
        f[o++] = (uint8_t)(bh >> 16);
        memcpy(f + o, src + i, n);
        o += n;
        i += n;
    } while (i < len);
    assert_true(o <= cap);
    *out_len = o;
    return f;
}

/* Every header field, settable to anything; signed per BUNDLE.md 1.2. */
struct hand {
    uint8_t magic[4];
    uint8_t version, flags;
    uint16_t reserved;
    const uint8_t *publisher; /* NULL: the signer's */
    uint64_t sequence;
    int64_t created;
    uint64_t payload_len; /* UINT64_MAX: the real length */
    uint64_t content_len;
    bool bad_hash;
    const uint8_t *sign_sk; /* NULL: PUB_SK */
    const uint8_t *payload;
    size_t len;   /* of payload */
    size_t extra; /* bytes appended after the payload */
};

static void
hand_defaults(struct hand *h, const uint8_t *payload, size_t len, uint64_t content_len)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, "SZBN", 4);
    h->version = 1;
    h->sequence = 7;
    h->created = 1724925600;
    h->payload_len = UINT64_MAX;
    h->content_len = content_len;
    h->payload = payload;
    h->len = len;
}

static void
hand_header(const struct hand *h, uint8_t hdr[104])
{
    const uint8_t *sk = h->sign_sk != NULL ? h->sign_sk : PUB_SK;

    memcpy(hdr, h->magic, 4);
    hdr[4] = h->version;
    hdr[5] = h->flags;
    sz_store16(hdr + 6, h->reserved);
    memcpy(hdr + 8, h->publisher != NULL ? h->publisher : sk + 32, 32);
    sz_store64(hdr + 40, h->sequence);
    sz_store64(hdr + 48, (uint64_t)h->created);
    sz_store64(hdr + 56, h->payload_len == UINT64_MAX ? h->len : h->payload_len);
    sz_store64(hdr + 64, h->content_len);
    crypto_generichash(hdr + 72, 32, h->payload, h->len, NULL, 0);
    if (h->bad_hash)
        hdr[72] ^= 1;
}

static void
signed_message(const uint8_t hdr[104], uint8_t msg[123])
{
    memcpy(msg, CONTEXT, 19);
    memcpy(msg + 19, hdr, 104);
}

static uint8_t *
hand_build(const struct hand *h, size_t *out_len)
{
    size_t n = 168 + h->len + h->extra;
    uint8_t *b = calloc(1, n), msg[123];

    assert_non_null(b);
    hand_header(h, b);
    signed_message(b, msg);
    crypto_sign_detached(b + 104, NULL, msg, sizeof msg, h->sign_sk != NULL ? h->sign_sk : PUB_SK);
    if (h->len > 0)
        memcpy(b + 168, h->payload, h->len);
    *out_len = n;
    return b;
}

/* Re-signs a bundle in place after its header was edited. */
static void
resign(uint8_t *b, const uint8_t *sk)
{
    uint8_t msg[123];

    signed_message(b, msg);
    crypto_sign_detached(b + 104, NULL, msg, sizeof msg, sk);
}

static uint8_t *
seal(const uint8_t *content, size_t len, int level, size_t *out_len, uint8_t id[32])
{
    struct sz_seal_params p = {PUB_SK, 7, 1724925600, level};
    uint8_t *b = NULL, tmp[32];

    assert_int_equal(sz_bundle_seal(&p, content, len, &b, out_len, id != NULL ? id : tmp), 0);
    return b;
}

/* sz_bundle_open on an exact-size copy (so ASan sees any over-read). */
static int
open_copy(const uint8_t *b, size_t len, uint64_t cap)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    struct sz_bundle *out = (struct sz_bundle *)&copy;
    int rc;

    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, b, len);
    rc = sz_bundle_open(copy, len, cap, &out);
    if (rc == 0)
        sz_bundle_free(out);
    else
        assert_ptr_equal(out, (struct sz_bundle *)&copy); /* untouched */
    free(copy);
    return rc;
}

/*
 * sz_bundle_verify_prefix on an exact-size copy of the first n bytes (so ASan
 * sees any read past them). On failure hdr and id must be untouched.
 */
static int
prefix_copy(const uint8_t *b, size_t n, uint64_t total, struct sz_bundle_header *hdr,
            uint8_t id[32])
{
    uint8_t *copy = malloc(n > 0 ? n : 1), mark[32];
    struct sz_bundle_header h;
    int rc;

    assert_non_null(copy);
    if (n > 0)
        memcpy(copy, b, n);
    memset(&h, 0x5a, sizeof h);
    memset(mark, 0x5a, sizeof mark);
    rc = sz_bundle_verify_prefix(copy, n, total, 0, &h, mark);
    if (rc != 0) {
        assert_int_equal(h.version, 0x5a);
        assert_true(h.payload_len == 0x5a5a5a5a5a5a5a5aull);
        for (size_t i = 0; i < sizeof mark; i++)
            assert_int_equal(mark[i], 0x5a);
    } else {
        if (hdr != NULL)
            *hdr = h;
        if (id != NULL)
            memcpy(id, mark, sizeof mark);
    }
    free(copy);
    return rc;
}

static void
assert_hdr_equal(const struct sz_bundle_header *a, const struct sz_bundle_header *b)
{
    assert_int_equal(a->version, b->version);
    assert_memory_equal(a->publisher, b->publisher, 32);
    assert_true(a->sequence == b->sequence);
    assert_true(a->created == b->created);
    assert_true(a->payload_len == b->payload_len);
    assert_true(a->content_len == b->content_len);
    assert_memory_equal(a->payload_hash, b->payload_hash, 32);
}

/* ---- decompression bombs (first: they measure the process's peak RSS) ----- */

static long
peak_rss_kib(void)
{
    struct rusage ru;

    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

/*
 * A hand-made frame: 4096 RLE blocks of 128 KiB of zeros, 512 MiB in all, in
 * 16 KiB, whose header may declare a content size (fcs) or not.
 */
static uint8_t *
rle_bomb(bool with_fcs, uint32_t fcs, size_t *out_len)
{
    const size_t n_blocks = 4096, block = 128 * 1024;
    uint8_t *f = malloc(10 + 4 * n_blocks);
    size_t o = 0;

    assert_non_null(f);
    sz_store32(f, 0xFD2FB528u);
    o = 4;
    f[o++] = with_fcs ? 0x80 : 0x00; /* FCS field of 4 bytes, or none */
    f[o++] = (17 - 10) << 3;         /* window 128 KiB */
    if (with_fcs) {
        sz_store32(f + o, fcs);
        o += 4;
    }
    for (size_t i = 0; i < n_blocks; i++) {
        uint32_t bh = (uint32_t)(block << 3) | 1u << 1 | (i + 1 == n_blocks ? 1u : 0u);
        f[o++] = (uint8_t)bh;
        f[o++] = (uint8_t)(bh >> 8);
        f[o++] = (uint8_t)(bh >> 16);
        f[o++] = 0;
    }
    *out_len = o;
    return f;
}

/* Streams a frame through zstd with a small buffer: how many bytes it really makes. */
static uint64_t
inflated_size(const uint8_t *f, size_t len)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    static uint8_t buf[128 * 1024];
    ZSTD_inBuffer in = {f, len, 0};
    uint64_t total = 0;
    size_t rc;

    assert_non_null(d);
    do {
        ZSTD_outBuffer out = {buf, sizeof buf, 0};
        rc = ZSTD_decompressStream(d, &out, &in);
        assert_false(ZSTD_isError(rc));
        total += out.pos;
    } while (rc != 0);
    ZSTD_freeDCtx(d);
    return total;
}

/* Signs a bundle around a bomb frame and checks it is refused within a few MiB. */
static void
check_bomb(const uint8_t *frame, size_t frame_len, uint64_t content_len, int want)
{
    struct hand h;
    struct sz_bundle *b = NULL;
    uint8_t *bundle;
    size_t len;
    long before, after;
    int rc;

    hand_defaults(&h, frame, frame_len, content_len);
    bundle = hand_build(&h, &len);
    /* The signature and hash are right: only decompression can refuse it. */
    assert_int_equal(sz_bundle_verify(bundle, len, 0, NULL, NULL), 0);
    before = peak_rss_kib();
    rc = sz_bundle_open(bundle, len, 0, &b);
    after = peak_rss_kib();
    check_rc(rc, want, "bomb", (size_t)content_len);
    assert_null(b);
    if (after - before > 4096)
        fail_msg("peak RSS grew by %ld KiB while refusing a bomb", after - before);
    free(bundle);
}

static void
test_bomb_rle(void **state)
{
    uint8_t *f;
    size_t len;
    (void)state;

    /* Frame_Content_Size says 64 KiB, like the signed header; the data says 512 MiB. */
    f = rle_bomb(true, 65536, &len);
    assert_true(len < ZSTD_COMPRESSBOUND(65536));
    check_bomb(f, len, 65536, -SZ_ELENGTH);
    free(f);

    /* The same without a content size: refused before any decompression. */
    f = rle_bomb(false, 0, &len);
    assert_true(inflated_size(f, len) == 512ull * MIB); /* it really is a bomb */
    check_bomb(f, len, 65536, -SZ_EBADMSG);
    free(f);

    /* An honest content size of 512 MiB that the header does not declare. */
    f = rle_bomb(true, 512u * MIB, &len);
    check_bomb(f, len, 65536, -SZ_ELENGTH);
    free(f);
}

/*
 * The same made by the compressor: ZSTD_compressStream2 fed 512 blocks of
 * 1 MiB of zeros without a content size, then a 4-byte Frame_Content_Size of
 * content_len spliced into its header.
 */
static void
test_bomb_streamed(void **state)
{
    uint8_t *zeros = calloc(1, MIB), *f, *g;
    size_t cap = 64 * 1024, len = 0, hdr;
    ZSTD_CCtx *c = ZSTD_createCCtx();
    (void)state;

    assert_non_null(zeros);
    assert_non_null(c);
    f = malloc(cap);
    assert_non_null(f);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)));
    for (int i = 0; i < 512; i++) {
        ZSTD_inBuffer in = {zeros, MIB, 0};
        ZSTD_EndDirective end = i == 511 ? ZSTD_e_end : ZSTD_e_continue;
        size_t rc;
        do {
            ZSTD_outBuffer out = {f, cap, len};
            rc = ZSTD_compressStream2(c, &out, &in, end);
            assert_false(ZSTD_isError(rc));
            len = out.pos;
            assert_true(len < cap);
        } while (end == ZSTD_e_end ? rc != 0 : in.pos < in.size);
    }
    ZSTD_freeCCtx(c);
    free(zeros);
    assert_true(inflated_size(f, len) == 512ull * MIB);
    /* Header: magic, descriptor without FCS nor Single_Segment, window descriptor. */
    assert_int_equal(f[4] & 0xe3, 0);
    hdr = 6;
    g = malloc(len + 4);
    assert_non_null(g);
    memcpy(g, f, hdr);
    g[4] |= 0x80;
    sz_store32(g + hdr, 100000);
    memcpy(g + hdr + 4, f + hdr, len - hdr);
    assert_true(len + 4 <= ZSTD_COMPRESSBOUND(100000));
    check_bomb(g, len + 4, 100000, -SZ_ELENGTH);
    check_bomb(f, len, 100000, -SZ_EBADMSG);
    free(g);
    free(f);

    /* Control: the measurement does see a real allocation of 64 MiB. */
    {
        long before = peak_rss_kib();
        volatile uint8_t *big = malloc(64 * MIB);
        assert_non_null((void *)big);
        memset((void *)big, 1, 64 * MIB);
        assert_true(peak_rss_kib() - before > 32 * 1024);
        free((void *)big);
    }
}

/* ---- known answers ----------------------------------------------------------- */

/*
 * A header built by hand and, independently, by Python (cryptography's Ed25519,
 * hashlib.blake2b): publisher = the key of seed 00..1f, sequence 1, created
 * 1724925600, payload_len 1, content_len 30, payload the byte 00.
 */
static const char KAT_ID[] = "c558d3147701334e070c49f2279b40a37134cbb1bb3ce2a8574a38a33d69b5b7";
static const char KAT_SIG[] = "bcbae004f7e97d65875a52c28bd4224a94f72529d469f0fcef05e41bb89c9470"
                              "f03dd5531d3607250096ed179e98e62f4c5ac0bf341ed4290dbeba41d529900b";

static void
test_kat(void **state)
{
    static const uint8_t payload[1] = {0};
    struct sz_bundle_header hdr;
    struct hand h;
    uint8_t *b, id[32], sig[64], msg[123];
    char hex[65];
    size_t len;
    (void)state;

    hand_defaults(&h, payload, 1, 30);
    h.sequence = 1;
    b = hand_build(&h, &len);
    assert_int_equal(len, 169);
    assert_int_equal(sz_unhex(KAT_SIG, 128, sig, 64), 0);
    assert_memory_equal(b + 104, sig, 64);
    signed_message(b, msg);
    assert_memory_equal(msg, "samizdat-bundle-v1\0SZBN\x01\0\0\0", 27);

    memset(id, 0, sizeof id);
    assert_int_equal(sz_bundle_parse(b, len, 0, &hdr, id), 0);
    sz_bundle_id_hex(id, hex);
    assert_string_equal(hex, KAT_ID);
    assert_int_equal(hdr.version, 1);
    assert_memory_equal(hdr.publisher, PUB_PK, 32);
    assert_true(hdr.sequence == 1);
    assert_true(hdr.created == 1724925600);
    assert_true(hdr.payload_len == 1);
    assert_true(hdr.content_len == 30);
    memset(id, 0, sizeof id);
    assert_int_equal(sz_bundle_verify(b, len, 0, &hdr, id), 0);
    sz_bundle_id_hex(id, hex);
    assert_string_equal(hex, KAT_ID);
    /* A lone zero byte is not a zstd frame. */
    assert_int_equal(open_copy(b, len, 0), -SZ_EBADMSG);
    free(b);
}

static void
test_id_hex(void **state)
{
    uint8_t id[32];
    char hex[65];
    (void)state;

    for (int i = 0; i < 32; i++)
        id[i] = (uint8_t)(i * 8 + 7);
    memset(hex, 'X', sizeof hex);
    sz_bundle_id_hex(id, hex);
    assert_string_equal(hex, "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
}

/* ---- round trips ----------------------------------------------------------- */

static void
test_round_trip(void **state)
{
    static const int levels[] = {1, 3, 19};
    size_t clen;
    uint8_t *content = small_content(&clen);
    (void)state;

    for (size_t i = 0; i < N_ELEMS(levels); i++) {
        struct sz_bundle *ob = NULL;
        struct sz_bundle_header hdr;
        uint8_t *b, *b2, id[32], id2[32], pid[32], want[32], msg[123];
        size_t len, len2;
        unsigned long long fcs;

        b = seal(content, clen, levels[i], &len, id);
        /* Layout, byte by byte. */
        assert_memory_equal(b, "SZBN", 4);
        assert_int_equal(b[4], 1);
        assert_int_equal(b[5], 0);
        assert_int_equal(sz_load16(b + 6), 0);
        assert_memory_equal(b + 8, PUB_PK, 32);
        assert_true(sz_load64(b + 40) == 7);
        assert_true(sz_load64(b + 48) == 1724925600);
        assert_true(sz_load64(b + 56) == len - 168);
        assert_true(sz_load64(b + 64) == clen);
        crypto_generichash(want, 32, b + 168, len - 168, NULL, 0);
        assert_memory_equal(b + 72, want, 32);
        /* The signature is Ed25519 over context || header; the id its BLAKE2b. */
        signed_message(b, msg);
        assert_int_equal(crypto_sign_verify_detached(b + 104, msg, 123, PUB_PK), 0);
        crypto_generichash(want, 32, msg, 123, NULL, 0);
        assert_memory_equal(id, want, 32);
        /* The payload: one frame, with the content size, without a checksum. */
        fcs = ZSTD_getFrameContentSize(b + 168, len - 168);
        assert_true(fcs == clen);
        assert_int_equal(ZSTD_findFrameCompressedSize(b + 168, len - 168), len - 168);
        assert_int_equal(b[168 + 4] & 0x04, 0);

        assert_int_equal(sz_bundle_parse(b, len, 0, &hdr, pid), 0);
        assert_memory_equal(pid, id, 32);
        assert_int_equal(sz_bundle_verify(b, len, 0, &hdr, pid), 0);
        assert_memory_equal(pid, id, 32);
        assert_int_equal(sz_bundle_open(b, len, 0, &ob), 0);
        assert_memory_equal(ob->id, id, 32);
        assert_memory_equal(ob->hdr.publisher, PUB_PK, 32);
        assert_int_equal(ob->content_len, clen);
        assert_memory_equal(ob->content, content, clen);
        assert_int_equal(ob->c->n_articles, 1);
        assert_memory_equal(ob->c->articles[0].id.p, "hello", 5);
        sz_bundle_free(ob);
        sz_bundle_free(NULL);
        /* Once verified, opened without verifying again: the same bundle. */
        assert_int_equal(sz_bundle_open_verified(b, len, 0, &ob), 0);
        assert_memory_equal(ob->id, id, 32);
        assert_int_equal(ob->content_len, clen);
        assert_memory_equal(ob->content, content, clen);
        sz_bundle_free(ob);
        /* Its header is still parsed: a cut bundle is not read past its end. */
        assert_int_equal(sz_bundle_open_verified(b, len - 1, 0, &ob), -SZ_EBADMSG);

        /* Deterministic. */
        b2 = seal(content, clen, levels[i], &len2, id2);
        assert_int_equal(len2, len);
        assert_memory_equal(b2, b, len);
        assert_memory_equal(id2, id, 32);
        free(b2);
        free(b);
    }
    /* The id changes with every signed field. */
    {
        struct sz_seal_params p = {PUB_SK, 7, 1724925600, 19};
        uint8_t *b, id0[32], id1[32];
        size_t len;
        assert_int_equal(sz_bundle_seal(&p, content, clen, &b, &len, id0), 0);
        free(b);
        p.sequence = 8;
        assert_int_equal(sz_bundle_seal(&p, content, clen, &b, &len, id1), 0);
        assert_memory_not_equal(id0, id1, 32);
        free(b);
        p.sequence = 7;
        p.created = 1724925601;
        assert_int_equal(sz_bundle_seal(&p, content, clen, &b, &len, id1), 0);
        assert_memory_not_equal(id0, id1, 32);
        free(b);
        p.created = 1724925600;
        p.secret_key = OTHER_SK;
        assert_int_equal(sz_bundle_seal(&p, content, clen, &b, &len, id1), 0);
        assert_memory_not_equal(id0, id1, 32);
        /* Another publisher's bundle opens; trusting it is the caller's business. */
        {
            struct sz_bundle *ob;
            assert_int_equal(sz_bundle_open(b, len, 0, &ob), 0);
            assert_memory_equal(ob->hdr.publisher, OTHER_PK, 32);
            sz_bundle_free(ob);
        }
        free(b);
    }
    free(content);
}

/* Many articles, a larger body: still opens, and the cap is exact. */
static void
test_round_trip_big(void **state)
{
    size_t clen, len;
    uint8_t *content = big_content(3 * MIB, &clen), *b;
    struct sz_bundle *ob;
    (void)state;

    b = seal(content, clen, 3, &len, NULL);
    assert_int_equal(sz_bundle_open(b, len, clen, &ob), 0);
    assert_int_equal(ob->c->articles[0].body_len, 3 * MIB);
    sz_bundle_free(ob);
    assert_int_equal(open_copy(b, len, clen - 1), -SZ_ETOOBIG);
    assert_int_equal(open_copy(b, len, 0), 0);
    assert_int_equal(open_copy(b, len, UINT64_MAX), 0);
    free(b);
    free(content);
}

/*
 * One deflater kept across bundles of other sizes and levels makes, each
 * time, the bytes a fresh context makes: nothing of the previous bundle (its
 * level, window, tables) carries over.
 */
static void
test_seal_with_deflater(void **state)
{
    static const int levels[] = {19, 1, 3, 19, 3, 1};
    struct sz_deflater *z = NULL;
    uint8_t *contents[3];
    size_t lens[3];
    (void)state;

    contents[0] = small_content(&lens[0]);
    contents[1] = noisy_content(300 * 1024, &lens[1]);
    contents[2] = big_content(200 * 1024, &lens[2]);
    assert_int_equal(sz_deflater_new(&z), 0);
    for (size_t k = 0; k < 3 * N_ELEMS(levels); k++) {
        struct sz_seal_params p = {PUB_SK, 7 + k, 1724925600, levels[k % N_ELEMS(levels)]};
        size_t c = (k * 7) % 3, len, len2;
        uint8_t *b, *b2, id[32], id2[32];

        assert_int_equal(sz_bundle_seal(&p, contents[c], lens[c], &b, &len, id), 0);
        assert_int_equal(sz_bundle_seal_with(&p, z, contents[c], lens[c], &b2, &len2, id2), 0);
        if (len2 != len || memcmp(b2, b, len) != 0 || memcmp(id2, id, 32) != 0)
            fail_msg("bundle %zu (content %zu, level %d) differs with a kept deflater", k, c,
                     p.level);
        free(b);
        free(b2);
    }
    /* Refusals leave it usable. */
    {
        struct sz_seal_params p = {PUB_SK, 1, 1724925600, 20};
        uint8_t *b = NULL, id[32];
        size_t len;
        assert_int_equal(sz_bundle_seal_with(&p, z, contents[0], lens[0], &b, &len, id),
                         -SZ_EINVAL);
        p.level = 3;
        assert_int_equal(sz_bundle_seal_with(&p, z, contents[0], lens[0], &b, &len, id), 0);
        free(b);
    }
    sz_deflater_free(z);
    sz_deflater_free(NULL);
    for (size_t c = 0; c < 3; c++)
        free(contents[c]);
}

static void
test_seal_errors(void **state)
{
    size_t clen;
    uint8_t *content = small_content(&clen), *out = (uint8_t *)"untouched", id[32];
    size_t out_len = 99;
    struct sz_seal_params p = {PUB_SK, 1, 0, 0};
    static const int bad_levels[] = {0, -1, 20, 22, 100};
    (void)state;

    for (size_t i = 0; i < N_ELEMS(bad_levels); i++) {
        p.level = bad_levels[i];
        check_rc(sz_bundle_seal(&p, content, clen, &out, &out_len, id), -SZ_EINVAL, "level", i);
    }
    p.level = 19;
    assert_int_equal(sz_bundle_seal(&p, content, 29, &out, &out_len, id), -SZ_EINVAL);
    assert_int_equal(sz_bundle_seal(&p, content, 0, &out, &out_len, id), -SZ_EINVAL);
    assert_string_equal((const char *)out, "untouched");
    assert_int_equal(out_len, 99);
    free(content);
}

/* ---- structure: truncation, trailing bytes, header fields --------------------- */

static void
test_truncated(void **state)
{
    size_t clen, len;
    uint8_t *content = small_content(&clen), *b = seal(content, clen, 19, &len, NULL);
    (void)state;

    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n > 0 ? n : 1);
        struct sz_bundle_header hdr;
        uint8_t id[32];

        assert_non_null(copy);
        memcpy(copy, b, n);
        memset(&hdr, 0x5a, sizeof hdr);
        memset(id, 0x5a, sizeof id);
        check_rc(sz_bundle_parse(copy, n, 0, &hdr, id), -SZ_EBADMSG, "parse prefix", n);
        check_rc(sz_bundle_verify(copy, n, 0, &hdr, id), -SZ_EBADMSG, "verify prefix", n);
        assert_int_equal(hdr.version, 0x5a);
        assert_int_equal(id[0], 0x5a);
        free(copy);
        check_rc(open_copy(b, n, 0), -SZ_EBADMSG, "open prefix", n);
    }
    free(b);
    free(content);
}

static void
test_trailing(void **state)
{
    size_t clen, len;
    uint8_t *content = small_content(&clen), *b = seal(content, clen, 19, &len, NULL);
    uint8_t *longer = calloc(1, len + 100);
    (void)state;

    assert_non_null(longer);
    memcpy(longer, b, len);
    for (size_t extra = 1; extra <= 100; extra++) {
        check_rc(sz_bundle_parse(longer, len + extra, 0, NULL, NULL), -SZ_ETRAILING, "parse",
                 extra);
        check_rc(open_copy(longer, len + extra, 0), -SZ_ETRAILING, "open", extra);
    }
    /* Even when the extra bytes are a copy of the payload. */
    memcpy(longer + len, b + 168, len - 168);
    assert_int_equal(open_copy(longer, len + (len - 168), 0), -SZ_ETRAILING);
    free(longer);
    free(b);
    free(content);
}

struct field_case {
    const char *what;
    size_t off;
    int width;
    uint64_t value;
    int want;
};

/*
 * Header fields set to wrong values, re-signed so that the signature is valid
 * and only the field is wrong (BUNDLE.md 1.3 steps 1 to 4).
 */
static void
test_header_fields(void **state)
{
    size_t clen, len;
    uint8_t *content = small_content(&clen), *b = seal(content, clen, 19, &len, NULL);
    const uint64_t plen = len - 168;
    const struct field_case cases[] = {
        {"magic S", 0, 1, 's', -SZ_EBADMSG},
        {"magic N", 3, 1, 'M', -SZ_EBADMSG},
        {"version 0", 4, 1, 0, -SZ_EVERSION},
        {"version 2", 4, 1, 2, -SZ_EVERSION},
        {"version 255", 4, 1, 255, -SZ_EVERSION},
        {"flags 1", 5, 1, 1, -SZ_ECANON},
        {"flags 0x80", 5, 1, 0x80, -SZ_ECANON},
        {"reserved 1", 6, 2, 1, -SZ_ECANON},
        {"reserved 0x8000", 6, 2, 0x8000, -SZ_ECANON},
        {"content_len 0", 64, 8, 0, -SZ_EBADMSG},
        {"content_len 29", 64, 8, 29, -SZ_EBADMSG},
        {"content_len 64 MiB + 1", 64, 8, SZ_BUNDLE_DEFAULT_CONTENT_CAP + 1, -SZ_ETOOBIG},
        {"content_len 1 GiB + 1", 64, 8, SZ_BUNDLE_MAX_CONTENT_LEN + 1, -SZ_ETOOBIG},
        {"content_len 2^64-1", 64, 8, UINT64_MAX, -SZ_ETOOBIG},
        {"content_len -1 (wrong, within bounds)", 64, 8, clen - 1, -SZ_ELENGTH},
        {"content_len +1 (wrong, within bounds)", 64, 8, clen + 1, -SZ_ELENGTH},
        {"payload_len 0", 56, 8, 0, -SZ_EBADMSG},
        {"payload_len - 1", 56, 8, plen - 1, -SZ_ETRAILING},
        {"payload_len 1", 56, 8, 1, -SZ_ETRAILING},
        {"payload_len + 1", 56, 8, plen + 1, -SZ_EBADMSG},
        {"payload_len compressbound", 56, 8, ZSTD_COMPRESSBOUND(clen), -SZ_EBADMSG},
        {"payload_len compressbound + 1", 56, 8, ZSTD_COMPRESSBOUND(clen) + 1, -SZ_ETOOBIG},
        {"payload_len 2^64-1", 56, 8, UINT64_MAX, -SZ_ETOOBIG},
        {"payload_len 2^63", 56, 8, 1ull << 63, -SZ_ETOOBIG},
        {"sequence 0", 40, 8, 0, 0},
        {"sequence 2^64-1", 40, 8, UINT64_MAX, 0},
        {"created -1", 48, 8, UINT64_MAX, 0},
        {"created 2^63-1", 48, 8, INT64_MAX, 0},
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        uint8_t *c = malloc(len);
        struct sz_bundle_header hdr;
        int rc;

        assert_non_null(c);
        memcpy(c, b, len);
        switch (cases[i].width) {
        case 1:
            c[cases[i].off] = (uint8_t)cases[i].value;
            break;
        case 2:
            sz_store16(c + cases[i].off, (uint16_t)cases[i].value);
            break;
        case 8:
            sz_store64(c + cases[i].off, cases[i].value);
            break;
        }
        resign(c, PUB_SK);
        rc = open_copy(c, len, 0);
        if (rc != cases[i].want)
            fail_msg("%s: open rc %d (%s), want %d", cases[i].what, rc, sz_strerror(rc),
                     cases[i].want);
        /* Steps 1 to 4 need no key: parse says the same. */
        rc = sz_bundle_parse(c, len, 0, &hdr, NULL);
        if (cases[i].want != -SZ_ELENGTH && rc != cases[i].want)
            fail_msg("%s: parse rc %d, want %d", cases[i].what, rc, cases[i].want);
        /* And so does the prefix alone, given the whole length (the frame is not its business). */
        rc = prefix_copy(c, SZ_BUNDLE_PREFIX_LEN, len, NULL, NULL);
        if (rc != (cases[i].want == -SZ_ELENGTH ? 0 : cases[i].want))
            fail_msg("%s: verify_prefix rc %d, want %d", cases[i].what, rc, cases[i].want);
        if (rc == 0 && cases[i].width == 8 && cases[i].off == 48)
            assert_true((uint64_t)hdr.created == cases[i].value);
        free(c);
    }
    free(b);
    free(content);
}

/* BUNDLE.md 1.3: the first failing check names the error. */
static void
test_check_order(void **state)
{
    size_t clen, len;
    uint8_t *content = small_content(&clen), *b = seal(content, clen, 19, &len, NULL);
    uint8_t *c = malloc(len + 1);
    (void)state;

    assert_non_null(c);
    /* Wrong magic beats everything. */
    memcpy(c, b, len);
    c[0] = 'X';
    c[4] = 9;
    c[5] = 1;
    assert_int_equal(sz_bundle_parse(c, len, 0, NULL, NULL), -SZ_EBADMSG);
    /* Version before flags. */
    c[0] = 'S';
    assert_int_equal(sz_bundle_parse(c, len, 0, NULL, NULL), -SZ_EVERSION);
    /* Flags before lengths. */
    c[4] = 1;
    sz_store64(c + 64, UINT64_MAX);
    assert_int_equal(sz_bundle_parse(c, len, 0, NULL, NULL), -SZ_ECANON);
    /* Cap before the lower bound and the total length. */
    c[5] = 0;
    assert_int_equal(sz_bundle_parse(c, len - 1, 0, NULL, NULL), -SZ_ETOOBIG);
    /* Lengths before the signature (the header changed, the signature did not). */
    memcpy(c, b, len);
    c[len] = 0;
    assert_int_equal(sz_bundle_verify(c, len + 1, 0, NULL, NULL), -SZ_ETRAILING);
    /* Signature before hash: a changed payload with a bad signature is EAUTH. */
    c[len - 1] ^= 1;
    c[104] ^= 1;
    assert_int_equal(sz_bundle_verify(c, len, 0, NULL, NULL), -SZ_EAUTH);
    c[104] ^= 1;
    assert_int_equal(sz_bundle_verify(c, len, 0, NULL, NULL), -SZ_EHASH);
    free(c);
    free(b);
    free(content);
}

/* The reader's cap, and the format's hard cap that no cap can lift. */
static void
test_caps(void **state)
{
    static const uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct hand h;
    uint8_t *b;
    size_t len;
    (void)state;

    hand_defaults(&h, payload, sizeof payload, SZ_BUNDLE_DEFAULT_CONTENT_CAP);
    b = hand_build(&h, &len);
    assert_int_equal(sz_bundle_verify(b, len, 0, NULL, NULL), 0);
    assert_int_equal(sz_bundle_verify(b, len, SZ_BUNDLE_DEFAULT_CONTENT_CAP - 1, NULL, NULL),
                     -SZ_ETOOBIG);
    free(b);

    h.content_len = SZ_BUNDLE_DEFAULT_CONTENT_CAP + 1;
    b = hand_build(&h, &len);
    assert_int_equal(sz_bundle_verify(b, len, 0, NULL, NULL), -SZ_ETOOBIG);
    assert_int_equal(sz_bundle_verify(b, len, 128ull * MIB, NULL, NULL), 0);
    free(b);

    h.content_len = SZ_BUNDLE_MAX_CONTENT_LEN;
    b = hand_build(&h, &len);
    assert_int_equal(sz_bundle_verify(b, len, UINT64_MAX, NULL, NULL), 0);
    assert_int_equal(sz_bundle_verify(b, len, SZ_BUNDLE_MAX_CONTENT_LEN, NULL, NULL), 0);
    free(b);

    h.content_len = SZ_BUNDLE_MAX_CONTENT_LEN + 1;
    b = hand_build(&h, &len);
    assert_int_equal(sz_bundle_verify(b, len, UINT64_MAX, NULL, NULL), -SZ_ETOOBIG);
    assert_int_equal(sz_bundle_verify(b, len, SZ_BUNDLE_MAX_CONTENT_LEN + 1, NULL, NULL),
                     -SZ_ETOOBIG);
    free(b);

    /* The smallest declared length the format allows. */
    h.content_len = 30;
    b = hand_build(&h, &len);
    assert_int_equal(sz_bundle_verify(b, len, 30, NULL, NULL), 0);
    assert_int_equal(sz_bundle_verify(b, len, 29, NULL, NULL), -SZ_ETOOBIG);
    free(b);
}

/* ---- signature and hash --------------------------------------------------------- */

static void
test_signature(void **state)
{
    size_t clen, len;
    uint8_t *content = small_content(&clen), *b = seal(content, clen, 19, &len, NULL);
    uint8_t *c = malloc(len);
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    (void)state;

    assert_non_null(c);
    /* All-zero signature. */
    memcpy(c, b, len);
    memset(c + 104, 0, 64);
    assert_int_equal(open_copy(c, len, 0), -SZ_EAUTH);
    /* Signed by "other", but naming "publisher". */
    memcpy(c, b, len);
    resign(c, OTHER_SK);
    assert_int_equal(open_copy(c, len, 0), -SZ_EAUTH);
    /* Naming "other" with publisher's signature. */
    memcpy(c, b, len);
    memcpy(c + 8, OTHER_PK, 32);
    assert_int_equal(open_copy(c, len, 0), -SZ_EAUTH);
    /* ... and properly re-signed by other: valid, and now other's. */
    resign(c, OTHER_SK);
    assert_int_equal(open_copy(c, len, 0), 0);
    /* A non-canonical S (S + L) is the same signature in another spelling: refused. */
    memcpy(c, b, len);
    {
        unsigned carry = 0;
        for (int i = 0; i < 32; i++) {
            unsigned v = c[136 + i] + L[i] + carry;
            c[136 + i] = (uint8_t)v;
            carry = v >> 8;
        }
        if (carry == 0) /* S + L fits in 32 bytes: it must still be refused. */
            assert_int_equal(open_copy(c, len, 0), -SZ_EAUTH);
    }
    /* A publisher key that is not a curve point, or a small-order one. */
    memcpy(c, b, len);
    memset(c + 8, 0, 32);
    resign(c, PUB_SK); /* signature by someone else's key over the edited header */
    assert_int_equal(open_copy(c, len, 0), -SZ_EAUTH);
    memset(c + 8, 0xff, 32);
    assert_int_equal(open_copy(c, len, 0), -SZ_EAUTH);
    free(c);
    free(b);
    free(content);
}

static void
test_hash(void **state)
{
    size_t clen, len;
    uint8_t *content = small_content(&clen), *b = seal(content, clen, 19, &len, NULL);
    struct hand h;
    uint8_t *c;
    size_t clen2;
    (void)state;

    /* A changed payload, signature untouched. */
    c = malloc(len);
    assert_non_null(c);
    for (size_t i = 168; i < len; i++) {
        memcpy(c, b, len);
        c[i] ^= 0x40;
        check_rc(open_copy(c, len, 0), -SZ_EHASH, "payload byte", i);
        /* verify alone says so: no zstd involved. */
        check_rc(sz_bundle_verify(c, len, 0, NULL, NULL), -SZ_EHASH, "verify payload byte", i);
    }
    free(c);
    /* A signed header whose hash is wrong. */
    hand_defaults(&h, b + 168, len - 168, clen);
    h.bad_hash = true;
    c = hand_build(&h, &clen2);
    assert_int_equal(open_copy(c, clen2, 0), -SZ_EHASH);
    free(c);
    free(b);
    free(content);
}

/* Every bit of a small bundle matters: flipping any one gets it refused. */
static void
test_every_bit_flip(void **state)
{
    size_t clen, len;
    uint8_t *content = small_content(&clen), *b = seal(content, clen, 19, &len, NULL);
    uint8_t *c = malloc(len);
    size_t n = 0;
    (void)state;

    assert_non_null(c);
    for (size_t byte = 0; byte < len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            struct sz_bundle *ob = NULL;
            int rc, ok;

            memcpy(c, b, len);
            c[byte] ^= (uint8_t)(1u << bit);
            rc = sz_bundle_open(c, len, 0, &ob);
            if (rc == 0)
                fail_msg("flipped bit %d of byte %zu: accepted", bit, byte);
            assert_null(ob);
            /* The error is the one of the part the bit is in. */
            if (byte < 4)
                ok = rc == -SZ_EBADMSG;
            else if (byte == 4)
                ok = rc == -SZ_EVERSION;
            else if (byte < 8)
                ok = rc == -SZ_ECANON;
            else if (byte < 56 || byte >= 72)
                ok = rc == (byte >= 168 ? -SZ_EHASH : -SZ_EAUTH);
            else /* payload_len, content_len */
                ok = rc == -SZ_EBADMSG || rc == -SZ_ETOOBIG || rc == -SZ_ETRAILING ||
                     rc == -SZ_EAUTH;
            if (!ok)
                fail_msg("flipped bit %d of byte %zu: rc %d (%s)", bit, byte, rc, sz_strerror(rc));
            n++;
        }
    }
    assert_int_equal(n, 8 * len);
    free(c);
    free(b);
    free(content);
}

/*
 * A bundle read back from a store (sz_bundle_check_stored()): any flipped bit
 * outside the signature is seen, against the id it was stored under; one in
 * the signature is not (documented: the signature is not checked again).
 */
static void
test_check_stored(void **state)
{
    size_t clen, len;
    uint8_t id[32], other[32];
    uint8_t *content = small_content(&clen), *b = seal(content, clen, 19, &len, id);
    uint8_t *c = malloc(len);
    (void)state;

    assert_non_null(c);
    assert_int_equal(sz_bundle_check_stored(b, len, id), 0);
    memcpy(other, id, sizeof other);
    other[31] ^= 1;
    assert_int_equal(sz_bundle_check_stored(b, len, other), -SZ_EHASH);
    /* Cut short or with a byte more: the header's length no longer fits. */
    assert_int_not_equal(sz_bundle_check_stored(b, len - 1, id), 0);
    for (size_t byte = 0; byte < len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            int rc;

            memcpy(c, b, len);
            c[byte] ^= (uint8_t)(1u << bit);
            rc = sz_bundle_check_stored(c, len, id);
            if (byte >= SZ_BUNDLE_HEADER_LEN && byte < SZ_BUNDLE_PREFIX_LEN) {
                if (rc != 0)
                    fail_msg("flipped bit %d of signature byte %zu: rc %d", bit, byte, rc);
            } else if (rc == 0) {
                fail_msg("flipped bit %d of byte %zu: not seen", bit, byte);
            }
        }
    }
    free(c);
    free(b);
    free(content);
}

/*
 * The prefix of a bundle (header and signature) checked before the payload
 * has come (PROTOCOL.md 4.1.1): the header's rules against the announced
 * total, and the signature; the payload is not looked at.
 */
static void
test_verify_prefix(void **state)
{
    static const size_t signed_bytes[] = {8, 40, 48, 55, 72, 103};
    size_t clen, len;
    uint8_t *content = noisy_content(4000, &clen), *b, *c;
    struct sz_bundle_header hdr, want_hdr;
    uint8_t id[32], want_id[32], sealed_id[32];
    (void)state;

    /* A payload of about 2 KiB, so that the prefix is well short of the whole. */
    b = seal(content, clen, 1, &len, sealed_id);
    assert_true(len > 2 * SZ_BUNDLE_PREFIX_LEN);
    assert_int_equal(sz_bundle_verify(b, len, 0, &want_hdr, want_id), 0);
    assert_memory_equal(want_id, sealed_id, 32);

    /* The prefix alone, with the right total: the header and id of the whole. */
    assert_int_equal(prefix_copy(b, SZ_BUNDLE_PREFIX_LEN, len, &hdr, id), 0);
    assert_memory_equal(id, want_id, 32);
    assert_hdr_equal(&hdr, &want_hdr);
    /* Any longer part of it, up to the whole, says the same; NULL outputs are fine. */
    for (size_t n = SZ_BUNDLE_PREFIX_LEN + 1; n <= len; n += (n < 200 ? 1 : 997))
        check_rc(prefix_copy(b, n, len, NULL, NULL), 0, "longer prefix", n);
    assert_int_equal(prefix_copy(b, len, len, &hdr, id), 0);
    assert_memory_equal(id, want_id, 32);
    assert_int_equal(sz_bundle_verify_prefix(b, len, len, 0, NULL, NULL), 0);

    /* Less than the prefix: never enough, whatever the total. */
    for (size_t n = 0; n < SZ_BUNDLE_PREFIX_LEN; n++)
        check_rc(prefix_copy(b, n, len, NULL, NULL), -SZ_EBADMSG, "short prefix", n);
    assert_int_equal(sz_bundle_verify_prefix(NULL, 0, len, 0, NULL, NULL), -SZ_EBADMSG);

    /* The total must be exactly the bundle's length. */
    assert_int_equal(prefix_copy(b, SZ_BUNDLE_PREFIX_LEN, len - 1, NULL, NULL), -SZ_EBADMSG);
    assert_int_equal(prefix_copy(b, SZ_BUNDLE_PREFIX_LEN, len + 1, NULL, NULL), -SZ_ETRAILING);
    assert_int_equal(prefix_copy(b, SZ_BUNDLE_PREFIX_LEN, SZ_BUNDLE_PREFIX_LEN, NULL, NULL),
                     -SZ_EBADMSG);
    /* Totals below the header's own length, or huge: no wrap-around. */
    assert_int_equal(prefix_copy(b, SZ_BUNDLE_PREFIX_LEN, 0, NULL, NULL), -SZ_EBADMSG);
    assert_int_equal(prefix_copy(b, SZ_BUNDLE_PREFIX_LEN, 50, NULL, NULL), -SZ_EBADMSG);
    assert_int_equal(prefix_copy(b, SZ_BUNDLE_PREFIX_LEN, SZ_BUNDLE_HEADER_LEN, NULL, NULL),
                     -SZ_EBADMSG);
    assert_int_equal(prefix_copy(b, SZ_BUNDLE_PREFIX_LEN, UINT64_MAX, NULL, NULL), -SZ_ETRAILING);
    /* The content cap applies as in sz_bundle_parse(). */
    assert_int_equal(sz_bundle_verify_prefix(b, SZ_BUNDLE_PREFIX_LEN, len, clen - 1, NULL, NULL),
                     -SZ_ETOOBIG);
    assert_int_equal(sz_bundle_verify_prefix(b, SZ_BUNDLE_PREFIX_LEN, len, clen, NULL, NULL), 0);

    c = malloc(len);
    assert_non_null(c);
    /*
     * With the buffer's own length as the total, it fails as sz_bundle_parse()
     * does, even short of the prefix: a header defect is named as such.
     */
    for (size_t k = 0; k < 4; k++) {
        memcpy(c, b, len);
        if (k == 1)
            c[4] = 2; /* version */
        else if (k == 2)
            c[5] = 1; /* flags */
        else if (k == 3)
            sz_store64(c + 64, UINT64_MAX); /* content_len */
        for (size_t n = 0; n <= SZ_BUNDLE_PREFIX_LEN + 1; n++) {
            int want = sz_bundle_parse(c, n, 0, NULL, NULL);

            assert_int_not_equal(want, 0);
            check_rc(prefix_copy(c, n, n, NULL, NULL), want, "prefix as parse", 1000 * k + n);
        }
    }
    /* Every byte of the signature matters. */
    for (size_t i = SZ_BUNDLE_HEADER_LEN; i < SZ_BUNDLE_PREFIX_LEN; i++) {
        memcpy(c, b, len);
        c[i] ^= 0x01;
        check_rc(prefix_copy(c, SZ_BUNDLE_PREFIX_LEN, len, NULL, NULL), -SZ_EAUTH, "signature", i);
    }
    /* Signed header bytes whose change still parses: publisher, created, the payload hash. */
    for (size_t i = 0; i < N_ELEMS(signed_bytes); i++) {
        memcpy(c, b, len);
        c[signed_bytes[i]] ^= 0x01;
        assert_int_equal(sz_bundle_parse(c, len, 0, NULL, NULL), 0);
        check_rc(prefix_copy(c, SZ_BUNDLE_PREFIX_LEN, len, NULL, NULL), -SZ_EAUTH, "header",
                 signed_bytes[i]);
    }
    /* Another key's signature over the same header. */
    memcpy(c, b, len);
    resign(c, OTHER_SK);
    assert_int_equal(prefix_copy(c, SZ_BUNDLE_PREFIX_LEN, len, NULL, NULL), -SZ_EAUTH);

    /* The payload is not its business: changed or missing, the prefix still verifies. */
    memcpy(c, b, len);
    for (size_t i = SZ_BUNDLE_PREFIX_LEN; i < len; i++)
        c[i] ^= 0xff;
    assert_int_equal(sz_bundle_verify(c, len, 0, NULL, NULL), -SZ_EHASH);
    assert_int_equal(prefix_copy(c, len, len, &hdr, id), 0);
    assert_memory_equal(id, want_id, 32);
    assert_hdr_equal(&hdr, &want_hdr);
    free(c);
    free(b);
    free(content);
}

/* ---- the zstd frame (BUNDLE.md 1.3 step 8), properly signed ------------------- */

struct frame_case {
    const char *what;
    uint8_t *frame;
    size_t len;
    uint64_t content_len;
    int want;
};

static void
test_frames(void **state)
{
    size_t clen, n, n2;
    /* Compressible, so that two frames of it still fit ZSTD_COMPRESSBOUND(content_len). */
    uint8_t *content = big_content(1000, &clen);
    size_t blen;
    uint8_t *big = big_content(140000, &blen);
    struct frame_case cases[40];
    size_t k = 0;
    (void)state;

#define ADD(w, f, l, cl, r) (cases[k++] = (struct frame_case){w, f, l, cl, r})
    ADD("level 19", zframe(content, clen, 19, true, false, 0, &n), n, clen, 0);
    ADD("level 1", zframe(content, clen, 1, true, false, 0, &n), n, clen, 0);
    ADD("with checksum", zframe(content, clen, 3, true, true, 0, &n), n, clen, 0);
    {
        uint8_t *f = zframe(content, clen, 3, true, true, 0, &n);
        f[n - 1] ^= 1;
        ADD("bad checksum", f, n, clen, -SZ_EBADMSG);
    }
    ADD("no content size", zframe(content, clen, 19, false, false, 0, &n), n, clen, -SZ_EBADMSG);
    ADD("content size != content_len", zframe(content, clen, 19, true, false, 0, &n), n, clen + 1,
        -SZ_ELENGTH);
    {
        /* The frame's size field says clen, its data inflates to clen + 1. */
        uint8_t *longer = malloc(clen + 1), *f;
        memcpy(longer, content, clen);
        longer[clen] = 'x';
        f = raw_frame(longer, clen + 1, 17, 0, false, &n);
        sz_store32(f + 6, (uint32_t)clen);
        ADD("inflates past its size field", f, n, clen, -SZ_ELENGTH);
        /* And to clen - 1: fewer bytes. BUNDLE.md says ELENGTH; zstd reports corruption. */
        f = raw_frame(content, clen - 1, 17, 0, false, &n);
        sz_store32(f + 6, (uint32_t)clen);
        ADD("inflates short of its size field", f, n, clen, -SZ_EBADMSG);
        free(longer);
    }
    {
        /* Two frames, each of the whole content. */
        uint8_t *f = zframe(content, clen, 19, true, false, 0, &n), *two = malloc(2 * n);
        memcpy(two, f, n);
        memcpy(two + n, f, n);
        free(f);
        ADD("two frames", two, 2 * n, clen, -SZ_ETRAILING);
    }
    {
        /* A frame followed by a skippable frame. */
        uint8_t *f = zframe(content, clen, 19, true, false, 0, &n), *g = malloc(n + 12);
        memcpy(g, f, n);
        sz_store32(g + n, 0x184D2A50u);
        sz_store32(g + n + 4, 4);
        memcpy(g + n + 8, "skip", 4);
        free(f);
        ADD("frame + skippable frame", g, n + 12, clen, -SZ_ETRAILING);
    }
    {
        /* A skippable frame alone, holding the content. */
        uint8_t *g = malloc(clen + 8);
        sz_store32(g, 0x184D2A5Fu);
        sz_store32(g + 4, (uint32_t)clen);
        memcpy(g + 8, content, clen);
        ADD("skippable frame only", g, clen + 8, clen, -SZ_EBADMSG);
    }
    {
        /* The container itself, uncompressed. */
        uint8_t *g = malloc(clen);
        memcpy(g, content, clen);
        ADD("no frame at all", g, clen, clen, -SZ_EBADMSG);
    }
    {
        uint8_t *f = zframe(content, clen, 19, true, false, 0, &n);
        ADD("frame cut short", f, n - 1, clen, -SZ_EBADMSG);
    }
    /* Windows: 2^24 is the limit (BUNDLE.md: windowLogMax = 24). */
    ADD("raw blocks, window 2^10", raw_frame(content, clen, 10, 0, false, &n), n, clen, 0);
    ADD("raw blocks, single segment", raw_frame(content, clen, 0, 0, true, &n), n, clen, 0);
    ADD("window 2^23 * 15/8", raw_frame(content, clen, 23, 7, false, &n), n, clen, 0);
    ADD("window 2^24", raw_frame(content, clen, 24, 0, false, &n), n, clen, 0);
    ADD("window 2^24 * 9/8", raw_frame(content, clen, 24, 1, false, &n), n, clen, -SZ_ETOOBIG);
    ADD("window 2^25", raw_frame(content, clen, 25, 0, false, &n), n, clen, -SZ_ETOOBIG);
    ADD("window 2^31", raw_frame(content, clen, 31, 0, false, &n), n, clen, -SZ_ETOOBIG);
    /* Block_Maximum_Size (RFC 8878): the smaller of the window and 128 KiB. */
    assert_true(clen > 1025 && blen > 128 * 1024 + 1);
    ADD("raw blocks of 2^10 + 1, window 2^10", sized_blocks_frame(content, clen, 10, 1025, &n), n,
        clen, -SZ_EBADMSG);
    ADD("raw blocks of 128 KiB, window 2^19", sized_blocks_frame(big, blen, 19, 131072, &n), n,
        blen, 0);
    ADD("raw blocks of 128 KiB + 1, window 2^19", sized_blocks_frame(big, blen, 19, 131073, &n), n,
        blen, -SZ_EBADMSG);
    /* The content size is compared first: a wrong one is ELENGTH, whatever the window. */
    ADD("window 2^25, size != content_len", raw_frame(content, clen, 25, 0, false, &n), n, clen + 1,
        -SZ_ELENGTH);
    {
        /* A legacy (v0.7) frame magic: not RFC 8878. */
        uint8_t *f = zframe(content, clen, 19, true, false, 0, &n);
        sz_store32(f, 0xFD2FB527u);
        ADD("legacy magic", f, n, clen, -SZ_EBADMSG);
    }
    {
        /* A frame holding a non-canonical container: the container's error. */
        uint8_t *f = malloc(clen + 1);
        memcpy(f, content, clen);
        f[clen] = 0;
        uint8_t *z = zframe(f, clen + 1, 19, true, false, 0, &n2);
        free(f);
        ADD("container with a trailing byte", z, n2, clen + 1, -SZ_ECANON);
    }
#undef ADD
    assert_true(k <= N_ELEMS(cases));
    size_t n_bad = 0;
    for (size_t i = 0; i < k; i++) {
        struct hand h;
        uint8_t *b;
        size_t len;

        hand_defaults(&h, cases[i].frame, cases[i].len, cases[i].content_len);
        b = hand_build(&h, &len);
        assert_int_equal(sz_bundle_verify(b, len, 0, NULL, NULL), 0);
        {
            int rc = open_copy(b, len, 0);
            if (rc != cases[i].want) {
                print_error("%s: rc %d (%s), want %d (%s)\n", cases[i].what, rc, sz_strerror(rc),
                            cases[i].want, sz_strerror(cases[i].want));
                n_bad++;
            }
        }
        free(b);
        free(cases[i].frame);
    }
    free(big);
    free(content);
    assert_int_equal(n_bad, 0);
}

/* A single-segment frame's window is its content size: above 16 MiB it is refused. */
static void
test_single_segment_window(void **state)
{
    static const size_t sizes[] = {16 * MIB, 16 * MIB + 1};
    (void)state;

    for (size_t i = 0; i < N_ELEMS(sizes); i++) {
        size_t clen, n, len, probe_len;
        uint8_t *probe = big_content(1000, &probe_len), *content, *f, *b;
        struct hand h;

        /* Size the body so the container is exactly sizes[i] bytes. */
        free(probe);
        content = big_content(1000 + sizes[i] - probe_len, &clen);
        assert_int_equal(clen, sizes[i]);
        f = zframe(content, clen, 1, true, false, 25, &n);
        assert_int_equal(f[4] & 0x20, 0x20); /* Single_Segment */
        hand_defaults(&h, f, n, clen);
        b = hand_build(&h, &len);
        check_rc(open_copy(b, len, 0), i == 0 ? 0 : -SZ_ETOOBIG, "single segment", i);
        free(b);
        free(f);
        free(content);
    }
}

/* ---- containers inside signed bundles ------------------------------------------ */

static void
test_container_errors_propagate(void **state)
{
    /* Two articles "b" then "a": properly compressed and signed, non-canonical. */
    /* clang-format off */
    static const uint8_t out_of_order[] = {
        0x02, 0x00, 0x00, 0x00,                         /* count */
        0x01, 'b',                                      /* id */
        0x01, 0x00, 'T',                                /* title */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* published */
        0x01,                                           /* ctype */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00,             /* url, authors, lang, summary */
        0x01, 0x00, 0x00, 0x00, 'x',                    /* body */
        0x00, 0x00,                                     /* attachments */
        0x01, 'a',                                      /* the second article, at offset 31 */
        0x01, 0x00, 'T',
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 'x',
        0x00, 0x00,
    };
    /* clang-format on */
    struct sz_container *c;
    struct hand h;
    uint8_t *f, *b, buf[sizeof out_of_order];
    size_t n, len;
    (void)state;

    /* The same bytes in canonical order decode. */
    memcpy(buf, out_of_order, sizeof buf);
    buf[5] = 'a';
    buf[32] = 'b';
    assert_int_equal(sz_container_decode(buf, sizeof buf, &c), 0);
    sz_container_free(c);

    f = zframe(out_of_order, sizeof out_of_order, 19, true, false, 0, &n);
    hand_defaults(&h, f, n, sizeof out_of_order);
    b = hand_build(&h, &len);
    assert_int_equal(sz_bundle_verify(b, len, 0, NULL, NULL), 0);
    assert_int_equal(open_copy(b, len, 0), -SZ_ECANON);
    free(b);
    free(f);
}

static int
setup(void **state)
{
    uint8_t seed[32];
    (void)state;

    if (sz_init() != 0)
        return -1;
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    crypto_sign_seed_keypair(PUB_PK, PUB_SK, seed);
    memset(seed, 0xff, sizeof seed);
    crypto_sign_seed_keypair(OTHER_PK, OTHER_SK, seed);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        /* First, while the process's peak RSS is still small. */
        cmocka_unit_test(test_bomb_rle),
        cmocka_unit_test(test_bomb_streamed),
        cmocka_unit_test(test_kat),
        cmocka_unit_test(test_id_hex),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_big),
        cmocka_unit_test(test_seal_with_deflater),
        cmocka_unit_test(test_seal_errors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_check_stored),
        cmocka_unit_test(test_verify_prefix),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_single_segment_window),
        cmocka_unit_test(test_container_errors_propagate),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
