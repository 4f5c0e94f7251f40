/* The publishing batcher: window, seal on the pool, durable sequence, replies. */
#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctlsrv.h"
#include "gossip.h"
#include "log.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"

/* One waiting PUBLISH request. */
struct pubreq {
    struct pubreq *next;
    struct daemon *d;
    size_t counted; /* its bytes in d->ctl_rx_bytes, the control receive budget */
    struct ctlconn *c;
    uint8_t *frame;
    struct sz_ctl_msg *msg;
    struct sz_container *cont;
};

/* A batch being sealed on the thread pool. */
struct seal {
    uv_work_t work;
    struct publish *p;
    struct pubreq *reqs;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint64_t sequence;
    uint64_t content_cap;   /* max_bundle_bytes when it was queued (a SIGHUP may change it) */
    struct store_meta meta; /* of the stored bundle, for the announcement */
    int err_code;
    char err[1024];
};

/*
 * Two records of the last sequence this node signed, besides the store:
 * DATA/publisher.seq, so that a store moved aside (damaged), restored from an
 * old backup or started anew never hands out a number the key already signed
 * (two bundles with one sequence read as a stolen key); and SK.seq beside the
 * publisher key, the record `samizdat pack` keeps for the same key, taken under
 * its lock, so that packing by hand with this key never reuses a number the
 * node signed, nor the node one that was packed. The next sequence is reserved
 * above all three and written to both files (fsync'd) before anything is
 * signed with it. A key whose SK.seq the daemon cannot write is published with
 * SK.seq read only, or without it when there is none (said once in the log).
 */
#define SEQ_FILE "publisher.seq"
#define SEQ_LOCK_WAIT_MS 5000

static bool sk_seq_warned; /* touched only by the seal, one at a time */

/* Reads a record: empty (0) or one decimal number and a newline. */
static int
seq_read(int fd, const char *path, uint64_t *last, const char *then, char *err, size_t err_cap)
{
    uint8_t buf[SZ_SEQ_RECORD_MAX + 1];
    ssize_t n = pread(fd, buf, sizeof buf, 0);

    if (n < 0) {
        snprintf(err, err_cap, "cannot read %.160s: %s", path, strerror(errno));
        return -1;
    }
    *last = 0;
    if (sz_seq_record_parse(buf, (size_t)n, last) != 0) {
        snprintf(err, err_cap,
                 "%.100s is damaged (it should hold the last sequence this key signed): "
                 "put that number in it (see samizdat list --publisher), then %s",
                 path, then);
        return -1;
    }
    return 0;
}

