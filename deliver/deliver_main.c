/*
 * deliver/deliver_main.c - stirgate-deliver: one delivery worker process
 * (DESIGN.md sections 1, 4 and 5).  The decisions live in the pure
 * modules (deliver_fresh: what the signature is still worth; deliver_route:
 * where it goes and whether that peer is alive; deliver_sip: the request
 * and its responses); this file owns the sockets, the timers and the loop.
 *
 *   usage: stirgate-deliver -c CONFIG [--run-dir DIR | --endpoint E]
 *                           [--worker N]
 *
 * The master starts delivery.workers of these, each with --worker N (used
 * in the log name only).  Each connects a DEALER to the store
 * (ipc://RUN_DIR/store.sock), announces READY(credit) with credit = the
 * routes' total concurrency (capped), and for each JOB:
 *
 *   1. re-evaluates freshness with the delivery time as now
 *      (deliver_fresh_decide); a deferred verification is run now, its
 *      x5u fetched asynchronously through the shared cache;
 *   2. picks the route; a route that is down sends the job back to wait
 *      (DONE wait: no attempt burned), except one probe at a time;
 *   3. sends: SIP MESSAGE over UDP (Timer E retransmissions, Timer F
 *      timeout) or over one reused TCP connection per next hop, or an
 *      HTTP webhook (libcurl multi);
 *   4. reports DONE (delivered, retry with the Retry-After it got,
 *      permanent failure, expired) with the verstat and reason it used,
 *      preceded by RESIGNED when it re-signed; then READY for the slot
 *      (the slots freed in one wake-up as one READY(n)).  A final
 *      state also POSTs to the message's status URL, if it has one.
 *
 * A worker killed anywhere loses nothing: the store's lease brings the
 * job back, and a duplicate carries the same Call-ID and Idempotency-Key.
 *
 * SIGTERM: no more READY; jobs not yet started go back at once (DONE
 * wait); in-flight sends finish (bounded by their own timeouts); exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zmq.h>

#include "conf/conf.h"
#include "deliver/deliver_fresh.h"
#include "deliver/deliver_http.h"
#include "deliver/deliver_route.h"
#include "deliver/deliver_sip.h"
#include "deliver/deliver_txn.h"
#include "lib/sg.h"
#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "lib/sg_metrics.h"
#include "lib/sg_rand.h"
#include "proto/proto_identity.h"
#include "proto/proto_msg.h"
#include "proto/proto_passport.h"
#include "proto/proto_tn.h"
#include "proto/proto_wire.h"
#include "verify/verify_ktab.h"
#include "verify/verify_passport.h"
#include "verify/verify_x5u_cache.h"

#define S_PLACE "deliver"
#define S_HEARTBEAT_MS 1000
#define S_CREDIT_MAX 1024u
#define S_T2_MS 4000
#define S_UDP_MAX 65507
#define S_TCP_READ 65536
#define S_STOP_GRACE_MS 30000
#define S_UDP_BATCH 64 /* datagrams per sendmmsg */

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void
s_usage(void)
{
    fputs("usage: stirgate-deliver -c CONFIG [--run-dir DIR | --endpoint E]\n"
          "                        [--worker N]\n"
          "  -c CONFIG     the stirgate config file (delivery, routes, sign,\n"
          "                verify sections)\n"
          "  --run-dir DIR the store's run directory (default node.run_dir);\n"
          "                the store listens on ipc://DIR/store.sock\n"
          "  --endpoint E  the store's endpoint instead (tcp://HOST:PORT)\n"
          "  --worker N    this worker's number, for the log name\n",
          stderr);
}

/* --- jobs --- */

typedef enum {
    J_PENDING = 1, /* waiting for a free slot on its route */
    J_VERIFYING,   /* waiting for an x5u fetch */
    J_SENDING,     /* a SIP transaction or HTTP request in flight */
} s_jstate;

struct s_conn;

typedef struct s_job {
    size_t idx;   /* its place in S.jobs */
    uint8_t *env; /* the envelope (new); `m` borrows it */
    size_t env_len;
    proto_msg m;
    uint32_t attempt;
    char hex[PROTO_MSG_ID_HEX];
    s_jstate state;
    long route;
    int probe;
    /* J_PENDING and waiting: its route's queue (s_pend_push) */
    struct s_job *qprev, *qnext;
    int queued;
    deliver_fresh_t dec;
    /* the Identity values that go out: the stored ones or ours */
    proto_bytes ids[PROTO_MSG_IDENTITY_N];
    size_t nids;
    char *resigned; /* our Identity value (new) */
    uint64_t resign_iat;
    /* SIP transaction */
    char branch[80];
    char *req;
    size_t req_len;
    uint64_t rtx_at, interval, deadline; /* monotonic ms */
    deliver_timer_t timer; /* due at the earlier of rtx_at and deadline */
    int in_txn;            /* in S.txn under `branch` */
    size_t outq_pos;       /* 1 + its place in its route's outq, or 0 */
    int outq_rtx;          /* ... as a retransmission */
    int provisional;
    struct s_conn *conn; /* TCP: the connection it was written to */
    uint64_t conn_gen;   /* ... and which one of its lives */
    uint64_t start_mono;
} s_job;

/* One TCP connection per SIP/TCP route, reused by every job. */
typedef struct s_conn {
    int fd;
    int up;   /* connect finished */
    char *out; /* bytes not yet written */
    size_t out_n, out_cap;
    char *in;
    size_t in_n, in_cap;
    char local[64];
    int local_port;
    uint64_t gen; /* bumped at each connect */
} s_conn;

typedef struct {
    deliver_route_t r;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int udp;            /* UDP socket, or -1 */
    char local[64];     /* UDP local address for Via */
    int local_port;
    s_conn tcp;
    s_job *pend_head, *pend_tail; /* waiting for a slot, oldest first */
    s_job **outq; /* UDP datagrams of this loop pass (s_udp_flush) */
    size_t outq_n, outq_cap;
} s_route;

typedef struct {
    conf_t conf;
    const char *conf_path, *run_dir, *endpoint;
    int worker;
    deliver_fresh_policy fresh;
    deliver_route_policy rpol;
    s_route *routes;
    size_t nroutes;
    deliver_route_t *rview; /* routes[i].r copied for matching */
    uint32_t credit;        /* total announced */
    uint32_t ready_owed;    /* slots freed this wake-up, READY not sent */
    uint32_t in_hand;       /* jobs received, not yet answered */
    void *zctx, *sock;
    uint64_t hb_mono;
    s_job **jobs;
    size_t njobs, jcap;
    deliver_txn_t *txn;      /* SIP transactions by branch */
    deliver_timers_t timers; /* their Timer E and F */
    deliver_http_t *http;
    verify_key_t *sign_key;
    verify_trust_t *trust;
    verify_x5u_cache_t *x5u;
    uint64_t t1, timer_f;
} s_deliver;

static s_deliver S;

/*
 * Metrics (lib/sg_metrics.h): stage "deliver", instance = --worker,
 * written to RUN_DIR/metrics/deliver-N.prom once a second.  Every job
 * ends in s_finish exactly once: the outcomes are counted there.
 */
enum { S_OC_DELIVERED, S_OC_RETRY, S_OC_WAIT, S_OC_FAILED, S_OC_EXPIRED,
       S_OC_N };
static const char *const s_oc_names[S_OC_N] = {"delivered", "retry", "wait",
                                               "failed", "expired"};

static struct {
    sg_metrics_t *reg;
    char dir[1100];
    uint64_t last_mono;
    sg_counter_t **outcome; /* [(nroutes + 1) * S_OC_N]; the last: no route */
    sg_counter_t *verstat[3], *resigned, *stale_sent, *stale_rejected;
    sg_counter_t *deferred[3]; /* resolved, abandoned, retried */
    sg_gauge_t **route_down;   /* [nroutes] */
    sg_hist_t *delay;
    verify_x5u_metrics_t *x5u;
} s_m;

/* --- the store side --- */

static void
s_send(proto_cmd cmd, const void *body, size_t len)
{
    uint8_t vf[PROTO_WIRE_VFRAME_LEN], hdr[PROTO_WIRE_HDR_LEN];

    proto_wire_version_frame(vf);
    proto_wire_header(hdr, cmd, 0, (uint32_t)len);
    /* A full pipe or a store that is away drops the message: the
     * protocol tolerates it (leases, heartbeats, idempotent DONE). */
    if (zmq_send(S.sock, vf, sizeof(vf), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(S.sock, hdr, sizeof(hdr), ZMQ_SNDMORE) < 0 ||
        zmq_send(S.sock, body, len, 0) < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ETERM)
            sg_warn(S_PLACE, "zmq_send %s: %s", proto_wire_cmd_name(cmd),
                    zmq_strerror(errno));
    }
}

static void
s_send_credit(proto_cmd cmd, uint32_t n)
{
    uint8_t b[4];

    proto_wire_u32_encode(n, b);
    s_send(cmd, b, 4);
}

/* The slots freed since the last wake-up, as one READY(n): credit is
 * additive, so READY(3) means what three READY(1) did, in one message
 * (and one wake-up of the store) instead of three. */
