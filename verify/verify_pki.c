/*
 * verify/verify_pki.c - make P-256 keys, STIR certificates and CRLs (for
 * `stirgate pki demo` and the test fixtures; never on a verify path).
 */
#include "verify/verify_pki.h"

#include "lib/sg_log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_OID_TNAUTH "1.3.6.1.5.5.7.1.26"
#define S_OID_JCC "1.3.6.1.5.5.7.1.27"
#define S_OID_EJCC "1.3.6.1.5.5.7.1.33"

EVP_PKEY *
verify_pki_keygen(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");

    if (key == NULL) {
        sg_log_openssl("verify.pki", "EVP_EC_gen(P-256)");
        sg_panic("cannot generate a P-256 key");
    }
    return key;
}

/* One extension from its textual config ("critical,CA:TRUE"). */
static int
s_add_conf(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok;

    if (ext == NULL) {
        sg_log_openssl("verify.pki", "X509V3_EXT_conf_nid");
        return -1;
    }
    ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    if (!ok) {
        sg_log_openssl("verify.pki", "X509_add_ext");
        return -1;
    }
    return 0;
}

/* A non-critical extension with a given DER value (TNAuthList, JCC):
 * OpenSSL has no type for them, so the OCTET STRING is built by hand. */
static int
s_add_der(X509 *cert, const char *oid, const uint8_t *der, size_t n)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int rc = -1;

    if (obj == NULL || os == NULL || n > INT32_MAX ||
        ASN1_OCTET_STRING_set(os, der, (int)n) != 1) {
        sg_log_openssl("verify.pki", "ASN1_OCTET_STRING_set");
        goto out;
    }
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
    if (ext == NULL || X509_add_ext(cert, ext, -1) != 1) {
        sg_log_openssl("verify.pki", "X509_EXTENSION_create_by_OBJ");
        goto out;
    }
    rc = 0;
out:
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return rc;
}

static int
s_set_serial(ASN1_INTEGER *dst, uint64_t serial)
{
    uint8_t r[8];

    /* Random serials: 63 bits, never 0 (RFC 5280 wants positive). */
    while (serial == 0) {
        if (RAND_bytes(r, sizeof(r)) != 1) {
            sg_log_openssl("verify.pki", "RAND_bytes");
            return -1;
        }
        memcpy(&serial, r, sizeof(serial));
        serial &= INT64_MAX;
    }
    if (ASN1_INTEGER_set_uint64(dst, serial) != 1) {
        sg_log_openssl("verify.pki", "ASN1_INTEGER_set_uint64");
        return -1;
    }
    return 0;
}

X509 *
verify_pki_cert(const verify_pki_cert_opts *opts, EVP_PKEY *key, X509 *issuer,
                EVP_PKEY *issuer_key)
{
    X509 *cert = X509_new();
    X509_NAME *name = NULL;
    X509V3_CTX v3;
    char crldp[1100];

    if (cert == NULL)
        sg_panic("X509_new: out of memory");
    if (issuer_key == NULL)
        issuer_key = key;
    name = X509_NAME_new();
    if (name == NULL ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   (const unsigned char *)"stirgate demo", -1,
                                   -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)opts->cn, -1, -1,
                                   0) != 1) {
        sg_log_openssl("verify.pki", "X509_NAME_add_entry_by_txt");
        goto fail;
    }
    if (X509_set_version(cert, X509_VERSION_3) != 1 ||
        s_set_serial(X509_get_serialNumber(cert), opts->serial) != 0 ||
        X509_set_subject_name(cert, name) != 1 ||
        X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer)
                                          : name) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)opts->not_before) ==
            NULL ||
        ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)opts->not_after) ==
            NULL ||
        X509_set_pubkey(cert, key) != 1) {
        sg_log_openssl("verify.pki", "X509_set_*");
        goto fail;
    }
    /* SKI before AKI: a self-signed AKI copies the certificate's own SKI. */
    X509V3_set_ctx(&v3, issuer ? issuer : cert, cert, NULL, NULL, 0);
    if (s_add_conf(cert, &v3, NID_basic_constraints,
                   opts->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
        s_add_conf(cert, &v3, NID_key_usage,
                   opts->is_ca ? "critical,keyCertSign,cRLSign"
                               : "critical,digitalSignature") ||
        s_add_conf(cert, &v3, NID_subject_key_identifier, "hash") ||
        s_add_conf(cert, &v3, NID_authority_key_identifier, "keyid:always"))
        goto fail;
    if (opts->crl_url != NULL) {
        if (strlen(opts->crl_url) > 1024) {
            sg_error("verify.pki", "CRL URL too long");
            goto fail;
        }
        snprintf(crldp, sizeof(crldp), "URI:%s", opts->crl_url);
        if (s_add_conf(cert, &v3, NID_crl_distribution_points, crldp))
            goto fail;
    }
    if (opts->tnauth_der != NULL &&
        s_add_der(cert, S_OID_TNAUTH, opts->tnauth_der, opts->tnauth_len))
        goto fail;
    if (opts->jcc_der != NULL &&
        s_add_der(cert, opts->jcc_enhanced ? S_OID_EJCC : S_OID_JCC,
                  opts->jcc_der, opts->jcc_len))
        goto fail;
    if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
        sg_log_openssl("verify.pki", "X509_sign");
        goto fail;
    }
    X509_NAME_free(name);
    return cert;
