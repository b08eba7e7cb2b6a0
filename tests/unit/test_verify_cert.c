/*
 * Unit tests: trust stores, chain building, validity at iat, TNAuthList
 * scope over the path, CRLs, the SPC map, and STIR.md T7's certificate.
 */
#include "lib/sg.h"
#include "tests/unit/test_verify_pkifx.h"
#include "tests/unit/tu.h"
#include "verify/verify_cert.h"
#include "verify/verify_pki.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

/* RFC 9118 Figures 1-2 (STIR.md T7): SPC 1234 and an eJWTClaimConstraints
 * extension; expired since 2022-07-15. */
#define T7_CERT                                                                \
    "-----BEGIN CERTIFICATE-----\n"                                            \
    "MIICpzCCAk2gAwIBAgIUH7Zd3rQ5AsvOlzLnzUHhrVhDSlswCgYIKoZIzj0EAwIw\n"       \
    "KTELMAkGA1UEBhMCVVMxGjAYBgNVBAMMEUJPR1VTIFNIQUtFTiBST09UMB4XDTIx\n"       \
    "MDcxNTIxNTIxNVoXDTIyMDcxNTIxNTIxNVowbDELMAkGA1UEBhMCVVMxCzAJBgNV\n"       \
    "BAgMAlZBMRAwDgYDVQQHDAdIZXJuZG9uMR4wHAYDVQQKDBVCb2d1cyBFeGFtcGxl\n"       \
    "IFRlbGVjb20xDTALBgNVBAsMBFZvSVAxDzANBgNVBAMMBlNIQUtFTjBZMBMGByqG\n"       \
    "SM49AgEGCCqGSM49AwEHA0IABNR6C6nBWRA/fXTglV03aXkXy8hx9oBttVLhsTZ1\n"       \
    "IYVRBao4OZhVf/Xv1a3xLsZ6KfdhuylSeAKuCoSbVGojYDGjggEOMIIBCjAMBgNV\n"       \
    "HRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIHgDAdBgNVHQ4EFgQUDlG3dxHyzKL/FZfS\n"       \
    "PI7rpuueRbswHwYDVR0jBBgwFoAUlToKtrQeFrwwyXpMj1qu3TQEeoEwQgYJYIZI\n"       \
    "AYb4QgENBDUWM1RoaXMgY2VydGlmaWNhdGUgY2Fubm90IGJlIHRydXN0ZWQgZm9y\n"       \
    "IGFueSBwdXJwb3NlLjAWBggrBgEFBQcBGgQKMAigBhYEMTIzNDBOBggrBgEFBQcB\n"       \
    "IQRCMECgDjAMFgpjb25maWRlbmNloSAwHjAcFgpjb25maWRlbmNlMA4MBGhpZ2gM\n"       \
    "Bm1lZGl1baIMMAoWCHByaW9yaXR5MAoGCCqGSM49BAMCA0gAMEUCIQCbNR4QK1um\n"       \
    "+0vq2CE1B1/W3avYeREsPi/7RKHffL+5eQIgarHot+X9Rl7SOyNBq5X5JyEMx0SQ\n"       \
    "hRLkCY3Zoz2OCNQ=\n"                                                       \
    "-----END CERTIFICATE-----\n"

static int64_t
s_utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

