/* Peer links: the network-key-bound handshake and encrypted frames (PROTOCOL.md). */
#include "samizdat/link.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"

static const char PROTOCOL_NAME[] = "samizdat-link-v1";
#define KEY_LEN 32
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define PAYLOAD_LEN 16 /* handshake payloads of messages 2 and 3 */
#define INPUT_CAP (2 * (SZ_FRAME_OVERHEAD + SZ_MAX_FRAME_LEN))

/*
 * The built-in network key: BLAKE2b-256("samizdat default network key v1")
 * (unkeyed, 32-byte output), so that anyone can check it hides nothing.
 */
const uint8_t SZ_DEFAULT_NETWORK_KEY[SZ_NETWORK_KEY_LEN] = {
    0x81, 0x49, 0x30, 0x14, 0xba, 0xe4, 0xd8, 0x75, 0x68, 0xa0, 0xc9, 0xc2, 0x96, 0xd6, 0x31, 0xef,
    0x9f, 0x9a, 0x3b, 0x43, 0xe9, 0xda, 0x72, 0x12, 0x9d, 0xb1, 0xb4, 0xa6, 0x63, 0x86, 0xbf, 0x0c,
};

int
sz_network_key_parse(const uint8_t *buf, size_t len, uint8_t key[SZ_NETWORK_KEY_LEN])
{
    size_t a = 0;

    /* White space around the digits, blank lines included (PROTOCOL.md). */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t'))
        len--;
    while (a < len && (buf[a] == '\n' || buf[a] == '\r' || buf[a] == ' ' || buf[a] == '\t'))
        a++;
    return sz_unhex((const char *)buf + a, len - a, key, SZ_NETWORK_KEY_LEN);
}

/* Secret state lives in sodium_malloc'd memory; buffers in ordinary memory. */
struct secrets {
    struct sz_link_keys keys;
    uint8_t ck[KEY_LEN];   /* chaining key */
    uint8_t k[KEY_LEN];    /* current handshake cipher key */
    uint8_t e_sk[KEY_LEN]; /* our ephemeral secret */
    uint8_t send_key[KEY_LEN];
    uint8_t recv_key[KEY_LEN];
};

struct sz_link {
    enum sz_link_role role;
    enum sz_link_state state;
    struct secrets *s;
    uint8_t h[KEY_LEN];    /* handshake hash: the transcript so far */
    uint8_t e_pk[KEY_LEN]; /* our ephemeral public key */
    uint8_t re[KEY_LEN];   /* the peer's ephemeral public key */
    uint8_t rs[KEY_LEN];   /* the peer's static (node) key */
    uint16_t version;
    uint32_t features;
    uint64_t send_n, recv_n; /* frame nonces: two per frame */
    uint8_t *in;             /* received, not yet processed */
    size_t in_len, in_off, in_cap;
    size_t frame_body_len; /* OPEN: body length of the frame in progress, 0 if none */
    uint8_t *out;          /* queued for sending */
    size_t out_len, out_off, out_cap;
    sz_link_replay_cb replay_cb;
    void *replay_ctx;
    int err;
};

/* BLAKE2b-256 keyed with `key` over label || data. */
static void
kdf(const uint8_t key[KEY_LEN], const char *label, const uint8_t *data, size_t len,
    uint8_t out[KEY_LEN])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, key, KEY_LEN, KEY_LEN);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
    if (len > 0)
        crypto_generichash_update(&st, data, len);
    crypto_generichash_final(&st, out, KEY_LEN);
}

/* MixKey: a new chaining key and cipher key from a DH result. */
static void
mix_key(struct secrets *s, const uint8_t dh[KEY_LEN])
{
    uint8_t ck[KEY_LEN];

    kdf(s->ck, "k", dh, KEY_LEN, s->k);
    kdf(s->ck, "ck", dh, KEY_LEN, ck);
    memcpy(s->ck, ck, KEY_LEN);
    sodium_memzero(ck, sizeof ck);
}

/* MixHash: h = BLAKE2b-256(h || data). */
static void
mix_hash(uint8_t h[KEY_LEN], const uint8_t *data, size_t len)
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, KEY_LEN);
    crypto_generichash_update(&st, h, KEY_LEN);
    crypto_generichash_update(&st, data, len);
    crypto_generichash_final(&st, h, KEY_LEN);
}

