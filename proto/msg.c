/*
 * The peer message codec (PROTOCOL.md 4). The decoder reads through a bounded
 * cursor and checks every count against its limit and against the bytes left
 * before looking at the entries; list entries are validated in place and left
 * in wire form, so decoding allocates nothing. The encoders apply the decoder's
 * rules (as -SZ_EINVAL), so what encodes also decodes, and every message has
 * one encoding: encode(decode(b)) gives b back.
 */
#include "samizdat/msg.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/common.h"

#define RANGE_LEN 16             /* u64 first, u64 last */
#define PEER_MIN_LEN (1 + 4 + 2) /* family, IPv4 address, port */
#define SUMMARY_PUB_MIN_LEN (SZ_PUBLIC_KEY_LEN + 2)

/* Fixed body lengths, type byte included. */
#define HELLO_LEN (1 + 2 + 4)
#define NONCE_LEN (1 + 8)
#define BUNDLE_HEADER_LEN (1 + 4 + 4)
#define NOT_FOUND_LEN (1 + SZ_BUNDLE_ID_LEN)
#define REQUEST_PART_LEN (1 + SZ_BUNDLE_ID_LEN + 4)
#define REQUEST_RANGE_LEN (1 + SZ_PUBLIC_KEY_LEN + 8 + 8)
#define RANGE_DONE_LEN (REQUEST_RANGE_LEN + 4)
#define EQUIVOCATION_LEN (1 + SZ_PUBLIC_KEY_LEN + 8 + 2 * SZ_BUNDLE_ID_LEN)

const char *
sz_msg_type_name(uint8_t type)
{
    switch (type) {
    case SZ_MSG_HELLO:
        return "HELLO";
    case SZ_MSG_PING:
        return "PING";
    case SZ_MSG_PONG:
        return "PONG";
    case SZ_MSG_GOODBYE:
        return "GOODBYE";
    case SZ_MSG_ANNOUNCE:
        return "ANNOUNCE";
    case SZ_MSG_REQUEST:
        return "REQUEST";
    case SZ_MSG_BUNDLE:
        return "BUNDLE";
    case SZ_MSG_NOT_FOUND:
        return "NOT_FOUND";
    case SZ_MSG_SUMMARY:
        return "SUMMARY";
    case SZ_MSG_REQUEST_RANGE:
        return "REQUEST_RANGE";
    case SZ_MSG_RANGE_DONE:
        return "RANGE_DONE";
    case SZ_MSG_SUMMARY_PACKED:
        return "SUMMARY_PACKED";
    case SZ_MSG_REQUEST_SPARSE:
        return "REQUEST_SPARSE";
    case SZ_MSG_GET_PEERS:
        return "GET_PEERS";
    case SZ_MSG_PEERS:
        return "PEERS";
    case SZ_MSG_EQUIVOCATION:
        return "EQUIVOCATION";
    case SZ_MSG_BUNDLES:
        return "BUNDLES";
    case SZ_MSG_REQUEST_PART:
        return "REQUEST_PART";
    default:
        return NULL;
    }
}

/*
 * A list count: above `max` is -SZ_ETOOBIG; below `min`, or more entries than
 * the remaining bytes can hold at `min_entry_len` each, is -SZ_EBADMSG.
 */
static int
check_count(size_t n, size_t min, size_t max, size_t left, size_t min_entry_len)
{
    if (n > max)
        return -SZ_ETOOBIG;
    if (n < min || n > left / min_entry_len)
        return -SZ_EBADMSG;
    return 0;
}

static int
rd_skip(struct sz_rd *r, size_t n)
{
    const uint8_t *p;

    return sz_rd_bytes(r, n, &p);
}

/* One ANNOUNCE entry: publisher, sequence, id, size; the size fits a bundle. */
static int
walk_announce(struct sz_rd *r)
{
    uint64_t sequence;
    uint32_t size;
    int rc;

    rc = rd_skip(r, SZ_PUBLIC_KEY_LEN);
    if (rc == 0)
        rc = sz_rd_u64(r, &sequence);
    if (rc == 0)
        rc = rd_skip(r, SZ_BUNDLE_ID_LEN);
    if (rc == 0)
        rc = sz_rd_u32(r, &size);
    if (rc == 0 && size < SZ_MSG_MIN_BUNDLE_LEN)
        rc = -SZ_EBADMSG;
    return rc;
}

/* One SUMMARY publisher: key, u16 m, m ranges with first <= last. */
static int
walk_summary_pub(struct sz_rd *r)
{
    uint16_t m = 0;
    uint64_t first, last;
    int rc;

    rc = rd_skip(r, SZ_PUBLIC_KEY_LEN);
    if (rc == 0)
        rc = sz_rd_u16(r, &m);
    if (rc == 0)
        rc = check_count(m, 0, SZ_MSG_MAX_SUMMARY_RANGES, sz_rd_left(r), RANGE_LEN);
    for (size_t j = 0; rc == 0 && j < m; j++) {
        rc = sz_rd_u64(r, &first);
        if (rc == 0)
            rc = sz_rd_u64(r, &last);
        if (rc == 0 && first > last)
            rc = -SZ_EBADMSG;
    }
    return rc;
}

/*
 * One number of a packed range: u64 in LEB128 (7 bits a byte, low first, the
 * top bit set on all but the last), at most 10 bytes, and no trailing zero
 * group (one encoding per number).
 */
