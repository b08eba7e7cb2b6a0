/*
 * proto/proto_msg.c - the message envelope codec (proto/proto_msg.h,
 * proto/PROTOCOL.md "The envelope").
 */
#include "proto/proto_msg.h"

#include <stdlib.h>
#include <string.h>

#include "lib/sg.h"

/* Printable ASCII only: these bytes end up in SIP headers and JSON. */
static int
s_printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return 0;
    return 1;
}

static const char *
s_check_text(const proto_bytes *t, size_t lo, size_t hi, const char *name_short,
             const char *name_long, const char *name_bad)
{
    if (t->len < lo)
        return name_short;
    if (t->len > hi)
        return name_long;
    if (t->len > 0 && (t->p == NULL || !s_printable(t->p, t->len)))
        return name_bad;
    return NULL;
}

const char *
proto_msg_check(const proto_msg *m)
{
    const char *why;

    if ((m->flags & ~PROTO_MSG_F_ALL) != 0)
        return "unknown flag bits";
    if (m->reason >= REASON__COUNT)
        return "unknown reason";
    if (m->verstat > PROTO_MSG_VERSTAT_FAILED)
        return "unknown verstat";
    if (!(m->flags & PROTO_MSG_F_REPLAY_KEY)) {
        for (size_t i = 0; i < PROTO_MSG_REPLAY_LEN; i++)
            if (m->replay_key[i] != 0)
                return "replay key without its flag";
    }
    if ((why = s_check_text(&m->from, 1, PROTO_MSG_URI_MAX, "from empty",
                            "from too long", "from not printable")) ||
        (why = s_check_text(&m->to, 1, PROTO_MSG_URI_MAX, "to empty",
                            "to too long", "to not printable")) ||
        (why = s_check_text(&m->content_type, 0, PROTO_MSG_CTYPE_MAX, "",
                            "content type too long",
                            "content type not printable")) ||
        (why = s_check_text(&m->peer, 0, PROTO_MSG_PEER_MAX, "",
                            "peer too long", "peer not printable")) ||
        (why = s_check_text(&m->idem, 0, PROTO_MSG_IDEM_MAX, "",
                            "idempotency id too long",
                            "idempotency id not printable")))
        return why;
    if ((m->flags & PROTO_MSG_F_STATUS_URL) &&
        (why = s_check_text(&m->status_url, 1, PROTO_MSG_STATUS_URL_MAX,
                            "status URL empty", "status URL too long",
                            "status URL not printable")))
        return why;
    if (!(m->flags & PROTO_MSG_F_STATUS_URL) && m->status_url.len != 0)
        return "status URL without its flag";
    if (m->n_identity > PROTO_MSG_IDENTITY_N)
        return "too many Identity values";
    for (size_t i = 0; i < m->n_identity; i++)
        if ((why = s_check_text(&m->identity[i], 1, PROTO_MSG_IDENTITY_MAX,
                                "Identity value empty",
                                "Identity value too long",
                                "Identity value not printable")))
            return why;
    if (m->body.len > PROTO_MSG_BODY_MAX)
        return "body too long";
    if (m->body.len > 0 && m->body.p == NULL)
        return "body missing";
    return NULL;
}

size_t
proto_msg_len(const proto_msg *m)
{
    /* Bounded by the limits proto_msg_check enforces: no overflow. */
    size_t n = PROTO_MSG_PREFIX + 5 * 2 + m->from.len + m->to.len +
               m->content_type.len + m->peer.len + m->idem.len + m->body.len;

    for (size_t i = 0; i < m->n_identity; i++)
        n += 4 + m->identity[i].len;
    if (m->flags & PROTO_MSG_F_STATUS_URL)
        n += 2 + m->status_url.len;
    return n;
}

static uint8_t *
s_put_text16(uint8_t *p, const proto_bytes *t)
{
    proto_put_u16(p, (uint16_t)t->len);
    if (t->len)
        memcpy(p + 2, t->p, t->len);
    return p + 2 + t->len;
}

size_t
proto_msg_encode(const proto_msg *m, uint8_t *out, size_t outsz)
{
    size_t n;
    uint8_t *p = out;

    if (proto_msg_check(m) != NULL)
        return 0;
    n = proto_msg_len(m);
    if (outsz < n)
        return 0;
    memset(p, 0, PROTO_MSG_PREFIX);
    p[0] = PROTO_MSG_VERSION;
    p[1] = m->flags;
    p[2] = m->reason;
    p[3] = m->verstat;
    memcpy(p + 8, m->id, PROTO_MSG_ID_LEN);
    proto_put_u64(p + 24, m->iat);
    proto_put_u64(p + 32, m->resign_iat);
    proto_put_u64(p + 40, m->received_ms);
    proto_put_u64(p + 48, m->expires_ms);
    memcpy(p + 56, m->replay_key, PROTO_MSG_REPLAY_LEN);
    proto_put_u32(p + 88, (uint32_t)m->body.len);
    proto_put_u16(p + 92, (uint16_t)m->n_identity);
    p += PROTO_MSG_PREFIX;
    p = s_put_text16(p, &m->from);
    p = s_put_text16(p, &m->to);
    p = s_put_text16(p, &m->content_type);
    p = s_put_text16(p, &m->peer);
    p = s_put_text16(p, &m->idem);
    if (m->flags & PROTO_MSG_F_STATUS_URL)
        p = s_put_text16(p, &m->status_url);
    for (size_t i = 0; i < m->n_identity; i++) {
        proto_put_u32(p, (uint32_t)m->identity[i].len);
        memcpy(p + 4, m->identity[i].p, m->identity[i].len);
        p += 4 + m->identity[i].len;
    }
    if (m->body.len)
        memcpy(p, m->body.p, m->body.len);
    p += m->body.len;
    return (size_t)(p - out);
}

