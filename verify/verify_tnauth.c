/*
 * verify/verify_tnauth.c - TNAuthList (RFC 8226 section 9) and JWT claim
 * constraints (RFC 8226 section 8, RFC 9118 section 3) from DER.
 *
 * These bytes come from certificates fetched from anywhere, so the reader
 * is small and strict: single-octet tags only, definite lengths of at most
 * four length octets in minimal DER form, every length checked against
 * what is left, no trailing bytes.  Both ASN.1 modules use EXPLICIT tags:
 * a [n] CHOICE/field tag is a constructed context tag (A0, A1, A2) that
 * wraps the complete inner TLV.
 */
#include "verify/verify_tnauth.h"

#include "lib/sg.h"
#include "lib/sg_utf8.h"

#include <stdlib.h>
#include <string.h>

#define S_TAG_INTEGER 0x02
#define S_TAG_UTF8 0x0c
#define S_TAG_IA5 0x16
#define S_TAG_SEQ 0x30
#define S_TAG_CTX(n) (0xa0 | (n))
#define S_STR_MAX 1024 /* longest SPC, claim name or value we keep */

typedef struct {
    const uint8_t *p;
    size_t n;
} s_der;

/*
 * Take the next TLV from `in` and require tag `tag`; `val` gets the
 * contents.  Returns NULL or a why.
 */
static const char *
s_take(s_der *in, uint8_t tag, s_der *val)
{
    size_t len = 0, k, i;

    if (in->n < 2)
        return "truncated DER";
    if (in->p[0] != tag)
        return (in->p[0] & 0x1f) == 0x1f ? "multi-octet DER tag"
                                         : "unexpected DER tag";
    if (in->p[1] < 0x80) {
        len = in->p[1];
        k = 0;
    } else {
        k = in->p[1] & 0x7f;
        if (k == 0)
            return "indefinite DER length";
        if (k > 4)
            return "DER length too long";
        if (in->n - 2 < k)
            return "truncated DER length";
        for (i = 0; i < k; i++)
            len = len << 8 | in->p[2 + i];
        /* DER: the shortest form, so >= 128 and no leading zero octet. */
        if (len < 0x80 || in->p[2] == 0)
            return "non-minimal DER length";
    }
    if (len > in->n - 2 - k)
        return "DER length past the end";
    val->p = in->p + 2 + k;
    val->n = len;
    in->p += 2 + k + len;
    in->n -= 2 + k + len;
    return NULL;
}

/* Peek: is the next tag `tag`? */
static int
s_next_is(const s_der *in, uint8_t tag)
{
    return in->n > 0 && in->p[0] == tag;
}

/* An IA5String / UTF8String copied out, with no NUL and no control bytes
 * (they would be cut or hidden in a C string and in logs). */
static const char *
s_take_str(s_der *in, uint8_t tag, char **out)
{
    const char *why;
    s_der v;
    size_t i;

    if ((why = s_take(in, tag, &v)) != NULL)
        return why;
    if (v.n == 0)
        return "empty string";
    if (v.n > S_STR_MAX)
        return "string too long";
    for (i = 0; i < v.n; i++) {
        if (v.p[i] < 0x20 || v.p[i] == 0x7f)
            return "control character in a string";
        if (tag == S_TAG_IA5 && v.p[i] > 0x7f)
            return "IA5String with a non-ASCII octet";
    }
    *out = sg_strndup((const char *)v.p, v.n);
    return NULL;
}

/* UTF-8 well-formedness (lib/sg_utf8.h), so a permitted value compares
 * byte-for-byte with jansson's UTF-8 strings. */
static int
s_utf8_ok(const char *s)
{
    return sg_utf8_valid(s, strlen(s));
}

/* TelephoneNumber ::= IA5String (SIZE (1..15)) (FROM ("0123456789#*")) */
static const char *
s_check_tn(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 15)
        return "TelephoneNumber not 1..15 characters";
    if (strspn(s, "0123456789#*") != n)
        return "TelephoneNumber with a character outside 0-9 # *";
    return NULL;
}

/*
 * INTEGER (2..MAX) into a uint64: DER minimal (no redundant leading 00 or
 * FF octet), positive, and at most 64 value bits.
 */