static int
seq_write(int fd, const char *path, uint64_t seq, char *err, size_t err_cap)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", seq);

    if (pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) != 0 || fsync(fd) != 0) {
        snprintf(err, err_cap, "cannot record the sequence in %.160s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Opens and locks SK.seq (created unless `legacy`: then a missing one is no
 * error). One the daemon may read but not write (a key on a read-only disk, or
 * in a folder of another user) is opened read-only (*ro): its number still
 * counts, so that the node never signs one `samizdat pack` used. *fd stays -1
 * when there is none and the key's folder cannot be written. One that exists
 * but cannot be read fails the publish: the number it holds is unknown. A lock
 * held longer than SEQ_LOCK_WAIT_MS (a stopped `pack`) fails this publish
 * rather than holding the thread pool.
 */
static int
sk_seq_open(const char *path, bool legacy, int *fd, bool *ro, char *err, size_t err_cap)
{
    *ro = false;
    *fd = open(path, O_RDWR | (legacy ? 0 : O_CREAT) | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
        int why = errno;
        *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (*fd < 0 && errno != ENOENT) {
            snprintf(err, err_cap,
                     "cannot read %.160s (%s), the record of the last sequence samizdat pack "
                     "signed with this key: let the daemon's user read it, so that no number "
                     "is signed twice",
                     path, strerror(errno));
            return -1;
        }
        if (!sk_seq_warned)
            log_msg(LOG_WARN,
                    "cannot write %s (%s): this node's sequence numbers are kept in its data "
                    "folder only, so do not also use samizdat pack with this key",
                    path, strerror(why));
        sk_seq_warned = true;
        if (*fd < 0)
            return 0;
        *ro = true;
    }
    if (*fd < 0) {
        if (legacy && errno == ENOENT)
            return 0;
        snprintf(err, err_cap, "cannot open %.160s: %s", path, strerror(errno));
        return -1;
    }
    /*
     * Whoever else may write the record (another user owning it, or anyone
     * by its mode: one planted in a shared folder) could make this key sign
     * a number twice, or use up its numbers. One of root's, read-only here
     * (a key handed to the service as a credential), is trusted.
     */
    {
        struct stat st;
        if (fstat(*fd, &st) != 0) {
            snprintf(err, err_cap, "cannot check %.160s: %s", path, strerror(errno));
            close(*fd);
            *fd = -1;
            return -1;
        }
        if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 022) != 0) {
            snprintf(err, err_cap,
                     "the sequence record %.160s %s, who could make this key sign a number "
                     "twice: check the last sequence this key signed (samizdat list --publisher "
                     "KEY), then make the record this user's, mode 600",
                     path,
                     (st.st_mode & 022) != 0 ? "may be written by group or others"
                                             : "belongs to another user");
            close(*fd);
            *fd = -1;
            return -1;
        }
    }
    for (int waited = 0; flock(*fd, (*ro ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0; waited += 10) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(err, err_cap, "cannot lock %.160s: %s", path, strerror(errno));
            break;
        }
        if (waited >= SEQ_LOCK_WAIT_MS) {
            snprintf(err, err_cap,
                     "%.100s is locked by another program (samizdat pack?) for more than %d s: "
                     "let it finish, then publish again",
                     path, SEQ_LOCK_WAIT_MS / 1000);
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    if (err[0] != '\0') {
        close(*fd);
        *fd = -1;
        return -1;
    }
    return 0;
}

static int
reserve_sequence(struct daemon *d, uint64_t *seq, char *err, size_t err_cap)
{
    char path[PATH_MAX], kpath[PATH_MAX], lpath[PATH_MAX];
    uint64_t last = 0, last_k = 0, last_l = 0;
    int fd = -1, kfd = -1, lfd = -1, rc = -1;
    bool k_ro = false, l_ro = false, k_new = false, dir_had = false;

    err[0] = '\0';
    if (d->cfg->publisher_key != NULL) { /* NULL: a key given in memory (tests) */
        /* Beside the key file itself, links followed (as samizdat pack does);
         * one an earlier version kept beside a link to it is read too. */
        if (sz_seq_record_paths(d->cfg->publisher_key, kpath, lpath, sizeof kpath) != 0) {
            snprintf(err, err_cap, "cannot find the publisher key %.160s: %s",
                     d->cfg->publisher_key, strerror(errno));
            return -1;
        }
        k_new = access(kpath, F_OK) != 0 && errno == ENOENT;
        if (sk_seq_open(kpath, false, &kfd, &k_ro, err, err_cap) != 0)
            return -1;
        /* Taken after the real record's lock, always in that order: no deadlock. */
        if (lpath[0] != '\0' && sk_seq_open(lpath, true, &lfd, &l_ro, err, err_cap) != 0)
            goto out;
    }
    if (kfd >= 0 && seq_read(kfd, kpath, &last_k, "publish again", err, err_cap) != 0)
        goto out;
    if (lfd >= 0 && seq_read(lfd, lpath, &last_l, "publish again", err, err_cap) != 0)
        goto out;
    if (last_l > last_k)
        last_k = last_l;
    snprintf(path, sizeof path, "%s/" SEQ_FILE, d->cfg->data_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, err_cap, "cannot open %.160s: %s", path, strerror(errno));
        goto out;
    }
    if (seq_read(fd, path, &last, "publish again", err, err_cap) != 0)
        goto out;
    dir_had = last > 0;
    if (last_k > last)
        last = last_k;
    uv_mutex_lock(&d->store_lock);
    rc = store_seq_reserve_above(d->store, d->pk, last, seq, err, err_cap);
    uv_mutex_unlock(&d->store_lock);
    if (rc != 0)
        goto out;
    /* A key copied here without its record, to a node that never published
     * with it: the number comes from what this store holds of the key alone. */
    if (k_new && kfd >= 0 && last_l == 0 && !dir_had)
        log_msg(LOG_WARN,
                "the publisher key had no sequence record (%s, made by keygen with the key), "
                "so this bundle takes sequence %llu, above what this store holds or evicted of "
                "the key. If the key signed bundles before (the record left behind when the "
                "key was copied?), that number may be used twice, which readers and relays "
                "report as a stolen key: copy a key's record with it, or write the last number "
                "the key signed into the record before its first publish",
                kpath, (unsigned long long)*seq);
    rc = -1;
    if (seq_write(fd, path, *seq, err, err_cap) != 0 ||
        (kfd >= 0 && !k_ro && seq_write(kfd, kpath, *seq, err, err_cap) != 0) ||
        (lfd >= 0 && !l_ro && seq_write(lfd, lpath, *seq, err, err_cap) != 0))
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (kfd >= 0)
        close(kfd);
    if (lfd >= 0)
        close(lfd);
    return rc;
}

