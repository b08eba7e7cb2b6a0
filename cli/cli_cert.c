/*
 * cli/cli_cert.c - `stirgate cert fetch URL`: fetch an x5u under the x5u
 * policy and print what the cache would hold (chain subjects, TNAuthList,
 * validity, cache TTL and why, path validation, CRL).  The tool operators
 * use when a peer's repository misbehaves.
 *
 * Also the x5u options shared with `passport verify` (cli_x5u_*).
 */
#include "cli/cli.h"
#include "cli/cli_int.h"
#include "lib/sg_log.h"
#include "verify/verify_cert.h"
#include "verify/verify_tnauth.h"
#include "verify/verify_x5u.h"
#include "verify/verify_x5u_cache.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * Take the x5u flags out of argv (in place) so the rest goes through
 * cli_opts_parse, whose options all take a value: --x5u-allow-loopback
 * is a bare flag.  0, or -1 after printing the problem.
 */
int
cli_x5u_take_opts(const char *cmd, int *argc, char **argv, cli_x5u_opts *out) {
    static const char *const valued[] = {"--x5u-tls-ca", "--cache-dir"};
    int i, k = 0;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < *argc; i++) {
        const char *a = argv[i], **dst = NULL;
        size_t j, len = 0;

        if (strcmp(a, "--") == 0) {
            while (i < *argc)
                argv[k++] = argv[i++];
            break;
        }
        if (strcmp(a, "--x5u-allow-loopback") == 0) {
            if (out->allow_loopback) {
                cli_err(cmd, "--x5u-allow-loopback given twice");
                return -1;
            }
            out->allow_loopback = 1;
            continue;
        }
        for (j = 0; j < SG_NELEM(valued); j++) {
            len = strlen(valued[j]);
            if (strncmp(a, valued[j], len) == 0 &&
                (a[len] == '\0' || a[len] == '='))
                break;
        }
        if (j == SG_NELEM(valued)) {
            argv[k++] = argv[i];
            continue;
        }
        dst = j == 0 ? &out->tls_ca : &out->cache_dir;
        if (*dst != NULL) {
            cli_err(cmd, "%s given twice", valued[j]);
            return -1;
        }
        if (a[len] == '=') {
            *dst = a + len + 1;
        } else if (i + 1 < *argc) {
            *dst = argv[++i];
        } else {
            cli_err(cmd, "%s: missing value", valued[j]);
            return -1;
        }
        if (**dst == '\0') {
            cli_err(cmd, "%s: empty value", valued[j]);
            return -1;
        }
    }
    *argc = k;
    return 0;
}

verify_x5u_cache_t *
cli_x5u_cache_new(const char *cmd, const cli_x5u_opts *xo,
                  verify_trust_t *trust, const char *trust_file) {
    verify_x5u_cache_opts co;
    verify_x5u_cache_t *cache;

    memset(&co, 0, sizeof(co));
    co.policy.allow_loopback = xo->allow_loopback;
    co.policy.tls_ca = xo->tls_ca;
    co.dir = xo->cache_dir;
    co.trust = trust;
    co.anchors_file = trust_file;
    co.crl_fetch = 1;
    co.crl_unavailable = VERIFY_CRL_ACCEPT;
    cache = verify_x5u_cache_new(&co);
    if (cache == NULL)
        cli_err(cmd, "cannot set up the x5u cache (see the log line above)");
    return cache;
}

static json_t *
s_time_json(int64_t t) {
    char buf[32];
    struct tm tm;
    time_t tt = (time_t)t;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
        return json_null();
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

static int64_t
s_asn1_epoch(const ASN1_TIME *t) {
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

static json_t *
s_name_json(const X509_NAME *name) {
    char buf[512];
    BIO *bio = BIO_new(BIO_s_mem());
    int n;

    if (bio == NULL)
        sg_panic("BIO_new: out of memory");
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    n = BIO_read(bio, buf, sizeof(buf) - 1);
    BIO_free(bio);
    buf[n > 0 ? n : 0] = '\0';
    return json_string(buf);
}

static json_t *
s_tnauth_json(X509 *cert) {
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.26", 1);
    int idx = oid ? X509_get_ext_by_OBJ(cert, oid, -1) : -1;
    verify_tnauth_t tl;
    const char *why;
    json_t *arr;

    ASN1_OBJECT_free(oid);
    if (idx < 0)
        return json_null();
    ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
    memset(&tl, 0, sizeof(tl));
    why = verify_tnauth_parse(ASN1_STRING_get0_data(v),
                              (size_t)ASN1_STRING_length(v), &tl);
    if (why != NULL)
        return json_pack("{s:s}", "malformed", why);
    arr = json_array();
    for (size_t i = 0; i < tl.n; i++) {
        const verify_tnauth_entry *e = &tl.e[i];
        if (e->type == TNAUTH_SPC)
            json_array_append_new(
                arr, json_pack("{s:s,s:s}", "type", "spc", "spc", e->value));
        else if (e->type == TNAUTH_ONE)
            json_array_append_new(
                arr, json_pack("{s:s,s:s}", "type", "one", "tn", e->value));
        else
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:I}", "type", "range", "start",
                               e->value, "count", (json_int_t)e->count));
    }
    verify_tnauth_clear(&tl);
    return arr;
}

