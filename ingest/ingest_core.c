/*
 * ingest/ingest_core.c - the pipeline for one submitted message (see
 * ingest_core.h).
 *
 * A request (s_req) lives from submit until its answer is given AND every
 * certificate-cache callback it asked for has come back (the cache has no
 * cancel, so a request that finished early is kept, marked done, until
 * then: `refs` counts the callbacks still due plus one for the answer).
 *
 * Envelopes (s_env) are what the store is asked to commit: one per
 * recipient.  They are found by correlation id (a chained hash) and sit in
 * one FIFO timer list ordered by their next resend time; every resend
 * interval is the same, so appending keeps the order.
 */
#include "ingest/ingest_core.h"

#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "lib/sg_rand.h"
#include "proto/proto_identity.h"
#include "verify/verify_passport.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PLACE "ingest.core"
#define S_BUCKETS0 1024

typedef struct s_req s_req;
typedef struct s_env s_env;

struct s_env {
    s_req *req;
    uint64_t corr;
    uint8_t id[PROTO_MSG_ID_LEN];
    char hex[PROTO_MSG_ID_HEX];
    uint8_t *buf; /* the encoded envelope, kept for resends */
    size_t len;
    uint64_t next_at, deadline;
    int stored;
    int duplicate; /* an earlier request stored it: dup_hex is its id */
    char dup_hex[PROTO_MSG_ID_HEX];
    int linked; /* in the hash and the timer list */
    s_env *hnext;
    s_env *tprev, *tnext;
};

/* One Identity header's verification state. */
typedef enum { S_ID_TODO = 0, S_ID_WAITING, S_ID_DONE } s_id_state;

struct s_req {
    ingest_core_t *core;
    int refs;
    int done;
    int queued; /* on the core's ready list */
    s_req *rnext;
    ingest_done_fn cb;
    void *arg;
    const conf_peer_t *peer;

    uint8_t *body;
    size_t body_len;
    size_t nidentity;
    char **identity;
    s_id_state *idstate;
    char **idurl; /* the x5u a waiting header waits for */
    int waiting;  /* cache callbacks due */
    char *ctype;
    char *idem;
    char *status_url;
    char *dedup;
    size_t dedup_len;
    proto_ident_t orig;
    size_t ndest;
    proto_ident_t *dest;
    char **to_text; /* as the client wrote them, for the API answer */
    int64_t date;
    uint64_t received_ms, expires_ms;
    uint64_t t0_us; /* monotonic, at submit: receive -> answer latency */
    int iface;      /* S_IF_*, for the metrics */

    /* The verdict so far: the best header. */
    proto_reason best;
    int best_rank;
    uint64_t iat;
    char *signed_input; /* header.payload of the best parsed PASSporT */
    char *own_identity; /* the Identity we signed (customers) */
    int gateway_signed;
    ingest_action_t act;

    size_t nenv, nstored;
    s_env *envs;
};

/*
 * Metrics (opts.metrics): every handle looked up once in ingest_core_new,
 * each event counted in one place: received at submit, the verdict where
 * it becomes final (s_verify), signed where the token is made, the answer
 * (accepted or rejected with its SIP code) in s_finish, which every
 * request passes exactly once.
 */
enum { S_IF_SIP_UDP, S_IF_SIP_TCP, S_IF_HTTP, S_IF_OTHER, S_IF_N };
static const char *const s_if_names[S_IF_N] = {"sip_udp", "sip_tcp", "http",
                                               "other"};
static const char *const s_class_names[2] = {"customer", "interconnect"};

typedef struct {
    sg_counter_t *received[S_IF_N][2];
    sg_counter_t *accepted[2];
    sg_counter_t *verdict[REASON__COUNT];
    sg_counter_t *signed_n;
    sg_metrics_family_t *rejected;
    sg_hist_t *accept_time, *verify_time, *sign_time;
} s_metrics_t;

struct ingest_core {
    ingest_core_opts_t o;
    s_metrics_t *m; /* NULL without opts.metrics */
    uint64_t next_corr;
    s_env **buckets;
    size_t nbuckets, nlinked;
    s_env *thead, *ttail;
    s_req *ready;
    size_t inflight;
    ingest_core_stats_t stats;
    verify_ctx_t vctx;
};

static uint64_t
s_now(const ingest_core_t *self)
{
    return self->o.mono_ms ? self->o.mono_ms() : sg_clock_mono_ms();
}

/* ---- envelope tables ---------------------------------------------------- */

static size_t
s_bucket(const ingest_core_t *self, uint64_t corr)
{
    /* Correlation ids are a counter: the low bits spread them evenly. */
    return (size_t)(corr & (self->nbuckets - 1));
}

static void
s_grow(ingest_core_t *self)
{
    size_t n = self->nbuckets * 2;
    s_env **b = sg_calloc(n, sizeof(*b));

    for (size_t i = 0; i < self->nbuckets; i++) {
        s_env *e = self->buckets[i];
        while (e) {
            s_env *next = e->hnext;
            size_t k = (size_t)(e->corr & (n - 1));
            e->hnext = b[k];
            b[k] = e;
            e = next;
        }
    }
    sg_free(self->buckets);
    self->buckets = b;
    self->nbuckets = n;
}

