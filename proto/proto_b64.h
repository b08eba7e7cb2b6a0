/*
 * proto/proto_b64.h - base64url without padding (RFC 7515 section 2,
 * RFC 4648 section 5) and standard base64 (RFC 4648 section 4).
 *
 * Decoders are strict: any byte outside the alphabet, a length that cannot
 * come from an encoder (n % 4 == 1), or non-zero unused trailing bits is
 * refused.  Pure code: no I/O, no allocation.
 */
#ifndef PROTO_B64_H
#define PROTO_B64_H

#include "lib/sg.h"

#include <stddef.h>
#include <stdint.h>

/* Characters written by the encoders, not counting the NUL. */
size_t proto_b64url_enc_len(size_t n);
size_t proto_b64_enc_len(size_t n);
/* Upper bound on decoded octets for `n` input characters. */
size_t proto_b64_dec_max(size_t n);

/* Encode `n` octets; `out` gets enc_len(n) + 1 bytes (NUL-terminated).
 * Returns the number of characters written. */
size_t proto_b64url_encode(const uint8_t *in, size_t n, char *out);
size_t proto_b64_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decode base64url without padding.  `out` must hold dec_max(n) octets.
 * Returns SG_OK and sets *outlen, or SG_REFUSED for malformed input ('='
 * included: JWS forbids padding).
 */
sg_rc proto_b64url_decode(const char *in, size_t n, uint8_t *out,
                          size_t *outlen) SG_WUR;

/*
 * Decode standard base64.  With `allow_unpadded` the trailing '=' may be
 * missing; when present the padding must be exactly right.  No whitespace.
 */
sg_rc proto_b64_decode(const char *in, size_t n, int allow_unpadded,
                       uint8_t *out, size_t *outlen) SG_WUR;

#endif
