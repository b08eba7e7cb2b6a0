/*
 * Unit tests: the Identity header value (proto/proto_identity.h).
 *
 * Broken RFC examples, encoded as observed:
 * - RFC 8946 4.1 writes ppt="div" (a quoted-string where the RFC 8224 ABNF
 *   has a token): accepted, the quotes dropped.
 * - RFC 8224 4.1.1 gives info=<https://biloxi.example.org/biloxi.cert>
 *   while the token's x5u is https://cert.example.org/passport.cer; the
 *   header parses, the mismatch is verify's business (info_mismatch).
 */
#include "lib/sg.h"
#include "proto/proto_identity.h"
#include "tests/unit/tu.h"

#include <stdlib.h>
#include <string.h>

extern const char tv_t1[], tv_t4_div[], tv_d2[];

static proto_reason
s_parse(const char *v, proto_identity_t *id)
{
    return proto_identity_parse(v, strlen(v), id);
}

/* Build "<token><rest>" in a fresh string. */
static char *
s_cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = sg_malloc(la + lb + 1);

    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

TU_TEST(identity_rfc_examples)
{
    proto_identity_t id;
    char *v;

    /* RFC 8224 4.1.1, full form. */
    v = s_cat(tv_t1, ";info=<https://biloxi.example.org/biloxi.cert>");
    TU_INTEQ(s_parse(v, &id), REASON_OK);
    TU_STREQ(id.token, tv_t1);
    TU_STREQ(id.info, "https://biloxi.example.org/biloxi.cert");
    TU_CHECK(id.alg == NULL);
    TU_CHECK(id.ppt == NULL);
    TU_INTEQ(id.compact, 0);
    proto_identity_clear(&id);
    free(v);

    /* RFC 8224 4.1.1, compact form. */
    v = s_cat(strrchr(tv_t1, '.') - 1,
              ";info=<https://biloxi.example.org/biloxi.cert>");
    v[0] = '.';
    TU_INTEQ(s_parse(v, &id), REASON_OK);
    TU_INTEQ(id.compact, 1);
    TU_CHECK(strncmp(id.token, "..rq3pjT1hoRw", 13) == 0);
    TU_INTEQ(strlen(id.token), 88);
    proto_identity_clear(&id);
    free(v);

    /* RFC 8946 4.1, with its quoted ppt. */
    v = s_cat(tv_t4_div,
              ";info=<https://www.example.com/cert.cer>;ppt=\"div\"");
    TU_INTEQ(s_parse(v, &id), REASON_OK);
    TU_STREQ(id.ppt, "div");
    TU_STREQ(id.info, "https://www.example.com/cert.cer");
    proto_identity_clear(&id);
    free(v);

    /* STIR.md D2. */
    v = s_cat(tv_d2, ";info=<https://cert.example.org/passport.cer>;ppt=msg");
    TU_INTEQ(s_parse(v, &id), REASON_OK);
    TU_STREQ(id.token, tv_d2);
    TU_STREQ(id.ppt, "msg");
    TU_INTEQ(id.compact, 0);
    proto_identity_clear(&id);
    free(v);
}

TU_TEST(identity_whitespace_and_case)
{
    static const char *good[] = {
        "a.b.c;info=<https://x.example/c.pem>",
        "  a.b.c ; info = <https://x.example/c.pem> ; alg = ES256 ;"
        " ppt = msg  ",
        "a.b.c\t;\tinfo\t=\t<https://x.example/c.pem>",
        "a.b.c;\r\n info=<https://x.example/c.pem>",
        "a.b.c\r\n\t;info=<https://x.example/c.pem>;ppt=msg",
        "a.b.c;INFO=<https://x.example/c.pem>;PPT=msg;Alg=ES256",
    };
    proto_identity_t id;

    for (size_t i = 0; i < SG_NELEM(good); i++) {
        proto_reason r = s_parse(good[i], &id);

        if (r != REASON_OK)
            tu_note("  refused: %s", good[i]);
        TU_REQUIRE(r == REASON_OK);
        TU_STREQ(id.token, "a.b.c");
        TU_STREQ(id.info, "https://x.example/c.pem");
        proto_identity_clear(&id);
    }
    TU_INTEQ(s_parse(good[1], &id), REASON_OK);
    TU_STREQ(id.alg, "ES256");
    TU_STREQ(id.ppt, "msg");
    proto_identity_clear(&id);
}

TU_TEST(identity_unknown_params_ignored)
{
    proto_identity_t id;

    TU_INTEQ(s_parse("a.b.c;foo=bar;info=<https://x/c>;flag;q=\"a b;c\";"
                     "h=[::1]:5060;x-y.z=1",
                     &id),
             REASON_OK);
    TU_STREQ(id.info, "https://x/c");
    TU_CHECK(id.ppt == NULL);
    proto_identity_clear(&id);
    /* A param named like ours but longer is someone else's. */
    TU_INTEQ(s_parse("a.b.c;info=<https://x/c>;pptx=1;infos=2", &id),
             REASON_OK);
    TU_CHECK(id.ppt == NULL);
    proto_identity_clear(&id);
}

