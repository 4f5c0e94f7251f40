/* Bundles: parse, verify (no zstd), open (bounded decompression), seal. */
#include "samizdat/bundle.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"

/* The domain-separation context that starts every signed message (BUNDLE.md). */
static const char SIGN_CONTEXT[] = "samizdat-bundle-v1"; /* 18 bytes + NUL = 19 */
#define SIGN_CONTEXT_LEN sizeof SIGN_CONTEXT
#define SIGNED_LEN (SIGN_CONTEXT_LEN + SZ_BUNDLE_HEADER_LEN)
static const uint8_t MAGIC[4] = {'S', 'Z', 'B', 'N'};
/* The smallest valid container: a count and one article with a 1-byte body. */
#define MIN_CONTENT_LEN 30

static uint64_t
effective_cap(uint64_t cap)
{
    if (cap == 0)
        cap = SZ_BUNDLE_DEFAULT_CONTENT_CAP;
    return cap > SZ_BUNDLE_MAX_CONTENT_LEN ? SZ_BUNDLE_MAX_CONTENT_LEN : cap;
}

/* The signed message: context string, then the 104-byte header. */
static void
signed_message(const uint8_t *header, uint8_t msg[SIGNED_LEN])
{
    memcpy(msg, SIGN_CONTEXT, SIGN_CONTEXT_LEN);
    memcpy(msg + SIGN_CONTEXT_LEN, header, SZ_BUNDLE_HEADER_LEN);
}

static void
header_encode(const struct sz_bundle_header *h, uint8_t out[SZ_BUNDLE_HEADER_LEN])
{
    memcpy(out, MAGIC, 4);
    out[4] = h->version;
    out[5] = 0;
    sz_store16(out + 6, 0);
    memcpy(out + 8, h->publisher, 32);
    sz_store64(out + 40, h->sequence);
    sz_store64(out + 48, (uint64_t)h->created);
    sz_store64(out + 56, h->payload_len);
    sz_store64(out + 64, h->content_len);
    memcpy(out + 72, h->payload_hash, 32);
}

/*
 * The header checks of BUNDLE.md 1.3, shared by sz_bundle_parse() (total is
 * the buffer's length) and sz_bundle_verify_prefix() (total is the length the
 * whole bundle will have). Reads only the header from buf (len bytes). On
 * success *hdr holds the decoded header; it is untouched on failure.
 */
static int
parse_header(const uint8_t *buf, size_t len, uint64_t total, uint64_t content_cap,
             struct sz_bundle_header *hdr)
{
    struct sz_bundle_header h;
    uint8_t magic[4], flags;
    uint16_t reserved;
    const uint8_t *header;
    struct sz_rd r;
    uint64_t cap = effective_cap(content_cap);

    sz_rd_init(&r, buf, len);
    if (sz_rd_bytes(&r, SZ_BUNDLE_HEADER_LEN, &header) != 0)
        return -SZ_EBADMSG;
    sz_rd_init(&r, header, SZ_BUNDLE_HEADER_LEN);
    /* The reads below cannot fail: the header is complete. */
    (void)sz_rd_copy(&r, magic, 4);
    if (memcmp(magic, MAGIC, 4) != 0)
        return -SZ_EBADMSG;
    (void)sz_rd_u8(&r, &h.version);
    if (h.version != SZ_BUNDLE_VERSION)
        return -SZ_EVERSION;
    (void)sz_rd_u8(&r, &flags);
    (void)sz_rd_u16(&r, &reserved);
    if (flags != 0 || reserved != 0)
        return -SZ_ECANON;
    (void)sz_rd_copy(&r, h.publisher, 32);
    (void)sz_rd_u64(&r, &h.sequence);
    (void)sz_rd_i64(&r, &h.created);
    (void)sz_rd_u64(&r, &h.payload_len);
    (void)sz_rd_u64(&r, &h.content_len);
    (void)sz_rd_copy(&r, h.payload_hash, 32);
    if (h.content_len > cap)
        return -SZ_ETOOBIG;
    if (h.content_len < MIN_CONTENT_LEN || h.payload_len == 0)
        return -SZ_EBADMSG;
    if (h.payload_len > ZSTD_COMPRESSBOUND(h.content_len))
        return -SZ_ETOOBIG;
    /* A prefix's total comes from its caller and may be anything: compare before subtracting. */
    if (total < SZ_BUNDLE_PREFIX_LEN || total - SZ_BUNDLE_PREFIX_LEN < h.payload_len)
        return -SZ_EBADMSG;
    if (total - SZ_BUNDLE_PREFIX_LEN > h.payload_len)
        return -SZ_ETRAILING;
    *hdr = h;
    return 0;
}