TU_TEST(verify_cert_t7_extensions)
{
    verify_trust_t *trust = verify_trust_new();
    verify_chain_t *ch = NULL;
    char detail[256];
    json_t *p;
    proto_reason r;

    /* Its root is not ours: untrusted, but the extensions are read. */
    r = verify_chain_build(trust, T7_CERT, strlen(T7_CERT), &ch, detail,
                           sizeof(detail));
    TU_INTEQ(r, REASON_CERT_UNTRUSTED);
    TU_REQUIRE(ch != NULL);
    TU_CHECK(strstr(detail, "no trusted path") != NULL);
    TU_CHECK(verify_chain_get0_key(ch) != NULL);
    TU_INTEQ(verify_chain_not_before(ch), s_utc(2021, 7, 15, 21, 52, 15));
    TU_INTEQ(verify_chain_not_after(ch), s_utc(2022, 7, 15, 21, 52, 15));
    TU_INTEQ(verify_chain_leaf_not_after(ch), s_utc(2022, 7, 15, 21, 52, 15));
    /* Expired: validity at a 2026 iat fails; at a 2022 iat it holds. */
    TU_INTEQ(verify_chain_check_at(ch, 1790000000), REASON_CERT_EXPIRED);
    TU_INTEQ(verify_chain_check_at(ch, 1650000000), REASON_OK);
    TU_INTEQ(verify_chain_check_at(ch, s_utc(2022, 7, 15, 21, 52, 15)),
             REASON_OK);
    TU_INTEQ(verify_chain_check_at(ch, s_utc(2022, 7, 15, 21, 52, 16)),
             REASON_CERT_EXPIRED);
    /* SPC 1234, no map: any TN; a URI never. */
    TU_INTEQ(verify_chain_check_tn(ch, trust, PROTO_IDENT_TN, "12155551212"),
             REASON_OK);
    TU_INTEQ(verify_chain_check_tn(ch, trust, PROTO_IDENT_URI,
                                   "sip:alice@example.com"),
             REASON_TN_NOT_AUTHORIZED);
    /* eJWTClaimConstraints: confidence in {high, medium}, no priority. */
    p = json_pack("{s:s}", "confidence", "high");
    TU_INTEQ(verify_chain_check_claims(ch, p), REASON_OK);
    json_object_set_new(p, "priority", json_string("1"));
    TU_INTEQ(verify_chain_check_claims(ch, p), REASON_CLAIM_CONSTRAINT);
    json_decref(p);
    p = json_pack("{s:s}", "confidence", "low");
    TU_INTEQ(verify_chain_check_claims(ch, p), REASON_CLAIM_CONSTRAINT);
    json_decref(p);
    verify_chain_destroy(&ch);
    TU_CHECK(ch == NULL);
    verify_trust_destroy(&trust);
    TU_CHECK(trust == NULL);
    TU_CHECK(ERR_peek_error() == 0);
}

TU_TEST(verify_cert_chain_ok)
{
    fx_t fx;
    char fp[65], want[65];
    unsigned char md[32];
    unsigned int mdlen = 0, i;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    TU_INTEQ(fx.chain_reason, REASON_OK);
    TU_INTEQ(verify_chain_status(fx.chain), REASON_OK);
    /* Window: the leaf's (inside the CAs'). */
    TU_INTEQ(verify_chain_not_before(fx.chain), FX_IAT - FX_DAY);
    TU_INTEQ(verify_chain_not_after(fx.chain), FX_IAT + 30 * FX_DAY);
    TU_INTEQ(verify_chain_check_at(fx.chain, FX_IAT - FX_DAY), REASON_OK);
    TU_INTEQ(verify_chain_check_at(fx.chain, FX_IAT - FX_DAY - 1),
             REASON_CERT_EXPIRED);
    verify_chain_fingerprint(fx.chain, fp);
    X509_digest(fx.leaf, EVP_sha256(), md, &mdlen);
    for (i = 0; i < mdlen; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    TU_STREQ(fp, want);
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "12155551999"),
             REASON_OK);
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "12155552000"),
             REASON_TN_NOT_AUTHORIZED);
    fx_fini(&fx);
}

