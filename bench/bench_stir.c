/*
 * bench/bench_stir.c - per-core speed of stirgate's STIR path against raw
 * OpenSSL ECDSA P-256 (not a test; see README "Benchmark").
 *
 *   bench_stir [--json] [--seconds S] [--rounds N]
 *
 * Single thread.  Each figure is the best of N rounds (default 3) of S
 * seconds (default 2):
 *   raw verify / sign   EVP_PKEY_verify / EVP_PKEY_sign over a 32-byte
 *                       digest, the EVP_PKEY_CTX initialized once
 *   PASSporT sign       verify_sign_passport: ppt msg, msgi over a 160-byte
 *                       body, the key parsed once
 *   PASSporT verify     verify_passport on that token: the chain of an
 *                       in-memory demo PKI built once and served from a
 *                       cache callback, orig and dest checked, msgi over
 *                       the body, iat fresh
 * and the ratio of each full operation to its raw counterpart, against
 * the targets verify >= 0.80, sign >= 0.60.  Build with mode=release.
 */
#include "lib/sg.h"
#include "lib/sg_log.h"
#include "proto/proto_tn.h"
#include "verify/verify_cert.h"
#include "verify/verify_key.h"
#include "verify/verify_ktab.h"
#include "verify/verify_passport.h"
#include "verify/verify_pki.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_VERIFY_TARGET 0.80
#define S_SIGN_TARGET 0.60
#define S_BATCH 32 /* operations between clock reads */
#define S_X5U "https://certs.example.net/stirgate-demo/chain.pem"

int main(int argc, char **argv);

typedef struct {
    EVP_PKEY_CTX *sctx, *vctx;
    uint8_t dgst[32];
    uint8_t der[80];
    size_t derlen;

    verify_key_t *ee;
    verify_trust_t *trust;
    verify_chain_t *chain;
    proto_ident_t orig, dest;
    uint8_t body[160];
    int64_t iat;
    char *token;
} s_bench_t;

typedef int (*s_op_fn)(s_bench_t *b);

static double
s_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Best ops/s over `rounds` rounds of `secs` seconds each. */
static double
s_measure(s_bench_t *b, s_op_fn op, double secs, int rounds)
{
    double best = 0;
    int r, i;

    for (r = 0; r < rounds; r++) {
        double t0 = s_now(), t;
        unsigned long n = 0;

        do {
            for (i = 0; i < S_BATCH; i++)
                if (op(b) != 0)
                    sg_panic("bench: an operation failed");
            n += S_BATCH;
            t = s_now() - t0;
        } while (t < secs);
        if (n / t > best)
            best = n / t;
    }
    return best;
}

static int
s_raw_sign(s_bench_t *b)
{
    uint8_t sig[80];
    size_t siglen = sizeof(sig);

    return EVP_PKEY_sign(b->sctx, sig, &siglen, b->dgst, sizeof(b->dgst)) ==
                   1
               ? 0
               : -1;
}

static int
s_raw_verify(s_bench_t *b)
{
    return EVP_PKEY_verify(b->vctx, b->der, b->derlen, b->dgst,
                           sizeof(b->dgst)) == 1
               ? 0
               : -1;
}

static int
s_pp_sign(s_bench_t *b)
{
    char *t = verify_sign_passport(b->ee, S_X5U, "msg", &b->orig, &b->dest, 1,
                                   b->iat, b->body, sizeof(b->body));

    if (t == NULL)
        return -1;
    sg_free(t);
    return 0;
}

static proto_reason
s_get_chain(void *arg, const char *x5u, verify_chain_t **chain)
{
    s_bench_t *b = arg;

    /* What the gateway's x5u cache does on a hit: a lookup by URL. */
    if (strcmp(x5u, S_X5U) != 0) {
        *chain = NULL;
        return REASON_X5U_FETCH_FAILED;
    }
    *chain = b->chain;
    return REASON_OK;
}

static int
s_pp_verify(s_bench_t *b)
{
    verify_ctx_t ctx;
    verify_input_t in;
    verify_result_t res;
    proto_reason r;

    memset(&ctx, 0, sizeof(ctx));
    ctx.trust = b->trust;
    ctx.get_chain = s_get_chain;
    ctx.get_chain_arg = b;
    ctx.fresh.max_age = 60;
    ctx.fresh.max_future = 10;
    ctx.ppts = VERIFY_PPT_MSG;
    memset(&in, 0, sizeof(in));
    in.token = b->token;
    in.token_len = strlen(b->token);
    in.orig = &b->orig;
    in.dest = &b->dest;
    in.n_dest = 1;
    in.body = b->body;
    in.body_len = sizeof(b->body);
    in.have_body = 1;
    in.now = b->iat + 1;
    memset(&res, 0, sizeof(res));
    r = verify_passport(&ctx, &in, &res);
    if (r != REASON_OK || res.msgi != VERIFY_MSGI_MATCH) {
        fprintf(stderr, "bench: verify said %s (%s)\n", proto_reason_name(r),
                res.detail);
        verify_result_clear(&res);
        return -1;
    }
    verify_result_clear(&res);
    return 0;
}

