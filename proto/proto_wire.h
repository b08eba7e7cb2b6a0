/*
 * proto/proto_wire.h - the internal protocol between the stages and the
 * store (DESIGN.md section 1), as pure code: bytes in, a struct or a
 * reason out.  No sockets and no logging here; proto/PROTOCOL.md is the
 * specification and this header follows it.
 *
 * A protocol message is exactly three ZeroMQ frames:
 *
 *   frame 0  version   4 bytes  "SGW" + version octet (1)
 *   frame 1  header   16 bytes  command u16, flags u16, body length u32,
 *                               correlation id u64 (little-endian)
 *   frame 2  body      0..PROTO_WIRE_BODY_MAX bytes, shape by command
 *
 * (a ROUTER socket sees the peer's routing id in front; that frame belongs
 * to ZeroMQ, not to this protocol).  Every command is declared once, in
 * PROTO_WIRE_COMMANDS below; the decoder checks a message against its row
 * and rejects anything else: wrong frame count, wrong version, wrong
 * header size, unknown command, wrong direction, nonzero flags, body
 * length different from the header's, body outside the row's bounds.
 *
 * Body codecs for the fixed-shape bodies follow; STORE and JOB carry the
 * message envelope of proto/proto_msg.h.  Decoded structs borrow from the
 * bytes they were decoded from (valid until those bytes are freed).
 */
#ifndef PROTO_WIRE_H
#define PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto_msg.h"

#define PROTO_WIRE_VERSION 1
#define PROTO_WIRE_VFRAME_LEN 4
#define PROTO_WIRE_HDR_LEN 16
#define PROTO_WIRE_FRAMES 3
/* Larger than the biggest envelope (PROTO_MSG_MAX) plus the JOB prefix. */
#define PROTO_WIRE_BODY_MAX (4u << 20)

/* Who may send a command: the store, its clients, or both. */
#define PROTO_DIR_TO_STORE 1u
#define PROTO_DIR_FROM_STORE 2u
#define PROTO_DIR_BOTH 3u

typedef enum {
    PROTO_BODY_NONE,     /* empty */
    PROTO_BODY_FIXED,    /* a fixed struct, min == max */
    PROTO_BODY_VAR,      /* a fixed struct then bounded text */
    PROTO_BODY_ENVELOPE, /* proto_msg envelope (STORE), or prefix + it (JOB) */
    PROTO_BODY_JSON,     /* UTF-8 JSON text (control replies) */
} proto_wire_body_kind;

/* Text sizes carried in bodies (error texts, refusal reasons). */
#define PROTO_WIRE_TEXT_MAX 512
#define PROTO_WIRE_CREDIT_MAX 65535u
#define PROTO_WIRE_LIST_MAX 100000u

/*
 * The command table: name, number, direction, body kind, min and max body
 * length.  Numbers are a wire contract: never renumber, only append.
 */
#define PROTO_WIRE_COMMANDS(X)                                                 \
    /* ingest side */                                                          \
    X(STORE, 1, TO_STORE, ENVELOPE, PROTO_MSG_MIN, PROTO_MSG_MAX)              \
    X(STORED, 2, FROM_STORE, FIXED, 16, 16)                                    \
    X(REFUSED, 3, FROM_STORE, VAR, 24, 24 + PROTO_WIRE_TEXT_MAX + 17)          \
    X(CHECK_REPLAY, 4, TO_STORE, FIXED, 40, 40)                                \
    X(SEEN, 5, FROM_STORE, FIXED, 32, 32)                                      \
    X(NEW, 6, FROM_STORE, FIXED, 32, 32)                                       \
    /* worker side */                                                          \
    X(READY, 10, TO_STORE, FIXED, 4, 4)                                        \
    X(JOB, 11, FROM_STORE, ENVELOPE, 16 + PROTO_MSG_MIN, 16 + PROTO_MSG_MAX)   \
    X(DONE, 12, TO_STORE, VAR, 32, 32 + PROTO_WIRE_TEXT_MAX)                   \
    X(HEARTBEAT, 13, BOTH, FIXED, 4, 4)                                        \
    X(RESIGNED, 14, TO_STORE, FIXED, 32, 32)                                   \
    /* control (the queue tool) */                                             \
    X(LIST, 20, TO_STORE, FIXED, 8, 8)                                         \
    X(SHOW, 21, TO_STORE, FIXED, 16, 16)                                       \
    X(REQUEUE, 22, TO_STORE, FIXED, 24, 24)                                    \
    X(HOLD, 23, TO_STORE, FIXED, 16, 16)                                       \
    X(RELEASE, 24, TO_STORE, FIXED, 16, 16)                                    \
    X(DELETE, 25, TO_STORE, FIXED, 16, 16)                                     \
    X(STATS, 26, TO_STORE, NONE, 0, 0)                                         \
    X(CTL_OK, 30, FROM_STORE, FIXED, 4, 4)                                     \
    X(CTL_ERR, 31, FROM_STORE, VAR, 4, 4 + PROTO_WIRE_TEXT_MAX)                \
    X(CTL_JSON, 32, FROM_STORE, JSON, 2, PROTO_WIRE_BODY_MAX)

