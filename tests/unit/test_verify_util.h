/*
 * tests/unit/test_verify_util.h - shared fixtures of the verify/ tests:
 * the RFC keys of STIR.md section 9 and small helpers.
 */
#ifndef TEST_VERIFY_UTIL_H
#define TEST_VERIFY_UTIL_H

#include "proto/proto_b64.h"
#include "verify/verify_key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* RFC 8225 A.1 private key (STIR.md T3). */
#define TV_RFC8225_A1_PRIV                                                     \
    "-----BEGIN PRIVATE KEY-----\n"                                            \
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgi7q2TZvN9VDFg8Vy\n"       \
    "qCP06bETrR2v8MRvr89rn4i+UAahRANCAAQWfaj1HUETpoNCrOtp9KA8o0V79IuW\n"       \
    "ARKt9C1cFPkyd3FBP4SeiNZxQhDrD0tdBHls3/wFe8++K2FrPyQF9vuh\n"               \
    "-----END PRIVATE KEY-----\n"

/* RFC 8225 A.2 public key: NOT the pair of A.1 (STIR.md T3). */
#define TV_RFC8225_A2_PUB                                                      \
    "-----BEGIN PUBLIC KEY-----\n"                                             \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8HNbQd/TmvCKwPKHkMF9fScavGeH\n"       \
    "78YTU8qLS8I5HLHSSmlATLcslQMhNC/OhlWBYC626nIlo7XeebYS7Sb37g==\n"           \
    "-----END PUBLIC KEY-----\n"

/* The public key derived from A.1 (as computed in STIR.md T3). */
#define TV_RFC8225_A1_PUB                                                      \
    "-----BEGIN PUBLIC KEY-----\n"                                             \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFn2o9R1BE6aDQqzrafSgPKNFe/SL\n"       \
    "lgESrfQtXBT5MndxQT+EnojWcUIQ6w9LXQR5bN/8BXvPvithaz8kBfb7oQ==\n"           \
    "-----END PUBLIC KEY-----\n"

/* RFC 8946 Appendix A pair (STIR.md T4), a SEC1 private key. */
#define TV_RFC8946_PUB                                                         \
    "-----BEGIN PUBLIC KEY-----\n"                                             \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmzGM1VsO+3IqbMF54rQMaYKQftO4\n"       \
    "hUYm9wv5wutLgEd9FsiTy3+4+Wa2O7pffOXPC0QzO+yD8hGEXGP/2mZo6w==\n"           \
    "-----END PUBLIC KEY-----\n"
#define TV_RFC8946_PRIV                                                        \
    "-----BEGIN EC PRIVATE KEY-----\n"                                         \
    "MHcCAQEEIFKCsFZ4Wsw3ZpBxgc4Z0sOjaXDdMk07Ny1fKg6OntAkoAoGCCqGSM49\n"       \
    "AwEHoUQDQgAEmzGM1VsO+3IqbMF54rQMaYKQftO4hUYm9wv5wutLgEd9FsiTy3+4\n"       \
    "+Wa2O7pffOXPC0QzO+yD8hGEXGP/2mZo6w==\n"                                   \
    "-----END EC PRIVATE KEY-----\n"

/* STIR.md D2: a msg PASSporT signed with the RFC 8946 key. */
#define TV_D2_TOKEN                                                            \
    "eyJhbGciOiJFUzI1NiIsInBwdCI6Im1zZyIsInR5cCI6InBhc3Nwb3J0IiwieDV1Ijoia"    \
    "HR0cHM6Ly9jZXJ0LmV4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9.eyJkZXN0Ijp7InRuI"    \
    "jpbIjEyMTU1NTUxMjEzIl19LCJpYXQiOjE0NDMyMDgzNDUsIm1zZ2kiOiJzaGEyNTYtTV"    \
    "Y5YjIzYlFlTVE3aXNBR1Rrb0JaR0VySDg1M3lHazBXL3lVeDFpVTdkTT0iLCJvcmlnIjp"    \
    "7InRuIjoiMTIxNTU1NTEyMTIifX0.lf7oPr8qvOZiYJkRGIIazHEL3OpF2c8OQEBX5SWP"    \
    "w7fCj6_Jyq3Lz9me8RqzZtVpOpmEzbor7aEXZeDsveo_kw"

static inline verify_key_t *
tv_key(const char *pem)
{
    const char *why = NULL;

    return verify_key_from_pem(pem, strlen(pem), &why);
}

/*
 * ES256 check of a full-form JWS at the key level: signing input is
 * everything before the last '.', the signature the base64url after it.
 * Returns 1/0/-1 like verify_es256_verify, or -2 when the token is not
 * three segments with a 64-octet signature.
 */
static inline int
tv_jws_verify(verify_key_t *key, const char *token)
{
    const char *dot = strrchr(token, '.');
    uint8_t sig[80];
    size_t siglen = 0;

    if (dot == NULL || strlen(dot + 1) > 90 ||
        proto_b64url_decode(dot + 1, strlen(dot + 1), sig, &siglen) != SG_OK ||
        siglen != 64)
        return -2;
    return verify_es256_verify(key, token, (size_t)(dot - token), sig);
}

#endif
