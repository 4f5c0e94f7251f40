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
struct library_result {
    size_t bundles_added;    /* new bundles written */
    size_t bundles_present;  /* already in the library: nothing changed for them */
    size_t articles_written; /* article pages written or replaced */
    size_t equivocations;    /* new bundles whose publisher already had another bundle
                                with the same sequence: evidence of a stolen key */
};

/*
 * Adds verified bundles to the library in dir (created if missing, mode 0755),
 * then rebuilds index.html if anything was added (or index.html is missing). A bundle already
 * present (same id) changes nothing. Within a publisher, an article id seen in a bundle of higher
 * sequence replaces the older one; a bundle of lower sequence never overwrites a newer article (it
 * only adds ids the library lacks). Never writes outside dir: every name is checked with
 * sz_safe_name() and files are opened relative to dir without following symlinks. Files are written
 * to a temporary name and renamed. Returns 0 or -1 with a one-line reason in err.
 */
int
library_add(const char *dir, const struct library_item *items, size_t n,
            const struct library_publisher *pubs, size_t n_pubs, struct library_result *res,
            char *err, size_t err_cap);

/*
 * Reads what the library in dir knows about publisher pk: the highest bundle
 * sequence and the newest bundle creation time it has verified (for freshness
 * and rollback checks). Returns 1 with *seq and *created set, 0 when the library
 * has no bundle of pk (or does not exist yet), or -1 with a one-line reason in
 * err (e.g. a damaged DIR/.samizdat/library.idx). Reads only; takes no lock.
 */
int
library_publisher_state(const char *dir, const uint8_t pk[SZ_PUBLIC_KEY_LEN], uint64_t *seq,
                       int64_t *created, char *err, size_t err_cap);

#endif
