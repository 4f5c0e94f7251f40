/* Logging to stderr, one line per event. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Set on the loop (a SIGHUP), read on the thread pool too. */
static atomic_int max_level = LOG_INFO;

void
log_set_level(enum log_level level)
{
    atomic_store_explicit(&max_level, (int)level, memory_order_relaxed);
}

bool
log_enabled(enum log_level level)
{
    return (int)level <= atomic_load_explicit(&max_level, memory_order_relaxed);
}

void
log_warn_readable(int fd, const char *what, const char *path)
{
    struct stat st;

    if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
        log_msg(LOG_WARN,
                "%s %.300s is readable by group or others (mode %04o): run chmod 600 on it", what,
                path, (unsigned)(st.st_mode & 07777));
}

int
log_parse_level(const char *s, enum log_level *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/*
 * True when stderr is the journal's stream: systemd then sets JOURNAL_STREAM
 * to its device and inode (systemd.exec(5)). Lines then start with their
 * syslog priority ("<4>"), so that journalctl -p filters them, and carry no
 * time or process id: the journal records both.
 */
static bool
to_journal(void)
{
    static atomic_int state = -1;
    int v = atomic_load_explicit(&state, memory_order_relaxed);

    if (v < 0) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev = 0, ino = 0;
        struct stat st;

        v = e != NULL && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
            fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
            (unsigned long long)st.st_ino == ino;
        atomic_store_explicit(&state, v, memory_order_relaxed);
    }
    return v == 1;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    static const int priorities[] = {3, 4, 6, 7}; /* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
    char line[2048], when[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if (!log_enabled(level))
        return;
    if (to_journal()) {
        n = snprintf(line, sizeof line, "<%d>%s ", priorities[level], tags[level]);
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line, sizeof line, "%s.%03ldZ samizdatd[%ld] %s ", when, ts.tv_nsec / 1000000,
                     (long)getpid(), tags[level]);
    }
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line keeps lines whole when several processes share stderr. */
    n = (int)strnlen(line, sizeof line - 2);
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}

bool
log_allow(struct log_limit *l, int level, uint32_t per_minute, int64_t now_ms)
{
    if (level != LOG_NONE && !log_enabled((enum log_level)level))
        return false;
    if (now_ms - l->window_start_ms >= 60000) {
        if (l->suppressed > 0 && l->worst != LOG_NONE)
            log_msg((enum log_level)l->worst,
                    "left out %u messages like the one logged %lld s before this (at most %u a "
                    "minute are logged)",
                    l->suppressed, (long long)((now_ms - l->last_ms) / 1000), per_minute);
        l->window_start_ms = now_ms;
        l->n = 0;
        l->suppressed = 0;
    }
    if (l->n < per_minute) {
        l->n++;
        l->last_ms = now_ms;
        return true;
    }
    if (l->suppressed == 0 || level < l->worst)
        l->worst = level;
    l->suppressed++;
    return false;
}
