/*
 * tests/unit/test_ingest_salvage.c - the fields of a response salvaged
 * from a refused SIP request (ingest/ingest_salvage.h).
 */
#include "ingest/ingest_salvage.h"
#include "tu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANON "<" INGEST_SALVAGE_ANON_URI ">"
#define RLINE "MESSAGE " INGEST_SALVAGE_ANON_URI " SIP/2.0\r\n"

/* The response fields every case below uses, in order. */
#define VIA "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
#define FROM "From: <sip:a@b>;tag=1\r\n"
#define TO "To: <sip:c@d>\r\n"
#define CALLID "Call-ID: abc\r\n"
#define CSEQ "CSeq: 1 MESSAGE\r\n"

/* Copy, then compare with `want` (NULL: the copy must be refused). */
static void
s_copy_is(const char *in, size_t n, const char *want, int line)
{
    char *out = NULL;
    size_t len = 0;
    const char *why = ingest_salvage_copy(in, n, &out, &len);

    if (want == NULL) {
        if (why == NULL || out != NULL || len != 0) {
            tu_fail(__FILE__, line, "copy refused");
            tu_note("  got \"%s\"", out ? out : "(null)");
        }
        sg_free(out);
        return;
    }
    if (why != NULL || out == NULL) {
        tu_fail(__FILE__, line, "copy made");
        tu_note("  why: %s", why ? why : "(null)");
        return;
    }
    if (strcmp(out, want) != 0 || len != strlen(out)) {
        tu_fail(__FILE__, line, "copy as expected");
        tu_note("  got \"%s\"\n  want \"%s\"", out, want);
    }
    sg_free(out);
}

#define COPY_IS(in, want) s_copy_is((in), sizeof(in) - 1, (want), __LINE__)

TU_TEST(ingest_salvage_fields)
{
    /* Compact names, folds, fields in any order: one canonical line each;
     * the Request-URI is the placeholder (a response never echoes it). */
    static const char req[] = "\r\nMESSAGE sip:+12025551234@gw SIP/2.0\r\n"
                              "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
                              "Date: not a date\r\n"
                              "f: <sip:a@b>;tag=1\r\n"
                              "To: <sip:c@d>\r\n"
                              "X-Long: one\r\n"
                              " two\r\n"
                              "i: abc\r\n"
                              "CSeq: 1\r\n"
                              " \t MESSAGE\r\n"
                              "Content-Length: 999\r\n"
                              "\r\n"
                              "body\r\nVia: not a header\r\n\r\n";

    COPY_IS(req, RLINE VIA FROM TO CALLID CSEQ "\r\n");
    COPY_IS("garbage", NULL);
    COPY_IS("garbage\r\n\r\n", NULL);
    COPY_IS("\r\n\r\n", NULL);
    COPY_IS("", NULL);
    /* A status line is not a request. */
    COPY_IS("SIP/2.0 200 OK\r\n" VIA FROM TO CALLID "CSeq: 1 MESSAGE\r\n\r\n",
            NULL);
    /* Two spaces are needed, and SIP/digits.digits at the end. */
    COPY_IS("MESSAGE SIP/2.0\r\n" VIA FROM TO CALLID CSEQ "\r\n", NULL);
    COPY_IS("MESSAGE sip:a@b HTTP/1.1\r\n" VIA FROM TO CALLID CSEQ "\r\n",
            NULL);
    COPY_IS("MESSAGE sip:a@b SIP/2.\r\n" VIA FROM TO CALLID CSEQ "\r\n", NULL);
    COPY_IS("MES(SAGE sip:a@b SIP/2.0\r\n" VIA FROM TO CALLID CSEQ "\r\n",
            NULL);
    /* Another version (refused 505) or a broken Request-URI (400): the
     * copy is SIP/2.0 with the placeholder, so both can be answered. */
    COPY_IS("MESSAGE sip:a@b SIP/3.0\r\n" VIA FROM TO CALLID CSEQ "\r\n",
            RLINE VIA FROM TO CALLID CSEQ "\r\n");
    COPY_IS("MESSAGE <sip:a\x01@b> x SIP/2.0\r\n" VIA FROM TO CALLID CSEQ
            "\r\n",
            RLINE VIA FROM TO CALLID CSEQ "\r\n");
}

