/*
 * verify/verify_key.h - ES256 keys as cached objects, and the ES256
 * primitive (RFC 7518 section 3.4: raw R||S of exactly 64 octets in JWS,
 * DER only inside OpenSSL).
 *
 * A PEM parse costs ~300 us under OpenSSL 3.0 (6x a verify), so keys are
 * parsed once and the object keeps whatever makes the per-message call
 * cheap (a ready EVP_PKEY_CTX, a digest context).  Objects are not
 * thread-safe: a stirgate process verifies on one thread (its loop); the
 * key-table builder (verify/verify_ktab.h) never touches a key object.
 */
#ifndef VERIFY_KEY_H
#define VERIFY_KEY_H

#include "lib/sg.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

typedef struct verify_key verify_key_t;

/*
 * Parse a P-256 key from PEM: a private key (PKCS#8 "PRIVATE KEY" or SEC1
 * "EC PRIVATE KEY") or a public key ("PUBLIC KEY").  Any other curve or
 * key type is refused.  Returns a new key, or NULL with *why set to a
 * static message.
 */
verify_key_t *verify_key_from_pem(const char *pem, size_t n, const char **why);

/* Read and parse a key file; a private key file readable by group or
 * others is refused (STYLE.md "Config").  NULL with *why on failure. */
verify_key_t *verify_key_from_file(const char *path, const char **why);

/* Wrap an EVP_PKEY (up-referenced, so the caller keeps its own). */
verify_key_t *verify_key_from_pkey(EVP_PKEY *pkey, const char **why);

void verify_key_destroy(verify_key_t **self_p);

/* Borrowed; valid while self is. */
EVP_PKEY *verify_key_get0_pkey(const verify_key_t *self);
int verify_key_is_private(const verify_key_t *self);
/* Has the key's table been built and attached (verify/verify_ktab.h)? */
int verify_key_has_table(const verify_key_t *self);

/* Attach the tables the builder has finished (verify does it too, before
 * each verify); for an idle loop, so that metrics and memory show them. */
void verify_key_collect_tables(void);

/* ES256 over `tbs`: SHA-256 then ECDSA P-256; sig is raw R||S.
 * SG_OK, or SG_ERR (logged) when the key is public-only or OpenSSL fails. */
sg_rc verify_es256_sign(verify_key_t *self, const void *tbs, size_t n,
                        uint8_t sig[64]) SG_WUR;

/*
 * 1 = valid, 0 = does not verify (a verdict), -1 = error (logged).  A
 * public key used often gets a table of its own (verify/verify_ktab.h),
 * built off the caller's thread and used from the verify after it is
 * ready; the verdicts are the same with or without it.
 */
int verify_es256_verify(verify_key_t *self, const void *tbs, size_t n,
                        const uint8_t sig[64]) SG_WUR;

#endif
