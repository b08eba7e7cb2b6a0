/*
 * ingest/ingest_policy.h - the decisions of the ingest stage, as pure code
 * (DESIGN.md sections 1, 3.5, 3.9 and 5; STIR.md sections 3.5 and 8).
 *
 * Nothing here does I/O or logs: a peer, a verdict and the signaling in, an
 * action, an identity or a key out.  ingest_core.c applies the results and
 * tests/unit/test_ingest_policy.c checks them table by table.
 *
 *   role         customer -> we sign; interconnect -> we verify
 *   authority    may we sign this originator for this customer?
 *   verdict      verification reason + the peer's policy -> reject with the
 *                STIR code, store as passed/failed (Reason: STIR in the
 *                202) or store as deferred
 *   identities   originator (P-Asserted-Identity when trusted, else From)
 *                and destination (Request-URI user part, else To)
 *   replay key   SHA-256 of what makes a message the same message
 */
#ifndef INGEST_POLICY_H
#define INGEST_POLICY_H

#include "conf/conf.h"
#include "proto/proto_msg.h"
#include "proto/proto_reason.h"
#include "proto/proto_tn.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    INGEST_ROLE_SIGN = 0,   /* customer: the gateway is the AS */
    INGEST_ROLE_VERIFY = 1, /* interconnect: the gateway is the VS */
} ingest_role;

ingest_role ingest_policy_role(const conf_peer_t *peer);

typedef enum {
    INGEST_ACT_STORE = 0,      /* store with the verdict as it is */
    INGEST_ACT_STORE_FAILED,   /* store marked failed; Reason: STIR in 202 */
    INGEST_ACT_STORE_DEFERRED, /* store as verification deferred */
    INGEST_ACT_REJECT,         /* answer sip_code, store nothing */
} ingest_act_kind;

/*
 * What to do with one message.  Strings are static.  `api_reason` is the
 * stable identifier of the HTTP API answer: a verification reason name
 * (proto_reason.h) or one of the ingest reasons below.
 */
typedef struct {
    ingest_act_kind kind;
    proto_reason reason;
    int sip_code;         /* 202 when stored */
    const char *sip_text; /* reason phrase */
    int http_status;      /* 202 when stored */
    const char *api_reason;
    uint8_t verstat;   /* PROTO_MSG_VERSTAT_* for the envelope */
    uint8_t flags;     /* PROTO_MSG_F_DEFERRED or 0 */
    int reason_header; /* 1: add Reason: STIR to the 202 (RFC 9410) */
} ingest_action_t;

/* Ingest reasons (API `reason` values; a public contract like
 * proto_reason's names: never rename one). */
#define INGEST_R_NOT_AUTHORIZED "orig_not_authorized"
#define INGEST_R_REPLAY "replay"
#define INGEST_R_DUPLICATE "duplicate"
#define INGEST_R_STORE_BUSY "store_unavailable"
#define INGEST_R_INTERNAL "internal_error"
#define INGEST_R_EXPIRED "expired" /* Date + Expires before receipt */

/*
 * A verification verdict under the interconnect peer's policy:
 *   ok                                   store, TN-Validation-Passed
 *   no_identity, require_identity off    store, No-TN-Validation
 *   x5u_fetch_failed                     on_fetch_failure: reject (436),
 *                                        continue, defer
 *   any other failure                    on_failure: reject (its code),
 *                                        continue
 * Rejections answer HTTP 403 (permanent) or 503 (x5u_fetch_failed, which
 * is transient: the client may retry).
 */
void ingest_policy_verdict(const conf_peer_t *peer, proto_reason r,
                           ingest_action_t *out);

/*
 * A customer's originator outside our authority: reject with 403
 * "Originator Not Authorized" or store unsigned (No-TN-Validation), per
 * peers[].unauthorized.  `r` is the reason stored with an unsigned
 * message (tn_not_authorized).
 */
void ingest_policy_unauthorized(const conf_peer_t *peer, ingest_action_t *out);

/* A message we signed ourselves: store, TN-Validation-Passed. */
void ingest_policy_signed(ingest_action_t *out);

/*
 * "Reason: STIR ;cause=438 ;text=\"Invalid Identity Header\"\r\n" for `r`
 * (RFC 9410 section 3), into out[n]; "" for REASON_OK.  Returns out.
 */
char *ingest_policy_reason_header(proto_reason r, char *out, size_t n);

/*
 * Which failure to report when no Identity header verified (RFC 8224
 * 6.2.1: the request is invalid only if all are).  Higher is better: a
 * transient fetch failure first (a later retry may pass, so policy
 * "defer" can apply), then the reason of the header that got furthest
 * through the checks of verify_passport.h, unsupported_ppt last (428 only
 * when no header had a supported ppt).  REASON_OK ranks above all.
 */
int ingest_policy_rank(proto_reason r);

/*
 * Does peers[].numbers cover canonical TN `tn`?  A range covers the TNs
 * of the same length from start to start + count - 1.
 */
int ingest_policy_numbers_cover(const conf_peer_t *peer, const char *tn);

/*
 * The originator: the first P-Asserted-Identity that parses (a TN
 * preferred over a URI) when the peer is trusted to send it, else From.
 * `pai[i]` are header values, `from` a From value (name-addr or
 * addr-spec).  NULL, or a static why when nothing parses.
 */
typedef struct {
    const char *p;
    size_t n;
} ingest_str_t;

const char *ingest_policy_originator(const conf_peer_t *peer,
                                     const ingest_str_t *pai, size_t npai,
                                     ingest_str_t from, const char *default_cc,
                                     proto_ident_t *out);

/*
 * The destination of a SIP request: the Request-URI when it has a user
 * part, else To.  NULL or a static why.
 */
const char *ingest_policy_destination(ingest_str_t ruri, ingest_str_t to,
                                      const char *default_cc,
                                      proto_ident_t *out);

/*
 * Replay keys (DESIGN.md 3.9).  A signed message: SHA-256 over a domain
 * tag, the received `header.payload` segments and the canonical
 * destination, so each recipient of a multi-recipient PASSporT has its
 * own key and a re-encoded signature (r, n - s) does not make a new one.
 * An unsigned message (including those the gateway signs for customers:
 * they arrived unsigned): a domain tag, the peer name, the client's
 * idempotency id or the SIP "Call-ID CSeq", and the destination.  Each
 * field is length-prefixed, so no two inputs share an encoding.
 */
void ingest_policy_replay_signed(const char *signing_input, size_t n,
                                 const proto_ident_t *dest,
                                 uint8_t out[PROTO_MSG_REPLAY_LEN]);
void ingest_policy_replay_unsigned(const char *peer, const char *dedup,
                                   size_t dedup_len, const proto_ident_t *dest,
                                   uint8_t out[PROTO_MSG_REPLAY_LEN]);

#endif