/* The id: BLAKE2b-256 of the signed message. */
static void
bundle_id(const uint8_t *header, uint8_t id[SZ_BUNDLE_ID_LEN])
{
    uint8_t msg[SIGNED_LEN];

    signed_message(header, msg);
    crypto_generichash(id, SZ_BUNDLE_ID_LEN, msg, sizeof msg, NULL, 0);
}

int
sz_bundle_parse(const uint8_t *buf, size_t len, uint64_t content_cap, struct sz_bundle_header *hdr,
                uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct sz_bundle_header h;
    int rc = parse_header(buf, len, len, content_cap, &h);

    if (rc != 0)
        return rc;
    if (hdr != NULL)
        *hdr = h;
    if (id != NULL)
        bundle_id(buf, id);
    return 0;
}

int
sz_bundle_verify_prefix(const uint8_t *buf, size_t len, uint64_t total, uint64_t content_cap,
                        struct sz_bundle_header *hdr, uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct sz_bundle_header h;
    uint8_t msg[SIGNED_LEN];
    int rc;

    /*
     * The header first, the prefix's length after: with total == len this
     * fails exactly as sz_bundle_parse() does, whatever len is.
     */
    rc = parse_header(buf, len, total, content_cap, &h);
    if (rc != 0)
        return rc;
    if (len < SZ_BUNDLE_PREFIX_LEN)
        return -SZ_EBADMSG;
    signed_message(buf, msg);
    if (crypto_sign_verify_detached(buf + SZ_BUNDLE_HEADER_LEN, msg, sizeof msg, h.publisher) != 0)
        return -SZ_EAUTH;
    if (hdr != NULL)
        *hdr = h;
    if (id != NULL)
        bundle_id(buf, id);
    return 0;
}

int
sz_bundle_verify(const uint8_t *buf, size_t len, uint64_t content_cap, struct sz_bundle_header *hdr,
                 uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct sz_bundle_header h;
    uint8_t hash[32], bid[SZ_BUNDLE_ID_LEN];
    int rc = sz_bundle_verify_prefix(buf, len, len, content_cap, &h, bid);

    if (rc != 0)
        return rc;
    crypto_generichash(hash, sizeof hash, buf + SZ_BUNDLE_PREFIX_LEN, (size_t)h.payload_len, NULL,
                       0);
    if (sodium_memcmp(hash, h.payload_hash, sizeof hash) != 0)
        return -SZ_EHASH;
    if (hdr != NULL)
        *hdr = h;
    if (id != NULL)
        memcpy(id, bid, SZ_BUNDLE_ID_LEN);
    return 0;
}

int
sz_bundle_check_stored(const uint8_t *buf, size_t len, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct sz_bundle_header h;
    uint8_t hash[32], bid[SZ_BUNDLE_ID_LEN];
    int rc = sz_bundle_parse(buf, len, UINT64_MAX, &h, bid);

    if (rc != 0)
        return rc;
    if (sodium_memcmp(bid, id, SZ_BUNDLE_ID_LEN) != 0)
        return -SZ_EHASH;
    crypto_generichash(hash, sizeof hash, buf + SZ_BUNDLE_PREFIX_LEN, (size_t)h.payload_len, NULL,
                       0);
    return sodium_memcmp(hash, h.payload_hash, sizeof hash) != 0 ? -SZ_EHASH : 0;
}

/*
 * The window a frame needs (RFC 8878 3.1.1.1.2). Single-shot decompression
 * ignores ZSTD_d_windowLogMax, so the limit of BUNDLE.md 1.3 step 8 is checked
 * here: a streaming reader would refuse such a frame, so this one must too.
 * The caller has checked that the frame is complete and its content size is
 * content_len. Returns 0, -SZ_EBADMSG (not an RFC 8878 frame: skippable or
 * legacy) or -SZ_ETOOBIG (window above 2^SZ_ZSTD_WINDOW_LOG_MAX).
 */
