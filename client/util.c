/* Blocking helpers for the client: files, keys, passphrases. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "samizdat/common.h"
#include "samizdat/article.h"
#include "samizdat/keys.h"

#include "library.h"

#define PASS_MAX 1024

void
util_put_safe(FILE *f, const char *s)
{
    for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
        size_t n = *u < 0x80 ? 1 : *u >= 0xf0 ? 4 : *u >= 0xe0 ? 3 : 2, k;
        uint32_t cp;
        if (n == 1) {
            if (*u < 0x20 && *u != '\t')
                fprintf(f, "\\x%02x", *u);
            else if (*u == 0x7f)
                fputs("\\x7f", f);
            else
                fputc(*u, f);
            continue;
        }
        /* A byte of no whole UTF-8 character (a name in another encoding:
         * 0x9b is a terminal's CSI in 8-bit mode) is shown as \xNN. */
        for (k = 1; k < n && u[k] != '\0'; k++)
            ;
        if (k < n || !sz_utf8_valid(u, n)) {
            fprintf(f, "\\x%02x", *u);
            continue;
        }
        cp = n == 2   ? (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f)
             : n == 3 ? (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f)
                      : 0;
        /* C1 controls; marks, overrides and isolates that reorder the line. */
        if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
            (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
            fprintf(f, "\\u%04x", (unsigned)cp);
        else
            fwrite(u, 1, n, f);
        u += n - 1;
    }
}

void
util_err(const char *fmt, ...)
{
    char small[1024], *msg = small;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(small, sizeof small, "(a message could not be formatted)");
    } else if ((size_t)n >= sizeof small) {
        char *big = malloc((size_t)n + 1);
        if (big != NULL) { /* else cut short rather than lost */
            va_start(ap, fmt);
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            va_end(ap);
            msg = big;
        }
    }
    fputs("samizdat: ", stderr);
    util_put_safe(stderr, msg);
    fputc('\n', stderr);
    if (msg != small)
        free(msg);
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

/*
 * Signals that would kill the client on their default action. While a
 * temporary file or a quietened terminal is about to be left behind, they get
 * a handler that cleans up and then lets the default action happen. A signal
 * the program already handles (fetch stops on SIGINT) or ignores (nohup) is
 * left alone: the program then finishes or stops on its own terms.
 */
static void
signals_catch(const int *sigs, size_t n, void (*fn)(int), struct sigaction *old, bool *caught)
{
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    /* The handler runs once, then the default action acts at once on raise(). */
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < n; i++) {
        caught[i] = false;
        if (sigaction(sigs[i], NULL, &old[i]) != 0)
            continue;
        if ((old[i].sa_flags & SA_SIGINFO) != 0 || old[i].sa_handler != SIG_DFL)
            continue;
        caught[i] = sigaction(sigs[i], &sa, NULL) == 0;
    }
}

static void
signals_restore(const int *sigs, size_t n, const struct sigaction *old, const bool *caught)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (caught[i])
            (void)sigaction(sigs[i], &old[i], NULL);
}

/*
 * Temporaries removed on a fatal signal: a key file's temporary is a copy of
 * the secret key and must not outlive an interrupted keygen. The table is
 * shared with the handler: a path is complete before its slot is marked used.
 */
#define CLEANUP_SLOTS 4
static const int CLEANUP_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
#define N_CLEANUP_SIGNALS (sizeof CLEANUP_SIGNALS / sizeof CLEANUP_SIGNALS[0])
static pthread_mutex_t cleanup_mu = PTHREAD_MUTEX_INITIALIZER;
static char cleanup_path[CLEANUP_SLOTS][PATH_MAX];
static int cleanup_dirfd[CLEANUP_SLOTS];
static volatile sig_atomic_t cleanup_used[CLEANUP_SLOTS];
static struct sigaction cleanup_old[N_CLEANUP_SIGNALS];
static bool cleanup_caught[N_CLEANUP_SIGNALS];
static size_t cleanup_n;

static void
on_signal_cleanup(int sig)
{
    int saved = errno;
    size_t i;

    for (i = 0; i < CLEANUP_SLOTS; i++)
        if (cleanup_used[i])
            (void)unlinkat(cleanup_dirfd[i], cleanup_path[i], 0);
    (void)raise(sig);
    errno = saved;
}

/* Blocks the cleanup signals in this thread while the table and the file change together. */
static void
cleanup_block(sigset_t *old)
{
    sigset_t set;
    size_t i;

    sigemptyset(&set);
    for (i = 0; i < N_CLEANUP_SIGNALS; i++)
        sigaddset(&set, CLEANUP_SIGNALS[i]);
    (void)pthread_sigmask(SIG_BLOCK, &set, old);
}

