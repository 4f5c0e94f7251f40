/*
 * The peer messages carried in link frames (proto/PROTOCOL.md section 4). Pure
 * codec: a frame body in, a struct sz_msg out, and back. Decoding allocates
 * nothing: the struct lives wherever the caller puts it, and its pointers refer
 * into the decoded body. The entries of the list messages (ANNOUNCE, REQUEST,
 * SUMMARY, PEERS) stay in their wire form and are read one at a time with the
 * accessors below; every entry is validated when the message is decoded.
 */
#ifndef SZ_INCLUDE_MSG_H
#define SZ_INCLUDE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/link.h"

/* Message types: the first byte of every frame body. */
enum sz_msg_type {
    SZ_MSG_HELLO = 0x01,          /* listen_port, roles; first message each way */
    SZ_MSG_PING = 0x02,           /* nonce */
    SZ_MSG_PONG = 0x03,           /* nonce (the PING's) */
    SZ_MSG_GOODBYE = 0x04,        /* reason, text */
    SZ_MSG_ANNOUNCE = 0x10,       /* entries: n x (publisher, sequence, id, size) */
    SZ_MSG_REQUEST = 0x11,        /* entries: n x id */
    SZ_MSG_BUNDLE = 0x12,         /* total, offset, data */
    SZ_MSG_NOT_FOUND = 0x13,      /* id */
    SZ_MSG_SUMMARY = 0x20,        /* more, entries: n x (publisher, m x range) */
    SZ_MSG_REQUEST_RANGE = 0x21,  /* publisher, first, last */
    SZ_MSG_RANGE_DONE = 0x22,     /* publisher, first, last, sent */
    SZ_MSG_SUMMARY_PACKED = 0x23, /* SUMMARY with packed ranges; feature SZ_FEATURE_SPARSE */
    SZ_MSG_REQUEST_SPARSE = 0x24, /* publisher, packed ranges; feature SZ_FEATURE_SPARSE */
    SZ_MSG_GET_PEERS = 0x30,      /* no fields */
    SZ_MSG_PEERS = 0x31,          /* entries: n x (family, address, port) */
    SZ_MSG_EQUIVOCATION = 0x40,   /* publisher, sequence, id (id_a), id_b */
    SZ_MSG_BUNDLES = 0x14,        /* entries: n x (u32 len, bundle); feature SZ_FEATURE_BATCH */
    SZ_MSG_REQUEST_PART = 0x15,   /* id, offset; feature SZ_FEATURE_PART */
};

/* GOODBYE reasons. */
enum sz_msg_goodbye_reason {
    SZ_GOODBYE_SHUTDOWN = 1,
    SZ_GOODBYE_PROTOCOL = 2, /* protocol violation */
    SZ_GOODBYE_INVALID_BUNDLE = 3,
    SZ_GOODBYE_TOO_SLOW = 4,
    SZ_GOODBYE_TOO_MANY_PEERS = 5,
    SZ_GOODBYE_BANNED = 6,
    SZ_GOODBYE_IDLE = 7,
};

/* HELLO role bits. */
#define SZ_ROLE_RELAY 0x1u /* relays bundles */
#define SZ_ROLE_FETCH 0x2u /* a fetch client that serves nothing */
#define SZ_ROLE_ALL (SZ_ROLE_RELAY | SZ_ROLE_FETCH)

/* Handshake feature bits (PROTOCOL.md 2). */
#define SZ_FEATURE_BATCH 0x1u /* BUNDLES: many whole bundles in one frame */
#define SZ_FEATURE_PART 0x2u  /* REQUEST_PART: the rest of a bundle, from an offset */
/* SUMMARY_PACKED and REQUEST_SPARSE: catch-up of scattered gaps in bytes per gap, not 190 */
#define SZ_FEATURE_SPARSE 0x4u

/* PEERS address families. */
#define SZ_FAMILY_IPV4 4
#define SZ_FAMILY_IPV6 6

