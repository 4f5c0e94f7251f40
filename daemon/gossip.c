/* Gossip: announce then pull, catch-up by ranges, serving, verification. */
#include "gossip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "log.h"
#include "peer.h"
#include "samizdat/article.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "samizdat/msg.h"

#define KNOWN_SLOTS 512               /* per peer: ids it has or was told of (8-byte prefixes) */
#define HAS_SLOTS 256                 /* per peer: ids it has for certain (sent or announced) */
#define TAKEN_SLOTS 64                /* per peer: ids of the last bundles it sent */
#define ASKED_SLOTS 64                /* per peer: ids last asked of it */
#define VERIFY_HOLD_BYTES (8u << 20)  /* a peer's bundles waiting for verification */
#define VERIFY_ALL_BYTES (128u << 20) /* ... every peer's together */
/*
 * Verifications in the thread pool at once (libuv's four threads unless
 * UV_THREADPOOL_SIZE says otherwise): two whatever they weigh, more while
 * those in the pool weigh (size and declared content) at most
 * VERIFY_POOL_BYTES together, so that the pool's queue holds milliseconds
 * of verification ahead of serving, the control socket, publishing and
 * maintenance. The rest wait in a queue per peer, taken in turn
 * (verify_next()).
 */
#define VERIFY_PARALLEL 2
#define VERIFY_POOL_BYTES (8u << 20)
#define MAX_FETCHES 16384            /* bundles being fetched at once, node-wide */
#define FETCHES_RESERVED 4096        /* ... beyond, for the peers this node chose */
#define MAX_FETCHES_PER_PEER 4096    /* fetches one peer's announcements may start */
#define MAX_FETCHES_PER_ADDRESS 4096 /* ... the links one address opened to this node, together */
#define FETCH_BUCKETS 4096           /* hash buckets of the fetch table */
#define RECENT_SLOTS 1024            /* ids stored lately: announcements racing them are ignored */
#define MAX_DEFERRED 4096            /* wanted ids a peer announced beyond its fetch share */
#define MAX_DEFERRED_ALL 32768       /* ... every peer's together (80 bytes each) */
#define DRIVE_SLICE 256              /* deferred fetches one peer starts per turn */
#define NOT_FOUND_LIMIT 64           /* its own announced ids it says it lacks, per 10 s */
#define MAX_CANDIDATES 8             /* peers that announced one id */
#define MAX_REQUESTED 16             /* ids outstanding to one peer */
#define REQUEST_TIMEOUT_MS 30000
#define MAX_SERVE_IDS 64    /* ids a peer asked for, queued */
#define MAX_SERVE_RANGES 16 /* ranges a peer asked for, queued */
#define MAX_RANGES_OUT 16   /* ranges outstanding to one peer */
/*
 * A peer is asked for RANGES_OUT_START ranges at once at first, one more
 * (up to MAX_RANGES_OUT) each time it ends one within RANGE_FAST_MS of the
 * last: a slow peer holds a few spans, the rest stays queued, for another
 * peer to take over when it has nothing left to do.
 */
#define RANGES_OUT_START 4
#define RANGE_FAST_MS 1000
#define MAX_RANGES_QUEUED 1024 /* ranges waiting to be asked of one peer */
#define RANGE_CHUNK_SEQS 128   /* sequences in one range asked in a catch-up, at most */
/*
 * A peer asked for ranges that sent no bundle byte for this long, or less than
 * RANGE_MIN_RATE bytes a second over such a span, holds no other peer back.
 */
#define RANGE_STALL_MS (20 * 1000)
#define RANGE_MIN_RATE (32 * 1024)
/* A summary with sequences left to other peers is compared again at least this often. */
#define LEFT_RECHECK_MS (30 * 1000)
#define SERVE_BATCH_BYTES (1u << 20)
/*
 * Node-wide: bytes in every peer's send queue plus what serving jobs may read
 * (PROTOCOL.md 4.5). Without it, 64 links asking for one large bundle and not
 * reading would each hold a copy (64 x 64 MiB).
 */
#define SERVE_BUDGET_BYTES ((size_t)256 << 20)
/*
 * Node-wide: bytes of the large bundles being received (PROTOCOL.md 4.5). A
 * bundle over ASSEMBLE_SMALL_BYTES that would take the total past
 * ASSEMBLE_BUDGET_BYTES waits, its link not read from, until others are in;
 * smaller ones (most bundles) never wait. Without it, 72 links each sending
 * a bundle of the 64 MiB cap would hold 4.5 GiB. While links wait, one that
 * sent no byte of its large bundle for ASSEMBLE_STALL_MS, or fewer than
 * ASSEMBLE_MIN_RATE bytes a second after ASSEMBLE_GRACE_MS, is closed; the
 * links this node opened go on first, and while one of those waits, a link
 * it did not open is closed after ASSEMBLE_STALL_IN_MS without a byte.
 */
#define ASSEMBLE_SMALL_BYTES ((uint32_t)1 << 20)
#define ASSEMBLE_BUDGET_BYTES ((uint64_t)256 << 20)
#define ASSEMBLE_STALL_MS 20000
#define ASSEMBLE_STALL_IN_MS 5000
#define ASSEMBLE_GRACE_MS 60000
#define ASSEMBLE_MIN_RATE (64u << 10)
#define RATE_WINDOW_MS 10000
#define MAX_ANNOUNCED_PER_WINDOW 32768
#define MAX_REQUESTS_PER_WINDOW 65536
#define SUMMARY_EVERY_MS (5 * 60 * 1000)
/* After the store failed to write a bundle (a full disk, most often): no new
 * bundles are asked for this long (what is missing comes with a later compare). */
#define STORE_PAUSE_MS 60000
#define SUMMARY_MIN_GAP_MS 30000 /* a peer's SUMMARYs closer than this are ignored */
#define MUTE_MS (5 * 60 * 1000)  /* announcements ignored after one went unanswered */
#define MAX_FLOORS 4096
#define MAX_SKIPS 256 /* sequences refused as dated too far ahead: not asked for by range again */
/*
 * A large bundle (over ASSEMBLE_SMALL_BYTES) whose link was lost partway
 * keeps what came (from PART_MIN_KEEP bytes on, its signed header checked,
 * unless the peer was banned) for PART_KEEP_MS, and
 * the next peer that has it is asked only for the rest (REQUEST_PART,
 * PROTOCOL.md 4.1.1). Kept parts count in the receive budget
 * (ASSEMBLE_BUDGET_BYTES) and are the first to go when a bundle being
 * received needs the room.
 */
#define MAX_KEPT_PARTS 8
#define PART_MIN_KEEP ((uint32_t)64 << 10)
#define PART_KEEP_MS (10 * 60 * 1000)
/* A REQUEST_PART unanswered this long no longer holds its link's one slot. */
#define PART_OUT_MS (5 * 60 * 1000)
#define REFUSED_SLOTS 4    /* per peer: parts it answered NOT_FOUND */
#define SENT_SLOTS 64      /* per peer: ids of the last bundles sent to it */
#define PART_ASKED_SLOTS 8 /* per peer: ids of the last parts it asked for */
#define NO_RESUME_SLOTS 64 /* ids whose resumption failed: fetched whole from then on */

struct range_req {
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t first, last;
    /* ranges_out: bundles taken for it so far, the last one's sequence, and how many
     * in a row had it (range_overflow()) */
    uint64_t got, last_seq, in_row;
};

/* Where a part of a SUMMARY ended: its last publisher and the last sequence
 * of its ranges (the next part goes on after them). */
struct summary_cursor {
    bool set; /* false: from the start */
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence;
};

struct gossip_peer {
    uint64_t *known; /* ring of id prefixes, allocated on first use */
    size_t known_next;
    /* Ids it has itself: it sent or announced them, or they were sent to it
     * (a REQUEST_PART for one is nonsense). known also holds ids this node
     * only announced to it. Allocated on first use. */
    uint64_t *has;
    size_t has_next;
    uint16_t listen_port;
    uint32_t roles;
    bool hello;
    bool peers_asked; /* a GET_PEERS is out to it: one PEERS is taken */
    /* The bundle being received. */
    uint8_t *rx;
    uint32_t rx_total, rx_got;
    bool rx_skip;     /* larger than this node keeps: its chunks are read and dropped */
    bool rx_skip_big; /* ... as too large: its first bytes go to rx_head */
    uint8_t rx_head[SZ_BUNDLE_PREFIX_LEN];
    bool rx_counted;      /* a large bundle counted in gossip.assembling */
    bool rx_held;         /* a large bundle waiting for the receive budget */
    uint64_t rx_held_seq; /* when it began to wait: the longest waiting goes first */
    int64_t rx_start_ms;  /* when it was counted */
    uint32_t rx_base;     /* bytes it had when it was counted: a resumed part's */
    bool rx_resumed;      /* it continues a kept part ... */
    /* A large bundle's signed header checked: its publisher and sequence,
     * which catch-up from other peers leaves to this link while it sends. */
    bool rx_known;
    uint8_t rx_publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t rx_sequence;
    char rx_part_from[CONFIG_HOST_CAP + 16]; /* ... that came from this peer */
    /* Our REQUEST_PART out to this peer (one at a time), until its answer begins. */
    bool part_out;
    uint8_t part_id[SZ_BUNDLE_ID_LEN];
    uint32_t part_offset, part_total;
    int64_t part_out_ms;
    bool rx_skip_part; /* rx_skip holds the rest of a part gone since it was asked */
    uint8_t rx_skip_id[SZ_BUNDLE_ID_LEN];
    uint64_t part_refused[REFUSED_SLOTS]; /* id prefixes of parts it answered NOT_FOUND */
    size_t part_refused_next;
    /* Ids sent to it on this link, whole or the rest, and ids it asked a part of:
     * a REQUEST_PART that crossed the bundle going to it is told NOT_FOUND. */
    uint64_t sent[SENT_SLOTS];
    size_t sent_next;
    uint64_t part_asked[PART_ASKED_SLOTS];
    size_t part_asked_next;
    /* What we asked of this peer. */
    size_t n_requested;
    size_t n_owned; /* fetches its announcements started */
    size_t n_ranges_out;
    struct range_req ranges_out[MAX_RANGES_OUT]; /* asked of this peer, not yet done */
    struct range_req *ranges_queued;
    size_t n_ranges_queued;
    /* What the peer asked of us. */
    uint8_t serve_ids[MAX_SERVE_IDS][SZ_BUNDLE_ID_LEN];
    uint32_t serve_offsets[MAX_SERVE_IDS]; /* REQUEST_PART: the first byte wanted; else 0 */
    size_t n_serve_ids;
    struct range_req serve_ranges[MAX_SERVE_RANGES];
    /* REQUEST_SPARSE: the ranges wanted within serve_ranges[i] (else NULL, 0) */
    struct sz_msg_range *serve_sub[MAX_SERVE_RANGES];
    size_t serve_n_sub[MAX_SERVE_RANGES];
    size_t n_serve_ranges;
    uint64_t serve_next; /* next sequence of serve_ranges[0] */
    uint32_t serve_sent;
    /*
     * A bundle larger than the send room goes in pieces, each read when the
     * send queue has drained (PROTOCOL.md 4.5): piece_next is its first byte
     * not read yet (0: no bundle in pieces). Nothing else is served to this
     * peer before its last piece.
     */
    uint8_t piece_id[SZ_BUNDLE_ID_LEN];
    uint32_t piece_next;
    bool piece_range;          /* it answers serve_ranges[0] */
    bool piece_range_done;     /* ... and that range ends with it: RANGE_DONE follows it */
    bool serving;              /* a job reads from the store for this peer */
    bool summary_more;         /* our SUMMARY has parts after those sent */
    bool summary_rest_waiting; /* the next of them waits for room (send_summary_rest()) */
    bool summary_rest_queued;  /* ... and is on its way to this fetch client */
    size_t summary_next;       /* which part that is (1: the first after the first) */
    struct summary_cursor summary_after; /* ... it starts after what the last part held */
    bool serve_blocked;                  /* waits for the node-wide serve budget */
    uint64_t serve_blocked_seq;          /* when it began to wait: the longest waiting goes first */
    /* Rate limits. */
    int64_t window_ms;
    uint32_t n_announced, n_requests;
    int64_t last_summary_ms;
    int64_t summary_rx_ms; /* when its last SUMMARY was taken */
    /* Announcements waiting for this loop turn's flush (allocated when used). */
    struct sz_msg_announce *pend;
    size_t n_pend;
    /* A peer's SUMMARY kept while its comparison was cut at MAX_RANGES_QUEUED. */
    uint8_t *summary;
    size_t summary_len;
    bool comparing;         /* a COMPARE job runs for this peer: further SUMMARYs are ignored */
    bool cut;               /* its last comparison was cut at MAX_RANGES_QUEUED */
    bool left_to_others;    /* its summary named sequences other peers were asked for */
    bool others_done;       /* ... and one of those peers' rounds ended since */
    int64_t left_ms;        /* when its summary was last compared with some left to others */
    bool ranging;           /* ranges were asked of it since its round last ended */
    int64_t ranges_ms;      /* when it was last asked for a range */
    size_t ranges_window;   /* ranges it may have outstanding */
    int64_t range_mark_ms;  /* its last RANGE_DONE, or the first range out since */
    bool ranges_slow;       /* ... and it sent under RANGE_MIN_RATE over the last span */
    int64_t rate_ms;        /* the span's start (0: no range out) ... */
    uint64_t rate_bytes;    /* ... and the link's bytes_in then */
    size_t round_bundles;   /* bundles from this peer verified since its last comparison */
    size_t n_verifying;     /* bundles from this peer being verified */
    size_t verifying_bytes; /* their size and declared content: beyond VERIFY_HOLD_BYTES, reading
                               pauses */
    struct vqueue *vq;      /* its bundles waiting for a verification slot, or NULL */
    uint64_t taken[TAKEN_SLOTS]; /* id prefixes of the last bundles taken from it */
    size_t taken_next;
    /* Ids asked of it lately: one that comes after its request timed out is still welcome. */
    uint64_t asked[ASKED_SLOTS];
    size_t asked_next;
    int64_t last_chunk_ms;  /* when it last sent bundle bytes: a slow answer is still an answer */
    int64_t muted_until_ms; /* its announcements are ignored: one it made went unanswered */
    /* It stopped partway through a bundle, a request out to it: closed at the tick's end. */
    bool stalled;
    /* Wanted ids announced beyond MAX_FETCHES_PER_PEER: fetched as earlier ones finish. */
    struct sz_msg_announce *deferred;
    size_t n_deferred, deferred_head, cap_deferred;
    /* NOT_FOUND for ids it announced itself, in the window since nf_since_ms. */
    unsigned n_not_found;
    int64_t nf_since_ms;
};

/* A bundle being fetched: from one peer at a time, others as fallbacks. */
struct fetch {
    struct fetch *next;
    struct fetch *hnext;         /* the next in its hash bucket */
    struct fetch *wnext, *wprev; /* in the queue of fetches waiting for a free peer */
    bool waiting;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint32_t size;
    struct peer *from;  /* asked of; NULL while waiting for a candidate */
    struct peer *owner; /* whose announcement started it: one peer cannot fill the table */
    int64_t deadline_ms;
    struct peer *cands[MAX_CANDIDATES];
    size_t n_cands;
};

/* What came of a large bundle before its link was lost (MAX_KEPT_PARTS). */
struct kept_part {
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence;
    uint32_t total, got;
    uint8_t *bytes; /* total bytes long, the first got filled */
    int64_t kept_ms;
    char from[CONFIG_HOST_CAP + 16]; /* the peer the bytes came from, for the logs */
};

/*
 * Per publisher: sequences below the floor are not fetched again (one was
 * refused as expired or too big; the floor never passes the lowest sequence
 * held). The store keeps its own floor of the bundles it evicted
 * (store_evicted_seq()), which a comparison adds.
 */
struct floor_ {
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t floor;
};

/*
 * One sequence not fetched again by range until `until_s` (this node's clock):
 * its bundle was dated too far ahead (STORE_FUTURE: until the clock has
 * caught up) or was larger than this node keeps (for an hour: a SIGHUP may
 * raise the limit). Unlike a floor it leaves the publisher's older sequences
 * wanted: a clock that was wrong for one bundle says nothing about the others.
 */
struct skip {
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence;
    int64_t until_s;
    /* 0: dated ahead (until until_s). Else larger than this node keeps: the
     * max_bundle_bytes it needs; skipped while that setting is lower. */
    uint64_t need_cap;
};

struct gossip {
    struct daemon *d;
    struct fetch *fetches;
    size_t n_fetches;
    struct fetch *buckets[FETCH_BUCKETS];
    uint64_t recent[RECENT_SLOTS]; /* id prefixes of bundles stored lately */
    size_t recent_next;
    uv_timer_t flush; /* sends coalesced announcements */
    bool flush_armed;
    struct fetch *wait_head, *wait_tail;
    struct floor_ floors[MAX_FLOORS];
    size_t n_floors;
    struct skip skips[MAX_SKIPS]; /* a ring: the oldest is replaced when full */
    size_t n_skips, skip_next;
    uint64_t equivocations;
    struct log_limit future_log;      /* bundles dated ahead, from any peer */
    struct log_limit equiv_sent;      /* EQUIVOCATION broadcasts, at most a few a minute */
    struct log_limit equiv_log;       /* equivocations stored: status lists them all */
    size_t n_deferred_all;            /* deferred announcements, every peer's */
    size_t verifying_all;             /* bytes of the bundles waiting for verification, node-wide */
    size_t verify_running;            /* verifications in the thread pool (VERIFY_PARALLEL) */
    size_t verify_running_cost;       /* ... and what they weigh (VERIFY_POOL_BYTES) */
    struct vqueue *vq_head, *vq_tail; /* peers with verifications waiting, in turn */
    struct gjob *verifying;           /* every bundle taken and not yet stored or refused */
    struct log_limit goodbye_log;     /* GOODBYEs from links this node did not open */
    bool store_failed;                /* the store failed to write a bundle, at store_failed_ms */
    int64_t store_failed_ms;
    char store_err[1024]; /* ... and why */
    struct log_limit store_log;
    size_t serve_reserved;  /* what running serve jobs may read (SERVE_BUDGET_BYTES) */
    size_t n_serve_blocked; /* peers waiting for the serve budget */
    uint64_t serve_block_seq;
    uint64_t assembling; /* sizes of the large bundles being received (ASSEMBLE_BUDGET_BYTES) */
    size_t n_rx_held;    /* links whose large bundle waits for it */
    uint64_t rx_held_seq;
    struct kept_part parts[MAX_KEPT_PARTS]; /* counted in `assembling` */
    size_t n_parts;
    uint64_t no_resume[NO_RESUME_SLOTS]; /* a ring of id prefixes */
    size_t no_resume_next;
};

/*
 * A peer's verifications waiting for a slot (VERIFY_PARALLEL), oldest first.
 * Owned by the gossip ring, not by the peer's state: the jobs hold the peer,
 * and a link that closes leaves its bundles to be verified and stored.
 */
struct vqueue {
    struct peer *p;
    struct gjob *head, *tail;
    struct vqueue *next; /* in the ring */
};

/* ---- small helpers ---- */

static uint64_t
prefix(const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    return sz_load64(id);
}

/* Whether id's prefix is in a ring of `slots` prefixes (NULL: an empty ring). */
static bool
ring_has(const uint64_t *ring, size_t slots, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    uint64_t x = prefix(id);
    size_t i;

    if (ring == NULL)
        return false;
    for (i = 0; i < slots; i++)
        if (ring[i] == x)
            return true;
    return false;
}

/* Adds id's prefix to a ring of `slots`, allocated on first use (none when out of memory). */
static void
ring_add(uint64_t **ring, size_t *next, size_t slots, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    if (ring_has(*ring, slots, id))
        return;
    if (*ring == NULL) {
        *ring = calloc(slots, sizeof **ring);
        if (*ring == NULL)
            return;
    }
    (*ring)[*next] = prefix(id);
    *next = (*next + 1) % slots;
}

static bool
known_has(const struct peer *p, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    return p->g != NULL && ring_has(p->g->known, KNOWN_SLOTS, id);
}

static void
known_add(struct peer *p, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    if (p->g != NULL)
        ring_add(&p->g->known, &p->g->known_next, KNOWN_SLOTS, id);
}

static bool
peer_has(const struct peer *p, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    return p->g != NULL && ring_has(p->g->has, HAS_SLOTS, id);
}

/* p has this bundle (it sent or announced it, or it was sent to it); known too. */
static void
has_add(struct peer *p, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    known_add(p, id);
    if (p->g != NULL)
        ring_add(&p->g->has, &p->g->has_next, HAS_SLOTS, id);
}

/* Adds id's prefix to a ring of `slots` held in place. */
static void
fixed_ring_add(uint64_t *ring, size_t *next, size_t slots, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    if (ring_has(ring, slots, id))
        return;
    ring[*next] = prefix(id);
    *next = (*next + 1) % slots;
}

/* A bundle (or the rest of one) went to p on this link: it has it. */
static void
sent_add(struct peer *p, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    has_add(p, id);
    if (p->g != NULL)
        fixed_ring_add(p->g->sent, &p->g->sent_next, SENT_SLOTS, id);
}

/* Notes an id asked of a peer: its bundle is welcome even after the request timed out. */
static void
asked_add(struct gossip_peer *g, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    g->asked[g->asked_next] = prefix(id);
    g->asked_next = (g->asked_next + 1) % ASKED_SLOTS;
}

static uint64_t
floor_in(const struct floor_ *v, size_t n, const uint8_t pub[SZ_PUBLIC_KEY_LEN])
{
    size_t i;

    for (i = 0; i < n; i++)
        if (memcmp(v[i].publisher, pub, SZ_PUBLIC_KEY_LEN) == 0)
            return v[i].floor;
    return 0;
}

static uint64_t
floor_of(const struct gossip *gs, const uint8_t pub[SZ_PUBLIC_KEY_LEN])
{
    return floor_in(gs->floors, gs->n_floors, pub);
}

