/*
 * proto/proto_tn.c - TN canonicalization (RFC 8224 section 8.3), SIP URI
 * normalization (section 8.5) and the TN-or-URI decision (section 8.1,
 * DESIGN.md 3.5).
 *
 * Everything here works on bounded stack buffers: inputs longer than
 * S_IN_MAX are refused before any work, outputs are written through a
 * bounds-checked appender.
 */
#include "proto/proto_tn.h"

#include <string.h>

#define S_IN_MAX 2048 /* longest identity text we look at */
#define S_CC_MAX 3    /* E.164 country codes have 1 to 3 digits */

static const char s_not_tn[] = "not a telephone number";

static int
s_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int
s_is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
s_is_hex(int c)
{
    return s_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
s_hex_value(int c)
{
    if (s_is_digit(c))
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

static int
s_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
s_is_wsp(int c)
{
    return c == ' ' || c == '\t';
}

/* RFC 3966 visual-separator, plus the spaces people type between groups. */
static int
s_is_separator(int c)
{
    return c == '-' || c == '.' || c == '(' || c == ')' || s_is_wsp(c);
}

/* RFC 3986 unreserved: the only characters whose escapes we decode. */
static int
s_is_unreserved(int c)
{
    return s_is_alpha(c) || s_is_digit(c) || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* RFC 3261 user: unreserved / escaped / user-unreserved ('%' checked apart). */
static int
s_is_user_char(int c)
{
    return s_is_alpha(c) || s_is_digit(c) ||
           (c != '\0' && strchr("-_.!~*'()&=+$,;?/", c) != NULL);
}

static int
s_ci_prefix(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);

    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (s_lower((unsigned char)s[i]) != prefix[i])
            return 0;
    return 1;
}

static int
s_ci_equal(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && s_ci_prefix(s, n, word);
}

/*
 * Default country code rule, applied after the visual separators are gone.
 * `cc` is the configured default country code (digits, may be empty); the
 * first rule that matches decides:
 *
 *   1. written with a leading '+'        -> international, kept as written
 *   2. leading "00" (international call
 *      prefix)                           -> "00" removed, international
 *   3. contains '*' or '#', or no cc is
 *      configured                        -> kept as written (dial strings
 *                                           and vertical service codes are
 *                                           not E.164; without a cc there
 *                                           is nothing to add)
 *   4. a single leading '0' (national
 *      trunk prefix)                     -> '0' removed, cc prepended
 *                                           (a lone "0" is kept)
 *   5. already starts with cc and has at
 *      least 11 digits                   -> kept as written
 *   6. 7 to (15 - length of cc) digits   -> cc prepended (a national
 *                                           number)
 *   7. anything else (short codes and
 *      service numbers such as 911, 112,
 *      or numbers too long to extend)    -> kept as written
 *
 * The result must have 1 to 15 characters (RFC 8226 TelephoneNumber).
 * Example with cc "1": "+1 (215) 555-1212", "0012155551212",
 * "12155551212" and "215-555-1212" all give "12155551212"; "911" and "*67#"
 * stay as they are.  Rule 5 guesses: a national number that happens to
 * start with the cc digits and is 11 digits long is taken as international.
 * For NANP (cc "1") no area code starts with 1, so the guess is exact there.
 */
const char *
proto_tn_canon(const char *in, size_t n, const char *default_cc,
               char out[PROTO_TN_MAX + 1])
{
    /* Room for "00" + 15 digits: rule 2 may shorten the number by two. */
    char d[PROTO_TN_MAX + 3];
    const char *cc = default_cc != NULL ? default_cc : "";
    const char *res;
    size_t nd = 0, i = 0, cclen, reslen, pre = 0;
    int plus = 0, special = 0;

    out[0] = '\0';
    cclen = strnlen(cc, S_CC_MAX + 1);
    if (cclen > S_CC_MAX)
        return "bad default country code";
    for (size_t k = 0; k < cclen; k++)
        if (!s_is_digit((unsigned char)cc[k]))
            return "bad default country code";
    if (in == NULL)
        return "empty";
    if (n > S_IN_MAX)
        return "too long";
    while (i < n && s_is_wsp((unsigned char)in[i]))
        i++;
    while (n > i && s_is_wsp((unsigned char)in[n - 1]))
        n--;
    if (i == n)
        return "empty";
    if (in[i] == '+') {
        plus = 1;
        i++;
    }
    for (; i < n; i++) {
        int c = (unsigned char)in[i];

        if (s_is_digit(c) || c == '#' || c == '*') {
            if (nd == sizeof(d) - 1)
                return "too long";
            special |= !s_is_digit(c);
            d[nd++] = (char)c;
        } else if (!s_is_separator(c)) {
            return s_not_tn;
        }
    }
    d[nd] = '\0';
    if (nd == 0)
        return s_not_tn;

    res = d;
    if (plus) {
        /* rule 1: as written */
    } else if (nd >= 2 && d[0] == '0' && d[1] == '0') {
        res = d + 2;
    } else if (special || cclen == 0) {
        /* rule 3: as written */
    } else if (d[0] == '0') {
        if (nd > 1) {
            res = d + 1;
            pre = cclen;
        }
    } else if (nd >= 11 && strncmp(d, cc, cclen) == 0) {
        /* rule 5: as written */
    } else if (nd >= 7 && nd <= PROTO_TN_MAX - cclen) {
        pre = cclen;
    }

    reslen = strlen(res);
    if (reslen == 0)
        return s_not_tn;
    if (pre + reslen > PROTO_TN_MAX)
        return "too long";
    memcpy(out, cc, pre);
    memcpy(out + pre, res, reslen + 1);
    return NULL;
}

/* A SIP or SIPS URI cut into the parts section 8.5 keeps or looks at. */
typedef struct {
    int sips;
    const char *user; /* NULL when there is no userinfo */
    size_t user_len;
    const char *host; /* with the brackets of an IPv6 reference */
    size_t host_len;
    const char *params; /* after the first ';' of hostport, up to '?' */
    size_t params_len;
} s_sip_uri;

/*
 * '@' cannot appear unescaped in a SIP user, password, uri-parameter or
 * header (RFC 3261 section 25.1), so the first '@' ends the userinfo.  The
 * user part itself may hold ';' and '?' (telephone-subscriber parameters),
 * which is why the split at '@' comes before the split at ';'.
 */
static const char *
s_sip_split(const char *in, size_t n, s_sip_uri *u)
{
    const char *p, *end = in + n, *at, *hp_end, *port = NULL;

    memset(u, 0, sizeof(*u));
    if (s_ci_prefix(in, n, "sips:")) {
        u->sips = 1;
        p = in + 5;
    } else if (s_ci_prefix(in, n, "sip:")) {
        p = in + 4;
    } else {
        return "not a sip or sips URI";
    }
    for (const char *q = p; q < end; q++)
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
            return "bad character in URI";

    /* The prefix test above guarantees p <= end; the length is computed
     * from n so the compiler can see it too. */
    at = memchr(p, '@', n - (size_t)(p - in));
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));

        u->user = p;
        u->user_len = (size_t)((colon != NULL ? colon : at) - p);
        if (u->user_len == 0)
            return "empty user in URI";
        for (size_t k = 0; k < u->user_len; k++) {
            int c = (unsigned char)p[k];

            if (c == '%') {
                if (k + 2 >= u->user_len ||
                    !s_is_hex((unsigned char)p[k + 1]) ||
                    !s_is_hex((unsigned char)p[k + 2]))
                    return "bad percent-encoding in URI";
                k += 2;
            } else if (!s_is_user_char(c)) {
                return "bad character in URI user";
            }
        }
        p = at + 1;
    }

    hp_end = p;
    while (hp_end < end && *hp_end != ';' && *hp_end != '?')
        hp_end++;
    u->host = p;
    if (p < hp_end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(hp_end - p));

        if (rb == NULL || rb == p + 1)
            return "bad IPv6 reference in URI";
        for (const char *q = p + 1; q < rb; q++)
            if (!s_is_hex((unsigned char)*q) && *q != ':' && *q != '.')
                return "bad IPv6 reference in URI";
        u->host_len = (size_t)(rb + 1 - p);
        if (rb + 1 < hp_end) {
            if (rb[1] != ':')
                return "bad host in URI";
            port = rb + 2;
        }
    } else {
        const char *q = p;

        while (q < hp_end && *q != ':') {
            int c = (unsigned char)*q;

            if (!s_is_alpha(c) && !s_is_digit(c) && c != '-' && c != '.')
                return "bad host in URI";
            q++;
        }
        u->host_len = (size_t)(q - p);
        if (q < hp_end)
            port = q + 1;
    }
    if (u->host_len == 0)
        return "empty host in URI";
    if (port != NULL) {
        size_t plen = (size_t)(hp_end - port);

        if (plen == 0 || plen > 5)
            return "bad port in URI";
        for (size_t k = 0; k < plen; k++)
            if (!s_is_digit((unsigned char)port[k]))
                return "bad port in URI";
    }
    if (hp_end < end && *hp_end == ';') {
        const char *q = hp_end + 1;

        while (q < end && *q != '?')
            q++;
        u->params = hp_end + 1;
        u->params_len = (size_t)(q - u->params);
    }
    return NULL;
}

