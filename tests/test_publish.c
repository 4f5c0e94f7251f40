/*
 * Unit tests of the publishing batcher (daemon/publish.c) in-process: a hand-built
 * struct daemon in a temporary data folder, its control socket served on this
 * thread's loop, and client threads that publish through the socket exactly as
 * `samizdat publish` does (client/ctlclient.c). Each case asserts what the
 * clients saw, what the store holds, and how often the daemon's callbacks ran;
 * every run ends with uv_loop_close() == 0.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <uv.h>

#include "config.h"
#include "ctlclient.h"
#include "ctlsrv.h"
#include "daemon.h"
#include "log.h"
#include "publish.h"
#include "samizdat/article.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/ctl.h"
#include "samizdat/keys.h"
#include "store.h"

#define MAX_CLIENTS 4
#define MAX_REQS 3
#define TICK_MS 5
/* A run that has not ended by then is shut down and fails its case. */
#define WATCHDOG_MS 15000
/* A request whose container is not a container. */
#define GARBAGE "<garbage>"

/* What a client saw for one request. */
struct reply {
    bool sent;
    int rc; /* ctlclient_call() */
    uint8_t type;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint64_t sequence;
    uint32_t code;
    char text[512];
};

struct run;

/* One client thread: its requests go out one after the other, each on its own connection. */
struct client {
    pthread_t thread;
    struct run *run;
    size_t index;
    const char *const *reqs; /* article ids (or GARBAGE), NULL-terminated */
    struct reply replies[MAX_REQS];
};

/* One start of the daemon: its clients and what is expected once it stopped. */
struct phase {
    const char *clients[MAX_CLIENTS][MAX_REQS + 1];
    size_t want_job_done;          /* daemon_job_done() calls: one per request, one per seal */
    uint64_t want_published;       /* d->n_published */
    uint64_t want_bundles;         /* bundles held once the phase ended */
    void (*before)(struct run *r); /* runs on the store before the daemon starts; or NULL */
};

struct pub_case {
    const char *name;
    uint64_t window_ms;
    size_t max_articles;
    bool not_publisher;         /* no key: d->sk and d->pub are NULL */
    bool shutdown_when_pending; /* shut down as soon as a batch waits */
    uint64_t max_elapsed_ms;    /* 0: no bound beyond the watchdog */
    struct phase phases[2];
    size_t n_phases;
    /* User-visible checks of one phase, with the store still open. */
    void (*check)(struct run *r, size_t phase);
};

struct run {
    struct daemon d; /* first: daemon_job_done() finds the run from it */
    struct config cfg;
    uv_loop_t loop;
    uv_timer_t ticker;
    const struct pub_case *tc;
    const struct phase *ph;
    char dir[256];
    uint8_t *sk; /* the case's publisher key, kept across phases */
    uint8_t pk[SZ_PUBLIC_KEY_LEN];
    struct client clients[MAX_CLIENTS];
    size_t n_clients;
    atomic_size_t n_clients_done;
    pthread_barrier_t barrier;
    /* Callback counts. */
    size_t n_job_done;
    size_t n_shutdowns;
    size_t n_finished;
    size_t n_ticker_closed;
    bool timed_out;
    size_t max_rx_pending; /* the most d.ctl_rx_bytes seen while a batch waited */
    uint64_t started_ms;
    uint64_t elapsed_ms;
};

/* ---- the daemon's hooks (main.c's part) ---- */

/* Closes what is left once no job is in flight and no batch waits (main.c's finish_shutdown). */
static void
maybe_finish(struct run *r)
{
    struct daemon *d = &r->d;

    if (!d->stopping || r->n_finished > 0 || d->n_jobs > 0 || d->ctl_writes > 0 ||
        (d->pub != NULL && publish_busy(d->pub)))
        return;
    r->n_finished++;
    ctlsrv_close_all(d);
    if (d->pub != NULL)
        publish_close(d->pub);
    uv_close((uv_handle_t *)&r->ticker, NULL);
}