static void
floor_raise(struct gossip *gs, const uint8_t pub[SZ_PUBLIC_KEY_LEN], uint64_t floor)
{
    size_t i;

    for (i = 0; i < gs->n_floors; i++) {
        if (memcmp(gs->floors[i].publisher, pub, SZ_PUBLIC_KEY_LEN) == 0) {
            if (floor > gs->floors[i].floor)
                gs->floors[i].floor = floor;
            return;
        }
    }
    if (gs->n_floors < MAX_FLOORS) {
        memcpy(gs->floors[gs->n_floors].publisher, pub, SZ_PUBLIC_KEY_LEN);
        gs->floors[gs->n_floors++].floor = floor;
    }
}

static void
skip_add(struct gossip *gs, const uint8_t pub[SZ_PUBLIC_KEY_LEN], uint64_t sequence,
         int64_t until_s, uint64_t need_cap)
{
    size_t i;

    for (i = 0; i < gs->n_skips; i++)
        if (gs->skips[i].sequence == sequence &&
            memcmp(gs->skips[i].publisher, pub, SZ_PUBLIC_KEY_LEN) == 0) {
            if (until_s > gs->skips[i].until_s)
                gs->skips[i].until_s = until_s;
            if (need_cap > gs->skips[i].need_cap)
                gs->skips[i].need_cap = need_cap;
            return;
        }
    memcpy(gs->skips[gs->skip_next].publisher, pub, SZ_PUBLIC_KEY_LEN);
    gs->skips[gs->skip_next].sequence = sequence;
    gs->skips[gs->skip_next].until_s = until_s;
    gs->skips[gs->skip_next].need_cap = need_cap;
    gs->skip_next = (gs->skip_next + 1) % MAX_SKIPS;
    if (gs->n_skips < MAX_SKIPS)
        gs->n_skips++;
}

static size_t
bucket_of(const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    return (size_t)(sz_load64(id) % FETCH_BUCKETS);
}

static struct fetch *
fetch_find(struct gossip *gs, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct fetch *f;

    for (f = gs->buckets[bucket_of(id)]; f != NULL; f = f->hnext)
        if (memcmp(f->id, id, SZ_BUNDLE_ID_LEN) == 0)
            return f;
    return NULL;
}

static void
fetch_insert(struct gossip *gs, struct fetch *f)
{
    size_t b = bucket_of(f->id);

    f->next = gs->fetches;
    gs->fetches = f;
    f->hnext = gs->buckets[b];
    gs->buckets[b] = f;
    gs->n_fetches++;
}

static void
wait_push(struct gossip *gs, struct fetch *f)
{
    if (f->waiting)
        return;
    f->waiting = true;
    f->wnext = NULL;
    f->wprev = gs->wait_tail;
    if (gs->wait_tail != NULL)
        gs->wait_tail->wnext = f;
    else
        gs->wait_head = f;
    gs->wait_tail = f;
}

static void
wait_unlink(struct gossip *gs, struct fetch *f)
{
    if (!f->waiting)
        return;
    if (f->wprev != NULL)
        f->wprev->wnext = f->wnext;
    else
        gs->wait_head = f->wnext;
    if (f->wnext != NULL)
        f->wnext->wprev = f->wprev;
    else
        gs->wait_tail = f->wprev;
    f->waiting = false;
    f->wnext = f->wprev = NULL;
}

static void
recent_add(struct gossip *gs, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    gs->recent[gs->recent_next] = prefix(id);
    gs->recent_next = (gs->recent_next + 1) % RECENT_SLOTS;
}

static bool
recent_has(const struct gossip *gs, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    uint64_t x = prefix(id);
    size_t i;

    for (i = 0; i < RECENT_SLOTS; i++)
        if (gs->recent[i] == x)
            return true;
    return false;
}

/* The kept part of bundle id, or NULL. */
static struct kept_part *
part_find(struct gossip *gs, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    size_t i;

    for (i = 0; i < gs->n_parts; i++)
        if (memcmp(gs->parts[i].id, id, SZ_BUNDLE_ID_LEN) == 0)
            return &gs->parts[i];
    return NULL;
}

/*
 * Takes kept part k out of the table (k points into it); its bytes are freed
 * unless take (they then belong to the caller, still counted in the receive
 * budget). The budget it frees is handed out by the caller (assemble_wake()).
 */
static uint8_t *
part_remove(struct gossip *gs, struct kept_part *k, bool take)
{
    uint8_t *bytes = k->bytes;

    if (!take) {
        gs->assembling -= gs->assembling < k->total ? gs->assembling : k->total;
        free(bytes);
        bytes = NULL;
    }
    *k = gs->parts[--gs->n_parts];
    memset(&gs->parts[gs->n_parts], 0, sizeof gs->parts[0]);
    return bytes;
}

/* True when a REQUEST_PART for kept part k is out to some peer. */
static bool
part_asked(const struct gossip *gs, const struct kept_part *k)
{
    const struct peer *p;

    for (p = peer_first(gs->d); p != NULL; p = p->next)
        if (p->g != NULL && p->g->part_out && memcmp(p->g->part_id, k->id, SZ_BUNDLE_ID_LEN) == 0)
            return true;
    return false;
}

/*
 * Drops a part for room: the one kept the longest of those not being asked
 * for, else the one kept the longest. Returns false when none is kept.
 */
static bool
part_drop_oldest(struct gossip *gs)
{
    struct kept_part *oldest = NULL;
    bool oldest_asked = false;
    size_t i;

    for (i = 0; i < gs->n_parts; i++) {
        bool asked = part_asked(gs, &gs->parts[i]);
        if (oldest == NULL || (oldest_asked && !asked) ||
            (asked == oldest_asked && gs->parts[i].kept_ms < oldest->kept_ms)) {
            oldest = &gs->parts[i];
            oldest_asked = asked;
        }
    }
    if (oldest == NULL)
        return false;
    (void)part_remove(gs, oldest, false);
    return true;
}

/* Whether one of our ranges out to p holds this publisher's sequence: it comes whole. */
static bool
range_out_holds(const struct gossip_peer *g, const uint8_t pub[SZ_PUBLIC_KEY_LEN], uint64_t seq)
{
    size_t i;

    for (i = 0; i < g->n_ranges_out; i++)
        if (memcmp(g->ranges_out[i].publisher, pub, SZ_PUBLIC_KEY_LEN) == 0 &&
            seq >= g->ranges_out[i].first && seq <= g->ranges_out[i].last)
            return true;
    return false;
}

/* Whether p can be sent a REQUEST_PART for kept part k now. */
static bool
part_askable(const struct peer *p, const struct kept_part *k, int64_t now)
{
    return (sz_link_features(p->link) & SZ_FEATURE_PART) != 0 &&
           (!p->g->part_out || now - p->g->part_out_ms >= PART_OUT_MS) &&
           /* It answered NOT_FOUND to one for this id: not asked again. */
           !ring_has(p->g->part_refused, REFUSED_SLOTS, k->id);
}

static void
fetch_remove(struct gossip *gs, struct fetch *f)
{
    struct fetch **pp;

    for (pp = &gs->fetches; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    for (pp = &gs->buckets[bucket_of(f->id)]; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == f) {
            *pp = f->hnext;
            break;
        }
    }
    if (f->from != NULL && f->from->g != NULL && f->from->g->n_requested > 0)
        f->from->g->n_requested--;
    if (f->owner != NULL && f->owner->g != NULL && f->owner->g->n_owned > 0)
        f->owner->g->n_owned--;
    wait_unlink(gs, f);
    gs->n_fetches--;
    free(f);
}

static bool
fetch_has_candidate(const struct fetch *f, const struct peer *p)
{
    size_t i;

    for (i = 0; i < f->n_cands; i++)
        if (f->cands[i] == p)
            return true;
    return false;
}

/* Removes p from the candidates (every time it is there: a freed peer must not stay). */
static void
fetch_drop_candidate(struct fetch *f, const struct peer *p)
{
    size_t i = 0;

    while (i < f->n_cands) {
        if (f->cands[i] == p)
            f->cands[i] = f->cands[--f->n_cands];
        else
            i++;
    }
}

/* Asks the next candidate peer for a fetch; drops the fetch when none is left. */
static void
fetch_next(struct gossip *gs, struct fetch *f)
{
    int64_t now = (int64_t)uv_now(gs->d->loop);
    const struct kept_part *k = part_find(gs, f->id);
    size_t i;

    if (f->from != NULL) {
        if (f->from->g != NULL && f->from->g->n_requested > 0)
            f->from->g->n_requested--;
        fetch_drop_candidate(f, f->from);
        f->from = NULL;
    }
    /* A peer that let an announced id go unanswered is no candidate for a while. */
    for (i = 0; i < f->n_cands;) {
        if (f->cands[i]->g != NULL && f->cands[i]->g->muted_until_ms > now)
            f->cands[i] = f->cands[--f->n_cands];
        else
            i++;
    }
    for (i = 0; i < f->n_cands; i++) {
        struct peer *p = f->cands[i];
        if (p->closing || p->g == NULL || p->g->n_requested >= MAX_REQUESTED)
            continue;
        /* Part of it is kept, and a range out to p brings it whole: not asked again. */
        if (k != NULL && range_out_holds(p->g, k->publisher, k->sequence))
            continue;
        if (k != NULL && part_askable(p, k, now)) {
            /* The rest of a kept part (one REQUEST_PART out per link). */
            struct sz_msg m;
            memset(&m, 0, sizeof m);
            m.type = SZ_MSG_REQUEST_PART;
            memcpy(m.id, f->id, SZ_BUNDLE_ID_LEN);
            m.offset = k->got;
            if (peer_send_msg(p, &m) != 0)
                continue;
            p->g->part_out = true;
            memcpy(p->g->part_id, f->id, SZ_BUNDLE_ID_LEN);
            p->g->part_offset = k->got;
            p->g->part_total = k->total;
            p->g->part_out_ms = now;
        } else {
            uint8_t body[SZ_MSG_MAX_REQUEST_LEN];
            size_t len = 0;
            if (sz_msg_encode_request(f->id, 1, body, sizeof body, &len) != 0)
                continue;
            if (peer_send(p, body, len) != 0)
                continue;
        }
        p->g->n_requested++;
        asked_add(p->g, f->id);
        f->from = p;
        f->deadline_ms = now + REQUEST_TIMEOUT_MS;
        wait_unlink(gs, f);
        return;
    }
    if (f->n_cands == 0)
        fetch_remove(gs, f);
    else
        wait_push(gs, f); /* Every candidate is busy: asked when one has room. */
}

/*
 * p answered the fetch of id, but what it sent cannot be used (through no
 * fault of its own): the fetch is asked again, p still a candidate.
 */
static void
fetch_again(struct gossip *gs, struct peer *p, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct fetch *f = fetch_find(gs, id);

    if (f == NULL || f->from != p)
        return;
    if (p->g != NULL && p->g->n_requested > 0)
        p->g->n_requested--;
    f->from = NULL;
    fetch_next(gs, f);
}

/* Gives waiting fetches to peers that have room again (a bounded number per call). */
static void take_deferred(struct gossip *gs, struct peer *p, size_t slice);

/*
 * Whether there is room in the table for a fetch p's announcements start:
 * links this node did not open share MAX_FETCHES, and the peers it chose have
 * FETCHES_RESERVED more, so that links anyone can open cannot fill the table
 * before them.
 */
static bool
fetch_room(const struct gossip *gs, const struct peer *p)
{
    return gs->n_fetches < MAX_FETCHES + (p->outbound ? FETCHES_RESERVED : 0);
}

/*
 * Fetches started by the announcements of the links p's address (its IPv4
 * address, or IPv6 /64) opened to this node, p's own included; for a link
 * this node opened, p's own.
 */
static size_t
address_owned(const struct gossip *gs, const struct peer *p)
{
    size_t n = 0;

    if (p->outbound || p->group[0] == 0)
        return p->g->n_owned;
    for (const struct peer *q = peer_first(gs->d); q != NULL; q = q->next)
        if (!q->outbound && q->g != NULL && memcmp(q->group, p->group, sizeof q->group) == 0)
            n += q->g->n_owned;
    return n;
}

/*
 * Whether p's announcements may start another fetch now: within its own share
 * (MAX_FETCHES_PER_PEER), its address's (MAX_FETCHES_PER_ADDRESS: links from
 * one address cannot take the room other peers that connected here need) and
 * the table's.
 */
static bool
may_start_fetch(const struct gossip *gs, const struct peer *p)
{
    return p->g->n_owned < MAX_FETCHES_PER_PEER && fetch_room(gs, p) &&
           address_owned(gs, p) < MAX_FETCHES_PER_ADDRESS;
}

static void
drive_waiting(struct gossip *gs)
{
    size_t budget = 256;
    struct peer *p;

    /*
     * Room in the fetch table goes first to the links this node opened (peers
     * it chose: others cannot crowd them out by connecting; they also have
     * FETCHES_RESERVED of their own), then to the others a slice each, taking
     * turns until their MAX_FETCHES is taken or nobody waits: fresh links
     * cannot take it all before older ones.
     */
    for (p = peer_first(gs->d); p != NULL; p = p->next)
        if (p->outbound && p->g != NULL && p->g->n_deferred > 0)
            take_deferred(gs, p, MAX_FETCHES);
    for (bool more = true; more && gs->n_fetches < MAX_FETCHES;) {
        more = false;
        for (p = peer_first(gs->d); p != NULL && gs->n_fetches < MAX_FETCHES; p = p->next) {
            if (p->outbound || p->g == NULL || p->g->n_deferred == 0)
                continue;
            size_t before = p->g->deferred_head;
            take_deferred(gs, p, DRIVE_SLICE);
            if (p->g->n_deferred > 0 && p->g->deferred_head != before)
                more = true;
        }
    }

    while (budget > 0 && gs->wait_head != NULL) {
        struct fetch *f = gs->wait_head;
        size_t before = gs->n_fetches;
        wait_unlink(gs, f);
        fetch_next(gs, f);
        /* Dropped (no candidate left, e.g. its announcer was muted): f is gone, and
         * costs nothing of the budget, so ids made up by a muted peer clear at once. */
        if (gs->n_fetches < before)
            continue;
        budget--;
        /* Still waiting: no candidate has room; the rest will not fare better now. */
        if (f == gs->wait_tail && f->waiting)
            break;
    }
}

/* ---- sending helpers ---- */

static void
send_simple(struct peer *p, uint8_t type)
{
    struct sz_msg m;

    memset(&m, 0, sizeof m);
    m.type = type;
    (void)peer_send_msg(p, &m);
}

/*
 * Sends bytes `from` to `end` of a bundle of len bytes as BUNDLE chunks (from:
 * 0, a REQUEST_PART's offset or where the last piece ended; end: len, or
 * where this piece ends); data holds those bytes.
 */
static int
send_bundle(struct peer *p, const uint8_t *data, size_t len, size_t from, size_t end)
{
    struct sz_msg m;
    size_t off;

    for (off = from; off < end; off += SZ_MSG_MAX_CHUNK_LEN) {
        size_t n = end - off < SZ_MSG_MAX_CHUNK_LEN ? end - off : SZ_MSG_MAX_CHUNK_LEN;
        memset(&m, 0, sizeof m);
        m.type = SZ_MSG_BUNDLE;
        m.total = (uint32_t)len;
        m.offset = (uint32_t)off;
        m.data = data + (off - from);
        m.data_len = n;
        if (peer_send_msg(p, &m) != 0)
            return -1;
    }
    if (end == len)
        p->bundles_out++;
    return 0;
}

/* ---- jobs ---- */

enum job_kind {
    JOB_WANTED,  /* which announced ids do we lack? */
    JOB_VERIFY,  /* verify and store a received bundle */
    JOB_SERVE,   /* read bundles a peer asked for */
    JOB_SUMMARY, /* build our SUMMARY */
    JOB_COMPARE, /* compare a peer's SUMMARY with ours */
};

/* Two held bundles of one publisher and sequence (evidence of a stolen key). */
struct equiv_pair {
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence;
    uint8_t id_a[SZ_BUNDLE_ID_LEN], id_b[SZ_BUNDLE_ID_LEN];
};

/* Pairs told to a peer when its link opens (the first the store lists). */
#define MAX_EQUIV_ON_OPEN 32
/* A SUMMARY in parts, for a fetch client: relays get the first (PROTOCOL.md 4.3). */
#define MAX_SUMMARY_PARTS 16

struct gjob {
    uv_work_t work;
    enum job_kind kind;
    struct gossip *gs;
    struct peer *p;
    /* WANTED */
    struct sz_msg_announce *ann;
    size_t n_ann;
    bool *wanted;
    /* VERIFY */
    uint8_t *bundle;
    size_t bundle_len;
    struct gjob *vnext; /* JOB_VERIFY waiting for a slot: the next of its peer's */
    /* JOB_VERIFY: in gossip.verifying from when it is taken until it is freed (stored
     * or refused by then), with its publisher and sequence from the header */
    struct gjob *vall_prev, *vall_next;
    bool vall_linked;
    uint8_t v_publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t v_sequence;
    /* JOB_VERIFY: its weight in the verify budgets (take_bundle()) */
    size_t verify_cost;
    uint64_t content_cap; /* the max_bundle_bytes it was taken under */
    int verify_rc;
    bool carried;
    bool resumed;                            /* it continued a part this node kept */
    char resumed_from[CONFIG_HOST_CAP + 16]; /* ... whose bytes came from this peer */
    uint8_t rx_id[SZ_BUNDLE_ID_LEN];         /* its id, from the header */
    struct store_item item;
    uint64_t lowest_held; /* refused: the publisher's lowest sequence held (0: none) */
    /* SERVE: bundles read, in order; NULL bytes = not found (ids) */
    uint8_t (*ids)[SZ_BUNDLE_ID_LEN];
    uint32_t *offsets; /* per id: 0, or the offset of a REQUEST_PART */
    size_t n_ids;
    uint8_t **bytes;
    size_t *lens;
    size_t n_read;
    bool range;
    struct range_req rr;
    struct sz_msg_range *sub; /* REQUEST_SPARSE: only these sequences of rr (copy) */
    size_t n_sub, sub_i;
    uint64_t range_next; /* in: first sequence to read; out: next to read */
    bool range_done;
    size_t room;    /* bytes it reads at most (a piece rounds up to a whole chunk) */
    bool piece;     /* it reads the next piece of the peer's piece_id */
    uint32_t cut;   /* the last bundle read stops before this byte (0: at its end) */
    size_t reserve; /* counted in serve_reserved until the job is done */
    /* SUMMARY: which part (0: the first) and where it starts; out: where it ended */
    size_t part_from;
    struct summary_cursor after, end;
    bool packed; /* SUMMARY: SUMMARY_PACKED where it is shorter (feature SZ_FEATURE_SPARSE) */
    bool summary_more;
    /* SUMMARY / COMPARE: an encoded message list, or ranges to request */
    uint8_t *msg;
    size_t msg_len;
    uint8_t *peer_summary; /* COMPARE: the peer's SUMMARY body (copy) */
    size_t peer_summary_len;
    struct floor_ *floors; /* COMPARE: the floors when it was queued (copy) */
    size_t n_floors;
    struct skip *skips; /* COMPARE: the skipped sequences when it was queued (copy) */
    size_t n_skips;
    struct range_req *want;
    size_t n_want;
    bool truncated; /* more ranges were wanted than one comparison queues */
    /* VERIFY: the pair a stored bundle made; SUMMARY: pairs for a new peer */
    struct equiv_pair *equiv;
    size_t n_equiv;
    char err[1024]; /* VERIFY: why the store failed (a path, the cause, what to do) */
};

static void gossip_serve(struct peer *p);

static void
gjob_free(struct gjob *j)
{
    size_t i;

    if (j->vall_linked) {
        if (j->vall_prev != NULL)
            j->vall_prev->vall_next = j->vall_next;
        else
            j->gs->verifying = j->vall_next;
        if (j->vall_next != NULL)
            j->vall_next->vall_prev = j->vall_prev;
    }
    free(j->ann);
    free(j->wanted);
    free(j->bundle);
    free(j->ids);
    free(j->offsets);
    if (j->bytes != NULL)
        for (i = 0; i < j->n_read; i++)
            free(j->bytes[i]);
    free(j->bytes);
    free(j->lens);
    free(j->msg);
    free(j->peer_summary);
    free(j->floors);
    free(j->skips);
    free(j->want);
    free(j->equiv);
    free(j->sub);
    free(j);
}

static void
run_wanted(struct gjob *j)
{
    struct daemon *d = j->gs->d;
    int64_t now = daemon_now();
    size_t i;

    uv_mutex_lock(&d->store_lock);
    for (i = 0; i < j->n_ann; i++) {
        int has = store_has(d->store, j->ann[i].id, NULL, 0);
        int rem = has == 0 ? store_is_remembered(d->store, j->ann[i].id, now, NULL, NULL, 0) : 1;
        uint64_t evicted = 0;
        j->wanted[i] = has == 0 && rem == 0;
        /* At or below the store's eviction floor (also from before a restart):
         * it would be evicted on arrival. */
        if (j->wanted[i] &&
            store_evicted_seq(d->store, j->ann[i].publisher, now, &evicted, NULL, 0) == 1 &&
            j->ann[i].sequence <= evicted)
            j->wanted[i] = false;
    }
    uv_mutex_unlock(&d->store_lock);
}

struct equiv_collect {
    struct gjob *j;
    size_t cap;
    const uint8_t *publisher; /* NULL: any pair */
    uint64_t sequence;
};

static int
collect_equiv(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t sequence,
              const uint8_t id_a[SZ_BUNDLE_ID_LEN], const uint8_t id_b[SZ_BUNDLE_ID_LEN], void *arg)
{
    struct equiv_collect *c = arg;
    struct equiv_pair *e;

    if (c->publisher != NULL &&
        (sequence != c->sequence || memcmp(publisher, c->publisher, SZ_PUBLIC_KEY_LEN) != 0))
        return 0;
    if (c->j->equiv == NULL && (c->j->equiv = calloc(c->cap, sizeof *c->j->equiv)) == NULL)
        return 1;
    e = &c->j->equiv[c->j->n_equiv++];
    memcpy(e->publisher, publisher, SZ_PUBLIC_KEY_LEN);
    e->sequence = sequence;
    memcpy(e->id_a, id_a, SZ_BUNDLE_ID_LEN);
    memcpy(e->id_b, id_b, SZ_BUNDLE_ID_LEN);
    return c->j->n_equiv == c->cap;
}

