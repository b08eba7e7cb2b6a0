/*
 * proto/proto_passport.c - PASSporT (RFC 8225) parse and build.
 *
 * Parsing keeps the token as received and records where the signing input
 * ends: the signature is verified over the received segments (DESIGN.md
 * 3.4), the JSON is decoded only to read the claims.  Building goes through
 * the RFC 8225 section 9 serialization of proto_json.c.
 */
#include "proto/proto_passport.h"
#include "proto/proto_passport_int.h"

#include "lib/sg.h"
#include "lib/sg_utf8.h"
#include "proto/proto_b64.h"
#include "proto/proto_json.h"

#include <stdlib.h>
#include <string.h>

#define S_SIG_LEN 64     /* ES256 R||S (RFC 7518 section 3.4) */
#define S_SIG_B64_LEN 86 /* base64url characters for 64 octets */

/*
 * A string member: 1 and *out set (NULL when absent and optional), or 0
 * when it is missing but required, not a string, or empty.
 */
static int
s_string(const json_t *obj, const char *key, int required, const char **out)
{
    const json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL)
        return !required;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return 0;
    *out = json_string_value(v);
    return 1;
}

/*
 * iat is a NumericDate: an integer.  RFC 8225 section 7.1 (and the same
 * token in RFC 8224 and RFC 9410) encodes it as a string of digits; that
 * is accepted on input (DESIGN.md 3.3) and never emitted.  Negative values,
 * reals, signs, empty strings and values past INT64_MAX are refused.
 */
static int
s_iat(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);

        if (x < 0)
            return 0;
        *out = (int64_t)x;
        return 1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        int64_t x = 0;

        if (n == 0)
            return 0;
        for (size_t i = 0; i < n; i++) {
            int d = s[i] - '0';

            if (d < 0 || d > 9 || x > (INT64_MAX - d) / 10)
                return 0;
            x = x * 10 + d;
        }
        *out = x;
        return 1;
    }
    return 0;
}

/*
 * A `tn` claim value is canonical (RFC 8225 5.2.1.1, RFC 8224 8.3 step 4):
 * tn-spec = 1*("#" / "*" / DIGIT).  Anything else ("+1 215...", a name)
 * is not a telephone number: taken as one it could never match signaling,
 * yet an spc entry without an SPC map would still "cover" it.
 */
static int
s_tn_spec(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && strspn(s, "0123456789#*") == n;
}

/*
 * orig: exactly one member, "tn" or "uri", holding a non-empty string
 * (RFC 8225 5.2.1: "MUST only contain one identity").
 */
static int
s_orig(proto_passport_t *self)
{
    const json_t *o = json_object_get(self->payload, "orig");
    const char *tn, *uri;

    if (!json_is_object(o) || json_object_size(o) != 1)
        return 0;
    if (!s_string(o, "tn", 0, &tn) || !s_string(o, "uri", 0, &uri))
        return 0;
    if (tn != NULL && !s_tn_spec(tn))
        return 0;
    if (tn != NULL) {
        self->orig_kind = PROTO_IDENT_TN;
        self->orig = tn;
    } else if (uri != NULL) {
        self->orig_kind = PROTO_IDENT_URI;
        self->orig = uri;
    } else {
        return 0;
    }
    return 1;
}

/*
 * One dest member: an array of non-empty strings, or, for "tn" only (RFC
 * 8946's div-o example, DESIGN.md 3.3), a single string.  No RFC example
 * writes a "uri" string, so that shape stays malformed.  Absent is an empty
 * list.  `tn` entries must be tn-spec.
 */
