/*
 * deliver/deliver_sip.h - the SIP side of delivery, as pure code: the
 * outgoing MESSAGE (RFC 3261, RFC 3428) built from a stored envelope, the
 * responses parsed, the outcome sorted.  No sockets here; deliver_main.c
 * owns the transactions (Timer E/F over UDP, a reused connection per next
 * hop over TCP).
 *
 * The request:
 *
 *   MESSAGE <to as a SIP URI at the next hop> SIP/2.0
 *   Via: SIP/2.0/UDP|TCP <local>;branch=<branch>[;rport]
 *   Max-Forwards: 70
 *   From: <from URI;verstat=…>;tag=<from the message id>
 *   To: <to URI>
 *   Call-ID: <message id>@stirgate
 *   CSeq: <attempt> MESSAGE
 *   P-Asserted-Identity: <from URI;verstat=…>    (when a verstat is given)
 *   Identity: <value>                             (each, unchanged or ours)
 *   Content-Type: <as stored, else text/plain>
 *   Content-Length: <body length>
 *
 * and the body byte for byte (DESIGN.md 3.1).  Call-ID and From tag come
 * from the message id only, so a duplicate sent after a worker crash
 * carries the same ones and the next hop can recognise it; CSeq is the
 * attempt number, so each attempt is a new request of that call.
 *
 * verstat (3GPP TS 24.229 7.2A.20) goes on the From and P-Asserted-
 * Identity URIs: a tel URI parameter, or for a telephone number in a SIP
 * URI a parameter of the user part
 * ("sip:+12025550100;verstat=TN-Validation-Passed@host;user=phone").
 *
 * Every value copied in is checked: no CR, LF, NUL or other control
 * character (proto_sip_value_check), and URIs may not hold the characters
 * that would end them early ('<', '>', '"', space, ','): such a message is
 * refused (SG_REFUSED), never sent with an injected header.
 */
#ifndef DELIVER_SIP_H
#define DELIVER_SIP_H

#include <stddef.h>
#include <stdint.h>

#include "lib/sg.h"
#include "proto/proto_msg.h"

typedef struct {
    int tcp;                /* transport in Via */
    const char *hop_host;   /* Request-URI and To host for bare numbers */
    int hop_port;
    const char *local_host; /* Via sent-by, From host for bare numbers */
    int local_port;
    const uint8_t *id;      /* PROTO_MSG_ID_LEN: Call-ID and From tag */
    uint32_t cseq;          /* >= 1 */
    const char *branch;     /* "z9hG4bK…" */
    proto_bytes from, to, content_type;
    const proto_bytes *identity; /* n_identity values */
    size_t n_identity;
    const char *verstat;    /* NULL: no verstat, no P-Asserted-Identity */
    proto_bytes body;
} deliver_sip_out_t;

/*
 * Build the request.  SG_OK with *out (new; not NUL-terminated beyond
 * the body) and *len, or SG_REFUSED with *why (static) when a value is
 * unsafe to copy.
 */
sg_rc deliver_sip_build(const deliver_sip_out_t *in, char **out, size_t *len,
                        const char **why) SG_WUR;

/* A slice of the parsed buffer. */
typedef struct {
    const char *p;
    size_t n;
} deliver_sip_str_t;

typedef struct {
    int code;                 /* 100..699 */
    deliver_sip_str_t branch; /* top Via branch; p NULL when absent */
    deliver_sip_str_t call_id;
    uint32_t cseq;
    long retry_after;  /* seconds; -1 when absent */
    size_t total_len;  /* bytes this response took (stream framing) */
} deliver_sip_resp_t;

#define DELIVER_SIP_RESP_HDR_MAX 16384
#define DELIVER_SIP_RESP_BODY_MAX 65536
#define DELIVER_SIP_RESP_LINES 64

/*
 * Parse one response from `n` bytes: a datagram (stream = 0: the body is
 * the rest, not looked at) or the front of a TCP stream (stream = 1:
 * leading CRLF keep-alives skipped and counted, Content-Length required,
 * the response is the first total_len bytes).  Returns 1 with `out`
 * filled (slices borrow `buf`), 0 when a stream needs more bytes, -1
 * when malformed (*why static).  Strict: "SIP/2.0 NNN reason" status
 * line, CRLF line ends, no control characters but HTAB, header names of
 * token characters, the limits above.
 */
int deliver_sip_resp_parse(const void *buf, size_t n, int stream,
                           deliver_sip_resp_t *out, const char **why);

/*
 * A final response's outcome (RFC 3261 21, DESIGN.md 5): 2xx SG_OK;
 * 408 and 5xx SG_AGAIN (retried with the store's backoff); other 3xx,
 * 4xx and 6xx SG_REFUSED (permanent).  1xx is not final: SG_ERR.
 */
sg_rc deliver_sip_outcome(int code);

/* "<32 hex>@stirgate" into out (at least 48 bytes). */
void deliver_sip_call_id(const uint8_t id[PROTO_MSG_ID_LEN], char *out,
                         size_t outsz);

#endif
