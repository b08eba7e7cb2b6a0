/*
 * verify/verify_cert.h - trust anchors, certificate chains and their checks
 * (DESIGN.md 3.6; RFC 8226, RFC 9060, RFC 9118).
 *
 * A verify_chain_t is the cached object behind an x5u URL: the parsed
 * certificates, the leaf key (a verify_key_t), the path-validation result,
 * the validity window of the whole path, the TNAuthList of every
 * certificate on the path and the leaf's claim constraints.  Building one
 * is the expensive step; every per-message check on it is cheap.
 */
#ifndef VERIFY_CERT_H
#define VERIFY_CERT_H

#include "lib/sg.h"
#include "proto/proto_reason.h"
#include "proto/proto_tn.h"
#include "verify/verify_key.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct verify_trust verify_trust_t;
typedef struct verify_chain verify_chain_t;

/* ---- trust: anchors, CRLs, SPC->TN map --------------------------------- */

verify_trust_t *verify_trust_new(void);
void verify_trust_destroy(verify_trust_t **self_p);

/* Add every certificate of a PEM file as a trust anchor.  SG_OK, or SG_ERR
 * with a message in why[whysz] (file, and what is wrong). */
sg_rc verify_trust_add_ca_file(verify_trust_t *self, const char *path,
                               char *why, size_t whysz) SG_WUR;
sg_rc verify_trust_add_ca_pem(verify_trust_t *self, const char *pem, size_t n,
                              char *why, size_t whysz) SG_WUR;

/* Add a CRL (PEM or DER).  Once any CRL is added, leaves whose issuer has
 * a CRL are checked against it; a revoked leaf is cert_revoked. */
sg_rc verify_trust_add_crl_file(verify_trust_t *self, const char *path,
                                char *why, size_t whysz) SG_WUR;

/* The same from memory (a CRL fetched from a distribution point): PEM
 * ("-----BEGIN X509 CRL-----") or DER, sniffed. */
sg_rc verify_trust_add_crl_pem_der(verify_trust_t *self, const uint8_t *buf,
                                   size_t n, char *why, size_t whysz) SG_WUR;

/* Load an SPC->TN map: {"SPC": [{"start":"1202555","count":N}, ...], ...}.
 * With a map, an `spc` TNAuthList entry covers only the TNs it maps to;
 * without one, an `spc` entry covers any TN (SHAKEN practice). */
sg_rc verify_trust_load_spc_map(verify_trust_t *self, const char *path,
                                char *why, size_t whysz) SG_WUR;

/* ---- chains ------------------------------------------------------------ */

/*
 * Parse a PEM certificate list (signer first, then its issuers; RFC 9060
 * section 7) and validate the path to the trust anchors: intermediates from
 * the list are untrusted, time is NOT checked here (see check_at), CRLs are.
 * Returns a new chain in *out (NULL when the PEM holds no certificate or a
 * malformed one) and the validation result: REASON_OK, REASON_CERT_UNTRUSTED
 * (no path, malformed, leaf key not P-256, TNAuthList malformed) or
 * REASON_CERT_REVOKED.  A chain is returned for untrusted results too, so a
 * cache can remember the verdict.  `detail` gets a short explanation.
 */
proto_reason verify_chain_build(verify_trust_t *trust, const char *pem,
                                size_t n, verify_chain_t **out, char *detail,
                                size_t detailsz);

void verify_chain_destroy(verify_chain_t **self_p);

/* The path-validation result computed by build. */
proto_reason verify_chain_status(const verify_chain_t *self);

/* Borrowed leaf public key (ready for verify_es256_verify). */
verify_key_t *verify_chain_get0_key(const verify_chain_t *self);

/* Validity window shared by every certificate on the path (epoch s). */
int64_t verify_chain_not_before(const verify_chain_t *self);
int64_t verify_chain_not_after(const verify_chain_t *self);

/* Leaf notAfter (a cache must not keep the chain past it). */
int64_t verify_chain_leaf_not_after(const verify_chain_t *self);

/* REASON_OK when every certificate on the path is valid at `t`
 * (inclusive), else REASON_CERT_EXPIRED. */
proto_reason verify_chain_check_at(const verify_chain_t *self, int64_t t);

/* REASON_OK when the leaf's TNAuthList covers the identity and every CA
 * TNAuthList on the path does too (RFC 8226 9); else
 * REASON_TN_NOT_AUTHORIZED.  A URI identity is never covered. */
proto_reason verify_chain_check_tn(const verify_chain_t *self,
                                   const verify_trust_t *trust,
                                   proto_ident_kind kind, const char *value);

/* REASON_OK or REASON_CLAIM_CONSTRAINT for the leaf's JWTClaimConstraints
 * / EnhancedJWTClaimConstraints against the payload. */
proto_reason verify_chain_check_claims(const verify_chain_t *self,
                                       const json_t *payload);

/* 1 when the leaf has claim constraints, i.e. when check_claims reads the
 * payload at all (it is REASON_OK for any payload otherwise). */
int verify_chain_has_claim_constraints(const verify_chain_t *self);

/* SHA-256 of the leaf DER as lowercase hex (65 bytes with NUL). */
void verify_chain_fingerprint(const verify_chain_t *self, char out[65]);

#endif
