/*
 * proto/proto_wire.c - frames, header and fixed bodies of the internal
 * protocol (proto/proto_wire.h, proto/PROTOCOL.md).
 */
#include "proto/proto_wire.h"

#include <string.h>

static const proto_wire_cmd_info s_cmds[] = {
#define PROTO_X_(name, num, dir, kind, lo, hi)                                 \
    {#name, num, PROTO_DIR_##dir, PROTO_BODY_##kind, lo, hi},
    PROTO_WIRE_COMMANDS(PROTO_X_)
#undef PROTO_X_
};

const proto_wire_cmd_info *
proto_wire_cmd_get(unsigned cmd)
{
    for (size_t i = 0; i < sizeof(s_cmds) / sizeof(s_cmds[0]); i++)
        if (s_cmds[i].num == cmd)
            return &s_cmds[i];
    return NULL;
}

const char *
proto_wire_cmd_name(unsigned cmd)
{
    const proto_wire_cmd_info *c = proto_wire_cmd_get(cmd);

    return c ? c->name : "?";
}

void
proto_wire_version_frame(uint8_t out[PROTO_WIRE_VFRAME_LEN])
{
    out[0] = 'S';
    out[1] = 'G';
    out[2] = 'W';
    out[3] = PROTO_WIRE_VERSION;
}

void
proto_wire_header(uint8_t out[PROTO_WIRE_HDR_LEN], proto_cmd cmd,
                  uint64_t corr, uint32_t body_len)
{
    proto_put_u16(out, (uint16_t)cmd);
    proto_put_u16(out + 2, 0);
    proto_put_u32(out + 4, body_len);
    proto_put_u64(out + 8, corr);
}

const char *
proto_wire_decode(const proto_wire_frame *frames, size_t nframes,
                  unsigned accept, proto_wire_msg *out)
{
    const uint8_t *v, *h;
    const proto_wire_cmd_info *ci;
    uint32_t blen;

    memset(out, 0, sizeof(*out));
    if (nframes != PROTO_WIRE_FRAMES)
        return "wrong number of frames";
    if (frames[0].len != PROTO_WIRE_VFRAME_LEN)
        return "version frame of wrong size";
    v = frames[0].p;
    if (v[0] != 'S' || v[1] != 'G' || v[2] != 'W')
        return "not a stirgate protocol message";
    if (v[3] != PROTO_WIRE_VERSION)
        return "unsupported protocol version";
    if (frames[1].len != PROTO_WIRE_HDR_LEN)
        return "header of wrong size";
    h = frames[1].p;
    ci = proto_wire_cmd_get(proto_get_u16(h));
    if (ci == NULL)
        return "unknown command";
    if ((ci->dir & accept) == 0)
        return "command not valid in this direction";
    /* Version 1 defines no flags: a set bit is a newer peer we misread. */
    if (proto_get_u16(h + 2) != 0)
        return "unknown header flags";
    blen = proto_get_u32(h + 4);
    if (blen != frames[2].len)
        return "body length differs from the header";
    if (blen < ci->min || blen > ci->max)
        return "body length out of bounds for the command";
    out->cmd = (proto_cmd)ci->num;
    out->corr = proto_get_u64(h + 8);
    out->body = blen ? frames[2].p : NULL;
    out->body_len = blen;
    return NULL;
}

static const char *const s_states[] = {NULL,   "queued", "leased",
                                       "held", "dead",   "done"};

const char *
proto_state_name(unsigned state)
{
    return state >= 1 && state <= PROTO_STATE_MAX ? s_states[state] : NULL;
}

unsigned
proto_state_from_name(const char *name)
{
    for (unsigned i = 1; i <= PROTO_STATE_MAX; i++)
        if (strcmp(s_states[i], name) == 0)
            return i;
    return 0;
}

/* Error and refusal texts: printable ASCII, they go to logs and tools. */
static int
s_text_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return 0;
    return 1;
}

static const char *
s_text(const uint8_t *b, size_t n, size_t off, proto_text *t)
{
    if (n < off)
        return "body shorter than its fixed part";
    if (n - off > PROTO_WIRE_TEXT_MAX)
        return "text too long";
    if (!s_text_ok(b + off, n - off))
        return "text not printable";
    t->p = n > off ? b + off : NULL;
    t->len = n - off;
    return NULL;
}

size_t
proto_wire_refused_encode(const proto_refused *v, uint8_t *out, size_t outsz)
{
    size_t n = 24 + v->text.len + (v->has_holder ? 1 + PROTO_MSG_ID_LEN : 0);

    if (v->text.len > PROTO_WIRE_TEXT_MAX || outsz < n ||
        v->code < PROTO_REFUSED_AGAIN || v->code > PROTO_REFUSED_REPLAY ||
        (v->has_holder && v->code != PROTO_REFUSED_REPLAY) ||
        !s_text_ok(v->text.p, v->text.len))
        return 0;
    proto_put_u32(out, v->code);
    proto_put_u32(out + 4, v->retry_after_ms);
    memcpy(out + 8, v->id, PROTO_MSG_ID_LEN);
    if (v->text.len)
        memcpy(out + 24, v->text.p, v->text.len);
    if (v->has_holder) {
        out[24 + v->text.len] = 0;
        memcpy(out + 25 + v->text.len, v->holder, PROTO_MSG_ID_LEN);
    }
    return n;
}

