/* The control socket: a Unix stream socket speaking proto/CONTROL.md. */
#ifndef SZ_DAEMON_CTLSRV_H
#define SZ_DAEMON_CTLSRV_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "samizdat/ctl.h"

/*
 * Binds the control socket at `path` with mode 0600 and starts accepting.
 * A stale socket file left by a dead daemon is replaced; a live one is an
 * error. Call it once, after the key is loaded and the store opened, before
 * the loop runs. Returns 0 or a libuv error code.
 */
int ctlsrv_start(struct daemon *d, const char *path);

/* Stops reading new requests; open requests still finish, and a new connection is
 * answered that the daemon is shutting down. */
void ctlsrv_quiesce(struct daemon *d);

/* Closes the listener and every connection (after ctlsrv_quiesce and once no
 * job is in flight). */
void ctlsrv_close_all(struct daemon *d);

/* Holds a connection across asynchronous work; it is freed only when unheld and closed. */
void ctlsrv_hold(struct ctlconn *c);
void ctlsrv_release(struct ctlconn *c);

/*
 * Sends a reply to the request the connection is waiting on and resumes
 * reading its next request. Encodes msg; on a closed connection does nothing.
 */
void ctlsrv_reply(struct ctlconn *c, const struct sz_ctl_msg *msg);

/* Sends an R_ERROR reply with a positive sz_err code and a message. */
void ctlsrv_reply_error(struct ctlconn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