static void
s_ready_flush(void)
{
    if (S.ready_owed == 0)
        return;
    if (!s_stop)
        s_send_credit(PROTO_CMD_READY, S.ready_owed);
    S.ready_owed = 0;
}

/* Printable ASCII only, at most the protocol's text size. */
static void
s_clean_text(const char *in, char *out, size_t outsz)
{
    size_t k = 0;

    for (; *in && k + 1 < outsz && k < PROTO_WIRE_TEXT_MAX; in++)
        out[k++] = (*in >= 0x20 && *in <= 0x7e) ? *in : '?';
    out[k] = '\0';
}

/* --- jobs list --- */

static void
s_job_add(s_job *j)
{
    if (S.njobs == S.jcap) {
        S.jcap = S.jcap ? S.jcap * 2 : 64;
        S.jobs = sg_realloc(S.jobs, S.jcap * sizeof(*S.jobs));
    }
    j->idx = S.njobs;
    S.jobs[S.njobs++] = j;
}

/*
 * A job waiting for a slot on its route joins the route's queue, which
 * is kept oldest (start_mono) first: a job that was verifying first can
 * be older than those queued while it waited, so it is placed from the
 * tail back, which is one step when it is the youngest.
 */
static void
s_pend_push(s_route *rt, s_job *j)
{
    s_job *after = rt->pend_tail;

    while (after != NULL && after->start_mono > j->start_mono)
        after = after->qprev;
    j->qprev = after;
    j->qnext = after != NULL ? after->qnext : rt->pend_head;
    if (j->qnext != NULL)
        j->qnext->qprev = j;
    else
        rt->pend_tail = j;
    if (after != NULL)
        after->qnext = j;
    else
        rt->pend_head = j;
    j->queued = 1;
}

static void
s_pend_unlink(s_job *j)
{
    s_route *rt;

    if (!j->queued)
        return;
    rt = &S.routes[j->route];
    if (j->qprev != NULL)
        j->qprev->qnext = j->qnext;
    else
        rt->pend_head = j->qnext;
    if (j->qnext != NULL)
        j->qnext->qprev = j->qprev;
    else
        rt->pend_tail = j->qprev;
    j->qprev = j->qnext = NULL;
    j->queued = 0;
}

/* Out of every index it is in, then freed. */
static void
s_job_free(s_job *j)
{
    S.jobs[j->idx] = S.jobs[--S.njobs];
    S.jobs[j->idx]->idx = j->idx;
    s_pend_unlink(j);
    if (j->in_txn)
        deliver_txn_remove(S.txn, j->branch, strlen(j->branch), j);
    deliver_timers_cancel(&S.timers, &j->timer);
    if (j->outq_pos > 0)
        S.routes[j->route].outq[j->outq_pos - 1] = NULL;
    sg_free(j->env);
    sg_free(j->resigned);
    sg_free(j->req);
    sg_free(j);
}

static const char *
s_verstat_name(uint8_t v)
{
    return v == PROTO_MSG_VERSTAT_PASSED   ? "TN-Validation-Passed"
           : v == PROTO_MSG_VERSTAT_FAILED ? "TN-Validation-Failed"
                                           : "No-TN-Validation";
}

/* --- status callbacks (the sender's status_url) --- */

static void
s_status_done(void *arg, sg_rc rc, long status, const char *error)
{
    char *hex = arg, q[160];

    if (rc == SG_OK)
        sg_debug(S_PLACE, "msg=%s status callback: HTTP %ld", hex, status);
    else
        sg_warn(S_PLACE, "msg=%s status callback failed: %s", hex,
                sg_log_quote(error, strlen(error), q, sizeof(q)));
    sg_free(hex);
}

/*
 * POST {id, state, reason, verstat, attempts, last_error} once.  XXX one
 * try only; a callback that must not be missed would need its own queue
 * in the store.  The final states of the store itself (lifetime) are not
 * reported from here.
 */
static void
s_status_post(const s_job *j, const char *state, const char *error)
{
    json_t *o;
    char *txt;

    if (!(j->m.flags & PROTO_MSG_F_STATUS_URL) || S.http == NULL)
        return;
    o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "id", j->hex, "state",
                  state, "reason", deliver_fresh_reason_name(&j->dec),
                  "verstat", s_verstat_name(j->dec.verstat), "attempts",
                  (json_int_t)j->attempt, "last_error", error);
    if (o == NULL || (txt = json_dumps(o, JSON_COMPACT)) == NULL)
        sg_panic("jansson: out of memory");
    json_decref(o);
    {
        char *url = sg_strndup((const char *)j->m.status_url.p,
                               j->m.status_url.len);
        char *hex = sg_strdup(j->hex);
        if (deliver_http_post(S.http, url, j->hex, txt, strlen(txt),
                              (long)S.conf.delivery_http_timeout_ms,
                              s_status_done, hex) != SG_OK)
            sg_free(hex);
        sg_free(url);
    }
    free(txt);
}

static void
s_m_finish(const s_job *j, uint32_t outcome)
{
    size_t ri = j->route >= 0 ? (size_t)j->route : S.nroutes;
    int oc = outcome == PROTO_OUTCOME_DELIVERED ? S_OC_DELIVERED
             : outcome == PROTO_OUTCOME_RETRY   ? S_OC_RETRY
             : outcome == PROTO_OUTCOME_WAIT    ? S_OC_WAIT
             : outcome == PROTO_OUTCOME_FAILED  ? S_OC_FAILED
                                                : S_OC_EXPIRED;
    uint64_t now;

    if (s_m.reg == NULL)
        return;
    sg_counter_add(s_m.outcome[ri * S_OC_N + (size_t)oc], 1);
    if (j->dec.action == DELIVER_FRESH_REJECT)
        sg_counter_add(s_m.stale_rejected, 1);
    if (oc != S_OC_DELIVERED)
        return;
    if (j->dec.verstat < 3)
        sg_counter_add(s_m.verstat[j->dec.verstat], 1);
    if (j->resign_iat)
        sg_counter_add(s_m.resigned, 1);
    if (j->dec.dreason == PROTO_DREASON_STALE_AT_DELIVERY)
        sg_counter_add(s_m.stale_sent, 1);
    /*
     * Receipt to delivery: received_ms is ingest's wall clock, now is
     * ours; with hosts (or a clock step) between them it can come out
     * negative, which is counted as 0 rather than dropped.
     */
    now = sg_clock_wall_ms();
    sg_hist_observe(s_m.delay, now > j->m.received_ms
                                   ? (double)(now - j->m.received_ms) / 1000.0
                                   : 0.0);
}

/* A deferred verification ran (deliver_fresh_verified decided). */
static void
s_m_deferred(const s_job *j, proto_reason r)
{
    if (s_m.reg == NULL)
        return;
    if (j->dec.action == DELIVER_FRESH_RETRY)
        sg_counter_add(s_m.deferred[2], 1);
    else if (r == REASON_X5U_FETCH_FAILED)
        sg_counter_add(s_m.deferred[1], 1);
    else
        sg_counter_add(s_m.deferred[0], 1);
}

/*
 * Answer the store for `j` and forget it: RESIGNED first when the
 * re-signed copy went out, then DONE; the slot is owed as READY
 * (s_ready_flush).
 */
static void
s_finish(s_job *j, uint32_t outcome, uint32_t retry_after_ms,
         const char *error)
{
    proto_done d;
    uint8_t b[32 + PROTO_WIRE_TEXT_MAX];
    char text[PROTO_WIRE_TEXT_MAX + 1], q[200];
    const char *rname = deliver_fresh_reason_name(&j->dec);
    const char *rt = S.routes && j->route >= 0
                         ? S.routes[j->route].r.name
                         : "-";
    size_t n;

    s_clean_text(error ? error : "", text, sizeof(text));
    if (outcome == PROTO_OUTCOME_DELIVERED && j->resign_iat) {
        proto_resigned r = {.attempt = j->attempt,
                            .resign_iat = j->resign_iat};
        uint8_t rb[32];
        memcpy(r.id, j->m.id, PROTO_MSG_ID_LEN);
        proto_wire_resigned_encode(&r, rb);
        s_send(PROTO_CMD_RESIGNED, rb, sizeof(rb));
    }
    memset(&d, 0, sizeof(d));
    memcpy(d.id, j->m.id, PROTO_MSG_ID_LEN);
    d.attempt = j->attempt;
    d.outcome = outcome;
    d.retry_after_ms = retry_after_ms;
    d.error.p = (const uint8_t *)text;
    d.error.len = strlen(text);
    if (j->dec.action == DELIVER_FRESH_SEND)
        d.dverstat = (uint8_t)(j->dec.verstat + 1);
    d.dreason = j->dec.dreason;
    n = proto_wire_done_encode(&d, b, sizeof(b));
    if (n == 0)
        sg_panic("proto_wire_done_encode failed");
    s_send(PROTO_CMD_DONE, b, n);

    sg_log_quote(text, strlen(text), q, sizeof(q));
    s_m_finish(j, outcome);
    switch (outcome) {
    case PROTO_OUTCOME_DELIVERED:
        sg_info(S_PLACE,
                "msg=%s delivered route=%s verstat=%s reason=%s attempt=%u%s "
                "(%" PRIu64 " ms)",
                j->hex, rt, s_verstat_name(j->dec.verstat), rname, j->attempt,
                j->resign_iat ? " resigned" : "",
                sg_clock_mono_ms() - j->start_mono);
        s_status_post(j, "delivered", "");
        break;
    case PROTO_OUTCOME_RETRY:
        sg_info(S_PLACE, "msg=%s retry route=%s attempt=%u error=\"%s\"",
                j->hex, rt, j->attempt, q);
        break;
    case PROTO_OUTCOME_WAIT:
        sg_info(S_PLACE, "msg=%s waiting route=%s for %u ms: %s", j->hex, rt,
                retry_after_ms, q);
        break;
    case PROTO_OUTCOME_FAILED:
        sg_info(S_PLACE, "msg=%s failed route=%s attempt=%u error=\"%s\"",
                j->hex, rt, j->attempt, q);
        s_status_post(j, "rejected", text);
        break;
    default:
        sg_info(S_PLACE, "msg=%s expired attempt=%u reason=%s", j->hex,
                j->attempt, q);
        s_status_post(j, "expired", text);
        break;
    }
    if (j->route >= 0 && j->state == J_SENDING &&
        S.routes[j->route].r.inflight > 0)
        S.routes[j->route].r.inflight--;
    /* A probe handed back unsent leaves the route free to probe again. */
    if (j->route >= 0 && j->probe && j->state != J_SENDING)
        S.routes[j->route].r.probing = 0;
    S.in_hand--;
    if (!s_stop)
        S.ready_owed++; /* one READY(n) per wake-up: s_ready_flush */
    s_job_free(j);
}

