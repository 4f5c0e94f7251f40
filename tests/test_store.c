/*
 * Unit tests of the daemon's bundle store (daemon/store.c): every test works in
 * its own temporary data folder. Bundles are synthetic: the store never parses
 * them, it takes verified metadata and bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

#define NOW 1700000000
#define ERR_CAP 512

struct fixture {
    char dir[256];
    struct store *st;
    char err[ERR_CAP];
};

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long
rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return kib;
}

static void
remove_dir(const char *dir)
{
    static const char *const names[] = {"store.sqlite", "store.sqlite-wal", "store.sqlite-shm",
                                        "store.sqlite-journal", "lock"};
    char path[512];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s/sz-store-XXXXXX", tmp != NULL ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, NULL, &f->st, f->err, sizeof(f->err)), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->st);
    remove_dir(f->dir);
    free(f);
    return 0;
}

static void
reopen(struct fixture *f, const struct store_limits *lim)
{
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(store_open(f->dir, lim, &f->st, f->err, sizeof(f->err)), 0);
}

/* Synthetic bundles: id from (publisher, sequence, salt), bytes from the id. */
static void
make_id(uint8_t id[SZ_BUNDLE_ID_LEN], uint8_t pub, uint64_t seq, uint32_t salt)
{
    memset(id, 0, SZ_BUNDLE_ID_LEN);
    id[0] = pub;
    for (int i = 0; i < 8; i++)
        id[1 + i] = (uint8_t)(seq >> (8 * i));
    for (int i = 0; i < 4; i++)
        id[9 + i] = (uint8_t)(salt >> (8 * i));
    id[31] = 0xb5;
}

static void
make_pub(uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint8_t pub)
{
    memset(publisher, pub, SZ_PUBLIC_KEY_LEN);
}

static uint8_t *
make_bytes(const uint8_t id[SZ_BUNDLE_ID_LEN], size_t len)
{
    uint8_t *b = malloc(len > 0 ? len : 1);

    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(id[i % SZ_BUNDLE_ID_LEN] ^ (i * 131));
    return b;
}

static void
make_item(struct store_item *it, uint8_t pub, uint64_t seq, uint32_t salt, int64_t created,
          size_t size)
{
    memset(it, 0, sizeof(*it));
    make_id(it->meta.id, pub, seq, salt);
    make_pub(it->meta.publisher, pub);
    it->meta.sequence = seq;
    it->meta.created = created;
    it->meta.size = size;
    it->bytes = make_bytes(it->meta.id, size);
}

static void
free_items(struct store_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)items[i].bytes);
}

/* Puts one bundle and returns its status. */
static enum store_status
put1(struct fixture *f, uint8_t pub, uint64_t seq, uint32_t salt, int64_t created, size_t size,
     int64_t now)
{
    struct store_item it;

    make_item(&it, pub, seq, salt, created, size);
    assert_int_equal(store_put(f->st, &it, now, f->err, sizeof(f->err)), 0);
    free_items(&it, 1);
    return it.status;
}

static int
has1(struct fixture *f, uint8_t pub, uint64_t seq, uint32_t salt)
{
    uint8_t id[SZ_BUNDLE_ID_LEN];

    make_id(id, pub, seq, salt);
    return store_has(f->st, id, f->err, sizeof(f->err));
}

/*
 * Syncs of the write-ahead log, counted: this program's fsync() and
 * fdatasync() stand in for the C library's, SQLite's calls included.
 */
static int wal_syncs;

static void
count_sync(int fd)
{
    char link[64], path[4096];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n > 4) {
        path[n] = '\0';
        if (strcmp(path + n - 4, "-wal") == 0)
            wal_syncs++;
    }
}

int
fsync(int fd)
{
    count_sync(fd);
    return (int)syscall(SYS_fsync, fd);
}

int
fdatasync(int fd)
{
    count_sync(fd);
    return (int)syscall(SYS_fdatasync, fd);
}

/*
 * A stored bundle is on the disk when the put returns, not only in the
 * page cache: a power cut right after loses nothing acknowledged. (Killing
 * the process, as test_crash_kill9 does, cannot tell the two apart.)
 */
