/*
 * store/store_main.c - stirgate-store: the process that owns the message
 * database (DESIGN.md section 1).  The logic lives in store_db.c and
 * store_sched.c; this file owns the socket, the signals and the loop.
 *
 * The loop, once per wake-up:
 *
 *   1. drain every request already queued on the ROUTER socket, up to
 *      --batch, without blocking (what arrived together commits together);
 *      with --commit-delay-us D, a batch of message traffic (STORE, DONE,
 *      RESIGNED, CHECK_REPLAY; not the queue tool's requests) smaller
 *      than --batch waits until its oldest request is D old (more arrive
 *      meanwhile): each commit
 *      costs two fdatasyncs whatever it carries, so under a moderate load
 *      fewer, larger commits cost less CPU for at most D more latency;
 *   2. one write transaction: the STOREs, replay checks, DONEs and control
 *      requests of the batch, then timer work (expired leases, lifetimes,
 *      purges) and JOBs for workers with credit;
 *   3. mdb_txn_commit; only when it returned 0 do the replies go out
 *      (STORED, NEW, JOB, ...).  A reply lost after that is harmless:
 *      the client retries and STORE is idempotent by message id.
 *
 * A full map (MDB_MAP_FULL) aborts the transaction, doubles the map up to
 * --map-max and runs the batch again; at the maximum the STOREs are
 * answered REFUSED(again) and the rest of the batch runs without them.
 * Work that frees space (DONE, DELETE, purges) may use a reserve above the
 * maximum that STOREs never get, so a full store can always drain.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "lib/sg.h"
#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "lib/sg_metrics.h"
#include "lib/sg_rand.h"
#include "proto/proto_msg.h"
#include "proto/proto_wire.h"
#include "store/store_check.h"
#include "store/store_db.h"
#include "store/store_json.h"
#include "store/store_sched.h"

#define S_PLACE "store"
#define S_HEARTBEAT_MS 1000 /* store -> worker, and the liveness unit */
#define S_WORKER_DEAD_MS 3000
#define S_TICK_MAX 1024     /* timer entries per transaction */
#define S_RETRY_AFTER_MS 1000 /* REFUSED(again) hint */
#define S_ROUTING_MAX 255

/*
 * Options: one struct with defaults and bounds, so the master can later
 * fill it from the JSON config with the same checks.
 */
typedef struct {
    const char *dir;
    const char *run_dir;
    const char *endpoint; /* overrides ipc://RUN_DIR/store.sock */
    uint64_t map_size, map_max;
    uint64_t backoff_min_ms, backoff_max_ms, lifetime_ms, dead_keep_ms;
    uint64_t done_keep_ms, lease_ms, replay_window_ms;
    uint64_t batch;
    uint64_t commit_delay_us;
    const char *log_level;
    const char *log_debug[32]; /* --log-debug PLACE, repeated */
    size_t nlog_debug;
} store_opts;

typedef enum { S_SIZE, S_MS, S_COUNT } s_unit;

static const struct {
    const char *name;
    size_t off;
    s_unit unit;
    uint64_t def, min, max;
} s_num_opts[] = {
#define S_OFF(f) offsetof(store_opts, f)
    {"map-size", S_OFF(map_size), S_SIZE, 64ull << 20, 1ull << 20, 1ull << 40},
    {"map-max", S_OFF(map_max), S_SIZE, 4ull << 30, 1ull << 20, 1ull << 40},
    {"backoff-min", S_OFF(backoff_min_ms), S_MS, 30000, 10, 86400000},
    {"backoff-max", S_OFF(backoff_max_ms), S_MS, 3600000, 10, 7 * 86400000ull},
    {"lifetime", S_OFF(lifetime_ms), S_MS, 3 * 86400000ull, 1000,
     30 * 86400000ull},
    {"dead-keep", S_OFF(dead_keep_ms), S_MS, 7 * 86400000ull, 0,
     365 * 86400000ull},
    {"done-keep", S_OFF(done_keep_ms), S_MS, 3600000, 0, 30 * 86400000ull},
    {"lease", S_OFF(lease_ms), S_MS, 60000, 100, 86400000},
    {"replay-window", S_OFF(replay_window_ms), S_MS, 300000, 1000,
     (uint64_t)PROTO_REPLAY_WINDOW_MAX * 1000},
    {"batch", S_OFF(batch), S_COUNT, 1024, 1, 65536},
    {"commit-delay-us", S_OFF(commit_delay_us), S_COUNT, 1000, 0, 10000000},
#undef S_OFF
};

static volatile sig_atomic_t s_stop;

/*
 * The scheduler's clock: the wall clock read once at start, advanced by
 * the monotonic clock.  Due times, leases and lifetimes are stored as wall
 * milliseconds (they must mean something after a restart), but an NTP or
 * operator step of CLOCK_REALTIME while we run must neither fire every
 * retry and lease at once (forward: jobs handed out twice) nor stall them
 * for the size of the step (backward).  A restart re-reads the wall clock.
 * XXX: after a step this clock differs from the wall clock by the step
 * until the next restart (created/updated times shown by queue show, and
 * envelope expiries set by ingest compare across the two); slewing toward
 * the wall clock would fix it.
 */
static uint64_t
s_now_ms(void)
{
    static uint64_t wall0, mono0;
    uint64_t mono = sg_clock_mono_ms();

    if (wall0 == 0) {
        wall0 = sg_clock_wall_ms();
        mono0 = mono;
    }
    return wall0 + (mono - mono0);
}

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void
s_usage(void)
{
    fputs("usage: stirgate-store --check --dir DIR\n"
          "       stirgate-store --dir DIR [--run-dir DIR | --endpoint E]\n"
          "  [--map-size BYTES] [--map-max BYTES] [--backoff-min DUR]\n"
          "  [--backoff-max DUR] [--lifetime DUR] [--dead-keep DUR]\n"
          "  [--done-keep DUR] [--lease DUR] [--replay-window DUR]\n"
          "  [--batch N] [--commit-delay-us N]\n"
          "  [--log-level debug|info|warn|error]\n"
          "  [--log-debug PLACE]...\n"
          "DUR: N[ms|s|m|h|d] (default s); BYTES: N[K|M|G]\n",
          stderr);
}

