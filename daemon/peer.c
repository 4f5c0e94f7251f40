/* Peer connections over libuv: listen, connect with backoff, handshake, frames. */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "gossip.h"
#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "samizdat/msg.h"

#define REPLAY_SLOTS 4096
#define MAX_BANS 1024
#define MAX_TARGETS 256
#define MAX_LEARNED 64     /* targets learned by peer exchange at once */
#define LEARNED_ATTEMPTS 5 /* a learned address failing this often in a row is forgotten */
#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 300000u
/* An outbound link that closes sooner than this counts as a failed attempt
 * (the backoff grows): a peer that ends every link at once (it is full, or
 * bans this node's key) is not dialled again and again within a second. */
#define LINK_LASTED_MS 30000
#define TICK_MS 5000
/* How often a target whose node has a link with this one already (it dialled
 * here too) is looked at again, besides when that link closes. */
#define COVERED_RECHECK_MS 60000
#define READ_BUF_LEN 65536
/* The onion service's connections in the handshake at once: this many times
 * max_handshakes_per_address (they all come from one address, the local Tor). */
#define ONION_HANDSHAKES 4u

/* An address we keep an outbound connection to. */
struct target {
    struct target *next;
    struct net *net;
    struct config_addr addr;
    char name[CONFIG_HOST_CAP + 8];
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    bool resolving;
    bool closed;       /* shutting down: no new attempt */
    bool timer_closed; /* its timer handle finished closing */
    uint32_t backoff_ms;
    struct peer *p;
    bool learned;                 /* from peer exchange, not the configuration */
    unsigned failures;            /* attempts failed in a row */
    bool warned;                  /* said to be unreachable: said again when it answers */
    bool self;                    /* it is this node's own address: not dialled again */
    bool self_said;               /* a name one of whose addresses is this node: said once */
    char last_err[512];           /* why its last attempt failed ("" when it answered) */
    uint8_t key[SZ_NODE_KEY_LEN]; /* the node key it answered with last */
    bool key_known;
};

struct ban {
    uint8_t group[9]; /* the address (IPv6: the /64), as peer.group; group[0] == 0: none */
    uint8_t key[SZ_NODE_KEY_LEN];
    bool has_key;
    int64_t until_ms;
};

struct net {
    struct daemon *d;
    struct sz_link_keys *keys; /* sodium_malloc'd */
    uv_tcp_t listener;
    bool listening;
    uv_tcp_t onion_listener; /* [network] onion_listen: what a local Tor forwards */
    bool onion_listening;
    uint64_t onion_seq;   /* numbers the onion service's connections */
    uint64_t inbound_seq; /* ... and the others this node did not open (their labels) */
    uv_timer_t tick;
    bool tick_started; /* the tick handle exists: close it at shutdown */
    struct peer *peers;
    size_t n_inbound, n_outbound;
    struct target *targets;
    size_t n_targets;
    size_t n_learned;    /* targets learned by peer exchange */
    uint16_t bound_port; /* the port the listener got (the configured one may be 0) */
    uint16_t onion_port; /* ... and the onion service's listener */
    size_t n_resolving;
    struct ban bans[MAX_BANS];
    size_t n_bans;
    uint8_t replay[REPLAY_SLOTS][32];
    int64_t replay_ms[REPLAY_SLOTS];
    size_t replay_next;
    uint64_t probes_rejected;
    uint64_t handshakes_refused; /* inbound refused: the address had too many in progress */
    uint64_t inbound_full;       /* inbound refused: max_inbound links open, fairly shared */
    uint64_t inbound_evicted;    /* inbound closed to make room for another address's */
    struct log_limit full_log;
    struct log_limit busy_log;
    uint64_t misbehaviour; /* every peer's, including those gone */
    size_t queued;         /* bytes in pending writes, every peer's */
    long long heap_slack;  /* resident bytes not in use, at their lowest since the last trim */
    bool heap_slack_known; /* ... once measured */
    struct log_limit probe_log;
    struct log_limit unbanned_log;    /* misbehaviour with ban_seconds 0: no ban bounds the lines */
    bool proxy;                       /* [network] proxy set: outbound links go through it */
    struct sockaddr_storage proxy_ss; /* ... its address */
    char proxy_name[CONFIG_HOST_CAP + 16];
    struct log_limit proxy_log;
    bool stopping;
    uint8_t rbuf[READ_BUF_LEN]; /* one read buffer for every peer: reads run one at a time */
};

struct pwreq {
    uv_write_t req;
    struct peer *p;
    size_t len;
    uint8_t data[];
};

static void peer_start_read(struct peer *p);
static void target_schedule(struct target *t, bool failed);
static void target_forget(struct target *t, const char *why);

/* ---- keys ---- */

#define NODE_KEY_NAME "node.key"
/* Where a new node key is written before it gets its name (a fixed name: the
 * data folder's lock, taken by store_open() before peer_start(), keeps any other
 * samizdatd out of the folder, so a file by this name is a crashed start's). */
#define NODE_KEY_TMP_NAME "node.key.tmp"

/*
 * Makes a new node key and gives it the name node.key in the open data folder
 * dfd only once its 32 bytes are on disk: written and fsynced under
 * NODE_KEY_TMP_NAME, linked to node.key, then the folder fsynced. A crash at
 * any point leaves no node.key (the next start makes one) or a whole one, never
 * a short one. link() fails when node.key exists, as O_EXCL did: a key someone
 * put there meanwhile is never replaced. Returns 0, 1 when node.key appeared
 * meanwhile (the caller reads that one instead), or -1 with a reason in err.
 */
static int
make_node_key(int dfd, const char *data_dir, struct sz_link_keys *k, char *err, size_t err_cap)
{
    const char *step = "creating " NODE_KEY_TMP_NAME;
    ssize_t n = -1;
    int fd, r, e;

    randombytes_buf(k->node_sk, SZ_NODE_KEY_LEN);
    fd = openat(dfd, NODE_KEY_TMP_NAME, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto fail;
    step = "writing " NODE_KEY_TMP_NAME;
    do
        n = write(fd, k->node_sk, SZ_NODE_KEY_LEN);
    while (n < 0 && errno == EINTR);
    if (n != SZ_NODE_KEY_LEN) {
        if (n >= 0)
            errno = ENOSPC; /* a short write to a regular file: the disk is full */
        goto fail_tmp;
    }
    if (fsync(fd) != 0)
        goto fail_tmp;
    r = close(fd);
    fd = -1;
    if (r != 0)
        goto fail_tmp;
    step = "naming it " NODE_KEY_NAME;
    r = linkat(dfd, NODE_KEY_TMP_NAME, dfd, NODE_KEY_NAME, 0);
    if (r != 0 && (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS))
        /* A file system without hard links (FAT): rename, the lock keeping
         * other daemons out. */
        r = renameat(dfd, NODE_KEY_TMP_NAME, dfd, NODE_KEY_NAME);
    if (r != 0) {
        if (errno == EEXIST) {
            (void)unlinkat(dfd, NODE_KEY_TMP_NAME, 0);
            sodium_memzero(k->node_sk, SZ_NODE_KEY_LEN);
            return 1;
        }
        goto fail_tmp;
    }
    /* Left behind on failure, it is removed at the next start. */
    (void)unlinkat(dfd, NODE_KEY_TMP_NAME, 0);
    /* The key is whole under its name by now: a folder that cannot be synced
     * (EINVAL: the file system does not sync folders) is only warned about. */
    if (fsync(dfd) != 0 && errno != EINVAL)
        log_msg(LOG_WARN,
                "cannot sync the data folder %.300s after making its " NODE_KEY_NAME
                ": %s; a power cut now could lose the key, and a new one would be made at the "
                "next start (peers then know this node as a new one)",
                data_dir, strerror(errno));
    return 0;

fail_tmp:
    e = errno;
    if (fd >= 0)
        close(fd);
    (void)unlinkat(dfd, NODE_KEY_TMP_NAME, 0);
    errno = e;
fail:
    snprintf(err, err_cap,
             "cannot make the node key %.300s/" NODE_KEY_NAME " (%s): %s; check that the data "
             "folder is writable and its disk has room, then start again",
             data_dir, step, strerror(errno));
    sodium_memzero(k->node_sk, SZ_NODE_KEY_LEN);
    return -1;
}

/*
 * Reads DATA/node.key (the X25519 secret, mode 0600), or makes it at the first
 * start (make_node_key()).
 */
static int
load_node_key(const char *data_dir, struct sz_link_keys *k, char *err, size_t err_cap)
{
    char path[4096];
    uint8_t buf[SZ_NODE_KEY_LEN + 1];
    struct stat st;
    ssize_t n;
    int dfd, fd, r, attempt, rc = -1;

    snprintf(path, sizeof path, "%s/" NODE_KEY_NAME, data_dir);
    dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(err, err_cap, "cannot open the data folder %.300s to read its node key: %s",
                 data_dir, strerror(errno));
        return -1;
    }
    /* A temporary left by a start that crashed while making the key: that key
     * was never named node.key, so it was never used. */
    if (unlinkat(dfd, NODE_KEY_TMP_NAME, 0) == 0)
        log_msg(LOG_INFO,
                "removed %.300s/" NODE_KEY_TMP_NAME
                ", left by a start that was interrupted while making the node key",
                data_dir);
    else if (errno != ENOENT) {
        snprintf(err, err_cap,
                 "cannot remove %.300s/" NODE_KEY_TMP_NAME
                 " (left by an interrupted start): %s; remove it by hand",
                 data_dir, strerror(errno));
        goto out;
    }
    /* A second attempt only when node.key appeared while the first made one. */
    for (attempt = 0; attempt < 2; attempt++) {
        fd = openat(dfd, NODE_KEY_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno != ENOENT) {
            snprintf(err, err_cap, "cannot read the node key %.300s: %s", path, strerror(errno));
            goto out;
        }
        /*
         * An empty node.key never held a key: versions that wrote node.key in
         * place created it empty and used the key only once its 32 bytes were
         * written and fsynced, so an empty one is a first start killed in
         * between (and now it only ever gets its name once whole). No node's
         * identity is lost by replacing it; any other size is refused below.
         */
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
            close(fd);
            fd = -1;
            log_msg(LOG_WARN,
                    "%.300s is empty (a first start was interrupted while making it; no key was "
                    "ever in it): making a new node key",
                    path);
            if (unlinkat(dfd, NODE_KEY_NAME, 0) != 0 && errno != ENOENT) {
                snprintf(err, err_cap, "cannot remove the empty node key %.300s: %s; move it away",
                         path, strerror(errno));
                goto out;
            }
        }
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid != geteuid()) {
            close(fd);
            snprintf(err, err_cap,
                     "node key %.300s belongs to another user, who may know it: move it away, "
                     "and a new node key is made at the next start",
                     path);
            goto out;
        }
        if (fd >= 0) {
            log_warn_readable(fd, "node key", path);
            n = read(fd, buf, sizeof buf);
            close(fd);
            if (n != SZ_NODE_KEY_LEN) {
                snprintf(err, err_cap,
                         "%.300s is damaged (not %d bytes): move it away, and a new node key is "
                         "made at the next start (peers then know this node as a new one)",
                         path, SZ_NODE_KEY_LEN);
                sodium_memzero(buf, sizeof buf);
                goto out;
            }
            memcpy(k->node_sk, buf, SZ_NODE_KEY_LEN);
            sodium_memzero(buf, sizeof buf);
            rc = 0;
            break;
        }
        r = make_node_key(dfd, data_dir, k, err, err_cap);
        if (r < 0)
            goto out;
        if (r == 0) {
            rc = 0;
            break;
        }
    }
    if (rc != 0) {
        snprintf(err, err_cap,
                 "%.300s keeps appearing and disappearing while this daemon starts: is something "
                 "else writing into the data folder? Stop it, then start again",
                 path);
        goto out;
    }
    crypto_scalarmult_base(k->node_pk, k->node_sk);
