/*
 * Tests of proto/socks5.c, the client side of a SOCKS5 handshake. Every byte
 * the client sends and every proxy answer below is written out by hand from
 * RFC 1928 (greeting, CONNECT request and reply) and RFC 1929 (user name and
 * password), never produced by the code under test:
 *
 *   greeting          05 01 METHOD                 (00 none, 02 password)
 *   method choice     05 METHOD                    (ff: none acceptable)
 *   RFC 1929 request  01 ULEN USER PLEN PASS
 *   RFC 1929 verdict  01 STATUS                    (00 success)
 *   CONNECT           05 01 00 ATYP ADDR PORT      (ATYP 1: 4 bytes, 3: LEN NAME,
 *                                                  4: 16 bytes; port big-endian)
 *   CONNECT reply     05 REP 00 ATYP ADDR PORT     (REP 00 succeeded)
 *
 * Each exchange is fed one byte at a time, in chunks of exactly what
 * sz_socks5_need() asks, in chunks of 3 and all at once, followed by bytes of
 * the host's own protocol that the codec must not use.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/common.h"
#include "samizdat/socks5.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The host's first bytes after the handshake: never the codec's to use. */
#define HOST_BYTES "48 54 54 50 2f 31 2e 31 20 32 30 30 0d 0a"

/* Chunk sizes the exchanges are fed in: 0 = what sz_socks5_need() asks. */
static const size_t CHUNKS[] = {1, 0, 3, SIZE_MAX};

static const uint8_t ZERO_AUTH[sizeof((struct sz_socks5 *)0)->auth];

/* Parses hex (spaces allowed) into out (cap bytes); returns the byte count. */
static size_t
hex(const char *text, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1, v = 0;

    for (; *text != '\0'; text++) {
        char c = *text;

        if (c == ' ')
            continue;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else
            fail_msg("bad hex digit '%c'", c);
        if (hi < 0) {
            hi = v;
            continue;
        }
        assert_true(n < cap);
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    assert_true(hi < 0);
    return n;
}

static void
assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
    assert_int_equal(got_len, want_len);
    if (want_len > 0)
        assert_memory_equal(got, want, want_len);
}

static void
assert_hex(const uint8_t *got, size_t got_len, const char *want_hex)
{
    uint8_t want[1024];
    size_t want_len = hex(want_hex, want, sizeof want);

    assert_bytes(got, got_len, want, want_len);
}

/* Starts a handshake that must be accepted and checks the greeting. */
static void
start_ok(struct sz_socks5 *s, const char *host, uint16_t port, const char *user, const char *pass)
{
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t out_len = 0;

    memset(s, 0xa5, sizeof *s);
    assert_int_equal(sz_socks5_start(s, host, port, user, pass, out, sizeof out, &out_len), 0);
    assert_hex(out, out_len, user != NULL ? "05 01 02" : "05 01 00");
    assert_int_equal(s->fail, SZ_SOCKS5_F_NONE);
    assert_int_equal(sz_socks5_need(s), 2);
}

/* What a run of sz_socks5_input() calls over the proxy's bytes ended with. */
struct run {
    enum sz_socks5_status status;
    size_t used;        /* bytes of the input used, over all calls */
    uint8_t sent[2048]; /* every SEND message, one after the other */
    size_t sent_len;
    size_t n_sends;
};

/*
 * Feeds in[0..len) as a caller would, chunk bytes per call (0: what
 * sz_socks5_need() asks; SIZE_MAX: all that is left), going on with the bytes
 * not used after each SEND, until OPEN, FAILED or the end of the input.
 */
