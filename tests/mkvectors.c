/*
 * mkvectors: writes the bundle test vectors of tests/vectors/ (see its
 * README.md) into the directory given as the only argument.
 *
 * Everything is deterministic (fixed seeds, sequences, times, level 19) except
 * publisher.sk, whose nonce is random. Valid bundles come from the reference
 * writer (sz_bundle_seal) and are cross-checked against an independent
 * construction here; invalid ones are built by hand from BUNDLE.md (header
 * bytes, BLAKE2b, Ed25519 over "samizdat-bundle-v1\0" || header) so that each
 * is wrong in exactly one way and, where it matters, properly signed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"

#define S(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
#define LEVEL 19

/* 32-byte seeds, readable on purpose: these keys are public test keys. */
static const char PUBLISHER_SEED[] = "samizdat-test-vector-publisher-1";
static const char OTHER_SEED[] = "samizdat-test-vector-other-key-2";

/* BUNDLE.md 1.2: the context string with its NUL. */
static const uint8_t CONTEXT[19] = "samizdat-bundle-v1";

static const char *out_dir;
static FILE *tsv;
static uint8_t pub_pk[32], pub_sk[64], oth_pk[32], oth_sk[64];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("mkvectors: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void
write_file(const char *name, const void *data, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    f = fopen(path, "wb");
    if (f == NULL)
        die("%s: %s", path, strerror(errno));
    if ((len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        die("%s: write failed", path);
}

static void
write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}

static void
check(int rc, const char *what)
{
    if (rc != 0)
        die("%s: %s", what, sz_strerror(rc));
}

/* ---- containers ------------------------------------------------------------- */

/* A 1x1 red PNG (IHDR, IDAT, IEND with valid CRCs). */
static const uint8_t PNG[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00,
    0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78,
    0xda, 0x63, 0x38, 0xc3, 0xc0, 0x00, 0x00, 0x02, 0x68, 0x00, 0xcd, 0x1b, 0x1f, 0x4f,
    0xc2, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static const char CSV[] = "year,copies\n1966,12\n1967,40\n";

static const char HELLO_MD[] = "# Hello, world\n"
                               "\n"
                               "This is the first article of the samizdat test vectors.\n"
                               "It is *Markdown*, stored byte for byte as written.\n";

static struct sz_str hello_authors[] = {S("Samizdat Test")};

static struct sz_article
hello_article(void)
{
    struct sz_article a;

    memset(&a, 0, sizeof a);
    a.id = (struct sz_str)S("hello-world");
    a.title = (struct sz_str)S("Hello, world");
    a.published = 1724925600; /* 2024-08-29T10:00:00Z */
    a.ctype = SZ_CTYPE_MARKDOWN;
    a.url = (struct sz_str)S("https://example.org/hello-world");
    a.authors = hello_authors;
    a.n_authors = 1;
    a.lang = (struct sz_str)S("en");
    a.summary = (struct sz_str)S("The first test vector.");
    a.body = (const uint8_t *)HELLO_MD;
    a.body_len = sizeof HELLO_MD - 1;
    return a;
}

static uint8_t *
one_article_content(size_t *len)
{
    struct sz_article a = hello_article();
    uint8_t *out;

    check(sz_container_encode(&a, 1, &out, len), "one-article");
    return out;
}

static uint8_t *
mixed_content(size_t *len)
{
    static const char about_txt[] = "About this site\n"
                                    "===============\n"
                                    "\n"
                                    "Plain text, kept as is.\tTabs too.\n";
    static const char news_md[] = "# News\n\nA picture:\n\n![pixel](pixel.png)\n";
    static const char report_html[] = "<h1>Report</h1>\n"
                                      "<p>Numbers are in <a href=\"data.csv\">data.csv</a>"
                                      " &amp; more.</p>\n";
    static struct sz_str report_authors[] = {S("Second Author"), S("First Author")};
    static struct sz_attachment news_atts[] = {
        {S("pixel.png"), S("image/png"), PNG, sizeof PNG},
    };
    /* Given out of order: the encoder sorts them (data.csv < notes.txt). */
    static struct sz_attachment report_atts[] = {
        {S("notes.txt"), S("text/plain"), (const uint8_t *)"see data.csv\n", 13},
        {S("data.csv"), S("text/csv"), (const uint8_t *)CSV, sizeof CSV - 1},
    };
    struct sz_article arts[3];
    uint8_t *out;

    memset(arts, 0, sizeof arts);
    /* Given out of order too: report, about, news-2024-08-30. */
    arts[0].id = (struct sz_str)S("report");
    arts[0].title = (struct sz_str)S("Quarterly report");
    arts[0].published = 1725098400; /* 2024-08-31T10:00:00Z */
    arts[0].ctype = SZ_CTYPE_HTML;
    arts[0].authors = report_authors;
    arts[0].n_authors = 2;
    arts[0].lang = (struct sz_str)S("en-GB");
    arts[0].body = (const uint8_t *)report_html;
    arts[0].body_len = sizeof report_html - 1;
    arts[0].atts = report_atts;
    arts[0].n_atts = 2;

    arts[1].id = (struct sz_str)S("about");
    arts[1].title = (struct sz_str)S("About");
    arts[1].published = 0; /* 1970-01-01T00:00:00Z */
    arts[1].ctype = SZ_CTYPE_PLAIN;
    arts[1].body = (const uint8_t *)about_txt;
    arts[1].body_len = sizeof about_txt - 1;

    arts[2].id = (struct sz_str)S("news-2024-08-30");
    arts[2].title = (struct sz_str)S("News with a picture");
    arts[2].published = 1725012000; /* 2024-08-30T10:00:00Z */
    arts[2].ctype = SZ_CTYPE_MARKDOWN;
    arts[2].url = (struct sz_str)S("http://example.org/news?id=2024-08-30");
    arts[2].summary = (struct sz_str)S("One paragraph,\r\nwith a picture.");
    arts[2].body = (const uint8_t *)news_md;
    arts[2].body_len = sizeof news_md - 1;
    arts[2].atts = news_atts;
    arts[2].n_atts = 1;

    check(sz_container_encode(arts, 3, &out, len), "mixed");
    return out;
}

static uint8_t *
russian_content(size_t *len)
{
    static const char body[] = "# Свобода слова\n"
                               "\n"
                               "Каждый человек имеет право на свободу убеждений и на свободное "
                               "выражение их; это право включает свободу беспрепятственно "
                               "придерживаться своих убеждений и свободу искать, получать и "
                               "распространять информацию и идеи любыми средствами и независимо "
                               "от государственных границ.\n"
                               "\n"
                               "— Всеобщая декларация прав человека, статья 19.\n";
    static struct sz_str authors[] = {S("Анна Иванова")};
    struct sz_article a;
    uint8_t *out;

    memset(&a, 0, sizeof a);
    a.id = (struct sz_str)S("svoboda-slova");
    a.title = (struct sz_str)S("Свобода слова — статья 19");
    a.published = 1725184800; /* 2024-09-01T10:00:00Z */
    a.ctype = SZ_CTYPE_MARKDOWN;
    a.url = (struct sz_str)S("https://example.org/ru/svoboda-slova");
    a.authors = authors;
    a.n_authors = 1;
    a.lang = (struct sz_str)S("ru");
    a.summary = (struct sz_str)S("Статья 19 Всеобщей декларации прав человека.");
    a.body = (const uint8_t *)body;
    a.body_len = sizeof body - 1;
    check(sz_container_encode(&a, 1, &out, len), "russian");
    return out;
}

/* The wire form of one article, exactly as given: no checks, no sorting. */
static void
raw_str8(struct sz_wr *w, struct sz_str s)
{
    sz_wr_u8(w, (uint8_t)s.len);
    sz_wr_bytes(w, s.p, s.len);
}

static void
raw_str16(struct sz_wr *w, struct sz_str s)
{
    sz_wr_u16(w, (uint16_t)s.len);
    sz_wr_bytes(w, s.p, s.len);
}

static void
raw_article(struct sz_wr *w, const struct sz_article *a)
{
    raw_str8(w, a->id);
    raw_str16(w, a->title);
    sz_wr_i64(w, a->published);
    sz_wr_u8(w, (uint8_t)a->ctype);
    raw_str16(w, a->url);
    sz_wr_u8(w, (uint8_t)a->n_authors);
    for (size_t i = 0; i < a->n_authors; i++)
        raw_str16(w, a->authors[i]);
    raw_str8(w, a->lang);
    raw_str16(w, a->summary);
    sz_wr_u32(w, (uint32_t)a->body_len);
    sz_wr_bytes(w, a->body, a->body_len);
    sz_wr_u16(w, (uint16_t)a->n_atts);
    for (size_t i = 0; i < a->n_atts; i++) {
        raw_str8(w, a->atts[i].name);
        raw_str8(w, a->atts[i].media_type);
        sz_wr_u32(w, (uint32_t)a->atts[i].data_len);
        sz_wr_bytes(w, a->atts[i].data, a->atts[i].data_len);
    }
}

/* A container of copies of the hello article under the given ids, in that order. */
static uint8_t *
raw_content(const char *const *ids, size_t n, const char *title, size_t *len)
{
    struct sz_wr w;

    sz_wr_init(&w, 1 << 20);
    sz_wr_u32(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        struct sz_article a = hello_article();
        a.id = (struct sz_str){ids[i], strlen(ids[i])};
        if (title != NULL)
            a.title = (struct sz_str){title, strlen(title)};
        raw_article(&w, &a);
    }
    check(sz_wr_status(&w), "raw container");
    *len = w.len;
    return w.p;
}

/* ---- frames and bundles, by hand ------------------------------------------- */

/* One zstd frame with the reference writer's settings (BUNDLE.md 1.4). */
static uint8_t *
compress(const uint8_t *src, size_t len, bool with_size, size_t *out_len)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    size_t bound = ZSTD_compressBound(len), n;
    uint8_t *out = malloc(bound);

    if (c == NULL || out == NULL)
        die("out of memory");
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, with_size)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, len)))
        die("zstd parameters");
    n = ZSTD_compress2(c, out, bound, src, len);
    if (ZSTD_isError(n))
        die("zstd: %s", ZSTD_getErrorName(n));
    ZSTD_freeCCtx(c);
    *out_len = n;
    return out;
}