out:
    close(dfd);
    return rc;
}

/* A network key file: 64 hex digits, white space around them ignored. */
int
peer_load_network_key(const char *path, uint8_t key[SZ_NETWORK_KEY_LEN], char *err, size_t err_cap)
{
    uint8_t buf[4096];
    size_t got = 0;
    ssize_t r;
    struct stat st;
    int fd = daemon_open_file(path);

    if (fd < 0) {
        int e = errno;
        if (lstat(path, &st) == 0)
            snprintf(err, err_cap, "cannot read network key file %s: %s", path, strerror(e));
        else
            /* Not repeated: it may be the key itself (in hex, 0x..., od's output),
             * pasted in place of a path. */
            snprintf(err, err_cap,
                     "cannot open the network key file named by network_key: %s (its name is "
                     "not shown in case it is the key itself): put the 64 hex digits in a file "
                     "readable only by this daemon and give its path",
                     strerror(e));
        return -1;
    }
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, err_cap, "network key file %s is not a regular file: name the file itself",
                 path);
        close(fd);
        return -1;
    }
    log_warn_readable(fd, "network key file", path);
    /* All of it (a file longer than the buffer is no key file): what is not
     * read cannot be checked. */
    while (got < sizeof buf && (r = read(fd, buf + got, sizeof buf - got)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, err_cap, "cannot read network key file %s: %s", path, strerror(errno));
            close(fd);
            sodium_memzero(buf, sizeof buf);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    if (got == sizeof buf || sz_network_key_parse(buf, got, key) != 0) {
        sodium_memzero(buf, sizeof buf);
        snprintf(err, err_cap,
                 "network key %s must hold 64 hex digits (make one with: (umask 077; head -c "
                 "32 /dev/urandom | od -An -tx1 | tr -d ' \\n' >FILE))",
                 path);
        return -1;
    }
    sodium_memzero(buf, sizeof buf);
    return 0;
}

/* ---- bans and replays ---- */

static bool
is_banned(struct net *net, const uint8_t *group, const uint8_t *key, int64_t now_ms)
{
    size_t i;

    for (i = 0; i < net->n_bans; i++) {
        struct ban *b = &net->bans[i];
        if (b->until_ms <= now_ms)
            continue;
        if ((group != NULL && b->group[0] != 0 && memcmp(b->group, group, sizeof b->group) == 0) ||
            (key != NULL && b->has_key && sodium_memcmp(b->key, key, SZ_NODE_KEY_LEN) == 0))
            return true;
    }
    return false;
}

static void
ban_add(struct net *net, const struct peer *p, int64_t until_ms)
{
    size_t i, slot = net->n_bans;
    int64_t now = (int64_t)uv_now(net->d->loop);

    for (i = 0; i < net->n_bans; i++)
        if (net->bans[i].until_ms <= now) {
            slot = i;
            break;
        }
    if (slot == MAX_BANS)
        slot = (size_t)randombytes_uniform(MAX_BANS);
    else if (slot == net->n_bans)
        net->n_bans++;
    memset(&net->bans[slot], 0, sizeof net->bans[slot]);
    memcpy(net->bans[slot].group, p->group, sizeof net->bans[slot].group);
    if (p->open) {
        memcpy(net->bans[slot].key, p->node_key, SZ_NODE_KEY_LEN);
        net->bans[slot].has_key = true;
    }
    net->bans[slot].until_ms = until_ms;
}

/* A first message's ephemeral key seen within the clock window is a replay. */
static bool
replay_seen(const uint8_t e[32], void *ctx)
{
    struct net *net = ctx;
    int64_t now = (int64_t)uv_now(net->d->loop);
    size_t i;

    for (i = 0; i < REPLAY_SLOTS; i++)
        if (net->replay_ms[i] != 0 && now - net->replay_ms[i] < 2 * SZ_HS_CLOCK_SKEW_S * 1000 &&
            sodium_memcmp(net->replay[i], e, 32) == 0)
            return true;
    memcpy(net->replay[net->replay_next], e, 32);
    net->replay_ms[net->replay_next] = now > 0 ? now : 1;
    net->replay_next = (net->replay_next + 1) % REPLAY_SLOTS;
    return false;
}

/* ---- lifetime ---- */

static void
peer_free(struct peer *p)
{
    struct net *net = p->d->net;

    if (p->prev != NULL)
        p->prev->next = p->next;
    else if (net->peers == p)
        net->peers = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    if (p->outbound)
        net->n_outbound--;
    else
        net->n_inbound--;
    sz_link_free(p->link);
    if (p->socks != NULL) {
        sz_socks5_wipe(p->socks);
        free(p->socks);
    }
    free(p);
    daemon_job_done(net->d);
}

static void
on_peer_handle_closed(uv_handle_t *h)
{
    struct peer *p = h->data;

    if (--p->n_handles_open == 0 && p->holds == 0)
        peer_free(p);
}

static void
close_handles(struct peer *p)
{
    if (!uv_is_closing((uv_handle_t *)&p->tcp))
        uv_close((uv_handle_t *)&p->tcp, on_peer_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&p->timer))
        uv_close((uv_handle_t *)&p->timer, on_peer_handle_closed);
}

static void on_peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void
on_linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0)
        close_handles(s->data);
}

static void
on_linger_timer(uv_timer_t *t)
{
    close_handles(t->data);
}

static void
on_linger_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    peer_release(req->data);
}

/*
 * A socket closed with bytes of the peer's still unread is reset by the
 * kernel, and a reset drops what this side had queued: the GOODBYE sent
 * just before the close would be lost, and the peer would only see the link
 * end. So after a GOODBYE the close is graceful: sending ends once the queue
 * is out (a FIN after the GOODBYE), what the peer still sends is read and
 * dropped, and the handles close when the peer closes its side or after ms,
 * whichever comes first. Returns whether the close was left to that.
 */
static bool
linger(struct peer *p, uint64_t ms)
{
    uv_stream_t *s = (uv_stream_t *)&p->tcp;

    if (!p->goodbye_out || !uv_is_writable(s))
        return false;
    (void)uv_read_stop(s);
    if (uv_read_start(s, on_peer_alloc, on_linger_read) != 0)
        return false;
    p->shut.data = p;
    if (uv_shutdown(&p->shut, s, on_linger_shutdown) != 0) {
        (void)uv_read_stop(s);
        return false;
    }
    peer_hold(p);
    uv_timer_stop(&p->timer);
    uv_timer_start(&p->timer, on_linger_timer, ms, 0);
    return true;
}

void
peer_hold(struct peer *p)
{
    p->holds++;
}

void
peer_release(struct peer *p)
{
    if (--p->holds == 0 && p->n_handles_open == 0 && p->closing)
        peer_free(p);
}

void
peer_close(struct peer *p, bool ban, const char *why)
{
    struct net *net = p->d->net;
    int64_t now = (int64_t)uv_now(p->d->loop);

    if (p->closing)
        return;
    p->closing = true;
    /* With bans, one line per banned address and node key; without, at most 20 a minute. */
    if (why != NULL && ban && net->d->cfg->ban_seconds == 0) {
        if (log_allow(&net->unbanned_log, LOG_WARN, 20, now))
            log_msg(LOG_WARN, "peer %s: closed: %s (not banned: ban_seconds is 0)", peer_name(p),
                    why);
    } else if (why != NULL) {
        log_msg(ban           ? LOG_WARN
                : p->outbound ? LOG_INFO
                              : LOG_DEBUG,
                "peer %s: closed: %s%s", peer_name(p), why, ban ? " (banned)" : "");
    }
    p->banned = ban;
    if (ban && net->d->cfg->ban_seconds > 0)
        ban_add(net, p, now + (int64_t)net->d->cfg->ban_seconds * 1000);
    if (p->open)
        gossip_peer_closed(p, ban);
    /* A target not dialled for this link (target_covered()) is dialled now. */
    if (p->open && !net->stopping)
        for (struct target *t = net->targets; t != NULL; t = t->next)
            if (t != p->target && t->p == NULL && !t->resolving && t->key_known &&
                sodium_memcmp(t->key, p->node_key, SZ_NODE_KEY_LEN) == 0 && !ban) {
                t->backoff_ms = BACKOFF_MIN_MS;
                target_schedule(t, false);
            }
    if (p->target != NULL) {
        bool lasted = p->open && now - p->connected_ms >= LINK_LASTED_MS;
        if (!p->open && why != NULL)
            snprintf(p->target->last_err, sizeof p->target->last_err, "%s", why);
        p->target->p = NULL;
        /* Banned there: no use trying again before the longest wait. */
        if (p->goodbye_in == SZ_GOODBYE_BANNED)
            p->target->backoff_ms = BACKOFF_MAX_MS;
        if (!net->stopping)
            target_schedule(p->target, !lasted || ban || p->goodbye_in == SZ_GOODBYE_BANNED ||
                                           p->goodbye_in == SZ_GOODBYE_TOO_MANY_PEERS);
        p->target = NULL;
    }
    if (!linger(p, net->stopping ? PEER_LINGER_STOP_MS : PEER_LINGER_MS))
        close_handles(p);
}

/* Encodes a GOODBYE (the text cut to the protocol's limit). */
static int
goodbye(uint8_t reason, const char *why, uint8_t *out, size_t cap, size_t *len)
{
    struct sz_msg m;

    memset(&m, 0, sizeof m);
    m.type = SZ_MSG_GOODBYE;
    m.reason = reason;
    m.text = why;
    m.text_len = strlen(why);
    if (m.text_len > SZ_MSG_MAX_GOODBYE_TEXT_LEN)
        m.text_len = SZ_MSG_MAX_GOODBYE_TEXT_LEN;
    return sz_msg_encode(&m, out, cap, len);
}

void
peer_count_misbehaviour(struct peer *p)
{
    p->misbehaviour++;
    p->d->net->misbehaviour++;
}

void
peer_misbehaved(struct peer *p, uint8_t reason, const char *why)
{
    uint8_t body[300];
    size_t len = 0;

    if (p->closing) {
        /*
         * Found out after the link closed (a bundle checked on the thread
         * pool while its sender hung up): banned all the same, or hanging up
         * at once would be a way to send bad data again and again.
         */
        if (!p->banned) {
            struct net *net = p->d->net;
            int64_t now = (int64_t)uv_now(p->d->loop);
            p->banned = true;
            peer_count_misbehaviour(p);
            if (net->d->cfg->ban_seconds > 0) {
                log_msg(LOG_WARN, "peer %s (closed already): %s (banned)", peer_name(p), why);
                ban_add(net, p, now + (int64_t)net->d->cfg->ban_seconds * 1000);
            } else if (log_allow(&net->unbanned_log, LOG_WARN, 20, now)) {
                log_msg(LOG_WARN, "peer %s (closed already): %s (not banned: ban_seconds is 0)",
                        peer_name(p), why);
            }
        }
        return;
    }
    peer_count_misbehaviour(p);
    /* A link that failed its checks cannot seal a GOODBYE: just ban and close. */
    if (p->open && sz_link_state(p->link) == SZ_LINK_OPEN &&
        goodbye(reason, why, body, sizeof body, &len) == 0 && peer_send(p, body, len) == 0)
        p->goodbye_out = true;
    peer_close(p, true, why);
}

