/*
 * bench_gossip_peer: lightweight peers for bench/gossip (see bench/GOSSIP.md),
 * speaking the peer protocol (proto/PROTOCOL.md) through the library's link
 * and message codecs, without a store.
 *
 *   bench_gossip_peer idle --connect IP:PORT [--n N]
 *       Opens N links to a daemon (at most 64 handshakes at a time). On each,
 *       once open, says what a fresh daemon says (HELLO, an empty SUMMARY,
 *       GET_PEERS) and then stays idle, answering PINGs. Prints "ready N MS"
 *       when every link has received the daemon's SUMMARY, then holds the
 *       links until its standard input closes or it gets SIGTERM. Prints
 *       "lost K" if links close meanwhile.
 *
 *   bench_gossip_peer catchup --connect IP:PORT --have FILE [--window W]
 *                             [--quiet-ms MS] [--timeout-s S] [--no-sparse]
 *       Plays a node that holds the sequence ranges listed in FILE (lines
 *       "PUBLISHER_HEX FIRST LAST") and reconnects: says HELLO, SUMMARY and
 *       GET_PEERS as an outbound daemon does, compares the daemon's SUMMARY
 *       with its own ranges, and asks for what it lacks with REQUEST_RANGE
 *       (spans of at most 4096, W outstanding at a time: the daemon starts
 *       with 4), as daemon/gossip.c does. It offers the sparse feature
 *       (PROTOCOL.md 4.3.2; not with --no-sparse): where the daemon offers it
 *       too, its SUMMARY goes packed and consecutive gaps within one span go
 *       in one REQUEST_SPARSE. Bundles are counted, not
 *       stored. When everything asked for has come (RANGE_DONE) it waits
 *       QUIET ms more for stray messages and prints one JSON object: times,
 *       round trips, messages and bytes each way by type.
 *
 * Round trips are counted causally: the handshake is one (message 1 out,
 * message 2 back; message 3 leaves together with the first frames); the
 * SUMMARY exchange is one; each REQUEST_RANGE (or REQUEST_SPARSE) sent in
 * answer to a RANGE_DONE is one more than the request that RANGE_DONE ended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "samizdat/link.h"
#include "samizdat/msg.h"

#define MAX_PUBS 1024
#define MAX_RANGES_PER_PUB 1024
#define SPAN SZ_MSG_MAX_RANGE_SPAN
#define N_TYPES 256

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "bench_gossip_peer: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* ---- one link over a non-blocking socket ---- */

struct conn {
    int fd;
    struct sz_link *link;
    bool connected; /* TCP connect finished */
    bool open;      /* handshake done */
    bool dead;
    uint64_t wire_in, wire_out;
    uint64_t msgs_in[N_TYPES], msgs_out[N_TYPES];
    uint64_t body_in[N_TYPES], body_out[N_TYPES];
    double t_start, t_open;
};

static struct sz_link_keys *keys_template;

static void
parse_addr(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');

    if (colon == NULL || (size_t)(colon - s) >= sizeof host)
        die("bad address %s (want IP:PORT)", s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        die("bad IPv4 address %s", host);
}

static int
conn_start(struct conn *c, const struct sockaddr_in *sa)
{
    struct sz_link_keys k = *keys_template;
    int one = 1;

    memset(c, 0, sizeof *c);
    c->t_start = now_ms();
    randombytes_buf(k.node_sk, sizeof k.node_sk);
    crypto_scalarmult_base(k.node_pk, k.node_sk);
    if (sz_link_new(SZ_LINK_INITIATOR, &k, (int64_t)time(NULL), &c->link) != 0)
        die("sz_link_new failed");
    sodium_memzero(&k, sizeof k);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s", strerror(errno));
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) != 0 && errno != EINPROGRESS) {
        c->dead = true;
        return -1;
    }
    return 0;
}

static void
conn_kill(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    sz_link_free(c->link);
    c->link = NULL;
    c->dead = true;
}