static int
s_dest_list(const json_t *v, int tn, size_t *total, const char ***arr,
            size_t *n)
{
    size_t count, i;
    const json_t *m;

    *arr = NULL;
    *n = 0;
    if (v == NULL)
        return 1;
    if (json_is_string(v) && tn)
        count = 1;
    else if (json_is_array(v))
        count = json_array_size(v);
    else
        return 0;
    if (count > PROTO_PASSPORT_MAX_DEST - *total)
        return 0;
    *total += count;
    if (count == 0)
        return 1;
    *arr = sg_calloc(count, sizeof(**arr));
    if (json_is_string(v)) {
        if (json_string_length(v) == 0 || !s_tn_spec(json_string_value(v)))
            return 0;
        (*arr)[0] = json_string_value(v);
        *n = 1;
        return 1;
    }
    json_array_foreach (v, i, m) {
        if (!json_is_string(m) || json_string_length(m) == 0 ||
            (tn && !s_tn_spec(json_string_value(m))))
            return 0;
        (*arr)[i] = json_string_value(m);
    }
    *n = count;
    return 1;
}

/*
 * dest: an object whose "tn" and "uri" members list identities; other
 * members are tolerated (RFC 8225 8.3), at least one identity is required.
 */
static int
s_dest(proto_passport_t *self)
{
    const json_t *d = json_object_get(self->payload, "dest");
    size_t total = 0;

    if (!json_is_object(d))
        return 0;
    if (!s_dest_list(json_object_get(d, "tn"), 1, &total, &self->dest_tn,
                     &self->n_dest_tn) ||
        !s_dest_list(json_object_get(d, "uri"), 0, &total, &self->dest_uri,
                     &self->n_dest_uri))
        return 0;
    return total > 0;
}

/* RFC 8225 section 5: "Claim names MUST use the US-ASCII character set"
 * (values may be UTF-8).  Member names of nested objects are not claims. */
static int
s_claim_names_ascii(const json_t *payload)
{
    const char *key;
    const json_t *v;

    json_object_foreach ((json_t *)payload, key, v) {
        for (const unsigned char *p = (const unsigned char *)key; *p; p++)
            if (*p > 0x7f)
                return 0;
    }
    return 1;
}

/*
 * The header and payload checks, in the order of proto_passport.h.
 *
 * `typ` is compared case-sensitively although RFC 7515 4.1.9 calls media
 * types case-insensitive: RFC 8225 4.1 fixes the value "passport", every
 * RFC example writes it so, and DESIGN.md 3.3 lists the only liberties we
 * take; "PASSporT" is not among them.
 *
 * `crit` (RFC 7515 4.1.11): a JWS listing extensions the recipient does not
 * understand MUST be rejected.  PASSporT defines none and we implement
 * none, so any `crit` member makes the token malformed.
 */
static int
s_claims(proto_passport_t *self)
{
    const char *typ;
    const json_t *iat;

    if (!s_string(self->header, "typ", 1, &typ) || strcmp(typ, "passport") != 0)
        return 0;
    if (json_object_get(self->header, "crit") != NULL)
        return 0;
    if (!s_claim_names_ascii(self->payload))
        return 0;
    self->typ = typ;
    if (!s_string(self->header, "alg", 1, &self->alg) ||
        !s_string(self->header, "x5u", 1, &self->x5u) ||
        !s_string(self->header, "ppt", 0, &self->ppt))
        return 0;
    iat = json_object_get(self->payload, "iat");
    if (iat == NULL || !s_iat(iat, &self->iat))
        return 0;
    if (!s_orig(self) || !s_dest(self))
        return 0;

    /*
     * RFC 9475 3.2: msgi belongs to msg PASSporTs only and a verifier MUST
     * ignore it elsewhere, so it is read only when ppt is "msg".
     */
    if (self->ppt != NULL && strcmp(self->ppt, "msg") == 0 &&
        !s_string(self->payload, "msgi", 0, &self->msgi))
        return 0;
    return 1;
}