static json_t *
s_cdp_json(X509 *cert) {
    STACK_OF(DIST_POINT) *dps =
        X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
    json_t *arr = json_array();

    ERR_clear_error();
    for (int i = 0; dps && i < sk_DIST_POINT_num(dps); i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        if (dp->distpoint == NULL || dp->distpoint->type != 0)
            continue;
        for (int j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname);
             j++) {
            GENERAL_NAME *g =
                sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);
            if (g->type == GEN_URI)
                json_array_append_new(
                    arr, json_stringn((const char *)ASN1_STRING_get0_data(
                                          g->d.uniformResourceIdentifier),
                                      (size_t)ASN1_STRING_length(
                                          g->d.uniformResourceIdentifier)));
        }
    }
    CRL_DIST_POINTS_free(dps);
    return arr;
}

/* Every certificate of the PEM list as the repository served it. */
static json_t *
s_chain_json(const char *pem, size_t n) {
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    json_t *arr = json_array();
    X509 *x;

    if (bio == NULL)
        sg_panic("BIO_new_mem_buf: out of memory");
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        json_t *c = json_object();
        json_object_set_new(c, "subject",
                            s_name_json(X509_get_subject_name(x)));
        json_object_set_new(c, "issuer", s_name_json(X509_get_issuer_name(x)));
        json_object_set_new(c, "not_before",
                            s_time_json(s_asn1_epoch(X509_get0_notBefore(x))));
        json_object_set_new(c, "not_after",
                            s_time_json(s_asn1_epoch(X509_get0_notAfter(x))));
        json_object_set_new(c, "ca", json_boolean(X509_check_ca(x) > 0));
        json_object_set_new(c, "tnauthlist", s_tnauth_json(x));
        json_object_set_new(c, "crl_urls", s_cdp_json(x));
        json_array_append_new(arr, c);
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    return arr;
}

static void
s_print_text(json_t *v) {
    json_t *chain = json_object_get(v, "chain"), *c;
    size_t i;

    printf("url:          %s\n", json_string_value(json_object_get(v, "url")));
    printf("result:       %s (%s)\n",
           json_string_value(json_object_get(v, "reason")),
           json_string_value(json_object_get(v, "detail")));
    printf("source:       %s\n",
           json_string_value(json_object_get(v, "source")));
    printf("http:         %lld %s\n",
           (long long)json_integer_value(json_object_get(v, "http_status")),
           json_string_value(json_object_get(v, "content_type")));
    printf("cache ttl:    %lld s until %s (%s)\n",
           (long long)json_integer_value(json_object_get(v, "ttl_seconds")),
           json_string_value(json_object_get(v, "expires")) ?: "-",
           json_string_value(json_object_get(v, "ttl_why")));
    printf("path:         %s\n",
           json_string_value(json_object_get(v, "path_validation")) ?: "-");
    printf("crl:          %s\n", json_string_value(json_object_get(v, "crl")));
    json_array_foreach(chain, i, c) {
        json_t *tl = json_object_get(c, "tnauthlist"), *e, *u;
        size_t j;
        printf("cert %zu:       %s\n", i,
               json_string_value(json_object_get(c, "subject")));
        printf("  issuer:     %s\n",
               json_string_value(json_object_get(c, "issuer")));
        printf("  validity:   %s .. %s\n",
               json_string_value(json_object_get(c, "not_before")) ?: "?",
               json_string_value(json_object_get(c, "not_after")) ?: "?");
        if (json_is_array(tl)) {
            json_array_foreach(tl, j, e) {
                const char *t = json_string_value(json_object_get(e, "type"));
                if (strcmp(t, "range") == 0)
                    printf("  tnauth:     range %s +%lld\n",
                           json_string_value(json_object_get(e, "start")),
                           (long long)json_integer_value(
                               json_object_get(e, "count")));
                else
                    printf("  tnauth:     %s %s\n", t,
                           json_string_value(json_object_get(
                               e, strcmp(t, "spc") == 0 ? "spc" : "tn")));
            }
        }
        json_array_foreach(json_object_get(c, "crl_urls"), j, u)
            printf("  crl url:    %s\n", json_string_value(u));
    }
}

static void
s_usage(const char *cmd) {
    cli_err(cmd, "usage: stirgate cert fetch URL [--x5u-allow-loopback] "
                 "[--x5u-tls-ca FILE] [--trust CA.pem] [--cache-dir DIR] "
                 "[--json]");
}

