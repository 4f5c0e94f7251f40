/*
 * Unit tests of samizdatd's configuration (daemon/config.c): defaults, every
 * option with valid and invalid values, INI file errors with file and line,
 * lists, flags over the file, derived values and cross-checks, --help and the
 * example config in examples/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"

#define ERR_CAP 512

/* Valid public keys: all bytes 0x11, 0x22, 0x33 (see sz_pk_to_text()). */
#define PK1 "szpk1ceirceirceirceirceirceirceirceirceirceirceirceirceiwcgv6cy"
#define PK2 "szpk1eirceirceirceirceirceirceirceirceirceirceirceirceirbh5znme"
#define PK3 "szpk1gmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmzyszxyhq"
/* PK1 with one character changed: fails the checksum; with its padding bits set. */
#define PK1_TYPO "szpk1ceirceirceirceijceirceirceirceirceirceirceirceirceiwcgv6cy"
#define PK1_PAD "szpk1ceirceirceirceirceirceirceirceirceirceirceirceirceiwcgv6cz"

/*
 * Writes the field behind `key` as text, so that the tables below can state
 * expected values for options of every kind.
 */
static void
show(const struct config *c, const char *key, char *buf, size_t cap)
{
    size_t i, off;

    key = config_find_option(key)->key;
#define NUM(name, expr)                                                                            \
    if (strcmp(key, name) == 0) {                                                                  \
        snprintf(buf, cap, "%llu", (unsigned long long)(expr));                                    \
        return;                                                                                    \
    }
#define STR(name, expr)                                                                            \
    if (strcmp(key, name) == 0) {                                                                  \
        snprintf(buf, cap, "%s", (expr) != NULL ? (expr) : "(null)");                              \
        return;                                                                                    \
    }
    STR("data_dir", c->data_dir);
    STR("socket", c->socket_path);
    STR("publisher_key", c->publisher_key);
    STR("passphrase_file", c->passphrase_file);
    STR("network_key", c->network_key);
    STR("proxy_auth_file", c->proxy_auth_file);
    NUM("log_level", c->log_level);
    NUM("batch_window_ms", c->batch_window_ms);
    NUM("batch_max_articles", c->batch_max_articles);
    NUM("level", c->level);
    NUM("max_bytes", c->max_bytes);
    NUM("publisher_max_bytes", c->publisher_max_bytes);
    NUM("expiry_days", c->expiry_days);
    NUM("remember_days", c->remember_days);
    NUM("max_bundle_bytes", c->max_bundle_bytes);
    NUM("carry", c->carry);
    NUM("max_inbound", c->max_inbound);
    NUM("max_handshakes_per_address", c->max_handshakes_per_address);
    NUM("outbound_target", c->outbound_target);
    NUM("ban_seconds", c->ban_seconds);
    NUM("fsync", 1);
#undef NUM
#undef STR
    if (strcmp(key, "listen") == 0) {
        config_addr_format(&c->listen, buf, cap);
        return;
    }
    if (strcmp(key, "onion_listen") == 0) {
        if (c->onion_listen.host[0] == '\0')
            snprintf(buf, cap, "(none)");
        else
            config_addr_format(&c->onion_listen, buf, cap);
        return;
    }
    if (strcmp(key, "proxy") == 0) {
        if (c->proxy.port == 0)
            snprintf(buf, cap, "(none)");
        else
            config_addr_format(&c->proxy, buf, cap);
        return;
    }
    if (strcmp(key, "peers") == 0 || strcmp(key, "peer") == 0) {
        buf[0] = '\0';
        for (i = 0, off = 0; i < c->n_peers && off < cap; i++) {
            off += (size_t)snprintf(buf + off, cap - off, "%s", i > 0 ? " " : "");
            if (off < cap)
                off += (size_t)config_addr_format(&c->peers[i], buf + off, cap - off);
        }
        return;
    }
    if (strcmp(key, "publishers") == 0) {
        char text[SZ_PK_TEXT_LEN + 1];
        buf[0] = '\0';
        for (i = 0, off = 0; i < c->n_publishers && off < cap; i++) {
            sz_pk_to_text(c->publishers[i], text);
            off += (size_t)snprintf(buf + off, cap - off, "%s%s", i > 0 ? " " : "", text);
        }
        return;
    }
    fail_msg("show(): no field for key %s", key);
}

struct set_case {
    const char *key;
    const char *value;
    const char *expect; /* the field afterwards (see show()); NULL: refused */
};

