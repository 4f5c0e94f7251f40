/*
 * samizdatd's configuration: the option table, the value parsers behind
 * config_set(), and the INI reader around inih. Contract in config.h.
 *
 * inih calls a handler with (section, key, value) but, as Debian builds it,
 * without a line number, and it cuts lines at 200 bytes without saying so. So
 * the text reaches inih through our own line reader (ini_parse_stream()), which
 * counts lines, refuses lines that would be cut, checks section headers (inih
 * passes only sections that contain keys to the handler, and ignores text after
 * the closing bracket) and remembers whether a line was indented (inih treats
 * an indented line as the continuation of the previous key's value).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ini.h>

#include "samizdat/article.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"

#define MSG_CAP 512
#define QUOTE_MAX 80

enum kind {
    K_PATH,       /* char *, empty: NULL */
    K_LISTEN,     /* struct config_addr, an IP literal */
    K_LISTEN_OPT, /* the same, or empty: none (host "") */
    K_PEERS,      /* list of struct config_addr */
    K_PROXY,      /* struct config_addr, a name allowed; empty: none (port 0) */
    K_LOG_LEVEL,  /* enum log_level */
    K_U32,        /* uint32_t within [min, max] */
    K_INT,        /* int within [min, max] */
    K_SIZE,       /* uint64_t: 0 when zero_ok, else within [min, max] */
    K_FSYNC,      /* boolean that must be true */
    K_CARRY,      /* enum config_carry */
    K_KEYS,       /* list of public keys */
};

struct opt {
    struct config_option pub;
    enum kind kind;
    size_t offset;    /* of the field in struct config */
    uint64_t min;     /* K_U32, K_INT, K_SIZE */
    uint64_t max;     /* K_U32, K_INT, K_SIZE */
    bool zero_ok;     /* K_SIZE: 0 means no limit */
    const char *unit; /* K_U32, K_INT: what the number counts ("": nothing to say) */
};

#define FIELD(f) offsetof(struct config, f)

/*
 * One option: section, key, flag, metavar, default text, list?, kind, field,
 * range (min, max, 0 = no limit), unit of a number, help.
 */
#define OPT(sec, key, flag, meta, def, list, kind, off, min, max, zero_ok, unit, help)             \
    {                                                                                              \
        {sec, key, flag, meta, def, help, list}, kind, off, min, max, zero_ok, unit                \
    }

/* The order is the order of --help and of examples/samizdatd.conf. */
static const struct opt options[] = {
    /* [daemon] */
    OPT("daemon", "data_dir", "data-dir", "PATH", NULL, false, K_PATH, FIELD(data_dir), 0, 0, false,
        NULL,
        "Folder for the bundle store and the control socket, created if missing. Default: "
        "$XDG_DATA_HOME/samizdat, else $HOME/.local/share/samizdat, else /var/lib/samizdat "
        "(no HOME, as for a system service)."),
    OPT("daemon", "socket", "socket", "PATH", NULL, false, K_PATH, FIELD(socket_path), 0, 0, false,
        NULL,
        "Control socket for publish, status and admin commands: a Unix socket that only its "
        "owner may use, never TCP. Default: DATA_DIR/" CONFIG_SOCKET_NAME "."),
    OPT("daemon", "listen", "listen", "HOST:PORT", "0.0.0.0:7447", false, K_LISTEN, FIELD(listen),
        0, 0, false, NULL,
        "Address for inbound peer connections: an IP address and a port, IPv6 in brackets "
        "([::]:7447). Port 0 picks any free port."),
    OPT("daemon", "log_level", "log-level", "LEVEL", "info", false, K_LOG_LEVEL, FIELD(log_level),
        0, 0, false, NULL, "Most verbose messages logged: error, warn, info or debug."),
    OPT("daemon", "publisher_key", "publisher-key", "PATH", "", false, K_PATH, FIELD(publisher_key),
        0, 0, false, NULL,
        "Secret key file (from samizdat keygen) that makes this daemon a publisher. Empty: a "
        "relay only."),
    OPT("daemon", "passphrase_file", "passphrase-file", "PATH", "", false, K_PATH,
        FIELD(passphrase_file), 0, 0, false, NULL,
        "File holding the passphrase of publisher_key. Empty: the key file has no passphrase."),
    /* [publish] */
    OPT("publish", "batch_window_ms", "batch-window-ms", "MS", "2000", false, K_U32,
        FIELD(batch_window_ms), 0, 600000, false, "milliseconds",
        "Articles handed in within this many milliseconds are signed into one bundle. 0: one "
        "bundle per publish command."),
    OPT("publish", "batch_max_articles", "batch-max-articles", "N", "100", false, K_U32,
        FIELD(batch_max_articles), 1, SZ_MAX_ARTICLES, false, "articles",
        "Most articles in a bundle made of several publish commands (1 to 4096): a full batch "
        "is published at once, and a command that would overfill it starts the next (one "
        "command's articles always share a bundle)."),
    OPT("publish", "level", "level", "N", "19", false, K_INT, FIELD(level), 1, 19, false, "",
        "zstd compression level of new bundles, from 1 (fastest) to 19 (smallest)."),
    /* [store] */
    OPT("store", "max_bytes", "max-bytes", "SIZE", "1G", false, K_SIZE, FIELD(max_bytes),
        1ull << 20, INT64_MAX, true, NULL,
        "Total size of the bundles kept (0, or 1M and up); beyond it the oldest are evicted "
        "(never the node's own: only publisher_max_bytes and expiry remove those). 0: no "
        "limit."),
    OPT("store", "publisher_max_bytes", "publisher-max-bytes", "SIZE", "256M", false, K_SIZE,
        FIELD(publisher_max_bytes), 1ull << 20, INT64_MAX, true, NULL,
        "Most bytes kept for any one publisher (0, or 1M and up), so that no key can fill the "
        "store; at most max_bytes. 0: no limit."),
    OPT("store", "expiry_days", "expiry-days", "DAYS", "90", false, K_U32, FIELD(expiry_days), 0,
        36500, false, "days",
        "Bundles created longer ago than this are dropped and refused. 0: never."),
    OPT("store", "remember_days", "remember-days", "DAYS", "14", false, K_U32, FIELD(remember_days),
        1, 3650, false, "days",
        "How long (1 to 3650 days) the ids of evicted and refused bundles are remembered, so "
        "that peers do not offer them again."),
    OPT("store", "max_bundle_bytes", "max-bundle-bytes", "SIZE", "64M", false, K_SIZE,
        FIELD(max_bundle_bytes), 4ull << 10, SZ_BUNDLE_MAX_CONTENT_LEN, false, NULL,
        "Most bytes of articles a bundle may hold once unpacked (the size its header "
        "declares, not its size on disk) to be stored or taken from a peer (4K to 1G); at "
        "most the quotas above."),
    OPT("store", "fsync", "fsync", "BOOL", "yes", false, K_FSYNC, 0, 0, 0, false, NULL,
        "Always yes: the store syncs every bundle to disk before acknowledging it, so a crash "
        "or power cut loses nothing acknowledged. 'no' is refused."),
    /* [policy] */
    OPT("policy", "carry", "carry", "any|list", "any", false, K_CARRY, FIELD(carry), 0, 0, false,
        NULL,
        "Publishers whose bundles this node stores and forwards: any (each held to "
        "publisher_max_bytes) or list (only those in publishers, and the node's own)."),
    OPT("policy", "publishers", "publishers", "KEYS", "", true, K_KEYS, FIELD(publishers), 0, 0,
        false, NULL,
        "Public keys (szpk1...) carried when carry = list, separated by spaces or commas. Each "
        "use adds to the list; an empty value clears it."),
    /* [network] */
    OPT("network", "peers", "peers", "HOST:PORT...", "", true, K_PEERS, FIELD(peers), 0, 0, false,
        NULL,
        "Peers to connect to at start, separated by spaces or commas: host names or IP "
        "addresses (IPv6 in brackets) with an optional :PORT (default 7447). Each use adds to "
        "the list; an empty value clears it."),
    OPT("network", "peer", "peer", "HOST:PORT", NULL, true, K_PEERS, FIELD(peers), 0, 0, false,
        NULL, "The same as peers; may be repeated."),
    OPT("network", "proxy", "proxy", "HOST:PORT", "", false, K_PROXY, FIELD(proxy), 0, 0, false,
        NULL,
        "SOCKS5 proxy for every outbound peer connection, as Tor's SocksPort (127.0.0.1:9050): "
        "peers' names go to the proxy as names, so the node asks no DNS server, and peers at "
        ".onion addresses can be reached. Inbound connections do not use it. Empty: connect "
        "directly."),
    OPT("network", "onion_listen", "onion-listen", "HOST:PORT", "", false, K_LISTEN_OPT,
        FIELD(onion_listen), 0, 0, false, NULL,
        "A second address for inbound peer connections, for a Tor onion service to forward "
        "to (HiddenServicePort 7447 127.0.0.1:7448): every connection there comes from the "
        "local Tor, so none is banned or limited by its address (a misbehaving one is closed "
        "and its node key banned), and none is passed on to other peers as an address. "
        "Empty: none."),
    OPT("network", "proxy_auth_file", "proxy-auth-file", "PATH", "", false, K_PATH,
        FIELD(proxy_auth_file), 0, 0, false, NULL,
        "File whose first line is USER:PASSWORD for a proxy that wants them (RFC 1929). Empty: "
        "the proxy is offered no authentication, as Tor's SocksPort takes."),
    OPT("network", "network_key", "network-key", "PATH", "", false, K_PATH, FIELD(network_key), 0,
        0, false, NULL,
        "File holding a private network key: only nodes with the same key can talk to this "
        "one. Empty: the built-in key that every samizdat node knows."),
    OPT("network", "max_inbound", "max-inbound", "N", "64", false, K_U32, FIELD(max_inbound), 0,
        10000, false, "connections",
        "Most inbound peer connections at once; when all are open, the address holding the most "
        "makes room for another. 0: accept none."),
    OPT("network", "max_handshakes_per_address", "max-handshakes-per-address", "N", "8", false,
        K_U32, FIELD(max_handshakes_per_address), 0, 10000, false, "connections",
        "Most inbound connections from one IP address (IPv6: one /64) that may be in the "
        "handshake at once; more are refused, so that one address cannot hold every inbound "
        "slot. 0: no limit."),
    OPT("network", "outbound_target", "outbound-target", "N", "8", false, K_U32,
        FIELD(outbound_target), 0, 1000, false, "connections",
        "Outbound connections kept open to peers learned from other peers. 0: none to learned "
        "peers. "
        "The peers given with --peers and --peer are always connected."),
    OPT("network", "ban_seconds", "ban-seconds", "SECONDS", "3600", false, K_U32,
        FIELD(ban_seconds), 0, 31536000, false, "seconds",
        "How long a peer that sent invalid data is refused. 0: never ban."),
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static const char *const sections[] = {"daemon", "publish", "store", "policy", "network"};

#define N_SECTIONS (sizeof sections / sizeof sections[0])

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* ---- Messages ---- */

static void set_err(char *err, size_t err_cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t err_cap, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
}

/*
 * Copies s[0..len) into out for quoting in a message: at most QUOTE_MAX
 * characters (then "..."), with control bytes shown as '?', so that a message
 * stays one readable line whatever the input was.
 */
static void
quote(char out[QUOTE_MAX + 4], const char *s, size_t len)
{
    size_t i, n = len > QUOTE_MAX ? QUOTE_MAX : len;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* Writes a size as the shortest exact text with a suffix: 1G, 256M, 4K, 1000. */
static void
format_size(char *buf, size_t cap, uint64_t v)
{
    static const char suffixes[] = "KMGTPE";
    int i = -1;

    while (v != 0 && v % 1024 == 0 && i < 5) {
        v /= 1024;
        i++;
    }
    if (i < 0)
        snprintf(buf, cap, "%llu", (unsigned long long)v);
    else
        snprintf(buf, cap, "%llu%c", (unsigned long long)v, suffixes[i]);
}

/* ---- Small text helpers ---- */

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* True when s[0..len) equals the NUL-terminated word, ignoring ASCII case. */
static bool
word_eq(const char *s, size_t len, const char *word)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (word[i] == '\0' || lower(s[i]) != word[i])
            return false;
    return word[len] == '\0';
}

static void
trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
}