/*
 * The canonical reader: a fast path for the tokens stirgate itself emits.
 *
 * jansson builds a tree of some fifty allocations for a msg PASSporT, and
 * on the verify path that cost as much as everything else but the ECDSA
 * verify.  Most tokens a gateway receives are in RFC 8225 section 9 form
 * with exactly the claims proto_passport_signing_input writes:
 *
 *   header  {"alg":S,("ppt":S,)?"typ":S,"x5u":S}
 *   payload {"dest":{"tn":[S,..]?,"uri":[S,..]?},"iat":N,("msgi":S,)?
 *            "orig":{"tn"|"uri":S}}
 *
 * with no whitespace, every S printable ASCII without '"' or '\' (so its
 * JSON value is its bytes) and N 1 to 18 digits without a leading zero
 * (so it is an integer that fits).  For such text jansson's tree is fully
 * determined: no escapes to decode, no duplicate member names, no NUL,
 * nothing out of range.  The reader accepts only that shape and only when
 * every check of s_claims passes as well (typ, non-empty strings,
 * tn-spec, the dest count, msgi under ppt msg, alg ES256); anything else,
 * valid or not, is left to the general path, which decides exactly as it
 * always did.  So the fast path can only say REASON_OK, and only where
 * the general path says REASON_OK with the same fields:
 * proto_passport_int.h exposes the general path, and the unit tests and
 * fuzz_passport compare both on every input.
 *
 * It reads the decoded text in place and allocates only the dest arrays;
 * the strings are NUL-terminated in place (at their closing quote) once
 * everything passed.  The payload tree is then built only on demand
 * (proto_passport_payload: claim constraints).
 */
typedef struct {
    const char *p, *end;
} s_cur_t;

