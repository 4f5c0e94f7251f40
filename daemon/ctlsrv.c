/* The control socket server: framing, dispatch, and the jobs behind each request. */
#include "ctlsrv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "gossip.h"
#include "log.h"
#include "peer.h"
#include "publish.h"
#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"

#define READ_BUF_LEN 65536
#define MAX_CONNS 256
/*
 * Memory all control requests being received may hold: each may announce up
 * to 80 MiB and then stall, so 64 connections could otherwise hold 5 GiB.
 * Three requests of the largest size fit.
 */
#define CTL_RX_BUDGET (256u << 20)
/* Replies held for clients that have not read them yet, all connections: an
 * export beyond it is refused rather than copied (64 clients asking exports
 * of 80 MiB and reading nothing would hold 5 GiB). */
#define CTL_TX_BUDGET (256u << 20)
#define MAX_LIST_ENTRIES SZ_CTL_MAX_ITEMS
#define RESULT_TEXT_LEN 320 /* one import result's text, NUL included */
/*
 * Lines a client can cause at will (a bad request, a failed request), for
 * every connection together: each bad request closes its connection, so a
 * limit per connection bounded nothing (CONTROL.md 7.2).
 */
static struct log_limit bad_request_log, failed_request_log;

/* The largest bundle an R_EXPORT carries: the body less its header and blob length. */
#define MAX_EXPORT_LEN (SZ_CTL_MAX_BODY_LEN - 2 - 4)

struct ctlconn {
    uv_pipe_t pipe;
    struct daemon *d;
    struct ctlconn *prev, *next;
    uint8_t *frame;     /* the request being received */
    size_t frame_len;   /* bytes received */
    size_t frame_cap;   /* header + announced body, once known */
    size_t frame_alloc; /* bytes allocated for frame */
    size_t counted;     /* of which counted in d->ctl_rx_bytes */
    int holds;          /* 1 for the handle, +1 per job or batch holding it */
    bool busy;          /* a request is being served: reading is paused */
    bool closing;
    uint8_t rbuf[READ_BUF_LEN];
};

/* One write: the request, the connection and the encoded frame. */
struct wreq {
    uv_write_t req;
    struct ctlconn *c;
    bool close_after;
    size_t len;
    uint8_t data[];
};

/* A request served on the thread pool. */
struct job {
    uv_work_t work;
    struct ctlconn *c;
    struct daemon *d;
    uint8_t *frame;         /* owned; msg points into it */
    size_t rx_counted;      /* its bytes counted in d->ctl_rx_bytes until freed */
    size_t tx_reserved;     /* EXPORT: its reply's bytes reserved in d->ctl_tx_bytes */
    struct sz_ctl_msg *msg; /* owned */
    void (*run)(struct job *j);
    /* Results, built on the pool thread. */
    struct sz_ctl_msg reply;
    uint8_t *reply_frame; /* encoded reply, or NULL */
    size_t reply_len;
    struct sz_container *container; /* PUBLISH: the validated articles */
    int err_code;
    char err[1024];
    bool err_logged; /* err is the store's failure: logged too, for the operator */
    /* Storage that reply points into. */
    void *scratch[4];
    /* IMPORT: the items stored, announced once the job is done. */
    size_t n_items;
    /*
     * IMPORT: the items still to open fully (verify, inflate, decode), in
     * request order, and how far the chunks have got through them. Only the
     * loop touches todo_next and chunks_running.
     */
    size_t *todo;
    size_t n_todo, todo_next;
    uint64_t content_cap;  /* IMPORT: max_bundle_bytes when it was queued */
    size_t chunks_running; /* screening or verification chunks on the pool */
    bool iwaiting;         /* in the queue of requests waiting for a chunk slot */
    struct job *iwait_next;
    bool store_queued; /* its store job is queued: the chunks are all done */
    /* IMPORT: per item, the earlier byte-identical item it repeats, or NO_ITEM. */
    size_t *first_of;
    /* STATUS: the peer list, taken on the loop where the peers live, and the
     * store's last failure to write a bundle from a peer (gossip_store_error()). */
    struct sz_wr peers_text, peers_json;
    bool store_failed;
    int64_t store_failed_age_ms;
    char store_err[1024];
    /* IMPORT: pairs of one publisher and sequence that imported bundles made, for the peers. */
    struct import_equiv {
        uint8_t publisher[SZ_PUBLIC_KEY_LEN];
        uint64_t sequence;
        uint8_t id_a[SZ_BUNDLE_ID_LEN], id_b[SZ_BUNDLE_ID_LEN];
    } equiv[4];
    size_t n_equiv;
};

/* Finds the pair of the bundle j->equiv[j->n_equiv] names (publisher, sequence). */
static int
find_equiv(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t sequence,
           const uint8_t id_a[SZ_BUNDLE_ID_LEN], const uint8_t id_b[SZ_BUNDLE_ID_LEN], void *arg)
{
    struct job *j = arg;
    struct import_equiv *e = &j->equiv[j->n_equiv];

    if (sequence != e->sequence || memcmp(publisher, e->publisher, SZ_PUBLIC_KEY_LEN) != 0)
        return 0;
    memcpy(e->id_a, id_a, SZ_BUNDLE_ID_LEN);
    memcpy(e->id_b, id_b, SZ_BUNDLE_ID_LEN);
    j->n_equiv++;
    return 1;
}

static void conn_read_next(struct ctlconn *c);

static void
conn_free(struct ctlconn *c)
{
    struct daemon *d = c->d;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (d->conns == c)
        d->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    d->n_conns--;
    d->ctl_rx_bytes -= c->counted;
    free(c->frame);
    free(c);
}

static void
on_conn_closed(uv_handle_t *h)
{
    ctlsrv_release(h->data);
}

static void
conn_close(struct ctlconn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

void
ctlsrv_hold(struct ctlconn *c)
{
    c->holds++;
}

void
ctlsrv_release(struct ctlconn *c)
{
    if (--c->holds == 0)
        conn_free(c);
}

static void
on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct ctlconn *c = w->c;
    bool close_after = w->close_after;

    atomic_fetch_sub(&c->d->ctl_tx_bytes, w->len);
    free(w);
    c->d->ctl_writes--;
    if (c->d->stopping)
        daemon_job_done(c->d);
    if (c->closing) {
        ctlsrv_release(c);
        return;
    }
    if (status < 0 || close_after) {
        if (status < 0 && status != UV_ECANCELED)
            log_msg(LOG_DEBUG, "control: write failed: %s", uv_strerror(status));
        conn_close(c);
    } else {
        c->busy = false;
        conn_read_next(c);
    }
    ctlsrv_release(c);
}

