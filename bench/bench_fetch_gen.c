/*
 * bench_fetch_gen: the bundle generator and the raw open rate of bench/fetch
 * (see bench/FETCH.md).
 *
 *   bench_fetch_gen gen --corpus DIR --out DIR [--bundles N] [--articles K]
 *                       [--level L] [--seed S] [--spread-days D] [--publishers P]
 *                       [--sequence Q]
 *       Writes N bundles OUT/NNNNN.bundle (sequences 1..N, default 1000) of K
 *       corpus documents each (default 50), sealed at zstd level L (default 3)
 *       with a publisher key derived from the seed, and OUT/pub.pk (the public
 *       key's text form) and OUT/pub.hex. Bundle s takes the documents
 *       (s - 1 + j * stride) mod D, j = 0..K-1, stride = D / K, of the D
 *       documents of MANIFEST.tsv sorted by name, so every bundle samples every
 *       source and genre. Article ids are "sNNNNN-<file name without its
 *       extension>", unique across bundles. The articles of bundle s are
 *       published a minute after those of bundle s - 1 (all within a day),
 *       or, with --spread-days D, spread evenly over the D days before that
 *       day (a library of years: D = 1825). Prints "key value" lines:
 *       bundles, articles, bundle_bytes, text_bytes (sum of the bodies),
 *       seconds. With --publishers P (default 1), P publishers of seeds S to
 *       S + P - 1, each with its N bundles, OUT/SEED-NNNNN.bundle, in one
 *       process (a test's store of many publishers); pub.pk and pub.hex then
 *       hold a line "KEY SEED" per publisher. With --sequence Q, every bundle
 *       is signed with sequence Q (bundles that equivocate: a test's flood).
 *
 *   bench_fetch_gen open-rate --dir DIR [--passes P]
 *       Loads every DIR/NAME.bundle into memory and times P passes (default 3)
 *       of sz_bundle_open() + sz_bundle_free() over all of them, one thread,
 *       in file-name order, and P passes of sz_bundle_verify() alone (Ed25519
 *       + BLAKE2b, no decompression). Prints "key value" lines: bundles,
 *       bundle_bytes, text_bytes, open_s (fastest pass, wall clock),
 *       open_s_all (every pass), open_cpu_s (least process CPU time of a pass),
 *       verify_s (fastest pass).
 *
 *   bench_fetch_gen write-floor --dir DIR --out LIB [--batch B] [--page-extra N]
 *       The least a library of samizdat's layout costs: for every bundle of
 *       DIR, sz_bundle_open(), then for each article mkdir LIB/<pub-hex>/<id>
 *       and plain open/write/close of the body file and of an index.html of
 *       the body's length plus N bytes (default 3500, about what a rendered
 *       page adds), then the raw bundle into LIB/.samizdat/bundles/; syncfs()
 *       every B bundles (default 64) and at the end. No rendering, no
 *       temporary names, no index. Prints "key value" lines: bundles, wall_s,
 *       cpu_s (process user + system), open_cpu_s (of which in
 *       sz_bundle_open), bytes_written.
 *
 *   bench_fetch_gen seq-write --out FILE --bytes N
 *       The file system's own limit for a library of N bytes: writes N bytes
 *       (1 MiB of random bytes, over and over) to one new FILE in 1 MiB
 *       writes, fsync()s it and removes it. No folders, no names, no syncfs
 *       of anything else. Prints "key value" lines: bytes, wall_s (from the
 *       first write to the end of the fsync), mb_s.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"

#include "corpus.h"

#if defined(__linux__)
int syncfs(int fd); /* <unistd.h> declares it only with _GNU_SOURCE */
#endif

#define TITLE_MAX 200

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("bench_fetch_gen: ", stderr);
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

static double
cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- corpus ---- */

static void
doc_article(const struct doc *d, struct sz_article *a, char *id, size_t id_cap, uint64_t seq,
            int64_t published)
{
    memset(a, 0, sizeof *a);
    snprintf(id, id_cap, "s%05llu-%s", (unsigned long long)seq, d->id);
    a->id.p = id;
    a->id.len = strlen(id);
    a->title.p = d->title;
    a->title.len = d->title_len;
    a->published = published;
    a->ctype = d->html ? SZ_CTYPE_HTML : SZ_CTYPE_PLAIN;
    a->lang.p = d->lang;
    a->lang.len = strlen(d->lang);
    a->body = d->data;
    a->body_len = d->len;
}