/* Limits (PROTOCOL.md 4 and 4.1). */
#define SZ_MSG_MAX_LEN SZ_MAX_FRAME_LEN                  /* a body is one frame */
#define SZ_MSG_MAX_GOODBYE_TEXT_LEN 256                  /* bytes of UTF-8 */
#define SZ_MSG_MAX_ANNOUNCE 256                          /* entries, at least 1 */
#define SZ_MSG_MAX_REQUEST 64                            /* ids, at least 1 */
#define SZ_MSG_MAX_SUMMARY_PUBLISHERS 1024               /* publishers in one SUMMARY */
#define SZ_MSG_MAX_SUMMARY_RANGES 1024                   /* ranges of one publisher */
#define SZ_MSG_MAX_RANGE_SPAN 4096                       /* last - first < this */
#define SZ_MSG_MAX_PEERS 32                              /* addresses in one PEERS */
#define SZ_MSG_MAX_BUNDLES 4096                          /* bundles in one BUNDLES */
#define SZ_MSG_MAX_CHUNK_LEN (256u << 10)                /* data of one BUNDLE message */
#define SZ_MSG_MIN_BUNDLE_LEN (SZ_BUNDLE_PREFIX_LEN + 1) /* header, signature, payload */

/* Wire sizes of list entries, and the largest bodies of the bounded list messages. */
#define SZ_MSG_ANNOUNCE_ENTRY_LEN (SZ_PUBLIC_KEY_LEN + 8 + SZ_BUNDLE_ID_LEN + 4)
#define SZ_MSG_SUMMARY_PUB_LEN(n_ranges) (SZ_PUBLIC_KEY_LEN + 2 + 16 * (size_t)(n_ranges))
#define SZ_MSG_SUMMARY_HEADER_LEN 4 /* type, more, n */
/* Packed ranges: u64 LEB128 varints, at most 10 bytes each, two per range. */
#define SZ_MSG_PACKED_RANGE_MAX_LEN 20
#define SZ_MSG_MAX_SPARSE_RANGES 1024 /* ranges in one REQUEST_SPARSE, at least 1 */
#define SZ_MSG_MAX_REQUEST_SPARSE_LEN                                                              \
    (1 + SZ_PUBLIC_KEY_LEN + 2 + SZ_MSG_MAX_SPARSE_RANGES * SZ_MSG_PACKED_RANGE_MAX_LEN)
#define SZ_MSG_MAX_ANNOUNCE_LEN (3 + SZ_MSG_MAX_ANNOUNCE * SZ_MSG_ANNOUNCE_ENTRY_LEN)
#define SZ_MSG_MAX_REQUEST_LEN (3 + SZ_MSG_MAX_REQUEST * SZ_BUNDLE_ID_LEN)
#define SZ_MSG_MAX_PEERS_LEN (2 + SZ_MSG_MAX_PEERS * (1 + 16 + 2))

/*
 * A decoded message; only the fields of its type are meaningful (the others
 * are zero after sz_msg_decode()). Pointers refer into the decoded body.
 */
struct sz_msg {
    uint8_t type; /* enum sz_msg_type */
    /* HELLO */
    uint16_t listen_port; /* 0: does not listen */
    uint32_t roles;       /* SZ_ROLE_* bits */
    /* PING, PONG */
    uint64_t nonce;
    /* GOODBYE */
    uint8_t reason;   /* enum sz_msg_goodbye_reason */
    const char *text; /* UTF-8, not NUL-terminated */
    size_t text_len;
    /* ANNOUNCE, REQUEST, SUMMARY(_PACKED), PEERS: n_entries entries in wire form (entries_len
     * bytes); REQUEST_SPARSE: its n_entries packed ranges */
    const uint8_t *entries;
    size_t entries_len;
    size_t n_entries;
    uint8_t more; /* SUMMARY: 1 when another SUMMARY follows */
    /* BUNDLE; REQUEST_PART: id, offset (>= 1) */
    uint32_t total;
    uint32_t offset;
    const uint8_t *data;
    size_t data_len;
    /* NOT_FOUND: id; REQUEST_RANGE, RANGE_DONE: publisher, first, last (, sent);
     * REQUEST_SPARSE: publisher, first and last (its first and last range's ends);
     * EQUIVOCATION: publisher, sequence, id (id_a), id_b */
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint8_t id_b[SZ_BUNDLE_ID_LEN];
    uint64_t sequence;
    uint64_t first;
    uint64_t last;
    uint32_t sent;
};

/* One ANNOUNCE entry. */
struct sz_msg_announce {
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint32_t size; /* bundle bytes, at least SZ_MSG_MIN_BUNDLE_LEN */
};

/* A range of sequences, first <= last. */
struct sz_msg_range {
    uint64_t first;
    uint64_t last;
};

