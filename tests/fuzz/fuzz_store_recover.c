/*
 * samizdatd's recovery of a damaged store: store_recover() (daemon/store.c) on
 * a store file of arbitrary bytes. The store is the input; when a 512-byte
 * aligned offset of it starts with a WAL header's magic (37 7f 06 82 or 83),
 * the input from there on is its WAL, DIR/store.sqlite-wal. Recovery reads
 * rows through SQLite and, when that cannot read them all, reads the file's
 * pages itself (recover_pages(): page size, WAL frames, freelist, cells,
 * overflow chains, records), so most inputs reach the hand-written reader.
 * Each run writes them into one private folder (on /dev/shm when it can),
 * recovers it with a check like samizdatd's (sz_bundle_verify()), then:
 *
 *   - store_recover() returns 0 or one of its documented negative errnos;
 *   - on failure the message is one printable line, store.sqlite (and its
 *     WAL) are byte for byte the input, and nothing else is left but the
 *     lock file: no copy store-damaged-*, no store-recovering* or
 *     store-recovered*;
 *   - on success the copy is r.saved_as, named by the fixed `now`, and it
 *     (and its WAL) is byte for byte the input (without a WAL, no -wal is
 *     left beside it, though SQLite makes one to read it); the folder holds only the
 *     lock, store.sqlite and the copy; the counts add up (every bundle read
 *     or found page by page is failed, kept, refused or a duplicate);
 *   - the rebuilt store then opens, at the current schema version, and
 *     store_totals() gives r.n_kept bundles of r.bytes_kept bytes, which a
 *     listing (store_list_page(), a page at a time) finds too; each listed
 *     bundle reads back with store_get(), passes sz_bundle_verify() and has
 *     the id, publisher, sequence, date and size listed, received at `now`.
 *
 * Seeds: a small store (512-byte pages, the daemon's schema and rows: 7
 * bundles, their counters, remembered rows, a freelist) intact, with the
 * root of bundle_bytes damaged, and with page 1 past its header damaged; a
 * daemon's own store (4096-byte pages) with page 1 junk; and the small store
 * with half of its bundles only in its WAL, with and without page 1 junk.
 * And the inputs of three hangs and a 32 GiB allocation fuzzing found, since
 * mended: row numbers tried one by one without end (a damaged count, or
 * none), a freelist that loops, a WAL frame for page 0xFFFFFFF0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "samizdat/bundle.h"
#include "samizdat/common.h"

#include "fuzz.h"
#include "store.h"

/* 2033-05-18 03:33:20 UTC: after every seed bundle's date, so none is refused. */
#define FIXED_NOW ((int64_t)2000000000)
#define SAVED_NAME "store-damaged-20330518-033320.sqlite"
#define ERR_CAP 1024
#define LIST_PAGE 5

static char dir[1024];

static void
remove_all(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        abort();
    while ((e = readdir(d)) != NULL) {
        char path[2048];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            abort(); /* recovery makes files only, no folders */
    }
    closedir(d);
}

static void
cleanup(void)
{
    if (dir[0] == '\0')
        return;
    remove_all();
    (void)rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct stat st;
    const char *base = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    else if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(dir, sizeof dir, "%s/sz-fuzz-recover-XXXXXX", base);
    if (mkdtemp(dir) == NULL) /* mode 0700 */
        abort();
    atexit(cleanup);
    return 0;
}

static void
put_file(const char *name, const uint8_t *data, size_t len)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0)
            abort();
        data += n;
        len -= (size_t)n;
    }
    if (close(fd) != 0)
        abort();
}

/* Whether the file at path holds exactly data[0..len). */
static bool
same_file(const char *path, const uint8_t *data, size_t len)
{
    uint8_t buf[8192];
    size_t at = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return false;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        if ((size_t)n > len - at || memcmp(buf, data + at, (size_t)n) != 0)
            break;
        at += (size_t)n;
    }
    close(fd);
    return n == 0 && at == len;
}

/* The folder holds nothing but the names given (NULL ones are skipped), and
 * each of those marked required. */
static void
check_folder(const char *const *names, const bool *required, size_t n)
{
    bool seen[8] = {false};
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL || n > 8)
        abort();
    while ((e = readdir(d)) != NULL) {
        size_t i;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        for (i = 0; i < n; i++)
            if (names[i] != NULL && strcmp(e->d_name, names[i]) == 0)
                break;
        if (i == n)
            abort(); /* a file recovery should not have left */
        seen[i] = true;
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        if (required[i] && !seen[i])
            abort();
}

/* One printable line, not empty. */
static void
check_line(const char *s, size_t cap)
{
    size_t len = strnlen(s, cap);

    if (len == 0 || len == cap)
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
}

/* samizdatd's check (recover_check() in daemon/main.c). */
static int
check_bundle(const uint8_t *bytes, size_t len, bool verify, struct store_meta *m, void *ctx)
{
    struct sz_bundle_header hdr;
    uint8_t id[SZ_BUNDLE_ID_LEN];

    if (ctx != dir || bytes == NULL || len == 0)
        abort();
    if ((verify ? sz_bundle_verify(bytes, len, UINT64_MAX, &hdr, id)
                : sz_bundle_parse(bytes, len, UINT64_MAX, &hdr, id)) != 0)
        return -1;
    store_meta_from_header(m, &hdr, id, len);
    return 0;
}

struct listing {
    struct store_meta *m;
    size_t n, cap;
};

