/*
 * Unit tests: verify_passport end to end with a PKI made in the test, one
 * case per reason of DESIGN.md section 5 the offline path can produce (and
 * x5u_policy / x5u_fetch_failed through the chain provider), plus signing,
 * freshness bounds.
 */
#include "lib/sg.h"
#include "proto/proto_b64.h"
#include "proto/proto_identity.h"
#include "proto/proto_passport.h"
#include "tests/unit/test_verify_pkifx.h"
#include "tests/unit/test_verify_util.h"
#include "tests/unit/tu.h"
#include "verify/verify_passport.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_body[] = "Hello, world!";

typedef struct {
    const char *x5u, *ppt; /* signing: NULL ppt = "msg" */
    const char *orig;      /* signed orig TN (FX_ORIG) */
    int orig_uri;
    int64_t iat; /* FX_IAT */
    int no_body; /* sign without msgi */
} sign_opts;

static char *
s_sign(fx_t *fx, const sign_opts *o)
{
    static const sign_opts none;
    proto_ident_t orig, dest;

    if (o == NULL)
        o = &none;
    orig.kind = o->orig_uri ? PROTO_IDENT_URI : PROTO_IDENT_TN;
    snprintf(orig.value, sizeof(orig.value), "%s", o->orig ? o->orig : FX_ORIG);
    dest.kind = PROTO_IDENT_TN;
    snprintf(dest.value, sizeof(dest.value), "%s", FX_DEST);
    return verify_sign_passport(fx->signer, o->x5u ? o->x5u : FX_X5U, o->ppt,
                                &orig, &dest, 1, o->iat ? o->iat : FX_IAT,
                                o->no_body ? NULL : (const uint8_t *)s_body,
                                o->no_body ? 0 : strlen(s_body));
}

typedef struct {
    proto_ident_t orig, dest;
    verify_input_t in;
    verify_result_t res;
    char *identity;
} run_t;

/* The input every test starts from: the Identity header for `token`
 * (info = FX_X5U, ppt = msg), matching signaling, the body, now = iat. */
static void
s_input(run_t *run, const char *token, const char *info, const char *ppt)
{
    memset(run, 0, sizeof(*run));
    run->identity = proto_identity_format(token, info ? info : FX_X5U, ppt);
    run->orig.kind = PROTO_IDENT_TN;
    snprintf(run->orig.value, sizeof(run->orig.value), "%s", FX_ORIG);
    run->dest.kind = PROTO_IDENT_TN;
    snprintf(run->dest.value, sizeof(run->dest.value), "%s", FX_DEST);
    run->in.identity = run->identity;
    run->in.identity_len = strlen(run->identity);
    run->in.orig = &run->orig;
    run->in.dest = &run->dest;
    run->in.n_dest = 1;
    run->in.body = (const uint8_t *)s_body;
    run->in.body_len = strlen(s_body);
    run->in.have_body = 1;
    run->in.now = FX_IAT;
}

static proto_reason
s_run(fx_t *fx, run_t *run)
{
    verify_result_clear(&run->res);
    return verify_passport(&fx->ctx, &run->in, &run->res);
}

static void
s_done(run_t *run)
{
    verify_result_clear(&run->res);
    free(run->identity);
}

/* Sign with defaults, verify with defaults, expect `want`. */
#define EXPECT(run, want)                                                      \
    do {                                                                       \
        proto_reason got_ = s_run(&fx, (run));                                 \
        if (got_ != (want))                                                    \
            tu_note("    got %s (%s)", proto_reason_name(got_),                \
                    (run)->res.detail);                                        \
        TU_INTEQ(got_, (want));                                                \
        TU_CHECK((run)->res.detail[0] != '\0');                                \
    } while (0)