static void
test_put_syncs(void **state)
{
    struct fixture *f = *state;
    struct store_item items[3];
    int before;

    before = wal_syncs;
    assert_int_equal(put1(f, 1, 1, 0, NOW - 10, 2000, NOW), STORE_STORED);
    assert_true(wal_syncs > before);
    for (int i = 0; i < 3; i++)
        make_item(&items[i], 2, (uint64_t)i + 1, 0, NOW - 10, 1500);
    before = wal_syncs;
    assert_int_equal(store_put_batch(f->st, items, 3, NOW, f->err, sizeof(f->err)), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(items[i].status, STORE_STORED);
    assert_true(wal_syncs > before);
    free_items(items, 3);
}

static void
test_put_get_has(void **state)
{
    struct fixture *f = *state;
    struct store_item it;
    struct store_meta m;
    uint8_t other[SZ_BUNDLE_ID_LEN];
    uint8_t *out = NULL, chunk[1000];
    size_t out_len = 0, n_read, total;

    make_item(&it, 1, 7, 0, NOW - 10, 3000);
    assert_int_equal(store_put(f->st, &it, NOW, f->err, sizeof(f->err)), 0);
    assert_int_equal(it.status, STORE_STORED);
    assert_false(it.equivocates);
    assert_int_equal(store_has(f->st, it.meta.id, f->err, sizeof(f->err)), 1);

    assert_int_equal(store_get(f->st, it.meta.id, &out, &out_len, f->err, sizeof(f->err)), 0);
    assert_int_equal(out_len, 3000);
    assert_memory_equal(out, it.bytes, 3000);
    free(out);

    assert_int_equal(store_get_meta(f->st, it.meta.id, &m, f->err, sizeof(f->err)), 0);
    assert_memory_equal(m.id, it.meta.id, SZ_BUNDLE_ID_LEN);
    assert_memory_equal(m.publisher, it.meta.publisher, SZ_PUBLIC_KEY_LEN);
    assert_int_equal(m.sequence, 7);
    assert_int_equal(m.created, NOW - 10);
    assert_int_equal(m.size, 3000);
    assert_int_equal(m.received, NOW);

    /* Streaming read in chunks reassembles the bytes. */
    total = 0;
    do {
        assert_int_equal(store_read(f->st, it.meta.id, total, chunk, sizeof(chunk), &n_read, f->err,
                                    sizeof(f->err)),
                         0);
        if (n_read > 0)
            assert_memory_equal(chunk, it.bytes + total, n_read);
        total += n_read;
    } while (n_read > 0);
    assert_int_equal(total, 3000);

    /* Storing the same id again writes nothing. */
    assert_int_equal(store_put(f->st, &it, NOW + 5, f->err, sizeof(f->err)), 0);
    assert_int_equal(it.status, STORE_DUPLICATE);

    make_id(other, 1, 8, 0);
    assert_int_equal(store_has(f->st, other, f->err, sizeof(f->err)), 0);
    assert_int_equal(store_get(f->st, other, &out, &out_len, f->err, sizeof(f->err)), -ENOENT);
    assert_non_null(strstr(f->err, "not held"));
    assert_int_equal(store_get_meta(f->st, other, &m, f->err, sizeof(f->err)), -ENOENT);

    /* Durable across close and reopen. */
    reopen(f, NULL);
    assert_int_equal(store_get(f->st, it.meta.id, &out, &out_len, f->err, sizeof(f->err)), 0);
    assert_memory_equal(out, it.bytes, 3000);
    free(out);

    /* Empty bundles are legal for the store (it does not judge content). */
    assert_int_equal(put1(f, 2, 1, 0, NOW, 0, NOW), STORE_STORED);
    make_id(other, 2, 1, 0);
    assert_int_equal(store_get(f->st, other, &out, &out_len, f->err, sizeof(f->err)), 0);
    assert_int_equal(out_len, 0);
    free(out);

    /* Delete, with and without remembering. */
    assert_int_equal(store_delete(f->st, it.meta.id, true, NOW, f->err, sizeof(f->err)), 0);
    assert_int_equal(store_has(f->st, it.meta.id, f->err, sizeof(f->err)), 0);
    assert_int_equal(store_is_remembered(f->st, it.meta.id, NOW, NULL, f->err, sizeof(f->err)), 1);
    assert_int_equal(store_delete(f->st, it.meta.id, true, NOW, f->err, sizeof(f->err)), -ENOENT);
    assert_int_equal(store_delete(f->st, other, false, NOW, f->err, sizeof(f->err)), 0);
    assert_int_equal(store_is_remembered(f->st, other, NOW, NULL, f->err, sizeof(f->err)), 0);
    free_items(&it, 1);
}

struct collect {
    uint64_t seqs[64];
    size_t n;
    size_t stop_after; /* 0: never stop */
};

static int
collect_meta(const struct store_meta *m, void *ctx)
{
    struct collect *c = ctx;

    assert_true(c->n < 64);
    c->seqs[c->n++] = m->sequence;
    return c->stop_after != 0 && c->n >= c->stop_after;
}

static void
test_list_since(void **state)
{
    struct fixture *f = *state;
    static const struct {
        uint8_t pub;
        uint64_t since;
        size_t stop_after;
        size_t n;
        uint64_t seqs[12];
    } cases[] = {
        {1, 0, 0, 10, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
        {1, 5, 0, 6, {5, 6, 7, 8, 9, 10}},
        {1, 10, 0, 1, {10}},
        {1, 11, 0, 0, {0}},
        {1, UINT64_MAX, 0, 0, {0}},
        {1, 3, 2, 2, {3, 4}},
        {2, 0, 0, 3, {1, 2, 3}},
        {3, 0, 0, 0, {0}},
    };
    uint8_t pub[SZ_PUBLIC_KEY_LEN];

    /* Stored out of order: listing is by sequence. */
    for (uint64_t s = 10; s >= 1; s--)
        assert_int_equal(put1(f, 1, s, 0, NOW - 100 + (int64_t)s, 100, NOW), STORE_STORED);
    for (uint64_t s = 1; s <= 3; s++)
        assert_int_equal(put1(f, 2, s, 0, NOW, 100, NOW), STORE_STORED);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct collect c = {.stop_after = cases[i].stop_after};

        make_pub(pub, cases[i].pub);
        assert_int_equal(
            store_list(f->st, pub, cases[i].since, collect_meta, &c, f->err, sizeof(f->err)), 0);
        assert_int_equal(c.n, cases[i].n);
        for (size_t k = 0; k < c.n; k++)
            assert_int_equal(c.seqs[k], cases[i].seqs[k]);
    }
}

struct page_collect {
    struct store_cursor last;
    uint8_t pub[64], salt[64];
    uint64_t seq[64];
    size_t n;
};

static int
collect_page(const struct store_meta *m, void *ctx)
{
    struct page_collect *c = ctx;

    assert_true(c->n < 64);
    c->pub[c->n] = m->publisher[0];
    c->seq[c->n] = m->sequence;
    c->salt[c->n] = m->id[9];
    c->n++;
    memcpy(c->last.publisher, m->publisher, SZ_PUBLIC_KEY_LEN);
    c->last.sequence = m->sequence;
    memcpy(c->last.id, m->id, SZ_BUNDLE_ID_LEN);
    return 0;
}

/* Pages of `limit` from the start, each after the last bundle of the one before. */
static void
list_all_pages(struct fixture *f, const uint8_t *pub, uint64_t since, size_t limit,
               struct page_collect *all)
{
    struct store_cursor after;
    bool first = true;

    memset(all, 0, sizeof *all);
    for (int pages = 0; pages < 64; pages++) {
        struct page_collect c = {0};
        assert_int_equal(store_list_page(f->st, pub, since, first ? NULL : &after, limit,
                                         collect_page, &c, f->err, sizeof(f->err)),
                         0);
        assert_true(c.n <= limit);
        for (size_t i = 0; i < c.n; i++) {
            assert_true(all->n < 64);
            all->pub[all->n] = c.pub[i];
            all->seq[all->n] = c.seq[i];
            all->salt[all->n] = c.salt[i];
            all->n++;
        }
        if (c.n < limit)
            return;
        after = c.last;
        first = false;
    }
    fail_msg("paging did not end");
}

/*
 * Listing page by page: every bundle once, in order of (publisher, sequence,
 * id) whatever the order they were stored in and the page size, equivocating
 * bundles included; a cursor past a publisher, before it, or above every
 * sequence; a bundle evicted between pages.
 */
static void
test_list_page(void **state)
{
    struct fixture *f = *state;
    static const struct {
        uint8_t pub;
        uint64_t seq;
        uint8_t salt;
    } want[] = {{1, 1, 0}, {1, 2, 0}, {1, 3, 0}, {1, 3, 2}, {1, 4, 0},
                {1, 5, 0}, {2, 1, 0}, {2, 2, 0}, {2, 3, 0}, {3, (uint64_t)INT64_MAX, 0}};
    struct page_collect all;
    struct store_cursor after;
    uint8_t pub[SZ_PUBLIC_KEY_LEN], id[SZ_BUNDLE_ID_LEN];

    /* Stored out of order: publisher 2 first, the equivocation's ids backwards. */
    for (uint64_t s = 3; s >= 1; s--)
        assert_int_equal(put1(f, 2, s, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 3, (uint64_t)INT64_MAX, 0, NOW, 10, NOW), STORE_STORED);
    for (uint64_t s = 5; s >= 1; s--)
        assert_int_equal(put1(f, 1, s, s == 3 ? 2 : 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 3, 0, NOW, 10, NOW), STORE_STORED);

    for (size_t limit = 1; limit <= 12; limit++) {
        list_all_pages(f, NULL, 0, limit, &all);
        assert_int_equal(all.n, sizeof want / sizeof want[0]);
        for (size_t i = 0; i < all.n; i++) {
            assert_int_equal(all.pub[i], want[i].pub);
            assert_true(all.seq[i] == want[i].seq);
            assert_int_equal(all.salt[i], want[i].salt);
        }
    }
    /* One publisher, from a sequence on. */
    make_pub(pub, 1);
    list_all_pages(f, pub, 3, 2, &all);
    assert_int_equal(all.n, 4);
    assert_true(all.seq[0] == 3 && all.salt[0] == 0 && all.seq[1] == 3 && all.salt[1] == 2);
    assert_true(all.seq[3] == 5);
    list_all_pages(f, NULL, 4, 3, &all);
    assert_int_equal(all.n, 3); /* 1/4, 1/5, 3/INT64_MAX */
    assert_true(all.pub[2] == 3);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_list_page(f->st, NULL, UINT64_MAX, NULL, 10, collect_page, &all, f->err,
                                     sizeof(f->err)),
                     0);
    assert_int_equal(all.n, 0);

    /* Cursors: above every sequence of publisher 1 goes on with publisher 2. */
    struct page_collect c = {0};
    make_pub(after.publisher, 1);
    after.sequence = UINT64_MAX;
    memset(after.id, 0, sizeof after.id);
    assert_int_equal(
        store_list_page(f->st, NULL, 0, &after, 10, collect_page, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.pub[0], 2);
    /* Filtered by publisher 2: a cursor in publisher 1 lists all of 2, one in 3 nothing. */
    memset(&c, 0, sizeof c);
    make_pub(pub, 2);
    assert_int_equal(
        store_list_page(f->st, pub, 0, &after, 10, collect_page, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 3);
    memset(&c, 0, sizeof c);
    make_pub(after.publisher, 3);
    after.sequence = 0;
    assert_int_equal(
        store_list_page(f->st, pub, 0, &after, 10, collect_page, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 0);

    /* The bundle a page ended on is evicted: the next page still starts after it. */
    memset(&c, 0, sizeof c);
    assert_int_equal(
        store_list_page(f->st, NULL, 0, NULL, 3, collect_page, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 3); /* ends on 1/3 salt 0 */
    make_id(id, 1, 3, 0);
    assert_int_equal(store_delete(f->st, id, false, NOW, f->err, sizeof(f->err)), 0);
    after = c.last;
    memset(&c, 0, sizeof c);
    assert_int_equal(
        store_list_page(f->st, NULL, 0, &after, 1, collect_page, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.pub[0] == 1 && c.seq[0] == 3 && c.salt[0] == 2);
}

static void
test_batch(void **state)
{
    struct fixture *f = *state;
    enum { N = 1000 };
    struct store_item *items = calloc(N + 2, sizeof(*items));
    struct store_usage u;
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    uint64_t n_bundles, bytes, want_bytes = 0;

    assert_non_null(items);
    for (size_t i = 0; i < N; i++) {
        make_item(&items[i], (uint8_t)(1 + i % 4), 1 + i / 4, 0, NOW - (int64_t)i, 100 + i % 50);
        want_bytes += 100 + i % 50;
    }
    /* The same bundle twice in one batch, and one already held. */
    make_item(&items[N], 1, 1, 0, NOW, 100);
    assert_int_equal(put1(f, 9, 1, 0, NOW, 10, NOW), STORE_STORED);
    make_item(&items[N + 1], 9, 1, 0, NOW, 10);

    assert_int_equal(store_put_batch(f->st, items, N + 2, NOW, f->err, sizeof(f->err)), 0);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(items[i].status, STORE_STORED);
    assert_int_equal(items[N].status, STORE_DUPLICATE);
    assert_int_equal(items[N + 1].status, STORE_DUPLICATE);

    assert_int_equal(store_totals(f->st, &n_bundles, &bytes, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_bundles, N + 1);
    assert_int_equal(bytes, want_bytes + 10);

    make_pub(pub, 2);
    assert_int_equal(store_usage(f->st, pub, &u, f->err, sizeof(f->err)), 0);
    assert_int_equal(u.n_bundles, N / 4);
    assert_int_equal(u.max_sequence, N / 4);
    make_pub(pub, 77);
    assert_int_equal(store_usage(f->st, pub, &u, f->err, sizeof(f->err)), 0);
    assert_int_equal(u.n_bundles, 0);
    assert_int_equal(u.bytes, 0);

    /* An empty batch is a no-op. */
    assert_int_equal(store_put_batch(f->st, items, 0, NOW, f->err, sizeof(f->err)), 0);
    /* A batch item without bytes is refused before anything is written. */
    free_items(items, N + 2);
    items[0].bytes = NULL;
    assert_int_equal(store_put_batch(f->st, items, 1, NOW, f->err, sizeof(f->err)), -EINVAL);
    free(items);
}

/*
 * Quotas, table-driven: each case puts bundles one per call in order (pub, seq,
 * created, size) under the limits, then checks which (pub, seq) remain, and the
 * status of every put.
 */
struct qput {
    uint8_t pub;
    uint64_t seq;
    int64_t created;
    size_t size;
    enum store_status want;
};

static void
test_quotas(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *name;
        struct store_limits lim;
        size_t n;
        struct qput puts[8];
        size_t n_kept;
        struct {
            uint8_t pub;
            uint64_t seq;
        } kept[8];
    } cases[] = {
        {"per-publisher: oldest created goes first",
         {.max_publisher_bytes = 3000},
         4,
         {{1, 1, NOW - 50, 1000, STORE_STORED},
          {1, 2, NOW - 90, 1000, STORE_STORED},
          {1, 3, NOW - 70, 1000, STORE_STORED},
          {1, 4, NOW - 10, 1000, STORE_STORED}},
         3,
         {{1, 1}, {1, 3}, {1, 4}}},
        {"per-publisher: same created, lower sequence goes first",
         {.max_publisher_bytes = 2000},
         3,
         {{1, 5, NOW, 1000, STORE_STORED},
          {1, 3, NOW, 1000, STORE_STORED},
          {1, 4, NOW, 1000, STORE_STORED}},
         2,
         {{1, 4}, {1, 5}}},
        {"per-publisher: other publishers untouched",
         {.max_publisher_bytes = 2000},
         4,
         {{1, 1, NOW - 100, 1000, STORE_STORED},
          {2, 1, NOW - 200, 1000, STORE_STORED},
          {1, 2, NOW - 50, 1000, STORE_STORED},
          {1, 3, NOW - 10, 1000, STORE_STORED}},
         3,
         {{1, 2}, {1, 3}, {2, 1}}},
        {"per-publisher: a bundle older than all is evicted at once",
         {.max_publisher_bytes = 2000},
         3,
         {{1, 2, NOW - 20, 1000, STORE_STORED},
          {1, 3, NOW - 10, 1000, STORE_STORED},
          {1, 1, NOW - 90, 1000, STORE_EVICTED}},
         2,
         {{1, 2}, {1, 3}}},
        {"too big for a quota on its own",
         {.max_publisher_bytes = 2000, .max_total_bytes = 5000},
         2,
         {{1, 1, NOW, 2001, STORE_TOO_BIG}, {1, 2, NOW, 2000, STORE_STORED}},
         1,
         {{1, 2}}},
        {"total: oldest across publishers goes first",
         {.max_total_bytes = 3000},
         5,
         {{1, 1, NOW - 10, 1000, STORE_STORED},
          {2, 1, NOW - 40, 1000, STORE_STORED},
          {3, 1, NOW - 20, 1000, STORE_STORED},
          {1, 2, NOW - 5, 1000, STORE_STORED},
          {2, 2, NOW - 1, 1000, STORE_STORED}},
         3,
         {{1, 2}, {1, 1}, {2, 2}}},
        {"both quotas",
         {.max_total_bytes = 2500, .max_publisher_bytes = 1500},
         4,
         {{1, 1, NOW - 30, 1000, STORE_STORED},
          {1, 2, NOW - 20, 1000, STORE_STORED},
          {2, 1, NOW - 40, 1000, STORE_STORED},
          {2, 2, NOW - 10, 1000, STORE_STORED}},
         2,
         {{1, 2}, {2, 2}}},
    };

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint64_t n_bundles, bytes;
        size_t kept_bytes = 0;

        print_message("case: %s\n", cases[c].name);
        /* A fresh store per case. */
        store_close(f->st);
        f->st = NULL;
        remove_dir(f->dir);
        assert_int_equal(store_open(f->dir, &cases[c].lim, &f->st, f->err, sizeof(f->err)), 0);
        for (size_t i = 0; i < cases[c].n; i++) {
            const struct qput *p = &cases[c].puts[i];

            assert_int_equal(put1(f, p->pub, p->seq, 0, p->created, p->size, NOW), p->want);
        }
        for (size_t k = 0; k < cases[c].n_kept; k++)
            assert_int_equal(has1(f, cases[c].kept[k].pub, cases[c].kept[k].seq, 0), 1);
        assert_int_equal(store_totals(f->st, &n_bundles, &bytes, f->err, sizeof(f->err)), 0);
        assert_int_equal(n_bundles, cases[c].n_kept);
        for (size_t i = 0; i < cases[c].n; i++) {
            const struct qput *p = &cases[c].puts[i];
            uint8_t id[SZ_BUNDLE_ID_LEN];
            int held = has1(f, p->pub, p->seq, 0);
            int reason = 0;

            make_id(id, p->pub, p->seq, 0);
            if (held)
                kept_bytes += p->size;
            assert_int_equal(store_is_remembered(f->st, id, NOW, &reason, f->err, sizeof(f->err)),
                             !held);
            if (!held)
                assert_int_equal(reason, p->want == STORE_TOO_BIG ? STORE_REASON_TOO_BIG
                                                                  : STORE_REASON_EVICTED);
        }
        assert_int_equal(bytes, kept_bytes);
    }
}

static void
test_evict_in_batch_and_lowered_limits(void **state)
{
    struct fixture *f = *state;
    struct store_limits lim = {.max_publisher_bytes = 2000};
    struct store_item items[4];
    uint64_t n_removed, n_bundles, bytes;

    reopen(f, &lim);
    /* Item 0 is stored, then evicted by the later items of the same batch. */
    make_item(&items[0], 1, 1, 0, NOW - 90, 1000);
    make_item(&items[1], 1, 2, 0, NOW - 20, 1000);
    make_item(&items[2], 1, 3, 0, NOW - 10, 1000);
    make_item(&items[3], 2, 1, 0, NOW - 10, 1000);
    assert_int_equal(store_put_batch(f->st, items, 4, NOW, f->err, sizeof(f->err)), 0);
    assert_int_equal(items[0].status, STORE_EVICTED);
    assert_int_equal(items[1].status, STORE_STORED);
    assert_int_equal(items[2].status, STORE_STORED);
    assert_int_equal(items[3].status, STORE_STORED);
    free_items(items, 4);

    /* Lowering the limits evicts on store_evict(), bounded per call. */
    lim.max_publisher_bytes = 1000;
    lim.max_total_bytes = 1000;
    store_set_limits(f->st, &lim);
    assert_int_equal(store_evict(f->st, NOW, 1, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 1);
    assert_int_equal(has1(f, 1, 2, 0), 0);
    assert_int_equal(store_evict(f->st, NOW, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 1);
    assert_int_equal(store_totals(f->st, &n_bundles, &bytes, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_bundles, 1);
    assert_int_equal(bytes, 1000);
    /* Oldest first: (1,3) and (2,1) share created, (1,3) has the higher sequence. */
    assert_int_equal(has1(f, 1, 3, 0), 1);
    assert_int_equal(store_evict(f->st, NOW, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 0);
}

/* store_evicted_seq() of publisher pub: the last sequence evicted, or -1 when none. */
static int64_t
evicted1(struct fixture *f, uint8_t pub, int64_t now)
{
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t seq = 0;
    int ret;

    make_pub(publisher, pub);
    ret = store_evicted_seq(f->st, publisher, now, &seq, f->err, sizeof(f->err));
    assert_true(ret == 0 || ret == 1);
    return ret == 1 ? (int64_t)seq : -1;
}

/*
 * Evictions leave a floor per publisher (the highest sequence evicted) that
 * survives a restart, so that gossip does not fetch the evicted sequences
 * again; it lapses, as their ids do, remember_s after the last eviction.
 */
static void
test_evicted_seq(void **state)
{
    struct fixture *f = *state;
    struct store_limits lim = {.max_publisher_bytes = 2000, .remember_s = 100};
    uint64_t n;

    reopen(f, &lim);
    assert_int_equal(evicted1(f, 1, NOW), -1);
    assert_int_equal(put1(f, 1, 1, 0, NOW - 50, 1000, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 2, 0, NOW - 40, 1000, NOW), STORE_STORED);
    assert_int_equal(evicted1(f, 1, NOW), -1);
    /* A newer bundle evicts 1, then another evicts 2. */
    assert_int_equal(put1(f, 1, 3, 0, NOW - 30, 1000, NOW), STORE_STORED);
    assert_int_equal(evicted1(f, 1, NOW), 1);
    assert_int_equal(put1(f, 1, 4, 0, NOW - 20, 1000, NOW + 10), STORE_STORED);
    assert_int_equal(evicted1(f, 1, NOW), 2);
    assert_int_equal(evicted1(f, 2, NOW), -1);
    /* Kept across a restart. */
    reopen(f, &lim);
    assert_int_equal(evicted1(f, 1, NOW), 2);
    /* An old bundle evicted on arrival never lowers it. */
    assert_int_equal(put1(f, 1, 1, 7, NOW - 90, 1000, NOW + 20), STORE_EVICTED);
    assert_int_equal(evicted1(f, 1, NOW + 20), 2);
    /* The total quota's evictions count too. */
    lim.max_total_bytes = 2000;
    reopen(f, &lim);
    assert_int_equal(put1(f, 2, 9, 0, NOW - 10, 1000, NOW + 30), STORE_STORED);
    assert_int_equal(evicted1(f, 1, NOW + 30), 3);
    /* Lapses remember_s after the last eviction (at NOW + 30). */
    assert_int_equal(evicted1(f, 1, NOW + 129), 3);
    assert_int_equal(evicted1(f, 1, NOW + 130), -1);
    assert_int_equal(store_forget_expired(f->st, NOW + 129, &n, f->err, sizeof(f->err)), 0);
    reopen(f, NULL);
    assert_int_equal(evicted1(f, 1, NOW + 1000), 3);
    reopen(f, &lim);
    assert_int_equal(store_forget_expired(f->st, NOW + 130, &n, f->err, sizeof(f->err)), 0);
    reopen(f, NULL);
    assert_int_equal(evicted1(f, 1, NOW + 1000), -1);
}

static int
collect_gone(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t first, uint64_t last, void *ctx)
{
    uint64_t *v = ctx;
    (void)publisher;
    assert_int_equal(first, last);
    v[v[0] + 1] = first;
    v[0]++;
    return v[0] >= 7;
}

/* The sequences of publisher pub listed as gone at now, as digits ("3", "35"), or 0. */
static uint64_t
gone1(struct fixture *f, uint8_t pub, int64_t now)
{
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t v[8] = {0}, out = 0;

    make_pub(publisher, pub);
    assert_int_equal(
        store_gone_seqs(f->st, publisher, now, collect_gone, v, f->err, sizeof(f->err)), 0);
    for (uint64_t i = 0; i < v[0]; i++)
        out = out * 10 + v[i + 1];
    return out;
}

/*
 * Eviction goes by creation time, which the publisher chooses: a backdated
 * bundle goes before lower sequences that are newer. The floor never rises
 * to a sequence still held, so a missing lower sequence is still fetched.
 */
static void
test_evicted_seq_backdated(void **state)
{
    struct fixture *f = *state;
    struct store_limits lim = {.max_publisher_bytes = 2000, .remember_s = 100};

    reopen(f, &lim);
    assert_int_equal(put1(f, 1, 1, 0, NOW - 10, 1000, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 3, 0, NOW - 1000, 1000, NOW), STORE_STORED);
    /* 4 evicts 3 (the oldest by date); 1 is still held, so 2 stays wanted. */
    assert_int_equal(put1(f, 1, 4, 0, NOW - 5, 1000, NOW), STORE_STORED);
    assert_int_equal(has1(f, 1, 3, 0), 0);
    assert_int_equal(evicted1(f, 1, NOW), -1);
    /* 3 itself is kept as gone (gossip fetched it, stored it and evicted it
     * at every SUMMARY before), also across a restart. */
    assert_int_equal(gone1(f, 1, NOW), 3);
    reopen(f, &lim);
    assert_int_equal(gone1(f, 1, NOW), 3);
    /* 2 comes, newer than 1, and 1 goes: the floor is 1, below 2 and 4. */
    assert_int_equal(put1(f, 1, 2, 0, NOW - 8, 1000, NOW), STORE_STORED);
    assert_int_equal(has1(f, 1, 1, 0), 0);
    assert_int_equal(evicted1(f, 1, NOW), 1);
    assert_int_equal(gone1(f, 1, NOW), 3); /* 1 went at the floor: not listed */
    /* Forgotten with the history, after remember_s. */
    assert_int_equal(gone1(f, 1, NOW + 101), 0);
    assert_int_equal(store_forget_expired(f->st, NOW + 101, NULL, f->err, sizeof(f->err)), 0);
    assert_int_equal(gone1(f, 1, NOW), 0);
}

/*
 * The node's own publisher under the total quota: a flood of other publishers'
 * bundles, all dated newer than its own (up to a day ahead, as far as a put
 * accepts), evicts only the flooders' bundles; the own ones go only under
 * their own quota. Without an own publisher the oldest goes, whoever it is.
 */
static void
test_own_publisher_kept(void **state)
{
    struct fixture *f = *state;
    struct store_limits lim = {.max_total_bytes = 4000, .max_publisher_bytes = 4000};
    uint8_t own[SZ_PUBLIC_KEY_LEN], id[SZ_BUNDLE_ID_LEN];
    uint64_t n_removed, n_bundles, bytes;
    struct store_usage u;
    int reason = 0;

    reopen(f, &lim);
    make_pub(own, 1);
    store_set_own_publisher(f->st, own);
    assert_int_equal(put1(f, 1, 1, 0, NOW - 100, 1000, NOW), STORE_STORED);
    /* Two flooders, four bundles each, up to the total quota and beyond. */
    for (uint8_t pub = 2; pub <= 3; pub++)
        for (uint64_t s = 1; s <= 4; s++)
            assert_int_equal(put1(f, pub, s, 0,
                                  NOW + STORE_MAX_FUTURE_S - 100 + pub * 10 + (int64_t)s, 1000,
                                  NOW),
                             STORE_STORED);
    assert_int_equal(has1(f, 1, 1, 0), 1);
    assert_int_equal(has1(f, 2, 4, 0), 0);
    for (uint64_t s = 2; s <= 4; s++)
        assert_int_equal(has1(f, 3, s, 0), 1);
    assert_int_equal(store_totals(f->st, &n_bundles, &bytes, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_bundles, 4);
    assert_int_equal(bytes, 4000);

    /* Publishing more makes room by evicting the flooders', never refuses. */
    assert_int_equal(put1(f, 1, 2, 0, NOW, 1000, NOW), STORE_STORED);
    assert_int_equal(has1(f, 3, 2, 0), 0);
    assert_int_equal(put1(f, 1, 3, 0, NOW + 1, 1000, NOW + 1), STORE_STORED);
    assert_int_equal(put1(f, 1, 4, 0, NOW + 2, 1000, NOW + 2), STORE_STORED);
    assert_int_equal(store_usage(f->st, own, &u, f->err, sizeof(f->err)), 0);
    assert_int_equal(u.n_bundles, 4);
    assert_int_equal(store_totals(f->st, &n_bundles, &bytes, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_bundles, 4);

    /* The own quota still applies to the own publisher: its oldest goes. */
    assert_int_equal(put1(f, 1, 5, 0, NOW + 3, 1000, NOW + 3), STORE_STORED);
    assert_int_equal(has1(f, 1, 1, 0), 0);
    make_id(id, 1, 1, 0);
    assert_int_equal(store_is_remembered(f->st, id, NOW + 3, &reason, f->err, sizeof(f->err)), 1);
    assert_int_equal(reason, STORE_REASON_EVICTED);

    /* Only own bundles fill the total: another's is stored and evicted at once. */
    assert_int_equal(put1(f, 4, 1, 0, NOW + 3600, 1000, NOW + 4), STORE_EVICTED);
    assert_int_equal(store_usage(f->st, own, &u, f->err, sizeof(f->err)), 0);
    assert_int_equal(u.n_bundles, 4);

    /* A total lowered below the own bundles: nothing to evict, no error, no loop. */
    lim.max_total_bytes = 2000;
    store_set_limits(f->st, &lim);
    assert_int_equal(store_evict(f->st, NOW + 5, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 0);
    assert_int_equal(store_evict(f->st, NOW + 5, 1, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 0);
    assert_int_equal(put1(f, 1, 6, 0, NOW + 6, 1000, NOW + 6), STORE_STORED);
    assert_int_equal(has1(f, 1, 2, 0), 0); /* its own quota, 4000, evicted it */
    assert_int_equal(store_totals(f->st, &n_bundles, &bytes, f->err, sizeof(f->err)), 0);
    assert_int_equal(bytes, 4000);
    /* A lowered own quota does evict them, oldest first. */
    lim.max_publisher_bytes = 2000;
    store_set_limits(f->st, &lim);
    assert_int_equal(store_evict(f->st, NOW + 7, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 2);
    assert_int_equal(has1(f, 1, 5, 0), 1);
    assert_int_equal(has1(f, 1, 6, 0), 1);

    /* Its own quota goes by sequence: after this clock stepped back an hour, a
     * new bundle dated before the others is kept and the lowest sequence goes
     * (by date, the new one went at once: publishing failed). */
    assert_int_equal(put1(f, 1, 7, 0, NOW + 7 - 3600, 1000, NOW + 7), STORE_STORED);
    assert_int_equal(has1(f, 1, 7, 0), 1);
    assert_int_equal(has1(f, 1, 5, 0), 0);
    assert_int_equal(has1(f, 1, 6, 0), 1);

    /* The own publisher survives set_limits; cleared, the oldest goes again. */
    store_set_own_publisher(f->st, NULL);
    assert_int_equal(put1(f, 5, 1, 0, NOW + 100, 1000, NOW + 8), STORE_STORED);
    assert_int_equal(has1(f, 1, 5, 0), 0);
    assert_int_equal(has1(f, 5, 1, 0), 1);
}

/*
 * A bundle dated more than STORE_MAX_FUTURE_S ahead is refused and remembered;
 * one a little too far ahead only until the clock catches up with it. Held
 * ones (from before the check) are removed by store_expire().
 */
static void
test_future_refused(void **state)
{
    struct fixture *f = *state;
    struct store_limits lim = {.remember_s = 14 * 86400};
    const int64_t y2100 = 4102444800; /* 2100-01-01T00:00:00Z */
    struct store_item items[3];
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint64_t n_removed;
    int64_t at = -1;
    int reason = 0;

    reopen(f, &lim);
    assert_int_equal(store_n_future(f->st), 0);
    assert_int_equal(put1(f, 1, 1, 0, NOW + STORE_MAX_FUTURE_S, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 2, 0, NOW + STORE_MAX_FUTURE_S + 1, 10, NOW), STORE_FUTURE);
    assert_int_equal(has1(f, 1, 2, 0), 0);
    make_id(id, 1, 2, 0);
    assert_int_equal(store_is_remembered(f->st, id, NOW, &reason, f->err, sizeof(f->err)), 1);
    assert_int_equal(reason, STORE_REASON_FUTURE);
    /* A second later it is acceptable: no longer remembered, and stored. */
    assert_int_equal(store_is_remembered(f->st, id, NOW + 1, NULL, f->err, sizeof(f->err)), 0);
    assert_int_equal(put1(f, 1, 2, 0, NOW + STORE_MAX_FUTURE_S + 1, 10, NOW + 1), STORE_STORED);

    /* Dated 2100: remembered for remember_s, as any refusal. */
    assert_int_equal(put1(f, 2, 1, 0, y2100, 10, NOW), STORE_FUTURE);
    make_id(id, 2, 1, 0);
    assert_int_equal(
        store_is_remembered(f->st, id, NOW + lim.remember_s - 1, NULL, f->err, sizeof(f->err)), 1);
    assert_int_equal(
        store_is_remembered(f->st, id, NOW + lim.remember_s, NULL, f->err, sizeof(f->err)), 0);

    /* In a batch, the others are stored. */
    make_item(&items[0], 3, 1, 0, NOW, 10);
    make_item(&items[1], 3, 2, 0, INT64_MAX, 10);
    make_item(&items[2], 3, 3, 0, NOW + 60, 10);
    assert_int_equal(store_put_batch(f->st, items, 3, NOW, f->err, sizeof(f->err)), 0);
    assert_int_equal(items[0].status, STORE_STORED);
    assert_int_equal(items[1].status, STORE_FUTURE);
    assert_int_equal(items[2].status, STORE_STORED);
    free_items(items, 3);
    assert_int_equal(store_n_future(f->st), 3);

    /* Held, but too far ahead of this clock: removed by store_expire() even
     * without max_age, and remembered. (1,1) is exactly at the bound. */
    assert_int_equal(store_expire(f->st, NOW, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 1);
    assert_int_equal(has1(f, 1, 1, 0), 1);
    assert_int_equal(has1(f, 1, 2, 0), 0);
    make_id(id, 1, 2, 0);
    assert_int_equal(store_is_remembered(f->st, id, NOW, &reason, f->err, sizeof(f->err)), 1);
    assert_int_equal(reason, STORE_REASON_FUTURE);
    assert_int_equal(store_expire(f->st, NOW, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 0);
    /* A clock stepped back more than a day from when bundles were stored
     * here is wrong, not the bundles: nothing goes, also after a restart (a
     * board without a clock battery, booting in 1970). Since the store was
     * opened a bundle was stored at NOW + 1; of those held, the latest at NOW. */
    assert_int_equal(store_newest_received(f->st, &at, f->err, sizeof(f->err)), 0);
    assert_int_equal(at, NOW + 1);
    reopen(f, &lim);
    assert_int_equal(store_newest_received(f->st, &at, f->err, sizeof(f->err)), 0);
    assert_int_equal(at, NOW);
    assert_int_equal(
        store_expire(f->st, NOW - STORE_MAX_FUTURE_S - 2, 0, &n_removed, f->err, sizeof(f->err)),
        0);
    assert_int_equal(n_removed, 0);
    assert_int_equal(store_expire(f->st, 10, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 0);
    assert_int_equal(has1(f, 1, 1, 0), 1);
    assert_int_equal(has1(f, 3, 3, 0), 1);
    /* Bounded per call like expiry: two held a day and more ahead of a clock
     * a day behind, one per call. */
    assert_int_equal(
        store_expire(f->st, NOW + 1 - STORE_MAX_FUTURE_S, 1, &n_removed, f->err, sizeof(f->err)),
        0);
    assert_int_equal(n_removed, 1);
    assert_int_equal(
        store_expire(f->st, NOW + 1 - STORE_MAX_FUTURE_S, 1, &n_removed, f->err, sizeof(f->err)),
        0);
    assert_int_equal(n_removed, 1);
    assert_int_equal(
        store_expire(f->st, NOW + 1 - STORE_MAX_FUTURE_S, 1, &n_removed, f->err, sizeof(f->err)),
        0);
    assert_int_equal(n_removed, 0);
    assert_int_equal(has1(f, 1, 1, 0), 0);
    assert_int_equal(has1(f, 3, 3, 0), 0);
}

static void
test_expiry(void **state)
{
    struct fixture *f = *state;
    struct store_limits lim = {.max_age_s = 1000};
    uint64_t n_removed, n_bundles, bytes;
    int reason;

    reopen(f, &lim);
    assert_int_equal(put1(f, 1, 1, 0, NOW - 1001, 10, NOW), STORE_EXPIRED);
    assert_int_equal(has1(f, 1, 1, 0), 0);
    /* Its sequence is gone: gossip does not ask for it again. */
    assert_int_equal(gone1(f, 1, NOW), 1);
    assert_int_equal(put1(f, 1, 2, 0, NOW - 1000, 10, NOW), STORE_STORED);
    for (uint64_t s = 3; s <= 12; s++)
        assert_int_equal(put1(f, 1, s, 0, NOW - 1000 + (int64_t)s * 20, 10, NOW), STORE_STORED);

    /* 130 s later: sequences 2..6 (created before NOW - 870) have expired. */
    assert_int_equal(store_expire(f->st, NOW + 130, 2, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 2);
    assert_int_equal(has1(f, 1, 2, 0), 0);
    assert_int_equal(has1(f, 1, 3, 0), 0);
    assert_int_equal(has1(f, 1, 4, 0), 1);
    assert_int_equal(store_expire(f->st, NOW + 130, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 3);
    assert_int_equal(has1(f, 1, 6, 0), 0);
    assert_int_equal(has1(f, 1, 7, 0), 1);
    assert_int_equal(store_totals(f->st, &n_bundles, &bytes, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_bundles, 6);
    assert_int_equal(bytes, 60);

    for (uint64_t s = 1; s <= 6; s++) {
        uint8_t id[SZ_BUNDLE_ID_LEN];

        make_id(id, 1, s, 0);
        assert_int_equal(store_is_remembered(f->st, id, NOW + 130, &reason, f->err, sizeof(f->err)),
                         1);
        assert_int_equal(reason, STORE_REASON_EXPIRED);
    }
    /* Sequences 1..6 are not fetched again from a peer keeping them longer:
     * the floor is 6, across a restart. */
    assert_int_equal(evicted1(f, 1, NOW + 130), 6);
    reopen(f, &lim);
    assert_int_equal(evicted1(f, 1, NOW + 130), 6);
    /* A backdated bundle expires before lower sequences that are newer: the
     * floor stays below them (2 is still wanted) and 3 alone is gone. */
    assert_int_equal(put1(f, 2, 1, 0, NOW - 10, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 2, 3, 0, NOW - 990, 10, NOW), STORE_STORED);
    assert_int_equal(store_expire(f->st, NOW + 130, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 1);
    assert_int_equal(has1(f, 2, 3, 0), 0);
    assert_int_equal(has1(f, 2, 1, 0), 1);
    assert_int_equal(evicted1(f, 2, NOW + 130), -1);
    assert_int_equal(gone1(f, 2, NOW + 130), 3);
    assert_int_equal(evicted1(f, 1, NOW + 130), 6);
    /* Without max_age nothing expires. */
    store_set_limits(f->st, NULL);
    assert_int_equal(store_expire(f->st, NOW + 100000, 0, &n_removed, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_removed, 0);
}

/* Counts the gone sequences listed (ctx: {count, lowest, highest}). */
static int
count_gone(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t first, uint64_t last, void *ctx)
{
    uint64_t *v = ctx;
    (void)publisher;
    if (v[0] == 0 || first < v[1])
        v[1] = first;
    if (last > v[2])
        v[2] = last;
    v[0]++;
    return 0;
}

/* Of the ids of publisher pub, sequences 1..n (salt 0): how many are remembered at now. */
static uint64_t
n_remembered(struct fixture *f, uint8_t pub, uint64_t n, int64_t now)
{
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint64_t count = 0;
    int reason;

    for (uint64_t s = 1; s <= n; s++) {
        make_id(id, pub, s, 0);
        int r = store_is_remembered(f->st, id, now, &reason, f->err, sizeof(f->err));
        assert_true(r == 0 || r == 1);
        count += (uint64_t)r;
    }
    return count;
}

/*
 * Refusals count against no quota: a peer offering bundles dated long ago
 * (each refused as expired, its id remembered and its sequence kept as gone)
 * grew the store file for all of remember_s. Each table of remembered rows
 * is held to max_remembered, the oldest dropped first: within a step (256
 * rows at least) as they are written, exactly at store_forget_expired().
 */
static void
test_remembered_bound(void **state)
{
    struct fixture *f = *state;
    struct store_limits lim = {.max_age_s = 1000,
                               .remember_s = 14 * 86400,
                               .max_publisher_bytes = 20,
                               .max_remembered = 100};
    uint8_t publisher[SZ_PUBLIC_KEY_LEN], id[SZ_BUNDLE_ID_LEN];
    uint64_t v[3] = {0}, n, held;
    int64_t t = NOW + 2000;
    int reason;

    reopen(f, &lim);
    for (uint64_t s = 1; s <= 2000; s++)
        assert_int_equal(put1(f, 1, s, 0, NOW - 5000, 10, NOW + (int64_t)s), STORE_EXPIRED);
    held = n_remembered(f, 1, 2000, t);
    assert_in_range(held, 100, 100 + 256);
    make_pub(publisher, 1);
    assert_int_equal(store_gone_seqs(f->st, publisher, t, count_gone, v, f->err, sizeof(f->err)),
                     0);
    assert_in_range(v[0], 100, 100 + 256);
    assert_int_equal(v[2], 2000);

    /* Maintenance: nothing is older than remember_s, the bound alone applies. */
    assert_int_equal(store_forget_expired(f->st, t, &n, f->err, sizeof(f->err)), 0);
    assert_int_equal(n, 0);
    assert_int_equal(n_remembered(f, 1, 2000, t), 100);
    assert_int_equal(n_remembered(f, 1, 1900, t), 0);
    make_id(id, 1, 1901, 0);
    assert_int_equal(store_is_remembered(f->st, id, t, &reason, f->err, sizeof(f->err)), 1);
    assert_int_equal(reason, STORE_REASON_EXPIRED);
    memset(v, 0, sizeof v);
    assert_int_equal(store_gone_seqs(f->st, publisher, t, count_gone, v, f->err, sizeof(f->err)),
                     0);
    assert_int_equal(v[0], 100);
    assert_int_equal(v[1], 1901);
    assert_int_equal(v[2], 2000);
    assert_int_equal(store_n_remembered_dropped(f->st), 2 * 1900);

    /* The evicted floors too: 200 publishers each evict one bundle, in turn. */
    for (uint8_t p = 2; p <= 201; p++) {
        int64_t at = t + p;
        assert_int_equal(put1(f, p, 1, 0, at, 15, at), STORE_STORED);
        assert_int_equal(put1(f, p, 2, 0, at + 1, 15, at), STORE_STORED);
        assert_int_equal(has1(f, p, 1, 0), 0);
    }
    assert_int_equal(store_forget_expired(f->st, t + 300, &n, f->err, sizeof(f->err)), 0);
    held = 0;
    for (uint8_t p = 2; p <= 201; p++)
        held += evicted1(f, p, t + 300) == 1;
    assert_int_equal(held, 100);
    assert_int_equal(evicted1(f, 101, t + 300), -1);
    assert_int_equal(evicted1(f, 102, t + 300), 1);
    assert_int_equal(evicted1(f, 201, t + 300), 1);
    /* Still two bundles a publisher: bounding the rows removes no bundle. */
    assert_int_equal(has1(f, 201, 2, 0), 1);
    assert_int_equal(has1(f, 2, 2, 0), 1);

    /* With no bound (max_remembered 0), nothing is dropped before remember_s. */
    lim.max_remembered = 0;
    store_set_limits(f->st, &lim);
    for (uint64_t s = 1; s <= 600; s++)
        assert_int_equal(put1(f, 250, s, 0, NOW - 5000, 10, t + 400), STORE_EXPIRED);
    assert_int_equal(store_forget_expired(f->st, t + 400, &n, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_remembered(f, 250, 600, t + 400), 600);
}

static void
test_remember(void **state)
{
    struct fixture *f = *state;
    struct store_limits lim = {.remember_s = 100};
    static const struct {
        int64_t at;
        int64_t query;
        int want;
    } cases[] = {
        {NOW, NOW, 1},        {NOW, NOW + 99, 1},       {NOW, NOW + 100, 0},
        {NOW, NOW + 1000, 0}, {NOW + 50, NOW + 100, 1},
    };
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint64_t n;
    int reason = -1;

    reopen(f, &lim);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        make_id(id, 5, i, 1);
        assert_int_equal(
            store_remember(f->st, id, STORE_REASON_INVALID, cases[i].at, f->err, sizeof(f->err)),
            0);
        assert_int_equal(
            store_is_remembered(f->st, id, cases[i].query, &reason, f->err, sizeof(f->err)),
            cases[i].want);
        if (cases[i].want)
            assert_int_equal(reason, STORE_REASON_INVALID);
    }
    make_id(id, 5, 99, 1);
    assert_int_equal(store_is_remembered(f->st, id, NOW, &reason, f->err, sizeof(f->err)), 0);

    /* Remembering again refreshes the time and the reason. */
    make_id(id, 5, 0, 1);
    assert_int_equal(
        store_remember(f->st, id, STORE_REASON_UNWANTED, NOW + 90, f->err, sizeof(f->err)), 0);
    assert_int_equal(store_is_remembered(f->st, id, NOW + 150, &reason, f->err, sizeof(f->err)), 1);
    assert_int_equal(reason, STORE_REASON_UNWANTED);

    /* At NOW + 140: forget those remembered at or before NOW + 40: cases 1..3. */
    assert_int_equal(store_forget_expired(f->st, NOW + 140, &n, f->err, sizeof(f->err)), 0);
    assert_int_equal(n, 3);
    assert_int_equal(store_forget_expired(f->st, NOW + 140, &n, f->err, sizeof(f->err)), 0);
    assert_int_equal(n, 0);

    /* Remembered ids survive a restart. */
    reopen(f, &lim);
    make_id(id, 5, 4, 1);
    assert_int_equal(store_is_remembered(f->st, id, NOW + 140, NULL, f->err, sizeof(f->err)), 1);

    /* Storing a remembered id forgets it. */
    assert_int_equal(put1(f, 5, 4, 1, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(store_is_remembered(f->st, id, NOW + 140, NULL, f->err, sizeof(f->err)), 0);

    /* remember_s = 0 remembers forever. */
    reopen(f, NULL);
    make_id(id, 5, 0, 1);
    assert_int_equal(store_is_remembered(f->st, id, INT64_MAX, NULL, f->err, sizeof(f->err)), 1);
    assert_int_equal(store_forget_expired(f->st, INT64_MAX, &n, f->err, sizeof(f->err)), 0);
    assert_int_equal(n, 0);
}

static void
test_seq_reserve(void **state)
{
    struct fixture *f = *state;
    uint8_t a[SZ_PUBLIC_KEY_LEN], b[SZ_PUBLIC_KEY_LEN], c[SZ_PUBLIC_KEY_LEN];
    uint64_t seq;

    make_pub(a, 0xa1);
    make_pub(b, 0xb2);
    make_pub(c, 0xc3);
    for (uint64_t want = 1; want <= 3; want++) {
        assert_int_equal(store_seq_reserve(f->st, a, &seq, f->err, sizeof(f->err)), 0);
        assert_int_equal(seq, want);
    }
    assert_int_equal(store_seq_reserve(f->st, b, &seq, f->err, sizeof(f->err)), 0);
    assert_int_equal(seq, 1);

    reopen(f, NULL);
    assert_int_equal(store_seq_reserve(f->st, a, &seq, f->err, sizeof(f->err)), 0);
    assert_int_equal(seq, 4);
    assert_int_equal(store_seq_reserve(f->st, b, &seq, f->err, sizeof(f->err)), 0);
    assert_int_equal(seq, 2);

    /* A key that already has bundles here (published elsewhere) continues after them. */
    assert_int_equal(put1(f, 0xc3, 41, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(store_seq_reserve(f->st, c, &seq, f->err, sizeof(f->err)), 0);
    assert_int_equal(seq, 42);
    /* ...and a reserved sequence is never handed out again even once those are gone. */
    assert_int_equal(put1(f, 0xa1, 100, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(store_seq_reserve(f->st, a, &seq, f->err, sizeof(f->err)), 0);
    assert_int_equal(seq, 101);
    {
        uint8_t id[SZ_BUNDLE_ID_LEN];

        make_id(id, 0xa1, 100, 0);
        assert_int_equal(store_delete(f->st, id, false, NOW, f->err, sizeof(f->err)), 0);
    }
    reopen(f, NULL);
    assert_int_equal(store_seq_reserve(f->st, a, &seq, f->err, sizeof(f->err)), 0);
    assert_int_equal(seq, 102);

    /* A key whose bundles here were all evicted for a quota continues after them. */
    {
        struct store_limits lim = {.max_total_bytes = 30, .remember_s = 1000};
        uint8_t d[SZ_PUBLIC_KEY_LEN];

        reopen(f, &lim);
        make_pub(d, 0xd4);
        for (uint64_t s = 1; s <= 3; s++)
            assert_int_equal(put1(f, 0xd4, s, 0, NOW - 100, 10, NOW), STORE_STORED);
        /* Newer bundles of another publisher push all three out. */
        for (uint64_t s = 1; s <= 3; s++)
            assert_int_equal(put1(f, 0xe5, s, 0, NOW, 10, NOW), STORE_STORED);
        assert_int_equal(has1(f, 0xd4, 3, 0), 0);
        assert_int_equal(store_seq_reserve(f->st, d, &seq, f->err, sizeof(f->err)), 0);
        assert_int_equal(seq, 4);
        reopen(f, NULL);
    }
    /* ...also when the highest was evicted alone, before lower ones held (backdated). */
    {
        struct store_limits lim = {.max_publisher_bytes = 25, .remember_s = 1000};
        uint8_t g[SZ_PUBLIC_KEY_LEN];

        reopen(f, &lim);
        make_pub(g, 0xf6);
        assert_int_equal(put1(f, 0xf6, 1, 0, NOW - 10, 10, NOW), STORE_STORED);
        assert_int_equal(put1(f, 0xf6, 2, 0, NOW - 5, 10, NOW), STORE_STORED);
        assert_int_equal(put1(f, 0xf6, 3, 0, NOW - 100000, 10, NOW), STORE_EVICTED);
        assert_int_equal(store_seq_reserve(f->st, g, &seq, f->err, sizeof(f->err)), 0);
        assert_int_equal(seq, 4);
        reopen(f, NULL);
    }

    /* Exhaustion is an error, not a wrap-around. */
    assert_int_equal(put1(f, 0xc3, INT64_MAX, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(store_seq_reserve(f->st, c, &seq, f->err, sizeof(f->err)), -EOVERFLOW);
    assert_non_null(strstr(f->err, "exhausted"));
    /* Sequences above INT64_MAX are refused and remembered. */
    assert_int_equal(put1(f, 0xc3, (uint64_t)INT64_MAX + 1, 0, NOW, 10, NOW), STORE_BAD_SEQ);
}

/* Writes a database the store must refuse, from SQL run by sqlite3 directly. */
static void
write_db(const char *dir, const char *sql)
{
    char path[512];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/%s", dir, STORE_DB_NAME);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void
test_schema_refused(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *sql; /* NULL: write garbage bytes instead */
        int want;
        const char *want_msg[3];
    } cases[] = {
        {"PRAGMA user_version = 999;", -EPROTO, {"schema version 999", "understands only", "4"}},
        {"CREATE TABLE t(x); PRAGMA user_version = 5; PRAGMA application_id = 1937404788;",
         -EPROTO,
         {"schema version 5", "move the data folder", NULL}},
        {"CREATE TABLE t(x);", -EPROTO, {"not a samizdat store", NULL, NULL}},
        {"PRAGMA application_id = 42; PRAGMA user_version = 1;",
         -EPROTO,
         {"not a samizdat store", NULL, NULL}},
        {NULL, -EIO, {"not a database", "damaged", NULL}},
    };
    struct store *st = NULL;
    char err[ERR_CAP];

    store_close(f->st);
    f->st = NULL;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512];
        struct stat sb1, sb2;

        remove_dir(f->dir);
        assert_int_equal(mkdir(f->dir, 0700), 0);
        if (cases[i].sql != NULL) {
            write_db(f->dir, cases[i].sql);
        } else {
            FILE *fp;

            snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_DB_NAME);
            fp = fopen(path, "w");
            assert_non_null(fp);
            for (int k = 0; k < 200; k++)
                fputs("this is not a database at all. ", fp);
            fclose(fp);
        }
        snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_DB_NAME);
        assert_int_equal(stat(path, &sb1), 0);
        err[0] = '\0';
        assert_int_equal(store_open(f->dir, NULL, &st, err, sizeof(err)), cases[i].want);
        assert_null(st);
        print_message("refused: %s\n", err);
        for (int k = 0; k < 3; k++) {
            if (cases[i].want_msg[k] != NULL)
                assert_non_null(strstr(err, cases[i].want_msg[k]));
        }
        /* The refused file is left as it was. */
        assert_int_equal(stat(path, &sb2), 0);
        assert_int_equal(sb1.st_size, sb2.st_size);
        assert_int_equal(sb1.st_mtime, sb2.st_mtime);
        /* And the lock was released: a fixed store opens. */
    }
    remove_dir(f->dir);
    assert_int_equal(store_open(f->dir, NULL, &f->st, f->err, sizeof(f->err)), 0);
}

/* Closes the store and runs sql on its file as another program would (an older samizdatd). */
static void
rewrite_closed(struct fixture *f, const char *sql)
{
    char path[512];
    sqlite3 *db = NULL;

    store_close(f->st);
    f->st = NULL;
    snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_DB_NAME);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/*
 * A version 1 store (no record of evictions) is upgraded in place on open: its
 * bundles and history stay, and evictions are recorded from then on.
 */
static void
test_schema_upgrade(void **state)
{
    struct fixture *f = *state;
    struct store_limits lim = {.max_publisher_bytes = 2000};
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    uint8_t id[SZ_BUNDLE_ID_LEN];

    reopen(f, &lim);
    assert_int_equal(put1(f, 1, 1, 0, NOW - 50, 1000, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 2, 0, NOW - 40, 1000, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 3, 0, NOW - 30, 1000, NOW), STORE_STORED);
    /* What version 1 wrote: no table of evictions. */
    rewrite_closed(f, "DROP TABLE evicted; DROP TABLE gone;"
                      " DROP TRIGGER equivs_del; DROP TABLE equivs; PRAGMA user_version = 1;");
    snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_DB_NAME);

    assert_int_equal(store_open(f->dir, &lim, &f->st, f->err, sizeof(f->err)), 0);
    assert_int_equal(store_upgraded_from(f->st), 1); /* the daemon says so in its log */
    assert_int_equal(has1(f, 1, 2, 0), 1);
    assert_int_equal(has1(f, 1, 3, 0), 1);
    make_id(id, 1, 1, 0);
    assert_int_equal(store_is_remembered(f->st, id, NOW, NULL, f->err, sizeof(f->err)), 1);
    assert_int_equal(evicted1(f, 1, NOW), -1); /* not recorded by version 1 */
    assert_int_equal(put1(f, 1, 4, 0, NOW - 20, 1000, NOW), STORE_STORED);
    assert_int_equal(evicted1(f, 1, NOW), 2);
    store_close(f->st);
    f->st = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), STORE_SCHEMA_VERSION);
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    reopen(f, &lim);
    assert_int_equal(store_upgraded_from(f->st), 0);
    assert_int_equal(evicted1(f, 1, NOW), 2);
}

static void
test_lock(void **state)
{
    struct fixture *f = *state;
    struct store *second = NULL;
    char err[ERR_CAP], want[600];

    /* flock() conflicts between two open file descriptions, even in one process. */
    assert_int_equal(store_open(f->dir, NULL, &second, err, sizeof(err)), -EBUSY);
    assert_null(second);
    /* The holder is named by its process id (here this one's). */
    snprintf(want, sizeof(want),
             "data folder %s is in use by another samizdatd (lock %s/lock held, process %ld)",
             f->dir, f->dir, (long)getpid());
    print_message("refused: %s\n", err);
    assert_non_null(strstr(err, want));

    store_close(f->st);
    f->st = NULL;
    assert_int_equal(store_open(f->dir, NULL, &second, err, sizeof(err)), 0);
    f->st = second;
}

struct equiv_collect {
    size_t n;
    uint64_t seq[8];
    uint8_t a[8][SZ_BUNDLE_ID_LEN], b[8][SZ_BUNDLE_ID_LEN];
};

static int
collect_equiv(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t sequence,
              const uint8_t id_a[SZ_BUNDLE_ID_LEN], const uint8_t id_b[SZ_BUNDLE_ID_LEN], void *ctx)
{
    struct equiv_collect *c = ctx;

    (void)publisher;
    assert_true(c->n < 8);
    c->seq[c->n] = sequence;
    memcpy(c->a[c->n], id_a, SZ_BUNDLE_ID_LEN);
    memcpy(c->b[c->n], id_b, SZ_BUNDLE_ID_LEN);
    c->n++;
    return 0;
}

static void
test_equivocation(void **state)
{
    struct fixture *f = *state;
    struct store_item it;
    struct equiv_collect c = {0};
    uint8_t id0[SZ_BUNDLE_ID_LEN], id1[SZ_BUNDLE_ID_LEN], id2[SZ_BUNDLE_ID_LEN];
    int reason = 0;

    assert_int_equal(put1(f, 1, 5, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 6, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 2, 5, 0, NOW, 10, NOW), STORE_STORED); /* other key: fine */

    assert_int_equal(store_equivocations(f->st, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 0);

    make_item(&it, 1, 5, 1, NOW, 10); /* same key and sequence, other id */
    assert_int_equal(store_put(f->st, &it, NOW, f->err, sizeof(f->err)), 0);
    assert_int_equal(it.status, STORE_STORED);
    assert_true(it.equivocates);
    free_items(&it, 1);

    assert_int_equal(store_equivocations(f->st, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 1);
    make_id(id0, 1, 5, 0);
    make_id(id1, 1, 5, 1);
    make_id(id2, 1, 5, 2);
    assert_int_equal(c.seq[0], 5);
    assert_memory_equal(c.a[0], id0, SZ_BUNDLE_ID_LEN);
    assert_memory_equal(c.b[0], id1, SZ_BUNDLE_ID_LEN);

    /* A third is refused and remembered: two are the evidence, more only cost. */
    assert_int_equal(put1(f, 1, 5, 2, NOW, 10, NOW), STORE_EXTRA);
    assert_int_equal(store_has(f->st, id2, f->err, sizeof(f->err)), 0);
    assert_int_equal(store_is_remembered(f->st, id2, NOW, &reason, f->err, sizeof(f->err)), 1);
    assert_int_equal(reason, STORE_REASON_EXTRA);
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_equivocations(f->st, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 1);
    assert_memory_equal(c.a[0], id0, SZ_BUNDLE_ID_LEN);
    assert_memory_equal(c.b[0], id1, SZ_BUNDLE_ID_LEN);
}

/*
 * A store written before the cap of two may hold thousands of bundles for
 * one publisher and sequence (one peer could send them): the equivocations
 * are one pair per sequence, the first two stored, and listing them stays
 * quick (all pairs, sorted, took 20 s and 871 MB of temporary disk at 4000).
 */
static void
test_equivocation_legacy_group(void **state)
{
    struct fixture *f = *state;
    enum { N = 4000 };
    struct equiv_collect c = {0};
    uint8_t id0[SZ_BUNDLE_ID_LEN], id1[SZ_BUNDLE_ID_LEN], pub[SZ_PUBLIC_KEY_LEN];
    char path[512], sql[512];
    sqlite3 *db = NULL;
    double t0;

    assert_int_equal(put1(f, 1, 5, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 5, 1, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 6, 0, NOW, 10, NOW), STORE_STORED);
    store_close(f->st);
    f->st = NULL;
    /* As the store before the cap would have written them. */
    snprintf(path, sizeof path, "%s/store.sqlite", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    make_pub(pub, 1);
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < N; i++) {
        sqlite3_stmt *ins = NULL;
        uint8_t id[SZ_BUNDLE_ID_LEN];
        make_id(id, 1, 5, 0);
        id[SZ_BUNDLE_ID_LEN - 1] ^= 0x80;
        memcpy(id + 8, &i, sizeof i);
        snprintf(sql, sizeof sql,
                 "INSERT INTO bundles(id, publisher, sequence, created, size, received)"
                 " VALUES (?1, ?2, 5, %lld, 0, %lld)",
                 (long long)NOW, (long long)NOW);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &ins, NULL), SQLITE_OK);
        sqlite3_bind_blob(ins, 1, id, SZ_BUNDLE_ID_LEN, SQLITE_TRANSIENT);
        sqlite3_bind_blob(ins, 2, pub, SZ_PUBLIC_KEY_LEN, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_finalize(ins);
    }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    /* A store from before the cap is of version 3 at most: opening it fills equivs. */
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER equivs_del; DROP TABLE equivs;"
                                  " PRAGMA user_version = 3;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(f->dir, NULL, &f->st, f->err, sizeof(f->err)), 0);
    assert_int_equal(store_upgraded_from(f->st), 3);

    t0 = now_ms();
    assert_int_equal(store_equivocations(f->st, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    printf("equivocations of %d bundles with one sequence: %.1f ms\n", N + 2, now_ms() - t0);
    assert_true(now_ms() - t0 < 2000);
    assert_int_equal(c.n, 1);
    make_id(id0, 1, 5, 0);
    make_id(id1, 1, 5, 1);
    assert_true(c.seq[0] == 5);
    assert_memory_equal(c.a[0], id0, SZ_BUNDLE_ID_LEN);
    assert_memory_equal(c.b[0], id1, SZ_BUNDLE_ID_LEN);
    memset(&c, 0, sizeof(c));
    assert_int_equal(
        store_equivocations_of(f->st, pub, 5, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    assert_true(c.n >= 1 && c.n <= 4);
    /* And a new one for that sequence is refused. */
    assert_int_equal(put1(f, 1, 5, 7, NOW, 10, NOW), STORE_EXTRA);
}

/*
 * A version 3 store found equivocations by scanning every bundle; version 4
 * keeps the pairs in a table. The upgrade fills it from the bundles held, and
 * the pairs come and go with the bundles from then on.
 */
static void
test_schema_upgrade_equivs(void **state)
{
    struct fixture *f = *state;
    struct equiv_collect c = {0};
    uint8_t id0[SZ_BUNDLE_ID_LEN], id1[SZ_BUNDLE_ID_LEN];

    assert_int_equal(put1(f, 1, 5, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 5, 1, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 6, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 2, 7, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 2, 7, 1, NOW, 10, NOW), STORE_STORED);
    rewrite_closed(f, "DROP TRIGGER equivs_del; DROP TABLE equivs; PRAGMA user_version = 3;");

    assert_int_equal(store_open(f->dir, NULL, &f->st, f->err, sizeof(f->err)), 0);
    assert_int_equal(store_upgraded_from(f->st), 3);
    assert_int_equal(store_equivocations(f->st, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 2);
    make_id(id0, 1, 5, 0);
    make_id(id1, 1, 5, 1);
    assert_int_equal(c.seq[0], 5);
    assert_memory_equal(c.a[0], id0, SZ_BUNDLE_ID_LEN);
    assert_memory_equal(c.b[0], id1, SZ_BUNDLE_ID_LEN);
    assert_int_equal(c.seq[1], 7);

    /* Deleting one of a pair ends it; storing another starts it again. */
    assert_int_equal(store_delete(f->st, id0, false, NOW, f->err, sizeof(f->err)), 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_equivocations(f->st, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.seq[0], 7);
    assert_int_equal(put1(f, 1, 5, 2, NOW, 10, NOW), STORE_STORED);
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_equivocations(f->st, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 2);
    make_id(id0, 1, 5, 2);
    assert_memory_equal(c.a[0], id1, SZ_BUNDLE_ID_LEN);
    assert_memory_equal(c.b[0], id0, SZ_BUNDLE_ID_LEN);
}

/* The pairs of one publisher and sequence, without the others. */
static void
test_equivocations_of(void **state)
{
    struct fixture *f = *state;
    struct equiv_collect c = {0};
    uint8_t pub1[SZ_PUBLIC_KEY_LEN], id0[SZ_BUNDLE_ID_LEN], id1[SZ_BUNDLE_ID_LEN];

    make_pub(pub1, 1);
    assert_int_equal(put1(f, 1, 5, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 5, 1, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 6, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 1, 6, 1, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 2, 5, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(put1(f, 2, 5, 1, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(
        store_equivocations_of(f->st, pub1, 5, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 1);
    make_id(id0, 1, 5, 0);
    make_id(id1, 1, 5, 1);
    assert_int_equal(c.seq[0], 5);
    assert_memory_equal(c.a[0], id0, SZ_BUNDLE_ID_LEN);
    assert_memory_equal(c.b[0], id1, SZ_BUNDLE_ID_LEN);
    memset(&c, 0, sizeof(c));
    assert_int_equal(
        store_equivocations_of(f->st, pub1, 7, collect_equiv, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(
        store_equivocations_of(f->st, pub1, UINT64_MAX, collect_equiv, &c, f->err, sizeof(f->err)),
        0);
    assert_int_equal(c.n, 0);
}

/* Several bundles deleted in one call: those held go, the totals follow,
 * an id not held is passed over, and nothing is remembered. */
static void
test_delete_batch(void **state)
{
    struct fixture *f = *state;
    uint8_t ids[4][SZ_BUNDLE_ID_LEN];
    uint64_t n = 99, n_bundles = 0, bytes = 0;

    for (uint64_t seq = 1; seq <= 3; seq++)
        assert_int_equal(put1(f, 1, seq, 0, NOW, 100, NOW), STORE_STORED);
    make_id(ids[0], 1, 1, 0);
    make_id(ids[1], 1, 3, 0);
    make_id(ids[2], 1, 9, 0); /* not held */
    make_id(ids[3], 1, 1, 0); /* twice */
    assert_int_equal(store_delete_batch(f->st, (const uint8_t(*)[SZ_BUNDLE_ID_LEN])ids, 4, &n,
                                        f->err, sizeof(f->err)),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(has1(f, 1, 1, 0), 0);
    assert_int_equal(has1(f, 1, 2, 0), 1);
    assert_int_equal(has1(f, 1, 3, 0), 0);
    assert_int_equal(store_totals(f->st, &n_bundles, &bytes, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_bundles, 1);
    assert_int_equal(bytes, 100);
    assert_int_equal(store_is_remembered(f->st, ids[0], NOW, NULL, f->err, sizeof(f->err)), 0);
    /* Deleted, it can be stored again. */
    assert_int_equal(put1(f, 1, 1, 0, NOW, 100, NOW), STORE_STORED);
}

struct range_collect {
    size_t n;
    uint8_t pub[32];
    uint64_t first[32], last[32];
};

static int
collect_range(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t first, uint64_t last, void *ctx)
{
    struct range_collect *c = ctx;

    assert_true(c->n < 32);
    c->pub[c->n] = publisher[0];
    c->first[c->n] = first;
    c->last[c->n] = last;
    c->n++;
    return 0;
}

static void
test_seq_ranges(void **state)
{
    struct fixture *f = *state;
    static const struct {
        size_t n_seqs;
        uint64_t seqs[10];
        uint64_t since;
        size_t n_ranges;
        uint64_t ranges[6][2];
    } cases[] = {
        {6, {1, 2, 3, 5, 7, 8}, 0, 3, {{1, 3}, {5, 5}, {7, 8}}},
        {6, {1, 2, 3, 5, 7, 8}, 2, 3, {{2, 3}, {5, 5}, {7, 8}}},
        {6, {1, 2, 3, 5, 7, 8}, 6, 1, {{7, 8}}},
        {6, {1, 2, 3, 5, 7, 8}, 9, 0, {{0, 0}}},
        {0, {0}, 0, 0, {{0, 0}}},
        {1, {4}, 0, 1, {{4, 4}}},
        {4, {0, 1, 3, 4}, 0, 2, {{0, 1}, {3, 4}}},
        {5, {10, 9, 8, 20, 2}, 0, 3, {{2, 2}, {8, 10}, {20, 20}}},
    };
    uint8_t pub[SZ_PUBLIC_KEY_LEN];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct range_collect c = {0};
        uint8_t p = (uint8_t)(10 + i);

        for (size_t k = 0; k < cases[i].n_seqs; k++)
            put1(f, p, cases[i].seqs[k], 0, NOW, 10, NOW);
        make_pub(pub, p);
        assert_int_equal(
            store_seq_ranges(f->st, pub, cases[i].since, collect_range, &c, f->err, sizeof(f->err)),
            0);
        assert_int_equal(c.n, cases[i].n_ranges);
        for (size_t k = 0; k < c.n; k++) {
            assert_int_equal(c.first[k], cases[i].ranges[k][0]);
            assert_int_equal(c.last[k], cases[i].ranges[k][1]);
        }
    }

    /* Equivocating bundles do not split or repeat a range. */
    {
        struct range_collect c = {0};

        put1(f, 10, 2, 7, NOW, 10, NOW);
        make_pub(pub, 10);
        assert_int_equal(store_seq_ranges(f->st, pub, 0, collect_range, &c, f->err, sizeof(f->err)),
                         0);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.first[0], 1);
        assert_int_equal(c.last[0], 3);
    }

    /* All publishers at once, in key order. */
    {
        struct range_collect c = {0};

        assert_int_equal(
            store_seq_ranges(f->st, NULL, 0, collect_range, &c, f->err, sizeof(f->err)), 0);
        /* Keys 10..17 (one per case) hold 3, 3, 3, 3, 0, 1, 2 and 3 ranges: "since" only
         * filtered the per-publisher queries above. */
        assert_int_equal(c.n, 3 + 3 + 3 + 3 + 0 + 1 + 2 + 3);
        for (size_t k = 1; k < c.n; k++)
            assert_true(c.pub[k - 1] < c.pub[k] ||
                        (c.pub[k - 1] == c.pub[k] && c.last[k - 1] + 1 < c.first[k]));
    }

    /* From one publisher on: its ranges (all sequences) and those of the keys above. */
    {
        struct range_collect c = {0};

        make_pub(pub, 15);
        assert_int_equal(
            store_seq_ranges_from(f->st, pub, collect_range, &c, f->err, sizeof(f->err)), 0);
        assert_int_equal(c.n, 1 + 2 + 3);
        assert_int_equal(c.pub[0], 15);
        assert_int_equal(c.pub[c.n - 1], 17);
        for (size_t k = 1; k < c.n; k++)
            assert_true(c.pub[k - 1] < c.pub[k] ||
                        (c.pub[k - 1] == c.pub[k] && c.last[k - 1] + 1 < c.first[k]));
        memset(pub, 0xff, sizeof pub);
        c.n = 0;
        assert_int_equal(
            store_seq_ranges_from(f->st, pub, collect_range, &c, f->err, sizeof(f->err)), 0);
        assert_int_equal(c.n, 0);
    }
}

struct reenter {
    struct store *st;
    int rc;
    char err[ERR_CAP];
};

static int
reenter_cb(const struct store_usage *u, void *ctx)
{
    struct reenter *r = ctx;
    uint8_t id[SZ_BUNDLE_ID_LEN] = {0};

    (void)u;
    r->rc = store_has(r->st, id, r->err, sizeof(r->err));
    return 1;
}

static void
test_callback_reentry(void **state)
{
    struct fixture *f = *state;
    struct reenter r = {.st = f->st};
    uint8_t id[SZ_BUNDLE_ID_LEN] = {0};

    assert_int_equal(put1(f, 1, 1, 0, NOW, 10, NOW), STORE_STORED);
    assert_int_equal(store_publishers(f->st, reenter_cb, &r, f->err, sizeof(f->err)), 0);
    assert_int_equal(r.rc, -EINVAL);
    assert_non_null(strstr(r.err, "inside a store callback"));
    /* The store works normally afterwards. */
    assert_int_equal(store_has(f->st, id, f->err, sizeof(f->err)), 0);
}

static int
count_usage(const struct store_usage *u, void *ctx)
{
    uint64_t *n = ctx;

    *n += u->n_bundles;
    return 0;
}

/* 100,000 bundles: batch insert rate, then open time and memory after restart. */
static void
test_open_100k(void **state)
{
    struct fixture *f = *state;
    enum { N = 100000, BATCH = 1000, SIZE = 200, N_PUB = 20, N_SINGLE = 100 };
    struct store_item *items = calloc(BATCH, sizeof(*items));
    uint8_t *bytes = malloc(SIZE);
    uint64_t n_bundles, bytes_total, n_pub_bundles = 0;
    struct store_usage u;
    struct collect c = {.stop_after = 10};
    struct range_collect rc = {0};
    uint8_t pub[SZ_PUBLIC_KEY_LEN];
    double t0, t_insert, t_single, t_open, t_query;
    long rss_before, rss_after;

    assert_non_null(items);
    assert_non_null(bytes);
    memset(bytes, 0x5a, SIZE);
    t0 = now_ms();
    for (size_t b = 0; b < N / BATCH; b++) {
        for (size_t i = 0; i < BATCH; i++) {
            size_t k = b * BATCH + i;
            struct store_item *it = &items[i];

            memset(it, 0, sizeof(*it));
            make_id(it->meta.id, (uint8_t)(k % N_PUB), k / N_PUB + 1, 0);
            make_pub(it->meta.publisher, (uint8_t)(k % N_PUB));
            it->meta.sequence = k / N_PUB + 1;
            it->meta.created = NOW - N + (int64_t)k;
            it->meta.size = SIZE;
            it->bytes = bytes;
        }
        assert_int_equal(store_put_batch(f->st, items, BATCH, NOW, f->err, sizeof(f->err)), 0);
    }
    t_insert = now_ms() - t0;

    /* Single puts: one fsync each. */
    t0 = now_ms();
    for (size_t i = 0; i < N_SINGLE; i++)
        assert_int_equal(put1(f, 200, i + 1, 0, NOW, SIZE, NOW), STORE_STORED);
    t_single = now_ms() - t0;

    store_close(f->st);
    f->st = NULL;
    rss_before = rss_kib();
    t0 = now_ms();
    assert_int_equal(store_open(f->dir, NULL, &f->st, f->err, sizeof(f->err)), 0);
    t_open = now_ms() - t0;

    t0 = now_ms();
    assert_int_equal(store_totals(f->st, &n_bundles, &bytes_total, f->err, sizeof(f->err)), 0);
    assert_int_equal(n_bundles, N + N_SINGLE);
    assert_int_equal(bytes_total, (uint64_t)(N + N_SINGLE) * SIZE);
    make_pub(pub, 7);
    assert_int_equal(store_usage(f->st, pub, &u, f->err, sizeof(f->err)), 0);
    assert_int_equal(u.n_bundles, N / N_PUB);
    assert_int_equal(u.max_sequence, N / N_PUB);
    assert_int_equal(store_list(f->st, pub, 4990, collect_meta, &c, f->err, sizeof(f->err)), 0);
    assert_int_equal(c.n, 10);
    assert_int_equal(c.seqs[0], 4990);
    t_query = now_ms() - t0;
    rss_after = rss_kib();

    print_message("100k: batch insert %d bundles of %d bytes in %.0f ms (%.0f bundles/s, "
                  "batches of %d)\n",
                  N, SIZE, t_insert, N / (t_insert / 1e3), BATCH);
    print_message("100k: %d single puts in %.0f ms (%.1f ms each: one fsync per commit)\n",
                  N_SINGLE, t_single, t_single / N_SINGLE);
    print_message("100k: open with %d bundles: %.2f ms\n", N + N_SINGLE, t_open);
    print_message("100k: totals + usage + list after open: %.2f ms\n", t_query);

    t0 = now_ms();
    assert_int_equal(store_publishers(f->st, count_usage, &n_pub_bundles, f->err, sizeof(f->err)),
                     0);
    assert_int_equal(n_pub_bundles, N + N_SINGLE);
    print_message("100k: publishers listing: %.2f ms\n", now_ms() - t0);
    t0 = now_ms();
    assert_int_equal(store_seq_ranges(f->st, pub, 0, collect_range, &rc, f->err, sizeof(f->err)),
                     0);
    assert_int_equal(rc.n, 1);
    print_message("100k: sequence ranges of one publisher (%d bundles): %.2f ms\n", N / N_PUB,
                  now_ms() - t0);
    t0 = now_ms();
    {
        struct equiv_collect ec = {0};

        assert_int_equal(store_equivocations(f->st, collect_equiv, &ec, f->err, sizeof(f->err)), 0);
        assert_int_equal(ec.n, 0);
    }
    print_message("100k: equivocation scan: %.2f ms\n", now_ms() - t0);
    print_message("100k: RSS %ld KiB before open, %ld KiB after open and queries "
                  "(SQLite heap %lld KiB)\n",
                  rss_before, rss_after, (long long)(sqlite3_memory_used() / 1024));
    free(items);
    free(bytes);
}

/* Throughput with realistic bundle sizes: bytes are written to the WAL, then
 * checkpointed into the database. */
static void
test_throughput_large(void **state)
{
    struct fixture *f = *state;
    enum { N = 1024, BATCH = 64, SIZE = 64 * 1024 };
    struct store_item items[BATCH];
    uint8_t *bytes = malloc(SIZE);
    uint8_t id[SZ_BUNDLE_ID_LEN], *out = NULL;
    size_t out_len;
    double t0, t;

    assert_non_null(bytes);
    for (size_t i = 0; i < SIZE; i++)
        bytes[i] = (uint8_t)(i * 2654435761u >> 13);
    t0 = now_ms();
    for (size_t b = 0; b < N / BATCH; b++) {
        for (size_t i = 0; i < BATCH; i++) {
            memset(&items[i], 0, sizeof(items[i]));
            make_id(items[i].meta.id, 1, b * BATCH + i + 1, 0);
            make_pub(items[i].meta.publisher, 1);
            items[i].meta.sequence = b * BATCH + i + 1;
            items[i].meta.created = NOW;
            items[i].meta.size = SIZE;
            items[i].bytes = bytes;
        }
        assert_int_equal(store_put_batch(f->st, items, BATCH, NOW, f->err, sizeof(f->err)), 0);
    }
    t = now_ms() - t0;
    print_message("large: %d bundles of %d KiB in batches of %d: %.0f ms (%.1f MiB/s, %.0f "
                  "bundles/s)\n",
                  N, SIZE / 1024, BATCH, t, (double)N * SIZE / (1 << 20) / (t / 1e3),
                  N / (t / 1e3));
    t0 = now_ms();
    for (size_t i = 0; i < N; i += 8) {
        make_id(id, 1, i + 1, 0);
        assert_int_equal(store_get(f->st, id, &out, &out_len, f->err, sizeof(f->err)), 0);
        assert_int_equal(out_len, SIZE);
        assert_memory_equal(out, bytes, SIZE);
        free(out);
    }
    t = now_ms() - t0;
    print_message("large: %d store_get of %d KiB: %.0f ms (%.1f MiB/s)\n", N / 8, SIZE / 1024, t,
                  (double)(N / 8) * SIZE / (1 << 20) / (t / 1e3));
    free(bytes);
}

/*
 * Crash safety: a child stores batches and reports each batch's ids over a pipe
 * only after store_put_batch() returned 0; the parent kills it with SIGKILL at a
 * random moment, then checks that every reported id is in the reopened store.
 */
enum { CRASH_BATCH = 8 };

static void
crash_child(const char *dir, int fd, uint32_t round)
{
    struct store *st = NULL;
    struct store_item items[CRASH_BATCH];
    uint8_t buf[CRASH_BATCH * SZ_BUNDLE_ID_LEN];
    uint8_t *bytes = malloc(64 * 1024);
    char err[ERR_CAP];

    if (bytes == NULL || store_open(dir, NULL, &st, err, sizeof(err)) != 0)
        _exit(2);
    memset(bytes, (int)round, 64 * 1024);
    for (uint32_t b = 0;; b++) {
        for (size_t i = 0; i < CRASH_BATCH; i++) {
            uint64_t seq = (uint64_t)b * CRASH_BATCH + i + 1;

            memset(&items[i], 0, sizeof(items[i]));
            /* A publisher per round: rounds reuse sequences, and a third
             * bundle for one publisher and sequence is refused. */
            make_id(items[i].meta.id, (uint8_t)round, seq, round);
            make_pub(items[i].meta.publisher, (uint8_t)round);
            items[i].meta.sequence = seq;
            items[i].meta.created = NOW + (int64_t)b;
            items[i].meta.size = 100 + (seq * 7919) % (60 * 1024);
            items[i].bytes = bytes;
        }
        if (store_put_batch(st, items, CRASH_BATCH, NOW, err, sizeof(err)) != 0)
            _exit(3);
        for (size_t i = 0; i < CRASH_BATCH; i++)
            memcpy(buf + i * SZ_BUNDLE_ID_LEN, items[i].meta.id, SZ_BUNDLE_ID_LEN);
        /* One write of at most PIPE_BUF bytes is atomic. */
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
            _exit(4);
    }
}

static void
test_crash_kill9(void **state)
{
    struct fixture *f = *state;
    enum { ROUNDS = 20, MAX_IDS = 4096 };
    uint8_t(*ids)[SZ_BUNDLE_ID_LEN] = malloc((size_t)MAX_IDS * SZ_BUNDLE_ID_LEN);
    size_t n_ids = 0, n_total_ids = 0;
    uint32_t rnd = 12345;
    double t0 = now_ms();

    assert_non_null(ids);
    store_close(f->st);
    f->st = NULL;
    for (uint32_t round = 1; round <= ROUNDS; round++) {
        uint8_t buf[CRASH_BATCH * SZ_BUNDLE_ID_LEN];
        size_t want_batches, got = 0;
        int fds[2], status;
        ssize_t r;
        pid_t pid;

        rnd = rnd * 1103515245u + 12345u;
        want_batches = 1 + (rnd >> 16) % 12;
        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(f->dir, fds[1], round);
        }
        close(fds[1]);
        /* Let the child commit some batches, then kill it mid-work. */
        n_ids = 0;
        while (got < want_batches && (r = read(fds[0], buf, sizeof(buf))) > 0) {
            assert_int_equal(r % SZ_BUNDLE_ID_LEN, 0);
            assert_true(n_ids + (size_t)r / SZ_BUNDLE_ID_LEN <= MAX_IDS);
            memcpy(ids[n_ids], buf, (size_t)r);
            n_ids += (size_t)r / SZ_BUNDLE_ID_LEN;
            got = n_ids / CRASH_BATCH;
        }
        if ((rnd >> 8) & 1)
            usleep((rnd >> 4) % 3000); /* vary the moment of the kill */
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* Ids reported before the kill are still in the pipe. */
        while ((r = read(fds[0], buf, sizeof(buf))) > 0) {
            assert_int_equal(r % SZ_BUNDLE_ID_LEN, 0);
            assert_true(n_ids + (size_t)r / SZ_BUNDLE_ID_LEN <= MAX_IDS);
            memcpy(ids[n_ids], buf, (size_t)r);
            n_ids += (size_t)r / SZ_BUNDLE_ID_LEN;
        }
        close(fds[0]);

        assert_int_equal(store_open(f->dir, NULL, &f->st, f->err, sizeof(f->err)), 0);
        for (size_t i = 0; i < n_ids; i++)
            assert_int_equal(store_has(f->st, ids[i], f->err, sizeof(f->err)), 1);
        n_total_ids += n_ids;
        store_close(f->st);
        f->st = NULL;
    }

    /* The database is consistent: integrity check and totals match the rows. */
    {
        char path[512];
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;

        snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_DB_NAME);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
        sqlite3_finalize(s);
        assert_int_equal(
            sqlite3_prepare_v2(db,
                               "SELECT (SELECT count(*) FROM bundles) = n_bundles AND"
                               " (SELECT coalesce(sum(size), 0) FROM bundles) = bytes AND"
                               " (SELECT count(*) FROM bundle_bytes) = n_bundles"
                               " FROM totals",
                               -1, &s, NULL),
            SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(s, 0), 1);
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
    print_message("kill -9: %d rounds, %zu acknowledged ids all present, %.0f ms\n", ROUNDS,
                  n_total_ids, now_ms() - t0);
    assert_int_equal(store_open(f->dir, NULL, &f->st, f->err, sizeof(f->err)), 0);
    free(ids);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_has, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_syncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quotas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evict_in_batch_and_lowered_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evicted_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evicted_seq_backdated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_own_publisher_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_future_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remembered_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remember, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_upgrade_equivs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equivocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equivocations_of, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equivocation_legacy_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_reentry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_100k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throughput_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_kill9, setup, teardown),
    };

    /* A killed child must not take the test down through a broken pipe. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