/* Parses a whole decimal number (digits only). Returns 0, or -1 when empty, not
 * digits or above UINT64_MAX. */
static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Parses "512M", "1 GiB", "4096". Returns 0, or -1 for bad syntax or overflow. */
static int
parse_size(const char *s, size_t len, uint64_t *out)
{
    static const char *const names[][2] = {{"k", "kib"}, {"m", "mib"}, {"g", "gib"}, {"t", "tib"}};
    size_t n = 0, i;
    uint64_t v, mult = 1;
    const char *suffix;
    size_t suffix_len;

    while (n < len && s[n] >= '0' && s[n] <= '9')
        n++;
    if (parse_u64(s, n, &v) < 0)
        return -1;
    suffix = s + n;
    suffix_len = len - n;
    while (suffix_len > 0 && (*suffix == ' ' || *suffix == '\t')) {
        suffix++;
        suffix_len--;
    }
    if (suffix_len > 0 && !word_eq(suffix, suffix_len, "b")) {
        for (i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (word_eq(suffix, suffix_len, names[i][0]) ||
                word_eq(suffix, suffix_len, names[i][1])) {
                mult = (uint64_t)1 << (10 * (i + 1));
                break;
            }
        }
        if (i == sizeof names / sizeof names[0])
            return -1;
    }
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static int
parse_bool(const char *s, size_t len, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (word_eq(s, len, yes[i])) {
            *out = true;
            return 0;
        }
        if (word_eq(s, len, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static bool
is_host_name(const char *s, size_t len)
{
    size_t i, label = 0;
    bool all_digits = true;

    if (len == 0 || len > CONFIG_HOST_CAP - 1)
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (c == '-') {
            if (label == 0)
                return false;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
            return false;
        }
        if (c < '0' || c > '9')
            all_digits = false;
        if (++label > 63)
            return false;
    }
    if (s[len - 1] == '-')
        return false;
    /* Digits and dots only is a mistyped IPv4 address, not a name. */
    return !all_digits;
}

/*
 * Parses HOST[:PORT] or [IPV6][:PORT] into *out. A missing port is
 * CONFIG_DEFAULT_PORT. Names are refused unless names_ok; port 0 unless
 * zero_port_ok. Returns 0, or -1 with the reason in why.
 */
static int
parse_addr(const char *s, size_t len, bool names_ok, bool zero_port_ok, struct config_addr *out,
           char *why, size_t why_cap)
{
    struct config_addr a;
    const char *host, *port = NULL, *colon;
    size_t host_len, port_len = 0;
    unsigned char bin[16];
    uint64_t p = CONFIG_DEFAULT_PORT;

    memset(&a, 0, sizeof a);
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) {
            set_err(why, why_cap, "'[' without a closing ']'");
            return -1;
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < s + len) {
            if (close[1] != ':') {
                set_err(why, why_cap, "expected ':' and a port after ']'");
                return -1;
            }
            port = close + 2;
            port_len = (size_t)(s + len - port);
        }
        if (host_len == 0 || host_len >= CONFIG_HOST_CAP)
            goto bad_v6;
        memcpy(a.host, host, host_len);
        if (inet_pton(AF_INET6, a.host, bin) != 1)
            goto bad_v6;
        a.kind = CONFIG_ADDR_IPV6;
    } else {
        colon = memchr(s, ':', len);
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(s + len - colon - 1)) != NULL) {
            set_err(why, why_cap, "write IPv6 addresses in brackets, like [::1]:7447");
            return -1;
        }
        host = s;
        host_len = colon != NULL ? (size_t)(colon - s) : len;
        if (colon != NULL) {
            port = colon + 1;
            port_len = (size_t)(s + len - port);
        }
        if (host_len == 0) {
            set_err(why, why_cap, "the host is missing");
            return -1;
        }
        if (host_len >= CONFIG_HOST_CAP) {
            set_err(why, why_cap, "the host name is too long");
            return -1;
        }
        memcpy(a.host, host, host_len);
        if (inet_pton(AF_INET, a.host, bin) == 1) {
            a.kind = CONFIG_ADDR_IPV4;
        } else if (!names_ok) {
            set_err(why, why_cap, "expected an IP address like 0.0.0.0 or [::], not a name");
            return -1;
        } else if (is_host_name(host, host_len)) {
            a.kind = CONFIG_ADDR_NAME;
        } else {
            set_err(why, why_cap, "not an IPv4 address or a host name");
            return -1;
        }
    }
    if (port != NULL && (parse_u64(port, port_len, &p) < 0 || port_len > 5 || p > 65535 ||
                         (p == 0 && !zero_port_ok))) {
        set_err(why, why_cap, "the port must be a number from %d to 65535", zero_port_ok ? 0 : 1);
        return -1;
    }
    a.port = (uint16_t)p;
    *out = a;
    return 0;

