/*
 * Unit tests: ES256 keys and the raw R||S primitive against the vectors of
 * STIR.md section 9 (T1-T6, D2, D3), round trips, edge signatures.
 * (Speed lives in bench/bench_stir, never in a test.)
 */
#include "lib/sg.h"
#include "proto/proto_msgi.h"
#include "tests/unit/test_verify_util.h"
#include "tests/unit/tu.h"
#include "verify/verify_key.h"
#include "verify/verify_pki.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <sys/stat.h>

#define T1_TOKEN                                                               \
    "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0L"    \
    "mV4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9.eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY"    \
    "2VAZXhhbXBsZS5jb20iXX0sImlhdCI6IjE0NDMyMDgzNDUiLCJvcmlnIjp7InRuIjoiMT"    \
    "IxNTU1NTEyMTIifX0.rq3pjT1hoRwakEGjHCnWSwUnshd0-zJ6F1VOgFWSjHBr8Qjpjlk"    \
    "-cpFYpFYsojNCpTzO3QfPOlckGaS6hEck7w"

#define T2_SIGNED                                                              \
    "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0L"    \
    "mV4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9.eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY"    \
    "2VAZXhhbXBsZS5jb20iXX0sImlhdCI6MTQ3MTM3NTQxOCwib3JpZyI6eyJ0biI6IjEyMT"    \
    "U1NTUxMjEyIn19"
#define T2_TOKEN                                                               \
    T2_SIGNED ".VLBCIVDCaeK6M4hLJb6SHQvacAQVvoiiEOWQ_iUkqk79UD81fHQ0E1b3_G"    \
              "luIkba7UWYRM47ZbNFdOJquE35cw"
#define D3_TOKEN                                                               \
    T2_SIGNED ".2c_SAul3BxIuvMR3G8VfbFwj6ZoOHBQF-qVaR-Mef0V2ipEhTe0ZYBaLrn"    \
              "huSRVNwy1Tu-tr334XUBdnPYi3tA"

#define T4_DIV                                                                 \
    "eyJhbGciOiJFUzI1NiIsInBwdCI6ImRpdiIsInR5cCI6InBhc3Nwb3J0IiwieDV1Ijoia"    \
    "HR0cHM6Ly93d3cuZXhhbXBsZS5jb20vY2VydC5jZXIifQ.eyJkZXN0Ijp7InRuIjpbIjE"    \
    "yMTU1NTUxMjE0Il19LCJkaXYiOnsidG4iOiIxMjE1NTU1NTEyMTMifSwiaWF0IjoxNDQz"    \
    "MjA4MzQ1LCJvcmlnIjp7InRuIjoiMTIxNTU1NTEyMTIifX0.xBHWipDEEJ8a6TsdX6xUX"    \
    "AnblsFiGUiAxwLiv0HLC9IICj6eG9jQd6WzeSSjHRBwxmChHhVIiMTSqIlk3yCNkg"
#define T4_OPT                                                                 \
    "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly93d3cuZ"    \
    "XhhbXBsZS5jb20vY2VydC5jZXIifQ.eyJkZXN0Ijp7InRuIjpbIjEyMTU1NTUxMjEzIl1"    \
    "9LCJpYXQiOjE0NDMyMDgzNDUsIm9yaWciOnsidG4iOiIxMjE1NTU1MTIxMiJ9fQ.1bEzk"    \
    "zcNbKvgz4QoMx0_DJ2T8qFMDC1sPqHPXl1WvbauzRJRvYlZqQ0qgGTlS8tJ_wXjVe07Z3"    \
    "wvDrdApHhhYw"
