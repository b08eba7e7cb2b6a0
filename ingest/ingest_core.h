/*
 * ingest/ingest_core.h - the pipeline for one submitted message, from SIP
 * or from the HTTP API (DESIGN.md sections 1, 3 and 5):
 *
 *   identities   originator / destination(s), canonical (ingest_policy)
 *   sign         customer: authority check, then a full-form msg
 *                PASSporT with iat = receive time and msgi over the body
 *   verify       interconnect: every Identity header; one valid suffices;
 *                a header whose x5u is not cached waits for the fetch
 *                without holding up any other message
 *   policy       reject, or one envelope per recipient to the store
 *   answer       the completion callback, only once every envelope was
 *                STORED (or at the first refusal, or at the deadline)
 *
 * No sockets here: envelopes leave through the `send` callback (main owns
 * the DEALER) and replies come back through ingest_core_on_reply(); the x5u
 * cache is driven by main's poll loop.  Single-threaded, like every stage.
 *
 * Several recipients: one STORE per recipient, each with its own message
 * id and replay key, all carrying the same verdict (DESIGN.md 3.10).  The
 * request succeeds when all are STORED.  If any is refused or times out,
 * the whole request fails (503, or the replay answer); envelopes of it
 * already committed stay stored and will be delivered.  A client retry
 * with the same idempotency id (or Call-ID/CSeq) then completes exactly
 * the missing recipients: the store refuses the others as replays and
 * names the message that holds each key (REFUSED's holder id), which
 * the answer gives back marked as a duplicate.  A retry where every
 * recipient was already stored is answered 200 with the first ids.
 */
#ifndef INGEST_CORE_H
#define INGEST_CORE_H

#include "conf/conf.h"
#include "lib/sg_metrics.h"
#include "ingest/ingest_policy.h"
#include "proto/proto_api.h"
#include "proto/proto_wire.h"
#include "verify/verify_cert.h"
#include "verify/verify_key.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ingest_core ingest_core_t;

/*
 * Send one STORE (the envelope as body) with correlation id `corr`.
 * Returns 0 when handed to the transport, -1 when it could not be (the
 * core then answers 503 at once).
 */
typedef int (*ingest_send_fn)(void *arg, uint64_t corr, const uint8_t *env,
                              size_t len);

/*
 * Where certificate chains come from (main: the asynchronous x5u cache;
 * tests: a table).  Returns 1 when answered now: *reason, and *chain
 * (borrowed, REASON_OK only) valid until the next lookup.  Returns 0 when
 * the answer needs the network: done(done_arg, url) is then called
 * exactly once, later, from the caller's loop, after which a new lookup
 * of `url` answers at once.
 */
typedef void (*ingest_lookup_done_fn)(void *done_arg, const char *url);
typedef int (*ingest_lookup_fn)(void *arg, const char *url,
                                ingest_lookup_done_fn done, void *done_arg,
                                proto_reason *reason, verify_chain_t **chain);

typedef struct {
    const conf_t *conf;        /* borrowed; outlives the core */
    verify_key_t *sign_key;    /* borrowed; NULL: no customer can be served */
    const char *sign_x5u;      /* borrowed */
    verify_chain_t *own_chain; /* borrowed; our signer chain, for the
                                  authority check (NULL: numbers only) */
    verify_trust_t *trust;     /* borrowed; NULL when not verifying */
    ingest_lookup_fn lookup;   /* NULL when not verifying */
    void *lookup_arg;
    ingest_send_fn send;
    void *send_arg;
    uint64_t store_timeout_ms; /* answer 503 after this; 0 = 5000 */
    uint64_t resend_ms;        /* resend an unanswered STORE; 0 = 1000 */
    uint64_t (*mono_ms)(void); /* NULL = sg_clock_mono_ms (a test seam) */
    sg_metrics_t *metrics;     /* borrowed; NULL: nothing counted.  The
                                  stirgate_ingest_* families are declared
                                  in it by ingest_core_new */
} ingest_core_opts_t;