/* main.c's begin_shutdown: in-flight work and the waiting batch are finished first. */
static void
begin_shutdown(struct run *r)
{
    struct daemon *d = &r->d;

    if (d->stopping)
        return;
    d->stopping = true;
    r->n_shutdowns++;
    ctlsrv_quiesce(d);
    if (d->pub != NULL)
        publish_flush(d->pub);
    maybe_finish(r);
}

void
daemon_job_done(struct daemon *d)
{
    struct run *r = (struct run *)(void *)((char *)d - offsetof(struct run, d));

    r->n_job_done++;
    if (r->tc->shutdown_when_pending && d->pub != NULL && publish_busy(d->pub))
        begin_shutdown(r);
    maybe_finish(r);
}

/* Shuts down once every client has its replies (or the watchdog fires). */
static void
on_tick(uv_timer_t *t)
{
    struct run *r = t->data;

    if (r->d.pub != NULL && publish_busy(r->d.pub) && r->d.ctl_rx_bytes > r->max_rx_pending)
        r->max_rx_pending = r->d.ctl_rx_bytes;
    if (uv_now(&r->loop) - r->started_ms > WATCHDOG_MS) {
        r->timed_out = true;
        begin_shutdown(r);
        return;
    }
    if (atomic_load(&r->n_clients_done) == r->n_clients)
        begin_shutdown(r);
}

/* ---- clients ---- */

/* Publishes one article (or garbage) and records the reply. */
static void
client_publish(struct client *c, size_t k, const char *article_id)
{
    struct reply *out = &c->replies[k];
    struct sz_ctl_msg req = {.type = SZ_CTL_PUBLISH};
    struct sz_ctl_msg *reply = NULL;
    struct sz_article a;
    uint8_t *container = NULL, *frame = NULL;
    size_t container_len = 0;
    char title[128], body[128], err[512];
    static const uint8_t garbage[] = "\xff\x00 this is not an article container \x01\x02";

    out->sent = true;
    if (strcmp(article_id, GARBAGE) == 0) {
        req.container = garbage;
        req.container_len = sizeof garbage - 1;
    } else {
        memset(&a, 0, sizeof a);
        snprintf(title, sizeof title, "Article %s", article_id);
        /* Bodies differ per client: two clients may publish one id with different text. */
        snprintf(body, sizeof body, "Body of %s from client %zu, request %zu.\n", article_id,
                 c->index, k);
        a.id.p = article_id;
        a.id.len = strlen(article_id);
        a.title.p = title;
        a.title.len = strlen(title);
        a.published = 1700000000;
        a.ctype = SZ_CTYPE_PLAIN;
        a.body = (const uint8_t *)body;
        a.body_len = strlen(body);
        out->rc = sz_container_encode(&a, 1, &container, &container_len);
        if (out->rc != 0) {
            snprintf(out->text, sizeof out->text, "encode: %s", sz_strerror(out->rc));
            return;
        }
        req.container = container;
        req.container_len = container_len;
    }
    out->rc = ctlclient_call(c->run->cfg.socket_path, &req, &frame, &reply, err, sizeof err);
    if (out->rc != 0) {
        snprintf(out->text, sizeof out->text, "%s", err);
    } else {
        out->type = reply->type;
        memcpy(out->id, reply->id, SZ_BUNDLE_ID_LEN);
        out->sequence = reply->sequence;
        out->code = reply->code;
        if (reply->type == SZ_CTL_R_ERROR)
            snprintf(out->text, sizeof out->text, "%.*s", (int)reply->text_len, reply->text);
    }
    sz_ctl_msg_free(reply);
    free(frame);
    free(container);
}