TU_TEST(ingest_salvage_whole_buffer)
{
    /* The fields after a line far over any header limit: found (the
     * old copy looked only at the first max_header_bytes). */
    size_t pad = 60000, n = 0;
    char *big = sg_malloc(pad + 1024);
    static const char head[] = "MESSAGE sip:x@y SIP/2.0\r\nX-Pad: ";
    static const char tail[] = "\r\n" VIA FROM TO CALLID CSEQ;

    memcpy(big, head, sizeof(head) - 1);
    n = sizeof(head) - 1;
    memset(big + n, 'p', pad);
    n += pad;
    memcpy(big + n, tail, sizeof(tail) - 1);
    n += sizeof(tail) - 1;
    /* No blank line (a datagram cut short, a TCP buffer mid-request):
     * complete lines are enough. */
    s_copy_is(big, n, RLINE VIA FROM TO CALLID CSEQ "\r\n", __LINE__);
    /* An incomplete last line is not read: here it is the CSeq. */
    s_copy_is(big, n - 2, NULL, __LINE__);
    /* Lines after the blank line are the body, never fields. */
    COPY_IS("MESSAGE sip:x@y SIP/2.0\r\n" VIA FROM TO CALLID "\r\n" CSEQ, NULL);
    sg_free(big);
}

TU_TEST(ingest_salvage_identity_flood)
{
    /* 3000 Identity fields before the Via: 400 for the parser (too many
     * header fields), and the response fields still come through. */
    static const char idl[] = "Identity: x;info=<https://a/b>\r\n";
    size_t n = 0, cap = 3000 * (sizeof(idl) - 1) + 1024;
    char *b = sg_malloc(cap);
    proto_sip_req_t r;
    const char *why = "unset";

    n += (size_t)snprintf(b, cap, "MESSAGE sip:x@y SIP/2.0\r\n");
    for (int i = 0; i < 3000; i++) {
        memcpy(b + n, idl, sizeof(idl) - 1);
        n += sizeof(idl) - 1;
    }
    n += (size_t)snprintf(b + n, cap - n,
                          VIA FROM TO CALLID CSEQ "Content-Length: 0\r\n\r\n");
    s_copy_is(b, n, RLINE VIA FROM TO CALLID CSEQ "\r\n", __LINE__);
    TU_REQUIRE(ingest_salvage_parse((const uint8_t *)b, n, &r, &why) == SG_OK);
    TU_CHECK(why == NULL);
    TU_CHECK(r.nidentity == 0 && r.nvia == 1 && r.cseq == 1);
    proto_sip_req_clear(&r);
    sg_free(b);
}

TU_TEST(ingest_salvage_from_to_replaced)
{
    /* A NUL in the From URI: the tag survives, the URI is replaced. */
    static const char nul[] =
        "MESSAGE sip:x@y SIP/2.0\r\n" VIA
        "From: <sip:+1202555\0@127.0.0.1>;tag=n1\r\n" TO CALLID CSEQ "\r\n";
    /* A raw CRLF in a quoted display name: the From line ends inside the
     * quote, and what followed is a line of its own, never copied. */
    static const char crlf[] =
        "MESSAGE sip:x@y SIP/2.0\r\n" VIA
        "From: \"Alice\r\nX-Injected: yes\" <sip:a@b>;tag=t9\r\n" TO CALLID CSEQ
        "Content-Length: 0\r\n\r\n";
    /* Unusable display name, usable URI and tag. */
    static const char quote[] =
        "MESSAGE sip:x@y SIP/2.0\r\n" VIA
        "From: \"a\"b\" <sip:a@b>;tag=q\r\n" TO CALLID CSEQ "\r\n";
    /* A bad To URI, no tag; a duplicate From (the first answers). */
    static const char to[] =
        "MESSAGE sip:x@y SIP/2.0\r\n" VIA FROM "From: <sip:z@z>;tag=2\r\n"
        "To: <not a uri>\r\n" CALLID CSEQ "\r\n";
    /* No From and no To at all. */
    static const char none[] =
        "MESSAGE sip:x@y SIP/2.0\r\n" VIA CALLID CSEQ "\r\n";
    /* A bare LF inside To (the parser's 400): rebuilt from its URI, the
     * LF and what follows it left out. */
    static const char lf[] =
        "MESSAGE sip:x@y SIP/2.0\r\n" VIA FROM
        "To: <sip:c@d>\nX-Injected: 1\r\n" CALLID CSEQ "\r\n";
    proto_sip_req_t r;
    char *resp = NULL;
    size_t rn = 0;

    COPY_IS(nul, RLINE VIA "From: " ANON ";tag=n1\r\n" TO CALLID CSEQ "\r\n");
    COPY_IS(crlf, RLINE VIA "From: " ANON "\r\n" TO CALLID CSEQ "\r\n");
    COPY_IS(quote, RLINE VIA "From: <sip:a@b>;tag=q\r\n" TO CALLID CSEQ "\r\n");
    COPY_IS(to, RLINE VIA FROM "To: " ANON "\r\n" CALLID CSEQ "\r\n");
    COPY_IS(none,
            RLINE VIA CALLID CSEQ "From: " ANON "\r\nTo: " ANON "\r\n\r\n");
    COPY_IS(lf, RLINE VIA FROM TO CALLID CSEQ "\r\n");

    /* The answer to the injection: 400, no injected line anywhere. */
    TU_REQUIRE(ingest_salvage_parse((const uint8_t *)crlf, sizeof(crlf) - 1, &r,
                                    NULL) == SG_OK);
    TU_REQUIRE(proto_sip_response(&r, 400, "Bad Request", NULL, NULL, &resp,
                                  &rn) == SG_OK);
    TU_CHECK(strstr(resp, "X-Injected") == NULL);
    TU_CHECK(strstr(resp, "Alice") == NULL);
    TU_CHECK(strstr(resp, "\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"));
    TU_CHECK(strstr(resp, "\r\nCSeq: 1 MESSAGE\r\n"));
    sg_free(resp);
    proto_sip_req_clear(&r);
    TU_REQUIRE(ingest_salvage_parse((const uint8_t *)nul, sizeof(nul) - 1, &r,
                                    NULL) == SG_OK);
    TU_CHECK(r.from_tag.n == 2 && memcmp(r.from_tag.p, "n1", 2) == 0);
    proto_sip_req_clear(&r);
}

