/* Unit tests: SIP request parsing and responses (proto/proto_sip.h). */
#include "proto/proto_sip.h"
#include "tests/unit/tu.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 3428 section 4, the example MESSAGE (TCP). */
static const char s_rfc3428[] =
    "MESSAGE sip:user2@domain.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse\r\n"
    "Max-Forwards: 70\r\n"
    "From: sip:user1@domain.com;tag=49583\r\n"
    "To: sip:user2@domain.com\r\n"
    "Call-ID: asd88asd77a@1.2.3.4\r\n"
    "CSeq: 1 MESSAGE\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 18\r\n"
    "\r\n"
    "Watson, come here.";

static proto_sip_limits_t
s_lim(void)
{
    proto_sip_limits_t l;

    proto_sip_limits_default(&l);
    return l;
}

static int
s_is(proto_sip_str_t s, const char *want)
{
    return s.p != NULL && s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}
#define TU_SLICE(s, want)                                                      \
    do {                                                                       \
        if (!s_is((s), (want))) {                                              \
            tu_fail(__FILE__, __LINE__, #s " == " #want);                      \
            tu_note("  got \"%.*s\"", (int)(s).n, (s).p ? (s).p : "(null)");   \
        }                                                                      \
    } while (0)

/* Parse `text` (strlen) as a datagram or stream; expect refusal `code`. */
static void
s_refused(const char *text, size_t n, int flags, int code, const char *why,
          int srcline)
{
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t req;
    proto_sip_err_t err = {0, NULL};
    sg_rc rc = proto_sip_parse(text, n, flags, &l, &req, &err);

    if (rc != SG_REFUSED || err.code != code ||
        (why && (err.why == NULL || strcmp(err.why, why) != 0))) {
        tu_fail(__FILE__, srcline, "refused as expected");
        tu_note("  rc %d code %d why \"%s\"; want %d \"%s\"", rc, err.code,
                err.why ? err.why : "", code, why ? why : "");
    }
    TU_CHECK(req.owned_ == NULL && req.nidentity == 0);
    proto_sip_req_clear(&req);
}
#define REFUSED(text, code, why)                                               \
    s_refused(text, strlen(text), 0, code, why, __LINE__)
#define REFUSED_STREAM(text, code, why)                                        \
    s_refused(text, strlen(text), PROTO_SIP_STREAM, code, why, __LINE__)

/* A minimal valid request with `hdrs` (CRLF-terminated lines) added. */
static char *
s_req(const char *method, const char *hdrs, const char *body)
{
    char *out;

    if (asprintf(&out,
                 "%s sip:+12155551212@gw.example.net SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
                 "From: <sip:+12025550100@a.example>;tag=f1\r\n"
                 "To: <sip:+12155551212@gw.example.net>\r\n"
                 "Call-ID: c1@192.0.2.1\r\n"
                 "CSeq: 7 %s\r\n"
                 "%s\r\n%s",
                 method, method, hdrs, body) < 0)
        abort();
    return out;
}

TU_TEST(sip_rfc3428_example)
{
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;

    TU_REQUIRE(proto_sip_parse(s_rfc3428, strlen(s_rfc3428), PROTO_SIP_STREAM,
                               &l, &r, &err) == SG_OK);
    TU_INTEQ(r.method_id, PROTO_SIP_MESSAGE);
    TU_SLICE(r.method, "MESSAGE");
    TU_SLICE(r.ruri, "sip:user2@domain.com");
    TU_SLICE(r.from, "sip:user1@domain.com;tag=49583");
    TU_SLICE(r.from_uri, "sip:user1@domain.com");
    TU_SLICE(r.from_tag, "49583");
    TU_SLICE(r.to_uri, "sip:user2@domain.com");
    TU_CHECK(r.to_tag.p == NULL);
    TU_SLICE(r.call_id, "asd88asd77a@1.2.3.4");
    TU_INTEQ(r.cseq, 1);
    TU_SLICE(r.cseq_method, "MESSAGE");
    TU_INTEQ(r.nvia, 1);
    TU_SLICE(r.via_transport, "TCP");
    TU_SLICE(r.via_sent_by, "user1pc.domain.com");
    TU_SLICE(r.via_branch, "z9hG4bK776sgdkse");
    TU_INTEQ(r.max_forwards, 70);
    TU_SLICE(r.content_type, "text/plain");
    TU_SLICE(r.media_type, "text/plain");
    TU_INTEQ(r.has_content_length, 1);
    TU_INTEQ(r.content_length, 18);
    TU_INTEQ(r.has_expires, 0);
    TU_CHECK(r.date.p == NULL);
    TU_INTEQ(r.nidentity, 0);
    /* The body points into the input: nothing copied, nothing changed. */
    TU_CHECK(r.body == (const uint8_t *)s_rfc3428 + strlen(s_rfc3428) - 18);
    TU_INTEQ(r.body_len, 18);
    /* Whole values are NUL-terminated copies. */
    TU_CHECK(r.call_id.p[r.call_id.n] == '\0');
    proto_sip_req_clear(&r);
    TU_CHECK(r.owned_ == NULL);
}

TU_TEST(sip_two_identity_headers_one_compact)
{
    char *m =
        s_req("MESSAGE",
              "Identity: eyJh.eyJi.c2ln;info=<https://cert.example/"
              "a.pem>;ppt=msg\r\n"
              "Content-Type: text/plain\r\n"
              "y: e30.e30.YQ;info=<https://x.example/b.pem>;ppt=\"msg\"\r\n"
              "Content-Length: 2\r\n",
              "hi");
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;

    TU_REQUIRE(proto_sip_parse(m, strlen(m), PROTO_SIP_STREAM, &l, &r, &err) ==
               SG_OK);
    TU_INTEQ(r.nidentity, 2);
    TU_SLICE(r.identity[0],
             "eyJh.eyJi.c2ln;info=<https://cert.example/a.pem>;ppt=msg");
    TU_SLICE(r.identity[1],
             "e30.e30.YQ;info=<https://x.example/b.pem>;ppt=\"msg\"");
    proto_sip_req_clear(&r);
    free(m);
}

TU_TEST(sip_compact_forms)
{
    static const char m[] =
        "MESSAGE tel:+12155551212 SIP/2.0\r\n"
        "v: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKc;rport\r\n"
        "f: \"A\" <tel:+12025550100>;tag=xyz\r\n"
        "t: tel:+12155551212\r\n"
        "i: cid-1\r\n"
        "m: <sip:a@192.0.2.9>\r\n"
        "CSeq: 2 MESSAGE\r\n"
        "c: message/cpim\r\n"
        "y: a.b.c;info=<https://i.example/c.pem>\r\n"
        "l: 3\r\n"
        "\r\n"
        "abc";
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;

    TU_REQUIRE(proto_sip_parse(m, sizeof(m) - 1, 0, &l, &r, &err) == SG_OK);
    TU_SLICE(r.via_transport, "UDP");
    TU_SLICE(r.via_sent_by, "[2001:db8::1]:5062");
    TU_SLICE(r.via_branch, "z9hG4bKc");
    TU_SLICE(r.from_uri, "tel:+12025550100");
    TU_SLICE(r.from_tag, "xyz");
    TU_SLICE(r.to_uri, "tel:+12155551212");
    TU_SLICE(r.call_id, "cid-1");
    TU_SLICE(r.contact, "<sip:a@192.0.2.9>");
    TU_SLICE(r.media_type, "message/cpim");
    TU_INTEQ(r.nidentity, 1);
    TU_INTEQ(r.content_length, 3);
    TU_INTEQ(r.body_len, 3);
    proto_sip_req_clear(&r);
}

TU_TEST(sip_header_names_ignore_case)
{
    char *m = s_req("MESSAGE",
                    "cONTENT-tYPE: Text/Plain;charset=UTF-8\r\n"
                    "IDENTITY: a.b.c;info=<https://i.example/c.pem>\r\n"
                    "CONTENT-LENGTH: 1\r\n",
                    "x");
    proto_sip_limits_t l = s_lim();
    const char *const types[] = {"text/plain", NULL};
    proto_sip_req_t r;
    proto_sip_err_t err;

    l.content_types = types;
    TU_REQUIRE(proto_sip_parse(m, strlen(m), 0, &l, &r, &err) == SG_OK);
    TU_SLICE(r.media_type, "Text/Plain");
    TU_SLICE(r.content_type, "Text/Plain;charset=UTF-8");
    TU_INTEQ(r.nidentity, 1);
    TU_INTEQ(r.content_length, 1);
    proto_sip_req_clear(&r);
    free(m);
}

TU_TEST(sip_line_folding_is_unfolded)
{
    char *m = s_req("MESSAGE",
                    "Subject: lunch\r\n  at noon\r\n"
                    "Identity: a.b.c;\r\n\tinfo=<https://i.example/c.pem>"
                    "\r\n ;ppt=msg\r\n"
                    "Content-Length:\r\n 0\r\n",
                    "");
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;
    size_t len;

    TU_REQUIRE(proto_sip_parse(m, strlen(m), PROTO_SIP_STREAM, &l, &r, &err) ==
               SG_OK);
    TU_SLICE(r.identity[0], "a.b.c; info=<https://i.example/c.pem> ;ppt=msg");
    TU_INTEQ(r.content_length, 0);
    proto_sip_req_clear(&r);
    /* The framer reads the folded Content-Length the same way. */
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_ONE);
    TU_INTEQ(len, strlen(m));
    free(m);
    /* A continuation line right after the request line continues nothing. */
    REFUSED("MESSAGE sip:a@b SIP/2.0\r\n  Via: x\r\n\r\n", 400,
            "malformed header field");
}

TU_TEST(sip_utf8_display_names)
{
    char m[512];
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;

    snprintf(m, sizeof(m),
             "MESSAGE sip:b@example.net SIP/2.0\r\n"
             "Via: SIP/2.0/TCP h.example;branch=z9hG4bK2\r\n"
             "From: \"Zo\xc3\xab \\\"Z\\\" \xe6\x97\xa5\xe6\x9c\xac, <x>\" "
             "<sip:zoe@example.com>;tag=t9\r\n"
             "To: Bj\xc3\xb6rn <sip:b@example.net>\r\n"
             "Call-ID: u1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n");
    TU_REQUIRE(proto_sip_parse(m, strlen(m), 0, &l, &r, &err) == SG_OK);
    TU_SLICE(r.from_uri, "sip:zoe@example.com");
    TU_SLICE(r.from_tag, "t9");
    TU_SLICE(r.to_uri, "sip:b@example.net");
    TU_CHECK(strstr(r.from.p, "Zo\xc3\xab") == r.from.p + 1);
    proto_sip_req_clear(&r);
}

TU_TEST(sip_body_with_nul_bytes_kept_exactly)
{
    static const char m[] = "MESSAGE sip:b@example.net SIP/2.0\r\n"
                            "Via: SIP/2.0/UDP h;branch=z9hG4bK3\r\n"
                            "From: <sip:a@example.com>;tag=1\r\n"
                            "To: <sip:b@example.net>\r\n"
                            "Call-ID: n1\r\nCSeq: 1 MESSAGE\r\n"
                            "Content-Type: application/vnd.3gpp.sms\r\n"
                            "Content-Length: 9\r\n\r\n"
                            "\x00\x01\r\n\r\n\x00\xff\x00";
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;

    TU_REQUIRE(proto_sip_parse(m, sizeof(m) - 1, PROTO_SIP_STREAM, &l, &r,
                               &err) == SG_OK);
    TU_INTEQ(r.body_len, 9);
    TU_CHECK(memcmp(r.body, "\x00\x01\r\n\r\n\x00\xff\x00", 9) == 0);
    TU_CHECK(r.body == (const uint8_t *)m + sizeof(m) - 1 - 9);
    proto_sip_req_clear(&r);
}

TU_TEST(sip_options_and_unknown_methods)
{
    char *m = s_req("OPTIONS", "Accept: text/plain\r\n", "");
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;

    TU_REQUIRE(proto_sip_parse(m, strlen(m), 0, &l, &r, &err) == SG_OK);
    TU_INTEQ(r.method_id, PROTO_SIP_OPTIONS);
    TU_INTEQ(r.body_len, 0);
    TU_INTEQ(r.has_content_length, 0);
    proto_sip_req_clear(&r);
    free(m);

    m = s_req("PUBLISH", "", "");
    TU_REQUIRE(proto_sip_parse(m, strlen(m), 0, &l, &r, &err) == SG_OK);
    TU_INTEQ(r.method_id, PROTO_SIP_OTHER);
    TU_SLICE(r.method, "PUBLISH");
    proto_sip_req_clear(&r);
    free(m);

    /* Methods are case-sensitive (RFC 3261 7.1). */
    m = s_req("message", "", "");
    TU_REQUIRE(proto_sip_parse(m, strlen(m), 0, &l, &r, &err) == SG_OK);
    TU_INTEQ(r.method_id, PROTO_SIP_OTHER);
    proto_sip_req_clear(&r);
    free(m);
}

TU_TEST(sip_versions_and_request_lines)
{
    REFUSED("MESSAGE sip:a@b SIP/3.0\r\nVia: x\r\n\r\n", 505,
            "SIP version not supported");
    REFUSED("MESSAGE sip:a@b SIP/2.1\r\n\r\n", 505, NULL);
    REFUSED("MESSAGE sip:a@b SIP/2.0x\r\n\r\n", 400, "malformed SIP-Version");
    REFUSED("MESSAGE sip:a@b SIP/.0\r\n\r\n", 400, "malformed SIP-Version");
    REFUSED("MESSAGE sip:a@b HTTP/1.1\r\n\r\n", 400, "malformed SIP-Version");
    REFUSED("SIP/2.0 200 OK\r\nVia: x\r\n\r\n", 400,
            "a response, not a request");
    REFUSED("MESSAGE  sip:a@b SIP/2.0\r\n\r\n", 400, "malformed Request-URI");
    REFUSED("MESSAGE user@b SIP/2.0\r\n\r\n", 400, "malformed Request-URI");
    REFUSED("MESS@GE sip:a@b SIP/2.0\r\n\r\n", 400, "malformed method");
    REFUSED("MESSAGE\r\n\r\n", 400, "malformed request line");
    REFUSED("MESSAGE sip:a@b SIP/2.0\r\n", 400,
            "no blank line after the header fields");
}