TU_TEST(verify_cert_chain_untrusted)
{
    fx_t fx, other;
    char *leaf_pem, *pem;
    verify_chain_t *ch = NULL;
    char detail[256];
    int i;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    TU_REQUIRE(fx_init(&other, NULL) == 0);
    /* Unknown root: fx's chain against other's trust. */
    TU_INTEQ(verify_chain_build(other.trust, fx.chain_pem, strlen(fx.chain_pem),
                                &ch, detail, sizeof(detail)),
             REASON_CERT_UNTRUSTED);
    TU_REQUIRE(ch != NULL);
    TU_INTEQ(verify_chain_status(ch), REASON_CERT_UNTRUSTED);
    verify_chain_destroy(&ch);
    /* Missing intermediate. */
    leaf_pem = verify_pki_cert_pem(fx.leaf);
    TU_INTEQ(verify_chain_build(fx.trust, leaf_pem, strlen(leaf_pem), &ch,
                                detail, sizeof(detail)),
             REASON_CERT_UNTRUSTED);
    TU_CHECK(strstr(detail, "local issuer") != NULL);
    verify_chain_destroy(&ch);
    /* Garbage, and a certificate block that does not parse. */
    TU_INTEQ(
        verify_chain_build(fx.trust, "hello", 5, &ch, detail, sizeof(detail)),
        REASON_CERT_UNTRUSTED);
    TU_CHECK(ch == NULL);
    TU_STREQ(detail, "no certificate in the PEM");
    pem = fx_concat(leaf_pem, "-----BEGIN CERTIFICATE-----\nAAAA\n"
                              "-----END CERTIFICATE-----\n");
    TU_INTEQ(verify_chain_build(fx.trust, pem, strlen(pem), &ch, detail,
                                sizeof(detail)),
             REASON_CERT_UNTRUSTED);
    TU_CHECK(ch == NULL);
    TU_CHECK(strstr(detail, "does not parse") != NULL);
    free(pem);
    /* Eleven certificates: over the bound. */
    pem = fx_concat(leaf_pem, NULL);
    for (i = 0; i < 10; i++) {
        char *q = fx_concat(pem, leaf_pem);
        free(pem);
        pem = q;
    }
    TU_INTEQ(verify_chain_build(fx.trust, pem, strlen(pem), &ch, detail,
                                sizeof(detail)),
             REASON_CERT_UNTRUSTED);
    TU_CHECK(ch == NULL);
    TU_CHECK(strstr(detail, "more than") != NULL);
    free(pem);
    free(leaf_pem);
    TU_CHECK(ERR_peek_error() == 0);
    fx_fini(&fx);
    fx_fini(&other);
}

TU_TEST(verify_cert_leaf_key_not_p256)
{
    fx_t fx;
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    verify_pki_cert_opts c;
    X509 *leaf;
    char *pem, *inter, *all, detail[256];
    verify_chain_t *ch = NULL;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    memset(&c, 0, sizeof(c));
    c.cn = "P-384 leaf";
    c.not_before = FX_IAT - FX_DAY;
    c.not_after = FX_IAT + FX_DAY;
    leaf = verify_pki_cert(&c, p384, fx.inter, fx.inter_key);
    TU_REQUIRE(leaf != NULL);
    pem = verify_pki_cert_pem(leaf);
    inter = verify_pki_cert_pem(fx.inter);
    all = fx_concat(pem, inter);
    TU_INTEQ(verify_chain_build(fx.trust, all, strlen(all), &ch, detail,
                                sizeof(detail)),
             REASON_CERT_UNTRUSTED);
    TU_CHECK(strstr(detail, "P-256") != NULL);
    TU_CHECK(ch != NULL && verify_chain_get0_key(ch) == NULL);
    verify_chain_destroy(&ch);
    free(pem);
    free(inter);
    free(all);
    X509_free(leaf);
    EVP_PKEY_free(p384);
    fx_fini(&fx);
}

