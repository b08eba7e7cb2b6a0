/*
 * proto/proto_identity.h - the SIP Identity header (RFC 8224 section 4 with
 * erratum 6499):
 *
 *   Identity: <signed-identity-digest>;info=<absoluteURI>[;alg=token]
 *             [;ppt=token | ;ppt="token"] *(;other-param)
 *
 * signed-identity-digest = 1*(base64url-char / "."); full form has three
 * non-empty segments, compact form starts with "..".
 */
#ifndef PROTO_IDENTITY_H
#define PROTO_IDENTITY_H

#include "proto/proto_reason.h"

#include <stddef.h>

typedef struct {
    char *token; /* the signed-identity-digest, new */
    char *info;  /* the URI inside <>, new */
    char *alg;   /* NULL when absent (means ES256), new */
    char *ppt;   /* NULL when absent (unquoted), new */
    int compact; /* 1 when the token is compact form ("..sig") */
} proto_identity_t;

/*
 * Parse one header value (without the "Identity:" name).  Leading and
 * trailing whitespace is allowed; unknown parameters are ignored; a repeated
 * info/alg/ppt is malformed.  Returns REASON_OK and fills `out` (free with
 * proto_identity_clear), or REASON_MALFORMED_IDENTITY leaving `out` empty.
 */
proto_reason proto_identity_parse(const char *value, size_t n,
                                  proto_identity_t *out);
void proto_identity_clear(proto_identity_t *self);

/* "<token>;info=<info>;ppt=<ppt>" (ppt omitted when NULL); new string. */
char *proto_identity_format(const char *token, const char *info,
                            const char *ppt);

#endif
