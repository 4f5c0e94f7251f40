/*
 * Tests of the offline library (client/library.c, render.c, render_sanitize.c):
 * layout, byte-identical bodies and attachments, ordering, idempotence,
 * sequence rules, refusal of planted symbolic links, escaping, CSP on every
 * page, raw HTML in Markdown shown as markup through the sanitizer exactly as
 * in an HTML body (table-driven), the HTML sanitizer (table-driven), a
 * damaged index, the freshness and equivocation warnings of index.html
 * (library_note_fetch(), a damaged publishers.idx), and batches that fail or
 * whose writer dies before library.idx records them (corrections included).
 *
 * `test_library --make-demo DIR` instead writes a small demo library to DIR
 * (used by tests/browser/no_network_test.sh) and exits.
 */
/* nftw() is an XSI function. */
#define _XOPEN_SOURCE 700

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "library.h"
#include "render.h"
#include "render_sanitize.h"

#define T0 1724925600 /* 2024-08-29T10:00:00Z */
#define CSP_META "<meta http-equiv=\"Content-Security-Policy\" content=\"" RENDER_CSP "\">"

/* A 240x140 checkerboard PNG (565 bytes). */
static const uint8_t test_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0xf0, 0x00, 0x00, 0x00, 0x8c, 0x08, 0x02, 0x00, 0x00, 0x00, 0xcd, 0xd7, 0xb3,
    0x7f, 0x00, 0x00, 0x01, 0xfc, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0xed, 0xdb, 0xb1, 0x0d, 0x00,
    0x10, 0x14, 0x45, 0x51, 0x93, 0xa8, 0x0d, 0x61, 0xff, 0x18, 0xc2, 0x24, 0x2a, 0x13, 0x68, 0x24,
    0x1a, 0xef, 0x24, 0xfa, 0x93, 0xbc, 0x7f, 0x5b, 0x65, 0xd4, 0x76, 0xfd, 0xd6, 0xec, 0xd7, 0x8f,
    0xcb, 0x7d, 0xe1, 0x16, 0x43, 0x73, 0x05, 0x6d, 0x68, 0xae, 0xa0, 0x1d, 0x98, 0x2b, 0x68, 0x2e,
    0x57, 0xd0, 0x5c, 0x41, 0x1b, 0x9a, 0x2b, 0x68, 0x43, 0x73, 0x05, 0xed, 0xc0, 0x5c, 0x41, 0x73,
    0xb9, 0x82, 0xe6, 0x0a, 0xda, 0xd0, 0x5c, 0x41, 0x1b, 0x9a, 0x2b, 0x68, 0x2e, 0x57, 0xd0, 0x5c,
    0xae, 0xa0, 0xb9, 0x82, 0x36, 0x34, 0x57, 0xd0, 0x86, 0xe6, 0x0a, 0x9a, 0xcb, 0x15, 0x34, 0x97,
    0x7b, 0x0c, 0xda, 0x58, 0xdc, 0x9f, 0x5c, 0x41, 0x73, 0x05, 0x6d, 0x68, 0xae, 0xa0, 0x1d, 0x98,
    0x2b, 0x68, 0x2e, 0x57, 0xd0, 0x5c, 0x41, 0x1b, 0x9a, 0x2b, 0x68, 0x43, 0x73, 0x05, 0xed, 0xc0,
    0x5c, 0x41, 0x73, 0xb9, 0x82, 0xe6, 0x0a, 0xda, 0xd0, 0x5c, 0x41, 0x1b, 0x9a, 0x2b, 0x68, 0x07,
    0xe6, 0x0a, 0x9a, 0xcb, 0x15, 0x34, 0x57, 0xd0, 0x86, 0xe6, 0x0a, 0xda, 0xd0, 0x5c, 0x41, 0x73,
    0xb9, 0x82, 0xe6, 0x72, 0xcf, 0x41, 0x1b, 0x8b, 0xeb, 0xd7, 0xb7, 0xa1, 0xb9, 0x82, 0x76, 0x60,
    0xae, 0xa0, 0xb9, 0x5c, 0x41, 0x73, 0x05, 0x6d, 0x68, 0xae, 0xa0, 0x0d, 0xcd, 0x15, 0xb4, 0x03,
    0x73, 0x05, 0xcd, 0xe5, 0x0a, 0x9a, 0x2b, 0x68, 0x43, 0x73, 0x05, 0x6d, 0x68, 0xae, 0xa0, 0xb9,
    0x5c, 0x41, 0x73, 0xb9, 0x82, 0xe6, 0x0a, 0xda, 0xd0, 0x5c, 0x41, 0x1b, 0x9a, 0x2b, 0x68, 0x2e,
    0x57, 0xd0, 0x5c, 0xae, 0xa0, 0xb9, 0x19, 0x41, 0x1b, 0x8b, 0xeb, 0xd7, 0xb7, 0xa1, 0xb9, 0x82,
    0x76, 0x60, 0xae, 0xa0, 0xb9, 0x5c, 0x41, 0x73, 0x05, 0x6d, 0x68, 0xae, 0xa0, 0x0d, 0xcd, 0x15,
    0xb4, 0x03, 0x73, 0x05, 0xcd, 0xe5, 0x0a, 0x9a, 0x2b, 0x68, 0x43, 0x73, 0x05, 0x6d, 0x68, 0xae,
    0xa0, 0xb9, 0x5c, 0x41, 0x73, 0xb9, 0x82, 0xe6, 0x0a, 0xda, 0xd0, 0x5c, 0x41, 0x1b, 0x9a, 0x2b,
    0x68, 0x2e, 0x57, 0xd0, 0x5c, 0xae, 0xa0, 0xb9, 0x19, 0x41, 0x1b, 0x8b, 0xeb, 0xd7, 0xb7, 0xa1,
    0xb9, 0x82, 0x76, 0x60, 0xae, 0xa0, 0xb9, 0x5c, 0x41, 0x73, 0x05, 0x6d, 0x68, 0xae, 0xa0, 0x0d,
    0xcd, 0x15, 0xb4, 0x03, 0x73, 0x05, 0xcd, 0xe5, 0x0a, 0x9a, 0x2b, 0x68, 0x43, 0x73, 0x05, 0x6d,
    0x68, 0xae, 0xa0, 0xb9, 0x5c, 0x41, 0x73, 0xb9, 0x82, 0xe6, 0x0a, 0xda, 0xd0, 0x5c, 0x41, 0x1b,
    0x9a, 0x2b, 0x68, 0x2e, 0x57, 0xd0, 0x5c, 0xae, 0xa0, 0xb9, 0x19, 0x41, 0x1b, 0x8b, 0xeb, 0xd7,
    0xb7, 0xa1, 0xb9, 0x82, 0x76, 0x60, 0xae, 0xa0, 0xb9, 0x5c, 0x41, 0x73, 0x05, 0x6d, 0x68, 0xae,
    0xa0, 0x0d, 0xcd, 0x15, 0xb4, 0x03, 0x73, 0x05, 0xcd, 0xe5, 0x0a, 0x9a, 0x2b, 0x68, 0x43, 0x73,
    0x05, 0x6d, 0x68, 0xae, 0xa0, 0xb9, 0x5c, 0x41, 0x73, 0xb9, 0x82, 0xe6, 0x0a, 0xda, 0xd0, 0x5c,
    0x41, 0x1b, 0x9a, 0x2b, 0x68, 0x2e, 0x57, 0xd0, 0x5c, 0xae, 0xa0, 0xb9, 0x19, 0x41, 0x1b, 0x8b,
    0xeb, 0xd7, 0xb7, 0xa1, 0xb9, 0x82, 0x76, 0x60, 0xae, 0xa0, 0xb9, 0x5c, 0x41, 0x73, 0x05, 0x6d,
    0x68, 0xae, 0xa0, 0x0d, 0xcd, 0x15, 0xb4, 0x03, 0x73, 0x05, 0xcd, 0xe5, 0x0a, 0x9a, 0x2b, 0x68,
    0x43, 0x73, 0x05, 0x6d, 0x68, 0xae, 0xa0, 0xb9, 0x5c, 0x41, 0x73, 0xb9, 0x82, 0xe6, 0x0a, 0xda,
    0xd0, 0x5c, 0x41, 0x1b, 0x9a, 0x2b, 0x68, 0x2e, 0x57, 0xd0, 0x5c, 0xae, 0xa0, 0xb9, 0x11, 0xee,
    0x06, 0x13, 0xf8, 0x20, 0x04, 0x7a, 0x49, 0xd2, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
};

/* ---- helpers ---- */

struct key {
    uint8_t pk[SZ_PUBLIC_KEY_LEN];
    uint8_t sk[SZ_SECRET_KEY_LEN];
};

struct made {
    uint8_t *raw;
    size_t raw_len;
    struct sz_bundle *b;
};

static struct key
new_key(void)
{
    struct key k = {0};
    assert_int_equal(sz_keypair(k.pk, k.sk), 0);
    return k;
}

static struct sz_str
S(const char *s) {
    return (struct sz_str){s, s == NULL ? 0 : strlen(s)};
}

static struct sz_article
art(const char *id, const char *title, int64_t published, enum sz_ctype ctype, const char *body)
{
    struct sz_article a;
    memset(&a, 0, sizeof a);
    a.id = S(id);
    a.title = S(title);
    a.published = published;
    a.ctype = ctype;
    a.body = (const uint8_t *)body;
    a.body_len = strlen(body);
    return a;
}

static struct made
make_bundle(const struct key *k, uint64_t seq, int64_t created, const struct sz_article *arts,
            size_t n)
{
    struct made m = {0};
    uint8_t *content = NULL, id[SZ_BUNDLE_ID_LEN];
    size_t content_len = 0;
    struct sz_seal_params p = {
        .secret_key = k->sk, .sequence = seq, .created = created, .level = 3};
    assert_int_equal(sz_container_encode(arts, n, &content, &content_len), 0);
    assert_int_equal(sz_bundle_seal(&p, content, content_len, &m.raw, &m.raw_len, id), 0);
    free(content);
    assert_int_equal(sz_bundle_open(m.raw, m.raw_len, 0, &m.b), 0);
    return m;
}

static void
made_free(struct made *m)
{
    sz_bundle_free(m->b);
    free(m->raw);
    memset(m, 0, sizeof *m);
}

static int
add(const char *dir, const struct made *ms, size_t n, const struct library_publisher *pubs,
    size_t n_pubs, struct library_result *res, char *err, size_t err_cap)
{
    struct library_item items[8];
    assert_true(n <= 8);
    for (size_t k = 0; k < n; k++)
        items[k] = (struct library_item){ms[k].b, ms[k].raw, ms[k].raw_len};
    return library_add(dir, items, n, pubs, n_pubs, res, err, err_cap);
}

static void
add_ok(const char *dir, const struct made *ms, size_t n, struct library_result *res)
{
    char err[512];
    struct library_result r;
    int rc = add(dir, ms, n, NULL, 0, &r, err, sizeof err);
    if (rc != 0)
        print_error("library_add: %s\n", err);
    assert_int_equal(rc, 0);
    if (res != NULL)
        *res = r;
}

/* A fresh folder; on tmpfs when there is one, as the damaged-index test rewrites a
 * file thousands of times (ext4 flushes a truncated file on every close). */
static char *
tmp_dir(void)
{
    char tmpl[64];
    struct stat st;
    bool shm = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0;
    snprintf(tmpl, sizeof tmpl, "%s/sz-test-library-XXXXXX", shm ? "/dev/shm" : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char *out = strdup(d);
    assert_non_null(out);
    return out;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void
rm_rf(char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* Reads a file (NUL-terminated for convenience); NULL when missing. */
static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    for (;;) {
        if (n == cap) {
            char *nb;
            cap *= 2;
            nb = realloc(buf, cap + 1);
            assert_non_null(nb);
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static char *
path_of(const char *fmt, ...)
{
    char *p = malloc(4096);
    assert_non_null(p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, 4096, fmt, ap);
    va_end(ap);
    return p;
}

static char *
read_at(const char *dir, const char *rel)
{
    char *p = path_of("%s/%s", dir, rel);
    char *s = slurp(p, NULL);
    free(p);
    return s;
}

static void
assert_file_bytes(const char *path, const void *data, size_t len)
{
    size_t n;
    char *s = slurp(path, &n);
    if (s == NULL)
        fail_msg("missing file %s", path);
    assert_int_equal(n, len);
    assert_memory_equal(s, data, len);
    free(s);
}

static bool
exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void
pub_hex(const struct key *k, char hex[2 * SZ_PUBLIC_KEY_LEN + 1])
{
    sz_hex(k->pk, SZ_PUBLIC_KEY_LEN, hex);
}

static char *
page_of(const char *dir, const struct key *k, const char *id)
{
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(k, hex);
    char *p = path_of("%s/%s/%s/index.html", dir, hex, id);
    char *s = slurp(p, NULL);
    if (s == NULL)
        fail_msg("missing page %s", p);
    free(p);
    return s;
}

/* ---- a snapshot of every file: path, inode, mtime, size ---- */

struct snap_entry {
    char path[512];
    ino_t ino;
    struct timespec mtime;
    off_t size;
};

static struct snap_entry snap_buf[256];
static size_t snap_n;

static int
snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    assert_true(snap_n < 256);
    struct snap_entry *e = &snap_buf[snap_n++];
    snprintf(e->path, sizeof e->path, "%s", path);
    e->ino = st->st_ino;
    e->mtime = st->st_mtim;
    e->size = st->st_size;
    return 0;
}

static size_t
snapshot(const char *dir, struct snap_entry *out)
{
    snap_n = 0;
    nftw(dir, snap_one, 16, FTW_PHYS);
    memcpy(out, snap_buf, snap_n * sizeof *out);
    return snap_n;
}

/* ---- fixtures ---- */

struct world {
    char *dir;
    struct key k;
};

static int
setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->dir = tmp_dir();
    w->k = new_key();
    *state = w;
    return 0;
}

static int
teardown(void **state)
{
    struct world *w = *state;
    rm_rf(w->dir);
    free(w);
    return 0;
}

/* How many times needle occurs in s. */
static size_t
count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- tests ---- */

static const char md_body[] = "Putin will visit **Mongolia** next week.\n\n![map](map.png)\n";
static const char html_body[] = "<p>An <em>HTML</em> article.</p>";
static const char txt_body[] = "Путин посетит Монголию.\n\nВторой абзац & <не тег>.";
static const char cyr_title[] = "Путин посетит Монголию";

static struct made
three_articles(const struct key *k, uint64_t seq)
{
    struct sz_article a[3];
    struct sz_attachment att = {S("map.png"), S("image/png"), test_png, sizeof test_png};
    static struct sz_str authors[] = {{"The Moscow Times", 16}, {"Jane Roe", 8}};
    a[0] = art("putin-mongolia", "Putin to Visit ICC Signatory Mongolia", T0, SZ_CTYPE_MARKDOWN,
               md_body);
    a[0].url = S("https://www.themoscowtimes.com/2024/08/29/putin-to-visit-a86194");
    a[0].authors = authors;
    a[0].n_authors = 2;
    a[0].lang = S("en");
    a[0].summary = S("The Kremlin confirmed the visit.");
    a[0].atts = &att;
    a[0].n_atts = 1;
    a[1] = art("html-one", "An HTML article", T0 - 3600, SZ_CTYPE_HTML, html_body);
    a[2] = art("ru-text", cyr_title, T0 + 3600, SZ_CTYPE_PLAIN, txt_body);
    a[2].lang = S("ru");
    return make_bundle(k, seq, T0 + 7200, a, 3);
}

static void
test_layout(void **state)
{
    struct world *w = *state;
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], id_hex[2 * SZ_BUNDLE_ID_LEN + 1];
    struct made m = three_articles(&w->k, 1);
    struct library_result r;
    add_ok(w->dir, &m, 1, &r);
    assert_int_equal(r.bundles_added, 1);
    assert_int_equal(r.bundles_present, 0);
    assert_int_equal(r.articles_written, 3);
    assert_int_equal(r.equivocations, 0);

    pub_hex(&w->k, hex);
    sz_bundle_id_hex(m.b->id, id_hex);
    char *p;
    assert_true(exists(p = path_of("%s/index.html", w->dir)));
    free(p);
    assert_file_bytes(p = path_of("%s/%s/putin-mongolia/body.md", w->dir, hex), md_body,
                      sizeof md_body - 1);
    free(p);
    assert_file_bytes(p = path_of("%s/%s/putin-mongolia/map.png", w->dir, hex), test_png,
                      sizeof test_png);
    free(p);
    /* Shown as text when opened: as HTML it could load remote files. */
    assert_file_bytes(p = path_of("%s/%s/html-one/body.html.txt", w->dir, hex), html_body,
                      sizeof html_body - 1);
    free(p);
    assert_file_bytes(p = path_of("%s/%s/ru-text/body.txt", w->dir, hex), txt_body,
                      sizeof txt_body - 1);
    free(p);
    assert_file_bytes(p = path_of("%s/.samizdat/bundles/%s.bundle", w->dir, id_hex), m.raw,
                      m.raw_len);
    free(p);
    for (const char *const *id =
             (const char *const[]){"putin-mongolia", "html-one", "ru-text", NULL};
         *id != NULL; id++) {
        char *page = page_of(w->dir, &w->k, *id);
        assert_non_null(strstr(page, "<a href=\"../../index.html\">"));
        free(page);
    }

    /* The Markdown page shows the image from the body, links body and attachment. */
    char *page = page_of(w->dir, &w->k, "putin-mongolia");
    assert_non_null(strstr(page, "<img src=\"map.png\" alt=\"map\">"));
    assert_non_null(strstr(page, "<strong>Mongolia</strong>"));
    assert_non_null(strstr(page, "href=\"body.md\""));
    assert_non_null(strstr(page, "href=\"map.png\""));
    assert_non_null(strstr(page, "<html lang=\"en\">"));
    /* Shown the same in every language; the machine-readable time beside it. */
    assert_non_null(
        strstr(page, "<time datetime=\"2024-08-29T10:00:00Z\">2024-08-29 10:00 UTC</time>"));
    /* Each author isolated: right-to-left text or marks in a name stay inside it. */
    assert_non_null(strstr(page, "<bdi>The Moscow Times</bdi> and <bdi>Jane Roe</bdi>"));
    {
        char *index = slurp(p = path_of("%s/index.html", w->dir), NULL);
        free(p);
        assert_non_null(index);
        assert_non_null(strstr(index, " by <bdi>The Moscow Times</bdi> and <bdi>Jane Roe</bdi>"));
        free(index);
    }
    assert_non_null(
        strstr(page, "<a href=\"https://www.themoscowtimes.com/2024/08/29/putin-to-visit-a86194\""
                     " rel=\"noreferrer noopener\">"));
    free(page);
    made_free(&m);
}

static void
test_index_newest_first(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 1);
    struct library_publisher pub;
    memcpy(pub.pk, w->k.pk, sizeof pub.pk);
    pub.name = "Test Newsroom";
    char err[512];
    assert_int_equal(add(w->dir, &m, 1, &pub, 1, NULL, err, sizeof err), 0);
    char *idx = read_at(w->dir, "index.html");
    assert_non_null(idx);
    char *ru = strstr(idx, cyr_title);
    char *en = strstr(idx, "Putin to Visit ICC Signatory Mongolia");
    char *html = strstr(idx, "An HTML article");
    assert_non_null(ru);
    assert_non_null(en);
    assert_non_null(html);
    assert_true(ru < en && en < html);
    assert_non_null(strstr(idx, "<h2>Test Newsroom</h2>"));
    assert_non_null(strstr(idx, "Newest article: <time datetime=\"2024-08-29T11:00:00Z\">"));
    assert_non_null(strstr(idx, "The Kremlin confirmed the visit."));
    assert_non_null(strstr(idx, "<li lang=\"ru\">"));
    /* The index's own words beside a Russian title are marked English. */
    char *ru_meta = strstr(strstr(idx, "<li lang=\"ru\">"), "<p class=\"meta\"");
    assert_non_null(ru_meta);
    assert_true(strncmp(ru_meta, "<p class=\"meta\" lang=\"en\">", 26) == 0);
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(&w->k, hex);
    char *link = path_of("<a href=\"%s/putin-mongolia/index.html\">", hex);
    assert_non_null(strstr(idx, link));
    free(link);
    free(idx);
    made_free(&m);
}

static void
test_key_text_without_name(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 1);
    add_ok(w->dir, &m, 1, NULL);
    char text[SZ_PK_TEXT_LEN + 1];
    sz_pk_to_text(w->k.pk, text);
    char *idx = read_at(w->dir, "index.html");
    assert_non_null(strstr(idx, text));
    free(idx);
    made_free(&m);
}

/*
 * A bundle added again brings back the files of its articles the reader
 * deleted or changed (before, it was "already present" and they stayed
 * lost); whole ones are not written again.
 */
