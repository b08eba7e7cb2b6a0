/*
 * Unit tests: TNAuthList and (Enhanced)JWTClaimConstraints DER parsers
 * (STIR.md T7, D4), scope checks, and the DER maker of verify_pki.
 */
#include "lib/sg.h"
#include "tests/unit/tu.h"
#include "verify/verify_pki.h"
#include "verify/verify_tnauth.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define T7_TNAUTH "3008a006160431323334"
#define T7_EJCC                                                                \
    "3040a00e300c160a636f6e666964656e6365a120301e301c160a636f6e666964656e63"   \
    "65300e0c04686967680c066d656469756da20c300a16087072696f72697479"
#define D4_TNAUTH                                                              \
    "302ca006160431323334a1133011160b3132313535353531303030020203e8a20d160b"   \
    "3132313535353531323132"

static const char *
s_parse_hex(const char *hex, verify_tnauth_t *out)
{
    uint8_t der[512];
    long n = tu_unhex(hex, der, sizeof(der));

    if (n < 0)
        return "bad hex in the test";
    return verify_tnauth_parse(der, (size_t)n, out);
}

TU_TEST(verify_tnauth_t7_spc)
{
    verify_tnauth_t tl;

    TU_REQUIRE(s_parse_hex(T7_TNAUTH, &tl) == NULL);
    TU_INTEQ(tl.n, 1);
    TU_INTEQ(tl.e[0].type, TNAUTH_SPC);
    TU_STREQ(tl.e[0].value, "1234");
    /* No SPC map: an spc covers any TN. */
    TU_CHECK(verify_tnauth_covers(&tl, "12155551212", NULL, NULL));
    verify_tnauth_clear(&tl);
    TU_INTEQ(tl.n, 0);
    /* SPC 818H from the secondary source. */
    TU_REQUIRE(s_parse_hex("3008a006160438313848", &tl) == NULL);
    TU_STREQ(tl.e[0].value, "818H");
    verify_tnauth_clear(&tl);
}

static int
s_spc_only_1234_555(void *arg, const char *spc, const char *tn)
{
    (*(int *)arg)++;
    return strcmp(spc, "1234") == 0 && strncmp(tn, "1555", 4) == 0;
}

TU_TEST(verify_tnauth_d4_all_arms)
{
    verify_tnauth_t tl;
    int calls = 0;

    TU_REQUIRE(s_parse_hex(D4_TNAUTH, &tl) == NULL);
    TU_INTEQ(tl.n, 3);
    TU_INTEQ(tl.e[0].type, TNAUTH_SPC);
    TU_INTEQ(tl.e[1].type, TNAUTH_RANGE);
    TU_STREQ(tl.e[1].value, "12155551000");
    TU_INTEQ(tl.e[1].count, 1000);
    TU_INTEQ(tl.e[2].type, TNAUTH_ONE);
    TU_STREQ(tl.e[2].value, "12155551212");
    /* With an SPC callback that refuses these TNs, only range/one count. */
    TU_CHECK(
        verify_tnauth_covers(&tl, "12155551999", s_spc_only_1234_555, &calls));
    TU_CHECK(
        verify_tnauth_covers(&tl, "12155551000", s_spc_only_1234_555, &calls));
    TU_CHECK(
        !verify_tnauth_covers(&tl, "12155552000", s_spc_only_1234_555, &calls));
    TU_CHECK(
        !verify_tnauth_covers(&tl, "12155550999", s_spc_only_1234_555, &calls));
    TU_CHECK(
        verify_tnauth_covers(&tl, "12155551212", s_spc_only_1234_555, &calls));
    /* Same digits, other length: not in the range. */
    TU_CHECK(!verify_tnauth_covers(&tl, "121555510000", s_spc_only_1234_555,
                                   &calls));
    TU_CHECK(
        !verify_tnauth_covers(&tl, "1215555100", s_spc_only_1234_555, &calls));
    TU_CHECK(
        verify_tnauth_covers(&tl, "15550001", s_spc_only_1234_555, &calls));
    TU_CHECK(calls > 0);
    /* Without a callback the spc covers everything. */
    TU_CHECK(verify_tnauth_covers(&tl, "12155552000", NULL, NULL));
    verify_tnauth_clear(&tl);
}

