/*
 * proto/proto_passport.h - PASSporT (RFC 8225) parse and build.
 *
 * Parsing keeps the received base64url segments: the signature is checked
 * over them, never over re-serialized JSON (DESIGN.md 3.4).  Building emits
 * the canonical serialization of proto_json.h (written directly, byte for
 * byte what proto_json_canonical makes) and always full form.
 * Input rules are liberal where the RFCs' own examples are (DESIGN.md 3.3):
 * `iat` as a numeric string, `dest.tn` as a string; never emitted.
 */
#ifndef PROTO_PASSPORT_H
#define PROTO_PASSPORT_H

#include "proto/proto_reason.h"
#include "proto/proto_tn.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_PASSPORT_MAX_TOKEN 16384 /* longest token we parse */
#define PROTO_PASSPORT_MAX_DEST 1024   /* most dest entries we accept */

typedef struct {
    char *token;       /* the full-form token, new (NUL-terminated) */
    size_t signed_len; /* token[0 .. signed_len) is the signing input */
    uint8_t sig[64];   /* raw R||S */

    /* The decoded trees when the general parser read the token; both NULL
     * when the canonical reader did (proto_passport.c): use
     * proto_passport_payload() for the claims as JSON. */
    json_t *header;
    json_t *payload;

    /* Borrowed from self; valid while self is. */
    const char *alg;
    const char *typ;
    const char *x5u;
    const char *ppt;  /* NULL when absent */
    const char *msgi; /* NULL when absent or when ppt is not "msg" */
    int64_t iat;

    /* orig as signed: kind from the member name ("tn" or "uri"). */
    proto_ident_kind orig_kind;
    const char *orig;

    /* dest as signed: TNs then URIs (borrowed strings). */
    size_t n_dest_tn, n_dest_uri;
    const char **dest_tn;  /* new array of borrowed strings */
    const char **dest_uri; /* new array of borrowed strings */
} proto_passport_t;

/*
 * Parse a full-form token of `n` bytes.  Checks: three non-empty segments,
 * strict base64url, JSON objects, `typ` == "passport" (case-sensitive),
 * no `crit`, ASCII claim names, `alg`, `x5u`, `iat`, `orig`, `dest`
 * present and well-typed (`tn` values tn-spec), signature of exactly 64
 * octets.  An alg other than ES256 is REASON_UNSUPPORTED_ALG (the
 * rest must still be well formed).  Returns REASON_OK and a new passport in
 * *out, else a reason (REASON_MALFORMED_PASSPORT or
 * REASON_UNSUPPORTED_ALG) and *out = NULL.
 */
proto_reason proto_passport_parse(const char *token, size_t n,
                                  proto_passport_t **out);

/*
 * The payload as a JSON object, borrowed (valid while self is): parsed
 * from the token on first use when the canonical reader left it unset.
 */
const json_t *proto_passport_payload(proto_passport_t *self);

/*
 * Rebuild a compact-form token ("..sig") from signaling (RFC 8225 s7):
 * header {alg, ppt?, typ, x5u=info}, payload {dest, iat, orig}.  A `msg`
 * PASSporT cannot be rebuilt (DESIGN.md 3.2): REASON_MALFORMED_PASSPORT.
 * `orig`/`dest` are identities as canonicalized from signaling.
 */
proto_reason proto_passport_rebuild_compact(const char *compact,
                                            const char *info, const char *ppt,
                                            const proto_ident_t *orig,
                                            const proto_ident_t *dest,
                                            size_t n_dest, int64_t iat,
                                            proto_passport_t **out);

void proto_passport_destroy(proto_passport_t **self_p);

/* 1 if the passport's dest lists `id` (same kind, same string). */
int proto_passport_has_dest(const proto_passport_t *self,
                            const proto_ident_t *id);

/*
 * Build the signing input of a full-form msg PASSporT:
 *   b64u(header) "." b64u(payload)
 * header {"alg":"ES256","ppt":ppt,"typ":"passport","x5u":x5u} (ppt omitted
 * when NULL), payload {"dest":{"tn":[sorted],"uri":[sorted]},"iat":iat,
 * "msgi":msgi?,"orig":{...}} in canonical form; `msgi` NULL = no claim.
 * Duplicate dest entries are folded.  Returns a new string, or NULL when
 * there is no dest.
 */
char *proto_passport_signing_input(const char *x5u, const char *ppt,
                                   const proto_ident_t *orig,
                                   const proto_ident_t *dest, size_t n_dest,
                                   int64_t iat, const char *msgi);

/* signing_input "." b64u(sig): a new full-form token. */
char *proto_passport_assemble(const char *signing_input,
                              const uint8_t sig[64]);

#endif
