/*
 * store/store_record.h - the record the store keeps per message, as pure
 * code (no LMDB here, so the fuzzer links it alone).  store/FORMAT.md is
 * the specification; this header follows it.
 *
 *    0 u32  magic "SGRC"
 *    4 u16  format version (1)
 *    6 u16  flags (0)
 *    8 u32  total length (must equal the stored value's size)
 *   12 u32  CRC-32C of bytes 0..11 and 16..length-1
 *   16 u8   state (proto_state)
 *   17 u8   dead reason (STORE_DEAD_*; 0 unless state is dead)
 *   18 u16  last error length (0 .. PROTO_WIRE_TEXT_MAX)
 *   20 u32  attempts (deliveries handed out so far)
 *   24 u64  created (ms since the epoch: when the store committed it)
 *   32 u64  next due (ms; meaningful when queued)
 *   40 u64  lease until (ms; meaningful when leased)
 *   48 u64  expire at (ms; the lifetime deadline)
 *   56 u64  keep until (ms; dead and done records are purged after it)
 *   64 u64  updated (ms; last state change)
 *   72 u32  envelope length
 *   76 u8   delivery verstat + 1 (0: none reported yet)
 *   77 u8   delivery reason + 1 (0: none reported yet)
 *   78 u16  reserved (0)
 *   80      last error text, then the envelope (proto/proto_msg.h);
 *           nothing after it
 */
#ifndef STORE_RECORD_H
#define STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto_msg.h"
#include "proto/proto_wire.h"

#define STORE_RECORD_MAGIC 0x43524753u /* "SGRC" read little-endian */
#define STORE_RECORD_VERSION 1
#define STORE_RECORD_HDR 80

#define STORE_DEAD_NONE 0
#define STORE_DEAD_LIFETIME 1 /* not delivered within the lifetime */
#define STORE_DEAD_FAILED 2   /* deliver reported a permanent failure */
#define STORE_DEAD_EXPIRED 3  /* deliver found the message expired */
#define STORE_DEAD_MAX 3

typedef struct {
    uint8_t state;       /* proto_state */
    uint8_t dead_reason; /* STORE_DEAD_* */
    uint32_t attempts;
    /* What deliver reported with its last DONE (proto_done's dverstat and
     * dreason): verstat + 1 and reason + 1, 0 = nothing yet. */
    uint8_t dverstat, dreason;
    uint64_t created_ms, next_due_ms, lease_until_ms, expire_ms;
    uint64_t keep_until_ms, updated_ms;
    proto_text last_error; /* borrowed */
    const uint8_t *env;    /* borrowed: envelope bytes */
    size_t env_len;
    proto_msg msg;         /* decode only: the envelope, borrowing `env` */
} store_record;

/* "lifetime", "failed", "expired"; "" for none. */
const char *store_record_dead_name(unsigned reason);

/* Length of the encoded record; 0 if a field is out of bounds. */
size_t store_record_len(const store_record *r);
/*
 * Encode `r` (its env must be a valid envelope: not re-checked here, the
 * store decoded it on the way in) into `out`; returns the length written
 * or 0 if out of bounds or `outsz` too small.
 */
size_t store_record_encode(const store_record *r, uint8_t *out, size_t outsz);
/*
 * Validate and decode a record read back from disk.  Everything is
 * checked: magic, version, flags, length, checksum, state, field bounds,
 * and the envelope itself.  `r` borrows from `b`.  NULL or why not.
 */
const char *store_record_decode(const uint8_t *b, size_t n, store_record *r);

#endif
