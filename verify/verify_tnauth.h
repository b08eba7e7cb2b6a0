/*
 * verify/verify_tnauth.h - TNAuthList (RFC 8226 section 9, EXPLICIT tags)
 * and JWT claim constraints (RFC 8226 section 8, RFC 9118 section 3).
 *
 * Pure DER parsers: bytes in, struct or a why out.  Fuzzed.
 */
#ifndef VERIFY_TNAUTH_H
#define VERIFY_TNAUTH_H

#include "proto/proto_reason.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TNAUTH_SPC = 0,   /* [0] ServiceProviderCode (IA5String) */
    TNAUTH_RANGE = 1, /* [1] TelephoneNumberRange { start, count } */
    TNAUTH_ONE = 2,   /* [2] TelephoneNumber */
} verify_tnauth_type;

typedef struct {
    verify_tnauth_type type;
    char *value;    /* spc code, range start or the one number; new */
    uint64_t count; /* range only: 2..MAX, start+count-1 keeps the length */
} verify_tnauth_entry;

typedef struct {
    size_t n;
    verify_tnauth_entry *e; /* new */
} verify_tnauth_t;

/* Parse the extension value (the OCTET STRING contents).  NULL = parsed,
 * else a why and *out left empty.  Trailing bytes are refused. */
const char *verify_tnauth_parse(const uint8_t *der, size_t n,
                                verify_tnauth_t *out);
void verify_tnauth_clear(verify_tnauth_t *self);

/*
 * Does the list cover canonical TN `tn`?  `one` entries by equality, ranges
 * by numeric position with equal digit count, `spc` entries through
 * `spc_covers(arg, spc, tn)` (NULL callback: an spc covers any TN).
 */
typedef int (*verify_spc_fn)(void *arg, const char *spc, const char *tn);
int verify_tnauth_covers(const verify_tnauth_t *self, const char *tn,
                         verify_spc_fn spc_covers, void *arg);

typedef struct {
    size_t n_must_include;
    char **must_include;
    size_t n_permitted;
    struct verify_jcc_permitted {
        char *claim;
        size_t n_values;
        char **values;
    } *permitted;
    size_t n_must_exclude;
    char **must_exclude;
} verify_jcc_t;

/* Parse JWTClaimConstraints (enhanced = 0) or EnhancedJWTClaimConstraints
 * (enhanced = 1, adds mustExclude [2]).  NULL or a why. */
const char *verify_jcc_parse(const uint8_t *der, size_t n, int enhanced,
                             verify_jcc_t *out);
void verify_jcc_clear(verify_jcc_t *self);

/* REASON_OK or REASON_CLAIM_CONSTRAINT.  A permittedValues claim that is
 * present must be a string equal to one of the values. */
proto_reason verify_jcc_check(const verify_jcc_t *self, const json_t *payload);

#endif
