/*
 * Unit tests: key tables (verify/verify_ktab.h).  Every verdict of the
 * table path is compared with OpenSSL's own EVP_PKEY_verify on the same
 * digest and signature: valid signatures, every kind of tampering, the
 * range edges of r and s, the wrong key; the inverse modulo the order is
 * compared with BN_mod_inverse; the builder thread's policy (after, cap,
 * cancel) is driven through verify_key, and the STIR.md vectors are
 * verified again once their keys have tables.
 */
#include "lib/sg.h"
#include "tests/unit/test_verify_util.h"
#include "tests/unit/tu.h"
#include "verify/verify_key.h"
#include "verify/verify_ktab.h"
#include "verify/verify_pki.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <time.h>

/* STIR.md T1 (RFC 8225 section 9, the A.2 key) and T4 (RFC 8946, div). */
#define S_T1                                                                   \
    "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0L"    \
    "mV4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9.eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY"    \
    "2VAZXhhbXBsZS5jb20iXX0sImlhdCI6IjE0NDMyMDgzNDUiLCJvcmlnIjp7InRuIjoiMT"    \
    "IxNTU1NTEyMTIifX0.rq3pjT1hoRwakEGjHCnWSwUnshd0-zJ6F1VOgFWSjHBr8Qjpjlk"    \
    "-cpFYpFYsojNCpTzO3QfPOlckGaS6hEck7w"
#define S_T4_DIV                                                               \
    "eyJhbGciOiJFUzI1NiIsInBwdCI6ImRpdiIsInR5cCI6InBhc3Nwb3J0IiwieDV1Ijoia"    \
    "HR0cHM6Ly93d3cuZXhhbXBsZS5jb20vY2VydC5jZXIifQ.eyJkZXN0Ijp7InRuIjpbIjE"    \
    "yMTU1NTUxMjE0Il19LCJkaXYiOnsidG4iOiIxMjE1NTU1NTEyMTMifSwiaWF0IjoxNDQz"    \
    "MjA4MzQ1LCJvcmlnIjp7InRuIjoiMTIxNTU1NTEyMTIifX0.xBHWipDEEJ8a6TsdX6xUX"    \
    "AnblsFiGUiAxwLiv0HLC9IICj6eG9jQd6WzeSSjHRBwxmChHhVIiMTSqIlk3yCNkg"

static const uint8_t s_n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
                                0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

/* OpenSSL's verdict on (md, raw R||S): the reference. */
static int
s_ref_verify(EVP_PKEY *pkey, const uint8_t md[32], const uint8_t sig[64])
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    unsigned char *der = NULL;
    int len, ok = -1;

    if (es == NULL || r == NULL || s == NULL || ctx == NULL ||
        ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL;
    if ((len = i2d_ECDSA_SIG(es, &der)) <= 0 || EVP_PKEY_verify_init(ctx) != 1)
        goto out;
    ok = EVP_PKEY_verify(ctx, der, (size_t)len, md, 32);
    if (ok < 0)
        ok = 0; /* r or s out of range: OpenSSL says -1, a verdict here */
out:
    ERR_clear_error();
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* A signature of md by pkey as raw R||S. */
static int
s_sign(EVP_PKEY *pkey, const uint8_t md[32], uint8_t sig[64])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    uint8_t der[80];
    const uint8_t *p = der;
    size_t len = sizeof(der);
    ECDSA_SIG *es = NULL;
    const BIGNUM *r, *s;
    int ok = -1;

    if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_sign(ctx, der, &len, md, 32) != 1 ||
        (es = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
        goto out;
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32)
        ok = 0;
out:
    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* Both verdicts, and they must agree; returns the table's. */
static int
s_both(verify_ktab_t *t, EVP_PKEY *pkey, const uint8_t md[32],
       const uint8_t sig[64])
{
    int a = verify_ktab_verify(t, md, sig), b = s_ref_verify(pkey, md, sig);

    if (a != b)
        tu_note("  table says %d, OpenSSL %d", a, b);
    TU_CHECK(a == b);
    return a;
}

TU_TEST(verify_ktab_inverse_matches_openssl)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *n = BN_bin2bn(s_n, 32, NULL), *a = BN_new(), *w = BN_new();
    uint8_t in[32], out[32], want[32];
    int bad = 0;

    TU_REQUIRE(ctx != NULL && n != NULL && a != NULL && w != NULL);
    for (int i = 0; i < 3000; i++) {
        if (i < 6) {
            /* 1, 2, 3, n-1, n-2, n-3 */
            BN_set_word(a, (BN_ULONG)(i % 3) + 1);
            if (i >= 3)
                BN_sub(a, n, a);
        } else if (i < 300) {
            /* small values and values with long runs of zero bits */
            BN_set_word(a, (BN_ULONG)i);
            BN_lshift(a, a, i % 250);
            BN_nnmod(a, a, n, ctx);
            if (BN_is_zero(a))
                BN_one(a);
        } else {
            BN_rand_range(a, n);
            if (BN_is_zero(a))
                BN_one(a);
        }
        BN_bn2binpad(a, in, 32);
        TU_REQUIRE(BN_mod_inverse(w, a, n, ctx) != NULL);
        BN_bn2binpad(w, want, 32);
        if (verify_ktab_inv_order(in, out) != SG_OK ||
            memcmp(out, want, 32) != 0)
            bad++;
    }
    TU_INTEQ(bad, 0);
    /* 0, n, n+1 and 2^256-1 are not invertible residues below n. */
    memset(in, 0, 32);
    TU_INTEQ(verify_ktab_inv_order(in, out), SG_REFUSED);
    TU_INTEQ(verify_ktab_inv_order(s_n, out), SG_REFUSED);
    memcpy(in, s_n, 32);
    in[31]++;
    TU_INTEQ(verify_ktab_inv_order(in, out), SG_REFUSED);
    memset(in, 0xff, 32);
    TU_INTEQ(verify_ktab_inv_order(in, out), SG_REFUSED);
    BN_free(n);
    BN_free(a);
    BN_free(w);
    BN_CTX_free(ctx);
}

