/*
 * The bundle store: SQLite in WAL mode with synchronous=FULL. Metadata rows are
 * kept apart from the bundle bytes so that index and metadata scans never touch
 * blob pages; aggregate tables, maintained by triggers in the same transaction,
 * answer per-publisher usage and totals without scanning. See STORE.md.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "samizdat/common.h"

/* "szst" (0x737a7374): marks the database as a samizdat store (PRAGMA application_id). */
#define STORE_APPLICATION_ID 1937404788
#define STR_(x) #x
#define STR(x) STR_(x)
/* Page cache per connection, in KiB (negative cache_size = KiB). */
#define STORE_CACHE_KIB 2048
/* The WAL file is truncated to this size after a checkpoint. */
#define STORE_WAL_LIMIT_BYTES (64 << 20)
/* How long to wait for a lock held by another program (a sqlite3 shell). */
#define STORE_BUSY_TIMEOUT_MS 5000

/*
 * Version 2: per publisher, the highest sequence evicted for a quota and when
 * (the latest such eviction), so that gossip does not fetch the evicted
 * sequences again after a restart. The ids are in history; this is their floor.
 */
#define EVICTED_SQL                                                                                \
    "CREATE TABLE evicted ("                                                                       \
    "  publisher BLOB PRIMARY KEY,"                                                                \
    "  last_seq INTEGER NOT NULL,"                                                                 \
    "  at INTEGER NOT NULL) WITHOUT ROWID;"

/*
 * Version 3: the sequences evicted above that floor (a bundle dated before
 * lower sequences still held), each with when, so that gossip does not fetch
 * them again either: they were fetched, stored and evicted at every SUMMARY.
 */
#define GONE_SQL                                                                                   \
    "CREATE TABLE gone ("                                                                          \
    "  publisher BLOB NOT NULL,"                                                                   \
    "  sequence INTEGER NOT NULL,"                                                                 \
    "  at INTEGER NOT NULL,"                                                                       \
    "  PRIMARY KEY (publisher, sequence)) WITHOUT ROWID;"                                          \
    "CREATE INDEX gone_by_at ON gone(at);"

/*
 * Version 4: the (publisher, sequence) pairs held by more than one bundle (the
 * evidence of equivocation). A put adds its pair when its check finds one
 * (put_one()); a trigger drops a pair when a delete leaves one bundle of it,
 * looking at the bundles only for a pair listed (usually none is). Listing
 * them scanned every bundle (a GROUP BY), at each link a peer opened: a
 * second for a million bundles.
 */
#define EQUIVS_SQL                                                                                 \
    "CREATE TABLE equivs ("                                                                        \
    "  publisher BLOB NOT NULL,"                                                                   \
    "  sequence INTEGER NOT NULL,"                                                                 \
    "  PRIMARY KEY (publisher, sequence)) WITHOUT ROWID;"                                          \
    "CREATE TRIGGER equivs_del AFTER DELETE ON bundles"                                            \
    "  WHEN EXISTS (SELECT 1 FROM equivs WHERE publisher = old.publisher"                          \
    "               AND sequence = old.sequence) BEGIN"                                            \
    "  DELETE FROM equivs WHERE publisher = old.publisher AND sequence = old.sequence"             \
    "    AND (SELECT count(*) FROM (SELECT 1 FROM bundles WHERE publisher = old.publisher"         \
    "         AND sequence = old.sequence LIMIT 2)) < 2;"                                          \
    "END;"

static const char schema_sql[] =
    "BEGIN IMMEDIATE;"
    /* AUTOINCREMENT: n is never reused, so rows inserted by the current
     * transaction are exactly those above the largest n seen when it began. */
    "CREATE TABLE bundles ("
    "  n INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id BLOB NOT NULL UNIQUE CHECK (length(id) = 32),"
    "  publisher BLOB NOT NULL CHECK (length(publisher) = 32),"
    "  sequence INTEGER NOT NULL CHECK (sequence >= 0),"
    "  created INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  received INTEGER NOT NULL);"
    /* No UNIQUE on (publisher, sequence): equivocating bundles are evidence. */
    "CREATE INDEX bundles_by_seq ON bundles(publisher, sequence);"
    "CREATE INDEX bundles_by_pub_age ON bundles(publisher, created, sequence);"
    "CREATE INDEX bundles_by_age ON bundles(created, sequence);"
    "CREATE TABLE bundle_bytes (n INTEGER PRIMARY KEY, bytes BLOB NOT NULL);"
    "CREATE TABLE publishers ("
    "  publisher BLOB PRIMARY KEY,"
    "  n_bundles INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE totals ("
    "  one INTEGER PRIMARY KEY CHECK (one = 1),"
    "  n_bundles INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL);"
    "INSERT INTO totals VALUES (1, 0, 0);"
    "CREATE TABLE history ("
    "  id BLOB PRIMARY KEY,"
    "  reason INTEGER NOT NULL,"
    "  at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX history_by_at ON history(at);"
    "CREATE TABLE publisher_seq ("
    "  publisher BLOB PRIMARY KEY,"
    "  last_seq INTEGER NOT NULL) WITHOUT ROWID;" EVICTED_SQL /* Added in version 2. */
        GONE_SQL                                              /* Added in version 3. */
            EQUIVS_SQL                                        /* Added in version 4. */
    "CREATE TRIGGER bundles_ins AFTER INSERT ON bundles BEGIN"
    "  INSERT INTO publishers(publisher, n_bundles, bytes) VALUES (new.publisher, 1, new.size)"
    "    ON CONFLICT(publisher) DO UPDATE SET n_bundles = n_bundles + 1,"
    "                                         bytes = bytes + excluded.bytes;"
    "  UPDATE totals SET n_bundles = n_bundles + 1, bytes = bytes + new.size;"
    "END;"
    "CREATE TRIGGER bundles_del AFTER DELETE ON bundles BEGIN"
    "  DELETE FROM bundle_bytes WHERE n = old.n;"
    "  UPDATE publishers SET n_bundles = n_bundles - 1, bytes = bytes - old.size"
    "    WHERE publisher = old.publisher;"
    "  DELETE FROM publishers WHERE publisher = old.publisher AND n_bundles = 0;"
    "  UPDATE totals SET n_bundles = n_bundles - 1, bytes = bytes - old.size;"
    "END;"
    "PRAGMA application_id = " STR(STORE_APPLICATION_ID) ";"
                                                         "PRAGMA user_version = " STR(
                                                             STORE_SCHEMA_VERSION) ";"
                                                                                   "COMMIT;";

/* Upgrades a version 1 store (one step: STORE.md, "Schema version"). */
static const char upgrade_to_2_sql[] = "BEGIN IMMEDIATE;" EVICTED_SQL "PRAGMA user_version = 2;"
                                       "COMMIT;";
static const char upgrade_to_3_sql[] = "BEGIN IMMEDIATE;" GONE_SQL "PRAGMA user_version = 3;"
                                       "COMMIT;";
/* The pairs held before version 4: one scan of the index, once. */
static const char upgrade_to_4_sql[] =
    "BEGIN IMMEDIATE;" EQUIVS_SQL "INSERT INTO equivs(publisher, sequence)"
    " SELECT publisher, sequence FROM bundles GROUP BY publisher, sequence HAVING count(*) > 1;"
    "PRAGMA user_version = 4;"
    "COMMIT;";

enum stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_FIND,
    S_MAX_N,
    S_MAX_RECEIVED,
    S_EQUIV_CHECK,
    S_INSERT,
    S_INSERT_BYTES,
    S_DELETE_N,
    S_PUB_BYTES,
    S_MAX_SEQ,
    S_MIN_SEQ,
    S_TOTALS,
    S_OLDEST_PUB,
    S_LOWEST_OWN,
    S_OLDEST,
    S_OLDEST_OTHER,
    S_OVER_PUB,
    S_REMEMBER,
    S_UNREMEMBER,
    S_IS_REMEMBERED,
    S_FORGET,
    S_EVICTED_SET,
    S_EVICTED_GET,
    S_EVICTED_FORGET,
    S_GONE_SET,
    S_GONE_PUB,
    S_GONE_FORGET,
    S_GONE_MAX,
    S_OLDEST_EXPIRED,
    S_FUTURE_REMEMBER,
    S_FUTURE_DELETE,
    S_PUBLISHERS,
    S_LIST,
    S_PAGE_PUB,
    S_PAGE_ALL,
    S_RANGES_PUB,
    S_RANGES_ALL,
    S_RANGES_FROM,
    S_EQUIVS,
    S_EQUIVS_OF,
    S_EQUIVS_ADD,
    S_SEQ_GET,
    S_SEQ_SET,
    S_HISTORY_COUNT,
    S_HISTORY_TRIM,
    S_GONE_COUNT,
    S_GONE_TRIM,
    S_EVICTED_COUNT,
    S_EVICTED_TRIM,
    N_STMT
};

static const char *const stmt_sql[N_STMT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_FIND] = "SELECT n, publisher, sequence, created, size, received FROM bundles WHERE id = ?1",
    [S_MAX_N] = "SELECT coalesce(max(n), 0) FROM bundles",
    [S_MAX_RECEIVED] = "SELECT coalesce(max(received), 0) FROM bundles",
    /* How many others have this publisher and sequence: 0, 1, or 2 (at least). */
    [S_EQUIV_CHECK] = "SELECT count(*) FROM (SELECT 1 FROM bundles"
                      " WHERE publisher = ?1 AND sequence = ?2 AND id <> ?3 LIMIT 2)",
    [S_INSERT] = "INSERT INTO bundles(id, publisher, sequence, created, size, received)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_INSERT_BYTES] = "INSERT INTO bundle_bytes(n, bytes) VALUES (?1, ?2)",
    [S_DELETE_N] = "DELETE FROM bundles WHERE n = ?1",
    [S_PUB_BYTES] = "SELECT n_bundles, bytes FROM publishers WHERE publisher = ?1",
    [S_MAX_SEQ] = "SELECT max(sequence) FROM bundles WHERE publisher = ?1",
    [S_MIN_SEQ] = "SELECT sequence FROM bundles WHERE publisher = ?1 ORDER BY sequence LIMIT 1",
    [S_TOTALS] = "SELECT n_bundles, bytes FROM totals WHERE one = 1",
    [S_OLDEST_PUB] = "SELECT n, id, publisher, sequence FROM bundles WHERE publisher = ?1"
                     " ORDER BY created, sequence, n LIMIT 1",
    /* The own publisher's, dated by this machine's clock, which may step back. */
    [S_LOWEST_OWN] = "SELECT n, id, publisher, sequence FROM bundles WHERE publisher = ?1"
                     " ORDER BY sequence, created, n LIMIT 1",
    [S_OLDEST] = "SELECT n, id, publisher, sequence FROM bundles"
                 " ORDER BY created, sequence, n LIMIT 1",
    /* The same walk of bundles_by_age, passing over the own publisher's bundles. */
    [S_OLDEST_OTHER] = "SELECT n, id, publisher, sequence FROM bundles WHERE publisher <> ?1"
                       " ORDER BY created, sequence, n LIMIT 1",
    [S_OVER_PUB] = "SELECT publisher FROM publishers WHERE bytes > ?1 LIMIT 1",
    [S_REMEMBER] = "INSERT OR REPLACE INTO history(id, reason, at) VALUES (?1, ?2, ?3)",
    [S_UNREMEMBER] = "DELETE FROM history WHERE id = ?1",
    [S_IS_REMEMBERED] = "SELECT reason, at FROM history WHERE id = ?1",
    [S_FORGET] = "DELETE FROM history WHERE at <= ?1",
    [S_EVICTED_SET] = "INSERT INTO evicted(publisher, last_seq, at) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT(publisher) DO UPDATE SET"
                      " last_seq = max(last_seq, excluded.last_seq), at = excluded.at",
    [S_EVICTED_GET] = "SELECT last_seq, at FROM evicted WHERE publisher = ?1",
    [S_EVICTED_FORGET] = "DELETE FROM evicted WHERE at <= ?1",
    [S_GONE_SET] = "INSERT INTO gone(publisher, sequence, at) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT(publisher, sequence) DO UPDATE SET at = excluded.at",
    [S_GONE_PUB] = "SELECT sequence FROM gone WHERE publisher = ?1 AND at > ?2 ORDER BY sequence",
    [S_GONE_FORGET] = "DELETE FROM gone WHERE at <= ?1",
    [S_GONE_MAX] = "SELECT coalesce(max(sequence), 0) FROM gone WHERE publisher = ?1",
    [S_OLDEST_EXPIRED] = "SELECT n, id, publisher, sequence FROM bundles WHERE created < ?1"
                         " ORDER BY created, sequence, n LIMIT 1",
    /* ?5: the own publisher, whose bundles (dated by this clock) are kept. */
    [S_FUTURE_REMEMBER] = "INSERT OR REPLACE INTO history(id, reason, at)"
                          " SELECT id, ?3, ?4 FROM bundles WHERE created > ?1 AND publisher <> ?5"
                          " ORDER BY created, sequence, n LIMIT ?2",
    [S_FUTURE_DELETE] = "DELETE FROM bundles WHERE n IN (SELECT n FROM bundles WHERE created > ?1"
                        " AND publisher <> ?5 ORDER BY created, sequence, n LIMIT ?2)",
    [S_PUBLISHERS] = "SELECT p.publisher, p.n_bundles, p.bytes,"
                     " (SELECT max(b.sequence) FROM bundles b WHERE b.publisher = p.publisher)"
                     " FROM publishers p ORDER BY p.publisher",
    [S_LIST] = "SELECT id, publisher, sequence, created, size, received FROM bundles"
               " WHERE publisher = ?1 AND sequence >= ?2 ORDER BY sequence, n",
    /* A page of a listing: the order is (publisher, sequence, id), after a cursor. */
    [S_PAGE_PUB] = "SELECT id, publisher, sequence, created, size, received FROM bundles"
                   " WHERE publisher = ?1 AND sequence >= ?2 AND (sequence, id) > (?3, ?4)"
                   " ORDER BY sequence, id LIMIT ?5",
    [S_PAGE_ALL] = "SELECT id, publisher, sequence, created, size, received FROM bundles"
                   " WHERE sequence >= ?1 AND (publisher, sequence, id) > (?2, ?3, ?4)"
                   " ORDER BY publisher, sequence, id LIMIT ?5",
    [S_RANGES_PUB] = "SELECT publisher, sequence FROM bundles"
                     " WHERE publisher = ?1 AND sequence >= ?2 ORDER BY sequence",
    [S_RANGES_ALL] = "SELECT publisher, sequence FROM bundles"
                     " WHERE sequence >= ?1 ORDER BY publisher, sequence",
    [S_RANGES_FROM] = "SELECT publisher, sequence FROM bundles"
                      " WHERE publisher >= ?1 ORDER BY publisher, sequence",
    /*
     * The groups kept in equivs (version 4), then one pair per group: its
     * first two bundles, each a search of bundles_by_seq. (All pairs of a
     * group of thousands, as a store from before STORE_EXTRA may hold, were
     * millions of rows to sort.)
     */
    [S_EQUIVS] = "SELECT e.publisher, e.sequence,"
                 " (SELECT a.id FROM bundles a WHERE a.publisher = e.publisher"
                 "  AND a.sequence = e.sequence ORDER BY a.n LIMIT 1),"
                 " (SELECT b.id FROM bundles b WHERE b.publisher = e.publisher"
                 "  AND b.sequence = e.sequence ORDER BY b.n LIMIT 1 OFFSET 1)"
                 " FROM equivs e ORDER BY e.publisher, e.sequence",
    /* One publisher and sequence: a search of the (publisher, sequence) index. */
    [S_EQUIVS_OF] = "SELECT a.publisher, a.sequence, a.id, b.id FROM bundles a"
                    " JOIN bundles b ON b.publisher = a.publisher AND b.sequence = a.sequence"
                    "                 AND b.n > a.n"
                    " WHERE a.publisher = ?1 AND a.sequence = ?2 ORDER BY a.n, b.n LIMIT 4",
    [S_EQUIVS_ADD] = "INSERT OR IGNORE INTO equivs(publisher, sequence) VALUES (?1, ?2)",
    [S_SEQ_GET] = "SELECT last_seq FROM publisher_seq WHERE publisher = ?1",
    [S_SEQ_SET] = "INSERT OR REPLACE INTO publisher_seq(publisher, last_seq) VALUES (?1, ?2)",
    /* The bound on remembered rows (trim_remembered()): the oldest go first. */
    [S_HISTORY_COUNT] = "SELECT count(*) FROM history",
    [S_HISTORY_TRIM] = "DELETE FROM history WHERE id IN"
                       " (SELECT id FROM history ORDER BY at, id LIMIT ?1)",
    [S_GONE_COUNT] = "SELECT count(*) FROM gone",
    [S_GONE_TRIM] = "DELETE FROM gone WHERE (publisher, sequence) IN"
                    " (SELECT publisher, sequence FROM gone ORDER BY at, publisher, sequence"
                    "  LIMIT ?1)",
    [S_EVICTED_COUNT] = "SELECT count(*) FROM evicted",
    [S_EVICTED_TRIM] = "DELETE FROM evicted WHERE publisher IN"
                       " (SELECT publisher FROM evicted ORDER BY at, publisher LIMIT ?1)",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[N_STMT];
    int lock_fd;
    bool in_cb; /* a callback is running: store calls are refused */
    struct store_limits lim;
    bool has_own; /* own: the node's own publisher, never evicted for the total quota */
    uint8_t own[SZ_PUBLIC_KEY_LEN];
    uint64_t n_future; /* STORE_FUTURE refusals committed since open */
    /* Rows written to history, gone and evicted since their sizes were last
     * held to lim.max_remembered (trim_remembered()). */
    uint64_t remembered_added;
    uint64_t n_remembered_dropped; /* rows dropped for max_remembered since open */
    int upgraded_from;             /* the schema version store_open() upgraded, or 0 */
    bool newest_known;             /* newest_received is read (store_newest_received()) */
    int64_t damage_seen_at;        /* when SQLite last said the file is damaged, or 0 */
    char damage_what[96];          /* what it was doing then */
    int64_t newest_received;
    char *dir;
    char *db_path;
    char *lock_path;
};