TU_TEST(sip_header_injection_refused)
{
    /* A bare LF would start a new header for a lenient parser downstream. */
    REFUSED("MESSAGE sip:a@b SIP/2.0\r\nSubject: x\nVia: evil\r\n\r\n", 400,
            "bare CR or LF in header section");
    REFUSED("MESSAGE sip:a@b SIP/2.0\r\nSubject: x\rVia: evil\r\n\r\n", 400,
            "bare CR or LF in header section");
    s_refused("MESSAGE sip:a@b SIP/2.0\r\nSubject: x\0y\r\n\r\n", 41, 0, 400,
              "NUL in header section", __LINE__);
    REFUSED("MESSAGE sip:a@b SIP/2.0\r\nSubject: x\x1by\r\n\r\n", 400,
            "control character in header section");
    REFUSED("MESSAGE sip:a@b SIP/2.0\r\nSubject: x\x7fy\r\n\r\n", 400,
            "control character in header section");
    REFUSED("MESSAGE sip:a\x01@b SIP/2.0\r\n\r\n", 400,
            "control character in header section");
    TU_STREQ(proto_sip_value_check("a\r\nb", 4), "CR or LF in header value");
    TU_STREQ(proto_sip_value_check("a\0b", 3), "NUL in header value");
    TU_CHECK(proto_sip_value_check("a\tb \xc3\xa9", 6) == NULL);
}

TU_TEST(sip_size_limits)
{
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;
    char *big = malloc(70000), *m;
    size_t len;

    /* A header section longer than max_header_bytes: 413. */
    memset(big, 'a', 69999);
    big[69999] = '\0';
    memcpy(big, "MESSAGE sip:a@b SIP/2.0\r\nSubject: ", 34);
    l.max_message = 100000;
    TU_INTEQ(proto_sip_parse(big, 20000, 0, &l, &r, &err), SG_REFUSED);
    TU_INTEQ(err.code, 413);
    TU_STREQ(err.why, "header section too large");
    TU_INTEQ(proto_sip_frame(big, 20000, &l, &len, &err), PROTO_SIP_FRAME_BAD);
    TU_INTEQ(err.code, 413);
    /* One byte under the limit without a blank line: need more. */
    TU_INTEQ(proto_sip_frame(big, l.max_header_bytes - 1, &l, &len, &err),
             PROTO_SIP_FRAME_MORE);
    /* The whole message over max_message. */
    l = s_lim();
    TU_INTEQ(proto_sip_parse(big, 65537, 0, &l, &r, &err), SG_REFUSED);
    TU_STREQ(err.why, "message too large");
    TU_INTEQ(err.code, 413);
    free(big);

    /* One field longer than max_line. */
    l = s_lim();
    l.max_line = 79; /* "Subject: " and 71 characters are 80 */
    m = s_req("MESSAGE",
              "Subject: 01234567890123456789012345678901234567890123456789"
              "012345678901234567890\r\n",
              "");
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_REFUSED);
    TU_INTEQ(err.code, 413);
    TU_STREQ(err.why, "header field too long");
    free(m);
    /* Exactly max_line passes. */
    m = s_req("MESSAGE",
              "Subject: 01234567890123456789012345678901234567890123456789"
              "012345678901234567890\r\n",
              "");
    l.max_line = 80;
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_OK);
    proto_sip_req_clear(&r);
    free(m);

    /* More fields than max_headers: 400. */
    l = s_lim();
    l.max_headers = 5; /* s_req writes 5, plus X-A */
    m = s_req("MESSAGE", "X-A: 1\r\n", "");
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_REFUSED);
    TU_INTEQ(err.code, 400);
    TU_STREQ(err.why, "too many header fields");
    l.max_headers = 6;
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_OK);
    proto_sip_req_clear(&r);
    free(m);

    /* More Identity fields than max_identity: 400. */
    l = s_lim();
    l.max_identity = 2;
    m = s_req("MESSAGE", "Identity: a\r\ny: b\r\nIdentity: c\r\n", "");
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_REFUSED);
    TU_STREQ(err.why, "too many Identity header fields");
    TU_INTEQ(err.code, 400);
    l.max_identity = 3;
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_OK);
    TU_INTEQ(r.nidentity, 3);
    proto_sip_req_clear(&r);
    free(m);

    /* Content-Length over max_body, even with 30 digits: 413. */
    l = s_lim();
    m = s_req("MESSAGE", "Content-Length: 65537\r\n", "");
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_REFUSED);
    TU_STREQ(err.why, "body too large");
    TU_INTEQ(err.code, 413);
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_BAD);
    TU_INTEQ(err.code, 413);
    free(m);
    m = s_req("MESSAGE", "Content-Length: 999999999999999999999999999999\r\n",
              "");
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_REFUSED);
    TU_INTEQ(err.code, 413);
    free(m);
    /* Even a limit near SIZE_MAX cannot be passed by overflowing. */
    l.max_body = SIZE_MAX;
    l.max_message = SIZE_MAX;
    m = s_req("MESSAGE", "Content-Length: 99999999999999999999999999999999\r\n",
              "");
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_REFUSED);
    TU_INTEQ(err.code, 413);
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_BAD);
    TU_INTEQ(err.code, 413);
    free(m);
    /* Content-Length exactly max_body frames; one more does not. */
    l = s_lim();
    l.max_body = 10;
    m = s_req("MESSAGE", "Content-Type: text/plain\r\nContent-Length: 10\r\n",
              "0123456789");
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_ONE);
    TU_INTEQ(len, strlen(m));
    free(m);
    m = s_req("MESSAGE", "Content-Type: text/plain\r\nContent-Length: 11\r\n",
              "0123456789a");
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_BAD);
    TU_STREQ(err.why, "body too large");
    free(m);
}

