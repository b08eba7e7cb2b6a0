/* lib/sg_log.c - one line per event on stderr. */
#include "lib/sg_log.h"

#include <inttypes.h>
#include <limits.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

sg_log_level sg_log_min_level = SG_LOG_INFO;
int sg_log_debug_places_on;

static const char *s_prog = "stirgate";
static const char *const s_names[] = {"debug", "info", "warn", "error",
                                      "fatal"};

/*
 * What every line repeats is formatted once: " prog[pid] " when the pid
 * is first needed (and again in a forked child), the date and time once
 * per second.  getpid() is a system call in current glibc, and the
 * snprintf of the prefix cost as much as the message itself.
 */
static pid_t s_pid;
static char s_who[96];
static size_t s_wholen;
static time_t s_sec = (time_t)-1;
static char s_date[64]; /* "2026-09-01T12:00:00" */
static int s_atfork;

/* Lines collected while held (sg_log_hold). */
static int s_held;
static char s_buf[PIPE_BUF];
static size_t s_buflen;

static void
s_forked(void)
{
    s_pid = 0;
    s_buflen = 0; /* the parent writes what it had collected */
}

static void
s_who_make(void)
{
    int n;

    if (!s_atfork) {
        (void)pthread_atfork(NULL, NULL, s_forked);
        s_atfork = 1;
    }
    s_pid = getpid();
    n = snprintf(s_who, sizeof(s_who), "Z %s[%d] ", s_prog, (int)s_pid);
    s_wholen = n < 0                        ? 0
               : (size_t)n >= sizeof(s_who) ? sizeof(s_who) - 1
                                            : (size_t)n;
}

void
sg_log_init(const char *progname, sg_log_level min_level)
{
    s_prog = progname;
    sg_log_min_level = min_level;
    s_pid = 0;
}

void
sg_log_set_level(sg_log_level min_level)
{
    sg_log_min_level = min_level;
}

sg_log_level
sg_log_get_level(void)
{
    return sg_log_min_level;
}

static void
s_write(const char *p, size_t n)
{
    /* One write() per line (or per batch of whole lines, at most
     * PIPE_BUF) so concurrent processes do not interleave. */
    if (n > 0 && write(STDERR_FILENO, p, n) < 0) {
        /* nowhere left to report it */
    }
}

static void
s_flush(void)
{
    s_write(s_buf, s_buflen);
    s_buflen = 0;
}

void
sg_log_hold(void)
{
    s_held = 1;
}

void
sg_log_release(void)
{
    s_held = 0;
    s_flush();
}

/* ---- debug places -------------------------------------------------------*/

#define S_DEBUG_PLACES_MAX 32
static char *s_dplaces[S_DEBUG_PLACES_MAX];
static size_t s_ndplaces;

void
sg_log_set_debug_places(const char *const *places, size_t n)
{
    for (size_t i = 0; i < s_ndplaces; i++)
        free(s_dplaces[i]);
    s_ndplaces = 0;
    for (size_t i = 0; i < n && s_ndplaces < S_DEBUG_PLACES_MAX; i++) {
        char *d = strdup(places[i]);
        if (d == NULL)
            sg_panic("strdup: out of memory");
        s_dplaces[s_ndplaces++] = d;
    }
    sg_log_debug_places_on = s_ndplaces > 0;
}

/* `place` is a debug place or under one ("store" covers "store.db"). */
static int
s_debug_place(const char *place)
{
    for (size_t i = 0; i < s_ndplaces; i++) {
        size_t k = strlen(s_dplaces[i]);
        if (strncmp(place, s_dplaces[i], k) == 0 &&
            (place[k] == '\0' || place[k] == '.'))
            return 1;
    }
    return 0;
}

/* ---- rate limiting of repeated warn/error lines --------------------------*/

/*
 * A small direct-mapped table keyed by the (place, format) pointers: log
 * calls pass string literals, so the pointers name the call site's kind
 * of line without hashing text.  A collision replaces the older kind
 * (its pending count is lost: cheap, and rare with few failing kinds).
 */
#define S_RL_SLOTS 64
typedef struct {
    const char *place, *fmt;
    uint64_t window_start;
    unsigned written;    /* in the current window */
    uint64_t suppressed; /* since the last line written */
} s_rl_t;

static s_rl_t s_rl[S_RL_SLOTS];
static uint64_t s_rl_window_ms = 10000;
static unsigned s_rl_burst = 5;
static uint64_t (*s_rl_clock)(void);

void
sg_log_set_ratelimit(uint64_t window_ms, unsigned burst)
{
    s_rl_window_ms = window_ms;
    s_rl_burst = burst;
    memset(s_rl, 0, sizeof(s_rl));
}

void
sg_log_set_clock(uint64_t (*now_ms)(void))
{
    s_rl_clock = now_ms;
    memset(s_rl, 0, sizeof(s_rl));
}