bad_v6:
    set_err(why, why_cap, "not an IPv6 address");
    return -1;
}

/* ---- Setting one option ---- */

/* Returns the next item of a list (separated by white space or commas), or
 * false at the end. */
static bool
next_item(const char **s, const char *end, const char **item, size_t *item_len)
{
    const char *p = *s;

    while (p < end && (is_space(*p) || *p == ','))
        p++;
    if (p == end)
        return false;
    *item = p;
    while (p < end && !is_space(*p) && *p != ',')
        p++;
    *item_len = (size_t)(p - *item);
    *s = p;
    return true;
}

static int
set_path(char **field, const char *s, size_t len, const char *key, char *err, size_t err_cap)
{
    char *copy = NULL;
    size_t i;

    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            set_err(err, err_cap, "invalid value for %s: a path may not contain control characters",
                    key);
            return -1;
        }
    }
    if (len > 0) {
        copy = malloc(len + 1);
        if (copy == NULL) {
            set_err(err, err_cap, "out of memory");
            return -1;
        }
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    free(*field);
    *field = copy;
    return 0;
}

static bool
addr_eq(const struct config_addr *a, const struct config_addr *b)
{
    return a->port == b->port && a->kind == b->kind && strcmp(a->host, b->host) == 0;
}

/* Whether a listening socket on a would take the port of b too (one of them
 * is a wildcard address covering the other's): two binds would clash. */
static bool
listens_over(const struct config_addr *a, const struct config_addr *b)
{
    bool a_any6 = a->kind == CONFIG_ADDR_IPV6 && strcmp(a->host, "::") == 0;
    bool b_any6 = b->kind == CONFIG_ADDR_IPV6 && strcmp(b->host, "::") == 0;
    bool a_any4 = a->kind == CONFIG_ADDR_IPV4 && strcmp(a->host, "0.0.0.0") == 0;
    bool b_any4 = b->kind == CONFIG_ADDR_IPV4 && strcmp(b->host, "0.0.0.0") == 0;

    /* On Linux "::" takes the IPv4 addresses too (unless bindv6only is set). */
    return a_any6 || b_any6 || (a_any4 && b->kind == CONFIG_ADDR_IPV4) ||
           (b_any4 && a->kind == CONFIG_ADDR_IPV4);
}

/* Adds the items of s to cfg->peers (all or none); no items clears the list. */
static int
add_peers(struct config *cfg, const char *s, size_t len, const char *key, char *err, size_t err_cap)
{
    const char *p = s, *end = s + len, *item;
    size_t item_len, n = cfg->n_peers, i;
    struct config_addr *peers, a;
    char why[128], q[QUOTE_MAX + 4];

    if (!next_item(&p, end, &item, &item_len)) {
        free(cfg->peers);
        cfg->peers = NULL;
        cfg->n_peers = 0;
        return 0;
    }
    peers = malloc(CONFIG_MAX_PEERS * sizeof *peers);
    if (peers == NULL) {
        set_err(err, err_cap, "out of memory");
        return -1;
    }
    if (n > 0)
        memcpy(peers, cfg->peers, n * sizeof *peers);
    p = s;
    while (next_item(&p, end, &item, &item_len)) {
        if (parse_addr(item, item_len, true, false, &a, why, sizeof why) < 0) {
            quote(q, item, item_len);
            set_err(err, err_cap, "invalid value '%s' for %s: %s", q, key, why);
            goto fail;
        }
        for (i = 0; i < n && !addr_eq(&peers[i], &a); i++)
            ;
        if (i < n)
            continue;
        if (n == CONFIG_MAX_PEERS) {
            set_err(err, err_cap, "too many peers: at most %d", CONFIG_MAX_PEERS);
            goto fail;
        }
        peers[n++] = a;
    }
    free(cfg->peers);
    cfg->peers = peers;
    cfg->n_peers = n;
    return 0;

fail:
    free(peers);
    return -1;
}

