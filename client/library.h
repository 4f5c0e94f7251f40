/*
 * The reader's library folder: index.html, one page per article, each article's
 * original body file and its attachments, plus private state in DIR/.samizdat.
 * Callers hand in bundles that are already verified and trusted.
 */
#ifndef SZ_CLIENT_LIBRARY_H
#define SZ_CLIENT_LIBRARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "samizdat/bundle.h"

/*
 * Called (at most once a call of library_add() or library_note_fetch(), on
 * its thread) when another program holds the library's lock, before waiting
 * for it: so that a wait on another fetch or unpack of the same library is
 * said, not a silent hang.
 */
typedef void (*library_wait_cb)(const char *dir);

/* Sets the callback for every later call (NULL: none). Not thread-safe: call it first. */
void library_on_wait(library_wait_cb cb);

/* The longest name of a publisher a library keeps, in bytes. */
#define LIBRARY_NAME_MAX 256

/* A trusted publisher and the name the reader gave it (name may be NULL). */
struct library_publisher {
    uint8_t pk[SZ_PUBLIC_KEY_LEN];
    const char *name;
};

/* One verified bundle to add: the opened bundle and its raw bytes. */
struct library_item {
    const struct sz_bundle *b;
    const uint8_t *raw;
    size_t raw_len;
};

/* What library_add() did. */
#define LIBRARY_EQUIV_LISTED 8

struct library_result {
    size_t bundles_added;     /* new bundles written */
    size_t bundles_present;   /* already in the library (but for articles_repaired) */
    size_t articles_written;  /* article pages written or replaced */
    size_t articles_repaired; /* of those, written again from a bundle present: their
                                 files were missing or changed */
    size_t equivocations;     /* new bundles whose publisher already had another bundle
                                 with the same sequence: evidence of a stolen key */
    /* The first LIBRARY_EQUIV_LISTED of them: whose, and which sequence. */
    size_t n_equiv_listed;
    struct {
        uint8_t pk[SZ_PUBLIC_KEY_LEN];
        uint64_t seq;
    } equiv[LIBRARY_EQUIV_LISTED];
};

/*
 * Adds verified bundles to the library in dir (created if missing, mode 0755),
 * then rebuilds index.html if anything was added (or index.html is missing). A folder that
 * already holds files but no DIR/.samizdat is not a library (it is the user's own, whose
 * index.html would be replaced): it is refused, and nothing is written. A bundle already
 * present (same id) changes nothing. A new bundle with the sequence of another bundle of its
 * publisher is kept too (counted in res->equivocations): index.html then warns in red that the
 * publisher's key may be stolen. Within a publisher, an article id seen in a bundle of higher
 * sequence replaces the older one; a bundle of lower sequence never overwrites a newer article (it
 * only adds ids the library lacks). Never writes outside dir: every name is checked with
 * sz_safe_name() and files are opened relative to dir without following symlinks. A file that
 * replaces another is written to a temporary name and renamed; the files of one call are written
 * by up to four threads. Returns 0 or -1 with a one-line reason in err.
 */
int library_add(const char *dir, const struct library_item *items, size_t n,
                const struct library_publisher *pubs, size_t n_pubs, struct library_result *res,
                char *err, size_t err_cap);

/*
 * Checks up front what library_add() and library_note_fetch() check before they
 * write: that dir is missing, empty, or a library (it holds DIR/.samizdat),
 * not a folder of other files, and that it (or, when missing, its parent) may
 * be written to (not on a read-only disk, not another user's). Returns 0, or
 * -1 with a one-line reason in err that says what to give instead. Reads only.
 */
int library_check(const char *dir, char *err, size_t err_cap);

/*
 * A library held open by one writer across several additions (a fetch adds
 * its bundles batch by batch): library_put() is library_add() without reading
 * DIR/.samizdat/library.idx again while it has not changed since the last call
 * (another writer, or library_note_fetch(), replacing it is noticed and it is
 * read again). library_open() only remembers dir; every call takes the
 * library's lock for its duration. library_close(NULL) does nothing.
 */
struct library;
int library_open(const char *dir, struct library **out, char *err, size_t err_cap);
int library_put(struct library *lib, const struct library_item *items, size_t n,
                const struct library_publisher *pubs, size_t n_pubs, struct library_result *res,
                char *err, size_t err_cap);
void library_close(struct library *lib);

