/*
 * proto/proto_msg.h - the message envelope: what ingest hands the store
 * in STORE, what the store keeps inside each record, and what deliver gets
 * in JOB.  It lives in proto/ because three stages share it and no stage
 * includes another.  PROTOCOL.md "The envelope" is the specification.
 *
 * Layout (version 1, little-endian):
 *
 *    0 u8   version (1)
 *    1 u8   flags: 1 gateway signed, 2 verification deferred,
 *               4 has replay key, 8 has status URL; other bits must be 0
 *    2 u8   reason (proto_reason, < REASON__COUNT)
 *    3 u8   verstat (PROTO_MSG_VERSTAT_*)
 *    4 u32  reserved, 0
 *    8 16   message id
 *   24 u64  iat, seconds (signing time; 0 when unsigned)
 *   32 u64  resign iat, seconds (second signing time; 0 if none)
 *   40 u64  receive time, ms since the epoch
 *   48 u64  expires at, ms since the epoch (0: no message-level expiry)
 *   56 32   replay key (zero unless flag 4)
 *   88 u32  body length
 *   92 u16  number of Identity values
 *   94 u16  reserved, 0
 *   96      from, to, content type, peer, idempotency id: each u16 length
 *           + bytes; with flag 8 only, the status URL (u16 length +
 *           bytes); then each Identity value: u32 length + bytes; then
 *           the body, exactly "body length" bytes, and nothing after.
 *
 * The status URL came later (the delivery issue): a flag rather than a
 * new version, so every envelope written before it still decodes the
 * same, and a decoder that predates it refuses the flag instead of
 * misreading the bytes.
 *
 * Text fields are printable ASCII (0x20-0x7e): deliver pastes them into
 * SIP headers and JSON, so CR, LF and NUL must never get this far.  The
 * body is opaque bytes, exactly as received (DESIGN.md 3.1).
 */
#ifndef PROTO_MSG_H
#define PROTO_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto_reason.h"

#define PROTO_MSG_VERSION 1
#define PROTO_MSG_ID_LEN 16
#define PROTO_MSG_ID_HEX 33 /* 32 hex digits and a NUL */
#define PROTO_MSG_REPLAY_LEN 32
#define PROTO_MSG_PREFIX 96

#define PROTO_MSG_F_GATEWAY_SIGNED 0x01u
#define PROTO_MSG_F_DEFERRED 0x02u
#define PROTO_MSG_F_REPLAY_KEY 0x04u
#define PROTO_MSG_F_STATUS_URL 0x08u /* status_url present */
#define PROTO_MSG_F_ALL 0x0fu

#define PROTO_MSG_VERSTAT_NONE 0 /* No-TN-Validation */
#define PROTO_MSG_VERSTAT_PASSED 1
#define PROTO_MSG_VERSTAT_FAILED 2

/* Limits (inclusive). */
#define PROTO_MSG_URI_MAX 1024   /* from, to: 1 .. this */
#define PROTO_MSG_CTYPE_MAX 255  /* content type: 0 .. this */
#define PROTO_MSG_PEER_MAX 128   /* peer name */
#define PROTO_MSG_IDEM_MAX 256   /* client idempotency id */
#define PROTO_MSG_STATUS_URL_MAX 1024 /* status URL: 1 .. this with flag 8 */
#define PROTO_MSG_IDENTITY_N 16  /* Identity header values */
#define PROTO_MSG_IDENTITY_MAX 16384
#define PROTO_MSG_BODY_MAX (1u << 20)

/* The smallest valid envelope: the prefix, five lengths, 1-byte from/to. */
#define PROTO_MSG_MIN (PROTO_MSG_PREFIX + 5 * 2 + 2)
#define PROTO_MSG_MAX                                                          \
    (PROTO_MSG_PREFIX + 5 * 2 + 2 * PROTO_MSG_URI_MAX + PROTO_MSG_CTYPE_MAX + \
     PROTO_MSG_PEER_MAX + PROTO_MSG_IDEM_MAX + 2 + PROTO_MSG_STATUS_URL_MAX +  \
     PROTO_MSG_IDENTITY_N * (4 + PROTO_MSG_IDENTITY_MAX) + PROTO_MSG_BODY_MAX)

