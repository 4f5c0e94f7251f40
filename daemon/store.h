/*
 * The bundle store of samizdatd: one SQLite database in WAL mode, DIR/store.sqlite,
 * holding verified bundles (metadata and bytes), the "history" of ids that were
 * evicted or refused, and the per-publisher sequence counter used for publishing.
 * Design and durability argument: daemon/STORE.md.
 *
 * Threads: a struct store is used by one thread at a time (the SQLite connection
 * is opened in multi-thread mode, without its own mutex). Any thread may call any
 * function, including store_open() and store_close(), as long as the daemon
 * serializes the calls. Every function may block on disk, and the writing ones
 * (put, remember, seq_reserve, expire, evict, forget_expired, delete) wait for
 * fsync: call them from the libuv thread pool, never from the loop thread.
 *
 * Errors: every fallible function returns 0 (or a documented positive value) or a
 * negated errno value, which is what libuv's codes are on Unix:
 *   -ENOENT     no such bundle
 *   -EBUSY      the data folder is locked by another samizdatd, or the database is
 *               locked by another program (a sqlite3 shell writing to it)
 *   -EPROTO     the database has an unknown schema version or is not a store
 *   -ENOSPC     the disk is full
 *   -EIO        I/O error, or the database is damaged
 *   -EACCES     the data folder or database cannot be opened for writing
 *   -ENOMEM     out of memory
 *   -EINVAL     bad argument, or a store function called from a store callback
 *   -EOVERFLOW  the publisher's sequence space is exhausted
 * and writes a message that says what failed and what to do into `err` (at most
 * err_cap bytes, always NUL-terminated; err may be NULL). Outputs are untouched on
 * failure. A failed write leaves the store as it was before the call.
 *
 * Callbacks (list, ranges, publishers, equivocations) run synchronously inside the
 * call, on the calling thread; they must not call store functions on the same
 * store (doing so fails with -EINVAL). Returning nonzero stops the iteration; the
 * function then returns 0.
 */
#ifndef SZ_DAEMON_STORE_H
#define SZ_DAEMON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "samizdat/bundle.h"

/* The schema version this code writes and understands (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 4
/* Name of the database and of the lock file inside the data folder. */
#define STORE_DB_NAME "store.sqlite"
#define STORE_LOCK_NAME "lock"
/*
 * How far ahead of the store's clock (the `now` of a put) a bundle's `created`
 * may be. The signer chooses `created`, and eviction and expiry go by it: a
 * bundle dated years ahead would sort as the newest held, outlive every honest
 * bundle under the quotas and never expire. A day leaves room for clocks that
 * are wrong by hours and for time zones mistaken for UTC.
 */
#define STORE_MAX_FUTURE_S ((int64_t)24 * 3600)

struct store;

/* Retention limits. Zero means "no limit" for every field. */
struct store_limits {
    uint64_t max_total_bytes;     /* bundle bytes held in total */
    uint64_t max_publisher_bytes; /* bundle bytes held per publisher */
    int64_t max_age_s;            /* bundles created longer ago than this expire */
    int64_t remember_s;           /* how long remembered ids are kept */
    uint64_t max_remembered;      /* rows of each of history, gone and evicted: the
                                     oldest beyond it are dropped before remember_s */
};

/* Metadata of a stored bundle. */
struct store_meta {
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence; /* at most INT64_MAX is storable */
    int64_t created;   /* seconds since the Unix epoch, from the signed header */
    uint64_t size;     /* length of the bundle bytes */
    int64_t received;  /* set by the store: the `now` of the put */
};

/* Outcome of storing one bundle. */
enum store_status {
    STORE_PENDING = 0,   /* not processed (the whole call failed) */
    STORE_STORED = 1,    /* newly stored; durable once the call returned 0 */
    STORE_DUPLICATE = 2, /* already held; nothing written */
    STORE_EXPIRED = 3,   /* created before now - max_age_s: refused, id remembered */
    STORE_TOO_BIG = 4,   /* larger than a quota on its own: refused, id remembered */
    STORE_EVICTED = 5,   /* stored, then evicted in the same call as the oldest
                            bundle over a quota: not held, id remembered */
    STORE_BAD_SEQ = 6,   /* sequence above INT64_MAX: refused, id remembered */
    STORE_FUTURE = 7,    /* created more than STORE_MAX_FUTURE_S after now: refused,
                            id remembered until now catches up (at most remember_s) */
    STORE_EXTRA = 8,     /* two others with its publisher and sequence are held (the
                            evidence of equivocation): refused, id remembered */
};

