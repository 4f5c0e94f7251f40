/*
 * An adversarial samizdat peer: a test tool that drives proto/link.c and
 * proto/msg.c directly over non-blocking sockets and poll(), to attack a
 * real samizdatd the way a hostile node on the network could, and to check
 * that the daemon reacts as proto/PROTOCOL.md says (silence towards probers,
 * GOODBYE + close + ban for misbehaviour, bounded requests, timeouts).
 *
 * usage: adversary COMMAND HOST:PORT [ARG] [OPTIONS]; see usage() below.
 * It prints what happened, one fact a line ("key: value" lines carry the
 * numbers the test scripts read), and exits 0 when the daemon behaved as the
 * spec says, 1 when it did not, 2 on a usage or local error.
 *
 * adversary serve-evil MODE --listen HOST:PORT --bundles DIR turns it around:
 * a malicious relay that `samizdat fetch` connects to (tampered bundles, an
 * old bundle for a newer range, a stream cut mid-bundle, endless ANNOUNCEs).
 *
 * The binary carries its own copy of proto/link.c built with SZ_LINK_TESTING,
 * for sz_link_test_seal_raw() (frames whose sealed length is out of range).
 */
#include <arpa/inet.h>
#include <dirent.h>
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
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <sodium.h>
#include <zstd.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "samizdat/link.h"
#include "samizdat/msg.h"

/* Built into this binary from proto/link.c with SZ_LINK_TESTING. */
int sz_link_test_seal_raw(struct sz_link *l, uint32_t len_field, const uint8_t *body,
                          size_t body_len, uint8_t *out);

#define HANDSHAKE_WAIT_MS 5000
#define CLOSE_WAIT_MS 10000
/* How long to wait for the daemon's REQUEST or REQUEST_RANGE: --request-wait. */
static int request_wait_ms = 15000;
#define READ_CHUNK 65536
#define FLOOD_OUT_LOW (256u << 10) /* refill the flood's output below this many bytes */
#define SPEC_MAX_REQUESTED 16      /* PROTOCOL.md 4.4: ids outstanding to one peer */
#define SPEC_REQUEST_TIMEOUT_S 30  /* PROTOCOL.md 4.2: a request is re-sent after 30 s */

/* Command-line settings shared by every command. */
struct opts {
    const char *host;
    uint16_t port;
    const char *from;           /* source address of our connections, or NULL */
    const char *key_check_from; /* a second source address to test the node-key ban */
    const char *bait;           /* push-unwanted: a bundle to announce first */
    const char *node_key;       /* a file with the node key to use (else a random one) */
    double hold_s;              /* flood, idle-connections: how long to stay connected */
    double seconds;             /* slow: how long to trickle (< 0: the command's default) */
    bool slow_handshake;        /* slow: trickle the first handshake message instead */
    unsigned long frames; /* bundle-repeat: at most this many BUNDLES messages (0: no limit) */
    const char *listen;   /* serve-evil: HOST:PORT to listen on (port 0: any) */
    const char *bundles;  /* serve-evil: folder of the bundles it holds */
    uint64_t claim_last;  /* serve-evil old-as-new: last sequence claimed (0: newest + 100) */
    double max_s;         /* serve-evil: lifetime of one session, seconds */
    double rate;          /* serve-evil flood: ids announced per second (0: no limit);
                             slow-read, slow-bundle: bytes per second (0: the default) */
    double answer_delay;  /* serve-evil: seconds between SUMMARY and the attack */
    bool batch;           /* serve-evil: offer the batch feature, send whole bundles in BUNDLES */
    bool sparse;          /* serve-evil: offer the sparse feature (REQUEST_SPARSE is answered) */
    bool not_found;       /* flood: answer every id asked with NOT_FOUND */
    double again_s;       /* flood: send the announcements again this long after, same link */
    bool hang_up;         /* bad-signature: close as soon as the bundle is written */
    unsigned long links;  /* fake-announce: links opened (0: the default) */
    unsigned long addresses; /* fake-announce: links spread over this many --from addresses */
    unsigned long bytes;     /* prefix-drop: bytes of the bundle sent (0: the default) */
    bool real;  /* prefix-drop: the bundle's real bytes, not garbage after its prefix */
    int rcvbuf; /* set by a command: our sockets' SO_RCVBUF (0: the system's) */
};

static struct opts opt = {.hold_s = -1, .seconds = -1, .max_s = 120, .again_s = -1};
static struct sz_link_keys keys; /* the network key and our random node key */

/* --seconds, or the command's default when not given. */
static double
seconds_or(double def)
{
    return opt.seconds >= 0 ? opt.seconds : def;
}

/* serve-evil: a REQUEST_RANGE (or REQUEST_SPARSE) from the fetching peer, not answered yet. */
#define MAX_SPARSE_SUB 128
struct range_req {
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t first, last;                    /* the span its RANGE_DONE names */
    struct sz_msg_range sub[MAX_SPARSE_SUB]; /* REQUEST_SPARSE: its ranges (the first ones) */
    size_t n_sub;                            /* 0: a REQUEST_RANGE */
};
#define MAX_RANGE_REQS 16

/* One TCP connection to the daemon (or, for serve-evil, from a fetching peer). */
struct conn {
    int fd;
    struct sz_link *link; /* NULL: raw bytes only */
    bool open;            /* handshake done */
    bool closed;          /* the daemon closed (EOF or reset) */
    bool reset;
    bool quiet;   /* do not answer PINGs (a frame is half written) */
    int link_err; /* the daemon's bytes failed our link (should never happen) */
    double t_start, t_closed;
    uint8_t *out; /* bytes waiting to be written */
    size_t out_len, out_cap;
    uint64_t bytes_in;
    /* What the daemon sent. */
    uint64_t n_msgs, n_by_type[256];
    uint64_t n_request_ids;
    double t_first_request, t_last_request; /* when REQUESTs came (0: none yet) */
    bool goodbye;
    uint8_t goodbye_reason;
    char goodbye_text[SZ_MSG_MAX_GOODBYE_TEXT_LEN + 1];
    const uint8_t *want_id; /* set: note when the daemon REQUESTs this id */
    bool want_requested;
    double t_want;
    struct range_req ranges[MAX_RANGE_REQS]; /* serve-evil: REQUEST_RANGEs to answer */
    size_t n_ranges;
    uint64_t n_ranges_total;
    uint64_t n_sparse;        /* of them, REQUEST_SPARSE */
    uint32_t range_done_sent; /* the last RANGE_DONE's count */
    bool track;               /* put together the bundles the daemon sends, count them (tracked) */
    uint8_t *rx;              /* a bundle being put together from BUNDLE chunks */
    uint32_t rx_total, rx_got;
    uint8_t *summary; /* the daemon's first SUMMARY (the body) */
    size_t summary_len;
    /* request-part: the one BUNDLE message the answer should be (offset != 0) */
    uint32_t part_offset, part_total;
    const uint8_t *part_data; /* the bytes from part_offset on */
    int part_seen;            /* 0 none yet, 1 as expected, -1 anything else */
};

/* Bundles a command asks the daemon for, and how it answered each (conn.track). */
struct tracked {
    uint8_t id[SZ_BUNDLE_ID_LEN];
    struct sz_bundle_header hdr;
    uint64_t n_got, n_not_found;
};
#define MAX_TRACKED SZ_MSG_MAX_REQUEST
#define MAX_RX_BUNDLE (64u << 20) /* a bundle the daemon sends us: at most its default cap */
static struct tracked tracked[MAX_TRACKED];
static size_t n_tracked;
static uint64_t n_untracked; /* bundles or NOT_FOUNDs received that are none of tracked[] */

/* ---- small helpers ---- */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Prints the verdict and gives the exit status. */
static int
verdict(bool ok, const char *what)
{
    say("%s: %s", ok ? "PASS" : "FAIL", what);
    return ok ? 0 : 1;
}

static void
die_local(const char *what)
{
    fprintf(stderr, "adversary: %s\n", what);
    exit(2);
}

static uint8_t *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    struct stat st;

    if (f == NULL || fstat(fileno(f), &st) != 0 || st.st_size <= 0 ||
        (buf = malloc((size_t)st.st_size)) == NULL ||
        fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        fprintf(stderr, "adversary: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)st.st_size;
    return buf;
}

/* ---- connections ---- */

static void
out_append(struct conn *c, const void *b, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap == 0 ? 65536 : c->out_cap;
        uint8_t *p;
        while (cap < c->out_len + n)
            cap *= 2;
        p = realloc(c->out, cap);
        if (p == NULL)
            die_local("out of memory");
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, b, n);
    c->out_len += n;
}

/* Moves what the link queued (handshake messages, frames) to our output. */
static void
take_link_output(struct conn *c)
{
    size_t n;
    const uint8_t *p = sz_link_output(c->link, &n);

    if (n > 0) {
        out_append(c, p, n);
        sz_link_output_consume(c->link, n);
    }
}

/* Connects to the daemon from opt.from (when set). Returns 0 or -1 (printed). */
static int
conn_connect(struct conn *c, const char *from)
{
    struct sockaddr_in sa;
    int one = 1;

    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        say("socket: %s", strerror(errno));
        return -1;
    }
    /* Before connect(): the receive window is scaled from it in the handshake. */
    if (opt.rcvbuf > 0)
        (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &opt.rcvbuf, sizeof opt.rcvbuf);
    if (from != NULL) {
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        if (inet_pton(AF_INET, from, &sa.sin_addr) != 1)
            die_local("--from takes an IPv4 address");
        if (bind(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            say("bind %s: %s", from, strerror(errno));
            close(c->fd);
            c->fd = -1;
            return -1;
        }
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(opt.port);
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
        die_local("HOST must be an IPv4 address");
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        say("connect %s:%u: %s", opt.host, (unsigned)opt.port, strerror(errno));
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0)
        die_local("fcntl O_NONBLOCK failed");
    c->t_start = now_s();
    return 0;
}

static void
conn_free(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    sz_link_free(c->link);
    c->link = NULL;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    free(c->rx);
    c->rx = NULL;
    free(c->summary);
    c->summary = NULL;
}

static void
mark_closed(struct conn *c, bool reset)
{
    if (!c->closed) {
        c->closed = true;
        c->reset = reset;
        c->t_closed = now_s();
    }
    c->out_len = 0;
}

/* Encodes and queues one message. */
static void
send_msg(struct conn *c, const struct sz_msg *m)
{
    uint8_t *body = NULL;
    size_t len = 0;

    if (sz_msg_encode_alloc(m, &body, &len) != 0 || sz_link_send(c->link, body, len) != 0)
        die_local("cannot encode or seal a message");
    free(body);
    take_link_output(c);
}

static void
send_body(struct conn *c, const uint8_t *body, size_t len)
{
    if (sz_link_send(c->link, body, len) != 0)
        die_local("cannot seal a message");
    take_link_output(c);
}

static struct tracked *
tracked_find(const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    size_t i;

    for (i = 0; i < n_tracked; i++)
        if (memcmp(tracked[i].id, id, SZ_BUNDLE_ID_LEN) == 0)
            return &tracked[i];
    return NULL;
}

/* A whole bundle from the daemon: counted against tracked[] by its id. */
static void
took_bundle(const uint8_t *b, size_t len)
{
    struct sz_bundle_header hdr;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    struct tracked *t = NULL;

    if (sz_bundle_parse(b, len, 0, &hdr, id) == 0)
        t = tracked_find(id);
    if (t != NULL)
        t->n_got++;
    else
        n_untracked++;
}

/* One BUNDLE chunk: put together in c->rx (PROTOCOL.md 4.1), counted when whole. */
static void
took_chunk(struct conn *c, const struct sz_msg *m)
{
    if (c->rx == NULL && m->offset == 0 && m->total > 0 && m->total <= MAX_RX_BUNDLE) {
        c->rx = malloc(m->total);
        if (c->rx == NULL)
            die_local("out of memory");
        c->rx_total = m->total;
        c->rx_got = 0;
    }
    if (c->rx == NULL || m->offset != c->rx_got || m->total != c->rx_total ||
        m->data_len > c->rx_total - c->rx_got) {
        say("the daemon sent BUNDLE chunks out of order (offset %lu of %lu)",
            (unsigned long)m->offset, (unsigned long)m->total);
        c->link_err = -SZ_EBADMSG;
        return;
    }
    memcpy(c->rx + c->rx_got, m->data, m->data_len);
    c->rx_got += (uint32_t)m->data_len;
    if (c->rx_got == c->rx_total) {
        took_bundle(c->rx, c->rx_total);
        free(c->rx);
        c->rx = NULL;
        c->rx_total = c->rx_got = 0;
    }
}

/*
 * One message from the daemon: count it, answer PINGs, note REQUESTs and
 * GOODBYE, keep its first SUMMARY; with c->track, count the bundles and
 * NOT_FOUNDs it sends.
 */
static void
on_message(struct conn *c, const uint8_t *body, size_t len)
{
    struct sz_msg m;
    size_t i;

    c->n_msgs++;
    if (sz_msg_decode(body, len, &m) != 0) {
        say("the daemon sent a message we cannot decode (type 0x%02x, %zu bytes)",
            len > 0 ? body[0] : 0, len);
        c->link_err = -SZ_EBADMSG;
        return;
    }
    c->n_by_type[m.type]++;
    switch (m.type) {
    case SZ_MSG_PING:
        if (!c->quiet) {
            struct sz_msg r;
            memset(&r, 0, sizeof r);
            r.type = SZ_MSG_PONG;
            r.nonce = m.nonce;
            send_msg(c, &r);
        }
        break;
    case SZ_MSG_REQUEST:
        for (i = 0; opt.not_found && i < m.n_entries; i++) {
            struct sz_msg r;
            memset(&r, 0, sizeof r);
            r.type = SZ_MSG_NOT_FOUND;
            memcpy(r.id, sz_msg_request_id(&m, i), SZ_BUNDLE_ID_LEN);
            send_msg(c, &r);
        }
        c->n_request_ids += m.n_entries;
        c->t_last_request = now_s();
        if (c->t_first_request == 0)
            c->t_first_request = c->t_last_request;
        for (i = 0; i < m.n_entries && c->want_id != NULL; i++)
            if (memcmp(sz_msg_request_id(&m, i), c->want_id, SZ_BUNDLE_ID_LEN) == 0 &&
                !c->want_requested) {
                c->want_requested = true;
                c->t_want = now_s();
            }
        break;
    case SZ_MSG_REQUEST_RANGE:
        c->n_ranges_total++;
        if (c->n_ranges < MAX_RANGE_REQS) {
            struct range_req *q = &c->ranges[c->n_ranges++];
            memcpy(q->publisher, m.publisher, SZ_PUBLIC_KEY_LEN);
            q->first = m.first;
            q->last = m.last;
            q->n_sub = 0;
        }
        break;
    case SZ_MSG_REQUEST_SPARSE:
        c->n_ranges_total++;
        c->n_sparse++;
        if (c->n_ranges < MAX_RANGE_REQS) {
            struct range_req *q = &c->ranges[c->n_ranges++];
            struct sz_msg_summary_pub sp;
            memcpy(q->publisher, m.publisher, SZ_PUBLIC_KEY_LEN);
            q->first = m.first;
            q->last = m.last;
            sz_msg_sparse_ranges(&m, &sp);
            for (q->n_sub = 0;
                 q->n_sub < MAX_SPARSE_SUB && sz_msg_summary_range_next(&sp, &q->sub[q->n_sub]);
                 q->n_sub++)
                ;
        }
        break;
    case SZ_MSG_BUNDLE:
        if (c->part_offset != 0) {
            bool as_asked = m.offset == c->part_offset && m.total == c->part_total &&
                            m.data_len == (size_t)(c->part_total - c->part_offset) &&
                            memcmp(m.data, c->part_data, m.data_len) == 0;
            c->part_seen = as_asked ? 1 : -1;
        } else if (c->track) {
            took_chunk(c, &m);
        }
        break;
    case SZ_MSG_BUNDLES:
        if (c->track) {
            struct sz_msg_iter it;
            const uint8_t *b;
            size_t blen;
            sz_msg_bundles_iter(&m, &it);
            while (sz_msg_bundles_next(&it, &b, &blen))
                took_bundle(b, blen);
        }
        break;
    case SZ_MSG_NOT_FOUND:
        if (c->track) {
            struct tracked *t = tracked_find(m.id);
            if (t != NULL)
                t->n_not_found++;
            else
                n_untracked++;
        }
        break;
    case SZ_MSG_RANGE_DONE:
        c->range_done_sent = m.sent;
        break;
    case SZ_MSG_SUMMARY:
        if (c->summary == NULL) {
            c->summary = malloc(len);
            if (c->summary == NULL)
                die_local("out of memory");
            memcpy(c->summary, body, len);
            c->summary_len = len;
        }
        break;
    case SZ_MSG_GOODBYE:
        c->goodbye = true;
        c->goodbye_reason = m.reason;
        snprintf(c->goodbye_text, sizeof c->goodbye_text, "%.*s", (int)m.text_len, m.text);
        break;
    default:
        break;
    }
}

static void
handle_input(struct conn *c, const uint8_t *buf, size_t n)
{
    struct sz_link_event ev;
    int rc;

    c->bytes_in += n;
    if (c->link == NULL || c->link_err != 0)
        return;
    rc = sz_link_input(c->link, buf, n);
    while (rc == 0) {
        rc = sz_link_poll(c->link, (int64_t)time(NULL), &ev);
        if (rc != 0 || ev.type == SZ_LINK_EV_NONE)
            break;
        if (ev.type == SZ_LINK_EV_OPEN)
            c->open = true;
        else if (ev.type == SZ_LINK_EV_MESSAGE)
            on_message(c, ev.body, ev.body_len);
    }
    if (rc != 0 && c->link_err == 0) {
        c->link_err = rc;
        say("the daemon's bytes failed our link: %s", sz_strerror(rc));
    }
    take_link_output(c);
}

typedef bool (*done_cb)(const struct conn *c);

static bool
is_open(const struct conn *c)
{
    return c->open;
}

static bool
out_empty(const struct conn *c)
{
    return c->out_len == 0;
}

static bool
got_hs2(const struct conn *c)
{
    return c->bytes_in >= SZ_HS2_LEN;
}

static bool
want_seen(const struct conn *c)
{
    return c->want_requested;
}

/*
 * What poll() said of c: reads at most max_read bytes (and answers them), and
 * writes what waits. Returns the bytes read.
 */
static size_t
conn_io(struct conn *c, short revents, size_t max_read)
{
    uint8_t buf[READ_CHUNK];
    size_t got = 0;

    if ((revents & (POLLIN | POLLHUP | POLLERR)) && max_read > 0) {
        ssize_t n = read(c->fd, buf, max_read < sizeof buf ? max_read : sizeof buf);
        if (n > 0) {
            handle_input(c, buf, (size_t)n);
            got = (size_t)n;
        } else if (n == 0) {
            mark_closed(c, false);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            mark_closed(c, true);
        }
    }
    if (!c->closed && c->out_len > 0 && (revents & POLLOUT)) {
        ssize_t n = write(c->fd, c->out, c->out_len);
        if (n > 0) {
            memmove(c->out, c->out + n, c->out_len - (size_t)n);
            c->out_len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            mark_closed(c, true);
        }
    }
    return got;
}

/*
 * Reads, answers and writes until done(c) holds, the daemon closes, or
 * timeout_ms passes. Returns 0 (done), 1 (timed out), -1 (closed).
 */
static int
conn_pump(struct conn *c, int timeout_ms, done_cb done)
{
    double deadline = now_s() + timeout_ms / 1000.0;

    for (;;) {
        struct pollfd pfd;
        double left;
        int rc;

        if (done != NULL && done(c))
            return 0;
        if (c->closed)
            return -1;
        left = deadline - now_s();
        if (left <= 0)
            return 1;
        pfd.fd = c->fd;
        pfd.events = POLLIN | (c->out_len > 0 ? POLLOUT : 0);
        pfd.revents = 0;
        rc = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (rc < 0 && errno != EINTR)
            die_local("poll failed");
        if (rc > 0)
            (void)conn_io(c, pfd.revents, SIZE_MAX);
    }
}

/* Writes raw bytes now (a frame piece, noise), outside the output queue. */
static bool
write_raw(struct conn *c, const uint8_t *b, size_t n)
{
    while (n > 0) {
        ssize_t w = write(c->fd, b, n);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd pfd = {c->fd, POLLOUT, 0};
            (void)poll(&pfd, 1, 1000);
            continue;
        }
        if (w <= 0) {
            mark_closed(c, true);
            return false;
        }
        b += w;
        n -= (size_t)w;
    }
    return true;
}

/*
 * Reads raw connections (no link) until every one is closed or the deadline
 * passes, noting when each closed and how many bytes it got.
 */
static void
watch_closes(struct conn *cs, size_t n, double deadline)
{
    struct pollfd *pfd = calloc(n ? n : 1, sizeof *pfd);
    size_t *idx = calloc(n ? n : 1, sizeof *idx);

    if (pfd == NULL || idx == NULL)
        die_local("out of memory");
    while (now_s() < deadline) {
        size_t i, k = 0;
        int rc;
        for (i = 0; i < n; i++) {
            if (cs[i].closed || cs[i].fd < 0)
                continue;
            pfd[k].fd = cs[i].fd;
            pfd[k].events = POLLIN;
            pfd[k].revents = 0;
            idx[k++] = i;
        }
        if (k == 0)
            break;
        rc = poll(pfd, k, 100);
        if (rc <= 0)
            continue;
        for (i = 0; i < k; i++) {
            struct conn *c = &cs[idx[i]];
            uint8_t buf[4096];
            ssize_t r;
            if (pfd[i].revents == 0)
                continue;
            r = read(c->fd, buf, sizeof buf);
            if (r > 0)
                c->bytes_in += (uint64_t)r;
            else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                mark_closed(c, r < 0);
        }
    }
    free(pfd);
    free(idx);
}

/* Sends HELLO (no listening port, relay role). */
static void
send_hello(struct conn *c)
{
    struct sz_msg m;

    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_HELLO;
    m.listen_port = 0;
    m.roles = SZ_ROLE_RELAY;
    send_msg(c, &m);
}

/*
 * Connects and completes the handshake as the initiator, then says HELLO.
 * Returns 0 when the link is open; -1 when the daemon closed or never answered
 * (printed, with *refused set when it closed without sending a byte).
 */
static int
handshake(struct conn *c, const char *from, bool *refused)
{
    double t0;
    int rc;

    if (refused != NULL)
        *refused = false;
    if (conn_connect(c, from) != 0)
        return -1;
    t0 = now_s();
    if (sz_link_new(SZ_LINK_INITIATOR, &keys, (int64_t)time(NULL), &c->link) != 0)
        die_local("sz_link_new failed");
    take_link_output(c);
    rc = conn_pump(c, HANDSHAKE_WAIT_MS, is_open);
    if (rc != 0 || c->link_err != 0) {
        if (refused != NULL)
            *refused = c->closed && c->bytes_in == 0;
        say("handshake from %s: %s after %.0f ms (%llu bytes received)", from ? from : "any",
            rc < 0 ? "the daemon closed the connection" : "no answer", (now_s() - t0) * 1000,
            (unsigned long long)c->bytes_in);
        return -1;
    }
    /* Message 3 is queued: write it before anything else. */
    if (conn_pump(c, HANDSHAKE_WAIT_MS, out_empty) != 0)
        return -1;
    send_hello(c);
    if (conn_pump(c, HANDSHAKE_WAIT_MS, out_empty) != 0)
        return -1;
    say("handshake from %s done in %.0f ms", from ? from : "any", (now_s() - t0) * 1000);
    return 0;
}

