/*
 * Unit tests: RFC 8225 section 9 serialization and strict object parsing
 * (proto/proto_json.h).
 *
 * Broken RFC examples (STIR.md section 9 T8), encoded here as observed:
 * - RFC 8225 9.1 prints its final mky form without the '}' that closes
 *   dest; the corrected canonical form is tested.
 * - RFC 8225 5.2.1.4 names bob "sip:bob@example.com" in prose and
 *   "sip:bob@example.net" in the JSON; the JSON is used.
 * - RFC 8588 section 6 prints "iat":"1443208345" and misses a comma; the
 *   payload as corrected by reported erratum 6656 is tested.
 */
#include "lib/sg.h"
#include "proto/proto_json.h"
#include "tests/unit/tu.h"

#include <stdlib.h>
#include <string.h>

/* Load JSON text as written (any order, any spacing), serialize it. */
static char *
s_canon_text(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    char *s;

    if (v == NULL)
        return NULL;
    s = proto_json_canonical(v);
    json_decref(v);
    return s;
}

static void
s_check_canon(const char *text, const char *want)
{
    char *got = s_canon_text(text);

    TU_STREQ(got, want);
    free(got);
}

TU_TEST(json_canonical_rules)
{
    /* Sorted recursively by code point, no whitespace, '/' and UTF-8 raw,
     * lowercase literals, array order kept. */
    s_check_canon("{ \"b\" : 1,\n \"a\" : { \"z\": \"x/y\", \"\xc3\xa9\": true,"
                  " \"c\": null, \"B\": false }, \"arr\": [3, 1, 2] }",
                  "{\"a\":{\"B\":false,\"c\":null,\"z\":\"x/y\","
                  "\"\xc3\xa9\":true},\"arr\":[3,1,2],\"b\":1}");
    s_check_canon("{\"s\":\"quote\\\" back\\\\ nl\\n\"}",
                  "{\"s\":\"quote\\\" back\\\\ nl\\n\"}");
    s_check_canon("{}", "{}");
    s_check_canon("{\"n\":-12}", "{\"n\":-12}");
}

TU_TEST(json_canonical_refuses_reals)
{
    json_t *v = json_pack("{s:i, s:[i, {s:f}]}", "a", 1, "b", 2, "c", 1.5);
    char *s;

    TU_REQUIRE(v != NULL);
    TU_CHECK(proto_json_canonical(v) == NULL);
    json_decref(v);
    TU_CHECK(s_canon_text("{\"iat\":1443208345.0}") == NULL);
    TU_CHECK(proto_json_canonical(NULL) == NULL);

    v = json_pack("{s:i}", "a", 1);
    s = proto_json_canonical(v);
    TU_STREQ(s, "{\"a\":1}");
    free(s);
    json_decref(v);
}