static void set_err(char *err, size_t err_cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int finish_recovery(struct store *st, char *err, size_t err_cap);

static void
set_err(char *err, size_t err_cap, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
}

/*
 * Turns a SQLite result code into a negated errno and a message naming what
 * failed and what the operator can do about it.
 */
static int
db_error(struct store *st, int rc, const char *what, char *err, size_t err_cap)
{
    const char *advice;
    int code;

    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        code = -ENOMEM;
        advice = "the system is out of memory: free memory and retry";
        break;
    case SQLITE_FULL:
        code = -ENOSPC;
        advice = "the disk is full: free space on the data folder's file system (lower "
                 "quotas only limit growth: the store file does not shrink)";
        break;
    case SQLITE_IOERR:
        /* No room for the -shm or a write on a full disk arrive as I/O errors. */
        if (rc == SQLITE_IOERR_SHMSIZE ||
            (st != NULL && st->db != NULL && sqlite3_system_errno(st->db) == ENOSPC)) {
            code = -ENOSPC;
            advice = "the disk is full: free space on the data folder's file system";
            break;
        }
        code = -EIO;
        advice = "check the disk and the file system holding the data folder (see dmesg)";
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        st->damage_seen_at = (int64_t)time(NULL);
        snprintf(st->damage_what, sizeof st->damage_what, "%s", what);
        code = -EIO;
        advice = "the database is damaged: stop samizdatd and run samizdatd --recover-store "
                 "with the same settings (it rebuilds the store from every bundle that can "
                 "still be read and verified, and keeps a copy of the damaged one); what it "
                 "cannot keep comes back from peers";
        break;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        code = -EACCES;
        advice = "make the data folder and the files in it writable by the user running "
                 "samizdatd";
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = -EBUSY;
        advice = "another program (a sqlite3 shell?) holds the database: close it and retry";
        break;
    case SQLITE_TOOBIG:
        code = -EINVAL;
        advice = "the value is larger than SQLite accepts: lower the bundle size limit";
        break;
    default:
        code = -EIO;
        advice = "this is probably a bug in samizdatd: please report this message";
        break;
    }
    set_err(err, err_cap, "store %.200s: %s failed: %s (SQLite error %d); %s", st->db_path, what,
            sqlite3_errstr(rc), rc, advice);
    return code;
}

/* Refuses calls made from inside a store callback (they would reset the running
 * statement). */
static int
busy_check(struct store *st, char *err, size_t err_cap)
{
    if (!st->in_cb)
        return 0;
    set_err(err, err_cap,
            "store: a store function was called from inside a store callback; collect the "
            "results first and call the store after the iteration returns (samizdatd bug)");
    return -EINVAL;
}

static void
done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Binding a parameter of a cached statement only fails on a programmer error:
 * blobs are bound SQLITE_STATIC (no copy) and integers never allocate. */
static void
bind_blob(sqlite3_stmt *s, int i, const uint8_t *p, size_t len)
{
    int rc = sqlite3_bind_blob(s, i, p, (int)len, SQLITE_STATIC);

    assert(rc == SQLITE_OK);
    (void)rc;
}

static void
bind_i64(sqlite3_stmt *s, int i, int64_t v)
{
    int rc = sqlite3_bind_int64(s, i, v);

    assert(rc == SQLITE_OK);
    (void)rc;
}

/* Copies a BLOB column of a known length, or zeroes out when it has another one. */
static void
column_copy(sqlite3_stmt *s, int col, uint8_t *out, size_t len)
{
    const void *p = sqlite3_column_blob(s, col);

    if (p != NULL && (size_t)sqlite3_column_bytes(s, col) == len)
        memcpy(out, p, len);
    else
        memset(out, 0, len);
}

/* Steps a statement that returns no rows (or whose rows are ignored). */
static int
run(struct store *st, enum stmt which, const char *what, char *err, size_t err_cap)
{
    sqlite3_stmt *s = st->stmt[which];
    int rc = sqlite3_step(s);
    int ret = 0;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = db_error(st, rc, what, err, err_cap);
    done(s);
    return ret;
}

/*
 * Steps a statement returning at most one row of integers into v[0..n_v-1].
 * Returns 1 with a row (NULL columns read as 0), 0 without, or an error.
 */
static int
row_ints(struct store *st, enum stmt which, int64_t *v, int n_v, const char *what, char *err,
         size_t err_cap)
{
    sqlite3_stmt *s = st->stmt[which];
    int rc = sqlite3_step(s);
    int ret;

    if (rc == SQLITE_ROW) {
        for (int i = 0; i < n_v; i++)
            v[i] = sqlite3_column_int64(s, i);
        ret = 1;
    } else if (rc == SQLITE_DONE) {
        ret = 0;
    } else {
        ret = db_error(st, rc, what, err, err_cap);
    }
    done(s);
    return ret;
}

static int
begin(struct store *st, char *err, size_t err_cap)
{
    return run(st, S_BEGIN, "starting a write transaction", err, err_cap);
}

static void
rollback(struct store *st)
{
    /* An I/O error may already have rolled the transaction back. */
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_step(st->stmt[S_ROLLBACK]);
        done(st->stmt[S_ROLLBACK]);
    }
}

/*
 * Holds each table of remembered rows (history, gone, evicted) to
 * lim.max_remembered rows, dropping the oldest: the refusals a peer can cause
 * (a bundle of a made-up publisher, dated long ago, is remembered and its
 * sequence kept as gone) count against no quota, and remember_s alone let
 * them grow the store file without bound. A row dropped early only lets its
 * id be fetched once more, then refused or evicted again.
 */
static int
trim_remembered(struct store *st, char *err, size_t err_cap)
{
    static const struct {
        enum stmt count, trim;
        const char *what;
    } t[] = {{S_HISTORY_COUNT, S_HISTORY_TRIM, "remembered ids"},
             {S_GONE_COUNT, S_GONE_TRIM, "evicted sequences"},
             {S_EVICTED_COUNT, S_EVICTED_TRIM, "evicted floors"}};
    char what[64];

    st->remembered_added = 0;
    if (st->lim.max_remembered == 0)
        return 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int64_t n = 0;
        int ret;

        snprintf(what, sizeof what, "counting %s", t[i].what);
        ret = row_ints(st, t[i].count, &n, 1, what, err, err_cap);
        if (ret < 0)
            return ret;
        if (n <= 0 || (uint64_t)n <= st->lim.max_remembered)
            continue;
        bind_i64(st->stmt[t[i].trim], 1, n - (int64_t)st->lim.max_remembered);
        snprintf(what, sizeof what, "dropping the oldest %s", t[i].what);
        ret = run(st, t[i].trim, what, err, err_cap);
        if (ret < 0)
            return ret;
        st->n_remembered_dropped += (uint64_t)sqlite3_changes(st->db);
    }
    return 0;
}

/*
 * Rows of remembered ids written between two trims: a sixteenth of the bound
 * (at least 256), so that the tables exceed it by at most that much and the
 * counting stays a small part of the writing.
 */
static bool
trim_due(const struct store *st)
{
    uint64_t step = st->lim.max_remembered / 16;

    return st->lim.max_remembered > 0 && st->remembered_added >= (step < 256 ? 256 : step);
}

/*
 * Commits; the WAL is fsynced before COMMIT returns (synchronous=FULL). The
 * bound on remembered rows is held first, in the same transaction, when due.
 */
static int
commit(struct store *st, char *err, size_t err_cap)
{
    int ret = trim_due(st) ? trim_remembered(st, err, err_cap) : 0;

    if (ret < 0) {
        rollback(st);
        return ret;
    }
    ret = run(st, S_COMMIT, "committing (writing to disk)", err, err_cap);

    if (ret < 0)
        rollback(st);
    return ret;
}

/* trim_remembered() in a transaction of its own, outside any other. */
static int
trim_committed(struct store *st, char *err, size_t err_cap)
{
    int ret = begin(st, err, err_cap);

    if (ret < 0)
        return ret;
    ret = trim_remembered(st, err, err_cap);
    if (ret < 0) {
        rollback(st);
        return ret;
    }
    return commit(st, err, err_cap);
}

/* now - span without overflow; span > 0. */
static int64_t
before(int64_t now, int64_t span)
{
    if (now < INT64_MIN + span)
        return INT64_MIN;
    return now - span;
}

/* now + span without overflow; span > 0. */
static int64_t
after(int64_t now, int64_t span)
{
    if (now > INT64_MAX - span)
        return INT64_MAX;
    return now + span;
}

/* Looks up a bundle: 1 and its n and metadata (m may be NULL), 0, or an error. */
static int
find(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], int64_t *n, struct store_meta *m,
     char *err, size_t err_cap)
{
    sqlite3_stmt *s = st->stmt[S_FIND];
    int rc, ret;

    bind_blob(s, 1, id, SZ_BUNDLE_ID_LEN);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(s, 0);
        if (m != NULL) {
            memcpy(m->id, id, SZ_BUNDLE_ID_LEN);
            column_copy(s, 1, m->publisher, SZ_PUBLIC_KEY_LEN);
            m->sequence = (uint64_t)sqlite3_column_int64(s, 2);
            m->created = sqlite3_column_int64(s, 3);
            m->size = (uint64_t)sqlite3_column_int64(s, 4);
            m->received = sqlite3_column_int64(s, 5);
        }
        ret = 1;
    } else if (rc == SQLITE_DONE) {
        ret = 0;
    } else {
        ret = db_error(st, rc, "looking up a bundle", err, err_cap);
    }
    done(s);
    return ret;
}

static int
remember(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], int reason, int64_t now, char *err,
         size_t err_cap)
{
    sqlite3_stmt *s = st->stmt[S_REMEMBER];

    bind_blob(s, 1, id, SZ_BUNDLE_ID_LEN);
    bind_i64(s, 2, reason);
    bind_i64(s, 3, now);
    st->remembered_added++;
    return run(st, S_REMEMBER, "remembering an id", err, err_cap);
}

static int
delete_n(struct store *st, int64_t n, char *err, size_t err_cap)
{
    bind_i64(st->stmt[S_DELETE_N], 1, n);
    return run(st, S_DELETE_N, "deleting a bundle", err, err_cap);
}

/* Bytes held for one publisher (0 when none). */
static int
publisher_bytes(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t *bytes,
                char *err, size_t err_cap)
{
    int64_t v[2] = {0, 0};
    int ret;

    bind_blob(st->stmt[S_PUB_BYTES], 1, publisher, SZ_PUBLIC_KEY_LEN);
    ret = row_ints(st, S_PUB_BYTES, v, 2, "reading publisher usage", err, err_cap);
    if (ret < 0)
        return ret;
    *bytes = (uint64_t)v[1];
    return 0;
}

static int
total_bytes(struct store *st, uint64_t *bytes, char *err, size_t err_cap)
{
    int64_t v[2] = {0, 0};
    int ret = row_ints(st, S_TOTALS, v, 2, "reading the totals", err, err_cap);

    if (ret < 0)
        return ret;
    *bytes = (uint64_t)v[1];
    return 0;
}

/* What an eviction pass may touch: the items of the running batch, if any. */
struct evict_ctx {
    struct store_item *items;
    size_t n_items;
    int64_t n_before; /* rows with n above this were inserted by this transaction */
    int64_t now;
    uint64_t budget; /* evictions left; UINT64_MAX when unbounded */
    uint64_t n_evicted;
    uint64_t n_future; /* items refused as STORE_FUTURE */
};

