/*
 * bench_bundle: throughput of packing, opening and verifying bundles made of
 * real corpus documents, each beside the raw limit of the primitives it is
 * built on, measured in the same run; bundle size against `tar c | zstd -19`;
 * and, when the CLI is given, `samizdat verify` against `minisign -V` as whole
 * processes. Prints one plain-text table. See bench/README.md.
 *
 * Usage: bench_bundle [options] CORPUS_DIR
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "samizdat/article.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"

#include "corpus.h"

extern char **environ;

#define GROUP_SIZE 50
#define MAX_GROUPS 8
#define SMALL_BUNDLE_LEN 1024        /* "a 1 KB bundle" */
#define CLI_BUNDLE_LEN (50u * 1024u) /* "a 50 KB bundle" */
#define CLI_WARMUP_RUNS 10
#define PUBLISHED_TIME 1704067200 /* 2024-01-01T00:00:00Z: fixed, so runs are repeatable */
#define MB 1e6

/* Targets from the performance section. */
#define TARGET_THROUGHPUT_RATIO 0.80
#define TARGET_VERIFY_RATIO 0.80
#define TARGET_SIZE_RATIO 1.05
#define TARGET_PROCESS_RATIO 1.20

/* The domain-separation context of BUNDLE.md 1.2, with its terminating zero byte. */
static const char SIGN_CONTEXT[] = "samizdat-bundle-v1";
#define SIGN_CONTEXT_LEN sizeof SIGN_CONTEXT
#define SIGNED_LEN (SIGN_CONTEXT_LEN + SZ_BUNDLE_HEADER_LEN)

struct corpus {
    const char *dir;
    struct doc *docs;
    size_t n_docs;
};

/* A 50-document selection, packed once at the default level. */
struct group {
    const char *name;
    struct doc *docs[GROUP_SIZE];
    size_t n;
    struct sz_article arts[GROUP_SIZE];
    size_t text_len;   /* sum of body lengths: the "article text" */
    uint8_t *text;     /* bodies concatenated in container order, for the raw limits */
    uint8_t *bundle;   /* sealed at the pack level */
    size_t bundle_len; /* bytes */
};

struct options {
    const char *corpus_dir;
    const char *samizdat; /* CLI binary, or NULL */
    const char *minisign;
    double min_time_s;
    int runs;
    int level;
    bool level3;
    const char *only; /* run only this section, or NULL for all */
};

/* A result line: what to print and whether it met its target. */
struct row {
    char what[64];
    char value[32];
    char limit[32];
    double ratio;
    bool higher_is_better; /* ratio >= target passes; otherwise ratio <= target passes */
    double target;
    bool skipped;
    char note[96]; /* shown instead of numbers when skipped */
};

static int n_failed, n_passed, n_skipped;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("bench_bundle: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);

    if (p == NULL)
        die("out of memory");
    return p;
}

/*
 * The clock of the library lines: wall time (CLOCK_MONOTONIC) by default, or
 * with --cpu-time this thread's CPU time, which time slices taken by other
 * programs do not inflate. Process lines always use wall time.
 */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double
clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* ---- Output -------------------------------------------------------------------------------- */

#define COL_WHAT 46
#define COL_VALUE 22
#define COL_LIMIT 22

static void
print_header(void)
{
    printf("%-*s | %-*s | %-*s | %-6s | %-7s | %s\n", COL_WHAT, "measurement", COL_VALUE, "value",
           COL_LIMIT, "raw limit", "ratio", "target", "pass/fail");
    for (int i = 0; i < COL_WHAT + COL_VALUE + COL_LIMIT + 6 + 7 + 9 + 15; i++)
        putchar('-');
    putchar('\n');
}

static void
print_section(const char *title)
{
    printf("%s\n", title);
}

static void
print_row(const struct row *r)
{
    char target[16];
    bool pass;

    if (r->skipped) {
        n_skipped++;
        printf("%-*s | %s\n", COL_WHAT, r->what, r->note);
        fflush(stdout);
        return;
    }
    pass = r->higher_is_better ? r->ratio >= r->target : r->ratio <= r->target;
    if (!pass)
        n_failed++;
    else
        n_passed++;
    snprintf(target, sizeof target, "%s %.2f", r->higher_is_better ? ">=" : "<=", r->target);
    printf("%-*s | %*s | %*s | %6.3f | %-7s | %s\n", COL_WHAT, r->what, COL_VALUE, r->value,
           COL_LIMIT, r->limit, r->ratio, target, pass ? "pass" : "FAIL");
    fflush(stdout);
}

