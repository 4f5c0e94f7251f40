/* A blocking client of samizdatd's control socket. */
#include "ctlclient.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

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

/*
 * Waits until fd is ready for ev, or timeout_ms pass without it. Returns 1
 * when ready, 0 on timeout, -1 on error (errno set).
 */
static int
wait_fd(int fd, short ev, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int n;

    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : n > 0;
}

/* Sends everything; returns 0, -1 on error (errno set) or -3 when no byte left for timeout_ms. */
static int
send_all(int fd, const uint8_t *p, size_t len, int timeout_ms)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(fd, POLLOUT, timeout_ms);
            if (w <= 0)
                return w == 0 ? -3 : -1;
            continue;
        }
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Receives exactly len bytes; returns 0, -1 on error, -2 when the peer closed,
 * or -3 when no byte arrived for timeout_ms.
 */
static int
recv_all(int fd, uint8_t *p, size_t len, int timeout_ms)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(fd, POLLIN, timeout_ms);
            if (w <= 0)
                return w == 0 ? -3 : -1;
            continue;
        }
        if (n <= 0)
            return n == 0 ? -2 : -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
ctlclient_timeout(unsigned *seconds, char *err, size_t err_cap)
{
    const char *v = getenv("SAMIZDAT_CTL_TIMEOUT");
    char *end;
    unsigned long n;

    *seconds = CTLCLIENT_DEFAULT_TIMEOUT_S;
    if (v == NULL || *v == '\0')
        return 0;
    errno = 0;
    n = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || errno != 0 || *end != '\0' || n < 1 || n > 86400) {
        snprintf(err, err_cap,
                 "SAMIZDAT_CTL_TIMEOUT must be a whole number of seconds from 1 to 86400, not "
                 "'%s'",
                 v);
        return -1;
    }
    *seconds = (unsigned)n;
    return 0;
}

/*
 * Whether the daemon at socket_path answers a STATUS request within the
 * inactivity limit (a second connection): a daemon busy sealing a publish
 * still does, one that is stuck or gone does not.
 */
static bool
daemon_answers(const char *socket_path)
{
    struct sz_ctl_msg req, *reply = NULL;
    uint8_t *frame = NULL;
    char err[512];
    bool ok;

    memset(&req, 0, sizeof req);
    req.type = SZ_CTL_STATUS;
    ok = ctlclient_call(socket_path, &req, &frame, &reply, err, sizeof err) == 0;
    sz_ctl_msg_free(reply);
    free(frame);
    return ok;
}

/*
 * Waits for the first byte of the reply to a request the daemon may take
 * long to carry out (a PUBLISH waits for the batch window, then the seal; an
 * IMPORT for the check of every bundle). Each time timeout_ms pass without
 * it, the daemon is asked for its status: while it answers, it is working,
 * and the wait goes on, up to CTLCLIENT_LONG_WAIT_S in all. Returns 1 when
 * the reply is there, 0 when the daemon stopped answering or the whole wait
 * ran out (*gave_up_s says after how long), -1 on error (errno set).
 */
static int
wait_long_reply(int fd, const char *socket_path, int timeout_ms, unsigned *gave_up_s)
{
    struct timespec t0, t;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int w = wait_fd(fd, POLLIN, timeout_ms);
        if (w != 0)
            return w;
        clock_gettime(CLOCK_MONOTONIC, &t);
        /* Whole seconds waited: the difference of the two clocks' seconds alone
         * says 3 for 2.1 s that cross two second boundaries. */
        *gave_up_s =
            (unsigned)(((int64_t)(t.tv_sec - t0.tv_sec) * 1000000000 + (t.tv_nsec - t0.tv_nsec)) /
                       1000000000);
        if (*gave_up_s >= CTLCLIENT_LONG_WAIT_S || !daemon_answers(socket_path))
            return 0;
    }
}

/*
 * After the whole request went out, the daemon carries it out even when its
 * reply never arrives (proto/CONTROL.md 6.2 and 7.2): a user who retries a
 * publish that timed out would publish the articles twice. Says so for the
 * requests that change what the daemon holds.
 */
