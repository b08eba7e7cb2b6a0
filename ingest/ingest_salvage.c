/*
 * ingest/ingest_salvage.c - the fields of a response from a refused SIP
 * request (see ingest_salvage.h for what is kept and why).  Pure code.
 *
 * Cost: one pass over the input to find line ends (memchr), then per kept
 * field an unfold into a stack buffer of INGEST_SALVAGE_FIELD_MAX bytes;
 * From and To add at most three parses each of a template request around
 * one candidate value (about a kilobyte), and the copy one more.  Memory:
 * the copy (INGEST_SALVAGE_COPY_MAX) and a few stack buffers.
 */
#include "ingest/ingest_salvage.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_FIELD_MAX INGEST_SALVAGE_FIELD_MAX
#define S_COPY_MAX INGEST_SALVAGE_COPY_MAX
#define S_ANON INGEST_SALVAGE_ANON_URI
/* A rebuilt From/To: "<" URI ">;tag=" TAG, both parts of the value (or the
 * placeholder for the URI). */
#define S_ADDR_MAX (S_FIELD_MAX + sizeof(S_ANON) + 8)

typedef enum {
    F_NONE = 0, /* a field no response copies, or no field at all */
    F_VIA,
    F_FROM,
    F_TO,
    F_CALL_ID,
    F_CSEQ,
} s_kind;

/* Canonical names, by s_kind. */
static const char *const s_names[] = {"",   "Via",     "From",
                                      "To", "Call-ID", "CSeq"};

/* One field being read: its lines span [start, end), `end` being the CR
 * of its last line; the value starts at `value`. */
typedef struct {
    s_kind kind;
    size_t start, value, end;
} s_field_t;

/* The copy: at most S_COPY_MAX bytes and a NUL. */
typedef struct {
    char *p;
    size_t n;
    int full; /* something did not fit: the copy is refused */
    size_t nvia;
    int from, to, call_id, cseq; /* seen */
} s_copy_t;

static int
s_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 3261 25.1 token characters (as proto_sip reads them). */
static int
s_is_token(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != '\0' && strchr("-.!%*_+`'~", c));
}