static void print_skip(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
print_skip(const char *what, const char *fmt, ...)
{
    struct row r;
    va_list ap;

    memset(&r, 0, sizeof r);
    r.skipped = true;
    snprintf(r.what, sizeof r.what, "%s", what);
    va_start(ap, fmt);
    vsnprintf(r.note, sizeof r.note, fmt, ap);
    va_end(ap);
    print_row(&r);
}

/* ---- Corpus -------------------------------------------------------------------------------- */

/* Reads MANIFEST.tsv: file name in column 1, language in column 3; the header line is skipped. */
static void
corpus_load_manifest(struct corpus *c)
{
    char path[4096];
    uint8_t *buf;
    size_t len, cap = 0, start = 0;
    bool first = true;

    snprintf(path, sizeof path, "%s/MANIFEST.tsv", c->dir);
    if (!bench_read_file(path, &buf, &len))
        die("cannot read %s: %s (is %s the shared corpus?)", path, strerror(errno), c->dir);
    while (start < len) {
        size_t end = start, nf = 0, fstart[4] = {0}, flen[4] = {0}, i;
        while (end < len && buf[end] != '\n')
            end++;
        /* Split the line at tabs; only the first three fields matter. */
        fstart[0] = start;
        for (i = start; i <= end && nf < 3; i++) {
            if (i == end || buf[i] == '\t') {
                flen[nf] = i - fstart[nf];
                nf++;
                fstart[nf] = i + 1;
            }
        }
        if (!first && nf == 3 && flen[0] > 0 && flen[0] < sizeof c->docs->name &&
            flen[2] < sizeof c->docs->lang) {
            struct doc *d;
            const char *dot;
            if (c->n_docs == cap) {
                cap = cap * 2 + 256;
                c->docs = realloc(c->docs, cap * sizeof *c->docs);
                if (c->docs == NULL)
                    die("out of memory");
            }
            d = &c->docs[c->n_docs];
            memset(d, 0, sizeof *d);
            memcpy(d->name, buf + fstart[0], flen[0]);
            memcpy(d->lang, buf + fstart[2], flen[2]);
            dot = strrchr(d->name, '.');
            if (dot != NULL && (strcmp(dot, ".txt") == 0 || strcmp(dot, ".html") == 0)) {
                d->html = strcmp(dot, ".html") == 0;
                memcpy(d->id, d->name, (size_t)(dot - d->name));
                if (sz_safe_name(d->id, strlen(d->id)))
                    c->n_docs++;
            }
        }
        first = false;
        start = end + 1;
    }
    free(buf);
    if (c->n_docs == 0)
        die("%s lists no .txt or .html documents", path);
    qsort(c->docs, c->n_docs, sizeof *c->docs, bench_cmp_doc_name);
}

static void
doc_article(const struct doc *d, struct sz_article *a)
{
    memset(a, 0, sizeof *a);
    a->id.p = d->id;
    a->id.len = strlen(d->id);
    a->title.p = d->title;
    a->title.len = d->title_len;
    a->published = PUBLISHED_TIME;
    a->ctype = d->html ? SZ_CTYPE_HTML : SZ_CTYPE_PLAIN;
    a->lang.p = d->lang;
    a->lang.len = strlen(d->lang);
    a->body = d->data;
    a->body_len = d->len;
}

/* Loads a document; false (with a note) when it cannot be read or is no valid article body. */
static bool
doc_load(const struct corpus *c, struct doc *d)
{
    char path[4096];
    struct sz_article a;
    int rc;

    if (d->data != NULL)
        return true;
    snprintf(path, sizeof path, "%s/%s", c->dir, d->name);
    if (!bench_read_file(path, &d->data, &d->len)) {
        fprintf(stderr, "bench_bundle: skipping %s: %s\n", path, strerror(errno));
        return false;
    }
    bench_doc_title(d, sizeof d->title);
    doc_article(d, &a);
    if ((rc = sz_article_check(&a)) != 0) {
        fprintf(stderr, "bench_bundle: skipping %s: %s\n", path, sz_strerror(rc));
        free(d->data);
        d->data = NULL;
        return false;
    }
    return true;
}

/* ---- Groups -------------------------------------------------------------------------------- */

static bool
doc_matches(const struct doc *d, const char *lang, int html)
{
    return (lang == NULL || strcmp(d->lang, lang) == 0) && (html < 0 || d->html == (html == 1));
}

static int
cmp_doc_ptr_id(const void *a, const void *b)
{
    return strcmp((*(struct doc *const *)a)->id, (*(struct doc *const *)b)->id);
}

/*
 * Picks GROUP_SIZE documents spread evenly over those matching lang (NULL: any)
 * and kind (html: 1, text: 0, either: -1), so a group samples every source and
 * genre rather than the first few files. Unloadable documents are passed over.
 */
static void
group_pick(struct group *g, const struct corpus *c, const char *name, const char *lang, int html)
{
    size_t n_match = 0, seen = 0, next = 0;

    memset(g, 0, sizeof *g);
    g->name = name;
    for (size_t i = 0; i < c->n_docs; i++)
        n_match += doc_matches(&c->docs[i], lang, html);
    for (size_t i = 0; i < c->n_docs && g->n < GROUP_SIZE; i++) {
        if (!doc_matches(&c->docs[i], lang, html))
            continue;
        if (seen++ < next)
            continue;
        if (!doc_load(c, &c->docs[i]))
            continue;
        g->docs[g->n++] = &c->docs[i];
        next = (g->n * n_match) / GROUP_SIZE;
    }
    /* Container order is by id, so the raw limits see the bytes in the same order. */
    qsort(g->docs, g->n, sizeof g->docs[0], cmp_doc_ptr_id);
    for (size_t i = 0; i < g->n; i++) {
        doc_article(g->docs[i], &g->arts[i]);
        g->text_len += g->docs[i]->len;
    }
    g->text = xmalloc(g->text_len);
    for (size_t i = 0, off = 0; i < g->n; i++) {
        memcpy(g->text + off, g->docs[i]->data, g->docs[i]->len);
        off += g->docs[i]->len;
    }
}

static void
seal_articles_with(const struct sz_article *arts, size_t n, const uint8_t *sk, int level,
                   struct sz_deflater *z, uint8_t **out, size_t *out_len)
{
    struct sz_seal_params sp = {sk, 1, PUBLISHED_TIME, level};
    uint8_t *content, id[SZ_BUNDLE_ID_LEN];
    size_t content_len;
    int rc;

    if ((rc = sz_container_encode(arts, n, &content, &content_len)) != 0)
        die("sz_container_encode: %s", sz_strerror(rc));
    if ((rc = sz_bundle_seal_with(&sp, z, content, content_len, out, out_len, id)) != 0)
        die("sz_bundle_seal: %s", sz_strerror(rc));
    free(content);
}

static void
seal_articles(const struct sz_article *arts, size_t n, const uint8_t *sk, int level, uint8_t **out,
              size_t *out_len)
{
    seal_articles_with(arts, n, sk, level, NULL, out, out_len);
}

/* ---- Timing -------------------------------------------------------------------------------- */

typedef void (*bench_op_cb)(void *ctx);

struct timing {
    double seconds; /* total measured time */
    uint64_t iters;
    double best; /* iterations per second of the fastest slice */
};

/* Set by --mean: rate over all slices instead of the fastest slice. */
static bool use_mean;

static double
timing_rate(const struct timing *t)
{
    return use_mean ? (double)t->iters / t->seconds : t->best;
}

/*
 * Measures two operations side by side in SLICES alternating slices, each
 * running one operation for at least min_time / SLICES (and at least once), so
 * both see the same machine state and each gets at least min_time in total.
 * One untimed call of each warms caches and allocators first. The rate is that
 * of each side's fastest slice: other work on the machine only ever slows a
 * slice down, so the fastest is the least disturbed.
 */
#define SLICES 8

static void
measure_pair(double min_time_s, bench_op_cb fa, void *a, struct timing *ta, bench_op_cb fb, void *b,
             struct timing *tb)
{
    double slice = min_time_s / SLICES;

    memset(ta, 0, sizeof *ta);
    memset(tb, 0, sizeof *tb);
    fa(a);
    fb(b);
    for (int r = 0; r < SLICES; r++) {
        for (int k = 0; k < 2; k++) {
            /* Alternate which goes first, so neither always follows the other. */
            bool first = (k == 0) == (r % 2 == 0);
            bench_op_cb f = first ? fa : fb;
            void *ctx = first ? a : b;
            struct timing *t = first ? ta : tb;
            double t0 = clock_s(bench_clock), t1;
            uint64_t n = 0;
            do {
                f(ctx);
                n++;
                t1 = clock_s(bench_clock);
            } while (t1 - t0 < slice);
            t->seconds += t1 - t0;
            t->iters += n;
            if ((double)n / (t1 - t0) > t->best)
                t->best = (double)n / (t1 - t0);
        }
    }
}

/* ---- Operations ---------------------------------------------------------------------------- */

struct pack_ctx {
    const struct group *g;
    const uint8_t *sk;
    int level;
    struct sz_deflater *z; /* one zstd context for every run, as the raw side has */
};

/*
 * Pack: sz_container_encode of the 50 articles, then sz_bundle_seal_with (a
 * publishing daemon keeps its context while batches follow one another).
 */
static void
op_pack(void *arg)
{
    struct pack_ctx *p = arg;
    uint8_t *b;
    size_t n;

    seal_articles_with(p->g->arts, p->g->n, p->sk, p->level, p->z, &b, &n);
    free(b);
}

struct raw_pack_ctx {
    const struct group *g;
    const uint8_t *sk;
    ZSTD_CCtx *cctx;
    uint8_t *dst;
    size_t dst_cap;
};

/* Raw pack limit: zstd at the same level and frame options, BLAKE2b of the result, one signature.
 */
static void
op_raw_pack(void *arg)
{
    struct raw_pack_ctx *p = arg;
    uint8_t hash[32], msg[SIGNED_LEN], sig[64];
    size_t n;

    n = ZSTD_compress2(p->cctx, p->dst, p->dst_cap, p->g->text, p->g->text_len);
    if (ZSTD_isError(n))
        die("ZSTD_compress2: %s", ZSTD_getErrorName(n));
    crypto_generichash(hash, sizeof hash, p->dst, n, NULL, 0);
    memset(msg, 0, sizeof msg);
    memcpy(msg + SIGN_CONTEXT_LEN + 72, hash, sizeof hash);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, p->sk);
}