const char *
proto_wire_refused_decode(const uint8_t *b, size_t n, proto_refused *v)
{
    const size_t tail = 1 + PROTO_MSG_ID_LEN;

    if (n < 24)
        return "REFUSED body too short";
    v->code = proto_get_u32(b);
    if (v->code < PROTO_REFUSED_AGAIN || v->code > PROTO_REFUSED_REPLAY)
        return "unknown REFUSED code";
    v->retry_after_ms = proto_get_u32(b + 4);
    memcpy(v->id, b + 8, PROTO_MSG_ID_LEN);
    v->has_holder = 0;
    memset(v->holder, 0, PROTO_MSG_ID_LEN);
    /* The text is printable, so a NUL 17 bytes from the end can only be
     * the holder's marker (see proto_refused). */
    if (n >= 24 + tail && b[n - tail] == 0) {
        if (v->code != PROTO_REFUSED_REPLAY)
            return "REFUSED holder id on a refusal other than replay";
        v->has_holder = 1;
        memcpy(v->holder, b + n - PROTO_MSG_ID_LEN, PROTO_MSG_ID_LEN);
        n -= tail;
    }
    return s_text(b, n, 24, &v->text);
}

void
proto_wire_check_replay_encode(const proto_check_replay *v, uint8_t out[40])
{
    memcpy(out, v->key, PROTO_MSG_REPLAY_LEN);
    proto_put_u32(out + 32, v->window_s);
    proto_put_u32(out + 36, 0);
}

const char *
proto_wire_check_replay_decode(const uint8_t *b, size_t n,
                               proto_check_replay *v)
{
    if (n != 40)
        return "CHECK_REPLAY body of wrong size";
    memcpy(v->key, b, PROTO_MSG_REPLAY_LEN);
    v->window_s = proto_get_u32(b + 32);
    if (v->window_s == 0 || v->window_s > PROTO_REPLAY_WINDOW_MAX)
        return "replay window out of bounds";
    if (proto_get_u32(b + 36) != 0)
        return "reserved field not zero";
    return NULL;
}

void
proto_wire_u32_encode(uint32_t v, uint8_t out[4])
{
    proto_put_u32(out, v);
}

const char *
proto_wire_u32_decode(const uint8_t *b, size_t n, uint32_t *v)
{
    if (n != 4)
        return "body of wrong size";
    *v = proto_get_u32(b);
    return NULL;
}

const char *
proto_wire_credit_decode(const uint8_t *b, size_t n, int ready,
                         uint32_t *credit)
{
    if (n != 4)
        return "credit body of wrong size";
    *credit = proto_get_u32(b);
    if (*credit > PROTO_WIRE_CREDIT_MAX)
        return "credit out of bounds";
    if (ready && *credit == 0)
        return "READY with zero credit";
    return NULL;
}

void
proto_wire_job_prefix(uint32_t attempt, uint64_t lease_until_ms,
                      uint8_t out[16])
{
    proto_put_u32(out, attempt);
    proto_put_u32(out + 4, 0);
    proto_put_u64(out + 8, lease_until_ms);
}

const char *
proto_wire_job_decode(const uint8_t *b, size_t n, proto_job *v)
{
    if (n < 16)
        return "JOB body too short";
    v->attempt = proto_get_u32(b);
    if (v->attempt == 0)
        return "JOB attempt zero";
    if (proto_get_u32(b + 4) != 0)
        return "reserved field not zero";
    v->lease_until_ms = proto_get_u64(b + 8);
    v->env = b + 16;
    v->env_len = n - 16;
    return NULL;
}

size_t
proto_wire_done_encode(const proto_done *v, uint8_t *out, size_t outsz)
{
    if (v->error.len > PROTO_WIRE_TEXT_MAX || outsz < 32 + v->error.len ||
        v->outcome < PROTO_OUTCOME_DELIVERED ||
        v->outcome > PROTO_OUTCOME_MAX ||
        v->dverstat > PROTO_MSG_VERSTAT_FAILED + 1 ||
        proto_wire_dreason_name(v->dreason) == NULL)
        return 0;
    memcpy(out, v->id, PROTO_MSG_ID_LEN);
    proto_put_u32(out + 16, v->attempt);
    proto_put_u32(out + 20, v->outcome);
    proto_put_u32(out + 24, v->retry_after_ms);
    out[28] = v->dverstat;
    out[29] = v->dreason;
    proto_put_u16(out + 30, 0);
    if (v->error.len)
        memcpy(out + 32, v->error.p, v->error.len);
    return 32 + v->error.len;
}