static const struct set_case set_cases[] = {
    /* [daemon] */
    {"data_dir", "/srv/samizdat", "/srv/samizdat"},
    {"data_dir", "  relative/dir  ", "relative/dir"},
    {"data_dir", "", "(null)"},
    {"data-dir", "/flag/form", "/flag/form"},
    {"data_dir", "/bad\tpath", NULL},
    {"socket", "/run/samizdat.sock", "/run/samizdat.sock"},
    {"socket", "", "(null)"},
    {"listen", "0.0.0.0:7447", "0.0.0.0:7447"},
    {"listen", "127.0.0.1:1", "127.0.0.1:1"},
    {"listen", "[::]:7447", "[::]:7447"},
    {"listen", "[::1]:65535", "[::1]:65535"},
    {"listen", "[2001:db8::1]", "[2001:db8::1]:7447"},
    {"listen", "192.0.2.1", "192.0.2.1:7447"},
    {"listen", "127.0.0.1:0", "127.0.0.1:0"},
    {"listen", "localhost:7447", NULL},
    {"listen", "::1", NULL},
    {"listen", "::1:7447", NULL},
    {"listen", "[::1", NULL},
    {"listen", "[::1]7447", NULL},
    {"listen", "[nonsense]:7447", NULL},
    {"listen", "[]:7447", NULL},
    {"listen", "1.2.3.4:65536", NULL},
    {"listen", "1.2.3.4:-1", NULL},
    {"listen", "1.2.3.4:", NULL},
    {"listen", "1.2.3.4:http", NULL},
    {"listen", "1.2.3.999:7447", NULL},
    {"listen", ":7447", NULL},
    {"listen", "", NULL},
    {"log_level", "error", "0"},
    {"log_level", "warn", "1"},
    {"log_level", "info", "2"},
    {"log_level", "DEBUG", "3"},
    {"log_level", "verbose", NULL},
    {"log_level", "", NULL},
    {"publisher_key", "/etc/samizdat/publisher.key", "/etc/samizdat/publisher.key"},
    {"publisher_key", "", "(null)"},
    {"passphrase_file", "pass.txt", "pass.txt"},
    /* [publish] */
    {"batch_window_ms", "0", "0"},
    {"batch_window_ms", "2500", "2500"},
    {"batch_window_ms", "600000", "600000"},
    {"batch_window_ms", "600001", NULL},
    {"batch_window_ms", "2s", NULL},
    {"batch_window_ms", "-1", NULL},
    {"batch_window_ms", "+5", NULL},
    {"batch_window_ms", "", NULL},
    {"batch_max_articles", "1", "1"},
    {"batch_max_articles", "4096", "4096"},
    {"batch_max_articles", "0", NULL},
    {"batch_max_articles", "4097", NULL},
    {"level", "1", "1"},
    {"level", "19", "19"},
    {"level", "0", NULL},
    {"level", "20", NULL},
    {"level", "22", NULL},
    {"level", "abc", NULL},
    /* [store] */
    {"max_bytes", "0", "0"},
    {"max_bytes", "512M", "536870912"},
    {"max_bytes", "10G", "10737418240"},
    {"max_bytes", "2T", "2199023255552"},
    {"max_bytes", "1M", "1048576"},
    {"max_bytes", "1000", NULL},
    {"max_bytes", "abc", NULL},
    {"max_bytes", "1GB", NULL},
    {"max_bytes", "1.5G", NULL},
    {"max_bytes", "-1G", NULL},
    {"max_bytes", "99999999999999999999", NULL},
    {"max_bytes", "8388608T", NULL},  /* 2^63: above INT64_MAX */
    {"max_bytes", "16777216T", NULL}, /* 2^64: overflows */
    {"publisher_max_bytes", "0", "0"},
    {"publisher_max_bytes", "100M", "104857600"},
    {"publisher_max_bytes", "1K", NULL},
    {"expiry_days", "0", "0"},
    {"expiry_days", "365", "365"},
    {"expiry_days", "36500", "36500"},
    {"expiry_days", "36501", NULL},
    {"expiry_days", "1y", NULL},
    {"remember_days", "1", "1"},
    {"remember_days", "3650", "3650"},
    {"remember_days", "0", NULL},
    {"remember_days", "3651", NULL},
    {"max_bundle_bytes", "4K", "4096"},
    {"max_bundle_bytes", "1G", "1073741824"},
    {"max_bundle_bytes", "0", NULL},
    {"max_bundle_bytes", "4095", NULL},
    {"max_bundle_bytes", "2G", NULL},
    {"fsync", "yes", "1"},
    {"fsync", "true", "1"},
    {"fsync", "1", "1"},
    {"fsync", "On", "1"},
    {"fsync", "no", NULL},
    {"fsync", "false", NULL},
    {"fsync", "0", NULL},
    {"fsync", "maybe", NULL},
    /* [policy] */
    {"carry", "any", "0"},
    {"carry", "list", "1"},
    {"carry", "LIST", "1"},
    {"carry", "some", NULL},
    {"carry", "", NULL},
    {"publishers", PK1, PK1},
    {"publishers", PK1 " " PK2 "," PK3, PK1 " " PK2 " " PK3},
    {"publishers", PK1 ", " PK1, PK1},
    {"publishers", "", ""},
    {"publishers", PK1_TYPO, NULL},
    {"publishers", PK1 " nonsense", NULL},
    {"publishers", "szpk1", NULL},
    {"publishers", PK1_PAD, NULL},
    /* [network] */
    {"peers", "relay.example.org", "relay.example.org:7447"},
    {"peers", "relay.example.org:8000, 192.0.2.7 [2001:db8::7]:9",
     "relay.example.org:8000 192.0.2.7:7447 [2001:db8::7]:9"},
    {"peers", "a.example:1 a.example:1", "a.example:1"},
    {"peers", "", ""},
    {"peer", "192.0.2.1:7447", "192.0.2.1:7447"},
    {"peers", "bad_name.example", NULL},
    {"peers", "-bad.example", NULL},
    {"peers", "a..example", NULL},
    {"peers", "192.0.2.300", NULL},
    {"peers", "relay.example.org:0", NULL},
    {"peers", "relay.example.org:99999", NULL},
    {"peers", "good.example bad..example", NULL},
    {"peers", "2001:db8::1", NULL},
    {"onion_listen", "127.0.0.1:7448", "127.0.0.1:7448"},
    {"onion_listen", "[::1]:7448", "[::1]:7448"},
    {"onion_listen", "127.0.0.1:0", "127.0.0.1:0"},
    {"onion_listen", "", "(none)"},
    {"onion_listen", "localhost:7448", NULL},
    {"onion_listen", "127.0.0.1:65536", NULL},
    {"proxy", "127.0.0.1:9050", "127.0.0.1:9050"},
    {"proxy", "socks5h://localhost:1080", "localhost:1080"},
    {"proxy", "socks5://[::1]:9050", "[::1]:9050"},
    {"proxy", "", "(none)"},
    {"proxy", "127.0.0.1", NULL},
    {"proxy", "[::1]", NULL},
    {"proxy", "127.0.0.1:", NULL},
    {"proxy", "127.0.0.1:0", NULL},
    {"proxy", "127.0.0.1:65536", NULL},
    {"proxy", "http://127.0.0.1:3128", NULL},
    {"proxy", "socks5://user:pw@127.0.0.1:9050", NULL},
    {"proxy", "socks5://user:pw@ss@127.0.0.1:9050", NULL},
    {"proxy", "bad..name:9050", NULL},
    {"proxy_auth_file", "/etc/samizdat/proxy.auth", "/etc/samizdat/proxy.auth"},
    {"proxy_auth_file", "", "(null)"},
    {"proxy_auth_file", "a\x01b", NULL},
    /* On the command line a path may hold " #" and quotes (the file refuses them). */
    {"proxy_auth_file", "/etc/samizdat/a #1", "/etc/samizdat/a #1"},
    {"proxy_auth_file", "/etc/a#b", "/etc/a#b"},
    {"network_key", "/etc/samizdat/net.key", "/etc/samizdat/net.key"},
    {"network_key", "", "(null)"},
    {"max_inbound", "0", "0"},
    {"max_inbound", "10000", "10000"},
    {"max_inbound", "10001", NULL},
    {"max_handshakes_per_address", "0", "0"},
    {"max_handshakes_per_address", "10000", "10000"},
    {"max_handshakes_per_address", "10001", NULL},
    {"outbound_target", "0", "0"},
    {"outbound_target", "1000", "1000"},
    {"outbound_target", "1001", NULL},
    {"ban_seconds", "0", "0"},
    {"ban_seconds", "86400", "86400"},
    {"ban_seconds", "31536001", NULL},
    {"ban_seconds", "1h", NULL},
};

/* Every key, valid and invalid values, through config_set(): the flags' path. */
static void
test_set_values(void **state)
{
    char err[ERR_CAP], got[1024];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof set_cases / sizeof set_cases[0]; i++) {
        const struct set_case *t = &set_cases[i];
        struct config cfg, before;
        int rc;

        config_init_defaults(&cfg);
        config_init_defaults(&before);
        err[0] = '\0';
        rc = config_set(&cfg, t->key, t->value, err, sizeof err);
        if (t->expect != NULL) {
            if (rc != 0)
                fail_msg("%s = '%s': refused: %s", t->key, t->value, err);
            show(&cfg, t->key, got, sizeof got);
            if (strcmp(got, t->expect) != 0)
                fail_msg("%s = '%s': got '%s', expected '%s'", t->key, t->value, got, t->expect);
        } else {
            if (rc != -1)
                fail_msg("%s = '%s': accepted", t->key, t->value);
            /* The message names the option, and the config is untouched. */
            if (strstr(err, "for ") == NULL && strstr(err, "fsync") == NULL)
                fail_msg("%s = '%s': message without the option: %s", t->key, t->value, err);
            if (!config_equal(&cfg, &before))
                fail_msg("%s = '%s': refused, but the config changed", t->key, t->value);
            /* A proxy's user name and password stay out of the message (and the log). */
            if (strstr(t->value, "pw@") != NULL &&
                (strstr(err, ":pw") != NULL || strstr(err, "ss@") != NULL))
                fail_msg("%s = '%s': the password is in the message: %s", t->key, t->value, err);
        }
        config_free(&cfg);
        config_free(&before);
    }
}