/* An in-memory demo PKI: root, intermediate, signer for 12025550000+10000. */
static void
s_setup(s_bench_t *b)
{
    EVP_PKEY *ca_key = verify_pki_keygen(), *int_key = verify_pki_keygen();
    EVP_PKEY *ee_key = verify_pki_keygen();
    X509 *ca, *inter, *ee;
    verify_pki_cert_opts co;
    uint8_t tn[64];
    char *ca_pem, *int_pem, *ee_pem, *chain, detail[256], why[256];
    const char *kwhy = NULL;
    size_t len;
    proto_reason r;
    int64_t now = (int64_t)time(NULL);

    memset(&co, 0, sizeof(co));
    co.cn = "bench root";
    co.is_ca = 1;
    co.not_before = now - 3600;
    co.not_after = now + 86400 * 365;
    ca = verify_pki_cert(&co, ca_key, NULL, NULL);
    co.cn = "bench intermediate";
    inter = verify_pki_cert(&co, int_key, ca, ca_key);
    memset(&co, 0, sizeof(co));
    co.cn = "bench signer";
    co.not_before = now - 3600;
    co.not_after = now + 86400 * 30;
    co.tnauth_der = tn;
    co.tnauth_len = verify_pki_tnauth_der(NULL, "12025550000", 10000, NULL,
                                          tn, sizeof(tn));
    ee = inter ? verify_pki_cert(&co, ee_key, inter, int_key) : NULL;
    if (ca == NULL || inter == NULL || ee == NULL)
        sg_panic("bench: cannot make the demo PKI");

    ca_pem = verify_pki_cert_pem(ca);
    int_pem = verify_pki_cert_pem(inter);
    ee_pem = verify_pki_cert_pem(ee);
    len = strlen(ee_pem) + strlen(int_pem) + 1;
    chain = sg_malloc(len);
    snprintf(chain, len, "%s%s", ee_pem, int_pem);
    b->trust = verify_trust_new();
    if (verify_trust_add_ca_pem(b->trust, ca_pem, strlen(ca_pem), why,
                                sizeof(why)) != SG_OK)
        sg_panic("bench: trust: %s", why);
    r = verify_chain_build(b->trust, chain, strlen(chain), &b->chain, detail,
                           sizeof(detail));
    if (r != REASON_OK)
        sg_panic("bench: chain: %s: %s", proto_reason_name(r), detail);

    b->ee = verify_key_from_pkey(ee_key, &kwhy);
    if (b->ee == NULL)
        sg_panic("bench: key: %s", kwhy ? kwhy : "?");
    if (proto_ident_parse("+12025550100", 12, NULL, &b->orig) != NULL ||
        proto_ident_parse("+12025550199", 12, NULL, &b->dest) != NULL)
        sg_panic("bench: identities do not parse");
    memset(b->body, 'x', sizeof(b->body));
    memcpy(b->body, "Hello from the benchmark", 24);
    b->iat = now;
    b->token = verify_sign_passport(b->ee, S_X5U, "msg", &b->orig, &b->dest,
                                    1, b->iat, b->body, sizeof(b->body));
    if (b->token == NULL)
        sg_panic("bench: cannot sign");

    /* Raw ECDSA with the same signer key, contexts made once. */
    if (RAND_bytes(b->dgst, sizeof(b->dgst)) != 1)
        sg_panic("bench: RAND_bytes");
    b->sctx = EVP_PKEY_CTX_new(ee_key, NULL);
    b->vctx = EVP_PKEY_CTX_new(ee_key, NULL);
    if (b->sctx == NULL || b->vctx == NULL ||
        EVP_PKEY_sign_init(b->sctx) != 1 ||
        EVP_PKEY_verify_init(b->vctx) != 1)
        sg_panic("bench: EVP_PKEY_CTX setup");
    b->derlen = sizeof(b->der);
    if (EVP_PKEY_sign(b->sctx, b->der, &b->derlen, b->dgst,
                      sizeof(b->dgst)) != 1)
        sg_panic("bench: EVP_PKEY_sign");

    sg_free(chain);
    sg_free(ca_pem);
    sg_free(int_pem);
    sg_free(ee_pem);
    X509_free(ee);
    X509_free(inter);
    X509_free(ca);
    EVP_PKEY_free(ee_key);
    EVP_PKEY_free(int_key);
    EVP_PKEY_free(ca_key);
}