/*
 * A frame of raw blocks of block_max bytes (the last one shorter), byte by
 * byte (RFC 8878): 4-byte Frame_Content_Size, window 2^window_log.
 * Independent of the compressor's version.
 */
static uint8_t *
raw_frame(const uint8_t *src, size_t len, int window_log, size_t block_max, size_t *out_len)
{
    uint8_t *f = malloc(10 + len + 3 * (len / block_max + 1));
    size_t o = 0, i = 0;

    if (f == NULL)
        die("out of memory");
    sz_store32(f, ZSTD_MAGICNUMBER);
    o = 4;
    f[o++] = 0x80;
    f[o++] = (uint8_t)((window_log - 10) << 3);
    sz_store32(f + o, (uint32_t)len);
    o += 4;
    do {
        size_t n = len - i < block_max ? len - i : block_max;
        uint32_t bh = (uint32_t)(n << 3) | (i + n == len ? 1u : 0u);
        f[o++] = (uint8_t)bh;
        f[o++] = (uint8_t)(bh >> 8);
        f[o++] = (uint8_t)(bh >> 16);
        memcpy(f + o, src + i, n);
        o += n;
        i += n;
    } while (i < len);
    *out_len = o;
    return f;
}

/* Every header field of BUNDLE.md 1.1, settable to anything. */
struct hand {
    uint8_t version, flags;
    const uint8_t *sk; /* signs, and names the publisher */
    uint64_t sequence;
    int64_t created;
    uint64_t content_len;
    const uint8_t *payload;
    size_t payload_len;
};

