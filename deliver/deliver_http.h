/*
 * deliver/deliver_http.h - webhook delivery and status callbacks over
 * HTTP (libcurl multi, driven from the worker's poll loop).
 *
 * The webhook request (DESIGN.md 5):
 *
 *   POST <route webhook URL>
 *   Content-Type: application/json
 *   Idempotency-Key: <message id>
 *
 *   {"id":…, "from":…, "to":…, "content_type":…,
 *    "body":… (when the body is UTF-8 without NUL) | "body_base64":…,
 *    "verstat":…, "reason":…, "iat":…, "resign_iat":… (when re-signed),
 *    "passport":[tokens], "identity":[header values], "attempt":…}
 *
 * The idempotency key is the message id, the same for every attempt and
 * for a duplicate after a worker crash, so the receiver can drop repeats.
 *
 * Outcomes go through one table (s_outcome in deliver_http.c): a curl
 * failure to connect, resolve, send or receive, or a timeout, is
 * SG_AGAIN; a malformed URL or unsupported scheme SG_REFUSED; then the
 * status: 2xx SG_OK, 408/429/5xx SG_AGAIN, anything else (3xx are not
 * followed, 4xx) SG_REFUSED.
 */
#ifndef DELIVER_HTTP_H
#define DELIVER_HTTP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sg.h"
#include "proto/proto_msg.h"

/* The JSON of one webhook POST (new, NUL-terminated). */
typedef struct {
    const proto_msg *m;
    const char *verstat; /* "TN-Validation-Passed", … */
    const char *reason;  /* "ok", "stale_at_delivery", … */
    const proto_bytes *identity; /* the Identity values that go out */
    size_t n_identity;
    uint64_t resign_iat; /* 0 = not re-signed */
    uint32_t attempt;
} deliver_http_webhook_t;

char *deliver_http_webhook_json(const deliver_http_webhook_t *w);

/* 1 when the bytes are UTF-8 (RFC 3629: no overlongs, no surrogates)
 * holding no NUL, i.e. safe as a JSON string a receiver reads back
 * byte for byte. */
int deliver_http_utf8_ok(const uint8_t *p, size_t n);

/* The one table: a CURLcode (as long) and the HTTP status into
 * SG_OK / SG_AGAIN / SG_REFUSED. */
sg_rc deliver_http_outcome(long curl_code, long status);

/* --- the client --- */

typedef struct deliver_http deliver_http_t;

/* `rc` from deliver_http_outcome; `status` 0 when no response; `error`
 * a short static or borrowed text, valid during the call. */
typedef void (*deliver_http_cb)(void *arg, sg_rc rc, long status,
                                const char *error);

deliver_http_t *deliver_http_new(void);
/* In-flight requests are dropped without callbacks. */
void deliver_http_destroy(deliver_http_t **self_p);

/*
 * POST `body` (copied) as application/json to `url` with an optional
 * Idempotency-Key.  The callback comes exactly once, from a later
 * deliver_http_perform().  SG_ERR (logged) when curl refuses the handle.
 */
sg_rc deliver_http_post(deliver_http_t *self, const char *url,
                        const char *idem_key, const char *body, size_t len,
                        long timeout_ms, deliver_http_cb cb,
                        void *arg) SG_WUR;

size_t deliver_http_fds(const deliver_http_t *self, struct pollfd *out,
                        size_t max);
long deliver_http_timeout_ms(const deliver_http_t *self);
void deliver_http_perform(deliver_http_t *self, const struct pollfd *fds,
                          size_t n);
size_t deliver_http_pending(const deliver_http_t *self);

#endif
