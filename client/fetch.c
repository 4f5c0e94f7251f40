/* samizdat fetch: pull trusted publishers' bundles from peers into the library. */
#include "fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "library.h"
#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "samizdat/msg.h"
#include "samizdat/socks5.h"

#define MAX_CONNS 16
#define RANGES_OUT 4
/* Claims this small leave some queued while RANGES_OUT are out: an idle peer
 * takes some over (steal_claims()). */
#define CHUNK_SEQS 64
#define SUMMARY_TIMEOUT_MS 15000
/* A SUMMARY may come in parts (PROTOCOL.md 4.3: `more`). The summary ends with a
 * part saying more = 0, the MAX_SUMMARY_PARTS-th part, or when no further part came
 * within SUMMARY_PART_WAIT_MS (a relay stopping short; while bytes come and it sent
 * nothing else, a part is on its way) or SUMMARY_TOTAL_MS passed. Its first part is
 * waited for SUMMARY_TIMEOUT_MS (longer in the same way). */
#define SUMMARY_PART_WAIT_MS 5000
#define SUMMARY_TOTAL_MS 60000
#define MAX_SUMMARY_PARTS 64
/*
 * A relay sends a fetch client at most this many parts, the last saying
 * more = 0 even when it holds more publishers (PROTOCOL.md 4.3): such a
 * summary says nothing of the publishers past its last key, which anyone can
 * bring about by giving a relay bundles of some 16,000 made-up keys. A
 * trusted publisher past it is asked of that peer directly, PROBE_SEQS
 * sequences after what the library holds at a time, until a window comes
 * back empty (probe_push()).
 */
#define RELAY_SUMMARY_PARTS 16
#define PROBE_SEQS 1024
/* Separate ranges of one publisher believed of one peer: beyond, the highest are ignored. */
#define MAX_PEER_RANGES 4096
#define IDLE_TIMEOUT_MS 60000
/*
 * While ranges are asked of a peer, its bundle bytes over each RATE_WINDOW_MS
 * must average at least MIN_RATE_BPS, and at least 1/SLOW_FACTOR of the best
 * rate a peer of this run kept over a window, or a range must come whole
 * within it. The reader's own link may be slow (a throttled country): peers
 * are judged against each other, and only a peer that drips bytes is judged
 * alone.
 */
#define RATE_WINDOW_MS 30000
#define MIN_RATE_BPS 256
#define SLOW_FACTOR 8
/* Bytes queued for sending to one peer: a reader sends only small messages. Past
 * OUT_CAP / 2 it answers no PING and reads nothing from that peer until it takes
 * some; a peer that takes nothing of a waiting queue for OUT_STALL_MS is dropped. */
#define OUT_CAP (64u << 10)
#define OUT_STALL_MS 30000
/* Copies of bundles already taken in this run that one peer may send before it is
 * dropped (each is dropped unverified). */
#define MAX_REPEATS 16
#define BATCH_BUNDLES 256
/* Bundles and their articles (raw and uncompressed bytes) in one batch; two batches
 * live at once: one filling, one being written. */
#define BATCH_BYTES (64u << 20)
/* Ids of ANNOUNCE messages taken from one peer in 10 s (PROTOCOL.md 4.4): a relay
 * importing thousands of bundles announces them all at once. Beyond is a flood
 * (a reader has no later comparison that would find what it ignored): the
 * link is dropped and the peer tried last. */
#define MAX_ANNOUNCED_PER_10S 32768
#define MAX_HELD_RANGES 100000
/* Ranges queued for one peer: 16M sequences, more than any honest peer offers at once. */
#define MAX_QUEUE 65536
/* A peer's EQUIVOCATION reports follow its SUMMARY: a peer with nothing to send is
 * kept until it answers a PING sent after its SUMMARY (its reports came before the
 * PONG), or this long when it does not answer. */
#define EVIDENCE_GRACE_MS 250
/* Ids asked of one peer by REQUEST at once: for announcements, and as evidence of an
 * equivocation (a relay queues up to 64; see proto/PROTOCOL.md 4.4). */
#define MAX_ANNOUNCE_REQUESTS 16
#define MAX_REQ_IDS 32
/* Per peer and run: ids asked for after its EQUIVOCATION reports, and bundles of a
 * sequence the library already holds passed on to it (each costs a library write). */
#define MAX_EVIDENCE_REQUESTS 16
#define MAX_SAME_SEQ_BUNDLES 16
/* Ids of the bundles taken in this run, the newest kept: a bundle sent again (two
 * peers racing, a replay) is dropped without touching the library. */
#define SEEN_RING 4096
/* --follow: reconnect after 1 s, doubling to 60 s, each wait drawn from [w/2, w];
 * a link that lasted BACKOFF_RESET_MS after its SUMMARY starts again from 1 s. */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define BACKOFF_RESET_MS 10000
/* --follow: PING a peer silent this long, and give up on it after FOLLOW_DEAD_MS. */
#define FOLLOW_PING_MS 60000
#define FOLLOW_DEAD_MS 180000
/* --follow: a bundle waits at most this long for others to share its library write. */
#define FOLLOW_FLUSH_MS 1000
/* Without --follow: at most this long, so that a slow link's bundles are kept
 * even if the fetch is then killed (a batch of BATCH_BYTES can take an hour). */
#define FLUSH_MS 10000
/* A bundle this large keeps what came of it when its link is lost (from this
 * much on), in DIR/.samizdat/partial/, and the rest is asked for by
 * REQUEST_PART (PROTOCOL.md 4.1.1) in this run or a later one. */
#define PART_MIN_TOTAL (1u << 20)
#define PART_MIN_KEEP (64u << 10)
#define MAX_PARTS 16
#define PART_MAX_AGE_S (30 * 86400) /* a part kept longer is deleted */

enum conn_state {
    C_RESOLVING,
    C_CONNECTING,
    C_PROXY, /* SOCKS5: the proxy's handshake (conn.socks) */
    C_HANDSHAKE,
    C_WAIT_SUMMARY,
    C_OPEN,
    C_DONE
};

/*
 * Where lookup threads say they are done: a socket pair per run, whose read
 * end the loop polls (two descriptors in all, however many lookups wait on a
 * DNS server that never answers). The run and each lookup hold a reference:
 * a thread that outlives the run still writes to its own descriptor, never to
 * one that was closed and reused.
 */
struct notifier {
    atomic_int refs;
    int fds[2];
};

/*
 * A name looked up in a thread of its own: getaddrinfo() blocks for as long as
 * the resolver waits, and a censor's DNS that drops queries makes that 10 s or
 * more per name, while other peers' bundles wait to be read. The thread and the
 * peer each hold a reference; the last to let go frees it. When done, the
 * thread writes a byte to its notifier.
 */
struct lookup {
    pthread_mutex_t mu; /* guards done, gai and res */
    atomic_int refs;
    bool done;
    int gai;              /* getaddrinfo()'s result, once done */
    struct addrinfo *res; /* its addresses, until taken */
    char host[256], port[8];
    struct notifier *nt;
};

/* A large bundle of a trusted publisher partly fetched: its first `have` bytes
 * are in DIR/.samizdat/partial/ID.part. */
struct part {
    size_t pub; /* trusted publisher index */
    uint64_t seq;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint32_t have, total;
    size_t owner; /* 1 + the index in run.conns of the link it is claimed for; 0: none */
    bool off;     /* not asked for by part again in this run: done, dropped or refused */
};

struct claim {
    size_t pub;
    uint64_t first, last;
    bool probe; /* asked of a peer whose summary did not reach the publisher */
};

/*
 * A request out to a peer: a REQUEST_RANGE of one claim (cl NULL: the claim
 * is pub, first, last), or a REQUEST_SPARSE of n_cl claims of publisher pub in
 * ascending order (cl, malloc'd), whose RANGE_DONE names the span first..last.
 */
struct out_req {
    size_t pub;
    uint64_t first, last;
    struct claim *cl;
    size_t n_cl;
    bool probe; /* one claim, asked by probe_push() */
};

/* One peer given on the command line, across the connections made to it. */
struct peer {
    char host[256], port[8];
    char name[300];   /* HOST:PORT as shown in messages, the port always given */
    bool bad_address; /* not an address: named once, never tried */
    bool busy;        /* a connection to it is under way */
    bool tried, linked, answered, failed;
    bool down;             /* --follow: it went away, and that was said */
    int64_t retry_at_ms;   /* --follow: not tried again before */
    int64_t backoff_ms;    /* --follow: the wait after its next failure */
    unsigned evidence_req; /* ids asked for after its EQUIVOCATION reports */
    unsigned same_seq;     /* bundles of held sequences it sent that went to the library */
    unsigned eq_reports;   /* EQUIVOCATION reports it sent */
    struct lookup *lookup; /* its name being looked up (kept across connections) */
};

/* Sequence ranges held per publisher (sorted, disjoint, not touching). */
struct held {
    struct sz_msg_range *v;
    size_t n, cap;
};

/* What one peer's SUMMARY says of one trusted publisher, and what it did not send. */
struct conn_pub {
    struct held offer; /* what it offers: at most MAX_PEER_RANGES ranges */
    struct held skip;  /* asked for and not sent: not asked of it again */
    uint64_t max;      /* the highest sequence it claims (ranges ignored included) */
    bool listed;       /* its SUMMARY names the publisher */
    bool covers;       /* ... up to what the library holds at least: counted in run_pub.covered */
};

struct conn {
    int fd;
    enum conn_state state;
    struct addrinfo *ai;      /* the peer's addresses, while connecting */
    struct addrinfo *ai_next; /* ... the next one to try */
    size_t n_ai_tried;
    int ai_err;             /* why the last address failed */
    struct sz_socks5 socks; /* the proxy's handshake, in C_PROXY */
    size_t peer;            /* index in run.peers */
    char name[300];
    int64_t deadline_ms;
    int64_t summary_until_ms; /* every part of its SUMMARY must have come by then */
    size_t n_summary_parts;
    bool summary_cut;                      /* no part said more = 0: it stopped short */
    bool summary_hi_set;                   /* summary_hi holds a key */
    bool summary_other;                    /* sent other messages while its summary was awaited */
    uint8_t summary_hi[SZ_PUBLIC_KEY_LEN]; /* the highest publisher key its parts named */
    int64_t last_rx_ms;
    int64_t last_progress_ms; /* last SUMMARY, bundle bytes or RANGE_DONE */
    int64_t rate_since_ms;    /* the current RATE_WINDOW_MS window began */
    uint64_t rate_bytes;      /* bundle bytes received in it */
    struct sz_link *link;
    uint8_t *out; /* out[out_off .. out_len) waits to be sent, at most OUT_CAP */
    size_t out_len, out_off, out_cap;
    int64_t out_moved_ms; /* the waiting output last moved (or began to wait) */
    bool out_overflow;    /* a message did not fit in OUT_CAP */
    uint8_t *rx;
    uint32_t rx_total, rx_got;
    bool rx_part;    /* rx continues a kept part (run.parts[part - 1]) */
    bool rx_discard; /* the rest of a part no longer wanted: its bytes are let go */
    bool rx_big;     /* ... or of a bundle above --max-size: its first bytes to rx_head */
    uint8_t rx_head[SZ_BUNDLE_PREFIX_LEN];
    bool whole_by_part;    /* the bundle on_whole_bundle() gets was asked for by part */
    size_t part;           /* 1 + the index in run.parts of its REQUEST_PART out; 0: none */
    uint32_t part_offset;  /* ... the offset asked, where its answer starts */
    uint32_t part_total;   /* ... and the bundle's length */
    int64_t part_since_ms; /* when that went out */
    struct claim *queue;   /* ranges to ask this peer for: queue[q0 .. q0 + n_queue) */
    size_t q0, n_queue, queue_cap;
    struct out_req out_ranges[RANGES_OUT]; /* asked of it, until their RANGE_DONE */
    size_t n_out_ranges;
    uint8_t req_ids[MAX_REQ_IDS][SZ_BUNDLE_ID_LEN]; /* asked for by REQUEST, not yet sent */
    size_t n_req_ids;
    size_t n_req_announced;         /* of those, asked for after an ANNOUNCE */
    bool req_evidence[MAX_REQ_IDS]; /* asked for as evidence of an equivocation */
    bool req_claimed[MAX_REQ_IDS];  /* after an ANNOUNCE: it claims its sequence ... */
    size_t req_pub[MAX_REQ_IDS];    /* ... of this trusted publisher in run.claimed */
    uint64_t req_seq[MAX_REQ_IDS];  /* ... this one, so that no other peer is asked */
    int64_t req_since_ms;           /* when the last REQUEST went out */
    int64_t open_ms;                /* when its SUMMARY came; 0 before */
    bool pinged;                    /* --follow: a PING is out since it last spoke */
    uint64_t barrier_nonce;         /* the PING sent after its SUMMARY */
    bool barrier_done;              /* its PONG came: every report it sent is in */
    /* EQUIVOCATION reports that came before its SUMMARY was complete: their
     * evidence is asked for once the ranges are planned (request_evidence()). */
    struct sz_msg eq_wait[MAX_EVIDENCE_REQUESTS];
    size_t n_eq_wait;
    struct conn_pub *cp; /* per trusted publisher, from its SUMMARY (NULL before) */
    uint64_t n_ignored;  /* ranges of its SUMMARY past MAX_PEER_RANGES */
    size_t n_withheld;   /* ranges it answered without all their bundles */
    unsigned n_repeats;  /* bundles it sent that this run had taken already */
    bool queue_cut;      /* plan_ranges stopped at MAX_QUEUE: plan again when the queue drains */
    bool counted_ok;     /* counted in peers_ok */
    bool skip_nomem;     /* a skip range was not kept: never plan again (it could ask in a loop) */
    uint64_t bundles, bytes;
    int64_t window_ms;
    uint32_t announced;
    bool misbehaved;     /* proven hostile: its SUMMARY is not believed */
    uint8_t hs_head[40]; /* the first bytes it sent during the handshake */
    size_t hs_head_len;
};

/* Per trusted publisher, for the run. */
struct run_pub {
    uint64_t lib_seq; /* the highest sequence the library held at the start */
    bool in_lib;      /* the library held a bundle of it at the start */
    size_t covered;   /* ok peers whose SUMMARY offers it up to what the library holds */
    bool listed;      /* some peer's complete SUMMARY named it */
    bool known;       /* some peer's SUMMARY said whether it holds it (named it, or went past) */
};

struct run {
    const struct fetch_opts *o;
    struct fetch_result *res;
    struct sz_link_keys keys;
    struct conn conns[MAX_CONNS];
    size_t n_conns;
    struct notifier *nt;       /* where lookup threads say they are done (made when needed) */
    struct peer proxy;         /* --proxy: its host, port and name */
    struct addrinfo *proxy_ai; /* ... its addresses, looked up once */
    struct peer *peers;        /* one per o->peers */
    size_t *order;             /* peers in random order */
    size_t next_peer;
    uint8_t (*seen)[SZ_BUNDLE_ID_LEN]; /* ring: ids taken in this run (NULL: none kept) */
    size_t n_seen, seen_next;
    int64_t batch_since_ms;         /* when the first bundle of the filling batch came */
    uint64_t best_bps;              /* the best bundle-byte rate a peer kept over a window */
    struct held *held;              /* per trusted publisher: in the library or on its way */
    struct held *claimed;           /* per trusted publisher: being fetched */
    struct held *offered;           /* per trusted publisher: offered by some peer */
    struct held *done;              /* per trusted publisher: committed to the library */
    struct sz_inflater *inflater;   /* one zstd context for every bundle of the run */
    struct library_publisher *pubs; /* the trusted publishers, for the library */
    struct library *lib;            /* the library, kept parsed between batches */
    struct run_pub *rp;             /* per trusted publisher */
    struct library_item batch[BATCH_BUNDLES]; /* being filled */
    size_t batch_pub[BATCH_BUNDLES];          /* the trusted publisher of each */
    size_t n_batch, batch_bytes;
    /* The batch being written by the writer thread while the next one fills. */
    struct library_item wbatch[BATCH_BUNDLES];
    size_t wbatch_pub[BATCH_BUNDLES];
    size_t n_wbatch;
    bool writing;  /* the writer thread runs (or ran and awaits its join) */
    bool threaded; /* ... as a thread: join it */
    pthread_t writer;
    /* What the writer did: the batch goes in one library_put() per publisher, so
     * that the library's counts say what it added of each. */
    int wrc;                  /* 0, or the first failure */
    bool wnamed;              /* werr names a bundle that failed alone */
    bool wok[BATCH_BUNDLES];  /* committed */
    bool wnew[BATCH_BUNDLES]; /* new to the library (not only committed) */
    uint64_t *wadded;         /* per trusted publisher: bundles the library added */
    uint64_t *wequiv;         /* and of those, equivocations (another bundle, same sequence) */
    uint64_t wadded_bytes;    /* their bytes */
    struct library_result wres;
    char werr[1024];
    uint64_t rx_bundles, rx_bytes; /* verified bundles received, for the progress line */
    struct part parts[MAX_PARTS];  /* large bundles partly here, from earlier links */
    size_t n_parts;
    int64_t start_ms;
    int64_t stop_ms; /* --timeout: stop then (INT64_MAX: never) */
    bool incomplete;
    bool write_failed;
    bool disk_full;             /* a write failed for want of space: nothing more would fit */
    bool disk_stuck;            /* a write failed as every other would (read-only, no permission) */
    atomic_bool write_hopeless; /* the writer met one of those: stop downloading now */
};

static volatile sig_atomic_t interrupted; /* the signal's number */

/* The first signal stops the fetch once what came is written; a second one (Ctrl-C
 * again while a slow disk takes the last batch) ends it at once: the library is
 * safe either way, as after a crash. */
