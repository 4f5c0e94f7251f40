/*
 * Bundles: sz_bundle_parse(), sz_bundle_inspect() and sz_bundle_open() on
 * arbitrary bytes, with a 1 MiB content cap to keep runs fast. A mutated bundle
 * almost never carries a valid signature, so each structurally sound input is
 * opened once more after the harness re-signs it with a fixed fuzzing key (and
 * fixes the payload hash): that drives decompression and the container decoder
 * through the verified path too, without weakening the library. Whatever opens
 * must satisfy the format's invariants, abort() otherwise.
 *
 * sz_bundle_verify_prefix() is held to sz_bundle_verify() on the same bytes,
 * given the whole length as the total: it succeeds exactly when the structure
 * and the signature are right (whatever the payload hash), with the same id,
 * from the prefix alone as from the whole; and it fails with verify's error
 * whenever that error is not the payload hash's.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "samizdat/article.h"
#include "samizdat/bundle.h"

#include "fuzz.h"

#define CONTENT_CAP (1u << 20)
#define OFF_PUBLISHER 8
#define OFF_PAYLOAD_HASH 72

/* BUNDLE.md 1.2: the context string and its NUL start the signed message. */
static const char SIGN_CONTEXT[] = "samizdat-bundle-v1";

static uint8_t fuzz_pk[SZ_PUBLIC_KEY_LEN];
static uint8_t fuzz_sk[SZ_SECRET_KEY_LEN];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    if (crypto_sign_seed_keypair(fuzz_pk, fuzz_sk, (const uint8_t *)FUZZ_KEY_SEED) != 0)
        abort();
    return 0;
}

static int
str_cmp(struct sz_str a, struct sz_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.p, b.p, n) : 0;

    if (c != 0)
        return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

/* Field by field: struct padding is indeterminate, so no memcmp of whole headers. */
static bool
hdr_equal(const struct sz_bundle_header *a, const struct sz_bundle_header *b)
{
    return a->version == b->version && memcmp(a->publisher, b->publisher, 32) == 0 &&
           a->sequence == b->sequence && a->created == b->created &&
           a->payload_len == b->payload_len && a->content_len == b->content_len &&
           memcmp(a->payload_hash, b->payload_hash, 32) == 0;
}

/* Invariants of a bundle that sz_bundle_open() accepted. */
static void
check_opened(const uint8_t *data, size_t size, const struct sz_bundle *b)
{
    struct sz_bundle_header h;
    struct sz_bundle *again = NULL;
    struct sz_seal_params sp;
    uint8_t id[SZ_BUNDLE_ID_LEN], *enc = NULL, *sealed = NULL;
    size_t enc_len = 0, sealed_len = 0, i;

    /* The opened header and id are those the structural parse reports. */
    if (sz_bundle_parse(data, size, CONTENT_CAP, &h, id) != 0 || !hdr_equal(&h, &b->hdr) ||
        memcmp(id, b->id, sizeof id) != 0)
        abort();
    if (b->hdr.version != SZ_BUNDLE_VERSION || b->content_len != b->hdr.content_len ||
        b->content_len > CONTENT_CAP || size != SZ_BUNDLE_PREFIX_LEN + b->hdr.payload_len)
        abort();
    if (b->c == NULL || b->c->n_articles == 0 || b->c->n_articles > SZ_MAX_ARTICLES)
        abort();
    for (i = 0; i < b->c->n_articles; i++) {
        const struct sz_article *a = &b->c->articles[i];
        if (!sz_safe_name(a->id.p, a->id.len) || sz_article_check(a) != 0)
            abort();
        if (i > 0 && str_cmp(b->c->articles[i - 1].id, a->id) >= 0)
            abort();
    }
    /* Canonical form: re-encoding gives back the very bytes that were signed. */
    if (sz_container_encode(b->c->articles, b->c->n_articles, &enc, &enc_len) != 0 ||
        enc_len != b->content_len || memcmp(enc, b->content, enc_len) != 0)
        abort();
    /* Sealing the same content again must give a bundle that opens to it. */
    memset(&sp, 0, sizeof sp);
    sp.secret_key = fuzz_sk;
    sp.sequence = b->hdr.sequence;
    sp.created = b->hdr.created;
    sp.level = 1;
    if (sz_bundle_seal(&sp, enc, enc_len, &sealed, &sealed_len, id) != 0 ||
        sz_bundle_open(sealed, sealed_len, CONTENT_CAP, &again) != 0 ||
        memcmp(again->id, id, sizeof id) != 0 || again->content_len != b->content_len ||
        memcmp(again->content, b->content, b->content_len) != 0 ||
        again->hdr.sequence != b->hdr.sequence || again->hdr.created != b->hdr.created)
        abort();
    sz_bundle_free(again);
    free(sealed);
    free(enc);
}

