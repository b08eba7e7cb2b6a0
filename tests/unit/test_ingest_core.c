/*
 * tests/unit/test_ingest_core.c - the ingest pipeline (ingest_core.h)
 * without sockets: a PKI made per test (test_verify_pkifx.h), a fake store
 * link that records every STORE, a chain lookup that answers from a table
 * (at once, or later like a fetch), and an injected monotonic clock.
 */
#include "ingest/ingest_core.h"
#include "proto/proto_identity.h"
#include "proto/proto_msg.h"
#include "test_verify_pkifx.h"
#include "tu.h"

#define S_MAX_SENT 16

typedef struct {
    fx_t fx;
    conf_t conf;
    conf_peer_t peers[3];
    ingest_core_t *core;
    /* the store link */
    int refuse_send;
    size_t nsent;
    uint64_t corr[S_MAX_SENT];
    uint8_t *env[S_MAX_SENT];
    size_t envlen[S_MAX_SENT];
    /* the chain lookup */
    int pending;       /* next lookups need the network */
    proto_reason fail; /* != OK: the lookup answers this */
    ingest_lookup_done_fn done;
    void *done_arg;
    int ndone;
    /* the answer */
    int answered;
    int sip, http;
    char reason_hdr[160];
    char api_reason[64];
    uint32_t retry_after;
    size_t n;
    char ids[4][PROTO_MSG_ID_HEX];
} s_t;

static uint64_t s_mono;

static uint64_t
s_clock(void)
{
    return s_mono;
}

static int
s_send(void *arg, uint64_t corr, const uint8_t *env, size_t len)
{
    s_t *t = arg;

    if (t->refuse_send || t->nsent == S_MAX_SENT)
        return -1;
    t->corr[t->nsent] = corr;
    t->env[t->nsent] = sg_memdup(env, len);
    t->envlen[t->nsent] = len;
    t->nsent++;
    return 0;
}

static int
s_lookup(void *arg, const char *url, ingest_lookup_done_fn done, void *done_arg,
         proto_reason *reason, verify_chain_t **chain)
{
    s_t *t = arg;

    if (t->pending) {
        t->done = done;
        t->done_arg = done_arg;
        t->ndone++;
        return 0;
    }
    *chain = NULL;
    *reason = t->fail;
    if (t->fail == REASON_OK) {
        if (strcmp(url, FX_X5U) != 0) {
            *reason = REASON_X5U_FETCH_FAILED;
            return 1;
        }
        *chain = t->fx.chain;
    }
    return 1;
}

static void
s_done(void *arg, const ingest_outcome_t *o)
{
    s_t *t = arg;

    t->answered++;
    t->sip = o->sip_code;
    t->http = o->http_status;
    snprintf(t->reason_hdr, sizeof(t->reason_hdr), "%s",
             o->reason_hdr ? o->reason_hdr : "");
    snprintf(t->api_reason, sizeof(t->api_reason), "%s",
             o->api_reason ? o->api_reason : "");
    t->retry_after = o->retry_after;
    t->n = o->n;
    for (size_t i = 0; i < o->n && i < 4; i++)
        snprintf(t->ids[i], sizeof(t->ids[i]), "%s", o->msgs[i].id);
}

static int
s_setup(s_t *t)
{
    ingest_core_opts_t o;

    memset(t, 0, sizeof(*t));
    if (fx_init(&t->fx, NULL) != 0)
        return -1;
    t->conf.verify_max_age = 60;
    t->conf.verify_max_future = 10;
    t->conf.sip_retry_after = 5;
    t->conf.default_cc = "1";
    t->peers[0].name = "cust";
    t->peers[0].kind = CONF_PEER_CUSTOMER;
    t->peers[1].name = "ic";
    t->peers[1].kind = CONF_PEER_INTERCONNECT;
    t->peers[1].require_identity = 1;
    t->peers[1].on_failure = CONF_FAIL_REJECT;
    t->peers[1].on_fetch_failure = CONF_FETCH_REJECT;
    t->peers[2].name = "lax";
    t->peers[2].kind = CONF_PEER_INTERCONNECT;
    t->peers[2].on_failure = CONF_FAIL_CONTINUE;
    t->peers[2].on_fetch_failure = CONF_FETCH_DEFER;
    t->conf.peers.items = t->peers;
    t->conf.peers.n = 3;
    s_mono = 1000000;
    memset(&o, 0, sizeof(o));
    o.conf = &t->conf;
    o.sign_key = t->fx.signer;
    o.sign_x5u = FX_X5U;
    o.own_chain = t->fx.chain;
    o.trust = t->fx.trust;
    o.lookup = s_lookup;
    o.lookup_arg = t;
    o.send = s_send;
    o.send_arg = t;
    o.store_timeout_ms = 5000;
    o.resend_ms = 1000;
    o.mono_ms = s_clock;
    t->core = ingest_core_new(&o);
    return t->core ? 0 : -1;
}

