/*
 * The reader's library folder. Layout:
 *
 *   DIR/index.html                     every publisher's newest articles, newest first
 *   DIR/archive/<pub-hex>/YYYY-MM.html a month of a publisher's articles, for a
 *                                      publisher with more than RENDER_INDEX_LATEST
 *   DIR/<pub-hex>/<folder>/index.html  the rendered article page
 *   DIR/<pub-hex>/<folder>/body.md|.html.txt|.txt   the body, byte for byte
 *   DIR/<pub-hex>/<folder>/<attachment>    each attachment, byte for byte
 *   DIR/.samizdat/bundles/<id-hex>.bundle   every verified bundle added
 *   DIR/.samizdat/library.idx          the index below
 *   DIR/.samizdat/publishers.idx       what the reader's fetches saw, below
 *   DIR/.samizdat/lock                 serialises writers (fcntl lock)
 *
 * An article's folder is its id, unless another article of the publisher
 * already has a folder of that name ignoring case ("Report" and "report"):
 * FAT, exFAT, macOS and casefolded ext4 see one folder there, so the later
 * article gets "<id>~2" (then ~3, ...; '~' is never in an id) and library.idx
 * records it. A library is then portable to such a file system.
 *
 * Only files a browser opens passively from file:// (pictures, sound, film,
 * plain text, PDF, office documents and archives, by extension: see
 * passive_name()) keep their names; every other original (an HTML body, an
 * HTML, SVG, RSS or other XML attachment, a name without extension) gets
 * ".txt" appended, so that opening it shows its text and runs nothing. An
 * attachment whose name is taken (one of the library's own file names, or an
 * earlier attachment's, compared ignoring case as some file systems do) is
 * stored with "_", then "2_", "3_"... prepended until the name is free.
 *
 * library.idx is a line-oriented text file, one record per line, fields
 * separated by one space; strings are percent-encoded (bytes <= 0x20, 0x7f,
 * '%' and ',', and a leading '-') and "-" stands for the empty string; lists
 * are encoded items joined by ','. It is the commit point of library_add():
 * it is replaced last, after every file it describes is in place.
 *
 *   samizdat-library 1
 *   N <pub-hex> <name>
 *   B <bundle-id-hex> <pub-hex> <sequence> <created>
 *   A <pub-hex> <id> <sequence> <bundle-id-hex> <published> <ctype> <title>
 *     <lang> <summary> <url> <authors> <files> [<folder>]      (one line)
 *
 * where <folder> is there only when it is not <id>.
 *
 * Two B records with one publisher and sequence are an equivocation: both
 * bundles are kept, and index.html warns that the publisher's key may be stolen.
 *
 * publishers.idx, written by library_note_fetch() in the same syntax, holds one
 * record per publisher a fetch asked for (dropped by a fetch that does not ask
 * for it while the library holds no bundle of it):
 *
 *   samizdat-publishers 1
 *   F <pub-hex> <last-fetch> <stale-after-seconds> <equivocation-reported>
 *
 * where <equivocation-reported> is the time of the last fetch that reported an
 * equivocation by the publisher, or "-" for none. Its N records (the names a
 * fetch was given) go to library.idx. A missing file means no fetch yet; a
 * damaged one stops library_add() and library_note_fetch() with an error that
 * names it (moving it away loses only the last-fetch times and reported
 * equivocations).
 *
 * Every file is written relative to an O_DIRECTORY descriptor of DIR through
 * directories opened with O_NOFOLLOW, and created with O_EXCL, so a symbolic
 * link planted inside DIR is never followed. A file that replaces another (an
 * article's newer version, index.html, the state files) goes to a fresh
 * temporary name that is then renamed into place, so no reader ever sees half
 * of it; a new article's files get their own names at once, as nothing links
 * to them before index.html and library.idx are rewritten.
 *
 * One library_add() checks its bundles on up to MAX_WORKERS threads, plans
 * every change in memory, then renders the pages on up to MAX_WORKERS threads
 * while one thread at a time creates and writes files (fs_lock()).
 *
 * index.html lists at most RENDER_INDEX_LATEST articles of each publisher, so
 * that a library of years still opens at once; a publisher with more gets its
 * month pages, all of its articles, linked from index.html. They are written
 * before index.html, and only those whose bytes change (write_months()).
 *
 * Durability: the files of one library_add() are written without an fsync
 * each; one file system barrier (syncfs() on Linux, sync() elsewhere) then
 * makes them all durable before library.idx, the commit point, is written and
 * fsync'ed. Until then nothing of the library is lost: the files of an article
 * being replaced (a correction) and the pages being replaced or dropped
 * (index.html, month pages) are kept aside at ".prev-" names instead (see
 * PREV_PREFIX; one being replaced as a second link, so that its name is never
 * missing: keep_aside()), and are deleted once library.idx is in place. A batch that
 * fails before its commit (a full disk, at any step) puts them back and removes
 * what it wrote for bundles and articles the library did not hold
 * (undo_batch()), so that the library is as it was, the space comes back and a
 * caller can add fewer bundles. After a power cut or a kill before the commit,
 * the next writer finds the mark of one that died (recover_writing()): it puts
 * back what was aside unless library.idx has the bundle that replaced it,
 * renders index.html again from library.idx, and the bundles missing from
 * library.idx are written again when they are added again.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* syncfs() */
#endif
#include "library.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "render.h"

#define STATE_DIR ".samizdat"
#define BUNDLES_DIR "bundles"
#define INDEX_FILE "library.idx"
#define LOCK_FILE "lock"
/* Present while a writer changes files: one that died left temporaries behind. */
#define WRITING_FILE "writing"
#define PAGE_FILE "index.html"
#define INDEX_MAGIC "samizdat-library 1"
#define PSTATE_FILE "publishers.idx"
#define PSTATE_MAGIC "samizdat-publishers 1"
#define INDEX_MAX_LEN ((size_t)1 << 30)
#define PAGE_MAX_LEN ((size_t)1 << 30)
#define NAME_MAX_LEN LIBRARY_NAME_MAX /* a publisher's name as the reader gave it */
#define MAX_FIELDS 14
#define FOLDER_MAX_LEN (SZ_MAX_ID_LEN + 11) /* id, '~', a number below 10^9 */
/* A stored file name: an attachment name, ".txt", and a "_" or "N_" prefix. */
#define STORED_NAME_MAX (SZ_MAX_ID_LEN + 4 + 4)
#define MAX_WORKERS 4 /* threads checking and writing one batch */
/*
 * What a batch moves aside instead of replacing or deleting, to put back if it
 * fails before library.idx is written: an article's old file k (its files,
 * then its page) as ".prev-<new-bundle-id-hex>-<k>" in the article's folder,
 * and a page (index.html, a month page) as ".prev-<name>" in its folder. No
 * name the library gives starts with a dot.
 */
#define PREV_PREFIX ".prev-"
#define PREV_NAME_LEN (sizeof PREV_PREFIX + 2 * SZ_BUNDLE_ID_LEN + 22) /* "-" and a size_t */

struct lib_bundle {
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    uint64_t seq;
    int64_t created;
};

struct lib_name {
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    char *name;
};

/* A publisher as the reader's fetches saw it (publishers.idx). */
struct lib_pstate {
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    int64_t last_fetch;
    int64_t stale_after;
    bool reported; /* a fetch reported an equivocation: reported_at is set */
    int64_t reported_at;
};

struct lib_art {
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    char *id;
    char *folder; /* NULL: the folder is the id */
    uint64_t seq;
    uint8_t bundle[SZ_BUNDLE_ID_LEN];
    int64_t published;
    enum sz_ctype ctype;
    char *title, *lang, *summary, *url;
    char **authors;
    size_t n_authors;
    char **files; /* body file and stored attachment names */
    size_t n_files;
};

struct lib {
    struct lib_bundle *bundles;
    size_t n_bundles, cap_bundles;
    /* Open-addressing tables of bundle index + 1 (0: empty slot), tab_cap
     * slots each (a power of two, at least twice n_bundles): by bundle id and
     * by (publisher, sequence). */
    size_t *by_id, *by_seq;
    size_t tab_cap;
    struct lib_name *names;
    size_t n_names, cap_names;
    struct lib_art **arts; /* sorted by publisher, then id */
    size_t n_arts, cap_arts;
    /* Open-addressing table of the articles by (publisher, folder ignoring
     * ASCII case), fold_cap slots (a power of two, at least twice n_arts). */
    struct lib_art **by_folder;
    size_t fold_cap;
    struct lib_pstate *pst; /* from publishers.idx */
    size_t n_pst, cap_pst;
};

/*
 * A page a batch wrote or removed (index.html, or a month page of archive/<pub>/),
 * to be undone if the batch fails before its commit.
 */
struct page_change {
    bool month; /* in archive/<pub-hex>/, else in DIR */
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    char name[RENDER_MONTH_NAME_LEN > sizeof PAGE_FILE ? RENDER_MONTH_NAME_LEN : sizeof PAGE_FILE];
    bool had_old; /* the page it replaced or removed is at PREV_PREFIX name */
};

struct page_log {
    struct page_change *v;
    size_t n, cap;
};

struct ctx {
    const char *dir;
    int dfd;                /* DIR */
    int sfd;                /* DIR/.samizdat */
    int bfd;                /* DIR/.samizdat/bundles */
    int lfd;                /* the lock file */
    unsigned worker;        /* which worker thread: part of temporary names */
    pthread_mutex_t *fs_mu; /* NULL, or held by a worker while it changes files */
    unsigned tmp_seq;
    struct page_log *pages; /* NULL: pages are replaced at once, else logged here */
    char *err;
    size_t err_cap;
};

/* ---- errors ---- */

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(struct ctx *c, const char *fmt, ...)
{
    if (c->err != NULL && c->err_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int
fail_nomem(struct ctx *c)
{
    return fail(c, "%s: out of memory", c->dir);
}

/* ---- small helpers ---- */

static char *
dup_n(const char *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s != NULL) {
        if (len > 0)
            memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

static void
free_list(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t k = 0; k < n; k++)
        free(v[k]);
    free(v);
}

static void
art_free(struct lib_art *a)
{
    if (a == NULL)
        return;
    free(a->id);
    free(a->folder);
    free(a->title);
    free(a->lang);
    free(a->summary);
    free(a->url);
    free_list(a->authors, a->n_authors);
    free_list(a->files, a->n_files);
    free(a);
}

static void
lib_free(struct lib *l)
{
    for (size_t k = 0; k < l->n_arts; k++)
        art_free(l->arts[k]);
    free(l->arts);
    free(l->by_folder);
    for (size_t k = 0; k < l->n_names; k++)
        free(l->names[k].name);
    free(l->names);
    free(l->bundles);
    free(l->by_id);
    free(l->by_seq);
    free(l->pst);
    memset(l, 0, sizeof *l);
}

static bool
grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t nc = *cap < 16 ? 16 : *cap * 2;
    if (nc > SIZE_MAX / size)
        return false;
    void *q = realloc(*p, nc * size);
    if (q == NULL)
        return false;
    *p = q;
    *cap = nc;
    return true;
}

static int
art_cmp_key(const uint8_t *pub, const char *id, const struct lib_art *a)
{
    int r = memcmp(pub, a->pub, SZ_PUBLIC_KEY_LEN);
    return r != 0 ? r : strcmp(id, a->id);
}

/* Position of (pub, id) in l->arts, or where it would be inserted. */
static size_t
art_pos(const struct lib *l, const uint8_t *pub, const char *id, bool *found)
{
    size_t lo = 0, hi = l->n_arts;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = art_cmp_key(pub, id, l->arts[mid]);
        if (r == 0) {
            *found = true;
            return mid;
        }
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static bool
art_insert(struct lib *l, size_t pos, struct lib_art *a)
{
    if (!grow((void **)&l->arts, &l->cap_arts, l->n_arts, sizeof *l->arts))
        return false;
    memmove(l->arts + pos + 1, l->arts + pos, (l->n_arts - pos) * sizeof *l->arts);
    l->arts[pos] = a;
    l->n_arts++;
    return true;
}

/* A 64-bit mix of 8 bytes of p and salt, for the hash tables. */
static size_t
mix64(const uint8_t *p, uint64_t salt)
{
    uint64_t x = salt;
    for (int k = 0; k < 8; k++)
        x ^= (uint64_t)p[k] << (8 * k);
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return (size_t)x;
}

/* ---- article folders ---- */

static const char *
art_folder(const struct lib_art *a)
{
    return a->folder != NULL ? a->folder : a->id;
}

static size_t
hash_folder(const uint8_t *pub, const char *s)
{
    uint64_t x = UINT64_C(0xcbf29ce484222325);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        x ^= ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
        x *= UINT64_C(0x100000001b3);
    }
    return mix64(pub, x);
}

static void
fold_put(struct lib_art **tab, size_t cap, struct lib_art *a)
{
    size_t i = hash_folder(a->pub, art_folder(a)) & (cap - 1);
    while (tab[i] != NULL)
        i = (i + 1) & (cap - 1);
    tab[i] = a;
}

/*
 * True for a name Windows cannot give a file or folder, on a FAT or exFAT
 * stick too: a device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9) with or
 * without an extension ("nul.png"), or one that ends with a dot, which
 * Windows drops ("report." would be "report").
 */
static bool
windows_unsafe(const char *s)
{
    static const char *const dev[] = {"con", "prn", "aux", "nul"};
    size_t n = strcspn(s, "."), len = strlen(s);

    if (len > 0 && s[len - 1] == '.')
        return true;
    for (size_t k = 0; k < sizeof dev / sizeof dev[0]; k++)
        if (n == 3 && strncasecmp(s, dev[k], 3) == 0)
            return true;
    return n == 4 && (strncasecmp(s, "com", 3) == 0 || strncasecmp(s, "lpt", 3) == 0) &&
           s[3] >= '1' && s[3] <= '9';
}

/* The article of pub whose folder is name: exactly, or ignoring ASCII case; or NULL. */
static const struct lib_art *
folder_lookup(const struct lib *l, const uint8_t *pub, const char *name, bool exact)
{
    if (l->fold_cap == 0)
        return NULL;
    for (size_t i = hash_folder(pub, name) & (l->fold_cap - 1); l->by_folder[i] != NULL;
         i = (i + 1) & (l->fold_cap - 1)) {
        const struct lib_art *a = l->by_folder[i];
        if (memcmp(a->pub, pub, SZ_PUBLIC_KEY_LEN) == 0 &&
            (exact ? strcmp(art_folder(a), name) : strcasecmp(art_folder(a), name)) == 0)
            return a;
    }
    return NULL;
}

/* True when an article of pub has the folder name, ignoring ASCII case. */
static bool
folder_taken(const struct lib *l, const uint8_t *pub, const char *name)
{
    return folder_lookup(l, pub, name, false) != NULL;
}

/* The article of pub whose folder is exactly name, or NULL. */
static const struct lib_art *
find_folder(const struct lib *l, const uint8_t *pub, const char *name)
{
    return folder_lookup(l, pub, name, true);
}

/* Makes room in the folder table for n_arts + extra articles. */
static bool
folder_reserve(struct lib *l, size_t extra)
{
    size_t need = l->n_arts + extra, cap = l->fold_cap < 64 ? 64 : l->fold_cap;
    if (need * 2 <= l->fold_cap)
        return true;
    while (need * 2 > cap) {
        if (cap > SIZE_MAX / 4 / sizeof *l->by_folder)
            return false;
        cap *= 2;
    }
    struct lib_art **tab = calloc(cap, sizeof *tab);
    if (tab == NULL)
        return false;
    for (size_t k = 0; k < l->n_arts; k++)
        fold_put(tab, cap, l->arts[k]);
    free(l->by_folder);
    l->by_folder = tab;
    l->fold_cap = cap;
    return true;
}

/* rec, a newer version of old, takes old's place (and folder). */
static void
folder_swap(struct lib *l, const struct lib_art *old, struct lib_art *rec)
{
    size_t i = hash_folder(old->pub, art_folder(old)) & (l->fold_cap - 1);
    while (l->by_folder[i] != old)
        i = (i + 1) & (l->fold_cap - 1);
    l->by_folder[i] = rec;
}

/*
 * Where "~N" goes in the folder of an article id: at the end, or, when what
 * comes before the first dot is a name Windows keeps for a device ("nul.txt"),
 * before that dot, as "nul.txt~2" would still name the device.
 */
static size_t
folder_mark_at(const char *id)
{
    size_t n = strcspn(id, ".");
    char head[8];

    if (id[n] == '\0' || n >= sizeof head)
        return strlen(id);
    memcpy(head, id, n);
    head[n] = '\0';
    return windows_unsafe(head) ? n : strlen(id);
}

/*
 * Gives rec, a new article, a folder no other article of its publisher has
 * (ignoring case): its id, or "<id>~N", also when Windows could not name a
 * folder after the id (windows_unsafe(): "nul~2", "report.~2", "nul~2.txt").
 */
static bool
folder_choose(const struct lib *l, struct lib_art *rec)
{
    char name[FOLDER_MAX_LEN + 1];
    size_t at = folder_mark_at(rec->id);

    if (!windows_unsafe(rec->id) && !folder_taken(l, rec->pub, rec->id))
        return true;
    /* At most n_arts folders can be taken: one of n_arts + 1 numbers is free. */
    for (size_t n = 2; n <= l->n_arts + 2 && n < 1000000000; n++) {
        snprintf(name, sizeof name, "%.*s~%zu%s", (int)at, rec->id, n, rec->id + at);
        if (!folder_taken(l, rec->pub, name)) {
            rec->folder = dup_n(name, strlen(name));
            return rec->folder != NULL;
        }
    }
    return false;
}

/* True when f is id with "~N" (N >= 2) at n. */
static bool
folder_marked_at(const char *id, const char *f, size_t n)
{
    size_t k;

    if (strncmp(f, id, n) != 0 || f[n] != '~' || f[n + 1] < '1' || f[n + 1] > '9')
        return false;
    for (k = n + 1; f[k] >= '0' && f[k] <= '9'; k++) {
        if (k - n > 9)
            return false;
    }
    return strcmp(f + k, id + n) == 0 && !(k == n + 2 && f[n + 1] == '1');
}

/* True when f is a folder the library gives the article id: "<id>~N", N >= 2,
 * with "~N" where folder_mark_at() puts it, or at the end (as libraries made
 * before "nul~2.txt" have "nul.txt~2"). */
static bool
folder_valid(const char *id, const char *f)
{
    return folder_marked_at(id, f, folder_mark_at(id)) || folder_marked_at(id, f, strlen(id));
}

/* ---- bundle lookup ---- */

static size_t
hash_id(const uint8_t *id)
{
    return mix64(id, 0);
}

static size_t
hash_seq(const uint8_t *pub, uint64_t seq)
{
    return mix64(pub, seq * UINT64_C(0x9e3779b97f4a7c15));
}

static void
tab_put(size_t *tab, size_t cap, size_t h, size_t v)
{
    size_t i = h & (cap - 1);
    while (tab[i] != 0)
        i = (i + 1) & (cap - 1);
    tab[i] = v;
}

static bool
lib_rehash(struct lib *l, size_t cap)
{
    size_t *a = calloc(cap, sizeof *a), *b = calloc(cap, sizeof *b);
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return false;
    }
    for (size_t k = 0; k < l->n_bundles; k++) {
        tab_put(a, cap, hash_id(l->bundles[k].id), k + 1);
        tab_put(b, cap, hash_seq(l->bundles[k].pub, l->bundles[k].seq), k + 1);
    }
    free(l->by_id);
    free(l->by_seq);
    l->by_id = a;
    l->by_seq = b;
    l->tab_cap = cap;
    return true;
}

