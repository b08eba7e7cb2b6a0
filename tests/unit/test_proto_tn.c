/*
 * Unit tests: TN canonicalization, URI normalization and the TN-or-URI
 * decision (proto/proto_tn.h).  STIR.md D5 plus the RFC 8224 examples.
 */
#include "lib/sg.h"
#include "proto/proto_tn.h"
#include "tests/unit/tu.h"

#include <string.h>

static const char *
s_canon(const char *in, const char *cc, char out[PROTO_TN_MAX + 1])
{
    return proto_tn_canon(in, strlen(in), cc, out);
}

TU_TEST(tn_d5_vectors)
{
    char tn[PROTO_TN_MAX + 1], uri[PROTO_IDENT_MAX + 1];
    proto_ident_t id;
    const char *s;

    TU_CHECK(s_canon("+1 (215) 555-1212", NULL, tn) == NULL);
    TU_STREQ(tn, "12155551212");
    s = "tel:+1-202-555-0100";
    TU_CHECK(proto_ident_parse(s, strlen(s), NULL, &id) == NULL);
    TU_INTEQ(id.kind, PROTO_IDENT_TN);
    TU_STREQ(id.value, "12025550100");
    TU_CHECK(s_canon("*67#", NULL, tn) == NULL);
    TU_STREQ(tn, "*67#");
    TU_CHECK(s_canon("*67#", "1", tn) == NULL);
    TU_STREQ(tn, "*67#");
    s = "sip:Alice:pw@Example.COM:5061;transport=tls";
    TU_CHECK(proto_uri_normalize(s, strlen(s), uri) == NULL);
    TU_STREQ(uri, "sip:alice@example.com");
}

/* The default country code rule, one row per branch (proto_tn.c). */
TU_TEST(tn_default_cc_rule)
{
    static const struct {
        const char *in, *cc, *want;
    } rows[] = {
        /* 1: leading '+' */
        {"+442079460000", "1", "442079460000"},
        {"+1 215.555.1212", "44", "12155551212"},
        /* 2: leading "00" */
        {"0012155551212", "1", "12155551212"},
        {"00 44 20 7946 0000", "1", "442079460000"},
        {"0012155551212", NULL, "12155551212"},
        /* 3: '*' or '#', or no cc */
        {"*67#", "1", "*67#"},
        {"#31#2155551212", "1", "#31#2155551212"},
        {"2155551212", NULL, "2155551212"},
        {"2155551212", "", "2155551212"},
        /* 4: trunk prefix */
        {"020 7946 0000", "44", "442079460000"},
        {"0", "44", "0"},
        {"012345678901234", "1", "112345678901234"},
        /* 5: already has the cc */
        {"12155551212", "1", "12155551212"},
        {"442079460000", "44", "442079460000"},
        /* 6: national number */
        {"215-555-1212", "1", "12155551212"},
        {"(215) 555 1212", "1", "12155551212"},
        {"5551212", "1", "15551212"},
        {"2079460000", "44", "442079460000"},
        {"12345678901234", "1", "12345678901234"},
        /* 7: short codes, service numbers, too long to extend */
        {"911", "1", "911"},
        {"112", "49", "112"},
        {"123456", "1", "123456"},
        {"234567890123456", "1", "234567890123456"},
        {"23456789012345", "44", "23456789012345"},
        /* whitespace around */
        {"  \t+1 215 555 1212 ", NULL, "12155551212"},
    };
    char tn[PROTO_TN_MAX + 1];

    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        const char *why = s_canon(rows[i].in, rows[i].cc, tn);

        if (why != NULL)
            tu_note("  row %zu (%s): %s", i, rows[i].in, why);
        TU_CHECK(why == NULL);
        TU_STREQ(tn, rows[i].want);
    }
}

TU_TEST(tn_canon_rejects)
{
    static const struct {
        const char *in, *cc, *why;
    } rows[] = {
        {"", "1", "empty"},
        {"   ", "1", "empty"},
        {"abc", "1", "not a telephone number"},
        {"+", "1", "not a telephone number"},
        {"()-", "1", "not a telephone number"},
        {"00", "1", "not a telephone number"},
        {"12a4567", "1", "not a telephone number"},
        {"1+2155551212", "1", "not a telephone number"},
        {"++12155551212", "1", "not a telephone number"},
        {"2155551212/1", "1", "not a telephone number"},
        {"tel:+12155551212", "1", "not a telephone number"},
        {"1215\xc3\xa9", "1", "not a telephone number"},
        {"+1234567890123456", "1", "too long"},
        {"1234567890123456", NULL, "too long"},
        {"00123456789012345678", "1", "too long"},
        {"0123456789012345", "1", "too long"}, /* 15 digits + cc "1" */
        {"2155551212", "1a", "bad default country code"},
        {"2155551212", "1234", "bad default country code"},
    };
    char tn[PROTO_TN_MAX + 1];

    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        const char *why = s_canon(rows[i].in, rows[i].cc, tn);

        TU_STREQ(why, rows[i].why);
        TU_STREQ(tn, "");
    }
    TU_STREQ(proto_tn_canon(NULL, 0, NULL, tn), "empty");
    /* Exactly n bytes: the rest of the buffer is not looked at. */
    TU_CHECK(proto_tn_canon("2155551212xyz", 10, "1", tn) == NULL);
    TU_STREQ(tn, "12155551212");
}