TU_TEST(identity_malformed)
{
    static const char *bad[] = {
        "",
        "   ",
        ";info=<https://x/c>",                          /* no token */
        "a.b.c",                                        /* no info */
        "a.b.c;",                                       /* empty param */
        "a.b.c;info=<https://x/c>;",                    /* trailing ';' */
        "a.b.c;ppt=msg",                                /* no info */
        "a.b.c;info=https://x/c",                       /* info without <> */
        "a.b.c;info=<https://x/c",                      /* unterminated */
        "a.b.c;info=<>",                                /* empty URI */
        "a.b.c;info=<no-scheme>",                       /* not absolute */
        "a.b.c;info=<1http://x/c>",                     /* bad scheme */
        "a.b.c;info=< https://x/c>",                    /* space in <> */
        "a.b.c;info",                                   /* info without value */
        "a.b.c;info=",                                  /* info empty value */
        "a.b.c;info=<https://x/c>;info=<https://x/c>",  /* dup info */
        "a.b.c;info=<https://x/c>;INFO=<https://y/c>",  /* dup, case */
        "a.b.c;info=<https://x/c>;alg=ES256;alg=ES256", /* dup alg */
        "a.b.c;info=<https://x/c>;ppt=msg;ppt=msg",     /* dup ppt */
        "a.b.c;info=<https://x/c>;ppt=msg;PPT=\"msg\"", /* dup, quoted */
        "a.b.c;info=<https://x/c>;alg",                 /* alg without value */
        "a.b.c;info=<https://x/c>;alg=",
        "a.b.c;info=<https://x/c>;ppt",
        "a.b.c;info=<https://x/c>;ppt=",
        "a.b.c;info=<https://x/c>;ppt=\"\"",
        "a.b.c;info=<https://x/c>;ppt=\"a b\"",
        "a.b.c;info=<https://x/c>;ppt=\"msg",
        "a.b.c;info=<https://x/c>;ppt=m/sg",
        "a.b.c;info=<https://x/c>;foo=\"unterminated",
        "a.b.c;info=<https://x/c>;foo=",
        "a.b.c;info=<https://x/c> junk", /* trailing junk */
        "a.b.c;info=<https://x/c>\r\n",  /* CRLF, no fold */
        "a.b.c\r\n;info=<https://x/c>",
        "a+b.c;info=<https://x/c>", /* bad token chars */
        "a/b.c;info=<https://x/c>",
        "a=b.c;info=<https://x/c>",
        "a.b.c=;info=<https://x/c>",
        "\"a.b.c\";info=<https://x/c>",
        "<a.b.c>;info=<https://x/c>",
        "a.b.\xc3\xa9;info=<https://x/c>",
    };
    proto_identity_t id;

    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        proto_reason r = s_parse(bad[i], &id);

        if (r != REASON_MALFORMED_IDENTITY)
            tu_note("  accepted: %s", bad[i]);
        TU_INTEQ(r, REASON_MALFORMED_IDENTITY);
        TU_CHECK(id.token == NULL && id.info == NULL && id.alg == NULL &&
                 id.ppt == NULL);
    }
    TU_INTEQ(proto_identity_parse(NULL, 0, &id), REASON_MALFORMED_IDENTITY);
    TU_INTEQ(proto_identity_parse("a.b.c;info=<x:y>\0z", 18, &id),
             REASON_MALFORMED_IDENTITY);
    /* Exactly n bytes are looked at. */
    TU_INTEQ(proto_identity_parse("a.b.c;info=<x:y>;ppt=msg", 16, &id),
             REASON_OK);
    TU_CHECK(id.ppt == NULL);
    proto_identity_clear(&id);
}

TU_TEST(identity_length_bounds)
{
    static const char tail[] = ";info=<https://x/c>";
    size_t max = 16384; /* PROTO_PASSPORT_MAX_TOKEN */
    char *v = sg_malloc(max + 1 + sizeof(tail));
    proto_identity_t id;

    memset(v, 'A', max + 1);
    memcpy(v + max, tail, sizeof(tail));
    TU_INTEQ(s_parse(v, &id), REASON_OK);
    TU_INTEQ(strlen(id.token), max);
    proto_identity_clear(&id);
    memset(v, 'A', max + 1);
    memcpy(v + max + 1, tail, sizeof(tail));
    TU_INTEQ(s_parse(v, &id), REASON_MALFORMED_IDENTITY);
    free(v);
}

TU_TEST(identity_format_round_trip)
{
    proto_identity_t id;
    char *s;

    s = proto_identity_format("a.b.c", "https://x.example/c.pem", "msg");
    TU_STREQ(s, "a.b.c;info=<https://x.example/c.pem>;ppt=msg");
    TU_INTEQ(s_parse(s, &id), REASON_OK);
    TU_STREQ(id.token, "a.b.c");
    TU_STREQ(id.info, "https://x.example/c.pem");
    TU_STREQ(id.ppt, "msg");
    proto_identity_clear(&id);
    free(s);

    s = proto_identity_format("..sig", "https://x/c", NULL);
    TU_STREQ(s, "..sig;info=<https://x/c>");
    TU_INTEQ(s_parse(s, &id), REASON_OK);
    TU_INTEQ(id.compact, 1);
    proto_identity_clear(&id);
    proto_identity_clear(&id); /* twice is harmless */
    proto_identity_clear(NULL);
    free(s);
}
