/*
 * verify/verify_key.c - ES256 keys as cached objects (RFC 7518 section 3.4).
 *
 * The per-message cost of a verify must stay close to OpenSSL's raw
 * EVP_PKEY_verify (DESIGN.md section 7), so everything that OpenSSL 3
 * would otherwise redo per call is done once here: the algorithm fetch for
 * SHA-256, the EVP_PKEY_CTX and its *_init (OpenSSL 3 allows any number of
 * EVP_PKEY_verify / EVP_PKEY_sign calls after one init; a unit test pins
 * that), and the digest context.  The raw R||S <-> DER conversion is done
 * by hand on stack buffers instead of through ECDSA_SIG, which would cost
 * four allocations per call.
 */
#include "verify/verify_key.h"

#include "lib/sg_log.h"
#include "verify/verify_ktab.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_KEY_FILE_MAX (64 * 1024) /* a PEM key is < 1 KiB */

struct verify_key {
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *vctx; /* verify_init done */
    EVP_PKEY_CTX *sctx; /* sign_init done; NULL for public keys */
    EVP_MD *md;         /* SHA-256, fetched once */
    EVP_MD_CTX *mdctx;  /* reused for every digest */
    int is_private;
    unsigned uses;            /* verifies without a table, up to `after` */
    verify_ktab_t *tab;       /* this key's table, once built */
    verify_ktab_req_t *req;   /* its build, while in flight */
};

/* Never prompt for a passphrase: encrypted keys are refused. */
static int
s_no_pass(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* "prime256v1" is OpenSSL's name for P-256; "P-256" the NIST one. */
static const char *
s_check_p256(EVP_PKEY *pkey)
{
    char group[64];
    size_t len = 0;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
        return "not an EC key";
    if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &len) != 1) {
        ERR_clear_error();
        return "EC key without a named curve";
    }
    if (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)
        return "EC key is not on curve P-256";
    return NULL;
}

/* Does the key hold a private scalar?  (A public key has no such param.) */
static int
s_has_private(EVP_PKEY *pkey)
{
    BIGNUM *d = NULL;
    int yes;

    yes = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1;
    BN_clear_free(d);
    ERR_clear_error();
    return yes;
}

/* Steals `pkey` (one reference) on success and on failure. */
static verify_key_t *
s_key_new(EVP_PKEY *pkey, int is_private, const char **why)
{
    verify_key_t *self;
    const char *bad;

    if ((bad = s_check_p256(pkey)) != NULL) {
        *why = bad;
        EVP_PKEY_free(pkey);
        return NULL;
    }
    self = sg_calloc(1, sizeof(*self));
    self->pkey = pkey;
    self->is_private = is_private;
    self->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    self->mdctx = EVP_MD_CTX_new();
    if (self->md == NULL || self->mdctx == NULL) {
        sg_log_openssl("verify.key", "EVP_MD_fetch(SHA256)");
        goto fail;
    }
    self->vctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (self->vctx == NULL || EVP_PKEY_verify_init(self->vctx) != 1) {
        sg_log_openssl("verify.key", "EVP_PKEY_verify_init");
        goto fail;
    }
    if (is_private) {
        self->sctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (self->sctx == NULL || EVP_PKEY_sign_init(self->sctx) != 1) {
            sg_log_openssl("verify.key", "EVP_PKEY_sign_init");
            goto fail;
        }
    }
    return self;
fail:
    *why = "OpenSSL could not set the key up (logged)";
    verify_key_destroy(&self);
    return NULL;
}

verify_key_t *
verify_key_from_pem(const char *pem, size_t n, const char **why)
{
    EVP_PKEY *pkey = NULL;
    BIO *bio;
    int priv;

    *why = NULL;
    if (n > INT32_MAX) {
        *why = "PEM too large";
        return NULL;
    }
    /*
     * Pick the reader from the PEM label so a public key can never be
     * taken for a private one: "PUBLIC KEY", "PRIVATE KEY" (PKCS#8) and
     * "EC PRIVATE KEY" (SEC1) are the only labels accepted.
     */
    if (memmem(pem, n, "-----BEGIN PUBLIC KEY-----", 26) != NULL)
        priv = 0;
    else if (memmem(pem, n, "-----BEGIN PRIVATE KEY-----", 27) != NULL ||
             memmem(pem, n, "-----BEGIN EC PRIVATE KEY-----", 30) != NULL)
        priv = 1;
    else {
        *why = "no PUBLIC KEY, PRIVATE KEY or EC PRIVATE KEY PEM block";
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, (int)n);
    if (bio == NULL)
        sg_panic("BIO_new_mem_buf: out of memory");
    if (priv)
        pkey = PEM_read_bio_PrivateKey(bio, NULL, s_no_pass, NULL);
    else
        pkey = PEM_read_bio_PUBKEY(bio, NULL, s_no_pass, NULL);
    BIO_free(bio);
    /* Bad input is a verdict on the input, not an OpenSSL failure. */
    ERR_clear_error();
    if (pkey == NULL) {
        *why = priv ? "private key PEM does not parse"
                    : "public key PEM does not parse";
        return NULL;
    }
    return s_key_new(pkey, priv, why);
}

