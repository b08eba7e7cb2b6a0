/*
 * tests/fuzz/fuzz_es256.c - the key-table verify (verify/verify_ktab.c)
 * against OpenSSL's EVP_PKEY_verify on the same digest and signature.
 *
 * The signature octets of every PASSporT come from outside; the table path
 * is our own ECDSA verification equation (range checks, the inverse modulo
 * the order, the two multiplications), so any input on which it disagrees
 * with OpenSSL is a bug and aborts.  Input: one mode octet, the 32-octet
 * digest, then 64 octets of R||S.  Mode bit 0 replaces R||S with a real
 * signature of the digest first (so valid signatures are reached), bit 1
 * then XORs the input's 64 octets into it, bit 2 replaces s with n - s.
 * The key is RFC 8225 A.1 (STIR.md T3), fixed so that a crash replays.
 */
#include "tests/unit/test_verify_util.h"
#include "verify/verify_key.h"
#include "verify/verify_ktab.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static verify_key_t *s_key;
static verify_ktab_t *s_tab;
static EVP_PKEY_CTX *s_vctx, *s_sctx;

static void
s_init(void)
{
    const char *why;

    s_key = verify_key_from_pem(TV_RFC8225_A1_PRIV, strlen(TV_RFC8225_A1_PRIV),
                                &why);
    if (s_key == NULL)
        abort();
    s_tab = verify_ktab_build(verify_key_get0_pkey(s_key));
    s_vctx =
        EVP_PKEY_CTX_new_from_pkey(NULL, verify_key_get0_pkey(s_key), NULL);
    s_sctx =
        EVP_PKEY_CTX_new_from_pkey(NULL, verify_key_get0_pkey(s_key), NULL);
    if (s_tab == NULL || s_vctx == NULL || s_sctx == NULL ||
        EVP_PKEY_verify_init(s_vctx) != 1 || EVP_PKEY_sign_init(s_sctx) != 1)
        abort();
}

/* OpenSSL's verdict; r or s out of range (-1 there) is 0 here. */
static int
s_ref(const uint8_t md[32], const uint8_t sig[64])
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    int len, ok;

    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
        abort();
    if ((len = i2d_ECDSA_SIG(es, &der)) <= 0)
        abort();
    ok = EVP_PKEY_verify(s_vctx, der, (size_t)len, md, 32);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    ERR_clear_error();
    return ok == 1;
}

static void
s_sign(const uint8_t md[32], uint8_t sig[64])
{
    uint8_t der[80];
    const uint8_t *p = der;
    size_t len = sizeof(der);
    ECDSA_SIG *es;
    const BIGNUM *r, *s;

    if (EVP_PKEY_sign(s_sctx, der, &len, md, 32) != 1 ||
        (es = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
        abort();
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
        abort();
    ECDSA_SIG_free(es);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t n[32] = {
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
        0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    uint8_t md[32], sig[64];
    int got, want;

    if (s_key == NULL)
        s_init();
    if (size < 97)
        return 0;
    memcpy(md, data + 1, 32);
    memcpy(sig, data + 33, 64);
    if (data[0] & 1) {
        s_sign(md, sig);
        if (data[0] & 2)
            for (int i = 0; i < 64; i++)
                sig[i] ^= data[33 + i];
    }
    if (data[0] & 4) {
        /* s := n - s (s < n only; otherwise left as it is) */
        BIGNUM *bn = BN_bin2bn(n, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        if (bn == NULL || s == NULL)
            abort();
        if (BN_cmp(s, bn) < 0 && !BN_is_zero(s)) {
            BN_sub(s, bn, s);
            BN_bn2binpad(s, sig + 32, 32);
        }
        BN_free(bn);
        BN_free(s);
    }
    got = verify_ktab_verify(s_tab, md, sig);
    want = s_ref(md, sig);
    if (got != want)
        abort();
    return 0;
}
