/*
 * verify/verify_ktab.h - key tables: ES256 verification with a table
 * precomputed for one P-256 public key.
 *
 * An ECDSA verify computes u1*G + u2*Q.  OpenSSL multiplies by the
 * generator G through a large precomputed table, but by the public key Q
 * through a windowed ladder built anew for every call, about four fifths
 * of a verify.  A peer's signing key is used for every message it sends,
 * so for a key that has been seen often the gateway gives Q a table of its
 * own (the same layout OpenSSL keeps for G: a copy of the P-256 group
 * whose generator is Q, precomputed once).  A verify is then two
 * fixed-base multiplications, an addition and one inversion modulo the
 * group order: a third to a half of the cost of OpenSSL's own verify.
 *
 * A table costs ~150 KiB and tens of milliseconds of CPU to build, so
 * tables are built only for keys that have been used `after` times, at
 * most `max` at once per process, and on a builder thread so that the
 * stage's loop never waits for one (DESIGN.md section 7; README
 * "Performance").  Everything else in the process stays single-threaded:
 * the builder touches only its request (an up-referenced EVP_PKEY and the
 * table it makes), and finished tables are attached by the main thread
 * (verify_ktab_collect), so a key object is never shared between threads.
 */
#ifndef VERIFY_KTAB_H
#define VERIFY_KTAB_H

#include "lib/sg.h"

#include <openssl/evp.h>
#include <stdint.h>

typedef struct verify_ktab verify_ktab_t;
typedef struct verify_ktab_req verify_ktab_req_t;

/* ---- one table ------------------------------------------------------- */

/*
 * Build the table of a P-256 public key (new; NULL when the key is not a
 * P-256 EC key or OpenSSL fails; nothing logged, so the builder thread can
 * call it).  Safe to call from any thread: it reads `pkey` only.
 */
verify_ktab_t *verify_ktab_build(EVP_PKEY *pkey);

/* Accepts NULL. */
void verify_ktab_free(verify_ktab_t *self);

/*
 * ECDSA P-256 verification of the SHA-256 digest `md` against the raw
 * R||S `sig` (SEC 1 section 4.1.4, as OpenSSL's ECDSA_do_verify): 1 =
 * valid, 0 = does not verify (r or s zero or not below the order
 * included), -1 = OpenSSL failed (not logged here).  `self` holds the
 * scratch numbers of the computation, so a table is used by one thread.
 */
int verify_ktab_verify(verify_ktab_t *self, const uint8_t md[32],
                       const uint8_t sig[64]) SG_WUR;

/*
 * The inverse of `a` modulo the P-256 group order n, big-endian, for
 * 0 < a < n (SG_REFUSED otherwise).  Variable time: only public values
 * (a signature's s) go through it.
 */
sg_rc verify_ktab_inv_order(const uint8_t a[32], uint8_t out[32]) SG_WUR;

/* ---- the policy and the builder -------------------------------------- */

/*
 * At most `max` tables per process (0: none are built), for keys used
 * `after` times (at least 1).  Defaults: VERIFY_KTAB_MAX_DEFAULT,
 * VERIFY_KTAB_AFTER_DEFAULT.  Main thread, before the first request.
 */
#define VERIFY_KTAB_MAX_DEFAULT 512
#define VERIFY_KTAB_AFTER_DEFAULT 256
void verify_ktab_configure(unsigned max, unsigned after);
unsigned verify_ktab_after(void);

/*
 * Ask the builder thread (started at the first request) for the table of
 * `pkey` (up-referenced; the caller keeps its own).  `owner` is handed
 * back to the attach function of verify_ktab_collect.  NULL when tables
 * are off or `max` tables exist or are being built; the caller may ask
 * again later.  Main thread.
 */
verify_ktab_req_t *verify_ktab_request(EVP_PKEY *pkey, void *owner);

/* The owner is going away: its table, when it is built, is freed instead
 * of attached.  Main thread; accepts NULL. */
void verify_ktab_cancel(verify_ktab_req_t *req);

/* Are finished tables waiting for verify_ktab_collect?  One atomic load:
 * cheap enough for every verify. */
int verify_ktab_pending(void);

/*
 * Hand every finished table to attach(owner, table) (new: the owner keeps
 * and frees it), or free it when its owner cancelled; attach is also
 * called with table NULL when a build failed; attach NULL frees them all.
 * Returns the number handled.
 * Main thread.
 */
typedef void verify_ktab_attach_fn(void *owner, verify_ktab_t *tab);
int verify_ktab_collect(verify_ktab_attach_fn *attach);

/* A table attached by verify_ktab_collect is freed: one fewer in use.
 * Main thread (the owner's destroy). */
void verify_ktab_release(verify_ktab_t *tab);

/* Figures for metrics: tables in use or being built, built since start,
 * builds that failed. */
typedef struct {
    uint64_t tables;
    uint64_t built;
    uint64_t failed;
} verify_ktab_stats_t;
void verify_ktab_stats(verify_ktab_stats_t *out);

/* Stop the builder thread and free what it holds (requests not yet
 * built are dropped; their owners get nothing).  For tests and a clean
 * exit; accepts being called when no thread was started. */
void verify_ktab_shutdown(void);

#endif