/* Keeps sequence of pub as gone (store_gone_seqs()), dated now. */
static int
record_gone(struct store *st, const uint8_t *pub, int64_t sequence, int64_t now, char *err,
            size_t err_cap)
{
    bind_blob(st->stmt[S_GONE_SET], 1, pub, SZ_PUBLIC_KEY_LEN);
    bind_i64(st->stmt[S_GONE_SET], 2, sequence);
    bind_i64(st->stmt[S_GONE_SET], 3, now);
    st->remembered_added++;
    return run(st, S_GONE_SET, "recording an evicted or expired sequence", err, err_cap);
}

/*
 * Removes the bundle in row n (id, pub, sequence), remembering its id for
 * `reason`, and raises the floor gossip asks above (store_evicted_seq()) in
 * the same transaction: to the sequence removed, but never as high as a
 * sequence still held. Eviction and expiry go by creation time, which the
 * publisher chooses: a backdated bundle (or one from a clock that ran ahead,
 * then fixed) goes before lower sequences that are newer, and those, if
 * missing here, must still be fetched; the sequence removed is then kept as
 * gone (store_gone_seqs()) alone.
 */
static int
drop_row(struct store *st, int64_t n, const uint8_t *id, const uint8_t *pub, int64_t sequence,
         int reason, int64_t now, char *err, size_t err_cap)
{
    int64_t lowest = 0;
    int ret = remember(st, id, reason, now, err, err_cap);

    if (ret < 0)
        return ret;
    ret = delete_n(st, n, err, err_cap);
    if (ret < 0)
        return ret;
    bind_blob(st->stmt[S_MIN_SEQ], 1, pub, SZ_PUBLIC_KEY_LEN);
    ret =
        row_ints(st, S_MIN_SEQ, &lowest, 1, "reading a publisher's lowest sequence", err, err_cap);
    if (ret < 0)
        return ret;
    if (ret == 1 && lowest - 1 < sequence) {
        ret = record_gone(st, pub, sequence, now, err, err_cap);
        if (ret < 0)
            return ret;
        sequence = lowest - 1;
    }
    if (sequence > 0) {
        bind_blob(st->stmt[S_EVICTED_SET], 1, pub, SZ_PUBLIC_KEY_LEN);
        bind_i64(st->stmt[S_EVICTED_SET], 2, sequence);
        bind_i64(st->stmt[S_EVICTED_SET], 3, now);
        st->remembered_added++;
        ret = run(st, S_EVICTED_SET, "recording an eviction", err, err_cap);
        if (ret < 0)
            return ret;
    }
    return 0;
}

/* The row picked by statement s (n, id, publisher, sequence): 1, 0 when none. */
static int
pick_row(struct store *st, sqlite3_stmt *s, int64_t *n, uint8_t id[SZ_BUNDLE_ID_LEN],
         uint8_t pub[SZ_PUBLIC_KEY_LEN], int64_t *sequence, char *err, size_t err_cap)
{
    int rc = sqlite3_step(s), ret = 0;

    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(s, 0);
        column_copy(s, 1, id, SZ_BUNDLE_ID_LEN);
        column_copy(s, 2, pub, SZ_PUBLIC_KEY_LEN);
        *sequence = sqlite3_column_int64(s, 3);
        ret = 1;
    } else if (rc != SQLITE_DONE) {
        ret = db_error(st, rc, "finding the oldest bundle", err, err_cap);
    }
    done(s);
    return ret;
}

/*
 * Evicts the oldest bundle of `publisher`, or when NULL (for the total quota)
 * the oldest of any publisher but the own one: an honest node must not lose
 * what it publishes to whoever fills its store. Sets *gone to false when there
 * is nothing to evict.
 */
static int
evict_oldest(struct store *st, struct evict_ctx *ec, const uint8_t *publisher, bool *gone,
             char *err, size_t err_cap)
{
    enum stmt which = publisher == NULL ? (st->has_own ? S_OLDEST_OTHER : S_OLDEST)
                      : st->has_own && memcmp(publisher, st->own, SZ_PUBLIC_KEY_LEN) == 0
                          ? S_LOWEST_OWN
                          : S_OLDEST_PUB;
    sqlite3_stmt *s = st->stmt[which];
    uint8_t id[SZ_BUNDLE_ID_LEN], pub[SZ_PUBLIC_KEY_LEN];
    int64_t n = 0, sequence = 0;
    int ret;

    if (publisher != NULL)
        bind_blob(s, 1, publisher, SZ_PUBLIC_KEY_LEN);
    else if (st->has_own)
        bind_blob(s, 1, st->own, SZ_PUBLIC_KEY_LEN);
    *gone = false;
    ret = pick_row(st, s, &n, id, pub, &sequence, err, err_cap);
    if (ret <= 0)
        return ret;
    ret = drop_row(st, n, id, pub, sequence, STORE_REASON_EVICTED, ec->now, err, err_cap);
    if (ret < 0)
        return ret;
    *gone = true;
    ec->n_evicted++;
    if (ec->budget != UINT64_MAX)
        ec->budget--;
    /* A bundle stored earlier in this batch was the oldest: tell its caller. */
    if (n > ec->n_before) {
        for (size_t i = 0; i < ec->n_items; i++) {
            struct store_item *it = &ec->items[i];

            if (it->status == STORE_STORED && memcmp(it->meta.id, id, SZ_BUNDLE_ID_LEN) == 0) {
                it->status = STORE_EVICTED;
                break;
            }
        }
    }
    return 0;
}

/*
 * Evicts the oldest bundles of `publisher` (of anyone but the own publisher
 * when NULL) until its bytes (the store's total when NULL) are within limit,
 * or nothing evictable is left: the own publisher's bundles alone may hold
 * more than the total, and then the loop ends without error.
 */
static int
evict_to(struct store *st, struct evict_ctx *ec, const uint8_t *publisher, uint64_t limit,
         char *err, size_t err_cap)
{
    uint64_t bytes;
    bool gone = true;
    int ret;

    while (gone && ec->budget > 0) {
        ret = publisher != NULL ? publisher_bytes(st, publisher, &bytes, err, err_cap)
                                : total_bytes(st, &bytes, err, err_cap);
        if (ret < 0)
            return ret;
        if (bytes <= limit)
            break;
        ret = evict_oldest(st, ec, publisher, &gone, err, err_cap);
        if (ret < 0)
            return ret;
    }
    return 0;
}

/*
 * Evicts oldest first until the quotas hold: for `publisher` (or every publisher
 * over quota when NULL), then for the total.
 */
static int
enforce(struct store *st, struct evict_ctx *ec, const uint8_t *publisher, char *err, size_t err_cap)
{
    uint8_t over[SZ_PUBLIC_KEY_LEN];
    int ret;

    if (st->lim.max_publisher_bytes > 0 && publisher != NULL) {
        ret = evict_to(st, ec, publisher, st->lim.max_publisher_bytes, err, err_cap);
        if (ret < 0)
            return ret;
    } else if (st->lim.max_publisher_bytes > 0) {
        sqlite3_stmt *s = st->stmt[S_OVER_PUB];
        uint64_t before_n;

        while (ec->budget > 0) {
            int rc;

            bind_i64(s, 1, (int64_t)st->lim.max_publisher_bytes);
            rc = sqlite3_step(s);
            if (rc == SQLITE_ROW)
                column_copy(s, 0, over, SZ_PUBLIC_KEY_LEN);
            done(s);
            if (rc == SQLITE_DONE)
                break;
            if (rc != SQLITE_ROW)
                return db_error(st, rc, "finding publishers over quota", err, err_cap);
            before_n = ec->n_evicted;
            ret = evict_to(st, ec, over, st->lim.max_publisher_bytes, err, err_cap);
            if (ret < 0)
                return ret;
            if (ec->n_evicted == before_n) /* no progress: do not spin */
                break;
        }
    }
    if (st->lim.max_total_bytes > 0)
        return evict_to(st, ec, NULL, st->lim.max_total_bytes, err, err_cap);
    return 0;
}

/*
 * The time a refused future-dated id is remembered at. A bundle only a little
 * ahead (a publisher's clock a day fast) becomes acceptable once this clock
 * catches up: its entry is dated back so that it lapses then, and peers may
 * offer it again. One dated years ahead is remembered for remember_s, as any
 * refusal.
 */
static int64_t
future_remembered_at(const struct store *st, int64_t now, int64_t created)
{
    int64_t at;

    if (st->lim.remember_s <= 0)
        return now;
    at = before(before(created, STORE_MAX_FUTURE_S), st->lim.remember_s);
    return at < now ? at : now;
}

/* Stores items[i] inside the running transaction and enforces the quotas. */
static int
put_one(struct store *st, struct evict_ctx *ec, size_t i, char *err, size_t err_cap)
{
    struct store_item *it = &ec->items[i];
    const struct store_meta *m = &it->meta;
    sqlite3_stmt *ins = st->stmt[S_INSERT];
    sqlite3_stmt *ins_bytes = st->stmt[S_INSERT_BYTES];
    int64_t n = 0;
    int rc, ret;

    ret = find(st, m->id, &n, NULL, err, err_cap);
    if (ret < 0)
        return ret;
    if (ret == 1) {
        it->status = STORE_DUPLICATE;
        return 0;
    }

    if (m->sequence > (uint64_t)INT64_MAX) {
        it->status = STORE_BAD_SEQ;
        return remember(st, m->id, STORE_REASON_BAD_SEQ, ec->now, err, err_cap);
    }
    if (m->created > after(ec->now, STORE_MAX_FUTURE_S)) {
        it->status = STORE_FUTURE;
        ec->n_future++;
        return remember(st, m->id, STORE_REASON_FUTURE,
                        future_remembered_at(st, ec->now, m->created), err, err_cap);
    }
    if (st->lim.max_age_s > 0 && m->created < before(ec->now, st->lim.max_age_s)) {
        it->status = STORE_EXPIRED;
        /* Its sequence is gone too (store_gone_seqs()): dated before lower
         * sequences that are still to come or held, it would otherwise be
         * asked of peers again whenever gossip's hour of skipping it ends. */
        ret = record_gone(st, m->publisher, (int64_t)m->sequence, ec->now, err, err_cap);
        if (ret < 0)
            return ret;
        return remember(st, m->id, STORE_REASON_EXPIRED, ec->now, err, err_cap);
    }
    /* Bind the bytes first: SQLITE_TOOBIG is reported here, before any write. */
    rc = m->size > (uint64_t)INT64_MAX
             ? SQLITE_TOOBIG
             : sqlite3_bind_blob64(ins_bytes, 2, m->size > 0 ? (const void *)it->bytes : "",
                                   m->size, SQLITE_STATIC);
    if (rc != SQLITE_OK && rc != SQLITE_TOOBIG) {
        done(ins_bytes);
        return db_error(st, rc, "binding bundle bytes", err, err_cap);
    }
    if (rc == SQLITE_TOOBIG ||
        (st->lim.max_publisher_bytes > 0 && m->size > st->lim.max_publisher_bytes) ||
        (st->lim.max_total_bytes > 0 && m->size > st->lim.max_total_bytes)) {
        done(ins_bytes);
        it->status = STORE_TOO_BIG;
        return remember(st, m->id, STORE_REASON_TOO_BIG, ec->now, err, err_cap);
    }

    bind_blob(st->stmt[S_EQUIV_CHECK], 1, m->publisher, SZ_PUBLIC_KEY_LEN);
    bind_i64(st->stmt[S_EQUIV_CHECK], 2, (int64_t)m->sequence);
    bind_blob(st->stmt[S_EQUIV_CHECK], 3, m->id, SZ_BUNDLE_ID_LEN);
    ret = row_ints(st, S_EQUIV_CHECK, &n, 1, "checking for equivocation", err, err_cap);
    if (ret < 0)
        goto out;
    if (ret == 1 && n >= 2) {
        /* Two are the evidence; more would only cost (STORE.md). */
        done(ins_bytes);
        it->status = STORE_EXTRA;
        return remember(st, m->id, STORE_REASON_EXTRA, ec->now, err, err_cap);
    }
    it->equivocates = ret == 1 && n == 1;

    bind_blob(ins, 1, m->id, SZ_BUNDLE_ID_LEN);
    bind_blob(ins, 2, m->publisher, SZ_PUBLIC_KEY_LEN);
    bind_i64(ins, 3, (int64_t)m->sequence);
    bind_i64(ins, 4, m->created);
    bind_i64(ins, 5, (int64_t)m->size);
    bind_i64(ins, 6, ec->now);
    ret = run(st, S_INSERT, "storing a bundle", err, err_cap);
    if (ret < 0)
        goto out;
    if (st->newest_known && ec->now > st->newest_received)
        st->newest_received = ec->now;
    bind_i64(ins_bytes, 1, sqlite3_last_insert_rowid(st->db));
    ret = run(st, S_INSERT_BYTES, "storing bundle bytes", err, err_cap);
    if (ret < 0)
        goto out;
    if (it->equivocates) {
        bind_blob(st->stmt[S_EQUIVS_ADD], 1, m->publisher, SZ_PUBLIC_KEY_LEN);
        bind_i64(st->stmt[S_EQUIVS_ADD], 2, (int64_t)m->sequence);
        ret = run(st, S_EQUIVS_ADD, "recording an equivocation", err, err_cap);
        if (ret < 0)
            goto out;
    }
    bind_blob(st->stmt[S_UNREMEMBER], 1, m->id, SZ_BUNDLE_ID_LEN);
    ret = run(st, S_UNREMEMBER, "forgetting a stored id", err, err_cap);
    if (ret < 0)
        goto out;
    it->status = STORE_STORED;
    ret = enforce(st, ec, m->publisher, err, err_cap);
out:
    done(ins_bytes);
    return ret;
}

int
store_put_batch(struct store *st, struct store_item *items, size_t n, int64_t now, char *err,
                size_t err_cap)
{
    struct evict_ctx ec = {.items = items, .n_items = n, .now = now, .budget = UINT64_MAX};
    int ret;

    ret = busy_check(st, err, err_cap);
    if (ret < 0)
        return ret;
    for (size_t i = 0; i < n; i++) {
        if (items[i].bytes == NULL && items[i].meta.size > 0) {
            set_err(err, err_cap, "store: item %zu has no bytes (samizdatd bug)", i);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        items[i].status = STORE_PENDING;
        items[i].equivocates = false;
    }
    if (n == 0)
        return 0;

    ret = begin(st, err, err_cap);
    if (ret < 0)
        return ret;
    ret = row_ints(st, S_MAX_N, &ec.n_before, 1, "reading the last row number", err, err_cap);
    if (ret < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        ret = put_one(st, &ec, i, err, err_cap);
        if (ret < 0)
            goto fail;
    }
    ret = commit(st, err, err_cap);
    if (ret < 0)
        goto fail_status;
    st->n_future += ec.n_future;
    return 0;

fail:
    rollback(st);
fail_status:
    for (size_t i = 0; i < n; i++) {
        items[i].status = STORE_PENDING;
        items[i].equivocates = false;
    }
    return ret;
}

int
store_put(struct store *st, struct store_item *item, int64_t now, char *err, size_t err_cap)
{
    return store_put_batch(st, item, 1, now, err, err_cap);
}

void
store_meta_from_header(struct store_meta *m, const struct sz_bundle_header *hdr,
                       const uint8_t id[SZ_BUNDLE_ID_LEN], size_t len)
{
    memset(m, 0, sizeof(*m));
    memcpy(m->id, id, SZ_BUNDLE_ID_LEN);
    memcpy(m->publisher, hdr->publisher, SZ_PUBLIC_KEY_LEN);
    m->sequence = hdr->sequence;
    m->created = hdr->created;
    m->size = len;
}

int
store_has(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], char *err, size_t err_cap)
{
    int64_t n = 0;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    return find(st, id, &n, NULL, err, err_cap);
}