static int
s_cur_lit(s_cur_t *c, const char *lit, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

#define S_CUR_LIT(c, lit) s_cur_lit((c), (lit), sizeof(lit) - 1)

/* A non-empty printable-ASCII string without '"' or '\'; *out = its first
 * byte (its closing quote is the next '"'). */
static int
s_cur_str(s_cur_t *c, const char **out)
{
    const char *q;

    if (c->p == c->end || *c->p != '"')
        return 0;
    for (q = c->p + 1; q < c->end && *q != '"'; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e || *q == '\\')
            return 0;
    if (q == c->end || q == c->p + 1)
        return 0;
    *out = c->p + 1;
    c->p = q + 1;
    return 1;
}

/* 0, or 1 to 18 digits without a leading zero: never past INT64_MAX. */
static int
s_cur_int(s_cur_t *c, int64_t *out)
{
    int64_t v = 0;
    size_t k = 0;

    while (k < 18 && c->p + k < c->end && c->p[k] >= '0' && c->p[k] <= '9')
        v = v * 10 + (c->p[k++] - '0');
    if (k == 0 || (k > 1 && c->p[0] == '0') ||
        (c->p + k < c->end && c->p[k] >= '0' && c->p[k] <= '9'))
        return 0;
    c->p += k;
    *out = v;
    return 1;
}

/* End the string that starts at s at its closing quote. */
static void
s_cur_term(const char *s)
{
    *strchr((char *)s, '"') = '\0';
}

/* The string read by s_cur_str (ended by its closing quote) is `lit`. */
static int
s_cur_streq(const char *s, const char *lit)
{
    size_t n = strlen(lit);

    return strncmp(s, lit, n) == 0 && s[n] == '"';
}

/* 1 when the string read by s_cur_str is tn-spec. */
static int
s_cur_tn_spec(const char *s)
{
    return s[strspn(s, "0123456789#*")] == '"';
}

/* S (,S)* ] into a new array; total counts entries across both lists. */
static int
s_cur_list(s_cur_t *c, int tn, size_t *total, const char ***arr, size_t *n)
{
    const char *stack[8], **v = stack, *s;
    size_t cap = SG_NELEM(stack), k = 0;

    do {
        if (!s_cur_str(c, &s) || (tn && !s_cur_tn_spec(s)) ||
            *total >= PROTO_PASSPORT_MAX_DEST)
            goto fail;
        if (k == cap) {
            const char **w = sg_calloc(cap * 2, sizeof(*w));

            memcpy(w, v, k * sizeof(*v));
            if (v != stack)
                sg_free(v);
            v = w;
            cap *= 2;
        }
        v[k++] = s;
        (*total)++;
    } while (S_CUR_LIT(c, ","));
    if (!S_CUR_LIT(c, "]"))
        goto fail;
    *arr = v != stack ? v : sg_memdup(v, k * sizeof(*v));
    *n = k;
    return 1;
fail:
    if (v != stack)
        sg_free(v);
    return 0;
}

static int
s_fast_header(proto_passport_t *self, const char *text, size_t len)
{
    s_cur_t c = {text, text + len};

    if (!S_CUR_LIT(&c, "{\"alg\":") || !s_cur_str(&c, &self->alg) ||
        !s_cur_streq(self->alg, "ES256"))
        return 0;
    if (S_CUR_LIT(&c, ",\"ppt\":") && !s_cur_str(&c, &self->ppt))
        return 0;
    if (!S_CUR_LIT(&c, ",\"typ\":") || !s_cur_str(&c, &self->typ) ||
        !s_cur_streq(self->typ, "passport") || !S_CUR_LIT(&c, ",\"x5u\":") ||
        !s_cur_str(&c, &self->x5u) || !S_CUR_LIT(&c, "}"))
        return 0;
    return c.p == c.end;
}

static int
s_fast_payload(proto_passport_t *self, const char *text, size_t len)
{
    s_cur_t c = {text, text + len};
    size_t total = 0;
    const char *msgi = NULL;

    if (!S_CUR_LIT(&c, "{\"dest\":{"))
        return 0;
    if (S_CUR_LIT(&c, "\"tn\":[")) {
        if (!s_cur_list(&c, 1, &total, &self->dest_tn, &self->n_dest_tn))
            return 0;
        if (S_CUR_LIT(&c, ",\"uri\":[") &&
            !s_cur_list(&c, 0, &total, &self->dest_uri, &self->n_dest_uri))
            return 0;
    } else if (!S_CUR_LIT(&c, "\"uri\":[") ||
               !s_cur_list(&c, 0, &total, &self->dest_uri, &self->n_dest_uri)) {
        return 0;
    }
    if (!S_CUR_LIT(&c, "},\"iat\":") || !s_cur_int(&c, &self->iat))
        return 0;
    if (S_CUR_LIT(&c, ",\"msgi\":") && !s_cur_str(&c, &msgi))
        return 0;
    if (!S_CUR_LIT(&c, ",\"orig\":{"))
        return 0;
    if (S_CUR_LIT(&c, "\"tn\":")) {
        if (!s_cur_str(&c, &self->orig) || !s_cur_tn_spec(self->orig))
            return 0;
        self->orig_kind = PROTO_IDENT_TN;
    } else if (S_CUR_LIT(&c, "\"uri\":")) {
        if (!s_cur_str(&c, &self->orig))
            return 0;
        self->orig_kind = PROTO_IDENT_URI;
    } else {
        return 0;
    }
    if (!S_CUR_LIT(&c, "}}") || c.p != c.end)
        return 0;
    /* RFC 9475 3.2, as in s_claims: msgi only under ppt msg. */
    if (self->ppt != NULL && s_cur_streq(self->ppt, "msg"))
        self->msgi = msgi;
    return 1;
}

/*
 * 1 and the claims set (strings terminated) when both texts are in the
 * canonical shape and pass every check; else 0 with the claims cleared
 * and the texts untouched.
 */
static int
s_fast(proto_passport_t *self, char *htext, size_t hl, char *ptext, size_t pl)
{
    if (!s_fast_header(self, htext, hl) || !s_fast_payload(self, ptext, pl)) {
        sg_free(self->dest_tn);
        sg_free(self->dest_uri);
        self->alg = self->typ = self->x5u = self->ppt = self->msgi = NULL;
        self->orig = NULL;
        self->orig_kind = 0;
        self->iat = 0;
        self->dest_tn = self->dest_uri = NULL;
        self->n_dest_tn = self->n_dest_uri = 0;
        return 0;
    }
    s_cur_term(self->alg);
    s_cur_term(self->typ);
    s_cur_term(self->x5u);
    if (self->ppt != NULL)
        s_cur_term(self->ppt);
    if (self->msgi != NULL)
        s_cur_term(self->msgi);
    s_cur_term(self->orig);
    for (size_t i = 0; i < self->n_dest_tn; i++)
        s_cur_term(self->dest_tn[i]);
    for (size_t i = 0; i < self->n_dest_uri; i++)
        s_cur_term(self->dest_uri[i]);
    return 1;
}

/*
 * Parse, with or without the canonical reader.  The token, the decoded
 * header and the decoded payload share one allocation (self->token).
 */
static proto_reason
s_parse(const char *token, size_t n, int fast, proto_passport_t **out)
{
    proto_passport_t *self = NULL;
    const char *dot1, *dot2, *sig;
    size_t hlen, plen, slen, siglen, hl, pl;
    char *htext, *ptext;
    proto_reason r = REASON_MALFORMED_PASSPORT;

    *out = NULL;
    if (token == NULL || n == 0 || n > PROTO_PASSPORT_MAX_TOKEN ||
        memchr(token, '\0', n) != NULL)
        return REASON_MALFORMED_PASSPORT;
    dot1 = memchr(token, '.', n);
    if (dot1 == NULL)
        return REASON_MALFORMED_PASSPORT;
    dot2 = memchr(dot1 + 1, '.', (size_t)(token + n - dot1 - 1));
    if (dot2 == NULL ||
        memchr(dot2 + 1, '.', (size_t)(token + n - dot2 - 1)) != NULL)
        return REASON_MALFORMED_PASSPORT;
    hlen = (size_t)(dot1 - token);
    plen = (size_t)(dot2 - dot1 - 1);
    sig = dot2 + 1;
    slen = (size_t)(token + n - sig);
    if (hlen == 0 || plen == 0 || slen != S_SIG_B64_LEN)
        return REASON_MALFORMED_PASSPORT;

    /* n is at most PROTO_PASSPORT_MAX_TOKEN: no overflow below. */
    self = sg_calloc(1, sizeof(*self));
    self->token = sg_malloc(n + 1 + proto_b64_dec_max(hlen) + 1 +
                            proto_b64_dec_max(plen) + 1);
    memcpy(self->token, token, n);
    self->token[n] = '\0';
    self->signed_len = hlen + 1 + plen;
    htext = self->token + n + 1;
    ptext = htext + proto_b64_dec_max(hlen) + 1;
    if (proto_b64url_decode(sig, slen, self->sig, &siglen) != SG_OK ||
        siglen != S_SIG_LEN ||
        proto_b64url_decode(token, hlen, (uint8_t *)htext, &hl) != SG_OK ||
        proto_b64url_decode(dot1 + 1, plen, (uint8_t *)ptext, &pl) != SG_OK)
        goto fail;
    htext[hl] = '\0';
    ptext[pl] = '\0';
    if (fast && s_fast(self, htext, hl, ptext, pl)) {
        *out = self;
        return REASON_OK;
    }

    self->header = proto_json_parse_object(htext, hl);
    self->payload = proto_json_parse_object(ptext, pl);
    if (self->header == NULL || self->payload == NULL)
        goto fail;
    if (!s_claims(self))
        goto fail;
    if (strcmp(self->alg, "ES256") != 0) {
        r = REASON_UNSUPPORTED_ALG;
        goto fail;
    }
    *out = self;
    return REASON_OK;

fail:
    proto_passport_destroy(&self);
    return r;
}

proto_reason
proto_passport_parse(const char *token, size_t n, proto_passport_t **out)
{
    return s_parse(token, n, 1, out);
}

proto_reason
proto_passport_parse_general(const char *token, size_t n,
                             proto_passport_t **out)
{
    return s_parse(token, n, 0, out);
}

const json_t *
proto_passport_payload(proto_passport_t *self)
{
    const char *seg;
    uint8_t *buf;
    size_t n, len;

    if (self->payload != NULL)
        return self->payload;
    /* Only the canonical reader leaves it unset, and it accepted text that
     * jansson parses: a failure here is a broken invariant. */
    seg = strchr(self->token, '.') + 1;
    n = self->signed_len - (size_t)(seg - self->token);
    buf = sg_malloc(proto_b64_dec_max(n));
    if (proto_b64url_decode(seg, n, buf, &len) != SG_OK ||
        (self->payload = proto_json_parse_object((const char *)buf, len)) ==
            NULL)
        sg_panic("proto_passport_payload: a parsed payload does not parse");
    sg_free(buf);
    return self->payload;
}

void
proto_passport_destroy(proto_passport_t **self_p)
{
    proto_passport_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    sg_free(self->token);
    json_decref(self->header);
    json_decref(self->payload);
    sg_free(self->dest_tn);
    sg_free(self->dest_uri);
    sg_free(self);
    *self_p = NULL;
}

int
proto_passport_has_dest(const proto_passport_t *self, const proto_ident_t *id)
{
    const char **list;
    size_t n;

    if (self == NULL || id == NULL)
        return 0;
    if (id->kind == PROTO_IDENT_TN) {
        list = self->dest_tn;
        n = self->n_dest_tn;
    } else if (id->kind == PROTO_IDENT_URI) {
        list = self->dest_uri;
        n = self->n_dest_uri;
    } else {
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], id->value) == 0)
            return 1;
    return 0;
}

