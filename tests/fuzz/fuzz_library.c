/*
 * The reader's library state files (client/library.c) on arbitrary bytes. A
 * library can come from someone else (copied from a USB stick, a shared
 * folder), so its .samizdat/library.idx and publishers.idx are untrusted
 * input like a bundle. The input up to its first NUL byte is library.idx;
 * what follows it, if anything, is publishers.idx. Each run writes them into
 * one library folder (on /dev/shm when it can), then:
 *
 *   - library_each_bundle() returns 0 or -1, and on -1 a one-line message
 *     that names a state file;
 *   - library_publisher_info() of the first bundle's publisher (or of a key
 *     of zeros) returns 0 or -1 the same way;
 *   - library_note_fetch(), which loads both files, names the publisher and
 *     rewrites index.html, library.idx, publishers.idx and the month pages,
 *     fails when library_each_bundle() did; when it succeeds, every page it
 *     wrote carries the Content-Security-Policy before its body and no
 *     script element (whatever titles and names the files held), and
 *     library_each_bundle() then sees the same bundles in the files it wrote.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "samizdat/common.h"

#include "fuzz.h"
#include "library.h"
#include "render.h"

#define CSP_META "<meta http-equiv=\"Content-Security-Policy\" content=\"" RENDER_CSP "\">"
#define ERR_CAP 512

static char dir[1024];

/* Removes path and, for a folder, everything in it (no links are followed). */
static void
remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            char sub[2048];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        if (d != NULL)
            closedir(d);
        (void)rmdir(path);
    } else {
        (void)unlink(path);
    }
}

static void
cleanup(void)
{
    if (dir[0] != '\0')
        remove_tree(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct stat st;
    const char *base = getenv("TMPDIR");
    char state[4096];

    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    else if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(dir, sizeof dir, "%s/sz-fuzz-library-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(state, sizeof state, "%s/.samizdat", dir);
    if (mkdir(state, 0755) != 0)
        abort();
    atexit(cleanup);
    return 0;
}

static void
put_file(const char *name, const uint8_t *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/.samizdat/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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

/* Everything but the state folder goes, and the state folder holds only what
 * this run puts there. */
static void
reset(const uint8_t *idx, size_t idx_len, const uint8_t *pst, size_t pst_len, bool has_pst)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];

    if (d == NULL)
        abort();
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, ".samizdat") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove_tree(path);
    }
    closedir(d);
    snprintf(path, sizeof path, "%s/.samizdat", dir);
    remove_tree(path);
    if (mkdir(path, 0755) != 0)
        abort();
    put_file("library.idx", idx, idx_len);
    if (has_pst)
        put_file("publishers.idx", pst, pst_len);
}

/* A refusal: one printable line that names the state file at fault. */
static void
check_message(const char *err)
{
    size_t len = strnlen(err, ERR_CAP);
    if (len == 0 || len == ERR_CAP)
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
            abort();
}

struct tally {
    size_t n;
    bool have_pk;
    uint8_t pk[SZ_PUBLIC_KEY_LEN];
    uint64_t seq_sum;
};

static void
count_bundle(void *arg, const uint8_t pk[SZ_PUBLIC_KEY_LEN], uint64_t seq, int64_t created)
{
    struct tally *t = arg;
    (void)created;
    if (!t->have_pk) {
        memcpy(t->pk, pk, SZ_PUBLIC_KEY_LEN);
        t->have_pk = true;
    }
    t->n++;
    t->seq_sum += seq;
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        abort();
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (nb == NULL)
                abort();
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* A page the library wrote: the CSP comes before the body, and no script. */
static void
check_page(const char *path)
{
    char *page = slurp(path);
    if (page == NULL)
        abort();
    const char *csp = strstr(page, CSP_META), *body = strstr(page, "<body>");
    if (csp == NULL || body == NULL || csp > body)
        abort();
    for (const char *s = page; (s = strchr(s, '<')) != NULL; s++)
        if (strncasecmp(s + 1, "script", 6) == 0)
            abort();
    free(page);
}

/* Every month page under DIR/archive/<publisher>/. */
static void
check_months(void)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/" RENDER_ARCHIVE_DIR, dir);
    DIR *a = opendir(path);
    struct dirent *e;
    while (a != NULL && (e = readdir(a)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char sub[8192];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        DIR *p = opendir(sub);
        struct dirent *f;
        while (p != NULL && (f = readdir(p)) != NULL) {
            char page[9000];
            if (f->d_name[0] == '.')
                continue;
            snprintf(page, sizeof page, "%s/%s", sub, f->d_name);
            check_page(page);
        }
        if (p != NULL)
            closedir(p);
    }
    if (a != NULL)
        closedir(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t idx_len = nul != NULL ? (size_t)(nul - data) : size;
    struct tally before = {0}, after = {0};
    struct library_publisher_info info;
    struct library_publisher pub;
    char err[ERR_CAP], path[4096];
    int each, rc;

    reset(data, idx_len, nul != NULL ? nul + 1 : NULL, nul != NULL ? size - idx_len - 1 : 0,
          nul != NULL);

    each = library_each_bundle(dir, count_bundle, &before, err, sizeof err);
    if (each != 0 && each != -1)
        abort();
    if (each != 0)
        check_message(err);

    memset(&pub, 0, sizeof pub);
    if (before.have_pk)
        memcpy(pub.pk, before.pk, SZ_PUBLIC_KEY_LEN);
    rc = library_publisher_info(dir, pub.pk, &info, err, sizeof err);
    if (rc != 0 && rc != -1)
        abort();
    if (rc != 0)
        check_message(err);

    pub.name = "Fuzz <script>alert(1)</script> & Co";
    rc = library_note_fetch(dir, &pub, 1, 1800000000, 48 * 3600, NULL, err, sizeof err);
    if (rc != 0 && rc != -1)
        abort();
    if (rc != 0) {
        check_message(err);
        return 0;
    }
    if (each != 0)
        abort(); /* it loaded a library.idx that library_each_bundle() refused */
    snprintf(path, sizeof path, "%s/index.html", dir);
    check_page(path);
    check_months();
    /* The files it wrote hold the same bundles. */
    if (library_each_bundle(dir, count_bundle, &after, err, sizeof err) != 0 ||
        after.n != before.n || after.seq_sum != before.seq_sum)
        abort();
    return 0;
}
