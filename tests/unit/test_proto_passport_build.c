/*
 * Unit tests: proto_passport_signing_input against a reference model.
 *
 * proto_passport_signing_input writes the RFC 8225 section 9 form
 * directly.  The reference below is the construction it replaced: jansson
 * objects serialized by proto_json_canonical, base64url, joined.  Every
 * signature the gateway makes covers these bytes, so the two must agree
 * exactly, NULL included, on generated inputs that reach every rule: TNs,
 * URIs with characters that need escaping (quotes, backslashes, every
 * control character, DEL, '/'), non-ASCII of every UTF-8 length, invalid
 * UTF-8, long and duplicated dest lists, optional ppt and msgi, identities
 * that are not usable, iat at its limits.  The generator is seeded: a
 * failure is reproducible, and the seed and case number are printed.
 */
#include "lib/sg.h"
#include "proto/proto_b64.h"
#include "proto/proto_json.h"
#include "proto/proto_passport.h"
#include "tests/unit/tu.h"
#include "tests/unit/tu_rand.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the reference: the jansson construction ---- */

static int
s_ref_ident_ok(const proto_ident_t *id)
{
    return id != NULL &&
           (id->kind == PROTO_IDENT_TN || id->kind == PROTO_IDENT_URI) &&
           id->value[0] != '\0' &&
           memchr(id->value, '\0', sizeof(id->value)) != NULL;
}

