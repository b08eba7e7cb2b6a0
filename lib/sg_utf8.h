/*
 * lib/sg_utf8.h - UTF-8 well-formedness (RFC 3629): no overlong forms, no
 * surrogates, nothing past U+10FFFF.  NUL is a valid code point here;
 * callers that refuse it say so.
 */
#ifndef SG_UTF8_H
#define SG_UTF8_H

#include <stddef.h>

/* 1 when the `n` bytes at `p` are well-formed UTF-8, else 0. */
int sg_utf8_valid(const void *p, size_t n);

#endif
