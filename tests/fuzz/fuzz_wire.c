/*
 * tests/fuzz/fuzz_wire.c - the internal protocol decoders (proto_wire.h,
 * proto_msg.h) on arbitrary frames.
 *
 * Input: byte 0 = frame count (mod 5), byte 1 = length of frame 0,
 * byte 2 = length of frame 1, then the frames' bytes, the last frame
 * taking what is left.  Every body decoder runs on whatever passes the
 * frame decoder, in both directions.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto_msg.h"
#include "proto/proto_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_bodies(const proto_wire_msg *m)
{
    const uint8_t *b = m->body;
    size_t n = m->body_len;
    proto_refused r;
    proto_check_replay c;
    proto_job j;
    proto_done d;
    proto_resigned rs;
    proto_list l;
    proto_requeue q;
    proto_ctl_err e;
    proto_msg env;
    uint32_t v;

    switch (m->cmd) {
    case PROTO_CMD_STORE:
        proto_msg_decode(b, n, &env);
        break;
    case PROTO_CMD_REFUSED:
        proto_wire_refused_decode(b, n, &r);
        break;
    case PROTO_CMD_CHECK_REPLAY:
        proto_wire_check_replay_decode(b, n, &c);
        break;
    case PROTO_CMD_READY:
    case PROTO_CMD_HEARTBEAT:
        proto_wire_credit_decode(b, n, m->cmd == PROTO_CMD_READY, &v);
        break;
    case PROTO_CMD_JOB:
        if (proto_wire_job_decode(b, n, &j) == NULL)
            proto_msg_decode(j.env, j.env_len, &env);
        break;
    case PROTO_CMD_DONE:
        proto_wire_done_decode(b, n, &d);
        break;
    case PROTO_CMD_RESIGNED:
        proto_wire_resigned_decode(b, n, &rs);
        break;
    case PROTO_CMD_LIST:
        proto_wire_list_decode(b, n, &l);
        break;
    case PROTO_CMD_REQUEUE:
        proto_wire_requeue_decode(b, n, &q);
        break;
    case PROTO_CMD_CTL_ERR:
        proto_wire_ctl_err_decode(b, n, &e);
        break;
    case PROTO_CMD_CTL_OK:
        proto_wire_u32_decode(b, n, &v);
        break;
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_wire_frame f[4];
    proto_wire_msg m;
    size_t nf, off = 3;

    if (size < 3)
        return 0;
    nf = data[0] % 5;
    memset(f, 0, sizeof(f));
    for (size_t i = 0; i < nf; i++) {
        size_t want = i < 2 ? data[1 + i] : size - off;
        if (i == nf - 1)
            want = size - off;
        if (want > size - off)
            want = size - off;
        f[i].p = data + off;
        f[i].len = want;
        off += want;
    }
    if (proto_wire_decode(f, nf, PROTO_DIR_TO_STORE, &m) == NULL)
        s_bodies(&m);
    if (proto_wire_decode(f, nf, PROTO_DIR_FROM_STORE, &m) == NULL)
        s_bodies(&m);
    return 0;
}