typedef enum {
#define PROTO_X_(name, num, dir, kind, lo, hi) PROTO_CMD_##name = num,
    PROTO_WIRE_COMMANDS(PROTO_X_)
#undef PROTO_X_
} proto_cmd;

typedef struct {
    const char *name;
    unsigned num;
    unsigned dir; /* PROTO_DIR_* */
    proto_wire_body_kind kind;
    uint32_t min, max; /* body length bounds, inclusive */
} proto_wire_cmd_info;

/* The table row of a command number; NULL when unknown. */
const proto_wire_cmd_info *proto_wire_cmd_get(unsigned cmd);
/* Its name, or "?" when unknown (for log lines). */
const char *proto_wire_cmd_name(unsigned cmd);

typedef struct {
    const void *p;
    size_t len;
} proto_wire_frame;

typedef struct {
    proto_cmd cmd;
    uint64_t corr;       /* echoed in the reply; the sender's business */
    const uint8_t *body; /* borrowed from frame 2 */
    size_t body_len;
} proto_wire_msg;

/* Frame 0 of every message. */
void proto_wire_version_frame(uint8_t out[PROTO_WIRE_VFRAME_LEN]);
/* Frame 1: the header of a message with a body of `body_len` bytes. */
void proto_wire_header(uint8_t out[PROTO_WIRE_HDR_LEN], proto_cmd cmd,
                       uint64_t corr, uint32_t body_len);

/*
 * Decode a received message: `frames` without any routing id.  `accept`
 * is the receiver's side (PROTO_DIR_TO_STORE in the store, FROM_STORE in
 * its clients): a command the peer may not send is rejected.  Returns NULL
 * and fills `out` (borrowing from frame 2), or why not.
 */
const char *proto_wire_decode(const proto_wire_frame *frames, size_t nframes,
                              unsigned accept, proto_wire_msg *out);

/* --- fixed-shape bodies (PROTOCOL.md "Bodies") --- */

/* REFUSED codes. */
#define PROTO_REFUSED_AGAIN 1   /* store full or busy: retry after */
#define PROTO_REFUSED_INVALID 2 /* the envelope is malformed: never retry */
#define PROTO_REFUSED_REPLAY 3  /* replay key already seen (DESIGN 3.9) */

/* DONE outcomes. */
#define PROTO_OUTCOME_DELIVERED 1
#define PROTO_OUTCOME_RETRY 2
#define PROTO_OUTCOME_FAILED 3  /* permanent failure */
#define PROTO_OUTCOME_EXPIRED 4 /* deliver found it expired */
/* The destination is down: due again after retry-after, and the attempt
 * handed out is given back (attempts - 1), so waiting burns nothing. */
#define PROTO_OUTCOME_WAIT 5
#define PROTO_OUTCOME_MAX 5

/* CTL_ERR codes. */
#define PROTO_CTL_NO_SUCH 1
#define PROTO_CTL_BAD_STATE 2
#define PROTO_CTL_AGAIN 3
#define PROTO_CTL_INVALID 4

/* REQUEUE flags. */
#define PROTO_REQUEUE_ALL 1u

/*
 * Message states, as the store keeps them (store/FORMAT.md) and as LIST
 * filters them.  0 in LIST means "every state".
 */
typedef enum {
    PROTO_STATE_QUEUED = 1,
    PROTO_STATE_LEASED = 2,
    PROTO_STATE_HELD = 3,
    PROTO_STATE_DEAD = 4,
    PROTO_STATE_DONE = 5,
} proto_state;
#define PROTO_STATE_MAX 5
/* "queued", …; NULL for an unknown number. */
const char *proto_state_name(unsigned state);
/* The number of a state name; 0 when unknown. */
unsigned proto_state_from_name(const char *name);

typedef struct {
    const uint8_t *p; /* borrowed; not NUL-terminated */
    size_t len;
} proto_text;

/*
 * REFUSED: code u32, retry-after ms u32, id (16: the refused envelope's),
 * text (0..PROTO_WIRE_TEXT_MAX, printable), then, for REPLAY only and
 * only when the store knows it, a NUL and the id of the message that
 * holds the replay key (17 bytes).  The holder came after version 1 was
 * in use: it is appended after the text, and the NUL, which no text may
 * contain, marks it.  A decoder from before it refuses the NUL as a
 * non-printable text instead of misreading the bytes; a REFUSED from a
 * store before it simply has no holder (has_holder 0).
 */
typedef struct {
    uint32_t code; /* PROTO_REFUSED_* */
    uint32_t retry_after_ms;
    uint8_t id[PROTO_MSG_ID_LEN];
    proto_text text;
    int has_holder; /* REPLAY: `holder` is set */
    uint8_t holder[PROTO_MSG_ID_LEN];
} proto_refused;