TU_TEST(verify_cert_crl)
{
    fx_t fx;
    const uint64_t serials[] = {7, 4242};
    X509_CRL *crl_inter, *crl_root;
    char *pem, why[256];
    unsigned char *der = NULL;
    int derlen;
    fx_opts o = {.leaf_serial = 4242};

    TU_REQUIRE(fx_init(&fx, &o) == 0);
    TU_INTEQ(fx.chain_reason, REASON_OK);
    /* A CRL for the root only: the intermediate's children are not
     * checked (no CRL for that issuer = no revocation check). */
    crl_root = verify_pki_crl(fx.root, fx.root_key, serials, 1, FX_IAT - FX_DAY,
                              FX_IAT + FX_DAY);
    TU_REQUIRE(crl_root != NULL);
    pem = verify_pki_crl_pem(crl_root);
    TU_REQUIRE(verify_trust_add_crl_pem_der(fx.trust, (uint8_t *)pem,
                                            strlen(pem), why,
                                            sizeof(why)) == SG_OK);
    free(pem);
    fx_rebuild(&fx);
    TU_INTEQ(fx.chain_reason, REASON_OK);
    /* The intermediate's CRL, as DER, revokes the leaf. */
    crl_inter = verify_pki_crl(fx.inter, fx.inter_key, serials, 2,
                               FX_IAT - FX_DAY, FX_IAT + FX_DAY);
    TU_REQUIRE(crl_inter != NULL);
    derlen = i2d_X509_CRL(crl_inter, &der);
    TU_REQUIRE(derlen > 0);
    TU_REQUIRE(verify_trust_add_crl_pem_der(fx.trust, der, (size_t)derlen, why,
                                            sizeof(why)) == SG_OK);
    fx_rebuild(&fx);
    TU_INTEQ(fx.chain_reason, REASON_CERT_REVOKED);
    TU_INTEQ(verify_chain_status(fx.chain), REASON_CERT_REVOKED);
    TU_CHECK(verify_trust_add_crl_pem_der(fx.trust, der, 10, why,
                                          sizeof(why)) == SG_ERR);
    TU_CHECK(strstr(why, "does not parse") != NULL);
    OPENSSL_free(der);
    X509_CRL_free(crl_inter);
    X509_CRL_free(crl_root);
    TU_CHECK(ERR_peek_error() == 0);
    fx_fini(&fx);
}

TU_TEST(verify_cert_crl_file_and_ca_file)
{
    fx_t fx;
    const uint64_t serial = 99;
    X509_CRL *crl;
    char *pem, path[300], capath[300], why[300];
    verify_trust_t *t;
    fx_opts o = {.leaf_serial = 99};

    TU_REQUIRE(fx_init(&fx, &o) == 0);
    crl = verify_pki_crl(fx.inter, fx.inter_key, &serial, 1, FX_IAT,
                         FX_IAT + FX_DAY);
    pem = verify_pki_crl_pem(crl);
    snprintf(path, sizeof(path), "%s/inter.crl", tu_tmpdir());
    snprintf(capath, sizeof(capath), "%s/ca.pem", tu_tmpdir());
    TU_REQUIRE(verify_pki_write_file(path, pem, 0644) == SG_OK);
    TU_REQUIRE(verify_pki_write_file(capath, fx.root_pem, 0644) == SG_OK);
    t = verify_trust_new();
    TU_REQUIRE(verify_trust_add_ca_file(t, capath, why, sizeof(why)) == SG_OK);
    /* Adding the same anchor twice is fine. */
    TU_CHECK(verify_trust_add_ca_file(t, capath, why, sizeof(why)) == SG_OK);
    TU_REQUIRE(verify_trust_add_crl_file(t, path, why, sizeof(why)) == SG_OK);
    verify_trust_destroy(&fx.trust);
    fx.trust = t;
    fx_rebuild(&fx);
    TU_INTEQ(fx.chain_reason, REASON_CERT_REVOKED);
    TU_CHECK(verify_trust_add_ca_file(t, "/nonexistent", why, sizeof(why)) ==
             SG_ERR);
    TU_CHECK(verify_trust_add_ca_pem(t, "junk", 4, why, sizeof(why)) == SG_ERR);
    TU_CHECK(verify_trust_add_crl_file(t, capath, why, sizeof(why)) == SG_ERR);
    free(pem);
    X509_CRL_free(crl);
    fx_fini(&fx);
}

TU_TEST(verify_cert_tn_on_path)
{
    fx_t fx;
    fx_opts narrow = {.inter_range = "12155551000", .inter_count = 100};
    fx_opts none = {.leaf_no_tnauth = 1};

    /* The CA list limits the leaf's: 12155551500 is in the leaf range
     * (1000..1999) but not in the intermediate's (1000..1099). */
    TU_REQUIRE(fx_init(&fx, &narrow) == 0);
    TU_INTEQ(fx.chain_reason, REASON_OK);
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "12155551050"),
             REASON_OK);
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "12155551500"),
             REASON_TN_NOT_AUTHORIZED);
    fx_fini(&fx);
    /* A leaf without TNAuthList builds, but authorizes nothing. */
    TU_REQUIRE(fx_init(&fx, &none) == 0);
    TU_INTEQ(fx.chain_reason, REASON_OK);
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "12155551050"),
             REASON_TN_NOT_AUTHORIZED);
    fx_fini(&fx);
}