TU_TEST(sip_stream_requires_content_length)
{
    char *m = s_req("MESSAGE", "Content-Type: text/plain\r\n", "hello");
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;
    size_t len = 0;

    REFUSED_STREAM(m, 400, "no Content-Length on a stream");
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_BAD);
    TU_INTEQ(err.code, 400);
    TU_STREQ(err.why, "no Content-Length on a stream");
    /* The same bytes as a datagram: the body is the rest. */
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_OK);
    TU_INTEQ(r.body_len, 5);
    TU_CHECK(memcmp(r.body, "hello", 5) == 0);
    proto_sip_req_clear(&r);
    free(m);
}

TU_TEST(sip_framing_content_length_vs_data)
{
    char *one =
        s_req("MESSAGE", "Content-Type: text/plain\r\nContent-Length: 5\r\n",
              "hello");
    char *two = s_req("OPTIONS", "Content-Length: 0\r\n", "");
    size_t n1 = strlen(one), n2 = strlen(two), len = 0;
    char *both = malloc(n1 + n2 + 4);
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;

    /* Content-Length larger than the data so far: need more. */
    TU_INTEQ(proto_sip_frame(one, n1 - 1, &l, &len, &err),
             PROTO_SIP_FRAME_MORE);
    TU_INTEQ(proto_sip_frame(one, 30, &l, &len, &err), PROTO_SIP_FRAME_MORE);
    TU_INTEQ(proto_sip_frame(one, 0, &l, &len, &err), PROTO_SIP_FRAME_MORE);
    /* Leading CRLFs (keep-alives) are part of the frame. */
    memcpy(both, "\r\n\r\n", 4);
    memcpy(both + 4, one, n1);
    memcpy(both + 4 + n1, two, n2);
    TU_INTEQ(proto_sip_frame(both, 4, &l, &len, &err), PROTO_SIP_FRAME_MORE);
    TU_INTEQ(proto_sip_frame(both, 4 + n1 + n2, &l, &len, &err),
             PROTO_SIP_FRAME_ONE);
    TU_INTEQ(len, 4 + n1);
    /* Content-Length smaller than the data: the rest is the next request. */
    TU_INTEQ(proto_sip_parse(both, len, PROTO_SIP_STREAM, &l, &r, &err), SG_OK);
    TU_CHECK(memcmp(r.body, "hello", 5) == 0 && r.body_len == 5);
    proto_sip_req_clear(&r);
    TU_INTEQ(proto_sip_frame(both + len, n2, &l, &len, &err),
             PROTO_SIP_FRAME_ONE);
    TU_INTEQ(len, n2);
    TU_INTEQ(proto_sip_parse(two, n2, PROTO_SIP_STREAM, &l, &r, &err), SG_OK);
    TU_INTEQ(r.method_id, PROTO_SIP_OPTIONS);
    proto_sip_req_clear(&r);
    /* A stream frame must end with the body. */
    TU_INTEQ(proto_sip_parse(both + 4, n1 + n2, PROTO_SIP_STREAM, &l, &r, &err),
             SG_REFUSED);
    TU_STREQ(err.why, "data after the body");
    /* As a datagram, the bytes past Content-Length are ignored (18.3). */
    TU_INTEQ(proto_sip_parse(both + 4, n1 + n2, 0, &l, &r, &err), SG_OK);
    TU_INTEQ(r.body_len, 5);
    proto_sip_req_clear(&r);
    /* Content-Length larger than the datagram: 400. */
    TU_INTEQ(proto_sip_parse(one, n1 - 1, 0, &l, &r, &err), SG_REFUSED);
    TU_STREQ(err.why, "Content-Length exceeds the data");
    free(both);
    free(one);
    free(two);
}

