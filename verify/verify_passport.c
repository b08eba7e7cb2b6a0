/*
 * verify/verify_passport.c - verify one Identity header (or bare token) in
 * the 12-step order of verify_passport.h, and sign msg PASSporTs.
 *
 * The order is a contract: the CLI, the gateway and the tests name the
 * first failing step.  Cheap, signaling-only checks come first so hostile
 * input costs little; the chain (a cache lookup, maybe a fetch) only once
 * the token is well formed, fresh and about the right parties; msgi last,
 * so a body mismatch is reported only for authentic tokens.
 */
#include "verify/verify_passport.h"

#include "lib/sg_log.h"
#include "proto/proto_identity.h"
#include "proto/proto_msgi.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

proto_reason
verify_fresh(int64_t iat, int64_t now, const verify_fresh_policy *policy)
{
    int64_t age;

    /* A hostile iat near INT64_MIN/MAX must not overflow the difference. */
    if (__builtin_sub_overflow(now, iat, &age))
        return iat > now ? REASON_FUTURE_IAT : REASON_STALE;
    if (age > policy->max_age)
        return REASON_STALE;
    if (age < 0 && -age > policy->max_future)
        return REASON_FUTURE_IAT;
    return REASON_OK;
}

static proto_reason s_fail(verify_result_t *res, proto_reason r,
                           const char *fmt, ...) SG_PRINTF(3, 4);

static proto_reason
s_fail(verify_result_t *res, proto_reason r, const char *fmt, ...)
{
    va_list ap;

    res->reason = r;
    va_start(ap, fmt);
    vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
    va_end(ap);
    return r;
}

/* Identity ppt parameter or header ppt -> VERIFY_PPT_* bit (0 = other). */
static unsigned
s_ppt_bit(const char *ppt)
{
    if (ppt == NULL)
        return VERIFY_PPT_NONE;
    if (strcmp(ppt, "msg") == 0)
        return VERIFY_PPT_MSG;
    if (strcmp(ppt, "shaken") == 0)
        return VERIFY_PPT_SHAKEN;
    return 0;
}

static int
s_str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Step 2: REASON_OK when `ppt` is accepted. */
static proto_reason
s_check_ppt(const verify_ctx_t *ctx, const char *ppt, const char *where,
            verify_result_t *res)
{
    unsigned accepted =
        ctx->ppts ? ctx->ppts
                  : VERIFY_PPT_NONE | VERIFY_PPT_MSG | VERIFY_PPT_SHAKEN;
    char q[64];

    if ((s_ppt_bit(ppt) & accepted) != 0)
        return REASON_OK;
    if (ppt == NULL)
        return s_fail(res, REASON_UNSUPPORTED_PPT,
                      "base PASSporT (no ppt) is not accepted here");
    return s_fail(res, REASON_UNSUPPORTED_PPT, "%s ppt \"%s\" is not supported",
                  where, sg_log_quote(ppt, strlen(ppt), q, 40));
}

/* a - b saturated: details print hostile iat values without overflow. */
static int64_t
s_diff(int64_t a, int64_t b)
{
    int64_t d;

    if (__builtin_sub_overflow(a, b, &d))
        return a > b ? INT64_MAX : INT64_MIN;
    return d;
}

static const char *
s_kind(proto_ident_kind k)
{
    return k == PROTO_IDENT_TN ? "tn" : "uri";
}

static int
s_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A new sorted copy of a borrowed-string list (NULL when n is 0). */
static const char **
s_sorted(const char **v, size_t n)
{
    const char **c;

    if (n == 0)
        return NULL;
    c = sg_calloc(n, sizeof(*c));
    memcpy(c, v, n * sizeof(*c));
    qsort(c, n, sizeof(*c), s_strcmp_p);
    return c;
}

/*
 * Step 6 for dest: the index of the first signaling dest that the
 * PASSporT does not list, or n_dest when all are listed.  Both lists come
 * from outside (up to PROTO_PASSPORT_MAX_DEST signed entries, as many
 * signaling recipients as the API allows), so a linear has_dest per
 * recipient would be quadratic; with more than one recipient the signed
 * lists are sorted once and searched.
 */