static void
s_teardown(s_t *t)
{
    ingest_core_destroy(&t->core);
    for (size_t i = 0; i < t->nsent; i++)
        sg_free(t->env[i]);
    fx_fini(&t->fx);
}

static ingest_str_t
s_str(const char *s)
{
    ingest_str_t v = {s, s ? strlen(s) : 0};
    return v;
}

/* An API-shaped submission from peer `p`. */
static ingest_submit_t
s_in(s_t *t, int p, const char *from, const ingest_str_t *to, size_t nto,
     const char *body, const ingest_str_t *ids, size_t nids)
{
    ingest_submit_t in;

    memset(&in, 0, sizeof(in));
    in.peer = &t->peers[p];
    in.from = s_str(from);
    in.to = to;
    in.nto = nto;
    in.content_type = s_str("text/plain");
    in.identity = ids;
    in.nidentity = nids;
    in.body = (const uint8_t *)body;
    in.body_len = strlen(body);
    in.received_ms = (uint64_t)FX_IAT * 1000 + 500;
    return in;
}

static void
s_reply(s_t *t, size_t i, proto_cmd cmd, uint32_t refused_code)
{
    proto_msg m;
    proto_wire_msg w;
    uint8_t b[64];

    TU_REQUIRE(proto_msg_decode(t->env[i], t->envlen[i], &m) == NULL);
    memset(&w, 0, sizeof(w));
    w.cmd = cmd;
    w.corr = t->corr[i];
    if (cmd == PROTO_CMD_STORED) {
        memcpy(b, m.id, PROTO_MSG_ID_LEN);
        w.body = b;
        w.body_len = PROTO_MSG_ID_LEN;
    } else {
        proto_refused r;
        memset(&r, 0, sizeof(r));
        r.code = refused_code;
        r.retry_after_ms = 9000;
        memcpy(r.id, m.id, PROTO_MSG_ID_LEN);
        w.body = b;
        w.body_len = proto_wire_refused_encode(&r, b, sizeof(b));
    }
    TU_CHECK(ingest_core_on_reply(t->core, &w) == 1);
}

static char *
s_signed_identity(s_t *t, const char *body, const char *dest)
{
    proto_ident_t o = {PROTO_IDENT_TN, FX_ORIG}, d = {PROTO_IDENT_TN, ""};
    char *tok, *id;

    snprintf(d.value, sizeof(d.value), "%s", dest);
    tok = verify_sign_passport(t->fx.signer, FX_X5U, "msg", &o, &d, 1, FX_IAT,
                               (const uint8_t *)body, strlen(body));
    id = proto_identity_format(tok, FX_X5U, "msg");
    sg_free(tok);
    return id;
}