static int
s_ref_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
s_ref_dest_array(json_t *dest, const char *key, const char **v, size_t n)
{
    json_t *arr;

    if (n == 0)
        return 1;
    qsort(v, n, sizeof(*v), s_ref_strcmp_p);
    arr = json_array();
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
s_ref_payload(const proto_ident_t *orig, const proto_ident_t *dest,
              size_t n_dest, int64_t iat, const char *msgi)
{
    const char **tn = NULL, **uri = NULL;
    size_t ntn = 0, nuri = 0;
    json_t *p = NULL, *d, *o;

    if (!s_ref_ident_ok(orig) || dest == NULL || n_dest == 0 ||
        n_dest > PROTO_PASSPORT_MAX_DEST || iat < 0)
        return NULL;
    tn = sg_calloc(n_dest, sizeof(*tn));
    uri = sg_calloc(n_dest, sizeof(*uri));
    for (size_t i = 0; i < n_dest; i++) {
        if (!s_ref_ident_ok(&dest[i]))
            goto fail;
        if (dest[i].kind == PROTO_IDENT_TN)
            tn[ntn++] = dest[i].value;
        else
            uri[nuri++] = dest[i].value;
    }
    p = json_object();
    d = json_object();
    json_object_set_new(p, "dest", d);
    if (!s_ref_dest_array(d, "tn", tn, ntn) ||
        !s_ref_dest_array(d, "uri", uri, nuri))
        goto fail;
    if (json_object_set_new(p, "iat", json_integer((json_int_t)iat)) != 0)
        goto fail;
    if (msgi != NULL && json_object_set_new(p, "msgi", json_string(msgi)) != 0)
        goto fail;
    o = json_object();
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
s_ref_header(const char *x5u, const char *ppt)
{
    json_t *h = json_object();

    if (json_object_set_new(h, "alg", json_string("ES256")) != 0 ||
        json_object_set_new(h, "typ", json_string("passport")) != 0 ||
        json_object_set_new(h, "x5u", json_string(x5u)) != 0 ||
        (ppt != NULL && json_object_set_new(h, "ppt", json_string(ppt)) != 0)) {
        json_decref(h);
        return NULL;
    }
    return h;
}

static char *
s_ref_join(const json_t *header, const json_t *payload)
{
    char *h = proto_json_canonical(header), *p = proto_json_canonical(payload);
    char *out = NULL;
    size_t hl, pl;

    if (h != NULL && p != NULL) {
        hl = proto_b64url_enc_len(strlen(h));
        pl = proto_b64url_enc_len(strlen(p));
        out = sg_malloc(hl + pl + 2);
        proto_b64url_encode((const uint8_t *)h, strlen(h), out);
        out[hl] = '.';
        proto_b64url_encode((const uint8_t *)p, strlen(p), out + hl + 1);
    }
    free(h);
    free(p);
    return out;
}

static char *
s_ref_signing_input(const char *x5u, const char *ppt, const proto_ident_t *orig,
                    const proto_ident_t *dest, size_t n_dest, int64_t iat,
                    const char *msgi)
{
    json_t *h = NULL, *p = NULL;
    char *out = NULL;

    if (x5u == NULL || x5u[0] == '\0' || (ppt != NULL && ppt[0] == '\0'))
        return NULL;
    h = s_ref_header(x5u, ppt);
    p = s_ref_payload(orig, dest, n_dest, iat, msgi);
    if (h != NULL && p != NULL)
        out = s_ref_join(h, p);
    json_decref(h);
    json_decref(p);
    return out;
}

/* ---- the generator ---- */


/* Append the UTF-8 form of `cp` (a scalar value) at *p. */
static void
s_utf8(char **p, uint32_t cp)
{
    unsigned char *q = (unsigned char *)*p;

    if (cp < 0x80) {
        *q++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *q++ = (unsigned char)(0xc0 | cp >> 6);
        *q++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *q++ = (unsigned char)(0xe0 | cp >> 12);
        *q++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *q++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (unsigned char)(0xf0 | cp >> 18);
        *q++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        *q++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *q++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    *p = (char *)q;
}

/* Byte sequences jansson's json_string refuses. */
static const char *const s_bad_utf8[] = {
    "\xff",
    "\xfe",
    "\x80",
    "\xbf",
    "\xc0\x80",
    "\xc1\xbf",
    "\xc3",
    "\xe2\x82",
    "\xe0\x80\xaf",
    "\xed\xa0\x80",
    "\xed\xbf\xbf",
    "\xf0\x8f\xbf\xbf",
    "\xf4\x90\x80\x80",
    "\xf5\x80\x80\x80",
    "\xf8\x88\x80\x80\x80",
    "\xc3\x28",
    "\xe2\x28\xa1",
};

/*
 * A random non-empty string of at most `cap` - 1 bytes in `out`: ASCII,
 * the characters that need escaping, controls, DEL, and scalar values of
 * every UTF-8 length (surrogates skipped); with `bad_pct` percent chance,
 * one invalid sequence somewhere.
 */
static void
s_rand_text(char *out, size_t cap, unsigned bad_pct)
{
    static const char special[] = "\"\\/ <>:;@%+#*=?&'";
    size_t want = 1 + tu_below(cap > 40 ? 40 : (unsigned)cap - 5);
    char *p = out, *end = out + cap - 6; /* room for a 5-byte piece + NUL */
    int bad = tu_below(100) < bad_pct;

    while ((size_t)(p - out) < want && p < end) {
        unsigned k = tu_below(16);
        uint32_t cp;

        if (bad && tu_below(8) == 0) {
            const char *b = s_bad_utf8[tu_below(SG_NELEM(s_bad_utf8))];

            if ((size_t)(end - p) > strlen(b)) {
                memcpy(p, b, strlen(b));
                p += strlen(b);
                bad = 0;
            }
            continue;
        }
        if (k < 6) {
            *p++ = (char)(0x21 + tu_below(0x7e - 0x21 + 1));
        } else if (k < 8) {
            *p++ = special[tu_below(sizeof(special) - 1)];
        } else if (k < 10) {
            *p++ = (char)(1 + tu_below(0x1f)); /* every control but NUL */
        } else if (k == 10) {
            *p++ = 0x7f;
        } else if (k == 11) {
            s_utf8(&p, 0x80 + tu_below(0x800 - 0x80));
        } else if (k == 12) {
            do
                cp = 0x800 + tu_below(0x10000 - 0x800);
            while (cp >= 0xd800 && cp <= 0xdfff);
            s_utf8(&p, cp);
        } else if (k == 13) {
            s_utf8(&p, 0x10000 + tu_below(0x110000 - 0x10000));
        } else if (k == 14) {
            static const uint32_t edge[] = {0x80,   0x7ff,  0x800,   0xffff,
                                            0x2028, 0xfeff, 0x10000, 0x10ffff,
                                            0xd7ff, 0xe000};

            s_utf8(&p, edge[tu_below(SG_NELEM(edge))]);
        } else {
            *p++ = (char)('0' + tu_below(10));
        }
    }
    if (bad && p + 5 < out + cap) {
        const char *b = s_bad_utf8[tu_below(SG_NELEM(s_bad_utf8))];

        if ((size_t)(out + cap - 1 - p) >= strlen(b)) {
            memcpy(p, b, strlen(b));
            p += strlen(b);
        }
    }
    *p = '\0';
    if (out[0] == '\0') {
        out[0] = 'x';
        out[1] = '\0';
    }
}

/* 1 to 15 characters of tn-spec, mostly digits. */
static void
s_rand_tn(char *out)
{
    size_t n = 1 + tu_below(15);

    for (size_t i = 0; i < n; i++) {
        unsigned k = tu_below(20);

        out[i] = k == 0 ? '#' : k == 1 ? '*' : (char)('0' + tu_below(10));
    }
    out[n] = '\0';
}

static void
s_rand_ident(proto_ident_t *id, unsigned bad_pct)
{
    unsigned k = tu_below(100);

    memset(id, 0, sizeof(*id));
    if (k < 45) {
        id->kind = PROTO_IDENT_TN;
        s_rand_tn(id->value);
    } else if (k < 70) {
        id->kind = PROTO_IDENT_URI;
        snprintf(id->value, sizeof(id->value), "sip:%u@example.%s",
                 tu_below(100000), tu_below(2) ? "com" : "net");
    } else if (k < 97) {
        /* Anything at all in either kind: the builder only escapes. */
        id->kind = tu_below(2) ? PROTO_IDENT_URI : PROTO_IDENT_TN;
        memcpy(id->value, "sip:", 4);
        s_rand_text(id->value + 4, sizeof(id->value) - 4, bad_pct);
    } else if (k == 97) {
        id->kind = (proto_ident_kind)(tu_below(2) ? 0 : 3); /* unknown kind */
        s_rand_tn(id->value);
    } else if (k == 98) {
        id->kind = PROTO_IDENT_TN; /* empty */
    } else {
        id->kind = PROTO_IDENT_URI; /* no NUL inside the value */
        memset(id->value, 'a', sizeof(id->value));
    }
}

static int64_t
s_rand_iat(void)
{
    switch (tu_below(8)) {
    case 0:
        return 0;
    case 1:
        return INT64_MAX;
    case 2:
        return tu_below(50) == 0 ? -1 - (int64_t)tu_below(1000) : 9;
    case 3:
        return (int64_t)(tu_rand() >> 1);
    default:
        return 1700000000 + (int64_t)tu_below(100000000);
    }
}

/*
 * One generated case: build both ways, compare.  Returns 1 when both built
 * (equal), 0 when both refused, -1 on a difference (reported).
 */
static int
s_case(unsigned long seed, unsigned long i, int many)
{
    static proto_ident_t dest[PROTO_PASSPORT_MAX_DEST + 1];
    const proto_ident_t *dp = dest;
    proto_ident_t orig;
    char x5u[200], ppt[40], msgi[120];
    const char *x5up = x5u, *pptp = NULL, *msgip = NULL;
    size_t n_dest;
    unsigned bad = tu_below(4) == 0 ? 10 : 0; /* % of strings made invalid */
    int64_t iat = s_rand_iat();
    char *want, *got;
    int rc;

    switch (tu_below(20)) {
    case 0:
        x5up = NULL;
        break;
    case 1:
        x5u[0] = '\0';
        break;
    case 2:
    case 3:
    case 4:
        memcpy(x5u, "https://", 8);
        s_rand_text(x5u + 8, sizeof(x5u) - 8, bad);
        break;
    default:
        snprintf(x5u, sizeof(x5u), "https://cert%u.example.org/c/%u.pem",
                 tu_below(10), tu_below(1000000));
        break;
    }
    switch (tu_below(10)) {
    case 0:
    case 1:
    case 2:
        break;
    case 3:
        ppt[0] = '\0';
        pptp = ppt;
        break;
    case 4:
        pptp = "shaken";
        break;
    case 5:
        s_rand_text(ppt, sizeof(ppt), bad);
        pptp = ppt;
        break;
    default:
        pptp = "msg";
        break;
    }
    switch (tu_below(6)) {
    case 0:
    case 1:
        break;
    case 2:
        s_rand_text(msgi, sizeof(msgi), bad);
        msgip = msgi;
        break;
    case 3:
        msgi[0] = '\0';
        msgip = msgi;
        break;
    default:
        snprintf(msgi, sizeof(msgi),
                 "sha256-%08lx%08lx/+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789=",
                 (unsigned long)tu_below(1u << 30),
                 (unsigned long)tu_below(1u << 30));
        msgip = msgi;
        break;
    }
    s_rand_ident(&orig, bad);

    if (many) {
        unsigned k = tu_below(4);

        n_dest = k == 0   ? PROTO_PASSPORT_MAX_DEST
                 : k == 1 ? PROTO_PASSPORT_MAX_DEST + 1
                          : 30 + tu_below(200);
    } else {
        unsigned k = tu_below(40);

        n_dest = k == 0 ? 0 : k < 30 ? 1 + tu_below(4) : 1 + tu_below(40);
    }
    for (size_t d = 0; d < n_dest; d++) {
        /* Duplicates: a third of the entries copy an earlier one. */
        if (d > 0 && tu_below(3) == 0)
            dest[d] = dest[tu_below((unsigned)d)];
        else
            s_rand_ident(&dest[d], bad / 4);
    }

    if (tu_below(50) == 0)
        dp = NULL;
    want = s_ref_signing_input(x5up, pptp, &orig, dp, n_dest, iat, msgip);
    got =
        proto_passport_signing_input(x5up, pptp, &orig, dp, n_dest, iat, msgip);
    if (want == NULL && got == NULL)
        rc = 0;
    else if (want != NULL && got != NULL && strcmp(want, got) == 0)
        rc = 1;
    else
        rc = -1;
    if (rc < 0) {
        tu_fail(__FILE__, __LINE__, "signing input differs from reference");
        tu_note("  seed %lu case %lu: want %s", seed, i,
                want ? want : "(null)");
        tu_note("  got  %s", got ? got : "(null)");
    }
    free(want);
    free(got);
    return rc;
}

TU_TEST(passport_signing_input_matches_reference)
{
    unsigned long seed = 0x5eed5167UL, built = 0, refused = 0;
    const char *env = getenv("SG_TEST_SEED");

    if (env != NULL)
        seed = strtoul(env, NULL, 0);
    tu_rand_state = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (unsigned long i = 0; i < 6000; i++) {
        int rc = s_case(seed, i, i % 200 == 199);

        if (rc < 0)
            return;
        if (rc > 0)
            built++;
        else
            refused++;
    }
    /* The generator reaches both outcomes often. */
    TU_CHECK(built > 2000);
    TU_CHECK(refused > 500);
}
