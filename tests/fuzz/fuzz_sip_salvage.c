/*
 * tests/fuzz/fuzz_sip_salvage.c - the salvage of a refused SIP request
 * (ingest/ingest_salvage.h) on arbitrary bytes: the copy of the response
 * fields, the re-parse, and the response built from what survives, all
 * as ingest_sip.c runs them on a request the parser refused.
 *
 * Besides "no crash, no leak", it checks what the caller relies on: the
 * copy fits INGEST_SALVAGE_COPY_MAX and ends with the blank line, holds
 * no control character, and has only the request line and the response
 * fields under their canonical names (a header injected into a value
 * never gets through); the re-parsed request has no body; and each
 * refusal code's response is CRLF-clean.
 */
#include "ingest/ingest_salvage.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_check_copy(const char *copy, size_t len)
{
    static const char *const names[] = {
        "Via: ", "From: ", "To: ", "Call-ID: ", "CSeq: "};
    static const char rline[] = " " INGEST_SALVAGE_ANON_URI " SIP/2.0\r\n";
    size_t pos = 0;
    int first = 1;

    if (len < 4 || len > INGEST_SALVAGE_COPY_MAX ||
        memcmp(copy + len - 4, "\r\n\r\n", 4) != 0 || copy[len] != '\0')
        abort();
    while (pos + 2 < len) {
        const char *eol = memmem(copy + pos, len - pos, "\r\n", 2);
        size_t l, k;
        if (eol == NULL)
            abort();
        l = (size_t)(eol - (copy + pos));
        if (proto_sip_value_check(copy + pos, l) != NULL)
            abort();
        if (first) {
            if (l < sizeof(rline) - 2 ||
                memcmp(copy + pos + l + 2 - (sizeof(rline) - 1), rline,
                       sizeof(rline) - 1) != 0)
                abort();
        } else {
            for (k = 0; k < 5; k++)
                if (strncmp(copy + pos, names[k], strlen(names[k])) == 0)
                    break;
            if (k == 5)
                abort();
        }
        first = 0;
        pos += l + 2;
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
    proto_sip_req_t req;
    const char *why;
    char *copy;
    size_t clen;

    if (ingest_salvage_copy((const char *)data, size, &copy, &clen) == NULL) {
        s_check_copy(copy, clen);
        free(copy);
    } else if (copy != NULL || clen != 0) {
        abort();
    }
    if (ingest_salvage_parse(data, size, &req, &why) == SG_OK) {
        if (req.body != NULL || req.body_len != 0 || req.call_id.p == NULL ||
            why != NULL)
            abort();
        s_check_response(&req);
        proto_sip_req_clear(&req);
    } else if (req.owned_ != NULL || why == NULL) {
        abort();
    }
    return 0;
}
