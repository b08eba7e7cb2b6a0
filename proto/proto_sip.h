/*
 * proto/proto_sip.h - SIP request parsing glue for MESSAGE and OPTIONS
 * (RFC 3261, RFC 3428): one complete request from bytes into a struct,
 * stream framing for TCP, and building a response to a parsed request.
 *
 * Pure code: bytes in, a struct or an error (a why and the SIP code to
 * answer) out; no I/O, no logging.  proto/SIP.md explains what is accepted
 * and why this is not built on osip2.
 *
 * Safety of copied values: the parser refuses NUL, bare CR, bare LF and
 * other control characters (HTAB excepted) anywhere in the start line and
 * header fields, and unfolds continuation lines, so no header value in a
 * parsed request can carry CR, LF or NUL into an outgoing message.  Values
 * from elsewhere are checked with proto_sip_value_check() before use.
 */
#ifndef PROTO_SIP_H
#define PROTO_SIP_H

#include "lib/sg.h"

#include <stddef.h>
#include <stdint.h>

#define PROTO_SIP_VIA_CAP 32      /* Via header fields kept */
#define PROTO_SIP_IDENTITY_CAP 16 /* hard ceiling of max_identity */
#define PROTO_SIP_PAI_CAP 2       /* RFC 3325: one sip/sips and one tel */

typedef struct {
    size_t max_message;      /* whole request, headers and body */
    size_t max_header_bytes; /* start line and header fields, blank line
                                and any leading CRLFs included */
    size_t max_body;         /* message-body octets */
    size_t max_headers;      /* header fields */
    size_t max_identity;     /* Identity fields (<= PROTO_SIP_IDENTITY_CAP) */
    size_t max_line;         /* one header field, continuations included */
    /* Accepted media types ("text/plain"), compared without case;
     * NULL-terminated; NULL accepts any. */
    const char *const *content_types;
} proto_sip_limits_t;

/* 64 KiB message, 16 KiB of headers, 64 KiB body, 64 header fields,
 * 8 Identity fields, 8 KiB per field, any media type. */
void proto_sip_limits_default(proto_sip_limits_t *self);

/*
 * Why a request was refused and what to answer: 400 malformed, 413 a size
 * limit passed (message, header section, one field, body), 415 a media
 * type not in content_types, 505 a SIP version other than 2.0.  Counts
 * over a limit (header fields, Identity fields) are 400.  `why` is static.
 */
typedef struct {
    int code;
    const char *why;
} proto_sip_err_t;

/* A slice: `n` bytes at `p`; p == NULL when absent. */
typedef struct {
    const char *p;
    size_t n;
} proto_sip_str_t;

typedef enum {
    PROTO_SIP_OTHER = 0, /* any other method: parsed, the caller answers */
    PROTO_SIP_MESSAGE,
    PROTO_SIP_OPTIONS,
} proto_sip_method;

/*
 * A parsed request.  Whole header values (marked "value") and the
 * start-line parts are unfolded copies owned by the struct, trimmed and
 * NUL-terminated; the other slices point inside them and are not
 * terminated.  All are valid until proto_sip_req_clear().  `body` points
 * into the caller's buffer: valid while that buffer is.
 */
typedef struct {
    proto_sip_method method_id;
    proto_sip_str_t method; /* "MESSAGE" */
    proto_sip_str_t ruri;   /* Request-URI */

    proto_sip_str_t from;     /* value */
    proto_sip_str_t from_uri; /* inside <> or the addr-spec */
    proto_sip_str_t from_tag; /* p == NULL when there is no tag */
    proto_sip_str_t to, to_uri, to_tag;
    proto_sip_str_t call_id; /* value */
    uint32_t cseq;           /* < 2^31 */
    proto_sip_str_t cseq_method;

    /* Every Via field value in order (a field may hold several via-parms,
     * comma-separated); the top via-parm's parts. */
    proto_sip_str_t via[PROTO_SIP_VIA_CAP];
    size_t nvia;
    proto_sip_str_t via_transport; /* "UDP", "TCP", ... */
    proto_sip_str_t via_sent_by;   /* host[:port] */
    proto_sip_str_t via_branch;    /* p == NULL without a branch */

    int max_forwards;             /* 0..255, -1 when absent */
    proto_sip_str_t content_type; /* value */
    proto_sip_str_t media_type;   /* "type/subtype", parameters dropped */
    int has_content_length;
    size_t content_length;
    int has_expires;
    uint32_t expires;        /* delta-seconds; larger values saturate */
    proto_sip_str_t date;    /* value */
    int64_t date_epoch;      /* seconds since 1970, when date.p != NULL */
    proto_sip_str_t contact; /* value of the first Contact field */
    /* P-Asserted-Identity: one entry per identity (a field may list two,
     * comma-separated), so entries are not NUL-terminated. */
    proto_sip_str_t pai[PROTO_SIP_PAI_CAP];
    size_t npai;
    proto_sip_str_t identity[PROTO_SIP_IDENTITY_CAP]; /* values, in order */
    size_t nidentity;

    /* The message-body exactly as received: msgi covers these bytes. */
    const uint8_t *body;
    size_t body_len;

    char *owned_; /* the copies above */
} proto_sip_req_t;