/*
 * Registers tmp, relative to dirfd (signals blocked by the caller); returns its
 * slot, or -1 when the table is full.
 */
static int
cleanup_arm(int dirfd, const char *tmp)
{
    int slot = -1, i;

    pthread_mutex_lock(&cleanup_mu);
    for (i = 0; i < CLEANUP_SLOTS; i++) {
        if (!cleanup_used[i]) {
            slot = i;
            break;
        }
    }
    if (slot >= 0) {
        snprintf(cleanup_path[slot], sizeof cleanup_path[slot], "%s", tmp);
        cleanup_dirfd[slot] = dirfd;
        atomic_signal_fence(memory_order_seq_cst);
        cleanup_used[slot] = 1;
        if (cleanup_n++ == 0)
            signals_catch(CLEANUP_SIGNALS, N_CLEANUP_SIGNALS, on_signal_cleanup, cleanup_old,
                          cleanup_caught);
    }
    pthread_mutex_unlock(&cleanup_mu);
    return slot;
}

/* Forgets a slot (signals blocked by the caller); the last one puts the old handlers back. */
static void
cleanup_disarm(int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&cleanup_mu);
    cleanup_used[slot] = 0;
    if (--cleanup_n == 0)
        signals_restore(CLEANUP_SIGNALS, N_CLEANUP_SIGNALS, cleanup_old, cleanup_caught);
    pthread_mutex_unlock(&cleanup_mu);
}

/*
 * True when path (relative to dirfd) is a samizdat secret key file (its first
 * bytes are the magic); a symbolic link counts only when `follow`.
 */
static bool
is_secret_key_file(int dirfd, const char *path, bool follow)
{
    uint8_t magic[4];
    bool yes = false;
    struct stat st;
    int fd = openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));

    if (fd < 0)
        return false;
    /* Only a regular file is read: a FIFO or a device could block or be a stream. */
    yes = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
          read(fd, magic, sizeof magic) == (ssize_t)sizeof magic &&
          memcmp(magic, "SZSK", sizeof magic) == 0;
    close(fd);
    return yes;
}

bool
util_is_secret_key(const char *path)
{
    return is_secret_key_file(AT_FDCWD, path, true);
}

bool
util_is_secret_key_at(int dirfd, const char *name)
{
    return is_secret_key_file(dirfd, name, true);
}

int
util_tmp_write(struct util_tmp *t, const char *path, const void *data, size_t len, unsigned mode,
               char *err, size_t err_cap)
{
    return util_tmp_write_at(t, AT_FDCWD, path, path, data, len, mode, err, err_cap);
}

int
util_tmp_write_at(struct util_tmp *t, int dirfd, const char *name, const char *path,
                  const void *data, size_t len, unsigned mode, char *err, size_t err_cap)
{
    struct stat st;
    sigset_t old;
    bool secret = (mode & 077) == 0;
    int fd, e;

    t->slot = -1;
    t->live = false;
    t->dirfd = dirfd;
    if (snprintf(t->path, sizeof t->path, "%s", path) >= (int)sizeof t->path ||
        snprintf(t->name, sizeof t->name, "%s", name) >= (int)sizeof t->name ||
        snprintf(t->tmp, sizeof t->tmp, "%s.tmp-%08x", name, randombytes_random()) >=
            (int)sizeof t->tmp) {
        snprintf(err, err_cap, "path too long: %s", path);
        return -1;
    }
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) &&
        !S_ISLNK(st.st_mode)) {
        snprintf(err, err_cap,
                 "%s exists and is not a regular file: not replacing it (give a file name)", path);
        return -1;
    }
    if (!secret && is_secret_key_file(dirfd, name, false)) {
        snprintf(err, err_cap,
                 "%s is a samizdat secret key: not replacing it (give another output file)", path);
        return -1;
    }
    cleanup_block(&old);
    fd = openat(dirfd, t->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
    e = errno;
    if (fd >= 0) {
        t->live = true;
        t->slot = cleanup_arm(dirfd, t->tmp);
    }
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (fd < 0) {
        snprintf(err, err_cap, "cannot write %s (creating %s): %s%s", path, t->tmp, strerror(e),
                 e == ENOENT   ? " (does its folder exist?)"
                 : e == EACCES ? " (check the folder's permissions)"
                               : "");
        return -1;
    }
    /*
     * A secret gets exactly its mode whatever the umask; anything else gets the
     * mode as narrowed by the umask, like every file the user makes.
     */
    e = 0;
    if ((secret && fchmod(fd, (mode_t)mode) != 0) || write_all(fd, data, len) != 0 ||
        fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e != 0) {
        /* The file asked for, not the temporary (removed now, nothing left behind). */
        snprintf(err, err_cap, "cannot write %s: %s%s", path, strerror(e),
                 e == ENOSPC || e == EDQUOT ? " (the disk is full: free some space, then run "
                                              "the command again)"
                                            : "");
        util_tmp_discard(t);
        return -1;
    }
    return 0;
}

