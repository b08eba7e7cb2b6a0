/* Unit tests: the POST /v1/messages body and answers (proto/proto_api.h). */
#include "proto/proto_api.h"
#include "tests/unit/tu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static proto_api_limits_t
s_lim(void)
{
    proto_api_limits_t l;

    proto_api_limits_default(&l);
    return l;
}

static void
s_refused(const char *text, size_t n, const proto_api_limits_t *l,
          const char *reason, const char *msg, int srcline)
{
    proto_api_msg_t m;
    proto_api_err_t err;
    sg_rc rc = proto_api_parse(text, n, l, &m, &err);

    if (rc != SG_REFUSED || err.reason == NULL ||
        strcmp(err.reason, reason) != 0 ||
        (msg && strstr(err.message, msg) == NULL)) {
        tu_fail(__FILE__, srcline, "refused as expected");
        tu_note("  rc %d reason %s message \"%s\"; want %s \"%s\"", rc,
                err.reason ? err.reason : "(none)", err.message, reason,
                msg ? msg : "");
    }
    /* Nothing is left allocated or half-filled. */
    TU_CHECK(m.from == NULL && m.to == NULL && m.body == NULL &&
             m.identity == NULL && m.content_type == NULL);
    if (rc == SG_OK)
        proto_api_msg_clear(&m);
}
#define REFUSED(text, reason, msg)                                             \
    do {                                                                       \
        proto_api_limits_t l_ = s_lim();                                       \
        s_refused(text, strlen(text), &l_, reason, msg, __LINE__);             \
    } while (0)

TU_TEST(api_minimal_request_gets_defaults)
{
    static const char t[] =
        "{\"from\": \"+12025550100\", \"to\": \"+12155551212\", "
        "\"body\": \"hello\"}";
    proto_api_limits_t l = s_lim();
    proto_api_msg_t m;
    proto_api_err_t err;

    TU_REQUIRE(proto_api_parse(t, sizeof(t) - 1, &l, &m, &err) == SG_OK);
    TU_STREQ(m.from, "+12025550100");
    TU_INTEQ(m.nto, 1);
    TU_STREQ(m.to[0], "+12155551212");
    TU_STREQ(m.content_type, "text/plain");
    TU_INTEQ(m.body_len, 5);
    TU_CHECK(memcmp(m.body, "hello", 5) == 0);
    TU_INTEQ(m.nidentity, 0);
    TU_INTEQ(m.has_expires, 0);
    TU_CHECK(m.idempotency_id == NULL);
    proto_api_msg_clear(&m);
    TU_CHECK(m.from == NULL && m.nto == 0);
}

TU_TEST(api_every_member)
{
    static const char t[] =
        "{\"from\": \"sip:alice@example.com\",\n"
        " \"to\": [\"+12155551212\", \"tel:+12155551213\"],\n"
        " \"content_type\": \"text/plain; charset=UTF-8\",\n"
        " \"body_base64\": \"AAEC/w==\",\n"
        " \"identity\": [\"a.b.c;info=<https://x/y>;ppt=msg\", \"d.e.f\"],\n"
        " \"expires\": 4294967295,\n"
        " \"idempotency_id\": \"order 42/x~\",\n"
        " \"status_url\": \"https://client.example/cb?m=1\"}";
    proto_api_limits_t l = s_lim();
    proto_api_msg_t m;
    proto_api_err_t err;

    TU_REQUIRE(proto_api_parse(t, sizeof(t) - 1, &l, &m, &err) == SG_OK);
    TU_INTEQ(m.nto, 2);
    TU_STREQ(m.to[1], "tel:+12155551213");
    TU_STREQ(m.content_type, "text/plain; charset=UTF-8");
    TU_INTEQ(m.body_len, 4);
    TU_CHECK(memcmp(m.body, "\x00\x01\x02\xff", 4) == 0);
    TU_INTEQ(m.nidentity, 2);
    TU_STREQ(m.identity[0], "a.b.c;info=<https://x/y>;ppt=msg");
    TU_INTEQ(m.has_expires, 1);
    TU_INTEQ(m.expires, 4294967295u);
    TU_STREQ(m.idempotency_id, "order 42/x~");
    TU_STREQ(m.status_url, "https://client.example/cb?m=1");
    proto_api_msg_clear(&m);
}