TU_TEST(ingest_core_customer_signs_and_fans_out)
{
    s_t t;
    ingest_str_t to[2] = {s_str("+12155551300"), s_str("+12155551301")};
    ingest_submit_t in;
    proto_msg m;

    TU_REQUIRE(s_setup(&t) == 0);
    in = s_in(&t, 0, "+12155551212", to, 2, "hello", NULL, 0);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 2);
    TU_INTEQ(t.answered, 0);
    for (size_t i = 0; i < t.nsent && i < 2; i++) {
        verify_input_t vi;
        verify_result_t vr;
        proto_ident_t d = {PROTO_IDENT_TN, ""};

        TU_REQUIRE(proto_msg_decode(t.env[i], t.envlen[i], &m) == NULL);
        TU_CHECK(m.flags & PROTO_MSG_F_GATEWAY_SIGNED);
        TU_INTEQ(m.verstat, PROTO_MSG_VERSTAT_PASSED);
        TU_INTEQ(m.iat, FX_IAT);
        TU_INTEQ(m.n_identity, 1);
        TU_CHECK(m.body.len == 5 && memcmp(m.body.p, "hello", 5) == 0);
        TU_CHECK(m.from.len == 11 && memcmp(m.from.p, FX_ORIG, 11) == 0);
        /* No idempotency id: nothing to deduplicate on. */
        TU_CHECK(!(m.flags & PROTO_MSG_F_REPLAY_KEY));
        /* One PASSporT for all recipients; it verifies for each. */
        memcpy(d.value, to[i].p + 1, to[i].n - 1);
        memset(&vi, 0, sizeof(vi));
        vi.identity = (const char *)m.identity[0].p;
        vi.identity_len = m.identity[0].len;
        vi.dest = &d;
        vi.n_dest = 1;
        vi.body = m.body.p;
        vi.body_len = m.body.len;
        vi.have_body = 1;
        vi.now = FX_IAT;
        TU_INTEQ(verify_passport(&t.fx.ctx, &vi, &vr), REASON_OK);
        TU_INTEQ(vr.msgi, VERIFY_MSGI_MATCH);
        verify_result_clear(&vr);
    }
    s_reply(&t, 0, PROTO_CMD_STORED, 0);
    TU_INTEQ(t.answered, 0); /* not before every recipient is stored */
    s_reply(&t, 1, PROTO_CMD_STORED, 0);
    TU_INTEQ(t.answered, 1);
    TU_INTEQ(t.sip, 202);
    TU_INTEQ(t.http, 202);
    TU_INTEQ(t.n, 2);
    TU_CHECK(strcmp(t.ids[0], t.ids[1]) != 0);
    TU_INTEQ(ingest_core_inflight(t.core), 0);
    s_teardown(&t);
}

TU_TEST(ingest_core_customer_authority)
{
    s_t t;
    ingest_str_t to = s_str("+12155551300");
    conf_range_t r = {"13125550000", 10};
    ingest_submit_t in;

    TU_REQUIRE(s_setup(&t) == 0);
    /* Outside the certificate's TNAuthList, no numbers: 403, no STORE. */
    in = s_in(&t, 0, "+13125550001", &to, 1, "x", NULL, 0);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.answered, 1);
    TU_INTEQ(t.sip, 403);
    TU_STREQ(t.api_reason, INGEST_R_NOT_AUTHORIZED);
    TU_INTEQ(t.nsent, 0);
    /* A configured number list authorizes it. */
    t.peers[0].numbers.items = &r;
    t.peers[0].numbers.n = 1;
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 1);
    /* A URI originator is never signed: pass it unsigned. */
    t.peers[0].unauthorized = CONF_UNAUTH_PASS_UNSIGNED;
    in = s_in(&t, 0, "sip:alice@example.com", &to, 1, "x", NULL, 0);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 2);
    {
        proto_msg m;
        TU_REQUIRE(proto_msg_decode(t.env[1], t.envlen[1], &m) == NULL);
        TU_INTEQ(m.n_identity, 0);
        TU_CHECK(!(m.flags & PROTO_MSG_F_GATEWAY_SIGNED));
        TU_INTEQ(m.verstat, PROTO_MSG_VERSTAT_NONE);
    }
    s_teardown(&t);
}

