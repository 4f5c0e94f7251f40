/*
 * samizdatd's config file parser: config_parse_string() on arbitrary bytes
 * (through inih and our line reader), then config_finish(). A config file is
 * written by an operator, not a peer, but a parser that crashes or leaks on a
 * typo is still a bug, and the invariants below pin down its contract:
 *   - it returns 0 or -1; on -1 the config is untouched and the message is one
 *     printable line starting with the file name;
 *   - on 0 every field is within its documented range, and parsing the same
 *     text again on top of the result changes nothing (lists do not grow);
 *   - config_finish() then returns 0 or -1, and on 0 the derived fields are set
 *     and the quotas are consistent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "samizdat/article.h"
#include "samizdat/common.h"

#include "fuzz.h"

#define NAME "fuzz.conf"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    /* config_finish() reads these: fix them so that every run is the same. */
    if (setenv("HOME", "/home/fuzz", 1) != 0 || unsetenv("XDG_DATA_HOME") != 0)
        abort();
    return 0;
}

static void
check_message(const char *err, size_t cap)
{
    size_t i, len = strnlen(err, cap);

    if (len == cap || strncmp(err, NAME ":", sizeof NAME) != 0)
        abort();
    for (i = 0; i < len; i++)
        if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
            abort();
}

static void
check_path(const char *s)
{
    if (s == NULL)
        return;
    if (s[0] == '\0')
        abort(); /* an empty value is stored as NULL */
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            abort();
}

static void
check_addr(const struct config_addr *a, bool is_listen)
{
    if (strnlen(a->host, CONFIG_HOST_CAP) == CONFIG_HOST_CAP || a->host[0] == '\0')
        abort();
    if (is_listen ? a->kind == CONFIG_ADDR_NAME : a->port == 0)
        abort();
    if (a->kind != CONFIG_ADDR_NAME && a->kind != CONFIG_ADDR_IPV4 && a->kind != CONFIG_ADDR_IPV6)
        abort();
}

static void
check_ranges(const struct config *c)
{
    size_t i, j;

    check_path(c->data_dir);
    check_path(c->socket_path);
    check_path(c->publisher_key);
    check_path(c->passphrase_file);
    check_path(c->network_key);
    check_addr(&c->listen, true);
    if ((int)c->log_level < LOG_ERROR || c->log_level > LOG_DEBUG)
        abort();
    if (c->batch_window_ms > 600000 || c->batch_max_articles < 1 ||
        c->batch_max_articles > SZ_MAX_ARTICLES || c->level < 1 || c->level > 19)
        abort();
    if ((c->max_bytes != 0 && c->max_bytes < (1u << 20)) || c->max_bytes > INT64_MAX ||
        (c->publisher_max_bytes != 0 && c->publisher_max_bytes < (1u << 20)) ||
        c->publisher_max_bytes > INT64_MAX)
        abort();
    if (c->max_bundle_bytes < 4096 || c->max_bundle_bytes > SZ_BUNDLE_MAX_CONTENT_LEN ||
        c->expiry_days > 36500 || c->remember_days < 1 || c->remember_days > 3650)
        abort();
    if (c->carry != CONFIG_CARRY_ANY && c->carry != CONFIG_CARRY_LIST)
        abort();
    if (c->max_inbound > 10000 || c->max_handshakes_per_address > 10000 ||
        c->outbound_target > 1000 || c->ban_seconds > 31536000)
        abort();
    if (c->n_peers > CONFIG_MAX_PEERS || (c->n_peers == 0) != (c->peers == NULL))
        abort();
    if (c->n_publishers > CONFIG_MAX_PUBLISHERS ||
        (c->n_publishers == 0) != (c->publishers == NULL))
        abort();
    for (i = 0; i < c->n_peers; i++) {
        check_addr(&c->peers[i], false);
        for (j = 0; j < i; j++)
            if (c->peers[j].port == c->peers[i].port &&
                strcmp(c->peers[j].host, c->peers[i].host) == 0)
                abort(); /* duplicates are dropped */
    }
    for (i = 0; i < c->n_publishers; i++)
        for (j = 0; j < i; j++)
            if (memcmp(c->publishers[i], c->publishers[j], SZ_PUBLIC_KEY_LEN) == 0)
                abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg, before, again;
    char err[256];
    int rc;

    config_init_defaults(&cfg);
    config_init_defaults(&before);
    rc = config_parse_string(&cfg, NAME, (const char *)data, size, err, sizeof err);
    if (rc != 0 && rc != -1)
        abort();
    if (rc != 0) {
        check_message(err, sizeof err);
        if (!config_equal(&cfg, &before))
            abort();
        goto out;
    }
    check_ranges(&cfg);

    /* Applying the same file twice gives the same config. */
    config_init_defaults(&again);
    if (config_parse_string(&again, NAME, (const char *)data, size, err, sizeof err) != 0 ||
        config_parse_string(&again, NAME, (const char *)data, size, err, sizeof err) != 0 ||
        !config_equal(&again, &cfg))
        abort();
    config_free(&again);

    /* Derived values and cross-checks: untouched on failure, consistent on success. */
    config_free(&before);
    config_init_defaults(&before);
    if (config_parse_string(&before, NAME, (const char *)data, size, err, sizeof err) != 0)
        abort();
    rc = config_finish(&cfg, err, sizeof err);
    if (rc != 0 && rc != -1)
        abort();
    if (rc != 0) {
        if (!config_equal(&cfg, &before) || strnlen(err, sizeof err) == sizeof err)
            abort();
        goto out;
    }
    check_ranges(&cfg);
    if (cfg.data_dir == NULL || cfg.socket_path == NULL)
        abort();
    if (cfg.max_bytes != 0 &&
        (cfg.publisher_max_bytes == 0 || cfg.publisher_max_bytes > cfg.max_bytes))
        abort();
    if (cfg.publisher_max_bytes != 0 && cfg.max_bundle_bytes > cfg.publisher_max_bytes)
        abort();
    if (cfg.carry == CONFIG_CARRY_ANY && cfg.n_publishers > 0)
        abort();
    if (cfg.carry == CONFIG_CARRY_LIST && cfg.n_publishers == 0 && cfg.publisher_key == NULL)
        abort();
    if (cfg.passphrase_file != NULL && cfg.publisher_key == NULL)
        abort();
out:
    config_free(&cfg);
    config_free(&before);
    return 0;
}
