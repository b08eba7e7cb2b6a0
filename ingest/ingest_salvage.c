/*
 * ingest/ingest_salvage.c - the fields of a response from a refused SIP
 * request (see ingest_salvage.h).  Pure code.
 */
#include "ingest/ingest_salvage.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Is the field at `p` (up to the colon) one a response copies? */
static int
s_response_field(const char *p, size_t n)
{
    static const char *const names[] = {"via", "v",       "from", "f",   "to",
                                        "t",   "call-id", "i",    "cseq"};
    size_t k = 0;

    while (k < n && p[k] != ':')
        k++;
    if (k == n)
        return 0;
    while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
        k--;
    for (size_t i = 0; i < SG_NELEM(names); i++)
        if (strlen(names[i]) == k && strncasecmp(p, names[i], k) == 0)
            return 1;
    return 0;
}

const char *
ingest_salvage_copy(const char *buf, size_t n, size_t max, char **out,
                    size_t *outlen)
{
    size_t pos = 0, o = 0;
    int keep = 0, first = 1;
    char *w;

    *out = NULL;
    *outlen = 0;
    if (n > max)
        n = max;
    while (pos + 1 < n && buf[pos] == '\r' && buf[pos + 1] == '\n')
        pos += 2;
    /* The copy is never longer than the input plus the final CRLF. */
    w = sg_malloc(n + 3);
    for (;;) {
        const char *eol = NULL;
        size_t len;

        for (size_t i = pos; i + 1 < n; i++)
            if (buf[i] == '\r' && buf[i + 1] == '\n') {
                eol = buf + i;
                break;
            }
        if (eol == NULL) {
            sg_free(w);
            return "no complete header section";
        }
        len = (size_t)(eol - (buf + pos));
        if (len == 0)
            break;
        if (first)
            keep = 1;
        else if (buf[pos] == ' ' || buf[pos] == '\t')
            ; /* a continuation line follows its field's fate */
        else
            keep = s_response_field(buf + pos, len);
        if (keep) {
            memcpy(w + o, buf + pos, len + 2);
            o += len + 2;
        }
        first = 0;
        pos += len + 2;
    }
    if (o == 0) {
        sg_free(w);
        return "no request line";
    }
    w[o++] = '\r';
    w[o++] = '\n';
    w[o] = '\0';
    *out = w;
    *outlen = o;
    return NULL;
}

sg_rc
ingest_salvage_parse(const uint8_t *buf, size_t n, size_t max,
                     proto_sip_req_t *req)
{
    proto_sip_limits_t lax;
    proto_sip_err_t err;
    char *copy;
    size_t clen;
    sg_rc rc;

    memset(req, 0, sizeof(*req));
    if (ingest_salvage_copy((const char *)buf, n, max, &copy, &clen) != NULL)
        return SG_REFUSED;
    /* Default limits: the copy is small, and the limit that refused the
     * original (a body size, a media type) must not refuse it again. */
    proto_sip_limits_default(&lax);
    rc = proto_sip_parse(copy, clen, 0, &lax, req, &err);
    /* The copy ends at its blank line, so the body is empty; it must not
     * point into the copy freed here. */
    req->body = NULL;
    req->body_len = 0;
    sg_free(copy);
    return rc == SG_OK ? SG_OK : SG_REFUSED;
}
