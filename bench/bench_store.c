/*
 * bench/bench_store.c - speed of the store (issue 4).  Not a test: it
 * prints figures, it asserts nothing.
 *
 *   bench_store [--store PATH] [--json] [--n N] [--senders S] [--window W]
 *
 * (1) LMDB durable commits, one record per transaction (no MDB_NOSYNC),
 *     in a temporary directory: the cost a store without group commit
 *     pays per message.
 * (2) STORE -> STORED through a real stirgate-store over ipc://, with S
 *     DEALER sockets each keeping W requests outstanding.
 * (3) STORE -> STORED latency at a fixed 5,000 messages/s: p50/p99/max.
 */
#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "lib/sg.h"
#include "lib/sg_clock.h"
#include "lib/sg_rand.h"
#include "proto/proto_msg.h"
#include "proto/proto_wire.h"

#define BODY_LEN 160

static uint8_t *
s_env(size_t *len)
{
    static uint8_t body[BODY_LEN];
    static const char ident[] =
        "eyJhbGciOiJFUzI1NiIsInBwdCI6Im1zZyIsInR5cCI6InBhc3Nwb3J0In0."
        "eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIxMjAyNTU1MDExMSJdfX0."
        "c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl;info=<https://"
        "cert.example.org/sp.pem>;ppt=msg";
    proto_msg m;
    uint8_t rnd[10];

    memset(&m, 0, sizeof(m));
    memset(body, 'b', sizeof(body));
    sg_rand_bytes(rnd, sizeof(rnd));
    proto_msg_id_make(m.id, sg_clock_wall_ms(), rnd);
    m.from.p = (const uint8_t *)"+12025550100";
    m.from.len = 12;
    m.to.p = (const uint8_t *)"+12025550111";
    m.to.len = 12;
    m.content_type.p = (const uint8_t *)"text/plain";
    m.content_type.len = 10;
    m.n_identity = 1;
    m.identity[0].p = (const uint8_t *)ident;
    m.identity[0].len = sizeof(ident) - 1;
    m.body.p = body;
    m.body.len = sizeof(body);
    m.received_ms = sg_clock_wall_ms();
    m.iat = m.received_ms / 1000;
    return proto_msg_encode_new(&m, len);
}

/* (1): one record per durable transaction. */
static double
s_lmdb_single(const char *dir, int n)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint64_t t0, t1;

    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 256u << 20) ||
        mdb_env_open(env, dir, 0, 0600))
        sg_panic("mdb_env_open %s", dir);
    if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi) ||
        mdb_txn_commit(txn))
        sg_panic("mdb_dbi_open");
    t0 = sg_clock_mono_us();
    for (int i = 0; i < n; i++) {
        size_t len;
        uint8_t *b = s_env(&len);
        MDB_val k = {16, b + 8}, v = {len + 80, NULL};
        if (mdb_txn_begin(env, NULL, 0, &txn) ||
            mdb_put(txn, dbi, &k, &v, MDB_RESERVE))
            sg_panic("mdb_put");
        memcpy((uint8_t *)v.mv_data + 80, b, len);
        memset(v.mv_data, 0, 80);
        if (mdb_txn_commit(txn) != 0)
            sg_panic("mdb_txn_commit");
        sg_free(b);
    }
    t1 = sg_clock_mono_us();
    mdb_env_close(env);
    return n / ((t1 - t0) / 1e6);
}

static void
s_send(void *sock, uint64_t corr, const uint8_t *b, size_t len)
{
    uint8_t vf[4], hdr[16];

    proto_wire_version_frame(vf);
    proto_wire_header(hdr, PROTO_CMD_STORE, corr, (uint32_t)len);
    if (zmq_send(sock, vf, 4, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, hdr, 16, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, b, len, 0) < 0)
        sg_panic("zmq_send: %s", zmq_strerror(errno));
}

/* Receive one reply: 1 STORED, 0 other, with its correlation id. */
static int
s_recv(void *sock, uint64_t *corr)
{
    zmq_msg_t p[3];
    proto_wire_frame f[3];
    proto_wire_msg m;
    int n = 0, more = 1, ok;

    while (more) {
        zmq_msg_t x;
        zmq_msg_init(&x);
        if (zmq_msg_recv(&x, sock, 0) < 0)
            sg_panic("zmq_msg_recv: %s", zmq_strerror(errno));
        more = zmq_msg_more(&x);
        if (n < 3)
            p[n++] = x;
        else
            zmq_msg_close(&x);
    }
    if (n != 3)
        sg_panic("reply of %d frames", n);
    for (int i = 0; i < 3; i++) {
        f[i].p = zmq_msg_data(&p[i]);
        f[i].len = zmq_msg_size(&p[i]);
    }
    if (proto_wire_decode(f, 3, PROTO_DIR_FROM_STORE, &m) != NULL)
        sg_panic("bad reply");
    *corr = m.corr;
    ok = m.cmd == PROTO_CMD_STORED;
    for (int i = 0; i < 3; i++)
        zmq_msg_close(&p[i]);
    return ok;
}