static int
rd_varint(struct sz_rd *r, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < 10; i++) {
        uint8_t b;
        int rc = sz_rd_u8(r, &b);
        if (rc != 0)
            return rc;
        if (i == 9 && b > 1)
            return -SZ_EBADMSG; /* past 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            if (b == 0 && i > 0)
                return -SZ_EBADMSG;
            *out = v;
            return 0;
        }
    }
    return -SZ_EBADMSG;
}

static size_t
varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/*
 * Range j of a packed list from its two numbers (gap, span): the first range
 * starts at its gap, each next one gap + 1 past the end of the one before;
 * each ends span past its start. So ranges ascend without overlap.
 */
static int
packed_range(size_t j, uint64_t prev_last, uint64_t gap, uint64_t span, struct sz_msg_range *out)
{
    uint64_t a = gap;

    if (j > 0) {
        if (prev_last == UINT64_MAX || gap > UINT64_MAX - prev_last - 1)
            return -SZ_EBADMSG;
        a = prev_last + 1 + gap;
    }
    if (span > UINT64_MAX - a)
        return -SZ_EBADMSG;
    out->first = a;
    out->last = a + span;
    return 0;
}

/* m packed ranges; *first and *last (either may be NULL) get the first's start, the last's end. */
static int
walk_packed_ranges(struct sz_rd *r, size_t m, uint64_t *first, uint64_t *last)
{
    struct sz_msg_range x = {0, 0};
    uint64_t gap, span;
    int rc = 0;

    for (size_t j = 0; rc == 0 && j < m; j++) {
        rc = rd_varint(r, &gap);
        if (rc == 0)
            rc = rd_varint(r, &span);
        if (rc == 0)
            rc = packed_range(j, x.last, gap, span, &x);
        if (rc == 0 && j == 0 && first != NULL)
            *first = x.first;
    }
    if (rc == 0 && last != NULL)
        *last = x.last;
    return rc;
}

/* One SUMMARY_PACKED publisher: key, u16 m, m packed ranges. */
static int
walk_summary_pub_packed(struct sz_rd *r)
{
    uint16_t m = 0;
    int rc;

    rc = rd_skip(r, SZ_PUBLIC_KEY_LEN);
    if (rc == 0)
        rc = sz_rd_u16(r, &m);
    if (rc == 0)
        rc = check_count(m, 0, SZ_MSG_MAX_SUMMARY_RANGES, sz_rd_left(r), 2);
    if (rc == 0)
        rc = walk_packed_ranges(r, m, NULL, NULL);
    return rc;
}

/* One PEERS entry: family 4 or 6, its address, a port that is not 0. */
static int
walk_peer(struct sz_rd *r, struct sz_msg_peer *out)
{
    struct sz_msg_peer p;
    int rc;

    memset(&p, 0, sizeof p);
    rc = sz_rd_u8(r, &p.family);
    if (rc != 0)
        return rc;
    if (p.family == SZ_FAMILY_IPV4)
        rc = sz_rd_copy(r, p.addr, 4);
    else if (p.family == SZ_FAMILY_IPV6)
        rc = sz_rd_copy(r, p.addr, 16);
    else
        rc = -SZ_EBADMSG;
    if (rc == 0)
        rc = sz_rd_u16(r, &p.port);
    if (rc == 0 && p.port == 0)
        rc = -SZ_EBADMSG;
    if (rc == 0 && out != NULL)
        *out = p;
    return rc;
}

/* One BUNDLES entry: a u32 length of at least SZ_MSG_MIN_BUNDLE_LEN, then the bundle. */
static int
walk_bundle(struct sz_rd *r, const uint8_t **p, size_t *len)
{
    uint32_t n;
    const uint8_t *q;
    int rc = sz_rd_u32(r, &n);

    if (rc == 0 && n < SZ_MSG_MIN_BUNDLE_LEN)
        rc = -SZ_EBADMSG;
    if (rc == 0)
        rc = sz_rd_bytes(r, n, &q);
    if (rc == 0 && p != NULL) {
        *p = q;
        *len = n;
    }
    return rc;
}

/* The size of the smallest entry of a list type. */
static size_t
min_entry_len(uint8_t type)
{
    switch (type) {
    case SZ_MSG_ANNOUNCE:
        return SZ_MSG_ANNOUNCE_ENTRY_LEN;
    case SZ_MSG_REQUEST:
        return SZ_BUNDLE_ID_LEN;
    case SZ_MSG_SUMMARY:
    case SZ_MSG_SUMMARY_PACKED:
        return SUMMARY_PUB_MIN_LEN;
    case SZ_MSG_BUNDLES:
        return 4 + SZ_MSG_MIN_BUNDLE_LEN;
    default:
        return PEER_MIN_LEN;
    }
}

/* Count limits of a list type. */
static void
count_limits(uint8_t type, size_t *min, size_t *max)
{
    switch (type) {
    case SZ_MSG_ANNOUNCE:
        *min = 1;
        *max = SZ_MSG_MAX_ANNOUNCE;
        break;
    case SZ_MSG_REQUEST:
        *min = 1;
        *max = SZ_MSG_MAX_REQUEST;
        break;
    case SZ_MSG_SUMMARY:
    case SZ_MSG_SUMMARY_PACKED:
        *min = 0;
        *max = SZ_MSG_MAX_SUMMARY_PUBLISHERS;
        break;
    case SZ_MSG_BUNDLES:
        *min = 1;
        *max = SZ_MSG_MAX_BUNDLES;
        break;
    default:
        *min = 0;
        *max = SZ_MSG_MAX_PEERS;
        break;
    }
}

/*
 * Checks the count n, then walks and validates n entries of a list type from
 * r. On success *entries points at the first entry and *entries_len is the
 * number of bytes the entries take.
 */
static int
walk_entries(uint8_t type, struct sz_rd *r, size_t n, const uint8_t **entries, size_t *entries_len)
{
    size_t min, max, start = r->off;
    const uint8_t *p;
    int rc;

    count_limits(type, &min, &max);
    rc = check_count(n, min, max, sz_rd_left(r), min_entry_len(type));
    if (rc == 0)
        rc = sz_rd_bytes(r, 0, &p);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        switch (type) {
        case SZ_MSG_ANNOUNCE:
            rc = walk_announce(r);
            break;
        case SZ_MSG_REQUEST:
            rc = rd_skip(r, SZ_BUNDLE_ID_LEN);
            break;
        case SZ_MSG_SUMMARY:
            rc = walk_summary_pub(r);
            break;
        case SZ_MSG_SUMMARY_PACKED:
            rc = walk_summary_pub_packed(r);
            break;
        case SZ_MSG_BUNDLES:
            rc = walk_bundle(r, NULL, NULL);
            break;
        default:
            rc = walk_peer(r, NULL);
            break;
        }
    }
    if (rc != 0)
        return rc;
    *entries = p;
    *entries_len = r->off - start;
    return 0;
}

