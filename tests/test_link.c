/*
 * Tests of proto/link.c, the peer link (PROTOCOL.md sections 2 and 3), driven
 * by pumping bytes between links in memory: the handshake in both roles,
 * frames both ways (up to SZ_MAX_FRAME_LEN), many frames in one buffer and one
 * byte at a time, and every failure path: wrong network key (the responder
 * stays silent), clock skew, replays, reordered, truncated and altered
 * handshake messages, altered frames, frame lengths out of range, low-order
 * ephemeral keys, no common version, and the input memory bound.
 *
 * A small model of the handshake, written from PROTOCOL.md alone, stands in
 * for the other side where the tests need messages the library never makes
 * (a low-order key, other versions, unoffered features), and checks that the
 * library speaks the protocol as written.
 *
 * The binary includes its own copy of proto/link.c built with SZ_LINK_TESTING,
 * which adds sz_link_test_seal_raw() (frames with any sealed length).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "samizdat/link.h"

/* Built into this binary from proto/link.c with SZ_LINK_TESTING. */
int sz_link_test_seal_raw(struct sz_link *l, uint32_t len_field, const uint8_t *body,
                          size_t body_len, uint8_t *out);

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define NOW ((int64_t)1700000000)
#define MAX_MSGS 512
#define TAG_LEN 16
/* link.c's bound on buffered input: two whole frames of the largest size. */
#define INPUT_BOUND (2 * (SZ_FRAME_OVERHEAD + SZ_MAX_FRAME_LEN))

static const uint8_t NET_A[SZ_NETWORK_KEY_LEN] = {0xa0, 0xa1, [31] = 0xaf};
static const uint8_t NET_B[SZ_NETWORK_KEY_LEN] = {0xa0, 0xa1, [31] = 0xae};

/* ---- Two links and the bytes between them. ---- */

/* What a link reported while polling: OPEN events and copies of message bodies. */
struct inbox {
    size_t n_open;
    size_t n_msg;
    uint8_t *body[MAX_MSGS];
    size_t len[MAX_MSGS];
};

struct pair {
    struct sz_link_keys ki, kr;
    struct sz_link *i, *r;
    struct inbox in_i, in_r;
};

static void
make_keys(struct sz_link_keys *k, const uint8_t *net, uint32_t features)
{
    memset(k, 0, sizeof *k);
    memcpy(k->network_key, net, SZ_NETWORK_KEY_LEN);
    assert_int_equal(crypto_box_keypair(k->node_pk, k->node_sk), 0);
    k->features = features;
}

static void
inbox_clear(struct inbox *in)
{
    for (size_t i = 0; i < in->n_msg && i < MAX_MSGS; i++)
        free(in->body[i]);
    memset(in, 0, sizeof *in);
}

/* Polls until the link needs input; returns 0 or the link's error. */
static int
drain(struct sz_link *l, int64_t now, struct inbox *in)
{
    struct sz_link_event ev;
    int rc;

    for (;;) {
        rc = sz_link_poll(l, now, &ev);
        if (rc != 0) {
            assert_int_equal(ev.type, SZ_LINK_EV_NONE);
            return rc;
        }
        switch (ev.type) {
        case SZ_LINK_EV_NONE:
            return 0;
        case SZ_LINK_EV_OPEN:
            assert_int_equal(sz_link_state(l), SZ_LINK_OPEN);
            in->n_open++;
            break;
        case SZ_LINK_EV_MESSAGE:
            assert_true(ev.body_len >= 1 && ev.body_len <= SZ_MAX_FRAME_LEN);
            assert_true(in->n_msg < MAX_MSGS);
            in->body[in->n_msg] = malloc(ev.body_len);
            assert_non_null(in->body[in->n_msg]);
            memcpy(in->body[in->n_msg], ev.body, ev.body_len);
            in->len[in->n_msg] = ev.body_len;
            in->n_msg++;
            break;
        default:
            fail_msg("unknown event %d", (int)ev.type);
        }
    }
}

/*
 * Moves everything `from` has queued into `to`, `step` bytes per input (0: all
 * at once), polling `to` after each. Returns 0 or the first error of `to`.
 */
static int
transfer(struct sz_link *from, struct sz_link *to, size_t step, int64_t now, struct inbox *in)
{
    size_t len, off, n;
    const uint8_t *p = sz_link_output(from, &len);
    int rc = 0;

    for (off = 0; rc == 0 && off < len; off += n) {
        n = step == 0 || step > len - off ? len - off : step;
        rc = sz_link_input(to, p + off, n);
        if (rc == 0)
            rc = drain(to, now, in);
    }
    sz_link_output_consume(from, len);
    return rc;
}

static void
pair_new(struct pair *p, uint32_t features_i, uint32_t features_r)
{
    memset(p, 0, sizeof *p);
    make_keys(&p->ki, NET_A, features_i);
    make_keys(&p->kr, NET_A, features_r);
    assert_int_equal(sz_link_new(SZ_LINK_INITIATOR, &p->ki, NOW, &p->i), 0);
    assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &p->kr, NOW, &p->r), 0);
}

static void
pair_free(struct pair *p)
{
    sz_link_free(p->i);
    sz_link_free(p->r);
    inbox_clear(&p->in_i);
    inbox_clear(&p->in_r);
}

/* Runs the three handshake messages through, `step` bytes at a time. */
static void
pair_handshake(struct pair *p, size_t step)
{
    assert_int_equal(transfer(p->i, p->r, step, NOW, &p->in_r), 0);
    assert_int_equal(transfer(p->r, p->i, step, NOW, &p->in_i), 0);
    assert_int_equal(transfer(p->i, p->r, step, NOW, &p->in_r), 0);
    assert_int_equal(p->in_i.n_open, 1);
    assert_int_equal(p->in_r.n_open, 1);
    assert_int_equal(sz_link_state(p->i), SZ_LINK_OPEN);
    assert_int_equal(sz_link_state(p->r), SZ_LINK_OPEN);
}

static void
pair_open(struct pair *p)
{
    pair_new(p, 0, 0);
    pair_handshake(p, 0);
}

/* Copies exactly `want` queued bytes out of l and consumes them. */
static void
take(struct sz_link *l, uint8_t *buf, size_t want)
{
    size_t len;
    const uint8_t *p = sz_link_output(l, &len);

    assert_int_equal(len, want);
    memcpy(buf, p, want);
    sz_link_output_consume(l, want);
}

