/*
 * Unit tests: the canonical reader of proto_passport_parse against the
 * general path (proto/proto_passport_int.h).
 *
 * The reader may only ever say REASON_OK where the general path says
 * REASON_OK with the same fields; everything else it leaves to the
 * general path.  Generated tokens start from the canonical shape and are
 * varied claim by claim (values that fail a check, that need escaping,
 * that are not ASCII, numbers at the edge of int64) and then, often, in
 * their text (whitespace, reordering, duplicated or dropped members,
 * inserted or deleted bytes); each is parsed both ways and the results
 * compared.  fuzz_passport does the same on arbitrary bytes.
 */
#include "lib/sg.h"
#include "proto/proto_b64.h"
#include "proto/proto_passport.h"
#include "proto/proto_passport_int.h"
#include "tests/unit/tu.h"
#include "tests/unit/tu_rand.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SIG                                                                  \
    "rq3pjT1hoRwakEGjHCnWSwUnshd0-zJ6F1VOgFWSjHBr8Qjpjlk-cpFYpFYsojNCpTzO3Q"   \
    "fPOlckGaS6hEck7w"


/* v[0] (a value the canonical reader takes) three times in four, else
 * any. */
static const char *
s_pick(const char *const *v, size_t n)
{
    return tu_below(4) ? v[0] : v[tu_below((unsigned)n)];
}

#define S_PICK(v) s_pick((v), SG_NELEM(v))

