/*
 * verify/verify_x5u.h - x5u URL and address policy, HTTP cache lifetime,
 * and the asynchronous HTTPS fetcher (DESIGN.md 3.7, 3.8; STIR.md 6).
 *
 * Three layers, each usable alone:
 *
 *  1. Pure policy functions: verify_x5u_check_url() and
 *     verify_x5u_check_addr() take input and a policy and return NULL
 *     (allowed) or a static why.  No I/O, no logging; fuzzed.
 *  2. Pure HTTP cache arithmetic: verify_x5u_http_ttl() and
 *     verify_x5u_expiry() turn Cache-Control / Expires / Date / Age and
 *     the leaf's notAfter into an expiry time, with the 24 h floor of
 *     ATIS-1000074.
 *  3. The fetcher: many transfers in flight on one curl multi handle,
 *     driven from any poll loop (verify_x5u_fetcher_fds / _timeout_ms /
 *     _perform) or from the blocking helper verify_x5u_fetcher_wait().
 *
 * Outcomes are sorted through one table (s_curl_rc in verify_x5u.c):
 *   SG_OK      a 200 response with a PEM body within the size cap;
 *   SG_REFUSED the policy refused (URL, address actually connected to,
 *              redirect, size cap, not PEM, a private key served): the
 *              verdict x5u_policy;
 *   SG_AGAIN   every network, TLS or HTTP failure (DNS, connect, timeout,
 *              4xx, 5xx): the verdict x5u_fetch_failed, transient.
 *
 * The fetcher sets CURLOPT_NOSIGNAL (timeouts must not use signals in a
 * single-threaded loop), so a process using it ignores SIGPIPE.
 *
 * Relaxations exist only as explicit policy fields; the fetcher logs each
 * one (warn, "x5u relaxation used: ...") when a transfer relies on it.
 */
#ifndef VERIFY_X5U_H
#define VERIFY_X5U_H

#include "lib/sg.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Defaults of the strict production policy. */
#define VERIFY_X5U_CONNECT_MS 2000
#define VERIFY_X5U_TOTAL_MS 5000
#define VERIFY_X5U_MAX_BYTES (64u * 1024u) /* a chain is a few KiB */
#define VERIFY_X5U_MIN_TTL 86400           /* ATIS-1000074: 24 h floor */
#define VERIFY_X5U_URL_MAX 2048

/*
 * The x5u policy.  Zero-initialised = strict production defaults (the
 * zero timeouts and cap mean "default").  Config keys (DESIGN.md config):
 *   x5u.allow_loopback   bool   loopback addresses (127/8, ::1) and any
 *                               port; https stays required
 *   x5u.tls_ca           path   CA bundle for the repositories' TLS
 *                               servers instead of the system bundle
 *   x5u.connect_timeout_ms, x5u.timeout_ms, x5u.max_bytes
 * CLI flags --x5u-allow-loopback and --x5u-tls-ca FILE set the first two.
 */
typedef struct {
    int allow_loopback;
    const char *tls_ca; /* borrowed; NULL = system bundle */
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_bytes;
} verify_x5u_policy_t;

/* ---- 1. pure policy ---------------------------------------------------- */

/* The parts of an accepted URL (spans point into the URL). */
typedef struct {
    const char *host; /* without IPv6 brackets */
    size_t host_len;
    int port;       /* 443 when absent */
    int host_is_ip; /* an IPv4 or IPv6 literal */
    const char *path;
    size_t path_len;
} verify_x5u_url_t;

/*
 * Check an x5u URL against the policy (ATIS-1000074 5.3.1 as digested in
 * STIR.md 6): scheme https (any case), an authority without userinfo,
 * port 443 or 8443 (any port with allow_loopback), a path without
 * parameters (';'), no query, no fragment, printable ASCII only, at most
 * VERIFY_X5U_URL_MAX bytes.  A host that is an address literal is also
 * checked with the address policy; numeric hosts in odd forms ("2130706433",
 * "0x7f.1") are refused because resolvers read them as addresses.  Returns
 * NULL (allowed; *out filled when out != NULL) or a static why.
 */
const char *verify_x5u_check_url(const char *url,
                                 const verify_x5u_policy_t *policy,
                                 verify_x5u_url_t *out);

/*
 * Check an address about to be connected to.  Refused: unspecified,
 * loopback (unless allow_loopback), RFC 1918, CGNAT 100.64/10, link-local,
 * multicast, reserved 240/4, broadcast, the documentation and benchmark
 * ranges, 192.0.0/24, 0/8; IPv6 ::, ::1, fc00::/7, fe80::/10, fec0::/10,
 * ff00::/8, 64:ff9b::/96 and 2002::/16 (checked as the embedded IPv4),
 * 2001::/23 (IETF protocol assignments), 2001:db8::/32, 100::/64;
 * ::ffff:0:0/96 and ::/96 checked as the IPv4 they carry.  Any family
 * other than AF_INET/AF_INET6 is refused.  NULL or a static why.
 */
const char *verify_x5u_check_addr(const struct sockaddr *sa, socklen_t len,
                                  const verify_x5u_policy_t *policy);

