/* deliver/deliver_sip.c - the outgoing MESSAGE and its responses
 * (deliver/deliver_sip.h). */
#include "deliver/deliver_sip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/proto_sip.h"

/* --- a growing output buffer --- */

typedef struct {
    char *p;
    size_t n, cap;
} s_buf;

static void
s_put(s_buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap)
            b->cap = b->cap ? b->cap * 2 : 1024;
        b->p = sg_realloc(b->p, b->cap);
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void
s_puts(s_buf *b, const char *s)
{
    s_put(b, s, strlen(s));
}

static void
s_putb(s_buf *b, const proto_bytes *t)
{
    s_put(b, t->p, t->len);
}

static void SG_PRINTF(2, 3)
s_printf(s_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int k;

    va_start(ap, fmt);
    k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof(tmp))
        sg_panic("deliver_sip: formatted header too long");
    s_put(b, tmp, (size_t)k);
}

/* --- value checks --- */

static int
s_starts(const proto_bytes *t, const char *pfx)
{
    size_t n = strlen(pfx);

    return t->len >= n && strncasecmp((const char *)t->p, pfx, n) == 0;
}

/* A URI we paste between '<' and '>': nothing that ends it early. */
static const char *
s_uri_check(const proto_bytes *t)
{
    if (t->len == 0)
        return "empty URI";
    if (proto_sip_value_check((const char *)t->p, t->len) != NULL)
        return "control character in a URI";
    for (size_t i = 0; i < t->len; i++)
        if (t->p[i] == '<' || t->p[i] == '>' || t->p[i] == '"' ||
            t->p[i] == ' ' || t->p[i] == '\t' || t->p[i] == ',')
            return "character not allowed in a URI";
    return NULL;
}

/* "+12025550100" or "12025550100": a number we turn into a SIP URI. */
static int
s_is_tn(const proto_bytes *t)
{
    size_t i = 0, digits = 0;

    if (t->len > 0 && t->p[0] == '+')
        i = 1;
    for (; i < t->len; i++) {
        if (t->p[i] < '0' || t->p[i] > '9')
            return 0;
        digits++;
    }
    return digits > 0;
}

/* A bare user part other than a number (an alphanumeric sender): only
 * RFC 3261 unreserved and user-unreserved characters. */
static int
s_user_ok(const proto_bytes *t)
{
    static const char ok[] = "-_.!~*'()&=+$;?/";

    for (size_t i = 0; i < t->len; i++)
        if (!((t->p[i] >= 'a' && t->p[i] <= 'z') ||
              (t->p[i] >= 'A' && t->p[i] <= 'Z') ||
              (t->p[i] >= '0' && t->p[i] <= '9') || strchr(ok, t->p[i])))
            return 0;
    return t->len > 0;
}

/*
 * Write `t` as a URI: a URI as given (with verstat placed per TS 24.229),
 * a bare number as sip:NUMBER@host;user=phone, a bare name as
 * sip:NAME@host.  `port` 0 leaves the port out.
 */
static const char *
s_uri(s_buf *b, const proto_bytes *t, const char *host, int port,
      const char *verstat)
{
    const char *why;

    if ((why = s_uri_check(t)) != NULL)
        return why;
    if (s_starts(t, "tel:")) {
        s_putb(b, t);
        if (verstat)
            s_printf(b, ";verstat=%s", verstat);
        return NULL;
    }
    if (s_starts(t, "sip:") || s_starts(t, "sips:")) {
        const uint8_t *at = memchr(t->p, '@', t->len);
        if (verstat && at != NULL) {
            proto_bytes u = {t->p, (size_t)(at - t->p)};
            proto_bytes rest = {at, t->len - (size_t)(at - t->p)};
            s_putb(b, &u);
            s_printf(b, ";verstat=%s", verstat);
            s_putb(b, &rest);
        } else {
            s_putb(b, t);
            if (verstat)
                s_printf(b, ";verstat=%s", verstat);
        }
        return NULL;
    }
    if (!s_is_tn(t) && !s_user_ok(t))
        return "bare identity is neither a number nor a plain user name";
    s_puts(b, "sip:");
    s_putb(b, t);
    if (verstat)
        s_printf(b, ";verstat=%s", verstat);
    s_puts(b, "@");
    if (strchr(host, ':'))
        s_printf(b, "[%s]", host);
    else
        s_puts(b, host);
    if (port)
        s_printf(b, ":%d", port);
    if (s_is_tn(t))
        s_puts(b, ";user=phone");
    return NULL;
}

void
deliver_sip_call_id(const uint8_t id[PROTO_MSG_ID_LEN], char *out,
                    size_t outsz)
{
    char hex[PROTO_MSG_ID_HEX];

    snprintf(out, outsz, "%s@stirgate", proto_msg_id_hex(id, hex));
}