/* Adds the keys of s to cfg->publishers (all or none); no keys clears the list. */
static int
add_publishers(struct config *cfg, const char *s, size_t len, const char *key, char *err,
               size_t err_cap)
{
    const char *p = s, *end = s + len, *item;
    size_t item_len, n = cfg->n_publishers, i;
    uint8_t(*keys)[SZ_PUBLIC_KEY_LEN], pk[SZ_PUBLIC_KEY_LEN];
    char q[QUOTE_MAX + 4];
    const char *why;
    int rc;

    if (!next_item(&p, end, &item, &item_len)) {
        free(cfg->publishers);
        cfg->publishers = NULL;
        cfg->n_publishers = 0;
        return 0;
    }
    /* Count first: the list can be long, so it grows only as far as needed. */
    p = s;
    for (i = n; next_item(&p, end, &item, &item_len); i++)
        ;
    if (i > CONFIG_MAX_PUBLISHERS)
        i = CONFIG_MAX_PUBLISHERS + 1;
    keys = malloc(i * sizeof *keys);
    if (keys == NULL) {
        set_err(err, err_cap, "out of memory");
        return -1;
    }
    if (n > 0)
        memcpy(keys, cfg->publishers, n * sizeof *keys);
    p = s;
    while (next_item(&p, end, &item, &item_len)) {
        rc = sz_pk_from_text(item, item_len, pk);
        if (rc != 0) {
            quote(q, item, item_len);
            if (rc == -SZ_ECHECKSUM)
                why = "the checksum does not match: the key is mistyped";
            else if (item_len == SZ_PK_TEXT_LEN && memcmp(item, SZ_PK_TEXT_PREFIX, 5) == 0)
                why = "not a valid key: a character is mistyped";
            else
                why = "not a public key (szpk1 and 58 letters and digits)";
            set_err(err, err_cap, "invalid value '%s' for %s: %s", q, key, why);
            goto fail;
        }
        for (i = 0; i < n && memcmp(keys[i], pk, SZ_PUBLIC_KEY_LEN) != 0; i++)
            ;
        if (i < n)
            continue;
        if (n == CONFIG_MAX_PUBLISHERS) {
            set_err(err, err_cap, "too many publishers: at most %d", CONFIG_MAX_PUBLISHERS);
            goto fail;
        }
        memcpy(keys[n++], pk, SZ_PUBLIC_KEY_LEN);
    }
    free(cfg->publishers);
    cfg->publishers = keys;
    cfg->n_publishers = n;
    return 0;

fail:
    free(keys);
    return -1;
}

/* Applies value s[0..len) (trimmed) to option o. cfg is unchanged on failure. */
static int
set_opt(struct config *cfg, const struct opt *o, const char *s, size_t len, char *err,
        size_t err_cap)
{
    void *field = (char *)cfg + o->offset;
    const char *key = o->pub.key;
    char q[QUOTE_MAX + 4], why[128], lo[24], hi[24];
    uint64_t v;
    bool b;
    size_t i;

    quote(q, s, len);
    switch (o->kind) {
    case K_PATH:
        return set_path(field, s, len, key, err, err_cap);
    case K_LISTEN:
        if (parse_addr(s, len, false, true, field, why, sizeof why) < 0) {
            set_err(err, err_cap,
                    "invalid value '%s' for %s: %s (expected an address like 0.0.0.0:7447 or "
                    "[::]:7447)",
                    q, key, why);
            return -1;
        }
        return 0;
    case K_LISTEN_OPT:
        if (len == 0) {
            memset(field, 0, sizeof(struct config_addr));
            return 0;
        }
        if (parse_addr(s, len, false, true, field, why, sizeof why) < 0) {
            set_err(err, err_cap,
                    "invalid value '%s' for %s: %s (expected an address like 127.0.0.1:7448, or "
                    "nothing)",
                    q, key, why);
            return -1;
        }
        return 0;
    case K_PEERS:
        return add_peers(cfg, s, len, key, err, err_cap);
    case K_PROXY: {
        struct config_addr a;
        const char *hp = s, *colon;
        size_t hp_len = len;
        if (len == 0) {
            memset(field, 0, sizeof a);
            return 0;
        }
        {
            /* A user name and password in it stay out of the messages (and so the logs). */
            const char *at = NULL; /* the last '@': a password may hold one too */
            for (i = len; i > 0 && at == NULL; i--)
                if (s[i - 1] == '@')
                    at = s + i - 1;
            if (at != NULL) {
                char red[QUOTE_MAX + 16];
                const char *sep = NULL;
                for (i = 0; i + 3 <= (size_t)(at - s); i++)
                    if (memcmp(s + i, "://", 3) == 0) {
                        sep = s + i + 3;
                        break;
                    }
                size_t pre = sep != NULL ? (size_t)(sep - s) : 0, post = len - (size_t)(at - s);
                if (pre > QUOTE_MAX / 2)
                    pre = QUOTE_MAX / 2;
                if (post > QUOTE_MAX / 2)
                    post = QUOTE_MAX / 2;
                memcpy(red, s, pre);
                memcpy(red + pre, "...", 3);
                memcpy(red + pre + 3, at, post);
                quote(q, red, pre + 3 + post);
            }
        }
        if (len >= 10 && memcmp(s, "socks5h://", 10) == 0) {
            hp += 10;
            hp_len -= 10;
        } else if (len >= 9 && memcmp(s, "socks5://", 9) == 0) {
            hp += 9;
            hp_len -= 9;
        }
        for (i = 0; i + 3 <= hp_len && memcmp(hp + i, "://", 3) != 0; i++)
            ;
        if (i + 3 <= hp_len) {
            set_err(err, err_cap,
                    "invalid value '%s' for %s: only a SOCKS5 proxy can be used, written "
                    "HOST:PORT or socks5h://HOST:PORT",
                    q, key);
            return -1;
        }
        if (memchr(hp, '@', hp_len) != NULL) {
            set_err(err, err_cap,
                    "invalid value '%s' for %s: a user name and password for the proxy are not "
                    "supported (Tor's SocksPort takes none): give HOST:PORT",
                    q, key);
            return -1;
        }
        /* The port is not the peers' default: it must be given. */
        for (colon = hp + hp_len; colon > hp && colon[-1] != ':' && colon[-1] != ']'; colon--)
            ;
        if (colon == hp || colon[-1] != ':' || colon == hp + hp_len) {
            set_err(err, err_cap,
                    "invalid value '%s' for %s: give the SOCKS5 proxy's address and port, as "
                    "127.0.0.1:9050 for Tor",
                    q, key);
            return -1;
        }
        if (parse_addr(hp, hp_len, true, false, &a, why, sizeof why) < 0) {
            set_err(err, err_cap,
                    "invalid value '%s' for %s: %s (expected a SOCKS5 proxy's HOST:PORT, as "
                    "127.0.0.1:9050 for Tor)",
                    q, key, why);
            return -1;
        }
        memcpy(field, &a, sizeof a);
        return 0;
    }
    case K_KEYS:
        return add_publishers(cfg, s, len, key, err, err_cap);
    case K_LOG_LEVEL:
        for (i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
            if (word_eq(s, len, level_names[i])) {
                *(enum log_level *)field = (enum log_level)i;
                return 0;
            }
        }
        set_err(err, err_cap, "invalid value '%s' for %s: expected error, warn, info or debug", q,
                key);
        return -1;
    case K_CARRY:
        if (word_eq(s, len, "any") || word_eq(s, len, "list")) {
            *(enum config_carry *)field = lower(s[0]) == 'a' ? CONFIG_CARRY_ANY : CONFIG_CARRY_LIST;
            return 0;
        }
        set_err(err, err_cap, "invalid value '%s' for %s: expected any or list", q, key);
        return -1;
    case K_FSYNC:
        if (parse_bool(s, len, &b) < 0) {
            set_err(err, err_cap, "invalid value '%s' for %s: expected yes or no", q, key);
            return -1;
        }
        if (!b) {
            set_err(err, err_cap,
                    "%s cannot be turned off: the store syncs every bundle to disk before "
                    "acknowledging it, so that a crash loses nothing acknowledged",
                    key);
            return -1;
        }
        return 0;
    case K_U32:
    case K_INT:
        if (parse_u64(s, len, &v) < 0 || v < o->min || v > o->max) {
            set_err(err, err_cap,
                    "invalid value '%s' for %s: expected a whole number%s%s from %llu to %llu", q,
                    key, o->unit[0] != '\0' ? " of " : "", o->unit, (unsigned long long)o->min,
                    (unsigned long long)o->max);
            return -1;
        }
        if (o->kind == K_U32)
            *(uint32_t *)field = (uint32_t)v;
        else
            *(int *)field = (int)v;
        return 0;
    case K_SIZE:
        if (parse_size(s, len, &v) < 0) {
            set_err(err, err_cap,
                    "invalid value '%s' for %s: expected a size like 512M (suffixes K, M, G, T "
                    "or KiB, MiB, GiB, TiB; all powers of 1024)",
                    q, key);
            return -1;
        }
        if ((v != 0 || !o->zero_ok) && (v < o->min || v > o->max)) {
            format_size(lo, sizeof lo, o->min);
            format_size(hi, sizeof hi, o->max);
            if (o->zero_ok)
                set_err(err, err_cap,
                        "invalid value '%s' for %s: expected 0 (no limit) or a size from %s to "
                        "%s",
                        q, key, lo, hi);
            else
                set_err(err, err_cap, "invalid value '%s' for %s: expected a size from %s to %s", q,
                        key, lo, hi);
            return -1;
        }
        *(uint64_t *)field = v;
        return 0;
    }
    set_err(err, err_cap, "internal error: option %s has no parser", key);
    return -1;
}