void
util_tmp_discard(struct util_tmp *t)
{
    sigset_t old;

    if (!t->live)
        return;
    cleanup_block(&old);
    (void)unlinkat(t->dirfd, t->tmp, 0);
    cleanup_disarm(t->slot);
    t->slot = -1;
    t->live = false;
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void
util_signals_hold(sigset_t *old)
{
    cleanup_block(old);
}

void
util_signals_release(const sigset_t *old)
{
    (void)pthread_sigmask(SIG_SETMASK, old, NULL);
}

int
util_tmp_commit(struct util_tmp *t, bool exclusive, char *err, size_t err_cap)
{
    char dir[PATH_MAX];
    sigset_t old;
    int dfd, r, e;

    cleanup_block(&old);
    if (exclusive) {
        /* link() fails when path exists, so two writers cannot both win. */
        r = linkat(t->dirfd, t->tmp, t->dirfd, t->name, 0);
        e = errno;
        (void)unlinkat(t->dirfd, t->tmp, 0);
    } else {
        r = renameat(t->dirfd, t->tmp, t->dirfd, t->name);
        e = errno;
        if (r != 0)
            (void)unlinkat(t->dirfd, t->tmp, 0);
    }
    cleanup_disarm(t->slot);
    t->slot = -1;
    t->live = false;
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        if (exclusive && e == EEXIST)
            snprintf(err, err_cap, "%s already exists: not overwriting it", t->path);
        else if (exclusive)
            snprintf(err, err_cap, "cannot create %s: %s", t->path, strerror(e));
        else
            snprintf(err, err_cap, "cannot rename %s to %s: %s", t->tmp, t->path, strerror(e));
        return -1;
    }
    (void)util_split_path(t->name, dir, sizeof dir);
    dfd = openat(t->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

int
util_write_atomic(const char *path, const void *data, size_t len, unsigned mode, bool exclusive,
                  char *err, size_t err_cap)
{
    struct util_tmp t;

    if (exclusive && access(path, F_OK) == 0) {
        snprintf(err, err_cap, "%s already exists: not overwriting it (remove it first)", path);
        return -1;
    }
    if (util_tmp_write(&t, path, data, len, mode, err, err_cap) != 0)
        return -1;
    return util_tmp_commit(&t, exclusive, err, err_cap);
}

const char *
util_split_path(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    return slash != NULL ? slash + 1 : path;
}

bool
util_output_folder_ok(const char *path)
{
    char dir[PATH_MAX];
    struct stat st;

    (void)util_split_path(path, dir, sizeof dir);
    if (stat(dir, &st) != 0) {
        int e = errno;
        util_err("cannot write %s: its folder %s %s", path, dir,
                 e == ENOENT    ? "does not exist (create it first)"
                 : e == EACCES  ? "cannot be reached (check the permissions of the path)"
                 : e == ENOTDIR ? "is not a folder (a part of the path is a file)"
                                : strerror(e));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        util_err("cannot write %s: %s is not a folder", path, dir);
        return false;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        util_err("cannot write %s: its folder %s is not writable (%s)", path, dir,
                 errno == EROFS ? "a read-only file system" : "check its permissions");
        return false;
    }
    /* The file is written under a temporary name beside it (NAME.tmp-XXXXXXXX). */
    {
        const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
        long max = pathconf(dir, _PC_NAME_MAX);
        size_t extra = sizeof ".tmp-01234567" - 1;
        if (max <= 0)
            max = NAME_MAX;
        if (strlen(base) + extra > (size_t)max) {
            util_err("cannot write %s: its name is %zu bytes long; this folder takes names "
                     "of at most %ld bytes, and %zu more are needed while it is written: "
                     "choose a shorter name",
                     path, strlen(base), max, extra);
            return false;
        }
    }
    return true;
}

bool
util_output_file_ok(const char *path)
{
    char head[8];
    struct stat st;
    ssize_t n = 0;
    int fd;

    if (lstat(path, &st) != 0)
        return true; /* nothing there (or not reachable: the write says why) */
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        util_err("%s exists and is not a regular file: not replacing it (give a file name)", path);
        return false;
    }
    if (is_secret_key_file(AT_FDCWD, path, false)) {
        util_err("%s is a samizdat secret key: not replacing it (give another output file)", path);
        return false;
    }
    /* A public key is one line of text (a key file is at most a few hundred bytes). */
    fd = S_ISREG(st.st_mode) && st.st_size <= 512 ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                                                  : -1;
    if (fd >= 0) {
        n = read(fd, head, sizeof head);
        close(fd);
    }
    if (n >= 5 && memcmp(head, "szpk1", 5) == 0) {
        util_err("%s is a samizdat public key: not replacing it (give another output file)", path);
        return false;
    }
    if (util_daemon_file(path)) {
        util_err("%s is a file of a samizdatd data folder: replacing it would break the daemon "
                 "(give a path outside that folder)",
                 path);
        return false;
    }
    return true;
}

bool
util_daemon_file(const char *path)
{
    static const char *const daemon_files[] = {
        "node.key",         "publisher.seq", "store.sqlite", "store.sqlite-wal",
        "store.sqlite-shm", "lock",          "control.sock"};
    char dir[PATH_MAX], probe[PATH_MAX];
    struct stat st;
    const char *base = util_split_path(path, dir, sizeof dir);

    for (size_t k = 0; k < sizeof daemon_files / sizeof daemon_files[0]; k++)
        if (strcmp(base, daemon_files[k]) == 0)
            return (size_t)snprintf(probe, sizeof probe, "%.*s/store.sqlite",
                                    (int)(sizeof probe - 16), dir) < sizeof probe &&
                   lstat(probe, &st) == 0;
    return false;
}

/* Lexically tidies a path that cannot be resolved: no "//", no "./" parts. */
static void
tidy_path(const char *p, char *out, size_t cap)
{
    size_t n = 0;

    while (*p != '\0' && n + 1 < cap) {
        if (p[0] == '/' && p[1] == '/') {
            p++;
            continue;
        }
        if ((n == 0 || out[n - 1] == '/') && p[0] == '.' && (p[1] == '/' || p[1] == '\0') &&
            !(n == 0 && p[1] == '\0')) {
            p += p[1] == '/' ? 2 : 1;
            continue;
        }
        out[n++] = *p++;
    }
    out[n] = '\0';
}

/* The absolute path of `path`, resolving its folder when it exists (the file itself may not). */
static void
normalise_path(const char *path, char *out, size_t cap)
{
    char dir[PATH_MAX], real[PATH_MAX], tidy[PATH_MAX];
    const char *base;

    tidy_path(path, tidy, sizeof tidy);
    if (realpath(tidy, real) != NULL) {
        snprintf(out, cap, "%s", real);
        return;
    }
    base = util_split_path(tidy, dir, sizeof dir);
    if (*base != '\0' && strcmp(base, ".") != 0 && strcmp(base, "..") != 0 &&
        realpath(dir, real) != NULL &&
        snprintf(out, cap, "%s%s%s", real, strcmp(real, "/") == 0 ? "" : "/", base) < (int)cap)
        return;
    snprintf(out, cap, "%s", tidy);
}

bool
util_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    char na[PATH_MAX], nb[PATH_MAX];

    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    normalise_path(a, na, sizeof na);
    normalise_path(b, nb, sizeof nb);
    return strcmp(na, nb) == 0;
}

