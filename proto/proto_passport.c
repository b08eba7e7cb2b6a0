/*
 * proto/proto_passport.c - PASSporT (RFC 8225) parse and build.
 *
 * Parsing keeps the token as received and records where the signing input
 * ends: the signature is verified over the received segments (DESIGN.md
 * 3.4), the JSON is decoded only to read the claims.  Building goes through
 * the RFC 8225 section 9 serialization of proto_json.c.
 */
#include "proto/proto_passport.h"

#include "lib/sg.h"
#include "proto/proto_b64.h"
#include "proto/proto_json.h"

#include <stdlib.h>
#include <string.h>

#define S_SIG_LEN 64     /* ES256 R||S (RFC 7518 section 3.4) */
#define S_SIG_B64_LEN 86 /* base64url characters for 64 octets */

static json_t *
s_obj(void)
{
    json_t *v = json_object();

    if (v == NULL)
        sg_panic("json_object: out of memory");
    return v;
}

static json_t *
s_arr(void)
{
    json_t *v = json_array();

    if (v == NULL)
        sg_panic("json_array: out of memory");
    return v;
}

/* Decode one base64url segment holding a JSON object. */
static json_t *
s_segment_object(const char *seg, size_t len)
{
    uint8_t *buf = sg_malloc(proto_b64_dec_max(len));
    size_t blen;
    json_t *v = NULL;

    if (proto_b64url_decode(seg, len, buf, &blen) == SG_OK)
        v = proto_json_parse_object((const char *)buf, blen);
    sg_free(buf);
    return v;
}

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

proto_reason
proto_passport_parse(const char *token, size_t n, proto_passport_t **out)
{
    proto_passport_t *self = NULL;
    const char *dot1, *dot2, *sig;
    size_t hlen, plen, slen, siglen;
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

    self = sg_calloc(1, sizeof(*self));
    if (proto_b64url_decode(sig, slen, self->sig, &siglen) != SG_OK ||
        siglen != S_SIG_LEN)
        goto fail;
    self->header = s_segment_object(token, hlen);
    self->payload = s_segment_object(dot1 + 1, plen);
    if (self->header == NULL || self->payload == NULL)
        goto fail;
    if (!s_claims(self))
        goto fail;
    if (strcmp(self->alg, "ES256") != 0) {
        r = REASON_UNSUPPORTED_ALG;
        goto fail;
    }
    self->token = sg_strndup(token, n);
    self->signed_len = hlen + 1 + plen;
    *out = self;
    return REASON_OK;

fail:
    proto_passport_destroy(&self);
    return r;
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
 * RFC 8225 5.2.1: each dest array in lexicographic order.  Sorted, a
 * duplicate sits next to its twin and is folded.  jansson's json_string
 * refuses invalid UTF-8: that makes the whole build fail.
 */
static int
s_dest_array(json_t *dest, const char *key, const char **v, size_t n)
{
    json_t *arr;

    if (n == 0)
        return 1;
    qsort(v, n, sizeof(*v), s_strcmp_p);
    arr = s_arr();
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i - 1], v[i]) == 0)
            continue;
        if (json_array_append_new(arr, json_string(v[i])) != 0) {
            json_decref(arr);
            return 0;
        }
    }
    return json_object_set_new(dest, key, arr) == 0;
}

static json_t *
s_payload(const proto_ident_t *orig, const proto_ident_t *dest, size_t n_dest,
          int64_t iat, const char *msgi)
{
    const char **tn = NULL, **uri = NULL;
    size_t ntn = 0, nuri = 0;
    json_t *p = NULL, *d, *o;

    if (!s_ident_ok(orig) || dest == NULL || n_dest == 0 ||
        n_dest > PROTO_PASSPORT_MAX_DEST || iat < 0)
        return NULL;
    tn = sg_calloc(n_dest, sizeof(*tn));
    uri = sg_calloc(n_dest, sizeof(*uri));
    for (size_t i = 0; i < n_dest; i++) {
        if (!s_ident_ok(&dest[i]))
            goto fail;
        if (dest[i].kind == PROTO_IDENT_TN)
            tn[ntn++] = dest[i].value;
        else
            uri[nuri++] = dest[i].value;
    }

    p = s_obj();
    d = s_obj();
    if (json_object_set_new(p, "dest", d) != 0)
        sg_panic("json_object_set_new: out of memory");
    if (!s_dest_array(d, "tn", tn, ntn) || !s_dest_array(d, "uri", uri, nuri))
        goto fail;
    if (json_object_set_new(p, "iat", json_integer((json_int_t)iat)) != 0)
        goto fail;
    if (msgi != NULL && json_object_set_new(p, "msgi", json_string(msgi)) != 0)
        goto fail;
    o = s_obj();
    if (json_object_set_new(p, "orig", o) != 0 ||
        json_object_set_new(o, orig->kind == PROTO_IDENT_TN ? "tn" : "uri",
                            json_string(orig->value)) != 0)
        goto fail;
    sg_free(tn);
    sg_free(uri);
    return p;

fail:
    json_decref(p);
    sg_free(tn);
    sg_free(uri);
    return NULL;
}

static json_t *
s_header(const char *x5u, const char *ppt)
{
    json_t *h = s_obj();

    if (json_object_set_new(h, "alg", json_string("ES256")) != 0 ||
        json_object_set_new(h, "typ", json_string("passport")) != 0 ||
        json_object_set_new(h, "x5u", json_string(x5u)) != 0 ||
        (ppt != NULL && json_object_set_new(h, "ppt", json_string(ppt)) != 0))
        goto fail;
    return h;

fail:
    json_decref(h);
    return NULL;
}

/* b64u(canonical(header)) "." b64u(canonical(payload)); new, or NULL. */
static char *
s_join(const json_t *header, const json_t *payload)
{
    char *h = proto_json_canonical(header), *p = proto_json_canonical(payload);
    char *out = NULL;
    size_t hl, pl, len;

    if (h == NULL || p == NULL)
        goto out;
    hl = proto_b64url_enc_len(strlen(h));
    pl = proto_b64url_enc_len(strlen(p));
    if (!sg_add_ok(hl, pl, &len) || !sg_add_ok(len, 2, &len))
        goto out;
    out = sg_malloc(len);
    proto_b64url_encode((const uint8_t *)h, strlen(h), out);
    out[hl] = '.';
    proto_b64url_encode((const uint8_t *)p, strlen(p), out + hl + 1);
out:
    free(h);
    free(p);
    return out;
}

char *
proto_passport_signing_input(const char *x5u, const char *ppt,
                             const proto_ident_t *orig,
                             const proto_ident_t *dest, size_t n_dest,
                             int64_t iat, const char *msgi)
{
    json_t *h = NULL, *p = NULL;
    char *out = NULL;

    if (x5u == NULL || x5u[0] == '\0' || (ppt != NULL && ppt[0] == '\0'))
        return NULL;
    h = s_header(x5u, ppt);
    p = s_payload(orig, dest, n_dest, iat, msgi);
    if (h != NULL && p != NULL)
        out = s_join(h, p);
    json_decref(h);
    json_decref(p);
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
