/*
 * bench_gossip_gen: the bundle generator and the raw verification rate of
 * bench/gossip (see bench/GOSSIP.md).
 *
 *   bench_gossip_gen gen --out DIR --corpus DIR [--publishers P] [--pub-first K]
 *                        [--first F] [--last L] [--min-bytes A] [--max-bytes B]
 *                        [--level N] [--seed S] [--manifest FILE]
 *       Writes bundles DIR/pNN/SSSSSSSS.bundle for publishers K..K+P-1 (keys
 *       derived from the seed and the index, so the same seed gives the same
 *       publishers) and sequences F..L each: one small plain-text article per
 *       bundle, its body a slice of the corpus's .txt documents, sized so that
 *       the bundle is A..B bytes. Appends one line per bundle to FILE (default
 *       DIR/manifest.tsv): publisher index, publisher (hex), sequence, id
 *       (hex), bytes, path.
 *
 *   bench_gossip_gen verify-rate [--seconds S]
 *       Prints the rate of crypto_sign_verify_detached() on a 123-byte
 *       message (the signed part of a bundle: context and header) and of
 *       sz_bundle_verify() and sz_bundle_open() on a bundle of about 1 KB,
 *       as "name per_second" lines: the fastest of 8 slices of each.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"

#define SIGNED_MSG_LEN 123 /* BUNDLE.md 1.2: context (19) + header (104) */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "bench_gossip_gen: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: reproducible slices and sizes from the seed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- corpus ---- */

struct text {
    char *p;
    size_t len;
};

/* Concatenates every .txt file of the corpus folder (sorted by name). */
static void
load_corpus(const char *dir, struct text *t)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort), i;
    size_t cap = 1 << 20;

    if (n < 0)
        die("cannot read %s: %s", dir, strerror(errno));
    t->p = malloc(cap);
    t->len = 0;
    if (t->p == NULL)
        die("out of memory");
    for (i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t nl = strlen(name);
        char path[4096];
        FILE *f;
        if (nl > 4 && strcmp(name + nl - 4, ".txt") == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, name);
            f = fopen(path, "rb");
            if (f != NULL) {
                for (;;) {
                    size_t got;
                    if (cap - t->len < 65536) {
                        cap *= 2;
                        t->p = realloc(t->p, cap);
                        if (t->p == NULL)
                            die("out of memory");
                    }
                    got = fread(t->p + t->len, 1, cap - t->len, f);
                    if (got == 0)
                        break;
                    t->len += got;
                }
                fclose(f);
                t->p[t->len++] = '\n';
            }
        }
        free(names[i]);
    }
    free(names);
    if (t->len < (1 << 20))
        die("the corpus %s holds under 1 MB of .txt documents", dir);
}

/* A slice of about len bytes starting and ending on UTF-8 character boundaries. */
static void
slice(const struct text *t, size_t len, const char **p, size_t *out_len)
{
    size_t a, b;

    if (len > t->len / 2)
        len = t->len / 2;
    a = (size_t)(rng() % (t->len - len));
    while (a < t->len && ((unsigned char)t->p[a] & 0xc0) == 0x80)
        a++;
    b = a + len;
    if (b > t->len)
        b = t->len;
    while (b > a && b < t->len && ((unsigned char)t->p[b] & 0xc0) == 0x80)
        b--;
    *p = t->p + a;
    *out_len = b - a;
}

/* ---- gen ---- */

static void
publisher_key(uint64_t seed, unsigned index, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t in[16], kseed[32];

    sz_store64(in, seed);
    sz_store64(in + 8, index);
    crypto_generichash(kseed, sizeof kseed, in, sizeof in, (const uint8_t *)"bench-gossip", 12);
    crypto_sign_seed_keypair(pk, sk, kseed);
}

/* Seals one bundle whose body is a corpus slice of body_len bytes. */
static int
make_bundle(const struct text *t, const uint8_t sk[64], unsigned pub, uint64_t seq, int64_t created,
            int level, size_t body_len, uint8_t **out, size_t *out_len, uint8_t id[32])
{
    struct sz_article a;
    char aid[48], title[80];
    uint8_t *content = NULL;
    size_t content_len = 0;
    struct sz_seal_params sp;
    int rc;

    memset(&a, 0, sizeof a);
    snprintf(aid, sizeof aid, "p%02u-%llu", pub, (unsigned long long)seq);
    snprintf(title, sizeof title, "Bench article %u/%llu", pub, (unsigned long long)seq);
    a.id.p = aid;
    a.id.len = strlen(aid);
    a.title.p = title;
    a.title.len = strlen(title);
    a.published = created;
    a.ctype = SZ_CTYPE_PLAIN;
    {
        const char *p;
        size_t n;
        slice(t, body_len, &p, &n);
        a.body = (const uint8_t *)p;
        a.body_len = n;
    }
    rc = sz_container_encode(&a, 1, &content, &content_len);
    if (rc != 0)
        return rc;
    memset(&sp, 0, sizeof sp);
    sp.secret_key = sk;
    sp.sequence = seq;
    sp.created = created;
    sp.level = level;
    rc = sz_bundle_seal(&sp, content, content_len, out, out_len, id);
    free(content);
    return rc;
}

