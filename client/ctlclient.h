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

/*
 * Connects to the socket, sends one request and reads one reply. On success
 * *reply is decoded (free with sz_ctl_msg_free()) and points into *frame
 * (caller frees). Returns 0, or -1 with a reason in err (naming the socket and
 * what to do).
 */
int ctlclient_call(const char *socket_path, const struct sz_ctl_msg *req, uint8_t **frame,
                   struct sz_ctl_msg **reply, char *err, size_t err_cap);

#endif