/* Every option of the table is covered by set_cases, valid and invalid where it can be. */
static void
test_set_cases_cover_every_option(void **state)
{
    size_t i, j;

    (void)state;
    for (i = 0; i < config_n_options(); i++) {
        const struct config_option *o = config_option_at(i);
        bool good = false, bad = false;
        for (j = 0; j < sizeof set_cases / sizeof set_cases[0]; j++) {
            if (strcmp(set_cases[j].key, o->key) != 0)
                continue;
            if (set_cases[j].expect != NULL)
                good = true;
            else
                bad = true;
        }
        if (!good)
            fail_msg("no valid value tested for %s", o->key);
        /* Only lists other than peers/publishers lack a refusable value: none. */
        if (!bad && strcmp(o->key, "socket") != 0 && strcmp(o->key, "publisher_key") != 0 &&
            strcmp(o->key, "passphrase_file") != 0 && strcmp(o->key, "network_key") != 0 &&
            strcmp(o->key, "peer") != 0)
            fail_msg("no invalid value tested for %s", o->key);
    }
}

static void
test_defaults(void **state)
{
    struct config cfg;
    char buf[64];

    (void)state;
    config_init_defaults(&cfg);
    assert_null(cfg.data_dir);
    assert_null(cfg.socket_path);
    config_addr_format(&cfg.listen, buf, sizeof buf);
    assert_string_equal(buf, "0.0.0.0:7447");
    assert_int_equal(cfg.listen.kind, CONFIG_ADDR_IPV4);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_null(cfg.publisher_key);
    assert_null(cfg.passphrase_file);
    assert_int_equal(cfg.batch_window_ms, 2000);
    assert_int_equal(cfg.batch_max_articles, 100);
    assert_int_equal(cfg.level, 19);
    assert_true(cfg.max_bytes == 1ull << 30);
    assert_true(cfg.publisher_max_bytes == 256ull << 20);
    assert_int_equal(cfg.expiry_days, 90);
    assert_int_equal(cfg.remember_days, 14);
    assert_true(cfg.max_bundle_bytes == 64ull << 20);
    assert_int_equal(cfg.carry, CONFIG_CARRY_ANY);
    assert_int_equal(cfg.n_publishers, 0);
    assert_int_equal(cfg.n_peers, 0);
    assert_null(cfg.network_key);
    assert_int_equal(cfg.max_inbound, 64);
    assert_int_equal(cfg.max_handshakes_per_address, 8);
    assert_int_equal(cfg.outbound_target, 8);
    assert_int_equal(cfg.ban_seconds, 3600);
    config_free(&cfg);
    config_free(NULL);
}

/* The default texts of the table (used by --help) say what the defaults are. */
static void
test_table_defaults(void **state)
{
    struct config cfg, defaults;
    char err[ERR_CAP];
    size_t i;

    (void)state;
    config_init_defaults(&defaults);
    for (i = 0; i < config_n_options(); i++) {
        const struct config_option *o = config_option_at(i);
        assert_non_null(o->section);
        assert_non_null(o->key);
        assert_non_null(o->flag);
        assert_non_null(o->metavar);
        assert_non_null(o->help);
        assert_ptr_equal(config_find_option(o->key), o);
        assert_ptr_equal(config_find_option(o->flag), o);
        if (o->default_text == NULL)
            continue;
        config_init_defaults(&cfg);
        if (config_set(&cfg, o->key, o->default_text, err, sizeof err) != 0)
            fail_msg("%s: default '%s' refused: %s", o->key, o->default_text, err);
        if (!config_equal(&cfg, &defaults))
            fail_msg("%s: default text '%s' is not the default", o->key, o->default_text);
        config_free(&cfg);
    }
    assert_null(config_option_at(config_n_options()));
    assert_null(config_find_option("max_byts"));
    config_init_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "max_byts", "1G", err, sizeof err), -1);
    assert_string_equal(err, "unknown option 'max_byts'");
    config_free(&cfg);
    config_free(&defaults);
}

struct size_case {
    const char *text;
    uint64_t value; /* 0 with ok false: refused */
    bool ok;
};

/* Sizes with suffixes, through max_bytes (1M up to INT64_MAX, or 0). */
static void
test_sizes(void **state)
{
    static const struct size_case cases[] = {
        {"0", 0, true},
        {"1048576", 1048576, true},
        {"1048576B", 1048576, true},
        {"1048576 b", 1048576, true},
        {"1024K", 1048576, true},
        {"1024k", 1048576, true},
        {"1024KiB", 1048576, true},
        {"1024 kib", 1048576, true},
        {"1M", 1ull << 20, true},
        {"1MiB", 1ull << 20, true},
        {"3 MiB", 3ull << 20, true},
        {"1G", 1ull << 30, true},
        {"1g", 1ull << 30, true},
        {"1GiB", 1ull << 30, true},
        {"7T", 7ull << 40, true},
        {"7TiB", 7ull << 40, true},
        {"0001G", 1ull << 30, true},
        {"8388607T", 8388607ull << 40, true},
        {"9223372036854775807", INT64_MAX, true},
        {"9223372036854775808", 0, false},
        {"18446744073709551615", 0, false},
        {"18446744073709551616", 0, false},
        {"1", 0, false},
        {"1023K", 0, false},
        {"", 0, false},
        {"G", 0, false},
        {"1 G B", 0, false},
        {"1GB", 0, false},
        {"1MB", 0, false},
        {"1Gi", 0, false},
        {"1P", 0, false},
        {"1.5G", 0, false},
        {"1,5G", 0, false},
        {"0x100000", 0, false},
        {"1e9", 0, false},
        {"1G1", 0, false},
        {"1 G", 1ull << 30, true},
        {"+1G", 0, false},
    };
    struct config cfg;
    char err[ERR_CAP];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;
        config_init_defaults(&cfg);
        rc = config_set(&cfg, "max_bytes", cases[i].text, err, sizeof err);
        if (cases[i].ok && (rc != 0 || cfg.max_bytes != cases[i].value))
            fail_msg("'%s': rc %d, %llu: %s", cases[i].text, rc, (unsigned long long)cfg.max_bytes,
                     rc != 0 ? err : "");
        if (!cases[i].ok && rc != -1)
            fail_msg("'%s' accepted as %llu", cases[i].text, (unsigned long long)cfg.max_bytes);
        config_free(&cfg);
    }
    config_init_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "max_bytes", "abc", err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid value 'abc' for max_bytes: expected a size like 512M"));
    assert_int_equal(config_set(&cfg, "max_bytes", "1000", err, sizeof err), -1);
    assert_non_null(strstr(err, "expected 0 (no limit) or a size from 1M to"));
    assert_int_equal(config_set(&cfg, "max_bundle_bytes", "2G", err, sizeof err), -1);
    assert_non_null(strstr(err, "expected a size from 4K to 1G"));
    config_free(&cfg);
}

static int
parse(struct config *cfg, const char *text, char *err)
{
    return config_parse_string(cfg, "test.conf", text, strlen(text), err, ERR_CAP);
}

struct file_case {
    const char *text;
    const char *error; /* the whole message; NULL: accepted */
};