TU_TEST(tn_uri_normalize)
{
    static const struct {
        const char *in, *want;
    } rows[] = {
        {"sip:alice@example.com", "sip:alice@example.com"},
        {"SIPS:Bob@EXAMPLE.com", "sips:bob@example.com"},
        {"sip:example.com:5060;transport=udp", "sip:example.com"},
        {"sip:alice@example.com?subject=hi&x=y", "sip:alice@example.com"},
        {"sip:alice;x=y@example.com", "sip:alice;x=y@example.com"},
        {"sip:%61lice@example.com", "sip:alice@example.com"},
        {"sip:%41%7E%2d@example.com", "sip:a~-@example.com"},
        {"sip:a%2fb@example.com", "sip:a%2Fb@example.com"},
        {"sip:+1215;npdi@host;user=phone", "sip:+1215;npdi@host"},
        {"sip:[2001:DB8::1]:5061;x=y", "sip:[2001:db8::1]"},
        {"sip:Alice@[2001:db8::1]", "sip:alice@[2001:db8::1]"},
        {"sip:alice:secret@192.0.2.1:5060", "sip:alice@192.0.2.1"},
    };
    static const char *bad[] = {
        "",
        "http://example.com/",
        "tel:+12155551212",
        "sip:",
        "sip:alice@",
        "sip:@example.com",
        "sip::pw@example.com",
        "sip:a%4@example.com",
        "sip:a%zz@example.com",
        "sip:a%@example.com",
        "sip:al ice@example.com",
        "sip:alice@exa_mple.com",
        "sip:alice@example.com:",
        "sip:alice@example.com:50x0",
        "sip:alice@example.com:123456",
        "sip:alice@[2001:db8::1",
        "sip:alice@[]",
        "sip:alice@[2001:db8::1]x",
        "sip:alice@[zz::1]",
        "sip:al<ice@example.com",
        "sip:alice@example.com\r\n",
        "sip:al\xc3\xa9@example.com",
    };
    char out[PROTO_IDENT_MAX + 1], big[PROTO_IDENT_MAX + 32];

    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        const char *why =
            proto_uri_normalize(rows[i].in, strlen(rows[i].in), out);

        if (why != NULL)
            tu_note("  %s: %s", rows[i].in, why);
        TU_CHECK(why == NULL);
        TU_STREQ(out, rows[i].want);
    }
    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        if (proto_uri_normalize(bad[i], strlen(bad[i]), out) == NULL)
            tu_note("  accepted: %s -> %s", bad[i], out);
        TU_CHECK(proto_uri_normalize(bad[i], strlen(bad[i]), out) != NULL);
    }

    /* The output bound: 256 characters fit, 257 do not. */
    memcpy(big, "sip:", 4);
    memset(big + 4, 'a', PROTO_IDENT_MAX - 6);
    memcpy(big + PROTO_IDENT_MAX - 2, "@h", 3);
    TU_CHECK(proto_uri_normalize(big, strlen(big), out) == NULL);
    TU_INTEQ(strlen(out), PROTO_IDENT_MAX);
    memcpy(big + PROTO_IDENT_MAX - 2, "a@h", 4);
    TU_STREQ(proto_uri_normalize(big, strlen(big), out), "too long");
}