static int
collect(const struct store_meta *m, void *ctx)
{
    struct listing *l = ctx;

    if (l->n == l->cap) {
        size_t ncap = l->cap == 0 ? 16 : 2 * l->cap;
        struct store_meta *nm = realloc(l->m, ncap * sizeof *nm);
        if (nm == NULL)
            abort();
        l->m = nm;
        l->cap = ncap;
    }
    l->m[l->n++] = *m;
    return 0;
}

/* The rebuilt store holds exactly the bundles the report counts, each whole. */
static void
check_rebuilt(const struct store_recovery *r)
{
    struct store *st = NULL;
    struct listing l = {0};
    struct store_cursor cur;
    uint64_t n_bundles, bytes, sum = 0;
    char err[ERR_CAP];

    if (store_open(dir, NULL, &st, err, sizeof err) != 0 || store_upgraded_from(st) != 0)
        abort();
    if (store_totals(st, &n_bundles, &bytes, err, sizeof err) != 0 || n_bundles != r->n_kept ||
        bytes != r->bytes_kept)
        abort();
    for (;;) {
        size_t before = l.n;
        if (store_list_page(st, NULL, 0, before > 0 ? &cur : NULL, LIST_PAGE, collect, &l, err,
                            sizeof err) != 0)
            abort();
        if (l.n - before > LIST_PAGE || l.n > r->n_kept)
            abort();
        if (l.n - before < LIST_PAGE)
            break;
        memcpy(cur.publisher, l.m[l.n - 1].publisher, SZ_PUBLIC_KEY_LEN);
        cur.sequence = l.m[l.n - 1].sequence;
        memcpy(cur.id, l.m[l.n - 1].id, SZ_BUNDLE_ID_LEN);
    }
    if (l.n != r->n_kept)
        abort();
    for (size_t i = 0; i < l.n; i++) {
        const struct store_meta *m = &l.m[i];
        struct sz_bundle_header hdr;
        uint8_t id[SZ_BUNDLE_ID_LEN], *b = NULL;
        size_t len = 0;

        if (m->received != FIXED_NOW)
            abort();
        if (store_get(st, m->id, &b, &len, err, sizeof err) != 0 || len != m->size ||
            sz_bundle_verify(b, len, UINT64_MAX, &hdr, id) != 0 ||
            memcmp(id, m->id, SZ_BUNDLE_ID_LEN) != 0 ||
            memcmp(hdr.publisher, m->publisher, SZ_PUBLIC_KEY_LEN) != 0 ||
            hdr.sequence != m->sequence || hdr.created != m->created)
            abort();
        sum += len;
        free(b);
    }
    if (sum != r->bytes_kept)
        abort();
    free(l.m);
    store_close(st);
}

/* Where the WAL starts: the first 512-byte aligned offset with its magic. */
static size_t
wal_start(const uint8_t *data, size_t size)
{
    for (size_t at = 0; at + 4 <= size; at += 512)
        if (data[at] == 0x37 && data[at + 1] == 0x7f && data[at + 2] == 0x06 &&
            (data[at + 3] & 0xfe) == 0x82)
            return at;
    return size;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t db_len = wal_start(data, size), wal_len = size - db_len;
    const uint8_t *wal = data + db_len;
    struct store_recovery r;
    struct stat sb;
    char err[ERR_CAP], path[2048];
    int rc;

    put_file(STORE_DB_NAME, data, db_len);
    if (wal_len > 0)
        put_file(STORE_DB_NAME "-wal", wal, wal_len);

    rc = store_recover(dir, check_bundle, dir, FIXED_NOW, &r, err, sizeof err);
    if (rc != 0 && rc != -ENOENT && rc != -EBUSY && rc != -EIO && rc != -ENOSPC && rc != -ENOMEM &&
        rc != -EACCES)
        abort();
    if (rc != 0) {
        static const char *const names[] = {STORE_LOCK_NAME, STORE_DB_NAME, STORE_DB_NAME "-wal"};
        const bool required[] = {false, true, wal_len > 0};

        check_line(err, sizeof err);
        check_folder(names, required, 3);
        snprintf(path, sizeof path, "%s/%s", dir, STORE_DB_NAME);
        if (!same_file(path, data, db_len))
            abort();
        snprintf(path, sizeof path, "%s/%s-wal", dir, STORE_DB_NAME);
        if (wal_len > 0 && !same_file(path, wal, wal_len))
            abort();
        remove_all();
        return 0;
    }

    /* The copy of the damaged store, and nothing else beside the new one. */
    snprintf(path, sizeof path, "%s/%s", dir, SAVED_NAME);
    if (strcmp(r.saved_as, path) != 0 || !same_file(r.saved_as, data, db_len))
        abort();
    snprintf(path, sizeof path, "%s/%s-wal", dir, SAVED_NAME);
    if (wal_len > 0 ? !same_file(path, wal, wal_len) : stat(path, &sb) == 0)
        abort();
    {
        static const char *const names[] = {STORE_LOCK_NAME, STORE_DB_NAME, SAVED_NAME,
                                            SAVED_NAME "-wal"};
        const bool required[] = {true, true, true, wal_len > 0};
        check_folder(names, required, 4);
    }

    /* The report adds up. */
    if (r.n_failed > r.n_read || r.n_kept > r.n_read + r.n_scanned ||
        r.n_failed + r.n_kept + r.n_refused > r.n_read + r.n_scanned ||
        (r.n_scanned > 0 && !r.scanned) || r.n_kept > r.bytes_kept || r.n_lost > 4)
        abort();
    for (size_t i = 0; i < r.n_lost; i++) {
        if (r.lost[i] == NULL)
            abort();
        check_line(r.lost[i], 256);
    }

    check_rebuilt(&r);
    remove_all();
    return 0;
}
