/*
 * tests/fuzz/fuzz_passport.c - libFuzzer target for the PASSporT parser,
 * the compact-form rebuild, strict JSON parsing with canonical
 * serialization, and the msgi check.
 *
 * Invariants: a parsed token reassembles from its signing input and
 * signature; its dest lists are found by has_dest; canonical
 * serialization is a fixed point; a signing input built from its claims
 * parses back to the same claims, and each of its segments is what
 * proto_json_canonical makes of it (the builder writes JSON directly);
 * the canonical reader of proto_passport_parse gives exactly what the
 * general path (every token through jansson) gives, reason and fields.
 */
#include "proto/proto_passport.h"

#include "lib/sg.h"
#include "proto/proto_b64.h"
#include "proto/proto_json.h"
#include "proto/proto_msgi.h"
#include "proto/proto_passport_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
s_str_eq(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Parse both ways: same reason, same fields; the general result in *out. */
static proto_reason
s_parse_both(const char *tok, size_t n, proto_passport_t **out)
{
    proto_passport_t *a = NULL, *b = NULL;
    proto_reason ra = proto_passport_parse(tok, n, &a);
    proto_reason rb = proto_passport_parse_general(tok, n, &b);

    if (ra != rb || (a == NULL) != (b == NULL) ||
        (ra != REASON_OK && a != NULL))
        abort();
    if (a != NULL) {
        if (strcmp(a->token, b->token) != 0 || a->signed_len != b->signed_len ||
            memcmp(a->sig, b->sig, sizeof(a->sig)) != 0 ||
            !s_str_eq(a->alg, b->alg) || !s_str_eq(a->typ, b->typ) ||
            !s_str_eq(a->x5u, b->x5u) || !s_str_eq(a->ppt, b->ppt) ||
            !s_str_eq(a->msgi, b->msgi) || a->iat != b->iat ||
            a->orig_kind != b->orig_kind || !s_str_eq(a->orig, b->orig) ||
            a->n_dest_tn != b->n_dest_tn || a->n_dest_uri != b->n_dest_uri ||
            b->header == NULL || b->payload == NULL ||
            !json_equal(proto_passport_payload(a), b->payload))
            abort();
        for (size_t i = 0; i < a->n_dest_tn; i++)
            if (strcmp(a->dest_tn[i], b->dest_tn[i]) != 0)
                abort();
        for (size_t i = 0; i < a->n_dest_uri; i++)
            if (strcmp(a->dest_uri[i], b->dest_uri[i]) != 0)
                abort();
    }
    proto_passport_destroy(&a);
    *out = b;
    return rb;
}

/* Segment `which` (0 or 1) of a signing input, decoded, against the
 * canonical serialization of `v`. */
static void
s_check_canonical(const char *si, int which, const json_t *v)
{
    const char *seg = which == 0 ? si : strchr(si, '.') + 1;
    size_t n = which == 0 ? (size_t)(strchr(si, '.') - si) : strlen(seg);
    uint8_t *buf = sg_malloc(proto_b64_dec_max(n) + 1);
    char *canon = proto_json_canonical(v);
    size_t len;

    if (proto_b64url_decode(seg, n, buf, &len) != SG_OK || canon == NULL ||
        strlen(canon) != len || memcmp(canon, buf, len) != 0)
        abort();
    free(canon);
    sg_free(buf);
}

/* Build a signing input from the claims of `pp`; it must parse back. */
static void
s_check_build(const proto_passport_t *pp)
{
    size_t n = pp->n_dest_tn + pp->n_dest_uri, k = 0;
    proto_ident_t orig, *dest;
    proto_passport_t *back = NULL;
    char *si, *tok;

    if (strlen(pp->orig) > PROTO_IDENT_MAX)
        return;
    memset(&orig, 0, sizeof(orig));
    orig.kind = pp->orig_kind;
    strcpy(orig.value, pp->orig);
    dest = sg_calloc(n, sizeof(*dest));
    for (size_t i = 0; i < n; i++) {
        int tn = i < pp->n_dest_tn;
        const char *v = tn ? pp->dest_tn[i] : pp->dest_uri[i - pp->n_dest_tn];

        if (strlen(v) > PROTO_IDENT_MAX)
            goto out;
        dest[k].kind = tn ? PROTO_IDENT_TN : PROTO_IDENT_URI;
        strcpy(dest[k++].value, v);
    }
    si = proto_passport_signing_input(pp->x5u, pp->ppt, &orig, dest, n, pp->iat,
                                      pp->msgi);
    if (si == NULL)
        abort();
    tok = proto_passport_assemble(si, pp->sig);
    if (s_parse_both(tok, strlen(tok), &back) != REASON_OK ||
        strcmp(back->x5u, pp->x5u) != 0 || !s_str_eq(back->ppt, pp->ppt) ||
        !s_str_eq(back->msgi, pp->msgi) || back->iat != pp->iat ||
        back->orig_kind != pp->orig_kind || strcmp(back->orig, pp->orig) != 0)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!proto_passport_has_dest(back, &dest[i]))
            abort();
    s_check_canonical(si, 0, back->header);
    s_check_canonical(si, 1, back->payload);
    proto_passport_destroy(&back);
    sg_free(tok);
    sg_free(si);
out:
    sg_free(dest);
}