/* Appends a bundle record and indexes it. */
static bool
lib_add_bundle(struct lib *l, const struct lib_bundle *b)
{
    if ((l->n_bundles + 1) * 2 > l->tab_cap) {
        size_t cap = l->tab_cap < 64 ? 64 : l->tab_cap;
        while ((l->n_bundles + 1) * 2 > cap) {
            if (cap > SIZE_MAX / 4)
                return false;
            cap *= 2;
        }
        if (!lib_rehash(l, cap))
            return false;
    }
    if (!grow((void **)&l->bundles, &l->cap_bundles, l->n_bundles, sizeof *l->bundles))
        return false;
    l->bundles[l->n_bundles++] = *b;
    tab_put(l->by_id, l->tab_cap, hash_id(b->id), l->n_bundles);
    tab_put(l->by_seq, l->tab_cap, hash_seq(b->pub, b->seq), l->n_bundles);
    return true;
}

static const struct lib_bundle *
find_bundle(const struct lib *l, const uint8_t *id)
{
    if (l->tab_cap == 0)
        return NULL;
    for (size_t i = hash_id(id) & (l->tab_cap - 1); l->by_id[i] != 0;
         i = (i + 1) & (l->tab_cap - 1)) {
        const struct lib_bundle *b = &l->bundles[l->by_id[i] - 1];
        if (memcmp(b->id, id, SZ_BUNDLE_ID_LEN) == 0)
            return b;
    }
    return NULL;
}

/* Does the library hold a bundle of pub with sequence seq? */
static bool
has_seq(const struct lib *l, const uint8_t *pub, uint64_t seq)
{
    if (l->tab_cap == 0)
        return false;
    for (size_t i = hash_seq(pub, seq) & (l->tab_cap - 1); l->by_seq[i] != 0;
         i = (i + 1) & (l->tab_cap - 1)) {
        const struct lib_bundle *b = &l->bundles[l->by_seq[i] - 1];
        if (b->seq == seq && memcmp(b->pub, pub, SZ_PUBLIC_KEY_LEN) == 0)
            return true;
    }
    return false;
}

/* Does the library hold two bundles (or more) of pub with sequence seq? */
static bool
seq_signed_twice(const struct lib *l, const uint8_t *pub, uint64_t seq)
{
    size_t n = 0;

    if (l->tab_cap == 0)
        return false;
    for (size_t i = hash_seq(pub, seq) & (l->tab_cap - 1); l->by_seq[i] != 0 && n < 2;
         i = (i + 1) & (l->tab_cap - 1)) {
        const struct lib_bundle *b = &l->bundles[l->by_seq[i] - 1];
        if (b->seq == seq && memcmp(b->pub, pub, SZ_PUBLIC_KEY_LEN) == 0)
            n++;
    }
    return n >= 2;
}

static struct lib_name *
find_name(const struct lib *l, const uint8_t *pub)
{
    for (size_t k = 0; k < l->n_names; k++) {
        if (memcmp(l->names[k].pub, pub, SZ_PUBLIC_KEY_LEN) == 0)
            return &l->names[k];
    }
    return NULL;
}

static struct lib_pstate *
find_pstate(const struct lib *l, const uint8_t *pub)
{
    for (size_t k = 0; k < l->n_pst; k++) {
        if (memcmp(l->pst[k].pub, pub, SZ_PUBLIC_KEY_LEN) == 0)
            return &l->pst[k];
    }
    return NULL;
}

/* ---- file system ---- */

/* mkdir -p for DIR itself (the user's path: symbolic links in it are the user's choice). */
static int
open_root(struct ctx *c)
{
    char *path = dup_n(c->dir, strlen(c->dir));
    if (path == NULL)
        return fail_nomem(c);
    for (char *s = path + 1; *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            fail(c, "cannot create folder %s: %s", path, strerror(e));
            free(path);
            return -1;
        }
        *s = '/';
    }
    free(path);
    if (mkdir(c->dir, 0755) != 0 && errno != EEXIST)
        return fail(c, "cannot create folder %s: %s", c->dir, strerror(errno));
    c->dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->dfd < 0)
        return fail(c, "cannot open folder %s: %s", c->dir, strerror(errno));
    return 0;
}

/*
 * A directory stream of the folder fd, on a descriptor of its own (closedir()
 * leaves fd open), or NULL with errno set.
 */
static DIR *
open_stream(int fd)
{
    int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = own >= 0 ? fdopendir(own) : NULL;

    if (d == NULL && own >= 0) {
        int e = errno;
        close(own);
        errno = e;
    }
    return d;
}

/*
 * Refuses a folder that holds anything but has no STATE_DIR: it is the user's
 * own (Downloads, the current folder, a web site), and writing a library there
 * would replace its index.html. An empty or new folder becomes a library. The
 * entries are read before STATE_DIR is looked for: every writer creates
 * STATE_DIR before anything else, so a library that another writer is making
 * at this moment is never taken for someone else's folder.
 */
