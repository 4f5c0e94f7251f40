/*
 * The committed test vectors (tests/vectors/): mkvectors regenerates them
 * byte for byte, and each one gets the result expected.tsv promises from the
 * library.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"

#ifndef SZ_MKVECTORS
#error "SZ_MKVECTORS must name the mkvectors binary"
#endif

#define VECTORS SZ_SOURCE_DIR "/tests/vectors"
/* The libzstd the committed vectors were made with (see tests/vectors/README.md). */
#define VECTORS_ZSTD_VERSION 10504
#define MAX_ROWS 64

struct row {
    char file[128];
    char expected[32];
    char id[80];
};

static struct row rows[MAX_ROWS];
static size_t n_rows;
static char tmp_dir[256];

static uint8_t *
read_all(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    for (;;) {
        size_t got;
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static const struct {
    const char *name;
    int code;
} ERRORS[] = {
    {"EBADMSG", SZ_EBADMSG},   {"ETOOBIG", SZ_ETOOBIG}, {"EAUTH", SZ_EAUTH},
    {"EVERSION", SZ_EVERSION}, {"EINVAL", SZ_EINVAL},   {"EHASH", SZ_EHASH},
    {"ELENGTH", SZ_ELENGTH},   {"ECANON", SZ_ECANON},   {"EBADID", SZ_EBADID},
    {"EDUPID", SZ_EDUPID},     {"EUTF8", SZ_EUTF8},     {"ETRAILING", SZ_ETRAILING},
};

static int
error_code(const char *name)
{
    for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++)
        if (strcmp(ERRORS[i].name, name) == 0)
            return -ERRORS[i].code;
    fail_msg("expected.tsv: unknown error name %s", name);
    return 1;
}

static void
load_expected(void)
{
    size_t len;
    uint8_t *tsv = read_all(VECTORS, "expected.tsv", &len);
    char *line, *save = NULL;

    assert_non_null(tsv);
    tsv = realloc(tsv, len + 1);
    assert_non_null(tsv);
    tsv[len] = '\0';
    n_rows = 0;
    for (line = strtok_r((char *)tsv, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        struct row *r = &rows[n_rows];
        if (line[0] == '#')
            continue;
        assert_true(n_rows < MAX_ROWS);
        if (sscanf(line, "%127[^\t]\t%31[^\t]\t%79s", r->file, r->expected, r->id) != 3)
            fail_msg("expected.tsv: bad line: %s", line);
        n_rows++;
    }
    free(tsv);
}

/* Runs mkvectors into a fresh temporary directory. */
static int
setup(void **state)
{
    pid_t pid;
    int status;
    (void)state;

    if (sz_init() != 0)
        return -1;
    snprintf(tmp_dir, sizeof tmp_dir, "%s/vectors-XXXXXX", SZ_BINARY_DIR);
    if (mkdtemp(tmp_dir) == NULL)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl(SZ_MKVECTORS, SZ_MKVECTORS, tmp_dir, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "mkvectors failed\n");
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    (void)state;

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            char path[1024];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", tmp_dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(tmp_dir);
    return 0;
}

/* The same set of files on both sides (README.md is written by hand). */
static void
test_same_files(void **state)
{
    const char *dirs[2] = {VECTORS, tmp_dir};
    (void)state;

    for (int k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        struct dirent *e;
        size_t n = 0;

        assert_non_null(d);
        while ((e = readdir(d)) != NULL) {
            size_t len;
            uint8_t *other;
            if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
                continue;
            other = read_all(dirs[1 - k], e->d_name, &len);
            if (other == NULL)
                fail_msg("%s is in %s but not in %s", e->d_name, dirs[k], dirs[1 - k]);
            free(other);
            n++;
        }
        closedir(d);
        /* Every bundle, its .id when valid, keys, expected.tsv. */
        assert_true(n >= 20);
    }
}

static void
compare(const char *name, bool zstd_dependent, size_t *n_skipped)
{
    size_t a_len, b_len;
    uint8_t *a = read_all(VECTORS, name, &a_len), *b = read_all(tmp_dir, name, &b_len);

    if (a == NULL || b == NULL)
        fail_msg("%s: missing", name);
    if (a_len != b_len || memcmp(a, b, a_len) != 0) {
        if (zstd_dependent && ZSTD_versionNumber() != VECTORS_ZSTD_VERSION) {
            /* Another compressor may choose other (equally valid) bytes. */
            fprintf(stderr, "note: %s differs; libzstd %s is not the vectors' 1.5.4\n", name,
                    ZSTD_versionString());
            (*n_skipped)++;
        } else {
            fail_msg("%s: regenerated bytes differ from the committed vector", name);
        }
    }
    free(a);
    free(b);
}

static void
test_regenerated_byte_for_byte(void **state)
{
    static const char *keys[] = {"publisher.pk", "publisher.seed.hex", "other.pk",
                                 "other.seed.hex"};
    size_t skipped = 0;
    (void)state;

    load_expected();
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        compare(keys[i], false, &skipped);
    compare("expected.tsv", true, &skipped);
    for (size_t i = 0; i < n_rows; i++) {
        compare(rows[i].file, true, &skipped);
        if (strcmp(rows[i].id, "-") != 0) {
            char idname[160];
            snprintf(idname, sizeof idname, "%.*s.id",
                     (int)(strlen(rows[i].file) - strlen(".bundle")), rows[i].file);
            compare(idname, true, &skipped);
        }
    }
    /* publisher.sk has a random nonce: it differs by design (see test_secret_key). */
    if (skipped > 0)
        fprintf(stderr, "note: %zu zstd-dependent files not compared\n", skipped);
}

static void
load_pk(const char *name, uint8_t pk[32])
{
    size_t len;
    uint8_t *b = read_all(VECTORS, name, &len);

    assert_non_null(b);
    assert_int_equal(sz_pk_file_parse(b, len, pk), 0);
    free(b);
}

static void
test_expected_results(void **state)
{
    uint8_t pub[32], other[32];
    size_t n_valid = 0, n_invalid = 0;
    (void)state;

    load_expected();
    load_pk("publisher.pk", pub);
    load_pk("other.pk", other);
    assert_memory_not_equal(pub, other, 32);
    assert_true(n_rows >= 14);
    for (size_t i = 0; i < n_rows; i++) {
        const struct row *r = &rows[i];
        struct sz_bundle *b = NULL;
        size_t len;
        uint8_t *buf = read_all(VECTORS, r->file, &len);
        int rc;

        if (buf == NULL)
            fail_msg("%s: missing", r->file);
        rc = sz_bundle_open(buf, len, 0, &b);
        if (strcmp(r->expected, "ok") == 0 || strcmp(r->expected, "untrusted") == 0) {
            char hex[65], idfile[160];
            uint8_t *idtext;
            size_t idlen;

            if (rc != 0)
                fail_msg("%s: rc %d (%s), want success", r->file, rc, sz_strerror(rc));
            sz_bundle_id_hex(b->id, hex);
            if (strcmp(hex, r->id) != 0)
                fail_msg("%s: id %s, expected.tsv says %s", r->file, hex, r->id);
            snprintf(idfile, sizeof idfile, "%.*s.id", (int)(strlen(r->file) - strlen(".bundle")),
                     r->file);
            idtext = read_all(VECTORS, idfile, &idlen);
            assert_non_null(idtext);
            assert_int_equal(idlen, 65);
            assert_memory_equal(idtext, hex, 64);
            free(idtext);
            /* Trust is the reader's decision: the publisher field says whose it is. */
            assert_memory_equal(b->hdr.publisher, strcmp(r->expected, "ok") == 0 ? pub : other, 32);
            if (strcmp(r->expected, "untrusted") == 0)
                assert_memory_not_equal(b->hdr.publisher, pub, 32);
            assert_true(b->c->n_articles >= 1);
            sz_bundle_free(b);
            n_valid++;
        } else {
            int want = error_code(r->expected);
            if (rc != want)
                fail_msg("%s: rc %d (%s), want %s", r->file, rc, sz_strerror(rc), r->expected);
            assert_null(b);
            n_invalid++;
        }
        free(buf);
    }
    assert_true(n_valid >= 3);
    assert_true(n_invalid >= 11);
}

/* What the valid vectors hold, as README.md describes it. */
static void
test_valid_contents(void **state)
{
    struct sz_bundle *b;
    size_t len;
    uint8_t *buf;
    (void)state;

    buf = read_all(VECTORS, "valid-mixed-with-attachment.bundle", &len);
    assert_non_null(buf);
    assert_int_equal(sz_bundle_open(buf, len, 0, &b), 0);
    assert_true(b->hdr.sequence == 2);
    assert_int_equal(b->c->n_articles, 3);
    assert_memory_equal(b->c->articles[0].id.p, "about", 5);
    assert_int_equal(b->c->articles[0].ctype, SZ_CTYPE_PLAIN);
    assert_memory_equal(b->c->articles[1].id.p, "news-2024-08-30", 15);
    assert_int_equal(b->c->articles[1].ctype, SZ_CTYPE_MARKDOWN);
    assert_int_equal(b->c->articles[1].n_atts, 1);
    assert_memory_equal(b->c->articles[1].atts[0].data, "\x89PNG\r\n\x1a\n", 8);
    assert_memory_equal(b->c->articles[2].id.p, "report", 6);
    assert_int_equal(b->c->articles[2].ctype, SZ_CTYPE_HTML);
    assert_int_equal(b->c->articles[2].n_atts, 2);
    assert_memory_equal(b->c->articles[2].atts[0].name.p, "data.csv", 8);
    sz_bundle_free(b);
    free(buf);

    buf = read_all(VECTORS, "valid-russian.bundle", &len);
    assert_non_null(buf);
    assert_int_equal(sz_bundle_open(buf, len, 0, &b), 0);
    assert_int_equal(b->c->n_articles, 1);
    assert_memory_equal(b->c->articles[0].title.p, "Свобода", strlen("Свобода"));
    assert_memory_equal(b->c->articles[0].lang.p, "ru", 2);
    sz_bundle_free(b);
    free(buf);
}

/* invalid-oversize is refused only for its size: a reader with a larger cap opens it. */
static void
test_oversize_with_larger_cap(void **state)
{
    struct sz_bundle *b;
    size_t len;
    uint8_t *buf = read_all(VECTORS, "invalid-oversize.bundle", &len);
    (void)state;

    assert_non_null(buf);
    assert_int_equal(sz_bundle_open(buf, len, 0, &b), -SZ_ETOOBIG);
    assert_int_equal(sz_bundle_open(buf, len, 128u << 20, &b), 0);
    assert_true(b->content_len > SZ_BUNDLE_DEFAULT_CONTENT_CAP);
    assert_int_equal(b->c->n_articles, 2);
    sz_bundle_free(b);
    free(buf);
}

/* Both publisher.sk files (committed and regenerated) open to publisher.seed.hex. */
static void
test_secret_key(void **state)
{
    const char *dirs[2] = {VECTORS, tmp_dir};
    uint8_t seed[32], pk[32], sk[64], pub[32];
    size_t len;
    uint8_t *hex = read_all(VECTORS, "publisher.seed.hex", &len);
    (void)state;

    assert_non_null(hex);
    assert_int_equal(len, 65);
    assert_int_equal(sz_unhex((const char *)hex, 64, seed, 32), 0);
    free(hex);
    crypto_sign_seed_keypair(pk, sk, seed);
    load_pk("publisher.pk", pub);
    assert_memory_equal(pk, pub, 32);
    for (int k = 0; k < 2; k++) {
        struct sz_skfile f;
        uint8_t out[64];
        uint8_t *b = read_all(dirs[k], "publisher.sk", &len);

        assert_non_null(b);
        assert_int_equal(sz_skfile_parse(b, len, &f), 0);
        assert_int_equal(f.kdf, SZ_KDF_NONE);
        assert_int_equal(sz_skfile_open(&f, NULL, 0, out), 0);
        assert_memory_equal(out, sk, 64);
        free(b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_files),
        cmocka_unit_test(test_regenerated_byte_for_byte),
        cmocka_unit_test(test_expected_results),
        cmocka_unit_test(test_valid_contents),
        cmocka_unit_test(test_oversize_with_larger_cap),
        cmocka_unit_test(test_secret_key),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
