/* Blocking helpers for the client: files, keys, passphrases. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "samizdat/common.h"
#include "samizdat/article.h"
#include "samizdat/keys.h"

#define PASS_MAX 1024

void
util_err(const char *fmt, ...)
{
    va_list ap;

    fputs("samizdat: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int
util_read_file(const char *path, size_t max, uint8_t **out, size_t *out_len, char *err,
               size_t err_cap)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t len = 0;
    ssize_t n;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block */
    if (fd < 0) {
        snprintf(err, err_cap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_cap, "%s is not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, err_cap, "%s is too large (%lld bytes; the limit is %zu)", path,
                 (long long)st.st_size, max);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        snprintf(err, err_cap, "out of memory reading %s", path);
        goto out;
    }
    while (len < (size_t)st.st_size) {
        n = read(fd, buf + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, err_cap, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
util_write_atomic(const char *path, const void *data, size_t len, unsigned mode, bool exclusive,
                  char *err, size_t err_cap)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    const char *slash;
    int fd, dfd, rc = -1;

    if (snprintf(tmp, sizeof tmp, "%s.tmp-%08x", path, randombytes_random()) >= (int)sizeof tmp) {
        snprintf(err, err_cap, "path too long: %s", path);
        return -1;
    }
    if (exclusive && access(path, F_OK) == 0) {
        snprintf(err, err_cap, "%s already exists: not overwriting it (remove it first)", path);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
    if (fd < 0) {
        snprintf(err, err_cap, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    /* The umask must not widen nor narrow what the caller asked for secrets. */
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        snprintf(err, err_cap, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0) {
        snprintf(err, err_cap, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (exclusive) {
        /* link() fails when path exists, so two writers cannot both win. */
        if (link(tmp, path) != 0) {
            snprintf(err, err_cap, "cannot create %s: %s", path, strerror(errno));
            unlink(tmp);
            return -1;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        snprintf(err, err_cap, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    rc = 0;
    return rc;
}

/* Reads one line from fd into buf (cap bytes incl. NUL) without echo handling. */
static int
read_line_fd(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    char c;

    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0 || c == '\n')
            break;
        if (n + 1 >= cap)
            return -2;
        buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return 0;
}

static int
prompt_tty(const char *prompt, char *buf, size_t cap, size_t *len)
{
    struct termios old, quiet;
    int fd, rc;

    fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -3;
    if (tcgetattr(fd, &old) != 0) {
        close(fd);
        return -3;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    (void)write(fd, prompt, strlen(prompt));
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        close(fd);
        return -3;
    }
    rc = read_line_fd(fd, buf, cap, len);
    (void)tcsetattr(fd, TCSAFLUSH, &old);
    (void)write(fd, "\n", 1);
    close(fd);
    return rc;
}

void
util_pass_free(char *pass)
{
    if (pass != NULL)
        sodium_free(pass);
}

int
util_read_passphrase(const char *pass_file, const char *prompt, bool confirm, char **out,
                     size_t *out_len, char *err, size_t err_cap)
{
    char *pass = sodium_malloc(PASS_MAX), *again = NULL;
    size_t len = 0, len2 = 0;
    int rc = -1, r;

    if (pass == NULL) {
        snprintf(err, err_cap, "out of secure memory for the passphrase");
        return -1;
    }
    if (pass_file != NULL) {
        int fd = open(pass_file, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0) {
            snprintf(err, err_cap, "cannot open passphrase file %s: %s", pass_file,
                     strerror(errno));
            goto out;
        }
        if (fstat(fd, &st) == 0 && (st.st_mode & 0004) != 0)
            fprintf(stderr,
                    "samizdat: warning: passphrase file %s is world-readable; "
                    "run chmod 600 on it\n",
                    pass_file);
        r = read_line_fd(fd, pass, PASS_MAX, &len);
        close(fd);
        if (r != 0) {
            snprintf(err, err_cap, "cannot read passphrase file %s: %s", pass_file,
                     r == -2 ? "first line longer than 1023 bytes" : strerror(errno));
            goto out;
        }
    } else {
        r = prompt_tty(prompt, pass, PASS_MAX, &len);
        if (r == -3) {
            snprintf(err, err_cap,
                     "no terminal to ask for the passphrase: use --passphrase-file FILE%s",
                     confirm ? " or --no-passphrase" : "");
            goto out;
        }
        if (r != 0) {
            snprintf(err, err_cap, "cannot read the passphrase from the terminal");
            goto out;
        }
        if (confirm) {
            again = sodium_malloc(PASS_MAX);
            if (again == NULL) {
                snprintf(err, err_cap, "out of secure memory for the passphrase");
                goto out;
            }
            r = prompt_tty("Repeat the passphrase: ", again, PASS_MAX, &len2);
            if (r != 0 || len2 != len || sodium_memcmp(again, pass, len) != 0) {
                snprintf(err, err_cap, "the two passphrases differ: nothing was written");
                goto out;
            }
        }
    }
    if (len == 0) {
        snprintf(err, err_cap,
                 "empty passphrase: give a passphrase, or use --no-passphrase for an "
                 "unencrypted key");
        goto out;
    }
    *out = pass;
    *out_len = len;
    pass = NULL;
    rc = 0;
out:
    util_pass_free(pass);
    util_pass_free(again);
    return rc;
}

void
util_sk_free(uint8_t *sk)
{
    if (sk != NULL)
        sodium_free(sk);
}

int
util_load_secret_key(const char *path, const char *pass_file, uint8_t **sk_out, char *err,
                     size_t err_cap)
{
    struct sz_skfile f;
    uint8_t *buf = NULL, *sk = NULL;
    size_t len = 0, pass_len = 0;
    char *pass = NULL, prompt[256];
    struct stat st;
    int rc = -1, r;

    if (util_read_file(path, 4096, &buf, &len, err, err_cap) != 0)
        return -1;
    if (stat(path, &st) == 0 && (st.st_mode & 0077) != 0)
        fprintf(stderr,
                "samizdat: warning: secret key %s is readable by others; run chmod 600 on it\n",
                path);
    r = sz_skfile_parse(buf, len, &f);
    if (r != 0) {
        snprintf(err, err_cap, "%s is not a samizdat secret key file: %s", path, sz_strerror(r));
        goto out;
    }
    if (f.kdf == SZ_KDF_ARGON2ID) {
        snprintf(prompt, sizeof prompt, "Passphrase for %s: ", path);
        if (util_read_passphrase(pass_file, prompt, false, &pass, &pass_len, err, err_cap) != 0)
            goto out;
    }
    sk = sodium_malloc(SZ_SECRET_KEY_LEN);
    if (sk == NULL) {
        snprintf(err, err_cap, "out of secure memory for the secret key");
        goto out;
    }
    r = sz_skfile_open(&f, pass, pass_len, sk);
    if (r != 0) {
        snprintf(err, err_cap, "cannot open secret key %s: %s", path, sz_strerror(r));
        goto out;
    }
    *sk_out = sk;
    sk = NULL;
    rc = 0;
out:
    util_sk_free(sk);
    util_pass_free(pass);
    sodium_memzero(&f, sizeof f); /* without a passphrase, f.sealed is the key in the clear */
    if (buf != NULL)
        sodium_memzero(buf, len);
    free(buf);
    return rc;
}

int
util_parse_trust(const char *arg, uint8_t pk[32], char *err, size_t err_cap)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int r;

    if (strncmp(arg, SZ_PK_TEXT_PREFIX, strlen(SZ_PK_TEXT_PREFIX)) == 0 && access(arg, F_OK) != 0) {
        r = sz_pk_from_text(arg, strlen(arg), pk);
        if (r != 0) {
            snprintf(err, err_cap, "public key '%s' is invalid: %s", arg, sz_strerror(r));
            return -1;
        }
        return 0;
    }
    if (util_read_file(arg, 65536, &buf, &len, err, err_cap) != 0) {
        size_t n = strlen(err);
        snprintf(err + n, err_cap > n ? err_cap - n : 0,
                 " (--trust takes a public key file or a key like szpk1...)");
        return -1;
    }
    r = sz_pk_file_parse(buf, len, pk);
    free(buf);
    if (r != 0) {
        snprintf(err, err_cap, "%s holds no valid samizdat public key: %s", arg, sz_strerror(r));
        return -1;
    }
    return 0;
}

int
util_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int
util_trust_add(struct util_trust *t, const char *arg, char *err, size_t err_cap)
{
    uint8_t pk[32], (*v)[32];
    char **names;

    if (util_parse_trust(arg, pk, err, err_cap) != 0)
        return -1;
    v = realloc(t->pk, (t->n + 1) * sizeof *v);
    if (v == NULL)
        goto nomem;
    t->pk = v;
    names = realloc(t->names, (t->n + 1) * sizeof *names);
    if (names == NULL)
        goto nomem;
    t->names = names;
    memcpy(t->pk[t->n], pk, 32);
    t->names[t->n] = NULL;
    t->n++;
    return 0;
nomem:
    snprintf(err, err_cap, "out of memory");
    return -1;
}

int
util_trust_load_file(struct util_trust *t, const char *path, char *err, size_t err_cap)
{
    uint8_t *buf = NULL;
    size_t len = 0, i = 0, line_no = 0;
    int rc = -1;

    if (util_read_file(path, 1u << 20, &buf, &len, err, err_cap) != 0)
        return -1;
    while (i < len) {
        size_t s = i, e, k;
        char key[SZ_PK_TEXT_LEN + 1], *name;
        line_no++;
        while (i < len && buf[i] != '\n')
            i++;
        e = i++;
        while (s < e && (buf[s] == ' ' || buf[s] == '\t'))
            s++;
        while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t' || buf[e - 1] == '\r'))
            e--;
        if (s == e || buf[s] == '#')
            continue;
        for (k = s; k < e && buf[k] != ' ' && buf[k] != '\t'; k++)
            ;
        if (k - s != SZ_PK_TEXT_LEN) {
            snprintf(err, err_cap, "%s:%zu: expected a public key (szpk1...) then a name", path,
                     line_no);
            goto out;
        }
        memcpy(key, buf + s, k - s);
        key[k - s] = '\0';
        if (util_trust_add(t, key, err, err_cap) != 0) {
            size_t n = strlen(err);
            char tmp[512];
            snprintf(tmp, sizeof tmp, "%s:%zu: %.*s", path, line_no, (int)n, err);
            snprintf(err, err_cap, "%s", tmp);
            goto out;
        }
        while (k < e && (buf[k] == ' ' || buf[k] == '\t'))
            k++;
        if (k < e) {
            if (!sz_utf8_valid(buf + k, e - k)) {
                snprintf(err, err_cap, "%s:%zu: the name is not valid UTF-8", path, line_no);
                goto out;
            }
            name = malloc(e - k + 1);
            if (name == NULL) {
                snprintf(err, err_cap, "out of memory");
                goto out;
            }
            memcpy(name, buf + k, e - k);
            name[e - k] = '\0';
            t->names[t->n - 1] = name;
        }
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

void
util_trust_free(struct util_trust *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->pk);
    memset(t, 0, sizeof *t);
}

int
util_load_bundle(const char *path, const struct util_trust *trust, uint64_t content_cap,
                 struct sz_bundle **b_out, uint8_t **raw_out, size_t *raw_len, char *err,
                 size_t err_cap)
{
    struct sz_bundle *b = NULL;
    uint8_t *raw = NULL;
    size_t len = 0, i;
    char text[SZ_PK_TEXT_LEN + 1];
    uint64_t max = SZ_BUNDLE_PREFIX_LEN + content_cap + content_cap / 128 + 4096;
    int r;

    if (util_read_file(path, (size_t)max, &raw, &len, err, err_cap) != 0)
        return -1;
    r = sz_bundle_open(raw, len, content_cap, &b);
    if (r != 0) {
        snprintf(err, err_cap, "%s: refused: %s", path, sz_strerror(r));
        free(raw);
        return -1;
    }
    for (i = 0; i < trust->n; i++)
        if (sodium_memcmp(trust->pk[i], b->hdr.publisher, 32) == 0)
            break;
    if (i == trust->n) {
        sz_pk_to_text(b->hdr.publisher, text);
        snprintf(err, err_cap,
                 "%s: refused: signed by %s, which is not a trusted publisher "
                 "(add --trust with that key only if you trust it)",
                 path, text);
        sz_bundle_free(b);
        free(raw);
        return -1;
    }
    *b_out = b;
    *raw_out = raw;
    *raw_len = len;
    return 0;
}
