/*
 * verify/verify_cert.c - trust anchors, CRLs, the SPC->TN map, and chains
 * built from x5u PEM lists (DESIGN.md 3.6; RFC 8226, RFC 9060, RFC 9118).
 *
 * verify_chain_build does every expensive step once (PEM and DER parsing,
 * path validation, extension parsing, key set-up) and keeps the results,
 * so the per-message checks are plain comparisons.
 */
#include "verify/verify_cert.h"

#include "lib/sg_log.h"
#include "verify/verify_tnauth.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define S_MAX_CERTS 10 /* leaf + intermediates in one x5u list */
#define S_OID_TNAUTH "1.3.6.1.5.5.7.1.26"
#define S_OID_JCC "1.3.6.1.5.5.7.1.27"
#define S_OID_EJCC "1.3.6.1.5.5.7.1.33"

typedef struct {
    char start[PROTO_TN_MAX + 1];
    uint64_t count;
} s_spc_range;

typedef struct {
    char *spc;
    size_t n;
    s_spc_range *r;
} s_spc_entry;

struct verify_trust {
    X509_STORE *store;
    size_t n_anchors;
    size_t n_crls;
    int have_spc_map;
    size_t n_spc;
    s_spc_entry *spc;
    ASN1_OBJECT *oid_tnauth, *oid_jcc, *oid_ejcc;
};

struct verify_chain {
    proto_reason status;
    STACK_OF(X509) *path; /* leaf .. anchor when validated, else the list */
    verify_key_t *key;    /* NULL when the leaf key is unusable */
    int64_t not_before, not_after, leaf_not_after;
    verify_tnauth_t *tn; /* one per path certificate */
    int *has_tn;
    int has_jcc;
    verify_jcc_t jcc;
    char fingerprint[65];
};

/* ---- trust ------------------------------------------------------------- */

static void s_why(char *why, size_t whysz, const char *fmt, ...)
    SG_PRINTF(3, 4);

static void
s_why(char *why, size_t whysz, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || whysz == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
}

/* The first queued OpenSSL reason as text, queue drained (for a why). */
static const char *
s_ossl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        snprintf(buf, n, "unknown error");
    else
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

verify_trust_t *
verify_trust_new(void)
{
    verify_trust_t *self = sg_calloc(1, sizeof(*self));

    self->store = X509_STORE_new();
    self->oid_tnauth = OBJ_txt2obj(S_OID_TNAUTH, 1);
    self->oid_jcc = OBJ_txt2obj(S_OID_JCC, 1);
    self->oid_ejcc = OBJ_txt2obj(S_OID_EJCC, 1);
    if (self->store == NULL || self->oid_tnauth == NULL ||
        self->oid_jcc == NULL || self->oid_ejcc == NULL)
        sg_panic("verify_trust_new: out of memory");
    return self;
}

static void
s_spc_free(verify_trust_t *self)
{
    size_t i;

    for (i = 0; i < self->n_spc; i++) {
        free(self->spc[i].spc);
        free(self->spc[i].r);
    }
    free(self->spc);
    self->spc = NULL;
    self->n_spc = 0;
    self->have_spc_map = 0;
}

void
verify_trust_destroy(verify_trust_t **self_p)
{
    verify_trust_t *self;

    if (self_p == NULL || (self = *self_p) == NULL)
        return;
    X509_STORE_free(self->store);
    s_spc_free(self);
    ASN1_OBJECT_free(self->oid_tnauth);
    ASN1_OBJECT_free(self->oid_jcc);
    ASN1_OBJECT_free(self->oid_ejcc);
    free(self);
    *self_p = NULL;
}

