/*
 * proto/proto_reason.h - the verification reasons of DESIGN.md section 5.
 *
 * A reason is data, not an error: parsers and verifiers return one, and
 * the table below gives its stable identifier, its SIP code and its
 * verstat.  The identifiers are a public contract (CLI JSON, HTTP API,
 * metrics labels, logs): never rename one.
 */
#ifndef PROTO_REASON_H
#define PROTO_REASON_H

typedef enum {
    REASON_OK = 0,
    REASON_NO_IDENTITY,
    REASON_UNSUPPORTED_PPT,
    REASON_MALFORMED_IDENTITY,
    REASON_MALFORMED_PASSPORT,
    REASON_INFO_MISMATCH,
    REASON_BAD_SIGNATURE,
    REASON_MSGI_MISMATCH,
    REASON_MSGI_UNSUPPORTED_ALG,
    REASON_ORIG_MISMATCH,
    REASON_DEST_MISMATCH,
    REASON_CLAIM_CONSTRAINT,
    REASON_STALE,
    REASON_FUTURE_IAT,
    REASON_X5U_POLICY,
    REASON_X5U_FETCH_FAILED,
    REASON_UNSUPPORTED_ALG,
    REASON_CERT_UNTRUSTED,
    REASON_CERT_EXPIRED,
    REASON_CERT_REVOKED,
    REASON_TN_NOT_AUTHORIZED,
    REASON__COUNT
} proto_reason;

typedef struct {
    const char *name;     /* stable identifier, e.g. "bad_signature" */
    int sip_code;         /* 0 for REASON_OK */
    const char *sip_text; /* RFC 8224 reason phrase */
    const char *meaning;  /* one line for operators */
    int transient;        /* 1: retrying later may succeed */
} proto_reason_info;

/* The row for `r`; r must be < REASON__COUNT. */
const proto_reason_info *proto_reason_get(proto_reason r);
const char *proto_reason_name(proto_reason r);

/* Look a reason up by its identifier; -1 when unknown. */
int proto_reason_from_name(const char *name);

/* "TN-Validation-Passed" for ok, "TN-Validation-Failed" otherwise. */
const char *proto_reason_verstat(proto_reason r);
#define PROTO_VERSTAT_NONE "No-TN-Validation"

#endif