/* Why an id is remembered in the history. Values >= 100 are free for the daemon. */
enum store_reason {
    STORE_REASON_EVICTED = 1,  /* removed to stay within a quota */
    STORE_REASON_EXPIRED = 2,  /* older than max_age_s */
    STORE_REASON_TOO_BIG = 3,  /* larger than a quota */
    STORE_REASON_BAD_SEQ = 4,  /* sequence not storable */
    STORE_REASON_INVALID = 5,  /* failed verification (set by the daemon) */
    STORE_REASON_UNWANTED = 6, /* publisher not carried (set by the daemon) */
    STORE_REASON_DELETED = 7,  /* deleted by an operator */
    STORE_REASON_FUTURE = 8,   /* dated more than STORE_MAX_FUTURE_S ahead */
    STORE_REASON_EXTRA = 9,    /* a third bundle for one publisher and sequence */
};

/* One bundle for store_put_batch(). */
struct store_item {
    struct store_meta meta;   /* in: id, publisher, sequence, created, size */
    const uint8_t *bytes;     /* in: meta.size bytes; not retained */
    enum store_status status; /* out */
    bool equivocates;         /* out: another bundle with this publisher and
                                 sequence but a different id is held */
};

/* Per-publisher usage. */
struct store_usage {
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t n_bundles;
    uint64_t bytes;
    uint64_t max_sequence; /* highest sequence held; 0 when n_bundles is 0 */
};

/* Iteration callbacks: return 0 to continue, nonzero to stop. */
typedef int (*store_meta_cb)(const struct store_meta *m, void *ctx);
typedef int (*store_range_cb)(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t first,
                              uint64_t last, void *ctx);
typedef int (*store_usage_cb)(const struct store_usage *u, void *ctx);
typedef int (*store_equiv_cb)(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t sequence,
                              const uint8_t id_a[SZ_BUNDLE_ID_LEN],
                              const uint8_t id_b[SZ_BUNDLE_ID_LEN], void *ctx);

/*
 * Opens the store of the data folder `dir` (created with mode 0700 if missing;
 * its parent must exist): takes a non-blocking exclusive flock() on DIR/lock,
 * then opens or creates DIR/store.sqlite in WAL mode with synchronous=FULL.
 * Never scans the bundles: cost is independent of how many are stored. `limits`
 * is copied (NULL: no limits). On success *out is set; free with store_close().
 * Returns 0, -EBUSY (lock held by another samizdatd), -EPROTO (unknown schema
 * version, or not a samizdat store), -EACCES, -EIO, -ENOMEM, -ENOSPC.
 */
int store_open(const char *dir, const struct store_limits *limits, struct store **out, char *err,
               size_t err_cap);

/* The schema version store_open() upgraded the store from (its older
 * samizdatd cannot open it any more), or 0 when it did not upgrade it. */
int store_upgraded_from(const struct store *st);

/* Closes the database and releases the lock. NULL is fine. */
void store_close(struct store *st);

/* Replaces the retention limits. Takes effect on the next put; store_evict() and
 * store_expire() apply them to what is already held. */
void store_set_limits(struct store *st, const struct store_limits *limits);

/*
 * Names the node's own publisher (the key it publishes with; NULL: none). Its
 * bundles are never evicted to bring the total within max_total_bytes: only
 * its own max_publisher_bytes, expiry and deletion remove them. They still
 * count towards the total, so other publishers share what they leave. The key
 * is copied and kept across store_set_limits().
 */
void store_set_own_publisher(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN]);

/* Bundles refused as STORE_FUTURE by the puts committed since the store was
 * opened (not kept across a restart). */
uint64_t store_n_future(const struct store *st);

/* Rows of history, gone and evicted dropped before remember_s had passed, to
 * hold each table to max_remembered, since the store was opened. */