sg_rc
verify_trust_add_ca_pem(verify_trust_t *self, const char *pem, size_t n,
                        char *why, size_t whysz)
{
    BIO *bio;
    X509 *x;
    size_t added = 0;
    unsigned long e;
    char buf[200];
    sg_rc rc = SG_OK;

    if (n > INT32_MAX) {
        s_why(why, whysz, "CA PEM too large");
        return SG_ERR;
    }
    bio = BIO_new_mem_buf(pem, (int)n);
    if (bio == NULL)
        sg_panic("BIO_new_mem_buf: out of memory");
    ERR_clear_error(); /* the end-of-list test below reads the queue */
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        /* The same anchor twice is harmless; anything else is not. */
        if (X509_STORE_add_cert(self->store, x) != 1) {
            e = ERR_peek_last_error();
            if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                s_why(why, whysz, "cannot add trust anchor %zu: %s", added + 1,
                      s_ossl_reason(buf, sizeof(buf)));
                X509_free(x);
                rc = SG_ERR;
                goto out;
            }
            ERR_clear_error();
        }
        X509_free(x);
        added++;
    }
    /* The loop ends at EOF with "no start line"; anything else is bad. */
    e = ERR_peek_last_error();
    if (added == 0 || (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE)) {
        s_why(why, whysz, "%s",
              added == 0 ? "no certificate in the CA PEM"
                         : "malformed certificate in the CA PEM");
        rc = SG_ERR;
    }
    ERR_clear_error();
    self->n_anchors += added;
out:
    BIO_free(bio);
    return rc;
}

