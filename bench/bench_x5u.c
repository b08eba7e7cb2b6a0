/*
 * bench/bench_x5u.c - what the x5u cache costs (not a test; build with
 * mode=release for real numbers).
 *
 *   bench_x5u [--json] [--seconds S] [--rounds N]
 *
 * Single thread for the verifier; a loopback HTTPS repository runs in other
 * threads (OpenSSL, a thread per connection; keep-alive unless the path
 * starts with /close/).
 *   offline      verify_passport with a fixed chain built once (the CLI's
 *                --chain)
 *   cached       verify_passport with verify_x5u_cache_chain_fn, the chain
 *                already in the cache; target >= 0.95 of offline
 *   cold fetch   a new cache, one lookup over loopback HTTPS, chain built,
 *                broken down against a bare OpenSSL client with the same
 *                TLS settings (same CA file, ALPN, peer and address check):
 *                  bare handshake H   TCP connect + TLS handshake
 *                  bare transfer  T   GET to the last body byte
 *                  chain build    B   PEM parse + path validation alone
 *                  fetch overhead O = cold total - H - B - T: what the
 *                                 fetch machinery (curl set-up, its TLS
 *                                 context, CA file, callbacks, copies)
 *                                 adds; target O <= H
 *                and the server's count of handshakes per cold fetch (1)
 *   running      one long-lived cache, a new URL each time: on a kept-alive
 *                connection (no handshake at all), and on a repository that
 *                closes after each response (a handshake each time, the
 *                TLS session resumed)
 *   dead host    the async API from one loop: 99% of tokens name a cached
 *                x5u, 1% a host that accepts TCP and never answers;
 *                throughput of the whole stream against the all-cached
 *                stream; target >= 0.90
 * Each rate is the best of N rounds (default 3) of S seconds (default 2).
 */
#include "lib/sg.h"
#include "lib/sg_log.h"
#include "proto/proto_tn.h"
#include "verify/verify_cert.h"
#include "verify/verify_key.h"
#include "verify/verify_passport.h"
#include "verify/verify_pki.h"
#include "verify/verify_x5u.h"
#include "verify/verify_x5u_cache.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_CACHED_TARGET 0.95
#define S_DEAD_TARGET 0.90
#define S_BATCH 32
#define S_COLD_N 30

int main(int argc, char **argv);

