/*
 * cli/cli_demo.c - stirgate demo: the offline walk-through the README runs.
 *
 * In a private temporary directory: make a demo PKI, sign a sample message
 * body from +1 202 555 0100 to +1 202 555 0199, verify it (expect ok), flip
 * one byte of the body and verify again (expect msgi_mismatch), clean up.
 * Exit 0 only when both verdicts are the expected ones.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"
#include "verify/verify_key.h"
#include "verify/verify_passport.h"
#include "verify/verify_pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_X5U "https://certs.example.net/stirgate-demo/chain.pem"
#define S_ORIG "+1 202 555 0100"
#define S_DEST "+1 202 555 0199"

static const char s_body[] =
    "Your table for two at 19:30 is confirmed. Reply STOP to opt out.\r\n";

static const char *const s_files[] = {
    "ca.pem",    "ca.key",     "intermediate.pem", "intermediate.key",
    "signer.pem", "signer.key", "chain.pem",        "body.txt",
    "tampered.txt",
};

static int
s_path(char *out, size_t outsz, const char *dir, const char *name)
{
    return cli_join("demo", out, outsz, dir, name);
}

static void
s_cleanup(const char *dir)
{
    char path[4096];
    size_t i;

    for (i = 0; i < SG_NELEM(s_files); i++) {
        if (s_path(path, sizeof(path), dir, s_files[i]) == 0)
            (void)unlink(path);
    }
    (void)rmdir(dir);
}

static char *
s_sign(const char *dir)
{
    proto_ident_t orig, dest;
    verify_key_t *key;
    const char *why = NULL;
    char path[4096], *token;

    if (s_path(path, sizeof(path), dir, "signer.key") != 0)
        return NULL;
    key = verify_key_from_file(path, &why);
    if (key == NULL) {
        cli_err("demo", "%s: %s", path, why ? why : "cannot load key");
        return NULL;
    }
    if (cli_parse_ident("demo", "orig", S_ORIG, NULL, &orig) != 0 ||
        cli_parse_ident("demo", "dest", S_DEST, NULL, &dest) != 0) {
        verify_key_destroy(&key);
        return NULL;
    }
    token = verify_sign_passport(key, S_X5U, NULL, &orig, &dest, 1,
                                 (int64_t)time(NULL), (const uint8_t *)s_body,
                                 sizeof(s_body) - 1);
    verify_key_destroy(&key);
    if (token == NULL)
        cli_err("demo", "signing failed (see the log above)");
    return token;
}

static proto_reason
s_verify(const char *dir, const char *token, const char *body_name)
{
    char trust[4096], chain[4096], body[4096];
    char *argv[] = {"--token", (char *)token, "--trust",  trust,
                    "--chain", chain,         "--body-file", body,
                    "--orig",  S_ORIG,        "--dest",   S_DEST};
    proto_reason reason;

    if (s_path(trust, sizeof(trust), dir, "ca.pem") != 0 ||
        s_path(chain, sizeof(chain), dir, "chain.pem") != 0 ||
        s_path(body, sizeof(body), dir, body_name) != 0)
        return REASON__COUNT;
    (void)cli_passport_verify((int)SG_NELEM(argv), argv, &reason);
    return reason;
}

int
cli_demo_main(int argc, char **argv)
{
    cli_pki_demo_opts pki = {"12025550000", 10000, NULL, 365, 1};
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4096], *token = NULL, *tampered = NULL;
    proto_reason r1 = REASON__COUNT, r2 = REASON__COUNT;
    int made = 0, rc = CLI_EXIT_NEGATIVE;

    if (argc > 1) {
        cli_err("demo", "unexpected argument \"%s\"", argv[1]);
        return CLI_EXIT_USAGE;
    }
    if (cli_join("demo", dir, sizeof(dir), tmp && *tmp ? tmp : "/tmp",
                 "stirgate-demo-XXXXXX") != 0)
        return CLI_EXIT_USAGE;
    if (mkdtemp(dir) == NULL) {
        cli_err("demo", "mkdtemp %s: cannot create", dir);
        return CLI_EXIT_USAGE;
    }
    made = 1;
    printf("== demo PKI in %s (root, intermediate, signer for "
           "12025550000+10000)\n", dir);
    if (cli_pki_demo_write("demo", dir, &pki) != 0)
        goto out;

    if (s_path(path, sizeof(path), dir, "body.txt") != 0 ||
        verify_pki_write_file(path, s_body, 0644) != SG_OK)
        goto out;
    token = s_sign(dir);
    if (token == NULL)
        goto out;
    printf("== signed a msg PASSporT (%zu bytes) from %s to %s, x5u %s, "
           "msgi over the %zu-byte body\n",
           strlen(token), S_ORIG, S_DEST, S_X5U, sizeof(s_body) - 1);

    printf("== verify with the body as signed (expect ok)\n");
    fflush(stdout);
    r1 = s_verify(dir, token, "body.txt");

    /* One byte changed in transit: the signature still verifies, msgi
     * catches it. */
    tampered = sg_strdup(s_body);
    tampered[0] ^= 0x20;
    if (s_path(path, sizeof(path), dir, "tampered.txt") != 0 ||
        verify_pki_write_file(path, tampered, 0644) != SG_OK)
        goto out;
    printf("== verify with one body byte changed (expect msgi_mismatch)\n");
    fflush(stdout);
    r2 = s_verify(dir, token, "tampered.txt");

    if (r1 == REASON_OK && r2 == REASON_MSGI_MISMATCH) {
        printf("== demo passed: the intact message verifies "
               "(TN-Validation-Passed), the tampered one is msgi_mismatch\n");
        rc = CLI_EXIT_OK;
    } else {
        printf("== demo FAILED: got %s and %s, want ok and msgi_mismatch\n",
               r1 < REASON__COUNT ? proto_reason_name(r1) : "(no verdict)",
               r2 < REASON__COUNT ? proto_reason_name(r2) : "(no verdict)");
    }

out:
    sg_free(token);
    sg_free(tampered);
    if (made)
        s_cleanup(dir);
    fflush(stdout);
    return rc;
}