/*
 * One publisher of a decoded SUMMARY or SUMMARY_PACKED, or the ranges of a
 * REQUEST_SPARSE; ranges stay in wire form, read in order with
 * sz_msg_summary_range_next() (either form) or sz_msg_summary_range() (16-byte
 * form only).
 */
struct sz_msg_summary_pub {
    const uint8_t *publisher; /* SZ_PUBLIC_KEY_LEN bytes */
    size_t n_ranges;
    const uint8_t *ranges; /* n_ranges x 16 bytes, or ranges_len bytes of packed ranges */
    size_t ranges_len;
    bool packed;
    /* The walk of sz_msg_summary_range_next(). */
    size_t next;
    size_t off;
    uint64_t prev_last;
};

/* One publisher to encode into a SUMMARY. */
struct sz_msg_summary_src {
    const uint8_t *publisher; /* SZ_PUBLIC_KEY_LEN bytes */
    const struct sz_msg_range *ranges;
    size_t n_ranges;
};

/* One PEERS entry. */
struct sz_msg_peer {
    uint8_t family;   /* SZ_FAMILY_IPV4 (addr[0..4)) or SZ_FAMILY_IPV6 (addr[0..16)) */
    uint8_t addr[16]; /* network byte order, as on the wire; the rest zero */
    uint16_t port;    /* not 0 */
};

/* Walks the publishers of a decoded SUMMARY. */
struct sz_msg_iter {
    struct sz_rd rd;
    size_t n_left;
    bool packed; /* SUMMARY_PACKED */
};

/*
 * Decodes one frame body into *out (caller-owned; nothing is allocated, and
 * the pointers in *out refer into buf, so buf must outlive their use). Every
 * field and entry is checked against PROTOCOL.md 4. Returns 0, or -SZ_EBADMSG
 * (unknown type, a field running past the body, a count below its minimum or
 * above what the remaining bytes hold, a field value the protocol forbids),
 * -SZ_ETOOBIG (a count, text or span above its limit), -SZ_EUTF8 (GOODBYE text),
 * -SZ_ETRAILING (bytes after the last field). *out is untouched on failure.
 * The BUNDLE total is not compared with the receiver's bundle cap: the caller
 * does that, and checks offsets against the bundle in progress (PROTOCOL.md 4.1).
 */
int sz_msg_decode(const uint8_t *buf, size_t len, struct sz_msg *out);

/*
 * Computes the encoded length of m (only the fields of its type are read),
 * applying the decoder's rules, so that what encodes also decodes. List entries
 * come from m->entries/entries_len/n_entries in wire form (as decoded, or built
 * by the typed encoders below). Returns 0, -SZ_EINVAL (unknown type, a field
 * value the decoder refuses, NULL with a length), -SZ_ETOOBIG (a count, text or
 * the whole body above its limit), -SZ_EUTF8.
 */
int sz_msg_encoded_len(const struct sz_msg *m, size_t *len);

/*
 * Encodes m into out (out_cap bytes) and sets *out_len. Same rules and errors
 * as sz_msg_encoded_len(), plus -SZ_ETOOBIG when out_cap is too small. Nothing
 * is written on failure.
 */
int sz_msg_encode(const struct sz_msg *m, uint8_t *out, size_t out_cap, size_t *out_len);

/* As sz_msg_encode(), into a malloc'd *out (caller frees). Adds -SZ_ENOMEM. */
int sz_msg_encode_alloc(const struct sz_msg *m, uint8_t **out, size_t *out_len);

/*
 * Typed encoders of the list messages from ordinary arrays, into out (out_cap
 * bytes; SZ_MSG_MAX_ANNOUNCE_LEN, SZ_MSG_MAX_REQUEST_LEN and SZ_MSG_MAX_PEERS_LEN
 * always suffice; a SUMMARY takes SZ_MSG_SUMMARY_HEADER_LEN plus
 * SZ_MSG_SUMMARY_PUB_LEN(n_ranges) per publisher, at most SZ_MSG_MAX_LEN).
 * REQUEST takes n ids back to back (n x SZ_BUNDLE_ID_LEN bytes).
 * Return 0, -SZ_EINVAL (a value the decoder refuses, a count below 1 where one
 * is needed, NULL with a count), -SZ_ETOOBIG (a count above its limit, the body
 * above SZ_MSG_MAX_LEN, or out_cap too small). Nothing is written on failure.
 */
