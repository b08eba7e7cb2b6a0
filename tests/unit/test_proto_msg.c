/* Unit tests: the message envelope (proto_msg.h). */
#include "proto/proto_msg.h"
#include "lib/sg.h"
#include "tests/unit/tu.h"

#include <stdlib.h>

#define T(s) {(const uint8_t *)(s), sizeof(s) - 1}

static proto_msg
s_sample(void)
{
    static const uint8_t body[] = {0, 1, 2, 0xff, '\r', '\n'};
    proto_msg m = {.id = {0x01, 0x90},
                   .flags = PROTO_MSG_F_GATEWAY_SIGNED | PROTO_MSG_F_REPLAY_KEY,
                   .reason = REASON_STALE,
                   .verstat = PROTO_MSG_VERSTAT_FAILED,
                   .iat = 1700000000,
                   .resign_iat = 1700000100,
                   .received_ms = 1700000000123ull,
                   .expires_ms = 1700086400000ull,
                   .replay_key = {0xaa, 0xbb},
                   .from = T("+12025550100"),
                   .to = T("sip:+12025550111@example.net"),
                   .content_type = T("text/plain;charset=UTF-8"),
                   .peer = T("peer-a"),
                   .idem = T("client-123"),
                   .n_identity = 2,
                   .identity = {T("aaa.bbb.ccc;info=<https://x/c.pem>"),
                                T("ddd.eee.fff")}};
    m.body.p = body;
    m.body.len = sizeof(body);
    return m;
}

TU_TEST(msg_round_trip_is_exact)
{
    proto_msg m = s_sample(), d;
    size_t n;
    uint8_t *b = proto_msg_encode_new(&m, &n);

    TU_REQUIRE(b != NULL);
    TU_INTEQ(n, proto_msg_len(&m));
    TU_CHECK(proto_msg_decode(b, n, &d) == NULL);
    TU_CHECK(memcmp(d.id, m.id, 16) == 0);
    TU_INTEQ(d.flags, m.flags);
    TU_INTEQ(d.reason, REASON_STALE);
    TU_INTEQ(d.iat, 1700000000);
    TU_INTEQ(d.resign_iat, 1700000100);
    TU_INTEQ(d.expires_ms, 1700086400000ull);
    TU_CHECK(memcmp(d.replay_key, m.replay_key, 32) == 0);
    TU_CHECK(d.to.len == m.to.len && memcmp(d.to.p, m.to.p, d.to.len) == 0);
    TU_INTEQ(d.n_identity, 2);
    TU_CHECK(d.identity[1].len == 11);
    /* The body is bytes, exactly as received: CR LF and NUL included. */
    TU_CHECK(d.body.len == 6 && memcmp(d.body.p, m.body.p, 6) == 0);
    sg_free(b);
}

TU_TEST(msg_decoder_rejects_truncation_and_trailing)
{
    proto_msg m = s_sample(), d;
    size_t n;
    uint8_t *b = proto_msg_encode_new(&m, &n), *big;

    TU_REQUIRE(b != NULL);
    /* Every proper prefix is rejected. */
    for (size_t k = 0; k < n; k++)
        TU_CHECK(proto_msg_decode(b, k, &d) != NULL);
    big = sg_malloc(n + 1);
    memcpy(big, b, n);
    big[n] = 0;
    TU_CHECK(proto_msg_decode(big, n + 1, &d) != NULL);
    sg_free(big);
    /* Version, reserved, flags, reason, verstat. */
    b[0] = 2;
    TU_CHECK(proto_msg_decode(b, n, &d) != NULL);
    b[0] = 1;
    b[4] = 1;
    TU_CHECK(proto_msg_decode(b, n, &d) != NULL);
    b[4] = 0;
    b[1] = 0x80;
    TU_CHECK(proto_msg_decode(b, n, &d) != NULL);
    b[1] = PROTO_MSG_F_GATEWAY_SIGNED | PROTO_MSG_F_REPLAY_KEY;
    b[2] = REASON__COUNT;
    TU_CHECK(proto_msg_decode(b, n, &d) != NULL);
    b[2] = 0;
    b[3] = 3;
    TU_CHECK(proto_msg_decode(b, n, &d) != NULL);
    b[3] = 0;
    TU_CHECK(proto_msg_decode(b, n, &d) == NULL);
    sg_free(b);
}