static void
run(struct sz_socks5 *s, const uint8_t *in, size_t len, size_t chunk, struct run *r)
{
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t used, out_len, n;

    memset(r, 0, sizeof *r);
    r->status = SZ_SOCKS5_MORE;
    while (r->used < len) {
        size_t need = sz_socks5_need(s);

        assert_true(need > 0);
        n = chunk == 0 ? need : chunk;
        if (n > len - r->used)
            n = len - r->used;
        used = 12345;
        out_len = 12345;
        r->status = sz_socks5_input(s, in + r->used, n, &used, out, sizeof out, &out_len);
        assert_true(used <= n);
        assert_true(used > 0);
        r->used += used;
        if (r->status == SZ_SOCKS5_SEND) {
            assert_true(out_len > 0 && out_len <= SZ_SOCKS5_OUT_MAX);
            assert_true(r->sent_len + out_len <= sizeof r->sent);
            memcpy(r->sent + r->sent_len, out, out_len);
            r->sent_len += out_len;
            r->n_sends++;
            continue;
        }
        assert_int_equal(out_len, 0);
        if (r->status == SZ_SOCKS5_OPEN || r->status == SZ_SOCKS5_FAILED)
            break;
        assert_int_equal(r->status, SZ_SOCKS5_MORE);
        assert_int_equal(used, n);
    }
}

/* After OPEN or FAILED: nothing more is used, asked for or changed. */
static void
assert_final(struct sz_socks5 *s, enum sz_socks5_status status)
{
    static const uint8_t more[] = {0x05, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x50};
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t used = 12345, out_len = 12345;
    enum sz_socks5_fail why = s->fail;
    uint8_t reply = s->reply, first = s->first;

    assert_int_equal(sz_socks5_need(s), 0);
    assert_int_equal(sz_socks5_input(s, more, sizeof more, &used, out, sizeof out, &out_len),
                     status);
    assert_int_equal(used, 0);
    assert_int_equal(out_len, 0);
    assert_int_equal(sz_socks5_input(s, more, 1, &used, out, sizeof out, &out_len), status);
    assert_int_equal(used, 0);
    assert_int_equal(out_len, 0);
    assert_int_equal(s->fail, why);
    assert_int_equal(s->reply, reply);
    assert_int_equal(s->first, first);
    assert_int_equal(sz_socks5_need(s), 0);
    assert_memory_equal(s->auth, ZERO_AUTH, sizeof ZERO_AUTH);
}

static void
test_greeting(void **state)
{
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t out_len = 0;
    struct sz_socks5 s;

    (void)state;
    /* RFC 1928, 3: VER 5, NMETHODS 1, METHODS: 00 "no authentication required". */
    memset(out, 0xee, sizeof out);
    assert_int_equal(sz_socks5_start(&s, "example.org", 443, NULL, NULL, out, sizeof out, &out_len),
                     0);
    assert_hex(out, out_len, "05 01 00");
    /* With a user name and password only 02 "username/password" is offered. */
    memset(out, 0xee, sizeof out);
    assert_int_equal(
        sz_socks5_start(&s, "example.org", 443, "user", "pass", out, sizeof out, &out_len), 0);
    assert_hex(out, out_len, "05 01 02");
    /* A password without a user name is no credential. */
    assert_int_equal(
        sz_socks5_start(&s, "example.org", 443, NULL, "pass", out, sizeof out, &out_len), 0);
    assert_hex(out, out_len, "05 01 00");
    /* Exactly the capacity it asks for is enough. */
    assert_int_equal(
        sz_socks5_start(&s, "example.org", 443, NULL, NULL, out, SZ_SOCKS5_OUT_MAX, &out_len), 0);
    assert_hex(out, out_len, "05 01 00");
}