/* Sends an encoded frame (copied); closes after it when close_after. */
static void
conn_send(struct ctlconn *c, const uint8_t *data, size_t len, bool close_after)
{
    struct wreq *w;
    uv_buf_t buf;
    int rc;

    if (c->closing)
        return;
    w = malloc(sizeof *w + len);
    if (w == NULL) {
        log_msg(LOG_ERROR, "control: out of memory for a reply; closing the connection");
        conn_close(c);
        return;
    }
    w->c = c;
    w->close_after = close_after;
    w->len = len;
    memcpy(w->data, data, len);
    buf = uv_buf_init((char *)w->data, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
    if (rc != 0) {
        /* The callback will not run: clean up here. */
        free(w);
        log_msg(LOG_DEBUG, "control: write failed: %s", uv_strerror(rc));
        conn_close(c);
        return;
    }
    c->d->ctl_writes++;
    atomic_fetch_add(&c->d->ctl_tx_bytes, len);
    ctlsrv_hold(c);
}

static void
reply_msg(struct ctlconn *c, const struct sz_ctl_msg *m, bool close_after)
{
    uint8_t *out = NULL;
    size_t len = 0;
    int rc;

    if (c->closing)
        return;
    rc = sz_ctl_encode(m, &out, &len);
    if (rc != 0) {
        struct sz_ctl_msg e = {.type = SZ_CTL_R_ERROR, .code = (uint32_t)-rc};
        static const char text[] = "the daemon could not encode its reply";
        e.text = text;
        e.text_len = sizeof text - 1;
        log_msg(LOG_ERROR, "control: cannot encode a reply: %s", sz_strerror(rc));
        if (sz_ctl_encode(&e, &out, &len) != 0) {
            conn_close(c);
            return;
        }
    }
    conn_send(c, out, len, close_after);
    free(out);
}

void
ctlsrv_reply(struct ctlconn *c, const struct sz_ctl_msg *msg)
{
    reply_msg(c, msg, false);
}

static void vreply_error(struct ctlconn *c, int code, bool close_after, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
vreply_error(struct ctlconn *c, int code, bool close_after, const char *fmt, va_list ap)
{
    struct sz_ctl_msg m = {.type = SZ_CTL_R_ERROR};
    char text[1024];

    vsnprintf(text, sizeof text, fmt, ap);
    m.code = (uint32_t)(code < 0 ? -code : code);
    m.text = text;
    m.text_len = strlen(text);
    reply_msg(c, &m, close_after);
}

void
ctlsrv_reply_error(struct ctlconn *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreply_error(c, code, false, fmt, ap);
    va_end(ap);
}

static void reply_error_close(struct ctlconn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reply_error_close(struct ctlconn *c, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreply_error(c, code, true, fmt, ap);
    va_end(ap);
}

/* ---- jobs ---- */

static void
job_free(struct job *j)
{
    size_t i;

    j->d->ctl_rx_bytes -= j->rx_counted;
    /* The reply, if sent, is counted by its write now (conn_send()). */
    if (j->tx_reserved > 0)
        atomic_fetch_sub(&j->d->ctl_tx_bytes, j->tx_reserved);
    sz_ctl_msg_free(j->msg);
    free(j->frame);
    free(j->reply_frame);
    sz_container_free(j->container);
    for (i = 0; i < sizeof j->scratch / sizeof j->scratch[0]; i++)
        free(j->scratch[i]);
    free(j->todo);
    free(j->first_of);
    sz_wr_free(&j->peers_text, false);
    sz_wr_free(&j->peers_json, false);
    free(j);
}

static void
on_job_work(uv_work_t *w)
{
    struct job *j = w->data;

    j->run(j);
}

static void
on_job_done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    struct ctlconn *c = j->c;
    struct daemon *d = j->d;

    d->n_jobs--;
    if (status == UV_ECANCELED) {
        ctlsrv_reply_error(c, SZ_EINVAL, "the daemon is shutting down; try again later");
    } else if (j->msg->type == SZ_CTL_PUBLISH && j->err_code == 0) {
        /* The batch takes the request over and replies when the bundle is stored;
         * its bytes stay counted in the receive budget until then (CONTROL.md 7.1),
         * so that requests queued behind a long seal cannot grow without bound. */
        publish_add(d->pub, c, j->frame, j->msg, j->container, j->rx_counted);
        j->rx_counted = 0;
        j->frame = NULL;
        j->msg = NULL;
        j->container = NULL;
    } else if (j->err_code != 0) {
        if (j->err_logged &&
            log_allow(&failed_request_log, LOG_ERROR, 10, (int64_t)uv_now(d->loop)))
            log_msg(LOG_ERROR, "control request %s failed: %s",
                    j->msg->type == SZ_CTL_IMPORT   ? "import"
                    : j->msg->type == SZ_CTL_EXPORT ? "export"
                    : j->msg->type == SZ_CTL_STATUS ? "status"
                                                    : "list",
                    j->err);
        ctlsrv_reply_error(c, j->err_code, "%s", j->err);
    } else if (j->msg->type == SZ_CTL_IMPORT) {
        const struct store_item *items = j->scratch[2];
        size_t i, n_eq = 0;
        for (i = 0; i < j->n_items; i++) {
            if (items[i].status == STORE_STORED) {
                d->n_imported++;
                if (!d->stopping)
                    gossip_stored(d, &items[i].meta, NULL);
                /* Logged as gossip logs one (README: status and logs), a few an import. */
                if (items[i].equivocates && n_eq++ < 4) {
                    char pk[SZ_PK_TEXT_LEN + 1], hex[2 * SZ_BUNDLE_ID_LEN + 1];
                    sz_pk_to_text(items[i].meta.publisher, pk);
                    sz_bundle_id_hex(items[i].meta.id, hex);
                    log_msg(LOG_WARN,
                            "EQUIVOCATION: publisher %s signed two different bundles with "
                            "sequence %llu (one is %s, imported): its key may be stolen",
                            pk, (unsigned long long)items[i].meta.sequence, hex);
                }
            }
        }
        if (n_eq > 4)
            log_msg(LOG_WARN,
                    "EQUIVOCATION: %zu more in the same import (samizdat status lists them)",
                    n_eq - 4);
        for (i = 0; i < j->n_equiv && !d->stopping; i++)
            gossip_equivocation(d, j->equiv[i].publisher, j->equiv[i].sequence, j->equiv[i].id_a,
                                j->equiv[i].id_b);
        conn_send(c, j->reply_frame, j->reply_len, false);
    } else if (j->reply_frame != NULL) {
        conn_send(c, j->reply_frame, j->reply_len, false);
    } else {
        ctlsrv_reply(c, &j->reply);
    }
    ctlsrv_release(c);
    job_free(j);
    daemon_job_done(d);
}

static void job_fail(struct job *j, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
job_fail(struct job *j, int code, const char *fmt, ...)
{
    va_list ap;

    j->err_code = code < 0 ? -code : code;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
}

/* As job_fail() for a failure of the store (a full disk, damage): the
 * operator reads it in the log too, not only the client. */
static void job_fail_store(struct job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
job_fail_store(struct job *j, const char *fmt, ...)
{
    va_list ap;

    j->err_code = SZ_EINVAL;
    j->err_logged = true;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
}

/* Appends printf output to a writer. */
static void wr_printf(struct sz_wr *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
wr_printf(struct sz_wr *w, const char *fmt, ...)
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

/*
 * Publishers and equivocations a status shows at most. Any peer can make a
 * relay with carry = any hold bundles of throwaway keys, so the full lists
 * would outgrow the text limit; these keep a status well within it beside the
 * peers (at most half the limit) and count the rest.
 */
#define STATUS_MAX_PUBLISHERS 50
#define STATUS_MAX_EQUIVOCATIONS 20

/* One publisher of a status, with what ranks it. */
struct status_pub {
    struct store_usage u;
    bool own; /* the daemon's own publisher key */
};

/* The STATUS_MAX_PUBLISHERS publishers ranked first, and the sum of the rest. */
struct status_pubs {
    struct status_pub v[STATUS_MAX_PUBLISHERS];
    size_t n;
    const uint8_t *own; /* NULL when the daemon does not publish */
    uint64_t n_omitted, bytes_omitted;
};

/*
 * Ranks publishers: the daemon's own first, then by bytes held, most first,
 * then by key. Returns < 0 when a ranks before b.
 */
static int
cmp_status_pub(const void *pa, const void *pb)
{
    const struct status_pub *a = pa, *b = pb;

    if (a->own != b->own)
        return a->own ? -1 : 1;
    if (a->u.bytes != b->u.bytes)
        return a->u.bytes > b->u.bytes ? -1 : 1;
    return memcmp(a->u.publisher, b->u.publisher, SZ_PUBLIC_KEY_LEN);
}

/* Keeps the publishers that rank first in a fixed array, whatever their number. */
static int
status_collect_publisher(const struct store_usage *u, void *arg)
{
    struct status_pubs *p = arg;
    struct status_pub cand;
    size_t i, last = 0;

    cand.u = *u;
    cand.own = p->own != NULL && memcmp(p->own, u->publisher, SZ_PUBLIC_KEY_LEN) == 0;
    if (p->n < STATUS_MAX_PUBLISHERS) {
        p->v[p->n++] = cand;
        return 0;
    }
    for (i = 1; i < p->n; i++)
        if (cmp_status_pub(&p->v[i], &p->v[last]) > 0)
            last = i;
    if (cmp_status_pub(&cand, &p->v[last]) < 0) {
        struct status_pub out = p->v[last];
        p->v[last] = cand;
        cand = out;
    }
    p->n_omitted++;
    p->bytes_omitted += cand.u.bytes;
    return 0;
}

struct status_ctx {
    struct sz_wr *text, *json;
    size_t n;
    uint64_t n_omitted;
};

/*
 * A size for the status text: bytes up to 10 KiB, else KiB to TiB with one
 * decimal (249.6 KiB); the JSON keeps the exact count.
 */
static const char *
status_size(uint64_t v, char out[32])
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double x = (double)v;
    int i = -1;

    if (v < 10240) {
        snprintf(out, 32, "%llu byte%s", (unsigned long long)v, v == 1 ? "" : "s");
        return out;
    }
    while (x >= 1024.0 && i < 4) {
        x /= 1024.0;
        i++;
    }
    snprintf(out, 32, "%.1f %s", x, unit[i]);
    return out;
}

static void
status_publisher(struct status_ctx *s, const struct store_usage *u)
{
    char pk[SZ_PK_TEXT_LEN + 1], size[32];

    sz_pk_to_text(u->publisher, pk);
    wr_printf(s->text, "  %s  %llu bundle%s, %s, newest sequence %llu\n", pk,
              (unsigned long long)u->n_bundles, u->n_bundles == 1 ? "" : "s",
              status_size(u->bytes, size), (unsigned long long)u->max_sequence);
    wr_printf(s->json, "%s{\"key\":\"%s\",\"bundles\":%llu,\"bytes\":%llu,\"max_sequence\":%llu}",
              s->n++ > 0 ? "," : "", pk, (unsigned long long)u->n_bundles,
              (unsigned long long)u->bytes, (unsigned long long)u->max_sequence);
}

static int
status_equivocation(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t sequence,
                    const uint8_t id_a[SZ_BUNDLE_ID_LEN], const uint8_t id_b[SZ_BUNDLE_ID_LEN],
                    void *arg)
{
    struct status_ctx *s = arg;
    char pk[SZ_PK_TEXT_LEN + 1], a[2 * SZ_BUNDLE_ID_LEN + 1], b[2 * SZ_BUNDLE_ID_LEN + 1];

    if (s->n >= STATUS_MAX_EQUIVOCATIONS) {
        s->n_omitted++;
        return 0;
    }
    sz_pk_to_text(publisher, pk);
    sz_bundle_id_hex(id_a, a);
    sz_bundle_id_hex(id_b, b);
    wr_printf(s->text,
              "EQUIVOCATION: publisher %s signed two bundles with sequence %llu: %s and %s "
              "(its key may be stolen)\n",
              pk, (unsigned long long)sequence, a, b);
    wr_printf(s->json, "%s{\"publisher\":\"%s\",\"sequence\":%llu,\"ids\":[\"%s\",\"%s\"]}",
              s->n++ > 0 ? "," : "", pk, (unsigned long long)sequence, a, b);
    return 0;
}

static void
run_status(struct job *j)
{
    struct daemon *d = j->d;
    const struct config *cfg = d->cfg;
    struct sz_wr text, json;
    struct status_ctx sc;
    struct status_pubs *pubs = calloc(1, sizeof *pubs);
    uint64_t n = 0, bytes = 0, n_future, n_damaged, max_bytes, publisher_max_bytes;
    int64_t damage_at;
    char damage_what[96] = "", sz[3][32];
    uint32_t expiry_days;
    bool carry_any;
    char err[1024], pk[SZ_PK_TEXT_LEN + 1];
    int64_t up = daemon_now() - d->started_wall;
    uint64_t disk_free = 0;
    bool have_disk = false;
    char disk_json[24] = "null";
    size_t i;
    int rc;

    if (pubs == NULL) {
        job_fail(j, SZ_ENOMEM, "the daemon is out of memory");
        return;
    }
    pubs->own = d->sk != NULL ? d->pk : NULL;
    /* SIGHUP replaces these on the loop while this runs on the pool. */
    uv_rwlock_rdlock(&d->cfg_lock);
    carry_any = cfg->carry == CONFIG_CARRY_ANY;
    max_bytes = cfg->max_bytes;
    publisher_max_bytes = cfg->publisher_max_bytes;
    expiry_days = cfg->expiry_days;
    uv_rwlock_rdunlock(&d->cfg_lock);
    sz_wr_init(&text, SZ_CTL_MAX_TEXT_LEN);
    sz_wr_init(&json, SZ_CTL_MAX_TEXT_LEN);
    wr_printf(&text, "samizdatd %s, up %lld s\n", SZ_VERSION_STRING, (long long)up);
    const char *dir = d->data_dir_shown != NULL ? d->data_dir_shown : cfg->data_dir;
    wr_printf(&text, "data folder: %s\n", dir);
    wr_printf(&json, "{\"version\":\"%s\",\"uptime_s\":%lld,\"data_dir\":", SZ_VERSION_STRING,
              (long long)up);
    sz_wr_json_str(&json, dir);
    if (d->sk != NULL) {
        sz_pk_to_text(d->pk, pk);
        wr_printf(&text, "publisher key: %s\n", pk);
        wr_printf(&json, ",\"publisher\":\"%s\"", pk);
    } else {
        wr_printf(&json, ",\"publisher\":null");
    }
    /* Free space where the store grows (for an unprivileged daemon: f_bavail). */
    {
        struct statvfs vfs;
        if (statvfs(cfg->data_dir, &vfs) == 0) {
            have_disk = true;
            disk_free = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
            snprintf(disk_json, sizeof disk_json, "%llu", (unsigned long long)disk_free);
        }
    }
    uv_mutex_lock(&d->store_lock);
    rc = store_totals(d->store, &n, &bytes, err, sizeof err);
    n_future = store_n_future(d->store);
    n_damaged = atomic_load(&d->n_damaged);
    if (rc == 0)
        rc = store_publishers(d->store, status_collect_publisher, pubs, err, sizeof err);
    damage_at = store_damage_seen(d->store, damage_what, sizeof damage_what);
    if (rc == 0) {
        if (damage_at != 0) {
            int64_t age = daemon_now() - damage_at;
            wr_printf(&json, ",\"store_damaged\":{\"age_s\":%lld,\"text\":",
                      (long long)(age > 0 ? age : 0));
            sz_wr_json_str(&json, damage_what);
            wr_printf(&json, "}");
        } else {
            wr_printf(&json, ",\"store_damaged\":null");
        }
        if (j->store_failed) {
            wr_printf(&json, ",\"store_error\":{\"age_s\":%lld,\"text\":",
                      (long long)(j->store_failed_age_ms / 1000));
            sz_wr_json_str(&json, j->store_err);
            wr_printf(&json, "}");
        } else {
            wr_printf(&json, ",\"store_error\":null");
        }
        if (d->maint_err[0] != '\0') {
            int64_t age = daemon_now() - d->maint_err_at;
            wr_printf(&json, ",\"maintenance_error\":{\"age_s\":%lld,\"text\":",
                      (long long)(age > 0 ? age : 0));
            sz_wr_json_str(&json, d->maint_err);
            wr_printf(&json, "}");
        } else {
            wr_printf(&json, ",\"maintenance_error\":null");
        }
        wr_printf(&text, "stored: %llu bundle%s, %s (quota %s, %s per publisher)\n",
                  (unsigned long long)n, n == 1 ? "" : "s", status_size(bytes, sz[0]),
                  max_bytes == 0 ? "none" : status_size(max_bytes, sz[1]),
                  publisher_max_bytes == 0 ? "none" : status_size(publisher_max_bytes, sz[2]));
        wr_printf(&json,
                  ",\"bundles\":%llu,\"bytes\":%llu,\"quota_bytes\":%llu,"
                  "\"quota_publisher_bytes\":%llu,\"expiry_days\":%u,\"carry\":\"%s\","
                  "\"imported\":%llu,\"published\":%llu,\"refused\":%llu,"
                  "\"refused_future\":%llu,\"damaged_removed\":%llu,\"disk_free_bytes\":%s,"
                  "\"publishers\":[",
                  (unsigned long long)n, (unsigned long long)bytes, (unsigned long long)max_bytes,
                  (unsigned long long)publisher_max_bytes, (unsigned)expiry_days,
                  carry_any ? "any" : "list", (unsigned long long)d->n_imported,
                  (unsigned long long)d->n_published, (unsigned long long)d->n_refused,
                  (unsigned long long)n_future, (unsigned long long)n_damaged, disk_json);
        if (have_disk) {
            wr_printf(&text, "disk: %s free where the data folder is\n",
                      status_size(disk_free, sz[0]));
            if (bytes < max_bytes && max_bytes - bytes > disk_free)
                wr_printf(&text,
                          "WARNING: the quota leaves room for %s more, the disk for %s: free "
                          "space on the disk or lower max_bytes\n",
                          status_size(max_bytes - bytes, sz[0]), status_size(disk_free, sz[1]));
        }
        if (j->store_failed)
            wr_printf(&text,
                      "WARNING: %lld s ago the store could not write a bundle from a peer: %s\n",
                      (long long)(j->store_failed_age_ms / 1000), j->store_err);
        if (d->maint_err[0] != '\0') {
            int64_t age = daemon_now() - d->maint_err_at;
            wr_printf(&text,
                      "WARNING: %lld s ago the maintenance (expiry, quotas) failed: %s; it runs "
                      "again within the hour or at a SIGHUP\n",
                      (long long)(age > 0 ? age : 0), d->maint_err);
        }
        if (damage_at != 0) {
            int64_t age = daemon_now() - damage_at;
            wr_printf(&text,
                      "WARNING: %lld s ago SQLite found the store's file damaged (%s: database "
                      "disk image is malformed): stop samizdatd and run samizdatd "
                      "--recover-store with the same settings\n",
                      (long long)(age > 0 ? age : 0), damage_what);
        }
        if (n_damaged > 0)
            wr_printf(&text,
                      "WARNING: %llu bundle%s read back from the store damaged since the start "
                      "(removed, fetched again from peers; see the log): check the disk\n",
                      (unsigned long long)n_damaged, n_damaged == 1 ? " was" : "s were");
        if (max_bytes > 0 && bytes > max_bytes)
            wr_printf(&text,
                      "WARNING: the store holds %s more than its quota (max_bytes): the "
                      "maintenance evicts the oldest bundles%s\n",
                      status_size(bytes - max_bytes, sz[0]),
                      d->maint_err[0] != '\0' ? " once it can write to the disk again" : "");
        wr_printf(&text, "carry: %s; imported %llu, published %llu, refused %llu\n",
                  carry_any ? "any publisher" : "listed publishers only",
                  (unsigned long long)d->n_imported, (unsigned long long)d->n_published,
                  (unsigned long long)d->n_refused);
        wr_printf(&text,
                  "bundles refused as dated more than %lld hours ahead of this clock: %llu\n",
                  (long long)(STORE_MAX_FUTURE_S / 3600), (unsigned long long)n_future);
        if (pubs->n_omitted > 0)
            wr_printf(&text, "publishers (the %zu holding the most bytes):\n", pubs->n);
        else
            wr_printf(&text, "publishers:%s\n", pubs->n == 0 ? " none" : "");
        sc.text = &text;
        sc.json = &json;
        sc.n = 0;
        sc.n_omitted = 0;
        qsort(pubs->v, pubs->n, sizeof pubs->v[0], cmp_status_pub);
        for (i = 0; i < pubs->n; i++)
            status_publisher(&sc, &pubs->v[i].u);
        if (pubs->n_omitted > 0)
            wr_printf(&text, "  and %llu more publisher%s (%s)\n",
                      (unsigned long long)pubs->n_omitted, pubs->n_omitted == 1 ? "" : "s",
                      status_size(pubs->bytes_omitted, sz[0]));
        wr_printf(&json,
                  "],\"publishers_omitted\":%llu,\"publishers_omitted_bytes\":%llu,"
                  "\"equivocations\":[",
                  (unsigned long long)pubs->n_omitted, (unsigned long long)pubs->bytes_omitted);
        sc.n = 0;
        rc = store_equivocations(d->store, status_equivocation, &sc, err, sizeof err);
        if (sc.n_omitted > 0)
            wr_printf(&text, "  (%llu more equivocations not shown)\n",
                      (unsigned long long)sc.n_omitted);
        wr_printf(&json, "],\"equivocations_omitted\":%llu,", (unsigned long long)sc.n_omitted);
        sz_wr_bytes(&text, j->peers_text.p, j->peers_text.len);
        sz_wr_bytes(&json, j->peers_json.p, j->peers_json.len);
        wr_printf(&json, "}");
    }
    uv_mutex_unlock(&d->store_lock);
    free(pubs);
    if (rc != 0) {
        job_fail_store(j, "the store cannot be read: %s", err);
    } else if (sz_wr_status(&text) != 0 || sz_wr_status(&json) != 0) {
        job_fail(j, SZ_ETOOBIG, "the status report is too large");
    } else {
        j->reply.type = SZ_CTL_R_STATUS;
        j->reply.text = (const char *)text.p;
        j->reply.text_len = text.len;
        j->reply.json = (const char *)json.p;
        j->reply.json_len = json.len;
        j->scratch[0] = text.p;
        j->scratch[1] = json.p;
        return;
    }
    sz_wr_free(&text, false);
    sz_wr_free(&json, false);
}

/* first_of[] of an item that repeats no earlier item. */
#define NO_ITEM SIZE_MAX

/* An item's id and index, sorted to find the items of a request that repeat one another. */
struct id_index {
    uint8_t id[SZ_BUNDLE_ID_LEN];
    size_t i;
};

static int
cmp_id_index(const void *a, const void *b)
{
    const struct id_index *x = a, *y = b;
    int c = memcmp(x->id, y->id, SZ_BUNDLE_ID_LEN);

    if (c != 0)
        return c;
    return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Marks each parsed item that is byte for byte an earlier item of the request
 * (first_of): it is neither verified nor opened, and takes its first copy's
 * outcome. Without memory for the sort, nothing is marked and the store tells
 * the copies apart, at the cost of opening each.
 */
static void
import_find_repeats(struct job *j, const bool *parsed)
{
    const struct sz_ctl_msg *m = j->msg;
    const struct sz_ctl_import_result *res = j->scratch[0];
    struct id_index *v = calloc(m->n_items, sizeof *v);
    size_t n = 0, i, g;

    if (v == NULL)
        return;
    for (i = 0; i < m->n_items; i++) {
        if (parsed[i]) {
            memcpy(v[n].id, res[i].id, SZ_BUNDLE_ID_LEN);
            v[n++].i = i;
        }
    }
    qsort(v, n, sizeof *v, cmp_id_index);
    for (g = 0; g < n; g = i) {
        size_t f = v[g].i;
        for (i = g + 1; i < n && memcmp(v[i].id, v[g].id, SZ_BUNDLE_ID_LEN) == 0; i++) {
            size_t k = v[i].i;
            if (m->item_lens[k] == m->item_lens[f] &&
                memcmp(m->items[k], m->items[f], m->item_lens[f]) == 0)
                j->first_of[k] = f;
        }
    }
    free(v);
}

/*
 * The first pass of an IMPORT, one pool job that inflates nothing: parses each
 * item's header and marks the repeats within the request, refuses the
 * publishers not carried (step 7 of BUNDLE.md 1.3) and answers the ids
 * already stored, each after checking that item's signature and payload hash
 * (steps 1-6: no zstd). Only what is left goes to todo, to be
 * verified, inflated and decoded (steps 1-9) by the verification chunks: many
 * copies of a bomb, bombs of publishers not carried and bundles held already
 * cost no decompression at all. (The signatures were checked here before,
 * and again by the chunks: for a small bundle, one thread did half the
 * daemon's work twice over.)
 */
static void
import_screen(struct job *j)
{
    struct daemon *d = j->d;
    const struct sz_ctl_msg *m = j->msg;
    struct sz_ctl_import_result *res = j->scratch[0];
    char(*texts)[RESULT_TEXT_LEN] = j->scratch[3];
    uint64_t cap = j->content_cap;
    bool *parsed = calloc(m->n_items, sizeof *parsed);
    size_t i;
    int rc;

    if (parsed == NULL) {
        /* No memory to sort out anything: every item is opened in full. */
        for (i = 0; i < m->n_items; i++) {
            j->first_of[i] = NO_ITEM;
            j->todo[j->n_todo++] = i;
        }
        return;
    }
    for (i = 0; i < m->n_items; i++) {
        j->first_of[i] = NO_ITEM;
        rc = sz_bundle_parse(m->items[i], m->item_lens[i], cap, NULL, res[i].id);
        if (rc == -SZ_ETOOBIG) {
            struct sz_bundle_header h;
            res[i].code = SZ_CTL_IMPORT_REFUSED;
            if (sz_bundle_parse(m->items[i], m->item_lens[i], SZ_BUNDLE_MAX_CONTENT_LEN, &h,
                                res[i].id) == 0 &&
                h.content_len > cap)
                snprintf(texts[i], sizeof texts[i],
                         "refused: it holds %llu bytes of articles, more than this daemon's "
                         "max_bundle_bytes (%llu): raise it (the quotas max_bytes and "
                         "publisher_max_bytes bound it too) to take this bundle",
                         (unsigned long long)h.content_len, (unsigned long long)cap);
            else
                snprintf(texts[i], sizeof texts[i], "refused: %s", sz_strerror(rc));
        } else if (rc != 0) {
            res[i].code = SZ_CTL_IMPORT_REFUSED;
            snprintf(texts[i], sizeof texts[i], "refused: %s", sz_strerror(rc));
        } else {
            parsed[i] = true;
        }
    }
    import_find_repeats(j, parsed);
    for (i = 0; i < m->n_items; i++) {
        struct sz_bundle_header hdr;
        char pk[SZ_PK_TEXT_LEN + 1];
        if (!parsed[i] || j->first_of[i] != NO_ITEM)
            continue;
        /* Parsed above: the header again, for its publisher (no cryptography). */
        if ((rc = sz_bundle_parse(m->items[i], m->item_lens[i], cap, &hdr, res[i].id)) != 0) {
            res[i].code = SZ_CTL_IMPORT_REFUSED;
            snprintf(texts[i], sizeof texts[i], "refused: %s", sz_strerror(rc));
            continue;
        }
        bool carried = daemon_carries(d, hdr.publisher);
        if (carried) {
            uv_mutex_lock(&d->store_lock);
            rc = store_has(d->store, res[i].id, NULL, 0);
            uv_mutex_unlock(&d->store_lock);
            if (rc != 1) {
                /* Verified (signature first) and opened by the chunks, in parallel. */
                j->todo[j->n_todo++] = i;
                continue;
            }
        }
        /* Not carried, or held: what is said of it holds only if it checks
         * out (a damaged copy is refused as such). A held id is then this
         * very bundle: the id names the signed header, which commits to the
         * payload. (A failed lookup opens the item: the store has the last
         * word.) */
        rc = sz_bundle_verify(m->items[i], m->item_lens[i], cap, &hdr, res[i].id);
        if (rc != 0) {
            res[i].code = SZ_CTL_IMPORT_REFUSED;
            snprintf(texts[i], sizeof texts[i], "refused: %s", sz_strerror(rc));
        } else if (!carried) {
            sz_pk_to_text(hdr.publisher, pk);
            res[i].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[i], sizeof texts[i],
                     "not carried: publisher %s is not in this relay's carry list", pk);
        } else {
            res[i].code = SZ_CTL_IMPORT_PRESENT;
            snprintf(texts[i], sizeof texts[i], "already stored");
        }
    }
    free(parsed);
}

/*
 * Opens todo[from, to) of an IMPORT fully: signature and hash (a bundle that
 * fails them is not inflated), bounded inflation, container. Two chunks run
 * at once: a request's signatures are checked on two threads.
 */
static void
import_verify(struct job *j, size_t from, size_t to)
{
    struct daemon *d = j->d;
    const struct sz_ctl_msg *m = j->msg;
    struct sz_ctl_import_result *res = j->scratch[0];
    struct store_item *cand = j->scratch[1];
    char(*texts)[RESULT_TEXT_LEN] = j->scratch[3];
    size_t t;
    int rc;

    for (t = from; t < to; t++) {
        size_t i = j->todo[t];
        struct sz_bundle *b = NULL;
        rc = daemon_open_bundle(d, m->items[i], m->item_lens[i], j->content_cap, &b);
        if (rc != 0) {
            res[i].code = SZ_CTL_IMPORT_REFUSED;
            snprintf(texts[i], sizeof texts[i], "refused: %s", sz_strerror(rc));
            (void)sz_bundle_parse(m->items[i], m->item_lens[i], j->content_cap, NULL, res[i].id);
            continue;
        }
        store_meta_from_header(&cand[i].meta, &b->hdr, b->id, m->item_lens[i]);
        cand[i].bytes = m->items[i];
        res[i].code = SZ_CTL_IMPORT_STORED;
        sz_bundle_free(b);
    }
}

/* Allocates an IMPORT's result arrays (on the loop, before the chunks run). */
static int
import_prepare(struct job *j)
{
    size_t n = j->msg->n_items;

    j->content_cap = j->d->content_cap;
    j->scratch[0] = calloc(n, sizeof(struct sz_ctl_import_result));
    j->scratch[1] = calloc(n + 1, sizeof(struct store_item)); /* candidates, by index */
    j->scratch[2] = calloc(n + 1, sizeof(struct store_item)); /* stored, packed */
    j->scratch[3] = calloc(n, RESULT_TEXT_LEN);
    j->todo = calloc(n, sizeof *j->todo);
    j->first_of = calloc(n, sizeof *j->first_of);
    return j->scratch[0] != NULL && j->scratch[1] != NULL && j->scratch[2] != NULL &&
                   j->scratch[3] != NULL && j->todo != NULL && j->first_of != NULL
               ? 0
               : -1;
}

/* After every chunk verified: one transaction for the lot. */
static void
run_import(struct job *j)
{
    struct daemon *d = j->d;
    const struct sz_ctl_msg *m = j->msg;
    struct sz_ctl_import_result *res = j->scratch[0];
    struct store_item *cand = j->scratch[1], *items = j->scratch[2];
    size_t *item_of, n_items = 0, i;
    char(*texts)[RESULT_TEXT_LEN] = j->scratch[3], err[480];
    int64_t now = daemon_now();
    int rc;

    /* Items no chunk could be queued for are opened here. */
    import_verify(j, j->todo_next, j->n_todo);
    item_of = calloc(m->n_items + 1, sizeof *item_of);
    if (item_of == NULL) {
        job_fail(j, SZ_ENOMEM, "the daemon is out of memory");
        return;
    }
    for (i = 0; i < m->n_items; i++) {
        if (res[i].code == SZ_CTL_IMPORT_STORED && j->first_of[i] == NO_ITEM) {
            items[n_items] = cand[i];
            item_of[n_items++] = i;
        }
    }
    if (n_items > 0) {
        uv_mutex_lock(&d->store_lock);
        rc = store_put_batch(d->store, items, n_items, now, err, sizeof err);
        /* Evidence of a stolen key: the pairs go to the peers once the job is done. */
        for (i = 0; rc == 0 && i < n_items && j->n_equiv < sizeof j->equiv / sizeof j->equiv[0];
             i++) {
            if (items[i].status != STORE_STORED || !items[i].equivocates)
                continue;
            memcpy(j->equiv[j->n_equiv].publisher, items[i].meta.publisher, SZ_PUBLIC_KEY_LEN);
            j->equiv[j->n_equiv].sequence = items[i].meta.sequence;
            (void)store_equivocations_of(d->store, items[i].meta.publisher, items[i].meta.sequence,
                                         find_equiv, j, NULL, 0);
        }
        uv_mutex_unlock(&d->store_lock);
        if (rc != 0) {
            free(item_of);
            job_fail_store(j, "nothing was stored: %s", err);
            return;
        }
    }
    for (i = 0; i < n_items; i++) {
        size_t k = item_of[i];
        switch (items[i].status) {
        case STORE_STORED:
            snprintf(texts[k], sizeof texts[k], "stored%s",
                     items[i].equivocates ? " (EQUIVOCATION: another bundle has the same "
                                            "publisher and sequence)"
                                          : "");
            break;
        case STORE_DUPLICATE:
            res[k].code = SZ_CTL_IMPORT_PRESENT;
            snprintf(texts[k], sizeof texts[k], "already stored");
            break;
        case STORE_EXPIRED:
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k],
                     "not stored: older than this daemon keeps bundles (expiry_days)");
            break;
        case STORE_TOO_BIG:
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k],
                     "not stored: larger than a quota (max_bytes, publisher_max_bytes or "
                     "max_bundle_bytes)");
            break;
        case STORE_EVICTED:
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k], "not stored: it is the oldest bundle over a quota");
            break;
        case STORE_FUTURE: {
            char created[48], clock[48];
            daemon_format_time(items[i].meta.created, created, sizeof created);
            daemon_format_time(now, clock, sizeof clock);
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k],
                     "not stored: it is dated %s, more than %lld hours ahead of this machine's "
                     "clock (%s); check the clock of its publisher, and this machine's (date -u), "
                     "then import it again",
                     created, (long long)(STORE_MAX_FUTURE_S / 3600), clock);
            break;
        }
        case STORE_EXTRA:
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k],
                     "not stored: two other bundles with its publisher and sequence are held "
                     "(EQUIVOCATION: samizdat status lists them), and two are evidence enough");
            break;
        default:
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k], "not stored: its sequence is out of range");
            break;
        }
    }
    free(item_of);
    /* A repeat is held once its first copy is; otherwise it fares as that copy did. */
    for (i = 0; i < m->n_items; i++) {
        size_t f = j->first_of[i];
        if (f == NO_ITEM)
            continue;
        if (res[f].code == SZ_CTL_IMPORT_STORED || res[f].code == SZ_CTL_IMPORT_PRESENT) {
            res[i].code = SZ_CTL_IMPORT_PRESENT;
            snprintf(texts[i], sizeof texts[i], "already stored");
        } else {
            res[i].code = res[f].code;
            memcpy(texts[i], texts[f], sizeof texts[i]);
        }
    }
    j->n_items = n_items;
    for (i = 0; i < m->n_items; i++) {
        res[i].text = texts[i];
        res[i].text_len = strlen(texts[i]);
        if (res[i].code == SZ_CTL_IMPORT_REFUSED || res[i].code == SZ_CTL_IMPORT_POLICY)
            d->n_refused++; /* atomic: this runs on the thread pool */
    }
    j->reply.type = SZ_CTL_R_IMPORTED;
    j->reply.results = res;
    j->reply.n_results = m->n_items;
}