static int
cmd_gen(int argc, char **argv)
{
    const char *out = NULL, *corpus = NULL, *manifest = NULL;
    unsigned publishers = 10, pub_first = 0, p;
    uint64_t first = 1, last = 10000, seq, seed = 1;
    size_t min_bytes = 1000, max_bytes = 2000;
    int level = 1, i;
    struct text t;
    double ratio = 2.0; /* body bytes per bundle byte above the fixed part, learnt as we go */
    const double fixed = 260.0;
    int64_t created = (int64_t)time(NULL) - 3600;
    char path[4096];
    FILE *man;
    uint64_t total_bytes = 0, n_bundles = 0;
    double t0 = now_s();

    /* Options come in pairs: a name, then its value. */
    for (i = 0; i + 1 <= argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die("%s needs a value", a);
        if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--corpus") == 0)
            corpus = v;
        else if (strcmp(a, "--publishers") == 0)
            publishers = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--pub-first") == 0)
            pub_first = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--manifest") == 0)
            manifest = v;
        else if (strcmp(a, "--first") == 0)
            first = strtoull(v, NULL, 10);
        else if (strcmp(a, "--last") == 0)
            last = strtoull(v, NULL, 10);
        else if (strcmp(a, "--min-bytes") == 0)
            min_bytes = strtoull(v, NULL, 10);
        else if (strcmp(a, "--max-bytes") == 0)
            max_bytes = strtoull(v, NULL, 10);
        else if (strcmp(a, "--level") == 0)
            level = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            seed = strtoull(v, NULL, 10);
        else
            die("unknown option %s", a);
    }
    if (out == NULL || corpus == NULL || publishers == 0 || pub_first + publishers > 100 ||
        first == 0 || last < first || min_bytes < 400 || max_bytes < min_bytes)
        die("gen: needs --out, --corpus, publishers 0..99, 1 <= first <= last, 400 <= min <= max");
    load_corpus(corpus, &t);
    rng_state ^= seed * 0x9e3779b97f4a7c15ull + first * 1000003u + pub_first;
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        die("cannot make %s: %s", out, strerror(errno));
    if (manifest == NULL)
        snprintf(path, sizeof path, "%s/manifest.tsv", out);
    else
        snprintf(path, sizeof path, "%s", manifest);
    man = fopen(path, "a");
    if (man == NULL)
        die("cannot write %s: %s", path, strerror(errno));
    for (p = pub_first; p < pub_first + publishers; p++) {
        uint8_t pk[32], sk[64];
        char pkhex[65];
        publisher_key(seed, p, pk, sk);
        sz_hex(pk, 32, pkhex);
        snprintf(path, sizeof path, "%s/p%02u", out, p);
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            die("cannot make %s: %s", path, strerror(errno));
        for (seq = first; seq <= last; seq++) {
            size_t target = min_bytes + (size_t)(rng() % (max_bytes - min_bytes + 1));
            size_t body_len, len = 0;
            uint8_t *b = NULL, id[32];
            char idhex[65];
            int tries, rc;
            FILE *f;
            double est = ((double)target - fixed) * ratio;
            body_len = est < 16 ? 16 : (size_t)est;
            for (tries = 0;; tries++) {
                rc = make_bundle(&t, sk, p, seq, created, level, body_len, &b, &len, id);
                if (rc != 0)
                    die("sealing a bundle: %s", sz_strerror(rc));
                if (len > fixed + 16) {
                    double r = (double)body_len / ((double)len - fixed);
                    ratio = 0.9 * ratio + 0.1 * r;
                }
                if ((len >= min_bytes && len <= max_bytes) || tries >= 6)
                    break;
                est = (double)body_len * (((double)target - fixed) / ((double)len - fixed));
                body_len = est < 16 ? 16 : (size_t)est;
                free(b);
                b = NULL;
            }
            snprintf(path, sizeof path, "%s/p%02u/%08llu.bundle", out, p, (unsigned long long)seq);
            f = fopen(path, "wb");
            if (f == NULL || fwrite(b, 1, len, f) != len || fclose(f) != 0)
                die("cannot write %s", path);
            sz_bundle_id_hex(id, idhex);
            fprintf(man, "%u\t%s\t%llu\t%s\t%zu\t%s\n", p, pkhex, (unsigned long long)seq, idhex,
                    len, path);
            total_bytes += len;
            n_bundles++;
            free(b);
        }
    }
    if (fclose(man) != 0)
        die("cannot write the manifest");
    fprintf(stderr, "bench_gossip_gen: %llu bundles, %llu bytes, %.1f s\n",
            (unsigned long long)n_bundles, (unsigned long long)total_bytes, now_s() - t0);
    free(t.p);
    return 0;
}

