/*
 * The link handshake (PROTOCOL.md 2) on arbitrary bytes from the other side,
 * with a fixed clock. libsodium's randomness is replaced by a ChaCha20 stream
 * reset for every input, so each run makes the same keys and any finding
 * replays exactly. The first input byte picks a mode:
 *
 *   bits 0-1  0: the rest goes raw to a responder (a prober: it must never
 *                answer one byte, nor open).
 *             1: a valid message 1 from an initiator, then the rest raw, so
 *                that message 3 parsing is reached (it must never open).
 *             2: the rest goes raw to an initiator, as message 2 and beyond
 *                (it must never open).
 *             3: valid messages 1 and 3, the first 80 bytes of the rest XORed
 *                into message 3 (any change must fail with -SZ_EAUTH, none
 *                must open), then the rest as frames (none can authenticate).
 *   bits 2-5  the size of each input call (0: everything at once).
 *   bit 6     the responder's replay filter reports message 1 as seen.
 *   bit 7     the responder's clock is past the skew window.
 *
 * A link that failed must hold no output, and no link may buffer more than
 * the input bound.
 */
#include "fuzz_link.h"

static bool replay_seen;

static bool
replay_check(const uint8_t e[32], void *ctx)
{
    (void)e;
    (void)ctx;
    return replay_seen;
}

static size_t
out_len(const struct sz_link *l)
{
    size_t len;

    (void)sz_link_output(l, &len);
    return len;
}

struct run {
    size_t n_open;
    size_t n_msg;
};

/* Polls until the link waits or fails; checks what every state allows. */
static int
drain(struct sz_link *l, int64_t now, struct run *run)
{
    struct sz_link_event ev;
    int rc;

    for (;;) {
        rc = sz_link_poll(l, now, &ev);
        fuzz_check_rc(rc);
        if (rc != 0) {
            check(ev.type == SZ_LINK_EV_NONE && sz_link_state(l) == SZ_LINK_FAILED);
            check(out_len(l) == 0);
            return rc;
        }
        if (ev.type == SZ_LINK_EV_NONE)
            return 0;
        if (ev.type == SZ_LINK_EV_OPEN) {
            check(sz_link_state(l) == SZ_LINK_OPEN && sz_link_version(l) == 1);
            run->n_open++;
        } else {
            check(ev.type == SZ_LINK_EV_MESSAGE && ev.body_len >= 1 &&
                  ev.body_len <= SZ_MAX_FRAME_LEN);
            run->n_msg++;
        }
    }
}

/* Feeds buf in pieces of `step` bytes (0: at once), polling after each. */
static int
feed(struct sz_link *l, const uint8_t *buf, size_t len, size_t step, int64_t now, struct run *run)
{
    size_t off, n;
    int rc = 0;

    for (off = 0; rc == 0 && off < len; off += n) {
        n = step == 0 || step > len - off ? len - off : step;
        rc = sz_link_input(l, buf + off, n);
        fuzz_check_rc(rc);
        if (rc == 0)
            rc = drain(l, now, run);
        check(sz_link_buffered(l) <= BUFFERED_BOUND);
    }
    return rc;
}

/* Takes what l queued (exactly want bytes) into buf. */
static void
take(struct sz_link *l, uint8_t *buf, size_t want)
{
    size_t len;
    const uint8_t *p = sz_link_output(l, &len);

    check(len == want);
    memcpy(buf, p, want);
    sz_link_output_consume(l, want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sz_link *i = NULL, *r = NULL;
    struct run run_i = {0}, run_r = {0};
    uint8_t hs1[SZ_HS1_LEN], hs2[SZ_HS2_LEN], hs3[SZ_HS3_LEN];
    uint8_t mode;
    size_t step, k;
    int64_t now_r;
    bool refused, changed = false;
    int rc;

    if (size == 0)
        return 0;
    rng_counter = 0;
    mode = data[0];
    data++;
    size--;
    step = (mode >> 2) & 15;
    step = step == 0 ? 0 : step * step;
    replay_seen = (mode & 0x40) != 0;
    now_r = (mode & 0x80) != 0 ? NOW + SZ_HS_CLOCK_SKEW_S + 1 : NOW;
    /* A valid message 1 is refused for its age or as a replay. */
    refused = (mode & 0xc0) != 0;

    check(sz_link_new(SZ_LINK_INITIATOR, &keys_i, NOW, &i) == 0);
    check(sz_link_new(SZ_LINK_RESPONDER, &keys_r, NOW, &r) == 0);
    sz_link_set_replay_check(r, replay_check, NULL);

    switch (mode & 3) {
    case 0:
        /* A prober never hears a byte, whatever it sends. */
        rc = feed(r, data, size, step, now_r, &run_r);
        check(out_len(r) == 0 && run_r.n_open == 0);
        check(rc == 0 || rc == -SZ_EAUTH);
        break;
    case 1:
        take(i, hs1, SZ_HS1_LEN);
        rc = feed(r, hs1, SZ_HS1_LEN, step, now_r, &run_r);
        check(refused ? rc == -SZ_EAUTH && out_len(r) == 0 : rc == 0 && out_len(r) == SZ_HS2_LEN);
        if (rc == 0)
            rc = feed(r, data, size, step, now_r, &run_r);
        check(run_r.n_open == 0 && run_r.n_msg == 0);
        break;
    case 2:
        rc = feed(i, data, size, step, NOW, &run_i);
        check(run_i.n_open == 0 && run_i.n_msg == 0);
        check(rc != 0 ? out_len(i) == 0 : out_len(i) == SZ_HS1_LEN);
        break;
    default:
        take(i, hs1, SZ_HS1_LEN);
        rc = feed(r, hs1, SZ_HS1_LEN, 0, now_r, &run_r);
        if (refused) {
            check(rc == -SZ_EAUTH && out_len(r) == 0);
            break;
        }
        check(rc == 0);
        take(r, hs2, SZ_HS2_LEN);
        check(feed(i, hs2, SZ_HS2_LEN, 0, NOW, &run_i) == 0 && run_i.n_open == 1);
        take(i, hs3, SZ_HS3_LEN);
        for (k = 0; k < SZ_HS3_LEN && k < size; k++) {
            changed |= data[k] != 0;
            hs3[k] ^= data[k];
        }
        rc = feed(r, hs3, SZ_HS3_LEN, step, now_r, &run_r);
        check(changed ? rc == -SZ_EAUTH && run_r.n_open == 0 : rc == 0 && run_r.n_open == 1);
        if (rc == 0 && size > SZ_HS3_LEN)
            rc = feed(r, data + SZ_HS3_LEN, size - SZ_HS3_LEN, step, now_r, &run_r);
        /* Nobody but the initiator can seal a frame to the responder. */
        check(run_r.n_msg == 0);
        break;
    }
    sz_link_free(i);
    sz_link_free(r);
    return 0;
}