/* ---- writing ---- */

static void
on_peer_write(uv_write_t *req, int status)
{
    struct pwreq *w = (struct pwreq *)req;
    struct peer *p = w->p;
    size_t before = p->queued;

    p->queued -= w->len;
    p->d->net->queued -= w->len;
    if (p->via_proxy && !p->open)
        sodium_memzero(w->data, w->len); /* the proxy's password may be in it */
    free(w);
    if (status >= 0)
        p->drained_ms = (int64_t)uv_now(p->d->loop);
    if (p->closing) {
        gossip_send_freed(p->d);
        peer_release(p);
        return;
    }
    if (status < 0) {
        peer_close(p, false, uv_strerror(status));
    } else {
        if (p->queued < PEER_SEND_QUEUE_MAX / 2) {
            if (p->paused) {
                p->paused = false;
                peer_start_read(p);
            }
            /* Below half: room for the next serve batch while half is still on its way. */
            if (before >= PEER_SEND_QUEUE_MAX / 2 || p->queued == 0)
                gossip_peer_drained(p);
        }
        gossip_send_freed(p->d);
    }
    peer_release(p);
}

static void
on_close_soon(uv_timer_t *t)
{
    struct peer *p = t->data;

    peer_close(p, false, p->close_why);
}

/*
 * A send to an open peer that fails closes it on the next turn of the loop,
 * not at once: the sender may be walking gossip's fetches and peers, which
 * closing a peer changes. Until then the peer neither sends nor reads.
 */
static void
close_soon(struct peer *p, const char *why)
{
    if (p->closing || p->close_soon)
        return;
    if (!p->open) {
        peer_close(p, false, why);
        return;
    }
    p->close_soon = true;
    p->close_why = why;
    uv_read_stop((uv_stream_t *)&p->tcp);
    uv_timer_stop(&p->timer);
    uv_timer_start(&p->timer, on_close_soon, 0, 0);
}

/* Writes bytes that are already on the wire format (handshake output or a sealed frame). */
static int
write_owned(struct peer *p, struct pwreq *w)
{
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
    int rc;

    w->p = p;
    rc = uv_write(&w->req, (uv_stream_t *)&p->tcp, &buf, 1, on_peer_write);
    if (rc != 0) {
        free(w);
        close_soon(p, uv_strerror(rc));
        return rc;
    }
    if (p->queued == 0)
        p->drained_ms = (int64_t)uv_now(p->d->loop);
    p->queued += w->len;
    p->d->net->queued += w->len;
    p->bytes_out += w->len;
    peer_hold(p);
    return 0;
}

/*
 * Sends GOODBYE on a link whose handshake is done but that is not open for
 * gossip (peer_send() refuses those): to a banned node key, right before the
 * close. Nothing happens when it cannot be sent.
 */
static void
goodbye_unopened(struct peer *p, uint8_t reason, const char *why)
{
    uint8_t body[300];
    size_t len = 0;
    struct pwreq *w;

    if (p->closing || sz_link_state(p->link) != SZ_LINK_OPEN ||
        goodbye(reason, why, body, sizeof body, &len) != 0)
        return;
    w = malloc(sizeof *w + len + SZ_FRAME_OVERHEAD);
    if (w == NULL)
        return;
    if (sz_link_seal(p->link, body, len, w->data) != 0) {
        free(w);
        return;
    }
    w->len = len + SZ_FRAME_OVERHEAD;
    if (write_owned(p, w) == 0)
        p->goodbye_out = true;
}

/* Another link to the node p is linked to (its node key), open and not closing. */
static struct peer *
other_link(struct net *net, const struct peer *p)
{
    for (struct peer *q = net->peers; q != NULL; q = q->next)
        if (q != p && q->open && !q->closing &&
            sodium_memcmp(q->node_key, p->node_key, SZ_NODE_KEY_LEN) == 0)
            return q;
    return NULL;
}

/*
 * Two links between the same two nodes (each lists the other as a peer, or
 * one reached the other by two addresses): which to close, p (just opened)
 * or q (open before), or NULL to keep both for now. Both nodes must choose
 * the same link without a word: the one kept is the one the node with the
 * smaller node key opened. When one node opened both, it closes the newer,
 * and the other waits for that.
 */
static struct peer *
duplicate_to_close(const struct net *net, struct peer *p, struct peer *q)
{
    const uint8_t *by_p = p->outbound ? net->keys->node_pk : p->node_key;
    const uint8_t *by_q = q->outbound ? net->keys->node_pk : q->node_key;
    int c = memcmp(by_p, by_q, SZ_NODE_KEY_LEN);

    if (c == 0)
        return p->outbound ? p : NULL;
    return c < 0 ? q : p;
}

/*
 * Closes the duplicate link `drop` (GOODBYE 5, too many peers: the reasons
 * PROTOCOL.md gives have no other that fits, and a new one would be a
 * violation to nodes of this version). Its target, if any, is not dialled
 * while the node answers on the link kept (target_covered()).
 */
static void
close_duplicate(struct peer *drop, const struct peer *keep)
{
    struct target *t = drop->target;
    char why[160];

    snprintf(why, sizeof why,
             "a second link to the same node (node key %02x%02x%02x%02x...): the %s link is kept",
             drop->node_key[0], drop->node_key[1], drop->node_key[2], drop->node_key[3],
             keep->outbound ? "outbound" : "inbound");
    goodbye_unopened(drop, SZ_GOODBYE_TOO_MANY_PEERS, "another link between our nodes is open");
    if (t != NULL)
        t->failures = 0; /* not a failure: a learned address is not forgotten for it */
    peer_close(drop, false, why);
    if (t != NULL)
        snprintf(t->last_err, sizeof t->last_err, "linked through the %s link with the same node",
                 keep->outbound ? "outbound" : "inbound");
}

/* Sends what the link has queued (handshake messages). */
static int
flush_link(struct peer *p)
{
    size_t n;
    const uint8_t *out = sz_link_output(p->link, &n);
    struct pwreq *w;

    if (n == 0 || p->closing)
        return 0;
    w = malloc(sizeof *w + n);
    if (w == NULL) {
        peer_close(p, false, "out of memory");
        return UV_ENOMEM;
    }
    memcpy(w->data, out, n);
    w->len = n;
    sz_link_output_consume(p->link, n);
    return write_owned(p, w);
}

int
peer_send(struct peer *p, const uint8_t *body, size_t len)
{
    struct pwreq *w;
    int rc;

    if (p->closing || p->close_soon || !p->open || sz_link_state(p->link) != SZ_LINK_OPEN)
        return UV_ECANCELED;
    w = malloc(sizeof *w + len + SZ_FRAME_OVERHEAD);
    if (w == NULL) {
        close_soon(p, "out of memory");
        return UV_ENOMEM;
    }
    rc = sz_link_seal(p->link, body, len, w->data);
    if (rc != 0) {
        free(w);
        close_soon(p, sz_strerror(rc));
        return UV_EINVAL;
    }
    w->len = len + SZ_FRAME_OVERHEAD;
    return write_owned(p, w);
}

int
peer_send_msg(struct peer *p, const struct sz_msg *m)
{
    uint8_t small[1024], *body = small;
    size_t len = 0;
    int rc;

    rc = sz_msg_encoded_len(m, &len);
    if (rc != 0) {
        log_msg(LOG_ERROR, "peer %s: cannot encode a %s message: %s", peer_name(p),
                sz_msg_type_name(m->type) != NULL ? sz_msg_type_name(m->type) : "?",
                sz_strerror(rc));
        return UV_EINVAL;
    }
    if (len > sizeof small && (body = malloc(len)) == NULL)
        return UV_ENOMEM;
    rc = sz_msg_encode(m, body, len, &len);
    rc = rc == 0 ? peer_send(p, body, len) : UV_EINVAL;
    if (body != small)
        free(body);
    return rc;
}

size_t
peer_send_room(const struct peer *p)
{
    return p->queued >= PEER_SEND_QUEUE_MAX ? 0 : PEER_SEND_QUEUE_MAX - p->queued;
}

/* ---- reading ---- */

static void
on_peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct peer *p = h->data;

    (void)suggested;
    *buf = uv_buf_init((char *)p->d->net->rbuf, READ_BUF_LEN);
}

/*
 * A responder whose first message failed says nothing and goes on reading
 * and discarding until the handshake deadline closes the connection, exactly
 * as when too few bytes came: a prober sees the same silence, the same close
 * time and the same FIN whatever and however much it sent.
 */
static void
reject_probe(struct peer *p, int err)
{
    struct net *net = p->d->net;

    net->probes_rejected++;
    p->silent_close = true;
    if (log_allow(&net->probe_log, LOG_INFO, 20, (int64_t)uv_now(p->d->loop)))
        log_msg(LOG_INFO,
                "peer %s: rejected a connection that did not prove the network key, or whose "
                "clock differs from this machine's by more than 10 minutes, or that replayed a "
                "first message%s%s%s",
                peer_name(p), err == -SZ_EAUTH ? "" : " (",
                err == -SZ_EAUTH ? "" : sz_strerror(err), err == -SZ_EAUTH ? "" : ")");
}

