/*
 * ingest/ingest_policy.c - the decisions of the ingest stage (see
 * ingest_policy.h).  Pure code: no I/O, no logging.
 */
#include "ingest/ingest_policy.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "proto/proto_msgi.h"

ingest_role
ingest_policy_role(const conf_peer_t *peer)
{
    return peer->kind == CONF_PEER_CUSTOMER ? INGEST_ROLE_SIGN
                                            : INGEST_ROLE_VERIFY;
}

static void
s_store(ingest_action_t *a, proto_reason r, uint8_t verstat)
{
    memset(a, 0, sizeof(*a));
    a->kind = INGEST_ACT_STORE;
    a->reason = r;
    a->sip_code = 202;
    a->sip_text = "Accepted";
    a->http_status = 202;
    a->verstat = verstat;
}

static void
s_reject(ingest_action_t *a, proto_reason r)
{
    const proto_reason_info *ri = proto_reason_get(r);

    memset(a, 0, sizeof(*a));
    a->kind = INGEST_ACT_REJECT;
    a->reason = r;
    a->sip_code = ri->sip_code;
    a->sip_text = ri->sip_text;
    /* A transient failure is the server's trouble, not the client's: the
     * same request may pass later. */
    a->http_status = ri->transient ? 503 : 403;
    a->api_reason = ri->name;
    a->verstat = PROTO_MSG_VERSTAT_FAILED;
}

void
ingest_policy_verdict(const conf_peer_t *peer, proto_reason r,
                      ingest_action_t *out)
{
    if (r == REASON_OK) {
        s_store(out, r, PROTO_MSG_VERSTAT_PASSED);
        return;
    }
    if (r == REASON_NO_IDENTITY) {
        if (peer->require_identity)
            s_reject(out, r);
        else
            s_store(out, r, PROTO_MSG_VERSTAT_NONE);
        return;
    }
    if (r == REASON_X5U_FETCH_FAILED) {
        switch (peer->on_fetch_failure) {
        case CONF_FETCH_DEFER:
            /* Nothing was verified yet: deliver retries the verification
             * (DESIGN.md 3.8, 4), so the verstat is "none" for now. */
            s_store(out, r, PROTO_MSG_VERSTAT_NONE);
            out->kind = INGEST_ACT_STORE_DEFERRED;
            out->flags = PROTO_MSG_F_DEFERRED;
            return;
        case CONF_FETCH_CONTINUE:
            break;
        default:
            s_reject(out, r);
            return;
        }
    } else if (peer->on_failure != CONF_FAIL_CONTINUE) {
        s_reject(out, r);
        return;
    }
    /* RFC 9410: when policy continues, the 4xx is not sent; the final
     * response carries the cause instead. */
    s_store(out, r, PROTO_MSG_VERSTAT_FAILED);
    out->kind = INGEST_ACT_STORE_FAILED;
    out->reason_header = 1;
}

void
ingest_policy_unauthorized(const conf_peer_t *peer, ingest_action_t *out)
{
    if (peer->unauthorized == CONF_UNAUTH_PASS_UNSIGNED) {
        s_store(out, REASON_TN_NOT_AUTHORIZED, PROTO_MSG_VERSTAT_NONE);
        return;
    }
    memset(out, 0, sizeof(*out));
    out->kind = INGEST_ACT_REJECT;
    out->reason = REASON_TN_NOT_AUTHORIZED;
    out->sip_code = 403;
    out->sip_text = "Originator Not Authorized";
    out->http_status = 403;
    out->api_reason = INGEST_R_NOT_AUTHORIZED;
    out->verstat = PROTO_MSG_VERSTAT_NONE;
}

void
ingest_policy_signed(ingest_action_t *out)
{
    s_store(out, REASON_OK, PROTO_MSG_VERSTAT_PASSED);
}

char *
ingest_policy_reason_header(proto_reason r, char *out, size_t n)
{
    const proto_reason_info *ri = proto_reason_get(r);

    if (r == REASON_OK || ri->sip_code == 0) {
        if (n > 0)
            out[0] = '\0';
        return out;
    }
    /* The reason phrases are our own static table: no quote or backslash
     * to escape inside the quoted text. */
    snprintf(out, n, "Reason: STIR ;cause=%d ;text=\"%s\"\r\n", ri->sip_code,
             ri->sip_text);
    return out;
}

int
ingest_policy_rank(proto_reason r)
{
    /*
     * The order of the checks in verify_passport.h, reversed: the later a
     * check failed, the more of the header was found sound.  The transient
     * fetch failure ranks above every permanent failure, and REASON_OK
     * above everything.
     */
    static const proto_reason order[] = {
        REASON_UNSUPPORTED_PPT,
        REASON_NO_IDENTITY,
        REASON_MALFORMED_IDENTITY,
        REASON_MALFORMED_PASSPORT,
        REASON_UNSUPPORTED_ALG,
        REASON_INFO_MISMATCH,
        REASON_STALE,
        REASON_FUTURE_IAT,
        REASON_ORIG_MISMATCH,
        REASON_DEST_MISMATCH,
        REASON_X5U_POLICY,
        REASON_CERT_UNTRUSTED,
        REASON_CERT_REVOKED,
        REASON_CERT_EXPIRED,
        REASON_BAD_SIGNATURE,
        REASON_TN_NOT_AUTHORIZED,
        REASON_CLAIM_CONSTRAINT,
        REASON_MSGI_UNSUPPORTED_ALG,
        REASON_MSGI_MISMATCH,
        REASON_X5U_FETCH_FAILED,
        REASON_OK,
    };

    for (size_t i = 0; i < SG_NELEM(order); i++)
        if (order[i] == r)
            return (int)i + 1;
    return 0;
}