/* --- sending --- */

static void s_start_send(s_job *j);
static int s_job_alive(const s_job *j);

/* A route slot freed: start the oldest job waiting for it. */
static void
s_route_kick(long ri)
{
    s_route *rt = &S.routes[ri];

    while (rt->r.inflight < rt->r.concurrency && rt->pend_head != NULL)
        s_start_send(rt->pend_head);
}

/* The outcome of one send, through the route's health. */
static void
s_sent(s_job *j, sg_rc rc, uint32_t retry_after_ms, const char *error)
{
    long ri = j->route;
    s_route *rt = &S.routes[ri];
    deliver_route_change ch =
        deliver_route_report(&rt->r, rc, j->probe, sg_clock_mono_ms(),
                             &S.rpol);

    if (ch == DELIVER_ROUTE_WENT_DOWN)
        sg_warn(S_PLACE, "route %s down after %u consecutive failures; "
                         "probing every %" PRIu64 " ms",
                rt->r.name, rt->r.failures, S.rpol.probe_interval_ms);
    else if (ch == DELIVER_ROUTE_CAME_UP)
        sg_info(S_PLACE, "route %s up again", rt->r.name);
    s_finish(j,
             rc == SG_OK      ? PROTO_OUTCOME_DELIVERED
             : rc == SG_AGAIN ? PROTO_OUTCOME_RETRY
                              : PROTO_OUTCOME_FAILED,
             retry_after_ms, error);
    s_route_kick(ri);
}

static void
s_http_done(void *arg, sg_rc rc, long status, const char *error)
{
    s_job *j = arg;

    (void)status;
    s_sent(j, rc, 0, error);
}

/*
 * Re-sign a message the gateway signed: the same orig and dest as the
 * stored PASSporT (ours, so they parse), msgi over the same body, a fresh
 * iat.  SG_AGAIN when it cannot be done now.
 */
static sg_rc
s_resign(s_job *j)
{
    proto_identity_t id;
    proto_passport_t *pp = NULL;
    proto_ident_t orig, *dest = NULL;
    size_t nd = 0;
    char *tok = NULL;
    int64_t now = (int64_t)(sg_clock_wall_ms() / 1000);
    sg_rc rc = SG_AGAIN;

    memset(&id, 0, sizeof(id));
    if (S.sign_key == NULL || S.conf.sign_x5u == NULL) {
        sg_error(S_PLACE, "msg=%s cannot re-sign: no sign.key/sign.x5u",
                 j->hex);
        return SG_AGAIN;
    }
    if (proto_identity_parse((const char *)j->m.identity[0].p,
                             j->m.identity[0].len, &id) != REASON_OK ||
        proto_passport_parse(id.token, strlen(id.token), &pp) != REASON_OK) {
        sg_error(S_PLACE, "msg=%s stored PASSporT does not parse", j->hex);
        goto out;
    }
    memset(&orig, 0, sizeof(orig));
    orig.kind = pp->orig_kind;
    snprintf(orig.value, sizeof(orig.value), "%s", pp->orig);
    dest = sg_calloc(pp->n_dest_tn + pp->n_dest_uri + 1, sizeof(*dest));
    for (size_t i = 0; i < pp->n_dest_tn; i++) {
        dest[nd].kind = PROTO_IDENT_TN;
        snprintf(dest[nd++].value, sizeof(dest->value), "%s", pp->dest_tn[i]);
    }
    for (size_t i = 0; i < pp->n_dest_uri; i++) {
        dest[nd].kind = PROTO_IDENT_URI;
        snprintf(dest[nd++].value, sizeof(dest->value), "%s",
                 pp->dest_uri[i]);
    }
    tok = verify_sign_passport(S.sign_key, S.conf.sign_x5u, NULL, &orig, dest,
                               nd, now, j->m.body.p, j->m.body.len);
    if (tok == NULL)
        goto out;
    j->resigned = proto_identity_format(tok, S.conf.sign_x5u, "msg");
    j->resign_iat = (uint64_t)now;
    j->ids[0].p = (const uint8_t *)j->resigned;
    j->ids[0].len = strlen(j->resigned);
    j->nids = 1;
    rc = SG_OK;
out:
    sg_free(tok);
    sg_free(dest);
    proto_passport_destroy(&pp);
    proto_identity_clear(&id);
    return rc;
}

static int
s_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

static void
s_sockname(int fd, char *host, size_t hostsz, int *port)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof(ss);

    snprintf(host, hostsz, "127.0.0.1");
    *port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &l) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)hostsz);
        *port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)hostsz);
        *port = ntohs(a->sin6_port);
    }
}

static void
s_conn_close(s_route *rt, const char *why)
{
    s_conn *c = &rt->tcp;
    s_job **victims;
    size_t nv = 0;
    uint64_t gen = c->gen;

    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    c->up = 0;
    c->out_n = 0;
    c->in_n = 0;
    /*
     * Requests written to it get no answer now: retried later (the same
     * Call-ID tells the peer if one did arrive).  Collected first: failing
     * one frees a slot, and the job started in it may open the next
     * connection, which must not be taken for this one.
     */
    victims = sg_calloc(S.njobs + 1, sizeof(*victims));
    for (size_t i = 0; i < S.njobs; i++)
        if (S.jobs[i]->state == J_SENDING && S.jobs[i]->conn == c &&
            S.jobs[i]->conn_gen == gen)
            victims[nv++] = S.jobs[i];
    for (size_t i = 0; i < nv; i++)
        if (s_job_alive(victims[i])) {
            victims[i]->conn = NULL;
            s_sent(victims[i], SG_AGAIN, 0, why);
        }
    sg_free(victims);
}

