/*
 * cli/cli_pki.c - stirgate pki demo: a three-level STIR PKI on disk.
 *
 *   ca.pem / ca.key                   trust anchor (self-signed)
 *   intermediate.pem / .key           CA signed by the anchor
 *   signer.pem / signer.key           end-entity STIR certificate with a
 *                                     TNAuthList (range, optional SPC)
 *   chain.pem                         signer then intermediate: what an
 *                                     x5u URL serves (RFC 9060 section 7)
 *
 * Keys are written 0600.  The certificates come from verify/verify_pki.h.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"
#include "lib/sg_log.h"
#include "verify/verify_pki.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define S_DAY INT64_C(86400)
#define S_CA_DAYS 3650 /* anchors outlive any signer made with them */

typedef struct {
    const char *name;
    char *data;
    int mode;
    int secret;
} s_file_t;

static void
s_free_file(s_file_t *f)
{
    if (f->data != NULL && f->secret)
        OPENSSL_cleanse(f->data, strlen(f->data));
    sg_free(f->data);
    f->data = NULL;
}

static int
s_mkdir(const char *cmd, const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0755) == 0)
        return 0;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    cli_err(cmd, "%s: %s", dir,
            errno == EEXIST ? "exists and is not a directory"
                            : strerror(errno));
    return -1;
}

int
cli_pki_demo_write(const char *cmd, const char *dir,
                   const cli_pki_demo_opts *opts)
{
    EVP_PKEY *ca_key = NULL, *int_key = NULL, *ee_key = NULL;
    X509 *ca = NULL, *inter = NULL, *ee = NULL;
    verify_pki_cert_opts co;
    uint8_t tnauth[512];
    size_t tnauth_len, i, len;
    int64_t now = (int64_t)time(NULL);
    char cn[128], path[4096];
    s_file_t files[] = {
        {"ca.pem", NULL, 0644, 0},
        {"ca.key", NULL, 0600, 1},
        {"intermediate.pem", NULL, 0644, 0},
        {"intermediate.key", NULL, 0600, 1},
        {"signer.pem", NULL, 0644, 0},
        {"signer.key", NULL, 0600, 1},
        {"chain.pem", NULL, 0644, 0},
    };
    int rc = -1;

    tnauth_len = verify_pki_tnauth_der(opts->spc, opts->range_start,
                                       opts->range_count, NULL, tnauth,
                                       sizeof(tnauth));
    if (tnauth_len == 0) {
        cli_err(cmd, "the TNAuthList does not fit (SPC too long?)");
        goto out;
    }
    if (s_mkdir(cmd, dir) != 0)
        goto out;

    /* Not-before an hour back: a token signed right now must not land
     * before the certificates' start on a machine with a slow clock. */
    ca_key = verify_pki_keygen();
    memset(&co, 0, sizeof(co));
    co.cn = "stirgate demo root";
    co.is_ca = 1;
    co.not_before = now - 3600;
    co.not_after = now + S_CA_DAYS * S_DAY;
    ca = verify_pki_cert(&co, ca_key, NULL, NULL);

    int_key = verify_pki_keygen();
    co.cn = "stirgate demo intermediate";
    inter = verify_pki_cert(&co, int_key, ca, ca_key);

    ee_key = verify_pki_keygen();
    if (opts->spc != NULL)
        snprintf(cn, sizeof(cn), "SHAKEN %s", opts->spc);
    else
        snprintf(cn, sizeof(cn), "stirgate demo signer");
    memset(&co, 0, sizeof(co));
    co.cn = cn;
    co.not_before = now - 3600;
    co.not_after = now + opts->days * S_DAY;
    co.tnauth_der = tnauth;
    co.tnauth_len = tnauth_len;
    ee = inter ? verify_pki_cert(&co, ee_key, inter, int_key) : NULL;
    if (ca == NULL || inter == NULL || ee == NULL) {
        cli_err(cmd, "making the certificates failed (see the log above)");
        goto out;
    }

    files[0].data = verify_pki_cert_pem(ca);
    files[1].data = verify_pki_key_pem(ca_key);
    files[2].data = verify_pki_cert_pem(inter);
    files[3].data = verify_pki_key_pem(int_key);
    files[4].data = verify_pki_cert_pem(ee);
    files[5].data = verify_pki_key_pem(ee_key);
    len = strlen(files[4].data) + strlen(files[2].data) + 1;
    files[6].data = sg_malloc(len);
    snprintf(files[6].data, len, "%s%s", files[4].data, files[2].data);

    for (i = 0; i < SG_NELEM(files); i++) {
        if (files[i].data == NULL) {
            cli_err(cmd, "%s: PEM encoding failed", files[i].name);
            goto out;
        }
        if (cli_join(cmd, path, sizeof(path), dir, files[i].name) != 0)
            goto out;
        if (verify_pki_write_file(path, files[i].data, files[i].mode) !=
            SG_OK) {
            cli_err(cmd, "%s: cannot write (see the log above)", path);
            goto out;
        }
        if (!opts->quiet)
            printf("wrote %s\n", path);
    }
    if (!opts->quiet) {
        printf("signer TNAuthList: range %s count %llu",
               opts->range_start, (unsigned long long)opts->range_count);
        if (opts->spc != NULL)
            printf(", spc %s", opts->spc);
        printf("; valid %lld days\n", (long long)opts->days);
    }
    rc = fflush(stdout) == 0 ? 0 : -1;

out:
    for (i = 0; i < SG_NELEM(files); i++)
        s_free_file(&files[i]);
    X509_free(ee);
    X509_free(inter);
    X509_free(ca);
    EVP_PKEY_free(ee_key);
    EVP_PKEY_free(int_key);
    EVP_PKEY_free(ca_key);
    return rc;
}