static void
nonce_of(uint64_t n, uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES])
{
    memset(nonce, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    sz_store64(nonce, n);
}

static void
seal(const uint8_t key[KEY_LEN], uint64_t n, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
     size_t len, uint8_t *ct)
{
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];

    nonce_of(n, nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, pt, len, ad, ad_len, NULL, nonce, key);
}

static int
open_(const uint8_t key[KEY_LEN], uint64_t n, const uint8_t *ad, size_t ad_len, const uint8_t *ct,
      size_t ct_len, uint8_t *pt)
{
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];

    nonce_of(n, nonce);
    return crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, ct_len, ad, ad_len, nonce,
                                                      key) == 0
               ? 0
               : -SZ_EAUTH;
}

/* X25519; a low-order point (all-zero result) fails. */
static int
dh(const uint8_t sk[KEY_LEN], const uint8_t pk[KEY_LEN], uint8_t out[KEY_LEN])
{
    return crypto_scalarmult(out, sk, pk) == 0 ? 0 : -SZ_EAUTH;
}

static int
out_append(struct sz_link *l, const uint8_t *p, size_t n)
{
    if (l->out_off > 0 && l->out_off == l->out_len)
        l->out_off = l->out_len = 0;
    if (l->out_len + n > l->out_cap) {
        size_t cap = l->out_cap < 256 ? 256 : l->out_cap;
        uint8_t *q;
        while (cap < l->out_len + n)
            cap *= 2;
        q = realloc(l->out, cap);
        if (q == NULL)
            return -SZ_ENOMEM;
        l->out = q;
        l->out_cap = cap;
    }
    memcpy(l->out + l->out_len, p, n);
    l->out_len += n;
    return 0;
}

static int
fail(struct sz_link *l, int err)
{
    l->state = SZ_LINK_FAILED;
    if (l->err == 0)
        l->err = err;
    /* Nothing queued for a failed link is ever sent. */
    l->out_len = l->out_off = 0;
    return l->err;
}

/* The initial chaining key and hash, both bound to the network key. */
static void
init_symmetric(struct sz_link *l)
{
    kdf(l->s->keys.network_key, PROTOCOL_NAME, NULL, 0, l->s->ck);
    memcpy(l->h, l->s->ck, KEY_LEN);
    mix_hash(l->h, (const uint8_t *)PROTOCOL_NAME, sizeof PROTOCOL_NAME - 1);
}

static void
payload_encode(uint8_t out[PAYLOAD_LEN], uint16_t a, uint16_t b, uint32_t features, int64_t now)
{
    sz_store16(out, a);
    sz_store16(out + 2, b);
    sz_store32(out + 4, features);
    sz_store64(out + 8, (uint64_t)now);
}

/* -> e, seal(ts): message 1 (initiator). */
static int
write_hs1(struct sz_link *l, int64_t now)
{
    uint8_t msg[SZ_HS1_LEN], k1[KEY_LEN], ts[8];
    int rc;

    crypto_box_keypair(l->e_pk, l->s->e_sk);
    memcpy(msg, l->e_pk, KEY_LEN);
    mix_hash(l->h, l->e_pk, KEY_LEN);
    kdf(l->s->ck, "hs1", l->e_pk, KEY_LEN, k1);
    sz_store64(ts, (uint64_t)now);
    seal(k1, 0, l->h, KEY_LEN, ts, sizeof ts, msg + KEY_LEN);
    mix_hash(l->h, msg + KEY_LEN, sizeof ts + TAG_LEN);
    sodium_memzero(k1, sizeof k1);
    rc = out_append(l, msg, sizeof msg);
    l->state = SZ_LINK_WAIT_HS2;
    return rc;
}

int
sz_link_new(enum sz_link_role role, const struct sz_link_keys *keys, int64_t now,
            struct sz_link **out)
{
    struct sz_link *l = calloc(1, sizeof *l);
    int rc;

    if (l == NULL)
        return -SZ_ENOMEM;
    l->s = sodium_malloc(sizeof *l->s);
    if (l->s == NULL) {
        free(l);
        return -SZ_ENOMEM;
    }
    memset(l->s, 0, sizeof *l->s);
    l->s->keys = *keys;
    l->role = role;
    init_symmetric(l);
    if (role == SZ_LINK_INITIATOR) {
        l->state = SZ_LINK_SEND_HS1;
        rc = write_hs1(l, now);
        if (rc != 0) {
            sz_link_free(l);
            return rc;
        }
    } else {
        l->state = SZ_LINK_WAIT_HS1;
    }
    *out = l;
    return 0;
}