static int
s_conn_open(s_route *rt)
{
    s_conn *c = &rt->tcp;
    int fd = socket(rt->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || !s_nonblock(fd)) {
        sg_error(S_PLACE, "route %s: socket: %s", rt->r.name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&rt->addr, rt->addrlen) != 0 &&
        errno != EINPROGRESS) {
        sg_warn(S_PLACE, "route %s: connect: %s", rt->r.name, strerror(errno));
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->up = 0;
    c->gen++;
    c->out_n = c->in_n = 0;
    /* The kernel picked the local port at connect(): Via can say it. */
    s_sockname(fd, c->local, sizeof(c->local), &c->local_port);
    return 0;
}

static void
s_conn_queue(s_conn *c, const char *p, size_t n)
{
    if (c->out_n + n > c->out_cap) {
        while (c->out_n + n > c->out_cap)
            c->out_cap = c->out_cap ? c->out_cap * 2 : 65536;
        c->out = sg_realloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_n, p, n);
    c->out_n += n;
}

/* Timer E or F, whichever is due first (s_sip_timers). */
static void
s_timer_arm(s_job *j)
{
    deliver_timers_set(&S.timers, &j->timer,
                       j->rtx_at < j->deadline ? j->rtx_at : j->deadline);
}

/*
 * UDP datagrams wait for the end of the loop pass (s_udp_flush_all) and
 * leave together, one sendmmsg(2) per route for a batch of them: at full
 * load a pass starts many jobs, and a send(2) each was a system call per
 * message.  A job freed before that is taken out of the batch
 * (s_job_free), so the batch never points at a freed request.
 */
static void
s_udp_queue(s_route *rt, s_job *j, int rtx)
{
    if (j->outq_pos > 0)
        return; /* already going out in this pass */
    if (rt->outq_n == rt->outq_cap) {
        rt->outq_cap = rt->outq_cap ? rt->outq_cap * 2 : 64;
        rt->outq = sg_realloc(rt->outq, rt->outq_cap * sizeof(*rt->outq));
    }
    rt->outq[rt->outq_n++] = j;
    j->outq_pos = rt->outq_n;
    j->outq_rtx = rtx;
}

/* A datagram that did not leave: Timer E sends it again, Timer F ends
 * the wait (an ICMP error reported on a later send says nothing about
 * this one). */
static void
s_udp_failed(const s_route *rt, const s_job *j, int err)
{
    if (err == EAGAIN || err == ECONNREFUSED)
        return;
    if (j->outq_rtx)
        sg_debug(S_PLACE, "msg=%s retransmit: %s", j->hex, strerror(err));
    else
        sg_warn(S_PLACE, "msg=%s route %s: send: %s", j->hex, rt->r.name,
                strerror(err));
}

static void
s_udp_flush(s_route *rt)
{
    struct mmsghdr mm[S_UDP_BATCH];
    struct iovec iov[S_UDP_BATCH];
    s_job *js[S_UDP_BATCH];
    size_t i = 0;

    while (i < rt->outq_n) {
        size_t k = 0, done = 0;
        for (; i < rt->outq_n && k < S_UDP_BATCH; i++) {
            s_job *j = rt->outq[i];
            if (j == NULL)
                continue; /* freed since it was queued */
            j->outq_pos = 0;
            js[k] = j;
            iov[k].iov_base = j->req;
            iov[k].iov_len = j->req_len;
            memset(&mm[k], 0, sizeof(mm[k]));
            mm[k].msg_hdr.msg_iov = &iov[k];
            mm[k].msg_hdr.msg_iovlen = 1;
            k++;
        }
        /*
         * sendmmsg stops at the first datagram that fails and reports
         * the error only when it is the first of the call: what follows
         * a failure is sent by the next call, which names the failure
         * if it is still there.
         */
        while (done < k) {
            int r = sendmmsg(rt->udp, mm + done, (unsigned)(k - done), 0);
            if (r > 0) {
                done += (size_t)r;
                continue;
            }
            s_udp_failed(rt, js[done], r < 0 ? errno : EAGAIN);
            done++;
        }
    }
    rt->outq_n = 0;
}

static void
s_udp_flush_all(void)
{
    for (size_t i = 0; i < S.nroutes; i++)
        if (S.routes[i].outq_n > 0)
            s_udp_flush(&S.routes[i]);
}

static void
s_sip_send(s_job *j, s_route *rt)
{
    deliver_sip_out_t o;
    const char *why;
    uint64_t now = sg_clock_mono_ms();
    int tcp = rt->r.kind == DELIVER_HOP_TCP;

    if (tcp && rt->tcp.fd < 0 && s_conn_open(rt) != 0) {
        s_sent(j, SG_AGAIN, 0, "TCP connect failed");
        return;
    }
    memset(&o, 0, sizeof(o));
    o.tcp = tcp;
    o.hop_host = rt->r.host;
    o.hop_port = rt->r.port;
    o.local_host = tcp ? rt->tcp.local : rt->local;
    o.local_port = tcp ? rt->tcp.local_port : rt->local_port;
    o.id = j->m.id;
    o.cseq = j->attempt;
    /* A new transaction per attempt: the branch carries the attempt and
     * some randomness (another worker may hold the same attempt after a
     * lease ran out). */
    snprintf(j->branch, sizeof(j->branch), "z9hG4bK%s.%u.%08" PRIx64, j->hex,
             j->attempt, sg_rand_u64() & 0xffffffffu);
    o.branch = j->branch;
    o.from = j->m.from;
    o.to = j->m.to;
    o.content_type = j->m.content_type;
    o.identity = j->ids;
    o.n_identity = j->nids;
    o.verstat = s_verstat_name(j->dec.verstat);
    o.body = j->m.body;
    if (deliver_sip_build(&o, &j->req, &j->req_len, &why) != SG_OK) {
        s_sent(j, SG_REFUSED, 0, why);
        return;
    }
    /* Its responses find it by the branch (s_job_by_branch). */
    deliver_txn_add(S.txn, j->branch, strlen(j->branch), j);
    j->in_txn = 1;
    j->deadline = now + S.timer_f;
    if (tcp) {
        j->conn = &rt->tcp;
        j->conn_gen = rt->tcp.gen;
        s_conn_queue(&rt->tcp, j->req, j->req_len);
        j->rtx_at = UINT64_MAX; /* reliable transport: no Timer E */
        s_timer_arm(j);
        return;
    }
    if (j->req_len > S_UDP_MAX) {
        s_sent(j, SG_REFUSED, 0, "message too large for UDP");
        return;
    }
    s_udp_queue(rt, j, 0);
    j->interval = S.t1;
    j->rtx_at = now + S.t1;
    s_timer_arm(j);
}

static void
s_start_send(s_job *j)
{
    s_route *rt = &S.routes[j->route];

    s_pend_unlink(j);
    j->state = J_SENDING;
    rt->r.inflight++;
    if (j->dec.id_src == DELIVER_ID_RESIGN && j->resigned == NULL &&
        s_resign(j) != SG_OK) {
        s_sent(j, SG_AGAIN, 0, "re-signing failed");
        return;
    }
    if (rt->r.kind == DELIVER_HOP_HTTP) {
        deliver_http_webhook_t w = {
            .m = &j->m,
            .verstat = s_verstat_name(j->dec.verstat),
            .reason = deliver_fresh_reason_name(&j->dec),
            .identity = j->ids,
            .n_identity = j->nids,
            .resign_iat = j->resign_iat,
            .attempt = j->attempt,
        };
        char *body = deliver_http_webhook_json(&w);
        sg_rc rc = deliver_http_post(S.http, rt->r.url, j->hex, body,
                                     strlen(body),
                                     (long)S.conf.delivery_http_timeout_ms,
                                     s_http_done, j);
        free(body);
        if (rc != SG_OK)
            s_sent(j, SG_AGAIN, 0, "HTTP request could not start");
        return;
    }
    s_sip_send(j, rt);
}

/* Freshness decided SEND: route it and send, or hand it back. */
static void
s_route_job(s_job *j)
{
    long ri = deliver_route_match(S.rview, S.nroutes,
                                  (const char *)j->m.to.p, j->m.to.len);
    uint64_t wait;
    s_route *rt;

    if (ri < 0) {
        s_finish(j, PROTO_OUTCOME_FAILED, 0,
                 "no route matches the destination");
        return;
    }
    j->route = ri;
    rt = &S.routes[ri];
    if (j->dec.id_src == DELIVER_ID_STORED) {
        j->nids = j->m.n_identity;
        memcpy(j->ids, j->m.identity, j->nids * sizeof(proto_bytes));
    }
    switch (deliver_route_admit(&rt->r, sg_clock_mono_ms(), &S.rpol, &wait)) {
    case DELIVER_GATE_WAIT: {
        char why[128];
        snprintf(why, sizeof(why), "route %s down", rt->r.name);
        s_finish(j, PROTO_OUTCOME_WAIT,
                 wait > UINT32_MAX ? UINT32_MAX : (uint32_t)wait, why);
        return;
    }
    case DELIVER_GATE_PROBE:
        j->probe = 1;
        sg_info(S_PLACE, "msg=%s probes route %s", j->hex, rt->r.name);
        break;
    default:
        break;
    }
    j->state = J_PENDING;
    if (rt->r.inflight < rt->r.concurrency)
        s_start_send(j);
    else
        s_pend_push(rt, j);
}

/* Act on a freshness decision. */
static void
s_decided(s_job *j)
{
    char why[128];

    switch (j->dec.action) {
    case DELIVER_FRESH_SEND:
        s_route_job(j);
        return;
    case DELIVER_FRESH_EXPIRED:
        s_finish(j, PROTO_OUTCOME_EXPIRED, 0, "expired (Expires)");
        return;
    case DELIVER_FRESH_REJECT:
        s_finish(j, PROTO_OUTCOME_EXPIRED, 0, "stale_at_delivery");
        return;
    case DELIVER_FRESH_FAIL:
        snprintf(why, sizeof(why), "verification failed at delivery: %s",
                 deliver_fresh_reason_name(&j->dec));
        s_finish(j, PROTO_OUTCOME_FAILED, 0, why);
        return;
    case DELIVER_FRESH_RETRY:
        snprintf(why, sizeof(why), "deferred verification: %s",
                 deliver_fresh_reason_name(&j->dec));
        s_finish(j, PROTO_OUTCOME_RETRY, 0, why);
        return;
    default:
        sg_panic("unexpected freshness action %d", (int)j->dec.action);
    }
}

/* --- deferred verification --- */

typedef struct {
    verify_chain_t *chain;
    proto_reason reason;
} s_chain_arg;

static proto_reason
s_chain_fn(void *arg, const char *x5u, verify_chain_t **chain)
{
    s_chain_arg *a = arg;

    (void)x5u;
    *chain = a->reason == REASON_OK ? a->chain : NULL;
    return a->reason;
}

static int
s_peer_rejects(const proto_msg *m)
{
    const conf_peer_t *p = S.conf.peers.items;

    for (size_t i = 0; i < S.conf.peers.n; i++)
        if (p[i].name && strlen(p[i].name) == m->peer.len &&
            memcmp(p[i].name, m->peer.p, m->peer.len) == 0)
            return p[i].on_failure == CONF_FAIL_REJECT;
    return 0;
}

/* The verdict over the chain the cache answered, then the decision. */
static void
s_verify_with(s_job *j, const verify_x5u_result_t *res)
{
    s_chain_arg a = {res->chain, res->reason};
    verify_ctx_t ctx;
    verify_input_t in;
    verify_result_t vr;
    proto_ident_t orig, dest;
    const char *cc = S.conf.default_cc && *S.conf.default_cc
                         ? S.conf.default_cc
                         : NULL;
    char *from = sg_strndup((const char *)j->m.from.p, j->m.from.len);
    char *to = sg_strndup((const char *)j->m.to.p, j->m.to.len);
    proto_reason r;

    memset(&ctx, 0, sizeof(ctx));
    memset(&in, 0, sizeof(in));
    memset(&vr, 0, sizeof(vr));
    ctx.trust = S.trust;
    ctx.get_chain = s_chain_fn;
    ctx.get_chain_arg = &a;
    ctx.fresh.max_age = S.conf.verify_max_age;
    ctx.fresh.max_future = S.conf.verify_max_future;
    in.identity = (const char *)j->m.identity[0].p;
    in.identity_len = j->m.identity[0].len;
    /* The signaling identities as ingest saw them, when they parse. */
    if (proto_ident_parse(from, strlen(from), cc, &orig) == NULL)
        in.orig = &orig;
    if (proto_ident_parse(to, strlen(to), cc, &dest) == NULL) {
        in.dest = &dest;
        in.n_dest = 1;
    }
    in.body = j->m.body.p;
    in.body_len = j->m.body.len;
    in.have_body = 1;
    /*
     * Freshness was judged at ingest against the receive time; judging
     * it again now would call every deferred message stale.  The
     * certificates are checked at iat (RFC 9475 section 4) by
     * verify_passport itself.
     */
    in.now = (int64_t)(j->m.received_ms / 1000);
    r = verify_passport(&ctx, &in, &vr);
    sg_info(S_PLACE, "msg=%s deferred verification: %s%s%s", j->hex,
            proto_reason_name(r), vr.detail[0] ? ": " : "", vr.detail);
    verify_result_clear(&vr);
    sg_free(from);
    sg_free(to);
    deliver_fresh_verified(&j->m, sg_clock_wall_ms(), &S.fresh, r,
                           s_peer_rejects(&j->m), &j->dec);
    s_m_deferred(j, r);
    s_decided(j);
}

static int
s_job_alive(const s_job *j)
{
    for (size_t i = 0; i < S.njobs; i++)
        if (S.jobs[i] == j)
            return 1;
    return 0;
}

static void
s_x5u_cb(void *arg, const char *url, const verify_x5u_result_t *res)
{
    s_job *j = arg;

    (void)url;
    if (!s_job_alive(j) || j->state != J_VERIFYING)
        return;
    s_verify_with(j, res);
}

static void
s_verify_start(s_job *j)
{
    proto_identity_t id;
    verify_x5u_result_t res;
    char *url;

    memset(&id, 0, sizeof(id));
    if (S.x5u == NULL) {
        sg_error(S_PLACE, "msg=%s deferred verification needs verify.trust",
                 j->hex);
        deliver_fresh_verified(&j->m, sg_clock_wall_ms(), &S.fresh,
                               REASON_X5U_FETCH_FAILED, 0, &j->dec);
        s_m_deferred(j, REASON_X5U_FETCH_FAILED);
        s_decided(j);
        return;
    }
    if (proto_identity_parse((const char *)j->m.identity[0].p,
                             j->m.identity[0].len, &id) != REASON_OK) {
        proto_identity_clear(&id);
        deliver_fresh_verified(&j->m, sg_clock_wall_ms(), &S.fresh,
                               REASON_MALFORMED_IDENTITY,
                               s_peer_rejects(&j->m), &j->dec);
        s_m_deferred(j, REASON_MALFORMED_IDENTITY);
        s_decided(j);
        return;
    }
    url = sg_strdup(id.info);
    proto_identity_clear(&id);
    j->state = J_VERIFYING;
    if (verify_x5u_cache_get(S.x5u, url, s_x5u_cb, j, &res))
        s_verify_with(j, &res);
    sg_free(url);
}

/* --- the JOB --- */

static void
s_on_job(const uint8_t *body, size_t len)
{
    proto_job pj;
    s_job *j;
    const char *why;

    if ((why = proto_wire_job_decode(body, len, &pj)) != NULL) {
        sg_warn(S_PLACE, "JOB dropped: %s", why);
        return;
    }
    j = sg_calloc(1, sizeof(*j));
    j->env = sg_memdup(pj.env, pj.env_len);
    j->env_len = pj.env_len;
    j->attempt = pj.attempt;
    j->route = -1;
    j->timer.pos = DELIVER_TIMER_IDLE;
    j->start_mono = sg_clock_mono_ms();
    if ((why = proto_msg_decode(j->env, j->env_len, &j->m)) != NULL) {
        /* The store checked it: a JOB that fails is a broken invariant
         * of the store, not something retrying could fix.  Its lease
         * brings it back; the store will quarantine a bad record. */
        sg_error(S_PLACE, "JOB envelope rejected: %s", why);
        sg_free(j->env);
        sg_free(j);
        return;
    }
    proto_msg_id_hex(j->m.id, j->hex);
    S.in_hand++;
    s_job_add(j);
    if (s_stop) {
        /* Stopping: hand it straight back, no attempt burned. */
        s_finish(j, PROTO_OUTCOME_WAIT, 0, "worker stopping");
        return;
    }
    sg_debug(S_PLACE, "msg=%s job attempt %u", j->hex, j->attempt);
    deliver_fresh_decide(&j->m, sg_clock_wall_ms(), &S.fresh, &j->dec);
    if (j->dec.action == DELIVER_FRESH_VERIFY)
        s_verify_start(j);
    else
        s_decided(j);
}

static void
s_recv_store(void)
{
    for (;;) {
        zmq_msg_t part[3];
        proto_wire_frame f[3];
        proto_wire_msg m;
        int n = 0, more = 1;
        const char *why;

        while (more) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            if (zmq_msg_recv(&x, S.sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(&x);
                if (n == 0)
                    return;
                break;
            }
            more = zmq_msg_more(&x);
            if (n < 3)
                part[n++] = x;
            else {
                zmq_msg_close(&x);
                n = 4;
            }
        }
        if (n != 3) {
            sg_warn(S_PLACE, "malformed message from the store dropped");
            for (int i = 0; i < n && i < 3; i++)
                zmq_msg_close(&part[i]);
            continue;
        }
        for (int i = 0; i < 3; i++) {
            f[i].p = zmq_msg_data(&part[i]);
            f[i].len = zmq_msg_size(&part[i]);
        }
        if ((why = proto_wire_decode(f, 3, PROTO_DIR_FROM_STORE, &m)) != NULL)
            sg_warn(S_PLACE, "message from the store dropped: %s", why);
        else if (m.cmd == PROTO_CMD_JOB)
            s_on_job(m.body, m.body_len);
        for (int i = 0; i < 3; i++)
            zmq_msg_close(&part[i]);
    }
}

/* --- SIP responses --- */

/* NULL for a branch that is not one of ours, or no longer. */
static s_job *
s_job_by_branch(const deliver_sip_str_t *b)
{
    s_job *j = deliver_txn_find(S.txn, b->p, b->n);

    return j != NULL && j->state == J_SENDING && j->req != NULL ? j : NULL;
}

static void
s_on_response(const deliver_sip_resp_t *r)
{
    s_job *j = s_job_by_branch(&r->branch);
    char err[64];
    sg_rc rc;

    if (j == NULL)
        return; /* a retransmitted final response, or not ours */
    if (r->code < 200) {
        /* RFC 3261 17.1.2.2: after a provisional, retransmit at T2. */
        j->provisional = 1;
        if (j->rtx_at != UINT64_MAX)
            j->interval = S_T2_MS;
        return;
    }
    rc = deliver_sip_outcome(r->code);
    snprintf(err, sizeof(err), "SIP %d", r->code);
    s_sent(j, rc,
           rc == SG_AGAIN && r->retry_after > 0
               ? (uint32_t)(r->retry_after > 86400 ? 86400
                                                   : r->retry_after) * 1000u
               : 0,
           rc == SG_OK ? "" : err);
}

static void
s_udp_read(s_route *rt)
{
    char buf[S_UDP_MAX + 1];

    for (;;) {
        ssize_t n = recv(rt->udp, buf, sizeof(buf) - 1, 0);
        deliver_sip_resp_t r;
        const char *why;
        if (n < 0)
            return; /* EAGAIN, or an ICMP error: Timer F decides */
        if (deliver_sip_resp_parse(buf, (size_t)n, 0, &r, &why) != 1) {
            sg_debug(S_PLACE, "route %s: response dropped: %s", rt->r.name,
                     why ? why : "?");
            continue;
        }
        s_on_response(&r);
    }
}

static void
s_tcp_io(s_route *rt, short revents)
{
    s_conn *c = &rt->tcp;

    if (revents & (POLLERR | POLLHUP)) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (!(revents & POLLIN) || err) {
            char why[96];
            snprintf(why, sizeof(why), "TCP connection to %s: %s", rt->r.name,
                     err ? strerror(err) : "closed");
            s_conn_close(rt, why);
            return;
        }
    }
    if ((revents & POLLOUT) && !c->up) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            char why[96];
            snprintf(why, sizeof(why), "TCP connect to %s: %s", rt->r.name,
                     strerror(err));
            s_conn_close(rt, why);
            return;
        }
        c->up = 1;
    }
    if ((revents & POLLOUT) && c->up && c->out_n > 0) {
        ssize_t n = send(c->fd, c->out, c->out_n, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            s_conn_close(rt, "TCP send failed");
            return;
        }
        if (n > 0) {
            memmove(c->out, c->out + n, c->out_n - (size_t)n);
            c->out_n -= (size_t)n;
        }
    }
    if (revents & POLLIN) {
        for (;;) {
            ssize_t n;
            if (c->in_cap - c->in_n < S_TCP_READ) {
                c->in_cap = c->in_n + S_TCP_READ;
                c->in = sg_realloc(c->in, c->in_cap);
            }
            n = recv(c->fd, c->in + c->in_n, c->in_cap - c->in_n, 0);
            if (n == 0) {
                s_conn_close(rt, "TCP connection closed by the peer");
                return;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                s_conn_close(rt, "TCP receive failed");
                return;
            }
            c->in_n += (size_t)n;
        }
        for (;;) {
            deliver_sip_resp_t r;
            const char *why;
            int k = deliver_sip_resp_parse(c->in, c->in_n, 1, &r, &why);
            if (k == 0)
                break;
            if (k < 0) {
                char msg[128];
                snprintf(msg, sizeof(msg), "malformed response: %s", why);
                s_conn_close(rt, msg);
                return;
            }
            /* Copy what we match on: the buffer moves after this. */
            s_on_response(&r);
            if (c->fd < 0)
                return;
            memmove(c->in, c->in + r.total_len, c->in_n - r.total_len);
            c->in_n -= r.total_len;
        }
    }
}

