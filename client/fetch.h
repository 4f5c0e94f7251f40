/*
 * samizdat fetch's engine: connect to peers (several at once, in random order,
 * more while some trusted publisher is offered by fewer than `parallel` of
 * them), run the link handshake as a client that serves nothing, learn what
 * each peer holds from its SUMMARY (all of its parts), pull the missing bundles
 * of trusted publishers by sequence range (a peer too slow to serve them is
 * dropped and its ranges asked of others), verify each, and add it to the
 * library. With follow, stay connected, pull what peers announce, and
 * reconnect to peers that go away (exponential backoff with jitter) until
 * SIGINT or SIGTERM. Blocking, poll()-based.
 */
#ifndef SZ_CLIENT_FETCH_H
#define SZ_CLIENT_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "samizdat/bundle.h"
#include "samizdat/link.h"
#include "util.h"

/* The peer port when an address names none: the daemon's default (samizdatd.conf(5)). */
#define FETCH_DEFAULT_PORT 7447

struct fetch_opts {
    char **peers; /* "HOST[:PORT]", IPv6 in brackets; FETCH_DEFAULT_PORT when none */
    size_t n_peers;
    const struct util_trust *trust;
    const char *dir;
    uint8_t network_key[SZ_NETWORK_KEY_LEN];
    bool follow;
    bool progress;          /* a progress line on stderr */
    bool bundle_lines;      /* one line per bundle added on stderr (--follow on a terminal) */
    int connect_timeout_ms; /* per attempt */
    const char *proxy;      /* a SOCKS5 proxy, HOST:PORT, every connection goes through (or NULL) */
    const char *proxy_user; /* its user name and password (RFC 1929), or NULL: none */
    const char *proxy_pass;
    int timeout_s;   /* whole run without --follow; 0: none */
    size_t parallel; /* peers fetched from at once */
    uint64_t content_cap;
    int64_t stale_after_s; /* warn when a publisher's newest bundle is older */
};

/* What happened, per publisher and in total. */
struct fetch_pub_result {
    uint64_t have_seq;      /* highest sequence in the library after the run */
    int64_t newest_created; /* creation time of that bundle; 0 if none */
    uint64_t fetched;       /* bundles the library added in this run (not those it had) */
    uint64_t too_large;     /* bundles not fetched: more articles than content_cap */
    bool rollback_seen;     /* a peer offered only older bundles than the library holds */
    bool equivocation;
    bool unknown; /* no peer's SUMMARY reached it (each stopped short): newer may exist */
};

struct fetch_result {
    struct fetch_pub_result *pubs;   /* one per trusted key, in trust order */
    uint64_t bundles, bytes;         /* added to the library */
    uint64_t resumed, resumed_bytes; /* bundles finished from bytes an earlier link brought */
    size_t peers_tried;
    size_t peers_failed;   /* whose last link failed (or that never answered) */
    size_t peers_ok;       /* answered, and neither failed nor withheld what they offered */
    size_t peers_answered; /* got as far as their SUMMARY */
    size_t peers_linked;   /* completed the handshake (a link, once per peer) */
    bool complete;         /* everything reachable peers offered was fetched */
};

/*
 * Runs a fetch. Prints one line per peer problem (naming the peer; with
 * follow, once each time a peer goes away, not per retry) and per warning to
 * stderr. Returns an exit status (EXIT_OK, EXIT_NETWORK when no peer answered
 * or something offered could not be fetched, EXIT_OUTPUT when the library could
 * not be written); an equivocation is a warning, not a failure. res->pubs is
 * allocated; free it.
 */
int fetch_run(const struct fetch_opts *o, struct fetch_result *res);

#endif