TU_TEST(verify_passport_ok)
{
    fx_t fx;
    run_t run;
    char *tok, fp[65];

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_sign(&fx, NULL);
    TU_REQUIRE(tok != NULL);
    s_input(&run, tok, NULL, "msg");
    EXPECT(&run, REASON_OK);
    TU_INTEQ(run.res.msgi, VERIFY_MSGI_MATCH);
    TU_REQUIRE(run.res.pp != NULL);
    TU_STREQ(run.res.pp->orig, FX_ORIG);
    TU_INTEQ(run.res.pp->iat, FX_IAT);
    verify_chain_fingerprint(fx.chain, fp);
    TU_STREQ(run.res.fingerprint, fp);
    /* No body: msgi unchecked. */
    run.in.have_body = 0;
    EXPECT(&run, REASON_OK);
    TU_INTEQ(run.res.msgi, VERIFY_MSGI_UNCHECKED);
    /* No signaling identities: not checked. */
    run.in.orig = NULL;
    run.in.dest = NULL;
    run.in.n_dest = 0;
    EXPECT(&run, REASON_OK);
    s_done(&run);
    /* A bare token (CLI --token): ppt from the JOSE header. */
    s_input(&run, tok, NULL, "msg");
    run.in.identity = NULL;
    run.in.token = tok;
    run.in.token_len = strlen(tok);
    EXPECT(&run, REASON_OK);
    s_done(&run);
    free(tok);
    /* msg without msgi and a body given: absent, still ok. */
    {
        sign_opts so = {.no_body = 1};
        tok = s_sign(&fx, &so);
        s_input(&run, tok, NULL, "msg");
        EXPECT(&run, REASON_OK);
        TU_INTEQ(run.res.msgi, VERIFY_MSGI_ABSENT);
        s_done(&run);
        free(tok);
    }
    TU_CHECK(ERR_peek_error() == 0);
    fx_fini(&fx);
}