/*
 * Timer E (retransmit) and Timer F (give up) of the SIP transactions
 * that are due, earliest first.  Timer F frees the job (and its timer);
 * a retransmission re-arms it at least T1 (>= 10 ms) ahead, so the loop
 * ends.
 */
static void
s_sip_timers(void)
{
    uint64_t now = sg_clock_mono_ms();
    deliver_timer_t *t;

    while ((t = deliver_timers_first(&S.timers)) != NULL && t->at <= now) {
        s_job *j = (s_job *)(void *)((char *)t - offsetof(s_job, timer));
        if (now >= j->deadline) {
            s_sent(j, SG_AGAIN, 0, "no final response (Timer F)");
            continue;
        }
        s_udp_queue(&S.routes[j->route], j, 1);
        if (!j->provisional)
            j->interval = j->interval * 2 > S_T2_MS ? S_T2_MS : j->interval * 2;
        j->rtx_at = now + j->interval;
        s_timer_arm(j);
    }
}

/* --- set-up --- */

static int
s_resolve(s_route *rt)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype =
        rt->r.kind == DELIVER_HOP_UDP ? SOCK_DGRAM : SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", rt->r.port);
    if ((rc = getaddrinfo(rt->r.host, port, &hints, &res)) != 0) {
        sg_error(S_PLACE, "route %s: %s: %s", rt->r.name, rt->r.host,
                 gai_strerror(rc));
        return -1;
    }
    memcpy(&rt->addr, res->ai_addr, res->ai_addrlen);
    rt->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int
