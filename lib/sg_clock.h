/*
 * lib/sg_clock.h - the two clocks.
 *
 * Wall time (CLOCK_REALTIME, milliseconds since the epoch) is what gets
 * persisted or sent: receive time, due times, expiry, because it must mean
 * the same thing after a restart or on another host.  Monotonic time
 * (CLOCK_MONOTONIC) is for in-process timers and liveness (heartbeats),
 * which must not jump when an operator or NTP steps the clock.
 */
#ifndef SG_CLOCK_H
#define SG_CLOCK_H

#include <stdint.h>

uint64_t sg_clock_wall_ms(void);
uint64_t sg_clock_mono_ms(void);
/* Monotonic, microseconds: for latency measurements. */
uint64_t sg_clock_mono_us(void);

#endif
