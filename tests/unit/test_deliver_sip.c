/* Unit tests: the outgoing MESSAGE, responses and outcome tables
 * (deliver/deliver_sip.h, deliver/deliver_http.h). */
#include <jansson.h>
#include <stdlib.h>

#include "deliver/deliver_http.h"
#include "deliver/deliver_sip.h"
#include "tests/unit/tu.h"

static const uint8_t s_id[PROTO_MSG_ID_LEN] = {
    0x01, 0x90, 0xf3, 0xc2, 0x00, 0x00, 0x70, 0x00,
    0x80, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};

static proto_bytes
s_b(const char *s)
{
    proto_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

static deliver_sip_out_t
s_out(proto_bytes *ids)
{
    deliver_sip_out_t o;

    memset(&o, 0, sizeof(o));
    o.hop_host = "127.0.0.1";
    o.hop_port = 5080;
    o.local_host = "127.0.0.1";
    o.local_port = 40000;
    o.id = s_id;
    o.cseq = 2;
    o.branch = "z9hG4bKabc.2.1";
    o.from = s_b("+12025550100");
    o.to = s_b("+12025550111");
    o.content_type = s_b("text/plain");
    ids[0] = s_b("eyJ.eyJ.sig;info=<https://x.example/c.pem>;ppt=msg");
    o.identity = ids;
    o.n_identity = 1;
    o.verstat = "TN-Validation-Passed";
    o.body = (proto_bytes){(const uint8_t *)"hi\r\n\0x", 6};
    return o;
}

TU_TEST(sip_build_exact_bytes)
{
    static const char want[] =
        "MESSAGE sip:+12025550111@127.0.0.1:5080;user=phone SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKabc.2.1;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:+12025550100;verstat=TN-Validation-Passed@127.0.0.1;"
        "user=phone>;tag=8011223344556677\r\n"
        "To: <sip:+12025550111@127.0.0.1;user=phone>\r\n"
        "Call-ID: 0190f3c2000070008011223344556677@stirgate\r\n"
        "CSeq: 2 MESSAGE\r\n"
        "P-Asserted-Identity: <sip:+12025550100;"
        "verstat=TN-Validation-Passed@127.0.0.1;user=phone>\r\n"
        "Identity: eyJ.eyJ.sig;info=<https://x.example/c.pem>;ppt=msg\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 6\r\n"
        "\r\n"
        "hi\r\n\0x";
    proto_bytes ids[1];
    deliver_sip_out_t o = s_out(ids);
    const char *why;
    char *out;
    size_t len;

    TU_REQUIRE(deliver_sip_build(&o, &out, &len, &why) == SG_OK);
    TU_INTEQ(len, sizeof(want) - 1);
    TU_CHECK(memcmp(out, want, sizeof(want) - 1) == 0);
    if (len != sizeof(want) - 1 || memcmp(out, want, len) != 0)
        tu_note("got:\n%.*s", (int)len, out);
    free(out);
}

TU_TEST(sip_build_uris_and_tcp)
{
    proto_bytes ids[1];
    deliver_sip_out_t o = s_out(ids);
    const char *why;
    char *out;
    size_t len;

    o.tcp = 1;
    o.from = s_b("tel:+12025550100");
    o.to = s_b("sip:bob@b.example");
    o.verstat = NULL;
    o.n_identity = 0;
    o.content_type = s_b("");
    TU_REQUIRE(deliver_sip_build(&o, &out, &len, &why) == SG_OK);
    TU_CHECK(strstr(out, "MESSAGE sip:bob@b.example SIP/2.0\r\n") == out);
    TU_CHECK(strstr(out, "Via: SIP/2.0/TCP 127.0.0.1:40000;branch="
                         "z9hG4bKabc.2.1\r\n") != NULL);
    TU_CHECK(strstr(out, "From: <tel:+12025550100>;tag=") != NULL);
    TU_CHECK(strstr(out, "P-Asserted-Identity") == NULL);
    TU_CHECK(strstr(out, "Identity:") == NULL);
    TU_CHECK(strstr(out, "Content-Type: text/plain\r\n") != NULL);
    free(out);
    o.verstat = "No-TN-Validation";
    TU_REQUIRE(deliver_sip_build(&o, &out, &len, &why) == SG_OK);
    TU_CHECK(strstr(out, "From: <tel:+12025550100;verstat=No-TN-Validation>")
             != NULL);
    free(out);
}

TU_TEST(sip_build_refuses_injection)
{
    static const char *const bad_uris[] = {
        "+1202\r\nX-Evil: 1", "sip:a@b>;x=<sip:c@d", "sip:a@b c", "+1202\n",
        "al ice", "sip:a\"@b", "",
    };
    proto_bytes ids[1];
    deliver_sip_out_t o;
    const char *why;
    char *out;
    size_t len;

    for (size_t i = 0; i < SG_NELEM(bad_uris); i++) {
        o = s_out(ids);
        o.from = s_b(bad_uris[i]);
        TU_CHECK(deliver_sip_build(&o, &out, &len, &why) == SG_REFUSED);
        TU_CHECK(out == NULL && why != NULL);
        o = s_out(ids);
        o.to = s_b(bad_uris[i]);
        TU_CHECK(deliver_sip_build(&o, &out, &len, &why) == SG_REFUSED);
    }
    o = s_out(ids);
    ids[0] = s_b("tok\r\nVia: evil");
    TU_CHECK(deliver_sip_build(&o, &out, &len, &why) == SG_REFUSED);
    o = s_out(ids);
    o.content_type = s_b("text/plain\r\nX: y");
    TU_CHECK(deliver_sip_build(&o, &out, &len, &why) == SG_REFUSED);
    o = s_out(ids);
    o.verstat = "Passed\r\nX: y";
    TU_CHECK(deliver_sip_build(&o, &out, &len, &why) == SG_REFUSED);
    o = s_out(ids);
    o.branch = "z9hG4bK;evil";
    TU_CHECK(deliver_sip_build(&o, &out, &len, &why) == SG_REFUSED);
}

static const char s_resp[] =
    "SIP/2.0 503 Service Unavailable\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKabc.2.1;rport=40000,"
    " SIP/2.0/UDP 10.0.0.1;branch=other\r\n"
    "v: SIP/2.0/UDP 10.0.0.2;branch=third\r\n"
    "From: <sip:a@b>;tag=1\r\n"
    "To: <sip:c@d>;tag=2\r\n"
    "i: x@y\r\n"
    "CSeq: 2 MESSAGE\r\n"
    "Retry-After: 30 (maintenance)\r\n"
    "l: 0\r\n"
    "\r\n";

TU_TEST(sip_resp_parse_datagram_and_stream)
{
    deliver_sip_resp_t r;
    const char *why;
    char buf[1024];
    size_t n = sizeof(s_resp) - 1;

    TU_INTEQ(deliver_sip_resp_parse(s_resp, n, 0, &r, &why), 1);
    TU_INTEQ(r.code, 503);
    TU_CHECK(r.branch.n == 14 && memcmp(r.branch.p, "z9hG4bKabc.2.1", 14) == 0);
    TU_CHECK(r.call_id.n == 3 && memcmp(r.call_id.p, "x@y", 3) == 0);
    TU_INTEQ(r.cseq, 2);
    TU_INTEQ(r.retry_after, 30);

    /* A stream: keep-alive CRLFs, then two responses back to back, the
     * second cut short. */
    memcpy(buf, "\r\n\r\n", 4);
    memcpy(buf + 4, s_resp, n);
    memcpy(buf + 4 + n, s_resp, n);
    TU_INTEQ(deliver_sip_resp_parse(buf, 4 + 2 * n, 1, &r, &why), 1);
    TU_INTEQ(r.total_len, 4 + n);
    TU_INTEQ(deliver_sip_resp_parse(buf + 4 + n, n - 3, 1, &r, &why), 0);
    TU_INTEQ(deliver_sip_resp_parse(buf, 2, 1, &r, &why), 0);
}

TU_TEST(sip_resp_parse_rejects)
{
    static const char *const bad[] = {
        "SIP/2.0 099 x\r\nVia: a;branch=b\r\ni: c\r\nCSeq: 1 M\r\n\r\n",
        "SIP/2.0 700 x\r\nVia: a;branch=b\r\ni: c\r\nCSeq: 1 M\r\n\r\n",
        "SIP/3.0 200 x\r\nVia: a;branch=b\r\ni: c\r\nCSeq: 1 M\r\n\r\n",
        "SIP/2.0 200 x\r\nVia: a\r\ni: c\r\nCSeq: 1 M\r\n\r\n",
        "SIP/2.0 200 x\r\nVia: a;branch=b\r\nCSeq: 1 M\r\n\r\n",
        "SIP/2.0 200 x\r\nVia: a;branch=b\r\ni: c\r\n\r\n",
        "SIP/2.0 200 x\r\nVia: a;branch=b\r\ni: c\x01\r\nCSeq: 1 M\r\n\r\n",
        "SIP/2.0 200 x\r\nVia: a;branch=b\ni: c\r\nCSeq: 1 M\r\n\r\n",
        "SIP/2.0 200 x\r\nBad Name: 1\r\nVia: a;branch=b\r\n\r\n",
        "SIP/2.0 200 x\r\nVia: a;branch=b\r\ni: c\r\nCSeq: 1 M\r\n"
        "l: 1\r\nl: 1\r\n\r\n",
        "SIP/2.0 200 x\r\nVia: a;branch=b\r\ni: c\r\nCSeq: x M\r\n\r\n",
    };
    deliver_sip_resp_t r;
    const char *why;

    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        TU_INTEQ(deliver_sip_resp_parse(bad[i], strlen(bad[i]), 0, &r, &why),
                 -1);
        TU_CHECK(why != NULL);
    }
    /* A stream needs Content-Length. */
    {
        const char *s = "SIP/2.0 200 x\r\nVia: a;branch=b\r\ni: c\r\n"
                        "CSeq: 1 M\r\n\r\n";
        TU_INTEQ(deliver_sip_resp_parse(s, strlen(s), 1, &r, &why), -1);
        TU_INTEQ(deliver_sip_resp_parse(s, strlen(s), 0, &r, &why), 1);
    }
}

