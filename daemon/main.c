/* samizdatd: configuration, start-up, the event loop, signals and shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "config.h"
#include "ctlsrv.h"
#include "daemon.h"
#include "log.h"
#include "peer.h"
#include "publish.h"
#include "samizdat/article.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "store.h"

#define MAINTENANCE_INTERVAL_MS (3600u * 1000u)

static const char USAGE[] =
    "usage: samizdatd [--config FILE] [--data-dir DIR] [--socket PATH] [--listen HOST:PORT]\n"
    "                 [--publisher-key SK] [--log-level LEVEL] [OPTION...]\n"
    "\n"
    "The samizdat daemon: stores verified bundles durably, answers a local control\n"
    "socket (samizdat publish/import/status/list/export), and, given a publisher\n"
    "key, turns published articles into signed bundles. With no arguments it runs\n"
    "a relay on the defaults below. Every option can also be set in the INI file\n"
    "given with --config, in the [section] it is listed under, its key the flag's\n"
    "name with underscores (--max-bytes: max_bytes); flags override the file.\n"
    "\n"
    "  --config FILE          read settings from this INI file first\n"
    "  --check-config         check the settings (file and flags) and the files they\n"
    "                         name (data folder, keys, credentials), say whether\n"
    "                         they are valid and exit (0: valid, 2: not); starts\n"
    "                         nothing\n"
    "  --recover-store        rebuild a damaged store from what can still be read of\n"
    "                         it, keeping a copy of the old one, and exit (0: rebuilt,\n"
    "                         1: not, the store left as it was); samizdatd must be\n"
    "                         stopped\n"
    "  -h, --help             show this help\n"
    "  --version              show the version\n"
    "\n";

/* Everything main() owns. */
static struct daemon D;
static struct config CFG;
static uv_timer_t maintenance;

/* A maintenance job: expiry and forgetting old remembered ids, on the pool. */
static uv_work_t maintenance_work;
static bool maintenance_running;
static bool maintenance_again;               /* SIGHUP during a run: run once more after it */
static atomic_bool maintenance_stop;         /* shutdown: finish after the current step */
static atomic_bool maintenance_after_reload; /* the next run applies a SIGHUP's limits */
#define MAINTENANCE_STEP 256                 /* bundles removed per transaction */
/* The command line, for SIGHUP: its flags override the file again. */
static int saved_argc;
static char **saved_argv;
/* Bounds how long a shutdown waits for clients to read their replies. */
static uv_timer_t shutdown_grace;

/*
 * The rows each table of remembered ids may hold (STORE.md, "History"): one
 * per 8 KiB of the total quota, at least 65,536; 1,048,576 with no quota. A
 * row takes some 100 to 200 bytes of the store file, so at most about 2.5% of
 * the quota per table.
 */
static uint64_t
max_remembered(uint64_t max_bytes)
{
    if (max_bytes == 0)
        return (uint64_t)1 << 20;
    return max_bytes / 8192 < 65536 ? 65536 : max_bytes / 8192;
}

static void
store_limits_from(const struct config *cfg, struct store_limits *l)
{
    memset(l, 0, sizeof *l);
    l->max_total_bytes = cfg->max_bytes;
    l->max_publisher_bytes = cfg->publisher_max_bytes;
    l->max_age_s = (int64_t)cfg->expiry_days * 86400;
    l->remember_s = (int64_t)cfg->remember_days * 86400;
    l->max_remembered = max_remembered(cfg->max_bytes);
}

/* A file holding a secret: its name in messages, its option, what its first line is. */
struct secret_file {
    const char *what;    /* "passphrase file" */
    const char *option;  /* "passphrase_file (or --passphrase-file)" */
    const char *content; /* "the passphrase" */
};

static const struct secret_file PASSPHRASE_FILE = {
    "passphrase file", "passphrase_file (or --passphrase-file)", "the key's passphrase"};
static const struct secret_file PROXY_AUTH_FILE = {"proxy credentials file",
                                                   "proxy_auth_file (or --proxy-auth-file)",
                                                   "USER:PASSWORD for the proxy"};

/*
 * Reads a secret: the file's first line, without its line end (a trailing CR
 * too), as `samizdat keygen --passphrase-file` takes it. The option's value is
 * not repeated when it names no file: it may be the secret itself, pasted in
 * place of a path.
 */
static int
read_secret(const struct secret_file *sf, const char *path, char *pass, size_t cap,
            size_t *pass_len, char *err, size_t err_cap)
{
    struct stat st;
    char buf[1026]; /* a line of cap - 1 bytes, a CR and the LF */
    size_t got = 0, len, want = cap + 1 < sizeof buf ? cap + 1 : sizeof buf;
    char *nl;
    int fd = daemon_open_file(path);

    if (fd < 0) {
        int e = errno;
        /* Shown only when it names something: else it may be the secret. */
        if (lstat(path, &st) == 0)
            snprintf(err, err_cap, "cannot open %s %s: %s", sf->what, path, strerror(e));
        else
            snprintf(err, err_cap,
                     "cannot open the %s named by %s: %s (its name is not shown in case it is "
                     "the secret itself): give the path of a file whose first line is %s",
                     sf->what, sf->option, strerror(e), sf->content);
        return -1;
    }
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, err_cap, "%s %s is not a regular file: name the file itself", sf->what, path);
        close(fd);
        return -1;
    }
    log_warn_readable(fd, sf->what, path);
    /* Up to cap - 1 bytes of the line, and the CR and LF that may end it. */
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, err_cap, "cannot read %s %s: %s", sf->what, path, strerror(errno));
            close(fd);
            sodium_memzero(buf, sizeof buf);
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    len = got;
    nl = memchr(buf, '\n', len);
    if (nl != NULL)
        len = (size_t)(nl - buf);
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if (len > cap - 1) {
        sodium_memzero(buf, sizeof buf);
        snprintf(err, err_cap, "%s %s: the first line is longer than %zu bytes", sf->what, path,
                 cap - 1);
        return -1;
    }
    memcpy(pass, buf, len);
    sodium_memzero(buf, sizeof buf);
    if (len == 0) {
        snprintf(err, err_cap, "%s %s is empty (its first line should be %s)", sf->what, path,
                 sf->content);
        return -1;
    }
    pass[len] = '\0';
    *pass_len = len;
    return 0;
}

/*
 * Loads the proxy's user name and password (proxy_auth_file: USER:PASSWORD,
 * each 1 to 255 bytes) into d->proxy_auth, sodium_malloc'd.
 */
