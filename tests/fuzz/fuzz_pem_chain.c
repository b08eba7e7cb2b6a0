/*
 * tests/fuzz/fuzz_pem_chain.c - libFuzzer target for verify_chain_build:
 * x5u bodies come from anywhere.  The trust store holds one root made
 * once with verify_pki; whatever builds is then checked like a verifier
 * would.
 */
#include "verify/verify_cert.h"
#include "verify/verify_pki.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static verify_trust_t *s_trust;

static void
s_setup(void)
{
    verify_pki_cert_opts c;
    EVP_PKEY *key;
    X509 *root;
    char *pem;

    memset(&c, 0, sizeof(c));
    c.cn = "Fuzz Root";
    c.is_ca = 1;
    c.not_before = 1600000000;
    c.not_after = 2000000000;
    key = verify_pki_keygen();
    root = verify_pki_cert(&c, key, NULL, NULL);
    if (root == NULL)
        abort();
    pem = verify_pki_cert_pem(root);
    s_trust = verify_trust_new();
    if (verify_trust_add_ca_pem(s_trust, pem, strlen(pem), NULL, 0) != SG_OK)
        abort();
    free(pem);
    X509_free(root);
    EVP_PKEY_free(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    verify_chain_t *chain = NULL;
    char detail[256], fp[65];
    json_t *payload;

    if (s_trust == NULL)
        s_setup();
    (void)verify_chain_build(s_trust, (const char *)data, size, &chain, detail,
                             sizeof(detail));
    if (chain == NULL)
        return 0;
    (void)verify_chain_status(chain);
    (void)verify_chain_check_at(chain, 1700000000);
    (void)verify_chain_check_tn(chain, s_trust, PROTO_IDENT_TN, "12155551212");
    payload = json_pack("{s:s}", "confidence", "high");
    (void)verify_chain_check_claims(chain, payload);
    json_decref(payload);
    verify_chain_fingerprint(chain, fp);
    verify_chain_destroy(&chain);
    return 0;
}