static const char *
reason_name(uint8_t r)
{
    static const char *const names[] = {"?",
                                        "shutting down",
                                        "protocol violation",
                                        "invalid bundle",
                                        "too slow",
                                        "too many peers",
                                        "banned",
                                        "idle"};
    return r < sizeof names / sizeof names[0] ? names[r] : "?";
}

/*
 * Waits for the daemon to drop the link. Returns true when it closed within
 * CLOSE_WAIT_MS; prints the GOODBYE it sent, if any. With want_reason (not 0),
 * a GOODBYE with another reason is a failure.
 */
static bool
expect_dropped(struct conn *c, uint8_t want_reason)
{
    double t0 = now_s();
    int rc = conn_pump(c, CLOSE_WAIT_MS, NULL);

    if (rc != -1) {
        say("the daemon did NOT close the connection within %d ms", CLOSE_WAIT_MS);
        return false;
    }
    say("closed_ms: %.0f", (c->t_closed - t0) * 1000);
    if (c->goodbye) {
        say("goodbye: reason %u (%s): \"%s\"", c->goodbye_reason, reason_name(c->goodbye_reason),
            c->goodbye_text);
        if (want_reason != 0 && c->goodbye_reason != want_reason) {
            say("expected GOODBYE reason %u (%s)", want_reason, reason_name(want_reason));
            return false;
        }
    } else {
        say("goodbye: none (the connection was %s)", c->reset ? "reset" : "closed");
    }
    return true;
}

/*
 * After a ban: a new connection from the same address must be refused before
 * the handshake (closed, not a byte sent); with --key-check-from, one from
 * another address with the same node key must be sent GOODBYE 6 (banned)
 * right after the handshake, and nothing else, and closed.
 */
static bool
expect_banned(void)
{
    struct conn c;
    bool refused = false, ok = true;

    sleep_ms(200);
    if (handshake(&c, opt.from, &refused) == 0) {
        say("reconnect from %s: the handshake succeeded: NOT banned", opt.from ? opt.from : "any");
        ok = false;
    } else if (!refused) {
        say("reconnect: neither refused nor answered");
        ok = false;
    } else {
        say("reconnect from %s: refused before the handshake (address banned)",
            opt.from ? opt.from : "any");
    }
    conn_free(&c);
    if (opt.key_check_from != NULL) {
        int rc = handshake(&c, opt.key_check_from, &refused);
        if (rc == 0 || c.open) {
            /*
             * The daemon learns our node key from message 3, then must say
             * GOODBYE 6 (banned), nothing else, and close. Like a node that
             * goes on gossiping before it reads, this sends two PINGs first,
             * well after the daemon's GOODBYE: the daemon's close must still
             * let the GOODBYE be read (a close that resets the link makes
             * the second write fail, and a node closes on that).
             */
            struct sz_msg ping;
            int i;
            memset(&ping, 0, sizeof ping);
            ping.type = SZ_MSG_PING;
            for (i = 0; i < 2 && !c.closed; i++) {
                sleep_ms(300);
                ping.nonce = (uint64_t)i + 1;
                send_msg(&c, &ping);
                (void)conn_io(&c, POLLOUT, 0);
            }
            rc = c.closed ? -1 : conn_pump(&c, 3000, NULL);
            if (rc == -1 && !c.reset && c.n_msgs == 1 && c.goodbye &&
                c.goodbye_reason == SZ_GOODBYE_BANNED) {
                say("reconnect from %s with the same node key: GOODBYE banned (\"%s\") and "
                    "closed after the handshake (node key banned)",
                    opt.key_check_from, c.goodbye_text);
            } else if (c.reset && !c.goodbye) {
                say("reconnect from %s with the same node key: the link was reset before its "
                    "GOODBYE could be read (a node that goes on sending never learns it is "
                    "banned)",
                    opt.key_check_from);
                ok = false;
            } else {
                say("reconnect from %s with the same node key: %llu messages, %s: NOT banned",
                    opt.key_check_from, (unsigned long long)c.n_msgs,
                    rc == -1 ? (c.reset ? "then reset" : "then closed") : "still open");
                ok = false;
            }
        } else if (refused) {
            say("reconnect from %s: refused before the handshake (that address is banned too)",
                opt.key_check_from);
        } else {
            ok = false;
        }
        conn_free(&c);
    }
    return ok;
}

/* Sends one BUNDLE chunk: n bytes of data at offset off of a bundle of total bytes. */
static void
send_chunk(struct conn *c, size_t total, size_t off, const uint8_t *data, size_t n)
{
    struct sz_msg m;

    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_BUNDLE;
    m.total = (uint32_t)total;
    m.offset = (uint32_t)off;
    m.data = data;
    m.data_len = n;
    send_msg(c, &m);
}

/* Sends a whole bundle as BUNDLE chunks (PROTOCOL.md 4.1). */
static void
send_bundle(struct conn *c, const uint8_t *b, size_t len)
{
    size_t off;

    for (off = 0; off < len; off += SZ_MSG_MAX_CHUNK_LEN)
        send_chunk(c, len, off, b + off,
                   len - off < SZ_MSG_MAX_CHUNK_LEN ? len - off : SZ_MSG_MAX_CHUNK_LEN);
}

/* Announces one bundle with its real publisher, sequence, id and size. */
static void
announce_bundle(struct conn *c, const uint8_t *b, size_t len, uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct sz_bundle_header hdr;
    struct sz_msg_announce a;
    uint8_t body[SZ_MSG_MAX_ANNOUNCE_LEN];
    size_t blen = 0;
    char hex[2 * SZ_BUNDLE_ID_LEN + 1];

    if (sz_bundle_parse(b, len, 0, &hdr, id) != 0)
        die_local("not a bundle");
    memcpy(a.publisher, hdr.publisher, SZ_PUBLIC_KEY_LEN);
    a.sequence = hdr.sequence;
    memcpy(a.id, id, SZ_BUNDLE_ID_LEN);
    a.size = (uint32_t)len;
    if (sz_msg_encode_announce(&a, 1, body, sizeof body, &blen) != 0)
        die_local("cannot encode ANNOUNCE");
    send_body(c, body, blen);
    sz_bundle_id_hex(id, hex);
    say("announced %s (sequence %llu, %zu bytes)", hex, (unsigned long long)hdr.sequence, len);
}

/* ---- commands ---- */

/* Writes probe bytes on a raw connection. */
struct probe {
    const char *what;
    struct conn c;
    uint8_t bytes[256];
    size_t len;
};

static bool
probe_send(struct probe *p)
{
    if (conn_connect(&p->c, opt.from) != 0)
        return false;
    return write_raw(&p->c, p->bytes, p->len);
}

/* A first message made with the given network key and clock. */
static void
make_hs1(struct probe *p, const uint8_t *network_key, int64_t when)
{
    struct sz_link_keys k = keys;
    struct sz_link *l = NULL;
    const uint8_t *out;
    size_t n;

    memcpy(k.network_key, network_key, SZ_NETWORK_KEY_LEN);
    if (sz_link_new(SZ_LINK_INITIATOR, &k, when, &l) != 0)
        die_local("sz_link_new failed");
    out = sz_link_output(l, &n);
    if (n != SZ_HS1_LEN)
        die_local("unexpected first message length");
    memcpy(p->bytes, out, n);
    p->len = n;
    sz_link_free(l);
    sodium_memzero(&k, sizeof k);
}

/*
 * probe: connections that do not prove the network key. Noise, a first
 * message made with a wrong network key, one with a clock 700 s behind, the
 * replay of a first message the daemon already answered, noise shorter than a
 * first message, and a first message's worth of noise followed by more bytes
 * 0.5 s later. Each must get no byte at all and be closed with a FIN (no
 * reset) at the handshake deadline: all at the same moment, so that nothing
 * tells a prober where the first message ends (PROTOCOL.md 2).
 */
static int
cmd_probe(void)
{
    struct probe pr[6];
    struct conn first;
    uint8_t wrong[SZ_NETWORK_KEY_LEN];
    size_t i, n = sizeof pr / sizeof pr[0];
    double t0;
    bool ok = true;

    memset(pr, 0, sizeof pr);
    pr[0].what = "random bytes";
    randombytes_buf(pr[0].bytes, sizeof pr[0].bytes);
    pr[0].len = sizeof pr[0].bytes;
    pr[1].what = "message 1 with a wrong network key";
    randombytes_buf(wrong, sizeof wrong);
    make_hs1(&pr[1], wrong, (int64_t)time(NULL));
    pr[2].what = "message 1 with a clock 700 s behind";
    make_hs1(&pr[2], keys.network_key, (int64_t)time(NULL) - 700);
    pr[3].what = "replay of an answered message 1";
    make_hs1(&pr[3], keys.network_key, (int64_t)time(NULL));
    pr[4].what = "noise shorter than message 1";
    randombytes_buf(pr[4].bytes, 20);
    pr[4].len = 20;
    pr[5].what = "message 1's length of noise, then 10 bytes more";
    randombytes_buf(pr[5].bytes, SZ_HS1_LEN);
    pr[5].len = SZ_HS1_LEN;

    /* The replayed message is first sent for real: that one is answered. */
    memset(&first, 0, sizeof first);
    if (conn_connect(&first, opt.from) != 0 || !write_raw(&first, pr[3].bytes, pr[3].len))
        return verdict(false, "cannot connect");
    (void)conn_pump(&first, HANDSHAKE_WAIT_MS, got_hs2);
    say("the genuine message 1 got %llu bytes back (want %d)", (unsigned long long)first.bytes_in,
        SZ_HS2_LEN);
    if (first.bytes_in != SZ_HS2_LEN)
        ok = false;
    conn_free(&first);

    t0 = now_s();
    for (i = 0; i < n; i++)
        if (!probe_send(&pr[i]))
            return verdict(false, "cannot connect");
    {
        uint8_t more[10];
        struct timespec ts = {0, 500000000};
        randombytes_buf(more, sizeof more);
        nanosleep(&ts, NULL);
        if (!write_raw(&pr[5].c, more, sizeof more))
            return verdict(false, "cannot write to probe 6");
    }
    /* No byte may come back; the daemon closes at the handshake deadline (10 s). */
    {
        struct conn cs[sizeof pr / sizeof pr[0]];
        for (i = 0; i < n; i++)
            cs[i] = pr[i].c;
        watch_closes(cs, n, t0 + 14);
        for (i = 0; i < n; i++)
            pr[i].c = cs[i];
    }
    double first_close = 1e9, last_close = 0;
    for (i = 0; i < n; i++) {
        struct conn *c = &pr[i].c;
        double after = c->closed ? c->t_closed - t0 : -1;
        bool good = c->bytes_in == 0 && c->closed && !c->reset && after >= 9 && after <= 12;
        say("probe %zu (%s, %zu bytes): %llu bytes back, %s%.2f s%s", i + 1, pr[i].what, pr[i].len,
            (unsigned long long)c->bytes_in, c->closed ? "closed after " : "still open after ",
            c->closed ? after : now_s() - t0, c->reset ? " (reset)" : "");
        if (!good)
            ok = false;
        if (c->closed) {
            first_close = after < first_close ? after : first_close;
            last_close = after > last_close ? after : last_close;
        }
        conn_free(c);
    }
    say("probes: %zu, closed between %.2f and %.2f s", n, first_close, last_close);
    if (last_close - first_close > 1.0)
        ok = false;
    return verdict(ok, "probes got no byte back and were closed alike (FIN) at the handshake "
                       "deadline");
}

/* garbage: the handshake, then noise where a frame should be. */
static int
cmd_garbage(void)
{
    struct conn c;
    uint8_t noise[4096];
    bool ok;

    if (handshake(&c, opt.from, NULL) != 0)
        return verdict(false, "handshake failed");
    randombytes_buf(noise, sizeof noise);
    out_append(&c, noise, sizeof noise);
    say("sent %zu random bytes", sizeof noise);
    ok = expect_dropped(&c, SZ_GOODBYE_PROTOCOL);
    conn_free(&c);
    ok = ok && expect_banned();
    return verdict(ok, "noise after the handshake: dropped and banned");
}

/* oversize [LEN]: a frame whose sealed length is out of range. */
static int
cmd_oversize(const char *arg)
{
    struct conn c;
    uint8_t body[16], frame[SZ_FRAME_OVERHEAD + sizeof body];
    unsigned long long v = arg != NULL ? strtoull(arg, NULL, 0) : SZ_MAX_FRAME_LEN + 1ull;
    uint32_t len_field = (uint32_t)v;
    bool ok;

    if (v > UINT32_MAX)
        die_local("LEN must fit in 32 bits");
    if (handshake(&c, opt.from, NULL) != 0)
        return verdict(false, "handshake failed");
    randombytes_buf(body, sizeof body);
    if (sz_link_test_seal_raw(c.link, len_field, body, sizeof body, frame) != 0)
        die_local("sz_link_test_seal_raw failed");
    out_append(&c, frame, sizeof frame);
    say("sent a frame whose sealed length says %lu (limit %u)", (unsigned long)len_field,
        SZ_MAX_FRAME_LEN);
    ok = expect_dropped(&c, SZ_GOODBYE_PROTOCOL);
    conn_free(&c);
    ok = ok && expect_banned();
    return verdict(ok, "out-of-range frame length: dropped and banned");
}

/* truncated: half a frame, then close. Not misbehaviour: a later link must work. */
static int
cmd_truncated(void)
{
    struct conn c, again;
    uint8_t body[64];
    const uint8_t *frame;
    size_t n;
    bool ok = true;

    if (handshake(&c, opt.from, NULL) != 0)
        return verdict(false, "handshake failed");
    memset(body, 0, sizeof body);
    body[0] = SZ_MSG_PING; /* a PING with trailing bytes: never complete anyway */
    if (sz_link_send(c.link, body, 9) != 0)
        die_local("cannot seal");
    frame = sz_link_output(c.link, &n);
    if (!write_raw(&c, frame, n / 2))
        return verdict(false, "the daemon closed before the half frame was written");
    say("sent %zu of the %zu bytes of a frame, then closed", n / 2, n);
    sleep_ms(300);
    conn_free(&c);
    sleep_ms(500);
    if (handshake(&again, opt.from, NULL) != 0) {
        say("a new link from the same address failed: a truncated frame got us banned?");
        ok = false;
    } else {
        (void)conn_pump(&again, 1000, NULL);
        if (again.closed) {
            say("the new link was closed by the daemon");
            ok = false;
        } else {
            say("a new link from the same address works (%llu messages received)",
                (unsigned long long)again.n_msgs);
        }
    }
    conn_free(&again);
    return verdict(ok, "half a frame then close: the daemon took it as a plain close");
}

/*
 * bad-signature BUNDLE [--hang-up]: announce, wait for REQUEST, send it with a
 * flipped signature byte. With --hang-up, flip its last byte instead (the
 * check fails only after the whole payload is hashed) and close the link as
 * soon as it is written, before the daemon can have checked it: the ban must
 * not depend on the link still being open when the check ends.
 */
static int
cmd_bad_signature(const char *path)
{
    struct conn c;
    size_t len;
    uint8_t *b = read_file(path, &len);
    uint8_t id[SZ_BUNDLE_ID_LEN], id2[SZ_BUNDLE_ID_LEN];
    struct sz_bundle_header hdr;
    bool ok;

    if (len <= SZ_BUNDLE_PREFIX_LEN)
        die_local("not a bundle");
    if (handshake(&c, opt.from, NULL) != 0)
        return verdict(false, "handshake failed");
    announce_bundle(&c, b, len, id);
    c.want_id = id;
    if (conn_pump(&c, request_wait_ms, want_seen) != 0) {
        say("the daemon did not REQUEST the announced bundle within %d ms", request_wait_ms);
        return verdict(false, "no REQUEST");
    }
    say("request_ms: %.0f", (c.t_want - c.t_start) * 1000);
    if (opt.hang_up)
        b[len - 1] ^= 0x01;
    else
        b[SZ_BUNDLE_HEADER_LEN + 7] ^= 0x01;
    if (sz_bundle_parse(b, len, 0, &hdr, id2) != 0 || memcmp(id, id2, sizeof id) != 0)
        die_local("flipping a byte changed the id");
    if (sz_bundle_verify(b, len, 0, &hdr, id2) == 0)
        die_local("the altered bundle still verifies");
    send_bundle(&c, b, len);
    free(b);
    if (opt.hang_up) {
        if (!write_raw(&c, c.out, c.out_len))
            say("the daemon closed before the whole bundle was written");
        c.out_len = 0;
        /*
         * The end of the stream right after the last byte. What the daemon
         * sent is read to its end before the close: a close with unread bytes
         * would reset the connection, and the daemon could lose the bundle's
         * last bytes, not merely see the link end.
         */
        (void)shutdown(c.fd, SHUT_WR);
        say("sent the bundle with its last byte flipped (same id), then ended the stream");
        for (double end = now_s() + 5; now_s() < end;) {
            uint8_t junk[4096];
            struct pollfd pfd = {c.fd, POLLIN, 0};
            if (poll(&pfd, 1, 100) <= 0)
                continue;
            if (read(c.fd, junk, sizeof junk) <= 0)
                break;
        }
        conn_free(&c);
        sleep_ms(300);
        ok = expect_banned();
        return verdict(ok, "a requested bad bundle, then a hang-up: banned all the same");
    }
    say("sent the bundle with signature byte %d flipped (same id)", 7);
    ok = expect_dropped(&c, SZ_GOODBYE_INVALID_BUNDLE);
    conn_free(&c);
    ok = ok && expect_banned();
    return verdict(ok, "a requested bundle with a bad signature: dropped and banned");
}

/*
 * push-unwanted BUNDLE [--bait BAIT]: send a valid bundle nobody asked for.
 * With --bait, announce BAIT first and answer its REQUEST with BUNDLE instead
 * (for a publisher outside the daemon's carry list, or any other bundle).
 */
static int
cmd_push_unwanted(const char *path)
{
    struct conn c;
    size_t len, bait_len = 0;
    uint8_t *b = read_file(path, &len), *bait = NULL;
    uint8_t id[SZ_BUNDLE_ID_LEN], bait_id[SZ_BUNDLE_ID_LEN];
    struct sz_bundle_header hdr;
    char hex[2 * SZ_BUNDLE_ID_LEN + 1];
    bool ok;

    if (sz_bundle_parse(b, len, 0, &hdr, id) != 0)
        die_local("not a bundle");
    if (opt.bait != NULL)
        bait = read_file(opt.bait, &bait_len);
    if (handshake(&c, opt.from, NULL) != 0)
        return verdict(false, "handshake failed");
    if (bait != NULL) {
        announce_bundle(&c, bait, bait_len, bait_id);
        c.want_id = bait_id;
        if (conn_pump(&c, request_wait_ms, want_seen) != 0)
            return verdict(false, "the daemon did not REQUEST the bait");
        say("the daemon requested the bait after %.0f ms", (c.t_want - c.t_start) * 1000);
    }
    sz_bundle_id_hex(id, hex);
    send_bundle(&c, b, len);
    say("pushed bundle %s (%zu bytes)%s", hex, len,
        bait != NULL ? " in answer to the bait's REQUEST" : " unasked");
    ok = expect_dropped(&c, 0);
    if (ok && c.goodbye && c.goodbye_reason != SZ_GOODBYE_PROTOCOL &&
        c.goodbye_reason != SZ_GOODBYE_INVALID_BUNDLE) {
        say("unexpected GOODBYE reason");
        ok = false;
    }
    conn_free(&c);
    free(b);
    free(bait);
    ok = ok && expect_banned();
    return verdict(ok, "an unwanted bundle: dropped and banned");
}

/* flood N: N announcements of random ids, 256 per ANNOUNCE; requests are dropped. */
static int
cmd_flood(const char *arg)
{
    struct conn c;
    unsigned long total = arg != NULL ? strtoul(arg, NULL, 0) : 100000;
    unsigned long sent = 0, n_msgs = 0, end = 0;
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    struct sz_msg_announce *e = calloc(SZ_MSG_MAX_ANNOUNCE, sizeof *e);
    uint8_t *body = malloc(SZ_MSG_MAX_ANNOUNCE_LEN);
    double t0, t_round, t_sent, elapsed, hold = opt.hold_s >= 0 ? opt.hold_s : 5;
    int round, rounds = opt.again_s >= 0 ? 2 : 1;
    uint64_t bound;
    bool ok;

    if (e == NULL || body == NULL)
        die_local("out of memory");
    if (total == 0)
        die_local("N must be at least 1");
    if (handshake(&c, opt.from, NULL) != 0)
        return verdict(false, "handshake failed");
    randombytes_buf(publisher, sizeof publisher);
    t0 = now_s();
    for (round = 0; round < rounds && !c.closed; round++) {
        if (round > 0) {
            /* --again: the same again on this link, once the daemon's rate window has passed. */
            (void)conn_pump(&c, (int)(opt.again_s * 1000), NULL);
            say("again: %lu more after %.1f s", total, now_s() - t0);
        }
        end += total;
        t_round = now_s();
        while (sent < end && !c.closed && now_s() - t_round < 60) {
            if (c.out_len < FLOOD_OUT_LOW) {
                size_t n = end - sent < SZ_MSG_MAX_ANNOUNCE ? end - sent : SZ_MSG_MAX_ANNOUNCE;
                size_t i, blen = 0;
                for (i = 0; i < n; i++) {
                    memcpy(e[i].publisher, publisher, SZ_PUBLIC_KEY_LEN);
                    e[i].sequence = sent + i + 1;
                    randombytes_buf(e[i].id, SZ_BUNDLE_ID_LEN);
                    e[i].size = 1000;
                }
                if (sz_msg_encode_announce(e, n, body, SZ_MSG_MAX_ANNOUNCE_LEN, &blen) != 0)
                    die_local("cannot encode ANNOUNCE");
                send_body(&c, body, blen);
                sent += n;
                n_msgs++;
            }
            (void)conn_pump(&c, c.out_len < FLOOD_OUT_LOW ? 0 : 100, NULL);
        }
        (void)conn_pump(&c, 30000, out_empty);
    }
    t_sent = now_s();
    say("announced: %lu ids in %lu ANNOUNCE messages in %.1f s", sent, n_msgs, t_sent - t0);
    /* Keep the link and keep reading (answering PINGs) for the hold time. */
    (void)conn_pump(&c, (int)(hold * 1000), NULL);
    elapsed = now_s() - t0;
    say("requests: %llu ids in %llu REQUEST messages", (unsigned long long)c.n_request_ids,
        (unsigned long long)c.n_by_type[SZ_MSG_REQUEST]);
    say("connection: %s after %.1f s", c.closed ? "dropped by the daemon" : "still open", elapsed);
    if (c.goodbye)
        say("goodbye: reason %u (%s): \"%s\"", c.goodbye_reason, reason_name(c.goodbye_reason),
            c.goodbye_text);
    /* Unanswered requests are re-sent after 30 s: allow one more batch per 30 s. */
    bound = SPEC_MAX_REQUESTED * (1 + (uint64_t)(elapsed / SPEC_REQUEST_TIMEOUT_S));
    /* Answered NOT_FOUND, ids are asked as fast as they are refused, until 64
     * refusals in 10 s have the daemon ignore this peer (16 may be out then). */
    if (opt.not_found)
        bound += 64 + SPEC_MAX_REQUESTED;
    ok = c.link_err == 0 && (c.closed || c.n_request_ids <= bound);
    if (!c.closed)
        say("request bound: %llu (16 outstanding per peer, re-sent after 30 s)",
            (unsigned long long)bound);
    conn_free(&c);
    free(e);
    free(body);
    return verdict(ok, "announcement flood: requests stayed bounded or the link was dropped");
}