/* A whole small file into a new buffer; NULL with a why. */
static char *
s_read_file(const char *path, size_t *len, char *why, size_t whysz)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, k;

    if (f == NULL) {
        s_why(why, whysz, "%s: cannot open", path);
        return NULL;
    }
    do {
        if (cap - n < 4096) {
            cap = cap ? 2 * cap : 8192;
            if (cap > 16 * 1024 * 1024) {
                s_why(why, whysz, "%s: larger than 16 MiB", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = sg_realloc(buf, cap);
        }
        k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
    } while (k > 0);
    if (ferror(f)) {
        s_why(why, whysz, "%s: read error", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

sg_rc
verify_trust_add_ca_file(verify_trust_t *self, const char *path, char *why,
                         size_t whysz)
{
    char inner[200];
    size_t n = 0;
    char *pem = s_read_file(path, &n, why, whysz);
    sg_rc rc;

    if (pem == NULL)
        return SG_ERR;
    rc = verify_trust_add_ca_pem(self, pem, n, inner, sizeof(inner));
    if (rc != SG_OK)
        s_why(why, whysz, "%s: %s", path, inner);
    free(pem);
    return rc;
}

sg_rc
verify_trust_add_crl_pem_der(verify_trust_t *self, const uint8_t *buf, size_t n,
                             char *why, size_t whysz)
{
    X509_CRL *crl = NULL;
    char ebuf[200];
    sg_rc rc = SG_ERR;

    if (n > INT32_MAX) {
        s_why(why, whysz, "CRL too large");
        return SG_ERR;
    }
    /* PEM when it says so, else DER (CRL distribution points serve DER). */
    if (memmem(buf, n, "-----BEGIN X509 CRL-----", 24) != NULL) {
        BIO *bio = BIO_new_mem_buf(buf, (int)n);

        if (bio == NULL)
            sg_panic("BIO_new_mem_buf: out of memory");
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = buf;

        crl = d2i_X509_CRL(NULL, &p, (long)n);
        if (crl != NULL && p != buf + n) {
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    if (crl == NULL) {
        s_why(why, whysz, "CRL does not parse: %s",
              s_ossl_reason(ebuf, sizeof(ebuf)));
        return SG_ERR;
    }
    if (X509_STORE_add_crl(self->store, crl) != 1) {
        s_why(why, whysz, "cannot add the CRL: %s",
              s_ossl_reason(ebuf, sizeof(ebuf)));
        goto out;
    }
    self->n_crls++;
    rc = SG_OK;
out:
    X509_CRL_free(crl);
    return rc;
}

sg_rc
verify_trust_add_crl_file(verify_trust_t *self, const char *path, char *why,
                          size_t whysz)
{
    char inner[240];
    size_t n = 0;
    char *buf = s_read_file(path, &n, why, whysz);
    sg_rc rc;

    if (buf == NULL)
        return SG_ERR;
    rc = verify_trust_add_crl_pem_der(self, (const uint8_t *)buf, n, inner,
                                      sizeof(inner));
    if (rc != SG_OK)
        s_why(why, whysz, "%s: %s", path, inner);
    free(buf);
    return rc;
}

static int
s_is_digits(const char *s, size_t max)
{
    size_t n = strlen(s);

    return n >= 1 && n <= max && strspn(s, "0123456789") == n;
}

sg_rc
verify_trust_load_spc_map(verify_trust_t *self, const char *path, char *why,
                          size_t whysz)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    const char *spc;
    json_t *ranges;
    size_t i;

    if (root == NULL) {
        s_why(why, whysz, "%s:%d:%d: %s", path, jerr.line, jerr.column,
              jerr.text);
        return SG_ERR;
    }
    if (!json_is_object(root)) {
        s_why(why, whysz, "%s: the SPC map must be a JSON object", path);
        goto fail;
    }
    s_spc_free(self);
    self->spc = sg_calloc(json_object_size(root), sizeof(*self->spc));
    json_object_foreach(root, spc, ranges)
    {
        s_spc_entry *e = &self->spc[self->n_spc];
        json_t *r;

        if (spc[0] == '\0' || !json_is_array(ranges)) {
            s_why(why, whysz,
                  "%s: SPC \"%.40s\": the value must be an array of "
                  "{\"start\", \"count\"}",
                  path, spc);
            goto fail;
        }
        e->spc = sg_strdup(spc);
        e->r = sg_calloc(json_array_size(ranges), sizeof(*e->r));
        self->n_spc++;
        json_array_foreach(ranges, i, r)
        {
            const char *start = json_string_value(json_object_get(r, "start"));
            json_t *count = json_object_get(r, "count");
            json_int_t c = json_integer_value(count);

            if (start == NULL || !s_is_digits(start, PROTO_TN_MAX) ||
                !json_is_integer(count) || c < 1 || json_object_size(r) != 2) {
                s_why(why, whysz,
                      "%s: SPC \"%.40s\" entry %zu: want {\"start\": "
                      "\"<1-15 digits>\", \"count\": <integer >= 1>}",
                      path, spc, i);
                goto fail;
            }
            snprintf(e->r[e->n].start, sizeof(e->r[e->n].start), "%s", start);
            e->r[e->n].count = (uint64_t)c;
            e->n++;
        }
    }
    self->have_spc_map = 1;
    json_decref(root);
    return SG_OK;
fail:
    s_spc_free(self);
    json_decref(root);
    return SG_ERR;
}

/* verify_spc_fn over the trust's map: the map decides. */
static int
s_spc_covers(void *arg, const char *spc, const char *tn)
{
    const verify_trust_t *self = arg;
    size_t i, j, len = strlen(tn);
    uint64_t v = 0, start = 0;

    if (!s_is_digits(tn, PROTO_TN_MAX))
        return 0;
    for (const char *p = tn; *p; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    for (i = 0; i < self->n_spc; i++) {
        if (strcmp(self->spc[i].spc, spc) != 0)
            continue;
        for (j = 0; j < self->spc[i].n; j++) {
            const s_spc_range *r = &self->spc[i].r[j];

            if (strlen(r->start) != len)
                continue;
            start = 0;
            for (const char *p = r->start; *p; p++)
                start = start * 10 + (uint64_t)(*p - '0');
            if (v >= start && v - start < r->count)
                return 1;
        }
    }
    return 0;
}

/* ---- chains ------------------------------------------------------------ */

static int64_t
s_time(const ASN1_TIME *t, int *ok)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        *ok = 0;
        return 0;
    }
    return (int64_t)timegm(&tm);
}

/*
 * Path validation callback: our CRL policy is "no CRL configured for an
 * issuer -> no revocation check for its certificates", so OpenSSL's
 * "unable to get CRL" is not a failure.  Every other error stands
 * (X509_V_ERR_CERT_REVOKED in particular).
 */
static int
s_verify_cb(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL)
        return 1;
    return ok;
}

/* Extension value bytes by OID, or NULL when absent.  -1 in *dup when the
 * extension appears more than once (RFC 5280 4.2 forbids it). */
static const ASN1_OCTET_STRING *
s_ext(X509 *x, const ASN1_OBJECT *oid, int *dup)
{
    int i = X509_get_ext_by_OBJ(x, oid, -1);

    *dup = 0;
    if (i < 0)
        return NULL;
    if (X509_get_ext_by_OBJ(x, oid, i) >= 0)
        *dup = 1;
    return X509_EXTENSION_get_data(X509_get_ext(x, i));
}

/* Parse the STIR extensions of the path; REASON_OK or cert_untrusted. */
static proto_reason
s_parse_exts(verify_chain_t *self, const verify_trust_t *trust, char *detail,
             size_t detailsz)
{
    int n = sk_X509_num(self->path), i, dup, dup2;
    const ASN1_OCTET_STRING *os, *os2;
    const char *why;
    X509 *leaf = sk_X509_value(self->path, 0);

    self->tn = sg_calloc((size_t)n, sizeof(*self->tn));
    self->has_tn = sg_calloc((size_t)n, sizeof(*self->has_tn));
    for (i = 0; i < n; i++) {
        os = s_ext(sk_X509_value(self->path, i), trust->oid_tnauth, &dup);
        if (os == NULL)
            continue;
        if (dup) {
            s_why(detail, detailsz, "certificate %d has two TNAuthLists", i);
            return REASON_CERT_UNTRUSTED;
        }
        why = verify_tnauth_parse(ASN1_STRING_get0_data(os),
                                  (size_t)ASN1_STRING_length(os), &self->tn[i]);
        if (why != NULL) {
            s_why(detail, detailsz, "certificate %d: TNAuthList: %s", i, why);
            return REASON_CERT_UNTRUSTED;
        }
        self->has_tn[i] = 1;
    }
    /* RFC 9118 s3: JWTClaimConstraints and EnhancedJWTClaimConstraints
     * must not both appear. */
    os = s_ext(leaf, trust->oid_jcc, &dup);
    os2 = s_ext(leaf, trust->oid_ejcc, &dup2);
    if (dup || dup2 || (os != NULL && os2 != NULL)) {
        s_why(detail, detailsz,
              "leaf has more than one claim-constraints "
              "extension (RFC 9118 s3)");
        return REASON_CERT_UNTRUSTED;
    }
    if (os != NULL || os2 != NULL) {
        const ASN1_OCTET_STRING *c = os != NULL ? os : os2;

        why = verify_jcc_parse(ASN1_STRING_get0_data(c),
                               (size_t)ASN1_STRING_length(c), os2 != NULL,
                               &self->jcc);
        if (why != NULL) {
            s_why(detail, detailsz, "leaf %sJWTClaimConstraints: %s",
                  os2 != NULL ? "Enhanced" : "", why);
            return REASON_CERT_UNTRUSTED;
        }
        self->has_jcc = 1;
    }
    return REASON_OK;
}

/*
 * Validity window over the path: latest notBefore, earliest notAfter, both
 * inclusive (RFC 5280 4.1.2.5: "from notBefore through notAfter,
 * inclusive").
 *
 * The trust anchor is part of the window on purpose.  RFC 5280 6.1 treats
 * an anchor as a bare key and never looks at its dates, but DESIGN.md 5
 * says every CA on the path is valid at iat, and the anchor's notAfter is
 * its own issuer's statement of how long its key may be relied on: an
 * anchor that had already expired when the PASSporT was signed vouches for
 * nothing.  It is also what `openssl verify` does (it checks the anchor's
 * time too), so an operator checking a chain by hand sees the same answer.
 * The cost is only that an expired anchor must be replaced in the trust
 * file, which the STI-PA trust list does anyway.
 */
static proto_reason
s_window(verify_chain_t *self, char *detail, size_t detailsz)
{
    int i, ok = 1;

    self->not_before = INT64_MIN;
    self->not_after = INT64_MAX;
    for (i = 0; i < sk_X509_num(self->path); i++) {
        X509 *x = sk_X509_value(self->path, i);
        int64_t nb = s_time(X509_get0_notBefore(x), &ok);
        int64_t na = s_time(X509_get0_notAfter(x), &ok);

        if (!ok) {
            s_why(detail, detailsz, "certificate %d: unreadable validity", i);
            return REASON_CERT_UNTRUSTED;
        }
        if (nb > self->not_before)
            self->not_before = nb;
        if (na < self->not_after)
            self->not_after = na;
        if (i == 0)
            self->leaf_not_after = na;
    }
    return REASON_OK;
}

/* Read up to S_MAX_CERTS certificates; NULL with a detail when none or one
 * is malformed. */
static STACK_OF(X509) *
s_read_pem_list(const char *pem, size_t n, char *detail, size_t detailsz)
{
    STACK_OF(X509) *list = sk_X509_new_null();
    BIO *bio;
    X509 *x;
    unsigned long e;

    if (list == NULL)
        sg_panic("sk_X509_new_null: out of memory");
    if (n > INT32_MAX) {
        s_why(detail, detailsz, "certificate list too large");
        goto fail;
    }
    bio = BIO_new_mem_buf(pem, (int)n);
    if (bio == NULL)
        sg_panic("BIO_new_mem_buf: out of memory");
    ERR_clear_error(); /* the end-of-list test below reads the queue */
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_num(list) == S_MAX_CERTS) {
            X509_free(x);
            BIO_free(bio);
            s_why(detail, detailsz, "more than %d certificates", S_MAX_CERTS);
            goto fail;
        }
        if (sk_X509_push(list, x) <= 0)
            sg_panic("sk_X509_push: out of memory");
    }
    BIO_free(bio);
    /* The reader stops with "no start line" at the end; anything else
     * means a certificate block that does not parse. */
    e = ERR_peek_last_error();
    if (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
        s_why(detail, detailsz, "certificate %d in the PEM does not parse",
              sk_X509_num(list));
        goto fail;
    }
    if (sk_X509_num(list) == 0) {
        s_why(detail, detailsz, "no certificate in the PEM");
        goto fail;
    }
    ERR_clear_error();
    return list;
fail:
    ERR_clear_error();
    sk_X509_pop_free(list, X509_free);
    return NULL;
}

/*
 * RFC 5280 4.2.1.3: when keyUsage is present, a key that verifies
 * signatures other than on certificates and CRLs (here: PASSporTs) must
 * have digitalSignature.  X509_verify_cert checks the leaf's key usage only
 * against a purpose, and none is set (there is no STIR purpose), so it is
 * checked here.  A leaf without keyUsage is allowed (RFC 5280 does not
 * require the extension; RFC 8226 profiles do not either).
 *
 * CA certificates need no such check here: OpenSSL 3 requires
 * basicConstraints cA=TRUE of every intermediate ("X509_V_FLAG_X509_STRICT
 * is implicit for intermediate CAs") and keyCertSign when keyUsage is
 * present; a unit test pins that.
 */
static const char *
s_leaf_usage(X509 *leaf)
{
    uint32_t flags = X509_get_extension_flags(leaf);

    if ((flags & EXFLAG_KUSAGE) &&
        !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE))
        return "leaf keyUsage lacks digitalSignature (RFC 5280 4.2.1.3)";
    return NULL;
}