/* Whether needle occurs in hay (memmem is a GNU extension). */
static bool
contains(const uint8_t *hay, size_t hay_len, const void *needle, size_t n)
{
    for (size_t i = 0; n <= hay_len && i <= hay_len - n; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

static size_t
out_len(const struct sz_link *l)
{
    size_t len;

    (void)sz_link_output(l, &len);
    return len;
}

/* Feeds bytes and polls; returns the first error. */
static int
feed(struct sz_link *l, const uint8_t *buf, size_t len, int64_t now, struct inbox *in)
{
    int rc = sz_link_input(l, buf, len);

    return rc != 0 ? rc : drain(l, now, in);
}

/* A link that failed stays failed and silent, whatever it is given next. */
static void
assert_failed_silent(struct sz_link *l, int err)
{
    static const uint8_t junk[100] = {1, 2, 3};
    struct sz_link_event ev;

    assert_int_equal(sz_link_state(l), SZ_LINK_FAILED);
    assert_int_equal(out_len(l), 0);
    assert_int_equal(sz_link_input(l, junk, sizeof junk), err);
    assert_int_equal(sz_link_poll(l, NOW, &ev), err);
    assert_int_equal(ev.type, SZ_LINK_EV_NONE);
    assert_int_equal(sz_link_send(l, junk, 1), -SZ_EINVAL);
    assert_int_equal(out_len(l), 0);
}

/* The three handshake messages of a fresh pair, each taken off the wire. */
struct transcript {
    uint8_t hs1[SZ_HS1_LEN], hs2[SZ_HS2_LEN], hs3[SZ_HS3_LEN];
};

/* Runs a handshake, keeping copies of its messages; the pair ends OPEN. */
static void
record_handshake(struct pair *p, struct transcript *t)
{
    take(p->i, t->hs1, SZ_HS1_LEN);
    assert_int_equal(feed(p->r, t->hs1, SZ_HS1_LEN, NOW, &p->in_r), 0);
    take(p->r, t->hs2, SZ_HS2_LEN);
    assert_int_equal(feed(p->i, t->hs2, SZ_HS2_LEN, NOW, &p->in_i), 0);
    take(p->i, t->hs3, SZ_HS3_LEN);
    assert_int_equal(feed(p->r, t->hs3, SZ_HS3_LEN, NOW, &p->in_r), 0);
    assert_int_equal(p->in_i.n_open, 1);
    assert_int_equal(p->in_r.n_open, 1);
}

/* ---- A model of the handshake, from PROTOCOL.md alone. ---- */

struct model {
    uint8_t ck[32], h[32], k[32];
    uint8_t e_pk[32], e_sk[32], re[32];
    uint8_t s_pk[32], s_sk[32], rs[32];
    uint8_t i2r[32], r2i[32];
};

/* KDF(key, label, x): BLAKE2b-256 keyed with key over label || x. */
static void
m_kdf(const uint8_t key[32], const char *label, const uint8_t *x, size_t x_len, uint8_t out[32])
{
    uint8_t buf[64];
    size_t n = strlen(label);

    assert_true(n + x_len <= sizeof buf);
    memcpy(buf, label, n);
    if (x_len > 0)
        memcpy(buf + n, x, x_len);
    assert_int_equal(crypto_generichash(out, 32, buf, n + x_len, key, 32), 0);
}

/* MixHash(x): h = HASH(h || x). */
static void
m_mix_hash(struct model *m, const uint8_t *x, size_t len)
{
    uint8_t buf[32 + 128];

    assert_true(len <= 128);
    memcpy(buf, m->h, 32);
    memcpy(buf + 32, x, len);
    assert_int_equal(crypto_generichash(m->h, 32, buf, 32 + len, NULL, 0), 0);
}

/* MixKey(d): k = KDF(ck, "k", d); ck = KDF(ck, "ck", d). */
static void
m_mix_key(struct model *m, const uint8_t d[32])
{
    uint8_t ck[32];

    m_kdf(m->ck, "k", d, 32, m->k);
    m_kdf(m->ck, "ck", d, 32, ck);
    memcpy(m->ck, ck, 32);
}

static void
m_dh(const uint8_t sk[32], const uint8_t pk[32], uint8_t out[32])
{
    assert_int_equal(crypto_scalarmult(out, sk, pk), 0);
}

/* SEAL(k, n, ad, pt): XChaCha20-Poly1305-IETF, nonce LE64(n) then 16 zero bytes. */
static void
m_seal(const uint8_t k[32], uint64_t n, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
       size_t len, uint8_t *ct)
{
    uint8_t nonce[24] = {0};

    sz_store64(nonce, n);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, pt, len, ad, ad_len, NULL, nonce, k);
}

static int
m_open(const uint8_t k[32], uint64_t n, const uint8_t *ad, size_t ad_len, const uint8_t *ct,
       size_t ct_len, uint8_t *pt)
{
    uint8_t nonce[24] = {0};

    sz_store64(nonce, n);
    return crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, ct_len, ad, ad_len, nonce,
                                                      k);
}

/* ck = KDF(N, "samizdat-link-v1", ""); h = HASH(ck || "samizdat-link-v1"). */
static void
m_init(struct model *m, const struct sz_link_keys *keys)
{
    memset(m, 0, sizeof *m);
    memcpy(m->s_pk, keys->node_pk, 32);
    memcpy(m->s_sk, keys->node_sk, 32);
    m_kdf(keys->network_key, "samizdat-link-v1", NULL, 0, m->ck);
    memcpy(m->h, m->ck, 32);
    m_mix_hash(m, (const uint8_t *)"samizdat-link-v1", 16);
}

static void
m_split(struct model *m)
{
    m_kdf(m->ck, "i2r", m->h, 32, m->i2r);
    m_kdf(m->ck, "r2i", m->h, 32, m->r2i);
}

static void
m_payload(uint8_t out[16], uint16_t a, uint16_t b, uint32_t features, int64_t now)
{
    sz_store16(out, a);
    sz_store16(out + 2, b);
    sz_store32(out + 4, features);
    sz_store64(out + 8, (uint64_t)now);
}

/* Message 1 with a fresh e, or with the given public e (its secret then unknown). */
static void
m_write_hs1(struct model *m, const uint8_t *e, int64_t ts, uint8_t out[SZ_HS1_LEN])
{
    uint8_t k1[32], t[8];

    if (e != NULL)
        memcpy(m->e_pk, e, 32);
    else
        assert_int_equal(crypto_box_keypair(m->e_pk, m->e_sk), 0);
    memcpy(out, m->e_pk, 32);
    m_mix_hash(m, m->e_pk, 32);
    m_kdf(m->ck, "hs1", m->e_pk, 32, k1);
    sz_store64(t, (uint64_t)ts);
    m_seal(k1, 0, m->h, 32, t, 8, out + 32);
    m_mix_hash(m, out + 32, 24);
}

static int
m_read_hs1(struct model *m, const uint8_t in[SZ_HS1_LEN], int64_t *ts)
{
    uint8_t k1[32], t[8];

    memcpy(m->re, in, 32);
    m_mix_hash(m, m->re, 32);
    m_kdf(m->ck, "hs1", m->re, 32, k1);
    if (m_open(k1, 0, m->h, 32, in + 32, 24, t) != 0)
        return -1;
    m_mix_hash(m, in + 32, 24);
    *ts = (int64_t)sz_load64(t);
    return 0;
}

static void
m_write_hs2(struct model *m, uint16_t vmin, uint16_t vmax, uint32_t features, int64_t now,
            uint8_t out[SZ_HS2_LEN])
{
    uint8_t d[32], payload[16];

    assert_int_equal(crypto_box_keypair(m->e_pk, m->e_sk), 0);
    memcpy(out, m->e_pk, 32);
    m_mix_hash(m, m->e_pk, 32);
    m_dh(m->e_sk, m->re, d); /* ee */
    m_mix_key(m, d);
    m_seal(m->k, 0, m->h, 32, m->s_pk, 32, out + 32);
    m_mix_hash(m, out + 32, 48);
    m_dh(m->s_sk, m->re, d); /* es */
    m_mix_key(m, d);
    m_payload(payload, vmin, vmax, features, now);
    m_seal(m->k, 0, m->h, 32, payload, 16, out + 80);
    m_mix_hash(m, out + 80, 32);
}

static int
m_read_hs2(struct model *m, const uint8_t in[SZ_HS2_LEN], uint8_t payload[16])
{
    uint8_t d[32];

    memcpy(m->re, in, 32);
    m_mix_hash(m, m->re, 32);
    m_dh(m->e_sk, m->re, d); /* ee */
    m_mix_key(m, d);
    if (m_open(m->k, 0, m->h, 32, in + 32, 48, m->rs) != 0)
        return -1;
    m_mix_hash(m, in + 32, 48);
    m_dh(m->e_sk, m->rs, d); /* es */
    m_mix_key(m, d);
    if (m_open(m->k, 0, m->h, 32, in + 80, 32, payload) != 0)
        return -1;
    m_mix_hash(m, in + 80, 32);
    return 0;
}

static void
m_write_hs3(struct model *m, uint16_t version, uint16_t zero, uint32_t features, int64_t now,
            uint8_t out[SZ_HS3_LEN])
{
    uint8_t d[32], payload[16];

    m_seal(m->k, 1, m->h, 32, m->s_pk, 32, out);
    m_mix_hash(m, out, 48);
    m_dh(m->s_sk, m->re, d); /* se */
    m_mix_key(m, d);
    m_payload(payload, version, zero, features, now);
    m_seal(m->k, 0, m->h, 32, payload, 16, out + 48);
    m_mix_hash(m, out + 48, 32);
    m_split(m);
}

static int
m_read_hs3(struct model *m, const uint8_t in[SZ_HS3_LEN], uint8_t payload[16])
{
    uint8_t d[32];

    if (m_open(m->k, 1, m->h, 32, in, 48, m->rs) != 0)
        return -1;
    m_mix_hash(m, in, 48);
    m_dh(m->e_sk, m->rs, d); /* se */
    m_mix_key(m, d);
    if (m_open(m->k, 0, m->h, 32, in + 48, 32, payload) != 0)
        return -1;
    m_mix_hash(m, in + 48, 32);
    m_split(m);
    return 0;
}

/* A frame: SEAL(key, n, "", LE32(len)) then SEAL(key, n + 1, "", body). */
static void
m_seal_frame(const uint8_t key[32], uint64_t n, const uint8_t *body, size_t len, uint8_t *out)
{
    uint8_t hdr[4];

    sz_store32(hdr, (uint32_t)len);
    m_seal(key, n, NULL, 0, hdr, 4, out);
    m_seal(key, n + 1, NULL, 0, body, len, out + SZ_FRAME_HEADER_LEN);
}

