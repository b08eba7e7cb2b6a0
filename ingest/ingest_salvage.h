/*
 * ingest/ingest_salvage.h - answering a SIP request the parser refused
 * (RFC 3261 8.2.6 wants a refusal answered when it can be: 400, 413, 415,
 * 505).  The refused bytes come straight from the network, so this is a
 * parser of outside bytes like proto_sip itself: pure code (bytes in, a
 * parsed request or a why out; no I/O, no logging), with its own fuzz
 * target (tests/fuzz/fuzz_sip_salvage.c).
 *
 * What an answer needs.  A UAC matches a response to its transaction by
 * the top Via's branch and the CSeq method (RFC 3261 17.1.3), and 8.2.6.2
 * has the response copy Via, From, To, Call-ID and CSeq.  So Via (every
 * field, in order), Call-ID and CSeq must be there and parse, or nothing
 * is answered; From and To only have to be something the strict parser
 * accepts: a value that does not parse is replaced (below), never a
 * reason to stay silent.
 *
 * Two steps:
 *
 * 1. ingest_salvage_copy writes a minimal request holding only what a
 *    response needs.  It scans the whole buffer it is given (the
 *    transport bounds it: a UDP datagram, a TCP connection's read
 *    buffer), taking only complete CRLF-terminated lines and stopping at
 *    the blank line when there is one, so response fields after a header
 *    section over the limit, or in one that never ends, are still found.
 *    Each field is unfolded onto one line under its full name; a field
 *    longer than INGEST_SALVAGE_FIELD_MAX (name, continuation lines and
 *    all) is not copied, and the copy never exceeds
 *    INGEST_SALVAGE_COPY_MAX: the work is one pass over the input, the
 *    memory a constant.
 *      - The request line must be `token SP anything SP SIP/d.d` (a
 *        status line or anything else: nothing is answered).  The copy
 *        carries the method, INGEST_SALVAGE_ANON_URI as Request-URI (a
 *        response does not echo it) and SIP/2.0 (so a request refused
 *        with 505 can be answered too).
 *      - Via, Call-ID and CSeq are copied as received, unfolded.  One of
 *        them missing, too long, or holding a control character (NUL, a
 *        bare CR or LF): nothing is answered.
 *      - From and To: the first of each.  Kept as received when the
 *        strict parser takes it; else rebuilt as `<URI>;tag=TAG` from
 *        the parts that still parse (the URI inside <>, or of an
 *        addr-spec; a token after ";tag="), INGEST_SALVAGE_ANON_URI
 *        standing in for a URI that does not (RFC 3261 8.1.1.3 names
 *        anonymous.invalid); absent or too long: that URI alone.
 *    Every other field is left out, so a header injected by a CRLF in a
 *    value (a line of its own on the wire) never reaches the answer.
 *
 * 2. ingest_salvage_parse parses that copy with proto_sip_parse under the
 *    default limits, so the response builder only ever sees values the
 *    strict parser accepted.
 *
 * Never answering an ACK is the caller's rule (the method is kept).
 */
#ifndef INGEST_SALVAGE_H
#define INGEST_SALVAGE_H

#include "lib/sg.h"
#include "proto/proto_sip.h"

#include <stddef.h>
#include <stdint.h>

/* One response field (name, colon, value, continuation lines). */
#define INGEST_SALVAGE_FIELD_MAX 1024
/* The whole copy, blank line included (32 Via fields of ~250 bytes). */
#define INGEST_SALVAGE_COPY_MAX 8192
/* Request-URI of the copy; From/To whose URI cannot be kept. */
#define INGEST_SALVAGE_ANON_URI "sip:anonymous@anonymous.invalid"

/*
 * Step one: from the `n` bytes at `buf`, the minimal request
 * "...\r\n\r\n" described above, NUL-terminated, at most
 * INGEST_SALVAGE_COPY_MAX bytes, in *out (new: sg_free it) with its
 * length in *outlen.  Returns NULL, or a static why (no SIP request line;
 * Via, Call-ID or CSeq missing, too long or unsafe; the copy too large)
 * with *out NULL.
 */
const char *ingest_salvage_copy(const char *buf, size_t n, char **out,
                                size_t *outlen);

/*
 * Both steps.  SG_OK with `req` filled (proto_sip_req_clear it; it has no
 * body and points into nothing of the caller's), or SG_REFUSED when
 * nothing answerable is left (`req` empty; *why, when `why` is not NULL,
 * a static reason for a debug line): drop the request.
 */
sg_rc ingest_salvage_parse(const uint8_t *buf, size_t n, proto_sip_req_t *req,
                           const char **why) SG_WUR;

#endif