/* Writes what the link has queued; returns -1 when the socket failed. */
static int
conn_flush(struct conn *c)
{
    for (;;) {
        size_t n;
        const uint8_t *out = sz_link_output(c->link, &n);
        ssize_t w;
        if (n == 0)
            return 0;
        w = send(c->fd, out, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->wire_out += (uint64_t)w;
        sz_link_output_consume(c->link, (size_t)w);
    }
}

static bool
conn_wants_write(const struct conn *c)
{
    size_t n = 0;

    if (!c->connected)
        return true;
    (void)sz_link_output(c->link, &n);
    return n > 0;
}

static int
conn_send(struct conn *c, const uint8_t *body, size_t len)
{
    if (sz_link_send(c->link, body, len) != 0)
        return -1;
    c->msgs_out[body[0]]++;
    c->body_out[body[0]] += len;
    return conn_flush(c);
}

static int
conn_send_msg(struct conn *c, const struct sz_msg *m)
{
    uint8_t *body = NULL;
    size_t len = 0;
    int rc;

    if (sz_msg_encode_alloc(m, &body, &len) != 0)
        die("cannot encode a message of type %u", m->type);
    rc = conn_send(c, body, len);
    free(body);
    return rc;
}

/* What the caller does with events. */
struct handler {
    void (*on_open)(struct conn *c, void *ctx);
    void (*on_message)(struct conn *c, const struct sz_msg *m, const uint8_t *body, size_t len,
                       void *ctx);
    void *ctx;
};

/* Reads what the socket has and feeds the link. Returns -1 when the link ended. */
static int
conn_read(struct conn *c, const struct handler *h)
{
    static uint8_t buf[1 << 16];

    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        struct sz_link_event ev;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            return -1;
        c->wire_in += (uint64_t)n;
        if (sz_link_input(c->link, buf, (size_t)n) != 0)
            return -1;
        for (;;) {
            if (sz_link_poll(c->link, (int64_t)time(NULL), &ev) != 0)
                return -1;
            if (conn_flush(c) != 0)
                return -1;
            if (ev.type == SZ_LINK_EV_NONE)
                break;
            if (ev.type == SZ_LINK_EV_OPEN) {
                c->open = true;
                c->t_open = now_ms();
                h->on_open(c, h->ctx);
            } else if (ev.type == SZ_LINK_EV_MESSAGE) {
                struct sz_msg m;
                if (ev.body_len == 0 || sz_msg_decode(ev.body, ev.body_len, &m) != 0) {
                    fprintf(stderr, "bench_gossip_peer: a malformed message\n");
                    return -1;
                }
                c->msgs_in[ev.body[0]]++;
                c->body_in[ev.body[0]] += ev.body_len;
                h->on_message(c, &m, ev.body, ev.body_len, h->ctx);
            }
            if (c->dead)
                return -1;
        }
    }
}

/* One poll round over the connections; returns how many are alive. */
static size_t
poll_round(struct conn *cs, size_t n, const struct handler *h, int timeout_ms, size_t *n_lost)
{
    static struct pollfd *pfd;
    static size_t *idx;
    static size_t cap;
    size_t i, k = 0, alive = 0;
    int rc;

    if (cap < n) {
        struct pollfd *np = realloc(pfd, n * sizeof *pfd);
        size_t *ni;
        if (np == NULL)
            die("out of memory");
        pfd = np;
        ni = realloc(idx, n * sizeof *idx);
        if (ni == NULL)
            die("out of memory");
        idx = ni;
        cap = n;
    }
    for (i = 0; i < n; i++) {
        if (cs[i].dead || cs[i].fd < 0)
            continue;
        pfd[k].fd = cs[i].fd;
        pfd[k].events = POLLIN | (conn_wants_write(&cs[i]) ? POLLOUT : 0);
        pfd[k].revents = 0;
        idx[k++] = i;
    }
    if (k == 0)
        return 0;
    rc = poll(pfd, k, timeout_ms);
    if (rc < 0 && errno != EINTR)
        die("poll: %s", strerror(errno));
    for (i = 0; rc > 0 && i < k; i++) {
        struct conn *c = &cs[idx[i]];
        if (pfd[i].revents == 0)
            continue;
        if (!c->connected && (pfd[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
            int err = 0;
            socklen_t el = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
                conn_kill(c);
                ++*n_lost;
                continue;
            }
            c->connected = true;
        }
        if ((pfd[i].revents & POLLOUT) && conn_flush(c) != 0) {
            conn_kill(c);
            ++*n_lost;
            continue;
        }
        if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && conn_read(c, h) != 0) {
            conn_kill(c);
            ++*n_lost;
            continue;
        }
    }
    for (i = 0; i < n; i++)
        alive += !cs[i].dead;
    return alive;
}