/* Path validation: REASON_OK with self->path set to the validated path. */
static proto_reason
s_validate(verify_chain_t *self, verify_trust_t *trust, STACK_OF(X509) *list,
           char *detail, size_t detailsz)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_dup(list);
    proto_reason r = REASON_CERT_UNTRUSTED;
    unsigned long flags = X509_V_FLAG_NO_CHECK_TIME;
    int err;

    if (ctx == NULL || untrusted == NULL)
        sg_panic("X509_STORE_CTX_new: out of memory");
    (void)sk_X509_shift(untrusted); /* the leaf is not its own issuer */
    if (X509_STORE_CTX_init(ctx, trust->store, sk_X509_value(list, 0),
                            untrusted) != 1) {
        sg_log_openssl("verify.cert", "X509_STORE_CTX_init");
        s_why(detail, detailsz, "path validation could not start (logged)");
        goto out;
    }
    /*
     * Time is evaluated at iat by check_at, never at "now" here (a stored
     * message is verified hours later; RFC 9475 s4).  CRLs are checked
     * only when some are configured; an issuer without one is skipped by
     * s_verify_cb.
     */
    if (trust->n_crls > 0)
        flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    X509_STORE_CTX_set_flags(ctx, flags);
    X509_STORE_CTX_set_verify_cb(ctx, s_verify_cb);
    if (X509_verify_cert(ctx) == 1) {
        self->path = X509_STORE_CTX_get1_chain(ctx);
        if (self->path == NULL)
            sg_panic("X509_STORE_CTX_get1_chain: out of memory");
        r = REASON_OK;
        goto out;
    }
    err = X509_STORE_CTX_get_error(ctx);
    if (err == X509_V_ERR_CERT_REVOKED) {
        r = REASON_CERT_REVOKED;
        s_why(detail, detailsz, "certificate %d is revoked by a CRL",
              X509_STORE_CTX_get_error_depth(ctx));
    } else {
        s_why(detail, detailsz, "no trusted path: certificate %d: %s",
              X509_STORE_CTX_get_error_depth(ctx),
              X509_verify_cert_error_string(err));
    }
