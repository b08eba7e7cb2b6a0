/* Unit tests: freshness at delivery (deliver/deliver_fresh.h), the table
 * of DESIGN.md section 4 with the time injected. */
#include "deliver/deliver_fresh.h"
#include "proto/proto_wire.h"
#include "tests/unit/tu.h"

#define T0 1800000000ull /* iat, seconds */

static const deliver_fresh_policy s_pol = {
    .max_age_s = 3600,
    .on_stale = DELIVER_STALE_UNVERIFIED,
    .resign_after_s = 30,
    .defer_deadline_s = 600,
};

static proto_msg
s_msg(uint8_t flags, uint8_t verstat)
{
    static const uint8_t ident[] = "tok;info=<https://x/y.pem>;ppt=msg";
    proto_msg m;

    memset(&m, 0, sizeof(m));
    m.flags = flags;
    m.verstat = verstat;
    m.reason = REASON_OK;
    m.iat = T0;
    m.received_ms = T0 * 1000 + 500;
    m.n_identity = 1;
    m.identity[0].p = ident;
    m.identity[0].len = sizeof(ident) - 1;
    return m;
}

/* now = iat + `s` seconds (+ `ms`). */
static uint64_t
s_at(int64_t s, int ms)
{
    return (uint64_t)((int64_t)T0 + s) * 1000 + (uint64_t)ms;
}

TU_TEST(fresh_pass_within_max_age)
{
    proto_msg m = s_msg(0, PROTO_MSG_VERSTAT_PASSED);
    deliver_fresh_t d;

    deliver_fresh_decide(&m, s_at(10, 0), &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_PASSED);
    TU_INTEQ(d.id_src, DELIVER_ID_STORED);
    TU_STREQ(deliver_fresh_reason_name(&d), "ok");
}

TU_TEST(fresh_max_age_is_inclusive)
{
    proto_msg m = s_msg(0, PROTO_MSG_VERSTAT_PASSED);
    deliver_fresh_t d;

    /* Exactly max_age (even at .999 of that second): still fresh. */
    deliver_fresh_decide(&m, s_at(3600, 999), &s_pol, &d);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_PASSED);
    deliver_fresh_decide(&m, s_at(3601, 0), &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_NONE);
}

TU_TEST(fresh_stale_deliver_unverified)
{
    proto_msg m = s_msg(0, PROTO_MSG_VERSTAT_PASSED);
    deliver_fresh_t d;

    deliver_fresh_decide(&m, s_at(7200, 0), &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_NONE);
    TU_INTEQ(d.id_src, DELIVER_ID_STORED); /* Identity still forwarded */
    TU_INTEQ(d.dreason, PROTO_DREASON_STALE_AT_DELIVERY);
    TU_STREQ(deliver_fresh_reason_name(&d), "stale_at_delivery");
}

TU_TEST(fresh_stale_reject)
{
    proto_msg m = s_msg(0, PROTO_MSG_VERSTAT_PASSED);
    deliver_fresh_policy p = s_pol;
    deliver_fresh_t d;

    p.on_stale = DELIVER_STALE_REJECT;
    deliver_fresh_decide(&m, s_at(3601, 0), &p, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_REJECT);
    TU_STREQ(deliver_fresh_reason_name(&d), "stale_at_delivery");
    deliver_fresh_decide(&m, s_at(3600, 0), &p, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
}

TU_TEST(fresh_iat_ahead_of_clock_is_fresh)
{
    proto_msg m = s_msg(0, PROTO_MSG_VERSTAT_PASSED);
    deliver_fresh_t d;

    deliver_fresh_decide(&m, s_at(-5, 0), &s_pol, &d);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_PASSED);
}

TU_TEST(fresh_failed_and_unsigned_keep_their_verdict)
{
    proto_msg m = s_msg(0, PROTO_MSG_VERSTAT_FAILED);
    deliver_fresh_t d;

    m.reason = REASON_BAD_SIGNATURE;
    deliver_fresh_decide(&m, s_at(99999, 0), &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_FAILED);
    TU_STREQ(deliver_fresh_reason_name(&d), "bad_signature");

    m = s_msg(0, PROTO_MSG_VERSTAT_NONE);
    m.n_identity = 0;
    m.iat = 0;
    m.reason = REASON_NO_IDENTITY;
    deliver_fresh_decide(&m, s_at(5, 0), &s_pol, &d);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_NONE);
    TU_INTEQ(d.id_src, DELIVER_ID_NONE);
}