static void *
s_dealer(void *ctx, const char *ep)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int hwm = 100000, linger = 0;

    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_connect(s, ep) != 0)
        sg_panic("zmq_connect %s", ep);
    return s;
}

/* (2): S senders with W outstanding each, N messages in all. */
static double
s_throughput(void *ctx, const char *ep, long n, int senders, int window,
             long *refused)
{
    void **socks = sg_calloc((size_t)senders, sizeof(void *));
    zmq_pollitem_t *it = sg_calloc((size_t)senders, sizeof(*it));
    long *out = sg_calloc((size_t)senders, sizeof(long));
    long sent = 0, got = 0;
    uint64_t t0, t1, corr;
    /* Envelopes prepared in advance: the bench measures the store. */
    size_t *lens = sg_calloc((size_t)n, sizeof(size_t));
    uint8_t **envs = sg_calloc((size_t)n, sizeof(uint8_t *));

    for (long i = 0; i < n; i++)
        envs[i] = s_env(&lens[i]);
    for (int i = 0; i < senders; i++) {
        socks[i] = s_dealer(ctx, ep);
        it[i].socket = socks[i];
        it[i].events = ZMQ_POLLIN;
    }
    t0 = sg_clock_mono_us();
    for (int i = 0; i < senders; i++)
        for (int w = 0; w < window && sent < n; w++, sent++, out[i]++)
            s_send(socks[i], (uint64_t)sent, envs[sent], lens[sent]);
    while (got < n) {
        if (zmq_poll(it, senders, 10000) <= 0)
            sg_panic("no reply within 10 s (%ld of %ld)", got, n);
        for (int i = 0; i < senders; i++) {
            if (!(it[i].revents & ZMQ_POLLIN))
                continue;
            for (;;) {
                int ev;
                size_t evl = sizeof(ev);
                zmq_getsockopt(socks[i], ZMQ_EVENTS, &ev, &evl);
                if (!(ev & ZMQ_POLLIN))
                    break;
                if (!s_recv(socks[i], &corr))
                    (*refused)++;
                got++;
                out[i]--;
                if (sent < n) {
                    s_send(socks[i], (uint64_t)sent, envs[sent], lens[sent]);
                    sent++;
                    out[i]++;
                }
            }
        }
    }
    t1 = sg_clock_mono_us();
    for (int i = 0; i < senders; i++)
        zmq_close(socks[i]);
    for (long i = 0; i < n; i++)
        sg_free(envs[i]);
    sg_free(envs);
    sg_free(lens);
    sg_free(socks);
    sg_free(it);
    sg_free(out);
    return n / ((t1 - t0) / 1e6);
}

static int
s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* (3): a fixed 5,000 messages/s for `secs`; latencies in microseconds. */
static void
s_latency(void *ctx, const char *ep, int rate, int secs, double *p50,
          double *p99, double *pmax)
{
    long n = (long)rate * secs, sent = 0, got = 0;
    uint64_t *t_sent = sg_calloc((size_t)n, sizeof(uint64_t));
    uint64_t *lat = sg_calloc((size_t)n, sizeof(uint64_t));
    size_t *lens = sg_calloc((size_t)n, sizeof(size_t));
    uint8_t **envs = sg_calloc((size_t)n, sizeof(uint8_t *));
    void *sock = s_dealer(ctx, ep);
    uint64_t t0, corr, period_us = 1000000u / (uint64_t)rate;

    for (long i = 0; i < n; i++)
        envs[i] = s_env(&lens[i]);
    t0 = sg_clock_mono_us();
    while (got < n) {
        uint64_t now = sg_clock_mono_us();
        /* Open loop: send what is due by the schedule, whatever the
         * replies do (a closed loop would hide queueing delay). */
        while (sent < n && t0 + (uint64_t)sent * period_us <= now) {
            t_sent[sent] = sg_clock_mono_us();
            s_send(sock, (uint64_t)sent, envs[sent], lens[sent]);
            sent++;
        }
        uint64_t next = sent < n ? t0 + (uint64_t)sent * period_us : now + 10000;
        long wait_ms = next > now ? (long)((next - now) / 1000) : 0;
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, wait_ms) > 0) {
            for (;;) {
                int ev;
                size_t evl = sizeof(ev);
                zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &evl);
                if (!(ev & ZMQ_POLLIN))
                    break;
                s_recv(sock, &corr);
                if (corr < (uint64_t)n)
                    lat[got++] = sg_clock_mono_us() - t_sent[corr];
            }
        }
    }
    qsort(lat, (size_t)n, sizeof(uint64_t), s_cmp);
    *p50 = lat[n / 2] / 1000.0;
    *p99 = lat[(size_t)(n * 99 / 100)] / 1000.0;
    *pmax = lat[n - 1] / 1000.0;
    zmq_close(sock);
    for (long i = 0; i < n; i++)
        sg_free(envs[i]);
    sg_free(envs);
    sg_free(lens);
    sg_free(t_sent);
    sg_free(lat);
}