static int
load_proxy_auth(struct daemon *d, const struct config *cfg, char *err, size_t err_cap)
{
    size_t len = 0;
    char *colon;

    d->proxy_auth = sodium_malloc(1024);
    if (d->proxy_auth == NULL) {
        snprintf(err, err_cap, "out of secure memory");
        return -1;
    }
    if (read_secret(&PROXY_AUTH_FILE, cfg->proxy_auth_file, d->proxy_auth, 1024, &len, err,
                    err_cap) != 0)
        return -1;
    colon = memchr(d->proxy_auth, ':', len);
    if (colon == NULL || colon == d->proxy_auth || colon - d->proxy_auth > 255 ||
        colon + 1 == d->proxy_auth + len || (size_t)(d->proxy_auth + len - colon - 1) > 255) {
        snprintf(err, err_cap,
                 "proxy credentials file %s: its first line must be USER:PASSWORD, each of 1 to "
                 "255 bytes",
                 cfg->proxy_auth_file);
        return -1;
    }
    *colon = '\0';
    d->proxy_pass = colon + 1;
    return 0;
}

/* Loads the publisher's secret key (unencrypted, or with the passphrase file). */
static int
load_publisher_key(struct daemon *d, const struct config *cfg, char *err, size_t err_cap)
{
    struct sz_skfile f;
    struct stat st;
    uint8_t buf[SZ_SKFILE_LEN + 1];
    char *pass = NULL;
    size_t pass_len = 0;
    ssize_t n;
    int fd, rc = -1, r;

    fd = daemon_open_file(cfg->publisher_key);
    if (fd < 0) {
        snprintf(err, err_cap, "cannot open publisher key %s: %s", cfg->publisher_key,
                 strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, err_cap,
                 "publisher key %s is not a regular file: name the secret key file made by "
                 "samizdat keygen",
                 cfg->publisher_key);
        close(fd);
        return -1;
    }
    n = read(fd, buf, sizeof buf);
    r = n < 0 ? -SZ_EBADMSG : sz_skfile_parse(buf, (size_t)n, &f);
    if (r != 0 && n > 0 && sz_pk_file_parse(buf, (size_t)n, (uint8_t[SZ_PUBLIC_KEY_LEN]){0}) == 0) {
        close(fd);
        snprintf(err, err_cap,
                 "publisher key %s is a public key, not a secret key: name the secret key "
                 "file samizdat keygen wrote beside it (its --secret-key)",
                 cfg->publisher_key);
        return -1;
    }
    log_warn_readable(fd, "secret key", cfg->publisher_key);
    close(fd);
    sodium_memzero(buf, sizeof buf);
    if (r != 0) {
        snprintf(err, err_cap, "%s is not a samizdat secret key file: %s", cfg->publisher_key,
                 sz_strerror(r));
        return -1;
    }
    if (f.kdf == SZ_KDF_NONE && cfg->passphrase_file != NULL)
        log_msg(LOG_WARN,
                "publisher key %s has no passphrase: passphrase_file is not used (remove it "
                "from the configuration)",
                cfg->publisher_key);
    if (f.kdf != SZ_KDF_NONE) {
        if (cfg->passphrase_file == NULL) {
            snprintf(err, err_cap,
                     "publisher key %s is encrypted: give passphrase_file (--passphrase-file "
                     "FILE), or make a key with 'samizdat keygen --no-passphrase'",
                     cfg->publisher_key);
            goto out;
        }
        pass = sodium_malloc(1024);
        if (pass == NULL) {
            snprintf(err, err_cap, "out of secure memory");
            goto out;
        }
        if (read_secret(&PASSPHRASE_FILE, cfg->passphrase_file, pass, 1024, &pass_len, err,
                        err_cap) != 0)
            goto out;
    }
    d->sk = sodium_malloc(SZ_SECRET_KEY_LEN);
    if (d->sk == NULL) {
        snprintf(err, err_cap, "out of secure memory");
        goto out;
    }
    r = sz_skfile_open(&f, pass, pass_len, d->sk);
    if (r != 0) {
        snprintf(err, err_cap, "cannot open publisher key %s: %s", cfg->publisher_key,
                 sz_strerror(r));
        sodium_free(d->sk);
        d->sk = NULL;
        goto out;
    }
    memcpy(d->pk, f.public_key, SZ_PUBLIC_KEY_LEN);
    rc = 0;
out:
    sodium_memzero(&f, sizeof f); /* without a passphrase, f.sealed is the key in the clear */
    if (pass != NULL)
        sodium_free(pass);
    return rc;
}

/*
 * The real path of the data folder, with bytes that are not UTF-8 replaced by
 * U+FFFD (control replies carry UTF-8 text only). NULL when out of memory.
 */
static char *
shown_data_dir(const char *dir)
{
    char *real = realpath(dir, NULL), *out;
    const uint8_t *p = (const uint8_t *)(real != NULL ? real : dir);
    size_t n = strlen((const char *)p), i = 0, o = 0;

    out = malloc(3 * n + 1);
    while (out != NULL && i < n) {
        size_t len = 0;
        for (size_t l = 1; l <= 4 && i + l <= n && len == 0; l++)
            if (sz_utf8_valid(p + i, l))
                len = l;
        if (len == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        }
    }
    if (out != NULL)
        out[o] = '\0';
    free(real);
    return out;
}

/* ---- shutdown ---- */

static void
on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void
on_shutdown_grace(uv_timer_t *t)
{
    /* Cancels the replies nobody reads: their on_write() continues the shutdown. */
    ctlsrv_close_all(t->data);
}

/*
 * Closes what is left once no job is in flight and no batch waits. Replies a
 * client does not read are given 10 s, then their connections are closed.
 */