out:
    ERR_clear_error();
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    return r;
}

proto_reason
verify_chain_build(verify_trust_t *trust, const char *pem, size_t n,
                   verify_chain_t **out, char *detail, size_t detailsz)
{
    verify_chain_t *self;
    STACK_OF(X509) *list;
    proto_reason r, r2;
    const char *why = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    X509 *leaf;

    *out = NULL;
    if (detail != NULL && detailsz > 0)
        detail[0] = '\0';
    list = s_read_pem_list(pem, n, detail, detailsz);
    if (list == NULL)
        return REASON_CERT_UNTRUSTED;
    self = sg_calloc(1, sizeof(*self));
    leaf = sk_X509_value(list, 0);
    self->key = verify_key_from_pkey(X509_get0_pubkey(leaf), &why);
    ERR_clear_error();
    if (X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
        sg_panic("X509_digest: out of memory");
    for (i = 0; i < mdlen; i++)
        snprintf(self->fingerprint + 2 * i, 3, "%02x", md[i]);
    r = s_validate(self, trust, list, detail, detailsz);
    /* An unvalidated chain keeps the list as given, so a cache can still
     * show what it was; its checks never matter (status is not ok). */
    if (self->path == NULL) {
        self->path = list;
        list = NULL;
    }
    if (self->key == NULL && r == REASON_OK) {
        s_why(detail, detailsz, "leaf key: %s", why ? why : "unusable");
        r = REASON_CERT_UNTRUSTED;
    }
    if (r == REASON_OK && (why = s_leaf_usage(leaf)) != NULL) {
        s_why(detail, detailsz, "%s", why);
        r = REASON_CERT_UNTRUSTED;
    }
    r2 = s_window(self, r == REASON_OK ? detail : NULL, detailsz);
    if (r == REASON_OK)
        r = r2;
    r2 = s_parse_exts(self, trust, r == REASON_OK ? detail : NULL, detailsz);
    if (r == REASON_OK)
        r = r2;
    self->status = r;
    sk_X509_pop_free(list, X509_free);
    *out = self;
    return r;
}

void
verify_chain_destroy(verify_chain_t **self_p)
{
    verify_chain_t *self;
    int i;

    if (self_p == NULL || (self = *self_p) == NULL)
        return;
    if (self->tn != NULL)
        for (i = 0; i < sk_X509_num(self->path); i++)
            verify_tnauth_clear(&self->tn[i]);
    free(self->tn);
    free(self->has_tn);
    verify_jcc_clear(&self->jcc);
    verify_key_destroy(&self->key);
    sk_X509_pop_free(self->path, X509_free);
    free(self);
    *self_p = NULL;
}

proto_reason
verify_chain_status(const verify_chain_t *self)
{
    return self->status;
}

verify_key_t *
verify_chain_get0_key(const verify_chain_t *self)
{
    return self->key;
}

int64_t
verify_chain_not_before(const verify_chain_t *self)
{
    return self->not_before;
}

int64_t
verify_chain_not_after(const verify_chain_t *self)
{
    return self->not_after;
}

int64_t
verify_chain_leaf_not_after(const verify_chain_t *self)
{
    return self->leaf_not_after;
}

proto_reason
verify_chain_check_at(const verify_chain_t *self, int64_t t)
{
    if (t < self->not_before || t > self->not_after)
        return REASON_CERT_EXPIRED;
    return REASON_OK;
}

/*
 * RFC 8226 s9: the leaf's list is what the signer may speak for, and a CA
 * list on the path limits it.  A leaf without a TNAuthList authorizes
 * nothing (every STIR end-entity certificate carries one), so the chain
 * still builds but no TN is covered.
 *
 * RFC 9060 s4 ("encompassed by" the parent's list) is checked for the TN
 * at hand, not list against list: the TN must be covered by every list on
 * the path.  That is exactly the question a verdict needs, and it is
 * defined for SPC entries too, which a list-to-list comparison is not
 * without an SPC map.  Consequence, by DESIGN.md 3.6: without a map an spc
 * entry covers any TN at every level, so a delegate's SPC is not compared
 * with its CA's SPC.
 *
 * XXX TNAuthList by reference (AIA id-ad-stirTNList, RFC 8226 s10.1) is
 * not fetched: a leaf carrying only the AIA form covers no TN.  Fixing it
 * needs an HTTPS fetch of application/tnauthlist through the x5u fetcher.
 */
proto_reason
verify_chain_check_tn(const verify_chain_t *self, const verify_trust_t *trust,
                      proto_ident_kind kind, const char *value)
{
    verify_spc_fn fn = NULL;
    void *arg = NULL;
    int i;

    if (kind != PROTO_IDENT_TN || self->has_tn == NULL || !self->has_tn[0])
        return REASON_TN_NOT_AUTHORIZED;
    if (trust != NULL && trust->have_spc_map) {
        fn = s_spc_covers;
        arg = (void *)trust;
    }
    for (i = 0; i < sk_X509_num(self->path); i++)
        if (self->has_tn[i] &&
            !verify_tnauth_covers(&self->tn[i], value, fn, arg))
            return REASON_TN_NOT_AUTHORIZED;
    return REASON_OK;
}

proto_reason
verify_chain_check_claims(const verify_chain_t *self, const json_t *payload)
{
    if (!self->has_jcc)
        return REASON_OK;
    return verify_jcc_check(&self->jcc, payload);
}

int
verify_chain_has_claim_constraints(const verify_chain_t *self)
{
    return self->has_jcc;
}

void
verify_chain_fingerprint(const verify_chain_t *self, char out[65])
{
    memcpy(out, self->fingerprint, 65);
}
