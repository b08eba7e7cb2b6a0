/*
 * tests/fuzz/fuzz_api.c - the POST /v1/messages body parser and the
 * answers built from what it returns (proto/proto_api.h).
 */
#include "proto/proto_api.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_api_limits_t lim;
    proto_api_msg_t m;
    proto_api_err_t err;
    char *s;

    proto_api_limits_default(&lim);
    lim.max_recipients = 8;
    lim.max_body = 4096;
    if (proto_api_parse((const char *)data, size, &lim, &m, &err) == SG_OK) {
        proto_api_accepted_t acc[8];

        if (m.nto == 0 || m.nto > 8 || m.from == NULL ||
            m.content_type == NULL || m.body_len > 4096)
            abort();
        for (size_t i = 0; i < m.nto; i++) {
            acc[i].id = "0190f3c2";
            acc[i].to = m.to[i];
        }
        s = proto_api_accepted_json(acc, m.nto, "No-TN-Validation", NULL);
        free(s);
        proto_api_msg_clear(&m);
    } else {
        if (err.reason == NULL)
            abort();
        s = proto_api_error_json(err.reason, err.message);
        /* Messages are ASCII, so the error JSON always builds. */
        if (strstr(s, err.reason) == NULL)
            abort();
        free(s);
    }
    return 0;
}