static void
finish_shutdown(struct daemon *d)
{
    static bool done;

    if (done || d->n_jobs > 0 || maintenance_running || (d->pub != NULL && publish_busy(d->pub)) ||
        !peer_all_closed(d))
        return;
    if (d->ctl_writes > 0) {
        if (!uv_is_active((uv_handle_t *)&shutdown_grace))
            uv_timer_start(&shutdown_grace, on_shutdown_grace, 10000, 0);
        return;
    }
    done = true;
    uv_close((uv_handle_t *)&shutdown_grace, NULL);
    ctlsrv_close_all(d);
    if (d->pub != NULL)
        publish_close(d->pub);
    uv_close((uv_handle_t *)&maintenance, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    /* Only lookups of peer names may be left: the loop does not wait for them. */
    if (peer_lookups_running(d) > 0)
        uv_stop(d->loop);
}

void
daemon_job_done(struct daemon *d)
{
    if (d->stopping)
        finish_shutdown(d);
}

static void
begin_shutdown(struct daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    atomic_store(&maintenance_stop, true);
    log_msg(LOG_INFO, "%s: finishing work in flight, then stopping", why);
    ctlsrv_quiesce(d);
    peer_stop(d);
    uv_timer_stop(&maintenance);
    if (d->pub != NULL)
        publish_flush(d->pub);
    finish_shutdown(d);
}

/* ---- reload and maintenance ---- */

/* getopt_long() value of the setting flag i: OPT_SETTING + i (above any character). */
#define OPT_SETTING 0x100

static struct option *make_options(void);
static int apply_flags(struct config *cfg, int argc, char **argv, const struct option *opts,
                       char *err, size_t err_cap);
static void on_maintenance_timer(uv_timer_t *t);

/* A limit where 0 means none (max_bytes, publisher_max_bytes, expiry_days) went down. */
static bool
lowered(uint64_t before, uint64_t after)
{
    return after != 0 && (before == 0 || after < before);
}

/*
 * SIGHUP: reads the config file again, with the command line's flags over it
 * as at start, and applies what can change while running.
 */
static void
reload(struct daemon *d)
{
    struct config fresh;
    uint8_t(*old_publishers)[SZ_PUBLIC_KEY_LEN];
    char err[1024], changed[512];
    int rc = 0;

    if (d->config_path == NULL) {
        log_msg(LOG_INFO,
                "SIGHUP: no config file to reload (logs go to stderr; nothing to reopen)");
        return;
    }
    struct option *opts = make_options();
    if (opts == NULL) {
        log_msg(LOG_ERROR, "SIGHUP: out of memory; keeping the running configuration");
        return;
    }
    config_init_defaults(&fresh);
    rc = config_load_file(&fresh, d->config_path, err, sizeof err);
    if (rc == 0)
        rc = apply_flags(&fresh, saved_argc, saved_argv, opts, err, sizeof err);
    if (rc == 0)
        rc = config_finish(&fresh, err, sizeof err);
    free(opts);
    if (rc != 0) {
        log_msg(LOG_ERROR, "SIGHUP: %s; keeping the running configuration", err);
        config_free(&fresh);
        return;
    }
    /*
     * A relay that carries a list must carry someone: the running key counts,
     * not a publisher_key that would only be loaded at a restart.
     */
    if (fresh.carry == CONFIG_CARRY_LIST && fresh.n_publishers == 0 && d->sk == NULL) {
        log_msg(LOG_ERROR,
                "SIGHUP: %s: carry = list with no publishers would carry nothing (a new "
                "publisher_key is loaded only at a restart): list publishers, or restart; "
                "keeping the running configuration",
                d->config_path);
        config_free(&fresh);
        return;
    }
    if (config_restart_only_changes(&CFG, &fresh, changed, sizeof changed) > 0)
        log_msg(LOG_WARN,
                "SIGHUP: %s changes settings that take effect only at a restart, still running "
                "with the old values: %s",
                d->config_path, changed);
    {
        /* Only the limits that were lowered are named, each with both values. */
        char what[256] = "";
        size_t n = 0;
        if (lowered(CFG.max_bytes, fresh.max_bytes))
            n += (size_t)snprintf(what + n, sizeof what - n, "%smax_bytes %llu -> %llu",
                                  n > 0 ? ", " : "", (unsigned long long)CFG.max_bytes,
                                  (unsigned long long)fresh.max_bytes);
        if (n < sizeof what && lowered(CFG.publisher_max_bytes, fresh.publisher_max_bytes))
            n += (size_t)snprintf(what + n, sizeof what - n, "%spublisher_max_bytes %llu -> %llu",
                                  n > 0 ? ", " : "", (unsigned long long)CFG.publisher_max_bytes,
                                  (unsigned long long)fresh.publisher_max_bytes);
        if (n < sizeof what && lowered(CFG.expiry_days, fresh.expiry_days))
            n += (size_t)snprintf(what + n, sizeof what - n, "%sexpiry_days %u -> %u",
                                  n > 0 ? ", " : "", (unsigned)CFG.expiry_days,
                                  (unsigned)fresh.expiry_days);
        if (n > 0)
            log_msg(LOG_WARN, "SIGHUP: lowered limits (%s): bundles beyond them are removed now",
                    what);
    }
    if (fresh.max_bundle_bytes < CFG.max_bundle_bytes)
        log_msg(LOG_WARN,
                "SIGHUP: max_bundle_bytes lowered (%llu -> %llu): larger bundles are no longer "
                "accepted; those held stay",
                (unsigned long long)CFG.max_bundle_bytes,
                (unsigned long long)fresh.max_bundle_bytes);
    /* What can change while running: log level, carry policy, quotas, expiry. */
    log_set_level(fresh.log_level);
    CFG.log_level = fresh.log_level;
    /* Pool threads (status, carry checks) read these under the lock. */
    uv_rwlock_wrlock(&d->cfg_lock);
    CFG.carry = fresh.carry;
    old_publishers = CFG.publishers;
    CFG.publishers = fresh.publishers;
    CFG.n_publishers = fresh.n_publishers;
    CFG.max_bytes = fresh.max_bytes;
    CFG.publisher_max_bytes = fresh.publisher_max_bytes;
    CFG.expiry_days = fresh.expiry_days;
    CFG.remember_days = fresh.remember_days;
    CFG.max_bundle_bytes = fresh.max_bundle_bytes;
    uv_rwlock_wrunlock(&d->cfg_lock);
    free(old_publishers);
    fresh.publishers = NULL;
    fresh.n_publishers = 0;
    d->content_cap = fresh.max_bundle_bytes;
    /* The store takes the new limits in the maintenance run started below:
     * its lock may be held for long (an import), and this is the loop. */
    log_msg(LOG_INFO,
            "SIGHUP: reloaded %s (command-line flags still override it): log level, carry "
            "policy, quotas, max_bundle_bytes and expiry applied (other settings need a "
            "restart)",
            d->config_path);
    config_free(&fresh);
    /* Apply the new quotas and expiry to what is held now, not in an hour. */
    atomic_store(&maintenance_after_reload, true);
    if (maintenance_running)
        maintenance_again = true;
    else
        uv_timer_start(&maintenance, on_maintenance_timer, 0, MAINTENANCE_INTERVAL_MS);
}

/*
 * Runs fn (store_expire or store_evict) in steps of MAINTENANCE_STEP bundles,
 * one transaction each, releasing the store between them so that gossip,
 * publishing and the control socket are not held up. Returns the count.
 */
static uint64_t
maintenance_steps(struct daemon *d,
                  int (*fn)(struct store *, int64_t, uint64_t, uint64_t *, char *, size_t),
                  int64_t now, const char *what)
{
    uint64_t total = 0, n;
    char err[1024];
    int rc;

    do {
        n = 0;
        uv_mutex_lock(&d->store_lock);
        rc = fn(d->store, now, MAINTENANCE_STEP, &n, err, sizeof err);
        uv_mutex_unlock(&d->store_lock);
        if (rc != 0) {
            log_msg(LOG_WARN, "maintenance: %s failed: %s", what, err);
            uv_mutex_lock(&d->store_lock);
            snprintf(d->maint_err, sizeof d->maint_err, "%s failed: %.560s", what, err);
            d->maint_err_at = daemon_now();
            uv_mutex_unlock(&d->store_lock);
            break;
        }
        total += n;
    } while (n == MAINTENANCE_STEP && !atomic_load(&maintenance_stop));
    return total;
}

/* The publishers held and no longer carried (carry = list without them). */
struct uncarried {
    struct daemon *d;
    uint8_t (*pk)[SZ_PUBLIC_KEY_LEN];
    size_t n, cap;
};

static int
on_held_publisher(const struct store_usage *u, void *ctx)
{
    struct uncarried *a = ctx;

    if (daemon_carries(a->d, u->publisher))
        return 0;
    if (a->n == a->cap) {
        size_t cap = a->cap == 0 ? 16 : a->cap * 2;
        void *g = realloc(a->pk, cap * sizeof *a->pk);
        if (g == NULL)
            return 1; /* the rest at the next run */
        a->pk = g;
        a->cap = cap;
    }
    memcpy(a->pk[a->n++], u->publisher, SZ_PUBLIC_KEY_LEN);
    return 0;
}

/* Ids of one publisher's bundles, up to MAINTENANCE_STEP. */
struct step_ids {
    uint8_t id[MAINTENANCE_STEP][SZ_BUNDLE_ID_LEN];
    size_t n;
};

static int
on_uncarried_bundle(const struct store_meta *m, void *ctx)
{
    struct step_ids *a = ctx;

    memcpy(a->id[a->n++], m->id, SZ_BUNDLE_ID_LEN);
    return a->n == MAINTENANCE_STEP;
}

/*
 * Deletes the bundles of publishers this node no longer carries: after a carry
 * list left them out (a reload, a restart), what it holds of them is neither
 * served nor kept against the quotas. Returns how many were deleted.
 */
static uint64_t
drop_uncarried(struct daemon *d)
{
    struct uncarried a = {.d = d};
    struct step_ids *ids = NULL;
    uint64_t total = 0;
    char err[1024];
    int rc;

    uv_rwlock_rdlock(&d->cfg_lock); /* a reload may change it meanwhile */
    bool any = d->cfg->carry == CONFIG_CARRY_ANY;
    uv_rwlock_rdunlock(&d->cfg_lock);
    if (any)
        return 0;
    uv_mutex_lock(&d->store_lock);
    rc = store_publishers(d->store, on_held_publisher, &a, err, sizeof err);
    uv_mutex_unlock(&d->store_lock);
    if (rc != 0)
        log_msg(LOG_WARN, "maintenance: listing publishers failed: %s", err);
    if (a.n > 0 && (ids = malloc(sizeof *ids)) == NULL)
        a.n = 0;
    for (size_t i = 0; i < a.n && !atomic_load(&maintenance_stop); i++) {
        do {
            uint64_t n = 0;
            /* A reload may have put it back on the list meanwhile: then it stays. */
            if (daemon_carries(d, a.pk[i]))
                break;
            ids->n = 0;
            uv_mutex_lock(&d->store_lock);
            rc = store_list(d->store, a.pk[i], 0, on_uncarried_bundle, ids, err, sizeof err);
            /* One transaction (one sync) per step, as expiry and eviction do. */
            if (rc == 0 && ids->n > 0)
                rc = store_delete_batch(d->store, (const uint8_t(*)[SZ_BUNDLE_ID_LEN])ids->id,
                                        ids->n, &n, err, sizeof err);
            uv_mutex_unlock(&d->store_lock);
            total += n;
            if (rc != 0)
                log_msg(LOG_WARN, "maintenance: dropping a publisher no longer carried failed: %s",
                        err);
        } while (rc == 0 && ids->n == MAINTENANCE_STEP && !atomic_load(&maintenance_stop));
    }
    if (a.n > 0 && total > 0)
        log_msg(LOG_INFO,
                "maintenance: dropped %llu bundle%s of %zu publisher%s no longer carried "
                "(carry = list)",
                (unsigned long long)total, total == 1 ? "" : "s", a.n, a.n == 1 ? "" : "s");
    free(ids);
    free(a.pk);
    return total;
}

static void
on_maintenance_work(uv_work_t *w)
{
    struct daemon *d = w->data;
    static uint64_t dropped_logged;
    uint64_t removed, forgotten = 0, evicted, dropped;
    char err[1024];
    int64_t now = daemon_now();
    bool reloaded = atomic_exchange(&maintenance_after_reload, false);

    if (reloaded) {
        struct store_limits lim;
        uv_rwlock_rdlock(&d->cfg_lock);
        store_limits_from(d->cfg, &lim);
        uv_rwlock_rdunlock(&d->cfg_lock);
        uv_mutex_lock(&d->store_lock);
        store_set_limits(d->store, &lim);
        uv_mutex_unlock(&d->store_lock);
    }
    /* The slack of store_expire(): within it, bundles dated ahead go. */
    if (daemon_clock_wrong(d, now, STORE_MAX_FUTURE_S, err, sizeof err))
        log_msg(LOG_WARN,
                "%s: set the clock (see that the machine synchronises its time); until then "
                "bundles from peers are refused as dated ahead, none held is removed as such, "
                "and publishing may be refused",
                err);
    (void)drop_uncarried(d);
    uv_mutex_lock(&d->store_lock);
    d->maint_err[0] = '\0';
    uv_mutex_unlock(&d->store_lock);
    removed = maintenance_steps(d, store_expire, now, "expiry");
    evicted = maintenance_steps(d, store_evict, now, "eviction");
    uv_mutex_lock(&d->store_lock);
    if (store_forget_expired(d->store, now, &forgotten, err, sizeof err) != 0)
        log_msg(LOG_WARN, "maintenance: forgetting old ids failed: %s", err);
    dropped = store_n_remembered_dropped(d->store);
    uv_mutex_unlock(&d->store_lock);
    if (dropped > dropped_logged) {
        struct store_limits lim;
        uv_rwlock_rdlock(&d->cfg_lock);
        store_limits_from(d->cfg, &lim);
        uv_rwlock_rdunlock(&d->cfg_lock);
        log_msg(LOG_INFO,
                "maintenance: %llu remembered ids or evicted sequences dropped before "
                "remember_days, to keep each of their tables to %llu rows (many bundles "
                "refused, as from a peer offering expired ones, or quotas small for the "
                "traffic); such an id may be fetched once more",
                (unsigned long long)(dropped - dropped_logged),
                (unsigned long long)lim.max_remembered);
        dropped_logged = dropped;
    }
    if (removed + evicted + forgotten > 0)
        log_msg(reloaded && removed + evicted > 0 ? LOG_WARN : LOG_INFO,
                "maintenance: %llu expired, %llu evicted, %llu remembered ids forgotten",
                (unsigned long long)removed, (unsigned long long)evicted,
                (unsigned long long)forgotten);
}

static void
on_maintenance_done(uv_work_t *w, int status)
{
    struct daemon *d = w->data;

    (void)status;
    maintenance_running = false;
    if (maintenance_again && !d->stopping) {
        maintenance_again = false;
        uv_timer_start(&maintenance, on_maintenance_timer, 0, MAINTENANCE_INTERVAL_MS);
    }
    daemon_job_done(d);
}

static void
on_maintenance_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;

    if (maintenance_running || d->stopping)
        return;
    maintenance_work.data = d;
    if (uv_queue_work(d->loop, &maintenance_work, on_maintenance_work, on_maintenance_done) == 0)
        maintenance_running = true;
}

