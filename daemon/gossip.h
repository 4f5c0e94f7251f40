/*
 * Gossip: what peer messages mean (PROTOCOL.md section 4). Announce, then
 * pull; catch-up by sequence ranges; verification before anything is stored
 * or forwarded. Runs on the loop; store work goes to the thread pool.
 */
#ifndef SZ_DAEMON_GOSSIP_H
#define SZ_DAEMON_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "samizdat/bundle.h"
#include "store.h"

struct peer;

/* Sets up the daemon's gossip state. Returns 0 or a libuv error. */
int gossip_init(struct daemon *d);

/* Closes gossip's timer (at shutdown, on the loop). */
void gossip_close(struct daemon *d);

/* Frees the gossip state (after every peer is closed). */
void gossip_free(struct daemon *d);

/* A handshake finished: says HELLO and sends this node's SUMMARY. */
void gossip_peer_open(struct peer *p);

/* One message from an open peer. Returns 0, or -1 after calling peer_misbehaved(). */
int gossip_peer_message(struct peer *p, const uint8_t *body, size_t len);

/* The peer's send queue has room again: continue serving what it asked. */
void gossip_peer_drained(struct peer *p);

/*
 * Bytes left the node's send queues (a write finished or was dropped): peers
 * whose serving waited for the node-wide budget may go on.
 */
void gossip_send_freed(struct daemon *d);

/* Parts of large bundles kept from lost links (PROTOCOL.md 4.1.1): how many, what they hold. */
void gossip_parts(const struct daemon *d, size_t *n, uint64_t *bytes);

/* True while some peer's serving waits for the node-wide send budget. */
bool gossip_serve_waiting(const struct daemon *d);

/*
 * The peer is closing: forget its requests, move its fetches to other peers.
 * Unless it was banned, what came of a large bundle is kept for the next.
 */
void gossip_peer_closed(struct peer *p, bool banned);

/* A bundle was stored (imported, published or received from `from`, which may
 * be NULL): announce it to every peer not known to have it. */
void gossip_stored(struct daemon *d, const struct store_meta *m, struct peer *from);

/*
 * Tells every open peer (relays and readers) that this node holds two bundles
 * of publisher with one sequence, id_a and id_b: an EQUIVOCATION message. At
 * most a few a minute; peers that connect later hear of it when their link
 * opens. Loop thread only.
 */
void gossip_equivocation(struct daemon *d, const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
                         uint64_t sequence, const uint8_t id_a[SZ_BUNDLE_ID_LEN],
                         const uint8_t id_b[SZ_BUNDLE_ID_LEN]);

/*
 * The last time the store failed to write a bundle from a peer (a full disk,
 * most often): true with how long ago (ms) and the store's reason (at most cap
 * bytes, NUL-terminated); false when it never did. Loop thread only.
 */
bool gossip_store_error(const struct daemon *d, int64_t *age_ms, char *reason, size_t cap);

/* The listening port the peer said it has in HELLO (0: none, or no HELLO yet). */
uint16_t gossip_listen_port(const struct peer *p);

/* Time-driven work: request timeouts, periodic summaries. Called every few seconds. */
void gossip_tick(struct daemon *d, int64_t now_ms);

#endif