/* Loads MANIFEST.tsv's .txt and .html documents that make valid articles, sorted by name. */
static struct doc *
load_corpus(const char *dir, size_t *n_out)
{
    char path[4096];
    uint8_t *buf;
    size_t len, start = 0, n = 0, cap = 0;
    struct doc *docs = NULL;
    bool first = true;

    snprintf(path, sizeof path, "%s/MANIFEST.tsv", dir);
    if (!bench_read_file(path, &buf, &len))
        die("cannot read %s: %s", path, strerror(errno));
    while (start < len) {
        size_t end = start, nf = 0, fs[4] = {0}, fl[4] = {0}, i;
        while (end < len && buf[end] != '\n')
            end++;
        fs[0] = start;
        for (i = start; i <= end && nf < 3; i++) {
            if (i == end || buf[i] == '\t') {
                fl[nf] = i - fs[nf];
                nf++;
                fs[nf] = i + 1;
            }
        }
        if (!first && nf == 3 && fl[0] > 0 && fl[0] < 64 && fl[2] < 16) {
            struct doc *d;
            const char *dot;
            if (n == cap) {
                cap = cap * 2 + 256;
                docs = realloc(docs, cap * sizeof *docs);
                if (docs == NULL)
                    die("out of memory");
            }
            d = &docs[n];
            memset(d, 0, sizeof *d);
            memcpy(d->name, buf + fs[0], fl[0]);
            memcpy(d->lang, buf + fs[2], fl[2]);
            dot = strrchr(d->name, '.');
            if (dot != NULL && (strcmp(dot, ".txt") == 0 || strcmp(dot, ".html") == 0) &&
                (size_t)(dot - d->name) < 60) {
                d->html = strcmp(dot, ".html") == 0;
                memcpy(d->id, d->name, (size_t)(dot - d->name));
                if (sz_safe_name(d->id, strlen(d->id)))
                    n++;
            }
        }
        first = false;
        start = end + 1;
    }
    free(buf);
    qsort(docs, n, sizeof *docs, bench_cmp_doc_name);
    /* Load them; drop what is no valid article body. */
    {
        size_t k, kept = 0;
        for (k = 0; k < n; k++) {
            struct doc *d = &docs[k];
            struct sz_article a;
            char id[128];
            int rc;
            snprintf(path, sizeof path, "%s/%s", dir, d->name);
            if (!bench_read_file(path, &d->data, &d->len)) {
                fprintf(stderr, "bench_fetch_gen: skipping %s: %s\n", path, strerror(errno));
                continue;
            }
            bench_doc_title(d, TITLE_MAX);
            doc_article(d, &a, id, sizeof id, 1, 0);
            if ((rc = sz_article_check(&a)) != 0) {
                fprintf(stderr, "bench_fetch_gen: skipping %s: %s\n", path, sz_strerror(rc));
                free(d->data);
                continue;
            }
            docs[kept++] = *d;
        }
        n = kept;
    }
    if (n == 0)
        die("%s/MANIFEST.tsv lists no usable .txt or .html documents", dir);
    *n_out = n;
    return docs;
}

/* ---- gen ---- */