/*
 * Opens one input with sz_bundle_open() or sz_bundle_inspect(). A failure must
 * leave the output untouched, and a structural failure must be the parse's.
 * Returns the result; on success *out holds the checked bundle.
 */
static int
open_one(int (*fn)(const uint8_t *, size_t, uint64_t, struct sz_bundle **), const uint8_t *data,
         size_t size, int parse_rc, struct sz_bundle **out)
{
    static struct sz_bundle marker;
    struct sz_bundle *b = &marker;
    int rc = fn(data, size, CONTENT_CAP, &b);

    fuzz_check_rc(rc);
    if (parse_rc != 0 && rc != parse_rc)
        abort();
    if (rc != 0) {
        if (b != &marker)
            abort();
        *out = NULL;
        return rc;
    }
    check_opened(data, size, b);
    *out = b;
    return 0;
}

/* Two openings of the same bytes hold the same content. */
static void
check_same(const struct sz_bundle *a, const struct sz_bundle *b)
{
    if (a->content_len != b->content_len || memcmp(a->content, b->content, a->content_len) != 0 ||
        a->c->n_articles != b->c->n_articles)
        abort();
}

/*
 * sz_bundle_verify_prefix() on an exact-size copy of the first n bytes (ASan
 * sees any read past them), for a bundle of total bytes. A failure must leave
 * the outputs untouched.
 */
static int
prefix_one(const uint8_t *data, size_t n, size_t total, struct sz_bundle_header *hdr,
           uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct sz_bundle_header h, untouched;
    uint8_t pid[SZ_BUNDLE_ID_LEN], mark[SZ_BUNDLE_ID_LEN], *copy = malloc(n > 0 ? n : 1);
    int rc;

    if (copy == NULL)
        abort();
    if (n > 0)
        memcpy(copy, data, n);
    memset(&untouched, 0xa5, sizeof untouched);
    memcpy(&h, &untouched, sizeof h);
    memset(mark, 0xa5, sizeof mark);
    memcpy(pid, mark, sizeof pid);
    rc = sz_bundle_verify_prefix(copy, n, total, CONTENT_CAP, &h, pid);
    fuzz_check_rc(rc);
    if (rc != 0 && (memcmp(&h, &untouched, sizeof h) != 0 || memcmp(pid, mark, sizeof pid) != 0))
        abort();
    if (rc == 0) {
        *hdr = h;
        memcpy(id, pid, sizeof pid);
    }
    free(copy);
    return rc;
}

/*
 * The prefix check against the whole verification of the same bytes; parse_rc,
 * h and id are sz_bundle_parse()'s on them.
 */
static void
check_prefix(const uint8_t *data, size_t size, int parse_rc, const struct sz_bundle_header *h,
             const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct sz_bundle_header hv, hp, hq;
    uint8_t idv[SZ_BUNDLE_ID_LEN], idp[SZ_BUNDLE_ID_LEN], idq[SZ_BUNDLE_ID_LEN];
    size_t n = size < SZ_BUNDLE_PREFIX_LEN ? size : SZ_BUNDLE_PREFIX_LEN;
    int rc_verify, rc_whole, rc_prefix;

    rc_verify = sz_bundle_verify(data, size, CONTENT_CAP, &hv, idv);
    rc_whole = prefix_one(data, size, size, &hp, idp);
    rc_prefix = prefix_one(data, n, size, &hq, idq);
    /* Nothing after the prefix is looked at. */
    if (rc_prefix != rc_whole)
        abort();
    /* Success only where the structure is sound: then the header and id are the parse's. */
    if (rc_whole == 0 && (parse_rc != 0 || !hdr_equal(&hp, h) || memcmp(idp, id, sizeof idp) != 0 ||
                          !hdr_equal(&hq, h) || memcmp(idq, id, sizeof idq) != 0))
        abort();
    /* Structural errors are the parse's. */
    if (parse_rc != 0 && rc_whole != parse_rc)
        abort();
    if (rc_verify == 0) {
        if (rc_whole != 0 || !hdr_equal(&hv, &hp) || memcmp(idv, idp, sizeof idv) != 0)
            abort();
    } else if (rc_verify == -SZ_EHASH) {
        if (rc_whole != 0)
            abort();
    } else if (rc_whole != rc_verify) {
        abort();
    }
}