static void
test_connect_request(void **state)
{
    static const struct {
        const char *host;
        uint16_t port;
        const char *request;
    } cases[] = {
        /* ATYP 1: an IPv4 literal goes as its 4 bytes. */
        {"192.0.2.1", 80, "05 01 00 01 c0 00 02 01 00 50"},
        {"0.0.0.0", 0, "05 01 00 01 00 00 00 00 00 00"},
        {"255.255.255.255", 65535, "05 01 00 01 ff ff ff ff ff ff"},
        {"203.0.113.7", 0x1234, "05 01 00 01 cb 00 71 07 12 34"},
        /* ATYP 4: an IPv6 literal goes as its 16 bytes. */
        {"2001:db8::1", 443, "05 01 00 04 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 01 bb"},
        {"::1", 1, "05 01 00 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 01"},
        {"::ffff:192.0.2.1", 8080,
         "05 01 00 04 00 00 00 00 00 00 00 00 00 00 ff ff c0 00 02 01 1f 90"},
        {"fe80::abcd:1234:5678:9abc", 256,
         "05 01 00 04 fe 80 00 00 00 00 00 00 ab cd 12 34 56 78 9a bc 01 00"},
        /* ATYP 3: anything else goes as a name, after its length, for the proxy to resolve. */
        {"example.org", 8080, "05 01 00 03 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 1f 90"},
        {"a", 443, "05 01 00 03 01 61 01 bb"},
        {"localhost", 9050, "05 01 00 03 09 6c 6f 63 61 6c 68 6f 73 74 23 5a"},
        {"xn--80ak6aa92e.onion", 80,
         "05 01 00 03 14 78 6e 2d 2d 38 30 61 6b 36 61 61 39 32 65 2e 6f 6e 69 6f 6e 00 50"},
    };
    static const uint8_t method_none[] = {0x05, 0x00};
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t i, used, out_len;
    struct sz_socks5 s;

    (void)state;
    for (i = 0; i < N_ELEMS(cases); i++) {
        start_ok(&s, cases[i].host, cases[i].port, NULL, NULL);
        assert_int_equal(
            sz_socks5_input(&s, method_none, sizeof method_none, &used, out, sizeof out, &out_len),
            SZ_SOCKS5_SEND);
        assert_int_equal(used, 2);
        assert_hex(out, out_len, cases[i].request);
    }
}

/* The longest name, user name and password: 255 bytes each, one length byte ff. */
static void
test_longest_fields(void **state)
{
    char name[256], user[256], pass[256];
    uint8_t in[2 + 2], want[SZ_SOCKS5_OUT_MAX];
    size_t n = 0;
    struct sz_socks5 s;
    struct run r;

    (void)state;
    memset(name, 'n', 255);
    name[255] = '\0';
    memset(user, 'u', 255);
    user[255] = '\0';
    memset(pass, 'p', 255);
    pass[255] = '\0';
    start_ok(&s, name, 443, user, pass);
    hex("05 02 01 00", in, sizeof in);
    run(&s, in, sizeof in, 1, &r);
    assert_int_equal(r.status, SZ_SOCKS5_SEND);
    assert_int_equal(r.n_sends, 2);
    /* 01 ff u*255 ff p*255: exactly SZ_SOCKS5_OUT_MAX bytes. */
    want[n++] = 0x01;
    want[n++] = 0xff;
    memset(want + n, 'u', 255);
    n += 255;
    want[n++] = 0xff;
    memset(want + n, 'p', 255);
    n += 255;
    assert_int_equal(n, SZ_SOCKS5_OUT_MAX);
    assert_true(r.sent_len > n);
    assert_bytes(r.sent, n, want, n);
    /* 05 01 00 03 ff n*255 01 bb */
    n = 0;
    want[n++] = 0x05;
    want[n++] = 0x01;
    want[n++] = 0x00;
    want[n++] = 0x03;
    want[n++] = 0xff;
    memset(want + n, 'n', 255);
    n += 255;
    want[n++] = 0x01;
    want[n++] = 0xbb;
    assert_bytes(r.sent + SZ_SOCKS5_OUT_MAX, r.sent_len - SZ_SOCKS5_OUT_MAX, want, n);
}