static int
cmd_gen(int argc, char **argv)
{
    const char *corpus = NULL, *out = NULL;
    unsigned long n_bundles = 1000, per = 50, seed = 1, spread_days = 0, n_pubs = 1, k_pub;
    unsigned long long fixed_seq = 0;
    int level = 3, i;
    struct doc *docs;
    size_t n_docs, stride;
    uint8_t pk[32], sk[64], kseed[32], in[8];
    char pktext[SZ_PK_TEXT_LEN + 1], pkhex[65], path[4096];
    int64_t created = (int64_t)time(NULL) - 3600, base = created - 86400;
    uint64_t bundle_bytes = 0, text_bytes = 0, seq;
    struct sz_article *arts;
    char(*ids)[128];
    double t0;
    FILE *f, *fpk = NULL, *fhex = NULL;

    for (i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die("%s needs a value", a);
        if (strcmp(a, "--corpus") == 0)
            corpus = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--bundles") == 0)
            n_bundles = strtoul(v, NULL, 10);
        else if (strcmp(a, "--articles") == 0)
            per = strtoul(v, NULL, 10);
        else if (strcmp(a, "--level") == 0)
            level = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            seed = strtoul(v, NULL, 10);
        else if (strcmp(a, "--spread-days") == 0)
            spread_days = strtoul(v, NULL, 10);
        else if (strcmp(a, "--publishers") == 0)
            n_pubs = strtoul(v, NULL, 10);
        else if (strcmp(a, "--sequence") == 0)
            fixed_seq = strtoull(v, NULL, 10);
        else
            die("gen: unknown option %s", a);
    }
    if (corpus == NULL || out == NULL || n_bundles == 0 || n_bundles > 99999 || per == 0 ||
        per > SZ_MAX_ARTICLES || level < 1 || level > 19 || spread_days > 36500 || n_pubs == 0 ||
        n_pubs > 100000 || fixed_seq > (unsigned long long)INT64_MAX)
        die("gen: needs --corpus and --out; 1 <= bundles <= 99999, 1 <= articles <= 4096, "
            "1 <= level <= 19, spread-days <= 36500, 1 <= publishers <= 100000, "
            "sequence < 2^63");
    docs = load_corpus(corpus, &n_docs);
    if (per > n_docs)
        die("gen: the corpus has only %zu documents, fewer than %lu per bundle", n_docs, per);
    stride = n_docs / per;
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        die("cannot make %s: %s", out, strerror(errno));

    snprintf(path, sizeof path, "%s/pub.pk", out);
    if ((fpk = fopen(path, "w")) == NULL)
        die("cannot write %s", path);
    snprintf(path, sizeof path, "%s/pub.hex", out);
    if ((fhex = fopen(path, "w")) == NULL)
        die("cannot write %s", path);

    arts = calloc(per, sizeof *arts);
    ids = calloc(per, sizeof *ids);
    if (arts == NULL || ids == NULL)
        die("out of memory");
    t0 = now_s();
    for (k_pub = 0; k_pub < n_pubs; k_pub++) {
        sz_store64(in, seed + k_pub);
        crypto_generichash(kseed, sizeof kseed, in, sizeof in, (const uint8_t *)"bench-fetch", 11);
        crypto_sign_seed_keypair(pk, sk, kseed);
        sz_pk_to_text(pk, pktext);
        sz_hex(pk, 32, pkhex);
        if (n_pubs == 1 ? fprintf(fpk, "%s\n", pktext) < 0 || fprintf(fhex, "%s\n", pkhex) < 0
                        : fprintf(fpk, "%s %lu\n", pktext, seed + k_pub) < 0 ||
                              fprintf(fhex, "%s %lu\n", pkhex, seed + k_pub) < 0)
            die("cannot write %s/pub.pk or pub.hex", out);
        for (seq = 1; seq <= n_bundles; seq++) {
            struct sz_seal_params sp;
            uint8_t *content = NULL, *b = NULL, id[32];
            size_t content_len = 0, len = 0, j;
            int rc;
            for (j = 0; j < per; j++) {
                const struct doc *d = &docs[(seq - 1 + j * stride) % n_docs];
                int64_t when =
                    spread_days == 0
                        ? base + (int64_t)seq * 60
                        : base - (int64_t)((n_bundles - seq) * spread_days * 86400 / n_bundles);
                doc_article(d, &arts[j], ids[j], sizeof ids[j], seq, when + (int64_t)j);
                text_bytes += d->len;
            }
            rc = sz_container_encode(arts, per, &content, &content_len);
            if (rc != 0)
                die("encoding bundle %llu: %s", (unsigned long long)seq, sz_strerror(rc));
            memset(&sp, 0, sizeof sp);
            sp.secret_key = sk;
            sp.sequence = fixed_seq != 0 ? fixed_seq : seq;
            sp.created = created;
            sp.level = level;
            rc = sz_bundle_seal(&sp, content, content_len, &b, &len, id);
            if (rc != 0)
                die("sealing bundle %llu: %s", (unsigned long long)seq, sz_strerror(rc));
            if (n_pubs == 1)
                snprintf(path, sizeof path, "%s/%05llu.bundle", out, (unsigned long long)seq);
            else
                snprintf(path, sizeof path, "%s/%lu-%05llu.bundle", out, seed + k_pub,
                         (unsigned long long)seq);
            if ((f = fopen(path, "wb")) == NULL || fwrite(b, 1, len, f) != len || fclose(f) != 0)
                die("cannot write %s", path);
            bundle_bytes += len;
            free(content);
            free(b);
        }
    }
    if (fclose(fpk) != 0 || fclose(fhex) != 0)
        die("cannot write %s/pub.pk or pub.hex", out);
    printf("bundles %lu\narticles %lu\nbundle_bytes %llu\ntext_bytes %llu\nseconds %.3f\n"
           "level %d\ndocuments %zu\npublisher %s\n",
           n_bundles * n_pubs, n_bundles * n_pubs * per, (unsigned long long)bundle_bytes,
           (unsigned long long)text_bytes, now_s() - t0, level, n_docs, pkhex);
    sodium_memzero(sk, sizeof sk);
    for (size_t k = 0; k < n_docs; k++)
        free(docs[k].data);
    free(docs);
    free(arts);
    free(ids);
    return 0;
}