void
sz_link_free(struct sz_link *l)
{
    if (l == NULL)
        return;
    sodium_free(l->s);
    if (l->in != NULL)
        sodium_memzero(l->in, l->in_cap);
    free(l->in);
    free(l->out);
    sodium_memzero(l, sizeof *l);
    free(l);
}

void
sz_link_set_replay_check(struct sz_link *l, sz_link_replay_cb cb, void *ctx)
{
    l->replay_cb = cb;
    l->replay_ctx = ctx;
}

int
sz_link_input(struct sz_link *l, const uint8_t *buf, size_t len)
{
    if (l->state == SZ_LINK_FAILED)
        return l->err;
    /* Drop what was processed before growing. */
    if (l->in_off > 0) {
        memmove(l->in, l->in + l->in_off, l->in_len - l->in_off);
        l->in_len -= l->in_off;
        l->in_off = 0;
    }
    if (len > INPUT_CAP || l->in_len > INPUT_CAP - len)
        return fail(l, -SZ_ETOOBIG);
    if (l->in_len + len > l->in_cap) {
        size_t cap = l->in_cap < 1024 ? 1024 : l->in_cap;
        uint8_t *q;
        while (cap < l->in_len + len)
            cap *= 2;
        /* Doubling would overshoot the bound up to twice (4 MiB for a 2 MiB cap). */
        if (cap > INPUT_CAP)
            cap = INPUT_CAP;
        q = realloc(l->in, cap);
        if (q == NULL)
            return fail(l, -SZ_ENOMEM);
        l->in = q;
        l->in_cap = cap;
    }
    if (len > 0)
        memcpy(l->in + l->in_len, buf, len);
    l->in_len += len;
    return 0;
}

/* <- hs1 (responder): check the network key proof, the time and replays. */
static int
read_hs1(struct sz_link *l, const uint8_t *msg, int64_t now)
{
    uint8_t k1[KEY_LEN], ts[8];
    int64_t t;
    int rc;

    memcpy(l->re, msg, KEY_LEN);
    mix_hash(l->h, l->re, KEY_LEN);
    kdf(l->s->ck, "hs1", l->re, KEY_LEN, k1);
    rc = open_(k1, 0, l->h, KEY_LEN, msg + KEY_LEN, sizeof ts + TAG_LEN, ts);
    sodium_memzero(k1, sizeof k1);
    if (rc != 0)
        return -SZ_EAUTH;
    mix_hash(l->h, msg + KEY_LEN, sizeof ts + TAG_LEN);
    t = (int64_t)sz_load64(ts);
    if (t < now - SZ_HS_CLOCK_SKEW_S || t > now + SZ_HS_CLOCK_SKEW_S)
        return -SZ_EAUTH;
    if (l->replay_cb != NULL && l->replay_cb(l->re, l->replay_ctx))
        return -SZ_EAUTH;
    return 0;
}

/* -> e, ee, s, es, payload: message 2 (responder). */
static int
write_hs2(struct sz_link *l, int64_t now)
{
    struct secrets *s = l->s;
    uint8_t msg[SZ_HS2_LEN], shared[KEY_LEN], payload[PAYLOAD_LEN];
    uint8_t *p = msg;
    int rc;

    crypto_box_keypair(l->e_pk, s->e_sk);
    memcpy(p, l->e_pk, KEY_LEN);
    mix_hash(l->h, l->e_pk, KEY_LEN);
    p += KEY_LEN;
    if ((rc = dh(s->e_sk, l->re, shared)) != 0) /* ee */
        goto out;
    mix_key(s, shared);
    seal(s->k, 0, l->h, KEY_LEN, s->keys.node_pk, KEY_LEN, p); /* s */
    mix_hash(l->h, p, KEY_LEN + TAG_LEN);
    p += KEY_LEN + TAG_LEN;
    if ((rc = dh(s->keys.node_sk, l->re, shared)) != 0) /* es */
        goto out;
    mix_key(s, shared);
    payload_encode(payload, SZ_LINK_VERSION_MIN, SZ_LINK_VERSION_MAX, s->keys.features, now);
    seal(s->k, 0, l->h, KEY_LEN, payload, sizeof payload, p);
    mix_hash(l->h, p, PAYLOAD_LEN + TAG_LEN);
    rc = out_append(l, msg, sizeof msg);
    l->state = SZ_LINK_WAIT_HS3;
out:
    sodium_memzero(shared, sizeof shared);
    return rc;
}