static void
s_timer_append(ingest_core_t *self, s_env *e)
{
    e->tnext = NULL;
    e->tprev = self->ttail;
    if (self->ttail)
        self->ttail->tnext = e;
    else
        self->thead = e;
    self->ttail = e;
}

static void
s_timer_remove(ingest_core_t *self, s_env *e)
{
    if (e->tprev)
        e->tprev->tnext = e->tnext;
    else
        self->thead = e->tnext;
    if (e->tnext)
        e->tnext->tprev = e->tprev;
    else
        self->ttail = e->tprev;
    e->tprev = e->tnext = NULL;
}

static void
s_link(ingest_core_t *self, s_env *e)
{
    size_t k;

    if (self->nlinked + 1 > self->nbuckets)
        s_grow(self);
    k = s_bucket(self, e->corr);
    e->hnext = self->buckets[k];
    self->buckets[k] = e;
    s_timer_append(self, e);
    e->linked = 1;
    self->nlinked++;
}

static void
s_unlink(ingest_core_t *self, s_env *e)
{
    s_env **pp;

    if (!e->linked)
        return;
    for (pp = &self->buckets[s_bucket(self, e->corr)]; *pp; pp = &(*pp)->hnext)
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    s_timer_remove(self, e);
    e->linked = 0;
    self->nlinked--;
}

static s_env *
s_find(const ingest_core_t *self, uint64_t corr)
{
    for (s_env *e = self->buckets[s_bucket(self, corr)]; e; e = e->hnext)
        if (e->corr == corr)
            return e;
    return NULL;
}

/* ---- requests ----------------------------------------------------------- */

static void
s_req_free(s_req *r)
{
    for (size_t i = 0; i < r->nidentity; i++) {
        sg_free(r->identity[i]);
        sg_free(r->idurl[i]);
    }
    sg_free(r->identity);
    sg_free(r->idurl);
    sg_free(r->idstate);
    for (size_t i = 0; i < r->ndest; i++)
        sg_free(r->to_text[i]);
    sg_free(r->to_text);
    sg_free(r->dest);
    for (size_t i = 0; i < r->nenv; i++)
        sg_free(r->envs[i].buf);
    sg_free(r->envs);
    sg_free(r->body);
    sg_free(r->ctype);
    sg_free(r->idem);
    sg_free(r->status_url);
    sg_free(r->dedup);
    sg_free(r->signed_input);
    sg_free(r->own_identity);
    sg_free(r);
}

static void
s_req_unref(s_req *r)
{
    if (--r->refs == 0)
        s_req_free(r);
}

static const char *
s_verstat_name(uint8_t v)
{
    return v == PROTO_MSG_VERSTAT_PASSED   ? "TN-Validation-Passed"
           : v == PROTO_MSG_VERSTAT_FAILED ? "TN-Validation-Failed"
                                           : PROTO_VERSTAT_NONE;
}

/*
 * Give the answer once: unlink every envelope still waiting, call back,
 * drop the answer's reference.
 */
static void
s_finish(s_req *r, ingest_outcome_t *out)
{
    ingest_core_t *self = r->core;
    proto_api_accepted_t *msgs = NULL;
    char rh[160];

    if (r->done)
        return;
    r->done = 1;
    for (size_t i = 0; i < r->nenv; i++)
        s_unlink(self, &r->envs[i]);
    if (out->sip_code == 202 && out->api_reason == NULL && r->nenv > 0) {
        msgs = sg_calloc(r->nenv, sizeof(*msgs));
        for (size_t i = 0; i < r->nenv; i++) {
            s_env *e = &r->envs[i];
            msgs[i].id = e->duplicate ? e->dup_hex : e->hex;
            msgs[i].to = r->to_text[i];
            msgs[i].duplicate = e->duplicate;
        }
        out->msgs = msgs;
        out->n = r->nenv;
    }
    if (out->reason_hdr == NULL) {
        out->reason_hdr =
            r->act.reason_header
                ? ingest_policy_reason_header(r->act.reason, rh, sizeof(rh))
                : "";
    }
    if (out->verstat == NULL)
        out->verstat = s_verstat_name(r->act.verstat);
    if (out->log_id == NULL)
        out->log_id = r->nenv > 0 ? r->envs[0].hex : "-";
    if (self->m != NULL) {
        int k = r->peer != NULL && r->peer->kind == CONF_PEER_INTERCONNECT;

        if (out->sip_code == 202) {
            sg_counter_add(self->m->accepted[k], 1);
            sg_hist_observe(self->m->accept_time,
                            (double)(sg_clock_mono_us() - r->t0_us) / 1e6);
        } else {
            char code[16];

            snprintf(code, sizeof(code), "%d", out->sip_code);
            sg_counter_add(sg_metrics_counter(self->m->rejected, code, NULL),
                           1);
        }
    }
    self->inflight--;
    r->cb(r->arg, out);
    sg_free(msgs);
    s_req_unref(r);
}