static int
first_range(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t first, uint64_t last, void *ctx)
{
    (void)publisher;
    (void)last;
    *(uint64_t *)ctx = first;
    return 1;
}

static void
run_verify(struct gjob *j)
{
    struct daemon *d = j->gs->d;
    struct sz_bundle *b = NULL;
    int64_t now = daemon_now();

    j->verify_rc = daemon_open_bundle(d, j->bundle, j->bundle_len, j->content_cap, &b);
    if (j->verify_rc != 0)
        return;
    j->carried = daemon_carries(d, b->hdr.publisher);
    store_meta_from_header(&j->item.meta, &b->hdr, b->id, j->bundle_len);
    sz_bundle_free(b);
    if (!j->carried)
        return;
    j->item.bytes = j->bundle;
    uv_mutex_lock(&d->store_lock);
    if (store_put(d->store, &j->item, now, j->err, sizeof j->err) != 0)
        j->item.status = STORE_PENDING;
    if (j->item.status == STORE_EXPIRED || j->item.status == STORE_TOO_BIG)
        (void)store_seq_ranges(d->store, j->item.meta.publisher, 0, first_range, &j->lowest_held,
                               NULL, 0);
    if (j->item.status == STORE_STORED && j->item.equivocates) {
        /* The pair, for the peers: they cannot tell it from the new bundle alone. */
        struct equiv_collect c = {j, 1, j->item.meta.publisher, j->item.meta.sequence};
        (void)store_equivocations_of(d->store, j->item.meta.publisher, j->item.meta.sequence,
                                     collect_equiv, &c, NULL, 0);
    }
    uv_mutex_unlock(&d->store_lock);
}

struct range_read {
    struct gjob *j;
    size_t bytes;
};

static int
collect_range(const struct store_meta *m, void *arg)
{
    struct range_read *r = arg;
    struct gjob *j = r->j;

    if (m->sequence > j->rr.last || r->bytes >= SERVE_BATCH_BYTES || j->n_ids >= 256)
        return 1;
    if (j->n_sub > 0) {
        /* A sparse request: sequences between its ranges are not wanted (listed in order). */
        while (j->sub_i < j->n_sub && j->sub[j->sub_i].last < m->sequence)
            j->sub_i++;
        if (j->sub_i == j->n_sub)
            return 1;
        if (m->sequence < j->sub[j->sub_i].first)
            return 0;
    }
    memcpy(j->ids[j->n_ids++], m->id, SZ_BUNDLE_ID_LEN);
    r->bytes += m->size;
    j->range_next = m->sequence; /* bundles sharing a sequence are read together below */
    return 0;
}

/*
 * Reads bundle j->ids[i] from byte `from` on into j->bytes[i] (those bytes
 * only), with j->lens[i] the whole bundle's length: all of the rest when it
 * is at most `max` bytes, else a piece of `max` rounded up to whole chunks,
 * and j->cut says where the piece ends. Leaves j->bytes[i] NULL when the
 * store lacks it or from is not below its length. Returns the bytes read.
 * Called with the store locked.
 */
static size_t
serve_read(struct daemon *d, struct gjob *j, size_t i, uint32_t from, size_t max)
{
    struct store_meta meta;
    size_t off = 0, n, want;
    uint8_t *buf;

    j->bytes[i] = NULL;
    j->lens[i] = 0;
    if (store_get_meta(d->store, j->ids[i], &meta, NULL, 0) != 0 || from >= meta.size)
        return 0;
    want = (size_t)(meta.size - from);
    if (want > max) {
        size_t piece =
            max + (SZ_MSG_MAX_CHUNK_LEN - max % SZ_MSG_MAX_CHUNK_LEN) % SZ_MSG_MAX_CHUNK_LEN;
        if (piece < want) {
            want = piece;
            j->cut = from + (uint32_t)piece;
        }
    }
    buf = malloc(want);
    if (buf == NULL) {
        j->cut = 0;
        return 0;
    }
    while (off < want) {
        if (store_read(d->store, j->ids[i], from + off, buf + off, want - off, &n, NULL, 0) != 0 ||
            n == 0) {
            free(buf);
            j->cut = 0;
            return 0;
        }
        off += n;
    }
    j->bytes[i] = buf;
    j->lens[i] = (size_t)meta.size;
    return off;
}

static void
run_serve(struct gjob *j)
{
    struct daemon *d = j->gs->d;
    size_t i, total = 0;

    uv_mutex_lock(&d->store_lock);
    if (j->range) {
        struct range_read r = {j, 0};
        uint64_t start = j->range_next;
        j->ids = calloc(256, sizeof *j->ids);
        if (j->ids != NULL)
            (void)store_list(d->store, j->rr.publisher, start, collect_range, &r, NULL, 0);
        /* Done when the listing stopped for the end of the range, not for the batch size. */
        if (j->n_ids == 0 || (r.bytes < SERVE_BATCH_BYTES && j->n_ids < 256))
            j->range_done = true;
        else
            j->range_next = j->range_next + 1;
        /*
         * A sequence split across two batches would be served twice: when the
         * batch was cut, end it before its last sequence, and go on from
         * there. A batch of one sequence (bundles that share it: an
         * equivocation) goes whole, and the next starts past it; otherwise
         * the same batch would be served again without end.
         */
        if (!j->range_done && j->n_ids > 1) {
            struct store_meta m;
            if (store_get_meta(d->store, j->ids[j->n_ids - 1], &m, NULL, 0) == 0) {
                uint64_t cut = m.sequence;
                size_t keep = j->n_ids;
                while (keep > 0 && store_get_meta(d->store, j->ids[keep - 1], &m, NULL, 0) == 0 &&
                       m.sequence == cut)
                    keep--;
                if (keep > 0) {
                    j->n_ids = keep;
                    j->range_next = cut;
                } else {
                    j->range_next = cut + 1; /* stored sequences are at most INT64_MAX */
                }
            }
        }
        if (j->range_next > j->rr.last)
            j->range_done = true;
    }
    j->bytes = calloc(j->n_ids + 1, sizeof *j->bytes);
    j->lens = calloc(j->n_ids + 1, sizeof *j->lens);
    if (j->bytes != NULL && j->lens != NULL) {
        for (i = 0; i < j->n_ids && (j->range || total < j->room) && j->cut == 0; i++) {
            /*
             * REQUEST_PART, or the next piece: only the bytes from the offset
             * are read, and none for an offset at or past the end (NOT_FOUND).
             * A bundle larger than the room left is cut into pieces (in a
             * range, only the last of the batch can be: the listing stops
             * past SERVE_BATCH_BYTES, below the room).
             */
            uint32_t from = j->offsets != NULL ? j->offsets[i] : 0;
            size_t left = total < j->room ? j->room - total : 1;
            total += serve_read(d, j, i, from, !j->range || i + 1 == j->n_ids ? left : SIZE_MAX);
            j->n_read = i + 1;
        }
    }
    uv_mutex_unlock(&d->store_lock);
    /*
     * Each bundle is checked against its id before it goes out (about 1 us
     * per KB): one the disk damaged is removed, and answered as not held. A
     * bundle read whole is checked in the bytes read; one sent in pieces, or
     * a part of one (REQUEST_PART), is read through once more, in chunks,
     * before its first bytes go (its later pieces are not checked again).
     */
    for (i = 0; j->bytes != NULL && i < j->n_read; i++) {
        bool whole = (j->offsets == NULL || j->offsets[i] == 0) &&
                     !(j->cut != 0 && i + 1 == j->n_read) && !j->piece;
        int rc;
        if (j->bytes[i] == NULL || j->piece)
            continue;
        rc = whole ? daemon_checked_read(d, j->ids[i], j->bytes[i], j->lens[i])
                   : daemon_checked_stream(d, j->ids[i], j->lens[i]);
        if (rc == -EIO || (rc != 0 && whole)) {
            free(j->bytes[i]);
            j->bytes[i] = NULL;
            j->lens[i] = 0;
        }
    }
}

/*
 * A SUMMARY in parts (PROTOCOL.md 4.3): each part at most 1024 publishers and
 * one frame; a publisher with more ranges than one entry holds goes on in
 * another entry. The ranges up to `after` were sent in earlier parts: a part
 * goes on from where the last one ended, whatever the store did meanwhile.
 */
struct summary_build {
    struct sz_msg_summary_src *pubs;
    struct sz_msg_range *ranges;
    size_t n_pubs, n_ranges, cap_pubs, cap_ranges;
    size_t part, max_parts;      /* parts built so far, at most built */
    struct summary_cursor after; /* in: leave out the ranges up to here */
    struct summary_cursor end;   /* out: where the last part built ends */
    struct sz_wr out;            /* the parts built: u32 length, then the message */
    bool failed;                 /* out of memory: nothing is sent */
    bool more;                   /* parts beyond max_parts were left out */
    bool cut_says_done;          /* the last part says more = 0 even when cut */
    bool packed;                 /* SUMMARY_PACKED where shorter */
};

/* Ends the part being built (more: another follows). Returns 1 to stop the walk. */
static int
summary_flush(struct summary_build *s, bool more)
{
    size_t i, len = 0, cap = SZ_MSG_SUMMARY_HEADER_LEN;
    uint8_t *msg;

    for (i = 0; i < s->n_pubs; i++) {
        s->pubs[i].ranges = s->ranges + (uintptr_t)s->pubs[i].ranges;
        cap += SZ_MSG_SUMMARY_PUB_LEN(s->pubs[i].n_ranges);
    }
    /* A reader waits for more = 0: the last part it will get says so. */
    bool says_more = more && !(s->cut_says_done && s->part + 1 >= s->max_parts);
    /* Packed ranges are shorter unless the gaps are huge; the parts stay the same. */
    size_t plen = s->packed ? sz_msg_summary_packed_len(s->pubs, s->n_pubs) : 0;
    bool packed = plen != 0 && plen <= cap;
    if (packed)
        cap = plen;
    msg = malloc(cap);
    if (msg == NULL || cap > SZ_MSG_MAX_LEN ||
        (packed ? sz_msg_encode_summary_packed(says_more, s->pubs, s->n_pubs, msg, cap, &len)
                : sz_msg_encode_summary(says_more, s->pubs, s->n_pubs, msg, cap, &len)) != 0) {
        s->failed = true;
    } else {
        sz_wr_u32(&s->out, (uint32_t)len);
        sz_wr_bytes(&s->out, msg, len);
        if (s->n_pubs > 0) {
            s->end.set = true;
            memcpy(s->end.publisher, s->pubs[s->n_pubs - 1].publisher, SZ_PUBLIC_KEY_LEN);
            s->end.sequence = s->ranges[s->n_ranges - 1].last;
        }
    }
    free(msg);
    for (i = 0; i < s->n_pubs; i++)
        free((void *)s->pubs[i].publisher);
    s->n_pubs = s->n_ranges = 0;
    s->part++;
    if (s->failed)
        return 1;
    if (more && s->part >= s->max_parts) {
        s->more = true;
        return 1;
    }
    return 0;
}

static int
collect_ranges(const uint8_t pub[SZ_PUBLIC_KEY_LEN], uint64_t first, uint64_t last, void *arg)
{
    struct summary_build *s = arg;

    if (s->after.set) {
        int c = memcmp(pub, s->after.publisher, SZ_PUBLIC_KEY_LEN);
        if (c < 0 || (c == 0 && last <= s->after.sequence))
            return 0; /* sent in an earlier part */
        if (c == 0 && first <= s->after.sequence)
            first = s->after.sequence + 1; /* the range grew since */
    }
    if (s->n_ranges == s->cap_ranges && summary_flush(s, true) != 0)
        return 1;
    if (s->n_pubs == 0 || memcmp(s->pubs[s->n_pubs - 1].publisher, pub, SZ_PUBLIC_KEY_LEN) != 0 ||
        s->pubs[s->n_pubs - 1].n_ranges == SZ_MSG_MAX_SUMMARY_RANGES) {
        uint8_t *copy;
        if (s->n_pubs == s->cap_pubs && summary_flush(s, true) != 0)
            return 1;
        copy = malloc(SZ_PUBLIC_KEY_LEN);
        if (copy == NULL) {
            s->failed = true;
            return 1;
        }
        memcpy(copy, pub, SZ_PUBLIC_KEY_LEN);
        s->pubs[s->n_pubs].publisher = copy;
        s->pubs[s->n_pubs].ranges = (const struct sz_msg_range *)(uintptr_t)s->n_ranges;
        s->pubs[s->n_pubs].n_ranges = 0;
        s->n_pubs++;
    }
    s->ranges[s->n_ranges].first = first;
    s->ranges[s->n_ranges].last = last;
    s->n_ranges++;
    s->pubs[s->n_pubs - 1].n_ranges++;
    return 0;
}

/*
 * Our per-publisher ranges as one SUMMARY part: part j->part_from (0: the
 * first, for every peer; 1 and on: those after it, one at a time, for a fetch
 * client; up to MAX_SUMMARY_PARTS), after j->after. j->msg holds it as u32
 * length then the message, j->end where it ended; j->summary_more is set
 * when parts follow it.
 */
static void
run_summary(struct gjob *j)
{
    struct daemon *d = j->gs->d;
    struct summary_build s;
    size_t i;

    memset(&s, 0, sizeof s);
    s.cap_pubs = SZ_MSG_MAX_SUMMARY_PUBLISHERS;
    s.cap_ranges =
        (SZ_MSG_MAX_LEN - SZ_MSG_SUMMARY_HEADER_LEN) / 16 - SZ_MSG_MAX_SUMMARY_PUBLISHERS * 3;
    s.after = j->after;
    s.max_parts = 1;
    s.cut_says_done = j->part_from + 1 >= MAX_SUMMARY_PARTS;
    s.packed = j->packed;
    s.pubs = calloc(s.cap_pubs, sizeof *s.pubs);
    s.ranges = calloc(s.cap_ranges, sizeof *s.ranges);
    sz_wr_init(&s.out, (size_t)SZ_MSG_MAX_LEN + 4);
    if (s.pubs == NULL || s.ranges == NULL)
        goto out;
    uv_mutex_lock(&d->store_lock);
    /* A later part seeks to where the last ended (collect_ranges() leaves out the
     * ranges of that publisher it held). */
    if (s.after.set)
        (void)store_seq_ranges_from(d->store, s.after.publisher, collect_ranges, &s, NULL, 0);
    else
        (void)store_seq_ranges(d->store, NULL, 0, collect_ranges, &s, NULL, 0);
    if (j->part_from == 0) {
        struct equiv_collect c = {j, MAX_EQUIV_ON_OPEN, NULL, 0};
        (void)store_equivocations(d->store, collect_equiv, &c, NULL, 0);
    }
    uv_mutex_unlock(&d->store_lock);
    /* The last part (an empty store, or nothing left after the cursor, still says so). */
    if (!s.failed && !s.more)
        (void)summary_flush(&s, false);
    if (!s.failed && sz_wr_status(&s.out) == 0 && s.out.len > 0) {
        j->msg = s.out.p;
        j->msg_len = s.out.len;
        s.out.p = NULL;
        /* The 16th part says more = 0 even when cut: no part follows it. */
        j->summary_more = s.more && j->part_from + 1 < MAX_SUMMARY_PARTS;
        j->end = s.end;
    }
out:
    for (i = 0; i < s.n_pubs; i++)
        free((void *)s.pubs[i].publisher);
    sz_wr_free(&s.out, false);
    free(s.pubs);
    free(s.ranges);
}

struct own_ranges {
    struct sz_msg_range *v;
    size_t n, cap;
};

static int
collect_own(const uint8_t pub[SZ_PUBLIC_KEY_LEN], uint64_t first, uint64_t last, void *arg)
{
    struct own_ranges *o = arg;

    (void)pub;
    if (o->n == o->cap) {
        size_t cap = o->cap == 0 ? 16 : o->cap * 2;
        struct sz_msg_range *v = realloc(o->v, cap * sizeof *v);
        if (v == NULL)
            return 1;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n].first = first;
    o->v[o->n].last = last;
    o->n++;
    return 0;
}

static int
cmp_range(const void *x, const void *y)
{
    const struct sz_msg_range *a = x, *b = y;
    return (a->first > b->first) - (a->first < b->first);
}

/* Sorts o's ranges and joins those that overlap or touch. */
static void
merge_ranges(struct own_ranges *o)
{
    size_t k = 0;

    qsort(o->v, o->n, sizeof *o->v, cmp_range);
    for (size_t i = 1; i < o->n; i++) {
        if (o->v[k].last == UINT64_MAX || o->v[i].first <= o->v[k].last + 1) {
            if (o->v[i].last > o->v[k].last)
                o->v[k].last = o->v[i].last;
        } else {
            o->v[++k] = o->v[i];
        }
    }
    if (o->n > 0)
        o->n = k + 1;
}

static void
want_span(struct gjob *j, const uint8_t *pub, uint64_t first, uint64_t last, size_t *cap)
{
    if (j->n_want >= MAX_RANGES_QUEUED) {
        j->truncated = true;
        return;
    }
    /* Split into spans the protocol allows. */
    while (first <= last) {
        uint64_t end =
            last - first >= SZ_MSG_MAX_RANGE_SPAN ? first + SZ_MSG_MAX_RANGE_SPAN - 1 : last;
        if (j->n_want == *cap) {
            size_t c = *cap == 0 ? 16 : *cap * 2;
            struct range_req *v;
            if (c > MAX_RANGES_QUEUED)
                c = MAX_RANGES_QUEUED;
            if (c == *cap) {
                j->truncated = true;
                return;
            }
            v = realloc(j->want, c * sizeof *v);
            if (v == NULL)
                return;
            j->want = v;
            *cap = c;
        }
        memcpy(j->want[j->n_want].publisher, pub, SZ_PUBLIC_KEY_LEN);
        j->want[j->n_want].first = first;
        j->want[j->n_want].last = end;
        j->n_want++;
        if (end == UINT64_MAX)
            return;
        first = end + 1;
    }
}

/* Wants [first, last] of pub, less the skipped sequences (dated too far ahead). */
static void
want_add(struct gjob *j, const uint8_t *pub, uint64_t first, uint64_t last, size_t *cap)
{
    for (;;) {
        uint64_t next = 0;
        bool found = false;
        size_t i;

        for (i = 0; i < j->n_skips; i++) {
            uint64_t s = j->skips[i].sequence;
            if (s >= first && s <= last && (!found || s < next) &&
                memcmp(j->skips[i].publisher, pub, SZ_PUBLIC_KEY_LEN) == 0) {
                next = s;
                found = true;
            }
        }
        if (!found) {
            want_span(j, pub, first, last, cap);
            return;
        }
        if (next > first)
            want_span(j, pub, first, next - 1, cap);
        if (next == last)
            return;
        first = next + 1;
    }
}

/* The ranges the peer holds and we lack, above our floors, less the skipped sequences. */
static void
run_compare(struct gjob *j)
{
    struct gossip *gs = j->gs;
    struct daemon *d = gs->d;
    struct sz_msg m;
    struct sz_msg_iter it;
    struct sz_msg_summary_pub sp;
    struct own_ranges own = {0};
    size_t cap = 0, i, n_seen = 0;
    int64_t now = daemon_now();
    /* Publishers already compared: each costs a pass over the store, once. */
    uint8_t(*seen)[SZ_PUBLIC_KEY_LEN] = calloc(SZ_MSG_MAX_SUMMARY_PUBLISHERS, sizeof *seen);

    if (seen == NULL || sz_msg_decode(j->peer_summary, j->peer_summary_len, &m) != 0) {
        free(seen);
        return;
    }
    sz_msg_summary_iter(&m, &it);
    while (sz_msg_summary_next(&it, &sp)) {
        /* Below the floor (evicted or expired here) is not wanted: the
         * queue's limit counts only ranges that will be asked for. */
        uint64_t floor = floor_in(j->floors, j->n_floors, sp.publisher), evicted = 0;
        for (i = 0; i < n_seen && memcmp(seen[i], sp.publisher, SZ_PUBLIC_KEY_LEN) != 0; i++)
            ;
        if (i < n_seen || n_seen == SZ_MSG_MAX_SUMMARY_PUBLISHERS)
            continue; /* named twice: the first entry counts */
        memcpy(seen[n_seen++], sp.publisher, SZ_PUBLIC_KEY_LEN);
        if (!daemon_carries(d, sp.publisher))
            continue;
        own.n = 0;
        uv_mutex_lock(&d->store_lock);
        (void)store_seq_ranges(d->store, sp.publisher, 0, collect_own, &own, NULL, 0);
        /* The store's floor: it evicted up to there for a quota (before a restart too). */
        if (store_evicted_seq(d->store, sp.publisher, now, &evicted, NULL, 0) == 1 &&
            evicted >= floor)
            floor = evicted + 1;
        /* ...and the sequences it evicted above that floor: not wanted either. */
        size_t n_held = own.n;
        (void)store_gone_seqs(d->store, sp.publisher, now, collect_own, &own, NULL, 0);
        uv_mutex_unlock(&d->store_lock);
        if (own.n > n_held)
            merge_ranges(&own);
        struct sz_msg_range r;
        while (sz_msg_summary_range_next(&sp, &r)) {
            uint64_t cur;
            if (r.last < floor)
                continue;
            if (r.first < floor)
                r.first = floor;
            cur = r.first;
            /* Subtract our ranges (sorted) from [r.first, r.last]. */
            for (i = 0; i < own.n && cur <= r.last; i++) {
                if (own.v[i].last < cur)
                    continue;
                if (own.v[i].first > r.last)
                    break;
                if (own.v[i].first > cur)
                    want_add(j, sp.publisher, cur, own.v[i].first - 1, &cap);
                if (own.v[i].last == UINT64_MAX) {
                    cur = UINT64_MAX;
                    break;
                }
                cur = own.v[i].last + 1;
            }
            if (cur <= r.last && !(i < own.n && own.v[i].last == UINT64_MAX))
                want_add(j, sp.publisher, cur, r.last, &cap);
        }
    }
    free(own.v);
    free(seen);
}

