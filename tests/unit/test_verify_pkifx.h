/*
 * tests/unit/test_verify_pkifx.h - a three-level STIR PKI made per test
 * with verify_pki (root -> intermediate -> leaf), and the chain provider
 * verify_passport needs.
 */
#ifndef TEST_VERIFY_PKIFX_H
#define TEST_VERIFY_PKIFX_H

#include "verify/verify_cert.h"
#include "verify/verify_passport.h"
#include "verify/verify_pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_IAT 1700000000LL /* the signing time of every test token */
#define FX_DAY 86400LL
#define FX_X5U "https://cert.example.org/leaf.pem"
#define FX_ORIG "12155551212"
#define FX_DEST "12155551213"

typedef struct {
    /* What to make; zero = defaults (leaf range 12155551000 + 1000). */
    const char *leaf_spc;    /* leaf TNAuthList: SPC only */
    int leaf_no_tnauth;      /* leaf without TNAuthList */
    const char *inter_range; /* intermediate TNAuthList range start */
    uint64_t inter_count;
    const uint8_t *jcc_der; /* leaf claim constraints */
    size_t jcc_len;
    int jcc_enhanced;
    int64_t leaf_nb, leaf_na;   /* 0 = FX_IAT -1 day / +30 days */
    int64_t inter_nb, inter_na; /* 0 = FX_IAT -1000 days / +1000 days */
    uint64_t leaf_serial;
} fx_opts;

typedef struct {
    EVP_PKEY *root_key, *inter_key, *leaf_key;
    X509 *root, *inter, *leaf;
    char *root_pem, *chain_pem; /* chain: leaf then intermediate */
    verify_trust_t *trust;
    verify_chain_t *chain;
    proto_reason chain_reason; /* from verify_chain_build */
    proto_reason fetch_reason; /* != OK: get_chain returns it */
    verify_key_t *signer;      /* the leaf key, private */
    verify_ctx_t ctx;
    char detail[256];
} fx_t;

static inline proto_reason
fx_get_chain(void *arg, const char *x5u, verify_chain_t **chain)
{
    fx_t *fx = arg;

    *chain = NULL;
    if (fx->fetch_reason != REASON_OK)
        return fx->fetch_reason;
    if (strcmp(x5u, FX_X5U) != 0 || fx->chain == NULL)
        return REASON_X5U_FETCH_FAILED;
    *chain = fx->chain;
    return REASON_OK;
}

static inline char *
fx_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *s = malloc(la + lb + 1);

    memcpy(s, a, la);
    if (b)
        memcpy(s + la, b, lb);
    s[la + lb] = '\0';
    return s;
}

/* (Re)build the chain object from fx->chain_pem against fx->trust. */
static inline void
fx_rebuild(fx_t *fx)
{
    verify_chain_destroy(&fx->chain);
    fx->chain_reason =
        verify_chain_build(fx->trust, fx->chain_pem, strlen(fx->chain_pem),
                           &fx->chain, fx->detail, sizeof(fx->detail));
}

static inline int
fx_init(fx_t *fx, const fx_opts *o)
{
    static const fx_opts none;
    uint8_t tn[128], itn[128];
    size_t tnlen = 0, itnlen = 0;
    verify_pki_cert_opts c;
    char *leaf_pem, *inter_pem, why[200];
    const char *kwhy;

    if (o == NULL)
        o = &none;
    memset(fx, 0, sizeof(*fx));
    fx->root_key = verify_pki_keygen();
    fx->inter_key = verify_pki_keygen();
    fx->leaf_key = verify_pki_keygen();

    memset(&c, 0, sizeof(c));
    c.cn = "Test STI Root";
    c.is_ca = 1;
    c.not_before = FX_IAT - 3650 * FX_DAY;
    c.not_after = FX_IAT + 3650 * FX_DAY;
    fx->root = verify_pki_cert(&c, fx->root_key, NULL, NULL);

    c.cn = "Test STI Intermediate";
    c.not_before = o->inter_nb ? o->inter_nb : FX_IAT - 1000 * FX_DAY;
    c.not_after = o->inter_na ? o->inter_na : FX_IAT + 1000 * FX_DAY;
    if (o->inter_range != NULL) {
        itnlen = verify_pki_tnauth_der(NULL, o->inter_range, o->inter_count,
                                       NULL, itn, sizeof(itn));
        c.tnauth_der = itn;
        c.tnauth_len = itnlen;
    }
    fx->inter = verify_pki_cert(&c, fx->inter_key, fx->root, fx->root_key);

    memset(&c, 0, sizeof(c));
    c.cn = "SHAKEN 1234";
    c.not_before = o->leaf_nb ? o->leaf_nb : FX_IAT - FX_DAY;
    c.not_after = o->leaf_na ? o->leaf_na : FX_IAT + 30 * FX_DAY;
    c.serial = o->leaf_serial;
    c.crl_url = "https://crl.example.org/inter.crl";
    if (!o->leaf_no_tnauth) {
        tnlen = o->leaf_spc ? verify_pki_tnauth_der(o->leaf_spc, NULL, 0, NULL,
                                                    tn, sizeof(tn))
                            : verify_pki_tnauth_der(NULL, "12155551000", 1000,
                                                    NULL, tn, sizeof(tn));
        c.tnauth_der = tn;
        c.tnauth_len = tnlen;
    }
    c.jcc_der = o->jcc_der;
    c.jcc_len = o->jcc_len;
    c.jcc_enhanced = o->jcc_enhanced;
    fx->leaf = verify_pki_cert(&c, fx->leaf_key, fx->inter, fx->inter_key);
    if (fx->root == NULL || fx->inter == NULL || fx->leaf == NULL)
        return -1;

    fx->root_pem = verify_pki_cert_pem(fx->root);
    leaf_pem = verify_pki_cert_pem(fx->leaf);
    inter_pem = verify_pki_cert_pem(fx->inter);
    fx->chain_pem = fx_concat(leaf_pem, inter_pem);
    free(leaf_pem);
    free(inter_pem);

    fx->trust = verify_trust_new();
    if (verify_trust_add_ca_pem(fx->trust, fx->root_pem, strlen(fx->root_pem),
                                why, sizeof(why)) != SG_OK)
        return -1;
    fx_rebuild(fx);
    fx->signer = verify_key_from_pkey(fx->leaf_key, &kwhy);
    fx->ctx.trust = fx->trust;
    fx->ctx.get_chain = fx_get_chain;
    fx->ctx.get_chain_arg = fx;
    fx->ctx.fresh.max_age = 60;
    fx->ctx.fresh.max_future = 10;
    fx->ctx.ppts = 0;
    return fx->signer != NULL ? 0 : -1;
}

static inline void
fx_fini(fx_t *fx)
{
    verify_chain_destroy(&fx->chain);
    verify_trust_destroy(&fx->trust);
    verify_key_destroy(&fx->signer);
    X509_free(fx->root);
    X509_free(fx->inter);
    X509_free(fx->leaf);
    EVP_PKEY_free(fx->root_key);
    EVP_PKEY_free(fx->inter_key);
    EVP_PKEY_free(fx->leaf_key);
    free(fx->root_pem);
    free(fx->chain_pem);
}

#endif