static int
m_open_frame(const uint8_t key[32], uint64_t n, const uint8_t *frame, size_t frame_len,
             uint8_t *body, size_t *len)
{
    uint8_t hdr[4];

    if (frame_len < SZ_FRAME_OVERHEAD || m_open(key, n, NULL, 0, frame, 20, hdr) != 0)
        return -1;
    *len = sz_load32(hdr);
    if (*len != frame_len - SZ_FRAME_OVERHEAD)
        return -1;
    return m_open(key, n + 1, NULL, 0, frame + 20, *len + TAG_LEN, body);
}

/* ---- Tests. ---- */

/* Both roles: keys learned both ways, version 1, features ANDed, exact message sizes. */
static void
test_handshake(void **state)
{
    struct pair p;
    size_t len;

    (void)state;
    pair_new(&p, 0x5, 0x6);
    /* Before anything: the initiator has message 1 queued, the responder nothing. */
    assert_int_equal(sz_link_state(p.i), SZ_LINK_WAIT_HS2);
    assert_int_equal(sz_link_state(p.r), SZ_LINK_WAIT_HS1);
    assert_int_equal(out_len(p.i), SZ_HS1_LEN);
    assert_int_equal(out_len(p.r), 0);
    assert_non_null(sz_link_output(p.r, &len));
    /* Polling with no input at all is fine and reports nothing. */
    assert_int_equal(drain(p.r, NOW, &p.in_r), 0);
    assert_int_equal(drain(p.i, NOW, &p.in_i), 0);
    assert_int_equal(p.in_r.n_open + p.in_i.n_open, 0);

    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    assert_int_equal(sz_link_state(p.r), SZ_LINK_WAIT_HS3);
    assert_int_equal(out_len(p.r), SZ_HS2_LEN);
    assert_int_equal(transfer(p.r, p.i, 0, NOW, &p.in_i), 0);
    assert_int_equal(p.in_i.n_open, 1);
    assert_int_equal(sz_link_state(p.i), SZ_LINK_OPEN);
    assert_int_equal(out_len(p.i), SZ_HS3_LEN);
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    assert_int_equal(p.in_r.n_open, 1);
    assert_int_equal(sz_link_state(p.r), SZ_LINK_OPEN);

    assert_memory_equal(sz_link_peer_key(p.i), p.kr.node_pk, SZ_NODE_KEY_LEN);
    assert_memory_equal(sz_link_peer_key(p.r), p.ki.node_pk, SZ_NODE_KEY_LEN);
    assert_int_equal(sz_link_version(p.i), 1);
    assert_int_equal(sz_link_version(p.r), 1);
    assert_int_equal(sz_link_features(p.i), 0x4);
    assert_int_equal(sz_link_features(p.r), 0x4);
    assert_int_equal(out_len(p.i), 0);
    assert_int_equal(out_len(p.r), 0);
    pair_free(&p);

    /* Disjoint offers agree on no feature. */
    pair_new(&p, 0x1, 0x2);
    pair_handshake(&p, 0);
    assert_int_equal(sz_link_features(p.i), 0);
    assert_int_equal(sz_link_features(p.r), 0);
    pair_free(&p);
}

/* Two handshakes of the same keys share no byte pattern: fresh ephemerals each time. */
static void
test_handshake_fresh(void **state)
{
    struct pair p;
    struct transcript t1, t2;

    (void)state;
    pair_new(&p, 0, 0);
    record_handshake(&p, &t1);
    sz_link_free(p.i);
    sz_link_free(p.r);
    assert_int_equal(sz_link_new(SZ_LINK_INITIATOR, &p.ki, NOW, &p.i), 0);
    assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &p.kr, NOW, &p.r), 0);
    inbox_clear(&p.in_i);
    inbox_clear(&p.in_r);
    record_handshake(&p, &t2);
    assert_memory_not_equal(t1.hs1, t2.hs1, SZ_HS1_LEN);
    assert_memory_not_equal(t1.hs2, t2.hs2, SZ_HS2_LEN);
    assert_memory_not_equal(t1.hs3, t2.hs3, SZ_HS3_LEN);
    pair_free(&p);
}

static void
fill(uint8_t *p, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
}

/* Messages both ways, from 1 byte to SZ_MAX_FRAME_LEN; one more is refused. */
static void
test_messages(void **state)
{
    static const size_t sizes[] = {1, 2, 15, 16, 17, 255, 4096, 65536, 65537, SZ_MAX_FRAME_LEN};
    struct pair p;
    uint8_t *buf = malloc(SZ_MAX_FRAME_LEN + 1);
    uint8_t *frame = malloc(SZ_MAX_FRAME_LEN + 1 + SZ_FRAME_OVERHEAD);
    size_t i;

    (void)state;
    assert_non_null(buf);
    assert_non_null(frame);
    pair_open(&p);
    for (i = 0; i < N_ELEMS(sizes); i++) {
        fill(buf, sizes[i], (uint32_t)i);
        assert_int_equal(sz_link_send(p.i, buf, sizes[i]), 0);
        assert_int_equal(out_len(p.i), sizes[i] + SZ_FRAME_OVERHEAD);
        assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
        assert_int_equal(p.in_r.n_msg, i + 1);
        assert_int_equal(p.in_r.len[i], sizes[i]);
        assert_memory_equal(p.in_r.body[i], buf, sizes[i]);

        fill(buf, sizes[i], (uint32_t)i + 100);
        assert_int_equal(sz_link_send(p.r, buf, sizes[i]), 0);
        assert_int_equal(transfer(p.r, p.i, 0, NOW, &p.in_i), 0);
        assert_int_equal(p.in_i.n_msg, i + 1);
        assert_int_equal(p.in_i.len[i], sizes[i]);
        assert_memory_equal(p.in_i.body[i], buf, sizes[i]);
    }
    /* Out of range: nothing is queued and the link goes on. */
    assert_int_equal(sz_link_send(p.i, buf, SZ_MAX_FRAME_LEN + 1), -SZ_ETOOBIG);
    assert_int_equal(sz_link_send(p.i, buf, 0), -SZ_EINVAL);
    assert_int_equal(sz_link_seal(p.i, buf, SZ_MAX_FRAME_LEN + 1, frame), -SZ_ETOOBIG);
    assert_int_equal(sz_link_seal(p.i, buf, 0, frame), -SZ_EINVAL);
    assert_int_equal(out_len(p.i), 0);
    assert_int_equal(sz_link_state(p.i), SZ_LINK_OPEN);

    /* sz_link_seal() into a caller's buffer, in order with the queue. */
    assert_int_equal(sz_link_send(p.i, (const uint8_t *)"queued", 6), 0);
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    assert_int_equal(sz_link_seal(p.i, (const uint8_t *)"sealed", 6, frame), 0);
    assert_int_equal(feed(p.r, frame, 6 + SZ_FRAME_OVERHEAD, NOW, &p.in_r), 0);
    assert_int_equal(sz_link_send(p.i, (const uint8_t *)"queued again", 12), 0);
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    i = N_ELEMS(sizes);
    assert_int_equal(p.in_r.n_msg, i + 3);
    assert_memory_equal(p.in_r.body[i], "queued", 6);
    assert_memory_equal(p.in_r.body[i + 1], "sealed", 6);
    assert_memory_equal(p.in_r.body[i + 2], "queued again", 12);
    pair_free(&p);
    free(frame);
    free(buf);
}

/* Nothing can be sent before the handshake is done. */
static void
test_send_before_open(void **state)
{
    struct pair p;
    uint8_t frame[SZ_FRAME_OVERHEAD + 1];

    (void)state;
    pair_new(&p, 0, 0);
    assert_int_equal(sz_link_send(p.i, (const uint8_t *)"x", 1), -SZ_EINVAL);
    assert_int_equal(sz_link_send(p.r, (const uint8_t *)"x", 1), -SZ_EINVAL);
    assert_int_equal(sz_link_seal(p.r, (const uint8_t *)"x", 1, frame), -SZ_EINVAL);
    assert_int_equal(out_len(p.i), SZ_HS1_LEN);
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    /* The responder waits for message 3. */
    assert_int_equal(sz_link_send(p.r, (const uint8_t *)"x", 1), -SZ_EINVAL);
    assert_int_equal(out_len(p.r), SZ_HS2_LEN);
    pair_free(&p);
}