/*
 * slow: the handshake, then one byte a second of a frame for --seconds. With
 * --handshake, the first handshake message itself is trickled: the daemon
 * must give up after 10 s (PROTOCOL.md 2, "Timeouts").
 */
static int
cmd_slow(void)
{
    struct conn c;
    uint8_t *frame = NULL;
    size_t n, i = 0;
    double t0, closed_after;
    bool ok = true;

    if (opt.slow_handshake) {
        struct probe p;
        memset(&p, 0, sizeof p);
        make_hs1(&p, keys.network_key, (int64_t)time(NULL));
        if (conn_connect(&c, opt.from) != 0)
            return verdict(false, "cannot connect");
        frame = malloc(p.len);
        if (frame == NULL)
            die_local("out of memory");
        memcpy(frame, p.bytes, p.len);
        n = p.len;
    } else {
        uint8_t *body = calloc(1, SZ_MSG_MAX_ANNOUNCE_LEN);
        const uint8_t *out;
        if (body == NULL)
            die_local("out of memory");
        if (handshake(&c, opt.from, NULL) != 0) {
            free(body);
            return verdict(false, "handshake failed");
        }
        /* A large valid frame (an ANNOUNCE of 256 entries), of which only a few bytes go. */
        {
            struct sz_msg_announce *e = calloc(SZ_MSG_MAX_ANNOUNCE, sizeof *e);
            size_t k, blen = 0;
            if (e == NULL)
                die_local("out of memory");
            for (k = 0; k < SZ_MSG_MAX_ANNOUNCE; k++) {
                randombytes_buf(e[k].publisher, SZ_PUBLIC_KEY_LEN);
                randombytes_buf(e[k].id, SZ_BUNDLE_ID_LEN);
                e[k].sequence = 1;
                e[k].size = 1000;
            }
            if (sz_msg_encode_announce(e, SZ_MSG_MAX_ANNOUNCE, body, SZ_MSG_MAX_ANNOUNCE_LEN,
                                       &blen) != 0 ||
                sz_link_send(c.link, body, blen) != 0)
                die_local("cannot seal");
            free(e);
        }
        out = sz_link_output(c.link, &n);
        frame = malloc(n);
        if (frame == NULL)
            die_local("out of memory");
        memcpy(frame, out, n);
        sz_link_output_consume(c.link, n);
        free(body);
        c.quiet = true; /* a PONG now would land inside our frame */
    }
    t0 = now_s();
    while (i < n && now_s() - t0 < seconds_or(20) && !c.closed) {
        if (!write_raw(&c, frame + i, 1))
            break;
        i++;
        (void)conn_pump(&c, 1000, NULL);
    }
    closed_after = c.closed ? c.t_closed - t0 : now_s() - t0;
    say("trickled: %zu of %zu bytes, one a second", i, n);
    say("connection: %s after %.1f s", c.closed ? "closed by the daemon" : "still open",
        closed_after);
    if (opt.slow_handshake) {
        /* Abandoned at 10 s; allow for the daemon's timer granularity. */
        if (seconds_or(20) >= 12 && !(c.closed && closed_after >= 9 && closed_after <= 12.5)) {
            say("expected the daemon to abandon the handshake after 10 s");
            ok = false;
        }
        if (c.bytes_in > 0) {
            say("the daemon answered an incomplete message 1 (%llu bytes)",
                (unsigned long long)c.bytes_in);
            ok = false;
        }
    } else {
        /* PROTOCOL.md sets no deadline for a frame that keeps arriving: either is allowed. */
        if (c.goodbye)
            say("goodbye: reason %u (%s)", c.goodbye_reason, reason_name(c.goodbye_reason));
        ok = c.link_err == 0;
    }
    free(frame);
    conn_free(&c);
    return verdict(ok, opt.slow_handshake ? "slow handshake: abandoned after 10 s"
                                          : "slow frame: the daemon coped");
}

/* idle-connections N: N connections that never start the handshake. */
static int
cmd_idle(const char *arg)
{
    unsigned long n = arg != NULL ? strtoul(arg, NULL, 0) : 100, i;
    double hold = opt.hold_s >= 0 ? opt.hold_s : 13, t0;
    struct conn *cs = calloc(n ? n : 1, sizeof *cs);
    unsigned long n_conn = 0, n_fail = 0, early = 0, at_timeout = 0, other = 0, open_left = 0;
    uint64_t bytes = 0;
    bool ok;

    if (cs == NULL)
        die_local("out of memory");
    t0 = now_s();
    for (i = 0; i < n; i++) {
        if (conn_connect(&cs[i], opt.from) != 0) {
            cs[i].fd = -1;
            cs[i].closed = true;
            n_fail++;
            continue;
        }
        n_conn++;
    }
    say("opened: %lu connections in %.1f s (%lu failed)", n_conn, now_s() - t0, n_fail);
    watch_closes(cs, n, t0 + hold);
    for (i = 0; i < n; i++) {
        double after = cs[i].t_closed - cs[i].t_start;
        bytes += cs[i].bytes_in;
        if (cs[i].fd < 0)
            continue;
        if (!cs[i].closed)
            open_left++;
        else if (after < 2)
            early++;
        else if (after >= 9 && after <= 12.5)
            at_timeout++;
        else
            other++;
        conn_free(&cs[i]);
    }
    say("closed_early: %lu (refused at once: above the inbound limit)", early);
    say("closed_at_handshake_timeout: %lu (after 9-12.5 s)", at_timeout);
    say("closed_other: %lu", other);
    say("still_open: %lu after %.1f s", open_left, now_s() - t0);
    say("bytes_back: %llu", (unsigned long long)bytes);
    ok = bytes == 0 && (hold < 12.5 || open_left == 0);
    free(cs);
    return verdict(ok, "idle connections: no byte sent to them, all closed by the handshake "
                       "timeout");
}

/*
 * hold-links N: N links, each with a node key of its own, kept open for
 * --hold seconds (30), answering PINGs (so never idle): one address trying to
 * take every inbound slot. Says how many the daemon closed, and why.
 */
static int
cmd_hold_links(const char *arg)
{
    unsigned long n = arg != NULL ? strtoul(arg, NULL, 0) : 64, i, n_open = 0, left = 0;
    unsigned long too_many = 0, other = 0;
    double hold = opt.hold_s >= 0 ? opt.hold_s : 30, t0;
    struct conn *cs = calloc(n ? n : 1, sizeof *cs);
    struct pollfd *pfd = calloc(n ? n : 1, sizeof *pfd);

    if (cs == NULL || pfd == NULL)
        die_local("out of memory");
    for (i = 0; i < n; i++) {
        randombytes_buf(keys.node_sk, SZ_NODE_KEY_LEN);
        crypto_scalarmult_base(keys.node_pk, keys.node_sk);
        if (handshake(&cs[i], opt.from, NULL) == 0) {
            n_open++;
        } else {
            conn_free(&cs[i]);
            cs[i].fd = -1;
            cs[i].closed = true;
        }
    }
    say("links_open: %lu of %lu", n_open, n);
    t0 = now_s();
    while (now_s() - t0 < hold) {
        for (i = 0; i < n; i++) {
            pfd[i].fd = cs[i].closed ? -1 : cs[i].fd;
            pfd[i].events = (short)(POLLIN | (cs[i].out_len > 0 ? POLLOUT : 0));
            pfd[i].revents = 0;
        }
        if (poll(pfd, n, 200) <= 0)
            continue;
        for (i = 0; i < n; i++)
            if (pfd[i].revents != 0 && !cs[i].closed)
                (void)conn_io(&cs[i], pfd[i].revents, SIZE_MAX);
    }
    for (i = 0; i < n; i++) {
        if (cs[i].fd < 0)
            continue;
        if (!cs[i].closed)
            left++;
        else if (cs[i].goodbye && cs[i].goodbye_reason == SZ_GOODBYE_TOO_MANY_PEERS)
            too_many++;
        else
            other++;
        conn_free(&cs[i]);
    }
    say("closed_too_many_peers: %lu", too_many);
    say("closed_other: %lu", other);
    say("still_open: %lu after %.1f s", left, now_s() - t0);
    free(cs);
    free(pfd);
    return verdict(n_open > 0, "links held");
}

/*
 * peers-inject PORT [N]: a link (this node was not asked) that sends PEERS
 * naming 127.0.0.1:PORT .. PORT + N - 1 (N at most 32, default 8), then stays
 * --hold seconds (5): a daemon that takes them connects there.
 */
static int
cmd_peers_inject(const char *port_arg, const char *n_arg)
{
    unsigned long port = port_arg != NULL ? strtoul(port_arg, NULL, 0) : 0;
    unsigned long n = n_arg != NULL ? strtoul(n_arg, NULL, 0) : 8, i;
    struct sz_msg_peer addrs[SZ_MSG_MAX_PEERS];
    uint8_t out[SZ_MSG_MAX_PEERS_LEN];
    size_t len = 0;
    struct conn c;

    if (port == 0 || port + n > 65536 || n == 0 || n > SZ_MSG_MAX_PEERS)
        die_local("peers-inject takes PORT and at most 32 addresses");
    if (handshake(&c, opt.from, NULL) != 0)
        return verdict(false, "handshake failed");
    memset(addrs, 0, sizeof addrs);
    for (i = 0; i < n; i++) {
        addrs[i].family = SZ_FAMILY_IPV4;
        addrs[i].addr[0] = 127;
        addrs[i].addr[3] = 1;
        addrs[i].port = (uint16_t)(port + i);
    }
    if (sz_msg_encode_peers(addrs, n, out, sizeof out, &len) != 0)
        die_local("cannot encode PEERS");
    send_body(&c, out, len);
    say("sent PEERS: 127.0.0.1:%lu-%lu", port, port + n - 1);
    (void)conn_pump(&c, (int)((opt.hold_s >= 0 ? opt.hold_s : 5) * 1000), NULL);
    say("connection: %s", c.closed ? "dropped by the daemon" : "still open");
    conn_free(&c);
    return verdict(true, "PEERS sent unasked");
}

/* ---- answers the daemon owes: bundles sharing a sequence, big answers, repeats ---- */

/* Reads bundle files into tracked[] (their ids and headers). */
static void
track_bundles(const char *const *paths, size_t n)
{
    size_t i;

    if (n == 0 || n > MAX_TRACKED)
        die_local("give 1 to 64 bundle files");
    for (i = 0; i < n; i++) {
        size_t len;
        uint8_t *b = read_file(paths[i], &len);
        struct tracked *t = &tracked[n_tracked];
        memset(t, 0, sizeof *t);
        if (sz_bundle_parse(b, len, 0, &t->hdr, t->id) != 0)
            die_local("not a bundle");
        if (tracked_find(t->id) != NULL)
            die_local("the same bundle given twice");
        n_tracked++;
        free(b);
    }
}

static bool
got_summary(const struct conn *c)
{
    return c->summary != NULL;
}

static bool
range_asked(const struct conn *c)
{
    return c->n_ranges_total > 0;
}

static bool
out_below_low(const struct conn *c)
{
    return c->out_len < FLOOD_OUT_LOW;
}

/*
 * dup-announce BUNDLE: one ANNOUNCE listing the bundle twice, then a close as
 * soon as the daemon REQUESTs it. A new link from the same address then stays
 * silent for --hold seconds (default 7: a 5 s tick of the daemon passes, which
 * retries waiting fetches): the daemon must stay up and must not REQUEST the
 * id there, as nobody announced it on that link (a request there means the
 * closed peer stayed a fetch candidate, and its memory went to the new one).
 * Then the new link announces the bundle once: the daemon must REQUEST it, and
 * keep the link when it comes.
 */
static int
cmd_dup_announce(const char *path)
{
    struct conn c;
    size_t len, blen = 0;
    uint8_t *b = read_file(path, &len);
    uint8_t id[SZ_BUNDLE_ID_LEN], id2[SZ_BUNDLE_ID_LEN], body[SZ_MSG_MAX_ANNOUNCE_LEN];
    struct sz_msg_announce a[2];
    struct sz_bundle_header hdr;
    char hex[2 * SZ_BUNDLE_ID_LEN + 1];
    double hold = opt.hold_s >= 0 ? opt.hold_s : 7, t0;
    bool ok = true;

    if (sz_bundle_parse(b, len, 0, &hdr, id) != 0)
        die_local("not a bundle");
    sz_bundle_id_hex(id, hex);
    if (handshake(&c, opt.from, NULL) != 0) {
        conn_free(&c);
        free(b);
        return verdict(false, "handshake failed");
    }
    memcpy(a[0].publisher, hdr.publisher, SZ_PUBLIC_KEY_LEN);
    a[0].sequence = hdr.sequence;
    memcpy(a[0].id, id, SZ_BUNDLE_ID_LEN);
    a[0].size = (uint32_t)len;
    a[1] = a[0];
    if (sz_msg_encode_announce(a, 2, body, sizeof body, &blen) != 0)
        die_local("cannot encode ANNOUNCE");
    send_body(&c, body, blen);
    say("announced %s twice in one ANNOUNCE (sequence %llu, %zu bytes)", hex,
        (unsigned long long)hdr.sequence, len);
    c.want_id = id;
    if (conn_pump(&c, request_wait_ms, want_seen) != 0) {
        conn_free(&c);
        free(b);
        return verdict(false, "the daemon did not REQUEST the announced bundle");
    }
    say("request_ms: %.0f", (c.t_want - c.t_start) * 1000);
    conn_free(&c);
    say("closed the link at once, the REQUEST unanswered");
    sleep_ms(300); /* the daemon frees the closed peer meanwhile */

    if (handshake(&c, opt.from, NULL) != 0) {
        conn_free(&c);
        free(b);
        return verdict(false, "a new link after the close failed (did the daemon fall over?)");
    }
    c.want_id = id;
    t0 = now_s();
    (void)conn_pump(&c, (int)(hold * 1000), NULL);
    if (c.closed) {
        say("the daemon closed the new link after %.1f s", c.t_closed - t0);
        ok = false;
    } else if (c.want_requested) {
        say("the daemon REQUESTed %s on the new link after %.1f s, though nobody announced it "
            "there (the closed peer kept as a fetch candidate?)",
            hex, c.t_want - t0);
        ok = false;
    } else {
        say("silent_s: %.1f (no REQUEST of it on the new link meanwhile)", now_s() - t0);
    }
    if (ok) {
        t0 = now_s();
        announce_bundle(&c, b, len, id2);
        if (conn_pump(&c, request_wait_ms, want_seen) != 0) {
            say("the daemon did not REQUEST it from the new link within %d ms", request_wait_ms);
            ok = false;
        } else {
            say("refetch_request_ms: %.0f", (c.t_want - t0) * 1000);
            send_bundle(&c, b, len);
            (void)conn_pump(&c, 2000, NULL);
            if (c.closed) {
                say("the daemon dropped the link after the bundle it asked for");
                ok = false;
            } else {
                say("sent the bundle; the link stays open");
            }
        }
    }
    conn_free(&c);
    free(b);
    return verdict(ok, "an id announced twice, its announcer gone: the daemon stayed up and "
                       "fetched it from the next peer that announced it");
}

static bool
range_done_or_repeating(const struct conn *c)
{
    size_t i;

    if (c->n_by_type[SZ_MSG_RANGE_DONE] > 0)
        return true;
    for (i = 0; i < n_tracked; i++)
        if (tracked[i].n_got >= 10) /* served again and again: no need to wait for more */
            return true;
    return false;
}

/*
 * request-range BUNDLE...: one REQUEST_RANGE over the sequences of the given
 * bundles (one publisher; the daemon holds them all, e.g. two sharing a
 * sequence). Each must come exactly once, then RANGE_DONE (PROTOCOL.md 4.3),
 * within --hold seconds (default 10).
 */
/*
 * The sequences [*first, *last] of the tracked bundles, which must share one
 * publisher and fit one REQUEST_RANGE; dies naming cmd otherwise.
 */
static void
tracked_range(const char *cmd, uint64_t *first, uint64_t *last)
{
    char why[128];

    *first = UINT64_MAX;
    *last = 0;
    for (size_t i = 0; i < n_tracked; i++) {
        if (memcmp(tracked[i].hdr.publisher, tracked[0].hdr.publisher, SZ_PUBLIC_KEY_LEN) != 0) {
            snprintf(why, sizeof why, "%s: the bundles must have one publisher", cmd);
            die_local(why);
        }
        if (tracked[i].hdr.sequence < *first)
            *first = tracked[i].hdr.sequence;
        if (tracked[i].hdr.sequence > *last)
            *last = tracked[i].hdr.sequence;
    }
    if (*last - *first >= SZ_MSG_MAX_RANGE_SPAN) {
        snprintf(why, sizeof why, "%s: the sequences span too much for one REQUEST_RANGE", cmd);
        die_local(why);
    }
}

/*
 * Waits up to hold seconds for the answer to a range asked on c (and 0.5 s
 * more for anything sent after its RANGE_DONE), says what came, and returns
 * whether the link stayed up, one RANGE_DONE came and each tracked bundle
 * came exactly once.
 */
static bool
range_answer(struct conn *c, double hold)
{
    double t0 = now_s();
    bool ok;

    if (conn_pump(c, (int)(hold * 1000), range_done_or_repeating) == 0 &&
        c->n_by_type[SZ_MSG_RANGE_DONE] > 0)
        (void)conn_pump(c, 500, NULL); /* anything sent after RANGE_DONE would show now */
    ok = c->link_err == 0 && !c->closed && c->n_by_type[SZ_MSG_RANGE_DONE] == 1;
    for (size_t i = 0; i < n_tracked; i++) {
        say("bundle %zu (sequence %llu): received %llu times", i + 1,
            (unsigned long long)tracked[i].hdr.sequence, (unsigned long long)tracked[i].n_got);
        if (tracked[i].n_got != 1)
            ok = false;
    }
    say("other_bundles: %llu", (unsigned long long)n_untracked);
    say("range_done: %llu (sent %lu) after %.1f s",
        (unsigned long long)c->n_by_type[SZ_MSG_RANGE_DONE], (unsigned long)c->range_done_sent,
        now_s() - t0);
    return ok;
}