static bool
is_list(uint8_t type)
{
    return type == SZ_MSG_ANNOUNCE || type == SZ_MSG_REQUEST || type == SZ_MSG_SUMMARY ||
           type == SZ_MSG_SUMMARY_PACKED || type == SZ_MSG_PEERS || type == SZ_MSG_BUNDLES;
}

/*
 * True when valid UTF-8 text holds a control character (C0, DEL or C1): the
 * text is shown in logs and on terminals, where they could forge lines or
 * send escape sequences.
 */
static bool
has_controls(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return true;
        if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

/*
 * The rules on the scalar fields of m's type (PROTOCOL.md 4), shared by the
 * decoder and the encoder. Returns 0, -SZ_EBADMSG, -SZ_ETOOBIG or -SZ_EUTF8.
 */
static int
check_fields(const struct sz_msg *m)
{
    switch (m->type) {
    case SZ_MSG_HELLO:
        /* Version 1 knows two roles, and a fetch client relays nothing. */
        if ((m->roles & ~SZ_ROLE_ALL) != 0 || m->roles == SZ_ROLE_ALL)
            return -SZ_EBADMSG;
        return 0;
    case SZ_MSG_GOODBYE:
        if (m->reason < SZ_GOODBYE_SHUTDOWN || m->reason > SZ_GOODBYE_IDLE)
            return -SZ_EBADMSG;
        if (m->text_len > SZ_MSG_MAX_GOODBYE_TEXT_LEN)
            return -SZ_ETOOBIG;
        if (!sz_utf8_valid((const uint8_t *)m->text, m->text_len))
            return -SZ_EUTF8;
        return has_controls((const uint8_t *)m->text, m->text_len) ? -SZ_EBADMSG : 0;
    case SZ_MSG_SUMMARY:
    case SZ_MSG_SUMMARY_PACKED:
        return m->more > 1 ? -SZ_EBADMSG : 0;
    case SZ_MSG_REQUEST_SPARSE:
        if (m->first > m->last)
            return -SZ_EBADMSG;
        return m->last - m->first >= SZ_MSG_MAX_RANGE_SPAN ? -SZ_ETOOBIG : 0;
    case SZ_MSG_BUNDLE:
        if (m->data_len > SZ_MSG_MAX_CHUNK_LEN)
            return -SZ_ETOOBIG;
        /* 64-bit sum: offset + len cannot wrap. */
        if (m->data_len == 0 || m->total < SZ_MSG_MIN_BUNDLE_LEN ||
            (uint64_t)m->offset + m->data_len > m->total)
            return -SZ_EBADMSG;
        return 0;
    case SZ_MSG_REQUEST_RANGE:
    case SZ_MSG_RANGE_DONE:
        if (m->first > m->last)
            return -SZ_EBADMSG;
        if (m->last - m->first >= SZ_MSG_MAX_RANGE_SPAN)
            return -SZ_ETOOBIG;
        /* RANGE_DONE answers a REQUEST_RANGE: it cannot have sent more than the range holds. */
        if (m->type == SZ_MSG_RANGE_DONE && m->sent > m->last - m->first + 1)
            return -SZ_EBADMSG;
        return 0;
    case SZ_MSG_REQUEST_PART:
        /* Offset 0 is the whole bundle: that is a REQUEST. */
        return m->offset == 0 ? -SZ_EBADMSG : 0;
    case SZ_MSG_EQUIVOCATION:
        if (memcmp(m->id, m->id_b, SZ_BUNDLE_ID_LEN) == 0)
            return -SZ_EBADMSG;
        return 0;
    default:
        return 0;
    }
}

/* Reads the fields after the type byte. */
static int
dec_fields(struct sz_rd *r, struct sz_msg *m)
{
    uint16_t n16;
    uint8_t n8;
    const uint8_t *p;
    int rc = 0;

    switch (m->type) {
    case SZ_MSG_HELLO:
        rc = sz_rd_u16(r, &m->listen_port);
        if (rc == 0)
            rc = sz_rd_u32(r, &m->roles);
        break;
    case SZ_MSG_PING:
    case SZ_MSG_PONG:
        rc = sz_rd_u64(r, &m->nonce);
        break;
    case SZ_MSG_GOODBYE:
        rc = sz_rd_u8(r, &m->reason);
        if (rc == 0)
            rc = sz_rd_u16(r, &n16);
        /* The limit before the bytes: a long text is refused as such, even when cut short. */
        if (rc == 0 && n16 > SZ_MSG_MAX_GOODBYE_TEXT_LEN)
            rc = -SZ_ETOOBIG;
        if (rc == 0)
            rc = sz_rd_bytes(r, n16, &p);
        if (rc == 0) {
            m->text = (const char *)p;
            m->text_len = n16;
        }
        break;
    case SZ_MSG_ANNOUNCE:
    case SZ_MSG_REQUEST:
    case SZ_MSG_BUNDLES:
        rc = sz_rd_u16(r, &n16);
        if (rc == 0)
            rc = walk_entries(m->type, r, n16, &m->entries, &m->entries_len);
        if (rc == 0)
            m->n_entries = n16;
        break;
    case SZ_MSG_SUMMARY:
    case SZ_MSG_SUMMARY_PACKED:
        rc = sz_rd_u8(r, &m->more);
        if (rc == 0)
            rc = sz_rd_u16(r, &n16);
        if (rc == 0)
            rc = walk_entries(m->type, r, n16, &m->entries, &m->entries_len);
        if (rc == 0)
            m->n_entries = n16;
        break;
    case SZ_MSG_REQUEST_SPARSE:
        rc = sz_rd_copy(r, m->publisher, SZ_PUBLIC_KEY_LEN);
        if (rc == 0)
            rc = sz_rd_u16(r, &n16);
        if (rc == 0)
            rc = check_count(n16, 1, SZ_MSG_MAX_SPARSE_RANGES, sz_rd_left(r), 2);
        if (rc == 0)
            rc = sz_rd_bytes(r, 0, &p);
        if (rc == 0) {
            size_t start = r->off;
            rc = walk_packed_ranges(r, n16, &m->first, &m->last);
            m->entries = p;
            m->entries_len = r->off - start;
            m->n_entries = n16;
        }
        break;
    case SZ_MSG_PEERS:
        rc = sz_rd_u8(r, &n8);
        if (rc == 0)
            rc = walk_entries(m->type, r, n8, &m->entries, &m->entries_len);
        if (rc == 0)
            m->n_entries = n8;
        break;
    case SZ_MSG_BUNDLE:
        rc = sz_rd_u32(r, &m->total);
        if (rc == 0)
            rc = sz_rd_u32(r, &m->offset);
        if (rc == 0) {
            m->data_len = sz_rd_left(r);
            rc = sz_rd_bytes(r, m->data_len, &m->data);
        }
        break;
    case SZ_MSG_NOT_FOUND:
        rc = sz_rd_copy(r, m->id, SZ_BUNDLE_ID_LEN);
        break;
    case SZ_MSG_REQUEST_PART:
        rc = sz_rd_copy(r, m->id, SZ_BUNDLE_ID_LEN);
        if (rc == 0)
            rc = sz_rd_u32(r, &m->offset);
        break;
    case SZ_MSG_REQUEST_RANGE:
    case SZ_MSG_RANGE_DONE:
        rc = sz_rd_copy(r, m->publisher, SZ_PUBLIC_KEY_LEN);
        if (rc == 0)
            rc = sz_rd_u64(r, &m->first);
        if (rc == 0)
            rc = sz_rd_u64(r, &m->last);
        if (rc == 0 && m->type == SZ_MSG_RANGE_DONE)
            rc = sz_rd_u32(r, &m->sent);
        break;
    case SZ_MSG_GET_PEERS:
        break;
    case SZ_MSG_EQUIVOCATION:
        rc = sz_rd_copy(r, m->publisher, SZ_PUBLIC_KEY_LEN);
        if (rc == 0)
            rc = sz_rd_u64(r, &m->sequence);
        if (rc == 0)
            rc = sz_rd_copy(r, m->id, SZ_BUNDLE_ID_LEN);
        if (rc == 0)
            rc = sz_rd_copy(r, m->id_b, SZ_BUNDLE_ID_LEN);
        break;
    default:
        /* PROTOCOL.md 4: an unknown type is a protocol violation. */
        rc = -SZ_EBADMSG;
        break;
    }
    return rc;
}

int
sz_msg_decode(const uint8_t *buf, size_t len, struct sz_msg *out)
{
    struct sz_msg m;
    struct sz_rd r;
    int rc;

    memset(&m, 0, sizeof m);
    sz_rd_init(&r, buf, len);
    rc = sz_rd_u8(&r, &m.type);
    if (rc == 0)
        rc = dec_fields(&r, &m);
    if (rc == 0)
        rc = check_fields(&m);
    if (rc == 0 && sz_rd_left(&r) != 0)
        rc = -SZ_ETRAILING;
    if (rc == 0)
        *out = m;
    return rc;
}

/* The decoder's -SZ_EBADMSG is the encoder's -SZ_EINVAL: a bad argument, not bad input. */
static int
as_arg_error(int rc)
{
    return rc == -SZ_EBADMSG ? -SZ_EINVAL : rc;
}

int
sz_msg_encoded_len(const struct sz_msg *m, size_t *len)
{
    struct sz_rd r;
    const uint8_t *entries;
    size_t n = 0, entries_len;
    int rc;

    if (m == NULL || len == NULL)
        return -SZ_EINVAL;
    if ((m->type == SZ_MSG_GOODBYE && m->text == NULL && m->text_len > 0) ||
        (m->type == SZ_MSG_BUNDLE && m->data == NULL && m->data_len > 0) ||
        (is_list(m->type) && m->entries == NULL && m->entries_len > 0))
        return -SZ_EINVAL;
    rc = as_arg_error(check_fields(m));
    if (rc != 0)
        return rc;
    switch (m->type) {
    case SZ_MSG_HELLO:
        n = HELLO_LEN;
        break;
    case SZ_MSG_PING:
    case SZ_MSG_PONG:
        n = NONCE_LEN;
        break;
    case SZ_MSG_GOODBYE:
        n = 1 + 1 + 2 + m->text_len;
        break;
    case SZ_MSG_ANNOUNCE:
    case SZ_MSG_REQUEST:
    case SZ_MSG_SUMMARY:
    case SZ_MSG_SUMMARY_PACKED:
    case SZ_MSG_PEERS:
    case SZ_MSG_BUNDLES:
        /* The raw entries must be exactly n_entries valid entries, nothing more. */
        sz_rd_init(&r, m->entries, m->entries_len);
        rc = as_arg_error(walk_entries(m->type, &r, m->n_entries, &entries, &entries_len));
        if (rc == 0 && sz_rd_left(&r) != 0)
            rc = -SZ_EINVAL;
        if (rc != 0)
            return rc;
        n = (m->type == SZ_MSG_SUMMARY || m->type == SZ_MSG_SUMMARY_PACKED
                 ? SZ_MSG_SUMMARY_HEADER_LEN
             : m->type == SZ_MSG_PEERS ? 2
                                       : 3);
        if (m->entries_len > SZ_MSG_MAX_LEN - n)
            return -SZ_ETOOBIG;
        n += m->entries_len;
        break;
    case SZ_MSG_BUNDLE:
        n = BUNDLE_HEADER_LEN + m->data_len;
        break;
    case SZ_MSG_NOT_FOUND:
        n = NOT_FOUND_LEN;
        break;
    case SZ_MSG_REQUEST_PART:
        n = REQUEST_PART_LEN;
        break;
    case SZ_MSG_REQUEST_RANGE:
        n = REQUEST_RANGE_LEN;
        break;
    case SZ_MSG_REQUEST_SPARSE: {
        /* Exactly n_entries packed ranges from first to last, nothing more. */
        uint64_t first = 0, last = 0;
        if (m->n_entries < 1 || m->n_entries > SZ_MSG_MAX_SPARSE_RANGES)
            return m->n_entries < 1 ? -SZ_EINVAL : -SZ_ETOOBIG;
        sz_rd_init(&r, m->entries, m->entries_len);
        rc = as_arg_error(walk_packed_ranges(&r, m->n_entries, &first, &last));
        if (rc != 0)
            return rc;
        if (sz_rd_left(&r) != 0 || first != m->first || last != m->last)
            return -SZ_EINVAL;
        n = 1 + SZ_PUBLIC_KEY_LEN + 2 + m->entries_len;
        break;
    }
    case SZ_MSG_RANGE_DONE:
        n = RANGE_DONE_LEN;
        break;
    case SZ_MSG_GET_PEERS:
        n = 1;
        break;
    case SZ_MSG_EQUIVOCATION:
        n = EQUIVOCATION_LEN;
        break;
    default:
        return -SZ_EINVAL;
    }
    *len = n;
    return 0;
}

/* A writer into a buffer already known to be large enough. */
struct put {
    uint8_t *p;
    size_t off;
    size_t cap;
};

static void
put_bytes(struct put *w, const void *src, size_t n)
{
    assert(n <= w->cap - w->off);
    if (n > 0)
        memcpy(w->p + w->off, src, n);
    w->off += n;
}

static void
put_u8(struct put *w, uint8_t v)
{
    put_bytes(w, &v, 1);
}

static void
put_u16(struct put *w, uint16_t v)
{
    uint8_t b[2];

    sz_store16(b, v);
    put_bytes(w, b, sizeof b);
}

static void
put_u32(struct put *w, uint32_t v)
{
    uint8_t b[4];

    sz_store32(b, v);
    put_bytes(w, b, sizeof b);
}

static void
put_u64(struct put *w, uint64_t v)
{
    uint8_t b[8];

    sz_store64(b, v);
    put_bytes(w, b, sizeof b);
}

static void
put_varint(struct put *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;

    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    put_bytes(w, b, n);
}

/*
 * The packed length of n ranges (ascending, without overlap, first <= last
 * each): 0 when they break that.
 */
static size_t
packed_ranges_len(const struct sz_msg_range *v, size_t n)
{
    size_t len = 0;

    for (size_t j = 0; j < n; j++) {
        if (v[j].first > v[j].last || (j > 0 && v[j].first <= v[j - 1].last))
            return 0;
        len += varint_len(j == 0 ? v[j].first : v[j].first - v[j - 1].last - 1) +
               varint_len(v[j].last - v[j].first);
    }
    return n == 0 ? 0 : len;
}

static void
put_packed_ranges(struct put *w, const struct sz_msg_range *v, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        put_varint(w, j == 0 ? v[j].first : v[j].first - v[j - 1].last - 1);
        put_varint(w, v[j].last - v[j].first);
    }
}