static void
test_present_bundle_repairs(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 1);
    struct library_result r;
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];

    pub_hex(&w->k, hex);
    /* A bundle given twice in one batch is written once: its copy finds
     * nothing to repair (its files were not written yet when it was seen). */
    struct made twice[2] = {m, m};
    add_ok(w->dir, twice, 2, &r);
    assert_int_equal(r.bundles_added, 1);
    assert_int_equal(r.bundles_present, 1);
    assert_int_equal(r.articles_written, 3);
    assert_int_equal(r.articles_repaired, 0);
    add_ok(w->dir, &m, 1, &r);
    char *page = path_of("%s/%s/putin-mongolia/index.html", w->dir, hex);
    char *body = path_of("%s/%s/html-one/body.html.txt", w->dir, hex);
    assert_int_equal(unlink(page), 0);
    FILE *f = fopen(body, "wb");
    assert_non_null(f);
    fputs("<p>edited</p>", f);
    fclose(f);
    add_ok(w->dir, &m, 1, &r);
    assert_int_equal(r.bundles_present, 1);
    assert_int_equal(r.articles_repaired, 2);
    assert_int_equal(r.articles_written, 2);
    struct stat st;
    assert_int_equal(stat(page, &st), 0);
    assert_true(st.st_size > 0);
    assert_file_bytes(body, html_body, sizeof html_body - 1);
    free(page);
    free(body);
    /* Whole now: nothing to write. */
    add_ok(w->dir, &m, 1, &r);
    assert_int_equal(r.articles_repaired, 0);
    assert_int_equal(r.articles_written, 0);
    made_free(&m);
}

static void
test_same_bundle_twice(void **state)
{
    struct world *w = *state;
    static struct snap_entry before[256], after[256];
    struct made m = three_articles(&w->k, 1);
    struct library_result r;
    add_ok(w->dir, &m, 1, &r);
    size_t nb = snapshot(w->dir, before);
    assert_true(nb >= 9);
    sleep(1); /* so that a rewrite would show in the mtime even on coarse file systems */
    add_ok(w->dir, &m, 1, &r);
    assert_int_equal(r.bundles_added, 0);
    assert_int_equal(r.bundles_present, 1);
    assert_int_equal(r.articles_written, 0);
    size_t na = snapshot(w->dir, after);
    assert_int_equal(na, nb);
    for (size_t k = 0; k < nb; k++) {
        assert_string_equal(before[k].path, after[k].path);
        assert_int_equal(before[k].ino, after[k].ino);
        assert_int_equal(before[k].size, after[k].size);
        assert_int_equal(before[k].mtime.tv_sec, after[k].mtime.tv_sec);
        assert_int_equal(before[k].mtime.tv_nsec, after[k].mtime.tv_nsec);
    }
    /* Twice in one call: the second copy is "present". */
    struct made two[2] = {m, m};
    add_ok(w->dir, two, 2, &r);
    assert_int_equal(r.bundles_present, 2);

    /* A missing index.html is written again, even when nothing is new. */
    char *p = path_of("%s/index.html", w->dir);
    assert_int_equal(unlink(p), 0);
    add_ok(w->dir, &m, 1, &r);
    assert_true(exists(p));
    free(p);
    made_free(&m);
}

static void
test_sequence_rules(void **state)
{
    struct world *w = *state;
    struct sz_attachment att = {S("old.png"), S("image/png"), test_png, sizeof test_png};
    struct sz_article a2 = art("story", "Version two", T0, SZ_CTYPE_MARKDOWN, "two");
    a2.atts = &att;
    a2.n_atts = 1;
    struct made m2 = make_bundle(&w->k, 2, T0, &a2, 1);
    struct sz_article a1[2] = {art("other", "Only in one", T0 - 10, SZ_CTYPE_PLAIN, "x"),
                               art("story", "Version one", T0, SZ_CTYPE_MARKDOWN, "one")};
    struct made m1 = make_bundle(&w->k, 1, T0 - 100, a1, 2);
    struct sz_article a3 = art("story", "Version three", T0, SZ_CTYPE_HTML, "<p>three</p>");
    struct made m3 = make_bundle(&w->k, 3, T0 + 100, &a3, 1);
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(&w->k, hex);
    struct library_result r;

    add_ok(w->dir, &m2, 1, &r);
    add_ok(w->dir, &m1, 1, &r); /* older: adds "other", keeps "story" v2 */
    assert_int_equal(r.bundles_added, 1);
    assert_int_equal(r.articles_written, 1);
    char *page = page_of(w->dir, &w->k, "story");
    assert_non_null(strstr(page, "Version two"));
    free(page);
    char *body = read_at(w->dir, "");
    free(body);
    char *p = path_of("%s/%s/story/body.md", w->dir, hex);
    assert_file_bytes(p, "two", 3);
    free(p);
    page = page_of(w->dir, &w->k, "other");
    assert_non_null(strstr(page, "Only in one"));
    free(page);

    uint64_t seq = 0;
    int64_t created = 0;
    char err[512];
    assert_int_equal(library_publisher_state(w->dir, w->k.pk, &seq, &created, err, sizeof err), 1);
    assert_int_equal(seq, 2);
    assert_int_equal(created, T0);

    add_ok(w->dir, &m3, 1, &r); /* newer: replaces "story", drops its old files */
    assert_int_equal(r.articles_written, 1);
    page = page_of(w->dir, &w->k, "story");
    assert_non_null(strstr(page, "Version three"));
    free(page);
    assert_false(exists(p = path_of("%s/%s/story/old.png", w->dir, hex)));
    free(p);
    assert_false(exists(p = path_of("%s/%s/story/body.md", w->dir, hex)));
    free(p);
    assert_file_bytes(p = path_of("%s/%s/story/body.html.txt", w->dir, hex), "<p>three</p>", 12);
    free(p);
    char *idx = read_at(w->dir, "index.html");
    assert_non_null(strstr(idx, "Version three"));
    assert_null(strstr(idx, "Version two"));
    assert_non_null(strstr(idx, "newest bundle: #3"));
    free(idx);
    assert_int_equal(library_publisher_state(w->dir, w->k.pk, &seq, &created, err, sizeof err), 1);
    assert_int_equal(seq, 3);
    assert_int_equal(created, T0 + 100);

    /* All three in one call, in any order: the same result. */
    char *dir2 = tmp_dir();
    struct made all[3] = {m1, m3, m2};
    add_ok(dir2, all, 3, &r);
    assert_int_equal(r.bundles_added, 3);
    page = page_of(dir2, &w->k, "story");
    assert_non_null(strstr(page, "Version three"));
    free(page);
    rm_rf(dir2);

    made_free(&m1);
    made_free(&m2);
    made_free(&m3);
}

static void
test_publisher_state_unknown(void **state)
{
    struct world *w = *state;
    uint64_t seq = 77;
    int64_t created = 77;
    char err[512];
    char *missing = path_of("%s/does/not/exist", w->dir);
    assert_int_equal(library_publisher_state(missing, w->k.pk, &seq, &created, err, sizeof err), 0);
    free(missing);
    struct made m = three_articles(&w->k, 5);
    add_ok(w->dir, &m, 1, NULL);
    struct key other = new_key();
    assert_int_equal(library_publisher_state(w->dir, other.pk, &seq, &created, err, sizeof err), 0);
    assert_int_equal(seq, 77);
    made_free(&m);
}

static void
test_equivocation(void **state)
{
    struct world *w = *state;
    struct sz_article a = art("x", "One", T0, SZ_CTYPE_PLAIN, "one");
    struct sz_article b = art("x", "Other", T0, SZ_CTYPE_PLAIN, "other");
    struct made m1 = make_bundle(&w->k, 4, T0, &a, 1);
    struct made m2 = make_bundle(&w->k, 4, T0, &b, 1);
    struct library_result r;
    add_ok(w->dir, &m1, 1, &r);
    add_ok(w->dir, &m2, 1, &r);
    assert_int_equal(r.bundles_added, 1);
    assert_int_equal(r.equivocations, 1);
    assert_int_equal(r.articles_written, 0); /* same sequence: the first one stays */
    char *page = page_of(w->dir, &w->k, "x");
    assert_non_null(strstr(page, "One"));
    /* The page written before the second bundle came now says what it is. */
    assert_non_null(strstr(page, "this article came in bundle #4, and "));
    assert_non_null(strstr(page, "signed another, different bundle with that number"));
    /* Its navigation leads back to the publisher's part of the index. */
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(&w->k, hex);
    char *back = path_of("<a href=\"../../index.html#p-%s\">", hex);
    assert_non_null(strstr(page, back));
    free(back);
    assert_true(strstr(page, "</nav>") < strstr(page, "class=\"alarm\""));
    assert_true(strstr(page, "class=\"alarm\"") < strstr(page, "<h1"));
    free(page);
    /* Once only, however often the pair is offered again; and an article only
     * the second bundle holds has it from the start. */
    struct sz_article c2 = art("y", "Only in the third", T0, SZ_CTYPE_PLAIN, "third");
    struct made m3 = make_bundle(&w->k, 4, T0, &c2, 1);
    add_ok(w->dir, &m3, 1, &r);
    assert_int_equal(r.equivocations, 1);
    page = page_of(w->dir, &w->k, "x");
    const char *first = strstr(page, "signed another, different bundle");
    assert_non_null(first);
    assert_null(strstr(first + 1, "signed another, different bundle"));
    free(page);
    page = page_of(w->dir, &w->k, "y");
    assert_non_null(strstr(page, "this article came in bundle #4, and "));
    free(page);
    /* Another sequence of the same key is not marked. */
    struct sz_article d = art("z", "Five", T0, SZ_CTYPE_PLAIN, "five");
    struct made m4 = make_bundle(&w->k, 5, T0, &d, 1);
    add_ok(w->dir, &m4, 1, &r);
    page = page_of(w->dir, &w->k, "z");
    assert_null(strstr(page, "class=\"alarm\""));
    free(page);
    made_free(&m1);
    made_free(&m2);
    made_free(&m3);
    made_free(&m4);
}

/*
 * A batch that fails before library.idx and index.html hold the second
 * bundle of a sequence leaves the pages of the first as they were: no page
 * may claim an equivocation the index does not show.
 */
static void
test_equivocation_mark_undone(void **state)
{
    struct world *w = *state;
    struct sz_article a = art("x", "One", T0, SZ_CTYPE_PLAIN, "one");
    struct sz_article b = art("x", "Other", T0, SZ_CTYPE_PLAIN, "other");
    struct made m1 = make_bundle(&w->k, 4, T0, &a, 1);
    struct made m2 = make_bundle(&w->k, 4, T0, &b, 1);
    char path[1024], err[512];
    add_ok(w->dir, &m1, 1, NULL);
    /* index.html cannot be replaced: the second batch fails. */
    snprintf(path, sizeof path, "%s/index.html", w->dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_not_equal(add(w->dir, &m2, 1, NULL, 0, NULL, err, sizeof err), 0);
    char *page = page_of(w->dir, &w->k, "x");
    assert_null(strstr(page, "class=\"alarm\""));
    free(page);
    /* Once it can, the pair is recorded and the page says so. */
    assert_int_equal(rmdir(path), 0);
    add_ok(w->dir, &m2, 1, NULL);
    page = page_of(w->dir, &w->k, "x");
    assert_non_null(strstr(page, "signed another, different bundle with that number"));
    free(page);
    made_free(&m1);
    made_free(&m2);
}

static bool
dir_empty(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = false;
    }
    closedir(d);
    return empty;
}

static void
test_symlink_refused(void **state)
{
    struct world *w = *state;
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], err[512];
    struct made m = three_articles(&w->k, 1);
    pub_hex(&w->k, hex);
    char *target = tmp_dir();
    char *lib = path_of("%s/lib", w->dir);
    assert_int_equal(mkdir(lib, 0755), 0);
    /* Links planted inside a library (a folder with files but no .samizdat is
     * refused before anything is opened: see test_foreign_folder_refused). */
    char *lib_state = path_of("%s/.samizdat", lib);
    assert_int_equal(mkdir(lib_state, 0755), 0);
    free(lib_state);

    /* DIR/<pub> -> elsewhere. */
    char *link = path_of("%s/%s", lib, hex);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(add(lib, &m, 1, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "symbolic link"));
    assert_non_null(strstr(err, hex));
    assert_true(dir_empty(target));
    assert_int_equal(unlink(link), 0);

    /* DIR/<pub>/<id> -> elsewhere. */
    assert_int_equal(mkdir(link, 0755), 0);
    char *link2 = path_of("%s/html-one", link);
    assert_int_equal(symlink(target, link2), 0);
    assert_int_equal(add(lib, &m, 1, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "symbolic link"));
    assert_true(dir_empty(target));
    assert_int_equal(unlink(link2), 0);
    free(link2);

    /* DIR/.samizdat -> elsewhere. */
    char *lib2 = path_of("%s/lib2", w->dir);
    assert_int_equal(mkdir(lib2, 0755), 0);
    char *link3 = path_of("%s/.samizdat", lib2);
    assert_int_equal(symlink(target, link3), 0);
    assert_int_equal(add(lib2, &m, 1, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "symbolic link"));
    assert_true(dir_empty(target));
    free(link3);
    free(lib2);

    /* A link where a file goes is replaced, never written through. */
    char *victim = path_of("%s/victim", target);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("keep", f);
    fclose(f);
    char *page_link = path_of("%s/index.html", lib);
    assert_int_equal(symlink(victim, page_link), 0);
    char err2[512];
    assert_int_equal(add(lib, &m, 1, NULL, 0, NULL, err2, sizeof err2), 0);
    assert_file_bytes(victim, "keep", 4);
    struct stat st;
    assert_int_equal(lstat(page_link, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    free(page_link);
    free(victim);

    free(link);
    free(lib);
    rm_rf(target);
    made_free(&m);
}

static void
test_escaping_and_utf8(void **state)
{
    struct world *w = *state;
    struct sz_article a[2] = {
        art("xss", "<script>alert(1)</script> & \"quotes\"", T0, SZ_CTYPE_PLAIN,
            "</pre><script>alert(2)</script>"),
        art("ru", cyr_title, T0 + 1, SZ_CTYPE_PLAIN, txt_body),
    };
    static struct sz_str authors[] = {{"<b>Mallory</b>", 14}};
    a[0].authors = authors;
    a[0].n_authors = 1;
    a[0].summary = S("<img src=x onerror=alert(3)>");
    a[0].lang = S("en");
    a[0].url = S("https://example.org/a?b=1&c='x'");
    a[1].lang = S("ru");
    struct made m = make_bundle(&w->k, 1, T0, a, 2);
    add_ok(w->dir, &m, 1, NULL);

    char *idx = read_at(w->dir, "index.html");
    char *page = page_of(w->dir, &w->k, "xss");
    char *ru = page_of(w->dir, &w->k, "ru");
    for (char *const *s = (char *const[]){idx, page, NULL}; *s != NULL; s++) {
        assert_null(strstr(*s, "<script"));
        assert_null(strstr(*s, "<img src=x"));
        assert_null(strstr(*s, "<b>Mallory"));
        assert_non_null(
            strstr(*s, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    }
    assert_non_null(strstr(idx, "&lt;img src=x onerror=alert(3)&gt;"));
    assert_non_null(strstr(page, "&lt;/pre&gt;&lt;script&gt;alert(2)"));
    assert_non_null(strstr(page, "<a href=\"https://example.org/a?b=1&amp;c=&#39;x&#39;\""));

    /* Cyrillic stays UTF-8, in a page that says so. */
    assert_non_null(strstr(idx, cyr_title));
    assert_non_null(strstr(ru, "<title>Путин посетит Монголию</title>"));
    assert_non_null(strstr(ru, "Второй абзац &amp; &lt;не тег&gt;."));
    assert_non_null(strstr(ru, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(ru, "<html lang=\"ru\">"));
    free(idx);
    free(page);
    free(ru);
    made_free(&m);
}

static int
check_html_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (flag != FTW_F || n < 5 || strcmp(path + n - 5, ".html") != 0 || strstr(path, "/body."))
        return 0;
    char *s = slurp(path, NULL);
    assert_non_null(s);
    char *charset = strstr(s, "<meta charset=\"utf-8\">");
    char *csp = strstr(s, CSP_META);
    if (charset == NULL || csp == NULL)
        fail_msg("%s lacks the charset or CSP meta", path);
    /* Both in the head, before anything that could load. */
    assert_true(charset < csp);
    assert_true(csp < strstr(s, "<style>"));
    assert_true(csp < strstr(s, "<body>"));
    assert_null(strstr(s, "<script"));
    assert_null(strstr(s, "<link"));
    free(s);
    snap_n++;
    return 0;
}

static void
test_csp_everywhere(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 1);
    add_ok(w->dir, &m, 1, NULL);
    snap_n = 0;
    nftw(w->dir, check_html_file, 16, FTW_PHYS);
    assert_int_equal(snap_n, 4); /* index.html and three article pages */
    made_free(&m);
}

/* Raw HTML in a Markdown body is markup, through the sanitizer: what it
 * cannot do in an HTML body it cannot do here, what it can (an attached
 * picture, a <sup>, a line break) it does. */
static void
test_markdown_raw_html(void **state)
{
    struct world *w = *state;
    static const char body[] =
        "Hello <script>alert(1)</script> world, E = mc<sup>2</sup>.<br>\nNext line.\n\n"
        "<div onclick=\"alert(2)\">block</div>\n\n"
        "<a href=\"javascript:alert(3)\">raw</a>, [click](javascript:alert(3)) and "
        "[ok](https://example.org/a?b=1&c=2)\n\n"
        "<img src=\"https://example.com/raw.png\" alt=\"raw remote\"> "
        "<iframe src=\"https://example.com/\"></iframe>\n\n"
        "<figure><img src=\"photo.png\" alt=\"A photo\"><figcaption>Attached</figcaption>"
        "</figure>\n\n"
        "![remote](https://example.com/x.png) ![proto](//example.com/y.png) ![local](pic.png)\n";
    struct sz_attachment att = {S("photo.png"), S("image/png"), test_png, sizeof test_png};
    struct sz_article a = art("md", "Markdown", T0, SZ_CTYPE_MARKDOWN, body);
    a.atts = &att;
    a.n_atts = 1;
    struct made m = make_bundle(&w->k, 1, T0, &a, 1);
    add_ok(w->dir, &m, 1, NULL);
    char *page = page_of(w->dir, &w->k, "md");
    char *b = strstr(page, "<div class=\"body markdown\"");
    assert_non_null(b);
    char *foot = strstr(b, "<footer");
    assert_non_null(foot);
    *foot = '\0';
    assert_null(strstr(b, "<script"));
    assert_null(strstr(b, "alert("));
    assert_null(strstr(b, "onclick"));
    assert_null(strstr(b, "javascript:"));
    assert_null(strstr(b, "<iframe"));
    assert_null(strstr(b, "example.com"));
    assert_null(strstr(b, "&lt;"));
    assert_non_null(strstr(b, "<p>Hello  world, E = mc<sup>2</sup>.<br>\nNext line.</p>"));
    assert_non_null(strstr(b, "<div>block</div>"));
    assert_non_null(
        strstr(b, "<a>raw</a>, <a>click</a> and "
                  "<a href=\"https://example.org/a?b=1&amp;c=2\" data-online=\"\">ok</a>"));
    assert_non_null(strstr(b, "<img alt=\"raw remote\">"));
    /* The attached picture is shown by the body, so not again below it. */
    assert_non_null(strstr(b, "<figure><img src=\"photo.png\" alt=\"A photo\">"
                              "<figcaption>Attached</figcaption></figure>"));
    assert_int_equal(count(page, "src=\"photo.png\""), 1);
    /* pic.png is not among the article's files: the folder holds no such picture. */
    assert_non_null(strstr(b, "<img alt=\"local\">"));
    assert_non_null(strstr(b, "<img alt=\"remote\">"));
    free(page);
    made_free(&m);
}

static void
test_html_body_sanitized(void **state)
{
    struct world *w = *state;
    static const char body[] =
        "<!DOCTYPE html><html><head><title>T</title>"
        "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">"
        "<link rel=\"dns-prefetch\" href=\"//evil.example\"></head>"
        "<body onload=\"alert(1)\"><p>Text</p><img src=\"https://evil.example/t.gif\">"
        "<script>alert(2)</script></div></article></body></html><div><b>open";
    struct sz_article a = art("h", "HTML", T0, SZ_CTYPE_HTML, body);
    struct made m = make_bundle(&w->k, 1, T0, &a, 1);
    add_ok(w->dir, &m, 1, NULL);
    char *page = page_of(w->dir, &w->k, "h");
    char *b = strstr(page, "<div class=\"body html\" dir=\"auto\" lang=\"\">\n");
    assert_non_null(b);
    b += strlen("<div class=\"body html\" dir=\"auto\" lang=\"\">\n");
    static const char want[] = "<p>Text</p><img><div><b>open</b></div>\n</div>\n<footer>";
    assert_memory_equal(b, want, sizeof want - 1);
    assert_null(strstr(page, "evil.example"));
    free(page);
    made_free(&m);
}

/*
 * A new version of an article that cannot be written whole (here a file size
 * limit stands in for a full disk) leaves the old version whole: its body, its
 * page, and no temporary file.
 */
static void
test_replace_fails_whole(void **state)
{
    struct world *w = *state;
    struct sz_article a1 = art("whole", "Version one", T0, SZ_CTYPE_MARKDOWN, "version one");
    struct made m1 = make_bundle(&w->k, 1, T0, &a1, 1);
    add_ok(w->dir, &m1, 1, NULL);

    size_t big_len = 3u << 20;
    uint8_t *big = calloc(1, big_len);
    assert_non_null(big);
    struct sz_attachment att = {S("big.bin"), S("application/octet-stream"), big, big_len};
    struct sz_article a2 = art("whole", "Version two", T0 + 60, SZ_CTYPE_MARKDOWN, "version two");
    a2.atts = &att;
    a2.n_atts = 1;
    struct made m2 = make_bundle(&w->k, 2, T0 + 60, &a2, 1);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1u << 20;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char err[512];
    int rc = add(w->dir, &m2, 1, NULL, 0, NULL, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -1);

    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], *p;
    pub_hex(&w->k, hex);
    assert_file_bytes(p = path_of("%s/%s/whole/body.md", w->dir, hex), "version one", 11);
    free(p);
    assert_false(exists(p = path_of("%s/%s/whole/big.bin", w->dir, hex)));
    free(p);
    char *page = page_of(w->dir, &w->k, "whole");
    assert_non_null(strstr(page, "Version one"));
    free(page);
    p = path_of("%s/%s/whole", w->dir, hex);
    DIR *d = opendir(p);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        assert_true(strncmp(e->d_name, ".tmp-", 5) != 0);
    closedir(d);
    free(p);

    /* Room again: the new version goes in whole. */
    add_ok(w->dir, &m2, 1, NULL);
    assert_file_bytes(p = path_of("%s/%s/whole/body.md", w->dir, hex), "version two", 11);
    free(p);
    made_free(&m1);
    made_free(&m2);
    free(big);
}

static void
on_alarm(int sig)
{
    (void)sig;
    fail_msg("the library blocked on a FIFO for 10 s");
}

/*
 * A FIFO where library.idx belongs (planted, or left by a broken tool) is
 * refused at once with the file named; reading it used to block for ever,
 * holding the library's lock.
 */
static void
test_fifo_state_file(void **state)
{
    struct world *w = *state;
    struct sz_article a = art("f", "FIFO", T0, SZ_CTYPE_PLAIN, "body");
    struct made m = make_bundle(&w->k, 1, T0, &a, 1);
    char *p = path_of("%s/.samizdat", w->dir), err[512];
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
    p = path_of("%s/.samizdat/library.idx", w->dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    free(p);

    void (*prev)(int) = signal(SIGALRM, on_alarm);
    alarm(10);
    int rc = add(w->dir, &m, 1, NULL, 0, NULL, err, sizeof err);
    alarm(0);
    signal(SIGALRM, prev);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "library.idx"));
    assert_non_null(strstr(err, "not a regular file"));
    made_free(&m);
}