/* What an outbound daemon says when a link opens (gossip_peer_open). */
static void
say_hello(struct conn *c, const uint8_t *summary, size_t summary_len)
{
    struct sz_msg m;

    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_HELLO;
    m.listen_port = 0;
    m.roles = SZ_ROLE_RELAY;
    (void)conn_send_msg(c, &m);
    (void)conn_send(c, summary, summary_len);
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_GET_PEERS;
    (void)conn_send_msg(c, &m);
}

static void
answer_ping(struct conn *c, const struct sz_msg *m)
{
    struct sz_msg r;

    memset(&r, 0, sizeof r);
    r.type = SZ_MSG_PONG;
    r.nonce = m->nonce;
    (void)conn_send_msg(c, &r);
}

/* ---- idle ---- */

struct idle_ctx {
    uint8_t empty_summary[8];
    size_t empty_summary_len;
    bool *got_summary;
    struct conn *cs;
    size_t n_ready;
};

static void
idle_open(struct conn *c, void *ctx)
{
    struct idle_ctx *x = ctx;
    say_hello(c, x->empty_summary, x->empty_summary_len);
}

static void
idle_message(struct conn *c, const struct sz_msg *m, const uint8_t *body, size_t len, void *ctx)
{
    struct idle_ctx *x = ctx;
    size_t i = (size_t)(c - x->cs);

    (void)body;
    (void)len;
    if (m->type == SZ_MSG_PING)
        answer_ping(c, m);
    else if (m->type == SZ_MSG_SUMMARY && !x->got_summary[i]) {
        x->got_summary[i] = true;
        x->n_ready++;
    }
}

static int
cmd_idle(int argc, char **argv)
{
    const char *addr = NULL;
    size_t n = 500, started = 0, lost = 0, i, reported_lost = 0;
    struct sockaddr_in sa;
    struct idle_ctx x;
    struct handler h = {idle_open, idle_message, &x};
    double t0 = now_ms();
    bool ready = false;
    int a;

    for (a = 0; a < argc; a++) {
        if (strcmp(argv[a], "--connect") == 0 && a + 1 < argc)
            addr = argv[++a];
        else if (strcmp(argv[a], "--n") == 0 && a + 1 < argc)
            n = (size_t)strtoul(argv[++a], NULL, 10);
        else
            die("idle: unknown option %s", argv[a]);
    }
    if (addr == NULL || n == 0)
        die("idle: needs --connect IP:PORT and --n N >= 1");
    parse_addr(addr, &sa);
    memset(&x, 0, sizeof x);
    if (sz_msg_encode_summary(false, NULL, 0, x.empty_summary, sizeof x.empty_summary,
                              &x.empty_summary_len) != 0)
        die("cannot encode an empty SUMMARY");
    x.cs = calloc(n, sizeof *x.cs);
    x.got_summary = calloc(n, sizeof *x.got_summary);
    if (x.cs == NULL || x.got_summary == NULL)
        die("out of memory");
    while (!stop_flag) {
        size_t opening = 0;
        struct pollfd in = {STDIN_FILENO, POLLIN, 0};
        for (i = 0; i < started; i++)
            opening += !x.cs[i].dead && !x.got_summary[i];
        while (started < n && opening < 64) {
            if (conn_start(&x.cs[started], &sa) != 0)
                lost++;
            started++;
            opening++;
        }
        (void)poll_round(x.cs, started, &h, 100, &lost);
        if (!ready && x.n_ready + lost >= n) {
            ready = true;
            printf("ready %zu %.0f\n", x.n_ready, now_ms() - t0);
            fflush(stdout);
        }
        if (ready && lost > reported_lost) {
            printf("lost %zu\n", lost);
            fflush(stdout);
            reported_lost = lost;
        }
        if (ready && poll(&in, 1, 0) == 1) {
            char b[64];
            if (read(STDIN_FILENO, b, sizeof b) <= 0)
                break;
        }
    }
    for (i = 0; i < started; i++)
        if (!x.cs[i].dead)
            conn_kill(&x.cs[i]);
    return 0;
}