static int
s_str_eq(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Parse both ways; 1 when they agree (and, on REASON_OK, the fast path
 * was taken into *fast). */
static int
s_same(const char *tok, int *fast)
{
    proto_passport_t *a = NULL, *b = NULL;
    proto_reason ra = proto_passport_parse(tok, strlen(tok), &a);
    proto_reason rb = proto_passport_parse_general(tok, strlen(tok), &b);
    int ok = ra == rb && (a == NULL) == (b == NULL);

    *fast = 0;
    if (ok && a != NULL) {
        *fast = a->header == NULL;
        ok = strcmp(a->token, b->token) == 0 &&
             a->signed_len == b->signed_len &&
             memcmp(a->sig, b->sig, sizeof(a->sig)) == 0 &&
             s_str_eq(a->alg, b->alg) && s_str_eq(a->typ, b->typ) &&
             s_str_eq(a->x5u, b->x5u) && s_str_eq(a->ppt, b->ppt) &&
             s_str_eq(a->msgi, b->msgi) && a->iat == b->iat &&
             a->orig_kind == b->orig_kind && s_str_eq(a->orig, b->orig) &&
             a->n_dest_tn == b->n_dest_tn && a->n_dest_uri == b->n_dest_uri;
        for (size_t i = 0; ok && i < a->n_dest_tn; i++)
            ok = strcmp(a->dest_tn[i], b->dest_tn[i]) == 0;
        for (size_t i = 0; ok && i < a->n_dest_uri; i++)
            ok = strcmp(a->dest_uri[i], b->dest_uri[i]) == 0;
        ok = ok && b->payload != NULL &&
             json_equal(proto_passport_payload(a), b->payload) &&
             proto_passport_payload(b) == b->payload;
    }
    if (!ok) {
        tu_fail(__FILE__, __LINE__, "canonical reader differs");
        tu_note("  token %s: %s vs %s", tok, proto_reason_name(ra),
                proto_reason_name(rb));
    }
    proto_passport_destroy(&a);
    proto_passport_destroy(&b);
    return ok;
}

static char *
s_token(const char *hdr, size_t hl, const char *pl, size_t pll)
{
    size_t h = proto_b64url_enc_len(hl), p = proto_b64url_enc_len(pll);
    char *t = sg_malloc(h + p + sizeof(S_SIG) + 2);

    proto_b64url_encode((const uint8_t *)hdr, hl, t);
    t[h] = '.';
    proto_b64url_encode((const uint8_t *)pl, pll, t + h + 1);
    t[h + 1 + p] = '.';
    memcpy(t + h + 2 + p, S_SIG, sizeof(S_SIG));
    return t;
}

/* A JSON string member value, or a non-string, as text. */
static const char *const s_x5u[] = {
    "\"https://cert.example.org/passport.pem\"",
    "\"https://x/c\"",
    "\"https:\\/\\/x\\/c\"",
    "\"https://x/\\u0063\"",
    "\"https://x/\xc3\xa9\"",
    "\"\"",
    "\" \"",
    "\"https://x/~!#$%&'()*+,-.:;<=>?@[]^_`{|}\"",
    "\"https://x/\x7f\"",
    "\"https://x/\\\"q\"",
    "1",
    "null",
    "[\"https://x/c\"]",
};
static const char *const s_alg[] = {
    "\"ES256\"",
    "\"ES256\"",
    "\"ES256\"",
    "\"ES384\"",
    "\"es256\"",
    "\"\"",
    "\"ES\\u0032\\u00356\"",
    "256",
    "\"ES256 \"",
};
static const char *const s_typ[] = {
    "\"passport\"", "\"passport\"",       "\"passport\"",        "\"PASSporT\"",
    "\"\"",         "\"pass\\u0070ort\"", "\"passport\\u0000\"", "true",
};
static const char *const s_ppt[] = {
    "\"msg\"", NULL,         "\"msg\"", "\"msg\"",
    "\"msg\"", "\"shaken\"", "\"\"",    "\"m\\u0073g\"",
    "\"div\"", "\"msg\\t\"", "1",
};
static const char *const s_tn[] = {
    "\"12155551212\"",
    "\"12155551213\"",
    "\"1\"",
    "\"#*1\"",
    "\"+12155551212\"",
    "\"\"",
    "\"1215 555\"",
    "\"\\u0031\"",
    "12155551212",
    "\"123456789012345678901234567890\"",
    "\"\xd9\xa1\"",
};
static const char *const s_uri[] = {
    "\"sip:alice@example.com\"",
    "\"sip:bob@example.net\"",
    "\"tel:+1\"",
    "\"\"",
    "\"sip:a\\\\b@x\"",
    "\"sip:\xe2\x82\xac@x\"",
    "\"sip:a@x\\n\"",
    "\"sip:a\\/b@x\"",
    "0",
    "{}",
};
static const char *const s_iat[] = {
    "1700000000",
    "1700000000",
    "0",
    "01",
    "-1",
    "-0",
    "1.5",
    "1e3",
    "1700000000.0",
    "999999999999999999",
    "1000000000000000000",
    "9223372036854775807",
    "9223372036854775808",
    "\"1700000000\"",
    "\"\"",
    "null",
};
static const char *const s_msgi[] = {
    "\"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"",
    NULL,
    "\"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"",
    "\"sha256-47DEQpj8HBSa+\\/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"",
    "\"\"",
    "\"x\"",
    "7",
    "null",
};

/* Append printf output to a growing buffer. */
typedef struct {
    char buf[16384];
    size_t len;
} s_text_t;

static void s_add(s_text_t *t, const char *fmt, ...) SG_PRINTF(2, 3);

static void
s_add(s_text_t *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof(t->buf) - t->len)
        t->len += (size_t)n;
}

static void
s_list(s_text_t *t, const char *key, const char *const *v, size_t nv)
{
    unsigned n = tu_below(12) == 0 ? 0 : 1 + tu_below(tu_below(4) ? 2 : 6);

    s_add(t, "\"%s\":[", key);
    for (unsigned i = 0; i < n; i++)
        s_add(t, "%s%s", i ? "," : "", s_pick(v, nv));
    s_add(t, "]");
}

/* Text-level damage: whitespace or a byte inserted (anywhere, or after
 * the end), one removed, a member duplicated, the text cut short. */