/*
 * The mark of a writer that died after committing (only its clean-up was left)
 * goes with the next writer's recovery even when that writer has nothing to
 * add: left there, it made every later writer scan the whole library again.
 */
static void
test_writing_mark_cleared(void **state)
{
    struct world *w = *state;
    struct sz_article a = art("m", "Mark", T0, SZ_CTYPE_PLAIN, "body");
    struct made m = make_bundle(&w->k, 1, T0, &a, 1);
    add_ok(w->dir, &m, 1, NULL);
    char *mark = path_of("%s/.samizdat/writing", w->dir);
    int fd = open(mark, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    add_ok(w->dir, &m, 1, NULL); /* already present: nothing to write */
    struct stat st;
    assert_int_equal(stat(mark, &st), -1);
    assert_int_equal(errno, ENOENT);
    char *page = page_of(w->dir, &w->k, "m");
    assert_non_null(strstr(page, "Mark"));
    free(page);
    free(mark);
    made_free(&m);
}

/*
 * What a writer killed before it recorded its batch had written (a new
 * article's folder, the raw bundle) goes with the next writer's recovery,
 * and what the library holds stays; a file of a name the library never
 * gives keeps its folder.
 */
static void
test_killed_batch_leftovers_removed(void **state)
{
    struct world *w = *state;
    struct sz_article a = art("kept", "Kept", T0, SZ_CTYPE_PLAIN, "body");
    struct made m = make_bundle(&w->k, 1, T0, &a, 1);
    struct sz_article b = art("next", "Next", T0 + 60, SZ_CTYPE_PLAIN, "body");
    struct made m2 = make_bundle(&w->k, 2, T0 + 60, &b, 1);
    add_ok(w->dir, &m, 1, NULL);

    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(&w->k, hex);
    char *orphan = path_of("%s/%s/lost", w->dir, hex);
    char *orphan2 = path_of("%s/%s/mine", w->dir, hex);
    char *page = path_of("%s/%s/lost/index.html", w->dir, hex);
    char *body = path_of("%s/%s/lost/body.txt", w->dir, hex);
    char *own = path_of("%s/%s/mine/My notes.txt", w->dir, hex);
    char *todo = path_of("%s/%s/mine/todo.txt", w->dir, hex);
    char *todo2 = path_of("%s/%s/notes/todo.txt", w->dir, hex);
    char *notes = path_of("%s/%s/notes", w->dir, hex);
    char *raw = path_of("%s/.samizdat/bundles/%s.bundle", w->dir,
                        "00000000000000000000000000000000000000000000000000000000000000ab");
    char *mark = path_of("%s/.samizdat/writing", w->dir);
    assert_int_equal(mkdir(orphan, 0755), 0);
    assert_int_equal(mkdir(orphan2, 0755), 0);
    assert_int_equal(mkdir(notes, 0755), 0);
    const char *files[] = {page, body, own, todo, todo2, raw, mark};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        int fd = open(files[k], O_WRONLY | O_CREAT, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    add_ok(w->dir, &m2, 1, NULL);

    struct stat st;
    assert_int_equal(stat(orphan, &st), -1);
    assert_int_equal(stat(raw, &st), -1);
    assert_int_equal(stat(mark, &st), -1);
    /* Folders that are not the library's (no page, no body; a name it never
     * gives) keep every file. */
    assert_int_equal(stat(own, &st), 0);
    assert_int_equal(stat(todo, &st), 0);
    assert_int_equal(stat(todo2, &st), 0);
    char *p = page_of(w->dir, &w->k, "kept");
    assert_non_null(strstr(p, "Kept"));
    free(p);
    p = page_of(w->dir, &w->k, "next");
    assert_non_null(strstr(p, "Next"));
    free(p);
    char id_hex[2 * SZ_BUNDLE_ID_LEN + 1];
    sz_bundle_id_hex(m.b->id, id_hex);
    char *kept_raw = path_of("%s/.samizdat/bundles/%s.bundle", w->dir, id_hex);
    assert_int_equal(stat(kept_raw, &st), 0);
    free(kept_raw);
    free(orphan);
    free(orphan2);
    free(todo);
    free(todo2);
    free(notes);
    free(page);
    free(body);
    free(own);
    free(raw);
    free(mark);
    made_free(&m);
    made_free(&m2);
}

static void
test_reserved_attachment_name(void **state)
{
    struct world *w = *state;
    /*
     * Names a browser would open as a document (HTML, SVG, XML) get ".txt";
     * names of the library's own files, in any case (FAT and exFAT ignore
     * it), get '_', then "2_", "3_"... prepended until free.
     */
    struct sz_attachment atts[6] = {
        {S("Body.md"), S("text/markdown"), (const uint8_t *)"attached", 8},
        {S("_index.html"), S("text/html"), (const uint8_t *)"first", 5},
        {S("body.TXT"), S("text/plain"), (const uint8_t *)"second", 6},
        {S("index.html"), S("text/html"), (const uint8_t *)"<script>x</script>", 18},
        {S("index.html.txt"), S("text/plain"), (const uint8_t *)"third", 5},
        {S("x.SVG"), S("image/svg+xml"), (const uint8_t *)"<svg/>", 6},
    };
    struct sz_article a = art("r", "Reserved", T0, SZ_CTYPE_PLAIN, "body");
    a.atts = atts;
    a.n_atts = 6;
    struct made m = make_bundle(&w->k, 1, T0, &a, 1);
    add_ok(w->dir, &m, 1, NULL);
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(&w->k, hex);
    char *p;
    static const struct {
        const char *file, *bytes;
    } want[] = {
        {"body.txt", "body"},
        {"_Body.md", "attached"},
        {"_index.html.txt", "first"},
        {"_body.TXT", "second"},
        {"index.html.txt", "<script>x</script>"},
        {"x.SVG.txt", "<svg/>"},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        assert_file_bytes(p = path_of("%s/%s/r/%s", w->dir, hex, want[k].file), want[k].bytes,
                          strlen(want[k].bytes));
        free(p);
    }
    /* The sixth, "index.html.txt", met the fourth's new name, then the second's: "2_". */
    assert_file_bytes(p = path_of("%s/%s/r/2_index.html.txt", w->dir, hex), "third", 5);
    free(p);
    assert_false(exists(p = path_of("%s/%s/r/x.SVG", w->dir, hex)));
    free(p);
    char *page = page_of(w->dir, &w->k, "r");
    assert_non_null(strstr(page, CSP_META));
    assert_non_null(strstr(page, "href=\"index.html.txt\""));
    assert_non_null(strstr(page, "href=\"x.SVG.txt\""));
    free(page);
    made_free(&m);
}

/* Counts the article folders of k in dir whose names equal name ignoring case. */
static size_t
folders_like(const char *dir, const struct key *k, const char *name)
{
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(k, hex);
    char *p = path_of("%s/%s", dir, hex);
    DIR *d = opendir(p);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcasecmp(e->d_name, name) == 0;
    closedir(d);
    free(p);
    return n;
}

static void
test_ids_differing_in_case(void **state)
{
    struct world *w = *state;
    /*
     * "Report" and "report" are two articles, but FAT, exFAT, macOS and
     * casefolded ext4 see one folder: the later one gets a folder of its own,
     * no two folders of a publisher equal ignoring case, and every link of
     * index.html leads to its own article.
     */
    struct sz_article a1[2] = {art("Report", "Upper", T0, SZ_CTYPE_PLAIN, "upper body"),
                               art("report", "Lower", T0 + 1, SZ_CTYPE_PLAIN, "lower body")};
    struct made m1 = make_bundle(&w->k, 1, T0, a1, 2);
    add_ok(w->dir, &m1, 1, NULL);
    /* In a later bundle: a third spelling, and a new version of "report". */
    struct sz_article a2[2] = {art("REPORT", "Capitals", T0 + 2, SZ_CTYPE_PLAIN, "capital body"),
                               art("report", "Lower v2", T0 + 3, SZ_CTYPE_PLAIN, "lower v2")};
    struct made m2 = make_bundle(&w->k, 2, T0 + 10, a2, 2);
    add_ok(w->dir, &m2, 1, NULL);
    assert_int_equal(folders_like(w->dir, &w->k, "report"), 1);
    assert_int_equal(folders_like(w->dir, &w->k, "report~2"), 1);
    assert_int_equal(folders_like(w->dir, &w->k, "report~3"), 1);
    assert_int_equal(folders_like(w->dir, &w->k, "report~4"), 0);

    /* Follow each link of index.html to its page: one per title, each with its body. */
    char *index = read_at(w->dir, "index.html");
    assert_non_null(index);
    static const char *const titles[] = {"Upper", "Lower v2", "Capitals"};
    static const char *const bodies[] = {"upper body", "lower v2", "capital body"};
    size_t found = 0;
    for (char *h = index; (h = strstr(h, "<a href=\"")) != NULL; h++) {
        char href[512];
        if (sscanf(h + 9, "%511[^\"]", href) != 1 || strstr(href, "/index.html") == NULL ||
            strchr(href, '/') == strrchr(href, '/'))
            continue;
        char *page = read_at(w->dir, href);
        if (page == NULL)
            fail_msg("index.html links to %s, which is missing", href);
        for (size_t t = 0; t < 3; t++) {
            char *tag = path_of("<title>%s", titles[t]);
            if (strstr(page, tag) != NULL) {
                assert_non_null(strstr(page, bodies[t]));
                found |= (size_t)1 << t;
            }
            free(tag);
        }
        free(page);
    }
    assert_int_equal(found, 7);
    free(index);

    /* The folders are remembered: another version of "REPORT" replaces its page. */
    struct sz_article a3 = art("REPORT", "Capitals v2", T0 + 4, SZ_CTYPE_PLAIN, "capital v2");
    struct made m3 = make_bundle(&w->k, 3, T0 + 20, &a3, 1);
    add_ok(w->dir, &m3, 1, NULL);
    assert_int_equal(folders_like(w->dir, &w->k, "report~4"), 0);
    char *page = NULL;
    for (int n = 2; n <= 3 && page == NULL; n++) {
        char hex[2 * SZ_PUBLIC_KEY_LEN + 1], rel[128];
        pub_hex(&w->k, hex);
        snprintf(rel, sizeof rel, "%s/REPORT~%d/index.html", hex, n);
        char *s = read_at(w->dir, rel);
        if (s != NULL && strstr(s, "capital v2") != NULL)
            page = s;
        else
            free(s);
    }
    assert_non_null(page);
    free(page);
    made_free(&m1);
    made_free(&m2);
    made_free(&m3);
}

static void
test_attachment_names_allowlist(void **state)
{
    struct world *w = *state;
    /*
     * Only names a browser opens passively keep their name; every other one
     * (an RSS or Atom feed is XML, and XHTML inside runs script; no extension
     * lets the browser sniff) gets ".txt". Two 100-byte names that differ
     * only in case both fit, whole.
     */
    char upper[101], lower[101], html[101];
    memset(upper, 'A', 96);
    memcpy(upper + 96, ".png", 5);
    memset(lower, 'a', 96);
    memcpy(lower + 96, ".png", 5);
    memset(html, 'h', 95);
    memcpy(html + 95, ".html", 6);
    struct sz_attachment atts[8] = {
        {S("feed.rss"), S("application/rss+xml"), (const uint8_t *)"<rss/>", 6},
        {S("feed.ATOM"), S("application/atom+xml"), (const uint8_t *)"<feed/>", 7},
        {S("schema.xsd"), S("text/xml"), (const uint8_t *)"<xs/>", 5},
        {S("README"), S("text/plain"), (const uint8_t *)"<html>", 6},
        {S("photo.JPG"), S("image/jpeg"), (const uint8_t *)"jpeg", 4},
        {S("report.pdf"), S("application/pdf"), (const uint8_t *)"%PDF", 4},
        {S(upper), S("image/png"), (const uint8_t *)"upper", 5},
        {S(lower), S("image/png"), (const uint8_t *)"lower", 5},
    };
    struct sz_article a = art("n", "Names", T0, SZ_CTYPE_PLAIN, "body");
    a.atts = atts;
    a.n_atts = 8;
    struct sz_attachment atts2[1] = {{S(html), S("text/html"), (const uint8_t *)"<p>", 3}};
    struct sz_article b = art("m", "Long", T0, SZ_CTYPE_PLAIN, "body");
    b.atts = atts2;
    b.n_atts = 1;
    struct sz_article both[2] = {a, b};
    struct made m = make_bundle(&w->k, 1, T0, both, 2);
    add_ok(w->dir, &m, 1, NULL);
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], *p;
    pub_hex(&w->k, hex);
    char under_lower[102];
    snprintf(under_lower, sizeof under_lower, "_%s", lower);
    const struct {
        const char *file, *bytes;
    } want[] = {
        {"feed.rss.txt", "<rss/>"}, {"feed.ATOM.txt", "<feed/>"}, {"schema.xsd.txt", "<xs/>"},
        {"README.txt", "<html>"},   {"photo.JPG", "jpeg"},        {"report.pdf", "%PDF"},
        {upper, "upper"},           {under_lower, "lower"},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        assert_file_bytes(p = path_of("%s/%s/n/%s", w->dir, hex, want[k].file), want[k].bytes,
                          strlen(want[k].bytes));
        free(p);
    }
    assert_false(exists(p = path_of("%s/%s/n/feed.rss", w->dir, hex)));
    free(p);
    /* 95 + ".html" + ".txt": nothing cut off. */
    assert_file_bytes(p = path_of("%s/%s/m/%s.txt", w->dir, hex, html), "<p>", 3);
    free(p);
    char *page = page_of(w->dir, &w->k, "n");
    assert_non_null(strstr(page, "href=\"feed.rss.txt\""));
    assert_null(strstr(page, "href=\"feed.rss\""));
    free(page);
    /* The stored names are read back from library.idx: a second bundle adds to it. */
    struct sz_article c = art("o", "Other", T0, SZ_CTYPE_PLAIN, "body");
    struct made m2 = make_bundle(&w->k, 2, T0 + 1, &c, 1);
    add_ok(w->dir, &m2, 1, NULL);
    made_free(&m);
    made_free(&m2);
}

static void
test_bad_items(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 1);
    struct made m2 = three_articles(&w->k, 2);
    char err[512];
    struct library_item it = {m.b, m2.raw, m2.raw_len};
    assert_int_equal(library_add(w->dir, &it, 1, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "do not match"));
    it = (struct library_item){NULL, m.raw, m.raw_len};
    assert_int_equal(library_add(w->dir, &it, 1, NULL, 0, NULL, err, sizeof err), -1);
    assert_int_equal(library_add(NULL, &it, 1, NULL, 0, NULL, err, sizeof err), -1);
    assert_true(dir_empty(w->dir));

    /* An unsafe id slipped in by a buggy caller is refused before any write. */
    char bad_id[] = "../x";
    struct sz_str saved = m.b->c->articles[0].id;
    m.b->c->articles[0].id = S(bad_id);
    it = (struct library_item){m.b, m.raw, m.raw_len};
    assert_int_equal(library_add(w->dir, &it, 1, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "unsafe id"));
    assert_true(dir_empty(w->dir));
    m.b->c->articles[0].id = saved;
    made_free(&m);
    made_free(&m2);
}

static void
write_index(const char *dir, const void *data, size_t len)
{
    char *p = path_of("%s/.samizdat/library.idx", dir);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(p);
}

static void
test_damaged_index(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 1);
    struct sz_article a = art("later", "Later", T0, SZ_CTYPE_PLAIN, "later");
    struct made m2 = make_bundle(&w->k, 2, T0, &a, 1);
    struct library_publisher pub;
    memcpy(pub.pk, w->k.pk, sizeof pub.pk);
    pub.name = "Name, with % and spaces";
    char err[512];
    assert_int_equal(add(w->dir, &m, 1, &pub, 1, NULL, err, sizeof err), 0);
    size_t len;
    char *p = path_of("%s/.samizdat/library.idx", w->dir);
    char *good = slurp(p, &len);
    free(p);
    assert_non_null(good);

    /* Every prefix, and every single-byte corruption: an error or a clean parse. */
    uint64_t seq;
    int64_t created;
    for (size_t n = 0; n <= len; n++) {
        write_index(w->dir, good, n);
        int r = library_publisher_state(w->dir, w->k.pk, &seq, &created, err, sizeof err);
        if (r < 0)
            assert_non_null(strstr(err, "library.idx"));
        bool at_line_end = n >= 19 && good[n - 1] == '\n';
        if (!at_line_end && n > 0)
            assert_int_equal(r, -1);
    }
    for (size_t k = 0; k < len; k++) {
        static const char junk[] = {'\0', ' ', '\n', '%', 'Z', ',', '-', (char)0xff};
        for (size_t j = 0; j < sizeof junk; j++) {
            char *bad = malloc(len);
            assert_non_null(bad);
            memcpy(bad, good, len);
            bad[k] = junk[j];
            write_index(w->dir, bad, len);
            int r = library_publisher_state(w->dir, w->k.pk, &seq, &created, err, sizeof err);
            assert_true(r >= -1 && r <= 1);
            free(bad);
        }
    }
    static const char *const cases[] = {
        "",
        "samizdat-library 2\n",
        "samizdat-library 1\nB 00 11 1 1\n",
        ("samizdat-library 1\nB "
         "0000000000000000000000000000000000000000000000000000000000000000 "
         "0000000000000000000000000000000000000000000000000000000000000000 "
         "99999999999999999999999 1\n"),
        "samizdat-library 1\nQ x\n",
        "samizdat-library 1\n\n",
        "samizdat-library 1\nA  x\n",
        ("samizdat-library 1\nN "
         "0000000000000000000000000000000000000000000000000000000000000000 %FF%FE\n"),
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_index(w->dir, cases[k], strlen(cases[k]));
        assert_int_equal(library_publisher_state(w->dir, w->k.pk, &seq, &created, err, sizeof err),
                         -1);
        assert_int_equal(add(w->dir, &m2, 1, NULL, 0, NULL, err, sizeof err), -1);
        assert_non_null(strstr(err, "damaged"));
    }

    /* Restored, it works again and keeps the name with its odd characters. */
    write_index(w->dir, good, len);
    assert_int_equal(add(w->dir, &m2, 1, NULL, 0, NULL, err, sizeof err), 0);
    char *idx = read_at(w->dir, "index.html");
    assert_non_null(strstr(idx, "Name, with % and spaces"));
    free(idx);
    free(good);
    made_free(&m);
    made_free(&m2);
}

