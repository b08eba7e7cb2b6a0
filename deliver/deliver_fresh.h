/*
 * deliver/deliver_fresh.h - what a stored signature is still worth when
 * the message finally leaves (DESIGN.md section 4, "at delivery").  Pure:
 * the envelope, the delivery time and the policy in, a decision out; no
 * I/O, no clock, no logging, so every row of the policy table is a unit
 * test.
 *
 * The decision, in order:
 *
 *   1. RFC 3428 Expires passed (envelope expires_ms <= now)  -> EXPIRED
 *      (ingest computed expires_ms: proto_msg_expires_at)
 *   2. verification deferred at ingest:
 *        within verify.defer_deadline of receipt            -> VERIFY
 *          (the caller verifies, then asks deliver_fresh_verified)
 *        past it                                            -> SEND
 *          No-TN-Validation, reason x5u_fetch_failed, Identity as stored
 *   3. the gateway signed it:
 *        now - iat > delivery.resign_after                  -> SEND,
 *          re-signed with a fresh iat (both times kept), Passed
 *        else                                               -> SEND as stored
 *   4. stored verdict pass:
 *        now - iat <= delivery.max_age (inclusive)          -> SEND Passed
 *        older, on_stale = deliver_unverified               -> SEND
 *          No-TN-Validation, reason stale_at_delivery, Identity as stored
 *        older, on_stale = reject                           -> REJECT
 *   5. anything else (no Identity, or verification failed
 *      under a continue policy)                             -> SEND with
 *      the stored verstat and reason
 *
 * A message the gateway signed is never "stale": the gateway is the
 * authentication service for that number and re-signs it, so the
 * PASSporT that leaves is fresh whatever the age of the message.
 */
#ifndef DELIVER_FRESH_H
#define DELIVER_FRESH_H

#include <stdint.h>

#include "proto/proto_msg.h"
#include "proto/proto_reason.h"

/* delivery.on_stale (the values of conf.h's CONF_STALE_*) */
enum { DELIVER_STALE_UNVERIFIED = 0, DELIVER_STALE_REJECT = 1 };

typedef struct {
    int64_t max_age_s;        /* delivery.max_age */
    int on_stale;             /* DELIVER_STALE_* */
    int64_t resign_after_s;   /* delivery.resign_after */
    int64_t defer_deadline_s; /* verify.defer_deadline, from receipt */
} deliver_fresh_policy;

typedef enum {
    DELIVER_FRESH_SEND = 1, /* deliver: verstat, identity source, reason */
    DELIVER_FRESH_VERIFY,   /* deferred: verify now, then _verified() */
    DELIVER_FRESH_EXPIRED,  /* Expires passed: never delivered */
    DELIVER_FRESH_REJECT,   /* stale under on_stale = reject */
    DELIVER_FRESH_FAIL,     /* late verification failed; peer rejects */
    DELIVER_FRESH_RETRY,    /* late verification transient: try again */
} deliver_fresh_action;

typedef enum {
    DELIVER_ID_NONE = 0, /* no Identity header goes out */
    DELIVER_ID_STORED,   /* the stored Identity value(s), unchanged */
    DELIVER_ID_RESIGN,   /* the gateway's own, signed now */
} deliver_id_source;

typedef struct {
    deliver_fresh_action action;
    uint8_t verstat;          /* PROTO_MSG_VERSTAT_*, for SEND */
    deliver_id_source id_src; /* for SEND */
    /*
     * Why, as the delivery reason byte of DONE (proto_wire.h: proto_reason
     * + 1, or PROTO_DREASON_STALE_AT_DELIVERY); 0 for EXPIRED.
     */
    uint8_t dreason;
} deliver_fresh_t;

/* Steps 1-5 above for the envelope `m` at wall time `now_ms`. */
void deliver_fresh_decide(const proto_msg *m, uint64_t now_ms,
                          const deliver_fresh_policy *p, deliver_fresh_t *out);

/*
 * After a deferred verification ran at `now_ms` with verdict `r`:
 * ok -> step 4 with the verdict pass (max_age still applies to iat);
 * transient (x5u_fetch_failed) -> RETRY before the deadline, SEND
 * unverified after it; any other failure -> FAIL when the peer's policy
 * rejects failures (`peer_rejects`), else SEND TN-Validation-Failed.
 */
void deliver_fresh_verified(const proto_msg *m, uint64_t now_ms,
                            const deliver_fresh_policy *p, proto_reason r,
                            int peer_rejects, deliver_fresh_t *out);

/* The stable name of a decision's reason ("ok", "stale_at_delivery"). */
const char *deliver_fresh_reason_name(const deliver_fresh_t *d);

#endif