static void
s_mutate(s_text_t *t)
{
    static const char ins[] = " \t\n\r\"\\,:{}[]0a\x80\x01";
    size_t at = t->len ? tu_below((unsigned)t->len + 1) : 0;

    switch (tu_below(6)) {
    case 5:
        at = t->len; /* after the closing brace */
        /* fall through */
    case 0:
    case 1:
        if (t->len + 1 < sizeof(t->buf)) {
            memmove(t->buf + at + 1, t->buf + at, t->len - at);
            t->buf[at] = ins[tu_below(sizeof(ins) - 1)];
            t->len++;
        }
        break;
    case 2:
        if (at < t->len) {
            memmove(t->buf + at, t->buf + at + 1, t->len - at - 1);
            t->len--;
        }
        break;
    case 3: {
        /* Repeat the first member: "{M,rest" -> "{M,M,rest". */
        const char *comma = memchr(t->buf, ',', t->len);
        size_t m = comma ? (size_t)(comma - t->buf) : 0;

        if (m > 0 && t->len + m < sizeof(t->buf)) {
            memmove(t->buf + 2 * m + 1, t->buf + m + 1, t->len - m - 1);
            memcpy(t->buf + m + 1, t->buf + 1, m - 1);
            t->buf[2 * m] = ',';
            t->len += m;
        }
        break;
    }
    default:
        t->len = at;
        break;
    }
}

static void
s_gen(s_text_t *h, s_text_t *p)
{
    const char *ppt = S_PICK(s_ppt), *msgi = S_PICK(s_msgi);
    unsigned d = tu_below(8), o = tu_below(10);

    h->len = p->len = 0;
    if (tu_below(10) == 0) {
        /* Members out of order: valid JSON, not canonical. */
        s_add(h, "{\"typ\":%s,\"alg\":%s,\"x5u\":%s}", S_PICK(s_typ),
              S_PICK(s_alg), S_PICK(s_x5u));
    } else {
        s_add(h, "{\"alg\":%s,", S_PICK(s_alg));
        if (ppt != NULL)
            s_add(h, "\"ppt\":%s,", ppt);
        if (tu_below(20) == 0)
            s_add(h, "\"kid\":\"k\",");
        s_add(h, "\"typ\":%s,\"x5u\":%s", S_PICK(s_typ), S_PICK(s_x5u));
        if (tu_below(30) == 0)
            s_add(h, ",\"crit\":[\"x\"]");
        s_add(h, "}");
    }

    s_add(p, "{\"dest\":{");
    if (d < 5) {
        s_list(p, "tn", s_tn, SG_NELEM(s_tn));
        if (d >= 3) {
            s_add(p, ",");
            s_list(p, "uri", s_uri, SG_NELEM(s_uri));
        }
    } else if (d < 7) {
        s_list(p, "uri", s_uri, SG_NELEM(s_uri));
    } else {
        s_add(p, "\"tn\":%s", S_PICK(s_tn)); /* the div-o string form */
    }
    s_add(p, "},\"iat\":%s", S_PICK(s_iat));
    if (msgi != NULL)
        s_add(p, ",\"msgi\":%s", msgi);
    if (o < 5)
        s_add(p, ",\"orig\":{\"tn\":%s}", S_PICK(s_tn));
    else if (o < 8)
        s_add(p, ",\"orig\":{\"uri\":%s}", S_PICK(s_uri));
    else if (o == 8)
        s_add(p, ",\"orig\":{\"tn\":%s,\"uri\":%s}", S_PICK(s_tn),
              S_PICK(s_uri));
    else
        s_add(p, ",\"orig\":{}");
    if (tu_below(20) == 0)
        s_add(p, ",\"\xc3\xa9\":1");
    s_add(p, "}");

    if (tu_below(3) == 0)
        s_mutate(tu_below(2) ? h : p);
}