TU_TEST(sip_framing_refuses_ambiguous_lengths)
{
    proto_sip_limits_t l = s_lim();
    proto_sip_err_t err;
    size_t len;
    char *m;

    m = s_req("MESSAGE", "Content-Length: 0\r\nl: 0\r\n", "");
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_BAD);
    TU_STREQ(err.why, "more than one Content-Length");
    REFUSED(m, 400, "more than one Content-Length");
    free(m);
    m = s_req("MESSAGE", "Content-Length: 1 2\r\n", "");
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_BAD);
    TU_STREQ(err.why, "malformed Content-Length");
    REFUSED(m, 400, "malformed Content-Length");
    free(m);
    m = s_req("MESSAGE", "Content-Length: -1\r\n", "");
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_BAD);
    free(m);
    m = s_req("MESSAGE", "Content-Length 5\r\n", "");
    TU_INTEQ(proto_sip_frame(m, strlen(m), &l, &len, &err),
             PROTO_SIP_FRAME_BAD);
    TU_STREQ(err.why, "malformed header field");
    free(m);
}

TU_TEST(sip_required_fields_and_their_syntax)
{
    static const struct {
        const char *text, *why;
    } rows[] = {
        {"MESSAGE sip:a@b SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>"
         "\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\n",
         "no Via"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:c@d>"
         "\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\n",
         "no From"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\n",
         "no To"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nTo: <sip:c@d>\r\nCSeq: 1 MESSAGE\r\n\r\n",
         "no Call-ID"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nTo: <sip:c@d>\r\nCall-ID: x\r\n\r\n",
         "no CSeq"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
         "CSeq method differs from the request method"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 2147483648 MESSAGE"
         "\r\n\r\n",
         "malformed CSeq"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1MESSAGE\r\n\r\n",
         "malformed CSeq"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: sip:a@b"
         ";tag=1;tag=2\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE"
         "\r\n\r\n",
         "malformed From"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b"
         "\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\n",
         "malformed From"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nTo: \"open <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\n",
         "malformed To"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/1.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\n",
         "malformed Via"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nFrom: <sip:a@b>\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 "
         "MESSAGE\r\n\r\n",
         "more than one From"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nTo: <sip:c@d>\r\nCall-ID: x y\r\nCSeq: 1 MESSAGE\r\n\r\n",
         "malformed Call-ID"},
        {"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>"
         "\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n"
         "Max-Forwards: 256\r\n\r\n",
         "malformed Max-Forwards"},
    };

    for (size_t i = 0; i < SG_NELEM(rows); i++)
        s_refused(rows[i].text, strlen(rows[i].text), 0, 400, rows[i].why,
                  __LINE__);
}

TU_TEST(sip_content_type_rules)
{
    proto_sip_limits_t l = s_lim();
    const char *const types[] = {"text/plain", "message/cpim", NULL};
    proto_sip_req_t r;
    proto_sip_err_t err;
    char *m;

    m = s_req("MESSAGE", "Content-Length: 2\r\n", "hi");
    REFUSED(m, 400, "body without Content-Type");
    free(m);
    l.content_types = types;
    m = s_req("MESSAGE", "Content-Type: text/html\r\nContent-Length: 2\r\n",
              "hi");
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_REFUSED);
    TU_INTEQ(err.code, 415);
    TU_STREQ(err.why, "unsupported Content-Type");
    free(m);
    m = s_req("MESSAGE", "Content-Type: Message/CPIM\r\nContent-Length: 2\r\n",
              "hi");
    TU_INTEQ(proto_sip_parse(m, strlen(m), 0, &l, &r, &err), SG_OK);
    proto_sip_req_clear(&r);
    free(m);
    m = s_req("MESSAGE", "Content-Type: text\r\n", "");
    REFUSED(m, 400, "malformed Content-Type");
    free(m);
}