TU_TEST(verify_cert_malformed_tnauth_is_untrusted)
{
    static const uint8_t bad[] = {0x30, 0x03, 0xa2, 0x01, 0x16};
    verify_pki_cert_opts c;
    fx_t fx;
    X509 *leaf;
    char *pem, *inter, *all, detail[256];
    verify_chain_t *ch = NULL;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    memset(&c, 0, sizeof(c));
    c.cn = "bad TNAuthList";
    c.not_before = FX_IAT - FX_DAY;
    c.not_after = FX_IAT + FX_DAY;
    c.tnauth_der = bad;
    c.tnauth_len = sizeof(bad);
    leaf = verify_pki_cert(&c, fx.leaf_key, fx.inter, fx.inter_key);
    pem = verify_pki_cert_pem(leaf);
    inter = verify_pki_cert_pem(fx.inter);
    all = fx_concat(pem, inter);
    TU_INTEQ(verify_chain_build(fx.trust, all, strlen(all), &ch, detail,
                                sizeof(detail)),
             REASON_CERT_UNTRUSTED);
    TU_CHECK(strstr(detail, "TNAuthList") != NULL);
    verify_chain_destroy(&ch);
    free(pem);
    free(inter);
    free(all);
    X509_free(leaf);
    fx_fini(&fx);
}

TU_TEST(verify_cert_both_jcc_is_untrusted)
{
    /* A leaf with id-pe 27 and id-pe 33 (RFC 9118 s3 forbids it). */
    static const uint8_t jcc[] = {0x30, 0x0a, 0xa0, 0x08, 0x30, 0x06,
                                  0x16, 0x04, 'p',  'p',  't',  '!'};
    fx_t fx;
    X509 *leaf;
    X509_EXTENSION *ext;
    ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.5.5.7.1.33", 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    char *pem, *inter, *all, detail[256];
    verify_chain_t *ch = NULL;
    fx_opts o = {.jcc_der = jcc, .jcc_len = sizeof(jcc)};

    TU_REQUIRE(fx_init(&fx, &o) == 0);
    TU_INTEQ(fx.chain_reason, REASON_OK);
    leaf = X509_dup(fx.leaf);
    ASN1_OCTET_STRING_set(os, jcc, sizeof(jcc));
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
    X509_add_ext(leaf, ext, -1);
    X509_sign(leaf, fx.inter_key, EVP_sha256());
    pem = verify_pki_cert_pem(leaf);
    inter = verify_pki_cert_pem(fx.inter);
    all = fx_concat(pem, inter);
    TU_INTEQ(verify_chain_build(fx.trust, all, strlen(all), &ch, detail,
                                sizeof(detail)),
             REASON_CERT_UNTRUSTED);
    TU_CHECK(strstr(detail, "RFC 9118") != NULL);
    verify_chain_destroy(&ch);
    free(pem);
    free(inter);
    free(all);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    X509_free(leaf);
    fx_fini(&fx);
}