/* INI files that must be refused, with the exact message (file and line). */
static void
test_file_errors(void **state)
{
    static const struct file_case cases[] = {
        {"[store]\nmax_bytes = 2G\n", NULL},
        {"\n\n[store]\n; comment\n# comment\n\nmax_byts = 1G\n",
         "test.conf:7: unknown key 'max_byts' in [store] (did you mean 'max_bytes'?)"},
        {"[network]\nmax_bytes = 1G\n",
         "test.conf:2: unknown key 'max_bytes' in [network] (it belongs in [store])"},
        {"[network]\nmaxbytes = 1G\n",
         "test.conf:2: unknown key 'maxbytes' in [network] (did you mean 'max_bytes' in "
         "[store]?)"},
        {"[store]\nfrobnicate = 1\n", "test.conf:2: unknown key 'frobnicate' in [store]"},
        {"[store]\nMax_Bytes = 1G\n",
         "test.conf:2: unknown key 'Max_Bytes' in [store] (did you mean 'max_bytes'?)"},
        {"[store]\nmax-bytes = 1G\n",
         "test.conf:2: unknown key 'max-bytes' in [store] (did you mean 'max_bytes'?)"},
        {"[stroe]\n",
         "test.conf:1: unknown section [stroe] (the sections are [daemon], [publish], [store], "
         "[policy] and [network])"},
        {"[store]\nlevel = 3\n[Store]\nmax_bytes = 1G\n",
         "test.conf:2: unknown key 'level' in [store] (it belongs in [publish])"},
        {"[Store]\nmax_bytes = 1G\n",
         "test.conf:1: unknown section [Store] (the sections are [daemon], [publish], [store], "
         "[policy] and [network])"},
        {"[store] extra\n", "test.conf:1: unexpected text after [store]"},
        {"[store] ; a comment\nmax_bytes = 2G\n", NULL},
        {"[store\n", "test.conf:1: '[' without a closing ']'"},
        {"max_bytes = 1G\n",
         "test.conf:1: 'max_bytes' is outside any section: put it under [store]"},
        {"nonsense = 1\n", "test.conf:1: a line of 'key = value' outside any section, and its key "
                           "is no setting's: is this the configuration file?"},
        /* A secret file given as the configuration: its text is never repeated. */
        {"hunter2secret\n", "test.conf:1: syntax error: expected 'key = value', '[section]' or a "
                            "comment (this line has no '=')"},
        {"[store]\nmax_bytes = 1G\nmax_bytes = 2G\n",
         "test.conf:3: 'max_bytes' is already set on line 2"},
        {"[store]\nmax_bytes = 1G\n[store]\nmax_bytes = 2G\n",
         "test.conf:4: 'max_bytes' is already set on line 2"},
        {"[store]\nmax_bytes = 1G\n  2G\n",
         "test.conf:3: this line is indented, so it continues the value of 'max_bytes' from line "
         "2; remove the indentation (only lists continue on indented lines)"},
        {"[store]\nmax_bytes = 1G\n  expiry_days = 3\n",
         "test.conf:3: this line is indented, so it continues the value of 'max_bytes' from line "
         "2; remove the indentation (only lists continue on indented lines)"},
        {"[store]\n  max_bytes = 1G\n", NULL},
        {"  [bogus]\n[store]\nmax_bytes = 2G\n",
         "test.conf:1: unknown section [bogus] (the sections are [daemon], [publish], [store], "
         "[policy] and [network])"},
        {"[store]\n  [store] extra\nmax_bytes = 2G\n",
         "test.conf:2: unexpected text after [store]"},
        {"[store]\nmax_bytes = 1G\n[policy]\n  [bogus]\n",
         "test.conf:4: unknown section [bogus] (the sections are [daemon], [publish], [store], "
         "[policy] and [network])"},
        {"[network]\npeers = 192.0.2.1:7000\n  [2001:db8::1]:7000\n", NULL},
        {"[store]\nmax_bytes = abc\n",
         "test.conf:2: invalid value 'abc' for max_bytes: expected a size like 512M (suffixes K, "
         "M, G, T or KiB, MiB, GiB, TiB; all powers of 1024)"},
        {"[store]\nmax_bytes = 2G ; two gibibytes\n", NULL},
        {"[store]\nexpiry_days = 3 # three\n",
         "test.conf:2: invalid value '3 # three' for expiry_days: expected a whole number of days "
         "from 0 to 36500; note that a comment after a value starts with ';', not '#'"},
        {"[store]\nmax_bytes 1G\n",
         "test.conf:2: syntax error: expected 'key = value', '[section]' or a comment (this line "
         "has no '=')"},
        {"[store]\nmax_bytes 1G\nnope = 1\n",
         "test.conf:2: syntax error: expected 'key = value', '[section]' or a comment (this line "
         "has no '=')"},
        {"[store]\nnope = 1\nmax_bytes 1G\n", "test.conf:2: unknown key 'nope' in [store]"},
        {"[store]\nmax_bytes: 2G\n", NULL},
        {"[store]\nmax_bytes = 1G\0\n", NULL}, /* strlen() stops at the NUL: see test_nul_byte */
        {"[policy]\ncarry = list\npublishers = " PK1 "\n  " PK1_TYPO "\n",
         "test.conf:4: invalid value '" PK1_TYPO
         "' for publishers: the checksum does not match: the key is mistyped"},
        {"[policy]\npublishers = " PK1 ", nonsense\n",
         "test.conf:2: invalid value 'nonsense' for publishers: not a public key (szpk1 and 58 "
         "letters and digits)"},
        {"[network]\npeer = a.example\npeer = b..example\n",
         "test.conf:3: invalid value 'b..example' for peer: not an IPv4 address or a host name"},
        {"[network]\npeers = [::1]:7447 ::1\n",
         "test.conf:2: invalid value '::1' for peers: write IPv6 addresses in brackets, like "
         "[::1]:7447"},
        {"[daemon]\nlisten = relay.example.org:7447\n",
         "test.conf:2: invalid value 'relay.example.org:7447' for listen: expected an IP address "
         "like 0.0.0.0 or [::], not a name (expected an address like 0.0.0.0:7447 or "
         "[::]:7447)"},
        {"[store]\nfsync = no\n",
         "test.conf:2: fsync cannot be turned off: the store syncs every bundle to disk before "
         "acknowledging it, so that a crash loses nothing acknowledged"},
        {"[daemon]\n= 5\n", "test.conf:2: unknown key '' in [daemon]"},
        {"[policy]\npublishers = " PK1_PAD "\n",
         "test.conf:2: invalid value '" PK1_PAD
         "' for publishers: not a valid key: a character is mistyped"},
    };
    char err[ERR_CAP];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config cfg, before;
        int rc;

        config_init_defaults(&cfg);
        config_init_defaults(&before);
        err[0] = '\0';
        rc = parse(&cfg, cases[i].text, err);
        if (cases[i].error == NULL && rc != 0)
            fail_msg("case %zu refused: %s", i, err);
        if (cases[i].error != NULL) {
            if (rc != -1)
                fail_msg("case %zu accepted", i);
            if (strcmp(err, cases[i].error) != 0)
                fail_msg("case %zu:\n got      %s\n expected %s", i, err, cases[i].error);
            if (!config_equal(&cfg, &before))
                fail_msg("case %zu: refused, but the config changed", i);
        }
        config_free(&cfg);
        config_free(&before);
    }
}

static void
test_nul_byte(void **state)
{
    static const char text[] = "[store]\nmax_bytes = 1G\nlevel\0 = 3\n";
    struct config cfg;
    char err[ERR_CAP];

    (void)state;
    config_init_defaults(&cfg);
    assert_int_equal(config_parse_string(&cfg, "t", text, sizeof text - 1, err, sizeof err), -1);
    assert_string_equal(err, "t:3: the line contains a NUL byte (is this a text file?)");
    assert_true(cfg.max_bytes == CONFIG_DEFAULT_MAX_BYTES);
    config_free(&cfg);
}

