/*
 * cli/cli_passport.c - stirgate passport sign | verify | jws.
 *
 * verify follows the contract of DESIGN.md section 5 to the letter: one JSON
 * object on stdout, exit 0 valid / 1 invalid / 2 usage or configuration
 * error.  The verdict itself comes from verify_passport(); this file only
 * turns arguments into its inputs and its result into JSON.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"
#include "proto/proto_b64.h"
#include "proto/proto_passport.h"
#include "verify/verify_cert.h"
#include "verify/verify_key.h"
#include "verify/verify_passport.h"
#include "verify/verify_x5u_cache.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define S_MAX_DEST 100 /* recipients on one command line */
#define S_MAX_EPOCH INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static int
s_check_cc(const char *cmd, const char *cc)
{
    size_t i, n = strlen(cc);

    /* E.164 country codes are 1 to 3 digits. */
    for (i = 0; i < n; i++)
        if (cc[i] < '0' || cc[i] > '9')
            break;
    if (n == 0 || n > 3 || i != n) {
        cli_err(cmd, "--default-cc: not a country code (1-3 digits): \"%s\"",
                cc);
        return -1;
    }
    return 0;
}

static verify_key_t *
s_load_key(const char *cmd, const char *path)
{
    const char *why = NULL;
    verify_key_t *key;

    key = verify_key_from_file(path, &why);
    if (key == NULL) {
        cli_err(cmd, "--key: %s: %s", path, why ? why : "cannot load key");
        return NULL;
    }
    if (!verify_key_is_private(key)) {
        cli_err(cmd, "--key: %s: not a private key", path);
        verify_key_destroy(&key);
        return NULL;
    }
    return key;
}

/* ---- sign ---------------------------------------------------------------- */

static int
s_sign(int argc, char **argv)
{
    static const char cmd[] = "passport sign";
    cli_opt_t o[] = {{"key", NULL},       {"x5u", NULL}, {"orig", NULL},
                     {"dest", NULL},      {"body-file", NULL},
                     {"iat", NULL},       {"default-cc", NULL}};
    const size_t no = SG_NELEM(o);
    const char *pos[1], *cc, *need[] = {"key", "x5u", "orig", "dest"};
    proto_ident_t orig, *dest = NULL;
    verify_key_t *key = NULL;
    char *body = NULL, *token = NULL;
    size_t n_pos, body_len = 0, i;
    int64_t iat;
    int n_dest, rc = CLI_EXIT_USAGE;

    if (cli_opts_parse(cmd, o, no, argc, argv, pos, 0, &n_pos) != 0)
        goto out;
    for (i = 0; i < SG_NELEM(need); i++) {
        if (cli_opt(o, no, need[i]) == NULL) {
            cli_err(cmd, "missing --%s", need[i]);
            goto out;
        }
    }
    cc = cli_opt(o, no, "default-cc");
    if (cc != NULL && s_check_cc(cmd, cc) != 0)
        goto out;
    iat = (int64_t)time(NULL);
    if (cli_opt(o, no, "iat") != NULL &&
        cli_parse_i64(cmd, "--iat", cli_opt(o, no, "iat"), 0, S_MAX_EPOCH,
                      &iat) != 0)
        goto out;
    if (cli_parse_ident(cmd, "--orig", cli_opt(o, no, "orig"), cc, &orig) !=
        0)
        goto out;
    dest = sg_calloc(S_MAX_DEST, sizeof(*dest));
    n_dest = cli_parse_ident_list(cmd, "--dest", cli_opt(o, no, "dest"), cc,
                                  dest, S_MAX_DEST);
    if (n_dest < 0)
        goto out;
    if (cli_opt(o, no, "body-file") != NULL) {
        body = cli_read_file(cmd, "--body-file", cli_opt(o, no, "body-file"),
                             CLI_MAX_BODY, &body_len);
        if (body == NULL)
            goto out;
    }
    key = s_load_key(cmd, cli_opt(o, no, "key"));
    if (key == NULL)
        goto out;

    token = verify_sign_passport(key, cli_opt(o, no, "x5u"), NULL, &orig,
                                 dest, (size_t)n_dest, iat,
                                 (const uint8_t *)body, body_len);
    if (token == NULL) {
        cli_err(cmd, "signing failed (see the log line above)");
        rc = CLI_EXIT_NEGATIVE;
        goto out;
    }
    /* Printing the token is this command's job; it goes nowhere else. */
    puts(token);
    rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_NEGATIVE;

out:
    sg_free(token);
    sg_free(body);
    sg_free(dest);
    verify_key_destroy(&key);
    return rc;
}