/* Answer with a refusal that did not come from verification policy. */
static void
s_fail(s_req *r, int sip, const char *sip_text, int http,
       const char *api_reason, const char *message, uint32_t retry_after)
{
    ingest_outcome_t out;

    memset(&out, 0, sizeof(out));
    out.sip_code = sip;
    out.sip_text = sip_text;
    out.http_status = http;
    out.api_reason = api_reason;
    out.message = message;
    out.reason = r->act.reason;
    out.verstat = s_verstat_name(r->act.verstat);
    out.reason_hdr = "";
    out.retry_after = retry_after;
    r->core->stats.failed++;
    s_finish(r, &out);
}

static void
s_log_verdict(s_req *r, const char *what)
{
    sg_info(S_PLACE, "msg=%s %s peer=%s reason=%s verstat=%s recipients=%zu",
            r->nenv ? r->envs[0].hex : "-", what, r->peer->name,
            proto_reason_name(r->act.reason), s_verstat_name(r->act.verstat),
            r->ndest);
}

/* ---- envelopes to the store -------------------------------------------- */

static uint32_t
s_retry_after(const ingest_core_t *self)
{
    int64_t v = self->o.conf->sip_retry_after;
    return v > 0 ? (uint32_t)v : 1;
}

static void
s_clip(proto_bytes *b, const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;

    b->p = (const uint8_t *)s;
    b->len = n > max ? max : n;
}

/*
 * Encode and send one envelope per recipient.  The ids were drawn at
 * submit (the rejection log lines use them too).
 */
static void
s_store(s_req *r)
{
    ingest_core_t *self = r->core;
    const char *ids[2];
    size_t nids = 0;
    uint64_t now = s_now(self);

    if (r->gateway_signed)
        ids[nids++] = r->own_identity;
    for (size_t i = 0; i < r->nenv; i++) {
        s_env *e = &r->envs[i];
        proto_msg m;
        const char *why;

        memset(&m, 0, sizeof(m));
        memcpy(m.id, e->id, PROTO_MSG_ID_LEN);
        m.flags = r->act.flags;
        if (r->gateway_signed)
            m.flags |= PROTO_MSG_F_GATEWAY_SIGNED;
        m.reason = (uint8_t)r->act.reason;
        m.verstat = r->act.verstat;
        m.iat = r->iat;
        m.received_ms = r->received_ms;
        m.expires_ms = r->expires_ms;
        if (!r->gateway_signed && r->signed_input != NULL) {
            ingest_policy_replay_signed(r->signed_input,
                                        strlen(r->signed_input), &r->dest[i],
                                        m.replay_key);
            m.flags |= PROTO_MSG_F_REPLAY_KEY;
        } else if (r->dedup != NULL) {
            ingest_policy_replay_unsigned(r->peer->name, r->dedup, r->dedup_len,
                                          &r->dest[i], m.replay_key);
            m.flags |= PROTO_MSG_F_REPLAY_KEY;
        }
        s_clip(&m.from, r->orig.value, PROTO_MSG_URI_MAX);
        s_clip(&m.to, r->dest[i].value, PROTO_MSG_URI_MAX);
        s_clip(&m.content_type, r->ctype, PROTO_MSG_CTYPE_MAX);
        s_clip(&m.peer, r->peer->name, PROTO_MSG_PEER_MAX);
        s_clip(&m.idem, r->idem, PROTO_MSG_IDEM_MAX);
        if (r->status_url != NULL) {
            m.flags |= PROTO_MSG_F_STATUS_URL;
            s_clip(&m.status_url, r->status_url, PROTO_MSG_STATUS_URL_MAX);
        }
        if (r->gateway_signed) {
            m.n_identity = nids;
            for (size_t k = 0; k < nids; k++)
                s_clip(&m.identity[k], ids[k], PROTO_MSG_IDENTITY_MAX);
        } else {
            /* Forwarded unchanged (DESIGN.md 5): every header received. */
            m.n_identity = r->nidentity;
            for (size_t k = 0; k < r->nidentity; k++)
                s_clip(&m.identity[k], r->identity[k], PROTO_MSG_IDENTITY_MAX);
        }
        m.body.p = r->body;
        m.body.len = r->body_len;
        if ((why = proto_msg_check(&m)) != NULL) {
            /* Text fields must be printable ASCII: a From with UTF-8 in
             * its display name reaches here canonicalized, so this is a
             * value we cannot carry (e.g. a URI with raw 8-bit bytes). */
            sg_info(S_PLACE, "msg=%s refused: envelope: %s", e->hex, why);
            s_fail(r, 400, "Bad Request", 400, "bad_field", why, 0);
            return;
        }
        e->buf = proto_msg_encode_new(&m, &e->len);
        if (e->buf == NULL)
            sg_panic("proto_msg_encode_new failed on a checked envelope");
        e->corr = ++self->next_corr;
        e->next_at = now + self->o.resend_ms;
        e->deadline = now + self->o.store_timeout_ms;
        s_link(self, e);
    }
    for (size_t i = 0; i < r->nenv; i++) {
        s_env *e = &r->envs[i];
        if (self->o.send(self->o.send_arg, e->corr, e->buf, e->len) != 0) {
            sg_warn(S_PLACE, "msg=%s store link refused the STORE", e->hex);
            s_fail(r, 503, "Service Unavailable", 503, INGEST_R_STORE_BUSY,
                   "the store is not accepting messages", s_retry_after(self));
            return; /* r may be gone */
        }
    }
}