verify_key_t *
verify_key_from_file(const char *path, const char **why)
{
    verify_key_t *self = NULL;
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int fd;

    *why = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = "cannot open the key file";
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        *why = "the key file is not a regular file";
        goto out;
    }
    if (st.st_size > S_KEY_FILE_MAX) {
        *why = "the key file is too large";
        goto out;
    }
    buf = sg_malloc((size_t)st.st_size + 1);
    while (len < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + len, (size_t)st.st_size - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            *why = "cannot read the key file";
            goto out;
        }
        len += (size_t)k;
    }
    buf[len] = '\0';
    self = verify_key_from_pem(buf, len, why);
    /* Secrets are file paths, and key files readable by others are
     * refused (STYLE.md "Config"); a public key may be world-readable. */
    if (self != NULL && self->is_private && (st.st_mode & 077) != 0) {
        verify_key_destroy(&self);
        *why = "private key file is readable by group or others "
               "(chmod 600)";
    }
out:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    close(fd);
    return self;
}

verify_key_t *
verify_key_from_pkey(EVP_PKEY *pkey, const char **why)
{
    *why = NULL;
    if (pkey == NULL) {
        *why = "no key";
        return NULL;
    }
    if (EVP_PKEY_up_ref(pkey) != 1)
        sg_panic("EVP_PKEY_up_ref failed");
    return s_key_new(pkey, s_has_private(pkey), why);
}

void
verify_key_destroy(verify_key_t **self_p)
{
    verify_key_t *self;

    if (self_p == NULL || (self = *self_p) == NULL)
        return;
    verify_ktab_cancel(self->req);
    verify_ktab_release(self->tab);
    EVP_PKEY_CTX_free(self->vctx);
    EVP_PKEY_CTX_free(self->sctx);
    EVP_MD_CTX_free(self->mdctx);
    EVP_MD_free(self->md);
    EVP_PKEY_free(self->pkey);
    free(self);
    *self_p = NULL;
}

EVP_PKEY *
verify_key_get0_pkey(const verify_key_t *self)
{
    return self->pkey;
}

int
verify_key_is_private(const verify_key_t *self)
{
    return self->is_private;
}

int
verify_key_has_table(const verify_key_t *self)
{
    return self->tab != NULL;
}

static int
s_sha256(verify_key_t *self, const void *tbs, size_t n, uint8_t md[32])
{
    unsigned int mdlen = 0;

    if (EVP_DigestInit_ex2(self->mdctx, self->md, NULL) != 1 ||
        EVP_DigestUpdate(self->mdctx, tbs, n) != 1 ||
        EVP_DigestFinal_ex(self->mdctx, md, &mdlen) != 1 || mdlen != 32) {
        sg_log_openssl("verify.key", "SHA-256");
        return -1;
    }
    return 0;
}

/*
 * One 32-octet big-endian integer as a DER INTEGER: minimal (no leading
 * zero octets except one before a set high bit; zero is 02 01 00).  OpenSSL
 * re-encodes what it decodes and refuses non-minimal DER, so this must be
 * exact.  Writes at most 35 octets.
 */
static size_t
s_der_int(const uint8_t v[32], uint8_t *out)
{
    size_t i = 0, len, o = 0;

    while (i < 31 && v[i] == 0)
        i++;
    len = 32 - i;
    out[o++] = 0x02;
    if (v[i] & 0x80) {
        out[o++] = (uint8_t)(len + 1);
        out[o++] = 0x00;
    } else {
        out[o++] = (uint8_t)len;
    }
    memcpy(out + o, v + i, len);
    return o + len;
}

/* Raw R||S -> DER ECDSA-Sig-Value; at most 72 octets (fits short form). */
static size_t
s_raw_to_der(const uint8_t sig[64], uint8_t out[72])
{
    size_t n = 2;

    n += s_der_int(sig, out + n);
    n += s_der_int(sig + 32, out + n);
    out[0] = 0x30;
    out[1] = (uint8_t)(n - 2);
    return n;
}