/* "30s", "500ms", "2h", "7d"; a bare number is seconds. */
static int
s_parse_num(const char *s, s_unit unit, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return 0;
    if (unit == S_MS) {
        mul = 1000;
        if (strcmp(end, "ms") == 0)
            mul = 1;
        else if (strcmp(end, "s") == 0 || *end == '\0')
            mul = 1000;
        else if (strcmp(end, "m") == 0)
            mul = 60000;
        else if (strcmp(end, "h") == 0)
            mul = 3600000;
        else if (strcmp(end, "d") == 0)
            mul = 86400000;
        else
            return 0;
    } else if (unit == S_SIZE) {
        if (*end == '\0')
            mul = 1;
        else if (strcmp(end, "K") == 0)
            mul = 1ull << 10;
        else if (strcmp(end, "M") == 0)
            mul = 1ull << 20;
        else if (strcmp(end, "G") == 0)
            mul = 1ull << 30;
        else
            return 0;
    } else if (*end != '\0') {
        return 0;
    }
    if (__builtin_mul_overflow((uint64_t)v, mul, out))
        return 0;
    return 1;
}

static int
s_parse_opts(int argc, char **argv, store_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < SG_NELEM(s_num_opts); i++)
        *(uint64_t *)((char *)o + s_num_opts[i].off) = s_num_opts[i].def;
    o->log_level = "info";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t k;
        if (strncmp(a, "--", 2) != 0 || v == NULL) {
            fprintf(stderr, "stirgate-store: bad argument %s\n", a);
            return 0;
        }
        i++;
        if (strcmp(a, "--dir") == 0) {
            o->dir = v;
            continue;
        }
        if (strcmp(a, "--run-dir") == 0) {
            o->run_dir = v;
            continue;
        }
        if (strcmp(a, "--endpoint") == 0) {
            o->endpoint = v;
            continue;
        }
        if (strcmp(a, "--log-level") == 0) {
            o->log_level = v;
            continue;
        }
        if (strcmp(a, "--log-debug") == 0) {
            /* One debug place per option (node.log_debug). */
            if (o->nlog_debug < SG_NELEM(o->log_debug))
                o->log_debug[o->nlog_debug++] = v;
            continue;
        }
        for (k = 0; k < SG_NELEM(s_num_opts); k++)
            if (strcmp(a + 2, s_num_opts[k].name) == 0)
                break;
        if (k == SG_NELEM(s_num_opts)) {
            fprintf(stderr, "stirgate-store: unknown option %s\n", a);
            return 0;
        }
        uint64_t *dst = (uint64_t *)((char *)o + s_num_opts[k].off);
        if (!s_parse_num(v, s_num_opts[k].unit, dst) ||
            *dst < s_num_opts[k].min || *dst > s_num_opts[k].max) {
            fprintf(stderr,
                    "stirgate-store: --%s %s: not a value in [%" PRIu64
                    ", %" PRIu64 "]%s\n",
                    s_num_opts[k].name, v, s_num_opts[k].min,
                    s_num_opts[k].max,
                    s_num_opts[k].unit == S_MS ? " ms" : "");
            return 0;
        }
    }
    if (o->dir == NULL || (o->run_dir == NULL && o->endpoint == NULL)) {
        s_usage();
        return 0;
    }
    if (o->map_size > o->map_max) {
        fputs("stirgate-store: --map-size exceeds --map-max\n", stderr);
        return 0;
    }
    if (o->backoff_min_ms > o->backoff_max_ms) {
        fputs("stirgate-store: --backoff-min exceeds --backoff-max\n", stderr);
        return 0;
    }
    if (o->endpoint && strncmp(o->endpoint, "tcp://", 6) != 0 &&
        strncmp(o->endpoint, "ipc://", 6) != 0) {
        fputs("stirgate-store: --endpoint must be tcp:// or ipc://\n", stderr);
        return 0;
    }
    return 1;
}

/* --- workers: credit and liveness (zguide "credit-based flow control") */

typedef struct {
    uint8_t rid[S_ROUTING_MAX];
    size_t rid_len;
    uint32_t credit;
    uint64_t seen_mono;
    uint64_t hb_sent_mono;
} s_worker;

/* --- one request of a batch, and its reply --- */

typedef struct {
    uint8_t rid[S_ROUTING_MAX];
    size_t rid_len;
    proto_wire_msg m;
    zmq_msg_t body; /* owns m.body */
    proto_msg env;  /* STORE: decoded envelope, borrowing `body` */
    int done;       /* handled (or refused) in an earlier try */
    /* reply */
    proto_cmd rcmd; /* 0 = no reply */
    uint8_t rsmall[64];
    uint8_t *rbig; /* heap reply body, or NULL */
    size_t rlen;
} s_req;

typedef struct {
    size_t worker; /* index into workers */
    uint8_t *body; /* 16-byte prefix + envelope, new */
    size_t len;
} s_job;

typedef struct {
    store_opts o;
    store_sched_conf sc;
    store_db *db;
    void *zctx, *sock;
    uint64_t map_hard; /* map_max plus the reserve for draining work */
    s_worker *workers;
    size_t nworkers, wcap, rr;
    s_req *reqs;
    size_t nreqs;
    s_job *jobs;
    size_t njobs, jcap;
    uint64_t next_timer_ms, next_due_ms;
    uint64_t last_full_log_mono;
} s_store;

static s_worker *
s_worker_find(s_store *s, const uint8_t *rid, size_t len, int create,
              int *created)
{
    if (created)
        *created = 0;
    for (size_t i = 0; i < s->nworkers; i++)
        if (s->workers[i].rid_len == len &&
            memcmp(s->workers[i].rid, rid, len) == 0)
            return &s->workers[i];
    if (!create)
        return NULL;
    if (s->nworkers == s->wcap) {
        s->wcap = s->wcap ? s->wcap * 2 : 8;
        s->workers = sg_realloc(s->workers, s->wcap * sizeof(s_worker));
    }
    s_worker *w = &s->workers[s->nworkers++];
    memset(w, 0, sizeof(*w));
    memcpy(w->rid, rid, len);
    w->rid_len = len;
    w->seen_mono = sg_clock_mono_ms();
    if (created)
        *created = 1;
    sg_info(S_PLACE, "worker %zu connected", s->nworkers - 1);
    return w;
}

static uint64_t
s_credit(s_store *s)
{
    uint64_t c = 0;

    for (size_t i = 0; i < s->nworkers; i++)
        c += s->workers[i].credit;
    return c;
}

/*
 * Send one protocol message to `rid`.  Never blocks: ROUTER_MANDATORY
 * makes an unknown peer EHOSTUNREACH and a full pipe EAGAIN; both mean
 * the reply is dropped, which the protocol tolerates (the client retries,
 * or the lease brings the job back).
 */