static void
s_check_passport(const proto_passport_t *pp)
{
    proto_ident_t id;
    char *si, *tok;

    if (pp->signed_len >= strlen(pp->token) ||
        pp->token[pp->signed_len] != '.' || pp->alg == NULL ||
        pp->x5u == NULL || pp->orig == NULL || pp->iat < 0 ||
        pp->n_dest_tn + pp->n_dest_uri == 0 ||
        pp->n_dest_tn + pp->n_dest_uri > PROTO_PASSPORT_MAX_DEST)
        abort();
    si = sg_strndup(pp->token, pp->signed_len);
    tok = proto_passport_assemble(si, pp->sig);
    if (strcmp(tok, pp->token) != 0)
        abort();
    sg_free(tok);
    sg_free(si);
    for (size_t i = 0; i < pp->n_dest_tn; i++) {
        if (strlen(pp->dest_tn[i]) > PROTO_IDENT_MAX)
            continue;
        id.kind = PROTO_IDENT_TN;
        strcpy(id.value, pp->dest_tn[i]);
        if (!proto_passport_has_dest(pp, &id))
            abort();
    }
    s_check_build(pp);
}

static void
s_json(const uint8_t *data, size_t size)
{
    json_t *v = proto_json_parse_object((const char *)data, size), *w;
    char *c1, *c2;

    if (v == NULL)
        return;
    c1 = proto_json_canonical(v);
    if (c1 != NULL) {
        w = proto_json_parse_object(c1, strlen(c1));
        if (w == NULL)
            abort();
        c2 = proto_json_canonical(w);
        if (c2 == NULL || strcmp(c1, c2) != 0)
            abort();
        free(c2);
        json_decref(w);
        free(c1);
    }
    json_decref(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_passport_t *pp = NULL;
    proto_ident_t orig = {PROTO_IDENT_TN, "12155551212"};
    proto_ident_t dest = {PROTO_IDENT_URI, "sip:alice@example.com"};
    char *s;

    if (s_parse_both((const char *)data, size, &pp) == REASON_OK)
        s_check_passport(pp);
    else if (pp != NULL)
        abort();
    proto_passport_destroy(&pp);

    s = sg_strndup((const char *)data, size);
    if (proto_passport_rebuild_compact(s, "https://cert.example.org/x.cer",
                                       NULL, &orig, &dest, 1, 1443208345,
                                       &pp) == REASON_OK)
        s_check_passport(pp);
    proto_passport_destroy(&pp);
    (void)proto_msgi_check(s, data, size);
    sg_free(s);

    s_json(data, size);
    return 0;
}