/*
 * library.idx deleted (or moved away) while .samizdat/bundles holds the
 * library's bundles: adding another bundle alone would write an index.html
 * without the earlier articles, so it is refused, naming the way back; adding
 * the held bundles again (with the new one) lists them all.
 */
static void
test_lost_index(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 1);
    struct sz_article a = art("later", "Later", T0, SZ_CTYPE_PLAIN, "later");
    struct made both[2];
    char err[512];

    both[1] = make_bundle(&w->k, 2, T0, &a, 1);
    add_ok(w->dir, &m, 1, NULL);
    char *p = path_of("%s/.samizdat/library.idx", w->dir);
    assert_int_equal(unlink(p), 0);
    free(p);
    assert_int_equal(add(w->dir, &both[1], 1, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "library.idx is missing"));
    assert_non_null(strstr(err, "holds 1 bundles"));
    assert_non_null(strstr(err, ".samizdat/bundles/*.bundle"));
    char *idx = read_at(w->dir, "index.html");
    assert_null(strstr(idx, "Later")); /* untouched */
    free(idx);

    both[0] = m;
    add_ok(w->dir, both, 2, NULL);
    idx = read_at(w->dir, "index.html");
    assert_non_null(strstr(idx, "Later"));
    assert_non_null(strstr(idx, "/putin-mongolia/index.html"));
    free(idx);
    made_free(&m);
    made_free(&both[1]);
}

/*
 * An A record's lists at their limits: SZ_MAX_AUTHORS authors and
 * SZ_MAX_ATTACHMENTS + 1 stored files load, and come back out as written; one
 * more of either is a damaged index.
 */
static char *
with_field(const char *good, size_t field, const char *value)
{
    const char *a = strstr(good, "\nA ");
    assert_non_null(a);
    a++;
    const char *start = a;
    for (size_t k = 0; k < field; k++) {
        start = strchr(start, ' ');
        assert_non_null(start);
        start++;
    }
    const char *end = start + strcspn(start, " \n");
    size_t head = (size_t)(start - good), vlen = strlen(value);
    char *out = malloc(head + vlen + strlen(end) + 1);
    assert_non_null(out);
    memcpy(out, good, head);
    memcpy(out + head, value, vlen);
    strcpy(out + head + vlen, end);
    return out;
}

static char *
name_list(const char *prefix, const char *suffix, size_t n)
{
    char *v = malloc(n * 32 + 1);
    assert_non_null(v);
    v[0] = '\0';
    for (size_t k = 0; k < n; k++)
        sprintf(v + strlen(v), "%s%s%zu%s", k > 0 ? "," : "", prefix, k, suffix);
    return v;
}

static void
test_index_list_limits(void **state)
{
    struct world *w = *state;
    struct sz_article a = art("lists", "Lists", T0, SZ_CTYPE_PLAIN, "lists");
    struct sz_article o = art("other", "Other", T0, SZ_CTYPE_PLAIN, "other");
    struct made m = make_bundle(&w->k, 1, T0, &a, 1);
    struct made m2 = make_bundle(&w->k, 2, T0 + 1, &o, 1);
    char err[512];
    uint64_t seq;
    int64_t created;
    assert_int_equal(add(w->dir, &m, 1, NULL, 0, NULL, err, sizeof err), 0);
    char *p = path_of("%s/.samizdat/library.idx", w->dir);
    size_t len;
    char *good = slurp(p, &len); /* NUL-terminated */
    assert_non_null(good);

    /* Fields of "A pub id seq bundle published ctype title lang summary url authors files". */
    static const struct {
        size_t field, at_limit;
        const char *prefix, *suffix;
    } lists[] = {
        {11, SZ_MAX_AUTHORS, "Author%20", ""},
        {12, SZ_MAX_ATTACHMENTS + 1, "file", ".png"},
    };
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        for (size_t extra = 0; extra <= 1; extra++) {
            size_t n = lists[k].at_limit + extra;
            char *v = name_list(lists[k].prefix, lists[k].suffix, n);
            char *idx = with_field(good, lists[k].field, v);
            write_index(w->dir, idx, strlen(idx));
            int r = library_publisher_state(w->dir, w->k.pk, &seq, &created, err, sizeof err);
            if (extra == 1) {
                assert_int_equal(r, -1);
                /* Line 3: after the magic and the B line. */
                assert_non_null(strstr(err, "library.idx is damaged (line 3)"));
            } else {
                assert_int_equal(r, 1);
                assert_int_equal(seq, 1);
                /* Adding another article rewrites library.idx: the list comes back whole. */
                assert_int_equal(add(w->dir, &m2, 1, NULL, 0, NULL, err, sizeof err), 0);
                char *again = slurp(p, NULL);
                assert_non_null(again);
                char *field = malloc(strlen(v) + 2);
                assert_non_null(field);
                sprintf(field, " %s", v);
                const char *at = strstr(again, field);
                assert_non_null(at);
                assert_true(at[strlen(field)] == ' ' || at[strlen(field)] == '\n');
                free(field);
                free(again);
            }
            free(idx);
            free(v);
            write_index(w->dir, good, len);
        }
    }
    free(good);
    free(p);
    made_free(&m);
    made_free(&m2);
}

/* ---- freshness and equivocation in index.html ---- */

#define HOUR 3600
#define DAY 86400
#define STALE_MSG "your peers may be withholding newer editions; try other peers"
#define EQUIV_MSG "signed two different bundles with the same sequence number"

static struct library_publisher
pub_named(const struct key *k, const char *name)
{
    struct library_publisher p;
    memcpy(p.pk, k->pk, sizeof p.pk);
    p.name = name;
    return p;
}

static void
note_ok(const char *dir, const struct library_publisher *pubs, size_t n, int64_t now,
        int64_t stale_after, const bool *equivocation)
{
    char err[512];
    int rc = library_note_fetch(dir, pubs, n, now, stale_after, equivocation, err, sizeof err);
    if (rc != 0)
        print_error("library_note_fetch: %s\n", err);
    assert_int_equal(rc, 0);
}

/* The pages of a publisher's articles name it as the reader last did. */
static void
assert_signed_by(const char *dir, const char *hex, const char *name, const char *old)
{
    static const char *const ids[] = {"putin-mongolia", "html-one", "ru-text"};
    for (size_t k = 0; k < 3; k++) {
        char *rel = path_of("%s/%s/index.html", hex, ids[k]);
        char *page = read_at(dir, rel);
        char *want = path_of("<p>Signed by %s (", name);
        assert_non_null(page);
        if (strstr(page, want) == NULL || strstr(page, old) != NULL)
            fail_msg("%s does not name the publisher %s (or still %s)", rel, name, old);
        free(want);
        free(page);
        free(rel);
    }
}

/*
 * A publisher the reader renames (in the trust file) is named anew on the
 * pages of its older articles too, by an unpack of a later bundle and by a
 * fetch that brings nothing; their attachments stay linked.
 */
static void
test_rename_pages(void **state)
{
    struct world *w = *state;
    struct made m1 = three_articles(&w->k, 1);
    struct sz_article a = art("late", "A later article", T0 + 9000, SZ_CTYPE_PLAIN, "text");
    struct made m2 = make_bundle(&w->k, 2, T0 + 9000, &a, 1);
    struct library_publisher pub = pub_named(&w->k, "Foo News");
    char err[512], hex[2 * SZ_PUBLIC_KEY_LEN + 1];

    pub_hex(&w->k, hex);
    assert_int_equal(add(w->dir, &m1, 1, &pub, 1, NULL, err, sizeof err), 0);
    assert_signed_by(w->dir, hex, "Foo News", "Bar News");
    pub.name = "Bar News";
    /* A rename that fails half way (a page it cannot write: here a folder
     * that became a symbolic link) records nothing, and the next run renames
     * them all (the name was recorded first before: the rest kept Foo). */
    char *real = path_of("%s/%s/html-one", w->dir, hex);
    char *aside = path_of("%s/%s/html-one.real", w->dir, hex);
    assert_int_equal(rename(real, aside), 0);
    assert_int_equal(symlink(aside, real), 0);
    assert_int_not_equal(add(w->dir, &m2, 1, &pub, 1, NULL, err, sizeof err), 0);
    assert_int_equal(unlink(real), 0);
    assert_int_equal(rename(aside, real), 0);
    free(real);
    free(aside);
    assert_int_equal(add(w->dir, &m2, 1, &pub, 1, NULL, err, sizeof err), 0);
    assert_signed_by(w->dir, hex, "Bar News", "Foo News");
    pub.name = "Baz News";
    note_ok(w->dir, &pub, 1, T0 + 9100, 0, NULL);
    assert_signed_by(w->dir, hex, "Baz News", "Bar News");
    char *rel = path_of("%s/putin-mongolia/index.html", hex);
    char *page = read_at(w->dir, rel);
    assert_non_null(strstr(page, "map.png"));
    free(page);
    free(rel);
    made_free(&m1);
    made_free(&m2);
}

/* index.html is still one well-formed page: CSP first, boxes balanced, no script. */
static char *
index_checked(const char *dir)
{
    char *idx = read_at(dir, "index.html");
    assert_non_null(idx);
    assert_non_null(strstr(idx, CSP_META));
    assert_true(strstr(idx, CSP_META) < strstr(idx, "<body>"));
    assert_null(strstr(idx, "<script"));
    assert_int_equal(count(idx, "<div"), count(idx, "</div>"));
    assert_int_equal(count(idx, "<section"), count(idx, "</section>"));
    assert_int_equal(count(idx, "<ul>"), count(idx, "</ul>"));
    size_t n = strlen(idx);
    assert_true(n > 8 && strcmp(idx + n - 8, "</html>\n") == 0);
    return idx;
}

static void
assert_info(const char *dir, const struct key *k, struct library_publisher_info *info)
{
    char err[512];
    int rc = library_publisher_info(dir, k->pk, info, err, sizeof err);
    if (rc != 0)
        print_error("library_publisher_info: %s\n", err);
    assert_int_equal(rc, 0);
}

static void
test_fetch_last_fetched(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 1); /* bundle signed T0 + 2 h */
    struct library_publisher_info info;
    add_ok(w->dir, &m, 1, NULL);
    assert_info(w->dir, &w->k, &info);
    assert_true(info.has_bundle);
    assert_false(info.fetched);
    assert_false(info.stale);
    char *idx = index_checked(w->dir);
    assert_null(strstr(idx, "last fetched"));
    free(idx);

    /* A fetch an hour after the bundle was signed: shown, fresh, the name kept. */
    struct library_publisher pub = pub_named(&w->k, "Fetch <Gazette>");
    note_ok(w->dir, &pub, 1, T0 + 3 * HOUR, 48 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "<h2>Fetch &lt;Gazette&gt;</h2>"));
    assert_non_null(strstr(idx, "last fetched: <time datetime=\"2024-08-29T13:00:00Z\">"));
    assert_non_null(
        strstr(idx, "newest bundle: #1, signed <time datetime=\"2024-08-29T12:00:00Z\">"));
    assert_non_null(strstr(idx, "Newest article: <time datetime=\"2024-08-29T11:00:00Z\">"));
    assert_null(strstr(idx, "class=\"warn\""));
    assert_null(strstr(idx, "class=\"alarm\""));
    free(idx);
    assert_info(w->dir, &w->k, &info);
    assert_true(info.fetched);
    assert_int_equal(info.last_fetch, T0 + 3 * HOUR);
    assert_int_equal(info.stale_after_s, 48 * HOUR);
    assert_false(info.stale);
    assert_false(info.equivocation_seen);
    assert_false(info.equivocation_reported);

    /* A later library_add without names (an unpack) keeps the name and the fetch. */
    struct sz_article a = art("later", "Later", T0 + 4 * HOUR, SZ_CTYPE_PLAIN, "later");
    struct made m2 = make_bundle(&w->k, 2, T0 + 4 * HOUR, &a, 1);
    add_ok(w->dir, &m2, 1, NULL);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "<h2>Fetch &lt;Gazette&gt;</h2>"));
    assert_non_null(strstr(idx, "last fetched: <time datetime=\"2024-08-29T13:00:00Z\">"));
    assert_non_null(strstr(idx, "newest bundle: #2"));
    free(idx);

    /* A fetch without a name keeps the name too; the time moves on. */
    pub.name = NULL;
    note_ok(w->dir, &pub, 1, T0 + 5 * HOUR, 48 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "<h2>Fetch &lt;Gazette&gt;</h2>"));
    assert_non_null(strstr(idx, "last fetched: <time datetime=\"2024-08-29T15:00:00Z\">"));
    free(idx);
    made_free(&m);
    made_free(&m2);
}

/*
 * A newest bundle dated ahead of the reader's clock (its clock, or the
 * publisher's, is wrong): index.html says so, since no staleness warning can
 * show for that publisher until the date has passed.
 */
static void
test_fetch_dated_ahead(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 3); /* signed T0 + 2 h */
    struct library_publisher pub = pub_named(&w->k, "Early Bird");
    const char *ahead = "The newest bundle from Early Bird is dated ";
    add_ok(w->dir, &m, 1, NULL);

    /* Fetched 3 days before the signing time: the box, with both times. */
    note_ok(w->dir, &pub, 1, T0 + 2 * HOUR - 3 * DAY, 48 * HOUR, NULL);
    char *idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "The newest bundle from Early Bird is dated 3 days ahead of this "
                                "computer&#39;s clock: check this computer&#39;s date and time"));
    assert_int_equal(count(idx, "<div class=\"warn\""), 1);
    assert_null(strstr(idx, STALE_MSG));
    free(idx);

    /* Within the hour: clocks drift, nothing is said. */
    note_ok(w->dir, &pub, 1, T0 + 2 * HOUR - 50 * 60, 48 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_null(strstr(idx, ahead));
    assert_null(strstr(idx, "class=\"warn\""));
    free(idx);

    /* Once the clock is right the box goes; the fetch that finds the bundle
     * old warns as always. */
    note_ok(w->dir, &pub, 1, T0 + 2 * HOUR + 5 * DAY, 48 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_null(strstr(idx, ahead));
    assert_non_null(strstr(idx, STALE_MSG));
    free(idx);
    made_free(&m);
}

static void
test_fetch_stale(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 3); /* signed T0 + 2 h */
    struct library_publisher_info info;
    struct library_publisher pub = pub_named(&w->k, "Stale Times");
    add_ok(w->dir, &m, 1, NULL);

    /* Just under the threshold: no warning. */
    note_ok(w->dir, &pub, 1, T0 + 2 * HOUR + 48 * HOUR, 48 * HOUR, NULL);
    char *idx = index_checked(w->dir);
    assert_null(strstr(idx, STALE_MSG));
    assert_null(strstr(idx, "class=\"warn\""));
    free(idx);

    /* Five days later: the box, in the section and at the top. */
    note_ok(w->dir, &pub, 1, T0 + 2 * HOUR + 5 * DAY + 60, 48 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "No new bundle from Stale Times for 5 days: " STALE_MSG "."));
    assert_non_null(strstr(idx, "the warning shows after 48 hours"));
    assert_int_equal(count(idx, "<div class=\"warn\""), 2);
    assert_null(strstr(idx, "class=\"alarm\""));
    free(idx);
    assert_info(w->dir, &w->k, &info);
    assert_true(info.stale);

    /* The threshold is the fetch's: with a week, the same age is fine. */
    note_ok(w->dir, &pub, 1, T0 + 2 * HOUR + 5 * DAY + 60, 7 * DAY, NULL);
    idx = index_checked(w->dir);
    assert_null(strstr(idx, STALE_MSG));
    free(idx);

    /* 0 asks for no warning, whatever the age. */
    note_ok(w->dir, &pub, 1, T0 + 2 * HOUR + 5 * DAY + 60, 0, NULL);
    idx = index_checked(w->dir);
    assert_null(strstr(idx, STALE_MSG));
    assert_null(strstr(idx, "class=\"warn\""));
    free(idx);
    assert_info(w->dir, &w->k, &info);
    assert_false(info.stale);

    /* Under two days the age is in hours. */
    note_ok(w->dir, &pub, 1, T0 + 2 * HOUR + 30 * HOUR, 24 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "No new bundle from Stale Times for 30 hours"));
    free(idx);

    /* A newer bundle arrives (unpacked from a USB stick): the warning goes. */
    note_ok(w->dir, &pub, 1, T0 + 2 * HOUR + 5 * DAY, 48 * HOUR, NULL);
    struct sz_article a = art("fresh", "Fresh", T0 + 5 * DAY, SZ_CTYPE_PLAIN, "fresh");
    struct made m2 = make_bundle(&w->k, 4, T0 + 5 * DAY, &a, 1);
    add_ok(w->dir, &m2, 1, NULL);
    idx = index_checked(w->dir);
    assert_null(strstr(idx, STALE_MSG));
    free(idx);
    assert_info(w->dir, &w->k, &info);
    assert_false(info.stale);

    /* A trusted publisher with nothing in the library yet gets a section. */
    struct key other = new_key();
    struct library_publisher pubs[2] = {pub, pub_named(&other, "Silent Voice")};
    note_ok(w->dir, pubs, 2, T0 + 5 * DAY + HOUR, 48 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "<h2>Silent Voice</h2>"));
    assert_non_null(strstr(idx, "No bundle from Silent Voice has reached this library yet"));
    assert_non_null(strstr(idx, "no bundle yet &middot; last fetched: "));
    assert_null(strstr(idx, "No new bundle from Stale Times"));
    free(idx);
    assert_info(w->dir, &other, &info);
    assert_false(info.has_bundle);
    assert_true(info.fetched);
    assert_true(info.stale);

    /* Taken out of the trust file: a publisher nothing came from is forgotten
     * by the next fetch (its warnings stayed for good before); one with
     * bundles here keeps its record when a fetch does not ask for it. */
    note_ok(w->dir, &pub, 1, T0 + 5 * DAY + 2 * HOUR, 48 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_null(strstr(idx, "Silent Voice"));
    assert_null(strstr(idx, "class=\"warn\""));
    free(idx);
    assert_info(w->dir, &other, &info);
    assert_false(info.fetched);
    note_ok(w->dir, &pubs[1], 1, T0 + 5 * DAY + 3 * HOUR, 48 * HOUR, NULL);
    assert_info(w->dir, &w->k, &info);
    assert_true(info.fetched);
    made_free(&m);
    made_free(&m2);
}

/* Writes an empty file dir/rel. */
static void
touch(const char *dir, const char *rel)
{
    char path[2 * PATH_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
}

static bool
lib_has_file(const char *dir, const char *rel)
{
    char path[2 * PATH_MAX + 2];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return lstat(path, &st) == 0;
}

/*
 * A writer killed while writing leaves temporaries (".tmp-*") in article
 * folders, the library's folder and its state folder: the next writer removes
 * them. A library whose last writer finished is not searched.
 */
static void
test_dead_writer_temporaries(void **state)
{
    struct world *w = *state;
    struct sz_article a = art("x", "One", T0, SZ_CTYPE_PLAIN, "one");
    struct sz_article b = art("y", "Two", T0, SZ_CTYPE_PLAIN, "two");
    struct made m1 = make_bundle(&w->k, 1, T0, &a, 1);
    struct made m2 = make_bundle(&w->k, 2, T0, &b, 1);
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], rel[PATH_MAX];

    add_ok(w->dir, &m1, 1, NULL);
    assert_false(lib_has_file(w->dir, ".samizdat/writing"));
    sz_hex(w->k.pk, SZ_PUBLIC_KEY_LEN, hex);
    snprintf(rel, sizeof rel, "%s/x/.tmp-99999-0-1", hex);
    /* Not after a writer that finished: a file of that name is left alone. */
    touch(w->dir, rel);
    add_ok(w->dir, &m2, 1, NULL);
    assert_true(lib_has_file(w->dir, rel));
    /* After one that died writing (its mark still there): gone, and the mark too. */
    touch(w->dir, ".samizdat/writing");
    touch(w->dir, ".tmp-99999-0-2");
    touch(w->dir, ".samizdat/.tmp-99999-0-3");
    touch(w->dir, ".samizdat/bundles/.tmp-99999-0-4");
    struct library_publisher pub = pub_named(&w->k, "Herald");
    note_ok(w->dir, &pub, 1, T0 + HOUR, 48 * HOUR, NULL);
    assert_false(lib_has_file(w->dir, rel));
    assert_false(lib_has_file(w->dir, ".tmp-99999-0-2"));
    assert_false(lib_has_file(w->dir, ".samizdat/.tmp-99999-0-3"));
    assert_false(lib_has_file(w->dir, ".samizdat/bundles/.tmp-99999-0-4"));
    assert_false(lib_has_file(w->dir, ".samizdat/writing"));
    snprintf(rel, sizeof rel, "%s/y/index.html", hex);
    assert_true(lib_has_file(w->dir, rel));
    made_free(&m1);
    made_free(&m2);
}

