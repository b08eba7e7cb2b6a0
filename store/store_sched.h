/*
 * store/store_sched.h - the scheduler's arithmetic, pure: retry backoff
 * with jitter, lease deadlines, lifetime.  Time and randomness come in as
 * arguments so the unit tests can pin them.
 *
 * Backoff (attempt a = deliveries handed out so far, a >= 1):
 *
 *   lo = min(max, min_ms * 2^(a-1))
 *   hi = min(max, 2 * lo)
 *   if lo == hi (the cap is reached): lo = max(min_ms, 3/4 * max)
 *   delay is uniform in [lo, hi]
 *
 * so the delay doubles with each attempt, always lies in [min, max], and
 * is jittered at every attempt including at the cap, where synchronised
 * retries would otherwise hammer a recovering peer in lockstep.  A
 * worker's Retry-After (DONE) is a floor: the delay is the larger of the
 * two, still capped by the message's expiry.
 */
#ifndef STORE_SCHED_H
#define STORE_SCHED_H

#include <stdint.h>

typedef struct {
    uint64_t backoff_min_ms;
    uint64_t backoff_max_ms;
    uint64_t lifetime_ms;  /* created + lifetime = expire at */
    uint64_t dead_keep_ms; /* dead records kept this long */
    uint64_t done_keep_ms; /* delivered records (idempotency) this long */
    uint64_t lease_ms;     /* a JOB's lease */
} store_sched_conf;

/* The backoff interval for attempt `attempts` (>= 1; 0 is treated as 1). */
void store_sched_backoff_bounds(const store_sched_conf *c, uint32_t attempts,
                                uint64_t *lo, uint64_t *hi);
/* A delay in those bounds chosen by `rnd` (any 64-bit value). */
uint64_t store_sched_backoff(const store_sched_conf *c, uint32_t attempts,
                             uint64_t rnd);
/*
 * When a message stored at `created_ms` expires: created + lifetime, or
 * the envelope's own expiry (`env_expires_ms`, 0 = none) if earlier.
 */
uint64_t store_sched_expire_at(const store_sched_conf *c, uint64_t created_ms,
                               uint64_t env_expires_ms);
/*
 * The next due time after a retry: now + max(backoff, retry_after), but
 * never past `expire_ms` (the message is then found expired when due).
 */
uint64_t store_sched_retry_due(const store_sched_conf *c, uint64_t now_ms,
                               uint32_t attempts, uint64_t retry_after_ms,
                               uint64_t expire_ms, uint64_t rnd);

/*
 * The next due time of a message handed back because its route is down
 * (DONE wait), which does not count as an attempt.  It waits at least
 * `retry_after_ms` (the route's next probe), at least backoff_min, and
 * at least as long again as it has waited since `created_ms` (capped at
 * backoff_max; jittered by up to a quarter), so a large backlog behind a
 * dead route is looked at less and less often instead of all of it at
 * every probe; never past `expire_ms`.
 */
uint64_t store_sched_wait_due(const store_sched_conf *c, uint64_t now_ms,
                              uint64_t created_ms, uint64_t retry_after_ms,
                              uint64_t expire_ms, uint64_t rnd);

/* Saturating addition for times: a huge option never wraps to the past. */
static inline uint64_t
store_sched_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif
