/* Unit tests: the internal protocol frames and bodies (proto_wire.h). */
#include "proto/proto_wire.h"
#include "tests/unit/tu.h"

static void
s_frames(proto_wire_frame f[3], uint8_t vf[4], uint8_t hdr[16], unsigned cmd,
         uint32_t hlen, const void *body, size_t blen)
{
    proto_wire_version_frame(vf);
    proto_wire_header(hdr, (proto_cmd)cmd, 42, hlen);
    f[0] = (proto_wire_frame){vf, 4};
    f[1] = (proto_wire_frame){hdr, 16};
    f[2] = (proto_wire_frame){body, blen};
}

TU_TEST(wire_table_is_consistent)
{
    /* Every row: known name, min <= max <= body cap, unique number. */
    for (unsigned a = 0; a < 100; a++) {
        const proto_wire_cmd_info *c = proto_wire_cmd_get(a);
        if (c == NULL)
            continue;
        TU_CHECK(c->num == a);
        TU_CHECK(c->min <= c->max);
        TU_CHECK(c->max <= PROTO_WIRE_BODY_MAX);
        TU_CHECK(c->kind != PROTO_BODY_FIXED || c->min == c->max);
        TU_CHECK(c->kind != PROTO_BODY_NONE || c->max == 0);
    }
    TU_STREQ(proto_wire_cmd_name(PROTO_CMD_STORE), "STORE");
    TU_STREQ(proto_wire_cmd_name(999), "?");
}

TU_TEST(wire_decode_accepts_valid)
{
    proto_wire_frame f[3];
    uint8_t vf[4], hdr[16], body[4] = {1, 0, 0, 0};
    proto_wire_msg m;

    s_frames(f, vf, hdr, PROTO_CMD_READY, 4, body, 4);
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) == NULL);
    TU_INTEQ(m.cmd, PROTO_CMD_READY);
    TU_INTEQ(m.corr, 42);
    TU_INTEQ(m.body_len, 4);
    s_frames(f, vf, hdr, PROTO_CMD_STATS, 0, "", 0);
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) == NULL);
    TU_CHECK(m.body == NULL);
}

TU_TEST(wire_decode_rejects_every_wrong_shape)
{
    proto_wire_frame f[3];
    uint8_t vf[4], hdr[16], body[40] = {0};
    proto_wire_msg m;

    /* frame count */
    s_frames(f, vf, hdr, PROTO_CMD_READY, 4, body, 4);
    TU_CHECK(proto_wire_decode(f, 2, PROTO_DIR_TO_STORE, &m) != NULL);
    TU_CHECK(proto_wire_decode(f, 4, PROTO_DIR_TO_STORE, &m) != NULL);
    /* version frame size, magic, version */
    f[0].len = 3;
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) != NULL);
    f[0].len = 4;
    vf[0] = 'X';
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) != NULL);
    vf[0] = 'S';
    vf[3] = 2;
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) != NULL);
    /* header size */
    s_frames(f, vf, hdr, PROTO_CMD_READY, 4, body, 4);
    f[1].len = 15;
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) != NULL);
    /* unknown command */
    s_frames(f, vf, hdr, 77, 4, body, 4);
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) != NULL);
    /* direction: JOB comes from the store, READY goes to it */
    s_frames(f, vf, hdr, PROTO_CMD_READY, 4, body, 4);
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_FROM_STORE, &m) != NULL);
    /* flags */
    s_frames(f, vf, hdr, PROTO_CMD_READY, 4, body, 4);
    hdr[2] = 1;
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) != NULL);
    /* body length vs header, and bounds */
    s_frames(f, vf, hdr, PROTO_CMD_READY, 5, body, 4);
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) != NULL);
    s_frames(f, vf, hdr, PROTO_CMD_READY, 5, body, 5);
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) != NULL);
    s_frames(f, vf, hdr, PROTO_CMD_STORE, 10, body, 10);
    TU_CHECK(proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &m) != NULL);
}

TU_TEST(wire_bodies_round_trip)
{
    uint8_t b[600];
    size_t n;
    proto_refused r = {PROTO_REFUSED_AGAIN, 1500, {1, 2, 3},
                       {(const uint8_t *)"full", 4}, 0, {0}}, r2;
    proto_done d = {{9}, 3, PROTO_OUTCOME_RETRY, 2000,
                    {(const uint8_t *)"503", 3}, 2, 1}, d2;
    proto_list l = {PROTO_STATE_DEAD, 10}, l2;
    proto_requeue q = {PROTO_REQUEUE_ALL, {0}}, q2;
    proto_check_replay c = {{7}, 60}, c2;
    proto_ctl_err e = {PROTO_CTL_NO_SUCH, {(const uint8_t *)"no", 2}}, e2;
    uint32_t credit;

    n = proto_wire_refused_encode(&r, b, sizeof(b));
    TU_INTEQ(n, 28);
    TU_CHECK(proto_wire_refused_decode(b, n, &r2) == NULL);
    TU_INTEQ(r2.retry_after_ms, 1500);
    TU_CHECK(r2.text.len == 4 && memcmp(r2.text.p, "full", 4) == 0);
    b[24] = '\n'; /* text must be printable */
    TU_CHECK(proto_wire_refused_decode(b, n, &r2) != NULL);

    n = proto_wire_done_encode(&d, b, sizeof(b));
    TU_CHECK(proto_wire_done_decode(b, n, &d2) == NULL);
    TU_INTEQ(d2.attempt, 3);
    TU_INTEQ(d2.outcome, PROTO_OUTCOME_RETRY);
    TU_INTEQ(d2.retry_after_ms, 2000);
    TU_INTEQ(d2.dverstat, 2);
    TU_INTEQ(d2.dreason, 1);
    b[20] = 9; /* unknown outcome */
    TU_CHECK(proto_wire_done_decode(b, n, &d2) != NULL);
    b[20] = PROTO_OUTCOME_WAIT;
    TU_CHECK(proto_wire_done_decode(b, n, &d2) == NULL);
    b[28] = 4; /* verstat + 1 out of range */
    TU_CHECK(proto_wire_done_decode(b, n, &d2) != NULL);
    b[28] = 0;
    b[30] = 1; /* reserved */
    TU_CHECK(proto_wire_done_decode(b, n, &d2) != NULL);
    b[30] = 0;
    {
        proto_resigned rs = {{5}, 2, 1700000000}, rs2;
        uint8_t rb[32];
        proto_wire_resigned_encode(&rs, rb);
        TU_CHECK(proto_wire_resigned_decode(rb, 32, &rs2) == NULL);
        TU_INTEQ(rs2.resign_iat, 1700000000);
        TU_INTEQ(rs2.attempt, 2);
        rs.resign_iat = 0;
        proto_wire_resigned_encode(&rs, rb);
        TU_CHECK(proto_wire_resigned_decode(rb, 32, &rs2) != NULL);
    }

    proto_wire_list_encode(&l, b);
    TU_CHECK(proto_wire_list_decode(b, 8, &l2) == NULL);
    TU_INTEQ(l2.state, PROTO_STATE_DEAD);
    l.limit = 0;
    proto_wire_list_encode(&l, b);
    TU_CHECK(proto_wire_list_decode(b, 8, &l2) != NULL);

    proto_wire_requeue_encode(&q, b);
    TU_CHECK(proto_wire_requeue_decode(b, 24, &q2) == NULL);
    b[10] = 1; /* "all" with an id is ambiguous */
    TU_CHECK(proto_wire_requeue_decode(b, 24, &q2) != NULL);

    proto_wire_check_replay_encode(&c, b);
    TU_CHECK(proto_wire_check_replay_decode(b, 40, &c2) == NULL);
    TU_INTEQ(c2.window_s, 60);
    c.window_s = 0;
    proto_wire_check_replay_encode(&c, b);
    TU_CHECK(proto_wire_check_replay_decode(b, 40, &c2) != NULL);

    n = proto_wire_ctl_err_encode(&e, b, sizeof(b));
    TU_CHECK(proto_wire_ctl_err_decode(b, n, &e2) == NULL);
    TU_INTEQ(e2.code, PROTO_CTL_NO_SUCH);

    proto_wire_u32_encode(0, b);
    TU_CHECK(proto_wire_credit_decode(b, 4, 1, &credit) != NULL);
    TU_CHECK(proto_wire_credit_decode(b, 4, 0, &credit) == NULL);
    proto_wire_u32_encode(PROTO_WIRE_CREDIT_MAX + 1, b);
    TU_CHECK(proto_wire_credit_decode(b, 4, 1, &credit) != NULL);
}

