/* tests/unit/tu_main.c - runs every registered TU_TEST case. */
#include "tests/unit/tu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const tu_case_t __start_tu_cases[] __attribute__((weak));
extern const tu_case_t __stop_tu_cases[] __attribute__((weak));

static int s_failed_now;
static const char *s_srcdir = ".";
static char s_tmp[256];

void
tu_fail(const char *file, int line, const char *what)
{
    s_failed_now++;
    printf("    %s:%d: check failed: %s\n", file, line, what);
}

void
tu_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

const char *
tu_path(const char *rel)
{
    static char buf[8][1024];
    static int k;

    k = (k + 1) % 8;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", s_srcdir, rel);
    return buf[k];
}

char *
tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

long
tu_unhex(const char *hex, uint8_t *out, size_t outsz)
{
    size_t n = strlen(hex), i;

    if (n % 2 || n / 2 > outsz)
        return -1;
    for (i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return (long)(n / 2);
}

static void
s_rm_tmp(void)
{
    char cmd[300];

    if (s_tmp[0] == '\0')
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s_tmp);
    if (system(cmd) != 0) {
        /* left behind; harmless */
    }
}

const char *
tu_tmpdir(void)
{
    if (s_tmp[0] == '\0') {
        snprintf(s_tmp, sizeof(s_tmp), "/tmp/sg-unit-XXXXXX");
        if (mkdtemp(s_tmp) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(s_rm_tmp);
    }
    return s_tmp;
}

int
main(int argc, char **argv)
{
    const char *filter = NULL;
    int passed = 0, failed = 0;

    /* TU_SRCDIR: where the fixtures are (the repository root). */
    if (getenv("TU_SRCDIR"))
        s_srcdir = getenv("TU_SRCDIR");
    if (argc > 1)
        filter = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (const tu_case_t *c = __start_tu_cases; c < __stop_tu_cases; c++) {
        if (filter && strstr(c->name, filter) == NULL)
            continue;
        s_failed_now = 0;
        c->fn();
        if (s_failed_now) {
            printf("FAIL %s\n", c->name);
            failed++;
        } else {
            printf("ok   %s\n", c->name);
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}
