/*
 * proto/proto_msgi.h - the RFC 9475 "msgi" claim: "<alg>-<base64 digest>"
 * over the exact message-body octets (DESIGN.md section 3.1).
 */
#ifndef PROTO_MSGI_H
#define PROTO_MSGI_H

#include "proto/proto_reason.h"

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    PROTO_MSGI_SHA256 = 0,
    PROTO_MSGI_SHA384,
    PROTO_MSGI_SHA512,
} proto_msgi_alg;

#define PROTO_MSGI_MAX 100 /* "sha512-" + 88 base64 chars + NUL fits */

/*
 * The digest of `alg` fetched once per process and kept until exit.  Hash
 * with it on hot paths: EVP_sha256() handed to EVP_DigestInit_ex makes
 * OpenSSL 3 fetch the implementation again, a locked lookup, each call.
 */
const EVP_MD *proto_msgi_md(proto_msgi_alg alg);

/* Compute the msgi value (padded standard base64) into `out`. */
void proto_msgi_compute(proto_msgi_alg alg, const uint8_t *body, size_t n,
                        char out[PROTO_MSGI_MAX]);

/*
 * Check a received msgi value against `body`.  Returns REASON_OK,
 * REASON_MSGI_MISMATCH (wrong digest, or a digest of the wrong length),
 * REASON_MSGI_UNSUPPORTED_ALG (well-formed "<alg>-" with another alg), or
 * REASON_MALFORMED_PASSPORT (not "<lowercase alg>-<base64>").  Padded and
 * unpadded base64 are both accepted.
 */
proto_reason proto_msgi_check(const char *msgi, const uint8_t *body,
                              size_t n);

#endif
