/*
 * The client side of a SOCKS5 proxy's handshake (RFC 1928, CONNECT; RFC 1929,
 * user name and password), as `samizdat fetch --proxy` and a daemon's outbound
 * links through [network] proxy speak it. Pure codec: the caller connects to
 * the proxy, sends what this says to send and hands it what the proxy sends.
 *
 *   sz_socks5_start()    the greeting to send
 *   loop: read at most sz_socks5_need() bytes, sz_socks5_input() them:
 *         SZ_SOCKS5_SEND  send out[0..out_len), go on reading
 *         SZ_SOCKS5_MORE  go on reading
 *         SZ_SOCKS5_OPEN  the proxy is connected to the host: every byte after
 *                         the ones used is the host's
 *         SZ_SOCKS5_FAILED  s->fail (and s->reply, s->first) say why
 *
 * A host that is an IP literal goes to the proxy as an address, anything else
 * as a name for the proxy to look up (no DNS question leaves the machine).
 */
#ifndef SZ_INCLUDE_SOCKS5_H
#define SZ_INCLUDE_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest message the client sends: an RFC 1929 request (1+1+255+1+255). */
#define SZ_SOCKS5_OUT_MAX 513
#define SZ_SOCKS5_NAME_MAX 255 /* host, user name and password: at most this many bytes */

enum sz_socks5_status {
    SZ_SOCKS5_MORE = 0,   /* read more: at most sz_socks5_need() bytes */
    SZ_SOCKS5_SEND = 1,   /* send out[0..*out_len), then read */
    SZ_SOCKS5_OPEN = 2,   /* connected: what follows on the stream is the host's */
    SZ_SOCKS5_FAILED = 3, /* see s->fail */
};

enum sz_socks5_fail {
    SZ_SOCKS5_F_NONE = 0,
    SZ_SOCKS5_F_NOT_SOCKS5,   /* the proxy's first byte (s->first) is not 5: not a proxy */
    SZ_SOCKS5_F_WANTS_AUTH,   /* it wants a user name and password, and none was given */
    SZ_SOCKS5_F_NO_METHOD,    /* it takes none of the methods offered */
    SZ_SOCKS5_F_AUTH_REFUSED, /* it refused the user name and password */
    SZ_SOCKS5_F_REFUSED,      /* it could not or would not connect: s->reply holds its code */
    SZ_SOCKS5_F_BAD_REPLY,    /* a later reply is not SOCKS5 (version, reserved byte, type) */
};

/* One handshake's state. Holds the password until it is sent, then wipes it. */
struct sz_socks5 {
    int state;
    uint8_t in[4 + 1 + 255 + 2]; /* the reply being read: at most a name's */
    size_t in_len;
    enum sz_socks5_fail fail;
    uint8_t reply; /* SZ_SOCKS5_F_REFUSED: the reply code (RFC 1928, 6) */
    uint8_t first; /* SZ_SOCKS5_F_NOT_SOCKS5: the byte that came instead of 5 */
    uint8_t request[4 + 1 + 255 + 2];
    size_t request_len;
    uint8_t auth[SZ_SOCKS5_OUT_MAX]; /* the RFC 1929 request; wiped once sent */
    size_t auth_len;
};

/*
 * Starts a handshake to reach host:port through the proxy, with a user name
 * and password when user is not NULL (both 1..255 bytes; Tor takes any, and
 * gives each pair its own circuit). Writes the greeting to out (cap at least
 * SZ_SOCKS5_OUT_MAX). Returns 0, or -SZ_EINVAL for an empty or too long host,
 * user name or password (nothing written).
 */
int sz_socks5_start(struct sz_socks5 *s, const char *host, uint16_t port, const char *user,
                    const char *pass, uint8_t *out, size_t cap, size_t *out_len);

/* Bytes to read before sz_socks5_input() can go on: never more than the proxy's
 * message still needs, so that nothing of the host's is read into the codec. */
size_t sz_socks5_need(const struct sz_socks5 *s);

/*
 * Takes what the proxy sent: uses bytes of in[0..len) up to the end of the
 * proxy's current message and sets *used to their count. Returns a status;
 * with SZ_SOCKS5_SEND, out[0..*out_len) is the next message (cap at least
 * SZ_SOCKS5_OUT_MAX: a smaller one is a programmer error). After OPEN or
 * FAILED it uses nothing and returns the same again. The caller wipes out
 * after sending it: it may hold the password.
 */
enum sz_socks5_status sz_socks5_input(struct sz_socks5 *s, const uint8_t *in, size_t len,
                                      size_t *used, uint8_t *out, size_t cap, size_t *out_len);

/* True once the CONNECT request was handed out: the proxy is trying the host. */
bool sz_socks5_connecting(const struct sz_socks5 *s);

/*
 * Why the handshake failed, in words that follow "the proxy HOST:PORT ", as
 * "could not connect to it: connection refused". Writes to buf (cap > 0).
 */
const char *sz_socks5_fail_text(const struct sz_socks5 *s, char *buf, size_t cap);

/* What a CONNECT reply code means (RFC 1928, 6), as "connection refused". */
const char *sz_socks5_reply_text(uint8_t reply);

/* Wipes s (the password it may still hold). */
void sz_socks5_wipe(struct sz_socks5 *s);

/*
 * True when host is a Tor onion name ("....onion", any case, a final dot
 * allowed): only a proxy into Tor reaches it, and asking a DNS server about
 * it would only tell that server.
 */
bool sz_socks5_onion_name(const char *host);

#endif
