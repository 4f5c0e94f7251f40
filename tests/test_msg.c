/*
 * Tests of proto/msg.c, the peer message codec (PROTOCOL.md 4): known answers
 * that pin the byte layout of every type, round trips, every truncated prefix,
 * trailing bytes, unknown types, counts and lengths at and above their limits,
 * field values the protocol forbids, the accessors of list entries, and the
 * encoders' argument checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "samizdat/msg.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Hex of runs of zero bytes, for the hand-written bodies below. */
#define Z8 "0000000000000000"
#define Z32 Z8 Z8 Z8 Z8
/* A 32-byte key a0 a1 .. bf, and an id 00 01 .. 1f, in hex. */
#define PK_HEX                                                                                     \
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"                                                             \
    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define ID_HEX                                                                                     \
    "000102030405060708090a0b0c0d0e0f"                                                             \
    "101112131415161718191a1b1c1d1e1f"
#define ID2_HEX                                                                                    \
    "202122232425262728292a2b2c2d2e2f"                                                             \
    "303132333435363738393a3b3c3d3e3f"

static uint8_t PK[32], ID[32], ID2[32];

/* Parses hex (spaces allowed) into a malloc'd buffer of exactly the decoded size. */
static uint8_t *
from_hex(const char *hex, size_t *out_len)
{
    size_t n = 0, i, len = strlen(hex);
    char *digits = malloc(len + 1);
    uint8_t *out;

    assert_non_null(digits);
    for (i = 0; i < len; i++)
        if (hex[i] != ' ')
            digits[n++] = hex[i];
    assert_true(n % 2 == 0);
    out = malloc(n / 2 > 0 ? n / 2 : 1);
    assert_non_null(out);
    assert_int_equal(sz_unhex(digits, n, out, n / 2), 0);
    free(digits);
    *out_len = n / 2;
    return out;
}

static bool
bytes_eq(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/* Compares the fields a message's type uses. */
static void
assert_msg_equal(const struct sz_msg *a, const struct sz_msg *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case SZ_MSG_HELLO:
        assert_int_equal(a->listen_port, b->listen_port);
        assert_int_equal(a->roles, b->roles);
        break;
    case SZ_MSG_PING:
    case SZ_MSG_PONG:
        assert_true(a->nonce == b->nonce);
        break;
    case SZ_MSG_GOODBYE:
        assert_int_equal(a->reason, b->reason);
        assert_true(bytes_eq(a->text, a->text_len, b->text, b->text_len));
        break;
    case SZ_MSG_SUMMARY:
        assert_int_equal(a->more, b->more);
        /* fall through */
    case SZ_MSG_ANNOUNCE:
    case SZ_MSG_REQUEST:
    case SZ_MSG_PEERS:
        assert_int_equal(a->n_entries, b->n_entries);
        assert_true(bytes_eq(a->entries, a->entries_len, b->entries, b->entries_len));
        break;
    case SZ_MSG_BUNDLE:
        assert_int_equal(a->total, b->total);
        assert_int_equal(a->offset, b->offset);
        assert_true(bytes_eq(a->data, a->data_len, b->data, b->data_len));
        break;
    case SZ_MSG_NOT_FOUND:
        assert_memory_equal(a->id, b->id, 32);
        break;
    case SZ_MSG_REQUEST_PART:
        assert_memory_equal(a->id, b->id, 32);
        assert_int_equal(a->offset, b->offset);
        break;
    case SZ_MSG_RANGE_DONE:
        assert_int_equal(a->sent, b->sent);
        /* fall through */
    case SZ_MSG_REQUEST_RANGE:
        assert_memory_equal(a->publisher, b->publisher, 32);
        assert_true(a->first == b->first);
        assert_true(a->last == b->last);
        break;
    case SZ_MSG_EQUIVOCATION:
        assert_memory_equal(a->publisher, b->publisher, 32);
        assert_true(a->sequence == b->sequence);
        assert_memory_equal(a->id, b->id, 32);
        assert_memory_equal(a->id_b, b->id_b, 32);
        break;
    default:
        break;
    }
}

/* Decodes a body that must fail with `want`, and checks *out stayed untouched. */
static void
assert_decode_fails(const uint8_t *body, size_t len, int want)
{
    struct sz_msg m, marker;

    memset(&marker, 0xa5, sizeof marker);
    memcpy(&m, &marker, sizeof m);
    assert_int_equal(sz_msg_decode(body, len, &m), want);
    assert_memory_equal(&m, &marker, sizeof m);
}

/* ---- Valid bodies of every type, built through the encoders. ---- */

#define MAX_SAMPLES 64

struct sample {
    char name[48];
    uint8_t *body;
    size_t len;
};

static struct sample samples[MAX_SAMPLES];
static size_t n_samples;

static void
add_sample(const char *name, const uint8_t *body, size_t len)
{
    struct sample *s = &samples[n_samples++];

    assert_true(n_samples <= MAX_SAMPLES);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->body = malloc(len);
    assert_non_null(s->body);
    memcpy(s->body, body, len);
    s->len = len;
}

static void
add_msg(const char *name, const struct sz_msg *m)
{
    uint8_t *body = NULL;
    size_t len = 0;

    assert_int_equal(sz_msg_encode_alloc(m, &body, &len), 0);
    add_sample(name, body, len);
    free(body);
}

static void
announce_entry(struct sz_msg_announce *e, size_t i)
{
    memset(e, 0, sizeof *e);
    memcpy(e->publisher, PK, 32);
    e->publisher[0] = (uint8_t)i;
    e->sequence = 1000 + i;
    memcpy(e->id, ID, 32);
    e->id[31] = (uint8_t)i;
    e->size = (uint32_t)(SZ_MSG_MIN_BUNDLE_LEN + i * 1000);
}

static void
peer_entry(struct sz_msg_peer *p, size_t i)
{
    memset(p, 0, sizeof p[0]);
    p->family = i % 2 == 0 ? SZ_FAMILY_IPV4 : SZ_FAMILY_IPV6;
    for (size_t k = 0; k < (p->family == SZ_FAMILY_IPV4 ? 4u : 16u); k++)
        p->addr[k] = (uint8_t)(10 + i + k);
    p->port = (uint16_t)(4000 + i);
}