TU_TEST(api_body_bytes_are_exact)
{
    /* UTF-8 and an escaped NUL: the bytes jansson decoded, no more. */
    static const char t[] = "{\"from\": \"a\", \"to\": \"b\", "
                            "\"body\": \"Zo\xc3\xab\\u0000\\n\\ud83d\\ude00\"}";
    proto_api_limits_t l = s_lim();
    proto_api_msg_t m;
    proto_api_err_t err;

    TU_REQUIRE(proto_api_parse(t, sizeof(t) - 1, &l, &m, &err) == SG_OK);
    TU_INTEQ(m.body_len, 10);
    TU_CHECK(memcmp(m.body, "Zo\xc3\xab\0\n\xf0\x9f\x98\x80", 10) == 0);
    proto_api_msg_clear(&m);
}

TU_TEST(api_malformed_json_has_position)
{
    REFUSED("{\"from\": \"a\",\n \"to\": }", "malformed_json",
            "line 2, column 8");
    REFUSED("", "malformed_json", "line 1, column 0");
    REFUSED("[\"from\"]", "malformed_json", "expected a JSON object");
    REFUSED("{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\"} x",
            "malformed_json", "end of file expected");
    REFUSED(
        "{\"from\": \"a\", \"from\": \"b\", \"to\": \"b\", \"body\": \"x\"}",
        "malformed_json", "duplicate object key");
    REFUSED("{\"from\": \"a\", \"to\": \"b\", \"body\": \"\xff\"}",
            "malformed_json", NULL);
}

TU_TEST(api_unknown_and_missing_members)
{
    REFUSED("{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"prio\": 1}",
            "unknown_field", "unknown member \"prio\"");
    REFUSED("{\"to\": \"b\", \"body\": \"x\"}", "missing_field", "from");
    REFUSED("{\"from\": \"a\", \"body\": \"x\"}", "missing_field", "to");
    REFUSED("{\"from\": \"a\", \"to\": \"b\"}", "missing_field",
            "body or body_base64");
    REFUSED("{}", "missing_field", NULL);
}

TU_TEST(api_wrong_types_and_shapes)
{
    static const struct {
        const char *text, *msg;
    } rows[] = {
        {"{\"from\": 1, \"to\": \"b\", \"body\": \"x\"}", "from"},
        {"{\"from\": \"\", \"to\": \"b\", \"body\": \"x\"}", "from"},
        {"{\"from\": \"a\\r\\nX: y\", \"to\": \"b\", \"body\": \"x\"}", "from"},
        {"{\"from\": \"a\\u0000\", \"to\": \"b\", \"body\": \"x\"}", "from"},
        {"{\"from\": \"a\", \"to\": 5, \"body\": \"x\"}", "to"},
        {"{\"from\": \"a\", \"to\": [], \"body\": \"x\"}", "to: empty"},
        {"{\"from\": \"a\", \"to\": [\"b\", 2], \"body\": \"x\"}",
         "to: entry 1"},
        {"{\"from\": \"a\", \"to\": [\"b\\n\"], \"body\": \"x\"}", "to: entry"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": 5}", "body"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"body_base64\": "
         "\"eA==\"}",
         "exactly one"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body_base64\": \"eA\"}",
         "body_base64: not standard padded base64"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body_base64\": \"e-A=\"}",
         "body_base64"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body_base64\": \"eA== \"}",
         "body_base64"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body_base64\": 1}", "body_base64"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"content_type\": "
         "\"text\"}",
         "content_type"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"content_type\": "
         "\"text/plain\\r\\nX: 1\"}",
         "content_type"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"content_type\": "
         "\"text/\"}",
         "content_type"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"identity\": 3}",
         "identity"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"identity\": "
         "[\"a\\r\\nb\"]}",
         "identity: entry 0"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"expires\": -1}",
         "expires"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"expires\": "
         "4294967296}",
         "expires"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"expires\": 1.5}",
         "expires"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", \"expires\": "
         "\"60\"}",
         "expires"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", "
         "\"idempotency_id\": \"\"}",
         "idempotency_id"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", "
         "\"idempotency_id\": \"caf\xc3\xa9\"}",
         "idempotency_id"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", "
         "\"idempotency_id\": \"a\\tb\"}",
         "idempotency_id"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", "
         "\"idempotency_id\": 7}",
         "idempotency_id"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", "
         "\"status_url\": \"ftp://x/y\"}",
         "status_url"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", "
         "\"status_url\": \"http://x/a b\"}",
         "status_url"},
        {"{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", "
         "\"status_url\": \"http://x/\\r\\n\"}",
         "status_url"},
    };
    proto_api_limits_t l = s_lim();

    for (size_t i = 0; i < SG_NELEM(rows); i++)
        s_refused(rows[i].text, strlen(rows[i].text), &l, "bad_field",
                  rows[i].msg, __LINE__);
}