/* ---- jws ----------------------------------------------------------------- */

static char *
s_b64u(const char *s)
{
    size_t n = strlen(s);
    char *out = sg_malloc(proto_b64url_enc_len(n) + 1);

    proto_b64url_encode((const uint8_t *)s, n, out);
    return out;
}

static int
s_jws(int argc, char **argv)
{
    static const char cmd[] = "passport jws";
    cli_opt_t o[] = {{"key", NULL}, {"header", NULL}, {"payload", NULL}};
    const size_t no = SG_NELEM(o);
    const char *pos[1], *need[] = {"key", "header", "payload"};
    char *h = NULL, *p = NULL, *tbs = NULL, *token = NULL;
    verify_key_t *key = NULL;
    uint8_t sig[64];
    size_t n_pos, i, len;
    int rc = CLI_EXIT_USAGE;

    if (cli_opts_parse(cmd, o, no, argc, argv, pos, 0, &n_pos) != 0)
        goto out;
    for (i = 0; i < SG_NELEM(need); i++) {
        if (cli_opt(o, no, need[i]) == NULL) {
            cli_err(cmd, "missing --%s", need[i]);
            goto out;
        }
    }
    key = s_load_key(cmd, cli_opt(o, no, "key"));
    if (key == NULL)
        goto out;

    /* The exact bytes given, never re-serialized: this is how odd tokens
     * (wrong typ, string iat, missing claims) are made on purpose. */
    h = s_b64u(cli_opt(o, no, "header"));
    p = s_b64u(cli_opt(o, no, "payload"));
    len = strlen(h) + 1 + strlen(p) + 1;
    tbs = sg_malloc(len);
    snprintf(tbs, len, "%s.%s", h, p);
    if (verify_es256_sign(key, tbs, strlen(tbs), sig) != SG_OK) {
        cli_err(cmd, "signing failed (see the log line above)");
        rc = CLI_EXIT_NEGATIVE;
        goto out;
    }
    token = proto_passport_assemble(tbs, sig);
    puts(token);
    rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_NEGATIVE;

out:
    sg_free(h);
    sg_free(p);
    sg_free(tbs);
    sg_free(token);
    verify_key_destroy(&key);
    return rc;
}

/* ---- verify -------------------------------------------------------------- */

/*
 * The chain given with --chain, built once.  Offline there is no URL to
 * fetch, so every x5u is served this chain; a mismatch between the token's
 * x5u and the file is not something the CLI can know about.
 */
typedef struct {
    verify_chain_t *chain;
    proto_reason status;
    char detail[256];
} s_fixed_chain_t;

static proto_reason
s_get_chain(void *arg, const char *x5u, verify_chain_t **chain)
{
    s_fixed_chain_t *fc = arg;

    (void)x5u;
    if (fc->chain == NULL || fc->status != REASON_OK) {
        *chain = NULL;
        return fc->status != REASON_OK ? fc->status : REASON_CERT_UNTRUSTED;
    }
    *chain = fc->chain;
    return REASON_OK;
}

static const char *
s_msgi_name(verify_msgi_state m)
{
    switch (m) {
    case VERIFY_MSGI_ABSENT:
        return "absent";
    case VERIFY_MSGI_MATCH:
        return "match";
    case VERIFY_MSGI_MISMATCH:
        return "mismatch";
    case VERIFY_MSGI_UNCHECKED:
        break;
    }
    return "unchecked";
}