static void
on_gjob_work(uv_work_t *w)
{
    struct gjob *j = w->data;

    switch (j->kind) {
    case JOB_WANTED:
        run_wanted(j);
        break;
    case JOB_VERIFY:
        run_verify(j);
        break;
    case JOB_SERVE:
        run_serve(j);
        break;
    case JOB_SUMMARY:
        run_summary(j);
        break;
    case JOB_COMPARE:
        run_compare(j);
        break;
    }
}

static void send_ranges(struct peer *p);

/* A fetch of an announced id, with p as its owner and first candidate. */
static struct fetch *
new_fetch(struct gossip *gs, struct peer *p, const struct sz_msg_announce *a)
{
    struct fetch *f = calloc(1, sizeof *f);

    if (f == NULL)
        return NULL;
    f->owner = p;
    p->g->n_owned++;
    memcpy(f->id, a->id, SZ_BUNDLE_ID_LEN);
    f->size = a->size;
    fetch_insert(gs, f);
    f->cands[f->n_cands++] = p;
    return f;
}

static void
defer(struct peer *p, const struct sz_msg_announce *a)
{
    struct gossip_peer *g = p->g;

    /* Beyond the bounds it comes back with the peer's next SUMMARY. */
    if (g->n_deferred - g->deferred_head >= MAX_DEFERRED ||
        p->d->gossip->n_deferred_all >= MAX_DEFERRED_ALL)
        return;
    if (g->n_deferred == g->cap_deferred) {
        size_t cap = g->cap_deferred == 0 ? 256 : g->cap_deferred * 2;
        struct sz_msg_announce *v;
        if (cap > MAX_DEFERRED)
            return; /* Beyond even this: it comes back with the peer's next SUMMARY. */
        /* Compact first: the queue is read from deferred_head. */
        if (g->deferred_head > 0) {
            memmove(g->deferred, g->deferred + g->deferred_head,
                    (g->n_deferred - g->deferred_head) * sizeof *g->deferred);
            g->n_deferred -= g->deferred_head;
            g->deferred_head = 0;
        }
        if (g->n_deferred < g->cap_deferred) {
            g->deferred[g->n_deferred++] = *a;
            p->d->gossip->n_deferred_all++;
            return;
        }
        v = realloc(g->deferred, cap * sizeof *v);
        if (v == NULL)
            return;
        g->deferred = v;
        g->cap_deferred = cap;
    }
    g->deferred[g->n_deferred++] = *a;
    p->d->gossip->n_deferred_all++;
}

/* Drops what is left of p's deferred announcements. */
static void
deferred_clear(struct gossip *gs, struct gossip_peer *g)
{
    gs->n_deferred_all -= g->n_deferred - g->deferred_head;
    free(g->deferred);
    g->deferred = NULL;
    g->n_deferred = g->deferred_head = g->cap_deferred = 0;
}

/* Starts up to `slice` deferred fetches of p while its share allows. */
static void
take_deferred(struct gossip *gs, struct peer *p, size_t slice)
{
    struct gossip_peer *g = p->g;

    if (g != NULL && g->muted_until_ms > (int64_t)uv_now(gs->d->loop)) {
        deferred_clear(gs, g); /* its announcements are not believed now */
        return;
    }
    while (g != NULL && !p->closing && g->deferred_head < g->n_deferred && slice > 0 &&
           may_start_fetch(gs, p)) {
        const struct sz_msg_announce *a = &g->deferred[g->deferred_head++];
        struct fetch *f;
        gs->n_deferred_all--;
        if (fetch_find(gs, a->id) != NULL || recent_has(gs, a->id))
            continue;
        f = new_fetch(gs, p, a);
        if (f == NULL)
            break;
        wait_push(gs, f);
        slice--;
    }
    if (g != NULL && g->deferred_head == g->n_deferred)
        deferred_clear(gs, g);
}

static void
done_wanted(struct gjob *j)
{
    struct gossip *gs = j->gs;
    struct peer *p = j->p;
    uint8_t ids[SZ_MSG_MAX_REQUEST][SZ_BUNDLE_ID_LEN];
    size_t n = 0, i;
    int64_t now = (int64_t)uv_now(gs->d->loop);

    for (i = 0; i < j->n_ann; i++) {
        struct fetch *f;
        if (!j->wanted[i])
            continue;
        /* Muted while this check ran: its announcements are not believed now. */
        if (!p->closing && p->g != NULL && p->g->muted_until_ms > now)
            break;
        f = fetch_find(gs, j->ann[i].id);
        if (f != NULL) {
            /* An id announced twice (in one ANNOUNCE or two) is one candidate. */
            if (f->n_cands < MAX_CANDIDATES && !p->closing && !fetch_has_candidate(f, p))
                f->cands[f->n_cands++] = p;
            continue;
        }
        /* Stored while this check ran (from another peer): not wanted after all. */
        if (recent_has(gs, j->ann[i].id))
            continue;
        if (p->closing)
            break;
        if (!may_start_fetch(gs, p)) {
            /* Over its share (or its address's, or the table full): kept, and fetched
             * as earlier fetches finish. */
            defer(p, &j->ann[i]);
            continue;
        }
        f = new_fetch(gs, p, &j->ann[i]);
        if (f == NULL)
            break;
        if (part_find(gs, f->id) != NULL) {
            fetch_next(gs, f); /* part of it is kept: a REQUEST_PART for the rest */
            continue;
        }
        if (p->g->n_requested < MAX_REQUESTED && n < SZ_MSG_MAX_REQUEST) {
            memcpy(ids[n++], f->id, SZ_BUNDLE_ID_LEN);
            p->g->n_requested++;
            asked_add(p->g, f->id);
            f->from = p;
            f->deadline_ms = now + REQUEST_TIMEOUT_MS;
        } else {
            wait_push(gs, f);
        }
    }
    if (n > 0 && !p->closing) {
        uint8_t body[SZ_MSG_MAX_REQUEST_LEN];
        size_t len = 0;
        if (sz_msg_encode_request(&ids[0][0], n, body, sizeof body, &len) == 0)
            (void)peer_send(p, body, len);
    }
}

static void maybe_recompare(struct peer *p);

/* Says (rate-limited, node-wide) that a bundle from p was refused as dated ahead. */
static void
log_future(struct gossip *gs, const struct peer *p, const struct store_meta *m)
{
    char hex[2 * SZ_BUNDLE_ID_LEN + 1], pk[SZ_PK_TEXT_LEN + 1], created[48], now[48];

    if (!log_allow(&gs->future_log, LOG_WARN, 5, (int64_t)uv_now(gs->d->loop)))
        return;
    sz_bundle_id_hex(m->id, hex);
    sz_pk_to_text(m->publisher, pk);
    daemon_format_time(m->created, created, sizeof created);
    daemon_format_time(daemon_now(), now, sizeof now);
    log_msg(LOG_WARN,
            "bundle %s of publisher %s from peer %s is dated %s, more than %lld hours ahead of "
            "this machine's clock (%s): not stored. The publisher's clock, or this machine's, "
            "is wrong; the peer is not penalised",
            hex, pk, peer_name(p), created, (long long)(STORE_MAX_FUTURE_S / 3600), now);
}

/* Takes a verification's weight out of the budgets, and reads links held for them again. */
static void
verify_release(struct gjob *j)
{
    struct gossip *gs = j->gs;
    struct peer *p = j->p;

    if (p->g != NULL && p->g->n_verifying > 0)
        p->g->n_verifying--;
    if (p->g != NULL)
        p->g->verifying_bytes -=
            p->g->verifying_bytes < j->verify_cost ? p->g->verifying_bytes : j->verify_cost;
    {
        bool was_full = gs->verifying_all > VERIFY_ALL_BYTES / 2;
        gs->verifying_all -=
            gs->verifying_all < j->verify_cost ? gs->verifying_all : j->verify_cost;
        if (gs->verifying_all <= VERIFY_ALL_BYTES / 2) {
            /* Below half of both budgets, a link held for them is read again: this
             * one, and when the node-wide budget was what held them, the others. */
            struct peer *q;
            for (q = was_full ? peer_first(gs->d) : p; q != NULL; q = was_full ? q->next : NULL)
                if (q->g != NULL && (q->reading_held & PEER_HOLD_VERIFY) != 0 &&
                    q->g->verifying_bytes <= VERIFY_HOLD_BYTES / 2) {
                    peer_hold_reading(q, PEER_HOLD_VERIFY, false);
                    /* It could send nothing while held: its timeouts start again. */
                    q->g->last_chunk_ms = (int64_t)uv_now(gs->d->loop);
                }
        }
    }
}

static void
done_verify(struct gjob *j)
{
    struct gossip *gs = j->gs;
    struct peer *p = j->p;
    struct fetch *f;
    char hex[2 * SZ_BUNDLE_ID_LEN + 1];

    verify_release(j);
    if (j->verify_rc != 0 && j->resumed) {
        /*
         * The kept bytes are this node's own, and only the rest came from p:
         * either may be wrong, so p is not blamed (PROTOCOL.md 4.1.1). The
         * part is gone; the bundle is asked for again whole, p included.
         */
        size_t i;
        sz_bundle_id_hex(j->rx_id, hex);
        log_msg(LOG_WARN,
                "bundle %s, resumed from a kept part (from peer %s) with the rest from peer %s, "
                "failed its check (%s): one of the two sent bad bytes; asked for again whole "
                "(it is not resumed again)",
                hex, j->resumed_from, peer_name(p), sz_strerror(j->verify_rc));
        gs->no_resume[gs->no_resume_next] = prefix(j->rx_id);
        gs->no_resume_next = (gs->no_resume_next + 1) % NO_RESUME_SLOTS;
        if (p->g != NULL)
            for (i = 0; i < TAKEN_SLOTS; i++)
                if (p->g->taken[i] == prefix(j->rx_id))
                    p->g->taken[i] = 0;
        fetch_again(gs, p, j->rx_id);
        return;
    }
    if (j->verify_rc != 0) {
        char why[160];
        gs->d->n_refused++;
        /* Banned even when it hung up while the bundle was being checked. */
        snprintf(why, sizeof why, "sent an invalid bundle: %s", sz_strerror(j->verify_rc));
        peer_misbehaved(p, SZ_GOODBYE_INVALID_BUNDLE, why);
        return;
    }
    f = fetch_find(gs, j->item.meta.id);
    if (!j->carried) {
        /* Asked for, so carried then: the carry list changed (reload) since. Dropped. */
        log_msg(LOG_DEBUG, "peer %s: a bundle of a publisher no longer carried: dropped",
                peer_name(p));
        return;
    }
    if (f != NULL)
        fetch_remove(gs, f);
    recent_add(gs, j->item.meta.id);
    drive_waiting(gs);
    if (!p->closing)
        has_add(p, j->item.meta.id);
    p->bundles_in++;
    if (p->g != NULL)
        p->g->round_bundles++;
    switch (j->item.status) {
    case STORE_STORED:
        sz_bundle_id_hex(j->item.meta.id, hex);
        log_msg(LOG_DEBUG, "stored bundle %s from %s", hex, peer_name(p));
        if (gs->store_failed &&
            (int64_t)uv_now(gs->d->loop) - gs->store_failed_ms >= STORE_PAUSE_MS) {
            /* Stored after the pause (the disk grown or freed): status stops
             * warning. One stored within it (a range asked before) says less. */
            gs->store_failed = false;
            log_msg(LOG_INFO, "the store writes bundles from peers again");
        }
        if (j->item.equivocates) {
            char pk[SZ_PK_TEXT_LEN + 1];
            sz_pk_to_text(j->item.meta.publisher, pk);
            gs->equivocations++;
            /* Anyone can sign pairs with a key of their own: a few lines a minute. */
            if (log_allow(&gs->equiv_log, LOG_WARN, 10, (int64_t)uv_now(gs->d->loop)))
                log_msg(LOG_WARN,
                        "EQUIVOCATION: publisher %s signed two different bundles with sequence "
                        "%llu (one is %s): its key may be stolen (samizdat status lists them)",
                        pk, (unsigned long long)j->item.meta.sequence, hex);
            if (j->n_equiv > 0)
                gossip_equivocation(gs->d, &j->equiv[0].publisher[0], j->equiv[0].sequence,
                                    j->equiv[0].id_a, j->equiv[0].id_b);
        }
        gs->d->n_imported++;
        gossip_stored(gs->d, &j->item.meta, p);
        break;
    case STORE_EVICTED:
        /* The store's floor (store_evicted_seq()) or, above it, its gone sequences
         * (store_gone_seqs()) keep it from being asked again. */
        gs->d->n_refused++;
        break;
    case STORE_EXPIRED:
    case STORE_TOO_BIG: {
        /*
         * Not kept: never asked for again, nor anything older of that
         * publisher, but for what it holds: creation times are the signer's,
         * and a higher sequence dated far back (refused) says nothing of the
         * lower ones still to come, newer than it. The floor stops at the
         * lowest sequence held, as the store's does; the sequence itself is
         * skipped for an hour (a SIGHUP may change the limits), and an expired
         * one is then the store's gone sequence (store_gone_seqs()). Of a
         * publisher none of whose bundles is held the floor still rises: a
         * new relay catching up on years of history it does not keep must
         * not fetch it again at every comparison (256 skips would not hold
         * it), though a lower sequence dated later then waits for a restart.
         */
        uint64_t floor = j->item.meta.sequence + 1;
        if (j->lowest_held != 0 && j->lowest_held < floor)
            floor = j->lowest_held;
        gs->d->n_refused++;
        floor_raise(gs, j->item.meta.publisher, floor);
        skip_add(gs, j->item.meta.publisher, j->item.meta.sequence, daemon_now() + 3600, 0);
        break;
    }
    case STORE_EXTRA:
        /* Two of its publisher and sequence are held: the store remembers its id. */
        gs->d->n_refused++;
        break;
    case STORE_BAD_SEQ:
        /* The publisher's own doing; its valid sequences stay wanted. */
        gs->d->n_refused++;
        skip_add(gs, j->item.meta.publisher, j->item.meta.sequence, INT64_MAX, 0);
        break;
    case STORE_PENDING:
        /* The store failed to write it (j->err says why and what to do). */
        gs->store_failed = true;
        gs->store_failed_ms = (int64_t)uv_now(gs->d->loop);
        snprintf(gs->store_err, sizeof gs->store_err, "%s", j->err);
        /* Ranges not asked yet are not asked: a long catch-up would download
         * everything only to drop it (a later compare asks again). */
        for (struct peer *q = peer_first(gs->d); q != NULL; q = q->next)
            if (q->g != NULL)
                q->g->n_ranges_queued = 0;
        if (log_allow(&gs->store_log, LOG_ERROR, 2, gs->store_failed_ms))
            log_msg(LOG_ERROR,
                    "cannot store a bundle from %s: %s; no bundles are asked of peers for %d s",
                    peer_name(p), j->err, STORE_PAUSE_MS / 1000);
        break;
    case STORE_FUTURE:
        /*
         * Dated too far ahead of this clock. Not the peer's fault (it may only
         * relay it, and its publisher's clock may be wrong): no penalty. The
         * store remembers the id against announcements; the skip keeps range
         * comparisons from asking for it again.
         */
        gs->d->n_refused++;
        skip_add(gs, j->item.meta.publisher, j->item.meta.sequence,
                 j->item.meta.created - STORE_MAX_FUTURE_S, 0);
        log_future(gs, p, &j->item.meta);
        break;
    default:
        break;
    }
    maybe_recompare(p);
}

/*
 * With SZ_FEATURE_BATCH, small bundles travel many to a frame (BUNDLES),
 * which keeps the per-bundle cost of a catch-up at 4 bytes instead of 45.
 * Bundles sent this way get lens[i] = 0; the rest go as BUNDLE chunks.
 */
static int
send_batched(struct peer *p, struct gjob *j)
{
    const uint8_t *ptrs[SZ_MSG_MAX_BUNDLES];
    size_t lens[SZ_MSG_MAX_BUNDLES], idx[SZ_MSG_MAX_BUNDLES], n = 0, total = 3, i, k;
    uint8_t *body;
    size_t len = 0;

    if ((sz_link_features(p->link) & SZ_FEATURE_BATCH) == 0)
        return 0;
    body = malloc(SZ_MSG_MAX_LEN);
    if (body == NULL)
        return 0;
    for (i = 0; i <= j->n_read; i++) {
        bool fits = i < j->n_read && j->bytes[i] != NULL && j->lens[i] <= SZ_MSG_MAX_CHUNK_LEN &&
                    (j->offsets == NULL || j->offsets[i] == 0);
        if (fits && (n == SZ_MSG_MAX_BUNDLES || total + 4 + j->lens[i] > SZ_MSG_MAX_LEN)) {
            /* Full: send what is gathered, then go on. */
            i--;
            fits = false;
        }
        if (fits) {
            ptrs[n] = j->bytes[i];
            lens[n] = j->lens[i];
            idx[n++] = i;
            total += 4 + j->lens[i];
            continue;
        }
        if (n > 0) {
            if (sz_msg_encode_bundles(ptrs, lens, n, body, SZ_MSG_MAX_LEN, &len) != 0 ||
                peer_send(p, body, len) != 0) {
                free(body);
                return -1;
            }
            for (k = 0; k < n; k++) {
                sent_add(p, j->ids[idx[k]]);
                j->lens[idx[k]] = 0;
                p->bundles_out++;
                if (j->range)
                    p->g->serve_sent++;
            }
            n = 0;
            total = 3;
        }
    }
    free(body);
    return 0;
}

/* The range at the head of p's queue is answered: RANGE_DONE, and the next one. */
static void
serve_range_done(struct peer *p)
{
    struct gossip_peer *g = p->g;
    const struct range_req *rr = &g->serve_ranges[0];
    struct sz_msg m;

    if (g->n_serve_ranges == 0)
        return;
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_RANGE_DONE;
    memcpy(m.publisher, rr->publisher, SZ_PUBLIC_KEY_LEN);
    m.first = rr->first;
    m.last = rr->last;
    /*
     * The wire allows at most one a sequence: bundles that share one (an
     * equivocation) would exceed it, and the message could not be encoded.
     * The span is below SZ_MSG_MAX_RANGE_SPAN.
     */
    m.sent = g->serve_sent;
    if (m.sent > rr->last - rr->first + 1)
        m.sent = (uint32_t)(rr->last - rr->first + 1);
    (void)peer_send_msg(p, &m);
    free(g->serve_sub[0]);
    memmove(&g->serve_ranges[0], &g->serve_ranges[1],
            (g->n_serve_ranges - 1) * sizeof g->serve_ranges[0]);
    memmove(&g->serve_sub[0], &g->serve_sub[1], (g->n_serve_ranges - 1) * sizeof g->serve_sub[0]);
    memmove(&g->serve_n_sub[0], &g->serve_n_sub[1],
            (g->n_serve_ranges - 1) * sizeof g->serve_n_sub[0]);
    g->n_serve_ranges--;
    g->serve_sub[g->n_serve_ranges] = NULL;
    g->serve_n_sub[g->n_serve_ranges] = 0;
    g->serve_sent = 0;
    if (g->n_serve_ranges > 0)
        g->serve_next = g->serve_ranges[0].first;
}

static void
done_serve(struct gjob *j)
{
    struct peer *p = j->p;
    struct gossip_peer *g = p->g;
    size_t i;

    if (p->closing || g == NULL)
        return;
    g->serving = false;
    if (!j->range && !j->piece) {
        /*
         * The ids read (at most the send room) are answered now; the rest
         * stay queued for the next job. Nothing read at all (out of memory):
         * all are dropped, or the same job would run again and again.
         */
        size_t done = j->n_read > 0 ? j->n_read : j->n_ids;
        if (done > g->n_serve_ids)
            done = g->n_serve_ids;
        memmove(g->serve_ids, g->serve_ids + done,
                (g->n_serve_ids - done) * sizeof g->serve_ids[0]);
        memmove(g->serve_offsets, g->serve_offsets + done,
                (g->n_serve_ids - done) * sizeof g->serve_offsets[0]);
        g->n_serve_ids -= done;
    }
    if (send_batched(p, j) != 0)
        return;
    for (i = 0; i < j->n_read; i++) {
        uint32_t from = j->offsets != NULL && i < j->n_ids ? j->offsets[i] : 0;
        size_t end = j->cut != 0 && i + 1 == j->n_read ? j->cut : j->lens[i];
        if (j->bytes[i] != NULL && j->lens[i] == 0) /* Went out in a BUNDLES message. */
            continue;
        if (j->bytes[i] != NULL && from < j->lens[i]) {
            /* For a part or a piece, bytes[i] holds the bundle from `from` on. */
            if (send_bundle(p, j->bytes[i], j->lens[i], from, end) != 0)
                return;
            if (end < j->lens[i])
                continue; /* its next piece goes when the send queue has drained */
            sent_add(p, j->ids[i]);
            if (j->range || (j->piece && g->piece_range))
                g->serve_sent++;
        } else if (j->piece) {
            break; /* below */
        } else if (!j->range) {
            struct sz_msg m;
            memset(&m, 0, sizeof m);
            m.type = SZ_MSG_NOT_FOUND;
            memcpy(m.id, j->ids[i], SZ_BUNDLE_ID_LEN);
            (void)peer_send_msg(p, &m);
        }
    }
    if (j->piece && (j->n_read == 0 || j->bytes[0] == NULL)) {
        /*
         * The rest of a bundle partly sent left the store meanwhile (evicted),
         * or could not be read: the peer's bundle cannot be finished on this
         * link, and nothing else may go before it. Closing the link (no fault
         * of the peer) lets it keep what came and ask another peer for the rest.
         */
        peer_close(p, false, "the rest of a bundle partly sent to it could not be read");
        return;
    }
    if (j->cut != 0 && j->n_read > 0 && j->bytes[j->n_read - 1] != NULL) {
        /* Nothing else is served to p until the last piece is out. */
        memcpy(g->piece_id, j->ids[j->n_read - 1], SZ_BUNDLE_ID_LEN);
        g->piece_next = j->cut;
        if (!j->piece) {
            g->piece_range = j->range;
            g->piece_range_done = false;
        }
    } else if (j->piece) {
        g->piece_next = 0;
        if (g->piece_range && g->piece_range_done)
            serve_range_done(p);
    }
    if (j->range) {
        if (j->range_done && g->piece_next != 0)
            g->piece_range_done = true; /* RANGE_DONE after its last piece */
        else if (j->range_done)
            serve_range_done(p);
        else
            g->serve_next = j->range_next;
    }
    gossip_serve(p);
}