/* The verdict is final: apply the policy. */
static void
s_decide(s_req *r)
{
    ingest_outcome_t out;

    if (r->act.kind == INGEST_ACT_REJECT) {
        r->core->stats.rejected++;
        s_log_verdict(r, "rejected");
        memset(&out, 0, sizeof(out));
        out.sip_code = r->act.sip_code;
        out.sip_text = r->act.sip_text;
        out.http_status = r->act.http_status;
        out.api_reason = r->act.api_reason;
        out.message = proto_reason_get(r->act.reason)->meaning;
        if (r->act.reason == REASON_TN_NOT_AUTHORIZED &&
            r->act.api_reason != NULL &&
            strcmp(r->act.api_reason, INGEST_R_NOT_AUTHORIZED) == 0)
            out.message = "the originator is outside the numbers this "
                          "client may send from";
        out.reason = r->act.reason;
        out.reason_hdr = "";
        out.retry_after =
            r->act.http_status == 503 ? s_retry_after(r->core) : 0;
        s_finish(r, &out);
        return;
    }
    s_store(r);
}

/* ---- signing (customers) ------------------------------------------------ */

static void
s_sign(s_req *r)
{
    ingest_core_t *self = r->core;
    int authorized = 0;
    uint64_t t0_us;
    char *token;

    if (r->orig.kind == PROTO_IDENT_TN) {
        if (self->o.own_chain != NULL &&
            verify_chain_check_tn(self->o.own_chain, self->o.trust,
                                  PROTO_IDENT_TN, r->orig.value) == REASON_OK)
            authorized = 1;
        else if (ingest_policy_numbers_cover(r->peer, r->orig.value))
            authorized = 1;
    }
    if (!authorized || self->o.sign_key == NULL) {
        ingest_policy_unauthorized(r->peer, &r->act);
        s_decide(r);
        return;
    }
    /* iat = receive time (RFC 8224 4.1: the signing time; the message was
     * received moments ago and is signed now). */
    r->iat = r->received_ms / 1000;
    t0_us = sg_clock_mono_us();
    token = verify_sign_passport(
        self->o.sign_key, self->o.sign_x5u, "msg", &r->orig, r->dest, r->ndest,
        (int64_t)r->iat, r->body ? r->body : (const uint8_t *)"", r->body_len);
    if (self->m != NULL)
        sg_hist_observe(self->m->sign_time,
                        (double)(sg_clock_mono_us() - t0_us) / 1e6);
    if (token == NULL) {
        s_fail(r, 500, "Server Internal Error", 500, INGEST_R_INTERNAL,
               "signing failed", 0);
        return;
    }
    r->own_identity = proto_identity_format(token, self->o.sign_x5u, "msg");
    sg_free(token);
    r->gateway_signed = 1;
    ingest_policy_signed(&r->act);
    self->stats.accepted++;
    if (self->m != NULL)
        sg_counter_add(self->m->signed_n, 1);
    s_log_verdict(r, "signed");
    s_store(r);
}

/* ---- verification (interconnects) -------------------------------------- */

typedef struct {
    s_req *r;
    size_t idx;
    int pending;
} s_chain_arg;

static void
s_x5u_done(void *arg, const char *url)
{
    s_req *r = arg;
    ingest_core_t *self = r->core;

    r->waiting--;
    for (size_t i = 0; i < r->nidentity; i++)
        if (r->idstate[i] == S_ID_WAITING && r->idurl[i] != NULL &&
            strcmp(r->idurl[i], url) == 0)
            r->idstate[i] = S_ID_TODO;
    /*
     * Not re-verified here: the lookup (the x5u cache) may be walking its
     * own lists.  The
     * request goes on the ready list that ingest_core_run() drains.
     */
    if (!r->done && !r->queued) {
        r->queued = 1;
        r->refs++;
        r->rnext = self->ready;
        self->ready = r;
    }
    s_req_unref(r);
}

/*
 * verify_chain_fn over the asynchronous cache: an answer at hand is
 * returned; a lookup that needs the network leaves the header waiting
 * (the x5u_fetch_failed returned is only a placeholder, never a verdict).
 */
static proto_reason
s_get_chain(void *arg, const char *x5u, verify_chain_t **chain)
{
    s_chain_arg *a = arg;
    s_req *r = a->r;
    proto_reason reason = REASON_X5U_FETCH_FAILED;

    *chain = NULL;
    if (r->core->o.lookup(r->core->o.lookup_arg, x5u, s_x5u_done, r, &reason,
                          chain))
        return reason;
    a->pending = 1;
    r->waiting++;
    r->refs++;
    sg_free(r->idurl[a->idx]);
    r->idurl[a->idx] = sg_strdup(x5u);
    return REASON_X5U_FETCH_FAILED;
}