static int
s_send(s_store *s, const uint8_t *rid, size_t rid_len, proto_cmd cmd,
       uint64_t corr, const uint8_t *body, size_t len)
{
    uint8_t vf[PROTO_WIRE_VFRAME_LEN], hdr[PROTO_WIRE_HDR_LEN];

    proto_wire_version_frame(vf);
    proto_wire_header(hdr, cmd, corr, (uint32_t)len);
    if (zmq_send(s->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        goto fail;
    /* Once the routing frame is accepted the rest of the parts follow. */
    if (zmq_send(s->sock, vf, sizeof(vf), ZMQ_SNDMORE) < 0 ||
        zmq_send(s->sock, hdr, sizeof(hdr), ZMQ_SNDMORE) < 0 ||
        zmq_send(s->sock, body, len, 0) < 0)
        goto fail;
    return 1;
fail:
    if (errno != EHOSTUNREACH && errno != EAGAIN && errno != ETERM &&
        errno != EINTR)
        sg_warn(S_PLACE, "zmq_send %s: %s", proto_wire_cmd_name(cmd),
                zmq_strerror(errno));
    return 0;
}

static void
s_reply(s_req *q, proto_cmd cmd, const void *body, size_t len)
{
    q->rcmd = cmd;
    q->rlen = len;
    sg_free(q->rbig);
    q->rbig = NULL;
    if (len <= sizeof(q->rsmall)) {
        if (len)
            memcpy(q->rsmall, body, len);
    } else {
        q->rbig = sg_memdup(body, len);
    }
}

static void
s_reply_refused(s_req *q, uint32_t code, const char *text,
                const uint8_t *holder)
{
    proto_refused r = {.code = code,
                       .retry_after_ms =
                           code == PROTO_REFUSED_AGAIN ? S_RETRY_AFTER_MS : 0,
                       .text = {(const uint8_t *)text, strlen(text)}};
    uint8_t b[24 + PROTO_WIRE_TEXT_MAX + 1 + PROTO_MSG_ID_LEN];
    size_t n;

    memcpy(r.id, q->env.id, PROTO_MSG_ID_LEN);
    /* REFUSED(replay) names the message holding the key, so ingest can
     * answer an idempotent retry with the first request's id. */
    if (holder != NULL) {
        r.has_holder = 1;
        memcpy(r.holder, holder, PROTO_MSG_ID_LEN);
    }
    n = proto_wire_refused_encode(&r, b, sizeof(b));
    if (n == 0)
        sg_panic("proto_wire_refused_encode failed");
    s_reply(q, PROTO_CMD_REFUSED, b, n);
}

static void
s_reply_ctl_err(s_req *q, uint32_t code, const char *text)
{
    proto_ctl_err e = {code, {(const uint8_t *)text, strlen(text)}};
    uint8_t b[4 + PROTO_WIRE_TEXT_MAX];
    size_t n = proto_wire_ctl_err_encode(&e, b, sizeof(b));

    if (n == 0)
        sg_panic("proto_wire_ctl_err_encode failed");
    s_reply(q, PROTO_CMD_CTL_ERR, b, n);
}

static void
s_reply_json(s_req *q, json_t *j)
{
    char *txt = json_dumps(j, JSON_COMPACT);
    size_t n;

    json_decref(j);
    if (txt == NULL)
        sg_panic("json_dumps: out of memory");
    n = strlen(txt);
    if (n > PROTO_WIRE_BODY_MAX)
        s_reply_ctl_err(q, PROTO_CTL_INVALID,
                        "reply too large; ask for fewer messages");
    else
        s_reply(q, PROTO_CMD_CTL_JSON, txt, n);
    free(txt);
}

/* Job callback: pick a worker with credit (round robin), copy the job. */
static void
s_on_job(void *arg, const uint8_t id[PROTO_MSG_ID_LEN], uint32_t attempt,
         uint64_t lease_until_ms, const uint8_t *env, size_t env_len)
{
    s_store *s = arg;
    s_job *j;
    size_t w;

    (void)id;
    for (size_t k = 0;; k++) {
        if (k == s->nworkers)
            sg_panic("job without credit");
        w = (s->rr + k) % s->nworkers;
        if (s->workers[w].credit > 0)
            break;
    }
    s->rr = w + 1;
    s->workers[w].credit--;
    if (s->njobs == s->jcap) {
        s->jcap = s->jcap ? s->jcap * 2 : 64;
        s->jobs = sg_realloc(s->jobs, s->jcap * sizeof(s_job));
    }
    j = &s->jobs[s->njobs++];
    j->worker = w;
    j->len = 16 + env_len;
    j->body = sg_malloc(j->len);
    proto_wire_job_prefix(attempt, lease_until_ms, j->body);
    memcpy(j->body + 16, env, env_len);
}

static void
s_on_list(void *arg, const uint8_t id[PROTO_MSG_ID_LEN], const store_record *r)
{
    if (json_array_append_new(arg, store_json_record(id, r, 0)) != 0)
        sg_panic("jansson: out of memory");
}

static void
s_on_show(void *arg, const uint8_t id[PROTO_MSG_ID_LEN], const store_record *r)
{
    *(json_t **)arg = store_json_record(id, r, 1);
}

/*
 * Apply one request inside the batch transaction.  SG_AGAIN (map full)
 * and SG_ERR abort the whole transaction; the caller decides.
 */
static sg_rc
s_apply(s_store *s, MDB_txn *txn, s_req *q, uint64_t now)
{
    const char *why = NULL;
    sg_rc rc = SG_OK;

    switch (q->m.cmd) {
    case PROTO_CMD_STORE: {
        store_put_result res;
        uint8_t holder[PROTO_MSG_ID_LEN];
        rc = store_db_put(s->db, txn, q->m.body, q->m.body_len, &q->env, now,
                          &s->sc, s->o.replay_window_ms, &res, holder);
        if (rc != SG_OK)
            break;
        if (res == STORE_PUT_REPLAY)
            s_reply_refused(q, PROTO_REFUSED_REPLAY, "replay key already seen",
                            holder);
        else
            s_reply(q, PROTO_CMD_STORED, q->env.id, PROTO_MSG_ID_LEN);
        break;
    }
    case PROTO_CMD_CHECK_REPLAY: {
        proto_check_replay c;
        int seen;
        if ((why = proto_wire_check_replay_decode(q->m.body, q->m.body_len,
                                                  &c)) != NULL)
            break;
        rc = store_db_replay_check(s->db, txn, c.key,
                                   (uint64_t)c.window_s * 1000, now, &seen);
        if (rc == SG_OK)
            s_reply(q, seen ? PROTO_CMD_SEEN : PROTO_CMD_NEW, c.key,
                    PROTO_MSG_REPLAY_LEN);
        break;
    }
    case PROTO_CMD_DONE: {
        proto_done d;
        store_done_result res;
        if ((why = proto_wire_done_decode(q->m.body, q->m.body_len, &d)) !=
            NULL)
            break;
        rc = store_db_done(s->db, txn, &d, now, &s->sc, sg_rand_u64(), &res);
        if (rc == SG_OK && res != STORE_DONE_APPLIED) {
            char hex[PROTO_MSG_ID_HEX];
            sg_debug(S_PLACE, "msg=%s DONE ignored: %s",
                     proto_msg_id_hex(d.id, hex),
                     res == STORE_DONE_STALE ? "stale" : "unknown");
        }
        break;
    }
    case PROTO_CMD_RESIGNED: {
        proto_resigned v;
        store_done_result res;
        if ((why = proto_wire_resigned_decode(q->m.body, q->m.body_len,
                                              &v)) != NULL)
            break;
        rc = store_db_resigned(s->db, txn, &v, &res);
        if (rc == SG_OK && res != STORE_DONE_APPLIED) {
            char hex[PROTO_MSG_ID_HEX];
            sg_debug(S_PLACE, "msg=%s RESIGNED ignored: %s",
                     proto_msg_id_hex(v.id, hex),
                     res == STORE_DONE_STALE ? "stale" : "unknown");
        }
        break;
    }
    case PROTO_CMD_LIST: {
        proto_list l;
        json_t *a;
        if ((why = proto_wire_list_decode(q->m.body, q->m.body_len, &l)) !=
            NULL)
            break;
        a = json_array();
        if (a == NULL)
            sg_panic("jansson: out of memory");
        rc = store_db_list(s->db, txn, l.state, l.limit, s_on_list, a);
        if (rc == SG_OK)
            s_reply_json(q, a);
        else
            json_decref(a);
        break;
    }
    case PROTO_CMD_SHOW: {
        json_t *o = NULL;
        int found;
        rc = store_db_show(s->db, txn, q->m.body, s_on_show, &o, &found);
        if (rc == SG_OK && found)
            s_reply_json(q, o);
        else if (rc == SG_OK)
            s_reply_ctl_err(q, PROTO_CTL_NO_SUCH, "no such message");
        else
            json_decref(o);
        break;
    }
    case PROTO_CMD_REQUEUE:
    case PROTO_CMD_HOLD:
    case PROTO_CMD_RELEASE:
    case PROTO_CMD_DELETE: {
        static const uint8_t zero[PROTO_MSG_ID_LEN];
        const uint8_t *id = q->m.body;
        store_ctl_op op = q->m.cmd == PROTO_CMD_REQUEUE ? STORE_CTL_REQUEUE
                          : q->m.cmd == PROTO_CMD_HOLD  ? STORE_CTL_HOLD
                          : q->m.cmd == PROTO_CMD_RELEASE
                              ? STORE_CTL_RELEASE
                              : STORE_CTL_DELETE;
        int all = 0;
        uint32_t code, count;
        const char *cwhy;
        uint8_t b[4];
        if (q->m.cmd == PROTO_CMD_REQUEUE) {
            proto_requeue r;
            if ((why = proto_wire_requeue_decode(q->m.body, q->m.body_len,
                                                 &r)) != NULL)
                break;
            all = (r.flags & PROTO_REQUEUE_ALL) != 0;
            id = all ? zero : q->m.body + 8;
        }
        rc = store_db_ctl(s->db, txn, op, id, all, now, &s->sc, &code, &cwhy,
                          &count);
        if (rc != SG_OK)
            break;
        if (code != 0) {
            s_reply_ctl_err(q, code, cwhy);
            break;
        }
        proto_wire_u32_encode(count, b);
        s_reply(q, PROTO_CMD_CTL_OK, b, 4);
        break;
    }
    case PROTO_CMD_STATS: {
        store_db_stats st;
        if ((rc = store_db_stats_get(s->db, txn, now, &st)) == SG_OK)
            s_reply_json(q, store_json_stats(&st));
        break;
    }
    default:
        break;
    }
    if (why != NULL) {
        sg_warn(S_PLACE, "%s body rejected: %s", proto_wire_cmd_name(q->m.cmd),
                why);
        if (q->m.cmd != PROTO_CMD_DONE && q->m.cmd != PROTO_CMD_CHECK_REPLAY &&
            q->m.cmd != PROTO_CMD_RESIGNED)
            s_reply_ctl_err(q, PROTO_CTL_INVALID, why);
    }
    return rc;
}

/* Requests that add data (the only ones refused when the map is full). */
static int
s_adds(const s_req *q)
{
    return q->m.cmd == PROTO_CMD_STORE || q->m.cmd == PROTO_CMD_CHECK_REPLAY;
}

/* May the batch wait for --commit-delay-us?  Only message traffic:
 * an operator's request (queue tool) goes at once. */
static int
s_holdable(const s_store *s)
{
    for (size_t i = 0; i < s->nreqs; i++) {
        proto_cmd c = s->reqs[i].m.cmd;
        if (c != PROTO_CMD_STORE && c != PROTO_CMD_DONE &&
            c != PROTO_CMD_RESIGNED && c != PROTO_CMD_CHECK_REPLAY)
            return 0;
    }
    return 1;
}

static void
s_jobs_clear(s_store *s, int give_back)
{
    for (size_t i = 0; i < s->njobs; i++) {
        if (give_back)
            s->workers[s->jobs[i].worker].credit++;
        sg_free(s->jobs[i].body);
    }
    s->njobs = 0;
}

/*
 * One transaction over the batch and the timers.  `refuse_adds`: the map
 * is at its maximum, answer STOREs REFUSED(again) without trying.
 * `no_work`: not even the rest fits; only the commit of nothing.
 */
static sg_rc
s_txn(s_store *s, int refuse_adds, int no_work)
{
    uint64_t now = s_now_ms(), credit;
    MDB_txn *txn = NULL;
    size_t n;
    sg_rc rc;

    for (size_t i = 0; i < s->nreqs; i++) {
        s->reqs[i].rcmd = 0;
        sg_free(s->reqs[i].rbig);
        s->reqs[i].rbig = NULL;
    }
    if ((rc = store_db_begin(s->db, &txn)) != SG_OK)
        return rc;
    for (size_t i = 0; i < s->nreqs; i++) {
        s_req *q = &s->reqs[i];
        if (s_adds(q) && refuse_adds) {
            if (q->m.cmd == PROTO_CMD_STORE)
                s_reply_refused(q, PROTO_REFUSED_AGAIN, "store full", NULL);
            continue;
        }
        if (no_work) {
            if (q->m.cmd != PROTO_CMD_STORE && q->m.cmd != PROTO_CMD_DONE &&
                q->m.cmd != PROTO_CMD_CHECK_REPLAY)
                s_reply_ctl_err(q, PROTO_CTL_AGAIN, "store full");
            continue;
        }
        if ((rc = s_apply(s, txn, q, now)) != SG_OK)
            goto fail;
    }
    if (!no_work) {
        if ((rc = store_db_tick(s->db, txn, now, &s->sc, S_TICK_MAX, &n)) !=
            SG_OK)
            goto fail;
        credit = s_credit(s);
        if (credit > 0 &&
            (rc = store_db_lease_due(s->db, txn, now, &s->sc, (size_t)credit,
                                     s_on_job, s, &n)) != SG_OK)
            goto fail;
    }
    if ((rc = store_db_next_event(s->db, txn, &s->next_timer_ms,
                                  &s->next_due_ms)) != SG_OK)
        goto fail;
    /* The durability point: nothing above is acknowledged before this. */
    return store_db_commit(s->db, &txn);
fail:
    store_db_abort(&txn);
    s_jobs_clear(s, 1);
    return rc;
}

/*
 * Metrics (lib/sg_metrics.h), written to RUN_DIR/metrics/store-0.prom once
 * a second.  The per-state counts come from store_db_stats_get (LMDB's
 * entry counts of the indexes, no scan) and the oldest waiting message
 * from one cursor read, both at most once a second.
 */
static const char *const s_lbl_state[] = {"state", NULL};
static const char *const s_state_names[] = {"queued", "leased", "held",
                                            "finished"};
static const double s_batch_bounds[] = {SG_METRICS_BATCH_BUCKETS};
static const double s_lat_bounds[] = {SG_METRICS_LATENCY_BUCKETS};

static struct {
    sg_metrics_t *reg;
    char dir[4200]; /* "" when there is no run directory */
    uint64_t last_mono;
    sg_counter_t *commits, *stored, *refused;
    sg_hist_t *batch, *txn_time;
    sg_gauge_t *state[4], *oldest, *map_used, *map_size, *quarantined,
        *replay_keys, *replay_index_bytes, *workers;
} s_m;

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
s_metrics_init(const store_opts *o)
{
    sg_metrics_family_t *f;

    s_m.reg = sg_metrics_new("store", "0");
    if (o->run_dir != NULL)
        snprintf(s_m.dir, sizeof(s_m.dir), "%s/metrics", o->run_dir);
    s_m.commits = sg_metrics_counter(
        s_m_declare("stirgate_store_commits_total", SG_METRIC_COUNTER,
                    "Write transactions committed.", NULL, NULL, 0),
        NULL);
    s_m.stored = sg_metrics_counter(
        s_m_declare("stirgate_store_stored_total", SG_METRIC_COUNTER,
                    "Messages committed and acknowledged (STORED).", NULL, NULL,
                    0),
        NULL);
    s_m.refused = sg_metrics_counter(
        s_m_declare("stirgate_store_refused_total", SG_METRIC_COUNTER,
                    "STOREs refused (replay, store full, invalid).", NULL, NULL,
                    0),
        NULL);
    s_m.batch = sg_metrics_hist(
        s_m_declare("stirgate_store_commit_requests", SG_METRIC_HISTOGRAM,
                    "Requests applied per committed transaction (group "
                    "commit batch size).",
                    NULL, s_batch_bounds, SG_NELEM(s_batch_bounds)),
        NULL);
    s_m.txn_time = sg_metrics_hist(
        s_m_declare("stirgate_store_commit_duration_seconds",
                    SG_METRIC_HISTOGRAM,
                    "Time to apply and commit one transaction (fsync "
                    "included).",
                    NULL, s_lat_bounds, SG_NELEM(s_lat_bounds)),
        NULL);
    f = s_m_declare("stirgate_store_messages", SG_METRIC_GAUGE,
                    "Messages in the store by state (finished: dead and "
                    "done, kept until purged).",
                    s_lbl_state, NULL, 0);
    for (size_t i = 0; i < 4; i++)
        s_m.state[i] = sg_metrics_gauge(f, s_state_names[i], NULL);
    s_m.oldest = sg_metrics_gauge(
        s_m_declare("stirgate_store_oldest_message_age_seconds",
                    SG_METRIC_GAUGE,
                    "Age of the oldest message waiting in the store (queued "
                    "or held), from its receive time; 0 when none waits.",
                    NULL, NULL, 0),
        NULL);
    s_m.map_used = sg_metrics_gauge(
        s_m_declare("stirgate_store_map_used_bytes", SG_METRIC_GAUGE,
                    "Bytes of the LMDB map in use.", NULL, NULL, 0),
        NULL);
    s_m.map_size = sg_metrics_gauge(
        s_m_declare("stirgate_store_map_size_bytes", SG_METRIC_GAUGE,
                    "Current size of the LMDB map.", NULL, NULL, 0),
        NULL);
    s_m.quarantined = sg_metrics_gauge(
        s_m_declare("stirgate_store_quarantined_records", SG_METRIC_GAUGE,
                    "Records quarantined because they failed validation "
                    "(since the database was created).",
                    NULL, NULL, 0),
        NULL);
    s_m.replay_keys = sg_metrics_gauge(
        s_m_declare("stirgate_store_replay_keys", SG_METRIC_GAUGE,
                    "Replay keys remembered.", NULL, NULL, 0),
        NULL);
    s_m.replay_index_bytes = sg_metrics_gauge(
        s_m_declare("stirgate_store_replay_index_bytes", SG_METRIC_GAUGE,
                    "Memory held by the index of replay keys (about 21 "
                    "to 43 bytes per key).",
                    NULL, NULL, 0),
        NULL);
    s_m.workers = sg_metrics_gauge(
        s_m_declare("stirgate_store_workers", SG_METRIC_GAUGE,
                    "Delivery workers connected.", NULL, NULL, 0),
        NULL);
}

/* The gauges, then the snapshot; once a second unless `force`. */
static void
s_metrics_tick(s_store *s, int force)
{
    uint64_t mono = sg_clock_mono_ms(), now = s_now_ms(), oldest;
    store_db_stats st;
    MDB_txn *txn = NULL;
    int found = 0;

    if (s_m.reg == NULL || (!force && mono - s_m.last_mono < 1000))
        return;
    s_m.last_mono = mono;
    if (store_db_begin(s->db, &txn) == SG_OK &&
        store_db_stats_get(s->db, txn, now, &st) == SG_OK &&
        store_db_oldest_waiting(s->db, txn, &oldest, &found) == SG_OK) {
        sg_gauge_set(s_m.state[0], (double)st.queued);
        sg_gauge_set(s_m.state[1], (double)st.leased);
        sg_gauge_set(s_m.state[2], (double)st.held);
        sg_gauge_set(s_m.state[3], (double)st.finished);
        sg_gauge_set(s_m.map_used, (double)st.map_used);
        sg_gauge_set(s_m.map_size, (double)st.map_size);
        sg_gauge_set(s_m.quarantined, (double)st.quarantined);
        sg_gauge_set(s_m.replay_keys, (double)st.replay_keys);
        sg_gauge_set(s_m.replay_index_bytes, (double)st.replay_index_bytes);
        /* Wall clock against the id's wall clock: a clock stepped back
         * would make it negative; shown as 0. */
        sg_gauge_set(s_m.oldest, found && now > oldest
                                     ? (double)(now - oldest) / 1000.0
                                     : 0.0);
    }
    store_db_abort(&txn); /* read only: nothing to commit */
    sg_gauge_set(s_m.workers, (double)s->nworkers);
    if (s_m.dir[0])
        (void)sg_metrics_write_snapshot(s_m.reg, s_m.dir, now);
}

static void
s_batch(s_store *s)
{
    int refuse_adds = 0, no_work = 0, has_adds = 0;
    uint64_t t0_us = sg_clock_mono_us();
    sg_rc rc;

    for (size_t i = 0; i < s->nreqs; i++)
        has_adds |= s_adds(&s->reqs[i]);
    for (;;) {
        rc = s_txn(s, refuse_adds, no_work);
        if (rc == SG_OK)
            break;
        if (rc == SG_ERR) {
            /* Not a full map: LMDB itself failed.  Nothing was committed
             * and nothing is acknowledged; a restart is the honest fix. */
            sg_fatal(S_PLACE, "write transaction failed; exiting");
        }
        /*
         * SG_REFUSED: the filesystem is full.  Growing the map would not
         * help; shed the STOREs (503 at ingest), then the other work, as
         * at --map-max, and wait for an operator to free space.
         */
        if (rc == SG_REFUSED && has_adds && !refuse_adds) {
            refuse_adds = 1;
            continue;
        }
        if (rc == SG_REFUSED && !no_work) {
            no_work = 1;
            continue;
        }
        if (rc == SG_REFUSED)
            sg_fatal(S_PLACE, "filesystem full with nothing to write; "
                              "exiting");
        /* SG_AGAIN: the map is full.  Grow (STOREs up to map-max, the
         * draining work up to the reserve), else shed the STOREs. */
        rc = store_db_grow(s->db, has_adds && !refuse_adds ? s->o.map_max
                                                           : s->map_hard);
        if (rc == SG_OK) {
            sg_warn(S_PLACE, "map full; grown to %" PRIu64 " bytes",
                    store_db_map_size(s->db));
            continue;
        }
        if (rc == SG_ERR)
            sg_fatal(S_PLACE, "cannot grow the map; exiting");
        if (has_adds && !refuse_adds) {
            uint64_t m = sg_clock_mono_ms();
            if (m - s->last_full_log_mono >= 10000) {
                sg_warn(S_PLACE, "map full at --map-max %" PRIu64
                                 " bytes: refusing new messages",
                        s->o.map_max);
                s->last_full_log_mono = m;
            }
            refuse_adds = 1;
            continue;
        }
        if (!no_work) {
            sg_error(S_PLACE, "map full even without new messages: "
                              "DONE and control requests deferred");
            no_work = 1;
            continue;
        }
        sg_fatal(S_PLACE, "map full with nothing to write; exiting");
    }
    /* STOREs never get the reserve: set the map back to map-max (LMDB
     * keeps it at least as large as the data). */
    if (store_db_map_size(s->db) > s->o.map_max)
        store_db_shrink(s->db, s->o.map_max);
    sg_counter_add(s_m.commits, 1);
    sg_hist_observe(s_m.txn_time, (double)(sg_clock_mono_us() - t0_us) / 1e6);
    if (s->nreqs > 0)
        sg_hist_observe(s_m.batch, (double)s->nreqs);
    /* Committed: now the replies and the jobs. */
    for (size_t i = 0; i < s->nreqs; i++) {
        s_req *q = &s->reqs[i];
        if (q->rcmd)
            s_send(s, q->rid, q->rid_len, q->rcmd, q->m.corr,
                   q->rbig ? q->rbig : q->rsmall, q->rlen);
        if (q->rcmd == PROTO_CMD_STORED)
            sg_counter_add(s_m.stored, 1);
        else if (q->rcmd == PROTO_CMD_REFUSED)
            sg_counter_add(s_m.refused, 1);
    }
    for (size_t i = 0; i < s->njobs; i++) {
        s_worker *w = &s->workers[s->jobs[i].worker];
        if (!s_send(s, w->rid, w->rid_len, PROTO_CMD_JOB, 0, s->jobs[i].body,
                    s->jobs[i].len) &&
            errno == EHOSTUNREACH && w->seen_mono != 0) {
            /* The worker is gone (its pipe closed): no more jobs to it.
             * XXX the jobs already leased to it wait for their lease;
             * ending those leases at once would need one more write. */
            sg_info(S_PLACE, "worker %zu gone: credit %u dropped",
                    s->jobs[i].worker, w->credit);
            w->credit = 0;
            w->seen_mono = 0; /* forgotten on the next tick */
        }
    }
    s_jobs_clear(s, 0);
}

static void
s_req_release(s_req *q)
{
    zmq_msg_close(&q->body);
    sg_free(q->rbig);
    q->rbig = NULL;
}

/*
 * Receive one request without blocking.  1 = a request in `q` for the
 * batch, 0 = nothing pending, -1 = handled here or dropped (worker
 * traffic that needs no transaction, or a malformed message).
 */
static int
s_recv(s_store *s, s_req *q)
{
    zmq_msg_t part[4];
    proto_wire_frame f[3];
    size_t n = 0;
    int more = 1, r = -1;
    const char *why;

    zmq_msg_init(&part[0]);
    if (zmq_msg_recv(&part[0], s->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&part[0]);
        if (errno != EAGAIN && errno != EINTR && errno != ETERM)
            sg_warn(S_PLACE, "zmq_msg_recv: %s", zmq_strerror(errno));
        return 0;
    }
    n = 1;
    while (zmq_msg_more(&part[n - 1])) {
        if (n == 4) {
            /* Too many frames: drain and drop the rest of the message. */
            zmq_msg_t x;
            zmq_msg_init(&x);
            while (more && zmq_msg_recv(&x, s->sock, 0) >= 0)
                more = zmq_msg_more(&x);
            zmq_msg_close(&x);
            n = 5;
            break;
        }
        zmq_msg_init(&part[n]);
        if (zmq_msg_recv(&part[n], s->sock, 0) < 0) {
            zmq_msg_close(&part[n]);
            break;
        }
        n++;
    }
    if (n != 4 || zmq_msg_size(&part[0]) > S_ROUTING_MAX) {
        sg_warn(S_PLACE, "malformed message dropped: %s",
                n > 4 ? "too many frames" : "wrong number of frames");
        goto out;
    }
    for (size_t i = 0; i < 3; i++) {
        f[i].p = zmq_msg_data(&part[i + 1]);
        f[i].len = zmq_msg_size(&part[i + 1]);
    }
    memset(q, 0, sizeof(*q));
    if ((why = proto_wire_decode(f, 3, PROTO_DIR_TO_STORE, &q->m)) != NULL) {
        sg_warn(S_PLACE, "malformed message dropped: %s", why);
        goto out;
    }
    q->rid_len = zmq_msg_size(&part[0]);
    memcpy(q->rid, zmq_msg_data(&part[0]), q->rid_len);

    /* Worker traffic with no durable effect is handled right here. */
    if (q->m.cmd == PROTO_CMD_READY || q->m.cmd == PROTO_CMD_HEARTBEAT) {
        uint32_t credit;
        int ready = q->m.cmd == PROTO_CMD_READY;
        if ((why = proto_wire_credit_decode(q->m.body, q->m.body_len, ready,
                                            &credit)) != NULL) {
            sg_warn(S_PLACE, "%s dropped: %s", proto_wire_cmd_name(q->m.cmd),
                    why);
            goto out;
        }
        int fresh;
        s_worker *w = s_worker_find(s, q->rid, q->rid_len, 1, &fresh);
        w->seen_mono = sg_clock_mono_ms();
        if (ready) {
            /* Credit is additive (zguide): READY(n) = n more jobs. */
            uint64_t c = (uint64_t)w->credit + credit;
            w->credit = c > PROTO_WIRE_CREDIT_MAX ? PROTO_WIRE_CREDIT_MAX
                                                  : (uint32_t)c;
        } else if (fresh) {
            /* A worker we do not know (we restarted): its heartbeat says
             * how much credit it believes we hold; adopt that. */
            w->credit = credit;
        }
        goto out;
    }
    if (q->m.cmd == PROTO_CMD_DONE || q->m.cmd == PROTO_CMD_RESIGNED) {
        s_worker *w = s_worker_find(s, q->rid, q->rid_len, 0, NULL);
        if (w)
            w->seen_mono = sg_clock_mono_ms();
    }
    if (q->m.cmd == PROTO_CMD_STORE &&
        (why = proto_msg_decode(q->m.body, q->m.body_len, &q->env)) != NULL) {
        char qb[96];
        sg_warn(S_PLACE, "STORE refused: envelope %s",
                sg_log_quote(why, strlen(why), qb, sizeof(qb)));
        /* Invalid is permanent: answer now, nothing to commit. */
        s_reply_refused(q, PROTO_REFUSED_INVALID, why, NULL);
        s_send(s, q->rid, q->rid_len, q->rcmd, q->m.corr, q->rsmall, q->rlen);
        sg_free(q->rbig);
        q->rbig = NULL;
        goto out;
    }
    /* Keep the body frame: the batch reads it in place. */
    zmq_msg_init(&q->body);
    zmq_msg_move(&q->body, &part[3]);
    q->m.body = q->m.body_len ? zmq_msg_data(&q->body) : NULL;
    if (q->m.cmd == PROTO_CMD_STORE)
        (void)proto_msg_decode(q->m.body, q->m.body_len, &q->env);
    r = 1;
out:
    for (size_t i = 0; i < n && i < 4; i++)
        zmq_msg_close(&part[i]);
    return r;
}

/* Heartbeats out, silent workers forgotten (their leases run out). */
static void
s_workers_tick(s_store *s)
{
    uint64_t m = sg_clock_mono_ms();
    uint8_t b[4];

    for (size_t i = 0; i < s->nworkers;) {
        s_worker *w = &s->workers[i];
        if (m - w->seen_mono > S_WORKER_DEAD_MS) {
            sg_info(S_PLACE, "worker %zu silent for %" PRIu64
                             " ms: forgotten (credit %u)",
                    i, m - w->seen_mono, w->credit);
            s->workers[i] = s->workers[--s->nworkers];
            continue;
        }
        if (m - w->hb_sent_mono >= S_HEARTBEAT_MS) {
            proto_wire_u32_encode(w->credit, b);
            s_send(s, w->rid, w->rid_len, PROTO_CMD_HEARTBEAT, 0, b, 4);
            w->hb_sent_mono = m;
        }
        i++;
    }
}

static int
s_run_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        sg_error(S_PLACE, "mkdir %s: %s", dir, strerror(errno));
        return 0;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sg_error(S_PLACE, "%s: not a directory", dir);
        return 0;
    }
    /* The socket's only access control is this directory. */
    if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
        sg_error(S_PLACE, "%s: run directory must be private (0700, ours)",
                 dir);
        return 0;
    }
    return 1;
}