static int
s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void
s_put(s_copy_t *w, const char *s, size_t n)
{
    if (w->full || n > S_COPY_MAX - w->n) {
        w->full = 1;
        return;
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

static void
s_puts(s_copy_t *w, const char *s)
{
    s_put(w, s, strlen(s));
}

/* Offset of the next CRLF at or after `pos`, or n when there is none. */
static size_t
s_crlf(const char *b, size_t n, size_t pos)
{
    while (pos < n) {
        const char *cr = memchr(b + pos, '\r', n - pos);

        if (cr == NULL)
            return n;
        pos = (size_t)(cr - b);
        if (pos + 1 < n && b[pos + 1] == '\n')
            return pos;
        pos++;
    }
    return n;
}

/* Which response field a line starts, and where its value begins. */
static s_kind
s_kind_of(const char *p, size_t n, size_t *value)
{
    static const struct {
        const char *name, *compact;
        s_kind kind;
    } names[] = {
        {"via", "v", F_VIA},         {"from", "f", F_FROM},  {"to", "t", F_TO},
        {"call-id", "i", F_CALL_ID}, {"cseq", NULL, F_CSEQ},
    };
    size_t k = 0, e;

    while (k < n && s_is_token((unsigned char)p[k]))
        k++;
    e = k;
    while (k < n && s_is_ws(p[k]))
        k++;
    if (e == 0 || k >= n || p[k] != ':')
        return F_NONE;
    *value = k + 1;
    for (size_t i = 0; i < SG_NELEM(names); i++)
        if ((strlen(names[i].name) == e &&
             strncasecmp(p, names[i].name, e) == 0) ||
            (names[i].compact && e == 1 &&
             strncasecmp(p, names[i].compact, 1) == 0))
            return names[i].kind;
    return F_NONE;
}

/*
 * Unfold [p, p+n) into `out` (room for n bytes): each CRLF, which here is
 * always the end of a line a continuation line follows, becomes one SP
 * with the white space after it (RFC 3261 7.3.1); the result is trimmed.
 * Any other byte is kept, for proto_sip_value_check to judge.
 */
static size_t
s_unfold(const char *p, size_t n, char *out)
{
    size_t i = 0, k = 0, s = 0;

    while (i < n) {
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
            i += 2;
            while (i < n && s_is_ws(p[i]))
                i++;
            out[k++] = ' ';
            continue;
        }
        out[k++] = p[i++];
    }
    while (s < k && s_is_ws(out[s]))
        s++;
    while (k > s && s_is_ws(out[k - 1]))
        k--;
    memmove(out, out + s, k - s);
    return k - s;
}

/*
 * Does the strict parser take `v` as a From value?  (From and To share
 * one grammar.)  Asked of proto_sip_parse itself, with the value in a
 * request that is valid otherwise, so "parses" means exactly what the
 * final parse of the copy will find.
 */
static int
s_addr_ok(const char *v, size_t n)
{
    static const char head[] = "OPTIONS " S_ANON " SIP/2.0\r\n"
                               "Via: SIP/2.0/UDP anonymous.invalid;"
                               "branch=z9hG4bK0\r\n"
                               "To: <" S_ANON ">\r\n"
                               "Call-ID: 0\r\n"
                               "CSeq: 1 OPTIONS\r\n"
                               "From: ";
    char t[sizeof(head) + S_ADDR_MAX + 4];
    proto_sip_limits_t lim;
    proto_sip_req_t req;
    proto_sip_err_t err;
    size_t o = sizeof(head) - 1;

    if (n == 0 || n > S_ADDR_MAX || proto_sip_value_check(v, n) != NULL)
        return 0;
    memcpy(t, head, o);
    memcpy(t + o, v, n);
    o += n;
    memcpy(t + o, "\r\n\r\n", 4);
    o += 4;
    proto_sip_limits_default(&lim);
    if (proto_sip_parse(t, o, 0, &lim, &req, &err) != SG_OK)
        return 0;
    proto_sip_req_clear(&req);
    return 1;
}

/* The first ";" [ws] "tag" [ws] "=" [ws] token in [p, p+n), or NULL. */
static const char *
s_find_tag(const char *p, size_t n, size_t *len)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = i + 1, s;

        if (p[i] != ';')
            continue;
        while (k < n && s_is_ws(p[k]))
            k++;
        if (n - k < 3 || strncasecmp(p + k, "tag", 3) != 0)
            continue;
        k += 3;
        while (k < n && s_is_ws(p[k]))
            k++;
        if (k >= n || p[k] != '=')
            continue;
        k++;
        while (k < n && s_is_ws(p[k]))
            k++;
        s = k;
        while (k < n && s_is_token((unsigned char)p[k]))
            k++;
        if (k > s) {
            *len = k - s;
            return p + s;
        }
    }
    return NULL;
}

/*
 * The From or To value the copy carries, into `out` (S_ADDR_MAX bytes);
 * returns its length.  `v` (n bytes, unfolded) as received when it
 * parses; else "<URI>;tag=TAG" from what parses of it; else the
 * placeholder.  n == 0 (absent, or too long to look at): the placeholder.
 */