#define T4_DIV_O                                                               \
    "eyJhbGciOiJFUzI1NiIsInBwdCI6ImRpdi1vIiwidHlwIjoicGFzc3BvcnQiLCJ4NXUiO"    \
    "iJodHRwczovL3d3dy5leGFtcGxlLmNvbS9jZXJ0LmNlciJ9.eyJkZXN0Ijp7InRuIjoiM"    \
    "TIxNTU1NTEyMTQifSwiZGl2Ijp7InRuIjoiMTIxNTU1NTUxMjEzIn0sImlhdCI6MTQ0Mz"    \
    "IwODM0NSwib3B0IjoiZXlKaGJHY2lPaUpGVXpJMU5pSXNJblI1Y0NJNkluQmhjM053YjN"    \
    "KMElpd2llRFYxSWpvaWFIUjBjSE02THk5M2QzY3VaWGhoYlhCc1pTNWpiMjB2WTJWeWRD"    \
    "NWpaWElpZlEuZXlKa1pYTjBJanA3SW5SdUlqcGJJakV5TVRVMU5UVXhNakV6SWwxOUxDS"    \
    "nBZWFFpT2pFME5ETXlNRGd6TkRVc0ltOXlhV2NpT25zaWRHNGlPaUl4TWpFMU5UVTFNVE"    \
    "l4TWlKOWZRLjFiRXpremNOYkt2Z3o0UW9NeDBfREoyVDhxRk1EQzFzUHFIUFhsMVd2YmF"    \
    "1elJKUnZZbFpxUTBxZ0dUbFM4dEpfd1hqVmUwN1ozd3ZEcmRBcEhoaFl3Iiwib3JpZyI6"    \
    "eyJ0biI6IjEyMTU1NTUxMjEyIn19.CHeA9wRnthl7paMe6rP0TARpmFCXjmi_vF_HRz2O"    \
    "_oulB_R-G9xZNiLVvmvHv4gk6LILaDV2y2VtHTLIEgmHig"

#define T5_PUB                                                                 \
    "-----BEGIN PUBLIC KEY-----\n"                                             \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV76e8T\n"   \
    "us9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"               \
    "-----END PUBLIC KEY-----\n"
#define T5_TOKEN                                                               \
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"    \
    "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAq"    \
    "OyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"

/* The P-256 group order n. */
#define P256_N                                                                 \
    "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"

static char *
s_pub_pem(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *s = NULL;
    long n;

    if (PEM_write_bio_PUBKEY(bio, pkey) == 1) {
        n = BIO_get_mem_data(bio, &data);
        s = sg_strndup(data, (size_t)n);
    }
    BIO_free(bio);
    return s;
}

TU_TEST(verify_key_t1_rfc8225_token)
{
    verify_key_t *a2 = tv_key(TV_RFC8225_A2_PUB);
    verify_key_t *a1 = tv_key(TV_RFC8225_A1_PUB);

    TU_REQUIRE(a2 != NULL && a1 != NULL);
    TU_CHECK(!verify_key_is_private(a2));
    TU_INTEQ(tv_jws_verify(a2, T1_TOKEN), 1);
    TU_INTEQ(tv_jws_verify(a1, T1_TOKEN), 0);
    TU_CHECK(ERR_peek_error() == 0);
    verify_key_destroy(&a2);
    verify_key_destroy(&a1);
    TU_CHECK(a2 == NULL);
    verify_key_destroy(&a1); /* NULL is fine */
}

/*
 * RFC 8225 Appendix A's token does not verify with either key the RFC
 * prints (A.2), nor with the public half of its A.1 private key: the
 * example itself is broken (STIR.md T2).  D3 is its signing input
 * re-signed with A.1, which does verify with the A.1-derived key.
 */
TU_TEST(verify_key_t2_broken_example_and_d3)
{
    verify_key_t *a2 = tv_key(TV_RFC8225_A2_PUB);
    verify_key_t *a1 = tv_key(TV_RFC8225_A1_PUB);

    TU_REQUIRE(a2 != NULL && a1 != NULL);
    TU_INTEQ(tv_jws_verify(a2, T2_TOKEN), 0);
    TU_INTEQ(tv_jws_verify(a1, T2_TOKEN), 0);
    TU_INTEQ(tv_jws_verify(a1, D3_TOKEN), 1);
    TU_INTEQ(tv_jws_verify(a2, D3_TOKEN), 0);
    verify_key_destroy(&a2);
    verify_key_destroy(&a1);
}

TU_TEST(verify_key_t3_a1_a2_not_a_pair)
{
    verify_key_t *priv = tv_key(TV_RFC8225_A1_PRIV);
    char *pem;

    TU_REQUIRE(priv != NULL);
    TU_CHECK(verify_key_is_private(priv));
    pem = s_pub_pem(verify_key_get0_pkey(priv));
    TU_REQUIRE(pem != NULL);
    TU_STREQ(pem, TV_RFC8225_A1_PUB);
    TU_CHECK(strcmp(pem, TV_RFC8225_A2_PUB) != 0);
    free(pem);
    verify_key_destroy(&priv);
}