/* Writes a message that sz_msg_encoded_len() accepted. */
static void
enc_fields(struct put *w, const struct sz_msg *m)
{
    put_u8(w, m->type);
    switch (m->type) {
    case SZ_MSG_HELLO:
        put_u16(w, m->listen_port);
        put_u32(w, m->roles);
        break;
    case SZ_MSG_PING:
    case SZ_MSG_PONG:
        put_u64(w, m->nonce);
        break;
    case SZ_MSG_GOODBYE:
        put_u8(w, m->reason);
        put_u16(w, (uint16_t)m->text_len);
        put_bytes(w, m->text, m->text_len);
        break;
    case SZ_MSG_ANNOUNCE:
    case SZ_MSG_REQUEST:
    case SZ_MSG_BUNDLES:
        put_u16(w, (uint16_t)m->n_entries);
        put_bytes(w, m->entries, m->entries_len);
        break;
    case SZ_MSG_SUMMARY:
    case SZ_MSG_SUMMARY_PACKED:
        put_u8(w, m->more);
        put_u16(w, (uint16_t)m->n_entries);
        put_bytes(w, m->entries, m->entries_len);
        break;
    case SZ_MSG_REQUEST_SPARSE:
        put_bytes(w, m->publisher, SZ_PUBLIC_KEY_LEN);
        put_u16(w, (uint16_t)m->n_entries);
        put_bytes(w, m->entries, m->entries_len);
        break;
    case SZ_MSG_PEERS:
        put_u8(w, (uint8_t)m->n_entries);
        put_bytes(w, m->entries, m->entries_len);
        break;
    case SZ_MSG_BUNDLE:
        put_u32(w, m->total);
        put_u32(w, m->offset);
        put_bytes(w, m->data, m->data_len);
        break;
    case SZ_MSG_NOT_FOUND:
        put_bytes(w, m->id, SZ_BUNDLE_ID_LEN);
        break;
    case SZ_MSG_REQUEST_PART:
        put_bytes(w, m->id, SZ_BUNDLE_ID_LEN);
        put_u32(w, m->offset);
        break;
    case SZ_MSG_REQUEST_RANGE:
    case SZ_MSG_RANGE_DONE:
        put_bytes(w, m->publisher, SZ_PUBLIC_KEY_LEN);
        put_u64(w, m->first);
        put_u64(w, m->last);
        if (m->type == SZ_MSG_RANGE_DONE)
            put_u32(w, m->sent);
        break;
    case SZ_MSG_EQUIVOCATION:
        put_bytes(w, m->publisher, SZ_PUBLIC_KEY_LEN);
        put_u64(w, m->sequence);
        put_bytes(w, m->id, SZ_BUNDLE_ID_LEN);
        put_bytes(w, m->id_b, SZ_BUNDLE_ID_LEN);
        break;
    default: /* GET_PEERS has no fields. */
        break;
    }
}