static int
build_samples(void **state)
{
    static char long_text[SZ_MSG_MAX_GOODBYE_TEXT_LEN];
    static struct sz_msg_announce ann[SZ_MSG_MAX_ANNOUNCE];
    static uint8_t ids[SZ_MSG_MAX_REQUEST][32];
    static struct sz_msg_peer peers[SZ_MSG_MAX_PEERS];
    static const struct sz_msg_range r3[] = {{0, 0}, {5, 9}, {100, UINT64_MAX}};
    static struct sz_msg_range r1024[SZ_MSG_MAX_SUMMARY_RANGES];
    static uint8_t data[SZ_MSG_MAX_CHUNK_LEN];
    static uint8_t buf[SZ_MSG_MAX_ANNOUNCE_LEN + 100000];
    struct sz_msg_summary_src pubs[3];
    size_t len, i;

    (void)state;
    if (sz_init() != 0)
        return -1;
    for (i = 0; i < 32; i++) {
        PK[i] = (uint8_t)(0xa0 + i);
        ID[i] = (uint8_t)i;
        ID2[i] = (uint8_t)(0x20 + i);
    }
    memset(long_text, 'x', sizeof long_text);
    for (i = 0; i < N_ELEMS(ann); i++)
        announce_entry(&ann[i], i);
    for (i = 0; i < N_ELEMS(ids); i++) {
        memcpy(ids[i], ID, 32);
        ids[i][0] = (uint8_t)i;
    }
    for (i = 0; i < N_ELEMS(peers); i++)
        peer_entry(&peers[i], i);
    for (i = 0; i < N_ELEMS(r1024); i++) {
        r1024[i].first = 10 * i;
        r1024[i].last = 10 * i + i % 3;
    }
    for (i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);

    add_msg("hello-none", &(struct sz_msg){.type = SZ_MSG_HELLO});
    add_msg("hello-relay",
            &(struct sz_msg){.type = SZ_MSG_HELLO, .listen_port = 4711, .roles = SZ_ROLE_RELAY});
    add_msg("hello-fetch",
            &(struct sz_msg){.type = SZ_MSG_HELLO, .listen_port = 65535, .roles = SZ_ROLE_FETCH});
    add_msg("ping-0", &(struct sz_msg){.type = SZ_MSG_PING});
    add_msg("ping-max", &(struct sz_msg){.type = SZ_MSG_PING, .nonce = UINT64_MAX});
    add_msg("pong", &(struct sz_msg){.type = SZ_MSG_PONG, .nonce = 0x0102030405060708});
    add_msg("goodbye-empty", &(struct sz_msg){.type = SZ_MSG_GOODBYE, .reason = 1});
    add_msg("goodbye-utf8",
            &(struct sz_msg){.type = SZ_MSG_GOODBYE,
                             .reason = SZ_GOODBYE_IDLE,
                             .text = "\xd0\xbf\xd0\xbe\xd0\xba\xd0\xb0 \xe2\x9c\x93",
                             .text_len = 12});
    add_msg("goodbye-256", &(struct sz_msg){.type = SZ_MSG_GOODBYE,
                                            .reason = SZ_GOODBYE_PROTOCOL,
                                            .text = long_text,
                                            .text_len = sizeof long_text});
    assert_int_equal(sz_msg_encode_announce(ann, 1, buf, sizeof buf, &len), 0);
    add_sample("announce-1", buf, len);
    assert_int_equal(sz_msg_encode_announce(ann, 3, buf, sizeof buf, &len), 0);
    add_sample("announce-3", buf, len);
    assert_int_equal(sz_msg_encode_announce(ann, SZ_MSG_MAX_ANNOUNCE, buf, sizeof buf, &len), 0);
    assert_int_equal(len, SZ_MSG_MAX_ANNOUNCE_LEN);
    add_sample("announce-256", buf, len);
    assert_int_equal(sz_msg_encode_request(ids[0], 1, buf, sizeof buf, &len), 0);
    add_sample("request-1", buf, len);
    assert_int_equal(sz_msg_encode_request(ids[0], SZ_MSG_MAX_REQUEST, buf, sizeof buf, &len), 0);
    assert_int_equal(len, SZ_MSG_MAX_REQUEST_LEN);
    add_sample("request-64", buf, len);
    add_msg("bundle-whole", &(struct sz_msg){.type = SZ_MSG_BUNDLE,
                                             .total = SZ_MSG_MIN_BUNDLE_LEN,
                                             .data = data,
                                             .data_len = SZ_MSG_MIN_BUNDLE_LEN});
    add_msg("bundle-last-byte", &(struct sz_msg){.type = SZ_MSG_BUNDLE,
                                                 .total = 1000000,
                                                 .offset = 999999,
                                                 .data = data,
                                                 .data_len = 1});
    add_msg("bundle-max-chunk", &(struct sz_msg){.type = SZ_MSG_BUNDLE,
                                                 .total = UINT32_MAX,
                                                 .offset = UINT32_MAX - SZ_MSG_MAX_CHUNK_LEN,
                                                 .data = data,
                                                 .data_len = SZ_MSG_MAX_CHUNK_LEN});
    {
        struct sz_msg m = {.type = SZ_MSG_NOT_FOUND};
        memcpy(m.id, ID, 32);
        add_msg("not-found", &m);
        m.type = SZ_MSG_REQUEST_PART;
        m.offset = 1;
        add_msg("request-part-1", &m);
        m.offset = UINT32_MAX;
        add_msg("request-part-max", &m);
    }
    assert_int_equal(sz_msg_encode_summary(false, NULL, 0, buf, sizeof buf, &len), 0);
    add_sample("summary-empty", buf, len);
    assert_int_equal(sz_msg_encode_summary(true, NULL, 0, buf, sizeof buf, &len), 0);
    add_sample("summary-more-empty", buf, len);
    pubs[0] = (struct sz_msg_summary_src){.publisher = PK, .ranges = r3, .n_ranges = 3};
    pubs[1] = (struct sz_msg_summary_src){.publisher = ID, .ranges = NULL, .n_ranges = 0};
    pubs[2] = (struct sz_msg_summary_src){.publisher = ID2, .ranges = r3 + 1, .n_ranges = 1};
    assert_int_equal(sz_msg_encode_summary(true, pubs, 3, buf, sizeof buf, &len), 0);
    add_sample("summary-3", buf, len);
    pubs[0] = (struct sz_msg_summary_src){.publisher = PK, .ranges = r1024, .n_ranges = 1024};
    assert_int_equal(sz_msg_encode_summary(false, pubs, 1, buf, sizeof buf, &len), 0);
    assert_int_equal(len, SZ_MSG_SUMMARY_HEADER_LEN + SZ_MSG_SUMMARY_PUB_LEN(1024));
    add_sample("summary-1024-ranges", buf, len);
    assert_int_equal(sz_msg_encode_summary_packed(false, NULL, 0, buf, sizeof buf, &len), 0);
    add_sample("summary-packed-empty", buf, len);
    pubs[0] = (struct sz_msg_summary_src){.publisher = PK, .ranges = r3, .n_ranges = 3};
    assert_int_equal(sz_msg_encode_summary_packed(true, pubs, 3, buf, sizeof buf, &len), 0);
    add_sample("summary-packed-3", buf, len);
    pubs[0] = (struct sz_msg_summary_src){.publisher = PK, .ranges = r1024, .n_ranges = 1024};
    assert_int_equal(sz_msg_encode_summary_packed(false, pubs, 1, buf, sizeof buf, &len), 0);
    /* first 10 i, last 10 i + i % 3: gaps and spans of one byte each, after the first range. */
    assert_int_equal(len, SZ_MSG_SUMMARY_HEADER_LEN + 32 + 2 + 2 * 1024);
    assert_int_equal(len, sz_msg_summary_packed_len(pubs, 1));
    add_sample("summary-packed-1024-ranges", buf, len);
    assert_int_equal(sz_msg_encode_request_sparse(PK, r3 + 1, 1, buf, sizeof buf, &len), 0);
    add_sample("request-sparse-1", buf, len);
    assert_int_equal(sz_msg_encode_request_sparse(PK, r1024, 400, buf, sizeof buf, &len), 0);
    add_sample("request-sparse-400", buf, len);
    {
        struct sz_msg m = {.type = SZ_MSG_REQUEST_RANGE, .first = 5, .last = 5};
        memcpy(m.publisher, PK, 32);
        add_msg("request-range-1", &m);
        m.first = 0;
        m.last = SZ_MSG_MAX_RANGE_SPAN - 1;
        add_msg("request-range-4096", &m);
        m.first = UINT64_MAX - (SZ_MSG_MAX_RANGE_SPAN - 1);
        m.last = UINT64_MAX;
        add_msg("request-range-top", &m);
        m.type = SZ_MSG_RANGE_DONE;
        m.sent = SZ_MSG_MAX_RANGE_SPAN;
        add_msg("range-done-all", &m);
        m.first = m.last = 7;
        m.sent = 0;
        add_msg("range-done-none", &m);
    }
    add_msg("get-peers", &(struct sz_msg){.type = SZ_MSG_GET_PEERS});
    assert_int_equal(sz_msg_encode_peers(NULL, 0, buf, sizeof buf, &len), 0);
    add_sample("peers-0", buf, len);
    assert_int_equal(sz_msg_encode_peers(peers, 2, buf, sizeof buf, &len), 0);
    add_sample("peers-2", buf, len);
    assert_int_equal(sz_msg_encode_peers(peers, SZ_MSG_MAX_PEERS, buf, sizeof buf, &len), 0);
    add_sample("peers-32", buf, len);
    {
        struct sz_msg m = {.type = SZ_MSG_EQUIVOCATION, .sequence = 42};
        memcpy(m.publisher, PK, 32);
        memcpy(m.id, ID, 32);
        memcpy(m.id_b, ID2, 32);
        add_msg("equivocation", &m);
    }
    return 0;
}

static int
free_samples(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_samples; i++)
        free(samples[i].body);
    n_samples = 0;
    return 0;
}

/* ---- Tests. ---- */