const char *
proto_wire_done_decode(const uint8_t *b, size_t n, proto_done *v)
{
    if (n < 32)
        return "DONE body too short";
    memcpy(v->id, b, PROTO_MSG_ID_LEN);
    v->attempt = proto_get_u32(b + 16);
    v->outcome = proto_get_u32(b + 20);
    v->retry_after_ms = proto_get_u32(b + 24);
    if (v->outcome < PROTO_OUTCOME_DELIVERED || v->outcome > PROTO_OUTCOME_MAX)
        return "unknown DONE outcome";
    v->dverstat = b[28];
    v->dreason = b[29];
    if (v->dverstat > PROTO_MSG_VERSTAT_FAILED + 1)
        return "unknown delivery verstat";
    if (proto_wire_dreason_name(v->dreason) == NULL)
        return "unknown delivery reason";
    if (proto_get_u16(b + 30) != 0)
        return "reserved field not zero";
    return s_text(b, n, 32, &v->error);
}

void
proto_wire_list_encode(const proto_list *v, uint8_t out[8])
{
    proto_put_u32(out, v->state);
    proto_put_u32(out + 4, v->limit);
}

const char *
proto_wire_list_decode(const uint8_t *b, size_t n, proto_list *v)
{
    if (n != 8)
        return "LIST body of wrong size";
    v->state = proto_get_u32(b);
    v->limit = proto_get_u32(b + 4);
    if (v->state > PROTO_STATE_MAX)
        return "unknown state";
    if (v->limit == 0 || v->limit > PROTO_WIRE_LIST_MAX)
        return "LIST limit out of bounds";
    return NULL;
}

void
proto_wire_requeue_encode(const proto_requeue *v, uint8_t out[24])
{
    proto_put_u32(out, v->flags);
    proto_put_u32(out + 4, 0);
    memcpy(out + 8, v->id, PROTO_MSG_ID_LEN);
}

const char *
proto_wire_requeue_decode(const uint8_t *b, size_t n, proto_requeue *v)
{
    static const uint8_t zero[PROTO_MSG_ID_LEN];

    if (n != 24)
        return "REQUEUE body of wrong size";
    v->flags = proto_get_u32(b);
    if ((v->flags & ~PROTO_REQUEUE_ALL) != 0)
        return "unknown REQUEUE flags";
    if (proto_get_u32(b + 4) != 0)
        return "reserved field not zero";
    memcpy(v->id, b + 8, PROTO_MSG_ID_LEN);
    /* "All" with an id would be ambiguous: which one did the tool mean? */
    if ((v->flags & PROTO_REQUEUE_ALL) &&
        memcmp(v->id, zero, PROTO_MSG_ID_LEN) != 0)
        return "REQUEUE all with an id";
    return NULL;
}

size_t
proto_wire_ctl_err_encode(const proto_ctl_err *v, uint8_t *out, size_t outsz)
{
    if (v->text.len > PROTO_WIRE_TEXT_MAX || outsz < 4 + v->text.len ||
        v->code < PROTO_CTL_NO_SUCH || v->code > PROTO_CTL_INVALID)
        return 0;
    proto_put_u32(out, v->code);
    if (v->text.len)
        memcpy(out + 4, v->text.p, v->text.len);
    return 4 + v->text.len;
}

const char *
proto_wire_ctl_err_decode(const uint8_t *b, size_t n, proto_ctl_err *v)
{
    if (n < 4)
        return "CTL_ERR body too short";
    v->code = proto_get_u32(b);
    if (v->code < PROTO_CTL_NO_SUCH || v->code > PROTO_CTL_INVALID)
        return "unknown CTL_ERR code";
    return s_text(b, n, 4, &v->text);
}

void
proto_wire_resigned_encode(const proto_resigned *v, uint8_t out[32])
{
    memcpy(out, v->id, PROTO_MSG_ID_LEN);
    proto_put_u32(out + 16, v->attempt);
    proto_put_u32(out + 20, 0);
    proto_put_u64(out + 24, v->resign_iat);
}

const char *
proto_wire_resigned_decode(const uint8_t *b, size_t n, proto_resigned *v)
{
    if (n != 32)
        return "RESIGNED body of the wrong size";
    memcpy(v->id, b, PROTO_MSG_ID_LEN);
    v->attempt = proto_get_u32(b + 16);
    v->resign_iat = proto_get_u64(b + 24);
    if (proto_get_u32(b + 20) != 0)
        return "reserved field not zero";
    if (v->resign_iat == 0)
        return "RESIGNED without a resign iat";
    return NULL;
}

const char *
proto_wire_dreason_name(uint8_t dreason)
{
    if (dreason == 0)
        return "";
    if (dreason == PROTO_DREASON_STALE_AT_DELIVERY)
        return "stale_at_delivery";
    if (dreason <= REASON__COUNT)
        return proto_reason_name((proto_reason)(dreason - 1));
    return NULL;
}
