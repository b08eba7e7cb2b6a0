/*
 * lib/sg.h - the few things every stirgate file needs: return codes,
 * allocation that never fails from the caller's view, and attributes.
 *
 * Conventions (STYLE.md): functions that can fail return sg_rc (or a
 * pointer, NULL = failed and already logged); a validator returns
 * `const char *why` (NULL = fine).  Out of memory aborts.
 */
#ifndef SG_H
#define SG_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SG_OK = 0,
    SG_ERR = -1,     /* failed; already logged where it failed */
    SG_AGAIN = -2,   /* transient: retry later (map full, 5xx, timeout) */
    SG_REFUSED = -3, /* permanent for this input: never retry */
} sg_rc;

#define SG_WUR __attribute__((warn_unused_result))
#define SG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SG_NORETURN __attribute__((noreturn))
#define SG_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Abort with a message: out of memory or a broken invariant. */
SG_NORETURN void sg_panic(const char *fmt, ...) SG_PRINTF(1, 2);

/* Allocation: never returns NULL (panics instead).  sg_free accepts NULL. */
void *sg_malloc(size_t n);
void *sg_calloc(size_t nmemb, size_t size);
void *sg_realloc(void *p, size_t n);
char *sg_strdup(const char *s);
char *sg_strndup(const char *s, size_t n);
void *sg_memdup(const void *p, size_t n);
#define sg_free(p) free(p)

/* Size arithmetic on lengths that came from outside: 0 = overflow. */
static inline int
sg_add_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static inline int
sg_mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

#endif