/* Many frames in one input; the initiator's first frames travel with message 3. */
static void
test_many_frames(void **state)
{
    struct pair p;
    uint8_t buf[300];
    size_t i;

    (void)state;
    pair_new(&p, 0, 0);
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    assert_int_equal(transfer(p.r, p.i, 0, NOW, &p.in_i), 0);
    /* OPEN at the initiator: frames queue behind message 3. */
    for (i = 0; i < 200; i++) {
        fill(buf, 1 + i, (uint32_t)i);
        assert_int_equal(sz_link_send(p.i, buf, 1 + i), 0);
    }
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    assert_int_equal(p.in_r.n_open, 1);
    assert_int_equal(p.in_r.n_msg, 200);
    for (i = 0; i < 200; i++) {
        fill(buf, 1 + i, (uint32_t)i);
        assert_int_equal(p.in_r.len[i], 1 + i);
        assert_memory_equal(p.in_r.body[i], buf, 1 + i);
    }
    /* And the other way, in one buffer after the handshake. */
    for (i = 0; i < 300; i++) {
        fill(buf, 300 - i, (uint32_t)i);
        assert_int_equal(sz_link_send(p.r, buf, 300 - i), 0);
    }
    assert_int_equal(transfer(p.r, p.i, 0, NOW, &p.in_i), 0);
    assert_int_equal(p.in_i.n_msg, 300);
    for (i = 0; i < 300; i++) {
        fill(buf, 300 - i, (uint32_t)i);
        assert_int_equal(p.in_i.len[i], 300 - i);
        assert_memory_equal(p.in_i.body[i], buf, 300 - i);
    }
    pair_free(&p);
}

/* The handshake and frames fed one byte at a time, and in pieces of other sizes. */
static void
test_byte_at_a_time(void **state)
{
    static const size_t steps[] = {1, 2, 3, 7, 19, 20, 21, 55, 57, 111, 113};
    struct pair p;
    uint8_t buf[1000];

    (void)state;
    for (size_t s = 0; s < N_ELEMS(steps); s++) {
        pair_new(&p, 0, 0);
        pair_handshake(&p, steps[s]);
        for (size_t i = 0; i < 5; i++) {
            fill(buf, sizeof buf - i * 150, (uint32_t)i);
            assert_int_equal(sz_link_send(p.i, buf, sizeof buf - i * 150), 0);
            assert_int_equal(sz_link_send(p.r, buf, 1 + i), 0);
        }
        assert_int_equal(transfer(p.i, p.r, steps[s], NOW, &p.in_r), 0);
        assert_int_equal(transfer(p.r, p.i, steps[s], NOW, &p.in_i), 0);
        assert_int_equal(p.in_r.n_msg, 5);
        assert_int_equal(p.in_i.n_msg, 5);
        for (size_t i = 0; i < 5; i++) {
            fill(buf, sizeof buf - i * 150, (uint32_t)i);
            assert_int_equal(p.in_r.len[i], sizeof buf - i * 150);
            assert_memory_equal(p.in_r.body[i], buf, sizeof buf - i * 150);
            assert_int_equal(p.in_i.len[i], 1 + i);
        }
        pair_free(&p);
    }
}

/* A responder with another network key says nothing at all and fails with -SZ_EAUTH. */
static void
test_wrong_network_key(void **state)
{
    struct sz_link_keys ki, kr;
    struct sz_link *i, *r;
    struct inbox in = {0};
    uint8_t hs1[SZ_HS1_LEN];

    (void)state;
    make_keys(&ki, NET_A, 0);
    make_keys(&kr, NET_B, 0);
    assert_int_equal(sz_link_new(SZ_LINK_INITIATOR, &ki, NOW, &i), 0);
    assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
    take(i, hs1, SZ_HS1_LEN);
    /* Short of a whole message: waiting, still silent. */
    assert_int_equal(feed(r, hs1, SZ_HS1_LEN - 1, NOW, &in), 0);
    assert_int_equal(out_len(r), 0);
    assert_int_equal(feed(r, hs1 + SZ_HS1_LEN - 1, 1, NOW, &in), -SZ_EAUTH);
    assert_int_equal(in.n_open, 0);
    assert_failed_silent(r, -SZ_EAUTH);
    sz_link_free(r);

    /* The same message in one piece, with more bytes after it. */
    assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
    assert_int_equal(sz_link_input(r, hs1, SZ_HS1_LEN), 0);
    assert_int_equal(sz_link_input(r, hs1, SZ_HS1_LEN), 0);
    assert_int_equal(drain(r, NOW, &in), -SZ_EAUTH);
    assert_failed_silent(r, -SZ_EAUTH);
    sz_link_free(r);
    sz_link_free(i);
}

/* A prober without the network key gets no byte back, whatever it sends. */
static void
test_prober_gets_nothing(void **state)
{
    struct sz_link_keys kr;
    struct sz_link *r;
    struct inbox in = {0};
    uint8_t junk[4096];

    (void)state;
    make_keys(&kr, NET_A, 0);
    for (size_t len = 0; len <= 200; len++) {
        assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
        randombytes_buf(junk, len);
        assert_true(feed(r, junk, len, NOW, &in) == (len < SZ_HS1_LEN ? 0 : -SZ_EAUTH));
        assert_int_equal(out_len(r), 0);
        sz_link_free(r);
    }
    /* Protocol-looking probes: zeros, an HTTP request, a TLS ClientHello, an SSH banner. */
    {
        static const struct {
            const char *p;
            size_t len;
        } probes[] = {
#define PROBE(lit) {lit, sizeof lit - 1}
            PROBE(
                "GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: probe\r\nAccept: */*\r\n\r\n"),
            PROBE("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
                  "0123456789abcdef0123456789abcdef\x20"
                  "0123456789abcdef0123456789abcdef\x00\x02\x13\x01"),
            PROBE("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\x00\x00\x05\xdc\x07\x14"
                  "0123456789abcdef\x00\x00"),
#undef PROBE
        };
        memset(junk, 0, sizeof junk);
        assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
        assert_int_equal(feed(r, junk, sizeof junk, NOW, &in), -SZ_EAUTH);
        assert_failed_silent(r, -SZ_EAUTH);
        sz_link_free(r);
        for (size_t k = 0; k < N_ELEMS(probes); k++) {
            assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
            assert_true(probes[k].len >= SZ_HS1_LEN);
            assert_int_equal(feed(r, (const uint8_t *)probes[k].p, probes[k].len, NOW, &in),
                             -SZ_EAUTH);
            assert_failed_silent(r, -SZ_EAUTH);
            sz_link_free(r);
        }
    }
    assert_int_equal(in.n_open, 0);
}

/* The initiator's clock may differ by SZ_HS_CLOCK_SKEW_S, not one second more. */
static void
test_clock_skew(void **state)
{
    static const struct {
        int64_t initiator_offset;
        int rc;
    } cases[] = {
        {0, 0},
        {SZ_HS_CLOCK_SKEW_S, 0},
        {-SZ_HS_CLOCK_SKEW_S, 0},
        {SZ_HS_CLOCK_SKEW_S + 1, -SZ_EAUTH},
        {-SZ_HS_CLOCK_SKEW_S - 1, -SZ_EAUTH},
        {86400, -SZ_EAUTH},
        {-86400, -SZ_EAUTH},
        {-NOW, -SZ_EAUTH},                /* timestamp 0 */
        {INT64_MAX - NOW, -SZ_EAUTH},     /* the largest timestamp */
        {INT64_MIN + NOW - 1, -SZ_EAUTH}, /* a negative one, far out */
    };
    struct sz_link_keys ki, kr;
    struct sz_link *i, *r;
    struct inbox in = {0};
    int64_t t;

    (void)state;
    make_keys(&ki, NET_A, 0);
    make_keys(&kr, NET_A, 0);
    for (size_t k = 0; k < N_ELEMS(cases); k++) {
        t = (int64_t)((uint64_t)NOW + (uint64_t)cases[k].initiator_offset);
        print_message("initiator clock %+lld s\n", (long long)cases[k].initiator_offset);
        assert_int_equal(sz_link_new(SZ_LINK_INITIATOR, &ki, t, &i), 0);
        assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
        assert_int_equal(transfer(i, r, 0, NOW, &in), cases[k].rc);
        if (cases[k].rc == 0)
            assert_int_equal(out_len(r), SZ_HS2_LEN);
        else
            assert_failed_silent(r, cases[k].rc);
        sz_link_free(i);
        sz_link_free(r);
    }
}

/* A small set of seen ephemeral keys, as the daemon keeps. */
struct seen {
    uint8_t e[4][32];
    size_t n;
    size_t calls;
};

static bool
seen_check(const uint8_t e[32], void *ctx)
{
    struct seen *s = ctx;

    s->calls++;
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->e[i], e, 32) == 0)
            return true;
    if (s->n < N_ELEMS(s->e))
        memcpy(s->e[s->n++], e, 32);
    return false;
}

