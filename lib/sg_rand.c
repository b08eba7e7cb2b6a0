/* lib/sg_rand.c - getrandom(2) with a small buffer. */
#include "lib/sg_rand.h"
#include "lib/sg.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/*
 * Ids and jitter want many small draws: one syscall per 256 bytes instead
 * of one per draw.  Single-threaded users only (the store); the buffer is
 * not shared across fork (callers draw after fork).
 */
static uint8_t s_buf[256];
static size_t s_left;

static void
s_fill(void *p, size_t n)
{
    uint8_t *b = p;

    while (n > 0) {
        ssize_t k = getrandom(b, n, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            sg_panic("getrandom: %s", strerror(errno));
        }
        b += k;
        n -= (size_t)k;
    }
}

void
sg_rand_bytes(void *p, size_t n)
{
    uint8_t *out = p;

    if (n > sizeof(s_buf)) {
        s_fill(p, n);
        return;
    }
    while (n > 0) {
        if (s_left == 0) {
            s_fill(s_buf, sizeof(s_buf));
            s_left = sizeof(s_buf);
        }
        size_t k = n < s_left ? n : s_left;
        memcpy(out, s_buf + sizeof(s_buf) - s_left, k);
        s_left -= k;
        out += k;
        n -= k;
    }
}

uint64_t
sg_rand_u64(void)
{
    uint64_t v;

    sg_rand_bytes(&v, sizeof(v));
    return v;
}

uint64_t
sg_rand_range(uint64_t lo, uint64_t hi)
{
    uint64_t span, lim, v;

    if (hi <= lo)
        return lo;
    span = hi - lo + 1;
    if (span == 0) /* the whole 64-bit range */
        return sg_rand_u64();
    /* Rejection sampling: no modulo bias. */
    lim = UINT64_MAX - UINT64_MAX % span;
    do
        v = sg_rand_u64();
    while (v >= lim);
    return lo + v % span;
}
