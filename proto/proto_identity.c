/*
 * proto/proto_identity.c - the Identity header value (RFC 8224 section 4,
 * erratum 6499):
 *
 *   value  = LWS digest LWS ";" LWS "info" EQUAL "<" absoluteURI ">"
 *            *( SEMI param ) LWS
 *   param  = token [ EQUAL ( token / host / quoted-string ) ]
 *   EQUAL  = LWS "=" LWS,  SEMI = LWS ";" LWS   (RFC 3261 section 25.1)
 *   LWS    = [*WSP CRLF] 1*WSP   (optional everywhere above)
 *
 * info, alg and ppt are the parameters we know; a second occurrence of any
 * of them is malformed (which one would count?).  Others are skipped.
 *
 * RFC 8224's ABNF writes info as the first parameter, but parameter order
 * carries no meaning in SIP (RFC 3261 7.3.1 and 19.1.4 compare parameters
 * irrespective of order) and a proxy may re-serialize the header, so info
 * is accepted anywhere among the parameters; we always emit it first.
 * Parameter names are case-insensitive (RFC 3261 7.3.1); the values of alg
 * and ppt are compared case-sensitively by the verifier, because they must
 * equal the JOSE `alg` (case-sensitive, RFC 7515 4.1.1) and the PASSporT
 * `ppt` (RFC 8224 4.1).
 */
#include "proto/proto_identity.h"

#include "lib/sg.h"
#include "proto/proto_passport.h"

#include <string.h>

/* Parameters and the info URI fit in this much beyond the token. */
#define S_PARAMS_MAX 4096
#define S_INFO_MAX 2048

typedef struct {
    const char *p, *end;
} s_cursor;

static int
s_is_wsp(int c)
{
    return c == ' ' || c == '\t';
}

static int
s_is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* RFC 3261 token characters. */
static int
s_is_token_char(int c)
{
    return s_is_alnum(c) || (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

/* Erratum 6499: base64url-char / ".". */
static int
s_is_digest_char(int c)
{
    return s_is_alnum(c) || c == '-' || c == '_' || c == '.';
}

/* Skip LWS; a CRLF counts only when folding (followed by WSP). */
static void
s_skip_lws(s_cursor *c)
{
    for (;;) {
        while (c->p < c->end && s_is_wsp((unsigned char)*c->p))
            c->p++;
        if (c->end - c->p >= 3 && c->p[0] == '\r' && c->p[1] == '\n' &&
            s_is_wsp((unsigned char)c->p[2]))
            c->p += 3;
        else
            return;
    }
}

static size_t
s_span(s_cursor *c, int (*ok)(int))
{
    const char *start = c->p;

    while (c->p < c->end && ok((unsigned char)*c->p))
        c->p++;
    return (size_t)(c->p - start);
}

static int
s_ci_equal(const char *s, size_t n, const char *word)
{
    if (n != strlen(word))
        return 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];

        if (ch >= 'A' && ch <= 'Z')
            ch += 'a' - 'A';
        if (ch != word[i])
            return 0;
    }
    return 1;
}

/* host characters beyond token: IPv6 references and ports. */
static int
s_is_gen_value_char(int c)
{
    return s_is_token_char(c) || c == '[' || c == ']' || c == ':';
}

/*
 * A quoted-string; on success *v and *vlen give the text between the quotes,
 * escapes left in place.  Callers that use the value accept only token
 * characters inside, so escapes never reach them.
 */
static int
s_quoted(s_cursor *c, const char **v, size_t *vlen)
{
    const char *start;

    if (c->p >= c->end || *c->p != '"')
        return 0;
    start = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;

        if (ch == '\\') {
            if (c->end - c->p < 2 || (unsigned char)c->p[1] > 0x7f ||
                c->p[1] == '\r' || c->p[1] == '\n')
                return 0;
            c->p += 2;
            continue;
        }
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 0;
        c->p++;
    }
    if (c->p >= c->end)
        return 0;
    *v = start;
    *vlen = (size_t)(c->p - start);
    c->p++;
    return 1;
}