/*
 * library_put() that also says which items the library added: added (NULL, or
 * n entries) gets added[k] = true when items[k] was new to the library, false
 * when it held that bundle already (or an earlier item of the call was the
 * same bundle). Set only when the call returns 0.
 */
int library_put_each(struct library *lib, const struct library_item *items, size_t n,
                     const struct library_publisher *pubs, size_t n_pubs, bool *added,
                     struct library_result *res, char *err, size_t err_cap);

/*
 * Reads what the library in dir knows about publisher pk: the highest bundle
 * sequence (for rollback checks) and the newest bundle creation time (for
 * freshness) it has verified. The two may belong to different bundles, as a
 * publisher may date a later sequence earlier: library_publisher_info() also
 * gives the creation time of the highest sequence. Returns 1 with *seq and *created set, 0 when the
 * library has no bundle of pk (or does not exist yet), or -1 with a one-line reason in err (e.g. a
 * damaged DIR/.samizdat/library.idx). Reads only; takes no lock.
 */
int library_publisher_state(const char *dir, const uint8_t pk[SZ_PUBLIC_KEY_LEN], uint64_t *seq,
                            int64_t *created, char *err, size_t err_cap);

/*
 * Calls fn(arg, pk, seq, created) for each bundle the library in dir holds
 * (each B record of library.idx: committed), in no particular order. Returns
 * 0 (also when the library does not exist yet), or -1 with a one-line reason
 * in err (e.g. a damaged library.idx). Reads only; takes no lock.
 */
int library_each_bundle(const char *dir,
                        void (*fn)(void *arg, const uint8_t pk[SZ_PUBLIC_KEY_LEN], uint64_t seq,
                                   int64_t created),
                        void *arg, char *err, size_t err_cap);

/* What the library knows about one publisher (library_publisher_info()). */
struct library_publisher_info {
    bool has_bundle;     /* the library holds a bundle of it: the next four are set */
    uint64_t seq;        /* the highest bundle sequence */
    int64_t seq_created; /* the creation time of that bundle */
    /* The newest signing (creation) time of any of its bundles, and that bundle's
     * sequence: not always the highest, as a publisher may date a later sequence
     * earlier. index.html shows this bundle as the newest, and its staleness
     * warning (`stale`) is based on this time. */
    int64_t created;
    uint64_t created_seq;
    bool fetched; /* library_note_fetch() recorded it: the next two are set */
    int64_t last_fetch;
    int64_t stale_after_s;      /* the staleness threshold of that fetch */
    bool stale;                 /* index.html warns: at the last fetch, the newest bundle was
                                   older than the threshold, or there was none */
    bool equivocation_seen;     /* the library holds two different bundles with one sequence */
    uint64_t equivocation_seq;  /* the highest such sequence */
    bool equivocation_reported; /* the last fetch that recorded reports had one */
    int64_t equivocation_reported_at; /* the last fetch that reported one */
};

/*
 * Reads what the library in dir knows about publisher pk into *info (all zero
 * for an unknown publisher or a missing library). Returns 0, or -1 with a
 * one-line reason in err (a damaged state file is named). Reads only.
 */
int library_publisher_info(const char *dir, const uint8_t pk[SZ_PUBLIC_KEY_LEN],
                           struct library_publisher_info *info, char *err, size_t err_cap);

/*
 * Records a fetch from peers in the library in dir (created if missing, and
 * refused when it holds files but is not a library, like library_add()), then
 * rebuilds index.html. For each of pubs: now as the time of
 * its last fetch, stale_after_s (>= 0) as the staleness threshold index.html
 * applies to it, its name when one is given (a later call without a name keeps
 * it), and, when equivocation is not NULL, whether a peer reported an
 * equivocation by pubs[k] during the fetch (equivocation[k]). A report is a
 * peer's claim, not proof: index.html warns about it until a later fetch (with
 * equivocation not NULL) in which no peer reports it; a pair the library holds
 * itself (proof) is warned about for good, whatever is passed. Publishers not
 * in pubs keep what was recorded before. The state lives in
 * DIR/.samizdat/publishers.idx, written like library.idx (temporary name,
 * fsync, rename) under the same lock. Returns 0 or -1 with a one-line reason
 * in err (e.g. a damaged publishers.idx or library.idx).
 */
int library_note_fetch(const char *dir, const struct library_publisher *pubs, size_t n_pubs,
                       int64_t now, int64_t stale_after_s, const bool *equivocation, char *err,
                       size_t err_cap);

#endif