TU_TEST(passport_fast_matches_general)
{
    static s_text_t h, p;
    unsigned long seed = 0xfa57UL, fast = 0, general = 0;
    const char *env = getenv("SG_TEST_SEED");

    if (env != NULL)
        seed = strtoul(env, NULL, 0);
    tu_rand_state = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (unsigned long i = 0; i < 20000; i++) {
        char *tok;
        int f;

        s_gen(&h, &p);
        tok = s_token(h.buf, h.len, p.buf, p.len);
        if (!s_same(tok, &f)) {
            tu_note("  seed %lu case %lu", seed, i);
            free(tok);
            return;
        }
        fast += (unsigned long)f;
        general += (unsigned long)!f;
        free(tok);
    }
    /* Both paths are reached often (the counts depend on the seed only). */
    TU_CHECK(fast > 1000);
    TU_CHECK(general > 1000);
}

/* Many dest entries: past the reader's small array, up to the limit. */
TU_TEST(passport_fast_long_dest)
{
    static s_text_t p;
    const char *h = "{\"alg\":\"ES256\",\"ppt\":\"msg\",\"typ\":\"passport\","
                    "\"x5u\":\"https://x/c\"}";
    size_t counts[] = {2, 8, 9, 17, 600, 1023, 1024, 1025};

    for (size_t k = 0; k < SG_NELEM(counts); k++) {
        for (size_t split = 0; split <= 1; split++) {
            size_t ntn = split ? counts[k] / 2 : counts[k];
            char *tok;
            int f;

            p.len = 0;
            s_add(&p, "{\"dest\":{\"tn\":[");
            for (size_t i = 0; i < ntn; i++)
                s_add(&p, "%s\"%zu\"", i ? "," : "", 1000 + i);
            s_add(&p, "]");
            if (counts[k] > ntn) {
                s_add(&p, ",\"uri\":[");
                for (size_t i = ntn; i < counts[k]; i++)
                    s_add(&p, "%s\"sip:%zu@x\"", i > ntn ? "," : "", i);
                s_add(&p, "]");
            }
            s_add(&p, "},\"iat\":5,\"orig\":{\"tn\":\"1\"}}");
            tok = s_token(h, strlen(h), p.buf, p.len);
            TU_CHECK(s_same(tok, &f));
            TU_CHECK(f == (counts[k] <= PROTO_PASSPORT_MAX_DEST));
            free(tok);
        }
    }
}

/* What the gateway signs is read by the canonical reader; the payload as
 * JSON is still there on demand. */
TU_TEST(passport_fast_reads_own_tokens)
{
    proto_ident_t orig = {PROTO_IDENT_TN, "12155551212"};
    proto_ident_t dest[2] = {{PROTO_IDENT_TN, "12155551213"},
                             {PROTO_IDENT_URI, "sip:bob@example.net"}};
    uint8_t sig[64] = {1, 2, 3};
    proto_passport_t *pp = NULL;
    const json_t *pl;
    char *si, *tok;
    int f;

    si = proto_passport_signing_input("https://x/c", "msg", &orig, dest, 2,
                                      1700000000, "sha256-abc=");
    tok = proto_passport_assemble(si, sig);
    TU_CHECK(s_same(tok, &f));
    TU_CHECK(f);
    TU_INTEQ(proto_passport_parse(tok, strlen(tok), &pp), REASON_OK);
    TU_REQUIRE(pp != NULL);
    TU_CHECK(pp->header == NULL && pp->payload == NULL);
    TU_STREQ(pp->msgi, "sha256-abc=");
    TU_STREQ(pp->dest_uri[0], "sip:bob@example.net");
    pl = proto_passport_payload(pp);
    TU_REQUIRE(pl != NULL);
    TU_INTEQ(json_integer_value(json_object_get(pl, "iat")), 1700000000);
    TU_CHECK(proto_passport_payload(pp) == pl);
    proto_passport_destroy(&pp);
    free(tok);
    free(si);
}
