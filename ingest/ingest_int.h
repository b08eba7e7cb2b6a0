/*
 * ingest/ingest_int.h - what the I/O halves of the ingest stage share:
 * the SIP transports (ingest_sip.c), the HTTP server (ingest_http.c) and
 * the process (ingest_main.c, which owns the poll loop and the store link).
 *
 * Each transport exposes the same poll-loop shape: append its pollfds,
 * handle the returned events for that slice, report its next timer.
 */
#ifndef INGEST_INT_H
#define INGEST_INT_H

#include "conf/conf.h"
#include "ingest/ingest_core.h"
#include "proto/proto_wire.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

/* ---- SIP over UDP and TCP (ingest_sip.c) -------------------------------- */

typedef struct ingest_sip ingest_sip_t;

/* `bad`: requests the parser refused; `unanswerable`: those of them
 * dropped unanswered (no usable Via, Call-ID or CSeq; ingest_salvage.h). */
typedef struct {
    uint64_t udp_in, tcp_in, retransmits, responses, bad, unanswerable,
        tcp_accepted, tcp_refused, tcp_idle_closed;
} ingest_sip_stats_t;

/* Bind every sip.udp and sip.tcp address; NULL (logged) on failure. */
ingest_sip_t *ingest_sip_new(const conf_t *conf, ingest_core_t *core);
void ingest_sip_destroy(ingest_sip_t **self_p);
/* Append pollfds (at most `max`); returns how many. */
size_t ingest_sip_fds(ingest_sip_t *self, struct pollfd *out, size_t max);
/* Handle the events of the slice ingest_sip_fds filled. */
void ingest_sip_handle(ingest_sip_t *self, const struct pollfd *fds, size_t n);
/* Send the UDP responses queued since the last flush (one sendmmsg per
 * socket and batch); the loop calls it after handling the store's replies
 * and before it waits. */
void ingest_sip_flush(ingest_sip_t *self);
/* Timers: retransmission cache expiry, idle connections. */
void ingest_sip_run(ingest_sip_t *self);
long ingest_sip_timeout_ms(const ingest_sip_t *self);
/* Stop accepting: close the TCP listeners, stop reading requests. */
void ingest_sip_stop(ingest_sip_t *self);
/* Responses not yet written (pending requests, unsent TCP bytes). */
size_t ingest_sip_busy(const ingest_sip_t *self);
const ingest_sip_stats_t *ingest_sip_stats(const ingest_sip_t *self);

/* ---- HTTP API and chain publishing (ingest_http.c) ---------------------- */

typedef struct ingest_http ingest_http_t;

/* Send a control request (SHOW) to the store; 0 sent, -1 not. */
typedef int (*ingest_ctl_fn)(void *arg, proto_cmd cmd, uint64_t corr,
                             const void *body, size_t len);

/*
 * Start http.listen (plain) and http.tls_listen (TLS) when configured;
 * NULL (logged) on failure.  A config without either gives a server with
 * no daemons (every call a no-op).
 */
ingest_http_t *ingest_http_new(const conf_t *conf, ingest_core_t *core,
                               ingest_ctl_fn ctl, void *ctl_arg);
void ingest_http_destroy(ingest_http_t **self_p);
size_t ingest_http_fds(ingest_http_t *self, struct pollfd *out, size_t max);
void ingest_http_handle(ingest_http_t *self, const struct pollfd *fds,
                        size_t n);
/* Run the daemons' timers and resumed connections. */
void ingest_http_run(ingest_http_t *self);
long ingest_http_timeout_ms(const ingest_http_t *self);
/* A CTL_JSON / CTL_ERR reply to a control request; 1 if it was ours. */
int ingest_http_on_reply(ingest_http_t *self, const proto_wire_msg *m);
/* Stop accepting connections. */
void ingest_http_stop(ingest_http_t *self);
/* Requests waiting for the store. */
size_t ingest_http_busy(const ingest_http_t *self);

/* Correlation ids of control requests carry this bit; STOREs do not. */
#define INGEST_CORR_CTL (1ull << 63)

#endif