TU_TEST(verify_key_t4_rfc8946_tokens)
{
    verify_key_t *pub = tv_key(TV_RFC8946_PUB);
    verify_key_t *priv = tv_key(TV_RFC8946_PRIV);
    char *pem;

    TU_REQUIRE(pub != NULL && priv != NULL);
    TU_INTEQ(tv_jws_verify(pub, T4_DIV), 1);
    TU_INTEQ(tv_jws_verify(pub, T4_OPT), 1);
    TU_INTEQ(tv_jws_verify(pub, T4_DIV_O), 1);
    /* The SEC1 private key derives the printed public key. */
    pem = s_pub_pem(verify_key_get0_pkey(priv));
    TU_STREQ(pem, TV_RFC8946_PUB);
    free(pem);
    /* A private key verifies too (its ready verify context). */
    TU_INTEQ(tv_jws_verify(priv, T4_DIV), 1);
    verify_key_destroy(&pub);
    verify_key_destroy(&priv);
}

TU_TEST(verify_key_t5_rfc7515_a3)
{
    verify_key_t *k = tv_key(T5_PUB);

    TU_REQUIRE(k != NULL);
    /* The payload holds CRLFs: only the received segments verify. */
    TU_INTEQ(tv_jws_verify(k, T5_TOKEN), 1);
    verify_key_destroy(&k);
}

/* A public key from its affine coordinates (uncompressed point). */
static verify_key_t *
s_key_from_xy(const char *xhex, const char *yhex)
{
    uint8_t pt[65];
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = NULL;
    verify_key_t *k = NULL;
    const char *why;

    pt[0] = 0x04;
    if (tu_unhex(xhex, pt + 1, 32) != 32 || tu_unhex(yhex, pt + 33, 32) != 32)
        goto out;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)"P-256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt,
                                                  sizeof(pt));
    params[2] = OSSL_PARAM_construct_end();
    if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto out;
    k = verify_key_from_pkey(pkey, &why);
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(pctx);
    return k;
}

/* RFC 6979 A.2.5: OpenSSL 3.0 cannot sign deterministically, so the
 * published (r, s) are verified instead.  s for "test" starts with a zero
 * octet: the 32-octet left padding of RFC 7518 s3.4. */
TU_TEST(verify_key_t6_rfc6979_vectors)
{
    verify_key_t *k = s_key_from_xy(
        "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6",
        "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299");
    uint8_t sig[64];

    TU_REQUIRE(k != NULL);
    TU_REQUIRE(tu_unhex("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C3"
                        "4D0EA84EAF3716F7CB1C942D657C41D436C7A1B6E29F65F3E9"
                        "00DBB9AFF4064DC4AB2F843ACDA8",
                        sig, 64) == 64);
    TU_INTEQ(verify_es256_verify(k, "sample", 6, sig), 1);
    TU_INTEQ(verify_es256_verify(k, "test", 4, sig), 0);
    TU_REQUIRE(tu_unhex("F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F"
                        "28D3B0B7D38367019F4113742A2B14BD25926B49C649155F26"
                        "7E60D3814B4C0CC84250E46F0083",
                        sig, 64) == 64);
    TU_CHECK(sig[32] == 0x01);
    TU_INTEQ(verify_es256_verify(k, "test", 4, sig), 1);
    verify_key_destroy(&k);
}