static const char *
s_take_count(s_der *in, uint64_t *out)
{
    const char *why;
    uint64_t v = 0;
    s_der d;
    size_t i;

    if ((why = s_take(in, S_TAG_INTEGER, &d)) != NULL)
        return why;
    if (d.n == 0)
        return "empty INTEGER";
    if (d.p[0] & 0x80)
        return "negative range count";
    if (d.n > 1 && d.p[0] == 0 && !(d.p[1] & 0x80))
        return "non-minimal INTEGER";
    if (d.p[0] == 0) {
        d.p++;
        d.n--;
    }
    if (d.n > 8)
        return "range count too large";
    for (i = 0; i < d.n; i++)
        v = v << 8 | d.p[i];
    if (v < 2)
        return "range count below 2";
    *out = v;
    return NULL;
}

static uint64_t
s_pow10(size_t d)
{
    uint64_t v = 1;

    while (d--)
        v *= 10;
    return v;
}

/* All-digit string of at most 15 digits as a number (fits uint64). */
static uint64_t
s_digits_value(const char *s)
{
    uint64_t v = 0;

    for (; *s; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return v;
}

/* TelephoneNumberRange ::= SEQUENCE { start, count INTEGER (2..MAX), ... } */
static const char *
s_take_range(s_der *in, verify_tnauth_entry *e)
{
    const char *why;
    s_der seq, ext;
    uint64_t start, room;

    if ((why = s_take(in, S_TAG_SEQ, &seq)) != NULL)
        return why;
    if ((why = s_take_str(&seq, S_TAG_IA5, &e->value)) != NULL)
        return why;
    if ((why = s_check_tn(e->value)) != NULL)
        return why;
    /* RFC 8226 s9: ranges only for starts without '*' or '#'. */
    if (strspn(e->value, "0123456789") != strlen(e->value))
        return "range start with '*' or '#'";
    if ((why = s_take_count(&seq, &e->count)) != NULL)
        return why;
    /*
     * The count must not make the number longer: start + count - 1 keeps
     * the digit count D of start, i.e. count <= 10^D - start (start 10,
     * count 91 is invalid; count 90 ends at 99).
     */
    start = s_digits_value(e->value);
    room = s_pow10(strlen(e->value)) - start;
    if (e->count > room)
        return "range count increases the number length";
    /* The "..." extension marker: later additions are skipped, but each
     * must still be one well-formed TLV. */
    while (seq.n > 0) {
        if (seq.p[0] == 0 || (seq.p[0] & 0x1f) == 0x1f)
            return "bad DER tag in range extension";
        if ((why = s_take(&seq, seq.p[0], &ext)) != NULL)
            return why;
    }
    return NULL;
}

void
verify_tnauth_clear(verify_tnauth_t *self)
{
    size_t i;

    if (self == NULL)
        return;
    for (i = 0; i < self->n; i++)
        free(self->e[i].value);
    free(self->e);
    self->e = NULL;
    self->n = 0;
}

const char *
verify_tnauth_parse(const uint8_t *der, size_t n, verify_tnauth_t *out)
{
    s_der in = {der, n}, list, arm;
    const char *why = NULL;
    size_t cap = 0;

    memset(out, 0, sizeof(*out));
    if ((why = s_take(&in, S_TAG_SEQ, &list)) != NULL)
        goto fail;
    if (in.n != 0) {
        why = "trailing bytes after TNAuthList";
        goto fail;
    }
    if (list.n == 0) {
        why = "empty TNAuthList";
        goto fail;
    }
    while (list.n > 0) {
        verify_tnauth_entry *e;
        uint8_t tag = list.p[0];

        if (out->n == cap) {
            cap = cap ? 2 * cap : 4;
            out->e = sg_realloc(out->e, cap * sizeof(*out->e));
        }
        e = &out->e[out->n++];
        memset(e, 0, sizeof(*e));
        if (tag != S_TAG_CTX(0) && tag != S_TAG_CTX(1) && tag != S_TAG_CTX(2)) {
            why = "TNEntry is not [0] spc, [1] range or [2] one";
            goto fail;
        }
        if ((why = s_take(&list, tag, &arm)) != NULL)
            goto fail;
        e->type = (verify_tnauth_type)(tag & 0x1f);
        if (e->type == TNAUTH_RANGE) {
            why = s_take_range(&arm, e);
        } else {
            why = s_take_str(&arm, S_TAG_IA5, &e->value);
            if (why == NULL && e->type == TNAUTH_ONE)
                why = s_check_tn(e->value);
        }
        if (why == NULL && arm.n != 0)
            why = "trailing bytes inside a TNEntry";
        if (why != NULL)
            goto fail;
    }
    return NULL;
fail:
    verify_tnauth_clear(out);
    return why;
}

int
verify_tnauth_covers(const verify_tnauth_t *self, const char *tn,
                     verify_spc_fn spc_covers, void *arg)
{
    size_t len = strlen(tn), i;
    int digits = len > 0 && len <= 15 && strspn(tn, "0123456789") == len;
    uint64_t v = digits ? s_digits_value(tn) : 0;

    for (i = 0; i < self->n; i++) {
        const verify_tnauth_entry *e = &self->e[i];
        uint64_t start;

        switch (e->type) {
        case TNAUTH_ONE:
            if (strcmp(e->value, tn) == 0)
                return 1;
            break;
        case TNAUTH_RANGE:
            /* A range holds numbers of its start's length only. */
            if (!digits || strlen(e->value) != len)
                break;
            start = s_digits_value(e->value);
            if (v >= start && v - start < e->count)
                return 1;
            break;
        case TNAUTH_SPC:
            if (spc_covers == NULL || spc_covers(arg, e->value, tn))
                return 1;
            break;
        }
    }
    return 0;
}

static void
s_strv_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
verify_jcc_clear(verify_jcc_t *self)
{
    size_t i;

    if (self == NULL)
        return;
    s_strv_free(self->must_include, self->n_must_include);
    for (i = 0; i < self->n_permitted; i++) {
        free(self->permitted[i].claim);
        s_strv_free(self->permitted[i].values, self->permitted[i].n_values);
    }
    free(self->permitted);
    s_strv_free(self->must_exclude, self->n_must_exclude);
    memset(self, 0, sizeof(*self));
}

/* SEQUENCE SIZE (1..MAX) OF <tag> string, each non-empty. */
static const char *
s_take_strv(s_der *in, uint8_t tag, char ***out, size_t *n_out)
{
    const char *why;
    s_der seq;
    size_t cap = 0;

    if ((why = s_take(in, S_TAG_SEQ, &seq)) != NULL)
        return why;
    if (seq.n == 0)
        return "empty SEQUENCE OF";
    while (seq.n > 0) {
        if (*n_out == cap) {
            cap = cap ? 2 * cap : 4;
            *out = sg_realloc(*out, cap * sizeof(**out));
        }
        (*out)[*n_out] = NULL;
        if ((why = s_take_str(&seq, tag, &(*out)[*n_out])) != NULL)
            return why;
        (*n_out)++;
        if (tag == S_TAG_UTF8 && !s_utf8_ok((*out)[*n_out - 1]))
            return "UTF8String is not valid UTF-8";
    }
    return NULL;
}

/* [n] EXPLICIT wrapper around exactly one inner TLV. */
static const char *
s_take_explicit(s_der *in, unsigned n, s_der *inner)
{
    return s_take(in, (uint8_t)S_TAG_CTX(n), inner);
}

/* permittedValues: SEQUENCE SIZE (1..MAX) OF SEQUENCE { claim IA5String,
 * values SEQUENCE SIZE (1..MAX) OF UTF8String } */
static const char *
s_take_permitted(s_der *in, verify_jcc_t *out)
{
    const char *why;
    s_der list, one;
    size_t cap = 0;

    if ((why = s_take(in, S_TAG_SEQ, &list)) != NULL)
        return why;
    if (list.n == 0)
        return "empty permittedValues";
    while (list.n > 0) {
        struct verify_jcc_permitted *p;

        if (out->n_permitted == cap) {
            cap = cap ? 2 * cap : 4;
            out->permitted =
                sg_realloc(out->permitted, cap * sizeof(*out->permitted));
        }
        p = &out->permitted[out->n_permitted++];
        memset(p, 0, sizeof(*p));
        if ((why = s_take(&list, S_TAG_SEQ, &one)) != NULL)
            return why;
        if ((why = s_take_str(&one, S_TAG_IA5, &p->claim)) != NULL)
            return why;
        if ((why = s_take_strv(&one, S_TAG_UTF8, &p->values, &p->n_values)) !=
            NULL)
            return why;
        if (one.n != 0)
            return "trailing bytes in a permittedValues entry";
    }
    return NULL;
}

const char *
verify_jcc_parse(const uint8_t *der, size_t n, int enhanced, verify_jcc_t *out)
{
    s_der in = {der, n}, seq, inner;
    const char *why = NULL;

    memset(out, 0, sizeof(*out));
    if ((why = s_take(&in, S_TAG_SEQ, &seq)) != NULL)
        goto fail;
    if (in.n != 0) {
        why = "trailing bytes after claim constraints";
        goto fail;
    }
    /* Fields in order, each OPTIONAL, at least one present (RFC 8226 s8,
     * RFC 9118 s3). */
    if (s_next_is(&seq, S_TAG_CTX(0))) {
        if ((why = s_take_explicit(&seq, 0, &inner)) != NULL ||
            (why = s_take_strv(&inner, S_TAG_IA5, &out->must_include,
                               &out->n_must_include)) != NULL)
            goto fail;
        if (inner.n != 0)
            goto trailing;
    }
    if (s_next_is(&seq, S_TAG_CTX(1))) {
        if ((why = s_take_explicit(&seq, 1, &inner)) != NULL ||
            (why = s_take_permitted(&inner, out)) != NULL)
            goto fail;
        if (inner.n != 0)
            goto trailing;
    }
    if (enhanced && s_next_is(&seq, S_TAG_CTX(2))) {
        if ((why = s_take_explicit(&seq, 2, &inner)) != NULL ||
            (why = s_take_strv(&inner, S_TAG_IA5, &out->must_exclude,
                               &out->n_must_exclude)) != NULL)
            goto fail;
        if (inner.n != 0)
            goto trailing;
    }
    if (seq.n != 0)
        goto trailing;
    if (out->n_must_include + out->n_permitted + out->n_must_exclude == 0) {
        why = "claim constraints with no field";
        goto fail;
    }
    return NULL;
trailing:
    why = "unexpected bytes in claim constraints";
fail:
    verify_jcc_clear(out);
    return why;
}

proto_reason
verify_jcc_check(const verify_jcc_t *self, const json_t *payload)
{
    size_t i, j;

    for (i = 0; i < self->n_must_include; i++)
        if (json_object_get(payload, self->must_include[i]) == NULL)
            return REASON_CLAIM_CONSTRAINT;
    for (i = 0; i < self->n_must_exclude; i++)
        if (json_object_get(payload, self->must_exclude[i]) != NULL)
            return REASON_CLAIM_CONSTRAINT;
    for (i = 0; i < self->n_permitted; i++) {
        const struct verify_jcc_permitted *p = &self->permitted[i];
        const json_t *v = json_object_get(payload, p->claim);
        int found = 0;

        /*
         * RFC 8226 s8 / RFC 9118 s3: "If the claim name is present, the
         * claim MUST contain one of the listed values", so an absent claim
         * passes (mustInclude is the tool for requiring it).  The listed
         * values are UTF8Strings: a number, object or array can equal none
         * of them and fails closed, rather than being compared through some
         * serialization the RFCs do not define.
         */
        if (v == NULL)
            continue;
        if (!json_is_string(v))
            return REASON_CLAIM_CONSTRAINT;
        /* Compare lengths too: a JSON string may hold "\u0000". */
        for (j = 0; j < p->n_values && !found; j++)
            found = json_string_length(v) == strlen(p->values[j]) &&
                    strcmp(json_string_value(v), p->values[j]) == 0;
        if (!found)
            return REASON_CLAIM_CONSTRAINT;
    }
    return REASON_OK;
}
