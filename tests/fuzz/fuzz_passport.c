/*
 * tests/fuzz/fuzz_passport.c - libFuzzer target for the PASSporT parser,
 * the compact-form rebuild, strict JSON parsing with canonical
 * serialization, and the msgi check.
 *
 * Invariants: a parsed token reassembles from its signing input and
 * signature; its dest lists are found by has_dest; canonical
 * serialization is a fixed point.
 */
#include "proto/proto_passport.h"

#include "lib/sg.h"
#include "proto/proto_json.h"
#include "proto/proto_msgi.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

    if (proto_passport_parse((const char *)data, size, &pp) == REASON_OK)
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
