/* store/store_record.c - the record codec (store/FORMAT.md). */
#include "store/store_record.h"

#include <string.h>

#include "lib/sg_crc32c.h"

static const char *const s_dead[] = {"", "lifetime", "failed", "expired"};

const char *
store_record_dead_name(unsigned reason)
{
    return reason <= STORE_DEAD_MAX ? s_dead[reason] : "?";
}

static const char *
s_check(const store_record *r)
{
    if (r->state < 1 || r->state > PROTO_STATE_MAX)
        return "unknown state";
    if (r->dead_reason > STORE_DEAD_MAX)
        return "unknown dead reason";
    if ((r->state == PROTO_STATE_DEAD) != (r->dead_reason != STORE_DEAD_NONE))
        return "dead reason does not match the state";
    if (r->dverstat > PROTO_MSG_VERSTAT_FAILED + 1)
        return "unknown delivery verstat";
    if (proto_wire_dreason_name(r->dreason) == NULL)
        return "unknown delivery reason";
    if (r->last_error.len > PROTO_WIRE_TEXT_MAX)
        return "last error too long";
    for (size_t i = 0; i < r->last_error.len; i++)
        if (r->last_error.p[i] < 0x20 || r->last_error.p[i] > 0x7e)
            return "last error not printable";
    if (r->env_len < PROTO_MSG_MIN || r->env_len > PROTO_MSG_MAX)
        return "envelope length out of bounds";
    return NULL;
}

size_t
store_record_len(const store_record *r)
{
    if (s_check(r) != NULL)
        return 0;
    return STORE_RECORD_HDR + r->last_error.len + r->env_len;
}

static uint32_t
s_crc(const uint8_t *b, size_t n)
{
    /* The CRC field itself (bytes 12..15) is left out of its own sum. */
    return sg_crc32c(sg_crc32c(0, b, 12), b + 16, n - 16);
}

size_t
store_record_encode(const store_record *r, uint8_t *out, size_t outsz)
{
    size_t n = store_record_len(r);

    if (n == 0 || outsz < n)
        return 0;
    proto_put_u32(out, STORE_RECORD_MAGIC);
    proto_put_u16(out + 4, STORE_RECORD_VERSION);
    proto_put_u16(out + 6, 0);
    proto_put_u32(out + 8, (uint32_t)n);
    out[16] = r->state;
    out[17] = r->dead_reason;
    proto_put_u16(out + 18, (uint16_t)r->last_error.len);
    proto_put_u32(out + 20, r->attempts);
    proto_put_u64(out + 24, r->created_ms);
    proto_put_u64(out + 32, r->next_due_ms);
    proto_put_u64(out + 40, r->lease_until_ms);
    proto_put_u64(out + 48, r->expire_ms);
    proto_put_u64(out + 56, r->keep_until_ms);
    proto_put_u64(out + 64, r->updated_ms);
    proto_put_u32(out + 72, (uint32_t)r->env_len);
    out[76] = r->dverstat;
    out[77] = r->dreason;
    proto_put_u16(out + 78, 0);
    if (r->last_error.len)
        memcpy(out + STORE_RECORD_HDR, r->last_error.p, r->last_error.len);
    memcpy(out + STORE_RECORD_HDR + r->last_error.len, r->env, r->env_len);
    proto_put_u32(out + 12, s_crc(out, n));
    return n;
}

const char *
store_record_decode(const uint8_t *b, size_t n, store_record *r)
{
    size_t elen, env_len;
    const char *why;

    memset(r, 0, sizeof(*r));
    if (n < STORE_RECORD_HDR)
        return "record shorter than its header";
    if (proto_get_u32(b) != STORE_RECORD_MAGIC)
        return "bad record magic";
    if (proto_get_u16(b + 4) != STORE_RECORD_VERSION)
        return "unknown record format version";
    if (proto_get_u16(b + 6) != 0)
        return "unknown record flags";
    if (proto_get_u32(b + 8) != n)
        return "record length differs from the stored size";
    /* Checksum before trusting any length inside. */
    if (proto_get_u32(b + 12) != s_crc(b, n))
        return "record checksum mismatch";
    if (proto_get_u16(b + 78) != 0)
        return "reserved record field not zero";
    r->dverstat = b[76];
    r->dreason = b[77];
    r->state = b[16];
    r->dead_reason = b[17];
    elen = proto_get_u16(b + 18);
    r->attempts = proto_get_u32(b + 20);
    r->created_ms = proto_get_u64(b + 24);
    r->next_due_ms = proto_get_u64(b + 32);
    r->lease_until_ms = proto_get_u64(b + 40);
    r->expire_ms = proto_get_u64(b + 48);
    r->keep_until_ms = proto_get_u64(b + 56);
    r->updated_ms = proto_get_u64(b + 64);
    env_len = proto_get_u32(b + 72);
    /* elen <= 65535 and env_len < 2^32: the sum cannot overflow size_t. */
    if (STORE_RECORD_HDR + elen + env_len != n)
        return "record field lengths do not add up";
    r->last_error.p = elen ? b + STORE_RECORD_HDR : NULL;
    r->last_error.len = elen;
    r->env = b + STORE_RECORD_HDR + elen;
    r->env_len = env_len;
    if ((why = s_check(r)) != NULL)
        return why;
    return proto_msg_decode(r->env, r->env_len, &r->msg);
}