/* The option whose key or flag is name[0..len), or NULL. */
static const struct opt *
find_opt(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < N_OPTIONS; i++) {
        const struct opt *o = &options[i];
        if ((strlen(o->pub.key) == len && memcmp(o->pub.key, name, len) == 0) ||
            (strlen(o->pub.flag) == len && memcmp(o->pub.flag, name, len) == 0))
            return o;
    }
    return NULL;
}

int
config_set(struct config *cfg, const char *key, const char *value, char *err, size_t err_cap)
{
    const struct opt *o = find_opt(key, strlen(key));
    char q[QUOTE_MAX + 4];
    size_t len;

    if (o == NULL) {
        quote(q, key, strlen(key));
        set_err(err, err_cap, "unknown option '%s'", q);
        return -1;
    }
    len = strlen(value);
    trim(&value, &len);
    return set_opt(cfg, o, value, len, err, err_cap);
}

/* ---- Lifetime, copies, comparison ---- */

void
config_init_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    memcpy(cfg->listen.host, CONFIG_DEFAULT_LISTEN_HOST, sizeof CONFIG_DEFAULT_LISTEN_HOST);
    cfg->listen.port = CONFIG_DEFAULT_PORT;
    cfg->listen.kind = CONFIG_ADDR_IPV4;
    cfg->log_level = CONFIG_DEFAULT_LOG_LEVEL;
    cfg->batch_window_ms = CONFIG_DEFAULT_BATCH_WINDOW_MS;
    cfg->batch_max_articles = CONFIG_DEFAULT_BATCH_MAX_ARTICLES;
    cfg->level = CONFIG_DEFAULT_LEVEL;
    cfg->max_bytes = CONFIG_DEFAULT_MAX_BYTES;
    cfg->publisher_max_bytes = CONFIG_DEFAULT_PUBLISHER_MAX_BYTES;
    cfg->expiry_days = CONFIG_DEFAULT_EXPIRY_DAYS;
    cfg->remember_days = CONFIG_DEFAULT_REMEMBER_DAYS;
    cfg->max_bundle_bytes = CONFIG_DEFAULT_MAX_BUNDLE_BYTES;
    cfg->carry = CONFIG_CARRY_ANY;
    cfg->max_inbound = CONFIG_DEFAULT_MAX_INBOUND;
    cfg->max_handshakes_per_address = CONFIG_DEFAULT_MAX_HANDSHAKES_PER_ADDRESS;
    cfg->outbound_target = CONFIG_DEFAULT_OUTBOUND_TARGET;
    cfg->ban_seconds = CONFIG_DEFAULT_BAN_SECONDS;
}

void
config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->data_dir);
    free(cfg->socket_path);
    free(cfg->publisher_key);
    free(cfg->passphrase_file);
    free(cfg->network_key);
    free(cfg->proxy_auth_file);
    free(cfg->publishers);
    free(cfg->peers);
    memset(cfg, 0, sizeof *cfg);
}

static int
dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst == NULL ? -1 : 0;
}

static int
dup_mem(void **dst, const void *src, size_t len)
{
    *dst = NULL;
    if (len == 0)
        return 0;
    *dst = malloc(len);
    if (*dst == NULL)
        return -1;
    memcpy(*dst, src, len);
    return 0;
}

/* Deep copy of src into *dst. Returns 0, or -1 when out of memory (dst then
 * holds nothing to free). */
static int
config_copy(struct config *dst, const struct config *src)
{
    void *publishers, *peers;
    int rc = 0;

    *dst = *src;
    rc |= dup_str(&dst->data_dir, src->data_dir);
    rc |= dup_str(&dst->socket_path, src->socket_path);
    rc |= dup_str(&dst->publisher_key, src->publisher_key);
    rc |= dup_str(&dst->passphrase_file, src->passphrase_file);
    rc |= dup_str(&dst->network_key, src->network_key);
    rc |= dup_str(&dst->proxy_auth_file, src->proxy_auth_file);
    rc |= dup_mem(&publishers, src->publishers, src->n_publishers * sizeof *src->publishers);
    rc |= dup_mem(&peers, src->peers, src->n_peers * sizeof *src->peers);
    dst->publishers = publishers;
    dst->peers = peers;
    if (rc != 0) {
        config_free(dst);
        return -1;
    }
    return 0;
}