static void send_equivocation(struct peer *p, const struct equiv_pair *e);

static void send_summary_rest(struct peer *p);

static void
done_summary(struct gjob *j)
{
    struct peer *p = j->p;
    size_t off = 0;

    if (p->closing || p->g == NULL)
        return;
    /* The parts, each as u32 length then the message. */
    while (off + 4 <= j->msg_len && !p->closing) {
        size_t len = sz_load32(j->msg + off);
        if (len > j->msg_len - off - 4)
            break;
        if (peer_send(p, j->msg + off + 4, len) != 0)
            return;
        off += 4 + len;
    }
    /* What this node holds as evidence, so a reader sees it without asking. */
    for (size_t i = 0; i < j->n_equiv && !p->closing; i++)
        send_equivocation(p, &j->equiv[i]);
    if (p->closing || p->g == NULL)
        return;
    if (j->part_from == 0) {
        /* A fetch client whose parts are still on their way gets those first. */
        if (!p->g->summary_rest_queued && !p->g->summary_rest_waiting) {
            p->g->summary_more = j->summary_more;
            p->g->summary_next = 1;
            p->g->summary_after = j->end;
        }
        send_summary_rest(p);
    } else if (p->g->summary_rest_queued && p->g->summary_next == j->part_from) {
        /* The next part when the link has room for it; bundles once none is being built. */
        p->g->summary_more = j->summary_more;
        p->g->summary_next = j->part_from + 1;
        p->g->summary_after = j->end;
        p->g->summary_rest_queued = false;
        send_summary_rest(p);
        gossip_serve(p);
    }
}

/* Whether a peer asked for ranges sends them at a useful rate (so far). */
static bool
ranges_moving(const struct gossip_peer *o, int64_t now)
{
    int64_t last = o->ranges_ms > o->last_chunk_ms ? o->ranges_ms : o->last_chunk_ms;

    return !o->ranges_slow && now - last < RANGE_STALL_MS;
}

static int
cmp_range_first(const void *a, const void *b)
{
    const struct range_req *x = a, *y = b;

    return x->first < y->first ? -1 : x->first > y->first;
}

/* Takes range x out of the pieces (n of them, room for cap; may grow). */
static int
pieces_minus(struct range_req **piece, size_t *n, size_t *cap, const struct range_req *x)
{
    size_t i = 0;

    while (i < *n) {
        struct range_req *c = &(*piece)[i];
        if (memcmp(x->publisher, c->publisher, SZ_PUBLIC_KEY_LEN) != 0 || x->last < c->first ||
            x->first > c->last) {
            i++;
        } else if (x->first > c->first && x->last < c->last) {
            /* x splits c in two: the right half goes at the end. */
            if (*n == *cap) {
                struct range_req *v = realloc(*piece, 2 * *cap * sizeof *v);
                if (v == NULL)
                    return -1;
                *piece = v;
                *cap *= 2;
                c = &(*piece)[i];
            }
            (*piece)[*n] = *c;
            (*piece)[*n].first = x->last + 1;
            (*n)++;
            c->last = x->first - 1;
            i++;
        } else if (x->first > c->first) {
            c->last = x->first - 1;
            i++;
        } else if (x->last < c->last) {
            c->first = x->last + 1;
            i++;
        } else {
            (*piece)[i] = (*piece)[--*n]; /* all of c is asked elsewhere */
        }
    }
    return 0;
}

/*
 * Appends range r to p's queue less the sequences asked of other peers that
 * are sending: a node linked to several peers that hold the same bundles
 * takes each once. Ranges queued for another peer, not asked of it yet, that
 * lie wholly in r are taken over from it; the rest of its queued ranges and
 * those out to it are left to it, as is the sequence of a large bundle
 * coming in on any link. Sets *left when some of r was left to another peer
 * (or link), *full when p's queue is.
 */
/* A bundle taken and not yet stored or refused (gossip.verifying), for queue_range(). */
struct vseq {
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence;
};

static int
cmp_vseq(const void *a, const void *b)
{
    const struct vseq *x = a, *y = b;
    int c = memcmp(x->publisher, y->publisher, SZ_PUBLIC_KEY_LEN);
    return c != 0 ? c : (x->sequence > y->sequence) - (x->sequence < y->sequence);
}

/* gossip.verifying sorted, once per comparison (tens of thousands when small
 * bundles pour in: not scanned for each of up to 1024 ranges). NULL with *n 0
 * when there are none, or no memory (then they may be asked twice). */
static struct vseq *
verifying_sorted(const struct gossip *gs, size_t *n)
{
    const struct gjob *v;
    struct vseq *out;
    size_t k = 0;

    *n = 0;
    for (v = gs->verifying; v != NULL; v = v->vall_next)
        k++;
    if (k == 0 || (out = malloc(k * sizeof *out)) == NULL)
        return NULL;
    for (v = gs->verifying, k = 0; v != NULL; v = v->vall_next, k++) {
        memcpy(out[k].publisher, v->v_publisher, SZ_PUBLIC_KEY_LEN);
        out[k].sequence = v->v_sequence;
    }
    qsort(out, k, sizeof *out, cmp_vseq);
    *n = k;
    return out;
}

