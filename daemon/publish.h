/*
 * Publishing: articles arriving through the control socket within a window are
 * batched into one bundle, sealed (compressed and signed) on the thread pool
 * with the next durable sequence number, stored, and only then reported.
 */
#ifndef SZ_DAEMON_PUBLISH_H
#define SZ_DAEMON_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "samizdat/article.h"
#include "samizdat/ctl.h"

/* Creates the batcher (window and size from the config). Returns 0 or a libuv error. */
int publish_init(struct daemon *d, uint64_t window_ms, size_t max_articles, int level,
                 struct publish **out);

/*
 * Reads the sequence records (SK.seq beside the key, publisher.seq in the data
 * folder) at start, so that a damaged one stops the daemon then rather than
 * failing its first publish. Returns 0, or -1 with err set.
 */
int publish_check_records(const struct daemon *d, char *err, size_t err_cap);

/*
 * Adds a validated PUBLISH request to the current batch. Takes ownership of
 * frame, msg and container (the container points into msg, which points into
 * frame), and of `counted`, the request's bytes in the control receive budget
 * (d->ctl_rx_bytes): they stay counted until the request is answered. Holds c
 * until its reply is sent.
 */
void publish_add(struct publish *p, struct ctlconn *c, uint8_t *frame, struct sz_ctl_msg *msg,
                 struct sz_container *container, size_t counted);

/* Seals whatever is waiting now (used at shutdown: in-flight work is finished). */
void publish_flush(struct publish *p);

/* Closes the batcher's timer; frees it once closed. Call after the last seal ended. */
void publish_close(struct publish *p);

/* True while a batch is waiting or being sealed. */
bool publish_busy(const struct publish *p);

#endif