static uint8_t *
hand_bundle(const struct hand *h, size_t *out_len)
{
    size_t len = SZ_BUNDLE_PREFIX_LEN + h->payload_len;
    uint8_t *b = malloc(len), msg[sizeof CONTEXT + SZ_BUNDLE_HEADER_LEN];

    if (b == NULL)
        die("out of memory");
    memcpy(b, "SZBN", 4);
    b[4] = h->version;
    b[5] = h->flags;
    sz_store16(b + 6, 0);
    memcpy(b + 8, h->sk + 32, 32);
    sz_store64(b + 40, h->sequence);
    sz_store64(b + 48, (uint64_t)h->created);
    sz_store64(b + 56, h->payload_len);
    sz_store64(b + 64, h->content_len);
    crypto_generichash(b + 72, 32, h->payload, h->payload_len, NULL, 0);
    memcpy(msg, CONTEXT, sizeof CONTEXT);
    memcpy(msg + sizeof CONTEXT, b, SZ_BUNDLE_HEADER_LEN);
    if (crypto_sign_detached(b + SZ_BUNDLE_HEADER_LEN, NULL, msg, sizeof msg, h->sk) != 0)
        die("sign");
    memcpy(b + SZ_BUNDLE_PREFIX_LEN, h->payload, h->payload_len);
    *out_len = len;
    return b;
}