static void
on_peer_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct peer *p = s->data;
    struct net *net = p->d->net;
    struct sz_link_event ev;
    int64_t now = daemon_now();
    int rc;

    if (nread < 0) {
        /* Silence and a close are all a node says to a first message it refuses. */
        if (nread == UV_EOF && p->link != NULL && sz_link_state(p->link) == SZ_LINK_WAIT_HS2)
            peer_close(p, false,
                       "the peer closed the connection without answering the handshake: a node "
                       "that is full (max_inbound) or has banned this address does that, and so "
                       "does one with another network key, or whose clock differs from this "
                       "machine's by more than 10 minutes (check both clocks)");
        else
            peer_close(p, false,
                       nread == UV_EOF ? "the peer closed the connection"
                                       : uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || p->closing || p->silent_close)
        return;
    p->bytes_in += (uint64_t)nread;
    p->last_rx_ms = (int64_t)uv_now(p->d->loop);
    rc = sz_link_input(p->link, (const uint8_t *)buf->base, (size_t)nread);
    while (rc == 0 && !p->closing && !p->close_soon) {
        enum sz_link_state before = sz_link_state(p->link);
        rc = sz_link_poll(p->link, now, &ev);
        if (rc != 0)
            break;
        if (flush_link(p) != 0)
            return;
        if (ev.type == SZ_LINK_EV_NONE)
            break;
        if (ev.type == SZ_LINK_EV_OPEN) {
            memcpy(p->node_key, sz_link_peer_key(p->link), SZ_NODE_KEY_LEN);
            if (is_banned(net, NULL, p->node_key, p->last_rx_ms)) {
                /* It proved the network key: it may learn why (PROTOCOL.md 4.4). */
                goodbye_unopened(p, SZ_GOODBYE_BANNED,
                                 "this node key is banned here for misbehaving; try again later");
                peer_close(p, false, "banned node key");
                return;
            }
            if (sodium_memcmp(p->node_key, net->keys->node_pk, SZ_NODE_KEY_LEN) == 0) {
                /*
                 * One peers list shared by every relay names each one too.
                 * An address is not dialled again; a name (several relays
                 * behind it, or one that pointed here once) goes on to its
                 * other addresses, and is named once.
                 */
                struct target *t = p->target;
                if (t != NULL && t->addr.kind != CONFIG_ADDR_NAME && !t->self) {
                    t->self = true;
                    snprintf(t->last_err, sizeof t->last_err,
                             "it is this node itself: not dialled again (remove it from peers)");
                    if (!t->learned)
                        log_msg(LOG_WARN,
                                "peer %s: is this node itself (one of its own addresses): not "
                                "dialled again; remove it from peers",
                                t->name);
                } else if (t != NULL && t->addr.kind == CONFIG_ADDR_NAME && !t->self_said) {
                    t->self_said = true;
                    if (!t->learned)
                        log_msg(LOG_WARN,
                                "peer %s: one of the name's addresses is this node itself; its "
                                "other addresses are still tried",
                                t->name);
                }
                peer_close(p, false, "connected to itself");
                return;
            }
            if (p->target != NULL) {
                memcpy(p->target->key, p->node_key, SZ_NODE_KEY_LEN);
                p->target->key_known = true;
            }
            {
                struct peer *q = other_link(net, p);
                struct peer *drop = q != NULL ? duplicate_to_close(net, p, q) : NULL;
                if (drop == p) {
                    close_duplicate(p, q);
                    return;
                }
                if (drop != NULL)
                    close_duplicate(drop, p);
            }
            p->open = true;
            p->connected_ms = p->last_rx_ms;
            uv_timer_stop(&p->timer);
            if (p->target != NULL)
                p->target->last_err[0] = '\0';
            if (p->target != NULL && p->target->warned) {
                p->target->warned = false;
                log_msg(LOG_INFO, "peer %s: answers again", peer_name(p));
            }
            /* Inbound links include readers: their addresses stay out of the default log. */
            log_msg(p->outbound ? LOG_INFO : LOG_DEBUG, "peer %s: link open (%s)", peer_name(p),
                    p->outbound    ? "outbound"
                    : p->via_onion ? "inbound, through the onion service"
                                   : "inbound");
            gossip_peer_open(p);
        } else if (ev.type == SZ_LINK_EV_MESSAGE) {
            (void)before;
            if (gossip_peer_message(p, ev.body, ev.body_len) != 0)
                return;
        }
    }
    if (rc != 0 && !p->closing) {
        if (!p->outbound && sz_link_state(p->link) == SZ_LINK_FAILED && !p->open &&
            sz_link_version(p->link) == 0 && p->bytes_out == 0)
            reject_probe(p, rc);
        else if (p->open)
            peer_misbehaved(p, SZ_GOODBYE_PROTOCOL, "a frame failed authentication or its limits");
        else
            peer_close(p, false, sz_strerror(rc));
    }
}

static void
peer_start_read(struct peer *p)
{
    int rc;

    if (p->closing || p->paused || p->reading_held || p->silent_close || p->close_soon)
        return;
    rc = uv_read_start((uv_stream_t *)&p->tcp, on_peer_alloc, on_peer_read);
    if (rc != 0)
        peer_close(p, false, uv_strerror(rc));
}

void
peer_hold_reading(struct peer *p, unsigned reason, bool hold)
{
    unsigned before = p->reading_held;

    if (p->closing)
        return;
    p->reading_held = hold ? before | reason : before & ~reason;
    if (before == 0 && p->reading_held != 0)
        uv_read_stop((uv_stream_t *)&p->tcp);
    else if (before != 0 && p->reading_held == 0)
        peer_start_read(p);
}

/* ---- timers ---- */

static void
on_peer_timer(uv_timer_t *t)
{
    struct peer *p = t->data;

    if (p->socks != NULL) {
        char why[400];
        snprintf(why, sizeof why, "the proxy %s %s within %d s", p->d->net->proxy_name,
                 sz_socks5_connecting(p->socks) ? "did not connect to it" : "did not answer",
                 PEER_PROXY_TIMEOUT_MS / 1000);
        peer_close(p, false, why);
    } else if (!p->open) {
        peer_close(p, false,
                   p->silent_close ? NULL
                   : p->link != NULL && sz_link_state(p->link) == SZ_LINK_WAIT_HS2
                       ? "no answer to the handshake: a node with another network key stays "
                         "silent, and so does any node whose clock differs from this machine's "
                         "by more than 10 minutes (check both clocks); or the peer is overloaded"
                       : "handshake timed out");
    }
}

/*
 * glibc keeps freed memory in its arenas: after a burst (links closed with
 * their send queues full, large bundles received) a daemon would go on
 * holding hundreds of MiB it no longer uses. What it holds so is the
 * resident size less what malloc has handed out (the rest of the resident
 * size, code, stacks and the like, hardly moves); when that has grown by
 * TRIM_AFTER_BYTES over its lowest since the last trim, it is given back.
 * (Before, the free bytes malloc counts were watched instead: they count
 * pages already given back too, so a burst that reused those and then left
 * could leave 100 MB resident.)
 */
#define TRIM_AFTER_BYTES ((long long)32 << 20)

#if defined(__linux__) && defined(__GLIBC__) &&                                                    \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define TRIM_HEAP 1

/* This process's resident bytes, or -1 when they cannot be read. */
static long long
resident_bytes(void)
{
    long long rss = -1;
    unsigned long size_pages, rss_pages;
    FILE *f = fopen("/proc/self/statm", "re");

    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size_pages, &rss_pages) == 2)
            rss = (long long)rss_pages * sysconf(_SC_PAGESIZE);
        fclose(f);
    }
    return rss;
}

/* The bytes malloc has handed out, in every arena (mallinfo2() sums them). */
static long long
heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return (long long)(mi.uordblks + mi.hblkhd);
}
#endif

static void
trim_heap(struct net *net)
{
#ifdef TRIM_HEAP
    long long rss = resident_bytes(), slack;

    if (rss < 0)
        return;
    slack = rss - heap_in_use();
    if (net->heap_slack_known && slack > net->heap_slack + TRIM_AFTER_BYTES) {
        (void)malloc_trim(0);
        if ((rss = resident_bytes()) < 0)
            return;
        slack = rss - heap_in_use();
        net->heap_slack = slack;
    } else if (!net->heap_slack_known || slack < net->heap_slack) {
        net->heap_slack = slack;
        net->heap_slack_known = true;
    }
#else
    (void)net;
#endif
}

/* Every few seconds: idle pings and timeouts, slow peers, reconnects, gossip timers. */
static void
on_tick(uv_timer_t *t)
{
    struct net *net = t->data;
    struct peer *p, *next;
    int64_t now = (int64_t)uv_now(net->d->loop);
    size_t n_stalled = 0;

    for (p = net->peers; p != NULL; p = next) {
        next = p->next;
        if (!p->open || p->closing)
            continue;
        /*
         * A queue that still drains is a slow link (a reader on a poor
         * connection), not misbehaviour. One holding a share of the send
         * budget (bundles) that has not moved at all for 60 s is a peer that
         * stopped reading: closed, not banned. (A large bundle goes in pieces
         * as the queue drains: a peer that never reads holds one piece, and
         * its queue need not be full.)
         */
        bool holds = p->queued >= PEER_STALL_MIN_BYTES;
        if (holds && now - p->drained_ms > PEER_SLOW_LIMIT_MS) {
            peer_close(p, false, "it read nothing of its send queue for 60 s");
            continue;
        }
        /*
         * While peers wait for the node-wide send budget (PROTOCOL.md 4.5),
         * such a queue that has not moved for 15 s holds bytes others need (with
         * the 5 s tick: closed within 20 s, before a waiting reader gives up on
         * this node after 30 s without a byte).
         */
        if (holds && now - p->drained_ms > PEER_STALL_SHORT_MS && gossip_serve_waiting(net->d)) {
            peer_close(p, false,
                       "it read nothing of its send queue for 15 s while other peers wait for "
                       "this node's send budget");
            n_stalled++;
            continue;
        }
        /* Not read from by this node (PEER_HOLD_*): its silence is not its own. */
        if (now - p->last_rx_ms > PEER_IDLE_TIMEOUT_MS && p->reading_held == 0) {
            peer_close(p, false, "idle for 180 s");
            continue;
        }
        if (now - p->last_rx_ms > PEER_PING_AFTER_MS) {
            struct sz_msg m;
            memset(&m, 0, sizeof m);
            m.type = SZ_MSG_PING;
            m.nonce = randombytes_random();
            (void)peer_send_msg(p, &m);
        }
    }
    /* Inbound closes are logged at debug level (readers): this says how many, not who. */
    if (n_stalled > 0)
        log_msg(LOG_INFO,
                "send budget: closed %zu link(s) that read nothing of their send queue for 15 s "
                "while other peers waited",
                n_stalled);
    gossip_tick(net->d, now);
    trim_heap(net);
}

/* ---- new connections ---- */

static struct peer *
peer_new(struct net *net, bool outbound)
{
    struct peer *p = calloc(1, sizeof *p);
    int rc;

    if (p == NULL)
        return NULL;
    rc = uv_tcp_init(net->d->loop, &p->tcp);
    if (rc != 0) {
        free(p);
        return NULL;
    }
    if (uv_timer_init(net->d->loop, &p->timer) != 0) {
        /* The TCP handle exists: it must be closed, and then freed. */
        p->tcp.data = p;
        uv_close((uv_handle_t *)&p->tcp, (uv_close_cb)free);
        return NULL;
    }
    p->tcp.data = p;
    p->timer.data = p;
    p->n_handles_open = 2;
    p->d = net->d;
    p->outbound = outbound;
    p->next = net->peers;
    if (net->peers != NULL)
        net->peers->prev = p;
    net->peers = p;
    if (outbound)
        net->n_outbound++;
    else
        net->n_inbound++;
    return p;
}

static void
addr_to_text(const struct sockaddr_storage *ss, char *ip, size_t ip_cap, char *addr,
             size_t addr_cap)
{
    int port = 0;

    ip[0] = '\0';
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, ip_cap);
        port = ntohs(a->sin_port);
        snprintf(addr, addr_cap, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, ip_cap);
        port = ntohs(a->sin6_port);
        snprintf(addr, addr_cap, "[%s]:%d", ip, port);
    } else {
        snprintf(addr, addr_cap, "?");
    }
}

/* Starts the link on a connected socket. */
static void
peer_begin(struct peer *p)
{
    struct net *net = p->d->net;
    int rc;

    rc = sz_link_new(p->outbound ? SZ_LINK_INITIATOR : SZ_LINK_RESPONDER, net->keys, daemon_now(),
                     &p->link);
    if (rc != 0) {
        peer_close(p, false, "out of memory");
        return;
    }
    if (!p->outbound)
        sz_link_set_replay_check(p->link, replay_seen, net);
    uv_tcp_nodelay(&p->tcp, 1);
    p->last_rx_ms = (int64_t)uv_now(p->d->loop);
    uv_timer_start(&p->timer, on_peer_timer, PEER_HANDSHAKE_TIMEOUT_MS, 0);
    if (flush_link(p) != 0)
        return;
    peer_start_read(p);
}

/*
 * What per-address limits count as one address: an IPv4 address (also when
 * mapped into IPv6), or an IPv6 /64, the block one host or home usually gets.
 */
static void
addr_group(const struct sockaddr_storage *ss, uint8_t group[9])
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(group, 0, 9);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        group[0] = 4;
        memcpy(group + 1, &a->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        const uint8_t *b = a->sin6_addr.s6_addr;
        if (memcmp(b, v4_mapped, sizeof v4_mapped) == 0) {
            group[0] = 4;
            memcpy(group + 1, b + 12, 4);
        } else {
            group[0] = 6;
            memcpy(group + 1, b, 8);
        }
    }
}