static void
s_verify_one(s_req *r, size_t i)
{
    ingest_core_t *self = r->core;
    verify_ctx_t ctx = self->vctx;
    verify_input_t in;
    verify_result_t res;
    s_chain_arg a = {r, i, 0};
    uint64_t t0_us;
    int rank;

    memset(&in, 0, sizeof(in));
    memset(&res, 0, sizeof(res));
    ctx.get_chain = s_get_chain;
    ctx.get_chain_arg = &a;
    in.identity = r->identity[i];
    in.identity_len = strlen(r->identity[i]);
    in.orig = &r->orig;
    in.dest = r->dest;
    in.n_dest = r->ndest;
    in.body = r->body ? r->body : (const uint8_t *)"";
    in.body_len = r->body_len;
    in.have_body = 1;
    /* Freshness against the receive time, also after waiting for a
     * fetch: the wait is ours, not the sender's. */
    in.now = (int64_t)(r->received_ms / 1000);
    in.date = r->date;
    t0_us = sg_clock_mono_us();
    (void)verify_passport(&ctx, &in, &res);
    if (a.pending) {
        r->idstate[i] = S_ID_WAITING;
        verify_result_clear(&res);
        return;
    }
    r->idstate[i] = S_ID_DONE;
    /* Only a verification that ran to its verdict: one that stopped to
     * wait for a fetch is timed again when it resumes. */
    if (self->m != NULL)
        sg_hist_observe(self->m->verify_time,
                        (double)(sg_clock_mono_us() - t0_us) / 1e6);
    rank = ingest_policy_rank(res.reason);
    if (rank > r->best_rank) {
        r->best = res.reason;
        r->best_rank = rank;
        sg_free(r->signed_input);
        r->signed_input = NULL;
        r->iat = 0;
        if (res.pp != NULL) {
            r->signed_input = sg_strndup(res.pp->token, res.pp->signed_len);
            r->iat = res.pp->iat > 0 ? (uint64_t)res.pp->iat : 0;
        }
    }
    if (res.reason != REASON_OK)
        sg_debug(S_PLACE, "msg=%s identity %zu: %s: %s", r->envs[0].hex, i,
                 proto_reason_name(res.reason), res.detail);
    verify_result_clear(&res);
}

/* Verify what can be verified now; decide when nothing is waiting or one
 * header passed. */
static void
s_verify(s_req *r)
{
    for (size_t i = 0; i < r->nidentity; i++) {
        if (r->idstate[i] == S_ID_TODO)
            s_verify_one(r, i);
        if (r->best == REASON_OK)
            break;
    }
    if (r->best != REASON_OK) {
        for (size_t i = 0; i < r->nidentity; i++)
            if (r->idstate[i] != S_ID_DONE) {
                r->core->stats.waiting_x5u++;
                return;
            }
    }
    ingest_policy_verdict(r->peer, r->best, &r->act);
    if (r->core->m != NULL && r->best < REASON__COUNT)
        sg_counter_add(r->core->m->verdict[r->best], 1);
    if (r->act.kind == INGEST_ACT_STORE_DEFERRED)
        r->core->stats.deferred++;
    else if (r->act.kind == INGEST_ACT_STORE_FAILED)
        r->core->stats.stored_failed++;
    if (r->act.kind != INGEST_ACT_REJECT) {
        r->core->stats.accepted++;
        s_log_verdict(r, r->act.kind == INGEST_ACT_STORE_DEFERRED
                             ? "verification deferred"
                             : "verified");
    }
    s_decide(r);
}

/* ---- metrics ------------------------------------------------------------ */

static const double s_lat_bounds[] = {SG_METRICS_LATENCY_BUCKETS};

static sg_metrics_family_t *
s_declare(sg_metrics_t *reg, const char *name, sg_metric_type type,
          const char *help, const char *const *labels)
{
    int hist = type == SG_METRIC_HISTOGRAM;

    return sg_metrics_declare(
        reg,
        &(sg_metrics_desc_t){.name = name,
                             .help = help,
                             .type = type,
                             .labels = labels,
                             .buckets = hist ? s_lat_bounds : NULL,
                             .n_buckets = hist ? SG_NELEM(s_lat_bounds) : 0});
}

/* Every family, and every child whose labels are known in advance (so a
 * count that is still 0 is shown as 0 rather than missing). */
