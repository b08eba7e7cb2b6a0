/*
 * tests/unit/test_ingest_policy.c - the decisions of the ingest stage
 * (ingest/ingest_policy.h), table by table.
 */
#include "ingest/ingest_policy.h"
#include "tu.h"

#include <stdio.h>
#include <stdlib.h>

static conf_peer_t
s_peer(int kind, int on_failure, int on_fetch, int require)
{
    conf_peer_t p;

    memset(&p, 0, sizeof(p));
    p.name = "p";
    p.kind = kind;
    p.on_failure = on_failure;
    p.on_fetch_failure = on_fetch;
    p.require_identity = require;
    return p;
}

TU_TEST(ingest_policy_role_by_kind)
{
    conf_peer_t c = s_peer(CONF_PEER_CUSTOMER, 0, 0, 0);
    conf_peer_t i = s_peer(CONF_PEER_INTERCONNECT, 0, 0, 0);

    TU_INTEQ(ingest_policy_role(&c), INGEST_ROLE_SIGN);
    TU_INTEQ(ingest_policy_role(&i), INGEST_ROLE_VERIFY);
}

/* Explicit rows: reason x policy -> action, SIP, HTTP, envelope verdict. */
TU_TEST(ingest_policy_verdict_rows)
{
    static const struct {
        proto_reason r;
        int on_failure, on_fetch, require;
        ingest_act_kind kind;
        int sip;
        const char *text;
        int http;
        uint8_t verstat, flags;
        int reason_header;
    } rows[] = {
        {REASON_OK, CONF_FAIL_REJECT, CONF_FETCH_REJECT, 1, INGEST_ACT_STORE,
         202, "Accepted", 202, PROTO_MSG_VERSTAT_PASSED, 0, 0},
        {REASON_NO_IDENTITY, CONF_FAIL_REJECT, CONF_FETCH_REJECT, 1,
         INGEST_ACT_REJECT, 428, "Use Identity Header", 403,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
        {REASON_NO_IDENTITY, CONF_FAIL_REJECT, CONF_FETCH_REJECT, 0,
         INGEST_ACT_STORE, 202, "Accepted", 202, PROTO_MSG_VERSTAT_NONE, 0, 0},
        {REASON_UNSUPPORTED_PPT, CONF_FAIL_REJECT, CONF_FETCH_DEFER, 0,
         INGEST_ACT_REJECT, 428, "Use Supported PASSporT Format", 403,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
        {REASON_BAD_SIGNATURE, CONF_FAIL_REJECT, CONF_FETCH_DEFER, 0,
         INGEST_ACT_REJECT, 438, "Invalid Identity Header", 403,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
        {REASON_BAD_SIGNATURE, CONF_FAIL_CONTINUE, CONF_FETCH_DEFER, 0,
         INGEST_ACT_STORE_FAILED, 202, "Accepted", 202,
         PROTO_MSG_VERSTAT_FAILED, 0, 1},
        {REASON_MSGI_MISMATCH, CONF_FAIL_REJECT, CONF_FETCH_DEFER, 0,
         INGEST_ACT_REJECT, 438, "Invalid Identity Header", 403,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
        {REASON_MALFORMED_PASSPORT, CONF_FAIL_REJECT, CONF_FETCH_DEFER, 0,
         INGEST_ACT_REJECT, 438, "Invalid PASSporT", 403,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
        {REASON_STALE, CONF_FAIL_REJECT, CONF_FETCH_DEFER, 0, INGEST_ACT_REJECT,
         403, "Stale Date", 403, PROTO_MSG_VERSTAT_FAILED, 0, 0},
        {REASON_CERT_UNTRUSTED, CONF_FAIL_REJECT, CONF_FETCH_DEFER, 0,
         INGEST_ACT_REJECT, 437, "Unsupported Credential", 403,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
        {REASON_X5U_POLICY, CONF_FAIL_REJECT, CONF_FETCH_DEFER, 0,
         INGEST_ACT_REJECT, 436, "Bad Identity Info", 403,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
        {REASON_X5U_FETCH_FAILED, CONF_FAIL_REJECT, CONF_FETCH_REJECT, 0,
         INGEST_ACT_REJECT, 436, "Bad Identity Info", 503,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
        {REASON_X5U_FETCH_FAILED, CONF_FAIL_REJECT, CONF_FETCH_CONTINUE, 0,
         INGEST_ACT_STORE_FAILED, 202, "Accepted", 202,
         PROTO_MSG_VERSTAT_FAILED, 0, 1},
        {REASON_X5U_FETCH_FAILED, CONF_FAIL_REJECT, CONF_FETCH_DEFER, 0,
         INGEST_ACT_STORE_DEFERRED, 202, "Accepted", 202,
         PROTO_MSG_VERSTAT_NONE, PROTO_MSG_F_DEFERRED, 0},
        /* on_failure does not decide a transient failure... */
        {REASON_X5U_FETCH_FAILED, CONF_FAIL_CONTINUE, CONF_FETCH_REJECT, 0,
         INGEST_ACT_REJECT, 436, "Bad Identity Info", 503,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
        /* ...and on_fetch_failure no permanent one. */
        {REASON_TN_NOT_AUTHORIZED, CONF_FAIL_REJECT, CONF_FETCH_DEFER, 0,
         INGEST_ACT_REJECT, 437, "Unsupported Credential", 403,
         PROTO_MSG_VERSTAT_FAILED, 0, 0},
    };

    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        conf_peer_t p = s_peer(CONF_PEER_INTERCONNECT, rows[i].on_failure,
                               rows[i].on_fetch, rows[i].require);
        ingest_action_t a;

        ingest_policy_verdict(&p, rows[i].r, &a);
        TU_INTEQ(a.kind, rows[i].kind);
        TU_INTEQ(a.reason, rows[i].r);
        TU_INTEQ(a.sip_code, rows[i].sip);
        TU_STREQ(a.sip_text, rows[i].text);
        TU_INTEQ(a.http_status, rows[i].http);
        TU_INTEQ(a.verstat, rows[i].verstat);
        TU_INTEQ(a.flags, rows[i].flags);
        TU_INTEQ(a.reason_header, rows[i].reason_header);
        if (a.kind == INGEST_ACT_REJECT)
            TU_STREQ(a.api_reason, proto_reason_name(rows[i].r));
        else
            TU_CHECK(a.api_reason == NULL);
    }
}

/* Every reason under every policy: a rejection always carries the STIR
 * code of DESIGN.md section 5; nothing else is ever a 4xx. */
TU_TEST(ingest_policy_verdict_every_reason)
{
    for (int r = 0; r < REASON__COUNT; r++)
        for (int f = 0; f <= CONF_FAIL_CONTINUE; f++)
            for (int x = 0; x <= CONF_FETCH_DEFER; x++)
                for (int q = 0; q <= 1; q++) {
                    conf_peer_t p = s_peer(CONF_PEER_INTERCONNECT, f, x, q);
                    const proto_reason_info *ri = proto_reason_get(r);
                    ingest_action_t a;

                    ingest_policy_verdict(&p, (proto_reason)r, &a);
                    if (a.kind == INGEST_ACT_REJECT) {
                        TU_INTEQ(a.sip_code, ri->sip_code);
                        TU_CHECK(a.sip_code == 403 || a.sip_code == 428 ||
                                 a.sip_code == 436 || a.sip_code == 437 ||
                                 a.sip_code == 438);
                        TU_INTEQ(a.http_status, ri->transient ? 503 : 403);
                    } else {
                        TU_INTEQ(a.sip_code, 202);
                        TU_INTEQ(a.http_status, 202);
                    }
                    if (r == REASON_OK)
                        TU_INTEQ(a.kind, INGEST_ACT_STORE);
                    if (a.kind == INGEST_ACT_STORE_DEFERRED)
                        TU_INTEQ(r, REASON_X5U_FETCH_FAILED);
                    /* A Reason header exactly when a failure is stored. */
                    TU_INTEQ(a.reason_header,
                             a.kind == INGEST_ACT_STORE_FAILED);
                }
}

TU_TEST(ingest_policy_reason_header_rfc9410)
{
    char b[160];

    TU_STREQ(ingest_policy_reason_header(REASON_MSGI_MISMATCH, b, sizeof(b)),
             "Reason: STIR ;cause=438 ;text=\"Invalid Identity Header\"\r\n");
    TU_STREQ(ingest_policy_reason_header(REASON_X5U_FETCH_FAILED, b, sizeof(b)),
             "Reason: STIR ;cause=436 ;text=\"Bad Identity Info\"\r\n");
    TU_STREQ(ingest_policy_reason_header(REASON_STALE, b, sizeof(b)),
             "Reason: STIR ;cause=403 ;text=\"Stale Date\"\r\n");
    TU_STREQ(ingest_policy_reason_header(REASON_OK, b, sizeof(b)), "");
}

TU_TEST(ingest_policy_rank_order)
{
    int seen[64] = {0};

    for (int r = 0; r < REASON__COUNT; r++) {
        int k = ingest_policy_rank((proto_reason)r);
        TU_CHECK(k > 0 && k < 64);
        TU_CHECK(!seen[k]); /* a strict order: no ties */
        seen[k] = 1;
    }
    TU_CHECK(ingest_policy_rank(REASON_OK) >
             ingest_policy_rank(REASON_X5U_FETCH_FAILED));
    TU_CHECK(ingest_policy_rank(REASON_X5U_FETCH_FAILED) >
             ingest_policy_rank(REASON_MSGI_MISMATCH));
    TU_CHECK(ingest_policy_rank(REASON_MSGI_MISMATCH) >
             ingest_policy_rank(REASON_BAD_SIGNATURE));
    TU_CHECK(ingest_policy_rank(REASON_BAD_SIGNATURE) >
             ingest_policy_rank(REASON_MALFORMED_PASSPORT));
    TU_CHECK(ingest_policy_rank(REASON_MALFORMED_IDENTITY) >
             ingest_policy_rank(REASON_UNSUPPORTED_PPT));
}

TU_TEST(ingest_policy_unauthorized_choices)
{
    conf_peer_t p = s_peer(CONF_PEER_CUSTOMER, 0, 0, 0);
    ingest_action_t a;

    p.unauthorized = CONF_UNAUTH_REJECT;
    ingest_policy_unauthorized(&p, &a);
    TU_INTEQ(a.kind, INGEST_ACT_REJECT);
    TU_INTEQ(a.sip_code, 403);
    TU_INTEQ(a.http_status, 403);
    TU_STREQ(a.api_reason, INGEST_R_NOT_AUTHORIZED);

    p.unauthorized = CONF_UNAUTH_PASS_UNSIGNED;
    ingest_policy_unauthorized(&p, &a);
    TU_INTEQ(a.kind, INGEST_ACT_STORE);
    TU_INTEQ(a.sip_code, 202);
    TU_INTEQ(a.verstat, PROTO_MSG_VERSTAT_NONE);
    TU_INTEQ(a.reason, REASON_TN_NOT_AUTHORIZED);

    ingest_policy_signed(&a);
    TU_INTEQ(a.kind, INGEST_ACT_STORE);
    TU_INTEQ(a.verstat, PROTO_MSG_VERSTAT_PASSED);
}

TU_TEST(ingest_policy_numbers)
{
    conf_range_t r[2] = {{"12025550000", 100}, {"99999999999", 1000}};
    conf_peer_t p = s_peer(CONF_PEER_CUSTOMER, 0, 0, 0);

    p.numbers.items = r;
    p.numbers.n = 2;
    TU_CHECK(ingest_policy_numbers_cover(&p, "12025550000"));
    TU_CHECK(ingest_policy_numbers_cover(&p, "12025550099"));
    TU_CHECK(!ingest_policy_numbers_cover(&p, "12025550100"));
    TU_CHECK(!ingest_policy_numbers_cover(&p, "12025549999"));
    TU_CHECK(!ingest_policy_numbers_cover(&p, "1202555009"));   /* shorter */
    TU_CHECK(!ingest_policy_numbers_cover(&p, "120255500001")); /* longer */
    TU_CHECK(!ingest_policy_numbers_cover(&p, "*67#"));
    /* A range running past the last number of its length stops there. */
    TU_CHECK(ingest_policy_numbers_cover(&p, "99999999999"));
    p.numbers.n = 0;
    TU_CHECK(!ingest_policy_numbers_cover(&p, "12025550000"));
}

static ingest_str_t
s_str(const char *s)
{
    ingest_str_t v = {s, s ? strlen(s) : 0};
    return v;
}

TU_TEST(ingest_policy_originator_choice)
{
    conf_peer_t p = s_peer(CONF_PEER_CUSTOMER, 0, 0, 0);
    ingest_str_t pai[2] = {s_str("<sip:alice@example.com>"),
                           s_str("<tel:+1-202-555-0100>")};
    ingest_str_t from = s_str("\"Bob\" <sip:+12025550001@gw.example.net>;"
                              "tag=1");
    proto_ident_t id;

    /* Not trusted: From, whatever PAI says. */
    TU_CHECK(ingest_policy_originator(&p, pai, 2, from, "1", &id) == NULL);
    TU_INTEQ(id.kind, PROTO_IDENT_TN);
    TU_STREQ(id.value, "12025550001");
    /* Trusted: the PAI TN wins over the PAI URI. */
    p.trust_pai = 1;
    TU_CHECK(ingest_policy_originator(&p, pai, 2, from, "1", &id) == NULL);
    TU_INTEQ(id.kind, PROTO_IDENT_TN);
    TU_STREQ(id.value, "12025550100");
    /* Trusted, only a URI: the URI. */
    TU_CHECK(ingest_policy_originator(&p, pai, 1, from, "1", &id) == NULL);
    TU_INTEQ(id.kind, PROTO_IDENT_URI);
    TU_STREQ(id.value, "sip:alice@example.com");
    /* Trusted but no PAI: From. */
    TU_CHECK(ingest_policy_originator(&p, NULL, 0, from, "1", &id) == NULL);
    TU_STREQ(id.value, "12025550001");
    /* National number with the default country code. */
    p.trust_pai = 0;
    TU_CHECK(ingest_policy_originator(&p, NULL, 0, s_str("2025550001"), "1",
                                      &id) == NULL);
    TU_STREQ(id.value, "12025550001");
    TU_CHECK(ingest_policy_originator(&p, NULL, 0, s_str(""), "1", &id) !=
             NULL);
}

TU_TEST(ingest_policy_destination_choice)
{
    proto_ident_t id;

    TU_CHECK(ingest_policy_destination(s_str("sip:+12025551234@gw;user=phone"),
                                       s_str("<sip:+19995550000@x>"), "1",
                                       &id) == NULL);
    TU_STREQ(id.value, "12025551234");
    /* No user part in the Request-URI: To. */
    TU_CHECK(ingest_policy_destination(s_str("sip:gw.example.com"),
                                       s_str("<sip:+19995550000@x>"), "1",
                                       &id) == NULL);
    TU_STREQ(id.value, "19995550000");
    TU_CHECK(ingest_policy_destination(s_str("tel:+12025551234"),
                                       s_str("<sip:+19995550000@x>"), "1",
                                       &id) == NULL);
    TU_STREQ(id.value, "12025551234");
    TU_CHECK(ingest_policy_destination(s_str("sip:gw.example.com"), s_str(NULL),
                                       "1", &id) != NULL);
}

static char *
s_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    return out;
}

TU_TEST(ingest_policy_replay_keys)
{
    proto_ident_t d1 = {PROTO_IDENT_TN, "12025551234"};
    proto_ident_t d2 = {PROTO_IDENT_TN, "12025551235"};
    uint8_t a[32], b[32];
    char hex[65];

    /* Golden values: a changed encoding would make every key in a
     * running store's window miss its duplicates. */
    ingest_policy_replay_signed("aaa.bbb", 7, &d1, a);
    TU_STREQ(s_hex(a, 32, hex), "e63183e64ecbfde76b6412a6512cba64"
                                "2cdeaa9b83591d03ff3f294418828070");
    ingest_policy_replay_unsigned("peer", "call-1 7", 8, &d1, a);
    TU_STREQ(s_hex(a, 32, hex), "d46ef7e42b9ef20221b63f44cdea3363"
                                "bdec163a7cf69fce56004571737ed301");

    /* Each recipient its own key; every input byte counts. */
    ingest_policy_replay_signed("aaa.bbb", 7, &d1, a);
    ingest_policy_replay_signed("aaa.bbb", 7, &d2, b);
    TU_CHECK(memcmp(a, b, 32) != 0);
    ingest_policy_replay_signed("aaa.bbc", 7, &d1, b);
    TU_CHECK(memcmp(a, b, 32) != 0);
    /* Length-prefixed: moving a byte between fields changes the key. */
    ingest_policy_replay_unsigned("peer", "x", 1, &d1, a);
    ingest_policy_replay_unsigned("pee", "rx", 2, &d1, b);
    TU_CHECK(memcmp(a, b, 32) != 0);
    /* Signed and unsigned never collide on the same text. */
    ingest_policy_replay_signed("x", 1, &d1, a);
    ingest_policy_replay_unsigned("", "x", 1, &d1, b);
    TU_CHECK(memcmp(a, b, 32) != 0);
}