static void
on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;

    if (signum == SIGHUP)
        reload(d);
    else
        begin_shutdown(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ---- start-up ---- */

/*
 * An existing data folder must be a folder of this user that no one else may
 * write: whoever else may write it could put their own node key and store in it.
 */
static int
check_data_dir(const char *path, const struct stat *st, char *err, size_t err_cap)
{
    if (!S_ISDIR(st->st_mode)) {
        snprintf(err, err_cap, "data folder %s exists and is not a folder: give another path",
                 path);
        return -1;
    }
    if (st->st_uid != geteuid()) {
        snprintf(err, err_cap,
                 "data folder %s belongs to another user (uid %u), who could replace this "
                 "node's key and store: run samizdatd as that user, or give a folder of "
                 "your own",
                 path, (unsigned)st->st_uid);
        return -1;
    }
    if ((st->st_mode & 022) != 0) {
        snprintf(err, err_cap,
                 "data folder %s may be written by group or others (mode %04o), who could "
                 "replace this node's key and store: run chmod 700 on it",
                 path, (unsigned)(st->st_mode & 07777));
        return -1;
    }
    return 0;
}

/* mkdir -p with mode 0700 for the folders it creates. */
static int
make_dirs(const char *path, char *err, size_t err_cap)
{
    char tmp[PATH_MAX];
    size_t i, n = strlen(path);
    struct stat st;

    if (n == 0 || n >= sizeof tmp) {
        snprintf(err, err_cap, "data folder path is empty or too long");
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
            snprintf(err, err_cap,
                     "cannot create the data folder %s (at %s: %s): create it for the user the "
                     "daemon runs as, or choose another with --data-dir or data_dir",
                     path, tmp, strerror(errno));
            return -1;
        }
        tmp[i] = path[i];
    }
    if (stat(path, &st) != 0) {
        snprintf(err, err_cap, "cannot read the data folder %s: %s", path, strerror(errno));
        return -1;
    }
    return check_data_dir(path, &st, err, err_cap);
}