TU_TEST(sip_and_http_outcomes)
{
    TU_INTEQ(deliver_sip_outcome(180), SG_ERR);
    TU_INTEQ(deliver_sip_outcome(200), SG_OK);
    TU_INTEQ(deliver_sip_outcome(202), SG_OK);
    TU_INTEQ(deliver_sip_outcome(302), SG_REFUSED);
    TU_INTEQ(deliver_sip_outcome(403), SG_REFUSED);
    TU_INTEQ(deliver_sip_outcome(404), SG_REFUSED);
    TU_INTEQ(deliver_sip_outcome(408), SG_AGAIN);
    TU_INTEQ(deliver_sip_outcome(480), SG_REFUSED);
    TU_INTEQ(deliver_sip_outcome(500), SG_AGAIN);
    TU_INTEQ(deliver_sip_outcome(503), SG_AGAIN);
    TU_INTEQ(deliver_sip_outcome(603), SG_REFUSED);

    TU_INTEQ(deliver_http_outcome(0, 200), SG_OK);
    TU_INTEQ(deliver_http_outcome(0, 204), SG_OK);
    TU_INTEQ(deliver_http_outcome(0, 301), SG_REFUSED);
    TU_INTEQ(deliver_http_outcome(0, 400), SG_REFUSED);
    TU_INTEQ(deliver_http_outcome(0, 408), SG_AGAIN);
    TU_INTEQ(deliver_http_outcome(0, 429), SG_AGAIN);
    TU_INTEQ(deliver_http_outcome(0, 503), SG_AGAIN);
    TU_INTEQ(deliver_http_outcome(7 /* couldn't connect */, 0), SG_AGAIN);
    TU_INTEQ(deliver_http_outcome(28 /* timeout */, 0), SG_AGAIN);
    TU_INTEQ(deliver_http_outcome(3 /* URL malformat */, 0), SG_REFUSED);
}