static int
cmd_request_range(const char *const *paths, size_t n)
{
    struct conn c;
    struct sz_msg m;
    double hold = opt.hold_s >= 0 ? opt.hold_s : 10;
    uint64_t first = UINT64_MAX, last = 0;
    bool ok;

    track_bundles(paths, n);
    tracked_range("request-range", &first, &last);
    if (handshake(&c, opt.from, NULL) != 0) {
        conn_free(&c);
        return verdict(false, "handshake failed");
    }
    c.track = true;
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_REQUEST_RANGE;
    memcpy(m.publisher, tracked[0].hdr.publisher, SZ_PUBLIC_KEY_LEN);
    m.first = first;
    m.last = last;
    send_msg(&c, &m);
    say("asked for sequences %llu-%llu (%zu bundles)", (unsigned long long)first,
        (unsigned long long)last, n_tracked);
    ok = range_answer(&c, hold);
    say("bytes_in: %llu", (unsigned long long)c.bytes_in);
    if (c.closed)
        say("the daemon closed the link");
    conn_free(&c);
    return verdict(ok, "a range of bundles sharing a sequence: each sent once, then RANGE_DONE");
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * request-sparse BUNDLE...: with the sparse feature (PROTOCOL.md 4.3.2), one
 * REQUEST_SPARSE naming only the sequences of the given bundles (one
 * publisher; the daemon holds others between them). Each must come once and
 * nothing else, then one RANGE_DONE naming the span and the bundles sent,
 * within --hold seconds (default 10). Then, on a link without the feature,
 * the same message must close the link (a protocol violation).
 */
static int
cmd_request_sparse(const char *const *paths, size_t n)
{
    static uint8_t body[SZ_MSG_MAX_REQUEST_SPARSE_LEN];
    struct sz_msg_range v[MAX_TRACKED];
    uint64_t seq[MAX_TRACKED] = {0}, first, last;
    double hold = opt.hold_s >= 0 ? opt.hold_s : 10, t0;
    size_t i, nv = 0, blen = 0;
    struct conn c;
    bool served, closed;

    track_bundles(paths, n);
    tracked_range("request-sparse", &first, &last);
    for (i = 0; i < n_tracked; i++)
        seq[i] = tracked[i].hdr.sequence;
    qsort(seq, n_tracked, sizeof seq[0], cmp_u64);
    for (i = 0; i < n_tracked; i++) {
        if (nv > 0 && seq[i] <= v[nv - 1].last + 1) {
            v[nv - 1].last = seq[i];
            continue;
        }
        v[nv].first = v[nv].last = seq[i];
        nv++;
    }
    if (sz_msg_encode_request_sparse(tracked[0].hdr.publisher, v, nv, body, sizeof body, &blen) !=
        0)
        die_local("cannot encode REQUEST_SPARSE");

    keys.features |= SZ_FEATURE_SPARSE;
    if (handshake(&c, opt.from, NULL) != 0 || (sz_link_features(c.link) & SZ_FEATURE_SPARSE) == 0) {
        bool open = c.open;
        conn_free(&c);
        return verdict(false, open ? "the daemon did not agree to the sparse feature"
                                   : "handshake failed");
    }
    c.track = true;
    send_body(&c, body, blen);
    say("asked for %zu ranges within sequences %llu-%llu (%zu bundles)", nv,
        (unsigned long long)first, (unsigned long long)last, n_tracked);
    served = range_answer(&c, hold) && c.range_done_sent == n_tracked && n_untracked == 0;
    conn_free(&c);

    keys.features &= ~SZ_FEATURE_SPARSE;
    if (handshake(&c, opt.from, NULL) != 0) {
        conn_free(&c);
        return verdict(false, "the second handshake failed");
    }
    send_body(&c, body, blen);
    t0 = now_s();
    while (now_s() - t0 < 10 && !c.closed && conn_pump(&c, 200, NULL) == 1)
        ;
    closed = c.closed;
    say("REQUEST_SPARSE without the feature: %s", closed ? "link closed" : "link still open");
    conn_free(&c);
    return verdict(served && closed, "REQUEST_SPARSE: the sequences asked, once each, nothing "
                                     "else, then RANGE_DONE; refused without the feature");
}

static bool
all_answered(const struct conn *c)
{
    size_t i;

    (void)c;
    for (i = 0; i < n_tracked; i++)
        if (tracked[i].n_got + tracked[i].n_not_found == 0)
            return false;
    return true;
}

/* request-part: done when a NOT_FOUND came, or a BUNDLE. */
static bool
part_not_found(const struct conn *c)
{
    return c->part_seen != 0 || (n_tracked > 0 && tracked[0].n_not_found > 0);
}

static bool
part_bundle_seen(const struct conn *c)
{
    return c->part_seen != 0;
}

static bool
whole_seen(const struct conn *c)
{
    (void)c;
    return n_tracked > 0 && tracked[0].n_got > 0;
}

/*
 * request-part BUNDLE: the daemon holding it, with the part feature
 * (PROTOCOL.md 4.1.1): on a first link, the bundle asked for by id and sent
 * whole, then a REQUEST_PART of it (as when the request crossed the bundle) is
 * answered NOT_FOUND and the link stays. On a second link: REQUEST_PART at
 * its length is answered NOT_FOUND (and costs it no read); REQUEST_PART for
 * its last 1000 bytes is answered by one BUNDLE message holding exactly
 * those; asking again for part of the bundle it sent us closes the link.
 */
static int
cmd_request_part(const char *path)
{
    struct conn c;
    size_t len, blen = 0;
    uint8_t *b = read_file(path, &len), body[SZ_MSG_MAX_REQUEST_LEN];
    struct sz_msg m;
    double t0;
    bool nf, got, closed, crossed;

    if (len <= 1000)
        die_local("request-part: the bundle must be over 1000 bytes");
    track_bundles(&path, 1);
    keys.features |= SZ_FEATURE_PART;
    if (handshake(&c, opt.from, NULL) != 0 || (sz_link_features(c.link) & SZ_FEATURE_PART) == 0) {
        bool open = c.open;
        conn_free(&c);
        free(b);
        return verdict(false,
                       open ? "the daemon did not agree to the part feature" : "handshake failed");
    }
    c.track = true;
    if (sz_msg_encode_request(tracked[0].id, 1, body, sizeof body, &blen) != 0)
        die_local("cannot encode REQUEST");
    send_body(&c, body, blen);
    t0 = now_s();
    while (now_s() - t0 < 10 && !whole_seen(&c) && conn_pump(&c, 200, whole_seen) == 1)
        ;
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_REQUEST_PART;
    memcpy(m.id, tracked[0].id, SZ_BUNDLE_ID_LEN);
    m.offset = 1;
    if (sz_msg_encode(&m, body, sizeof body, &blen) != 0)
        die_local("cannot encode REQUEST_PART");
    send_body(&c, body, blen);
    t0 = now_s();
    while (now_s() - t0 < 10 && !part_not_found(&c) && conn_pump(&c, 200, part_not_found) == 1)
        ;
    crossed = tracked[0].n_got == 1 && tracked[0].n_not_found == 1 && !c.closed;
    say("REQUEST_PART of a bundle just sent whole on the link: %s", crossed
                                                                        ? "NOT_FOUND, the link kept"
                                                                    : c.closed ? "link closed"
                                                                               : "not NOT_FOUND");
    conn_free(&c);
    tracked[0].n_got = tracked[0].n_not_found = 0;

    if (handshake(&c, opt.from, NULL) != 0) {
        bool open = c.open;
        conn_free(&c);
        free(b);
        return verdict(false,
                       open ? "the daemon did not agree to the part feature" : "handshake failed");
    }
    c.track = true;
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_REQUEST_PART;
    memcpy(m.id, tracked[0].id, SZ_BUNDLE_ID_LEN);
    m.offset = (uint32_t)len;
    if (sz_msg_encode(&m, body, sizeof body, &blen) != 0)
        die_local("cannot encode REQUEST_PART");
    send_body(&c, body, blen);
    t0 = now_s();
    while (now_s() - t0 < 10 && !part_not_found(&c) && conn_pump(&c, 200, part_not_found) == 1)
        ;
    nf = tracked[0].n_not_found == 1 && c.part_seen == 0 && !c.closed;
    say("REQUEST_PART at the end of the bundle: %s", nf ? "NOT_FOUND" : "not NOT_FOUND");

    c.part_offset = (uint32_t)(len - 1000);
    c.part_total = (uint32_t)len;
    c.part_data = b + len - 1000;
    m.offset = c.part_offset;
    if (sz_msg_encode(&m, body, sizeof body, &blen) != 0)
        die_local("cannot encode REQUEST_PART");
    send_body(&c, body, blen);
    t0 = now_s();
    while (now_s() - t0 < 10 && c.part_seen == 0 && conn_pump(&c, 200, part_bundle_seen) == 1)
        ;
    got = c.part_seen == 1 && !c.closed;
    say("REQUEST_PART for the last 1000 bytes: %s",
        got ? "one BUNDLE with exactly those" : "not answered as asked");

    m.offset = 1;
    if (sz_msg_encode(&m, body, sizeof body, &blen) != 0)
        die_local("cannot encode REQUEST_PART");
    send_body(&c, body, blen);
    t0 = now_s();
    while (now_s() - t0 < 10 && !c.closed && conn_pump(&c, 200, NULL) == 1)
        ;
    closed = c.closed;
    say("REQUEST_PART again for a bundle it sent: %s", closed ? "link closed" : "link still open");
    conn_free(&c);
    free(b);
    return verdict(crossed && nf && got && closed,
                   "REQUEST_PART: NOT_FOUND for one crossing the bundle and past the end, the "
                   "rest as asked, no second part of a bundle sent");
}

#define PREFIX_DROP_BYTES (2u << 20) /* prefix-drop: bytes sent by default */

/* prefix-drop: done once the daemon REQUESTed the id, or asked for any range. */
static bool
want_or_range(const struct conn *c)
{
    return c->want_requested || c->n_ranges_total > 0;
}

/*
 * prefix-drop BUNDLE: announces it (offering the part feature); on the
 * daemon's REQUEST of it, or a REQUEST_RANGE over its sequence (within --hold
 * seconds, default 10), sends --bytes bytes of it (default 2 MiB) in BUNDLE
 * messages with its real total: its real header and signature, then garbage
 * (with --real, its real bytes: a part that checks out once the rest comes).
 * Then the link is cut at once, without GOODBYE (our side shut, then closed).
 * PROTOCOL.md 4.1.1: a relay keeps what came of a large bundle and asks the
 * next peer that has it for the rest; the finished bundle then fails its
 * check, which must not be held against that peer. The test script checks
 * the daemon's log; the verdict is only that it asked and the bytes went.
 */
static int
cmd_prefix_drop(const char *path)
{
    struct conn c;
    size_t len, count, off, i;
    uint8_t *b = read_file(path, &len), *data, id[SZ_BUNDLE_ID_LEN];
    struct sz_bundle_header hdr;
    double hold = opt.hold_s >= 0 ? opt.hold_s : 10, t0, t_sent;
    bool asked = false, ok;
    const char *how = "";

    count = opt.bytes > 0 ? opt.bytes : PREFIX_DROP_BYTES;
    if (sz_bundle_parse(b, len, 0, &hdr, id) != 0)
        die_local("not a bundle");
    if (count >= len)
        die_local("prefix-drop: --bytes must be below the bundle's size");
    data = malloc(count);
    if (data == NULL)
        die_local("out of memory");
    memset(data, 0xA5, count);
    memcpy(data, b, opt.real || count < SZ_BUNDLE_PREFIX_LEN ? count : SZ_BUNDLE_PREFIX_LEN);
    keys.features |= SZ_FEATURE_PART;
    if (handshake(&c, opt.from, NULL) != 0) {
        conn_free(&c);
        free(data);
        free(b);
        return verdict(false, "handshake failed");
    }
    say("part feature: %s",
        (sz_link_features(c.link) & SZ_FEATURE_PART) != 0 ? "agreed" : "not agreed");
    announce_bundle(&c, b, len, id);
    c.want_id = id;
    t0 = now_s();
    while (!asked && now_s() - t0 < hold) {
        int left_ms = (int)((t0 + hold - now_s()) * 1000) + 1;
        if (conn_pump(&c, left_ms, want_or_range) != 0)
            break;
        if (c.want_requested) {
            asked = true;
            how = "REQUEST";
        }
        for (i = 0; i < c.n_ranges && !asked; i++)
            if (memcmp(c.ranges[i].publisher, hdr.publisher, SZ_PUBLIC_KEY_LEN) == 0 &&
                c.ranges[i].first <= hdr.sequence && hdr.sequence <= c.ranges[i].last) {
                asked = true;
                how = "REQUEST_RANGE";
            }
        c.n_ranges = 0;
        c.n_ranges_total = 0;
    }
    if (!asked) {
        say("the daemon did not ask for the bundle within %.0f s%s", hold,
            c.closed ? " (it closed the link)" : "");
        conn_free(&c);
        free(data);
        free(b);
        return verdict(false, "the daemon did not ask for the announced bundle");
    }
    say("request_ms: %.0f (%s)", (now_s() - c.t_start) * 1000, how);
    for (off = 0; off < count; off += SZ_MSG_MAX_CHUNK_LEN)
        send_chunk(&c, len, off, data + off,
                   count - off < SZ_MSG_MAX_CHUNK_LEN ? count - off : SZ_MSG_MAX_CHUNK_LEN);
    ok = conn_pump(&c, 30000, out_empty) == 0 && c.link_err == 0;
    t_sent = now_s();
    if (!ok) {
        say("could not send the %zu bytes: %s", count,
            c.closed ? "the daemon closed the link" : "not written within 30 s");
    } else {
        if (opt.real)
            say("sent: the first %zu of %zu bytes of the bundle in %.1f s", count, len,
                t_sent - t0);
        else
            say("sent: %zu of %zu bytes of the bundle (its real first %d, then 0xA5 bytes) in "
                "%.1f s",
                count, len, SZ_BUNDLE_PREFIX_LEN, t_sent - t0);
        /*
         * Cut the link: our FIN follows the bytes at once. Reading on until
         * the daemon closes its side keeps the kernel from answering its
         * bytes (a PING) with a reset, which could lose ours on the way.
         */
        c.quiet = true; /* nothing more from us, not even a PONG */
        if (shutdown(c.fd, SHUT_WR) != 0)
            say("shutdown: %s", strerror(errno));
        say("cut the link without GOODBYE");
        if (conn_pump(&c, CLOSE_WAIT_MS, NULL) == -1)
            say("the daemon closed its side %.0f ms later", (c.t_closed - t_sent) * 1000);
        else
            say("the daemon did not close its side within %d ms", CLOSE_WAIT_MS);
        if (c.goodbye)
            say("goodbye: reason %u (%s): \"%s\"", c.goodbye_reason, reason_name(c.goodbye_reason),
                c.goodbye_text);
    }
    conn_free(&c);
    free(data);
    free(b);
    return verdict(ok, "a large bundle asked for: its real first bytes then garbage, then the "
                       "link cut");
}

#define QUIET_GIVE_UP_S 10 /* request-many: no byte for this long, nothing more will come */

/*
 * request-many BUNDLE...: one REQUEST for all their ids (at most 64, the
 * daemon holding them). Each must be answered, by its bundle or NOT_FOUND
 * (PROTOCOL.md 4.2), within --hold seconds (default 30; given up sooner after
 * QUIET_GIVE_UP_S without a byte).
 */
static int
cmd_request_many(const char *const *paths, size_t n)
{
    struct conn c;
    uint8_t ids[MAX_TRACKED][SZ_BUNDLE_ID_LEN], body[SZ_MSG_MAX_REQUEST_LEN];
    size_t blen = 0, i, n_answered = 0, n_got = 0, n_nf = 0;
    double hold = opt.hold_s >= 0 ? opt.hold_s : 30, t0, t_last;
    uint64_t last_bytes = 0;
    bool ok;

    track_bundles(paths, n);
    for (i = 0; i < n_tracked; i++)
        memcpy(ids[i], tracked[i].id, SZ_BUNDLE_ID_LEN);
    if (sz_msg_encode_request(&ids[0][0], n_tracked, body, sizeof body, &blen) != 0)
        die_local("cannot encode REQUEST");
    if (handshake(&c, opt.from, NULL) != 0) {
        conn_free(&c);
        return verdict(false, "handshake failed");
    }
    c.track = true;
    send_body(&c, body, blen);
    say("asked for %zu ids in one REQUEST", n_tracked);
    t0 = t_last = now_s();
    while (now_s() - t0 < hold) {
        if (conn_pump(&c, 500, all_answered) != 1)
            break;
        if (c.bytes_in != last_bytes) {
            last_bytes = c.bytes_in;
            t_last = now_s();
        } else if (now_s() - t_last >= QUIET_GIVE_UP_S) {
            say("nothing received for %d s: given up", QUIET_GIVE_UP_S);
            break;
        }
    }
    for (i = 0; i < n_tracked; i++) {
        if (tracked[i].n_got + tracked[i].n_not_found > 0)
            n_answered++;
        else
            say("unanswered: bundle %zu (sequence %llu)", i + 1,
                (unsigned long long)tracked[i].hdr.sequence);
        if (tracked[i].n_got > 1)
            say("bundle %zu came %llu times", i + 1, (unsigned long long)tracked[i].n_got);
        n_got += tracked[i].n_got > 0;
        n_nf += tracked[i].n_not_found > 0;
    }
    say("answered: %zu of %zu (%zu bundles, %zu NOT_FOUND) in %.1f s", n_answered, n_tracked, n_got,
        n_nf, now_s() - t0);
    say("bytes_in: %llu", (unsigned long long)c.bytes_in);
    if (c.closed)
        say("the daemon closed the link");
    ok = c.link_err == 0 && !c.closed && n_answered == n_tracked;
    conn_free(&c);
    return verdict(ok, "one REQUEST of many big bundles: every id answered");
}

/*
 * summary-flood [N]: N SUMMARY messages of about 1 MiB (default 1500), as fast
 * as the daemon reads them, for at most --seconds. Each is the daemon's own
 * SUMMARY (its publishers and ranges) repeated to fill 1024 publishers of 61
 * ranges: there is nothing to fetch. The daemon may ignore them or drop us;
 * its memory is the test script's to watch.
 */
static int
cmd_summary_flood(const char *arg)
{
    unsigned long total = arg != NULL ? strtoul(arg, NULL, 0) : 1500, sent = 0;
    size_t per_pub = (SZ_MSG_MAX_LEN - 4) / SZ_MSG_MAX_SUMMARY_PUBLISHERS;
    size_t n_ranges = (per_pub - SZ_MSG_SUMMARY_PUB_LEN(0)) / 16, n_own = 0, i, k, blen = 0;
    struct sz_msg_summary_pub *own = calloc(SZ_MSG_MAX_SUMMARY_PUBLISHERS, sizeof *own);
    struct sz_msg_summary_src *pubs = calloc(SZ_MSG_MAX_SUMMARY_PUBLISHERS, sizeof *pubs);
    struct sz_msg_range *rg = calloc(SZ_MSG_MAX_SUMMARY_PUBLISHERS * n_ranges, sizeof *rg);
    uint8_t *body = malloc(SZ_MSG_MAX_LEN);
    struct conn c;
    struct sz_msg m;
    struct sz_msg_iter it;
    double t0, elapsed;
    int rc;

    if (own == NULL || pubs == NULL || rg == NULL || body == NULL)
        die_local("out of memory");
    if (handshake(&c, opt.from, NULL) != 0) {
        rc = verdict(false, "handshake failed");
        goto out;
    }
    if (conn_pump(&c, HANDSHAKE_WAIT_MS, got_summary) != 0 ||
        sz_msg_decode(c.summary, c.summary_len, &m) != 0) {
        rc = verdict(false, "the daemon sent no SUMMARY after the handshake");
        goto out;
    }
    sz_msg_summary_iter(&m, &it);
    while (n_own < SZ_MSG_MAX_SUMMARY_PUBLISHERS && sz_msg_summary_next(&it, &own[n_own]))
        if (own[n_own].n_ranges > 0)
            n_own++;
    say("the daemon's SUMMARY: %zu publishers with sequences", n_own);
    if (n_own == 0) {
        say("nothing to repeat: the daemon must hold some bundles first");
        rc = 2;
        goto out;
    }
    for (i = 0; i < SZ_MSG_MAX_SUMMARY_PUBLISHERS; i++) {
        const struct sz_msg_summary_pub *o = &own[i % n_own];
        pubs[i].publisher = o->publisher;
        pubs[i].ranges = &rg[i * n_ranges];
        pubs[i].n_ranges = n_ranges;
        for (k = 0; k < n_ranges; k++)
            sz_msg_summary_range(o, k % o->n_ranges, &rg[i * n_ranges + k]);
    }
    if (sz_msg_encode_summary(false, pubs, SZ_MSG_MAX_SUMMARY_PUBLISHERS, body, SZ_MSG_MAX_LEN,
                              &blen) != 0)
        die_local("cannot encode SUMMARY");
    t0 = now_s();
    while (sent < total && !c.closed && c.link_err == 0 && now_s() - t0 < seconds_or(20)) {
        if (c.out_len < FLOOD_OUT_LOW) {
            send_body(&c, body, blen);
            sent++;
        }
        (void)conn_pump(&c, 100, out_below_low);
    }
    elapsed = now_s() - t0;
    say("summaries: %lu of %zu bytes in %.1f s (%.0f MB/s)", sent, blen, elapsed,
        sent * (double)blen / 1e6 / (elapsed > 0 ? elapsed : 1));
    (void)conn_pump(&c, 1000, NULL);
    say("connection: %s", c.closed ? "dropped by the daemon" : "still open");
    if (c.goodbye)
        say("goodbye: reason %u (%s): \"%s\"", c.goodbye_reason, reason_name(c.goodbye_reason),
            c.goodbye_text);
    rc = verdict(c.link_err == 0,
                 "a flood of SUMMARY messages with nothing to fetch: the daemon coped");
out:
    conn_free(&c);
    free(own);
    free(pubs);
    free(rg);
    free(body);
    return rc;
}

/*
 * Sends a SUMMARY claiming sequence seq of publisher pub and waits (at most
 * request_wait_ms) for the daemon's REQUEST_RANGE over it. Returns whether
 * it came; then *asked is its range and *wait_s how long it took.
 */
static bool
claim_and_wait_range(struct conn *c, const uint8_t pub[SZ_PUBLIC_KEY_LEN], uint64_t seq,
                     struct sz_msg_range *asked, double *wait_s)
{
    uint8_t sbody[256];
    size_t blen = 0, i;
    struct sz_msg_range r = {.first = seq, .last = seq};
    struct sz_msg_summary_src src = {.publisher = pub, .ranges = &r, .n_ranges = 1};
    bool got = false;
    double t0;

    if (sz_msg_encode_summary(false, &src, 1, sbody, sizeof sbody, &blen) != 0)
        die_local("cannot encode SUMMARY");
    send_body(c, sbody, blen);
    t0 = now_s();
    while (!got && conn_pump(c, request_wait_ms, range_asked) == 0) {
        for (i = 0; i < c->n_ranges; i++)
            if (memcmp(c->ranges[i].publisher, pub, SZ_PUBLIC_KEY_LEN) == 0 &&
                c->ranges[i].first <= seq && seq <= c->ranges[i].last) {
                got = true;
                asked->first = c->ranges[i].first;
                asked->last = c->ranges[i].last;
            }
        c->n_ranges = 0;
        c->n_ranges_total = 0;
        if (now_s() - t0 > request_wait_ms / 1000.0)
            break;
    }
    *wait_s = now_s() - t0;
    return got;
}

/*
 * equiv-flood DIR: DIR holds bundles (*.bundle) of one publisher, all with
 * one sequence and each different. A SUMMARY claims that sequence; on the
 * daemon's REQUEST_RANGE they all go in BUNDLES messages, then RANGE_DONE.
 * Two are evidence of a stolen key; the rest only cost the daemon (each was
 * verified and stored, and listing the equivocations sorted every pair).
 * What the daemon kept is the test script's to check.
 */
static int
cmd_equiv_flood(const char *dirpath)
{
    struct conn c;
    DIR *dir = opendir(dirpath);
    struct dirent *de;
    uint8_t **bs = NULL, id[SZ_BUNDLE_ID_LEN], *body;
    size_t *ls = NULL, nb = 0, cap = 0, i, blen = 0;
    struct sz_bundle_header hdr, h0;
    struct sz_msg_range r;
    struct sz_msg m;
    unsigned long frames = 0;
    double t0, wait_s;

    if (dir == NULL)
        die_local("equiv-flood: cannot open the folder");
    while ((de = readdir(dir)) != NULL) {
        char path[4096];
        size_t len = strlen(de->d_name);
        if (len < 8 || strcmp(de->d_name + len - 7, ".bundle") != 0)
            continue;
        if (nb == cap) {
            uint8_t **nbs;
            size_t *nls;
            cap = cap ? 2 * cap : 256;
            nbs = realloc(bs, cap * sizeof *bs);
            if (nbs == NULL)
                die_local("out of memory");
            bs = nbs;
            nls = realloc(ls, cap * sizeof *ls);
            if (nls == NULL)
                die_local("out of memory");
            ls = nls;
        }
        snprintf(path, sizeof path, "%s/%s", dirpath, de->d_name);
        bs[nb] = read_file(path, &ls[nb]);
        if (sz_bundle_parse(bs[nb], ls[nb], 0, &hdr, id) != 0 || ls[nb] > SZ_MSG_MAX_CHUNK_LEN)
            die_local("equiv-flood: not a bundle that fits in BUNDLES");
        if (nb == 0)
            h0 = hdr;
        else if (hdr.sequence != h0.sequence ||
                 memcmp(hdr.publisher, h0.publisher, SZ_PUBLIC_KEY_LEN) != 0)
            die_local("equiv-flood: the bundles must share publisher and sequence");
        nb++;
    }
    closedir(dir);
    if (nb == 0)
        die_local("equiv-flood: no *.bundle in the folder");
    keys.features |= SZ_FEATURE_BATCH;
    if (handshake(&c, opt.from, NULL) != 0 || (sz_link_features(c.link) & SZ_FEATURE_BATCH) == 0) {
        conn_free(&c);
        return verdict(false, "handshake failed, or no batch feature");
    }
    if (!claim_and_wait_range(&c, h0.publisher, h0.sequence, &r, &wait_s)) {
        conn_free(&c);
        return verdict(false, "the daemon did not REQUEST_RANGE the claimed sequence");
    }
    body = malloc(SZ_MSG_MAX_LEN);
    if (body == NULL)
        die_local("out of memory");
    t0 = now_s();
    for (i = 0; i < nb && !c.closed && c.link_err == 0 && now_s() - t0 < seconds_or(60);) {
        if (c.out_len < FLOOD_OUT_LOW) {
            size_t k = 0, room = SZ_MSG_MAX_LEN - 3;
            while (i + k < nb && k < SZ_MSG_MAX_BUNDLES && ls[i + k] + 4 <= room)
                room -= ls[i + k++] + 4;
            if (sz_msg_encode_bundles((const uint8_t *const *)&bs[i], &ls[i], k, body,
                                      SZ_MSG_MAX_LEN, &blen) != 0)
                die_local("cannot encode BUNDLES");
            send_body(&c, body, blen);
            i += k;
            frames++;
        }
        (void)conn_pump(&c, 100, out_below_low);
    }
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_RANGE_DONE;
    memcpy(m.publisher, h0.publisher, SZ_PUBLIC_KEY_LEN);
    m.first = r.first;
    m.last = r.last;
    m.sent = 1;
    send_msg(&c, &m);
    (void)conn_pump(&c, 3000, out_empty);
    say("sent: %zu bundles of sequence %llu in %lu BUNDLES messages in %.1f s; the link %s", i,
        (unsigned long long)h0.sequence, frames, now_s() - t0,
        c.closed ? "was closed by the daemon" : "is open");
    conn_free(&c);
    free(body);
    for (i = 0; i < nb; i++)
        free(bs[i]);
    free(bs);
    free(ls);
    return verdict(i == nb, "every bundle for one sequence sent");
}

/*
 * bombs N: N valid bundles (default 100) of a fresh publisher key, each a few
 * KB that inflates to about 62 MB (two articles of 31 MiB of one letter). A
 * SUMMARY claims sequences 1..N; on the daemon's REQUEST_RANGE they go in one
 * BUNDLES message, then RANGE_DONE, and the link stays for --hold seconds
 * (default 10). Nothing is wrong with them, so nothing is banned: what the
 * daemon must do is verify them without holding its other work (the control
 * socket, other peers' bundles) behind them, which is the test script's to
 * time. Prints "sent: N bombs" once they are out.
 */
static int
cmd_bombs(const char *arg)
{
    unsigned long n = arg != NULL ? strtoul(arg, NULL, 0) : 100, k, n_sent = 0;
    double hold = opt.hold_s >= 0 ? opt.hold_s : 10, t0;
    size_t body_len = (size_t)31 << 20, clen = 0, blen = 0, len0 = 0;
    uint8_t pk[SZ_PUBLIC_KEY_LEN], sk[SZ_SECRET_KEY_LEN], id[SZ_BUNDLE_ID_LEN];
    uint8_t *letters, *content = NULL, *b0 = NULL, **bs, *body;
    size_t *ls;
    struct sz_article a[2];
    struct sz_seal_params sp;
    struct sz_msg_range claim, asked = {0, 0};
    struct sz_msg_summary_src src;
    struct sz_msg m;
    struct conn c;
    bool got = false;

    if (n == 0 || n > 1000)
        die_local("bombs: N must be 1 to 1000");
    letters = malloc(body_len);
    bs = calloc(n, sizeof *bs);
    ls = calloc(n, sizeof *ls);
    body = malloc(SZ_MSG_MAX_LEN);
    if (letters == NULL || bs == NULL || ls == NULL || body == NULL)
        die_local("out of memory");
    memset(letters, 'a', body_len);
    memset(a, 0, sizeof a);
    for (int i = 0; i < 2; i++) {
        a[i].id.p = i ? "b2" : "b1";
        a[i].id.len = 2;
        a[i].title.p = "Bomb";
        a[i].title.len = 4;
        a[i].published = (int64_t)time(NULL) - 100;
        a[i].ctype = SZ_CTYPE_PLAIN;
        a[i].body = letters;
        a[i].body_len = body_len;
    }
    crypto_sign_keypair(pk, sk);
    memset(&sp, 0, sizeof sp);
    sp.secret_key = sk;
    sp.sequence = 1;
    sp.created = (int64_t)time(NULL) - 60;
    sp.level = 3;
    if (sz_container_encode(a, 2, &content, &clen) != 0 ||
        sz_bundle_seal(&sp, content, clen, &b0, &len0, id) != 0)
        die_local("bombs: cannot make the bundle");
    free(content);
    free(letters);
    /* The same payload under each sequence: only the header and signature differ. */
    for (k = 0; k < n; k++) {
        uint8_t signed_msg[19 + SZ_BUNDLE_HEADER_LEN];
        bs[k] = malloc(len0);
        if (bs[k] == NULL)
            die_local("out of memory");
        memcpy(bs[k], b0, len0);
        ls[k] = len0;
        sz_store64(bs[k] + 40, k + 1); /* sequence (BUNDLE.md 1.1) */
        memcpy(signed_msg, "samizdat-bundle-v1", 19);
        memcpy(signed_msg + 19, bs[k], SZ_BUNDLE_HEADER_LEN);
        crypto_sign_detached(bs[k] + SZ_BUNDLE_HEADER_LEN, NULL, signed_msg, sizeof signed_msg, sk);
    }
    free(b0);
    if (sz_bundle_verify(bs[n - 1], ls[n - 1], SZ_BUNDLE_DEFAULT_CONTENT_CAP, NULL, id) != 0)
        die_local("bombs: the bundles made do not verify");
    say("made: %lu bundles of %zu bytes, each inflating to %zu bytes", n, len0, clen);

    keys.features |= SZ_FEATURE_BATCH;
    if (handshake(&c, opt.from, NULL) != 0 || (sz_link_features(c.link) & SZ_FEATURE_BATCH) == 0) {
        conn_free(&c);
        return verdict(false, "handshake failed, or no batch feature");
    }
    claim.first = 1;
    claim.last = n;
    src.publisher = pk;
    src.ranges = &claim;
    src.n_ranges = 1;
    if (sz_msg_encode_summary(false, &src, 1, body, SZ_MSG_MAX_LEN, &blen) != 0)
        die_local("cannot encode SUMMARY");
    send_body(&c, body, blen);
    t0 = now_s();
    while (!got && now_s() - t0 < request_wait_ms / 1000.0 &&
           conn_pump(&c, request_wait_ms, range_asked) == 0) {
        for (size_t i = 0; i < c.n_ranges; i++)
            if (memcmp(c.ranges[i].publisher, pk, SZ_PUBLIC_KEY_LEN) == 0 &&
                c.ranges[i].first <= 1) {
                got = true;
                asked.first = c.ranges[i].first;
                asked.last = c.ranges[i].last;
            }
        c.n_ranges = 0;
        c.n_ranges_total = 0;
    }
    if (!got) {
        conn_free(&c);
        return verdict(false, "the daemon did not REQUEST_RANGE the claimed sequences");
    }
    {
        const uint8_t **p = calloc(n, sizeof *p);
        size_t *pl = calloc(n, sizeof *pl);
        if (p == NULL || pl == NULL)
            die_local("out of memory");
        for (k = 0; k < n; k++)
            if (k + 1 >= asked.first && k + 1 <= asked.last) {
                p[n_sent] = bs[k];
                pl[n_sent++] = ls[k];
            }
        if (sz_msg_encode_bundles(p, pl, n_sent, body, SZ_MSG_MAX_LEN, &blen) != 0)
            die_local("cannot encode BUNDLES");
        free(p);
        free(pl);
    }
    send_body(&c, body, blen);
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_RANGE_DONE;
    memcpy(m.publisher, pk, SZ_PUBLIC_KEY_LEN);
    m.first = asked.first;
    m.last = asked.last;
    m.sent = n_sent;
    send_msg(&c, &m);
    (void)conn_pump(&c, 3000, out_empty);
    say("sent: %lu bombs (sequences %llu to %llu asked) in one BUNDLES message", n_sent,
        (unsigned long long)asked.first, (unsigned long long)asked.last);
    (void)conn_pump(&c, (int)(hold * 1000), NULL);
    say("connection: %s", c.closed ? "closed by the daemon" : "still open");
    if (c.goodbye)
        say("goodbye: reason %u (%s): \"%s\"", c.goodbye_reason, reason_name(c.goodbye_reason),
            c.goodbye_text);
    {
        bool ok = !c.closed && c.link_err == 0;
        conn_free(&c);
        for (k = 0; k < n; k++)
            free(bs[k]);
        free(bs);
        free(ls);
        free(body);
        return verdict(ok, "valid bundles that inflate a thousandfold: taken, the link kept");
    }
}

/*
 * bundle-repeat BUNDLE: a SUMMARY claiming the bundle's publisher and
 * sequence, which the daemon lacks; on its REQUEST_RANGE, BUNDLES messages
 * full of copies of that one valid bundle (at most 256 KiB) for --seconds
 * (default 20) or --frames messages, never RANGE_DONE. The bundle was asked for once: the daemon
 * must not queue a verification per copy (its memory is the test script's to
 * watch). Prints whether it dropped the link ("dropped:"), and after a drop
 * whether it banned us ("banned:"); the verdict is about the link only.
 */
static int
cmd_bundle_repeat(const char *path)
{
    struct conn c;
    size_t len, blen = 0, per, i;
    uint8_t *b = read_file(path, &len), *body;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    const uint8_t **ptrs;
    size_t *lens;
    struct sz_bundle_header hdr;
    struct sz_msg_range r;
    unsigned long frames = 0;
    double t0, wait_s;
    bool ok;

    if (sz_bundle_parse(b, len, 0, &hdr, id) != 0)
        die_local("not a bundle");
    if (len > SZ_MSG_MAX_CHUNK_LEN)
        die_local("bundle-repeat: the bundle must fit in BUNDLES (256 KiB)");
    keys.features |= SZ_FEATURE_BATCH;
    if (handshake(&c, opt.from, NULL) != 0 || (sz_link_features(c.link) & SZ_FEATURE_BATCH) == 0) {
        conn_free(&c);
        free(b);
        return verdict(false, c.open ? "the daemon did not agree to the batch feature"
                                     : "handshake failed");
    }
    say("SUMMARY: the bundle's publisher, sequence %llu", (unsigned long long)hdr.sequence);
    if (!claim_and_wait_range(&c, hdr.publisher, hdr.sequence, &r, &wait_s)) {
        conn_free(&c);
        free(b);
        return verdict(false, "the daemon did not REQUEST_RANGE the claimed sequence");
    }
    say("request_range_ms: %.0f", wait_s * 1000);
    per = (SZ_MSG_MAX_LEN - 3) / (len + 4);
    if (per > SZ_MSG_MAX_BUNDLES)
        per = SZ_MSG_MAX_BUNDLES;
    ptrs = calloc(per, sizeof *ptrs);
    lens = calloc(per, sizeof *lens);
    body = malloc(SZ_MSG_MAX_LEN);
    if (ptrs == NULL || lens == NULL || body == NULL)
        die_local("out of memory");
    for (i = 0; i < per; i++) {
        ptrs[i] = b;
        lens[i] = len;
    }
    if (sz_msg_encode_bundles(ptrs, lens, per, body, SZ_MSG_MAX_LEN, &blen) != 0)
        die_local("cannot encode BUNDLES");
    t0 = now_s();
    while (!c.closed && c.link_err == 0 && now_s() - t0 < seconds_or(20)) {
        if (opt.frames != 0 && frames >= opt.frames) {
            if (conn_pump(&c, 100, out_empty) == 0)
                break; /* all written */
            continue;
        }
        if (c.out_len < FLOOD_OUT_LOW) {
            send_body(&c, body, blen);
            frames++;
        }
        (void)conn_pump(&c, 100, out_below_low);
    }
    say("sent: %lu BUNDLES messages of %zu copies (%zu bytes each) in %.1f s", frames, per, len,
        now_s() - t0);
    if (!c.closed)
        (void)conn_pump(&c, 2000, NULL);
    if (c.closed) {
        say("dropped: yes, after %.1f s of copies", c.t_closed - t0);
        if (c.goodbye)
            say("goodbye: reason %u (%s): \"%s\"", c.goodbye_reason, reason_name(c.goodbye_reason),
                c.goodbye_text);
    } else {
        say("dropped: no (the link is still open)");
    }
    ok = c.link_err == 0;
    if (ok && c.closed && opt.from != NULL)
        say("banned: %s", expect_banned() ? "yes" : "no");
    conn_free(&c);
    free(ptrs);
    free(lens);
    free(body);
    free(b);
    return verdict(ok, "copies of one requested bundle: the daemon coped");
}

/* ---- slow and greedy peers: reply floods, slow readers and senders, made-up ids ---- */

#define PING_FLOOD_RCVBUF 65536 /* ping-flood: our receive buffer, so the kernel holds little */
/* ping-flood: the daemon's send queue (PROTOCOL.md 4.4: 4 MiB; no bundle is served), doubled. */
#define PING_FLOOD_QUEUE_BOUND (8u << 20)
#define PING_FLOOD_QUIET_S 2 /* ping-flood: no reply for this long, the queue is empty */

/*
 * What a peer that never reads may find waiting for it: the daemon's send
 * queue, what the kernel holds of it on the way (the daemon's socket send
 * buffer, which grows up to tcp_wmem's maximum, and our receive buffer).
 */
static uint64_t
reply_bound(void)
{
    uint64_t wmem_max = 4u << 20; /* Linux's default */
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");

    if (f != NULL) {
        unsigned long long lo, def, max;
        if (fscanf(f, "%llu %llu %llu", &lo, &def, &max) == 3)
            wmem_max = max;
        fclose(f);
    }
    return PING_FLOOD_QUEUE_BOUND + wmem_max + 2 * (uint64_t)PING_FLOOD_RCVBUF;
}

/*
 * ping-flood: PING and GET_PEERS, alternately, as fast as the daemon takes
 * them, for --seconds (default 10), never reading a byte. Each asks for a
 * reply: a daemon queueing replies however full the send queue is grows
 * without bound (PROTOCOL.md 4.4: no reply while the queue is full; the test
 * script watches the daemon's memory). Then, 1 s later, it reads what the
 * daemon queued: at most reply_bound() bytes may come.
 */
static int
cmd_ping_flood(void)
{
    struct conn c;
    double seconds = seconds_or(10), t0, t_last;
    uint64_t n_ping = 0, n_get_peers = 0, bytes_out = 0, replies, bound = reply_bound();
    uint64_t pongs, peers;
    bool ok;

    opt.rcvbuf = PING_FLOOD_RCVBUF;
    if (handshake(&c, opt.from, NULL) != 0) {
        conn_free(&c);
        return verdict(false, "handshake failed");
    }
    pongs = c.n_by_type[SZ_MSG_PONG];
    peers = c.n_by_type[SZ_MSG_PEERS];
    replies = c.bytes_in;
    t0 = now_s();
    while (!c.closed && now_s() - t0 < seconds) {
        struct pollfd pfd = {c.fd, POLLOUT, 0};
        ssize_t n;
        while (c.out_len < FLOOD_OUT_LOW) {
            struct sz_msg m;
            memset(&m, 0, sizeof m);
            if ((n_ping + n_get_peers) % 2 == 0) {
                m.type = SZ_MSG_PING;
                m.nonce = n_ping++;
            } else {
                m.type = SZ_MSG_GET_PEERS;
                n_get_peers++;
            }
            send_msg(&c, &m);
        }
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        n = write(c.fd, c.out, c.out_len);
        if (n > 0) {
            memmove(c.out, c.out + n, c.out_len - (size_t)n);
            c.out_len -= (size_t)n;
            bytes_out += (uint64_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            mark_closed(&c, true);
        }
    }
    say("flood: %llu PING and %llu GET_PEERS queued, %.1f MB written in %.1f s; nothing read",
        (unsigned long long)n_ping, (unsigned long long)n_get_peers, bytes_out / 1e6, now_s() - t0);
    if (c.closed) {
        say("the daemon closed the link after %.1f s of flood", c.t_closed - t0);
        conn_free(&c);
        return verdict(c.link_err == 0, "a PING flood: the daemon dropped the link");
    }
    c.out_len = 0; /* the rest of the flood is not sent: the replies are read now */
    sleep_ms(1000);
    t0 = t_last = now_s();
    while (!c.closed && c.link_err == 0 && c.bytes_in - replies <= bound &&
           now_s() - t_last < PING_FLOOD_QUIET_S) {
        uint64_t before = c.bytes_in;
        (void)conn_pump(&c, 100, NULL);
        if (c.bytes_in != before)
            t_last = now_s();
    }
    replies = c.bytes_in - replies;
    say("replies: %llu bytes (%llu PONG, %llu PEERS) read in %.1f s%s (bound %llu bytes)",
        (unsigned long long)replies, (unsigned long long)(c.n_by_type[SZ_MSG_PONG] - pongs),
        (unsigned long long)(c.n_by_type[SZ_MSG_PEERS] - peers), now_s() - t0,
        replies > bound ? ", and more coming: given up" : "", (unsigned long long)bound);
    if (c.closed)
        say("the daemon closed the link while we read");
    ok = c.link_err == 0 && replies <= bound;
    conn_free(&c);
    return verdict(ok, "a PING and GET_PEERS flood that never reads: the replies queued for it "
                       "stayed bounded");
}

#define SLOW_READ_RCVBUF 16384 /* slow-read: so that the kernel holds little of what is sent */
#define SLOW_READ_DRAIN_S 20   /* slow-read: the rest of the range, read at full speed, within */

static bool
range_done(const struct conn *c)
{
    return c->n_by_type[SZ_MSG_RANGE_DONE] > 0;
}

/*
 * slow-read BUNDLE...: one REQUEST_RANGE over their sequences (one publisher,
 * held by the daemon, more than is read meanwhile), then reads at --rate
 * bytes a second (default 100000) for --seconds (default 80), answering as an
 * honest peer does. The daemon's send queue stays full all along and drains
 * steadily: PROTOCOL.md 4.4 keeps such a link (only a queue that did not
 * drain at all for 60 s is closed). The bytes must have kept coming (at least
 * half the rate); then, read at full speed, the rest of the range must come,
 * then RANGE_DONE, on the same link.
 */
static int
cmd_slow_read(const char *const *paths, size_t n)
{
    struct conn c;
    struct sz_msg m;
    double rate = opt.rate > 0 ? opt.rate : 100000, seconds = seconds_or(80), t0, t_note, t;
    uint64_t first = UINT64_MAX, last = 0, got = 0, asked = 0;
    size_t i, n_whole = 0;
    bool ok;

    for (i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0)
            asked += (uint64_t)st.st_size;
    }
    track_bundles(paths, n);
    tracked_range("slow-read", &first, &last);
    opt.rcvbuf = SLOW_READ_RCVBUF;
    if (handshake(&c, opt.from, NULL) != 0) {
        conn_free(&c);
        return verdict(false, "handshake failed");
    }
    c.track = true;
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_REQUEST_RANGE;
    memcpy(m.publisher, tracked[0].hdr.publisher, SZ_PUBLIC_KEY_LEN);
    m.first = first;
    m.last = last;
    send_msg(&c, &m);
    say("asked for sequences %llu-%llu (%zu bundles, %.1f MB); reading %.0f bytes a second for "
        "%.0f s",
        (unsigned long long)first, (unsigned long long)last, n_tracked, asked / 1e6, rate, seconds);
    t0 = t_note = now_s();
    while (!c.closed && c.link_err == 0 && (t = now_s()) - t0 < seconds) {
        /* A token bucket: what the rate allows since t0, less what was read. */
        double allowed = rate * (t - t0) - (double)got;
        struct pollfd pfd = {c.fd, (short)((allowed >= 1 ? POLLIN : 0) | (c.out_len ? POLLOUT : 0)),
                             0};
        if (t - t_note >= 20) {
            t_note = t;
            say("t=%.0f s: read %.1f MB", t - t0, got / 1e6);
        }
        if (pfd.events == 0) {
            sleep_ms(10);
            continue;
        }
        if (poll(&pfd, 1, 50) > 0)
            got += conn_io(&c, pfd.revents, allowed >= 1 ? (size_t)allowed : 0);
    }
    t = now_s() - t0;
    for (i = 0; i < n_tracked; i++)
        n_whole += tracked[i].n_got > 0;
    say("read: %.1f MB in %.1f s (%.0f bytes a second); %llu BUNDLE messages, %zu of %zu bundles "
        "whole",
        got / 1e6, t, got / (t > 0 ? t : 1), (unsigned long long)c.n_by_type[SZ_MSG_BUNDLE],
        n_whole, n_tracked);
    ok = c.link_err == 0 && got >= rate * seconds / 2;
    if (got < rate * seconds / 2)
        say("the bytes did not keep coming (wanted at least %.1f MB)", rate * seconds / 2e6);
    if (c.n_by_type[SZ_MSG_RANGE_DONE] > 0) {
        say("the range was done before the end: ask for more, or read slower");
        ok = false;
    }
    /*
     * A close (or GOODBYE) waits behind what the kernel holds of the queue:
     * read the rest at full speed. A kept link brings the whole range, then
     * RANGE_DONE.
     */
    t = now_s();
    (void)conn_pump(&c, SLOW_READ_DRAIN_S * 1000, range_done);
    if (c.closed) {
        say("connection: dropped by the daemon (the close seen %.1f s after the REQUEST_RANGE)",
            c.t_closed - t0);
        if (c.goodbye)
            say("goodbye: reason %u (%s): \"%s\"", c.goodbye_reason, reason_name(c.goodbye_reason),
                c.goodbye_text);
        ok = false;
    } else if (c.n_by_type[SZ_MSG_RANGE_DONE] == 0) {
        say("connection: open, but the rest of the range did not come within %d s",
            SLOW_READ_DRAIN_S);
        ok = false;
    } else {
        n_whole = 0;
        for (i = 0; i < n_tracked; i++)
            n_whole += tracked[i].n_got > 0;
        say("connection: kept; then read at full speed: %zu of %zu bundles whole and RANGE_DONE "
            "in %.1f s",
            n_whole, n_tracked, now_s() - t);
        if (n_whole != n_tracked)
            ok = false;
    }
    conn_free(&c);
    return verdict(ok, "a slow but steady reader: its link kept");
}

/*
 * slow-bundle BUNDLE: announces it; on the daemon's REQUEST, sends it in
 * BUNDLE chunks of --rate bytes (default 30000), one a second, so that it
 * takes longer than the 30 s request timeout. PROTOCOL.md 4.2: a peer still
 * sending bundle bytes gets up to 2 more minutes, and the bundle is still one
 * that was asked for. The link must stay open; the test script checks that
 * the daemon stored the bundle and banned nobody.
 */
static int
cmd_slow_bundle(const char *path)
{
    struct conn c;
    size_t len, off, chunk, n_chunks = 0;
    uint8_t *b = read_file(path, &len), id[SZ_BUNDLE_ID_LEN];
    double rate = opt.rate > 0 ? opt.rate : 30000, period, t0;
    bool ok;

    chunk = rate < SZ_MSG_MAX_CHUNK_LEN ? (size_t)rate : SZ_MSG_MAX_CHUNK_LEN;
    if (chunk == 0)
        die_local("slow-bundle: --rate must be at least 1");
    period = (double)chunk / rate;
    if (handshake(&c, opt.from, NULL) != 0) {
        conn_free(&c);
        free(b);
        return verdict(false, "handshake failed");
    }
    announce_bundle(&c, b, len, id);
    c.want_id = id;
    if (conn_pump(&c, request_wait_ms, want_seen) != 0) {
        conn_free(&c);
        free(b);
        return verdict(false, "the daemon did not REQUEST the announced bundle");
    }
    say("request_ms: %.0f; sending %zu bytes, %zu a chunk, one chunk every %.2f s",
        (c.t_want - c.t_start) * 1000, len, chunk, period);
    t0 = now_s();
    for (off = 0; off < len && !c.closed; off += chunk) {
        double due = t0 + period * (double)n_chunks;
        while (!c.closed && now_s() < due)
            (void)conn_pump(&c, (int)((due - now_s()) * 1000) + 1, NULL);
        if (c.closed)
            break;
        send_chunk(&c, len, off, b + off, len - off < chunk ? len - off : chunk);
        n_chunks++;
        (void)conn_pump(&c, 5000, out_empty);
    }
    if (!c.closed) {
        say("sent: %zu bytes in %zu chunks, the last %.1f s after the REQUEST", len, n_chunks,
            now_s() - c.t_want);
        (void)conn_pump(&c, 3000, NULL);
    }
    ok = c.link_err == 0 && !c.closed && !c.goodbye;
    if (c.closed) {
        say("connection: dropped by the daemon %.1f s after the REQUEST, %zu of %zu bytes sent",
            c.t_closed - c.t_want, off < len ? off : len, len);
        if (c.goodbye)
            say("goodbye: reason %u (%s): \"%s\"", c.goodbye_reason, reason_name(c.goodbye_reason),
                c.goodbye_text);
    } else {
        say("connection: still open 3 s after the last chunk");
    }
    conn_free(&c);
    free(b);
    return verdict(ok, "a requested bundle sent slowly, past the request timeout: taken, the link "
                       "kept");
}

#define FAKE_LINKS 4 /* fake-announce: links opened (0: the default) */

/*
 * The source address of link i of n spread over --addresses addresses: --from,
 * its last byte raised by i % --addresses (so 127.0.0.60 and 3 give .60 to .62).
 */
static const char *
spread_from(size_t i, char buf[INET_ADDRSTRLEN])
{
    struct in_addr a;

    if (opt.from == NULL || opt.addresses <= 1)
        return opt.from;
    if (inet_pton(AF_INET, opt.from, &a) != 1)
        die_local("--from takes an IPv4 address");
    a.s_addr = htonl(ntohl(a.s_addr) + (uint32_t)(i % opt.addresses));
    if (inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN) == NULL)
        die_local("--addresses: no such address");
    return buf;
}