static bool
str_eq(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

bool
config_equal(const struct config *a, const struct config *b)
{
    size_t i;

    if (!str_eq(a->data_dir, b->data_dir) || !str_eq(a->socket_path, b->socket_path) ||
        !addr_eq(&a->listen, &b->listen) || !addr_eq(&a->onion_listen, &b->onion_listen) ||
        a->log_level != b->log_level || !str_eq(a->publisher_key, b->publisher_key) ||
        !str_eq(a->passphrase_file, b->passphrase_file) ||
        a->batch_window_ms != b->batch_window_ms ||
        a->batch_max_articles != b->batch_max_articles || a->level != b->level ||
        a->max_bytes != b->max_bytes || a->publisher_max_bytes != b->publisher_max_bytes ||
        a->expiry_days != b->expiry_days || a->remember_days != b->remember_days ||
        a->max_bundle_bytes != b->max_bundle_bytes || a->carry != b->carry ||
        a->n_publishers != b->n_publishers || a->n_peers != b->n_peers ||
        !str_eq(a->network_key, b->network_key) || !addr_eq(&a->proxy, &b->proxy) ||
        !str_eq(a->proxy_auth_file, b->proxy_auth_file) || a->max_inbound != b->max_inbound ||
        a->max_handshakes_per_address != b->max_handshakes_per_address ||
        a->outbound_target != b->outbound_target || a->ban_seconds != b->ban_seconds)
        return false;
    for (i = 0; i < a->n_publishers; i++)
        if (memcmp(a->publishers[i], b->publishers[i], SZ_PUBLIC_KEY_LEN) != 0)
            return false;
    for (i = 0; i < a->n_peers; i++)
        if (!addr_eq(&a->peers[i], &b->peers[i]))
            return false;
    return true;
}

static void
add_name(char *names, size_t cap, size_t *n, const char *name)
{
    size_t len = strlen(names);

    if (len < cap)
        snprintf(names + len, cap - len, "%s%s", *n > 0 ? ", " : "", name);
    (*n)++;
}

size_t
config_restart_only_changes(const struct config *running, const struct config *fresh, char *names,
                            size_t cap)
{
    const struct config *a = running, *b = fresh;
    size_t n = 0, i;
    bool peers = a->n_peers != b->n_peers;

    if (cap > 0)
        names[0] = '\0';
    for (i = 0; !peers && i < a->n_peers; i++)
        peers = !addr_eq(&a->peers[i], &b->peers[i]);
    if (!str_eq(a->data_dir, b->data_dir))
        add_name(names, cap, &n, "data_dir");
    if (!str_eq(a->socket_path, b->socket_path))
        add_name(names, cap, &n, "socket");
    if (!addr_eq(&a->listen, &b->listen))
        add_name(names, cap, &n, "listen");
    if (!addr_eq(&a->onion_listen, &b->onion_listen))
        add_name(names, cap, &n, "onion_listen");
    if (!str_eq(a->publisher_key, b->publisher_key))
        add_name(names, cap, &n, "publisher_key");
    if (!str_eq(a->passphrase_file, b->passphrase_file))
        add_name(names, cap, &n, "passphrase_file");
    if (a->batch_window_ms != b->batch_window_ms)
        add_name(names, cap, &n, "batch_window_ms");
    if (a->batch_max_articles != b->batch_max_articles)
        add_name(names, cap, &n, "batch_max_articles");
    if (a->level != b->level)
        add_name(names, cap, &n, "level");
    if (peers)
        add_name(names, cap, &n, "peers");
    if (!str_eq(a->network_key, b->network_key))
        add_name(names, cap, &n, "network_key");
    if (!addr_eq(&a->proxy, &b->proxy))
        add_name(names, cap, &n, "proxy");
    if (!str_eq(a->proxy_auth_file, b->proxy_auth_file))
        add_name(names, cap, &n, "proxy_auth_file");
    if (a->max_inbound != b->max_inbound)
        add_name(names, cap, &n, "max_inbound");
    if (a->max_handshakes_per_address != b->max_handshakes_per_address)
        add_name(names, cap, &n, "max_handshakes_per_address");
    if (a->outbound_target != b->outbound_target)
        add_name(names, cap, &n, "outbound_target");
    if (a->ban_seconds != b->ban_seconds)
        add_name(names, cap, &n, "ban_seconds");
    return n;
}

/* ---- The INI file ---- */

struct ini_ctx {
    struct config *cfg; /* the scratch copy being filled */
    const char *name;   /* file name for messages */
    const char *p;      /* next unread byte */
    const char *end;
    unsigned line;                /* number of the line last handed to inih */
    bool indented;                /* that line starts with white space */
    const struct opt *last_opt;   /* option of the last key line */
    bool key_in_section;          /* a key line since the last section header (inih's prev_name) */
    unsigned last_line;           /* and its line number */
    unsigned set_line[N_OPTIONS]; /* where each option was set in this file */
    bool failed;
    unsigned fail_line;
    char *err;
    size_t err_cap;
};

static void ctx_fail(struct ini_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first error, as "NAME:LINE: message". */
static void
ctx_fail(struct ini_ctx *c, const char *fmt, ...)
{
    char msg[MSG_CAP];
    va_list ap;

    if (c->failed)
        return;
    c->failed = true;
    c->fail_line = c->line;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(c->err, c->err_cap, "%s:%u: %s", c->name, c->line, msg);
}

static bool
is_section(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < N_SECTIONS; i++)
        if (strlen(sections[i]) == len && memcmp(sections[i], s, len) == 0)
            return true;
    return false;
}

/* Checks a section header line "[name]" (s is past the leading white space). */
static void
check_section_line(struct ini_ctx *c, const char *s, size_t len)
{
    const char *close = memchr(s, ']', len);
    const char *rest;
    char q[QUOTE_MAX + 4];

    if (close == NULL) {
        ctx_fail(c, "'[' without a closing ']'");
        return;
    }
    quote(q, s + 1, (size_t)(close - s - 1));
    if (!is_section(s + 1, (size_t)(close - s - 1))) {
        ctx_fail(c,
                 "unknown section [%s] (the sections are [daemon], [publish], [store], "
                 "[policy] and [network])",
                 q);
        return;
    }
    for (rest = close + 1; rest < s + len && is_space(*rest); rest++)
        ;
    if (rest < s + len && *rest != ';' && *rest != '#')
        ctx_fail(c, "unexpected text after [%s]", q);
}

/*
 * inih's line reader (fgets() semantics): hands inih one physical line per
 * call, so that inih's line count is ours. Stops the parse (returns NULL)
 * after the first error.
 */
static char *
read_line(char *str, int num, void *stream)
{
    struct ini_ctx *c = stream;
    const char *line = c->p, *nl, *s;
    size_t len, max, skip = 0;

    if (c->failed || c->p == c->end || num < 3)
        return NULL;
    nl = memchr(line, '\n', (size_t)(c->end - line));
    len = (size_t)((nl != NULL ? nl : c->end) - line);
    c->p = nl != NULL ? nl + 1 : c->end;
    c->line++;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (memchr(line, '\0', len) != NULL) {
        ctx_fail(c, "the line contains a NUL byte (is this a text file?)");
        return NULL;
    }
    /* inih skips a UTF-8 byte order mark at the start of the file. */
    if (c->line == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
        skip = 3;
    s = line + skip;
    c->indented = len > skip && is_space(*s);
    while (s < line + len && is_space(*s))
        s++;
    max = (size_t)num - 2; /* room for "\n" and the NUL */
    if (len > max) {
        /* A long comment is harmless: hand inih its start. */
        if (s < line + len && (*s == ';' || *s == '#')) {
            len = max;
        } else {
            ctx_fail(c,
                     "the line is longer than %zu characters: continue a list on indented "
                     "lines, or repeat its key",
                     max);
            return NULL;
        }
    }
    /*
     * inih reads an indented line as more of the previous key's value only
     * after a key of the same section; otherwise "  [name]" is a header too.
     */
    if (s < line + len && *s == '[' && (!c->indented || !c->key_in_section)) {
        check_section_line(c, s, (size_t)(line + len - s));
        if (c->failed)
            return NULL;
        c->key_in_section = false;
    }
    memcpy(str, line, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    return str;
}

/* Levenshtein distance of two short strings, ignoring ASCII case; large for
 * long ones. */
static size_t
distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j, prev[65], cur[65];

    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (lower(a[i - 1]) != lower(b[j - 1]));
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

/* Reports an unknown key: where it belongs, or what it was probably meant to be. */
static void
unknown_key(struct ini_ctx *c, const char *section, const char *name)
{
    const struct opt *best = NULL;
    size_t i, d, best_d = SIZE_MAX;
    char q[QUOTE_MAX + 4];

    quote(q, name, strlen(name));
    for (i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].pub.key, name) == 0) {
            ctx_fail(c, "unknown key '%s' in [%s] (it belongs in [%s])", q, section,
                     options[i].pub.section);
            return;
        }
        d = distance(name, options[i].pub.key);
        /* Prefer a near key of this section to an equally near one elsewhere. */
        if (d < best_d || (d == best_d && strcmp(options[i].pub.section, section) == 0)) {
            best_d = d;
            best = &options[i];
        }
    }
    if (best != NULL && best_d <= 2 && best_d < strlen(name)) {
        if (strcmp(best->pub.section, section) == 0)
            ctx_fail(c, "unknown key '%s' in [%s] (did you mean '%s'?)", q, section, best->pub.key);
        else
            ctx_fail(c, "unknown key '%s' in [%s] (did you mean '%s' in [%s]?)", q, section,
                     best->pub.key, best->pub.section);
        return;
    }
    ctx_fail(c, "unknown key '%s' in [%s]", q, section);
}