static int
s_lock(const char *dir)
{
    char path[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/store.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        sg_error(S_PLACE, "open %s: %s", path, strerror(errno));
        return -1;
    }
    /* One store per database: a second writer process would race ours. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        sg_error(S_PLACE, "%s: another stirgate-store holds it", dir);
        close(fd);
        return -1;
    }
    return fd;
}

static int
s_open_socket(s_store *s)
{
    char ep[4200];
    int one = 1, hwm = 200000, linger = 1000;
    int64_t maxsz = PROTO_WIRE_BODY_MAX + 4096;

    if (s->o.endpoint) {
        snprintf(ep, sizeof(ep), "%s", s->o.endpoint);
    } else {
        if (!s_run_dir(s->o.run_dir))
            return 0;
        snprintf(ep, sizeof(ep), "ipc://%s/store.sock", s->o.run_dir);
        /* ipc paths live in sockaddr_un.sun_path (108 bytes). */
        if (strlen(ep) - 6 >= 108) {
            sg_error(S_PLACE, "%s: path too long for an ipc socket", ep + 6);
            return 0;
        }
    }
    s->zctx = zmq_ctx_new();
    s->sock = zmq_socket(s->zctx, ZMQ_ROUTER);
    if (s->sock == NULL ||
        zmq_setsockopt(s->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) ||
        zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
        zmq_setsockopt(s->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm)) ||
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
        zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &maxsz, sizeof(maxsz))) {
        sg_error(S_PLACE, "zmq_socket: %s", zmq_strerror(errno));
        return 0;
    }
    if (zmq_bind(s->sock, ep) != 0) {
        sg_error(S_PLACE, "zmq_bind %s: %s", ep, zmq_strerror(errno));
        return 0;
    }
    sg_info(S_PLACE, "listening on %s", ep);
    return 1;
}