s_routes_setup(void)
{
    const conf_route_t *cr = S.conf.routes.items;
    uint64_t credit = 0;

    S.nroutes = S.conf.routes.n;
    S.routes = sg_calloc(S.nroutes ? S.nroutes : 1, sizeof(s_route));
    S.rview = sg_calloc(S.nroutes ? S.nroutes : 1, sizeof(deliver_route_t));
    for (size_t i = 0; i < S.nroutes; i++) {
        s_route *rt = &S.routes[i];
        const char *why;
        rt->udp = -1;
        rt->tcp.fd = -1;
        rt->r.name = cr[i].name;
        rt->r.match_prefix = cr[i].match_prefix;
        rt->r.match_domain = cr[i].match_domain;
        rt->r.concurrency = (unsigned)cr[i].concurrency;
        credit += rt->r.concurrency;
        if (cr[i].webhook != NULL && cr[i].webhook[0]) {
            rt->r.kind = DELIVER_HOP_HTTP;
            rt->r.url = cr[i].webhook;
            continue;
        }
        if (cr[i].sip == NULL ||
            (why = deliver_route_parse_sip(cr[i].sip, &rt->r)) != NULL) {
            sg_error(S_PLACE, "route %s: %s", rt->r.name,
                     cr[i].sip ? why : "neither sip nor webhook");
            return -1;
        }
        if (s_resolve(rt) != 0)
            return -1;
        if (rt->r.kind == DELIVER_HOP_UDP) {
            /* Connected: only the next hop's datagrams reach us, and
             * getsockname names the address Via must carry. */
            rt->udp = socket(rt->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC,
                             0);
            if (rt->udp < 0 || !s_nonblock(rt->udp) ||
                connect(rt->udp, (struct sockaddr *)&rt->addr, rt->addrlen) !=
                    0) {
                sg_error(S_PLACE, "route %s: UDP socket: %s", rt->r.name,
                         strerror(errno));
                return -1;
            }
            s_sockname(rt->udp, rt->local, sizeof(rt->local),
                       &rt->local_port);
        }
    }
    for (size_t i = 0; i < S.nroutes; i++)
        S.rview[i] = S.routes[i].r;
    if (credit == 0)
        credit = 1;
    S.credit = credit > S_CREDIT_MAX ? S_CREDIT_MAX : (uint32_t)credit;
    return 0;
}

static int
s_stir_setup(void)
{
    char why[256];
    const char *w;

    if (S.conf.sign_key != NULL) {
        S.sign_key = verify_key_from_file(S.conf.sign_key, &w);
        if (S.sign_key == NULL) {
            sg_error(S_PLACE, "sign.key %s: %s", S.conf.sign_key, w);
            return -1;
        }
    }
    if (S.conf.verify_trust == NULL)
        return 0;
    S.trust = verify_trust_new();
    if (verify_trust_add_ca_file(S.trust, S.conf.verify_trust, why,
                                 sizeof(why)) != SG_OK) {
        sg_error(S_PLACE, "verify.trust %s: %s", S.conf.verify_trust, why);
        return -1;
    }
    if (S.conf.verify_crl &&
        verify_trust_add_crl_file(S.trust, S.conf.verify_crl, why,
                                  sizeof(why)) != SG_OK) {
        sg_error(S_PLACE, "verify.crl %s: %s", S.conf.verify_crl, why);
        return -1;
    }
    if (S.conf.verify_spc_map &&
        verify_trust_load_spc_map(S.trust, S.conf.verify_spc_map, why,
                                  sizeof(why)) != SG_OK) {
        sg_error(S_PLACE, "verify.spc_map %s: %s", S.conf.verify_spc_map,
                 why);
        return -1;
    }
    {
        verify_x5u_cache_opts o;
        char dir[4096];
        memset(&o, 0, sizeof(o));
        o.policy.allow_loopback = S.conf.x5u_allow_loopback;
        o.policy.tls_ca = S.conf.x5u_tls_ca;
        o.policy.connect_timeout_ms = (long)S.conf.x5u_connect_timeout_ms;
        o.policy.timeout_ms = (long)S.conf.x5u_timeout_ms;
        o.policy.max_bytes = (size_t)S.conf.x5u_max_size;
        /* Shared with ingest: one fetch serves every process.  The
         * master creates data_dir; a worker started alone does it. */
        if (mkdir(S.conf.data_dir, 0700) != 0 && errno != EEXIST) {
            sg_error(S_PLACE, "mkdir %s: %s", S.conf.data_dir,
                     strerror(errno));
            return -1;
        }
        snprintf(dir, sizeof(dir), "%s/x5u", S.conf.data_dir);
        o.dir = dir;
        o.trust = S.trust;
        o.anchors_file = S.conf.verify_trust;
        o.crl_unavailable = S.conf.verify_crl_unavailable == CONF_CRL_REJECT
                                ? VERIFY_CRL_REJECT
                                : VERIFY_CRL_ACCEPT;
        /*
         * A failed fetch is remembered only briefly here: the store's
         * backoff already spaces the attempts of one message, and a
         * longer negative entry would make every message waiting on
         * that URL miss a repository that came back.
         */
        o.negative_ttl = 1;
        verify_ktab_configure((unsigned)S.conf.verify_key_tables,
                              (unsigned)S.conf.verify_key_table_after);
        if ((S.x5u = verify_x5u_cache_new(&o)) == NULL)
            return -1;
    }
    return 0;
}