/* Signs a bundle's (edited) header again, with the key it names. */
static void
resign(uint8_t *b, const uint8_t *sk)
{
    uint8_t msg[sizeof CONTEXT + SZ_BUNDLE_HEADER_LEN];

    memcpy(msg, CONTEXT, sizeof CONTEXT);
    memcpy(msg + sizeof CONTEXT, b, SZ_BUNDLE_HEADER_LEN);
    if (crypto_sign_detached(b + SZ_BUNDLE_HEADER_LEN, NULL, msg, sizeof msg, sk) != 0)
        die("sign");
}

static void
hand_defaults(struct hand *h, const uint8_t *payload, size_t payload_len, uint64_t content_len)
{
    memset(h, 0, sizeof *h);
    h->version = SZ_BUNDLE_VERSION;
    h->sk = pub_sk;
    h->sequence = 100;
    h->created = 1725271200; /* 2024-09-02T10:00:00Z */
    h->content_len = content_len;
    h->payload = payload;
    h->payload_len = payload_len;
}

/* A properly signed bundle around a container, compressed as the reference does. */
static uint8_t *
hand_seal(const uint8_t *content, size_t content_len, size_t *out_len)
{
    struct hand h;
    size_t n;
    uint8_t *z = compress(content, content_len, true, &n), *b;

    hand_defaults(&h, z, n, content_len);
    b = hand_bundle(&h, out_len);
    free(z);
    return b;
}

/* ---- output ------------------------------------------------------------------- */

static void
emit(const char *name, const uint8_t *b, size_t len, const char *expected, const uint8_t *id)
{
    char hex[2 * SZ_BUNDLE_ID_LEN + 1];

    write_file(name, b, len);
    if (id != NULL) {
        char idname[256], line[2 * SZ_BUNDLE_ID_LEN + 2];
        sz_bundle_id_hex(id, hex);
        snprintf(line, sizeof line, "%s\n", hex);
        snprintf(idname, sizeof idname, "%.*s.id", (int)(strlen(name) - strlen(".bundle")), name);
        write_text(idname, line);
    }
    fprintf(tsv, "%s\t%s\t%s\n", name, expected, id != NULL ? hex : "-");
}