struct list_ctx {
    struct sz_ctl_entry *v;
    size_t n, cap;
    bool full;
};

static int
list_entry(const struct store_meta *m, void *arg)
{
    struct list_ctx *l = arg;

    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 256 : l->cap * 2;
        struct sz_ctl_entry *v;
        if (cap > MAX_LIST_ENTRIES) {
            l->full = true;
            return 1;
        }
        v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            l->full = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    memcpy(l->v[l->n].id, m->id, SZ_BUNDLE_ID_LEN);
    memcpy(l->v[l->n].publisher, m->publisher, SZ_PUBLIC_KEY_LEN);
    l->v[l->n].sequence = m->sequence;
    l->v[l->n].created = m->created;
    l->v[l->n].size = m->size;
    l->v[l->n].received = m->received;
    l->n++;
    return 0;
}

struct pubs_ctx {
    uint8_t (*pk)[SZ_PUBLIC_KEY_LEN];
    size_t n, cap;
    bool nomem;
};

static int
collect_publisher(const struct store_usage *u, void *arg)
{
    struct pubs_ctx *p = arg;

    if (p->n == p->cap) {
        size_t cap = p->cap == 0 ? 16 : p->cap * 2;
        uint8_t(*v)[SZ_PUBLIC_KEY_LEN] = realloc(p->pk, cap * sizeof *v);
        if (v == NULL) {
            p->nomem = true;
            return 1;
        }
        p->pk = v;
        p->cap = cap;
    }
    memcpy(p->pk[p->n++], u->publisher, SZ_PUBLIC_KEY_LEN);
    return 0;
}