static size_t
s_addr_value(const char *v, size_t n, char *out)
{
    const char *uri = NULL, *tag = NULL, *lt;
    size_t urin = 0, tagn = 0, i = 0, rest = n, o;

    if (n == 0) {
        memcpy(out, "<" S_ANON ">", sizeof(S_ANON) + 1);
        return sizeof(S_ANON) + 1;
    }
    if (s_addr_ok(v, n)) {
        memcpy(out, v, n);
        return n;
    }
    /* Past a quoted display name that ends: a '<' inside it is text. */
    if (v[0] == '"') {
        for (size_t k = 1; k < n; k++) {
            if (v[k] == '\\') {
                k++;
            } else if (v[k] == '"') {
                i = k + 1;
                break;
            }
        }
    }
    if ((lt = memchr(v + i, '<', n - i)) != NULL) {
        const char *gt = memchr(lt + 1, '>', (size_t)(v + n - lt - 1));
        if (gt != NULL) {
            uri = lt + 1;
            urin = (size_t)(gt - uri);
            rest = (size_t)(gt + 1 - v);
        }
    } else if (v[0] != '"') {
        /* addr-spec: the first ';' starts the parameters. */
        const char *semi = memchr(v, ';', n);
        uri = v;
        urin = semi ? (size_t)(semi - v) : n;
        rest = urin;
        while (urin > 0 && s_is_ws(uri[urin - 1]))
            urin--;
    }
    tag = s_find_tag(v + rest, n - rest, &tagn);
    out[0] = '<';
    o = 1;
    if (uri != NULL && urin > 0) {
        memcpy(out + o, uri, urin);
        out[o + urin] = '>';
        if (!s_addr_ok(out, o + urin + 1))
            uri = NULL;
    } else {
        uri = NULL;
    }
    if (uri == NULL) {
        urin = sizeof(S_ANON) - 1;
        memcpy(out + o, S_ANON, urin);
    }
    o += urin;
    out[o++] = '>';
    if (tag != NULL) {
        memcpy(out + o, ";tag=", 5);
        memcpy(out + o + 5, tag, tagn);
        /* A token never breaks the grammar; checked all the same. */
        if (s_addr_ok(out, o + 5 + tagn))
            o += 5 + tagn;
    }
    return o;
}

/*
 * The request line: Method SP anything SP SIP/digits.digits.  Writes the
 * method, the placeholder Request-URI and SIP/2.0.
 */
static const char *
s_request_line(s_copy_t *w, const char *p, size_t n)
{
    size_t m = 0, v, k, d1 = 0, d2 = 0;

    if (n >= 4 && strncasecmp(p, "SIP/", 4) == 0)
        return "a status line, not a request";
    while (m < n && s_is_token((unsigned char)p[m]))
        m++;
    if (m == 0 || m >= n || p[m] != ' ')
        return "no SIP request line";
    if (m > S_FIELD_MAX)
        return "method too long";
    for (v = n; v > m + 1 && p[v - 1] != ' '; v--)
        ;
    if (v <= m + 1 || n - v < 4 || strncasecmp(p + v, "SIP/", 4) != 0)
        return "no SIP request line";
    for (k = v + 4; k < n && s_is_digit(p[k]); k++)
        d1++;
    if (k < n && p[k] == '.')
        k++;
    for (; k < n && s_is_digit(p[k]); k++)
        d2++;
    if (k != n || d1 == 0 || d2 == 0)
        return "no SIP request line";
    s_put(w, p, m);
    s_puts(w, " " S_ANON " SIP/2.0\r\n");
    return NULL;
}

/* A field is complete: copy it when a response needs it. */
static const char *
s_field_done(s_copy_t *w, const char *b, const s_field_t *f)
{
    static const char *const too_long[] = {
        "", "Via too long", "", "", "Call-ID too long", "CSeq too long"};
    static const char *const unsafe[] = {
        "", "control character in Via",     "",
        "", "control character in Call-ID", "control character in CSeq"};
    char v[S_FIELD_MAX], a[S_ADDR_MAX];
    int over = f->end - f->start > S_FIELD_MAX;
    size_t vn = 0;

    switch (f->kind) {
    case F_NONE:
        return NULL;
    case F_VIA:
    case F_CALL_ID:
    case F_CSEQ:
        if (over)
            return too_long[f->kind];
        vn = s_unfold(b + f->value, f->end - f->value, v);
        if (proto_sip_value_check(v, vn) != NULL)
            return unsafe[f->kind];
        if (f->kind == F_VIA && ++w->nvia > PROTO_SIP_VIA_CAP)
            return "too many Via fields";
        if (f->kind == F_CALL_ID)
            w->call_id = 1;
        if (f->kind == F_CSEQ)
            w->cseq = 1;
        s_puts(w, s_names[f->kind]);
        s_puts(w, ": ");
        s_put(w, v, vn);
        s_puts(w, "\r\n");
        return NULL;
    case F_FROM:
    case F_TO: {
        int *seen = f->kind == F_FROM ? &w->from : &w->to;

        /* A second one made the request invalid; the first answers. */
        if (*seen)
            return NULL;
        *seen = 1;
        if (!over)
            vn = s_unfold(b + f->value, f->end - f->value, v);
        vn = s_addr_value(v, vn, a);
        s_puts(w, s_names[f->kind]);
        s_puts(w, ": ");
        s_put(w, a, vn);
        s_puts(w, "\r\n");
        return NULL;
    }
    }
    return NULL;
}