/*
 * --check-config's look at the data folder, without creating it: an existing
 * one as make_dirs() checks it, else the nearest folder above it must be one
 * this user may create folders in.
 */
static int
check_data_dir_path(const char *path, char *err, size_t err_cap)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    struct stat st;

    if (n == 0 || n >= sizeof tmp) {
        snprintf(err, err_cap, "data folder path is empty or too long");
        return -1;
    }
    if (stat(path, &st) == 0)
        return check_data_dir(path, &st, err, err_cap);
    if (errno != ENOENT) {
        snprintf(err, err_cap, "cannot read the data folder %s: %s", path, strerror(errno));
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (;;) {
        char *slash;
        while (n > 1 && tmp[n - 1] == '/')
            tmp[--n] = '\0';
        slash = strrchr(tmp, '/');
        if (slash == NULL)
            snprintf(tmp, sizeof tmp, ".");
        else if (slash == tmp)
            tmp[1] = '\0';
        else
            *slash = '\0';
        n = strlen(tmp);
        if (stat(tmp, &st) == 0)
            break;
        if (errno != ENOENT || strcmp(tmp, ".") == 0 || strcmp(tmp, "/") == 0) {
            snprintf(err, err_cap, "cannot create the data folder %s (at %s: %s)", path, tmp,
                     strerror(errno));
            return -1;
        }
    }
    if (!S_ISDIR(st.st_mode) || access(tmp, W_OK | X_OK) != 0) {
        snprintf(err, err_cap,
                 "cannot create the data folder %s (at %s: %s): create it for the user the "
                 "daemon runs as, or choose another with --data-dir or data_dir",
                 path, tmp, S_ISDIR(st.st_mode) ? strerror(errno) : strerror(ENOTDIR));
        return -1;
    }
    return 0;
}

/*
 * --check-config: what start-up reads before it opens the store, read the same
 * way (and nothing written): the data folder, the publisher key with its
 * passphrase, the proxy's credentials and the network key.
 */
static int
check_start_files(struct daemon *d, const struct config *cfg, char *err, size_t err_cap)
{
    uint8_t key[SZ_NETWORK_KEY_LEN];
    int rc = 0;

    if (check_data_dir_path(cfg->data_dir, err, err_cap) != 0)
        return -1;
    if (cfg->publisher_key != NULL && load_publisher_key(d, cfg, err, err_cap) != 0)
        return -1;
    if (cfg->proxy_auth_file != NULL && load_proxy_auth(d, cfg, err, err_cap) != 0)
        rc = -1;
    if (rc == 0 && cfg->network_key != NULL &&
        peer_load_network_key(cfg->network_key, key, err, err_cap) != 0)
        rc = -1;
    sodium_memzero(key, sizeof key);
    if (d->sk != NULL)
        sodium_free(d->sk);
    if (d->proxy_auth != NULL)
        sodium_free(d->proxy_auth);
    d->sk = NULL;
    d->proxy_auth = NULL;
    return rc;
}