/* The request came from a stream (TCP/TLS): Content-Length is required
 * (RFC 3261 18.3) and no byte may follow the body. */
#define PROTO_SIP_STREAM 1

/*
 * Parse one request from `n` bytes: a whole datagram, or one frame that
 * proto_sip_frame() cut from a stream (with PROTO_SIP_STREAM).  Leading
 * CRLFs are skipped (RFC 3261 7.5).  On a datagram without Content-Length
 * the body is the rest of the datagram; with a smaller one the rest is
 * ignored (18.3).  Returns SG_OK with `req` filled (clear it), or
 * SG_REFUSED with `err` filled and `req` empty.  Unknown methods parse
 * (method_id PROTO_SIP_OTHER); responses do not.
 */
sg_rc proto_sip_parse(const void *buf, size_t n, int flags,
                      const proto_sip_limits_t *lim, proto_sip_req_t *req,
                      proto_sip_err_t *err) SG_WUR;

/* Free the copies and zero `self`; accepts NULL. */
void proto_sip_req_clear(proto_sip_req_t *self);

typedef enum {
    PROTO_SIP_FRAME_BAD = -1, /* malformed or too large: close the stream */
    PROTO_SIP_FRAME_MORE = 0, /* need more bytes */
    PROTO_SIP_FRAME_ONE = 1,  /* the first *len bytes are one request */
} proto_sip_frame_rc;

/*
 * Cut one request off the front of stream data: leading CRLFs, the header
 * section up to the blank line, then Content-Length body bytes.  Only
 * framing is checked here (the blank line within max_header_bytes, exactly
 * one valid Content-Length, max_body, max_message); proto_sip_parse()
 * checks the rest.  Each call rescans from the start: the cost is bounded
 * by max_header_bytes per call.
 */
proto_sip_frame_rc proto_sip_frame(const void *buf, size_t n,
                                   const proto_sip_limits_t *lim, size_t *len,
                                   proto_sip_err_t *err) SG_WUR;

/*
 * Build the response to `req` (RFC 3261 8.2.6): status line, every Via
 * field in order, From, To (with `to_tag` added when the request's To has
 * none and code > 100), Call-ID, CSeq, then `extra_headers` (NULL, or
 * complete "Name: value\r\n" lines), then "Content-Length: 0" and the
 * blank line.  A NULL `to_tag` is derived from the request (SHA-256 of
 * Call-ID, From tag, branch and CSeq), so a retransmitted request gets the
 * same response; MESSAGE and OPTIONS create no dialog for it to protect.
 * Returns SG_OK with *out (new, NUL-terminated) and *outlen, or SG_REFUSED
 * when `code` is outside 100..699, or `reason`, `to_tag`, `extra_headers`
 * or a request value is unsafe to copy (control characters, a bad line, a
 * header the builder writes itself).
 */
sg_rc proto_sip_response(const proto_sip_req_t *req, int code,
                         const char *reason, const char *extra_headers,
                         const char *to_tag, char **out, size_t *outlen) SG_WUR;

/*
 * Is `p` (n bytes) safe as a header value or reason phrase?  NULL when it
 * holds no NUL, CR, LF or other control character (HTAB allowed), else a
 * static why.
 */
const char *proto_sip_value_check(const char *p, size_t n);

#endif
