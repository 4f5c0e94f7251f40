/*
 * bench_daemon: samizdatd end to end. Import throughput through the control
 * socket (via `samizdat import` and via the socket directly, one and several
 * clients) for 1 KB and 50-article bundles beside the raw Ed25519
 * verification rate measured in the same run; publish latency; idle RSS and
 * RSS with a large store; start-up time with a large store. Prints one
 * plain-text table. See bench/DAEMON.md.
 *
 * Usage: bench_daemon --samizdat CLI --samizdatd DAEMON --tmp DIR [options] CORPUS_DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/ctl.h"
#include "samizdat/keys.h"

#include "corpus.h"

extern char **environ;

#define SMALL_BUNDLE_LEN 1024 /* "1 KB bundles" */
#define GROUP_SIZE 50         /* "50-article bundles" */
#define PACK_LEVEL 3          /* as `samizdat pack --level 3` */
#define SIGNED_MSG_LEN 123    /* BUNDLE.md 1.2: context (19) + header (104) */
#define MIB (1024.0 * 1024.0)
#define RAW_SLICE_S 0.15 /* one slice of the raw verification rate */

/* Targets from the issue. */
#define TARGET_IMPORT_RATIO 0.50    /* 1 KB imports: bundles/s >= 0.5 x raw verify/s */
#define TARGET_IDLE_RSS (8.0 * MIB) /* bytes */
#define TARGET_RSS_PER_BUNDLE 64.0  /* bytes per stored bundle, on top of the idle target */
#define TARGET_STARTUP_S 0.200      /* exec to the first status reply */

struct options {
    const char *corpus_dir, *cli, *daemon, *tmp;
    size_t n_small;     /* 1 KB bundles per import line */
    size_t n_group;     /* 50-article bundles per import line */
    size_t n_fill;      /* bundles in the large store */
    size_t n_publish;   /* publishes per latency line */
    size_t n_restarts;  /* timed restarts with the large store */
    size_t batch;       /* 1 KB bundles per request / per CLI invocation */
    size_t group_batch; /* 50-article bundles per request */
    size_t fill_batch;  /* bundles per request when filling */
    int clients;        /* concurrent clients */
    const char *only;   /* run one section: import, publish or large */
    int rounds;         /* rounds per import line; the fastest is reported */
};

/* ---- Utilities ----------------------------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void stop_all_daemons(void);

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("bench_daemon: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    stop_all_daemons();
    exit(2);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
progress(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("bench_daemon: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);

    if (p == NULL)
        die("out of memory");
    return p;
}

static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n > 0 ? n : 1, size > 0 ? size : 1);

    if (p == NULL)
        die("out of memory");
    return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void
write_file(const char *path, const uint8_t *p, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t off = 0;

    if (fd < 0)
        die("cannot create %s: %s", path, strerror(errno));
    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("cannot write %s: %s", path, strerror(errno));
        off += (size_t)n;
    }
    if (close(fd) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double
percentile(const double *sorted, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);

    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* ---- The table ----------------------------------------------------------------------------- */

enum verdict { V_INFO, V_PASS, V_FAIL };

struct row {
    char what[200];
    char value[40];
    char ref[40];
    char ratio[12];
    char target[16];
    enum verdict v;
    bool section; /* a heading line: only `what` */
};

static struct row rows[96];
static size_t n_rows;
static char notes[48][200];
static size_t n_notes;

static struct row *
add_row(const char *what)
{
    struct row *r;

    if (n_rows == sizeof rows / sizeof rows[0])
        die("too many table rows");
    r = &rows[n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->what, sizeof r->what, "%.*s", (int)sizeof r->what - 1, what);
    snprintf(r->ref, sizeof r->ref, "-");
    snprintf(r->ratio, sizeof r->ratio, "-");
    snprintf(r->target, sizeof r->target, "-");
    return r;
}

static void
add_section(const char *title)
{
    add_row(title)->section = true;
}

static void add_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
add_note(const char *fmt, ...)
{
    va_list ap;

    if (n_notes == sizeof notes / sizeof notes[0])
        return;
    va_start(ap, fmt);
    vsnprintf(notes[n_notes++], sizeof notes[0], fmt, ap);
    va_end(ap);
}

/* Sets ratio and verdict: higher_is_better means value/ref >= target passes. */
static void
judge(struct row *r, double value, double ref, double target, bool higher_is_better)
{
    double ratio = value / ref;
    bool pass = higher_is_better ? ratio >= target : ratio <= target;

    snprintf(r->ratio, sizeof r->ratio, "%.3f", ratio);
    snprintf(r->target, sizeof r->target, "%s %.2f", higher_is_better ? ">=" : "<=", target);
    r->v = pass ? V_PASS : V_FAIL;
}

#define COL_WHAT 52
#define COL_VALUE 24
#define COL_REF 26

static int
print_table(void)
{
    int failed = 0, passed = 0;
    size_t i;

    printf("%-*s | %-*s | %-*s | %-6s | %-7s | %s\n", COL_WHAT, "measurement", COL_VALUE, "value",
           COL_REF, "reference", "ratio", "target", "pass/fail");
    for (i = 0; i < COL_WHAT + COL_VALUE + COL_REF + 6 + 7 + 9 + 15; i++)
        putchar('-');
    putchar('\n');
    for (i = 0; i < n_rows; i++) {
        const struct row *r = &rows[i];
        if (r->section) {
            printf("%s\n", r->what);
            continue;
        }
        printf("%-*s | %*s | %*s | %6s | %-7s | %s\n", COL_WHAT, r->what, COL_VALUE, r->value,
               COL_REF, r->ref, r->ratio, r->target,
               r->v == V_PASS   ? "pass"
               : r->v == V_FAIL ? "FAIL"
                                : "info");
        failed += r->v == V_FAIL;
        passed += r->v == V_PASS;
    }
    putchar('\n');
    for (i = 0; i < n_notes; i++)
        printf("%s\n", notes[i]);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed;
}

/* ---- Corpus -------------------------------------------------------------------------------- */

struct corpus {
    const char *dir;
    struct doc *docs; /* loaded and valid, sorted by name */
    size_t n_docs;
};

static void
doc_article(const struct doc *d, struct sz_article *a, int64_t published)
{
    memset(a, 0, sizeof *a);
    a->id.p = d->id;
    a->id.len = strlen(d->id);
    a->title.p = d->title;
    a->title.len = d->title_len;
    a->published = published;
    a->ctype = d->html ? SZ_CTYPE_HTML : SZ_CTYPE_PLAIN;
    a->lang.p = d->lang;
    a->lang.len = strlen(d->lang);
    a->body = d->data;
    a->body_len = d->len;
}

/* Reads MANIFEST.tsv (file, bytes, language, ...) and loads every valid .txt/.html document. */
static void
corpus_load(struct corpus *c)
{
    char *path = xasprintf("%s/MANIFEST.tsv", c->dir);
    uint8_t *buf;
    size_t len, cap = 0, start = 0, skipped = 0;
    bool first = true;

    if (!bench_read_file(path, &buf, &len))
        die("cannot read %s: %s (pass the corpus folder)", path, strerror(errno));
    while (start < len) {
        size_t end = start, nf = 0, fstart[4] = {0}, flen[4] = {0}, i;
        while (end < len && buf[end] != '\n')
            end++;
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
                char *fp = xasprintf("%s/%s", c->dir, d->name);
                struct sz_article a;
                d->html = strcmp(dot, ".html") == 0;
                memcpy(d->id, d->name, (size_t)(dot - d->name));
                if (sz_safe_name(d->id, strlen(d->id)) && bench_read_file(fp, &d->data, &d->len)) {
                    bench_doc_title(d, sizeof d->title);
                    doc_article(d, &a, 0);
                    if (sz_article_check(&a) == 0)
                        c->n_docs++;
                    else {
                        free(d->data);
                        skipped++;
                    }
                } else {
                    skipped++;
                }
                free(fp);
            }
        }
        first = false;
        start = end + 1;
    }
    free(buf);
    free(path);
    if (c->n_docs < 2 * GROUP_SIZE)
        die("%s: only %zu usable documents", c->dir, c->n_docs);
    if (skipped > 0)
        progress("skipped %zu corpus documents that are not valid article bodies", skipped);
    qsort(c->docs, c->n_docs, sizeof *c->docs, bench_cmp_doc_name);
}