static json_t *
s_verdict_json(const verify_result_t *res, const s_fixed_chain_t *fc)
{
    const proto_reason_info *ri = proto_reason_get(res->reason);
    const proto_passport_t *pp = res->pp;
    json_t *v = json_object(), *dest;
    const char *detail = res->detail;
    size_t i;

    json_object_set_new(v, "valid", json_boolean(res->reason == REASON_OK));
    json_object_set_new(v, "reason", json_string(ri->name));
    json_object_set_new(v, "sip_code",
                        ri->sip_code ? json_integer(ri->sip_code)
                                     : json_null());
    json_object_set_new(v, "verstat",
                        json_string(proto_reason_verstat(res->reason)));
    json_object_set_new(v, "ppt", cli_json_str_or_null(pp ? pp->ppt : NULL));
    json_object_set_new(v, "orig",
                        cli_json_str_or_null(pp ? pp->orig : NULL));
    if (pp != NULL) {
        dest = json_array();
        for (i = 0; i < pp->n_dest_tn; i++)
            json_array_append_new(dest, cli_json_str_or_null(pp->dest_tn[i]));
        for (i = 0; i < pp->n_dest_uri; i++)
            json_array_append_new(dest,
                                  cli_json_str_or_null(pp->dest_uri[i]));
    } else {
        dest = json_null();
    }
    json_object_set_new(v, "dest", dest);
    json_object_set_new(v, "iat",
                        pp ? json_integer((json_int_t)pp->iat) : json_null());
    json_object_set_new(v, "x5u", cli_json_str_or_null(pp ? pp->x5u : NULL));
    json_object_set_new(v, "msgi", json_string(s_msgi_name(res->msgi)));
    /* A chain verdict explains itself best with what chain build said. */
    if (detail[0] == '\0' && res->reason == fc->status)
        detail = fc->detail;
    json_object_set_new(v, "detail", cli_json_str_or_null(detail));
    return v;
}