static int
handle_key(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    const struct opt *o;
    char msg[MSG_CAP], q[QUOTE_MAX + 4];
    size_t len, i;

    if (c->failed)
        return 0;
    c->key_in_section = true;
    len = strlen(value);
    trim(&value, &len);
    /*
     * inih passes an indented line as more of the previous key's value; it is
     * only a key of its own when it is the first of its section.
     */
    o = c->last_opt;
    if (c->indented && o != NULL && c->last_line < c->line && strcmp(o->pub.key, name) == 0 &&
        strcmp(o->pub.section, section) == 0) {
        /* inih cuts a ';' comment after white space off a key's line, not
         * off the lines continuing it. */
        for (i = 1; i < len; i++)
            if (value[i] == ';' && is_space(value[i - 1])) {
                len = i;
                trim(&value, &len);
                break;
            }
        if (!o->pub.list) {
            ctx_fail(c,
                     "this line is indented, so it continues the value of '%s' from line %u; "
                     "remove the indentation (only lists continue on indented lines)",
                     o->pub.key, c->last_line);
            return 0;
        }
    } else {
        quote(q, name, strlen(name));
        if (section[0] == '\0') {
            o = find_opt(name, strlen(name));
            if (o != NULL && strcmp(o->pub.key, name) == 0)
                ctx_fail(c, "'%s' is outside any section: put it under [%s]", q, o->pub.section);
            else /* not a setting's name: not repeated (it may be a secret's text) */
                ctx_fail(c, "a line of 'key = value' outside any section, and its key is no "
                            "setting's: is this the configuration file?");
            return 0;
        }
        if (!is_section(section, strlen(section))) {
            quote(q, section, strlen(section));
            ctx_fail(c,
                     "unknown section [%s] (the sections are [daemon], [publish], [store], "
                     "[policy] and [network])",
                     q);
            return 0;
        }
        for (i = 0; i < N_OPTIONS; i++)
            if (strcmp(options[i].pub.section, section) == 0 &&
                strcmp(options[i].pub.key, name) == 0)
                break;
        if (i == N_OPTIONS) {
            unknown_key(c, section, name);
            return 0;
        }
        o = &options[i];
        if (!o->pub.list && c->set_line[i] != 0) {
            ctx_fail(c, "'%s' is already set on line %u", o->pub.key, c->set_line[i]);
            return 0;
        }
        c->set_line[i] = c->line;
        c->last_opt = o;
        c->last_line = c->line;
    }
    /* In the file, mistakes that would still make a path, somewhere nobody meant
     * (on the command line there are no comments, and the shell takes the quotes). */
    if (o->kind == K_PATH && len >= 2 && (value[0] == '"' || value[0] == '\'') &&
        value[len - 1] == value[0]) {
        ctx_fail(c,
                 "invalid value for %s: write the path without quotes (they would be part of it)",
                 o->pub.key);
        return 0;
    }
    if (o->kind == K_PATH && (strstr(value, " #") != NULL || strstr(value, "\t#") != NULL)) {
        ctx_fail(c,
                 "invalid value for %s: a path with ' #' in it; note that a comment after a "
                 "value starts with ';', not '#'",
                 o->pub.key);
        return 0;
    }
    if (set_opt(c->cfg, o, value, len, msg, sizeof msg) < 0) {
        /* '#' starts a comment only at the start of a line: say so when it is the cause. */
        if (strstr(value, " #") != NULL || strstr(value, "\t#") != NULL)
            ctx_fail(c, "%s; note that a comment after a value starts with ';', not '#'", msg);
        else
            ctx_fail(c, "%s", msg);
        return 0;
    }
    return 1;
}

/* Writes "NAME:LINE: syntax error..." for line number `line` of buf. */
static void
syntax_error(const char *name, const char *buf, size_t len, unsigned line, char *err,
             size_t err_cap)
{
    const char *p = buf, *end = buf + len, *nl;
    size_t n;
    unsigned i;

    for (i = 1; i < line && p < end; i++) {
        nl = memchr(p, '\n', (size_t)(end - p));
        p = nl != NULL ? nl + 1 : end;
    }
    nl = memchr(p, '\n', (size_t)(end - p));
    n = (size_t)((nl != NULL ? nl : end) - p);
    trim(&p, &n);
    /* The line is not repeated: a secret file given as the configuration
     * by mistake would have its first line in the log. */
    set_err(err, err_cap, "%s:%u: syntax error: expected 'key = value', '[section]' or a comment%s",
            name, line, memchr(p, '=', n) == NULL ? " (this line has no '=')" : "");
}

int
config_parse_string(struct config *cfg, const char *name, const char *buf, size_t len, char *err,
                    size_t err_cap)
{
    struct ini_ctx *c;
    struct config scratch;
    int rc, ret = -1;

    c = calloc(1, sizeof *c);
    if (c == NULL || config_copy(&scratch, cfg) < 0) {
        free(c);
        set_err(err, err_cap, "%s: out of memory", name);
        return -1;
    }
    c->cfg = &scratch;
    c->name = name;
    c->p = buf;
    c->end = buf + len;
    c->err = err;
    c->err_cap = err_cap;
    rc = ini_parse_stream(read_line, c, handle_key, c);
    if (rc > 0 && (!c->failed || (unsigned)rc < c->fail_line)) {
        syntax_error(name, buf, len, (unsigned)rc, err, err_cap);
        goto out;
    }
    if (c->failed)
        goto out;
    if (rc < 0) {
        set_err(err, err_cap, "%s: out of memory", name);
        goto out;
    }
    config_free(cfg);
    *cfg = scratch;
    ret = 0;
out:
    if (ret != 0)
        config_free(&scratch);
    free(c);
    return ret;
}

