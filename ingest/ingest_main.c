/*
 * ingest/ingest_main.c - stirgate-ingest: the process of the ingest stage
 * (DESIGN.md section 1).  The logic is in ingest_core.c and
 * ingest_policy.c; this file owns the options, the signals, the store link
 * and the one poll loop over every descriptor:
 *
 *   the DEALER to the store     STORE out; STORED / REFUSED / CTL_* in
 *   SIP UDP sockets, TCP        ingest_sip.c
 *   libmicrohttpd (epoll fd)    ingest_http.c
 *   libcurl (x5u fetches)       verify_x5u_cache_fds / _perform
 *
 * zmq_poll() takes the ZeroMQ socket and plain descriptors in one call and
 * hides ZMQ_FD's edge-triggered semantics; the DEALER is drained without
 * blocking on every wake-up.
 *
 * SIGTERM / SIGINT: stop accepting (TCP listeners and HTTP closed, UDP no
 * longer read), finish what is in flight (every request gets its answer:
 * 202 after STORED or the store deadline's 503), then exit.  A second
 * signal exits at once.
 *
 * Several processes may run with one config: the SIP and HTTP sockets are
 * bound with SO_REUSEPORT, so the kernel spreads peers over them (one
 * source keeps its process, so UDP retransmissions meet their cache), and
 * the x5u cache directory is shared (verify_x5u_cache.h).
 */
#include "conf/conf.h"
#include "ingest/ingest_core.h"
#include "ingest/ingest_int.h"
#include "lib/sg.h"
#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "lib/sg_metrics.h"
#include "proto/proto_wire.h"
#include "verify/verify_cert.h"
#include "verify/verify_key.h"
#include "verify/verify_ktab.h"
#include "verify/verify_x5u_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#define S_PLACE "ingest"
#define S_MAX_FDS 65536
#define S_STORE_TIMEOUT_MS 5000
#define S_STORE_BURST 256 /* STOREs queued before they are sent anyway */
#define S_WARM_SLICE_US 2000 /* x5u.warm: chain loading per idle pass */

static volatile sig_atomic_t s_signals;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_signals++;
}

typedef struct {
    const char *config;
    const char *run_dir;
    const char *endpoint;
    const char *log_level;
    long store_timeout_ms;
} s_opts;

/* A STORE waiting for the end of the batch (s_send_store). */
typedef struct {
    uint8_t hdr[PROTO_WIRE_HDR_LEN];
    zmq_msg_t body;
} s_queued;

typedef struct {
    s_opts o;
    conf_t conf;
    void *zctx, *dealer;
    s_queued *q;
    size_t nq;
    verify_trust_t *trust;
    verify_x5u_cache_t *cache;
    verify_key_t *key;
    verify_chain_t *own_chain;
    ingest_core_t *core;
    ingest_sip_t *sip;
    ingest_http_t *http;
    /* metrics: the registry, RUN_DIR/metrics, the last snapshot */
    sg_metrics_t *metrics;
    verify_x5u_metrics_t *x5u_m;
    sg_metrics_family_t *listener_f;
    char metrics_dir[1100];
    uint64_t metrics_mono;
} s_ingest;

static void
s_usage(void)
{
    fputs("usage: stirgate-ingest -c FILE [--run-dir DIR | --endpoint E]\n"
          "  [--log-level debug|info|warn|error] [--store-timeout MS]\n"
          "  -c FILE           the stirgate config (JSON)\n"
          "  --run-dir DIR     the store's socket is ipc://DIR/store.sock\n"
          "                    (default: node.run_dir of the config)\n"
          "  --endpoint E      the store's endpoint instead (tcp://...)\n"
          "  --log-level L     overrides node.log_level\n"
          "  --store-timeout MS  answer 503 when the store has not\n"
          "                    committed a message after MS (default 5000)\n",
          stderr);
}