static void
queue_range(struct gossip *gs, struct peer *p, const struct range_req *r, const struct vseq *vs,
            size_t n_vs, bool *left, bool *full)
{
    struct gossip_peer *g = p->g;
    int64_t now = (int64_t)uv_now(gs->d->loop);
    struct range_req *piece = malloc(sizeof *piece);
    size_t n = 1, cap = 1, i;
    bool stop = false;
    struct peer *q;

    if (piece == NULL) {
        *full = true;
        return;
    }
    piece[0] = *r;
    /* Bundles taken and waiting for verification or being verified (vs, sorted):
     * if one fails, *left has the ranges compared again. */
    if (n_vs > 0) {
        size_t lo = 0, hi = n_vs;
        struct vseq key;
        memcpy(key.publisher, r->publisher, SZ_PUBLIC_KEY_LEN);
        key.sequence = r->first;
        while (lo < hi) { /* the first at or after (publisher, first) */
            size_t mid = lo + (hi - lo) / 2;
            if (cmp_vseq(&vs[mid], &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (;
             lo < n_vs && n > 0 && memcmp(vs[lo].publisher, r->publisher, SZ_PUBLIC_KEY_LEN) == 0 &&
             vs[lo].sequence <= r->last;
             lo++) {
            struct range_req x;
            memcpy(x.publisher, r->publisher, SZ_PUBLIC_KEY_LEN);
            x.first = x.last = vs[lo].sequence;
            *left = true;
            if (pieces_minus(&piece, &n, &cap, &x) != 0) {
                free(piece);
                *full = true;
                return;
            }
        }
    }
    /* Large bundles coming in now (on p too: a bundle it sends by id). */
    for (q = peer_first(gs->d); q != NULL && n > 0; q = q->next) {
        const struct gossip_peer *o = q->g;
        struct range_req x;
        if (o == NULL || q->closing || o->rx == NULL || !o->rx_known ||
            now - o->last_chunk_ms >= RANGE_STALL_MS ||
            memcmp(o->rx_publisher, r->publisher, SZ_PUBLIC_KEY_LEN) != 0 ||
            o->rx_sequence < r->first || o->rx_sequence > r->last)
            continue;
        memcpy(x.publisher, o->rx_publisher, SZ_PUBLIC_KEY_LEN);
        x.first = x.last = o->rx_sequence;
        *left = true;
        if (pieces_minus(&piece, &n, &cap, &x) != 0) {
            free(piece);
            *full = true;
            return;
        }
    }
    for (q = peer_first(gs->d); q != NULL && n > 0; q = q->next) {
        struct gossip_peer *o = q->g;
        size_t k;
        if (q == p || o == NULL || q->closing || o->n_ranges_out + o->n_ranges_queued == 0 ||
            !ranges_moving(o, now))
            continue;
        for (k = 0; k < o->n_ranges_out + o->n_ranges_queued && n > 0;) {
            bool queued = k >= o->n_ranges_out;
            struct range_req *x =
                queued ? &o->ranges_queued[k - o->n_ranges_out] : &o->ranges_out[k];
            if (memcmp(x->publisher, r->publisher, SZ_PUBLIC_KEY_LEN) != 0 || x->last < r->first ||
                x->first > r->last) {
                k++;
                continue;
            }
            if (queued && x->first >= r->first && x->last <= r->last) {
                /* Not asked of q yet: p takes it (the next idle peer may take it back). */
                size_t at = k - o->n_ranges_out;
                memmove(&o->ranges_queued[at], &o->ranges_queued[at + 1],
                        (o->n_ranges_queued - at - 1) * sizeof *x);
                o->n_ranges_queued--;
                continue;
            }
            *left = true;
            if (pieces_minus(&piece, &n, &cap, x) != 0) {
                free(piece);
                *full = true;
                return;
            }
            k++;
        }
    }
    /* In sequence order, in spans of at most RANGE_CHUNK_SEQS: what is still
     * queued when another peer is idle can be taken over in parts. */
    qsort(piece, n, sizeof *piece, cmp_range_first);
    for (i = 0; i < n && !stop; i++) {
        uint64_t first = piece[i].first;
        for (;;) {
            struct range_req *c;
            if (g->n_ranges_queued >= MAX_RANGES_QUEUED) {
                stop = true;
                break;
            }
            if ((g->n_ranges_queued & 15) == 0) {
                struct range_req *v =
                    realloc(g->ranges_queued, (g->n_ranges_queued + 16) * sizeof *v);
                if (v == NULL) {
                    stop = true;
                    break;
                }
                g->ranges_queued = v;
            }
            c = &g->ranges_queued[g->n_ranges_queued++];
            *c = piece[i];
            c->first = first;
            if (piece[i].last - first >= RANGE_CHUNK_SEQS)
                c->last = first + RANGE_CHUNK_SEQS - 1;
            g->ranging = true;
            if (c->last == piece[i].last)
                break;
            first = c->last + 1;
        }
    }
    if (stop)
        *full = true;
    free(piece);
}

static void
done_compare(struct gjob *j)
{
    struct peer *p = j->p;
    struct gossip_peer *g = p->g;
    bool left = false, full = j->truncated;
    size_t i, n_vs;
    struct vseq *vs;

    if (p->closing || g == NULL)
        return;
    vs = verifying_sorted(j->gs, &n_vs);
    for (i = 0; i < j->n_want; i++) {
        /* Below the floor: evicted or expired here; not fetched again. */
        uint64_t floor = floor_of(j->gs, j->want[i].publisher);
        if (j->want[i].last < floor)
            continue;
        if (j->want[i].first < floor)
            j->want[i].first = floor;
        queue_range(j->gs, p, &j->want[i], vs, n_vs, &left, &full);
    }
    free(vs);
    /*
     * Cut at the queue's limit: compared again once these ranges are in.
     * Left to other peers: compared again when their rounds end, or they
     * stall (the tick), so a peer that withholds holds nothing back for long.
     */
    g->left_to_others = left;
    g->others_done = false;
    g->cut = full;
    if (left)
        g->left_ms = (int64_t)uv_now(p->d->loop);
    /* Kept for those, and to take over ranges other peers have not been asked yet. */
    if (g->summary == NULL) {
        g->summary = j->peer_summary;
        g->summary_len = j->peer_summary_len;
        j->peer_summary = NULL;
    }
    send_ranges(p);
    maybe_recompare(p);
}

static void on_gjob_done(uv_work_t *w, int status);

/* Puts vq at the end of the ring of peers whose verifications wait. */
static void
vq_ring_append(struct gossip *gs, struct vqueue *vq)
{
    vq->next = NULL;
    if (gs->vq_tail != NULL)
        gs->vq_tail->next = vq;
    else
        gs->vq_head = vq;
    gs->vq_tail = vq;
}

/* Whether a verification weighing `cost` may go to the thread pool now. */
static bool
verify_may_start(const struct gossip *gs, size_t cost)
{
    return gs->verify_running < VERIFY_PARALLEL ||
           (gs->verify_running_cost <= VERIFY_POOL_BYTES &&
            cost <= VERIFY_POOL_BYTES - gs->verify_running_cost);
}

/*
 * Fills the verification slots (verify_may_start()) from the waiting queues,
 * a job from each peer in turn: one peer's hundred bundles that inflate to
 * 62 MB each no longer hold another's, nor the control socket, behind them.
 * The jobs taken were counted and hold their peer since they were submitted;
 * once stopping they are dropped (nothing is stored then).
 */
static void
verify_next(struct gossip *gs)
{
    struct daemon *d = gs->d;

    while (gs->vq_head != NULL && verify_may_start(gs, gs->vq_head->head->verify_cost)) {
        struct vqueue *vq = gs->vq_head;
        struct gjob *j = vq->head;

        gs->vq_head = vq->next;
        if (gs->vq_head == NULL)
            gs->vq_tail = NULL;
        vq->head = j->vnext;
        j->vnext = NULL;
        if (vq->head != NULL) {
            vq_ring_append(gs, vq);
        } else {
            if (vq->p->g != NULL && vq->p->g->vq == vq)
                vq->p->g->vq = NULL;
            free(vq);
        }
        if (!d->stopping && uv_queue_work(d->loop, &j->work, on_gjob_work, on_gjob_done) == 0) {
            gs->verify_running++;
            gs->verify_running_cost += j->verify_cost;
            continue;
        }
        if (!d->stopping)
            verify_release(j);
        d->n_jobs--;
        peer_release(j->p);
        gjob_free(j);
    }
}

static void
on_gjob_done(uv_work_t *w, int status)
{
    struct gjob *j = w->data;
    struct daemon *d = j->gs->d;

    d->n_jobs--;
    if (j->kind == JOB_VERIFY && j->gs->verify_running > 0) {
        j->gs->verify_running--;
        j->gs->verify_running_cost -= j->gs->verify_running_cost < j->verify_cost
                                          ? j->gs->verify_running_cost
                                          : j->verify_cost;
    }
    if (j->kind == JOB_COMPARE && j->p->g != NULL)
        j->p->g->comparing = false;
    if (j->kind == JOB_SERVE || j->kind == JOB_SUMMARY)
        j->gs->serve_reserved -= j->reserve; /* what it read is in the send queue from now */
    if (status == 0 && !d->stopping) {
        switch (j->kind) {
        case JOB_WANTED:
            done_wanted(j);
            break;
        case JOB_VERIFY:
            done_verify(j);
            break;
        case JOB_SERVE:
            done_serve(j);
            break;
        case JOB_SUMMARY:
            done_summary(j);
            break;
        case JOB_COMPARE:
            done_compare(j);
            break;
        }
    } else if (j->kind == JOB_SERVE && j->p->g != NULL) {
        j->p->g->serving = false;
    }
    peer_release(j->p);
    if ((j->kind == JOB_SERVE || j->reserve > 0) && !d->stopping)
        gossip_send_freed(d);
    if (j->kind == JOB_VERIFY)
        verify_next(j->gs);
    gjob_free(j);
    daemon_job_done(d);
}

static struct gjob *
gjob_new(struct peer *p, enum job_kind kind)
{
    struct gjob *j = calloc(1, sizeof *j);

    if (j == NULL)
        return NULL;
    j->work.data = j;
    j->kind = kind;
    j->gs = p->d->gossip;
    j->p = p;
    return j;
}

static int
gjob_queue(struct gjob *j)
{
    struct daemon *d = j->gs->d;
    int rc = uv_queue_work(d->loop, &j->work, on_gjob_work, on_gjob_done);

    if (rc != 0) {
        gjob_free(j);
        return rc;
    }
    d->n_jobs++;
    peer_hold(j->p);
    return 0;
}

/*
 * Queues a verification, or keeps it in its peer's queue when the pool holds
 * enough (verify_may_start(); counted and holding the peer as if queued:
 * verify_next()).
 * Frees the job when it fails, as gjob_queue() does.
 */
static int
verify_submit(struct gjob *j)
{
    struct gossip *gs = j->gs;
    struct gossip_peer *g = j->p->g;
    struct vqueue *vq;
    int rc;

    if (gs->vq_head == NULL && verify_may_start(gs, j->verify_cost)) {
        rc = gjob_queue(j);
        if (rc == 0) {
            gs->verify_running++;
            gs->verify_running_cost += j->verify_cost;
        }
        return rc;
    }
    vq = g->vq;
    if (vq == NULL) {
        vq = calloc(1, sizeof *vq);
        if (vq == NULL) {
            gjob_free(j);
            return UV_ENOMEM;
        }
        vq->p = j->p;
        g->vq = vq;
        vq_ring_append(gs, vq);
    }
    if (vq->tail != NULL)
        vq->tail->vnext = j;
    else
        vq->head = j;
    vq->tail = j;
    gs->d->n_jobs++;
    peer_hold(j->p);
    return 0;
}

/* ---- serving ---- */

static void
serve_unblock(struct gossip *gs, struct gossip_peer *g)
{
    if (g->serve_blocked) {
        g->serve_blocked = false;
        gs->n_serve_blocked--;
    }
}

/*
 * True when `reserve` more bytes would pass the node-wide serve budget, `used`
 * being taken (an idle node always serves): g then waits its turn
 * (gossip_send_freed()), the longest waiting first.
 */
static bool
serve_over_budget(struct gossip *gs, struct gossip_peer *g, size_t used, size_t reserve)
{
    if (used == 0 || (used <= SERVE_BUDGET_BYTES && reserve <= SERVE_BUDGET_BYTES - used))
        return false;
    if (!g->serve_blocked) {
        g->serve_blocked = true;
        g->serve_blocked_seq = ++gs->serve_block_seq;
        gs->n_serve_blocked++;
    }
    return true;
}

static void
gossip_serve(struct peer *p)
{
    struct gossip_peer *g = p->g;
    struct gossip *gs = p->d->gossip;
    /*
     * A job reads up to the link's send room (at most 4 MiB), a large bundle
     * in pieces: a bundle or piece that crosses the room ends at a whole chunk.
     */
    size_t room = peer_send_room(p), reserve = room + SZ_MSG_MAX_CHUNK_LEN,
           used = peer_queued_total(p->d) + gs->serve_reserved, k;
    struct gjob *j;

    if (g == NULL || p->closing || g->serving || room < SERVE_BATCH_BYTES)
        return;
    if (g->summary_rest_waiting) {
        serve_unblock(gs, g);
        send_summary_rest(p);
        if (g->serve_blocked || p->closing)
            return;
        room = peer_send_room(p);
        used = peer_queued_total(p->d) + gs->serve_reserved;
        reserve = room + SZ_MSG_MAX_CHUNK_LEN;
    }
    /* A SUMMARY part being built is not in the queue yet: bundles wait for it
     * (done_summary() serves on), or the two would pass the link's bound. */
    if (g->summary_rest_queued)
        return;
    if (g->piece_next == 0 && g->n_serve_ids == 0 && g->n_serve_ranges == 0) {
        serve_unblock(gs, g);
        return;
    }
    /* Beyond the budget the peer waits (nothing is dropped); an idle node always serves. */
    if (serve_over_budget(gs, g, used, reserve))
        return;
    j = gjob_new(p, JOB_SERVE);
    if (j == NULL)
        return;
    j->room = room;
    if (g->piece_next != 0) {
        /* The next piece of a bundle partly sent, before anything else. */
        j->piece = true;
        j->ids = malloc(sizeof *j->ids);
        j->offsets = malloc(sizeof *j->offsets);
        if (j->ids == NULL || j->offsets == NULL) {
            gjob_free(j);
            return;
        }
        memcpy(j->ids[0], g->piece_id, SZ_BUNDLE_ID_LEN);
        j->offsets[0] = g->piece_next;
        j->n_ids = 1;
    } else if (g->n_serve_ids > 0) {
        j->ids = malloc(g->n_serve_ids * sizeof *j->ids);
        if (j->ids == NULL) {
            gjob_free(j);
            return;
        }
        /* They leave the queue when done_serve() has answered them. */
        memcpy(j->ids, g->serve_ids, g->n_serve_ids * sizeof *j->ids);
        j->n_ids = g->n_serve_ids;
        for (k = 0; k < g->n_serve_ids && g->serve_offsets[k] == 0; k++)
            ;
        if (k < g->n_serve_ids) {
            j->offsets = malloc(g->n_serve_ids * sizeof *j->offsets);
            if (j->offsets == NULL) {
                gjob_free(j);
                return;
            }
            memcpy(j->offsets, g->serve_offsets, g->n_serve_ids * sizeof *j->offsets);
        }
    } else {
        j->range = true;
        j->rr = g->serve_ranges[0];
        j->range_next = g->serve_next;
        if (g->serve_n_sub[0] > 0) {
            /* The job's own copy: the link may close while it runs. */
            j->sub = malloc(g->serve_n_sub[0] * sizeof *j->sub);
            if (j->sub == NULL) {
                gjob_free(j);
                return;
            }
            memcpy(j->sub, g->serve_sub[0], g->serve_n_sub[0] * sizeof *j->sub);
            j->n_sub = g->serve_n_sub[0];
        }
    }
    j->reserve = reserve;
    if (gjob_queue(j) == 0) {
        g->serving = true;
        gs->serve_reserved += reserve;
        serve_unblock(gs, g);
    }
}

bool
gossip_serve_waiting(const struct daemon *d)
{
    return d->gossip != NULL && d->gossip->n_serve_blocked > 0;
}

void
gossip_send_freed(struct daemon *d)
{
    struct gossip *gs = d->gossip;

    /* Half the budget free before anyone goes on: not a job per finished write. */
    while (gs != NULL && !d->stopping && gs->n_serve_blocked > 0 &&
           peer_queued_total(d) + gs->serve_reserved < SERVE_BUDGET_BYTES / 2) {
        struct peer *p, *first = NULL;
        for (p = peer_first(d); p != NULL; p = p->next)
            if (p->g != NULL && p->g->serve_blocked &&
                (first == NULL || p->g->serve_blocked_seq < first->g->serve_blocked_seq))
                first = p;
        if (first == NULL) {
            gs->n_serve_blocked = 0; /* cannot happen: the count follows the flags */
            return;
        }
        serve_unblock(gs, first->g);
        gossip_serve(first);
        if (first->g != NULL && first->g->serve_blocked)
            return; /* the budget is taken again */
    }
}

/*
 * The kept part of range r's publisher with the lowest sequence in r that p
 * can be asked for the rest of now (and is not bringing whole in another
 * range); NULL when there is none.
 */
static struct kept_part *
part_in_range(struct gossip *gs, const struct peer *p, const struct range_req *r)
{
    struct kept_part *best = NULL;
    int64_t now = (int64_t)uv_now(gs->d->loop);
    size_t i;

    for (i = 0; i < gs->n_parts; i++) {
        struct kept_part *k = &gs->parts[i];
        if (memcmp(k->publisher, r->publisher, SZ_PUBLIC_KEY_LEN) == 0 && k->sequence >= r->first &&
            k->sequence <= r->last && (best == NULL || k->sequence < best->sequence) &&
            part_askable(p, k, now) && !range_out_holds(p->g, k->publisher, k->sequence))
            best = k;
    }
    return best;
}

/*
 * Kept part k's sequence is in a range p holds: the bundle is fetched by id
 * from p (a REQUEST_PART for the rest, or a REQUEST while another part is
 * out to p) rather than whole in the range. Returns false when it cannot be
 * (the fetch table is full): the range then keeps it.
 */
static bool
part_fetch_from(struct gossip *gs, struct peer *p, const struct kept_part *k)
{
    uint8_t id[SZ_BUNDLE_ID_LEN];
    struct fetch *f = fetch_find(gs, k->id);

    memcpy(id, k->id, SZ_BUNDLE_ID_LEN);
    if (f == NULL) {
        if (!fetch_room(gs, p) || (f = calloc(1, sizeof *f)) == NULL)
            return false;
        memcpy(f->id, k->id, SZ_BUNDLE_ID_LEN);
        f->size = k->total;
        fetch_insert(gs, f);
    }
    if (!fetch_has_candidate(f, p)) {
        if (f->n_cands == MAX_CANDIDATES)
            return f->from != NULL || f->waiting; /* others will bring it */
        f->cands[f->n_cands++] = p;
    }
    if (f->from == NULL)
        fetch_next(gs, f);
    /* Dropped (p muted, say): the range keeps the sequence. */
    f = fetch_find(gs, id);
    return f != NULL && (f->from != NULL || f->waiting);
}

/*
 * How many ranges at the head of p's queue go in one REQUEST_SPARSE (1: a
 * REQUEST_RANGE): those of one publisher, in order, within one span, of at
 * most RANGE_CHUNK_SEQS sequences in all, none holding a part kept here.
 */
static size_t
sparse_run(struct gossip *gs, const struct peer *p)
{
    const struct gossip_peer *g = p->g;
    const struct range_req *h = &g->ranges_queued[0];
    uint64_t seqs = h->last - h->first + 1;
    size_t n = 1;

    if ((sz_link_features(p->link) & SZ_FEATURE_SPARSE) == 0)
        return 1;
    while (n < g->n_ranges_queued && n < RANGE_CHUNK_SEQS) {
        const struct range_req *r = &g->ranges_queued[n];
        if (memcmp(r->publisher, h->publisher, SZ_PUBLIC_KEY_LEN) != 0 ||
            r->first <= g->ranges_queued[n - 1].last ||
            r->last - h->first >= SZ_MSG_MAX_RANGE_SPAN ||
            r->last - r->first + 1 > RANGE_CHUNK_SEQS - seqs || part_in_range(gs, p, r) != NULL)
            break;
        seqs += r->last - r->first + 1;
        n++;
    }
    return n;
}

/* A range (or a sparse request's span) was asked of p: out until its RANGE_DONE. */
static void
range_out_add(struct peer *p, const uint8_t *publisher, uint64_t first, uint64_t last)
{
    struct gossip_peer *g = p->g;
    struct range_req *out = &g->ranges_out[g->n_ranges_out];

    memcpy(out->publisher, publisher, SZ_PUBLIC_KEY_LEN);
    out->first = first;
    out->last = last;
    out->got = out->last_seq = out->in_row = 0;
    if (g->n_ranges_out++ == 0)
        g->range_mark_ms = (int64_t)uv_now(p->d->loop);
    g->ranges_ms = (int64_t)uv_now(p->d->loop);
}

/* Sends the first n queued ranges of p as one REQUEST_SPARSE; 0, or -1 when the link failed. */
static int
send_sparse(struct peer *p, size_t n)
{
    struct gossip_peer *g = p->g;
    struct sz_msg_range v[RANGE_CHUNK_SEQS];
    uint8_t body[1 + SZ_PUBLIC_KEY_LEN + 2 + RANGE_CHUNK_SEQS * SZ_MSG_PACKED_RANGE_MAX_LEN];
    size_t i, len = 0;

    for (i = 0; i < n; i++) {
        v[i].first = g->ranges_queued[i].first;
        v[i].last = g->ranges_queued[i].last;
    }
    if (sz_msg_encode_request_sparse(g->ranges_queued[0].publisher, v, n, body, sizeof body,
                                     &len) != 0 ||
        peer_send(p, body, len) != 0)
        return -1;
    /* Asked of it: the whole span, as its RANGE_DONE will name it. */
    range_out_add(p, g->ranges_queued[0].publisher, v[0].first, v[n - 1].last);
    memmove(&g->ranges_queued[0], &g->ranges_queued[n],
            (g->n_ranges_queued - n) * sizeof g->ranges_queued[0]);
    g->n_ranges_queued -= n;
    return 0;
}

/* Asks the peer for queued ranges, a few at a time. */
static void
send_ranges(struct peer *p)
{
    struct gossip_peer *g = p->g;
    struct gossip *gs = p->d->gossip;

    while (g->n_ranges_out < g->ranges_window && g->n_ranges_queued > 0 && !p->closing) {
        struct sz_msg m;
        struct range_req *head = &g->ranges_queued[0];
        struct kept_part *k = part_in_range(gs, p, head);
        size_t n = k == NULL ? sparse_run(gs, p) : 1;
        if (n > 1) {
            if (send_sparse(p, n) != 0)
                return;
            continue;
        }
        memset(&m, 0, sizeof m);
        m.type = SZ_MSG_REQUEST_RANGE;
        memcpy(m.publisher, head->publisher, SZ_PUBLIC_KEY_LEN);
        m.first = head->first;
        m.last = head->last;
        if (k != NULL && part_fetch_from(gs, p, k)) {
            /* The range up to the part's sequence now, the rest stays queued. */
            uint64_t seq = k->sequence;
            if (seq == head->last) {
                memmove(&g->ranges_queued[0], &g->ranges_queued[1],
                        (g->n_ranges_queued - 1) * sizeof g->ranges_queued[0]);
                g->n_ranges_queued--;
            } else {
                head->first = seq + 1;
            }
            if (seq == m.first)
                continue;
            m.last = seq - 1;
        } else {
            memmove(&g->ranges_queued[0], &g->ranges_queued[1],
                    (g->n_ranges_queued - 1) * sizeof g->ranges_queued[0]);
            g->n_ranges_queued--;
        }
        if (peer_send_msg(p, &m) != 0)
            return;
        range_out_add(p, m.publisher, m.first, m.last);
    }
}

/* Whether p was asked for this bundle by its id (a fetch, or a REQUEST). */
static bool
asked_by_id(const struct peer *p, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    const struct fetch *f = fetch_find(p->d->gossip, id);

    if (f != NULL && f->from == p)
        return true;
    for (size_t i = 0; i < ASKED_SLOTS; i++)
        if (p->g->asked[i] != 0 && p->g->asked[i] == prefix(id))
            return true;
    return false;
}

/* The range asked of p that holds the bundle's sequence, or NULL. */
static struct range_req *
range_of(const struct peer *p, const struct sz_bundle_header *h)
{
    struct gossip_peer *g = p->g;

    for (size_t i = 0; i < g->n_ranges_out; i++)
        if (memcmp(g->ranges_out[i].publisher, h->publisher, SZ_PUBLIC_KEY_LEN) == 0 &&
            h->sequence >= g->ranges_out[i].first && h->sequence <= g->ranges_out[i].last)
            return &g->ranges_out[i];
    return NULL;
}

/* True when p was asked for this bundle: by id, or by a range holding its sequence. */
static bool
solicited(const struct peer *p, const struct sz_bundle_header *h,
          const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    return asked_by_id(p, id) || range_of(p, h) != NULL;
}

/*
 * Two bundles of one publisher and sequence are evidence enough of a stolen
 * key, and the store keeps no more (STORE_EXTRA). A bundle that came only
 * because of a range is beyond that when it is the third in a row with one
 * sequence (a range is served in order of sequence), or when the range was
 * already answered with two per sequence it holds: dropped unverified (not
 * the peer's fault: an older node's store may hold more). Else anyone could
 * have thousands of bundles signed for one sequence verified and written,
 * each in a transaction of its own. Counts the bundle in its range otherwise.
 */
static bool
range_overflow(struct peer *p, const struct sz_bundle_header *h, const uint8_t id[SZ_BUNDLE_ID_LEN])
{
    struct range_req *r;
    uint64_t span;

    if (asked_by_id(p, id) || (r = range_of(p, h)) == NULL)
        return false;
    span = r->last - r->first;
    if (r->got > 0 && h->sequence == r->last_seq && r->in_row >= 2)
        return true;
    if (span < UINT64_MAX / 2 - 1 && r->got >= 2 * (span + 1))
        return true;
    r->in_row = r->got > 0 && h->sequence == r->last_seq ? r->in_row + 1 : 1;
    r->last_seq = h->sequence;
    r->got++;
    return false;
}

bool
gossip_store_error(const struct daemon *d, int64_t *age_ms, char *reason, size_t cap)
{
    const struct gossip *gs = d->gossip;

    if (gs == NULL || !gs->store_failed)
        return false;
    *age_ms = (int64_t)uv_now(d->loop) - gs->store_failed_ms;
    if (cap > 0)
        snprintf(reason, cap, "%s", gs->store_err);
    return true;
}

/* The store failed to write lately: asking peers for more would download what
 * cannot be kept. */
static bool
store_paused(const struct gossip *gs, int64_t now)
{
    return gs->store_failed && now - gs->store_failed_ms < STORE_PAUSE_MS;
}

/*
 * Queues the comparison of a peer's SUMMARY (summary is taken over) with what
 * this node holds, above the floors as they are now. One at a time per peer.
 * Skipped while the store cannot write (store_paused()): the peer's next
 * SUMMARY is compared.
 */
static void
queue_compare(struct peer *p, uint8_t *summary, size_t len)
{
    struct gjob *j =
        store_paused(p->d->gossip, (int64_t)uv_now(p->d->loop)) ? NULL : gjob_new(p, JOB_COMPARE);

    if (j == NULL) {
        free(summary);
        return;
    }
    j->peer_summary = summary;
    j->peer_summary_len = len;
    if (j->gs->n_floors > 0) {
        j->floors = malloc(j->gs->n_floors * sizeof *j->floors);
        if (j->floors == NULL) {
            gjob_free(j);
            return;
        }
        memcpy(j->floors, j->gs->floors, j->gs->n_floors * sizeof *j->floors);
        j->n_floors = j->gs->n_floors;
    }
    if (j->gs->n_skips > 0) {
        /* Only the skips still in force: a bundle once dated ahead is wanted when due,
         * one too large once max_bundle_bytes is raised to hold it. */
        int64_t now_s = daemon_now();
        j->skips = malloc(j->gs->n_skips * sizeof *j->skips);
        if (j->skips == NULL) {
            gjob_free(j);
            return;
        }
        for (size_t i = 0; i < j->gs->n_skips; i++)
            if (j->gs->skips[i].need_cap != 0 ? j->gs->skips[i].need_cap > p->d->content_cap
                                              : j->gs->skips[i].until_s > now_s)
                j->skips[j->n_skips++] = j->gs->skips[i];
    }
    p->g->round_bundles = 0;
    if (gjob_queue(j) == 0)
        p->g->comparing = true;
}

/* Whether another peer that is sending has ranges queued, not asked yet. */
static bool
others_queued(const struct peer *p)
{
    int64_t now = (int64_t)uv_now(p->d->loop);
    const struct peer *q;

    for (q = peer_first(p->d); q != NULL; q = q->next)
        if (q != p && q->g != NULL && !q->closing && q->g->n_ranges_queued > 0 &&
            ranges_moving(q->g, now))
            return true;
    return false;
}

/*
 * Peer `done` ended its round of ranges (or its link closed): the peers that
 * left sequences to it compare their summaries again, to ask for what did
 * not come.
 */
static void
wake_left(struct gossip *gs, const struct peer *done)
{
    struct peer *q;

    for (q = peer_first(gs->d); q != NULL; q = q->next) {
        if (q == done || q->g == NULL || q->closing || !q->g->left_to_others)
            continue;
        q->g->others_done = true;
        maybe_recompare(q);
    }
}

/*
 * When this peer's round of ranges has ended (everything asked of it arrived
 * and was stored, or was not sent): a comparison cut short at the queue's
 * limit resumes, so nothing is asked twice, but only when that round brought
 * a bundle; one that left sequences to other peers resumes once one of their
 * rounds ended too (or the tick finds them stalled).
 */
static void
maybe_recompare(struct peer *p)
{
    struct gossip_peer *g = p->g;
    bool ranged;

    if (g == NULL || p->closing || g->comparing || g->n_ranges_out > 0 || g->n_ranges_queued > 0 ||
        g->n_verifying > 0)
        return;
    /* A round of ranges ends now (not a bundle announced while it is idle). */
    ranged = g->ranging;
    if (ranged) {
        g->ranging = false;
        wake_left(p->d->gossip, p);
        if (p->closing || p->g != g)
            return;
    }
    if (g->summary == NULL)
        return;
    /*
     * Compared again: when sequences left to others may not have come; when
     * a round of ranges ends that brought bundles and was cut short, or
     * while other peers still have ranges waiting to be asked (this idle
     * peer takes some over). A
     * round that brought nothing (the peer answered RANGE_DONE alone: it
     * evicted them, or withholds) is not followed by another, which would
     * ask for the same ranges without end: its next SUMMARY starts afresh.
     */
    if (!(g->left_to_others && g->others_done) &&
        !(ranged && g->round_bundles > 0 && (g->cut || others_queued(p)))) {
        if (!g->left_to_others) {
            free(g->summary);
            g->summary = NULL;
        }
        return;
    }
    queue_compare(p, g->summary, g->summary_len);
    g->summary = NULL;
}

/* ---- messages ---- */

static bool
rate_ok(struct peer *p, uint32_t *counter, uint32_t add, uint32_t max, int64_t now)
{
    struct gossip_peer *g = p->g;

    if (now - g->window_ms > RATE_WINDOW_MS) {
        g->window_ms = now;
        g->n_announced = 0;
        g->n_requests = 0;
    }
    if (*counter + add > max)
        return false;
    *counter += add;
    return true;
}

static int
on_announce(struct peer *p, const struct sz_msg *m, int64_t now)
{
    struct gossip *gs = p->d->gossip;
    struct gjob *j;
    size_t i, n = 0;

    if (!rate_ok(p, &p->g->n_announced, (uint32_t)m->n_entries, MAX_ANNOUNCED_PER_WINDOW, now)) {
        peer_count_misbehaviour(p);
        if (log_allow(&p->noisy, LOG_WARN, 5, now))
            log_msg(LOG_WARN, "peer %s: too many announcements; ignoring them", peer_name(p));
        return 0;
    }
    if (p->g->muted_until_ms > now || store_paused(gs, now)) {
        for (i = 0; i < m->n_entries; i++) {
            struct sz_msg_announce a;
            sz_msg_announce_get(m, i, &a);
            has_add(p, a.id);
        }
        return 0;
    }
    j = gjob_new(p, JOB_WANTED);
    if (j == NULL)
        return 0;
    j->ann = calloc(m->n_entries, sizeof *j->ann);
    j->wanted = calloc(m->n_entries, sizeof *j->wanted);
    if (j->ann == NULL || j->wanted == NULL) {
        gjob_free(j);
        return 0;
    }
    for (i = 0; i < m->n_entries; i++) {
        struct sz_msg_announce a;
        struct fetch *f;
        sz_msg_announce_get(m, i, &a);
        has_add(p, a.id);
        /* size is the whole bundle's; the cap is on its content, which a
         * bundle of incompressible articles exceeds by its header and zstd's
         * framing: the bound take_bundle() reads up to. */
        if (!daemon_carries(p->d, a.publisher) ||
            a.size > p->d->cfg->max_bundle_bytes + SZ_BUNDLE_PREFIX_LEN + 65536 ||
            a.sequence < floor_of(gs, a.publisher))
            continue;
        f = fetch_find(gs, a.id);
        if (f != NULL) {
            /* Already fetching from another peer: this one is a fallback. */
            if (f->n_cands < MAX_CANDIDATES && !fetch_has_candidate(f, p))
                f->cands[f->n_cands++] = p;
            if (f->from == NULL)
                fetch_next(gs, f);
            continue;
        }
        j->ann[n++] = a;
    }
    j->n_ann = n;
    if (n == 0 || gjob_queue(j) != 0) {
        if (n == 0)
            gjob_free(j);
    }
    return 0;
}

static int
on_request(struct peer *p, const struct sz_msg *m, int64_t now)
{
    struct gossip_peer *g = p->g;
    size_t i;

    if (!rate_ok(p, &g->n_requests, (uint32_t)m->n_entries, MAX_REQUESTS_PER_WINDOW, now)) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "asked for too many bundles at once");
        return -1;
    }
    /*
     * An honest peer asks again what a slow link has not delivered yet: ids
     * already queued are not queued twice, and beyond the queue's room the
     * request is dropped (the peer asks again or asks another peer).
     */
    for (i = 0; i < m->n_entries && g->n_serve_ids < MAX_SERVE_IDS; i++) {
        const uint8_t *id = sz_msg_request_id(m, i);
        size_t k = 0;
        while (k < g->n_serve_ids && memcmp(g->serve_ids[k], id, SZ_BUNDLE_ID_LEN) != 0)
            k++;
        if (k == g->n_serve_ids) {
            g->serve_offsets[g->n_serve_ids] = 0;
            memcpy(g->serve_ids[g->n_serve_ids++], id, SZ_BUNDLE_ID_LEN);
        }
    }
    gossip_serve(p);
    return 0;
}

/*
 * REQUEST_PART (PROTOCOL.md 4.1.1): the rest of a bundle from an offset, for a
 * peer that lost a link partway through it. Served with the ids: BUNDLE
 * messages from the offset on, or NOT_FOUND.
 */
static int
on_request_part(struct peer *p, const struct sz_msg *m, int64_t now)
{
    struct gossip_peer *g = p->g;
    size_t k = 0;

    if ((sz_link_features(p->link) & SZ_FEATURE_PART) == 0) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "REQUEST_PART without the part feature");
        return -1;
    }
    if (!rate_ok(p, &g->n_requests, 1, MAX_REQUESTS_PER_WINDOW, now)) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "asked for too many bundles at once");
        return -1;
    }
    if (peer_has(p, m->id)) {
        /*
         * Sent to it whole on this link, and it had not asked for a part of it
         * here before: its request crossed the bundle (it kept part of it from
         * a peer lost meanwhile). It has the bundle now; NOT_FOUND ends its
         * request. A part of a bundle it sent or announced itself, or a second
         * part after one was sent, is nonsense.
         */
        if (ring_has(g->sent, SENT_SLOTS, m->id) &&
            !ring_has(g->part_asked, PART_ASKED_SLOTS, m->id)) {
            struct sz_msg r;
            memset(&r, 0, sizeof r);
            r.type = SZ_MSG_NOT_FOUND;
            memcpy(r.id, m->id, SZ_BUNDLE_ID_LEN);
            (void)peer_send_msg(p, &r);
            return 0;
        }
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "asked for part of a bundle it already has");
        return -1;
    }
    fixed_ring_add(g->part_asked, &g->part_asked_next, PART_ASKED_SLOTS, m->id);
    while (k < g->n_serve_ids && memcmp(g->serve_ids[k], m->id, SZ_BUNDLE_ID_LEN) != 0)
        k++;
    if (k == g->n_serve_ids && g->n_serve_ids < MAX_SERVE_IDS) {
        g->serve_offsets[g->n_serve_ids] = m->offset;
        memcpy(g->serve_ids[g->n_serve_ids++], m->id, SZ_BUNDLE_ID_LEN);
    }
    gossip_serve(p);
    return 0;
}

/*
 * A whole bundle from p (BUNDLE chunks put together, or one of BUNDLES): it
 * must be one asked of p, by id or by range (the id is in the header alone),
 * then it is verified and stored on the thread pool. Takes `bytes`.
 * resumed_from: it continued a part this node kept, from that peer (NULL: it
 * did not); then a bundle that fails its check is not held against p.
 * Returns 0, or -1 after p was banned for it.
 */
static void too_big(struct peer *p, const struct sz_bundle_header *h,
                    const uint8_t id[SZ_BUNDLE_ID_LEN], uint64_t len);