static size_t
s_first_missing_dest(const proto_passport_t *pp, const proto_ident_t *dest,
                     size_t n_dest)
{
    const char **tn, **uri, *key;
    size_t i;

    if (n_dest <= 1)
        return n_dest == 1 && !proto_passport_has_dest(pp, &dest[0]) ? 0
                                                                     : n_dest;
    tn = s_sorted(pp->dest_tn, pp->n_dest_tn);
    uri = s_sorted(pp->dest_uri, pp->n_dest_uri);
    for (i = 0; i < n_dest; i++) {
        const char **list = dest[i].kind == PROTO_IDENT_TN    ? tn
                            : dest[i].kind == PROTO_IDENT_URI ? uri
                                                              : NULL;
        size_t n =
            dest[i].kind == PROTO_IDENT_TN ? pp->n_dest_tn : pp->n_dest_uri;

        key = dest[i].value;
        if (list == NULL ||
            bsearch(&key, list, n, sizeof(*list), s_strcmp_p) == NULL)
            break;
    }
    sg_free(tn);
    sg_free(uri);
    return i;
}

proto_reason
verify_passport(const verify_ctx_t *ctx, const verify_input_t *in,
                verify_result_t *res)
{
    proto_identity_t id;
    proto_passport_t *pp = NULL;
    verify_chain_t *chain = NULL;
    proto_reason r;
    char q1[80], q2[80];
    int ok;
    size_t i;

    memset(res, 0, sizeof(*res));
    memset(&id, 0, sizeof(id));
    res->reason = REASON_OK;

    /* 1-2: Identity syntax, then the ppt parameter.  A bare token has no
     * Identity: its ppt comes from the JOSE header, checked after step 3. */
    if (in->identity != NULL) {
        if (proto_identity_parse(in->identity, in->identity_len, &id) !=
            REASON_OK) {
            s_fail(res, REASON_MALFORMED_IDENTITY,
                   "the Identity header value does not parse");
            goto out;
        }
        if (s_check_ppt(ctx, id.ppt, "Identity", res) != REASON_OK)
            goto out;
    } else if (in->token == NULL) {
        s_fail(res, REASON_MALFORMED_IDENTITY, "neither Identity nor token");
        goto out;
    }

    /* 3: the PASSporT.  Compact form is rebuilt from signaling with the
     * Date (or now) as iat; a msg PASSporT cannot be (DESIGN.md 3.2). */
    if (in->identity != NULL && id.alg != NULL &&
        strcmp(id.alg, "ES256") != 0) {
        s_fail(res, REASON_UNSUPPORTED_ALG, "Identity alg \"%s\" is not ES256",
               sg_log_quote(id.alg, strlen(id.alg), q1, 40));
        goto out;
    }
    if (in->identity != NULL && id.compact) {
        if (in->orig == NULL || in->dest == NULL || in->n_dest == 0) {
            s_fail(res, REASON_MALFORMED_PASSPORT,
                   "compact form needs the signaling orig and dest to be "
                   "rebuilt");
            goto out;
        }
        r = proto_passport_rebuild_compact(id.token, id.info, id.ppt, in->orig,
                                           in->dest, in->n_dest,
                                           in->date ? in->date : in->now, &pp);
        if (r != REASON_OK) {
            s_fail(res, r, "compact form cannot be rebuilt%s",
                   id.ppt != NULL && strcmp(id.ppt, "msg") == 0
                       ? " (a msg PASSporT must use full form)"
                       : "");
            goto out;
        }
    } else {
        const char *tok = in->identity ? id.token : in->token;
        size_t toklen = in->identity ? strlen(id.token) : in->token_len;

        r = proto_passport_parse(tok, toklen, &pp);
        if (r != REASON_OK) {
            s_fail(res, r, "%s",
                   r == REASON_UNSUPPORTED_ALG
                       ? "JOSE alg is not ES256"
                       : "not a well-formed PASSporT (segments, base64url, "
                         "JSON, typ/alg/x5u/iat/orig/dest, 64-octet "
                         "signature)");
            goto out;
        }
    }
    res->pp = pp;
    if (in->identity == NULL &&
        s_check_ppt(ctx, pp->ppt, "PASSporT", res) != REASON_OK)
        goto out;

    /* 4: the Identity parameters must match what was signed. */
    if (in->identity != NULL && !id.compact) {
        if (!s_str_eq(pp->ppt, id.ppt)) {
            s_fail(res, REASON_INFO_MISMATCH,
                   "PASSporT ppt \"%s\" differs from the Identity ppt "
                   "\"%s\"",
                   pp->ppt ? sg_log_quote(pp->ppt, strlen(pp->ppt), q1, 40)
                           : "(none)",
                   id.ppt ? sg_log_quote(id.ppt, strlen(id.ppt), q2, 40)
                          : "(none)");
            goto out;
        }
        /* RFC 8224 s4.1: simple string comparison, no normalization. */
        if (strcmp(pp->x5u, id.info) != 0) {
            s_fail(res, REASON_INFO_MISMATCH,
                   "x5u \"%s\" differs from info \"%s\"",
                   sg_log_quote(pp->x5u, strlen(pp->x5u), q1, 70),
                   sg_log_quote(id.info, strlen(id.info), q2, 70));
            goto out;
        }
    }

    /* 5: freshness of iat against now. */
    r = verify_fresh(pp->iat, in->now, &ctx->fresh);
    if (r == REASON_STALE) {
        s_fail(res, r, "iat %" PRId64 " is %" PRId64 " s old; max-age %" PRId64,
               pp->iat, s_diff(in->now, pp->iat), ctx->fresh.max_age);
        goto out;
    }
    if (r == REASON_FUTURE_IAT) {
        s_fail(res, r,
               "iat %" PRId64 " is %" PRId64 " s ahead; max-future %" PRId64,
               pp->iat, s_diff(pp->iat, in->now), ctx->fresh.max_future);
        goto out;
    }

    /* 6: the signed parties against the signaling (both canonical). */
    if (in->orig != NULL && (in->orig->kind != pp->orig_kind ||
                             strcmp(in->orig->value, pp->orig) != 0)) {
        s_fail(res, REASON_ORIG_MISMATCH,
               "signaling orig %s \"%s\" differs from PASSporT orig %s "
               "\"%s\"",
               s_kind(in->orig->kind),
               sg_log_quote(in->orig->value, strlen(in->orig->value), q1, 60),
               s_kind(pp->orig_kind),
               sg_log_quote(pp->orig, strlen(pp->orig), q2, 60));
        goto out;
    }
    if (in->dest != NULL &&
        (i = s_first_missing_dest(pp, in->dest, in->n_dest)) < in->n_dest) {
        s_fail(
            res, REASON_DEST_MISMATCH,
            "signaling dest %s \"%s\" is not in the PASSporT dest",
            s_kind(in->dest[i].kind),
            sg_log_quote(in->dest[i].value, strlen(in->dest[i].value), q1, 60));
        goto out;
    }

    /* 7: the chain behind x5u (cache or fetch); its reason passes through. */
    r = ctx->get_chain(ctx->get_chain_arg, pp->x5u, &chain);
    if (r != REASON_OK || chain == NULL) {
        s_fail(res, r != REASON_OK ? r : REASON_CERT_UNTRUSTED,
               "no usable certificate chain for x5u \"%s\"",
               sg_log_quote(pp->x5u, strlen(pp->x5u), q1, 70));
        goto out;
    }
    verify_chain_fingerprint(chain, res->fingerprint);
    r = verify_chain_status(chain);
    if (r != REASON_OK) {
        s_fail(res, r, "%s",
               r == REASON_CERT_REVOKED
                   ? "a certificate on the path is revoked"
                   : "the certificate chain does not lead to a trust "
                     "anchor, or is malformed");
        goto out;
    }

    /* 8: every certificate valid at iat (not at now: RFC 9475 s4). */
    if (verify_chain_check_at(chain, pp->iat) != REASON_OK) {
        s_fail(res, REASON_CERT_EXPIRED,
               "iat %" PRId64 " is outside the path's validity [%" PRId64
               ", %" PRId64 "]",
               pp->iat, verify_chain_not_before(chain),
               verify_chain_not_after(chain));
        goto out;
    }

    /* 9: ES256 over the received header.payload segments. */
    ok = verify_es256_verify(verify_chain_get0_key(chain), pp->token,
                             pp->signed_len, pp->sig);
    if (ok != 1) {
        s_fail(res, REASON_BAD_SIGNATURE, "%s",
               ok == 0 ? "the ES256 signature does not verify with the "
                         "leaf key"
                       : "the ES256 check failed (logged)");
        goto out;
    }

    /* 10: TNAuthList scope of the signed orig, leaf and CAs. */
    if (verify_chain_check_tn(chain, ctx->trust, pp->orig_kind, pp->orig) !=
        REASON_OK) {
        s_fail(res, REASON_TN_NOT_AUTHORIZED,
               "the certificate's TNAuthList does not cover orig %s \"%s\"",
               s_kind(pp->orig_kind),
               sg_log_quote(pp->orig, strlen(pp->orig), q1, 60));
        goto out;
    }

    /* 11: (Enhanced)JWTClaimConstraints of the leaf.  The payload as JSON
     * is built only for a leaf that has some (proto_passport_payload). */
    if (verify_chain_has_claim_constraints(chain) &&
        verify_chain_check_claims(chain, proto_passport_payload(pp)) !=
            REASON_OK) {
        s_fail(res, REASON_CLAIM_CONSTRAINT,
               "the payload violates the leaf's claim constraints");
        goto out;
    }

    /* 12: msgi, only for ppt msg with a body (proto drops msgi in other
     * types, RFC 9475 s3.2). */
    if (in->have_body && pp->ppt != NULL && strcmp(pp->ppt, "msg") == 0) {
        if (pp->msgi == NULL) {
            res->msgi = VERIFY_MSGI_ABSENT;
        } else {
            r = proto_msgi_check(pp->msgi, in->body, in->body_len);
            if (r == REASON_OK) {
                res->msgi = VERIFY_MSGI_MATCH;
            } else {
                if (r == REASON_MSGI_MISMATCH)
                    res->msgi = VERIFY_MSGI_MISMATCH;
                s_fail(res, r, "%s",
                       r == REASON_MSGI_MISMATCH
                           ? "msgi does not match the message body"
                       : r == REASON_MSGI_UNSUPPORTED_ALG
                           ? "msgi algorithm is not sha256/384/512"
                           : "msgi is not \"<alg>-<base64>\"");
                goto out;
            }
        }
    }
    snprintf(res->detail, sizeof(res->detail), "valid");
out:
    proto_identity_clear(&id);
    if (res->pp == NULL)
        proto_passport_destroy(&pp);
    return res->reason;
}

