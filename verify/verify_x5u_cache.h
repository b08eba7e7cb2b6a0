/*
 * verify/verify_x5u_cache.h - the certificate cache behind x5u URLs, with
 * CRL checking (DESIGN.md 3.7, 3.8; STIR.md 6; USERS.md themes 1, 2, 4).
 *
 * One entry per x5u URL holds the WHOLE chain as fetched (PEM, so no
 * intermediate is ever lost), the parsed chain (leaf key and the
 * path-validation result, verify_cert.h) and its expiry: HTTP lifetime,
 * at least 24 h, never past the leaf's notAfter.  Failures are cached
 * briefly (negative_ttl): transient ones as x5u_fetch_failed, refusals
 * as x5u_policy.  One fetch per URL is in flight at a time; later lookups
 * of the same URL wait on it, lookups of other URLs never do.
 *
 * Persistence: a directory of files, one per URL, named by the SHA-256
 * of the kind and the URL, each replaced atomically (write a temporary
 * file, fsync, rename, fsync the directory).  Files, not LMDB, because
 * only store/ may link LMDB (STYLE.md), because several ingest processes
 * share them with no lock and no server (a rename is atomic; a reader
 * sees the old or the new file), and because an operator can look at
 * one with `stirgate cert fetch` or delete one with rm.  A process that
 * misses in memory reads the file before fetching, so one process's fetch
 * serves the others.  Only successful fetches are written; negative
 * entries stay per process.  A file is decoded strictly
 * (verify_x5u_record_decode, fuzzed): a corrupt, foreign or expired file
 * is ignored and replaced by the next fetch.  The chain is re-validated
 * against the current trust anchors when loaded.
 *
 * CRLs (crl_fetch = 1): every certificate of the chain whose CRL
 * Distribution Points name a URL has its CRL fetched under the same
 * policy, cached (memory and files) until its nextUpdate, verified with
 * the issuing certificate (from the chain or the anchors file), and
 * checked: a revoked certificate is cert_revoked.  A CRL that cannot be
 * fetched, verified, or is past its nextUpdate is "unavailable":
 *   VERIFY_CRL_ACCEPT (default, as SHAKEN deployments do): warn, accept;
 *   VERIFY_CRL_REJECT: x5u_fetch_failed, i.e. transient, so the gateway
 *     defers the verification instead of calling the certificate revoked
 *     (unknown status is not evidence of revocation).
 * The configured CRL file (--crl) stays the trust's business
 * (verify_trust_add_crl_file); the cache adds the distribution points.
 *
 * Threading: none; every call from the process's one loop thread.
 */
#ifndef VERIFY_X5U_CACHE_H
#define VERIFY_X5U_CACHE_H

#include "lib/sg.h"
#include "proto/proto_reason.h"
#include "verify/verify_cert.h"
#include "verify/verify_x5u.h"

#include <stddef.h>
#include <stdint.h>

typedef struct verify_x5u_cache verify_x5u_cache_t;

typedef enum {
    VERIFY_CRL_ACCEPT = 0, /* config "accept" (default) */
    VERIFY_CRL_REJECT = 1, /* config "reject" */
} verify_crl_policy;

#define VERIFY_X5U_NEGATIVE_TTL 60

typedef struct {
    verify_x5u_policy_t policy;
    const char *dir;          /* cache directory (created); NULL = memory */
    verify_trust_t *trust;    /* borrowed; outlives the cache */
    const char *anchors_file; /* PEM anchors, for CRLs issued by a root;
                                 NULL = only CRLs issued inside the chain */
    int crl_fetch;            /* 1: check the chain's distribution points */
    verify_crl_policy crl_unavailable;
    int64_t negative_ttl;   /* 0 = VERIFY_X5U_NEGATIVE_TTL */
    size_t max_entries;     /* 0 = no limit; else least recently used
                               settled entries are dropped beyond it */
    int64_t (*clock)(void); /* NULL = time(NULL); a test seam */
} verify_x5u_cache_opts;

/* The answer for one URL. */
typedef struct {
    proto_reason reason;   /* ok, x5u_policy, x5u_fetch_failed,
                              cert_untrusted, cert_revoked */
    int transient;         /* 1 for x5u_fetch_failed */
    verify_chain_t *chain; /* borrowed, REASON_OK only, see lifetimes */
    const char *detail;    /* short explanation; same lifetime */
} verify_x5u_result_t;