static void
s_teardown(s_bench_t *b)
{
    EVP_PKEY_CTX_free(b->sctx);
    EVP_PKEY_CTX_free(b->vctx);
    sg_free(b->token);
    verify_chain_destroy(&b->chain);
    verify_trust_destroy(&b->trust);
    verify_key_destroy(&b->ee);
}

static void
s_usage(void)
{
    fprintf(stderr, "usage: bench_stir [--json] [--seconds S] [--rounds N]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    s_bench_t b;
    double secs = 2.0, rv, rs, pv, pvn, ps, vr, vnr, sr;
    struct timespec ts = {0, 5 * 1000 * 1000};
    int rounds = 3, json = 0, i;

    sg_log_init("bench_stir", SG_LOG_WARN);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            secs = atof(argv[++i]);
            if (secs <= 0 || secs > 600)
                s_usage();
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > 100)
                s_usage();
        } else {
            s_usage();
        }
    }
    memset(&b, 0, sizeof(b));
    s_setup(&b);
    rv = s_measure(&b, s_raw_verify, secs, rounds);
    rs = s_measure(&b, s_raw_sign, secs, rounds);
    /* The chain's key without its table, then with it (the gateway's
     * steady state for a peer key in use: verify/verify_ktab.h). */
    verify_ktab_configure(0, 1);
    pvn = s_measure(&b, s_pp_verify, secs, rounds);
    verify_ktab_configure(VERIFY_KTAB_MAX_DEFAULT, 1);
    for (i = 0; i < 2000 &&
                !verify_key_has_table(verify_chain_get0_key(b.chain));
         i++) {
        s_pp_verify(&b);
        nanosleep(&ts, NULL);
    }
    if (!verify_key_has_table(verify_chain_get0_key(b.chain)))
        fprintf(stderr, "bench: the key's table was not built\n");
    pv = s_measure(&b, s_pp_verify, secs, rounds);
    ps = s_measure(&b, s_pp_sign, secs, rounds);
    vr = pv / rv;
    vnr = pvn / rv;
    sr = ps / rs;
    if (json) {
        printf("{\"raw_verify\":%.0f,\"raw_sign\":%.0f,"
               "\"passport_verify\":%.0f,\"passport_sign\":%.0f,"
               "\"passport_verify_no_table\":%.0f,"
               "\"verify_no_table_ratio\":%.3f,"
               "\"verify_ratio\":%.3f,\"sign_ratio\":%.3f,"
               "\"verify_target\":%.2f,\"sign_target\":%.2f,"
               "\"verify_pass\":%s,\"sign_pass\":%s,"
               "\"seconds\":%.2f,\"rounds\":%d,\"openssl\":\"%s\"}\n",
               rv, rs, pv, ps, pvn, vnr, vr, sr, S_VERIFY_TARGET, S_SIGN_TARGET,
               vr >= S_VERIFY_TARGET ? "true" : "false",
               sr >= S_SIGN_TARGET ? "true" : "false", secs, rounds,
               OpenSSL_version(OPENSSL_VERSION));
    } else {
        printf("stirgate bench, one core, best of %d x %.1f s (%s)\n\n",
               rounds, secs, OpenSSL_version(OPENSSL_VERSION));
        printf("%-34s %12s %8s %s\n", "what", "ops/s", "ratio", "target");
        printf("%-34s %12.0f\n", "raw ECDSA P-256 verify (EVP)", rv);
        printf("%-34s %12.0f\n", "raw ECDSA P-256 sign (EVP)", rs);
        printf("%-34s %12.0f %8.3f\n", "PASSporT verify, no key table", pvn,
               vnr);
        printf("%-34s %12.0f %8.3f >= %.2f %s\n",
               "PASSporT verify (msg, msgi, chain)", pv, vr, S_VERIFY_TARGET,
               vr >= S_VERIFY_TARGET ? "PASS" : "BELOW");
        printf("%-34s %12.0f %8.3f >= %.2f %s\n",
               "PASSporT sign (msg, msgi)", ps, sr, S_SIGN_TARGET,
               sr >= S_SIGN_TARGET ? "PASS" : "BELOW");
    }
    s_teardown(&b);
    return 0;
}