/* The getopt_long() table of every flag; NULL when out of memory. */
static struct option *
make_options(void)
{
    size_t n_opts = config_n_options(), i;
    struct option *opts = calloc(n_opts + 6, sizeof *opts);

    if (opts == NULL)
        return NULL;
    for (i = 0; i < n_opts; i++) {
        opts[i].name = config_option_at(i)->flag;
        opts[i].has_arg = required_argument;
        /* Each its own value: getopt_long() then refuses an abbreviation
         * several options share (--max) instead of taking the first. */
        opts[i].val = OPT_SETTING + (int)i;
    }
    opts[n_opts].name = "config";
    opts[n_opts].has_arg = required_argument;
    opts[n_opts].val = 'c';
    opts[n_opts + 1].name = "help";
    opts[n_opts + 1].val = 'h';
    opts[n_opts + 2].name = "version";
    opts[n_opts + 2].val = 'V';
    opts[n_opts + 3].name = "check-config";
    opts[n_opts + 3].val = 'K';
    opts[n_opts + 4].name = "recover-store";
    opts[n_opts + 4].val = 'R';
    return opts;
}

/*
 * When arg (--max or --max=5M) is the start of several options' names, says
 * so, naming them, and returns true.
 */
static bool
say_ambiguous(const struct option *opts, const char *arg)
{
    size_t len, n = 0;
    char names[512] = "";

    if (strncmp(arg, "--", 2) != 0)
        return false;
    arg += 2;
    len = strcspn(arg, "=");
    for (size_t i = 0; len > 0 && opts[i].name != NULL; i++) {
        if (strncmp(opts[i].name, arg, len) != 0)
            continue;
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s--%s", n > 0 ? ", " : "", opts[i].name);
        n++;
    }
    if (n < 2)
        return false;
    fprintf(stderr, "samizdatd: option --%.*s is ambiguous (%s): give the whole name\n",
            (int)(len > 64 ? 64 : len), arg, names);
    return true;
}

/* Sets every setting flag of the command line into cfg, in the order given. */
static int
apply_flags(struct config *cfg, int argc, char **argv, const struct option *opts, char *err,
            size_t err_cap)
{
    char why[768];
    int c, idx;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
        if (c < OPT_SETTING)
            continue;
        if (config_set(cfg, opts[idx].name, optarg, why, sizeof why) != 0) {
            snprintf(err, err_cap, "--%s: %s", opts[idx].name, why);
            return -1;
        }
    }
    return 0;
}

/* --recover-store: rebuild the store instead of running. */
static bool recover_store;
/* --check-config: check the settings and the files start-up reads, then exit. */
static bool check_only;

/* Parses the command line into CFG: --config first, then every flag in order. */
static int
parse_args(int argc, char **argv, const char **config_path)
{
    struct option *opts = make_options();
    char err[1024];
    int c, idx, rc = -1;

    if (opts == NULL) {
        fprintf(stderr, "samizdatd: out of memory\n");
        return 2;
    }
    /* Pass 1: --config, --help, --version (":": a missing value is told apart). */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
        if (c == 'h') {
            fputs(USAGE, stdout);
            config_print_help(stdout);
            rc = 1;
            goto out;
        }
        if (c == 'V') {
            printf("samizdatd %s\n", SZ_VERSION_STRING);
            rc = 1;
            goto out;
        }
        if (c == 'K')
            check_only = true;
        if (c == 'R')
            recover_store = true;
        if (c == 'c') {
            /* One file: a second would have been read instead, the first ignored. */
            if (*config_path != NULL) {
                fprintf(stderr,
                        "samizdatd: --config given twice (%s and %s): give one file (its "
                        "settings can be overridden by flags)\n",
                        *config_path, optarg);
                rc = 2;
                goto out;
            }
            *config_path = optarg;
        }
        if (c == ':') {
            fprintf(stderr, "samizdatd: %s needs a value (see --help)\n", argv[optind - 1]);
            rc = 2;
            goto out;
        }
        if (c == '?') {
            if (say_ambiguous(opts, argv[optind - 1]))
                goto out;
            fprintf(stderr, "samizdatd: unknown option: %s (see --help)\n", argv[optind - 1]);
            rc = 2;
            goto out;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "samizdatd: unexpected argument '%s' (see --help)\n", argv[optind]);
        rc = 2;
        goto out;
    }
    if (*config_path != NULL && config_load_file(&CFG, *config_path, err, sizeof err) != 0) {
        fprintf(stderr, "samizdatd: %s\n", err);
        rc = 2;
        goto out;
    }
    /* Pass 2: flags override the file, in the order given. */
    if (apply_flags(&CFG, argc, argv, opts, err, sizeof err) != 0) {
        fprintf(stderr, "samizdatd: %s\n", err);
        rc = 2;
        goto out;
    }
    if (config_finish(&CFG, err, sizeof err) != 0) {
        fprintf(stderr, "samizdatd: %s%s\n", *config_path != NULL ? "configuration: " : "", err);
        rc = 2;
        goto out;
    }
    rc = 0;
out:
    free(opts);
    return rc;
}

/*
 * Open files the links may take at once: every inbound link (handshakes
 * included: max_inbound bounds them), every outbound one, the control
 * socket's connections, and the store, listeners, pipes and threads.
 */
static uint64_t
files_needed(const struct config *c)
{
    uint64_t out = c->outbound_target > c->n_peers ? c->outbound_target : c->n_peers;

    return (uint64_t)c->max_inbound + out + 256 /* control connections */ + 64;
}

/*
 * Raises the soft limit of open files as far as the links need (within the
 * hard limit), and warns when that is not enough: libuv then accepts and
 * closes connections unanswered, peers and samizdat status alike, unlogged.
 */
static void
check_files_limit(const struct config *c)
{
    uint64_t need = files_needed(c);
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > rl.rlim_cur) {
        struct rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
    }
    if (rl.rlim_cur < need)
        log_msg(LOG_WARN,
                "at most %llu files may be open, fewer than the %llu the links may need "
                "(max_inbound %u, outbound_target %u or the peers listed, the control socket): "
                "raise the limit (ulimit -n, or LimitNOFILE= in the service), or lower "
                "max_inbound; beyond it, connections are closed unanswered",
                (unsigned long long)rl.rlim_cur, (unsigned long long)need, (unsigned)c->max_inbound,
                (unsigned)c->outbound_target);
}

/* SIGINT or SIGTERM before the loop is up: stop now (async-signal-safe). */
static void
on_early_stop(int sig)
{
    static const char msg[] = "samizdatd: stopped by a signal while starting (nothing was "
                              "running yet)\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing to do: the exit says enough */
    }
    _exit(0);
}

