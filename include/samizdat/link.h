/*
 * A peer link: the authenticated key exchange bound to a network key, then
 * encrypted, length-hidden frames. Sans-I/O: bytes in, bytes out and events;
 * no sockets, no clock reads, no randomness of its own (the caller passes the
 * time and libsodium supplies randomness). Specified in proto/PROTOCOL.md,
 * sections "Handshake" and "Frames".
 */
#ifndef SZ_INCLUDE_LINK_H
#define SZ_INCLUDE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SZ_NETWORK_KEY_LEN 32
#define SZ_NODE_KEY_LEN 32 /* X25519 public or secret key */
#define SZ_LINK_VERSION_MIN 1
#define SZ_LINK_VERSION_MAX 1
#define SZ_HS1_LEN 56          /* e (32) + sealed timestamp (8 + 16) */
#define SZ_HS2_LEN 112         /* e (32) + sealed static (48) + sealed payload (32) */
#define SZ_HS3_LEN 80          /* sealed static (48) + sealed payload (32) */
#define SZ_FRAME_HEADER_LEN 20 /* sealed 4-byte length */
#define SZ_FRAME_OVERHEAD (SZ_FRAME_HEADER_LEN + 16)
#define SZ_MAX_FRAME_LEN (1u << 20) /* largest frame body */
#define SZ_HS_CLOCK_SKEW_S 600      /* accepted difference of clocks, seconds */

enum sz_link_role {
    SZ_LINK_INITIATOR = 1,
    SZ_LINK_RESPONDER = 2,
};

enum sz_link_state {
    SZ_LINK_SEND_HS1 = 0, /* initiator, before its first message is taken */
    SZ_LINK_WAIT_HS1,     /* responder */
    SZ_LINK_WAIT_HS2,     /* initiator */
    SZ_LINK_WAIT_HS3,     /* responder */
    SZ_LINK_OPEN,         /* transport: frames both ways */
    SZ_LINK_FAILED,       /* a check failed: close (a responder: silently) */
};

/* What sz_link_poll() reports. */
enum sz_link_event_type {
    SZ_LINK_EV_NONE = 0,
    SZ_LINK_EV_OPEN = 1,    /* handshake done: peer key, version and features known */
    SZ_LINK_EV_MESSAGE = 2, /* one decrypted frame body */
};

struct sz_link_event {
    enum sz_link_event_type type;
    const uint8_t *body; /* MESSAGE: valid until the next sz_link_* call */
    size_t body_len;
};

/* The node's long-term key pair (X25519) and the network it belongs to. */
struct sz_link_keys {
    uint8_t network_key[SZ_NETWORK_KEY_LEN];
    uint8_t node_pk[SZ_NODE_KEY_LEN];
    uint8_t node_sk[SZ_NODE_KEY_LEN];
    uint32_t features; /* feature bits this node offers */
};

struct sz_link;

/*
 * Parses the contents of a network key file: 64 hex digits, white space
 * around them ignored. Returns 0 or -SZ_EBADMSG.
 */
int sz_network_key_parse(const uint8_t *buf, size_t len, uint8_t key[SZ_NETWORK_KEY_LEN]);

/* The built-in network key nodes use unless told otherwise. */
extern const uint8_t SZ_DEFAULT_NETWORK_KEY[SZ_NETWORK_KEY_LEN];

/*
 * Makes a link. keys are copied (into sodium_malloc'd memory). An initiator
 * queues its first handshake message at once (see sz_link_output()); `now` is
 * the wall-clock time in seconds, sealed into it. Returns 0, -SZ_ENOMEM.
 */
int sz_link_new(enum sz_link_role role, const struct sz_link_keys *keys, int64_t now,
                struct sz_link **out);

/* Wipes every key and frees the link (NULL is fine). */
void sz_link_free(struct sz_link *l);

/*
 * Takes bytes received from the peer. They are buffered only as far as a
 * frame in progress needs (never more than twice SZ_FRAME_OVERHEAD + SZ_MAX_FRAME_LEN).
 * Processing happens in sz_link_poll(). A responder given a first message that
 * does not prove the network key, is too old or too new, or was seen before
 * (replay_check says so), fails without queuing any byte.
 * Returns 0, or -SZ_EBADMSG / -SZ_EAUTH / -SZ_ETOOBIG once the link failed.
 */
int sz_link_input(struct sz_link *l, const uint8_t *buf, size_t len);

/*
 * Advances the link over the buffered input and returns the next event in *ev
 * (SZ_LINK_EV_NONE when more input is needed). Call until NONE. `now` is the
 * wall-clock time in seconds (checked against the initiator's timestamp).
 * Returns 0 or a negative sz_err when the link failed: -SZ_EAUTH (wrong network
 * key, forged or replayed message), -SZ_EBADMSG, -SZ_ETOOBIG (frame above the
 * limit), -SZ_EVERSION (no common protocol version).
 */
int sz_link_poll(struct sz_link *l, int64_t now, struct sz_link_event *ev);

/*
 * A responder's replay filter for first messages: called with the initiator's
 * ephemeral key; return true when it was seen within the clock window (the
 * message is then refused). Optional (NULL: no filter).
 */
typedef bool (*sz_link_replay_cb)(const uint8_t e[32], void *ctx);
void sz_link_set_replay_check(struct sz_link *l, sz_link_replay_cb cb, void *ctx);

/*
 * Encrypts one message body (1..SZ_MAX_FRAME_LEN bytes) into the output queue.
 * Only in SZ_LINK_OPEN. Returns 0, -SZ_EINVAL (not open, or empty), -SZ_ETOOBIG,
 * -SZ_ENOMEM.
 */
int sz_link_send(struct sz_link *l, const uint8_t *body, size_t len);

/*
 * Encrypts one message body straight into out (len + SZ_FRAME_OVERHEAD bytes),
 * bypassing the output queue, so a caller can seal into its own write buffer.
 * Frames must reach the peer in the order they were sealed, after everything
 * already queued. Returns 0, -SZ_EINVAL, -SZ_ETOOBIG.
 */
int sz_link_seal(struct sz_link *l, const uint8_t *body, size_t len, uint8_t *out);

/* The bytes waiting to be sent (handshake messages and frames). */
const uint8_t *sz_link_output(const struct sz_link *l, size_t *len);

/* Drops the first n bytes of the output queue (after they were written). */
void sz_link_output_consume(struct sz_link *l, size_t n);

enum sz_link_state sz_link_state(const struct sz_link *l);

/* After SZ_LINK_EV_OPEN: the peer's node key, the version and features agreed. */
const uint8_t *sz_link_peer_key(const struct sz_link *l);
uint16_t sz_link_version(const struct sz_link *l);
uint32_t sz_link_features(const struct sz_link *l);

/* Bytes the link holds in buffers now (for memory accounting). */
size_t sz_link_buffered(const struct sz_link *l);

#endif
