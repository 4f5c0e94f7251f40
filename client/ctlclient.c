/* A blocking client of samizdatd's control socket. */
#include "ctlclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"

void
ctlclient_default_socket(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

    if (xdg != NULL && xdg[0] == '/')
        snprintf(out, cap, "%s/samizdat/control.sock", xdg);
    else if (home != NULL && home[0] == '/')
        snprintf(out, cap, "%s/.local/share/samizdat/control.sock", home);
    else
        snprintf(out, cap, "/var/lib/samizdat/control.sock");
}

static int
send_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
recv_all(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? -2 : -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
ctlclient_call(const char *socket_path, const struct sz_ctl_msg *req, uint8_t **frame_out,
               struct sz_ctl_msg **reply, char *err, size_t err_cap)
{
    struct sockaddr_un sa;
    uint8_t *out = NULL, hdr[SZ_CTL_FRAME_HEADER_LEN], *frame = NULL;
    size_t out_len = 0, frame_len = 0;
    int fd = -1, rc = -1, r;

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(socket_path) >= sizeof sa.sun_path) {
        snprintf(err, err_cap, "socket path %s is too long", socket_path);
        return -1;
    }
    memcpy(sa.sun_path, socket_path, strlen(socket_path));
    r = sz_ctl_encode(req, &out, &out_len);
    if (r != 0) {
        snprintf(err, err_cap, "cannot encode the request: %s", sz_strerror(r));
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_cap, "cannot make a socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(err, err_cap,
                 "cannot reach samizdatd at %s: %s (is it running? pass --socket PATH to "
                 "name another daemon's socket)",
                 socket_path, strerror(errno));
        goto out;
    }
    if (send_all(fd, out, out_len) != 0) {
        snprintf(err, err_cap, "cannot send to samizdatd at %s: %s", socket_path, strerror(errno));
        goto out;
    }
    r = recv_all(fd, hdr, sizeof hdr);
    if (r == 0) {
        /* With the header alone, peek checks the limit and asks for the body. */
        r = sz_ctl_frame_peek(hdr, sizeof hdr, &frame_len);
        if (r == 1) {
            frame_len = SZ_CTL_FRAME_HEADER_LEN + sz_load32(hdr);
            r = 0;
        }
    }
    if (r != 0) {
        snprintf(err, err_cap, "samizdatd at %s closed the connection without a valid reply",
                 socket_path);
        goto out;
    }
    frame = malloc(frame_len);
    if (frame == NULL) {
        snprintf(err, err_cap, "out of memory for the daemon's reply");
        goto out;
    }
    memcpy(frame, hdr, sizeof hdr);
    if (recv_all(fd, frame + sizeof hdr, frame_len - sizeof hdr) != 0) {
        snprintf(err, err_cap, "samizdatd at %s closed the connection mid-reply", socket_path);
        goto out;
    }
    r = sz_ctl_decode(frame + sizeof hdr, frame_len - sizeof hdr, reply);
    if (r != 0) {
        snprintf(err, err_cap, "samizdatd at %s sent a reply this client cannot read: %s",
                 socket_path, sz_strerror(r));
        goto out;
    }
    *frame_out = frame;
    frame = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(frame);
    free(out);
    return rc;
}