/* ---- open-rate ---- */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmd_open_rate(int argc, char **argv)
{
    const char *dir = NULL;
    int passes = 3, i, p;
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, k;
    uint8_t **bufs;
    size_t *lens;
    uint64_t bundle_bytes = 0, text_bytes = 0;
    double best_open = 1e30, best_verify = 1e30, best_open_cpu = 1e30;

    for (i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die("%s needs a value", a);
        if (strcmp(a, "--dir") == 0)
            dir = v;
        else if (strcmp(a, "--passes") == 0)
            passes = atoi(v);
        else
            die("open-rate: unknown option %s", a);
    }
    if (dir == NULL || passes < 1)
        die("open-rate: needs --dir; --passes at least 1");
    if ((d = opendir(dir)) == NULL)
        die("cannot read %s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 8 || strcmp(e->d_name + nl - 7, ".bundle") != 0)
            continue;
        if (n == cap) {
            cap = cap * 2 + 64;
            names = realloc(names, cap * sizeof *names);
            if (names == NULL)
                die("out of memory");
        }
        if ((names[n++] = strdup(e->d_name)) == NULL)
            die("out of memory");
    }
    closedir(d);
    if (n == 0)
        die("no .bundle files in %s", dir);
    qsort(names, n, sizeof *names, cmp_str);
    bufs = calloc(n, sizeof *bufs);
    lens = calloc(n, sizeof *lens);
    if (bufs == NULL || lens == NULL)
        die("out of memory");
    for (k = 0; k < n; k++) {
        char path[4096];
        struct sz_bundle *b = NULL;
        int rc;
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        if (!bench_read_file(path, &bufs[k], &lens[k]))
            die("cannot read %s: %s", path, strerror(errno));
        bundle_bytes += lens[k];
        /* The untimed first open: checks the bundle and counts its article text. */
        rc = sz_bundle_open(bufs[k], lens[k], 0, &b);
        if (rc != 0)
            die("%s does not open: %s", path, sz_strerror(rc));
        for (size_t j = 0; j < b->c->n_articles; j++)
            text_bytes += b->c->articles[j].body_len;
        sz_bundle_free(b);
    }
    printf("bundles %zu\nbundle_bytes %llu\ntext_bytes %llu\nopen_s_all", n,
           (unsigned long long)bundle_bytes, (unsigned long long)text_bytes);
    for (p = 0; p < passes; p++) {
        double t0 = now_s(), c0 = cpu_s(), t, c;
        for (k = 0; k < n; k++) {
            struct sz_bundle *b = NULL;
            if (sz_bundle_open(bufs[k], lens[k], 0, &b) != 0)
                die("a bundle failed to open");
            sz_bundle_free(b);
        }
        t = now_s() - t0;
        c = cpu_s() - c0;
        printf(" %.4f", t);
        if (t < best_open)
            best_open = t;
        if (c < best_open_cpu)
            best_open_cpu = c;
    }
    putchar('\n');
    for (p = 0; p < passes; p++) {
        double t0 = now_s(), t;
        for (k = 0; k < n; k++) {
            struct sz_bundle_header h;
            uint8_t id[32];
            if (sz_bundle_verify(bufs[k], lens[k], 0, &h, id) != 0)
                die("a bundle failed to verify");
        }
        t = now_s() - t0;
        if (t < best_verify)
            best_verify = t;
    }
    printf("open_s %.4f\nopen_cpu_s %.4f\nverify_s %.4f\n", best_open, best_open_cpu, best_verify);
    for (k = 0; k < n; k++) {
        free(bufs[k]);
        free(names[k]);
    }
    free(bufs);
    free(lens);
    free(names);
    return 0;
}

