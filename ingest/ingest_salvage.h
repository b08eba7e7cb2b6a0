/*
 * ingest/ingest_salvage.h - answering a SIP request the parser refused
 * (RFC 3261 8.2.6 wants a refusal answered when it can be: 400, 413, 415,
 * 505).  The refused bytes come straight from the network, so this is a
 * parser of outside bytes like proto_sip itself: pure code (bytes in, a
 * parsed request or a why out; no I/O, no logging), with its own fuzz
 * target (tests/fuzz/fuzz_sip_salvage.c).
 *
 * Two steps: copy only what a response needs (the request line and the
 * Via, From, To, Call-ID and CSeq fields, full or compact names, with
 * their continuation lines) into a minimal request, then parse that copy
 * with proto_sip_parse under the default limits, so the response builder
 * only ever sees values the strict parser accepted.
 */
#ifndef INGEST_SALVAGE_H
#define INGEST_SALVAGE_H

#include "lib/sg.h"
#include "proto/proto_sip.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Step one: from the first `max` bytes of `buf` (n bytes), the request
 * line and the response fields as a new minimal request "...\r\n\r\n",
 * NUL-terminated, never longer than min(n, max) + 2, in *out (sg_free
 * it) with its length in *outlen.  NULL, or a static why (no request
 * line, no CRLF-terminated header section within `max`).
 */
const char *ingest_salvage_copy(const char *buf, size_t n, size_t max,
                                char **out, size_t *outlen);

/*
 * Both steps.  SG_OK with `req` filled (proto_sip_req_clear it; it has no
 * body and points into nothing of the caller's), or SG_REFUSED when
 * nothing answerable is left (`req` empty): drop the request.
 */
sg_rc ingest_salvage_parse(const uint8_t *buf, size_t n, size_t max,
                           proto_sip_req_t *req) SG_WUR;

#endif