/* Replaces publisher, payload hash and signature so that the copy verifies. */
static void
resign(uint8_t *buf, size_t size)
{
    uint8_t msg[sizeof SIGN_CONTEXT + SZ_BUNDLE_HEADER_LEN];

    memcpy(buf + OFF_PUBLISHER, fuzz_pk, sizeof fuzz_pk);
    crypto_generichash(buf + OFF_PAYLOAD_HASH, 32, buf + SZ_BUNDLE_PREFIX_LEN,
                       size - SZ_BUNDLE_PREFIX_LEN, NULL, 0);
    memcpy(msg, SIGN_CONTEXT, sizeof SIGN_CONTEXT);
    memcpy(msg + sizeof SIGN_CONTEXT, buf, SZ_BUNDLE_HEADER_LEN);
    if (crypto_sign_detached(buf + SZ_BUNDLE_HEADER_LEN, NULL, msg, sizeof msg, fuzz_sk) != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sz_bundle_header h, h2, h3, untouched;
    struct sz_bundle *opened, *inspected, *resigned;
    uint8_t id[SZ_BUNDLE_ID_LEN], id2[SZ_BUNDLE_ID_LEN], id3[SZ_BUNDLE_ID_LEN], *copy;
    int rc, rc_inspect, rc_open;

    memset(&untouched, 0xa5, sizeof untouched);
    memcpy(&h, &untouched, sizeof h);
    memset(id, 0xa5, sizeof id);
    rc = sz_bundle_parse(data, size, CONTENT_CAP, &h, id);
    fuzz_check_rc(rc);
    if (rc != 0 && memcmp(&h, &untouched, sizeof h) != 0)
        abort();
    check_prefix(data, size, rc, &h, id);
    rc_inspect = open_one(sz_bundle_inspect, data, size, rc, &inspected);
    rc_open = open_one(sz_bundle_open, data, size, rc, &opened);
    /* Whatever verifies, inspects the same way. */
    if (rc_open == 0) {
        if (rc_inspect != 0)
            abort();
        check_same(opened, inspected);
    }
    sz_bundle_free(opened);
    if (rc != 0) {
        sz_bundle_free(inspected);
        return 0;
    }

    /*
     * The structure is sound: make the signature and hash right and open
     * again. Only those bytes changed, and inspecting ignores them, so the
     * verified opening must now end exactly as the inspection did.
     */
    copy = malloc(size);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    resign(copy, size);
    if (sz_bundle_verify(copy, size, CONTENT_CAP, &h2, id2) != 0 ||
        memcmp(h2.publisher, fuzz_pk, sizeof fuzz_pk) != 0 || h2.sequence != h.sequence ||
        h2.payload_len != h.payload_len || h2.content_len != h.content_len)
        abort();
    /* The re-signed copy verifies, so its prefix does, with the same header and id. */
    if (prefix_one(copy, SZ_BUNDLE_PREFIX_LEN, size, &h3, id3) != 0 || !hdr_equal(&h3, &h2) ||
        memcmp(id3, id2, sizeof id3) != 0)
        abort();
    /* The total is the whole bundle's length, exactly. */
    if (prefix_one(copy, SZ_BUNDLE_PREFIX_LEN, size - 1, &h3, id3) != -SZ_EBADMSG ||
        prefix_one(copy, SZ_BUNDLE_PREFIX_LEN, size + 1, &h3, id3) != -SZ_ETRAILING)
        abort();
    if (open_one(sz_bundle_open, copy, size, 0, &resigned) != rc_inspect)
        abort();
    if (rc_inspect == 0)
        check_same(inspected, resigned);
    sz_bundle_free(resigned);
    sz_bundle_free(inspected);
    free(copy);
    return 0;
}