/* Lines inih would cut: refused, except comments; lists continue on indented lines. */
static void
test_long_lines(void **state)
{
    char text[1024], err[ERR_CAP];
    struct config cfg;
    int n;

    (void)state;
    /* 198 characters fit. */
    config_init_defaults(&cfg);
    n = snprintf(text, sizeof text, "[daemon]\ndata_dir = /%0*d\n", 198 - 12, 0);
    assert_true(n > 0);
    assert_int_equal(parse(&cfg, text, err), 0);
    assert_int_equal(strlen(cfg.data_dir), 198 - 11);
    config_free(&cfg);
    /* 199 do not, and the message says what to do. */
    config_init_defaults(&cfg);
    snprintf(text, sizeof text, "[daemon]\ndata_dir = /%0*d\n", 199 - 12, 0);
    assert_int_equal(parse(&cfg, text, err), -1);
    assert_string_equal(err, "test.conf:2: the line is longer than 198 characters: continue a "
                             "list on indented lines, or repeat its key");
    config_free(&cfg);
    /* Three keys do not fit on one line ... */
    config_init_defaults(&cfg);
    assert_int_equal(
        parse(&cfg, "[policy]\ncarry = list\npublishers = " PK1 " " PK2 " " PK3 "\n", err), -1);
    /* ... but on indented lines, with CRLF line ends too, they do. */
    assert_int_equal(parse(&cfg,
                           "[policy]\r\ncarry = list\r\npublishers = " PK1 "\r\n  " PK2 ",\r\n"
                           "\t" PK3 "\r\n; a comment\r\npublishers = " PK1 "\r\n",
                           err),
                     0);
    assert_int_equal(cfg.n_publishers, 3);
    config_free(&cfg);
    /* A long comment is fine. */
    config_init_defaults(&cfg);
    memset(text, 0, sizeof text);
    memcpy(text, "[store]\n# ", 10);
    memset(text + 10, 'x', 500);
    memcpy(text + 510, "\nmax_bytes = 2G\n", 16);
    assert_int_equal(parse(&cfg, text, err), 0);
    assert_true(cfg.max_bytes == 2ull << 30);
    config_free(&cfg);
}

/* Repeated peer keys, peers lists, continuation lines, duplicates, clearing. */
static void
test_peers(void **state)
{
    struct config cfg;
    char err[ERR_CAP], got[1024];

    (void)state;
    config_init_defaults(&cfg);
    assert_int_equal(parse(&cfg,
                           "[network]\n"
                           "peer = a.example.org\n"
                           "peer = 192.0.2.1:8000\n"
                           "peers = [2001:db8::1]:9000, b.example.org:1 ; first\n"
                           "        c.example.org ; second;third\n"
                           "\t; a comment line\n"
                           "peer = a.example.org\n",
                           err),
                     0);
    show(&cfg, "peers", got, sizeof got);
    assert_string_equal(got, "a.example.org:7447 192.0.2.1:8000 [2001:db8::1]:9000 "
                             "b.example.org:1 c.example.org:7447");
    assert_int_equal(cfg.peers[0].kind, CONFIG_ADDR_NAME);
    assert_int_equal(cfg.peers[1].kind, CONFIG_ADDR_IPV4);
    assert_int_equal(cfg.peers[2].kind, CONFIG_ADDR_IPV6);
    assert_string_equal(cfg.peers[2].host, "2001:db8::1");
    /* Flags add; an empty value clears. */
    assert_int_equal(config_set(&cfg, "peer", "d.example.org", err, sizeof err), 0);
    assert_int_equal(cfg.n_peers, 6);
    assert_int_equal(config_set(&cfg, "peers", "", err, sizeof err), 0);
    assert_int_equal(cfg.n_peers, 0);
    assert_null(cfg.peers);
    assert_int_equal(config_set(&cfg, "peer", "e.example.org", err, sizeof err), 0);
    show(&cfg, "peers", got, sizeof got);
    assert_string_equal(got, "e.example.org:7447");
    /* A bad item leaves the whole list as it was. */
    assert_int_equal(config_set(&cfg, "peers", "f.example.org g..example", err, sizeof err), -1);
    assert_string_equal(err, "invalid value 'g..example' for peers: not an IPv4 address or a "
                             "host name");
    assert_int_equal(cfg.n_peers, 1);
    /* An empty value in the file clears what came before. */
    assert_int_equal(parse(&cfg, "[network]\npeers =\npeer = h.example.org\n", err), 0);
    show(&cfg, "peers", got, sizeof got);
    assert_string_equal(got, "h.example.org:7447");
    config_free(&cfg);
}

static void
test_too_many(void **state)
{
    struct config cfg;
    char err[ERR_CAP], addr[32];
    int i;

    (void)state;
    config_init_defaults(&cfg);
    for (i = 0; i < CONFIG_MAX_PEERS; i++) {
        snprintf(addr, sizeof addr, "10.0.%d.%d", i / 256, i % 256);
        assert_int_equal(config_set(&cfg, "peer", addr, err, sizeof err), 0);
    }
    assert_int_equal(config_set(&cfg, "peer", "10.0.0.0", err, sizeof err), 0); /* a duplicate */
    assert_int_equal(config_set(&cfg, "peer", "10.1.0.0", err, sizeof err), -1);
    assert_string_equal(err, "too many peers: at most 256");
    assert_int_equal(cfg.n_peers, CONFIG_MAX_PEERS);
    config_free(&cfg);
}

