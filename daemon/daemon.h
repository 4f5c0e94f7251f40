/* The daemon's shared state: one struct daemon per process, owned by main.c. */
#ifndef SZ_DAEMON_DAEMON_H
#define SZ_DAEMON_DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "samizdat/bundle.h"
#include "store.h"

struct config;
struct ctlconn;
struct publish;
struct net;
struct gossip;

struct daemon {
    uv_loop_t *loop;
    struct config *cfg;
    /*
     * Guards cfg->carry, publishers, the quotas, expiry and max_bundle_bytes:
     * SIGHUP replaces them on the loop while pool threads read them.
     */
    uv_rwlock_t cfg_lock;
    const char *config_path; /* NULL when running on defaults and flags */
    /*
     * The data folder as STATUS shows it: its real (absolute) path, so that a
     * client elsewhere can tell a file in it, with bytes that are not UTF-8
     * shown as U+FFFD. NULL until start-up has made the folder.
     */
    char *data_dir_shown;
    struct store *store;
    /* The store is one SQLite connection: every thread-pool job takes this lock. */
    uv_mutex_t store_lock;
    /* Largest uncompressed bundle accepted; SIGHUP changes it while pool threads read it. */
    _Atomic uint64_t content_cap;
    /* zstd contexts lent to pool threads that open bundles. */
    uv_mutex_t inflater_lock;
    struct sz_inflater *inflaters[8];
    size_t n_inflaters;
    /* Publishing (NULL sk when this daemon is not a publisher). */
    uint8_t *sk; /* sodium_malloc'd secret key */
    /* [network] proxy_auth_file: "USER\0PASSWORD", sodium_malloc'd (NULL: none) */
    char *proxy_auth;
    const char *proxy_pass; /* points into proxy_auth */
    uint8_t pk[SZ_PUBLIC_KEY_LEN];
    struct publish *pub;
    /* Control socket. */
    uv_pipe_t ctl_listener;
    bool ctl_listening;
    struct ctlconn *conns; /* open control connections (doubly linked) */
    size_t n_conns;
    size_t ctl_rx_bytes; /* memory of control requests still being received, all connections */
    /* Signals. */
    uv_signal_t sigint, sigterm, sighup;
    bool stopping;
    int64_t started_ms;   /* uv_now() at start */
    int64_t started_wall; /* time(NULL) at start */
    /* Peer links and gossip. */
    struct net *net;
    struct gossip *gossip;
    size_t n_jobs;     /* thread-pool jobs in flight */
    size_t ctl_writes; /* control replies being written: a shutdown waits for them */
    /* Bytes of those replies not written yet (a client that does not read holds
     * them): written on the loop, read by EXPORT on the pool. */
    _Atomic size_t ctl_tx_bytes;
    /* Counted on the loop, read by STATUS on the pool. */
    _Atomic uint64_t n_imported, n_published, n_refused;
    /* The last maintenance's failure ("" when it did its work), and when
     * (time(NULL)); under store_lock: written on the pool, read by STATUS. */
    char maint_err[640];
    int64_t maint_err_at;
    /* Bundles read back from the store damaged, and removed (daemon_checked_read()). */
    _Atomic uint64_t n_damaged;
};

/* Called after every thread-pool job ends, on the loop: continues a shutdown. */
void daemon_job_done(struct daemon *d);

/* True when the carry policy takes bundles of this publisher. */
bool daemon_carries(const struct daemon *d, const uint8_t publisher[SZ_PUBLIC_KEY_LEN]);

/*
 * sz_bundle_open() with a zstd context borrowed from the daemon's pool (any
 * thread). content_cap is the one the bundle was taken under, read on the
 * loop when its job was queued (a SIGHUP may change d->content_cap while the
 * job runs). Returns as sz_bundle_open().
 */
int daemon_open_bundle(struct daemon *d, const uint8_t *buf, size_t len, uint64_t content_cap,
                       struct sz_bundle **out);

/*
 * For bytes just read from the store as the whole bundle `id` (any thread,
 * store_lock not held): 0 when they are that bundle (sz_bundle_check_stored()).
 * Otherwise the disk damaged them: the bundle is deleted from the store, not
 * remembered, so that it is fetched again from a peer that holds it; the log
 * says so (WARN) and n_damaged counts it; returns -EIO. Damaged bytes are
 * never sent: a peer would take them as forged and ban this node.
 */
int daemon_checked_read(struct daemon *d, const uint8_t id[SZ_BUNDLE_ID_LEN], const uint8_t *buf,
                        size_t len);

/*
 * daemon_checked_read() for a bundle of `size` bytes that is sent in pieces,
 * or from an offset (REQUEST_PART), before its first bytes go out: reads it
 * from the store in chunks (the store locked for each read only), checks its
 * header and signature (sz_bundle_verify_prefix()), its id and its payload's
 * hash. Returns 0, -EIO (damaged: removed as there), -ENOENT (it left the
 * store meanwhile) or -ENOMEM.
 */
int daemon_checked_stream(struct daemon *d, const uint8_t id[SZ_BUNDLE_ID_LEN], uint64_t size);

/* Current wall-clock time in seconds. */
int64_t daemon_now(void);

/*
 * Opens a file named by the configuration (a key, a passphrase) for reading
 * without waiting on a FIFO for a writer (a start that blocked there ignored
 * SIGTERM). Its caller refuses what is not a regular file. Returns the fd, or
 * -1 with errno set.
 */
int daemon_open_file(const char *path);

/* RFC 3339, or the raw seconds for a time outside years 1..9999. */
void daemon_format_time(int64_t t, char *out, size_t out_cap);

/*
 * True when the clock reading now is wrong: earlier than SZ_CLOCK_FLOOR, or
 * stepped back more than slack seconds from the last time a bundle was
 * stored (store_newest_received()); msg then says which. Bundles signed with
 * it would be dated wrong, and every bundle held or offered would seem dated
 * ahead of it. Takes the store lock.
 */
bool daemon_clock_wrong(struct daemon *d, int64_t now, int64_t slack, char *msg, size_t msg_cap);

#endif