/* Every type, byte for byte as PROTOCOL.md 4 lays it out. */
static void
test_known_answers(void **state)
{
    static const char *const kats[] = {
        "01 5b12 01000000",                                    /* HELLO 4699, relay */
        "02 0807060504030201",                                 /* PING */
        "03 ffffffffffffffff",                                 /* PONG */
        "04 05 0200 6869",                                     /* GOODBYE too many peers, "hi" */
        "10 0100" PK_HEX "0200000000000000" ID_HEX "a9000000", /* ANNOUNCE, size 169 */
        "11 0200" ID_HEX ID2_HEX,                              /* REQUEST 2 */
        "12 e8030000 e7030000 ff",                             /* BUNDLE total 1000, offset 999 */
        "13" ID_HEX,                                           /* NOT_FOUND */
        "15" ID_HEX "39300000",                                /* REQUEST_PART offset 12345 */
        "20 01 0200" PK_HEX "0100 0100000000000000 0300000000000000" ID_HEX "0000",
        "21" PK_HEX "0a00000000000000 0b00000000000000",          /* REQUEST_RANGE 10..11 */
        "22" PK_HEX "0a00000000000000 0b00000000000000 02000000", /* RANGE_DONE 2 sent */
        "30",                                                     /* GET_PEERS */
        "31 02 04 c0000201 401f 06 20010db8000000000000000000000001 bb01", /* PEERS */
        "40" PK_HEX "0900000000000000" ID_HEX ID2_HEX,                     /* EQUIVOCATION seq 9 */
    };
    static const uint8_t types[] = {0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x12, 0x13,
                                    0x15, 0x20, 0x21, 0x22, 0x30, 0x31, 0x40};
    uint8_t out[1024];

    (void)state;
    for (size_t i = 0; i < N_ELEMS(kats); i++) {
        size_t len, out_len = 0;
        uint8_t *body = from_hex(kats[i], &len);
        struct sz_msg m;

        print_message("%s\n", sz_msg_type_name(types[i]));
        assert_int_equal(sz_msg_decode(body, len, &m), 0);
        assert_int_equal(m.type, types[i]);
        assert_int_equal(sz_msg_encode(&m, out, sizeof out, &out_len), 0);
        assert_int_equal(out_len, len);
        assert_memory_equal(out, body, len);
        switch (m.type) {
        case SZ_MSG_HELLO:
            assert_int_equal(m.listen_port, 4699);
            assert_int_equal(m.roles, SZ_ROLE_RELAY);
            break;
        case SZ_MSG_PING:
            assert_true(m.nonce == 0x0102030405060708);
            break;
        case SZ_MSG_PONG:
            assert_true(m.nonce == UINT64_MAX);
            break;
        case SZ_MSG_GOODBYE:
            assert_int_equal(m.reason, SZ_GOODBYE_TOO_MANY_PEERS);
            assert_true(bytes_eq(m.text, m.text_len, "hi", 2));
            break;
        case SZ_MSG_ANNOUNCE: {
            struct sz_msg_announce e;
            assert_int_equal(m.n_entries, 1);
            sz_msg_announce_get(&m, 0, &e);
            assert_memory_equal(e.publisher, PK, 32);
            assert_true(e.sequence == 2);
            assert_memory_equal(e.id, ID, 32);
            assert_int_equal(e.size, 169);
            break;
        }
        case SZ_MSG_REQUEST:
            assert_int_equal(m.n_entries, 2);
            assert_memory_equal(sz_msg_request_id(&m, 0), ID, 32);
            assert_memory_equal(sz_msg_request_id(&m, 1), ID2, 32);
            break;
        case SZ_MSG_BUNDLE:
            assert_int_equal(m.total, 1000);
            assert_int_equal(m.offset, 999);
            assert_int_equal(m.data_len, 1);
            assert_int_equal(m.data[0], 0xff);
            break;
        case SZ_MSG_NOT_FOUND:
            assert_memory_equal(m.id, ID, 32);
            break;
        case SZ_MSG_REQUEST_PART:
            assert_memory_equal(m.id, ID, 32);
            assert_int_equal(m.offset, 12345);
            break;
        case SZ_MSG_SUMMARY: {
            struct sz_msg_iter it;
            struct sz_msg_summary_pub pub;
            struct sz_msg_range r;
            assert_int_equal(m.more, 1);
            assert_int_equal(m.n_entries, 2);
            sz_msg_summary_iter(&m, &it);
            assert_true(sz_msg_summary_next(&it, &pub));
            assert_memory_equal(pub.publisher, PK, 32);
            assert_int_equal(pub.n_ranges, 1);
            sz_msg_summary_range(&pub, 0, &r);
            assert_true(r.first == 1 && r.last == 3);
            assert_true(sz_msg_summary_next(&it, &pub));
            assert_memory_equal(pub.publisher, ID, 32);
            assert_int_equal(pub.n_ranges, 0);
            assert_false(sz_msg_summary_next(&it, &pub));
            assert_false(sz_msg_summary_next(&it, &pub));
            break;
        }
        case SZ_MSG_REQUEST_RANGE:
        case SZ_MSG_RANGE_DONE:
            assert_memory_equal(m.publisher, PK, 32);
            assert_true(m.first == 10 && m.last == 11);
            assert_int_equal(m.sent, m.type == SZ_MSG_RANGE_DONE ? 2 : 0);
            break;
        case SZ_MSG_PEERS: {
            static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
            struct sz_msg_peer p;
            assert_int_equal(m.n_entries, 2);
            sz_msg_peer_get(&m, 0, &p);
            assert_int_equal(p.family, SZ_FAMILY_IPV4);
            assert_memory_equal(p.addr, "\xc0\x00\x02\x01", 4);
            assert_int_equal(p.port, 8000);
            sz_msg_peer_get(&m, 1, &p);
            assert_int_equal(p.family, SZ_FAMILY_IPV6);
            assert_memory_equal(p.addr, v6, 16);
            assert_int_equal(p.port, 443);
            break;
        }
        case SZ_MSG_EQUIVOCATION:
            assert_memory_equal(m.publisher, PK, 32);
            assert_true(m.sequence == 9);
            assert_memory_equal(m.id, ID, 32);
            assert_memory_equal(m.id_b, ID2, 32);
            break;
        default:
            break;
        }
        free(body);
    }
}

/* decode → encode gives the same bytes, through both encoders; decoding again gives the same. */
static void
test_round_trip(void **state)
{
    (void)state;
    assert_true(n_samples > 30);
    for (size_t i = 0; i < n_samples; i++) {
        const struct sample *s = &samples[i];
        struct sz_msg m, m2;
        uint8_t *enc = NULL, *enc2 = malloc(s->len);
        size_t len = 0, len2 = 0;

        print_message("%s: %zu bytes\n", s->name, s->len);
        assert_non_null(enc2);
        assert_int_equal(sz_msg_decode(s->body, s->len, &m), 0);
        assert_int_equal(m.type, s->body[0]);
        assert_non_null(sz_msg_type_name(m.type));
        assert_int_equal(sz_msg_encoded_len(&m, &len), 0);
        assert_int_equal(len, s->len);
        assert_int_equal(sz_msg_encode_alloc(&m, &enc, &len), 0);
        assert_int_equal(len, s->len);
        assert_memory_equal(enc, s->body, len);
        /* An exact-size caller buffer suffices; one byte less does not, and stays untouched. */
        assert_int_equal(sz_msg_encode(&m, enc2, s->len, &len2), 0);
        assert_int_equal(len2, s->len);
        assert_memory_equal(enc2, s->body, len2);
        memset(enc2, 0x5a, s->len);
        len2 = 777;
        assert_int_equal(sz_msg_encode(&m, enc2, s->len - 1, &len2), -SZ_ETOOBIG);
        assert_int_equal(len2, 777);
        for (size_t k = 0; k < s->len; k++)
            assert_int_equal(enc2[k], 0x5a);
        assert_int_equal(sz_msg_decode(enc, len, &m2), 0);
        assert_msg_equal(&m, &m2);
        free(enc2);
        free(enc);
    }
}

/* Every strict prefix fails with -SZ_EBADMSG; a BUNDLE prefix is a BUNDLE with less data. */
static void
test_truncated_prefixes(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_samples; i++) {
        const struct sample *s = &samples[i];

        for (size_t k = 0; k < s->len; k++) {
            /* Long bodies: every cut near either end, every 997th in between. */
            if (k > 4096 && k + 4096 < s->len && k % 997 != 0)
                continue;
            /* A copy of exactly k bytes, so that ASan sees any read past the prefix. */
            uint8_t *prefix = malloc(k > 0 ? k : 1);
            struct sz_msg m;

            assert_non_null(prefix);
            memcpy(prefix, s->body, k);
            if (s->body[0] == SZ_MSG_BUNDLE && k > 9) {
                assert_int_equal(sz_msg_decode(prefix, k, &m), 0);
                assert_int_equal(m.data_len, k - 9);
            } else {
                assert_decode_fails(prefix, k, -SZ_EBADMSG);
            }
            free(prefix);
        }
    }
    assert_decode_fails(NULL, 0, -SZ_EBADMSG);
}