const char *
ingest_salvage_copy(const char *buf, size_t n, char **out, size_t *outlen)
{
    s_copy_t w;
    s_field_t f = {F_NONE, 0, 0, 0};
    size_t pos = 0;
    int first = 1;
    const char *why = NULL;
    char a[S_ADDR_MAX];

    *out = NULL;
    *outlen = 0;
    memset(&w, 0, sizeof(w));
    while (pos + 1 < n && buf[pos] == '\r' && buf[pos + 1] == '\n')
        pos += 2;
    w.p = sg_malloc(S_COPY_MAX + 1);
    /* Complete lines only, up to the blank line or the last CRLF. */
    for (;;) {
        size_t eol = s_crlf(buf, n, pos), value = 0;

        if (eol < n && eol > pos && !first && s_is_ws(buf[pos])) {
            /* A continuation line follows its field's fate. */
            if (f.kind != F_NONE)
                f.end = eol;
            pos = eol + 2;
            continue;
        }
        if ((why = s_field_done(&w, buf, &f)) != NULL)
            goto fail;
        f.kind = F_NONE;
        if (eol >= n || eol == pos)
            break;
        if (first) {
            if ((why = s_request_line(&w, buf + pos, eol - pos)) != NULL)
                goto fail;
            first = 0;
        } else {
            f.kind = s_kind_of(buf + pos, eol - pos, &value);
            f.start = pos;
            f.value = pos + value;
            f.end = eol;
        }
        pos = eol + 2;
    }
    if (first)
        why = "no request line";
    else if (w.nvia == 0)
        why = "no Via";
    else if (!w.call_id)
        why = "no Call-ID";
    else if (!w.cseq)
        why = "no CSeq";
    if (why != NULL)
        goto fail;
    if (!w.from) {
        s_puts(&w, "From: ");
        s_put(&w, a, s_addr_value(NULL, 0, a));
        s_puts(&w, "\r\n");
    }
    if (!w.to) {
        s_puts(&w, "To: ");
        s_put(&w, a, s_addr_value(NULL, 0, a));
        s_puts(&w, "\r\n");
    }
    s_puts(&w, "\r\n");
    if (w.full) {
        why = "response fields too large";
        goto fail;
    }
    w.p[w.n] = '\0';
    *out = w.p;
    *outlen = w.n;
    return NULL;
fail:
    sg_free(w.p);
    return why;
}

sg_rc
ingest_salvage_parse(const uint8_t *buf, size_t n, proto_sip_req_t *req,
                     const char **why)
{
    proto_sip_limits_t lax;
    proto_sip_err_t err;
    const char *w;
    char *copy;
    size_t clen;
    sg_rc rc;

    memset(req, 0, sizeof(*req));
    if (why != NULL)
        *why = NULL;
    if ((w = ingest_salvage_copy((const char *)buf, n, &copy, &clen)) != NULL) {
        if (why != NULL)
            *why = w;
        return SG_REFUSED;
    }
    /* Default limits: the copy is small, and the limit that refused the
     * original (a body size, a media type) must not refuse it again. */
    proto_sip_limits_default(&lax);
    rc = proto_sip_parse(copy, clen, 0, &lax, req, &err);
    /* The copy ends at its blank line, so the body is empty; it must not
     * point into the copy freed here. */
    req->body = NULL;
    req->body_len = 0;
    sg_free(copy);
    if (rc != SG_OK) {
        if (why != NULL)
            *why = err.why;
        return SG_REFUSED;
    }
    return SG_OK;
}