/* Requests whose articles go into one bundle. */
struct batch {
    struct batch *next;
    struct pubreq *head, **tail;
    size_t n_articles;
    size_t bytes; /* encoded articles: a batch never exceeds what one bundle may hold */
};

struct publish {
    struct daemon *d;
    uv_timer_t timer;
    uint64_t window_ms;
    size_t max_articles;
    int level;
    struct batch *open;                  /* gathering requests; NULL when none waits */
    struct batch *closed, **closed_tail; /* full or due, waiting to be sealed in order */
    struct seal *sealing;                /* at most one seal at a time: sequences stay in order */
    /*
     * zstd's context, kept while batches are sealed one after another (its
     * workspace is tens of MB at level 19 for a large batch, so it is freed
     * when none waits). Touched by the seal's pool thread while one runs, by
     * the loop thread only between seals.
     */
    struct sz_deflater *deflater;
};

static void start_seal(struct publish *p);

static void
pubreq_free(struct pubreq *r)
{
    r->d->ctl_rx_bytes -= r->counted;
    sz_container_free(r->cont);
    sz_ctl_msg_free(r->msg);
    free(r->frame);
    free(r);
}

int
publish_init(struct daemon *d, uint64_t window_ms, size_t max_articles, int level,
             struct publish **out)
{
    struct publish *p = calloc(1, sizeof *p);
    int rc;

    if (p == NULL)
        return UV_ENOMEM;
    rc = uv_timer_init(d->loop, &p->timer);
    if (rc != 0) {
        free(p);
        return rc;
    }
    p->timer.data = p;
    p->d = d;
    p->window_ms = window_ms;
    p->max_articles = max_articles > 0 ? max_articles : 1;
    if (p->max_articles > SZ_MAX_ARTICLES)
        p->max_articles = SZ_MAX_ARTICLES;
    p->level = level;
    p->closed_tail = &p->closed;
    *out = p;
    return 0;
}