static s_metrics_t *
s_metrics_new(sg_metrics_t *reg)
{
    static const char *const l_recv[] = {"interface", "peer_class", NULL};
    static const char *const l_class[] = {"peer_class", NULL};
    static const char *const l_reason[] = {"reason", NULL};
    static const char *const l_code[] = {"code", NULL};
    s_metrics_t *m = sg_calloc(1, sizeof(*m));
    sg_metrics_family_t *f;

    f = s_declare(reg, "stirgate_ingest_received_total", SG_METRIC_COUNTER,
                  "Messages (SIP MESSAGE requests, API POSTs) from known "
                  "peers handed to the pipeline, by interface and peer class.",
                  l_recv);
    for (int i = 0; i < S_IF_N; i++)
        for (int k = 0; k < 2; k++)
            m->received[i][k] =
                sg_metrics_counter(f, s_if_names[i], s_class_names[k], NULL);
    f = s_declare(reg, "stirgate_ingest_accepted_total", SG_METRIC_COUNTER,
                  "Messages answered 202 (committed by the store), by peer "
                  "class.",
                  l_class);
    for (int k = 0; k < 2; k++)
        m->accepted[k] = sg_metrics_counter(f, s_class_names[k], NULL);
    m->rejected =
        s_declare(reg, "stirgate_ingest_rejected_total", SG_METRIC_COUNTER,
                  "Messages refused, by the SIP response code sent "
                  "(the API answers the matching HTTP status).",
                  l_code);
    m->signed_n = sg_metrics_counter(
        s_declare(reg, "stirgate_ingest_signed_total", SG_METRIC_COUNTER,
                  "Messages signed for customers.", NULL),
        NULL);
    f = s_declare(reg, "stirgate_ingest_verifications_total", SG_METRIC_COUNTER,
                  "Final verification outcomes of messages from "
                  "interconnects, by reason (DESIGN.md section 5).",
                  l_reason);
    for (int r = 0; r < REASON__COUNT; r++)
        m->verdict[r] =
            sg_metrics_counter(f, proto_reason_name((proto_reason)r), NULL);
    m->accept_time = sg_metrics_hist(
        s_declare(reg, "stirgate_ingest_accept_duration_seconds",
                  SG_METRIC_HISTOGRAM,
                  "Time from receipt to the 202 answer (verification, "
                  "signing and the store's commit included).",
                  NULL),
        NULL);
    m->verify_time = sg_metrics_hist(
        s_declare(reg, "stirgate_ingest_verify_duration_seconds",
                  SG_METRIC_HISTOGRAM,
                  "Time of one PASSporT verification with its chain at hand "
                  "(x5u fetches not included).",
                  NULL),
        NULL);
    m->sign_time = sg_metrics_hist(
        s_declare(reg, "stirgate_ingest_sign_duration_seconds",
                  SG_METRIC_HISTOGRAM, "Time to sign one PASSporT.", NULL),
        NULL);
    return m;
}

/* ---- submit ------------------------------------------------------------- */

static char *
s_dup(ingest_str_t s)
{
    return s.p ? sg_strndup(s.p, s.n) : NULL;
}

void
ingest_core_submit(ingest_core_t *self, const ingest_submit_t *in,
                   ingest_done_fn done, void *arg)
{
    const conf_t *c = self->o.conf;
    const char *cc = c->default_cc && c->default_cc[0] ? c->default_cc : NULL;
    s_req *r = sg_calloc(1, sizeof(*r));
    const char *why;
    size_t ndest = in->ruri.p != NULL ? 1 : in->nto;

    r->core = self;
    r->refs = 1;
    r->cb = done;
    r->arg = arg;
    r->peer = in->peer;
    r->received_ms = in->received_ms;
    r->date = in->date;
    r->t0_us = sg_clock_mono_us();
    r->iface = S_IF_OTHER;
    for (int k = 0; in->iface != NULL && k < S_IF_OTHER; k++)
        if (strcmp(in->iface, s_if_names[k]) == 0)
            r->iface = k;
    self->inflight++;
    self->stats.submitted++;
    if (self->m != NULL)
        sg_counter_add(
            self->m->received[r->iface]
                             [in->peer != NULL &&
                              in->peer->kind == CONF_PEER_INTERCONNECT],
            1);

    r->nenv = ndest;
    r->envs = sg_calloc(ndest ? ndest : 1, sizeof(*r->envs));
    for (size_t i = 0; i < ndest; i++) {
        uint8_t rnd[10];
        sg_rand_bytes(rnd, sizeof(rnd));
        proto_msg_id_make(r->envs[i].id, in->received_ms, rnd);
        proto_msg_id_hex(r->envs[i].id, r->envs[i].hex);
        r->envs[i].req = r;
    }
    if (ndest == 0) {
        r->nenv = 0;
        s_fail(r, 400, "Bad Request", 400, "missing_field", "no recipient", 0);
        return;
    }
    if (in->body_len > 0)
        r->body = sg_memdup(in->body, in->body_len);
    r->body_len = in->body_len;
    r->ctype = s_dup(in->content_type);
    r->idem = s_dup(in->idem);
    if (in->status_url.p != NULL && in->status_url.n > 0)
        r->status_url = s_dup(in->status_url);
    if (in->dedup.p != NULL && in->dedup.n > 0) {
        r->dedup = sg_memdup(in->dedup.p, in->dedup.n);
        r->dedup_len = in->dedup.n;
    }
    r->nidentity = in->nidentity;
    r->identity = sg_calloc(in->nidentity + 1, sizeof(char *));
    r->idurl = sg_calloc(in->nidentity + 1, sizeof(char *));
    r->idstate = sg_calloc(in->nidentity + 1, sizeof(s_id_state));
    for (size_t i = 0; i < in->nidentity; i++)
        r->identity[i] = s_dup(in->identity[i]);

    r->expires_ms = proto_msg_expires_at(in->received_ms, in->date,
                                         in->has_expires, in->expires);
    if (r->expires_ms != 0 && r->expires_ms <= in->received_ms) {
        /*
         * Date + Expires already passed: refused rather than stored, so
         * the sender learns it now (a SIP sender has no status channel
         * to learn it later) and no delivery worker spends an attempt on
         * a message it must expire.
         */
        sg_info(S_PLACE, "msg=%s refused: expired before it arrived",
                r->envs[0].hex);
        s_fail(r, 400, "Message Expired", 400, INGEST_R_EXPIRED,
               "Date plus Expires is already past: the message expired "
               "before it arrived",
               0);
        return;
    }

    r->ndest = ndest;
    r->dest = sg_calloc(ndest, sizeof(*r->dest));
    r->to_text = sg_calloc(ndest, sizeof(char *));
    if ((why = ingest_policy_originator(r->peer, in->pai, in->npai, in->from,
                                        cc, &r->orig)) != NULL) {
        sg_info(S_PLACE, "msg=%s refused: originator: %s", r->envs[0].hex, why);
        s_fail(r, 400, "Bad Originator", 400, "bad_field",
               "the originator is not a telephone number or SIP URI", 0);
        return;
    }
    for (size_t i = 0; i < ndest; i++) {
        if (in->ruri.p != NULL) {
            why =
                ingest_policy_destination(in->ruri, in->to[0], cc, &r->dest[i]);
            r->to_text[i] = s_dup(in->ruri);
        } else {
            why = proto_ident_parse(in->to[i].p, in->to[i].n, cc, &r->dest[i]);
            r->to_text[i] = s_dup(in->to[i]);
        }
        if (why != NULL) {
            sg_info(S_PLACE, "msg=%s refused: destination: %s", r->envs[0].hex,
                    why);
            s_fail(r, 400, "Bad Destination", 400, "bad_field",
                   "a recipient is not a telephone number or SIP URI", 0);
            return;
        }
    }

    if (ingest_policy_role(r->peer) == INGEST_ROLE_SIGN) {
        s_sign(r);
        return;
    }
    if (self->o.lookup == NULL) {
        s_fail(r, 500, "Server Internal Error", 500, INGEST_R_INTERNAL,
               "verification is not configured", 0);
        return;
    }
    r->best = REASON_NO_IDENTITY;
    r->best_rank = ingest_policy_rank(REASON_NO_IDENTITY);
    s_verify(r);
}