TU_TEST(sip_date_expires_pai)
{
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;
    char *m;

    m = s_req("MESSAGE",
              "Date: Thu, 21 Feb 2002 13:02:03 GMT\r\n"
              "Expires: 99999999999\r\n"
              "P-Asserted-Identity: \"A, B\" <sip:+1202@a.example>, "
              "<tel:+12025550100>\r\n",
              "");
    TU_REQUIRE(proto_sip_parse(m, strlen(m), 0, &l, &r, &err) == SG_OK);
    TU_INTEQ(r.date_epoch, 1014296523);
    TU_INTEQ(r.has_expires, 1);
    TU_INTEQ(r.expires, UINT32_MAX);
    TU_INTEQ(r.npai, 2);
    TU_SLICE(r.pai[0], "\"A, B\" <sip:+1202@a.example>");
    TU_SLICE(r.pai[1], "<tel:+12025550100>");
    proto_sip_req_clear(&r);
    free(m);

    m = s_req("MESSAGE", "Date: Thu, 29 Feb 2024 00:00:00 GMT\r\n", "");
    TU_REQUIRE(proto_sip_parse(m, strlen(m), 0, &l, &r, &err) == SG_OK);
    TU_INTEQ(r.date_epoch, 1709164800);
    proto_sip_req_clear(&r);
    free(m);

    m = s_req("MESSAGE", "Date: Thu, 29 Feb 2023 00:00:00 GMT\r\n", "");
    REFUSED(m, 400, "malformed Date");
    free(m);
    m = s_req("MESSAGE", "Date: Thu, 21 Feb 2002 13:02:03 UTC\r\n", "");
    REFUSED(m, 400, "malformed Date");
    free(m);
    m = s_req("MESSAGE", "Expires: 1h\r\n", "");
    REFUSED(m, 400, "malformed Expires");
    free(m);
    m = s_req("MESSAGE",
              "P-Asserted-Identity: <sip:a@b>, <tel:+1>\r\n"
              "P-Asserted-Identity: <sip:c@d>\r\n",
              "");
    REFUSED(m, 400, "more than two P-Asserted-Identity");
    free(m);
    m = s_req("MESSAGE", "P-Asserted-Identity: <sip:a@b>,\r\n", "");
    REFUSED(m, 400, "malformed P-Asserted-Identity");
    free(m);
}

TU_TEST(sip_response_copies_the_transaction)
{
    static const char m[] =
        "MESSAGE sip:b@example.net SIP/2.0\r\n"
        "Via: SIP/2.0/UDP p1.example;branch=z9hG4bKp1, SIP/2.0/UDP "
        "p2.example;branch=z9hG4bKp2\r\n"
        "v: SIP/2.0/TCP ua.example;branch=z9hG4bKua;received=192.0.2.4\r\n"
        "f: \"Al\" <sip:a@example.com>;tag=ft\r\n"
        "t: <sip:b@example.net>\r\n"
        "i: cid@ua\r\n"
        "CSeq:   42   MESSAGE\r\n"
        "l: 0\r\n\r\n";
    static const char want[] =
        "SIP/2.0 202 Accepted\r\n"
        "Via: SIP/2.0/UDP p1.example;branch=z9hG4bKp1, SIP/2.0/UDP "
        "p2.example;branch=z9hG4bKp2\r\n"
        "Via: SIP/2.0/TCP ua.example;branch=z9hG4bKua;received=192.0.2.4\r\n"
        "From: \"Al\" <sip:a@example.com>;tag=ft\r\n"
        "To: <sip:b@example.net>;tag=gw1\r\n"
        "Call-ID: cid@ua\r\n"
        "CSeq: 42 MESSAGE\r\n"
        "Retry-After: 5\r\n"
        "Content-Length: 0\r\n\r\n";
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;
    char *out, *out2;
    size_t len, len2;

    TU_REQUIRE(proto_sip_parse(m, sizeof(m) - 1, 0, &l, &r, &err) == SG_OK);
    TU_INTEQ(r.nvia, 2);
    TU_SLICE(r.via_sent_by, "p1.example");
    TU_REQUIRE(proto_sip_response(&r, 202, "Accepted", "Retry-After: 5\r\n",
                                  "gw1", &out, &len) == SG_OK);
    TU_STREQ(out, want);
    TU_INTEQ(len, sizeof(want) - 1);
    free(out);

    /* Derived tags: the same for a retransmission, 16 hex digits. */
    TU_REQUIRE(proto_sip_response(&r, 400, "Bad Request", NULL, NULL, &out,
                                  &len) == SG_OK);
    TU_REQUIRE(proto_sip_response(&r, 400, "Bad Request", NULL, NULL, &out2,
                                  &len2) == SG_OK);
    TU_CHECK(len == len2 && memcmp(out, out2, len) == 0);
    TU_REQUIRE(strstr(out, "To: <sip:b@example.net>;tag=") != NULL);
    TU_INTEQ(strspn(strstr(out, "To: <sip:b@example.net>;tag=") + 28,
                    "0123456789abcdef"),
             16);
    TU_CHECK(strstr(out, "To: <sip:b@example.net>;tag=")[28 + 16] == '\r');
    free(out);
    free(out2);

    /* 100 Trying gets no tag. */
    TU_REQUIRE(proto_sip_response(&r, 100, "Trying", NULL, NULL, &out, &len) ==
               SG_OK);
    TU_CHECK(strstr(out, "To: <sip:b@example.net>\r\n") != NULL);
    free(out);
    proto_sip_req_clear(&r);

    /* A To that has a tag keeps it and gets no second one. */
    TU_REQUIRE(proto_sip_parse(s_rfc3428, strlen(s_rfc3428), 0, &l, &r, &err) ==
               SG_OK);
    r.to_tag = r.from_tag; /* pretend an in-dialog request */
    TU_REQUIRE(proto_sip_response(&r, 415, "Unsupported Media Type",
                                  "Accept: text/plain\r\n", "zz", &out,
                                  &len) == SG_OK);
    TU_CHECK(strstr(out, "To: sip:user2@domain.com\r\n") != NULL);
    TU_CHECK(strncmp(out, "SIP/2.0 415 Unsupported Media Type\r\n", 36) == 0);
    free(out);
    proto_sip_req_clear(&r);
}