TU_TEST(verify_tnauth_pki_der_matches_d4)
{
    uint8_t der[128], want[128];
    long wn = tu_unhex(D4_TNAUTH, want, sizeof(want));
    size_t n = verify_pki_tnauth_der("1234", "12155551000", 1000, "12155551212",
                                     der, sizeof(der));

    TU_INTEQ(n, wn);
    TU_CHECK(memcmp(der, want, (size_t)wn) == 0);
    n = verify_pki_tnauth_der("1234", NULL, 0, NULL, der, sizeof(der));
    TU_INTEQ(n, 10);
    TU_REQUIRE(tu_unhex(T7_TNAUTH, want, sizeof(want)) == 10);
    TU_CHECK(memcmp(der, want, 10) == 0);
    /* Too small a buffer: 0. */
    TU_INTEQ(verify_pki_tnauth_der("1234", "12155551000", 1000, NULL, der, 20),
             0);
    /* A count with the high bit set gets a leading 00 and parses back. */
    {
        verify_tnauth_t tl;
        n = verify_pki_tnauth_der(NULL, "100", 128, NULL, der, sizeof(der));
        TU_REQUIRE(n > 0);
        TU_REQUIRE(verify_tnauth_parse(der, n, &tl) == NULL);
        TU_INTEQ(tl.e[0].count, 128);
        TU_CHECK(verify_tnauth_covers(&tl, "227", NULL, NULL));
        TU_CHECK(!verify_tnauth_covers(&tl, "228", NULL, NULL));
        verify_tnauth_clear(&tl);
    }
}

TU_TEST(verify_tnauth_rejects)
{
    static const struct {
        const char *hex, *what;
    } bad[] = {
        {"", "empty"},
        {"3000", "empty list"},
        {"3008a00616043132333400", "trailing byte"},
        {"3009a006160431323334", "length past end"},
        {"3080a00616043132333400 00", "indefinite"},
        {"308108a006160431323334", "non-minimal length"},
        {"3008a306160431323334", "unknown arm [3]"},
        {"3008a007160431323334", "inner length past the arm"},
        {"3008a206160431323341", "one with a letter"},
        {"3006a2041602", "truncated"},
        {"3004a2021600", "empty TN"},
        /* range start 10, count 91: 10..100 changes the length */
        {"300ca10a3008160231300202005b", "non-minimal count"},
        {"300ba1093007160231300201 5b", "count increases length"},
        {"300ba1093007160231300201 01", "count 1"},
        {"300ba1093007160231300201 ff", "negative count"},
        {"300ba109300716023123020105", "range start with *"},
        /* 16-digit TN */
        {"3014a2121610"
         "31323334353637383930313233343536",
         "16 digits"},
        /* a [0] wrapping a UTF8String, not IA5String */
        {"3008a0060c0431323334", "spc wrong type"},
        /* a NUL inside the SPC */
        {"3008a006160431003334", "NUL in spc"},
        /* 5 length octets */
        {"30850000000008a006160431323334", "length too long"},
    };
    uint8_t der[256];
    verify_tnauth_t tl;
    char hex[128];
    size_t i, j, k;

    for (i = 0; i < SG_NELEM(bad); i++) {
        long n;

        /* The table allows spaces for readability. */
        for (j = k = 0; bad[i].hex[j] && k < sizeof(hex) - 1; j++)
            if (bad[i].hex[j] != ' ')
                hex[k++] = bad[i].hex[j];
        hex[k] = '\0';
        n = tu_unhex(hex, der, sizeof(der));
        TU_REQUIRE(n >= 0);
        tl.n = 99;
        if (verify_tnauth_parse(der, (size_t)n, &tl) == NULL) {
            tu_note("    accepted: %s", bad[i].what);
            TU_CHECK(0);
            verify_tnauth_clear(&tl);
        } else {
            TU_INTEQ(tl.n, 0);
            TU_CHECK(tl.e == NULL);
        }
    }
}

TU_TEST(verify_tnauth_range_bounds)
{
    uint8_t der[64];
    verify_tnauth_t tl;
    size_t n;

    /* 10 + 90 ends at 99: allowed; 10 + 91 is not. */
    n = verify_pki_tnauth_der(NULL, "10", 90, NULL, der, sizeof(der));
    TU_REQUIRE(verify_tnauth_parse(der, n, &tl) == NULL);
    TU_CHECK(verify_tnauth_covers(&tl, "99", NULL, NULL));
    TU_CHECK(!verify_tnauth_covers(&tl, "100", NULL, NULL));
    TU_CHECK(!verify_tnauth_covers(&tl, "09", NULL, NULL));
    verify_tnauth_clear(&tl);
    n = verify_pki_tnauth_der(NULL, "10", 91, NULL, der, sizeof(der));
    TU_CHECK(verify_tnauth_parse(der, n, &tl) != NULL);
    /* Leading zeros keep their length: 0100..0199. */
    n = verify_pki_tnauth_der(NULL, "0100", 100, NULL, der, sizeof(der));
    TU_REQUIRE(verify_tnauth_parse(der, n, &tl) == NULL);
    TU_CHECK(verify_tnauth_covers(&tl, "0150", NULL, NULL));
    TU_CHECK(!verify_tnauth_covers(&tl, "150", NULL, NULL));
    verify_tnauth_clear(&tl);
    /* A huge count against a 15-digit start. */
    n = verify_pki_tnauth_der(NULL, "100000000000000", UINT64_MAX, NULL, der,
                              sizeof(der));
    TU_CHECK(verify_tnauth_parse(der, n, &tl) != NULL);
    n = verify_pki_tnauth_der(NULL, "100000000000000", 900000000000000ULL, NULL,
                              der, sizeof(der));
    TU_REQUIRE(verify_tnauth_parse(der, n, &tl) == NULL);
    TU_CHECK(verify_tnauth_covers(&tl, "999999999999999", NULL, NULL));
    verify_tnauth_clear(&tl);
}

