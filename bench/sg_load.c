/*
 * bench/sg_load.c - the load generator for a running gateway.  Not a
 * test: it prints figures and asserts nothing about speed.
 *
 *   sg_load --to HOST:PORT --src IP (--key SIGNER.key --x5u URL |
 *           --certs N --ca PKIDIR --x5u-base URL --seed-x5u DIR)
 *           [--transport udp|tcp|http] [--count N] [--rate R]
 *           [--window W] [--ports P] [--bodylen B | --bodymin B
 *           --bodymax B] [--customer-src IP --customer-pct P]
 *           [--invalid-pct P] [--sink IP:PORT] [--http-sink IP:PORT]
 *           [--drain S] [--run-dir DIR] [--pid PID]... [--label TEXT]
 *           [--json FILE] [--timeline FILE] [--pki FILE [--prepare-only]]
 *
 * What it sends, all prepared before the clock starts (signing is the
 * sender's cost, not the gateway's):
 *
 *   verified  from an interconnect (--src), with its own PASSporT (full
 *             form, ppt msg, msgi over the body), signed with one of
 *             --certs leaf certificates (or the one --key);
 *   signed    (--customer-pct) from a customer (--customer-src), no
 *             Identity: the gateway signs it;
 *   tampered, stale  (--invalid-pct, half each) verified messages whose
 *             body was changed after signing, or whose iat is 10 minutes
 *             old: the gateway must refuse both.
 *
 * Bodies are uniform in --bodymin..--bodymax bytes (160..4096 gives the
 * issue's mix).  With --certs N, an intermediate under PKIDIR's demo root
 * (`stirgate pki demo`: ca.pem, ca.key) signs N leaf certificates; the
 * chain of leaf k is at --x5u-base "<run nonce>/c<k>.pem" (new URLs for
 * every run, as the keys are new), and is written into the
 * gateway's x5u cache directory (--seed-x5u, node.data_dir/x5u) in the
 * cache's own file format (verify_x5u_cache.h), so nothing is fetched:
 * the gateway reads each file on its first miss and validates the chain
 * against verify.trust, as after a restart.  --pki FILE keeps the
 * leaves (URL, chain, key) in FILE: made and saved when FILE does not
 * exist, else read back (and seeded again), so that several runs, or a
 * gateway started after `--prepare-only` seeded its directory, share
 * one set of certificates.
 *
 * Transports: udp (--ports sockets, each its own source port, so the
 * kernel's SO_REUSEPORT hash spreads them over the ingest processes; a
 * request without a final answer is retransmitted like a SIP client
 * would, 500 ms doubling, 5 times), tcp (--ports connections, requests
 * pipelined), http (POST /v1/messages over --ports keep-alive
 * connections, one request outstanding on each; peers are recognized by
 * source address).  At a fixed --rate, or as fast as --window
 * outstanding requests allow (--rate 0).
 *
 * Sinks: --sink, a SIP UAS on a UDP address answering 200 to every
 * MESSAGE; --http-sink, a webhook receiver answering 200 to every POST.
 * Both time send -> delivery; the run then waits (up to --drain seconds)
 * until every accepted message has been delivered and counts losses and
 * duplicates: a message delivered twice must carry the same Call-ID (SIP)
 * or message id (webhook) both times (the gateway's at-least-once
 * contract).
 *
 * Reported (and written as JSON with --json): accepted and delivered
 * messages/s, time to 202 and send -> delivery (p50/p90/p99/p99.9/max),
 * every answer by message kind and status code, the unexpected ones
 * (a valid message not accepted, an invalid one accepted or delivered),
 * the CPU each gateway process used per accepted message and its peak
 * and current resident memory (--run-dir DIR reads every
 * DIR/stage-*.pid, or --pid), and the raw OpenSSL ECDSA P-256 verify
 * rate of one core measured in the same run, so figures from a busy
 * machine can be read against what the machine could do then.
 */
#include "lib/sg.h"
#include "lib/sg_clock.h"
#include "lib/sg_rand.h"
#include "proto/proto_identity.h"
#include "proto/proto_tn.h"
#include "verify/verify_key.h"
#include "verify/verify_passport.h"
#include "verify/verify_pki.h"
#include "verify/verify_x5u_cache.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_PROCS_MAX 160
#define S_RTX_MAX 5
#define S_T1_US 500000ull
#define S_GIVEUP_US 32000000ull /* Timer F; stream transports give up then */
#define S_BATCH 64
#define S_DGRAM 65536
#define S_CODES 700
#define S_SINKS_MAX 1024

/* epoll tags: the top 32 bits say what, the low ones which. */
#define S_EV_CONN 0ull
#define S_EV_UAS 1ull
#define S_EV_HLISTEN 2ull
#define S_EV_HSINK 3ull

enum { S_UDP, S_TCP, S_HTTP };
enum { K_VERIFIED, K_SIGNED, K_TAMPERED, K_STALE, K_N };
static const char *const s_kind_name[K_N] = {"verified", "signed", "tampered",
                                             "stale"};

typedef struct {
    char *msg;
    size_t len;
    int kind;
    int conn;          /* index of the sending socket / connection */
    uint64_t sent_us;  /* first send */
    uint64_t next_rtx; /* 0 = answered or given up */
    int tries;
    int code; /* final answer, 0 = none yet */
    uint64_t ans_us;
    uint64_t dlv_us;  /* first delivery */
    uint64_t dlv_cid; /* hash of its Call-ID or message id */
    int ndlv;
} s_req;

typedef struct {
    char name[64];
    int pid;
    unsigned long long t0, t1;
    long hwm_kb, rss_kb, anon_kb; /* anon: heap and stacks, not mapped files */
} s_proc;

/* A byte buffer of a stream connection. */
typedef struct {
    char *p;
    size_t len, cap;
} s_buf;

typedef struct {
    int fd;
    int group; /* 0 interconnect, 1 customer */
    long busy; /* http: the request outstanding, -1 none */
    int want_out;
    s_buf in, out;
} s_conn;

typedef struct {
    int fd;
    s_buf in, out;
} s_hsink;

typedef struct {
    /* options */
    const char *to, *src, *csrc, *keyf, *x5u, *sink, *hsink, *run_dir;
    const char *label, *json, *timeline, *orig_s, *dest_s, *ca_dir, *x5u_base;
    const char *seed_dir, *transport_s, *pki_file;
    int prepare_only;
    long count, rate, window, bodymin, bodymax, nports, drain_s, ncerts;
    long customer_pct, invalid_pct;
    int transport;
    /* state */
    char nonce[17];
    s_req *reqs;
    s_conn *conns;
    int nconns;
    int ep, uasfd, hlfd;
    s_hsink *hs[S_SINKS_MAX];
    long sent, answered, ok, other, unanswered, rtx;
    long delivered, dups_same, dups_other, dlv_unknown, dlv_not_accepted;
    long codes[K_N][S_CODES];
    s_proc procs[S_PROCS_MAX];
    int nprocs;
    uint8_t *rbuf;
    struct mmsghdr *mm;
    struct iovec *iov;
    struct sockaddr_storage *addrs;
    char *obuf;
} s_load;

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t
s_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

/* utime + stime of a process, in clock ticks; 0 when unreadable. */
static unsigned long long
s_cpu_ticks(int pid)
{
    char path[64], buf[2048];
    unsigned long long ut = 0, st = 0;
    FILE *f;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) == NULL) {
        fclose(f);
        return 0;
    }
    fclose(f);
    /* Fields after the ")" of the command name: 14th and 15th overall. */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return 0;
    return ut + st;
}

/* Every RUN/stage-NAME.pid: the gateway's processes. */
static void
s_procs_from_run_dir(s_load *L)
{
    DIR *d = opendir(L->run_dir);
    struct dirent *e;

    if (d == NULL) {
        fprintf(stderr, "%s: %s\n", L->run_dir, strerror(errno));
        return;
    }
    while ((e = readdir(d)) != NULL && L->nprocs < S_PROCS_MAX) {
        size_t n = strlen(e->d_name);
        char path[4096];
        FILE *f;
        int pid;

        if (strncmp(e->d_name, "stage-", 6) != 0 || n < 11 ||
            strcmp(e->d_name + n - 4, ".pid") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", L->run_dir, e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        if (fscanf(f, "%d", &pid) == 1 && pid > 0) {
            s_proc *p = &L->procs[L->nprocs++];
            snprintf(p->name, sizeof(p->name), "%.*s", (int)(n - 10),
                     e->d_name + 6);
            p->pid = pid;
        }
        fclose(f);
    }
    closedir(d);
}

