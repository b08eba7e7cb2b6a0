/*
 * tests/fuzz/fuzz_crl.c - the code that takes fetched CRL bytes: the
 * trust's verify_trust_add_crl_pem_der (a --crl file or a body from a
 * distribution point) followed by a path validation that consults it, and
 * the x5u cache's CRL stage (verify/verify_x5u_cache.c: the body parse,
 * the issuer/signature/nextUpdate checks and the revocation lookup), driven
 * through the cache directory so that no network is involved.
 *
 * The PKI is fixed (two keys below, made once for this target) so that
 * seed CRLs signed by the root stay valid across runs: a root, and a leaf
 * (serial 4242) whose CRL Distribution Point is S_CRL_URL.  The input is
 * the CRL body.  Checked besides "no crash, no leak": a chain the cache
 * accepts is one whose path validates, and the cache only reports ok,
 * cert_revoked or x5u_fetch_failed for it.
 *
 * With SG_FUZZ_CRL_SEEDS=DIR set, the first run writes seed CRLs (PEM and
 * DER; revoking the leaf or not; stale; signed by the wrong key) into DIR.
 */
#include "lib/sg_log.h"
#include "verify/verify_cert.h"
#include "verify/verify_pki.h"
#include "verify/verify_x5u_cache.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_NOW 1700000000
#define S_CHAIN_URL "https://x5u.example/fuzz.pem"
/* http: the x5u policy refuses it before any lookup, so a CRL file that
 * does not parse (which the cache would refetch) never reaches the
 * network. */
#define S_CRL_URL "http://crl.invalid/root.crl"
#define S_LEAF_SERIAL 4242

static const char s_root_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbp1A1v+yI9bHRPIp\n"
    "J9hEuUzvrNcosOb1ECEHZL6mxjahRANCAARKP2VKbDBaejdCl49sc0Mbe1mnvShB\n"
    "EncwOPGnA0wvm4LQGcod9Ke8vx2+Qurp78aoCva0WEOmipyRm30EZMXH\n"
    "-----END PRIVATE KEY-----\n";
static const char s_leaf_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIWJ3wwIQyWFE0Wab\n"
    "pxsAR+mHsqkETpCf3S4XXUy82vGhRANCAAQb0OD6IfxS14EPOnabDA2O5BeacDfq\n"
    "xd6+Qj0sz9dhy+xnlVnuc6i30flBg2ZoW1mLU7ACB/zfD5w/zo1Hiidl\n"
    "-----END PRIVATE KEY-----\n";

static char s_dir[64];
static char s_anchors[128];
static char s_crl_path[256];
static char *s_root_pem;
static char *s_chain_pem; /* leaf then root */

static int64_t
s_clock(void)
{
    return S_NOW;
}

static EVP_PKEY *
s_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

    BIO_free(bio);
    if (k == NULL)
        abort();
    return k;
}

/* <dir>/<hex SHA-256 of "crl\n" URL>.crl, as the cache names it. */
static void
s_cache_path(const char *kind, const char *ext, const char *url, char *out,
             size_t outsz)
{
    uint8_t md[32];
    char hex[65];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, kind, strlen(kind)) != 1 ||
        EVP_DigestUpdate(ctx, url, strlen(url)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, NULL) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, outsz, "%s/%s.%s", s_dir, hex, ext);
}

static void
s_write(const char *path, const uint8_t *buf, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
        abort();
}

/* A cache file (verify_x5u_cache.h layout) holding `body`; 0 when the
 * encoder refuses it (an empty body). */
static int
s_write_record(const char *path, int is_crl, const char *url,
               const uint8_t *body, size_t n)
{
    verify_x5u_record_t r;
    uint8_t *buf;
    size_t len;

    memset(&r, 0, sizeof(r));
    r.is_crl = is_crl;
    r.url = url;
    r.url_len = strlen(url);
    r.fetched_at = S_NOW - 10;
    r.expires_at = S_NOW + 86400;
    r.http_status = 200;
    r.content_type = "application/pkix-crl";
    r.content_type_len = strlen(r.content_type);
    r.ttl_why = "fuzz";
    r.ttl_why_len = 4;
    r.body = body;
    r.body_len = n;
    buf = verify_x5u_record_encode(&r, &len);
    if (buf == NULL)
        return 0;
    s_write(path, buf, len);
    free(buf);
    return 1;
}