TU_TEST(verify_passport_freshness_bounds)
{
    fx_t fx;
    run_t run;
    char *tok;
    verify_fresh_policy pol = {60, 10};

    TU_INTEQ(verify_fresh(100, 160, &pol), REASON_OK);
    TU_INTEQ(verify_fresh(100, 161, &pol), REASON_STALE);
    TU_INTEQ(verify_fresh(100, 90, &pol), REASON_OK);
    TU_INTEQ(verify_fresh(100, 89, &pol), REASON_FUTURE_IAT);
    TU_INTEQ(verify_fresh(INT64_MIN, INT64_MAX, &pol), REASON_STALE);
    TU_INTEQ(verify_fresh(INT64_MAX, INT64_MIN, &pol), REASON_FUTURE_IAT);

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    run.in.now = FX_IAT + 60; /* exactly max-age: fresh */
    EXPECT(&run, REASON_OK);
    run.in.now = FX_IAT + 61;
    EXPECT(&run, REASON_STALE);
    TU_CHECK(strstr(run.res.detail, "61 s old") != NULL);
    run.in.now = FX_IAT - 10; /* exactly max-future */
    EXPECT(&run, REASON_OK);
    run.in.now = FX_IAT - 11;
    EXPECT(&run, REASON_FUTURE_IAT);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

TU_TEST(verify_passport_malformed_identity_and_ppt)
{
    fx_t fx;
    run_t run;
    char *tok;
    sign_opts shaken = {.ppt = "shaken"};

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    run.in.identity = "not an identity header;;;";
    run.in.identity_len = strlen(run.in.identity);
    EXPECT(&run, REASON_MALFORMED_IDENTITY);
    TU_CHECK(run.res.pp == NULL);
    s_done(&run);

    /* ppt=div is not one we accept. */
    s_input(&run, tok, NULL, "div");
    EXPECT(&run, REASON_UNSUPPORTED_PPT);
    s_done(&run);
    /* msg only: a base PASSporT header (no ppt) is refused. */
    s_input(&run, tok, NULL, NULL);
    fx.ctx.ppts = VERIFY_PPT_MSG;
    EXPECT(&run, REASON_UNSUPPORTED_PPT);
    s_done(&run);
    free(tok);
    /* A bare shaken token with only msg accepted. */
    tok = s_sign(&fx, &shaken);
    s_input(&run, tok, NULL, "msg");
    run.in.identity = NULL;
    run.in.token = tok;
    run.in.token_len = strlen(tok);
    EXPECT(&run, REASON_UNSUPPORTED_PPT);
    fx.ctx.ppts = 0;
    EXPECT(&run, REASON_OK);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

TU_TEST(verify_passport_malformed_passport)
{
    fx_t fx;
    run_t run;
    char *tok, *bad;
    size_t n;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    s_input(&run, "aaaa.bbbb.cccc", NULL, "msg");
    EXPECT(&run, REASON_MALFORMED_PASSPORT);
    s_done(&run);
    /* A signature segment one octet short. */
    tok = s_sign(&fx, NULL);
    n = strlen(tok);
    bad = sg_strndup(tok, n - 2);
    s_input(&run, bad, NULL, "msg");
    EXPECT(&run, REASON_MALFORMED_PASSPORT);
    s_done(&run);
    free(bad);
    /* Compact msg PASSporT: cannot be rebuilt (DESIGN.md 3.2). */
    bad = fx_concat("..", strrchr(tok, '.') + 1);
    s_input(&run, bad, NULL, "msg");
    EXPECT(&run, REASON_MALFORMED_PASSPORT);
    s_done(&run);
    free(bad);
    free(tok);
    fx_fini(&fx);
}

/* A token with a hand-made header and payload and a signature by `key`. */
static char *
s_raw_token(verify_key_t *key, const char *header, const char *payload)
{
    size_t hl = strlen(header), pl = strlen(payload);
    char *buf =
        malloc(proto_b64url_enc_len(hl) + proto_b64url_enc_len(pl) + 2 + 90);
    uint8_t sig[64];
    size_t o;

    o = proto_b64url_encode((const uint8_t *)header, hl, buf);
    buf[o++] = '.';
    o += proto_b64url_encode((const uint8_t *)payload, pl, buf + o);
    if (verify_es256_sign(key, buf, o, sig) != SG_OK) {
        free(buf);
        return NULL;
    }
    buf[o++] = '.';
    proto_b64url_encode(sig, 64, buf + o);
    return buf;
}

#define HDR_MSG                                                                \
    "{\"alg\":\"ES256\",\"ppt\":\"msg\",\"typ\":\"passport\",\"x5u\":"         \
    "\"" FX_X5U "\"}"
#define PAYLOAD(extra)                                                         \
    "{\"dest\":{\"tn\":[\"" FX_DEST "\"]},\"iat\":1700000000," extra           \
    "\"orig\":{\"tn\":\"" FX_ORIG "\"}}"

TU_TEST(verify_passport_unsupported_alg)
{
    fx_t fx;
    run_t run;
    char *tok;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_raw_token(fx.signer,
                      "{\"alg\":\"ES384\",\"ppt\":\"msg\",\"typ\":\"passport\","
                      "\"x5u\":\"" FX_X5U "\"}",
                      PAYLOAD(""));
    TU_REQUIRE(tok != NULL);
    s_input(&run, tok, NULL, "msg");
    EXPECT(&run, REASON_UNSUPPORTED_ALG);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

TU_TEST(verify_passport_info_mismatch)
{
    fx_t fx;
    run_t run;
    char *tok;
    sign_opts shaken = {.ppt = "shaken"};

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_sign(&fx, NULL);
    /* info differs from x5u by one character (no normalization). */
    s_input(&run, tok, "https://cert.example.org/leaf.pem?", "msg");
    EXPECT(&run, REASON_INFO_MISMATCH);
    s_done(&run);
    s_input(&run, tok, "https://CERT.example.org/leaf.pem", "msg");
    EXPECT(&run, REASON_INFO_MISMATCH);
    s_done(&run);
    /* Identity ppt absent, header ppt msg. */
    s_input(&run, tok, NULL, NULL);
    EXPECT(&run, REASON_INFO_MISMATCH);
    s_done(&run);
    free(tok);
    /* Header ppt shaken, Identity ppt msg. */
    tok = s_sign(&fx, &shaken);
    s_input(&run, tok, NULL, "msg");
    EXPECT(&run, REASON_INFO_MISMATCH);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

TU_TEST(verify_passport_orig_dest_mismatch)
{
    fx_t fx;
    run_t run;
    char *tok;
    proto_ident_t two[2];

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    snprintf(run.orig.value, sizeof(run.orig.value), "12155551213");
    EXPECT(&run, REASON_ORIG_MISMATCH);
    /* Same string, other kind. */
    snprintf(run.orig.value, sizeof(run.orig.value), "%s", FX_ORIG);
    run.orig.kind = PROTO_IDENT_URI;
    EXPECT(&run, REASON_ORIG_MISMATCH);
    run.orig.kind = PROTO_IDENT_TN;
    EXPECT(&run, REASON_OK);
    snprintf(run.dest.value, sizeof(run.dest.value), "12155550000");
    EXPECT(&run, REASON_DEST_MISMATCH);
    /* Two signaling dests, one listed. */
    two[0] = run.dest;
    snprintf(two[0].value, sizeof(two[0].value), "%s", FX_DEST);
    two[1] = two[0];
    snprintf(two[1].value, sizeof(two[1].value), "12155550001");
    run.in.dest = two;
    run.in.n_dest = 2;
    EXPECT(&run, REASON_DEST_MISMATCH);
    run.in.n_dest = 1;
    EXPECT(&run, REASON_OK);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

TU_TEST(verify_passport_chain_provider_reasons)
{
    fx_t fx;
    run_t run;
    char *tok;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    fx.fetch_reason = REASON_X5U_POLICY;
    EXPECT(&run, REASON_X5U_POLICY);
    TU_STREQ(run.res.fingerprint, "");
    fx.fetch_reason = REASON_X5U_FETCH_FAILED;
    EXPECT(&run, REASON_X5U_FETCH_FAILED);
    fx.fetch_reason = REASON_OK;
    EXPECT(&run, REASON_OK);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

TU_TEST(verify_passport_bad_signature)
{
    fx_t fx, other;
    run_t run;
    char *tok;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    TU_REQUIRE(fx_init(&other, NULL) == 0);
    /* Signed by another key for the same x5u. */
    tok = s_sign(&other, NULL);
    s_input(&run, tok, NULL, "msg");
    EXPECT(&run, REASON_BAD_SIGNATURE);
    TU_CHECK(run.res.fingerprint[0] != '\0');
    s_done(&run);
    free(tok);
    /* One signature character changed. */
    tok = s_sign(&fx, NULL);
    {
        char *sig = strrchr(tok, '.') + 10;
        *sig = *sig == 'A' ? 'B' : 'A';
    }
    s_input(&run, tok, NULL, "msg");
    EXPECT(&run, REASON_BAD_SIGNATURE);
    s_done(&run);
    free(tok);
    TU_CHECK(ERR_peek_error() == 0);
    fx_fini(&fx);
    fx_fini(&other);
}

TU_TEST(verify_passport_msgi)
{
    fx_t fx;
    run_t run;
    char *tok;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    run.in.body = (const uint8_t *)"Hello, world?";
    EXPECT(&run, REASON_MSGI_MISMATCH);
    TU_INTEQ(run.res.msgi, VERIFY_MSGI_MISMATCH);
    s_done(&run);
    free(tok);
    tok = s_raw_token(fx.signer, HDR_MSG,
                      PAYLOAD("\"msgi\":\"md5-CY9rzUYh03PK3k6DJie09g==\","));
    s_input(&run, tok, NULL, "msg");
    EXPECT(&run, REASON_MSGI_UNSUPPORTED_ALG);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

TU_TEST(verify_passport_claim_constraint)
{
    /* STIR.md T7's eJWTClaimConstraints: mustInclude confidence. */
    static const char hex[] =
        "3040a00e300c160a636f6e666964656e6365a120301e301c160a636f6e666964"
        "656e6365300e0c04686967680c066d656469756da20c300a16087072696f7269"
        "7479";
    uint8_t der[128];
    long n = tu_unhex(hex, der, sizeof(der));
    fx_opts o = {.jcc_der = der, .jcc_enhanced = 1};
    fx_t fx;
    run_t run;
    char *tok;

    TU_REQUIRE(n > 0);
    o.jcc_len = (size_t)n;
    TU_REQUIRE(fx_init(&fx, &o) == 0);
    TU_INTEQ(fx.chain_reason, REASON_OK);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    EXPECT(&run, REASON_CLAIM_CONSTRAINT);
    s_done(&run);
    free(tok);
    tok = s_raw_token(fx.signer, HDR_MSG, PAYLOAD("\"confidence\":\"high\","));
    s_input(&run, tok, NULL, "msg");
    run.in.have_body = 0;
    EXPECT(&run, REASON_OK);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

TU_TEST(verify_passport_cert_untrusted)
{
    fx_t fx, other;
    run_t run;
    char *tok, *leaf_pem;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    TU_REQUIRE(fx_init(&other, NULL) == 0);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    /* Unknown root. */
    verify_trust_destroy(&fx.trust);
    fx.trust = other.trust;
    other.trust = NULL;
    fx.ctx.trust = fx.trust;
    fx_rebuild(&fx);
    EXPECT(&run, REASON_CERT_UNTRUSTED);
    /* Back to our root, but without the intermediate. */
    TU_REQUIRE(verify_trust_add_ca_pem(fx.trust, fx.root_pem,
                                       strlen(fx.root_pem), NULL, 0) == SG_OK);
    fx_rebuild(&fx);
    EXPECT(&run, REASON_OK);
    leaf_pem = verify_pki_cert_pem(fx.leaf);
    free(fx.chain_pem);
    fx.chain_pem = leaf_pem;
    fx_rebuild(&fx);
    EXPECT(&run, REASON_CERT_UNTRUSTED);
    /* An empty PEM gives no chain: this provider calls that a fetch
     * failure (the garbage case is the next test). */
    fx.chain_pem[0] = '\0';
    fx_rebuild(&fx);
    TU_CHECK(fx.chain == NULL);
    EXPECT(&run, REASON_X5U_FETCH_FAILED);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
    fx_fini(&other);
}

/* A provider like the CLI's: it builds the chain and returns its verdict. */
static proto_reason
s_garbage_chain(void *arg, const char *x5u, verify_chain_t **chain)
{
    fx_t *fx = arg;
    static const char garbage[] = "-----BEGIN CERTIFICATE-----\n!!\n"
                                  "-----END CERTIFICATE-----\n";
    char d[100];

    (void)x5u;
    verify_chain_destroy(&fx->chain);
    return verify_chain_build(fx->trust, garbage, sizeof(garbage) - 1, chain, d,
                              sizeof(d));
}

TU_TEST(verify_passport_cert_untrusted_garbage)
{
    fx_t fx;
    run_t run;
    char *tok;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    fx.ctx.get_chain = s_garbage_chain;
    EXPECT(&run, REASON_CERT_UNTRUSTED);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

TU_TEST(verify_passport_cert_expired)
{
    fx_opts expired = {.leaf_nb = FX_IAT - 30 * FX_DAY, .leaf_na = FX_IAT - 1};
    fx_opts future = {.leaf_nb = FX_IAT + 1, .leaf_na = FX_IAT + FX_DAY};
    fx_opts inter = {.inter_nb = FX_IAT - 100 * FX_DAY,
                     .inter_na = FX_IAT - FX_DAY};
    const fx_opts *cases[] = {&expired, &future, &inter};
    size_t i;

    for (i = 0; i < SG_NELEM(cases); i++) {
        fx_t fx;
        run_t run;
        char *tok;

        TU_REQUIRE(fx_init(&fx, cases[i]) == 0);
        /* Time is not part of path validation. */
        TU_INTEQ(fx.chain_reason, REASON_OK);
        tok = s_sign(&fx, NULL);
        s_input(&run, tok, NULL, "msg");
        EXPECT(&run, REASON_CERT_EXPIRED);
        s_done(&run);
        free(tok);
        fx_fini(&fx);
    }
}

TU_TEST(verify_passport_cert_revoked)
{
    fx_opts o = {.leaf_serial = 1234567};
    const uint64_t serial = 1234567;
    fx_t fx;
    run_t run;
    X509_CRL *crl;
    char *tok, *pem;

    TU_REQUIRE(fx_init(&fx, &o) == 0);
    crl = verify_pki_crl(fx.inter, fx.inter_key, &serial, 1, FX_IAT,
                         FX_IAT + FX_DAY);
    pem = verify_pki_crl_pem(crl);
    TU_REQUIRE(verify_trust_add_crl_pem_der(fx.trust, (const uint8_t *)pem,
                                            strlen(pem), NULL, 0) == SG_OK);
    fx_rebuild(&fx);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    EXPECT(&run, REASON_CERT_REVOKED);
    s_done(&run);
    free(tok);
    free(pem);
    X509_CRL_free(crl);
    fx_fini(&fx);
}

TU_TEST(verify_passport_tn_not_authorized)
{
    fx_opts narrow = {.inter_range = "12155551000", .inter_count = 100};
    fx_opts spc = {.leaf_spc = "1234"};
    sign_opts outside = {.orig = "12155552000"};
    sign_opts in_leaf_only = {.orig = "12155551500"};
    sign_opts uri = {.orig = "sip:alice@example.com", .orig_uri = 1};
    fx_t fx;
    run_t run;
    char *tok, path[300];

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    tok = s_sign(&fx, &outside);
    s_input(&run, tok, NULL, "msg");
    run.in.orig = NULL;
    EXPECT(&run, REASON_TN_NOT_AUTHORIZED);
    s_done(&run);
    free(tok);
    tok = s_sign(&fx, &uri);
    s_input(&run, tok, NULL, "msg");
    run.in.orig = NULL;
    EXPECT(&run, REASON_TN_NOT_AUTHORIZED);
    s_done(&run);
    free(tok);
    fx_fini(&fx);

    /* The intermediate's narrower list limits the leaf's. */
    TU_REQUIRE(fx_init(&fx, &narrow) == 0);
    tok = s_sign(&fx, &in_leaf_only);
    s_input(&run, tok, NULL, "msg");
    run.in.orig = NULL;
    EXPECT(&run, REASON_TN_NOT_AUTHORIZED);
    s_done(&run);
    free(tok);
    fx_fini(&fx);

    /* SPC-only leaf: any TN without a map; the map decides with one. */
    TU_REQUIRE(fx_init(&fx, &spc) == 0);
    tok = s_sign(&fx, NULL);
    s_input(&run, tok, NULL, "msg");
    EXPECT(&run, REASON_OK);
    snprintf(path, sizeof(path), "%s/spc-map.json", tu_tmpdir());
    TU_REQUIRE(verify_pki_write_file(
                   path,
                   "{\"1234\": [{\"start\": \"12025550000\", \"count\": 10}]}",
                   0644) == SG_OK);
    TU_REQUIRE(verify_trust_load_spc_map(fx.trust, path, NULL, 0) == SG_OK);
    EXPECT(&run, REASON_TN_NOT_AUTHORIZED);
    TU_REQUIRE(verify_pki_write_file(
                   path,
                   "{\"1234\": [{\"start\": \"12155551200\", \"count\": 20}]}",
                   0644) == SG_OK);
    TU_REQUIRE(verify_trust_load_spc_map(fx.trust, path, NULL, 0) == SG_OK);
    EXPECT(&run, REASON_OK);
    s_done(&run);
    free(tok);
    fx_fini(&fx);
}

/* Compact form of a base PASSporT, rebuilt from signaling (RFC 8225 s7). */
TU_TEST(verify_passport_compact_form)
{
    fx_t fx;
    run_t run;
    proto_ident_t orig = {PROTO_IDENT_TN, FX_ORIG};
    proto_ident_t dest = {PROTO_IDENT_TN, FX_DEST};
    char *input, *full, *compact;
    uint8_t sig[64];

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    input = proto_passport_signing_input(FX_X5U, NULL, &orig, &dest, 1, FX_IAT,
                                         NULL);
    TU_REQUIRE(input != NULL);
    TU_REQUIRE(verify_es256_sign(fx.signer, input, strlen(input), sig) ==
               SG_OK);
    full = proto_passport_assemble(input, sig);
    compact = fx_concat("..", strrchr(full, '.') + 1);
    s_input(&run, compact, NULL, NULL);
    run.in.date = FX_IAT;
    run.in.now = FX_IAT + 5;
    EXPECT(&run, REASON_OK);
    /* The Date gives iat: another Date, another signing input. */
    run.in.date = FX_IAT + 1;
    EXPECT(&run, REASON_BAD_SIGNATURE);
    /* Without signaling, nothing to rebuild from. */
    run.in.orig = NULL;
    EXPECT(&run, REASON_MALFORMED_PASSPORT);
    s_done(&run);
    free(input);
    free(full);
    free(compact);
    fx_fini(&fx);
}

TU_TEST(verify_passport_sign_refuses)
{
    fx_t fx;
    proto_ident_t orig = {PROTO_IDENT_TN, FX_ORIG};
    verify_key_t *pub;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    TU_CHECK(verify_sign_passport(fx.signer, FX_X5U, NULL, &orig, NULL, 0,
                                  FX_IAT, NULL, 0) == NULL);
    /* The chain's leaf key came from PEM: public only. */
    pub = verify_chain_get0_key(fx.chain);
    TU_REQUIRE(pub != NULL);
    TU_CHECK(!verify_key_is_private(pub));
    TU_CHECK(verify_sign_passport(pub, FX_X5U, NULL, &orig, &orig, 1, FX_IAT,
                                  NULL, 0) == NULL);
    fx_fini(&fx);
}

/*
 * Regression: the dest check looked every signaling recipient up linearly
 * in the signed dest list, quadratic in hostile input (up to ~800 signed
 * entries fit a token, and the API allows many recipients).  It now sorts
 * once and searches; this test checks the answers on a full-size list
 * (the cost is for bench/, never asserted here): all 800 found in reverse
 * order, and the one missing recipient named.
 */
TU_TEST(verify_passport_many_dest_not_quadratic)
{
    enum { N = 800 };
    fx_t fx;
    run_t run;
    proto_ident_t orig, *dest = calloc(N, sizeof(*dest)), *rev;
    char *tok;
    int round, fails = 0;
    size_t i;

    TU_REQUIRE(dest != NULL && fx_init(&fx, NULL) == 0);
    rev = calloc(N, sizeof(*rev));
    TU_REQUIRE(rev != NULL);
    orig.kind = PROTO_IDENT_TN;
    snprintf(orig.value, sizeof(orig.value), "%s", FX_ORIG);
    for (i = 0; i < N; i++) {
        dest[i].kind = PROTO_IDENT_TN;
        snprintf(dest[i].value, sizeof(dest[i].value), "1215555%04zu", i);
        rev[N - 1 - i] = dest[i];
    }
    tok = verify_sign_passport(fx.signer, FX_X5U, NULL, &orig, dest, N, FX_IAT,
                               NULL, 0);
    TU_REQUIRE(tok != NULL);
    s_input(&run, tok, NULL, "msg");
    run.in.have_body = 0;
    run.in.dest = rev;
    for (round = 0; round < 2; round++) {
        run.in.n_dest = round == 0 ? 1 : N;
        fails += s_run(&fx, &run) != REASON_OK;
    }
    TU_INTEQ(fails, 0);
    /* The last signaling dest missing is still found. */
    snprintf(rev[N - 1].value, sizeof(rev[N - 1].value), "12155559999");
    TU_INTEQ(s_run(&fx, &run), REASON_DEST_MISMATCH);
    TU_CHECK(strstr(run.res.detail, "12155559999") != NULL);
    s_done(&run);
    free(tok);
    free(dest);
    free(rev);
    fx_fini(&fx);
}
