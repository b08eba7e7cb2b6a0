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
#define sg_debug(place, ...) sg_log(SG_LOG_DEBUG, place, __VA_ARGS__)
#define sg_info(place, ...) sg_log(SG_LOG_INFO, place, __VA_ARGS__)
#define sg_warn(place, ...) sg_log(SG_LOG_WARN, place, __VA_ARGS__)
#define sg_error(place, ...) sg_log(SG_LOG_ERROR, place, __VA_ARGS__)

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