uint64_t store_n_remembered_dropped(const struct store *st);

/* When a call last found the database damaged (SQLITE_CORRUPT: seconds since
 * the epoch), with what it was doing in `what`; 0 when none has since the
 * store was opened. */
int64_t store_damage_seen(const struct store *st, char *what, size_t what_cap);

/* Fills *m from a verified bundle's header, id and length (received is zeroed). */
void store_meta_from_header(struct store_meta *m, const struct sz_bundle_header *hdr,
                            const uint8_t id[SZ_BUNDLE_ID_LEN], size_t len);

/*
 * Stores n bundles in one transaction (one fsync), then evicts the oldest bundles
 * (by created time, then sequence) until the quotas hold again, remembering the
 * evicted ids; the total quota never evicts the own publisher's bundles (see
 * store_set_own_publisher()). A bundle created more than STORE_MAX_FUTURE_S
 * after `now` is refused (STORE_FUTURE). Each item's status says what happened
 * to it; `now` is its received time and the time evictions/refusals are
 * remembered at. Storing an id forgets it from the history. Returns 0 when the
 * transaction committed: every STORED item then survives kill -9 and power
 * loss. On error nothing is written and every status is STORE_PENDING.
 * Returns 0, -EINVAL, -ENOSPC, -EIO, -ENOMEM, -EBUSY.
 */
int store_put_batch(struct store *st, struct store_item *items, size_t n, int64_t now, char *err,
                    size_t err_cap);

/* store_put_batch() of one item. */
int store_put(struct store *st, struct store_item *item, int64_t now, char *err, size_t err_cap);

/* Returns 1 if the bundle `id` is held, 0 if not, or a negative error. */
int store_has(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], char *err, size_t err_cap);

/* Reads the metadata of bundle `id` into *m. Returns 0, -ENOENT or an error. */
int store_get_meta(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], struct store_meta *m,
                   char *err, size_t err_cap);

/*
 * Copies the bytes of bundle `id` into a malloc'd buffer *out (caller frees) of
 * *out_len bytes. Returns 0, -ENOENT, -ENOMEM or an error. For large bundles,
 * prefer store_read(), which never holds the whole bundle.
 */
int store_get(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], uint8_t **out, size_t *out_len,
              char *err, size_t err_cap);

/*
 * Reads up to `cap` bytes of bundle `id` starting at `offset` into buf and sets
 * *n_read (0 at or past the end). Returns 0, -ENOENT or an error.
 */
int store_read(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], uint64_t offset, uint8_t *buf,
               size_t cap, size_t *n_read, char *err, size_t err_cap);

/* Deletes bundle `id`; remembers it with STORE_REASON_DELETED when remember is
 * true. Returns 0, -ENOENT or an error. */
int store_delete(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], bool remember, int64_t now,
                 char *err, size_t err_cap);

/* Deletes the bundles ids[0..n) that are held, in one transaction (one sync),
 * remembering none; *n_deleted says how many were. Returns 0 or an error
 * (nothing deleted then). */
int store_delete_batch(struct store *st, const uint8_t (*ids)[SZ_BUNDLE_ID_LEN], size_t n,
                       uint64_t *n_deleted, char *err, size_t err_cap);

/* Number of bundles and their total bytes, without scanning. */
int store_totals(struct store *st, uint64_t *n_bundles, uint64_t *bytes, char *err, size_t err_cap);

/* Usage of one publisher, without scanning (all zero when none held). */
int store_usage(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], struct store_usage *u,
                char *err, size_t err_cap);

/* Calls cb for every publisher that has bundles, in key order. */
int store_publishers(struct store *st, store_usage_cb cb, void *ctx, char *err, size_t err_cap);

/*
 * Calls cb for every bundle of `publisher` with sequence >= since_sequence, in
 * order of sequence (bundles that share a sequence in the order they were stored).
 */
int store_list(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
               uint64_t since_sequence, store_meta_cb cb, void *ctx, char *err, size_t err_cap);

/* Where a page of a listing starts: after the bundle listed last. */
struct store_cursor {
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence;
    uint8_t id[SZ_BUNDLE_ID_LEN];
};