static int
s_fetch(int argc, char **argv) {
    static const char cmd[] = "cert fetch";
    cli_opt_t o[] = {{"trust", NULL}, {"json", NULL}};
    const size_t no = SG_NELEM(o);
    const char *pos[1], *url, *trust_file;
    size_t n_pos;
    cli_x5u_opts xo;
    verify_trust_t *trust = NULL;
    verify_x5u_cache_t *cache = NULL;
    verify_x5u_info_t info;
    verify_chain_t *chain = NULL;
    proto_reason r;
    char why[512];
    int json_out = 0, rc = CLI_EXIT_USAGE, k = 0;
    int64_t now = (int64_t)time(NULL);
    json_t *v;

    /* --json is a bare flag; cli_opts_parse wants values. */
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json_out = 1;
        else
            argv[k++] = argv[i];
    }
    argc = k;
    if (cli_x5u_take_opts(cmd, &argc, argv, &xo) != 0)
        goto out;
    if (cli_opts_parse(cmd, o, no, argc, argv, pos, 1, &n_pos) != 0)
        goto out;
    if (n_pos != 1) {
        s_usage(cmd);
        goto out;
    }
    url = pos[0];
    trust_file = cli_opt(o, no, "trust");
    trust = verify_trust_new();
    if (trust_file != NULL && verify_trust_add_ca_file(trust, trust_file, why,
                                                       sizeof(why)) != SG_OK) {
        cli_err(cmd, "--trust: %s", why);
        goto out;
    }
    cache = cli_x5u_cache_new(cmd, &xo, trust, trust_file);
    if (cache == NULL)
        goto out;

    r = verify_x5u_cache_chain_fn(cache, url, &chain);
    v = json_object();
    json_object_set_new(v, "url", json_string(url));
    if (verify_x5u_cache_info(cache, url, &info) != 0) {
        /* Refused before any lookup: the URL policy. */
        memset(&info, 0, sizeof(info));
        info.reason = r;
        info.detail = verify_x5u_cache_last_detail(cache);
        info.source = "policy";
        info.ttl_why = "";
        info.content_type = "";
        info.crl_detail = "";
    }
    /* Without --trust every chain is untrusted: report the chain as
     * fetched, and say validation did not run. */
    if (trust_file == NULL && info.pem != NULL &&
        info.reason == REASON_CERT_UNTRUSTED) {
        r = REASON_OK;
        json_object_set_new(v, "reason", json_string("fetched"));
        json_object_set_new(v, "detail",
                            json_string("chain not validated: no --trust"));
        json_object_set_new(v, "path_validation", json_null());
    } else {
        json_object_set_new(v, "reason",
                            json_string(proto_reason_name(info.reason)));
        json_object_set_new(v, "detail", json_string(info.detail));
        json_object_set_new(v, "path_validation",
                            info.chain != NULL
                                ? json_string(proto_reason_name(
                                      verify_chain_status(info.chain)))
                                : json_null());
    }
    json_object_set_new(v, "transient",
                        json_boolean(proto_reason_get(info.reason)->transient));
    json_object_set_new(v, "source", json_string(info.source));
    json_object_set_new(v, "http_status",
                        json_integer((json_int_t)info.http_status));
    json_object_set_new(v, "content_type", json_string(info.content_type));
    json_object_set_new(v, "fetched", s_time_json(info.fetched_at));
    json_object_set_new(v, "expires", s_time_json(info.expires_at));
    /* The time left from now, after the fetch (which may have crossed a
     * second), not from the start of the command. */
    now = (int64_t)time(NULL);
    json_object_set_new(v, "ttl_seconds",
                        json_integer(info.expires_at > now
                                         ? (json_int_t)(info.expires_at - now)
                                         : 0));
    json_object_set_new(v, "ttl_why", json_string(info.ttl_why));
    json_object_set_new(
        v, "crl",
        json_string(info.crl_detail[0] ? info.crl_detail : "not checked"));
    json_object_set_new(v, "chain",
                        info.pem ? s_chain_json(info.pem, info.pem_len)
                                 : json_array());
    if (json_out) {
        if (cli_json_print(v) != 0)
            goto out;
    } else {
        s_print_text(v);
        json_decref(v);
    }
    rc = r == REASON_OK ? CLI_EXIT_OK : CLI_EXIT_NEGATIVE;
out:
    verify_x5u_cache_destroy(&cache);
    verify_trust_destroy(&trust);
    return rc;
}

int
cli_cert_main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "fetch") == 0)
        return s_fetch(argc - 2, argv + 2);
    cli_err("cert", "usage: stirgate cert fetch URL [--x5u-allow-loopback] "
                    "[--x5u-tls-ca FILE] [--trust CA.pem] [--cache-dir DIR] "
                    "[--json]");
    return CLI_EXIT_USAGE;
}