/* Reads one line from fd into buf (cap bytes incl. NUL) without echo handling. Returns
 * 0, 1 when the input ended before any byte (*len 0), -1 on a read error, -2 for a
 * line too long. */
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
        if (r == 0 && n == 0) {
            buf[0] = '\0';
            *len = 0;
            return 1; /* the end, nothing before it (Ctrl-D at a prompt) */
        }
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

/*
 * The terminal a passphrase prompt has quietened. A signal that ends or stops
 * the client at the prompt must not leave the user's terminal without echo.
 */
static const int PROMPT_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
#define N_PROMPT_SIGNALS (sizeof PROMPT_SIGNALS / sizeof PROMPT_SIGNALS[0])
static volatile sig_atomic_t prompt_fd = -1;
static struct termios prompt_old, prompt_quiet;

static void
on_prompt_signal(int sig)
{
    struct sigaction sa;
    int saved = errno, fd = prompt_fd;

    if (fd >= 0) {
        (void)tcsetattr(fd, TCSAFLUSH, &prompt_old);
        (void)write(fd, "\n", 1);
    }
    /* The handler was reset: the default action ends or stops the client here. */
    (void)raise(sig);
    if (sig == SIGTSTP && fd >= 0) {
        /* Continued (fg): quiet again, and catch the next stop too. */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_prompt_signal;
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGTSTP, &sa, NULL);
        (void)tcsetattr(fd, TCSAFLUSH, &prompt_quiet);
    }
    errno = saved;
}

