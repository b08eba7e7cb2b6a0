/*
 * verify/verify_pki.h - make STIR certificates: the demo PKI of
 * `stirgate pki demo`, the embedded default, and the test fixtures.
 *
 * Not on any verification path.  Keys are P-256; certificates are X.509 v3
 * signed with ECDSA-SHA256.
 */
#ifndef VERIFY_PKI_H
#define VERIFY_PKI_H

#include "lib/sg.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

/* A new P-256 key pair; never NULL (panics). */
EVP_PKEY *verify_pki_keygen(void);

typedef struct {
    const char *cn;            /* subject CN; O is "stirgate demo" */
    int is_ca;                 /* basicConstraints CA:TRUE, keyCertSign|cRLSign */
    int64_t not_before;        /* epoch seconds */
    int64_t not_after;
    uint64_t serial;           /* 0 = random */
    const uint8_t *tnauth_der; /* TNAuthList value (RFC 8226 9), or NULL */
    size_t tnauth_len;
    const uint8_t *jcc_der;    /* JWTClaimConstraints value, or NULL */
    size_t jcc_len;
    int jcc_enhanced;          /* 1: put jcc_der in id-pe 33 instead of 27 */
    const char *crl_url;       /* CRL Distribution Point URI, or NULL */
} verify_pki_cert_opts;

/*
 * Make a certificate for `key` signed by `issuer_key` with `issuer` as the
 * issuer (NULL issuer = self-signed by `key`).  SKI/AKI are set.  New, or
 * NULL (logged).
 */
X509 *verify_pki_cert(const verify_pki_cert_opts *opts, EVP_PKEY *key,
                      X509 *issuer, EVP_PKEY *issuer_key);

/* A CRL by `issuer` revoking the listed serials, valid [this, next].
 * New, or NULL (logged). */
X509_CRL *verify_pki_crl(X509 *issuer, EVP_PKEY *issuer_key,
                         const uint64_t *serials, size_t n_serials,
                         int64_t this_update, int64_t next_update);

/*
 * TNAuthList DER with the given entries (any may be NULL/0): one SPC, one
 * range (start, count >= 2), one single TN.  Returns the length written into
 * out (at most outsz), or 0 when it does not fit.
 */
size_t verify_pki_tnauth_der(const char *spc, const char *range_start,
                             uint64_t range_count, const char *one,
                             uint8_t *out, size_t outsz);

/* PEM writers: new NUL-terminated strings.  Private keys as PKCS#8. */
char *verify_pki_key_pem(EVP_PKEY *key);
char *verify_pki_cert_pem(X509 *cert);
char *verify_pki_crl_pem(X509_CRL *crl);

/* Write `data` to `path` with `mode` (0600 for keys), atomically. */
sg_rc verify_pki_write_file(const char *path, const char *data, int mode)
    SG_WUR;

#endif
