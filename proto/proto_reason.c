/* proto/proto_reason.c - the verification reason table (DESIGN.md s5). */
#include "proto/proto_reason.h"

#include <string.h>

static const proto_reason_info s_table[REASON__COUNT] = {
    [REASON_OK] = {"ok", 0, "", "valid", 0},
    [REASON_NO_IDENTITY] = {"no_identity", 428, "Use Identity Header",
                            "policy requires an Identity header and there "
                            "is none",
                            0},
    [REASON_UNSUPPORTED_PPT] = {"unsupported_ppt", 428,
                                "Use Supported PASSporT Format",
                                "no Identity header with a supported ppt", 0},
    [REASON_MALFORMED_IDENTITY] = {"malformed_identity", 438,
                                   "Invalid Identity Header",
                                   "the Identity header does not parse", 0},
    [REASON_MALFORMED_PASSPORT] = {"malformed_passport", 438,
                                   "Invalid PASSporT",
                                   "the PASSporT is not a well-formed JWS "
                                   "with the required header fields and "
                                   "claims",
                                   0},
    [REASON_INFO_MISMATCH] = {"info_mismatch", 438,
                              "Invalid Identity Header",
                              "Identity info differs from x5u, or ppt "
                              "differs",
                              0},
    [REASON_BAD_SIGNATURE] = {"bad_signature", 438, "Invalid Identity Header",
                              "the ES256 signature does not verify", 0},
    [REASON_MSGI_MISMATCH] = {"msgi_mismatch", 438, "Invalid Identity Header",
                              "the message body digest differs", 0},
    [REASON_MSGI_UNSUPPORTED_ALG] = {"msgi_unsupported_alg", 438,
                                     "Invalid Identity Header",
                                     "msgi algorithm is not sha256, sha384 "
                                     "or sha512",
                                     0},
    [REASON_ORIG_MISMATCH] = {"orig_mismatch", 438, "Invalid Identity Header",
                              "PASSporT orig differs from the signaling", 0},
    [REASON_DEST_MISMATCH] = {"dest_mismatch", 438, "Invalid Identity Header",
                              "the signaling destination is not in the "
                              "PASSporT dest",
                              0},
    [REASON_CLAIM_CONSTRAINT] = {"claim_constraint", 438,
                                 "Invalid Identity Header",
                                 "a certificate claim constraint is violated",
                                 0},
    [REASON_STALE] = {"stale", 403, "Stale Date",
                      "iat is older than the freshness window", 0},
    [REASON_FUTURE_IAT] = {"future_iat", 403, "Stale Date",
                           "iat is further in the future than allowed", 0},
    [REASON_X5U_POLICY] = {"x5u_policy", 436, "Bad Identity Info",
                           "the x5u URL is refused by policy", 0},
    [REASON_X5U_FETCH_FAILED] = {"x5u_fetch_failed", 436, "Bad Identity Info",
                                 "the certificate could not be fetched "
                                 "(transient)",
                                 1},
    [REASON_UNSUPPORTED_ALG] = {"unsupported_alg", 437,
                                "Unsupported Credential",
                                "alg is not ES256", 0},
    [REASON_CERT_UNTRUSTED] = {"cert_untrusted", 437,
                               "Unsupported Credential",
                               "no path to a trust anchor, or malformed chain",
                               0},
    [REASON_CERT_EXPIRED] = {"cert_expired", 437, "Unsupported Credential",
                             "a certificate on the path is not valid at iat",
                             0},
    [REASON_CERT_REVOKED] = {"cert_revoked", 437, "Unsupported Credential",
                             "revoked by a configured CRL", 0},
    [REASON_TN_NOT_AUTHORIZED] = {"tn_not_authorized", 437,
                                  "Unsupported Credential",
                                  "the certificate's TNAuthList does not "
                                  "cover orig",
                                  0},
};

const proto_reason_info *
proto_reason_get(proto_reason r)
{
    return &s_table[r < REASON__COUNT ? r : REASON_MALFORMED_PASSPORT];
}

const char *
proto_reason_name(proto_reason r)
{
    return proto_reason_get(r)->name;
}

int
proto_reason_from_name(const char *name)
{
    for (int i = 0; i < REASON__COUNT; i++)
        if (strcmp(s_table[i].name, name) == 0)
            return i;
    return -1;
}

const char *
proto_reason_verstat(proto_reason r)
{
    return r == REASON_OK ? "TN-Validation-Passed" : "TN-Validation-Failed";
}