/* carry = list with publishers, a bad key with its line, and the cross-checks. */
static void
test_carry_list(void **state)
{
    struct config cfg;
    char err[ERR_CAP];
    uint8_t pk[SZ_PUBLIC_KEY_LEN];

    (void)state;
    config_init_defaults(&cfg);
    assert_int_equal(parse(&cfg,
                           "[policy]\ncarry = list\npublishers = " PK1 ", " PK2 "\n"
                           "publishers = " PK3 "\n",
                           err),
                     0);
    assert_int_equal(cfg.carry, CONFIG_CARRY_LIST);
    assert_int_equal(cfg.n_publishers, 3);
    memset(pk, 0x22, sizeof pk);
    assert_memory_equal(cfg.publishers[1], pk, sizeof pk);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    config_free(&cfg);

    config_init_defaults(&cfg);
    assert_int_equal(parse(&cfg,
                           "[policy]\ncarry = list\n\n# the newsroom\npublishers = " PK1 "\n"
                           "publishers = " PK1_TYPO "\n",
                           err),
                     -1);
    assert_string_equal(err, "test.conf:6: invalid value '" PK1_TYPO
                             "' for publishers: the checksum does not match: the key is mistyped");
    assert_int_equal(cfg.n_publishers, 0);
    assert_int_equal(cfg.carry, CONFIG_CARRY_ANY);

    /* carry = list with no keys carries nothing, unless the node publishes. */
    assert_int_equal(config_set(&cfg, "carry", "list", err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), -1);
    assert_string_equal(err, "carry = list, but publishers lists no keys: this node would carry "
                             "nothing");
    assert_int_equal(config_set(&cfg, "publisher_key", "/k", err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    /* Keys with carry = any would be ignored: refused. */
    assert_int_equal(config_set(&cfg, "carry", "any", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "publishers", PK2, err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), -1);
    assert_string_equal(err, "publishers lists keys, but carry = any carries every publisher: "
                             "set carry = list to carry only those");
    config_free(&cfg);
}

/* Flags come after the file and override it (config_set after the load). */
static void
test_flags_override_file(void **state)
{
    struct config cfg;
    char err[ERR_CAP];

    (void)state;
    config_init_defaults(&cfg);
    assert_int_equal(parse(&cfg,
                           "[daemon]\nlog_level = debug\ndata_dir = /from/file\n"
                           "[store]\nmax_bytes = 2G\nexpiry_days = 30\n"
                           "[network]\npeer = a.example\n",
                           err),
                     0);
    assert_int_equal(config_set(&cfg, "log-level", "warn", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "max-bytes", "5G", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "max-bytes", "6G", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "data-dir", "", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "peer", "b.example", err, sizeof err), 0);
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_true(cfg.max_bytes == 6ull << 30);
    assert_int_equal(cfg.expiry_days, 30); /* from the file, not overridden */
    assert_null(cfg.data_dir);             /* back to the default */
    assert_int_equal(cfg.n_peers, 2);
    /* A flag's error names no file. */
    assert_int_equal(config_set(&cfg, "expiry-days", "x", err, sizeof err), -1);
    assert_string_equal(err, "invalid value 'x' for expiry_days: expected a whole number of days "
                             "from 0 to 36500");
    assert_int_equal(cfg.expiry_days, 30);
    config_free(&cfg);
}

/* A failed load keeps what earlier loads and flags set. */
static void
test_unchanged_on_failure(void **state)
{
    struct config cfg, before;
    char err[ERR_CAP];

    (void)state;
    config_init_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "peers", "a.example b.example", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "publisher_key", "/k", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "publishers", PK1, err, sizeof err), 0);
    config_init_defaults(&before);
    assert_int_equal(config_set(&before, "peers", "a.example b.example", err, sizeof err), 0);
    assert_int_equal(config_set(&before, "publisher_key", "/k", err, sizeof err), 0);
    assert_int_equal(config_set(&before, "publishers", PK1, err, sizeof err), 0);
    assert_true(config_equal(&cfg, &before));
    assert_int_equal(
        parse(&cfg,
              "[daemon]\npublisher_key = /other\n[network]\npeers =\npeer = c.example\n"
              "[policy]\npublishers = " PK2 "\n[store]\nlevel = 3\n",
              err),
        -1);
    assert_true(config_equal(&cfg, &before));
    config_free(&cfg);
    config_free(&before);
}

static char tmpdir[64];

static int
make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_config.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
remove_tmpdir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* config_load_file(): file:line in messages, missing files, directories, size. */
static void
test_load_file(void **state)
{
    struct config cfg;
    char path[128], expect[ERR_CAP], err[ERR_CAP], *big;

    (void)state;
    config_init_defaults(&cfg);
    snprintf(path, sizeof path, "%s/samizdatd.conf", tmpdir);
    write_file(path, "# relay\n[store]\nmax_bytes = 4G\n\n[network]\npeer = a.example\n"
                     "[store]\n; note\n\n\n\nmax_byts = 1G\n");
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), -1);
    snprintf(expect, sizeof expect,
             "%s:12: unknown key 'max_byts' in [store] (did you mean 'max_bytes'?)", path);
    assert_string_equal(err, expect);
    assert_true(cfg.max_bytes == CONFIG_DEFAULT_MAX_BYTES);

    write_file(path, "[store]\nmax_bytes = 4G\n");
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), 0);
    assert_true(cfg.max_bytes == 4ull << 30);

    snprintf(path, sizeof path, "%s/missing.conf", tmpdir);
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), -1);
    snprintf(expect, sizeof expect, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, expect);

    assert_int_equal(config_load_file(&cfg, tmpdir, err, sizeof err), -1);
    snprintf(expect, sizeof expect, "%s: is a directory, not a config file", tmpdir);
    assert_string_equal(err, expect);

    /* An empty file, and one of exactly the size limit, are fine; one more byte is not. */
    snprintf(path, sizeof path, "%s/empty.conf", tmpdir);
    write_file(path, "");
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), 0);
    big = malloc(CONFIG_MAX_FILE_LEN + 2);
    assert_non_null(big);
    memset(big, '\n', CONFIG_MAX_FILE_LEN + 1);
    big[CONFIG_MAX_FILE_LEN] = '\0';
    snprintf(path, sizeof path, "%s/big.conf", tmpdir);
    write_file(path, big);
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), 0);
    big[CONFIG_MAX_FILE_LEN] = '\n';
    big[CONFIG_MAX_FILE_LEN + 1] = '\0';
    write_file(path, big);
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), -1);
    snprintf(expect, sizeof expect, "%s: larger than 1048576 bytes: is this a config file?", path);
    assert_string_equal(err, expect);
    free(big);

    /* A NULL or tiny err buffer is fine. */
    assert_int_equal(config_load_file(&cfg, path, NULL, 0), -1);
    assert_int_equal(config_load_file(&cfg, path, err, 1), -1);
    assert_string_equal(err, "");
    assert_true(cfg.max_bytes == 4ull << 30);
    config_free(&cfg);
}

/* BOM, CRLF, "key: value", blank and comment lines, odd spacing. */
static void
test_file_syntax(void **state)
{
    struct config cfg;
    char err[ERR_CAP];

    (void)state;
    config_init_defaults(&cfg);
    assert_int_equal(parse(&cfg,
                           "\xef\xbb\xbf[daemon]\r\n"
                           "   listen   =   [::]:7000   \r\n"
                           "log_level=debug\r\n"
                           "\r\n"
                           ";comment\r\n"
                           "#comment\r\n"
                           "[publish]\r\n"
                           "level: 3\r\n"
                           "[store]\n"
                           "max_bytes = 3 GiB ; inline comment\n"
                           "[daemon]\n"
                           "data_dir = /srv/samizdat\n"
                           "[store]\n"
                           "expiry_days = 0",
                           err),
                     0);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(cfg.listen.kind, CONFIG_ADDR_IPV6);
    assert_string_equal(cfg.listen.host, "::");
    assert_int_equal(cfg.listen.port, 7000);
    assert_int_equal(cfg.level, 3);
    assert_true(cfg.max_bytes == 3ull << 30);
    assert_string_equal(cfg.data_dir, "/srv/samizdat");
    assert_int_equal(cfg.expiry_days, 0);
    config_free(&cfg);

    /* An empty text changes nothing. */
    config_init_defaults(&cfg);
    assert_int_equal(config_parse_string(&cfg, "x", "", 0, err, sizeof err), 0);
    config_free(&cfg);

    /* In the file, an inline '#' comment or quotes would make another path than
     * meant: refused, with the hint; "/a#b" is a path. */
    static const char *const bad_paths[] = {
        "[daemon]\ndata_dir = /srv/x   # on the big disk\n",
        "[daemon]\ndata_dir = \"/srv/x\"\n",
        "[daemon]\ndata_dir = '/srv/x'\n",
    };
    for (size_t k = 0; k < sizeof bad_paths / sizeof bad_paths[0]; k++) {
        config_init_defaults(&cfg);
        assert_int_equal(parse(&cfg, bad_paths[k], err), -1);
        assert_non_null(strstr(err, "test.conf:2: invalid value for data_dir"));
        assert_null(cfg.data_dir);
        config_free(&cfg);
    }
    assert_non_null(strstr(err, "without quotes"));
    config_init_defaults(&cfg);
    assert_int_equal(parse(&cfg, "[daemon]\ndata_dir = /srv/a#b\n", err), 0);
    assert_string_equal(cfg.data_dir, "/srv/a#b");
    config_free(&cfg);
}

