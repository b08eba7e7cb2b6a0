/*
 * proto/proto_api.h - the HTTP API body of POST /v1/messages (DESIGN.md
 * section 5) and the JSON the API answers with.
 *
 *   {"from": str, "to": str | [str, ...], "content_type": str,
 *    "body": str | "body_base64": str, "identity": str | [str, ...],
 *    "expires": int, "idempotency_id": str, "status_url": str}
 *
 * status_url (optional, http:// or https://, at most 1024 characters):
 * the delivery workers POST the message's final state there (the
 * envelope's status URL, proto_msg.h flag 8).
 *
 * Strict: an unknown member, a wrong type, a duplicate member or trailing
 * bytes is refused.  Each refusal has a stable `reason` (a public contract
 * like the verification reasons: never rename one) and a human message:
 *
 *   malformed_json       not JSON, not an object, duplicate member (the
 *                        message carries jansson's line and column)
 *   unknown_field        a member this API does not define
 *   missing_field        from, to, or both body and body_base64 absent
 *   bad_field            a member of the wrong type or shape
 *   too_many_recipients  more than max_recipients in "to"
 *   body_too_large       decoded body over max_body
 *
 * Pure code: bytes in, a struct or a reason out; no I/O, no logging.
 */
#ifndef PROTO_API_H
#define PROTO_API_H

#include "lib/sg.h"

#include <stddef.h>
#include <stdint.h>

#define PROTO_API_ADDR_MAX 256      /* from / to, bytes */
#define PROTO_API_CTYPE_MAX 128     /* content_type, bytes */
#define PROTO_API_IDENTITY_MAX 8192 /* one Identity value, bytes */
#define PROTO_API_IDEMP_MAX 128     /* idempotency_id, bytes */
#define PROTO_API_STATUS_URL_MAX 1024 /* status_url, bytes */

typedef struct {
    size_t max_recipients; /* default 100 */
    size_t max_body;       /* decoded body bytes, default 65536 */
    size_t max_identity;   /* Identity values, default 8 */
} proto_api_limits_t;

void proto_api_limits_default(proto_api_limits_t *self);

/* A parsed request; every pointer is new and freed by proto_api_msg_clear. */
typedef struct {
    char *from;
    char **to; /* 1..max_recipients */
    size_t nto;
    char *content_type; /* "text/plain" when absent */
    uint8_t *body;      /* exactly the bytes msgi covers; may hold NULs */
    size_t body_len;
    char **identity; /* Identity header values, unparsed */
    size_t nidentity;
    int has_expires;
    uint32_t expires;     /* seconds */
    char *idempotency_id; /* NULL when absent */
    char *status_url;     /* NULL when absent */
} proto_api_msg_t;

typedef struct {
    const char *reason; /* one of the identifiers above; static */
    char message[256];  /* for people: names the member at fault */
} proto_api_err_t;

/*
 * Parse `n` bytes.  Returns SG_OK with `out` filled, or SG_REFUSED with
 * `err` filled and `out` empty.  "body" is UTF-8 text taken as its UTF-8
 * bytes (\u0000 included); "body_base64" is standard base64 with padding
 * (RFC 4648 section 4), no whitespace.  Strings that end up in SIP header
 * fields (from, to, content_type, identity) may hold no control character.
 */
sg_rc proto_api_parse(const char *buf, size_t n, const proto_api_limits_t *lim,
                      proto_api_msg_t *out, proto_api_err_t *err) SG_WUR;

/* Free and zero; accepts NULL. */
void proto_api_msg_clear(proto_api_msg_t *self);

/* One stored message in the 202 answer: one per recipient. */
typedef struct {
    const char *id; /* the message id */
    const char *to; /* its recipient */
    int duplicate;  /* an earlier request with the same idempotency id
                       stored it: `id` is that message's */
} proto_api_accepted_t;

/*
 * The 202 (or 200) body: {"messages":[{"id":…,"to":…},…],"verstat":…}
 * with "reason":… added when `reason` is not NULL.  A message marked
 * duplicate gets "duplicate":true; when every one is, so does the object
 * (the answer to an idempotent retry: 200, the first request's ids).
 * Compact JSON, new string.
 */
char *proto_api_accepted_json(const proto_api_accepted_t *msgs, size_t n,
                              const char *verstat, const char *reason);

/*
 * GET /v1/messages/{id}: the store's SHOW object (store/store_json.c, the
 * `n` bytes at `show`) turned into what the client sees:
 *
 *   {"id", "status", "state", "attempts", "last_error",
 *    ["next_attempt_ms"], ["delivered_ms"], "updated_ms", ["expires_ms"],
 *    "from", "to", "verstat", "reason",
 *    ["delivery_verstat", "delivery_reason"]}
 *
 * status (a public contract, like the reasons; the final three are also
 * the `state` of the status_url callback):
 *
 *   queued      stored, no delivery attempt yet
 *   delivering  a delivery worker holds it now
 *   deferred    an attempt failed or the route is down; next_attempt_ms
 *               says when the next one is due, last_error why
 *   held        held by an operator (stirgate queue hold)
 *   delivered   the next hop took it (delivered_ms); delivery_verstat
 *               and delivery_reason say how it went out
 *   rejected    the next hop refused it for good, or a deferred
 *               verification failed under a rejecting policy
 *   expired     not delivered in time: RFC 3428 Expires, the store's
 *               lifetime, or stale at delivery under on_stale = reject
 *
 * verstat / reason are ingest's verdict; delivery_* what deliver put on
 * the message (absent until a worker reported).  The body and the
 * Identity values are never shown here.
 *
 * Returns 0 with *out a new string; 1 when the message's peer is not
 * `peer` (the client sees only its own: answer 404); -1 when `show` is not
 * a SHOW object.
 */
int proto_api_status_json(const char *show, size_t n, const char *peer,
                          char **out);

/* An error body: {"reason":…,"message":…}.  New string. */
char *proto_api_error_json(const char *reason, const char *message);

#endif