/* 1 if `id` is a usable identity: known kind, NUL-terminated, non-empty. */
static int
s_ident_ok(const proto_ident_t *id)
{
    return id != NULL &&
           (id->kind == PROTO_IDENT_TN || id->kind == PROTO_IDENT_URI) &&
           id->value[0] != '\0' &&
           memchr(id->value, '\0', sizeof(id->value)) != NULL;
}

static int
s_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Building.  The signing input has a fixed shape, so its RFC 8225 section
 * 9 serialization is written directly instead of through a jansson tree
 * and proto_json_canonical (the tree cost a dozen allocations per message
 * and the dump as many again):
 *
 *   header  {"alg":"ES256","ppt":P?,"typ":"passport","x5u":X}
 *   payload {"dest":{"tn":[..]?,"uri":[..]?},"iat":N,"msgi":M?,
 *            "orig":{"tn"|"uri":V}}
 *
 * Members are written in code point order (alg < ppt < typ < x5u;
 * dest < iat < msgi < orig; tn < uri).  Strings are escaped exactly as
 * proto_json_canonical (jansson's compact dump) escapes them: '"' and '\'
 * with a backslash; \b \f \n \r \t; any other byte below 0x20 as \u00XX
 * with uppercase hex; everything else ('/', DEL, UTF-8) raw.  A string
 * that is not well-formed UTF-8 fails the build, as json_string refused
 * it.  tests/unit/test_proto_passport_build.c keeps the jansson
 * construction and compares both byte for byte over generated inputs: a
 * change here must keep them identical, or every signature we make
 * changes form.
 *
 * Both JSON texts go into one scratch buffer sized by a bound (on the
 * stack for every usual message), then base64url into the one allocation
 * returned.
 */
#define S_DEST_STACK 32  /* dest lists up to this long: no allocation */
#define S_SCRATCH 2048   /* JSON bounds up to this: no allocation */
#define S_JSON_FIXED 160 /* literals of both texts and iat: 124 today */
#define S_JSON_PER_STR 3 /* quotes and a separator */
#define S_JSON_ESC_MAX 6 /* \u00XX: the most one byte becomes */

#define S_LIT(p, lit)                                                          \
    (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

/* A JSON string at p; `s` is well-formed UTF-8.  Returns the end. */
static char *
s_put_str(char *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char c;

    *p++ = '"';
    while ((c = (unsigned char)*s++) != '\0') {
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *p++ = (char)c;
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
            break;
        }
    }
    *p++ = '"';
    return p;
}

/* A non-negative integer in decimal, as "%lld" prints it. */
static char *
s_put_int(char *p, int64_t v)
{
    char buf[24];
    size_t i = sizeof(buf);
    uint64_t u = (uint64_t)v;

    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    memcpy(p, buf + i, sizeof(buf) - i);
    return p + (sizeof(buf) - i);
}

/* The elements of a sorted dest list, duplicates folded. */
static char *
s_put_list(char *p, const char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i - 1], v[i]) == 0)
            continue;
        if (i > 0)
            *p++ = ',';
        p = s_put_str(p, v[i]);
    }
    return p;
}