int
publish_check_records(const struct daemon *d, char *err, size_t err_cap)
{
    char kpath[PATH_MAX], lpath[PATH_MAX], path[PATH_MAX];
    const char *paths[3];
    size_t n = 0;

    if (d->cfg->publisher_key != NULL &&
        sz_seq_record_paths(d->cfg->publisher_key, kpath, lpath, sizeof kpath) == 0) {
        paths[n++] = kpath;
        if (lpath[0] != '\0')
            paths[n++] = lpath;
    }
    snprintf(path, sizeof path, "%s/" SEQ_FILE, d->cfg->data_dir);
    paths[n++] = path;
    for (size_t i = 0; i < n; i++) {
        uint64_t last;
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc;
        if (fd < 0)
            continue; /* none yet, or unreadable: the first publish says more */
        /* A writer holding the lock may be midway: its record is read at publish. */
        if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
            close(fd);
            continue;
        }
        rc = seq_read(fd, paths[i], &last, "start samizdatd again", err, err_cap);
        close(fd);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Merges the batch's articles and seals them into a bundle (pool thread). */
static void
on_seal_work(uv_work_t *w)
{
    struct seal *s = w->data;
    struct daemon *d = s->p->d;
    struct sz_article *arts = NULL;
    struct store_item item;
    struct sz_seal_params sp;
    struct sz_bundle_header hdr;
    struct pubreq *r;
    uint8_t *content = NULL, *bundle = NULL;
    size_t n = 0, k = 0, content_len = 0, bundle_len = 0;
    char err[960], clock[256];
    int rc;

    for (r = s->reqs; r != NULL; r = r->next)
        n += r->cont->n_articles;
    arts = calloc(n, sizeof *arts);
    if (arts == NULL) {
        s->err_code = SZ_ENOMEM;
        snprintf(s->err, sizeof s->err, "the daemon is out of memory");
        goto out;
    }
    for (r = s->reqs; r != NULL; r = r->next)
        for (size_t i = 0; i < r->cont->n_articles; i++)
            arts[k++] = r->cont->articles[i];
    rc = sz_container_encode(arts, n, &content, &content_len);
    if (rc != 0) {
        s->err_code = -rc;
        snprintf(s->err, sizeof s->err, "the batch cannot be encoded: %s", sz_strerror(rc));
        goto out;
    }
    if (content_len > s->content_cap) {
        s->err_code = SZ_ETOOBIG;
        if (n == 1)
            snprintf(s->err, sizeof s->err,
                     "the article is larger (%zu bytes) than one bundle may hold here (%llu): "
                     "shorten it (or its attachments), or raise max_bundle_bytes "
                     "(--max-bundle-bytes) if the relays and readers it goes to accept that",
                     content_len, (unsigned long long)s->content_cap);
        else
            snprintf(s->err, sizeof s->err,
                     "the %zu articles are larger (%zu bytes) than one bundle may hold here "
                     "(%llu): publish fewer at once",
                     n, content_len, (unsigned long long)s->content_cap);
        goto out;
    }
    /*
     * A wrong clock would date the bundle wrong for good, and use up its
     * sequence. A week of slack: a clock that ran ahead a few days, then was
     * set right, must not stop publishing until it has caught up.
     */
    if (daemon_clock_wrong(d, daemon_now(), 7 * 86400, clock, sizeof clock)) {
        s->err_code = SZ_EINVAL;
        snprintf(s->err, sizeof s->err,
                 "nothing was signed: %s; set the clock (see that the machine synchronises "
                 "its time), then publish again",
                 clock);
        goto out;
    }
    /* The sequence is committed durably before it is used: a restart never reuses it. */
    rc = reserve_sequence(d, &s->sequence, err, sizeof err);
    if (rc != 0) {
        s->err_code = SZ_EINVAL;
        snprintf(s->err, sizeof s->err, "no sequence number: %s", err);
        goto out;
    }
    sp.secret_key = d->sk;
    sp.sequence = s->sequence;
    sp.created = daemon_now();
    sp.level = s->p->level;
    if (s->p->deflater == NULL && sz_deflater_new(&s->p->deflater) != 0)
        s->p->deflater = NULL; /* Without one, sz_bundle_seal_with() makes its own. */
    rc =
        sz_bundle_seal_with(&sp, s->p->deflater, content, content_len, &bundle, &bundle_len, s->id);
    if (rc != 0) {
        s->err_code = -rc;
        snprintf(s->err, sizeof s->err, "the bundle cannot be made: %s", sz_strerror(rc));
        goto out;
    }
    rc = sz_bundle_parse(bundle, bundle_len, s->content_cap, &hdr, NULL);
    if (rc != 0) {
        s->err_code = -rc;
        snprintf(s->err, sizeof s->err,
                 "the bundle is larger than this daemon accepts (%s): publish fewer articles",
                 sz_strerror(rc));
        goto out;
    }
    memset(&item, 0, sizeof item);
    store_meta_from_header(&item.meta, &hdr, s->id, bundle_len);
    item.bytes = bundle;
    uv_mutex_lock(&d->store_lock);
    rc = store_put(d->store, &item, sp.created, err, sizeof err);
    uv_mutex_unlock(&d->store_lock);
    s->meta = item.meta;
    if (rc != 0) {
        s->err_code = SZ_EINVAL;
        snprintf(s->err, sizeof s->err, "the bundle could not be stored: %s", err);
    } else if (item.status != STORE_STORED && item.status != STORE_DUPLICATE) {
        s->err_code = SZ_ETOOBIG;
        snprintf(s->err, sizeof s->err,
                 "the bundle was made but the store's quotas refused it: raise max_bytes or "
                 "publisher_max_bytes");
    }
out:
    free(bundle);
    free(content);
    free(arts);
}

static void
on_seal_done(uv_work_t *w, int status)
{
    struct seal *s = w->data;
    struct publish *p = s->p;
    struct daemon *d = p->d;
    struct pubreq *r, *next;
    char hex[2 * SZ_BUNDLE_ID_LEN + 1];
    size_t n = 0;

    d->n_jobs--;
    if (status == UV_ECANCELED && s->err_code == 0) {
        s->err_code = SZ_EINVAL;
        snprintf(s->err, sizeof s->err, "publishing was cancelled by a shutdown");
    }
    for (r = s->reqs; r != NULL; r = r->next)
        n += r->cont->n_articles;
    if (s->err_code == 0) {
        sz_bundle_id_hex(s->id, hex);
        log_msg(LOG_INFO, "published bundle %s: sequence %llu, %zu article(s)", hex,
                (unsigned long long)s->sequence, n);
        d->n_published++;
        if (!d->stopping)
            gossip_stored(d, &s->meta, NULL);
    } else {
        log_msg(LOG_ERROR, "publishing %zu article(s) failed: %s", n, s->err);
    }
    for (r = s->reqs; r != NULL; r = next) {
        next = r->next;
        if (s->err_code == 0) {
            struct sz_ctl_msg m = {.type = SZ_CTL_R_PUBLISHED};
            memcpy(m.id, s->id, SZ_BUNDLE_ID_LEN);
            m.sequence = s->sequence;
            ctlsrv_reply(r->c, &m);
        } else {
            ctlsrv_reply_error(r->c, s->err_code, "%s", s->err);
        }
        ctlsrv_release(r->c);
        pubreq_free(r);
    }
    p->sealing = NULL;
    free(s);
    start_seal(p);
    if (p->sealing == NULL) {
        sz_deflater_free(p->deflater);
        p->deflater = NULL;
    }
    daemon_job_done(d);
}

/* Replies with an error to every request of a batch and frees it. */
static void
batch_fail(struct batch *b, int code, const char *why)
{
    struct pubreq *r, *next;

    for (r = b->head; r != NULL; r = next) {
        next = r->next;
        ctlsrv_reply_error(r->c, code, "%s", why);
        ctlsrv_release(r->c);
        pubreq_free(r);
    }
    free(b);
}

/* Seals the oldest closed batch unless a seal is already running. */
static void
start_seal(struct publish *p)
{
    struct daemon *d = p->d;
    struct batch *b = p->closed;
    struct seal *s;
    int rc;

    if (p->sealing != NULL || b == NULL)
        return;
    p->closed = b->next;
    if (p->closed == NULL)
        p->closed_tail = &p->closed;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        batch_fail(b, SZ_ENOMEM, "the daemon is out of memory");
        return;
    }
    s->work.data = s;
    s->p = p;
    s->reqs = b->head;
    s->content_cap = d->content_cap;
    rc = uv_queue_work(d->loop, &s->work, on_seal_work, on_seal_done);
    if (rc != 0) {
        free(s);
        batch_fail(b, SZ_ENOMEM, "the daemon cannot queue work");
        return;
    }
    free(b);
    d->n_jobs++;
    p->sealing = s;
}