static int
s_parse_opts(int argc, char **argv, s_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->store_timeout_ms = S_STORE_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return 0;
        if (v == NULL) {
            fprintf(stderr, "stirgate-ingest: %s needs a value\n", a);
            return 0;
        }
        i++;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            o->config = v;
        } else if (strcmp(a, "--run-dir") == 0) {
            o->run_dir = v;
        } else if (strcmp(a, "--endpoint") == 0) {
            o->endpoint = v;
        } else if (strcmp(a, "--log-level") == 0) {
            o->log_level = v;
        } else if (strcmp(a, "--store-timeout") == 0) {
            char *end;
            o->store_timeout_ms = strtol(v, &end, 10);
            if (*end != '\0' || o->store_timeout_ms < 100 ||
                o->store_timeout_ms > 600000) {
                fprintf(stderr, "stirgate-ingest: --store-timeout: 100.."
                                "600000 ms\n");
                return 0;
            }
        } else {
            fprintf(stderr, "stirgate-ingest: unknown option %s\n", a);
            return 0;
        }
    }
    if (o->config == NULL)
        return 0;
    return 1;
}

static int
s_level(const char *name, sg_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    for (size_t i = 0; i < SG_NELEM(names); i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (sg_log_level)i;
            return 1;
        }
    return 0;
}

/* ---- the store link ----------------------------------------------------- */

