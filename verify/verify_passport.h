/*
 * verify/verify_passport.h - verify and sign PASSporTs: the STIR library's
 * front door (DESIGN.md sections 3 and 5).
 *
 * verify_passport() runs every check of one Identity header (or one bare
 * token) and returns a verdict: one reason of proto_reason.h.  A verdict is
 * data; only a broken environment (out of memory aborts) is an error.
 *
 * Check order (cheap and signaling-only first, so hostile input costs
 * little; msgi last so a mismatch is only claimed for authentic tokens):
 *   1 Identity header syntax         malformed_identity
 *   2 ppt supported                  unsupported_ppt
 *   3 PASSporT syntax, alg           malformed_passport, unsupported_alg
 *   4 info == x5u, ppt == ppt        info_mismatch
 *   5 freshness of iat against now   stale, future_iat
 *   6 orig/dest against signaling    orig_mismatch, dest_mismatch
 *   7 the chain for x5u              x5u_policy, x5u_fetch_failed,
 *                                    cert_untrusted, cert_revoked
 *   8 every cert valid at iat        cert_expired
 *   9 ES256 signature                bad_signature
 *  10 TNAuthList covers signed orig  tn_not_authorized
 *  11 claim constraints              claim_constraint
 *  12 msgi over the body (ppt msg)   msgi_mismatch, msgi_unsupported_alg
 */
#ifndef VERIFY_PASSPORT_H
#define VERIFY_PASSPORT_H

#include "proto/proto_passport.h"
#include "proto/proto_reason.h"
#include "proto/proto_tn.h"
#include "verify/verify_cert.h"
#include "verify/verify_key.h"

#include <stddef.h>
#include <stdint.h>

/* Freshness (RFC 8224 s4.1, DESIGN.md s4): pure; limits inclusive. */
typedef struct {
    int64_t max_age;    /* default 60 */
    int64_t max_future; /* default 10 */
} verify_fresh_policy;

/* REASON_OK, REASON_STALE (now - iat > max_age) or REASON_FUTURE_IAT
 * (iat - now > max_future). */
proto_reason verify_fresh(int64_t iat, int64_t now,
                          const verify_fresh_policy *policy);

/*
 * Where chains come from: the CLI hands a fixed chain, the gateway its x5u
 * cache.  Returns REASON_OK with a borrowed chain (valid until the next call
 * on the same provider), or a reason (x5u_policy, x5u_fetch_failed,
 * cert_untrusted) with *chain = NULL.
 */
typedef proto_reason (*verify_chain_fn)(void *arg, const char *x5u,
                                        verify_chain_t **chain);

/* ppt values accepted (bit set). */
#define VERIFY_PPT_NONE 0x1   /* base PASSporT, no ppt */
#define VERIFY_PPT_MSG 0x2    /* RFC 9475 */
#define VERIFY_PPT_SHAKEN 0x4 /* RFC 8588 */

typedef struct {
    verify_trust_t *trust; /* borrowed; for the SPC map */
    verify_chain_fn get_chain;
    void *get_chain_arg;
    verify_fresh_policy fresh;
    unsigned ppts; /* VERIFY_PPT_* accepted; 0 means all three */
} verify_ctx_t;

typedef struct {
    /* Exactly one of identity (a header value) and token (a bare token,
     * as on the CLI's --token: info is taken to be the x5u). */
    const char *identity;
    size_t identity_len;
    const char *token;
    size_t token_len;

    /* Signaling identities, canonical; NULL = not checked.  With several
     * dest entries each must be listed in the PASSporT's dest. */
    const proto_ident_t *orig;
    const proto_ident_t *dest;
    size_t n_dest;

    /* The message body exactly as received; have_body = 0 leaves msgi
     * unchecked. */
    const uint8_t *body;
    size_t body_len;
    int have_body;

    int64_t now;  /* the verification time */
    int64_t date; /* SIP Date for compact-form rebuild; 0 = use now */
} verify_input_t;

typedef enum {
    VERIFY_MSGI_UNCHECKED = 0, /* no body given */
    VERIFY_MSGI_ABSENT,        /* body given, PASSporT has no msgi */
    VERIFY_MSGI_MATCH,
    VERIFY_MSGI_MISMATCH,
} verify_msgi_state;

typedef struct {
    proto_reason reason;
    char detail[256];     /* short explanation for humans/logs */
    proto_passport_t *pp; /* new; NULL when the token did not parse */
    verify_msgi_state msgi;
    char fingerprint[65]; /* leaf SHA-256 hex when a chain was used */
} verify_result_t;

/* Run the checks; fills *res (release with verify_result_clear). */
proto_reason verify_passport(const verify_ctx_t *ctx, const verify_input_t *in,
                             verify_result_t *res);
void verify_result_clear(verify_result_t *res);

/* ---- signing ----------------------------------------------------------- */

/*
 * Sign a full-form msg PASSporT: header {alg ES256, ppt (NULL = "msg"),
 * typ, x5u}, payload {dest, iat, msgi over body when body != NULL, orig}.
 * Returns a new token, or NULL (logged) when the key cannot sign or there
 * is no dest.
 */
char *verify_sign_passport(verify_key_t *key, const char *x5u, const char *ppt,
                           const proto_ident_t *orig, const proto_ident_t *dest,
                           size_t n_dest, int64_t iat, const uint8_t *body,
                           size_t body_len);

#endif
