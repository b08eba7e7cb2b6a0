/* deliver/deliver_fresh.c - freshness at delivery (deliver_fresh.h). */
#include "deliver/deliver_fresh.h"

#include <string.h>

#include "proto/proto_wire.h"

static uint8_t
s_dreason(proto_reason r)
{
    return (uint8_t)(r + 1);
}

static void
s_send(deliver_fresh_t *out, uint8_t verstat, deliver_id_source src,
       uint8_t dreason)
{
    out->action = DELIVER_FRESH_SEND;
    out->verstat = verstat;
    out->id_src = src;
    out->dreason = dreason;
}

/* Age in whole seconds; an iat ahead of our clock counts as age 0. */
static int64_t
s_age(const proto_msg *m, uint64_t now_ms)
{
    int64_t now_s = (int64_t)(now_ms / 1000);

    return now_s > (int64_t)m->iat ? now_s - (int64_t)m->iat : 0;
}

/* Steps 3-5 of deliver_fresh.h, with the verdict to apply. */
static void
s_after_verdict(const proto_msg *m, uint64_t now_ms,
                const deliver_fresh_policy *p, uint8_t verstat,
                proto_reason reason, deliver_fresh_t *out)
{
    deliver_id_source src = m->n_identity ? DELIVER_ID_STORED : DELIVER_ID_NONE;

    if (m->flags & PROTO_MSG_F_GATEWAY_SIGNED) {
        if (m->n_identity > 0 && s_age(m, now_ms) > p->resign_after_s)
            src = DELIVER_ID_RESIGN;
        s_send(out, PROTO_MSG_VERSTAT_PASSED, src, s_dreason(REASON_OK));
        return;
    }
    if (verstat != PROTO_MSG_VERSTAT_PASSED) {
        s_send(out, verstat, src, s_dreason(reason));
        return;
    }
    /* Inclusive, as every freshness limit of DESIGN.md. */
    if (s_age(m, now_ms) <= p->max_age_s) {
        s_send(out, PROTO_MSG_VERSTAT_PASSED, src, s_dreason(REASON_OK));
        return;
    }
    if (p->on_stale == DELIVER_STALE_REJECT) {
        memset(out, 0, sizeof(*out));
        out->action = DELIVER_FRESH_REJECT;
        out->dreason = PROTO_DREASON_STALE_AT_DELIVERY;
        return;
    }
    /*
     * The signature was good when it arrived but is too old to vouch for
     * anything now: the Identity still goes out unchanged (a downstream
     * verifier with a store-and-forward policy may accept it), the
     * verstat says we no longer do.
     */
    s_send(out, PROTO_MSG_VERSTAT_NONE, src, PROTO_DREASON_STALE_AT_DELIVERY);
}

static int
s_past_deadline(const proto_msg *m, uint64_t now_ms,
                const deliver_fresh_policy *p)
{
    uint64_t limit = m->received_ms + (uint64_t)p->defer_deadline_s * 1000;

    return now_ms > limit;
}

void
deliver_fresh_decide(const proto_msg *m, uint64_t now_ms,
                     const deliver_fresh_policy *p, deliver_fresh_t *out)
{
    memset(out, 0, sizeof(*out));
    if (m->expires_ms != 0 && now_ms >= m->expires_ms) {
        out->action = DELIVER_FRESH_EXPIRED;
        return;
    }
    if ((m->flags & PROTO_MSG_F_DEFERRED) && m->n_identity > 0) {
        if (!s_past_deadline(m, now_ms, p)) {
            out->action = DELIVER_FRESH_VERIFY;
            return;
        }
        /* Gave up: nothing was verified, the Identity is left for the
         * next verifier to try. */
        s_send(out, PROTO_MSG_VERSTAT_NONE, DELIVER_ID_STORED,
               s_dreason(REASON_X5U_FETCH_FAILED));
        return;
    }
    s_after_verdict(m, now_ms, p, m->verstat, (proto_reason)m->reason, out);
}

void
deliver_fresh_verified(const proto_msg *m, uint64_t now_ms,
                       const deliver_fresh_policy *p, proto_reason r,
                       int peer_rejects, deliver_fresh_t *out)
{
    const proto_reason_info *ri = proto_reason_get(r);

    memset(out, 0, sizeof(*out));
    if (r == REASON_OK) {
        s_after_verdict(m, now_ms, p, PROTO_MSG_VERSTAT_PASSED, REASON_OK,
                        out);
        return;
    }
    if (ri != NULL && ri->transient) {
        if (!s_past_deadline(m, now_ms, p)) {
            out->action = DELIVER_FRESH_RETRY;
            out->dreason = s_dreason(r);
            return;
        }
        s_send(out, PROTO_MSG_VERSTAT_NONE, DELIVER_ID_STORED, s_dreason(r));
        return;
    }
    if (peer_rejects) {
        out->action = DELIVER_FRESH_FAIL;
        out->dreason = s_dreason(r);
        return;
    }
    s_send(out, PROTO_MSG_VERSTAT_FAILED, DELIVER_ID_STORED, s_dreason(r));
}

const char *
deliver_fresh_reason_name(const deliver_fresh_t *d)
{
    const char *n = proto_wire_dreason_name(d->dreason);

    if (d->action == DELIVER_FRESH_EXPIRED)
        return "expired";
    return n && *n ? n : "ok";
}
