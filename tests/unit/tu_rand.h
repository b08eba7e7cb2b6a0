/*
 * tests/unit/tu_rand.h - a small deterministic generator for the tests
 * that compare two implementations over generated inputs (xorshift64*;
 * seed tu_rand_state, non-zero).
 */
#ifndef TU_RAND_H
#define TU_RAND_H

#include <stdint.h>

static uint64_t tu_rand_state = 1;

static inline uint64_t
tu_rand(void)
{
    tu_rand_state ^= tu_rand_state >> 12;
    tu_rand_state ^= tu_rand_state << 25;
    tu_rand_state ^= tu_rand_state >> 27;
    return tu_rand_state * 2685821657736338717ULL;
}

/* Uniform enough in [0, n). */
static inline unsigned
tu_below(unsigned n)
{
    return (unsigned)(tu_rand() >> 33) % n;
}

#endif
