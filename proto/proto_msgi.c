/*
 * proto/proto_msgi.c - the RFC 9475 msgi claim (DESIGN.md 3.1): a digest of
 * the exact body octets, "<alg>-<standard base64>".
 */
#include "proto/proto_msgi.h"

#include "lib/sg.h"
#include "proto/proto_b64.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <string.h>

#define S_ALG_MAX 32   /* longest algorithm identifier we look at */
#define S_TEXT_MAX 512 /* longest msgi value we look at */

static const struct {
    const char *id;    /* the msgi algorithm identifier */
    const char *fetch; /* the OpenSSL digest name */
} s_algs[] = {
    [PROTO_MSGI_SHA256] = {"sha256", "SHA256"},
    [PROTO_MSGI_SHA384] = {"sha384", "SHA384"},
    [PROTO_MSGI_SHA512] = {"sha512", "SHA512"},
};

/*
 * Fetching a digest in OpenSSL 3 is a provider lookup under a lock; doing
 * it once per algorithm keeps msgi cheap next to the signature check.  The
 * first caller to finish publishes its object; a racing second one frees
 * its own.  The objects live until exit on purpose.
 */
const EVP_MD *
proto_msgi_md(proto_msgi_alg alg)
{
    static _Atomic(EVP_MD *) cache[SG_NELEM(s_algs)];
    EVP_MD *md, *expected = NULL;

    if ((size_t)alg >= SG_NELEM(s_algs))
        sg_panic("proto_msgi: algorithm %d out of range", (int)alg);
    md = atomic_load(&cache[alg]);
    if (md != NULL)
        return md;
    md = EVP_MD_fetch(NULL, s_algs[alg].fetch, NULL);
    if (md == NULL)
        sg_panic("EVP_MD_fetch(%s): not available", s_algs[alg].fetch);
    if (!atomic_compare_exchange_strong(&cache[alg], &expected, md)) {
        EVP_MD_free(md);
        md = expected;
    }
    return md;
}

static size_t
s_digest(proto_msgi_alg alg, const uint8_t *body, size_t n,
         uint8_t out[EVP_MAX_MD_SIZE])
{
    static const uint8_t empty[1];
    unsigned int len = 0;

    if (EVP_Digest(body != NULL ? body : empty, n, out, &len,
                   proto_msgi_md(alg), NULL) != 1)
        sg_panic("EVP_Digest(%s) failed", s_algs[alg].fetch);
    return len;
}

void
proto_msgi_compute(proto_msgi_alg alg, const uint8_t *body, size_t n,
                   char out[PROTO_MSGI_MAX])
{
    uint8_t dig[EVP_MAX_MD_SIZE];
    size_t len = s_digest(alg, body, n, dig), idlen = strlen(s_algs[alg].id);

    memcpy(out, s_algs[alg].id, idlen);
    out[idlen] = '-';
    proto_b64_encode(dig, len, out + idlen + 1);
}

/*
 * The shape is checked before the algorithm: "<[a-z0-9]+>-<base64>".  RFC
 * 9475 says the identifier is lowercase letters, yet its own identifiers
 * (sha256) hold digits, so digits are accepted.  Only a well-formed value
 * with an algorithm we do not know is msgi_unsupported_alg; a digest that
 * decodes to the wrong length (RFC 9475's own example decodes to 42 octets)
 * is a mismatch, not a malformed claim.
 */
proto_reason
proto_msgi_check(const char *msgi, const uint8_t *body, size_t n)
{
    uint8_t got[S_TEXT_MAX], want[EVP_MAX_MD_SIZE];
    const char *dig;
    size_t len, k, dlen, glen, wlen;
    int alg = -1;

    if (msgi == NULL)
        return REASON_MALFORMED_PASSPORT;
    len = strnlen(msgi, S_TEXT_MAX + 1);
    if (len > S_TEXT_MAX)
        return REASON_MALFORMED_PASSPORT;
    for (k = 0; k < len && k <= S_ALG_MAX && msgi[k] != '-'; k++)
        if (!(msgi[k] >= 'a' && msgi[k] <= 'z') &&
            !(msgi[k] >= '0' && msgi[k] <= '9'))
            return REASON_MALFORMED_PASSPORT;
    if (k == 0 || k > S_ALG_MAX || k == len)
        return REASON_MALFORMED_PASSPORT;
    dig = msgi + k + 1;
    dlen = len - k - 1;
    if (dlen == 0 || proto_b64_decode(dig, dlen, 1, got, &glen) != SG_OK)
        return REASON_MALFORMED_PASSPORT;

    for (size_t i = 0; i < SG_NELEM(s_algs); i++)
        if (strlen(s_algs[i].id) == k && memcmp(s_algs[i].id, msgi, k) == 0)
            alg = (int)i;
    if (alg < 0)
        return REASON_MSGI_UNSUPPORTED_ALG;
    wlen = s_digest((proto_msgi_alg)alg, body, n, want);
    if (glen != wlen || CRYPTO_memcmp(got, want, wlen) != 0)
        return REASON_MSGI_MISMATCH;
    return REASON_OK;
}