struct dir_case {
    const char *xdg;
    const char *home;
    const char *expect;
};

/* Derived defaults: the data folder from the environment, the socket inside it. */
static void
test_finish(void **state)
{
    static const struct dir_case dirs[] = {
        {"/xdg", "/home/u", "/xdg/samizdat"},
        {"/xdg/", "/home/u", "/xdg/samizdat"},
        {"relative", "/home/u", "/home/u/.local/share/samizdat"},
        {"", "/home/u", "/home/u/.local/share/samizdat"},
        {NULL, "/home/u/", "/home/u/.local/share/samizdat"},
        {NULL, "/", "/.local/share/samizdat"},
        {NULL, "", "/var/lib/samizdat"},
        {NULL, "relative", "/var/lib/samizdat"},
        {NULL, NULL, "/var/lib/samizdat"},
        {"/", NULL, "/samizdat"},
    };
    struct config cfg;
    char err[ERR_CAP], longdir[200];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char *d = config_default_data_dir(dirs[i].xdg, dirs[i].home);
        assert_non_null(d);
        assert_string_equal(d, dirs[i].expect);
        free(d);
    }

    assert_int_equal(setenv("XDG_DATA_HOME", "/xdg", 1), 0);
    config_init_defaults(&cfg);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.data_dir, "/xdg/samizdat");
    assert_string_equal(cfg.socket_path, "/xdg/samizdat/control.sock");
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0); /* again: nothing changes */
    assert_string_equal(cfg.socket_path, "/xdg/samizdat/control.sock");
    config_free(&cfg);
    assert_int_equal(unsetenv("XDG_DATA_HOME"), 0);
    assert_int_equal(setenv("HOME", "/home/u", 1), 0);

    /* A data_dir that is set wins; the socket follows it unless set too. */
    config_init_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "data_dir", "state/", err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.data_dir, "state/");
    assert_string_equal(cfg.socket_path, "state/control.sock");
    config_free(&cfg);
    config_init_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "socket", "/run/sz.sock", err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.data_dir, "/home/u/.local/share/samizdat");
    assert_string_equal(cfg.socket_path, "/run/sz.sock");
    config_free(&cfg);

    /* A socket path must fit in a sockaddr_un. */
    memset(longdir, 'd', sizeof longdir);
    longdir[0] = '/';
    longdir[95] = '\0'; /* 95 + "/control.sock" = 108 bytes: one too many */
    config_init_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "data_dir", longdir, err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "is 108 bytes long, but a Unix socket path has at most 107: set "
                                "socket to a shorter path"));
    assert_null(cfg.socket_path);
    longdir[94] = '\0';
    assert_int_equal(config_set(&cfg, "data_dir", longdir, err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    assert_int_equal(strlen(cfg.socket_path), 107);
    config_free(&cfg);

    /* A passphrase without a key is a mistake. */
    config_init_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "passphrase_file", "/p", err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), -1);
    assert_string_equal(err, "passphrase_file is set, but publisher_key is not");
    assert_null(cfg.data_dir);
    config_free(&cfg);

    /* The onion service's port is not the public one. */
    config_init_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "listen", "127.0.0.1:7447", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "onion_listen", "127.0.0.1:7447", err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), -1);
    assert_string_equal(err, "onion_listen is the same address as listen: give the onion service "
                             "its own port (as 127.0.0.1:7448)");
    assert_int_equal(config_set(&cfg, "onion_listen", "127.0.0.1:7448", err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    config_free(&cfg);
    /* Nor taken by a listen on every address (the default listen, 0.0.0.0:7447). */
    static const char *const clash[][2] = {{"0.0.0.0:7447", "127.0.0.1"},
                                           {"0.0.0.0:7447", "127.0.0.1:7447"},
                                           {"[::]:7447", "127.0.0.1:7447"},
                                           {"127.0.0.1:7447", "0.0.0.0:7447"},
                                           {"[::1]:7447", "[::]:7447"}};
    for (size_t k = 0; k < sizeof clash / sizeof clash[0]; k++) {
        config_init_defaults(&cfg);
        assert_int_equal(config_set(&cfg, "listen", clash[k][0], err, sizeof err), 0);
        assert_int_equal(config_set(&cfg, "onion_listen", clash[k][1], err, sizeof err), 0);
        if (config_finish(&cfg, err, sizeof err) != -1)
            fail_msg("listen %s, onion_listen %s: taken", clash[k][0], clash[k][1]);
        assert_non_null(strstr(err, "give the onion service its own port"));
        config_free(&cfg);
    }
    static const char *const apart[][2] = {{"0.0.0.0:7447", "127.0.0.1:7448"},
                                           {"0.0.0.0:7447", "[::1]:7447"},
                                           {"127.0.0.2:7447", "127.0.0.1:7447"},
                                           {"127.0.0.1:0", "127.0.0.1:7447"}};
    for (size_t k = 0; k < sizeof apart / sizeof apart[0]; k++) {
        config_init_defaults(&cfg);
        assert_int_equal(config_set(&cfg, "listen", apart[k][0], err, sizeof err), 0);
        assert_int_equal(config_set(&cfg, "onion_listen", apart[k][1], err, sizeof err), 0);
        if (config_finish(&cfg, err, sizeof err) != 0)
            fail_msg("listen %s, onion_listen %s: %s", apart[k][0], apart[k][1], err);
        config_free(&cfg);
    }

    /* So are proxy credentials without a proxy. */
    config_init_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "proxy_auth_file", "/a", err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), -1);
    assert_string_equal(err, "proxy_auth_file is set, but proxy is not");
    assert_int_equal(config_set(&cfg, "proxy", "127.0.0.1:9050", err, sizeof err), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    config_free(&cfg);
}

struct quota_case {
    uint64_t max, pub, bundle;      /* as set */
    uint64_t want_pub, want_bundle; /* after config_finish() */
};

/* A smaller quota lowers the larger ones. */
static void
test_finish_quotas(void **state)
{
    static const struct quota_case cases[] = {
        {1ull << 30, 256ull << 20, 64ull << 20, 256ull << 20, 64ull << 20},
        {100ull << 20, 256ull << 20, 64ull << 20, 100ull << 20, 64ull << 20},
        {10ull << 20, 256ull << 20, 64ull << 20, 10ull << 20, 10ull << 20},
        {0, 0, 64ull << 20, 0, 64ull << 20},
        {0, 32ull << 20, 64ull << 20, 32ull << 20, 32ull << 20},
        {2ull << 20, 0, 64ull << 20, 2ull << 20, 2ull << 20},
    };
    struct config cfg;
    char err[ERR_CAP];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config_init_defaults(&cfg);
        cfg.max_bytes = cases[i].max;
        cfg.publisher_max_bytes = cases[i].pub;
        cfg.max_bundle_bytes = cases[i].bundle;
        assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
        if (cfg.publisher_max_bytes != cases[i].want_pub ||
            cfg.max_bundle_bytes != cases[i].want_bundle)
            fail_msg("case %zu: publisher_max_bytes %llu, max_bundle_bytes %llu", i,
                     (unsigned long long)cfg.publisher_max_bytes,
                     (unsigned long long)cfg.max_bundle_bytes);
        config_free(&cfg);
    }
}