void
verify_result_clear(verify_result_t *res)
{
    if (res == NULL)
        return;
    proto_passport_destroy(&res->pp);
    memset(res, 0, sizeof(*res));
}

char *
verify_sign_passport(verify_key_t *key, const char *x5u, const char *ppt,
                     const proto_ident_t *orig, const proto_ident_t *dest,
                     size_t n_dest, int64_t iat, const uint8_t *body,
                     size_t body_len)
{
    char msgi[PROTO_MSGI_MAX], *input, *token;
    uint8_t sig[64];

    if (ppt == NULL)
        ppt = "msg";
    if (!verify_key_is_private(key)) {
        sg_error("verify.sign", "the signing key is public only");
        return NULL;
    }
    /* RFC 9475 s3.2: msgi only in msg PASSporTs. */
    if (body != NULL && strcmp(ppt, "msg") == 0)
        proto_msgi_compute(PROTO_MSGI_SHA256, body, body_len, msgi);
    else
        msgi[0] = '\0';
    input = proto_passport_signing_input(x5u, ppt, orig, dest, n_dest, iat,
                                         msgi[0] ? msgi : NULL);
    if (input == NULL) {
        sg_error("verify.sign", "cannot build the PASSporT: no dest");
        return NULL;
    }
    if (verify_es256_sign(key, input, strlen(input), sig) != SG_OK) {
        free(input);
        return NULL;
    }
    token = proto_passport_assemble(input, sig);
    free(input);
    return token;
}