typedef struct {
    uint8_t key[PROTO_MSG_REPLAY_LEN];
    uint32_t window_s; /* 1 .. PROTO_REPLAY_WINDOW_MAX */
} proto_check_replay;
#define PROTO_REPLAY_WINDOW_MAX (7u * 86400u)

typedef struct {
    uint32_t attempt; /* 1 for the first delivery attempt */
    uint64_t lease_until_ms;
    const uint8_t *env; /* borrowed: the envelope bytes */
    size_t env_len;
} proto_job;

typedef struct {
    uint8_t id[PROTO_MSG_ID_LEN];
    uint32_t attempt; /* from the JOB */
    uint32_t outcome; /* PROTO_OUTCOME_* */
    uint32_t retry_after_ms;
    proto_text error;
    /*
     * What deliver decided at this attempt, kept in the record for the
     * status API: verstat + 1 (PROTO_MSG_VERSTAT_* + 1) and reason + 1
     * (proto_reason + 1); 0 = not reported.  Bytes 28 and 29 of the body
     * (once the reserved u32; bytes 30..31 stay zero).
     */
    uint8_t dverstat, dreason;
} proto_done;

/*
 * DONE's delivery reason: proto_reason + 1 for a verification reason, or
 * one of these delivery-time reasons (DESIGN.md 4), which no verifier
 * produces.
 */
#define PROTO_DREASON_STALE_AT_DELIVERY 0x40
/* The stable name of a delivery reason byte; "" for 0, NULL if unknown. */
const char *proto_wire_dreason_name(uint8_t dreason);

/*
 * RESIGNED (deliver -> store): the message was re-signed at delivery with
 * a fresh iat (DESIGN.md 4); the store writes `resign_iat` into the
 * record's envelope, next to the original iat.  Body: id (16), attempt
 * u32, reserved u32 (0), resign iat u64 (seconds, nonzero).
 */
typedef struct {
    uint8_t id[PROTO_MSG_ID_LEN];
    uint32_t attempt;
    uint64_t resign_iat;
} proto_resigned;

typedef struct {
    uint32_t state; /* 0 = any */
    uint32_t limit; /* 1 .. PROTO_WIRE_LIST_MAX */
} proto_list;

typedef struct {
    uint32_t flags; /* PROTO_REQUEUE_ALL: id ignored (must be zero) */
    uint8_t id[PROTO_MSG_ID_LEN];
} proto_requeue;

typedef struct {
    uint32_t code; /* PROTO_CTL_* */
    proto_text text;
} proto_ctl_err;

/*
 * Encoders write into `out` (at least the row's max for fixed bodies, or
 * the returned length) and return the body length; 0 means the struct is
 * out of bounds (a programming error at the caller).  Decoders take a body
 * that already passed proto_wire_decode for that command and return NULL
 * or why not.
 */
size_t proto_wire_refused_encode(const proto_refused *v, uint8_t *out,
                                 size_t outsz);
const char *proto_wire_refused_decode(const uint8_t *b, size_t n,
                                      proto_refused *v);
void proto_wire_check_replay_encode(const proto_check_replay *v,
                                    uint8_t out[40]);
const char *proto_wire_check_replay_decode(const uint8_t *b, size_t n,
                                           proto_check_replay *v);
void proto_wire_u32_encode(uint32_t v, uint8_t out[4]);
/* READY and HEARTBEAT: a credit; READY's must be 1..CREDIT_MAX. */
const char *proto_wire_credit_decode(const uint8_t *b, size_t n, int ready,
                                     uint32_t *credit);
void proto_wire_job_prefix(uint32_t attempt, uint64_t lease_until_ms,
                           uint8_t out[16]);
const char *proto_wire_job_decode(const uint8_t *b, size_t n, proto_job *v);
size_t proto_wire_done_encode(const proto_done *v, uint8_t *out,
                              size_t outsz);
const char *proto_wire_done_decode(const uint8_t *b, size_t n, proto_done *v);
void proto_wire_resigned_encode(const proto_resigned *v, uint8_t out[32]);
const char *proto_wire_resigned_decode(const uint8_t *b, size_t n,
                                       proto_resigned *v);
void proto_wire_list_encode(const proto_list *v, uint8_t out[8]);
const char *proto_wire_list_decode(const uint8_t *b, size_t n, proto_list *v);
void proto_wire_requeue_encode(const proto_requeue *v, uint8_t out[24]);
const char *proto_wire_requeue_decode(const uint8_t *b, size_t n,
                                      proto_requeue *v);
size_t proto_wire_ctl_err_encode(const proto_ctl_err *v, uint8_t *out,
                                 size_t outsz);
const char *proto_wire_ctl_err_decode(const uint8_t *b, size_t n,
                                      proto_ctl_err *v);
/* A bare u32 body (CTL_OK count). */
const char *proto_wire_u32_decode(const uint8_t *b, size_t n, uint32_t *v);

#endif
