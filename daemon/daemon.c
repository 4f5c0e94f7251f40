/* The daemon's shared helpers: carry policy, time, bundle opening with pooled contexts. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "config.h"
#include "log.h"
#include "samizdat/article.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"

bool
daemon_carries(const struct daemon *d, const uint8_t publisher[SZ_PUBLIC_KEY_LEN])
{
    uv_rwlock_t *lock = (uv_rwlock_t *)&d->cfg_lock;
    bool yes;
    size_t i;

    if (d->sk != NULL && sodium_memcmp(d->pk, publisher, SZ_PUBLIC_KEY_LEN) == 0)
        return true;
    uv_rwlock_rdlock(lock);
    yes = d->cfg->carry == CONFIG_CARRY_ANY;
    for (i = 0; !yes && i < d->cfg->n_publishers; i++)
        yes = sodium_memcmp(d->cfg->publishers[i], publisher, SZ_PUBLIC_KEY_LEN) == 0;
    uv_rwlock_rdunlock(lock);
    return yes;
}

int
daemon_open_bundle(struct daemon *d, const uint8_t *buf, size_t len, uint64_t content_cap,
                   struct sz_bundle **out)
{
    struct sz_inflater *z = NULL;
    int rc;

    uv_mutex_lock(&d->inflater_lock);
    if (d->n_inflaters > 0)
        z = d->inflaters[--d->n_inflaters];
    uv_mutex_unlock(&d->inflater_lock);
    if (z == NULL && sz_inflater_new(&z) != 0)
        z = NULL; /* Without one, sz_bundle_open_with() makes its own. */
    rc = sz_bundle_open_with(buf, len, content_cap, z, out);
    if (z != NULL) {
        uv_mutex_lock(&d->inflater_lock);
        if (d->n_inflaters < sizeof d->inflaters / sizeof d->inflaters[0]) {
            d->inflaters[d->n_inflaters++] = z;
            z = NULL;
        }
        uv_mutex_unlock(&d->inflater_lock);
        sz_inflater_free(z);
    }
    return rc;
}

/* A bundle read back damaged: removed, not remembered, logged and counted. */
static int
damaged(struct daemon *d, const uint8_t id[SZ_BUNDLE_ID_LEN], int rc)
{
    char hex[2 * SZ_BUNDLE_ID_LEN + 1], err[512];
    int drc;

    sz_bundle_id_hex(id, hex);
    uv_mutex_lock(&d->store_lock);
    drc = store_delete(d->store, id, false, daemon_now(), err, sizeof err);
    uv_mutex_unlock(&d->store_lock);
    atomic_fetch_add(&d->n_damaged, 1);
    if (drc == 0 || drc == -ENOENT)
        log_msg(LOG_WARN,
                "store: bundle %s was damaged on disk (%s): removed, never sent; it is fetched "
                "again from a peer that holds it. Check the disk holding the data folder "
                "(dmesg, smartctl)",
                hex, sz_strerror(rc));
    else
        log_msg(LOG_WARN,
                "store: bundle %s was damaged on disk (%s), and could not be removed: %s; it is "
                "not sent. Check the disk holding the data folder (dmesg, smartctl)",
                hex, sz_strerror(rc), err);
    return -EIO;
}

int
daemon_checked_read(struct daemon *d, const uint8_t id[SZ_BUNDLE_ID_LEN], const uint8_t *buf,
                    size_t len)
{
    int rc = sz_bundle_check_stored(buf, len, id);

    return rc == 0 ? 0 : damaged(d, id, rc);
}

/* Reads len bytes of bundle id from offset, the store locked for each read. */
static int
read_exactly(struct daemon *d, const uint8_t id[SZ_BUNDLE_ID_LEN], uint64_t offset, uint8_t *buf,
             size_t len)
{
    size_t got = 0, n = 0;

    while (got < len) {
        uv_mutex_lock(&d->store_lock);
        int rc = store_read(d->store, id, offset + got, buf + got, len - got, &n, NULL, 0);
        uv_mutex_unlock(&d->store_lock);
        if (rc != 0 || n == 0)
            return -ENOENT;
        got += n;
    }
    return 0;
}

int
daemon_checked_stream(struct daemon *d, const uint8_t id[SZ_BUNDLE_ID_LEN], uint64_t size)
{
    enum { CHUNK = 256 * 1024 };
    crypto_generichash_state h;
    struct sz_bundle_header hdr;
    uint8_t bid[SZ_BUNDLE_ID_LEN], hash[32];
    uint8_t *buf = malloc(CHUNK);
    uint64_t off = SZ_BUNDLE_PREFIX_LEN;
    int rc;

    if (buf == NULL)
        return -ENOMEM;
    if (size < SZ_BUNDLE_PREFIX_LEN || read_exactly(d, id, 0, buf, SZ_BUNDLE_PREFIX_LEN) != 0) {
        free(buf);
        return -ENOENT; /* gone meanwhile (evicted): not damage */
    }
    rc = sz_bundle_verify_prefix(buf, SZ_BUNDLE_PREFIX_LEN, size, UINT64_MAX, &hdr, bid);
    if (rc == 0 && sodium_memcmp(bid, id, SZ_BUNDLE_ID_LEN) != 0)
        rc = -SZ_EHASH;
    if (rc == 0)
        crypto_generichash_init(&h, NULL, 0, sizeof hash);
    while (rc == 0 && off < size) {
        size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        if (read_exactly(d, id, off, buf, n) != 0) {
            free(buf);
            return -ENOENT;
        }
        crypto_generichash_update(&h, buf, n);
        off += n;
    }
    free(buf);
    if (rc == 0) {
        crypto_generichash_final(&h, hash, sizeof hash);
        if (sodium_memcmp(hash, hdr.payload_hash, sizeof hash) != 0)
            rc = -SZ_EHASH;
    }
    return rc == 0 ? 0 : damaged(d, id, rc);
}

int64_t
daemon_now(void)
{
    return (int64_t)time(NULL);
}

void
daemon_format_time(int64_t t, char *out, size_t out_cap)
{
    if (sz_time_format(t, out, out_cap) != 0)
        snprintf(out, out_cap, "%lld s after 1970", (long long)t);
}

bool
daemon_clock_wrong(struct daemon *d, int64_t now, int64_t slack, char *msg, size_t msg_cap)
{
    char clock[48], then[48];
    int64_t newest = 0;
    char err[256];

    daemon_format_time(now, clock, sizeof clock);
    uv_mutex_lock(&d->store_lock);
    if (store_newest_received(d->store, &newest, err, sizeof err) != 0)
        newest = 0; /* the store's own calls say what fails */
    uv_mutex_unlock(&d->store_lock);
    if (newest > now && newest - now > slack) {
        daemon_format_time(newest, then, sizeof then);
        snprintf(msg, msg_cap,
                 "this machine's clock reads %s, %lld days before a bundle was stored here "
                 "(%s): it has stepped back",
                 clock, (long long)((newest - now) / 86400), then);
        return true;
    }
    if (now < SZ_CLOCK_FLOOR) {
        daemon_format_time(SZ_CLOCK_FLOOR, then, sizeof then);
        snprintf(msg, msg_cap, "this machine's clock reads %s, before this samizdatd was made (%s)",
                 clock, then);
        return true;
    }
    return false;
}

int
daemon_open_file(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), flags;

    if (fd < 0)
        return -1;
    /* A FIFO opened so does not wait for a writer; a regular file reads as before. */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (flags = fcntl(fd, F_GETFL)) >= 0)
        (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}