/* Append one character, refusing to go past PROTO_IDENT_MAX. */
static int
s_put(char *out, size_t *o, int c)
{
    if (*o >= PROTO_IDENT_MAX)
        return 0;
    out[(*o)++] = (char)c;
    return 1;
}

static int
s_puts(char *out, size_t *o, const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!s_put(out, o, (unsigned char)s[k]))
            return 0;
    return 1;
}

/*
 * Section 8.5 with RFC 3986 6.2.2: user and host lowercased, escapes of
 * unreserved characters decoded (then lowercased like the rest of the
 * user), other escapes kept with uppercase hex digits.
 */
const char *
proto_uri_normalize(const char *in, size_t n, char out[PROTO_IDENT_MAX + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    s_sip_uri u;
    const char *why;
    size_t o = 0;

    out[0] = '\0';
    if (in == NULL || n == 0)
        return "empty";
    if (n > S_IN_MAX)
        return "too long";
    if ((why = s_sip_split(in, n, &u)) != NULL)
        return why;
    if (!s_puts(out, &o, u.sips ? "sips:" : "sip:", u.sips ? 5 : 4))
        return "too long";
    if (u.user != NULL) {
        for (size_t k = 0; k < u.user_len; k++) {
            int c = (unsigned char)u.user[k], ok;

            if (c == '%') {
                int v = s_hex_value((unsigned char)u.user[k + 1]) << 4 |
                        s_hex_value((unsigned char)u.user[k + 2]);

                k += 2;
                if (s_is_unreserved(v))
                    ok = s_put(out, &o, s_lower(v));
                else
                    ok = s_put(out, &o, '%') && s_put(out, &o, hex[v >> 4]) &&
                         s_put(out, &o, hex[v & 15]);
            } else {
                ok = s_put(out, &o, s_lower(c));
            }
            if (!ok)
                return "too long";
        }
        if (!s_put(out, &o, '@'))
            return "too long";
    }
    for (size_t k = 0; k < u.host_len; k++)
        if (!s_put(out, &o, s_lower((unsigned char)u.host[k])))
            return "too long";
    out[o] = '\0';
    return NULL;
}

/* 1 if the ';'-separated parameter list holds user=phone. */
static int
s_has_user_phone(const char *p, size_t n)
{
    const char *end;

    if (p == NULL)
        return 0;
    end = p + n;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi != NULL ? semi : end;

        if (s_ci_equal(p, (size_t)(stop - p), "user=phone"))
            return 1;
        p = stop + (semi != NULL);
    }
    return 0;
}