struct open_ctx {
    const uint8_t *bundle;
    size_t len;
    size_t n_articles;
    struct sz_inflater *z; /* one zstd context for every run, as the raw side has */
};

/* Verify and unpack to memory: sz_bundle_open_with (a reader of many bundles reuses a context). */
static void
op_open(void *arg)
{
    struct open_ctx *p = arg;
    struct sz_bundle *b;
    int rc;

    if ((rc = sz_bundle_open_with(p->bundle, p->len, 0, p->z, &b)) != 0)
        die("sz_bundle_open: %s", sz_strerror(rc));
    if (b->c->n_articles != p->n_articles)
        die("sz_bundle_open: %zu articles, expected %zu", b->c->n_articles, p->n_articles);
    sz_bundle_free(b);
}

struct raw_verify_ctx {
    const uint8_t *sig, *pk, *payload;
    size_t payload_len;
    uint8_t msg[SIGNED_LEN];
    ZSTD_DCtx *dctx;
    uint8_t *dst;
    size_t dst_len;
};

/* Raw verify limit: one Ed25519 verification, BLAKE2b of the payload, zstd decompression. */
static void
op_raw_verify(void *arg)
{
    struct raw_verify_ctx *p = arg;
    uint8_t hash[32];
    size_t n;

    if (crypto_sign_verify_detached(p->sig, p->msg, sizeof p->msg, p->pk) != 0)
        die("raw verify: signature does not verify");
    crypto_generichash(hash, sizeof hash, p->payload, p->payload_len, NULL, 0);
    n = ZSTD_decompressDCtx(p->dctx, p->dst, p->dst_len, p->payload, p->payload_len);
    if (ZSTD_isError(n) || n != p->dst_len)
        die("raw verify: ZSTD_decompressDCtx: %s", ZSTD_getErrorName(n));
}