/* ---- Bundles ------------------------------------------------------------------------------- */

struct bset {
    uint8_t **b;
    size_t *len;
    size_t n;
    size_t bytes;
};

struct seal_job {
    const uint8_t *content;
    size_t content_len;
    const uint8_t *sk;
    uint64_t seq0;
    int64_t created;
    struct bset *out;
    size_t from, to;
};

static void *
seal_range(void *arg)
{
    struct seal_job *j = arg;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    int rc;

    for (size_t i = j->from; i < j->to; i++) {
        struct sz_seal_params sp = {j->sk, j->seq0 + i, j->created, PACK_LEVEL};
        rc = sz_bundle_seal(&sp, j->content, j->content_len, &j->out->b[i], &j->out->len[i], id);
        if (rc != 0)
            die("sz_bundle_seal: %s", sz_strerror(rc));
    }
    return NULL;
}

/*
 * Seals n bundles of the same container with sequences seq0, seq0+1, ... (so
 * each has its own id), on two threads. Not timed.
 */
static void
bset_make(struct bset *s, const uint8_t *content, size_t content_len, const uint8_t *sk,
          uint64_t seq0, size_t n)
{
    struct seal_job j[2];
    pthread_t t;

    s->b = xcalloc(n, sizeof *s->b);
    s->len = xcalloc(n, sizeof *s->len);
    s->n = n;
    for (int k = 0; k < 2; k++) {
        j[k].content = content;
        j[k].content_len = content_len;
        j[k].sk = sk;
        j[k].seq0 = seq0;
        j[k].created = (int64_t)time(NULL);
        j[k].out = s;
        j[k].from = k == 0 ? 0 : n / 2;
        j[k].to = k == 0 ? n / 2 : n;
    }
    if (pthread_create(&t, NULL, seal_range, &j[1]) != 0)
        die("pthread_create failed");
    seal_range(&j[0]);
    pthread_join(t, NULL);
    s->bytes = 0;
    for (size_t i = 0; i < n; i++)
        s->bytes += s->len[i];
}

static void
bset_free(struct bset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->b[i]);
    free(s->b);
    free(s->len);
    memset(s, 0, sizeof *s);
}

static void
encode_articles(const struct sz_article *arts, size_t n, uint8_t **out, size_t *out_len)
{
    int rc = sz_container_encode(arts, n, out, out_len);

    if (rc != 0)
        die("sz_container_encode: %s", sz_strerror(rc));
}

static size_t
seal_len(const uint8_t *content, size_t content_len, const uint8_t *sk)
{
    struct sz_seal_params sp = {sk, 1, (int64_t)time(NULL), PACK_LEVEL};
    uint8_t *b, id[SZ_BUNDLE_ID_LEN];
    size_t n;
    int rc = sz_bundle_seal(&sp, content, content_len, &b, &n, id);

    if (rc != 0)
        die("sz_bundle_seal: %s", sz_strerror(rc));
    free(b);
    return n;
}

/*
 * The container of one article: a prefix of d cut on a character boundary,
 * the longest whose bundle is at most max_len bytes (bisection).
 */