static int
start_signal(struct daemon *d, uv_signal_t *s, int signum)
{
    int rc = uv_signal_init(d->loop, s);

    if (rc == 0) {
        s->data = d;
        rc = uv_signal_start(s, on_signal, signum);
    }
    return rc;
}

/* --recover-store: a bundle read back is kept only when it verifies whole. */
static int
recover_check(const uint8_t *bytes, size_t len, bool verify, struct store_meta *m, void *ctx)
{
    struct sz_bundle_header hdr;
    uint8_t id[SZ_BUNDLE_ID_LEN];

    (void)ctx;
    /* Never decompressed here: any declared length is fine. */
    if ((verify ? sz_bundle_verify(bytes, len, UINT64_MAX, &hdr, id)
                : sz_bundle_parse(bytes, len, UINT64_MAX, &hdr, id)) != 0)
        return -1;
    store_meta_from_header(m, &hdr, id, len);
    return 0;
}

/* --recover-store: rebuilds the store and says what it kept. Returns the exit status. */
static int
run_recover(const struct config *cfg)
{
    struct store_recovery r;
    char err[1024];
    int rc;

    printf("samizdatd: recovering the store of %s (every bundle is read and verified: this "
           "takes a while for a large store)\n",
           cfg->data_dir);
    fflush(stdout);
    rc = store_recover(cfg->data_dir, recover_check, NULL, daemon_now(), &r, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "samizdatd: cannot recover the store: %s\n", err);
        return 1;
    }
    printf("samizdatd: the store was rebuilt from what could be read of it\n");
    if (r.n_expected_known)
        printf("  bundles kept:           %llu of the %llu the store counted (%llu bytes)\n",
               (unsigned long long)r.n_kept, (unsigned long long)r.n_expected,
               (unsigned long long)r.bytes_kept);
    else
        printf("  bundles kept:           %llu (%llu bytes); the store's own count could not "
               "be read\n",
               (unsigned long long)r.n_kept, (unsigned long long)r.bytes_kept);
    printf("  bundles damaged:        %llu (read, but failed verification: dropped)\n",
           (unsigned long long)r.n_failed);
    if (r.n_refused > 0)
        printf("  bundles refused:        %llu (dated ahead of this clock, or a third bundle "
               "for one sequence)\n",
               (unsigned long long)r.n_refused);
    printf("  places unreadable:      %llu (rows SQLite could not reach)\n",
           (unsigned long long)r.n_unreadable);
    if (r.scanned)
        printf("  found page by page:     %llu (bundles SQLite could not reach, found by reading "
               "the file's pages)\n",
               (unsigned long long)r.n_scanned);
    printf("  sequence counters kept: %llu\n", (unsigned long long)r.n_counters);
    printf("  remembered rows kept:   %llu\n", (unsigned long long)r.n_remembered);
    for (size_t i = 0; i < r.n_lost; i++)
        printf("  could not be read whole: %s\n", r.lost[i]);
    printf("  the damaged store:      kept as %s (delete it once samizdatd runs well)\n",
           r.saved_as);
    if (r.n_failed > 0 || !r.n_expected_known || r.n_kept < r.n_expected)
        printf("Bundles not kept come back from peers by gossip once samizdatd runs (a "
               "publisher's own: import them from a reader or relay that holds them).\n");
    return 0;
}

