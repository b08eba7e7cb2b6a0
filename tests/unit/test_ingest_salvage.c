/*
 * tests/unit/test_ingest_salvage.c - the fields of a response salvaged
 * from a refused SIP request (ingest/ingest_salvage.h).
 */
#include "ingest/ingest_salvage.h"
#include "tu.h"

#include <stdlib.h>
#include <string.h>

TU_TEST(ingest_salvage_fields)
{
    static const char req[] = "\r\nMESSAGE sip:+12025551234@gw SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
                              "Date: not a date\r\n"
                              "f: <sip:a@b>;tag=1\r\n"
                              "To: <sip:c@d>\r\n"
                              "X-Long: one\r\n"
                              " two\r\n"
                              "Call-ID: abc\r\n"
                              "CSeq: 1\r\n"
                              " MESSAGE\r\n"
                              "Content-Length: 999\r\n"
                              "\r\n"
                              "body";
    char *out = NULL;
    size_t n = 0;

    TU_REQUIRE(ingest_salvage_copy(req, sizeof(req) - 1, 4096, &out, &n) ==
               NULL);
    TU_STREQ(out, "MESSAGE sip:+12025551234@gw SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
                  "f: <sip:a@b>;tag=1\r\n"
                  "To: <sip:c@d>\r\n"
                  "Call-ID: abc\r\n"
                  "CSeq: 1\r\n"
                  " MESSAGE\r\n"
                  "\r\n");
    TU_INTEQ(n, strlen(out));
    sg_free(out);
    /* No end of the header section (within max): nothing to salvage. */
    TU_CHECK(ingest_salvage_copy(req, sizeof(req) - 1, 60, &out, &n) != NULL);
    TU_CHECK(out == NULL);
    TU_CHECK(ingest_salvage_copy("garbage", 7, 4096, &out, &n) != NULL);
    TU_CHECK(ingest_salvage_copy("\r\n\r\n", 4, 4096, &out, &n) != NULL);
}

TU_TEST(ingest_salvage_parse_answerable)
{
    /* Refused for its body (too large, say): the copy parses, the
     * response can be built, and nothing points at the freed copy. */
    static const char req[] = "MESSAGE sip:+12025551234@gw SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
                              "From: <sip:a@b>;tag=1\r\n"
                              "To: <sip:c@d>\r\n"
                              "Call-ID: abc\r\n"
                              "CSeq: 1 MESSAGE\r\n"
                              "Content-Type: image/png\r\n"
                              "Content-Length: 4\r\n"
                              "\r\n"
                              "body";
    proto_sip_req_t r;
    char *resp = NULL;
    size_t rn = 0;

    TU_REQUIRE(ingest_salvage_parse((const uint8_t *)req, sizeof(req) - 1, 4096,
                                    &r) == SG_OK);
    TU_CHECK(r.method_id == PROTO_SIP_MESSAGE);
    TU_CHECK(r.body == NULL && r.body_len == 0);
    TU_CHECK(r.call_id.n == 3 && memcmp(r.call_id.p, "abc", 3) == 0);
    TU_REQUIRE(proto_sip_response(&r, 415, "Unsupported Media Type", NULL, NULL,
                                  &resp, &rn) == SG_OK);
    TU_CHECK(strncmp(resp, "SIP/2.0 415 ", 12) == 0);
    sg_free(resp);
    proto_sip_req_clear(&r);
}

/* A request with a NUL inside a kept field: sizeof, not strlen. */
static const char s_nul[] =
    "MESSAGE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;bra\0nch=1\r\n\r\n";

TU_TEST(ingest_salvage_parse_hopeless)
{
    static const struct {
        const char *p;
        size_t n;
    } bad[] = {
        {"garbage", 7},
        {"\r\n\r\n", 4},
        /* No Call-ID: the copy itself does not parse. */
        {"MESSAGE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\n"
         "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 MESSAGE\r\n"
         "\r\n",
         0},
        {s_nul, sizeof(s_nul) - 1},
    };
    proto_sip_req_t r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = bad[i].n ? bad[i].n : strlen(bad[i].p);
        TU_CHECK(ingest_salvage_parse((const uint8_t *)bad[i].p, n, 4096, &r) ==
                 SG_REFUSED);
        TU_CHECK(r.owned_ == NULL);
    }
}