TU_TEST(verify_key_d2_msg_passport)
{
    static const char body[] = "Hello, world!";
    verify_key_t *k = tv_key(TV_RFC8946_PUB);
    char tok[sizeof(TV_D2_TOKEN)], payload[400], enc[600];
    const char *d1 = strchr(TV_D2_TOKEN, '.'), *d2 = strrchr(TV_D2_TOKEN, '.');
    size_t plen = 0;
    char *at;

    TU_REQUIRE(k != NULL);
    TU_INTEQ(tv_jws_verify(k, TV_D2_TOKEN), 1);
    TU_INTEQ(proto_msgi_check("sha256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1"
                              "iU7dM=",
                              (const uint8_t *)body, 13),
             REASON_OK);
    TU_INTEQ(proto_msgi_check("sha256-MV9b23bQeMQ7isAGTkoBZGErH853yGk0W/yUx1"
                              "iU7dM=",
                              (const uint8_t *)"Hello, world?", 13),
             REASON_MSGI_MISMATCH);
    /* iat + 1 in the payload: the signature no longer verifies. */
    TU_REQUIRE(proto_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1),
                                   (uint8_t *)payload, &plen) == SG_OK);
    payload[plen] = '\0';
    at = strstr(payload, "1443208345");
    TU_REQUIRE(at != NULL);
    at[9] = '6';
    snprintf(tok, sizeof(tok), "%.*s", (int)(d1 - TV_D2_TOKEN + 1),
             TV_D2_TOKEN);
    proto_b64url_encode((const uint8_t *)payload, plen, enc);
    TU_REQUIRE(strlen(tok) + strlen(enc) + strlen(d2) < sizeof(tok));
    strcat(tok, enc);
    strcat(tok, d2);
    TU_INTEQ(tv_jws_verify(k, tok), 0);
    verify_key_destroy(&k);
}

/* Is the signature also accepted through OpenSSL's own DER encoder?  A
 * cross-check of the hand-written raw->DER conversion. */
static int
s_verify_via_ecdsa_sig(EVP_PKEY *pkey, const void *msg, size_t n,
                       const uint8_t sig[64])
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL, md[32];
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    int len, ok = -1;

    ECDSA_SIG_set0(es, r, s);
    len = i2d_ECDSA_SIG(es, &der);
    EVP_Digest(msg, n, md, NULL, EVP_sha256(), NULL);
    if (len > 0 && EVP_PKEY_verify_init(ctx) == 1)
        ok = EVP_PKEY_verify(ctx, der, (size_t)len, md, 32);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

TU_TEST(verify_key_sign_round_trip_short_halves)
{
    EVP_PKEY *pkey = verify_pki_keygen();
    const char *why = NULL;
    verify_key_t *k = verify_key_from_pkey(pkey, &why);
    verify_key_t *pub;
    char *pem;
    uint8_t sig[64];
    char msg[64];
    int i, short_r = 0, short_s = 0, bad = 0;

    TU_REQUIRE(k != NULL);
    TU_CHECK(verify_key_is_private(k));
    pem = s_pub_pem(pkey);
    pub = tv_key(pem);
    free(pem);
    TU_REQUIRE(pub != NULL);
    TU_CHECK(!verify_key_is_private(pub));
    TU_CHECK(verify_es256_sign(pub, "x", 1, sig) == SG_ERR);
    /* At least 300 signatures, and on until a short R and a short S (a
     * leading zero octet, 1 in 256 each) have both been seen. */
    for (i = 0; i < 20000 && (i < 300 || !short_r || !short_s); i++) {
        int n = snprintf(msg, sizeof(msg), "message %d", i);

        if (verify_es256_sign(k, msg, (size_t)n, sig) != SG_OK) {
            bad++;
            break;
        }
        short_r += sig[0] == 0;
        short_s += sig[32] == 0;
        if (verify_es256_verify(pub, msg, (size_t)n, sig) != 1 ||
            s_verify_via_ecdsa_sig(pkey, msg, (size_t)n, sig) != 1)
            bad++;
        /* The same context again right after a failure. */
        msg[0] ^= 1;
        if (verify_es256_verify(pub, msg, (size_t)n, sig) != 0)
            bad++;
    }
    TU_INTEQ(bad, 0);
    TU_CHECK(short_r > 0);
    TU_CHECK(short_s > 0);
    TU_CHECK(ERR_peek_error() == 0);
    verify_key_destroy(&k);
    verify_key_destroy(&pub);
    EVP_PKEY_free(pkey);
}