typedef void (*verify_x5u_cb)(void *arg, const char *url,
                              const verify_x5u_result_t *res);

/* Counters for the metrics endpoint; monotonic. */
#define VERIFY_X5U_LAT_BUCKETS 8
extern const int verify_x5u_latency_ms[VERIFY_X5U_LAT_BUCKETS - 1];
typedef struct {
    uint64_t hits;           /* answered from memory (positive) */
    uint64_t negative_hits;  /* answered from a cached failure */
    uint64_t disk_hits;      /* loaded from the directory */
    uint64_t misses;         /* a fetch was started */
    uint64_t joined;         /* waited on a fetch already in flight */
    uint64_t policy_refused; /* URL refused before any lookup */
    uint64_t fetch_ok, fetch_refused, fetch_failed;
    uint64_t crl_fetch_ok, crl_fetch_failed;
    uint64_t crl_unavailable; /* CRL missing/stale at check time */
    uint64_t revoked;
    uint64_t warmed;  /* chains loaded ahead by verify_x5u_cache_warm */
    uint64_t evicted; /* settled entries dropped at max_entries */
    /* Fetch latency: bucket i counts fetches <= verify_x5u_latency_ms[i]
     * (not cumulative); the last bucket is everything slower. */
    uint64_t latency[VERIFY_X5U_LAT_BUCKETS];
    uint64_t latency_sum_us; /* of every fetch counted in latency[] */
} verify_x5u_stats_t;

/*
 * New cache, or NULL (logged) when the fetcher cannot start, the directory
 * cannot be created, or the anchors file does not load.
 */
verify_x5u_cache_t *verify_x5u_cache_new(const verify_x5u_cache_opts *opts);
/* Pending lookups are dropped without callbacks. */
void verify_x5u_cache_destroy(verify_x5u_cache_t **self_p);

/*
 * Look up `url`.  Returns 1 when answered now (from memory, from the
 * directory, or a policy refusal): *res is filled and no callback comes.
 * Returns 0 when a fetch (or a CRL fetch) is needed: `cb(arg, url, res)`
 * is called exactly once from a later verify_x5u_cache_perform() or
 * _wait().  Lifetimes: res->chain and res->detail stay valid until the
 * next call of _get, _perform, _wait, _warm or _destroy on this cache
 * (an entry is replaced or dropped only there); inside a callback, until it returns.  A
 * callback must not destroy the cache.
 */
int verify_x5u_cache_get(verify_x5u_cache_t *self, const char *url,
                         verify_x5u_cb cb, void *arg,
                         verify_x5u_result_t *res) SG_WUR;

/* Poll-loop integration: the fetcher's sockets and timer (verify_x5u.h);
 * perform runs the fetcher and then the callbacks. */
size_t verify_x5u_cache_fds(const verify_x5u_cache_t *self, struct pollfd *out,
                            size_t max);
long verify_x5u_cache_timeout_ms(const verify_x5u_cache_t *self);
void verify_x5u_cache_perform(verify_x5u_cache_t *self,
                              const struct pollfd *fds, size_t n);
void verify_x5u_cache_wait(verify_x5u_cache_t *self, long max_ms);
/* Lookups waiting on the network. */
size_t verify_x5u_cache_pending(const verify_x5u_cache_t *self);

/*
 * Load the directory's chains ahead of their first lookup, a slice at a
 * time: every process sharing the directory reads and validates each
 * chain once for itself (about a millisecond each), and without this
 * that cost lands on the first messages after a start.  Reads files
 * for at most `budget_us` microseconds, skipping CRL files, URLs already
 * in memory, expired or foreign files, and URLs the policy now refuses;
 * stops for good at max_entries.  Chains are validated against the
 * trust anchors as on any load; their CRLs are checked on first use.
 * Returns 1 while files remain, 0 when done (or there is no directory).
 */
int verify_x5u_cache_warm(verify_x5u_cache_t *self, long budget_us);

/*
 * A verify_chain_fn (verify_passport.h) for synchronous callers (the
 * CLI): `arg` is the cache; blocks until the answer.  The chain is
 * borrowed until the next call on the cache.  The detail of the last
 * answer is in verify_x5u_cache_last_detail().
 */
