/*
 * tests/fuzz/fuzz_sip_salvage.c - the salvage of a refused SIP request
 * (ingest/ingest_salvage.h) on arbitrary bytes: the copy of the response
 * fields, the re-parse, and the response built from what survives, all
 * as ingest_sip.c runs them on a request the parser refused.
 *
 * Besides "no crash, no leak", it checks what the caller relies on: the
 * copy fits its documented bound and ends with the blank line, every
 * line of it is a line of the input, the re-parsed request has no body,
 * and each refusal code's response is CRLF-clean.
 */
#include "ingest/ingest_salvage.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Is every CRLF-terminated line of `copy` (but the blank one) somewhere
 * in the input?  The copy may only drop lines, never make new ones. */
static void
s_check_copy(const uint8_t *in, size_t n, const char *copy, size_t len)
{
    size_t pos = 0;

    if (len < 4 || memcmp(copy + len - 4, "\r\n\r\n", 4) != 0 ||
        copy[len] != '\0')
        abort();
    while (pos + 2 < len) {
        const char *eol = memmem(copy + pos, len - pos, "\r\n", 2);
        size_t l;
        if (eol == NULL)
            abort();
        l = (size_t)(eol - (copy + pos)) + 2;
        if (memmem(in, n, copy + pos, l) == NULL)
            abort();
        pos += l;
    }
}

static void
s_check_response(const proto_sip_req_t *req)
{
    static const int codes[] = {400, 413, 415, 505};
    static const char *const texts[] = {
        "Bad Request", "Request Entity Too Large", "Unsupported Media Type",
        "Version Not Supported"};

    for (size_t k = 0; k < 4; k++) {
        char *out;
        size_t len;

        if (proto_sip_response(req, codes[k], texts[k],
                               k == 2 ? "Accept: text/plain\r\n" : NULL, NULL,
                               &out, &len) != SG_OK)
            continue; /* a value unsafe to copy: ingest drops it too */
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
    /* The header-section cap ingest passes (sip.max_message bounds it
     * further); the first byte picks a smaller one now and then, so
     * the cut-off paths run too. */
    size_t max = size > 0 && data[0] < 16 ? (size_t)data[0] * 8 : 16384;
    proto_sip_req_t req;
    char *copy;
    size_t clen;

    if (ingest_salvage_copy((const char *)data, size, max, &copy, &clen) ==
        NULL) {
        size_t bound = (size < max ? size : max) + 2;
        if (clen > bound)
            abort();
        s_check_copy(data, size, copy, clen);
        free(copy);
    } else if (copy != NULL || clen != 0) {
        abort();
    }
    if (ingest_salvage_parse(data, size, max, &req) == SG_OK) {
        if (req.body != NULL || req.body_len != 0 || req.call_id.p == NULL)
            abort();
        s_check_response(&req);
        proto_sip_req_clear(&req);
    } else if (req.owned_ != NULL) {
        abort();
    }
    return 0;
}