/* A valid bundle from the reference writer, checked against the construction by hand. */
static void
emit_valid(const char *name, const uint8_t *content, size_t content_len, uint64_t sequence,
           int64_t created)
{
    struct sz_seal_params p = {pub_sk, sequence, created, LEVEL};
    struct hand h;
    uint8_t *b, *z, *hb, id[SZ_BUNDLE_ID_LEN];
    size_t len, zlen, hlen;

    check(sz_bundle_seal(&p, content, content_len, &b, &len, id), name);
    z = compress(content, content_len, true, &zlen);
    hand_defaults(&h, z, zlen, content_len);
    h.sequence = sequence;
    h.created = created;
    hb = hand_bundle(&h, &hlen);
    if (hlen != len || memcmp(hb, b, len) != 0)
        die("%s: sz_bundle_seal disagrees with BUNDLE.md", name);
    emit(name, b, len, "ok", id);
    free(hb);
    free(z);
    free(b);
}

static void
write_keys(void)
{
    uint8_t seed[32], skfile[SZ_SKFILE_LEN];
    char text[SZ_PK_TEXT_LEN + 1], line[128], hex[65];

    memcpy(seed, PUBLISHER_SEED, 32);
    crypto_sign_seed_keypair(pub_pk, pub_sk, seed);
    memcpy(seed, OTHER_SEED, 32);
    crypto_sign_seed_keypair(oth_pk, oth_sk, seed);

    sz_pk_to_text(pub_pk, text);
    snprintf(line, sizeof line, "%s\n", text);
    write_text("publisher.pk", line);
    sz_hex((const uint8_t *)PUBLISHER_SEED, 32, hex);
    snprintf(line, sizeof line, "%s\n", hex);
    write_text("publisher.seed.hex", line);
    /* No passphrase; the nonce is random, so this file differs on every run. */
    check(sz_skfile_seal(pub_sk, NULL, 0, 0, 0, skfile), "publisher.sk");
    write_file("publisher.sk", skfile, sizeof skfile);

    sz_pk_to_text(oth_pk, text);
    snprintf(line, sizeof line, "%s\n", text);
    write_text("other.pk", line);
    sz_hex((const uint8_t *)OTHER_SEED, 32, hex);
    snprintf(line, sizeof line, "%s\n", hex);
    write_text("other.seed.hex", line);
}