TU_TEST(verify_cert_spc_map)
{
    fx_t fx;
    fx_opts o = {.leaf_spc = "1234"};
    char path[300], why[300];

    TU_REQUIRE(fx_init(&fx, &o) == 0);
    TU_INTEQ(fx.chain_reason, REASON_OK);
    /* Without a map an SPC covers any TN. */
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "19995550000"),
             REASON_OK);
    snprintf(path, sizeof(path), "%s/spc.json", tu_tmpdir());
    TU_REQUIRE(verify_pki_write_file(
                   path,
                   "{\"1234\": [{\"start\": \"12025550000\", \"count\": "
                   "1000}], \"9999\": [{\"start\": \"19995550000\", "
                   "\"count\": 10}]}",
                   0644) == SG_OK);
    TU_REQUIRE(verify_trust_load_spc_map(fx.trust, path, why, sizeof(why)) ==
               SG_OK);
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "12025550999"),
             REASON_OK);
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "12025551000"),
             REASON_TN_NOT_AUTHORIZED);
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "19995550000"),
             REASON_TN_NOT_AUTHORIZED);
    /* Bad maps are refused with the place. */
    TU_REQUIRE(verify_pki_write_file(path, "{\"1234\": [{\"start\": 5}]}",
                                     0644) == SG_OK);
    TU_CHECK(verify_trust_load_spc_map(fx.trust, path, why, sizeof(why)) ==
             SG_ERR);
    TU_CHECK(strstr(why, "1234") != NULL);
    TU_REQUIRE(verify_pki_write_file(path, "{\"1234\": [}", 0644) == SG_OK);
    TU_CHECK(verify_trust_load_spc_map(fx.trust, path, why, sizeof(why)) ==
             SG_ERR);
    TU_CHECK(strstr(why, ":1:") != NULL);
    /* A failed load leaves no map: back to "any TN". */
    TU_INTEQ(verify_chain_check_tn(fx.chain, fx.trust, PROTO_IDENT_TN,
                                   "19995550000"),
             REASON_OK);
    fx_fini(&fx);
}

TU_TEST(verify_pki_write_file_mode)
{
    char path[300];
    struct stat st;
    char *back;

    snprintf(path, sizeof(path), "%s/secret.pem", tu_tmpdir());
    TU_REQUIRE(verify_pki_write_file(path, "one", 0600) == SG_OK);
    TU_REQUIRE(verify_pki_write_file(path, "two", 0600) == SG_OK);
    TU_REQUIRE(stat(path, &st) == 0);
    TU_INTEQ(st.st_mode & 0777, 0600);
    back = tu_read_file(path, NULL);
    TU_STREQ(back, "two");
    free(back);
    TU_CHECK(verify_pki_write_file("/nonexistent/dir/x", "x", 0600) == SG_ERR);
}

/*
 * Replace (or with value NULL, drop) one extension of `cert` and re-sign it
 * with `issuer_key`; the SKI/AKI stay, so the path still links.
 */
static int
s_reissue(X509 *cert, int nid, const char *value, EVP_PKEY *issuer_key)
{
    int i;

    while ((i = X509_get_ext_by_NID(cert, nid, -1)) >= 0)
        X509_EXTENSION_free(X509_delete_ext(cert, i));
    if (value != NULL) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

        if (ext == NULL || X509_add_ext(cert, ext, -1) != 1) {
            X509_EXTENSION_free(ext);
            return -1;
        }
        X509_EXTENSION_free(ext);
    }
    return X509_sign(cert, issuer_key, EVP_sha256()) > 0 ? 0 : -1;
}

/* Rebuild fx's chain PEM from its (re-issued) leaf and intermediate. */
static proto_reason
s_rebuild_from(fx_t *fx)
{
    char *leaf_pem = verify_pki_cert_pem(fx->leaf);
    char *inter_pem = verify_pki_cert_pem(fx->inter);

    free(fx->chain_pem);
    fx->chain_pem = fx_concat(leaf_pem, inter_pem);
    free(leaf_pem);
    free(inter_pem);
    fx_rebuild(fx);
    return fx->chain_reason;
}

/*
 * Regression: a leaf whose keyUsage lacks digitalSignature was accepted as
 * a PASSporT signer (RFC 5280 4.2.1.3); no keyUsage at all is fine.
 */
