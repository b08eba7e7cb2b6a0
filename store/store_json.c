/*
 * store/store_json.c - records and counters as JSON (store_json.h).
 *
 * SHOW (full) fields: id, state, attempts, created_ms, updated_ms,
 * expire_ms, next_due_ms (queued), lease_until_ms (leased),
 * keep_until_ms (dead, done), dead_reason (dead), last_error, from, to,
 * body_len; then content_type, peer, idempotency_id, reason, verstat,
 * delivery_verstat and delivery_reason (once deliver reported them),
 * status_url (when given), iat, resign_iat, received_ms, expires_ms,
 * gateway_signed, verification_deferred, has_replay_key, identity_lens
 * and identity (the Identity header values).  LIST has the fields up to
 * body_len.  Never the body.
 */
#include "store/store_json.h"

#include "lib/sg.h"

static void
s_set(json_t *o, const char *k, json_t *v)
{
    if (v == NULL || json_object_set_new(o, k, v) != 0)
        sg_panic("jansson: out of memory");
}

static json_t *
s_str(const proto_bytes *b)
{
    /* Envelope text is printable ASCII (proto_msg_decode checked it). */
    return json_stringn(b->len ? (const char *)b->p : "", b->len);
}

static json_t *
s_ms(uint64_t v)
{
    return json_integer((json_int_t)(v > INT64_MAX ? INT64_MAX : v));
}

static const char *
s_verstat_name(uint8_t v)
{
    return v == PROTO_MSG_VERSTAT_PASSED   ? "TN-Validation-Passed"
           : v == PROTO_MSG_VERSTAT_FAILED ? "TN-Validation-Failed"
                                           : "No-TN-Validation";
}

json_t *
store_json_record(const uint8_t id[PROTO_MSG_ID_LEN], const store_record *r,
                  int full)
{
    const proto_msg *m = &r->msg;
    char hex[PROTO_MSG_ID_HEX];
    json_t *o = json_object();

    if (o == NULL)
        sg_panic("jansson: out of memory");
    s_set(o, "id", json_string(proto_msg_id_hex(id, hex)));
    s_set(o, "state", json_string(proto_state_name(r->state)));
    s_set(o, "attempts", json_integer(r->attempts));
    s_set(o, "created_ms", s_ms(r->created_ms));
    s_set(o, "updated_ms", s_ms(r->updated_ms));
    s_set(o, "expire_ms", s_ms(r->expire_ms));
    if (r->state == PROTO_STATE_QUEUED)
        s_set(o, "next_due_ms", s_ms(r->next_due_ms));
    if (r->state == PROTO_STATE_LEASED)
        s_set(o, "lease_until_ms", s_ms(r->lease_until_ms));
    if (r->state == PROTO_STATE_DEAD || r->state == PROTO_STATE_DONE)
        s_set(o, "keep_until_ms", s_ms(r->keep_until_ms));
    if (r->state == PROTO_STATE_DEAD)
        s_set(o, "dead_reason",
              json_string(store_record_dead_name(r->dead_reason)));
    s_set(o, "last_error",
          json_stringn(r->last_error.len ? (const char *)r->last_error.p : "",
                       r->last_error.len));
    s_set(o, "from", s_str(&m->from));
    s_set(o, "to", s_str(&m->to));
    s_set(o, "body_len", json_integer((json_int_t)m->body.len));
    if (!full)
        return o;
    s_set(o, "content_type", s_str(&m->content_type));
    s_set(o, "peer", s_str(&m->peer));
    s_set(o, "idempotency_id", s_str(&m->idem));
    s_set(o, "reason", json_string(proto_reason_name(m->reason)));
    s_set(o, "verstat", json_string(s_verstat_name(m->verstat)));
    if (r->dverstat)
        s_set(o, "delivery_verstat",
              json_string(s_verstat_name((uint8_t)(r->dverstat - 1))));
    if (r->dreason)
        s_set(o, "delivery_reason",
              json_string(proto_wire_dreason_name(r->dreason)));
    if (m->flags & PROTO_MSG_F_STATUS_URL)
        s_set(o, "status_url", s_str(&m->status_url));
    s_set(o, "iat", s_ms(m->iat));
    s_set(o, "resign_iat", s_ms(m->resign_iat));
    s_set(o, "received_ms", s_ms(m->received_ms));
    s_set(o, "expires_ms", s_ms(m->expires_ms));
    s_set(o, "gateway_signed",
          json_boolean(m->flags & PROTO_MSG_F_GATEWAY_SIGNED));
    s_set(o, "verification_deferred",
          json_boolean(m->flags & PROTO_MSG_F_DEFERRED));
    s_set(o, "has_replay_key",
          json_boolean(m->flags & PROTO_MSG_F_REPLAY_KEY));
    /*
     * The Identity values themselves: PASSporTs are public signatures,
     * sent to every hop, so an operator (and the status of a message) may
     * see them.  The body stays out: only its length above.
     */
    {
        json_t *a = json_array(), *v = json_array();
        if (a == NULL || v == NULL)
            sg_panic("jansson: out of memory");
        for (size_t i = 0; i < m->n_identity; i++)
            if (json_array_append_new(
                    a, json_integer((json_int_t)m->identity[i].len)) != 0 ||
                json_array_append_new(v, s_str(&m->identity[i])) != 0)
                sg_panic("jansson: out of memory");
        s_set(o, "identity_lens", a);
        s_set(o, "identity", v);
    }
    return o;
}

json_t *
store_json_stats(const store_db_stats *st)
{
    json_t *o = json_object();

    if (o == NULL)
        sg_panic("jansson: out of memory");
    s_set(o, "total", s_ms(st->total));
    s_set(o, "queued", s_ms(st->queued));
    s_set(o, "leased", s_ms(st->leased));
    s_set(o, "held", s_ms(st->held));
    s_set(o, "finished", s_ms(st->finished));
    s_set(o, "replay_keys", s_ms(st->replay_keys));
    s_set(o, "quarantined", s_ms(st->quarantined));
    s_set(o, "map_size", s_ms(st->map_size));
    s_set(o, "map_used", s_ms(st->map_used));
    return o;
}
