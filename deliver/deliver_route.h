/*
 * deliver/deliver_route.h - which next hop a message goes to, and whether
 * that next hop is alive.  Pure: the routes from the config, the
 * destination and the (monotonic) time in, a route and a gate out.
 *
 * Matching: routes are tried in config order; the first whose every
 * criterion holds wins.  match_prefix ("+1202", "1202") holds when the
 * destination is a telephone number starting with those digits;
 * match_domain holds when the destination is a URI whose host equals it
 * (without case); a route with neither is the default.  No match: the
 * message cannot be delivered (a permanent failure, "no_route").
 *
 * Dead destinations (USERS.md theme 9: stall and dead-destination
 * detection): after `down_after` consecutive transient failures a route
 * is down.  While down its messages are not sent: they go back to the
 * store to wait (DONE wait: no attempt burned) until the next probe time,
 * and exactly one message at a time is let through as a probe, every
 * `probe_interval_ms`.  Any answer from the peer (a success or a
 * permanent refusal, which also proves it is alive) brings the route
 * back up.  The state is per worker process: each worker learns on its
 * own (XXX a shared view would need the store to keep route state).
 */
#ifndef DELIVER_ROUTE_H
#define DELIVER_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/sg.h"

typedef enum {
    DELIVER_HOP_UDP = 1,
    DELIVER_HOP_TCP,
    DELIVER_HOP_HTTP,
} deliver_hop_kind;

#define DELIVER_HOST_MAX 255

typedef struct {
    /* from the config (borrowed) */
    const char *name;
    const char *match_prefix; /* NULL or "" = any */
    const char *match_domain; /* NULL or "" = any */
    deliver_hop_kind kind;
    char host[DELIVER_HOST_MAX + 1]; /* SIP next hop */
    int port;
    const char *url; /* webhook */
    unsigned concurrency;

    /* state */
    unsigned failures; /* consecutive transient failures */
    int down;
    int probing;            /* a probe is in flight */
    uint64_t next_probe_ms; /* monotonic; meaningful while down */
    unsigned inflight;
} deliver_route_t;

typedef struct {
    unsigned down_after;        /* consecutive failures; >= 1 */
    uint64_t probe_interval_ms; /* while down */
} deliver_route_policy;

/*
 * Parse a SIP next hop "udp:HOST:PORT" or "tcp:HOST:PORT" (HOST a name or
 * an IPv4 address; "[v6]" brackets accepted) into `r`.  NULL or why not.
 */
const char *deliver_route_parse_sip(const char *hop, deliver_route_t *r);

/* The index of the first route matching `to` (n bytes), or -1. */
long deliver_route_match(const deliver_route_t *routes, size_t n,
                         const char *to, size_t to_len);

/*
 * Split a destination into its telephone number (digits, the leading
 * '+' and visual separators dropped; empty when it is not a TN) and its
 * URI host (empty for a bare number or a tel: URI).  Exposed for tests.
 */
void deliver_route_dest(const char *to, size_t n, char *tn, size_t tnsz,
                        char *host, size_t hostsz);

typedef enum {
    DELIVER_GATE_SEND = 1, /* up: send */
    DELIVER_GATE_PROBE,    /* down, and this message is the probe */
    DELIVER_GATE_WAIT,     /* down: back to the store for *wait_ms */
} deliver_route_gate;

deliver_route_gate deliver_route_admit(deliver_route_t *r, uint64_t now_ms,
                                       const deliver_route_policy *p,
                                       uint64_t *wait_ms);

/* What came of a send: SG_OK, SG_AGAIN (transient) or SG_REFUSED. */
typedef enum {
    DELIVER_ROUTE_SAME = 0,
    DELIVER_ROUTE_WENT_DOWN,
    DELIVER_ROUTE_CAME_UP,
} deliver_route_change;

deliver_route_change deliver_route_report(deliver_route_t *r, sg_rc rc,
                                          int was_probe, uint64_t now_ms,
                                          const deliver_route_policy *p);

#endif