TU_TEST(ingest_core_verify_waits_for_the_chain)
{
    s_t t;
    ingest_str_t to = s_str("+" FX_DEST), id;
    char *ident;
    ingest_submit_t in;
    proto_msg m;
    uint8_t key[32];
    proto_identity_t pi;

    TU_REQUIRE(s_setup(&t) == 0);
    ident = s_signed_identity(&t, "body", FX_DEST);
    id = s_str(ident);
    in = s_in(&t, 1, "+" FX_ORIG, &to, 1, "body", &id, 1);
    t.pending = 1;
    ingest_core_submit(t.core, &in, s_done, &t);
    /* Waiting on the fetch: nothing sent, nothing answered, and a timer
     * to run is not due. */
    TU_INTEQ(t.nsent, 0);
    TU_INTEQ(t.answered, 0);
    TU_INTEQ(t.ndone, 1);
    TU_INTEQ(ingest_core_inflight(t.core), 1);
    t.pending = 0;
    t.done(t.done_arg, FX_X5U);
    TU_INTEQ(t.nsent, 0); /* not from inside the callback */
    TU_INTEQ(ingest_core_timeout_ms(t.core), 0);
    ingest_core_run(t.core);
    TU_INTEQ(t.nsent, 1);
    TU_REQUIRE(proto_msg_decode(t.env[0], t.envlen[0], &m) == NULL);
    TU_INTEQ(m.reason, REASON_OK);
    TU_INTEQ(m.verstat, PROTO_MSG_VERSTAT_PASSED);
    TU_INTEQ(m.iat, FX_IAT);
    TU_CHECK(m.n_identity == 1 && m.identity[0].len == strlen(ident) &&
             memcmp(m.identity[0].p, ident, m.identity[0].len) == 0);
    /* The replay key: header.payload of the token plus the destination. */
    TU_CHECK(m.flags & PROTO_MSG_F_REPLAY_KEY);
    TU_REQUIRE(proto_identity_parse(ident, strlen(ident), &pi) == REASON_OK);
    {
        proto_ident_t d = {PROTO_IDENT_TN, FX_DEST};
        size_t si = (size_t)(strrchr(pi.token, '.') - pi.token);
        ingest_policy_replay_signed(pi.token, si, &d, key);
    }
    TU_CHECK(memcmp(key, m.replay_key, 32) == 0);
    proto_identity_clear(&pi);
    /* The store says: replay. */
    s_reply(&t, 0, PROTO_CMD_REFUSED, PROTO_REFUSED_REPLAY);
    TU_INTEQ(t.answered, 1);
    TU_INTEQ(t.sip, 403);
    TU_INTEQ(t.http, 409);
    TU_STREQ(t.api_reason, INGEST_R_REPLAY);
    sg_free(ident);
    s_teardown(&t);
}

TU_TEST(ingest_core_one_valid_identity_suffices)
{
    s_t t;
    ingest_str_t to = s_str("+" FX_DEST), ids[2];
    char *ident;
    ingest_submit_t in;
    proto_msg m;

    TU_REQUIRE(s_setup(&t) == 0);
    ident = s_signed_identity(&t, "body", FX_DEST);
    ids[0] = s_str("garbage;info=<https://x.example/a.pem>");
    ids[1] = s_str(ident);
    in = s_in(&t, 1, "+" FX_ORIG, &to, 1, "body", ids, 2);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 1);
    TU_REQUIRE(proto_msg_decode(t.env[0], t.envlen[0], &m) == NULL);
    TU_INTEQ(m.reason, REASON_OK);
    TU_INTEQ(m.n_identity, 2); /* all forwarded unchanged */
    s_reply(&t, 0, PROTO_CMD_STORED, 0);
    TU_INTEQ(t.sip, 202);
    sg_free(ident);
    s_teardown(&t);
}

TU_TEST(ingest_core_policy_reject_continue_defer)
{
    s_t t;
    ingest_str_t to = s_str("+" FX_DEST), id;
    char *ident;
    ingest_submit_t in;
    proto_msg m;

    TU_REQUIRE(s_setup(&t) == 0);
    ident = s_signed_identity(&t, "signed body", FX_DEST);
    id = s_str(ident);
    /* Tampered body, reject: 438 at once. */
    in = s_in(&t, 1, "+" FX_ORIG, &to, 1, "other body", &id, 1);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.answered, 1);
    TU_INTEQ(t.sip, 438);
    TU_STREQ(t.api_reason, "msgi_mismatch");
    TU_INTEQ(t.nsent, 0);
    /* Tampered body, continue: stored failed; 202 with Reason. */
    in = s_in(&t, 2, "+" FX_ORIG, &to, 1, "other body", &id, 1);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 1);
    TU_REQUIRE(proto_msg_decode(t.env[0], t.envlen[0], &m) == NULL);
    TU_INTEQ(m.verstat, PROTO_MSG_VERSTAT_FAILED);
    TU_INTEQ(m.reason, REASON_MSGI_MISMATCH);
    s_reply(&t, 0, PROTO_CMD_STORED, 0);
    TU_INTEQ(t.answered, 2);
    TU_INTEQ(t.sip, 202);
    TU_STREQ(t.reason_hdr,
             "Reason: STIR ;cause=438 ;text=\"Invalid Identity Header\"\r\n");
    /* Fetch failed, defer: stored as deferred. */
    t.fail = REASON_X5U_FETCH_FAILED;
    in = s_in(&t, 2, "+" FX_ORIG, &to, 1, "signed body", &id, 1);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 2);
    TU_REQUIRE(proto_msg_decode(t.env[1], t.envlen[1], &m) == NULL);
    TU_CHECK(m.flags & PROTO_MSG_F_DEFERRED);
    TU_INTEQ(m.verstat, PROTO_MSG_VERSTAT_NONE);
    /* Fetch failed, reject: 436, HTTP 503 (transient). */
    in = s_in(&t, 1, "+" FX_ORIG, &to, 1, "signed body", &id, 1);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.sip, 436);
    TU_INTEQ(t.http, 503);
    TU_CHECK(t.retry_after > 0);
    /* No Identity where required: 428. */
    in = s_in(&t, 1, "+" FX_ORIG, &to, 1, "x", NULL, 0);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.sip, 428);
    sg_free(ident);
    s_teardown(&t);
}