/* Read one PEM object of `dir`/`name`: a certificate or a private key. */
static void *
s_read_pem(const char *cmd, const char *dir, const char *name, int key)
{
    char path[4096];
    void *obj = NULL;
    FILE *f;

    if (cli_join(cmd, path, sizeof(path), dir, name) != 0)
        return NULL;
    if ((f = fopen(path, "r")) == NULL) {
        cli_err(cmd, "%s: %s", path, strerror(errno));
        return NULL;
    }
    obj = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
              : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (obj == NULL) {
        sg_log_openssl("cli.pki",
                       key ? "PEM_read_PrivateKey" : "PEM_read_X509");
        cli_err(cmd, "%s: not a PEM %s", path,
                key ? "private key" : "certificate");
    }
    return obj;
}

/* Add one extension given in openssl.cnf syntax; 0 or -1 (logged). */
static int
s_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    if (!ok)
        sg_log_openssl("cli.pki", "X509_add_ext");
    return ok ? 0 : -1;
}

int
cli_pki_tls_write(const char *cmd, const char *dir)
{
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *cert = NULL;
    verify_pki_cert_opts co;
    char path[4096], *pem = NULL, *kpem = NULL;
    int64_t now = (int64_t)time(NULL);
    int rc = -1;

    if ((ca = s_read_pem(cmd, dir, "ca.pem", 0)) == NULL ||
        (ca_key = s_read_pem(cmd, dir, "ca.key", 1)) == NULL)
        goto out;
    key = verify_pki_keygen();
    memset(&co, 0, sizeof(co));
    co.cn = "127.0.0.1";
    co.not_before = now - 3600;
    co.not_after = now + S_CA_DAYS * S_DAY;
    /*
     * verify_pki_cert makes STIR certificates; a TLS client checks the
     * address against subjectAltName only, so the SAN (and the usage) are
     * added here and the certificate signed again.
     */
    if ((cert = verify_pki_cert(&co, key, ca, ca_key)) == NULL ||
        s_add_ext(cert, ca, NID_subject_alt_name, "IP:127.0.0.1") != 0 ||
        s_add_ext(cert, ca, NID_ext_key_usage, "serverAuth") != 0) {
        cli_err(cmd, "making the TLS certificate failed (see the log above)");
        goto out;
    }
    if (X509_sign(cert, ca_key, EVP_sha256()) <= 0) {
        sg_log_openssl("cli.pki", "X509_sign");
        cli_err(cmd, "signing the TLS certificate failed");
        goto out;
    }
    pem = verify_pki_cert_pem(cert);
    kpem = verify_pki_key_pem(key);
    if (pem == NULL || kpem == NULL) {
        cli_err(cmd, "PEM encoding of the TLS certificate failed");
        goto out;
    }
    /* The key first: a certificate without its key would look complete. */
    if (cli_join(cmd, path, sizeof(path), dir, "tls.key") != 0 ||
        verify_pki_write_file(path, kpem, 0600) != SG_OK ||
        cli_join(cmd, path, sizeof(path), dir, "tls.pem") != 0 ||
        verify_pki_write_file(path, pem, 0644) != SG_OK) {
        cli_err(cmd, "%s: cannot write (see the log above)", path);
        goto out;
    }
    rc = 0;
out:
    if (kpem != NULL)
        OPENSSL_cleanse(kpem, strlen(kpem));
    sg_free(kpem);
    sg_free(pem);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return rc;
}