TU_TEST(api_idempotency_id_bounds)
{
    char t[300], id[130];
    proto_api_limits_t l = s_lim();
    proto_api_msg_t m;
    proto_api_err_t err;

    memset(id, 'k', 128);
    id[128] = '\0';
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body\": \"\", "
             "\"idempotency_id\": \"%s\"}",
             id);
    TU_REQUIRE(proto_api_parse(t, strlen(t), &l, &m, &err) == SG_OK);
    TU_INTEQ(strlen(m.idempotency_id), 128);
    TU_INTEQ(m.body_len, 0);
    proto_api_msg_clear(&m);
    strcat(id, "k");
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body\": \"\", "
             "\"idempotency_id\": \"%s\"}",
             id);
    s_refused(t, strlen(t), &l, "bad_field", "idempotency_id", __LINE__);
}

TU_TEST(api_recipient_limit_at_the_edge)
{
    proto_api_limits_t l = s_lim();
    proto_api_msg_t m;
    proto_api_err_t err;
    char t[512];

    l.max_recipients = 3;
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": [\"1\", \"2\", \"3\"], "
             "\"body\": \"x\"}");
    TU_REQUIRE(proto_api_parse(t, strlen(t), &l, &m, &err) == SG_OK);
    TU_INTEQ(m.nto, 3);
    proto_api_msg_clear(&m);
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": [\"1\", \"2\", \"3\", "
             "\"4\"], \"body\": \"x\"}");
    s_refused(t, strlen(t), &l, "too_many_recipients", "more than 3", __LINE__);
    /* A bad entry after good ones: the good ones are freed (ASan). */
    snprintf(
        t, sizeof(t),
        "{\"from\": \"a\", \"to\": [\"1\", \"2\", null], \"body\": \"x\"}");
    s_refused(t, strlen(t), &l, "bad_field", "to: entry 2", __LINE__);
    /* The default is 100. */
    l = s_lim();
    TU_INTEQ(l.max_recipients, 100);
}

TU_TEST(api_body_size_limit_at_the_edge)
{
    proto_api_limits_t l = s_lim();
    proto_api_msg_t m;
    proto_api_err_t err;
    char t[512];

    l.max_body = 4;
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body\": "
             "\"abcd\"}");
    TU_REQUIRE(proto_api_parse(t, strlen(t), &l, &m, &err) == SG_OK);
    proto_api_msg_clear(&m);
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body\": "
             "\"abcde\"}");
    s_refused(t, strlen(t), &l, "body_too_large", "more than 4", __LINE__);
    /* Limits count bytes, not characters. */
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body\": "
             "\"\xc3\xa9\xc3\xa9\xc3\xa9\"}");
    s_refused(t, strlen(t), &l, "body_too_large", NULL, __LINE__);
    /* base64: 4 octets pass, 5 do not, and a huge one is refused before
     * it is decoded. */
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body_base64\": "
             "\"YWJjZA==\"}");
    TU_REQUIRE(proto_api_parse(t, strlen(t), &l, &m, &err) == SG_OK);
    TU_INTEQ(m.body_len, 4);
    proto_api_msg_clear(&m);
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body_base64\": "
             "\"YWJjZGU=\"}");
    s_refused(t, strlen(t), &l, "body_too_large", "decoded", __LINE__);
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body_base64\": "
             "\"YWJjZGVmYWJjZGVmYWJjZGVm\"}");
    s_refused(t, strlen(t), &l, "body_too_large", "decoded", __LINE__);
}

