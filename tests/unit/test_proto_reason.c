/* Unit tests: the verification reason table (DESIGN.md section 5). */
#include "proto/proto_reason.h"
#include "lib/sg.h"
#include "tests/unit/tu.h"

TU_TEST(reason_table_matches_design)
{
    /* Every row of DESIGN.md's table, name and SIP code. */
    static const struct {
        const char *name;
        int code;
    } rows[] = {
        {"ok", 0},
        {"no_identity", 428},
        {"unsupported_ppt", 428},
        {"malformed_identity", 438},
        {"malformed_passport", 438},
        {"info_mismatch", 438},
        {"bad_signature", 438},
        {"msgi_mismatch", 438},
        {"msgi_unsupported_alg", 438},
        {"orig_mismatch", 438},
        {"dest_mismatch", 438},
        {"claim_constraint", 438},
        {"stale", 403},
        {"future_iat", 403},
        {"x5u_policy", 436},
        {"x5u_fetch_failed", 436},
        {"unsupported_alg", 437},
        {"cert_untrusted", 437},
        {"cert_expired", 437},
        {"cert_revoked", 437},
        {"tn_not_authorized", 437},
    };

    TU_INTEQ(SG_NELEM(rows), REASON__COUNT);
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        int r = proto_reason_from_name(rows[i].name);
        TU_REQUIRE(r >= 0);
        TU_STREQ(proto_reason_name((proto_reason)r), rows[i].name);
        TU_INTEQ(proto_reason_get((proto_reason)r)->sip_code, rows[i].code);
    }
    TU_INTEQ(proto_reason_from_name("nope"), -1);
    TU_STREQ(proto_reason_verstat(REASON_OK), "TN-Validation-Passed");
    TU_STREQ(proto_reason_verstat(REASON_STALE), "TN-Validation-Failed");
    TU_CHECK(proto_reason_get(REASON_X5U_FETCH_FAILED)->transient);
    TU_CHECK(!proto_reason_get(REASON_CERT_UNTRUSTED)->transient);
}