/*
 * fake-announce PUBLIC_KEY_FILE [N]: --links links (default 4), each with its
 * own node key, announce N made-up ids each (default 5000) of that publisher
 * (one the daemon carries), then stay for --hold seconds (default 50),
 * answering PINGs and nothing else. PROTOCOL.md 4.2: a peer that sent nothing
 * for 30 s after a REQUEST of an id it announced has its announcements ignored
 * for 5 minutes, so the daemon must not ask a link for more than its first 16
 * ids (4.4: requests outstanding to one peer). The test script checks that
 * the daemon's fetch table, which these links filled, takes honest bundles
 * again.
 */
static int
cmd_fake_announce(const char *pk_path, const char *arg)
{
    unsigned long per_link = arg != NULL ? strtoul(arg, NULL, 0) : 5000;
    size_t n_links = opt.links > 0 ? opt.links : FAKE_LINKS, i, k, pk_len;
    double hold = opt.hold_s >= 0 ? opt.hold_s : 50, t0;
    uint8_t *pk_file = read_file(pk_path, &pk_len), publisher[SZ_PUBLIC_KEY_LEN];
    struct sz_msg_announce *e = calloc(SZ_MSG_MAX_ANNOUNCE, sizeof *e);
    uint8_t *body = malloc(SZ_MSG_MAX_ANNOUNCE_LEN);
    struct conn *cs = calloc(n_links, sizeof *cs);
    struct pollfd *pfd = calloc(n_links, sizeof *pfd);
    bool ok = true;

    if (e == NULL || body == NULL || cs == NULL || pfd == NULL)
        die_local("out of memory");
    if (sz_pk_file_parse(pk_file, pk_len, publisher) != 0)
        die_local("fake-announce: not a public key file");
    for (i = 0; i < n_links; i++)
        cs[i].fd = -1;
    for (i = 0; i < n_links; i++) {
        unsigned long sent = 0;
        char from[INET_ADDRSTRLEN];
        /* A node key per link: each is another peer to the daemon. */
        randombytes_buf(keys.node_sk, SZ_NODE_KEY_LEN);
        crypto_scalarmult_base(keys.node_pk, keys.node_sk);
        if (handshake(&cs[i], spread_from(i, from), NULL) != 0) {
            ok = false;
            break;
        }
        while (sent < per_link) {
            size_t n =
                per_link - sent < SZ_MSG_MAX_ANNOUNCE ? per_link - sent : SZ_MSG_MAX_ANNOUNCE;
            size_t blen = 0;
            for (k = 0; k < n; k++) {
                memcpy(e[k].publisher, publisher, SZ_PUBLIC_KEY_LEN);
                e[k].sequence = 1000000000ull + i * (uint64_t)per_link + sent + k;
                randombytes_buf(e[k].id, SZ_BUNDLE_ID_LEN);
                e[k].size = 1000;
            }
            if (sz_msg_encode_announce(e, n, body, SZ_MSG_MAX_ANNOUNCE_LEN, &blen) != 0)
                die_local("cannot encode ANNOUNCE");
            send_body(&cs[i], body, blen);
            sent += n;
        }
        if (conn_pump(&cs[i], HANDSHAKE_WAIT_MS, out_empty) != 0) {
            ok = false;
            break;
        }
    }
    if (!ok) {
        say("link %zu: failed before its announcements were out", i + 1);
        goto out;
    }
    say("announced: %lu made-up ids on each of %zu links; holding them %.0f s", per_link, n_links,
        hold);
    t0 = now_s();
    while (now_s() - t0 < hold) {
        size_t n_open = 0;
        for (i = 0; i < n_links; i++) {
            pfd[i].fd = cs[i].closed ? -1 : cs[i].fd;
            pfd[i].events = (short)(POLLIN | (cs[i].out_len > 0 ? POLLOUT : 0));
            pfd[i].revents = 0;
            n_open += !cs[i].closed;
        }
        if (n_open == 0)
            break;
        if (poll(pfd, n_links, 200) <= 0)
            continue;
        for (i = 0; i < n_links; i++)
            if (pfd[i].revents != 0)
                (void)conn_io(&cs[i], pfd[i].revents, SIZE_MAX);
    }
    for (i = 0; i < n_links; i++) {
        struct conn *c = &cs[i];
        say("link %zu: %llu ids requested (the first %.1f s, the last %.1f s after the "
            "announcements)%s",
            i + 1, (unsigned long long)c->n_request_ids,
            c->t_first_request > 0 ? c->t_first_request - t0 : -1.0,
            c->t_last_request > 0 ? c->t_last_request - t0 : -1.0,
            c->closed ? "; dropped by the daemon" : "");
        if (c->n_request_ids > SPEC_MAX_REQUESTED || c->link_err != 0)
            ok = false;
    }
    if (hold < SPEC_REQUEST_TIMEOUT_S + 10)
        say("held less than %d s: the daemon's request timeout was not tested",
            SPEC_REQUEST_TIMEOUT_S + 10);
out:
    for (i = 0; i < n_links; i++)
        conn_free(&cs[i]);
    free(cs);
    free(pfd);
    free(e);
    free(body);
    free(pk_file);
    return verdict(ok, "made-up announcements: after its first requests went unanswered, no link "
                       "was asked for more");
}