static void
run_list(struct job *j)
{
    struct daemon *d = j->d;
    const struct sz_ctl_msg *m = j->msg;
    struct list_ctx l = {0};
    struct pubs_ctx p = {0};
    char err[1024];
    size_t i;
    int rc;

    uv_mutex_lock(&d->store_lock);
    if (m->has_publisher) {
        rc = store_list(d->store, m->publisher, m->since_sequence, list_entry, &l, err, sizeof err);
    } else {
        rc = store_publishers(d->store, collect_publisher, &p, err, sizeof err);
        for (i = 0; rc == 0 && !p.nomem && !l.full && i < p.n; i++)
            rc = store_list(d->store, p.pk[i], m->since_sequence, list_entry, &l, err, sizeof err);
    }
    uv_mutex_unlock(&d->store_lock);
    free(p.pk);
    j->scratch[0] = l.v;
    if (rc != 0)
        job_fail_store(j, "the store cannot be read: %s", err);
    else if (p.nomem || l.full)
        job_fail(j, SZ_ETOOBIG,
                 "the list is too long: narrow it with --publisher or "
                 "--since-sequence");
    else {
        j->reply.type = SZ_CTL_R_LIST;
        j->reply.entries = l.v;
        j->reply.n_entries = l.n;
    }
}

/* CONTROL.md 6.5: one page of at most SZ_CTL_MAX_ITEMS entries after the cursor. */
static void
run_list_page(struct job *j)
{
    struct daemon *d = j->d;
    const struct sz_ctl_msg *m = j->msg;
    struct list_ctx l = {.v = calloc(MAX_LIST_ENTRIES, sizeof *l.v), .cap = MAX_LIST_ENTRIES};
    struct store_cursor after;
    char err[1024];
    int rc;

    j->scratch[0] = l.v;
    if (l.v == NULL) {
        job_fail(j, SZ_ENOMEM, "the daemon is out of memory");
        return;
    }
    if (m->has_after) {
        memcpy(after.publisher, m->after_publisher, SZ_PUBLIC_KEY_LEN);
        after.sequence = m->after_sequence;
        memcpy(after.id, m->after_id, SZ_BUNDLE_ID_LEN);
    }
    uv_mutex_lock(&d->store_lock);
    rc = store_list_page(d->store, m->has_publisher ? m->publisher : NULL, m->since_sequence,
                         m->has_after ? &after : NULL, MAX_LIST_ENTRIES, list_entry, &l, err,
                         sizeof err);
    uv_mutex_unlock(&d->store_lock);
    if (rc != 0) {
        job_fail_store(j, "the store cannot be read: %s", err);
        return;
    }
    j->reply.type = SZ_CTL_R_LIST;
    j->reply.entries = l.v;
    j->reply.n_entries = l.n;
}

