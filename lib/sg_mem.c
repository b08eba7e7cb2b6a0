/* lib/sg_mem.c - allocation that never fails from the caller's view. */
#include "lib/sg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sg_panic(const char *fmt, ...)
{
    va_list ap;

    fputs("stirgate: panic: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *
sg_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        sg_panic("malloc(%zu): out of memory", n);
    return p;
}

void *
sg_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        sg_panic("calloc(%zu, %zu): out of memory", nmemb, size);
    return p;
}

void *
sg_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        sg_panic("realloc(%zu): out of memory", n);
    return q;
}

char *
sg_strdup(const char *s)
{
    return sg_memdup(s, strlen(s) + 1);
}

char *
sg_strndup(const char *s, size_t n)
{
    char *p = sg_malloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *
sg_memdup(const void *p, size_t n)
{
    void *q = sg_malloc(n);

    memcpy(q, p, n);
    return q;
}