/*
 * Add the worst case of one string to *bound: 1, or 0 when `s` is not
 * well-formed UTF-8 or the sum overflows.
 */
static int
s_bound_str(const char *s, size_t *bound)
{
    size_t n = strlen(s), w;

    return sg_utf8_valid(s, n) && sg_mul_ok(n, S_JSON_ESC_MAX, &w) &&
           sg_add_ok(w, S_JSON_PER_STR, &w) && sg_add_ok(*bound, w, bound);
}

char *
proto_passport_signing_input(const char *x5u, const char *ppt,
                             const proto_ident_t *orig,
                             const proto_ident_t *dest, size_t n_dest,
                             int64_t iat, const char *msgi)
{
    const char *stack_v[S_DEST_STACK], **v = stack_v, **tn, **uri;
    char stack_j[S_SCRATCH], *j = stack_j, *p, *out = NULL;
    size_t ntn = 0, nuri = 0, bound = S_JSON_FIXED, hl, pl;

    if (x5u == NULL || x5u[0] == '\0' || (ppt != NULL && ppt[0] == '\0'))
        return NULL;
    if (!s_ident_ok(orig) || dest == NULL || n_dest == 0 ||
        n_dest > PROTO_PASSPORT_MAX_DEST || iat < 0)
        return NULL;
    if (!s_bound_str(x5u, &bound) ||
        (ppt != NULL && !s_bound_str(ppt, &bound)) ||
        (msgi != NULL && !s_bound_str(msgi, &bound)) ||
        !s_bound_str(orig->value, &bound))
        return NULL;

    /* RFC 8225 5.2.1: each dest array in lexicographic order.  TNs fill v
     * from the front, URIs from the back; sorted, a duplicate sits next to
     * its twin and is folded by s_put_list. */
    if (n_dest > S_DEST_STACK)
        v = sg_calloc(n_dest, sizeof(*v));
    for (size_t i = 0; i < n_dest; i++) {
        if (!s_ident_ok(&dest[i]) || !s_bound_str(dest[i].value, &bound))
            goto out;
        if (dest[i].kind == PROTO_IDENT_TN)
            v[ntn++] = dest[i].value;
        else
            v[n_dest - ++nuri] = dest[i].value;
    }
    tn = v;
    uri = v + n_dest - nuri;
    qsort(tn, ntn, sizeof(*v), s_strcmp_p);
    qsort(uri, nuri, sizeof(*v), s_strcmp_p);

    if (bound > sizeof(stack_j))
        j = sg_malloc(bound);
    p = S_LIT(j, "{\"alg\":\"ES256\",");
    if (ppt != NULL) {
        p = S_LIT(p, "\"ppt\":");
        p = s_put_str(p, ppt);
        *p++ = ',';
    }
    p = S_LIT(p, "\"typ\":\"passport\",\"x5u\":");
    p = s_put_str(p, x5u);
    *p++ = '}';
    hl = (size_t)(p - j);

    p = S_LIT(p, "{\"dest\":{");
    if (ntn > 0) {
        p = S_LIT(p, "\"tn\":[");
        p = s_put_list(p, tn, ntn);
        *p++ = ']';
    }
    if (ntn > 0 && nuri > 0)
        *p++ = ',';
    if (nuri > 0) {
        p = S_LIT(p, "\"uri\":[");
        p = s_put_list(p, uri, nuri);
        *p++ = ']';
    }
    p = S_LIT(p, "},\"iat\":");
    p = s_put_int(p, iat);
    if (msgi != NULL) {
        p = S_LIT(p, ",\"msgi\":");
        p = s_put_str(p, msgi);
    }
    if (orig->kind == PROTO_IDENT_TN)
        p = S_LIT(p, ",\"orig\":{\"tn\":");
    else
        p = S_LIT(p, ",\"orig\":{\"uri\":");
    p = s_put_str(p, orig->value);
    p = S_LIT(p, "}}");
    /* A tripwire for an edit that outgrows S_JSON_FIXED (ASan and the
     * tests' heap-sized cases would see the overrun itself). */
    if ((size_t)(p - j) > bound)
        sg_panic("proto_passport_signing_input: JSON past its bound");
    pl = (size_t)(p - j) - hl;

    out =
        sg_malloc(proto_b64url_enc_len(hl) + 1 + proto_b64url_enc_len(pl) + 1);
    p = out + proto_b64url_encode((const uint8_t *)j, hl, out);
    *p++ = '.';
    proto_b64url_encode((const uint8_t *)j + hl, pl, p);
out:
    if (v != stack_v)
        sg_free(v);
    if (j != stack_j)
        sg_free(j);
    return out;
}