TU_TEST(sip_response_refuses_injection)
{
    static const char *const bad_extra[] = {
        "X-A: 1",                    /* no CRLF */
        "X-A: 1\r\nInjected",        /* a line without CRLF */
        "X-A: 1\r\n\r\nbody",        /* an empty line ends the headers */
        "X-A: 1\nX-B: 2\r\n",        /* bare LF */
        "Via: SIP/2.0/UDP evil\r\n", /* a field the builder writes */
        "l: 5\r\n",                  /* compact Content-Length */
        ": novalue\r\n",
        "X-A: a\x01\r\n",
    };
    proto_sip_limits_t l = s_lim();
    proto_sip_req_t r;
    proto_sip_err_t err;
    char *out = (char *)1;
    size_t len;

    TU_REQUIRE(proto_sip_parse(s_rfc3428, strlen(s_rfc3428), 0, &l, &r, &err) ==
               SG_OK);
    for (size_t i = 0; i < SG_NELEM(bad_extra); i++) {
        TU_INTEQ(
            proto_sip_response(&r, 200, "OK", bad_extra[i], "t", &out, &len),
            SG_REFUSED);
        TU_CHECK(out == NULL);
    }
    TU_INTEQ(proto_sip_response(&r, 200, "OK\r\nVia: x", NULL, "t", &out, &len),
             SG_REFUSED);
    TU_INTEQ(proto_sip_response(&r, 200, "", NULL, "t", &out, &len),
             SG_REFUSED);
    TU_INTEQ(proto_sip_response(&r, 200, "OK", NULL, "t\r\nX: y", &out, &len),
             SG_REFUSED);
    TU_INTEQ(proto_sip_response(&r, 200, "OK", NULL, "", &out, &len),
             SG_REFUSED);
    TU_INTEQ(proto_sip_response(&r, 99, "OK", NULL, "t", &out, &len),
             SG_REFUSED);
    TU_INTEQ(proto_sip_response(&r, 700, "OK", NULL, "t", &out, &len),
             SG_REFUSED);
    /* A struct filled by other code is checked too. */
    r.call_id.p = "x\r\nVia: evil";
    r.call_id.n = strlen(r.call_id.p);
    TU_INTEQ(proto_sip_response(&r, 200, "OK", NULL, "t", &out, &len),
             SG_REFUSED);
    proto_sip_req_clear(&r);
    /* A UTF-8 reason phrase is fine (RFC 3261 25.1). */
    TU_REQUIRE(proto_sip_parse(s_rfc3428, strlen(s_rfc3428), 0, &l, &r, &err) ==
               SG_OK);
    TU_INTEQ(
        proto_sip_response(&r, 202, "Accept\xc3\xa9", NULL, "t", &out, &len),
        SG_OK);
    free(out);
    proto_sip_req_clear(&r);
}