static sg_log_level
s_level(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    for (size_t i = 0; i < SG_NELEM(names); i++)
        if (strcmp(name, names[i]) == 0)
            return (sg_log_level)i;
    return SG_LOG_FATAL;
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
    s_store s;
    struct sigaction sa;
    MDB_txn *txn = NULL;
    size_t n;
    int lockfd = -1, rcode = 1;
    uint64_t first_us = 0; /* when the oldest held request arrived */

    memset(&s, 0, sizeof(s));
    sg_log_init("stirgate-store", SG_LOG_INFO);
    /* --check --dir DIR: the read-only consistency check, no daemon. */
    if (argc == 4 && strcmp(argv[1], "--check") == 0 &&
        strcmp(argv[2], "--dir") == 0)
        return store_check_run(argv[3], stdout);
    if (!s_parse_opts(argc, argv, &s.o))
        return 2;
    if (s_level(s.o.log_level) == SG_LOG_FATAL) {
        fprintf(stderr, "stirgate-store: unknown --log-level %s\n",
                s.o.log_level);
        return 2;
    }
    sg_log_set_level(s_level(s.o.log_level));
    sg_log_set_debug_places(s.o.log_debug, s.o.nlog_debug);
    s.sc.backoff_min_ms = s.o.backoff_min_ms;
    s.sc.backoff_max_ms = s.o.backoff_max_ms;
    s.sc.lifetime_ms = s.o.lifetime_ms;
    s.sc.dead_keep_ms = s.o.dead_keep_ms;
    s.sc.done_keep_ms = s.o.done_keep_ms;
    s.sc.lease_ms = s.o.lease_ms;
    /* The reserve for work that frees space: 1/16 of the maximum. */
    s.map_hard = s.o.map_max + (s.o.map_max / 16 > (1u << 20)
                                    ? s.o.map_max / 16
                                    : (1u << 20));

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

    if (mkdir(s.o.dir, 0700) != 0 && errno != EEXIST) {
        sg_error(S_PLACE, "mkdir %s: %s", s.o.dir, strerror(errno));
        goto out;
    }
    if ((lockfd = s_lock(s.o.dir)) < 0)
        goto out;
    if ((s.db = store_db_open(s.o.dir, s.o.map_size, s.o.map_max)) == NULL)
        goto out;

    /* After a restart no worker holds a lease: all of them are due now. */
    if (store_db_begin(s.db, &txn) != SG_OK ||
        store_db_recover(s.db, txn, s_now_ms(), &s.sc, &n) != SG_OK ||
        store_db_next_event(s.db, txn, &s.next_timer_ms, &s.next_due_ms) !=
            SG_OK ||
        store_db_commit(s.db, &txn) != SG_OK) {
        store_db_abort(&txn);
        sg_error(S_PLACE, "recovery failed");
        goto out;
    }
    if (n)
        sg_info(S_PLACE, "recovery: %zu leased messages due again", n);
    if (!s_open_socket(&s))
        goto out;
    s.reqs = sg_calloc(s.o.batch, sizeof(s_req));
    s_metrics_init(&s.o);
    s_metrics_tick(&s, 1);
    sg_info(S_PLACE, "ready: dir %s, map %" PRIu64 " of max %" PRIu64,
            s.o.dir, store_db_map_size(s.db), s.o.map_max);

    s.nreqs = 0;
    while (!s_stop) {
        uint64_t now = s_now_ms(), wake = s.next_timer_ms, mono;
        long timeout;
        zmq_pollitem_t it = {s.sock, 0, ZMQ_POLLIN, 0};
        size_t before;
        int pr, hold;

        if (s_credit(&s) > 0 && s.next_due_ms < wake)
            wake = s.next_due_ms;
        timeout = wake <= now ? 0
                  : wake - now > S_HEARTBEAT_MS ? S_HEARTBEAT_MS
                                                : (long)(wake - now);
        if (s.nreqs > 0) {
            /* Requests held for --commit-delay-us: wake when it is up. */
            uint64_t m = sg_clock_mono_us(), until = first_us +
                                                     s.o.commit_delay_us;
            long left = until > m ? (long)((until - m + 999) / 1000) : 0;
            if (left < timeout)
                timeout = left;
        }
        pr = zmq_poll(&it, 1, timeout);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ETERM)
                break;
            sg_error(S_PLACE, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        /* The per-message info lines of this batch leave in a few
         * writes, after the replies (sg_log_hold). */
        sg_log_hold();
        before = s.nreqs;
        while (s.nreqs < s.o.batch) {
            int r = s_recv(&s, &s.reqs[s.nreqs]);
            if (r == 0)
                break;
            if (r > 0)
                s.nreqs++;
        }
        now = s_now_ms();
        mono = sg_clock_mono_us();
        if (before == 0 && s.nreqs > 0)
            first_us = mono;
        /* Hold a partial batch for --commit-delay-us, unless timer work
         * is due anyway (it commits, so the batch might as well go). */
        hold = s.nreqs > 0 && s.nreqs < s.o.batch &&
               mono - first_us < s.o.commit_delay_us && s_holdable(&s) &&
               s.next_timer_ms > now &&
               !(s_credit(&s) > 0 && s.next_due_ms <= now);
        if (!hold) {
            if (s.nreqs > 0 || s.next_timer_ms <= now ||
                (s_credit(&s) > 0 && s.next_due_ms <= now))
                s_batch(&s);
            for (size_t i = 0; i < s.nreqs; i++)
                s_req_release(&s.reqs[i]);
            s.nreqs = 0;
        }
        s_workers_tick(&s);
        s_metrics_tick(&s, 0);
        sg_log_release();
    }
    if (s.nreqs > 0) {
        /* Held requests are answered before we go. */
        sg_log_hold();
        s_batch(&s);
        for (size_t i = 0; i < s.nreqs; i++)
            s_req_release(&s.reqs[i]);
        s.nreqs = 0;
        sg_log_release();
    }
    sg_info(S_PLACE, "stopping");
    s_metrics_tick(&s, 1);
    rcode = 0;
out:
    sg_free(s.reqs);
    sg_free(s.jobs);
    sg_free(s.workers);
    if (s.sock)
        zmq_close(s.sock);
    if (s.zctx)
        zmq_ctx_term(s.zctx);
    store_db_destroy(&s.db);
    sg_metrics_destroy(&s_m.reg);
    if (lockfd >= 0)
        close(lockfd);
    return rcode;
}