static void
small_container(const struct doc *d, size_t max_len, const uint8_t *sk, uint8_t **out,
                size_t *out_len)
{
    struct sz_article a;
    size_t lo = 1, hi = d->len, best = 0;
    uint8_t *c;
    size_t n;

    doc_article(d, &a, (int64_t)time(NULL));
    while (lo <= hi) {
        size_t mid = lo + (hi - lo) / 2, cut = mid;
        while (cut > 1 && (d->data[cut] & 0xc0) == 0x80)
            cut--;
        a.body_len = cut;
        encode_articles(&a, 1, &c, &n);
        if (seal_len(c, n, sk) <= max_len) {
            best = cut;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
        free(c);
    }
    if (best == 0)
        die("cannot make a %zu-byte bundle from %s", max_len, d->name);
    a.body_len = best;
    encode_articles(&a, 1, out, out_len);
}

/* ---- Daemons ------------------------------------------------------------------------------- */

struct daemon {
    pid_t pid;
    char *dir, *sock, *log;
    char *extra[8];
    size_t n_extra;
};

#define MAX_DAEMONS 8
static struct daemon *running[MAX_DAEMONS];
static const char *pids_file;

static void
stop_all_daemons(void)
{
    for (size_t i = 0; i < MAX_DAEMONS; i++) {
        if (running[i] != NULL && running[i]->pid > 0) {
            kill(running[i]->pid, SIGKILL);
            waitpid(running[i]->pid, NULL, 0);
            running[i]->pid = 0;
        }
    }
}

static void
on_signal(int sig)
{
    /* Async-signal-safe: kill our daemons, then die by the same signal. */
    for (size_t i = 0; i < MAX_DAEMONS; i++)
        if (running[i] != NULL && running[i]->pid > 0)
            kill(running[i]->pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
daemon_init(struct daemon *d, const char *tmp, const char *name)
{
    memset(d, 0, sizeof *d);
    d->dir = xasprintf("%s/%s", tmp, name);
    d->sock = xasprintf("%s/control.sock", d->dir);
    d->log = xasprintf("%s/%s.log", tmp, name);
    if (strlen(d->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        die("socket path %s is too long; use a shorter --tmp", d->sock);
}

static void
daemon_free(struct daemon *d)
{
    for (size_t i = 0; i < MAX_DAEMONS; i++)
        if (running[i] == d)
            running[i] = NULL;
    free(d->dir);
    free(d->sock);
    free(d->log);
}

static void
daemon_arg(struct daemon *d, const char *a)
{
    if (d->n_extra == sizeof d->extra / sizeof d->extra[0])
        die("too many daemon arguments");
    d->extra[d->n_extra++] = (char *)a;
}

static void
print_log_tail(const struct daemon *d)
{
    uint8_t *buf;
    size_t len;

    if (bench_read_file(d->log, &buf, &len)) {
        size_t from = len > 2000 ? len - 2000 : 0;
        fprintf(stderr, "--- last lines of %s ---\n%.*s\n", d->log, (int)(len - from),
                (const char *)buf + from);
        free(buf);
    }
}

/* Starts the daemon; returns the monotonic time just before the spawn. */
static double
daemon_spawn(const struct options *o, struct daemon *d)
{
    char *argv[32];
    size_t n = 0;
    posix_spawn_file_actions_t fa;
    double t0;
    int rc;
    FILE *pf;

    argv[n++] = (char *)o->daemon;
    argv[n++] = "--data-dir";
    argv[n++] = d->dir;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    /* Quotas far above what the benchmark stores: nothing is evicted. */
    argv[n++] = "--max-bytes";
    argv[n++] = "64G";
    argv[n++] = "--publisher-max-bytes";
    argv[n++] = "64G";
    for (size_t i = 0; i < d->n_extra; i++)
        argv[n++] = d->extra[i];
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    t0 = now_s();
    rc = posix_spawn(&d->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        die("cannot start %s: %s", argv[0], strerror(rc));
    for (size_t i = 0; i < MAX_DAEMONS; i++) {
        if (running[i] == NULL || running[i] == d) {
            running[i] = d;
            break;
        }
    }
    /* For the script's trap, should this process be killed. */
    if (pids_file != NULL && (pf = fopen(pids_file, "a")) != NULL) {
        fprintf(pf, "%ld\n", (long)d->pid);
        fclose(pf);
    }
    return t0;
}

static void
daemon_check_alive(struct daemon *d)
{
    int st;

    if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
        d->pid = 0;
        print_log_tail(d);
        die("samizdatd exited during the benchmark (status 0x%x); see its log above", st);
    }
}

static int
unix_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        die("socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void
send_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("send to samizdatd: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

static void
recv_all(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("samizdatd closed the control connection (%s)", n == 0 ? "EOF" : strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Sends one encoded frame and reads the reply: *frame owns the bytes *reply points into. */
static void
ctl_roundtrip(int fd, const uint8_t *req, size_t req_len, uint8_t **frame,
              struct sz_ctl_msg **reply)
{
    uint8_t hdr[SZ_CTL_FRAME_HEADER_LEN];
    size_t body;
    int rc;

    send_all(fd, req, req_len);
    recv_all(fd, hdr, sizeof hdr);
    body = sz_load32(hdr);
    if (body == 0 || body > SZ_CTL_MAX_BODY_LEN)
        die("samizdatd sent a frame of %zu bytes", body);
    *frame = xmalloc(body);
    recv_all(fd, *frame, body);
    rc = sz_ctl_decode(*frame, body, reply);
    if (rc != 0)
        die("cannot decode samizdatd's reply: %s", sz_strerror(rc));
    if ((*reply)->type == SZ_CTL_R_ERROR)
        die("samizdatd refused a request: %.*s", (int)(*reply)->text_len, (*reply)->text);
}

static void
encode_msg(const struct sz_ctl_msg *m, uint8_t **out, size_t *out_len)
{
    int rc = sz_ctl_encode(m, out, out_len);

    if (rc != 0)
        die("sz_ctl_encode: %s", sz_strerror(rc));
}

static void
ctl_status(int fd)
{
    struct sz_ctl_msg req = {.type = SZ_CTL_STATUS}, *reply = NULL;
    uint8_t *out, *frame;
    size_t out_len;

    encode_msg(&req, &out, &out_len);
    ctl_roundtrip(fd, out, out_len, &frame, &reply);
    if (reply->type != SZ_CTL_R_STATUS)
        die("unexpected reply type %u to STATUS", reply->type);
    sz_ctl_msg_free(reply);
    free(frame);
    free(out);
}

/*
 * Starts the daemon and waits until it answers: connect() polled in a tight
 * loop, then a STATUS request on that connection. Returns the seconds from
 * just before the spawn to the first accepted connection and to the status
 * reply. When rss_idle is given, the resident size is read after the first
 * connection (and a short settling pause) but before any request.
 */
static long rss_kib(pid_t pid);

static void
daemon_start(const struct options *o, struct daemon *d, double *t_connect, double *t_status,
             long *rss_idle)
{
    double t0 = daemon_spawn(o, d), t1, t2;
    unsigned long tries = 0;
    int fd;

    for (;;) {
        fd = unix_connect(d->sock);
        if (fd >= 0)
            break;
        if (++tries % 256 == 0) {
            daemon_check_alive(d);
            if (now_s() - t0 > 60) {
                print_log_tail(d);
                die("samizdatd did not open %s within 60 s", d->sock);
            }
        }
    }
    t1 = now_s();
    if (rss_idle != NULL) {
        sleep_s(0.2);
        *rss_idle = rss_kib(d->pid);
    }
    ctl_status(fd);
    t2 = now_s();
    close(fd);
    if (t_connect != NULL)
        *t_connect = t1 - t0;
    if (t_status != NULL)
        *t_status = t2 - t0; /* includes the pause when rss_idle is given */
}

/* SIGTERM, then wait (the daemon finishes work in flight and exits 0). */
static void
daemon_stop(struct daemon *d)
{
    double t0 = now_s();
    int st;

    if (d->pid <= 0)
        return;
    kill(d->pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(d->pid, &st, WNOHANG);
        if (r == d->pid)
            break;
        if (now_s() - t0 > 60) {
            progress("samizdatd %ld did not stop within 60 s; killing it", (long)d->pid);
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
            break;
        }
        sleep_s(0.005);
    }
    d->pid = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_log_tail(d);
        die("samizdatd did not exit cleanly (status 0x%x)", st);
    }
}

static long
rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        die("cannot read %s: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    if (kib < 0)
        die("no VmRSS in %s", path);
    return kib;
}

/* ---- Subprocesses -------------------------------------------------------------------------- */

/* Runs argv with stdout to out_fd (-1: /dev/null), stderr to err_path. */
static pid_t
spawn(char *const argv[], int out_fd, const char *err_path)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        die("cannot run %s: %s", argv[0], strerror(rc));
    return pid;
}

static int
wait_exit(pid_t pid)
{
    int st;

    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- Raw limit ----------------------------------------------------------------------------- */

/*
 * crypto_sign_verify_detached of a 123-byte message: the signed message of
 * BUNDLE.md 1.2, so exactly the signature check a bundle costs. One thread.
 */
struct raw {
    uint8_t pk[SZ_PUBLIC_KEY_LEN];
    uint8_t msg[SIGNED_MSG_LEN];
    uint8_t sig[crypto_sign_BYTES];
    double best;   /* verifications per second of the fastest slice so far */
    double cpu_us; /* least thread CPU time per verification seen in a slice */
};

static double
thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
raw_init(struct raw *r, const uint8_t *pk, const uint8_t *sk)
{
    memset(r, 0, sizeof *r);
    memcpy(r->pk, pk, SZ_PUBLIC_KEY_LEN);
    randombytes_buf(r->msg, sizeof r->msg);
    crypto_sign_detached(r->sig, NULL, r->msg, sizeof r->msg, sk);
    if (crypto_sign_verify_detached(r->sig, r->msg, sizeof r->msg, r->pk) != 0)
        die("crypto_sign_verify_detached failed");
}

/* Runs slices of `seconds` each; keeps the fastest. Returns that slice's rate. */
static double
raw_slices(struct raw *r, int slices, double seconds)
{
    double best = 0;

    for (int sl = 0; sl < slices; sl++) {
        double t0 = now_s(), c0 = thread_cpu_s(), t1, rate, cpu;
        uint64_t n = 0;
        do {
            for (int k = 0; k < 16; k++)
                if (crypto_sign_verify_detached(r->sig, r->msg, sizeof r->msg, r->pk) != 0)
                    die("crypto_sign_verify_detached failed");
            n += 16;
            t1 = now_s();
        } while (t1 - t0 < seconds);
        rate = (double)n / (t1 - t0);
        cpu = (thread_cpu_s() - c0) / (double)n * 1e6;
        if (rate > best)
            best = rate;
        if (rate > r->best)
            r->best = rate;
        if (r->cpu_us == 0 || cpu < r->cpu_us)
            r->cpu_us = cpu;
    }
    return best;
}

/* sz_bundle_open per second over a set (in-process, one thread): the library's limit. */
static double
open_rate(const struct bset *s, double seconds)
{
    double best = 0;
    size_t i = 0;

    for (int sl = 0; sl < (seconds > RAW_SLICE_S ? 4 : 1); sl++) {
        double t0 = now_s(), t1;
        uint64_t n = 0;
        do {
            struct sz_bundle *b = NULL;
            int rc = sz_bundle_open(s->b[i], s->len[i], 0, &b);
            if (rc != 0)
                die("sz_bundle_open: %s", sz_strerror(rc));
            sz_bundle_free(b);
            i = (i + 1) % s->n;
            n++;
            t1 = now_s();
        } while (t1 - t0 < (seconds > RAW_SLICE_S ? seconds / 4 : seconds));
        if ((double)n / (t1 - t0) > best)
            best = (double)n / (t1 - t0);
    }
    return best;
}

/* ---- Import through the socket ------------------------------------------------------------- */

struct import_run {
    const char *sock;
    uint8_t **req; /* pre-encoded IMPORT frames */
    size_t *req_len;
    size_t *req_items; /* bundles in each */
    size_t n_req;
    atomic_size_t next; /* next request to send */
    atomic_size_t stored;
    pthread_barrier_t start;
};

static void
import_prepare(struct import_run *r, const struct bset *s, size_t from, size_t to, size_t batch)
{
    size_t n_req = (to - from + batch - 1) / batch;

    memset(r, 0, sizeof *r);
    r->req = xcalloc(n_req, sizeof *r->req);
    r->req_len = xcalloc(n_req, sizeof *r->req_len);
    r->req_items = xcalloc(n_req, sizeof *r->req_items);
    r->n_req = n_req;
    for (size_t k = 0; k < n_req; k++) {
        size_t a = from + k * batch, b = a + batch < to ? a + batch : to;
        struct sz_ctl_msg m = {.type = SZ_CTL_IMPORT};
        m.items = (const uint8_t **)s->b + a;
        m.item_lens = s->len + a;
        m.n_items = b - a;
        encode_msg(&m, &r->req[k], &r->req_len[k]);
        r->req_items[k] = b - a;
    }
}

static void
import_free(struct import_run *r)
{
    for (size_t k = 0; k < r->n_req; k++)
        free(r->req[k]);
    free(r->req);
    free(r->req_len);
    free(r->req_items);
}

static void *
import_client(void *arg)
{
    struct import_run *r = arg;
    int fd = unix_connect(r->sock);
    size_t k;

    if (fd < 0)
        die("cannot connect to %s: %s", r->sock, strerror(errno));
    pthread_barrier_wait(&r->start);
    while ((k = atomic_fetch_add(&r->next, 1)) < r->n_req) {
        struct sz_ctl_msg *reply = NULL;
        uint8_t *frame = NULL;
        size_t ok = 0;
        ctl_roundtrip(fd, r->req[k], r->req_len[k], &frame, &reply);
        if (reply->type != SZ_CTL_R_IMPORTED || reply->n_results != r->req_items[k])
            die("unexpected reply to IMPORT (type %u, %zu results)", reply->type, reply->n_results);
        for (size_t i = 0; i < reply->n_results; i++) {
            if (reply->results[i].code == SZ_CTL_IMPORT_STORED)
                ok++;
            else if (ok == 0 && i == 0)
                progress("a bundle was not stored: %.*s", (int)reply->results[i].text_len,
                         reply->results[i].text);
        }
        atomic_fetch_add(&r->stored, ok);
        sz_ctl_msg_free(reply);
        free(frame);
    }
    close(fd);
    return NULL;
}

/*
 * Imports s->b[from, to) in requests of `batch` bundles over `clients`
 * connections at once. Returns bundles per second (from the first send to the
 * last reply); every bundle must be reported stored.
 */
static double
import_socket(const char *sock, const struct bset *s, size_t from, size_t to, size_t batch,
              int clients)
{
    struct import_run r;
    pthread_t t[64];
    double t0, t1;

    import_prepare(&r, s, from, to, batch);
    r.sock = sock;
    if (clients > 64)
        clients = 64;
    pthread_barrier_init(&r.start, NULL, (unsigned)clients + 1);
    for (int i = 0; i < clients; i++)
        if (pthread_create(&t[i], NULL, import_client, &r) != 0)
            die("pthread_create failed");
    pthread_barrier_wait(&r.start);
    t0 = now_s();
    for (int i = 0; i < clients; i++)
        pthread_join(t[i], NULL);
    t1 = now_s();
    pthread_barrier_destroy(&r.start);
    if (atomic_load(&r.stored) != to - from)
        die("only %zu of %zu bundles were stored", atomic_load(&r.stored), to - from);
    import_free(&r);
    return (double)(to - from) / (t1 - t0);
}

/* ---- Import through the CLI ---------------------------------------------------------------- */

struct cli_run {
    const struct options *o;
    const char *sock;
    char **paths;
    size_t n, batch;
    atomic_size_t next; /* next first file */
    atomic_int failed;
    const char *err_path;
    pthread_barrier_t start;
};

static void *
cli_lane(void *arg)
{
    struct cli_run *r = arg;
    char **argv = xcalloc(r->batch + 5, sizeof *argv);
    size_t a;

    pthread_barrier_wait(&r->start);
    while ((a = atomic_fetch_add(&r->next, r->batch)) < r->n) {
        size_t b = a + r->batch < r->n ? a + r->batch : r->n, k = 0;
        argv[k++] = (char *)r->o->cli;
        argv[k++] = "import";
        argv[k++] = "--socket";
        argv[k++] = (char *)r->sock;
        for (size_t i = a; i < b; i++)
            argv[k++] = r->paths[i];
        argv[k] = NULL;
        if (wait_exit(spawn(argv, -1, r->err_path)) != 0)
            atomic_store(&r->failed, 1);
    }
    free(argv);
    return NULL;
}

/* Writes the bundles to files (not timed); returns their paths. */
static char **
write_bundles(const struct bset *s, size_t from, size_t to, const char *dir)
{
    char **paths = xcalloc(to - from, sizeof *paths);

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        die("mkdir %s: %s", dir, strerror(errno));
    for (size_t i = from; i < to; i++) {
        paths[i - from] = xasprintf("%s/%06zu.szb", dir, i);
        write_file(paths[i - from], s->b[i], s->len[i], 0644);
    }
    return paths;
}

/*
 * `samizdat import --socket S FILE...` with `batch` files per invocation,
 * `lanes` invocations at a time. Returns bundles per second over the whole run.
 */
static double
import_cli(const struct options *o, const char *sock, char **paths, size_t n, size_t batch,
           int lanes)
{
    struct cli_run r;
    pthread_t t[64];
    double t0, t1;

    memset(&r, 0, sizeof r);
    r.o = o;
    r.sock = sock;
    r.paths = paths;
    r.n = n;
    r.batch = batch;
    r.err_path = xasprintf("%s/cli.log", o->tmp);
    if (lanes > 64)
        lanes = 64;
    pthread_barrier_init(&r.start, NULL, (unsigned)lanes + 1);
    for (int i = 0; i < lanes; i++)
        if (pthread_create(&t[i], NULL, cli_lane, &r) != 0)
            die("pthread_create failed");
    pthread_barrier_wait(&r.start);
    t0 = now_s();
    for (int i = 0; i < lanes; i++)
        pthread_join(t[i], NULL);
    t1 = now_s();
    pthread_barrier_destroy(&r.start);
    if (atomic_load(&r.failed))
        die("samizdat import failed; see %s", r.err_path);
    free((void *)r.err_path);
    return (double)n / (t1 - t0);
}

/* ---- Publish ------------------------------------------------------------------------------- */

/* Milliseconds from starting `samizdat publish` to reading the id it prints. */
static double
publish_cli_once(const struct options *o, const char *sock, const char *file, const char *err_path)
{
    char *argv[] = {(char *)o->cli, "publish", "--socket", (char *)sock, (char *)file, NULL};
    char buf[256];
    size_t len = 0;
    int p[2];
    double t0, t1 = 0;
    pid_t pid;

    if (pipe(p) != 0)
        die("pipe: %s", strerror(errno));
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    t0 = now_s();
    pid = spawn(argv, p[1], err_path);
    close(p[1]);
    for (;;) {
        ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len) != NULL) {
            t1 = now_s();
            break;
        }
        if (len == sizeof buf - 1)
            break;
    }
    close(p[0]);
    if (wait_exit(pid) != 0 || t1 == 0 || len < 65 || buf[64] != '\n')
        die("samizdat publish failed; see %s", err_path);
    return (t1 - t0) * 1e3;
}

/* Milliseconds for one PUBLISH over a fresh connection, up to the R_PUBLISHED reply. */
static double
publish_socket_once(const char *sock, const uint8_t *req, size_t req_len)
{
    struct sz_ctl_msg *reply = NULL;
    uint8_t *frame = NULL;
    double t0 = now_s(), t1;
    int fd = unix_connect(sock);

    if (fd < 0)
        die("cannot connect to %s: %s", sock, strerror(errno));
    ctl_roundtrip(fd, req, req_len, &frame, &reply);
    t1 = now_s();
    if (reply->type != SZ_CTL_R_PUBLISHED)
        die("unexpected reply type %u to PUBLISH", reply->type);
    sz_ctl_msg_free(reply);
    free(frame);
    close(fd);
    return (t1 - t0) * 1e3;
}

static void
latency_rows(const char *what, double *ms, size_t n)
{
    char label[128];
    struct row *r;

    qsort(ms, n, sizeof *ms, cmp_double);
    snprintf(label, sizeof label, "%s, p50", what);
    r = add_row(label);
    snprintf(r->value, sizeof r->value, "%.2f ms", percentile(ms, n, 50));
    snprintf(label, sizeof label, "%s, p99", what);
    r = add_row(label);
    snprintf(r->value, sizeof r->value, "%.2f ms", percentile(ms, n, 99));
    add_note("  %s: n=%zu, min %.2f ms, p90 %.2f ms, max %.2f ms", what, n, ms[0],
             percentile(ms, n, 90), ms[n - 1]);
}

/* ---- Sections ------------------------------------------------------------------------------ */

struct ctx {
    const struct options *o;
    struct corpus c;
    uint8_t pk[SZ_PUBLIC_KEY_LEN], sk[SZ_SECRET_KEY_LEN];   /* publisher of imported bundles */
    uint8_t fpk[SZ_PUBLIC_KEY_LEN], fsk[SZ_SECRET_KEY_LEN]; /* publisher of the large store */
    struct raw raw;     /* the raw limit: every measurement of the run feeds it */
    long rss_publisher; /* KiB, idle publisher daemon */
};

static struct row *
rate_row(const char *what, double rate, double bytes_per_bundle)
{
    struct row *r = add_row(what);

    if (bytes_per_bundle > 10000)
        snprintf(r->value, sizeof r->value, "%.0f /s (%.1f MB/s)", rate,
                 rate * bytes_per_bundle / 1e6);
    else
        snprintf(r->value, sizeof r->value, "%.0f /s", rate);
    return r;
}

/*
 * CPU seconds (user + system) a process has used so far: utime + stime of
 * /proc/PID/stat, which include threads that have already exited. Clock-tick
 * resolution (usually 10 ms), so only used over whole lines.
 */
static double
cpu_s(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    /* After the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime. */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

enum via { VIA_CLI, VIA_SOCKET };

struct line {
    double best;   /* bundles/s of the fastest round */
    double mean;   /* bundles/s over all rounds */
    double cpu_us; /* daemon CPU (all threads, user + system) per bundle */
    double ref;    /* reference/s: fastest of the slices run between the rounds */
};

/*
 * One import line: `rounds` rounds of n bundles each, taken from s at
 * *cursor (fresh bundles every round), through the CLI or the socket. A raw
 * verification slice runs before each round and after the last, so value and
 * reference see the same machine; each side keeps its fastest.
 */
static double open_rate(const struct bset *s, double seconds);

/* One slice of the reference: raw verification, or sz_bundle_open of ref_set. */
static double
ref_slice(struct ctx *x, const struct bset *ref_set)
{
    return ref_set == NULL ? raw_slices(&x->raw, 1, RAW_SLICE_S) : open_rate(ref_set, RAW_SLICE_S);
}

static struct line
import_line(struct ctx *x, struct daemon *d, const struct bset *s, size_t *cursor, size_t n,
            enum via via, size_t batch, int clients, const struct bset *ref_set)
{
    const struct options *o = x->o;
    int rounds = o->rounds;
    struct line l = {0, 0, 0, 0};
    double total_t = 0, cpu = 0, raw;
    char **paths = NULL, *dir = xasprintf("%s/bundles", o->tmp);

    if (*cursor + (size_t)rounds * n > s->n)
        die("internal error: not enough bundles prepared");
    if (via == VIA_CLI)
        paths = write_bundles(s, *cursor, *cursor + (size_t)rounds * n, dir);
    /* The daemon is idle during the reference slices: its CPU time is measured across all. */
    cpu = cpu_s(d->pid);
    for (int r = 0; r < rounds; r++) {
        double rate;
        raw = ref_slice(x, ref_set);
        l.ref = raw > l.ref ? raw : l.ref;
        if (via == VIA_CLI)
            rate = import_cli(o, d->sock, paths + (size_t)r * n, n, batch, clients);
        else
            rate = import_socket(d->sock, s, *cursor + (size_t)r * n, *cursor + (size_t)(r + 1) * n,
                                 batch, clients);
        total_t += (double)n / rate;
        if (rate > l.best)
            l.best = rate;
    }
    raw = ref_slice(x, ref_set);
    l.ref = raw > l.ref ? raw : l.ref;
    l.cpu_us = (cpu_s(d->pid) - cpu) / ((double)rounds * (double)n) * 1e6;
    l.mean = (double)rounds * (double)n / total_t;
    if (paths != NULL) {
        for (size_t i = 0; i < (size_t)rounds * n; i++) {
            unlink(paths[i]);
            free(paths[i]);
        }
        free(paths);
        rmdir(dir);
    }
    free(dir);
    *cursor += (size_t)rounds * n;
    daemon_check_alive(d);
    return l;
}

/* A judged 1 KB import row: value against the raw rate measured beside it. */
static void
small_row(struct ctx *x, const char *label, const struct line *l)
{
    struct row *r = rate_row(label, l->best, 0);

    snprintf(r->ref, sizeof r->ref, "%.0f /s", l->ref);
    judge(r, l->best, l->ref, TARGET_IMPORT_RATIO, true);
    add_note("  %-50s mean %6.0f /s; daemon CPU %5.1f us/bundle = %.2f raw verifies", label,
             l->mean, l->cpu_us, l->cpu_us / x->raw.cpu_us);
}

static void
section_import(struct ctx *x, struct daemon *d)
{
    const struct options *o = x->o;
    struct bset small, group;
    uint8_t *content;
    size_t content_len, n = o->n_small, gn = o->n_group, cursor, warm = 2 * o->batch;
    size_t n_lines = 4, g_lines = 3, g_warm = 2 * o->group_batch;
    int rounds = o->rounds;
    const struct doc *dsmall = NULL;
    struct sz_article arts[GROUP_SIZE];
    double lib = 0, raw = 0;
    char label[128], head[192];
    struct row *r;
    struct line l, cpu_line;

    /* A 1 KB bundle: one English text article cut to fit. */
    for (size_t i = 0; i < x->c.n_docs && dsmall == NULL; i++)
        if (!x->c.docs[i].html && strcmp(x->c.docs[i].lang, "en") == 0 &&
            x->c.docs[i].len > 4 * SMALL_BUNDLE_LEN)
            dsmall = &x->c.docs[i];
    if (dsmall == NULL)
        dsmall = &x->c.docs[0];
    small_container(dsmall, SMALL_BUNDLE_LEN, x->sk, &content, &content_len);
    progress("sealing %zu 1 KB bundles (not timed)", warm + n_lines * (size_t)rounds * n);
    bset_make(&small, content, content_len, x->sk, 1, warm + n_lines * (size_t)rounds * n);
    free(content);

    /* 50-article bundles: windows of 50 consecutive corpus documents, a different window each. */
    group.n = g_warm + g_lines * (size_t)rounds * gn;
    group.b = xcalloc(group.n, sizeof *group.b);
    group.len = xcalloc(group.n, sizeof *group.len);
    group.bytes = 0;
    progress("sealing %zu 50-article bundles (not timed)", group.n);
    {
        int64_t created = (int64_t)time(NULL);
        uint8_t id[SZ_BUNDLE_ID_LEN];
        for (size_t k = 0; k < group.n; k++) {
            struct sz_seal_params sp = {x->sk, 1000000 + k, created, PACK_LEVEL};
            size_t first = (k * 37) % x->c.n_docs;
            int rc;
            for (size_t i = 0; i < GROUP_SIZE; i++)
                doc_article(&x->c.docs[(first + i) % x->c.n_docs], &arts[i], created);
            encode_articles(arts, GROUP_SIZE, &content, &content_len);
            rc = sz_bundle_seal(&sp, content, content_len, &group.b[k], &group.len[k], id);
            if (rc != 0)
                die("sz_bundle_seal: %s", sz_strerror(rc));
            group.bytes += group.len[k];
            free(content);
        }
    }

    daemon_start(o, d, NULL, NULL, NULL);
    /* Warm-up (not timed): the daemon's thread pool, SQLite's caches, the page cache. */
    import_socket(d->sock, &small, 0, warm, o->batch, 1);
    import_socket(d->sock, &group, 0, g_warm, o->group_batch, 1);

    snprintf(head, sizeof head,
             "import, %zu-byte bundles (one article cut to fit), durable; reference = raw "
             "Ed25519 verify/s",
             small.len[0]);
    add_section(head);
    for (int k = 0; k < 4; k++) {
        double v = raw_slices(&x->raw, 1, RAW_SLICE_S), w = open_rate(&small, RAW_SLICE_S);
        raw = v > raw ? v : raw;
        lib = w > lib ? w : lib;
    }
    r = rate_row("in-process sz_bundle_open, one thread (library)", lib, 0);
    snprintf(r->ref, sizeof r->ref, "%.0f /s", raw);
    snprintf(r->ratio, sizeof r->ratio, "%.3f", lib / raw);

    add_note("import lines: fastest of %d rounds, each of fresh bundles (%zu of 1 KB, %zu of 50 "
             "articles); the daemon reported every one stored. Per line:",
             rounds, n, gn);
    cursor = warm;
    progress("import: samizdat import, 1 KB bundles");
    l = import_line(x, d, &small, &cursor, n, VIA_CLI, o->batch, 1, NULL);
    snprintf(label, sizeof label, "samizdat import, %zu files per call", o->batch);
    small_row(x, label, &l);
    l = import_line(x, d, &small, &cursor, n, VIA_CLI, o->batch, o->clients, NULL);
    snprintf(label, sizeof label, "samizdat import, %zu files per call, %d at once", o->batch,
             o->clients);
    small_row(x, label, &l);
    progress("import: socket, 1 KB bundles");
    l = import_line(x, d, &small, &cursor, n, VIA_SOCKET, o->batch, 1, NULL);
    snprintf(label, sizeof label, "socket, 1 client, %zu bundles per request", o->batch);
    small_row(x, label, &l);
    cpu_line = l;
    l = import_line(x, d, &small, &cursor, n, VIA_SOCKET, o->batch, o->clients, NULL);
    snprintf(label, sizeof label, "socket, %d clients, %zu bundles per request", o->clients,
             o->batch);
    small_row(x, label, &l);
    /* The same line seen through CPU time: hardly affected by other work on the machine. */
    r = add_row("daemon CPU per bundle, socket 1 client (info)");
    snprintf(r->value, sizeof r->value, "%.1f us", cpu_line.cpu_us);
    snprintf(r->ref, sizeof r->ref, "%.1f us raw verify", x->raw.cpu_us);
    snprintf(r->ratio, sizeof r->ratio, "%.3f", x->raw.cpu_us / cpu_line.cpu_us);

    {
        double avg = (double)group.bytes / (double)group.n, lib_rate;
        snprintf(head, sizeof head,
                 "import, 50-article bundles (avg %.0f KB, level %d), durable; reference = "
                 "in-process sz_bundle_open/s",
                 avg / 1e3, PACK_LEVEL);
        add_section(head);
        lib_rate = open_rate(&group, 1.0);
        rate_row("in-process sz_bundle_open, one thread (library)", lib_rate, avg);
        cursor = g_warm;
        progress("import: 50-article bundles");
        for (int k = 0; k < 3; k++) {
            if (k == 0) {
                l = import_line(x, d, &group, &cursor, gn, VIA_CLI, o->batch, 1, &group);
                snprintf(label, sizeof label, "samizdat import, %zu files in one call", gn);
            } else {
                int cl = k == 1 ? 1 : o->clients;
                l = import_line(x, d, &group, &cursor, gn, VIA_SOCKET, o->group_batch, cl, &group);
                snprintf(label, sizeof label, "socket, %d client%s, %zu bundles per request", cl,
                         cl > 1 ? "s" : "", o->group_batch);
            }
            r = rate_row(label, l.best, avg);
            snprintf(r->ref, sizeof r->ref, "%.0f /s", l.ref);
            snprintf(r->ratio, sizeof r->ratio, "%.3f", l.best / l.ref);
            add_note("  50-article %-39s mean %6.0f /s; daemon CPU %5.0f us/bundle", label, l.mean,
                     l.cpu_us);
        }
    }
    daemon_check_alive(d);
    daemon_stop(d);
    bset_free(&small);
    bset_free(&group);
}

static void
publisher_rss_row(const struct ctx *x)
{
    struct row *r;

    if (x->rss_publisher <= 0)
        return;
    r = add_row("publisher daemon (--publisher-key), after start-up");
    snprintf(r->value, sizeof r->value, "%.2f MiB", (double)x->rss_publisher / 1024.0);
    snprintf(r->ref, sizeof r->ref, "%.2f MiB", TARGET_IDLE_RSS / MIB);
    judge(r, (double)x->rss_publisher * 1024.0, TARGET_IDLE_RSS, 1.0, false);
}

static void
section_publish(struct ctx *x, struct daemon *d)
{
    const struct options *o = x->o;
    const struct doc *doc = NULL;
    uint8_t skfile[SZ_SKFILE_LEN], psk[SZ_SECRET_KEY_LEN], ppk[SZ_PUBLIC_KEY_LEN];
    uint8_t *content, *req;
    size_t content_len, req_len;
    struct sz_article a;
    struct sz_ctl_msg m = {.type = SZ_CTL_PUBLISH};
    char *skpath = xasprintf("%s/publisher.sk", o->tmp), *file, *err_path, label[128];
    double *ms = xcalloc(o->n_publish, sizeof *ms);
    /* One article of a few KB, published from where it lies in the corpus. */
    for (size_t i = 0; i < x->c.n_docs && doc == NULL; i++)
        if (!x->c.docs[i].html && x->c.docs[i].len >= 3000 && x->c.docs[i].len <= 6000)
            doc = &x->c.docs[i];
    if (doc == NULL)
        doc = &x->c.docs[0];
    file = xasprintf("%s/%s", x->c.dir, doc->name);
    err_path = xasprintf("%s/cli.log", o->tmp);

    sz_keypair(ppk, psk);
    if (sz_skfile_seal(psk, NULL, 0, 0, 0, skfile) != 0)
        die("sz_skfile_seal failed");
    write_file(skpath, skfile, sizeof skfile, 0600);
    daemon_arg(d, "--publisher-key");
    daemon_arg(d, skpath);
    daemon_arg(d, "--batch-window-ms");
    daemon_arg(d, "0");
    daemon_start(o, d, NULL, NULL, &x->rss_publisher);

    add_section("publish latency, one article, --batch-window-ms 0 (daemon's default level)");
    for (int i = 0; i < 5; i++)
        publish_cli_once(o, d->sock, file, err_path);
    progress("publish: %zu x samizdat publish %s", o->n_publish, file);
    for (size_t i = 0; i < o->n_publish; i++)
        ms[i] = publish_cli_once(o, d->sock, file, err_path);
    snprintf(label, sizeof label, "samizdat publish (%zu B article)", doc->len);
    latency_rows(label, ms, o->n_publish);

    doc_article(doc, &a, (int64_t)time(NULL));
    encode_articles(&a, 1, &content, &content_len);
    m.container = content;
    m.container_len = content_len;
    encode_msg(&m, &req, &req_len);
    for (int i = 0; i < 5; i++)
        publish_socket_once(d->sock, req, req_len);
    progress("publish: %zu x PUBLISH over the socket", o->n_publish);
    for (size_t i = 0; i < o->n_publish; i++)
        ms[i] = publish_socket_once(d->sock, req, req_len);
    latency_rows("socket PUBLISH", ms, o->n_publish);
    add_note("publish: %zu each after 5 untimed; CLI time = spawn to the id line read; socket "
             "time = connect to reply.",
             o->n_publish);
    daemon_check_alive(d);
    daemon_stop(d);
    if (o->only != NULL) {
        add_section("memory: idle RSS, empty store (VmRSS 0.2 s after the first connect())");
        publisher_rss_row(x);
    }
    free(content);
    free(req);
    free(ms);
    free(file);
    free(err_path);
    free(skpath); /* d->extra points to it, but d is stopped for good */
}

static void
run_cli_quiet(const struct options *o, char *const argv[])
{
    char *err_path = xasprintf("%s/cli.log", o->tmp);

    if (wait_exit(spawn(argv, -1, err_path)) != 0)
        die("%s %s failed; see %s", argv[0], argv[1], err_path);
    free(err_path);
}

static void
section_large(struct ctx *x, struct daemon *d)
{
    const struct options *o = x->o;
    struct bset fill;
    uint8_t *content;
    size_t content_len, n = o->n_fill;
    struct sz_article a;
    const struct doc *doc = &x->c.docs[0];
    double rate, raw, t_conn, *tc, *ts, t_fill;
    double limit = TARGET_IDLE_RSS + TARGET_RSS_PER_BUNDLE * (double)n;
    long rss, rss_status, rss_list;
    char pk[SZ_PK_TEXT_LEN + 1], since[32], label[128];
    struct row *r;

    /* Small bundles: one article of about 200 bytes. */
    doc_article(doc, &a, (int64_t)time(NULL));
    a.body_len = doc->len < 200 ? doc->len : 200;
    while (a.body_len > 1 && (doc->data[a.body_len] & 0xc0) == 0x80)
        a.body_len--;
    encode_articles(&a, 1, &content, &content_len);
    progress("sealing %zu small bundles for the large store (not timed)", n);
    bset_make(&fill, content, content_len, x->fsk, 1, n);
    free(content);

    daemon_start(o, d, &t_conn, NULL, &rss);
    add_section("memory: idle RSS, empty store (VmRSS 0.2 s after the first connect())");
    r = add_row("relay daemon, after start-up");
    snprintf(r->value, sizeof r->value, "%.2f MiB", (double)rss / 1024.0);
    snprintf(r->ref, sizeof r->ref, "%.2f MiB", TARGET_IDLE_RSS / MIB);
    judge(r, (double)rss * 1024.0, TARGET_IDLE_RSS, 1.0, false);
    publisher_rss_row(x);
    {
        int fd = unix_connect(d->sock);
        if (fd < 0)
            die("cannot connect to %s", d->sock);
        ctl_status(fd);
        close(fd);
        sleep_s(0.05);
    }
    r = add_row("relay daemon, after a status request");
    rss = rss_kib(d->pid);
    snprintf(r->value, sizeof r->value, "%.2f MiB", (double)rss / 1024.0);
    snprintf(r->ref, sizeof r->ref, "%.2f MiB", TARGET_IDLE_RSS / MIB);
    judge(r, (double)rss * 1024.0, TARGET_IDLE_RSS, 1.0, false);

    progress("filling a store with %zu bundles (%zu per request, %d clients)", n, o->fill_batch,
             o->clients);
    raw = raw_slices(&x->raw, 4, RAW_SLICE_S);
    t_fill = now_s();
    rate = import_socket(d->sock, &fill, 0, n, o->fill_batch, o->clients);
    t_fill = now_s() - t_fill;
    snprintf(label, sizeof label, "large store: %zu bundles of %zu B (%zu per request, %d clients)",
             n, fill.len[0], o->fill_batch, o->clients);
    add_section(label);
    r = rate_row("fill: import rate (info; reference = raw verify)", rate, 0);
    snprintf(r->ref, sizeof r->ref, "%.0f /s", raw);
    snprintf(r->ratio, sizeof r->ratio, "%.3f", rate / raw);
    r = add_row("RSS after the fill, before the restart (info)");
    rss = rss_kib(d->pid);
    snprintf(r->value, sizeof r->value, "%.2f MiB", (double)rss / 1024.0);
    snprintf(r->ref, sizeof r->ref, "%.2f MiB", limit / MIB);
    snprintf(r->ratio, sizeof r->ratio, "%.3f", (double)rss * 1024.0 / limit);
    bset_free(&fill);
    daemon_stop(d);

    /* Start-up: exec to accepting connections and to the first status reply. */
    tc = xcalloc(o->n_restarts, sizeof *tc);
    ts = xcalloc(o->n_restarts, sizeof *ts);
    progress("restarting the daemon %zu times", o->n_restarts);
    for (size_t i = 0; i < o->n_restarts; i++) {
        daemon_start(o, d, &tc[i], &ts[i], NULL);
        daemon_stop(d);
    }
    qsort(tc, o->n_restarts, sizeof *tc, cmp_double);
    qsort(ts, o->n_restarts, sizeof *ts, cmp_double);
    snprintf(label, sizeof label, "start-up: exec to first connect(), worst of %zu", o->n_restarts);
    r = add_row(label);
    snprintf(r->value, sizeof r->value, "%.1f ms", tc[o->n_restarts - 1] * 1e3);
    snprintf(r->ref, sizeof r->ref, "%.0f ms", TARGET_STARTUP_S * 1e3);
    judge(r, tc[o->n_restarts - 1], TARGET_STARTUP_S, 1.0, false);
    snprintf(label, sizeof label, "start-up: exec to first status reply, worst of %zu",
             o->n_restarts);
    r = add_row(label);
    snprintf(r->value, sizeof r->value, "%.1f ms", ts[o->n_restarts - 1] * 1e3);
    snprintf(r->ref, sizeof r->ref, "%.0f ms", TARGET_STARTUP_S * 1e3);
    judge(r, ts[o->n_restarts - 1], TARGET_STARTUP_S, 1.0, false);
    add_note("start-up with %zu bundles: connect median %.1f ms (min %.1f), status median %.1f "
             "ms (min %.1f); empty store: connect %.1f ms",
             n, tc[o->n_restarts / 2] * 1e3, tc[0] * 1e3, ts[o->n_restarts / 2] * 1e3, ts[0] * 1e3,
             t_conn * 1e3);
    free(tc);
    free(ts);

    /* Memory with the large store, after a fresh start, a status and a list. */
    daemon_start(o, d, NULL, NULL, &rss);
    {
        char *st_argv[] = {(char *)o->cli, "status", "--socket", d->sock, NULL};
        char *ls_argv[] = {(char *)o->cli,     "list", "--socket", d->sock, "--publisher", pk,
                           "--since-sequence", since,  NULL};
        sz_pk_to_text(x->fpk, pk);
        snprintf(since, sizeof since, "%zu", n > 10 ? n - 10 : 0);
        run_cli_quiet(o, st_argv);
        sleep_s(0.05);
        rss_status = rss_kib(d->pid);
        run_cli_quiet(o, ls_argv);
        sleep_s(0.05);
        rss_list = rss_kib(d->pid);
        snprintf(label, sizeof label, "RSS after start-up (limit 8 MiB + 64 B x %zu)", n);
        r = add_row(label);
        snprintf(r->value, sizeof r->value, "%.2f MiB", (double)rss / 1024.0);
        snprintf(r->ref, sizeof r->ref, "%.2f MiB", limit / MIB);
        judge(r, (double)rss * 1024.0, limit, 1.0, false);
        r = add_row("RSS after `samizdat status`");
        snprintf(r->value, sizeof r->value, "%.2f MiB", (double)rss_status / 1024.0);
        snprintf(r->ref, sizeof r->ref, "%.2f MiB", limit / MIB);
        judge(r, (double)rss_status * 1024.0, limit, 1.0, false);
        snprintf(label, sizeof label, "RSS after `samizdat list --since-sequence %s`", since);
        r = add_row(label);
        snprintf(r->value, sizeof r->value, "%.2f MiB", (double)rss_list / 1024.0);
        snprintf(r->ref, sizeof r->ref, "%.2f MiB", limit / MIB);
        judge(r, (double)rss_list * 1024.0, limit, 1.0, false);
    }
    daemon_check_alive(d);
    daemon_stop(d);
    add_note("large store: filled in %.1f s; RSS is VmRSS from /proc/PID/status (MiB = 2^20 "
             "bytes), read after a 0.2 s pause once connect() succeeds.",
             t_fill);
}

/* ---- Main ---------------------------------------------------------------------------------- */

/* The first three fields of /proc/loadavg. */
static void
loadavg(char *out, size_t cap)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double a = 0, b = 0, c = 0;

    if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
        snprintf(out, cap, "unknown");
    else
        snprintf(out, cap, "%.2f %.2f %.2f", a, b, c);
    if (f != NULL)
        fclose(f);
}

static bool
section(const struct options *o, const char *name)
{
    return o->only == NULL || strcmp(o->only, name) == 0;
}

static void
usage(void)
{
    fprintf(
        stderr,
        "usage: bench_daemon --samizdat CLI --samizdatd DAEMON --tmp DIR [--quick]\n"
        "                    [--clients N] [--fill N] [--only import|publish|large] CORPUS_DIR\n"
        "Normally run through bench/daemon; see bench/DAEMON.md.\n");
    exit(2);
}

static size_t
parse_size_arg(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v == 0)
        usage();
    return (size_t)v;
}

static void
parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->n_small = 4096;
    o->n_group = 48;
    o->rounds = 5;
    o->n_fill = 100000;
    o->n_publish = 100;
    o->n_restarts = 5;
    o->batch = 256;
    o->group_batch = 16;
    o->fill_batch = 4096;
    o->clients = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--samizdat") == 0 && has_val)
            o->cli = argv[++i];
        else if (strcmp(a, "--samizdatd") == 0 && has_val)
            o->daemon = argv[++i];
        else if (strcmp(a, "--tmp") == 0 && has_val)
            o->tmp = argv[++i];
        else if (strcmp(a, "--clients") == 0 && has_val)
            o->clients = (int)parse_size_arg(argv[++i]);
        else if (strcmp(a, "--only") == 0 && has_val)
            o->only = argv[++i];
        else if (strcmp(a, "--fill") == 0 && has_val)
            o->n_fill = parse_size_arg(argv[++i]);
        else if (strcmp(a, "--quick") == 0) {
            o->n_small = 1024;
            o->n_group = 16;
            o->rounds = 2;
            o->n_fill = 10000;
            o->n_publish = 20;
            o->n_restarts = 2;
        } else if (a[0] == '-' || o->corpus_dir != NULL)
            usage();
        else
            o->corpus_dir = a;
    }
    if (o->corpus_dir == NULL || o->cli == NULL || o->daemon == NULL || o->tmp == NULL ||
        o->clients < 1 || o->clients > 64 ||
        (o->only != NULL && strcmp(o->only, "import") != 0 && strcmp(o->only, "publish") != 0 &&
         strcmp(o->only, "large") != 0))
        usage();
}

int
main(int argc, char **argv)
{
    struct options o;
    struct ctx x;
    struct daemon dimp, dpub, dlarge;
    double t_start = now_s();
    int failed;
    char load0[64], load1[64];

    parse_args(argc, argv, &o);
    loadavg(load0, sizeof load0);
    if (sz_init() != 0)
        die("libsodium failed to start");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);
    pids_file = xasprintf("%s/daemon.pids", o.tmp);
    memset(&x, 0, sizeof x);
    x.o = &o;
    x.c.dir = o.corpus_dir;
    progress("loading the corpus from %s", o.corpus_dir);
    corpus_load(&x.c);
    sz_keypair(x.pk, x.sk);
    sz_keypair(x.fpk, x.fsk);
    daemon_init(&dimp, o.tmp, "import");
    daemon_init(&dpub, o.tmp, "publish");
    daemon_init(&dlarge, o.tmp, "large");

    raw_init(&x.raw, x.pk, x.sk);
    raw_slices(&x.raw, 4, RAW_SLICE_S);
    if (section(&o, "import"))
        section_import(&x, &dimp);
    if (section(&o, "publish"))
        section_publish(&x, &dpub);
    if (section(&o, "large"))
        section_large(&x, &dlarge);

    loadavg(load1, sizeof load1);
    printf("samizdatd benchmark: corpus %s (%zu documents), libsodium %s, %ld CPUs, %s run\n",
           o.corpus_dir, x.c.n_docs, sodium_version_string(), sysconf(_SC_NPROCESSORS_ONLN),
           o.n_fill == 100000 && o.n_small == 4096 ? "full" : "custom/quick");
    printf("raw Ed25519 = crypto_sign_verify_detached of the 123-byte signed message, one "
           "thread:\n  fastest slice of the run %.0f /s; least CPU per verify %.1f us; each "
           "line's reference is the fastest slice run beside it\n",
           x.raw.best, x.raw.cpu_us);
    printf("bundles packed with the library at level %d, not timed; stores in %s (fsync'd: "
           "synchronous=FULL)\n",
           PACK_LEVEL, o.tmp);
    printf("load average at start %s, at end %s (other work on the machine lowers every "
           "rate)\n\n",
           load0, load1);
    failed = print_table();
    printf("whole run: %.0f s\n", now_s() - t_start);
    daemon_free(&dimp);
    daemon_free(&dpub);
    daemon_free(&dlarge);
    for (size_t i = 0; i < x.c.n_docs; i++)
        free(x.c.docs[i].data);
    free(x.c.docs);
    free((void *)pids_file);
    sodium_memzero(x.sk, sizeof x.sk);
    sodium_memzero(x.fsk, sizeof x.fsk);
    return failed > 0 ? 1 : 0;
}