int
config_load_file(struct config *cfg, const char *path, char *err, size_t err_cap)
{
    FILE *fp;
    struct stat st;
    char *buf = NULL;
    size_t len = 0, n;
    int ret = -1;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        set_err(err, err_cap, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(fp), &st) < 0) {
        set_err(err, err_cap, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        set_err(err, err_cap, "%s: is a directory, not a config file", path);
        goto out;
    }
    buf = malloc(CONFIG_MAX_FILE_LEN + 1);
    if (buf == NULL) {
        set_err(err, err_cap, "%s: out of memory", path);
        goto out;
    }
    /* Read one byte past the limit to tell "too large" from "exactly the limit". */
    while ((n = fread(buf + len, 1, CONFIG_MAX_FILE_LEN + 1 - len, fp)) > 0)
        len += n;
    if (ferror(fp)) {
        set_err(err, err_cap, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (len > CONFIG_MAX_FILE_LEN) {
        set_err(err, err_cap, "%s: larger than %u bytes: is this a config file?", path,
                CONFIG_MAX_FILE_LEN);
        goto out;
    }
    ret = config_parse_string(cfg, path, buf, len, err, err_cap);
out:
    free(buf);
    fclose(fp);
    return ret;
}

/* ---- Derived values and cross-checks ---- */

/* Returns a malloc'd "dir/name" (dir without its trailing slashes), or NULL. */
static char *
join(const char *dir, size_t dir_len, const char *name)
{
    size_t name_len = strlen(name);
    char *s;

    while (dir_len > 1 && dir[dir_len - 1] == '/')
        dir_len--;
    s = malloc(dir_len + 1 + name_len + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, dir, dir_len);
    if (dir_len == 1 && dir[0] == '/')
        dir_len = 0; /* "/" + "/name" would give "//name" */
    s[dir_len] = '/';
    memcpy(s + dir_len + 1, name, name_len + 1);
    return s;
}

char *
config_default_data_dir(const char *xdg_data_home, const char *home)
{
    if (xdg_data_home != NULL && xdg_data_home[0] == '/')
        return join(xdg_data_home, strlen(xdg_data_home), "samizdat");
    if (home != NULL && home[0] == '/')
        return join(home, strlen(home), ".local/share/samizdat");
    return strdup(CONFIG_SYSTEM_DATA_DIR);
}

int
config_finish(struct config *cfg, char *err, size_t err_cap)
{
    struct sockaddr_un addr;
    char *data_dir = NULL, *socket_path = NULL;
    const char *dir, *sock;
    uint64_t pub_max = cfg->publisher_max_bytes, bundle_max = cfg->max_bundle_bytes;
    int ret = -1;

    if (cfg->max_bundle_bytes_set == 0)
        cfg->max_bundle_bytes_set = cfg->max_bundle_bytes;

    /* Quotas: a smaller limit wins, so lower the larger ones to match it. */
    if (cfg->max_bytes != 0 && (pub_max == 0 || pub_max > cfg->max_bytes))
        pub_max = cfg->max_bytes;
    if (pub_max != 0 && bundle_max > pub_max)
        bundle_max = pub_max;

    if (cfg->carry == CONFIG_CARRY_LIST && cfg->n_publishers == 0 && cfg->publisher_key == NULL) {
        set_err(err, err_cap,
                "carry = list, but publishers lists no keys: this node would carry nothing");
        goto out;
    }
    if (cfg->carry == CONFIG_CARRY_ANY && cfg->n_publishers > 0) {
        set_err(err, err_cap,
                "publishers lists keys, but carry = any carries every publisher: set carry = "
                "list to carry only those");
        goto out;
    }
    if (cfg->onion_listen.host[0] != '\0' && cfg->onion_listen.port != 0 &&
        addr_eq(&cfg->onion_listen, &cfg->listen)) {
        set_err(err, err_cap,
                "onion_listen is the same address as listen: give the onion service its own "
                "port (as 127.0.0.1:7448)");
        goto out;
    }
    if (cfg->onion_listen.host[0] != '\0' && cfg->onion_listen.port != 0 &&
        cfg->onion_listen.port == cfg->listen.port &&
        listens_over(&cfg->listen, &cfg->onion_listen)) {
        set_err(err, err_cap,
                "onion_listen (%s, port %u) takes the port that listen (%s) takes on every "
                "address: give the onion service its own port (as 127.0.0.1:7448)",
                cfg->onion_listen.host, (unsigned)cfg->onion_listen.port, cfg->listen.host);
        goto out;
    }
    if (cfg->proxy_auth_file != NULL && cfg->proxy.port == 0) {
        set_err(err, err_cap, "proxy_auth_file is set, but proxy is not");
        goto out;
    }
    if (cfg->passphrase_file != NULL && cfg->publisher_key == NULL) {
        set_err(err, err_cap, "passphrase_file is set, but publisher_key is not");
        goto out;
    }

    dir = cfg->data_dir;
    if (dir == NULL) {
        data_dir = config_default_data_dir(getenv("XDG_DATA_HOME"), getenv("HOME"));
        if (data_dir == NULL)
            goto nomem;
        dir = data_dir;
    }
    sock = cfg->socket_path;
    if (sock == NULL) {
        socket_path = join(dir, strlen(dir), CONFIG_SOCKET_NAME);
        if (socket_path == NULL)
            goto nomem;
        sock = socket_path;
    }
    if (strlen(sock) >= sizeof addr.sun_path) {
        set_err(err, err_cap,
                "the control socket path %s is %zu bytes long, but a Unix socket path has at "
                "most %zu: set socket to a shorter path",
                sock, strlen(sock), sizeof addr.sun_path - 1);
        goto out;
    }

    if (data_dir != NULL) {
        cfg->data_dir = data_dir;
        data_dir = NULL;
    }
    if (socket_path != NULL) {
        cfg->socket_path = socket_path;
        socket_path = NULL;
    }
    cfg->publisher_max_bytes = pub_max;
    cfg->max_bundle_bytes = bundle_max;
    ret = 0;
    goto out;
nomem:
    set_err(err, err_cap, "out of memory");
out:
    free(data_dir);
    free(socket_path);
    return ret;
}

/* ---- The option table and --help ---- */

size_t
config_n_options(void)
{
    return N_OPTIONS;
}

const struct config_option *
config_option_at(size_t i)
{
    return i < N_OPTIONS ? &options[i].pub : NULL;
}

const struct config_option *
config_find_option(const char *name)
{
    const struct opt *o = find_opt(name, strlen(name));

    return o != NULL ? &o->pub : NULL;
}

#define HELP_INDENT 30
#define HELP_WIDTH 80

/* Writes text word-wrapped into the column from HELP_INDENT to HELP_WIDTH;
 * *col is the cursor's column. */
static void
wrap(FILE *out, const char *text, int *col)
{
    const char *p = text;

    while (*p != '\0') {
        const char *w = p;
        int n;

        while (*p != '\0' && *p != ' ')
            p++;
        n = (int)(p - w);
        if (*col > HELP_INDENT && *col + 1 + n > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_INDENT, "");
            *col = HELP_INDENT;
        } else if (*col > HELP_INDENT) {
            fputc(' ', out);
            (*col)++;
        }
        fprintf(out, "%.*s", n, w);
        *col += n;
        while (*p == ' ')
            p++;
    }
}

void
config_print_help(FILE *out)
{
    const char *section = "";
    char text[64];
    size_t i;

    fputs("Options (each is also a key of the config file, in the section shown; flags\n"
          "override the file, and list options add to the file's lists):\n",
          out);
    for (i = 0; i < N_OPTIONS; i++) {
        const struct config_option *o = &options[i].pub;
        int col;

        if (strcmp(section, o->section) != 0) {
            section = o->section;
            fprintf(out, "\n [%s]\n", section);
        }
        col = fprintf(out, "  --%s=%s", o->flag, o->metavar);
        if (col >= HELP_INDENT) {
            fprintf(out, "\n%*s", HELP_INDENT, "");
        } else {
            fprintf(out, "%*s", HELP_INDENT - col, "");
        }
        col = HELP_INDENT;
        wrap(out, o->help, &col);
        if (o->default_text != NULL && o->default_text[0] != '\0') {
            snprintf(text, sizeof text, "Default: %s.", o->default_text);
            wrap(out, text, &col);
        }
        fputc('\n', out);
    }
}

int
config_addr_format(const struct config_addr *a, char *buf, size_t cap)
{
    if (a->kind == CONFIG_ADDR_IPV6)
        return snprintf(buf, cap, "[%s]:%u", a->host, (unsigned)a->port);
    return snprintf(buf, cap, "%s:%u", a->host, (unsigned)a->port);
}