/* ---- catchup ---- */

struct range3 {
    uint8_t pub[32];
    uint64_t first, last;
    int depth;
};

struct pub_have {
    uint8_t pub[32];
    struct sz_msg_range r[MAX_RANGES_PER_PUB];
    size_t n;
};

struct cu_ctx {
    struct pub_have *have;
    size_t n_have;
    uint8_t *summary, *summary_packed; /* SUMMARY, and SUMMARY_PACKED for a sparse link */
    size_t summary_len, summary_packed_len;
    bool sparse; /* offer the sparse feature (PROTOCOL.md 4.3.2) */
    int window;
    struct range3 *queue; /* to ask, in order */
    size_t n_queue, q_next, q_cap;
    struct range3 out[64]; /* asked, not done (the daemon serves them in order) */
    size_t n_out;
    bool got_summary;
    int max_depth;
    double t_summary, t_last_done, t_last_bundle;
    uint64_t bundles, bundle_bytes, range_sent_total;
    uint32_t rx_total, rx_got;
    uint64_t n_ranges_asked;
};

static struct pub_have *
have_find(struct cu_ctx *x, const uint8_t *pub)
{
    size_t i;

    for (i = 0; i < x->n_have; i++)
        if (memcmp(x->have[i].pub, pub, 32) == 0)
            return &x->have[i];
    return NULL;
}

static void
queue_add(struct cu_ctx *x, const uint8_t *pub, uint64_t first, uint64_t last)
{
    while (first <= last) {
        uint64_t end = last - first >= SPAN ? first + SPAN - 1 : last;
        if (x->n_queue == x->q_cap) {
            x->q_cap = x->q_cap == 0 ? 64 : x->q_cap * 2;
            x->queue = realloc(x->queue, x->q_cap * sizeof *x->queue);
            if (x->queue == NULL)
                die("out of memory");
        }
        memcpy(x->queue[x->n_queue].pub, pub, 32);
        x->queue[x->n_queue].first = first;
        x->queue[x->n_queue].last = end;
        x->n_queue++;
        if (end == UINT64_MAX)
            break;
        first = end + 1;
    }
}

/*
 * On a sparse link: the queued ranges from x->q_next on that go in one
 * REQUEST_SPARSE (one publisher, in order, within one span), sent; returns
 * how many (0: one REQUEST_RANGE is due instead).
 */
static size_t
send_sparse(struct conn *c, struct cu_ctx *x, int depth)
{
    static struct sz_msg_range v[SZ_MSG_MAX_SPARSE_RANGES];
    static uint8_t body[SZ_MSG_MAX_REQUEST_SPARSE_LEN];
    const struct range3 *h = &x->queue[x->q_next];
    size_t n = 1, len = 0;

    if ((sz_link_features(c->link) & SZ_FEATURE_SPARSE) == 0)
        return 0;
    while (x->q_next + n < x->n_queue && n < SZ_MSG_MAX_SPARSE_RANGES) {
        const struct range3 *r = &x->queue[x->q_next + n];
        if (memcmp(r->pub, h->pub, 32) != 0 || r->first <= r[-1].last || r->last - h->first >= SPAN)
            break;
        n++;
    }
    if (n == 1)
        return 0;
    for (size_t i = 0; i < n; i++) {
        v[i].first = x->queue[x->q_next + i].first;
        v[i].last = x->queue[x->q_next + i].last;
    }
    if (sz_msg_encode_request_sparse(h->pub, v, n, body, sizeof body, &len) != 0)
        die("cannot encode a REQUEST_SPARSE");
    x->out[x->n_out] = *h;
    x->out[x->n_out].last = v[n - 1].last;
    x->out[x->n_out].depth = depth;
    x->n_out++;
    x->q_next += n;
    x->n_ranges_asked++;
    (void)conn_send(c, body, len);
    return n;
}