/*
 * One more envelope of `r` is settled (STORED, or a duplicate of a stored
 * one); answer when all are.  An idempotent retry whose every recipient
 * was already stored is HTTP 200 (nothing new was created), else 202.
 */
static void
s_resolved(s_req *r)
{
    ingest_outcome_t out;
    size_t ndup = 0;

    if (++r->nstored < r->nenv)
        return;
    for (size_t i = 0; i < r->nenv; i++)
        ndup += r->envs[i].duplicate ? 1 : 0;
    memset(&out, 0, sizeof(out));
    out.sip_code = 202;
    out.sip_text = "Accepted";
    out.http_status = ndup == r->nenv ? 200 : 202;
    out.reason = r->act.reason;
    s_finish(r, &out);
}

int
ingest_core_on_reply(ingest_core_t *self, const proto_wire_msg *m)
{
    s_env *e;
    s_req *r;

    if (m->cmd != PROTO_CMD_STORED && m->cmd != PROTO_CMD_REFUSED)
        return 0;
    if ((e = s_find(self, m->corr)) == NULL)
        return 1; /* a late answer to a resend, or to a failed request */
    r = e->req;
    if (m->cmd == PROTO_CMD_STORED) {
        if (m->body_len != PROTO_MSG_ID_LEN ||
            memcmp(m->body, e->id, PROTO_MSG_ID_LEN) != 0) {
            sg_warn(S_PLACE, "msg=%s STORED carries another id; ignored",
                    e->hex);
            return 1;
        }
        s_unlink(self, e);
        e->stored = 1;
        sg_info(S_PLACE, "msg=%s stored", e->hex);
        s_resolved(r);
        return 1;
    }
    {
        proto_refused ref;
        const char *why = proto_wire_refused_decode(m->body, m->body_len, &ref);
        if (why != NULL) {
            sg_warn(S_PLACE, "msg=%s bad REFUSED: %s", e->hex, why);
            return 1;
        }
        s_unlink(self, e);
        if (ref.code == PROTO_REFUSED_AGAIN) {
            uint32_t ra = (ref.retry_after_ms + 999) / 1000;
            sg_warn(S_PLACE, "msg=%s store full: answering 503", e->hex);
            s_fail(r, 503, "Service Unavailable", 503, INGEST_R_STORE_BUSY,
                   "the store is full; retry later",
                   ra > s_retry_after(self) ? ra : s_retry_after(self));
        } else if (ref.code == PROTO_REFUSED_REPLAY) {
            if (r->signed_input != NULL && !r->gateway_signed) {
                sg_info(S_PLACE, "msg=%s rejected: replayed PASSporT", e->hex);
                s_fail(r, 403, "Duplicate PASSporT", 409, INGEST_R_REPLAY,
                       "this PASSporT was already received for this "
                       "recipient",
                       0);
            } else if (ref.has_holder) {
                /*
                 * The same unsigned request again (a retransmission over
                 * TCP, a repeated API call with the same idempotency id):
                 * accepted before, and the store kept it from being
                 * stored twice.  The store named the first message, so
                 * the retry gets that id back: an idempotent answer.
                 */
                e->duplicate = 1;
                proto_msg_id_hex(ref.holder, e->dup_hex);
                sg_info(S_PLACE,
                        "msg=%s duplicate of msg=%s (same idempotency id "
                        "or Call-ID/CSeq); not stored",
                        e->hex, e->dup_hex);
                s_resolved(r);
            } else {
                /*
                 * The same, from a store that does not name the first
                 * message: SIP gets 202 again (the sender's view is
                 * right); the API says so explicitly, since the first
                 * call's ids are not known here.
                 */
                sg_info(S_PLACE,
                        "msg=%s duplicate of an accepted request; "
                        "not stored",
                        e->hex);
                s_fail(r, 202, "Accepted", 409, INGEST_R_DUPLICATE,
                       "a request with this idempotency id was already "
                       "accepted",
                       0);
            }
        } else {
            sg_error(S_PLACE, "msg=%s store refused the envelope: %.*s", e->hex,
                     (int)ref.text.len, (const char *)ref.text.p);
            s_fail(r, 500, "Server Internal Error", 500, INGEST_R_INTERNAL,
                   "the store refused the message", 0);
        }
    }
    return 1;
}