/* Derives the two directional transport keys from the final chaining key. */
static void
split(struct sz_link *l)
{
    struct secrets *s = l->s;
    uint8_t i2r[KEY_LEN], r2i[KEY_LEN];

    kdf(s->ck, "i2r", l->h, KEY_LEN, i2r);
    kdf(s->ck, "r2i", l->h, KEY_LEN, r2i);
    memcpy(s->send_key, l->role == SZ_LINK_INITIATOR ? i2r : r2i, KEY_LEN);
    memcpy(s->recv_key, l->role == SZ_LINK_INITIATOR ? r2i : i2r, KEY_LEN);
    sodium_memzero(i2r, sizeof i2r);
    sodium_memzero(r2i, sizeof r2i);
    sodium_memzero(s->ck, KEY_LEN);
    sodium_memzero(s->k, KEY_LEN);
    sodium_memzero(s->e_sk, KEY_LEN);
    l->state = SZ_LINK_OPEN;
}

/* <- hs2, then -> s, se, payload: messages 2 and 3 (initiator). */
static int
read_hs2_write_hs3(struct sz_link *l, const uint8_t *msg, int64_t now)
{
    struct secrets *s = l->s;
    uint8_t shared[KEY_LEN], payload[PAYLOAD_LEN], out[SZ_HS3_LEN];
    const uint8_t *p = msg;
    uint16_t vmin, vmax;
    int rc;

    memcpy(l->re, p, KEY_LEN);
    mix_hash(l->h, l->re, KEY_LEN);
    p += KEY_LEN;
    if ((rc = dh(s->e_sk, l->re, shared)) != 0) /* ee */
        goto out;
    mix_key(s, shared);
    if ((rc = open_(s->k, 0, l->h, KEY_LEN, p, KEY_LEN + TAG_LEN, l->rs)) != 0)
        goto out;
    mix_hash(l->h, p, KEY_LEN + TAG_LEN);
    p += KEY_LEN + TAG_LEN;
    if ((rc = dh(s->e_sk, l->rs, shared)) != 0) /* es */
        goto out;
    mix_key(s, shared);
    if ((rc = open_(s->k, 0, l->h, KEY_LEN, p, PAYLOAD_LEN + TAG_LEN, payload)) != 0)
        goto out;
    mix_hash(l->h, p, PAYLOAD_LEN + TAG_LEN);
    vmin = sz_load16(payload);
    vmax = sz_load16(payload + 2);
    l->version = vmax < SZ_LINK_VERSION_MAX ? vmax : SZ_LINK_VERSION_MAX;
    if (vmin > vmax || l->version < vmin || l->version < SZ_LINK_VERSION_MIN) {
        rc = -SZ_EVERSION;
        goto out;
    }
    l->features = sz_load32(payload + 4) & s->keys.features;
    /* Message 3: our static key under the es key (nonce 1), then se. */
    seal(s->k, 1, l->h, KEY_LEN, s->keys.node_pk, KEY_LEN, out);
    mix_hash(l->h, out, KEY_LEN + TAG_LEN);
    if ((rc = dh(s->keys.node_sk, l->re, shared)) != 0) /* se */
        goto out;
    mix_key(s, shared);
    payload_encode(payload, l->version, 0, l->features, now);
    seal(s->k, 0, l->h, KEY_LEN, payload, sizeof payload, out + KEY_LEN + TAG_LEN);
    mix_hash(l->h, out + KEY_LEN + TAG_LEN, PAYLOAD_LEN + TAG_LEN);
    rc = out_append(l, out, sizeof out);
    if (rc == 0)
        split(l);
out:
    sodium_memzero(shared, sizeof shared);
    return rc;
}

