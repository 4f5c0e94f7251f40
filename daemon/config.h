/*
 * Configuration of samizdatd. Every option has an embedded default; an INI file
 * (parsed with inih) overrides the defaults and command-line flags override the
 * file. The file and the flags go through one validating setter, config_set(),
 * so a value means the same, and is refused with the same message, wherever it
 * is written. One table (config_option_at()) names every option with its
 * section, flag, default and help text; examples/samizdatd.conf lists them all.
 *
 * Use, in main.c:
 *     config_init_defaults(&cfg);
 *     config_load_file(&cfg, path, err, sizeof err)       only with --config
 *     config_set(&cfg, opt->key, optarg, err, sizeof err) for every flag, in order
 *     config_finish(&cfg, err, sizeof err)                derive, then cross-check
 *     ...
 *     config_free(&cfg);
 *
 * Values:
 *   sizes      a whole number with an optional suffix K, M, G, T (or KiB, MiB,
 *              GiB, TiB; any case; all powers of 1024): 512M, 1G, 1048576.
 *   booleans   yes/no, true/false, on/off, 1/0.
 *   durations  whole numbers in the unit the key names (_ms, _seconds, _days).
 *   addresses  HOST:PORT; IPv6 in brackets ([::]:7447); :PORT may be left out
 *              (CONFIG_DEFAULT_PORT).
 *   lists      (peers, peer, publishers) items separated by spaces or commas.
 *              Each use of the key, each indented continuation line in the file
 *              and each flag adds to the list; an empty value clears it.
 *   paths      as given: a relative path is relative to the working directory,
 *              and there is no ~ expansion. An empty value restores the default.
 *
 * File rules: unknown sections, unknown keys, keys outside a section and a
 * single-valued key set twice in one file are errors, so that a typo is never
 * ignored in silence. Comments are lines starting with ';' or '#', or ';'
 * after white space at the end of a line. A line may have at most 198
 * characters (inih's limit); long lists continue on indented lines.
 *
 * Errors: functions that can fail return 0 or -1 and then write a one-line
 * message without a final newline into err (err_cap bytes, always
 * NUL-terminated; err may be NULL). Messages about a file start with
 * "PATH:LINE: ". On failure the config is left as it was.
 *
 * Nothing here prints (except config_print_help() to the caller's stream),
 * exits or keeps global state; config_finish() reads XDG_DATA_HOME and HOME.
 * A struct config is used by one thread at a time.
 */
#ifndef SZ_DAEMON_CONFIG_H
#define SZ_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "samizdat/bundle.h"

/* The port samizdat nodes listen on unless told otherwise. */
#define CONFIG_DEFAULT_PORT 7447

/* Embedded defaults (examples/samizdatd.conf and the help text repeat them). */
#define CONFIG_DEFAULT_LISTEN_HOST "0.0.0.0"
#define CONFIG_DEFAULT_LOG_LEVEL LOG_INFO
#define CONFIG_DEFAULT_BATCH_WINDOW_MS 2000
#define CONFIG_DEFAULT_BATCH_MAX_ARTICLES 100
#define CONFIG_DEFAULT_LEVEL 19
#define CONFIG_DEFAULT_MAX_BYTES (1ull << 30)             /* 1 GiB */
#define CONFIG_DEFAULT_PUBLISHER_MAX_BYTES (256ull << 20) /* 256 MiB */
#define CONFIG_DEFAULT_EXPIRY_DAYS 90
#define CONFIG_DEFAULT_REMEMBER_DAYS 14
#define CONFIG_DEFAULT_MAX_BUNDLE_BYTES (64ull << 20) /* 64 MiB */
#define CONFIG_DEFAULT_MAX_INBOUND 64
#define CONFIG_DEFAULT_MAX_HANDSHAKES_PER_ADDRESS 8
#define CONFIG_DEFAULT_OUTBOUND_TARGET 8
#define CONFIG_DEFAULT_BAN_SECONDS 3600