proto_reason verify_x5u_cache_chain_fn(void *arg, const char *x5u,
                                       verify_chain_t **chain);
const char *verify_x5u_cache_last_detail(const verify_x5u_cache_t *self);

const verify_x5u_stats_t *
verify_x5u_cache_stats(const verify_x5u_cache_t *self);

/* Entries held in memory (chains, CRLs and cached failures). */
size_t verify_x5u_cache_entries(const verify_x5u_cache_t *self);

/*
 * When the oldest CRL held in memory was fetched (epoch seconds), or 0
 * when none is held.  A walk over the entries: for a once-per-second
 * metrics tick, not for the hot path.
 */
int64_t verify_x5u_cache_crl_oldest(const verify_x5u_cache_t *self);

/*
 * The cache's figures as Prometheus families (lib/sg_metrics.h) in a
 * stage's registry: stirgate_x5u_cache_hits_total{source},
 * stirgate_x5u_cache_misses_total, stirgate_x5u_cache_entries,
 * stirgate_x5u_fetch_duration_seconds, stirgate_x5u_fetches_total{kind},
 * stirgate_x5u_fetch_failures_total{kind}, stirgate_x5u_crl_age_seconds.
 * _new declares them (once per registry); _update copies the cache's
 * counters in (once a second, before the snapshot).
 */
typedef struct verify_x5u_metrics verify_x5u_metrics_t;
struct sg_metrics;
verify_x5u_metrics_t *verify_x5u_metrics_new(struct sg_metrics *reg);
void verify_x5u_metrics_update(verify_x5u_metrics_t *self,
                               const verify_x5u_cache_t *cache,
                               int64_t now_s);
void verify_x5u_metrics_destroy(verify_x5u_metrics_t **self_p);

/* What the cache holds for a URL (for `stirgate cert fetch`). */
typedef struct {
    proto_reason reason;
    const char *detail;
    const char *source; /* "network", "disk" or "memory" */
    int64_t fetched_at; /* 0 for a failure that never fetched */
    int64_t expires_at; /* cache expiry (or retry time for failures) */
    const char *ttl_why;
    long http_status;
    const char *content_type;
    const char *pem; /* the body as fetched; NULL for failures */
    size_t pem_len;
    const verify_chain_t *chain; /* NULL when it did not parse */
    const char *crl_detail;      /* what the CRL check found; "" = none ran */
} verify_x5u_info_t;

/* 0 and *out (borrowed, same lifetime as results), or -1 when the URL
 * has no settled entry. */
int verify_x5u_cache_info(const verify_x5u_cache_t *self, const char *url,
                          verify_x5u_info_t *out);

/* The file of `url` under `dir`: SHA-256 of "chain\n" (or "crl\n") and
 * the URL, in hex, then ".x5u" (or ".crl"); for tools that seed a cache
 * directory (bench/sg_load). */
void verify_x5u_cache_path(const char *dir, const char *url, int is_crl,
                           char *out, size_t outsz);

/* ---- the cache file (pure codec; fuzzed) -------------------------------- */

#define VERIFY_X5U_FILE_MAX (1u << 20)

typedef struct {
    int is_crl;      /* 0: "kind chain", 1: "kind crl" */
    const char *url; /* spans borrowed from the buffer */
    size_t url_len;
    int64_t fetched_at;
    int64_t expires_at;
    long http_status;
    const char *content_type;
    size_t content_type_len;
    const char *ttl_why;
    size_t ttl_why_len;
    const uint8_t *body;
    size_t body_len;
} verify_x5u_record_t;

/*
 * File layout (version 1), text header lines then the raw body:
 *   stirgate-x5u 1\n  kind chain|crl\n  url U\n  fetched N\n  expires N\n
 *   status N\n  ctype T\n  ttl T\n  body LEN\n  <LEN bytes>
 * Values are printable ASCII; N and LEN decimal without sign or leading
 * zero; LEN must equal the remaining size exactly.  NULL or a static why.
 */
const char *verify_x5u_record_decode(const uint8_t *buf, size_t n,
                                     verify_x5u_record_t *out);
/* Encode (new buffer, length in *n).  NULL when a field is not
 * encodable (control characters, too long). */
uint8_t *verify_x5u_record_encode(const verify_x5u_record_t *r, size_t *n);

#endif