#define HOARD_LINKS 48     /* hoard: links opened (0: the default) */
#define HOARD_RCVBUF 16384 /* hoard: so that the kernel holds little of what is sent */

/*
 * hoard BUNDLE...: --links links (default 48), each with its own node key,
 * ask for the bundles (one REQUEST of their ids) and then never read, for
 * --hold seconds (default 30). Each link's send queue at the daemon holds
 * what it was served; PROTOCOL.md 4.5: every queue together stays within
 * the node's send budget (the test script samples the daemon's memory), and
 * while peers wait for that budget, a queue that has not moved for 15 s is
 * closed. The verdict is only that the links were made and asked.
 */
static int
cmd_hoard(const char *const *paths, size_t n)
{
    size_t n_links = opt.links > 0 ? opt.links : HOARD_LINKS, i, blen = 0;
    uint8_t ids[MAX_TRACKED][SZ_BUNDLE_ID_LEN], body[SZ_MSG_MAX_REQUEST_LEN];
    double hold = opt.hold_s >= 0 ? opt.hold_s : 30, t0 = now_s();
    struct conn *cs = calloc(n_links, sizeof *cs);
    bool ok = true;

    if (cs == NULL)
        die_local("out of memory");
    track_bundles(paths, n);
    for (i = 0; i < n_tracked; i++)
        memcpy(ids[i], tracked[i].id, SZ_BUNDLE_ID_LEN);
    if (sz_msg_encode_request(&ids[0][0], n_tracked, body, sizeof body, &blen) != 0)
        die_local("cannot encode REQUEST");
    opt.rcvbuf = HOARD_RCVBUF;
    for (i = 0; i < n_links; i++)
        cs[i].fd = -1;
    for (i = 0; i < n_links && ok; i++) {
        /* A node key per link: each is another peer to the daemon. */
        randombytes_buf(keys.node_sk, SZ_NODE_KEY_LEN);
        crypto_scalarmult_base(keys.node_pk, keys.node_sk);
        if (handshake(&cs[i], opt.from, NULL) != 0) {
            say("link %zu: handshake failed", i + 1);
            ok = false;
            break;
        }
        send_body(&cs[i], body, blen);
        if (conn_pump(&cs[i], HANDSHAKE_WAIT_MS, out_empty) != 0) {
            say("link %zu: the REQUEST did not go out", i + 1);
            ok = false;
        }
    }
    if (ok)
        say("%zu links asked for %zu bundles each in %.1f s; reading nothing for %.0f s", n_links,
            n_tracked, now_s() - t0, hold);
    while (ok && now_s() - t0 < hold)
        sleep_ms(200);
    for (i = 0; i < n_links; i++)
        conn_free(&cs[i]);
    free(cs);
    return verdict(ok, "links that ask for large bundles and never read: made and asked");
}

#define FILL_LINKS 48           /* fill: links opened (0: the default) */
#define FILL_SIZE (24u << 20)   /* fill: the size each made-up bundle claims */
#define FILL_OUT_MAX (1u << 20) /* fill: sealed bytes waiting per link before the next chunk */

/*
 * fill PUBLIC_KEY_FILE [SIZE]: --links links (default 48), each with its own
 * node key, announce one made-up id of that publisher claiming SIZE bytes
 * (default 24 MiB); each link answers the daemon's REQUEST with BUNDLE chunks
 * of random bytes as fast as the daemon takes them, all but the last byte,
 * then sends nothing more for --hold seconds (default 40), answering PINGs;
 * it stops after --seconds in all (default --hold + 120), or once the daemon
 * has closed every link that sent all but the last byte.
 * PROTOCOL.md 4.5: the large bundles being received together stay within the
 * node's receive budget (the test script samples the daemon's memory); links
 * beyond it wait, and while they do, one that sends nothing for 20 s is
 * closed. The verdict is only that the links were made and asked.
 */
static int
cmd_fill(const char *pk_path, const char *arg)
{
    size_t n_links = opt.links > 0 ? opt.links : FILL_LINKS, i, pk_len, n_asked = 0, n_done = 0;
    unsigned long size = arg != NULL ? strtoul(arg, NULL, 0) : FILL_SIZE;
    double hold = opt.hold_s >= 0 ? opt.hold_s : 40, t0, t_filled = 0;
    double stop_s = seconds_or(hold + 120);
    uint8_t *pk_file = read_file(pk_path, &pk_len), publisher[SZ_PUBLIC_KEY_LEN];
    uint8_t(*ids)[SZ_BUNDLE_ID_LEN] = calloc(n_links, SZ_BUNDLE_ID_LEN);
    uint32_t *sent = calloc(n_links, sizeof *sent);
    struct conn *cs = calloc(n_links, sizeof *cs);
    struct pollfd *pfd = calloc(n_links, sizeof *pfd);
    uint8_t *junk = malloc(SZ_MSG_MAX_CHUNK_LEN);
    bool ok = true;

    if (ids == NULL || sent == NULL || cs == NULL || pfd == NULL || junk == NULL)
        die_local("out of memory");
    if (sz_pk_file_parse(pk_file, pk_len, publisher) != 0)
        die_local("fill: not a public key file");
    if (size < 2 || size > UINT32_MAX)
        die_local("fill: SIZE must be 2 bytes to 4 GiB");
    randombytes_buf(junk, SZ_MSG_MAX_CHUNK_LEN);
    for (i = 0; i < n_links; i++)
        cs[i].fd = -1;
    for (i = 0; i < n_links && ok; i++) {
        struct sz_msg_announce a;
        uint8_t body[SZ_MSG_MAX_ANNOUNCE_LEN];
        size_t blen = 0;
        /* A node key per link: each is another peer to the daemon. */
        randombytes_buf(keys.node_sk, SZ_NODE_KEY_LEN);
        crypto_scalarmult_base(keys.node_pk, keys.node_sk);
        if (handshake(&cs[i], opt.from, NULL) != 0) {
            say("link %zu: handshake failed", i + 1);
            ok = false;
            break;
        }
        memcpy(a.publisher, publisher, SZ_PUBLIC_KEY_LEN);
        a.sequence = 2000000000ull + i;
        randombytes_buf(ids[i], SZ_BUNDLE_ID_LEN);
        memcpy(a.id, ids[i], SZ_BUNDLE_ID_LEN);
        a.size = (uint32_t)size;
        if (sz_msg_encode_announce(&a, 1, body, sizeof body, &blen) != 0)
            die_local("cannot encode ANNOUNCE");
        send_body(&cs[i], body, blen);
        cs[i].want_id = ids[i];
    }
    if (!ok)
        goto out;
    say("%zu links announced a made-up bundle of %lu bytes each", n_links, size);
    t0 = now_s();
    while (now_s() - t0 < stop_s && (t_filled == 0 || now_s() - t_filled < hold)) {
        size_t n_open = 0;
        for (i = 0; i < n_links; i++) {
            struct conn *c = &cs[i];
            /* The next chunk once the last has mostly gone, all but the last byte. */
            while (!c->closed && c->want_requested && sent[i] < size - 1 &&
                   c->out_len < FILL_OUT_MAX) {
                uint32_t left = (uint32_t)(size - 1 - sent[i]);
                uint32_t n = left < SZ_MSG_MAX_CHUNK_LEN ? left : SZ_MSG_MAX_CHUNK_LEN;
                send_chunk(c, size, sent[i], junk, n);
                sent[i] += n;
                if (sent[i] == size - 1)
                    n_done++;
            }
            pfd[i].fd = c->closed ? -1 : c->fd;
            pfd[i].events = (short)(POLLIN | (c->out_len > 0 ? POLLOUT : 0));
            pfd[i].revents = 0;
            n_open += !c->closed;
        }
        n_asked = 0;
        for (i = 0; i < n_links; i++)
            n_asked += cs[i].want_requested;
        if (t_filled == 0 && n_asked == n_links && n_done == n_links) {
            t_filled = now_s();
            say("every link sent all but the last byte in %.1f s; sending nothing for %.0f s",
                t_filled - t0, hold);
        }
        if (n_open == 0)
            break;
        {
            /* Every link that sent all but the last byte closed by the daemon: it
             * did what the attack is there to see (the time that takes depends on
             * the machine's load). */
            size_t n_full = 0, n_full_closed = 0;
            for (i = 0; i < n_links; i++)
                if (sent[i] == size - 1) {
                    n_full++;
                    n_full_closed += cs[i].closed;
                }
            if (n_full > 0 && n_full_closed == n_full) {
                say("the daemon closed every link that sent all but the last byte (%zu) after "
                    "%.1f s",
                    n_full, now_s() - t0);
                break;
            }
        }
        if (poll(pfd, n_links, 200) <= 0)
            continue;
        for (i = 0; i < n_links; i++)
            if (pfd[i].revents != 0)
                (void)conn_io(&cs[i], pfd[i].revents, SIZE_MAX);
    }
    {
        size_t n_closed = 0, n_full = 0;
        uint64_t total = 0;
        for (i = 0; i < n_links; i++) {
            n_closed += cs[i].closed;
            n_full += sent[i] == size - 1;
            total += sent[i];
        }
        say("links: %zu asked for their bundle, %zu sent all but its last byte, %zu closed by "
            "the daemon; %llu MB sent in all",
            n_asked, n_full, n_closed, (unsigned long long)(total / 1000000));
        ok = n_asked > 0;
    }
out:
    for (i = 0; i < n_links; i++)
        conn_free(&cs[i]);
    free(cs);
    free(pfd);
    free(ids);
    free(sent);
    free(junk);
    free(pk_file);
    return verdict(ok, "links that send large bundles and never finish them: made and asked");
}

/* ---- serve-evil: a malicious relay for samizdat fetch ---- */

/*
 * Alters a bundle's articles under its signed header: one letter of the
 * container changes case, and the container is compressed again, at levels
 * 1 to 19, until the payload has its old length (payload_len is signed).
 * What comes out is a valid zstd frame of a valid-looking container with
 * the original header and signature: only the payload hash gives it away.
 * Returns false (t unchanged) when no letter and level give that length.
 */
static bool
alter_content(uint8_t *t, size_t len)
{
    uint64_t payload_len = sz_load64(t + 56), content_len = sz_load64(t + 64);
    uint8_t *payload = t + SZ_BUNDLE_PREFIX_LEN, *content, *out;
    size_t out_cap, tries = 0;
    bool done = false;

    if (len < SZ_BUNDLE_PREFIX_LEN || payload_len != len - SZ_BUNDLE_PREFIX_LEN ||
        content_len > ((uint64_t)64 << 20))
        return false;
    content = malloc(content_len);
    out_cap = ZSTD_compressBound(content_len);
    out = malloc(out_cap);
    if (content == NULL || out == NULL ||
        ZSTD_decompress(content, content_len, payload, payload_len) != content_len)
        goto out;
    for (size_t k = content_len; k-- > 0 && !done && tries < 64;) {
        uint8_t ch = content[k];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
            continue;
        tries++;
        content[k] ^= 0x20;
        for (int level = 1; level <= 19 && !done; level++) {
            size_t n = ZSTD_compress(out, out_cap, content, content_len, level);
            if (!ZSTD_isError(n) && n == payload_len) {
                memcpy(payload, out, n);
                done = true;
            }
        }
        if (!done)
            content[k] ^= 0x20;
    }
out:
    free(content);
    free(out);
    return done;
}

enum evil_mode {
    EVIL_TAMPERED,     /* the asked bundles, their articles altered under the signed header */
    EVIL_TAMPERED_SIG, /* the asked bundles, one signature byte flipped */
    EVIL_OLD_AS_NEW,   /* claims sequences up to --claim-last, answers with its oldest bundle */
    EVIL_TRUNCATED,    /* half of the first asked bundle, then close */
    EVIL_FLOOD,        /* endless ANNOUNCEs of random ids; serves nothing */
    EVIL_WITHHOLD,     /* offers its bundles, answers every range with RANGE_DONE alone */
    EVIL_HONEST,       /* serves the asked bundles as they are */
    EVIL_OMIT,         /* a SUMMARY that names no publisher; serves nothing */
    EVIL_PARTS,        /* SUMMARY in 3 parts, its own publishers in the last; serves honestly */
    EVIL_UNASKED,      /* a SUMMARY that names no publisher, then a bundle's first byte */
    EVIL_PINGFLOOD,    /* after the first range asked, PINGs as fast as they go, never reading */
    EVIL_SLOWLORIS,    /* answers the first range asked one byte at a time (--rate a second) */
    EVIL_MANYRANGES,   /* a 1 MiB SUMMARY of single-sequence ranges; RANGE_DONE alone */
    EVIL_REPEAT,       /* BUNDLES messages full of copies of the asked bundle */
    EVIL_FAKEEQ,       /* serves honestly, and claims an equivocation it cannot back */
    EVIL_BIGHDR,       /* the asked bundles, their header made to declare 1 GiB of articles */
    EVIL_CUT,          /* a SUMMARY part (more = 1) of made-up publishers keyed below; no more */
    EVIL_CUT_PAST,     /* ... keyed above: it went past its own publishers, naming none */
    EVIL_SLOW_PARTS,   /* cut's part, then its own and 1000 made-up ones dripped at --rate */
    EVIL_CUT_CLOSE,    /* cut's part; closes the link when a range is asked */
    EVIL_N_MODES
};

static const char *const evil_mode_names[EVIL_N_MODES] = {
    "tampered", "tampered-sig", "old-as-new", "truncated", "flood",      "withhold",   "honest",
    "omit",     "parts",        "unasked",    "pingflood", "slowloris",  "manyranges", "repeat",
    "fakeeq",   "bighdr",       "cut",        "cut-past",  "slow-parts", "cut-close",
};

#define EVIL_DECOY_PARTS 2            /* parts: SUMMARY parts of made-up publishers first */
#define EVIL_SLOW_DECOYS 1000         /* slow-parts: made-up publishers in its last part */
#define EVIL_MANY_ENTRIES 63          /* manyranges: its publisher listed again this many times */
#define EVIL_PINGFLOOD_DRIP_S 20.0    /* pingflood: one byte of the asked bundle this often */
#define EVIL_UNASKED_TOTAL (8u << 20) /* unasked: the size the bundle claims */
#define EVIL_REPEAT_FRAMES 64         /* repeat: BUNDLES messages per range (--frames) */

/* A bundle the evil relay holds (from --bundles DIR). */
struct evil_bundle {
    uint8_t *raw;
    size_t len;
    struct sz_bundle_header hdr;
    uint8_t id[SZ_BUNDLE_ID_LEN];
};

static struct evil_bundle *evil_bundles; /* sorted by publisher, then sequence */
static size_t n_evil_bundles;

static int
cmp_evil_bundle(const void *pa, const void *pb)
{
    const struct evil_bundle *a = pa, *b = pb;
    int c = memcmp(a->hdr.publisher, b->hdr.publisher, SZ_PUBLIC_KEY_LEN);

    if (c != 0)
        return c;
    return a->hdr.sequence < b->hdr.sequence ? -1 : a->hdr.sequence > b->hdr.sequence;
}

/* Reads every file of dir that parses as a bundle. */
static void
load_evil_bundles(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        die_local("cannot open the --bundles folder");
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        struct evil_bundle b, *v;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
            continue;
        memset(&b, 0, sizeof b);
        b.raw = read_file(path, &b.len);
        if (sz_bundle_parse(b.raw, b.len, 0, &b.hdr, b.id) != 0) {
            say("skipped %s: not a bundle", path);
            free(b.raw);
            continue;
        }
        v = realloc(evil_bundles, (n_evil_bundles + 1) * sizeof *v);
        if (v == NULL)
            die_local("out of memory");
        evil_bundles = v;
        evil_bundles[n_evil_bundles++] = b;
    }
    closedir(d);
    if (n_evil_bundles > 0)
        qsort(evil_bundles, n_evil_bundles, sizeof *evil_bundles, cmp_evil_bundle);
}

/*
 * Sends SUMMARY: per publisher, the sequences held. old-as-new claims one range
 * from its oldest bundle up to --claim-last (default: its newest + 100).
 */
static int
cmp_key(const void *a, const void *b)
{
    return memcmp(a, b, SZ_PUBLIC_KEY_LEN);
}

/*
 * slow-parts: a message's frame written 512 bytes at a time, --rate bytes a
 * second (default 6000), what the peer sends read meanwhile.
 */
static void
send_body_drip(struct conn *c, const uint8_t *body, size_t len, unsigned long conn_no)
{
    double rate = opt.rate > 0 ? opt.rate : 6000, t0 = now_s();
    const uint8_t *p;
    uint8_t *frame;
    size_t n, off;

    (void)conn_pump(c, 100, NULL); /* what waits goes first */
    if (sz_link_send(c->link, body, len) != 0)
        die_local("cannot seal a message");
    p = sz_link_output(c->link, &n);
    if ((frame = malloc(n)) == NULL)
        die_local("out of memory");
    memcpy(frame, p, n);
    sz_link_output_consume(c->link, n);
    for (off = 0; off < n && !c->closed && c->link_err == 0;) {
        size_t k = n - off < 512 ? n - off : 512;
        out_append(c, frame + off, k);
        off += k;
        (void)conn_pump(c, (int)(512 * 1000 / rate), NULL);
    }
    say("conn %lu: summary's last part: %zu of %zu bytes dripped in %.1f s", conn_no, off, n,
        now_s() - t0);
    free(frame);
}

