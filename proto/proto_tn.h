/*
 * proto/proto_tn.h - identities: TN canonicalization (RFC 8224 section 8.3)
 * and URI normalization (section 8.5), DESIGN.md section 3.5.
 *
 * Pure code: bytes in, canonical string or a why out.
 */
#ifndef PROTO_TN_H
#define PROTO_TN_H

#include <stddef.h>

#define PROTO_TN_MAX 15      /* TelephoneNumber SIZE (1..15), RFC 8226 */
#define PROTO_IDENT_MAX 256  /* longest normalized URI we keep */

typedef enum {
    PROTO_IDENT_TN = 1,  /* value is digits, '#' and '*' only */
    PROTO_IDENT_URI = 2, /* value is a normalized sip:/sips:/tel: URI */
} proto_ident_kind;

typedef struct {
    proto_ident_kind kind;
    char value[PROTO_IDENT_MAX + 1];
} proto_ident_t;

/*
 * Canonicalize a telephone number given as text ("+1 (215) 555-1212",
 * "2155551212", "*67#"): keep digits, '#' and '*', drop every visual
 * separator.  A number written without a leading '+' and with fewer digits
 * than an E.164 number of `default_cc` is national: `default_cc` (digits,
 * may be NULL or "") is prepended.  Returns NULL on success and writes the
 * result into `out` (PROTO_TN_MAX + 1 bytes), else a why ("empty",
 * "too long", "not a telephone number").
 */
const char *proto_tn_canon(const char *in, size_t n, const char *default_cc,
                           char out[PROTO_TN_MAX + 1]);

/*
 * Normalize a sip:/sips: URI per RFC 8224 8.5: drop parameters, headers,
 * password and port; lowercase scheme, user and host; decode percent-encoded
 * unreserved characters.  Returns NULL or a why.
 */
const char *proto_uri_normalize(const char *in, size_t n,
                                char out[PROTO_IDENT_MAX + 1]);

/*
 * An identity from signaling or from the command line: `tel:` URIs, SIP
 * URIs with user=phone (or, by local policy, a user part that is a dialable
 * number with a leading '+'), plain number strings -> TN; other SIP URIs ->
 * normalized URI.  Accepts a name-addr ("Bob <sip:...>;tag=x") too.  Short
 * codes and alphanumerics in SIP URIs stay URIs (DESIGN.md 3.5).
 * Returns NULL or a why.
 */
const char *proto_ident_parse(const char *in, size_t n, const char *default_cc,
                              proto_ident_t *out);

#endif