/* Raw ECDSA P-256 verifies per second on this core (pre-hashed). */
static double
s_raw_verify_rate(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    EVP_PKEY_CTX *sc = EVP_PKEY_CTX_new(k, NULL);
    EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new(k, NULL);
    uint8_t dgst[32] = {1, 2, 3}, sig[80];
    size_t siglen = sizeof(sig);
    uint64_t t0, n = 0;
    double rate;

    if (k == NULL || sc == NULL || vc == NULL || EVP_PKEY_sign_init(sc) != 1 ||
        EVP_PKEY_sign(sc, sig, &siglen, dgst, 32) != 1 ||
        EVP_PKEY_verify_init(vc) != 1)
        sg_panic("OpenSSL setup failed");
    t0 = sg_clock_mono_us();
    while (sg_clock_mono_us() - t0 < 1000000) {
        for (int i = 0; i < 100; i++)
            if (EVP_PKEY_verify(vc, sig, siglen, dgst, 32) != 1)
                sg_panic("verify failed");
        n += 100;
    }
    rate = (double)n * 1e6 / (double)(sg_clock_mono_us() - t0);
    EVP_PKEY_CTX_free(sc);
    EVP_PKEY_CTX_free(vc);
    EVP_PKEY_free(k);
    return rate;
}

static int
s_addr(const char *spec, struct sockaddr_in *sa)
{
    char host[64];
    int port;

    memset(sa, 0, sizeof(*sa));
    if (sscanf(spec, "%63[^:]:%d", host, &port) != 2 || port < 0 ||
        port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

static int
s_udp_socket(const struct sockaddr_in *bind_to, const struct sockaddr_in *peer)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int sz = 4 << 20;

    if (fd < 0)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    if (bind(fd, (const struct sockaddr *)bind_to, sizeof(*bind_to)) != 0 ||
        (peer &&
         connect(fd, (const struct sockaddr *)peer, sizeof(*peer)) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* VmHWM and VmRSS of a process, in kB; -1 when unreadable. */
static void
s_mem_kb(int pid, long *hwm, long *rss, long *anon)
{
    char path[64], line[256];
    FILE *f;

    *hwm = *rss = *anon = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if ((f = fopen(path, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm = atol(line + 6);
        else if (strncmp(line, "VmRSS:", 6) == 0)
            *rss = atol(line + 6);
        else if (strncmp(line, "RssAnon:", 8) == 0)
            *anon = atol(line + 8);
    }
    fclose(f);
}

static void
s_buf_add(s_buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 8192;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = sg_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
s_buf_drop(s_buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

/* Read what a stream has into `b`; -1 when it closed or failed. */
static int
s_buf_read(int fd, s_buf *b)
{
    char tmp[65536];

    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n > 0) {
            s_buf_add(b, tmp, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        return -1;
    }
}

/* Write what `b` holds; -1 on a broken stream. */
static int
s_buf_flush(int fd, s_buf *b)
{
    while (b->len > 0) {
        ssize_t n = write(fd, b->p, b->len);
        if (n > 0) {
            s_buf_drop(b, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        return -1;
    }
    return 0;
}

/*
 * One complete HTTP or SIP message at the start of `b`: its size (header
 * and Content-Length body), or 0 while incomplete.  *body is where the
 * body starts.
 */
static size_t
s_frame(const s_buf *b, const char **body, size_t *blen)
{
    const char *e, *p;
    size_t hl, cl = 0;

    if (b->len == 0 || (e = strstr(b->p, "\r\n\r\n")) == NULL)
        return 0;
    hl = (size_t)(e - b->p) + 4;
    for (p = b->p; p < e && (p = strstr(p, "\r\n")) != NULL && p < e;) {
        p += 2;
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            cl = (size_t)atol(p + 15);
        else if (strncmp(p, "l:", 2) == 0)
            cl = (size_t)atol(p + 2);
    }
    if (b->len < hl + cl)
        return 0;
    *body = b->p + hl;
    *blen = cl;
    return hl + cl;
}

/* ---- the PKI ------------------------------------------------------------- */

/* Is `url`'s chain already in the directory (a --pki run again)? */
static int
s_seeded(const char *dir, const char *url)
{
    char path[4096];

    verify_x5u_cache_path(dir, url, 0, path, sizeof(path));
    return access(path, R_OK) == 0;
}

/* Write one chain into the gateway's x5u cache directory, in the cache's
 * file format, under the name the cache looks for. */
static int
s_seed(const char *dir, const char *url, const char *pem, int64_t now)
{
    verify_x5u_record_t r;
    uint8_t *buf;
    char path[4096], tmp[4200];
    size_t n;
    FILE *f;

    verify_x5u_cache_path(dir, url, 0, path, sizeof(path));
    memset(&r, 0, sizeof(r));
    r.url = url;
    r.url_len = strlen(url);
    r.fetched_at = now;
    r.expires_at = now + 86400;
    r.http_status = 200;
    r.content_type = "application/pem-certificate-chain";
    r.content_type_len = strlen(r.content_type);
    r.ttl_why = "seeded by sg_load";
    r.ttl_why_len = strlen(r.ttl_why);
    r.body = (const uint8_t *)pem;
    r.body_len = strlen(pem);
    if ((buf = verify_x5u_record_encode(&r, &n)) == NULL)
        return -1;
    /* The temporary name: the final one with a leading dot. */
    snprintf(tmp, sizeof(tmp), "%s/.sg_load-%s", dir, strrchr(path, '/') + 1);
    if ((f = fopen(tmp, "w")) == NULL || fwrite(buf, 1, n, f) != n ||
        fclose(f) != 0 || rename(tmp, path) != 0) {
        perror(tmp);
        sg_free(buf);
        return -1;
    }
    sg_free(buf);
    return 0;
}

static void *
s_pem_read(const char *dir, const char *name, int key)
{
    char path[4096];
    FILE *f;
    void *x;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "r")) == NULL) {
        perror(path);
        return NULL;
    }
    x = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
            : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

/*
 * --pki FILE, read side: "url URL" lines, each followed by the chain
 * (leaf, intermediate) and the leaf's key in PEM.  0, or -1 when FILE
 * does not exist or does not hold ncerts leaves.
 */
static int
s_pki_load(s_load *L, verify_key_t **keys, char **x5us)
{
    FILE *f = fopen(L->pki_file, "r");
    int64_t now = (int64_t)time(NULL);
    char line[2300];
    long k = 0;

    if (f == NULL)
        return -1;
    for (; k < L->ncerts && fgets(line, sizeof(line), f) != NULL; k++) {
        X509 *leaf = NULL, *inter = NULL;
        EVP_PKEY *lk = NULL;
        char *lpem = NULL, *ipem = NULL, *chain;
        const char *why;
        size_t n;

        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "url ", 4) != 0 ||
            (leaf = PEM_read_X509(f, NULL, NULL, NULL)) == NULL ||
            (inter = PEM_read_X509(f, NULL, NULL, NULL)) == NULL ||
            (lk = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL ||
            (lpem = verify_pki_cert_pem(leaf)) == NULL ||
            (ipem = verify_pki_cert_pem(inter)) == NULL ||
            (keys[k] = verify_key_from_pkey(lk, &why)) == NULL) {
            X509_free(leaf);
            X509_free(inter);
            EVP_PKEY_free(lk);
            sg_free(lpem);
            sg_free(ipem);
            break;
        }
        x5us[k] = sg_strdup(line + 4);
        n = strlen(lpem) + strlen(ipem) + 1;
        chain = sg_malloc(n);
        snprintf(chain, n, "%s%s", lpem, ipem);
        if (!s_seeded(L->seed_dir, x5us[k]) &&
            s_seed(L->seed_dir, x5us[k], chain, now) != 0)
            k = -2; /* stop: fails below */
        sg_free(chain);
        sg_free(lpem);
        sg_free(ipem);
        X509_free(leaf);
        X509_free(inter);
        EVP_PKEY_free(lk);
        if (k < 0)
            break;
    }
    fclose(f);
    ERR_clear_error();
    if (k != L->ncerts) {
        fprintf(stderr, "sg_load: %s: does not hold %ld usable leaves\n",
                L->pki_file, L->ncerts);
        exit(2);
    }
    return 0;
}

/*
 * --certs N: an intermediate under the demo root, N leaves under it, each
 * chain seeded into the cache directory.  keys[k] signs with x5us[k].
 */
static int
s_make_pki(s_load *L, verify_key_t **keys, char **x5us)
{
    X509 *ca = s_pem_read(L->ca_dir, "ca.pem", 0), *inter = NULL;
    EVP_PKEY *ca_key = s_pem_read(L->ca_dir, "ca.key", 1), *ik = NULL;
    verify_pki_cert_opts co;
    uint8_t tnauth[512];
    size_t tnlen;
    int64_t now = (int64_t)time(NULL);
    char *ipem = NULL;
    int rc = -1;
    FILE *save = NULL;

    if (L->pki_file != NULL && s_pki_load(L, keys, x5us) == 0) {
        X509_free(ca);
        EVP_PKEY_free(ca_key);
        return 0;
    }
    if (ca == NULL || ca_key == NULL)
        goto out;
    if (L->pki_file != NULL && (save = fopen(L->pki_file, "w")) == NULL) {
        perror(L->pki_file);
        goto out;
    }
    tnlen = verify_pki_tnauth_der(NULL, "12025550000", 10000, NULL, tnauth,
                                  sizeof(tnauth));
    ik = verify_pki_keygen();
    memset(&co, 0, sizeof(co));
    co.cn = "sg_load intermediate";
    co.is_ca = 1;
    co.not_before = now - 3600;
    co.not_after = now + 7 * 86400;
    if ((inter = verify_pki_cert(&co, ik, ca, ca_key)) == NULL ||
        (ipem = verify_pki_cert_pem(inter)) == NULL)
        goto out;
    for (long k = 0; k < L->ncerts; k++) {
        EVP_PKEY *lk = verify_pki_keygen();
        char cn[64], *lpem, *chain, url[2048];
        const char *why;
        X509 *leaf;
        size_t n;

        snprintf(cn, sizeof(cn), "sg_load leaf %ld", k);
        memset(&co, 0, sizeof(co));
        co.cn = cn;
        co.not_before = now - 3600;
        co.not_after = now + 7 * 86400;
        co.tnauth_der = tnauth;
        co.tnauth_len = tnlen;
        if ((leaf = verify_pki_cert(&co, lk, inter, ik)) == NULL ||
            (lpem = verify_pki_cert_pem(leaf)) == NULL)
            goto out;
        n = strlen(lpem) + strlen(ipem) + 1;
        chain = sg_malloc(n);
        snprintf(chain, n, "%s%s", lpem, ipem);
        snprintf(url, sizeof(url), "%s%s/c%ld.pem", L->x5u_base, L->nonce, k);
        x5us[k] = sg_strdup(url);
        keys[k] = verify_key_from_pkey(lk, &why);
        if (keys[k] == NULL || s_seed(L->seed_dir, url, chain, now) != 0) {
            fprintf(stderr, "sg_load: leaf %ld: %s\n", k,
                    keys[k] ? "cannot seed" : why);
            goto out;
        }
        if (save != NULL &&
            (fprintf(save, "url %s\n%s", url, chain) < 0 ||
             !PEM_write_PrivateKey(save, lk, NULL, NULL, 0, NULL, NULL))) {
            perror(L->pki_file);
            goto out;
        }
        sg_free(chain);
        sg_free(lpem);
        X509_free(leaf);
        EVP_PKEY_free(lk);
    }
    rc = 0;
out:
    if (save != NULL && fclose(save) != 0)
        rc = -1;
    sg_free(ipem);
    X509_free(ca);
    X509_free(inter);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(ik);
    return rc;
}

/* ---- the messages ------------------------------------------------------- */

/* What kind message i is: the first `warm` are verified (the warm-up). */
static int
s_kind(const s_load *L, long i, long warm, unsigned *seed)
{
    int x = (int)(rand_r(seed) % 100);

    if (i < warm)
        return K_VERIFIED;
    if (x < L->invalid_pct)
        return x % 2 ? K_TAMPERED : K_STALE;
    if (x < L->invalid_pct + L->customer_pct)
        return K_SIGNED;
    return K_VERIFIED;
}

static int
s_make(s_load *L, long warm)
{
    long nkeys = L->ncerts > 0 ? L->ncerts : 1;
    verify_key_t **keys = sg_calloc((size_t)nkeys, sizeof(*keys));
    char **x5us = sg_calloc((size_t)nkeys, sizeof(*x5us));
    const char *why;
    proto_ident_t orig, dest;
    char host[64];
    int64_t now = (int64_t)time(NULL);
    uint64_t t0 = sg_clock_mono_us();
    unsigned seed = 12345;
    int rc = -1, nc[2] = {0, 0}, rr[2] = {0, 0};

    if (proto_ident_parse(L->orig_s, strlen(L->orig_s), NULL, &orig) != NULL ||
        proto_ident_parse(L->dest_s, strlen(L->dest_s), NULL, &dest) != NULL) {
        fprintf(stderr, "bad --orig or --dest\n");
        goto out;
    }
    if (L->ncerts > 0) {
        if (s_make_pki(L, keys, x5us) != 0)
            goto out;
        if (L->prepare_only) {
            printf("sg_load: %ld leaves ready in %s, seeded into %s\n",
                   L->ncerts, L->pki_file, L->seed_dir);
            exit(0);
        }
        /* Reading or making many leaves takes a while: the PASSporTs'
         * iat is now, not when we started. */
        now = (int64_t)time(NULL);
    } else {
        if ((keys[0] = verify_key_from_file(L->keyf, &why)) == NULL) {
            fprintf(stderr, "%s: %s\n", L->keyf, why);
            goto out;
        }
        x5us[0] = sg_strdup(L->x5u);
    }
    for (int c = 0; c < L->nconns; c++)
        nc[L->conns[c].group]++;
    snprintf(host, sizeof(host), "%.*s", (int)strcspn(L->to, ":"), L->to);
    for (long i = 0; i < L->count; i++) {
        s_req *r = &L->reqs[i];
        long blen = L->bodymin, k = i % nkeys;
        char body[4200], *tok = NULL, *ident = NULL, *m;
        int bl, grp;
        size_t cap;

        r->kind = s_kind(L, i, warm, &seed);
        if (L->bodymax > L->bodymin)
            blen +=
                (long)(rand_r(&seed) % (unsigned)(L->bodymax - L->bodymin + 1));
        bl = snprintf(body, sizeof(body), "sg_load %s %ld ", L->nonce, i);
        memset(body + bl, 'x', (size_t)(blen - bl));
        body[blen] = '\0';
        if (r->kind != K_SIGNED) {
            tok = verify_sign_passport(keys[k], x5us[k], "msg", &orig, &dest, 1,
                                       r->kind == K_STALE ? now - 600 : now,
                                       (const uint8_t *)body, (size_t)blen);
            if (tok == NULL)
                goto out;
            ident = proto_identity_format(tok, x5us[k], "msg");
            if (r->kind == K_TAMPERED)
                body[blen - 1] = 'y';
        }
        /* The customer's messages leave from its own sockets; with none,
         * the kind falls back to verified (the mix is then stated). */
        grp = r->kind == K_SIGNED && nc[1] > 0;
        if (r->kind == K_SIGNED && !grp)
            r->kind = K_VERIFIED;
        do {
            r->conn = rr[grp]++ % L->nconns;
        } while (L->conns[r->conn].group != grp);
        cap = (size_t)blen + (ident ? strlen(ident) : 0) + 1024;
        m = sg_malloc(cap);
        if (L->transport == S_HTTP) {
            char json[8192 + 4200];
            int jl = snprintf(json, sizeof(json),
                              "{\"from\": \"+%s\", \"to\": \"+%s\", "
                              "\"body\": \"%s\"%s%s%s}",
                              L->orig_s, L->dest_s, body,
                              ident ? ", \"identity\": \"" : "",
                              ident ? ident : "", ident ? "\"" : "");
            r->len = (size_t)snprintf(m, cap,
                                      "POST /v1/messages HTTP/1.1\r\n"
                                      "Host: %s\r\n"
                                      "Content-Type: application/json\r\n"
                                      "Content-Length: %d\r\n\r\n%s",
                                      L->to, jl, json);
        } else {
            r->len = (size_t)snprintf(
                m, cap,
                "MESSAGE sip:+%s@%s SIP/2.0\r\n"
                "Via: SIP/2.0/%s %s:5060;branch=z9hG4bK-%s-%ld\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:+%s@%s>;tag=t%ld\r\n"
                "To: <sip:+%s@%s>\r\n"
                "Call-ID: sgl-%s-%ld\r\n"
                "CSeq: 1 MESSAGE\r\n"
                "%s%s%s"
                "Content-Type: text/plain\r\n"
                "Content-Length: %ld\r\n\r\n%s",
                L->dest_s, host, L->transport == S_TCP ? "TCP" : "UDP",
                grp ? L->csrc : L->src, L->nonce, i, L->orig_s,
                grp ? L->csrc : L->src, i, L->dest_s, host, L->nonce, i,
                ident ? "Identity: " : "", ident ? ident : "",
                ident ? "\r\n" : "", blen, body);
        }
        r->msg = m;
        sg_free(tok);
        sg_free(ident);
    }
    fprintf(stderr, "sg_load: prepared %ld messages in %.2f s\n", L->count,
            (double)(sg_clock_mono_us() - t0) / 1e6);
    rc = 0;
out:
    for (long k = 0; k < nkeys; k++) {
        verify_key_destroy(&keys[k]);
        sg_free(x5us[k]);
    }
    sg_free(keys);
    sg_free(x5us);
    return rc;
}

/* ---- sending and answers --------------------------------------------------
 */

static void
s_watch(s_load *L, int c)
{
    s_conn *k = &L->conns[c];
    int want = k->out.len > 0;
    struct epoll_event ev;

    if (want == k->want_out || k->fd < 0)
        return;
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
    ev.data.u64 = (S_EV_CONN << 32) | (uint64_t)c;
    epoll_ctl(L->ep, EPOLL_CTL_MOD, k->fd, &ev);
    k->want_out = want;
}

/* An idle HTTP connection of `group`, or -1. */
static int
s_idle_conn(s_load *L, int group)
{
    static int rot;

    for (int n = 0; n < L->nconns; n++) {
        int c = (rot + n) % L->nconns;
        if (L->conns[c].group == group && L->conns[c].busy < 0 &&
            L->conns[c].fd >= 0) {
            rot = c + 1;
            return c;
        }
    }
    return -1;
}

/* Send request i (again); -1 when HTTP has no idle connection for it. */
static int
s_send(s_load *L, long i, uint64_t now)
{
    s_req *r = &L->reqs[i];
    s_conn *c;

    if (L->transport == S_HTTP) {
        int k = s_idle_conn(L, L->conns[r->conn].group);
        if (k < 0)
            return -1;
        r->conn = k;
        L->conns[k].busy = i;
    }
    c = &L->conns[r->conn];
    if (L->transport == S_UDP) {
        if (send(c->fd, r->msg, r->len, 0) < 0 && errno != EAGAIN &&
            errno != ENOBUFS)
            perror("sg_load: send");
    } else if (c->fd >= 0) {
        s_buf_add(&c->out, r->msg, r->len);
        if (s_buf_flush(c->fd, &c->out) != 0)
            perror("sg_load: write");
        s_watch(L, r->conn);
    }
    if (r->tries == 0)
        r->sent_us = now;
    r->tries++;
    r->next_rtx = L->transport == S_UDP ? now + (S_T1_US << (r->tries - 1))
                                        : now + S_GIVEUP_US;
    return 0;
}

static void
s_answer(s_load *L, long i, int code, uint64_t now)
{
    s_req *r = &L->reqs[i];

    if (code < 200 || code >= S_CODES || r->code != 0)
        return;
    r->code = code;
    r->ans_us = now;
    r->next_rtx = 0;
    L->answered++;
    L->codes[r->kind][code]++;
    if (code == 202)
        L->ok++;
    else
        L->other++;
}

/* A final SIP response from the gateway (NUL-terminated). */
static void
s_on_response(s_load *L, const char *buf, size_t n, uint64_t now)
{
    const char *cid;
    char pfx[64];
    int k = snprintf(pfx, sizeof(pfx), "\r\nCall-ID: sgl-%s-", L->nonce);
    long i;

    if (n < 12 || strncmp(buf, "SIP/2.0 ", 8) != 0 || buf[8] == '1')
        return;
    if ((cid = strstr(buf, pfx)) == NULL)
        return;
    i = atol(cid + k);
    if (i >= 0 && i < L->count)
        s_answer(L, i, atoi(buf + 8), now);
}

/* Message i reached a sink, identified there by `id` (its Call-ID or its
 * message id). */
static void
s_delivered(s_load *L, long i, uint64_t id, uint64_t now)
{
    s_req *r = &L->reqs[i];

    if (r->ndlv++ == 0) {
        r->dlv_us = now;
        r->dlv_cid = id;
        L->delivered++;
        if (r->code != 202)
            L->dlv_not_accepted++;
    } else if (r->dlv_cid == id) {
        L->dups_same++;
    } else {
        L->dups_other++;
    }
}

/* Our index from a delivered body, or -1. */
static long
s_body_index(s_load *L, const char *body, size_t n)
{
    char pfx[40];
    int k = snprintf(pfx, sizeof(pfx), "sg_load %s ", L->nonce);
    const char *p = memmem(body, n, pfx, (size_t)k);
    long i;

    if (p == NULL)
        return -1;
    i = atol(p + k);
    return i >= 0 && i < L->count ? i : -1;
}

/* Header value of `name` (with its colon and a space), or NULL. */
static const char *
s_hdr(const char *buf, const char *name, size_t *len)
{
    const char *p = strstr(buf, name), *e;

    if (p == NULL)
        return NULL;
    p += strlen(name);
    e = strstr(p, "\r\n");
    if (e == NULL)
        return NULL;
    *len = (size_t)(e - p);
    return p;
}

/* A MESSAGE the gateway delivered to the UAS: answer 200, count it. */
static size_t
s_on_delivery(s_load *L, char *buf, size_t n, uint64_t now, char *out,
              size_t outsz)
{
    const char *via, *from, *to, *cid, *cseq, *body;
    size_t lv, lf, lt, lc, ls;
    int w;
    long i;

    if (strncmp(buf, "MESSAGE ", 8) != 0)
        return 0;
    if ((via = s_hdr(buf, "\r\nVia: ", &lv)) == NULL ||
        (from = s_hdr(buf, "\r\nFrom: ", &lf)) == NULL ||
        (to = s_hdr(buf, "\r\nTo: ", &lt)) == NULL ||
        (cid = s_hdr(buf, "\r\nCall-ID: ", &lc)) == NULL ||
        (cseq = s_hdr(buf, "\r\nCSeq: ", &ls)) == NULL)
        return 0;
    w = snprintf(out, outsz,
                 "SIP/2.0 200 OK\r\nVia: %.*s\r\nFrom: %.*s\r\n"
                 "To: %.*s;tag=uas\r\nCall-ID: %.*s\r\nCSeq: %.*s\r\n"
                 "Content-Length: 0\r\n\r\n",
                 (int)lv, via, (int)lf, from, (int)lt, to, (int)lc, cid,
                 (int)ls, cseq);
    if (w < 0 || (size_t)w >= outsz)
        return 0;
    body = strstr(buf, "\r\n\r\n");
    i = body ? s_body_index(L, body + 4, n - (size_t)(body + 4 - buf)) : -1;
    if (i < 0)
        L->dlv_unknown++;
    else
        s_delivered(L, i, s_hash(cid, lc), now);
    return (size_t)w;
}

/* Read what a UDP socket has: responses (sender) or MESSAGEs (UAS). */
static void
s_read_udp(s_load *L, int fd, int uas)
{
    for (;;) {
        int got;
        size_t nout = 0;
        struct mmsghdr smm[S_BATCH];
        struct iovec siov[S_BATCH];

        for (int i = 0; i < S_BATCH; i++) {
            memset(&L->mm[i].msg_hdr, 0, sizeof(L->mm[i].msg_hdr));
            L->iov[i].iov_base = L->rbuf + (size_t)i * (S_DGRAM + 1);
            L->iov[i].iov_len = S_DGRAM;
            L->mm[i].msg_hdr.msg_iov = &L->iov[i];
            L->mm[i].msg_hdr.msg_iovlen = 1;
            L->mm[i].msg_hdr.msg_name = &L->addrs[i];
            L->mm[i].msg_hdr.msg_namelen = sizeof(L->addrs[i]);
        }
        got = recvmmsg(fd, L->mm, S_BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0)
            return;
        uint64_t now = sg_clock_mono_us();
        for (int i = 0; i < got; i++) {
            char *b = L->iov[i].iov_base;
            b[L->mm[i].msg_len] = '\0';
            if (!uas) {
                s_on_response(L, b, L->mm[i].msg_len, now);
                continue;
            }
            size_t w = s_on_delivery(L, b, L->mm[i].msg_len, now,
                                     L->obuf + nout * 2048, 2048);
            if (w == 0)
                continue;
            memset(&smm[nout], 0, sizeof(smm[nout]));
            siov[nout].iov_base = L->obuf + nout * 2048;
            siov[nout].iov_len = w;
            smm[nout].msg_hdr.msg_iov = &siov[nout];
            smm[nout].msg_hdr.msg_iovlen = 1;
            smm[nout].msg_hdr.msg_name = &L->addrs[i];
            smm[nout].msg_hdr.msg_namelen = L->mm[i].msg_hdr.msg_namelen;
            nout++;
        }
        for (size_t d = 0; d < nout;) {
            int r = sendmmsg(fd, smm + d, (unsigned)(nout - d), 0);
            if (r <= 0)
                break;
            d += (size_t)r;
        }
        if (got < S_BATCH)
            return;
    }
}

/* A stream connection to the gateway: SIP responses or HTTP answers. */
static void
s_read_conn(s_load *L, int ci, uint32_t events)
{
    s_conn *c = &L->conns[ci];
    const char *body;
    size_t blen, n;
    int closed = 0;

    if (c->fd < 0)
        return;
    if (events & EPOLLOUT) {
        if (s_buf_flush(c->fd, &c->out) != 0)
            closed = 1;
        s_watch(L, ci);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        closed |= s_buf_read(c->fd, &c->in) != 0;
    uint64_t now = sg_clock_mono_us();
    while ((n = s_frame(&c->in, &body, &blen)) > 0) {
        char save = c->in.p[n];
        c->in.p[n] = '\0';
        if (L->transport == S_TCP) {
            s_on_response(L, c->in.p, n, now);
        } else if (strncmp(c->in.p, "HTTP/1.", 7) == 0 && c->busy >= 0) {
            s_answer(L, c->busy, atoi(c->in.p + 9), now);
            c->busy = -1;
        }
        c->in.p[n] = save;
        s_buf_drop(&c->in, n);
    }
    if (closed) {
        fprintf(stderr, "sg_load: connection %d closed by the gateway\n", ci);
        close(c->fd);
        c->fd = -1;
    }
}

/* ---- the webhook sink ------------------------------------------------------
 */

static void
s_hsink_accept(s_load *L)
{
    for (;;) {
        int fd = accept4(L->hlfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct epoll_event ev;
        int k;

        if (fd < 0)
            return;
        for (k = 0; k < S_SINKS_MAX && L->hs[k] != NULL; k++)
            ;
        if (k == S_SINKS_MAX) {
            close(fd);
            continue;
        }
        L->hs[k] = sg_calloc(1, sizeof(s_hsink));
        L->hs[k]->fd = fd;
        ev.events = EPOLLIN;
        ev.data.u64 = (S_EV_HSINK << 32) | (uint64_t)k;
        epoll_ctl(L->ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* One POST of the webhook: answer 200, count the message by its body,
 * tell duplicates apart by the gateway's message id. */
static void
s_hsink_read(s_load *L, int k)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    s_hsink *h = L->hs[k];
    const char *body, *id;
    size_t blen, n;
    int closed = s_buf_read(h->fd, &h->in) != 0;
    uint64_t now = sg_clock_mono_us();

    while ((n = s_frame(&h->in, &body, &blen)) > 0) {
        long i = s_body_index(L, body, blen);
        id = memmem(body, blen, "\"id\":\"", 6);
        if (i < 0)
            L->dlv_unknown++;
        else
            s_delivered(L, i, id ? s_hash(id + 6, 32) : 0, now);
        s_buf_add(&h->out, ok, sizeof(ok) - 1);
        s_buf_drop(&h->in, n);
    }
    /* Answers are tiny: a blocked write here means a dead client. */
    if (s_buf_flush(h->fd, &h->out) != 0 || h->out.len > 0)
        closed = 1;
    if (closed) {
        close(h->fd);
        sg_free(h->in.p);
        sg_free(h->out.p);
        sg_free(h);
        L->hs[k] = NULL;
    }
}

static void
s_dispatch(s_load *L, const struct epoll_event *e)
{
    uint64_t what = e->data.u64 >> 32;
    int idx = (int)(e->data.u64 & 0xffffffffu);

    if (what == S_EV_UAS)
        s_read_udp(L, L->uasfd, 1);
    else if (what == S_EV_HLISTEN)
        s_hsink_accept(L);
    else if (what == S_EV_HSINK)
        s_hsink_read(L, idx);
    else if (L->transport == S_UDP)
        s_read_udp(L, L->conns[idx].fd, 0);
    else
        s_read_conn(L, idx, e->events);
}

static void
s_poll(s_load *L, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(L->ep, evs, 256, timeout_ms);

    for (int k = 0; k < n; k++)
        s_dispatch(L, &evs[k]);
}

/* ---- the run ------------------------------------------------------------ */

static double
s_pct(const uint64_t *v, size_t n, double p)
{
    size_t k;

    if (n == 0)
        return 0;
    k = (size_t)((double)n * p);
    if (k >= n)
        k = n - 1;
    return (double)v[k] / 1000.0;
}

static double
s_cpu_self(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
s_usage(void)
{
    fputs("usage: sg_load --to HOST:PORT --src IP\n"
          "  (--key SIGNER.key --x5u URL | --certs N --ca PKIDIR\n"
          "   --x5u-base URL --seed-x5u DIR)\n"
          "  [--transport udp|tcp|http] [--count N]\n"
          "  [--rate R (0: as fast as --window allows)] [--window W]\n"
          "  [--ports P] [--bodylen B | --bodymin B --bodymax B]\n"
          "  [--orig TN] [--dest TN] [--customer-src IP --customer-pct P]\n"
          "  [--invalid-pct P] [--sink IP:PORT] [--http-sink IP:PORT]\n"
          "  [--drain S] [--run-dir DIR] [--pid PID]... [--label TEXT]\n"
          "  [--json FILE] [--timeline FILE] [--pki FILE [--prepare-only]]\n",
          stderr);
    exit(2);
}

static void
s_opts(s_load *L, int argc, char **argv)
{
    L->orig_s = "12025550001";
    L->dest_s = "12025551234";
    L->count = 20000;
    L->window = 2000;
    L->bodymin = L->bodymax = 160;
    L->nports = 32;
    L->drain_s = 60;
    L->label = "";
    L->transport_s = "udp";
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL && strcmp(a, "--prepare-only") != 0)
            s_usage();
        if (strcmp(a, "--to") == 0)
            L->to = v;
        else if (strcmp(a, "--src") == 0)
            L->src = v;
        else if (strcmp(a, "--customer-src") == 0)
            L->csrc = v;
        else if (strcmp(a, "--customer-pct") == 0)
            L->customer_pct = atol(v);
        else if (strcmp(a, "--invalid-pct") == 0)
            L->invalid_pct = atol(v);
        else if (strcmp(a, "--key") == 0)
            L->keyf = v;
        else if (strcmp(a, "--x5u") == 0)
            L->x5u = v;
        else if (strcmp(a, "--certs") == 0)
            L->ncerts = atol(v);
        else if (strcmp(a, "--ca") == 0)
            L->ca_dir = v;
        else if (strcmp(a, "--x5u-base") == 0)
            L->x5u_base = v;
        else if (strcmp(a, "--seed-x5u") == 0)
            L->seed_dir = v;
        else if (strcmp(a, "--transport") == 0)
            L->transport_s = v;
        else if (strcmp(a, "--orig") == 0)
            L->orig_s = v;
        else if (strcmp(a, "--dest") == 0)
            L->dest_s = v;
        else if (strcmp(a, "--count") == 0)
            L->count = atol(v);
        else if (strcmp(a, "--rate") == 0)
            L->rate = atol(v);
        else if (strcmp(a, "--window") == 0)
            L->window = atol(v);
        else if (strcmp(a, "--bodylen") == 0)
            L->bodymin = L->bodymax = atol(v);
        else if (strcmp(a, "--bodymin") == 0)
            L->bodymin = atol(v);
        else if (strcmp(a, "--bodymax") == 0)
            L->bodymax = atol(v);
        else if (strcmp(a, "--ports") == 0)
            L->nports = atol(v);
        else if (strcmp(a, "--sink") == 0)
            L->sink = v;
        else if (strcmp(a, "--http-sink") == 0)
            L->hsink = v;
        else if (strcmp(a, "--drain") == 0)
            L->drain_s = atol(v);
        else if (strcmp(a, "--run-dir") == 0)
            L->run_dir = v;
        else if (strcmp(a, "--label") == 0)
            L->label = v;
        else if (strcmp(a, "--json") == 0)
            L->json = v;
        else if (strcmp(a, "--timeline") == 0)
            L->timeline = v;
        else if (strcmp(a, "--pki") == 0)
            L->pki_file = v;
        else if (strcmp(a, "--prepare-only") == 0) {
            L->prepare_only = 1;
            i--; /* no value */
        }
        else if (strcmp(a, "--pid") == 0 && L->nprocs < S_PROCS_MAX) {
            s_proc *p = &L->procs[L->nprocs++];
            p->pid = atoi(v);
            snprintf(p->name, sizeof(p->name), "pid-%d", p->pid);
        } else
            s_usage();
    }
    L->transport = strcmp(L->transport_s, "tcp") == 0    ? S_TCP
                   : strcmp(L->transport_s, "http") == 0 ? S_HTTP
                   : strcmp(L->transport_s, "udp") == 0  ? S_UDP
                                                         : -1;
    if (!L->to || !L->src || L->transport < 0 || L->count < 2 ||
        L->bodymin < 40 || L->bodymax > 4096 || L->bodymax < L->bodymin ||
        L->window < 1 || L->nports < 1 || L->nports > 512 || L->rate < 0 ||
        L->customer_pct < 0 || L->invalid_pct < 0 ||
        L->customer_pct + L->invalid_pct > 100 || L->ncerts < 0 ||
        L->ncerts > 1000000)
        s_usage();
    if (L->ncerts > 0 ? !L->ca_dir || !L->x5u_base || !L->seed_dir
                      : !L->keyf || !L->x5u)
        s_usage();
    if (L->customer_pct > 0 && L->csrc == NULL)
        s_usage();
    if (L->prepare_only && (L->pki_file == NULL || L->ncerts == 0))
        s_usage();
}

/* The sockets or connections of one source address. */
static int
s_open_conns(s_load *L, const char *ip, int group,
             const struct sockaddr_in *dst)
{
    struct sockaddr_in me;
    struct epoll_event ev;
    int one = 1;

    memset(&me, 0, sizeof(me));
    me.sin_family = AF_INET;
    if (inet_pton(AF_INET, ip, &me.sin_addr) != 1)
        return -1;
    for (long i = 0; i < L->nports; i++) {
        s_conn *c = &L->conns[L->nconns];
        int fd;

        if (L->transport == S_UDP) {
            fd = s_udp_socket(&me, dst);
        } else {
            fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0 && (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0 ||
                            connect(fd, (const struct sockaddr *)dst,
                                    sizeof(*dst)) != 0)) {
                close(fd);
                fd = -1;
            }
            if (fd >= 0) {
                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                                 sizeof(one));
                (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            }
        }
        if (fd < 0) {
            fprintf(stderr, "sg_load: %s -> %s: %s\n", ip, L->to,
                    strerror(errno));
            return -1;
        }
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->group = group;
        c->busy = -1;
        ev.events = EPOLLIN;
        ev.data.u64 = (S_EV_CONN << 32) | (uint64_t)L->nconns;
        epoll_ctl(L->ep, EPOLL_CTL_ADD, fd, &ev);
        L->nconns++;
    }
    return 0;
}

static int
s_open_sinks(s_load *L)
{
    struct sockaddr_in sa;
    struct epoll_event ev;
    int one = 1;

    if (L->sink != NULL) {
        if (s_addr(L->sink, &sa) != 0 ||
            (L->uasfd = s_udp_socket(&sa, NULL)) < 0) {
            fprintf(stderr, "sg_load: --sink %s: cannot bind\n", L->sink);
            return -1;
        }
        ev.events = EPOLLIN;
        ev.data.u64 = S_EV_UAS << 32;
        epoll_ctl(L->ep, EPOLL_CTL_ADD, L->uasfd, &ev);
    }
    if (L->hsink != NULL) {
        L->hlfd =
            socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        (void)setsockopt(L->hlfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (s_addr(L->hsink, &sa) != 0 || L->hlfd < 0 ||
            bind(L->hlfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            listen(L->hlfd, 256) != 0) {
            fprintf(stderr, "sg_load: --http-sink %s: cannot listen\n",
                    L->hsink);
            return -1;
        }
        ev.events = EPOLLIN;
        ev.data.u64 = S_EV_HLISTEN << 32;
        epoll_ctl(L->ep, EPOLL_CTL_ADD, L->hlfd, &ev);
    }
    return 0;
}

/* Retransmissions (UDP Timer A) and give-ups of requests [*scan, next),
 * oldest first; returns how many were given up. */
static long
s_timers(s_load *L, long *scan, long next, uint64_t now)
{
    long gave_up = 0;

    while (*scan < next && L->reqs[*scan].next_rtx == 0)
        (*scan)++;
    for (long i = *scan; i < next && i < *scan + 4096; i++) {
        s_req *r = &L->reqs[i];
        if (r->next_rtx == 0 || r->next_rtx > now)
            continue;
        if (L->transport != S_UDP || r->tries > S_RTX_MAX) {
            r->next_rtx = 0;
            L->unanswered++;
            gave_up++;
            if (L->transport == S_HTTP && L->conns[r->conn].busy == i) {
                /* No answer on a keep-alive connection: it is lost. */
                close(L->conns[r->conn].fd);
                L->conns[r->conn].fd = -1;
            }
            continue;
        }
        L->rtx++;
        (void)s_send(L, i, now);
    }
    return gave_up;
}

/* Warm-up: the first message alone, then `warm` more so that every
 * certificate is loaded and every connection used; their deliveries too,
 * so the timed part starts clean.  0, or -1 when the gateway refused. */
static int
s_warm_up(s_load *L, long warm)
{
    uint64_t t0 = sg_clock_mono_us();
    long scan = 0, next = 1;

    (void)s_send(L, 0, t0);
    while (L->reqs[0].code == 0 && sg_clock_mono_us() - t0 < 20000000) {
        s_poll(L, 50);
        s_timers(L, &scan, 1, sg_clock_mono_us());
    }
    if (L->reqs[0].code != 202) {
        fprintf(stderr, "sg_load: warm-up message answered %d, not 202\n",
                L->reqs[0].code);
        return -1;
    }
    while (next < warm && sg_clock_mono_us() - t0 < 60000000) {
        if (next - L->answered - L->unanswered < L->window &&
            s_send(L, next, sg_clock_mono_us()) == 0) {
            next++;
            continue;
        }
        s_poll(L, 5);
        s_timers(L, &scan, next, sg_clock_mono_us());
    }
    L->sent = next;
    while (L->answered + L->unanswered < L->sent &&
           sg_clock_mono_us() - t0 < 90000000) {
        s_poll(L, 50);
        s_timers(L, &scan, next, sg_clock_mono_us());
    }
    while ((L->sink || L->hsink) && L->delivered < L->ok &&
           sg_clock_mono_us() - t0 < 120000000)
        s_poll(L, 50);
    return 0;
}

static void
s_json_pct(FILE *f, const char *name, const uint64_t *v, size_t n)
{
    fprintf(f,
            "\"%s\": {\"n\": %zu, \"p50\": %.3f, \"p90\": %.3f, "
            "\"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}",
            name, n, s_pct(v, n, 0.5), s_pct(v, n, 0.9), s_pct(v, n, 0.99),
            s_pct(v, n, 0.999), n ? (double)v[n - 1] / 1000.0 : 0.0);
}

int main(int argc, char **argv);

/*
 * --timeline FILE: per 100 ms of send time, the messages sent, answered
 * 202, and the largest send->202 time among them (ms), as CSV.  Shows
 * whether a latency tail is spread over the run or one stall.
 */
static void
s_timeline(const s_load *L, const char *path, long warm, uint64_t t0)
{
    FILE *f = fopen(path, "w");
    size_t nb = 0;
    long *sent, *ok;
    uint64_t *mx;

    if (f == NULL) {
        perror(path);
        return;
    }
    for (long i = warm; i < L->count; i++)
        if (L->reqs[i].sent_us >= t0 &&
            (size_t)((L->reqs[i].sent_us - t0) / 100000) + 1 > nb)
            nb = (size_t)((L->reqs[i].sent_us - t0) / 100000) + 1;
    sent = sg_calloc(nb + 1, sizeof(*sent));
    ok = sg_calloc(nb + 1, sizeof(*ok));
    mx = sg_calloc(nb + 1, sizeof(*mx));
    for (long i = warm; i < L->count; i++) {
        const s_req *r = &L->reqs[i];
        size_t b;
        if (r->sent_us < t0)
            continue;
        b = (size_t)((r->sent_us - t0) / 100000);
        sent[b]++;
        if (r->code == 202) {
            ok[b]++;
            if (r->ans_us - r->sent_us > mx[b])
                mx[b] = r->ans_us - r->sent_us;
        }
    }
    fprintf(f, "t_s,sent,ok,max_ms\n");
    for (size_t b = 0; b < nb; b++)
        fprintf(f, "%.1f,%ld,%ld,%.2f\n", (double)b / 10.0, sent[b], ok[b],
                (double)mx[b] / 1000.0);
    fclose(f);
    sg_free(sent);
    sg_free(ok);
    sg_free(mx);
}

int
main(int argc, char **argv)
{
    s_load L;
    struct sockaddr_in dst;
    uint64_t t0, t_acc = 0, t_end, deadline;
    uint8_t rnd[8];
    long next, outstanding = 0, warm, scan;
    double self0, self1, secs;

    memset(&L, 0, sizeof(L));
    s_opts(&L, argc, argv);
    sg_rand_bytes(rnd, sizeof(rnd));
    for (int i = 0; i < 8; i++)
        snprintf(L.nonce + 2 * i, 3, "%02x", rnd[i]);
    L.reqs = sg_calloc((size_t)L.count, sizeof(*L.reqs));
    L.conns = sg_calloc((size_t)L.nports * 2, sizeof(*L.conns));
    L.rbuf = sg_malloc((size_t)S_BATCH * (S_DGRAM + 1));
    L.mm = sg_calloc(S_BATCH, sizeof(*L.mm));
    L.iov = sg_calloc(S_BATCH, sizeof(*L.iov));
    L.addrs = sg_calloc(S_BATCH, sizeof(*L.addrs));
    L.obuf = sg_malloc(S_BATCH * 2048);
    L.uasfd = L.hlfd = -1;
    L.ep = epoll_create1(EPOLL_CLOEXEC);
    if (L.transport == S_HTTP && L.window > L.nports)
        L.window = L.nports; /* one request outstanding per connection */
    if (s_addr(L.to, &dst) != 0) {
        fprintf(stderr, "sg_load: bad --to\n");
        return 2;
    }
    if (s_open_sinks(&L) != 0 || s_open_conns(&L, L.src, 0, &dst) != 0 ||
        (L.csrc != NULL && s_open_conns(&L, L.csrc, 1, &dst) != 0))
        return 2;
    warm = (L.ncerts > L.nports ? L.ncerts : L.nports) + 1;
    if (warm > L.count / 2)
        warm = L.count / 2;
    if (s_make(&L, warm) != 0)
        return 2;
    if (s_warm_up(&L, warm) != 0)
        return 1;
    long warm_ok = L.ok, warm_dlv = L.delivered, warm_ans = L.answered;
    long warm_un = L.unanswered;

    if (L.run_dir != NULL)
        s_procs_from_run_dir(&L);
    for (int i = 0; i < L.nprocs; i++)
        L.procs[i].t0 = s_cpu_ticks(L.procs[i].pid);
    self0 = s_cpu_self();
    memset(L.codes, 0, sizeof(L.codes));
    L.other = 0;

    /* The timed part. */
    t0 = sg_clock_mono_us();
    deadline = t0 + 900000000ull;
    next = L.sent;
    scan = warm;
    for (;;) {
        uint64_t now = sg_clock_mono_us();
        int timeout = 5;
        long before = L.answered + L.unanswered;

        while (next < L.count && outstanding < L.window) {
            if (L.rate > 0 && now - t0 < (uint64_t)((double)(next - warm) *
                                                    1e6 / (double)L.rate)) {
                timeout = 1;
                break;
            }
            if (s_send(&L, next, now) != 0)
                break;
            next++;
            outstanding++;
            L.sent++;
        }
        s_poll(&L, timeout);
        now = sg_clock_mono_us();
        s_timers(&L, &scan, next, now);
        outstanding -= L.answered + L.unanswered - before;
        if (L.answered + L.unanswered >= L.count) {
            if (t_acc == 0)
                t_acc = now;
            if ((L.sink == NULL && L.hsink == NULL) || L.delivered >= L.ok ||
                now - t_acc > (uint64_t)L.drain_s * 1000000)
                break;
        }
        if (now > deadline)
            break;
    }
    t_end = sg_clock_mono_us();
    for (int i = 0; i < L.nprocs; i++) {
        L.procs[i].t1 = s_cpu_ticks(L.procs[i].pid);
        s_mem_kb(L.procs[i].pid, &L.procs[i].hwm_kb, &L.procs[i].rss_kb,
                 &L.procs[i].anon_kb);
    }
    self1 = s_cpu_self();

    /* Figures. */
    long n_ok = L.ok - warm_ok, n_dlv = L.delivered - warm_dlv;
    long n_ans = L.answered - warm_ans, n_un = L.unanswered - warm_un;
    long n = L.count - warm, unexpected = 0, invalid_dlv = 0;
    uint64_t *lat = sg_calloc((size_t)L.count, sizeof(uint64_t));
    uint64_t *dl = sg_calloc((size_t)L.count, sizeof(uint64_t));
    size_t nl = 0, nd = 0;
    uint64_t last_ans = t0, last_dlv = t0;
    long lost = 0, kinds[K_N] = {0};
    int sinks = L.sink != NULL || L.hsink != NULL;

    for (long i = warm; i < L.count; i++) {
        s_req *r = &L.reqs[i];
        int valid = r->kind == K_VERIFIED || r->kind == K_SIGNED;
        kinds[r->kind]++;
        if (r->code != 0 && (valid ? r->code != 202 : r->code == 202))
            unexpected++;
        if (!valid && r->ndlv > 0)
            invalid_dlv++;
        if (r->code == 202) {
            lat[nl++] = r->ans_us - r->sent_us;
            if (r->ans_us > last_ans)
                last_ans = r->ans_us;
            if (sinks && r->ndlv == 0)
                lost++;
        }
        if (r->ndlv > 0) {
            dl[nd++] = r->dlv_us - r->sent_us;
            if (r->dlv_us > last_dlv)
                last_dlv = r->dlv_us;
        }
    }
    if (L.timeline != NULL)
        s_timeline(&L, L.timeline, warm, t0);
    qsort(lat, nl, sizeof(*lat), s_cmp_u64);
    qsort(dl, nd, sizeof(*dl), s_cmp_u64);
    secs = (double)(last_ans - t0) / 1e6;
    double dsecs = (double)(last_dlv - t0) / 1e6;
    double hz = (double)sysconf(_SC_CLK_TCK), cpu = 0;
    double raw = s_raw_verify_rate();
    double acc_s = secs > 0 ? (double)n_ok / secs : 0.0;
    double dlv_s = dsecs > 0 ? (double)n_dlv / dsecs : 0.0;

    for (int i = 0; i < L.nprocs; i++)
        cpu += (double)(L.procs[i].t1 - L.procs[i].t0) / hz;

    printf("sg_load %s (%s)\n", L.label, L.transport_s);
    printf("messages        %ld sent (+%ld warm-up): %ld verified, %ld "
           "signed, %ld tampered, %ld stale; bodies %ld..%ld B; %ld "
           "certificates\n",
           n, warm, kinds[K_VERIFIED], kinds[K_SIGNED], kinds[K_TAMPERED],
           kinds[K_STALE], L.bodymin, L.bodymax, L.ncerts > 0 ? L.ncerts : 1);
    printf("answers         %ld x 202, %ld other, %ld unanswered, %ld "
           "retransmissions, %ld unexpected\n",
           n_ok, n_ans - n_ok, n_un, L.rtx, unexpected);
    for (int k = 0; k < K_N; k++)
        for (int c = 0; c < S_CODES; c++)
            if (L.codes[k][c] > 0)
                printf("  %-9s %d  %ld\n", s_kind_name[k], c, L.codes[k][c]);
    if (L.rate > 0)
        printf("offered         %ld msg/s (fixed)\n", L.rate);
    else
        printf("offered         as fast as %ld outstanding allow\n", L.window);
    printf("accepted        %.0f msg/s over %.2f s\n", acc_s, secs);
    printf("time to 202     p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max "
           "%.2f ms\n",
           s_pct(lat, nl, 0.5), s_pct(lat, nl, 0.9), s_pct(lat, nl, 0.99),
           s_pct(lat, nl, 0.999), nl ? (double)lat[nl - 1] / 1000.0 : 0.0);
    if (sinks) {
        printf("delivered       %.0f msg/s (%ld over %.2f s)\n", dlv_s, n_dlv,
               dsecs);
        printf("send->delivery  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  "
               "max %.2f ms\n",
               s_pct(dl, nd, 0.5), s_pct(dl, nd, 0.9), s_pct(dl, nd, 0.99),
               s_pct(dl, nd, 0.999), nd ? (double)dl[nd - 1] / 1000.0 : 0.0);
        printf("loss            %ld accepted but not delivered; duplicates "
               "%ld same id, %ld other id; %ld unknown; %ld invalid "
               "delivered\n",
               lost, L.dups_same, L.dups_other, L.dlv_unknown, invalid_dlv);
    }
    for (int i = 0; i < L.nprocs; i++) {
        double c = (double)(L.procs[i].t1 - L.procs[i].t0) / hz;
        printf("cpu %-12s %.2f s, %.1f us per accepted message; peak RSS "
               "%ld kB, now %ld kB (%ld kB anonymous)\n",
               L.procs[i].name, c, n_ok > 0 ? c * 1e6 / (double)n_ok : 0.0,
               L.procs[i].hwm_kb, L.procs[i].rss_kb, L.procs[i].anon_kb);
    }
    if (L.nprocs > 0 && n_ok > 0)
        printf("gateway CPU     %.1f us per accepted message (%d processes)\n",
               cpu * 1e6 / (double)n_ok, L.nprocs);
    printf("load generator  %.1f us per message\n",
           (self1 - self0) * 1e6 / (double)n);
    printf("raw OpenSSL     %.0f ECDSA P-256 verify/s on one core (now)\n",
           raw);

    if (L.json != NULL) {
        FILE *f = fopen(L.json, "w");
        if (f == NULL) {
            perror(L.json);
        } else {
            fprintf(f,
                    "{\"label\": \"%s\", \"transport\": \"%s\", "
                    "\"count\": %ld, \"warm_up\": %ld, \"rate\": %ld, "
                    "\"window\": %ld, \"ports\": %ld, \"certs\": %ld, "
                    "\"body_min\": %ld, \"body_max\": %ld, \"mix\": {",
                    L.label, L.transport_s, n, warm, L.rate, L.window, L.nports,
                    L.ncerts > 0 ? L.ncerts : 1, L.bodymin, L.bodymax);
            for (int k = 0; k < K_N; k++)
                fprintf(f, "%s\"%s\": %ld", k ? ", " : "", s_kind_name[k],
                        kinds[k]);
            fprintf(f, "}, \"answers\": {");
            for (int k = 0; k < K_N; k++) {
                int first = 1;
                fprintf(f, "%s\"%s\": {", k ? ", " : "", s_kind_name[k]);
                for (int c = 0; c < S_CODES; c++)
                    if (L.codes[k][c] > 0) {
                        fprintf(f, "%s\"%d\": %ld", first ? "" : ", ", c,
                                L.codes[k][c]);
                        first = 0;
                    }
                fprintf(f, "}");
            }
            fprintf(f,
                    "}, \"accepted\": %ld, \"unanswered\": %ld, "
                    "\"retransmissions\": %ld, \"unexpected\": %ld, "
                    "\"accepted_per_s\": %.0f, ",
                    n_ok, n_un, L.rtx, unexpected, acc_s);
            s_json_pct(f, "t202_ms", lat, nl);
            if (sinks) {
                fprintf(f, ", \"delivered\": %ld, \"delivered_per_s\": %.0f, ",
                        n_dlv, dlv_s);
                s_json_pct(f, "delivery_ms", dl, nd);
                fprintf(f,
                        ", \"lost\": %ld, \"dups_same_id\": %ld, "
                        "\"dups_other_id\": %ld, \"unknown\": %ld, "
                        "\"invalid_delivered\": %ld",
                        lost, L.dups_same, L.dups_other, L.dlv_unknown,
                        invalid_dlv);
            }
            fprintf(f, ", \"procs\": {");
            for (int i = 0; i < L.nprocs; i++) {
                double c = (double)(L.procs[i].t1 - L.procs[i].t0) / hz;
                fprintf(f,
                        "%s\"%s\": {\"cpu_s\": %.3f, \"cpu_us_per_msg\": "
                        "%.1f, \"peak_rss_kb\": %ld, \"rss_kb\": %ld, "
                        "\"anon_kb\": %ld}",
                        i ? ", " : "", L.procs[i].name, c,
                        n_ok > 0 ? c * 1e6 / (double)n_ok : 0.0,
                        L.procs[i].hwm_kb, L.procs[i].rss_kb,
                        L.procs[i].anon_kb);
            }
            fprintf(f,
                    "}, \"gateway_cpu_us_per_msg\": %.1f, "
                    "\"loadgen_cpu_us_per_msg\": %.1f, "
                    "\"raw_verify_per_s\": %.0f, \"elapsed_s\": %.3f}\n",
                    n_ok > 0 ? cpu * 1e6 / (double)n_ok : 0.0,
                    (self1 - self0) * 1e6 / (double)n, raw,
                    (double)(t_end - t0) / 1e6);
            fclose(f);
        }
    }
    for (long i = 0; i < L.count; i++)
        sg_free(L.reqs[i].msg);
    sg_free(L.reqs);
    sg_free(lat);
    sg_free(dl);
    return unexpected > 0 || invalid_dlv > 0 ? 3 : 0;
}
