/* The control socket server: framing, dispatch, and the jobs behind each request. */
#include "ctlsrv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
#define MAX_CONNS 64
#define MAX_LIST_ENTRIES SZ_CTL_MAX_ITEMS
#define RESULT_TEXT_LEN 320 /* one import result's text, NUL included */

struct ctlconn {
    uv_pipe_t pipe;
    struct daemon *d;
    struct ctlconn *prev, *next;
    uint8_t *frame;     /* the request being received */
    size_t frame_len;   /* bytes received */
    size_t frame_cap;   /* header + announced body, once known */
    size_t frame_alloc; /* bytes allocated for frame */
    int holds;          /* 1 for the handle, +1 per job or batch holding it */
    bool busy;          /* a request is being served: reading is paused */
    bool closing;
    struct log_limit noisy;
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
    struct sz_ctl_msg *msg; /* owned */
    void (*run)(struct job *j);
    /* Results, built on the pool thread. */
    struct sz_ctl_msg reply;
    uint8_t *reply_frame; /* encoded reply, or NULL */
    size_t reply_len;
    struct sz_container *container; /* PUBLISH: the validated articles */
    int err_code;
    char err[512];
    /* Storage that reply points into. */
    void *scratch[4];
    /* IMPORT: the items stored, announced once the job is done. */
    size_t n_items;
    size_t chunks_left; /* verification chunks still running */
    /* STATUS: the peer list, taken on the loop where the peers live. */
    struct sz_wr peers_text, peers_json;
};

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

    sz_ctl_msg_free(j->msg);
    free(j->frame);
    free(j->reply_frame);
    sz_container_free(j->container);
    for (i = 0; i < sizeof j->scratch / sizeof j->scratch[0]; i++)
        free(j->scratch[i]);
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
        /* The batch takes the request over and replies when the bundle is stored. */
        publish_add(d->pub, c, j->frame, j->msg, j->container);
        j->frame = NULL;
        j->msg = NULL;
        j->container = NULL;
    } else if (j->err_code != 0) {
        ctlsrv_reply_error(c, j->err_code, "%s", j->err);
    } else if (j->msg->type == SZ_CTL_IMPORT) {
        const struct store_item *items = j->scratch[2];
        size_t i;
        for (i = 0; i < j->n_items; i++) {
            if (items[i].status == STORE_STORED) {
                d->n_imported++;
                if (!d->stopping)
                    gossip_stored(d, &items[i].meta, NULL);
            }
        }
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

/* Appends s as a JSON string literal. */
static void
wr_json_str(struct sz_wr *w, const char *s)
{
    sz_wr_u8(w, '"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            wr_printf(w, "\\%c", ch);
        else if (ch < 0x20)
            wr_printf(w, "\\u%04x", ch);
        else
            sz_wr_u8(w, ch);
    }
    sz_wr_u8(w, '"');
}

struct status_ctx {
    struct sz_wr *text, *json;
    size_t n;
};

static int
status_publisher(const struct store_usage *u, void *arg)
{
    struct status_ctx *s = arg;
    char pk[SZ_PK_TEXT_LEN + 1];

    sz_pk_to_text(u->publisher, pk);
    wr_printf(s->text, "  %s  %llu bundles, %llu bytes, newest sequence %llu\n", pk,
              (unsigned long long)u->n_bundles, (unsigned long long)u->bytes,
              (unsigned long long)u->max_sequence);
    wr_printf(s->json, "%s{\"key\":\"%s\",\"bundles\":%llu,\"bytes\":%llu,\"max_sequence\":%llu}",
              s->n++ > 0 ? "," : "", pk, (unsigned long long)u->n_bundles,
              (unsigned long long)u->bytes, (unsigned long long)u->max_sequence);
    return 0;
}

static int
status_equivocation(const uint8_t publisher[SZ_PUBLIC_KEY_LEN], uint64_t sequence,
                    const uint8_t id_a[SZ_BUNDLE_ID_LEN], const uint8_t id_b[SZ_BUNDLE_ID_LEN],
                    void *arg)
{
    struct status_ctx *s = arg;
    char pk[SZ_PK_TEXT_LEN + 1], a[2 * SZ_BUNDLE_ID_LEN + 1], b[2 * SZ_BUNDLE_ID_LEN + 1];

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
    uint64_t n = 0, bytes = 0, n_future;
    char err[256], pk[SZ_PK_TEXT_LEN + 1];
    int64_t up = daemon_now() - d->started_wall;
    int rc;

    sz_wr_init(&text, SZ_CTL_MAX_TEXT_LEN);
    sz_wr_init(&json, SZ_CTL_MAX_TEXT_LEN);
    wr_printf(&text, "samizdatd %s, up %lld s\n", SZ_VERSION_STRING, (long long)up);
    wr_printf(&text, "data folder: %s\n", cfg->data_dir);
    wr_printf(&json, "{\"version\":\"%s\",\"uptime_s\":%lld,\"data_dir\":", SZ_VERSION_STRING,
              (long long)up);
    wr_json_str(&json, cfg->data_dir);
    if (d->sk != NULL) {
        sz_pk_to_text(d->pk, pk);
        wr_printf(&text, "publisher key: %s\n", pk);
        wr_printf(&json, ",\"publisher\":\"%s\"", pk);
    } else {
        wr_printf(&json, ",\"publisher\":null");
    }
    uv_mutex_lock(&d->store_lock);
    rc = store_totals(d->store, &n, &bytes, err, sizeof err);
    n_future = store_n_future(d->store);
    if (rc == 0) {
        wr_printf(&text,
                  "stored: %llu bundles, %llu bytes (quota %llu bytes, %llu per publisher)\n",
                  (unsigned long long)n, (unsigned long long)bytes,
                  (unsigned long long)cfg->max_bytes, (unsigned long long)cfg->publisher_max_bytes);
        wr_printf(&json,
                  ",\"bundles\":%llu,\"bytes\":%llu,\"quota_bytes\":%llu,"
                  "\"quota_publisher_bytes\":%llu,\"expiry_days\":%u,\"carry\":\"%s\","
                  "\"imported\":%llu,\"published\":%llu,\"refused\":%llu,"
                  "\"refused_future\":%llu,\"publishers\":[",
                  (unsigned long long)n, (unsigned long long)bytes,
                  (unsigned long long)cfg->max_bytes, (unsigned long long)cfg->publisher_max_bytes,
                  (unsigned)cfg->expiry_days, cfg->carry == CONFIG_CARRY_ANY ? "any" : "list",
                  (unsigned long long)d->n_imported, (unsigned long long)d->n_published,
                  (unsigned long long)d->n_refused, (unsigned long long)n_future);
        wr_printf(&text, "carry: %s; imported %llu, published %llu, refused %llu\n",
                  cfg->carry == CONFIG_CARRY_ANY ? "any publisher" : "listed publishers only",
                  (unsigned long long)d->n_imported, (unsigned long long)d->n_published,
                  (unsigned long long)d->n_refused);
        wr_printf(&text,
                  "bundles refused as dated more than %lld hours ahead of this clock: %llu\n",
                  (long long)(STORE_MAX_FUTURE_S / 3600), (unsigned long long)n_future);
        wr_printf(&text, "publishers:%s\n", n == 0 ? " none" : "");
        sc.text = &text;
        sc.json = &json;
        sc.n = 0;
        rc = store_publishers(d->store, status_publisher, &sc, err, sizeof err);
        wr_printf(&json, "],\"equivocations\":[");
        sc.n = 0;
        if (rc == 0)
            rc = store_equivocations(d->store, status_equivocation, &sc, err, sizeof err);
        wr_printf(&json, "],");
        sz_wr_bytes(&text, j->peers_text.p, j->peers_text.len);
        sz_wr_bytes(&json, j->peers_json.p, j->peers_json.len);
        wr_printf(&json, "}");
    }
    uv_mutex_unlock(&d->store_lock);
    if (rc != 0) {
        job_fail(j, SZ_EINVAL, "the store cannot be read: %s", err);
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

/* Verifies bundles [from, to) of an IMPORT: several chunks run on the pool at once. */
static void
import_verify(struct job *j, size_t from, size_t to)
{
    struct daemon *d = j->d;
    const struct sz_ctl_msg *m = j->msg;
    struct sz_ctl_import_result *res = j->scratch[0];
    struct store_item *cand = j->scratch[1];
    char(*texts)[RESULT_TEXT_LEN] = j->scratch[3];
    size_t i;
    int rc;

    for (i = from; i < to; i++) {
        struct sz_bundle *b = NULL;
        char pk[SZ_PK_TEXT_LEN + 1];
        rc = daemon_open_bundle(d, m->items[i], m->item_lens[i], &b);
        if (rc != 0) {
            res[i].code = SZ_CTL_IMPORT_REFUSED;
            snprintf(texts[i], sizeof texts[i], "refused: %s", sz_strerror(rc));
            (void)sz_bundle_parse(m->items[i], m->item_lens[i], d->content_cap, NULL, res[i].id);
            continue;
        }
        memcpy(res[i].id, b->id, SZ_BUNDLE_ID_LEN);
        if (!daemon_carries(d, b->hdr.publisher)) {
            sz_pk_to_text(b->hdr.publisher, pk);
            res[i].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[i], sizeof texts[i],
                     "not carried: publisher %s is not in this relay's carry list", pk);
        } else {
            store_meta_from_header(&cand[i].meta, &b->hdr, b->id, m->item_lens[i]);
            cand[i].bytes = m->items[i];
            res[i].code = SZ_CTL_IMPORT_STORED;
        }
        sz_bundle_free(b);
    }
}

/* RFC 3339, or the raw seconds for a time outside years 1..9999. */
static void
format_time(int64_t t, char *out, size_t out_cap)
{
    if (sz_time_format(t, out, out_cap) != 0)
        snprintf(out, out_cap, "%lld s after 1970", (long long)t);
}

/* Allocates an IMPORT's result arrays (on the loop, before the chunks run). */
static int
import_prepare(struct job *j)
{
    size_t n = j->msg->n_items;

    j->scratch[0] = calloc(n, sizeof(struct sz_ctl_import_result));
    j->scratch[1] = calloc(n + 1, sizeof(struct store_item)); /* candidates, by index */
    j->scratch[2] = calloc(n + 1, sizeof(struct store_item)); /* stored, packed */
    j->scratch[3] = calloc(n, RESULT_TEXT_LEN);
    return j->scratch[0] != NULL && j->scratch[1] != NULL && j->scratch[2] != NULL &&
                   j->scratch[3] != NULL
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
    char(*texts)[RESULT_TEXT_LEN] = j->scratch[3], err[256];
    int64_t now = daemon_now();
    int rc;

    item_of = calloc(m->n_items + 1, sizeof *item_of);
    if (item_of == NULL) {
        job_fail(j, SZ_ENOMEM, "the daemon is out of memory");
        return;
    }
    for (i = 0; i < m->n_items; i++) {
        if (res[i].code == SZ_CTL_IMPORT_STORED) {
            items[n_items] = cand[i];
            item_of[n_items++] = i;
        }
    }
    if (n_items > 0) {
        uv_mutex_lock(&d->store_lock);
        rc = store_put_batch(d->store, items, n_items, now, err, sizeof err);
        uv_mutex_unlock(&d->store_lock);
        if (rc != 0) {
            free(item_of);
            job_fail(j, SZ_EINVAL, "nothing was stored: %s", err);
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
            snprintf(texts[k], sizeof texts[k], "not stored: older than the expiry age");
            break;
        case STORE_TOO_BIG:
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k], "not stored: larger than a quota");
            break;
        case STORE_EVICTED:
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k], "not stored: it is the oldest bundle over a quota");
            break;
        case STORE_FUTURE: {
            char created[48], clock[48];
            format_time(items[i].meta.created, created, sizeof created);
            format_time(now, clock, sizeof clock);
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k],
                     "not stored: it is dated %s, more than %lld hours ahead of this machine's "
                     "clock (%s); check the clock of its publisher, and this machine's (date -u), "
                     "then import it again",
                     created, (long long)(STORE_MAX_FUTURE_S / 3600), clock);
            break;
        }
        default:
            res[k].code = SZ_CTL_IMPORT_POLICY;
            snprintf(texts[k], sizeof texts[k], "not stored: its sequence is out of range");
            break;
        }
    }
    free(item_of);
    j->n_items = n_items;
    for (i = 0; i < m->n_items; i++) {
        res[i].text = texts[i];
        res[i].text_len = strlen(texts[i]);
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
    char err[256];
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
        job_fail(j, SZ_EINVAL, "the store cannot be read: %s", err);
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

static void
run_export(struct job *j)
{
    struct daemon *d = j->d;
    uint8_t *bytes = NULL;
    size_t len = 0;
    char err[256], hex[2 * SZ_BUNDLE_ID_LEN + 1];
    int rc;

    uv_mutex_lock(&d->store_lock);
    rc = store_get(d->store, j->msg->id, &bytes, &len, err, sizeof err);
    uv_mutex_unlock(&d->store_lock);
    if (rc == -ENOENT) {
        sz_bundle_id_hex(j->msg->id, hex);
        job_fail(j, SZ_EINVAL, "no bundle %s is stored here (see 'samizdat list')", hex);
        return;
    }
    if (rc != 0) {
        job_fail(j, SZ_EINVAL, "the store cannot be read: %s", err);
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

/* ---- IMPORT in parallel chunks ---- */

#define IMPORT_CHUNK 32

struct ichunk {
    uv_work_t work;
    struct job *j;
    size_t from, to;
};

static void
on_chunk_work(uv_work_t *w)
{
    struct ichunk *k = w->data;

    import_verify(k->j, k->from, k->to);
}

static void
on_chunk_done(uv_work_t *w, int status)
{
    struct ichunk *k = w->data;
    struct job *j = k->j;
    struct daemon *d = j->d;
    int rc;

    (void)status;
    free(k);
    d->n_jobs--;
    if (--j->chunks_left > 0)
        return;
    /* Every chunk verified: store them all in one transaction. */
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

/* Queues the verification chunks of an IMPORT; the store job follows the last. */
static int
import_start(struct job *j)
{
    struct daemon *d = j->d;
    size_t n = j->msg->n_items, from;

    if (import_prepare(j) != 0)
        return UV_ENOMEM;
    j->chunks_left = (n + IMPORT_CHUNK - 1) / IMPORT_CHUNK;
    for (from = 0; from < n; from += IMPORT_CHUNK) {
        struct ichunk *k = calloc(1, sizeof *k);
        int rc;
        if (k == NULL) {
            /* Verify the rest in this thread's store job instead. */
            import_verify(j, from, n);
            j->chunks_left -= (n - from + IMPORT_CHUNK - 1) / IMPORT_CHUNK;
            break;
        }
        k->work.data = k;
        k->j = j;
        k->from = from;
        k->to = from + IMPORT_CHUNK < n ? from + IMPORT_CHUNK : n;
        rc = uv_queue_work(d->loop, &k->work, on_chunk_work, on_chunk_done);
        if (rc != 0) {
            free(k);
            import_verify(j, from, n);
            j->chunks_left -= (n - from + IMPORT_CHUNK - 1) / IMPORT_CHUNK;
            break;
        }
        d->n_jobs++;
    }
    return 0;
}

/* ---- requests ---- */

static void
dispatch(struct ctlconn *c, uint8_t *frame, size_t frame_len)
{
    struct daemon *d = c->d;
    struct sz_ctl_msg *msg = NULL;
    struct job *j;
    int rc;

    rc = sz_ctl_decode(frame + SZ_CTL_FRAME_HEADER_LEN, frame_len - SZ_CTL_FRAME_HEADER_LEN, &msg);
    if (rc != 0) {
        free(frame);
        if (log_allow(&c->noisy, 10, (int64_t)uv_now(d->loop)))
            log_msg(LOG_WARN, "control: bad request (%s); closing that connection",
                    sz_strerror(rc));
        reply_error_close(c, rc, "bad request: %s (is samizdat the same version as samizdatd?)",
                          sz_strerror(rc));
        return;
    }
    j = calloc(1, sizeof *j);
    if (j == NULL) {
        sz_ctl_msg_free(msg);
        free(frame);
        ctlsrv_reply_error(c, SZ_ENOMEM, "the daemon is out of memory");
        return;
    }
    j->work.data = j;
    j->c = c;
    j->d = d;
    j->frame = frame;
    j->msg = msg;
    switch (msg->type) {
    case SZ_CTL_STATUS:
        j->run = run_status;
        sz_wr_init(&j->peers_text, SZ_CTL_MAX_TEXT_LEN / 2);
        sz_wr_init(&j->peers_json, SZ_CTL_MAX_TEXT_LEN / 2);
        peer_status(d, &j->peers_text, &j->peers_json);
        break;
    case SZ_CTL_IMPORT:
        j->run = run_import;
        break;
    case SZ_CTL_LIST:
        j->run = run_list;
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
        rc = import_start(j);
        if (rc == 0 && j->chunks_left == 0)
            rc = uv_queue_work(d->loop, &j->work, run_and_encode, on_job_done);
        else if (rc == 0)
            d->n_jobs--; /* The store job is counted when the last chunk queues it. */
    } else {
        rc = uv_queue_work(d->loop, &j->work, run_and_encode, on_job_done);
    }
    if (rc != 0) {
        job_free(j);
        ctlsrv_reply_error(c, SZ_ENOMEM, "the daemon cannot queue work: %s", uv_strerror(rc));
        return;
    }
    d->n_jobs++;
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
                    if (log_allow(&c->noisy, 10, (int64_t)uv_now(c->d->loop)))
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
            g = realloc(c->frame, cap);
            if (g == NULL) {
                conn_close(c);
                return;
            }
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
            c->frame = NULL;
            c->frame_len = c->frame_cap = c->frame_alloc = 0;
            c->busy = true;
            uv_read_stop((uv_stream_t *)&c->pipe);
            if (n > 0) {
                /* Pipelined bytes wait for the reply: a client sends one request at a time. */
                reply_error_close(c, SZ_EINVAL, "send one request at a time");
                free(frame);
                return;
            }
            dispatch(c, frame, len);
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
        reply_error_close(c, SZ_EINVAL,
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
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return false;
    live = connect(s, (struct sockaddr *)&sa, sizeof sa) == 0;
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