static int
not_found(const uint8_t id[SZ_BUNDLE_ID_LEN], char *err, size_t err_cap)
{
    set_err(err, err_cap,
            "store: bundle %02x%02x%02x%02x... is not held (evicted, expired or never "
            "stored); fetch it again from a peer",
            id[0], id[1], id[2], id[3]);
    return -ENOENT;
}

int
store_get_meta(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], struct store_meta *m,
               char *err, size_t err_cap)
{
    struct store_meta tmp;
    int64_t n = 0;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    ret = find(st, id, &n, &tmp, err, err_cap);
    if (ret < 0)
        return ret;
    if (ret == 0)
        return not_found(id, err, err_cap);
    *m = tmp;
    return 0;
}

/* Reads len bytes at offset of the bytes of row n into buf, in int-sized steps. */
static int
read_blob(struct store *st, int64_t n, uint64_t offset, uint8_t *buf, size_t len, char *err,
          size_t err_cap)
{
    sqlite3_blob *blob = NULL;
    int rc;

    rc = sqlite3_blob_open(st->db, "main", "bundle_bytes", "bytes", n, 0, &blob);
    while (rc == SQLITE_OK && len > 0) {
        int chunk = len > (size_t)INT_MAX ? INT_MAX : (int)len;

        if (offset > (uint64_t)INT_MAX - (uint64_t)chunk) {
            rc = SQLITE_TOOBIG;
            break;
        }
        rc = sqlite3_blob_read(blob, buf, chunk, (int)offset);
        buf += chunk;
        offset += (uint64_t)chunk;
        len -= (size_t)chunk;
    }
    /* Closing ends the implicit read transaction, so checkpoints can proceed. */
    sqlite3_blob_close(blob);
    if (rc != SQLITE_OK)
        return db_error(st, rc, "reading bundle bytes", err, err_cap);
    return 0;
}

int
store_get(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], uint8_t **out, size_t *out_len,
          char *err, size_t err_cap)
{
    struct store_meta m = {0};
    uint8_t *buf;
    int64_t n = 0;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    ret = find(st, id, &n, &m, err, err_cap);
    if (ret < 0)
        return ret;
    if (ret == 0)
        return not_found(id, err, err_cap);
    if (m.size > SIZE_MAX - 1 || (buf = malloc(m.size > 0 ? (size_t)m.size : 1)) == NULL) {
        set_err(err, err_cap,
                "store: out of memory for a bundle of %llu bytes; free memory "
                "or use store_read()",
                (unsigned long long)m.size);
        return -ENOMEM;
    }
    ret = read_blob(st, n, 0, buf, (size_t)m.size, err, err_cap);
    if (ret < 0) {
        free(buf);
        return ret;
    }
    *out = buf;
    *out_len = (size_t)m.size;
    return 0;
}

int
store_read(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], uint64_t offset, uint8_t *buf,
           size_t cap, size_t *n_read, char *err, size_t err_cap)
{
    struct store_meta m = {0};
    size_t len;
    int64_t n = 0;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    ret = find(st, id, &n, &m, err, err_cap);
    if (ret < 0)
        return ret;
    if (ret == 0)
        return not_found(id, err, err_cap);
    if (offset >= m.size) {
        *n_read = 0;
        return 0;
    }
    len = m.size - offset < cap ? (size_t)(m.size - offset) : cap;
    ret = read_blob(st, n, offset, buf, len, err, err_cap);
    if (ret < 0)
        return ret;
    *n_read = len;
    return 0;
}

int
store_delete(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], bool remember_it, int64_t now,
             char *err, size_t err_cap)
{
    int64_t n = 0;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    ret = begin(st, err, err_cap);
    if (ret < 0)
        return ret;
    ret = find(st, id, &n, NULL, err, err_cap);
    if (ret == 0)
        ret = not_found(id, err, err_cap);
    if (ret < 0)
        goto fail;
    if (remember_it) {
        ret = remember(st, id, STORE_REASON_DELETED, now, err, err_cap);
        if (ret < 0)
            goto fail;
    }
    ret = delete_n(st, n, err, err_cap);
    if (ret < 0)
        goto fail;
    return commit(st, err, err_cap);

fail:
    rollback(st);
    return ret;
}

int
store_totals(struct store *st, uint64_t *n_bundles, uint64_t *bytes, char *err, size_t err_cap)
{
    int64_t v[2] = {0, 0};
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    ret = row_ints(st, S_TOTALS, v, 2, "reading the totals", err, err_cap);
    if (ret < 0)
        return ret;
    *n_bundles = (uint64_t)v[0];
    *bytes = (uint64_t)v[1];
    return 0;
}

int
store_usage(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], struct store_usage *u,
            char *err, size_t err_cap)
{
    int64_t v[2] = {0, 0};
    int64_t max_seq = 0;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    bind_blob(st->stmt[S_PUB_BYTES], 1, publisher, SZ_PUBLIC_KEY_LEN);
    ret = row_ints(st, S_PUB_BYTES, v, 2, "reading publisher usage", err, err_cap);
    if (ret < 0)
        return ret;
    bind_blob(st->stmt[S_MAX_SEQ], 1, publisher, SZ_PUBLIC_KEY_LEN);
    ret = row_ints(st, S_MAX_SEQ, &max_seq, 1, "reading a publisher's sequence", err, err_cap);
    if (ret < 0)
        return ret;
    memcpy(u->publisher, publisher, SZ_PUBLIC_KEY_LEN);
    u->n_bundles = (uint64_t)v[0];
    u->bytes = (uint64_t)v[1];
    u->max_sequence = (uint64_t)max_seq;
    return 0;
}

/* Steps an iteration statement, calling `row` for each row with callbacks
 * blocked from reentering. */
static int
iterate(struct store *st, sqlite3_stmt *s, int (*row)(sqlite3_stmt *s, void *arg), void *arg,
        const char *what, char *err, size_t err_cap)
{
    int rc, ret = 0;

    st->in_cb = true;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (row(s, arg) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    st->in_cb = false;
    if (rc != SQLITE_DONE)
        ret = db_error(st, rc, what, err, err_cap);
    done(s);
    return ret;
}

struct usage_arg {
    store_usage_cb cb;
    void *ctx;
};

static int
usage_row(sqlite3_stmt *s, void *arg)
{
    struct usage_arg *a = arg;
    struct store_usage u;

    column_copy(s, 0, u.publisher, SZ_PUBLIC_KEY_LEN);
    u.n_bundles = (uint64_t)sqlite3_column_int64(s, 1);
    u.bytes = (uint64_t)sqlite3_column_int64(s, 2);
    u.max_sequence = (uint64_t)sqlite3_column_int64(s, 3);
    return a->cb(&u, a->ctx);
}

int
store_publishers(struct store *st, store_usage_cb cb, void *ctx, char *err, size_t err_cap)
{
    struct usage_arg a = {cb, ctx};
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    return iterate(st, st->stmt[S_PUBLISHERS], usage_row, &a, "listing publishers", err, err_cap);
}

struct meta_arg {
    store_meta_cb cb;
    void *ctx;
};

static int
meta_row(sqlite3_stmt *s, void *arg)
{
    struct meta_arg *a = arg;
    struct store_meta m;

    column_copy(s, 0, m.id, SZ_BUNDLE_ID_LEN);
    column_copy(s, 1, m.publisher, SZ_PUBLIC_KEY_LEN);
    m.sequence = (uint64_t)sqlite3_column_int64(s, 2);
    m.created = sqlite3_column_int64(s, 3);
    m.size = (uint64_t)sqlite3_column_int64(s, 4);
    m.received = sqlite3_column_int64(s, 5);
    return a->cb(&m, a->ctx);
}

/* Sequences above INT64_MAX are never stored, so such a bound matches nothing. */
static int64_t
since_bound(uint64_t since_sequence)
{
    return since_sequence > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)since_sequence;
}

int
store_list(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t since_sequence,
           store_meta_cb cb, void *ctx, char *err, size_t err_cap)
{
    struct meta_arg a = {cb, ctx};
    sqlite3_stmt *s = st->stmt[S_LIST];
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    if (since_sequence > (uint64_t)INT64_MAX)
        return 0;
    bind_blob(s, 1, publisher, SZ_PUBLIC_KEY_LEN);
    bind_i64(s, 2, since_bound(since_sequence));
    return iterate(st, s, meta_row, &a, "listing bundles", err, err_cap);
}

int
store_list_page(struct store *st, const uint8_t *publisher, uint64_t since_sequence,
                const struct store_cursor *after, size_t limit, store_meta_cb cb, void *ctx,
                char *err, size_t err_cap)
{
    /* Above every 32-byte id: a blob compares by its bytes, then the longer is larger. */
    static const uint8_t above_ids[SZ_BUNDLE_ID_LEN + 1] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t nothing[1] = {0};
    struct meta_arg a = {cb, ctx};
    const uint8_t *a_pub = nothing, *a_id = nothing;
    size_t a_pub_len = 0, a_id_len = 0;
    int64_t a_seq = -1;
    sqlite3_stmt *s;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    if (since_sequence > (uint64_t)INT64_MAX || limit == 0)
        return 0;
    if (after != NULL) {
        a_pub = after->publisher;
        a_pub_len = SZ_PUBLIC_KEY_LEN;
        if (after->sequence > (uint64_t)INT64_MAX) {
            /* No stored sequence is that high: what follows is the next publisher. */
            a_seq = INT64_MAX;
            a_id = above_ids;
            a_id_len = sizeof above_ids;
        } else {
            a_seq = (int64_t)after->sequence;
            a_id = after->id;
            a_id_len = SZ_BUNDLE_ID_LEN;
        }
    }
    if (publisher != NULL) {
        int c = after != NULL ? memcmp(after->publisher, publisher, SZ_PUBLIC_KEY_LEN) : -1;
        if (c > 0)
            return 0; /* the cursor is past this publisher */
        if (c < 0) {  /* before it: the whole publisher follows */
            a_seq = -1;
            a_id = nothing;
            a_id_len = 0;
        } else if (a_seq > (int64_t)since_sequence) {
            since_sequence = (uint64_t)a_seq; /* lets the index start at the cursor */
        }
        s = st->stmt[S_PAGE_PUB];
        bind_blob(s, 1, publisher, SZ_PUBLIC_KEY_LEN);
        bind_i64(s, 2, (int64_t)since_sequence);
        bind_i64(s, 3, a_seq);
        bind_blob(s, 4, a_id, a_id_len);
    } else {
        s = st->stmt[S_PAGE_ALL];
        bind_i64(s, 1, (int64_t)since_sequence);
        bind_blob(s, 2, a_pub, a_pub_len);
        bind_i64(s, 3, a_seq);
        bind_blob(s, 4, a_id, a_id_len);
    }
    bind_i64(s, 5, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
    return iterate(st, s, meta_row, &a, "listing bundles", err, err_cap);
}

struct range_arg {
    store_range_cb cb;
    void *ctx;
    bool open; /* a range [first, last] of `publisher` is being built */
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t first, last;
};

static int
range_row(sqlite3_stmt *s, void *arg)
{
    struct range_arg *a = arg;
    const void *pub = sqlite3_column_blob(s, 0);
    uint64_t seq = (uint64_t)sqlite3_column_int64(s, 1);
    int stop;

    if (pub == NULL || sqlite3_column_bytes(s, 0) != SZ_PUBLIC_KEY_LEN)
        return 0;
    if (a->open && memcmp(a->publisher, pub, SZ_PUBLIC_KEY_LEN) == 0) {
        if (seq == a->last) /* equivocating bundles share a sequence */
            return 0;
        if (seq == a->last + 1) {
            a->last = seq;
            return 0;
        }
    }
    if (a->open) {
        stop = a->cb(a->publisher, a->first, a->last, a->ctx);
        if (stop != 0) {
            a->open = false;
            return stop;
        }
    }
    memcpy(a->publisher, pub, SZ_PUBLIC_KEY_LEN);
    a->first = a->last = seq;
    a->open = true;
    return 0;
}

int
store_seq_ranges(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
                 uint64_t since_sequence, store_range_cb cb, void *ctx, char *err, size_t err_cap)
{
    struct range_arg a = {.cb = cb, .ctx = ctx};
    sqlite3_stmt *s;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    if (since_sequence > (uint64_t)INT64_MAX)
        return 0;
    if (publisher != NULL) {
        s = st->stmt[S_RANGES_PUB];
        bind_blob(s, 1, publisher, SZ_PUBLIC_KEY_LEN);
        bind_i64(s, 2, since_bound(since_sequence));
    } else {
        s = st->stmt[S_RANGES_ALL];
        bind_i64(s, 1, since_bound(since_sequence));
    }
    ret = iterate(st, s, range_row, &a, "summarising sequence ranges", err, err_cap);
    if (ret == 0 && a.open) {
        st->in_cb = true;
        cb(a.publisher, a.first, a.last, ctx);
        st->in_cb = false;
    }
    return ret;
}

int
store_seq_ranges_from(struct store *st, const uint8_t from[SZ_PUBLIC_KEY_LEN], store_range_cb cb,
                      void *ctx, char *err, size_t err_cap)
{
    struct range_arg a = {.cb = cb, .ctx = ctx};
    sqlite3_stmt *s = st->stmt[S_RANGES_FROM];
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    bind_blob(s, 1, from, SZ_PUBLIC_KEY_LEN);
    ret = iterate(st, s, range_row, &a, "summarising sequence ranges", err, err_cap);
    if (ret == 0 && a.open) {
        st->in_cb = true;
        cb(a.publisher, a.first, a.last, ctx);
        st->in_cb = false;
    }
    return ret;
}

struct equiv_arg {
    store_equiv_cb cb;
    void *ctx;
};

static int
equiv_row(sqlite3_stmt *s, void *arg)
{
    struct equiv_arg *a = arg;
    uint8_t pub[SZ_PUBLIC_KEY_LEN], id_a[SZ_BUNDLE_ID_LEN], id_b[SZ_BUNDLE_ID_LEN];

    column_copy(s, 0, pub, SZ_PUBLIC_KEY_LEN);
    column_copy(s, 2, id_a, SZ_BUNDLE_ID_LEN);
    column_copy(s, 3, id_b, SZ_BUNDLE_ID_LEN);
    return a->cb(pub, (uint64_t)sqlite3_column_int64(s, 1), id_a, id_b, a->ctx);
}

int
store_equivocations(struct store *st, store_equiv_cb cb, void *ctx, char *err, size_t err_cap)
{
    struct equiv_arg a = {cb, ctx};
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    return iterate(st, st->stmt[S_EQUIVS], equiv_row, &a, "listing equivocations", err, err_cap);
}

int
store_equivocations_of(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
                       uint64_t sequence, store_equiv_cb cb, void *ctx, char *err, size_t err_cap)
{
    struct equiv_arg a = {cb, ctx};
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    if (sequence > (uint64_t)INT64_MAX)
        return 0;
    bind_blob(st->stmt[S_EQUIVS_OF], 1, publisher, SZ_PUBLIC_KEY_LEN);
    bind_i64(st->stmt[S_EQUIVS_OF], 2, (int64_t)sequence);
    return iterate(st, st->stmt[S_EQUIVS_OF], equiv_row, &a, "listing equivocations", err, err_cap);
}

int
store_delete_batch(struct store *st, const uint8_t (*ids)[SZ_BUNDLE_ID_LEN], size_t n,
                   uint64_t *n_deleted, char *err, size_t err_cap)
{
    uint64_t deleted = 0;
    int ret = busy_check(st, err, err_cap);

    *n_deleted = 0;
    if (ret < 0)
        return ret;
    ret = begin(st, err, err_cap);
    if (ret < 0)
        return ret;
    for (size_t k = 0; k < n; k++) {
        int64_t row = 0;
        ret = find(st, ids[k], &row, NULL, err, err_cap);
        if (ret < 0)
            goto fail;
        if (ret == 0)
            continue; /* gone meanwhile */
        ret = delete_n(st, row, err, err_cap);
        if (ret < 0)
            goto fail;
        deleted++;
    }
    ret = commit(st, err, err_cap);
    if (ret == 0)
        *n_deleted = deleted;
    return ret;

fail:
    rollback(st);
    return ret;
}

int
store_seq_reserve(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t *seq,
                  char *err, size_t err_cap)
{
    return store_seq_reserve_above(st, publisher, 0, seq, err, err_cap);
}

int
store_seq_reserve_above(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
                        uint64_t floor, uint64_t *seq, char *err, size_t err_cap)
{
    int64_t last = 0, held = 0, next;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    ret = begin(st, err, err_cap);
    if (ret < 0)
        return ret;
    bind_blob(st->stmt[S_SEQ_GET], 1, publisher, SZ_PUBLIC_KEY_LEN);
    ret = row_ints(st, S_SEQ_GET, &last, 1, "reading the publishing sequence", err, err_cap);
    if (ret < 0)
        goto fail;
    /* The key may have published elsewhere before: never reuse a sequence held. */
    bind_blob(st->stmt[S_MAX_SEQ], 1, publisher, SZ_PUBLIC_KEY_LEN);
    ret = row_ints(st, S_MAX_SEQ, &held, 1, "reading a publisher's sequence", err, err_cap);
    if (ret < 0)
        goto fail;
    /* Nor one evicted for a quota (its row stays until remember_s has passed). */
    {
        int64_t ev[2] = {0, 0};
        bind_blob(st->stmt[S_EVICTED_GET], 1, publisher, SZ_PUBLIC_KEY_LEN);
        ret = row_ints(st, S_EVICTED_GET, ev, 2, "reading a publisher's evicted sequence", err,
                       err_cap);
        if (ret < 0)
            goto fail;
        if (ev[0] > held)
            held = ev[0];
        /* ...nor one evicted above that floor (a backdated bundle) or refused
         * as expired: kept in gone. */
        int64_t gone_max = 0;
        bind_blob(st->stmt[S_GONE_MAX], 1, publisher, SZ_PUBLIC_KEY_LEN);
        ret = row_ints(st, S_GONE_MAX, &gone_max, 1, "reading a publisher's evicted sequence", err,
                       err_cap);
        if (ret < 0)
            goto fail;
        if (gone_max > held)
            held = gone_max;
    }
    next = last > held ? last : held;
    if (floor > (uint64_t)next)
        next = floor > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)floor;
    if (next >= INT64_MAX) {
        set_err(err, err_cap,
                "store: the sequence numbers of this publisher key are exhausted; publish "
                "with a new key");
        ret = -EOVERFLOW;
        goto fail;
    }
    next++;
    bind_blob(st->stmt[S_SEQ_SET], 1, publisher, SZ_PUBLIC_KEY_LEN);
    bind_i64(st->stmt[S_SEQ_SET], 2, next);
    ret = run(st, S_SEQ_SET, "recording the publishing sequence", err, err_cap);
    if (ret < 0)
        goto fail;
    ret = commit(st, err, err_cap);
    if (ret < 0)
        return ret;
    *seq = (uint64_t)next;
    return 0;

fail:
    rollback(st);
    return ret;
}