int
main(int argc, char **argv)
{
    uint8_t *one, *mixed, *ru, *b, *z, *c, id[SZ_BUNDLE_ID_LEN];
    size_t one_len, mixed_len, ru_len, len, zlen, clen;
    struct hand h;
    char path[4096];

    if (argc != 2) {
        fprintf(stderr, "usage: mkvectors OUTPUT-DIRECTORY\n");
        return 2;
    }
    out_dir = argv[1];
    if (sz_init() != 0)
        die("libsodium");
    snprintf(path, sizeof path, "%s/expected.tsv", out_dir);
    tsv = fopen(path, "w");
    if (tsv == NULL)
        die("%s: %s", path, strerror(errno));
    fprintf(tsv, "# file\texpected\tid\n");
    write_keys();

    /* Valid. */
    one = one_article_content(&one_len);
    mixed = mixed_content(&mixed_len);
    ru = russian_content(&ru_len);
    emit_valid("valid-one-article.bundle", one, one_len, 1, 1724925600);
    emit_valid("valid-mixed-with-attachment.bundle", mixed, mixed_len, 2, 1725098400);
    emit_valid("valid-russian.bundle", ru, ru_len, 3, 1725184800);

    /* Signed by "other": valid as a bundle, refused by a reader trusting publisher.pk. */
    {
        struct sz_seal_params p = {oth_sk, 1, 1724925600, LEVEL};
        check(sz_bundle_seal(&p, one, one_len, &b, &len, id), "other");
        emit("invalid-other-key.bundle", b, len, "untrusted", id);
        free(b);
    }

    /* Damaged copies of valid-one-article. */
    {
        struct sz_seal_params p = {pub_sk, 1, 1724925600, LEVEL};
        uint8_t *v;
        size_t vlen;

        check(sz_bundle_seal(&p, one, one_len, &v, &vlen, id), "one");
        c = malloc(vlen + 1);
        if (c == NULL)
            die("out of memory");
        memcpy(c, v, vlen);
        c[SZ_BUNDLE_HEADER_LEN + 10] ^= 0x01;
        emit("invalid-bad-signature.bundle", c, vlen, "EAUTH", NULL);
        emit("invalid-truncated.bundle", v, vlen - 1, "EBADMSG", NULL);
        memcpy(c, v, vlen);
        c[vlen] = '\n';
        emit("invalid-trailing-bytes.bundle", c, vlen + 1, "ETRAILING", NULL);
        memcpy(c, v, vlen);
        c[vlen - 1] ^= 0x01;
        emit("invalid-payload-hash-mismatch.bundle", c, vlen, "EHASH", NULL);
        memcpy(c, v, vlen);
        c[1] = 'X'; /* "SXBN", re-signed: only the magic is wrong */
        resign(c, pub_sk);
        emit("invalid-bad-magic.bundle", c, vlen, "EBADMSG", NULL);
        free(c);
        free(v);
    }

    /* Properly signed, one header field wrong. */
    z = compress(one, one_len, true, &zlen);
    hand_defaults(&h, z, zlen, one_len);
    h.version = 2;
    b = hand_bundle(&h, &len);
    emit("invalid-unknown-version.bundle", b, len, "EVERSION", NULL);
    free(b);

    hand_defaults(&h, z, zlen, one_len);
    h.flags = 1;
    b = hand_bundle(&h, &len);
    emit("invalid-nonzero-flags.bundle", b, len, "ECANON", NULL);
    free(b);

    /* The signed header declares one byte less than the (honest) frame holds. */
    hand_defaults(&h, z, zlen, one_len - 1);
    b = hand_bundle(&h, &len);
    emit("invalid-declared-length-lie.bundle", b, len, "ELENGTH", NULL);
    free(b);
    free(z);

    /*
     * The frame's own size field lies too: header and frame say 64 bytes, but
     * its one RLE block inflates to 128 KiB of 'A' (14 bytes of payload).
     */
    {
        uint8_t f[14];
        uint32_t bh = (uint32_t)(128 * 1024) << 3 | 1u << 1 | 1u; /* RLE, last */

        sz_store32(f, ZSTD_MAGICNUMBER);
        f[4] = 0x80;           /* 4-byte Frame_Content_Size, not single segment */
        f[5] = (17 - 10) << 3; /* window 128 KiB */
        sz_store32(f + 6, 64);
        f[10] = (uint8_t)bh;
        f[11] = (uint8_t)(bh >> 8);
        f[12] = (uint8_t)(bh >> 16);
        f[13] = 'A';
        hand_defaults(&h, f, sizeof f, 64);
        b = hand_bundle(&h, &len);
        emit("invalid-frame-size-lie.bundle", b, len, "ELENGTH", NULL);
        free(b);
    }

    /* A frame that does not state its content size. */
    z = compress(one, one_len, false, &zlen);
    hand_defaults(&h, z, zlen, one_len);
    b = hand_bundle(&h, &len);
    emit("invalid-no-content-size.bundle", b, len, "EBADMSG", NULL);
    free(b);
    free(z);

    /* The container's frame followed by a second, empty frame. */
    {
        uint8_t *e;
        size_t elen;

        z = compress(one, one_len, true, &zlen);
        e = compress((const uint8_t *)"", 0, true, &elen);
        c = malloc(zlen + elen);
        if (c == NULL)
            die("out of memory");
        memcpy(c, z, zlen);
        memcpy(c + zlen, e, elen);
        hand_defaults(&h, c, zlen + elen, one_len);
        b = hand_bundle(&h, &len);
        emit("invalid-two-frames.bundle", b, len, "ETRAILING", NULL);
        free(b);
        free(c);
        free(e);
        free(z);
    }

    /* A frame that asks for a 32 MiB window (the limit is 16 MiB). */
    z = raw_frame(one, one_len, 25, 128 * 1024, &zlen);
    hand_defaults(&h, z, zlen, one_len);
    b = hand_bundle(&h, &len);
    emit("invalid-window-too-large.bundle", b, len, "ETOOBIG", NULL);
    free(b);
    free(z);

    /*
     * A block above Block_Maximum_Size (RFC 8878: the smaller of the window
     * and 128 KiB): an article with a 2000-byte body, its container in one
     * raw block, in a 1 KiB window.
     */
    {
        struct sz_article a = hello_article();
        uint8_t body[2000];
        for (size_t i = 0; i < sizeof body; i++)
            body[i] = (uint8_t)("samizdat "[i % 9]);
        a.body = body;
        a.body_len = sizeof body;
        check(sz_container_encode(&a, 1, &c, &clen), "block-too-large");
        z = raw_frame(c, clen, 10, clen, &zlen);
        hand_defaults(&h, z, zlen, clen);
        b = hand_bundle(&h, &len);
        emit("invalid-block-too-large.bundle", b, len, "EBADMSG", NULL);
        free(b);
        free(z);
        free(c);
    }

    /* Above the default 64 MiB cap: two articles with 32 MiB bodies. */
    {
        struct sz_article a[2];
        uint8_t *body = malloc(SZ_MAX_BODY_LEN);
        if (body == NULL)
            die("out of memory");
        for (size_t i = 0; i < SZ_MAX_BODY_LEN; i++)
            body[i] = (uint8_t)("samizdat "[i % 9]);
        a[0] = hello_article();
        a[0].id = (struct sz_str)S("big-1");
        a[0].body = body;
        a[0].body_len = SZ_MAX_BODY_LEN;
        a[1] = a[0];
        a[1].id = (struct sz_str)S("big-2");
        check(sz_container_encode(a, 2, &c, &clen), "oversize");
        free(body);
        if (clen <= SZ_BUNDLE_DEFAULT_CONTENT_CAP)
            die("oversize: container too small");
        b = hand_seal(c, clen, &len);
        emit("invalid-oversize.bundle", b, len, "ETOOBIG", NULL);
        free(b);
        free(c);
    }

    /* Containers that the reference encoder would never write, properly signed. */
    {
        static const char *const ba[] = {"b", "a"}, *const dotdot[] = {"../etc"},
                                 *const dup[] = {"a", "a"}, *const ok[] = {"a"};

        c = raw_content(ba, 2, NULL, &clen);
        b = hand_seal(c, clen, &len);
        emit("invalid-non-canonical-container.bundle", b, len, "ECANON", NULL);
        free(b);
        free(c);

        c = raw_content(dotdot, 1, NULL, &clen);
        b = hand_seal(c, clen, &len);
        emit("invalid-unsafe-article-id.bundle", b, len, "EBADID", NULL);
        free(b);
        free(c);

        c = raw_content(dup, 2, NULL, &clen);
        b = hand_seal(c, clen, &len);
        emit("invalid-duplicate-article-id.bundle", b, len, "EDUPID", NULL);
        free(b);
        free(c);

        c = raw_content(ok, 1, "Latin-1 caf\xe9", &clen);
        b = hand_seal(c, clen, &len);
        emit("invalid-bad-utf8-title.bundle", b, len, "EUTF8", NULL);
        free(b);
        free(c);
    }

    free(one);
    free(mixed);
    free(ru);
    if (fclose(tsv) != 0)
        die("expected.tsv: write failed");
    return 0;
}
