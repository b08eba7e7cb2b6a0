/* store/store_sched.c - backoff, lifetime, retry times (store_sched.h). */
#include "store/store_sched.h"

void
store_sched_backoff_bounds(const store_sched_conf *c, uint32_t attempts,
                           uint64_t *lo, uint64_t *hi)
{
    uint64_t mn = c->backoff_min_ms, mx = c->backoff_max_ms, v = mn;

    if (mx < mn)
        mx = mn;
    if (attempts == 0)
        attempts = 1;
    /* Double attempts-1 times, stopping at the cap (no shift overflow). */
    for (uint32_t i = 1; i < attempts && v < mx; i++)
        v = v > mx / 2 ? mx : v * 2;
    if (v > mx)
        v = mx;
    *lo = v;
    *hi = v > mx / 2 ? mx : v * 2;
    if (*lo == *hi) {
        uint64_t q = mx / 4 * 3;
        *lo = q > mn ? q : mn;
    }
}

uint64_t
store_sched_backoff(const store_sched_conf *c, uint32_t attempts, uint64_t rnd)
{
    uint64_t lo, hi;

    store_sched_backoff_bounds(c, attempts, &lo, &hi);
    if (hi <= lo)
        return lo;
    return lo + rnd % (hi - lo + 1);
}

uint64_t
store_sched_expire_at(const store_sched_conf *c, uint64_t created_ms,
                      uint64_t env_expires_ms)
{
    uint64_t t = store_sched_add(created_ms, c->lifetime_ms);

    if (env_expires_ms != 0 && env_expires_ms < t)
        t = env_expires_ms;
    return t;
}

uint64_t
store_sched_retry_due(const store_sched_conf *c, uint64_t now_ms,
                      uint32_t attempts, uint64_t retry_after_ms,
                      uint64_t expire_ms, uint64_t rnd)
{
    uint64_t d = store_sched_backoff(c, attempts, rnd);
    uint64_t due;

    if (retry_after_ms > d)
        d = retry_after_ms;
    due = store_sched_add(now_ms, d);
    return due < expire_ms ? due : expire_ms;
}

uint64_t
store_sched_wait_due(const store_sched_conf *c, uint64_t now_ms,
                     uint64_t created_ms, uint64_t retry_after_ms,
                     uint64_t expire_ms, uint64_t rnd)
{
    uint64_t d = now_ms > created_ms ? now_ms - created_ms : 0, due;

    if (d > c->backoff_max_ms)
        d = c->backoff_max_ms;
    if (d < c->backoff_min_ms)
        d = c->backoff_min_ms;
    d += rnd % (d / 4 + 1);
    if (retry_after_ms > d)
        d = retry_after_ms;
    due = store_sched_add(now_ms, d);
    return due < expire_ms ? due : expire_ms;
}