TU_TEST(tn_ident_parse)
{
    static const struct {
        const char *in, *cc;
        proto_ident_kind kind;
        const char *want;
    } rows[] = {
        /* RFC 8224 5.1 From, as a name-addr with a tag. */
        {"Bob <sip:12155551212@example.com;user=phone>;tag=1928301774", NULL,
         PROTO_IDENT_TN, "12155551212"},
        /* RFC 8224 8.1 */
        {"sip:+17005551008@chicago.example.com;user=phone", NULL,
         PROTO_IDENT_TN, "17005551008"},
        {"tel:+17005551008", NULL, PROTO_IDENT_TN, "17005551008"},
        {"<tel:+1-202-555-0100;ext=1>", NULL, PROTO_IDENT_TN, "12025550100"},
        {"TEL:2155551212", "1", PROTO_IDENT_TN, "12155551212"},
        {"\"Alice <x>\" <sip:Alice@Example.com>;tag=1", NULL, PROTO_IDENT_URI,
         "sip:alice@example.com"},
        {"<sip:alice@example.com>", NULL, PROTO_IDENT_URI,
         "sip:alice@example.com"},
        {"  < sip:alice@example.com >  ", NULL, PROTO_IDENT_URI,
         "sip:alice@example.com"},
        {"sip:+12155551212@example.com", "44", PROTO_IDENT_TN, "12155551212"},
        {"sip:+1-215-555-1212;npdi@example.com", NULL, PROTO_IDENT_TN,
         "12155551212"},
        {"sip:2155551212@example.com", "1", PROTO_IDENT_TN, "12155551212"},
        {"sip:215-555-1212@example.com", "1", PROTO_IDENT_TN, "12155551212"},
        {"sips:12155551212@example.com", "1", PROTO_IDENT_TN, "12155551212"},
        /* Short codes and alphanumerics stay URIs (DESIGN.md 3.5). */
        {"sip:12345@example.com", "1", PROTO_IDENT_URI,
         "sip:12345@example.com"},
        {"sip:ACME@example.com", "1", PROTO_IDENT_URI, "sip:acme@example.com"},
        {"sip:+1abc@example.com", "1", PROTO_IDENT_URI,
         "sip:+1abc@example.com"},
        {"sip:+*67@example.com", "1", PROTO_IDENT_URI, "sip:+*67@example.com"},
        {"sip:12345@example.com;user=phone", "1", PROTO_IDENT_TN, "12345"},
        /* user=phone that does not canonicalize: a URI (RFC 8224 8.1). */
        {"sip:abc@example.com;user=phone", "1", PROTO_IDENT_URI,
         "sip:abc@example.com"},
        {"sip:example.com", "1", PROTO_IDENT_URI, "sip:example.com"},
        /* Plain numbers. */
        {"+1 (215) 555-1212", NULL, PROTO_IDENT_TN, "12155551212"},
        {"2155551212", "1", PROTO_IDENT_TN, "12155551212"},
        {"911", "1", PROTO_IDENT_TN, "911"},
    };
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"", "empty"},
        {"  ", "empty"},
        {"<>", "empty"},
        {"alice", "not a telephone number or URI"},
        {"alice@example.com", "not a telephone number or URI"},
        {"mailto:alice@example.com", "unsupported URI scheme"},
        {"Bob <sip:alice@example.com", "missing '>'"},
        {"\"Bob <sip:alice@example.com>", "unterminated display name"},
        {"\"Bob\" sip:alice@example.com", "display name without <URI>"},
        {"tel:abc", "not a telephone number"},
        {"tel:", "empty"},
        {"sip:alice@", "empty host in URI"},
    };
    char big[3000];
    proto_ident_t id;

    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        const char *why =
            proto_ident_parse(rows[i].in, strlen(rows[i].in), rows[i].cc, &id);

        if (why != NULL)
            tu_note("  %s: %s", rows[i].in, why);
        TU_CHECK(why == NULL);
        TU_INTEQ(id.kind, rows[i].kind);
        TU_STREQ(id.value, rows[i].want);
    }
    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        TU_STREQ(proto_ident_parse(bad[i].in, strlen(bad[i].in), "1", &id),
                 bad[i].why);
        TU_INTEQ(id.kind, 0);
    }

    memset(big, '1', sizeof(big));
    TU_STREQ(proto_ident_parse(big, sizeof(big), "1", &id), "too long");
    TU_CHECK(proto_ident_parse("sip:a\0b@x", 9, "1", &id) != NULL);
    TU_STREQ(proto_ident_parse(NULL, 0, "1", &id), "empty");
}

/*
 * Regression (found by fuzz_tn): a SIP URI with no parameters at all made
 * the user=phone scan offset a NULL pointer.  A short code stays a URI.
 */
TU_TEST(tn_ident_short_code_uri_without_params)
{
    proto_ident_t id;

    TU_REQUIRE(proto_ident_parse("sip:12345@example.com", 21, "1", &id) ==
               NULL);
    TU_INTEQ(id.kind, PROTO_IDENT_URI);
    TU_STREQ(id.value, "sip:12345@example.com");
}