static int
s_connect_store(void)
{
    char ep[4200];
    int hwm = 100000, linger = 2000;

    if (S.endpoint)
        snprintf(ep, sizeof(ep), "%s", S.endpoint);
    else
        snprintf(ep, sizeof(ep), "ipc://%s/store.sock", S.run_dir);
    S.zctx = zmq_ctx_new();
    S.sock = zmq_socket(S.zctx, ZMQ_DEALER);
    if (S.sock == NULL ||
        zmq_setsockopt(S.sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
        zmq_setsockopt(S.sock, ZMQ_RCVHWM, &hwm, sizeof(hwm)) ||
        zmq_setsockopt(S.sock, ZMQ_LINGER, &linger, sizeof(linger))) {
        sg_error(S_PLACE, "zmq_socket: %s", zmq_strerror(errno));
        return -1;
    }
    if (zmq_connect(S.sock, ep) != 0) {
        sg_error(S_PLACE, "zmq_connect %s: %s", ep, zmq_strerror(errno));
        return -1;
    }
    sg_info(S_PLACE, "connected to %s; %zu routes, credit %u", ep, S.nroutes,
            S.credit);
    return 0;
}

static int
s_parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            s_usage();
            return -1;
        }
        i++;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
            S.conf_path = v;
        else if (strcmp(a, "--run-dir") == 0)
            S.run_dir = v;
        else if (strcmp(a, "--endpoint") == 0)
            S.endpoint = v;
        else if (strcmp(a, "--worker") == 0)
            S.worker = atoi(v);
        else {
            fprintf(stderr, "stirgate-deliver: unknown option %s\n", a);
            s_usage();
            return -1;
        }
    }
    if (S.conf_path == NULL) {
        s_usage();
        return -1;
    }
    return 0;
}

/* --- the loop --- */

#define S_MAXFDS 4096

static sg_metrics_family_t *
s_m_declare(const char *name, sg_metric_type type, const char *help,
            const char *const *labels, const double *b, size_t nb)
{
    return sg_metrics_declare(s_m.reg, &(sg_metrics_desc_t){.name = name,
                                                            .help = help,
                                                            .type = type,
                                                            .labels = labels,
                                                            .buckets = b,
                                                            .n_buckets = nb});
}

static void
s_metrics_init(void)
{
    /* Receipt to delivery spans retries: seconds to a day. */
    static const double delay_b[] = {0.01, 0.025, 0.05, 0.1,   0.25, 0.5,
                                     1,    2.5,   5,    10,    30,   60,
                                     300,  900,   3600, 14400, 86400};
    static const char *const l_oc[] = {"route", "outcome", NULL};
    static const char *const l_route[] = {"route", NULL};
    static const char *const l_verstat[] = {"verstat", NULL};
    static const char *const l_action[] = {"action", NULL};
    static const char *const l_result[] = {"result", NULL};
    static const char *const results[3] = {"resolved", "abandoned", "retried"};
    char inst[16];
    sg_metrics_family_t *f;

    snprintf(inst, sizeof(inst), "%d", S.worker);
    s_m.reg = sg_metrics_new("deliver", inst);
    if (S.run_dir != NULL)
        snprintf(s_m.dir, sizeof(s_m.dir), "%s/metrics", S.run_dir);
    f = s_m_declare("stirgate_deliver_outcomes_total", SG_METRIC_COUNTER,
                    "Delivery attempts by route and outcome: delivered, "
                    "retry (transient failure), wait (route down, no attempt "
                    "used), failed (permanent), expired (Expires passed or "
                    "stale under on_stale reject); route \"none\" when no "
                    "route was chosen.",
                    l_oc, NULL, 0);
    s_m.outcome = sg_calloc((S.nroutes + 1) * S_OC_N, sizeof(*s_m.outcome));
    for (size_t r = 0; r <= S.nroutes; r++)
        for (size_t o = 0; o < S_OC_N; o++)
            s_m.outcome[r * S_OC_N + o] = sg_metrics_counter(
                f, r < S.nroutes ? S.routes[r].r.name : "none", s_oc_names[o],
                NULL);
    f = s_m_declare("stirgate_deliver_verstat_total", SG_METRIC_COUNTER,
                    "Messages delivered, by the verstat they left with.",
                    l_verstat, NULL, 0);
    s_m.verstat[PROTO_MSG_VERSTAT_NONE] =
        sg_metrics_counter(f, "No-TN-Validation", NULL);
    s_m.verstat[PROTO_MSG_VERSTAT_PASSED] =
        sg_metrics_counter(f, "TN-Validation-Passed", NULL);
    s_m.verstat[PROTO_MSG_VERSTAT_FAILED] =
        sg_metrics_counter(f, "TN-Validation-Failed", NULL);
    s_m.resigned = sg_metrics_counter(
        s_m_declare("stirgate_deliver_resigned_total", SG_METRIC_COUNTER,
                    "Messages delivered with a fresh signature of ours "
                    "(older than delivery.resign_after).",
                    NULL, NULL, 0),
        NULL);
    f = s_m_declare("stirgate_deliver_stale_total", SG_METRIC_COUNTER,
                    "Messages stale at delivery (older than "
                    "delivery.max_age): delivered as No-TN-Validation, or "
                    "rejected (on_stale reject).",
                    l_action, NULL, 0);
    s_m.stale_sent = sg_metrics_counter(f, "delivered_unverified", NULL);
    s_m.stale_rejected = sg_metrics_counter(f, "rejected", NULL);
    f = s_m_declare("stirgate_deliver_deferred_verifications_total",
                    SG_METRIC_COUNTER,
                    "Verifications deferred at ingest and run at delivery: "
                    "resolved (a verdict), abandoned (past "
                    "verify.defer_deadline), retried (still unavailable).",
                    l_result, NULL, 0);
    for (int i = 0; i < 3; i++)
        s_m.deferred[i] = sg_metrics_counter(f, results[i], NULL);
    f = s_m_declare("stirgate_deliver_route_down", SG_METRIC_GAUGE,
                    "1 while this worker holds the route down (consecutive "
                    "transient failures), else 0.",
                    l_route, NULL, 0);
    s_m.route_down = sg_calloc(S.nroutes + 1, sizeof(*s_m.route_down));
    for (size_t r = 0; r < S.nroutes; r++)
        s_m.route_down[r] = sg_metrics_gauge(f, S.routes[r].r.name, NULL);
    s_m.delay = sg_metrics_hist(
        s_m_declare("stirgate_deliver_delay_seconds", SG_METRIC_HISTOGRAM,
                    "Time from receipt (the 202) to delivery, retries "
                    "included (wall clocks of two processes; negative "
                    "counted as 0).",
                    NULL, delay_b, SG_NELEM(delay_b)),
        NULL);
    if (S.x5u != NULL)
        s_m.x5u = verify_x5u_metrics_new(s_m.reg);
}

/* The gauges, then the snapshot; once a second unless `force`. */
static void
s_metrics_tick(int force)
{
    uint64_t mono = sg_clock_mono_ms(), now;

    if (s_m.reg == NULL || (!force && mono - s_m.last_mono < 1000))
        return;
    s_m.last_mono = mono;
    now = sg_clock_wall_ms();
    for (size_t r = 0; r < S.nroutes; r++)
        sg_gauge_set(s_m.route_down[r], S.routes[r].r.down ? 1 : 0);
    verify_x5u_metrics_update(s_m.x5u, S.x5u, (int64_t)(now / 1000));
    if (s_m.dir[0])
        (void)sg_metrics_write_snapshot(s_m.reg, s_m.dir, now);
}