TU_TEST(ingest_core_store_deadline_and_pushback)
{
    s_t t;
    ingest_str_t to = s_str("+12155551300");
    ingest_submit_t in;

    TU_REQUIRE(s_setup(&t) == 0);
    in = s_in(&t, 0, "+12155551212", &to, 1, "x", NULL, 0);
    in.dedup = s_str("call-1 1");
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 1);
    TU_INTEQ(ingest_core_timeout_ms(t.core), 1000);
    /* No answer: resent with the same id and correlation... */
    s_mono += 1000;
    ingest_core_run(t.core);
    TU_INTEQ(t.nsent, 2);
    TU_CHECK(t.envlen[0] == t.envlen[1] &&
             memcmp(t.env[0], t.env[1], t.envlen[0]) == 0);
    TU_INTEQ(t.answered, 0);
    /* ...until the deadline: 503 with Retry-After. */
    s_mono += 4000;
    ingest_core_run(t.core);
    TU_INTEQ(t.answered, 1);
    TU_INTEQ(t.sip, 503);
    TU_INTEQ(t.retry_after, 5);
    TU_INTEQ(ingest_core_timeout_ms(t.core), -1);
    /* A late STORED is ignored. */
    s_reply(&t, 0, PROTO_CMD_STORED, 0);
    TU_INTEQ(t.answered, 1);

    /* The store full: 503 with its Retry-After when longer. */
    ingest_core_submit(t.core, &in, s_done, &t);
    s_reply(&t, 2, PROTO_CMD_REFUSED, PROTO_REFUSED_AGAIN);
    TU_INTEQ(t.answered, 2);
    TU_INTEQ(t.sip, 503);
    TU_INTEQ(t.retry_after, 9);
    /* An unsigned duplicate: SIP 202 again, API 409 duplicate. */
    ingest_core_submit(t.core, &in, s_done, &t);
    s_reply(&t, 3, PROTO_CMD_REFUSED, PROTO_REFUSED_REPLAY);
    TU_INTEQ(t.sip, 202);
    TU_INTEQ(t.http, 409);
    TU_STREQ(t.api_reason, INGEST_R_DUPLICATE);
    /* The link refuses to send: 503 at once. */
    t.refuse_send = 1;
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.answered, 4);
    TU_INTEQ(t.sip, 503);
    TU_INTEQ(ingest_core_inflight(t.core), 0);
    s_teardown(&t);
}

TU_TEST(ingest_core_multi_recipient_fails_as_a_whole)
{
    s_t t;
    ingest_str_t to[3] = {s_str("+12155551300"), s_str("+12155551301"),
                          s_str("+12155551302")};
    ingest_submit_t in;

    TU_REQUIRE(s_setup(&t) == 0);
    in = s_in(&t, 0, "+12155551212", to, 3, "x", NULL, 0);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 3);
    s_reply(&t, 0, PROTO_CMD_STORED, 0);
    s_reply(&t, 1, PROTO_CMD_REFUSED, PROTO_REFUSED_AGAIN);
    TU_INTEQ(t.answered, 1);
    TU_INTEQ(t.sip, 503);
    /* The third answer finds nothing waiting. */
    s_reply(&t, 2, PROTO_CMD_STORED, 0);
    TU_INTEQ(t.answered, 1);
    TU_INTEQ(ingest_core_inflight(t.core), 0);
    s_teardown(&t);
}

TU_TEST(ingest_core_bad_identities_in_signaling)
{
    s_t t;
    ingest_str_t to = s_str("not a number or uri");
    ingest_submit_t in;

    TU_REQUIRE(s_setup(&t) == 0);
    in = s_in(&t, 0, "+12155551212", &to, 1, "x", NULL, 0);
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.sip, 400);
    TU_INTEQ(t.nsent, 0);
    s_teardown(&t);
}

