/*
 * Link frames (PROTOCOL.md 3): a link pair is opened for every input (with
 * libsodium's randomness replaced by a ChaCha20 stream reset per input, so
 * runs replay exactly), then the input reaches the receiving side as transport
 * bytes. The first input byte picks a mode:
 *
 *   bit 0     the receiver is the initiator (else the responder).
 *   bit 1     0: the rest is fed raw: nothing can authenticate, so no message
 *                may come out, and the link must wait or fail.
 *             1: the rest describes messages, which the sender seals; the
 *                wire bytes reach the receiver in pieces, one of them possibly
 *                flipped. Exactly the messages of the frames before the flip
 *                must come out, byte for byte, then -SZ_EAUTH.
 *   bits 2-7  the size of each input call (0: everything at once).
 *
 * Structured rest: u16 flip position (modulo the wire length), u8 flip mask
 * (0: none), then messages: u8 n, the length is n + 1 (n < 255) or 1 + the
 * u16 that follows (n = 255), then that many body bytes (fewer at the end).
 * In every mode the receiver never buffers more than its input bound.
 */
#include "fuzz_link.h"

#define MAX_MSGS 4096

/* The messages the sender sealed, as slices of the input. */
struct sent {
    const uint8_t *body[MAX_MSGS];
    size_t len[MAX_MSGS];
    size_t end[MAX_MSGS]; /* wire offset just past the message's frame */
    size_t n;
};

struct got {
    const struct sent *expect; /* NULL: no message may arrive */
    size_t n;
    bool opening; /* the handshake runs: OPEN may arrive */
};

/* Polls until the link waits or fails; each message must be the next one sent. */
static int
drain(struct sz_link *l, struct got *got)
{
    struct sz_link_event ev;
    int rc;

    for (;;) {
        rc = sz_link_poll(l, NOW, &ev);
        fuzz_check_rc(rc);
        if (rc != 0) {
            check(ev.type == SZ_LINK_EV_NONE && sz_link_state(l) == SZ_LINK_FAILED);
            return rc;
        }
        if (ev.type == SZ_LINK_EV_NONE)
            return 0;
        if (ev.type == SZ_LINK_EV_OPEN) {
            check(got->opening);
            continue;
        }
        check(ev.type == SZ_LINK_EV_MESSAGE && got->expect != NULL && got->n < got->expect->n);
        check(ev.body_len == got->expect->len[got->n] &&
              memcmp(ev.body, got->expect->body[got->n], ev.body_len) == 0);
        got->n++;
    }
}

static int
feed(struct sz_link *l, const uint8_t *buf, size_t len, size_t step, struct got *got)
{
    size_t off, n;
    int rc = 0;

    for (off = 0; rc == 0 && off < len; off += n) {
        n = step == 0 || step > len - off ? len - off : step;
        rc = sz_link_input(l, buf + off, n);
        fuzz_check_rc(rc);
        if (rc == 0)
            rc = drain(l, got);
        check(sz_link_buffered(l) <= BUFFERED_BOUND);
    }
    return rc;
}

/* Moves the handshake messages across until both sides are open. */
static void
open_pair(struct sz_link *i, struct sz_link *r)
{
    struct got none = {.opening = true};

    for (int k = 0; k < 3; k++) {
        struct sz_link *from = k == 1 ? r : i, *to = k == 1 ? i : r;
        size_t len;
        const uint8_t *p = sz_link_output(from, &len);

        check(feed(to, p, len, 0, &none) == 0);
        sz_link_output_consume(from, len);
    }
    check(sz_link_state(i) == SZ_LINK_OPEN && sz_link_state(r) == SZ_LINK_OPEN);
}

/* Seals the messages the input describes; returns the wire length. */
static size_t
seal_messages(struct sz_link *tx, const uint8_t *data, size_t size, struct sent *sent)
{
    struct sz_rd rd;
    size_t wire = 0;

    sz_rd_init(&rd, data, size);
    while (sz_rd_left(&rd) > 0 && sent->n < MAX_MSGS) {
        uint8_t n8;
        uint16_t n16;
        size_t len;
        const uint8_t *body;

        (void)sz_rd_u8(&rd, &n8);
        len = (size_t)n8 + 1;
        if (n8 == 255 && sz_rd_u16(&rd, &n16) == 0)
            len = (size_t)n16 + 1;
        if (len > sz_rd_left(&rd))
            len = sz_rd_left(&rd);
        if (len == 0)
            break;
        (void)sz_rd_bytes(&rd, len, &body);
        check(sz_link_send(tx, body, len) == 0);
        wire += len + SZ_FRAME_OVERHEAD;
        sent->body[sent->n] = body;
        sent->len[sent->n] = len;
        sent->end[sent->n] = wire;
        sent->n++;
    }
    return wire;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sent sent;
    struct sz_link *i = NULL, *r = NULL, *rx, *tx;
    struct got got = {0};
    struct sz_rd rd;
    uint16_t flip_pos = 0;
    uint8_t mode, flip_mask = 0, *wire;
    size_t step, wire_len, len, k;
    int rc;

    if (size == 0)
        return 0;
    rng_counter = 0;
    mode = data[0];
    data++;
    size--;
    step = (size_t)(mode >> 2);
    step = step * step;

    check(sz_link_new(SZ_LINK_INITIATOR, &keys_i, NOW, &i) == 0);
    check(sz_link_new(SZ_LINK_RESPONDER, &keys_r, NOW, &r) == 0);
    open_pair(i, r);
    rx = (mode & 1) != 0 ? i : r;
    tx = rx == i ? r : i;

    if ((mode & 2) == 0) {
        /* Raw bytes: nothing authenticates, so nothing comes out. */
        rc = feed(rx, data, size, step, &got);
        check(got.n == 0);
        check(rc == 0 || rc == -SZ_EAUTH || rc == -SZ_ETOOBIG || rc == -SZ_EBADMSG);
        goto out;
    }

    sz_rd_init(&rd, data, size);
    (void)sz_rd_u16(&rd, &flip_pos);
    (void)sz_rd_u8(&rd, &flip_mask);
    memset(&sent, 0, sizeof sent);
    wire_len = seal_messages(tx, data + rd.off, sz_rd_left(&rd), &sent);
    {
        const uint8_t *p = sz_link_output(tx, &len);

        check(len == wire_len);
        wire = malloc(len > 0 ? len : 1);
        check(wire != NULL);
        if (len > 0)
            memcpy(wire, p, len);
        sz_link_output_consume(tx, len);
    }
    got.expect = &sent;
    if (flip_mask != 0 && wire_len > 0) {
        size_t pos = flip_pos % wire_len;

        wire[pos] ^= flip_mask;
        rc = feed(rx, wire, wire_len, step, &got);
        /* Every frame that ends at or before the flipped byte arrives, then the tag fails. */
        for (k = 0; k < sent.n && sent.end[k] <= pos; k++)
            ;
        check(rc == -SZ_EAUTH && got.n == k);
    } else {
        rc = feed(rx, wire, wire_len, step, &got);
        check(rc == 0 && got.n == sent.n);
        /* Drained: the receiver gave its big buffer back. */
        check(sz_link_buffered(rx) <= 65536);
    }
    free(wire);
out:
    sz_link_free(i);
    sz_link_free(r);
    return 0;
}
