/* lib/sg_log.c - one line per event on stderr. */
#include "lib/sg_log.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *s_prog = "stirgate";
static sg_log_level s_min = SG_LOG_INFO;
static const char *const s_names[] = {"debug", "info", "warn", "error",
                                      "fatal"};

void
sg_log_init(const char *progname, sg_log_level min_level)
{
    s_prog = progname;
    s_min = min_level;
}

void
sg_log_set_level(sg_log_level min_level)
{
    s_min = min_level;
}

sg_log_level
sg_log_get_level(void)
{
    return s_min;
}

static void s_vlog(sg_log_level level, const char *place, const char *fmt,
                   va_list ap) SG_PRINTF(3, 0);

static void
s_vlog(sg_log_level level, const char *place, const char *fmt, va_list ap)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    int n, m;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%d] %s %s: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), s_prog,
                 (int)getpid(), s_names[level], place);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write() per line so concurrent processes do not interleave. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to report it */
    }
}

void
sg_log(sg_log_level level, const char *place, const char *fmt, ...)
{
    va_list ap;

    if (level < s_min)
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