static void
s_seed(const char *dir, const char *name, X509_CRL *crl, int pem)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (pem) {
        char *s = verify_pki_crl_pem(crl);
        s_write(path, (const uint8_t *)s, strlen(s));
        free(s);
    } else {
        unsigned char *der = NULL;
        int n = i2d_X509_CRL(crl, &der);
        if (n <= 0)
            abort();
        s_write(path, der, (size_t)n);
        OPENSSL_free(der);
    }
    X509_CRL_free(crl);
}

static void
s_seeds(const char *dir, X509 *root, EVP_PKEY *root_key, EVP_PKEY *other)
{
    uint64_t leaf = S_LEAF_SERIAL, others[3] = {1, 2, 3};

    s_seed(dir, "revoked.pem",
           verify_pki_crl(root, root_key, &leaf, 1, S_NOW - 3600,
                          S_NOW + 86400), 1);
    s_seed(dir, "revoked.der",
           verify_pki_crl(root, root_key, &leaf, 1, S_NOW - 3600,
                          S_NOW + 86400), 0);
    s_seed(dir, "clean.der",
           verify_pki_crl(root, root_key, others, 3, S_NOW - 3600,
                          S_NOW + 86400), 0);
    s_seed(dir, "empty.pem",
           verify_pki_crl(root, root_key, NULL, 0, S_NOW - 3600,
                          S_NOW + 86400), 1);
    s_seed(dir, "stale.der",
           verify_pki_crl(root, root_key, &leaf, 1, S_NOW - 7200,
                          S_NOW - 3600), 0);
    s_seed(dir, "wrong-key.der",
           verify_pki_crl(root, other, &leaf, 1, S_NOW - 3600,
                          S_NOW + 86400), 0);
}

static void s_cleanup(void);

static void
s_setup(void)
{
    verify_pki_cert_opts c;
    EVP_PKEY *root_key = s_key(s_root_key), *leaf_key = s_key(s_leaf_key);
    X509 *root, *leaf;
    char *leaf_pem, path[256];
    const char *seeds = getenv("SG_FUZZ_CRL_SEEDS");
    size_t n;

    sg_log_init("fuzz_crl", SG_LOG_FATAL);
    memset(&c, 0, sizeof(c));
    c.cn = "Fuzz CRL Root";
    c.is_ca = 1;
    c.serial = 1;
    c.not_before = 1600000000;
    c.not_after = 2000000000;
    root = verify_pki_cert(&c, root_key, NULL, NULL);
    memset(&c, 0, sizeof(c));
    c.cn = "Fuzz CRL Leaf";
    c.serial = S_LEAF_SERIAL;
    c.not_before = 1600000000;
    c.not_after = 2000000000;
    c.crl_url = S_CRL_URL;
    leaf = verify_pki_cert(&c, leaf_key, root, root_key);
    if (root == NULL || leaf == NULL)
        abort();
    s_root_pem = verify_pki_cert_pem(root);
    leaf_pem = verify_pki_cert_pem(leaf);
    n = strlen(leaf_pem) + strlen(s_root_pem) + 1;
    s_chain_pem = malloc(n);
    snprintf(s_chain_pem, n, "%s%s", leaf_pem, s_root_pem);
    free(leaf_pem);

    snprintf(s_dir, sizeof(s_dir), "/tmp/sg-fuzz-crl-%d", (int)getpid());
    if (mkdir(s_dir, 0700) != 0)
        abort();
    snprintf(s_anchors, sizeof(s_anchors), "%s/anchors.pem", s_dir);
    s_write(s_anchors, (const uint8_t *)s_root_pem, strlen(s_root_pem));
    s_cache_path("chain\n", "x5u", S_CHAIN_URL, path, sizeof(path));
    if (!s_write_record(path, 0, S_CHAIN_URL, (const uint8_t *)s_chain_pem,
                        strlen(s_chain_pem)))
        abort();
    s_cache_path("crl\n", "crl", S_CRL_URL, s_crl_path, sizeof(s_crl_path));
    atexit(s_cleanup);
    if (seeds != NULL) {
        EVP_PKEY *other = verify_pki_keygen();
        s_seeds(seeds, root, root_key, other);
        EVP_PKEY_free(other);
    }
    X509_free(root);
    X509_free(leaf);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(leaf_key);
}