TU_TEST(api_identity_limit)
{
    proto_api_limits_t l = s_lim();
    proto_api_msg_t m;
    proto_api_err_t err;
    char t[256];

    l.max_identity = 1;
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", "
             "\"identity\": \"a.b.c\"}");
    TU_REQUIRE(proto_api_parse(t, strlen(t), &l, &m, &err) == SG_OK);
    TU_INTEQ(m.nidentity, 1);
    proto_api_msg_clear(&m);
    snprintf(t, sizeof(t),
             "{\"from\": \"a\", \"to\": \"b\", \"body\": \"x\", "
             "\"identity\": [\"a.b.c\", \"d.e.f\"]}");
    s_refused(t, strlen(t), &l, "bad_field", "identity: more than 1", __LINE__);
}

TU_TEST(api_answers)
{
    proto_api_accepted_t msgs[2] = {{"0190f3c2a", "+12155551212", 0},
                                    {"0190f3c2b", "+12155551213", 0}};
    char *s;

    s = proto_api_accepted_json(msgs, 2, "TN-Validation-Passed", NULL);
    TU_STREQ(s, "{\"messages\":[{\"id\":\"0190f3c2a\",\"to\":\"+12155551212\"},"
                "{\"id\":\"0190f3c2b\",\"to\":\"+12155551213\"}],"
                "\"verstat\":\"TN-Validation-Passed\"}");
    free(s);
    s = proto_api_accepted_json(msgs, 1, "No-TN-Validation", "stale");
    TU_STREQ(s,
             "{\"messages\":[{\"id\":\"0190f3c2a\",\"to\":\"+12155551212\"}],"
             "\"verstat\":\"No-TN-Validation\",\"reason\":\"stale\"}");
    free(s);
    s = proto_api_error_json("bad_field", "to: entry \"1\"\n");
    TU_STREQ(s, "{\"reason\":\"bad_field\",\"message\":\"to: entry "
                "\\\"1\\\"\\n\"}");
    free(s);
}