/* One byte more after a valid body is -SZ_ETRAILING (for BUNDLE it is data). */
static void
test_trailing(void **state)
{
    static const uint8_t extra[] = {0x00, 0x01, 0xff};

    (void)state;
    for (size_t i = 0; i < n_samples; i++) {
        const struct sample *s = &samples[i];
        uint8_t *longer = malloc(s->len + 1);

        assert_non_null(longer);
        memcpy(longer, s->body, s->len);
        for (size_t e = 0; e < N_ELEMS(extra); e++) {
            longer[s->len] = extra[e];
            if (s->body[0] != SZ_MSG_BUNDLE)
                assert_decode_fails(longer, s->len + 1, -SZ_ETRAILING);
        }
        free(longer);
    }
}

/* Every type outside the table is a protocol violation, whatever follows. */
static void
test_unknown_type(void **state)
{
    uint8_t body[64];

    (void)state;
    memset(body, 0, sizeof body);
    for (unsigned t = 0; t < 256; t++) {
        body[0] = (uint8_t)t;
        if (sz_msg_type_name((uint8_t)t) != NULL)
            continue;
        assert_decode_fails(body, 1, -SZ_EBADMSG);
        assert_decode_fails(body, sizeof body, -SZ_EBADMSG);
        /* The encoder refuses it too. */
        {
            struct sz_msg m = {.type = (uint8_t)t};
            size_t len;
            assert_int_equal(sz_msg_encoded_len(&m, &len), -SZ_EINVAL);
        }
    }
    /* Exactly the eighteen types of PROTOCOL.md 4 are known. */
    {
        size_t known = 0;
        for (unsigned t = 0; t < 256; t++)
            known += sz_msg_type_name((uint8_t)t) != NULL;
        assert_int_equal(known, 18);
    }
}

/* BUNDLES: whole bundles back to back; every prefix of the body fails. */
static void
test_bundles(void **state)
{
    static uint8_t a[SZ_MSG_MIN_BUNDLE_LEN], b[SZ_MSG_MIN_BUNDLE_LEN + 7];
    const uint8_t *ptrs[2] = {a, b};
    size_t lens[2] = {sizeof a, sizeof b}, len = 0, blen, k;
    uint8_t out[1024];
    struct sz_msg m;
    struct sz_msg_iter it;
    const uint8_t *p;

    (void)state;
    memset(a, 0xa5, sizeof a);
    memset(b, 0x5a, sizeof b);
    assert_int_equal(sz_msg_encode_bundles(ptrs, lens, 2, out, sizeof out, &len), 0);
    assert_int_equal(len, 3 + 4 + sizeof a + 4 + sizeof b);
    assert_int_equal(sz_msg_decode(out, len, &m), 0);
    assert_int_equal(m.type, SZ_MSG_BUNDLES);
    assert_int_equal(m.n_entries, 2);
    sz_msg_bundles_iter(&m, &it);
    assert_true(sz_msg_bundles_next(&it, &p, &blen));
    assert_int_equal(blen, sizeof a);
    assert_memory_equal(p, a, sizeof a);
    assert_true(sz_msg_bundles_next(&it, &p, &blen));
    assert_int_equal(blen, sizeof b);
    assert_memory_equal(p, b, sizeof b);
    assert_false(sz_msg_bundles_next(&it, &p, &blen));
    for (k = 1; k < len; k++)
        assert_int_not_equal(sz_msg_decode(out, k, &m), 0);
    /* A bundle shorter than the smallest possible one is refused. */
    lens[0] = SZ_MSG_MIN_BUNDLE_LEN - 1;
    assert_int_equal(sz_msg_encode_bundles(ptrs, lens, 2, out, sizeof out, &len), -SZ_EINVAL);
    /* And no bundles at all. */
    assert_int_equal(sz_msg_encode_bundles(ptrs, lens, 0, out, sizeof out, &len), -SZ_EINVAL);
}

/* Hand-written bodies that break one rule each. */
static void
test_bad_bodies(void **state)
{
    static const struct {
        const char *name;
        const char *hex;
        int rc;
    } cases[] = {
        {"hello short", "01 0000 000000", -SZ_EBADMSG},
        {"hello role 4", "01 0000 04000000", -SZ_EBADMSG},
        {"hello role bit 31", "01 0000 00000080", -SZ_EBADMSG},
        {"hello both roles", "01 0000 03000000", -SZ_EBADMSG},
        {"ping short", "02 00000000000000", -SZ_EBADMSG},
        {"goodbye reason 0", "04 00 0000", -SZ_EBADMSG},
        {"goodbye reason 8", "04 08 0000", -SZ_EBADMSG},
        {"goodbye reason ff", "04 ff 0000", -SZ_EBADMSG},
        {"goodbye no length", "04 01 00", -SZ_EBADMSG},
        {"goodbye text > left", "04 01 0300 6869", -SZ_EBADMSG},
        {"goodbye text 257", "04 01 0101", -SZ_ETOOBIG},
        {"goodbye text 65535", "04 01 ffff 61", -SZ_ETOOBIG},
        {"goodbye overlong", "04 01 0200 c080", -SZ_EUTF8},
        {"goodbye nul", "04 01 0300 610062", -SZ_EUTF8},
        {"goodbye surrogate", "04 01 0300 eda080", -SZ_EUTF8},
        {"goodbye cut sequence", "04 01 0200 e282", -SZ_EUTF8},
        {"goodbye ff", "04 01 0100 ff", -SZ_EUTF8},
        {"goodbye newline", "04 01 0300 610a62", -SZ_EBADMSG},
        {"goodbye escape", "04 01 0400 1b5b3141", -SZ_EBADMSG},
        {"goodbye del", "04 01 0100 7f", -SZ_EBADMSG},
        {"goodbye c1 csi", "04 01 0200 c29b", -SZ_EBADMSG},
        {"announce 0", "10 0000", -SZ_EBADMSG},
        {"announce 257", "10 0101", -SZ_ETOOBIG},
        {"announce 65535", "10 ffff", -SZ_ETOOBIG},
        {"announce 2, 1 sent", "10 0200" PK_HEX Z8 ID_HEX "a9000000", -SZ_EBADMSG},
        {"announce size 168", "10 0100" PK_HEX Z8 ID_HEX "a8000000", -SZ_EBADMSG},
        {"announce size 0", "10 0100" PK_HEX Z8 ID_HEX "00000000", -SZ_EBADMSG},
        {"request 0", "11 0000", -SZ_EBADMSG},
        {"request 65", "11 4100", -SZ_ETOOBIG},
        {"request 2, 1 sent", "11 0200" ID_HEX, -SZ_EBADMSG},
        {"request 1, cut", "11 0100" Z8 Z8 Z8 "00000000000000", -SZ_EBADMSG},
        {"bundle no data", "12 e8030000 00000000", -SZ_EBADMSG},
        {"bundle past total", "12 e8030000 e7030000 ffff", -SZ_EBADMSG},
        {"bundle offset = total", "12 e8030000 e8030000 ff", -SZ_EBADMSG},
        {"bundle offset wraps", "12 ffffffff ffffffff ff", -SZ_EBADMSG},
        {"bundle total 168", "12 a8000000 00000000 ff", -SZ_EBADMSG},
        {"bundle total 0", "12 00000000 00000000 ff", -SZ_EBADMSG},
        {"not found short", "13" Z8 Z8 Z8 "00000000000000", -SZ_EBADMSG},
        {"request part offset 0", "15" ID_HEX "00000000", -SZ_EBADMSG},
        {"request part no offset", "15" ID_HEX, -SZ_EBADMSG},
        {"request part offset cut", "15" ID_HEX "010000", -SZ_EBADMSG},
        {"request part id cut", "15" Z8 Z8 Z8 "00000000000000", -SZ_EBADMSG},
        {"request part long", "15" ID_HEX "01000000 00", -SZ_ETRAILING},
        {"request part offset 0, long", "15" ID_HEX "00000000 01", -SZ_EBADMSG},
        {"summary more 2", "20 02 0000", -SZ_EBADMSG},
        {"summary more ff", "20 ff 0000", -SZ_EBADMSG},
        {"summary 1025", "20 00 0104", -SZ_ETOOBIG},
        {"summary 65535", "20 00 ffff", -SZ_ETOOBIG},
        {"summary 2, 1 sent", "20 00 0200" PK_HEX "0000", -SZ_EBADMSG},
        {"summary m 1025", "20 00 0100" PK_HEX "0104", -SZ_ETOOBIG},
        {"summary m > left", "20 00 0100" PK_HEX "0200" Z8 Z8, -SZ_EBADMSG},
        {"summary first > last", "20 00 0100" PK_HEX "0100 0200000000000000 0100000000000000",
         -SZ_EBADMSG},
        {"summary second pub bad",
         "20 00 0200" PK_HEX "0100" Z8 Z8 ID_HEX "0100 ffffffffffffffff" Z8, -SZ_EBADMSG},
        {"summary trailing", "20 00 0100" PK_HEX "0000 00", -SZ_ETRAILING},
        {"range first > last", "21" PK_HEX "0200000000000000 0100000000000000", -SZ_EBADMSG},
        {"range span 4096", "21" PK_HEX "0000000000000000 0010000000000000", -SZ_ETOOBIG},
        {"range span max", "21" PK_HEX "0000000000000000 ffffffffffffffff", -SZ_ETOOBIG},
        {"range short", "21" PK_HEX "0000000000000000 00000000000000", -SZ_EBADMSG},
        {"done first > last", "22" PK_HEX "0200000000000000 0100000000000000 00000000",
         -SZ_EBADMSG},
        {"done span 4096", "22" PK_HEX "0000000000000000 0010000000000000 00000000", -SZ_ETOOBIG},
        {"done sent > span", "22" PK_HEX "0a00000000000000 0b00000000000000 03000000", -SZ_EBADMSG},
        {"done sent max", "22" PK_HEX "0a00000000000000 0b00000000000000 ffffffff", -SZ_EBADMSG},
        {"done no sent", "22" PK_HEX "0a00000000000000 0b00000000000000", -SZ_EBADMSG},
        {"get peers trailing", "30 00", -SZ_ETRAILING},
        {"peers 33", "31 21", -SZ_ETOOBIG},
        {"peers ff", "31 ff", -SZ_ETOOBIG},
        {"peers 2, 1 sent", "31 02 04 c0000201 401f", -SZ_EBADMSG},
        {"peers family 0", "31 01 00 c0000201 401f", -SZ_EBADMSG},
        {"peers family 5", "31 01 05 c0000201 401f", -SZ_EBADMSG},
        {"peers family 16", "31 01 10 c0000201 401f", -SZ_EBADMSG},
        {"peers port 0", "31 01 04 c0000201 0000", -SZ_EBADMSG},
        {"peers v6 cut", "31 01 06 c0000201 401f", -SZ_EBADMSG},
        {"peers count > left/7", "31 02 04 c0000201 401f 04 c00002", -SZ_EBADMSG},
        {"peers trailing", "31 01 04 c0000201 401f 00", -SZ_ETRAILING},
        {"equivocation same ids", "40" PK_HEX Z8 ID_HEX ID_HEX, -SZ_EBADMSG},
        {"equivocation short", "40" PK_HEX Z8 ID_HEX Z8 Z8 Z8 "00000000000000", -SZ_EBADMSG},
    };

    (void)state;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        size_t len;
        uint8_t *body = from_hex(cases[i].hex, &len);

        print_message("%s\n", cases[i].name);
        assert_decode_fails(body, len, cases[i].rc);
        free(body);
    }
}