int
store_remember(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], int reason, int64_t now,
               char *err, size_t err_cap)
{
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    /* A single statement commits on its own (autocommit), with one fsync. */
    ret = remember(st, id, reason, now, err, err_cap);
    if (ret < 0 || !trim_due(st))
        return ret;
    return trim_committed(st, err, err_cap);
}

int
store_is_remembered(struct store *st, const uint8_t id[SZ_BUNDLE_ID_LEN], int64_t now, int *reason,
                    char *err, size_t err_cap)
{
    int64_t v[2] = {0, 0};
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    bind_blob(st->stmt[S_IS_REMEMBERED], 1, id, SZ_BUNDLE_ID_LEN);
    ret = row_ints(st, S_IS_REMEMBERED, v, 2, "looking up the history", err, err_cap);
    if (ret <= 0)
        return ret;
    if (st->lim.remember_s > 0 && v[1] <= before(now, st->lim.remember_s))
        return 0;
    if (reason != NULL)
        *reason = (int)v[0];
    return 1;
}

int
store_upgraded_from(const struct store *st)
{
    return st->upgraded_from;
}

int
store_evicted_seq(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], int64_t now,
                  uint64_t *last_seq, char *err, size_t err_cap)
{
    int64_t v[2] = {0, 0};
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    bind_blob(st->stmt[S_EVICTED_GET], 1, publisher, SZ_PUBLIC_KEY_LEN);
    ret = row_ints(st, S_EVICTED_GET, v, 2, "looking up evictions", err, err_cap);
    if (ret <= 0)
        return ret;
    /* Lapses with the last of the ids it stands for (history). */
    if (st->lim.remember_s > 0 && v[1] <= before(now, st->lim.remember_s))
        return 0;
    *last_seq = (uint64_t)v[0];
    return 1;
}

struct gone_arg {
    const uint8_t *publisher;
    store_range_cb cb;
    void *ctx;
};

static int
gone_row(sqlite3_stmt *s, void *arg)
{
    struct gone_arg *a = arg;
    uint64_t seq = (uint64_t)sqlite3_column_int64(s, 0);
    return a->cb(a->publisher, seq, seq, a->ctx);
}

int
store_gone_seqs(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN], int64_t now,
                store_range_cb cb, void *ctx, char *err, size_t err_cap)
{
    struct gone_arg a = {publisher, cb, ctx};
    sqlite3_stmt *s = st->stmt[S_GONE_PUB];
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    bind_blob(s, 1, publisher, SZ_PUBLIC_KEY_LEN);
    bind_i64(s, 2, st->lim.remember_s > 0 ? before(now, st->lim.remember_s) : INT64_MIN);
    return iterate(st, s, gone_row, &a, "reading evicted sequences", err, err_cap);
}

int
store_forget_expired(struct store *st, int64_t now, uint64_t *n_forgotten, char *err,
                     size_t err_cap)
{
    int ret = busy_check(st, err, err_cap);
    uint64_t n = 0;

    if (ret < 0)
        return ret;
    if (st->lim.remember_s > 0) {
        bind_i64(st->stmt[S_FORGET], 1, before(now, st->lim.remember_s));
        ret = run(st, S_FORGET, "forgetting expired history", err, err_cap);
        if (ret < 0)
            return ret;
        n = (uint64_t)sqlite3_changes(st->db);
        bind_i64(st->stmt[S_EVICTED_FORGET], 1, before(now, st->lim.remember_s));
        ret = run(st, S_EVICTED_FORGET, "forgetting old evictions", err, err_cap);
        if (ret < 0)
            return ret;
        bind_i64(st->stmt[S_GONE_FORGET], 1, before(now, st->lim.remember_s));
        ret = run(st, S_GONE_FORGET, "forgetting old evictions", err, err_cap);
        if (ret < 0)
            return ret;
    }
    ret = trim_committed(st, err, err_cap);
    if (ret < 0)
        return ret;
    if (n_forgotten != NULL)
        *n_forgotten = n;
    return 0;
}

/* SQLite reads a negative LIMIT as "no limit". */
static int64_t
limit_of(uint64_t max_n)
{
    return max_n == 0 || max_n > (uint64_t)INT64_MAX ? -1 : (int64_t)max_n;
}

/*
 * Removes at most max_n (0: all) bundles of other publishers dated after
 * `bound` (the own publisher's are dated by this clock), remembering their
 * ids, inside the running transaction; adds the count to *n. Their floor is
 * not raised: they are wanted again once this clock has caught up.
 */
static int
remove_future(struct store *st, int64_t bound, uint64_t max_n, int64_t now, uint64_t *n, char *err,
              size_t err_cap)
{
    static const uint8_t none[SZ_PUBLIC_KEY_LEN];
    sqlite3_stmt *rem = st->stmt[S_FUTURE_REMEMBER];
    sqlite3_stmt *del = st->stmt[S_FUTURE_DELETE];
    int ret;

    /* Both statements pick the same rows: same filter, same total order. */
    bind_i64(rem, 1, bound);
    bind_i64(rem, 2, limit_of(max_n));
    bind_i64(rem, 3, STORE_REASON_FUTURE);
    bind_i64(rem, 4, now);
    bind_blob(rem, 5, st->has_own ? st->own : none, SZ_PUBLIC_KEY_LEN);
    ret = run(st, S_FUTURE_REMEMBER, "remembering removed bundles", err, err_cap);
    if (ret < 0)
        return ret;
    st->remembered_added += (uint64_t)sqlite3_changes(st->db);
    bind_i64(del, 1, bound);
    bind_i64(del, 2, limit_of(max_n));
    bind_blob(del, 5, st->has_own ? st->own : none, SZ_PUBLIC_KEY_LEN);
    ret = run(st, S_FUTURE_DELETE, "deleting future-dated bundles", err, err_cap);
    if (ret < 0)
        return ret;
    *n += (uint64_t)sqlite3_changes(st->db);
    return 0;
}

int
store_expire(struct store *st, int64_t now, uint64_t max_n, uint64_t *n_removed, char *err,
             size_t err_cap)
{
    uint64_t n = 0;
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    ret = begin(st, err, err_cap);
    if (ret < 0)
        return ret;
    /* One by one, as evictions go: each raises its publisher's floor, or
     * keeps its sequence as gone, so that gossip does not fetch it again from
     * a peer keeping bundles longer. */
    while (st->lim.max_age_s > 0 && (max_n == 0 || n < max_n)) {
        uint8_t id[SZ_BUNDLE_ID_LEN], pub[SZ_PUBLIC_KEY_LEN];
        int64_t row = 0, sequence = 0;

        bind_i64(st->stmt[S_OLDEST_EXPIRED], 1, before(now, st->lim.max_age_s));
        ret = pick_row(st, st->stmt[S_OLDEST_EXPIRED], &row, id, pub, &sequence, err, err_cap);
        if (ret < 0)
            goto fail;
        if (ret == 0)
            break;
        ret = drop_row(st, row, id, pub, sequence, STORE_REASON_EXPIRED, now, err, err_cap);
        if (ret < 0)
            goto fail;
        n++;
    }
    /* Dated too far ahead: a put refuses them now, but older stores may hold
     * some. Unless this clock has stepped back: then they are not ahead. */
    if (max_n == 0 || n < max_n) {
        int64_t newest = 0;
        ret = store_newest_received(st, &newest, err, err_cap);
        if (ret < 0)
            goto fail;
        if (newest <= after(now, STORE_MAX_FUTURE_S))
            ret = remove_future(st, after(now, STORE_MAX_FUTURE_S), max_n == 0 ? 0 : max_n - n, now,
                                &n, err, err_cap);
        if (ret < 0)
            goto fail;
    }
    ret = commit(st, err, err_cap);
    if (ret < 0)
        return ret;
    if (n_removed != NULL)
        *n_removed = n;
    return 0;

fail:
    rollback(st);
    return ret;
}

int
store_newest_received(struct store *st, int64_t *at, char *err, size_t err_cap)
{
    int ret;

    if (!st->newest_known) {
        ret = row_ints(st, S_MAX_RECEIVED, &st->newest_received, 1, "reading the newest bundle",
                       err, err_cap);
        if (ret < 0)
            return ret;
        st->newest_known = true;
    }
    *at = st->newest_received;
    return 0;
}

int
store_evict(struct store *st, int64_t now, uint64_t max_n, uint64_t *n_removed, char *err,
            size_t err_cap)
{
    struct evict_ctx ec = {.now = now, .budget = max_n == 0 ? UINT64_MAX : max_n};
    int ret = busy_check(st, err, err_cap);

    if (ret < 0)
        return ret;
    ret = begin(st, err, err_cap);
    if (ret < 0)
        return ret;
    ret = enforce(st, &ec, NULL, err, err_cap);
    if (ret < 0) {
        rollback(st);
        return ret;
    }
    ret = commit(st, err, err_cap);
    if (ret < 0)
        return ret;
    if (n_removed != NULL)
        *n_removed = ec.n_evicted;
    return 0;
}

void
store_set_limits(struct store *st, const struct store_limits *limits)
{
    if (limits != NULL)
        st->lim = *limits;
    else
        memset(&st->lim, 0, sizeof(st->lim));
}

void
store_set_own_publisher(struct store *st, const uint8_t publisher[SZ_PUBLIC_KEY_LEN])
{
    st->has_own = publisher != NULL;
    if (publisher != NULL)
        memcpy(st->own, publisher, SZ_PUBLIC_KEY_LEN);
    else
        memset(st->own, 0, SZ_PUBLIC_KEY_LEN);
}

uint64_t
store_n_future(const struct store *st)
{
    return st->n_future;
}

int64_t
store_damage_seen(const struct store *st, char *what, size_t what_cap)
{
    if (st->damage_seen_at != 0 && what_cap > 0)
        snprintf(what, what_cap, "%s", st->damage_what);
    return st->damage_seen_at;
}

