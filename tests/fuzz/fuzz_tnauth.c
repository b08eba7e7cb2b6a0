/*
 * tests/fuzz/fuzz_tnauth.c - libFuzzer target for the DER parsers of
 * verify_tnauth.h: TNAuthList, JWTClaimConstraints and
 * EnhancedJWTClaimConstraints, then the checks on whatever parsed.
 */
#include "verify/verify_tnauth.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
s_spc_odd(void *arg, const char *spc, const char *tn)
{
    (void)arg;
    return (strlen(spc) + strlen(tn)) % 2;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const tns[] = {"12155551212",     "12155551999", "1",
                                      "999999999999999", "*67#",        ""};
    verify_tnauth_t tl;
    verify_jcc_t jcc;
    json_t *payload;
    size_t i;
    int enhanced;

    if (verify_tnauth_parse(data, size, &tl) == NULL) {
        for (i = 0; i < sizeof(tns) / sizeof(tns[0]); i++) {
            (void)verify_tnauth_covers(&tl, tns[i], NULL, NULL);
            (void)verify_tnauth_covers(&tl, tns[i], s_spc_odd, NULL);
        }
        /* Each parsed entry must cover its own start/number. */
        for (i = 0; i < tl.n; i++)
            if (tl.e[i].type != TNAUTH_SPC &&
                !verify_tnauth_covers(&tl, tl.e[i].value, NULL, NULL))
                __builtin_trap();
        verify_tnauth_clear(&tl);
    }
    payload = json_pack("{s:s,s:s,s:i}", "confidence", "high", "msgi",
                        "sha256-x", "iat", 1);
    for (enhanced = 0; enhanced <= 1; enhanced++) {
        if (verify_jcc_parse(data, size, enhanced, &jcc) == NULL) {
            (void)verify_jcc_check(&jcc, payload);
            verify_jcc_clear(&jcc);
        }
    }
    json_decref(payload);
    return 0;
}