static void
run_export(struct job *j)
{
    struct daemon *d = j->d;
    struct store_meta meta;
    uint8_t *bytes = NULL;
    size_t len = 0;
    char err[1024], hex[2 * SZ_BUNDLE_ID_LEN + 1];
    bool too_big = false, over;
    size_t held;
    int rc;

    sz_bundle_id_hex(j->msg->id, hex);
    uv_mutex_lock(&d->store_lock);
    rc = store_get_meta(d->store, j->msg->id, &meta, err, sizeof err);
    /* A node with a large max_bundle_bytes can hold a bundle no R_EXPORT can carry. */
    too_big = rc == 0 && meta.size > MAX_EXPORT_LEN;
    /* Reserved now, not only checked: exports running side by side on the
     * pool would each see the others' replies not counted yet. */
    held = atomic_load(&d->ctl_tx_bytes);
    over = false;
    while (rc == 0 && !too_big) {
        over = held + meta.size > CTL_TX_BUDGET;
        if (over || atomic_compare_exchange_weak(&d->ctl_tx_bytes, &held, held + meta.size))
            break;
    }
    if (rc == 0 && !too_big && !over) {
        j->tx_reserved = meta.size; /* given back by job_free() */
        rc = store_get(d->store, j->msg->id, &bytes, &len, err, sizeof err);
    }
    uv_mutex_unlock(&d->store_lock);
    if (over) {
        job_fail(j, SZ_ETOOBIG,
                 "the daemon already holds %zu MiB of replies its clients have not read yet: "
                 "export again when they are done",
                 held >> 20);
        return;
    }
    if (rc == -ENOENT) {
        job_fail(j, SZ_EINVAL, "no bundle %s is stored here (see 'samizdat list')", hex);
        return;
    }
    if (too_big) {
        job_fail(j, SZ_ETOOBIG,
                 "bundle %s is %llu bytes, above the control protocol's limit of %zu bytes: it "
                 "cannot be exported or imported through the control socket, only passed from "
                 "relay to relay by gossip",
                 hex, (unsigned long long)meta.size, (size_t)MAX_EXPORT_LEN);
        return;
    }
    if (rc != 0) {
        job_fail_store(j, "the store cannot be read: %s", err);
        return;
    }
    if (daemon_checked_read(d, j->msg->id, bytes, len) != 0) {
        free(bytes);
        job_fail(j, SZ_EHASH,
                 "bundle %s was damaged on this daemon's disk: it was removed (see the daemon's "
                 "log) and is fetched again from a peer that holds it; check the disk, and "
                 "export it again once 'samizdat list' shows it",
                 hex);
        return;
    }
    j->scratch[0] = bytes;
    j->reply.type = SZ_CTL_R_EXPORT;
    j->reply.bundle = bytes;
    j->reply.bundle_len = len;
}