/* A replayed first message is refused, silently; a fresh one is not. */
static void
test_replay(void **state)
{
    struct sz_link_keys ki, kr, other;
    struct sz_link *i, *r, *r2;
    struct inbox in = {0};
    struct seen seen = {0};
    uint8_t hs1[SZ_HS1_LEN];

    (void)state;
    make_keys(&ki, NET_A, 0);
    make_keys(&kr, NET_A, 0);
    make_keys(&other, NET_B, 0);
    assert_int_equal(sz_link_new(SZ_LINK_INITIATOR, &ki, NOW, &i), 0);
    take(i, hs1, SZ_HS1_LEN);

    assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
    sz_link_set_replay_check(r, seen_check, &seen);
    assert_int_equal(feed(r, hs1, SZ_HS1_LEN, NOW, &in), 0);
    assert_int_equal(out_len(r), SZ_HS2_LEN);
    assert_int_equal(seen.n, 1);
    assert_memory_equal(seen.e[0], hs1, 32);
    sz_link_free(r);

    /* The same bytes again, seconds later, to another responder sharing the set. */
    assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r2), 0);
    sz_link_set_replay_check(r2, seen_check, &seen);
    assert_int_equal(feed(r2, hs1, SZ_HS1_LEN, NOW + 5, &in), -SZ_EAUTH);
    assert_failed_silent(r2, -SZ_EAUTH);
    sz_link_free(r2);

    /* A message that fails its tag never reaches the filter (nothing to record). */
    assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &other, NOW, &r2), 0);
    sz_link_set_replay_check(r2, seen_check, &seen);
    assert_int_equal(feed(r2, hs1, SZ_HS1_LEN, NOW, &in), -SZ_EAUTH);
    assert_int_equal(seen.calls, 2);
    sz_link_free(r2);

    /* Without a filter the replay gets through message 1 (the filter is the caller's). */
    assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r2), 0);
    assert_int_equal(feed(r2, hs1, SZ_HS1_LEN, NOW, &in), 0);
    assert_int_equal(out_len(r2), SZ_HS2_LEN);
    sz_link_free(r2);
    sz_link_free(i);
}

/* Messages in the wrong order or reflected back fail, and a responder stays silent. */
static void
test_reordered(void **state)
{
    struct pair p;
    struct transcript t;
    uint8_t buf[SZ_HS2_LEN + SZ_HS3_LEN];

    (void)state;
    pair_new(&p, 0, 0);
    record_handshake(&p, &t);
    pair_free(&p);

    /* Responder: message 3 before message 1. */
    pair_new(&p, 0, 0);
    assert_int_equal(feed(p.r, t.hs3, SZ_HS3_LEN, NOW, &p.in_r), -SZ_EAUTH);
    assert_failed_silent(p.r, -SZ_EAUTH);
    pair_free(&p);

    /* Responder: message 2 (reflected) before message 1. */
    pair_new(&p, 0, 0);
    assert_int_equal(feed(p.r, t.hs2, SZ_HS2_LEN, NOW, &p.in_r), -SZ_EAUTH);
    assert_failed_silent(p.r, -SZ_EAUTH);
    pair_free(&p);

    /* Responder: message 1, then message 1 again where message 3 belongs. */
    pair_new(&p, 0, 0);
    take(p.i, buf, SZ_HS1_LEN);
    assert_int_equal(feed(p.r, buf, SZ_HS1_LEN, NOW, &p.in_r), 0);
    sz_link_output_consume(p.r, SZ_HS2_LEN);
    assert_int_equal(feed(p.r, buf, SZ_HS1_LEN, NOW, &p.in_r), 0); /* 56 of 80: waits */
    assert_int_equal(feed(p.r, buf, SZ_HS3_LEN - SZ_HS1_LEN, NOW, &p.in_r), -SZ_EAUTH);
    assert_failed_silent(p.r, -SZ_EAUTH);
    pair_free(&p);

    /* Responder: message 1, then its own message 2 reflected where message 3 belongs. */
    pair_new(&p, 0, 0);
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    take(p.r, buf, SZ_HS2_LEN);
    assert_int_equal(feed(p.r, buf, SZ_HS2_LEN, NOW, &p.in_r), -SZ_EAUTH);
    assert_failed_silent(p.r, -SZ_EAUTH);
    pair_free(&p);

    /* Responder: message 3 of another handshake in place of this one's. */
    pair_new(&p, 0, 0);
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    sz_link_output_consume(p.r, SZ_HS2_LEN);
    assert_int_equal(feed(p.r, t.hs3, SZ_HS3_LEN, NOW, &p.in_r), -SZ_EAUTH);
    assert_failed_silent(p.r, -SZ_EAUTH);
    pair_free(&p);

    /* Initiator: its own message 1 reflected, padded to the size of message 2. */
    pair_new(&p, 0, 0);
    memset(buf, 0x11, sizeof buf);
    take(p.i, buf, SZ_HS1_LEN);
    assert_int_equal(feed(p.i, buf, SZ_HS2_LEN, NOW, &p.in_i), -SZ_EAUTH);
    assert_failed_silent(p.i, -SZ_EAUTH);
    pair_free(&p);

    /* Initiator: message 2 of another handshake. */
    pair_new(&p, 0, 0);
    assert_int_equal(feed(p.i, t.hs2, SZ_HS2_LEN, NOW, &p.in_i), -SZ_EAUTH);
    assert_failed_silent(p.i, -SZ_EAUTH);
    pair_free(&p);

    /* Initiator: message 3 then 2 (a confused peer). */
    pair_new(&p, 0, 0);
    memcpy(buf, t.hs3, SZ_HS3_LEN);
    memcpy(buf + SZ_HS3_LEN, t.hs2, SZ_HS2_LEN);
    assert_int_equal(feed(p.i, buf, SZ_HS3_LEN + SZ_HS2_LEN, NOW, &p.in_i), -SZ_EAUTH);
    assert_failed_silent(p.i, -SZ_EAUTH);
    pair_free(&p);
}

/* Every cut of every handshake message waits for the rest, then the handshake completes. */
static void
test_truncated(void **state)
{
    static const size_t lens[] = {SZ_HS1_LEN, SZ_HS2_LEN, SZ_HS3_LEN};
    struct pair p;
    uint8_t msg[SZ_HS2_LEN];

    (void)state;
    for (size_t m = 0; m < 3; m++) {
        for (size_t cut = 0; cut < lens[m]; cut++) {
            struct sz_link *from, *to;
            struct inbox *in;
            enum sz_link_state before;

            pair_new(&p, 0, 0);
            /* Run the messages before message m whole. */
            if (m >= 1)
                assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
            if (m >= 2)
                assert_int_equal(transfer(p.r, p.i, 0, NOW, &p.in_i), 0);
            from = m == 1 ? p.r : p.i;
            to = m == 1 ? p.i : p.r;
            in = m == 1 ? &p.in_i : &p.in_r;
            take(from, msg, lens[m]);
            before = sz_link_state(to);
            assert_int_equal(feed(to, msg, cut, NOW, in), 0);
            assert_int_equal(sz_link_state(to), before);
            assert_int_equal(out_len(to), 0);
            assert_int_equal(in->n_open, 0);
            assert_int_equal(feed(to, msg + cut, lens[m] - cut, NOW, in), 0);
            if (m < 2)
                assert_int_not_equal(sz_link_state(to), before);
            /* Finish the handshake. */
            if (m == 0) {
                assert_int_equal(transfer(p.r, p.i, 0, NOW, &p.in_i), 0);
                assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
            } else if (m == 1) {
                assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
            }
            assert_int_equal(p.in_i.n_open, 1);
            assert_int_equal(p.in_r.n_open, 1);
            pair_free(&p);
        }
    }
}

/* A handshake cut short forever never crashes, never opens, and a responder says nothing. */
static void
test_truncated_forever(void **state)
{
    struct pair p;
    struct transcript t;
    struct inbox in = {0};
    struct sz_link *r;

    (void)state;
    pair_new(&p, 0, 0);
    record_handshake(&p, &t);
    pair_free(&p);
    for (size_t cut = 0; cut < SZ_HS1_LEN; cut++) {
        assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &p.kr, NOW, &r), 0);
        assert_int_equal(feed(r, t.hs1, cut, NOW, &in), 0);
        assert_int_equal(drain(r, NOW + 100000, &in), 0);
        assert_int_equal(out_len(r), 0);
        assert_int_equal(sz_link_state(r), SZ_LINK_WAIT_HS1);
        sz_link_free(r);
    }
    assert_int_equal(in.n_open, 0);
}

