/*
 * proto/proto_json.h - RFC 8225 section 9 deterministic serialization.
 *
 * No whitespace, object members sorted by code point (recursively), lowercase
 * literals, integers only, `/` not escaped, UTF-8 kept raw.  Arrays keep
 * their order (dest arrays are sorted by the builder, RFC 8225 5.2.1).
 */
#ifndef PROTO_JSON_H
#define PROTO_JSON_H

#include <jansson.h>

/*
 * Serialize `v` canonically.  Returns a new string (free with free()), or
 * NULL when `v` holds something the rules cannot express (a real number).
 */
char *proto_json_canonical(const json_t *v);

/*
 * Parse a JSON object from exactly `n` bytes (no trailing data, no NUL
 * inside, duplicate member names refused).  Returns a new reference or NULL.
 */
json_t *proto_json_parse_object(const char *buf, size_t n);

#endif