/*
 * The table's verdict equals OpenSSL's on valid signatures, on each bit
 * of r, s and the digest flipped, on s replaced by n - s (the other valid
 * signature), on r and s at 0, 1, n - 1, n and 2^256 - 1, on digests
 * that are 0, n (u1 = 0) and above n, and under another key.
 */
TU_TEST(verify_ktab_verdicts_match_openssl)
{
    EVP_PKEY *k = verify_pki_keygen(), *other = verify_pki_keygen();
    verify_ktab_t *t, *t_other;
    BIGNUM *n = BN_bin2bn(s_n, 32, NULL), *s = BN_new();
    uint8_t md[32], sig[64], x[64], mdx[32];
    int valid = 0;

    TU_REQUIRE(k != NULL && other != NULL && n != NULL && s != NULL);
    t = verify_ktab_build(k);
    t_other = verify_ktab_build(other);
    TU_REQUIRE(t != NULL && t_other != NULL);
    for (int i = 0; i < 40; i++) {
        TU_REQUIRE(RAND_bytes(md, 32) == 1);
        if (i == 0)
            memset(md, 0, 32); /* e = 0: u1 = 0, R = u2 Q */
        if (i == 1)
            memcpy(md, s_n, 32); /* e = n: the same */
        if (i == 2)
            memset(md, 0xff, 32); /* e > n */
        TU_REQUIRE(s_sign(k, md, sig) == 0);
        valid += s_both(t, k, md, sig) == 1;
        TU_INTEQ(s_both(t_other, other, md, sig), 0);
        /* one bit of r, of s, of the digest */
        for (int b = 0; b < 64 * 8; b += 37) {
            memcpy(x, sig, 64);
            x[b / 8] ^= (uint8_t)(1u << (b % 8));
            TU_INTEQ(s_both(t, k, md, x), 0);
        }
        for (int b = 0; b < 32 * 8; b += 29) {
            memcpy(mdx, md, 32);
            mdx[b / 8] ^= (uint8_t)(1u << (b % 8));
            TU_INTEQ(s_both(t, k, mdx, sig), 0);
        }
        /* (r, n - s) is valid too (ECDSA is malleable) */
        memcpy(x, sig, 64);
        BN_bin2bn(sig + 32, 32, s);
        BN_sub(s, n, s);
        BN_bn2binpad(s, x + 32, 32);
        TU_INTEQ(s_both(t, k, md, x), 1);
        /* s + n does not fit below n: invalid, though equal mod n */
        BN_add(s, s, n);
        BN_add(s, s, n);
        BN_sub(s, s, n);
        if (BN_num_bytes(s) <= 32) {
            BN_bn2binpad(s, x + 32, 32);
            TU_INTEQ(s_both(t, k, md, x), 0);
        }
    }
    TU_INTEQ(valid, 40);
    /* r and s at the range edges */
    {
        static const uint8_t edges[5][32] = {
            {0},
            {[31] = 1},
            {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
             0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
             0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x50},
            {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
             0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
             0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51},
            {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        };
        TU_REQUIRE(s_sign(k, md, sig) == 0);
        for (int i = 0; i < 5; i++) {
            memcpy(x, sig, 64);
            memcpy(x, edges[i], 32);
            TU_INTEQ(s_both(t, k, md, x), 0);
            memcpy(x, sig, 64);
            memcpy(x + 32, edges[i], 32);
            TU_INTEQ(s_both(t, k, md, x), 0);
        }
    }
    verify_ktab_free(t);
    verify_ktab_free(t_other);
    BN_free(n);
    BN_free(s);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

TU_TEST(verify_ktab_build_refuses_other_keys)
{
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

    TU_REQUIRE(ed != NULL && p384 != NULL);
    TU_CHECK(verify_ktab_build(ed) == NULL);
    TU_CHECK(verify_ktab_build(p384) == NULL);
    TU_CHECK(ERR_peek_error() == 0);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(p384);
}

/* Verify through the key until its table is attached (the builder runs on
 * its own thread; collect happens inside verify), at most ~20 s. */
static int
s_wait_table(verify_key_t *key, const char *tbs, const uint8_t sig[64])
{
    struct timespec ts = {0, 2 * 1000 * 1000};

    for (int i = 0; i < 10000 && !verify_key_has_table(key); i++) {
        if (verify_es256_verify(key, tbs, strlen(tbs), sig) != 1)
            return -1;
        nanosleep(&ts, NULL);
    }
    return verify_key_has_table(key) ? 0 : -1;
}

static verify_key_t *
s_key_and_sig(const char *tbs, uint8_t sig[64])
{
    EVP_PKEY *pk = verify_pki_keygen();
    verify_key_t *signer, *pub;
    const char *why;

    if (pk == NULL)
        return NULL;
    signer = verify_key_from_pkey(pk, &why);
    EVP_PKEY_free(pk);
    if (signer == NULL ||
        verify_es256_sign(signer, tbs, strlen(tbs), sig) != SG_OK) {
        verify_key_destroy(&signer);
        return NULL;
    }
    /* the public half alone: a verifying key, as a certificate's is */
    {
        unsigned char *der = NULL;
        const unsigned char *p;
        int len = i2d_PUBKEY(verify_key_get0_pkey(signer), &der);
        EVP_PKEY *pubk;

        p = der;
        pubk = len > 0 ? d2i_PUBKEY(NULL, &p, len) : NULL;
        OPENSSL_free(der);
        pub = pubk != NULL ? verify_key_from_pkey(pubk, &why) : NULL;
        EVP_PKEY_free(pubk);
    }
    verify_key_destroy(&signer);
    return pub;
}

/*
 * Earlier tests of this binary may have builds in flight (their keys
 * verified more than the default `after` times): finish them and attach
 * or free what they made, so that the counts below are this test's.
 */
static void
s_settle(verify_ktab_stats_t *st)
{
    verify_ktab_shutdown();
    verify_key_collect_tables();
    verify_ktab_stats(st);
}

/*
 * A public key gets its table after `after` verifies, at most `max` exist
 * at once, a key destroyed while its table is built leaves nothing behind,
 * and a freed slot goes to the next hot key.  Our own signing key (private)
 * never asks for one.
 */
TU_TEST(verify_ktab_policy_after_cap_cancel)
{
    const char *tbs = "header.payload";
    uint8_t sa[64], sb[64], sc[64], sd[64];
    verify_key_t *a = s_key_and_sig(tbs, sa), *b = s_key_and_sig(tbs, sb);
    verify_key_t *c = s_key_and_sig(tbs, sc), *d = s_key_and_sig(tbs, sd);
    verify_ktab_stats_t st0, st;
    uint8_t bad[64];

    TU_REQUIRE(a != NULL && b != NULL && c != NULL && d != NULL);
    s_settle(&st0);
    verify_ktab_configure((unsigned)st0.tables + 2, 3);
    /* two uses: no request yet, however long we wait */
    for (int i = 0; i < 2; i++)
        TU_INTEQ(verify_es256_verify(a, tbs, strlen(tbs), sa), 1);
    verify_ktab_stats(&st);
    TU_INTEQ((long long)st.tables, (long long)st0.tables);
    TU_CHECK(!verify_key_has_table(a));
    /* the third asks; the table arrives; verdicts stay the same */
    TU_REQUIRE(s_wait_table(a, tbs, sa) == 0);
    TU_INTEQ(verify_es256_verify(a, tbs, strlen(tbs), sa), 1);
    TU_INTEQ(verify_es256_verify(a, tbs, strlen(tbs), sb), 0);
    memcpy(bad, sa, 64);
    bad[63] ^= 1;
    TU_INTEQ(verify_es256_verify(a, tbs, strlen(tbs), bad), 0);
    TU_INTEQ(verify_es256_verify(a, "header.payloaD", 14, sa), 0);
    TU_REQUIRE(s_wait_table(b, tbs, sb) == 0);
    verify_ktab_stats(&st);
    TU_INTEQ((long long)st.tables, (long long)st0.tables + 2);
    /* the cap: c stays without one */
    for (int i = 0; i < 30; i++)
        TU_INTEQ(verify_es256_verify(c, tbs, strlen(tbs), sc), 1);
    TU_CHECK(!verify_key_has_table(c));
    /* a goes: its slot is c's after c's next `after` uses */
    verify_key_destroy(&a);
    TU_REQUIRE(s_wait_table(c, tbs, sc) == 0);
    TU_INTEQ(verify_es256_verify(c, tbs, strlen(tbs), sa), 0);
    /* b goes; d asks, and is destroyed before its table is attached */
    verify_key_destroy(&b);
    for (int i = 0; i < 3; i++)
        TU_INTEQ(verify_es256_verify(d, tbs, strlen(tbs), sd), 1);
    verify_key_destroy(&d);
    verify_key_destroy(&c);
    verify_ktab_shutdown();
    (void)verify_ktab_collect(NULL); /* every owner is gone */
    verify_ktab_stats(&st);
    TU_INTEQ((long long)st.tables, (long long)st0.tables);
    TU_CHECK(st.built >= st0.built + 3);
    verify_ktab_configure(VERIFY_KTAB_MAX_DEFAULT, VERIFY_KTAB_AFTER_DEFAULT);
}

TU_TEST(verify_ktab_off_and_private_keys)
{
    const char *tbs = "a.b";
    uint8_t sig[64];
    verify_key_t *k = s_key_and_sig(tbs, sig), *priv;
    EVP_PKEY *pk = verify_pki_keygen();
    const char *why;
    struct timespec ts = {0, 20 * 1000 * 1000};

    TU_REQUIRE(k != NULL && pk != NULL);
    verify_ktab_configure(0, 1);
    for (int i = 0; i < 20; i++)
        TU_INTEQ(verify_es256_verify(k, tbs, strlen(tbs), sig), 1);
    nanosleep(&ts, NULL);
    TU_INTEQ(verify_es256_verify(k, tbs, strlen(tbs), sig), 1);
    TU_CHECK(!verify_key_has_table(k));
    verify_ktab_configure(4, 1);
    priv = verify_key_from_pkey(pk, &why);
    TU_REQUIRE(priv != NULL && verify_key_is_private(priv));
    TU_REQUIRE(verify_es256_sign(priv, tbs, strlen(tbs), sig) == SG_OK);
    for (int i = 0; i < 20; i++)
        TU_INTEQ(verify_es256_verify(priv, tbs, strlen(tbs), sig), 1);
    nanosleep(&ts, NULL);
    TU_INTEQ(verify_es256_verify(priv, tbs, strlen(tbs), sig), 1);
    TU_CHECK(!verify_key_has_table(priv));
    verify_key_destroy(&priv);
    verify_key_destroy(&k);
    EVP_PKEY_free(pk);
    verify_ktab_configure(VERIFY_KTAB_MAX_DEFAULT, VERIFY_KTAB_AFTER_DEFAULT);
}

/* STIR.md's JWS vectors again, with their keys' tables in place. */
TU_TEST(verify_ktab_stir_vectors_through_tables)
{
    verify_key_t *a2 = tv_key(TV_RFC8225_A2_PUB);
    verify_key_t *a1 = tv_key(TV_RFC8225_A1_PUB);
    verify_key_t *p8946 = tv_key(TV_RFC8946_PUB);
    struct timespec ts = {0, 2 * 1000 * 1000};
    verify_ktab_stats_t st0;

    TU_REQUIRE(a2 != NULL && a1 != NULL && p8946 != NULL);
    s_settle(&st0);
    verify_ktab_configure((unsigned)st0.tables + 8, 1);
    for (int i = 0;
         i < 10000 && !(verify_key_has_table(a1) && verify_key_has_table(a2) &&
                        verify_key_has_table(p8946));
         i++) {
        (void)tv_jws_verify(a2, TV_D2_TOKEN);
        (void)tv_jws_verify(a1, TV_D2_TOKEN);
        (void)tv_jws_verify(p8946, TV_D2_TOKEN);
        nanosleep(&ts, NULL);
    }
    TU_REQUIRE(verify_key_has_table(a1) && verify_key_has_table(a2) &&
               verify_key_has_table(p8946));
    /* T1 (RFC 8225 section 9 with the A.2 key) */
    TU_INTEQ(tv_jws_verify(a2, S_T1), 1);
    TU_INTEQ(tv_jws_verify(a1, S_T1), 0);
    /* T4 (RFC 8946, div) */
    TU_INTEQ(tv_jws_verify(p8946, S_T4_DIV), 1);
    TU_INTEQ(tv_jws_verify(a2, S_T4_DIV), 0);
    TU_CHECK(ERR_peek_error() == 0);
    verify_key_destroy(&a2);
    verify_key_destroy(&a1);
    verify_key_destroy(&p8946);
    verify_ktab_configure(VERIFY_KTAB_MAX_DEFAULT, VERIFY_KTAB_AFTER_DEFAULT);
}

/* A P-256 public key from a point (new). */
static EVP_PKEY *
s_pkey_from_point(const EC_GROUP *g, const EC_POINT *q, BN_CTX *ctx)
{
    unsigned char pub[65];
    size_t len = EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub,
                                    sizeof(pub), ctx);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, len),
        OSSL_PARAM_END};

    if (len != 65 || pc == NULL || EVP_PKEY_fromdata_init(pc) != 1 ||
        EVP_PKEY_fromdata(pc, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(pc);
    return pkey;
}

/*
 * The rare branch of step 8: x(R) between n and p, so that the valid r is
 * x(R) - n.  No signer can aim for it, but a verifier can be given such a
 * case by choosing the key: pick R with n < x(R) < p, any e and s, r =
 * x(R) - n, and Q = (R - u1 G) / u2.  Both OpenSSL and the table must
 * accept (r, s), and refuse r = x(R) itself (not below n).
 */
TU_TEST(verify_ktab_x_above_the_order)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *x = BN_new(), *r = BN_new(), *s = BN_new(), *e = BN_new();
    BIGNUM *w = BN_new(), *u1 = BN_new(), *u2 = BN_new();
    const BIGNUM *n;
    EC_POINT *R, *T, *Q;
    EVP_PKEY *pkey = NULL;
    verify_ktab_t *t = NULL;
    uint8_t md[32], sig[64];
    int found = 0;

    TU_REQUIRE(g != NULL && ctx != NULL && x && r && s && e && w && u1 && u2);
    n = EC_GROUP_get0_order(g);
    R = EC_POINT_new(g);
    T = EC_POINT_new(g);
    Q = EC_POINT_new(g);
    TU_REQUIRE(R != NULL && T != NULL && Q != NULL);
    for (unsigned long k = 1; k < 200 && !found; k++) {
        BN_copy(x, n);
        BN_add_word(x, k);
        found = EC_POINT_set_compressed_coordinates(g, R, x, 0, ctx) == 1;
        ERR_clear_error();
    }
    TU_REQUIRE(found);
    BN_sub(r, x, n);
    TU_REQUIRE(RAND_bytes(md, 32) == 1);
    BN_bin2bn(md, 32, e);
    do
        BN_rand_range(s, n);
    while (BN_is_zero(s));
    BN_mod_inverse(w, s, n, ctx);
    BN_mod_mul(u1, e, w, n, ctx);
    BN_mod_mul(u2, r, w, n, ctx);
    /* Q = u2^-1 (R - u1 G) */
    EC_POINT_mul(g, T, u1, NULL, NULL, ctx);
    EC_POINT_invert(g, T, ctx);
    EC_POINT_add(g, T, R, T, ctx);
    BN_mod_inverse(w, u2, n, ctx);
    TU_REQUIRE(EC_POINT_mul(g, Q, NULL, T, w, ctx) == 1);
    pkey = s_pkey_from_point(g, Q, ctx);
    TU_REQUIRE(pkey != NULL);
    t = verify_ktab_build(pkey);
    TU_REQUIRE(t != NULL);
    BN_bn2binpad(r, sig, 32);
    BN_bn2binpad(s, sig + 32, 32);
    TU_INTEQ(s_both(t, pkey, md, sig), 1);
    BN_bn2binpad(x, sig, 32); /* r = x(R) is not below n */
    TU_INTEQ(s_both(t, pkey, md, sig), 0);
    verify_ktab_free(t);
    EVP_PKEY_free(pkey);
    EC_POINT_free(R);
    EC_POINT_free(T);
    EC_POINT_free(Q);
    BN_free(x);
    BN_free(r);
    BN_free(s);
    BN_free(e);
    BN_free(w);
    BN_free(u1);
    BN_free(u2);
    BN_CTX_free(ctx);
    EC_GROUP_free(g);
}
