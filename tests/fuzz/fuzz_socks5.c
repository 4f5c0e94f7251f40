/*
 * The SOCKS5 client handshake (proto/socks5.c) against an arbitrary proxy.
 *
 * The input's first three bytes choose the handshake:
 *
 *   [0] bit 0: a user name and password are given (RFC 1929)
 *       bits 1-2: the host: 0 IPv4 literal, 1 IPv6 literal, 2 a name of
 *       1..255 bytes, 3 the name "localhost"
 *       bits 3-5: how the proxy's bytes are cut into reads (see next_chunk())
 *   [1] seed of the read sizes
 *   [2] the host's, user name's and password's lengths or last byte, and the port
 *
 * and the rest is what the proxy sends. The harness keeps its own reading of
 * that stream (expect()): where each of the proxy's messages ends, when the
 * handshake is settled and how. Broken invariants abort():
 *
 *   - every read uses at most its bytes, returns SEND exactly when it writes
 *     (at most SZ_SOCKS5_OUT_MAX bytes), and SEND only at the end of a message;
 *   - the messages sent are the RFC 1929 request and the CONNECT request that
 *     the harness builds itself from its choices;
 *   - sz_socks5_need() is never 0 before the end, never asks past the proxy's
 *     current message, and is 0 after OPEN and FAILED;
 *   - OPEN has used exactly the proxy's messages (2 [+ 2] + the reply, whose
 *     length comes from its ATYP), FAILED has used the bytes that settle it and
 *     at most what sz_socks5_need() asked for, with the reason, reply code and
 *     first byte the stream gives; OPEN has no fail reason;
 *   - the password is wiped from the state once sent and on failure;
 *   - after OPEN or FAILED a read uses nothing and returns the same status.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/socks5.h"

#include "fuzz.h"

#define HEADER_LEN 3

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    return 0;
}

/* How the harness reads the proxy's stream p[0..len) (RFC 1928, 1929). */
struct expect {
    enum sz_socks5_status status; /* MORE: the stream ends before it is settled */
    enum sz_socks5_fail fail;
    uint8_t reply, first;
    size_t known;       /* bytes that settle it: OPEN uses exactly these */
    size_t msg_start;   /* where the message that settles it starts */
    size_t window;      /* what sz_socks5_need() may ask of that message before it is settled */
    size_t reply_start; /* where the CONNECT reply starts */
    size_t reply_end;   /* where it ends: its shortest (7 bytes) while its ATYP is unknown */
};

static void
expect_fail(struct expect *e, enum sz_socks5_fail why, size_t known, size_t start, size_t window)
{
    e->status = SZ_SOCKS5_FAILED;
    e->fail = why;
    e->known = known;
    e->msg_start = start;
    e->window = window;
}

static void
expect(const uint8_t *p, size_t len, bool auth, struct expect *e)
{
    size_t r;

    memset(e, 0, sizeof *e);
    e->status = SZ_SOCKS5_MORE;
    r = e->reply_start = auth ? 4 : 2;
    e->reply_end = r + 4 + 1 + 2;
    /* The method choice: VER 5, METHOD (00 none, 02 password, ff none acceptable). */
    if (len < 1)
        return;
    if (p[0] != 5) {
        e->first = p[0];
        expect_fail(e, SZ_SOCKS5_F_NOT_SOCKS5, 1, 0, 2);
        return;
    }
    if (len < 2)
        return;
    if (auth && p[1] != 0x02) {
        expect_fail(e, SZ_SOCKS5_F_NO_METHOD, 2, 0, 2);
        return;
    }
    if (!auth && p[1] != 0x00) {
        expect_fail(e, p[1] == 0x02 ? SZ_SOCKS5_F_WANTS_AUTH : SZ_SOCKS5_F_NO_METHOD, 2, 0, 2);
        return;
    }
    /* The RFC 1929 verdict: VER 1 (the codec also takes 5), STATUS 0. */
    if (auth) {
        if (len < 4)
            return;
        if (p[2] != 1 && p[2] != 5) {
            expect_fail(e, SZ_SOCKS5_F_BAD_REPLY, 4, 2, 2);
            return;
        }
        if (p[3] != 0) {
            expect_fail(e, SZ_SOCKS5_F_AUTH_REFUSED, 4, 2, 2);
            return;
        }
    }
    /* The CONNECT reply: VER 5, REP 0, RSV 0, ATYP, BND.ADDR, BND.PORT. */
    if (len < r + 1)
        return;
    if (p[r] != 5) {
        expect_fail(e, SZ_SOCKS5_F_BAD_REPLY, r + 1, r, 5);
        return;
    }
    if (len < r + 2)
        return;
    if (p[r + 1] != 0) {
        e->reply = p[r + 1];
        expect_fail(e, SZ_SOCKS5_F_REFUSED, r + 2, r, 5);
        return;
    }
    if (len < r + 3)
        return;
    if (p[r + 2] != 0) {
        expect_fail(e, SZ_SOCKS5_F_BAD_REPLY, r + 3, r, 5);
        return;
    }
    if (len < r + 4)
        return;
    switch (p[r + 3]) {
    case 1:
        e->reply_end = r + 4 + 4 + 2;
        break;
    case 4:
        e->reply_end = r + 4 + 16 + 2;
        break;
    case 3:
        if (len < r + 5)
            return;
        e->reply_end = r + 4 + 1 + (size_t)p[r + 4] + 2;
        break;
    default:
        expect_fail(e, SZ_SOCKS5_F_BAD_REPLY, r + 4, r, 5);
        return;
    }
    if (len < e->reply_end)
        return;
    e->status = SZ_SOCKS5_OPEN;
    e->known = e->reply_end;
}

