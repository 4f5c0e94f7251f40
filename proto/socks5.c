/*
 * The client side of a SOCKS5 handshake (RFC 1928 CONNECT, RFC 1929 user
 * name and password). See include/samizdat/socks5.h.
 */
#include "samizdat/socks5.h"

#include <arpa/inet.h>
#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "samizdat/common.h"

enum {
    S_HELLO,   /* greeting sent: the method choice (2 bytes) awaited */
    S_AUTH,    /* user name and password sent: the verdict (2 bytes) awaited */
    S_CONNECT, /* CONNECT sent: the reply awaited */
    S_OPEN,
    S_FAILED,
};

#define METHOD_NONE 0x00
#define METHOD_PASSWORD 0x02
#define ATYP_IPV4 1
#define ATYP_NAME 3
#define ATYP_IPV6 4

static size_t
text_len(const char *s)
{
    return strnlen(s, SZ_SOCKS5_NAME_MAX + 1);
}

int
sz_socks5_start(struct sz_socks5 *s, const char *host, uint16_t port, const char *user,
                const char *pass, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t host_len = host != NULL ? text_len(host) : 0, n = 0;
    size_t user_len = user != NULL ? text_len(user) : 0;
    size_t pass_len = pass != NULL ? text_len(pass) : 0;
    uint8_t *r;

    if (host_len == 0 || host_len > SZ_SOCKS5_NAME_MAX || cap < SZ_SOCKS5_OUT_MAX ||
        (user != NULL && (user_len == 0 || user_len > SZ_SOCKS5_NAME_MAX || pass == NULL ||
                          pass_len == 0 || pass_len > SZ_SOCKS5_NAME_MAX)))
        return -SZ_EINVAL;
    memset(s, 0, sizeof *s);
    r = s->request;
    r[n++] = 5; /* version */
    r[n++] = 1; /* CONNECT */
    r[n++] = 0; /* reserved */
    if (inet_pton(AF_INET, host, r + n + 1) == 1) {
        r[n] = ATYP_IPV4;
        n += 1 + 4;
    } else if (inet_pton(AF_INET6, host, r + n + 1) == 1) {
        r[n] = ATYP_IPV6;
        n += 1 + 16;
    } else {
        r[n++] = ATYP_NAME;
        r[n++] = (uint8_t)host_len;
        memcpy(r + n, host, host_len);
        n += host_len;
    }
    r[n++] = (uint8_t)(port >> 8);
    r[n++] = (uint8_t)port;
    s->request_len = n;
    if (user != NULL) {
        /* RFC 1929, 2: version 1, the user name, the password. */
        n = 0;
        s->auth[n++] = 1;
        s->auth[n++] = (uint8_t)user_len;
        memcpy(s->auth + n, user, user_len);
        n += user_len;
        s->auth[n++] = (uint8_t)pass_len;
        memcpy(s->auth + n, pass, pass_len);
        n += pass_len;
        s->auth_len = n;
    }
    /* Version 5, one method: the password when one was given (offering "none"
     * too would let the proxy drop it, and with Tor the circuit it chooses). */
    out[0] = 5;
    out[1] = 1;
    out[2] = user != NULL ? METHOD_PASSWORD : METHOD_NONE;
    *out_len = 3;
    s->state = S_HELLO;
    return 0;
}

size_t
sz_socks5_need(const struct sz_socks5 *s)
{
    size_t want;

    switch (s->state) {
    case S_HELLO:
    case S_AUTH:
        want = 2;
        break;
    case S_CONNECT:
        if (s->in_len < 5) {
            want = 5;
            break;
        }
        switch (s->in[3]) {
        case ATYP_IPV4:
            want = 4 + 4 + 2;
            break;
        case ATYP_IPV6:
            want = 4 + 16 + 2;
            break;
        case ATYP_NAME:
            want = 4 + 1 + (size_t)s->in[4] + 2;
            break;
        default:
            want = 5;
            break;
        }
        break;
    default:
        return 0;
    }
    return want > s->in_len ? want - s->in_len : 0;
}

static enum sz_socks5_status
fail(struct sz_socks5 *s, enum sz_socks5_fail why)
{
    s->state = S_FAILED;
    s->fail = why;
    sodium_memzero(s->auth, sizeof s->auth);
    s->auth_len = 0;
    return SZ_SOCKS5_FAILED;
}

/* Copies the request to send next into out. */
static enum sz_socks5_status
send_next(struct sz_socks5 *s, int state, const uint8_t *msg, size_t len, uint8_t *out,
          size_t *out_len)
{
    memcpy(out, msg, len);
    *out_len = len;
    s->state = state;
    s->in_len = 0;
    return SZ_SOCKS5_SEND;
}