sg_rc
deliver_sip_build(const deliver_sip_out_t *in, char **out, size_t *len,
                  const char **why)
{
    s_buf b = {0};
    char callid[64], hex[PROTO_MSG_ID_HEX];
    proto_bytes ct = in->content_type;

    *out = NULL;
    *len = 0;
    *why = NULL;
    if (proto_sip_value_check(in->branch, strlen(in->branch)) != NULL ||
        strpbrk(in->branch, " ;,<>\"") != NULL) {
        *why = "unsafe branch";
        goto fail;
    }
    if (proto_sip_value_check(ct.len ? (const char *)ct.p : "", ct.len)) {
        *why = "control character in the content type";
        goto fail;
    }
    if (in->verstat != NULL &&
        strspn(in->verstat, "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ-") !=
            strlen(in->verstat)) {
        *why = "unsafe verstat";
        goto fail;
    }
    for (size_t i = 0; i < in->n_identity; i++)
        if (in->identity[i].len == 0 ||
            proto_sip_value_check((const char *)in->identity[i].p,
                                  in->identity[i].len) != NULL) {
            *why = "control character in an Identity value";
            goto fail;
        }

    s_puts(&b, "MESSAGE ");
    if ((*why = s_uri(&b, &in->to, in->hop_host, in->hop_port, NULL)))
        goto fail;
    s_puts(&b, " SIP/2.0\r\n");
    s_printf(&b, "Via: SIP/2.0/%s ", in->tcp ? "TCP" : "UDP");
    if (strchr(in->local_host, ':'))
        s_printf(&b, "[%s]", in->local_host);
    else
        s_puts(&b, in->local_host);
    s_printf(&b, ":%d;branch=%s%s\r\n", in->local_port, in->branch,
             in->tcp ? "" : ";rport");
    s_puts(&b, "Max-Forwards: 70\r\n");
    s_puts(&b, "From: <");
    if ((*why = s_uri(&b, &in->from, in->local_host, 0, in->verstat)))
        goto fail;
    /* The tag: the random half of the message id, so duplicates match. */
    proto_msg_id_hex(in->id, hex);
    s_printf(&b, ">;tag=%.16s\r\n", hex + 16);
    s_puts(&b, "To: <");
    if ((*why = s_uri(&b, &in->to, in->hop_host, 0, NULL)))
        goto fail;
    s_puts(&b, ">\r\n");
    deliver_sip_call_id(in->id, callid, sizeof(callid));
    s_printf(&b, "Call-ID: %s\r\n", callid);
    s_printf(&b, "CSeq: %u MESSAGE\r\n", in->cseq);
    if (in->verstat != NULL) {
        s_puts(&b, "P-Asserted-Identity: <");
        if ((*why = s_uri(&b, &in->from, in->local_host, 0, in->verstat)))
            goto fail;
        s_puts(&b, ">\r\n");
    }
    for (size_t i = 0; i < in->n_identity; i++) {
        s_puts(&b, "Identity: ");
        s_putb(&b, &in->identity[i]);
        s_puts(&b, "\r\n");
    }
    s_puts(&b, "Content-Type: ");
    if (ct.len)
        s_putb(&b, &ct);
    else
        s_puts(&b, "text/plain");
    s_printf(&b, "\r\nContent-Length: %zu\r\n\r\n", in->body.len);
    s_putb(&b, &in->body);
    *out = b.p;
    *len = b.n;
    return SG_OK;
fail:
    sg_free(b.p);
    return SG_REFUSED;
}

/* --- responses --- */

static int
s_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("-.!%*_+`'~", c) != NULL;
}

static int
s_name_is(const char *p, size_t n, const char *full, const char *compact)
{
    return (strlen(full) == n && strncasecmp(p, full, n) == 0) ||
           (compact != NULL && strlen(compact) == n &&
            strncasecmp(p, compact, n) == 0);
}