TU_TEST(fresh_gateway_signed_resign_threshold)
{
    proto_msg m = s_msg(PROTO_MSG_F_GATEWAY_SIGNED, PROTO_MSG_VERSTAT_PASSED);
    deliver_fresh_t d;

    deliver_fresh_decide(&m, s_at(30, 999), &s_pol, &d);
    TU_INTEQ(d.id_src, DELIVER_ID_STORED); /* exactly resign_after: kept */
    deliver_fresh_decide(&m, s_at(31, 0), &s_pol, &d);
    TU_INTEQ(d.id_src, DELIVER_ID_RESIGN);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_PASSED);
    /* Never stale: hours later it is re-signed and still Passed. */
    deliver_fresh_decide(&m, s_at(86400, 0), &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    TU_INTEQ(d.id_src, DELIVER_ID_RESIGN);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_PASSED);
}

TU_TEST(fresh_deferred_before_and_after_deadline)
{
    proto_msg m = s_msg(PROTO_MSG_F_DEFERRED, PROTO_MSG_VERSTAT_NONE);
    deliver_fresh_t d;
    uint64_t deadline = m.received_ms + 600 * 1000;

    m.reason = REASON_X5U_FETCH_FAILED;
    deliver_fresh_decide(&m, deadline, &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_VERIFY);
    deliver_fresh_decide(&m, deadline + 1, &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_NONE);
    TU_INTEQ(d.id_src, DELIVER_ID_STORED);
    TU_STREQ(deliver_fresh_reason_name(&d), "x5u_fetch_failed");
}

TU_TEST(fresh_deferred_verified_outcomes)
{
    proto_msg m = s_msg(PROTO_MSG_F_DEFERRED, PROTO_MSG_VERSTAT_NONE);
    deliver_fresh_t d;
    uint64_t early = s_at(60, 0), late = m.received_ms + 601 * 1000;

    deliver_fresh_verified(&m, early, &s_pol, REASON_OK, 0, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_PASSED);
    /* Verified late, but iat past max_age: the stale rule still holds. */
    deliver_fresh_verified(&m, s_at(4000, 0), &s_pol, REASON_OK, 0, &d);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_NONE);
    TU_INTEQ(d.dreason, PROTO_DREASON_STALE_AT_DELIVERY);

    deliver_fresh_verified(&m, early, &s_pol, REASON_X5U_FETCH_FAILED, 0, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_RETRY);
    deliver_fresh_verified(&m, late, &s_pol, REASON_X5U_FETCH_FAILED, 0, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_NONE);

    deliver_fresh_verified(&m, early, &s_pol, REASON_CERT_EXPIRED, 0, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    TU_INTEQ(d.verstat, PROTO_MSG_VERSTAT_FAILED);
    TU_STREQ(deliver_fresh_reason_name(&d), "cert_expired");
    deliver_fresh_verified(&m, early, &s_pol, REASON_BAD_SIGNATURE, 1, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_FAIL);
}

TU_TEST(fresh_expires)
{
    proto_msg m = s_msg(0, PROTO_MSG_VERSTAT_PASSED);
    deliver_fresh_t d;

    m.expires_ms = s_at(100, 0);
    deliver_fresh_decide(&m, s_at(99, 999), &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_SEND);
    deliver_fresh_decide(&m, s_at(100, 0), &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_EXPIRED);
    TU_STREQ(deliver_fresh_reason_name(&d), "expired");
    /* Expiry wins over everything, deferred verification included. */
    m.flags = PROTO_MSG_F_DEFERRED;
    deliver_fresh_decide(&m, s_at(200, 0), &s_pol, &d);
    TU_INTEQ(d.action, DELIVER_FRESH_EXPIRED);
}