static void
note_may_complete(const struct sz_ctl_msg *req, char *err, size_t err_cap)
{
    size_t n = strlen(err);

    if (n >= err_cap)
        return;
    if (req->type == SZ_CTL_PUBLISH)
        snprintf(err + n, err_cap - n,
                 ". It has the whole request and may still publish it (or already has): check "
                 "with 'samizdat list' before publishing again, or the articles may be "
                 "published twice");
    else if (req->type == SZ_CTL_IMPORT)
        snprintf(err + n, err_cap - n,
                 ". It has the whole request and may still import the bundles (or already has): "
                 "check with 'samizdat list' before importing again");
}

/* One exchange of ctlclient_call(), without its retries. */
static int
call_once(const char *socket_path, const struct sz_ctl_msg *req, uint8_t **frame_out,
          struct sz_ctl_msg **reply, char *err, size_t err_cap)
{
    struct sockaddr_un sa;
    struct timeval tv;
    uint8_t *out = NULL, hdr[SZ_CTL_FRAME_HEADER_LEN], *frame = NULL;
    size_t out_len = 0, frame_len = 0;
    unsigned timeout_s;
    int fd = -1, rc = -1, r, timeout_ms;
    bool cut_short = false; /* the daemon closed before it had the whole request */
    char send_err[512];

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (socket_path[0] == '\0') {
        /* Linux would take it for an abstract name, which anyone may hold. */
        snprintf(err, err_cap, "the control socket's path is empty: name samizdatd's socket");
        return -1;
    }
    if (strlen(socket_path) >= sizeof sa.sun_path) {
        snprintf(err, err_cap, "socket path %s is too long", socket_path);
        return -1;
    }
    memcpy(sa.sun_path, socket_path, strlen(socket_path));
    if (ctlclient_timeout(&timeout_s, err, err_cap) != 0)
        return -1;
    timeout_ms = (int)timeout_s * 1000;
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
    /* A daemon whose backlog is full makes connect() wait: at most this long. */
    tv.tv_sec = (time_t)timeout_s;
    tv.tv_usec = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            snprintf(err, err_cap,
                     "samizdatd at %s did not accept the connection within %u s: is it "
                     "overloaded or stuck? see its log",
                     socket_path, timeout_s);
        else if (errno == EACCES || errno == EPERM)
            /* The socket (mode 0600) is for the daemon's user and root alone. */
            snprintf(err, err_cap,
                     "cannot reach samizdatd at %s: %s (only the user the daemon runs as, and "
                     "root, may use its control socket: run this command as that user)",
                     socket_path, strerror(errno));
        else {
            int e = errno;
            struct stat st;
            if (stat(socket_path, &st) == 0 && !S_ISSOCK(st.st_mode))
                snprintf(err, err_cap,
                         "cannot reach samizdatd at %s: it is a %s, not a socket (pass --socket "
                         "PATH to name samizdatd's control socket, control.sock in its data "
                         "folder by default)",
                         socket_path, S_ISDIR(st.st_mode) ? "folder" : "file");
            else
                snprintf(err, err_cap,
                         "cannot reach samizdatd at %s: %s (is it running? pass --socket PATH "
                         "to name another daemon's socket)",
                         socket_path, strerror(e));
        }
        goto out;
    }
    /*
     * From here every wait is bounded: a daemon that stops answering for
     * timeout_s is given up on rather than waited for forever (a publish or an
     * import waits on while the daemon still answers: wait_long_reply()).
     */
    r = send_all(fd, out, out_len, timeout_ms);
    if (r == -1 && (errno == EPIPE || errno == ECONNRESET)) {
        /* A daemon that refuses a request early (too many connections, its receive
         * budget full, shutting down) answers R_ERROR and closes without reading the
         * rest (CONTROL.md 1): that answer says more than the broken pipe. */
        snprintf(send_err, sizeof send_err, "cannot send to samizdatd at %s: %s", socket_path,
                 strerror(errno));
        cut_short = true;
    } else if (r != 0) {
        if (r == -3)
            snprintf(err, err_cap,
                     "samizdatd at %s did not take the request within %u s: is it overloaded or "
                     "stuck? see its log",
                     socket_path, timeout_s);
        else
            snprintf(err, err_cap, "cannot send to samizdatd at %s: %s", socket_path,
                     strerror(errno));
        goto out;
    }
    /* From here the daemon has the whole request (unless cut_short): every failure
     * gets note_may_complete(). */
    if (!cut_short && (req->type == SZ_CTL_PUBLISH || req->type == SZ_CTL_IMPORT)) {
        unsigned waited_s = 0;
        r = wait_long_reply(fd, socket_path, timeout_ms, &waited_s);
        if (r == 0) {
            if (waited_s >= CTLCLIENT_LONG_WAIT_S)
                snprintf(err, err_cap,
                         "samizdatd at %s did not answer within %u s, though it still answers "
                         "status requests: see its log",
                         socket_path, waited_s);
            else
                snprintf(err, err_cap,
                         "samizdatd at %s did not answer within %u s, nor a status request "
                         "then: is it overloaded or stuck? see its log",
                         socket_path, waited_s);
            goto sent;
        }
    }
    r = recv_all(fd, hdr, sizeof hdr, timeout_ms);
    if (r == -3) {
        snprintf(err, err_cap,
                 "samizdatd at %s did not answer within %u s: is it overloaded or stuck? see its "
                 "log",
                 socket_path, timeout_s);
        goto sent;
    }
    if (r != 0) {
        snprintf(err, err_cap, "samizdatd at %s closed the connection without a valid reply",
                 socket_path);
        goto sent;
    }
    /* The announced length is checked against the protocol's limit before any allocation. */
    r = sz_ctl_frame_peek(hdr, sizeof hdr, &frame_len);
    if (r == -SZ_ETOOBIG) {
        snprintf(err, err_cap,
                 "samizdatd at %s announced a reply of %lu bytes, above the protocol's limit of "
                 "%zu: is it a samizdatd of another version? see its log",
                 socket_path, (unsigned long)sz_load32(hdr), (size_t)SZ_CTL_MAX_BODY_LEN);
        goto sent;
    }
    if (r < 0) {
        snprintf(err, err_cap, "samizdatd at %s sent a reply this client cannot read: %s",
                 socket_path, sz_strerror(r));
        goto sent;
    }
    if (r == 1)
        frame_len = SZ_CTL_FRAME_HEADER_LEN + sz_load32(hdr);
    frame = malloc(frame_len);
    if (frame == NULL) {
        snprintf(err, err_cap, "out of memory for the daemon's reply");
        goto sent;
    }
    memcpy(frame, hdr, sizeof hdr);
    r = recv_all(fd, frame + sizeof hdr, frame_len - sizeof hdr, timeout_ms);
    if (r == -3) {
        snprintf(err, err_cap,
                 "samizdatd at %s stopped in the middle of its reply and did not go on within "
                 "%u s: is it overloaded or stuck? see its log",
                 socket_path, timeout_s);
        goto sent;
    }
    if (r != 0) {
        snprintf(err, err_cap, "samizdatd at %s closed the connection mid-reply", socket_path);
        goto sent;
    }
    r = sz_ctl_decode(frame + sizeof hdr, frame_len - sizeof hdr, reply);
    if (r != 0) {
        snprintf(err, err_cap, "samizdatd at %s sent a reply this client cannot read: %s",
                 socket_path, sz_strerror(r));
        goto sent;
    }
    *frame_out = frame;
    frame = NULL;
    rc = 0;
    goto out;