/* (r, n - s) verifies too; r or s of 0 or >= n is a plain "no". */
TU_TEST(verify_key_edge_signatures)
{
    verify_key_t *k = tv_key(TV_RFC8946_PRIV);
    uint8_t sig[64], alt[64], n[32];
    BIGNUM *bn_n = NULL, *bn_s, *bn_alt;

    TU_REQUIRE(k != NULL);
    TU_REQUIRE(verify_es256_sign(k, "abc", 3, sig) == SG_OK);
    TU_INTEQ(verify_es256_verify(k, "abc", 3, sig), 1);
    TU_REQUIRE(BN_hex2bn(&bn_n, P256_N) > 0);
    bn_s = BN_bin2bn(sig + 32, 32, NULL);
    bn_alt = BN_new();
    TU_REQUIRE(BN_sub(bn_alt, bn_n, bn_s) == 1);
    memcpy(alt, sig, 32);
    BN_bn2binpad(bn_alt, alt + 32, 32);
    TU_INTEQ(verify_es256_verify(k, "abc", 3, alt), 1);
    BN_bn2binpad(bn_n, n, 32);
    memcpy(alt, sig, 64);
    memset(alt, 0, 32); /* r = 0 */
    TU_INTEQ(verify_es256_verify(k, "abc", 3, alt), 0);
    memcpy(alt, sig, 64);
    memset(alt + 32, 0, 32); /* s = 0 */
    TU_INTEQ(verify_es256_verify(k, "abc", 3, alt), 0);
    memcpy(alt, n, 32); /* r = n */
    memcpy(alt + 32, sig + 32, 32);
    TU_INTEQ(verify_es256_verify(k, "abc", 3, alt), 0);
    memcpy(alt, sig, 32); /* s = n */
    memcpy(alt + 32, n, 32);
    TU_INTEQ(verify_es256_verify(k, "abc", 3, alt), 0);
    memset(alt, 0xff, 64); /* both > n */
    TU_INTEQ(verify_es256_verify(k, "abc", 3, alt), 0);
    TU_CHECK(ERR_peek_error() == 0);
    TU_INTEQ(verify_es256_verify(k, "abc", 3, sig), 1);
    BN_free(bn_n);
    BN_free(bn_s);
    BN_free(bn_alt);
    verify_key_destroy(&k);
}

TU_TEST(verify_key_refuses_other_keys)
{
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    EVP_PKEY *rsa = EVP_RSA_gen(1024);
    const char *why = NULL;
    char *pem;

    TU_REQUIRE(p384 != NULL && rsa != NULL);
    pem = s_pub_pem(p384);
    TU_CHECK(verify_key_from_pem(pem, strlen(pem), &why) == NULL);
    TU_STREQ(why, "EC key is not on curve P-256");
    free(pem);
    pem = s_pub_pem(rsa);
    TU_CHECK(verify_key_from_pem(pem, strlen(pem), &why) == NULL);
    TU_STREQ(why, "not an EC key");
    free(pem);
    TU_CHECK(verify_key_from_pkey(rsa, &why) == NULL);
    TU_CHECK(verify_key_from_pem("garbage", 7, &why) == NULL);
    TU_CHECK(why != NULL);
    TU_CHECK(verify_key_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                 "-----END PUBLIC KEY-----\n",
                                 56, &why) == NULL);
    TU_CHECK(why != NULL);
    TU_CHECK(ERR_peek_error() == 0);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(rsa);
}

TU_TEST(verify_key_file_mode)
{
    char path[300], pub[300];
    const char *why = NULL;
    verify_key_t *k;

    snprintf(path, sizeof(path), "%s/key.pem", tu_tmpdir());
    snprintf(pub, sizeof(pub), "%s/pub.pem", tu_tmpdir());
    TU_REQUIRE(verify_pki_write_file(path, TV_RFC8946_PRIV, 0644) == SG_OK);
    TU_REQUIRE(verify_pki_write_file(pub, TV_RFC8946_PUB, 0644) == SG_OK);
    k = verify_key_from_file(path, &why);
    TU_CHECK(k == NULL);
    TU_CHECK(why != NULL && strstr(why, "readable") != NULL);
    TU_REQUIRE(chmod(path, 0600) == 0);
    k = verify_key_from_file(path, &why);
    TU_CHECK(k != NULL && verify_key_is_private(k));
    verify_key_destroy(&k);
    k = verify_key_from_file(pub, &why);
    TU_CHECK(k != NULL && !verify_key_is_private(k));
    verify_key_destroy(&k);
    TU_CHECK(verify_key_from_file("/nonexistent/key.pem", &why) == NULL);
}