/* Where the data folder goes when neither XDG_DATA_HOME nor HOME is usable. */
#define CONFIG_SYSTEM_DATA_DIR "/var/lib/samizdat"
/* Name of the control socket inside the data folder. */
#define CONFIG_SOCKET_NAME "control.sock"

/* Limits on lists and on the config file. */
#define CONFIG_MAX_PEERS 256
#define CONFIG_MAX_PUBLISHERS 4096
#define CONFIG_MAX_FILE_LEN (1u << 20)
/* A host name has at most 253 characters; an IPv6 literal at most 45. */
#define CONFIG_HOST_CAP 254

/* Which publishers a relay carries ([policy] carry). */
enum config_carry {
    CONFIG_CARRY_ANY = 0,  /* every publisher, each held to publisher_max_bytes */
    CONFIG_CARRY_LIST = 1, /* only the keys in publishers (and the node's own) */
};

enum config_addr_kind {
    CONFIG_ADDR_NAME = 0, /* a DNS name, to be resolved */
    CONFIG_ADDR_IPV4 = 4,
    CONFIG_ADDR_IPV6 = 6,
};

/* A validated HOST:PORT. */
struct config_addr {
    char host[CONFIG_HOST_CAP]; /* IP literal without brackets, or a DNS name */
    uint16_t port;
    enum config_addr_kind kind;
};

/*
 * The daemon's settings. Strings are malloc'd and owned by the struct; NULL
 * means "not set". After a successful config_finish(), data_dir and
 * socket_path are set and the quotas are consistent.
 */
struct config {
    /* [daemon] */
    char *data_dir;            /* store and control socket live here */
    char *socket_path;         /* key "socket"; default DATA_DIR/control.sock */
    struct config_addr listen; /* always an IP literal; port 0: any free port */
    enum log_level log_level;  /* most verbose level logged */
    char *publisher_key;       /* secret key file; NULL: not a publisher */
    char *passphrase_file;     /* holds publisher_key's passphrase; NULL: none */
    /* [publish] */
    uint32_t batch_window_ms;    /* 0: one bundle per publish command */
    uint32_t batch_max_articles; /* 1..SZ_MAX_ARTICLES */
    int level;                   /* zstd level, 1..19 */
    /* [store]: 0 means "no limit" for the sizes, as in struct store_limits */
    uint64_t max_bytes;            /* all bundles together */
    uint64_t publisher_max_bytes;  /* per publisher; <= max_bytes after finish */
    uint32_t expiry_days;          /* 0: bundles never expire */
    uint32_t remember_days;        /* 1..3650: how long refused/evicted ids are kept */
    uint64_t max_bundle_bytes;     /* one bundle; never 0; <= the quotas after finish */
    uint64_t max_bundle_bytes_set; /* ... as set, before finish lowered it (0: not finished) */
    /* [policy] */
    enum config_carry carry;
    uint8_t (*publishers)[SZ_PUBLIC_KEY_LEN]; /* malloc'd, no duplicates */
    size_t n_publishers;
    /* [network] */
    struct config_addr *peers; /* malloc'd bootstrap list, no duplicates */
    size_t n_peers;
    struct config_addr onion_listen;     /* for a Tor onion service; host "": none */
    struct config_addr proxy;            /* SOCKS5 proxy for outbound links; port 0: none */
    char *proxy_auth_file;               /* USER:PASSWORD for it; NULL: none */
    char *network_key;                   /* private network key file; NULL: built-in key */
    uint32_t max_inbound;                /* 0: accept no inbound peer connections */
    uint32_t max_handshakes_per_address; /* inbound handshakes in progress; 0: no limit */
    uint32_t outbound_target;            /* 0: open no outbound peer connections */
    uint32_t ban_seconds;                /* 0: never ban a misbehaving peer */
};