/*
 * Names Windows cannot give a file or folder (a FAT or exFAT stick too):
 * device names with or without an extension, and a trailing dot. Such ids get
 * a folder "<id>~2" ("aux~2.x": "aux.x~2" would name the device), such
 * attachments a "_" in front; near misses keep theirs.
 */
static void
test_windows_names(void **state)
{
    struct world *w = *state;
    static const char *const ids[] = {"nul",   "CON", "com3",    "Lpt9", "report.",
                                      "aux.x", "com", "console", "com0", "nullish"};
    static const char *const want[] = {"nul~2",   "CON~2", "com3~2",  "Lpt9~2", "report.~2",
                                       "aux~2.x", "com",   "console", "com0",   "nullish"};
    struct sz_article a[10];
    struct sz_attachment att = {S("aux.png"), S("image/png"), test_png, sizeof test_png};
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], rel[PATH_MAX];

    for (size_t k = 0; k < 10; k++)
        a[k] = art(ids[k], "Title", T0, SZ_CTYPE_PLAIN, "text");
    a[6].atts = &att;
    a[6].n_atts = 1;
    struct made m = make_bundle(&w->k, 1, T0, a, 10);
    add_ok(w->dir, &m, 1, NULL);
    sz_hex(w->k.pk, SZ_PUBLIC_KEY_LEN, hex);
    for (size_t k = 0; k < 10; k++) {
        snprintf(rel, sizeof rel, "%s/%s/index.html", hex, want[k]);
        if (!lib_has_file(w->dir, rel))
            fail_msg("article %s: no page at %s", ids[k], rel);
    }
    snprintf(rel, sizeof rel, "%s/com/_aux.png", hex);
    assert_true(lib_has_file(w->dir, rel));
    snprintf(rel, sizeof rel, "%s/com/aux.png", hex);
    assert_false(lib_has_file(w->dir, rel));
    made_free(&m);
}

static void
test_fetch_equivocation_shown(void **state)
{
    struct world *w = *state;
    struct library_publisher_info info;

    /* Seen locally: two bundles with sequence 4, no fetch needed. */
    struct sz_article a = art("x", "One", T0, SZ_CTYPE_PLAIN, "one");
    struct sz_article b = art("x", "Other", T0, SZ_CTYPE_PLAIN, "other");
    struct made m1 = make_bundle(&w->k, 4, T0, &a, 1);
    struct made m2 = make_bundle(&w->k, 4, T0, &b, 1);
    struct library_publisher pub = pub_named(&w->k, "Herald");
    char err[512];
    assert_int_equal(add(w->dir, &m1, 1, &pub, 1, NULL, err, sizeof err), 0);
    char *idx = index_checked(w->dir);
    assert_null(strstr(idx, EQUIV_MSG));
    assert_null(strstr(idx, "class=\"alarm\""));
    free(idx);
    add_ok(w->dir, &m2, 1, NULL);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "Publisher Herald " EQUIV_MSG " (#4): its key may be stolen."));
    assert_int_equal(count(idx, "<div class=\"alarm\" role=\"alert\">"), 2);
    /* The warning at the top comes before any article. */
    assert_true(strstr(idx, "class=\"alarm\"") < strstr(idx, "<ol class=\"articles\">"));
    free(idx);
    assert_info(w->dir, &w->k, &info);
    assert_true(info.equivocation_seen);
    assert_int_equal(info.equivocation_seq, 4);
    assert_false(info.equivocation_reported);

    /* Reported by a peer for another publisher: shown, kept by a note without
     * reports (NULL), dropped by a later fetch in which no peer reports it (a
     * claim is not proof: a lying peer's alarm must not stay for good). */
    struct key k2 = new_key();
    struct sz_article c = art("y", "Why", T0, SZ_CTYPE_PLAIN, "why");
    struct made m3 = make_bundle(&k2, 1, T0, &c, 1);
    add_ok(w->dir, &m3, 1, NULL);
    struct library_publisher pubs[2] = {pub, pub_named(&k2, "Courier")};
    bool eq[2] = {false, true};
    note_ok(w->dir, pubs, 2, T0 + HOUR, 48 * HOUR, eq);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "A peer reported during the fetch of <time "
                                "datetime=\"2024-08-29T11:00:00Z\">2024-08-29 11:00 UTC</time> "
                                "that publisher Courier " EQUIV_MSG));
    assert_non_null(strstr(idx, "Publisher Herald " EQUIV_MSG));
    free(idx);
    note_ok(w->dir, pubs, 2, T0 + 90 * 60, 48 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "that publisher Courier " EQUIV_MSG));
    free(idx);
    assert_info(w->dir, &k2, &info);
    assert_false(info.equivocation_seen);
    assert_true(info.equivocation_reported);
    assert_int_equal(info.equivocation_reported_at, T0 + HOUR);
    eq[1] = false;
    note_ok(w->dir, pubs, 2, T0 + 2 * HOUR, 48 * HOUR, eq);
    idx = index_checked(w->dir);
    assert_null(strstr(idx, "that publisher Courier " EQUIV_MSG));
    assert_non_null(strstr(idx, "Publisher Herald " EQUIV_MSG)); /* proof stays */
    free(idx);
    assert_info(w->dir, &k2, &info);
    assert_false(info.equivocation_seen);
    assert_false(info.equivocation_reported);

    /* An honest publisher in the same library gets no alarm about itself. */
    struct key k3 = new_key();
    struct made m4 = make_bundle(&k3, 1, T0, &c, 1);
    add_ok(w->dir, &m4, 1, NULL);
    assert_info(w->dir, &k3, &info);
    assert_false(info.equivocation_seen);
    assert_false(info.equivocation_reported);
    made_free(&m1);
    made_free(&m2);
    made_free(&m3);
    made_free(&m4);
}

static void
write_pstate(const char *dir, const void *data, size_t len)
{
    char *p = path_of("%s/.samizdat/publishers.idx", dir);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(p);
}

static void
test_fetch_damaged_state(void **state)
{
    struct world *w = *state;
    struct made m = three_articles(&w->k, 1);
    struct sz_article a = art("later", "Later", T0, SZ_CTYPE_PLAIN, "later");
    struct made m2 = make_bundle(&w->k, 2, T0, &a, 1);
    struct key k2 = new_key();
    struct library_publisher pubs[2] = {pub_named(&w->k, "One"), pub_named(&k2, "Two")};
    struct library_publisher_info info;
    bool eq[2] = {true, false};
    char err[512];
    add_ok(w->dir, &m, 1, NULL);

    assert_int_equal(library_note_fetch(w->dir, pubs, 2, T0, -1, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid"));
    assert_int_equal(library_note_fetch(w->dir, NULL, 2, T0, 0, NULL, err, sizeof err), -1);

    note_ok(w->dir, pubs, 2, T0 + DAY, 1, eq);
    size_t len;
    char *p = path_of("%s/.samizdat/publishers.idx", w->dir);
    char *good = slurp(p, &len);
    free(p);
    assert_non_null(good);
    assert_non_null(strstr(good, "samizdat-publishers 1\nF "));

    /* Every prefix and every single-byte corruption: a clean error or a clean parse. */
    for (size_t n = 0; n <= len; n++) {
        write_pstate(w->dir, good, n);
        int r = library_publisher_info(w->dir, w->k.pk, &info, err, sizeof err);
        assert_true(r == 0 || r == -1);
        if (r < 0)
            assert_non_null(strstr(err, "publishers.idx is damaged"));
        if (n > 0 && good[n - 1] != '\n')
            assert_int_equal(r, -1);
    }
    for (size_t k = 0; k < len; k++) {
        static const char junk[] = {'\0', ' ', '\n', '%', 'Z', ',', '-', (char)0xff};
        for (size_t j = 0; j < sizeof junk; j++) {
            char *bad = malloc(len);
            assert_non_null(bad);
            memcpy(bad, good, len);
            bad[k] = junk[j];
            write_pstate(w->dir, bad, len);
            int r = library_publisher_info(w->dir, w->k.pk, &info, err, sizeof err);
            assert_true(r == 0 || r == -1);
            free(bad);
        }
    }
    static const char *const cases[] = {
        "",
        "samizdat-publishers 2\n",
        "samizdat-library 1\n",
        "samizdat-publishers 1\nF 00 1 1 -\n",
        "samizdat-publishers 1\nF "
        "0000000000000000000000000000000000000000000000000000000000000000 1 -5 -\n",
        "samizdat-publishers 1\nF "
        "0000000000000000000000000000000000000000000000000000000000000000 1 1 x\n",
        "samizdat-publishers 1\nF "
        "0000000000000000000000000000000000000000000000000000000000000000 1 1\n",
        "samizdat-publishers 1\nF "
        "0000000000000000000000000000000000000000000000000000000000000000 1 1 -\nF "
        "0000000000000000000000000000000000000000000000000000000000000000 2 1 -\n",
        "samizdat-publishers 1\nN x\n",
        "samizdat-publishers 1\n\n",
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_pstate(w->dir, cases[k], strlen(cases[k]));
        assert_int_equal(library_note_fetch(w->dir, pubs, 2, T0, 0, NULL, err, sizeof err), -1);
        assert_non_null(strstr(err, "publishers.idx is damaged"));
        assert_non_null(strstr(err, "move it away"));
        assert_int_equal(add(w->dir, &m2, 1, NULL, 0, NULL, err, sizeof err), -1);
        assert_non_null(strstr(err, "publishers.idx is damaged"));
        assert_int_equal(library_publisher_info(w->dir, w->k.pk, &info, err, sizeof err), -1);
    }
    /* Nothing was written meanwhile: index.html still shows the good state. */
    char *idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "<h2>Two</h2>"));
    free(idx);

    /* Restored, it works again and keeps what it held. */
    write_pstate(w->dir, good, len);
    assert_int_equal(add(w->dir, &m2, 1, NULL, 0, NULL, err, sizeof err), 0);
    assert_info(w->dir, &w->k, &info);
    assert_true(info.fetched);
    assert_int_equal(info.last_fetch, T0 + DAY);
    assert_true(info.equivocation_reported);
    assert_true(info.stale);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "<h2>One</h2>"));
    assert_non_null(strstr(idx, "No bundle from Two has reached this library yet"));
    free(idx);
    free(good);
    made_free(&m);
    made_free(&m2);
}

/* ---- the sanitizer, table-driven ---- */

struct san_case {
    const char *in;
    size_t in_len;
    const char *want;
};

#define SC(in, want)                                                                               \
    {                                                                                              \
        in, sizeof(in) - 1, want                                                                   \
    }

static const struct san_case san_cases[] = {
    SC("<p>Hello</p>", "<p>Hello</p>"),
    SC("<script>alert(1)</script>ok", "ok"),
    SC("<SCRIPT src=x></SCRIPT >ok", "ok"),
    SC("<script>if (a</script>b) {}</script>ok", "b) {}ok"),
    SC("<img src=x onerror=alert(1)>", "<img src=\"x\">"),
    SC("<a href=\"javascript:alert(1)\">x</a>", "<a>x</a>"),
    SC("<a href=\"java&#x09;script:alert(1)\">x</a>", "<a>x</a>"),
    SC("<a href=\"&#106;avascript&colon;alert(1)\">x</a>", "<a>x</a>"),
    SC("<a href=\" JaVaScRiPt:alert(1)\">x</a>", "<a>x</a>"),
    SC("<a href=\"https://example.org/?a=1&amp;b=2\">x</a>",
       "<a href=\"https://example.org/?a=1&amp;b=2\">x</a>"),
    SC("<a href=\"mailto:a@b.example\">m</a>", "<a href=\"mailto:a@b.example\">m</a>"),
    SC("<a href=\"//evil.example/\">x</a>", "<a>x</a>"),
    SC("<a href=x ping=https://t.example>y</a>", "<a href=\"x\">y</a>"),
    SC("<img src=\"https://evil.example/x.png\">", "<img>"),
    SC("<img src=\"//evil.example/x.png\">", "<img>"),
    SC("<img src=\"\\\\evil.example\\x.png\">", "<img>"),
    SC("<img src=\"/etc/x.png\">", "<img>"),
    SC("<img src=\"data:image/png;base64,AAAA\">", "<img src=\"data:image/png;base64,AAAA\">"),
    SC("<img src=\"data:text/html,x\">", "<img>"),
    SC("<img srcset=\"a.png 1x, https://x.example/b.png 2x\">", "<img>"),
    SC("<img srcset=\"a.png 1x, b.png 2x\">", "<img srcset=\"a.png 1x, b.png 2x\">"),
    /* A URL parser drops a candidate's leading control characters: //host. */
    SC("<img srcset=\"a.png 1x, &#1;//x.example/b.png 2x\">", "<img>"),
    SC("<img srcset=\"a.png 1x,\x1f//x.example/b.png 2x\">", "<img>"),
    SC("<img srcset=\"a.png 1x, &#9;\\\\x.example\\b.png 2x\">", "<img>"),
    SC("<img src=\"photo.jpg\" alt='a \"b\"'>", "<img src=\"photo.jpg\" alt=\"a &quot;b&quot;\">"),
    SC("<meta http-equiv=refresh content=\"0;url=https://x.example\">t", "t"),
    SC("<link rel=dns-prefetch href=//x.example>t", "t"),
    SC("<base href=https://x.example/>t", "t"),
    SC("<iframe src=x>inner</iframe>t", "t"),
    SC("<object data=https://x.example>fallback</object>t", "t"),
    SC("<embed src=https://x.example>t", "t"),
    SC("<style>@import url(https://x.example)</style>t", "t"),
    SC("<template><script>x</script><p>t</p></template>ok", "ok"),
    SC("<noscript><img src=https://t.example></noscript>ok", "ok"),
    SC("<textarea></div><script>x</script></textarea>t", "t"),
    SC("<form action=https://x.example><input formaction=https://y.example></form>",
       "<form><input></form>"),
    SC("<p style=\"color:red\">x</p>", "<p style=\"color:red\">x</p>"),
    SC("<p style=\"background:url(https://x.example)\">x</p>", "<p>x</p>"),
    SC("<p style=\"background:u&#114;l(https://x.example)\">x</p>", "<p>x</p>"),
    SC("<svg cursor='image-set(\"https://x.example/a.png\" 1x), auto'>x</svg>", "<svg>x</svg>"),
    SC("<svg><rect fill=\"-webkit-image-set('//x.example/a.png' 1x)\"/></svg>",
       "<svg><rect></rect></svg>"),
    SC("<svg><rect fill=\"CROSS-FADE(&quot;//x.example/a&quot;)\"/></svg>",
       "<svg><rect></rect></svg>"),
    SC("<img src=\"a.png\" alt=\"photo (2024)\">", "<img src=\"a.png\" alt=\"photo (2024)\">"),
    SC("<div onclick=\"x\" id=c>t</div>", "<div id=\"c\">t</div>"),
    /* The page's classes would dress the publisher's markup as the page's own
     * warnings; only a code block's language stays. */
    SC("<div class=\"alarm\" role=\"alert\">Key stolen</div>",
       "<div role=\"alert\">Key stolen</div>"),
    SC("<code class=\"language-c++\">x</code>", "<code class=\"language-c++\">x</code>"),
    SC("<code class=\"language-c key\">x</code>", "<code>x</code>"),
    SC("<code class=\"language-\">x</code>", "<code>x</code>"),
    /* A link cannot be stretched invisibly over the article. */
    SC("<a href=\"https://x.example/\" style=\"display:block;height:3000px\">t</a>",
       "<a href=\"https://x.example/\">t</a>"),
    SC("<p style=\"color:red\">t</p>", "<p style=\"color:red\">t</p>"),
    SC("<img src=\"a.png\" attributionsrc=\"https://x.example/\">", "<img src=\"a.png\">"),
    SC("</div></article></body>t", "t"),
    SC("<div><b>x", "<div><b>x</b></div>"),
    SC("<!-- <script>x</script> -->t", "t"),
    SC("<!-->t", "t"),
    SC("a < b > c", "a &lt; b > c"),
    SC("a\0b", "a\xef\xbf\xbd"
               "b"),
    SC("ok<div class=\"x", "ok"),
    SC("<html><head><title>T</title><style>p{}</style></head><body><p>x</p></body></html>",
       "<p>x</p>"),
    SC("<head><meta charset=x><body>y", "y"),
    SC("<svg><use href=\"#a\"/><image href=\"https://x.example/y.png\"/></svg>",
       "<svg><use href=\"#a\"></use><image></image></svg>"),
    SC("<svg><a xlink:href=\"javascript:alert(1)\">x</a><set attributeName=href to=x/></svg>",
       "<svg><a>x</a></svg>"),
    SC("<p title=\"a &amp; b\">x</p>", "<p title=\"a &amp; b\">x</p>"),
    SC("<p x=\"1\"\"y\"=2>z</p>", "<p x=\"1\">z</p>"),
    SC("<a\thref=\"x\"\nid=y>z</a>", "<a href=\"x\" id=\"y\">z</a>"),
    SC("<p>x<p>y", "<p>x</p><p>y</p>"),
    SC("</ >t</>u", "tu"),
    /* A page is <library>/<publisher>/<article>/index.html: two ".." reach the
     * library, a third would name any file on the reader's disk. */
    SC("<img src=\"../../other/x.png\">", "<img src=\"../../other/x.png\">"),
    SC("<img src=\"../../../x.png\">", "<img>"),
    SC("<img src=\"a/b/../../../../x.png\">", "<img src=\"a/b/../../../../x.png\">"),
    SC("<img src=\"a/../../../../x.png\">", "<img>"),
    SC("<img src=\".%2e/%2E%2e/..\\x.png\">", "<img>"),
    SC("<img src=\"..%2e/x.png\">", "<img src=\"..%2e/x.png\">"), /* three dots: a name */
    SC("<img src=\"../../../../../../../../tmp/secret.png\">", "<img>"),
    SC("<img src=\"x.png?../../../../a\">", "<img src=\"x.png?../../../../a\">"),
    SC("<img srcset=\"a.png 1x, ../../../../etc/b.png 2x\">", "<img>"),
    /* The HTML parser splits srcset on white space only: a control character
     * stays in the URL's path, and a tab ends the URL. */
    SC("<img srcset=\"x&#1;/../../../../../../../../../tmp/secret.png 1x\">", "<img>"),
    SC("<img srcset=\"x\x01/../../../../../../../../../tmp/secret.png 1x\">", "<img>"),
    SC("<img srcset=\"../../../../../..&#9;1x\">", "<img>"),
    SC("<img srcset=\"a.png&#9;1x,&#10;b.png 2x\">", "<img srcset=\"a.png\t1x,\nb.png 2x\">"),
    SC("<img srcset=\"a.png,b.png 1x\">", "<img srcset=\"a.png,b.png 1x\">"),
    SC("<img srcset=\"a.png (1x, ../../../../../x.png)\">", "<img>"),
    SC("<a href=\"../../../../../../etc/passwd\">x</a>", "<a>x</a>"),
    SC("<a href=\"../../pub/art/index.html\">x</a>", "<a href=\"../../pub/art/index.html\">x</a>"),
    /* Popovers, invoker commands and anchors: the top layer escapes the body's box. */
    SC("<div popover id=p>x</div><button commandfor=p command=show-popover>b</button>",
       "<div id=\"p\">x</div><button>b</button>"),
    SC("<a interestfor=p anchor=q href=x>y</a>", "<a href=\"x\">y</a>"),
};

static void
test_sanitizer_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof san_cases / sizeof san_cases[0]; k++) {
        const struct san_case *c = &san_cases[k];
        struct sz_wr w;
        sz_wr_init(&w, 1 << 20);
        render_sanitize_html(&w, (const uint8_t *)c->in, c->in_len);
        assert_int_equal(sz_wr_status(&w), 0);
        char *got = strndup(w.p == NULL ? "" : (const char *)w.p, w.len);
        if (strcmp(got, c->want) != 0)
            fail_msg("case %zu: %s\n  got:  %s\n  want: %s", k, c->in, got, c->want);
        free(got);
        sz_wr_free(&w, false);
    }
}