TU_TEST(ingest_salvage_parse_answerable)
{
    /* Refused for its body (too large, say): the copy parses, the
     * response can be built, and nothing points at the freed copy. */
    static const char req[] = "MESSAGE sip:+12025551234@gw SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
                              "Via: SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK0\r\n"
                              "From: \"A\" <sip:a@b>;tag=1\r\n"
                              "To: <sip:c@d>\r\n"
                              "Call-ID: abc\r\n"
                              "CSeq: 1 MESSAGE\r\n"
                              "Content-Type: image/png\r\n"
                              "Content-Length: 4\r\n"
                              "\r\n"
                              "body";
    static const char ack[] =
        "ACK sip:x@y SIP/2.0\r\n" VIA FROM TO CALLID "CSeq: 1 ACK\r\n\r\n";
    proto_sip_req_t r;
    char *resp = NULL;
    size_t rn = 0;

    TU_REQUIRE(ingest_salvage_parse((const uint8_t *)req, sizeof(req) - 1, &r,
                                    NULL) == SG_OK);
    TU_CHECK(r.method_id == PROTO_SIP_MESSAGE);
    TU_CHECK(r.body == NULL && r.body_len == 0);
    TU_CHECK(r.call_id.n == 3 && memcmp(r.call_id.p, "abc", 3) == 0);
    TU_CHECK(r.nvia == 2);
    TU_CHECK(r.from.n == 19 &&
             memcmp(r.from.p, "\"A\" <sip:a@b>;tag=1", 19) == 0);
    TU_REQUIRE(proto_sip_response(&r, 415, "Unsupported Media Type", NULL, NULL,
                                  &resp, &rn) == SG_OK);
    TU_CHECK(strncmp(resp, "SIP/2.0 415 ", 12) == 0);
    sg_free(resp);
    proto_sip_req_clear(&r);
    /* An ACK is salvaged with its method, so the caller can leave it
     * unanswered (ingest_sip.c). */
    TU_REQUIRE(ingest_salvage_parse((const uint8_t *)ack, sizeof(ack) - 1, &r,
                                    NULL) == SG_OK);
    TU_CHECK(r.method_id == PROTO_SIP_OTHER && r.method.n == 3 &&
             memcmp(r.method.p, "ACK", 3) == 0);
    proto_sip_req_clear(&r);
}

/* A request with a NUL inside a kept field: sizeof, not strlen. */
static const char s_nul_via[] =
    "MESSAGE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;bra\0nch=1\r\n" FROM TO
        CALLID CSEQ "\r\n";
static const char s_nul_callid[] =
    "MESSAGE sip:x@y SIP/2.0\r\n" VIA FROM TO "Call-ID: a\0b\r\n" CSEQ "\r\n";