static int
check_library_folder(struct ctx *c)
{
    /* What systems put in a folder or at the top of a stick by themselves:
     * a library beside them replaces none of them. */
    static const char *const system_names[] = {".",
                                               "..",
                                               ".DS_Store",
                                               "lost+found",
                                               ".Trashes",
                                               ".Spotlight-V100",
                                               ".fseventsd",
                                               "System Volume Information",
                                               "$RECYCLE.BIN",
                                               "desktop.ini",
                                               "Thumbs.db",
                                               NULL};
    struct stat st;
    struct dirent *e;
    char first[NAME_MAX + 1] = "";
    size_t n_other = 0;
    DIR *d = open_stream(c->dfd);

    if (d == NULL)
        return fail(c, "cannot read folder %s: %s", c->dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t k = 0;
        while (system_names[k] != NULL && strcmp(e->d_name, system_names[k]) != 0)
            k++;
        if (system_names[k] != NULL)
            continue;
        if (n_other++ == 0)
            snprintf(first, sizeof first, "%s", e->d_name);
        if (strcmp(e->d_name, STATE_DIR) == 0)
            break;
    }
    closedir(d);
    if (n_other == 0)
        return 0;
    if (fstatat(c->dfd, STATE_DIR, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0; /* a library: open_dir_at() checks what STATE_DIR is */
    if (errno != ENOENT)
        return fail(c, "cannot read %s/" STATE_DIR ": %s", c->dir, strerror(errno));
    return fail(
        c,
        "%s already holds other files (%s%s) and is not a samizdat library (it has no " STATE_DIR
        " folder): writing the library there would replace its index.html. "
        "Give a new or empty folder, or the library folder made earlier",
        c->dir, first, n_other > 1 ? " and more" : "");
}

/*
 * Opens (creating it when `create`) the folder `name` inside parent, never
 * following a symbolic link. rel is parent's path relative to DIR, for
 * messages ("" for DIR). Returns 0 with *out set, 1 when it does not exist and
 * !create, or -1.
 */
static int
open_dir_at(struct ctx *c, int parent, const char *rel, const char *name, bool create, int *out)
{
    const char *sep = rel[0] != '\0' ? "/" : "";
    if (create && mkdirat(parent, name, 0755) != 0 && errno != EEXIST)
        return fail(c, "cannot create folder %s/%s%s%s: %s", c->dir, rel, sep, name,
                    strerror(errno));
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        *out = fd;
        return 0;
    }
    int e = errno;
    struct stat st;
    if (!create && e == ENOENT)
        return 1;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return fail(c,
                    "%s/%s%s%s is a symbolic link: refusing to follow it (a library never "
                    "contains links; remove it and retry)",
                    c->dir, rel, sep, name);
    if (e == ENOTDIR || e == ELOOP)
        return fail(c, "%s/%s%s%s is not a folder: move it away and retry", c->dir, rel, sep, name);
    return fail(c, "cannot open folder %s/%s%s%s: %s", c->dir, rel, sep, name, strerror(e));
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

#define TMP_NAME_LEN 64 /* ".tmp-PID-WORKER-SEQ" */

/*
 * Writes data into f, a file just created in fd as `created`, syncs it when
 * durable, and closes it. On failure the file is removed and the error names
 * `name`, the file it stands for.
 */
static int
fill_file(struct ctx *c, int fd, int f, const char *created, const char *rel, const char *name,
          const void *data, size_t len, bool durable)
{
    const char *sep = rel[0] != '\0' ? "/" : "";
    int e = 0;

    if (write_all(f, data, len) != 0 || (durable && fsync(f) != 0))
        e = errno;
    if (close(f) != 0 && e == 0)
        e = errno;
    if (e != 0) {
        unlinkat(fd, created, 0);
        return fail(c, "cannot write %s/%s%s%s: %s", c->dir, rel, sep, name, strerror(e));
    }
    return 0;
}

/*
 * Writes data to a new temporary file in fd (its name in tmp), to become
 * `name` by commit_at(). On failure nothing is left behind.
 */
static int
stage_at(struct ctx *c, int fd, const char *rel, const char *name, const void *data, size_t len,
         bool durable, char tmp[TMP_NAME_LEN])
{
    int tfd = -1;
    for (int attempt = 0; attempt < 100 && tfd < 0; attempt++) {
        snprintf(tmp, TMP_NAME_LEN, ".tmp-%ld-%u-%u", (long)getpid(), c->worker, c->tmp_seq++);
        tfd = openat(fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (tfd < 0 && errno != EEXIST)
            break;
    }
    if (tfd < 0)
        return fail(c, "cannot create a file in %s/%s: %s", c->dir, rel, strerror(errno));
    return fill_file(c, fd, tfd, tmp, rel, name, data, len, durable);
}

/* Gives a file staged by stage_at() its name, replacing what had it. */
static int
commit_at(struct ctx *c, int fd, const char *rel, const char *name, const char *tmp)
{
    const char *sep = rel[0] != '\0' ? "/" : "";

    if (renameat(fd, tmp, fd, name) != 0) {
        int e = errno;
        unlinkat(fd, tmp, 0);
        return fail(c, "cannot replace %s/%s%s%s: %s", c->dir, rel, sep, name, strerror(e));
    }
    return 0;
}

/*
 * Writes data to `name` inside fd: a new temporary file (O_EXCL, O_NOFOLLOW),
 * fsync, then renameat() over the name. A symbolic link at `name` is replaced,
 * never followed. rel is fd's path relative to DIR, for messages.
 */
static int
write_file_at(struct ctx *c, int fd, const char *rel, const char *name, const void *data,
              size_t len, bool durable)
{
    char tmp[TMP_NAME_LEN];

    if (stage_at(c, fd, rel, name, data, len, durable, tmp) != 0 ||
        commit_at(c, fd, rel, name, tmp) != 0)
        return -1;
    if (durable && fsync(fd) != 0)
        return fail(c, "cannot sync folder %s/%s: %s", c->dir, rel, strerror(errno));
    return 0;
}

/* The name article file k of the version that bundle `id` replaces moves to. */
static void
prev_name(const uint8_t id[SZ_BUNDLE_ID_LEN], size_t k, char out[PREV_NAME_LEN])
{
    char hex[2 * SZ_BUNDLE_ID_LEN + 1];
    sz_hex(id, SZ_BUNDLE_ID_LEN, hex);
    snprintf(out, PREV_NAME_LEN, PREV_PREFIX "%s-%zu", hex, k);
}

/*
 * Sets the file `name` of fd aside at `prev` for its replacement, leaving it
 * in place: a hard link, so that the rename of the new file over `name` then
 * replaces it at once and a reader (a browser reloading index.html, a power
 * cut) never finds the name missing. Where the file system keeps no hard
 * links (FAT on a stick) or `prev` is taken, it moves there instead, as
 * before. Returns 0, or -1 with errno (ENOENT: no such file).
 */
static int
keep_aside(int fd, const char *name, const char *prev)
{
    if (linkat(fd, name, fd, prev, 0) == 0)
        return 0;
    if (errno == ENOENT)
        return -1;
    return renameat(fd, name, fd, prev);
}

/*
 * Puts the file kept aside at `prev` back at `name`. A rename between two
 * links of one file changes nothing (POSIX): the link at prev then goes.
 * Returns renameat()'s result, errno set.
 */
static int
put_back(int fd, const char *prev, const char *name)
{
    if (renameat(fd, prev, fd, name) != 0)
        return -1;
    (void)unlinkat(fd, prev, 0);
    return 0;
}

/*
 * Writes a page (index.html in DIR, or a month page in archive/<pub-hex>/, fd
 * being that folder) as write_file_at() does. In a batch (c->pages), the page
 * it replaces is kept aside at PREV_PREFIX name first (keep_aside()) and the
 * change is logged, so that undo_pages() can put it back; a folder there is
 * left alone, and replacing it fails as it did.
 */
static int
put_page(struct ctx *c, int fd, const char *rel, const uint8_t *pub, const char *name,
         const void *data, size_t len)
{
    struct page_log *pl = c->pages;
    char tmp[TMP_NAME_LEN], prev[PREV_NAME_LEN];
    const char *sep = rel[0] != '\0' ? "/" : "";
    struct stat st;

    if (pl == NULL)
        return write_file_at(c, fd, rel, name, data, len, false);
    if (!grow((void **)&pl->v, &pl->cap, pl->n, sizeof *pl->v))
        return fail_nomem(c);
    if (stage_at(c, fd, rel, name, data, len, false, tmp) != 0)
        return -1;
    struct page_change *ch = &pl->v[pl->n];
    *ch = (struct page_change){.month = pub != NULL};
    if (pub != NULL)
        memcpy(ch->pub, pub, SZ_PUBLIC_KEY_LEN);
    snprintf(ch->name, sizeof ch->name, "%s", name);
    snprintf(prev, sizeof prev, PREV_PREFIX "%s", name);
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
        if (keep_aside(fd, name, prev) != 0) {
            int e = errno;
            unlinkat(fd, tmp, 0);
            return fail(c, "cannot move %s/%s%s%s aside: %s", c->dir, rel, sep, name, strerror(e));
        }
        ch->had_old = true;
        pl->n++; /* from here the old page must come back if anything fails */
    }
    if (commit_at(c, fd, rel, name, tmp) != 0)
        return -1;
    if (!ch->had_old)
        pl->n++; /* a new page: it goes if the batch fails */
    return 0;
}

/*
 * Writes data to `name` inside fd as a new file (O_EXCL, O_NOFOLLOW); when the
 * name is taken (an article being replaced, or the remains of a run that was
 * cut short), as write_file_at() instead. For the files of bundles being added:
 * nothing links to a new one before library.idx and index.html are rewritten,
 * so no reader follows a link to it while it is being written, and a new file
 * needs no temporary name and rename.
 */
static int
put_file_at(struct ctx *c, int fd, const char *rel, const char *name, const void *data, size_t len)
{
    const char *sep = rel[0] != '\0' ? "/" : "";
    int f = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0) {
        if (errno == EEXIST)
            return write_file_at(c, fd, rel, name, data, len, false);
        return fail(c, "cannot create %s/%s%s%s: %s", c->dir, rel, sep, name, strerror(errno));
    }
    return fill_file(c, fd, f, name, rel, name, data, len, false);
}

/* Makes every change to the file system of fd so far durable; false on an error. */
static bool
sync_disk(int fd)
{
#if defined(__linux__)
    return syncfs(fd) == 0;
#else
    (void)fd;
    sync();
    return true;
#endif
}

/* Makes every file written so far durable (see "Durability" above). */
static int
sync_all(struct ctx *c)
{
    if (!sync_disk(c->dfd))
        return fail(c, "cannot sync %s to disk: %s", c->dir, strerror(errno));
    return 0;
}

/*
 * Reads a whole regular file of at most max bytes, without following a link.
 * Returns 0 with *out (malloc'd) and *out_len, 1 when it does not exist, or -1.
 */
static int
read_file_at(struct ctx *c, int fd, const char *rel, const char *name, size_t max, uint8_t **out,
             size_t *out_len)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;
    int rc = -1;
    int f = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        if (errno == ENOENT)
            return 1;
        return fail(c, "cannot open %s/%s/%s: %s", c->dir, rel, name, strerror(errno));
    }
    if (fstat(f, &st) != 0) {
        fail(c, "cannot read %s/%s/%s: %s", c->dir, rel, name, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > max) {
        fail(c, "%s/%s/%s is not a regular file of at most %zu bytes: move it away", c->dir, rel,
             name, max);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        fail_nomem(c);
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(f, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail(c, "cannot read %s/%s/%s: %s", c->dir, rel, name, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *out = buf;
    *out_len = got;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(f);
    return rc;
}

/* ---- library.idx: encoding ---- */

static void
put(struct sz_wr *w, const char *s)
{
    size_t n = strlen(s);
    if (n > 0)
        sz_wr_bytes(w, s, n);
}

static void
enc_str(struct sz_wr *w, const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    if (n == 0) {
        put(w, "-");
        return;
    }
    for (size_t k = 0; k < n; k++) {
        uint8_t b = (uint8_t)s[k];
        if (b <= 0x20 || b == 0x7f || b == '%' || b == ',' || (k == 0 && b == '-')) {
            char e[3] = {'%', hexd[b >> 4], hexd[b & 15]};
            sz_wr_bytes(w, e, 3);
        } else {
            sz_wr_u8(w, b);
        }
    }
}

static void
enc_list(struct sz_wr *w, char *const *v, size_t n)
{
    if (n == 0) {
        put(w, "-");
        return;
    }
    for (size_t k = 0; k < n; k++) {
        if (k > 0)
            put(w, ",");
        if (v[k][0] == '\0')
            put(w, "%00"); /* never stored: empty items are refused on load */
        else
            enc_str(w, v[k]);
    }
}

static void
enc_hex(struct sz_wr *w, const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    sz_hex(p, n, hex);
    put(w, hex);
}

static void
enc_u64(struct sz_wr *w, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    put(w, buf);
}

static void
enc_i64(struct sz_wr *w, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    put(w, buf);
}

static void
index_encode(struct sz_wr *w, const struct lib *l)
{
    put(w, INDEX_MAGIC "\n");
    for (size_t k = 0; k < l->n_names; k++) {
        put(w, "N ");
        enc_hex(w, l->names[k].pub, SZ_PUBLIC_KEY_LEN);
        put(w, " ");
        enc_str(w, l->names[k].name);
        put(w, "\n");
    }
    for (size_t k = 0; k < l->n_bundles; k++) {
        const struct lib_bundle *b = &l->bundles[k];
        put(w, "B ");
        enc_hex(w, b->id, SZ_BUNDLE_ID_LEN);
        put(w, " ");
        enc_hex(w, b->pub, SZ_PUBLIC_KEY_LEN);
        put(w, " ");
        enc_u64(w, b->seq);
        put(w, " ");
        enc_i64(w, b->created);
        put(w, "\n");
    }
    for (size_t k = 0; k < l->n_arts; k++) {
        const struct lib_art *a = l->arts[k];
        put(w, "A ");
        enc_hex(w, a->pub, SZ_PUBLIC_KEY_LEN);
        put(w, " ");
        put(w, a->id);
        put(w, " ");
        enc_u64(w, a->seq);
        put(w, " ");
        enc_hex(w, a->bundle, SZ_BUNDLE_ID_LEN);
        put(w, " ");
        enc_i64(w, a->published);
        put(w, " ");
        enc_u64(w, (uint64_t)a->ctype);
        put(w, " ");
        enc_str(w, a->title);
        put(w, " ");
        enc_str(w, a->lang);
        put(w, " ");
        enc_str(w, a->summary);
        put(w, " ");
        enc_str(w, a->url);
        put(w, " ");
        enc_list(w, a->authors, a->n_authors);
        put(w, " ");
        enc_list(w, a->files, a->n_files);
        if (a->folder != NULL) {
            put(w, " ");
            put(w, a->folder);
        }
        put(w, "\n");
    }
}

static void
pstate_encode(struct sz_wr *w, const struct lib *l)
{
    put(w, PSTATE_MAGIC "\n");
    for (size_t k = 0; k < l->n_pst; k++) {
        const struct lib_pstate *p = &l->pst[k];
        put(w, "F ");
        enc_hex(w, p->pub, SZ_PUBLIC_KEY_LEN);
        put(w, " ");
        enc_i64(w, p->last_fetch);
        put(w, " ");
        enc_i64(w, p->stale_after);
        put(w, " ");
        if (p->reported)
            enc_i64(w, p->reported_at);
        else
            put(w, "-");
        put(w, "\n");
    }
}

/* ---- library.idx: decoding (the file may be damaged: check everything) ---- */

struct field {
    const char *p;
    size_t len;
};

static bool
dec_hex(struct field f, uint8_t *out, size_t n)
{
    return f.len == 2 * n && sz_unhex(f.p, f.len, out, n) == 0;
}

static bool
dec_u64(struct field f, uint64_t *out)
{
    uint64_t v = 0;
    if (f.len == 0 || f.len > 20 || (f.len > 1 && f.p[0] == '0'))
        return false;
    for (size_t k = 0; k < f.len; k++) {
        if (f.p[k] < '0' || f.p[k] > '9')
            return false;
        uint64_t d = (uint64_t)(f.p[k] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool
dec_i64(struct field f, int64_t *out)
{
    bool neg = f.len > 0 && f.p[0] == '-';
    uint64_t v;
    if (neg) {
        f.p++;
        f.len--;
    }
    if (!dec_u64(f, &v) || v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
        return false;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

/* Decodes a percent-encoded string of at most max bytes into a new C string. */
static bool
dec_str(struct field f, size_t max, char **out)
{
    if (f.len == 1 && f.p[0] == '-') {
        *out = dup_n("", 0);
        return *out != NULL;
    }
    if (f.len == 0)
        return false;
    char *s = malloc(f.len + 1);
    size_t n = 0;
    if (s == NULL)
        return false;
    for (size_t k = 0; k < f.len; k++) {
        if (f.p[k] == '%') {
            int hi, lo;
            if (k + 2 >= f.len || (hi = sz_hex_digit(f.p[k + 1])) < 0 ||
                (lo = sz_hex_digit(f.p[k + 2])) < 0)
                goto bad;
            s[n++] = (char)(hi << 4 | lo);
            k += 2;
        } else if ((uint8_t)f.p[k] <= 0x20 || f.p[k] == 0x7f || f.p[k] == ',') {
            goto bad;
        } else {
            s[n++] = f.p[k];
        }
    }
    if (n > max || !sz_utf8_valid((const uint8_t *)s, n))
        goto bad;
    s[n] = '\0';
    *out = s;
    return true;
bad:
    free(s);
    return false;
}

/* Decodes a ','-separated list of non-empty strings. */
/* A name the library may have given a file: safe characters, not "." or "-" first. */
static bool
stored_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > STORED_NAME_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t k = 0; k < n; k++) {
        char ch = s[k];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static bool
dec_list(struct field f, size_t max_items, size_t max_len, bool safe_names, char ***out,
         size_t *n_out)
{
    char **v = NULL;
    size_t n = 0;
    if (f.len == 1 && f.p[0] == '-') {
        *out = NULL;
        *n_out = 0;
        return true;
    }
    /* Exactly as many slots as items: a library holds tens of thousands of lists. */
    size_t items = 1;
    for (size_t k = 0; k < f.len; k++)
        items += f.p[k] == ',';
    if (items > max_items || (v = calloc(items, sizeof *v)) == NULL)
        return false;
    size_t start = 0;
    for (size_t k = 0; k <= f.len; k++) {
        if (k < f.len && f.p[k] != ',')
            continue;
        struct field item = {f.p + start, k - start};
        char *s;
        if (item.len == 0 || (item.len == 1 && item.p[0] == '-'))
            goto bad;
        if (!dec_str(item, max_len, &s))
            goto bad;
        v[n++] = s;
        if (s[0] == '\0' || (safe_names && !stored_name_ok(s)))
            goto bad;
        start = k + 1;
    }
    *out = v;
    *n_out = n;
    return true;
bad:
    free_list(v, n);
    return false;
}

static bool
parse_name(struct lib *l, struct field *f, size_t nf)
{
    struct lib_name nm;
    if (nf != 3 || !dec_hex(f[1], nm.pub, SZ_PUBLIC_KEY_LEN) || find_name(l, nm.pub) != NULL ||
        !dec_str(f[2], NAME_MAX_LEN, &nm.name))
        return false;
    if (!grow((void **)&l->names, &l->cap_names, l->n_names, sizeof *l->names)) {
        free(nm.name);
        return false;
    }
    l->names[l->n_names++] = nm;
    return true;
}

static bool
parse_bundle(struct lib *l, struct field *f, size_t nf)
{
    struct lib_bundle b;
    if (nf != 5 || !dec_hex(f[1], b.id, SZ_BUNDLE_ID_LEN) ||
        !dec_hex(f[2], b.pub, SZ_PUBLIC_KEY_LEN) || !dec_u64(f[3], &b.seq) ||
        !dec_i64(f[4], &b.created) || find_bundle(l, b.id) != NULL)
        return false;
    return lib_add_bundle(l, &b);
}

static bool
parse_article(struct lib *l, struct field *f, size_t nf)
{
    uint64_t ctype;
    bool found;
    struct lib_art *a = calloc(1, sizeof *a);
    if (a == NULL)
        return false;
    if ((nf != 13 && nf != 14) || !dec_hex(f[1], a->pub, SZ_PUBLIC_KEY_LEN) ||
        !sz_safe_name(f[2].p, f[2].len) || (a->id = dup_n(f[2].p, f[2].len)) == NULL ||
        !dec_u64(f[3], &a->seq) || !dec_hex(f[4], a->bundle, SZ_BUNDLE_ID_LEN) ||
        !dec_i64(f[5], &a->published) || !dec_u64(f[6], &ctype) || ctype < SZ_CTYPE_PLAIN ||
        ctype > SZ_CTYPE_HTML || !dec_str(f[7], SZ_MAX_TITLE_LEN, &a->title) ||
        a->title[0] == '\0' || !dec_str(f[8], SZ_MAX_LANG_LEN, &a->lang) ||
        !dec_str(f[9], SZ_MAX_SUMMARY_LEN, &a->summary) ||
        !dec_str(f[10], SZ_MAX_URL_LEN, &a->url) ||
        !dec_list(f[11], SZ_MAX_AUTHORS, SZ_MAX_AUTHOR_LEN, false, &a->authors, &a->n_authors) ||
        !dec_list(f[12], SZ_MAX_ATTACHMENTS + 1, STORED_NAME_MAX, true, &a->files, &a->n_files) ||
        a->n_files == 0)
        goto bad;
    if (nf == 14 &&
        (f[13].len > FOLDER_MAX_LEN || (a->folder = dup_n(f[13].p, f[13].len)) == NULL ||
         !folder_valid(a->id, a->folder)))
        goto bad;
    a->ctype = (enum sz_ctype)ctype;
    size_t pos = art_pos(l, a->pub, a->id, &found);
    if (found || !art_insert(l, pos, a))
        goto bad;
    return true;
bad:
    art_free(a);
    return false;
}

/*
 * Splits the line at buf[off..] into fields separated by one space. Sets *end
 * to the offset of its '\n'. False for a line that is empty, lacks its '\n',
 * has an empty field or more than MAX_FIELDS.
 */
static bool
split_line(const uint8_t *buf, size_t len, size_t off, struct field *f, size_t *nf, size_t *end)
{
    const uint8_t *nl = memchr(buf + off, '\n', len - off);
    *end = nl == NULL ? len : (size_t)(nl - buf);
    *nf = 0;
    if (nl == NULL || *end == off)
        return false;
    for (size_t k = off; k <= *end; k++) {
        size_t start = k;
        while (k < *end && buf[k] != ' ')
            k++;
        if (*nf == MAX_FIELDS || k == start)
            return false;
        f[*nf].p = (const char *)buf + start;
        f[*nf].len = k - start;
        (*nf)++;
    }
    return true;
}

/* Parses library.idx. On failure the reason names the line. */
static int
index_parse(struct ctx *c, struct lib *l, const uint8_t *buf, size_t len)
{
    size_t line_no = 0, off = 0;
    static const char magic[] = INDEX_MAGIC "\n";
    if (len < sizeof magic - 1 || memcmp(buf, magic, sizeof magic - 1) != 0)
        return fail(c,
                    "%s/" STATE_DIR "/" INDEX_FILE " is damaged or of an unknown version "
                    "(line 1): move it away and add the bundles in %s/" STATE_DIR "/" BUNDLES_DIR
                    " again",
                    c->dir, c->dir);
    off = sizeof magic - 1;
    line_no = 1;
    while (off < len) {
        struct field f[MAX_FIELDS];
        size_t nf, end;
        bool ok = split_line(buf, len, off, f, &nf, &end);
        line_no++;
        if (ok && f[0].len == 1) {
            switch (f[0].p[0]) {
            case 'N':
                ok = parse_name(l, f, nf);
                break;
            case 'B':
                ok = parse_bundle(l, f, nf);
                break;
            case 'A':
                ok = parse_article(l, f, nf);
                break;
            default:
                ok = false;
            }
        } else {
            ok = false;
        }
        if (!ok)
            return fail(c,
                        "%s/" STATE_DIR "/" INDEX_FILE " is damaged (line %zu): move it away "
                        "and add the bundles in %s/" STATE_DIR "/" BUNDLES_DIR " again",
                        c->dir, line_no, c->dir);
        off = end + 1;
    }
    if (!folder_reserve(l, 0))
        return fail_nomem(c);
    return 0;
}

/* Loads DIR/.samizdat/library.idx (a missing file is an empty library). */
static int
index_load(struct ctx *c, struct lib *l)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int r = read_file_at(c, c->sfd, STATE_DIR, INDEX_FILE, INDEX_MAX_LEN, &buf, &len);
    if (r != 0)
        return r < 0 ? -1 : 0;
    r = index_parse(c, l, buf, len);
    free(buf);
    if (r != 0)
        lib_free(l);
    return r;
}

static bool
parse_pstate(struct lib *l, struct field *f, size_t nf)
{
    struct lib_pstate p = {0};
    if (nf != 5 || f[0].len != 1 || f[0].p[0] != 'F' || !dec_hex(f[1], p.pub, SZ_PUBLIC_KEY_LEN) ||
        find_pstate(l, p.pub) != NULL || !dec_i64(f[2], &p.last_fetch) ||
        !dec_i64(f[3], &p.stale_after) || p.stale_after < 0)
        return false;
    if (!(f[4].len == 1 && f[4].p[0] == '-')) {
        if (!dec_i64(f[4], &p.reported_at))
            return false;
        p.reported = true;
    }
    if (!grow((void **)&l->pst, &l->cap_pst, l->n_pst, sizeof *l->pst))
        return false;
    l->pst[l->n_pst++] = p;
    return true;
}

/* Parses publishers.idx. On failure the reason names the line. */
static int
pstate_parse(struct ctx *c, struct lib *l, const uint8_t *buf, size_t len)
{
    static const char magic[] = PSTATE_MAGIC "\n";
    size_t line_no = 1, off = sizeof magic - 1;
    if (len < sizeof magic - 1 || memcmp(buf, magic, sizeof magic - 1) != 0)
        return fail(c,
                    "%s/" STATE_DIR "/" PSTATE_FILE " is damaged or of an unknown version "
                    "(line 1): move it away and fetch again (it holds only the last fetch times "
                    "and the equivocations peers reported)",
                    c->dir);
    while (off < len) {
        struct field f[MAX_FIELDS];
        size_t nf, end;
        line_no++;
        if (!split_line(buf, len, off, f, &nf, &end) || !parse_pstate(l, f, nf))
            return fail(c,
                        "%s/" STATE_DIR "/" PSTATE_FILE " is damaged (line %zu): move it "
                        "away and fetch again (it holds only the last fetch times and the "
                        "equivocations peers reported)",
                        c->dir, line_no);
        off = end + 1;
    }
    return 0;
}

/* Loads DIR/.samizdat/publishers.idx (a missing file: no fetch recorded yet). */
static int
pstate_load(struct ctx *c, struct lib *l)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int r = read_file_at(c, c->sfd, STATE_DIR, PSTATE_FILE, INDEX_MAX_LEN, &buf, &len);
    if (r != 0)
        return r < 0 ? -1 : 0;
    r = pstate_parse(c, l, buf, len);
    free(buf);
    return r;
}

/* Loads library.idx, then publishers.idx; frees l on failure. */
static int
lib_load(struct ctx *c, struct lib *l)
{
    if (index_load(c, l) != 0)
        return -1;
    if (pstate_load(c, l) != 0) {
        lib_free(l);
        return -1;
    }
    return 0;
}

/* ---- adding bundles ---- */

/* Names compared ignoring ASCII case: FAT, exFAT and casefolded ext4 do. */
static bool
reserved_name(const char *s)
{
    return strcasecmp(s, PAGE_FILE) == 0 || strcasecmp(s, "body.md") == 0 ||
           strcasecmp(s, "body.html") == 0 || strcasecmp(s, "body.html.txt") == 0 ||
           strcasecmp(s, "body.txt") == 0;
}

static bool
in_names(char *const *v, size_t n, const char *s)
{
    for (size_t k = 0; k < n; k++) {
        if (v[k] != NULL && strcasecmp(v[k], s) == 0)
            return true;
    }
    return false;
}

/*
 * True when a browser opens the file from file:// as a picture, a sound, a
 * film, plain text or a PDF, or offers to save it: by its extension, ignoring
 * case. Anything else may open as a document that runs script or loads remote
 * resources (HTML, SVG, XML and every "+xml" type: .rss, .atom, .xsd, .xbl...,
 * or what a browser sniffs from a file with no known extension), so it is
 * stored with ".txt" appended. (Chromium's PDF viewer was checked: a PDF whose
 * open action is a URI or JavaScript asking for a URL makes no request.)
 */
static bool
passive_name(const char *s)
{
    static const char *const ext[] = {
        /* pictures (never SVG) */
        "png", "jpg", "jpeg", "gif", "webp", "avif", "bmp", "ico",
        /* sound and film */
        "mp3", "ogg", "oga", "opus", "wav", "flac", "m4a", "aac", "weba", "mp4", "m4v", "webm",
        "ogv", "mov",
        /* text a browser shows as text */
        "txt", "md", "markdown", "csv", "tsv", "json", "log",
        /* documents a browser shows in its viewer or offers to save */
        "pdf", "epub", "odt", "ods", "odp", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "rtf",
        /* archives */
        "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "tar"};
    const char *dot = strrchr(s, '.');

    if (dot == NULL)
        return false;
    for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
        if (strcasecmp(dot + 1, ext[k]) == 0)
            return true;
    }
    return false;
}

/*
 * The file names of an article in the library: [0] the body file, then one per
 * attachment. A name that is not passive_name() gets ".txt" appended; a name
 * taken already (ignoring case, as FAT, exFAT and macOS do: by the library's
 * own files or an earlier attachment), or that Windows cannot give a file
 * (windows_unsafe(): "nul.png"), gets "_", then "2_", "3_"... prepended
 * until it is free. At most SZ_MAX_ATTACHMENTS + 6 names are taken, so a free
 * one is always found within STORED_NAME_MAX.
 */
static int
stored_names(struct ctx *c, const struct sz_article *a, char ***out)
{
    char **v = calloc(a->n_atts + 1, sizeof *v);
    if (v == NULL)
        return fail_nomem(c);
    v[0] = dup_n(render_body_file(a->ctype), strlen(render_body_file(a->ctype)));
    if (v[0] == NULL)
        goto nomem;
    for (size_t k = 0; k < a->n_atts; k++) {
        const struct sz_str *nm = &a->atts[k].name;
        char base[SZ_MAX_ID_LEN + 5], *s = malloc(STORED_NAME_MAX + 1);
        if (s == NULL)
            goto nomem;
        snprintf(base, sizeof base, "%.*s", (int)nm->len, nm->p);
        if (!passive_name(base))
            memcpy(base + nm->len, ".txt", 5);
        snprintf(s, STORED_NAME_MAX + 1, "%s", base);
        for (unsigned n = 1; reserved_name(s) || windows_unsafe(s) || in_names(v, k + 1, s); n++) {
            if (n == 1)
                snprintf(s, STORED_NAME_MAX + 1, "_%s", base);
            else
                snprintf(s, STORED_NAME_MAX + 1, "%u_%s", n, base);
        }
        v[k + 1] = s;
    }
    *out = v;
    return 0;
nomem:
    free_list(v, a->n_atts + 1);
    return fail_nomem(c);
}

static const char *
publisher_name(const struct lib *l, const uint8_t *pub)
{
    const struct lib_name *nm = find_name(l, pub);
    return nm != NULL ? nm->name : NULL;
}

/*
 * Builds the library record of an article, taking over files. On failure
 * (NULL) files still belong to the caller.
 */
static struct lib_art *
art_new(const struct sz_bundle *b, const struct sz_article *a, char **files)
{
    struct lib_art *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    memcpy(r->pub, b->hdr.publisher, SZ_PUBLIC_KEY_LEN);
    memcpy(r->bundle, b->id, SZ_BUNDLE_ID_LEN);
    r->seq = b->hdr.sequence;
    r->published = a->published;
    r->ctype = a->ctype;
    r->files = files;
    r->n_files = a->n_atts + 1;
    r->id = dup_n(a->id.p, a->id.len);
    r->title = dup_n(a->title.p, a->title.len);
    r->lang = dup_n(a->lang.p, a->lang.len);
    r->summary = dup_n(a->summary.p, a->summary.len);
    r->url = dup_n(a->url.p, a->url.len);
    bool ok = r->id && r->title && r->lang && r->summary && r->url;
    if (ok && a->n_authors > 0) {
        r->authors = calloc(a->n_authors, sizeof *r->authors);
        ok = r->authors != NULL;
        for (size_t k = 0; ok && k < a->n_authors; k++) {
            r->authors[k] = dup_n(a->authors[k].p, a->authors[k].len);
            ok = r->authors[k] != NULL;
            r->n_authors = k + 1;
        }
    }
    if (!ok) {
        r->files = NULL; /* the caller still owns files */
        r->n_files = 0;
        art_free(r);
        return NULL;
    }
    return r;
}

/* ---- adding bundles: the plan, then the writers ---- */

/*
 * The workers of a batch render pages side by side but change the file system
 * one at a time: creating files in one file system from several threads makes
 * them wait on its locks (measured on ext4: twice the system time, no gain).
 */
static void
fs_lock(struct ctx *c)
{
    if (c->fs_mu != NULL)
        pthread_mutex_lock(c->fs_mu);
}

static void
fs_unlock(struct ctx *c)
{
    if (c->fs_mu != NULL)
        pthread_mutex_unlock(c->fs_mu);
}

/* One piece of a batch's writing, done by any writer thread. */
struct job {
    const struct library_item *it;
    const struct sz_article *a; /* NULL: the job writes the raw bundle */
    const struct lib_art *rec;  /* the article's new record (its stored file names) */
    const struct lib_art *old;  /* the record it replaces, or NULL */
    int pfd;                    /* the publisher's folder */
};

/* An open publisher folder of the batch. */
struct pub_dir {
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    int fd;
};

struct plan {
    struct job *jobs;
    size_t n_jobs, cap_jobs;
    struct lib_art **retired; /* records replaced in this batch: freed after it */
    size_t n_retired, cap_retired;
    struct pub_dir *dirs;
    size_t n_dirs, cap_dirs;
};

static void
plan_free(struct plan *p)
{
    for (size_t k = 0; k < p->n_retired; k++)
        art_free(p->retired[k]);
    for (size_t k = 0; k < p->n_dirs; k++)
        close(p->dirs[k].fd);
    free(p->jobs);
    free(p->retired);
    free(p->dirs);
    memset(p, 0, sizeof *p);
}

static struct job *
plan_job(struct ctx *c, struct plan *p)
{
    if (!grow((void **)&p->jobs, &p->cap_jobs, p->n_jobs, sizeof *p->jobs)) {
        fail_nomem(c);
        return NULL;
    }
    struct job *j = &p->jobs[p->n_jobs++];
    memset(j, 0, sizeof *j);
    j->pfd = -1;
    return j;
}

/* The publisher's folder, created and opened once per batch. */
static int
plan_pub_dir(struct ctx *c, struct plan *p, const uint8_t *pub, int *out)
{
    char pub_hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    for (size_t k = 0; k < p->n_dirs; k++) {
        if (memcmp(p->dirs[k].pub, pub, SZ_PUBLIC_KEY_LEN) == 0) {
            *out = p->dirs[k].fd;
            return 0;
        }
    }
    if (!grow((void **)&p->dirs, &p->cap_dirs, p->n_dirs, sizeof *p->dirs))
        return fail_nomem(c);
    sz_hex(pub, SZ_PUBLIC_KEY_LEN, pub_hex);
    int fd = -1;
    if (open_dir_at(c, c->dfd, "", pub_hex, true, &fd) != 0)
        return -1;
    memcpy(p->dirs[p->n_dirs].pub, pub, SZ_PUBLIC_KEY_LEN);
    p->dirs[p->n_dirs++].fd = fd;
    *out = fd;
    return 0;
}

/*
 * Plans one article unless the library already holds it from a bundle of the
 * same or a higher sequence: its new record replaces the old one in l at once
 * (so a later bundle of the batch sees it) and a job writes its folder. With
 * `repair`, an article the library holds from this very bundle is written
 * again (its files were found missing or changed: article_intact()).
 */
static int
plan_article(struct ctx *c, struct lib *l, struct plan *p, const struct library_item *it,
             const struct sz_article *a, bool repair, struct library_result *res)
{
    const struct sz_bundle *b = it->b;
    char id[SZ_MAX_ID_LEN + 1];
    char **files = NULL;
    bool found;

    memcpy(id, a->id.p, a->id.len);
    id[a->id.len] = '\0';
    size_t pos = art_pos(l, b->hdr.publisher, id, &found);
    struct lib_art *old = found ? l->arts[pos] : NULL;
    if (old != NULL && old->seq >= b->hdr.sequence &&
        !(repair && memcmp(old->bundle, b->id, SZ_BUNDLE_ID_LEN) == 0))
        return 0; /* the library has this article from a newer (or the same) bundle */

    int pfd = -1;
    if (plan_pub_dir(c, p, b->hdr.publisher, &pfd) != 0 || stored_names(c, a, &files) != 0)
        return -1;
    struct lib_art *rec = art_new(b, a, files);
    if (rec == NULL) {
        free_list(files, a->n_atts + 1);
        return fail_nomem(c);
    }
    if (old != NULL) {
        if (old->folder != NULL &&
            (rec->folder = dup_n(old->folder, strlen(old->folder))) == NULL) {
            art_free(rec);
            return fail_nomem(c);
        }
    } else if (!folder_reserve(l, 1) || !folder_choose(l, rec)) {
        art_free(rec);
        return fail_nomem(c);
    }
    if (old != NULL &&
        !grow((void **)&p->retired, &p->cap_retired, p->n_retired, sizeof *p->retired)) {
        art_free(rec);
        return fail_nomem(c);
    }
    struct job *j = plan_job(c, p);
    if (j == NULL) {
        art_free(rec);
        return -1;
    }
    if (old != NULL) {
        p->retired[p->n_retired++] = old;
        l->arts[pos] = rec;
        folder_swap(l, old, rec);
    } else if (!art_insert(l, pos, rec)) {
        art_free(rec);
        p->n_jobs--;
        return fail_nomem(c);
    } else {
        fold_put(l->by_folder, l->fold_cap, rec);
    }
    j->it = it;
    j->a = a;
    j->rec = rec;
    j->old = old;
    j->pfd = pfd;
    res->articles_written++;
    return 0;
}

/*
 * File k of an article's folder, in the order they are written: the body,
 * the attachments, then the page (a page implies its files).
 */
static void
article_file(const struct lib_art *rec, const struct sz_article *a, const struct sz_wr *page,
             size_t k, const char **name, const void **data, size_t *len)
{
    if (k == 0) {
        *name = rec->files[0];
        *data = a->body;
        *len = a->body_len;
    } else if (k < rec->n_files) {
        *name = rec->files[k];
        *data = a->atts[k - 1].data;
        *len = a->atts[k - 1].data_len;
    } else {
        *name = PAGE_FILE;
        *data = page->p;
        *len = page->len;
    }
}

/* True when fd holds exactly len bytes equal to data. */
static bool
file_equals(int fd, const void *data, size_t len)
{
    struct stat st;
    uint8_t buf[65536];
    size_t off = 0;

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != len)
        return false;
    while (off < len) {
        size_t want = len - off < sizeof buf ? len - off : sizeof buf;
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || memcmp(buf, (const uint8_t *)data + off, (size_t)n) != 0)
            return false;
        off += (size_t)n;
    }
    return true;
}

/*
 * True when the folder of rec, an article the library holds from the bundle
 * that carries a, is whole: its body and attachments as a has them, and a
 * page. A reader who deleted or edited them gets them back by adding the
 * bundle again.
 */
static bool
article_intact(const struct ctx *c, const struct lib_art *rec, const struct sz_article *a)
{
    char pub_hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    int pfd, afd;
    bool whole = true;
    struct stat st;

    if (rec->n_files != a->n_atts + 1)
        return true; /* not what the index describes: leave it */
    sz_hex(rec->pub, SZ_PUBLIC_KEY_LEN, pub_hex);
    pfd = openat(c->dfd, pub_hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return false;
    afd = openat(pfd, art_folder(rec), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(pfd);
    if (afd < 0)
        return false;
    for (size_t k = 0; k < rec->n_files && whole; k++) {
        const char *name;
        const void *data;
        size_t len;
        article_file(rec, a, NULL, k, &name, &data, &len);
        int fd = openat(afd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        whole = fd >= 0 && file_equals(fd, data, len);
        if (fd >= 0)
            close(fd);
    }
    if (whole)
        whole = fstatat(afd, PAGE_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
                st.st_size > 0;
    close(afd);
    return whole;
}

/*
 * Where old file name (ignoring case, as FAT, exFAT and casefolded ext4 do)
 * is among the old version's files, its page being file old->n_files; or
 * SIZE_MAX.
 */
static size_t
old_file_index(const struct lib_art *old, const char *name)
{
    if (strcasecmp(name, PAGE_FILE) == 0)
        return old->n_files;
    for (size_t k = 0; k < old->n_files; k++) {
        if (strcasecmp(old->files[k], name) == 0)
            return k;
    }
    return SIZE_MAX;
}

/*
 * A new version of an article over an old one: every file is written under a
 * temporary name first, and only when all are written do they take their
 * names (the page last). A failure (a full disk) leaves the old version whole.
 * Each old file moves aside (prev_name(): to the name for the new bundle and
 * its index) rather than being replaced or deleted, so that the old version
 * comes back whole if the batch fails before library.idx records the new one
 * (restore_replaced()); drop_aside() deletes them after the commit.
 */
static int
replace_files(struct ctx *c, int afd, const char *rel, const struct job *j,
              const struct sz_wr *page)
{
    const struct lib_art *rec = j->rec, *old = j->old;
    size_t n = rec->n_files + 1, k, staged = 0, len;
    char(*tmp)[TMP_NAME_LEN] = calloc(n, sizeof *tmp), prev[PREV_NAME_LEN];
    const char *name;
    const void *data;
    int rc = -1;

    if (tmp == NULL)
        return fail_nomem(c);
    for (k = 0; k < n; k++) {
        article_file(rec, j->a, page, k, &name, &data, &len);
        if (stage_at(c, afd, rel, name, data, len, false, tmp[k]) != 0)
            goto out;
        staged++;
    }
    for (k = 0; k < n; k++) {
        article_file(rec, j->a, page, k, &name, &data, &len);
        size_t i = old_file_index(old, name);
        if (i != SIZE_MAX) {
            /* Of one name, kept in place until the new one replaces it; of
             * another case, moved (the new name would not replace it). */
            const char *was = i < old->n_files ? old->files[i] : PAGE_FILE;
            prev_name(rec->bundle, i, prev);
            if ((strcmp(was, name) == 0 ? keep_aside(afd, was, prev)
                                        : renameat(afd, was, afd, prev)) != 0 &&
                errno != ENOENT) {
                fail(c, "cannot move %s/%s/%s aside: %s", c->dir, rel, name, strerror(errno));
                goto out;
            }
        }
        int r = commit_at(c, afd, rel, name, tmp[k]);
        tmp[k][0] = '\0'; /* renamed, or removed by commit_at() */
        if (r != 0)
            goto out;
    }
    /* The old files the new version does not have go aside too. */
    for (k = 0; k < old->n_files; k++) {
        if (in_names(rec->files, rec->n_files, old->files[k]) ||
            strcasecmp(old->files[k], PAGE_FILE) == 0)
            continue;
        prev_name(rec->bundle, k, prev);
        if (renameat(afd, old->files[k], afd, prev) != 0 && errno != ENOENT) {
            fail(c, "cannot move %s/%s/%s aside: %s", c->dir, rel, old->files[k], strerror(errno));
            goto out;
        }
    }
    rc = 0;
out:
    for (k = 0; k < staged; k++) {
        if (tmp[k][0] != '\0')
            unlinkat(afd, tmp[k], 0);
    }
    free(tmp);
    return rc;
}

/*
 * Writes one article's folder: the original files first, the page last; a
 * new version moves the older one's files aside (replace_files()).
 */
static int
run_article(struct ctx *c, const struct lib *l, const struct job *j)
{
    const struct sz_bundle *b = j->it->b;
    const struct sz_article *a = j->a;
    const struct lib_art *rec = j->rec;
    char pub_hex[2 * SZ_PUBLIC_KEY_LEN + 1], rel[2 * SZ_PUBLIC_KEY_LEN + FOLDER_MAX_LEN + 2];
    int afd = -1, rc = -1;
    struct sz_wr w;
    sz_wr_init(&w, PAGE_MAX_LEN);

    sz_hex(b->hdr.publisher, SZ_PUBLIC_KEY_LEN, pub_hex);
    snprintf(rel, sizeof rel, "%s/%s", pub_hex, art_folder(rec));
    struct render_page pg = {
        .a = a,
        .publisher = b->hdr.publisher,
        .publisher_name = publisher_name(l, b->hdr.publisher),
        .sequence = b->hdr.sequence,
        .created = b->hdr.created,
        .bundle_id = b->id,
        .att_files = (const char *const *)(rec->files + 1),
        .equivocated = seq_signed_twice(l, b->hdr.publisher, b->hdr.sequence),
    };
    render_article(&w, &pg);
    if (sz_wr_status(&w) != 0) {
        fail(c, "cannot render %s/%s/" PAGE_FILE ": %s", c->dir, rel,
             sz_strerror(sz_wr_status(&w)));
        sz_wr_free(&w, false);
        return -1;
    }

    fs_lock(c);
    if (open_dir_at(c, j->pfd, pub_hex, art_folder(rec), true, &afd) != 0)
        goto out;
    if (j->old != NULL) {
        if (replace_files(c, afd, rel, j, &w) != 0)
            goto out;
    } else {
        for (size_t k = 0; k <= rec->n_files; k++) {
            const char *name;
            const void *data;
            size_t len;
            article_file(rec, a, &w, k, &name, &data, &len);
            if (put_file_at(c, afd, rel, name, data, len) != 0)
                goto out;
        }
    }
    rc = 0;
out:
    if (afd >= 0)
        close(afd);
    fs_unlock(c);
    sz_wr_free(&w, false);
    return rc;
}

/* Keeps the raw bundle. */
static int
run_bundle(struct ctx *c, const struct job *j)
{
    const struct library_item *it = j->it;
    const struct sz_bundle *b = it->b;
    char id_hex[2 * SZ_BUNDLE_ID_LEN + 1], name[2 * SZ_BUNDLE_ID_LEN + 8];

    sz_bundle_id_hex(b->id, id_hex);
    snprintf(name, sizeof name, "%s.bundle", id_hex);
    fs_lock(c);
    int rc = put_file_at(c, c->bfd, STATE_DIR "/" BUNDLES_DIR, name, it->raw, it->raw_len);
    fs_unlock(c);
    return rc;
}

/* The bundle's checks, repeated: the library must not trust its caller for
 * anything that becomes a path or a file. */
static int
check_item(struct ctx *c, const struct library_item *it, size_t k)
{
    struct sz_bundle_header hdr;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    const struct sz_bundle *b = it->b;
    if (b == NULL || b->c == NULL || it->raw == NULL)
        return fail(c, "bundle %zu: nothing to add", k + 1);
    if (sz_bundle_parse(it->raw, it->raw_len, SZ_BUNDLE_MAX_CONTENT_LEN, &hdr, id) != 0 ||
        memcmp(id, b->id, SZ_BUNDLE_ID_LEN) != 0 ||
        memcmp(hdr.publisher, b->hdr.publisher, SZ_PUBLIC_KEY_LEN) != 0 ||
        hdr.sequence != b->hdr.sequence)
        return fail(c, "bundle %zu: its raw bytes do not match the opened bundle", k + 1);
    for (size_t j = 0; j < b->c->n_articles; j++) {
        const struct sz_article *a = &b->c->articles[j];
        if (!sz_safe_name(a->id.p, a->id.len))
            return fail(c, "bundle %zu: article %zu has an unsafe id", k + 1, j + 1);
        for (size_t t = 0; t < a->n_atts; t++) {
            if (!sz_safe_name(a->atts[t].name.p, a->atts[t].name.len))
                return fail(c, "bundle %zu: article %.*s has an unsafe attachment name", k + 1,
                            (int)a->id.len, a->id.p);
        }
        int r = sz_article_check(a);
        if (r != 0)
            return fail(c, "bundle %zu: article %.*s: %s", k + 1, (int)a->id.len, a->id.p,
                        sz_strerror(r));
    }
    return 0;
}

/* Runs fn(c, arg, k) for k in [0, n) on up to MAX_WORKERS threads. */
struct pool {
    size_t n;
    int (*fn)(struct ctx *, const void *, size_t);
    const void *arg;
    struct ctx base;
    atomic_size_t next;
    atomic_bool failed;
    pthread_mutex_t mu;    /* guards err */
    pthread_mutex_t fs_mu; /* see fs_lock() */
    char *err;
    size_t err_cap;
};

struct worker {
    struct pool *p;
    unsigned no;
};

static void *
pool_work(void *arg)
{
    struct worker *wk = arg;
    struct pool *p = wk->p;
    char err[1024];
    struct ctx c = p->base;
    c.worker = wk->no;
    c.tmp_seq = 0;
    c.err = err;
    c.err_cap = sizeof err;
    c.fs_mu = &p->fs_mu;
    while (!atomic_load(&p->failed)) {
        size_t k = atomic_fetch_add(&p->next, 1);
        if (k >= p->n)
            break;
        if (p->fn(&c, p->arg, k) != 0) {
            pthread_mutex_lock(&p->mu);
            if (!atomic_load(&p->failed) && p->err != NULL && p->err_cap > 0)
                snprintf(p->err, p->err_cap, "%s", err);
            atomic_store(&p->failed, true);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

/* Threads: one per processor, at most MAX_WORKERS, fewer for little work. */
static unsigned
worker_count(size_t n, size_t per_worker)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t w = cpus < 1 ? 1 : (size_t)cpus;
    if (w > MAX_WORKERS)
        w = MAX_WORKERS;
    size_t need = (n + per_worker - 1) / per_worker;
    if (w > need)
        w = need;
    return w < 1 ? 1 : (unsigned)w;
}

/* The first failure stops the rest; its message is left in c's err. */
static int
par_for(struct ctx *c, size_t n, size_t per_worker, int (*fn)(struct ctx *, const void *, size_t),
        const void *arg)
{
    struct pool p = {
        .n = n, .fn = fn, .arg = arg, .base = *c, .err = c->err, .err_cap = c->err_cap};
    struct worker wk[MAX_WORKERS];
    pthread_t th[MAX_WORKERS];
    unsigned w = worker_count(n, per_worker), started = 0;
    sigset_t all, old;

    atomic_init(&p.next, 0);
    atomic_init(&p.failed, false);
    if (pthread_mutex_init(&p.mu, NULL) != 0)
        return fail(c, "%s: cannot start the workers: out of resources", c->dir);
    if (pthread_mutex_init(&p.fs_mu, NULL) != 0) {
        pthread_mutex_destroy(&p.mu);
        return fail(c, "%s: cannot start the workers: out of resources", c->dir);
    }
    /* The workers take no signals: the caller's handlers run on its own thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned k = 1; k < w; k++) {
        wk[k] = (struct worker){&p, k + 1};
        if (pthread_create(&th[k], NULL, pool_work, &wk[k]) != 0)
            break; /* fewer threads: those that started do the rest */
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    wk[0] = (struct worker){&p, 1};
    pool_work(&wk[0]);
    for (unsigned k = 1; k <= started; k++)
        pthread_join(th[k], NULL);
    pthread_mutex_destroy(&p.fs_mu);
    pthread_mutex_destroy(&p.mu);
    return atomic_load(&p.failed) ? -1 : 0;
}

struct check_arg {
    const struct library_item *items;
};

static int
check_one(struct ctx *c, const void *arg, size_t k)
{
    const struct check_arg *a = arg;
    return check_item(c, &a->items[k], k);
}

struct write_arg {
    const struct lib *l;
    const struct plan *plan;
};

static int
write_one(struct ctx *c, const void *arg, size_t k)
{
    const struct write_arg *a = arg;
    const struct job *j = &a->plan->jobs[k];
    return j->a != NULL ? run_article(c, a->l, j) : run_bundle(c, j);
}

/* A sequence of a publisher's that this batch found signed twice. */
struct equiv_seq {
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    uint64_t seq;
};

/*
 * Puts the alarm of a sequence signed twice (render_article_alarm()) into
 * the page of an article of that sequence that a batch before wrote, right
 * after its navigation; a page that has it already (written in this batch,
 * or marked before) is left. Best effort: a page that is not the library's
 * own shape is left as it is.
 */
static int
mark_page(struct ctx *c, const struct lib *l, const struct lib_art *rec)
{
    static const char nav_end[] = "</nav>\n";
    char pub_hex[2 * SZ_PUBLIC_KEY_LEN + 1], rel[2 * SZ_PUBLIC_KEY_LEN + FOLDER_MAX_LEN + 2];
    int pfd = -1, afd = -1, rc = -1, r;
    uint8_t *page = NULL;
    size_t len = 0;
    struct sz_wr w;

    sz_hex(rec->pub, SZ_PUBLIC_KEY_LEN, pub_hex);
    snprintf(rel, sizeof rel, "%s/%s", pub_hex, art_folder(rec));
    sz_wr_init(&w, PAGE_MAX_LEN);
    if ((r = open_dir_at(c, c->dfd, "", pub_hex, false, &pfd)) != 0 ||
        (r = open_dir_at(c, pfd, pub_hex, art_folder(rec), false, &afd)) != 0 ||
        (r = read_file_at(c, afd, rel, PAGE_FILE, PAGE_MAX_LEN, &page, &len)) != 0) {
        rc = r > 0 ? 0 : -1; /* gone: nothing to mark */
        goto out;
    }
    const uint8_t *at = memmem(page, len, nav_end, sizeof nav_end - 1);
    size_t cut = at != NULL ? (size_t)(at - page) + sizeof nav_end - 1 : 0;
    if (at == NULL ||
        (len - cut >= sizeof RENDER_ALARM_START - 1 &&
         memcmp(page + cut, RENDER_ALARM_START, sizeof RENDER_ALARM_START - 1) == 0)) {
        rc = 0;
        goto out;
    }
    sz_wr_bytes(&w, page, cut);
    render_article_alarm(&w, rec->seq, rec->pub, publisher_name(l, rec->pub),
                         rec->lang != NULL && rec->lang[0] != '\0');
    sz_wr_bytes(&w, page + cut, len - cut);
    if (sz_wr_status(&w) != 0) {
        fail(c, "cannot mark %s/%s/" PAGE_FILE ": %s", c->dir, rel, sz_strerror(sz_wr_status(&w)));
        goto out;
    }
    rc = write_file_at(c, afd, rel, PAGE_FILE, w.p, w.len, false);
out:
    sz_wr_free(&w, false);
    free(page);
    if (afd >= 0)
        close(afd);
    if (pfd >= 0)
        close(pfd);
    return rc;
}

/* Marks the pages of every article of the sequences in eq (mark_page()). */
static int
mark_equivocated(struct ctx *c, const struct lib *l, const struct equiv_seq *eq, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        bool found;
        for (size_t i = art_pos(l, eq[k].pub, "", &found);
             i < l->n_arts && memcmp(l->arts[i]->pub, eq[k].pub, SZ_PUBLIC_KEY_LEN) == 0; i++)
            if (l->arts[i]->seq == eq[k].seq && mark_page(c, l, l->arts[i]) != 0)
                return -1;
    }
    return 0;
}

/*
 * A publisher's bundles in the library. The highest sequence and the newest
 * signing (creation) time may belong to different bundles: a publisher may
 * sign #6 with an earlier date than #5 (pack --created, a wrong clock).
 * Freshness is about when the publisher last signed anything, so the index's
 * "newest bundle" and its staleness warning use the newest signing time and
 * the sequence of that bundle; the highest sequence keeps its own time.
 */
struct pub_group {
    const uint8_t *pk;
    bool has_bundle;
    uint64_t seq;         /* the highest sequence */
    int64_t seq_created;  /* the creation time of that bundle (the newest of two, if equivocated) */
    int64_t created;      /* the newest creation time of any bundle */
    uint64_t created_seq; /* the sequence of that bundle (the highest, on a tie) */
    int64_t newest;       /* newest article, INT64_MIN without any */
    size_t first, n;      /* range in the sorted entry order */
    bool eq_seen;         /* two bundles with one sequence: eq_seq, the highest */
    uint64_t eq_seq;
    const struct lib_pstate *ps; /* NULL: never fetched */
};

/* Counts bundle b into its publisher's group (see struct pub_group). */
static void
group_add_bundle(struct pub_group *g, const struct lib_bundle *b)
{
    if (!g->has_bundle || b->seq > g->seq || (b->seq == g->seq && b->created > g->seq_created)) {
        g->seq = b->seq;
        g->seq_created = b->created;
    }
    if (!g->has_bundle || b->created > g->created ||
        (b->created == g->created && b->seq > g->created_seq)) {
        g->created = b->created;
        g->created_seq = b->seq;
    }
    g->has_bundle = true;
}

static int
cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : (a > b);
}

/* Does the library hold two bundles of pub with one sequence? *seq: the highest such. */
static int
pub_equivocation(struct ctx *c, const struct lib *l, const uint8_t *pub, bool *seen, uint64_t *seq)
{
    size_t n = 0;
    uint64_t *v = malloc((l->n_bundles + 1) * sizeof *v);
    if (v == NULL)
        return fail_nomem(c);
    for (size_t k = 0; k < l->n_bundles; k++) {
        if (memcmp(l->bundles[k].pub, pub, SZ_PUBLIC_KEY_LEN) == 0)
            v[n++] = l->bundles[k].seq;
    }
    qsort(v, n, sizeof *v, cmp_u64);
    *seen = false;
    *seq = 0;
    for (size_t k = 1; k < n; k++) {
        if (v[k] == v[k - 1]) {
            *seen = true;
            *seq = v[k];
        }
    }
    free(v);
    return 0;
}

/* The index's view of a publisher (entries left empty). */
static struct render_publisher
render_pub_of(const struct lib *l, const struct pub_group *g)
{
    return (struct render_publisher){
        .pk = g->pk,
        .name = publisher_name(l, g->pk),
        .has_bundle = g->has_bundle,
        /* The newest signed bundle: see struct pub_group. */
        .sequence = g->created_seq,
        .created = g->created,
        .highest_sequence = g->seq,
        .highest_created = g->seq_created,
        .fetched = g->ps != NULL,
        .last_fetch = g->ps != NULL ? g->ps->last_fetch : 0,
        .stale_after_s = g->ps != NULL ? g->ps->stale_after : 0,
        .equivocation_seen = g->eq_seen,
        .equivocation_seq = g->eq_seq,
        .equivocation_reported = g->ps != NULL && g->ps->reported,
        .equivocation_reported_at = g->ps != NULL ? g->ps->reported_at : 0,
    };
}

static int
cmp_art_newest(const void *x, const void *y)
{
    const struct lib_art *a = *(const struct lib_art *const *)x;
    const struct lib_art *b = *(const struct lib_art *const *)y;
    int r = memcmp(a->pub, b->pub, SZ_PUBLIC_KEY_LEN);
    if (r != 0)
        return r;
    if (a->published != b->published)
        return a->published > b->published ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int
cmp_group(const void *x, const void *y)
{
    const struct pub_group *a = x, *b = y;
    if (a->newest != b->newest)
        return a->newest > b->newest ? -1 : 1;
    return memcmp(a->pk, b->pk, SZ_PUBLIC_KEY_LEN);
}

/* Is name a month page's ("YYYY-MM.html")? */
static bool
month_page_name(const char *name)
{
    static const char form[] = "dddd-dd.html";
    if (strlen(name) != sizeof form - 1)
        return false;
    for (size_t k = 0; form[k] != '\0'; k++) {
        if (form[k] == 'd' ? name[k] < '0' || name[k] > '9' : name[k] != form[k])
            return false;
    }
    return true;
}

/*
 * Deletes the month pages in fd (archive/<pub-hex>/) of months not in
 * months[0..n), which is sorted newest first: an article replaced by a version
 * of another month can leave one without articles. In a batch (c->pages) such
 * a page moves aside instead, logged as put_page() does. Best effort: a page
 * left behind only shows what the publisher's articles were.
 */
static void
drop_old_months(struct ctx *c, int fd, const uint8_t *pub, const uint32_t *months, size_t n)
{
    DIR *d = open_stream(fd);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        bool keep = !month_page_name(e->d_name);
        for (size_t k = 0; k < n && !keep; k++) {
            char name[RENDER_MONTH_NAME_LEN];
            render_month_name(months[k], name);
            keep = strcmp(name, e->d_name) == 0;
        }
        if (keep)
            continue;
        struct page_log *pl = c->pages;
        if (pl == NULL) {
            (void)unlinkat(dirfd(d), e->d_name, 0);
            continue;
        }
        char prev[PREV_NAME_LEN];
        /* A month page's name: RENDER_MONTH_NAME_LEN - 1 characters. */
        snprintf(prev, sizeof prev, PREV_PREFIX "%.*s", RENDER_MONTH_NAME_LEN - 1, e->d_name);
        if (!grow((void **)&pl->v, &pl->cap, pl->n, sizeof *pl->v) ||
            renameat(dirfd(d), e->d_name, dirfd(d), prev) != 0)
            continue;
        struct page_change *ch = &pl->v[pl->n++];
        *ch = (struct page_change){.month = true, .had_old = true};
        memcpy(ch->pub, pub, SZ_PUBLIC_KEY_LEN);
        snprintf(ch->name, sizeof ch->name, "%.*s", RENDER_MONTH_NAME_LEN - 1, e->d_name);
    }
    closedir(d);
}

/* Does the regular file `name` in fd hold exactly data[0..len)? */
static int
same_file(struct ctx *c, int fd, const char *rel, const char *name, const uint8_t *data, size_t len,
          bool *same)
{
    struct stat st;
    uint8_t *old = NULL;
    size_t old_len = 0;
    int rc;

    *same = false;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != len)
        return 0;
    rc = read_file_at(c, fd, rel, name, len, &old, &old_len);
    if (rc < 0)
        return -1;
    *same = rc == 0 && old_len == len && memcmp(old, data, len) == 0;
    free(old);
    return 0;
}

/*
 * Writes the month pages of pub, a publisher with more than
 * RENDER_INDEX_LATEST articles (see render.h), to DIR/archive/<pub-hex>/.
 * With `all`, every page is rendered and written where its bytes differ from
 * the file's (a month gained an article, a neighbour month appeared, the
 * publisher's name changed), and the pages of months left without articles
 * are deleted; without, only the pages missing are written (a library made
 * before month pages existed, or a page deleted by hand).
 */
static int
write_months(struct ctx *c, const struct render_publisher *pub, bool all)
{
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], rel[sizeof RENDER_ARCHIVE_DIR + 2 * SZ_PUBLIC_KEY_LEN + 1];
    uint32_t *months = malloc((pub->n_entries + 1) * sizeof *months);
    size_t *starts = malloc((pub->n_entries + 1) * sizeof *starts);
    size_t n_months = 0;
    int afd = -1, pfd = -1, rc = -1;

    if (months == NULL || starts == NULL) {
        fail_nomem(c);
        goto out;
    }
    sz_hex(pub->pk, SZ_PUBLIC_KEY_LEN, hex);
    snprintf(rel, sizeof rel, "%s/%s", RENDER_ARCHIVE_DIR, hex);
    if (open_dir_at(c, c->dfd, "", RENDER_ARCHIVE_DIR, true, &afd) != 0 ||
        open_dir_at(c, afd, RENDER_ARCHIVE_DIR, hex, true, &pfd) != 0)
        goto out;
    /* Entries are newest first, so each month's are together. */
    for (size_t k = 0; k < pub->n_entries; k++) {
        uint32_t m = render_month_of(pub->entries[k].published);
        if (n_months == 0 || months[n_months - 1] != m) {
            months[n_months] = m;
            starts[n_months++] = k;
        }
    }
    starts[n_months] = pub->n_entries;
    for (size_t i = 0; i < n_months; i++) {
        char name[RENDER_MONTH_NAME_LEN];
        struct stat st;
        struct sz_wr w;
        bool same = false;
        int wrc;

        render_month_name(months[i], name);
        if (!all && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            continue;
        sz_wr_init(&w, PAGE_MAX_LEN);
        render_month_page(&w, pub, months[i], pub->entries + starts[i], starts[i + 1] - starts[i],
                          i > 0 ? months[i - 1] : UINT32_MAX,
                          i + 1 < n_months ? months[i + 1] : UINT32_MAX);
        if (sz_wr_status(&w) != 0)
            wrc = fail(c, "cannot render %s/%s/%s: %s", c->dir, rel, name,
                       sz_strerror(sz_wr_status(&w)));
        else if ((wrc = same_file(c, pfd, rel, name, w.p, w.len, &same)) == 0 && !same)
            wrc = put_page(c, pfd, rel, pub->pk, name, w.p, w.len);
        sz_wr_free(&w, false);
        if (wrc != 0)
            goto out;
    }
    if (all)
        drop_old_months(c, pfd, pub->pk, months, n_months);
    rc = 0;
out:
    if (pfd >= 0)
        close(pfd);
    if (afd >= 0)
        close(afd);
    free(months);
    free(starts);
    return rc;
}

/*
 * Renders and writes DIR/index.html from the library's records, after the
 * month pages it links to (write_months(): every one with `all_months`, else
 * only those missing).
 */
static int
write_index_html(struct ctx *c, const struct lib *l, bool all_months)
{
    const struct lib_art **arts = NULL;
    struct pub_group *groups = NULL;
    struct render_entry *entries = NULL;
    struct render_publisher *pubs = NULL;
    size_t n_groups = 0;
    int rc = -1;
    struct sz_wr w;
    sz_wr_init(&w, PAGE_MAX_LEN);

    arts = calloc(l->n_arts + 1, sizeof *arts);
    groups = calloc(l->n_bundles + l->n_pst + 1, sizeof *groups);
    entries = calloc(l->n_arts + 1, sizeof *entries);
    pubs = calloc(l->n_bundles + l->n_pst + 1, sizeof *pubs);
    if (arts == NULL || groups == NULL || entries == NULL || pubs == NULL) {
        fail_nomem(c);
        goto out;
    }
    for (size_t k = 0; k < l->n_arts; k++)
        arts[k] = l->arts[k];
    qsort(arts, l->n_arts, sizeof *arts, cmp_art_newest);

    /* One group per publisher with a bundle in the library. */
    for (size_t k = 0; k < l->n_bundles; k++) {
        const struct lib_bundle *b = &l->bundles[k];
        size_t g = 0;
        while (g < n_groups && memcmp(groups[g].pk, b->pub, SZ_PUBLIC_KEY_LEN) != 0)
            g++;
        if (g == n_groups)
            groups[n_groups++] = (struct pub_group){.pk = b->pub, .newest = INT64_MIN};
        group_add_bundle(&groups[g], b);
    }
    /* And one per publisher a fetch asked for that has none yet. */
    for (size_t k = 0; k < l->n_pst; k++) {
        size_t g = 0;
        while (g < n_groups && memcmp(groups[g].pk, l->pst[k].pub, SZ_PUBLIC_KEY_LEN) != 0)
            g++;
        if (g == n_groups)
            groups[n_groups++] = (struct pub_group){.pk = l->pst[k].pub, .newest = INT64_MIN};
    }
    for (size_t g = 0; g < n_groups; g++) {
        groups[g].ps = find_pstate(l, groups[g].pk);
        if (groups[g].has_bundle &&
            pub_equivocation(c, l, groups[g].pk, &groups[g].eq_seen, &groups[g].eq_seq) != 0)
            goto out;
    }
    for (size_t k = 0; k < l->n_arts;) {
        size_t e = k;
        while (e < l->n_arts && memcmp(arts[e]->pub, arts[k]->pub, SZ_PUBLIC_KEY_LEN) == 0)
            e++;
        for (size_t g = 0; g < n_groups; g++) {
            if (memcmp(groups[g].pk, arts[k]->pub, SZ_PUBLIC_KEY_LEN) == 0) {
                groups[g].first = k;
                groups[g].n = e - k;
                groups[g].newest = arts[k]->published;
            }
        }
        k = e;
    }
    qsort(groups, n_groups, sizeof *groups, cmp_group);
    for (size_t k = 0; k < l->n_arts; k++) {
        const struct lib_art *a = arts[k];
        entries[k] = (struct render_entry){
            .folder = art_folder(a),
            .title = a->title,
            .lang = a->lang,
            .summary = a->summary,
            .authors = (const char *const *)a->authors,
            .n_authors = a->n_authors,
            .published = a->published,
        };
    }
    for (size_t g = 0; g < n_groups; g++) {
        pubs[g] = render_pub_of(l, &groups[g]);
        pubs[g].entries = entries + groups[g].first;
        pubs[g].n_entries = groups[g].n;
        if (pubs[g].n_entries > RENDER_INDEX_LATEST && write_months(c, &pubs[g], all_months) != 0)
            goto out;
    }
    render_index(&w, pubs, n_groups);
    if (sz_wr_status(&w) != 0) {
        fail(c, "cannot render %s/" PAGE_FILE ": %s", c->dir, sz_strerror(sz_wr_status(&w)));
        goto out;
    }
    rc = put_page(c, c->dfd, "", NULL, PAGE_FILE, w.p, w.len);
out:
    sz_wr_free(&w, false);
    free(arts);
    free(groups);
    free(entries);
    free(pubs);
    return rc;
}

/*
 * Encodes one of the state files with `encode` and writes it durably to
 * STATE_DIR/name, as write_file_at() does. *placed tells whether the new file
 * took the name, which a failure to sync the folder after does not undo.
 */
static int
write_state_file(struct ctx *c, const struct lib *l, const char *name,
                 void (*encode)(struct sz_wr *, const struct lib *), bool *placed)
{
    char tmp[TMP_NAME_LEN];
    struct sz_wr w;
    int rc = -1;
    *placed = false;
    sz_wr_init(&w, INDEX_MAX_LEN);
    encode(&w, l);
    if (sz_wr_status(&w) != 0) {
        fail(c, "cannot write %s/" STATE_DIR "/%s: %s", c->dir, name,
             sz_strerror(sz_wr_status(&w)));
    } else if (stage_at(c, c->sfd, STATE_DIR, name, w.p, w.len, true, tmp) == 0 &&
               commit_at(c, c->sfd, STATE_DIR, name, tmp) == 0) {
        *placed = true;
        rc = fsync(c->sfd) != 0
                 ? fail(c, "cannot sync folder %s/" STATE_DIR ": %s", c->dir, strerror(errno))
                 : 0;
    }
    sz_wr_free(&w, false);
    return rc;
}

/* Writes library.idx, the commit point; *placed as for write_state_file(). */
static int
write_index(struct ctx *c, const struct lib *l, bool *placed)
{
    return write_state_file(c, l, INDEX_FILE, index_encode, placed);
}

static int
write_pstate(struct ctx *c, const struct lib *l)
{
    bool placed;
    return write_state_file(c, l, PSTATE_FILE, pstate_encode, &placed);
}

static library_wait_cb wait_cb;

void
library_on_wait(library_wait_cb cb)
{
    wait_cb = cb;
}

/* Takes the writer's lock on DIR/.samizdat/lock (waits for another writer, said
 * through the library_on_wait() callback). */
static int
lock_library(struct ctx *c)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    c->lfd = openat(c->sfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (c->lfd < 0)
        return fail(c, "cannot open %s/" STATE_DIR "/" LOCK_FILE ": %s", c->dir, strerror(errno));
    if (fcntl(c->lfd, F_SETLK, &fl) == 0)
        return 0;
    if ((errno == EACCES || errno == EAGAIN) && wait_cb != NULL)
        wait_cb(c->dir);
    while (fcntl(c->lfd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR)
            return fail(c, "cannot lock %s/" STATE_DIR "/" LOCK_FILE ": %s", c->dir,
                        strerror(errno));
    }
    return 0;
}

/* Removes the temporaries (".tmp-*": no name the library gives starts with a
 * dot) in fd and, `depth` levels down, in its folders. */
static void
sweep_dir(int fd, int depth)
{
    DIR *d = open_stream(fd);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) == 0) {
            (void)unlinkat(dirfd(d), e->d_name, 0);
        } else if (depth > 0 && e->d_name[0] != '.' &&
                   (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                sweep_dir(sub, depth - 1);
                close(sub);
            }
        }
    }
    closedir(d);
}

/*
 * Under the lock, after recover_writing(): marks this writer's turn.
 * done_writing() takes the mark away once everything is in place.
 */
static int
begin_writing(struct ctx *c)
{
    int f = openat(c->sfd, WRITING_FILE, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0)
        return fail(c, "cannot write %s/" STATE_DIR "/" WRITING_FILE ": %s", c->dir,
                    strerror(errno));
    close(f);
    return 0;
}

static void
done_writing(struct ctx *c)
{
    (void)unlinkat(c->sfd, WRITING_FILE, 0);
}

/*
 * True when name is what replace_files() moved aside: PREV_PREFIX, the new
 * bundle's id in hex, '-' and the old file's index, which go to id and *k.
 */
static bool
prev_parse(const char *name, uint8_t id[SZ_BUNDLE_ID_LEN], size_t *k)
{
    const size_t pre = sizeof PREV_PREFIX - 1, hex = 2 * SZ_BUNDLE_ID_LEN;
    size_t len = strlen(name), v = 0;

    if (len < pre + hex + 2 || len > pre + hex + 6 || strncmp(name, PREV_PREFIX, pre) != 0 ||
        sz_unhex(name + pre, hex, id, SZ_BUNDLE_ID_LEN) != 0 || name[pre + hex] != '-')
        return false;
    for (const char *p = name + pre + hex + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (size_t)(*p - '0');
    }
    *k = v;
    return true;
}

/*
 * Resolves what a writer that died left in an article folder (afd, the folder
 * `folder` of the publisher folder `pub_dir`; pub NULL when that is no
 * publisher's): removes its temporaries, and each old file that
 * replace_files() moved aside goes when library.idx holds the bundle that
 * replaced it (the batch went in), or else back to its name in the record
 * library.idx still has; the files of the new version that record does not
 * list then go. *restored tells that an old version came back.
 */
static int
recover_article(struct ctx *c, const struct lib *l, const uint8_t *pub, int afd,
                const char *pub_dir, const char *folder, bool *restored, bool *orphan)
{
    const struct lib_art *a = pub != NULL ? find_folder(l, pub, folder) : NULL;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    struct dirent *e;
    bool back = false;
    size_t k;
    int rc = 0;
    DIR *d = open_stream(afd);

    if (d == NULL)
        return 0; /* as sweep_dir(): nothing to do about what cannot be read */
    if (pub != NULL && a == NULL) {
        /*
         * No record has it: a folder the writer that died made for a new
         * article, which library.idx never recorded, if it looks like one:
         * nothing but files, one of them its page or its body (the library
         * writes those, and nobody else's folder holds them). Its files go,
         * or a later version of that article would find them beside its
         * own; any other folder is left as it is.
         */
        bool mine = false, other = false;
        while ((e = readdir(d)) != NULL) {
            struct stat st;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                strncmp(e->d_name, ".tmp-", 5) == 0)
                continue;
            if (fstatat(afd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
                !stored_name_ok(e->d_name))
                other = true;
            else if (strcmp(e->d_name, PAGE_FILE) == 0 ||
                     strcmp(e->d_name, render_body_file(SZ_CTYPE_MARKDOWN)) == 0 ||
                     strcmp(e->d_name, render_body_file(SZ_CTYPE_HTML)) == 0 ||
                     strcmp(e->d_name, render_body_file(SZ_CTYPE_PLAIN)) == 0)
                mine = true;
        }
        if (mine && !other) {
            rewinddir(d);
            while ((e = readdir(d)) != NULL)
                if (strncmp(e->d_name, ".tmp-", 5) == 0 || stored_name_ok(e->d_name))
                    (void)unlinkat(afd, e->d_name, 0);
            *orphan = true;
        }
        closedir(d);
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) == 0) {
            (void)unlinkat(afd, e->d_name, 0);
        } else if (prev_parse(e->d_name, id, &k)) {
            if (find_bundle(l, id) != NULL) {
                (void)unlinkat(afd, e->d_name, 0);
            } else if (a != NULL && k <= a->n_files) {
                /* Otherwise no record says what it was: left alone. */
                const char *to = k < a->n_files ? a->files[k] : PAGE_FILE;
                if (put_back(afd, e->d_name, to) != 0)
                    rc = fail(c, "cannot put back %s/%s/%s/%s: %s", c->dir, pub_dir, folder, to,
                              strerror(errno));
                else
                    back = true;
            }
        }
    }
    closedir(d);
    if (!back)
        return rc;
    *restored = true;
    d = open_stream(afd);
    if (d == NULL)
        return rc;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.' && strcasecmp(e->d_name, PAGE_FILE) != 0 &&
            !in_names(a->files, a->n_files, e->d_name))
            (void)unlinkat(afd, e->d_name, 0);
    }
    closedir(d);
    return rc;
}