static void
test_start_invalid(void **state)
{
    char long_text[257];
    const char *l256 = long_text;
    const struct {
        const char *host, *user, *pass;
        size_t cap;
    } cases[] = {
        {NULL, NULL, NULL, SZ_SOCKS5_OUT_MAX},
        {"", NULL, NULL, SZ_SOCKS5_OUT_MAX},
        {l256, NULL, NULL, SZ_SOCKS5_OUT_MAX},
        {"example.org", "user", NULL, SZ_SOCKS5_OUT_MAX},
        {"example.org", "", "pass", SZ_SOCKS5_OUT_MAX},
        {"example.org", l256, "pass", SZ_SOCKS5_OUT_MAX},
        {"example.org", "user", "", SZ_SOCKS5_OUT_MAX},
        {"example.org", "user", l256, SZ_SOCKS5_OUT_MAX},
        {"example.org", "", "", SZ_SOCKS5_OUT_MAX},
        {l256, "user", "pass", SZ_SOCKS5_OUT_MAX},
        {"192.0.2.1", NULL, NULL, SZ_SOCKS5_OUT_MAX - 1},
        {"192.0.2.1", NULL, NULL, 3},
    };
    uint8_t out[SZ_SOCKS5_OUT_MAX], out_before[SZ_SOCKS5_OUT_MAX];
    struct sz_socks5 s, s_before;
    size_t i, out_len;

    (void)state;
    memset(long_text, 'x', 256);
    long_text[256] = '\0';
    for (i = 0; i < N_ELEMS(cases); i++) {
        memset(out, 0xee, sizeof out);
        memcpy(out_before, out, sizeof out);
        memset(&s, 0x5a, sizeof s);
        memcpy(&s_before, &s, sizeof s);
        out_len = 777;
        assert_int_equal(sz_socks5_start(&s, cases[i].host, 80, cases[i].user, cases[i].pass, out,
                                         cases[i].cap, &out_len),
                         -SZ_EINVAL);
        /* Nothing written. */
        assert_int_equal(out_len, 777);
        assert_memory_equal(out, out_before, sizeof out);
        assert_memory_equal(&s, &s_before, sizeof s);
    }
}

/* The CONNECT replies of a successful exchange (RFC 1928, 6), bound address and port. */
static const struct {
    const char *name;
    const char *reply;
} REPLIES[] = {
    {"ATYP 1", "05 00 00 01 c0 00 02 0a 04 38"},
    {"ATYP 3", "05 00 00 03 05 70 72 6f 78 79 04 38"},
    {"ATYP 3, empty name", "05 00 00 03 00 00 00"},
    {"ATYP 4", "05 00 00 04 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02 04 38"},
};

static void
test_exchange_no_auth(void **state)
{
    uint8_t in[512];
    size_t i, c, len, reply_len, host_len;
    struct sz_socks5 s;
    struct run r;

    (void)state;
    for (i = 0; i < N_ELEMS(REPLIES); i++) {
        for (c = 0; c < N_ELEMS(CHUNKS); c++) {
            len = hex("05 00", in, sizeof in);
            reply_len = hex(REPLIES[i].reply, in + len, sizeof in - len);
            len += reply_len;
            host_len = hex(HOST_BYTES, in + len, sizeof in - len);
            start_ok(&s, "example.org", 8080, NULL, NULL);
            run(&s, in, len + host_len, CHUNKS[c], &r);
            assert_int_equal(r.status, SZ_SOCKS5_OPEN);
            assert_int_equal(s.fail, SZ_SOCKS5_F_NONE);
            /* The host's bytes are left to the caller. */
            assert_int_equal(r.used, 2 + reply_len);
            assert_int_equal(r.n_sends, 1);
            assert_hex(r.sent, r.sent_len, "05 01 00 03 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 1f 90");
            assert_final(&s, SZ_SOCKS5_OPEN);
        }
    }
}

static void
test_exchange_auth(void **state)
{
    uint8_t in[512];
    size_t i, c, len, reply_len, host_len;
    struct sz_socks5 s;
    struct run r;

    (void)state;
    for (i = 0; i < N_ELEMS(REPLIES); i++) {
        for (c = 0; c < N_ELEMS(CHUNKS); c++) {
            len = hex("05 02 01 00", in, sizeof in);
            reply_len = hex(REPLIES[i].reply, in + len, sizeof in - len);
            len += reply_len;
            host_len = hex(HOST_BYTES, in + len, sizeof in - len);
            start_ok(&s, "203.0.113.7", 443, "alice", "s3cret!");
            run(&s, in, len + host_len, CHUNKS[c], &r);
            assert_int_equal(r.status, SZ_SOCKS5_OPEN);
            assert_int_equal(s.fail, SZ_SOCKS5_F_NONE);
            assert_int_equal(r.used, 2 + 2 + reply_len);
            assert_int_equal(r.n_sends, 2);
            /* 01 05 "alice" 07 "s3cret!", then CONNECT 203.0.113.7:443. */
            assert_hex(r.sent, r.sent_len,
                       "01 05 61 6c 69 63 65 07 73 33 63 72 65 74 21"
                       "05 01 00 01 cb 00 71 07 01 bb");
            assert_final(&s, SZ_SOCKS5_OPEN);
        }
    }
}

