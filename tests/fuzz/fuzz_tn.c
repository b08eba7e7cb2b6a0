/*
 * tests/fuzz/fuzz_tn.c - libFuzzer target for proto_tn.h: TN
 * canonicalization, URI normalization and the identity parser.
 *
 * Invariants: a canonical TN is 1 to 15 of [0-9#*]; normalization is
 * idempotent; an identity is a TN or a normalized sip/sips URI.
 */
#include "proto/proto_tn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_check_tn(const char *tn)
{
    size_t n = strlen(tn);

    if (n == 0 || n > PROTO_TN_MAX || strspn(tn, "0123456789#*") != n)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ccs[] = {NULL, "", "1", "44", "999"};
    const char *in = (const char *)data;
    char tn[PROTO_TN_MAX + 1], uri[PROTO_IDENT_MAX + 1];
    char again[PROTO_IDENT_MAX + 1];
    proto_ident_t id;

    for (size_t i = 0; i < sizeof(ccs) / sizeof(ccs[0]); i++) {
        if (proto_tn_canon(in, size, ccs[i], tn) == NULL)
            s_check_tn(tn);
        else if (tn[0] != '\0')
            abort();
        if (proto_ident_parse(in, size, ccs[i], &id) == NULL) {
            if (id.kind == PROTO_IDENT_TN)
                s_check_tn(id.value);
            else if (id.kind != PROTO_IDENT_URI ||
                     (strncmp(id.value, "sip:", 4) != 0 &&
                      strncmp(id.value, "sips:", 5) != 0))
                abort();
        } else if (id.kind != 0) {
            abort();
        }
    }
    if (proto_uri_normalize(in, size, uri) == NULL) {
        size_t n = strlen(uri);

        if (n > PROTO_IDENT_MAX ||
            proto_uri_normalize(uri, n, again) != NULL ||
            strcmp(uri, again) != 0)
            abort();
    }
    return 0;
}