/* absoluteURI between '<' and '>': scheme ":" and no LWS or brackets. */
static int
s_info(s_cursor *c, const char **v, size_t *vlen)
{
    const char *start, *q;

    if (c->p >= c->end || *c->p != '<')
        return 0;
    start = ++c->p;
    while (c->p < c->end && *c->p != '>') {
        unsigned char ch = (unsigned char)*c->p;

        if (ch <= 0x20 || ch >= 0x7f || ch == '<' || ch == '"')
            return 0;
        c->p++;
    }
    if (c->p >= c->end || c->p == start || c->p - start > S_INFO_MAX)
        return 0;
    *v = start;
    *vlen = (size_t)(c->p - start);
    c->p++;
    q = start;
    if (!((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z'))
        return 0;
    while (q < start + *vlen && (s_is_alnum((unsigned char)*q) || *q == '+' ||
                                 *q == '-' || *q == '.'))
        q++;
    return q < start + *vlen && *q == ':';
}

proto_reason
proto_identity_parse(const char *value, size_t n, proto_identity_t *out)
{
    s_cursor c;
    const char *tok, *info = NULL, *alg = NULL, *ppt = NULL;
    size_t toklen, infolen = 0, alglen = 0, pptlen = 0;

    memset(out, 0, sizeof(*out));
    if (value == NULL || n == 0 ||
        n > PROTO_PASSPORT_MAX_TOKEN + S_PARAMS_MAX ||
        memchr(value, '\0', n) != NULL)
        return REASON_MALFORMED_IDENTITY;
    c.p = value;
    c.end = value + n;

    s_skip_lws(&c);
    tok = c.p;
    toklen = s_span(&c, s_is_digest_char);
    if (toklen == 0 || toklen > PROTO_PASSPORT_MAX_TOKEN)
        return REASON_MALFORMED_IDENTITY;

    /*
     * Parameters.  Each round: SEMI, a name, then an optional EQUAL and a
     * value whose syntax depends on the name.
     */
    for (;;) {
        const char *name, *v = NULL;
        size_t namelen, vlen = 0;
        int has_value;

        s_skip_lws(&c);
        if (c.p >= c.end || *c.p != ';')
            break;
        c.p++;
        s_skip_lws(&c);
        name = c.p;
        namelen = s_span(&c, s_is_token_char);
        if (namelen == 0)
            return REASON_MALFORMED_IDENTITY;
        s_skip_lws(&c);
        has_value = c.p < c.end && *c.p == '=';
        if (has_value) {
            c.p++;
            s_skip_lws(&c);
        }

        if (s_ci_equal(name, namelen, "info")) {
            if (info != NULL || !has_value || !s_info(&c, &info, &infolen))
                return REASON_MALFORMED_IDENTITY;
        } else if (s_ci_equal(name, namelen, "alg")) {
            if (alg != NULL || !has_value)
                return REASON_MALFORMED_IDENTITY;
            alg = c.p;
            if ((alglen = s_span(&c, s_is_token_char)) == 0)
                return REASON_MALFORMED_IDENTITY;
        } else if (s_ci_equal(name, namelen, "ppt")) {
            /* RFC 8946 writes ppt="div": accepted, the quotes dropped. */
            if (ppt != NULL || !has_value)
                return REASON_MALFORMED_IDENTITY;
            if (c.p < c.end && *c.p == '"') {
                if (!s_quoted(&c, &ppt, &pptlen) || pptlen == 0)
                    return REASON_MALFORMED_IDENTITY;
                for (size_t k = 0; k < pptlen; k++)
                    if (!s_is_token_char((unsigned char)ppt[k]))
                        return REASON_MALFORMED_IDENTITY;
            } else {
                ppt = c.p;
                if ((pptlen = s_span(&c, s_is_token_char)) == 0)
                    return REASON_MALFORMED_IDENTITY;
            }
        } else if (has_value) {
            if (c.p < c.end && *c.p == '"') {
                if (!s_quoted(&c, &v, &vlen))
                    return REASON_MALFORMED_IDENTITY;
            } else if (s_span(&c, s_is_gen_value_char) == 0) {
                return REASON_MALFORMED_IDENTITY;
            }
        }
    }
    if (c.p != c.end || info == NULL)
        return REASON_MALFORMED_IDENTITY;

    out->token = sg_strndup(tok, toklen);
    out->info = sg_strndup(info, infolen);
    out->alg = alg != NULL ? sg_strndup(alg, alglen) : NULL;
    out->ppt = ppt != NULL ? sg_strndup(ppt, pptlen) : NULL;
    out->compact = toklen >= 2 && tok[0] == '.' && tok[1] == '.';
    return REASON_OK;
}

void
proto_identity_clear(proto_identity_t *self)
{
    if (self == NULL)
        return;
    sg_free(self->token);
    sg_free(self->info);
    sg_free(self->alg);
    sg_free(self->ppt);
    memset(self, 0, sizeof(*self));
}

char *
proto_identity_format(const char *token, const char *info, const char *ppt)
{
    static const char info_pre[] = ";info=<", info_post[] = ">";
    static const char ppt_pre[] = ";ppt=";
    size_t tl = strlen(token), il = strlen(info);
    size_t pl = ppt != NULL ? strlen(ppt) : 0, len = 0;
    char *s, *p;

    if (!sg_add_ok(tl, il, &len) || !sg_add_ok(len, pl, &len) ||
        !sg_add_ok(len, sizeof(info_pre) + sizeof(info_post) + sizeof(ppt_pre),
                   &len))
        sg_panic("proto_identity_format: length overflow");
    p = s = sg_malloc(len);
    memcpy(p, token, tl);
    p += tl;
    memcpy(p, info_pre, sizeof(info_pre) - 1);
    p += sizeof(info_pre) - 1;
    memcpy(p, info, il);
    p += il;
    memcpy(p, info_post, sizeof(info_post) - 1);
    p += sizeof(info_post) - 1;
    if (ppt != NULL) {
        memcpy(p, ppt_pre, sizeof(ppt_pre) - 1);
        p += sizeof(ppt_pre) - 1;
        memcpy(p, ppt, pl);
        p += pl;
    }
    *p = '\0';
    return s;
}