/* A count above its limit is refused as such, before the entries are looked at. */
static void
test_limits(void **state)
{
    static struct sz_msg_announce ann[SZ_MSG_MAX_ANNOUNCE + 1];
    static uint8_t ids[(SZ_MSG_MAX_REQUEST + 1) * 32];
    static struct sz_msg_peer peers[SZ_MSG_MAX_PEERS + 1];
    static struct sz_msg_range ranges[SZ_MSG_MAX_SUMMARY_RANGES + 1];
    static struct sz_msg_summary_src pubs[SZ_MSG_MAX_SUMMARY_PUBLISHERS + 1];
    static uint8_t data[SZ_MSG_MAX_CHUNK_LEN + 1];
    static char text[SZ_MSG_MAX_GOODBYE_TEXT_LEN + 1];
    uint8_t *buf = malloc(2 * SZ_MSG_MAX_LEN);
    size_t len, i;
    struct sz_msg m;

    (void)state;
    assert_non_null(buf);
    for (i = 0; i < N_ELEMS(ann); i++)
        announce_entry(&ann[i], i);
    for (i = 0; i < N_ELEMS(peers); i++)
        peer_entry(&peers[i], i);
    for (i = 0; i < N_ELEMS(ranges); i++)
        ranges[i] = (struct sz_msg_range){i, i};
    for (i = 0; i < N_ELEMS(pubs); i++)
        pubs[i] = (struct sz_msg_summary_src){.publisher = PK};
    memset(text, 'y', sizeof text);

    /* At the limit: fine. */
    assert_int_equal(sz_msg_encode_announce(ann, SZ_MSG_MAX_ANNOUNCE, buf, SZ_MSG_MAX_LEN, &len),
                     0);
    assert_int_equal(sz_msg_decode(buf, len, &m), 0);
    assert_int_equal(m.n_entries, SZ_MSG_MAX_ANNOUNCE);
    assert_int_equal(sz_msg_encode_peers(peers, SZ_MSG_MAX_PEERS, buf, SZ_MSG_MAX_LEN, &len), 0);
    assert_true(len <= SZ_MSG_MAX_PEERS_LEN);
    assert_int_equal(sz_msg_decode(buf, len, &m), 0);
    assert_int_equal(sz_msg_encode_summary(false, pubs, SZ_MSG_MAX_SUMMARY_PUBLISHERS, buf,
                                           SZ_MSG_MAX_LEN, &len),
                     0);
    assert_int_equal(sz_msg_decode(buf, len, &m), 0);
    assert_int_equal(m.n_entries, SZ_MSG_MAX_SUMMARY_PUBLISHERS);

    /* One above: the encoders refuse, and forged bodies do not decode. */
    assert_int_equal(
        sz_msg_encode_announce(ann, SZ_MSG_MAX_ANNOUNCE + 1, buf, SZ_MSG_MAX_LEN, &len),
        -SZ_ETOOBIG);
    assert_int_equal(sz_msg_encode_request(ids, SZ_MSG_MAX_REQUEST + 1, buf, SZ_MSG_MAX_LEN, &len),
                     -SZ_ETOOBIG);
    assert_int_equal(sz_msg_encode_peers(peers, SZ_MSG_MAX_PEERS + 1, buf, SZ_MSG_MAX_LEN, &len),
                     -SZ_ETOOBIG);
    assert_int_equal(sz_msg_encode_summary(false, pubs, SZ_MSG_MAX_SUMMARY_PUBLISHERS + 1, buf,
                                           SZ_MSG_MAX_LEN, &len),
                     -SZ_ETOOBIG);
    pubs[0] = (struct sz_msg_summary_src){
        .publisher = PK, .ranges = ranges, .n_ranges = SZ_MSG_MAX_SUMMARY_RANGES + 1};
    assert_int_equal(sz_msg_encode_summary(false, pubs, 1, buf, SZ_MSG_MAX_LEN, &len), -SZ_ETOOBIG);

    /* Forged: the counts with as many (valid) entries as they claim. */
    {
        /* ANNOUNCE of 257 valid entries. */
        size_t n = SZ_MSG_MAX_ANNOUNCE + 1;
        buf[0] = SZ_MSG_ANNOUNCE;
        sz_store16(buf + 1, (uint16_t)n);
        for (i = 0; i < n; i++) {
            uint8_t *p = buf + 3 + i * SZ_MSG_ANNOUNCE_ENTRY_LEN;
            memcpy(p, ann[i].publisher, 32);
            sz_store64(p + 32, ann[i].sequence);
            memcpy(p + 40, ann[i].id, 32);
            sz_store32(p + 72, ann[i].size);
        }
        assert_decode_fails(buf, 3 + n * SZ_MSG_ANNOUNCE_ENTRY_LEN, -SZ_ETOOBIG);
        /* REQUEST of 65 ids. */
        n = SZ_MSG_MAX_REQUEST + 1;
        buf[0] = SZ_MSG_REQUEST;
        sz_store16(buf + 1, (uint16_t)n);
        memset(buf + 3, 0x42, n * 32);
        assert_decode_fails(buf, 3 + n * 32, -SZ_ETOOBIG);
        /* PEERS of 33 IPv4 addresses. */
        n = SZ_MSG_MAX_PEERS + 1;
        buf[0] = SZ_MSG_PEERS;
        buf[1] = (uint8_t)n;
        for (i = 0; i < n; i++)
            memcpy(buf + 2 + 7 * i, "\x04\x0a\x00\x00\x01\x01\x10", 7);
        assert_decode_fails(buf, 2 + 7 * n, -SZ_ETOOBIG);
        /* SUMMARY of 1025 publishers with no ranges. */
        n = SZ_MSG_MAX_SUMMARY_PUBLISHERS + 1;
        buf[0] = SZ_MSG_SUMMARY;
        buf[1] = 0;
        sz_store16(buf + 2, (uint16_t)n);
        memset(buf + 4, 0, n * 34);
        assert_decode_fails(buf, 4 + n * 34, -SZ_ETOOBIG);
        /* SUMMARY of one publisher with 1025 ranges. */
        n = SZ_MSG_MAX_SUMMARY_RANGES + 1;
        sz_store16(buf + 2, 1);
        memset(buf + 4, 0, 32);
        sz_store16(buf + 36, (uint16_t)n);
        memset(buf + 38, 0, n * 16);
        assert_decode_fails(buf, 38 + n * 16, -SZ_ETOOBIG);
        sz_store16(buf + 36, (uint16_t)(n - 1));
        assert_int_equal(sz_msg_decode(buf, 38 + (n - 1) * 16, &m), 0);
    }

    /* GOODBYE text and BUNDLE data, at and above their limits. */
    m = (struct sz_msg){
        .type = SZ_MSG_GOODBYE, .reason = 1, .text = text, .text_len = SZ_MSG_MAX_GOODBYE_TEXT_LEN};
    assert_int_equal(sz_msg_encode(&m, buf, SZ_MSG_MAX_LEN, &len), 0);
    m.text_len++;
    assert_int_equal(sz_msg_encode(&m, buf, SZ_MSG_MAX_LEN, &len), -SZ_ETOOBIG);
    buf[0] = SZ_MSG_GOODBYE;
    buf[1] = 1;
    sz_store16(buf + 2, SZ_MSG_MAX_GOODBYE_TEXT_LEN + 1);
    memset(buf + 4, 'y', SZ_MSG_MAX_GOODBYE_TEXT_LEN + 1);
    assert_decode_fails(buf, 4 + SZ_MSG_MAX_GOODBYE_TEXT_LEN + 1, -SZ_ETOOBIG);

    m = (struct sz_msg){
        .type = SZ_MSG_BUNDLE, .total = UINT32_MAX, .data = data, .data_len = SZ_MSG_MAX_CHUNK_LEN};
    assert_int_equal(sz_msg_encode(&m, buf, SZ_MSG_MAX_LEN, &len), 0);
    m.data_len++;
    assert_int_equal(sz_msg_encode(&m, buf, SZ_MSG_MAX_LEN, &len), -SZ_ETOOBIG);
    buf[0] = SZ_MSG_BUNDLE;
    sz_store32(buf + 1, UINT32_MAX);
    sz_store32(buf + 5, 0);
    memset(buf + 9, 0, SZ_MSG_MAX_CHUNK_LEN + 1);
    assert_decode_fails(buf, 9 + SZ_MSG_MAX_CHUNK_LEN + 1, -SZ_ETOOBIG);

    /* A SUMMARY too big for one frame: the caller splits it. */
    for (i = 0; i < SZ_MSG_MAX_SUMMARY_PUBLISHERS; i++)
        pubs[i] = (struct sz_msg_summary_src){.publisher = PK, .ranges = ranges, .n_ranges = 64};
    assert_int_equal(sz_msg_encode_summary(true, pubs, SZ_MSG_MAX_SUMMARY_PUBLISHERS, buf,
                                           2 * SZ_MSG_MAX_LEN, &len),
                     -SZ_ETOOBIG);
    /* As many as fit: header + n x PUB_LEN(64) <= SZ_MSG_MAX_LEN. */
    {
        size_t fit = (SZ_MSG_MAX_LEN - SZ_MSG_SUMMARY_HEADER_LEN) / SZ_MSG_SUMMARY_PUB_LEN(64);
        assert_int_equal(sz_msg_encode_summary(true, pubs, fit, buf, SZ_MSG_MAX_LEN, &len), 0);
        assert_true(len <= SZ_MSG_MAX_LEN);
        assert_int_equal(sz_msg_decode(buf, len, &m), 0);
        assert_int_equal(sz_msg_encode_summary(true, pubs, fit + 1, buf, 2 * SZ_MSG_MAX_LEN, &len),
                         -SZ_ETOOBIG);
    }
    free(buf);
}