/* Strings are ingest_str_t (ingest_policy.h): bytes, not NUL-terminated;
 * p == NULL when absent. */
typedef struct {
    const conf_peer_t *peer; /* borrowed, from conf */
    /* Signaling.  SIP: from, pai, ruri, to[0] = To.  API: from, to[]
     * (the recipients), ruri.p = NULL, npai = 0. */
    ingest_str_t from;
    const ingest_str_t *pai;
    size_t npai;
    ingest_str_t ruri;
    const ingest_str_t *to;
    size_t nto;
    ingest_str_t content_type;    /* the whole value */
    const ingest_str_t *identity; /* Identity header values */
    size_t nidentity;
    const uint8_t *body; /* exactly as received (msgi covers these bytes) */
    size_t body_len;
    int has_expires;
    uint32_t expires;     /* RFC 3428 Expires, seconds */
    int64_t date;         /* SIP Date (epoch s), 0 when absent */
    ingest_str_t dedup;   /* idempotency id or "Call-ID CSeq"; p NULL = none */
    ingest_str_t idem;    /* the client idempotency id for the envelope */
    ingest_str_t status_url; /* API status_url (envelope flag 8); p NULL =
                                none */
    uint64_t received_ms; /* wall clock at receipt */
    const char *iface;    /* metrics label: "sip_udp", "sip_tcp", "http";
                             NULL = "other" */
} ingest_submit_t;

/* The answer.  Valid inside the completion callback only. */
typedef struct {
    int sip_code; /* 202, or the refusal */
    const char *sip_text;
    int http_status;        /* 202 (200: every recipient was a
                               duplicate), or the refusal */
    const char *api_reason; /* NULL when accepted */
    const char *message;    /* for people (API errors) */
    proto_reason reason;    /* the verification outcome */
    const char *verstat;
    const char *reason_hdr; /* "" or "Reason: STIR ...\r\n" (RFC 9410) */
    uint32_t retry_after;   /* seconds for Retry-After; 0 = none */
    const char *log_id;     /* first message id (hex), for log lines */
    size_t n;               /* messages stored (202 only) */
    const proto_api_accepted_t *msgs;
} ingest_outcome_t;

typedef void (*ingest_done_fn)(void *arg, const ingest_outcome_t *out);

typedef struct {
    uint64_t submitted, accepted, rejected, failed, deferred, stored_failed;
    uint64_t waiting_x5u; /* requests that had to wait for a fetch */
} ingest_core_stats_t;

/* New core, or NULL when opts are unusable (logged). */
ingest_core_t *ingest_core_new(const ingest_core_opts_t *opts);
/* In-flight requests are dropped without callbacks. */
void ingest_core_destroy(ingest_core_t **self_p);

/*
 * Start the pipeline for one message.  Everything `in` points to is
 * copied: it may be freed when this returns.  `done(arg, outcome)` is
 * called exactly once: before ingest_core_submit returns for a request
 * refused without the store (a policy rejection, a malformed identity,
 * the transport refusing the STORE), else later from _on_reply or _run.
 */
void ingest_core_submit(ingest_core_t *self, const ingest_submit_t *in,
                        ingest_done_fn done, void *arg);

/* A STORED or REFUSED from the store (other commands: ignored, 0). */
int ingest_core_on_reply(ingest_core_t *self, const proto_wire_msg *m);

/*
 * Timer work and requests whose certificate fetch completed: call after
 * the lookup's callbacks ran and whenever ingest_core_timeout_ms()
 * passed.
 */
void ingest_core_run(ingest_core_t *self);
/* Milliseconds until ingest_core_run() has work; -1 = none. */
long ingest_core_timeout_ms(const ingest_core_t *self);
/* Requests not yet answered. */
size_t ingest_core_inflight(const ingest_core_t *self);
const ingest_core_stats_t *ingest_core_stats(const ingest_core_t *self);

#endif