static void
s_loop(void)
{
    static zmq_pollitem_t it[S_MAXFDS];
    static struct pollfd pf[S_MAXFDS];
    static long it_route[S_MAXFDS]; /* route of a socket item */
    static int it_tcp[S_MAXFDS];
    uint64_t stop_at = 0;

    /*
     * The info lines of a pass (one per message and state change) are
     * collected and written together before the next wait, and so are
     * the UDP datagrams of the pass (s_udp_queue): at full load each was
     * a system call per message.  Warnings and errors are still written
     * at once (sg_log_hold).
     */
    sg_log_hold();
    while (!s_stop || S.njobs > 0 ||
           (S.http && deliver_http_pending(S.http) > 0)) {
        size_t n = 0, nhttp = 0, nx5u = 0, base_http, base_x5u;
        uint64_t now = sg_clock_mono_ms(), t;
        long timeout = S_HEARTBEAT_MS, ht;
        int pr;

        if (s_stop) {
            if (stop_at == 0) {
                stop_at = now + S_STOP_GRACE_MS;
                sg_info(S_PLACE, "stopping: %zu jobs in flight", S.njobs);
                /* Jobs not started yet go back without using an attempt. */
                for (size_t i = 0; i < S.njobs;) {
                    if (S.jobs[i]->state == J_PENDING) {
                        s_finish(S.jobs[i], PROTO_OUTCOME_WAIT, 0,
                                 "worker stopping");
                        continue;
                    }
                    i++;
                }
                continue;
            }
            if (now >= stop_at) {
                sg_warn(S_PLACE, "stop grace over: %zu jobs left to their "
                                 "leases",
                        S.njobs);
                break;
            }
        }
        it[n++] = (zmq_pollitem_t){S.sock, 0, ZMQ_POLLIN, 0};
        for (size_t i = 0; i < S.nroutes; i++) {
            s_route *rt = &S.routes[i];
            if (rt->udp >= 0) {
                it_route[n] = (long)i;
                it_tcp[n] = 0;
                it[n++] = (zmq_pollitem_t){NULL, rt->udp, ZMQ_POLLIN, 0};
            }
            if (rt->tcp.fd >= 0) {
                it_route[n] = (long)i;
                it_tcp[n] = 1;
                it[n++] = (zmq_pollitem_t){
                    NULL, rt->tcp.fd,
                    (short)(ZMQ_POLLIN |
                            (!rt->tcp.up || rt->tcp.out_n ? ZMQ_POLLOUT : 0)),
                    0};
            }
        }
        base_http = n;
        if (S.http) {
            nhttp = deliver_http_fds(S.http, pf, S_MAXFDS - n - 64);
            for (size_t i = 0; i < nhttp; i++)
                it[n++] = (zmq_pollitem_t){NULL, pf[i].fd, pf[i].events, 0};
            ht = deliver_http_timeout_ms(S.http);
            if (ht >= 0 && ht < timeout)
                timeout = ht;
        }
        base_x5u = n;
        if (S.x5u) {
            nx5u = verify_x5u_cache_fds(S.x5u, pf, S_MAXFDS - n);
            for (size_t i = 0; i < nx5u; i++)
                it[n++] = (zmq_pollitem_t){NULL, pf[i].fd, pf[i].events, 0};
            ht = verify_x5u_cache_timeout_ms(S.x5u);
            if (ht >= 0 && ht < timeout)
                timeout = ht;
        }
        t = deliver_timers_next(&S.timers);
        if (t != UINT64_MAX)
            timeout = t <= now ? 0
                      : (long)(t - now) < timeout ? (long)(t - now)
                                                  : timeout;
        s_udp_flush_all();
        s_ready_flush();
        sg_log_release();
        pr = zmq_poll(it, (int)n, timeout);
        sg_log_hold();
        if (pr < 0 && errno != EINTR) {
            if (errno == ETERM)
                break;
            sg_error(S_PLACE, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        /* Always drained without blocking: cheap, and it keeps the
         * store's messages from waiting on zmq's edge-triggered fd. */
        s_recv_store();
        for (size_t k = 1; pr > 0 && k < base_http; k++) {
            s_route *rt = &S.routes[it_route[k]];
            short ev = it[k].revents;
            if (ev == 0)
                continue;
            if (!it_tcp[k])
                s_udp_read(rt);
            else if (rt->tcp.fd == it[k].fd) /* not replaced meanwhile */
                s_tcp_io(rt, (short)((ev & ZMQ_POLLIN ? POLLIN : 0) |
                                     (ev & ZMQ_POLLOUT ? POLLOUT : 0) |
                                     (ev & ZMQ_POLLERR ? POLLERR : 0)));
        }
        /* Writes queued by jobs started above go out without waiting a
         * whole poll round. */
        for (size_t i = 0; i < S.nroutes; i++)
            if (S.routes[i].tcp.fd >= 0 && S.routes[i].tcp.up &&
                S.routes[i].tcp.out_n)
                s_tcp_io(&S.routes[i], POLLOUT);
        if (S.http) {
            for (size_t i = 0; i < nhttp; i++) {
                pf[i].fd = it[base_http + i].fd;
                pf[i].revents = 0;
                if (it[base_http + i].revents & ZMQ_POLLIN)
                    pf[i].revents |= POLLIN;
                if (it[base_http + i].revents & ZMQ_POLLOUT)
                    pf[i].revents |= POLLOUT;
                if (it[base_http + i].revents & ZMQ_POLLERR)
                    pf[i].revents |= POLLERR;
            }
            deliver_http_perform(S.http, pf, nhttp);
        }
        if (S.x5u) {
            for (size_t i = 0; i < nx5u; i++) {
                pf[i].fd = it[base_x5u + i].fd;
                pf[i].revents = 0;
                if (it[base_x5u + i].revents & ZMQ_POLLIN)
                    pf[i].revents |= POLLIN;
                if (it[base_x5u + i].revents & ZMQ_POLLOUT)
                    pf[i].revents |= POLLOUT;
                if (it[base_x5u + i].revents & ZMQ_POLLERR)
                    pf[i].revents |= POLLERR;
            }
            verify_x5u_cache_perform(S.x5u, pf, nx5u);
        }
        s_sip_timers();
        now = sg_clock_mono_ms();
        if (now - S.hb_mono >= S_HEARTBEAT_MS) {
            /* The credit the store should hold for us: a store that
             * restarted adopts it (PROTOCOL.md). */
            s_ready_flush();
            s_send_credit(PROTO_CMD_HEARTBEAT,
                          s_stop || S.in_hand > S.credit
                              ? 0
                              : S.credit - S.in_hand);
            S.hb_mono = now;
        }
        s_metrics_tick(0);
    }
    s_udp_flush_all();
    sg_log_release();
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
    static char progname[64];
    struct sigaction sa;
    sg_config_err_t err;
    int rcode = 1;

    memset(&S, 0, sizeof(S));
    sg_log_init("stirgate-deliver", SG_LOG_INFO);
    if (s_parse_args(argc, argv) != 0)
        return 2;
    if (S.worker > 0) {
        snprintf(progname, sizeof(progname), "stirgate-deliver.%d", S.worker);
        sg_log_init(progname, SG_LOG_INFO);
    }
    if (conf_load(S.conf_path, &S.conf, &err) != SG_OK) {
        fprintf(stderr, "stirgate-deliver: %s\n", err.text);
        return 2;
    }
    sg_log_set_level((sg_log_level)S.conf.log_level);
    sg_log_set_debug_places((const char *const *)S.conf.log_debug.v,
                            S.conf.log_debug.n);
    if (S.run_dir == NULL)
        S.run_dir = S.conf.run_dir;
    S.fresh.max_age_s = S.conf.delivery_max_age;
    S.fresh.on_stale = S.conf.delivery_on_stale == CONF_STALE_REJECT
                           ? DELIVER_STALE_REJECT
                           : DELIVER_STALE_UNVERIFIED;
    S.fresh.resign_after_s = S.conf.delivery_resign_after;
    S.fresh.defer_deadline_s = S.conf.verify_defer_deadline;
    S.rpol.down_after = (unsigned)S.conf.delivery_route_down_after;
    S.rpol.probe_interval_ms = (uint64_t)S.conf.delivery_probe_interval * 1000;
    S.t1 = (uint64_t)S.conf.delivery_sip_t1_ms;
    S.timer_f = S.conf.delivery_sip_timeout_ms > 0
                    ? (uint64_t)S.conf.delivery_sip_timeout_ms
                    : 64 * S.t1;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_signal; /* no SA_RESTART: zmq_poll sees EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    {
        /* The master starts stages with these blocked (cli/cli_run.c). */
        sigset_t stop;

        sigemptyset(&stop);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGINT);
        sigprocmask(SIG_UNBLOCK, &stop, NULL);
    }
    signal(SIGPIPE, SIG_IGN);

    if (s_routes_setup() != 0 || s_stir_setup() != 0)
        goto out;
    if ((S.http = deliver_http_new()) == NULL)
        goto out;
    if (s_connect_store() != 0)
        goto out;
    S.txn = deliver_txn_new();
    s_send_credit(PROTO_CMD_READY, S.credit);
    S.hb_mono = sg_clock_mono_ms();
    s_metrics_init();
    s_metrics_tick(1);
    s_loop();
    s_metrics_tick(1);
    sg_info(S_PLACE, "stopped");
    rcode = 0;
out:
    while (S.njobs > 0) {
        /* Left to their leases: no DONE. */
        s_job *j = S.jobs[0];
        S.jobs[0] = S.jobs[--S.njobs];
        sg_free(j->env);
        sg_free(j->resigned);
        sg_free(j->req);
        sg_free(j);
    }
    sg_free(S.jobs);
    deliver_txn_destroy(&S.txn);
    deliver_timers_clear(&S.timers);
    for (size_t i = 0; i < S.nroutes; i++) {
        if (S.routes[i].udp >= 0)
            close(S.routes[i].udp);
        if (S.routes[i].tcp.fd >= 0)
            close(S.routes[i].tcp.fd);
        sg_free(S.routes[i].tcp.in);
        sg_free(S.routes[i].tcp.out);
        sg_free(S.routes[i].outq);
    }
    sg_free(S.routes);
    sg_free(S.rview);
    deliver_http_destroy(&S.http);
    verify_x5u_cache_destroy(&S.x5u);
    verify_x5u_metrics_destroy(&s_m.x5u);
    sg_free(s_m.outcome);
    sg_free(s_m.route_down);
    sg_metrics_destroy(&s_m.reg);
    verify_trust_destroy(&S.trust);
    verify_key_destroy(&S.sign_key);
    if (S.sock)
        zmq_close(S.sock);
    if (S.zctx)
        zmq_ctx_term(S.zctx);
    conf_free(&S.conf);
    return rcode;
}
