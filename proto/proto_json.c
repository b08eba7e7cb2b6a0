/*
 * proto/proto_json.c - RFC 8225 section 9 serialization and strict object
 * parsing on top of jansson.
 *
 * jansson's compact, key-sorted dump already is the section 9 form: the
 * separators are bare "," and ":", keys are sorted by byte, which for UTF-8
 * is code point order, literals are lowercase, '/' is escaped only with
 * JSON_ESCAPE_SLASH (not set), and non-ASCII stays raw without
 * JSON_ENSURE_ASCII (not set).  What it cannot promise is "integers only":
 * a real would be printed in a form no other implementation reproduces, so
 * the tree is walked first and reals are refused.
 */
#include "proto/proto_json.h"

#include <string.h>

/*
 * 1 if `v` holds a real anywhere.  Parsed trees are at most jansson's parser
 * depth (2048) deep and built ones are shallow, so recursion is bounded.
 */
static int
s_has_real(const json_t *v)
{
    const char *key;
    json_t *m;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_REAL:
        return 1;
    case JSON_OBJECT:
        json_object_foreach ((json_t *)v, key, m) {
            if (s_has_real(m))
                return 1;
        }
        return 0;
    case JSON_ARRAY:
        json_array_foreach (v, i, m) {
            if (s_has_real(m))
                return 1;
        }
        return 0;
    default:
        return 0;
    }
}

char *
proto_json_canonical(const json_t *v)
{
    if (v == NULL || s_has_real(v))
        return NULL;
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/*
 * json_loadb without JSON_DISABLE_EOF_CHECK refuses data after the value
 * (trailing whitespace is part of JSON text and allowed); without
 * JSON_ALLOW_NUL it refuses "\u0000" in strings; without JSON_DECODE_ANY the
 * top level must be an object or an array.  A raw NUL byte is refused here
 * first so that no C-string view of the input can ever differ from it.
 */
json_t *
proto_json_parse_object(const char *buf, size_t n)
{
    json_error_t err;
    json_t *v;

    if (buf == NULL || memchr(buf, '\0', n) != NULL)
        return NULL;
    v = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}