struct verify_ctx {
    const uint8_t *bundle;
    size_t len;
};

/* Verify only: sz_bundle_verify. */
static void
op_verify(void *arg)
{
    struct verify_ctx *p = arg;
    struct sz_bundle_header h;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    int rc;

    if ((rc = sz_bundle_verify(p->bundle, p->len, 0, &h, id)) != 0)
        die("sz_bundle_verify: %s", sz_strerror(rc));
}

struct sigverify_ctx {
    uint8_t sig[64];
    const uint8_t *pk;
    uint8_t *msg;
    size_t msg_len;
};

static void
op_sigverify(void *arg)
{
    struct sigverify_ctx *p = arg;

    if (crypto_sign_verify_detached(p->sig, p->msg, p->msg_len, p->pk) != 0)
        die("crypto_sign_verify_detached failed");
}

/* ---- Library measurements ------------------------------------------------------------------ */

static void
fmt_rate(char *out, size_t cap, double bytes_per_s, double per_s)
{
    snprintf(out, cap, "%.2f MB/s %.2f/s", bytes_per_s / MB, per_s);
}

static void
bench_pack(const struct options *o, const struct group *g, const uint8_t *sk, int level)
{
    struct pack_ctx pc = {g, sk, level, NULL};
    struct raw_pack_ctx rc = {g, sk, ZSTD_createCCtx(), NULL, ZSTD_compressBound(g->text_len)};
    struct timing tp, tr;
    struct row r;

    if (rc.cctx == NULL || sz_deflater_new(&pc.z) != 0)
        die("out of memory");
    rc.dst = xmalloc(rc.dst_cap);
    /* The same frame as sz_bundle_seal writes: level, content size, no checksum. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(rc.cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(rc.cctx, ZSTD_c_contentSizeFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(rc.cctx, ZSTD_c_checksumFlag, 0)))
        die("ZSTD_CCtx_setParameter failed");
    measure_pair(o->min_time_s, op_pack, &pc, &tp, op_raw_pack, &rc, &tr);
    sz_deflater_free(pc.z);
    memset(&r, 0, sizeof r);
    snprintf(r.what, sizeof r.what, "pack L%d %-7s (%zu art, %zu KB)", level, g->name, g->n,
             g->text_len / 1000);
    fmt_rate(r.value, sizeof r.value, (double)g->text_len * timing_rate(&tp), timing_rate(&tp));
    fmt_rate(r.limit, sizeof r.limit, (double)g->text_len * timing_rate(&tr), timing_rate(&tr));
    r.ratio = timing_rate(&tp) / timing_rate(&tr);
    r.higher_is_better = true;
    r.target = TARGET_THROUGHPUT_RATIO;
    print_row(&r);
    ZSTD_freeCCtx(rc.cctx);
    free(rc.dst);
}

static void
bench_open(const struct options *o, const struct group *g)
{
    struct open_ctx oc = {g->bundle, g->bundle_len, g->n, NULL};
    struct raw_verify_ctx vc;
    struct sz_bundle_header h;
    struct timing to, tv;
    struct row r;
    int rc;

    if ((rc = sz_bundle_parse(g->bundle, g->bundle_len, 0, &h, NULL)) != 0)
        die("sz_bundle_parse: %s", sz_strerror(rc));
    memset(&vc, 0, sizeof vc);
    vc.sig = g->bundle + SZ_BUNDLE_HEADER_LEN;
    vc.pk = g->bundle + 8;
    vc.payload = g->bundle + SZ_BUNDLE_PREFIX_LEN;
    vc.payload_len = (size_t)h.payload_len;
    memcpy(vc.msg, SIGN_CONTEXT, SIGN_CONTEXT_LEN);
    memcpy(vc.msg + SIGN_CONTEXT_LEN, g->bundle, SZ_BUNDLE_HEADER_LEN);
    vc.dctx = ZSTD_createDCtx();
    vc.dst_len = (size_t)h.content_len;
    vc.dst = xmalloc(vc.dst_len);
    if (vc.dctx == NULL)
        die("out of memory");
    if (sz_inflater_new(&oc.z) != 0)
        die("out of memory");
    measure_pair(o->min_time_s, op_open, &oc, &to, op_raw_verify, &vc, &tv);
    sz_inflater_free(oc.z);
    memset(&r, 0, sizeof r);
    snprintf(r.what, sizeof r.what, "open %-7s (%zu art, %zu KB)", g->name, g->n,
             g->text_len / 1000);
    fmt_rate(r.value, sizeof r.value, (double)g->text_len * timing_rate(&to), timing_rate(&to));
    fmt_rate(r.limit, sizeof r.limit, (double)g->text_len * timing_rate(&tv), timing_rate(&tv));
    r.ratio = timing_rate(&to) / timing_rate(&tv);
    r.higher_is_better = true;
    r.target = TARGET_THROUGHPUT_RATIO;
    print_row(&r);
    ZSTD_freeDCtx(vc.dctx);
    free(vc.dst);
}

/*
 * Builds the largest bundle of at most SMALL_BUNDLE_LEN bytes from a prefix of
 * one document (cut on a character boundary), by bisection on the prefix length.
 */
static void
make_small_bundle(const struct doc *d, const uint8_t *sk, int level, uint8_t **out, size_t *out_len)
{
    struct sz_article a;
    size_t lo = 1, hi = d->len, best = 0;
    uint8_t *b;
    size_t n;

    doc_article(d, &a);
    while (lo <= hi) {
        size_t mid = lo + (hi - lo) / 2, cut = mid;
        while (cut > 1 && (d->data[cut] & 0xc0) == 0x80)
            cut--;
        a.body_len = cut;
        seal_articles(&a, 1, sk, level, &b, &n);
        free(b);
        if (n <= SMALL_BUNDLE_LEN) {
            best = cut;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (best == 0)
        die("cannot make a %u-byte bundle from %s", SMALL_BUNDLE_LEN, d->name);
    a.body_len = best;
    seal_articles(&a, 1, sk, level, out, out_len);
}

static void
bench_verify_small(const struct options *o, const struct doc *d, const uint8_t *sk)
{
    struct verify_ctx vc;
    struct sigverify_ctx sc;
    struct timing tv, ts;
    struct row r;

    make_small_bundle(d, sk, o->level, (uint8_t **)&vc.bundle, &vc.len);
    /* crypto_sign_verify_detached on a message as long as the whole bundle. */
    sc.pk = sk + 32;
    sc.msg_len = vc.len;
    sc.msg = xmalloc(sc.msg_len);
    randombytes_buf(sc.msg, sc.msg_len);
    crypto_sign_detached(sc.sig, NULL, sc.msg, sc.msg_len, sk);
    measure_pair(o->min_time_s, op_verify, &vc, &tv, op_sigverify, &sc, &ts);
    memset(&r, 0, sizeof r);
    snprintf(r.what, sizeof r.what, "verify only, %zu-byte bundle", vc.len);
    snprintf(r.value, sizeof r.value, "%.0f /s", timing_rate(&tv));
    snprintf(r.limit, sizeof r.limit, "%.0f /s", timing_rate(&ts));
    r.ratio = timing_rate(&tv) / timing_rate(&ts);
    r.higher_is_better = true;
    r.target = TARGET_VERIFY_RATIO;
    print_row(&r);
    free((void *)vc.bundle);
    free(sc.msg);
}

/* ---- Subprocesses -------------------------------------------------------------------------- */

/*
 * Starts argv[0] (searched in PATH) with stdin from /dev/null, stdout to
 * out_fd (or /dev/null when -1) and stderr to /dev/null. Returns 0 and the pid,
 * or an errno value (ENOENT when the program does not exist).
 */
static int
spawn(char *const argv[], int in_fd, int out_fd, const int *close_fds, size_t n_close, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    int rc;

    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    for (size_t i = 0; i < n_close; i++)
        posix_spawn_file_actions_addclose(&fa, close_fds[i]);
    rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/*
 * Waits for pid; returns its exit status, or -1 when it did not exit normally.
 * Its CPU time (user + system) goes to *cpu_s unless cpu_s is NULL.
 */
static int
wait_exit(pid_t pid, double *cpu_s)
{
    struct rusage ru;
    int st;

    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR)
            return -1;
    if (cpu_s != NULL)
        *cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs argv to completion; returns its exit status, -1 when killed, or -(errno) when not started.
 */
static int
run_cpu(char *const argv[], double *cpu_s)
{
    pid_t pid;
    int rc = spawn(argv, -1, -1, NULL, 0, &pid);

    return rc != 0 ? -rc : wait_exit(pid, cpu_s);
}

static int
run(char *const argv[])
{
    return run_cpu(argv, NULL);
}

/*
 * Size of `tar c FILES | zstd -19` for the group's files, both real
 * subprocesses in the corpus folder. Returns 0 when tar or zstd is missing.
 */
static size_t
tar_zstd_size(const struct corpus *c, const struct group *g, const char *tmp_dir)
{
    char out_path[4096], *argv[GROUP_SIZE + 8];
    char *zargv[] = {"zstd", "-19", "-q", "-c", NULL};
    int p[2], out_fd, st_tar, st_zstd, rc;
    pid_t tar_pid, zstd_pid;
    struct stat st;
    size_t n = 0;

    argv[n++] = "tar";
    argv[n++] = "-c";
    argv[n++] = "-f";
    argv[n++] = "-";
    argv[n++] = "-C";
    argv[n++] = (char *)c->dir;
    for (size_t i = 0; i < g->n; i++)
        argv[n++] = g->docs[i]->name;
    argv[n] = NULL;
    snprintf(out_path, sizeof out_path, "%s/group.tar.zst", tmp_dir);
    out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out_fd < 0 || pipe(p) != 0)
        die("cannot create %s: %s", out_path, strerror(errno));
    {
        int close_tar[] = {p[0], out_fd}, close_zstd[] = {p[1]};
        rc = spawn(argv, -1, p[1], close_tar, 2, &tar_pid);
        if (rc != 0) {
            close(p[0]);
            close(p[1]);
            close(out_fd);
            return 0;
        }
        rc = spawn(zargv, p[0], out_fd, close_zstd, 1, &zstd_pid);
    }
    close(p[0]);
    close(p[1]);
    close(out_fd);
    st_tar = wait_exit(tar_pid, NULL);
    if (rc != 0)
        return 0;
    st_zstd = wait_exit(zstd_pid, NULL);
    if (st_tar != 0 || st_zstd != 0)
        die("tar (status %d) | zstd (status %d) failed", st_tar, st_zstd);
    if (stat(out_path, &st) != 0)
        die("stat %s: %s", out_path, strerror(errno));
    unlink(out_path);
    return (size_t)st.st_size;
}

static void
bench_sizes(const struct corpus *c, struct group *groups, size_t n_groups, int level,
            const char *tmp_dir)
{
    size_t total_b = 0, total_t = 0;
    struct row r;

    for (size_t i = 0; i < n_groups; i++) {
        size_t t = tar_zstd_size(c, &groups[i], tmp_dir);
        if (t == 0) {
            print_skip("size", "skipped: tar or zstd not found in PATH");
            return;
        }
        memset(&r, 0, sizeof r);
        snprintf(r.what, sizeof r.what, "size L%d %-7s (%zu KB text)", level, groups[i].name,
                 groups[i].text_len / 1000);
        snprintf(r.value, sizeof r.value, "%zu B", groups[i].bundle_len);
        snprintf(r.limit, sizeof r.limit, "%zu B", t);
        r.ratio = (double)groups[i].bundle_len / (double)t;
        r.target = TARGET_SIZE_RATIO;
        print_row(&r);
        total_b += groups[i].bundle_len;
        total_t += t;
    }
    memset(&r, 0, sizeof r);
    snprintf(r.what, sizeof r.what, "size L%d total (%zu groups)", level, n_groups);
    snprintf(r.value, sizeof r.value, "%zu B", total_b);
    snprintf(r.limit, sizeof r.limit, "%zu B", total_t);
    r.ratio = (double)total_b / (double)total_t;
    r.target = TARGET_SIZE_RATIO;
    print_row(&r);
}

struct proc_stats {
    double mean, median, sd, min;
};

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void
stats(double *v, size_t n, struct proc_stats *s)
{
    double sum = 0, sq = 0;

    for (size_t i = 0; i < n; i++)
        sum += v[i];
    s->mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        sq += (v[i] - s->mean) * (v[i] - s->mean);
    s->sd = n > 1 ? sqrt(sq / (double)(n - 1)) : 0;
    qsort(v, n, sizeof *v, cmp_double);
    s->min = v[0];
    s->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Picks documents for the CLI bundle: the mixed group's, in order, until a
 * bundle of them sealed at the pack level reaches CLI_BUNDLE_LEN.
 */
static size_t
cli_bundle_docs(const struct group *mixed, const uint8_t *sk, int level)
{
    size_t n;

    for (n = 1; n <= mixed->n; n++) {
        uint8_t *b;
        size_t len;
        seal_articles(mixed->arts, n, sk, level, &b, &len);
        free(b);
        if (len >= CLI_BUNDLE_LEN)
            break;
    }
    return n > mixed->n ? mixed->n : n;
}

static char *
path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);

    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/*
 * `samizdat verify --trust PK B` against `minisign -V -p PK -m B` on the same
 * file: the bundle is itself the file minisign signs, so both read the same
 * bytes. Runs alternate (A B, B A, ...) so drift hits both alike.
 */
static void
bench_processes(const struct options *o, const struct corpus *c, const struct group *mixed,
                const uint8_t *sk, const char *tmp_dir)
{
    const char *what = "process: samizdat verify vs minisign -V";
    char *sz_sk = path_in(tmp_dir, "sz.key"), *sz_pk = path_in(tmp_dir, "sz.pub");
    char *bundle = path_in(tmp_dir, "cli.szb"), *m_sk = path_in(tmp_dir, "m.key");
    char *m_pk = path_in(tmp_dir, "m.pub");
    char **argv = NULL;
    double *times[2] = {NULL, NULL}, *cpu[2] = {NULL, NULL};
    struct proc_stats s[2], sc[2];
    bool by_cpu = bench_clock != CLOCK_MONOTONIC;
    struct stat st;
    struct row r;
    size_t n_docs, n;
    int rc;

    if (o->samizdat == NULL || access(o->samizdat, X_OK) != 0) {
        print_skip(what, "skipped: samizdat CLI not found (%s)",
                   o->samizdat != NULL ? o->samizdat : "pass --samizdat PATH");
        goto out;
    }
    {
        char *v[] = {(char *)o->minisign, "-v", NULL};
        if ((rc = run(v)) < 0) {
            print_skip(what, "skipped: %s cannot run (%s)", o->minisign,
                       rc < -1 ? strerror(-rc) : "killed");
            goto out;
        }
    }
    {
        char *kg[] = {(char *)o->samizdat, "keygen", "--secret-key",    sz_sk,
                      "--public-key",      sz_pk,    "--no-passphrase", NULL};
        if ((rc = run(kg)) != 0) {
            print_skip(what, "skipped: samizdat keygen exited with %d", rc);
            goto out;
        }
    }
    n_docs = cli_bundle_docs(mixed, sk, o->level);
    argv = xmalloc((n_docs + 8) * sizeof *argv);
    n = 0;
    argv[n++] = (char *)o->samizdat;
    argv[n++] = "pack";
    argv[n++] = "--secret-key";
    argv[n++] = sz_sk;
    argv[n++] = "--output";
    argv[n++] = bundle;
    for (size_t i = 0; i < n_docs; i++)
        argv[n++] = path_in(c->dir, mixed->docs[i]->name);
    argv[n] = NULL;
    rc = run(argv);
    for (size_t i = 6; i < n; i++)
        free(argv[i]);
    if (rc != 0 || stat(bundle, &st) != 0) {
        print_skip(what, "skipped: samizdat pack exited with %d", rc);
        goto out;
    }
    {
        char *g[] = {(char *)o->minisign, "-G", "-W", "-p", m_pk, "-s", m_sk, NULL};
        char *sg[] = {(char *)o->minisign, "-S", "-s", m_sk, "-m", bundle, NULL};
        if ((rc = run(g)) != 0 || (rc = run(sg)) != 0) {
            print_skip(what, "skipped: minisign -G/-S exited with %d", rc);
            goto out;
        }
    }
    {
        char *cmds[2][8] = {
            {(char *)o->samizdat, "verify", "--trust", sz_pk, bundle, NULL},
            {(char *)o->minisign, "-V", "-p", m_pk, "-m", bundle, NULL},
        };
        const char *names[2] = {"samizdat verify", "minisign -V"};
        for (int k = 0; k < 2; k++) {
            times[k] = xmalloc((size_t)o->runs * sizeof *times[k]);
            cpu[k] = xmalloc((size_t)o->runs * sizeof *cpu[k]);
            for (int i = 0; i < CLI_WARMUP_RUNS; i++) {
                if ((rc = run(cmds[k])) != 0) {
                    print_skip(what, "skipped: %s exited with %d", names[k], rc);
                    goto out;
                }
            }
        }
        for (int i = 0; i < o->runs; i++) {
            for (int j = 0; j < 2; j++) {
                int k = j ^ (i & 1);
                double t0 = now_s();
                if ((rc = run_cpu(cmds[k], &cpu[k][i])) != 0)
                    die("%s exited with %d during timing", names[k], rc);
                times[k][i] = now_s() - t0;
            }
        }
    }
    stats(times[0], (size_t)o->runs, &s[0]);
    stats(times[1], (size_t)o->runs, &s[1]);
    stats(cpu[0], (size_t)o->runs, &sc[0]);
    stats(cpu[1], (size_t)o->runs, &sc[1]);
    memset(&r, 0, sizeof r);
    snprintf(r.what, sizeof r.what, "process: verify %lld-byte bundle, %d runs",
             (long long)st.st_size, o->runs);
    {
        const struct proc_stats *v = by_cpu ? sc : s;
        snprintf(r.value, sizeof r.value, "%.3f ms%s", v[0].mean * 1e3, by_cpu ? " cpu" : "");
        snprintf(r.limit, sizeof r.limit, "%.3f ms%s minisign", v[1].mean * 1e3,
                 by_cpu ? " cpu" : "");
        r.ratio = v[0].mean / v[1].mean;
    }
    r.target = TARGET_PROCESS_RATIO;
    print_row(&r);
    printf("  %zu articles. Wall time (ms): samizdat verify mean %.3f, median %.3f, sd %.3f,\n"
           "  min %.3f; minisign -V mean %.3f, median %.3f, sd %.3f, min %.3f. CPU time (user +\n"
           "  system, ms): samizdat verify mean %.3f, minisign -V mean %.3f, ratio %.3f.\n",
           n_docs, s[0].mean * 1e3, s[0].median * 1e3, s[0].sd * 1e3, s[0].min * 1e3,
           s[1].mean * 1e3, s[1].median * 1e3, s[1].sd * 1e3, s[1].min * 1e3, sc[0].mean * 1e3,
           sc[1].mean * 1e3, sc[0].mean / sc[1].mean);
out:
    free(sz_sk);
    free(sz_pk);
    free(bundle);
    free(m_sk);
    free(m_pk);
    free(argv);
    for (int k = 0; k < 2; k++) {
        free(times[k]);
        free(cpu[k]);
    }
}

/*
 * How many CPUs other programs keep busy: /proc/stat sampled over 0.3 s while
 * this program sleeps. Returns -1 where /proc/stat cannot be read.
 */
static double
read_cpu_ticks(unsigned long long *idle)
{
    unsigned long long v[8] = {0}, total = 0;
    FILE *f = fopen("/proc/stat", "r");
    int n;

    if (f == NULL)
        return -1;
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 5)
        return -1;
    for (int i = 0; i < 8; i++)
        total += v[i];
    *idle = v[3] + v[4]; /* idle + iowait */
    return (double)total;
}

static double
cpus_busy(void)
{
    unsigned long long idle0, idle1;
    double t0 = read_cpu_ticks(&idle0), t1;
    struct timespec ts = {0, 300 * 1000 * 1000};

    if (t0 < 0)
        return -1;
    nanosleep(&ts, NULL);
    t1 = read_cpu_ticks(&idle1);
    if (t1 <= t0)
        return -1;
    return (1.0 - (double)(idle1 - idle0) / (t1 - t0)) * (double)sysconf(_SC_NPROCESSORS_ONLN);
}

/* ---- Main ---------------------------------------------------------------------------------- */

static void
usage(void)
{
    fputs("usage: bench_bundle [--min-time SEC] [--runs N] [--level N] [--no-level3] [--mean]\n"
          "                    [--cpu-time]\n"
          "                    [--samizdat PATH] [--minisign PATH] [--quick]\n"
          "                    [--only pack|open|verify|size|process] CORPUS_DIR\n",
          stderr);
    exit(2);
}

static void
parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->min_time_s = 1.0;
    o->runs = 300;
    o->level = SZ_DEFAULT_LEVEL;
    o->level3 = true;
    o->minisign = "minisign";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--min-time") == 0 && has_val)
            o->min_time_s = atof(argv[++i]);
        else if (strcmp(a, "--runs") == 0 && has_val)
            o->runs = atoi(argv[++i]);
        else if (strcmp(a, "--level") == 0 && has_val)
            o->level = atoi(argv[++i]);
        else if (strcmp(a, "--samizdat") == 0 && has_val)
            o->samizdat = argv[++i];
        else if (strcmp(a, "--minisign") == 0 && has_val)
            o->minisign = argv[++i];
        else if (strcmp(a, "--only") == 0 && has_val)
            o->only = argv[++i];
        else if (strcmp(a, "--cpu-time") == 0)
            bench_clock = CLOCK_THREAD_CPUTIME_ID;
        else if (strcmp(a, "--mean") == 0)
            use_mean = true;
        else if (strcmp(a, "--no-level3") == 0)
            o->level3 = false;
        else if (strcmp(a, "--quick") == 0) {
            o->min_time_s = 0.2;
            o->runs = 30;
        } else if (a[0] == '-' || o->corpus_dir != NULL)
            usage();
        else
            o->corpus_dir = a;
    }
    if (o->corpus_dir == NULL || o->min_time_s <= 0 || o->runs < 1 || o->level < 1 || o->level > 19)
        usage();
}