uint64_t
store_n_remembered_dropped(const struct store *st)
{
    return st->n_remembered_dropped;
}

/* Runs a statement returning one integer (a PRAGMA), outside the cache. */
static int
query_int(struct store *st, const char *sql, int64_t *v, char *err, size_t err_cap)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *v = sqlite3_column_int64(s, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_OK)
        return db_error(st, rc, "opening the database", err, err_cap);
    return 0;
}

/* Like query_int() for a PRAGMA that answers with text (journal_mode). */
static int
query_text(struct store *st, const char *sql, char *out, size_t out_cap, char *err, size_t err_cap)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(s, 0);

            snprintf(out, out_cap, "%s", t != NULL ? (const char *)t : "");
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_OK)
        return db_error(st, rc, "configuring the database", err, err_cap);
    return 0;
}

static int
exec_sql(struct store *st, const char *sql, const char *what, char *err, size_t err_cap)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        int ret = db_error(st, rc, what, err, err_cap);

        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return ret;
    }
    return 0;
}

/*
 * Checks the schema version before anything writes to the file (switching to WAL
 * rewrites its header). Sets *create when the database is new and empty, and
 * *version to the version found.
 */
static int
check_schema(struct store *st, bool *create, int64_t *version_out, char *err, size_t err_cap)
{
    int64_t app_id = 0, version = 0, n_objects = 0;
    int ret;

    ret = query_int(st, "PRAGMA application_id", &app_id, err, err_cap);
    if (ret == 0)
        ret = query_int(st, "PRAGMA user_version", &version, err, err_cap);
    if (ret == 0)
        ret = query_int(st, "SELECT count(*) FROM sqlite_master", &n_objects, err, err_cap);
    if (ret < 0)
        return ret;
    *create = false;
    *version_out = version;
    if (version > STORE_SCHEMA_VERSION || version < 0) {
        set_err(err, err_cap,
                "store %s has schema version %lld, but this samizdatd (%s) understands only "
                "schema version %d: run the samizdatd that wrote it (or a newer one), or move "
                "the data folder %s aside to start with an empty store (a publishing node: "
                "copy its publisher.seq into the new one)",
                st->db_path, (long long)version, SZ_VERSION_STRING, STORE_SCHEMA_VERSION, st->dir);
        return -EPROTO;
    }
    if (version == 0 && app_id == 0 && n_objects == 0) {
        *create = true;
        return 0;
    }
    if (app_id != STORE_APPLICATION_ID || version == 0) {
        set_err(err, err_cap,
                "%s is an SQLite database but not a samizdat store (application_id %lld, "
                "schema version %lld): move it out of the data folder %s or choose another "
                "data folder",
                st->db_path, (long long)app_id, (long long)version, st->dir);
        return -EPROTO;
    }
    return 0;
}

/*
 * Upgrades an older store one version at a time, each step in its own
 * transaction that also sets user_version: a crash leaves a consistent older
 * or newer store.
 */
static int
upgrade(struct store *st, int64_t version, char *err, size_t err_cap)
{
    int ret = 0;

    if (version < 2)
        ret = exec_sql(st, upgrade_to_2_sql, "upgrading the store to version 2", err, err_cap);
    if (ret == 0 && version < 3)
        ret = exec_sql(st, upgrade_to_3_sql, "upgrading the store to version 3", err, err_cap);
    if (ret == 0 && version < 4)
        ret = exec_sql(st, upgrade_to_4_sql, "upgrading the store to version 4", err, err_cap);
    return ret;
}

static int
configure(struct store *st, char *err, size_t err_cap)
{
    char mode[16];
    char sql[64];
    int ret;

    ret = query_text(st, "PRAGMA journal_mode = WAL", mode, sizeof(mode), err, err_cap);
    if (ret < 0)
        return ret;
    if (strcmp(mode, "wal") != 0) {
        set_err(err, err_cap,
                "store %s: cannot switch the database to WAL mode (journal mode is \"%s\"); "
                "put the data folder on a local file system",
                st->db_path, mode);
        return -EIO;
    }
    /* FULL: the WAL is fsynced at every commit, so commits survive power loss. */
    snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", STORE_CACHE_KIB);
    ret = exec_sql(st, "PRAGMA synchronous = FULL", "configuring the database", err, err_cap);
    if (ret == 0)
        ret = exec_sql(st, sql, "configuring the database", err, err_cap);
    snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d", STORE_WAL_LIMIT_BYTES);
    if (ret == 0)
        ret = exec_sql(st, sql, "configuring the database", err, err_cap);
    if (ret == 0)
        ret = exec_sql(st,
                       "PRAGMA mmap_size = 0; PRAGMA foreign_keys = OFF;"
                       " PRAGMA trusted_schema = OFF",
                       "configuring the database", err, err_cap);
    return ret;
}

/* Makes the creation of store.sqlite durable (its directory entry). */
static int
sync_dir(struct store *st, char *err, size_t err_cap)
{
    int fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ret = 0;

    if (fd < 0 || fsync(fd) < 0) {
        ret = -errno;
        set_err(err, err_cap, "store: cannot sync the data folder %s: %s; check the disk", st->dir,
                strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    return ret;
}

static int
take_lock(struct store *st, char *err, size_t err_cap)
{
    char pid[32];
    int len;

    st->lock_fd = open(st->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (st->lock_fd < 0) {
        int e = errno;

        set_err(err, err_cap,
                "cannot open the lock file %s: %s; make the data folder %s writable by the "
                "user running samizdatd",
                st->lock_path, strerror(e), st->dir);
        return -e;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        if (e == EWOULDBLOCK) {
            /* The holder wrote its process id there. */
            char held[32] = "", by[48] = "";
            ssize_t n = pread(st->lock_fd, held, sizeof held - 1, 0);
            long holder = 0;

            if (n > 0 && sscanf(held, "%ld", &holder) == 1 && holder > 0)
                snprintf(by, sizeof by, ", process %ld", holder);
            set_err(err, err_cap,
                    "data folder %s is in use by another samizdatd (lock %s held%s); stop it "
                    "or choose another data folder",
                    st->dir, st->lock_path, by);
            return -EBUSY;
        }
        set_err(err, err_cap, "cannot lock %s: %s; put the data folder on a local file system",
                st->lock_path, strerror(e));
        return -e;
    }
    /* For the operator only: which process holds the folder. Not needed for
     * correctness, so failures are ignored. */
    len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(st->lock_fd, 0) == 0 && pwrite(st->lock_fd, pid, (size_t)len, 0) != len) {
        /* Ignored: see above. */
    }
    return 0;
}

static char *
join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(len);

    if (p != NULL)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

/*
 * Opens or creates the database st->db_path, checks and upgrades its schema
 * and prepares the queries. The caller holds the data folder's lock.
 */
static int
open_database(struct store *st, char *err, size_t err_cap)
{
    bool create = false;
    int64_t version = 0;
    int rc, ret;

    /* Something else at the store's name: SQLite would say only "cannot open". */
    {
        struct stat sst;
        if (stat(st->db_path, &sst) == 0 && !S_ISREG(sst.st_mode)) {
            set_err(err, err_cap,
                    "store %s is not a file (a folder or a device stands there): move it out "
                    "of the data folder",
                    st->db_path);
            return -EEXIST;
        }
    }

    rc = sqlite3_open_v2(st->db_path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (st->db == NULL) {
            set_err(err, err_cap, "store: out of memory opening %s", st->db_path);
            return -ENOMEM;
        }
        return db_error(st, rc, "opening the database", err, err_cap);
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    /* SQLite opens a file it may not write read-only, without an error: every
     * store would then fail, long after the daemon said it was ready. */
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        struct stat sb;
        char owner[64] = "";
        if (stat(st->db_path, &sb) == 0)
            snprintf(owner, sizeof owner, " (owner uid %u, mode %04o)", (unsigned)sb.st_uid,
                     (unsigned)(sb.st_mode & 07777));
        set_err(err, err_cap,
                "the store %s cannot be written%s, by this user (uid %u) or on a read-only "
                "disk: give it to the user the daemon runs as (chown), or choose another "
                "data folder",
                st->db_path, owner, (unsigned)geteuid());
        return -EACCES;
    }

    ret = check_schema(st, &create, &version, err, err_cap);
    if (ret < 0)
        return ret;
    ret = configure(st, err, err_cap);
    if (ret < 0)
        return ret;
    if (create) {
        ret = exec_sql(st, schema_sql, "creating the database", err, err_cap);
        if (ret == 0)
            ret = sync_dir(st, err, err_cap);
    } else if (version < STORE_SCHEMA_VERSION) {
        ret = upgrade(st, version, err, err_cap);
        if (ret == 0)
            st->upgraded_from = (int)version;
    }
    if (ret < 0)
        return ret;
    for (int i = 0; i < N_STMT; i++) {
        rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                                NULL);
        if (rc != SQLITE_OK)
            return db_error(st, rc, "preparing a query (is the schema damaged?)", err, err_cap);
    }
    return 0;
}

int
store_open(const char *dir, const struct store_limits *limits, struct store **out, char *err,
           size_t err_cap)
{
    struct store *st;
    int ret;

    st = calloc(1, sizeof(*st));
    if (st == NULL)
        goto fail_nomem;
    st->lock_fd = -1;
    store_set_limits(st, limits);
    st->dir = strdup(dir);
    st->db_path = join(dir, STORE_DB_NAME);
    st->lock_path = join(dir, STORE_LOCK_NAME);
    if (st->dir == NULL || st->db_path == NULL || st->lock_path == NULL)
        goto fail_nomem;

    /* The connection moves between libuv pool threads: SQLite must be thread-safe. */
    if (sqlite3_threadsafe() == 0) {
        set_err(err, err_cap,
                "store: the SQLite library (%s) was built without thread support; install "
                "a thread-safe SQLite",
                sqlite3_libversion());
        ret = -EINVAL;
        goto fail;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        ret = -errno;
        set_err(err, err_cap,
                "cannot create the data folder %s: %s; create it or choose another data "
                "folder",
                dir, strerror(errno));
        goto fail;
    }
    ret = take_lock(st, err, err_cap);
    if (ret == 0)
        ret = finish_recovery(st, err, err_cap);
    if (ret == 0)
        ret = open_database(st, err, err_cap);
    if (ret < 0)
        goto fail;
    *out = st;
    return 0;

fail_nomem:
    set_err(err, err_cap, "store: out of memory opening the data folder %s", dir);
    ret = -ENOMEM;
fail:
    store_close(st);
    return ret;
}

void
store_close(struct store *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < N_STMT; i++)
        sqlite3_finalize(st->stmt[i]);
    /* The last connection checkpoints the WAL into the database and removes it. */
    sqlite3_close(st->db);
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* releases the flock() */
    free(st->lock_path);
    free(st->db_path);
    free(st->dir);
    free(st);
}

/*
 * Recovering a damaged store (STORE.md, "Recovering a damaged store"). The new
 * store is built under RECOVERING_NAME, renamed to RECOVERED_NAME once it is
 * complete and synced, and only then put in place of store.sqlite, by
 * finish_recovery(), which store_open() also runs: a swap cut short by a
 * crash is finished by the next start.
 */
#define RECOVERING_NAME "store-recovering.sqlite"
#define RECOVERED_NAME "store-recovered.sqlite"
/* A batch of recovered bundles: one transaction (one sync) per batch. */
#define RECOVER_BATCH 64
#define RECOVER_BATCH_BYTES (16u << 20)
/* Row numbers tried one by one past the last row read before the searches
 * give up (the page scan then finds what lies beyond). */
#define RECOVER_GAP 1024

/* "dir/name" into buf; -ENAMETOOLONG when it does not fit. */
static int
path_in(char *buf, size_t cap, const char *dir, const char *name, const char *suffix)
{
    int len = snprintf(buf, cap, "%s/%s%s", dir, name, suffix);

    return len < 0 || (size_t)len >= cap ? -ENAMETOOLONG : 0;
}

/* Removes a database file and its -wal and -shm; missing ones are fine. */
static int
remove_db_files(const char *path)
{
    static const char *const suffix[] = {"-wal", "-shm", ""};
    char p[PATH_MAX];
    int ret = 0;

    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        int len = snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        if (len < 0 || (size_t)len >= sizeof p)
            return -ENAMETOOLONG;
        if (unlink(p) < 0 && errno != ENOENT && ret == 0)
            ret = -errno;
    }
    return ret;
}

/*
 * Puts a recovered store left complete by store_recover() in place of
 * store.sqlite: the old store's WAL and shared-memory files go first (they
 * belong to the old file), then the rename. Nothing to do when none is left.
 */
static int
finish_recovery(struct store *st, char *err, size_t err_cap)
{
    char done[PATH_MAX], p[PATH_MAX];
    static const char *const suffix[] = {"-wal", "-shm"};

    if (path_in(done, sizeof done, st->dir, RECOVERED_NAME, "") != 0 || access(done, F_OK) != 0)
        return 0;
    for (size_t i = 0; i < 2; i++) {
        if (path_in(p, sizeof p, st->dir, STORE_DB_NAME, suffix[i]) != 0)
            return -ENAMETOOLONG;
        if (unlink(p) < 0 && errno != ENOENT) {
            int e = errno;
            set_err(err, err_cap,
                    "cannot remove %s to put the recovered store %s in place: %s; remove it "
                    "by hand, then start samizdatd",
                    p, done, strerror(e));
            return -e;
        }
    }
    if (rename(done, st->db_path) < 0) {
        int e = errno;
        set_err(err, err_cap,
                "cannot put the recovered store %s in place of %s: %s; rename it by hand, then "
                "start samizdatd",
                done, st->db_path, strerror(e));
        return -e;
    }
    return sync_dir(st, err, err_cap);
}

/* Copies a file, synced, to a new file of mode 0600. Returns 0, 1 when
 * `from` does not exist, or -errno (the copy is then removed). */
static int
copy_file(const char *from, const char *to, char *err, size_t err_cap)
{
    size_t cap = 1u << 20;
    char *buf = NULL;
    int in, out = -1, ret = 0;

    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        if (errno == ENOENT)
            return 1;
        ret = -errno;
        set_err(err, err_cap, "cannot read %s to keep a copy of it: %s", from, strerror(errno));
        return ret;
    }
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    buf = malloc(cap);
    if (out < 0 || buf == NULL) {
        ret = out < 0 ? -errno : -ENOMEM;
        set_err(err, err_cap, "cannot create %s to keep a copy of %s: %s", to, from,
                strerror(-ret));
        goto out;
    }
    for (;;) {
        ssize_t got = read(in, buf, cap);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            ret = -errno;
            set_err(err, err_cap,
                    "cannot read %s to keep a copy of it: %s; the disk may be failing: copy "
                    "what you can of the data folder elsewhere first",
                    from, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        for (ssize_t off = 0; off < got;) {
            ssize_t put = write(out, buf + off, (size_t)(got - off));
            if (put < 0 && errno == EINTR)
                continue;
            if (put < 0) {
                ret = -errno;
                set_err(err, err_cap, "cannot write the copy %s: %s%s", to, strerror(errno),
                        errno == ENOSPC ? " (recovery needs room for a copy of the store and "
                                          "for the new store beside it)"
                                        : "");
                goto out;
            }
            off += put;
        }
    }
    if (fsync(out) < 0) {
        ret = -errno;
        set_err(err, err_cap, "cannot sync the copy %s: %s; check the disk", to, strerror(errno));
    }
out:
    free(buf);
    close(in);
    if (out >= 0) {
        close(out);
        if (ret < 0)
            unlink(to);
    }
    return ret;
}