/* recover_article() for every article folder in pfd, the folder `name` in DIR. */
static int
recover_publisher(struct ctx *c, const struct lib *l, int pfd, const char *name, bool *restored)
{
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    bool known = strlen(name) == 2 * SZ_PUBLIC_KEY_LEN &&
                 sz_unhex(name, 2 * SZ_PUBLIC_KEY_LEN, pub, SZ_PUBLIC_KEY_LEN) == 0;
    struct dirent *e;
    int rc = 0;
    DIR *d = open_stream(pfd);

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) == 0) {
            (void)unlinkat(pfd, e->d_name, 0);
            continue;
        }
        if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
            continue;
        int afd = openat(pfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        bool orphan = false;
        if (afd < 0)
            continue;
        if (recover_article(c, l, known ? pub : NULL, afd, name, e->d_name, restored, &orphan) != 0)
            rc = -1;
        close(afd);
        if (orphan)
            (void)unlinkat(pfd, e->d_name, AT_REMOVEDIR); /* fails when something was left */
    }
    closedir(d);
    return rc;
}

/*
 * In archive/ (fd) and each publisher's folder in it: removes temporaries
 * and, with `drop`, the pages moved aside. True when there is such a page.
 */
static bool
sweep_archive(int fd, bool drop)
{
    struct dirent *e;
    bool found = false;
    DIR *d = open_stream(fd);

    if (d == NULL)
        return false;
    sweep_dir(fd, 0);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
            continue;
        int pfd = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
            continue;
        DIR *p = open_stream(pfd);
        struct dirent *f;
        while (p != NULL && (f = readdir(p)) != NULL) {
            if (strncmp(f->d_name, ".tmp-", 5) == 0) {
                (void)unlinkat(pfd, f->d_name, 0);
            } else if (strncmp(f->d_name, PREV_PREFIX, sizeof PREV_PREFIX - 1) == 0) {
                found = true;
                if (drop)
                    (void)unlinkat(pfd, f->d_name, 0);
            }
        }
        if (p != NULL)
            closedir(p);
        close(pfd);
    }
    closedir(d);
    return found;
}

