/*
 * Peer connections: the TCP listener, outbound connections with backoff, the
 * handshake and frames (proto/link.c) over libuv, timeouts, bans and send
 * queues. What the messages mean is gossip.c's business.
 */
#ifndef SZ_DAEMON_PEER_H
#define SZ_DAEMON_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "samizdat/link.h"
#include "samizdat/socks5.h"

#define PEER_SEND_QUEUE_MAX (4u << 20) /* bytes queued before reading pauses */
/* A send queue of PEER_STALL_MIN_BYTES or more that has not moved this long: disconnect. */
#define PEER_SLOW_LIMIT_MS 60000
#define PEER_STALL_MIN_BYTES (1u << 20)
#define PEER_STALL_SHORT_MS 15000 /* no drain this long while others wait for the send budget */
#define PEER_HANDSHAKE_TIMEOUT_MS 10000
/* Silent this long in the handshake, an inbound connection yields its slot to
 * a newcomer once max_inbound is reached. */
#define HANDSHAKE_EVICT_MS 3000
#define PEER_PROXY_TIMEOUT_MS 60000 /* a proxy's handshake: Tor may build a circuit first */
#define PEER_PING_AFTER_MS 60000
#define PEER_IDLE_TIMEOUT_MS 180000
#define PEER_LINGER_MS 2000      /* after a GOODBYE: for the peer to read it and close */
#define PEER_LINGER_STOP_MS 1000 /* the same when the node stops */

struct gossip_peer; /* gossip.c's per-peer state */

struct peer {
    uv_tcp_t tcp;
    uv_timer_t timer;   /* handshake, idle and delayed-close deadlines */
    int n_handles_open; /* the peer is freed when both handles closed */
    struct daemon *d;
    struct peer *prev, *next;
    struct sz_link *link;
    struct target *target; /* outbound: the address we keep connecting to */
    bool outbound;
    bool open; /* handshake done */
    bool closing;
    bool banned;           /* closed with a ban (or banned after it closed) */
    uint8_t goodbye_in;    /* the reason of the GOODBYE the peer sent, 0: none */
    bool paused;           /* reading stopped: send queue full */
    unsigned reading_held; /* reading stopped by gossip: PEER_HOLD_* bits, why */
    bool silent_close;     /* a failed probe: close later, say nothing */
    bool close_soon;       /* a send failed: closed on the next turn of the loop */
    bool goodbye_out;      /* a GOODBYE is queued: the close lets it reach the peer */
    uv_shutdown_t shut;    /* that close's end of sending */
    const char *close_why;
    char addr[CONFIG_HOST_CAP + 16]; /* "ip:port" (through a proxy, "name:port") */
    char label[24];                  /* a link it did not open: "inbound#N", for the logs */
    char ip[48];
    uint8_t group[9];        /* the IPv4 address, or the IPv6 /64, that per-address limits count */
    struct sz_socks5 *socks; /* outbound through [network] proxy: its handshake, until done */
    bool via_proxy;          /* outbound through the proxy */
    bool via_onion;          /* inbound through [network] onion_listen (a local Tor) */
    uint8_t node_key[SZ_NODE_KEY_LEN];
    int64_t connected_ms, last_rx_ms;
    int64_t drained_ms; /* when a write last completed, or the queue last became non-empty */
    size_t queued;      /* bytes in pending writes */
    uint64_t bytes_in, bytes_out, bundles_in, bundles_out, misbehaviour;
    int holds; /* jobs in flight that point at this peer */
    struct log_limit noisy;
    struct gossip_peer *g;
};

/*
 * The peer's name in the log: its address, but for a link this node did not
 * open (readers among them: README) its label, unless the log level is
 * debug, where a line at its start ties the label to its address.
 */
const char *peer_name(const struct peer *p);

/* Starts listening (unless max_inbound is 0) and connecting to configured peers.
 * Every failure is logged here, with what to do. */
int peer_start(struct daemon *d);

/* Sends GOODBYE to every peer, closes every connection and the listener. */
void peer_stop(struct daemon *d);

/* Frees what peer_start() made, once the loop has stopped. */
void peer_cleanup(struct daemon *d);

/* True when every peer handle is closed (shutdown may finish). */
bool peer_all_closed(const struct daemon *d);

/*
 * Lookups of peer names not finished: a stop does not wait for them (one
 * running cannot be cancelled, and a DNS server that never answers holds it
 * for the resolver's whole timeout).
 */
size_t peer_lookups_running(const struct daemon *d);

/*
 * Seals one message into a write. Returns 0, or a negative code when the
 * peer is closing or the message cannot be sealed (the peer is then closed).
 */
int peer_send(struct peer *p, const uint8_t *body, size_t len);

/* Encodes and sends one message. Returns 0 or a negative code. */
struct sz_msg;
int peer_send_msg(struct peer *p, const struct sz_msg *m);

/* Why gossip stops reading from a peer: reading resumes once no reason is left. */
#define PEER_HOLD_VERIFY 1u   /* its bundles wait for verification */
#define PEER_HOLD_ASSEMBLE 2u /* its large bundle waits for the node-wide receive budget */

/* Stops (hold) or resumes reading from the peer for one PEER_HOLD_* reason. */
void peer_hold_reading(struct peer *p, unsigned reason, bool hold);

/* Space left in the peer's send queue, in bytes. */
size_t peer_send_room(const struct peer *p);

/*
 * Closes the connection. With a ban, the peer's address and node key are
 * refused for the configured ban time. `why` is logged.
 */
void peer_close(struct peer *p, bool ban, const char *why);

/* Counts a misbehaviour that is not (yet) worth a ban; it shows in status. */
void peer_count_misbehaviour(struct peer *p);

/* Counts a misbehaviour; bans and closes the peer (GOODBYE with reason first).
 * A peer closed already is still counted and banned, once. */
void peer_misbehaved(struct peer *p, uint8_t reason, const char *why);

/* Keeps p allocated across a thread-pool job; release when the job is done. */
void peer_hold(struct peer *p);
void peer_release(struct peer *p);

/*
 * Peer exchange. peer_known_addresses() fills up to max entries with the
 * listening addresses of open peers that completed a handshake (excluding
 * `except`); peer_consider() adds an address learned from peer `from` as
 * an outbound target while this node has fewer outbound links than its
 * target (at most 64 learned addresses are kept): a global address, or a
 * loopback or private one only from a peer at an address of the same kind.
 */
struct sz_msg_peer;
size_t peer_known_addresses(const struct daemon *d, const struct peer *except,
                            struct sz_msg_peer *out, size_t max);
void peer_consider(struct daemon *d, const struct peer *from, const struct sz_msg_peer *addr);

/*
 * Reads the network key file at path (64 hex digits, white space around them
 * ignored) into key. Returns 0, or -1 with what is wrong in err.
 */
int peer_load_network_key(const char *path, uint8_t key[SZ_NETWORK_KEY_LEN], char *err,
                          size_t err_cap);

/* The port the peer listener is bound to (0 when not listening). */
uint16_t peer_listen_port(const struct daemon *d);

/* Bytes waiting in every peer's send queue together. */
size_t peer_queued_total(const struct daemon *d);

/* Every open peer, for gossip's iteration (NULL-terminated list via ->next). */
struct peer *peer_first(const struct daemon *d);

/* Appends the peer list to status text and JSON (on the loop thread). */
struct sz_wr;
void peer_status(const struct daemon *d, struct sz_wr *text, struct sz_wr *json);

#endif