/* One flipped bit anywhere in any handshake message fails it with -SZ_EAUTH. */
static void
test_flipped_handshake(void **state)
{
    static const size_t lens[] = {SZ_HS1_LEN, SZ_HS2_LEN, SZ_HS3_LEN};
    static const uint8_t masks[] = {0x01, 0x80};
    struct pair p;
    uint8_t msg[SZ_HS2_LEN];

    (void)state;
    for (size_t m = 0; m < 3; m++) {
        for (size_t pos = 0; pos < lens[m]; pos++) {
            for (size_t b = 0; b < N_ELEMS(masks); b++) {
                struct sz_link *from, *to;
                struct inbox *in;

                pair_new(&p, 0, 0);
                if (m >= 1)
                    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
                if (m >= 2)
                    assert_int_equal(transfer(p.r, p.i, 0, NOW, &p.in_i), 0);
                from = m == 1 ? p.r : p.i;
                to = m == 1 ? p.i : p.r;
                in = m == 1 ? &p.in_i : &p.in_r;
                take(from, msg, lens[m]);
                msg[pos] ^= masks[b];
                assert_int_equal(feed(to, msg, lens[m], NOW, in), -SZ_EAUTH);
                assert_failed_silent(to, -SZ_EAUTH);
                assert_int_equal(in->n_open, 0);
                pair_free(&p);
            }
        }
    }
}

/* A flipped bit anywhere in a frame (sealed length or body) fails the link. */
static void
test_flipped_frame(void **state)
{
    static const char body[] = "a frame body of some length";
    const size_t frame_len = sizeof body + SZ_FRAME_OVERHEAD;
    uint8_t frame[sizeof body + SZ_FRAME_OVERHEAD];
    struct pair p;

    (void)state;
    for (size_t pos = 0; pos < frame_len; pos++) {
        pair_open(&p);
        /* A good frame first, so that the failure is not about the first nonce. */
        assert_int_equal(sz_link_send(p.i, (const uint8_t *)"ok", 2), 0);
        assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
        assert_int_equal(sz_link_send(p.i, (const uint8_t *)body, sizeof body), 0);
        take(p.i, frame, frame_len);
        frame[pos] ^= (uint8_t)(1u << (pos % 8));
        assert_int_equal(feed(p.r, frame, frame_len, NOW, &p.in_r), -SZ_EAUTH);
        assert_int_equal(p.in_r.n_msg, 1);
        assert_int_equal(sz_link_state(p.r), SZ_LINK_FAILED);
        pair_free(&p);
    }
}

/* Frames replayed, dropped or swapped fail: every frame has its own nonce. */
static void
test_frame_order(void **state)
{
    uint8_t a[SZ_FRAME_OVERHEAD + 1], b[SZ_FRAME_OVERHEAD + 1];
    struct pair p;

    (void)state;
    for (int c = 0; c < 3; c++) {
        pair_open(&p);
        assert_int_equal(sz_link_send(p.r, (const uint8_t *)"A", 1), 0);
        take(p.r, a, sizeof a);
        assert_int_equal(sz_link_send(p.r, (const uint8_t *)"B", 1), 0);
        take(p.r, b, sizeof b);
        switch (c) {
        case 0: /* replay */
            assert_int_equal(feed(p.i, a, sizeof a, NOW, &p.in_i), 0);
            assert_int_equal(feed(p.i, a, sizeof a, NOW, &p.in_i), -SZ_EAUTH);
            break;
        case 1: /* drop */
            assert_int_equal(feed(p.i, b, sizeof b, NOW, &p.in_i), -SZ_EAUTH);
            break;
        default: /* reflect: a frame back to its sender */
            assert_int_equal(feed(p.r, a, sizeof a, NOW, &p.in_r), -SZ_EAUTH);
            break;
        }
        pair_free(&p);
    }
}

/* A sealed length of 0 or above SZ_MAX_FRAME_LEN fails on the header alone. */
static void
test_frame_length_out_of_range(void **state)
{
    static const struct {
        uint32_t len_field;
        int rc;
    } cases[] = {
        {0, -SZ_EBADMSG},
        {SZ_MAX_FRAME_LEN + 1, -SZ_ETOOBIG},
        {SZ_MAX_FRAME_LEN * 2, -SZ_ETOOBIG},
        {UINT32_MAX, -SZ_ETOOBIG},
    };
    uint8_t frame[SZ_FRAME_OVERHEAD + 8];
    struct pair p;

    (void)state;
    for (size_t k = 0; k < N_ELEMS(cases); k++) {
        pair_open(&p);
        assert_int_equal(
            sz_link_test_seal_raw(p.i, cases[k].len_field, (const uint8_t *)"x", 1, frame), 0);
        /* Only the 20 header bytes: refused before any byte of the body arrives. */
        assert_int_equal(feed(p.r, frame, SZ_FRAME_HEADER_LEN, NOW, &p.in_r), cases[k].rc);
        assert_int_equal(sz_link_state(p.r), SZ_LINK_FAILED);
        assert_true(sz_link_buffered(p.r) < 64 * 1024);
        assert_int_equal(p.in_r.n_msg, 0);
        pair_free(&p);
    }
    /* The hook itself makes frames the link accepts when the length is right. */
    pair_open(&p);
    assert_int_equal(sz_link_test_seal_raw(p.i, 1, (const uint8_t *)"x", 1, frame), 0);
    assert_int_equal(feed(p.r, frame, SZ_FRAME_OVERHEAD + 1, NOW, &p.in_r), 0);
    assert_int_equal(p.in_r.n_msg, 1);
    /* A sealed length larger than the body sent: the link waits, then the tag fails. */
    assert_int_equal(sz_link_test_seal_raw(p.i, 8, (const uint8_t *)"x", 1, frame), 0);
    assert_int_equal(feed(p.r, frame, SZ_FRAME_OVERHEAD + 1, NOW, &p.in_r), 0);
    memset(frame, 0, 7);
    assert_int_equal(feed(p.r, frame, 7, NOW, &p.in_r), -SZ_EAUTH);
    pair_free(&p);
}

/* Input never grows past two whole frames, and the buffer shrinks back when drained. */
static void
test_input_bound(void **state)
{
    uint8_t *buf = calloc(1, SZ_MAX_FRAME_LEN);
    const uint8_t *wire;
    size_t len;
    struct pair p;

    (void)state;
    assert_non_null(buf);
    pair_open(&p);
    assert_int_equal(sz_link_send(p.i, buf, SZ_MAX_FRAME_LEN), 0);
    assert_int_equal(sz_link_send(p.i, buf, SZ_MAX_FRAME_LEN), 0);
    wire = sz_link_output(p.i, &len);
    assert_int_equal(len, INPUT_BOUND);
    /* Both frames in, without polling: buffered, and no more than they need. */
    assert_int_equal(sz_link_input(p.r, wire, len / 2), 0);
    assert_int_equal(sz_link_input(p.r, wire + len / 2, len - len / 2), 0);
    print_message("buffered: %zu\n", sz_link_buffered(p.r));
    assert_true(sz_link_buffered(p.r) <= INPUT_BOUND + 16384);
    /* Not one byte more. */
    assert_int_equal(sz_link_input(p.r, wire, 1), -SZ_ETOOBIG);
    assert_int_equal(sz_link_state(p.r), SZ_LINK_FAILED);
    pair_free(&p);

    /* Polled as it arrives, in 64 KiB reads: at most one frame and one read held. */
    pair_open(&p);
    assert_int_equal(sz_link_send(p.i, buf, SZ_MAX_FRAME_LEN), 0);
    assert_int_equal(sz_link_send(p.i, buf, SZ_MAX_FRAME_LEN), 0);
    assert_int_equal(sz_link_send(p.i, buf, 10), 0);
    assert_int_equal(transfer(p.i, p.r, 65536, NOW, &p.in_r), 0);
    assert_int_equal(p.in_r.n_msg, 3);
    /* Drained: the big buffer was given back. */
    assert_true(sz_link_buffered(p.r) <= 16384);
    pair_free(&p);
    free(buf);
}