sent:
    if (cut_short)
        snprintf(err, err_cap, "%s", send_err); /* no answer to read: the send's error */
    else
        note_may_complete(req, err, err_cap);
out:
    if (fd >= 0)
        close(fd);
    free(frame);
    free(out);
    return rc;
}

int
ctlclient_call(const char *socket_path, const struct sz_ctl_msg *req, uint8_t **frame_out,
               struct sz_ctl_msg **reply, char *err, size_t err_cap)
{
    struct timespec start, now;
    unsigned timeout_s, pause_ms = 20;
    int rc;

    if (ctlclient_timeout(&timeout_s, err, err_cap) != 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        rc = call_once(socket_path, req, frame_out, reply, err, err_cap);
        /*
         * A daemon with all its control connections taken (a burst of
         * publishes, each waiting for its batch) answers EBUSY without
         * reading the request: it is sent again after a growing pause with
         * jitter, until the timeout.
         */
        if (rc != 0 || (*reply)->type != SZ_CTL_R_ERROR || (*reply)->code != (uint32_t)SZ_EBUSY)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 +
                (long)pause_ms >=
            (long)timeout_s * 1000)
            return rc; /* the caller shows the daemon's answer */
        sz_ctl_msg_free(*reply);
        *reply = NULL;
        free(*frame_out);
        *frame_out = NULL;
        {
            unsigned ms = pause_ms / 2 + randombytes_uniform(pause_ms);
            struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            }
        }
        if (pause_ms < 500)
            pause_ms *= 2;
    }
}