/* Empties and removes the temporary folder (the CLI may leave files of its own there). */
static void
remove_tmp_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            char *p;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            p = path_in(dir, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(d);
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "bench_bundle: cannot remove %s: %s\n", dir, strerror(errno));
}

static bool
section(const struct options *o, const char *name)
{
    return o->only == NULL || strcmp(o->only, name) == 0;
}

int
main(int argc, char **argv)
{
    struct options o;
    struct corpus c;
    struct group groups[MAX_GROUPS];
    size_t n_groups = 0;
    uint8_t pk[SZ_PUBLIC_KEY_LEN], sk[SZ_SECRET_KEY_LEN];
    char tmp_dir[] = "/tmp/sz-bench-XXXXXX";
    double busy;

    parse_args(argc, argv, &o);
    busy = cpus_busy();
    if (sz_init() != 0)
        die("libsodium failed to start");
    memset(&c, 0, sizeof c);
    c.dir = o.corpus_dir;
    corpus_load_manifest(&c);
    if (mkdtemp(tmp_dir) == NULL)
        die("mkdtemp: %s", strerror(errno));
    sz_keypair(pk, sk);

    group_pick(&groups[n_groups++], &c, "en-txt", "en", 0);
    group_pick(&groups[n_groups++], &c, "en-html", "en", 1);
    group_pick(&groups[n_groups++], &c, "ru-txt", "ru", 0);
    group_pick(&groups[n_groups++], &c, "ru-html", "ru", 1);
    group_pick(&groups[n_groups++], &c, "mixed", NULL, -1);
    for (size_t i = 0; i < n_groups; i++) {
        if (groups[i].n < GROUP_SIZE)
            die("group %s: only %zu usable documents in %s", groups[i].name, groups[i].n, c.dir);
        seal_articles(groups[i].arts, groups[i].n, sk, o.level, &groups[i].bundle,
                      &groups[i].bundle_len);
    }

    printf("samizdat bundle benchmark: corpus %s (%zu documents), zstd %s, libsodium %s,\n"
           "pack level %d, >= %.2f s per side of a measurement in %d slices, rate of the %s,\n"
           "MB = 10^6 bytes of article text\n\n",
           c.dir, c.n_docs, ZSTD_versionString(), sodium_version_string(), o.level, o.min_time_s,
           SLICES, use_mean ? "whole time" : "fastest slice");
    if (bench_clock != CLOCK_MONOTONIC)
        printf("library lines timed in thread CPU time (--cpu-time), not wall time\n\n");
    if (busy >= 0.25)
        printf("warning: other programs kept %.1f of %ld CPUs busy just before the run, so\n"
               "wall-clock numbers will be noisy (use an idle machine, or try --cpu-time)\n\n",
               busy, sysconf(_SC_NPROCESSORS_ONLN));
    print_header();
    if (section(&o, "pack")) {
        print_section("pack = sz_container_encode + sz_bundle_seal_with (one zstd context reused); "
                      "raw = zstd + BLAKE2b + Ed25519 sign");
        for (size_t i = 0; i < n_groups; i++)
            bench_pack(&o, &groups[i], sk, o.level);
        if (o.level3 && o.level != 3)
            for (size_t i = 0; i < n_groups; i++)
                bench_pack(&o, &groups[i], sk, 3);
    }
    if (section(&o, "open")) {
        print_section(
            "open = sz_bundle_open_with (one zstd context reused); raw = Ed25519 verify + "
            "BLAKE2b + zstd decompress");
        for (size_t i = 0; i < n_groups; i++)
            bench_open(&o, &groups[i]);
    }
    if (section(&o, "verify")) {
        print_section("verify only = sz_bundle_verify; "
                      "raw = crypto_sign_verify_detached, same size");
        bench_verify_small(&o, groups[0].docs[0], sk);
    }
    if (section(&o, "size")) {
        print_section("size = bundle bytes; raw = `tar c FILES | zstd -19` bytes");
        bench_sizes(&c, groups, n_groups, o.level, tmp_dir);
    }
    if (section(&o, "process")) {
        print_section(
            bench_clock == CLOCK_MONOTONIC
                ? "process = `samizdat verify` vs `minisign -V`, same file, mean wall time"
                : "process = `samizdat verify` vs `minisign -V`, same file, mean CPU time");
        bench_processes(&o, &c, &groups[n_groups - 1], sk, tmp_dir);
    }
    printf("\ntargets: %d met, %d missed, %d skipped\n", n_passed, n_failed, n_skipped);

    remove_tmp_dir(tmp_dir);
    sodium_memzero(sk, sizeof sk);
    for (size_t i = 0; i < n_groups; i++) {
        free(groups[i].text);
        free(groups[i].bundle);
    }
    for (size_t i = 0; i < c.n_docs; i++)
        free(c.docs[i].data);
    free(c.docs);
    return n_failed == 0 ? 0 : 1;
}