/* Inbound connections from p's address, other than p, still before the end of the handshake. */
static size_t
handshakes_from(const struct net *net, const struct peer *p)
{
    const struct peer *q;
    size_t n = 0;

    for (q = net->peers; q != NULL; q = q->next)
        if (q != p && !q->outbound && !q->open && !q->closing &&
            memcmp(q->group, p->group, sizeof p->group) == 0)
            n++;
    return n;
}

/*
 * The share of the inbound links p counts in (make_room()): its address's,
 * but one for all that come through the onion service, as for readers
 * behind one carrier's NAT. (Its own group, for bans and per-address
 * limits, would let one Tor client take every inbound link.)
 */
static void
share_of(const struct peer *p, uint8_t out[9])
{
    if (p->via_onion) {
        memset(out, 0, 9);
        out[0] = 'O';
    } else {
        memcpy(out, p->group, 9);
    }
}

static int
cmp_share(const struct peer *x, const struct peer *y)
{
    uint8_t a[9], b[9];

    share_of(x, a);
    share_of(y, b);
    return memcmp(a, b, sizeof a);
}

static int
cmp_group(const void *a, const void *b)
{
    return cmp_share(*(const struct peer *const *)a, *(const struct peer *const *)b);
}

/*
 * Inbound links (not closing) other than p: their number, and in *same those
 * in p's share (share_of()).
 */
static size_t
inbound_live(const struct net *net, const struct peer *p, size_t *same)
{
    const struct peer *q;
    size_t n = 0;

    *same = 0;
    for (q = net->peers; q != NULL; q = q->next) {
        if (q == p || q->outbound || q->closing)
            continue;
        n++;
        if (cmp_share(q, p) == 0)
            (*same)++;
    }
    return n;
}

/*
 * What an address is: global, private (RFC 1918, 100.64/10, fc00::/7),
 * loopback, or other (unspecified, link-local, multicast, reserved), for
 * addresses learned from peers.
 */
enum { SCOPE_GLOBAL, SCOPE_PRIVATE, SCOPE_LOOPBACK, SCOPE_OTHER };

static int
addr_scope(int family, const uint8_t *a)
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    size_t i;
    bool zero = true;

    if (family == AF_INET) {
        if (a[0] == 127)
            return SCOPE_LOOPBACK;
        if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
            (a[0] == 100 && (a[1] & 0xc0) == 64))
            return SCOPE_PRIVATE;
        if (a[0] == 0 || (a[0] == 169 && a[1] == 254) || a[0] >= 224)
            return SCOPE_OTHER;
        return SCOPE_GLOBAL;
    }
    if (memcmp(a, v4_mapped, sizeof v4_mapped) == 0)
        return addr_scope(AF_INET, a + 12);
    for (i = 0; i < 15; i++)
        zero = zero && a[i] == 0;
    if (zero)
        return a[15] == 1 ? SCOPE_LOOPBACK : SCOPE_OTHER;
    if ((a[0] & 0xfe) == 0xfc)
        return SCOPE_PRIVATE;
    if ((a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || a[0] == 0xff)
        return SCOPE_OTHER;
    return SCOPE_GLOBAL;
}

/* The scope of p's address; a peer reached through the proxy counts as global. */
static int
peer_scope(const struct peer *p)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;

    if (p->via_proxy || p->via_onion ||
        uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) != 0)
        return SCOPE_GLOBAL;
    if (ss.ss_family == AF_INET)
        return addr_scope(AF_INET, (const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr);
    if (ss.ss_family == AF_INET6)
        return addr_scope(AF_INET6, ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr);
    return SCOPE_GLOBAL;
}

/*
 * The node has max_inbound links it did not open, and p is one more. When an
 * address holds at least two links more than p's would, its quietest link is
 * closed to make room: one address (a flood of connections kept alive) cannot
 * keep everyone else out, while addresses shared by many readers (a carrier's
 * NAT) still get their share. Returns whether room was made.
 */
static bool
make_room(struct net *net, const struct peer *p, size_t n, size_t same)
{
    struct peer **v, *q, *quiet = NULL, *stale = NULL;
    size_t k = 0, i, run = 0, best = 0, best_at = 0;
    uint8_t body[300];
    size_t len = 0;
    char why[160];
    int64_t now = (int64_t)uv_now(net->d->loop);

    /*
     * A connection that has proved nothing for HANDSHAKE_EVICT_MS (silent,
     * or stalled in the handshake) gives up its slot first, the longest
     * silent first: 64 silent connections from 64 addresses, each reopened
     * when the handshake's time ran out, locked every reader out.
     */
    for (q = net->peers; q != NULL; q = q->next)
        if (q != p && !q->outbound && !q->closing && !q->open &&
            now - q->last_rx_ms >= HANDSHAKE_EVICT_MS &&
            (stale == NULL || q->last_rx_ms < stale->last_rx_ms))
            stale = q;
    if (stale != NULL) {
        net->inbound_evicted++;
        if (log_allow(&net->full_log, LOG_INFO, 20, now))
            log_msg(LOG_INFO,
                    "peer %s: closed to make room for a newcomer: silent for %lld ms in the "
                    "handshake while all %u inbound slots (max_inbound) were taken",
                    peer_name(stale), (long long)(now - stale->last_rx_ms),
                    (unsigned)net->d->cfg->max_inbound);
        peer_close(stale, false, "its slot given to a newcomer (silent in the handshake)");
        return true;
    }
    v = malloc(n * sizeof *v);
    if (v == NULL)
        return false;
    for (q = net->peers; q != NULL && k < n; q = q->next)
        if (q != p && !q->outbound && !q->closing)
            v[k++] = q;
    qsort(v, k, sizeof *v, cmp_group);
    for (i = 0; i < k; i++) {
        run = i > 0 && cmp_share(v[i], v[i - 1]) == 0 ? run + 1 : 1;
        if (run > best) {
            best = run;
            best_at = i + 1 - run;
        }
    }
    if (best < same + 2) {
        free(v);
        return false;
    }
    for (i = best_at; i < best_at + best; i++)
        if (quiet == NULL || v[i]->last_rx_ms < quiet->last_rx_ms)
            quiet = v[i];
    free(v);
    net->inbound_evicted++;
    if (log_allow(&net->full_log, LOG_INFO, 20, (int64_t)uv_now(net->d->loop)))
        log_msg(LOG_INFO,
                "peer %s: closed to make room for a peer from another address: its address "
                "held %zu of the %u inbound links (max_inbound)",
                peer_name(quiet), best, (unsigned)net->d->cfg->max_inbound);
    snprintf(why, sizeof why, "room made for another address (%zu links from this one)", best);
    if (quiet->open && sz_link_state(quiet->link) == SZ_LINK_OPEN &&
        goodbye(SZ_GOODBYE_TOO_MANY_PEERS, "too many peers from your address", body, sizeof body,
                &len) == 0 &&
        peer_send(quiet, body, len) == 0)
        quiet->goodbye_out = true;
    peer_close(quiet, false, why);
    return true;
}

/* Inbound connections from the onion service, other than p, still in the handshake. */
static size_t
onion_handshakes(const struct net *net, const struct peer *p)
{
    const struct peer *q;
    size_t n = 0;

    for (q = net->peers; q != NULL; q = q->next)
        if (q != p && q->via_onion && !q->open && !q->closing)
            n++;
    return n;
}

const char *
peer_name(const struct peer *p)
{
    return p->label[0] != '\0' && !log_enabled(LOG_DEBUG) ? p->label : p->addr;
}

static void
accept_inbound(uv_stream_t *server, int status, bool onion)
{
    struct net *net = server->data;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    struct peer *p;
    uint32_t limit;

    if (status < 0) {
        log_msg(LOG_WARN, "peer listener: %s", uv_strerror(status));
        return;
    }
    p = peer_new(net, false);
    if (p == NULL) {
        log_msg(LOG_ERROR, "out of memory for an inbound peer");
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&p->tcp) != 0) {
        peer_close(p, false, NULL);
        return;
    }
    if (onion) {
        /*
         * Every connection comes from the local Tor: its address says nothing
         * of who it is. Each gets a group of its own, so that a ban or a
         * per-address limit never covers the others (its node key is still
         * banned when it misbehaves), and a name for the logs.
         */
        uint64_t n = ++net->onion_seq;
        p->via_onion = true;
        p->group[0] = 'o';
        memcpy(p->group + 1, &n, 8);
        snprintf(p->addr, sizeof p->addr, "onion#%llu", (unsigned long long)n);
        snprintf(p->ip, sizeof p->ip, "onion");
    } else {
        snprintf(p->label, sizeof p->label, "inbound#%llu", (unsigned long long)++net->inbound_seq);
        if (uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) == 0) {
            addr_to_text(&ss, p->ip, sizeof p->ip, p->addr, sizeof p->addr);
            addr_group(&ss, p->group);
        }
        log_msg(LOG_DEBUG, "peer %s: connection from %s", p->label, p->addr);
    }
    /* Every refusal comes before the handshake: nothing is sent. */
    limit = net->d->cfg->max_handshakes_per_address;
    if (onion && !net->stopping && limit > 0 &&
        onion_handshakes(net, p) >= ONION_HANDSHAKES * limit) {
        net->handshakes_refused++;
        if (log_allow(&net->busy_log, LOG_INFO, 20, (int64_t)uv_now(net->d->loop)))
            log_msg(LOG_INFO,
                    "onion service: refused a connection: %u of its connections are already in "
                    "the handshake (%u times max_handshakes_per_address)",
                    (unsigned)(ONION_HANDSHAKES * limit), (unsigned)ONION_HANDSHAKES);
        peer_close(p, false, NULL);
        return;
    }
    if (!onion && !net->stopping && limit > 0 && handshakes_from(net, p) >= limit) {
        net->handshakes_refused++;
        if (log_allow(&net->busy_log, LOG_INFO, 20, (int64_t)uv_now(net->d->loop)))
            log_msg(LOG_INFO,
                    "peer %s: refused a connection: %u from this address are already in the "
                    "handshake (max_handshakes_per_address)",
                    peer_name(p), (unsigned)limit);
        peer_close(p, false, NULL);
        return;
    }
    if (net->stopping || is_banned(net, p->group, NULL, (int64_t)uv_now(net->d->loop))) {
        peer_close(p, false, NULL);
        return;
    }
    if (net->n_inbound > net->d->cfg->max_inbound) {
        size_t same, n = inbound_live(net, p, &same);
        if (n >= net->d->cfg->max_inbound && !make_room(net, p, n, same)) {
            net->inbound_full++;
            if (log_allow(&net->full_log, LOG_INFO, 20, (int64_t)uv_now(net->d->loop)))
                log_msg(LOG_INFO,
                        "peer %s: refused a connection: the %u inbound links (max_inbound) are "
                        "open, shared fairly between addresses (%zu from this one): raise "
                        "max_inbound if this lasts",
                        peer_name(p), (unsigned)net->d->cfg->max_inbound, same);
            peer_close(p, false, NULL);
            return;
        }
    }
    peer_begin(p);
}

static void
on_inbound(uv_stream_t *server, int status)
{
    accept_inbound(server, status, false);
}

static void
on_onion_inbound(uv_stream_t *server, int status)
{
    accept_inbound(server, status, true);
}

