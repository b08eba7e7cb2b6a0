/*
 * tests/fuzz/fuzz_identity.c - libFuzzer target for the Identity header
 * parser (proto_identity.h).  Whatever parses must survive a round trip
 * through proto_identity_format with the same token, info and ppt.
 */
#include "proto/proto_identity.h"

#include "lib/sg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_identity_t id, again;
    char *s;

    if (proto_identity_parse((const char *)data, size, &id) != REASON_OK) {
        if (id.token != NULL || id.info != NULL || id.alg != NULL ||
            id.ppt != NULL)
            abort();
        return 0;
    }
    if (id.token[0] == '\0' || id.info[0] == '\0' ||
        id.compact != (strncmp(id.token, "..", 2) == 0))
        abort();
    s = proto_identity_format(id.token, id.info, id.ppt);
    if (proto_identity_parse(s, strlen(s), &again) != REASON_OK ||
        strcmp(again.token, id.token) != 0 ||
        strcmp(again.info, id.info) != 0 ||
        (id.ppt == NULL) != (again.ppt == NULL) ||
        (id.ppt != NULL && strcmp(id.ppt, again.ppt) != 0) ||
        again.compact != id.compact)
        abort();
    proto_identity_clear(&again);
    proto_identity_clear(&id);
    sg_free(s);
    return 0;
}