static int
take_bundle(struct peer *p, uint8_t *bytes, size_t len, const char *resumed_from)
{
    struct sz_bundle_header h;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    struct gjob *j;

    int rc = len > p->d->cfg->max_bundle_bytes + SZ_BUNDLE_PREFIX_LEN + 65536
                 ? -SZ_ETOOBIG
                 : sz_bundle_parse(bytes, len, p->d->content_cap, &h, id);
    if (rc == -SZ_ETOOBIG &&
        sz_bundle_verify_prefix(bytes, len, len, SZ_BUNDLE_MAX_CONTENT_LEN, &h, id) == 0 &&
        solicited(p, &h, id)) {
        /*
         * Asked for, and signed by its publisher (a header made up by the
         * peer would have it skip a sequence), but it declares more than
         * this node keeps (its max_bundle_bytes is lower than the
         * sender's): not the peer's fault. Not asked of anyone again while
         * max_bundle_bytes is lower.
         */
        free(bytes);
        too_big(p, &h, id, len);
        if (log_allow(&p->noisy, LOG_INFO, 5, (int64_t)uv_now(p->d->loop)))
            log_msg(LOG_INFO,
                    "peer %s: sent a bundle larger than max_bundle_bytes once unpacked: dropped",
                    peer_name(p));
        return 0;
    }
    if (rc != 0) {
        free(bytes);
        peer_misbehaved(p, SZ_GOODBYE_INVALID_BUNDLE, "sent a bundle that fails verification");
        return -1;
    }
    if (!solicited(p, &h, id)) {
        free(bytes);
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "sent a bundle that was not asked for");
        return -1;
    }
    if (range_overflow(p, &h, id)) {
        free(bytes);
        p->d->n_refused++;
        if (log_allow(&p->noisy, LOG_INFO, 5, (int64_t)uv_now(p->d->loop)))
            log_msg(LOG_INFO,
                    "peer %s: answered a range with more than two bundles for one sequence: the "
                    "rest dropped unchecked (two are evidence enough of a stolen key)",
                    peer_name(p));
        return 0;
    }
    /* The same bundle again from this peer (one of the last TAKEN_SLOTS): dropped unverified. */
    {
        uint64_t x = prefix(id);
        size_t i;
        for (i = 0; i < TAKEN_SLOTS; i++) {
            if (p->g->taken[i] == x) {
                free(bytes);
                return 0;
            }
        }
        p->g->taken[p->g->taken_next] = x;
        p->g->taken_next = (p->g->taken_next + 1) % TAKEN_SLOTS;
    }
    j = gjob_new(p, JOB_VERIFY);
    if (j == NULL) {
        free(bytes);
        return 0;
    }
    j->bundle = bytes;
    j->bundle_len = len;
    /*
     * What verifying costs is mostly inflating what the header declares: a
     * bundle of 2 KB may inflate to 62 MB, and 8 MiB of such bundles held
     * the thread pool, readers and the control socket behind it, for
     * minutes. The budgets count both.
     */
    j->verify_cost = len + (size_t)h.content_len;
    j->content_cap = p->d->content_cap; /* the cap parsed against above */
    j->resumed = resumed_from != NULL;
    if (resumed_from != NULL)
        snprintf(j->resumed_from, sizeof j->resumed_from, "%s", resumed_from);
    memcpy(j->rx_id, id, SZ_BUNDLE_ID_LEN);
    if (verify_submit(j) != 0) { /* verify_submit frees the job, and the bytes with it. */
        log_msg(LOG_WARN, "peer %s: cannot queue verification", peer_name(p));
        return 0;
    }
    /* Until it is stored (or refused), no other link is asked for its sequence
     * (queue_range()): it is not in the store yet, nor coming in on a link. */
    memcpy(j->v_publisher, h.publisher, SZ_PUBLIC_KEY_LEN);
    j->v_sequence = h.sequence;
    j->vall_next = p->d->gossip->verifying;
    if (j->vall_next != NULL)
        j->vall_next->vall_prev = j;
    p->d->gossip->verifying = j;
    j->vall_linked = true;
    p->g->n_verifying++;
    p->g->verifying_bytes += j->verify_cost;
    p->d->gossip->verifying_all += j->verify_cost;
    /* Verification is slower than a link: hold reading rather than queue without bound
     * (what one peer queues, and what all of them do: many links, a large bundle each). */
    if (p->g->verifying_bytes > VERIFY_HOLD_BYTES || p->d->gossip->verifying_all > VERIFY_ALL_BYTES)
        peer_hold_reading(p, PEER_HOLD_VERIFY, true);
    return 0;
}

/* Counts g's large bundle in the receive budget, and reads from its link again. */
static void
assemble_count(struct gossip *gs, struct peer *p)
{
    struct gossip_peer *g = p->g;

    if (g->rx_held) {
        g->rx_held = false;
        gs->n_rx_held--;
        peer_hold_reading(p, PEER_HOLD_ASSEMBLE, false);
        /* It could send nothing while held: its request timeouts start again. */
        g->last_chunk_ms = (int64_t)uv_now(p->d->loop);
    }
    g->rx_counted = true;
    g->rx_start_ms = (int64_t)uv_now(p->d->loop);
    g->rx_base = g->rx_got;
    gs->assembling += g->rx_total;
}

/* Whether held link p goes on before held link q. */
static bool
assemble_before(const struct peer *p, const struct peer *q)
{
    if (p->outbound != q->outbound)
        return p->outbound;
    return p->g->rx_held_seq < q->g->rx_held_seq;
}

/*
 * Lets held links go on, as far as the receive budget allows: the links this
 * node opened first (its configured and learned peers: anyone can open many
 * links to it, few can be among those it chose), then the longest waiting.
 */
static void
assemble_wake(struct gossip *gs)
{
    while (gs->n_rx_held > 0 && !gs->d->stopping) {
        struct peer *p, *first = NULL;
        for (p = peer_first(gs->d); p != NULL; p = p->next)
            if (p->g != NULL && p->g->rx_held && (first == NULL || assemble_before(p, first)))
                first = p;
        if (first == NULL) {
            gs->n_rx_held = 0; /* cannot happen: the count follows the flags */
            return;
        }
        if (gs->assembling > 0 && gs->assembling + first->g->rx_total > ASSEMBLE_BUDGET_BYTES) {
            /* Kept parts make room first: a bundle coming in goes before one that may. */
            if (part_drop_oldest(gs))
                continue;
            return;
        }
        assemble_count(gs, first);
    }
}

/* g's large bundle is in, or will never be: its share of the budget is free. */
static void
assemble_done(struct gossip *gs, struct peer *p)
{
    struct gossip_peer *g = p->g;

    if (g->rx_counted) {
        g->rx_counted = false;
        gs->assembling -= gs->assembling < g->rx_total ? gs->assembling : g->rx_total;
    }
    if (g->rx_held) {
        g->rx_held = false;
        gs->n_rx_held--;
        peer_hold_reading(p, PEER_HOLD_ASSEMBLE, false);
    }
    assemble_wake(gs);
}

/*
 * A large bundle begins: counted in the receive budget, or, when the budget
 * is taken, held with its link not read from until assemble_wake() lets it
 * go on (what was read already is kept: at most a frame or two).
 */
static void
assemble_begin(struct gossip *gs, struct peer *p)
{
    struct gossip_peer *g = p->g;

    if (g->rx_total <= ASSEMBLE_SMALL_BYTES)
        return;
    if (gs->n_rx_held == 0 &&
        (gs->assembling == 0 || gs->assembling + g->rx_total <= ASSEMBLE_BUDGET_BYTES)) {
        assemble_count(gs, p);
        return;
    }
    /* Behind the links already waiting, in assemble_wake()'s order: a newcomer that
     * fits the gap must not overtake one that waits for more room. */
    g->rx_held = true;
    g->rx_held_seq = ++gs->rx_held_seq;
    gs->n_rx_held++;
    peer_hold_reading(p, PEER_HOLD_ASSEMBLE, true);
    assemble_wake(gs);
}

/*
 * A large bundle coming in on p has its header and signature: when they
 * check and it was asked of p, its publisher and sequence are known (once:
 * one signature check per bundle).
 */
static void
rx_learn(struct peer *p)
{
    struct gossip_peer *g = p->g;
    struct sz_bundle_header h;
    uint8_t id[SZ_BUNDLE_ID_LEN];

    g->rx_known =
        sz_bundle_verify_prefix(g->rx, g->rx_got, g->rx_total, p->d->content_cap, &h, id) == 0 &&
        solicited(p, &h, id);
    if (g->rx_known) {
        memcpy(g->rx_publisher, h.publisher, SZ_PUBLIC_KEY_LEN);
        g->rx_sequence = h.sequence;
    }
}

/*
 * A bundle p sent as asked (header h, id, len bytes in all) is larger than
 * this node keeps: neither this fetch nor a range asks anyone for it again
 * while max_bundle_bytes is below what it needs (a skip that a raise by
 * SIGHUP lifts). Without that, every comparison downloaded it whole again
 * from every peer that has it, every 5 minutes.
 */
static void
too_big(struct peer *p, const struct sz_bundle_header *h, const uint8_t id[SZ_BUNDLE_ID_LEN],
        uint64_t len)
{
    struct gossip *gs = p->d->gossip;
    struct fetch *f = fetch_find(gs, id);
    uint64_t need = h->content_len, over = SZ_BUNDLE_PREFIX_LEN + 65536;

    if (len > over && len - over > need)
        need = len - over;
    if (f != NULL && f->from == p)
        fetch_remove(gs, f);
    skip_add(gs, h->publisher, h->sequence, INT64_MAX, need);
}

/*
 * The first SZ_BUNDLE_PREFIX_LEN bytes of a bundle too large to keep, being
 * read and dropped, are in g->rx_head: its signed header says which it is
 * (too_big()). Returns -1 when p failed: the header is not valid, or not
 * what was asked.
 */
static int
too_big_head(struct peer *p)
{
    struct gossip_peer *g = p->g;
    struct sz_bundle_header h;
    uint8_t id[SZ_BUNDLE_ID_LEN];

    if (sz_bundle_verify_prefix(g->rx_head, SZ_BUNDLE_PREFIX_LEN, g->rx_total,
                                SZ_BUNDLE_MAX_CONTENT_LEN, &h, id) != 0) {
        peer_misbehaved(p, SZ_GOODBYE_INVALID_BUNDLE,
                        "sent a bundle whose signed header is invalid");
        return -1;
    }
    if (!solicited(p, &h, id)) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "sent a bundle that was not asked for");
        return -1;
    }
    too_big(p, &h, id, g->rx_total);
    return 0;
}

static int
on_bundle(struct peer *p, const struct sz_msg *m)
{
    struct gossip_peer *g = p->g;
    uint64_t cap = p->d->cfg->max_bundle_bytes + SZ_BUNDLE_PREFIX_LEN + 65536;

    g->last_chunk_ms = (int64_t)uv_now(p->d->loop);
    if (g->rx == NULL && !g->rx_skip && m->offset != 0 && g->part_out &&
        m->offset == g->part_offset && m->total == g->part_total) {
        /* The answer to our REQUEST_PART: it continues the kept part. */
        struct gossip *gs = p->d->gossip;
        struct kept_part *k = part_find(gs, g->part_id);
        g->part_out = false;
        g->rx_total = m->total;
        g->rx_got = m->offset;
        if (k != NULL && k->got == m->offset && k->total == m->total) {
            snprintf(g->rx_part_from, sizeof g->rx_part_from, "%s", k->from);
            /* Before the part goes: its slot then holds another part, or zeros. */
            memcpy(g->rx_publisher, k->publisher, SZ_PUBLIC_KEY_LEN);
            g->rx_sequence = k->sequence;
            g->rx_known = true;
            g->rx = part_remove(gs, k, true);
            g->rx_counted = true; /* its share of the receive budget moves with it */
            g->rx_start_ms = g->last_chunk_ms;
            g->rx_base = m->offset;
            g->rx_resumed = true;
            if (log_allow(&p->noisy, LOG_INFO, 5, g->last_chunk_ms)) {
                char hex[2 * SZ_BUNDLE_ID_LEN + 1];
                sz_bundle_id_hex(g->part_id, hex);
                log_msg(LOG_INFO, "peer %s: sends the rest of bundle %s, from byte %lu",
                        peer_name(p), hex, (unsigned long)m->offset);
            }
        } else {
            /* The part came another way, went for room or grew since: its
             * bytes are let go, then the bundle is asked for again. */
            g->rx_skip = true;
            g->rx_skip_part = true;
            memcpy(g->rx_skip_id, g->part_id, SZ_BUNDLE_ID_LEN);
        }
    } else if (g->rx == NULL && !g->rx_skip) {
        if (m->offset != 0 || (g->n_requested == 0 && g->n_ranges_out == 0)) {
            peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "sent a bundle that was not asked for");
            return -1;
        }
        if (m->total > cap) {
            /* The peer cannot know this node's max_bundle_bytes: not its fault. */
            log_msg(LOG_INFO,
                    "peer %s: sent a bundle of %lu bytes, more than max_bundle_bytes: "
                    "dropped",
                    peer_name(p), (unsigned long)m->total);
            g->rx_skip = true;
            g->rx_skip_big = true;
        } else {
            g->rx = malloc(m->total);
            if (g->rx == NULL) {
                peer_close(p, false, "out of memory for a bundle");
                return -1;
            }
        }
        g->rx_total = m->total;
        g->rx_got = 0;
        g->rx_resumed = false;
        g->rx_known = false;
        if (g->rx != NULL)
            assemble_begin(p->d->gossip, p);
    } else if (m->offset != g->rx_got || m->total != g->rx_total) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "sent bundle chunks out of order");
        return -1;
    }
    if (m->data_len > g->rx_total - g->rx_got) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "sent more bundle bytes than announced");
        return -1;
    }
    if (g->rx_skip) {
        if (g->rx_skip_big && g->rx_got < SZ_BUNDLE_PREFIX_LEN) {
            size_t take = SZ_BUNDLE_PREFIX_LEN - g->rx_got;
            if (take > m->data_len)
                take = m->data_len;
            memcpy(g->rx_head + g->rx_got, m->data, take);
            if (g->rx_got + take == SZ_BUNDLE_PREFIX_LEN && too_big_head(p) != 0)
                return -1;
        }
        g->rx_got += (uint32_t)m->data_len;
        if (g->rx_got == g->rx_total) {
            g->rx_skip = false;
            g->rx_skip_big = false;
            g->rx_total = g->rx_got = 0;
            if (g->rx_skip_part) {
                /* p answered as asked: asked again (whole, or from the part as it is now). */
                g->rx_skip_part = false;
                fetch_again(p->d->gossip, p, g->rx_skip_id);
            }
        }
        return 0;
    }
    memcpy(g->rx + g->rx_got, m->data, m->data_len);
    g->rx_got += (uint32_t)m->data_len;
    if (g->rx_got < g->rx_total) {
        if (!g->rx_known && g->rx_total > ASSEMBLE_SMALL_BYTES && g->rx_got >= SZ_BUNDLE_PREFIX_LEN)
            rx_learn(p);
        return 0;
    }
    /* Whole: checked and queued for verification; the bytes go with the job. */
    {
        uint8_t *whole = g->rx;
        size_t whole_len = g->rx_total;
        bool resumed = g->rx_resumed;
        assemble_done(p->d->gossip, p);
        g->rx = NULL;
        g->rx_total = g->rx_got = 0;
        g->rx_resumed = false;
        return take_bundle(p, whole, whole_len, resumed ? g->rx_part_from : NULL);
    }
}

/* Whole bundles, many to a frame: each must have been asked for, then is verified. */
static int
on_bundles(struct peer *p, const struct sz_msg *m)
{
    struct sz_msg_iter it;
    const uint8_t *b;
    size_t len;

    if ((sz_link_features(p->link) & SZ_FEATURE_BATCH) == 0) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "sent BUNDLES without agreeing to the feature");
        return -1;
    }
    sz_msg_bundles_iter(m, &it);
    while (sz_msg_bundles_next(&it, &b, &len)) {
        uint8_t *copy = malloc(len);
        if (copy == NULL) {
            peer_close(p, false, "out of memory for a bundle");
            return -1;
        }
        memcpy(copy, b, len);
        if (take_bundle(p, copy, len, NULL) != 0)
            return -1;
    }
    return 0;
}

/*
 * REQUEST_SPARSE (PROTOCOL.md 4.3.2): the bundles of some sequences in a span,
 * answered as a REQUEST_RANGE of the whole span that leaves the others out.
 */
static int
on_request_sparse(struct peer *p, const struct sz_msg *m)
{
    struct gossip_peer *g = p->g;
    struct sz_msg_summary_pub pub;
    struct sz_msg_range *sub;
    size_t i = g->n_serve_ranges, k;

    if ((sz_link_features(p->link) & SZ_FEATURE_SPARSE) == 0) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "REQUEST_SPARSE without the sparse feature");
        return -1;
    }
    if (i >= MAX_SERVE_RANGES) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "asked for too many ranges at once");
        return -1;
    }
    sub = malloc(m->n_entries * sizeof *sub);
    if (sub == NULL) {
        peer_close(p, false, "out of memory for a range it asked for");
        return -1;
    }
    sz_msg_sparse_ranges(m, &pub);
    for (k = 0; k < m->n_entries && sz_msg_summary_range_next(&pub, &sub[k]); k++)
        ;
    memcpy(g->serve_ranges[i].publisher, m->publisher, SZ_PUBLIC_KEY_LEN);
    g->serve_ranges[i].first = m->first;
    g->serve_ranges[i].last = m->last;
    g->serve_sub[i] = sub;
    g->serve_n_sub[i] = k;
    if (g->n_serve_ranges++ == 0)
        g->serve_next = m->first;
    gossip_serve(p);
    return 0;
}

static int
on_summary(struct peer *p, const uint8_t *body, size_t len)
{
    uint8_t *copy;

    int64_t now = (int64_t)uv_now(p->d->loop);

    /*
     * Still comparing or catching up from this peer's last summary, or one
     * came less than SUMMARY_MIN_GAP_MS ago (peers send one every 5 minutes;
     * each costs a pass over the store): ignored.
     */
    if (p->g->comparing || p->g->n_ranges_queued > 0 || p->g->n_ranges_out > 0 ||
        (p->g->summary_rx_ms != 0 && now - p->g->summary_rx_ms < SUMMARY_MIN_GAP_MS))
        return 0;
    p->g->summary_rx_ms = now;
    copy = malloc(len);
    if (copy == NULL)
        return 0;
    memcpy(copy, body, len);
    free(p->g->summary); /* a newer summary replaces one kept from before */
    p->g->summary = NULL;
    queue_compare(p, copy, len);
    return 0;
}

int
gossip_peer_message(struct peer *p, const uint8_t *body, size_t len)
{
    int64_t now = (int64_t)uv_now(p->d->loop);
    struct sz_msg m, r;
    int rc;

    rc = sz_msg_decode(body, len, &m);
    if (rc != 0) {
        char why[128];
        snprintf(why, sizeof why, "sent a malformed message: %s", sz_strerror(rc));
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, why);
        return -1;
    }
    /*
     * HELLO is the first message each way, and comes once (PROTOCOL.md 4): a
     * peer's roles and port are what it said first. A GOODBYE may come first,
     * from a node that refuses the link at once.
     */
    if (m.type == SZ_MSG_HELLO ? p->g->hello : !p->g->hello && m.type != SZ_MSG_GOODBYE) {
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL,
                        p->g->hello ? "sent a second HELLO" : "sent a message before its HELLO");
        return -1;
    }
    switch (m.type) {
    case SZ_MSG_HELLO:
        p->g->hello = true;
        p->g->listen_port = m.listen_port;
        p->g->roles = m.roles;
        send_summary_rest(p);
        return 0;
    case SZ_MSG_PING:
        /* A peer that does not read its queue gets no more replies to queue. */
        if (peer_send_room(p) == 0)
            return 0;
        memset(&r, 0, sizeof r);
        r.type = SZ_MSG_PONG;
        r.nonce = m.nonce;
        (void)peer_send_msg(p, &r);
        return 0;
    case SZ_MSG_PONG:
        return 0;
    case SZ_MSG_GOODBYE:
        /* A peer shutting down says so: routine. Links this node did not open
         * are anyone's, and can come and go a thousand times a second. */
        if (p->outbound || (m.reason != SZ_GOODBYE_SHUTDOWN &&
                            log_allow(&p->d->gossip->goodbye_log, LOG_INFO, 30, (int64_t)now)))
            log_msg(LOG_INFO, "peer %s: says goodbye (%u): %.*s", peer_name(p), m.reason,
                    (int)m.text_len, m.text);
        else
            log_msg(LOG_DEBUG, "peer %s: says goodbye (%u): %.*s", peer_name(p), m.reason,
                    (int)m.text_len, m.text);
        p->goodbye_in = m.reason != 0 ? m.reason : UINT8_MAX;
        peer_close(p, false, "the peer said goodbye");
        return -1;
    case SZ_MSG_ANNOUNCE:
        return on_announce(p, &m, now);
    case SZ_MSG_REQUEST:
        return on_request(p, &m, now);
    case SZ_MSG_REQUEST_PART:
        return on_request_part(p, &m, now);
    case SZ_MSG_BUNDLE:
        return on_bundle(p, &m);
    case SZ_MSG_BUNDLES:
        return on_bundles(p, &m);
    case SZ_MSG_NOT_FOUND: {
        struct fetch *f = fetch_find(p->d->gossip, m.id);
        if (p->g->part_out && memcmp(p->g->part_id, m.id, SZ_BUNDLE_ID_LEN) == 0) {
            /* No rest from this peer (it lacks this bundle, perhaps holding
             * another of its sequence): the part stays for other peers, and
             * this one is not asked for it again. */
            p->g->part_out = false;
            fixed_ring_add(p->g->part_refused, &p->g->part_refused_next, REFUSED_SLOTS, m.id);
        }
        /* Ids it announced and then says it lacks, many in a row: made up to
         * keep this node asking. Its announcements are ignored for a while. */
        if (f != NULL && f->from == p && f->owner == p) {
            if (now - p->g->nf_since_ms > 10000) {
                p->g->nf_since_ms = now;
                p->g->n_not_found = 0;
            }
            if (++p->g->n_not_found == NOT_FOUND_LIMIT && p->g->muted_until_ms <= now) {
                p->g->muted_until_ms = now + MUTE_MS;
                peer_count_misbehaviour(p);
                if (log_allow(&p->noisy, LOG_INFO, 5, now))
                    log_msg(LOG_INFO,
                            "peer %s: said NOT_FOUND to %u bundles it had announced within "
                            "10 s; its announcements are ignored for 5 minutes",
                            peer_name(p), NOT_FOUND_LIMIT);
            }
        }
        if (f != NULL && f->from == p)
            fetch_next(p->d->gossip, f);
        drive_waiting(p->d->gossip);
        return 0;
    }
    case SZ_MSG_SUMMARY:
        return on_summary(p, body, len);
    case SZ_MSG_SUMMARY_PACKED:
        if ((sz_link_features(p->link) & SZ_FEATURE_SPARSE) == 0) {
            peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "SUMMARY_PACKED without the sparse feature");
            return -1;
        }
        return on_summary(p, body, len);
    case SZ_MSG_REQUEST_SPARSE:
        return on_request_sparse(p, &m);
    case SZ_MSG_REQUEST_RANGE:
        if (p->g->n_serve_ranges >= MAX_SERVE_RANGES) {
            peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "asked for too many ranges at once");
            return -1;
        }
        memcpy(p->g->serve_ranges[p->g->n_serve_ranges].publisher, m.publisher, SZ_PUBLIC_KEY_LEN);
        p->g->serve_ranges[p->g->n_serve_ranges].first = m.first;
        p->g->serve_ranges[p->g->n_serve_ranges].last = m.last;
        if (p->g->n_serve_ranges++ == 0)
            p->g->serve_next = m.first;
        gossip_serve(p);
        return 0;
    case SZ_MSG_RANGE_DONE: {
        struct gossip_peer *g = p->g;
        size_t i;
        for (i = 0; i < g->n_ranges_out; i++) {
            if (memcmp(g->ranges_out[i].publisher, m.publisher, SZ_PUBLIC_KEY_LEN) == 0 &&
                g->ranges_out[i].first == m.first && g->ranges_out[i].last == m.last) {
                g->ranges_out[i] = g->ranges_out[--g->n_ranges_out];
                /* A range ended soon after the last: the peer keeps up, ask more at once. */
                if (now - g->range_mark_ms <= RANGE_FAST_MS && g->ranges_window < MAX_RANGES_OUT)
                    g->ranges_window++;
                g->range_mark_ms = now;
                break;
            }
        }
        send_ranges(p);
        maybe_recompare(p);
        return 0;
    }
    case SZ_MSG_GET_PEERS: {
        struct sz_msg_peer addrs[SZ_MSG_MAX_PEERS];
        uint8_t out[SZ_MSG_MAX_PEERS_LEN];
        size_t n, olen = 0;
        /* Answered, with no address when none is known (PROTOCOL.md 4.2), unless
         * the queue to p is full (4.4). */
        if (peer_send_room(p) == 0)
            return 0;
        n = peer_known_addresses(p->d, p, addrs, SZ_MSG_MAX_PEERS);
        if (sz_msg_encode_peers(addrs, n, out, sizeof out, &olen) == 0)
            (void)peer_send(p, out, olen);
        return 0;
    }
    case SZ_MSG_PEERS: {
        size_t i;
        /* Only the answer to this node's GET_PEERS (to a peer it chose), once:
         * anyone connecting could otherwise steer its outbound links. */
        if (!p->g->peers_asked) {
            log_msg(LOG_DEBUG, "peer %s: sent PEERS not asked for: ignored", peer_name(p));
            return 0;
        }
        p->g->peers_asked = false;
        for (i = 0; i < m.n_entries; i++) {
            struct sz_msg_peer a;
            sz_msg_peer_get(&m, i, &a);
            peer_consider(p->d, p, &a);
        }
        return 0;
    }
    case SZ_MSG_EQUIVOCATION: {
        char pk[SZ_PK_TEXT_LEN + 1];
        sz_pk_to_text(m.publisher, pk);
        if (log_allow(&p->noisy, LOG_WARN, 5, now))
            log_msg(LOG_WARN, "peer %s reports an EQUIVOCATION by publisher %s at sequence %llu",
                    peer_name(p), pk, (unsigned long long)m.sequence);
        return 0;
    }
    default:
        peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "sent an unknown message");
        return -1;
    }
}