static void
on_sigint(int sig)
{
    if (interrupted != 0) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupted = sig;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- ranges ---- */

/* The first range (sorted, disjoint) that ends at or after seq; h->n when none. */
static size_t
held_at(const struct held *h, uint64_t seq)
{
    size_t lo = 0, hi = h->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->v[mid].last < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool
held_has(const struct held *h, uint64_t seq)
{
    size_t i = held_at(h, seq);

    return i < h->n && h->v[i].first <= seq;
}

/* Makes room for one more range. Returns false at MAX_HELD_RANGES or out of memory. */
static bool
held_grow(struct held *h)
{
    size_t cap = h->cap == 0 ? 8 : h->cap * 2;
    struct sz_msg_range *v;

    if (h->n < h->cap)
        return true;
    if (cap > MAX_HELD_RANGES)
        return false;
    v = realloc(h->v, cap * sizeof *v);
    if (v == NULL)
        return false;
    h->v = v;
    h->cap = cap;
    return true;
}

/*
 * Adds [first, last], merged with the ranges it overlaps or touches: a binary
 * search, then one move of the ranges after it, so that a peer's many ranges
 * cost O(log n) each to look up. Returns false (nothing changed) when there is
 * no room.
 */
static bool
held_add(struct held *h, uint64_t first, uint64_t last)
{
    /* i: the first range ending at or after first - 1 (it may touch); j: the first after
     * i starting beyond last + 1. [i, j) all overlap or touch [first, last]. */
    size_t i = held_at(h, first > 0 ? first - 1 : 0), lo = i, hi = h->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (last == UINT64_MAX || h->v[mid].first <= last + 1)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > i) {
        if (h->v[i].first < first)
            first = h->v[i].first;
        if (h->v[lo - 1].last > last)
            last = h->v[lo - 1].last;
        h->v[i].first = first;
        h->v[i].last = last;
        memmove(&h->v[i + 1], &h->v[lo], (h->n - lo) * sizeof h->v[0]);
        h->n -= lo - i - 1;
        return true;
    }
    if (!held_grow(h))
        return false;
    memmove(&h->v[i + 1], &h->v[i], (h->n - i) * sizeof h->v[0]);
    h->v[i].first = first;
    h->v[i].last = last;
    h->n++;
    return true;
}

/*
 * Merges the ranges src (sorted by first; they may overlap) into h in one
 * pass, keeping at most cap ranges: the highest beyond are dropped and
 * counted in *dropped. Returns false (h unchanged) when out of memory.
 */
static bool
held_merge(struct held *h, const struct sz_msg_range *src, size_t n_src, size_t cap,
           uint64_t *dropped)
{
    size_t a = 0, b = 0, n = 0, room = h->n + n_src;
    struct sz_msg_range *v;

    if (n_src == 0)
        return true;
    v = malloc(room * sizeof *v);
    if (v == NULL)
        return false;
    while (a < h->n || b < n_src) {
        struct sz_msg_range x =
            b == n_src || (a < h->n && h->v[a].first <= src[b].first) ? h->v[a++] : src[b++];
        if (n > 0 && (v[n - 1].last == UINT64_MAX || v[n - 1].last + 1 >= x.first)) {
            if (x.last > v[n - 1].last)
                v[n - 1].last = x.last;
        } else {
            v[n++] = x;
        }
    }
    if (n > cap) {
        *dropped += n - cap;
        n = cap;
    }
    free(h->v);
    h->v = v;
    h->n = n;
    h->cap = room;
    return true;
}

/* Removes [first, last]: a binary search, then one move. */
static void
held_remove(struct held *h, uint64_t first, uint64_t last)
{
    size_t i = held_at(h, first), j;

    if (i == h->n || h->v[i].first > last)
        return;
    if (h->v[i].first < first && h->v[i].last > last) {
        /* Split in two. Without room the tail is dropped too: it is then only free
         * to be planned again, which costs at most a second request. */
        uint64_t tail_last = h->v[i].last;
        h->v[i].last = first - 1;
        if (held_grow(h)) {
            memmove(&h->v[i + 2], &h->v[i + 1], (h->n - i - 1) * sizeof h->v[0]);
            h->v[i + 1].first = last + 1;
            h->v[i + 1].last = tail_last;
            h->n++;
        }
        return;
    }
    if (h->v[i].first < first) {
        h->v[i].last = first - 1;
        i++;
    }
    for (j = i; j < h->n && h->v[j].last <= last; j++)
        ;
    if (j < h->n && h->v[j].first <= last)
        h->v[j].first = last + 1;
    memmove(&h->v[i], &h->v[j], (h->n - j) * sizeof h->v[0]);
    h->n -= j - i;
}

/* Whether every sequence of [first, last] is in h. */
static bool
held_covers(const struct held *h, uint64_t first, uint64_t last)
{
    size_t i = held_at(h, first);

    return i < h->n && h->v[i].first <= first && h->v[i].last >= last;
}

static uint64_t
held_max(const struct held *h)
{
    return h->n > 0 ? h->v[h->n - 1].last : 0;
}

/* ---- ids taken in this run ---- */

static bool
seen_has(const struct run *r, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    size_t k;

    for (k = 0; r->seen != NULL && k < r->n_seen; k++)
        if (memcmp(r->seen[k], id, SZ_BUNDLE_ID_LEN) == 0)
            return true;
    return false;
}

static void
seen_add(struct run *r, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    if (r->seen == NULL)
        return;
    memcpy(r->seen[r->seen_next], id, SZ_BUNDLE_ID_LEN);
    r->seen_next = (r->seen_next + 1) % SEEN_RING;
    if (r->n_seen < SEEN_RING)
        r->n_seen++;
}

/* ---- the state file: DIR/.samizdat/fetch.state ---- */

static void
state_path(const struct run *r, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/.samizdat/%s", r->o->dir, name);
}

/* One line "PUBLISHER-HEX FIRST LAST": a range this library holds. */
static bool
state_line(const char *line, uint8_t pk[32], uint64_t *first, uint64_t *last)
{
    char hex[65];
    unsigned long long f, l;

    if (sscanf(line, "%64s %llu %llu", hex, &f, &l) != 3 || f > l ||
        sz_unhex(hex, strlen(hex), pk, 32) != 0)
        return false; /* A damaged line only costs a re-fetch. */
    *first = f;
    *last = l;
    return true;
}

static ssize_t
trusted_index(const struct run *r, const uint8_t *pk)
{
    for (size_t i = 0; i < r->o->trust->n; i++)
        if (memcmp(r->o->trust->pk[i], pk, 32) == 0)
            return (ssize_t)i;
    return -1;
}

/*
 * A bundle the library holds (library_each_bundle()): not asked for again, as
 * fetch.state may lag behind the library (a run killed between the two) or be
 * missing (a library made by unpack, or copied from another reader). Its
 * highest sequence is the rollback baseline.
 */
static void
library_bundle_held(void *arg, const uint8_t pk[SZ_PUBLIC_KEY_LEN], uint64_t seq, int64_t created)
{
    struct run *r = arg;
    struct fetch_pub_result *pr;
    ssize_t i = trusted_index(r, pk);

    if (i < 0)
        return;
    (void)held_add(&r->held[i], seq, seq);
    (void)held_add(&r->done[i], seq, seq);
    pr = &r->res->pubs[i];
    if (!r->rp[i].in_lib || seq > pr->have_seq)
        pr->have_seq = r->rp[i].lib_seq = seq;
    if (!r->rp[i].in_lib || created > pr->newest_created)
        pr->newest_created = created;
    r->rp[i].in_lib = true;
}

static void
state_load(struct run *r)
{
    char path[PATH_MAX], err[256], *line, *save = NULL;
    uint8_t *buf = NULL, pk[32];
    uint64_t first, last;
    size_t len = 0;

    state_path(r, "fetch.state", path, sizeof path);
    if (util_read_file(path, 64u << 20, &buf, &len, err, sizeof err) != 0)
        return;
    for (line = strtok_r((char *)buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        ssize_t i;
        if (!state_line(line, pk, &first, &last) || (i = trusted_index(r, pk)) < 0)
            continue;
        held_add(&r->held[i], first, last);
        held_add(&r->done[i], first, last);
    }
    free(buf);
}

static void
state_put(struct sz_wr *w, const uint8_t pk[32], uint64_t first, uint64_t last)
{
    char hex[65], line[128];
    int n;

    sz_hex(pk, 32, hex);
    n = snprintf(line, sizeof line, "%s %llu %llu\n", hex, (unsigned long long)first,
                 (unsigned long long)last);
    sz_wr_bytes(w, line, (size_t)n);
}

/*
 * Rewrites the state file under DIR/.samizdat/fetch.lock. Another fetch into
 * the same library (at the same time, or earlier with other trusted keys) may
 * have saved since this one loaded: its lines for publishers this run does
 * not trust are kept, and its ranges for those it does are merged in (the
 * library holds them either way).
 */
static int
state_save(struct run *r)
{
    char path[PATH_MAX], lock[PATH_MAX], err[512] = "", *line, *save = NULL;
    uint8_t *old = NULL, pk[32];
    uint64_t first, last;
    size_t i, k, old_len = 0;
    struct sz_wr w;
    int fd, rc = -1;

    state_path(r, "fetch.state", path, sizeof path);
    state_path(r, "fetch.lock", lock, sizeof lock);
    fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        util_err("cannot save the fetch state: cannot open %s: %s", lock, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            util_err("cannot save the fetch state: cannot lock %s: %s", lock, strerror(errno));
            close(fd);
            return -1;
        }
    }
    sz_wr_init(&w, 64u << 20);
    if (util_read_file(path, 64u << 20, &old, &old_len, err, sizeof err) == 0) {
        for (line = strtok_r((char *)old, "\n", &save); line != NULL;
             line = strtok_r(NULL, "\n", &save)) {
            ssize_t t;
            if (!state_line(line, pk, &first, &last))
                continue;
            if ((t = trusted_index(r, pk)) >= 0)
                held_add(&r->done[t], first, last);
            else
                state_put(&w, pk, first, last);
        }
        free(old);
    }
    for (i = 0; i < r->o->trust->n; i++)
        for (k = 0; k < r->done[i].n; k++)
            state_put(&w, r->o->trust->pk[i], r->done[i].v[k].first, r->done[i].v[k].last);
    if (sz_wr_status(&w) != 0)
        snprintf(err, sizeof err, "%s", sz_strerror(sz_wr_status(&w)));
    else
        rc = util_write_atomic(path, w.p != NULL ? w.p : (uint8_t *)"", w.len, 0644, false, err,
                               sizeof err);
    if (rc != 0)
        util_err("cannot save the fetch state: %s", err);
    sz_wr_free(&w, false);
    close(fd); /* releases the lock */
    return rc;
}

/* ---- the library ---- */

/*
 * Batches go to the library on a writer thread, so that receiving and
 * verifying the next batch overlaps writing this one. Only the writer touches
 * r->lib and r->wbatch while r->writing; the main thread reads the outcome
 * after batch_wait().
 */
/* Adds items to the library; added[k] says whether items[k] was new to it. */
static int
put_items(struct run *r, const struct library_item *items, size_t n, bool *added,
          struct library_result *res, char *err, size_t cap)
{
    struct library *tmp = NULL;
    int rc;

    if (r->lib != NULL)
        return library_put_each(r->lib, items, n, r->pubs, r->o->trust->n, added, res, err, cap);
    /* library_open() failed at the start (out of memory): one for this batch. */
    if (library_open(r->o->dir, &tmp, err, cap) != 0)
        return -1;
    rc = library_put_each(tmp, items, n, r->pubs, r->o->trust->n, added, res, err, cap);
    library_close(tmp);
    return rc;
}

enum write_err { WRITE_ERR_OTHER, WRITE_ERR_FULL, WRITE_ERR_STUCK };

/*
 * What a library error says of the disk: full (no space, over quota), stuck
 * (read-only, not ours, failing: every other write would fail too), or other
 * (this bundle only, as far as is known).
 */
static enum write_err
write_error_kind(const char *err)
{
    if (strstr(err, strerror(ENOSPC)) != NULL)
        return WRITE_ERR_FULL;
#ifdef EDQUOT
    if (strstr(err, strerror(EDQUOT)) != NULL)
        return WRITE_ERR_FULL;
#endif
    if (strstr(err, strerror(EROFS)) != NULL || strstr(err, strerror(EACCES)) != NULL ||
        strstr(err, strerror(EIO)) != NULL)
        return WRITE_ERR_STUCK;
    return WRITE_ERR_OTHER;
}

/*
 * Puts the items of one publisher (at idx[0..n) of the batch) into the
 * library, and records what the library added of them. If the library
 * refuses them together, each goes in alone: one bundle it cannot take must
 * not hold back the rest on every fetch (on a full disk, those that fit go in).
 */
static void
put_group(struct run *r, const struct library_item *items, const size_t *idx, size_t n, size_t pub)
{
    struct library_result res;
    char err[900], hex[2 * SZ_BUNDLE_ID_LEN + 1];
    bool added[BATCH_BUNDLES];
    size_t k;
    int rc;

    memset(&res, 0, sizeof res);
    rc = put_items(r, items, n, added, &res, err, sizeof err);
    if (rc == 0) {
        for (k = 0; k < n; k++) {
            r->wok[idx[k]] = true;
            r->wnew[idx[k]] = added[k];
            if (added[k])
                r->wadded_bytes += items[k].raw_len;
        }
        r->wadded[pub] += res.bundles_added;
        r->wres.bundles_added += res.bundles_added;
        r->wres.bundles_present += res.bundles_present;
        r->wres.articles_written += res.articles_written;
        r->wres.equivocations += res.equivocations;
        r->wequiv[pub] += res.equivocations;
        return;
    }
    if (r->wrc == 0) {
        r->wrc = rc;
        snprintf(r->werr, sizeof r->werr, "%s", err);
    }
    if (write_error_kind(err) != WRITE_ERR_OTHER)
        atomic_store(&r->write_hopeless, true); /* the fetch loop stops downloading */
    if (n == 1)
        return;
    for (k = 0; k < n; k++) {
        memset(&res, 0, sizeof res);
        if (put_items(r, &items[k], 1, &added[k], &res, err, sizeof err) != 0) {
            if (!r->wnamed) { /* the first that fails alone is named; the others are alike */
                sz_bundle_id_hex(items[k].b->id, hex);
                snprintf(r->werr, sizeof r->werr, "bundle %.16s (sequence %llu): %s", hex,
                         (unsigned long long)items[k].b->hdr.sequence, err);
                r->wnamed = true;
            }
            continue;
        }
        r->wok[idx[k]] = true;
        r->wnew[idx[k]] = added[k];
        r->wadded[pub] += res.bundles_added;
        if (added[k])
            r->wadded_bytes += items[k].raw_len;
        r->wres.bundles_added += res.bundles_added;
        r->wres.bundles_present += res.bundles_present;
        r->wres.articles_written += res.articles_written;
        r->wres.equivocations += res.equivocations;
        r->wequiv[pub] += res.equivocations;
    }
}

static void *
writer_main(void *arg)
{
    struct run *r = arg;
    struct library_item items[BATCH_BUNDLES];
    size_t idx[BATCH_BUNDLES], k, j, n;
    bool taken[BATCH_BUNDLES];

    r->wrc = 0;
    r->werr[0] = '\0';
    r->wnamed = false;
    r->wadded_bytes = 0;
    memset(&r->wres, 0, sizeof r->wres);
    memset(r->wadded, 0, r->o->trust->n * sizeof *r->wadded);
    memset(r->wequiv, 0, r->o->trust->n * sizeof *r->wequiv);
    for (k = 0; k < r->n_wbatch; k++)
        r->wok[k] = r->wnew[k] = taken[k] = false;
    /* One library_put() per publisher in the batch (most batches hold one): the
     * library then says how many of each it added, so that "N new" counts only
     * those, not what it held already (an earlier run cut short, another fetch). */
    for (k = 0; k < r->n_wbatch; k++) {
        if (taken[k])
            continue;
        for (j = k, n = 0; j < r->n_wbatch; j++) {
            if (taken[j] || r->wbatch_pub[j] != r->wbatch_pub[k])
                continue;
            taken[j] = true;
            items[n] = r->wbatch[j];
            idx[n++] = j;
        }
        put_group(r, items, idx, n, r->wbatch_pub[k]);
    }
    return NULL;
}

/* Appends at most max bytes of t, control characters shown as '?', to *w. */
static void
put_shown(char **w, const char *end, const char *t, size_t len, size_t max)
{
    size_t k;

    for (k = 0; k < len && k < max && *w + 1 < end; k++) {
        unsigned char ch = (unsigned char)t[k];
        *(*w)++ = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (k < len) {
        /* Cut on a UTF-8 character boundary, then mark the cut. */
        while (k > 0 && ((unsigned char)t[k] & 0xc0) == 0x80) {
            k--;
            (*w)--;
        }
        if (*w + 3 < end) {
            memcpy(*w, "...", 3);
            *w += 3;
        }
    }
    **w = '\0';
}

/* --follow on a terminal: one line per bundle added, naming its publisher and articles. */
static void
print_added(const struct run *r, size_t pub, const struct sz_bundle *b)
{
    char line[400], *w = line, *end = line + sizeof line, pk[SZ_PK_TEXT_LEN + 1];
    const char *name = r->o->trust->names[pub];
    size_t j;

    if (name == NULL) {
        sz_pk_to_text(r->o->trust->pk[pub], pk);
        name = pk;
    }
    line[0] = '\0';
    for (j = 0; j < b->c->n_articles && j < 3; j++) {
        if (w + 4 >= end)
            break;
        w += snprintf(w, (size_t)(end - w), "%s\"", j > 0 ? ", " : "");
        put_shown(&w, end, b->c->articles[j].title.p, b->c->articles[j].title.len, 60);
        if (w + 1 < end)
            *w++ = '"';
        *w = '\0';
    }
    if (j < b->c->n_articles && w + 5 < end)
        snprintf(w, (size_t)(end - w), ", ...");
    util_err("added from %s: sequence %llu, %zu article%s: %s", name,
             (unsigned long long)b->hdr.sequence, b->c->n_articles,
             b->c->n_articles == 1 ? "" : "s", line);
}

/* Waits for the batch being written, then records what it committed. */
static void
batch_wait(struct run *r)
{
    size_t i, k;

    if (!r->writing)
        return;
    if (r->threaded)
        pthread_join(r->writer, NULL);
    r->writing = false;
    if (r->wrc != 0) {
        util_err("%s", r->werr);
        r->write_failed = true;
        /* A full disk; one remounted read-only after errors, a folder made unwritable. */
        switch (write_error_kind(r->werr)) {
        case WRITE_ERR_FULL:
            r->disk_full = true;
            break;
        case WRITE_ERR_STUCK:
            r->disk_stuck = true;
            break;
        case WRITE_ERR_OTHER:
            break;
        }
    }
    bool any = false;
    for (k = 0; k < r->n_wbatch; k++)
        any = any || r->wok[k];
    /* Counted: what the library added, not what it was handed (it may have held some
     * already: an earlier run stopped before saving its state, another fetch). */
    for (i = 0; i < r->o->trust->n; i++) {
        r->res->pubs[i].fetched += r->wadded[i];
        r->res->bundles += r->wadded[i];
    }
    r->res->bytes += r->wadded_bytes;
    if (any) {
        for (k = 0; k < r->n_wbatch; k++) {
            const struct sz_bundle *b = r->wbatch[k].b;
            if (!r->wok[k])
                continue;
            i = r->wbatch_pub[k];
            held_add(&r->done[i], b->hdr.sequence, b->hdr.sequence);
            if (r->wnew[k] && r->o->bundle_lines)
                print_added(r, i, b);
            /* The highest sequence and the newest signing time, each on its own:
             * a publisher may date a later sequence earlier. */
            if (b->hdr.sequence > r->res->pubs[i].have_seq)
                r->res->pubs[i].have_seq = b->hdr.sequence;
            if (b->hdr.created > r->res->pubs[i].newest_created)
                r->res->pubs[i].newest_created = b->hdr.created;
        }
        /* Named for the publishers this batch proved it of (an older pair of
         * another publisher is no news of this fetch). */
        for (i = 0; r->wres.equivocations > 0 && i < r->o->trust->n; i++) {
            char pk[SZ_PK_TEXT_LEN + 1];
            if (r->wequiv[i] == 0)
                continue;
            sz_pk_to_text(r->o->trust->pk[i], pk);
            util_err("WARNING: EQUIVOCATION: %s signed two different bundles with one sequence "
                     "number; its key may be stolen. Both are kept in %s",
                     r->o->trust->names[i] != NULL ? r->o->trust->names[i] : pk, r->o->dir);
            r->res->pubs[i].equivocation = true;
        }
        (void)state_save(r);
    }
    for (k = 0; k < r->n_wbatch; k++) {
        sz_bundle_free((struct sz_bundle *)r->wbatch[k].b);
        free((uint8_t *)r->wbatch[k].raw);
    }
    r->n_wbatch = 0;
}

/* Lets the batch being filled go unwritten. */
static void
batch_drop(struct run *r)
{
    size_t k;

    for (k = 0; k < r->n_batch; k++) {
        sz_bundle_free((struct sz_bundle *)r->batch[k].b);
        free((uint8_t *)r->batch[k].raw);
    }
    r->n_batch = 0;
    r->batch_bytes = 0;
}

/* Hands the filled batch to the writer (after the previous one is written);
 * with wait, returns once it is in the library too. */
static void
flush_batch(struct run *r, bool wait)
{
    sigset_t all, old;
    int64_t t0 = now_ms(), paused;
    size_t i;

    batch_wait(r);
    if (r->n_batch > 0) {
        memcpy(r->wbatch, r->batch, r->n_batch * sizeof *r->batch);
        memcpy(r->wbatch_pub, r->batch_pub, r->n_batch * sizeof *r->batch_pub);
        r->n_wbatch = r->n_batch;
        r->n_batch = 0;
        r->batch_bytes = 0;
        r->writing = true;
        /* The writer takes no signals: SIGINT and SIGTERM stay with the fetch loop. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r->threaded = !wait && pthread_create(&r->writer, NULL, writer_main, r) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!r->threaded)
            writer_main(r);
    }
    if (wait)
        batch_wait(r);
    /* While this reader waited for its own disk, peers could not be read from, nor
     * sent to: that time does not count against them (rate windows, send queues). */
    paused = now_ms() - t0;
    for (i = 0; paused > 0 && i < r->n_conns; i++) {
        r->conns[i].rate_since_ms += paused;
        r->conns[i].out_moved_ms += paused;
    }
}

/* ---- connections ---- */

/* Bytes waiting to be sent to c. */
static size_t
conn_out_waiting(const struct conn *c)
{
    return c->out_len - c->out_off;
}

/* So much waits for c that it gets no PONG and is not read from until it takes some. */
static bool
conn_out_busy(const struct conn *c)
{
    return conn_out_waiting(c) >= OUT_CAP / 2;
}

/*
 * Queues n bytes for c. At most OUT_CAP wait: what does not fit is not
 * queued and marks the connection (the main loop drops it). Callers check
 * conn_out_room() before sealing a frame, so that no sealed frame is lost.
 */
static void
conn_queue_out(struct conn *c, const uint8_t *p, size_t n)
{
    if (conn_out_waiting(c) + n > OUT_CAP) {
        c->out_overflow = true;
        return;
    }
    if (c->out_off > 0 && c->out_len + n > c->out_cap) {
        memmove(c->out, c->out + c->out_off, conn_out_waiting(c));
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap < 4096 ? 4096 : c->out_cap;
        uint8_t *q;
        while (cap < c->out_len + n)
            cap *= 2;
        q = realloc(c->out, cap);
        if (q == NULL) {
            c->out_overflow = true;
            return;
        }
        c->out = q;
        c->out_cap = cap;
    }
    if (c->out_len == c->out_off)
        c->out_moved_ms = now_ms(); /* the clock of a queue that does not move starts */
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

/* Whether a frame of body_len bytes fits in c's queue; if not, marks the connection. */
static bool
conn_out_room(struct conn *c, size_t body_len)
{
    if (conn_out_waiting(c) + body_len + SZ_FRAME_OVERHEAD > OUT_CAP) {
        c->out_overflow = true;
        return false;
    }
    return true;
}

static void
conn_flush_link(struct conn *c)
{
    size_t n;
    const uint8_t *p = sz_link_output(c->link, &n);

    if (n > 0) {
        conn_queue_out(c, p, n);
        sz_link_output_consume(c->link, n);
    }
}

/* Seals and queues one encoded message (at most 4096 bytes). */
static void
conn_send_body(struct conn *c, const uint8_t *body, size_t len)
{
    uint8_t frame[4096 + SZ_FRAME_OVERHEAD];

    if (len > 4096 || !conn_out_room(c, len))
        return;
    if (sz_link_seal(c->link, body, len, frame) == 0)
        conn_queue_out(c, frame, len + SZ_FRAME_OVERHEAD);
}

static void
conn_send(struct conn *c, const struct sz_msg *m)
{
    uint8_t body[4096];
    size_t len = 0;

    if (sz_msg_encode(m, body, sizeof body, &len) == 0)
        conn_send_body(c, body, len);
}

/* How many claims request q holds. */
static size_t
req_n_claims(const struct out_req *q)
{
    return q->cl != NULL ? q->n_cl : 1;
}

/* The j-th claim of request q (j < req_n_claims(q)). */
static struct claim
req_claim(const struct out_req *q, size_t j)
{
    struct claim one;

    if (q->cl != NULL)
        return q->cl[j];
    one.pub = q->pub;
    one.first = q->first;
    one.last = q->last;
    one.probe = q->probe;
    return one;
}

/* Whether sequence seq of trusted publisher pub was asked of c by a range out. */
static bool
out_holds(const struct conn *c, size_t pub, uint64_t seq)
{
    size_t k, j;

    for (k = 0; k < c->n_out_ranges; k++) {
        const struct out_req *q = &c->out_ranges[k];
        if (q->pub != pub || seq < q->first || seq > q->last)
            continue;
        for (j = 0; j < req_n_claims(q); j++) {
            struct claim cl = req_claim(q, j);
            if (seq >= cl.first && seq <= cl.last)
                return true;
        }
    }
    return false;
}

static void conn_fail(struct run *r, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void part_save(struct run *r, struct conn *c);
static void part_release(struct run *r, struct conn *c);
static void req_drop_all(struct run *r, struct conn *c);
static void request_evidence(struct run *r, struct conn *c, const struct sz_msg *m);

/* Ends a connection; its claimed ranges go back for other peers, and what came
 * of a large bundle is kept for a REQUEST_PART. */
static void
conn_end(struct run *r, struct conn *c)
{
    size_t i;

    part_save(r, c);
    part_release(r, c);
    req_drop_all(r, c);

    for (i = 0; i < c->n_out_ranges; i++) {
        const struct out_req *q = &c->out_ranges[i];
        size_t j;
        for (j = 0; j < req_n_claims(q); j++) {
            struct claim cl = req_claim(q, j);
            held_remove(&r->claimed[cl.pub], cl.first, cl.last);
        }
        free(q->cl);
    }
    for (i = c->q0; i < c->q0 + c->n_queue; i++)
        held_remove(&r->claimed[c->queue[i].pub], c->queue[i].first, c->queue[i].last);
    c->n_out_ranges = c->n_queue = c->q0 = c->queue_cap = 0;
    if (c->n_withheld > 1)
        util_err("peer %s: in all, %zu ranges it offered came without all their bundles; "
                 "asked other peers",
                 c->name, c->n_withheld);
    for (i = 0; c->cp != NULL && i < r->o->trust->n; i++) {
        /* What a peer that finished its SUMMARY and did not misbehave offered: the
         * fetch is complete only when the library holds it. */
        uint64_t dropped = 0;
        if (!c->misbehaved && c->open_ms != 0)
            (void)held_merge(&r->offered[i], c->cp[i].offer.v, c->cp[i].offer.n, MAX_HELD_RANGES,
                             &dropped);
        free(c->cp[i].offer.v);
        free(c->cp[i].skip.v);
    }
    free(c->cp);
    c->cp = NULL;
    if (c->ai != NULL)
        freeaddrinfo(c->ai);
    c->ai = c->ai_next = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    r->peers[c->peer].busy = false;
    sz_link_free(c->link);
    c->link = NULL;
    if (c->out != NULL && r->o->proxy_user != NULL)
        sodium_memzero(c->out, c->out_cap); /* the proxy's password may have been in it */
    free(c->out);
    free(c->rx);
    free(c->queue);
    c->out = c->rx = NULL;
    c->queue = NULL;
    c->state = C_DONE;
}

static void plan_ranges(struct run *r, struct conn *c, size_t i, uint64_t first, uint64_t last);
static void send_ranges(struct run *r, struct conn *c);
static void ask_parts(struct run *r, struct conn *c);

/* Plans everything c offered (what is held, claimed or skipped is left out). */
static void
plan_all(struct run *r, struct conn *c)
{
    size_t i, k;

    for (i = 0; c->cp != NULL && i < r->o->trust->n; i++)
        for (k = 0; k < c->cp[i].offer.n; k++)
            plan_ranges(r, c, i, c->cp[i].offer.v[k].first, c->cp[i].offer.v[k].last);
}

/*
 * Gives work a peer left undone (it failed) to the other open peers that
 * offered it.
 */
static void
replan(struct run *r, const struct conn *except)
{
    size_t i;

    for (i = 0; i < r->n_conns; i++) {
        struct conn *o = &r->conns[i];
        if (o->state != C_OPEN || o == except)
            continue;
        ask_parts(r, o);
        plan_all(r, o);
        send_ranges(r, o);
    }
}

/*
 * Gives [first, last] of publisher pub, which a peer answered without all of
 * its bundles, to the other open peers that offered some of it: only their
 * offers that overlap it are looked at (a binary search each).
 */
static void
replan_range(struct run *r, const struct conn *except, size_t pub, uint64_t first, uint64_t last)
{
    size_t i, k;

    for (i = 0; i < r->n_conns; i++) {
        struct conn *o = &r->conns[i];
        const struct held *of;
        if ((except != NULL && o == except) || o->state != C_OPEN || o->cp == NULL)
            continue;
        of = &o->cp[pub].offer;
        for (k = held_at(of, first); k < of->n && of->v[k].first <= last; k++)
            plan_ranges(r, o, pub, of->v[k].first > first ? of->v[k].first : first,
                        of->v[k].last < last ? of->v[k].last : last);
        send_ranges(r, o);
    }
}

/* ---- parts of large bundles: DIR/.samizdat/partial/ID.part ---- */

static size_t
conn_index(const struct run *r, const struct conn *c)
{
    return (size_t)(c - r->conns);
}

static void
part_path(const struct run *r, const uint8_t id[SZ_BUNDLE_ID_LEN], const char *suffix, char *out,
          size_t cap)
{
    char hex[2 * SZ_BUNDLE_ID_LEN + 1];

    sz_bundle_id_hex(id, hex);
    snprintf(out, cap, "%s/.samizdat/partial/%s%s", r->o->dir, hex, suffix);
}

/* The kept bytes of parts[k] are of no more use (the bundle came, or they failed). */
static void
part_forget(struct run *r, size_t k)
{
    char path[PATH_MAX];

    part_path(r, r->parts[k].id, ".part", path, sizeof path);
    (void)unlink(path);
    r->parts[k].off = true;
    r->parts[k].have = 0;
}

/* The part of bundle id, if one is kept. */
static ssize_t
part_find(const struct run *r, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    for (size_t k = 0; k < r->n_parts; k++)
        if (memcmp(r->parts[k].id, id, SZ_BUNDLE_ID_LEN) == 0)
            return (ssize_t)k;
    return -1;
}

/*
 * Checks the first len bytes of a bundle of total bytes: a trusted publisher's
 * signed header (the payload is checked when the bundle is whole), a sequence
 * the library lacks. Returns the publisher's index, or -1.
 */
static ssize_t
part_check(const struct run *r, const uint8_t *buf, size_t len, uint64_t total,
           struct sz_bundle_header *h, uint8_t id[SZ_BUNDLE_ID_LEN])
{
    ssize_t i;

    if (total > UINT32_MAX || len < SZ_BUNDLE_PREFIX_LEN || len >= total ||
        sz_bundle_verify_prefix(buf, len, total, r->o->content_cap, h, id) != 0)
        return -1;
    i = trusted_index(r, h->publisher);
    if (i < 0 || held_has(&r->held[i], h->sequence))
        return -1;
    return i;
}

/* A slot for a new part: a free one, or one whose part is done with. */
static ssize_t
part_slot(struct run *r)
{
    if (r->n_parts < MAX_PARTS)
        return (ssize_t)r->n_parts++;
    for (size_t k = 0; k < r->n_parts; k++)
        if (r->parts[k].owner == 0 && r->parts[k].off)
            return (ssize_t)k;
    return -1;
}

/*
 * A link lost partway through a large bundle: the bytes that came are kept
 * (written whole, then renamed), for this run's other peers or a later run to
 * send only the rest. Not from a peer that misbehaved. Best effort: a part not
 * kept costs a new download.
 */
static void
part_save(struct run *r, struct conn *c)
{
    struct sz_bundle_header h;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    char dir[PATH_MAX], tmp[PATH_MAX], path[PATH_MAX];
    ssize_t i, k;
    size_t off = 0;
    int fd;

    if (c->rx == NULL || c->misbehaved || c->rx_total < PART_MIN_TOTAL ||
        (c->rx_got < PART_MIN_KEEP && !c->rx_part))
        return;
    i = part_check(r, c->rx, c->rx_got, c->rx_total, &h, id);
    if (i < 0)
        return;
    k = part_find(r, id);
    /* Never a shorter one over a longer one, nor one another link is asked for. */
    if (k >= 0 && (r->parts[k].have >= c->rx_got ||
                   (r->parts[k].owner != 0 && r->parts[k].owner != conn_index(r, c) + 1)))
        return;
    /* Before the first bundle, the library may not exist yet (checked at the
     * start: DIR is missing, empty or a library). */
    (void)mkdir(r->o->dir, 0755);
    state_path(r, "", dir, sizeof dir);
    (void)mkdir(dir, 0755);
    state_path(r, "partial", dir, sizeof dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return;
    part_path(r, id, ".tmp", tmp, sizeof tmp);
    part_path(r, id, ".part", path, sizeof path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    while (off < c->rx_got) {
        ssize_t n = write(fd, c->rx + off, c->rx_got - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (close(fd) != 0 || off < c->rx_got || rename(tmp, path) != 0) {
        (void)unlink(tmp);
        return;
    }
    if (k < 0) {
        k = part_slot(r);
        if (k < 0)
            return; /* on disk, for a later run */
        memset(&r->parts[k], 0, sizeof r->parts[k]);
        memcpy(r->parts[k].id, id, SZ_BUNDLE_ID_LEN);
        r->parts[k].pub = (size_t)i;
        r->parts[k].seq = h.sequence;
        r->parts[k].total = c->rx_total;
    }
    r->parts[k].have = c->rx_got;
    r->parts[k].off = false;
}

/*
 * At the start: the parts earlier runs kept. One that fails its checks, of a
 * sequence the library holds now, or older than PART_MAX_AGE_S, is deleted,
 * as is a write a crash cut short; one of a publisher not trusted in this run
 * is left for a run that trusts it (until it is too old).
 */
static void
parts_load(struct run *r)
{
    char dir[PATH_MAX], path[PATH_MAX + 300];
    struct dirent *e;
    time_t now = time(NULL);
    DIR *d;

    state_path(r, "partial", dir, sizeof dir);
    d = opendir(dir);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        uint8_t buf[SZ_BUNDLE_PREFIX_LEN], id[SZ_BUNDLE_ID_LEN], want[SZ_BUNDLE_ID_LEN];
        struct sz_bundle_header h;
        size_t len = strlen(e->d_name);
        struct stat st;
        uint64_t total;
        bool keep = false;
        int fd;

        if ((len != 2 * SZ_BUNDLE_ID_LEN + 5 && len != 2 * SZ_BUNDLE_ID_LEN + 4) ||
            sz_unhex(e->d_name, 2 * SZ_BUNDLE_ID_LEN, want, sizeof want) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (strcmp(e->d_name + 2 * SZ_BUNDLE_ID_LEN, ".part") != 0) {
            if (strcmp(e->d_name + 2 * SZ_BUNDLE_ID_LEN, ".tmp") == 0)
                (void)unlink(path);
            continue;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= SZ_BUNDLE_PREFIX_LEN &&
            now - st.st_mtime < PART_MAX_AGE_S && r->n_parts < MAX_PARTS &&
            read(fd, buf, sizeof buf) == (ssize_t)sizeof buf) {
            total = SZ_BUNDLE_PREFIX_LEN + sz_load64(buf + 56); /* payload_len (BUNDLE.md 1.1) */
            if (total > SZ_BUNDLE_PREFIX_LEN && total <= UINT32_MAX &&
                (uint64_t)st.st_size < total) {
                ssize_t i = part_check(r, buf, sizeof buf, total, &h, id);
                if (i >= 0 && memcmp(id, want, sizeof id) == 0) {
                    struct part *pt = &r->parts[r->n_parts++];
                    memset(pt, 0, sizeof *pt);
                    memcpy(pt->id, id, sizeof id);
                    pt->pub = (size_t)i;
                    pt->seq = h.sequence;
                    pt->have = (uint32_t)st.st_size;
                    pt->total = (uint32_t)total;
                    keep = true;
                } else if (trusted_index(r, buf + 8) < 0 &&
                           sz_bundle_verify_prefix(buf, sizeof buf, total, r->o->content_cap, &h,
                                                   id) == 0 &&
                           memcmp(id, want, sizeof id) == 0) {
                    keep = true; /* another publisher's: for a run that trusts it */
                }
            }
        } else if (r->n_parts == MAX_PARTS && now - st.st_mtime < PART_MAX_AGE_S) {
            keep = true; /* no slot in this run: for a later one */
        }
        close(fd);
        if (!keep)
            (void)unlink(path);
    }
    closedir(d);
}

/* The bundle came whole: its kept part, if any, is deleted. */
static void
part_done(struct run *r, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    ssize_t k = r->n_parts > 0 ? part_find(r, id) : -1;

    if (k >= 0)
        part_forget(r, (size_t)k);
}

/* parts[k] is no longer claimed by a link: its sequence is free for others. */
static void
part_unclaim(struct run *r, size_t k)
{
    struct part *pt = &r->parts[k];

    if (pt->owner == 0)
        return;
    held_remove(&r->claimed[pt->pub], pt->seq, pt->seq);
    pt->owner = 0;
}

/* Sends c the REQUEST_PART of the next part claimed for it, one at a time. */
static void
part_send_next(struct run *r, struct conn *c)
{
    size_t k, me = conn_index(r, c) + 1;

    if (c->part != 0 || c->state == C_DONE)
        return;
    for (k = 0; k < r->n_parts; k++) {
        struct part *pt = &r->parts[k];
        struct sz_msg m;
        if (pt->owner != me || pt->off)
            continue;
        memset(&m, 0, sizeof m);
        m.type = SZ_MSG_REQUEST_PART;
        memcpy(m.id, pt->id, SZ_BUNDLE_ID_LEN);
        m.offset = pt->have;
        conn_send(c, &m);
        c->part = k + 1;
        c->part_offset = pt->have;
        c->part_total = pt->total;
        c->part_since_ms = c->last_progress_ms = now_ms();
        if (c->n_out_ranges == 0) {
            /* The rate clock starts with the request, as for ranges. */
            c->rate_since_ms = c->part_since_ms;
            c->rate_bytes = 0;
        }
        return;
    }
}

/* c ends: the parts claimed for it go back (its REQUEST_PART's answer with it). */
static void
part_release(struct run *r, struct conn *c)
{
    size_t k, me = conn_index(r, c) + 1;

    for (k = 0; k < r->n_parts; k++)
        if (r->parts[k].owner == me)
            part_unclaim(r, k);
    c->part = 0;
}

/*
 * c's REQUEST_PART is over without the bundle (NOT_FOUND, no answer, the part
 * gone meanwhile, or the finished bundle failed its check): the bundle is asked
 * for by range, from its first byte, from any peer; c goes on with its next part.
 */
static void
part_refused(struct run *r, struct conn *c)
{
    struct part *pt;
    size_t k;

    if (c->part == 0)
        return;
    k = c->part - 1;
    pt = &r->parts[k];
    c->part = 0;
    part_unclaim(r, k);
    pt->off = true;
    if (!held_has(&r->held[pt->pub], pt->seq))
        replan_range(r, NULL, pt->pub, pt->seq, pt->seq);
    part_send_next(r, c);
}

/*
 * Claims for c the kept parts it offers, before its ranges are planned (their
 * sequences are then left out of them), and asks for the first.
 */
static void
ask_parts(struct run *r, struct conn *c)
{
    size_t k, me = conn_index(r, c) + 1;

    if (c->cp == NULL || (sz_link_features(c->link) & SZ_FEATURE_PART) == 0)
        return;
    for (k = 0; k < r->n_parts; k++) {
        struct part *pt = &r->parts[k];
        if (pt->off || pt->owner != 0 || !held_has(&c->cp[pt->pub].offer, pt->seq) ||
            held_has(&r->held[pt->pub], pt->seq) || held_has(&r->claimed[pt->pub], pt->seq))
            continue;
        if (!held_add(&r->claimed[pt->pub], pt->seq, pt->seq))
            break;
        pt->owner = me;
    }
    part_send_next(r, c);
}

/*
 * The first BUNDLE answering c's REQUEST_PART: rx is set up with the kept bytes.
 * Returns false when they cannot be read.
 */
static bool
part_resume(struct run *r, struct conn *c)
{
    struct part *pt = &r->parts[c->part - 1];
    char path[PATH_MAX];
    size_t off = 0;
    int fd;

    part_path(r, pt->id, ".part", path, sizeof path);
    c->rx = malloc(c->part_total);
    fd = c->rx != NULL ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    while (fd >= 0 && off < c->part_offset) {
        ssize_t n = read(fd, c->rx + off, c->part_offset - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    if (off < c->part_offset) {
        free(c->rx);
        c->rx = NULL;
        return false;
    }
    c->rx_total = c->part_total;
    c->rx_got = c->part_offset;
    c->rx_part = true;
    return true;
}

/*
 * A peer that answered, then failed or withheld, is no longer ok: another may
 * be tried, also for each publisher it was counted as offering.
 */
static void
peer_not_ok(struct run *r, struct conn *c)
{
    size_t i;

    if (c->counted_ok) {
        r->res->peers_ok--;
        c->counted_ok = false;
    }
    for (i = 0; c->cp != NULL && i < r->o->trust->n; i++) {
        if (c->cp[i].covers) {
            r->rp[i].covered--;
            c->cp[i].covers = false;
        }
    }
}

/*
 * A peer failed (why says how). Without follow it is named and not tried
 * again. With follow it is tried again after a wait that doubles from
 * BACKOFF_MIN_MS to BACKOFF_MAX_MS (jittered, so that readers do not come
 * back in step), and named only when it goes away, not at each retry; a
 * hostile one waits the longest. open_ms: when its link got its SUMMARY (0:
 * never): a link that lasted starts the waits again from the shortest.
 */
static void
peer_went_away(struct run *r, size_t pi, const char *why, bool hostile, int64_t open_ms)
{
    struct peer *p = &r->peers[pi];
    int64_t t = now_ms(), wait;

    if (!p->failed) {
        p->failed = true;
        r->res->peers_failed++;
    }
    if (!r->o->follow) {
        util_err("peer %s: %s; trying other peers", p->name, why);
        return;
    }
    if (hostile)
        p->backoff_ms = BACKOFF_MAX_MS;
    else if (open_ms != 0 && t - open_ms >= BACKOFF_RESET_MS)
        p->backoff_ms = BACKOFF_MIN_MS;
    if (!p->down)
        util_err("peer %s: %s; trying it again every %d s or less until it answers (Ctrl-C "
                 "stops)",
                 p->name, why, BACKOFF_MAX_MS / 1000);
    p->down = true;
    wait = p->backoff_ms / 2 + (int64_t)randombytes_uniform((uint32_t)(p->backoff_ms / 2) + 1);
    p->retry_at_ms = t + wait;
    p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
}

static void
conn_fail(struct run *r, struct conn *c, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    peer_not_ok(r, c);
    peer_went_away(r, c->peer, why, c->misbehaved, c->open_ms);
    conn_end(r, c);
    replan(r, NULL);
}

/*
 * Splits spec, "HOST[:PORT]" or "[IPv6][:PORT]", into p->host and p->port
 * (FETCH_DEFAULT_PORT when none is given) and names the peer HOST:PORT.
 * Returns false with the reason in why.
 */
static bool
peer_parse(const char *spec, struct peer *p, char *why, size_t cap)
{
    const char *host = spec, *host_end, *port = NULL, *colon;
    bool v6 = spec[0] == '[';
    size_t k;
    unsigned long v = 0;

    if (strpbrk(spec, " \t") != NULL) {
        snprintf(why, cap, "contains white space: give one address per line or --peer");
        return false;
    }
    if (v6) {
        host = spec + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL) {
            snprintf(why, cap, "an IPv6 address in brackets lacks its ']'");
            return false;
        }
        if (host_end[1] == ':')
            port = host_end + 2;
        else if (host_end[1] != '\0') {
            snprintf(why, cap, "only ':PORT' may follow the ']' of an IPv6 address");
            return false;
        }
    } else {
        colon = strchr(spec, ':');
        if (strstr(spec, "://") != NULL || strchr(spec, '/') != NULL) {
            snprintf(why, cap, "a peer is an address, not a URL: leave out the scheme and path");
            return false;
        }
        if (colon != NULL && strchr(colon + 1, ':') != NULL) {
            /* Two colons: an IPv6 address without brackets, or a port too many. */
            snprintf(why, cap,
                     spec[strspn(spec, "0123456789abcdefABCDEF:")] != '\0' ||
                             memchr(spec, '.', (size_t)(colon - spec)) != NULL
                         ? "only one ':PORT' may follow the host"
                         : "an IPv6 address goes in brackets: [ADDRESS] or [ADDRESS]:PORT");
            return false;
        }
        host_end = colon != NULL ? colon : spec + strlen(spec);
        if (colon != NULL)
            port = colon + 1;
    }
    if (host_end == host || (size_t)(host_end - host) >= sizeof p->host) {
        snprintf(why, cap, host_end == host ? "no host before the port" : "the host is too long");
        return false;
    }
    if (port != NULL) {
        for (k = 0; port[k] >= '0' && port[k] <= '9' && k < 6; k++)
            v = v * 10 + (unsigned long)(port[k] - '0');
        if (k == 0 || port[k] != '\0' || v < 1 || v > 65535) {
            snprintf(why, cap, "the port must be a number from 1 to 65535 (or left out for %d)",
                     FETCH_DEFAULT_PORT);
            return false;
        }
    } else {
        v = FETCH_DEFAULT_PORT;
    }
    snprintf(p->host, sizeof p->host, "%.*s", (int)(host_end - host), host);
    snprintf(p->port, sizeof p->port, "%lu", v);
    snprintf(p->name, sizeof p->name, v6 ? "[%s]:%s" : "%s:%s", p->host, p->port);
    return true;
}

static struct notifier *
notifier_new(void)
{
    struct notifier *nt = calloc(1, sizeof *nt);

    if (nt == NULL)
        return NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, nt->fds) != 0) {
        free(nt);
        return NULL;
    }
    atomic_init(&nt->refs, 1);
    return nt;
}

/* Lets go of one reference to nt: the last closes it. */
static void
notifier_release(struct notifier *nt)
{
    if (nt == NULL || atomic_fetch_sub(&nt->refs, 1) != 1)
        return;
    close(nt->fds[0]);
    close(nt->fds[1]);
    free(nt);
}

/* Reads what lookups wrote to nt (one byte each; they only say "look"). */
static void
notifier_drain(struct notifier *nt)
{
    char buf[256];

    while (recv(nt->fds[0], buf, sizeof buf, 0) > 0)
        ;
}

/* Lets go of one reference to l: the last frees it. */
static void
lookup_release(struct lookup *l)
{
    if (l == NULL || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    if (l->res != NULL)
        freeaddrinfo(l->res);
    notifier_release(l->nt);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void *
lookup_main(void *arg)
{
    struct lookup *l = arg;
    struct addrinfo hints, *res = NULL;
    int gai;

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    gai = getaddrinfo(l->host, l->port, &hints, &res);
    pthread_mutex_lock(&l->mu);
    l->gai = gai;
    l->res = gai == 0 ? res : NULL;
    l->done = true;
    pthread_mutex_unlock(&l->mu);
    /* A socket, not a pipe: no SIGPIPE. A full buffer already says "look". */
    (void)send(l->nt->fds[1], "", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    lookup_release(l);
    return NULL;
}

/*
 * Starts looking up p's name in a thread. Returns the lookup, or NULL when no
 * thread could be made (the caller then looks it up itself).
 */
static struct lookup *
lookup_start(struct run *r, const struct peer *p)
{
    struct lookup *l;
    pthread_attr_t attr;
    pthread_t th;
    sigset_t all, old;
    int rc;

    if (r->nt == NULL && (r->nt = notifier_new()) == NULL)
        return NULL;
    l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return NULL;
    }
    atomic_fetch_add(&r->nt->refs, 1);
    l->nt = r->nt;
    snprintf(l->host, sizeof l->host, "%s", p->host);
    snprintf(l->port, sizeof l->port, "%s", p->port);
    atomic_init(&l->refs, 2);
    if (pthread_attr_init(&attr) != 0) {
        atomic_store(&l->refs, 1);
        lookup_release(l);
        return NULL;
    }
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Signals go to the loop's thread, where they interrupt poll(). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&th, &attr, lookup_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_store(&l->refs, 1);
        lookup_release(l);
        return NULL;
    }
    return l;
}

/*
 * Connects to the next of c's addresses that takes a connect() at once.
 * Returns false when none is left (c->ai_err says why the last failed).
 */
static bool
conn_connect_next(struct run *r, struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    while (c->ai_next != NULL) {
        const struct addrinfo *a = c->ai_next;
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        c->ai_next = a->ai_next;
        c->n_ai_tried++;
        if (fd < 0) {
            c->ai_err = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            c->ai_err = errno;
            close(fd);
            continue;
        }
        c->fd = fd;
        c->state = C_CONNECTING;
        c->deadline_ms = now_ms() + r->o->connect_timeout_ms;
        return true;
    }
    return false;
}

/* "cannot connect: why", naming how many addresses were tried when more than one. */
static void
conn_connect_failed(struct run *r, struct conn *c, const char *why)
{
    if (r->o->proxy != NULL)
        conn_fail(r, c, "cannot connect to the proxy %s: %s", r->proxy.name, why);
    else if (c->n_ai_tried > 1)
        conn_fail(r, c, "cannot connect to any of its %zu addresses (the last: %s)", c->n_ai_tried,
                  why);
    else
        conn_fail(r, c, "cannot connect: %s", why);
}

/*
 * The peer's addresses are known (gai: getaddrinfo()'s result): connects to
 * the first that answers, trying the next on an error or a timeout.
 */
static void
conn_resolved(struct run *r, struct conn *c, int gai, struct addrinfo *res)
{
    if (gai != 0 || res == NULL) {
        if (res != NULL)
            freeaddrinfo(res);
        conn_fail(r, c, "cannot resolve the address: %s",
                  gai != 0 ? gai_strerror(gai) : "no address");
        return;
    }
    c->ai = c->ai_next = res;
    if (!conn_connect_next(r, c))
        conn_connect_failed(r, c, strerror(c->ai_err));
}

/* The lookup of c's peer is done: takes its result. */
static void
conn_lookup_done(struct run *r, struct conn *c)
{
    struct peer *p = &r->peers[c->peer];
    struct lookup *l = p->lookup;
    struct addrinfo *res;
    int gai;

    pthread_mutex_lock(&l->mu);
    gai = l->gai;
    res = l->res;
    l->res = NULL;
    pthread_mutex_unlock(&l->mu);
    p->lookup = NULL;
    lookup_release(l);
    conn_resolved(r, c, gai, res);
}

static bool
lookup_is_done(struct lookup *l)
{
    bool done;

    pthread_mutex_lock(&l->mu);
    done = l->done;
    pthread_mutex_unlock(&l->mu);
    return done;
}

/*
 * Opens a non-blocking connection to peer pi: an address at once, a name once
 * a lookup thread has found it (C_RESOLVING until then). On failure the peer
 * is named and c stays done.
 */
static bool
conn_start(struct run *r, struct conn *c, size_t pi)
{
    struct peer *p = &r->peers[pi];
    struct addrinfo hints, *res = NULL;
    int gai;

    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->state = C_RESOLVING;
    c->peer = pi;
    snprintf(c->name, sizeof c->name, "%s", p->name);
    if (!p->tried) {
        p->tried = true;
        r->res->peers_tried++;
    }
    p->busy = true;
    c->deadline_ms = now_ms() + r->o->connect_timeout_ms;
    if (r->proxy_ai != NULL) {
        /* Through the proxy, which looks the name up itself: its addresses are
         * the run's (c->ai stays NULL: not this connection's to free). */
        c->ai_next = r->proxy_ai;
        if (!conn_connect_next(r, c))
            conn_connect_failed(r, c, strerror(c->ai_err));
        return c->state != C_DONE;
    }
    if (p->lookup == NULL) {
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST;
        gai = getaddrinfo(p->host, p->port, &hints, &res);
        if (gai != EAI_NONAME) {
            conn_resolved(r, c, gai, res);
            return c->state != C_DONE;
        }
        p->lookup = lookup_start(r, p);
        if (p->lookup == NULL) {
            hints.ai_flags = 0;
            gai = getaddrinfo(p->host, p->port, &hints, &res);
            conn_resolved(r, c, gai, res);
            return c->state != C_DONE;
        }
    }
    /* A lookup from an earlier connection may have finished meanwhile. */
    if (lookup_is_done(p->lookup))
        conn_lookup_done(r, c);
    return c->state != C_DONE;
}

/*
 * Where the sequences from s on stop being free in h: sets *covered_to to the
 * last sequence of the range holding s and returns true, or sets *free_to to
 * the last free sequence before h's next range (UINT64_MAX when none).
 */
static bool
held_span(const struct held *h, uint64_t s, uint64_t *covered_to, uint64_t *free_to)
{
    size_t k = held_at(h, s);

    if (k < h->n && h->v[k].first <= s) {
        *covered_to = h->v[k].last;
        return true;
    }
    *free_to = k < h->n ? h->v[k].first - 1 : UINT64_MAX;
    return false;
}

/* Appends a claim to c's queue. Returns false when the queue is full or memory is out. */
static bool
queue_push(struct conn *c, size_t pub, uint64_t first, uint64_t last)
{
    if (c->n_queue >= MAX_QUEUE) {
        c->queue_cut = true;
        return false;
    }
    if (c->q0 + c->n_queue == c->queue_cap) {
        if (c->q0 > 0) {
            memmove(c->queue, c->queue + c->q0, c->n_queue * sizeof *c->queue);
            c->q0 = 0;
        } else {
            size_t cap = c->queue_cap == 0 ? 16 : c->queue_cap * 2;
            struct claim *q = realloc(c->queue, cap * sizeof *q);
            if (q == NULL)
                return false;
            c->queue = q;
            c->queue_cap = cap;
        }
    }
    c->queue[c->q0 + c->n_queue].pub = pub;
    c->queue[c->q0 + c->n_queue].first = first;
    c->queue[c->q0 + c->n_queue].last = last;
    c->queue[c->q0 + c->n_queue].probe = false;
    c->n_queue++;
    return true;
}

/*
 * Splits what the peer holds of publisher i, minus what we hold or others
 * fetch, into claims of at most CHUNK_SEQS sequences. A peer claiming more
 * than MAX_QUEUE claims' worth gets the first of them planned: the rest is
 * planned again when it has delivered (or another peer offers it).
 */
static void
plan_ranges(struct run *r, struct conn *c, size_t i, uint64_t first, uint64_t last)
{
    uint64_t s = first;

    while (s <= last) {
        uint64_t to, free_held = UINT64_MAX, free_claimed = UINT64_MAX, free_skip = UINT64_MAX, e;
        if (held_span(&r->held[i], s, &to, &free_held) ||
            held_span(&r->claimed[i], s, &to, &free_claimed) ||
            held_span(&c->cp[i].skip, s, &to, &free_skip)) {
            if (to >= last)
                break;
            s = to + 1;
            continue;
        }
        e = last;
        if (e - s >= CHUNK_SEQS)
            e = s + CHUNK_SEQS - 1;
        if (e > free_held)
            e = free_held;
        if (e > free_claimed)
            e = free_claimed;
        if (e > free_skip)
            e = free_skip;
        if (!queue_push(c, i, s, e))
            return;
        held_add(&r->claimed[i], s, e);
        if (e == UINT64_MAX)
            break;
        s = e + 1;
    }
}

/*
 * Asks c for up to PROBE_SEQS sequences of publisher i from `from` on, as far
 * as the library does not hold them and no other peer is asked for them: c's
 * summary ended before the publisher's key, so whether c holds it is not
 * known (RELAY_SUMMARY_PARTS). A probe's claim goes alone (it is longer than
 * sparse_run() joins) and no other peer takes it over (none offers it whole).
 */
static void
probe_push(struct run *r, struct conn *c, size_t i, uint64_t from)
{
    uint64_t s = from, to, free_held = UINT64_MAX, free_claimed = UINT64_MAX, e;

    while (held_span(&r->held[i], s, &to, &free_held) ||
           held_span(&r->claimed[i], s, &to, &free_claimed)) {
        if (to == UINT64_MAX)
            return;
        s = to + 1;
    }
    e = s > UINT64_MAX - (PROBE_SEQS - 1) ? UINT64_MAX : s + PROBE_SEQS - 1;
    if (e > free_held)
        e = free_held;
    if (e > free_claimed)
        e = free_claimed;
    if (!queue_push(c, i, s, e))
        return;
    c->queue[c->q0 + c->n_queue - 1].probe = true;
    held_add(&r->claimed[i], s, e);
}

/*
 * The peer answered a probe (probe_push()). None of the window's bundles
 * came: it holds nothing newer there, and what it holds of the publisher is
 * known. Some came: it carries the publisher, and the next window is asked.
 * Sequences it did not send go to the peers that offered them.
 */
static void
probe_done(struct run *r, struct conn *c, const struct out_req *q)
{
    const struct held *h = &r->held[q->pub];
    size_t k = held_at(h, q->first);

    replan_range(r, c, q->pub, q->first, q->last);
    if (k == h->n || h->v[k].first > q->last) {
        r->rp[q->pub].known = true;
        return;
    }
    if (!c->cp[q->pub].covers) {
        c->cp[q->pub].covers = true;
        r->rp[q->pub].covered++;
    }
    if (q->last < UINT64_MAX) {
        probe_push(r, c, q->pub, q->last + 1);
        send_ranges(r, c);
    }
}

/*
 * How many claims at the head of c's queue go in one REQUEST_SPARSE (1: a
 * REQUEST_RANGE): those of one publisher in ascending order, within one span
 * (SZ_MSG_MAX_RANGE_SPAN), of at most CHUNK_SEQS sequences in all. A library
 * with scattered holes thus asks for up to CHUNK_SEQS of them in one request
 * instead of one request each (PROTOCOL.md 4.3.2); a claim of CHUNK_SEQS
 * sequences, as in a plain backlog, still goes alone.
 */
static size_t
sparse_run(const struct conn *c)
{
    const struct claim *h = &c->queue[c->q0];
    uint64_t seqs = h->last - h->first + 1;
    size_t n = 1;

    if ((sz_link_features(c->link) & SZ_FEATURE_SPARSE) == 0)
        return 1;
    while (n < c->n_queue && seqs < CHUNK_SEQS) {
        const struct claim *x = &c->queue[c->q0 + n];
        if (x->pub != h->pub || x->first <= c->queue[c->q0 + n - 1].last ||
            x->last - h->first >= SZ_MSG_MAX_RANGE_SPAN || x->last - x->first >= CHUNK_SEQS - seqs)
            break;
        seqs += x->last - x->first + 1;
        n++;
    }
    return n;
}

/* Asks c for the claims at the head of its queue, up to RANGES_OUT requests out. */
static void
send_ranges(struct run *r, struct conn *c)
{
    while (c->n_out_ranges < RANGES_OUT && c->n_queue > 0) {
        struct out_req *q = &c->out_ranges[c->n_out_ranges];
        const struct claim *h = &c->queue[c->q0];
        size_t n = sparse_run(c), j;
        struct claim *cl = NULL;

        if (n > 1) {
            struct sz_msg_range v[CHUNK_SEQS];
            uint8_t body[1 + SZ_PUBLIC_KEY_LEN + 2 + CHUNK_SEQS * SZ_MSG_PACKED_RANGE_MAX_LEN];
            size_t len = 0;
            for (j = 0; j < n; j++) {
                v[j].first = h[j].first;
                v[j].last = h[j].last;
            }
            if ((cl = malloc(n * sizeof *cl)) != NULL &&
                sz_msg_encode_request_sparse(r->o->trust->pk[h->pub], v, n, body, sizeof body,
                                             &len) == 0) {
                memcpy(cl, h, n * sizeof *cl);
                conn_send_body(c, body, len);
            } else {
                free(cl); /* out of memory: one claim by REQUEST_RANGE */
                cl = NULL;
                n = 1;
            }
        }
        if (n == 1) {
            struct sz_msg m;
            memset(&m, 0, sizeof m);
            m.type = SZ_MSG_REQUEST_RANGE;
            memcpy(m.publisher, r->o->trust->pk[h->pub], 32);
            m.first = h->first;
            m.last = h->last;
            conn_send(c, &m);
        }
        if (c->n_out_ranges == 0) {
            /* The rate clock starts with the request. */
            c->last_progress_ms = c->rate_since_ms = now_ms();
            c->rate_bytes = 0;
        }
        q->pub = h->pub;
        q->first = h->first;
        q->last = h[n - 1].last;
        q->cl = cl;
        q->n_cl = n;
        q->probe = n == 1 && h->probe;
        c->n_out_ranges++;
        c->q0 += n;
        c->n_queue -= n;
        if (c->n_queue == 0)
            c->q0 = 0;
    }
}

/* Whether c offers all of [first, last] of publisher pub and was never found not to send it. */
static bool
conn_offers(const struct conn *c, size_t pub, uint64_t first, uint64_t last)
{
    const struct held *of = &c->cp[pub].offer, *sk = &c->cp[pub].skip;
    size_t k = held_at(of, first);
    size_t j = held_at(sk, first);

    return k < of->n && of->v[k].first <= first && of->v[k].last >= last &&
           !(j < sk->n && sk->v[j].first <= last);
}

/*
 * c has nothing queued to ask: it takes over about half of the claims still
 * queued (not asked yet) at the open peer with the most, from the end, as far
 * as c offers them. A reader with several peers thus fetches one publisher's
 * backlog from more than one at once, each bundle still from one peer only.
 */
static void
steal_claims(struct run *r, struct conn *c)
{
    struct conn *o = NULL;
    size_t i, want, taken = 0;

    if (c->state != C_OPEN || c->cp == NULL || c->n_queue > 0 || c->n_out_ranges >= RANGES_OUT)
        return;
    for (i = 0; i < r->n_conns; i++) {
        struct conn *x = &r->conns[i];
        if (x != c && x->state == C_OPEN && x->n_queue > 0 &&
            (o == NULL || x->n_queue > o->n_queue))
            o = x;
    }
    if (o == NULL)
        return;
    want = (o->n_queue + 1) / 2;
    while (taken < want && taken < o->n_queue) {
        const struct claim *cl = &o->queue[o->q0 + o->n_queue - 1 - taken];
        if (!conn_offers(c, cl->pub, cl->first, cl->last))
            break;
        taken++;
    }
    /* In their order, so that scattered ones go in one request (sparse_run()). */
    for (i = o->q0 + o->n_queue - taken; i < o->q0 + o->n_queue; i++) {
        if (!queue_push(c, o->queue[i].pub, o->queue[i].first, o->queue[i].last)) {
            c->n_queue = c->q0 = 0; /* out of memory: c takes none */
            return;
        }
    }
    o->n_queue -= taken;
    if (o->n_queue == 0)
        o->q0 = 0;
    if (taken > 0)
        send_ranges(r, c);
}

/* Orders claims by publisher, then first sequence. */
static int
cmp_claim(const void *pa, const void *pb)
{
    const struct claim *a = pa, *b = pb;

    if (a->pub != b->pub)
        return a->pub < b->pub ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

/* What the library holds of publisher i, at least: the baseline of rollback checks. */
static uint64_t
baseline(const struct run *r, size_t i)
{
    uint64_t h = held_max(&r->held[i]);

    return h > r->rp[i].lib_seq ? h : r->rp[i].lib_seq;
}

/*
 * c's SUMMARY is complete: warn of rollbacks, count which publishers it
 * offers up to what the library holds (fill_conns goes on trying peers for
 * the others), plan what it offers, and start asking.
 */
static void
summary_done(struct run *r, struct conn *c)
{
    size_t i, k;

    if (c->n_ignored > 0)
        util_err("peer %s: offers more than %d separate ranges of a publisher; %llu more are "
                 "ignored",
                 c->name, MAX_PEER_RANGES, (unsigned long long)c->n_ignored);
    for (i = 0; i < r->o->trust->n; i++) {
        struct conn_pub *p = &c->cp[i];
        uint64_t base = baseline(r, i);
        /* A summary cut short, or as long as a relay sends, says nothing of the
         * publishers past its last key: they are asked of the peer (probe_push()). */
        bool past = (c->summary_cut || c->n_summary_parts >= RELAY_SUMMARY_PARTS) &&
                    !(c->summary_hi_set &&
                      memcmp(r->o->trust->pk[i], c->summary_hi, SZ_PUBLIC_KEY_LEN) < 0);
        if (p->listed || !past)
            r->rp[i].known = true;
        if (!p->listed) {
            if (past && base < UINT64_MAX)
                probe_push(r, c, i, base + 1);
            continue; /* not evidence of anything: other peers are tried for it */
        }
        r->rp[i].listed = true;
        if (p->max < base) {
            char pk[SZ_PK_TEXT_LEN + 1];
            sz_pk_to_text(r->o->trust->pk[i], pk);
            util_err("peer %s offers %s only up to sequence %llu, older than the %llu this "
                     "library holds: a stale peer, or a rollback attempt",
                     c->name, r->o->trust->names[i] != NULL ? r->o->trust->names[i] : pk,
                     (unsigned long long)p->max, (unsigned long long)base);
            r->res->pubs[i].rollback_seen = true;
        } else {
            p->covers = true;
            r->rp[i].covered++;
        }
    }
    /* The rest of kept parts first: their sequences are then left out of the ranges. */
    ask_parts(r, c);
    for (i = 0; i < r->o->trust->n; i++)
        for (k = 0; c->cp[i].listed && k < c->cp[i].offer.n; k++)
            plan_ranges(r, c, i, c->cp[i].offer.v[k].first, c->cp[i].offer.v[k].last);
    for (k = 0; k < c->n_eq_wait; k++)
        request_evidence(r, c, &c->eq_wait[k]);
    c->n_eq_wait = 0;
    c->state = C_OPEN;
    c->last_progress_ms = c->open_ms = now_ms();
    if (!r->o->follow) {
        /* Its answer comes after the reports it sent with its SUMMARY. */
        struct sz_msg ping;
        memset(&ping, 0, sizeof ping);
        ping.type = SZ_MSG_PING;
        randombytes_buf(&c->barrier_nonce, sizeof c->barrier_nonce);
        ping.nonce = c->barrier_nonce;
        conn_send(c, &ping);
    }
    r->res->peers_ok++;
    c->counted_ok = true;
    /* Failed before (--follow: it went away and came back): not failed now. */
    if (r->peers[c->peer].failed) {
        r->peers[c->peer].failed = false;
        r->res->peers_failed--;
    }
    if (!r->peers[c->peer].answered) {
        r->peers[c->peer].answered = true;
        r->res->peers_answered++;
    }
    if (r->peers[c->peer].down) {
        util_err("peer %s answers again", c->name);
        r->peers[c->peer].down = false;
    }
    send_ranges(r, c);
    steal_claims(r, c);
}

/*
 * One part of c's SUMMARY: its ranges of trusted publishers are sorted once
 * and merged into what c offers (a publisher listed twice is merged too; past
 * MAX_PEER_RANGES ranges of one publisher the highest are ignored). Planning
 * waits for the last part (`more` 0), or the MAX_SUMMARY_PARTS-th.
 */
static void
on_summary(struct run *r, struct conn *c, const struct sz_msg *m)
{
    struct sz_msg_iter it;
    struct sz_msg_summary_pub sp;
    struct claim *all = NULL;
    struct sz_msg_range *rg = NULL;
    size_t n = 0, k, a, b;
    int64_t t = now_ms();

    if (c->cp == NULL && (c->cp = calloc(r->o->trust->n, sizeof *c->cp)) == NULL) {
        conn_fail(r, c, "out of memory for its summary");
        return;
    }
    /* Count, then collect: a part holds at most SZ_MSG_MAX_LEN / 16 ranges, or / 2 packed. */
    sz_msg_summary_iter(m, &it);
    while (sz_msg_summary_next(&it, &sp)) {
        if (trusted_index(r, sp.publisher) >= 0)
            n += sp.n_ranges;
        /* Parts come in order of publisher key (PROTOCOL.md 4.3): a summary cut
         * short still says what it holds of the publishers up to here. */
        if (!c->summary_hi_set || memcmp(sp.publisher, c->summary_hi, SZ_PUBLIC_KEY_LEN) > 0) {
            memcpy(c->summary_hi, sp.publisher, SZ_PUBLIC_KEY_LEN);
            c->summary_hi_set = true;
        }
    }
    if (n > 0 &&
        ((all = malloc(n * sizeof *all)) == NULL || (rg = malloc(n * sizeof *rg)) == NULL)) {
        free(all);
        conn_fail(r, c, "out of memory for its summary");
        return;
    }
    n = 0;
    sz_msg_summary_iter(m, &it);
    while (sz_msg_summary_next(&it, &sp)) {
        ssize_t i = trusted_index(r, sp.publisher);
        if (i < 0)
            continue;
        c->cp[i].listed = true;
        for (k = 0; k < sp.n_ranges; k++) {
            struct sz_msg_range x;
            if (!sz_msg_summary_range_next(&sp, &x))
                break; /* cannot happen: the decoder walked them all */
            if (x.last > c->cp[i].max)
                c->cp[i].max = x.last;
            all[n].pub = (size_t)i;
            all[n].first = x.first;
            all[n].last = x.last;
            n++;
        }
    }
    if (n > 1)
        qsort(all, n, sizeof *all, cmp_claim);
    for (a = 0; a < n; a = b) {
        for (b = a; b < n && all[b].pub == all[a].pub; b++) {
            rg[b - a].first = all[b].first;
            rg[b - a].last = all[b].last;
        }
        if (!held_merge(&c->cp[all[a].pub].offer, rg, b - a, MAX_PEER_RANGES, &c->n_ignored)) {
            free(all);
            free(rg);
            conn_fail(r, c, "out of memory for its summary");
            return;
        }
    }
    free(all);
    free(rg);
    c->n_summary_parts++;
    c->last_progress_ms = t;
    if (m->more && c->n_summary_parts < MAX_SUMMARY_PARTS) {
        c->deadline_ms = t + SUMMARY_PART_WAIT_MS;
        if (c->deadline_ms > c->summary_until_ms)
            c->deadline_ms = c->summary_until_ms;
        return;
    }
    if (m->more) {
        util_err("peer %s: its summary has more than %d parts; the rest is ignored", c->name,
                 MAX_SUMMARY_PARTS);
        c->summary_cut = true;
    }
    summary_done(r, c);
}

/* ---- ids asked for by REQUEST ---- */

static ssize_t
req_find(const struct conn *c, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    size_t k;

    for (k = 0; k < c->n_req_ids; k++)
        if (memcmp(c->req_ids[k], id, SZ_BUNDLE_ID_LEN) == 0)
            return (ssize_t)k;
    return -1;
}

/*
 * Notes id as asked of c: as evidence, or after an ANNOUNCE of sequence seq of
 * trusted publisher pub, which it then claims (another peer announcing it too
 * is not asked for it while c may still send it).
 */
static void
req_add(struct run *r, struct conn *c, const uint8_t id[SZ_BUNDLE_ID_LEN], bool evidence,
        size_t pub, uint64_t seq)
{
    size_t k = c->n_req_ids++;

    memcpy(c->req_ids[k], id, SZ_BUNDLE_ID_LEN);
    c->req_evidence[k] = evidence;
    c->req_claimed[k] = !evidence && held_add(&r->claimed[pub], seq, seq);
    c->req_pub[k] = pub;
    c->req_seq[k] = seq;
    if (!evidence)
        c->n_req_announced++;
}

/* Forgets the k-th id asked of c, and the sequence it claimed. */
static void
req_drop(struct run *r, struct conn *c, size_t k)
{
    size_t last = --c->n_req_ids;

    if (!c->req_evidence[k])
        c->n_req_announced--;
    if (c->req_claimed[k])
        held_remove(&r->claimed[c->req_pub[k]], c->req_seq[k], c->req_seq[k]);
    memcpy(c->req_ids[k], c->req_ids[last], SZ_BUNDLE_ID_LEN);
    c->req_evidence[k] = c->req_evidence[last];
    c->req_claimed[k] = c->req_claimed[last];
    c->req_pub[k] = c->req_pub[last];
    c->req_seq[k] = c->req_seq[last];
}

/* Forgets every id asked of c. */
static void
req_drop_all(struct run *r, struct conn *c)
{
    while (c->n_req_ids > 0)
        req_drop(r, c, c->n_req_ids - 1);
}

/* Forgets id as asked of c (it came, or c has not got it). Returns whether it was. */
static bool
req_take(struct run *r, struct conn *c, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    ssize_t k = req_find(c, id);

    if (k < 0)
        return false;
    req_drop(r, c, (size_t)k);
    return true;
}

static void
send_request(struct conn *c, const uint8_t (*ids)[SZ_BUNDLE_ID_LEN], size_t n)
{
    uint8_t out[SZ_MSG_MAX_REQUEST_LEN], frame[SZ_MSG_MAX_REQUEST_LEN + SZ_FRAME_OVERHEAD];
    size_t olen = 0;

    if (n > 0 && sz_msg_encode_request(&ids[0][0], n, out, sizeof out, &olen) == 0 &&
        conn_out_room(c, olen) && sz_link_seal(c->link, out, olen, frame) == 0) {
        conn_queue_out(c, frame, olen + SZ_FRAME_OVERHEAD);
        c->req_since_ms = now_ms();
    }
}

/*
 * c reports that trusted publisher i signed two bundles with one sequence: ask
 * it for both, so that the library holds the proof (and says so) instead of
 * only a report. At most MAX_EVIDENCE_REQUESTS ids per peer and run, so that
 * reports cannot make a reader download without end (and the caller looks at
 * no more than MAX_EVIDENCE_REQUESTS reports per peer).
 */
static void
request_evidence(struct run *r, struct conn *c, const struct sz_msg *m)
{
    struct peer *p = &r->peers[c->peer];
    const uint8_t *ids[2] = {m->id, m->id_b};
    uint8_t want[2][SZ_BUNDLE_ID_LEN];
    size_t n = 0, k;
    ssize_t i = trusted_index(r, m->publisher);
    struct library_publisher_info info;
    char err[256];

    if (p->evidence_req >= MAX_EVIDENCE_REQUESTS)
        return;
    /* The library holds two bundles with that sequence already: the proof is in. */
    if (library_publisher_info(r->o->dir, m->publisher, &info, err, sizeof err) == 0 &&
        info.equivocation_seen && info.equivocation_seq == m->sequence)
        return;
    /* A range asked of it (or queued) holding that sequence brings both anyway. */
    if (i >= 0 && out_holds(c, (size_t)i, m->sequence))
        return;
    for (k = c->q0; k < c->q0 + c->n_queue; k++)
        if ((ssize_t)c->queue[k].pub == i && m->sequence >= c->queue[k].first &&
            m->sequence <= c->queue[k].last)
            return;
    for (k = 0; k < 2; k++) {
        if (p->evidence_req >= MAX_EVIDENCE_REQUESTS || c->n_req_ids >= MAX_REQ_IDS)
            break;
        if (seen_has(r, ids[k]) || req_find(c, ids[k]) >= 0)
            continue;
        req_add(r, c, ids[k], true, 0, 0);
        memcpy(want[n++], ids[k], SZ_BUNDLE_ID_LEN);
        p->evidence_req++;
    }
    send_request(c, (const uint8_t(*)[SZ_BUNDLE_ID_LEN])want, n);
}

/*
 * A bundle c sent as asked (its signed header h checked; total bytes on the
 * wire) holds more articles than --max-size lets this reader open: not the
 * peer's fault. It is asked of no one again in this run, which is then
 * incomplete, and the user is told what to raise. Returns 0, or -1 when it
 * was not asked of c (c failed).
 */
static int
too_large(struct run *r, struct conn *c, const struct sz_bundle_header *h,
          const uint8_t id[SZ_BUNDLE_ID_LEN], uint64_t total)
{
    ssize_t i = trusted_index(r, h->publisher);
    uint64_t need = h->content_len, over = SZ_BUNDLE_PREFIX_LEN + 65536, mib;
    const char *name;
    char pk[SZ_PK_TEXT_LEN + 1];

    if (i < 0 || (!out_holds(c, (size_t)i, h->sequence) && req_find(c, id) < 0)) {
        c->misbehaved = true;
        conn_fail(r, c, "sent a bundle that was not asked for");
        return -1;
    }
    (void)req_take(r, c, id);
    r->incomplete = true;
    if (held_has(&r->held[i], h->sequence))
        return 0; /* told already */
    (void)held_add(&r->held[i], h->sequence, h->sequence);
    r->res->pubs[i].too_large++;
    if (total > over && total - over > need)
        need = total - over;
    mib = (need + (1u << 20) - 1) >> 20;
    sz_pk_to_text(r->o->trust->pk[i], pk);
    name = r->o->trust->names[i] != NULL ? r->o->trust->names[i] : pk;
    util_err("%s: bundle %llu holds %llu MiB of articles, more than --max-size %llu allows: not "
             "fetched (run the fetch again with --max-size %llu to get it)",
             name, (unsigned long long)h->sequence, (unsigned long long)mib,
             (unsigned long long)(r->o->content_cap >> 20), (unsigned long long)mib);
    return 0;
}

/*
 * A complete bundle from c: check it is what was asked, drop it unverified
 * when this run has it already (its id costs a hash, verifying it a signature
 * check and a decompression), else verify it and queue it for the library.
 * Returns 0, or -1 when c failed.
 */
static int
on_whole_bundle(struct run *r, struct conn *c, uint8_t *raw, size_t len)
{
    struct sz_bundle *b = NULL;
    struct sz_bundle_header hdr;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    struct peer *p = &r->peers[c->peer];
    ssize_t i;
    int rc = sz_bundle_parse(raw, len, r->o->content_cap, &hdr, id);
    bool asked = false, by_id = false;

    /* Larger than this reader opens, but signed by its publisher: not a fault. */
    if (rc == -SZ_ETOOBIG &&
        sz_bundle_verify_prefix(raw, len, len, SZ_BUNDLE_MAX_CONTENT_LEN, &hdr, id) == 0) {
        free(raw);
        return too_large(r, c, &hdr, id, len);
    }
    if (rc != 0) {
        free(raw);
        c->misbehaved = true;
        conn_fail(r, c, "sent a bundle that fails verification (%s): nothing of it is kept",
                  sz_strerror(rc));
        return -1;
    }
    i = trusted_index(r, hdr.publisher);
    if (i >= 0 && out_holds(c, (size_t)i, hdr.sequence))
        asked = true;
    /* Asked for by id too, it is still to come as the answer to that REQUEST. */
    if (i >= 0 && !asked && (req_find(c, id) >= 0 || c->whole_by_part))
        asked = by_id = true;
    if (!asked) {
        free(raw);
        c->misbehaved = true;
        conn_fail(r, c, "sent a bundle that was not asked for");
        return -1;
    }
    /* The same bundle again (another peer was faster, or a replay) brings nothing
     * new. A few are races; more are a peer keeping this reader busy. */
    if (seen_has(r, id)) {
        free(raw);
        if (by_id)
            (void)req_take(r, c, id);
        if (++c->n_repeats > MAX_REPEATS) {
            c->misbehaved = true;
            conn_fail(r, c, "sent bundles this fetch already had %u times", c->n_repeats);
            return -1;
        }
        return 0;
    }
    /*
     * Another bundle with a sequence already held is an equivocation, or one
     * the library got in an earlier run: the library tells them apart, keeps
     * both of an equivocation and warns. Bundles asked for by id are bounded
     * by the asking; the others by MAX_SAME_SEQ_BUNDLES per peer, as each
     * costs a library write (past it, dropped unverified).
     */
    if (held_has(&r->held[i], hdr.sequence) && !by_id && p->same_seq >= MAX_SAME_SEQ_BUNDLES) {
        free(raw);
        return 0;
    }
    rc = sz_bundle_open_with(raw, len, r->o->content_cap, r->inflater, &b);
    if (rc != 0) {
        free(raw);
        c->misbehaved = true;
        conn_fail(r, c, "sent a bundle that fails verification (%s): nothing of it is kept",
                  sz_strerror(rc));
        return -1;
    }
    if (by_id)
        (void)req_take(r, c, id);
    /* A peer that delivers the publisher's bundles offers it, even if its
     * SUMMARY listed nothing of it (a --follow reader that started first). */
    r->rp[i].listed = true;
    if (held_has(&r->held[i], b->hdr.sequence)) {
        if (!by_id)
            p->same_seq++;
    } else {
        /* Held from now on: a replan must not ask another peer for it again. */
        held_add(&r->held[i], b->hdr.sequence, b->hdr.sequence);
    }
    seen_add(r, b->id);
    part_done(r, b->id);
    c->bundles++;
    c->bytes += len;
    r->rx_bundles++;
    r->rx_bytes += len;
    r->batch[r->n_batch].b = b;
    r->batch[r->n_batch].raw = raw;
    r->batch[r->n_batch].raw_len = len;
    r->batch_pub[r->n_batch] = (size_t)i;
    if (r->n_batch++ == 0)
        r->batch_since_ms = now_ms();
    r->batch_bytes += len + b->content_len; /* what it holds: the bundle and its articles */
    /* The main loop also writes a batch that waited FLUSH_MS (FOLLOW_FLUSH_MS with
     * --follow). */
    if (r->n_batch == BATCH_BUNDLES || r->batch_bytes >= BATCH_BYTES)
        flush_batch(r, false);
    return 0;
}

/*
 * The rest of a kept part has come: the whole bundle is checked here first, as
 * a failure may come from the kept bytes (this reader's own) rather than from
 * the peer: the part is then dropped and the bundle asked for from its start,
 * without holding it against the peer. Takes raw. Returns 0, or -1 when c failed.
 */
static int
on_whole_part(struct run *r, struct conn *c, uint8_t *raw, size_t len)
{
    size_t k = c->part - 1;
    struct part *pt = &r->parts[k];
    struct sz_bundle_header h;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    int rc = sz_bundle_verify(raw, len, r->o->content_cap, &h, id);
    uint32_t kept = c->part_offset;

    c->rx_part = false;
    if (rc == 0 && memcmp(id, pt->id, SZ_BUNDLE_ID_LEN) != 0)
        rc = -SZ_EAUTH;
    if (rc != 0) {
        free(raw);
        util_err("peer %s: a bundle finished from bytes an earlier link brought does not check "
                 "out (%s): asking for all of it again",
                 c->name, sz_strerror(rc));
        part_forget(r, k);
        part_refused(r, c);
        return 0;
    }
    c->part = 0;
    part_unclaim(r, k);
    c->whole_by_part = true;
    rc = on_whole_bundle(r, c, raw, len);
    c->whole_by_part = false;
    if (rc != 0)
        return rc;
    r->res->resumed++;
    r->res->resumed_bytes += kept;
    part_send_next(r, c);
    return 0;
}

/*
 * The peer answered c->out_ranges[k] with RANGE_DONE. What it did not send
 * after all (evicted since its SUMMARY, or withheld) is not asked of it
 * again, and goes to the other peers that offered it.
 */
static void
range_done(struct run *r, struct conn *c, size_t k)
{
    struct out_req q = c->out_ranges[k];
    size_t j, n = req_n_claims(&q);
    bool whole = true;

    c->out_ranges[k] = c->out_ranges[--c->n_out_ranges];
    for (j = 0; j < n; j++) {
        struct claim cl = req_claim(&q, j);
        held_remove(&r->claimed[cl.pub], cl.first, cl.last);
    }
    if (q.probe) {
        probe_done(r, c, &q);
        return;
    }
    for (j = 0; j < n; j++) {
        struct claim cl = req_claim(&q, j);
        uint64_t to = 0, free_to;
        if (held_span(&r->held[cl.pub], cl.first, &to, &free_to) && to >= cl.last)
            continue;
        whole = false;
        /* Named at the first such range; conn_end says how many there were in all. */
        if (c->n_withheld++ == 0) {
            const char *nm = r->o->trust->names[cl.pub];
            util_err("peer %s: did not send all of sequences %llu-%llu of %s that it offered; "
                     "asking other peers",
                     c->name, (unsigned long long)cl.first, (unsigned long long)cl.last,
                     nm != NULL ? nm : "a trusted publisher");
        }
        peer_not_ok(r, c);
        if (!held_add(&c->cp[cl.pub].skip, cl.first, cl.last))
            c->skip_nomem = true;
        replan_range(r, c, cl.pub, cl.first, cl.last);
    }
    free(q.cl);
    if (whole) {
        /* A range served whole is progress whatever its size (a loaded relay may
         * answer late, but answers): the rate window starts again. */
        c->rate_since_ms = now_ms();
        c->rate_bytes = 0;
    }
}

/* The run is to stop: interrupted, or past --timeout. Long loops look. */
static bool
run_over(const struct run *r)
{
    return interrupted || now_ms() > r->stop_ms;
}

static int
on_message(struct run *r, struct conn *c, const uint8_t *body, size_t len)
{
    struct sz_msg m, reply;
    int64_t t = now_ms();
    size_t k;

    if (sz_msg_decode(body, len, &m) != 0) {
        c->misbehaved = true;
        conn_fail(r, c, "sent a malformed message");
        return -1;
    }
    /* Frames come one after another: while its summary is awaited, bytes after
     * anything else than HELLO, a part or an EQUIVOCATION report are not a part
     * on its way. A relay sends the reports it holds between its first part and
     * the next (PROTOCOL.md 4.3.1); a stream of them still ends at SUMMARY_TOTAL_MS. */
    if (c->state == C_WAIT_SUMMARY && m.type != SZ_MSG_SUMMARY && m.type != SZ_MSG_SUMMARY_PACKED &&
        m.type != SZ_MSG_HELLO && m.type != SZ_MSG_EQUIVOCATION)
        c->summary_other = true;
    switch (m.type) {
    case SZ_MSG_SUMMARY_PACKED:
        if ((sz_link_features(c->link) & SZ_FEATURE_SPARSE) == 0) {
            c->misbehaved = true;
            conn_fail(r, c, "sent SUMMARY_PACKED without agreeing to the feature");
            return -1;
        }
        if (c->state == C_WAIT_SUMMARY)
            on_summary(r, c, &m); /* the same summary, its ranges packed */
        return 0;
    case SZ_MSG_SUMMARY:
        if (c->state == C_WAIT_SUMMARY)
            on_summary(r, c, &m);
        return 0;
    case SZ_MSG_BUNDLE:
        if (c->rx == NULL && !c->rx_discard && m.offset != 0 && c->part != 0 &&
            m.offset == c->part_offset && m.total == c->part_total) {
            /* The answer to its REQUEST_PART (PROTOCOL.md 4.1.1). A part that came
             * whole meanwhile (by an id asked as evidence), or whose kept bytes
             * cannot be read, lets the answer go by, and the peer is not blamed. */
            if (r->parts[c->part - 1].off || !part_resume(r, c)) {
                if (!r->parts[c->part - 1].off) {
                    util_err("cannot read the part of a bundle kept in %s/.samizdat/partial: "
                             "asking for all of it again",
                             r->o->dir);
                    part_forget(r, c->part - 1);
                }
                c->rx_discard = true;
                c->rx_total = m.total;
                c->rx_got = m.offset;
            }
        } else if (c->rx == NULL && !c->rx_discard) {
            uint64_t cap = r->o->content_cap + SZ_BUNDLE_PREFIX_LEN + 65536;
            /* PROTOCOL.md 4.1: room for a bundle only while something is asked of it. */
            if (c->n_out_ranges == 0 && c->n_req_ids == 0 && c->part == 0) {
                c->misbehaved = true;
                conn_fail(r, c, "sent a bundle that was not asked for");
                return -1;
            }
            if (m.offset != 0) {
                c->misbehaved = true;
                conn_fail(r, c, "sent a bundle out of order");
                return -1;
            }
            if (m.total > cap) {
                /* Read and dropped: its signed header says whether it was sent as asked. */
                c->rx_discard = c->rx_big = true;
            } else if ((c->rx = malloc(m.total)) == NULL) {
                conn_fail(r, c, "out of memory for a bundle");
                return -1;
            }
            c->rx_total = m.total;
            c->rx_got = 0;
        } else if (m.offset != c->rx_got || m.total != c->rx_total) {
            c->misbehaved = true;
            conn_fail(r, c, "sent bundle pieces out of order");
            return -1;
        }
        if (m.data_len > c->rx_total - c->rx_got) {
            c->misbehaved = true;
            conn_fail(r, c, "sent more bundle bytes than it announced");
            return -1;
        }
        c->last_progress_ms = t;
        c->rate_bytes += m.data_len;
        if (!c->rx_discard)
            memcpy(c->rx + c->rx_got, m.data, m.data_len);
        if (c->rx_big && c->rx_got < SZ_BUNDLE_PREFIX_LEN) {
            size_t take = SZ_BUNDLE_PREFIX_LEN - c->rx_got;
            if (take > m.data_len)
                take = m.data_len;
            memcpy(c->rx_head + c->rx_got, m.data, take);
            if (c->rx_got + take == SZ_BUNDLE_PREFIX_LEN) {
                struct sz_bundle_header h;
                uint8_t id[SZ_BUNDLE_ID_LEN];
                if (sz_bundle_verify_prefix(c->rx_head, SZ_BUNDLE_PREFIX_LEN, c->rx_total,
                                            SZ_BUNDLE_MAX_CONTENT_LEN, &h, id) != 0) {
                    c->misbehaved = true;
                    conn_fail(r, c, "sent a bundle whose signed header fails verification");
                    return -1;
                }
                if (too_large(r, c, &h, id, c->rx_total) != 0)
                    return -1;
            }
        }
        c->rx_got += (uint32_t)m.data_len;
        if (c->rx_got == c->rx_total && c->rx_big) {
            c->rx_discard = c->rx_big = false;
            return 0;
        }
        if (c->rx_got == c->rx_total && c->rx_discard) {
            c->rx_discard = false;
            part_refused(r, c);
            return 0;
        }
        if (c->rx_got == c->rx_total) {
            uint8_t *raw = c->rx;
            c->rx = NULL;
            if (c->rx_part)
                return on_whole_part(r, c, raw, c->rx_total);
            return on_whole_bundle(r, c, raw, c->rx_total);
        }
        return 0;
    case SZ_MSG_BUNDLES: {
        struct sz_msg_iter it;
        const uint8_t *b;
        size_t blen;
        c->last_progress_ms = t;
        if ((sz_link_features(c->link) & SZ_FEATURE_BATCH) == 0) {
            c->misbehaved = true;
            conn_fail(r, c, "sent BUNDLES without agreeing to the feature");
            return -1;
        }
        sz_msg_bundles_iter(&m, &it);
        while (sz_msg_bundles_next(&it, &b, &blen)) {
            uint8_t *raw;
            /* Up to 4096 bundles to verify: the run's end is not put off for them. */
            if (run_over(r))
                return 0;
            c->rate_bytes += blen;
            raw = malloc(blen);
            if (raw == NULL) {
                conn_fail(r, c, "out of memory for a bundle");
                return -1;
            }
            memcpy(raw, b, blen);
            if (on_whole_bundle(r, c, raw, blen) != 0)
                return -1;
        }
        return 0;
    }
    case SZ_MSG_RANGE_DONE:
        c->last_progress_ms = t;
        for (k = 0; k < c->n_out_ranges; k++) {
            const struct out_req *q = &c->out_ranges[k];
            if (memcmp(r->o->trust->pk[q->pub], m.publisher, 32) == 0 && q->first == m.first &&
                q->last == m.last) {
                range_done(r, c, k);
                break;
            }
        }
        /* A queue cut at MAX_QUEUE: plan the rest of what it offered. */
        if (c->queue_cut && c->n_queue == 0 && !c->skip_nomem) {
            c->queue_cut = false;
            plan_all(r, c);
        }
        send_ranges(r, c);
        steal_claims(r, c);
        return 0;
    case SZ_MSG_ANNOUNCE: {
        uint8_t ids[SZ_MSG_MAX_REQUEST][SZ_BUNDLE_ID_LEN];
        size_t n = 0;
        if (t - c->window_ms > 10000) {
            c->window_ms = t;
            c->announced = 0;
        }
        c->announced += (uint32_t)m.n_entries;
        if (c->announced > MAX_ANNOUNCED_PER_10S) {
            c->misbehaved = true;
            conn_fail(r, c, "floods announcements (more than %d ids in 10 s)",
                      MAX_ANNOUNCED_PER_10S);
            return -1;
        }
        for (k = 0; k < m.n_entries && r->o->follow; k++) {
            struct sz_msg_announce a;
            ssize_t i;
            sz_msg_announce_get(&m, k, &a);
            i = trusted_index(r, a.publisher);
            if (i < 0 || held_has(&r->held[i], a.sequence))
                continue;
            /* Asked of a peer already (several announce what they all got): it is on
             * its way, and a second copy would count against c as a repeat. c offers
             * it now, so that replan() asks c for it should that peer fail. */
            if (held_has(&r->claimed[i], a.sequence)) {
                if (c->cp != NULL)
                    (void)held_add(&c->cp[i].offer, a.sequence, a.sequence);
                continue;
            }
            if (c->n_req_announced >= MAX_ANNOUNCE_REQUESTS || c->n_req_ids >= MAX_REQ_IDS ||
                req_find(c, a.id) >= 0)
                continue;
            /* One larger than --max-size is asked for all the same: its signed header,
             * when it comes, says whether to tell the user (too_large()). */
            req_add(r, c, a.id, false, (size_t)i, a.sequence);
            memcpy(ids[n++], a.id, SZ_BUNDLE_ID_LEN);
        }
        send_request(c, (const uint8_t(*)[SZ_BUNDLE_ID_LEN])ids, n);
        return 0;
    }
    case SZ_MSG_NOT_FOUND:
        /* It no longer has what it announced (or reported): its slot is free again,
         * and another peer that announced it is asked for it. */
        if (req_take(r, c, m.id))
            replan(r, c);
        if (c->part != 0 && c->rx == NULL &&
            memcmp(r->parts[c->part - 1].id, m.id, SZ_BUNDLE_ID_LEN) == 0)
            part_refused(r, c);
        return 0;
    case SZ_MSG_PONG:
        if (c->state == C_OPEN && !r->o->follow && m.nonce == c->barrier_nonce)
            c->barrier_done = true;
        return 0;
    case SZ_MSG_PING:
        /* A peer that does not take what is sent to it gets no more (PROTOCOL.md 4.4). */
        if (conn_out_busy(c))
            return 0;
        memset(&reply, 0, sizeof reply);
        reply.type = SZ_MSG_PONG;
        reply.nonce = m.nonce;
        conn_send(c, &reply);
        return 0;
    case SZ_MSG_GOODBYE:
        conn_fail(r, c, "said goodbye: %.*s", (int)m.text_len, m.text);
        return -1;
    case SZ_MSG_EQUIVOCATION: {
        ssize_t i = trusted_index(r, m.publisher);
        struct peer *p = &r->peers[c->peer];
        if (i < 0)
            return 0;
        /* A few named per peer, and a bounded number looked into: reports cannot
         * flood the terminal or keep the fetch busy. The pair is asked for, so that
         * the library proves (or not) what the report claims. */
        if (p->eq_reports < 4) {
            char pk[SZ_PK_TEXT_LEN + 1];
            sz_pk_to_text(m.publisher, pk);
            util_err("WARNING: peer %s reports an EQUIVOCATION: publisher %s signed two bundles "
                     "with sequence %llu; its key may be stolen",
                     c->name, r->o->trust->names[i] != NULL ? r->o->trust->names[i] : pk,
                     (unsigned long long)m.sequence);
        }
        r->res->pubs[i].equivocation = true;
        /* Before its ranges are planned, a REQUEST would cross the range that
         * brings the pair anyway: the relay sends each bundle once on a link,
         * and the ids asked for would wait for the idle timeout. */
        if (p->eq_reports < MAX_EVIDENCE_REQUESTS && c->state == C_WAIT_SUMMARY &&
            c->n_eq_wait < MAX_EVIDENCE_REQUESTS) {
            struct sz_msg *w = &c->eq_wait[c->n_eq_wait++];
            memset(w, 0, sizeof *w);
            w->type = m.type;
            memcpy(w->publisher, m.publisher, sizeof w->publisher);
            memcpy(w->id, m.id, sizeof w->id);
            memcpy(w->id_b, m.id_b, sizeof w->id_b);
            w->sequence = m.sequence;
        } else if (p->eq_reports < MAX_EVIDENCE_REQUESTS)
            request_evidence(r, c, &m);
        if (p->eq_reports < UINT_MAX)
            p->eq_reports++;
        return 0;
    }
    default:
        return 0; /* HELLO, PEERS...: nothing to do for a reader. */
    }
}

/*
 * Why a handshake failed, in words: link_err is the link's error, or 0 when
 * the peer closed the connection. A samizdat node with another network key
 * sends nothing and closes; one that sent text, or bytes and then closed, is
 * something else: a web server, a proxy, or a filter on the way answering in
 * the node's place.
 */
static void
handshake_failed_why(const struct conn *c, int link_err, char *why, size_t cap)
{
    char shown[sizeof c->hs_head + 1];
    size_t i, n = 0;
    bool text = c->hs_head_len > 0;

    for (i = 0; i < c->hs_head_len; i++) {
        uint8_t b = c->hs_head[i];
        if (b == '\r' || b == '\n')
            break;
        if (b < 0x20 || b > 0x7e) {
            text = false;
            break;
        }
        shown[n++] = (char)b;
    }
    shown[n] = '\0';
    if (text && n > 0)
        snprintf(why, cap,
                 "is not a samizdat node: it answered in text (\"%s\"), as a web server, a "
                 "proxy or a filter on the way does",
                 shown);
    else if (link_err != 0)
        snprintf(why, cap, "the handshake failed: %s", sz_strerror(link_err));
    else if (c->hs_head_len == 0)
        snprintf(why, cap,
                 "closed the connection during the handshake without a word: a node that is "
                 "full or has banned this address does that, so does one with another network "
                 "key (see --network-key), and any node when this computer's clock is more "
                 "than 10 minutes off (check the date and time zone); so can a filter on the "
                 "way");
    else
        snprintf(why, cap,
                 "is not a samizdat node, or something on the way changed the data: it closed "
                 "the connection after a handshake reply that does not check");
}

/* The connection to the peer is made: starts the handshake as its initiator. */
static bool
conn_link_start(struct run *r, struct conn *c)
{
    /*
     * The clock in message 1, with up to 2 minutes either way added at
     * random: the relay's check allows 10, and this machine's exact offset
     * from true time would otherwise tell one reader's runs apart from
     * others' (a reader has no identity a peer could follow).
     */
    int64_t said = (int64_t)time(NULL) + (int64_t)randombytes_uniform(241) - 120;
    if (sz_link_new(SZ_LINK_INITIATOR, &r->keys, said, &c->link) != 0) {
        conn_fail(r, c, "out of memory");
        return false;
    }
    conn_flush_link(c);
    c->state = C_HANDSHAKE;
    c->deadline_ms = now_ms() + r->o->connect_timeout_ms;
    c->last_rx_ms = now_ms();
    return true;
}

/*
 * Reads the proxy's answers, no byte further than each needs (after the
 * CONNECT reply, what comes is the peer's), and sends what the handshake
 * asks. A proxy that answers otherwise than SOCKS5 says fails the connection
 * with a message naming it.
 */
static void
proxy_readable(struct run *r, struct conn *c)
{
    uint8_t in[SZ_SOCKS5_OUT_MAX], out[SZ_SOCKS5_OUT_MAX];
    size_t used, out_len;
    char why[160];
    ssize_t n = recv(c->fd, in, sz_socks5_need(&c->socks), 0);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_fail(r, c, "the proxy %s closed the connection%s", r->proxy.name,
                  sz_socks5_connecting(&c->socks) ? "" : " (is it a SOCKS5 proxy?)");
        return;
    }
    if (n < 0)
        return;
    switch (sz_socks5_input(&c->socks, in, (size_t)n, &used, out, sizeof out, &out_len)) {
    case SZ_SOCKS5_MORE:
        return;
    case SZ_SOCKS5_SEND:
        conn_queue_out(c, out, out_len);
        sodium_memzero(out, sizeof out);
        return;
    case SZ_SOCKS5_OPEN:
        sz_socks5_wipe(&c->socks);
        /*
         * What was sent to the proxy (its password, if any) is not kept: the
         * whole buffer, as a send that drained it set its offsets back to 0.
         */
        if (c->out != NULL && conn_out_waiting(c) == 0) {
            sodium_memzero(c->out, c->out_cap);
            c->out_off = c->out_len = 0;
        } else if (c->out != NULL) {
            sodium_memzero(c->out, c->out_off);
        }
        (void)conn_link_start(r, c);
        return;
    case SZ_SOCKS5_FAILED:
    default:
        break;
    }
    if ((c->socks.fail == SZ_SOCKS5_F_WANTS_AUTH || c->socks.fail == SZ_SOCKS5_F_NO_METHOD) &&
        r->o->proxy_user == NULL)
        conn_fail(r, c,
                  "the proxy %s %s: give them with --proxy-auth-file (Tor's SocksPort and ssh -D "
                  "take none)",
                  r->proxy.name,
                  c->socks.fail == SZ_SOCKS5_F_WANTS_AUTH
                      ? "wants a user name and password"
                      : "accepts no method fetch offers (it may want a password)");
    else if (c->socks.fail == SZ_SOCKS5_F_NO_METHOD)
        conn_fail(r, c, "the proxy %s takes no user name and password: leave out --proxy-auth-file",
                  r->proxy.name);
    else if (c->socks.fail == SZ_SOCKS5_F_AUTH_REFUSED)
        conn_fail(r, c, "the proxy %s refused the user name and password: check --proxy-auth-file",
                  r->proxy.name);
    else
        conn_fail(r, c, "the proxy %s %s", r->proxy.name,
                  sz_socks5_fail_text(&c->socks, why, sizeof why));
}

static void
conn_readable(struct run *r, struct conn *c)
{
    uint8_t buf[65536];
    struct sz_link_event ev;
    ssize_t n;
    int rc;

    if (c->state == C_PROXY) {
        proxy_readable(r, c);
        return;
    }
    n = recv(c->fd, buf, sizeof buf, 0);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        char why[512];
        /* A goodbye without a word only when nothing asked of it is left: no
         * range, no id, no part of a large bundle to resume, no bundle half in. */
        if (c->state == C_OPEN && c->n_out_ranges == 0 && c->n_queue == 0 && c->n_req_ids == 0 &&
            c->part == 0 && c->rx == NULL && !r->o->follow) {
            conn_end(r, c);
        } else if (c->state == C_HANDSHAKE) {
            handshake_failed_why(c, 0, why, sizeof why);
            conn_fail(r, c, "%s", why);
        } else {
            conn_fail(r, c, "closed the connection");
        }
        return;
    }
    if (n < 0)
        return;
    if (c->state == C_HANDSHAKE && c->hs_head_len < sizeof c->hs_head) {
        size_t k = sizeof c->hs_head - c->hs_head_len;
        if (k > (size_t)n)
            k = (size_t)n;
        memcpy(c->hs_head + c->hs_head_len, buf, k);
        c->hs_head_len += k;
    }
    c->last_rx_ms = now_ms();
    c->pinged = false;
    if (sz_link_input(c->link, buf, (size_t)n) != 0) {
        conn_fail(r, c, "sent more than a frame can hold");
        return;
    }
    for (;;) {
        /* An initiator's clock goes only into payload3, for information: none. */
        rc = sz_link_poll(c->link, 0, &ev);
        if (rc != 0) {
            char why[512];
            if (c->state == C_HANDSHAKE)
                handshake_failed_why(c, rc, why, sizeof why);
            else
                snprintf(why, sizeof why, "the link failed: %s", sz_strerror(rc));
            conn_fail(r, c, "%s", why);
            return;
        }
        conn_flush_link(c);
        if (ev.type == SZ_LINK_EV_NONE)
            return;
        if (ev.type == SZ_LINK_EV_OPEN) {
            struct sz_msg m;
            if (!r->peers[c->peer].linked) {
                r->peers[c->peer].linked = true;
                r->res->peers_linked++;
            }
            memset(&m, 0, sizeof m);
            m.type = SZ_MSG_HELLO;
            m.roles = SZ_ROLE_FETCH;
            conn_send(c, &m);
            c->state = C_WAIT_SUMMARY;
            c->deadline_ms = now_ms() + SUMMARY_TIMEOUT_MS;
            c->summary_until_ms = now_ms() + SUMMARY_TOTAL_MS;
        } else if (on_message(r, c, ev.body, ev.body_len) != 0) {
            return;
        }
        if (c->state == C_DONE || run_over(r))
            return;
    }
}

static void
conn_writable(struct run *r, struct conn *c)
{
    ssize_t n;

    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            c->ai_err = err != 0 ? err : errno;
            if (!conn_connect_next(r, c))
                conn_connect_failed(r, c, strerror(c->ai_err));
            return;
        }
        if (r->o->proxy != NULL) {
            /* SOCKS5: the peer's IP address as one, and a name as a name, for the
             * proxy to look up (no DNS question leaves the reader's machine). */
            const struct peer *p = &r->peers[c->peer];
            uint8_t hello[SZ_SOCKS5_OUT_MAX];
            size_t hello_len;
            if (sz_socks5_start(&c->socks, p->host, (uint16_t)strtoul(p->port, NULL, 10),
                                r->o->proxy_user, r->o->proxy_pass, hello, sizeof hello,
                                &hello_len) != 0) {
                conn_fail(r, c, "the name is too long for a SOCKS5 proxy (255 bytes at most)");
                return;
            }
            conn_queue_out(c, hello, hello_len);
            c->state = C_PROXY;
            c->deadline_ms = now_ms() + r->o->connect_timeout_ms;
        } else if (!conn_link_start(r, c)) {
            return;
        }
    }
    if (c->out_off < c->out_len) {
        n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            conn_fail(r, c, "write failed: %s", strerror(errno));
            return;
        }
        if (n > 0) {
            c->out_off += (size_t)n;
            c->out_moved_ms = now_ms();
        }
        if (c->out_off == c->out_len)
            c->out_off = c->out_len = 0;
    }
}

/* Another peer still holds claims: an idle peer stays, in case those fail. */
static bool
others_busy(const struct run *r, const struct conn *c)
{
    size_t i;

    for (i = 0; i < r->n_conns; i++)
        if (&r->conns[i] != c && r->conns[i].state != C_DONE &&
            (r->conns[i].n_out_ranges > 0 || r->conns[i].n_queue > 0 || r->conns[i].part != 0))
            return true;
    return false;
}

/* Something is under way, or (with follow) some peer may still be tried. */
static bool
wants_more(const struct run *r)
{
    size_t i;

    for (i = 0; i < r->n_conns; i++)
        if (r->conns[i].state != C_DONE)
            return true;
    for (i = 0; r->o->follow && i < r->o->n_peers; i++)
        if (!r->peers[i].bad_address)
            return true;
    return false;
}

/* A connection has ranges asked or queued. */
static bool
ranges_out(const struct run *r)
{
    size_t i;

    for (i = 0; i < r->n_conns; i++)
        if (r->conns[i].state == C_OPEN &&
            (r->conns[i].n_out_ranges > 0 || r->conns[i].n_queue > 0 || r->conns[i].part != 0))
            return true;
    return false;
}

/*
 * The peer to connect to next, or SIZE_MAX for none now. Without follow, each
 * peer once, in random order. With it, the first in that order that has no
 * connection and whose wait after its last failure is over.
 */
static size_t
next_peer(struct run *r, int64_t t)
{
    size_t k;

    if (!r->o->follow) {
        while (r->next_peer < r->o->n_peers) {
            size_t pi = r->order[r->next_peer++];
            if (!r->peers[pi].bad_address)
                return pi;
        }
        return SIZE_MAX;
    }
    for (k = 0; k < r->o->n_peers; k++) {
        const struct peer *p = &r->peers[r->order[k]];
        if (!p->bad_address && !p->busy && t >= p->retry_at_ms)
            return r->order[k];
    }
    return SIZE_MAX;
}

/*
 * Whether some trusted publisher is offered, up to what the library holds, by
 * fewer than `parallel` peers that answered and did not fail or withhold. A
 * peer whose SUMMARY leaves a publisher out (or offers only older bundles)
 * says nothing of it: other peers are asked.
 */
static bool
peers_wanted(const struct run *r)
{
    size_t i;

    for (i = 0; i < r->o->trust->n; i++)
        if (r->rp[i].covered < r->o->parallel)
            return true;
    return false;
}

/*
 * Starts connections while fewer than `parallel` are under way and some
 * publisher is offered by fewer than `parallel` peers (peers_wanted): dead
 * peers are skipped in parallel, and once enough peers offer every
 * publisher, no more are tried.
 */
static void
fill_conns(struct run *r)
{
    size_t active = 0, i, k, pi;
    int64_t t = now_ms();

    for (i = 0; i < r->n_conns; i++) {
        const struct conn *c = &r->conns[i];
        bool covers = c->state != C_OPEN;
        for (k = 0; !covers && c->cp != NULL && k < r->o->trust->n; k++)
            covers = c->cp[k].covers;
        /* A link that offers none of the publishers takes no slot (with --follow it
         * stays, for what it may announce): peers that do are still tried. */
        if (c->state != C_DONE && covers)
            active++;
    }
    for (i = 0; i < MAX_CONNS && active < r->o->parallel && peers_wanted(r); i++) {
        if (i < r->n_conns && r->conns[i].state != C_DONE)
            continue;
        do {
            pi = next_peer(r, t);
            if (pi == SIZE_MAX)
                return;
        } while (!conn_start(r, &r->conns[i], pi));
        if (i >= r->n_conns)
            r->n_conns = i + 1;
        active++;
    }
}

static void
progress(const struct run *r)
{
    double secs = (double)(now_ms() - r->start_ms) / 1000.0;
    const char *busiest = NULL;
    uint64_t most = 0;
    size_t i, n_open = 0;
    char peers[340];

    if (!r->o->progress)
        return;
    /* The peer that has sent the most, and how many others are connected. */
    for (i = 0; i < r->n_conns; i++) {
        const struct conn *c = &r->conns[i];
        if (c->state == C_OPEN)
            n_open++;
        if ((c->state == C_OPEN || c->bytes > 0) && (busiest == NULL || c->bytes > most)) {
            busiest = c->name;
            most = c->bytes;
        }
    }
    if (busiest == NULL)
        snprintf(peers, sizeof peers, "connecting");
    else if (n_open <= 1)
        snprintf(peers, sizeof peers, "from %.300s", busiest);
    else
        snprintf(peers, sizeof peers, "from %.300s and %zu more", busiest, n_open - 1);
    /* \033[K clears what a longer line left. */
    fprintf(stderr, "\rfetched %llu bundles, %.1f MB, %.1f MB/s, %s\033[K",
            (unsigned long long)r->rx_bundles, (double)r->rx_bytes / 1e6,
            secs > 0 ? (double)r->rx_bytes / 1e6 / secs : 0.0, peers);
}

int
fetch_run(const struct fetch_opts *o, struct fetch_result *res)
{
    struct run r;
    struct pollfd pfd[MAX_CONNS + 1];
    size_t pfd_conn[MAX_CONNS + 1]; /* the connection each is polled for (SIZE_MAX: lookups) */
    size_t i, k, n_trust = o->trust->n;
    int64_t last_progress = 0;
    char err[512];
    int status = EXIT_OK;

    memset(&r, 0, sizeof r);
    atomic_init(&r.write_hopeless, false);
    memset(res, 0, sizeof *res);
    r.o = o;
    r.res = res;
    res->pubs = calloc(n_trust, sizeof *res->pubs);
    r.held = calloc(n_trust, sizeof *r.held);
    r.done = calloc(n_trust, sizeof *r.done);
    r.pubs = calloc(n_trust + 1, sizeof *r.pubs);
    r.claimed = calloc(n_trust, sizeof *r.claimed);
    r.offered = calloc(n_trust, sizeof *r.offered);
    r.order = calloc(o->n_peers + 1, sizeof *r.order);
    r.peers = calloc(o->n_peers + 1, sizeof *r.peers);
    r.rp = calloc(n_trust + 1, sizeof *r.rp);
    r.wadded = calloc(n_trust + 1, sizeof *r.wadded);
    r.wequiv = calloc(n_trust + 1, sizeof *r.wequiv);
    if (res->pubs == NULL || r.held == NULL || r.done == NULL || r.pubs == NULL ||
        r.claimed == NULL || r.offered == NULL || r.order == NULL || r.peers == NULL ||
        r.rp == NULL || r.wadded == NULL || r.wequiv == NULL) {
        util_err("out of memory");
        status = EXIT_NETWORK;
        goto out;
    }
    /* Without it, a bundle sent twice goes to the library twice (which keeps one). */
    r.seen = calloc(SEEN_RING, sizeof *r.seen);
    for (i = 0; i < o->n_peers; i++) {
        char why[200];
        r.peers[i].backoff_ms = BACKOFF_MIN_MS;
        if (!peer_parse(o->peers[i], &r.peers[i], why, sizeof why)) {
            util_err("peer %s: %s; skipped (write HOST, HOST:PORT, [IPv6] or [IPv6]:PORT)",
                     o->peers[i], why);
            r.peers[i].bad_address = true;
            res->peers_tried++;
        } else if (o->proxy == NULL && sz_socks5_onion_name(r.peers[i].host)) {
            /* Only Tor reaches these; a lookup would only tell the DNS server. */
            util_err("peer %s: a Tor onion address, reachable only through Tor: give --proxy "
                     "127.0.0.1:9050 (Tor's SocksPort); skipped",
                     r.peers[i].name);
            r.peers[i].bad_address = true;
            res->peers_tried++;
        } else {
            /* Given twice (a --peer also in --peers-file): one link, one slot of --parallel. */
            for (size_t q = 0; q < i; q++)
                if (!r.peers[q].bad_address && strcasecmp(r.peers[q].name, r.peers[i].name) == 0)
                    r.peers[i].bad_address = true;
        }
    }
    for (i = 0; i < o->n_peers && r.peers[i].bad_address; i++)
        ;
    if (i == o->n_peers) {
        util_err("none of the peers given can be tried (see above): fix the addresses");
        status = EXIT_USAGE;
        goto out;
    }
    for (i = 0; i < n_trust; i++) {
        memcpy(r.pubs[i].pk, o->trust->pk[i], 32);
        r.pubs[i].name = o->trust->names[i];
    }
    if (o->proxy != NULL) {
        /* Looked up once, here: a proxy is mostly an address on this machine. */
        struct addrinfo hints;
        char why[200];
        int gai;
        if (!peer_parse(o->proxy, &r.proxy, why, sizeof why)) {
            util_err("--proxy %s: %s (write HOST:PORT, e.g. 127.0.0.1:9050 for Tor)", o->proxy,
                     why);
            status = EXIT_USAGE;
            goto out;
        }
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        gai = getaddrinfo(r.proxy.host, r.proxy.port, &hints, &r.proxy_ai);
        if (gai != 0) {
            r.proxy_ai = NULL;
            util_err("--proxy %s: cannot resolve the address: %s", r.proxy.name, gai_strerror(gai));
            status = EXIT_NETWORK;
            goto out;
        }
    }
    /* A fresh node key per run: a reader has no identity a peer could follow. */
    memcpy(r.keys.network_key, o->network_key, SZ_NETWORK_KEY_LEN);
    r.keys.features = SZ_FEATURE_BATCH | SZ_FEATURE_PART | SZ_FEATURE_SPARSE;
    crypto_box_keypair(r.keys.node_pk, r.keys.node_sk);
    for (i = 0; i < o->n_peers; i++)
        r.order[i] = i;
    for (i = o->n_peers; i > 1; i--) {
        size_t j = randombytes_uniform((uint32_t)i), t = r.order[i - 1];
        r.order[i - 1] = r.order[j];
        r.order[j] = t;
    }
    if (sz_inflater_new(&r.inflater) != 0)
        r.inflater = NULL; /* Each bundle then gets a context of its own. */
    if (library_open(o->dir, &r.lib, err, sizeof err) != 0)
        r.lib = NULL; /* Each batch then reads the library afresh. */
    state_load(&r);
    if (library_each_bundle(o->dir, library_bundle_held, &r, err, sizeof err) != 0)
        util_err("%s; fetching as if the library held nothing", err);
    parts_load(&r);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    {
        /* A closed terminal or a lost ssh session: what came is written, as for
         * Ctrl-C. Under nohup (SIGHUP ignored), it stays ignored. */
        struct sigaction sa;
        if (sigaction(SIGHUP, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
            signal(SIGHUP, on_sigint);
    }
    r.start_ms = now_ms();
    r.stop_ms =
        o->timeout_s > 0 && !o->follow ? r.start_ms + (int64_t)o->timeout_s * 1000 : INT64_MAX;
    for (;;) {
        int64_t t = now_ms();
        size_t n = 0;
        bool resolving = false;
        /* --follow: what came in goes to the library when the peers pause, or within
         * FOLLOW_FLUSH_MS, together. */
        if (o->follow && r.n_batch > 0 &&
            (t - r.batch_since_ms >= FOLLOW_FLUSH_MS || !ranges_out(&r)))
            flush_batch(&r, true);
        else if (r.n_batch > 0 && t - r.batch_since_ms >= FLUSH_MS)
            flush_batch(&r, false);
        if (interrupted && o->follow)
            break; /* how a follower ends */
        if (interrupted) {
            util_err("stopping: %s (what came is written to the library, or Ctrl-C again to "
                     "stop at once; run the fetch again to get the rest)",
                     interrupted == SIGHUP    ? "the terminal was closed (SIGHUP)"
                     : interrupted == SIGTERM ? "asked to stop (SIGTERM)"
                                              : "interrupted");
            r.incomplete = true;
            break;
        }
        /* Nothing more can be written to the library (full, read-only): no more is
         * downloaded. The writer's error is printed first. */
        if (atomic_load(&r.write_hopeless))
            batch_wait(&r);
        if (r.disk_full || r.disk_stuck) {
            util_err(r.disk_full ? "stopping: the library's disk is full (run the fetch again "
                                   "once there is space: it gets the rest)"
                                 : "stopping: the library cannot be written (above; run the "
                                   "fetch again once that is fixed: it gets the rest)");
            r.incomplete = true;
            break;
        }
        /* A peer that failed leaves room for an untried one. */
        fill_conns(&r);
        if (!wants_more(&r))
            break;
        if (t > r.stop_ms) {
            util_err("the fetch took longer than %d s: stopping (run it again to resume)",
                     o->timeout_s);
            r.incomplete = true;
            break;
        }
        for (i = 0; i < r.n_conns; i++) {
            struct conn *c = &r.conns[i];
            if (c->state == C_DONE)
                continue;
            if (c->state == C_RESOLVING && t > c->deadline_ms) {
                /* The lookup goes on: a later try (--follow) takes its answer. Without
                 * --follow there is none: the thread frees it when it ends. */
                if (!o->follow) {
                    lookup_release(r.peers[c->peer].lookup);
                    r.peers[c->peer].lookup = NULL;
                }
                conn_fail(&r, c,
                          "cannot resolve the address: no answer from DNS within %d s (a "
                          "censor's DNS may drop the question: give the peer's IP address)",
                          o->connect_timeout_ms / 1000);
                continue;
            }
            if (c->state == C_CONNECTING && t > c->deadline_ms) {
                c->ai_err = ETIMEDOUT;
                if (!conn_connect_next(&r, c))
                    conn_connect_failed(&r, c,
                                        "no answer (a firewall on the way may drop the packets)");
                if (c->state == C_DONE)
                    continue;
            }
            if (c->state == C_PROXY && t > c->deadline_ms) {
                conn_fail(&r, c, "the proxy %s %s within %d s", r.proxy.name,
                          sz_socks5_connecting(&c->socks) ? "did not connect to it"
                                                          : "did not answer",
                          o->connect_timeout_ms / 1000);
                continue;
            }
            if (c->state == C_HANDSHAKE && t > c->deadline_ms) {
                /* Connected: a silent peer. A node says nothing to a handshake under
                 * another network key or a clock 10 minutes off, by design. */
                conn_fail(&r, c,
                          "connected, but no answer to the handshake within %d s (a node of "
                          "another network says nothing: see --network-key; so does one whose "
                          "clock is 10 minutes from this computer's, a filter on the way, or "
                          "a service that is not samizdat)",
                          o->connect_timeout_ms / 1000);
                continue;
            }
            if (c->state == C_WAIT_SUMMARY && t > c->deadline_ms && !c->summary_other &&
                t - c->last_rx_ms < SUMMARY_PART_WAIT_MS && t < c->summary_until_ms) {
                /* Bytes still coming, nothing but its summary sent so far: a large part
                 * on a slow link. Wait on, within SUMMARY_TOTAL_MS of the handshake. */
                c->deadline_ms = c->last_rx_ms + SUMMARY_PART_WAIT_MS;
                if (c->deadline_ms > c->summary_until_ms)
                    c->deadline_ms = c->summary_until_ms;
            }
            if (c->state == C_WAIT_SUMMARY && t > c->deadline_ms) {
                if (c->n_summary_parts == 0) {
                    conn_fail(&r, c, "sent no summary within %lld s",
                              (long long)((t - (c->summary_until_ms - SUMMARY_TOTAL_MS)) / 1000));
                    continue;
                }
                /* Parts said more would follow, and none came for a while: what came is
                 * its summary (a relay may send only its first part). */
                if (t >= c->summary_until_ms)
                    util_err("peer %s: its summary had not ended %d s after the link opened "
                             "(%zu part%s that said more would follow): what it holds of "
                             "trusted publishers past those is asked of it",
                             c->name, SUMMARY_TOTAL_MS / 1000, c->n_summary_parts,
                             c->n_summary_parts == 1 ? "" : "s");
                else
                    util_err("peer %s: its summary stopped after %zu part%s that said more "
                             "would follow (nothing came within %d s): what it holds of "
                             "trusted publishers past those is asked of it",
                             c->name, c->n_summary_parts, c->n_summary_parts == 1 ? "" : "s",
                             SUMMARY_PART_WAIT_MS / 1000);
                c->summary_cut = true;
                summary_done(&r, c);
                if (c->state == C_DONE)
                    continue;
            }
            if (c->out_overflow) {
                conn_fail(&r, c, "does not take what is sent to it (%u KiB wait)",
                          (unsigned)(conn_out_waiting(c) >> 10));
                continue;
            }
            /* Sent nothing of what waits for it for a while: it does not read. */
            if (conn_out_waiting(c) > 0 && t - c->out_moved_ms > OUT_STALL_MS) {
                conn_fail(&r, c, "took nothing of what was sent to it for %d s",
                          OUT_STALL_MS / 1000);
                continue;
            }
            /* Too slow: asked, and fewer than MIN_RATE_BPS bundle bytes a second over a
             * window (other traffic does not count). What it holds goes to other peers. */
            if (c->state == C_OPEN && (c->n_out_ranges > 0 || c->part != 0) &&
                t - c->rate_since_ms >= RATE_WINDOW_MS) {
                if (c->rate_bytes == 0) {
                    conn_fail(&r, c, "stalled: no bundle byte for %d s", RATE_WINDOW_MS / 1000);
                    continue;
                }
                uint64_t bps = c->rate_bytes / (RATE_WINDOW_MS / 1000);
                if (bps < MIN_RATE_BPS) {
                    conn_fail(&r, c,
                              "too slow: %llu bytes of bundles in %d s, under %d bytes a second "
                              "(stalled, or holding back what it offered)",
                              (unsigned long long)c->rate_bytes, RATE_WINDOW_MS / 1000,
                              MIN_RATE_BPS);
                    continue;
                }
                if (bps * SLOW_FACTOR < r.best_bps) {
                    conn_fail(&r, c,
                              "too slow: %llu bytes a second of bundles over %d s, while another "
                              "peer kept %llu (what it holds goes to faster peers)",
                              (unsigned long long)bps, RATE_WINDOW_MS / 1000,
                              (unsigned long long)r.best_bps);
                    continue;
                }
                if (bps > r.best_bps)
                    r.best_bps = bps;
                c->rate_since_ms = t;
                c->rate_bytes = 0;
            }
            /* Ids asked for and neither sent nor refused for a minute: the peer dropped
             * them; their slots serve new announcements, and other peers that
             * announced them are asked. */
            if (c->state == C_OPEN && c->n_req_ids > 0 &&
                t - (c->req_since_ms > c->last_progress_ms ? c->req_since_ms
                                                           : c->last_progress_ms) >
                    IDLE_TIMEOUT_MS) {
                req_drop_all(&r, c);
                replan(&r, c);
            }
            /* A part request neither answered nor refused for a minute: asked by range. */
            if (c->state == C_OPEN && c->part != 0 && c->rx == NULL && !c->rx_discard &&
                t - (c->part_since_ms > c->last_progress_ms ? c->part_since_ms
                                                            : c->last_progress_ms) >
                    IDLE_TIMEOUT_MS)
                part_refused(&r, c);
            if (c->state == C_OPEN && !o->follow && c->n_out_ranges == 0 && c->n_queue == 0 &&
                c->n_req_ids == 0 && c->part == 0 &&
                (c->barrier_done || t - c->open_ms >= EVIDENCE_GRACE_MS) && !others_busy(&r, c)) {
                conn_end(&r, c);
                continue;
            }
            /* --follow: a link silent this long may be dead without a word (a peer that
             * vanished, a NAT that forgot it): ask, then give up and reconnect. */
            if (c->state == C_OPEN && o->follow && t - c->last_rx_ms > FOLLOW_DEAD_MS) {
                conn_fail(&r, c, "sent nothing for %d s", FOLLOW_DEAD_MS / 1000);
                continue;
            }
            if (c->state == C_OPEN && o->follow && t - c->last_rx_ms > FOLLOW_PING_MS &&
                !c->pinged) {
                struct sz_msg ping;
                memset(&ping, 0, sizeof ping);
                ping.type = SZ_MSG_PING;
                randombytes_buf(&ping.nonce, sizeof ping.nonce);
                conn_send(c, &ping);
                c->pinged = true;
            }
            if (c->state == C_RESOLVING) {
                resolving = true; /* polled once, below, for every lookup */
                continue;
            }
            pfd_conn[n] = i;
            pfd[n].revents = 0;
            pfd[n].fd = c->fd;
            /* While much waits for it, it is not read from (PROTOCOL.md 4.4 asks the
             * same of a daemon): what it sends waits in the kernel, bounded. */
            pfd[n].events = conn_out_busy(c) ? 0 : POLLIN;
            if (c->state == C_CONNECTING || c->out_off < c->out_len)
                pfd[n].events |= POLLOUT;
            n++;
        }
        fill_conns(&r);
        for (i = 0; i < r.n_conns && !resolving; i++)
            resolving = r.conns[i].state == C_RESOLVING;
        if (resolving && r.nt != NULL) {
            pfd_conn[n] = SIZE_MAX;
            pfd[n].fd = r.nt->fds[0];
            pfd[n].events = POLLIN;
            pfd[n].revents = 0;
            n++;
        }
        if (n == 0) {
            /* --follow with every peer waiting to be tried again: sleep a little. */
            if (o->follow && !interrupted)
                (void)poll(NULL, 0, 200);
            continue;
        }
        if (poll(pfd, n, 200) < 0 && errno != EINTR)
            break;
        for (k = 0; k < n; k++) {
            struct conn *c;
            if (pfd_conn[k] == SIZE_MAX) {
                /* Some lookup is done: each connection waiting for one looks. */
                if (pfd[k].revents == 0)
                    continue;
                notifier_drain(r.nt);
                for (i = 0; i < r.n_conns; i++)
                    if (r.conns[i].state == C_RESOLVING &&
                        lookup_is_done(r.peers[r.conns[i].peer].lookup))
                        conn_lookup_done(&r, &r.conns[i]);
                continue;
            }
            c = &r.conns[pfd_conn[k]];
            /* A connection polled may have ended meanwhile (its fd closed). */
            if (c->state == C_DONE || c->state == C_RESOLVING || pfd[k].fd != c->fd)
                continue;
            if (pfd[k].revents & (POLLOUT | POLLERR | POLLHUP))
                conn_writable(&r, c);
            if (c->state != C_DONE && c->state != C_CONNECTING && !conn_out_busy(c) &&
                (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                conn_readable(&r, c);
            if (c->state != C_DONE && c->out_off < c->out_len)
                conn_writable(&r, c);
        }
        if (t - last_progress > 250) {
            progress(&r);
            last_progress = t;
        }
    }
    if (r.disk_full || r.disk_stuck)
        batch_drop(&r); /* it would fail as the last did: the next run fetches it */
    else
        flush_batch(&r, true);
    if (o->progress) {
        progress(&r);
        fputc('\n', stderr);
    }
    for (i = 0; i < r.n_conns; i++)
        if (r.conns[i].state != C_DONE)
            conn_end(&r, &r.conns[i]);
    /* Complete when every sequence some peer offered is in the library. */
    for (i = 0; i < n_trust; i++) {
        for (k = 0; k < r.offered[i].n && !r.incomplete; k++)
            if (!held_covers(&r.done[i], r.offered[i].v[k].first, r.offered[i].v[k].last))
                r.incomplete = true;
    }
    /* A publisher past where every summary that answered ended, and no peer answered
     * when asked for it (probe_push()): whether the peers hold newer bundles of it is
     * not known, so the fetch is not complete. */
    for (i = 0; i < n_trust && res->peers_answered > 0; i++) {
        char pk[SZ_PK_TEXT_LEN + 1];
        if (r.rp[i].known)
            continue;
        res->pubs[i].unknown = true;
        r.incomplete = true;
        sz_pk_to_text(o->trust->pk[i], pk);
        util_err("no peer's summary said what it holds of %s (each ended before it), and "
                 "none answered when asked: not known whether newer bundles exist; try again, "
                 "or other peers",
                 o->trust->names[i] != NULL ? o->trust->names[i] : pk);
    }
    /* A publisher the library holds that no peer that answered offered at all: maybe
     * none of them carries it, maybe they hide that newer bundles exist. */
    for (i = 0; i < n_trust && res->peers_answered > 0; i++) {
        char pk[SZ_PK_TEXT_LEN + 1];
        if (r.rp[i].listed || !r.rp[i].known || baseline(&r, i) == 0)
            continue;
        sz_pk_to_text(o->trust->pk[i], pk);
        util_err("no peer offers %s, of which this library holds sequences up to %llu: peers "
                 "that do not carry it, or a rollback attempt; try other peers",
                 o->trust->names[i] != NULL ? o->trust->names[i] : pk,
                 (unsigned long long)baseline(&r, i));
    }
    /* With --follow, peers come and go: one that answered at some time counts. */
    res->complete = !r.incomplete && (o->follow ? res->peers_answered > 0 : res->peers_ok > 0);
    if (r.write_failed)
        status = EXIT_OUTPUT;
    else if (!res->complete)
        status = EXIT_NETWORK;
out:
    if (r.proxy_ai != NULL)
        freeaddrinfo(r.proxy_ai);
    /* A lookup still under way frees itself when its thread ends. */
    for (i = 0; r.peers != NULL && i < o->n_peers; i++)
        lookup_release(r.peers[i].lookup);
    notifier_release(r.nt);
    for (i = 0; r.held != NULL && i < n_trust; i++)
        free(r.held[i].v);
    for (i = 0; r.done != NULL && i < n_trust; i++)
        free(r.done[i].v);
    for (i = 0; r.claimed != NULL && i < n_trust; i++)
        free(r.claimed[i].v);
    for (i = 0; r.offered != NULL && i < n_trust; i++)
        free(r.offered[i].v);
    free(r.offered);
    free(r.rp);
    free(r.wadded);
    free(r.wequiv);
    free(r.held);
    free(r.done);
    free(r.pubs);
    free(r.claimed);
    free(r.order);
    free(r.peers);
    free(r.seen);
    sz_inflater_free(r.inflater);
    library_close(r.lib);
    sodium_memzero(&r.keys, sizeof r.keys);
    return status;
}