/*
 * Calls cb for at most `limit` bundles with sequence >= since_sequence, of
 * `publisher` (or of every publisher when NULL), in order of (publisher key,
 * sequence, id) bytewise, starting after the cursor `after` (from the start
 * when NULL). Paging by the last bundle listed lists each bundle once, even
 * when bundles are stored or evicted between pages.
 */
int store_list_page(struct store *st, const uint8_t *publisher, uint64_t since_sequence,
                    const struct store_cursor *after, size_t limit, store_meta_cb cb, void *ctx,
                    char *err, size_t err_cap);

/*
 * Calls cb once per contiguous range [first, last] of sequences >= since_sequence
 * held for `publisher`, or for every publisher (in key order) when publisher is
 * NULL. Sequences 1,2,3,5,7,8 give [1,3], [5,5], [7,8].
 */
int store_seq_ranges(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
                     uint64_t since_sequence, store_range_cb cb, void *ctx, char *err,
                     size_t err_cap);

/*
 * As store_seq_ranges() for every publisher, from the publisher `from` on
 * (its key and those above, in key order): a seek, not a walk from the
 * first publisher.
 */
int store_seq_ranges_from(struct store *st, const uint8_t from[SZ_PUBLIC_KEY_LEN],
                          store_range_cb cb, void *ctx, char *err, size_t err_cap);

/*
 * Calls cb once for every publisher and sequence of which two or more
 * bundles are held, with the first two stored (id_a before id_b): evidence
 * of a stolen key. (A put keeps no more than two: STORE_EXTRA; a store
 * written before that may hold more.)
 */
int store_equivocations(struct store *st, store_equiv_cb cb, void *ctx, char *err, size_t err_cap);

/* The pairs of one publisher and sequence (an index search, not a scan of
 * the store): at most 4. */
int store_equivocations_of(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
                           uint64_t sequence, store_equiv_cb cb, void *ctx, char *err,
                           size_t err_cap);

/*
 * Reserves the next sequence for publishing as `publisher`: one more than the
 * highest sequence ever reserved here or held in the store for that key. The new
 * value is committed durably before it is written to *seq, so a restart (or a
 * crash) never hands out the same sequence twice. Returns 0, -EOVERFLOW or an
 * error.
 */
int store_seq_reserve(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t *seq,
                      char *err, size_t err_cap);

/* store_seq_reserve(), and the sequence is also above `floor` (the last one
 * used as recorded elsewhere). */
int store_seq_reserve_above(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
                            uint64_t floor, uint64_t *seq, char *err, size_t err_cap);

/* Remembers `id` (not to be fetched again) with a reason, as of `now`. */
int store_remember(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], int reason, int64_t now,
                   char *err, size_t err_cap);

/*
 * Returns 1 if `id` was remembered less than remember_s seconds before `now`
 * (and sets *reason unless NULL), 0 if not, or a negative error.
 */
int store_is_remembered(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], int64_t now,
                        int *reason, char *err, size_t err_cap);

/*
 * The highest sequence of `publisher` evicted for a quota (per-publisher or
 * total) less than remember_s before `now` (the latest such eviction counts):
 * returns 1 and sets *last_seq, 0 when none, or a negative error. Kept across
 * restarts, so that gossip does not fetch the evicted sequences again.
 */
int store_evicted_seq(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], int64_t now,
                      uint64_t *last_seq, char *err, size_t err_cap);

/*
 * The sequences of `publisher` evicted for a quota above its floor
 * (store_evicted_seq()) less than remember_s before `now`, in increasing
 * order: bundles dated before lower sequences still held (backdated, or from a
 * clock that ran ahead) go first, and the floor cannot rise past those. cb
 * gets each (first == last); returning non-zero stops. Kept across restarts,
 * so that gossip does not fetch them again. Returns 0 or a negative error.
 */
int store_gone_seqs(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], int64_t now,
                    store_range_cb cb, void *ctx, char *err, size_t err_cap);

/* Drops remembered ids, and evictions (store_evicted_seq(), store_gone_seqs()),
 * older than remember_s, then the oldest of each beyond max_remembered; sets
 * *n_forgotten (ids older than remember_s) unless NULL. */