static int
prompt_tty(const char *prompt, char *buf, size_t cap, size_t *len)
{
    struct sigaction old_sa[N_PROMPT_SIGNALS];
    bool caught[N_PROMPT_SIGNALS];
    int fd, rc;

    fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -3;
    if (tcgetattr(fd, &prompt_old) != 0) {
        close(fd);
        return -3;
    }
    prompt_quiet = prompt_old;
    prompt_quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    prompt_quiet.c_lflag |= ICANON;
    prompt_fd = fd;
    signals_catch(PROMPT_SIGNALS, N_PROMPT_SIGNALS, on_prompt_signal, old_sa, caught);
    (void)write(fd, prompt, strlen(prompt));
    if (tcsetattr(fd, TCSAFLUSH, &prompt_quiet) != 0) {
        rc = -3;
        goto out;
    }
    rc = read_line_fd(fd, buf, cap, len);
    (void)tcsetattr(fd, TCSAFLUSH, &prompt_old);
    (void)write(fd, "\n", 1);
out:
    signals_restore(PROMPT_SIGNALS, N_PROMPT_SIGNALS, old_sa, caught);
    prompt_fd = -1;
    close(fd);
    return rc;
}

void
util_pass_free(char *pass)
{
    if (pass != NULL)
        sodium_free(pass);
}

void
util_secret_open_err(const char *path, const char *what, int err_no, char *err, size_t err_cap)
{
    struct stat st;

    if (lstat(path, &st) == 0)
        snprintf(err, err_cap, "cannot open %s %s: %s", what, path, strerror(err_no));
    else
        snprintf(err, err_cap,
                 "cannot open the %s: %s (its name is not shown in case it is the secret itself): "
                 "give the path of the file",
                 what, strerror(err_no));
}

void
util_warn_readable(const struct stat *st, const char *what, const char *path)
{
    if ((st->st_mode & 077) != 0)
        fprintf(stderr,
                "samizdat: warning: %s %s is readable by group or others (mode %04o); run chmod "
                "600 on it\n",
                what, path, (unsigned)(st->st_mode & 07777));
}

/*
 * Reads the first line of the secret file at path (what names it in messages)
 * into buf (PASS_MAX bytes), warning when others may read the file.
 */
static int
read_secret_line(const char *path, const char *what, char *buf, size_t *len, char *err,
                 size_t err_cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), r;
    struct stat st;

    if (fd < 0) {
        util_secret_open_err(path, what, errno, err, err_cap);
        return -1;
    }
    if (fstat(fd, &st) == 0)
        util_warn_readable(&st, what, path);
    r = read_line_fd(fd, buf, PASS_MAX, len);
    close(fd);
    if (r == 1)
        r = 0; /* an empty file: an empty passphrase, refused by the caller */
    if (r != 0) {
        snprintf(err, err_cap, "cannot read %s %s: %s", what, path,
                 r == -2 ? "first line longer than 1023 bytes" : strerror(errno));
        return -1;
    }
    return 0;
}