static void
s_trim(const char **p, size_t *n)
{
    while (*n > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* Digits only, at most 9 of them (values below 10^9). */
static int
s_number(const char *p, size_t n, long *out)
{
    long v = 0;

    if (n == 0 || n > 9)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

/* The branch parameter of the first via-parm of a Via value. */
static void
s_branch(const char *p, size_t n, deliver_sip_str_t *out)
{
    const char *e = p + n;

    for (const char *q = p; q < e; q++) {
        if (*q == ',')
            return; /* the next via-parm: not the top one */
        if (*q != ';')
            continue;
        const char *k = q + 1;
        while (k < e && (*k == ' ' || *k == '\t'))
            k++;
        if ((size_t)(e - k) > 7 && strncasecmp(k, "branch=", 7) == 0) {
            const char *v = k + 7, *ve = v;
            while (ve < e && *ve != ';' && *ve != ',' && *ve != ' ' &&
                   *ve != '\t')
                ve++;
            if (ve > v) {
                out->p = v;
                out->n = (size_t)(ve - v);
            }
            return;
        }
    }
}

int
deliver_sip_resp_parse(const void *buf, size_t n, int stream,
                       deliver_sip_resp_t *out, const char **why)
{
    const char *s = buf, *e, *line, *hdr_end = NULL;
    size_t skip = 0, lines = 0;
    long cl = -1, v;
    int have_via = 0, have_cseq = 0;

    memset(out, 0, sizeof(*out));
    out->retry_after = -1;
    *why = NULL;
    /* Keep-alive CRLFs between messages on a stream (RFC 5626 4.4.1). */
    while (stream && skip + 1 < n && s[skip] == '\r' && s[skip + 1] == '\n')
        skip += 2;
    if (stream && skip == n)
        return 0;
    s += skip;
    n -= skip;
    /* Find the end of the header section within its limit. */
    for (size_t i = 0; i + 3 < n && i < DELIVER_SIP_RESP_HDR_MAX; i++)
        if (s[i] == '\r' && s[i + 1] == '\n' && s[i + 2] == '\r' &&
            s[i + 3] == '\n') {
            hdr_end = s + i + 2; /* after the last header's CRLF */
            break;
        }
    if (hdr_end == NULL) {
        if (stream && n < DELIVER_SIP_RESP_HDR_MAX)
            return 0;
        *why = "no end of the header section within the limit";
        return -1;
    }
    e = hdr_end;
    /* Status line. */
    if ((size_t)(e - s) < 14 || memcmp(s, "SIP/2.0 ", 8) != 0 ||
        !s_number(s + 8, 3, &v) || s[11] != ' ' || v < 100 || v > 699) {
        *why = "bad status line";
        return -1;
    }
    out->code = (int)v;
    line = memchr(s, '\r', (size_t)(e - s));
    if (line == NULL || line[1] != '\n') {
        *why = "bad status line end";
        return -1;
    }
    for (const char *q = s + 12; q < line; q++)
        if ((unsigned char)*q < 0x20 && *q != '\t') {
            *why = "control character in the reason phrase";
            return -1;
        }
    line += 2;
    /* Header fields; a continuation line belongs to the field above. */
    while (line < e) {
        const char *le = line, *colon, *val;
        size_t vn;
        while (le < e && *le != '\r')
            le++;
        if (le >= e || le[1] != '\n') {
            *why = "bare CR in a header";
            return -1;
        }
        for (const char *q = line; q < le; q++)
            if (((unsigned char)*q < 0x20 && *q != '\t') || *q == '\n' ||
                *q == 0x7f) {
                *why = "control character in a header";
                return -1;
            }
        if (++lines > DELIVER_SIP_RESP_LINES) {
            *why = "too many header lines";
            return -1;
        }
        if (*line == ' ' || *line == '\t') {
            /* Folded: only values we do not read may continue. */
            line = le + 2;
            continue;
        }
        colon = memchr(line, ':', (size_t)(le - line));
        if (colon == NULL || colon == line) {
            *why = "header line without a name";
            return -1;
        }
        size_t nl = (size_t)(colon - line);
        while (nl > 0 && (line[nl - 1] == ' ' || line[nl - 1] == '\t'))
            nl--;
        for (size_t i = 0; i < nl; i++)
            if (!s_tchar(line[i])) {
                *why = "bad header name";
                return -1;
            }
        val = colon + 1;
        vn = (size_t)(le - val);
        s_trim(&val, &vn);
        if (s_name_is(line, nl, "Via", "v")) {
            if (!have_via)
                s_branch(val, vn, &out->branch);
            have_via = 1;
        } else if (s_name_is(line, nl, "Call-ID", "i")) {
            out->call_id.p = val;
            out->call_id.n = vn;
        } else if (s_name_is(line, nl, "CSeq", NULL)) {
            const char *sp = memchr(val, ' ', vn);
            if (sp == NULL || !s_number(val, (size_t)(sp - val), &v)) {
                *why = "bad CSeq";
                return -1;
            }
            out->cseq = (uint32_t)v;
            have_cseq = 1;
        } else if (s_name_is(line, nl, "Content-Length", "l")) {
            if (cl >= 0 || !s_number(val, vn, &cl)) {
                *why = "bad or repeated Content-Length";
                return -1;
            }
        } else if (s_name_is(line, nl, "Retry-After", NULL)) {
            const char *q = val;
            size_t k = 0;
            while (k < vn && q[k] >= '0' && q[k] <= '9')
                k++;
            if (s_number(q, k, &v))
                out->retry_after = v;
        }
        line = le + 2;
    }
    if (!have_via || out->branch.p == NULL) {
        *why = "no Via branch";
        return -1;
    }
    if (!have_cseq || out->call_id.p == NULL) {
        *why = "no CSeq or Call-ID";
        return -1;
    }
    if (cl > DELIVER_SIP_RESP_BODY_MAX) {
        *why = "response body too large";
        return -1;
    }
    if (stream) {
        size_t hl = (size_t)(e + 2 - s);
        if (cl < 0) {
            *why = "no Content-Length on a stream";
            return -1;
        }
        if (n - hl < (size_t)cl)
            return 0;
        out->total_len = skip + hl + (size_t)cl;
    } else {
        out->total_len = skip + n;
    }
    return 1;
}

sg_rc
deliver_sip_outcome(int code)
{
    if (code < 200)
        return SG_ERR;
    if (code < 300)
        return SG_OK;
    if (code == 408 || (code >= 500 && code < 600))
        return SG_AGAIN;
    return SG_REFUSED;
}