/* Nothing sent is visible on the wire: no plaintext, no length, no fixed marker. */
static void
test_no_plaintext(void **state)
{
    static const char marker[] = "SAMIZDAT-PLAINTEXT-MARKER-0123456789";
    uint8_t body[0x12345];
    struct pair p;
    size_t len;
    const uint8_t *wire;
    uint8_t le_len[4];

    (void)state;
    memset(body, 'A', sizeof body);
    memcpy(body + 1000, marker, sizeof marker - 1);
    pair_new(&p, 0, 0);
    /* The handshake carries no key in clear but the ephemerals. */
    wire = sz_link_output(p.i, &len);
    assert_false(contains(wire, len, p.ki.node_pk, 8));
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    wire = sz_link_output(p.r, &len);
    assert_false(contains(wire, len, p.kr.node_pk, 8));
    assert_int_equal(transfer(p.r, p.i, 0, NOW, &p.in_i), 0);
    wire = sz_link_output(p.i, &len);
    assert_false(contains(wire, len, p.ki.node_pk, 8));
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);

    assert_int_equal(sz_link_send(p.i, (const uint8_t *)marker, sizeof marker - 1), 0);
    assert_int_equal(sz_link_send(p.i, body, sizeof body), 0);
    wire = sz_link_output(p.i, &len);
    assert_int_equal(len, 2 * SZ_FRAME_OVERHEAD + sizeof marker - 1 + sizeof body);
    assert_false(contains(wire, len, marker, 8));
    assert_false(contains(wire, len, "AAAAAAAA", 8));
    sz_store32(le_len, sizeof body);
    assert_false(
        contains(wire + SZ_FRAME_OVERHEAD + sizeof marker - 1, SZ_FRAME_HEADER_LEN, le_len, 4));
    assert_int_equal(transfer(p.i, p.r, 0, NOW, &p.in_r), 0);
    assert_int_equal(p.in_r.n_msg, 2);
    assert_memory_equal(p.in_r.body[0], marker, sizeof marker - 1);
    assert_memory_equal(p.in_r.body[1], body, sizeof body);
    pair_free(&p);
}