/* One DER INTEGER of our own signature into a left-padded 32-octet half. */
static int
s_der_take_int(const uint8_t **p, const uint8_t *end, uint8_t out[32])
{
    const uint8_t *q = *p;
    size_t len;

    if (end - q < 2 || q[0] != 0x02 || q[1] & 0x80)
        return -1;
    len = q[1];
    q += 2;
    if ((size_t)(end - q) < len || len == 0)
        return -1;
    /* Drop the sign octet(s); what is left must fit 32 octets. */
    while (len > 1 && q[0] == 0) {
        q++;
        len--;
    }
    if (len > 32)
        return -1;
    memset(out, 0, 32 - len);
    memcpy(out + 32 - len, q, len);
    *p = q + len;
    return 0;
}

/* DER ECDSA-Sig-Value (as EVP_PKEY_sign wrote it) -> raw R||S. */
static int
s_der_to_raw(const uint8_t *der, size_t n, uint8_t sig[64])
{
    const uint8_t *p = der, *end = der + n;

    if (n < 8 || p[0] != 0x30 || p[1] & 0x80 || (size_t)p[1] != n - 2)
        return -1;
    p += 2;
    if (s_der_take_int(&p, end, sig) != 0 ||
        s_der_take_int(&p, end, sig + 32) != 0 || p != end)
        return -1;
    return 0;
}

sg_rc
verify_es256_sign(verify_key_t *self, const void *tbs, size_t n,
                  uint8_t sig[64])
{
    uint8_t md[32], der[80];
    size_t derlen = sizeof(der);

    if (self->sctx == NULL) {
        sg_error("verify.key", "ES256 sign: the key is public only");
        return SG_ERR;
    }
    if (s_sha256(self, tbs, n, md) != 0)
        return SG_ERR;
    if (EVP_PKEY_sign(self->sctx, der, &derlen, md, sizeof(md)) != 1) {
        sg_log_openssl("verify.key", "EVP_PKEY_sign");
        return SG_ERR;
    }
    if (s_der_to_raw(der, derlen, sig) != 0) {
        sg_error("verify.key", "EVP_PKEY_sign returned an ECDSA signature "
                               "that is not a P-256 DER pair");
        return SG_ERR;
    }
    return SG_OK;
}

/* A finished table (verify/verify_ktab.h) reaches its key. */
static void
s_attach(void *owner, verify_ktab_t *tab)
{
    verify_key_t *self = owner;

    self->req = NULL;
    self->tab = tab;
}

/*
 * One more verify without a table.  At `after` uses the key asks for a
 * table; when none can be had now (tables off, or the cap reached) the
 * count starts again, so a key that stays hot asks again later.  Private
 * keys (our own signer) never verify in bulk.
 */
static void
s_count_use(verify_key_t *self)
{
    unsigned after = verify_ktab_after();

    if (after == 0 || self->req != NULL || self->is_private)
        return;
    if (++self->uses < after)
        return;
    self->uses = 0;
    self->req = verify_ktab_request(self->pkey, self);
}

void
verify_key_collect_tables(void)
{
    if (verify_ktab_pending())
        (void)verify_ktab_collect(s_attach);
}

int
verify_es256_verify(verify_key_t *self, const void *tbs, size_t n,
                    const uint8_t sig[64])
{
    uint8_t md[32], der[72];
    size_t derlen;
    int ok;

    if (s_sha256(self, tbs, n, md) != 0)
        return -1;
    verify_key_collect_tables();
    if (self->tab != NULL) {
        ok = verify_ktab_verify(self->tab, md, sig);
        if (ok == 1 || ok == 0)
            return ok;
        sg_log_openssl("verify.key", "ES256 verify with the key's table");
        return -1;
    }
    s_count_use(self);
    derlen = s_raw_to_der(sig, der);
    /*
     * 1 = valid, 0 = does not verify.  r or s equal to 0 or >= n is a
     * plain 0 from OpenSSL (EC_R_BAD_SIGNATURE), which is what we want:
     * it is a verdict on the input.  Both (r, s) and (r, n - s) verify
     * (ECDSA is malleable); the replay key does not rely on the signature
     * (DESIGN.md 3.9).
     */
    ok = EVP_PKEY_verify(self->vctx, der, derlen, md, sizeof(md));
    if (ok == 1 || ok == 0) {
        ERR_clear_error();
        return ok;
    }
    sg_log_openssl("verify.key", "EVP_PKEY_verify");
    return -1;
}