/* Every prefix of a nasty input: no crash, never an unescaped script. */
static void
test_sanitizer_prefixes(void **state)
{
    (void)state;
    static const char in[] =
        "<div a='x>y' b=\"<script>\"><!-- c --><svg><script>x</script></svg><p style=\"x\">"
        "<a href=\"&#x6a;avascript:1\">q</a><textarea><img></textarea><img src=a.png></div>";
    for (size_t n = 0; n <= sizeof in - 1; n++) {
        struct sz_wr w;
        sz_wr_init(&w, 1 << 20);
        render_sanitize_html(&w, (const uint8_t *)in, n);
        assert_int_equal(sz_wr_status(&w), 0);
        char *got = strndup(w.p == NULL ? "" : (const char *)w.p, w.len);
        assert_null(strstr(got, "<script"));
        assert_null(strstr(got, "<textarea"));
        assert_null(strstr(got, "javascript"));
        free(got);
        sz_wr_free(&w, false);
    }
}

/*
 * The element and attribute policy, name by name. The sanitizer looks names up
 * in its own sorted tables; these lists are the policy those tables must encode.
 * Every name in them (in upper case too) and names one letter off each are run
 * through the sanitizer in inputs whose output tells the classes apart.
 */
static const char *const pol_raw_text[] = {"script",   "style",    "xmp",   "iframe",   "noembed",
                                           "noframes", "noscript", "title", "textarea", NULL};
static const char *const pol_drop_content[] = {
    "script",   "style",    "xmp",    "iframe", "noembed",  "noframes", "noscript", "title",
    "textarea", "template", "object", "applet", "frameset", "head",     "select",   NULL};
static const char *const pol_drop_tag[] = {
    "html",      "body",        "meta",    "link",          "base",
    "embed",     "param",       "keygen",  "portal",        "frame",
    "plaintext", "set",         "animate", "animatemotion", "animatetransform",
    "discard",   "fencedframe", NULL};
static const char *const pol_void[] = {"area",   "base",  "br",    "col",    "embed", "hr",
                                       "img",    "image", "input", "link",   "meta",  "param",
                                       "source", "track", "wbr",   "keygen", NULL};
static const char *const pol_link_elems[] = {"a", "area", NULL};
/* Tree construction: a start tag that closes an open element of its own name
 * (the output then closes it explicitly), and table parts outside a table. */
static const char *const pol_closes_same[] = {"p",      "a",    "li",     "dd", "dt",
                                              "button", "nobr", "option", "h1", "h2",
                                              "h3",     "h4",   "h5",     "h6", NULL};
static const char *const pol_table_parts[] = {"caption", "col", "colgroup", "tbody", "td",
                                              "tfoot",   "th",  "thead",    "tr",    NULL};
static const char *const pol_drop_attrs[] = {
    "ping",       "data-online",   "srcdoc",        "http-equiv",  "action",
    "formaction", "manifest",      "codebase",      "archive",     "classid",
    "profile",    "attributename", "nonce",         "xmlns:xlink", "xml:base",
    "is",         "popovertarget", "fetchpriority", "popover",     "popovertargetaction",
    "command",    "commandfor",    "interestfor",   "anchor",      "attributionsrc",
    NULL};
static const char *const pol_resource_attrs[] = {"src",    "poster", "data",     "background",
                                                 "lowsrc", "dynsrc", "longdesc", NULL};
static const char *const pol_data_image_attrs[] = {"src", "poster", NULL};
static const char *const pol_srcset_attrs[] = {"srcset", "imagesrcset", NULL};
static const char *const pol_href_attrs[] = {"href", "xlink:href", NULL};
static const char *const pol_style_attrs[] = {"style", NULL};
/* Kept only as one "language-NAME" (none of the values below is). */
static const char *const pol_class_attrs[] = {"class", NULL};

static bool
pol_listed(const char *name, const char *const *list)
{
    for (size_t k = 0; list[k] != NULL; k++)
        if (strcmp(name, list[k]) == 0)
            return true;
    return false;
}

/* Writes the probes for name into probes[5] (upper case, one letter more,
 * one less, one changed): the name itself is probed by the caller. */
static size_t
pol_near_misses(const char *name, char probes[5][40])
{
    size_t n = strlen(name), m = 0;
    for (size_t k = 0; k <= n; k++)
        probes[m][k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 'a' + 'A' : name[k]);
    m++;
    snprintf(probes[m++], 40, "%sx", name);
    snprintf(probes[m++], 40, "x%s", name);
    if (n > 1) {
        snprintf(probes[m], 40, "%.*s", (int)(n - 1), name);
        m++;
    }
    snprintf(probes[m], 40, "%s", name);
    probes[m][n - 1] = name[n - 1] == 'z' ? 'a' : (char)(name[n - 1] + 1);
    m++;
    return m;
}

static void
pol_lower(const char *in, char *out)
{
    size_t k = 0;
    for (; in[k] != '\0'; k++)
        out[k] = (char)(in[k] >= 'A' && in[k] <= 'Z' ? in[k] - 'A' + 'a' : in[k]);
    out[k] = '\0';
}

static void
pol_expect(const char *in, const char *want)
{
    struct sz_wr w;
    sz_wr_init(&w, 1 << 20);
    render_sanitize_html(&w, (const uint8_t *)in, strlen(in));
    assert_int_equal(sz_wr_status(&w), 0);
    char *got = strndup(w.p == NULL ? "" : (const char *)w.p, w.len);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n  got:  %s\n  want: %s", in, got, want);
    free(got);
    sz_wr_free(&w, false);
}

static void
pol_check_tag(const char *probe)
{
    char t[40], in[256], want[256];
    pol_lower(probe, t);
    /* Nested in itself: tells raw text, dropped content, dropped tag, void and kept apart. */
    snprintf(in, sizeof in, "<%s><%s>x</%s>y</%s>z", probe, probe, probe, probe);
    if (pol_listed(t, pol_raw_text))
        snprintf(want, sizeof want, "yz");
    else if (pol_listed(t, pol_drop_content))
        snprintf(want, sizeof want, "z");
    else if (pol_listed(t, pol_drop_tag))
        snprintf(want, sizeof want, "xyz");
    else if (pol_listed(t, pol_table_parts))
        snprintf(want, sizeof want, "xyz"); /* ignored outside a table, as browsers do */
    else if (pol_listed(t, pol_void))
        snprintf(want, sizeof want, "<%s><%s>xyz", t, t);
    else if (pol_listed(t, pol_closes_same))
        snprintf(want, sizeof want, "<%s></%s><%s>x</%s>yz", t, t, t, t);
    else
        snprintf(want, sizeof want, "<%s><%s>x</%s>y</%s>z", t, t, t, t);
    pol_expect(in, want);
    /* Inside an element dropped with its content, raw text still hides "</template>". */
    snprintf(in, sizeof in, "<template><%s></template></%s>x</template>y", probe, probe);
    pol_expect(in, pol_listed(t, pol_raw_text) ? "y" : "xy");
}

static void
pol_check_attr(const char *probe)
{
    /* K: kept, D: dropped, for each value below. */
    static const char *const values[] = {"u.png", "http://h/", "data:image/png,x", "a.png, /b.png",
                                         "//h/x"};
    static const char *const elems[] = {"p", "a", "area"};
    char a[40];
    pol_lower(probe, a);
    for (size_t e = 0; e < sizeof elems / sizeof elems[0]; e++) {
        const char *el = elems[e], *keep;
        if ((a[0] == 'o' && a[1] == 'n') || pol_listed(a, pol_drop_attrs) ||
            pol_listed(a, pol_class_attrs))
            keep = "DDDDD";
        else if (pol_listed(a, pol_srcset_attrs))
            keep = "KDDDD";
        else if (pol_listed(a, pol_resource_attrs))
            keep = pol_listed(a, pol_data_image_attrs) ? "KDKKD" : "KDDKD";
        else if (pol_listed(a, pol_href_attrs))
            keep = pol_listed(el, pol_link_elems) ? "KKDKD" : "KDDKD";
        else if (pol_listed(a, pol_style_attrs))
            keep = pol_listed(el, pol_link_elems) ? "DDDDD" : "KKDKK";
        else
            keep = "KKKKK";
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char in[256], want[256];
            const char *end = pol_listed(el, pol_void) ? ""
                              : strcmp(el, "a") == 0   ? "</a>"
                                                       : "</p>";
            snprintf(in, sizeof in, "<%s %s=\"%s\">t</%s>", el, probe, values[v], el);
            if (keep[v] == 'K')
                snprintf(want, sizeof want, "<%s %s=\"%s\">t%s", el, a, values[v], end);
            else
                snprintf(want, sizeof want, "<%s>t%s", el, end);
            pol_expect(in, want);
        }
    }
}

static void
test_sanitizer_name_policy(void **state)
{
    (void)state;
    const char *const *tag_lists[] = {pol_raw_text, pol_drop_content, pol_drop_tag, pol_void,
                                      pol_link_elems};
    const char *const *attr_lists[] = {pol_drop_attrs, pol_resource_attrs, pol_srcset_attrs,
                                       pol_href_attrs, pol_style_attrs,    pol_class_attrs};
    static const char *const others[] = {"p",   "div", "svg", "math", "b",  "x", "on",
                                         "one", "o",   "n",   "no",   "id", NULL};
    char probes[5][40];

    for (size_t l = 0; l < sizeof tag_lists / sizeof tag_lists[0]; l++)
        for (const char *const *name = tag_lists[l]; *name != NULL; name++) {
            pol_check_tag(*name);
            for (size_t k = 0, n = pol_near_misses(*name, probes); k < n; k++)
                pol_check_tag(probes[k]);
        }
    for (size_t l = 0; l < sizeof attr_lists / sizeof attr_lists[0]; l++)
        for (const char *const *name = attr_lists[l]; *name != NULL; name++) {
            pol_check_attr(*name);
            for (size_t k = 0, n = pol_near_misses(*name, probes); k < n; k++)
                pol_check_attr(probes[k]);
        }
    for (const char *const *name = others; *name != NULL; name++) {
        pol_check_tag(*name);
        pol_check_attr(*name);
    }
}

/* ---- raw HTML in Markdown, as in an HTML body (table-driven) ---- */

struct md_raw_case {
    const char *md;   /* a Markdown body */
    const char *html; /* an HTML body of the same markup */
    const char *want; /* both bodies as their pages show them */
};

static const struct md_raw_case md_raw_cases[] = {
    /* Inline markup is markup. */
    {"E = mc<sup>2</sup>, H<sub>2</sub>O, <em>em</em>, <kbd>Ctrl</kbd>",
     "<p>E = mc<sup>2</sup>, H<sub>2</sub>O, <em>em</em>, <kbd>Ctrl</kbd></p>",
     "<p>E = mc<sup>2</sup>, H<sub>2</sub>O, <em>em</em>, <kbd>Ctrl</kbd></p>"},
    {"one<br>two<br/>three", "<p>one<br>two<br/>three</p>", "<p>one<br>two<br>three</p>"},
    /* Blocks, with Markdown between them. */
    {"<figure>\n<img src=\"photo.png\" alt=\"p\">\n<figcaption>Caption *as written*</figcaption>\n"
     "</figure>",
     "<figure>\n<img src=\"photo.png\" alt=\"p\">\n<figcaption>Caption *as written*</figcaption>\n"
     "</figure>",
     "<figure>\n<img src=\"photo.png\" alt=\"p\">\n<figcaption>Caption *as written*</figcaption>\n"
     "</figure>"},
    {"<div>\n\n*md*\n\n</div>", "<div>\n<p><em>md</em></p>\n</div>\n",
     "<div>\n<p><em>md</em></p>\n</div>"},
    /* A picture that names an attachment shows it; one that names no file
     * of the article, and a link to one, lead nowhere. */
    {"<img src=\"photo.png\" alt=\"A photo\">", "<img src=\"photo.png\" alt=\"A photo\">",
     "<img src=\"photo.png\" alt=\"A photo\">"},
    {"<img src=\"missing.png\" alt=\"gone\"> <a href=\"notes.pdf\">notes</a>",
     "<p><img src=\"missing.png\" alt=\"gone\"> <a href=\"notes.pdf\">notes</a></p>",
     "<p><img alt=\"gone\"> <a>notes</a></p>"},
    /* Scripts, handlers, script links, remote loads and frames go. */
    {"Hello <script>alert(1)</script> world.", "<p>Hello <script>alert(1)</script> world.</p>",
     "<p>Hello  world.</p>"},
    {"<script>alert(1)</script>\n\nText.", "<script>alert(1)</script>\n<p>Text.</p>",
     "<p>Text.</p>"},
    {"<div onclick=\"alert(2)\" id=\"d\">block</div>",
     "<div onclick=\"alert(2)\" id=\"d\">block</div>", "<div id=\"d\">block</div>"},
    {"a <span onmouseover=\"x()\" title=\"t\">b</span>",
     "<p>a <span onmouseover=\"x()\" title=\"t\">b</span></p>",
     "<p>a <span title=\"t\">b</span></p>"},
    {"<a href=\"javascript:alert(3)\">click</a> <a href=\" JaVaScRiPt:x\">y</a>",
     "<p><a href=\"javascript:alert(3)\">click</a> <a href=\" JaVaScRiPt:x\">y</a></p>",
     "<p><a>click</a> <a>y</a></p>"},
    {"x <svg><a xlink:href=\"javascript:alert(1)\">y</a></svg>",
     "<p>x <svg><a xlink:href=\"javascript:alert(1)\">y</a></svg></p>",
     "<p>x <svg><a>y</a></svg></p>"},
    {"<img src=\"https://example.com/x.png\" alt=\"r\">",
     "<img src=\"https://example.com/x.png\" alt=\"r\">", "<img alt=\"r\">"},
    {"<img src=\"//example.com/x.png\" srcset=\"https://example.com/2x.png 2x\">",
     "<img src=\"//example.com/x.png\" srcset=\"https://example.com/2x.png 2x\">", "<img>"},
    {"<p style=\"background:url(https://x.example/a.png)\">t</p>",
     "<p style=\"background:url(https://x.example/a.png)\">t</p>", "<p>t</p>"},
    {"<iframe src=\"https://example.com/\"></iframe>\n\nText.",
     "<iframe src=\"https://example.com/\"></iframe>\n<p>Text.</p>", "<p>Text.</p>"},
    {"See <iframe src=\"https://example.com/\"></iframe> this.",
     "<p>See <iframe src=\"https://example.com/\"></iframe> this.</p>", "<p>See  this.</p>"},
    {"<meta http-equiv=\"refresh\" content=\"0;url=https://x.example/\">\n"
     "<link rel=\"prefetch\" href=\"https://x.example/\">\n\nText.",
     "<meta http-equiv=\"refresh\" content=\"0;url=https://x.example/\">\n"
     "<link rel=\"prefetch\" href=\"https://x.example/\">\n<p>Text.</p>",
     "<p>Text.</p>"},
    {"<style>body{display:none}</style>\n\nText.",
     "<style>body{display:none}</style>\n<p>Text.</p>", "<p>Text.</p>"},
    {"<form action=\"https://x.example/\"><input formaction=\"https://y.example/\"></form>",
     "<form action=\"https://x.example/\"><input formaction=\"https://y.example/\"></form>",
     "<form><input></form>"},
    {"a <!-- hidden --> b", "<p>a <!-- hidden --> b</p>", "<p>a  b</p>"},
    /* The body can neither close the page's elements nor leave its own open. */
    {"</div></div></article>\n\nText.", "</div></div></article>\n<p>Text.</p>", "<p>Text.</p>"},
    {"<div><b>open", "<div><b>open\n", "<div><b>open\n</b></div>"},
};

/* The body of the page of an article (ctype, body; photo.png attached), the
 * line breaks around it left out; the caller frees it. */
static char *
shown_body(enum sz_ctype ctype, const char *body)
{
    static const uint8_t zero[SZ_BUNDLE_ID_LEN];
    static const char *const files[] = {"photo.png"};
    struct sz_attachment att = {S("photo.png"), S("image/png"), test_png, sizeof test_png};
    struct sz_article a = art("a", "Title", T0, ctype, body);
    a.atts = &att;
    a.n_atts = 1;
    struct render_page pg = {&a, zero, "Publisher", 1, T0, zero, files, false};
    struct sz_wr w;
    sz_wr_init(&w, 1 << 24);
    render_article(&w, &pg);
    assert_int_equal(sz_wr_status(&w), 0);
    char *page = strndup((const char *)w.p, w.len);
    sz_wr_free(&w, false);
    assert_non_null(page);
    /* From the body's <div> to the last end of a <div> before the page's footer. */
    const char *b = strstr(page, "<div class=\"body "), *foot = NULL, *e = NULL;
    assert_non_null(b);
    b = strchr(b, '>') + 1;
    for (const char *f = b; f != NULL; f = strstr(f + 1, "<footer"))
        foot = f;
    for (const char *d = strstr(b, "\n</div>\n"); d != NULL && d < foot;
         d = strstr(d + 1, "\n</div>\n"))
        e = d;
    assert_non_null(e);
    while (b < e && *b == '\n')
        b++;
    while (e > b && e[-1] == '\n')
        e--;
    char *shown = strndup(b, (size_t)(e - b));
    free(page);
    return shown;
}

static void
test_markdown_raw_html_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof md_raw_cases / sizeof md_raw_cases[0]; k++) {
        const struct md_raw_case *c = &md_raw_cases[k];
        char *md = shown_body(SZ_CTYPE_MARKDOWN, c->md);
        char *html = shown_body(SZ_CTYPE_HTML, c->html);
        if (strcmp(md, c->want) != 0 || strcmp(html, c->want) != 0)
            fail_msg("case %zu: %s\n  Markdown: %s\n  HTML:     %s\n  want:     %s", k, c->md, md,
                     html, c->want);
        free(md);
        free(html);
    }
}

/* ---- the demo library for the browser test ---- */

static int
make_demo(const char *dir)
{
    struct key k1 = new_key(), k2 = new_key();
    static const char md[] =
        "Russian President Vladimir Putin will visit **Mongolia** next week, the Kremlin "
        "said, in his first trip to a member state of the International Criminal Court "
        "since it issued a warrant for his arrest.\n\n"
        "![A checkerboard standing in for a photo](photo.png)\n\n"
        "> Mongolia is obliged to arrest him, the court said.\n\n"
        "A remote image that must never load: ![tracker](https://example.invalid/t.png)\n\n"
        "HTML written in Markdown is markup, through the filter of HTML bodies: "
        "E = mc<sup>2</sup>; a remote picture that must never load "
        "<img src=\"https://example.invalid/raw.png\" alt=\"raw remote\">, a script that must "
        "never run <script>document.title='pwned'</script>.\n";
    static const char html[] =
        "<p>This body is <strong>HTML</strong>. It tries to load "
        "<img src=\"https://example.invalid/h.png\" alt=\"remote\"> and to run "
        "<script>document.title='pwned'</script> code; neither works.</p>"
        "<p style=\"background:url(https://example.invalid/bg.png)\">Styled paragraph.</p>";
    /* A body that tries to cover the whole page (its navigation and provenance). */
    static const char overlay[] =
        "<div style=\"position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:2147483647;"
        "background:rgb(1,2,3)\"></div><p>This body tries to cover the page.</p>";
    static const char ru[] =
        "Президент России Владимир Путин посетит Монголию на следующей неделе.\n\n"
        "Это первая поездка Путина в страну — участницу Международного уголовного суда "
        "после выдачи ордера на его арест.";
    struct sz_attachment att = {S("photo.png"), S("image/png"), test_png, sizeof test_png};
    static struct sz_str authors[] = {{"The Moscow Times", 16}};
    struct sz_article a[3];
    a[0] = art("putin-mongolia", "Putin to Visit ICC Signatory Mongolia Despite Arrest Warrant", T0,
               SZ_CTYPE_MARKDOWN, md);
    a[0].url = S("https://www.themoscowtimes.com/2024/08/29/"
                 "putin-to-visit-icc-signatory-mongolia-a86194");
    a[0].authors = authors;
    a[0].n_authors = 1;
    a[0].lang = S("en");
    a[0].summary = S("The first trip to an ICC member state since the arrest warrant.");
    a[0].atts = &att;
    a[0].n_atts = 1;
    a[1] =
        art("html-body", "An HTML body <with> markup & scripts", T0 - 86400, SZ_CTYPE_HTML, html);
    a[1].lang = S("en");
    a[2] = art("overlay", "A body that covers the page", T0 - 2 * 86400, SZ_CTYPE_HTML, overlay);
    struct sz_article b = art("putin-mongolia-ru", "Путин посетит Монголию, несмотря на ордер МУС",
                              T0 + 600, SZ_CTYPE_PLAIN, ru);
    b.lang = S("ru");
    b.summary = S("Первая поездка в страну — участницу МУС.");
    struct made ms[2] = {make_bundle(&k1, 1, T0 + 3600, a, 3),
                         make_bundle(&k2, 7, T0 + 900, &b, 1)};
    struct library_publisher pubs[2];
    memcpy(pubs[0].pk, k1.pk, sizeof pubs[0].pk);
    pubs[0].name = "The Moscow Times";
    memcpy(pubs[1].pk, k2.pk, sizeof pubs[1].pk);
    pubs[1].name = NULL;
    char err[512];
    int rc = add(dir, ms, 2, pubs, 2, NULL, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "library_add: %s\n", err);

    /* A publisher whose key signed two bundles with one sequence, one that sent
     * nothing yet, and a fetch that finds the unnamed publisher stale. */
    struct key k3 = new_key(), k4 = new_key();
    struct sz_article e1 =
        art("statement", "Official statement", T0 - 7200, SZ_CTYPE_PLAIN, "The genuine statement.");
    struct sz_article e2 = art("statement", "Official statement (forged)", T0 - 7200,
                               SZ_CTYPE_PLAIN, "A forged statement.");
    struct made eq[2] = {make_bundle(&k3, 3, T0 - 3600, &e1, 1),
                         make_bundle(&k3, 3, T0 - 3500, &e2, 1)};
    struct library_publisher all[4] = {pubs[0], pubs[1], pub_named(&k3, "Compromised Herald"),
                                       pub_named(&k4, "Silent Voice")};
    if (rc == 0 && (rc = add(dir, eq, 2, NULL, 0, NULL, err, sizeof err)) != 0)
        fprintf(stderr, "library_add: %s\n", err);
    if (rc == 0 && (rc = library_note_fetch(dir, all, 4, T0 + 3600 + 23 * HOUR + 50 * 60, 24 * HOUR,
                                            NULL, err, sizeof err)) != 0)
        fprintf(stderr, "library_note_fetch: %s\n", err);
    made_free(&eq[0]);
    made_free(&eq[1]);

    /* A publisher with more articles than index.html lists: month pages. Its
     * articles are w000 to w100, alike (the browser test opens one of them). */
    enum { NW = RENDER_INDEX_LATEST + 1 };
    struct key k5 = new_key();
    static char wid[NW][8], wtitle[NW][40];
    static struct sz_article wa[NW];
    for (int k = 0; k < NW; k++) {
        snprintf(wid[k], sizeof wid[k], "w%03d", k);
        snprintf(wtitle[k], sizeof wtitle[k], "Weekly dispatch %d", NW - k);
        wa[k] = art(wid[k], wtitle[k], T0 - (int64_t)k * 3 * 86400, SZ_CTYPE_PLAIN,
                    "A dispatch from the archive.");
    }
    struct made wm = make_bundle(&k5, 1, T0, wa, NW);
    struct library_publisher wp = pub_named(&k5, "Weekly Archive");
    if (rc == 0 && (rc = add(dir, &wm, 1, &wp, 1, NULL, err, sizeof err)) != 0)
        fprintf(stderr, "library_add: %s\n", err);
    made_free(&wm);

    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    sz_hex(k1.pk, SZ_PUBLIC_KEY_LEN, hex);
    /* The browser test opens this page: it has the image. */
    printf("%s/putin-mongolia/index.html\n", hex);
    made_free(&ms[0]);
    made_free(&ms[1]);
    return rc == 0 ? 0 : 1;
}