static void
send_next_ranges(struct conn *c, struct cu_ctx *x, int depth)
{
    while ((int)x->n_out < x->window && x->q_next < x->n_queue) {
        struct range3 *r;
        struct sz_msg m;
        if (depth > x->max_depth)
            x->max_depth = depth;
        if (send_sparse(c, x, depth) > 0)
            continue;
        r = &x->queue[x->q_next++];
        memset(&m, 0, sizeof m);
        m.type = SZ_MSG_REQUEST_RANGE;
        memcpy(m.publisher, r->pub, 32);
        m.first = r->first;
        m.last = r->last;
        r->depth = depth;
        x->out[x->n_out++] = *r;
        x->n_ranges_asked++;
        (void)conn_send_msg(c, &m);
    }
}

/* The peer's ranges minus ours, as daemon/gossip.c's run_compare() does. */
static void
compare(struct cu_ctx *x, const struct sz_msg *m)
{
    struct sz_msg_iter it;
    struct sz_msg_summary_pub sp;

    sz_msg_summary_iter(m, &it);
    while (sz_msg_summary_next(&it, &sp)) {
        struct pub_have *h = have_find(x, sp.publisher);
        struct sz_msg_range r;
        size_t i;
        while (sz_msg_summary_range_next(&sp, &r)) {
            uint64_t cur = r.first;
            for (i = 0; h != NULL && i < h->n && cur <= r.last; i++) {
                if (h->r[i].last < cur)
                    continue;
                if (h->r[i].first > r.last)
                    break;
                if (h->r[i].first > cur)
                    queue_add(x, sp.publisher, cur, h->r[i].first - 1);
                if (h->r[i].last == UINT64_MAX) {
                    cur = UINT64_MAX;
                    break;
                }
                cur = h->r[i].last + 1;
                if (cur == 0)
                    break;
            }
            if (cur <= r.last && cur != UINT64_MAX)
                queue_add(x, sp.publisher, cur, r.last);
        }
    }
}

static void
cu_open(struct conn *c, void *ctx)
{
    struct cu_ctx *x = ctx;
    if ((sz_link_features(c->link) & SZ_FEATURE_SPARSE) != 0)
        say_hello(c, x->summary_packed, x->summary_packed_len);
    else
        say_hello(c, x->summary, x->summary_len);
}

static void
cu_message(struct conn *c, const struct sz_msg *m, const uint8_t *body, size_t len, void *ctx)
{
    struct cu_ctx *x = ctx;
    size_t i;

    (void)body;
    (void)len;
    switch (m->type) {
    case SZ_MSG_PING:
        answer_ping(c, m);
        break;
    case SZ_MSG_SUMMARY:
    case SZ_MSG_SUMMARY_PACKED:
        if (!x->got_summary) {
            x->got_summary = true;
            x->t_summary = now_ms();
            if (x->max_depth < 1)
                x->max_depth = 1;
            compare(x, m);
            send_next_ranges(c, x, 2);
        }
        break;
    case SZ_MSG_BUNDLE:
        if (m->offset == 0) {
            x->rx_total = m->total;
            x->rx_got = 0;
        }
        x->rx_got += (uint32_t)m->data_len;
        if (x->rx_got >= x->rx_total) {
            x->bundles++;
            x->bundle_bytes += x->rx_total;
            x->t_last_bundle = now_ms();
            x->rx_got = x->rx_total = 0;
        }
        break;
    case SZ_MSG_RANGE_DONE:
        for (i = 0; i < x->n_out; i++) {
            if (memcmp(x->out[i].pub, m->publisher, 32) == 0 && x->out[i].first == m->first &&
                x->out[i].last == m->last) {
                int d = x->out[i].depth;
                x->out[i] = x->out[--x->n_out];
                x->range_sent_total += m->sent;
                x->t_last_done = now_ms();
                send_next_ranges(c, x, d + 1);
                break;
            }
        }
        break;
    default:
        break;
    }
}