/* ---- 2. pure HTTP cache lifetime ---------------------------------------- */

/* The response headers that decide the lifetime; each may be NULL. */
typedef struct {
    const char *cache_control;
    const char *expires;
    const char *date;
    const char *age;
} verify_x5u_http_t;

/*
 * The freshness lifetime the response asks for (RFC 9111 4.2.1): max-age,
 * else Expires - Date (Expires - now without Date), minus Age; no-store
 * and no-cache give 0.  The verifier is the consumer of the chain, not an
 * HTTP intermediary serving other clients, so it is a private cache in
 * RFC 9111 terms even though several ingest processes share it: `private`
 * does not stop it and `s-maxage` does not apply.  Returns the lifetime in
 * seconds, or -1 when the response carries no recognised directive.
 * `why` gets the deciding directive ("max-age=600", "no-store", ...).
 */
int64_t verify_x5u_http_ttl(const verify_x5u_http_t *h, int64_t now, char *why,
                            size_t whysz);

/*
 * When a chain fetched at `fetched` expires from the cache: the HTTP
 * lifetime, raised to VERIFY_X5U_MIN_TTL (ATIS: "if the response does not
 * include any recognized caching directives or indicates caching for less
 * than 24 hours, cache for 24 hours"), then capped at the leaf's notAfter.
 * `why` explains the result for `stirgate cert fetch`.
 */
int64_t verify_x5u_expiry(const verify_x5u_http_t *h, int64_t fetched,
                          int64_t leaf_not_after, char *why, size_t whysz);

/*
 * PEM sniff of a response body: NULL when it starts (after whitespace)
 * with a certificate block and holds no private key and no NUL byte,
 * else a static why.
 */
const char *verify_x5u_sniff_pem(const uint8_t *body, size_t n);

/* ---- 3. the fetcher ---------------------------------------------------- */

typedef struct verify_x5u_fetcher verify_x5u_fetcher_t;

/* What a finished transfer produced; borrowed for the callback only. */
typedef struct {
    const char *url;
    sg_rc rc;                 /* SG_OK, SG_REFUSED or SG_AGAIN (see top) */
    const char *why;          /* NULL on SG_OK; a short explanation */
    long http_status;         /* 0 when no response */
    const char *content_type; /* "" when absent */
    verify_x5u_http_t http;   /* lifetime headers of the response */
    const uint8_t *body;      /* the body (SG_OK only) */
    size_t body_len;
    const char *primary_ip; /* "" when never connected */
    int64_t elapsed_us;
} verify_x5u_response_t;

typedef void (*verify_x5u_done_fn)(void *arg,
                                   const verify_x5u_response_t *resp);

/*
 * A fetcher with a copy of the policy (tls_ca is copied too).  New, or
 * NULL (logged) when curl cannot be initialised.  What its transfers have
 * in common lives as long as the fetcher: idle connections (a later URL
 * on the same repository reuses one, checked at its connect), TLS
 * sessions (a new connection to a repository resumes one), the DNS cache,
 * and the parsed CA bundle (re-read at most an hour after a change).
 */
verify_x5u_fetcher_t *verify_x5u_fetcher_new(const verify_x5u_policy_t *pol);
/* Cancels transfers in flight without calling their callbacks. */
void verify_x5u_fetcher_destroy(verify_x5u_fetcher_t **self_p);

/*
 * Start a GET of `url` (copied).  The URL policy is checked first: a
 * refused URL returns SG_REFUSED with *why set and no callback.  Otherwise
 * SG_OK, and `done(arg, resp)` is called exactly once from a later
 * verify_x5u_fetcher_perform()/_wait() (never from inside this call).
 * `expect_pem` 0 skips the PEM sniff (CRLs may be DER).
 */
sg_rc verify_x5u_fetcher_start(verify_x5u_fetcher_t *self, const char *url,
                               int expect_pem, verify_x5u_done_fn done,
                               void *arg, const char **why) SG_WUR;

/* Transfers in flight. */
size_t verify_x5u_fetcher_running(const verify_x5u_fetcher_t *self);

/*
 * Poll-loop integration.  _fds writes up to `max` pollfds for the sockets
 * curl waits on and returns how many it has (may exceed max: call again
 * with more room); _timeout_ms returns how long the loop may sleep (-1 =
 * no timer); _perform hands over the pollfds after poll() (revents read;
 * any may be 0) and runs due timers, then calls the callbacks of finished
 * transfers.
 */
size_t verify_x5u_fetcher_fds(const verify_x5u_fetcher_t *self,
                              struct pollfd *out, size_t max);
long verify_x5u_fetcher_timeout_ms(const verify_x5u_fetcher_t *self);
void verify_x5u_fetcher_perform(verify_x5u_fetcher_t *self,
                                const struct pollfd *fds, size_t n);

/* Block at most `max_ms` for progress, then perform.  For the CLI and
 * tests; the gateway uses its own loop. */
void verify_x5u_fetcher_wait(verify_x5u_fetcher_t *self, long max_ms);

#endif