/* Sends raw bytes (the proxy's handshake) to p. */
static int
write_bytes(struct peer *p, const uint8_t *data, size_t n)
{
    struct pwreq *w = malloc(sizeof *w + n);

    if (w == NULL) {
        peer_close(p, false, "out of memory");
        return UV_ENOMEM;
    }
    memcpy(w->data, data, n);
    w->len = n;
    return write_owned(p, w);
}

/*
 * The proxy's answers. Only the proxy speaks here: the peer, as the
 * responder, says nothing before our first handshake message, so a byte
 * after the proxy's last reply is refused rather than carried over.
 */
static void
on_proxy_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct peer *p = s->data;
    struct net *net = p->d->net;
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t used, out_len;
    char why[600], text[200];
    enum sz_socks5_status st;

    if (p->closing || p->socks == NULL)
        return;
    if (nread < 0) {
        snprintf(why, sizeof why, "the proxy %s closed the connection%s", net->proxy_name,
                 sz_socks5_connecting(p->socks) ? "" : " (is it a SOCKS5 proxy?)");
        peer_close(p, false, why);
        return;
    }
    if (nread == 0)
        return;
    p->bytes_in += (uint64_t)nread;
    st = sz_socks5_input(p->socks, (const uint8_t *)buf->base, (size_t)nread, &used, out,
                         sizeof out, &out_len);
    if (st == SZ_SOCKS5_SEND) {
        (void)write_bytes(p, out, out_len);
        sodium_memzero(out, sizeof out);
        if (used < (size_t)nread && !p->closing) {
            snprintf(why, sizeof why, "the proxy %s sent more than its answer", net->proxy_name);
            peer_close(p, false, why);
        }
        return;
    }
    if (st == SZ_SOCKS5_MORE)
        return;
    if (st == SZ_SOCKS5_FAILED) {
        enum sz_socks5_fail f = p->socks->fail;
        bool creds = p->d->proxy_auth != NULL;
        snprintf(why, sizeof why, "the proxy %s %s%s", net->proxy_name,
                 sz_socks5_fail_text(p->socks, text, sizeof text),
                 (f == SZ_SOCKS5_F_WANTS_AUTH || f == SZ_SOCKS5_F_NO_METHOD) && !creds
                     ? " (it may want a user name and password: set proxy_auth_file)"
                 : f == SZ_SOCKS5_F_NO_METHOD    ? " (it takes no password: remove proxy_auth_file)"
                 : f == SZ_SOCKS5_F_AUTH_REFUSED ? " (check proxy_auth_file)"
                                                 : "");
        peer_close(p, false, why);
        return;
    }
    if (used < (size_t)nread) {
        snprintf(why, sizeof why,
                 "the proxy %s sent bytes after its reply, before the peer could speak",
                 net->proxy_name);
        peer_close(p, false, why);
        return;
    }
    uv_read_stop(s);
    uv_timer_stop(&p->timer);
    sz_socks5_wipe(p->socks);
    free(p->socks);
    p->socks = NULL;
    peer_begin(p);
}

/* Connected to the proxy: asks it for p's target, as a name when it is one. */
static void
proxy_begin(struct peer *p)
{
    const struct target *t = p->target;
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t out_len;
    int rc;

    p->socks = malloc(sizeof *p->socks);
    if (p->socks == NULL || t == NULL) {
        peer_close(p, false, "out of memory");
        return;
    }
    rc = sz_socks5_start(p->socks, t->addr.host, t->addr.port, p->d->proxy_auth, p->d->proxy_pass,
                         out, sizeof out, &out_len);
    if (rc != 0) {
        peer_close(p, false, "the name is too long for a SOCKS5 proxy (255 bytes at most)");
        return;
    }
    uv_timer_start(&p->timer, on_peer_timer, PEER_PROXY_TIMEOUT_MS, 0);
    if (write_bytes(p, out, out_len) != 0)
        return;
    rc = uv_read_start((uv_stream_t *)&p->tcp, on_peer_alloc, on_proxy_read);
    if (rc != 0)
        peer_close(p, false, uv_strerror(rc));
}

/*
 * A connection to p failed. A peer of the configuration is named at its first
 * failure in a row (an operator who gave it wants to know), and again when it
 * answers; one learned from other peers only at debug level.
 */
static void
unreachable(struct peer *p, const char *why)
{
    struct target *t = p->target;

    if (t != NULL)
        snprintf(t->last_err, sizeof t->last_err, "%s", why);
    if (t != NULL && !t->learned && !t->warned) {
        t->warned = true;
        log_msg(LOG_WARN,
                "peer %s: cannot connect: %s; trying again after waits that double up to %u "
                "min (said again when it answers)",
                peer_name(p), why, BACKOFF_MAX_MS / 60000);
    } else {
        log_msg(LOG_DEBUG, "peer %s: cannot connect: %s", peer_name(p), why);
    }
}

static void
on_connected(uv_connect_t *req, int status)
{
    struct peer *p = req->data;
    struct net *net = p->d->net;

    free(req);
    if (p->closing)
        return;
    if (status < 0) {
        if (p->via_proxy) {
            /* Every outbound link needs the proxy: say so, not once per peer. */
            if (log_allow(&net->proxy_log, LOG_WARN, 1, (int64_t)uv_now(p->d->loop)))
                log_msg(LOG_WARN,
                        "cannot connect to the proxy %s: %s (is it running? [network] proxy "
                        "names it)",
                        net->proxy_name, uv_strerror(status));
        } else {
            unreachable(p, uv_strerror(status));
        }
        peer_close(p, false, NULL);
        return;
    }
    if (p->via_proxy)
        proxy_begin(p);
    else
        peer_begin(p);
}

static void target_connect(struct target *t, const struct sockaddr_storage *ss);

/*
 * A peer's name did not resolve: said as a failure to connect is (once, and
 * again when it answers; a learned one only at debug level), not at each try.
 */
static void
resolve_failed(struct target *t, int status)
{
    snprintf(t->last_err, sizeof t->last_err, "cannot resolve: %s", uv_strerror(status));
    if (!t->learned && !t->warned) {
        t->warned = true;
        log_msg(LOG_WARN,
                "peer %s: cannot resolve: %s; trying again after waits that double up to %u "
                "min (said again when it answers)",
                t->name, uv_strerror(status), BACKOFF_MAX_MS / 60000);
    } else {
        log_msg(LOG_DEBUG, "peer %s: cannot resolve: %s", t->name, uv_strerror(status));
    }
}
static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct target *t = req->data;
    struct net *net = t->net;
    struct sockaddr_storage ss;
    const struct addrinfo *a;
    unsigned n_addr, k;

    t->resolving = false;
    net->n_resolving--;
    if (t->closed) {
        /* Shutdown: the timer closed while the lookup ran; the lookup frees. */
        if (res != NULL)
            uv_freeaddrinfo(res);
        if (t->timer_closed)
            free(t);
        daemon_job_done(net->d);
        return;
    }
    if (status < 0 || res == NULL || net->stopping) {
        if (status < 0 && status != UV_ECANCELED)
            resolve_failed(t, status);
        if (res != NULL)
            uv_freeaddrinfo(res);
        if (!net->stopping && !t->closed)
            target_schedule(t, true);
        daemon_job_done(net->d);
        return;
    }
    /* Each attempt failed in a row takes the next address: one of a name's may not
     * work (an IPv6 address without a route, a mirror that is down). */
    n_addr = 0;
    for (a = res; a != NULL; a = a->ai_next)
        n_addr++;
    for (a = res, k = t->failures % n_addr; k > 0; k--)
        a = a->ai_next;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, a->ai_addr, a->ai_addrlen < sizeof ss ? a->ai_addrlen : sizeof ss);
    uv_freeaddrinfo(res);
    target_connect(t, &ss);
}

/*
 * What per-address limits and bans count for a target reached through the
 * proxy (the socket's own address is the proxy's): its address when it is one,
 * else its name, hashed into the same 9 bytes (first byte 'n').
 */
static void
target_group(const struct target *t, uint8_t group[9])
{
    struct sockaddr_storage ss;
    uint8_t h[crypto_generichash_BYTES_MIN];

    memset(&ss, 0, sizeof ss);
    if (t->addr.kind == CONFIG_ADDR_IPV4 &&
        uv_ip4_addr(t->addr.host, t->addr.port, (struct sockaddr_in *)&ss) == 0) {
        addr_group(&ss, group);
    } else if (t->addr.kind == CONFIG_ADDR_IPV6 &&
               uv_ip6_addr(t->addr.host, t->addr.port, (struct sockaddr_in6 *)&ss) == 0) {
        addr_group(&ss, group);
    } else {
        crypto_generichash(h, sizeof h, (const uint8_t *)t->addr.host, strlen(t->addr.host), NULL,
                           0);
        group[0] = 'n';
        memcpy(group + 1, h, 8);
    }
}

/* Opens an outbound connection for target t to the address ss (the proxy's
 * when net->proxy). */
static void
target_connect(struct target *t, const struct sockaddr_storage *ss)
{
    struct net *net = t->net;
    uv_connect_t *creq;
    struct peer *p;
    int rc;

    p = peer_new(net, true);
    creq = malloc(sizeof *creq);
    if (p == NULL || creq == NULL) {
        free(creq);
        if (p != NULL)
            peer_close(p, false, NULL);
        target_schedule(t, true);
        return;
    }
    if (net->proxy) {
        p->via_proxy = true;
        snprintf(p->addr, sizeof p->addr, "%s", t->name);
        target_group(t, p->group);
    } else {
        addr_to_text(ss, p->ip, sizeof p->ip, p->addr, sizeof p->addr);
        addr_group(ss, p->group);
    }
    if (is_banned(net, p->group, NULL, (int64_t)uv_now(net->d->loop))) {
        free(creq);
        peer_close(p, false, NULL);
        target_schedule(t, true);
        return;
    }
    p->target = t;
    t->p = p;
    creq->data = p;
    rc = uv_tcp_connect(creq, &p->tcp, (const struct sockaddr *)ss, on_connected);
    if (rc != 0) {
        free(creq);
        unreachable(p, uv_strerror(rc));
        peer_close(p, false, NULL);
    }
}

/* Whether the node target t answered with last has an open link with this one. */
static bool
target_covered(const struct target *t)
{
    if (!t->key_known)
        return false;
    for (const struct peer *q = t->net->peers; q != NULL; q = q->next)
        if (q->open && !q->closing && sodium_memcmp(q->node_key, t->key, SZ_NODE_KEY_LEN) == 0)
            return true;
    return false;
}

static void
on_target_timer(uv_timer_t *timer)
{
    struct target *t = timer->data;
    struct net *net = t->net;
    struct addrinfo hints;
    char port[8];
    int rc;

    if (net->stopping || t->p != NULL || t->resolving)
        return;
    /* The node it answered with last has a link with this one already (it
     * dialled here too): looked at again later, and at once when that link
     * closes (peer_close()). */
    if (target_covered(t)) {
        uv_timer_start(&t->timer, on_target_timer, COVERED_RECHECK_MS, 0);
        return;
    }
    /* Enough outbound links open: a learned address is not dialled (peer
     * exchange offers others when a link closes). */
    if (t->learned && net->n_outbound >= net->d->cfg->outbound_target) {
        target_forget(t, "enough outbound links are open");
        return;
    }
    /* Through the proxy, which looks names up itself: no DNS question here. */
    if (net->proxy) {
        target_connect(t, &net->proxy_ss);
        return;
    }
    /* An address: no lookup. Lookups wait for their share of libuv's thread
     * pool (half of it), which a DNS server that never answers (a censor's)
     * holds for the resolver's whole timeout: an address must not wait behind
     * names that do not resolve. */
    if (t->addr.kind != CONFIG_ADDR_NAME) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        rc = t->addr.kind == CONFIG_ADDR_IPV4
                 ? uv_ip4_addr(t->addr.host, t->addr.port, (struct sockaddr_in *)&ss)
                 : uv_ip6_addr(t->addr.host, t->addr.port, (struct sockaddr_in6 *)&ss);
        if (rc != 0) {
            log_msg(LOG_WARN, "peer %s: not an address: %s", t->name, uv_strerror(rc));
            target_schedule(t, true);
            return;
        }
        target_connect(t, &ss);
        return;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%u", t->addr.port);
    t->gai.data = t;
    rc = uv_getaddrinfo(net->d->loop, &t->gai, on_resolved, t->addr.host, port, &hints);
    if (rc != 0) {
        resolve_failed(t, rc);
        target_schedule(t, true);
        return;
    }
    t->resolving = true;
    net->n_resolving++;
}