/* REFUSED(replay) naming the message that holds the key. */
static void
s_reply_dup(s_t *t, size_t i, uint8_t holder_byte)
{
    proto_msg m;
    proto_wire_msg w;
    proto_refused r;
    uint8_t b[64];

    TU_REQUIRE(proto_msg_decode(t->env[i], t->envlen[i], &m) == NULL);
    memset(&r, 0, sizeof(r));
    r.code = PROTO_REFUSED_REPLAY;
    memcpy(r.id, m.id, PROTO_MSG_ID_LEN);
    r.has_holder = 1;
    memset(r.holder, holder_byte, PROTO_MSG_ID_LEN);
    memset(&w, 0, sizeof(w));
    w.cmd = PROTO_CMD_REFUSED;
    w.corr = t->corr[i];
    w.body = b;
    w.body_len = proto_wire_refused_encode(&r, b, sizeof(b));
    TU_CHECK(ingest_core_on_reply(t->core, &w) == 1);
}

TU_TEST(ingest_core_idempotent_retry_gets_the_first_ids)
{
    s_t t;
    ingest_str_t to[2] = {s_str("+12155551300"), s_str("+12155551301")};
    ingest_submit_t in;

    TU_REQUIRE(s_setup(&t) == 0);
    in = s_in(&t, 0, "+12155551212", to, 2, "x", NULL, 0);
    in.dedup = in.idem = s_str("idem-1");
    /* One recipient new, one stored by an earlier try: 202, and the
     * earlier message's id for that recipient. */
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 2);
    s_reply(&t, 0, PROTO_CMD_STORED, 0);
    s_reply_dup(&t, 1, 0xab);
    TU_INTEQ(t.answered, 1);
    TU_INTEQ(t.sip, 202);
    TU_INTEQ(t.http, 202);
    TU_INTEQ(t.n, 2);
    TU_STREQ(t.ids[1], "abababababababababababababababab");
    /* Every recipient already stored: 200 with the first ids. */
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 4);
    s_reply_dup(&t, 2, 0x01);
    s_reply_dup(&t, 3, 0x02);
    TU_INTEQ(t.answered, 2);
    TU_INTEQ(t.sip, 202);
    TU_INTEQ(t.http, 200);
    TU_STREQ(t.ids[0], "01010101010101010101010101010101");
    TU_STREQ(t.ids[1], "02020202020202020202020202020202");
    TU_INTEQ(ingest_core_inflight(t.core), 0);
    s_teardown(&t);
}

TU_TEST(ingest_core_expires_and_status_url)
{
    s_t t;
    ingest_str_t to[1] = {s_str("+12155551300")};
    ingest_submit_t in;
    proto_msg m;

    TU_REQUIRE(s_setup(&t) == 0);
    in = s_in(&t, 0, "+12155551212", to, 1, "x", NULL, 0);
    in.has_expires = 1;
    in.expires = 60;
    in.status_url = s_str("https://client.example/st");
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 1);
    TU_REQUIRE(proto_msg_decode(t.env[0], t.envlen[0], &m) == NULL);
    /* RFC 3428: relative to receipt without a Date. */
    TU_INTEQ(m.expires_ms, in.received_ms + 60000);
    TU_CHECK(m.flags & PROTO_MSG_F_STATUS_URL);
    TU_CHECK(m.status_url.len == 25 &&
             memcmp(m.status_url.p, "https://client.example/st", 25) == 0);
    s_reply(&t, 0, PROTO_CMD_STORED, 0);
    TU_INTEQ(t.http, 202);
    /* Relative to Date, which is two minutes back: expired on arrival,
     * refused without a STORE. */
    in.date = (int64_t)(in.received_ms / 1000) - 120;
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 1);
    TU_INTEQ(t.sip, 400);
    TU_INTEQ(t.http, 400);
    TU_STREQ(t.api_reason, "expired");
    /* Expires: 0 is no expiry. */
    in.date = 0;
    in.expires = 0;
    ingest_core_submit(t.core, &in, s_done, &t);
    TU_INTEQ(t.nsent, 2);
    TU_REQUIRE(proto_msg_decode(t.env[1], t.envlen[1], &m) == NULL);
    TU_INTEQ(m.expires_ms, 0);
    TU_CHECK(m.flags & PROTO_MSG_F_STATUS_URL);
    s_reply(&t, 1, PROTO_CMD_STORED, 0);
    s_teardown(&t);
}