static void
read_have(struct cu_ctx *x, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256];
    struct sz_msg_summary_src *src;
    size_t i, cap;

    if (f == NULL)
        die("cannot read %s: %s", path, strerror(errno));
    x->have = calloc(MAX_PUBS, sizeof *x->have);
    if (x->have == NULL)
        die("out of memory");
    while (fgets(line, sizeof line, f) != NULL) {
        char hex[65];
        unsigned long long a, b;
        uint8_t pub[32];
        struct pub_have *h;
        if (sscanf(line, "%64s %llu %llu", hex, &a, &b) != 3)
            continue;
        if (sz_unhex(hex, 64, pub, 32) != 0)
            die("bad publisher %s in %s", hex, path);
        h = have_find(x, pub);
        if (h == NULL) {
            if (x->n_have == MAX_PUBS)
                die("too many publishers in %s", path);
            h = &x->have[x->n_have++];
            memcpy(h->pub, pub, 32);
        }
        if (h->n == MAX_RANGES_PER_PUB)
            die("too many ranges in %s", path);
        h->r[h->n].first = a;
        h->r[h->n].last = b;
        h->n++;
    }
    fclose(f);
    src = calloc(x->n_have + 1, sizeof *src);
    cap = SZ_MSG_SUMMARY_HEADER_LEN;
    for (i = 0; i < x->n_have; i++) {
        src[i].publisher = x->have[i].pub;
        src[i].ranges = x->have[i].r;
        src[i].n_ranges = x->have[i].n;
        cap += SZ_MSG_SUMMARY_PUB_LEN(x->have[i].n);
    }
    x->summary = malloc(cap);
    x->summary_packed = malloc(cap);
    if (src == NULL || x->summary == NULL || x->summary_packed == NULL ||
        sz_msg_encode_summary(false, src, x->n_have, x->summary, cap, &x->summary_len) != 0)
        die("cannot encode our SUMMARY");
    /* Packed ranges take at most 20 bytes each: fall back to the 16-byte form if longer. */
    if (sz_msg_encode_summary_packed(false, src, x->n_have, x->summary_packed, cap,
                                     &x->summary_packed_len) != 0) {
        memcpy(x->summary_packed, x->summary, x->summary_len);
        x->summary_packed_len = x->summary_len;
    }
    free(src);
}

static void
print_types(const char *name, const uint64_t *msgs, const uint64_t *body)
{
    int t;
    bool first = true;

    printf("\"%s\":{", name);
    for (t = 0; t < N_TYPES; t++) {
        if (msgs[t] == 0)
            continue;
        printf("%s\"%s\":[%llu,%llu]", first ? "" : ",",
               sz_msg_type_name((uint8_t)t) != NULL ? sz_msg_type_name((uint8_t)t) : "?",
               (unsigned long long)msgs[t], (unsigned long long)body[t]);
        first = false;
    }
    printf("}");
}