static uint64_t
s_rl_now(void)
{
    struct timespec ts;

    if (s_rl_clock != NULL)
        return s_rl_clock();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 0: suppress this line; else write it, with *report similar lines
 * suppressed before it to mention. */
static int
s_rl_admit(const char *place, const char *fmt, uint64_t *report)
{
    uintptr_t h = ((uintptr_t)place >> 3) ^ ((uintptr_t)fmt >> 3) ^
                  ((uintptr_t)fmt >> 11);
    s_rl_t *e = &s_rl[h % S_RL_SLOTS];
    uint64_t now = s_rl_now();

    *report = 0;
    if (s_rl_burst == 0)
        return 1;
    if (e->place != place || e->fmt != fmt) {
        memset(e, 0, sizeof(*e));
        e->place = place;
        e->fmt = fmt;
        e->window_start = now;
    } else if (now - e->window_start >= s_rl_window_ms) {
        e->window_start = now;
        e->written = 0;
    }
    if (e->written >= s_rl_burst) {
        e->suppressed++;
        return 0;
    }
    e->written++;
    *report = e->suppressed;
    e->suppressed = 0;
    return 1;
}

static void s_vlog(sg_log_level level, const char *place, const char *fmt,
                   va_list ap) SG_PRINTF(3, 0);

/* Similar lines suppressed before the one being written (s_rl_admit). */
static uint64_t s_suppressed;

static void
s_vlog(sg_log_level level, const char *place, const char *fmt, va_list ap)
{
    char line[2048];
    struct timeval tv;
    size_t n, k;
    int m, ms;

    gettimeofday(&tv, NULL);
    if (tv.tv_sec != s_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        snprintf(s_date, sizeof(s_date), "%04d-%02d-%02dT%02d:%02d:%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        s_sec = tv.tv_sec;
    }
    if (s_pid == 0)
        s_who_make();
    n = strlen(s_date);
    memcpy(line, s_date, n);
    ms = (int)(tv.tv_usec / 1000);
    line[n++] = '.';
    line[n++] = (char)('0' + ms / 100);
    line[n++] = (char)('0' + ms / 10 % 10);
    line[n++] = (char)('0' + ms % 10);
    memcpy(line + n, s_who, s_wholen);
    n += s_wholen;
    k = strlen(s_names[level]);
    memcpy(line + n, s_names[level], k);
    n += k;
    line[n++] = ' ';
    k = strlen(place);
    if (k > 64)
        k = 64;
    memcpy(line + n, place, k);
    n += k;
    line[n++] = ':';
    line[n++] = ' ';
    m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    if (m > 0)
        n += (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    if (s_suppressed > 0) {
        m = snprintf(line + n, sizeof(line) - n - 1,
                     " (%" PRIu64 " similar suppressed)", s_suppressed);
        if (m > 0)
            n += (size_t)m;
        if (n > sizeof(line) - 2)
            n = sizeof(line) - 2;
        s_suppressed = 0;
    }
    line[n++] = '\n';
    if (s_held && level <= SG_LOG_INFO) {
        if (s_buflen + n > sizeof(s_buf))
            s_flush();
        if (n <= sizeof(s_buf)) {
            memcpy(s_buf + s_buflen, line, n);
            s_buflen += n;
            return;
        }
    }
    s_flush();
    s_write(line, n);
}

void
sg_log(sg_log_level level, const char *place, const char *fmt, ...)
{
    va_list ap;

    if (level < sg_log_min_level &&
        !(level == SG_LOG_DEBUG && s_ndplaces > 0 && s_debug_place(place)))
        return;
    if ((level == SG_LOG_WARN || level == SG_LOG_ERROR) &&
        !s_rl_admit(place, fmt, &s_suppressed))
        return;
    va_start(ap, fmt);
    s_vlog(level, place, fmt, ap);
    va_end(ap);
}

void
sg_fatal(const char *place, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    s_vlog(SG_LOG_FATAL, place, fmt, ap);
    va_end(ap);
    exit(1);
}

void
sg_log_openssl(const char *place, const char *call)
{
    char buf[1024], one[256];
    size_t used = 0;
    unsigned long e;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, one, sizeof(one));
        int k = snprintf(buf + used, sizeof(buf) - used, "%s%s",
                         used ? "; " : "", one);
        if (k < 0 || (size_t)k >= sizeof(buf) - used)
            break;
        used += (size_t)k;
    }
    ERR_clear_error();
    sg_log(SG_LOG_ERROR, place, "%s failed: %s", call,
           used ? buf : "(no OpenSSL error queued)");
}

char *
sg_log_quote(const void *text, size_t n, char *out, size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = text;
    size_t o = 0, i;

    if (outsz == 0)
        return out;
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];
        char tmp[4];
        size_t k = 0;

        if (c == '"' || c == '\\') {
            tmp[k++] = '\\';
            tmp[k++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            tmp[k++] = (char)c;
        } else {
            tmp[0] = '\\';
            tmp[1] = 'x';
            tmp[2] = hex[c >> 4];
            tmp[3] = hex[c & 15];
            k = 4;
        }
        if (o + k + 4 > outsz) {
            if (o + 4 <= outsz) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, tmp, k);
        o += k;
    }
    out[o] = '\0';
    return out;
}