/* The directory goes with the process (libFuzzer exits normally at the end
 * of a run; a crash leaves it for the reproducer). */
static void
s_cleanup(void)
{
    char path[256];

    s_cache_path("chain\n", "x5u", S_CHAIN_URL, path, sizeof(path));
    (void)unlink(path);
    (void)unlink(s_crl_path);
    (void)unlink(s_anchors);
    (void)rmdir(s_dir);
}

/* The trust path: the CRL added to a store, then a path validation. */
static void
s_trust_path(const uint8_t *data, size_t size)
{
    verify_trust_t *trust = verify_trust_new();
    verify_chain_t *chain = NULL;
    char why[256];
    proto_reason r;

    if (verify_trust_add_ca_pem(trust, s_root_pem, strlen(s_root_pem), why,
                                sizeof(why)) != SG_OK)
        abort();
    if (verify_trust_add_crl_pem_der(trust, data, size, why, sizeof(why)) !=
            SG_OK &&
        why[0] == '\0')
        abort(); /* a refusal always says why */
    r = verify_chain_build(trust, s_chain_pem, strlen(s_chain_pem), &chain,
                           why, sizeof(why));
    if (r != REASON_OK && r != REASON_CERT_REVOKED &&
        r != REASON_CERT_UNTRUSTED)
        abort();
    verify_chain_destroy(&chain);
    verify_trust_destroy(&trust);
}

/* The cache path: the CRL as a cache file for the leaf's distribution
 * point, then a lookup of the chain that names it. */
static void
s_cache_path_run(const uint8_t *data, size_t size)
{
    verify_x5u_cache_opts o;
    verify_x5u_cache_t *cache;
    verify_x5u_result_t res;
    verify_trust_t *trust = verify_trust_new();
    char why[256];

    if (verify_trust_add_ca_pem(trust, s_root_pem, strlen(s_root_pem), why,
                                sizeof(why)) != SG_OK)
        abort();
    if (!s_write_record(s_crl_path, 1, S_CRL_URL, data, size)) {
        verify_trust_destroy(&trust);
        return;
    }
    memset(&o, 0, sizeof(o));
    o.dir = s_dir;
    o.trust = trust;
    o.anchors_file = s_anchors;
    o.crl_fetch = 1;
    o.crl_unavailable = (size & 1) ? VERIFY_CRL_REJECT : VERIFY_CRL_ACCEPT;
    o.clock = s_clock;
    /* A one-certificate TLS bundle: loading the system's for every input
     * was most of the time per run (nothing is fetched anyway). */
    o.policy.tls_ca = s_anchors;
    cache = verify_x5u_cache_new(&o);
    if (cache == NULL)
        abort();
    /* Everything is on disk or refused by policy: the answer comes now. */
    if (verify_x5u_cache_get(cache, S_CHAIN_URL, NULL, NULL, &res) != 1)
        abort();
    if (res.reason != REASON_OK && res.reason != REASON_CERT_REVOKED &&
        res.reason != REASON_X5U_FETCH_FAILED)
        abort();
    if ((res.reason == REASON_OK) != (res.chain != NULL))
        abort();
    verify_x5u_cache_destroy(&cache);
    verify_trust_destroy(&trust);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (s_chain_pem == NULL)
        s_setup();
    if (size > 256 * 1024)
        return 0;
    s_trust_path(data, size);
    s_cache_path_run(data, size);
    return 0;
}