/* The reference for render_escape(): one byte at a time. */
static void
escape_ref(struct sz_wr *w, const char *s, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        switch (s[k]) {
        case '&':
            sz_wr_bytes(w, "&amp;", 5);
            break;
        case '<':
            sz_wr_bytes(w, "&lt;", 4);
            break;
        case '>':
            sz_wr_bytes(w, "&gt;", 4);
            break;
        case '"':
            sz_wr_bytes(w, "&quot;", 6);
            break;
        case '\'':
            sz_wr_bytes(w, "&#39;", 5);
            break;
        case '\0':
            sz_wr_bytes(w, "\xef\xbf\xbd", 3);
            break;
        default:
            sz_wr_bytes(w, &s[k], 1);
        }
    }
}

/* Every replaced byte at every offset around the 16-byte blocks, alone and in pairs. */
static void
test_escape_every_offset(void **state)
{
    (void)state;
    static const char special[] = "&<>\"'\0";
    char buf[64];
    for (size_t len = 0; len <= 50; len++) {
        for (size_t pos = 0; pos <= len; pos++) {
            for (size_t c = 0; c < sizeof special - 1; c++) {
                for (size_t k = 0; k < len; k++)
                    buf[k] = (char)('a' + (k % 26));
                if (len > 0)
                    buf[len - 1] = (char)0xd0; /* a high byte is never replaced */
                if (pos < len)
                    buf[pos] = special[c];
                if (pos + 17 < len)
                    buf[pos + 17] = special[(c + 1) % (sizeof special - 1)];
                struct sz_wr got, want;
                sz_wr_init(&got, 1 << 20);
                sz_wr_init(&want, 1 << 20);
                render_escape(&got, buf, len);
                escape_ref(&want, buf, len);
                assert_int_equal(got.len, want.len);
                if (want.len > 0)
                    assert_memory_equal(got.p, want.p, want.len);
                sz_wr_free(&got, false);
                sz_wr_free(&want, false);
            }
        }
    }
}

/* A bundle of many articles: several writer threads share the work. */
static void
test_many_articles(void **state)
{
    struct world *w = *state;
    enum { N = 120 };
    static char ids[N][16], bodies[N][64];
    struct sz_article a[N];
    for (int k = 0; k < N; k++) {
        snprintf(ids[k], sizeof ids[k], "a%03d", k);
        snprintf(bodies[k], sizeof bodies[k], "body of <%d> & more", k);
        a[k] = art(ids[k], ids[k], T0 - k, SZ_CTYPE_PLAIN, bodies[k]);
    }
    struct made m = make_bundle(&w->k, 1, T0, a, N);
    struct library_result r;
    add_ok(w->dir, &m, 1, &r);
    assert_int_equal(r.bundles_added, 1);
    assert_int_equal(r.articles_written, N);
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(&w->k, hex);
    for (int k = 0; k < N; k++) {
        char *p = path_of("%s/%s/%s/body.txt", w->dir, hex, ids[k]);
        assert_file_bytes(p, bodies[k], strlen(bodies[k]));
        free(p);
        char *page = page_of(w->dir, &w->k, ids[k]);
        char want[96];
        snprintf(want, sizeof want, "body of &lt;%d&gt; &amp; more", k);
        assert_non_null(strstr(page, want));
        free(page);
    }
    /* index.html lists the newest 100; the rest are on the month page. */
    char *index = read_at(w->dir, "index.html");
    char *link = path_of("<a href=\"%s/a099/index.html\">", hex);
    assert_non_null(strstr(index, link));
    free(link);
    assert_null(strstr(index, "a100/index.html"));
    free(index);
    char *month = path_of("archive/%s/2024-08.html", hex);
    index = read_at(w->dir, month);
    free(month);
    assert_non_null(index);
    link = path_of("<a href=\"../../%s/a119/index.html\">", hex);
    assert_non_null(strstr(index, link));
    free(link);
    free(index);
    made_free(&m);
}

/* The month page `name` of k's, with its links checked: every one leads to a file. */
static char *
month_page(const char *dir, const struct key *k, const char *name)
{
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(k, hex);
    char *p = path_of("%s/archive/%s/%s", dir, hex, name);
    char *page = slurp(p, NULL);
    if (page == NULL)
        fail_msg("missing month page %s", p);
    assert_non_null(strstr(page, CSP_META));
    assert_null(strstr(page, "<script"));
    for (const char *h = page; (h = strstr(h, "href=\"")) != NULL; h += 6) {
        char href[512];
        if (sscanf(h + 6, "%511[^\"#]", href) != 1)
            continue;
        char *target = path_of("%s/archive/%s/%s", dir, hex, href);
        if (!exists(target))
            fail_msg("%s links to %s, which is missing", p, href);
        free(target);
    }
    free(p);
    return page;
}

static struct stat
stat_of(const char *dir, const struct key *k, const char *name)
{
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    struct stat st;
    pub_hex(k, hex);
    char *p = path_of("%s/archive/%s/%s", dir, hex, name);
    if (lstat(p, &st) != 0)
        fail_msg("missing %s", p);
    free(p);
    return st;
}

static bool
same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_size == b->st_size;
}

/*
 * A publisher with more articles than index.html lists gets a page per month,
 * linked from index.html; a change rewrites only the pages it changes, drops a
 * month left empty, and a page deleted by hand comes back at the next fetch.
 */
static void
test_month_pages(void **state)
{
    struct world *w = *state;
    enum { N = 121 };
    static char ids[N][16];
    struct sz_article a[N + 1];
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    pub_hex(&w->k, hex);
    /* A day apart from 2024-08-29 back: August 29, July 31, June 30, May 31
     * articles; and one in March. */
    for (int k = 0; k < N; k++) {
        snprintf(ids[k], sizeof ids[k], "a%03d", k);
        a[k] = art(ids[k], ids[k], T0 - (int64_t)k * DAY, SZ_CTYPE_PLAIN, "text");
    }
    a[N] = art("old", "In March", T0 - 167 * DAY, SZ_CTYPE_PLAIN, "march");
    struct made m1 = make_bundle(&w->k, 1, T0, a, N + 1);
    struct library_publisher pub = pub_named(&w->k, "Monthly <Times>");
    char err[512];
    assert_int_equal(add(w->dir, &m1, 1, &pub, 1, NULL, err, sizeof err), 0);

    char *idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "The newest 100 of 122 articles"));
    assert_int_equal(count(idx, "/index.html\">"), 100);
    static const char *const months[][2] = {
        {"2024-08", "August</a> (29)"}, {"2024-07", "July</a> (31)"}, {"2024-06", "June</a> (30)"},
        {"2024-05", "May</a> (31)"},    {"2024-03", "March</a> (1)"},
    };
    for (size_t k = 0; k < 5; k++) {
        char *want = path_of("<a href=\"archive/%s/%s.html\">%s", hex, months[k][0], months[k][1]);
        assert_non_null(strstr(idx, want));
        free(want);
    }
    free(idx);

    /* Each month page lists its articles only, newest first, under the name. */
    char *page = month_page(w->dir, &w->k, "2024-07.html");
    assert_int_equal(count(page, "<li"), 31);
    assert_non_null(strstr(page, "<h1>Monthly &lt;Times&gt;: July 2024</h1>"));
    assert_non_null(strstr(page, "31 articles of July 2024"));
    char *first = path_of("<a href=\"../../%s/a029/index.html\">", hex);
    char *last = path_of("<a href=\"../../%s/a059/index.html\">", hex);
    assert_non_null(strstr(page, first));
    assert_true(strstr(page, first) < strstr(page, last));
    free(first);
    free(last);
    assert_non_null(strstr(page, "newer: <a href=\"2024-08.html\">August 2024</a>"));
    assert_non_null(strstr(page, "older: <a href=\"2024-06.html\">June 2024</a>"));
    free(page);
    page = month_page(w->dir, &w->k, "2024-05.html");
    assert_non_null(strstr(page, "older: <a href=\"2024-03.html\">March 2024</a>"));
    free(page);
    free(month_page(w->dir, &w->k, "2024-03.html"));
    free(month_page(w->dir, &w->k, "2024-08.html"));
    struct stat june = stat_of(w->dir, &w->k, "2024-06.html");
    struct stat aug = stat_of(w->dir, &w->k, "2024-08.html");

    /* March's only article comes again, dated September: March goes, September
     * comes, August links to it; June does not change and is not written. */
    struct sz_article moved = art("old", "Now in September", T0 + 10 * DAY, SZ_CTYPE_PLAIN, "sept");
    struct made m2 = make_bundle(&w->k, 2, T0 + 10 * DAY, &moved, 1);
    assert_int_equal(add(w->dir, &m2, 1, &pub, 1, NULL, err, sizeof err), 0);
    char *march = path_of("%s/archive/%s/2024-03.html", w->dir, hex);
    assert_false(exists(march));
    free(march);
    page = month_page(w->dir, &w->k, "2024-09.html");
    assert_non_null(strstr(page, "Now in September"));
    free(page);
    page = month_page(w->dir, &w->k, "2024-08.html");
    assert_non_null(strstr(page, "newer: <a href=\"2024-09.html\">September 2024</a>"));
    free(page);
    struct stat june2 = stat_of(w->dir, &w->k, "2024-06.html");
    struct stat aug2 = stat_of(w->dir, &w->k, "2024-08.html");
    assert_true(same_stat(&june, &june2));
    assert_false(same_stat(&aug, &aug2));
    idx = index_checked(w->dir);
    assert_null(strstr(idx, "2024-03.html"));
    assert_non_null(strstr(idx, "<li><strong>2024</strong>: <a href=\"archive/"));
    assert_non_null(strstr(idx, ".html\">September</a> (1) &middot; <a href=\"archive/"));
    free(idx);

    /* A month page deleted by hand is written again at the next fetch's note. */
    char *july = path_of("%s/archive/%s/2024-07.html", w->dir, hex);
    assert_int_equal(unlink(july), 0);
    note_ok(w->dir, &pub, 1, T0 + 11 * DAY, 48 * HOUR, NULL);
    assert_true(exists(july));
    free(july);
    struct stat june3 = stat_of(w->dir, &w->k, "2024-06.html");
    assert_true(same_stat(&june, &june3));

    /* A fetch in which a peer reports an equivocation: the month pages warn
     * too, until a fetch without the report. */
    bool reported = true;
    note_ok(w->dir, &pub, 1, T0 + 12 * DAY, 48 * HOUR, &reported);
    page = month_page(w->dir, &w->k, "2024-06.html");
    assert_non_null(strstr(page, EQUIV_MSG));
    assert_non_null(strstr(page, "<div class=\"alarm\" role=\"alert\">"));
    free(page);
    reported = false;
    note_ok(w->dir, &pub, 1, T0 + 13 * DAY, 48 * HOUR, &reported);
    page = month_page(w->dir, &w->k, "2024-06.html");
    assert_null(strstr(page, EQUIV_MSG));
    free(page);
    made_free(&m1);
    made_free(&m2);
}

/* A library held open across additions sees another writer's changes. */
static void
test_open_library_batches(void **state)
{
    struct world *w = *state;
    struct library *lib = NULL;
    char err[512];
    struct sz_article a1 = art("one", "First", T0, SZ_CTYPE_PLAIN, "1");
    struct sz_article a2 = art("two", "Second", T0, SZ_CTYPE_PLAIN, "2");
    struct sz_article a1b = art("one", "First, corrected", T0, SZ_CTYPE_PLAIN, "1b");
    struct sz_article a3 = art("three", "Third", T0, SZ_CTYPE_PLAIN, "3");
    struct sz_article ax = art("evil", "Same sequence", T0, SZ_CTYPE_PLAIN, "x");
    struct made m1 = make_bundle(&w->k, 1, T0, &a1, 1), m2 = make_bundle(&w->k, 2, T0, &a2, 1),
                m3 = make_bundle(&w->k, 3, T0, &a1b, 1), m4 = make_bundle(&w->k, 4, T0, &a3, 1),
                mx = make_bundle(&w->k, 2, T0, &ax, 1);
    struct library_result r;

    assert_int_equal(library_open(w->dir, &lib, err, sizeof err), 0);
    struct library_item it = {m1.b, m1.raw, m1.raw_len};
    assert_int_equal(library_put(lib, &it, 1, NULL, 0, &r, err, sizeof err), 0);
    it = (struct library_item){m2.b, m2.raw, m2.raw_len};
    assert_int_equal(library_put(lib, &it, 1, NULL, 0, &r, err, sizeof err), 0);
    it = (struct library_item){m2.b, m2.raw, m2.raw_len};
    assert_int_equal(library_put(lib, &it, 1, NULL, 0, &r, err, sizeof err), 0);
    assert_int_equal(r.bundles_present, 1);

    /* Another writer adds bundle 3 behind the open library's back... */
    add_ok(w->dir, &m3, 1, NULL);
    /* ...and the open library keeps it when it adds bundle 4. */
    it = (struct library_item){m4.b, m4.raw, m4.raw_len};
    assert_int_equal(library_put(lib, &it, 1, NULL, 0, &r, err, sizeof err), 0);
    /* A second bundle with sequence 2 is an equivocation, across calls too. */
    it = (struct library_item){mx.b, mx.raw, mx.raw_len};
    assert_int_equal(library_put(lib, &it, 1, NULL, 0, &r, err, sizeof err), 0);
    assert_int_equal(r.equivocations, 1);
    library_close(lib);

    uint64_t seq = 0;
    int64_t created = 0;
    assert_int_equal(library_publisher_state(w->dir, w->k.pk, &seq, &created, err, sizeof err), 1);
    assert_int_equal(seq, 4);
    char *page = page_of(w->dir, &w->k, "one");
    assert_non_null(strstr(page, "First, corrected"));
    free(page);
    char *index = read_at(w->dir, "index.html");
    assert_non_null(strstr(index, "First, corrected"));
    assert_non_null(strstr(index, "Second"));
    assert_non_null(strstr(index, "Third"));
    assert_non_null(strstr(index, "Same sequence"));
    free(index);
    char *idx = read_at(w->dir, ".samizdat/library.idx");
    size_t n_b = 0;
    for (const char *q = idx; (q = strstr(q, "\nB ")) != NULL; q++)
        n_b++;
    assert_int_equal(n_b, 5);
    free(idx);
    made_free(&m1);
    made_free(&m2);
    made_free(&m3);
    made_free(&m4);
    made_free(&mx);
}

struct seen_bundles {
    uint64_t seqs[8];
    size_t n;
};

static void
note_bundle(void *arg, const uint8_t pk[SZ_PUBLIC_KEY_LEN], uint64_t seq, int64_t created)
{
    struct seen_bundles *sb = arg;
    (void)pk;
    assert_int_equal(created, T0);
    assert_true(sb->n < 8);
    sb->seqs[sb->n++] = seq;
}

/*
 * library_put_each() says which items of a call were new, also when part of
 * the batch was in the library already; library_each_bundle() lists what the
 * library holds (the fetch's resume point without fetch.state).
 */
static void
test_put_each_and_each_bundle(void **state)
{
    struct world *w = *state;
    struct library *lib = NULL;
    char err[512];
    struct sz_article a1 = art("one", "First", T0, SZ_CTYPE_PLAIN, "1");
    struct sz_article a2 = art("two", "Second", T0, SZ_CTYPE_PLAIN, "2");
    struct sz_article a3 = art("three", "Third", T0, SZ_CTYPE_PLAIN, "3");
    struct made m1 = make_bundle(&w->k, 1, T0, &a1, 1), m2 = make_bundle(&w->k, 2, T0, &a2, 1),
                m3 = make_bundle(&w->k, 3, T0, &a3, 1);
    struct library_item items[4] = {{m3.b, m3.raw, m3.raw_len},
                                    {m1.b, m1.raw, m1.raw_len},
                                    {m2.b, m2.raw, m2.raw_len},
                                    {m3.b, m3.raw, m3.raw_len}};
    bool added[4] = {true, true, true, true};
    struct seen_bundles sb = {{0}, 0};
    struct library_result r;

    /* No library yet: nothing, and no error. */
    assert_int_equal(library_each_bundle(w->dir, note_bundle, &sb, err, sizeof err), 0);
    assert_int_equal(sb.n, 0);
    add_ok(w->dir, &m2, 1, NULL);
    assert_int_equal(library_open(w->dir, &lib, err, sizeof err), 0);
    assert_int_equal(library_put_each(lib, items, 4, NULL, 0, added, &r, err, sizeof err), 0);
    /* Bundle 3 twice in one call: the first is new, the second not; 2 was held. */
    assert_true(added[0]);
    assert_true(added[1]);
    assert_false(added[2]);
    assert_false(added[3]);
    assert_int_equal(r.bundles_added, 2);
    assert_int_equal(r.bundles_present, 2);
    library_close(lib);

    assert_int_equal(library_each_bundle(w->dir, note_bundle, &sb, err, sizeof err), 0);
    assert_int_equal(sb.n, 3);
    uint64_t sum = 0;
    for (size_t k = 0; k < sb.n; k++)
        sum += sb.seqs[k];
    assert_int_equal(sum, 1 + 2 + 3);
    made_free(&m1);
    made_free(&m2);
    made_free(&m3);
}

/*
 * A folder that holds the user's own files (--output . or ~/Downloads) is not
 * a library: it is refused before anything in it is touched, by library_add()
 * and library_note_fetch() alike. A new or empty folder, an existing library,
 * and a library whose state folder alone is there, are written.
 */