/* Next attempt: at once after a clean close, else after an exponential backoff with jitter. */
static void on_target_closed(uv_handle_t *h);

/* Forgets a learned target: a peer that named it may have named nothing that
 * works, or enough links are open without it (why: which, for the log). */
static void
target_forget(struct target *t, const char *why)
{
    struct net *net = t->net;
    struct target **pp;

    for (pp = &net->targets; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    net->n_targets--;
    net->n_learned--;
    t->closed = true;
    log_msg(LOG_INFO, "peer %s (learned from another peer): forgotten: %s", t->name, why);
    uv_close((uv_handle_t *)&t->timer, on_target_closed);
}

static void
target_schedule(struct target *t, bool failed)
{
    uint64_t delay;

    if (t->closed || t->self)
        return;
    t->failures = failed ? t->failures + 1 : 0;
    /* A link that lasted: the next one starts again from the shortest wait. */
    if (!failed)
        t->backoff_ms = BACKOFF_MIN_MS;
    if (failed && t->learned && t->failures >= LEARNED_ATTEMPTS && !t->resolving && t->p == NULL) {
        target_forget(t, "its last attempts failed");
        return;
    }
    if (failed) {
        delay = t->backoff_ms / 2 + randombytes_uniform(t->backoff_ms / 2 + 1);
        t->backoff_ms = t->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : t->backoff_ms * 2;
    } else {
        delay = 200 + randombytes_uniform(800);
    }
    uv_timer_start(&t->timer, on_target_timer, delay, 0);
}

/*
 * Adds an address to keep connected to (config peers, and later peer
 * exchange). Returns 0 when added, 1 when it is there already, or a negative
 * libuv code.
 */
static int
target_add(struct net *net, const struct config_addr *a, bool learned)
{
    struct target *t;
    int rc;

    if (net->n_targets >= MAX_TARGETS)
        return UV_ENOBUFS;
    for (t = net->targets; t != NULL; t = t->next)
        if (t->addr.port == a->port && strcmp(t->addr.host, a->host) == 0)
            return 1;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return UV_ENOMEM;
    rc = uv_timer_init(net->d->loop, &t->timer);
    if (rc != 0) {
        free(t);
        return rc;
    }
    t->net = net;
    t->addr = *a;
    t->learned = learned;
    t->timer.data = t;
    t->backoff_ms = BACKOFF_MIN_MS;
    config_addr_format(a, t->name, sizeof t->name);
    t->next = net->targets;
    net->targets = t;
    net->n_targets++;
    uv_timer_start(&t->timer, on_target_timer, randombytes_uniform(200), 0);
    return 0;
}

/* ---- start and stop ---- */

/* Sets the proxy's address from the configuration: looked up once, at start
 * (a proxy is mostly an address on this machine). */
static int
proxy_address(struct net *net, const struct config_addr *a)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    int rc;

    config_addr_format(a, net->proxy_name, sizeof net->proxy_name);
    memset(&net->proxy_ss, 0, sizeof net->proxy_ss);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (a->kind != CONFIG_ADDR_NAME)
        hints.ai_flags = AI_NUMERICHOST;
    snprintf(port, sizeof port, "%u", a->port);
    rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        log_msg(LOG_ERROR, "cannot look up the proxy %s: %s (check [network] proxy)",
                net->proxy_name, rc != 0 ? gai_strerror(rc) : "no address");
        if (res != NULL)
            freeaddrinfo(res);
        return UV_EINVAL;
    }
    memcpy(&net->proxy_ss, res->ai_addr,
           res->ai_addrlen < sizeof net->proxy_ss ? res->ai_addrlen : sizeof net->proxy_ss);
    freeaddrinfo(res);
    net->proxy = true;
    log_msg(LOG_INFO, "outbound peer connections go through the SOCKS5 proxy %s", net->proxy_name);
    return 0;
}

/*
 * Listens for inbound peer connections on a (cb for each); *listening is set
 * once the handle exists (peer_stop() closes it); *bound_port, when not NULL,
 * gets the port it got. what and flag name it in messages.
 */
static int
listen_on(struct net *net, uv_tcp_t *h, bool *listening, const struct config_addr *a,
          uv_connection_cb cb, const char *what, const char *flag, uint16_t *bound_port)
{
    struct sockaddr_storage ss, bound;
    int rc, len = sizeof bound;
    char name[CONFIG_HOST_CAP + 16], ip[48];

    memset(&ss, 0, sizeof ss);
    rc = uv_tcp_init(net->d->loop, h);
    if (rc != 0)
        return rc;
    h->data = net;
    *listening = true;
    if (a->kind == CONFIG_ADDR_IPV6)
        rc = uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)&ss);
    if (rc == 0)
        rc = uv_tcp_bind(h, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)h, 128, cb);
    config_addr_format(a, name, sizeof name);
    if (rc != 0) {
        log_msg(LOG_ERROR, "cannot listen for %s on %s: %s%s%s%s", what, name, uv_strerror(rc),
                rc == UV_EADDRINUSE ? " (another program uses that port: pick another with " : "",
                rc == UV_EADDRINUSE ? flag : "", rc == UV_EADDRINUSE ? ")" : "");
        return rc;
    }
    if (uv_tcp_getsockname(h, (struct sockaddr *)&bound, &len) == 0) {
        addr_to_text(&bound, ip, sizeof ip, name, sizeof name);
        if (bound_port != NULL)
            *bound_port =
                ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
        log_msg(LOG_INFO, "listening for %s on %s", what, name);
    }
    return 0;
}

int
peer_start(struct daemon *d)
{
    const struct config *cfg = d->cfg;
    struct net *net = calloc(1, sizeof *net);
    char err[512], name[300];
    size_t i;
    int rc;

    if (net == NULL) {
        log_msg(LOG_ERROR, "cannot start peer links: out of memory");
        return UV_ENOMEM;
    }
    net->d = d;
    d->net = net;
    net->keys = sodium_malloc(sizeof *net->keys);
    if (net->keys == NULL) {
        log_msg(LOG_ERROR, "cannot start peer links: out of memory for the keys");
        return UV_ENOMEM;
    }
    memset(net->keys, 0, sizeof *net->keys);
    memcpy(net->keys->network_key, SZ_DEFAULT_NETWORK_KEY, SZ_NETWORK_KEY_LEN);
    net->keys->features = SZ_FEATURE_BATCH | SZ_FEATURE_PART | SZ_FEATURE_SPARSE;
    if (cfg->network_key != NULL &&
        peer_load_network_key(cfg->network_key, net->keys->network_key, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "%s", err);
        return UV_EINVAL;
    }
    if (load_node_key(cfg->data_dir, net->keys, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "%s", err);
        return UV_EINVAL;
    }
    rc = uv_timer_init(d->loop, &net->tick);
    if (rc != 0) {
        log_msg(LOG_ERROR, "cannot start peer links: %s", uv_strerror(rc));
        return rc;
    }
    net->tick_started = true;
    net->tick.data = net;
    uv_timer_start(&net->tick, on_tick, TICK_MS, TICK_MS);
    if (cfg->max_inbound > 0) {
        rc = listen_on(net, &net->listener, &net->listening, &cfg->listen, on_inbound, "peers",
                       "--listen", &net->bound_port);
        if (rc == 0 && cfg->onion_listen.host[0] != '\0')
            rc = listen_on(net, &net->onion_listener, &net->onion_listening, &cfg->onion_listen,
                           on_onion_inbound, "the onion service's connections", "--onion-listen",
                           &net->onion_port);
        if (rc != 0)
            return rc;
    }
    if (cfg->proxy.port != 0) {
        rc = proxy_address(net, &cfg->proxy);
        if (rc != 0)
            return rc;
    }
    for (i = 0; i < cfg->n_peers; i++) {
        if (!net->proxy && sz_socks5_onion_name(cfg->peers[i].host)) {
            config_addr_format(&cfg->peers[i], name, sizeof name);
            log_msg(LOG_WARN,
                    "peer %s: a Tor onion address, reachable only through Tor: set [network] "
                    "proxy = 127.0.0.1:9050 (Tor's SocksPort); skipped",
                    name);
            continue;
        }
        rc = target_add(net, &cfg->peers[i], false);
        if (rc < 0)
            log_msg(LOG_WARN, "peer %s ignored: %s", cfg->peers[i].host, uv_strerror(rc));
    }
    rc = gossip_init(d);
    if (rc != 0)
        log_msg(LOG_ERROR, "cannot start gossip: %s", uv_strerror(rc));
    return rc;
}

static void
on_target_closed(uv_handle_t *h)
{
    struct target *t = h->data;

    /* A lookup still running frees the target when it ends. */
    t->timer_closed = true;
    if (!t->resolving)
        free(t);
}

void
peer_stop(struct daemon *d)
{
    struct net *net = d->net;
    struct target *t, *tn;
    struct peer *p, *next;
    uint8_t body[300];
    size_t len = 0;

    if (net == NULL || net->stopping)
        return;
    net->stopping = true;
    for (p = net->peers; p != NULL; p = next) {
        next = p->next;
        if (p->open &&
            goodbye(SZ_GOODBYE_SHUTDOWN, "shutting down", body, sizeof body, &len) == 0 &&
            peer_send(p, body, len) == 0)
            p->goodbye_out = true;
        peer_close(p, false, NULL);
    }
    for (t = net->targets; t != NULL; t = tn) {
        tn = t->next;
        t->closed = true;
        if (t->resolving)
            uv_cancel((uv_req_t *)&t->gai);
        uv_close((uv_handle_t *)&t->timer, on_target_closed);
    }
    if (net->listening) {
        net->listening = false;
        uv_close((uv_handle_t *)&net->listener, NULL);
    }
    if (net->onion_listening) {
        net->onion_listening = false;
        uv_close((uv_handle_t *)&net->onion_listener, NULL);
    }
    /* A start-up that failed early may not have made the tick handle. */
    if (net->tick_started)
        uv_close((uv_handle_t *)&net->tick, NULL);
    gossip_close(d);
}

void
peer_cleanup(struct daemon *d)
{
    if (d->net == NULL)
        return;
    gossip_free(d);
    sodium_free(d->net->keys);
    free(d->net);
    d->net = NULL;
}

bool
peer_all_closed(const struct daemon *d)
{
    return d->net == NULL || d->net->peers == NULL;
}

size_t
peer_lookups_running(const struct daemon *d)
{
    return d->net == NULL ? 0 : d->net->n_resolving;
}

/* ---- peer exchange ---- */