void
ingest_core_run(ingest_core_t *self)
{
    uint64_t now = s_now(self);
    s_req *ready = self->ready;

    self->ready = NULL;
    while (ready) {
        s_req *r = ready;
        ready = r->rnext;
        r->queued = 0;
        if (!r->done)
            s_verify(r);
        s_req_unref(r);
    }
    while (self->thead && self->thead->next_at <= now) {
        s_env *e = self->thead;
        s_req *r = e->req;

        if (now >= e->deadline) {
            sg_warn(S_PLACE,
                    "msg=%s no answer from the store in %" PRIu64
                    " ms: answering 503",
                    e->hex, self->o.store_timeout_ms);
            s_fail(r, 503, "Service Unavailable", 503, INGEST_R_STORE_BUSY,
                   "the store did not answer in time", s_retry_after(self));
            continue;
        }
        /* STORE is idempotent by message id (PROTOCOL.md): resending is
         * safe, and ZeroMQ may have dropped the first one. */
        s_timer_remove(self, e);
        e->next_at = now + self->o.resend_ms;
        if (e->next_at > e->deadline)
            e->next_at = e->deadline;
        s_timer_append(self, e);
        (void)self->o.send(self->o.send_arg, e->corr, e->buf, e->len);
    }
}

long
ingest_core_timeout_ms(const ingest_core_t *self)
{
    uint64_t now;

    if (self->ready)
        return 0;
    if (self->thead == NULL)
        return -1;
    now = s_now(self);
    return self->thead->next_at <= now ? 0 : (long)(self->thead->next_at - now);
}

size_t
ingest_core_inflight(const ingest_core_t *self)
{
    return self->inflight;
}

const ingest_core_stats_t *
ingest_core_stats(const ingest_core_t *self)
{
    return &self->stats;
}

ingest_core_t *
ingest_core_new(const ingest_core_opts_t *opts)
{
    ingest_core_t *self;

    if (opts->conf == NULL || opts->send == NULL) {
        sg_error(S_PLACE, "ingest core: no config or no store link");
        return NULL;
    }
    self = sg_calloc(1, sizeof(*self));
    self->o = *opts;
    if (self->o.store_timeout_ms == 0)
        self->o.store_timeout_ms = 5000;
    if (self->o.resend_ms == 0)
        self->o.resend_ms = 1000;
    self->nbuckets = S_BUCKETS0;
    self->buckets = sg_calloc(self->nbuckets, sizeof(*self->buckets));
    self->vctx.trust = opts->trust;
    self->vctx.fresh.max_age = opts->conf->verify_max_age;
    self->vctx.fresh.max_future = opts->conf->verify_max_future;
    /* RFC 9475: a message is protected by a msg PASSporT (its msgi covers
     * the body).  A shaken or base PASSporT says nothing about the body,
     * so it is ignored like any unsupported ppt (RFC 8224 6.2 step 1). */
    self->vctx.ppts = VERIFY_PPT_MSG;
    if (opts->metrics != NULL)
        self->m = s_metrics_new(opts->metrics);
    return self;
}

void
ingest_core_destroy(ingest_core_t **self_p)
{
    ingest_core_t *self;

    if (self_p == NULL || (self = *self_p) == NULL)
        return;
    /* Requests still referenced by lookup callbacks stay allocated: the
     * x5u cache, destroyed after the core, drops its callbacks.  The
     * process is exiting. */
    while (self->thead) {
        s_req *r = self->thead->req;
        for (size_t k = 0; k < r->nenv; k++)
            s_unlink(self, &r->envs[k]);
        if (!r->done) {
            r->done = 1;
            s_req_unref(r);
        }
    }
    sg_free(self->buckets);
    sg_free(self->m);
    sg_free(self);
    *self_p = NULL;
}