static int
cmd_catchup(int argc, char **argv)
{
    const char *addr = NULL, *have = NULL;
    double quiet_ms = 300, timeout_s = 600, t_done = 0;
    struct sockaddr_in sa;
    struct cu_ctx x;
    struct conn c;
    struct handler h = {cu_open, cu_message, &x};
    size_t lost = 0;
    int a;

    memset(&x, 0, sizeof x);
    x.window = 4;
    x.sparse = true;
    for (a = 0; a < argc; a++) {
        if (strcmp(argv[a], "--connect") == 0 && a + 1 < argc)
            addr = argv[++a];
        else if (strcmp(argv[a], "--have") == 0 && a + 1 < argc)
            have = argv[++a];
        else if (strcmp(argv[a], "--window") == 0 && a + 1 < argc)
            x.window = atoi(argv[++a]);
        else if (strcmp(argv[a], "--quiet-ms") == 0 && a + 1 < argc)
            quiet_ms = atof(argv[++a]);
        else if (strcmp(argv[a], "--timeout-s") == 0 && a + 1 < argc)
            timeout_s = atof(argv[++a]);
        else if (strcmp(argv[a], "--no-sparse") == 0)
            x.sparse = false;
        else
            die("catchup: unknown option %s", argv[a]);
    }
    if (addr == NULL || have == NULL || x.window < 1 || x.window > 64)
        die("catchup: needs --connect IP:PORT, --have FILE, 1 <= window <= 64");
    parse_addr(addr, &sa);
    read_have(&x, have);
    if (x.sparse)
        keys_template->features = SZ_FEATURE_SPARSE;
    if (conn_start(&c, &sa) != 0)
        die("cannot connect to %s: %s", addr, strerror(errno));
    while (!stop_flag) {
        double t = now_ms();
        bool done = x.got_summary && x.n_out == 0 && x.q_next == x.n_queue && x.rx_total == 0;
        if (done && t_done == 0)
            t_done = t;
        if (done && t - t_done >= quiet_ms)
            break;
        if (t - c.t_start > timeout_s * 1000) {
            fprintf(stderr, "bench_gossip_peer: catch-up timed out\n");
            break;
        }
        if (poll_round(&c, 1, &h, 20, &lost) == 0) {
            fprintf(stderr, "bench_gossip_peer: the daemon closed the link\n");
            break;
        }
    }
    printf("{\"complete\":%s,\"handshake_ms\":%.3f,\"summary_ms\":%.3f,\"done_ms\":%.3f,"
           "\"round_trips\":%d,\"gossip_round_trips\":%d,\"ranges\":%llu,\"window\":%d,"
           "\"bundles\":%llu,\"bundle_bytes\":%llu,\"range_sent\":%llu,"
           "\"wire_in\":%llu,\"wire_out\":%llu,",
           t_done > 0 ? "true" : "false", c.open ? c.t_open - c.t_start : -1.0,
           x.got_summary ? x.t_summary - c.t_start : -1.0,
           t_done > 0 ? (x.t_last_done > 0 ? x.t_last_done : x.t_summary) - c.t_start : -1.0,
           1 + x.max_depth, x.max_depth, (unsigned long long)x.n_ranges_asked, x.window,
           (unsigned long long)x.bundles, (unsigned long long)x.bundle_bytes,
           (unsigned long long)x.range_sent_total, (unsigned long long)c.wire_in,
           (unsigned long long)c.wire_out);
    print_types("in", c.msgs_in, c.body_in);
    printf(",");
    print_types("out", c.msgs_out, c.body_out);
    printf("}\n");
    if (!c.dead)
        conn_kill(&c);
    return t_done > 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    struct sigaction sa;

    if (sodium_init() < 0)
        die("sodium_init failed");
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    keys_template = calloc(1, sizeof *keys_template);
    if (keys_template == NULL)
        die("out of memory");
    memcpy(keys_template->network_key, SZ_DEFAULT_NETWORK_KEY, SZ_NETWORK_KEY_LEN);
    if (argc >= 2 && strcmp(argv[1], "idle") == 0)
        return cmd_idle(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "catchup") == 0)
        return cmd_catchup(argc - 2, argv + 2);
    fprintf(stderr,
            "usage: bench_gossip_peer idle --connect IP:PORT [--n N]\n"
            "       bench_gossip_peer catchup --connect IP:PORT --have FILE [--window W]\n"
            "                                 [--quiet-ms MS] [--timeout-s S] [--no-sparse]\n");
    return 2;
}