fail:
    X509_NAME_free(name);
    X509_free(cert);
    return NULL;
}

X509_CRL *
verify_pki_crl(X509 *issuer, EVP_PKEY *issuer_key, const uint64_t *serials,
               size_t n_serials, int64_t this_update, int64_t next_update)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t_this = ASN1_TIME_set(NULL, (time_t)this_update);
    ASN1_TIME *t_next = ASN1_TIME_set(NULL, (time_t)next_update);
    size_t i;

    if (crl == NULL || t_this == NULL || t_next == NULL)
        sg_panic("X509_CRL_new: out of memory");
    if (X509_CRL_set_version(crl, 1) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
        X509_CRL_set1_lastUpdate(crl, t_this) != 1 ||
        X509_CRL_set1_nextUpdate(crl, t_next) != 1) {
        sg_log_openssl("verify.pki", "X509_CRL_set_*");
        goto fail;
    }
    for (i = 0; i < n_serials; i++) {
        X509_REVOKED *rev = X509_REVOKED_new();
        ASN1_INTEGER *sn = ASN1_INTEGER_new();

        if (rev == NULL || sn == NULL)
            sg_panic("X509_REVOKED_new: out of memory");
        if (ASN1_INTEGER_set_uint64(sn, serials[i]) != 1 ||
            X509_REVOKED_set_serialNumber(rev, sn) != 1 ||
            X509_REVOKED_set_revocationDate(rev, t_this) != 1 ||
            X509_CRL_add0_revoked(crl, rev) != 1) {
            sg_log_openssl("verify.pki", "X509_CRL_add0_revoked");
            ASN1_INTEGER_free(sn);
            X509_REVOKED_free(rev);
            goto fail;
        }
        ASN1_INTEGER_free(sn);
    }
    if (X509_CRL_sort(crl) != 1 ||
        X509_CRL_sign(crl, issuer_key, EVP_sha256()) <= 0) {
        sg_log_openssl("verify.pki", "X509_CRL_sign");
        goto fail;
    }
    ASN1_TIME_free(t_this);
    ASN1_TIME_free(t_next);
    return crl;
fail:
    ASN1_TIME_free(t_this);
    ASN1_TIME_free(t_next);
    X509_CRL_free(crl);
    return NULL;
}

/* ---- TNAuthList DER ---------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int overflow;
} s_buf;

static void
s_put(s_buf *b, const void *p, size_t n)
{
    if (b->overflow || n > b->cap - b->n) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* Tag and minimal definite length. */
static void
s_put_hdr(s_buf *b, uint8_t tag, size_t len)
{
    uint8_t h[6];
    size_t k = 0, i;

    h[k++] = tag;
    if (len < 0x80) {
        h[k++] = (uint8_t)len;
    } else {
        size_t nb = 0;
        for (size_t v = len; v; v >>= 8)
            nb++;
        h[k++] = (uint8_t)(0x80 | nb);
        for (i = nb; i > 0; i--)
            h[k++] = (uint8_t)(len >> (8 * (i - 1)));
    }
    s_put(b, h, k);
}

/* The DER length of a TLV whose contents are `len` octets. */
static size_t
s_tlv_len(size_t len)
{
    size_t nb = 0;

    if (len < 0x80)
        return 2 + len;
    for (size_t v = len; v; v >>= 8)
        nb++;
    return 2 + nb + len;
}

/* Minimal positive INTEGER contents for `v`: octets into out, count. */
static size_t
s_uint_octets(uint64_t v, uint8_t out[9])
{
    uint8_t be[8];
    size_t i = 0, n;

    for (int k = 7; k >= 0; k--)
        be[7 - k] = (uint8_t)(v >> (8 * k));
    while (i < 7 && be[i] == 0)
        i++;
    n = 0;
    if (be[i] & 0x80)
        out[n++] = 0;
    memcpy(out + n, be + i, 8 - i);
    return n + 8 - i;
}