/* Assertions stay on the main thread: a client thread only records. */
static void *
client_main(void *arg)
{
    struct client *c = arg;
    size_t k;

    /* All clients send at once, well within any batch window. */
    pthread_barrier_wait(&c->run->barrier);
    for (k = 0; k < MAX_REQS && c->reqs[k] != NULL; k++)
        client_publish(c, k, c->reqs[k]);
    atomic_fetch_add(&c->run->n_clients_done, 1);
    return NULL;
}

/* ---- one start of the daemon ---- */

static void
remove_dir(const char *dir)
{
    char path[512];
    struct dirent *e;
    DIR *dh = opendir(dir);

    if (dh != NULL) {
        while ((e = readdir(dh)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(dh);
    }
    rmdir(dir);
}

/* Builds the daemon as main() does, with the phase's batcher settings. */
static void
daemon_start(struct run *r)
{
    struct daemon *d = &r->d;
    struct store_limits lim;
    char err[1024];

    memset(d, 0, sizeof *d);
    config_init_defaults(&r->cfg);
    assert_int_equal(config_set(&r->cfg, "data-dir", r->dir, err, sizeof err), 0);
    assert_int_equal(config_finish(&r->cfg, err, sizeof err), 0);
    d->cfg = &r->cfg;
    d->content_cap = r->cfg.max_bundle_bytes;
    memset(&lim, 0, sizeof lim);
    lim.max_total_bytes = r->cfg.max_bytes;
    lim.max_publisher_bytes = r->cfg.publisher_max_bytes;
    lim.max_age_s = (int64_t)r->cfg.expiry_days * 86400;
    lim.remember_s = (int64_t)r->cfg.remember_days * 86400;
    if (store_open(r->dir, &lim, &d->store, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    assert_int_equal(uv_mutex_init(&d->store_lock), 0);
    assert_int_equal(uv_mutex_init(&d->inflater_lock), 0);
    if (r->ph->before != NULL)
        r->ph->before(r);
    assert_int_equal(uv_loop_init(&r->loop), 0);
    d->loop = &r->loop;
    d->started_ms = (int64_t)uv_now(&r->loop);
    d->started_wall = daemon_now();
    if (!r->tc->not_publisher) {
        d->sk = r->sk;
        memcpy(d->pk, r->pk, SZ_PUBLIC_KEY_LEN);
        assert_int_equal(
            publish_init(d, r->tc->window_ms, r->tc->max_articles, r->cfg.level, &d->pub), 0);
    }
    assert_int_equal(ctlsrv_start(d, r->cfg.socket_path), 0);
    assert_int_equal(uv_timer_init(&r->loop, &r->ticker), 0);
    r->ticker.data = r;
    r->started_ms = uv_now(&r->loop);
    assert_int_equal(uv_timer_start(&r->ticker, on_tick, TICK_MS, TICK_MS), 0);
}

/* Runs the loop while the clients publish, until the daemon has shut down. */
static void
daemon_run(struct run *r)
{
    size_t i;

    r->n_clients = 0;
    atomic_store(&r->n_clients_done, 0);
    r->n_job_done = r->n_shutdowns = r->n_finished = 0;
    r->timed_out = false;
    r->max_rx_pending = 0;
    memset(r->clients, 0, sizeof r->clients);
    for (i = 0; i < MAX_CLIENTS && r->ph->clients[i][0] != NULL; i++)
        r->n_clients++;
    assert_int_equal(pthread_barrier_init(&r->barrier, NULL, (unsigned)r->n_clients), 0);
    for (i = 0; i < r->n_clients; i++) {
        r->clients[i].run = r;
        r->clients[i].index = i;
        r->clients[i].reqs = r->ph->clients[i];
        assert_int_equal(pthread_create(&r->clients[i].thread, NULL, client_main, &r->clients[i]),
                         0);
    }
    assert_int_equal(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
    r->elapsed_ms = uv_now(&r->loop) - r->started_ms;
    /* Every handle was closed by the shutdown: nothing is left to walk. */
    assert_int_equal(uv_loop_close(&r->loop), 0);
    r->d.pub = NULL; /* freed by its timer's close callback */
    for (i = 0; i < r->n_clients; i++)
        assert_int_equal(pthread_join(r->clients[i].thread, NULL), 0);
    pthread_barrier_destroy(&r->barrier);
    assert_false(r->timed_out);
    assert_int_equal(r->n_shutdowns, 1);
    assert_int_equal(r->n_finished, 1);
    assert_int_equal(r->d.n_jobs, 0);
    /* Every request's bytes left the control receive budget with its reply. */
    assert_int_equal(r->d.ctl_rx_bytes, 0);
    assert_null(r->d.conns);
    assert_int_equal(r->d.n_conns, 0);
}

/* Frees what main() frees after its loop; the data folder stays. */
static void
daemon_stop(struct run *r)
{
    struct daemon *d = &r->d;

    while (d->n_inflaters > 0)
        sz_inflater_free(d->inflaters[--d->n_inflaters]);
    uv_mutex_destroy(&d->inflater_lock);
    uv_mutex_destroy(&d->store_lock);
    store_close(d->store);
    d->store = NULL;
    unlink(r->cfg.socket_path);
    config_free(&r->cfg);
}

/* ---- helpers for the checks (main thread, loop stopped, store open) ---- */

static uint64_t
stored_bundles(struct run *r)
{
    uint64_t n = 0, bytes = 0;
    char err[256];

    assert_int_equal(store_totals(r->d.store, &n, &bytes, err, sizeof err), 0);
    return n;
}

/* Opens the stored bundle `id` and checks its publisher, sequence and article count. */
static struct sz_bundle *
open_stored(struct run *r, const uint8_t id[SZ_BUNDLE_ID_LEN], uint64_t sequence, size_t n_articles)
{
    struct sz_bundle *b = NULL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    char err[256];

    assert_int_equal(store_get(r->d.store, id, &bytes, &len, err, sizeof err), 0);
    assert_int_equal(sz_bundle_open(bytes, len, r->d.content_cap, &b), 0);
    free(bytes);
    assert_memory_equal(b->id, id, SZ_BUNDLE_ID_LEN);
    assert_memory_equal(b->hdr.publisher, r->pk, SZ_PUBLIC_KEY_LEN);
    assert_int_equal(b->hdr.sequence, sequence);
    assert_int_equal(b->c->n_articles, n_articles);
    return b;
}

/* True when the bundle holds an article with this id. */
static bool
bundle_has(const struct sz_bundle *b, const char *article_id)
{
    size_t i;

    for (i = 0; i < b->c->n_articles; i++)
        if (b->c->articles[i].id.len == strlen(article_id) &&
            memcmp(b->c->articles[i].id.p, article_id, b->c->articles[i].id.len) == 0)
            return true;
    return false;
}

static const struct reply *
reply_of(struct run *r, size_t client, size_t k)
{
    const struct reply *p = &r->clients[client].replies[k];

    assert_true(p->sent);
    if (p->rc != 0)
        fail_msg("client %zu request %zu: %s", client, k, p->text);
    return p;
}

static const struct reply *
published(struct run *r, size_t client, size_t k)
{
    const struct reply *p = reply_of(r, client, k);

    if (p->type != SZ_CTL_R_PUBLISHED)
        fail_msg("client %zu request %zu: reply 0x%02x (%s), not R_PUBLISHED", client, k, p->type,
                 p->text);
    return p;
}

/* ---- the cases ---- */

/* 1. Three clients within one window share one bundle with sequence 1. */
static void
check_one_batch(struct run *r, size_t phase)
{
    static const char *const ids[] = {"alpha", "bravo", "charlie"};
    const struct reply *p0 = published(r, 0, 0);
    struct sz_bundle *b;
    size_t i;

    (void)phase;
    for (i = 0; i < 3; i++) {
        const struct reply *p = published(r, i, 0);
        assert_memory_equal(p->id, p0->id, SZ_BUNDLE_ID_LEN);
        assert_int_equal(p->sequence, 1);
    }
    b = open_stored(r, p0->id, 1, 3);
    for (i = 0; i < 3; i++)
        assert_true(bundle_has(b, ids[i]));
    sz_bundle_free(b);
    /* While they waited in the batch, their bytes stayed counted in the control
     * receive budget (CONTROL.md 7.1): a backlog of publishes is bounded by it. */
    assert_true(r->max_rx_pending > 0);
}

/* 2. Without a window every publish is its own bundle, sequences 1, 2, 3 in order. */
static void
check_own_bundles(struct run *r, size_t phase)
{
    static const char *const ids[] = {"one", "two", "three"};
    struct sz_bundle *b;
    size_t k;

    (void)phase;
    for (k = 0; k < 3; k++) {
        const struct reply *p = published(r, 0, k);
        assert_int_equal(p->sequence, k + 1);
        if (k > 0)
            assert_memory_not_equal(p->id, published(r, 0, k - 1)->id, SZ_BUNDLE_ID_LEN);
        b = open_stored(r, p->id, k + 1, 1);
        assert_true(bundle_has(b, ids[k]));
        sz_bundle_free(b);
    }
}

/* 3. max 2: the first two arrivals fill a bundle at once, the third waits for the window. */
static void
check_split_by_max(struct run *r, size_t phase)
{
    static const char *const ids[] = {"north", "south", "east"};
    const struct reply *p[3];
    struct sz_bundle *b;
    size_t i, single = 3, n_single = 0;

    (void)phase;
    for (i = 0; i < 3; i++)
        p[i] = published(r, i, 0);
    for (i = 0; i < 3; i++) {
        size_t same = 0, k;
        for (k = 0; k < 3; k++)
            same += memcmp(p[i]->id, p[k]->id, SZ_BUNDLE_ID_LEN) == 0;
        if (same == 1) {
            single = i;
            n_single++;
        } else {
            assert_int_equal(same, 2);
        }
    }
    assert_int_equal(n_single, 1);
    for (i = 0; i < 3; i++) {
        if (i == single)
            continue;
        /* The full batch is sealed first. */
        assert_int_equal(p[i]->sequence, 1);
        b = open_stored(r, p[i]->id, 1, 2);
        assert_true(bundle_has(b, ids[i]));
        assert_false(bundle_has(b, ids[single]));
        sz_bundle_free(b);
    }
    assert_int_equal(p[single]->sequence, 2);
    b = open_stored(r, p[single]->id, 2, 1);
    assert_true(bundle_has(b, ids[single]));
    sz_bundle_free(b);
}

/* 4. One article id twice in a window: the second request starts the next bundle. */
static void
check_dup_id_split(struct run *r, size_t phase)
{
    const struct reply *a = published(r, 0, 0), *b = published(r, 1, 0);
    struct sz_bundle *ba, *bb;

    (void)phase;
    assert_memory_not_equal(a->id, b->id, SZ_BUNDLE_ID_LEN);
    assert_true((a->sequence == 1 && b->sequence == 2) || (a->sequence == 2 && b->sequence == 1));
    ba = open_stored(r, a->id, a->sequence, 1);
    bb = open_stored(r, b->id, b->sequence, 1);
    assert_true(bundle_has(ba, "same-id"));
    assert_true(bundle_has(bb, "same-id"));
    /* Each bundle holds that client's own text. */
    assert_non_null(strstr((const char *)ba->c->articles[0].body, "client 0"));
    assert_non_null(strstr((const char *)bb->c->articles[0].body, "client 1"));
    sz_bundle_free(ba);
    sz_bundle_free(bb);
}

/* 5. An invalid container is refused with a reason; nothing is sealed. */
static void
check_invalid(struct run *r, size_t phase)
{
    const struct reply *p = reply_of(r, 0, 0);

    (void)phase;
    assert_int_equal(p->type, SZ_CTL_R_ERROR);
    assert_int_not_equal(p->code, 0);
    if (strstr(p->text, "the articles are invalid") == NULL)
        fail_msg("unexpected reason: %s", p->text);
}

/* 6. Deletes the newest bundle before the restart: its sequence must still not come back. */
static void
delete_newest(struct run *r)
{
    struct store_usage u;
    char err[256];

    assert_int_equal(store_usage(r->d.store, r->pk, &u, err, sizeof err), 0);
    assert_int_equal(u.n_bundles, 2);
    assert_int_equal(u.max_sequence, 2);
    assert_int_equal(
        store_delete(r->d.store, r->clients[0].replies[1].id, false, daemon_now(), err, sizeof err),
        0);
    assert_int_equal(store_usage(r->d.store, r->pk, &u, err, sizeof err), 0);
    assert_int_equal(u.max_sequence, 1);
}

static void
check_persisted(struct run *r, size_t phase)
{
    struct store_usage u;
    struct sz_bundle *b;
    char err[256];

    if (phase == 0) {
        assert_int_equal(published(r, 0, 0)->sequence, 1);
        assert_int_equal(published(r, 0, 1)->sequence, 2);
        return;
    }
    /* Sequence 2 was reserved (and deleted) before the restart: 3, never 2 again. */
    assert_int_equal(published(r, 0, 0)->sequence, 3);
    b = open_stored(r, published(r, 0, 0)->id, 3, 1);
    assert_true(bundle_has(b, "after-restart"));
    sz_bundle_free(b);
    assert_int_equal(store_usage(r->d.store, r->pk, &u, err, sizeof err), 0);
    assert_int_equal(u.max_sequence, 3);
}

/* 7. A shutdown seals the waiting batch at once and the client gets its reply. */
static void
check_shutdown_flush(struct run *r, size_t phase)
{
    const struct reply *p = published(r, 0, 0);
    struct sz_bundle *b;

    (void)phase;
    assert_int_equal(p->sequence, 1);
    b = open_stored(r, p->id, 1, 1);
    assert_true(bundle_has(b, "last-words"));
    sz_bundle_free(b);
}

/* 8. A daemon without a publisher key refuses PUBLISH. */
static void
check_not_publisher(struct run *r, size_t phase)
{
    const struct reply *p = reply_of(r, 0, 0);

    (void)phase;
    assert_int_equal(p->type, SZ_CTL_R_ERROR);
    assert_int_equal(p->code, SZ_EINVAL);
    if (strstr(p->text, "not a publisher") == NULL)
        fail_msg("unexpected reason: %s", p->text);
}

static const struct pub_case cases[] = {
    {
        .name = "three clients in one 300 ms window share one bundle",
        .window_ms = 300,
        .max_articles = 100,
        .phases = {{.clients = {{"alpha", NULL}, {"bravo", NULL}, {"charlie", NULL}},
                    .want_job_done = 3 + 1,
                    .want_published = 1,
                    .want_bundles = 1}},
        .n_phases = 1,
        .check = check_one_batch,
    },
    {
        .name = "window 0: one bundle per publish, sequences 1, 2, 3",
        .window_ms = 0,
        .max_articles = 100,
        .phases = {{.clients = {{"one", "two", "three", NULL}},
                    .want_job_done = 3 + 3,
                    .want_published = 3,
                    .want_bundles = 3}},
        .n_phases = 1,
        .check = check_own_bundles,
    },
    {
        .name = "batch_max_articles 2: three articles make bundles of 2 and 1",
        .window_ms = 300,
        .max_articles = 2,
        .phases = {{.clients = {{"north", NULL}, {"south", NULL}, {"east", NULL}},
                    .want_job_done = 3 + 2,
                    .want_published = 2,
                    .want_bundles = 2}},
        .n_phases = 1,
        .check = check_split_by_max,
    },
    {
        .name = "one article id twice in a window: two bundles",
        .window_ms = 300,
        .max_articles = 100,
        .phases = {{.clients = {{"same-id", NULL}, {"same-id", NULL}},
                    .want_job_done = 2 + 2,
                    .want_published = 2,
                    .want_bundles = 2}},
        .n_phases = 1,
        .check = check_dup_id_split,
    },
    {
        .name = "an invalid container is refused and nothing is stored",
        .window_ms = 300,
        .max_articles = 100,
        .phases = {{.clients = {{GARBAGE, NULL}},
                    .want_job_done = 1,
                    .want_published = 0,
                    .want_bundles = 0}},
        .n_phases = 1,
        .check = check_invalid,
    },
    {
        .name = "the sequence survives a restart and is never reused",
        .window_ms = 0,
        .max_articles = 100,
        .phases = {{.clients = {{"before-1", "before-2", NULL}},
                    .want_job_done = 2 + 2,
                    .want_published = 2,
                    .want_bundles = 2},
                   {.clients = {{"after-restart", NULL}},
                    .want_job_done = 1 + 1,
                    .want_published = 1,
                    .want_bundles = 2,
                    .before = delete_newest}},
        .n_phases = 2,
        .check = check_persisted,
    },
    {
        .name = "a shutdown seals the waiting batch before the loop ends",
        .window_ms = 10000,
        .max_articles = 100,
        .shutdown_when_pending = true,
        .max_elapsed_ms = 5000,
        /* The request, the sealed bundle, and the reply written during the shutdown. */
        .phases = {{.clients = {{"last-words", NULL}},
                    .want_job_done = 1 + 1 + 1,
                    .want_published = 1,
                    .want_bundles = 1}},
        .n_phases = 1,
        .check = check_shutdown_flush,
    },
    {
        .name = "a daemon without a publisher key refuses to publish",
        .window_ms = 300,
        .max_articles = 100,
        .not_publisher = true,
        .phases = {{.clients = {{"nobody", NULL}},
                    .want_job_done = 1,
                    .want_published = 0,
                    .want_bundles = 0}},
        .n_phases = 1,
        .check = check_not_publisher,
    },
};

static void
run_case(const struct pub_case *tc)
{
    struct run *r = calloc(1, sizeof *r);
    const char *tmp = getenv("TMPDIR");
    size_t phase;

    assert_non_null(r);
    r->tc = tc;
    snprintf(r->dir, sizeof r->dir, "%s/sz-publish-XXXXXX",
             tmp != NULL && tmp[0] == '/' && strlen(tmp) < 100 ? tmp : "/tmp");
    assert_non_null(mkdtemp(r->dir));
    r->sk = sodium_malloc(SZ_SECRET_KEY_LEN);
    assert_non_null(r->sk);
    assert_int_equal(sz_keypair(r->pk, r->sk), 0);
    for (phase = 0; phase < tc->n_phases; phase++) {
        r->ph = &tc->phases[phase];
        daemon_start(r);
        daemon_run(r);
        assert_int_equal(r->n_job_done, r->ph->want_job_done);
        assert_int_equal(r->d.n_published, r->ph->want_published);
        assert_int_equal(stored_bundles(r), r->ph->want_bundles);
        if (tc->max_elapsed_ms > 0 && r->elapsed_ms > tc->max_elapsed_ms)
            fail_msg("the run took %llu ms", (unsigned long long)r->elapsed_ms);
        tc->check(r, phase);
        daemon_stop(r);
    }
    sodium_free(r->sk);
    remove_dir(r->dir);
    free(r);
}

static void
test_case(void **state)
{
    run_case(*state);
}

int
main(void)
{
    struct CMUnitTest tests[sizeof cases / sizeof cases[0]];
    size_t i;

    if (sz_init() != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARN);
    memset(tests, 0, sizeof tests);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = test_case;
        tests[i].initial_state = (void *)&cases[i];
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