static void
run_publish_check(struct job *j)
{
    int rc;

    if (j->d->sk == NULL) {
        job_fail(j, SZ_EINVAL,
                 "this daemon is not a publisher: start samizdatd with --publisher-key SK");
        return;
    }
    rc = sz_container_decode(j->msg->container, j->msg->container_len, &j->container);
    if (rc != 0)
        job_fail(j, rc, "the articles are invalid: %s", sz_strerror(rc));
}

/* Encodes the reply on the pool thread so large replies cost the loop nothing. */
static void
run_and_encode(uv_work_t *w)
{
    struct job *j = w->data;
    int rc;

    on_job_work(w);
    if (j->err_code == 0 && j->reply.type != 0) {
        rc = sz_ctl_encode(&j->reply, &j->reply_frame, &j->reply_len);
        if (rc != 0)
            job_fail(j, rc, "the reply cannot be encoded: %s", sz_strerror(rc));
    }
}

/* ---- IMPORT in chunks ---- */

/* Items one verification chunk opens. */
#define IMPORT_CHUNK 16
/*
 * Verification chunks of all requests on the thread pool at once. The pool is
 * shared by every request, peer and the store (libuv's default is 4
 * threads): imports of bundles that inflate to the content cap must leave
 * room for a STATUS, a LIST and the gossip's store jobs, however many run.
 * Requests take the free slots in turn.
 */