/* The accessors give back exactly what the typed encoders were given. */
static void
test_accessors(void **state)
{
    static const struct sz_msg_range ranges[] = {{1, 1}, {3, 7}, {9, UINT64_MAX}};
    struct sz_msg_announce ann[5], e;
    struct sz_msg_peer peers[7], p;
    struct sz_msg_summary_src pubs[4];
    struct sz_msg_summary_pub pub;
    struct sz_msg_iter it;
    struct sz_msg_range r;
    uint8_t ids[3][32], buf[4096];
    size_t len, i, j;
    struct sz_msg m;

    (void)state;
    for (i = 0; i < N_ELEMS(ann); i++)
        announce_entry(&ann[i], i);
    assert_int_equal(sz_msg_encode_announce(ann, N_ELEMS(ann), buf, sizeof buf, &len), 0);
    assert_int_equal(sz_msg_decode(buf, len, &m), 0);
    assert_int_equal(m.type, SZ_MSG_ANNOUNCE);
    assert_int_equal(m.n_entries, N_ELEMS(ann));
    for (i = 0; i < N_ELEMS(ann); i++) {
        sz_msg_announce_get(&m, i, &e);
        assert_memory_equal(e.publisher, ann[i].publisher, 32);
        assert_true(e.sequence == ann[i].sequence);
        assert_memory_equal(e.id, ann[i].id, 32);
        assert_int_equal(e.size, ann[i].size);
    }

    for (i = 0; i < 3; i++)
        memset(ids[i], (int)(0x70 + i), 32);
    assert_int_equal(sz_msg_encode_request(ids[0], 3, buf, sizeof buf, &len), 0);
    assert_int_equal(len, 3 + 3 * 32);
    assert_int_equal(sz_msg_decode(buf, len, &m), 0);
    for (i = 0; i < 3; i++) {
        assert_ptr_equal(sz_msg_request_id(&m, i), buf + 3 + 32 * i);
        assert_memory_equal(sz_msg_request_id(&m, i), ids[i], 32);
    }

    for (i = 0; i < N_ELEMS(peers); i++)
        peer_entry(&peers[i], i * 3);
    assert_int_equal(sz_msg_encode_peers(peers, N_ELEMS(peers), buf, sizeof buf, &len), 0);
    assert_int_equal(sz_msg_decode(buf, len, &m), 0);
    assert_int_equal(m.n_entries, N_ELEMS(peers));
    for (i = 0; i < N_ELEMS(peers); i++) {
        sz_msg_peer_get(&m, i, &p);
        assert_int_equal(p.family, peers[i].family);
        assert_memory_equal(p.addr, peers[i].addr, 16);
        assert_int_equal(p.port, peers[i].port);
    }

    pubs[0] = (struct sz_msg_summary_src){.publisher = PK, .ranges = ranges, .n_ranges = 3};
    pubs[1] = (struct sz_msg_summary_src){.publisher = ID, .ranges = ranges + 2, .n_ranges = 1};
    pubs[2] = (struct sz_msg_summary_src){.publisher = ID2, .ranges = NULL, .n_ranges = 0};
    pubs[3] = (struct sz_msg_summary_src){.publisher = PK, .ranges = ranges + 1, .n_ranges = 2};
    assert_int_equal(sz_msg_encode_summary(false, pubs, 4, buf, sizeof buf, &len), 0);
    assert_int_equal(len, SZ_MSG_SUMMARY_HEADER_LEN + SZ_MSG_SUMMARY_PUB_LEN(3) +
                              SZ_MSG_SUMMARY_PUB_LEN(1) + SZ_MSG_SUMMARY_PUB_LEN(0) +
                              SZ_MSG_SUMMARY_PUB_LEN(2));
    assert_int_equal(sz_msg_decode(buf, len, &m), 0);
    assert_int_equal(m.more, 0);
    sz_msg_summary_iter(&m, &it);
    for (i = 0; i < 4; i++) {
        assert_true(sz_msg_summary_next(&it, &pub));
        assert_memory_equal(pub.publisher, pubs[i].publisher, 32);
        assert_int_equal(pub.n_ranges, pubs[i].n_ranges);
        for (j = 0; j < pub.n_ranges; j++) {
            sz_msg_summary_range(&pub, j, &r);
            assert_true(r.first == pubs[i].ranges[j].first);
            assert_true(r.last == pubs[i].ranges[j].last);
        }
    }
    assert_false(sz_msg_summary_next(&it, &pub));
}