int store_forget_expired(struct store *st, int64_t now, uint64_t *n_forgotten, char *err,
                         size_t err_cap);

/*
 * Removes bundles created before now - max_age_s, oldest first, then bundles
 * created more than STORE_MAX_FUTURE_S after now (held from before that check,
 * or stored while the clock was ahead), at most max_n (0: all) in one
 * transaction, and remembers their ids. Call again while *n_removed == max_n.
 * Sets *n_removed unless NULL. Nothing is removed as dated ahead when now is
 * more than STORE_MAX_FUTURE_S before store_newest_received(): the clock has
 * stepped back, and every bundle would seem dated ahead of it.
 */
int store_expire(struct store *st, int64_t now, uint64_t max_n, uint64_t *n_removed, char *err,
                 size_t err_cap);

/*
 * Sets *at to the latest time the node's clock read when it stored a bundle
 * held now, or since the store was opened; 0 when none. A clock reading more
 * than STORE_MAX_FUTURE_S before it has stepped back (a dead clock battery, a
 * board that boots before its time is synchronised).
 */
int store_newest_received(struct store *st, int64_t *at, char *err, size_t err_cap);

/*
 * Evicts the oldest bundles until every publisher and the total are within the
 * quotas (needed after store_set_limits() lowers them), at most max_n (0: no
 * bound) in one transaction, remembering their ids. When the own publisher's
 * bundles alone exceed the total, they stay and the call still succeeds. Sets
 * *n_removed unless NULL.
 */
int store_evict(struct store *st, int64_t now, uint64_t max_n, uint64_t *n_removed, char *err,
                size_t err_cap);

/* What store_recover() found and kept. */
struct store_recovery {
    char saved_as[4096];   /* the copy of the damaged store, kept for the operator */
    bool n_expected_known; /* the damaged store's own count could be read */
    uint64_t n_expected;   /* bundles the damaged store counted */
    uint64_t n_read;       /* bundles read from it */
    uint64_t n_kept;       /* stored again: read, checked and accepted */
    uint64_t bytes_kept;   /* their bytes */
    uint64_t n_failed;     /* read, but failed the check (their bytes are damaged) */
    uint64_t n_refused;    /* checked, but refused by the store (dated ahead, a third
                              bundle for one sequence) */
    uint64_t n_unreadable; /* places in the bundles' table SQLite could not read */
    bool scanned;          /* the file's pages were read one by one as well */
    uint64_t n_scanned;    /* bundles found only that way */
    uint64_t n_counters;   /* publishing sequence counters kept */
    uint64_t n_remembered; /* remembered ids and sequences kept */
    const char *lost[4];   /* the tables of those that could not be read whole */
    size_t n_lost;
};

/*
 * Checks one bundle read back from a damaged store. With `verify`: 0 and *m
 * filled (as store_meta_from_header() fills it) when it is whole and
 * genuine. Without: only its header is read, for m->id (cheap), and 0 means
 * that it parsed. A negative error otherwise.
 */
typedef int (*store_check_cb)(const uint8_t *bytes, size_t len, bool verify, struct store_meta *m,
                              void *ctx);

/*
 * Rebuilds the store of the data folder `dir` from what can still be read of
 * it (STORE.md, "Recovering a damaged store"). Takes the folder's lock (fails
 * with -EBUSY while a samizdatd holds it), copies store.sqlite and its WAL
 * aside (r->saved_as), reads every bundle SQLite can still reach, skipping
 * the places it cannot, passes each to `check` and stores those it accepts
 * in a new store, with the sequence counters and the remembered ids and
 * sequences it can read, and then puts the new store in place of the old.
 * A crash or a failure leaves either the old store or the new one in place,
 * never neither (store_open() finishes a swap that was cut short). On
 * failure nothing is changed and the copy is removed. Returns 0, -ENOENT (no
 * store), -EBUSY, -EIO (nothing readable), -ENOSPC, -ENOMEM, -EACCES.
 */
int store_recover(const char *dir, store_check_cb check, void *ctx, int64_t now,
                  struct store_recovery *r, char *err, size_t err_cap);

#endif