TU_TEST(api_error_message_from_jansson_is_plain_ascii)
{
    proto_api_limits_t l = s_lim();
    proto_api_msg_t m;
    proto_api_err_t err;
    char *s;

    /* jansson quotes the bad input ("near ..."): it must not carry raw
     * bytes into the message. */
    TU_INTEQ(proto_api_parse("{\"from\": \xc3\xa9\x01}", 13, &l, &m, &err),
             SG_REFUSED);
    for (const char *c = err.message; *c; c++)
        TU_CHECK((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
    s = proto_api_error_json(err.reason, err.message);
    TU_CHECK(s != NULL && strstr(s, "malformed_json") != NULL);
    free(s);
}

TU_TEST(api_accepted_duplicate)
{
    proto_api_accepted_t msgs[2] = {{"0190aa", "+1", 1}, {"0190bb", "+2", 0}};
    char *s;

    s = proto_api_accepted_json(msgs, 2, "TN-Validation-Passed", NULL);
    TU_STREQ(s, "{\"messages\":[{\"id\":\"0190aa\",\"to\":\"+1\","
                "\"duplicate\":true},{\"id\":\"0190bb\",\"to\":\"+2\"}],"
                "\"verstat\":\"TN-Validation-Passed\"}");
    sg_free(s);
    msgs[1].duplicate = 1;
    s = proto_api_accepted_json(msgs, 2, "TN-Validation-Passed", NULL);
    TU_CHECK(strstr(s, "\"verstat\":\"TN-Validation-Passed\","
                       "\"duplicate\":true}") != NULL);
    sg_free(s);
}

/* SHOW objects as store/store_json.c writes them, one per store state. */
TU_TEST(api_status_each_state)
{
    static const struct {
        const char *show, *status, *has, *hasnt;
    } t[] = {
        {"{\"id\":\"a1\",\"state\":\"queued\",\"attempts\":0,"
         "\"next_due_ms\":5,\"peer\":\"p\",\"last_error\":\"\"}",
         "queued", "\"next_attempt_ms\":5", "delivered_ms"},
        {"{\"id\":\"a1\",\"state\":\"queued\",\"attempts\":2,"
         "\"next_due_ms\":9000,\"peer\":\"p\",\"last_error\":\"SIP 503\"}",
         "deferred", "\"next_attempt_ms\":9000", "delivered_ms"},
        {"{\"id\":\"a1\",\"state\":\"leased\",\"attempts\":1,"
         "\"lease_until_ms\":7,\"peer\":\"p\",\"last_error\":\"\"}",
         "delivering", "\"attempts\":1", "next_attempt_ms"},
        {"{\"id\":\"a1\",\"state\":\"held\",\"attempts\":0,\"peer\":\"p\"}",
         "held", "\"last_error\":\"\"", "next_attempt_ms"},
        {"{\"id\":\"a1\",\"state\":\"done\",\"attempts\":1,\"updated_ms\":77,"
         "\"peer\":\"p\",\"last_error\":\"\",\"verstat\":"
         "\"TN-Validation-Passed\",\"reason\":\"ok\",\"delivery_verstat\":"
         "\"No-TN-Validation\",\"delivery_reason\":\"stale_at_delivery\","
         "\"identity\":[\"tok\"],\"body_len\":5}",
         "delivered",
         "\"delivered_ms\":77,\"updated_ms\":77",
         "identity"},
        {"{\"id\":\"a1\",\"state\":\"dead\",\"dead_reason\":\"failed\","
         "\"attempts\":1,\"peer\":\"p\",\"last_error\":\"SIP 404\"}",
         "rejected", "\"last_error\":\"SIP 404\"", "delivered_ms"},
        {"{\"id\":\"a1\",\"state\":\"dead\",\"dead_reason\":\"expired\","
         "\"attempts\":1,\"peer\":\"p\",\"expires_ms\":12}",
         "expired", "\"expires_ms\":12", "delivered_ms"},
        {"{\"id\":\"a1\",\"state\":\"dead\",\"dead_reason\":\"lifetime\","
         "\"attempts\":3,\"peer\":\"p\",\"expires_ms\":0}",
         "expired", "\"attempts\":3", "expires_ms"},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char *out = NULL, want[64];
        int rc = proto_api_status_json(t[i].show, strlen(t[i].show), "p",
                                       &out);
        TU_INTEQ(rc, 0);
        TU_REQUIRE(out != NULL);
        snprintf(want, sizeof(want), "\"status\":\"%s\"", t[i].status);
        TU_CHECK(strstr(out, want) != NULL);
        TU_CHECK(strstr(out, t[i].has) != NULL);
        TU_CHECK(strstr(out, t[i].hasnt) == NULL);
        TU_CHECK(strstr(out, "body") == NULL);
        sg_free(out);
    }
}

TU_TEST(api_status_other_peer_and_nonsense)
{
    static const char show[] =
        "{\"id\":\"a1\",\"state\":\"done\",\"attempts\":1,\"peer\":\"p\"}";
    char *out = (char *)"x";

    TU_INTEQ(proto_api_status_json(show, sizeof(show) - 1, "q", &out), 1);
    TU_CHECK(out == NULL);
    TU_INTEQ(proto_api_status_json("[1]", 3, "p", &out), -1);
    TU_INTEQ(proto_api_status_json("{", 1, "p", &out), -1);
    TU_INTEQ(proto_api_status_json("{\"id\":\"a\",\"state\":\"odd\","
                                   "\"attempts\":1,\"peer\":\"p\"}",
                                   48, "p", &out),
             -1);
    TU_CHECK(out == NULL);
}