/* Step by step: each message comes out after exactly its answer, and the password
 * is wiped from the state as soon as it is sent. */
static void
test_auth_steps(void **state)
{
    static const uint8_t choice[] = {0x05, 0x02}, verdict[] = {0x01, 0x00};
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t used, out_len;
    struct sz_socks5 s;

    (void)state;
    start_ok(&s, "example.org", 80, "bob", "hunter2");
    assert_int_equal(sz_socks5_input(&s, choice, 1, &used, out, sizeof out, &out_len),
                     SZ_SOCKS5_MORE);
    assert_int_equal(used, 1);
    assert_int_equal(out_len, 0);
    assert_int_equal(sz_socks5_need(&s), 1);
    assert_int_equal(sz_socks5_input(&s, choice + 1, 1, &used, out, sizeof out, &out_len),
                     SZ_SOCKS5_SEND);
    assert_int_equal(used, 1);
    assert_hex(out, out_len, "01 03 62 6f 62 07 68 75 6e 74 65 72 32");
    assert_memory_equal(s.auth, ZERO_AUTH, sizeof ZERO_AUTH);
    assert_int_equal(sz_socks5_need(&s), 2);
    /* An empty read changes nothing. */
    assert_int_equal(sz_socks5_input(&s, verdict, 0, &used, out, sizeof out, &out_len),
                     SZ_SOCKS5_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(out_len, 0);
    assert_int_equal(sz_socks5_need(&s), 2);
    assert_int_equal(sz_socks5_input(&s, verdict, sizeof verdict, &used, out, sizeof out, &out_len),
                     SZ_SOCKS5_SEND);
    assert_int_equal(used, 2);
    assert_hex(out, out_len, "05 01 00 03 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00 50");
    assert_memory_equal(s.auth, ZERO_AUTH, sizeof ZERO_AUTH);
    assert_int_equal(sz_socks5_need(&s), 5);
}

/*
 * sz_socks5_need() before each byte of a message of total bytes: 2-byte
 * answers are asked for whole; a reply first up to its address's first byte
 * (5: enough for every ATYP), then up to its end.
 */
static size_t
want_need(bool reply, size_t at, size_t total)
{
    if (reply && at < 5)
        return 5 - at;
    return total - at;
}

static void
test_need(void **state)
{
    static const uint8_t host_byte[] = {0x48};
    uint8_t in[512], out[SZ_SOCKS5_OUT_MAX];
    size_t i, a, m, at, len, used, out_len, n_msgs;
    size_t msg_len[3];
    struct sz_socks5 s;
    enum sz_socks5_status st;

    (void)state;
    for (i = 0; i < N_ELEMS(REPLIES); i++) {
        for (a = 0; a < 2; a++) {
            bool auth = a == 1;

            len = hex(auth ? "05 02 01 00" : "05 00", in, sizeof in);
            msg_len[0] = 2;
            msg_len[1] = 2;
            n_msgs = auth ? 3 : 2;
            msg_len[n_msgs - 1] = hex(REPLIES[i].reply, in + len, sizeof in - len);
            len += msg_len[n_msgs - 1];
            start_ok(&s, "::1", 22, auth ? "u" : NULL, auth ? "p" : NULL);
            len = 0;
            for (m = 0; m < n_msgs; m++) {
                bool reply = m == n_msgs - 1;

                for (at = 0; at < msg_len[m]; at++) {
                    assert_int_equal(sz_socks5_need(&s), want_need(reply, at, msg_len[m]));
                    st = sz_socks5_input(&s, in + len, 1, &used, out, sizeof out, &out_len);
                    assert_int_equal(used, 1);
                    len++;
                    if (at + 1 < msg_len[m])
                        assert_int_equal(st, SZ_SOCKS5_MORE);
                    else
                        assert_int_equal(st, reply ? SZ_SOCKS5_OPEN : SZ_SOCKS5_SEND);
                }
            }
            assert_int_equal(sz_socks5_need(&s), 0);
            assert_int_equal(sz_socks5_input(&s, host_byte, 1, &used, out, sizeof out, &out_len),
                             SZ_SOCKS5_OPEN);
            assert_int_equal(used, 0);
        }
    }
}

/* A name of 255 bytes in the reply: the longest message the codec reads. */
static void
test_longest_reply(void **state)
{
    uint8_t in[2 + 4 + 1 + 255 + 2 + 1];
    size_t c, n = 0;
    struct sz_socks5 s;
    struct run r;

    (void)state;
    in[n++] = 0x05;
    in[n++] = 0x00;
    in[n++] = 0x05;
    in[n++] = 0x00;
    in[n++] = 0x00;
    in[n++] = 0x03;
    in[n++] = 0xff;
    memset(in + n, 'b', 255);
    n += 255;
    in[n++] = 0x1f;
    in[n++] = 0x90;
    in[n++] = 0x48; /* the host's */
    assert_int_equal(n, sizeof in);
    for (c = 0; c < N_ELEMS(CHUNKS); c++) {
        start_ok(&s, "192.0.2.1", 80, NULL, NULL);
        run(&s, in, sizeof in, CHUNKS[c], &r);
        assert_int_equal(r.status, SZ_SOCKS5_OPEN);
        assert_int_equal(r.used, sizeof in - 1);
        assert_final(&s, SZ_SOCKS5_OPEN);
    }
}

static void
test_failures(void **state)
{
    static const struct {
        const char *name;
        bool auth;
        const char *proxy; /* what the proxy sends, a few more bytes after the failure */
        size_t used;       /* bytes used, one at a time, up to the failure */
        size_t used_max;   /* ... in reads of sz_socks5_need() bytes (the reply's first 5) */
        enum sz_socks5_fail fail;
        uint8_t reply, first;
    } cases[] = {
        /* RFC 1928, 3: the answer to the greeting starts with 5. */
        {"HTTP proxy", false, "48 54 54 50 2f 31 2e 31", 1, 2, SZ_SOCKS5_F_NOT_SOCKS5, 0, 0x48},
        {"SOCKS4 answer", false, "04 5a 00 00", 1, 2, SZ_SOCKS5_F_NOT_SOCKS5, 0, 0x04},
        {"zero first byte, auth", true, "00 02 01 00", 1, 2, SZ_SOCKS5_F_NOT_SOCKS5, 0, 0x00},
        /* X'FF' NO ACCEPTABLE METHODS. */
        {"no method", false, "05 ff 05 00", 2, 2, SZ_SOCKS5_F_NO_METHOD, 0, 0},
        {"no method, auth", true, "05 ff 01 00", 2, 2, SZ_SOCKS5_F_NO_METHOD, 0, 0},
        /* A method that was not offered. */
        {"GSSAPI", false, "05 01 05 00", 2, 2, SZ_SOCKS5_F_NO_METHOD, 0, 0},
        {"none when password offered", true, "05 00 05 00", 2, 2, SZ_SOCKS5_F_NO_METHOD, 0, 0},
        {"password, none given", false, "05 02 01 00", 2, 2, SZ_SOCKS5_F_WANTS_AUTH, 0, 0},
        /* RFC 1929, 2: a STATUS other than X'00' is a failure. */
        {"auth refused", true, "05 02 01 01 05 00", 4, 4, SZ_SOCKS5_F_AUTH_REFUSED, 0, 0},
        {"auth refused ff", true, "05 02 01 ff 05 00", 4, 4, SZ_SOCKS5_F_AUTH_REFUSED, 0, 0},
        {"auth bad version", true, "05 02 02 00 05 00", 4, 4, SZ_SOCKS5_F_BAD_REPLY, 0, 0},
        /* RFC 1928, 6: REP other than X'00', known from the reply's second byte. */
        {"connection refused", false, "05 00 05 05 00 01 00 00 00 00 00 00", 4, 7,
         SZ_SOCKS5_F_REFUSED, 5, 0},
        {"general failure", false, "05 00 05 01 00 01 00 00 00 00 00 00", 4, 7, SZ_SOCKS5_F_REFUSED,
         1, 0},
        {"address type not supported", true, "05 02 01 00 05 08 00 01 00 00 00 00 00 00", 6, 9,
         SZ_SOCKS5_F_REFUSED, 8, 0},
        {"unassigned code", false, "05 00 05 ff 00 01 00 00 00 00 00 00", 4, 7, SZ_SOCKS5_F_REFUSED,
         0xff, 0},
        /* RFC 1928, 6: the reply's VER is 5 and its RSV is X'00'. */
        {"reply version 4", false, "05 00 04 00 00 01 00 00 00 00 00 00", 3, 7,
         SZ_SOCKS5_F_BAD_REPLY, 0, 0},
        {"reply RSV 1", false, "05 00 05 00 01 01 00 00 00 00 00 00", 5, 7, SZ_SOCKS5_F_BAD_REPLY,
         0, 0},
        /* ATYP other than 1, 3 and 4, known from the reply's fourth byte. */
        {"ATYP 7", false, "05 00 05 00 00 07 00 00 00 00 00 00", 6, 7, SZ_SOCKS5_F_BAD_REPLY, 0, 0},
        {"ATYP 0", false, "05 00 05 00 00 00 01 02 03 04", 6, 7, SZ_SOCKS5_F_BAD_REPLY, 0, 0},
        {"ATYP 2", true, "05 02 01 00 05 00 00 02 01 02 03 04", 8, 9, SZ_SOCKS5_F_BAD_REPLY, 0, 0},
        {"ATYP ff", false, "05 00 05 00 00 ff 00 00 00 00", 6, 7, SZ_SOCKS5_F_BAD_REPLY, 0, 0},
    };
    uint8_t in[64];
    size_t i, c, len;
    struct sz_socks5 s;
    struct run r;

    (void)state;
    for (i = 0; i < N_ELEMS(cases); i++) {
        len = hex(cases[i].proxy, in, sizeof in);
        assert_true(cases[i].used_max < len);
        for (c = 0; c < N_ELEMS(CHUNKS); c++) {
            print_message("%s, chunk %zu\n", cases[i].name, CHUNKS[c]);
            start_ok(&s, "example.org", 443, cases[i].auth ? "user" : NULL,
                     cases[i].auth ? "pass" : NULL);
            run(&s, in, len, CHUNKS[c], &r);
            assert_int_equal(r.status, SZ_SOCKS5_FAILED);
            if (CHUNKS[c] == 1)
                assert_int_equal(r.used, cases[i].used);
            else if (CHUNKS[c] == 0 || CHUNKS[c] == SIZE_MAX)
                assert_int_equal(r.used, cases[i].used_max);
            else
                assert_in_range(r.used, cases[i].used, cases[i].used_max);
            assert_int_equal(s.fail, cases[i].fail);
            assert_int_equal(s.reply, cases[i].reply);
            assert_int_equal(s.first, cases[i].first);
            /* The password never stays behind a failure. */
            assert_memory_equal(s.auth, ZERO_AUTH, sizeof ZERO_AUTH);
            assert_final(&s, SZ_SOCKS5_FAILED);
        }
    }
}

/* A refusal is known after two bytes: a proxy that closes then is still understood. */
static void
test_refusal_after_two_bytes(void **state)
{
    static const uint8_t choice[] = {0x05, 0x00}, reply[] = {0x05, 0x05};
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t used, out_len;
    struct sz_socks5 s;

    (void)state;
    start_ok(&s, "192.0.2.1", 80, NULL, NULL);
    assert_int_equal(sz_socks5_input(&s, choice, sizeof choice, &used, out, sizeof out, &out_len),
                     SZ_SOCKS5_SEND);
    assert_int_equal(sz_socks5_input(&s, reply, sizeof reply, &used, out, sizeof out, &out_len),
                     SZ_SOCKS5_FAILED);
    assert_int_equal(used, 2);
    assert_int_equal(out_len, 0);
    assert_int_equal(s.fail, SZ_SOCKS5_F_REFUSED);
    assert_int_equal(s.reply, 5);
    assert_final(&s, SZ_SOCKS5_FAILED);
}

/* The password is in the state until sent, and gone after a failure before that. */
static void
test_auth_wiped(void **state)
{
    static const uint8_t not_socks[] = {0x04};
    uint8_t out[SZ_SOCKS5_OUT_MAX];
    size_t used, out_len;
    struct sz_socks5 s;

    (void)state;
    start_ok(&s, "example.org", 80, "bob", "hunter2");
    assert_true(memcmp(s.auth, ZERO_AUTH, sizeof ZERO_AUTH) != 0);
    assert_int_equal(sz_socks5_input(&s, not_socks, 1, &used, out, sizeof out, &out_len),
                     SZ_SOCKS5_FAILED);
    assert_memory_equal(s.auth, ZERO_AUTH, sizeof ZERO_AUTH);

    start_ok(&s, "example.org", 80, "bob", "hunter2");
    sz_socks5_wipe(&s);
    assert_memory_equal(s.auth, ZERO_AUTH, sizeof ZERO_AUTH);
    assert_int_equal(s.auth_len, 0);
}

static void
test_reply_text(void **state)
{
    /* RFC 1928, 6: a word of each code's meaning. */
    static const char *const words[] = {
        "succeeded", "failure", "allow", "network", "host", "refused", "TTL", "CONNECT", "address",
    };
    const char *text[N_ELEMS(words)];
    size_t i, j;

    (void)state;
    for (i = 0; i < N_ELEMS(words); i++) {
        text[i] = sz_socks5_reply_text((uint8_t)i);
        assert_non_null(text[i]);
        assert_non_null(strstr(text[i], words[i]));
        for (j = 0; j < i; j++)
            assert_string_not_equal(text[i], text[j]);
    }
    assert_string_equal(sz_socks5_reply_text(5), "connection refused");
    assert_string_equal(sz_socks5_reply_text(200), "an unknown failure");
    assert_string_equal(sz_socks5_reply_text(9), "an unknown failure");
    assert_string_equal(sz_socks5_reply_text(255), "an unknown failure");
}

static void
test_onion_name(void **state)
{
    (void)state;
    assert_true(sz_socks5_onion_name("duskgytldkxiuqc6.onion"));
    assert_true(sz_socks5_onion_name("a.onion"));
    assert_true(sz_socks5_onion_name("News.Example.ONION"));
    assert_true(sz_socks5_onion_name("example.onion."));
    assert_false(sz_socks5_onion_name(".onion"));
    assert_false(sz_socks5_onion_name("onion"));
    assert_false(sz_socks5_onion_name(""));
    assert_false(sz_socks5_onion_name("."));
    assert_false(sz_socks5_onion_name("example.onion.org"));
    assert_false(sz_socks5_onion_name("exampleonion"));
    assert_false(sz_socks5_onion_name("example.onio"));
    assert_false(sz_socks5_onion_name("example.onion.."));
    assert_false(sz_socks5_onion_name("127.0.0.1"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting),
        cmocka_unit_test(test_connect_request),
        cmocka_unit_test(test_longest_fields),
        cmocka_unit_test(test_start_invalid),
        cmocka_unit_test(test_exchange_no_auth),
        cmocka_unit_test(test_exchange_auth),
        cmocka_unit_test(test_auth_steps),
        cmocka_unit_test(test_need),
        cmocka_unit_test(test_longest_reply),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_refusal_after_two_bytes),
        cmocka_unit_test(test_auth_wiped),
        cmocka_unit_test(test_reply_text),
        cmocka_unit_test(test_onion_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