#define IMPORT_MAX_RUNNING 2

static size_t import_chunks;                /* verification chunks on the pool, all requests */
static struct job *iwait_head, *iwait_tail; /* requests waiting for a slot, in turn */

/* A request waiting for a slot counts as a job: a shutdown waits for it. */
static void
iwait_push(struct job *j)
{
    if (j->iwaiting)
        return;
    j->iwaiting = true;
    j->iwait_next = NULL;
    if (iwait_tail != NULL)
        iwait_tail->iwait_next = j;
    else
        iwait_head = j;
    iwait_tail = j;
    j->d->n_jobs++;
}

static struct job *
iwait_pop(void)
{
    struct job *j = iwait_head;

    if (j == NULL)
        return NULL;
    iwait_head = j->iwait_next;
    if (iwait_head == NULL)
        iwait_tail = NULL;
    j->iwaiting = false;
    j->d->n_jobs--;
    return j;
}

struct ichunk {
    uv_work_t work;
    struct job *j;
    bool screen; /* the first pass (import_screen) rather than import_verify */
    size_t from, to;
};

static void
on_chunk_work(uv_work_t *w)
{
    struct ichunk *k = w->data;

    if (k->screen)
        import_screen(k->j);
    else
        import_verify(k->j, k->from, k->to);
}

static void on_chunk_done(uv_work_t *w, int status);

/* Queues one chunk (on the loop). Returns 0 or a libuv error; nothing is queued on error. */
static int
import_queue_chunk(struct job *j, bool screen, size_t from, size_t to)
{
    struct ichunk *k = calloc(1, sizeof *k);
    int rc;

    if (k == NULL)
        return UV_ENOMEM;
    k->work.data = k;
    k->j = j;
    k->screen = screen;
    k->from = from;
    k->to = to;
    rc = uv_queue_work(j->d->loop, &k->work, on_chunk_work, on_chunk_done);
    if (rc != 0) {
        free(k);
        return rc;
    }
    j->d->n_jobs++;
    j->chunks_running++;
    return 0;
}

/*
 * Queues verification chunks of the request while the pool has a slot for
 * them (IMPORT_MAX_RUNNING, all requests), waits its turn for more, and
 * queues the store job once the last has finished. When a chunk cannot be
 * queued, the store job opens what is left itself.
 */
static void
import_pump(struct job *j)
{
    struct daemon *d = j->d;
    bool failed = false;
    int rc;

    if (j->store_queued || j->iwaiting)
        return;
    while (import_chunks < IMPORT_MAX_RUNNING && j->todo_next < j->n_todo) {
        size_t to =
            j->n_todo - j->todo_next > IMPORT_CHUNK ? j->todo_next + IMPORT_CHUNK : j->n_todo;
        if (import_queue_chunk(j, false, j->todo_next, to) != 0) {
            failed = true;
            break;
        }
        import_chunks++;
        j->todo_next = to;
    }
    if (!failed && j->todo_next < j->n_todo) {
        iwait_push(j); /* more when a slot frees, after the requests waiting before it */
        return;
    }
    if (j->chunks_running > 0)
        return;
    j->store_queued = true;
    /* Every chunk done: store them all in one transaction. */
    rc = uv_queue_work(d->loop, &j->work, run_and_encode, on_job_done);
    if (rc != 0) {
        ctlsrv_reply_error(j->c, SZ_ENOMEM, "the daemon cannot queue work: %s", uv_strerror(rc));
        ctlsrv_release(j->c);
        job_free(j);
        daemon_job_done(d);
        return;
    }
    d->n_jobs++;
}

static void
on_chunk_done(uv_work_t *w, int status)
{
    struct ichunk *k = w->data;
    struct job *j = k->j;

    bool verify = !k->screen;

    (void)status; /* Nothing cancels these: a shutdown finishes the request. */
    free(k);
    j->d->n_jobs--;
    j->chunks_running--;
    if (verify)
        import_chunks--;
    /* The requests waiting for a slot go first, in turn; then this one. */
    while (import_chunks < IMPORT_MAX_RUNNING && iwait_head != NULL)
        import_pump(iwait_pop());
    import_pump(j);
}

/* Queues the first pass of an IMPORT; the chunks and the store job follow it. */
static int
import_start(struct job *j)
{
    if (import_prepare(j) != 0)
        return UV_ENOMEM;
    return import_queue_chunk(j, true, 0, 0);
}

/* ---- requests ---- */

static void
dispatch(struct ctlconn *c, uint8_t *frame, size_t frame_len, size_t counted)
{
    struct daemon *d = c->d;
    struct sz_ctl_msg *msg = NULL;
    struct job *j;
    int rc;

    rc = sz_ctl_decode(frame + SZ_CTL_FRAME_HEADER_LEN, frame_len - SZ_CTL_FRAME_HEADER_LEN, &msg);
    if (rc != 0) {
        d->ctl_rx_bytes -= counted;
        free(frame);
        if (log_allow(&bad_request_log, LOG_WARN, 10, (int64_t)uv_now(d->loop)))
            log_msg(LOG_WARN, "control: bad request (%s); closing that connection",
                    sz_strerror(rc));
        reply_error_close(c, rc, "bad request: %s (is samizdat the same version as samizdatd?)",
                          sz_strerror(rc));
        return;
    }
    j = calloc(1, sizeof *j);
    if (j == NULL) {
        d->ctl_rx_bytes -= counted;
        sz_ctl_msg_free(msg);
        free(frame);
        ctlsrv_reply_error(c, SZ_ENOMEM, "the daemon is out of memory");
        return;
    }
    j->work.data = j;
    j->c = c;
    j->d = d;
    j->frame = frame;
    j->rx_counted = counted;
    j->msg = msg;
    switch (msg->type) {
    case SZ_CTL_STATUS:
        j->run = run_status;
        sz_wr_init(&j->peers_text, SZ_CTL_MAX_TEXT_LEN / 2);
        sz_wr_init(&j->peers_json, SZ_CTL_MAX_TEXT_LEN / 2);
        peer_status(d, &j->peers_text, &j->peers_json);
        j->store_failed =
            gossip_store_error(d, &j->store_failed_age_ms, j->store_err, sizeof j->store_err);
        break;
    case SZ_CTL_IMPORT:
        j->run = run_import;
        break;
    case SZ_CTL_LIST:
        j->run = run_list;
        break;
    case SZ_CTL_LIST_PAGE:
        j->run = run_list_page;
        break;
    case SZ_CTL_EXPORT:
        j->run = run_export;
        break;
    case SZ_CTL_PUBLISH:
        j->run = run_publish_check;
        break;
    default:
        job_free(j);
        reply_error_close(c, SZ_EINVAL, "that message is a reply, not a request");
        return;
    }
    if (msg->type == SZ_CTL_IMPORT) {
        /* The chunks count themselves in n_jobs; the store job follows the last. */
        rc = import_start(j);
    } else {
        rc = uv_queue_work(d->loop, &j->work, run_and_encode, on_job_done);
        if (rc == 0)
            d->n_jobs++;
    }
    if (rc != 0) {
        job_free(j);
        ctlsrv_reply_error(c, SZ_ENOMEM, "the daemon cannot queue work: %s", uv_strerror(rc));
        return;
    }
    ctlsrv_hold(c);
}