/* One option, as main.c needs it for getopt_long() and --help. */
struct config_option {
    const char *section;      /* "store": the INI section */
    const char *key;          /* "max_bytes": the INI key */
    const char *flag;         /* "max-bytes": the long option --max-bytes */
    const char *metavar;      /* "SIZE": the value's kind, for --help */
    const char *default_text; /* the default as written in a file; NULL: computed */
    const char *help;         /* one or two sentences */
    bool list;                /* each use adds to a list; an empty value clears it */
};

/* Sets every field to its embedded default. Allocates nothing; cannot fail. */
void config_init_defaults(struct config *cfg);

/* Frees the strings and lists of cfg and zeroes it. NULL is fine. */
void config_free(struct config *cfg);

/*
 * Sets one option from text: key is an INI key ("max_bytes") or a flag name
 * ("max-bytes"). Surrounding white space in value is ignored. List options add
 * to their list (an empty value clears it); other options replace their value.
 * Returns 0, or -1 with a message such as "invalid value 'abc' for max_bytes:
 * expected a size like 512M ...". cfg is unchanged on failure.
 */
int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t err_cap);

/*
 * Applies the INI text buf[0..len) (NUL bytes are refused) on top of cfg; name
 * (a path) starts every message: "NAME:LINE: unknown key 'max_byts' in [store]
 * (did you mean 'max_bytes'?)". Returns 0 or -1; cfg is unchanged on failure.
 */
int config_parse_string(struct config *cfg, const char *name, const char *buf, size_t len,
                        char *err, size_t err_cap);

/*
 * Reads the file at path (at most CONFIG_MAX_FILE_LEN bytes) and applies it
 * as config_parse_string() does. A missing or unreadable file is an error.
 * Returns 0 or -1; cfg is unchanged on failure.
 */
int config_load_file(struct config *cfg, const char *path, char *err, size_t err_cap);

/*
 * Completes cfg once the file and the flags are in: derives data_dir (see
 * config_default_data_dir(), from the environment) and socket_path when they
 * are not set, lowers publisher_max_bytes to max_bytes and max_bundle_bytes to
 * the smaller quota, then checks that the options fit together (carry = list
 * needs publishers or a publisher_key, publishers need carry = list,
 * passphrase_file needs publisher_key, the socket path fits a Unix socket
 * address). May be called again. Returns 0 or -1; cfg is unchanged on failure.
 */
int config_finish(struct config *cfg, char *err, size_t err_cap);

/*
 * The default data folder: XDG_DATA_HOME/samizdat when xdg_data_home is an
 * absolute path, else HOME/.local/share/samizdat when home is one, else
 * CONFIG_SYSTEM_DATA_DIR (a system service without HOME). Either argument may
 * be NULL. Returns a malloc'd string, or NULL when out of memory.
 */
char *config_default_data_dir(const char *xdg_data_home, const char *home);

/* True when a and b hold the same settings (lists compared in order). */
bool config_equal(const struct config *a, const struct config *b);

/*
 * Writes into names (comma-separated INI keys, cut to cap) the settings that
 * differ between the running configuration and a fresh one and take effect
 * only at a restart. Returns how many differ.
 */
size_t config_restart_only_changes(const struct config *running, const struct config *fresh,
                                   char *names, size_t cap);

/* Number of options in the table, and option i (i < config_n_options()). */
size_t config_n_options(void);
const struct config_option *config_option_at(size_t i);

/* The option with this INI key or flag name, or NULL. */
const struct config_option *config_find_option(const char *name);

/*
 * Writes the options part of `samizdatd --help` to out: every option by
 * section with its flag, value kind, help text and default, wrapped to 80
 * columns. The caller prints the usage line and its own flags (--config,
 * --help, --version).
 */
void config_print_help(FILE *out);

/* Writes a as "host:port", or "[v6]:port", into buf (NUL-terminated, truncated
 * to cap). Returns the length the full text has, like snprintf(). */
int config_addr_format(const struct config_addr *a, char *buf, size_t cap);

#endif