TU_TEST(verify_jcc_t7_enhanced)
{
    uint8_t der[256];
    long n = tu_unhex(T7_EJCC, der, sizeof(der));
    verify_jcc_t j;
    json_t *p;

    TU_REQUIRE(n > 0);
    /* As plain JWTClaimConstraints the [2] field is not allowed. */
    TU_CHECK(verify_jcc_parse(der, (size_t)n, 0, &j) != NULL);
    TU_INTEQ(j.n_must_include, 0);
    TU_REQUIRE(verify_jcc_parse(der, (size_t)n, 1, &j) == NULL);
    TU_INTEQ(j.n_must_include, 1);
    TU_STREQ(j.must_include[0], "confidence");
    TU_INTEQ(j.n_permitted, 1);
    TU_STREQ(j.permitted[0].claim, "confidence");
    TU_INTEQ(j.permitted[0].n_values, 2);
    TU_STREQ(j.permitted[0].values[0], "high");
    TU_STREQ(j.permitted[0].values[1], "medium");
    TU_INTEQ(j.n_must_exclude, 1);
    TU_STREQ(j.must_exclude[0], "priority");

    p = json_pack("{s:s}", "confidence", "high");
    TU_INTEQ(verify_jcc_check(&j, p), REASON_OK);
    json_object_set_new(p, "confidence", json_string("medium"));
    TU_INTEQ(verify_jcc_check(&j, p), REASON_OK);
    json_object_set_new(p, "confidence", json_string("low"));
    TU_INTEQ(verify_jcc_check(&j, p), REASON_CLAIM_CONSTRAINT);
    json_object_set_new(p, "confidence", json_integer(1));
    TU_INTEQ(verify_jcc_check(&j, p), REASON_CLAIM_CONSTRAINT);
    json_object_set_new(p, "confidence", json_stringn("high\0x", 6));
    TU_INTEQ(verify_jcc_check(&j, p), REASON_CLAIM_CONSTRAINT);
    json_object_set_new(p, "confidence", json_string("high"));
    json_object_set_new(p, "priority", json_string("1"));
    TU_INTEQ(verify_jcc_check(&j, p), REASON_CLAIM_CONSTRAINT);
    json_object_del(p, "priority");
    json_object_del(p, "confidence");
    TU_INTEQ(verify_jcc_check(&j, p), REASON_CLAIM_CONSTRAINT);
    json_decref(p);
    verify_jcc_clear(&j);
    TU_CHECK(j.must_include == NULL);
}

TU_TEST(verify_jcc_plain_and_rejects)
{
    /* mustInclude {msgi} only, plain RFC 8226 form. */
    static const char *ok = "300aa0083006160470707421";
    static const char *bad[] = {
        "3000",                      /* no field */
        "3002a000",                  /* empty [0] */
        "3004a0023000",              /* empty SEQUENCE OF */
        "300aa00830061604707074210", /* odd: trailing nibble -> bad hex */
        "300ba0083006160470707421 00",
        "3006a1043002 3000",          /* permitted entry without values */
        "300ba109300730051601783000", /* values SEQUENCE OF empty */
        "300ea10c300a3008160178 3003 0c01ff", /* invalid UTF-8 */
    };
    uint8_t der[128];
    char hex[128];
    verify_jcc_t j;
    json_t *p;
    long n;
    size_t i, a, b;

    n = tu_unhex(ok, der, sizeof(der));
    TU_REQUIRE(n > 0);
    TU_REQUIRE(verify_jcc_parse(der, (size_t)n, 0, &j) == NULL);
    TU_INTEQ(j.n_must_include, 1);
    TU_STREQ(j.must_include[0], "ppt!");
    p = json_pack("{s:i}", "ppt!", 1);
    TU_INTEQ(verify_jcc_check(&j, p), REASON_OK);
    json_decref(p);
    verify_jcc_clear(&j);
    for (i = 0; i < SG_NELEM(bad); i++) {
        for (a = b = 0; bad[i][a] && b < sizeof(hex) - 1; a++)
            if (bad[i][a] != ' ')
                hex[b++] = bad[i][a];
        hex[b] = '\0';
        n = tu_unhex(hex, der, sizeof(der));
        if (n < 0)
            continue;
        if (verify_jcc_parse(der, (size_t)n, 1, &j) == NULL) {
            tu_note("    accepted %s", bad[i]);
            TU_CHECK(0);
            verify_jcc_clear(&j);
        }
    }
}