/* "START,COUNT": START 1..15 digits, COUNT >= 2 and the range must not
 * grow the number of digits (RFC 8226 section 9). */
static int
s_parse_range(const char *cmd, const char *s, char *start, size_t startsz,
              uint64_t *count)
{
    const char *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : 0, i;
    uint64_t first = 0, limit = 1;
    int64_t c;

    if (comma == NULL || n == 0 || n > 15 || n >= startsz) {
        cli_err(cmd, "--tn-range: want START,COUNT: \"%s\"", s);
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            cli_err(cmd, "--tn-range: START is not digits: \"%s\"", s);
            return -1;
        }
        first = first * 10 + (uint64_t)(s[i] - '0');
        limit *= 10;
    }
    if (cli_parse_i64(cmd, "--tn-range COUNT", comma + 1, 2,
                      INT64_C(1000000000000000), &c) != 0)
        return -1;
    if (first + (uint64_t)c > limit) {
        cli_err(cmd, "--tn-range: the range leaves %zu-digit numbers: \"%s\"",
                n, s);
        return -1;
    }
    memcpy(start, s, n);
    start[n] = '\0';
    *count = (uint64_t)c;
    return 0;
}

static int
s_demo(int argc, char **argv)
{
    static const char cmd[] = "pki demo";
    cli_opt_t o[] = {{"tn-range", NULL}, {"spc", NULL}, {"days", NULL}};
    const size_t no = SG_NELEM(o);
    const char *pos[1], *s;
    cli_pki_demo_opts d = {"12025550000", 10000, NULL, 365, 0};
    char start[16];
    size_t n_pos, i;

    if (cli_opts_parse(cmd, o, no, argc, argv, pos, 1, &n_pos) != 0)
        return CLI_EXIT_USAGE;
    if (n_pos != 1) {
        cli_err(cmd, "missing DIR");
        return CLI_EXIT_USAGE;
    }
    if ((s = cli_opt(o, no, "tn-range")) != NULL) {
        if (s_parse_range(cmd, s, start, sizeof(start), &d.range_count) != 0)
            return CLI_EXIT_USAGE;
        d.range_start = start;
    }
    if ((s = cli_opt(o, no, "spc")) != NULL) {
        /* An SPC is an IA5String; keep it to visible ASCII. */
        for (i = 0; s[i] != '\0'; i++)
            if (s[i] <= ' ' || s[i] > '~')
                break;
        if (i == 0 || s[i] != '\0' || i > 64) {
            cli_err(cmd, "--spc: want 1-64 visible ASCII characters: \"%s\"",
                    s);
            return CLI_EXIT_USAGE;
        }
        d.spc = s;
    }
    if ((s = cli_opt(o, no, "days")) != NULL &&
        cli_parse_i64(cmd, "--days", s, 1, 36500, &d.days) != 0)
        return CLI_EXIT_USAGE;
    return cli_pki_demo_write(cmd, pos[0], &d) == 0 ? CLI_EXIT_OK
                                                    : CLI_EXIT_USAGE;
}

int
cli_pki_main(int argc, char **argv)
{
    if (argc < 2) {
        cli_err("pki", "missing command (demo)");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "demo") == 0)
        return s_demo(argc - 2, argv + 2);
    cli_err("pki", "unknown command \"%s\" (demo)", argv[1]);
    return CLI_EXIT_USAGE;
}