TU_TEST(ingest_salvage_parse_hopeless)
{
    static const struct {
        const char *p;
        size_t n;
    } bad[] = {
        {"garbage", 0},
        {"\r\n\r\n", 0},
        /* No Via, no Call-ID, no CSeq: nothing to match an answer. */
        {"MESSAGE sip:x@y SIP/2.0\r\n" FROM TO CALLID CSEQ "\r\n", 0},
        {"MESSAGE sip:x@y SIP/2.0\r\n" VIA FROM TO CSEQ "\r\n", 0},
        {"MESSAGE sip:x@y SIP/2.0\r\n" VIA FROM TO CALLID "\r\n", 0},
        /* Present but broken: the re-parse refuses them. */
        {"MESSAGE sip:x@y SIP/2.0\r\nVia: HTTP/1.1 h\r\n" FROM TO CALLID CSEQ
         "\r\n",
         0},
        {"MESSAGE sip:x@y SIP/2.0\r\n" VIA FROM TO CALLID "CSeq: 1 OPTIONS\r\n"
         "\r\n",
         0},
        {"MESSAGE sip:x@y SIP/2.0\r\n" VIA FROM TO CALLID "Call-ID: b\r\n" CSEQ
         "\r\n",
         0},
        /* A bare CR inside the Via line. */
        {"MESSAGE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP "
         "h\r;branch=z9hG4bK1\r\n" FROM TO CALLID CSEQ "\r\n",
         0},
        {s_nul_via, sizeof(s_nul_via) - 1},
        {s_nul_callid, sizeof(s_nul_callid) - 1},
    };
    proto_sip_req_t r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = bad[i].n ? bad[i].n : strlen(bad[i].p);
        const char *why = NULL;

        TU_CHECK(ingest_salvage_parse((const uint8_t *)bad[i].p, n, &r, &why) ==
                 SG_REFUSED);
        TU_CHECK(why != NULL);
        TU_CHECK(r.owned_ == NULL);
    }
}

TU_TEST(ingest_salvage_caps)
{
    /* A single Via line over INGEST_SALVAGE_FIELD_MAX: never truncated,
     * refused; a long From is replaced by the placeholder instead; more
     * Via fields than fit in INGEST_SALVAGE_COPY_MAX: refused. */
    size_t cap = INGEST_SALVAGE_COPY_MAX * 4, n;
    char *b = sg_malloc(cap);
    char *out = NULL;
    size_t len = 0;
    proto_sip_req_t r;

    n = (size_t)snprintf(
        b, cap,
        "MESSAGE sip:x@y SIP/2.0\r\n"
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1;x=%0*d\r\n" FROM TO CALLID CSEQ
        "\r\n",
        INGEST_SALVAGE_FIELD_MAX, 0);
    TU_CHECK(ingest_salvage_copy(b, n, &out, &len) != NULL && out == NULL);
    TU_CHECK(ingest_salvage_parse((const uint8_t *)b, n, &r, NULL) ==
             SG_REFUSED);

    /* Exactly INGEST_SALVAGE_FIELD_MAX bytes for the whole Via field: kept. */
    n = (size_t)snprintf(
        b, cap,
        "MESSAGE sip:x@y SIP/2.0\r\n"
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1;x=%0*d\r\n" FROM TO CALLID CSEQ
        "\r\n",
        (int)(INGEST_SALVAGE_FIELD_MAX - strlen("Via: SIP/2.0/UDP h;branch="
                                                "z9hG4bK1;x=")),
        0);
    TU_REQUIRE(ingest_salvage_copy(b, n, &out, &len) == NULL);
    TU_CHECK(len <= INGEST_SALVAGE_COPY_MAX);
    sg_free(out);

    n = (size_t)snprintf(b, cap,
                         "MESSAGE sip:x@y SIP/2.0\r\n" VIA
                         "From: \"%0*d\" <sip:a@b>;tag=1\r\n" TO CALLID CSEQ
                         "\r\n",
                         INGEST_SALVAGE_FIELD_MAX, 0);
    TU_REQUIRE(ingest_salvage_copy(b, n, &out, &len) == NULL);
    TU_STREQ(out, RLINE VIA "From: " ANON "\r\n" TO CALLID CSEQ "\r\n");
    sg_free(out);

    /* 32 Via fields of 500 bytes: 16 KB, over the copy's cap. */
    n = (size_t)snprintf(b, cap, "MESSAGE sip:x@y SIP/2.0\r\n");
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(b + n, cap - n,
                              "Via: SIP/2.0/UDP h%d;branch=z9hG4bK%0*d\r\n", i,
                              460, i);
    n += (size_t)snprintf(b + n, cap - n, FROM TO CALLID CSEQ "\r\n");
    TU_CHECK(ingest_salvage_copy(b, n, &out, &len) != NULL && out == NULL);

    /* 33 short Via fields: over PROTO_SIP_VIA_CAP, refused. */
    n = (size_t)snprintf(b, cap, "MESSAGE sip:x@y SIP/2.0\r\n");
    for (int i = 0; i < PROTO_SIP_VIA_CAP + 1; i++)
        n += (size_t)snprintf(b + n, cap - n, VIA);
    n += (size_t)snprintf(b + n, cap - n, FROM TO CALLID CSEQ "\r\n");
    TU_CHECK(ingest_salvage_copy(b, n, &out, &len) != NULL && out == NULL);
    sg_free(b);
}