/* Takes in received bytes; dispatches a request once it is whole. */
static void
conn_take(struct ctlconn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && !c->busy && !c->closing) {
        size_t want, take;
        if (c->frame_cap == 0) {
            /* The 4-byte length first: it bounds the allocation. */
            uint8_t hdr[SZ_CTL_FRAME_HEADER_LEN];
            size_t have = c->frame_len;
            take = SZ_CTL_FRAME_HEADER_LEN - have < n ? SZ_CTL_FRAME_HEADER_LEN - have : n;
            if (c->frame == NULL) {
                c->frame = malloc(SZ_CTL_FRAME_HEADER_LEN);
                if (c->frame == NULL) {
                    conn_close(c);
                    return;
                }
            }
            memcpy(c->frame + have, p, take);
            c->frame_len += take;
            p += take;
            n -= take;
            if (c->frame_len < SZ_CTL_FRAME_HEADER_LEN)
                return;
            memcpy(hdr, c->frame, sizeof hdr);
            {
                size_t frame_len = 0;
                int rc = sz_ctl_frame_peek(hdr, sizeof hdr, &frame_len);
                if (rc < 0) {
                    if (log_allow(&bad_request_log, LOG_WARN, 10, (int64_t)uv_now(c->d->loop)))
                        log_msg(LOG_WARN, "control: request too large or empty; closing");
                    c->busy = true;
                    uv_read_stop((uv_stream_t *)&c->pipe);
                    reply_error_close(c, rc, "request refused: %s (the limit is %zu bytes)",
                                      sz_strerror(rc), (size_t)SZ_CTL_MAX_BODY_LEN);
                    return;
                }
                /* With the header alone, peek has checked the limit and asks for the body. */
                if (rc == 1)
                    frame_len = SZ_CTL_FRAME_HEADER_LEN + sz_load32(hdr);
                c->frame_cap = frame_len;
                c->frame_alloc = SZ_CTL_FRAME_HEADER_LEN;
            }
        }
        want = c->frame_cap - c->frame_len;
        take = want < n ? want : n;
        /* The buffer grows with the bytes that arrive, not with the length a
         * client announces: a header alone costs nothing. */
        if (c->frame_len + take > c->frame_alloc) {
            size_t cap = c->frame_alloc * 2;
            uint8_t *g;
            if (cap < c->frame_len + take)
                cap = c->frame_len + take;
            if (cap < 65536)
                cap = 65536;
            if (cap > c->frame_cap)
                cap = c->frame_cap;
            if (c->d->ctl_rx_bytes + (cap - c->frame_alloc) > CTL_RX_BUDGET) {
                c->busy = true;
                uv_read_stop((uv_stream_t *)&c->pipe);
                reply_error_close(c, SZ_ETOOBIG,
                                  "the daemon already holds %zu MiB of other requests: "
                                  "send this one again when they are done",
                                  c->d->ctl_rx_bytes >> 20);
                return;
            }
            g = realloc(c->frame, cap);
            if (g == NULL) {
                conn_close(c);
                return;
            }
            c->d->ctl_rx_bytes += cap - c->frame_alloc;
            c->counted += cap - c->frame_alloc;
            c->frame = g;
            c->frame_alloc = cap;
        }
        memcpy(c->frame + c->frame_len, p, take);
        c->frame_len += take;
        p += take;
        n -= take;
        if (c->frame_len == c->frame_cap) {
            uint8_t *frame = c->frame;
            size_t len = c->frame_len;
            /* The request's memory stays counted until its job frees it. */
            size_t counted = c->counted;
            c->frame = NULL;
            c->frame_len = c->frame_cap = c->frame_alloc = 0;
            c->counted = 0;
            c->busy = true;
            uv_read_stop((uv_stream_t *)&c->pipe);
            if (n > 0) {
                /* Pipelined bytes wait for the reply: a client sends one request at a time. */
                c->d->ctl_rx_bytes -= counted;
                reply_error_close(c, SZ_EINVAL, "send one request at a time");
                free(frame);
                return;
            }
            dispatch(c, frame, len, counted);
        }
    }
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct ctlconn *c = h->data;

    (void)suggested;
    *buf = uv_buf_init((char *)c->rbuf, sizeof c->rbuf);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct ctlconn *c = s->data;

    if (nread < 0) {
        /* EOF or error: a half-received request is dropped with the connection. */
        conn_close(c);
        return;
    }
    if (nread > 0)
        conn_take(c, (const uint8_t *)buf->base, (size_t)nread);
}

static void
conn_read_next(struct ctlconn *c)
{
    int rc;

    if (c->closing || c->busy || c->d->stopping)
        return;
    rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    if (rc != 0) {
        log_msg(LOG_WARN, "control: cannot read: %s", uv_strerror(rc));
        conn_close(c);
    }
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct daemon *d = server->data;
    struct ctlconn *c;
    int rc;

    if (status < 0) {
        log_msg(LOG_WARN, "control: accept failed: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        log_msg(LOG_ERROR, "control: out of memory for a connection");
        return;
    }
    rc = uv_pipe_init(d->loop, &c->pipe, 0);
    if (rc != 0) {
        free(c);
        log_msg(LOG_ERROR, "control: %s", uv_strerror(rc));
        return;
    }
    c->pipe.data = c;
    c->d = d;
    c->holds = 1;
    c->next = d->conns;
    if (d->conns != NULL)
        d->conns->prev = c;
    d->conns = c;
    d->n_conns++;
    rc = uv_accept(server, (uv_stream_t *)&c->pipe);
    if (rc != 0) {
        log_msg(LOG_WARN, "control: accept failed: %s", uv_strerror(rc));
        conn_close(c);
        return;
    }
    if (d->n_conns > MAX_CONNS || d->stopping) {
        c->busy = true;
        reply_error_close(c, d->stopping ? SZ_EINVAL : SZ_EBUSY,
                          d->stopping ? "the daemon is shutting down"
                                      : "too many control connections; retry");
        return;
    }
    conn_read_next(c);
}

/* True when a daemon answers on the socket at path. */
static bool
socket_is_live(const char *path)
{
    struct sockaddr_un sa;
    bool live = false;
    int s;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return false;
    memcpy(sa.sun_path, path, strlen(path));
    /* Without waiting: a daemon stopped (SIGSTOP) with its backlog full made
     * connect() block, and this start with it, deaf to SIGTERM. EAGAIN is
     * that full backlog: someone listens there. */
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return false;
    live = connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EAGAIN;
    close(s);
    return live;
}

int
ctlsrv_start(struct daemon *d, const char *path)
{
    struct stat st;
    mode_t old;
    int rc;

    rc = uv_pipe_init(d->loop, &d->ctl_listener, 0);
    if (rc != 0)
        return rc;
    d->ctl_listener.data = d;
    d->ctl_listening = true;
    /* A socket file left by a daemon that died is replaced; a live one is not. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return UV_EEXIST; /* not a socket: never deleted */
        if (socket_is_live(path))
            return UV_EADDRINUSE;
        unlink(path);
    }
    old = umask(0177);
    rc = uv_pipe_bind(&d->ctl_listener, path);
    umask(old);
    if (rc != 0)
        return rc;
    if (chmod(path, 0600) != 0)
        return uv_translate_sys_error(errno);
    return uv_listen((uv_stream_t *)&d->ctl_listener, 16, on_connection);
}

void
ctlsrv_quiesce(struct daemon *d)
{
    struct ctlconn *c;

    for (c = d->conns; c != NULL; c = c->next)
        if (!c->closing && !c->busy)
            uv_read_stop((uv_stream_t *)&c->pipe);
}

void
ctlsrv_close_all(struct daemon *d)
{
    struct ctlconn *c, *next;

    if (d->ctl_listening) {
        d->ctl_listening = false;
        uv_close((uv_handle_t *)&d->ctl_listener, NULL);
    }
    for (c = d->conns; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
}