/*
 * Section 8.1: a TN is signalled by user=phone; by local policy (DESIGN.md
 * 3.5) a user part with a leading '+' that is a dialable number, or one made
 * only of digits and visual separators with at least 7 digits, is a TN too.
 * Short codes (fewer digits) and alphanumeric users stay URIs.  When the
 * number does not canonicalize, section 8.1 says to treat the identity as a
 * URI, and we do.
 */
static int
s_sip_user_tn(const s_sip_uri *u, const char *default_cc,
              char tn[PROTO_TN_MAX + 1])
{
    const char *semi;
    size_t len, digits = 0;

    if (u->user == NULL)
        return 0;
    semi = memchr(u->user, ';', u->user_len);
    len = semi != NULL ? (size_t)(semi - u->user) : u->user_len;
    if (len == 0)
        return 0;
    if (s_has_user_phone(u->params, u->params_len))
        return proto_tn_canon(u->user, len, default_cc, tn) == NULL;
    if (u->user[0] == '+') {
        if (proto_tn_canon(u->user, len, NULL, tn) != NULL)
            return 0;
        return strspn(tn, "0123456789") == strlen(tn);
    }
    for (size_t k = 0; k < len; k++) {
        int c = (unsigned char)u->user[k];

        if (s_is_digit(c))
            digits++;
        else if (!s_is_separator(c))
            return 0;
    }
    return digits >= 7 && proto_tn_canon(u->user, len, default_cc, tn) == NULL;
}

