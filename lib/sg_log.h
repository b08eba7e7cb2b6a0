/*
 * lib/sg_log.h - one line per event on stderr (STYLE.md "Logging"):
 *
 *   2026-09-01T12:00:00.123Z stirgate-store[4121] warn store.db: text
 *
 * `place` is a short dotted module name.  Never pass bodies, tokens or key
 * material; quote outside text with sg_log_quote().
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include "lib/sg.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SG_LOG_DEBUG = 0,
    SG_LOG_INFO,
    SG_LOG_WARN,
    SG_LOG_ERROR,
    SG_LOG_FATAL,
} sg_log_level;

/* Program name shown in each line (default "stirgate"); borrowed. */
void sg_log_init(const char *progname, sg_log_level min_level);
void sg_log_set_level(sg_log_level min_level);
sg_log_level sg_log_get_level(void);

void sg_log(sg_log_level level, const char *place, const char *fmt, ...)
    SG_PRINTF(3, 4);

/* The least severe level written (sg_log_set_level); read by the macros
 * below so a line that is not written costs no argument evaluation. */
extern sg_log_level sg_log_min_level;
/* Nonzero while debug places are set (sg_log_set_debug_places): debug
 * lines then reach sg_log(), which writes those of the listed places. */
extern int sg_log_debug_places_on;

#define SG_LOG_IF(level, place, ...)                                           \
    do {                                                                       \
        if ((level) >= sg_log_min_level ||                                     \
            ((level) == SG_LOG_DEBUG && sg_log_debug_places_on))               \
            sg_log(level, place, __VA_ARGS__);                                 \
    } while (0)
#define sg_debug(place, ...) SG_LOG_IF(SG_LOG_DEBUG, place, __VA_ARGS__)
#define sg_info(place, ...) SG_LOG_IF(SG_LOG_INFO, place, __VA_ARGS__)
#define sg_warn(place, ...) SG_LOG_IF(SG_LOG_WARN, place, __VA_ARGS__)
#define sg_error(place, ...) SG_LOG_IF(SG_LOG_ERROR, place, __VA_ARGS__)

/*
 * Batching for an event loop: between sg_log_hold() and sg_log_release()
 * debug and info lines are collected and written together (at most
 * PIPE_BUF bytes per write(2), so lines of concurrent processes still do
 * not interleave on a pipe); warn, error and fatal lines are written at
 * once, after what was collected, so the order is kept.  A loop holds
 * while it works through one wake-up and releases before it waits: the
 * per-message info lines then cost one system call per batch instead of
 * one each.
 */
void sg_log_hold(void);
void sg_log_release(void);

/*
 * Debug places (node.log_debug): debug lines of these places are written
 * even when the level is above debug.  A place matches itself and the
 * places under it ("store" matches "store.db").  The strings are copied;
 * n = 0 clears the list.
 */
void sg_log_set_debug_places(const char *const *places, size_t n);

/*
 * Repeated warn and error lines are rate-limited: the lines of one place
 * and format (the format string, not the text: the same failure with a
 * different peer is the same kind) are written at most `burst` times per
 * `window_ms`; the rest are counted, and the next line of that kind
 * written after the window ends with " (N similar suppressed)".  Info
 * and debug lines (one per message state change) are never suppressed,
 * fatal lines neither.  Defaults: 5 per 10000 ms; burst 0 turns it off.
 * XXX a count is reported with the next line of its kind: a failure that
 * stops for good leaves its last count unreported.
 */
void sg_log_set_ratelimit(uint64_t window_ms, unsigned burst);
/* A test seam: the clock of the rate limiter (NULL = monotonic ms). */
void sg_log_set_clock(uint64_t (*now_ms)(void));

/* Log at fatal level and exit(1). */
SG_NORETURN void sg_fatal(const char *place, const char *fmt, ...)
    SG_PRINTF(2, 3);

/*
 * Log an OpenSSL failure: the failing call named, the error queue drained
 * into the same line.  Leaves the error queue empty.
 */
void sg_log_openssl(const char *place, const char *call);

/*
 * Escape outside text for a log line: printable ASCII kept, `"` and `\`
 * backslashed, anything else as \xNN; cut at `max` input bytes with "...".
 * Writes into `out` (always NUL-terminated) and returns it.
 */
char *sg_log_quote(const void *text, size_t n, char *out, size_t outsz);

#endif