TU_TEST(verify_cert_leaf_key_usage)
{
    fx_t fx;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    TU_REQUIRE(s_reissue(fx.leaf, NID_key_usage, "critical,keyCertSign",
                         fx.inter_key) == 0);
    TU_INTEQ(s_rebuild_from(&fx), REASON_CERT_UNTRUSTED);
    TU_CHECK(strstr(fx.detail, "digitalSignature") != NULL);
    TU_REQUIRE(s_reissue(fx.leaf, NID_key_usage,
                         "critical,nonRepudiation,keyAgreement",
                         fx.inter_key) == 0);
    TU_INTEQ(s_rebuild_from(&fx), REASON_CERT_UNTRUSTED);
    TU_REQUIRE(s_reissue(fx.leaf, NID_key_usage,
                         "critical,digitalSignature,nonRepudiation",
                         fx.inter_key) == 0);
    TU_INTEQ(s_rebuild_from(&fx), REASON_OK);
    TU_REQUIRE(s_reissue(fx.leaf, NID_key_usage, NULL, fx.inter_key) == 0);
    TU_INTEQ(s_rebuild_from(&fx), REASON_OK);
    fx_fini(&fx);
}

/*
 * Pins what verify_cert.c relies on OpenSSL for: an intermediate must be
 * a CA by basicConstraints (keyCertSign alone, or CA:FALSE, is not), and a
 * CA keyUsage without keyCertSign cannot sign certificates.
 */
TU_TEST(verify_cert_intermediate_must_be_ca)
{
    fx_t fx;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    TU_REQUIRE(s_reissue(fx.inter, NID_basic_constraints, NULL, fx.root_key) ==
               0);
    TU_INTEQ(s_rebuild_from(&fx), REASON_CERT_UNTRUSTED);
    TU_REQUIRE(s_reissue(fx.inter, NID_basic_constraints, "critical,CA:FALSE",
                         fx.root_key) == 0);
    TU_INTEQ(s_rebuild_from(&fx), REASON_CERT_UNTRUSTED);
    TU_REQUIRE(s_reissue(fx.inter, NID_basic_constraints, "critical,CA:TRUE",
                         fx.root_key) == 0);
    TU_INTEQ(s_rebuild_from(&fx), REASON_OK);
    TU_REQUIRE(s_reissue(fx.inter, NID_key_usage, "critical,digitalSignature",
                         fx.root_key) == 0);
    TU_INTEQ(s_rebuild_from(&fx), REASON_CERT_UNTRUSTED);
    TU_REQUIRE(s_reissue(fx.inter, NID_key_usage, "critical,keyCertSign",
                         fx.root_key) == 0);
    TU_INTEQ(s_rebuild_from(&fx), REASON_OK);
    fx_fini(&fx);
}

/*
 * The trust anchor is inside the validity window (a documented choice in
 * verify_cert.c s_window): an anchor expired at iat makes the path expired
 * at iat, inclusive bounds on both ends.
 */
TU_TEST(verify_cert_anchor_in_window)
{
    fx_t fx;
    verify_pki_cert_opts c;
    X509 *root;
    char *pem, why[200];
    verify_trust_t *trust;
    verify_chain_t *ch = NULL;
    char detail[256];

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    /* The same root key and name, valid only until FX_IAT - 10. */
    memset(&c, 0, sizeof(c));
    c.cn = "Test STI Root";
    c.is_ca = 1;
    c.not_before = FX_IAT - 3650 * FX_DAY;
    c.not_after = FX_IAT - 10;
    root = verify_pki_cert(&c, fx.root_key, NULL, NULL);
    TU_REQUIRE(root != NULL);
    pem = verify_pki_cert_pem(root);
    trust = verify_trust_new();
    TU_REQUIRE(verify_trust_add_ca_pem(trust, pem, strlen(pem), why,
                                       sizeof(why)) == SG_OK);
    TU_INTEQ(verify_chain_build(trust, fx.chain_pem, strlen(fx.chain_pem), &ch,
                                detail, sizeof(detail)),
             REASON_OK);
    TU_REQUIRE(ch != NULL);
    TU_INTEQ(verify_chain_not_after(ch), FX_IAT - 10);
    TU_INTEQ(verify_chain_check_at(ch, FX_IAT - 10), REASON_OK);
    TU_INTEQ(verify_chain_check_at(ch, FX_IAT - 9), REASON_CERT_EXPIRED);
    TU_INTEQ(verify_chain_check_at(ch, FX_IAT), REASON_CERT_EXPIRED);
    verify_chain_destroy(&ch);
    verify_trust_destroy(&trust);
    free(pem);
    X509_free(root);
    fx_fini(&fx);
}