/* <- hs3 (responder): the initiator's static key and its choice of version. */
static int
read_hs3(struct sz_link *l, const uint8_t *msg)
{
    struct secrets *s = l->s;
    uint8_t shared[KEY_LEN], payload[PAYLOAD_LEN];
    uint32_t features;
    int rc;

    if ((rc = open_(s->k, 1, l->h, KEY_LEN, msg, KEY_LEN + TAG_LEN, l->rs)) != 0)
        goto out;
    mix_hash(l->h, msg, KEY_LEN + TAG_LEN);
    if ((rc = dh(s->e_sk, l->rs, shared)) != 0) /* se */
        goto out;
    mix_key(s, shared);
    if ((rc = open_(s->k, 0, l->h, KEY_LEN, msg + KEY_LEN + TAG_LEN, PAYLOAD_LEN + TAG_LEN,
                    payload)) != 0)
        goto out;
    mix_hash(l->h, msg + KEY_LEN + TAG_LEN, PAYLOAD_LEN + TAG_LEN);
    l->version = sz_load16(payload);
    features = sz_load32(payload + 4);
    if (l->version < SZ_LINK_VERSION_MIN || l->version > SZ_LINK_VERSION_MAX ||
        (features & ~s->keys.features) != 0) {
        rc = -SZ_EVERSION;
        goto out;
    }
    l->features = features;
    split(l);
out:
    sodium_memzero(shared, sizeof shared);
    return rc;
}

/* Bytes of input not yet processed. */
static size_t
in_left(const struct sz_link *l)
{
    return l->in_len - l->in_off;
}

int
sz_link_poll(struct sz_link *l, int64_t now, struct sz_link_event *ev)
{
    uint8_t hdr[4];
    const uint8_t *p;
    uint32_t len;
    int rc;

    memset(ev, 0, sizeof *ev);
    if (l->state == SZ_LINK_FAILED)
        return l->err;
    /* No input yet: in is NULL, and NULL + 0 is undefined. Nothing reads p then. */
    p = l->in != NULL ? l->in + l->in_off : NULL;
    switch (l->state) {
    case SZ_LINK_WAIT_HS1:
        if (in_left(l) < SZ_HS1_LEN)
            return 0;
        rc = read_hs1(l, p, now);
        l->in_off += SZ_HS1_LEN;
        if (rc == 0)
            rc = write_hs2(l, now);
        return rc == 0 ? 0 : fail(l, rc);
    case SZ_LINK_WAIT_HS2:
        if (in_left(l) < SZ_HS2_LEN)
            return 0;
        rc = read_hs2_write_hs3(l, p, now);
        l->in_off += SZ_HS2_LEN;
        if (rc != 0)
            return fail(l, rc);
        ev->type = SZ_LINK_EV_OPEN;
        return 0;
    case SZ_LINK_WAIT_HS3:
        if (in_left(l) < SZ_HS3_LEN)
            return 0;
        rc = read_hs3(l, p);
        l->in_off += SZ_HS3_LEN;
        if (rc != 0)
            return fail(l, rc);
        ev->type = SZ_LINK_EV_OPEN;
        return 0;
    case SZ_LINK_OPEN:
        break;
    default:
        return fail(l, -SZ_EINVAL);
    }
    /* Transport: a sealed 4-byte length, then the sealed body. */
    if (l->frame_body_len == 0) {
        if (in_left(l) < SZ_FRAME_HEADER_LEN)
            goto idle;
        if (open_(l->s->recv_key, l->recv_n, NULL, 0, p, SZ_FRAME_HEADER_LEN, hdr) != 0)
            return fail(l, -SZ_EAUTH);
        len = sz_load32(hdr);
        if (len == 0)
            return fail(l, -SZ_EBADMSG);
        if (len > SZ_MAX_FRAME_LEN)
            return fail(l, -SZ_ETOOBIG);
        l->frame_body_len = len;
    }
    if (in_left(l) < SZ_FRAME_HEADER_LEN + l->frame_body_len + TAG_LEN)
        return 0;
    {
        uint8_t *body = l->in + l->in_off + SZ_FRAME_HEADER_LEN;
        uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
        nonce_of(l->recv_n + 1, nonce);
        /* In place: the plaintext overwrites the ciphertext it came from. */
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(body, NULL, NULL, body,
                                                       l->frame_body_len + TAG_LEN, NULL, 0, nonce,
                                                       l->s->recv_key) != 0)
            return fail(l, -SZ_EAUTH);
        ev->type = SZ_LINK_EV_MESSAGE;
        ev->body = body;
        ev->body_len = l->frame_body_len;
        l->in_off += SZ_FRAME_HEADER_LEN + l->frame_body_len + TAG_LEN;
        l->recv_n += 2;
        l->frame_body_len = 0;
    }
    return 0;