static int
check_frame_header(const uint8_t *src, size_t src_len, uint64_t content_len)
{
    struct sz_rd r;
    uint32_t magic;
    uint8_t fhd, wd;
    uint64_t window;

    sz_rd_init(&r, src, src_len);
    if (sz_rd_u32(&r, &magic) != 0 || magic != ZSTD_MAGICNUMBER || sz_rd_u8(&r, &fhd) != 0)
        return -SZ_EBADMSG;
    if (fhd & 0x20) {
        /* Single_Segment: the window is the whole content. */
        window = content_len;
    } else {
        if (sz_rd_u8(&r, &wd) != 0)
            return -SZ_EBADMSG;
        window = 1ull << (10 + (wd >> 3));
        window += (window >> 3) * (wd & 7);
    }
    return window > (1ull << SZ_ZSTD_WINDOW_LOG_MAX) ? -SZ_ETOOBIG : 0;
}

/*
 * Walks the blocks of the frame at src, whose compressed size libzstd found to
 * be frame_len (so every block header and block lies inside it). RFC 8878
 * 3.1.1.2 limits every block to Block_Maximum_Size, the smaller of the window
 * and 128 KiB: the stored size of a Raw or Compressed block, the size an RLE
 * block regenerates. libzstd's one-shot decoder does not check it for Raw and
 * RLE blocks while its streaming decoder does, so this reader checks it itself
 * (BUNDLE.md 1.3 step 8.2), for every reader to agree on what is a bundle.
 * Returns 0 or -SZ_EBADMSG.
 */
static int
check_blocks(const uint8_t *src, size_t frame_len)
{
    static const size_t did_lens[4] = {0, 1, 2, 4};
    const uint64_t abs_max = 128 * 1024;
    struct sz_rd r;
    const uint8_t *p;
    uint8_t fhd, wd = 0;
    uint64_t window, fcs = 0, block_max;
    size_t fcs_len;
    bool single;

    sz_rd_init(&r, src, frame_len);
    if (sz_rd_bytes(&r, 4, &p) != 0 || sz_rd_u8(&r, &fhd) != 0)
        return -SZ_EBADMSG;
    single = (fhd & 0x20) != 0;
    fcs_len = (fhd >> 6) == 0 ? (single ? 1 : 0) : (size_t)1 << (fhd >> 6);
    if ((!single && sz_rd_u8(&r, &wd) != 0) || sz_rd_bytes(&r, did_lens[fhd & 3], &p) != 0 ||
        sz_rd_bytes(&r, fcs_len, &p) != 0)
        return -SZ_EBADMSG;
    for (size_t i = fcs_len; i > 0; i--)
        fcs = fcs << 8 | p[i - 1];
    if (fcs_len == 2)
        fcs += 256;
    if (single) {
        window = fcs;
    } else {
        window = 1ull << (10 + (wd >> 3));
        window += (window >> 3) * (wd & 7);
    }
    block_max = window < abs_max ? window : abs_max;
    for (;;) {
        uint32_t bh, type, size;
        if (sz_rd_bytes(&r, 3, &p) != 0)
            return -SZ_EBADMSG;
        bh = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
        type = (bh >> 1) & 3;
        size = bh >> 3;
        if (size > block_max || type == 3 || sz_rd_bytes(&r, type == 1 ? 1 : size, &p) != 0)
            return -SZ_EBADMSG;
        if (bh & 1)
            return 0;
    }
}

/*
 * Decompresses exactly content_len bytes. The frame must be a single zstd frame
 * that declares that very content size; the output buffer is never larger, so a
 * payload that inflates further fails inside zstd without growing anything.
 */
struct sz_inflater {
    ZSTD_DCtx *dctx;
};

int
sz_inflater_new(struct sz_inflater **out)
{
    struct sz_inflater *z = calloc(1, sizeof *z);

    if (z == NULL)
        return -SZ_ENOMEM;
    z->dctx = ZSTD_createDCtx();
    if (z->dctx == NULL || ZSTD_isError(ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_windowLogMax,
                                                               SZ_ZSTD_WINDOW_LOG_MAX))) {
        sz_inflater_free(z);
        return -SZ_ENOMEM;
    }
    *out = z;
    return 0;
}