/* ---- peer lifecycle ---- */

/*
 * A fetch client (HELLO with the fetch role, not a relay) gets the parts of
 * our SUMMARY after the first: it does not follow announcements. Relays get
 * the first part only and learn the rest from announcements.
 */
static void
send_summary_rest(struct peer *p)
{
    struct gossip_peer *g = p->g;
    struct gossip *gs = p->d->gossip;
    /* One part of up to SZ_MSG_MAX_LEN at a time. */
    size_t need = (size_t)SZ_MSG_MAX_LEN + 4, used = peer_queued_total(p->d) + gs->serve_reserved;
    struct gjob *j;

    if (g == NULL || p->closing || !g->summary_more || g->summary_rest_queued || !g->hello ||
        (g->roles & SZ_ROLE_FETCH) == 0 || (g->roles & SZ_ROLE_RELAY) != 0)
        return;
    /*
     * Readers that never read must not fill memory with summaries: each part
     * goes to a link whose send queue has room for it beside what it holds
     * (else at its next drain), not while bundles are being read for it (the
     * two together would pass the link's bound, PROTOCOL.md 4.5), and within
     * the node's send budget, as a serve (else it waits its turn). Before,
     * 60 such links held 841 MB; then the rest went at once, up to 15 MiB a
     * link.
     */
    g->summary_rest_waiting = true;
    if (g->serving || peer_send_room(p) < need)
        return;
    if (serve_over_budget(gs, g, used, need))
        return;
    j = gjob_new(p, JOB_SUMMARY);
    if (j == NULL)
        return;
    j->part_from = g->summary_next;
    j->after = g->summary_after;
    j->packed = (sz_link_features(p->link) & SZ_FEATURE_SPARSE) != 0;
    j->reserve = need;
    gs->serve_reserved += need;
    if (gjob_queue(j) == 0) {
        g->summary_rest_queued = true;
        g->summary_rest_waiting = false;
    } else {
        gs->serve_reserved -= need; /* gjob_queue() freed it */
    }
}

static void
send_summary(struct peer *p)
{
    struct gjob *j = gjob_new(p, JOB_SUMMARY);

    if (j != NULL) {
        j->packed = (sz_link_features(p->link) & SZ_FEATURE_SPARSE) != 0;
        (void)gjob_queue(j);
    }
    p->g->last_summary_ms = (int64_t)uv_now(p->d->loop);
}

void
gossip_peer_open(struct peer *p)
{
    struct daemon *d = p->d;
    struct sz_msg m;

    p->g = calloc(1, sizeof *p->g);
    if (p->g == NULL) {
        peer_close(p, false, "out of memory");
        return;
    }
    p->g->ranges_window = RANGES_OUT_START;
    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_HELLO;
    m.listen_port = peer_listen_port(d);
    m.roles = SZ_ROLE_RELAY;
    (void)peer_send_msg(p, &m);
    send_summary(p);
    if (p->outbound) {
        send_simple(p, SZ_MSG_GET_PEERS);
        p->g->peers_asked = true;
    }
}

void
gossip_peer_drained(struct peer *p)
{
    gossip_serve(p);
}

/*
 * p's link is lost partway through a large bundle: what came is kept for a
 * REQUEST_PART to the next peer that has it, when its signed header checks
 * out and p was asked for it. The bytes and their share of the receive
 * budget move to the kept part.
 */
static void
part_keep(struct gossip *gs, struct peer *p)
{
    struct gossip_peer *g = p->g;
    struct sz_bundle_header h;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    char hex[2 * SZ_BUNDLE_ID_LEN + 1];
    struct kept_part *k;

    if (g->rx == NULL || !g->rx_counted || g->rx_got < PART_MIN_KEEP || gs->d->stopping)
        return;
    /* Not one stored since (a verified copy came another way), nor one whose
     * resumption failed before. */
    if (sz_bundle_verify_prefix(g->rx, g->rx_got, g->rx_total, p->d->content_cap, &h, id) != 0 ||
        !solicited(p, &h, id) || recent_has(gs, id) || ring_has(gs->no_resume, NO_RESUME_SLOTS, id))
        return;
    k = part_find(gs, id);
    if (k != NULL) {
        if (k->got >= g->rx_got)
            return;
        (void)part_remove(gs, k, false);
    }
    if (gs->n_parts == MAX_KEPT_PARTS)
        (void)part_drop_oldest(gs);
    k = &gs->parts[gs->n_parts++];
    memcpy(k->id, id, SZ_BUNDLE_ID_LEN);
    memcpy(k->publisher, h.publisher, SZ_PUBLIC_KEY_LEN);
    k->sequence = h.sequence;
    k->total = g->rx_total;
    k->got = g->rx_got;
    k->bytes = g->rx;
    k->kept_ms = (int64_t)uv_now(gs->d->loop);
    snprintf(k->from, sizeof k->from, "%s", peer_name(p));
    g->rx = NULL;
    g->rx_counted = false;
    g->rx_total = g->rx_got = 0;
    sz_bundle_id_hex(id, hex);
    log_msg(LOG_INFO,
            "peer %s: link lost after %lu of %lu bytes of bundle %s: they are kept for 10 "
            "minutes, and the next peer that has it is asked for the rest",
            peer_name(p), (unsigned long)k->got, (unsigned long)k->total, hex);
}

void
gossip_peer_closed(struct peer *p, bool banned)
{
    struct gossip *gs = p->d->gossip;
    struct fetch *f, *next;

    /* Before the fetches move on: the next peer asked is then asked for the rest. */
    if (gs != NULL && p->g != NULL && !banned)
        part_keep(gs, p);
    if (gs != NULL) {
        for (f = gs->fetches; f != NULL; f = next) {
            next = f->next;
            if (f->owner == p)
                f->owner = NULL;
            fetch_drop_candidate(f, p);
            if (f->from == p) {
                f->from = NULL;
                fetch_next(gs, f);
            } else if (f->n_cands == 0 && f->from == NULL) {
                fetch_remove(gs, f);
            }
        }
    }
    if (p->g != NULL) {
        /* What was asked of it is asked of the peers that left it to this one. */
        bool wake = p->g->ranging;
        if (gs != NULL) {
            serve_unblock(gs, p->g);
            assemble_done(gs, p);
            deferred_clear(gs, p->g);
        }
        free(p->g->deferred);
        free(p->g->pend);
        free(p->g->summary);
        free(p->g->known);
        free(p->g->has);
        free(p->g->rx);
        free(p->g->ranges_queued);
        for (size_t i = 0; i < p->g->n_serve_ranges; i++)
            free(p->g->serve_sub[i]);
        free(p->g);
        p->g = NULL;
        if (gs != NULL && wake)
            wake_left(gs, p);
    }
}

uint16_t
gossip_listen_port(const struct peer *p)
{
    return p->g != NULL ? p->g->listen_port : 0;
}

/* Sends a peer's coalesced announcements in one ANNOUNCE. */
static void
flush_peer(struct peer *p)
{
    struct gossip_peer *g = p->g;
    uint8_t body[SZ_MSG_MAX_ANNOUNCE_LEN];
    size_t len = 0;

    if (g == NULL || g->n_pend == 0)
        return;
    if (!p->closing && sz_msg_encode_announce(g->pend, g->n_pend, body, sizeof body, &len) == 0)
        (void)peer_send(p, body, len);
    free(g->pend);
    g->pend = NULL;
    g->n_pend = 0;
}

static void
on_flush(uv_timer_t *t)
{
    struct gossip *gs = t->data;
    struct peer *p;

    gs->flush_armed = false;
    for (p = peer_first(gs->d); p != NULL; p = p->next)
        if (p->open && !p->closing)
            flush_peer(p);
}

static void
send_equivocation(struct peer *p, const struct equiv_pair *e)
{
    struct sz_msg m;

    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_EQUIVOCATION;
    memcpy(m.publisher, e->publisher, SZ_PUBLIC_KEY_LEN);
    m.sequence = e->sequence;
    memcpy(m.id, e->id_a, SZ_BUNDLE_ID_LEN);
    memcpy(m.id_b, e->id_b, SZ_BUNDLE_ID_LEN);
    (void)peer_send_msg(p, &m);
}

void
gossip_equivocation(struct daemon *d, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t sequence,
                    const uint8_t id_a[SZ_BUNDLE_ID_LEN], const uint8_t id_b[SZ_BUNDLE_ID_LEN])
{
    struct gossip *gs = d->gossip;
    struct equiv_pair e;
    struct peer *p;

    /* A key's owner can make pairs without end: a few a minute tell the peers enough. */
    if (gs == NULL || !log_allow(&gs->equiv_sent, LOG_NONE, 10, (int64_t)uv_now(d->loop)))
        return;
    memcpy(e.publisher, publisher, SZ_PUBLIC_KEY_LEN);
    e.sequence = sequence;
    memcpy(e.id_a, id_a, SZ_BUNDLE_ID_LEN);
    memcpy(e.id_b, id_b, SZ_BUNDLE_ID_LEN);
    for (p = peer_first(d); p != NULL; p = p->next)
        if (p->open && !p->closing && p->g != NULL)
            send_equivocation(p, &e);
}

void
gossip_stored(struct daemon *d, const struct store_meta *m, struct peer *from)
{
    struct gossip *gs = d->gossip;
    struct sz_msg_announce a;
    struct peer *p;

    if (gs == NULL)
        return;
    recent_add(gs, m->id);
    if (from != NULL)
        has_add(from, m->id);
    {
        /* Came another way (or was published, or imported): a kept part of it is done with. */
        struct kept_part *k = part_find(gs, m->id);
        if (k != NULL) {
            (void)part_remove(gs, k, false);
            assemble_wake(gs);
        }
    }
    memcpy(a.publisher, m->publisher, SZ_PUBLIC_KEY_LEN);
    a.sequence = m->sequence;
    memcpy(a.id, m->id, SZ_BUNDLE_ID_LEN);
    a.size = (uint32_t)m->size;
    /* Bundles stored in one loop turn go out in one ANNOUNCE per peer. */
    for (p = peer_first(d); p != NULL; p = p->next) {
        struct gossip_peer *g = p->g;
        if (p == from || !p->open || p->closing || g == NULL || known_has(p, m->id))
            continue;
        if (g->pend == NULL) {
            g->pend = malloc(SZ_MSG_MAX_ANNOUNCE * sizeof *g->pend);
            if (g->pend == NULL)
                continue;
        }
        g->pend[g->n_pend++] = a;
        known_add(p, m->id);
        if (g->n_pend == SZ_MSG_MAX_ANNOUNCE)
            flush_peer(p);
    }
    if (!gs->flush_armed && uv_timer_start(&gs->flush, on_flush, 0, 0) == 0)
        gs->flush_armed = true;
}

void
gossip_parts(const struct daemon *d, size_t *n, uint64_t *bytes)
{
    const struct gossip *gs = d->gossip;
    size_t i;

    *n = 0;
    *bytes = 0;
    if (gs == NULL)
        return;
    *n = gs->n_parts;
    for (i = 0; i < gs->n_parts; i++)
        *bytes += gs->parts[i].got;
}

void
gossip_tick(struct daemon *d, int64_t now_ms)
{
    struct gossip *gs = d->gossip;
    struct fetch *f, *next;
    struct peer *p, *next_p;
    size_t n_closed = 0, n_stalled = 0;
    bool held_out = false; /* a link this node opened waits for the receive budget */

    if (gs == NULL)
        return;
    {
        size_t i = 0, n_before = gs->n_parts;
        while (i < gs->n_parts) {
            if (now_ms - gs->parts[i].kept_ms > PART_KEEP_MS)
                (void)part_remove(gs, &gs->parts[i], false);
            else
                i++;
        }
        if (gs->n_parts < n_before)
            assemble_wake(gs);
    }
    for (f = gs->fetches; f != NULL; f = next) {
        next = f->next;
        if (f->from == NULL || now_ms <= f->deadline_ms)
            continue;
        /* This node does not read from it (its large bundle waits for the receive
         * budget): it cannot answer, and is not blamed. */
        if ((f->from->reading_held & PEER_HOLD_ASSEMBLE) != 0)
            continue;
        /* Still sending bundle bytes: slow, not silent; its answer may be this one. */
        if (f->from->g != NULL && now_ms - f->from->g->last_chunk_ms < REQUEST_TIMEOUT_MS &&
            now_ms - f->deadline_ms < 4 * REQUEST_TIMEOUT_MS)
            continue;
        /*
         * Stopped partway through a bundle, not a byte for the whole timeout
         * (a link gone dead, or throttled to nothing by a censor): its link is
         * closed below, not here (closing moves fetches on, this one among
         * them), without a ban. What came of a large bundle is then kept and
         * the next peer is asked for the rest only (gossip_peer_closed()).
         */
        if (f->from->g != NULL && f->from->g->rx != NULL && f->from->g->rx_got > 0 &&
            f->from->reading_held == 0 && !f->from->closing &&
            now_ms - f->from->g->last_chunk_ms >= REQUEST_TIMEOUT_MS) {
            if (!f->from->g->stalled)
                n_stalled++;
            f->from->g->stalled = true;
            continue;
        }
        /*
         * It announced this id and then sent nothing at all for the whole
         * timeout: its other announcements are not believed for a while, so
         * that ids made up by one peer cannot hold the fetch table.
         */
        if (f->from == f->owner && f->from->g != NULL && f->from->g->muted_until_ms <= now_ms &&
            now_ms - f->from->g->last_chunk_ms >= REQUEST_TIMEOUT_MS) {
            f->from->g->muted_until_ms = now_ms + MUTE_MS;
            peer_count_misbehaviour(f->from);
            if (log_allow(&f->from->noisy, LOG_INFO, 5, now_ms))
                log_msg(LOG_INFO,
                        "peer %s: did not answer a request for a bundle it announced; its "
                        "announcements are ignored for 5 minutes",
                        peer_name(f->from));
        }
        fetch_next(gs, f);
    }
    for (p = peer_first(d); p != NULL && n_stalled > 0; p = next_p) {
        next_p = p->next;
        if (p->g != NULL && p->g->stalled && !p->closing) {
            n_stalled--;
            peer_close(p, false,
                       "sent no byte for 30 s partway through a bundle, with a request out");
        }
    }
    drive_waiting(gs);
    /* While links wait for the receive budget, the large bundles that hold it
     * must come in: a link that stalls or drips is closed (not banned). While
     * a link this node opened waits (a peer it chose, which others cannot
     * crowd out by connecting many times), links it did not open get less
     * time to go silent. */
    for (p = peer_first(d); p != NULL && gs->n_rx_held > 0 && !held_out; p = p->next)
        held_out = p->outbound && p->g != NULL && p->g->rx_held && !p->closing;
    for (p = peer_first(d); p != NULL && gs->n_rx_held > 0; p = next_p) {
        struct gossip_peer *g = p->g;
        int64_t age, stall = held_out && !p->outbound ? ASSEMBLE_STALL_IN_MS : ASSEMBLE_STALL_MS;
        next_p = p->next;
        /* A link this node does not read from (its bundles wait for verification)
         * is not stalling. */
        if (g == NULL || !g->rx_counted || p->closing || p->reading_held != 0)
            continue;
        age = now_ms - g->rx_start_ms;
        /* A link let go after waiting gets the whole time from then. */
        if (now_ms - (g->last_chunk_ms > g->rx_start_ms ? g->last_chunk_ms : g->rx_start_ms) >
            stall) {
            n_closed++;
            peer_close(p, false,
                       stall == ASSEMBLE_STALL_MS
                           ? "sent no byte of its bundle for 20 s while other peers wait for "
                             "this node's receive budget"
                           : "sent no byte of its bundle for 5 s while a peer this node chose "
                             "waits for its receive budget");
        } else if (age > ASSEMBLE_GRACE_MS &&
                   (uint64_t)(g->rx_got - g->rx_base) * 1000 / (uint64_t)age < ASSEMBLE_MIN_RATE) {
            n_closed++;
            peer_close(p, false,
                       "sent its bundle at under 64 KiB a second while other peers wait for "
                       "this node's receive budget");
        }
    }
    if (n_closed > 0)
        log_msg(LOG_INFO,
                "receive budget: closed %zu link(s) whose large bundle stalled while other "
                "peers waited",
                n_closed);
    for (p = peer_first(d); p != NULL; p = p->next)
        if (p->open && !p->closing && p->g != NULL &&
            now_ms - p->g->last_summary_ms > SUMMARY_EVERY_MS)
            send_summary(p);
    /* The rate of each link that has ranges out, over spans of RANGE_STALL_MS. */
    for (p = peer_first(d); p != NULL; p = p->next) {
        struct gossip_peer *g = p->g;
        if (g == NULL)
            continue;
        if (g->n_ranges_out == 0) {
            g->rate_ms = 0;
            g->ranges_slow = false;
        } else if (g->rate_ms == 0) {
            g->rate_ms = now_ms;
            g->rate_bytes = p->bytes_in;
        } else if (now_ms - g->rate_ms >= RANGE_STALL_MS) {
            g->ranges_slow = (p->bytes_in - g->rate_bytes) * 1000 <
                             (uint64_t)RANGE_MIN_RATE * (uint64_t)(now_ms - g->rate_ms);
            g->rate_ms = now_ms;
            g->rate_bytes = p->bytes_in;
        }
    }
    /* Sequences left to peers that stall, or send slowly: asked of others after a while. */
    for (p = peer_first(d); p != NULL; p = p->next) {
        if (p->closing || p->g == NULL || !p->g->left_to_others ||
            now_ms - p->g->left_ms < LEFT_RECHECK_MS)
            continue;
        p->g->others_done = true;
        maybe_recompare(p);
    }
}

int
gossip_init(struct daemon *d)
{
    int rc;

    d->gossip = calloc(1, sizeof *d->gossip);
    if (d->gossip == NULL)
        return UV_ENOMEM;
    d->gossip->d = d;
    rc = uv_timer_init(d->loop, &d->gossip->flush);
    if (rc != 0)
        return rc;
    d->gossip->flush.data = d->gossip;
    return 0;
}

void
gossip_close(struct daemon *d)
{
    if (d->gossip != NULL && !uv_is_closing((uv_handle_t *)&d->gossip->flush))
        uv_close((uv_handle_t *)&d->gossip->flush, NULL);
}

void
gossip_free(struct daemon *d)
{
    struct fetch *f, *next;

    if (d->gossip == NULL)
        return;
    for (f = d->gossip->fetches; f != NULL; f = next) {
        next = f->next;
        free(f);
    }
    while (d->gossip->n_parts > 0)
        (void)part_remove(d->gossip, &d->gossip->parts[0], false);
    free(d->gossip);
    d->gossip = NULL;
}