/* Closes the open batch (it is due) and seals it when its turn comes. */
static void
close_open(struct publish *p)
{
    uv_timer_stop(&p->timer);
    if (p->open == NULL)
        return;
    *p->closed_tail = p->open;
    p->closed_tail = &p->open->next;
    p->open = NULL;
    start_seal(p);
}

static void
on_window(uv_timer_t *t)
{
    close_open(t->data);
}

/* True when an article of `cont` has the id of one already in batch b. */
static bool
collides(const struct batch *b, const struct sz_container *cont)
{
    const struct pubreq *r;
    size_t i, k;

    for (r = b->head; r != NULL; r = r->next)
        for (i = 0; i < r->cont->n_articles; i++)
            for (k = 0; k < cont->n_articles; k++)
                if (r->cont->articles[i].id.len == cont->articles[k].id.len &&
                    memcmp(r->cont->articles[i].id.p, cont->articles[k].id.p,
                           cont->articles[k].id.len) == 0)
                    return true;
    return false;
}

void
publish_add(struct publish *p, struct ctlconn *c, uint8_t *frame, struct sz_ctl_msg *msg,
            struct sz_container *container, size_t counted)
{
    struct pubreq *r = calloc(1, sizeof *r);
    struct batch *b;
    int rc;

    if (r == NULL) {
        p->d->ctl_rx_bytes -= counted;
        ctlsrv_reply_error(c, SZ_ENOMEM, "the daemon is out of memory");
        sz_container_free(container);
        sz_ctl_msg_free(msg);
        free(frame);
        return;
    }
    r->d = p->d;
    r->counted = counted;
    r->c = c;
    r->frame = frame;
    r->msg = msg;
    r->cont = container;
    ctlsrv_hold(c);
    /* A batch never holds one article id twice, nor more than max_articles:
     * such a request closes the open batch and starts the next. */
    if (p->open != NULL &&
        (p->open->n_articles + container->n_articles > p->max_articles ||
         p->open->bytes + msg->container_len > p->d->content_cap || collides(p->open, container)))
        close_open(p);
    if (p->open == NULL) {
        b = calloc(1, sizeof *b);
        if (b == NULL) {
            ctlsrv_reply_error(c, SZ_ENOMEM, "the daemon is out of memory");
            ctlsrv_release(c);
            pubreq_free(r);
            return;
        }
        b->tail = &b->head;
        p->open = b;
        if (p->window_ms > 0) {
            rc = uv_timer_start(&p->timer, on_window, p->window_ms, 0);
            if (rc != 0)
                log_msg(LOG_WARN, "publish: cannot start the batch timer (%s); sealing now",
                        uv_strerror(rc));
        }
    }
    b = p->open;
    *b->tail = r;
    b->tail = &r->next;
    b->n_articles += container->n_articles;
    b->bytes += msg->container_len;
    /* During a shutdown nothing waits for a window: the batch is sealed at once. */
    if (b->n_articles >= p->max_articles || p->window_ms == 0 || p->d->stopping ||
        !uv_is_active((uv_handle_t *)&p->timer))
        close_open(p);
}

void
publish_flush(struct publish *p)
{
    close_open(p);
}

bool
publish_busy(const struct publish *p)
{
    return p->open != NULL || p->closed != NULL || p->sealing != NULL;
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct publish *p = h->data;

    sz_deflater_free(p->deflater);
    free(p);
}

void
publish_close(struct publish *p)
{
    uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}