char *
proto_passport_assemble(const char *signing_input, const uint8_t sig[64])
{
    size_t n = strlen(signing_input), len;
    char *out;

    if (!sg_add_ok(n, S_SIG_B64_LEN + 2, &len))
        sg_panic("proto_passport_assemble: length overflow");
    out = sg_malloc(len);
    memcpy(out, signing_input, n);
    out[n] = '.';
    proto_b64url_encode(sig, S_SIG_LEN, out + n + 1);
    return out;
}

/*
 * RFC 8225 section 7: the compact form carries only the signature; header
 * and payload are rebuilt from signaling and canonically serialized, and
 * the result goes through the full parser so that a rebuilt passport is
 * indistinguishable from a received one.  Only the base claims can be
 * rebuilt: a msg PASSporT may carry msgi, which signaling cannot supply
 * (DESIGN.md 3.2).
 */
proto_reason
proto_passport_rebuild_compact(const char *compact, const char *info,
                               const char *ppt, const proto_ident_t *orig,
                               const proto_ident_t *dest, size_t n_dest,
                               int64_t iat, proto_passport_t **out)
{
    char *si, *token;
    size_t len;
    proto_reason r;

    *out = NULL;
    if (ppt != NULL && strcmp(ppt, "msg") == 0)
        return REASON_MALFORMED_PASSPORT;
    if (compact == NULL || info == NULL)
        return REASON_MALFORMED_PASSPORT;
    len = strnlen(compact, S_SIG_B64_LEN + 3);
    if (len != S_SIG_B64_LEN + 2 || compact[0] != '.' || compact[1] != '.')
        return REASON_MALFORMED_PASSPORT;
    si = proto_passport_signing_input(info, ppt, orig, dest, n_dest, iat, NULL);
    if (si == NULL)
        return REASON_MALFORMED_PASSPORT;
    len = strlen(si);
    token = sg_malloc(len + S_SIG_B64_LEN + 2);
    memcpy(token, si, len);
    token[len] = '.';
    memcpy(token + len + 1, compact + 2, S_SIG_B64_LEN + 1);
    r = proto_passport_parse(token, len + 1 + S_SIG_B64_LEN, out);
    sg_free(token);
    sg_free(si);
    return r;
}
