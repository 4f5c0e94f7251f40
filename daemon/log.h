/* Logging for samizdatd: one line per event on stderr, with a level. Never a secret. */
#ifndef SZ_DAEMON_LOG_H
#define SZ_DAEMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
};

/* Sets the most verbose level printed (default LOG_INFO). */
void log_set_level(enum log_level level);

/* Warns when the file open as fd, which holds a secret (what, at path), can be
 * read by group or others. */
void log_warn_readable(int fd, const char *what, const char *path);

/* Whether messages of this level are printed. */
bool log_enabled(enum log_level level);

/* Parses "error", "warn", "info" or "debug". Returns 0 or -1. */
int log_parse_level(const char *s, enum log_level *out);

/* Writes one line: "2026-11-28T10:00:00Z samizdatd[pid] LEVEL message". */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A bucket for messages a peer or client can trigger at will: true when this
 * event, of the given level, may be logged (at most `per_minute`, counting
 * those left out). False without counting when the level is not printed.
 * The first message allowed after a minute with some left out is preceded by
 * a line saying how many, at the most severe of their levels. LOG_NONE: a
 * rate limit on something else (nothing is logged of it).
 */
struct log_limit {
    int64_t window_start_ms;
    int64_t last_ms; /* when the last message allowed was */
    uint32_t n;
    uint32_t suppressed;
    int worst; /* the most severe level left out, while suppressed > 0 */
};

#define LOG_NONE (-1)

bool log_allow(struct log_limit *l, int level, uint32_t per_minute, int64_t now_ms);

#endif