int
main(int argc, char **argv)
{
    struct daemon *d = &D;
    struct store_limits lim;
    static uv_loop_t loop; /* static: lookup threads left at a stop may still signal it */
    const char *config_path = NULL;
    char err[1024], pk[SZ_PK_TEXT_LEN + 1], listen[300];
    int rc, status = 1;
    bool lookups_left = false;

    /*
     * SIGHUP's default action ends the process: a reload asked while the key
     * is unlocked or the store opened must wait for the handler, not kill the
     * daemon (a service manager would not restart it). SIGINT and SIGTERM
     * then stop it at once, as asked, with status 0 and a line saying so
     * (nothing is running yet; the store is safe as after a crash); the loop's
     * handlers replace these once it is up.
     */
    struct sigaction early = {.sa_handler = on_early_stop};
    sigemptyset(&early.sa_mask);
    (void)sigaction(SIGINT, &early, NULL);
    (void)sigaction(SIGTERM, &early, NULL);
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    (void)pthread_sigmask(SIG_BLOCK, &hup, NULL);
    if (sz_init() != 0) {
        fprintf(stderr, "samizdatd: cannot initialise libsodium\n");
        exit(1);
    }
    config_init_defaults(&CFG);
    saved_argc = argc;
    saved_argv = argv;
    rc = parse_args(argc, argv, &config_path);
    if (rc != 0) {
        config_free(&CFG);
        exit(rc == 1 ? 0 : 2);
    }
    log_set_level(CFG.log_level);
    if (check_only) {
        if (check_start_files(d, &CFG, err, sizeof err) != 0) {
            fprintf(stderr, "samizdatd: %s\n", err);
            status = 2;
        } else {
            printf("samizdatd: the settings are valid (%s)\n",
                   config_path != NULL ? config_path : "the defaults and flags");
            status = 0;
        }
        config_free(&CFG);
        return status;
    }
    if (recover_store) {
        status = run_recover(&CFG);
        config_free(&CFG);
        return status;
    }
    signal(SIGPIPE, SIG_IGN);
    d->cfg = &CFG;
    d->config_path = config_path;
    d->content_cap = CFG.max_bundle_bytes;
    if (make_dirs(CFG.data_dir, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "%s", err);
        goto out_cfg;
    }
    d->data_dir_shown = shown_data_dir(CFG.data_dir);
    if (CFG.publisher_key != NULL && load_publisher_key(d, &CFG, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "%s", err);
        goto out_cfg;
    }
    if (CFG.proxy_auth_file != NULL && load_proxy_auth(d, &CFG, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "%s", err);
        goto out_key;
    }
    store_limits_from(&CFG, &lim);
    if (store_open(CFG.data_dir, &lim, &d->store, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "%s", err);
        goto out_key;
    }
    if (store_upgraded_from(d->store) != 0)
        log_msg(LOG_INFO,
                "upgraded the store %s/%s from schema version %d to %d: a samizdatd of the "
                "version before cannot open it any more",
                d->data_dir_shown, STORE_DB_NAME, store_upgraded_from(d->store),
                STORE_SCHEMA_VERSION);
    /* A publishing node's own bundles are never evicted for the total quota. */
    if (d->sk != NULL)
        store_set_own_publisher(d->store, d->pk);
    if (uv_mutex_init(&d->store_lock) != 0 || uv_mutex_init(&d->inflater_lock) != 0 ||
        uv_rwlock_init(&d->cfg_lock) != 0) {
        log_msg(LOG_ERROR, "cannot create a mutex");
        goto out_store;
    }
    rc = uv_loop_init(&loop);
    if (rc != 0) {
        log_msg(LOG_ERROR, "cannot start the event loop: %s", uv_strerror(rc));
        goto out_mutex;
    }
    d->loop = &loop;
    d->started_ms = (int64_t)uv_now(&loop);
    d->started_wall = daemon_now();
    if ((rc = start_signal(d, &d->sigint, SIGINT)) != 0 ||
        (rc = start_signal(d, &d->sigterm, SIGTERM)) != 0 ||
        (rc = start_signal(d, &d->sighup, SIGHUP)) != 0 ||
        (rc = uv_timer_init(&loop, &maintenance)) != 0 ||
        (rc = uv_timer_init(&loop, &shutdown_grace)) != 0) {
        log_msg(LOG_ERROR, "cannot set up signals: %s", uv_strerror(rc));
        goto out_loop;
    }
    (void)pthread_sigmask(SIG_UNBLOCK, &hup, NULL);
    maintenance.data = d;
    shutdown_grace.data = d;
    if (d->sk != NULL) {
        rc = publish_init(d, CFG.batch_window_ms, CFG.batch_max_articles, CFG.level, &d->pub);
        if (rc != 0) {
            log_msg(LOG_ERROR, "cannot start publishing: %s", uv_strerror(rc));
            goto out_loop;
        }
        if (publish_check_records(d, err, sizeof err) != 0) {
            log_msg(LOG_ERROR, "%s", err);
            goto out_loop;
        }
    }
    check_files_limit(&CFG);
    rc = ctlsrv_start(d, CFG.socket_path);
    if (rc != 0) {
        char dir[4096];
        struct stat st;
        const char *slash = strrchr(CFG.socket_path, '/');
        /* libuv reports a missing folder as a permission problem: look. */
        if (slash == NULL || slash == CFG.socket_path)
            snprintf(dir, sizeof dir, "%s", slash == NULL ? "." : "/");
        else
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - CFG.socket_path), CFG.socket_path);
        if ((rc == UV_EACCES || rc == UV_ENOENT) && stat(dir, &st) != 0 && errno == ENOENT)
            log_msg(LOG_ERROR,
                    "cannot listen on control socket %s: its folder %s does not exist (create "
                    "it, or use --socket)",
                    CFG.socket_path, dir);
        else
            log_msg(
                LOG_ERROR, "cannot listen on control socket %s: %s%s", CFG.socket_path,
                uv_strerror(rc),
                rc == UV_EADDRINUSE ? " (another samizdatd answers there; stop it or use --socket)"
                : rc == UV_EEXIST   ? " (a file that is not a socket: move it away or use --socket)"
                                    : "");
        begin_shutdown(d, "start-up failed");
        uv_run(&loop, UV_RUN_DEFAULT);
        goto out_loop;
    }
    rc = peer_start(d);
    if (rc != 0) { /* it said why */
        begin_shutdown(d, "start-up failed");
        uv_run(&loop, UV_RUN_DEFAULT);
        goto out_loop;
    }
    uv_timer_start(&maintenance, on_maintenance_timer, 1000, MAINTENANCE_INTERVAL_MS);
    {
        /* The port it got, when it asked for any (0); none without inbound links. */
        struct config_addr bound = CFG.listen;
        if (bound.port == 0 && peer_listen_port(d) != 0)
            bound.port = peer_listen_port(d);
        if (CFG.max_inbound == 0)
            snprintf(listen, sizeof listen, "none (max_inbound is 0)");
        else
            config_addr_format(&bound, listen, sizeof listen);
    }
    if (d->sk != NULL) {
        sz_pk_to_text(d->pk, pk);
        log_msg(LOG_INFO, "publishing as %s", pk);
    }
    if (CFG.max_bundle_bytes < CFG.max_bundle_bytes_set)
        log_msg(LOG_INFO,
                "max_bundle_bytes is %llu bytes here, not %llu: no bundle can be larger than "
                "the quota (max_bytes, publisher_max_bytes); larger ones are not kept",
                (unsigned long long)CFG.max_bundle_bytes,
                (unsigned long long)CFG.max_bundle_bytes_set);
    log_msg(LOG_INFO, "ready: data folder %s, control socket %s, listen %s", CFG.data_dir,
            CFG.socket_path, listen);
    uv_run(&loop, UV_RUN_DEFAULT);
    status = 0;
out_loop:
    uv_walk(&loop, on_walk_close, NULL);
    if (peer_lookups_running(d) > 0) {
        /* Closed handles finish in a turn or two; the lookups of peer names that
         * still wait on a DNS server end with the process (their targets stay
         * allocated: a lookup thread still writes to its request). */
        for (int k = 0; k < 4; k++)
            (void)uv_run(&loop, UV_RUN_NOWAIT);
        log_msg(LOG_DEBUG, "stopping with %zu lookup(s) of peer names unfinished",
                peer_lookups_running(d));
        lookups_left = true;
    } else {
        uv_run(&loop, UV_RUN_DEFAULT);
        rc = uv_loop_close(&loop);
        if (rc != 0)
            log_msg(LOG_ERROR, "event loop did not close cleanly: %s", uv_strerror(rc));
    }
    peer_cleanup(d);
    if (status == 0)
        unlink(CFG.socket_path);
out_mutex:
    while (d->n_inflaters > 0)
        sz_inflater_free(d->inflaters[--d->n_inflaters]);
    uv_mutex_destroy(&d->inflater_lock);
    uv_mutex_destroy(&d->store_lock);
    uv_rwlock_destroy(&d->cfg_lock);
out_store:
    store_close(d->store);
out_key:
    if (d->sk != NULL)
        sodium_free(d->sk);
    if (d->proxy_auth != NULL)
        sodium_free(d->proxy_auth);
out_cfg:
    if (status == 0)
        log_msg(LOG_INFO, "stopped");
    free(d->data_dir_shown);
    config_free(&CFG);
    if (lookups_left) {
        /* libuv joins its thread pool at exit, which would wait for those lookups
         * (seconds, or minutes with several DNS servers): everything of ours is
         * closed and written, so the process ends here. */
        fflush(NULL);
        _exit(status);
    }
    return status;
}
