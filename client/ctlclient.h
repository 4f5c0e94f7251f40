/* A blocking client of samizdatd's control socket (proto/CONTROL.md). */
#ifndef SZ_CLIENT_CTLCLIENT_H
#define SZ_CLIENT_CTLCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "samizdat/ctl.h"

/*
 * The default control socket: DATA/control.sock where DATA is the daemon's
 * default data folder ($XDG_DATA_HOME/samizdat, else $HOME/.local/share/samizdat,
 * else /var/lib/samizdat). Writes into out.
 */
void ctlclient_default_socket(char *out, size_t cap);

/* Seconds without progress after which a daemon command gives up. */
#define CTLCLIENT_DEFAULT_TIMEOUT_S 60

/* The longest wait for the reply to a PUBLISH or IMPORT while the daemon
 * still answers status requests (its batch window is at most 10 minutes). */
#define CTLCLIENT_LONG_WAIT_S 3600

/*
 * The inactivity limit of ctlclient_call(): SAMIZDAT_CTL_TIMEOUT (seconds,
 * 1..86400) when set, else CTLCLIENT_DEFAULT_TIMEOUT_S. Returns 0, or -1 with
 * a reason in err when the variable is malformed.
 */
int ctlclient_timeout(unsigned *seconds, char *err, size_t err_cap);

/*
 * Connects to the socket, sends one request and reads one reply. Every wait
 * (connecting, sending, each part of the reply) ends after the inactivity
 * limit of ctlclient_timeout(), but the wait for a PUBLISH's or IMPORT's
 * reply: that goes on while the daemon answers a STATUS request on another
 * connection each time the limit passes (it is busy, not stuck), for up to
 * CTLCLIENT_LONG_WAIT_S. A reply announcing more than
 * SZ_CTL_MAX_BODY_LEN is refused before anything is allocated. On success
 * *reply is decoded (free with sz_ctl_msg_free()) and points into *frame
 * (caller frees). Returns 0, or -1 with a reason in err (naming the socket and
 * what to do; for a PUBLISH or IMPORT that the daemon received whole, also that
 * it may still be carried out, and to check with 'samizdat list' before
 * retrying).
 */
int ctlclient_call(const char *socket_path, const struct sz_ctl_msg *req, uint8_t **frame,
                   struct sz_ctl_msg **reply, char *err, size_t err_cap);

#endif