size_t
verify_pki_tnauth_der(const char *spc, const char *range_start,
                      uint64_t range_count, const char *one, uint8_t *out,
                      size_t outsz)
{
    s_buf b = {out, 0, outsz, 0};
    size_t spc_in = 0, range_in = 0, one_in = 0, total = 0;
    size_t start_len = 0, seq_len = 0, int_len = 0;
    uint8_t cnt[9];

    /* Sizes first, inner to outer, so each header is written once. */
    if (spc != NULL) {
        spc_in = s_tlv_len(strlen(spc));
        total += s_tlv_len(spc_in);
    }
    if (range_start != NULL) {
        start_len = strlen(range_start);
        int_len = s_uint_octets(range_count, cnt);
        seq_len = s_tlv_len(start_len) + s_tlv_len(int_len);
        range_in = s_tlv_len(seq_len);
        total += s_tlv_len(range_in);
    }
    if (one != NULL) {
        one_in = s_tlv_len(strlen(one));
        total += s_tlv_len(one_in);
    }
    s_put_hdr(&b, 0x30, total);
    if (spc != NULL) {
        s_put_hdr(&b, 0xa0, spc_in);
        s_put_hdr(&b, 0x16, strlen(spc));
        s_put(&b, spc, strlen(spc));
    }
    if (range_start != NULL) {
        s_put_hdr(&b, 0xa1, range_in);
        s_put_hdr(&b, 0x30, seq_len);
        s_put_hdr(&b, 0x16, start_len);
        s_put(&b, range_start, start_len);
        s_put_hdr(&b, 0x02, int_len);
        s_put(&b, cnt, int_len);
    }
    if (one != NULL) {
        s_put_hdr(&b, 0xa2, one_in);
        s_put_hdr(&b, 0x16, strlen(one));
        s_put(&b, one, strlen(one));
    }
    return b.overflow ? 0 : b.n;
}

/* ---- PEM and files ----------------------------------------------------- */

/* The BIO's contents as a new string. */
static char *
s_bio_string(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);

    if (n < 0 || data == NULL)
        return NULL;
    return sg_strndup(data, (size_t)n);
}

char *
verify_pki_key_pem(EVP_PKEY *key)
{
    /* The secure-memory BIO wipes the key text when it is freed. */
    BIO *bio = BIO_new(BIO_s_secmem());
    char *s = NULL;

    if (bio == NULL)
        sg_panic("BIO_new: out of memory");
    if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
        sg_log_openssl("verify.pki", "PEM_write_bio_PrivateKey");
    else
        s = s_bio_string(bio);
    BIO_free(bio);
    return s;
}

char *
verify_pki_cert_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *s = NULL;

    if (bio == NULL)
        sg_panic("BIO_new: out of memory");
    if (PEM_write_bio_X509(bio, cert) != 1)
        sg_log_openssl("verify.pki", "PEM_write_bio_X509");
    else
        s = s_bio_string(bio);
    BIO_free(bio);
    return s;
}

char *
verify_pki_crl_pem(X509_CRL *crl)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *s = NULL;

    if (bio == NULL)
        sg_panic("BIO_new: out of memory");
    if (PEM_write_bio_X509_CRL(bio, crl) != 1)
        sg_log_openssl("verify.pki", "PEM_write_bio_X509_CRL");
    else
        s = s_bio_string(bio);
    BIO_free(bio);
    return s;
}

/*
 * Write to a temporary file in the same directory, fsync it, rename it
 * over `path`, then fsync the directory: a crash leaves the old file or
 * the new one, never a torn one.  The mode is set before any byte is
 * written, so a key is never readable by others, not even briefly.
 */
sg_rc
verify_pki_write_file(const char *path, const char *data, int mode)
{
    size_t plen = strlen(path), len = strlen(data), off = 0;
    char *tmp = sg_malloc(plen + 16), *dirc = sg_strdup(path);
    sg_rc rc = SG_ERR;
    int fd, dfd;

    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        sg_error("verify.pki", "%s: mkostemp: %s", path, strerror(errno));
        goto out;
    }
    if (fchmod(fd, (mode_t)mode) != 0) {
        sg_error("verify.pki", "%s: fchmod: %s", tmp, strerror(errno));
        goto fail;
    }
    while (off < len) {
        ssize_t k = write(fd, data + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            sg_error("verify.pki", "%s: write: %s", tmp, strerror(errno));
            goto fail;
        }
        off += (size_t)k;
    }
    if (fsync(fd) != 0) {
        sg_error("verify.pki", "%s: fsync: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        sg_error("verify.pki", "%s: close: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        sg_error("verify.pki", "rename %s: %s", path, strerror(errno));
        goto fail;
    }
    dfd = open(dirname(dirc), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            sg_warn("verify.pki", "%s: fsync of the directory: %s", path,
                    strerror(errno));
        close(dfd);
    }
    rc = SG_OK;
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(dirc);
    return rc;
}