/* The library as initiator against the model responder: same bytes, same keys. */
static void
test_model_responder(void **state)
{
    struct sz_link_keys ki, kr;
    struct sz_link *i;
    struct model m;
    struct inbox in = {0};
    uint8_t hs1[SZ_HS1_LEN], hs2[SZ_HS2_LEN], hs3[SZ_HS3_LEN], payload[16];
    uint8_t frame[SZ_FRAME_OVERHEAD + 5], body[5];
    size_t len;
    int64_t ts = 0;

    (void)state;
    make_keys(&ki, NET_A, 0x3);
    make_keys(&kr, NET_A, 0x6);
    assert_int_equal(sz_link_new(SZ_LINK_INITIATOR, &ki, NOW - 7, &i), 0);
    m_init(&m, &kr);
    take(i, hs1, SZ_HS1_LEN);
    assert_int_equal(m_read_hs1(&m, hs1, &ts), 0);
    assert_true(ts == NOW - 7);
    m_write_hs2(&m, 1, 1, kr.features, NOW, hs2);
    assert_int_equal(feed(i, hs2, SZ_HS2_LEN, NOW, &in), 0);
    assert_int_equal(in.n_open, 1);
    take(i, hs3, SZ_HS3_LEN);
    assert_int_equal(m_read_hs3(&m, hs3, payload), 0);
    assert_memory_equal(m.rs, ki.node_pk, 32);
    assert_int_equal(sz_load16(payload), 1);
    assert_int_equal(sz_load16(payload + 2), 0);
    assert_int_equal(sz_load32(payload + 4), 0x2);
    assert_true((int64_t)sz_load64(payload + 8) == NOW);
    assert_memory_equal(sz_link_peer_key(i), kr.node_pk, 32);

    /* Transport keys: i2r from the initiator, r2i to it; n = 0, 2, ... */
    assert_int_equal(sz_link_send(i, (const uint8_t *)"hello", 5), 0);
    take(i, frame, sizeof frame);
    assert_int_equal(m_open_frame(m.i2r, 0, frame, sizeof frame, body, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(body, "hello", 5);
    assert_int_equal(sz_link_send(i, (const uint8_t *)"again", 5), 0);
    take(i, frame, sizeof frame);
    assert_int_equal(m_open_frame(m.i2r, 2, frame, sizeof frame, body, &len), 0);
    m_seal_frame(m.r2i, 0, (const uint8_t *)"reply", 5, frame);
    assert_int_equal(feed(i, frame, sizeof frame, NOW, &in), 0);
    m_seal_frame(m.r2i, 2, (const uint8_t *)"more!", 5, frame);
    assert_int_equal(feed(i, frame, sizeof frame, NOW, &in), 0);
    assert_int_equal(in.n_msg, 2);
    assert_memory_equal(in.body[0], "reply", 5);
    assert_memory_equal(in.body[1], "more!", 5);
    inbox_clear(&in);
    sz_link_free(i);
}

/* The library as responder against the model initiator. */
static void
test_model_initiator(void **state)
{
    struct sz_link_keys ki, kr;
    struct sz_link *r;
    struct model m;
    struct inbox in = {0};
    uint8_t hs1[SZ_HS1_LEN], hs2[SZ_HS2_LEN], hs3[SZ_HS3_LEN], payload[16];
    uint8_t frame[SZ_FRAME_OVERHEAD + 5], body[5];
    size_t len;

    (void)state;
    make_keys(&ki, NET_A, 0x3);
    make_keys(&kr, NET_A, 0x6);
    assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
    m_init(&m, &ki);
    m_write_hs1(&m, NULL, NOW + 3, hs1);
    assert_int_equal(feed(r, hs1, SZ_HS1_LEN, NOW, &in), 0);
    take(r, hs2, SZ_HS2_LEN);
    assert_int_equal(m_read_hs2(&m, hs2, payload), 0);
    assert_memory_equal(m.rs, kr.node_pk, 32);
    assert_int_equal(sz_load16(payload), SZ_LINK_VERSION_MIN);
    assert_int_equal(sz_load16(payload + 2), SZ_LINK_VERSION_MAX);
    assert_int_equal(sz_load32(payload + 4), 0x6);
    assert_true((int64_t)sz_load64(payload + 8) == NOW);
    m_write_hs3(&m, 1, 0, 0x2, NOW, hs3);
    assert_int_equal(feed(r, hs3, SZ_HS3_LEN, NOW, &in), 0);
    assert_int_equal(in.n_open, 1);
    assert_memory_equal(sz_link_peer_key(r), ki.node_pk, 32);
    assert_int_equal(sz_link_version(r), 1);
    assert_int_equal(sz_link_features(r), 0x2);

    assert_int_equal(sz_link_send(r, (const uint8_t *)"hello", 5), 0);
    take(r, frame, sizeof frame);
    assert_int_equal(m_open_frame(m.r2i, 0, frame, sizeof frame, body, &len), 0);
    assert_memory_equal(body, "hello", 5);
    m_seal_frame(m.i2r, 0, (const uint8_t *)"reply", 5, frame);
    assert_int_equal(feed(r, frame, sizeof frame, NOW, &in), 0);
    assert_int_equal(in.n_msg, 1);
    assert_memory_equal(in.body[0], "reply", 5);
    inbox_clear(&in);
    sz_link_free(r);
}

/* A first message whose ephemeral key is a low-order point: refused, silently. */
static void
test_low_order_ephemeral(void **state)
{
    /* u = 0, u = 1, and a point of order 8 (from the X25519 blocklists). */
    static const uint8_t points[][32] = {
        {0},
        {1},
        {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
         0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
         0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    };
    struct sz_link_keys ki, kr;
    struct sz_link *r, *i;
    struct model m;
    struct inbox in = {0};
    uint8_t hs1[SZ_HS1_LEN], hs2[SZ_HS2_LEN];

    (void)state;
    make_keys(&ki, NET_A, 0);
    make_keys(&kr, NET_A, 0);
    for (size_t k = 0; k < N_ELEMS(points); k++) {
        assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
        m_init(&m, &ki);
        m_write_hs1(&m, points[k], NOW, hs1);
        assert_int_equal(feed(r, hs1, SZ_HS1_LEN, NOW, &in), -SZ_EAUTH);
        assert_failed_silent(r, -SZ_EAUTH);
        sz_link_free(r);
    }
    /* The same for the responder's ephemeral in message 2. */
    for (size_t k = 0; k < N_ELEMS(points); k++) {
        assert_int_equal(sz_link_new(SZ_LINK_INITIATOR, &ki, NOW, &i), 0);
        assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
        assert_int_equal(transfer(i, r, 0, NOW, &in), 0);
        take(r, hs2, SZ_HS2_LEN);
        memcpy(hs2, points[k], 32);
        assert_int_equal(feed(i, hs2, SZ_HS2_LEN, NOW, &in), -SZ_EAUTH);
        assert_failed_silent(i, -SZ_EAUTH);
        sz_link_free(r);
        sz_link_free(i);
    }
    assert_int_equal(in.n_open, 0);
}

/* Version negotiation: the initiator picks min(max, max) and refuses when nothing is common. */
static void
test_versions(void **state)
{
    static const struct {
        uint16_t vmin, vmax;
        int rc;
    } offers[] = {
        {1, 1, 0},
        {0, 1, 0},
        {1, 9, 0},
        {0, 0xffff, 0},
        {2, 3, -SZ_EVERSION},
        {0, 0, -SZ_EVERSION},
        {2, 1, -SZ_EVERSION},
        {1, 0, -SZ_EVERSION},
        {0xffff, 0xffff, -SZ_EVERSION},
    };
    struct sz_link_keys ki, kr;
    struct sz_link *i;
    struct model m;
    struct inbox in = {0};
    uint8_t hs1[SZ_HS1_LEN], hs2[SZ_HS2_LEN], hs3[SZ_HS3_LEN], payload[16];
    int64_t ts;

    (void)state;
    make_keys(&ki, NET_A, 0);
    make_keys(&kr, NET_A, 0);
    for (size_t k = 0; k < N_ELEMS(offers); k++) {
        print_message("responder offers %u..%u\n", offers[k].vmin, offers[k].vmax);
        assert_int_equal(sz_link_new(SZ_LINK_INITIATOR, &ki, NOW, &i), 0);
        m_init(&m, &kr);
        take(i, hs1, SZ_HS1_LEN);
        assert_int_equal(m_read_hs1(&m, hs1, &ts), 0);
        m_write_hs2(&m, offers[k].vmin, offers[k].vmax, 0, NOW, hs2);
        assert_int_equal(feed(i, hs2, SZ_HS2_LEN, NOW, &in), offers[k].rc);
        if (offers[k].rc == 0) {
            assert_int_equal(sz_link_version(i), 1);
            take(i, hs3, SZ_HS3_LEN);
            assert_int_equal(m_read_hs3(&m, hs3, payload), 0);
            assert_int_equal(sz_load16(payload), 1);
        } else {
            /* No message 3 goes out. */
            assert_failed_silent(i, offers[k].rc);
        }
        sz_link_free(i);
    }
}

/* The responder checks the initiator's choice: version in its range, features it offered. */
static void
test_hs3_choice(void **state)
{
    static const struct {
        uint16_t version;
        uint32_t features;
        int rc;
    } choices[] = {
        {1, 0, 0},
        {1, 0x4, 0},
        {1, 0x5, 0},
        {0, 0, -SZ_EVERSION},
        {2, 0, -SZ_EVERSION},
        {0xffff, 0, -SZ_EVERSION},
        {1, 0x2, -SZ_EVERSION},
        {1, 0x80000000, -SZ_EVERSION},
    };
    struct sz_link_keys ki, kr;
    struct sz_link *r;
    struct model m;
    struct inbox in = {0};
    uint8_t hs1[SZ_HS1_LEN], hs2[SZ_HS2_LEN], hs3[SZ_HS3_LEN], payload[16];

    (void)state;
    make_keys(&ki, NET_A, 0);
    make_keys(&kr, NET_A, 0x5);
    for (size_t k = 0; k < N_ELEMS(choices); k++) {
        assert_int_equal(sz_link_new(SZ_LINK_RESPONDER, &kr, NOW, &r), 0);
        m_init(&m, &ki);
        m_write_hs1(&m, NULL, NOW, hs1);
        assert_int_equal(feed(r, hs1, SZ_HS1_LEN, NOW, &in), 0);
        take(r, hs2, SZ_HS2_LEN);
        assert_int_equal(m_read_hs2(&m, hs2, payload), 0);
        m_write_hs3(&m, choices[k].version, 0, choices[k].features, NOW, hs3);
        in.n_open = 0;
        assert_int_equal(feed(r, hs3, SZ_HS3_LEN, NOW, &in), choices[k].rc);
        if (choices[k].rc == 0) {
            assert_int_equal(in.n_open, 1);
            assert_int_equal(sz_link_features(r), choices[k].features);
        } else {
            assert_int_equal(in.n_open, 0);
            assert_failed_silent(r, choices[k].rc);
        }
        sz_link_free(r);
    }
}

/* sz_link_free(NULL) is fine; output consumption clamps to what is queued. */
static void
test_misc(void **state)
{
    struct pair p;
    size_t len;

    (void)state;
    sz_link_free(NULL);
    pair_new(&p, 0, 0);
    sz_link_output_consume(p.i, 10);
    assert_int_equal(out_len(p.i), SZ_HS1_LEN - 10);
    sz_link_output_consume(p.i, 1000);
    assert_int_equal(out_len(p.i), 0);
    assert_non_null(sz_link_output(p.i, &len));
    assert_int_equal(len, 0);
    assert_int_equal(sz_link_input(p.r, NULL, 0), 0);
    assert_int_equal(drain(p.r, NOW, &p.in_r), 0);
    assert_true(sz_link_buffered(p.r) > 0);
    pair_free(&p);
}

static int
setup(void **state)
{
    (void)state;
    return sz_init();
}

/* The built-in network key is what PROTOCOL.md says it is derived from. */
static void
test_default_network_key(void **state)
{
    static const char text[] = "samizdat default network key v1";
    static const char hex[] = "81493014bae4d87568a0c9c296d631ef9f9a3b43e9da72129db1b4a66386bf0c";
    uint8_t want[32], from_hex[32];
    size_t n = 0;
    (void)state;
    assert_int_equal(
        crypto_generichash(want, sizeof want, (const uint8_t *)text, sizeof text - 1, NULL, 0), 0);
    assert_int_equal(sodium_hex2bin(from_hex, sizeof from_hex, hex, sizeof hex - 1, NULL, &n, NULL),
                     0);
    assert_int_equal(n, 32);
    assert_memory_equal(want, from_hex, 32);
    assert_memory_equal(SZ_DEFAULT_NETWORK_KEY, want, SZ_NETWORK_KEY_LEN);
}

/* A network key file as PROTOCOL.md says: 64 hex digits, in either case,
 * white space around them (blank lines too), nothing else. */
static void
test_network_key_file_text(void **state)
{
    static const char hex[] = "81493014bae4d87568a0c9c296d631ef9f9a3b43e9da72129db1b4a66386bf0c";
    static const struct {
        const char *before, *after;
        int digits; /* of hex, from its start */
        bool ok;
    } cases[] = {
        {"", "", 64, true},
        {"", "\n", 64, true},
        {"", "\r\n", 64, true},
        {"\n", "\n", 64, true},
        {"\r\n\r\n", "\r\n", 64, true},
        {" \t\n  ", " \n\n", 64, true},
        {"\t", "", 64, true},
        {"", " x", 64, false},
        {"# key\n", "\n", 64, false},
        {"", "\n# note", 64, false},
        {"", "", 63, false},
        {"", "0", 64, false},
        {"8", "", 64, false},
        {"", "", 0, false},
    };
    char text[256];
    uint8_t key[SZ_NETWORK_KEY_LEN];
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        snprintf(text, sizeof text, "%s%.*s%s", cases[k].before, cases[k].digits, hex,
                 cases[k].after);
        memset(key, 0, sizeof key);
        int rc = sz_network_key_parse((const uint8_t *)text, strlen(text), key);
        if ((rc == 0) != cases[k].ok)
            fail_msg("case %zu: \"%s\" %s", k, text, rc == 0 ? "taken" : "refused");
        if (cases[k].ok)
            assert_memory_equal(key, SZ_DEFAULT_NETWORK_KEY, SZ_NETWORK_KEY_LEN);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_network_key),
        cmocka_unit_test(test_network_key_file_text),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_handshake_fresh),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_send_before_open),
        cmocka_unit_test(test_many_frames),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_wrong_network_key),
        cmocka_unit_test(test_prober_gets_nothing),
        cmocka_unit_test(test_clock_skew),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_reordered),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_truncated_forever),
        cmocka_unit_test(test_flipped_handshake),
        cmocka_unit_test(test_flipped_frame),
        cmocka_unit_test(test_frame_order),
        cmocka_unit_test(test_frame_length_out_of_range),
        cmocka_unit_test(test_input_bound),
        cmocka_unit_test(test_no_plaintext),
        cmocka_unit_test(test_model_responder),
        cmocka_unit_test(test_model_initiator),
        cmocka_unit_test(test_low_order_ephemeral),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_hs3_choice),
        cmocka_unit_test(test_misc),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
