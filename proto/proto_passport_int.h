/*
 * proto/proto_passport_int.h - PASSporT internals for tests and fuzzers.
 */
#ifndef PROTO_PASSPORT_INT_H
#define PROTO_PASSPORT_INT_H

#include "proto/proto_passport.h"

/*
 * proto_passport_parse without the canonical reader: every token through
 * jansson and s_claims.  Same contract; the canonical reader must never
 * give a result this does not (tests/unit, tests/fuzz/fuzz_passport.c).
 */
proto_reason proto_passport_parse_general(const char *token, size_t n,
                                          proto_passport_t **out);

#endif