TU_TEST(wire_state_names)
{
    TU_STREQ(proto_state_name(PROTO_STATE_QUEUED), "queued");
    TU_STREQ(proto_state_name(PROTO_STATE_DONE), "done");
    TU_CHECK(proto_state_name(0) == NULL);
    TU_INTEQ(proto_state_from_name("held"), PROTO_STATE_HELD);
    TU_INTEQ(proto_state_from_name("nope"), 0);
}

TU_TEST(wire_refused_replay_holder)
{
    static const char text[] = "replay key already seen";
    uint8_t b[600], holder[PROTO_MSG_ID_LEN];
    size_t n, tl = sizeof(text) - 1;
    proto_refused r, r2;

    memset(&r, 0, sizeof(r));
    memset(holder, 0xab, sizeof(holder));
    holder[3] = 0; /* ids may hold NULs: only the marker position counts */
    r.code = PROTO_REFUSED_REPLAY;
    r.id[0] = 1;
    r.text = (proto_text){(const uint8_t *)text, tl};
    r.has_holder = 1;
    memcpy(r.holder, holder, sizeof(holder));
    n = proto_wire_refused_encode(&r, b, sizeof(b));
    TU_INTEQ(n, 24 + tl + 17);
    TU_CHECK(proto_wire_refused_decode(b, n, &r2) == NULL);
    TU_INTEQ(r2.has_holder, 1);
    TU_CHECK(memcmp(r2.holder, holder, sizeof(holder)) == 0);
    TU_CHECK(r2.text.len == tl && memcmp(r2.text.p, text, tl) == 0);

    /* A refusal from a store before the holder: no holder, same text. */
    r.has_holder = 0;
    n = proto_wire_refused_encode(&r, b, sizeof(b));
    TU_CHECK(proto_wire_refused_decode(b, n, &r2) == NULL);
    TU_INTEQ(r2.has_holder, 0);
    TU_CHECK(r2.text.len == tl);

    /* Empty text with a holder: the marker right after the fixed part. */
    r.has_holder = 1;
    r.text = (proto_text){NULL, 0};
    n = proto_wire_refused_encode(&r, b, sizeof(b));
    TU_INTEQ(n, 41);
    TU_CHECK(proto_wire_refused_decode(b, n, &r2) == NULL);
    TU_CHECK(r2.has_holder && r2.text.len == 0);

    /* A holder only comes with replay. */
    r.code = PROTO_REFUSED_AGAIN;
    TU_INTEQ(proto_wire_refused_encode(&r, b, sizeof(b)), 0);
    proto_put_u32(b, PROTO_REFUSED_AGAIN);
    TU_CHECK(proto_wire_refused_decode(b, 41, &r2) != NULL);

    /* Text over the maximum, with or without the holder, is refused. */
    memset(b + 24, 'x', PROTO_WIRE_TEXT_MAX + 1);
    proto_put_u32(b, PROTO_REFUSED_REPLAY);
    TU_CHECK(proto_wire_refused_decode(b, 24 + PROTO_WIRE_TEXT_MAX + 1, &r2) !=
             NULL);
}
