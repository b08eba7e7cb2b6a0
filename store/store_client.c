/* store/store_client.c - synchronous control client (store_client.h). */
#include "store/store_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "lib/sg_rand.h"

#define S_PLACE "store.client"

struct store_client {
    void *ctx, *sock;
    uint64_t corr;
};

const char *
store_client_endpoint(const char *run_dir, const char *endpoint, char *buf,
                      size_t n)
{
    int k;

    if (endpoint)
        k = snprintf(buf, n, "%s", endpoint);
    else
        k = snprintf(buf, n, "ipc://%s/store.sock", run_dir);
    return k < 0 || (size_t)k >= n ? NULL : buf;
}

store_client *
store_client_new(const char *endpoint)
{
    store_client *self = sg_calloc(1, sizeof(*self));
    int linger = 0;

    self->ctx = zmq_ctx_new();
    if (self->ctx == NULL)
        goto fail;
    self->sock = zmq_socket(self->ctx, ZMQ_DEALER);
    if (self->sock == NULL ||
        zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0)
        goto fail;
    if (zmq_connect(self->sock, endpoint) != 0) {
        sg_error(S_PLACE, "zmq_connect %s: %s", endpoint,
                 zmq_strerror(errno));
        goto out;
    }
    /* Random start: a late reply to an earlier process never matches. */
    self->corr = sg_rand_u64();
    return self;
fail:
    sg_error(S_PLACE, "zmq: %s", zmq_strerror(errno));
out:
    store_client_destroy(&self);
    return NULL;
}

void
store_client_destroy(store_client **p)
{
    store_client *self = *p;

    if (self == NULL)
        return;
    if (self->sock)
        zmq_close(self->sock);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    sg_free(self);
    *p = NULL;
}

/* Receive one whole message into up to 3 frames; returns frame count. */
static int
s_recv(void *sock, zmq_msg_t *parts, int *n)
{
    *n = 0;
    for (;;) {
        zmq_msg_t x;
        zmq_msg_init(&x);
        if (zmq_msg_recv(&x, sock, 0) < 0) {
            zmq_msg_close(&x);
            if (errno == EINTR)
                continue;
            return -1;
        }
        int more = zmq_msg_more(&x);
        if (*n < 4)
            parts[(*n)++] = x;
        else
            zmq_msg_close(&x);
        if (!more)
            return 0;
    }
}

sg_rc
store_client_call(store_client *self, proto_cmd cmd, const void *body,
                  size_t len, int timeout_ms, proto_cmd *rcmd,
                  uint8_t **rbody, size_t *rlen)
{
    uint8_t vf[PROTO_WIRE_VFRAME_LEN], hdr[PROTO_WIRE_HDR_LEN];
    uint64_t corr = ++self->corr, deadline;

    *rbody = NULL;
    *rlen = 0;
    proto_wire_version_frame(vf);
    proto_wire_header(hdr, cmd, corr, (uint32_t)len);
    if (zmq_send(self->sock, vf, sizeof(vf), ZMQ_SNDMORE) < 0 ||
        zmq_send(self->sock, hdr, sizeof(hdr), ZMQ_SNDMORE) < 0 ||
        zmq_send(self->sock, body, len, 0) < 0) {
        sg_error(S_PLACE, "zmq_send: %s", zmq_strerror(errno));
        return SG_ERR;
    }
    deadline = sg_clock_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = sg_clock_mono_ms();
        zmq_pollitem_t it = {self->sock, 0, ZMQ_POLLIN, 0};
        zmq_msg_t parts[4];
        proto_wire_frame f[3];
        proto_wire_msg m;
        const char *why;
        int n, pr;

        if (now >= deadline)
            return SG_AGAIN;
        pr = zmq_poll(&it, 1, (long)(deadline - now));
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            sg_error(S_PLACE, "zmq_poll: %s", zmq_strerror(errno));
            return SG_ERR;
        }
        if (pr == 0)
            continue;
        if (s_recv(self->sock, parts, &n) < 0) {
            sg_error(S_PLACE, "zmq_msg_recv: %s", zmq_strerror(errno));
            return SG_ERR;
        }
        why = "wrong number of frames";
        if (n == 3) {
            for (int i = 0; i < 3; i++) {
                f[i].p = zmq_msg_data(&parts[i]);
                f[i].len = zmq_msg_size(&parts[i]);
            }
            why = proto_wire_decode(f, 3, PROTO_DIR_FROM_STORE, &m);
        }
        if (why == NULL && m.corr == corr && m.cmd != PROTO_CMD_HEARTBEAT) {
            *rcmd = m.cmd;
            *rlen = m.body_len;
            *rbody = m.body_len ? sg_memdup(m.body, m.body_len) : NULL;
        } else if (why != NULL) {
            sg_warn(S_PLACE, "malformed reply dropped: %s", why);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
        if (why == NULL && m.corr == corr && m.cmd != PROTO_CMD_HEARTBEAT)
            return SG_OK;
    }
}