TU_TEST(msg_check_limits)
{
    proto_msg m = s_sample();
    uint8_t *b;
    size_t n;

    m.from.len = 0;
    TU_CHECK(proto_msg_check(&m) != NULL);
    m = s_sample();
    m.to = (proto_bytes)T("+1202\r\nX: y");
    TU_CHECK(proto_msg_check(&m) != NULL); /* header injection */
    m = s_sample();
    m.flags = 0; /* replay key bytes without the flag */
    TU_CHECK(proto_msg_check(&m) != NULL);
    m = s_sample();
    m.n_identity = PROTO_MSG_IDENTITY_N + 1;
    TU_CHECK(proto_msg_check(&m) != NULL);
    m = s_sample();
    m.body.len = PROTO_MSG_BODY_MAX + 1;
    TU_CHECK(proto_msg_check(&m) != NULL);
    TU_CHECK(proto_msg_encode_new(&m, &n) == NULL);
    m = s_sample();
    m.n_identity = 0;
    m.flags = 0;
    memset(m.replay_key, 0, sizeof(m.replay_key));
    m.content_type.len = m.peer.len = m.idem.len = m.body.len = 0;
    m.from.len = m.to.len = 1;
    b = proto_msg_encode_new(&m, &n);
    TU_CHECK(b != NULL && n == PROTO_MSG_MIN);
    sg_free(b);
}

TU_TEST(msg_id_hex_and_uuidv7_shape)
{
    uint8_t id[16], back[16], rnd[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff};
    char hex[PROTO_MSG_ID_HEX];

    proto_msg_id_make(id, 0x0190f3c2a1b2ull, rnd);
    TU_STREQ(proto_msg_id_hex(id, hex), "0190f3c2a1b27fffbfffffffffffffff");
    TU_CHECK(proto_msg_id_parse(hex, back) == NULL);
    TU_CHECK(memcmp(id, back, 16) == 0);
    TU_CHECK(proto_msg_id_parse("0190F3C2A1B27FFFBFFFFFFFFFFFFFFF", back) ==
             NULL);
    TU_CHECK(proto_msg_id_parse("0190", back) != NULL);
    TU_CHECK(proto_msg_id_parse("0190f3c2a1b27fffbfffffffffffffff0", back) !=
             NULL);
    TU_CHECK(proto_msg_id_parse("0190f3c2a1b27fffbfffffffffffffxz", back) !=
             NULL);
    /* Later ids sort after earlier ones (LMDB keeps them in time order). */
    proto_msg_id_make(back, 0x0190f3c2a1b3ull, (uint8_t[10]){0});
    TU_CHECK(memcmp(id, back, 16) < 0);
}

TU_TEST(msg_status_url_flag)
{
    proto_msg m = s_sample(), d;
    uint8_t *b, *b0;
    size_t n, n0;

    /* Without the flag the bytes are those of before the field existed. */
    b0 = proto_msg_encode_new(&m, &n0);
    TU_REQUIRE(b0 != NULL);
    m.flags |= PROTO_MSG_F_STATUS_URL;
    m.status_url = (proto_bytes)T("https://client.example/status");
    b = proto_msg_encode_new(&m, &n);
    TU_REQUIRE(b != NULL);
    TU_INTEQ(n, n0 + 2 + 29);
    TU_CHECK(proto_msg_decode(b, n, &d) == NULL);
    TU_CHECK(d.status_url.len == 29 &&
             memcmp(d.status_url.p, "https://client.example/status", 29) ==
                 0);
    TU_CHECK(d.body.len == m.body.len &&
             memcmp(d.body.p, m.body.p, m.body.len) == 0);
    /* The flag without its field, the field without its flag. */
    b0[1] |= PROTO_MSG_F_STATUS_URL;
    TU_CHECK(proto_msg_decode(b0, n0, &d) != NULL);
    m.flags &= (uint8_t)~PROTO_MSG_F_STATUS_URL;
    TU_CHECK(proto_msg_check(&m) != NULL);
    m.flags |= PROTO_MSG_F_STATUS_URL;
    m.status_url = (proto_bytes)T("bad\r\nurl");
    TU_CHECK(proto_msg_check(&m) != NULL);
    sg_free(b);
    sg_free(b0);
}

TU_TEST(proto_msg_expires_relative_to_date_or_receipt)
{
    /* RFC 3428: a delta from Date when present, else from receipt. */
    TU_INTEQ(proto_msg_expires_at(5000000, 4000, 1, 60), 4060000);
    TU_INTEQ(proto_msg_expires_at(5000000, 0, 1, 60), 5060000);
    TU_INTEQ(proto_msg_expires_at(5000000, 4000, 0, 60), 0);
    /* Expires: 0 is "no message-level expiry" (proto_msg.h). */
    TU_INTEQ(proto_msg_expires_at(5000000, 0, 1, 0), 0);
    TU_INTEQ(proto_msg_expires_at(5000000, 4000, 1, 0), 0);
    /* The largest delta does not wrap. */
    TU_INTEQ(proto_msg_expires_at(5000000, 0, 1, UINT32_MAX),
             5000000 + (uint64_t)UINT32_MAX * 1000);
    /* Date + Expires before receipt: expired on arrival (ingest refuses). */
    TU_CHECK(proto_msg_expires_at(5000000, 4000, 1, 60) < 5000000);
}