/*
 * Under the lock, before a writer plans anything (l is library.idx and
 * publishers.idx): when the last writer died while writing (its mark is still
 * there), removes the temporaries it left in the library, its state folder and
 * every article folder (<publisher>/<article>) and resolves what it moved
 * aside (recover_article()). When it had replaced pages (they are aside too)
 * or an old version came back, index.html and the month pages are rendered
 * again from library.idx, so that they show what the articles' folders hold.
 * The mark stays until this writer is done (done_writing()), even one with
 * nothing to write (*marked says the mark was there); all of this can be done
 * again.
 */
static int
recover_writing(struct ctx *c, const struct lib *l, bool *marked)
{
    struct stat st;
    struct dirent *e;
    bool pages = false, restored = false;
    int rc = 0, afd;
    DIR *d;

    if (marked != NULL)
        *marked = false;
    if (fstatat(c->sfd, WRITING_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;
    if (marked != NULL)
        *marked = true;
    sweep_dir(c->sfd, 1);
    /* The raw bundles of a batch that library.idx never recorded. */
    if (c->bfd >= 0 && (d = open_stream(c->bfd)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            uint8_t id[SZ_BUNDLE_ID_LEN];
            const size_t hex = 2 * SZ_BUNDLE_ID_LEN;
            if (strlen(e->d_name) == hex + 7 && strcmp(e->d_name + hex, ".bundle") == 0 &&
                sz_unhex(e->d_name, hex, id, SZ_BUNDLE_ID_LEN) == 0 && find_bundle(l, id) == NULL)
                (void)unlinkat(c->bfd, e->d_name, 0);
        }
        closedir(d);
    }
    d = open_stream(c->dfd);
    if (d == NULL)
        return fail(c, "cannot read folder %s: %s", c->dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strncmp(name, ".tmp-", 5) == 0) {
            (void)unlinkat(c->dfd, name, 0);
            continue;
        }
        if (strncmp(name, PREV_PREFIX, sizeof PREV_PREFIX - 1) == 0)
            pages = true;
        if (name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
            continue;
        int sub = openat(c->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        if (strcmp(name, RENDER_ARCHIVE_DIR) == 0)
            pages = sweep_archive(sub, false) || pages;
        else if (recover_publisher(c, l, sub, name, &restored) != 0)
            rc = -1;
        close(sub);
    }
    closedir(d);
    if (rc != 0 || (!pages && !restored))
        return rc;
    /* The old versions back for good before the pages say so. */
    if (restored && sync_all(c) != 0)
        return -1;
    struct page_log *pl = c->pages;
    c->pages = NULL;
    rc = write_index_html(c, l, true);
    c->pages = pl;
    if (rc != 0)
        return -1;
    (void)unlinkat(c->dfd, PREV_PREFIX PAGE_FILE, 0);
    afd = openat(c->dfd, RENDER_ARCHIVE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (afd >= 0) {
        sweep_archive(afd, true);
        close(afd);
    }
    return 0;
}

/* Records the names the reader gave its publishers; true when one changed.
 * The keys whose name changed (or came) go to renamed (room for n_pubs). */
static int
update_names(struct ctx *c, struct lib *l, const struct library_publisher *pubs, size_t n_pubs,
             bool *changed, uint8_t (*renamed)[SZ_PUBLIC_KEY_LEN], size_t *n_renamed)
{
    for (size_t k = 0; k < n_pubs; k++) {
        const char *name = pubs[k].name;
        if (name == NULL || name[0] == '\0')
            continue;
        size_t len = strlen(name);
        if (len > NAME_MAX_LEN || !sz_utf8_valid((const uint8_t *)name, len))
            return fail(c, "publisher name \"%.40s\" is too long or not UTF-8", name);
        struct lib_name *nm = find_name(l, pubs[k].pk);
        if (nm != NULL && strcmp(nm->name, name) == 0)
            continue;
        char *copy = dup_n(name, len);
        if (copy == NULL)
            return fail_nomem(c);
        if (nm != NULL) {
            free(nm->name);
            nm->name = copy;
        } else {
            if (!grow((void **)&l->names, &l->cap_names, l->n_names, sizeof *l->names)) {
                free(copy);
                return fail_nomem(c);
            }
            memcpy(l->names[l->n_names].pub, pubs[k].pk, SZ_PUBLIC_KEY_LEN);
            l->names[l->n_names].name = copy;
            l->n_names++;
        }
        /* Pages written before name it otherwise (none when it has no article yet). */
        bool found;
        size_t at = art_pos(l, pubs[k].pk, "", &found);
        if (at < l->n_arts && memcmp(l->arts[at]->pub, pubs[k].pk, SZ_PUBLIC_KEY_LEN) == 0)
            memcpy(renamed[(*n_renamed)++], pubs[k].pk, SZ_PUBLIC_KEY_LEN);
        *changed = true;
    }
    return 0;
}

/* What a bundle kept in the library may hold, as unpack --max-size allows at most. */
#define REOPEN_CONTENT_MAX ((uint64_t)1024 << 20)

/* Reads len bytes of fd into buf; 0, or -1 on an error or a short file. */
static int
read_all(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* An article of l (its index) and the bundle it comes from, sorted by bundle. */
struct art_ref {
    uint8_t bundle[SZ_BUNDLE_ID_LEN];
    size_t i;
};

static int
cmp_art_ref(const void *x, const void *y)
{
    const struct art_ref *a = x, *b = y;
    int d = memcmp(a->bundle, b->bundle, SZ_BUNDLE_ID_LEN);
    return d != 0 ? d : (a->i > b->i) - (a->i < b->i);
}

/* Writes the page of rec again from its article a in bundle b (the publisher's
 * name as the library has it now), replacing the old page whole. */
static int
rerender_page(struct ctx *c, const struct lib *l, const struct lib_art *rec,
              const struct sz_bundle *b, const struct sz_article *a)
{
    char pub_hex[2 * SZ_PUBLIC_KEY_LEN + 1], rel[2 * SZ_PUBLIC_KEY_LEN + FOLDER_MAX_LEN + 2];
    int pfd = -1, afd = -1, rc = -1, r;
    struct sz_wr w;

    if (a->n_atts + 1 != rec->n_files)
        return 0; /* not the article the index describes: leave its page */
    sz_hex(rec->pub, SZ_PUBLIC_KEY_LEN, pub_hex);
    snprintf(rel, sizeof rel, "%s/%s", pub_hex, art_folder(rec));
    sz_wr_init(&w, PAGE_MAX_LEN);
    struct render_page pg = {
        .a = a,
        .publisher = b->hdr.publisher,
        .publisher_name = publisher_name(l, b->hdr.publisher),
        .sequence = b->hdr.sequence,
        .created = b->hdr.created,
        .bundle_id = b->id,
        .att_files = (const char *const *)(rec->files + 1),
        .equivocated = seq_signed_twice(l, b->hdr.publisher, b->hdr.sequence),
    };
    render_article(&w, &pg);
    if (sz_wr_status(&w) != 0) {
        fail(c, "cannot render %s/%s/" PAGE_FILE ": %s", c->dir, rel,
             sz_strerror(sz_wr_status(&w)));
        goto out;
    }
    if ((r = open_dir_at(c, c->dfd, "", pub_hex, false, &pfd)) != 0 ||
        (r = open_dir_at(c, pfd, pub_hex, art_folder(rec), false, &afd)) != 0) {
        rc = r > 0 ? 0 : -1; /* gone: nothing to write */
        goto out;
    }
    rc = write_file_at(c, afd, rel, PAGE_FILE, w.p, w.len, false);
out:
    sz_wr_free(&w, false);
    if (afd >= 0)
        close(afd);
    if (pfd >= 0)
        close(pfd);
    return rc;
}

/*
 * Renders again the pages of every article of the publishers the reader
 * renamed, so that "Signed by" and the navigation of older articles show the
 * new name too, not only index.html. Each page comes from its article's
 * bundle, kept in the library and verified again; an article whose bundle is
 * gone or damaged keeps its page. One bundle is opened once.
 */
static int
rename_pages(struct ctx *c, const struct lib *l, const uint8_t (*pubs)[SZ_PUBLIC_KEY_LEN],
             size_t n_pubs)
{
    int rc = 0;

    for (size_t k = 0; k < n_pubs && rc == 0; k++) {
        bool found;
        size_t first = art_pos(l, pubs[k], "", &found), end = first;
        while (end < l->n_arts && memcmp(l->arts[end]->pub, pubs[k], SZ_PUBLIC_KEY_LEN) == 0)
            end++;
        if (end == first)
            continue;
        size_t n = end - first;
        struct art_ref *idx = malloc(n * sizeof *idx);
        if (idx == NULL)
            return fail_nomem(c);
        for (size_t i = 0; i < n; i++) {
            memcpy(idx[i].bundle, l->arts[first + i]->bundle, SZ_BUNDLE_ID_LEN);
            idx[i].i = first + i;
        }
        qsort(idx, n, sizeof *idx, cmp_art_ref);
        for (size_t g = 0, e; g < n && rc == 0; g = e) {
            const struct lib_art *head = l->arts[idx[g].i];
            char name[2 * SZ_BUNDLE_ID_LEN + 8];
            uint8_t *raw = NULL;
            struct sz_bundle *b = NULL;
            for (e = g + 1; e < n && memcmp(idx[e].bundle, head->bundle, SZ_BUNDLE_ID_LEN) == 0;
                 e++)
                ;
            sz_bundle_id_hex(head->bundle, name);
            strcat(name, ".bundle");
            int fd = openat(c->bfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
                (uint64_t)st.st_size > REOPEN_CONTENT_MAX + (1 << 20) ||
                (raw = malloc((size_t)st.st_size + 1)) == NULL ||
                read_all(fd, raw, (size_t)st.st_size) != 0 ||
                sz_bundle_open(raw, (size_t)st.st_size, REOPEN_CONTENT_MAX, &b) != 0 ||
                memcmp(b->id, head->bundle, SZ_BUNDLE_ID_LEN) != 0 ||
                memcmp(b->hdr.publisher, pubs[k], SZ_PUBLIC_KEY_LEN) != 0) {
                /* Best effort: that bundle's articles keep their pages. */
                if (fd >= 0)
                    close(fd);
                sz_bundle_free(b);
                free(raw);
                continue;
            }
            close(fd);
            for (size_t i = g; i < e && rc == 0; i++) {
                const struct lib_art *rec = l->arts[idx[i].i];
                for (size_t j = 0; j < b->c->n_articles; j++) {
                    const struct sz_article *a = &b->c->articles[j];
                    if (a->id.len == strlen(rec->id) && memcmp(a->id.p, rec->id, a->id.len) == 0) {
                        rc = rerender_page(c, l, rec, b, a);
                        break;
                    }
                }
            }
            sz_bundle_free(b);
            free(raw);
        }
        free(idx);
    }
    return rc;
}

static int
cmp_order(const void *x, const void *y, const struct library_item *items)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    uint64_t sa = items[a].b->hdr.sequence, sb = items[b].b->hdr.sequence;
    if (sa != sb)
        return sa > sb ? -1 : 1;
    return a < b ? -1 : (a > b);
}

/* Sorts item indices by sequence, highest first (insertion sort: qsort has no
 * context argument in C11, and the library keeps no global state). */
static void
sort_order(size_t *order, size_t n, const struct library_item *items)
{
    for (size_t k = 1; k < n; k++) {
        size_t v = order[k], j = k;
        while (j > 0 && cmp_order(&order[j - 1], &v, items) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

/* What identifies one version of a state file: each is replaced by a rename. */
struct stamp {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
};

struct library {
    char *dir;
    struct lib l;
    bool loaded; /* l is library.idx and publishers.idx as stamped below */
    struct stamp idx, pst;
    unsigned tmp_seq;
};

static int
stamp_of(struct ctx *c, const char *name, struct stamp *s)
{
    struct stat st;
    memset(s, 0, sizeof *s);
    if (fstatat(c->sfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        return fail(c, "cannot read %s/" STATE_DIR "/%s: %s", c->dir, name, strerror(errno));
    }
    s->exists = true;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtim = st.st_mtim;
    s->ctim = st.st_ctim;
    return 0;
}

static bool
stamp_eq(const struct stamp *a, const struct stamp *b)
{
    if (a->exists != b->exists)
        return false;
    return !a->exists || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                          a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
                          a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec);
}

int
library_check(const char *dir, char *err, size_t err_cap)
{
    struct ctx c = {
        .dir = dir, .dfd = -1, .sfd = -1, .bfd = -1, .lfd = -1, .err = err, .err_cap = err_cap};
    int rc;

    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    if (dir == NULL || dir[0] == '\0') {
        c.dir = "library";
        return fail(&c, "library_check: invalid arguments");
    }
    c.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c.dfd < 0) {
        if (errno != ENOENT)
            return fail(&c, "cannot open folder %s: %s", dir, strerror(errno));
        /* To be created: its parent must take it. */
        char *parent = strdup(dir), *slash;
        if (parent == NULL)
            return fail_nomem(&c);
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/')
            parent[--n] = '\0';
        slash = strrchr(parent, '/');
        if (slash == NULL)
            strcpy(parent, ".");
        else
            slash[slash == parent ? 1 : 0] = '\0';
        rc = access(parent, W_OK) != 0 && errno != ENOENT
                 ? fail(&c, "cannot create folder %s: %s: choose a folder you can write", dir,
                        strerror(errno))
                 : 0;
        free(parent);
        return rc;
    }
    rc = check_library_folder(&c);
    /* Where nothing can be written (a read-only disk, another user's folder),
     * say so before anything is downloaded. */
    if (rc == 0 && faccessat(c.dfd, ".", W_OK, AT_EACCESS) != 0)
        rc = fail(&c, "cannot write to folder %s: %s: choose a folder you can write", dir,
                  strerror(errno));
    if (rc == 0 && faccessat(c.dfd, STATE_DIR, W_OK, AT_EACCESS) != 0 && errno != ENOENT)
        rc = fail(&c, "cannot write to folder %s/" STATE_DIR ": %s: choose a folder you can write",
                  dir, strerror(errno));
    close(c.dfd);
    return rc;
}

int
library_open(const char *dir, struct library **out, char *err, size_t err_cap)
{
    struct ctx c = {.dir = "library", .err = err, .err_cap = err_cap};
    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    if (dir == NULL || dir[0] == '\0' || out == NULL)
        return fail(&c, "library_open: invalid arguments");
    struct library *lib = calloc(1, sizeof *lib);
    if (lib == NULL || (lib->dir = dup_n(dir, strlen(dir))) == NULL) {
        free(lib);
        return fail(&c, "%s: out of memory", dir);
    }
    *out = lib;
    return 0;
}

void
library_close(struct library *lib)
{
    if (lib == NULL)
        return;
    lib_free(&lib->l);
    free(lib->dir);
    free(lib);
}

/*
 * A batch that failed before its commit (most often on a full disk): removes
 * what it wrote for bundles and articles the library did not hold. Nothing
 * links to those any more (undo_pages() has put the pages back), so the space
 * comes back (a caller may then add fewer bundles). The versions of articles
 * being replaced come back by restore_replaced().
 */
static void
undo_new_files(struct ctx *c, const struct plan *p)
{
    for (size_t k = 0; k < p->n_jobs; k++) {
        const struct job *j = &p->jobs[k];
        if (j->a == NULL) {
            char id_hex[2 * SZ_BUNDLE_ID_LEN + 1], name[2 * SZ_BUNDLE_ID_LEN + 8];
            sz_bundle_id_hex(j->it->b->id, id_hex);
            snprintf(name, sizeof name, "%s.bundle", id_hex);
            (void)unlinkat(c->bfd, name, 0);
            continue;
        }
        if (j->old != NULL || j->pfd < 0)
            continue;
        const char *folder = art_folder(j->rec);
        int afd = openat(j->pfd, folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (afd < 0)
            continue;
        (void)unlinkat(afd, PAGE_FILE, 0);
        for (size_t f = 0; f < j->rec->n_files; f++)
            (void)unlinkat(afd, j->rec->files[f], 0);
        close(afd);
        (void)unlinkat(j->pfd, folder, AT_REMOVEDIR); /* fails if anything else is in it */
    }
    /* A publisher folder made for this batch and now empty goes too. */
    for (size_t k = 0; k < p->n_dirs; k++) {
        char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
        sz_hex(p->dirs[k].pub, SZ_PUBLIC_KEY_LEN, hex);
        (void)unlinkat(c->dfd, hex, AT_REMOVEDIR); /* fails unless empty */
    }
    /* What is left is as it was, but for temporaries of replaced files. */
    sweep_dir(c->dfd, 2);
    sweep_dir(c->sfd, 1);
}

/* The folder of a logged page, DIR or archive/<pub-hex>/, opened; or -1. */
static int
page_dir(struct ctx *c, const struct page_change *ch)
{
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    int afd, fd;

    if (!ch->month)
        return fcntl(c->dfd, F_DUPFD_CLOEXEC, 0);
    afd = openat(c->dfd, RENDER_ARCHIVE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (afd < 0)
        return -1;
    sz_hex(ch->pub, SZ_PUBLIC_KEY_LEN, hex);
    fd = openat(afd, hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(afd);
    return fd;
}

/*
 * Puts back the pages of a failed batch, the last change first: a page it
 * replaced or removed comes back from aside, one it added goes, and so do the
 * month page folders left empty. *moved tells that one came back; false when
 * one could not.
 */
static bool
undo_pages(struct ctx *c, const struct page_log *pl, bool *moved)
{
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], prev[PREV_NAME_LEN];
    bool ok = true, added = false;

    for (size_t k = pl->n; k-- > 0;) {
        const struct page_change *ch = &pl->v[k];
        int fd = page_dir(c, ch);
        if (fd < 0) {
            ok = false;
            continue;
        }
        snprintf(prev, sizeof prev, PREV_PREFIX "%s", ch->name);
        if (ch->had_old) {
            if (put_back(fd, prev, ch->name) == 0)
                *moved = true;
            else
                ok = false;
        } else if (unlinkat(fd, ch->name, 0) != 0 && errno != ENOENT) {
            ok = false;
        }
        close(fd);
        added = added || (ch->month && !ch->had_old);
    }
    int afd =
        added ? openat(c->dfd, RENDER_ARCHIVE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
              : -1;
    if (afd >= 0) {
        for (size_t k = 0; k < pl->n; k++) {
            if (!pl->v[k].month || pl->v[k].had_old)
                continue;
            sz_hex(pl->v[k].pub, SZ_PUBLIC_KEY_LEN, hex);
            (void)unlinkat(afd, hex, AT_REMOVEDIR); /* fails unless empty */
        }
        close(afd);
        (void)unlinkat(c->dfd, RENDER_ARCHIVE_DIR, AT_REMOVEDIR);
    }
    return ok;
}

/*
 * Puts back the old versions of the articles a failed batch replaced
 * (replace_files()): the new version's files go and the old ones come back
 * from aside. A new file whose name (ignoring case) an old one has stays while
 * that old file is not aside: it is still the old file. *moved tells that a
 * file came back; false when one could not.
 */
static bool
restore_replaced(const struct plan *p, bool *moved)
{
    char prev[PREV_NAME_LEN];
    struct stat st;
    bool ok = true;

    for (size_t k = 0; k < p->n_jobs; k++) {
        const struct job *j = &p->jobs[k];
        if (j->a == NULL || j->old == NULL)
            continue;
        const struct lib_art *rec = j->rec, *old = j->old;
        int afd = openat(j->pfd, art_folder(rec), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (afd < 0) {
            ok = ok && errno == ENOENT;
            continue;
        }
        for (size_t f = 0; f < rec->n_files; f++) {
            size_t i = old_file_index(old, rec->files[f]);
            if (i != SIZE_MAX) {
                prev_name(rec->bundle, i, prev);
                if (fstatat(afd, prev, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                    strcmp(old->files[i], rec->files[f]) == 0)
                    continue; /* the old file, or the rename below replaces it */
            }
            if (unlinkat(afd, rec->files[f], 0) != 0 && errno != ENOENT)
                ok = false;
        }
        for (size_t i = 0; i <= old->n_files; i++) {
            prev_name(rec->bundle, i, prev);
            if (put_back(afd, prev, i < old->n_files ? old->files[i] : PAGE_FILE) == 0)
                *moved = true;
            else if (errno != ENOENT)
                ok = false;
        }
        close(afd);
    }
    return ok;
}

/*
 * A batch that failed before its commit (library.idx): puts back the pages
 * and the article versions it replaced, and removes what it added, so that
 * the library is as it was. What came back is made durable before the caller
 * takes the writing mark away. False when something could not be undone: the
 * mark then stays, and the next writer finishes the job (recover_writing()).
 */
static bool
undo_batch(struct ctx *c, const struct plan *p, const struct page_log *pl)
{
    bool moved = false;
    bool ok = undo_pages(c, pl, &moved);
    ok = restore_replaced(p, &moved) && ok;
    undo_new_files(c, p);
    return moved ? sync_disk(c->dfd) && ok : ok;
}

/* After the commit: deletes what the batch moved aside. */
static void
drop_aside(struct ctx *c, const struct plan *p, const struct page_log *pl)
{
    char prev[PREV_NAME_LEN];

    for (size_t k = 0; k < pl->n; k++) {
        const struct page_change *ch = &pl->v[k];
        if (!ch->had_old)
            continue;
        int fd = page_dir(c, ch);
        if (fd < 0)
            continue;
        snprintf(prev, sizeof prev, PREV_PREFIX "%s", ch->name);
        (void)unlinkat(fd, prev, 0);
        close(fd);
    }
    for (size_t k = 0; k < p->n_jobs; k++) {
        const struct job *j = &p->jobs[k];
        if (j->a == NULL || j->old == NULL)
            continue;
        int afd =
            openat(j->pfd, art_folder(j->rec), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (afd < 0)
            continue;
        for (size_t i = 0; i <= j->old->n_files; i++) {
            prev_name(j->rec->bundle, i, prev);
            (void)unlinkat(afd, prev, 0);
        }
        close(afd);
    }
}

/* Appends note to the error message, when it fits. */
static void
add_note(struct ctx *c, const char *note)
{
    size_t n;
    if (c->err == NULL || c->err_cap == 0)
        return;
    n = strlen(c->err);
    if (n + 1 < c->err_cap)
        snprintf(c->err + n, c->err_cap - n, "%s", note);
}

/* A full disk: the error says what to do about it. */
static void
advise_full(struct ctx *c)
{
    if (c->err == NULL || c->err_cap == 0)
        return;
    bool full = strstr(c->err, strerror(ENOSPC)) != NULL;
#ifdef EDQUOT
    full = full || strstr(c->err, strerror(EDQUOT)) != NULL;
#endif
    size_t n = strlen(c->err);
    if (full && n + 1 < c->err_cap)
        snprintf(c->err + n, c->err_cap - n,
                 " (the disk holding %s is full: free space on it, or use a library folder on "
                 "another disk, and run again)",
                 c->dir);
}

/* The library's state, from memory when its files have not changed since. */
static int
lib_refresh(struct ctx *c, struct library *lib)
{
    struct stamp idx, pst;
    if (stamp_of(c, INDEX_FILE, &idx) != 0 || stamp_of(c, PSTATE_FILE, &pst) != 0)
        return -1;
    if (lib->loaded && stamp_eq(&idx, &lib->idx) && stamp_eq(&pst, &lib->pst))
        return 0;
    lib_free(&lib->l);
    lib->loaded = false;
    if (lib_load(c, &lib->l) != 0)
        return -1;
    lib->idx = idx;
    lib->pst = pst;
    lib->loaded = true;
    return 0;
}

/*
 * A library whose library.idx is gone (moved away, as a damage message says,
 * or deleted) while DIR/.samizdat/bundles holds bundles, and no writer died
 * while writing (its mark would be there): adding bundles none of which are
 * among those would write an index.html without the earlier articles.
 * Refused, with the way back: add the bundles of that folder again (a batch
 * holding any of them is that recovery, or a fetch of the same bundles).
 */
static int
check_lost_index(struct ctx *c, const struct lib *l, const struct library_item *items, size_t n)
{
    struct stat st;
    struct dirent *e;
    size_t held = 0;
    DIR *d;

    if (l->n_bundles > 0 || n == 0 || fstatat(c->sfd, INDEX_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
        errno != ENOENT || fstatat(c->sfd, WRITING_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    d = open_stream(c->bfd);
    if (d == NULL)
        return 0; /* nothing to say about what cannot be read */
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len == 2 * SZ_BUNDLE_ID_LEN + 7 && strcmp(e->d_name + len - 7, ".bundle") == 0)
            held++;
    }
    closedir(d);
    if (held == 0)
        return 0;
    for (size_t k = 0; k < n; k++) {
        char name[2 * SZ_BUNDLE_ID_LEN + 8];
        sz_bundle_id_hex(items[k].b->id, name);
        strcat(name, ".bundle");
        if (fstatat(c->bfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return 0;
    }
    return fail(c,
                "%s/" STATE_DIR "/" INDEX_FILE " is missing, but %s/" STATE_DIR "/" BUNDLES_DIR
                " holds %zu bundles of this library: adding others now would leave their "
                "articles out of index.html. Add those bundles again first (samizdat unpack "
                "--trust-file F --output %s %s/" STATE_DIR "/" BUNDLES_DIR "/*.bundle)",
                c->dir, c->dir, held, c->dir, c->dir);
}

int
library_put(struct library *lib, const struct library_item *items, size_t n,
            const struct library_publisher *pubs, size_t n_pubs, struct library_result *res,
            char *err, size_t err_cap)
{
    return library_put_each(lib, items, n, pubs, n_pubs, NULL, res, err, err_cap);
}

int
library_put_each(struct library *lib, const struct library_item *items, size_t n,
                 const struct library_publisher *pubs, size_t n_pubs, bool *added,
                 struct library_result *res, char *err, size_t err_cap)
{
    struct ctx c = {.dir = lib != NULL ? lib->dir : "library",
                    .dfd = -1,
                    .sfd = -1,
                    .bfd = -1,
                    .lfd = -1,
                    .tmp_seq = lib != NULL ? lib->tmp_seq : 0,
                    .err = err,
                    .err_cap = err_cap};
    struct library_result r = {0};
    struct plan plan = {0};
    struct page_log pages = {0};
    size_t *order = NULL;
    struct equiv_seq *eqs = NULL;
    size_t n_eqs = 0, cap_eqs = 0, n_renamed = 0;
    uint8_t(*renamed)[SZ_PUBLIC_KEY_LEN] = NULL;
    bool changed = false, writing = false, placed = false, undone = true, recovered = false;
    int rc = -1;

    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    if (lib == NULL || (n > 0 && items == NULL) || (n_pubs > 0 && pubs == NULL)) {
        fail(&c, "library_add: invalid arguments");
        return -1;
    }
    struct lib *l = &lib->l;
    struct check_arg ca = {items};
    if (par_for(&c, n, 1, check_one, &ca) != 0)
        goto out;
    if (open_root(&c) != 0 || check_library_folder(&c) != 0 ||
        open_dir_at(&c, c.dfd, "", STATE_DIR, true, &c.sfd) != 0 || lock_library(&c) != 0 ||
        open_dir_at(&c, c.sfd, STATE_DIR, BUNDLES_DIR, true, &c.bfd) != 0 ||
        lib_refresh(&c, lib) != 0 || check_lost_index(&c, l, items, n) != 0 ||
        recover_writing(&c, l, &recovered) != 0)
        goto out;
    /* From here l changes before the files do: any failure drops it (see out). */
    renamed = calloc(n_pubs + 1, sizeof *renamed);
    if (renamed == NULL) {
        fail_nomem(&c);
        goto out;
    }
    if (update_names(&c, l, pubs, n_pubs, &changed, renamed, &n_renamed) != 0)
        goto out;

    order = calloc(n + 1, sizeof *order);
    if (order == NULL) {
        fail_nomem(&c);
        goto out;
    }
    for (size_t k = 0; k < n; k++)
        order[k] = k;
    sort_order(order, n, items);
    /* The bundles the library held before this batch (lib_add_bundle() appends). */
    size_t n_held_before = l->n_bundles;

    for (size_t k = 0; k < n; k++) {
        const struct library_item *it = &items[order[k]];
        const struct sz_bundle *b = it->b;
        if (added != NULL)
            added[order[k]] = false;
        const struct lib_bundle *held = find_bundle(l, b->id);
        if (held != NULL) {
            r.bundles_present++;
            /* Its articles the library holds from it are written again where
             * their files are missing or changed; not for a copy of a bundle
             * this batch adds (its files are not written yet). */
            for (size_t j = 0; (size_t)(held - l->bundles) < n_held_before && j < b->c->n_articles;
                 j++) {
                const struct sz_article *a = &b->c->articles[j];
                char id[SZ_MAX_ID_LEN + 1];
                bool found;
                memcpy(id, a->id.p, a->id.len);
                id[a->id.len] = '\0';
                size_t pos = art_pos(l, b->hdr.publisher, id, &found);
                if (!found || memcmp(l->arts[pos]->bundle, b->id, SZ_BUNDLE_ID_LEN) != 0 ||
                    article_intact(&c, l->arts[pos], a))
                    continue;
                if (plan_article(&c, l, &plan, it, a, true, &r) != 0)
                    goto out;
                r.articles_repaired++;
                changed = true;
            }
            continue;
        }
        if (has_seq(l, b->hdr.publisher, b->hdr.sequence)) {
            if (grow((void **)&eqs, &cap_eqs, n_eqs, sizeof *eqs)) {
                memcpy(eqs[n_eqs].pub, b->hdr.publisher, SZ_PUBLIC_KEY_LEN);
                eqs[n_eqs++].seq = b->hdr.sequence;
            } else {
                fail_nomem(&c);
                goto out;
            }
            if (r.n_equiv_listed < LIBRARY_EQUIV_LISTED) {
                memcpy(r.equiv[r.n_equiv_listed].pk, b->hdr.publisher, SZ_PUBLIC_KEY_LEN);
                r.equiv[r.n_equiv_listed++].seq = b->hdr.sequence;
            }
            r.equivocations++;
        }
        for (size_t j = 0; j < b->c->n_articles; j++) {
            if (plan_article(&c, l, &plan, it, &b->c->articles[j], false, &r) != 0)
                goto out;
        }
        struct job *job = plan_job(&c, &plan);
        if (job == NULL)
            goto out;
        job->it = it;
        struct lib_bundle nb;
        memcpy(nb.id, b->id, SZ_BUNDLE_ID_LEN);
        memcpy(nb.pub, b->hdr.publisher, SZ_PUBLIC_KEY_LEN);
        nb.seq = b->hdr.sequence;
        nb.created = b->hdr.created;
        if (!lib_add_bundle(l, &nb)) {
            fail_nomem(&c);
            goto out;
        }
        r.bundles_added++;
        if (added != NULL)
            added[order[k]] = true;
        changed = true;
    }
    struct stat st;
    bool have_page = fstatat(c.dfd, PAGE_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0;
    /* After recovering from a writer that died, the mark goes at the end even
     * when nothing is written: every later writer would recover again. */
    writing = plan.n_jobs > 0 || changed || !have_page || recovered;
    if (writing && begin_writing(&c) != 0)
        goto out;
    struct write_arg wa = {l, &plan};
    if (par_for(&c, plan.n_jobs, 8, write_one, &wa) != 0)
        goto fail_undo;

    /* index.html before library.idx: the pages it replaces wait aside until the commit. */
    c.pages = &pages;
    if ((changed || !have_page) && write_index_html(&c, l, changed) != 0)
        goto fail_undo;
    c.pages = NULL;
    /* Before the commit, which records the new names: a kill or a failure
     * here leaves them unrecorded, and the next run renames again. */
    if (rename_pages(&c, l, renamed, n_renamed) != 0)
        goto fail_undo;
    if (changed && (sync_all(&c) != 0 || write_index(&c, l, &placed) != 0)) {
        if (!placed)
            goto fail_undo;
        goto out; /* library.idx is in place: the next writer finishes (recover_writing()) */
    }
    drop_aside(&c, &plan, &pages);
    if (changed && stamp_of(&c, INDEX_FILE, &lib->idx) != 0)
        goto out;
    /*
     * Pages of a sequence written before its second bundle came say so now,
     * once library.idx and index.html hold that bundle: a batch that fails
     * before leaves no page claiming what the index does not show. (Under
     * the writing mark: what a crash leaves is swept by the next writer.)
     */
    if (mark_equivocated(&c, l, eqs, n_eqs) != 0)
        goto out;
    if (writing)
        done_writing(&c);
    if (res != NULL)
        *res = r;
    rc = 0;
    goto out;
fail_undo:
    /* Nothing refers to what the batch wrote yet: it goes, and what it replaced comes back. */
    c.pages = NULL;
    undone = undo_batch(&c, &plan, &pages);
    if (undone && writing)
        done_writing(&c); /* the library is as it was: nothing for the next writer to do */
out:
    if (rc != 0 && lib != NULL) {
        /* l may hold what is not on disk: read the files again next time. */
        lib_free(l);
        lib->loaded = false;
        advise_full(&c);
        if (!undone)
            add_note(&c, " (what was written could not all be undone now: the next run on this "
                         "library puts it back as it was)");
    }
    if (lib != NULL)
        lib->tmp_seq = c.tmp_seq;
    plan_free(&plan);
    free(pages.v);
    free(order);
    free(eqs);
    free(renamed);
    if (c.lfd >= 0)
        close(c.lfd);
    if (c.bfd >= 0)
        close(c.bfd);
    if (c.sfd >= 0)
        close(c.sfd);
    if (c.dfd >= 0)
        close(c.dfd);
    return rc;
}

int
library_add(const char *dir, const struct library_item *items, size_t n,
            const struct library_publisher *pubs, size_t n_pubs, struct library_result *res,
            char *err, size_t err_cap)
{
    struct library *lib = NULL;
    if (library_open(dir, &lib, err, err_cap) != 0)
        return -1;
    int rc = library_put(lib, items, n, pubs, n_pubs, res, err, err_cap);
    library_close(lib);
    return rc;
}

int
library_each_bundle(const char *dir,
                    void (*fn)(void *arg, const uint8_t pk[SZ_PUBLIC_KEY_LEN], uint64_t seq,
                               int64_t created),
                    void *arg, char *err, size_t err_cap)
{
    struct ctx c = {
        .dir = dir, .dfd = -1, .sfd = -1, .bfd = -1, .lfd = -1, .err = err, .err_cap = err_cap};
    struct lib l = {0};
    int rc = -1;

    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    c.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c.dfd < 0) {
        if (errno == ENOENT)
            return 0;
        return fail(&c, "cannot open folder %s: %s", dir, strerror(errno));
    }
    int r = open_dir_at(&c, c.dfd, "", STATE_DIR, false, &c.sfd);
    if (r != 0) {
        rc = r < 0 ? -1 : 0;
        goto out;
    }
    if (index_load(&c, &l) != 0)
        goto out;
    rc = 0;
    for (size_t k = 0; k < l.n_bundles; k++)
        fn(arg, l.bundles[k].pub, l.bundles[k].seq, l.bundles[k].created);
out:
    lib_free(&l);
    if (c.sfd >= 0)
        close(c.sfd);
    close(c.dfd);
    return rc;
}

struct pub_state {
    const uint8_t *pk;
    uint64_t seq;
    int64_t created;
    bool found;
};

static void
pub_state_add(void *arg, const uint8_t pk[SZ_PUBLIC_KEY_LEN], uint64_t seq, int64_t created)
{
    struct pub_state *ps = arg;

    if (memcmp(pk, ps->pk, SZ_PUBLIC_KEY_LEN) != 0)
        return;
    if (!ps->found || seq > ps->seq)
        ps->seq = seq;
    if (!ps->found || created > ps->created)
        ps->created = created;
    ps->found = true;
}

int
library_publisher_state(const char *dir, const uint8_t pk[SZ_PUBLIC_KEY_LEN], uint64_t *seq,
                        int64_t *created, char *err, size_t err_cap)
{
    struct pub_state ps = {.pk = pk};

    if (library_each_bundle(dir, pub_state_add, &ps, err, err_cap) != 0)
        return -1;
    if (!ps.found)
        return 0;
    *seq = ps.seq;
    *created = ps.created;
    return 1;
}

int
library_publisher_info(const char *dir, const uint8_t pk[SZ_PUBLIC_KEY_LEN],
                       struct library_publisher_info *info, char *err, size_t err_cap)
{
    struct ctx c = {
        .dir = dir, .dfd = -1, .sfd = -1, .bfd = -1, .lfd = -1, .err = err, .err_cap = err_cap};
    struct lib l = {0};
    struct pub_group g = {.pk = pk};
    int rc = -1;

    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    if (info == NULL || pk == NULL || dir == NULL || dir[0] == '\0') {
        c.dir = "library";
        return fail(&c, "library_publisher_info: invalid arguments");
    }
    memset(info, 0, sizeof *info);
    c.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c.dfd < 0) {
        if (errno == ENOENT)
            return 0;
        return fail(&c, "cannot open folder %s: %s", dir, strerror(errno));
    }
    int r = open_dir_at(&c, c.dfd, "", STATE_DIR, false, &c.sfd);
    if (r != 0) {
        rc = r < 0 ? -1 : 0;
        goto out;
    }
    if (lib_load(&c, &l) != 0)
        goto out;
    for (size_t k = 0; k < l.n_bundles; k++) {
        const struct lib_bundle *b = &l.bundles[k];
        if (memcmp(b->pub, pk, SZ_PUBLIC_KEY_LEN) == 0)
            group_add_bundle(&g, b);
    }
    g.ps = find_pstate(&l, pk);
    if (g.has_bundle && pub_equivocation(&c, &l, pk, &g.eq_seen, &g.eq_seq) != 0)
        goto out;
    struct render_publisher rp = render_pub_of(&l, &g);
    *info = (struct library_publisher_info){
        .has_bundle = g.has_bundle,
        .seq = g.seq,
        .seq_created = g.seq_created,
        .created = g.created,
        .created_seq = g.created_seq,
        .fetched = rp.fetched,
        .last_fetch = rp.last_fetch,
        .stale_after_s = rp.stale_after_s,
        .stale = render_publisher_stale(&rp),
        .equivocation_seen = rp.equivocation_seen,
        .equivocation_seq = rp.equivocation_seq,
        .equivocation_reported = rp.equivocation_reported,
        .equivocation_reported_at = rp.equivocation_reported_at,
    };
    rc = 0;
out:
    lib_free(&l);
    if (c.sfd >= 0)
        close(c.sfd);
    close(c.dfd);
    return rc;
}

/* Appends a zeroed state for publisher pk; NULL when out of memory. */
static struct lib_pstate *
add_pstate(struct lib *l, const uint8_t pk[SZ_PUBLIC_KEY_LEN])
{
    struct lib_pstate *p;

    if (!grow((void **)&l->pst, &l->cap_pst, l->n_pst, sizeof *l->pst))
        return NULL;
    p = &l->pst[l->n_pst++];
    *p = (struct lib_pstate){0};
    memcpy(p->pub, pk, SZ_PUBLIC_KEY_LEN);
    return p;
}

int
library_note_fetch(const char *dir, const struct library_publisher *pubs, size_t n_pubs,
                   int64_t now, int64_t stale_after_s, const bool *equivocation, char *err,
                   size_t err_cap)
{
    struct ctx c = {
        .dir = dir, .dfd = -1, .sfd = -1, .bfd = -1, .lfd = -1, .err = err, .err_cap = err_cap};
    struct lib l = {0};
    bool names_changed = false, alarm_changed = false, placed;
    uint8_t(*renamed)[SZ_PUBLIC_KEY_LEN] = NULL;
    size_t n_renamed = 0;
    int rc = -1;

    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    if (dir == NULL || dir[0] == '\0' || (n_pubs > 0 && pubs == NULL) || stale_after_s < 0) {
        c.dir = "library";
        return fail(&c, "library_note_fetch: invalid arguments");
    }
    renamed = calloc(n_pubs + 1, sizeof *renamed);
    if (renamed == NULL)
        return fail_nomem(&c);
    if (open_root(&c) != 0 || check_library_folder(&c) != 0 ||
        open_dir_at(&c, c.dfd, "", STATE_DIR, true, &c.sfd) != 0 || lock_library(&c) != 0 ||
        lib_load(&c, &l) != 0 || recover_writing(&c, &l, NULL) != 0 ||
        update_names(&c, &l, pubs, n_pubs, &names_changed, renamed, &n_renamed) != 0)
        goto out;
    for (size_t k = 0; k < n_pubs; k++) {
        struct lib_pstate *p = find_pstate(&l, pubs[k].pk);
        if (p == NULL)
            p = add_pstate(&l, pubs[k].pk);
        if (p == NULL) {
            fail_nomem(&c);
            goto out;
        }
        p->last_fetch = now;
        p->stale_after = stale_after_s;
        /* A claim holds until a fetch without it: a lying peer's alarm does not stay. */
        if (equivocation != NULL) {
            /* The month pages repeat the warning: rewritten when it changes. */
            alarm_changed = alarm_changed || p->reported != equivocation[k] || equivocation[k];
            p->reported = equivocation[k];
            if (equivocation[k])
                p->reported_at = now;
        }
    }
    /*
     * A publisher this fetch did not ask for (no longer in the trust file, say
     * a key put in by mistake) from which no bundle ever came is forgotten:
     * otherwise its "no bundle yet" and staleness warnings stayed for good.
     * One with bundles here keeps its record (another fetch may ask for it).
     */
    bool dropped = false;
    for (size_t k = 0; k < l.n_pst;) {
        bool asked = false, held = false;
        for (size_t i = 0; i < n_pubs && !asked; i++)
            asked = memcmp(pubs[i].pk, l.pst[k].pub, SZ_PUBLIC_KEY_LEN) == 0;
        for (size_t i = 0; i < l.n_bundles && !asked && !held; i++)
            held = memcmp(l.bundles[i].pub, l.pst[k].pub, SZ_PUBLIC_KEY_LEN) == 0;
        if (asked || held) {
            k++;
            continue;
        }
        memmove(&l.pst[k], &l.pst[k + 1], (l.n_pst - k - 1) * sizeof l.pst[0]);
        l.n_pst--;
        dropped = true;
    }
    /* index.html, then the names, then publishers.idx: each step is complete
     * on its own, and a crash in between only leaves index.html ahead. */
    /* The pages of older articles of a renamed publisher (rename_pages()),
     * before the names are recorded: after a kill the next fetch renames
     * again. */
    if (begin_writing(&c) != 0 ||
        write_index_html(&c, &l, names_changed || alarm_changed || dropped) != 0 ||
        (n_renamed > 0 && (open_dir_at(&c, c.sfd, STATE_DIR, BUNDLES_DIR, true, &c.bfd) != 0 ||
                           rename_pages(&c, &l, renamed, n_renamed) != 0)) ||
        sync_all(&c) != 0 || (names_changed && write_index(&c, &l, &placed) != 0) ||
        write_pstate(&c, &l) != 0)
        goto out;
    done_writing(&c);
    rc = 0;
out:
    free(renamed);
    lib_free(&l);
    if (c.bfd >= 0)
        close(c.bfd);
    if (c.lfd >= 0)
        close(c.lfd);
    if (c.sfd >= 0)
        close(c.sfd);
    if (c.dfd >= 0)
        close(c.dfd);
    return rc;
}