/* RFC 3986 scheme followed by ':'. */
static int
s_has_scheme(const char *s, size_t n)
{
    size_t k = 1;

    if (n == 0 || !s_is_alpha((unsigned char)s[0]))
        return 0;
    while (k < n && (s_is_alpha((unsigned char)s[k]) ||
                     s_is_digit((unsigned char)s[k]) || s[k] == '+' ||
                     s[k] == '-' || s[k] == '.'))
        k++;
    return k < n && s[k] == ':';
}

static int
s_is_lws(int c)
{
    return s_is_wsp(c) || c == '\r' || c == '\n';
}

/*
 * Find the addr-spec of a name-addr: skip a quoted display name (it may
 * hold '<'), then take what lies between '<' and '>'.  Without '<' the whole
 * text is the addr-spec.  Parameters after '>' (";tag=") are ignored.
 */
static const char *
s_addr_spec(const char *in, size_t n, const char **a, size_t *alen)
{
    size_t k = 0;
    const char *lt, *gt;

    if (n > 0 && in[0] == '"') {
        for (k = 1; k < n && in[k] != '"'; k++)
            if (in[k] == '\\')
                k++;
        if (k >= n)
            return "unterminated display name";
        k++;
    }
    lt = memchr(in + k, '<', n - k);
    if (lt == NULL) {
        if (k > 0)
            return "display name without <URI>";
        *a = in;
        *alen = n;
        return NULL;
    }
    gt = memchr(lt, '>', (size_t)(in + n - lt));
    if (gt == NULL)
        return "missing '>'";
    *a = lt + 1;
    *alen = (size_t)(gt - lt - 1);
    while (*alen > 0 && s_is_lws((unsigned char)**a)) {
        (*a)++;
        (*alen)--;
    }
    while (*alen > 0 && s_is_lws((unsigned char)(*a)[*alen - 1]))
        (*alen)--;
    return NULL;
}

const char *
proto_ident_parse(const char *in, size_t n, const char *default_cc,
                  proto_ident_t *out)
{
    char tn[PROTO_TN_MAX + 1];
    const char *a, *why;
    size_t alen;

    memset(out, 0, sizeof(*out));
    if (in == NULL)
        return "empty";
    if (n > S_IN_MAX)
        return "too long";
    if (memchr(in, '\0', n) != NULL)
        return "not a telephone number or URI";
    while (n > 0 && s_is_lws((unsigned char)in[0])) {
        in++;
        n--;
    }
    while (n > 0 && s_is_lws((unsigned char)in[n - 1]))
        n--;
    if (n == 0)
        return "empty";
    if ((why = s_addr_spec(in, n, &a, &alen)) != NULL)
        return why;
    if (alen == 0)
        return "empty";

    if (s_ci_prefix(a, alen, "tel:")) {
        const char *num = a + 4, *semi;
        size_t len = alen - 4;

        /*
         * XXX a local number's phone-context is not used: the default
         * country code rule applies instead.  Using it would need RFC 3966
         * section 5.1.5 handling of domain-name contexts too.
         */
        semi = memchr(num, ';', len);
        if (semi != NULL)
            len = (size_t)(semi - num);
        if ((why = proto_tn_canon(num, len, default_cc, tn)) != NULL)
            return why;
        out->kind = PROTO_IDENT_TN;
        memcpy(out->value, tn, strlen(tn) + 1);
        return NULL;
    }
    if (s_ci_prefix(a, alen, "sip:") || s_ci_prefix(a, alen, "sips:")) {
        s_sip_uri u;

        if ((why = s_sip_split(a, alen, &u)) != NULL)
            return why;
        if (s_sip_user_tn(&u, default_cc, tn)) {
            out->kind = PROTO_IDENT_TN;
            memcpy(out->value, tn, strlen(tn) + 1);
            return NULL;
        }
        if ((why = proto_uri_normalize(a, alen, out->value)) != NULL)
            return why;
        out->kind = PROTO_IDENT_URI;
        return NULL;
    }
    if (s_has_scheme(a, alen))
        return "unsupported URI scheme";
    if (proto_tn_canon(a, alen, default_cc, tn) != NULL)
        return "not a telephone number or URI";
    out->kind = PROTO_IDENT_TN;
    memcpy(out->value, tn, strlen(tn) + 1);
    return NULL;
}