static char *
read_example(void)
{
    FILE *f = fopen(SZ_SOURCE_DIR "/examples/samizdatd.conf", "rb");
    char *buf = calloc(1, 1 << 16);
    size_t n;

    assert_non_null(f);
    assert_non_null(buf);
    n = fread(buf, 1, (1 << 16) - 1, f);
    assert_true(n > 0 && n < (1 << 16) - 1);
    fclose(f);
    return buf;
}

/* True when line (up to '\n') is "#KEY =..." or "KEY =..." for the option's key. */
static bool
line_sets(const char *line, const char *key, bool commented)
{
    size_t n = strlen(key);

    if (commented) {
        if (line[0] != '#')
            return false;
        line++;
    }
    if (strncmp(line, key, n) != 0)
        return false;
    line += n;
    while (*line == ' ')
        line++;
    return *line == '=';
}

/*
 * examples/samizdatd.conf loads as is and gives the defaults; it shows every
 * option as "#key = default"; uncommenting all of them still gives the defaults.
 */
static void
test_example_file(void **state)
{
    struct config cfg, defaults;
    char err[ERR_CAP], *text, *p;
    size_t i;

    (void)state;
    assert_int_equal(unsetenv("XDG_DATA_HOME"), 0);
    assert_int_equal(setenv("HOME", "/home/u", 1), 0);
    config_init_defaults(&defaults);
    assert_int_equal(config_finish(&defaults, err, sizeof err), 0);

    config_init_defaults(&cfg);
    if (config_load_file(&cfg, SZ_SOURCE_DIR "/examples/samizdatd.conf", err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    assert_true(config_equal(&cfg, &defaults));
    config_free(&cfg);

    text = read_example();
    for (i = 0; i < config_n_options(); i++) {
        const struct config_option *o = config_option_at(i);
        bool found = false;
        for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
            if (line_sets(p, o->key, false))
                fail_msg("example: %s is set, not commented out", o->key);
            if (line_sets(p, o->key, true)) {
                const char *v = strchr(p, '=') + 1;
                size_t want = o->default_text != NULL ? strlen(o->default_text) : 0;
                while (*v == ' ')
                    v++;
                if (strncmp(v, o->default_text != NULL ? o->default_text : "", want) != 0 ||
                    (v[want] != '\n' && v[want] != '\0'))
                    fail_msg("example: %s is not shown with its default", o->key);
                found = true;
                /* Uncomment it. */
                memmove(p, p + 1, strlen(p + 1) + 1);
            }
        }
        if (!found && strcmp(o->key, "peer") != 0)
            fail_msg("example: no line '#%s = ...'", o->key);
        if (strcmp(o->key, "peer") == 0 && strstr(text, "peer = ") == NULL)
            fail_msg("example: peer is not mentioned");
    }
    config_init_defaults(&cfg);
    if (config_parse_string(&cfg, "uncommented", text, strlen(text), err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(config_finish(&cfg, err, sizeof err), 0);
    assert_true(config_equal(&cfg, &defaults));
    config_free(&cfg);
    config_free(&defaults);
    free(text);
}

/* --help lists every option and its default, within 80 columns. */
static void
test_help(void **state)
{
    char *buf = NULL, *line, *save = NULL, want[128];
    size_t len = 0, i;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    assert_non_null(f);
    config_print_help(f);
    assert_int_equal(fclose(f), 0);
    for (i = 0; i < config_n_options(); i++) {
        const struct config_option *o = config_option_at(i);
        snprintf(want, sizeof want, "--%s=%s", o->flag, o->metavar);
        if (strstr(buf, want) == NULL)
            fail_msg("--help lacks %s", want);
        snprintf(want, sizeof want, " [%s]\n", o->section);
        assert_non_null(strstr(buf, want));
    }
    assert_non_null(strstr(buf, "Default: 1G."));
    assert_non_null(strstr(buf, "Default: 0.0.0.0:7447."));
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        if (strlen(line) > 80)
            fail_msg("--help line longer than 80 columns: %s", line);
    free(buf);
}

static void
test_addr_format(void **state)
{
    struct config_addr a = {"2001:db8::1", 7447, CONFIG_ADDR_IPV6};
    char buf[64];

    (void)state;
    assert_int_equal(config_addr_format(&a, buf, sizeof buf), 18);
    assert_string_equal(buf, "[2001:db8::1]:7447");
    assert_int_equal(config_addr_format(&a, buf, 5), 18);
    assert_string_equal(buf, "[200");
    a.kind = CONFIG_ADDR_NAME;
    snprintf(a.host, sizeof a.host, "relay.example.org");
    a.port = 1;
    assert_int_equal(config_addr_format(&a, buf, sizeof buf), 19);
    assert_string_equal(buf, "relay.example.org:1");
}

/* Reads what the calls since `from` wrote to stderr (a file here). */
static void
stderr_since(FILE *f, long from, char *buf, size_t cap)
{
    size_t n;

    fflush(stderr);
    assert_int_equal(fseek(f, from, SEEK_SET), 0);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
}

/*
 * log_allow(): messages a level does not print are neither logged nor
 * counted (a relay at --log-level warn logged "N similar messages
 * suppressed" at WARN for INFO lines it never showed); the line for those
 * left out comes at their level, with how long since the last one logged.
 */
static void
test_log_limit(void **state)
{
    struct log_limit info = {0}, warn = {0};
    char out[2048];
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);
    long mark;

    (void)state;
    assert_non_null(f);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
    log_set_level(LOG_WARN);
    for (int i = 0; i < 30; i++)
        assert_false(log_allow(&info, LOG_INFO, 5, 1000 + i));
    assert_false(log_allow(&info, LOG_INFO, 5, 70000));
    for (int i = 0; i < 8; i++)
        assert_int_equal(log_allow(&warn, LOG_WARN, 5, 1000 + i), i < 5);
    stderr_since(f, 0, out, sizeof out);
    assert_string_equal(out, "");
    mark = ftell(f);
    assert_true(log_allow(&warn, LOG_WARN, 5, 1004 + 90000));
    stderr_since(f, mark, out, sizeof out);
    assert_non_null(strstr(out, " WARN left out 3 messages like the one logged 90 s before this "
                                "(at most 5 a minute are logged)\n"));
    /* Once said, not again. */
    mark = ftell(f);
    assert_true(log_allow(&warn, LOG_WARN, 5, 1000 + 200000));
    stderr_since(f, mark, out, sizeof out);
    assert_string_equal(out, "");
    /* A rate limit of something not logged says nothing. */
    {
        struct log_limit other = {0};
        for (int i = 0; i < 10; i++)
            (void)log_allow(&other, LOG_NONE, 2, 1000 + i);
        assert_true(log_allow(&other, LOG_NONE, 2, 100000));
        stderr_since(f, mark, out, sizeof out);
        assert_string_equal(out, "");
    }
    log_set_level(LOG_INFO);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    fclose(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_table_defaults),
        cmocka_unit_test(test_set_values),
        cmocka_unit_test(test_set_cases_cover_every_option),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_peers),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_carry_list),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_unchanged_on_failure),
        cmocka_unit_test_setup_teardown(test_load_file, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_file_syntax),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_finish_quotas),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_addr_format),
        cmocka_unit_test(test_log_limit),
    };

    if (sz_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