/* Syncs a file the caller has closed (the new store, once SQLite let go of it). */
static int
sync_file(const char *path, char *err, size_t err_cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int ret = 0;

    if (fd < 0 || fsync(fd) < 0) {
        ret = -errno;
        set_err(err, err_cap, "cannot sync %s: %s; check the disk", path, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    return ret;
}

/* Copies store.sqlite and its WAL to store-damaged-DATE[-K].sqlite. */
static int
save_damaged(struct store *st, int64_t now, struct store_recovery *r, char *err, size_t err_cap)
{
    char stamp[32], name[64], wal_from[PATH_MAX], wal_to[PATH_MAX + 8];
    time_t t = (time_t)now;
    struct tm tm;
    int ret = -EEXIST;

    if (gmtime_r(&t, &tm) == NULL || strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm) == 0)
        snprintf(stamp, sizeof stamp, "%lld", (long long)now);
    for (int k = 1; k <= 100 && ret == -EEXIST; k++) {
        if (k == 1)
            snprintf(name, sizeof name, "store-damaged-%s.sqlite", stamp);
        else
            snprintf(name, sizeof name, "store-damaged-%s-%d.sqlite", stamp, k);
        if (path_in(r->saved_as, sizeof r->saved_as, st->dir, name, "") != 0)
            return -ENAMETOOLONG;
        ret = copy_file(st->db_path, r->saved_as, err, err_cap);
    }
    if (ret == 1) {
        set_err(err, err_cap,
                "there is no store %s to recover: check the data folder (--data-dir, or "
                "data_dir in the file given with --config)",
                st->db_path);
        r->saved_as[0] = '\0';
        return -ENOENT;
    }
    if (ret < 0) {
        r->saved_as[0] = '\0';
        return ret;
    }
    if (path_in(wal_from, sizeof wal_from, st->dir, STORE_DB_NAME, "-wal") != 0)
        ret = -ENAMETOOLONG;
    else {
        snprintf(wal_to, sizeof wal_to, "%s-wal", r->saved_as);
        ret = copy_file(wal_from, wal_to, err, err_cap);
    }
    if (ret >= 0)
        ret = sync_dir(st, err, err_cap);
    if (ret < 0) {
        (void)remove_db_files(r->saved_as);
        r->saved_as[0] = '\0';
        return ret;
    }
    return 0;
}

/* One integer from the damaged store, or false when it cannot be read. */
static bool
src_int(sqlite3 *src, const char *sql, int64_t *v)
{
    sqlite3_stmt *s = NULL;
    bool ok = false;

    if (sqlite3_prepare_v2(src, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
        *v = sqlite3_column_int64(s, 0);
        ok = true;
    }
    sqlite3_finalize(s);
    return ok;
}

/*
 * Copies the rows of the remembered tables that can be read, each table in
 * one transaction. A table that cannot be read whole is named in r->lost;
 * one the damaged store's (older) schema does not have is skipped.
 */
static int
recover_tables(sqlite3 *src, struct store *nw, struct store_recovery *r, char *err, size_t err_cap)
{
    static const struct {
        const char *select, *insert, *name;
        int n_cols;
        bool counters;
    } T[] = {
        {"SELECT publisher, last_seq FROM publisher_seq",
         "INSERT OR REPLACE INTO publisher_seq(publisher, last_seq) VALUES (?1, ?2)",
         "the publishing sequence counters", 2, true},
        {"SELECT publisher, last_seq, at FROM evicted",
         "INSERT OR REPLACE INTO evicted(publisher, last_seq, at) VALUES (?1, ?2, ?3)",
         "the highest sequences evicted", 3, false},
        {"SELECT publisher, sequence, at FROM gone",
         "INSERT OR REPLACE INTO gone(publisher, sequence, at) VALUES (?1, ?2, ?3)",
         "the sequences gone", 3, false},
        {"SELECT id, reason, at FROM history",
         "INSERT OR REPLACE INTO history(id, reason, at) VALUES (?1, ?2, ?3)", "the remembered ids",
         3, false},
    };
    int ret = 0;

    for (size_t t = 0; t < sizeof T / sizeof T[0] && ret == 0; t++) {
        sqlite3_stmt *sel = NULL, *ins = NULL;
        int rc = sqlite3_prepare_v2(src, T[t].select, -1, &sel, NULL);

        if (rc != SQLITE_OK) {
            /* Version 1 had no evicted, version 2 no gone: nothing lost. */
            if (rc != SQLITE_ERROR || strstr(sqlite3_errmsg(src), "no such table") == NULL)
                r->lost[r->n_lost++] = T[t].name;
            sqlite3_finalize(sel);
            continue;
        }
        ret = exec_sql(nw, "BEGIN IMMEDIATE", "recovering the remembered rows", err, err_cap);
        if (ret == 0) {
            rc = sqlite3_prepare_v2(nw->db, T[t].insert, -1, &ins, NULL);
            if (rc != SQLITE_OK)
                ret = db_error(nw, rc, "recovering the remembered rows", err, err_cap);
        }
        while (ret == 0 && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
            for (int c = 0; c < T[t].n_cols; c++)
                sqlite3_bind_value(ins, c + 1, sqlite3_column_value(sel, c));
            rc = sqlite3_step(ins);
            sqlite3_reset(ins);
            if (rc != SQLITE_DONE) {
                ret = db_error(nw, rc, "recovering the remembered rows", err, err_cap);
                break;
            }
            if (T[t].counters)
                r->n_counters++;
            else
                r->n_remembered++;
        }
        if (ret == 0 && rc != SQLITE_DONE)
            r->lost[r->n_lost++] = T[t].name; /* read up to the damage */
        sqlite3_finalize(sel);
        sqlite3_finalize(ins);
        if (ret == 0)
            ret = exec_sql(nw, "COMMIT", "recovering the remembered rows", err, err_cap);
        else if (!sqlite3_get_autocommit(nw->db))
            sqlite3_exec(nw->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return ret;
}

/* Stores a batch of recovered bundles and frees their bytes. */
static int
recover_flush(struct store *nw, struct store_item *items, size_t *n, int64_t now,
              struct store_recovery *r, char *err, size_t err_cap)
{
    int ret = *n > 0 ? store_put_batch(nw, items, *n, now, err, err_cap) : 0;

    for (size_t i = 0; i < *n; i++) {
        if (ret == 0 && items[i].status == STORE_STORED) {
            r->n_kept++;
            r->bytes_kept += items[i].meta.size;
        } else if (ret == 0 && items[i].status != STORE_DUPLICATE) {
            r->n_refused++;
        }
        free((void *)items[i].bytes);
        items[i].bytes = NULL;
    }
    *n = 0;
    return ret;
}

/* Checks one recovered bundle and adds it to the batch, storing the batch when full. */
struct recover_batch {
    struct store_item items[RECOVER_BATCH];
    size_t n, bytes;
};

static int
recover_one(struct store *nw, struct recover_batch *b, const void *blob, size_t len, bool scanned,
            store_check_cb check, void *ctx, int64_t now, struct store_recovery *r, char *err,
            size_t err_cap)
{
    struct store_item *it = &b->items[b->n];
    uint8_t *copy;
    int ret;

    if (!scanned)
        r->n_read++;
    if (len == 0 || blob == NULL) {
        r->n_failed++;
        return 0;
    }
    copy = malloc(len);
    if (copy == NULL) {
        set_err(err, err_cap, "store: out of memory recovering a bundle of %zu bytes", len);
        return -ENOMEM;
    }
    memcpy(copy, blob, len);
    if (check(copy, len, true, &it->meta, ctx) != 0) {
        /* Page by page, a blob that is not a whole bundle is not one lost. */
        if (!scanned)
            r->n_failed++;
        free(copy);
        return 0;
    }
    if (scanned)
        r->n_scanned++;
    it->bytes = copy;
    it->status = STORE_PENDING;
    it->equivocates = false;
    b->bytes += len;
    if (++b->n < RECOVER_BATCH && b->bytes < RECOVER_BATCH_BYTES)
        return 0;
    ret = recover_flush(nw, b->items, &b->n, now, r, err, err_cap);
    b->bytes = 0;
    return ret;
}

/*
 * Reads every bundle of the damaged store that SQLite can reach, in the order
 * of their row numbers. A search for the next row that fails (a damaged page
 * on its way) is followed by a look-up of the next number alone: each number
 * is tried until the searches pass the damage, up to the highest the store
 * numbered, and at most RECOVER_GAP past the last row read (a damaged store
 * may claim any count). Sets *complete when every row could be read.
 */
static int
recover_bundles(sqlite3 *src, struct store *nw, struct recover_batch *b, store_check_cb check,
                void *ctx, int64_t now, struct store_recovery *r, bool *complete, char *err,
                size_t err_cap)
{
    sqlite3_stmt *next = NULL, *exact = NULL;
    int64_t n = 0, upper = 0, last_read = 0, v;
    bool upper_known = false;
    int rc, ret = 0;

    *complete = false;
    if (src_int(src, "SELECT n_bundles FROM totals WHERE one = 1", &v) && v >= 0) {
        r->n_expected = (uint64_t)v;
        r->n_expected_known = true;
    }
    if (src_int(src, "SELECT seq FROM sqlite_sequence WHERE name = 'bundles'", &v)) {
        upper = v;
        upper_known = true;
    }
    if (src_int(src, "SELECT max(n) FROM bundles", &v) && v > upper) {
        upper = v;
        upper_known = true;
    }
    if (src_int(src, "SELECT max(n) FROM bundle_bytes", &v) && v > upper) {
        upper = v;
        upper_known = true;
    }
    rc = sqlite3_prepare_v2(
        src, "SELECT n, bytes FROM bundle_bytes WHERE n > ?1 ORDER BY n LIMIT 1", -1, &next, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(src, "SELECT bytes FROM bundle_bytes WHERE n = ?1", -1, &exact,
                                NULL);
    if (rc != SQLITE_OK) { /* the schema cannot be read: the pages may still be */
        sqlite3_finalize(next);
        sqlite3_finalize(exact);
        return 0;
    }
    while (ret == 0) {
        sqlite3_bind_int64(next, 1, n);
        rc = sqlite3_step(next);
        if (rc == SQLITE_ROW) {
            int64_t row = sqlite3_column_int64(next, 0);

            if (row <= n) { /* a damaged page can say anything */
                rc = SQLITE_CORRUPT;
            } else {
                n = last_read = row;
                ret = recover_one(nw, b, sqlite3_column_blob(next, 1),
                                  (size_t)sqlite3_column_bytes(next, 1), false, check, ctx, now, r,
                                  err, err_cap);
            }
        }
        sqlite3_reset(next);
        if (rc == SQLITE_ROW)
            continue;
        if (rc == SQLITE_DONE) {
            *complete =
                r->n_unreadable == 0 && (!r->n_expected_known || r->n_read >= r->n_expected);
            break;
        }
        if ((rc & 0xff) == SQLITE_NOMEM) {
            set_err(err, err_cap, "store: out of memory reading the damaged store");
            ret = -ENOMEM;
            break;
        }
        /* A page on the way to the row after n is damaged (or cannot be read):
         * look up row n + 1 alone, then search on from there. */
        if ((upper_known && n >= upper) || n - last_read >= RECOVER_GAP) {
            r->n_unreadable++;
            break;
        }
        n++;
        sqlite3_bind_int64(exact, 1, n);
        rc = sqlite3_step(exact);
        if (rc == SQLITE_ROW) {
            last_read = n;
            ret = recover_one(nw, b, sqlite3_column_blob(exact, 0),
                              (size_t)sqlite3_column_bytes(exact, 0), false, check, ctx, now, r,
                              err, err_cap);
        } else if (rc != SQLITE_DONE) {
            r->n_unreadable++;
        }
        sqlite3_reset(exact);
    }
    sqlite3_finalize(next);
    sqlite3_finalize(exact);
    return ret;
}

/*
 * Reading the file's pages one by one, for the bundles SQLite's searches
 * cannot reach (a damaged page above them, or a schema that cannot be read):
 * the file format is at sqlite.org/fileformat2.html. Each page is taken from
 * the WAL's latest committed frame of it, else from the database file; the
 * pages on the freelist are skipped (they hold bundles deleted or evicted).
 */
struct pages {
    int db_fd, wal_fd;
    uint32_t size;      /* page size */
    uint32_t usable;    /* the page size less the bytes reserved at its end */
    uint64_t n;         /* pages */
    uint64_t *wal_at;   /* per page: 1 + the offset of its frame in the WAL, or 0 */
    uint64_t wal_n;     /* pages wal_at has */
    uint8_t *free;      /* a bit per page: on the freelist */
    uint8_t *buf, *ovf; /* a page, an overflow page */
};

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* SQLite's variable-length integer at p, before end: its length, or 0. */
static size_t
get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;

    for (size_t i = 0; i < 9 && p + i < end; i++) {
        if (i == 8) {
            *v = x << 8 | p[i];
            return 9;
        }
        x = x << 7 | (p[i] & 0x7f);
        if ((p[i] & 0x80) == 0) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

static int
read_page(const struct pages *pg, uint64_t pgno, uint8_t *buf)
{
    ssize_t got;

    if (pgno == 0 || pgno > pg->n)
        return -1;
    if (pgno <= pg->wal_n && pg->wal_at[pgno - 1] != 0)
        got = pread(pg->wal_fd, buf, pg->size, (off_t)(pg->wal_at[pgno - 1] - 1));
    else
        got = pread(pg->db_fd, buf, pg->size, (off_t)((pgno - 1) * pg->size));
    return got == (ssize_t)pg->size ? 0 : -1;
}

static bool
valid_page_size(uint32_t size)
{
    return size >= 512 && size <= 65536 && (size & (size - 1)) == 0;
}

/*
 * Maps the WAL's committed frames (those before the last commit whose salts
 * match its header) to their pages. A page number beyond what the file and
 * the frames could hold (db_bytes: the database file's size) is damage: that
 * frame is left out.
 */
static int
map_wal(struct pages *pg, const char *wal_path, uint64_t db_bytes)
{
    uint8_t h[32], fh[24];
    uint64_t *frames = NULL; /* pairs: page, 1 + offset */
    size_t n_frames = 0, cap = 0, n_committed = 0;
    uint64_t max_page = pg->n;
    off_t off = 32;
    uint32_t magic, size;

    pg->wal_fd = open(wal_path, O_RDONLY | O_CLOEXEC);
    if (pg->wal_fd < 0 || pread(pg->wal_fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return 0;
    magic = be32(h);
    size = be32(h + 8);
    if ((magic != 0x377f0682 && magic != 0x377f0683) || !valid_page_size(size))
        return 0;
    pg->size = size; /* the WAL's header is written once per checkpoint: trusted over page 1 */
    for (;; off += 24 + (off_t)size) {
        if (pread(pg->wal_fd, fh, sizeof fh, off) != (ssize_t)sizeof fh ||
            memcmp(fh + 8, h + 16, 8) != 0 || be32(fh) == 0)
            break;
        if (n_frames == cap) {
            size_t ncap = cap == 0 ? 256 : cap * 2;
            uint64_t *nf = realloc(frames, ncap * 2 * sizeof *frames);
            if (nf == NULL) {
                free(frames);
                return -ENOMEM;
            }
            frames = nf;
            cap = ncap;
        }
        frames[2 * n_frames] = be32(fh);
        frames[2 * n_frames + 1] = (uint64_t)off + 24 + 1;
        n_frames++;
        if (be32(fh + 4) != 0) /* a commit: the frames up to here count */
            n_committed = n_frames;
    }
    for (size_t i = 0; i < n_committed; i++)
        if (frames[2 * i] > max_page && frames[2 * i] <= db_bytes / size + n_committed)
            max_page = frames[2 * i];
    if (n_committed > 0) {
        pg->wal_at = calloc(max_page, sizeof *pg->wal_at);
        if (pg->wal_at == NULL) {
            free(frames);
            return -ENOMEM;
        }
        pg->n = pg->wal_n = max_page;
        for (size_t i = 0; i < n_committed; i++)
            if (frames[2 * i] <= max_page)
                pg->wal_at[frames[2 * i] - 1] = frames[2 * i + 1];
    }
    free(frames);
    return 0;
}

/* Marks the pages of the freelist (page 1 says where it starts); a damaged
 * list is followed as far as it makes sense. */
static void
mark_free(struct pages *pg)
{
    uint64_t trunk, n_free, seen = 0;

    if (read_page(pg, 1, pg->buf) != 0 || memcmp(pg->buf, "SQLite format 3", 16) != 0)
        return;
    trunk = be32(pg->buf + 32);
    n_free = be32(pg->buf + 36);
    while (trunk != 0 && trunk <= pg->n && seen++ <= n_free && seen <= pg->n) {
        uint32_t k;

        pg->free[(trunk - 1) / 8] |= (uint8_t)(1u << ((trunk - 1) % 8));
        if (read_page(pg, trunk, pg->buf) != 0)
            return;
        k = be32(pg->buf + 4);
        if (k > pg->usable / 4 - 2)
            return;
        for (uint32_t i = 0; i < k; i++) {
            uint64_t leaf = be32(pg->buf + 8 + 4 * i);
            if (leaf != 0 && leaf <= pg->n)
                pg->free[(leaf - 1) / 8] |= (uint8_t)(1u << ((leaf - 1) % 8));
        }
        trunk = be32(pg->buf);
    }
}

/* The payload of a table leaf's cell at c (its local part, then its overflow
 * pages), malloc'd into *out; 0, or -1 when it does not hold together. */
static int
cell_payload(const struct pages *pg, const uint8_t *c, const uint8_t *end, uint8_t **out,
             size_t *out_len)
{
    uint64_t len, rowid, got, next, hops = 0;
    uint32_t u = pg->usable, x = u - 35, m = (u - 12) * 32 / 255 - 23, local;
    size_t k;
    uint8_t *p;

    k = get_varint(c, end, &len);
    if (k == 0)
        return -1;
    c += k;
    k = get_varint(c, end, &rowid);
    if (k == 0 || len > (uint64_t)1 << 30 || len > pg->n * (uint64_t)u)
        return -1;
    c += k;
    if (len <= x)
        local = (uint32_t)len;
    else {
        uint32_t kk = m + (uint32_t)((len - m) % (u - 4));
        local = kk <= x ? kk : m;
    }
    if (local > (size_t)(end - c) || (len > local && 4 > (size_t)(end - c - local)))
        return -1;
    p = malloc(len > 0 ? len : 1);
    if (p == NULL)
        return -1;
    memcpy(p, c, local);
    got = local;
    next = len > local ? be32(c + local) : 0;
    while (got < len) {
        uint64_t take = len - got < u - 4 ? len - got : u - 4;
        if (++hops > pg->n || read_page(pg, next, pg->ovf) != 0) {
            free(p);
            return -1;
        }
        memcpy(p + got, pg->ovf + 4, take);
        got += take;
        next = be32(pg->ovf);
    }
    *out = p;
    *out_len = len;
    return 0;
}

/* Each blob of a record that is a bundle the new store lacks is recovered. */
static int
scan_record(const uint8_t *p, size_t len, struct store *nw, struct recover_batch *b,
            store_check_cb check, void *ctx, int64_t now, struct store_recovery *r, char *err,
            size_t err_cap)
{
    const uint8_t *end = p + len, *hdr_end, *t, *data;
    uint64_t hdr_len, type;
    size_t k = get_varint(p, end, &hdr_len);

    if (k == 0 || hdr_len < k || hdr_len > len)
        return 0;
    hdr_end = p + hdr_len;
    data = hdr_end;
    for (t = p + k; t < hdr_end; t += k) {
        static const uint8_t fixed[12] = {0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0};
        uint64_t size;
        struct store_meta m;

        k = get_varint(t, hdr_end, &type);
        if (k == 0 || type == 10 || type == 11)
            return 0;
        size = type < 12 ? fixed[type] : (type - 12) / 2;
        if (size > (uint64_t)(end - data))
            return 0;
        if (type >= 12 && type % 2 == 0 && size >= 64 && check(data, size, false, &m, ctx) == 0 &&
            store_has(nw, m.id, err, err_cap) == 0 &&
            store_is_remembered(nw, m.id, now, NULL, err, err_cap) == 0) {
            int ret =
                recover_one(nw, b, data, (size_t)size, true, check, ctx, now, r, err, err_cap);
            if (ret < 0)
                return ret;
        }
        data += size;
    }
    return 0;
}

/* Reads every table leaf page of the damaged store for bundles (above). */
static int
recover_pages(const char *path, struct store *nw, struct recover_batch *b, store_check_cb check,
              void *ctx, int64_t now, struct store_recovery *r, char *err, size_t err_cap)
{
    struct pages pg = {.db_fd = -1, .wal_fd = -1, .size = 4096};
    char wal[PATH_MAX + 8];
    uint8_t h[100];
    struct stat sb;
    int ret = 0;

    r->scanned = true;
    pg.db_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (pg.db_fd < 0 || fstat(pg.db_fd, &sb) != 0) {
        int e = errno;
        set_err(err, err_cap, "cannot read %s: %s", path, strerror(e));
        ret = -e;
        goto out;
    }
    if (pread(pg.db_fd, h, sizeof h, 0) == (ssize_t)sizeof h &&
        memcmp(h, "SQLite format 3", 16) == 0) {
        uint32_t size = (uint32_t)h[16] << 8 | h[17];
        if (size == 1)
            size = 65536;
        if (valid_page_size(size))
            pg.size = size;
    }
    snprintf(wal, sizeof wal, "%s-wal", path);
    ret = map_wal(&pg, wal, (uint64_t)sb.st_size); /* may set the page size, and more pages */
    if (ret < 0)
        goto nomem;
    if (pread(pg.db_fd, h, sizeof h, 0) == (ssize_t)sizeof h &&
        memcmp(h, "SQLite format 3", 16) == 0 && h[20] < pg.size - 480)
        pg.usable = pg.size - h[20];
    else
        pg.usable = pg.size;
    if ((uint64_t)sb.st_size / pg.size > pg.n)
        pg.n = (uint64_t)sb.st_size / pg.size;
    pg.free = calloc(pg.n / 8 + 1, 1);
    pg.buf = malloc(pg.size);
    pg.ovf = malloc(pg.size);
    if (pg.free == NULL || pg.buf == NULL || pg.ovf == NULL)
        goto nomem;
    mark_free(&pg);
    for (uint64_t no = 1; no <= pg.n && ret == 0; no++) {
        size_t at = no == 1 ? 100 : 0, n_cells;
        const uint8_t *end = pg.buf + pg.usable;

        if ((pg.free[(no - 1) / 8] & (1u << ((no - 1) % 8))) != 0 ||
            read_page(&pg, no, pg.buf) != 0 || pg.buf[at] != 0x0d)
            continue;
        n_cells = (size_t)pg.buf[at + 3] << 8 | pg.buf[at + 4];
        for (size_t i = 0; i < n_cells && ret == 0 && at + 8 + 2 * i + 2 <= pg.usable; i++) {
            size_t cell = (size_t)pg.buf[at + 8 + 2 * i] << 8 | pg.buf[at + 9 + 2 * i];
            uint8_t *payload;
            size_t len;

            if (cell < at + 8 + 2 * n_cells || cell >= pg.usable ||
                cell_payload(&pg, pg.buf + cell, end, &payload, &len) != 0)
                continue;
            ret = scan_record(payload, len, nw, b, check, ctx, now, r, err, err_cap);
            free(payload);
        }
    }
    goto out;
nomem:
    set_err(err, err_cap, "store: out of memory reading the pages of %s", path);
    ret = -ENOMEM;
out:
    if (pg.db_fd >= 0)
        close(pg.db_fd);
    if (pg.wal_fd >= 0)
        close(pg.wal_fd);
    free(pg.wal_at);
    free(pg.free);
    free(pg.buf);
    free(pg.ovf);
    return ret;
}

int
store_recover(const char *dir, store_check_cb check, void *ctx, int64_t now,
              struct store_recovery *r, char *err, size_t err_cap)
{
    struct store *st = NULL, *nw = NULL;
    char building[PATH_MAX] = "", built[PATH_MAX] = "", shm[PATH_MAX + 8];
    sqlite3 *src = NULL;
    struct stat sb;
    bool swapping = false; /* the new store is complete: keep the copy */
    bool complete = false; /* SQLite read every row */
    struct recover_batch *batch = NULL;
    int rc, ret;

    memset(r, 0, sizeof *r);
    st = calloc(1, sizeof *st);
    nw = calloc(1, sizeof *nw);
    if (st == NULL || nw == NULL)
        goto fail_nomem;
    st->lock_fd = nw->lock_fd = -1;
    st->dir = strdup(dir);
    nw->dir = strdup(dir);
    st->db_path = join(dir, STORE_DB_NAME);
    st->lock_path = join(dir, STORE_LOCK_NAME);
    nw->db_path = join(dir, RECOVERING_NAME);
    if (st->dir == NULL || nw->dir == NULL || st->db_path == NULL || st->lock_path == NULL ||
        nw->db_path == NULL)
        goto fail_nomem;
    if (path_in(building, sizeof building, dir, RECOVERING_NAME, "") != 0 ||
        path_in(built, sizeof built, dir, RECOVERED_NAME, "") != 0) {
        set_err(err, err_cap, "the data folder's name %s is too long", dir);
        ret = -ENAMETOOLONG;
        goto fail;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        set_err(err, err_cap,
                "there is no data folder %s: nothing to recover (check --data-dir, or data_dir "
                "in the file given with --config)",
                dir);
        ret = -ENOENT;
        goto fail;
    }
    ret = take_lock(st, err, err_cap);
    if (ret == 0)
        ret = finish_recovery(st, err, err_cap);
    if (ret < 0)
        goto fail;
    /* What an earlier recovery, stopped while it built the new store, left. */
    (void)remove_db_files(building);

    ret = save_damaged(st, now, r, err, err_cap);
    if (ret < 0)
        goto fail;
    ret = open_database(nw, err, err_cap);
    if (ret < 0)
        goto fail;
    batch = calloc(1, sizeof *batch);
    if (batch == NULL)
        goto fail_nomem;
    /* Read through the copy, read-only: the damaged store is left as it was
     * until the new one replaces it. A copy SQLite cannot open at all (its
     * first page damaged) is still read page by page. */
    rc = sqlite3_open_v2(r->saved_as, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        ret = recover_tables(src, nw, r, err, err_cap);
        if (ret == 0)
            ret = recover_bundles(src, nw, batch, check, ctx, now, r, &complete, err, err_cap);
    } else if (src == NULL) {
        goto fail_nomem;
    }
    if (ret == 0 && !complete)
        ret = recover_pages(r->saved_as, nw, batch, check, ctx, now, r, err, err_cap);
    if (ret == 0)
        ret = recover_flush(nw, batch->items, &batch->n, now, r, err, err_cap);
    if (ret < 0)
        goto fail;
    if (r->n_read + r->n_scanned == 0 && !(r->n_expected_known && r->n_expected == 0)) {
        set_err(err, err_cap,
                "not one bundle of the damaged store could be read; the store was left as it "
                "is: fetch the bundles again from peers (move store.sqlite* out of the data "
                "folder and start samizdatd)");
        ret = -EIO;
        goto fail;
    }
    /* The last connection checkpoints the new store into one file. */
    store_close(nw);
    nw = NULL;
    ret = sync_file(building, err, err_cap);
    if (ret == 0 && rename(building, built) < 0) {
        ret = -errno;
        set_err(err, err_cap, "cannot rename %s to %s: %s", building, built, strerror(errno));
    }
    swapping = ret == 0;
    if (ret == 0)
        ret = sync_dir(st, err, err_cap);
    if (ret < 0)
        goto fail;
    ret = finish_recovery(st, err, err_cap);
    free(batch);
    sqlite3_close(src);
    /* What SQLite made beside the copy to read it: the shared memory, and an
     * empty WAL when the store had none. */
    snprintf(shm, sizeof shm, "%s-shm", r->saved_as);
    (void)unlink(shm);
    snprintf(shm, sizeof shm, "%s-wal", r->saved_as);
    if (stat(shm, &sb) == 0 && sb.st_size == 0)
        (void)unlink(shm);
    store_close(st);
    return ret;

fail_nomem:
    set_err(err, err_cap, "store: out of memory recovering the store of %s", dir);
    ret = -ENOMEM;
fail:
    if (batch != NULL)
        for (size_t i = 0; i < batch->n; i++)
            free((void *)batch->items[i].bytes);
    free(batch);
    sqlite3_close(src);
    store_close(nw);
    if (st != NULL && st->lock_fd >= 0 && !swapping) {
        (void)remove_db_files(building);
        if (r->saved_as[0] != '\0')
            (void)remove_db_files(r->saved_as);
        r->saved_as[0] = '\0';
    }
    store_close(st);
    return ret;
}