/* Read sizes: a small xorshift generator seeded by the input. */
struct chunker {
    unsigned pattern;
    uint32_t x;
    unsigned n_calls;
};

static uint32_t
next_random(struct chunker *c)
{
    c->x ^= c->x << 13;
    c->x ^= c->x >> 17;
    c->x ^= c->x << 5;
    return c->x;
}

/* The size of the next read; the caller cuts it to what is left. */
static size_t
next_chunk(struct chunker *c, size_t need, size_t left)
{
    c->n_calls++;
    switch (c->pattern) {
    case 0: /* what sz_socks5_need() asks, as the header says to read */
        return need;
    case 1: /* one byte at a time */
        return 1;
    case 2: /* a little more than asked */
        return need + 1 + next_random(c) % 8;
    case 3: /* all that is left */
        return left;
    case 4: /* 1..16 */
        return 1 + next_random(c) % 16;
    case 5: /* empty reads between reads of what is asked */
        return c->n_calls % 2 == 0 ? 0 : need;
    case 6: /* one byte, then all that is left */
        return c->n_calls % 2 == 0 ? left : 1;
    default: /* 0..299 */
        return next_random(c) % 300;
    }
}

static bool
all_zero(const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static bool
bytes_eq(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* The handshake the header chose, and the two messages it must send (RFC 1929, 2;
 * RFC 1928, 4), built here byte by byte. */
struct choice {
    char host[256], user[256], pass[256];
    uint16_t port;
    bool auth;
    uint8_t auth_msg[SZ_SOCKS5_OUT_MAX];
    size_t auth_msg_len;
    uint8_t connect[4 + 1 + 255 + 2];
    size_t connect_len;
};

static void
choose(uint8_t flags, uint8_t h, struct choice *c)
{
    size_t n = 0, len, user_len, pass_len;

    memset(c, 0, sizeof *c);
    c->auth = (flags & 1) != 0;
    c->port = (uint16_t)(h * 257u + 1u);
    c->connect[n++] = 5;
    c->connect[n++] = 1;
    c->connect[n++] = 0;
    switch ((flags >> 1) & 3) {
    case 0:
        snprintf(c->host, sizeof c->host, "192.0.2.%u", (unsigned)h);
        c->connect[n++] = 1;
        c->connect[n++] = 192;
        c->connect[n++] = 0;
        c->connect[n++] = 2;
        c->connect[n++] = h;
        break;
    case 1:
        snprintf(c->host, sizeof c->host, "2001:db8::%x", (unsigned)h);
        c->connect[n++] = 4;
        c->connect[n++] = 0x20;
        c->connect[n++] = 0x01;
        c->connect[n++] = 0x0d;
        c->connect[n++] = 0xb8;
        memset(c->connect + n, 0, 11);
        n += 11;
        c->connect[n++] = h;
        break;
    case 2:
        len = 1 + (size_t)h % 255;
        memset(c->host, 'a' + h % 26, len);
        c->connect[n++] = 3;
        c->connect[n++] = (uint8_t)len;
        memcpy(c->connect + n, c->host, len);
        n += len;
        break;
    default:
        strcpy(c->host, "localhost");
        c->connect[n++] = 3;
        c->connect[n++] = 9;
        memcpy(c->connect + n, "localhost", 9);
        n += 9;
        break;
    }
    c->connect[n++] = (uint8_t)(c->port >> 8);
    c->connect[n++] = (uint8_t)c->port;
    c->connect_len = n;
    if (c->auth) {
        user_len = 1 + (size_t)h % 255;
        pass_len = 255 - (size_t)h % 255;
        memset(c->user, 'u', user_len);
        memset(c->pass, 'p', pass_len);
        n = 0;
        c->auth_msg[n++] = 1;
        c->auth_msg[n++] = (uint8_t)user_len;
        memcpy(c->auth_msg + n, c->user, user_len);
        n += user_len;
        c->auth_msg[n++] = (uint8_t)pass_len;
        memcpy(c->auth_msg + n, c->pass, pass_len);
        n += pass_len;
        c->auth_msg_len = n;
    }
}

/* The end of the proxy's message that the handshake is reading after `used` bytes. */
static size_t
message_end(const struct choice *c, const struct expect *e, size_t used)
{
    if (used < 2)
        return 2;
    if (c->auth && used < 4)
        return 4;
    return e->reply_end;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct choice c;
    struct sz_socks5 s;
    struct expect e;
    struct chunker ch;
    uint8_t out[SZ_SOCKS5_OUT_MAX], *chunk;
    const uint8_t *p;
    size_t len, used, out_len, pos = 0, n, need, n_sends = 0;
    enum sz_socks5_status st = SZ_SOCKS5_MORE;

    if (size < HEADER_LEN)
        return 0;
    choose(data[0], data[2], &c);
    ch.pattern = (data[0] >> 3) & 7;
    ch.x = 0x9e3779b9u ^ data[1];
    ch.n_calls = 0;
    p = data + HEADER_LEN;
    len = size - HEADER_LEN;
    expect(p, len, c.auth, &e);

    if (sz_socks5_start(&s, c.host, c.port, c.auth ? c.user : NULL, c.auth ? c.pass : NULL, out,
                        sizeof out, &out_len) != 0 ||
        !bytes_eq(out, out_len, (const uint8_t[]){5, 1, c.auth ? 2 : 0}, 3))
        abort();
    /* The password waits in the state until it is sent. */
    if (c.auth && (s.auth_len != c.auth_msg_len || s.auth[0] != 1))
        abort();

    while (pos < len) {
        need = sz_socks5_need(&s);
        /* Something is always missing before the end, and never more than the message's. */
        if (need == 0 || pos + need > message_end(&c, &e, pos))
            abort();
        n = next_chunk(&ch, need, len - pos);
        if (n > len - pos)
            n = len - pos;
        /* Each read in a buffer of its own size, so that ASan sees a read past it. */
        chunk = malloc(n > 0 ? n : 1);
        if (chunk == NULL)
            abort();
        memcpy(chunk, p + pos, n);
        used = SIZE_MAX;
        out_len = SIZE_MAX;
        st = sz_socks5_input(&s, chunk, n, &used, out, sizeof out, &out_len);
        free(chunk);
        if (used > n || out_len > SZ_SOCKS5_OUT_MAX || (st == SZ_SOCKS5_SEND) != (out_len > 0))
            abort();
        /* MORE takes the whole read; only the end of a message stops short of it. */
        if (st == SZ_SOCKS5_MORE && used != n)
            abort();
        pos += used;
        if (st == SZ_SOCKS5_SEND) {
            /* Sent at the end of the method choice (and of the verdict), nowhere else. */
            n_sends++;
            if (c.auth && n_sends == 1) {
                if (pos != 2 || !bytes_eq(out, out_len, c.auth_msg, c.auth_msg_len))
                    abort();
            } else if (n_sends == (c.auth ? 2u : 1u)) {
                if (pos != e.reply_start || !bytes_eq(out, out_len, c.connect, c.connect_len))
                    abort();
            } else {
                abort();
            }
        }
        /* Wiped once the handshake is past the password. */
        if ((n_sends > 0 || st == SZ_SOCKS5_OPEN || st == SZ_SOCKS5_FAILED) &&
            !all_zero(s.auth, sizeof s.auth))
            abort();
        if (st == SZ_SOCKS5_OPEN || st == SZ_SOCKS5_FAILED)
            break;
        if (st != SZ_SOCKS5_MORE && st != SZ_SOCKS5_SEND)
            abort();
        /* Reads of nothing are few: a loop that stops using bytes is a bug. */
        if (ch.n_calls > 4 * (len + 8))
            abort();
    }

    if (st != e.status && !(e.status == SZ_SOCKS5_MORE && st == SZ_SOCKS5_SEND))
        abort();
    switch (st) {
    case SZ_SOCKS5_OPEN:
        if (s.fail != SZ_SOCKS5_F_NONE || pos != e.known || s.reply != 0 || s.first != 0)
            abort();
        break;
    case SZ_SOCKS5_FAILED:
        if (s.fail == SZ_SOCKS5_F_NONE || s.fail != e.fail || s.reply != e.reply ||
            s.first != e.first || pos < e.known || pos > e.msg_start + e.window)
            abort();
        break;
    default:
        /* The stream ended first: everything was used, nothing settled. */
        if (pos != len || s.fail != SZ_SOCKS5_F_NONE || sz_socks5_need(&s) == 0)
            abort();
        break;
    }
    if (st == SZ_SOCKS5_OPEN || st == SZ_SOCKS5_FAILED) {
        enum sz_socks5_fail why = s.fail;

        if (sz_socks5_need(&s) != 0)
            abort();
        /* Settled: the rest is the host's (or nobody's), and the state stays. */
        used = SIZE_MAX;
        out_len = SIZE_MAX;
        if (sz_socks5_input(&s, p + pos, len - pos, &used, out, sizeof out, &out_len) != st ||
            used != 0 || out_len != 0 || s.fail != why || sz_socks5_need(&s) != 0)
            abort();
    }
    sz_socks5_wipe(&s);
    if (!all_zero((const uint8_t *)&s, sizeof s))
        abort();
    return 0;
}