TU_TEST(http_utf8_and_webhook_json)
{
    static const uint8_t ok[] = "caf\xc3\xa9 \xe2\x9c\x93";
    static const uint8_t overlong[] = "\xc0\xaf";
    static const uint8_t surrogate[] = "\xed\xa0\x80";
    static const uint8_t bin[] = {'a', 0, 'b'};
    proto_bytes ids[1] = {{(const uint8_t *)"t.o.k;info=<u>;ppt=msg", 22}};
    proto_msg m;
    deliver_http_webhook_t w;
    json_t *j;
    char *txt;

    TU_CHECK(deliver_http_utf8_ok(ok, sizeof(ok) - 1));
    TU_CHECK(!deliver_http_utf8_ok(overlong, 2));
    TU_CHECK(!deliver_http_utf8_ok(surrogate, 3));
    TU_CHECK(!deliver_http_utf8_ok(bin, 3));
    TU_CHECK(!deliver_http_utf8_ok(ok, 4)); /* cut inside a character */

    memset(&m, 0, sizeof(m));
    memcpy(m.id, s_id, sizeof(s_id));
    m.from = s_b("+12025550100");
    m.to = s_b("+12025550111");
    m.iat = 1800000000;
    m.body.p = bin;
    m.body.len = 3;
    memset(&w, 0, sizeof(w));
    w.m = &m;
    w.verstat = "TN-Validation-Passed";
    w.reason = "ok";
    w.identity = ids;
    w.n_identity = 1;
    w.resign_iat = 1800000100;
    w.attempt = 3;
    txt = deliver_http_webhook_json(&w);
    j = json_loads(txt, 0, NULL);
    TU_REQUIRE(j != NULL);
    TU_STREQ(json_string_value(json_object_get(j, "id")),
             "0190f3c2000070008011223344556677");
    TU_STREQ(json_string_value(json_object_get(j, "body_base64")), "YQBi");
    TU_CHECK(json_object_get(j, "body") == NULL);
    TU_STREQ(json_string_value(json_object_get(j, "content_type")),
             "text/plain");
    TU_STREQ(json_string_value(
                 json_array_get(json_object_get(j, "passport"), 0)),
             "t.o.k");
    TU_INTEQ(json_integer_value(json_object_get(j, "resign_iat")),
             1800000100);
    TU_INTEQ(json_integer_value(json_object_get(j, "attempt")), 3);
    json_decref(j);
    free(txt);
}