int
cli_passport_verify(int argc, char **argv, proto_reason *reason)
{
    static const char cmd[] = "passport verify";
    cli_opt_t o[] = {{"token", NULL},     {"identity", NULL},
                     {"trust", NULL},     {"chain", NULL},
                     {"body-file", NULL}, {"orig", NULL},
                     {"dest", NULL},      {"crl", NULL},
                     {"spc-map", NULL},   {"now", NULL},
                     {"max-age", NULL},   {"max-future", NULL},
                     {"default-cc", NULL}};
    const size_t no = SG_NELEM(o);
    const char *pos[1], *cc, *token, *identity, *s;
    proto_ident_t orig, *dest = NULL;
    verify_trust_t *trust = NULL;
    s_fixed_chain_t fc = {NULL, REASON_CERT_UNTRUSTED, ""};
    cli_x5u_opts xo;
    verify_x5u_cache_t *cache = NULL;
    verify_ctx_t ctx;
    verify_input_t in;
    verify_result_t res;
    char *body = NULL, *pem = NULL, why[512];
    size_t n_pos, body_len = 0, pem_len = 0;
    int64_t now, max_age = 60, max_future = 10;
    int n_dest = 0, have_res = 0, rc = CLI_EXIT_USAGE;

    *reason = REASON__COUNT;
    memset(&res, 0, sizeof(res));
    if (cli_x5u_take_opts(cmd, &argc, argv, &xo) != 0 ||
        cli_opts_parse(cmd, o, no, argc, argv, pos, 0, &n_pos) != 0)
        goto out;
    token = cli_opt(o, no, "token");
    identity = cli_opt(o, no, "identity");
    if ((token == NULL) == (identity == NULL)) {
        cli_err(cmd, token ? "give only one of --token and --identity"
                           : "missing --token or --identity");
        goto out;
    }
    if (cli_opt(o, no, "trust") == NULL) {
        cli_err(cmd, "missing --trust");
        goto out;
    }
    cc = cli_opt(o, no, "default-cc");
    if (cc != NULL && s_check_cc(cmd, cc) != 0)
        goto out;
    now = (int64_t)time(NULL);
    if ((s = cli_opt(o, no, "now")) != NULL &&
        cli_parse_i64(cmd, "--now", s, 0, S_MAX_EPOCH, &now) != 0)
        goto out;
    if ((s = cli_opt(o, no, "max-age")) != NULL &&
        cli_parse_i64(cmd, "--max-age", s, 0, S_MAX_EPOCH, &max_age) != 0)
        goto out;
    if ((s = cli_opt(o, no, "max-future")) != NULL &&
        cli_parse_i64(cmd, "--max-future", s, 0, S_MAX_EPOCH, &max_future) !=
            0)
        goto out;
    if ((s = cli_opt(o, no, "orig")) != NULL &&
        cli_parse_ident(cmd, "--orig", s, cc, &orig) != 0)
        goto out;
    if ((s = cli_opt(o, no, "dest")) != NULL) {
        dest = sg_calloc(S_MAX_DEST, sizeof(*dest));
        n_dest = cli_parse_ident_list(cmd, "--dest", s, cc, dest, S_MAX_DEST);
        if (n_dest < 0)
            goto out;
    }
    trust = verify_trust_new();
    if (verify_trust_add_ca_file(trust, cli_opt(o, no, "trust"), why,
                                 sizeof(why)) != SG_OK) {
        cli_err(cmd, "--trust: %s", why);
        goto out;
    }
    if ((s = cli_opt(o, no, "crl")) != NULL &&
        verify_trust_add_crl_file(trust, s, why, sizeof(why)) != SG_OK) {
        cli_err(cmd, "--crl: %s", why);
        goto out;
    }
    if ((s = cli_opt(o, no, "spc-map")) != NULL &&
        verify_trust_load_spc_map(trust, s, why, sizeof(why)) != SG_OK) {
        cli_err(cmd, "--spc-map: %s", why);
        goto out;
    }
    if ((s = cli_opt(o, no, "body-file")) != NULL) {
        body = cli_read_file(cmd, "--body-file", s, CLI_MAX_BODY, &body_len);
        if (body == NULL)
            goto out;
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.trust = trust;
    if (cli_opt(o, no, "chain") == NULL) {
        /* No --chain: the x5u is fetched under the x5u policy. */
        cache = cli_x5u_cache_new(cmd, &xo, trust, cli_opt(o, no, "trust"));
        if (cache == NULL)
            goto out;
        ctx.get_chain = verify_x5u_cache_chain_fn;
        ctx.get_chain_arg = cache;
    } else {
        pem = cli_read_file(cmd, "--chain", cli_opt(o, no, "chain"),
                            CLI_MAX_PEM, &pem_len);
        if (pem == NULL)
            goto out;
        /* An unusable chain file is a verdict (cert_untrusted), not a
         * usage error: it is what a peer's x5u could serve too. */
        fc.status = verify_chain_build(trust, pem, pem_len, &fc.chain,
                                       fc.detail, sizeof(fc.detail));
        ctx.get_chain = s_get_chain;
        ctx.get_chain_arg = &fc;
    }
    ctx.fresh.max_age = max_age;
    ctx.fresh.max_future = max_future;
    ctx.ppts = 0;

    memset(&in, 0, sizeof(in));
    if (token != NULL) {
        in.token = token;
        in.token_len = strlen(token);
    } else {
        in.identity = identity;
        in.identity_len = strlen(identity);
    }
    in.orig = cli_opt(o, no, "orig") != NULL ? &orig : NULL;
    in.dest = n_dest > 0 ? dest : NULL;
    in.n_dest = (size_t)n_dest;
    in.body = (const uint8_t *)body;
    in.body_len = body_len;
    in.have_body = body != NULL;
    in.now = now;

    *reason = verify_passport(&ctx, &in, &res);
    have_res = 1;
    if (cache != NULL && (*reason == REASON_X5U_POLICY ||
                          *reason == REASON_X5U_FETCH_FAILED ||
                          *reason == REASON_CERT_UNTRUSTED ||
                          *reason == REASON_CERT_REVOKED)) {
        /* A chain verdict explains itself with what the cache said. */
        fc.status = *reason;
        snprintf(fc.detail, sizeof(fc.detail), "%s",
                 verify_x5u_cache_last_detail(cache));
    }
    res.reason = *reason;
    if (cli_json_print(s_verdict_json(&res, &fc)) != 0)
        goto out;
    rc = *reason == REASON_OK ? CLI_EXIT_OK : CLI_EXIT_NEGATIVE;

out:
    if (have_res)
        verify_result_clear(&res);
    verify_chain_destroy(&fc.chain);
    verify_x5u_cache_destroy(&cache);
    verify_trust_destroy(&trust);
    sg_free(pem);
    sg_free(body);
    sg_free(dest);
    return rc;
}

int
cli_passport_main(int argc, char **argv)
{
    proto_reason reason;

    if (argc < 2) {
        cli_err("passport", "missing command (sign, verify or jws)");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "sign") == 0)
        return s_sign(argc - 2, argv + 2);
    if (strcmp(argv[1], "verify") == 0)
        return cli_passport_verify(argc - 2, argv + 2, &reason);
    if (strcmp(argv[1], "jws") == 0)
        return s_jws(argc - 2, argv + 2);
    cli_err("passport", "unknown command \"%s\" (sign, verify or jws)",
            argv[1]);
    return CLI_EXIT_USAGE;
}