static int
s_zsend(void *sock, proto_cmd cmd, uint64_t corr, const void *body, size_t len)
{
    uint8_t vf[PROTO_WIRE_VFRAME_LEN], hdr[PROTO_WIRE_HDR_LEN];

    proto_wire_version_frame(vf);
    proto_wire_header(hdr, cmd, corr, (uint32_t)len);
    /* Atomic multipart: once the first frame is queued, the others are. */
    if (zmq_send(sock, vf, sizeof(vf), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (errno != EAGAIN)
            sg_warn(S_PLACE, "zmq_send %s: %s", proto_wire_cmd_name(cmd),
                    zmq_strerror(errno));
        return -1;
    }
    if (zmq_send(sock, hdr, sizeof(hdr), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(sock, body, len, ZMQ_DONTWAIT) < 0) {
        sg_warn(S_PLACE, "zmq_send %s: %s", proto_wire_cmd_name(cmd),
                zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Send the queued STOREs.  One that ZeroMQ refuses now (its pipe filled
 * since the check in s_send_store) is dropped like a STORE lost on the
 * way: the core sends it again after resend_ms, then answers 503 at its
 * deadline.
 */
static void
s_flush_stores(s_ingest *g)
{
    uint8_t vf[PROTO_WIRE_VFRAME_LEN];
    size_t dropped = 0;

    proto_wire_version_frame(vf);
    for (size_t i = 0; i < g->nq; i++) {
        s_queued *q = &g->q[i];
        if (zmq_send(g->dealer, vf, sizeof(vf), ZMQ_SNDMORE | ZMQ_DONTWAIT) <
            0) {
            dropped++;
        } else if (zmq_send(g->dealer, q->hdr, sizeof(q->hdr),
                            ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
                   zmq_msg_send(&q->body, g->dealer, ZMQ_DONTWAIT) < 0) {
            /* Atomic multipart: once the first frame is queued, the
             * others are; this is not expected. */
            sg_warn(S_PLACE, "zmq_send STORE: %s", zmq_strerror(errno));
        }
        zmq_msg_close(&q->body);
    }
    if (dropped > 0)
        sg_warn(S_PLACE,
                "%zu STOREs not sent (store link full); resent "
                "later",
                dropped);
    g->nq = 0;
}

/*
 * STOREs leave in bursts: each zmq_send that finds the I/O thread idle
 * wakes it through its mailbox (a write, then two context switches), and
 * at full load that was a wake-up per message.  The loop flushes the
 * burst once per wake-up (after the batch of datagrams is verified), so
 * the I/O thread is woken about once per batch.  Whether the link can
 * take a STORE at all is asked once per burst (ZMQ_EVENTS): without a
 * store connected the STORE is refused at once, as a direct send was, and
 * the sender gets its 503 without waiting for the deadline.
 */
static int
s_send_store(void *arg, uint64_t corr, const uint8_t *env, size_t len)
{
    s_ingest *g = arg;
    s_queued *q;

    if (g->nq == 0) {
        int ev = 0;
        size_t evlen = sizeof(ev);
        if (zmq_getsockopt(g->dealer, ZMQ_EVENTS, &ev, &evlen) != 0 ||
            !(ev & ZMQ_POLLOUT))
            return -1;
    } else if (g->nq == S_STORE_BURST) {
        s_flush_stores(g);
        return s_send_store(arg, corr, env, len);
    }
    q = &g->q[g->nq];
    proto_wire_header(q->hdr, PROTO_CMD_STORE, corr, (uint32_t)len);
    if (zmq_msg_init_size(&q->body, len) != 0)
        sg_panic("zmq_msg_init_size: out of memory");
    memcpy(zmq_msg_data(&q->body), env, len);
    g->nq++;
    return 0;
}

static int
s_send_ctl(void *arg, proto_cmd cmd, uint64_t corr, const void *body,
           size_t len)
{
    s_ingest *g = arg;
    return s_zsend(g->dealer, cmd, corr, body, len);
}

/* Receive every reply already queued; route each by correlation id. */
static void
s_drain(s_ingest *g)
{
    for (;;) {
        zmq_msg_t parts[PROTO_WIRE_FRAMES + 1];
        proto_wire_frame f[PROTO_WIRE_FRAMES + 1];
        proto_wire_msg m;
        const char *why;
        int n = 0, more = 1;

        while (more) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            if (zmq_msg_recv(&x, g->dealer, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                int e = errno;
                zmq_msg_close(&x);
                if (e == EINTR)
                    continue;
                if (!(e == EAGAIN && n == 0))
                    sg_warn(S_PLACE, "zmq_msg_recv: %s", zmq_strerror(e));
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&parts[i]);
                return;
            }
            more = zmq_msg_more(&x);
            if (n < PROTO_WIRE_FRAMES + 1)
                parts[n++] = x;
            else
                zmq_msg_close(&x);
        }
        for (int i = 0; i < n; i++) {
            f[i].p = zmq_msg_data(&parts[i]);
            f[i].len = zmq_msg_size(&parts[i]);
        }
        if ((why = proto_wire_decode(f, (size_t)n, PROTO_DIR_FROM_STORE, &m)) !=
            NULL) {
            sg_warn(S_PLACE, "bad message from the store: %s", why);
        } else if (m.corr & INGEST_CORR_CTL) {
            if (g->http == NULL || !ingest_http_on_reply(g->http, &m))
                sg_debug(S_PLACE, "unexpected %s", proto_wire_cmd_name(m.cmd));
        } else if (!ingest_core_on_reply(g->core, &m)) {
            sg_debug(S_PLACE, "unexpected %s", proto_wire_cmd_name(m.cmd));
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
}

static int
s_store_link(s_ingest *g)
{
    char ep[512];
    int hwm = 100000, linger = 1000;
    const char *run_dir = g->o.run_dir ? g->o.run_dir : g->conf.run_dir;

    if (g->o.endpoint != NULL)
        snprintf(ep, sizeof(ep), "%s", g->o.endpoint);
    else if ((size_t)snprintf(ep, sizeof(ep), "ipc://%s/store.sock", run_dir) >=
             sizeof(ep)) {
        sg_error(S_PLACE, "run directory path too long");
        return 0;
    }
    g->zctx = zmq_ctx_new();
    if (g->zctx == NULL ||
        (g->dealer = zmq_socket(g->zctx, ZMQ_DEALER)) == NULL) {
        sg_error(S_PLACE, "zmq: %s", zmq_strerror(errno));
        return 0;
    }
    (void)zmq_setsockopt(g->dealer, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    (void)zmq_setsockopt(g->dealer, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    (void)zmq_setsockopt(g->dealer, ZMQ_LINGER, &linger, sizeof(linger));
    /* The store binds, we connect (lazily: a store started later is
     * found; until then STOREs wait in the pipe and time out as 503). */
    if (zmq_connect(g->dealer, ep) != 0) {
        sg_error(S_PLACE, "zmq_connect %s: %s", ep, zmq_strerror(errno));
        return 0;
    }
    sg_info(S_PLACE, "store at %s", ep);
    return 1;
}

/* ---- STIR material ------------------------------------------------------ */

/* ingest_lookup_fn over the x5u cache: the cache's callback carries a
 * result the core does not need (it looks the URL up again, answered at
 * once), so a small record bridges the two signatures. */
typedef struct {
    ingest_lookup_done_fn done;
    void *arg;
} s_pending_lookup;

static void
s_lookup_cb(void *arg, const char *url, const verify_x5u_result_t *res)
{
    s_pending_lookup *p = arg;

    (void)res;
    p->done(p->arg, url);
    sg_free(p);
}

static int
s_lookup(void *arg, const char *url, ingest_lookup_done_fn done, void *done_arg,
         proto_reason *reason, verify_chain_t **chain)
{
    s_ingest *g = arg;
    s_pending_lookup *p = sg_malloc(sizeof(*p));
    verify_x5u_result_t res;

    p->done = done;
    p->arg = done_arg;
    if (verify_x5u_cache_get(g->cache, url, s_lookup_cb, p, &res)) {
        sg_free(p);
        *reason = res.reason;
        *chain = res.chain;
        return 1;
    }
    return 0;
}

static int
s_any_peer(const conf_t *c, int kind)
{
    const conf_peer_t *p = c->peers.items;

    for (size_t i = 0; i < c->peers.n; i++)
        if (p[i].kind == kind)
            return 1;
    return 0;
}

static char *
s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = sg_malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static int
s_stir(s_ingest *g)
{
    const conf_t *c = &g->conf;
    char why[512];

    if (c->verify_trust != NULL && c->verify_trust[0]) {
        g->trust = verify_trust_new();
        if (verify_trust_add_ca_file(g->trust, c->verify_trust, why,
                                     sizeof(why)) != SG_OK ||
            (c->verify_crl && c->verify_crl[0] &&
             verify_trust_add_crl_file(g->trust, c->verify_crl, why,
                                       sizeof(why)) != SG_OK) ||
            (c->verify_spc_map && c->verify_spc_map[0] &&
             verify_trust_load_spc_map(g->trust, c->verify_spc_map, why,
                                       sizeof(why)) != SG_OK)) {
            sg_error(S_PLACE, "verify: %s", why);
            return 0;
        }
    }
    if (s_any_peer(c, CONF_PEER_INTERCONNECT)) {
        verify_x5u_cache_opts co;
        char dir[1024];

        if (g->trust == NULL) {
            sg_error(S_PLACE, "an interconnect peer needs verify.trust");
            return 0;
        }
        snprintf(dir, sizeof(dir), "%s/x5u", c->data_dir);
        memset(&co, 0, sizeof(co));
        co.policy.allow_loopback = c->x5u_allow_loopback;
        co.policy.tls_ca =
            c->x5u_tls_ca && c->x5u_tls_ca[0] ? c->x5u_tls_ca : NULL;
        co.policy.connect_timeout_ms = (long)c->x5u_connect_timeout_ms;
        co.policy.timeout_ms = (long)c->x5u_timeout_ms;
        co.policy.max_bytes = (size_t)c->x5u_max_size;
        co.dir = dir;
        co.max_entries = (size_t)c->x5u_cache_entries;
        co.trust = g->trust;
        co.anchors_file = c->verify_trust;
        co.crl_fetch = 1;
        co.crl_unavailable = c->verify_crl_unavailable == CONF_CRL_REJECT
                                 ? VERIFY_CRL_REJECT
                                 : VERIFY_CRL_ACCEPT;
        if (c->x5u_allow_loopback || co.policy.tls_ca)
            sg_warn(S_PLACE, "x5u policy relaxed:%s%s",
                    c->x5u_allow_loopback ? " loopback allowed" : "",
                    co.policy.tls_ca ? " extra TLS CA" : "");
        verify_ktab_configure((unsigned)c->verify_key_tables,
                              (unsigned)c->verify_key_table_after);
        (void)mkdir(c->data_dir, 0700);
        if ((g->cache = verify_x5u_cache_new(&co)) == NULL)
            return 0;
    }
    if (c->sign_key != NULL && c->sign_key[0]) {
        const char *kwhy = NULL;
        if ((g->key = verify_key_from_file(c->sign_key, &kwhy)) == NULL) {
            sg_error(S_PLACE, "sign.key %s: %s", c->sign_key,
                     kwhy ? kwhy : "unusable");
            return 0;
        }
    }
    if (c->sign_chain != NULL && c->sign_chain[0]) {
        size_t n = 0;
        char *pem = s_slurp(c->sign_chain, &n);
        verify_trust_t *t = g->trust ? g->trust : verify_trust_new();
        proto_reason r;

        if (pem == NULL) {
            sg_error(S_PLACE, "sign.chain %s: %s", c->sign_chain,
                     strerror(errno));
            if (t != g->trust)
                verify_trust_destroy(&t);
            return 0;
        }
        /* Only its TNAuthList matters here (the authority check); whether
         * our own chain reaches verify.trust is the verifiers' business. */
        r = verify_chain_build(t, pem, n, &g->own_chain, why, sizeof(why));
        sg_free(pem);
        if (t != g->trust)
            verify_trust_destroy(&t);
        if (g->own_chain == NULL) {
            sg_error(S_PLACE, "sign.chain %s: %s", c->sign_chain, why);
            return 0;
        }
        if (r != REASON_OK)
            sg_info(S_PLACE,
                    "sign.chain: %s (%s); used for the TNAuthList "
                    "only",
                    proto_reason_name(r), why);
    }
    if (s_any_peer(c, CONF_PEER_CUSTOMER) &&
        (g->key == NULL || c->sign_x5u == NULL)) {
        sg_error(S_PLACE, "a customer peer needs sign.key and sign.x5u");
        return 0;
    }
    return 1;
}

/* ---- metrics ------------------------------------------------------------ */

/*
 * The registry: the core's families (ingest_core.c), the x5u cache's, and
 * stirgate_ingest_listener_up{listener,address}, 1 for each configured
 * listener this process has bound, 0 once it stopped accepting; the
 * master's /readyz reads it.  The instance is the master's slot number
 * (STIRGATE_INSTANCE, "1" … when ingest.processes > 1), else "0".
 */
static void
s_metrics_new(s_ingest *g)
{
    static const char *const l_listener[] = {"listener", "address", NULL};
    const char *inst = getenv("STIRGATE_INSTANCE");
    const char *run_dir = g->o.run_dir ? g->o.run_dir : g->conf.run_dir;
    size_t n = inst ? strlen(inst) : 0;

    if (n == 0 || n > 8 || strspn(inst, "0123456789") != n)
        inst = "0";
    g->metrics = sg_metrics_new("ingest", inst);
    if (run_dir != NULL)
        snprintf(g->metrics_dir, sizeof(g->metrics_dir), "%s/metrics", run_dir);
    g->listener_f = sg_metrics_declare(
        g->metrics,
        &(sg_metrics_desc_t){
            .name = "stirgate_ingest_listener_up",
            .help = "1 when this process has the listener bound and accepts "
                    "on it, else 0.",
            .type = SG_METRIC_GAUGE,
            .labels = l_listener});
}

static void
s_listeners_up(s_ingest *g, int up)
{
    const conf_t *c = &g->conf;

    for (size_t i = 0; i < c->sip_udp.n; i++)
        sg_gauge_set(
            sg_metrics_gauge(g->listener_f, "sip.udp", c->sip_udp.v[i], NULL),
            up);
    for (size_t i = 0; i < c->sip_tcp.n; i++)
        sg_gauge_set(
            sg_metrics_gauge(g->listener_f, "sip.tcp", c->sip_tcp.v[i], NULL),
            up);
    if (g->http && c->http_listen && c->http_listen[0])
        sg_gauge_set(sg_metrics_gauge(g->listener_f, "http.listen",
                                      c->http_listen, NULL),
                     up);
    if (g->http && c->http_tls_listen && c->http_tls_listen[0])
        sg_gauge_set(sg_metrics_gauge(g->listener_f, "http.tls_listen",
                                      c->http_tls_listen, NULL),
                     up);
}

/* Copy the x5u cache's figures, write the snapshot; once a second unless
 * `force`. */
static void
s_metrics_tick(s_ingest *g, int force)
{
    uint64_t mono = sg_clock_mono_ms(), now;

    if (g->metrics == NULL || (!force && mono - g->metrics_mono < 1000))
        return;
    g->metrics_mono = mono;
    now = sg_clock_wall_ms();
    verify_x5u_metrics_update(g->x5u_m, g->cache, (int64_t)(now / 1000));
    if (g->metrics_dir[0])
        (void)sg_metrics_write_snapshot(g->metrics, g->metrics_dir, now);
}

/* ---- the loop ----------------------------------------------------------- */

static long
s_min_timeout(long a, long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static int
s_loop(s_ingest *g)
{
    struct pollfd *pfd = sg_calloc(S_MAX_FDS, sizeof(*pfd));
    zmq_pollitem_t *items = sg_calloc(S_MAX_FDS + 1, sizeof(*items));
    int stopping = 0, warming = g->cache != NULL && g->conf.x5u_warm;
    uint64_t drain_until = 0;

    for (;;) {
        size_t nsip, nhttp = 0, ncache = 0, n = 0;
        long timeout = 1000;
        int pr;

        if (s_signals > 1)
            break;
        if (s_signals == 1 && !stopping) {
            stopping = 1;
            drain_until =
                sg_clock_mono_ms() + (uint64_t)g->o.store_timeout_ms + 2000;
            sg_info(S_PLACE, "stopping: no new requests; %zu in flight",
                    ingest_core_inflight(g->core));
            warming = 0;
            ingest_sip_stop(g->sip);
            if (g->http)
                ingest_http_stop(g->http);
            s_listeners_up(g, 0);
            s_metrics_tick(g, 1);
        }
        if (stopping &&
            ((ingest_core_inflight(g->core) == 0 &&
              ingest_sip_busy(g->sip) == 0 &&
              (g->http == NULL || ingest_http_busy(g->http) == 0)) ||
             sg_clock_mono_ms() >= drain_until))
            break;

        nsip = ingest_sip_fds(g->sip, pfd, S_MAX_FDS);
        n = nsip;
        if (g->http)
            nhttp = ingest_http_fds(g->http, pfd + n, S_MAX_FDS - n);
        n += nhttp;
        if (g->cache)
            ncache = verify_x5u_cache_fds(g->cache, pfd + n, S_MAX_FDS - n);
        n += ncache;

        items[0].socket = g->dealer;
        items[0].fd = 0;
        items[0].events = ZMQ_POLLIN;
        for (size_t i = 0; i < n; i++) {
            items[i + 1].socket = NULL;
            items[i + 1].fd = pfd[i].fd;
            items[i + 1].events =
                (short)((pfd[i].events & POLLIN ? ZMQ_POLLIN : 0) |
                        (pfd[i].events & POLLOUT ? ZMQ_POLLOUT : 0));
            items[i + 1].revents = 0;
        }
        timeout = s_min_timeout(timeout, ingest_core_timeout_ms(g->core));
        timeout = s_min_timeout(timeout, ingest_sip_timeout_ms(g->sip));
        if (g->http)
            timeout = s_min_timeout(timeout, ingest_http_timeout_ms(g->http));
        if (g->cache && verify_x5u_cache_pending(g->cache) > 0)
            timeout =
                s_min_timeout(timeout, verify_x5u_cache_timeout_ms(g->cache));
        if (warming)
            timeout = 0;
        pr = zmq_poll(items, (int)(n + 1), timeout);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            sg_error(S_PLACE, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        for (size_t i = 0; i < n; i++)
            pfd[i].revents =
                (short)((items[i + 1].revents & ZMQ_POLLIN ? POLLIN : 0) |
                        (items[i + 1].revents & ZMQ_POLLOUT ? POLLOUT : 0) |
                        (items[i + 1].revents & ZMQ_POLLERR ? POLLERR : 0));
        /* The info lines of this wake-up go out together, before the
         * next wait (sg_log_hold). */
        sg_log_hold();
        s_drain(g);
        /* The 202s of the replies just handled leave before the new
         * datagrams are verified. */
        ingest_sip_flush(g->sip);
        ingest_sip_handle(g->sip, pfd, nsip);
        if (g->cache && (ncache > 0 || verify_x5u_cache_pending(g->cache)))
            verify_x5u_cache_perform(g->cache, pfd + nsip + nhttp, ncache);
        ingest_core_run(g->core);
        ingest_sip_run(g->sip);
        if (g->http)
            ingest_http_run(g->http);
        s_flush_stores(g);
        /* Sends above may have consumed the DEALER's edge: look again. */
        s_drain(g);
        ingest_sip_flush(g->sip);
        s_flush_stores(g);
        /* Idle: load a slice of the cached chains (x5u.warm). */
        if (warming && pr == 0)
            warming = verify_x5u_cache_warm(g->cache, S_WARM_SLICE_US);
        sg_log_release();
        s_metrics_tick(g, 0);
    }
    sg_free(pfd);
    sg_free(items);
    return 0;
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
    s_ingest g;
    sg_config_err_t err;
    struct sigaction sa;
    sg_log_level lvl;
    ingest_core_opts_t co;
    int rcode = 1;

    memset(&g, 0, sizeof(g));
    sg_log_init("stirgate-ingest", SG_LOG_INFO);
    if (!s_parse_opts(argc, argv, &g.o)) {
        s_usage();
        return 2;
    }
    if (conf_load(g.o.config, &g.conf, &err) != SG_OK) {
        fprintf(stderr, "stirgate-ingest: %s\n", err.text);
        return 2;
    }
    lvl = (sg_log_level)g.conf.log_level;
    if (g.o.log_level != NULL && !s_level(g.o.log_level, &lvl)) {
        fprintf(stderr, "stirgate-ingest: unknown --log-level %s\n",
                g.o.log_level);
        conf_free(&g.conf);
        return 2;
    }
    sg_log_set_level(lvl);
    sg_log_set_debug_places((const char *const *)g.conf.log_debug.v,
                            g.conf.log_debug.n);

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
    /* A peer that closed its TCP or TLS connection must not kill us:
     * libcurl and libmicrohttpd write to sockets too. */
    signal(SIGPIPE, SIG_IGN);

    if (!s_stir(&g) || !s_store_link(&g))
        goto out;
    g.q = sg_calloc(S_STORE_BURST, sizeof(*g.q));
    memset(&co, 0, sizeof(co));
    co.conf = &g.conf;
    co.sign_key = g.key;
    co.sign_x5u = g.conf.sign_x5u;
    co.own_chain = g.own_chain;
    co.trust = g.trust;
    if (g.cache != NULL) {
        co.lookup = s_lookup;
        co.lookup_arg = &g;
    }
    co.send = s_send_store;
    co.send_arg = &g;
    co.store_timeout_ms = (uint64_t)g.o.store_timeout_ms;
    s_metrics_new(&g);
    co.metrics = g.metrics;
    if (g.cache != NULL)
        g.x5u_m = verify_x5u_metrics_new(g.metrics);
    if ((g.core = ingest_core_new(&co)) == NULL)
        goto out;
    if ((g.sip = ingest_sip_new(&g.conf, g.core)) == NULL)
        goto out;
    if (((g.conf.http_listen && g.conf.http_listen[0]) ||
         (g.conf.http_tls_listen && g.conf.http_tls_listen[0])) &&
        (g.http = ingest_http_new(&g.conf, g.core, s_send_ctl, &g)) == NULL)
        goto out;
    sg_info(S_PLACE, "ready: %zu peers", g.conf.peers.n);
    s_listeners_up(&g, 1);
    s_metrics_tick(&g, 1);
    rcode = s_loop(&g);
    s_metrics_tick(&g, 1);
    {
        const ingest_core_stats_t *st = ingest_core_stats(g.core);
        sg_info(S_PLACE,
                "stopped: %" PRIu64 " submitted, %" PRIu64 " accepted, %" PRIu64
                " rejected, %" PRIu64 " failed",
                st->submitted, st->accepted, st->rejected, st->failed);
    }
out:
    if (g.q != NULL)
        s_flush_stores(&g);
    sg_free(g.q);
    ingest_http_destroy(&g.http);
    ingest_sip_destroy(&g.sip);
    ingest_core_destroy(&g.core);
    verify_x5u_cache_destroy(&g.cache);
    verify_x5u_metrics_destroy(&g.x5u_m);
    sg_metrics_destroy(&g.metrics);
    verify_chain_destroy(&g.own_chain);
    verify_key_destroy(&g.key);
    verify_trust_destroy(&g.trust);
    if (g.dealer)
        zmq_close(g.dealer);
    if (g.zctx)
        zmq_ctx_term(g.zctx);
    conf_free(&g.conf);
    return rcode;
}