/* Start stirgate-store in `dir` and wait until it answers STATS. */
static pid_t
s_start_store(void *ctx, const char *store, const char *dir, const char *ep)
{
    char db[700], run[700];
    pid_t pid;
    uint8_t vf[4], hdr[16];

    snprintf(db, sizeof(db), "%s/db", dir);
    snprintf(run, sizeof(run), "%s/run", dir);
    pid = fork();
    if (pid == 0) {
        /* Its log (one info line per message) goes to /dev/null: the
         * lines are still formatted and written, the cost is counted. */
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(127);
        execl(store, store, "--dir", db, "--run-dir", run, "--map-size",
              "512M", "--map-max", "4G", (char *)NULL);
        _exit(127);
    }
    void *s = s_dealer(ctx, ep);
    uint64_t deadline = sg_clock_mono_ms() + 10000;
    proto_wire_version_frame(vf);
    proto_wire_header(hdr, PROTO_CMD_STATS, 1, 0);
    while (sg_clock_mono_ms() < deadline) {
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        zmq_send(s, vf, 4, ZMQ_SNDMORE);
        zmq_send(s, hdr, 16, ZMQ_SNDMORE);
        zmq_send(s, "", 0, 0);
        if (zmq_poll(&it, 1, 200) > 0) {
            uint64_t c;
            s_recv(s, &c);
            zmq_close(s);
            return pid;
        }
    }
    sg_panic("store did not start");
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
    char tmpl[] = "/tmp/sg-bench-store-XXXXXX", path[600], ep[700], store[700];
    const char *store_arg = NULL;
    long n = 200000, refused = 0;
    int senders = 16, window = 64, json = 0, single_n = 2000;
    double single, rate, p50, p99, pmax;
    void *ctx;
    pid_t pid;
    int st;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            store_arg = argv[++i];
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = atol(argv[++i]);
        else if (strcmp(argv[i], "--senders") == 0 && i + 1 < argc)
            senders = atoi(argv[++i]);
        else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc)
            window = atoi(argv[++i]);
        else {
            fputs("usage: bench_store [--store PATH] [--json] [--n N] "
                  "[--senders S] [--window W]\n",
                  stderr);
            return 2;
        }
    }
    if (store_arg == NULL) {
        /* Next to this binary: BUILD/bench/bench_store -> BUILD/store. */
        ssize_t k = readlink("/proc/self/exe", path, sizeof(path) - 1);
        if (k < 0)
            return 2;
        path[k] = '\0';
        *strrchr(path, '/') = '\0';
        snprintf(store, sizeof(store), "%s/../store/stirgate-store", path);
        store_arg = store;
    }
    if (mkdtemp(tmpl) == NULL)
        return 2;
    snprintf(path, sizeof(path), "%s/single", tmpl);
    mkdir(path, 0700);
    single = s_lmdb_single(path, single_n);

    ctx = zmq_ctx_new();
    snprintf(path, sizeof(path), "%s/store", tmpl);
    mkdir(path, 0700);
    snprintf(ep, sizeof(ep), "ipc://%s/run/store.sock", path);
    pid = s_start_store(ctx, store_arg, path, ep);
    rate = s_throughput(ctx, ep, n, senders, window, &refused);
    s_latency(ctx, ep, 5000, 3, &p50, &p99, &pmax);
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    zmq_ctx_term(ctx);
    snprintf(path, sizeof(path), "rm -rf '%s'", tmpl);
    if (system(path) != 0) {
        /* a temp dir left behind */
    }
    if (json) {
        printf("{\"lmdb_single_commit_per_s\":%.0f,\"store_rate_per_s\":%.0f,"
               "\"ratio\":%.1f,\"senders\":%d,\"window\":%d,\"messages\":%ld,"
               "\"refused\":%ld,\"latency_5k_ms\":{\"p50\":%.3f,\"p99\":%.3f,"
               "\"max\":%.3f}}\n",
               single, rate, rate / single, senders, window, n, refused, p50,
               p99, pmax);
    } else {
        printf("(1) LMDB durable commit, 1 record/txn: %10.0f records/s\n",
               single);
        printf("(2) STORE->STORED, %d senders x %d window: %10.0f msgs/s "
               "(%ld msgs, %ld refused)\n",
               senders, window, rate, n, refused);
        printf("    ratio (2)/(1): %.1fx\n", rate / single);
        printf("(3) latency at 5,000 msgs/s: p50 %.3f ms, p99 %.3f ms, "
               "max %.3f ms\n",
               p50, p99, pmax);
    }
    return 0;
}