enum sz_socks5_status
sz_socks5_input(struct sz_socks5 *s, const uint8_t *in, size_t len, size_t *used, uint8_t *out,
                size_t cap, size_t *out_len)
{
    size_t n;

    *used = 0;
    *out_len = 0;
    if (s->state == S_OPEN)
        return SZ_SOCKS5_OPEN;
    if (s->state == S_FAILED)
        return SZ_SOCKS5_FAILED;
    assert(cap >= SZ_SOCKS5_OUT_MAX);
    (void)cap;
    while (*used < len) {
        n = sz_socks5_need(s);
        if (n > len - *used)
            n = len - *used;
        memcpy(s->in + s->in_len, in + *used, n);
        s->in_len += n;
        *used += n;
        if (s->state == S_HELLO && s->in[0] != 5) {
            s->first = s->in[0];
            return fail(s, SZ_SOCKS5_F_NOT_SOCKS5);
        }
        if (s->state == S_CONNECT && s->in[0] != 5)
            return fail(s, SZ_SOCKS5_F_BAD_REPLY);
        /* A refusal is known from its second byte: a proxy may close without the rest. */
        if (s->state == S_CONNECT && s->in_len >= 2 && s->in[1] != 0) {
            s->reply = s->in[1];
            return fail(s, SZ_SOCKS5_F_REFUSED);
        }
        if (s->state == S_CONNECT && s->in_len >= 3 && s->in[2] != 0)
            return fail(s, SZ_SOCKS5_F_BAD_REPLY); /* RSV must be 0 (RFC 1928, 6) */
        if (s->state == S_CONNECT && s->in_len >= 4 && s->in[3] != ATYP_IPV4 &&
            s->in[3] != ATYP_NAME && s->in[3] != ATYP_IPV6)
            return fail(s, SZ_SOCKS5_F_BAD_REPLY);
        if (sz_socks5_need(s) > 0)
            continue;
        switch (s->state) {
        case S_HELLO:
            if (s->in[1] == METHOD_PASSWORD && s->auth_len > 0) {
                enum sz_socks5_status st = send_next(s, S_AUTH, s->auth, s->auth_len, out, out_len);
                sodium_memzero(s->auth, sizeof s->auth);
                s->auth_len = 0;
                return st;
            }
            if (s->in[1] == METHOD_NONE && s->auth_len == 0)
                return send_next(s, S_CONNECT, s->request, s->request_len, out, out_len);
            return fail(s, s->in[1] == METHOD_PASSWORD ? SZ_SOCKS5_F_WANTS_AUTH
                                                       : SZ_SOCKS5_F_NO_METHOD);
        case S_AUTH:
            /* RFC 1929, 2: version 1 (some servers answer 5), status 0 = success. */
            if (s->in[0] != 1 && s->in[0] != 5)
                return fail(s, SZ_SOCKS5_F_BAD_REPLY);
            if (s->in[1] != 0)
                return fail(s, SZ_SOCKS5_F_AUTH_REFUSED);
            return send_next(s, S_CONNECT, s->request, s->request_len, out, out_len);
        default: /* S_CONNECT, complete */
            s->state = S_OPEN;
            return SZ_SOCKS5_OPEN;
        }
    }
    return SZ_SOCKS5_MORE;
}

const char *
sz_socks5_reply_text(uint8_t reply)
{
    static const char *const text[] = {
        "succeeded",
        "general failure",
        "the proxy's rules do not allow it",
        "the network is unreachable from the proxy",
        "the host is unreachable from the proxy",
        "connection refused",
        "TTL expired (no answer in time)",
        "the proxy does not support CONNECT",
        "the proxy does not support this kind of address",
    };
    return reply < sizeof text / sizeof text[0] ? text[reply] : "an unknown failure";
}

bool
sz_socks5_connecting(const struct sz_socks5 *s)
{
    return s->state == S_CONNECT || s->state == S_OPEN ||
           (s->state == S_FAILED && s->fail == SZ_SOCKS5_F_REFUSED);
}

const char *
sz_socks5_fail_text(const struct sz_socks5 *s, char *buf, size_t cap)
{
    switch (s->fail) {
    case SZ_SOCKS5_F_NONE:
        snprintf(buf, cap, "has not failed");
        break;
    case SZ_SOCKS5_F_NOT_SOCKS5:
        snprintf(buf, cap, "does not speak SOCKS5 (it answered with byte 0x%02x)", s->first);
        break;
    case SZ_SOCKS5_F_WANTS_AUTH:
        snprintf(buf, cap, "wants a user name and password");
        break;
    case SZ_SOCKS5_F_NO_METHOD:
        snprintf(buf, cap, "accepts none of the authentication methods offered");
        break;
    case SZ_SOCKS5_F_AUTH_REFUSED:
        snprintf(buf, cap, "refused the user name and password");
        break;
    case SZ_SOCKS5_F_REFUSED:
        snprintf(buf, cap, "could not connect to it: %s", sz_socks5_reply_text(s->reply));
        break;
    case SZ_SOCKS5_F_BAD_REPLY:
    default:
        snprintf(buf, cap, "sent a reply that is not SOCKS5");
        break;
    }
    return buf;
}

void
sz_socks5_wipe(struct sz_socks5 *s)
{
    sodium_memzero(s, sizeof *s);
}

bool
sz_socks5_onion_name(const char *host)
{
    static const char suffix[] = ".onion";
    size_t n = strlen(host), k = sizeof suffix - 1, i;

    if (n > 0 && host[n - 1] == '.')
        n--;
    if (n <= k)
        return false;
    for (i = 0; i < k; i++) {
        char c = host[n - k + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return false;
    }
    return true;
}