uint8_t *
proto_msg_encode_new(const proto_msg *m, size_t *len)
{
    uint8_t *b;

    if (proto_msg_check(m) != NULL)
        return NULL;
    *len = proto_msg_len(m);
    b = sg_malloc(*len);
    if (proto_msg_encode(m, b, *len) != *len)
        sg_panic("proto_msg_encode: length changed");
    return b;
}

/*
 * A cursor over untrusted bytes: every take checks the remaining length
 * first, so no arithmetic on outside lengths can run past the end.
 */
typedef struct {
    const uint8_t *p;
    size_t left;
} s_cur;

static int
s_take(s_cur *c, size_t n, proto_bytes *out)
{
    if (n > c->left)
        return 0;
    out->p = n ? c->p : NULL;
    out->len = n;
    c->p += n;
    c->left -= n;
    return 1;
}

static int
s_take_text16(s_cur *c, proto_bytes *out)
{
    proto_bytes l;

    if (!s_take(c, 2, &l))
        return 0;
    return s_take(c, proto_get_u16(l.p), out);
}

const char *
proto_msg_decode(const uint8_t *b, size_t n, proto_msg *m)
{
    s_cur c = {b, n};
    proto_bytes pre, l;
    size_t nid, body_len;

    memset(m, 0, sizeof(*m));
    if (!s_take(&c, PROTO_MSG_PREFIX, &pre))
        return "envelope shorter than its prefix";
    if (pre.p[0] != PROTO_MSG_VERSION)
        return "unknown envelope version";
    if (proto_get_u32(pre.p + 4) != 0 || proto_get_u16(pre.p + 94) != 0)
        return "reserved envelope field not zero";
    m->flags = pre.p[1];
    m->reason = pre.p[2];
    m->verstat = pre.p[3];
    memcpy(m->id, pre.p + 8, PROTO_MSG_ID_LEN);
    m->iat = proto_get_u64(pre.p + 24);
    m->resign_iat = proto_get_u64(pre.p + 32);
    m->received_ms = proto_get_u64(pre.p + 40);
    m->expires_ms = proto_get_u64(pre.p + 48);
    memcpy(m->replay_key, pre.p + 56, PROTO_MSG_REPLAY_LEN);
    body_len = proto_get_u32(pre.p + 88);
    nid = proto_get_u16(pre.p + 92);
    if (nid > PROTO_MSG_IDENTITY_N)
        return "too many Identity values";
    if (body_len > PROTO_MSG_BODY_MAX)
        return "body too long";
    if (!s_take_text16(&c, &m->from) || !s_take_text16(&c, &m->to) ||
        !s_take_text16(&c, &m->content_type) ||
        !s_take_text16(&c, &m->peer) || !s_take_text16(&c, &m->idem))
        return "envelope truncated in a text field";
    if ((m->flags & PROTO_MSG_F_STATUS_URL) &&
        !s_take_text16(&c, &m->status_url))
        return "envelope truncated in the status URL";
    m->n_identity = nid;
    for (size_t i = 0; i < nid; i++) {
        if (!s_take(&c, 4, &l))
            return "envelope truncated in an Identity length";
        /* Compare before converting: a u32 length may exceed size_t math. */
        if (proto_get_u32(l.p) > PROTO_MSG_IDENTITY_MAX)
            return "Identity value too long";
        if (!s_take(&c, proto_get_u32(l.p), &m->identity[i]))
            return "envelope truncated in an Identity value";
    }
    if (!s_take(&c, body_len, &m->body))
        return "envelope truncated in the body";
    if (c.left != 0)
        return "trailing bytes after the envelope";
    return proto_msg_check(m);
}

void
proto_msg_id_make(uint8_t id[PROTO_MSG_ID_LEN], uint64_t ms,
                  const uint8_t rnd[10])
{
    for (int i = 0; i < 6; i++)
        id[i] = (uint8_t)(ms >> (8 * (5 - i)));
    memcpy(id + 6, rnd, 10);
    id[6] = (uint8_t)(0x70 | (id[6] & 0x0f)); /* version 7 */
    id[8] = (uint8_t)(0x80 | (id[8] & 0x3f)); /* variant 10 */
}

char *
proto_msg_id_hex(const uint8_t id[PROTO_MSG_ID_LEN], char out[PROTO_MSG_ID_HEX])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < PROTO_MSG_ID_LEN; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[2 * PROTO_MSG_ID_LEN] = '\0';
    return out;
}

static int
s_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *
proto_msg_id_parse(const char *hex, uint8_t id[PROTO_MSG_ID_LEN])
{
    uint8_t tmp[PROTO_MSG_ID_LEN];

    for (int i = 0; i < PROTO_MSG_ID_LEN; i++) {
        int hi, lo;
        if (hex[2 * i] == '\0' || hex[2 * i + 1] == '\0')
            return "message id shorter than 32 hex digits";
        hi = s_nibble(hex[2 * i]);
        lo = s_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return "message id not hex";
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[2 * PROTO_MSG_ID_LEN] != '\0')
        return "message id longer than 32 hex digits";
    memcpy(id, tmp, PROTO_MSG_ID_LEN);
    return NULL;
}

uint64_t
proto_msg_expires_at(uint64_t received_ms, int64_t date_s, int has_expires,
                     uint32_t expires_s)
{
    uint64_t base = date_s > 0 ? (uint64_t)date_s * 1000 : received_ms;

    /* A Date beyond year 292 million would overflow: no such request
     * parses (proto_sip bounds Date), so this is belt and braces. */
    if (!has_expires || expires_s == 0 || base > UINT64_MAX / 2)
        return 0;
    return base + (uint64_t)expires_s * 1000;
}