/*
 * parts: SUMMARY parts with `more` set, each of SZ_MSG_MAX_SUMMARY_PUBLISHERS
 * made-up publishers holding sequence 1, before the one that names its own.
 * cut, cut-past: one such part, the made-up keys' first 4 bytes 00 (below
 * every real key but one in 4 billion) or ff (above), and no further part.
 */
static void
send_decoy_summaries(struct conn *c, enum evil_mode mode, unsigned long conn_no)
{
    size_t n = SZ_MSG_MAX_SUMMARY_PUBLISHERS, i, k, blen = 0;
    struct sz_msg_summary_src *pubs = calloc(n, sizeof *pubs);
    uint8_t *keys_ = malloc(n * SZ_PUBLIC_KEY_LEN), *body = malloc(SZ_MSG_MAX_LEN);
    struct sz_msg_range one = {1, 1};

    if (pubs == NULL || keys_ == NULL || body == NULL)
        die_local("out of memory");
    for (k = 0; k < (mode == EVIL_PARTS ? EVIL_DECOY_PARTS : 1); k++) {
        randombytes_buf(keys_, n * SZ_PUBLIC_KEY_LEN);
        for (i = 0; i < n; i++) {
            if (mode != EVIL_PARTS)
                memset(keys_ + i * SZ_PUBLIC_KEY_LEN, mode == EVIL_CUT_PAST ? 0xff : 0x00, 4);
            pubs[i].publisher = keys_ + i * SZ_PUBLIC_KEY_LEN;
            pubs[i].ranges = &one;
            pubs[i].n_ranges = 1;
        }
        /* In order of key, as a node sends them. */
        qsort(keys_, n, SZ_PUBLIC_KEY_LEN, cmp_key);
        if (sz_msg_encode_summary(true, pubs, n, body, SZ_MSG_MAX_LEN, &blen) != 0)
            die_local("cannot encode SUMMARY");
        send_body(c, body, blen);
        say("conn %lu: summary part %zu: %zu made-up publishers, more to come%s", conn_no, k + 1, n,
            mode == EVIL_CUT || mode == EVIL_CUT_PAST || mode == EVIL_CUT_CLOSE ? " (none will)"
                                                                                : "");
    }
    free(body);
    free(keys_);
    free(pubs);
}

static void
send_evil_summary(struct conn *c, enum evil_mode mode, unsigned long conn_no)
{
    size_t cap = n_evil_bundles + 1 + EVIL_MANY_ENTRIES + EVIL_SLOW_DECOYS, n_pubs = 0, n_rg = 0, i,
           blen = 0;
    struct sz_msg_summary_src *pubs = calloc(cap, sizeof *pubs);
    struct sz_msg_range *rg = calloc(cap, sizeof *rg), *many = NULL;
    size_t *pub_first = calloc(cap, sizeof *pub_first);
    uint8_t *body = malloc(SZ_MSG_MAX_LEN), *decoys = NULL;

    if (pubs == NULL || rg == NULL || pub_first == NULL || body == NULL)
        die_local("out of memory");
    if (mode == EVIL_PARTS || mode == EVIL_CUT || mode == EVIL_CUT_PAST ||
        mode == EVIL_SLOW_PARTS || mode == EVIL_CUT_CLOSE)
        send_decoy_summaries(c, mode, conn_no);
    if (mode == EVIL_CUT || mode == EVIL_CUT_PAST || mode == EVIL_CUT_CLOSE) {
        free(body);
        free(pub_first);
        free(rg);
        free(pubs);
        return;
    }
    for (i = 0; i < n_evil_bundles && mode != EVIL_OMIT && mode != EVIL_UNASKED; i++) {
        const struct evil_bundle *b = &evil_bundles[i];
        uint64_t seq = b->hdr.sequence;
        if (n_pubs == 0 ||
            memcmp(pubs[n_pubs - 1].publisher, b->hdr.publisher, SZ_PUBLIC_KEY_LEN) != 0) {
            pubs[n_pubs].publisher = b->hdr.publisher;
            pubs[n_pubs].ranges = &rg[n_rg];
            pubs[n_pubs].n_ranges = 0;
            pub_first[n_pubs] = n_rg;
            n_pubs++;
        }
        if (pubs[n_pubs - 1].n_ranges > 0 &&
            (rg[n_rg - 1].last == seq || rg[n_rg - 1].last + 1 == seq)) {
            rg[n_rg - 1].last = seq;
        } else {
            rg[n_rg].first = rg[n_rg].last = seq;
            n_rg++;
            pubs[n_pubs - 1].n_ranges++;
        }
    }
    for (i = 0; i < n_pubs; i++) {
        struct sz_msg_range *r0 = &rg[pub_first[i]];
        char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
        size_t k;
        if (mode == EVIL_OLD_AS_NEW) {
            uint64_t newest = r0[pubs[i].n_ranges - 1].last;
            uint64_t claim = opt.claim_last != 0 ? opt.claim_last : newest + 100;
            r0->last = claim > newest ? claim : newest;
            pubs[i].n_ranges = 1;
        }
        sz_hex(pubs[i].publisher, SZ_PUBLIC_KEY_LEN, hex);
        for (k = 0; k < pubs[i].n_ranges; k++)
            say("conn %lu: summary: publisher %.16s... sequences %llu-%llu", conn_no, hex,
                (unsigned long long)r0[k].first, (unsigned long long)r0[k].last);
    }
    if (mode == EVIL_MANYRANGES && n_pubs > 0) {
        /* The first publisher again and again, each time with as many single-sequence
         * ranges as one entry holds, above what it has, highest first: a reader that
         * inserts ranges one by one moves them all each time. */
        size_t per = SZ_MSG_MAX_SUMMARY_RANGES, n = EVIL_MANY_ENTRIES * per, k;
        uint64_t base = rg[pub_first[0] + pubs[0].n_ranges - 1].last + 2;
        many = calloc(n, sizeof *many);
        if (many == NULL)
            die_local("out of memory");
        for (k = 0; k < n; k++)
            many[k].first = many[k].last = base + 2 * (uint64_t)(n - 1 - k);
        for (k = 0; k < EVIL_MANY_ENTRIES; k++) {
            pubs[n_pubs].publisher = pubs[0].publisher;
            pubs[n_pubs].ranges = &many[k * per];
            pubs[n_pubs].n_ranges = per;
            n_pubs++;
        }
        say("conn %lu: summary: its first publisher %d times more, %zu single sequences from "
            "%llu",
            conn_no, EVIL_MANY_ENTRIES, n, (unsigned long long)base);
    }
    if (mode == EVIL_SLOW_PARTS) {
        /* Made-up publishers keyed above every real one, after its own. */
        size_t k;
        many = calloc(EVIL_SLOW_DECOYS, sizeof *many);
        decoys = malloc(EVIL_SLOW_DECOYS * SZ_PUBLIC_KEY_LEN);
        if (many == NULL || decoys == NULL)
            die_local("out of memory");
        randombytes_buf(decoys, EVIL_SLOW_DECOYS * SZ_PUBLIC_KEY_LEN);
        for (k = 0; k < EVIL_SLOW_DECOYS; k++)
            memset(decoys + k * SZ_PUBLIC_KEY_LEN, 0xff, 4);
        qsort(decoys, EVIL_SLOW_DECOYS, SZ_PUBLIC_KEY_LEN, cmp_key);
        for (k = 0; k < EVIL_SLOW_DECOYS; k++) {
            many[k].first = many[k].last = 1;
            pubs[n_pubs].publisher = decoys + k * SZ_PUBLIC_KEY_LEN;
            pubs[n_pubs].ranges = &many[k];
            pubs[n_pubs].n_ranges = 1;
            n_pubs++;
        }
    }
    if (sz_msg_encode_summary(false, pubs, n_pubs, body, SZ_MSG_MAX_LEN, &blen) != 0)
        die_local("cannot encode SUMMARY");
    if (mode == EVIL_SLOW_PARTS)
        send_body_drip(c, body, blen, conn_no);
    else
        send_body(c, body, blen);
    free(decoys);
    free(many);
    free(body);
    free(pub_first);
    free(rg);
    free(pubs);
}

/* Sends one whole bundle: in a BUNDLES message when the link agreed on batch, else BUNDLE chunks.
 */
static void
send_whole_bundle(struct conn *c, const uint8_t *b, size_t len)
{
    uint8_t *body;
    size_t blen = 0;

    if ((sz_link_features(c->link) & SZ_FEATURE_BATCH) == 0) {
        send_bundle(c, b, len);
        return;
    }
    body = malloc(SZ_MSG_MAX_LEN);
    if (body == NULL)
        die_local("out of memory");
    if (sz_msg_encode_bundles(&b, &len, 1, body, SZ_MSG_MAX_LEN, &blen) != 0)
        die_local("cannot encode BUNDLES");
    send_body(c, body, blen);
    free(body);
}

/* Prints what was served: the test looks for these bytes in the library. */
static void
say_served(unsigned long conn_no, const char *what, const struct evil_bundle *b,
           const uint8_t *bytes, size_t len, const struct range_req *q)
{
    uint8_t sha[crypto_hash_sha256_BYTES];
    char sha_hex[2 * crypto_hash_sha256_BYTES + 1], id_hex[2 * SZ_BUNDLE_ID_LEN + 1];

    crypto_hash_sha256(sha, bytes, len);
    sz_hex(sha, sizeof sha, sha_hex);
    sz_bundle_id_hex(b->id, id_hex);
    say("conn %lu: served: %s sequence %llu for range %llu-%llu, %zu of %zu bytes, id %s, "
        "sha256 %s",
        conn_no, what, (unsigned long long)b->hdr.sequence, (unsigned long long)q->first,
        (unsigned long long)q->last, len, b->len, id_hex, sha_hex);
}

/*
 * Answers one REQUEST_RANGE the evil way. Returns false when the connection
 * is to be closed now (truncated).
 */
/* repeat: BUNDLES messages full of copies of b (--frames of them), each sent before the next. */
static bool
evil_repeat(struct conn *c, const struct evil_bundle *b, const struct range_req *q,
            unsigned long conn_no)
{
    size_t per = (SZ_MSG_MAX_LEN - 3) / (4 + b->len), k, blen = 0;
    unsigned long frames = opt.frames > 0 ? opt.frames : EVIL_REPEAT_FRAMES, f;
    const uint8_t **ptrs;
    size_t *lens;
    uint8_t *body = malloc(SZ_MSG_MAX_LEN);

    if (per > SZ_MSG_MAX_BUNDLES)
        per = SZ_MSG_MAX_BUNDLES;
    ptrs = calloc(per + 1, sizeof *ptrs);
    lens = calloc(per + 1, sizeof *lens);
    if (body == NULL || ptrs == NULL || lens == NULL)
        die_local("out of memory");
    for (k = 0; k < per; k++) {
        ptrs[k] = b->raw;
        lens[k] = b->len;
    }
    if ((sz_link_features(c->link) & SZ_FEATURE_BATCH) == 0 ||
        sz_msg_encode_bundles(ptrs, lens, per, body, SZ_MSG_MAX_LEN, &blen) != 0)
        die_local("repeat needs --batch, and a bundle that fits in BUNDLES");
    for (f = 0; f < frames && !c->closed && c->link_err == 0; f++) {
        send_body(c, body, blen);
        (void)conn_pump(c, HANDSHAKE_WAIT_MS, out_empty);
    }
    say_served(conn_no, "copies of", b, b->raw, b->len, q);
    say("conn %lu: sent %lu BUNDLES messages of %zu copies each", conn_no, f, per);
    free(lens);
    free(ptrs);
    free(body);
    return !c->closed;
}

/* slowloris: b one byte at a time, --rate bytes a second (0.2), for as long as the peer stays. */
static void
evil_drip(struct conn *c, const struct evil_bundle *b, unsigned long conn_no)
{
    double every = 1.0 / (opt.rate > 0 ? opt.rate : 0.2);
    size_t off;

    for (off = 0; off < b->len && !c->closed && c->link_err == 0; off++) {
        send_chunk(c, b->len, off, b->raw + off, 1);
        (void)conn_pump(c, (int)(every * 1000), NULL);
    }
    say("conn %lu: dripped %zu of %zu bytes of sequence %llu", conn_no, off, b->len,
        (unsigned long long)b->hdr.sequence);
}

/* Whether seq is in one of a REQUEST_SPARSE's ranges (a REQUEST_RANGE: true). */
static bool
in_sub(const struct range_req *q, uint64_t seq)
{
    size_t k;

    for (k = 0; k < q->n_sub; k++)
        if (seq >= q->sub[k].first && seq <= q->sub[k].last)
            return true;
    return q->n_sub == 0;
}

static bool
serve_evil_range(struct conn *c, enum evil_mode mode, const struct range_req *q,
                 unsigned long conn_no)
{
    struct sz_msg m;
    uint32_t sent = 0;
    size_t i;

    if (mode == EVIL_CUT_CLOSE) {
        say("conn %lu: closes the link instead of answering", conn_no);
        return false;
    }
    for (i = 0; i < n_evil_bundles && mode != EVIL_WITHHOLD && mode != EVIL_MANYRANGES; i++) {
        const struct evil_bundle *b = &evil_bundles[i];
        if (memcmp(b->hdr.publisher, q->publisher, SZ_PUBLIC_KEY_LEN) != 0)
            continue;
        if (mode == EVIL_OLD_AS_NEW) {
            /* The oldest bundle, genuine, whatever newer range was asked. */
            send_whole_bundle(c, b->raw, b->len);
            say_served(conn_no, "old bundle", b, b->raw, b->len, q);
            sent++;
            break;
        }
        if (b->hdr.sequence < q->first || b->hdr.sequence > q->last || !in_sub(q, b->hdr.sequence))
            continue;
        if (mode == EVIL_HONEST || mode == EVIL_PARTS || mode == EVIL_FAKEEQ || mode == EVIL_CUT ||
            mode == EVIL_CUT_PAST || mode == EVIL_SLOW_PARTS) {
            send_whole_bundle(c, b->raw, b->len);
            say_served(conn_no, "genuine", b, b->raw, b->len, q);
            sent++;
            continue;
        }
        if (mode == EVIL_REPEAT) {
            if (!evil_repeat(c, b, q, conn_no))
                return false;
            sent++;
            break;
        }
        if (mode == EVIL_SLOWLORIS) {
            evil_drip(c, b, conn_no);
            return false;
        }
        if (mode == EVIL_TRUNCATED) {
            size_t half = b->len / 2 > 0 ? b->len / 2 : 1;
            send_chunk(c, b->len, 0, b->raw, half);
            say_served(conn_no, "first half of", b, b->raw, half, q);
            return false;
        }
        {
            uint8_t *t = malloc(b->len);
            if (t == NULL)
                die_local("out of memory");
            memcpy(t, b->raw, b->len);
            bool altered = false;
            if (mode == EVIL_TAMPERED_SIG)
                t[SZ_BUNDLE_HEADER_LEN] ^= 0x01; /* the first signature byte */
            else if (mode == EVIL_BIGHDR)
                sz_store64(t + 64, SZ_BUNDLE_MAX_CONTENT_LEN); /* content_len (BUNDLE.md 1.1) */
            else if (!(altered = alter_content(t, b->len)))
                t[b->len - 1] ^= 0x01; /* the last payload byte */
            send_whole_bundle(c, t, b->len);
            say_served(conn_no,
                       mode == EVIL_TAMPERED_SIG ? "signature-flipped"
                       : mode == EVIL_BIGHDR     ? "1 GiB-declaring"
                       : altered                 ? "content-altered"
                                                 : "payload-flipped",
                       b, t, b->len, q);
            free(t);
            sent++;
        }
    }
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_RANGE_DONE;
    memcpy(m.publisher, q->publisher, SZ_PUBLIC_KEY_LEN);
    m.first = q->first;
    m.last = q->last;
    m.sent = sent;
    send_msg(c, &m);
    return true;
}

/* Endless ANNOUNCEs of random ids (the first bundle's publisher, if any) until the peer leaves. */
static void
evil_flood(struct conn *c, unsigned long conn_no)
{
    struct sz_msg_announce *e = calloc(SZ_MSG_MAX_ANNOUNCE, sizeof *e);
    uint8_t *body = malloc(SZ_MSG_MAX_ANNOUNCE_LEN), publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t seq = 1000000, sent = 0, n_msgs = 0;
    double t0 = now_s(), next = t0;
    /* --rate: one ANNOUNCE every 0.1 s; otherwise as fast as the socket takes them. */
    size_t per_msg = opt.rate > 0 ? (size_t)(opt.rate / 10) : SZ_MSG_MAX_ANNOUNCE;

    if (e == NULL || body == NULL)
        die_local("out of memory");
    if (n_evil_bundles > 0)
        memcpy(publisher, evil_bundles[0].hdr.publisher, SZ_PUBLIC_KEY_LEN);
    else
        randombytes_buf(publisher, sizeof publisher);
    if (per_msg < 1)
        per_msg = 1;
    if (per_msg > SZ_MSG_MAX_ANNOUNCE)
        per_msg = SZ_MSG_MAX_ANNOUNCE;
    while (!c->closed && c->link_err == 0) {
        bool due = opt.rate > 0 ? now_s() >= next : c->out_len < FLOOD_OUT_LOW;
        if (due) {
            size_t i, blen = 0;
            for (i = 0; i < per_msg; i++) {
                memcpy(e[i].publisher, publisher, SZ_PUBLIC_KEY_LEN);
                e[i].sequence = seq++;
                randombytes_buf(e[i].id, SZ_BUNDLE_ID_LEN);
                e[i].size = 1000;
            }
            if (sz_msg_encode_announce(e, per_msg, body, SZ_MSG_MAX_ANNOUNCE_LEN, &blen) != 0)
                die_local("cannot encode ANNOUNCE");
            send_body(c, body, blen);
            sent += per_msg;
            n_msgs++;
            next += 0.1;
        }
        if (opt.rate > 0)
            (void)conn_pump(c, 20, NULL);
        else
            (void)conn_pump(c, c->out_len < FLOOD_OUT_LOW ? 0 : 100, NULL);
        for (; c->n_ranges > 0; c->n_ranges--)
            say("conn %lu: REQUEST_RANGE %llu-%llu (not served)", conn_no,
                (unsigned long long)c->ranges[c->n_ranges - 1].first,
                (unsigned long long)c->ranges[c->n_ranges - 1].last);
    }
    say("conn %lu: flooded %llu ids in %llu ANNOUNCE messages in %.1f s", conn_no,
        (unsigned long long)sent, (unsigned long long)n_msgs, now_s() - t0);
    free(e);
    free(body);
}

static bool
has_range_req(const struct conn *c)
{
    return c->n_ranges > 0;
}

/*
 * pingflood: once a range is asked, never reads again and writes PINGs as
 * fast as the socket takes them, plus one byte of a bundle of that range
 * every EVIL_PINGFLOOD_DRIP_S (bundle bytes keep a simple stall check
 * quiet), until the peer leaves. A reader that answers every PING and keeps
 * reading queues PONGs without end.
 */
static void
evil_pingflood(struct conn *c, unsigned long conn_no)
{
    const struct evil_bundle *b = &evil_bundles[0];
    uint64_t n_ping = 0, off = 0;
    double t0 = now_s(), next_drip = t0;
    size_t i;

    if (conn_pump(c, request_wait_ms, has_range_req) != 0) {
        say("conn %lu: no range asked", conn_no);
        return;
    }
    for (i = 0; i < n_evil_bundles; i++)
        if (memcmp(evil_bundles[i].hdr.publisher, c->ranges[0].publisher, SZ_PUBLIC_KEY_LEN) == 0 &&
            evil_bundles[i].hdr.sequence >= c->ranges[0].first &&
            evil_bundles[i].hdr.sequence <= c->ranges[0].last) {
            b = &evil_bundles[i];
            break;
        }
    say("conn %lu: REQUEST_RANGE %llu-%llu; reading no more, flooding PINGs", conn_no,
        (unsigned long long)c->ranges[0].first, (unsigned long long)c->ranges[0].last);
    while (!c->closed && c->link_err == 0) {
        struct pollfd pfd = {c->fd, POLLOUT, 0};
        if (now_s() >= next_drip && off < b->len) {
            send_chunk(c, b->len, off, b->raw + off, 1);
            off++;
            next_drip += EVIL_PINGFLOOD_DRIP_S;
        }
        while (c->out_len < FLOOD_OUT_LOW) {
            struct sz_msg m;
            memset(&m, 0, sizeof m);
            m.type = SZ_MSG_PING;
            m.nonce = n_ping++;
            send_msg(c, &m);
        }
        if (poll(&pfd, 1, 100) > 0)
            (void)conn_io(c, pfd.revents, 0); /* writes only */
    }
    say("conn %lu: sent %llu PINGs in %.1f s", conn_no, (unsigned long long)n_ping, now_s() - t0);
}

/* unasked: the start of a bundle, with nothing asked (its SUMMARY named no publisher). */
static void
evil_unasked(struct conn *c, unsigned long conn_no)
{
    const struct evil_bundle *b = &evil_bundles[0];

    send_chunk(c, EVIL_UNASKED_TOTAL, 0, b->raw, 1);
    say("conn %lu: sent the first byte of a %u-byte bundle nobody asked for", conn_no,
        EVIL_UNASKED_TOTAL);
    (void)conn_pump(c, (int)(opt.max_s * 1000), NULL);
}

