/*
 * lib/sg_rand.h - non-secret randomness for ids and jitter, from
 * getrandom(2).  Not for keys (use OpenSSL's RAND_bytes for those).
 */
#ifndef SG_RAND_H
#define SG_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fill `p` with `n` random bytes; panics if the kernel refuses. */
void sg_rand_bytes(void *p, size_t n);
uint64_t sg_rand_u64(void);
/* Uniform in [lo, hi] (inclusive); lo when hi <= lo. */
uint64_t sg_rand_range(uint64_t lo, uint64_t hi);

#endif