void
sz_inflater_free(struct sz_inflater *z)
{
    if (z == NULL)
        return;
    ZSTD_freeDCtx(z->dctx);
    free(z);
}

static int
inflate_payload(const uint8_t *src, size_t src_len, size_t content_len, struct sz_inflater *z,
                uint8_t **out)
{
    unsigned long long fcs;
    ZSTD_DCtx *dctx = NULL;
    uint8_t *dst = NULL;
    size_t n;
    int rc;

    /* Only an RFC 8878 frame: no skippable or legacy (pre-1.0) frame. */
    if (src_len < 4 || sz_load32(src) != ZSTD_MAGICNUMBER)
        return -SZ_EBADMSG;
    n = ZSTD_findFrameCompressedSize(src, src_len);
    if (ZSTD_isError(n) || check_blocks(src, n) != 0)
        return -SZ_EBADMSG;
    if (n != src_len)
        return -SZ_ETRAILING;
    fcs = ZSTD_getFrameContentSize(src, src_len);
    if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN)
        return -SZ_EBADMSG;
    if (fcs != content_len)
        return -SZ_ELENGTH;
    rc = check_frame_header(src, src_len, content_len);
    if (rc != 0)
        return rc;
    /* A borrowed context is reset, so nothing of a previous bundle carries over. */
    if (z != NULL) {
        if (ZSTD_isError(ZSTD_DCtx_reset(z->dctx, ZSTD_reset_session_only)))
            return -SZ_ENOMEM;
    } else {
        dctx = ZSTD_createDCtx();
        if (dctx == NULL || ZSTD_isError(ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax,
                                                                SZ_ZSTD_WINDOW_LOG_MAX))) {
            rc = -SZ_ENOMEM;
            goto out;
        }
    }
    dst = malloc(content_len);
    if (dst == NULL) {
        rc = -SZ_ENOMEM;
        goto out;
    }
    n = ZSTD_decompressDCtx(z != NULL ? z->dctx : dctx, dst, content_len, src, src_len);
    if (ZSTD_isError(n)) {
        rc = ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ? -SZ_ELENGTH : -SZ_EBADMSG;
        goto out;
    }
    if (n != content_len) {
        rc = -SZ_ELENGTH;
        goto out;
    }
    *out = dst;
    dst = NULL;
    rc = 0;
out:
    free(dst);
    ZSTD_freeDCtx(dctx);
    return rc;
}

void
sz_bundle_free(struct sz_bundle *b)
{
    if (b == NULL)
        return;
    sz_container_free(b->c);
    free(b->content);
    free(b);
}

/* Opens a bundle, checking its signature and hash only when `verify`. */
static int
bundle_open(const uint8_t *buf, size_t len, uint64_t content_cap, bool verify,
            struct sz_inflater *z, struct sz_bundle **out)
{
    struct sz_bundle *b;
    int rc;

    b = calloc(1, sizeof *b);
    if (b == NULL)
        return -SZ_ENOMEM;
    if (verify)
        rc = sz_bundle_verify(buf, len, content_cap, &b->hdr, b->id);
    else
        rc = sz_bundle_parse(buf, len, content_cap, &b->hdr, b->id);
    if (rc != 0)
        goto fail;
    rc = inflate_payload(buf + SZ_BUNDLE_PREFIX_LEN, (size_t)b->hdr.payload_len,
                         (size_t)b->hdr.content_len, z, &b->content);
    if (rc != 0)
        goto fail;
    b->content_len = (size_t)b->hdr.content_len;
    rc = sz_container_decode(b->content, b->content_len, &b->c);
    if (rc != 0)
        goto fail;
    *out = b;
    return 0;
fail:
    sz_bundle_free(b);
    return rc;
}

int
sz_bundle_open(const uint8_t *buf, size_t len, uint64_t content_cap, struct sz_bundle **out)
{
    return bundle_open(buf, len, content_cap, true, NULL, out);
}

int
sz_bundle_open_with(const uint8_t *buf, size_t len, uint64_t content_cap, struct sz_inflater *z,
                    struct sz_bundle **out)
{
    return bundle_open(buf, len, content_cap, true, z, out);
}