/* One fetching peer: the handshake as responder, HELLO, SUMMARY, then the attack. */
static void
evil_session(int fd, enum evil_mode mode, unsigned long conn_no)
{
    struct conn c;
    int one = 1;

    memset(&c, 0, sizeof c);
    c.fd = fd;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        die_local("fcntl O_NONBLOCK failed");
    c.t_start = now_s();
    if (sz_link_new(SZ_LINK_RESPONDER, &keys, (int64_t)time(NULL), &c.link) != 0)
        die_local("sz_link_new failed");
    if (conn_pump(&c, HANDSHAKE_WAIT_MS, is_open) != 0 || c.link_err != 0) {
        say("conn %lu: handshake failed (%s)", conn_no,
            c.closed ? "the peer closed" : "no valid first message");
        conn_free(&c);
        return;
    }
    say("conn %lu: link open%s", conn_no,
        (sz_link_features(c.link) & SZ_FEATURE_BATCH) != 0 ? " (batch: whole bundles in BUNDLES)"
                                                           : "");
    send_hello(&c);
    send_evil_summary(&c, mode, conn_no);
    if (mode == EVIL_FAKEEQ && n_evil_bundles > 0) {
        /* Two made-up ids for its newest bundle's sequence: a claim with nothing behind it. */
        const struct evil_bundle *b = &evil_bundles[n_evil_bundles - 1];
        struct sz_msg m;
        memset(&m, 0, sizeof m);
        m.type = SZ_MSG_EQUIVOCATION;
        memcpy(m.publisher, b->hdr.publisher, SZ_PUBLIC_KEY_LEN);
        m.sequence = b->hdr.sequence;
        randombytes_buf(m.id, SZ_BUNDLE_ID_LEN);
        randombytes_buf(m.id_b, SZ_BUNDLE_ID_LEN);
        send_msg(&c, &m);
        say("conn %lu: EQUIVOCATION of sequence %llu with two made-up ids", conn_no,
            (unsigned long long)m.sequence);
    }
    if (opt.answer_delay > 0) /* hold the claims a while (REQUEST_RANGEs queue up) */
        (void)conn_pump(&c, (int)(opt.answer_delay * 1000), NULL);
    if (mode == EVIL_FLOOD) {
        evil_flood(&c, conn_no);
    } else if (mode == EVIL_PINGFLOOD) {
        evil_pingflood(&c, conn_no);
    } else if (mode == EVIL_UNASKED) {
        evil_unasked(&c, conn_no);
    } else {
        while (!c.closed && c.link_err == 0) {
            (void)conn_pump(&c, 1000, has_range_req);
            while (c.n_ranges > 0 && !c.closed) {
                struct range_req q = c.ranges[0];
                memmove(&c.ranges[0], &c.ranges[1], (c.n_ranges - 1) * sizeof c.ranges[0]);
                c.n_ranges--;
                if (q.n_sub > 0)
                    say("conn %lu: REQUEST_SPARSE %llu-%llu, %zu ranges", conn_no,
                        (unsigned long long)q.first, (unsigned long long)q.last, q.n_sub);
                else
                    say("conn %lu: REQUEST_RANGE %llu-%llu", conn_no, (unsigned long long)q.first,
                        (unsigned long long)q.last);
                if (!serve_evil_range(&c, mode, &q, conn_no)) {
                    /* Truncated: let the half bundle go out, then end the stream
                     * (cut-close: ends it with nothing sent). */
                    (void)conn_pump(&c, HANDSHAKE_WAIT_MS, out_empty);
                    (void)shutdown(c.fd, SHUT_WR);
                    say("conn %lu: closed mid-bundle", conn_no);
                    (void)conn_pump(&c, HANDSHAKE_WAIT_MS, NULL);
                    conn_free(&c);
                    return;
                }
            }
        }
    }
    say("conn %lu: the peer left after %.1f s (%llu REQUEST_RANGE, %llu REQUEST_SPARSE)%s%s",
        conn_no, now_s() - c.t_start, (unsigned long long)(c.n_ranges_total - c.n_sparse),
        (unsigned long long)c.n_sparse, c.goodbye ? ", GOODBYE: " : "",
        c.goodbye ? c.goodbye_text : "");
    conn_free(&c);
}

/*
 * serve-evil MODE --listen HOST:PORT --bundles DIR: a malicious relay. Prints
 * the port it listens on as the first line, then serves every connection (one
 * process each, at most --max-seconds) the MODE's way. Runs until killed.
 */
static int
cmd_serve_evil(const char *mode_name)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int lfd, one = 1, mode;
    unsigned long conn_no = 0;

    for (mode = 0; mode < EVIL_N_MODES; mode++)
        if (strcmp(mode_name, evil_mode_names[mode]) == 0)
            break;
    if (mode == EVIL_N_MODES)
        die_local("serve-evil MODE: tampered, tampered-sig, old-as-new, truncated, flood, "
                  "withhold, honest, omit, parts, unasked, pingflood, slowloris, manyranges, "
                  "repeat, fakeeq, bighdr, cut, cut-past, slow-parts or cut-close");
    if (opt.bundles != NULL)
        load_evil_bundles(opt.bundles);
    if (opt.batch)
        keys.features |= SZ_FEATURE_BATCH;
    if (opt.sparse)
        keys.features |= SZ_FEATURE_SPARSE;
    if (n_evil_bundles == 0 && mode != EVIL_FLOOD)
        die_local("serve-evil needs --bundles DIR holding at least one bundle");
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die_local("socket failed");
    (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(opt.port);
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
        die_local("--listen takes an IPv4 HOST:PORT");
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0)
        die_local("cannot listen on the --listen address");
    say("%u", (unsigned)ntohs(sa.sin_port));
    say("serve-evil %s on %s:%u with %zu bundles", mode_name, opt.host,
        (unsigned)ntohs(sa.sin_port), n_evil_bundles);
    signal(SIGCHLD, SIG_IGN); /* no zombies */
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        pid_t pid;
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die_local("accept failed");
        }
        conn_no++;
        say("conn %lu: accepted", conn_no);
        pid = fork();
        if (pid == 0) {
            close(lfd);
#ifdef __linux__
            (void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* killing the server ends its sessions */
#endif
            alarm((unsigned)opt.max_s);
            evil_session(fd, (enum evil_mode)mode, conn_no);
            say("conn %lu: ended", conn_no);
            _exit(0);
        }
        if (pid < 0)
            say("conn %lu: ended: fork failed: %s", conn_no, strerror(errno));
        close(fd);
    }
}

/* ---- main ---- */

static void
usage(void)
{
    fputs("usage: adversary COMMAND HOST:PORT [ARG] [OPTIONS]\n"
          "\n"
          "An adversarial samizdat peer for tests. Commands:\n"
          "  probe                    connections without the network key: no byte back\n"
          "  garbage                  handshake, then random bytes: dropped, banned\n"
          "  oversize [LEN]           handshake, then a frame with sealed length LEN\n"
          "                           (default SZ_MAX_FRAME_LEN + 1): dropped, banned\n"
          "  truncated                handshake, half a frame, close: not banned\n"
          "  bad-signature BUNDLE     announce, wait for REQUEST, send it with a bad\n"
          "                           signature: GOODBYE, close, banned (--hang-up: a\n"
          "                           bad last byte, and close at once: banned)\n"
          "  push-unwanted BUNDLE     send a bundle nobody asked for (with --bait B:\n"
          "                           announce B, answer its REQUEST with BUNDLE)\n"
          "  equiv-flood DIR          on a REQUEST_RANGE, every DIR/*.bundle (one publisher,\n"
          "                           one sequence); the store keeps two\n"
          "  bombs [N]                N valid bundles (100) of a few KB that inflate to\n"
          "                           62 MB each, in one BUNDLES on a REQUEST_RANGE\n"
          "  flood [N]                N announcements (default 100000); requests bounded\n"
          "                           (--not-found: every id asked is answered NOT_FOUND)\n"
          "                           (--again S: the same again S seconds later, on the\n"
          "                           same link)\n"
          "  slow                     trickle a frame one byte a second (--handshake:\n"
          "                           trickle message 1; abandoned after 10 s)\n"
          "  idle-connections [N]     N connections that never start the handshake\n"
          "  peers-inject PORT [N]    PEERS naming 127.0.0.1:PORT.. (N of them, 8),\n"
          "                           sent unasked; then --hold seconds (5)\n"
          "  hold-links [N]           N links (64), a node key each, kept open and\n"
          "                           answering PINGs for --hold seconds (30)\n"
          "  dup-announce BUNDLE      announce it twice in one ANNOUNCE, close on its\n"
          "                           REQUEST; a new link, silent for --hold seconds\n"
          "                           (7), gets no REQUEST, then announces and sends it\n"
          "  request-range BUNDLE...  REQUEST_RANGE over their sequences (one publisher):\n"
          "                           each once, then RANGE_DONE (--hold, default 10)\n"
          "  request-sparse BUNDLE... REQUEST_SPARSE of their sequences alone (one\n"
          "                           publisher): each once, nothing else, then RANGE_DONE;\n"
          "                           then on a link without the feature (link closed)\n"
          "  request-many BUNDLE...   one REQUEST of their ids (at most 64): each answered\n"
          "                           by its bundle or NOT_FOUND (--hold, default 30)\n"
          "  request-part BUNDLE      REQUEST_PART at its end (NOT_FOUND), for its last\n"
          "                           1000 bytes (those), then again (link closed)\n"
          "  prefix-drop BUNDLE       announce it; when asked (--hold, default 10), send\n"
          "                           --bytes of it (2 MiB): its real header and signature,\n"
          "                           then garbage (--real: its real bytes); then cut the\n"
          "                           link without GOODBYE\n"
          "  summary-flood [N]        N SUMMARY messages of 1 MiB (default 1500), the\n"
          "                           daemon's own ranges repeated; at most --seconds\n"
          "  bundle-repeat BUNDLE     SUMMARY claiming it; on REQUEST_RANGE, BUNDLES full\n"
          "                           of copies of it for --seconds or --frames messages,\n"
          "                           never RANGE_DONE\n"
          "  ping-flood               PING and GET_PEERS as fast as they go for --seconds\n"
          "                           (10), never reading; then the replies queued\n"
          "                           meanwhile must stay under 8 MiB + tcp_wmem's max\n"
          "  slow-read BUNDLE...      REQUEST_RANGE over their sequences (one publisher,\n"
          "                           more than is read), read at --rate bytes a second\n"
          "                           (100000) for --seconds (80): the link is kept\n"
          "  slow-bundle BUNDLE       announce it; on REQUEST send it at --rate bytes a\n"
          "                           second (30000), past the 30 s request timeout:\n"
          "                           the link is kept\n"
          "  fake-announce PK [N]     --links links (4) announce N made-up ids each\n"
          "                           (5000) of publisher key file PK, answer nothing for\n"
          "                           --hold seconds (50): at most 16 requests a link\n"
          "                           (--addresses A: the links come from A addresses,\n"
          "                           --from and the next ones)\n"
          "  hoard BUNDLE...          --links links (48) ask for the bundles and read\n"
          "                           nothing for --hold seconds (30)\n"
          "  fill PK [SIZE]           --links links (48) announce a made-up bundle of\n"
          "                           publisher key file PK claiming SIZE bytes (24 MiB),\n"
          "                           send all but its last byte when asked, then nothing\n"
          "                           for --hold seconds (40); at most --seconds in all\n"
          "\n"
          "usage: adversary serve-evil MODE [--listen HOST:PORT] --bundles DIR\n"
          "\n"
          "A malicious relay for `samizdat fetch`: listens (default 127.0.0.1:0), prints\n"
          "its port as the first line, runs the handshake as responder, says SUMMARY\n"
          "with the bundles of DIR, and answers REQUEST_RANGE the MODE's way:\n"
          "  tampered                 the asked bundles with one payload byte flipped\n"
          "  tampered-sig             the asked bundles with one signature byte flipped\n"
          "  old-as-new               claims sequences up to --claim-last (default its\n"
          "                           newest + 100); answers with its oldest bundle\n"
          "  truncated                half of the first asked bundle, then closes\n"
          "  flood                    endless ANNOUNCEs of random ids; serves nothing\n"
          "                           (--rate N: N ids a second, default no limit)\n"
          "  withhold                 offers its bundles in SUMMARY, then answers every\n"
          "                           REQUEST_RANGE with RANGE_DONE and no bundle\n"
          "  honest                   serves the asked bundles as they are\n"
          "  omit                     a SUMMARY that names no publisher; serves nothing\n"
          "  parts                    SUMMARY in 3 parts (more = 1 on the first two, of\n"
          "                           1024 made-up publishers each); serves honestly\n"
          "  unasked                  a SUMMARY naming no publisher, then the first byte\n"
          "                           of an 8 MiB bundle nobody asked for\n"
          "  pingflood                once a range is asked, reads nothing more and sends\n"
          "                           PINGs as fast as they go, and one byte of the bundle\n"
          "                           every 20 s\n"
          "  slowloris                answers the first range asked with one byte of its\n"
          "                           bundle at a time, --rate bytes a second (0.2)\n"
          "  manyranges               a 1 MiB SUMMARY: its publisher again 63 times with\n"
          "                           1024 made-up single sequences each; answers every\n"
          "                           REQUEST_RANGE with RANGE_DONE and no bundle\n"
          "  repeat                   with --batch: answers a range with --frames (64)\n"
          "                           BUNDLES messages full of copies of its bundle\n"
          "  fakeeq                   serves its bundles honestly, and sends an\n"
          "                           EQUIVOCATION of its newest sequence with two\n"
          "                           made-up ids (which it cannot send)\n"
          "  bighdr                   the asked bundles, their header changed to declare\n"
          "                           1 GiB of articles (so their signature fails)\n"
          "  cut                      one SUMMARY part saying more will follow (1024\n"
          "                           made-up publishers keyed below any real one), then\n"
          "                           no further part; serves honestly what is asked\n"
          "  cut-past                 the same, the made-up keys above any real one\n"
          "  slow-parts               cut's part, then a last one of its own publishers\n"
          "                           and 1000 made-up ones keyed above them, written\n"
          "                           --rate bytes a second (6000); serves honestly\n"
          "  cut-close                cut's part; closes the link when a range is asked\n"
          "\n"
          "Options:\n"
          "  --from IP                source address of the connections (127.0.0.x)\n"
          "  --key-check-from IP      after a ban, also reconnect from IP with the same\n"
          "                           node key: must get GOODBYE banned after the\n"
          "                           handshake, and be closed\n"
          "  --network-key HEX        network key (default: the built-in one)\n"
          "  --node-key FILE          the node key in FILE (a daemon's node.key), not\n"
          "                           a random one\n"
          "  --bait BUNDLE            push-unwanted: bundle to announce first\n"
          "  --hold SECONDS           flood, idle-connections, fake-announce: time to\n"
          "                           stay connected; dup-announce, request-range,\n"
          "                           request-many, prefix-drop: wait\n"
          "  --seconds SECONDS        slow: time to trickle (default 20); summary-flood,\n"
          "                           bundle-repeat (20), ping-flood: time to send;\n"
          "                           slow-read: time to read\n"
          "  --request-wait SECONDS   time to wait for the daemon's REQUEST or\n"
          "                           REQUEST_RANGE of what was offered (default 15)\n"
          "  --frames N               bundle-repeat: at most N BUNDLES messages;\n"
          "                           serve-evil repeat: BUNDLES messages per range\n"
          "  --rate N                 slow-read, slow-bundle, serve-evil slowloris and\n"
          "                           slow-parts: bytes\n"
          "                           a second; serve-evil flood: ids announced a second\n"
          "  --links N                fake-announce, hoard: links opened, each a new node key\n"
          "  --addresses N            fake-announce: spread the links over N addresses\n"
          "  --bytes N                prefix-drop: bytes of the bundle sent\n"
          "  --real                   prefix-drop: its real bytes, not garbage\n"
          "  --handshake              slow: trickle the handshake\n"
          "  --listen HOST:PORT       serve-evil: address to listen on\n"
          "  --bundles DIR            serve-evil: the bundles it holds\n"
          "  --claim-last SEQ         serve-evil old-as-new: last sequence it claims\n"
          "  --max-seconds S          serve-evil: lifetime of one session (120)\n"
          "  --answer-delay S         serve-evil: wait S seconds after SUMMARY before\n"
          "                           answering (or flooding)\n"
          "  --batch                  serve-evil: offer the batch feature; when agreed,\n"
          "                           whole bundles go in BUNDLES (truncated: BUNDLE)\n"
          "  --sparse                 serve-evil: offer the sparse feature; a REQUEST_SPARSE\n"
          "                           is answered as the MODE answers a range, its gaps left out\n",
          stderr);
    exit(2);
}

int
main(int argc, char **argv)
{
    /* COMMAND, HOST:PORT, then ARG or, for request-range and request-many, the bundles. */
    const char *cmd, *target, *arg, *colon, *pos[2 + MAX_TRACKED] = {NULL};
    int i, n_pos = 0;
    bool serve;

    if (sodium_init() < 0)
        die_local("sodium_init failed");
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    memcpy(keys.network_key, SZ_DEFAULT_NETWORK_KEY, SZ_NETWORK_KEY_LEN);
    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(o, "--", 2) != 0) {
            if (n_pos == 2 + MAX_TRACKED)
                usage();
            pos[n_pos++] = o;
            continue;
        }
        if (strcmp(o, "--handshake") == 0) {
            opt.slow_handshake = true;
            continue;
        }
        if (strcmp(o, "--real") == 0) {
            opt.real = true;
            continue;
        }
        if (strcmp(o, "--batch") == 0) {
            opt.batch = true;
            continue;
        }
        if (strcmp(o, "--sparse") == 0) {
            opt.sparse = true;
            continue;
        }
        if (strcmp(o, "--not-found") == 0) {
            opt.not_found = true;
            continue;
        }
        if (strcmp(o, "--hang-up") == 0) {
            opt.hang_up = true;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(o, "--from") == 0)
            opt.from = v;
        else if (strcmp(o, "--key-check-from") == 0)
            opt.key_check_from = v;
        else if (strcmp(o, "--bait") == 0)
            opt.bait = v;
        else if (strcmp(o, "--node-key") == 0)
            opt.node_key = v;
        else if (strcmp(o, "--hold") == 0)
            opt.hold_s = atof(v);
        else if (strcmp(o, "--again") == 0)
            opt.again_s = atof(v);
        else if (strcmp(o, "--seconds") == 0)
            opt.seconds = atof(v);
        else if (strcmp(o, "--request-wait") == 0) {
            double w = atof(v);
            if (!(w > 0 && w <= 600))
                die_local("--request-wait takes seconds, more than 0 and at most 600");
            request_wait_ms = (int)(w * 1000);
        } else if (strcmp(o, "--frames") == 0)
            opt.frames = strtoul(v, NULL, 10);
        else if (strcmp(o, "--listen") == 0)
            opt.listen = v;
        else if (strcmp(o, "--bundles") == 0)
            opt.bundles = v;
        else if (strcmp(o, "--claim-last") == 0)
            opt.claim_last = strtoull(v, NULL, 10);
        else if (strcmp(o, "--max-seconds") == 0)
            opt.max_s = atof(v);
        else if (strcmp(o, "--rate") == 0)
            opt.rate = atof(v);
        else if (strcmp(o, "--answer-delay") == 0)
            opt.answer_delay = atof(v);
        else if (strcmp(o, "--links") == 0)
            opt.links = strtoul(v, NULL, 10);
        else if (strcmp(o, "--addresses") == 0)
            opt.addresses = strtoul(v, NULL, 10);
        else if (strcmp(o, "--bytes") == 0)
            opt.bytes = strtoul(v, NULL, 0);
        else if (strcmp(o, "--network-key") == 0) {
            if (sz_unhex(v, strlen(v), keys.network_key, SZ_NETWORK_KEY_LEN) != 0)
                die_local("--network-key takes 64 hex digits");
        } else
            usage();
    }
    if (n_pos < 2)
        usage();
    cmd = pos[0];
    serve = strcmp(cmd, "serve-evil") == 0;
    if (serve && (n_pos != 2 || opt.max_s < 1))
        usage();
    target = serve ? (opt.listen != NULL ? opt.listen : "127.0.0.1:0") : pos[1];
    arg = pos[2];
    colon = strrchr(target, ':');
    if (colon == NULL || colon == target || (size_t)(colon - target) >= 64)
        usage();
    {
        static char host[64];
        long port = strtol(colon + 1, NULL, 10);
        memcpy(host, target, (size_t)(colon - target));
        host[colon - target] = '\0';
        if (port < (serve ? 0 : 1) || port > 65535)
            usage();
        opt.host = host;
        opt.port = (uint16_t)port;
    }
    /* A fresh random node key: this adversary is nobody the daemon knows;
     * with --node-key, a daemon's own (to have that key banned). */
    if (opt.node_key != NULL) {
        size_t klen;
        uint8_t *k = read_file(opt.node_key, &klen);
        if (klen != SZ_NODE_KEY_LEN)
            die_local("--node-key: not a node key (32 bytes)");
        memcpy(keys.node_sk, k, SZ_NODE_KEY_LEN);
        sodium_memzero(k, klen);
        free(k);
    } else {
        randombytes_buf(keys.node_sk, SZ_NODE_KEY_LEN);
    }
    crypto_scalarmult_base(keys.node_pk, keys.node_sk);
    if (serve)
        return cmd_serve_evil(pos[1]);
    say("adversary %s against %s:%u from %s", cmd, opt.host, (unsigned)opt.port,
        opt.from != NULL ? opt.from : "any address");

    if (n_pos > 3 && strcmp(cmd, "request-range") != 0 && strcmp(cmd, "request-many") != 0 &&
        strcmp(cmd, "request-sparse") != 0 && strcmp(cmd, "slow-read") != 0 &&
        strcmp(cmd, "hoard") != 0 &&
        !(n_pos == 4 && (strcmp(cmd, "fake-announce") == 0 || strcmp(cmd, "fill") == 0 ||
                         strcmp(cmd, "peers-inject") == 0)))
        usage();
    if (strcmp(cmd, "probe") == 0 && arg == NULL)
        return cmd_probe();
    if (strcmp(cmd, "garbage") == 0 && arg == NULL)
        return cmd_garbage();
    if (strcmp(cmd, "oversize") == 0)
        return cmd_oversize(arg);
    if (strcmp(cmd, "truncated") == 0 && arg == NULL)
        return cmd_truncated();
    if (strcmp(cmd, "bad-signature") == 0 && arg != NULL)
        return cmd_bad_signature(arg);
    if (strcmp(cmd, "push-unwanted") == 0 && arg != NULL)
        return cmd_push_unwanted(arg);
    if (strcmp(cmd, "flood") == 0)
        return cmd_flood(arg);
    if (strcmp(cmd, "slow") == 0 && arg == NULL)
        return cmd_slow();
    if (strcmp(cmd, "idle-connections") == 0)
        return cmd_idle(arg);
    if (strcmp(cmd, "hold-links") == 0)
        return cmd_hold_links(arg);
    if (strcmp(cmd, "peers-inject") == 0)
        return cmd_peers_inject(arg, n_pos > 3 ? pos[3] : NULL);
    if (strcmp(cmd, "request-range") == 0 && arg != NULL)
        return cmd_request_range(&pos[2], (size_t)(n_pos - 2));
    if (strcmp(cmd, "request-sparse") == 0 && arg != NULL)
        return cmd_request_sparse(&pos[2], (size_t)(n_pos - 2));
    if (strcmp(cmd, "request-part") == 0 && arg != NULL && n_pos == 3)
        return cmd_request_part(arg);
    if (strcmp(cmd, "prefix-drop") == 0 && arg != NULL)
        return cmd_prefix_drop(arg);
    if (strcmp(cmd, "request-many") == 0 && arg != NULL)
        return cmd_request_many(&pos[2], (size_t)(n_pos - 2));
    if (strcmp(cmd, "dup-announce") == 0 && arg != NULL)
        return cmd_dup_announce(arg);
    if (strcmp(cmd, "summary-flood") == 0)
        return cmd_summary_flood(arg);
    if (strcmp(cmd, "equiv-flood") == 0 && arg != NULL)
        return cmd_equiv_flood(arg);
    if (strcmp(cmd, "bombs") == 0)
        return cmd_bombs(arg);
    if (strcmp(cmd, "bundle-repeat") == 0 && arg != NULL)
        return cmd_bundle_repeat(arg);
    if (strcmp(cmd, "ping-flood") == 0 && arg == NULL)
        return cmd_ping_flood();
    if (strcmp(cmd, "slow-read") == 0 && arg != NULL)
        return cmd_slow_read(&pos[2], (size_t)(n_pos - 2));
    if (strcmp(cmd, "slow-bundle") == 0 && arg != NULL)
        return cmd_slow_bundle(arg);
    if (strcmp(cmd, "hoard") == 0 && arg != NULL)
        return cmd_hoard(&pos[2], (size_t)(n_pos - 2));
    if (strcmp(cmd, "fake-announce") == 0 && arg != NULL)
        return cmd_fake_announce(arg, pos[3]);
    if (strcmp(cmd, "fill") == 0 && arg != NULL)
        return cmd_fill(arg, pos[3]);
    usage();
    return 2;
}
