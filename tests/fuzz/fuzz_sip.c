/*
 * tests/fuzz/fuzz_sip.c - SIP request parsing, TCP framing and response
 * building (proto/proto_sip.h) on arbitrary bytes.
 *
 * Besides "no crash, no leak", it checks what callers rely on: a frame
 * lies inside the input, a framed request's body ends the frame exactly,
 * and every response is CRLF-clean (no NUL, no bare CR or LF).
 */
#include "proto/proto_sip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_check_response(const proto_sip_req_t *req)
{
    static const char *const extra[] = {NULL, "Retry-After: 5\r\n"};

    for (size_t k = 0; k < 2; k++) {
        char *out;
        size_t len;

        if (proto_sip_response(req, k ? 503 : 202, k ? "Busy" : "Accepted",
                               extra[k], k ? "t1" : NULL, &out, &len) != SG_OK)
            abort(); /* a parsed request always has a response */
        if (len < 4 || memcmp(out + len - 4, "\r\n\r\n", 4) != 0 ||
            memchr(out, '\0', len) != NULL)
            abort();
        for (size_t i = 0; i < len; i++) {
            if (out[i] == '\r' && (i + 1 == len || out[i + 1] != '\n'))
                abort();
            if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
                abort();
        }
        free(out);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_sip_limits_t lim;
    proto_sip_req_t req;
    proto_sip_err_t err;
    size_t off = 0, len;

    proto_sip_limits_default(&lim);
    lim.max_identity = 4;

    /* As a datagram. */
    if (proto_sip_parse(data, size, 0, &lim, &req, &err) == SG_OK) {
        if (req.body + req.body_len > data + size || req.body < data)
            abort();
        s_check_response(&req);
        proto_sip_req_clear(&req);
    } else if (err.why == NULL || err.code < 400) {
        abort();
    }

    /* As a stream: frame after frame. */
    while (off < size) {
        proto_sip_frame_rc rc =
            proto_sip_frame(data + off, size - off, &lim, &len, &err);

        if (rc != PROTO_SIP_FRAME_ONE)
            break;
        if (len == 0 || len > size - off)
            abort();
        if (proto_sip_parse(data + off, len, PROTO_SIP_STREAM, &lim, &req,
                            &err) == SG_OK) {
            if (req.body + req.body_len != data + off + len)
                abort();
            s_check_response(&req);
            proto_sip_req_clear(&req);
        }
        off += len;
    }
    return 0;
}