/* Arguments the encoders refuse, with nothing written. */
static void
test_encode_errors(void **state)
{
    static const uint8_t raw_req[64] = {1};
    static const uint8_t raw_peer[] = {4, 10, 0, 0, 1, 0x10, 0x10};
    static const uint8_t raw_peer_bad[] = {5, 10, 0, 0, 1, 0x10, 0x10};
    static const char bad_utf8[] = "\xc0\xaf";
    static uint8_t data[8];
    static const struct {
        const char *name;
        struct sz_msg msg;
        int rc;
    } cases[] = {
        {"type 0", {.type = 0}, -SZ_EINVAL},
        {"type 0xff", {.type = 0xff}, -SZ_EINVAL},
        {"hello roles 3", {.type = SZ_MSG_HELLO, .roles = 3}, -SZ_EINVAL},
        {"hello roles 8", {.type = SZ_MSG_HELLO, .roles = 8}, -SZ_EINVAL},
        {"goodbye reason 0", {.type = SZ_MSG_GOODBYE}, -SZ_EINVAL},
        {"goodbye reason 8", {.type = SZ_MSG_GOODBYE, .reason = 8}, -SZ_EINVAL},
        {"goodbye null text", {.type = SZ_MSG_GOODBYE, .reason = 1, .text_len = 1}, -SZ_EINVAL},
        {"goodbye bad utf8",
         {.type = SZ_MSG_GOODBYE, .reason = 1, .text = bad_utf8, .text_len = 2},
         -SZ_EUTF8},
        {"goodbye 257",
         {.type = SZ_MSG_GOODBYE, .reason = 1, .text = "", .text_len = 257},
         -SZ_ETOOBIG},
        {"announce 0", {.type = SZ_MSG_ANNOUNCE}, -SZ_EINVAL},
        {"announce 257", {.type = SZ_MSG_ANNOUNCE, .n_entries = 257}, -SZ_ETOOBIG},
        {"request raw short",
         {.type = SZ_MSG_REQUEST, .entries = raw_req, .entries_len = 63, .n_entries = 2},
         -SZ_EINVAL},
        {"request raw long",
         {.type = SZ_MSG_REQUEST, .entries = raw_req, .entries_len = 64, .n_entries = 1},
         -SZ_EINVAL},
        {"request null raw",
         {.type = SZ_MSG_REQUEST, .entries_len = 32, .n_entries = 1},
         -SZ_EINVAL},
        {"peers raw bad family",
         {.type = SZ_MSG_PEERS, .entries = raw_peer_bad, .entries_len = 7, .n_entries = 1},
         -SZ_EINVAL},
        {"peers count 0 with bytes",
         {.type = SZ_MSG_PEERS, .entries = raw_peer, .entries_len = 7, .n_entries = 0},
         -SZ_EINVAL},
        {"peers 33", {.type = SZ_MSG_PEERS, .n_entries = 33}, -SZ_ETOOBIG},
        {"summary more 2", {.type = SZ_MSG_SUMMARY, .more = 2}, -SZ_EINVAL},
        {"bundle empty", {.type = SZ_MSG_BUNDLE, .total = 1000, .data = data}, -SZ_EINVAL},
        {"bundle null data", {.type = SZ_MSG_BUNDLE, .total = 1000, .data_len = 8}, -SZ_EINVAL},
        {"bundle past total",
         {.type = SZ_MSG_BUNDLE, .total = 1000, .offset = 993, .data = data, .data_len = 8},
         -SZ_EINVAL},
        {"bundle total 168",
         {.type = SZ_MSG_BUNDLE, .total = 168, .data = data, .data_len = 8},
         -SZ_EINVAL},
        {"range first > last", {.type = SZ_MSG_REQUEST_RANGE, .first = 2, .last = 1}, -SZ_EINVAL},
        {"range span", {.type = SZ_MSG_REQUEST_RANGE, .last = 4096}, -SZ_ETOOBIG},
        {"done sent", {.type = SZ_MSG_RANGE_DONE, .first = 1, .last = 1, .sent = 2}, -SZ_EINVAL},
        {"equivocation same ids", {.type = SZ_MSG_EQUIVOCATION}, -SZ_EINVAL},
        {"request part offset 0", {.type = SZ_MSG_REQUEST_PART}, -SZ_EINVAL},
    };
    static const struct sz_msg_range bad_range[] = {{5, 4}};
    struct sz_msg_announce ann;
    struct sz_msg_peer peer;
    struct sz_msg_summary_src src;
    uint8_t buf[256], *out = NULL;
    size_t len = 999;

    (void)state;
    memset(buf, 0x5a, sizeof buf);
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        print_message("%s\n", cases[i].name);
        assert_int_equal(sz_msg_encode(&cases[i].msg, buf, sizeof buf, &len), cases[i].rc);
        assert_int_equal(sz_msg_encode_alloc(&cases[i].msg, &out, &len), cases[i].rc);
    }
    assert_null(out);
    assert_int_equal(len, 999);
    for (size_t k = 0; k < sizeof buf; k++)
        assert_int_equal(buf[k], 0x5a);

    /* NULL arguments. */
    assert_int_equal(sz_msg_encode(NULL, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode(&cases[0].msg, NULL, 0, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encoded_len(NULL, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_alloc(&(struct sz_msg){.type = SZ_MSG_PING}, NULL, &len),
                     -SZ_EINVAL);

    /* Typed encoders. */
    announce_entry(&ann, 0);
    assert_int_equal(sz_msg_encode_announce(&ann, 0, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_announce(NULL, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_announce(&ann, 1, buf, 3 + 75, &len), -SZ_ETOOBIG);
    ann.size = SZ_MSG_MIN_BUNDLE_LEN - 1;
    assert_int_equal(sz_msg_encode_announce(&ann, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_request(NULL, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_request(raw_req, 0, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_request(raw_req, 2, buf, 66, &len), -SZ_ETOOBIG);
    peer_entry(&peer, 0);
    peer.port = 0;
    assert_int_equal(sz_msg_encode_peers(&peer, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    peer.port = 1;
    peer.family = 5;
    assert_int_equal(sz_msg_encode_peers(&peer, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_peers(NULL, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    peer.family = SZ_FAMILY_IPV6;
    assert_int_equal(sz_msg_encode_peers(&peer, 1, buf, 2 + 18, &len), -SZ_ETOOBIG);
    src = (struct sz_msg_summary_src){.publisher = PK, .ranges = bad_range, .n_ranges = 1};
    assert_int_equal(sz_msg_encode_summary(false, &src, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    src = (struct sz_msg_summary_src){.publisher = NULL};
    assert_int_equal(sz_msg_encode_summary(false, &src, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    src = (struct sz_msg_summary_src){.publisher = PK, .n_ranges = 1};
    assert_int_equal(sz_msg_encode_summary(false, &src, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_summary(false, NULL, 1, buf, sizeof buf, &len), -SZ_EINVAL);
    src = (struct sz_msg_summary_src){.publisher = PK};
    assert_int_equal(sz_msg_encode_summary(false, &src, 1, buf, 3, &len), -SZ_ETOOBIG);
    assert_int_equal(len, 999);
    for (size_t k = 0; k < sizeof buf; k++)
        assert_int_equal(buf[k], 0x5a);
}

/* Names for logs. */
/* SUMMARY_PACKED and REQUEST_SPARSE: the packed ranges, byte for byte, and their limits. */
static void
test_packed(void **state)
{
    static const struct {
        const char *hex;
        int rc;
    } bad[] = {
        {"24" PK_HEX "0000", -SZ_EBADMSG},         /* no range */
        {"24" PK_HEX "0100 8000", -SZ_EBADMSG},    /* 0 in two bytes */
        {"24" PK_HEX "0100 0580 00", -SZ_EBADMSG}, /* a span in two bytes, the last 0 */
        {"24" PK_HEX "0100 05", -SZ_EBADMSG},      /* a range cut short */
        {"24" PK_HEX "0100 ffffffffffffffffff02 00", -SZ_EBADMSG},       /* 65 bits */
        {"24" PK_HEX "0100 ffffffffffffffffffff 00", -SZ_EBADMSG},       /* 11 bytes */
        {"24" PK_HEX "0100 00 8020", -SZ_ETOOBIG},                       /* 0 .. 4096 */
        {"24" PK_HEX "0200 00 00 ff1f 00", -SZ_ETOOBIG},                 /* 0 and 4096 */
        {"24" PK_HEX "0200 feffffffffffffffff01 00 01 00", -SZ_EBADMSG}, /* past 2^64 - 1 */
        {"24" PK_HEX "0100 01 ffffffffffffffffff01", -SZ_EBADMSG},       /* ends past 2^64 - 1 */
        {"23 00 0100" PK_HEX "0100 01", -SZ_EBADMSG},                    /* a range cut short */
        {"23 00 0100" PK_HEX "0200 00 00", -SZ_EBADMSG},                 /* 2 ranges, 1 there */
        {"23 02 0000", -SZ_EBADMSG},                                     /* more = 2 */
        {"23 00 0100" PK_HEX "0200 ffffffffffffffffff01 00 00 00", -SZ_EBADMSG},
    };
    static const struct sz_msg_range want[] = {{5, 5}, {7, 9}, {300, 300}};
    static const struct sz_msg_range desc[] = {{7, 9}, {5, 5}}, overlap[] = {{5, 7}, {7, 9}},
                                     wide[] = {{0, 0}, {4096, 4096}};
    struct sz_msg_summary_src src = {PK, want, 3};
    struct sz_msg_summary_pub pub;
    struct sz_msg_range r;
    struct sz_msg_iter it;
    struct sz_msg m;
    uint8_t buf[256], *b;
    size_t len, blen;

    (void)state;
    /* 5 .. 5: gap 5, span 0; 7 .. 9: gap 1 past 5, span 2; 300: gap 290 past 9 (a2 02). */
    b = from_hex("24" PK_HEX "0300 0500 0102 a20200", &blen);
    assert_int_equal(sz_msg_encode_request_sparse(PK, want, 3, buf, sizeof buf, &len), 0);
    assert_true(bytes_eq(buf, len, b, blen));
    assert_int_equal(sz_msg_decode(b, blen, &m), 0);
    assert_int_equal(m.type, SZ_MSG_REQUEST_SPARSE);
    assert_memory_equal(m.publisher, PK, 32);
    assert_int_equal(m.first, 5);
    assert_int_equal(m.last, 300);
    assert_int_equal(m.n_entries, 3);
    sz_msg_sparse_ranges(&m, &pub);
    for (size_t j = 0; j < 3; j++) {
        assert_true(sz_msg_summary_range_next(&pub, &r));
        assert_int_equal(r.first, want[j].first);
        assert_int_equal(r.last, want[j].last);
    }
    assert_false(sz_msg_summary_range_next(&pub, &r));
    free(b);

    /* The same ranges in a SUMMARY_PACKED, and in a SUMMARY: one walk reads both. */
    b = from_hex("23 01 0100" PK_HEX "0300 0500 0102 a20200", &blen);
    assert_int_equal(sz_msg_encode_summary_packed(true, &src, 1, buf, sizeof buf, &len), 0);
    assert_true(bytes_eq(buf, len, b, blen));
    free(b);
    for (int packed = 0; packed < 2; packed++) {
        if (packed)
            assert_int_equal(sz_msg_encode_summary_packed(false, &src, 1, buf, sizeof buf, &len),
                             0);
        else
            assert_int_equal(sz_msg_encode_summary(false, &src, 1, buf, sizeof buf, &len), 0);
        assert_int_equal(sz_msg_decode(buf, len, &m), 0);
        sz_msg_summary_iter(&m, &it);
        assert_true(sz_msg_summary_next(&it, &pub));
        assert_int_equal(pub.n_ranges, 3);
        for (size_t j = 0; j < 3; j++) {
            assert_true(sz_msg_summary_range_next(&pub, &r));
            assert_int_equal(r.first, want[j].first);
            assert_int_equal(r.last, want[j].last);
        }
        assert_false(sz_msg_summary_range_next(&pub, &r));
        assert_false(sz_msg_summary_next(&it, &pub));
    }

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = from_hex(bad[i].hex, &blen);
        print_message("bad packed %zu\n", i);
        assert_int_equal(sz_msg_decode(b, blen, &m), bad[i].rc);
        free(b);
    }

    /* The encoders refuse what the decoder would. */
    assert_int_equal(sz_msg_encode_request_sparse(PK, desc, 2, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_request_sparse(PK, overlap, 2, buf, sizeof buf, &len),
                     -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_request_sparse(PK, wide, 2, buf, sizeof buf, &len), -SZ_ETOOBIG);
    assert_int_equal(sz_msg_encode_request_sparse(PK, want, 0, buf, sizeof buf, &len), -SZ_EINVAL);
    assert_int_equal(sz_msg_encode_request_sparse(PK, want, 3, buf, 10, &len), -SZ_ETOOBIG);
    src.ranges = desc;
    src.n_ranges = 2;
    assert_int_equal(sz_msg_encode_summary_packed(false, &src, 1, buf, sizeof buf, &len),
                     -SZ_EINVAL);
    assert_int_equal(sz_msg_summary_packed_len(&src, 1), 0);
    {
        /* A hand-built REQUEST_SPARSE whose first and last do not match its ranges. */
        struct sz_msg s = {.type = SZ_MSG_REQUEST_SPARSE, .first = 5, .last = 301};
        assert_int_equal(sz_msg_encode_request_sparse(PK, want, 3, buf, sizeof buf, &len), 0);
        assert_int_equal(sz_msg_decode(buf, len, &m), 0);
        memcpy(s.publisher, PK, 32);
        s.entries = m.entries;
        s.entries_len = m.entries_len;
        s.n_entries = m.n_entries;
        assert_int_equal(sz_msg_encoded_len(&s, &len), -SZ_EINVAL);
        s.last = 300;
        assert_int_equal(sz_msg_encoded_len(&s, &len), 0);
        s.n_entries = 2;
        assert_int_equal(sz_msg_encoded_len(&s, &len), -SZ_EINVAL);
    }
}

static void
test_type_names(void **state)
{
    (void)state;
    assert_string_equal(sz_msg_type_name(SZ_MSG_HELLO), "HELLO");
    assert_string_equal(sz_msg_type_name(SZ_MSG_REQUEST_RANGE), "REQUEST_RANGE");
    assert_string_equal(sz_msg_type_name(SZ_MSG_EQUIVOCATION), "EQUIVOCATION");
    assert_string_equal(sz_msg_type_name(SZ_MSG_REQUEST_PART), "REQUEST_PART");
    assert_null(sz_msg_type_name(0));
    assert_null(sz_msg_type_name(0x41));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),      cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated_prefixes), cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_unknown_type),       cmocka_unit_test(test_bundles),
        cmocka_unit_test(test_bad_bodies),         cmocka_unit_test(test_limits),
        cmocka_unit_test(test_accessors),          cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_type_names),         cmocka_unit_test(test_packed),
    };

    return cmocka_run_group_tests(tests, build_samples, free_samples);
}