int
sz_msg_encode(const struct sz_msg *m, uint8_t *out, size_t out_cap, size_t *out_len)
{
    struct put w = {out, 0, out_cap};
    size_t len;
    int rc;

    if (out == NULL || out_len == NULL)
        return -SZ_EINVAL;
    rc = sz_msg_encoded_len(m, &len);
    if (rc != 0)
        return rc;
    if (len > out_cap)
        return -SZ_ETOOBIG;
    enc_fields(&w, m);
    assert(w.off == len);
    *out_len = len;
    return 0;
}

int
sz_msg_encode_alloc(const struct sz_msg *m, uint8_t **out, size_t *out_len)
{
    uint8_t *buf;
    size_t len;
    int rc;

    if (out == NULL || out_len == NULL)
        return -SZ_EINVAL;
    rc = sz_msg_encoded_len(m, &len);
    if (rc != 0)
        return rc;
    buf = malloc(len);
    if (buf == NULL)
        return -SZ_ENOMEM;
    rc = sz_msg_encode(m, buf, len, out_len);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

/* Checks a typed encoder's count and array the way the decoder checks counts. */
static int
check_arg_count(size_t n, size_t min, size_t max, const void *array)
{
    if (n > max)
        return -SZ_ETOOBIG;
    if (n < min || (n > 0 && array == NULL))
        return -SZ_EINVAL;
    return 0;
}

int
sz_msg_encode_announce(const struct sz_msg_announce *entries, size_t n, uint8_t *out,
                       size_t out_cap, size_t *out_len)
{
    struct put w = {out, 0, out_cap};
    size_t len, i;
    int rc;

    rc = check_arg_count(n, 1, SZ_MSG_MAX_ANNOUNCE, entries);
    if (rc != 0)
        return rc;
    if (out == NULL || out_len == NULL)
        return -SZ_EINVAL;
    for (i = 0; i < n; i++)
        if (entries[i].size < SZ_MSG_MIN_BUNDLE_LEN)
            return -SZ_EINVAL;
    len = 3 + n * SZ_MSG_ANNOUNCE_ENTRY_LEN;
    if (len > out_cap)
        return -SZ_ETOOBIG;
    put_u8(&w, SZ_MSG_ANNOUNCE);
    put_u16(&w, (uint16_t)n);
    for (i = 0; i < n; i++) {
        put_bytes(&w, entries[i].publisher, SZ_PUBLIC_KEY_LEN);
        put_u64(&w, entries[i].sequence);
        put_bytes(&w, entries[i].id, SZ_BUNDLE_ID_LEN);
        put_u32(&w, entries[i].size);
    }
    *out_len = len;
    return 0;
}

int
sz_msg_encode_request(const uint8_t *ids, size_t n, uint8_t *out, size_t out_cap, size_t *out_len)
{
    struct put w = {out, 0, out_cap};
    size_t len;
    int rc;

    rc = check_arg_count(n, 1, SZ_MSG_MAX_REQUEST, ids);
    if (rc != 0)
        return rc;
    if (out == NULL || out_len == NULL)
        return -SZ_EINVAL;
    len = 3 + n * SZ_BUNDLE_ID_LEN;
    if (len > out_cap)
        return -SZ_ETOOBIG;
    put_u8(&w, SZ_MSG_REQUEST);
    put_u16(&w, (uint16_t)n);
    put_bytes(&w, ids, n * SZ_BUNDLE_ID_LEN);
    *out_len = len;
    return 0;
}

int
sz_msg_encode_summary(bool more, const struct sz_msg_summary_src *pubs, size_t n, uint8_t *out,
                      size_t out_cap, size_t *out_len)
{
    struct put w = {out, 0, out_cap};
    size_t len = SZ_MSG_SUMMARY_HEADER_LEN, i, j;
    int rc;

    rc = check_arg_count(n, 0, SZ_MSG_MAX_SUMMARY_PUBLISHERS, pubs);
    if (rc != 0)
        return rc;
    if (out == NULL || out_len == NULL)
        return -SZ_EINVAL;
    /* Everything is checked and summed before the first byte is written. */
    for (i = 0; i < n; i++) {
        const struct sz_msg_summary_src *s = &pubs[i];

        rc = check_arg_count(s->n_ranges, 0, SZ_MSG_MAX_SUMMARY_RANGES, s->ranges);
        if (rc != 0)
            return rc;
        if (s->publisher == NULL)
            return -SZ_EINVAL;
        for (j = 0; j < s->n_ranges; j++)
            if (s->ranges[j].first > s->ranges[j].last)
                return -SZ_EINVAL;
        /* n_ranges <= 1024 here, so the sum stays far below SIZE_MAX before the check. */
        len += SZ_MSG_SUMMARY_PUB_LEN(s->n_ranges);
        if (len > SZ_MSG_MAX_LEN)
            return -SZ_ETOOBIG;
    }
    if (len > out_cap)
        return -SZ_ETOOBIG;
    put_u8(&w, SZ_MSG_SUMMARY);
    put_u8(&w, more ? 1 : 0);
    put_u16(&w, (uint16_t)n);
    for (i = 0; i < n; i++) {
        put_bytes(&w, pubs[i].publisher, SZ_PUBLIC_KEY_LEN);
        put_u16(&w, (uint16_t)pubs[i].n_ranges);
        for (j = 0; j < pubs[i].n_ranges; j++) {
            put_u64(&w, pubs[i].ranges[j].first);
            put_u64(&w, pubs[i].ranges[j].last);
        }
    }
    *out_len = len;
    return 0;
}

size_t
sz_msg_summary_packed_len(const struct sz_msg_summary_src *pubs, size_t n)
{
    size_t len = SZ_MSG_SUMMARY_HEADER_LEN, i, r;

    if (check_arg_count(n, 0, SZ_MSG_MAX_SUMMARY_PUBLISHERS, pubs) != 0)
        return 0;
    for (i = 0; i < n; i++) {
        const struct sz_msg_summary_src *s = &pubs[i];
        if (check_arg_count(s->n_ranges, 0, SZ_MSG_MAX_SUMMARY_RANGES, s->ranges) != 0 ||
            s->publisher == NULL)
            return 0;
        r = packed_ranges_len(s->ranges, s->n_ranges);
        if (r == 0 && s->n_ranges > 0)
            return 0;
        /* At most 20 bytes a range, 1024 ranges: the sum stays far below SIZE_MAX. */
        len += SZ_PUBLIC_KEY_LEN + 2 + r;
    }
    return len;
}

int
sz_msg_encode_summary_packed(bool more, const struct sz_msg_summary_src *pubs, size_t n,
                             uint8_t *out, size_t out_cap, size_t *out_len)
{
    struct put w = {out, 0, out_cap};
    size_t len, i;
    int rc;

    rc = check_arg_count(n, 0, SZ_MSG_MAX_SUMMARY_PUBLISHERS, pubs);
    if (rc != 0)
        return rc;
    if (out == NULL || out_len == NULL)
        return -SZ_EINVAL;
    for (i = 0; i < n; i++) {
        rc = check_arg_count(pubs[i].n_ranges, 0, SZ_MSG_MAX_SUMMARY_RANGES, pubs[i].ranges);
        if (rc != 0)
            return rc;
    }
    len = sz_msg_summary_packed_len(pubs, n);
    if (len == 0)
        return -SZ_EINVAL;
    if (len > SZ_MSG_MAX_LEN || len > out_cap)
        return -SZ_ETOOBIG;
    put_u8(&w, SZ_MSG_SUMMARY_PACKED);
    put_u8(&w, more ? 1 : 0);
    put_u16(&w, (uint16_t)n);
    for (i = 0; i < n; i++) {
        put_bytes(&w, pubs[i].publisher, SZ_PUBLIC_KEY_LEN);
        put_u16(&w, (uint16_t)pubs[i].n_ranges);
        put_packed_ranges(&w, pubs[i].ranges, pubs[i].n_ranges);
    }
    assert(w.off == len);
    *out_len = len;
    return 0;
}

int
sz_msg_encode_request_sparse(const uint8_t publisher[SZ_PUBLIC_KEY_LEN],
                             const struct sz_msg_range *ranges, size_t n, uint8_t *out,
                             size_t out_cap, size_t *out_len)
{
    struct put w = {out, 0, out_cap};
    size_t len;
    int rc;

    rc = check_arg_count(n, 1, SZ_MSG_MAX_SPARSE_RANGES, ranges);
    if (rc != 0)
        return rc;
    if (publisher == NULL || out == NULL || out_len == NULL)
        return -SZ_EINVAL;
    len = packed_ranges_len(ranges, n);
    if (len == 0)
        return -SZ_EINVAL;
    if (ranges[n - 1].last - ranges[0].first >= SZ_MSG_MAX_RANGE_SPAN)
        return -SZ_ETOOBIG;
    len += 1 + SZ_PUBLIC_KEY_LEN + 2;
    if (len > out_cap)
        return -SZ_ETOOBIG;
    put_u8(&w, SZ_MSG_REQUEST_SPARSE);
    put_bytes(&w, publisher, SZ_PUBLIC_KEY_LEN);
    put_u16(&w, (uint16_t)n);
    put_packed_ranges(&w, ranges, n);
    assert(w.off == len);
    *out_len = len;
    return 0;
}

static size_t
addr_len(uint8_t family)
{
    return family == SZ_FAMILY_IPV4 ? 4 : family == SZ_FAMILY_IPV6 ? 16 : 0;
}

int
sz_msg_encode_peers(const struct sz_msg_peer *peers, size_t n, uint8_t *out, size_t out_cap,
                    size_t *out_len)
{
    struct put w = {out, 0, out_cap};
    size_t len = 2, i;
    int rc;

    rc = check_arg_count(n, 0, SZ_MSG_MAX_PEERS, peers);
    if (rc != 0)
        return rc;
    if (out == NULL || out_len == NULL)
        return -SZ_EINVAL;
    for (i = 0; i < n; i++) {
        if (addr_len(peers[i].family) == 0 || peers[i].port == 0)
            return -SZ_EINVAL;
        len += 1 + addr_len(peers[i].family) + 2;
    }
    if (len > out_cap)
        return -SZ_ETOOBIG;
    put_u8(&w, SZ_MSG_PEERS);
    put_u8(&w, (uint8_t)n);
    for (i = 0; i < n; i++) {
        put_u8(&w, peers[i].family);
        put_bytes(&w, peers[i].addr, addr_len(peers[i].family));
        put_u16(&w, peers[i].port);
    }
    *out_len = len;
    return 0;
}

void
sz_msg_announce_get(const struct sz_msg *m, size_t i, struct sz_msg_announce *out)
{
    const uint8_t *p;

    assert(m->type == SZ_MSG_ANNOUNCE && i < m->n_entries);
    p = m->entries + i * SZ_MSG_ANNOUNCE_ENTRY_LEN;
    memcpy(out->publisher, p, SZ_PUBLIC_KEY_LEN);
    p += SZ_PUBLIC_KEY_LEN;
    out->sequence = sz_load64(p);
    p += 8;
    memcpy(out->id, p, SZ_BUNDLE_ID_LEN);
    p += SZ_BUNDLE_ID_LEN;
    out->size = sz_load32(p);
}

const uint8_t *
sz_msg_request_id(const struct sz_msg *m, size_t i)
{
    assert(m->type == SZ_MSG_REQUEST && i < m->n_entries);
    return m->entries + i * SZ_BUNDLE_ID_LEN;
}

void
sz_msg_peer_get(const struct sz_msg *m, size_t i, struct sz_msg_peer *out)
{
    struct sz_rd r;
    int rc = 0;

    assert(m->type == SZ_MSG_PEERS && i < m->n_entries);
    sz_rd_init(&r, m->entries, m->entries_len);
    for (size_t k = 0; rc == 0 && k <= i; k++)
        rc = walk_peer(&r, out);
    /* The decoder validated every entry: a failure here means m was not decoded. */
    assert(rc == 0);
    (void)rc;
}

void
sz_msg_summary_iter(const struct sz_msg *m, struct sz_msg_iter *it)
{
    assert(m->type == SZ_MSG_SUMMARY || m->type == SZ_MSG_SUMMARY_PACKED);
    sz_rd_init(&it->rd, m->entries, m->entries_len);
    it->n_left = m->n_entries;
    it->packed = m->type == SZ_MSG_SUMMARY_PACKED;
}

bool
sz_msg_summary_next(struct sz_msg_iter *it, struct sz_msg_summary_pub *out)
{
    const uint8_t *publisher, *ranges;
    size_t start;
    uint16_t n;

    if (it->n_left == 0)
        return false;
    /* Bounded reads all the same: a hand-made message ends the walk instead of overrunning. */
    if (sz_rd_bytes(&it->rd, SZ_PUBLIC_KEY_LEN, &publisher) != 0 || sz_rd_u16(&it->rd, &n) != 0 ||
        sz_rd_bytes(&it->rd, 0, &ranges) != 0) {
        it->n_left = 0;
        return false;
    }
    start = it->rd.off;
    if (it->packed ? walk_packed_ranges(&it->rd, n, NULL, NULL) != 0
                   : rd_skip(&it->rd, (size_t)n * RANGE_LEN) != 0) {
        it->n_left = 0;
        return false;
    }
    it->n_left--;
    out->publisher = publisher;
    out->n_ranges = n;
    out->ranges = ranges;
    out->ranges_len = it->rd.off - start;
    out->packed = it->packed;
    out->next = 0;
    out->off = 0;
    out->prev_last = 0;
    return true;
}

bool
sz_msg_summary_range_next(struct sz_msg_summary_pub *pub, struct sz_msg_range *out)
{
    struct sz_rd r;
    uint64_t gap, span;

    if (pub->next >= pub->n_ranges)
        return false;
    if (!pub->packed) {
        sz_msg_summary_range(pub, pub->next++, out);
        return true;
    }
    sz_rd_init(&r, pub->ranges + pub->off, pub->ranges_len - pub->off);
    if (rd_varint(&r, &gap) != 0 || rd_varint(&r, &span) != 0 ||
        packed_range(pub->next, pub->prev_last, gap, span, out) != 0) {
        pub->next = pub->n_ranges; /* not decoded: ends the walk */
        return false;
    }
    pub->off += r.off;
    pub->prev_last = out->last;
    pub->next++;
    return true;
}

void
sz_msg_sparse_ranges(const struct sz_msg *m, struct sz_msg_summary_pub *out)
{
    assert(m->type == SZ_MSG_REQUEST_SPARSE);
    memset(out, 0, sizeof *out);
    out->publisher = m->publisher;
    out->n_ranges = m->n_entries;
    out->ranges = m->entries;
    out->ranges_len = m->entries_len;
    out->packed = true;
}

void
sz_msg_summary_range(const struct sz_msg_summary_pub *pub, size_t j, struct sz_msg_range *out)
{
    assert(j < pub->n_ranges && !pub->packed);
    out->first = sz_load64(pub->ranges + j * RANGE_LEN);
    out->last = sz_load64(pub->ranges + j * RANGE_LEN + 8);
}

void
sz_msg_bundles_iter(const struct sz_msg *m, struct sz_msg_iter *it)
{
    sz_rd_init(&it->rd, m->entries, m->entries_len);
    it->n_left = m->n_entries;
}

bool
sz_msg_bundles_next(struct sz_msg_iter *it, const uint8_t **bundle, size_t *len)
{
    if (it->n_left == 0 || walk_bundle(&it->rd, bundle, len) != 0)
        return false;
    it->n_left--;
    return true;
}

int
sz_msg_encode_bundles(const uint8_t *const *bundles, const size_t *lens, size_t n, uint8_t *out,
                      size_t out_cap, size_t *out_len)
{
    struct put w = {out, 0, out_cap};
    size_t need = 3, i;

    if (out == NULL || out_len == NULL || bundles == NULL || lens == NULL || n == 0)
        return -SZ_EINVAL;
    if (n > SZ_MSG_MAX_BUNDLES)
        return -SZ_ETOOBIG;
    for (i = 0; i < n; i++) {
        if (bundles[i] == NULL || lens[i] < SZ_MSG_MIN_BUNDLE_LEN || lens[i] > UINT32_MAX)
            return -SZ_EINVAL;
        if (lens[i] + 4 > SZ_MSG_MAX_LEN - need)
            return -SZ_ETOOBIG;
        need += 4 + lens[i];
    }
    if (need > out_cap)
        return -SZ_ETOOBIG;
    put_u8(&w, SZ_MSG_BUNDLES);
    put_u16(&w, (uint16_t)n);
    for (i = 0; i < n; i++) {
        put_u32(&w, (uint32_t)lens[i]);
        put_bytes(&w, bundles[i], lens[i]);
    }
    *out_len = w.off;
    return 0;
}