int
util_read_secret_file(const char *path, const char *what, char **out, size_t *out_len, char *err,
                      size_t err_cap)
{
    char *buf = sodium_malloc(PASS_MAX);
    size_t len = 0;

    if (buf == NULL) {
        snprintf(err, err_cap, "out of secure memory for the %s", what);
        return -1;
    }
    if (read_secret_line(path, what, buf, &len, err, err_cap) != 0) {
        util_pass_free(buf);
        return -1;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
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
        if (read_secret_line(pass_file, "passphrase file", pass, &len, err, err_cap) != 0)
            goto out;
    } else {
        r = prompt_tty(prompt, pass, PASS_MAX, &len);
        if (r == -3) {
            snprintf(err, err_cap,
                     "no terminal to ask for the passphrase: use --passphrase-file FILE%s",
                     confirm ? " or --no-passphrase" : "");
            goto out;
        }
        if (r == 1) {
            snprintf(err, err_cap, "no passphrase given (end of input)%s",
                     confirm ? ": nothing was written" : "");
            goto out;
        }
        if (r == -2) {
            snprintf(err, err_cap, "the passphrase is longer than %d bytes: use a shorter one",
                     PASS_MAX - 1);
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
            if (r == 1) {
                snprintf(err, err_cap,
                         "no passphrase repeated (end of input): nothing was written");
                goto out;
            }
            if (r != 0) {
                snprintf(err, err_cap,
                         r == -2 ? "the two passphrases differ: nothing was written"
                                 : "cannot read the passphrase from the terminal");
                goto out;
            }
            if (len2 != len || sodium_memcmp(again, pass, len) != 0) {
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
    if (sz_pk_file_parse(buf, len, (uint8_t[SZ_PUBLIC_KEY_LEN]){0}) == 0) {
        snprintf(err, err_cap,
                 "%s is a public key, not a secret key: name the secret key file samizdat "
                 "keygen wrote beside it (its --secret-key)",
                 path);
        goto out;
    }
    if (stat(path, &st) == 0 && (st.st_mode & 0077) != 0)
        fprintf(stderr,
                "samizdat: warning: secret key %s is readable by others; run chmod 600 on it\n",
                path);
    r = sz_skfile_parse(buf, len, &f);
    if (r != 0) {
        snprintf(err, err_cap, "%s is not a samizdat secret key file: %s", path, sz_strerror(r));
        goto out;
    }
    if (f.kdf != SZ_KDF_ARGON2ID && pass_file != NULL)
        fprintf(stderr,
                "samizdat: warning: secret key %s has no passphrase: --passphrase-file is not "
                "used\n",
                path);
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

static int trust_parse(struct util_trust *t, const char *path, const uint8_t *buf, size_t len,
                       char *err, size_t err_cap);

/*
 * Is buf, which holds no public key file, a trust file ("PUBLIC-KEY name..."
 * lines)? Only when it parses as one and holds at least one key.
 */
static bool
looks_like_trust_file(const char *path, const uint8_t *buf, size_t len)
{
    struct util_trust t = {0};
    char err[256];
    bool yes = trust_parse(&t, path, buf, len, err, sizeof err) == 0 && t.n > 0;

    util_trust_free(&t);
    return yes;
}

/*
 * Why the text s (len bytes, white space around it left out), which starts
 * like a public key, is not one (sz_pk_from_text() said r): for a person
 * who copied or typed it.
 */
static const char *
pk_text_why(const char *s, size_t len, int r)
{
    const size_t plen = sizeof SZ_PK_TEXT_PREFIX - 1;

    if (r == -SZ_ECHECKSUM)
        return "a character is mistyped (its checksum does not match)";
    if (len < plen || strncasecmp(s, SZ_PK_TEXT_PREFIX, plen) != 0)
        return "a key starts with szpk1";
    if (len != SZ_PK_TEXT_LEN)
        return len < SZ_PK_TEXT_LEN ? "it is too short: a key is szpk1 and 58 more characters (cut "
                                      "off when copied?)"
                                    : "it is too long: a key is szpk1 and 58 more characters";
    for (size_t i = plen; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '2' && s[i] <= '7')))
            return "it holds a character no key has (keys use a-z and 2-7)";
    return "a character is mistyped (the last one cannot be that)";
}

/* sz_pk_from_text() of s (len bytes), its prefix taken in capitals too (SZPK1...). */
static int
pk_from_text(const char *s, size_t len, uint8_t pk[32])
{
    char copy[SZ_PK_TEXT_LEN];

    if (len != SZ_PK_TEXT_LEN)
        return sz_pk_from_text(s, len, pk);
    memcpy(copy, s, len);
    for (size_t i = 0; i < sizeof SZ_PK_TEXT_PREFIX - 1; i++)
        copy[i] = (char)tolower((unsigned char)copy[i]);
    return sz_pk_from_text(copy, len, pk);
}

/* s without the white space around it: sets *len. */
static const char *
trimmed(const char *s, size_t *len)
{
    size_t n = strlen(s);

    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *len = n;
    return s;
}

int
util_parse_trust(const char *arg, uint8_t pk[32], char *err, size_t err_cap)
{
    uint8_t *buf = NULL;
    size_t len = 0, tlen;
    const char *t = trimmed(arg, &tlen);
    int r;

    /* Key text (also as copied: spaces around it, the prefix in capitals), unless
     * a file has that name. */
    if (tlen >= sizeof SZ_PK_TEXT_PREFIX - 1 &&
        strncasecmp(t, SZ_PK_TEXT_PREFIX, sizeof SZ_PK_TEXT_PREFIX - 1) == 0 &&
        access(arg, F_OK) != 0) {
        r = pk_from_text(t, tlen, pk);
        if (r != 0) {
            snprintf(err, err_cap, "public key '%.*s' is invalid: %s", (int)tlen, t,
                     pk_text_why(t, tlen, r));
            return -1;
        }
        return 0;
    }
    if (util_read_file(arg, 65536, &buf, &len, err, err_cap) != 0) {
        size_t n = strlen(err);
        snprintf(err + n, err_cap > n ? err_cap - n : 0,
                 " (give a public key file or a key like szpk1...)");
        return -1;
    }
    r = sz_pk_file_parse(buf, len, pk);
    if (r != 0 && util_is_secret_key(arg))
        snprintf(err, err_cap,
                 "%s is a secret key: give its public key (the .pk file keygen wrote beside it, "
                 "or the szpk1... text it printed)",
                 arg);
    else if (r != 0 && looks_like_trust_file(arg, buf, len))
        snprintf(err, err_cap,
                 "%s looks like a trust file: use --trust-file %s (--trust takes one public "
                 "key: a key file or szpk1... text)",
                 arg, arg);
    else if (r != 0)
        snprintf(err, err_cap, "%s holds no valid samizdat public key: %s", arg, sz_strerror(r));
    free(buf);
    return r != 0 ? -1 : 0;
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

/* The index of pk in t, or t->n when it is not there. */
static size_t
trust_find(const struct util_trust *t, const uint8_t pk[32])
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (memcmp(t->pk[i], pk, 32) == 0)
            break;
    return i;
}

/* Appends pk, unnamed, to t. */
static int
trust_push(struct util_trust *t, const uint8_t pk[32], char *err, size_t err_cap)
{
    uint8_t(*v)[32];
    char **names;

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
util_trust_add(struct util_trust *t, const char *arg, char *err, size_t err_cap)
{
    uint8_t pk[32];

    if (util_parse_trust(arg, pk, err, err_cap) != 0)
        return -1;
    if (trust_find(t, pk) < t->n)
        return 0; /* given twice: once is enough */
    return trust_push(t, pk, err, err_cap);
}

int
util_trust_load_file(struct util_trust *t, const char *path, char *err, size_t err_cap)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    size_t n_before = t->n;
    char why[512];

    if (util_read_file(path, 1u << 20, &buf, &len, why, sizeof why) != 0) {
        snprintf(err, err_cap, "trust file: %s", why);
        return -1;
    }
    rc = trust_parse(t, path, buf, len, err, err_cap);
    free(buf);
    if (rc == 0 && t->n == n_before) {
        snprintf(err, err_cap,
                 "%s holds no public key: a trust file has lines \"PUBLIC-KEY name...\"", path);
        rc = -1;
    }
    return rc;
}

/* The lines of trust file `path` (its len bytes in buf), as util_trust_load_file() says. */
static int
trust_parse(struct util_trust *t, const char *path, const uint8_t *buf, size_t len, char *err,
            size_t err_cap)
{
    size_t i = 0, line_no = 0;
    uint8_t pk[32];
    int r;

    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        i = 3; /* a UTF-8 byte order mark, as some editors write */
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
            return -1;
        }
        memcpy(key, buf + s, k - s);
        key[k - s] = '\0';
        /* The key's text form only: a trust file never names other files. */
        r = pk_from_text(key, k - s, pk);
        if (r != 0) {
            snprintf(err, err_cap, "%s:%zu: public key '%s' is invalid: %s", path, line_no, key,
                     pk_text_why(key, k - s, r));
            return -1;
        }
        /* Listed before (here or by --trust): one entry, named once. */
        size_t at = trust_find(t, pk);
        if (at == t->n && trust_push(t, pk, err, err_cap) != 0)
            return -1;
        while (k < e && (buf[k] == ' ' || buf[k] == '\t'))
            k++;
        /* A '#' after white space starts a comment ("Exile Daily # the main one");
         * one inside a word ("The C# Gazette") is part of the name. */
        for (size_t h = k; h < e; h++) {
            if (buf[h] == '#' && (h == k || buf[h - 1] == ' ' || buf[h - 1] == '\t')) {
                e = h;
                break;
            }
        }
        while (e > k && (buf[e - 1] == ' ' || buf[e - 1] == '\t'))
            e--;
        if (k < e) {
            if (!sz_utf8_valid(buf + k, e - k)) {
                snprintf(err, err_cap, "%s:%zu: the name is not valid UTF-8", path, line_no);
                return -1;
            }
            /* Checked here, before any peer is asked: the library keeps no longer name. */
            if (e - k > LIBRARY_NAME_MAX) {
                snprintf(err, err_cap,
                         "%s:%zu: the name is %zu bytes long; a library keeps at most %d: "
                         "shorten it",
                         path, line_no, e - k, LIBRARY_NAME_MAX);
                return -1;
            }
            for (size_t h = k; h < e; h++) {
                if ((buf[h] < 0x20 && buf[h] != '\t') || buf[h] == 0x7f ||
                    (buf[h] == 0xc2 && h + 1 < e && buf[h + 1] >= 0x80 && buf[h + 1] <= 0x9f)) {
                    snprintf(err, err_cap,
                             "%s:%zu: the name holds a control character (byte %zu of the "
                             "line): remove it",
                             path, line_no, h - s + 1);
                    return -1;
                }
            }
            name = malloc(e - k + 1);
            if (name == NULL) {
                snprintf(err, err_cap, "out of memory");
                return -1;
            }
            memcpy(name, buf + k, e - k);
            name[e - k] = '\0';
            if (t->names[at] != NULL && strcmp(t->names[at], name) != 0) {
                snprintf(err, err_cap,
                         "%s:%zu: public key %s is listed again with another name ('%s', before "
                         "'%s'): keep one line for it",
                         path, line_no, key, name, t->names[at]);
                free(name);
                return -1;
            }
            free(t->names[at]);
            t->names[at] = name;
        }
    }
    return 0;
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
    struct sz_bundle_header hdr;
    struct stat st;
    uint8_t *raw = NULL;
    size_t len = 0, i;
    char text[SZ_PK_TEXT_LEN + 1];
    uint64_t max = SZ_BUNDLE_PREFIX_LEN + content_cap + content_cap / 128 + 4096;
    int r;

    /* A file too large for the cap is not read at all; the message says how to accept it. */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        snprintf(err, err_cap,
                 "%s is too large (%lld bytes) for a bundle of at most %llu MiB uncompressed: "
                 "pass --max-size MIB to accept larger bundles from a publisher you trust",
                 path, (long long)st.st_size, (unsigned long long)(content_cap >> 20));
        return EXIT_INPUT;
    }
    if (util_read_file(path, (size_t)max, &raw, &len, err, err_cap) != 0)
        return EXIT_INPUT;
    /*
     * In the order of BUNDLE.md 1.3: the signature and the hash, then the
     * publisher against the trusted keys, and only for a trusted one
     * decompression and the articles (anyone may sign a bundle and make it
     * expensive to open).
     */
    r = sz_bundle_verify(raw, len, content_cap, &hdr, NULL);
    if (r == -SZ_ETOOBIG && sz_bundle_parse(raw, len, SZ_BUNDLE_MAX_CONTENT_LEN, &hdr, NULL) == 0 &&
        hdr.content_len > content_cap) {
        snprintf(err, err_cap,
                 "%s: refused: it is too large: it declares %llu MiB uncompressed, above the "
                 "limit of %llu MiB (pass --max-size MIB to accept larger bundles from a "
                 "publisher you trust)",
                 path, (unsigned long long)((hdr.content_len + (1u << 20) - 1) >> 20),
                 (unsigned long long)(content_cap >> 20));
        free(raw);
        return EXIT_REFUSED;
    }
    if (r != 0) {
        snprintf(err, err_cap, "%s: refused: %s", path, sz_strerror(r));
        free(raw);
        return EXIT_REFUSED;
    }
    for (i = 0; i < trust->n; i++)
        if (sodium_memcmp(trust->pk[i], hdr.publisher, 32) == 0)
            break;
    if (i == trust->n) {
        sz_pk_to_text(hdr.publisher, text);
        snprintf(err, err_cap,
                 "%s: refused: signed by %s, which is not a trusted publisher "
                 "(add --trust with that key only if you trust it)",
                 path, text);
        free(raw);
        return EXIT_REFUSED;
    }
    r = sz_bundle_open_verified(raw, len, content_cap, &b);
    if (r != 0) {
        snprintf(err, err_cap, "%s: refused: %s", path, sz_strerror(r));
        free(raw);
        return EXIT_REFUSED;
    }
    *b_out = b;
    *raw_out = raw;
    *raw_len = len;
    return EXIT_OK;
}