int sz_msg_encode_announce(const struct sz_msg_announce *entries, size_t n, uint8_t *out,
                           size_t out_cap, size_t *out_len);
int sz_msg_encode_request(const uint8_t *ids, size_t n, uint8_t *out, size_t out_cap,
                          size_t *out_len);
int sz_msg_encode_summary(bool more, const struct sz_msg_summary_src *pubs, size_t n, uint8_t *out,
                          size_t out_cap, size_t *out_len);
int sz_msg_encode_peers(const struct sz_msg_peer *peers, size_t n, uint8_t *out, size_t out_cap,
                        size_t *out_len);
/*
 * SUMMARY_PACKED: as sz_msg_encode_summary(), each publisher's ranges in
 * ascending order without overlap (else -SZ_EINVAL); the body takes at most
 * what the SUMMARY would (sz_msg_summary_packed_len() says how much).
 * REQUEST_SPARSE: 1 to SZ_MSG_MAX_SPARSE_RANGES ranges in ascending order
 * without overlap, last's last - first's first < SZ_MSG_MAX_RANGE_SPAN;
 * SZ_MSG_MAX_REQUEST_SPARSE_LEN always suffices.
 */
int sz_msg_encode_summary_packed(bool more, const struct sz_msg_summary_src *pubs, size_t n,
                                 uint8_t *out, size_t out_cap, size_t *out_len);
/* The body length of that SUMMARY_PACKED, or 0 when its arguments are refused. */
size_t sz_msg_summary_packed_len(const struct sz_msg_summary_src *pubs, size_t n);
int sz_msg_encode_request_sparse(const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
                                 const struct sz_msg_range *ranges, size_t n, uint8_t *out,
                                 size_t out_cap, size_t *out_len);

/*
 * Accessors of a successfully decoded message (i < m->n_entries; anything else
 * is a programmer error). They read the wire form with sz_load*, allocate
 * nothing and cannot fail.
 */
void sz_msg_announce_get(const struct sz_msg *m, size_t i, struct sz_msg_announce *out);
/* REQUEST: the i-th id (SZ_BUNDLE_ID_LEN bytes inside the body). */
const uint8_t *sz_msg_request_id(const struct sz_msg *m, size_t i);
/* PEERS: the i-th address (entries vary in size: this walks at most 32 of them). */
void sz_msg_peer_get(const struct sz_msg *m, size_t i, struct sz_msg_peer *out);

/*
 * SUMMARY, SUMMARY_PACKED: starts a walk over the publishers; each
 * sz_msg_summary_next() fills *out with the next one and returns true, or
 * returns false after the last.
 */
void sz_msg_summary_iter(const struct sz_msg *m, struct sz_msg_iter *it);
bool sz_msg_summary_next(struct sz_msg_iter *it, struct sz_msg_summary_pub *out);
/* The j-th range of a SUMMARY publisher (j < pub->n_ranges; not packed). */
void sz_msg_summary_range(const struct sz_msg_summary_pub *pub, size_t j, struct sz_msg_range *out);
/* The next range of pub, either form: true and *out, or false after the last. */
bool sz_msg_summary_range_next(struct sz_msg_summary_pub *pub, struct sz_msg_range *out);
/* REQUEST_SPARSE: its ranges as a publisher to walk with sz_msg_summary_range_next(). */
void sz_msg_sparse_ranges(const struct sz_msg *m, struct sz_msg_summary_pub *out);

/*
 * BUNDLES: walks the whole bundles of a decoded message (each at least
 * SZ_MSG_MIN_BUNDLE_LEN bytes, pointing into the body); encodes n bundles into
 * out. The encoder returns 0, -SZ_EINVAL, -SZ_ETOOBIG (above SZ_MSG_MAX_BUNDLES,
 * the frame limit, or out_cap).
 */
void sz_msg_bundles_iter(const struct sz_msg *m, struct sz_msg_iter *it);
bool sz_msg_bundles_next(struct sz_msg_iter *it, const uint8_t **bundle, size_t *len);
int sz_msg_encode_bundles(const uint8_t *const *bundles, const size_t *lens, size_t n, uint8_t *out,
                          size_t out_cap, size_t *out_len);

/* The name of a message type ("HELLO", ...), or NULL for an unknown one. */
const char *sz_msg_type_name(uint8_t type);

#endif