/* ---- verify-rate ---- */

typedef int (*op_fn)(void *ctx);

struct vctx {
    uint8_t msg[SIGNED_MSG_LEN], sig[64], pk[32];
    uint8_t *bundle;
    size_t bundle_len;
};

static int
op_raw(void *ctx)
{
    struct vctx *v = ctx;
    return crypto_sign_verify_detached(v->sig, v->msg, sizeof v->msg, v->pk);
}

static int
op_bundle_verify(void *ctx)
{
    struct vctx *v = ctx;
    struct sz_bundle_header h;
    uint8_t id[32];
    return sz_bundle_verify(v->bundle, v->bundle_len, 0, &h, id);
}

static int
op_bundle_open(void *ctx)
{
    struct vctx *v = ctx;
    struct sz_bundle *b = NULL;
    int rc = sz_bundle_open(v->bundle, v->bundle_len, 0, &b);
    sz_bundle_free(b);
    return rc;
}

/* The fastest of 8 slices, each at least seconds/8 long. */
static double
rate(op_fn fn, void *ctx, double seconds)
{
    double best = 0;
    int s;

    if (fn(ctx) != 0)
        die("a verification failed");
    for (s = 0; s < 8; s++) {
        double t0 = now_s(), t;
        uint64_t n = 0;
        do {
            int k;
            for (k = 0; k < 64; k++)
                if (fn(ctx) != 0)
                    die("a verification failed");
            n += 64;
            t = now_s() - t0;
        } while (t < seconds / 8);
        if ((double)n / t > best)
            best = (double)n / t;
    }
    return best;
}

static int
cmd_verify_rate(int argc, char **argv)
{
    double seconds = 1.0;
    struct vctx v;
    uint8_t sk[64], id[32];
    struct sz_article a;
    uint8_t *content = NULL;
    size_t content_len = 0;
    struct sz_seal_params sp;
    static const char *words[] = {"the",    "relay",   "carried", "news",  "of",      "a",
                                  "strike", "at",      "port",    "where", "workers", "said",
                                  "they",   "would",   "stay",    "until", "paid",    "and",
                                  "police", "watched", "from",    "bridge"};
    char body[2600];
    size_t blen = 0;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else
            die("verify-rate: unknown option %s", argv[i]);
    }
    /* A body of pseudo-random words: about 1 KB once packed at level 1. */
    while (blen + 12 < sizeof body) {
        const char *w = words[rng() % (sizeof words / sizeof words[0])];
        memcpy(body + blen, w, strlen(w));
        blen += strlen(w);
        body[blen++] = rng() % 12 == 0 ? '\n' : ' ';
    }
    crypto_sign_keypair(v.pk, sk);
    randombytes_buf(v.msg, sizeof v.msg);
    crypto_sign_detached(v.sig, NULL, v.msg, sizeof v.msg, sk);
    memset(&a, 0, sizeof a);
    a.id.p = "a1";
    a.id.len = 2;
    a.title.p = "Short";
    a.title.len = 5;
    a.published = 1700000000;
    a.ctype = SZ_CTYPE_PLAIN;
    a.body = (const uint8_t *)body;
    a.body_len = blen;
    if (sz_container_encode(&a, 1, &content, &content_len) != 0)
        die("encoding a container");
    memset(&sp, 0, sizeof sp);
    sp.secret_key = sk;
    sp.sequence = 1;
    sp.created = 1700000000;
    sp.level = 1;
    if (sz_bundle_seal(&sp, content, content_len, &v.bundle, &v.bundle_len, id) != 0)
        die("sealing a bundle");
    printf("raw_verify_123 %.0f\n", rate(op_raw, &v, seconds));
    printf("bundle_verify_%zu %.0f\n", v.bundle_len, rate(op_bundle_verify, &v, seconds));
    printf("bundle_open_%zu %.0f\n", v.bundle_len, rate(op_bundle_open, &v, seconds));
    free(content);
    free(v.bundle);
    return 0;
}

int
main(int argc, char **argv)
{
    if (sodium_init() < 0)
        die("sodium_init failed");
    if (argc >= 2 && strcmp(argv[1], "gen") == 0)
        return cmd_gen(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "verify-rate") == 0)
        return cmd_verify_rate(argc - 2, argv + 2);
    fprintf(stderr, "usage: bench_gossip_gen gen --out DIR --corpus DIR [options]\n"
                    "       bench_gossip_gen verify-rate [--seconds S]\n");
    return 2;
}