/* Compare two digit strings of equal length as numbers: <0, 0, >0. */
static int
s_numcmp(const char *a, const char *b, size_t n)
{
    return memcmp(a, b, n);
}

int
ingest_policy_numbers_cover(const conf_peer_t *peer, const char *tn)
{
    const conf_range_t *r = peer->numbers.items;
    size_t len = strlen(tn);

    for (size_t i = 0; i < len; i++)
        if (tn[i] < '0' || tn[i] > '9')
            return 0;
    for (size_t i = 0; i < peer->numbers.n; i++) {
        const char *s = r[i].start;
        char end[32];
        unsigned long long v, last;
        char *e;

        if (s == NULL || strlen(s) != len || r[i].count < 1 || len > 19)
            continue;
        if (s_numcmp(tn, s, len) < 0)
            continue;
        /* start + count - 1 must keep the length (as a TNAuthList range
         * does); beyond it the range is cut at the last number of that
         * length. */
        v = strtoull(s, &e, 10);
        if (*e != '\0')
            continue;
        last = v + (unsigned long long)(r[i].count - 1);
        if (last < v)
            last = ~0ull;
        snprintf(end, sizeof(end), "%0*llu", (int)len, last);
        if (strlen(end) != len) {
            memset(end, '9', len);
            end[len] = '\0';
        }
        if (s_numcmp(tn, end, len) <= 0)
            return 1;
    }
    return 0;
}

const char *
ingest_policy_originator(const conf_peer_t *peer, const ingest_str_t *pai,
                         size_t npai, ingest_str_t from, const char *default_cc,
                         proto_ident_t *out)
{
    const char *why;

    if (peer->trust_pai && npai > 0) {
        proto_ident_t first;
        int have = 0;

        /* RFC 3325 allows one sip/sips and one tel identity; the TN is
         * what a PASSporT signs, so it wins. */
        for (size_t i = 0; i < npai; i++) {
            proto_ident_t id;
            if (proto_ident_parse(pai[i].p, pai[i].n, default_cc, &id) != NULL)
                continue;
            if (id.kind == PROTO_IDENT_TN) {
                *out = id;
                return NULL;
            }
            if (!have) {
                first = id;
                have = 1;
            }
        }
        if (have) {
            *out = first;
            return NULL;
        }
    }
    if (from.p == NULL || from.n == 0)
        return "no originator";
    why = proto_ident_parse(from.p, from.n, default_cc, out);
    return why;
}

/* Does the SIP/SIPS/TEL URI have a user part?  tel: is all user part. */
static int
s_has_user(ingest_str_t u)
{
    const char *p = u.p;
    size_t n = u.n;

    if (n >= 4 && strncasecmp(p, "tel:", 4) == 0)
        return 1;
    if (n >= 5 && strncasecmp(p, "sips:", 5) == 0)
        p += 5, n -= 5;
    else if (n >= 4 && strncasecmp(p, "sip:", 4) == 0)
        p += 4, n -= 4;
    else
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '@')
            return i > 0;
        if (p[i] == ';' || p[i] == '?' || p[i] == '>')
            return 0;
    }
    return 0;
}

const char *
ingest_policy_destination(ingest_str_t ruri, ingest_str_t to,
                          const char *default_cc, proto_ident_t *out)
{
    if (ruri.p != NULL && s_has_user(ruri))
        return proto_ident_parse(ruri.p, ruri.n, default_cc, out);
    if (to.p == NULL || to.n == 0)
        return "no destination";
    return proto_ident_parse(to.p, to.n, default_cc, out);
}

/* Feed a length-prefixed field into the digest. */
static void
s_field(EVP_MD_CTX *c, const void *p, size_t n)
{
    uint8_t len[8];

    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)n >> (8 * i));
    if (EVP_DigestUpdate(c, len, sizeof(len)) != 1 ||
        (n > 0 && EVP_DigestUpdate(c, p, n) != 1))
        sg_panic("EVP_DigestUpdate failed");
}

static EVP_MD_CTX *
s_begin(const char *tag)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    if (c == NULL ||
        EVP_DigestInit_ex(c, proto_msgi_md(PROTO_MSGI_SHA256), NULL) != 1)
        sg_panic("EVP_DigestInit_ex: out of memory");
    s_field(c, tag, strlen(tag));
    return c;
}

static void
s_end(EVP_MD_CTX *c, const proto_ident_t *dest,
      uint8_t out[PROTO_MSG_REPLAY_LEN])
{
    unsigned int olen = 0;
    uint8_t kind = (uint8_t)dest->kind;

    s_field(c, &kind, 1);
    s_field(c, dest->value, strlen(dest->value));
    if (EVP_DigestFinal_ex(c, out, &olen) != 1 || olen != 32)
        sg_panic("EVP_DigestFinal_ex failed");
    EVP_MD_CTX_free(c);
}

void
ingest_policy_replay_signed(const char *signing_input, size_t n,
                            const proto_ident_t *dest,
                            uint8_t out[PROTO_MSG_REPLAY_LEN])
{
    EVP_MD_CTX *c = s_begin("stirgate replay signed 1");

    s_field(c, signing_input, n);
    s_end(c, dest, out);
}

void
ingest_policy_replay_unsigned(const char *peer, const char *dedup,
                              size_t dedup_len, const proto_ident_t *dest,
                              uint8_t out[PROTO_MSG_REPLAY_LEN])
{
    EVP_MD_CTX *c = s_begin("stirgate replay unsigned 1");

    s_field(c, peer, strlen(peer));
    s_field(c, dedup, dedup_len);
    s_end(c, dest, out);
}