/* ---- write-floor ---- */

static double
rusage_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void
write_at(int dfd, const char *name, const void *p, size_t len, const char *what)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    const uint8_t *q = p;

    if (fd < 0)
        die("cannot create %s/%s: %s", what, name, strerror(errno));
    while (len > 0) {
        ssize_t n = write(fd, q, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("cannot write %s/%s: %s", what, name, strerror(errno));
        q += n;
        len -= (size_t)n;
    }
    if (close(fd) != 0)
        die("cannot write %s/%s: %s", what, name, strerror(errno));
}

static void
sync_dir(int fd)
{
#if defined(__linux__)
    if (syncfs(fd) != 0)
        die("syncfs: %s", strerror(errno));
#else
    (void)fd;
    sync();
#endif
}

static int
cmd_write_floor(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    size_t batch = 64, extra = 3500, n = 0, cap = 0, k, max_body = 0;
    char **names = NULL, path[4096];
    uint8_t **bufs, *page = NULL;
    size_t *lens;
    DIR *d;
    struct dirent *e;
    int i, ofd, sfd, bfd, pfd = -1;
    double t0, c0, open_cpu = 0;
    uint64_t written = 0;

    for (i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die("%s needs a value", a);
        if (strcmp(a, "--dir") == 0)
            dir = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--batch") == 0)
            batch = strtoul(v, NULL, 10);
        else if (strcmp(a, "--page-extra") == 0)
            extra = strtoul(v, NULL, 10);
        else
            die("write-floor: unknown option %s", a);
    }
    if (dir == NULL || out == NULL || batch == 0)
        die("write-floor: needs --dir and --out; --batch at least 1");
    if ((d = opendir(dir)) == NULL)
        die("cannot read %s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 8 || strcmp(e->d_name + nl - 7, ".bundle") != 0)
            continue;
        if (n == cap) {
            cap = cap * 2 + 64;
            names = realloc(names, cap * sizeof *names);
            if (names == NULL)
                die("out of memory");
        }
        if ((names[n++] = strdup(e->d_name)) == NULL)
            die("out of memory");
    }
    closedir(d);
    if (n == 0)
        die("no .bundle files in %s", dir);
    qsort(names, n, sizeof *names, cmp_str);
    bufs = calloc(n, sizeof *bufs);
    lens = calloc(n, sizeof *lens);
    if (bufs == NULL || lens == NULL)
        die("out of memory");
    for (k = 0; k < n; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        if (!bench_read_file(path, &bufs[k], &lens[k]))
            die("cannot read %s: %s", path, strerror(errno));
    }
    if (mkdir(out, 0755) != 0)
        die("cannot make %s: %s", out, strerror(errno));
    ofd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ofd < 0 || mkdirat(ofd, ".samizdat", 0755) != 0 ||
        (sfd = openat(ofd, ".samizdat", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        mkdirat(sfd, "bundles", 0755) != 0 ||
        (bfd = openat(sfd, "bundles", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        die("cannot make the folders of %s: %s", out, strerror(errno));

    t0 = now_s();
    c0 = rusage_s();
    for (k = 0; k < n; k++) {
        struct sz_bundle *b = NULL;
        double o0 = rusage_s();
        char id_hex[2 * SZ_BUNDLE_ID_LEN + 1], bname[2 * SZ_BUNDLE_ID_LEN + 8];
        if (sz_bundle_open(bufs[k], lens[k], 0, &b) != 0)
            die("%s does not open", names[k]);
        open_cpu += rusage_s() - o0;
        if (pfd < 0) {
            char hex[65];
            sz_hex(b->hdr.publisher, 32, hex);
            if (mkdirat(ofd, hex, 0755) != 0 ||
                (pfd = openat(ofd, hex, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                die("cannot make %s/%s: %s", out, hex, strerror(errno));
        }
        for (size_t j = 0; j < b->c->n_articles; j++) {
            const struct sz_article *a = &b->c->articles[j];
            char id[SZ_MAX_ID_LEN + 1];
            int afd;
            memcpy(id, a->id.p, a->id.len);
            id[a->id.len] = '\0';
            if (mkdirat(pfd, id, 0755) != 0 ||
                (afd = openat(pfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                die("cannot make the folder of %s: %s", id, strerror(errno));
            write_at(afd, a->ctype == SZ_CTYPE_HTML ? "body.html.txt" : "body.txt", a->body,
                     a->body_len, id);
            if (a->body_len + extra > max_body) {
                max_body = a->body_len + extra;
                free(page);
                if ((page = malloc(max_body)) == NULL)
                    die("out of memory");
                memset(page, 'x', max_body);
            }
            memcpy(page, a->body, a->body_len);
            write_at(afd, "index.html", page, a->body_len + extra, id);
            close(afd);
            written += 2 * a->body_len + extra;
        }
        sz_bundle_id_hex(b->id, id_hex);
        snprintf(bname, sizeof bname, "%s.bundle", id_hex);
        write_at(bfd, bname, bufs[k], lens[k], "bundles");
        written += lens[k];
        sz_bundle_free(b);
        if ((k + 1) % batch == 0)
            sync_dir(ofd);
    }
    sync_dir(ofd);
    printf("bundles %zu\nwall_s %.4f\ncpu_s %.4f\nopen_cpu_s %.4f\nbytes_written %llu\n", n,
           now_s() - t0, rusage_s() - c0, open_cpu, (unsigned long long)written);
    if (pfd >= 0)
        close(pfd);
    close(bfd);
    close(sfd);
    close(ofd);
    for (k = 0; k < n; k++) {
        free(bufs[k]);
        free(names[k]);
    }
    free(bufs);
    free(lens);
    free(names);
    free(page);
    return 0;
}

/* ---- seq-write ---- */

static int
cmd_seq_write(int argc, char **argv)
{
    const char *out = NULL;
    unsigned long long total = 0, done = 0;
    size_t chunk = 1u << 20;
    uint8_t *buf;
    double t0, wall;
    int i, fd;

    for (i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die("%s needs a value", a);
        if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--bytes") == 0)
            total = strtoull(v, NULL, 10);
        else
            die("seq-write: unknown option %s", a);
    }
    if (out == NULL || total == 0)
        die("seq-write: needs --out and --bytes (at least 1)");
    if ((buf = malloc(chunk)) == NULL)
        die("out of memory");
    randombytes_buf(buf, chunk);
    fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        die("cannot create %s: %s", out, strerror(errno));
    t0 = now_s();
    while (done < total) {
        size_t len = total - done < chunk ? (size_t)(total - done) : chunk;
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("cannot write %s: %s", out, strerror(errno));
        done += (unsigned long long)n;
    }
    if (fsync(fd) != 0)
        die("cannot fsync %s: %s", out, strerror(errno));
    wall = now_s() - t0;
    if (close(fd) != 0 || unlink(out) != 0)
        die("cannot close or remove %s: %s", out, strerror(errno));
    free(buf);
    printf("bytes %llu\nwall_s %.4f\nmb_s %.1f\n", total, wall, (double)total / 1e6 / wall);
    return 0;
}

int
main(int argc, char **argv)
{
    if (sodium_init() < 0)
        die("sodium_init failed");
    if (argc >= 2 && strcmp(argv[1], "gen") == 0)
        return cmd_gen(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "open-rate") == 0)
        return cmd_open_rate(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "write-floor") == 0)
        return cmd_write_floor(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "seq-write") == 0)
        return cmd_seq_write(argc - 2, argv + 2);
    fprintf(stderr, "usage: bench_fetch_gen gen --corpus DIR --out DIR [--bundles N] "
                    "[--articles K] [--level L] [--seed S] [--spread-days D]\n"
                    "                           [--publishers P] [--sequence Q]\n"
                    "       bench_fetch_gen open-rate --dir DIR [--passes P]\n"
                    "       bench_fetch_gen write-floor --dir DIR --out LIB [--batch B] "
                    "[--page-extra N]\n"
                    "       bench_fetch_gen seq-write --out FILE --bytes N\n");
    return 2;
}