/* T8: RFC 8225 5.2.1.4 and 9.1, RFC 8588 section 6. */
TU_TEST(json_t8_rfc_examples)
{
    s_check_canon("{\"orig\":{\"tn\":\"12155551212\"},\"iat\":1443208345,"
                  "\"dest\":{\"uri\":[\"sip:alice@example.com\"]}}",
                  "{\"dest\":{\"uri\":[\"sip:alice@example.com\"]},"
                  "\"iat\":1443208345,\"orig\":{\"tn\":\"12155551212\"}}");

    s_check_canon("{\"dest\":{\"uri\":[\"sip:alice@example.com\","
                  " \"sip:bob@example.net\"], \"tn\":[\"12125551212\"]}}",
                  "{\"dest\":{\"tn\":[\"12125551212\"],\"uri\":["
                  "\"sip:alice@example.com\",\"sip:bob@example.net\"]}}");

    /* 9.1, as it should have been printed. */
    s_check_canon(
        "{ \"orig\":{\"tn\":\"12155551212\"},\n"
        "  \"dest\":{\"uri\":[\"sip:alice@example.com\"]},\n"
        "  \"iat\":1443208345,\n"
        "  \"mky\":[{\"dig\":\"021ACC5427ABEB9C533F3E4B652E7D463F5442CD54F17A0"
        "3A27DF9B07F4619B2\",\"alg\":\"sha-256\"},\n"
        "          {\"dig\":\"4AADB9B13F82183B540212DF3E5D496B19E57CAB3E4B652"
        "E7D463F5442CD54F1\",\"alg\":\"sha-256\"}] }",
        "{\"dest\":{\"uri\":[\"sip:alice@example.com\"]},\"iat\":1443208345,"
        "\"mky\":[{\"alg\":\"sha-256\",\"dig\":\"021ACC5427ABEB9C533F3E4B652E7"
        "D463F5442CD54F17A03A27DF9B07F4619B2\"},{\"alg\":\"sha-256\",\"dig\":"
        "\"4AADB9B13F82183B540212DF3E5D496B19E57CAB3E4B652E7D463F5442CD54F1\""
        "}],\"orig\":{\"tn\":\"12155551212\"}}");

    s_check_canon("{\"typ\":\"passport\",\"x5u\":\"https://cert.example.org/"
                  "passport.cer\",\"ppt\":\"shaken\",\"alg\":\"ES256\"}",
                  "{\"alg\":\"ES256\",\"ppt\":\"shaken\",\"typ\":\"passport\","
                  "\"x5u\":\"https://cert.example.org/passport.cer\"}");
    s_check_canon("{\"attest\":\"A\",\"dest\":{\"tn\":[\"12155550131\"]},"
                  "\"iat\":1443208345,\"orig\":{\"tn\":\"12155550121\"},"
                  "\"origid\":\"123e4567-e89b-12d3-a456-426655440000\"}",
                  "{\"attest\":\"A\",\"dest\":{\"tn\":[\"12155550131\"]},"
                  "\"iat\":1443208345,\"orig\":{\"tn\":\"12155550121\"},"
                  "\"origid\":\"123e4567-e89b-12d3-a456-426655440000\"}");
}

static int
s_parses(const char *buf, size_t n)
{
    json_t *v = proto_json_parse_object(buf, n);
    int ok = v != NULL;

    json_decref(v);
    return ok;
}

#define S_PARSES(lit) s_parses(lit, sizeof(lit) - 1)

TU_TEST(json_parse_object_strict)
{
    static const char exact[] = "{\"a\":1}garbage";
    json_t *v;

    TU_CHECK(S_PARSES("{\"a\":1}"));
    TU_CHECK(S_PARSES("{}"));
    TU_CHECK(S_PARSES(" {\"a\" : [1, {\"b\": \"c\"}]}\r\n"));
    TU_CHECK(s_parses(exact, 7)); /* exactly n bytes are looked at */
    TU_CHECK(!s_parses(exact, sizeof(exact) - 1));

    TU_CHECK(!S_PARSES(""));
    TU_CHECK(!S_PARSES("[]"));
    TU_CHECK(!S_PARSES("\"s\""));
    TU_CHECK(!S_PARSES("1"));
    TU_CHECK(!S_PARSES("null"));
    TU_CHECK(!S_PARSES("{\"a\":1,\"a\":2}"));
    TU_CHECK(!S_PARSES("{\"o\":{\"a\":1,\"a\":1}}"));
    TU_CHECK(!S_PARSES("{\"a\":1} {}"));
    TU_CHECK(!S_PARSES("{\"a\":1}x"));
    TU_CHECK(!S_PARSES("{\"a\":1}\0"));
    TU_CHECK(!S_PARSES("{\"a\":\"x\0y\"}"));
    TU_CHECK(!S_PARSES("{\"a\":\"x\\u0000y\"}"));
    TU_CHECK(!S_PARSES("{\"a\":1,}"));
    TU_CHECK(!S_PARSES("{'a':1}"));
    TU_CHECK(!S_PARSES("{\"a\":\"\xff\"}"));
    TU_CHECK(!S_PARSES("{\"a\":99999999999999999999999}"));
    TU_CHECK(proto_json_parse_object(NULL, 0) == NULL);

    v = proto_json_parse_object("{\"k\":\"v\"}", 9);
    TU_REQUIRE(v != NULL);
    TU_STREQ(json_string_value(json_object_get(v, "k")), "v");
    json_decref(v);
}