size_t
peer_known_addresses(const struct daemon *d, const struct peer *except, struct sz_msg_peer *out,
                     size_t max)
{
    const struct peer *p;
    size_t n = 0;

    if (d->net == NULL)
        return 0;
    for (p = d->net->peers; p != NULL && n < max; p = p->next) {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        /* An onion service's peer is 127.0.0.1 here: no address to pass on. */
        if (p == except || !p->open || p->closing || gossip_listen_port(p) == 0 || p->via_onion)
            continue;
        if (p->via_proxy) {
            /* The socket's address is the proxy's: only an address we asked it for
             * can be passed on (a name cannot). */
            const struct target *t = p->target;
            memset(&ss, 0, sizeof ss);
            if (t == NULL || (t->addr.kind == CONFIG_ADDR_IPV4
                                  ? uv_ip4_addr(t->addr.host, 0, (struct sockaddr_in *)&ss)
                              : t->addr.kind == CONFIG_ADDR_IPV6
                                  ? uv_ip6_addr(t->addr.host, 0, (struct sockaddr_in6 *)&ss)
                                  : -1) != 0)
                continue;
        } else if (uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) != 0) {
            continue;
        }
        memset(&out[n], 0, sizeof out[n]);
        if (ss.ss_family == AF_INET) {
            out[n].family = SZ_FAMILY_IPV4;
            memcpy(out[n].addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        } else if (ss.ss_family == AF_INET6) {
            out[n].family = SZ_FAMILY_IPV6;
            memcpy(out[n].addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        } else {
            continue;
        }
        out[n].port = gossip_listen_port(p);
        n++;
    }
    return n;
}

void
peer_consider(struct daemon *d, const struct peer *from, const struct sz_msg_peer *a)
{
    struct net *net = d->net;
    struct config_addr ca;
    int scope = addr_scope(a->family == SZ_FAMILY_IPV4 ? AF_INET : AF_INET6, a->addr);

    struct target *t;
    size_t waiting = 0; /* learned addresses not connected yet */

    if (net == NULL || net->stopping || net->n_learned >= MAX_LEARNED)
        return;
    for (t = net->targets; t != NULL; t = t->next)
        if (t->learned && t->p == NULL)
            waiting++;
    /* One PEERS answer lists up to 32 addresses: each taken counts against the target. */
    if (net->n_outbound + waiting >= d->cfg->outbound_target)
        return;
    /*
     * A peer on the Internet has no business pointing this node at its own
     * machine or its local network (a probe of services there): loopback and
     * private addresses are taken only from a peer reached at one of the
     * same kind (a test network, a LAN); link-local, multicast and the like
     * never.
     */
    if (scope == SCOPE_OTHER || (scope != SCOPE_GLOBAL && scope != peer_scope(from)))
        return;
    memset(&ca, 0, sizeof ca);
    if (a->family == SZ_FAMILY_IPV4) {
        if (uv_inet_ntop(AF_INET, a->addr, ca.host, sizeof ca.host) != 0)
            return;
        ca.kind = CONFIG_ADDR_IPV4;
    } else {
        if (uv_inet_ntop(AF_INET6, a->addr, ca.host, sizeof ca.host) != 0)
            return;
        ca.kind = CONFIG_ADDR_IPV6;
    }
    ca.port = a->port;
    if (target_add(net, &ca, true) == 0)
        net->n_learned++;
}

uint16_t
peer_listen_port(const struct daemon *d)
{
    return d->net != NULL ? d->net->bound_port : 0;
}

size_t
peer_queued_total(const struct daemon *d)
{
    return d->net != NULL ? d->net->queued : 0;
}

struct peer *
peer_first(const struct daemon *d)
{
    return d->net != NULL ? d->net->peers : NULL;
}

/* ---- status ---- */

static void wr_fmt(struct sz_wr *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
wr_fmt(struct sz_wr *w, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sz_wr_bytes(w, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void
peer_status(const struct daemon *d, struct sz_wr *text, struct sz_wr *json)
{
    const struct net *net = d->net;
    const struct peer *p;
    int64_t now;
    size_t n = 0, omitted = 0;
    char key[2 * SZ_NODE_KEY_LEN + 1];

    if (net == NULL) {
        wr_fmt(json, "\"peers\":[]");
        return;
    }
    now = (int64_t)uv_now(d->loop);
    sz_hex(net->keys->node_pk, SZ_NODE_KEY_LEN, key);
    /* Links open for gossip, as listed below; the others are still in the handshake. */
    size_t n_in = 0, n_out = 0, n_connecting = 0;
    for (p = net->peers; p != NULL; p = p->next) {
        if (p->closing)
            continue;
        if (!p->open)
            n_connecting++;
        else if (p->outbound)
            n_out++;
        else
            n_in++;
    }
    wr_fmt(text,
           "node key: %s\npeers: %zu inbound, %zu outbound, %zu connecting; %llu probes "
           "rejected, %llu handshakes refused (too many from one address), %llu misbehaviours\n"
           "max_inbound reached: %llu connections refused, %llu links closed to make room for "
           "another address\n",
           key, n_in, n_out, n_connecting, (unsigned long long)net->probes_rejected,
           (unsigned long long)net->handshakes_refused, (unsigned long long)net->misbehaviour,
           (unsigned long long)net->inbound_full, (unsigned long long)net->inbound_evicted);
    {
        /* Where peers reach this node: the port it got when asked for any (0). */
        char where[CONFIG_HOST_CAP + 16] = "";
        if (net->listening) {
            struct config_addr bound = d->cfg->listen;
            if (net->bound_port != 0)
                bound.port = net->bound_port;
            (void)config_addr_format(&bound, where, sizeof where);
        }
        if (where[0] != '\0')
            wr_fmt(text, "listening for peers on %s\n", where);
        else
            wr_fmt(text, "not listening for peers (max_inbound is 0): outbound links only\n");
        wr_fmt(json, "\"listen\":");
        if (where[0] != '\0')
            sz_wr_json_str(json, where);
        else
            wr_fmt(json, "null");
        wr_fmt(json, ",");
    }
    if (net->proxy)
        wr_fmt(text, "outbound links through the SOCKS5 proxy %s\n", net->proxy_name);
    /* Peers of the configuration without a link, and why (a stopped or blocked peer). */
    wr_fmt(json, "\"unreached\":[");
    {
        size_t k = 0;
        for (const struct target *t = net->targets; t != NULL; t = t->next) {
            /* One being tried now is listed too, with what failed before: a
             * peer refused at each handshake (a wrong network key) is in its
             * handshake much of the time. */
            bool trying = t->p != NULL && !t->p->open;
            if (t->learned || (t->p != NULL && !trying) || text->max - text->len < 1024 ||
                json->max - json->len < 1024)
                continue;
            uint64_t due = t->closed || trying ? 0 : (uv_timer_get_due_in(&t->timer) + 999) / 1000;
            if (trying)
                wr_fmt(text, "peer %s: connecting now (%u attempts failed in a row%s%s)\n", t->name,
                       t->failures, t->last_err[0] != '\0' ? ", the last: " : "", t->last_err);
            else
                wr_fmt(text,
                       "peer %s: not connected (%u attempts failed in a row%s%s); next in %llu "
                       "s\n",
                       t->name, t->failures, t->last_err[0] != '\0' ? ", the last: " : "",
                       t->last_err, (unsigned long long)due);
            wr_fmt(json, "%s{\"address\":", k++ > 0 ? "," : "");
            sz_wr_json_str(json, t->name);
            wr_fmt(json, ",\"failures\":%u,\"error\":", t->failures);
            sz_wr_json_str(json, t->last_err);
            wr_fmt(json, ",\"next_s\":%llu,\"connecting\":%s}", (unsigned long long)due,
                   trying ? "true" : "false");
        }
    }
    wr_fmt(json, "],");
    {
        /* Addresses other peers named (peer exchange): how many, how many linked. */
        size_t linked = 0;
        for (const struct target *t = net->targets; t != NULL; t = t->next)
            if (t->learned && t->p != NULL && t->p->open && !t->p->closing)
                linked++;
        if (net->n_learned > 0)
            wr_fmt(text, "addresses learned from peers: %zu, %zu of them with a link\n",
                   net->n_learned, linked);
        wr_fmt(json, "\"learned\":%zu,\"learned_linked\":%zu,", net->n_learned, linked);
    }
    if (net->onion_listening)
        wr_fmt(text, "inbound links from the onion service on port %u\n",
               (unsigned)net->onion_port);
    {
        size_t n_parts = 0;
        uint64_t part_bytes = 0;
        gossip_parts(d, &n_parts, &part_bytes);
        if (n_parts > 0)
            wr_fmt(text,
                   "parts of large bundles kept from lost links: %zu, %llu bytes (the rest is "
                   "asked of the next peer that has them)\n",
                   n_parts, (unsigned long long)part_bytes);
        wr_fmt(json, "\"parts_kept\":%zu,\"parts_kept_bytes\":%llu,\"onion_port\":%u,", n_parts,
               (unsigned long long)part_bytes,
               (unsigned)(net->onion_listening ? net->onion_port : 0));
    }
    wr_fmt(json,
           "\"node_key\":\"%s\",\"probes_rejected\":%llu,\"handshakes_refused\":%llu,"
           "\"inbound_full\":%llu,\"inbound_evicted\":%llu,"
           "\"misbehaviour\":%llu,\"send_queue_bytes\":%zu,\"peers\":[",
           key, (unsigned long long)net->probes_rejected,
           (unsigned long long)net->handshakes_refused, (unsigned long long)net->inbound_full,
           (unsigned long long)net->inbound_evicted, (unsigned long long)net->misbehaviour,
           net->queued);
    for (p = net->peers; p != NULL; p = p->next) {
        if (!p->open || p->closing)
            continue;
        /* Room for one more entry in both reports, and the closing bracket. */
        if (text->max - text->len < 1024 || json->max - json->len < 1024) {
            omitted++;
            continue;
        }
        sz_hex(p->node_key, SZ_NODE_KEY_LEN, key);
        wr_fmt(text,
               "  %s %s up %llds, in %llu B / %llu bundles, out %llu B / %llu bundles, "
               "queued %zu B, misbehaviour %llu\n",
               p->addr,
               p->via_onion   ? "inbound (through the onion service)"
               : !p->outbound ? "inbound"
               : p->via_proxy ? "outbound (through the proxy)"
                              : "outbound",
               (long long)((now - p->connected_ms) / 1000), (unsigned long long)p->bytes_in,
               (unsigned long long)p->bundles_in, (unsigned long long)p->bytes_out,
               (unsigned long long)p->bundles_out, p->queued, (unsigned long long)p->misbehaviour);
        wr_fmt(json,
               "%s{\"address\":\"%s\",\"direction\":\"%s\",\"node_key\":\"%s\",\"uptime_s\":%lld,"
               "\"bytes_in\":%llu,\"bytes_out\":%llu,\"bundles_in\":%llu,\"bundles_out\":%llu,"
               "\"send_queue_bytes\":%zu,\"misbehaviour\":%llu}",
               n++ > 0 ? "," : "", p->addr, p->outbound ? "outbound" : "inbound", key,
               (long long)((now - p->connected_ms) / 1000), (unsigned long long)p->bytes_in,
               (unsigned long long)p->bytes_out, (unsigned long long)p->bundles_in,
               (unsigned long long)p->bundles_out, p->queued, (unsigned long long)p->misbehaviour);
    }
    wr_fmt(json, "],\"peers_omitted\":%zu", omitted);
    if (omitted > 0)
        wr_fmt(text, "  (%zu more peers not shown)\n", omitted);
}