static void
test_foreign_folder_refused(void **state)
{
    struct world *w = *state;
    struct sz_article a = art("a", "A", T0, SZ_CTYPE_PLAIN, "body");
    struct made m = make_bundle(&w->k, 1, T0, &a, 1);
    struct library_publisher pub = pub_named(&w->k, "Named");
    char err[512];
    char *own = path_of("%s/downloads", w->dir);
    char *own_page = path_of("%s/index.html", own);
    assert_int_equal(mkdir(own, 0755), 0);
    FILE *f = fopen(own_page, "w");
    assert_non_null(f);
    fputs("my own page", f);
    fclose(f);

    err[0] = '\0';
    assert_int_equal(add(own, &m, 1, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, own));
    assert_non_null(strstr(err, "not a samizdat library"));
    assert_non_null(strstr(err, "new or empty folder, or the library folder made earlier"));
    err[0] = '\0';
    assert_int_equal(library_note_fetch(own, &pub, 1, T0, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a samizdat library"));
    err[0] = '\0';
    assert_int_equal(library_check(own, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a samizdat library"));
    assert_file_bytes(own_page, "my own page", 11);
    char *st = path_of("%s/.samizdat", own);
    assert_false(exists(st));
    free(st);

    /* Any entry counts, a hidden one too. */
    char *hidden = path_of("%s/hidden", w->dir), *hidden_file = path_of("%s/.profile", hidden);
    assert_int_equal(mkdir(hidden, 0755), 0);
    f = fopen(hidden_file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(add(hidden, &m, 1, NULL, 0, NULL, err, sizeof err), -1);

    /* An empty folder, a new one, and then each again as the library it became. */
    char *empty = path_of("%s/empty", w->dir), *fresh = path_of("%s/new/lib", w->dir);
    assert_int_equal(mkdir(empty, 0755), 0);
    assert_int_equal(library_check(empty, err, sizeof err), 0);
    assert_int_equal(library_check(fresh, err, sizeof err), 0);
    add_ok(empty, &m, 1, NULL);
    assert_int_equal(library_check(empty, err, sizeof err), 0);
    add_ok(fresh, &m, 1, NULL);
    struct sz_article b = art("b", "B", T0, SZ_CTYPE_PLAIN, "body");
    struct made m2 = make_bundle(&w->k, 2, T0, &b, 1);
    struct library_result r;
    add_ok(empty, &m2, 1, &r);
    assert_int_equal(r.bundles_added, 1);
    note_ok(fresh, &pub, 1, T0, 0, NULL);
    note_ok(empty, &pub, 1, T0, 0, NULL);

    /* A library whose state folder is all that is left of it is still one. */
    char *bare = path_of("%s/bare", w->dir), *bare_state = path_of("%s/.samizdat", bare);
    assert_int_equal(mkdir(bare, 0755), 0);
    assert_int_equal(mkdir(bare_state, 0755), 0);
    add_ok(bare, &m, 1, NULL);

    free(own);
    free(own_page);
    free(hidden);
    free(hidden_file);
    free(empty);
    free(fresh);
    free(bare);
    free(bare_state);
    made_free(&m);
    made_free(&m2);
}

/*
 * A publisher may sign a later sequence with an earlier date (#6 dated before
 * #5). Every "bundle #N, signed T" of index.html pairs a bundle with its own
 * time; the newest bundle shown, and the staleness warning, are the newest
 * signature's.
 */
static void
test_newest_signature(void **state)
{
    struct world *w = *state;
    struct sz_article a5 = art("five", "Five", T0, SZ_CTYPE_PLAIN, "five");
    struct sz_article a6 = art("six", "Six", T0, SZ_CTYPE_PLAIN, "six");
    const int64_t t6 = T0, t5 = T0 + 10 * DAY;
    struct made ms[2] = {make_bundle(&w->k, 6, t6, &a6, 1), make_bundle(&w->k, 5, t5, &a5, 1)};
    struct library_publisher pub = pub_named(&w->k, "Dated Daily");
    char when5[32], when6[32], wrong[128];
    assert_int_equal(sz_time_format(t5, when5, sizeof when5), 0);
    assert_int_equal(sz_time_format(t6, when6, sizeof when6), 0);
    add_ok(w->dir, ms, 2, NULL);
    /* A fetch a day after #5 was signed: fresh, though #6 is 11 days old. */
    note_ok(w->dir, &pub, 1, t5 + DAY, 48 * HOUR, NULL);

    char *idx = index_checked(w->dir);
    snprintf(wrong, sizeof wrong, "#6, signed <time datetime=\"%s\">", when5);
    assert_null(strstr(idx, wrong));
    snprintf(wrong, sizeof wrong, "#5, signed <time datetime=\"%s\">", when6);
    assert_null(strstr(idx, wrong));
    assert_null(strstr(idx, STALE_MSG));
    snprintf(wrong, sizeof wrong, "newest bundle: #5, signed <time datetime=\"%s\">", when5);
    assert_non_null(strstr(idx, wrong));
    snprintf(wrong, sizeof wrong, "highest sequence: #6, signed <time datetime=\"%s\">", when6);
    assert_non_null(strstr(idx, wrong));
    free(idx);

    struct library_publisher_info info;
    assert_info(w->dir, &w->k, &info);
    assert_true(info.has_bundle);
    assert_int_equal(info.seq, 6);
    assert_int_equal(info.seq_created, t6);
    assert_int_equal(info.created, t5);
    assert_int_equal(info.created_seq, 5);
    assert_false(info.stale);

    /* Three days after #5 it is stale: the warning names #5 and its time. */
    note_ok(w->dir, &pub, 1, t5 + 3 * DAY, 48 * HOUR, NULL);
    idx = index_checked(w->dir);
    assert_non_null(strstr(idx, "No new bundle from Dated Daily for 3 days"));
    snprintf(wrong, sizeof wrong, "the newest bundle (#5) had been signed <time datetime=\"%s\">",
             when5);
    assert_non_null(strstr(idx, wrong));
    free(idx);
    made_free(&ms[0]);
    made_free(&ms[1]);
}

/* ---- batches that fail or die before their commit ---- */

static char **list_v;
static size_t list_n, list_cap, list_root_len;
static const char *list_skip;

static int
list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    char line[1024];
    const char *rel = path + list_root_len;
    if (list_skip != NULL && strncmp(rel, list_skip, strlen(list_skip)) == 0)
        return 0;
    if (flag == FTW_D) {
        snprintf(line, sizeof line, "%s/", rel);
    } else if (flag == FTW_F && S_ISREG(st->st_mode)) {
        size_t len;
        char *s = slurp(path, &len);
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        assert_non_null(s);
        for (size_t k = 0; k < len; k++)
            h = (h ^ (uint8_t)s[k]) * UINT64_C(0x100000001b3);
        free(s);
        snprintf(line, sizeof line, "%s %zu %016llx", rel, len, (unsigned long long)h);
    } else {
        snprintf(line, sizeof line, "%s (type %o)", rel, (unsigned)(st->st_mode & S_IFMT));
    }
    if (list_n == list_cap) {
        list_cap = list_cap == 0 ? 256 : 2 * list_cap;
        char **v = realloc(list_v, list_cap * sizeof *list_v);
        assert_non_null(v);
        list_v = v;
    }
    list_v[list_n] = strdup(line);
    assert_non_null(list_v[list_n]);
    list_n++;
    return 0;
}

static int
cmp_line(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * Everything a library holds: every entry below dir (but those whose path
 * relative to dir starts with skip, when given) with the size and a hash of
 * each file's bytes, sorted, one a line.
 */
static char *
listing(const char *dir, const char *skip)
{
    size_t len = 1;
    list_n = 0;
    list_root_len = strlen(dir);
    list_skip = skip;
    assert_int_equal(nftw(dir, list_one, 16, FTW_PHYS), 0);
    qsort(list_v, list_n, sizeof *list_v, cmp_line);
    for (size_t k = 0; k < list_n; k++)
        len += strlen(list_v[k]) + 1;
    char *out = malloc(len), *p = out;
    assert_non_null(out);
    for (size_t k = 0; k < list_n; k++) {
        size_t n = strlen(list_v[k]);
        memcpy(p, list_v[k], n);
        p[n] = '\n';
        p += n + 1;
        free(list_v[k]);
    }
    *p = '\0';
    free(list_v);
    list_v = NULL;
    list_cap = 0;
    return out;
}

/* Fails naming the first line in which two listings differ; frees both. */
static void
assert_same_listing(char *want, char *got)
{
    const char *a = want, *b = got;
    while (*a != '\0' && *b != '\0') {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la) != 0)
            break;
        a += la + 1;
        b += lb + 1;
    }
    if (*a != '\0' || *b != '\0') {
        int la = (int)strcspn(a, "\n"), lb = (int)strcspn(b, "\n");
        print_error("the library differs: wanted \"%.*s\", found \"%.*s\"\n", la, a, lb, b);
        free(want);
        free(got);
        fail();
    }
    free(want);
    free(got);
}

enum { N_FILL = 130 };
/* library.idx is the only file a batch writes that exceeds this (see big_library()). */
#define FILL_LIMIT (128u << 10)

/*
 * A library whose library.idx is far larger than any other file a batch
 * writes: each article has a long URL, which library.idx holds for all of
 * them and an article's page for its own only, so a file size limit between
 * the two makes the write of library.idx fail alone, as a disk that fills up
 * at the last step does. Article "a-art-1" (the newest) has a picture; the
 * others are three days apart, so that there are month pages.
 */
static struct made
big_library(const struct key *k)
{
    static char ids[N_FILL][16], url[1501];
    static struct sz_attachment pic = {{"pic.png", 7}, {"image/png", 9}, test_png, sizeof test_png};
    struct sz_article a[N_FILL + 2];
    memset(url, 0, sizeof url);
    memcpy(url, "https://example.org/", 20);
    memset(url + 20, 'u', sizeof url - 21);
    for (int n = 0; n < N_FILL; n++) {
        snprintf(ids[n], sizeof ids[n], "p%03d", n);
        a[n] = art(ids[n], ids[n], T0 - (int64_t)(n + 1) * 3 * DAY, SZ_CTYPE_PLAIN, "filler");
        a[n].url = S(url);
    }
    a[N_FILL] = art("a-art-1", "Original title", T0, SZ_CTYPE_MARKDOWN, "original ![p](pic.png)");
    a[N_FILL].atts = &pic;
    a[N_FILL].n_atts = 1;
    a[N_FILL + 1] = art("lonely", "Alone in its month", T0 - 800 * DAY, SZ_CTYPE_PLAIN, "alone");
    return make_bundle(k, 1, T0, a, N_FILL + 2);
}

/*
 * Corrections (#2) of "a-art-1" (a new title, no picture) and of "lonely"
 * (dated a month that has other articles, so that its own month page goes),
 * and a new article (#3) in a month of its own.
 */
static void
correction_batch(const struct key *k, struct made out[2])
{
    struct sz_article corr[2] = {
        art("a-art-1", "Corrected title", T0, SZ_CTYPE_MARKDOWN, "corrected"),
        art("lonely", "Not alone", T0 - 3 * DAY - HOUR, SZ_CTYPE_PLAIN, "moved"),
    };
    struct sz_article fresh = art("fresh", "Fresh news", T0 + 40 * DAY, SZ_CTYPE_PLAIN, "fresh");
    out[0] = make_bundle(k, 2, T0 + DAY, corr, 2);
    out[1] = make_bundle(k, 3, T0 + 40 * DAY, &fresh, 1);
}

static off_t
size_at(const char *dir, const char *rel)
{
    char *p = path_of("%s/%s", dir, rel);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    free(p);
    return st.st_size;
}

/* Adds ms with files limited to FILL_LIMIT bytes; returns library_add()'s result. */
static int
add_limited(const char *dir, const struct made *ms, size_t n, char *err, size_t err_cap)
{
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = FILL_LIMIT;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = add(dir, ms, n, NULL, 0, NULL, err, err_cap);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    return rc;
}

/* A library made of the batches ms[0..n) added one after the other, in a new folder. */
static char *
reference_library(const struct made *const *ms, const size_t *n, size_t n_batches)
{
    char *dir = tmp_dir();
    for (size_t k = 0; k < n_batches; k++)
        add_ok(dir, ms[k], n[k], NULL);
    return dir;
}

/* What a reader sees of a library that has not taken correction_batch(). */
static void
assert_uncorrected(const char *dir, const struct key *k)
{
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], *p;
    pub_hex(k, hex);
    char *page = page_of(dir, k, "a-art-1"), *idx = index_checked(dir);
    assert_non_null(strstr(page, "Original title"));
    assert_non_null(strstr(idx, "Original title"));
    assert_null(strstr(idx, "Corrected title"));
    assert_null(strstr(idx, "Fresh news"));
    assert_null(strstr(idx, "Not alone"));
    assert_file_bytes(p = path_of("%s/%s/a-art-1/pic.png", dir, hex), test_png, sizeof test_png);
    free(p);
    assert_false(exists(p = path_of("%s/%s/fresh", dir, hex)));
    free(p);
    free(page);
    free(idx);
}

/*
 * A batch that fails after writing its articles, when library.idx (its commit)
 * cannot be written, leaves the library exactly as it was: no new article, no
 * bundle file, the corrected article in its old version with its picture,
 * index.html and the month pages as they were. Once there is room, the same
 * batch goes in as it would have.
 */
static void
test_failed_commit_undone(void **state)
{
    struct world *w = *state;
    struct made m1 = big_library(&w->k), batch[2];
    correction_batch(&w->k, batch);
    add_ok(w->dir, &m1, 1, NULL);
    assert_true(size_at(w->dir, ".samizdat/library.idx") > (off_t)FILL_LIMIT);
    assert_true(size_at(w->dir, "index.html") < (off_t)FILL_LIMIT / 2);

    char *before = listing(w->dir, NULL), err[512];
    assert_int_equal(add_limited(w->dir, batch, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "library.idx"));
    assert_uncorrected(w->dir, &w->k);
    assert_false(lib_has_file(w->dir, ".samizdat/writing"));
    assert_same_listing(before, listing(w->dir, NULL));

    add_ok(w->dir, batch, 2, NULL);
    char *page = page_of(w->dir, &w->k, "a-art-1"), *idx = index_checked(w->dir);
    assert_non_null(strstr(page, "Corrected title"));
    assert_non_null(strstr(idx, "Corrected title"));
    assert_non_null(strstr(idx, "Fresh news"));
    free(page);
    free(idx);
    const struct made *steps[2] = {&m1, batch};
    size_t counts[2] = {1, 2};
    char *ref = reference_library(steps, counts, 2);
    assert_same_listing(listing(ref, NULL), listing(w->dir, NULL));
    rm_rf(ref);
    made_free(&m1);
    made_free(&batch[0]);
    made_free(&batch[1]);
}

/* A bundle of 101 articles of k, one a week: more than index.html lists, so month pages. */
static struct made
many_weekly(const struct key *k)
{
    static char ids[101][16];
    struct sz_article a[101];
    for (int n = 0; n < 101; n++) {
        snprintf(ids[n], sizeof ids[n], "w%03d", n);
        a[n] = art(ids[n], ids[n], T0 - (int64_t)n * 7 * DAY, SZ_CTYPE_PLAIN, "weekly");
    }
    return make_bundle(k, 1, T0, a, 101);
}

/*
 * The same when index.html cannot be replaced (a folder stands there): the
 * articles, the corrections, the bundles and the month pages the batch wrote
 * (of a publisher new to the library too, with its folders) go again.
 */
static void
test_failed_page_undone(void **state)
{
    struct world *w = *state;
    struct key k2 = new_key();
    struct made m1 = big_library(&w->k), batch[3];
    correction_batch(&w->k, batch);
    batch[2] = many_weekly(&k2);
    add_ok(w->dir, &m1, 1, NULL);
    char *page = path_of("%s/index.html", w->dir), *kept = path_of("%s/index.html/x", w->dir);
    assert_int_equal(unlink(page), 0);
    assert_int_equal(mkdir(page, 0755), 0);
    touch(w->dir, "index.html/x");

    char *before = listing(w->dir, NULL), err[512];
    assert_int_equal(add(w->dir, batch, 3, NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "index.html"));
    assert_same_listing(before, listing(w->dir, NULL));

    assert_int_equal(unlink(kept), 0);
    assert_int_equal(rmdir(page), 0);
    /* Nothing of the batch was left for a later one to show. */
    add_ok(w->dir, NULL, 0, NULL);
    assert_uncorrected(w->dir, &w->k);
    add_ok(w->dir, batch, 3, NULL);
    const struct made *steps[2] = {&m1, batch};
    size_t counts[2] = {1, 3};
    char *ref = reference_library(steps, counts, 2);
    assert_same_listing(listing(ref, NULL), listing(w->dir, NULL));
    rm_rf(ref);
    free(page);
    free(kept);
    made_free(&m1);
    for (size_t k = 0; k < 3; k++)
        made_free(&batch[k]);
}

/*
 * Adds ms in a child process that the file size limit kills (SIGXFSZ) when it
 * writes library.idx: a writer that dies after replacing an article and
 * index.html, before its commit (SIGKILL, a power cut).
 */
static void
add_and_die(const char *dir, const struct made *ms, size_t n)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit lim = {FILL_LIMIT, FILL_LIMIT}, core = {0, 0};
        char err[512];
        signal(SIGXFSZ, SIG_DFL);
        setrlimit(RLIMIT_CORE, &core);
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            _exit(2);
        _exit(add(dir, ms, n, NULL, 0, NULL, err, sizeof err) == 0 ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGXFSZ);
}

/*
 * A writer that died while correcting an article, before library.idx recorded
 * the correction, left it half done: the next writer puts the old version
 * back (its page, its picture, index.html), so that a later unrelated batch
 * does not record a mixed library. When library.idx had recorded the
 * correction, the next writer keeps it and removes what was kept aside.
 */
static void
test_dead_writer_correction(void **state)
{
    struct world *w = *state;
    struct made m1 = big_library(&w->k), batch[2];
    struct sz_article la = art("later", "Later news", T0 + 2 * DAY, SZ_CTYPE_PLAIN, "later");
    struct made later = make_bundle(&w->k, 4, T0 + 2 * DAY, &la, 1);
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1], *p;
    pub_hex(&w->k, hex);
    correction_batch(&w->k, batch);

    /* Died before the commit. */
    add_ok(w->dir, &m1, 1, NULL);
    add_and_die(w->dir, batch, 1);
    assert_true(lib_has_file(w->dir, ".samizdat/writing"));
    p = page_of(w->dir, &w->k, "a-art-1");
    assert_non_null(strstr(p, "Corrected title")); /* the state the writer died in */
    free(p);
    /* The next writer, even one that adds nothing, shows the old version again. */
    add_ok(w->dir, &m1, 1, NULL);
    assert_uncorrected(w->dir, &w->k);
    add_ok(w->dir, &later, 1, NULL);
    assert_uncorrected(w->dir, &w->k);
    assert_false(lib_has_file(w->dir, ".samizdat/writing"));
    const struct made *steps[3] = {&m1, &later, batch};
    size_t counts[3] = {1, 1, 1};
    char *ref = reference_library(steps, counts, 2);
    /* All but the file of the correction's bundle, which stays until it is added. */
    assert_same_listing(listing(ref, "/.samizdat/bundles"), listing(w->dir, "/.samizdat/bundles"));
    /* Added again, the correction shows. */
    add_ok(w->dir, batch, 1, NULL);
    add_ok(ref, batch, 1, NULL);
    assert_same_listing(listing(ref, NULL), listing(w->dir, NULL));
    rm_rf(ref);

    /* Died after the commit (library.idx of a library that took the correction). */
    char *dead = tmp_dir();
    add_ok(dead, &m1, 1, NULL);
    add_and_die(dead, batch, 1);
    steps[1] = batch;
    ref = reference_library(steps, counts, 2);
    char *from = path_of("%s/.samizdat/library.idx", ref),
         *to = path_of("%s/.samizdat/library.idx", dead);
    size_t len;
    char *idx = slurp(from, &len);
    assert_non_null(idx);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(idx, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(idx);
    free(from);
    free(to);
    add_ok(dead, &later, 1, NULL);
    add_ok(ref, &later, 1, NULL);
    assert_same_listing(listing(ref, NULL), listing(dead, NULL));
    rm_rf(ref);
    rm_rf(dead);
    made_free(&m1);
    made_free(&later);
    made_free(&batch[0]);
    made_free(&batch[1]);
}

int
main(int argc, char **argv)
{
    if (sz_init() != 0)
        return 1;
    if (argc == 3 && strcmp(argv[1], "--make-demo") == 0)
        return make_demo(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_text_without_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_present_bundle_repairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_bundle_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publisher_state_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equivocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equivocation_mark_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping_and_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csp_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_markdown_raw_html, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_body_sanitized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_attachment_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_differing_in_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attachment_names_allowlist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_fails_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_state_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writing_mark_cleared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_batch_leftovers_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_list_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_last_fetched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_dated_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_equivocation_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_writer_temporaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windows_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_damaged_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_articles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_month_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_library_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_each_and_each_bundle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_folder_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newest_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_page_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_writer_correction, setup, teardown),
        cmocka_unit_test(test_escape_every_offset),
        cmocka_unit_test(test_sanitizer_table),
        cmocka_unit_test(test_sanitizer_prefixes),
        cmocka_unit_test(test_sanitizer_name_policy),
        cmocka_unit_test(test_markdown_raw_html_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