static double
s_now(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the loopback repository ---------------------------------------- */

typedef struct {
    int lfd;
    int port;
    SSL_CTX *ctx;
    char *body;
    size_t body_len;
    atomic_int handshakes;
    atomic_int resumed;
    atomic_int live; /* connection threads running */
    atomic_int stop;
} s_repo_t;

typedef struct {
    s_repo_t *r;
    int fd;
} s_conn_t;

/* One connection: requests until the client leaves, or one request when
 * its path starts with /close/ (answered with Connection: close). */
static void *
s_repo_conn(void *arg) {
    s_conn_t *c = arg;
    s_repo_t *r = c->r;
    SSL *ssl = SSL_new(r->ctx);
    char req[4096], resp[8192];
    int close_after = 0, one = 1;

    /* As nginx does on keep-alive connections: without it, a response
     * written behind the unacknowledged session tickets waits for the
     * client's delayed ACK (40 ms). */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL_set_fd(ssl, c->fd);
    if (SSL_accept(ssl) == 1) {
        atomic_fetch_add(&r->handshakes, 1);
        if (SSL_session_reused(ssl))
            atomic_fetch_add(&r->resumed, 1);
        while (!close_after && !atomic_load(&r->stop)) {
            size_t got = 0;
            while (got < sizeof(req) - 1) {
                int k = SSL_read(ssl, req + got, (int)(sizeof(req) - 1 - got));
                if (k <= 0)
                    break;
                got += (size_t)k;
                req[got] = '\0';
                if (strstr(req, "\r\n\r\n") != NULL)
                    break;
            }
            if (got == 0 || strncmp(req, "GET ", 4) != 0)
                break;
            close_after = strncmp(req + 4, "/close/", 7) == 0;
            int n = snprintf(resp, sizeof(resp),
                             "HTTP/1.1 200 OK\r\nContent-Type: "
                             "application/pem-certificate-chain\r\n"
                             "Cache-Control: max-age=86400\r\n"
                             "Content-Length: %zu\r\n%s\r\n",
                             r->body_len,
                             close_after ? "Connection: close\r\n" : "");
            /* One write, one record, as a real server does. */
            if ((size_t)n + r->body_len > sizeof(resp))
                sg_panic("bench body too large");
            memcpy(resp + n, r->body, r->body_len);
            if (SSL_write(ssl, resp, n + (int)r->body_len) <= 0)
                break;
        }
        SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(c->fd);
    free(c);
    atomic_fetch_sub(&r->live, 1);
    return NULL;
}

static void *
s_repo_run(void *arg) {
    s_repo_t *r = arg;

    while (!atomic_load(&r->stop)) {
        int fd = accept(r->lfd, NULL, NULL);
        s_conn_t *c;
        pthread_t th;

        if (fd < 0)
            continue;
        c = malloc(sizeof(*c));
        c->r = r;
        c->fd = fd;
        atomic_fetch_add(&r->live, 1);
        if (pthread_create(&th, NULL, s_repo_conn, c) != 0)
            sg_panic("pthread_create");
        pthread_detach(th);
    }
    return NULL;
}

/* A self-signed TLS certificate for IP 127.0.0.1, written to `ca_path`
 * for --x5u-tls-ca. */
static SSL_CTX *
s_tls_ctx(const char *ca_path) {
    EVP_PKEY *key = verify_pki_keygen();
    X509 *x = X509_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    FILE *f;

    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, key, EVP_sha256());
    SSL_CTX_use_certificate(ctx, x);
    SSL_CTX_use_PrivateKey(ctx, key);
    f = fopen(ca_path, "w");
    if (f == NULL)
        sg_panic("cannot write %s", ca_path);
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
}

static int
s_listen(int *port) {
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        sg_panic("cannot listen on 127.0.0.1");
    *port = ntohs(sa.sin_port);
    return fd;
}

/*
 * A bare client with libcurl's TLS settings: the same CA file, a full
 * handshake each time (no session kept), the ALPN libcurl offers, the
 * peer's certificate and its address checked.  The unit a cold fetch is
 * measured against: the best handshake (TCP connect + TLS) and,
 * separately, the best transfer (GET to the last body byte) of `n`.
 */
static void
s_bare(int port, const char *ca_path, size_t body_len, int n, double *hs_us,
       double *xfer_us) {
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char req[160];
    int reqlen = snprintf(req, sizeof(req),
                          "GET /close/chain.pem HTTP/1.1\r\nHost: "
                          "127.0.0.1:%d\r\nUser-Agent: stirgate\r\n"
                          "Accept: application/pem-certificate-chain\r\n\r\n",
                          port);

    *hs_us = *xfer_us = 1e9;
    if (SSL_CTX_load_verify_locations(ctx, ca_path, NULL) != 1)
        sg_panic("cannot load %s", ca_path);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    for (int i = 0; i < n; i++) {
        struct sockaddr_in sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        double t0 = s_now(), t1, t2;
        char buf[8192];
        size_t got = 0, want = 0;
        SSL *ssl;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            sg_panic("connect to the repository failed");
        ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
        if (SSL_connect(ssl) != 1)
            sg_panic("TLS handshake with the repository failed");
        t1 = s_now();
        if (SSL_write(ssl, req, reqlen) != reqlen)
            sg_panic("bare request failed");
        while (want == 0 || got < want) {
            int k = SSL_read(ssl, buf + got, (int)(sizeof(buf) - 1 - got));
            char *eoh;
            if (k <= 0)
                sg_panic("bare response truncated");
            got += (size_t)k;
            buf[got] = '\0';
            if (want == 0 && (eoh = strstr(buf, "\r\n\r\n")) != NULL)
                want = (size_t)(eoh + 4 - buf) + body_len;
        }
        t2 = s_now();
        if ((t1 - t0) * 1e6 < *hs_us)
            *hs_us = (t1 - t0) * 1e6;
        if ((t2 - t1) * 1e6 < *xfer_us)
            *xfer_us = (t2 - t1) * 1e6;
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
    }
    SSL_CTX_free(ctx);
}

/* ---- verification ---------------------------------------------------- */

typedef struct s_msg s_msg_t;

typedef struct {
    verify_trust_t *trust;
    verify_chain_t *chain;
    char *tok_good, *tok_dead;
    int64_t iat;
    verify_x5u_cache_t *cache;
    char url_good[128], url_dead[128];
    long verified, failed;
    s_msg_t *waiting; /* messages whose chain is on its way */
} s_bench_t;

static proto_reason
s_fixed(void *arg, const char *x5u, verify_chain_t **chain) {
    s_bench_t *b = arg;

    *chain = b->chain;
    return REASON_OK;
}

/* One verify of `tok` with chains from `fn`. */
static proto_reason
s_verify(s_bench_t *b, const char *tok, verify_chain_fn fn, void *arg) {
    verify_ctx_t ctx;
    verify_input_t in;
    verify_result_t res;
    proto_reason r;

    memset(&ctx, 0, sizeof(ctx));
    ctx.trust = b->trust;
    ctx.get_chain = fn;
    ctx.get_chain_arg = arg;
    ctx.fresh.max_age = 60;
    ctx.fresh.max_future = 10;
    memset(&in, 0, sizeof(in));
    in.token = tok;
    in.token_len = strlen(tok);
    in.now = b->iat;
    memset(&res, 0, sizeof(res));
    r = verify_passport(&ctx, &in, &res);
    verify_result_clear(&res);
    return r;
}

typedef double (*s_round_fn)(s_bench_t *b, double secs);

static double
s_round_offline(s_bench_t *b, double secs) {
    double t0 = s_now(), t;
    long n = 0;

    do {
        for (int i = 0; i < S_BATCH; i++)
            if (s_verify(b, b->tok_good, s_fixed, b) != REASON_OK)
                sg_panic("offline verify failed");
        n += S_BATCH;
        t = s_now() - t0;
    } while (t < secs);
    return (double)n / t;
}

static double
s_round_cached(s_bench_t *b, double secs) {
    double t0 = s_now(), t;
    long n = 0;

    do {
        for (int i = 0; i < S_BATCH; i++)
            if (s_verify(b, b->tok_good, verify_x5u_cache_chain_fn, b->cache) !=
                REASON_OK)
                sg_panic("cached verify failed");
        n += S_BATCH;
        t = s_now() - t0;
    } while (t < secs);
    return (double)n / t;
}

/* The async loop: the chain arrives either at once or in a callback; the
 * verify itself then runs with that chain. */
struct s_msg {
    s_bench_t *b;
    const char *tok;
    s_msg_t *prev, *next;
};

typedef struct {
    verify_chain_t *chain;
    proto_reason reason;
} s_given_t;

static proto_reason
s_given(void *arg, const char *x5u, verify_chain_t **chain) {
    s_given_t *g = arg;

    *chain = g->chain;
    return g->reason;
}

static void
s_finish(s_bench_t *b, const char *tok, const verify_x5u_result_t *res) {
    s_given_t g = {res->chain, res->reason};

    if (s_verify(b, tok, s_given, &g) == REASON_OK)
        b->verified++;
    else
        b->failed++;
}

static void
s_on_chain(void *arg, const char *url, const verify_x5u_result_t *res) {
    s_msg_t *m = arg;

    if (m->prev != NULL)
        m->prev->next = m->next;
    else
        m->b->waiting = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    s_finish(m->b, m->tok, res);
    free(m);
}

/* `dead_every` = 0: all cached; 100: one token in 100 names the dead
 * host.  Returns completed verifications (valid or not) per second. */
static double
s_round_stream(s_bench_t *b, double secs, int dead_every) {
    double t0 = s_now(), t;
    long n = 0;

    b->verified = b->failed = 0;
    do {
        for (int i = 0; i < S_BATCH; i++, n++) {
            int dead = dead_every && n % dead_every == dead_every - 1;
            const char *url = dead ? b->url_dead : b->url_good;
            const char *tok = dead ? b->tok_dead : b->tok_good;
            s_msg_t *m = malloc(sizeof(*m));
            verify_x5u_result_t res;

            m->b = b;
            m->tok = tok;
            if (verify_x5u_cache_get(b->cache, url, s_on_chain, m, &res)) {
                s_finish(b, tok, &res);
                free(m);
            } else {
                m->prev = NULL;
                m->next = b->waiting;
                if (b->waiting != NULL)
                    b->waiting->prev = m;
                b->waiting = m;
            }
        }
        /* The loop's poll: never blocks, runs the fetcher. */
        struct pollfd fds[64];
        size_t k = verify_x5u_cache_fds(b->cache, fds, 64);
        if (k > 64)
            k = 64;
        if (poll(fds, k, 0) >= 0)
            verify_x5u_cache_perform(b->cache, fds, k);
        t = s_now() - t0;
    } while (t < secs);
    return (double)(b->verified + b->failed) / t;
}

static double
s_best(s_bench_t *b, s_round_fn fn, double secs, int rounds) {
    double best = 0;

    for (int i = 0; i < rounds; i++) {
        double r = fn(b, secs);
        if (r > best)
            best = r;
    }
    return best;
}

static double
s_best_stream(s_bench_t *b, double secs, int rounds, int dead_every) {
    double best = 0;

    for (int i = 0; i < rounds; i++) {
        double r = s_round_stream(b, secs, dead_every);
        if (r > best)
            best = r;
    }
    return best;
}

static verify_x5u_cache_t *
s_cache(s_bench_t *b, const char *ca_path) {
    verify_x5u_cache_opts o;

    memset(&o, 0, sizeof(o));
    o.policy.allow_loopback = 1;
    o.policy.tls_ca = ca_path;
    o.trust = b->trust;
    return verify_x5u_cache_new(&o);
}

int
main(int argc, char **argv) {
    double secs = 2.0;
    int rounds = 3, json = 0;
    s_repo_t repo;
    pthread_t th;
    s_bench_t b;
    char ca_path[] = "/tmp/sg-bench-x5u-XXXXXX";
    int dead_port, dead_fd, tmpfd;
    EVP_PKEY *rk, *ik, *lk;
    X509 *root, *inter, *leaf;
    verify_pki_cert_opts c;
    uint8_t tn[64];
    size_t tnlen;
    char *rpem, *ipem, *lpem, why[256];
    verify_key_t *signer;
    const char *kwhy;
    proto_ident_t orig, dest;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_x5u [--json] [--seconds S] "
                            "[--rounds N]\n");
            return 2;
        }
    }
    /* The repository thread writes to clients that hung up. */
    signal(SIGPIPE, SIG_IGN);
    /* Relaxation and fetch lines would drown the figures. */
    sg_log_init("bench_x5u", SG_LOG_ERROR);
    memset(&b, 0, sizeof(b));
    b.iat = (int64_t)time(NULL);

    /* The STIR PKI: root (trusted), intermediate, leaf. */
    rk = verify_pki_keygen();
    ik = verify_pki_keygen();
    lk = verify_pki_keygen();
    memset(&c, 0, sizeof(c));
    c.cn = "bench root";
    c.is_ca = 1;
    c.not_before = b.iat - 86400;
    c.not_after = b.iat + 3650 * 86400LL;
    root = verify_pki_cert(&c, rk, NULL, NULL);
    c.cn = "bench intermediate";
    inter = verify_pki_cert(&c, ik, root, rk);
    c.cn = "bench signer";
    c.is_ca = 0;
    c.not_after = b.iat + 365 * 86400LL;
    tnlen =
        verify_pki_tnauth_der(NULL, "12025550000", 10000, NULL, tn, sizeof(tn));
    c.tnauth_der = tn;
    c.tnauth_len = tnlen;
    leaf = verify_pki_cert(&c, lk, inter, ik);
    if (root == NULL || inter == NULL || leaf == NULL)
        sg_panic("cannot make the bench PKI");
    rpem = verify_pki_cert_pem(root);
    ipem = verify_pki_cert_pem(inter);
    lpem = verify_pki_cert_pem(leaf);
    b.trust = verify_trust_new();
    if (verify_trust_add_ca_pem(b.trust, rpem, strlen(rpem), why,
                                sizeof(why)) != SG_OK)
        sg_panic("trust: %s", why);

    /* The repository. */
    memset(&repo, 0, sizeof(repo));
    repo.body_len = strlen(lpem) + strlen(ipem);
    repo.body = sg_malloc(repo.body_len + 1);
    strcpy(repo.body, lpem);
    strcat(repo.body, ipem);
    tmpfd = mkstemp(ca_path);
    if (tmpfd < 0)
        sg_panic("mkstemp");
    close(tmpfd);
    repo.ctx = s_tls_ctx(ca_path);
    repo.lfd = s_listen(&repo.port);
    pthread_create(&th, NULL, s_repo_run, &repo);
    /* The host that never answers: listens, never accepts, never reads. */
    dead_fd = s_listen(&dead_port);

    snprintf(b.url_good, sizeof(b.url_good), "https://127.0.0.1:%d/chain.pem",
             repo.port);
    snprintf(b.url_dead, sizeof(b.url_dead), "https://127.0.0.1:%d/dead.pem",
             dead_port);
    if (verify_chain_build(b.trust, repo.body, repo.body_len, &b.chain, why,
                           sizeof(why)) != REASON_OK)
        sg_panic("chain: %s", why);
    signer = verify_key_from_pkey(lk, &kwhy);
    memset(&orig, 0, sizeof(orig));
    orig.kind = PROTO_IDENT_TN;
    strcpy(orig.value, "12025550001");
    dest = orig;
    strcpy(dest.value, "12025551234");
    b.tok_good = verify_sign_passport(signer, b.url_good, NULL, &orig, &dest, 1,
                                      b.iat, NULL, 0);
    b.tok_dead = verify_sign_passport(signer, b.url_dead, NULL, &orig, &dest, 1,
                                      b.iat, NULL, 0);
    if (b.tok_good == NULL || b.tok_dead == NULL)
        sg_panic("cannot sign the bench tokens");

    /*
     * Cold fetch: a new cache (so a new fetcher: no CA store, no TLS
     * session, no connection) each time, one lookup, chain built.  Every
     * figure is the best of S_COLD_N; the overhead is computed from the
     * bests, so it can only come out too high.
     */
    double hs_us, xfer_us, cold_best = 1e9, build_best = 1e9;
    int hs_before, hs_per_fetch;
    s_bare(repo.port, ca_path, repo.body_len, S_COLD_N, &hs_us, &xfer_us);
    hs_before = atomic_load(&repo.handshakes);
    for (int i = 0; i < S_COLD_N; i++) {
        verify_x5u_cache_t *cache = s_cache(&b, ca_path);
        verify_chain_t *ch = NULL;
        double t0 = s_now(), t;
        if (verify_x5u_cache_chain_fn(cache, b.url_good, &ch) != REASON_OK)
            sg_panic("cold fetch failed: %s",
                     verify_x5u_cache_last_detail(cache));
        t = (s_now() - t0) * 1e6;
        if (t < cold_best)
            cold_best = t;
        verify_x5u_cache_destroy(&cache);
    }
    hs_per_fetch = (atomic_load(&repo.handshakes) - hs_before) / S_COLD_N;
    for (int i = 0; i < S_COLD_N; i++) {
        verify_chain_t *ch = NULL;
        double t0 = s_now(), t;
        (void)verify_chain_build(b.trust, repo.body, repo.body_len, &ch, why,
                                 sizeof(why));
        t = (s_now() - t0) * 1e6;
        if (t < build_best)
            build_best = t;
        verify_chain_destroy(&ch);
    }
    double overhead = cold_best - hs_us - build_best - xfer_us;
    int overhead_ok = overhead <= hs_us;

    /*
     * The same in a running gateway: one long-lived cache, a new URL each
     * time (the first only opens the connection).  "ka": the repository
     * keeps the connection, so no handshake at all; "close": it closes
     * after each response, so a handshake each time, the TLS session
     * resumed.
     */
    double ka_best = 1e9, close_best = 1e9;
    int ka_hs = 0, close_hs = 0, close_resumed = 0;
    for (int pass = 0; pass < 2; pass++) {
        verify_x5u_cache_t *cache = s_cache(&b, ca_path);
        int h0 = atomic_load(&repo.handshakes);
        int r0 = atomic_load(&repo.resumed);
        double *best = pass == 0 ? &ka_best : &close_best;
        for (int i = 0; i <= S_COLD_N; i++) {
            char url[160];
            verify_chain_t *ch = NULL;
            double t0 = s_now(), t;
            snprintf(url, sizeof(url), "https://127.0.0.1:%d/%s/c%d.pem",
                     repo.port, pass == 0 ? "ka" : "close", i);
            if (verify_x5u_cache_chain_fn(cache, url, &ch) != REASON_OK)
                sg_panic("running-cache fetch failed");
            t = (s_now() - t0) * 1e6;
            if (i > 0 && t < *best)
                *best = t;
        }
        verify_x5u_cache_destroy(&cache);
        if (pass == 0) {
            ka_hs = atomic_load(&repo.handshakes) - h0;
        } else {
            close_hs = atomic_load(&repo.handshakes) - h0;
            close_resumed = atomic_load(&repo.resumed) - r0;
        }
    }

    /* Steady state: one cache, warmed. */
    b.cache = s_cache(&b, ca_path);
    {
        verify_chain_t *ch = NULL;
        if (verify_x5u_cache_chain_fn(b.cache, b.url_good, &ch) != REASON_OK)
            sg_panic("warm-up fetch failed");
    }
    double offline = s_best(&b, s_round_offline, secs, rounds);
    double cached = s_best(&b, s_round_cached, secs, rounds);
    /* The dead host's lookups pile up behind one fetch, which times out
     * (5 s by default) and is then cached negatively; the stream around
     * it must not slow down.  Rounds alternate with all-cached rounds so
     * both see the same machine load; the first dead rounds run while
     * the fetch is in flight. */
    double stream_all = 0, stream_dead = 0;
    for (int i = 0; i < rounds; i++) {
        double a = s_best_stream(&b, secs, 1, 0);
        double d = s_best_stream(&b, secs, 1, 100);
        if (a > stream_all)
            stream_all = a;
        if (d > stream_dead)
            stream_dead = d;
    }
    const verify_x5u_stats_t *st = verify_x5u_cache_stats(b.cache);
    double r_cached = cached / offline, r_dead = stream_dead / stream_all;

    if (json) {
        printf("{\"offline_verify_per_s\":%.0f,\"cached_verify_per_s\":%.0f,"
               "\"cached_ratio\":%.3f,\"cached_target\":%.2f,"
               "\"cold_fetch_us\":%.0f,\"tls_handshake_us\":%.0f,"
               "\"transfer_us\":%.0f,\"chain_build_us\":%.0f,"
               "\"fetch_overhead_us\":%.0f,\"fetch_overhead_ok\":%s,"
               "\"cold_over_handshake\":%.2f,\"handshakes_per_cold_fetch\":%d,"
               "\"cold_fetch_warm_fetcher_us\":%.0f,"
               "\"warm_fetcher_handshakes\":%d,\"warm_fetcher_resumed\":%d,"
               "\"cold_fetch_kept_connection_us\":%.0f,"
               "\"kept_connection_handshakes\":%d,\"urls_per_pass\":%d,"
               "\"stream_all_cached_per_s\":%.0f,"
               "\"stream_1pct_dead_per_s\":%.0f,\"dead_ratio\":%.3f,"
               "\"dead_target\":%.2f,\"dead_fetches_started\":%llu,"
               "\"dead_lookups_joined\":%llu}\n",
               offline, cached, r_cached, S_CACHED_TARGET, cold_best, hs_us,
               xfer_us, build_best, overhead, overhead_ok ? "true" : "false",
               cold_best / hs_us, hs_per_fetch, close_best, close_hs,
               close_resumed, ka_best, ka_hs, S_COLD_N + 1, stream_all,
               stream_dead, r_dead, S_DEAD_TARGET,
               (unsigned long long)(st->misses - 1),
               (unsigned long long)st->joined);
    } else {
        printf("offline --chain verify     %10.0f /s\n", offline);
        printf("cached x5u verify          %10.0f /s   ratio %.3f "
               "(target >= %.2f) %s\n",
               cached, r_cached, S_CACHED_TARGET,
               r_cached >= S_CACHED_TARGET ? "ok" : "BELOW");
        printf("bare TLS handshake         %10.0f us   H: connect + TLS 1.3, "
               "same CA file and checks\n",
               hs_us);
        printf("bare transfer              %10.0f us   T: GET to the last "
               "byte of %zu\n",
               xfer_us, repo.body_len);
        printf("cold fetch (new cache)     %10.0f us   %.2f handshakes' "
               "time; %d handshake(s) per fetch\n",
               cold_best, cold_best / hs_us, hs_per_fetch);
        printf("  of which chain build     %10.0f us   B: PEM parse + "
               "validation, measured alone\n",
               build_best);
        printf("  fetch overhead           %10.0f us   total - H - B - T; "
               "target <= one handshake: %s\n",
               overhead, overhead_ok ? "PASS" : "BELOW");
        printf("cold URL, running cache    %10.0f us   %.2f handshakes' "
               "time; server closes: %d handshakes for %d URLs, %d "
               "resumed\n",
               close_best, close_best / hs_us, close_hs, S_COLD_N + 1,
               close_resumed);
        printf("cold URL, kept connection  %10.0f us   %.2f handshakes' "
               "time; %d handshake(s) for %d URLs\n",
               ka_best, ka_best / hs_us, ka_hs, S_COLD_N + 1);
        printf("stream, all cached         %10.0f /s\n", stream_all);
        printf("stream, 1%% to a dead host  %10.0f /s   ratio %.3f "
               "(target >= %.2f) %s\n",
               stream_dead, r_dead, S_DEAD_TARGET,
               r_dead >= S_DEAD_TARGET ? "ok" : "BELOW");
        printf("dead host: %llu fetch started, %llu lookups joined it\n",
               (unsigned long long)(st->misses - 1),
               (unsigned long long)st->joined);
    }

    verify_x5u_cache_destroy(&b.cache);
    /* Lookups still waiting on the dead host were dropped with the cache,
     * callbacks and all. */
    while (b.waiting != NULL) {
        s_msg_t *m = b.waiting;
        b.waiting = m->next;
        free(m);
    }
    atomic_store(&repo.stop, 1);
    shutdown(repo.lfd, SHUT_RDWR);
    close(repo.lfd);
    /* accept() may not return on a closed socket: poke it once. */
    {
        struct sockaddr_in sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)repo.port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        (void)connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
    }
    pthread_join(th, NULL);
    /* Every client is gone, so each connection thread ends on its own:
     * wait for them before freeing what they use. */
    for (int i = 0; i < 5000 && atomic_load(&repo.live) > 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (atomic_load(&repo.live) > 0)
        sg_panic("repository connections still open");
    close(dead_fd);
    unlink(ca_path);
    SSL_CTX_free(repo.ctx);
    sg_free(repo.body);
    free(b.tok_good);
    free(b.tok_dead);
    verify_key_destroy(&signer);
    verify_chain_destroy(&b.chain);
    verify_trust_destroy(&b.trust);
    free(rpem);
    free(ipem);
    free(lpem);
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(lk);
    return 0;
}