int
sz_bundle_open_verified(const uint8_t *buf, size_t len, uint64_t content_cap,
                        struct sz_bundle **out)
{
    return bundle_open(buf, len, content_cap, false, NULL, out);
}

int
sz_bundle_inspect(const uint8_t *buf, size_t len, uint64_t content_cap, struct sz_bundle **out)
{
    return bundle_open(buf, len, content_cap, false, NULL, out);
}

/* A zstd compression context kept for the next bundle: its workspace is not
 * allocated and cleared again each time. Every parameter is set anew per bundle. */
struct sz_deflater {
    ZSTD_CCtx *cctx;
};

int
sz_deflater_new(struct sz_deflater **out)
{
    struct sz_deflater *z = calloc(1, sizeof *z);

    if (z == NULL)
        return -SZ_ENOMEM;
    z->cctx = ZSTD_createCCtx();
    if (z->cctx == NULL) {
        free(z);
        return -SZ_ENOMEM;
    }
    *out = z;
    return 0;
}

void
sz_deflater_free(struct sz_deflater *z)
{
    if (z == NULL)
        return;
    ZSTD_freeCCtx(z->cctx);
    free(z);
}

int
sz_bundle_seal(const struct sz_seal_params *p, const uint8_t *content, size_t content_len,
               uint8_t **out, size_t *out_len, uint8_t id[SZ_BUNDLE_ID_LEN])
{
    return sz_bundle_seal_with(p, NULL, content, content_len, out, out_len, id);
}

int
sz_bundle_seal_with(const struct sz_seal_params *p, struct sz_deflater *z, const uint8_t *content,
                    size_t content_len, uint8_t **out, size_t *out_len,
                    uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct sz_bundle_header h;
    uint8_t msg[SIGNED_LEN];
    ZSTD_CCtx *cctx = NULL, *c;
    uint8_t *buf = NULL;
    size_t bound, n;
    int rc;

    if (p->level < 1 || p->level > 19 || content_len < MIN_CONTENT_LEN)
        return -SZ_EINVAL;
    if (content_len > SZ_BUNDLE_MAX_CONTENT_LEN)
        return -SZ_ETOOBIG;
    bound = ZSTD_compressBound(content_len);
    if (z != NULL) {
        /* Nothing of the last bundle's parameters carries over: the same bytes as a fresh one. */
        c = z->cctx;
        if (ZSTD_isError(ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters)))
            return -SZ_ECOMPRESS;
    } else if ((c = cctx = ZSTD_createCCtx()) == NULL) {
        return -SZ_ENOMEM;
    }
    buf = malloc(SZ_BUNDLE_PREFIX_LEN + bound);
    if (buf == NULL) {
        rc = -SZ_ENOMEM;
        goto out;
    }
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, p->level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, content_len))) {
        rc = -SZ_ECOMPRESS;
        goto out;
    }
    n = ZSTD_compress2(c, buf + SZ_BUNDLE_PREFIX_LEN, bound, content, content_len);
    if (ZSTD_isError(n)) {
        rc = -SZ_ECOMPRESS;
        goto out;
    }
    memset(&h, 0, sizeof h);
    h.version = SZ_BUNDLE_VERSION;
    memcpy(h.publisher, p->secret_key + 32, 32);
    h.sequence = p->sequence;
    h.created = p->created;
    h.payload_len = n;
    h.content_len = content_len;
    crypto_generichash(h.payload_hash, 32, buf + SZ_BUNDLE_PREFIX_LEN, n, NULL, 0);
    header_encode(&h, buf);
    signed_message(buf, msg);
    if (crypto_sign_detached(buf + SZ_BUNDLE_HEADER_LEN, NULL, msg, sizeof msg, p->secret_key) !=
        0) {
        rc = -SZ_ECRYPTO;
        goto out;
    }
    crypto_generichash(id, SZ_BUNDLE_ID_LEN, msg, sizeof msg, NULL, 0);
    *out = buf;
    *out_len = SZ_BUNDLE_PREFIX_LEN + n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    ZSTD_freeCCtx(cctx);
    return rc;
}

void
sz_bundle_id_hex(const uint8_t id[SZ_BUNDLE_ID_LEN], char out[2 * SZ_BUNDLE_ID_LEN + 1])
{
    sz_hex(id, SZ_BUNDLE_ID_LEN, out);
}