idle:
    /* Nothing whole is buffered: give back memory a burst made the buffer take. */
    if (l->in_off > 0) {
        memmove(l->in, l->in + l->in_off, in_left(l));
        l->in_len -= l->in_off;
        l->in_off = 0;
    }
    if (l->in_cap > 4096 && l->in_len <= 1024) {
        uint8_t *q = realloc(l->in, 1024);
        if (q != NULL) {
            l->in = q;
            l->in_cap = 1024;
        }
    }
    return 0;
}

int
sz_link_seal(struct sz_link *l, const uint8_t *body, size_t len, uint8_t *out)
{
    uint8_t hdr[4];

    if (l->state != SZ_LINK_OPEN || len == 0)
        return -SZ_EINVAL;
    if (len > SZ_MAX_FRAME_LEN)
        return -SZ_ETOOBIG;
    sz_store32(hdr, (uint32_t)len);
    seal(l->s->send_key, l->send_n, NULL, 0, hdr, sizeof hdr, out);
    seal(l->s->send_key, l->send_n + 1, NULL, 0, body, len, out + SZ_FRAME_HEADER_LEN);
    l->send_n += 2;
    return 0;
}

#ifdef SZ_LINK_TESTING
/*
 * Test-only (tests/test_link.c builds this file with SZ_LINK_TESTING): seals a
 * frame whose sealed length says len_field whatever the body holds, so that
 * tests can make the frames sz_link_seal() refuses (length 0, above
 * SZ_MAX_FRAME_LEN). out takes SZ_FRAME_OVERHEAD + body_len bytes.
 */
int sz_link_test_seal_raw(struct sz_link *l, uint32_t len_field, const uint8_t *body,
                          size_t body_len, uint8_t *out);

int
sz_link_test_seal_raw(struct sz_link *l, uint32_t len_field, const uint8_t *body, size_t body_len,
                      uint8_t *out)
{
    uint8_t hdr[4];

    if (l->state != SZ_LINK_OPEN)
        return -SZ_EINVAL;
    sz_store32(hdr, len_field);
    seal(l->s->send_key, l->send_n, NULL, 0, hdr, sizeof hdr, out);
    seal(l->s->send_key, l->send_n + 1, NULL, 0, body, body_len, out + SZ_FRAME_HEADER_LEN);
    l->send_n += 2;
    return 0;
}
#endif

int
sz_link_send(struct sz_link *l, const uint8_t *body, size_t len)
{
    uint8_t *frame;
    int rc;

    if (l->state != SZ_LINK_OPEN || len == 0)
        return -SZ_EINVAL;
    if (len > SZ_MAX_FRAME_LEN)
        return -SZ_ETOOBIG;
    frame = malloc(len + SZ_FRAME_OVERHEAD);
    if (frame == NULL)
        return -SZ_ENOMEM;
    rc = sz_link_seal(l, body, len, frame);
    if (rc == 0)
        rc = out_append(l, frame, len + SZ_FRAME_OVERHEAD);
    free(frame);
    return rc;
}

const uint8_t *
sz_link_output(const struct sz_link *l, size_t *len)
{
    static const uint8_t empty[1];

    *len = l->out_len - l->out_off;
    /* Nothing queued yet (or the buffer was given back): NULL + 0 is undefined. */
    return l->out != NULL ? l->out + l->out_off : empty;
}

void
sz_link_output_consume(struct sz_link *l, size_t n)
{
    if (n > l->out_len - l->out_off)
        n = l->out_len - l->out_off;
    l->out_off += n;
    if (l->out_off == l->out_len) {
        l->out_off = l->out_len = 0;
        if (l->out_cap > 4096) {
            free(l->out);
            l->out = NULL;
            l->out_cap = 0;
        }
    }
}

enum sz_link_state
sz_link_state(const struct sz_link *l)
{
    return l->state;
}

const uint8_t *
sz_link_peer_key(const struct sz_link *l)
{
    return l->rs;
}

uint16_t
sz_link_version(const struct sz_link *l)
{
    return l->version;
}

uint32_t
sz_link_features(const struct sz_link *l)
{
    return l->features;
}

size_t
sz_link_buffered(const struct sz_link *l)
{
    return l->in_cap + l->out_cap + sizeof *l + sizeof *l->s;
}