typedef struct {
    const uint8_t *p; /* borrowed; not NUL-terminated */
    size_t len;
} proto_bytes;

typedef struct {
    uint8_t id[PROTO_MSG_ID_LEN];
    uint8_t flags; /* PROTO_MSG_F_* */
    uint8_t reason; /* proto_reason */
    uint8_t verstat; /* PROTO_MSG_VERSTAT_* */
    uint64_t iat, resign_iat;     /* seconds */
    uint64_t received_ms, expires_ms;
    uint8_t replay_key[PROTO_MSG_REPLAY_LEN];
    proto_bytes from, to, content_type, peer, idem;
    proto_bytes status_url; /* empty unless PROTO_MSG_F_STATUS_URL */
    size_t n_identity;
    proto_bytes identity[PROTO_MSG_IDENTITY_N];
    proto_bytes body;
} proto_msg;

/* Is `m` within every limit?  NULL or why not. */
const char *proto_msg_check(const proto_msg *m);
/* Encoded length of a checked envelope. */
size_t proto_msg_len(const proto_msg *m);
/*
 * Encode a checked envelope into `out` (outsz >= proto_msg_len) and return
 * its length; 0 if `m` fails proto_msg_check or `out` is too small.
 */
size_t proto_msg_encode(const proto_msg *m, uint8_t *out, size_t outsz);
/* Same, into a new buffer (sg_free it); NULL if `m` fails the check. */
uint8_t *proto_msg_encode_new(const proto_msg *m, size_t *len);
/*
 * Strict decoder: the whole of `b` must be exactly one envelope.  Fills
 * `m` with pointers borrowed from `b`.  NULL or why not.
 */
const char *proto_msg_decode(const uint8_t *b, size_t n, proto_msg *m);

/*
 * Message ids are UUIDv7-shaped (RFC 9562): 48-bit ms timestamp
 * big-endian, version 7, variant 10, 74 random bits, so ids sort by
 * creation time in LMDB and never need coordination between ingest
 * processes.  `rnd` supplies the 10 random bytes (pure code: the caller
 * draws them).
 */
void proto_msg_id_make(uint8_t id[PROTO_MSG_ID_LEN], uint64_t ms,
                       const uint8_t rnd[10]);
/* 32 lowercase hex digits. */
char *proto_msg_id_hex(const uint8_t id[PROTO_MSG_ID_LEN],
                       char out[PROTO_MSG_ID_HEX]);
/* Parse exactly 32 hex digits (either case); NULL or why not. */
const char *proto_msg_id_parse(const char *hex, uint8_t id[PROTO_MSG_ID_LEN]);

/*
 * RFC 3428 Expires as the envelope's `expires at` (ms since the epoch):
 * `expires_s` seconds after the request's Date when it had one
 * (`date_s` > 0), else after receipt.  0 (no message-level expiry) when
 * the request had no Expires, and for `Expires: 0`: RFC 3428 gives zero
 * no meaning of its own for MESSAGE, and read literally it would make
 * every such message undeliverable by any store-and-forward hop, so it
 * is taken as "no expiry" (ingest/INGEST.md).  Ingest writes the result
 * into the envelope; deliver and the store read it back.  A result at
 * or before the receive time is a message that expired before it
 * arrived: ingest refuses it.
 */
uint64_t proto_msg_expires_at(uint64_t received_ms, int64_t date_s,
                              int has_expires, uint32_t expires_s);

/* Little-endian helpers shared by proto_wire.c, proto_msg.c and store/store_record.c. */
static inline void
proto_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
proto_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
proto_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t
proto_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
proto_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t
proto_get_u64(const uint8_t *p)
{
    return (uint64_t)proto_get_u32(p) | (uint64_t)proto_get_u32(p + 4) << 32;
}

#endif
