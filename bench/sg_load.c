/*
 * bench/sg_load.c - the load generator for a running gateway.  Not a
 * test: it prints figures and asserts nothing about speed.
 *
 *   sg_load --to HOST:PORT --src IP --key SIGNER.key --x5u URL
 *           [--count N] [--rate R] [--window W] [--bodylen B]
 *           [--ports P] [--sink IP:PORT] [--drain S] [--run-dir DIR]
 *           [--pid PID]... [--label TEXT] [--json FILE]
 *
 * SIP MESSAGEs over UDP from an interconnect peer (--src), each with its
 * own valid PASSporT (full form, ppt msg, msgi over a --bodylen body),
 * signed before the clock starts (signing is the sender's cost).  They
 * leave from --ports sockets, each with its own source port, so that the
 * kernel's SO_REUSEPORT hash spreads them over several ingest processes;
 * at a fixed --rate, or as fast as --window outstanding requests allow
 * (--rate 0).  A request without a final answer is retransmitted like a
 * SIP client would (500 ms doubling, 5 times).
 *
 * With --sink, an in-process SIP UAS on that UDP address answers 200 to
 * every MESSAGE the gateway delivers and times send -> delivery; the run
 * then waits (up to --drain seconds) until every accepted message has
 * been delivered, and counts losses and duplicates: a message delivered
 * twice must carry the same Call-ID both times (the gateway's
 * at-least-once contract).
 *
 * Reported: accepted messages/s, time to 202 (p50/p90/p99/p99.9/max),
 * delivered messages/s and send -> delivery latency, the CPU each
 * gateway process used (--run-dir DIR reads every DIR/stage-*.pid, or
 * --pid), per accepted message, and the raw OpenSSL ECDSA P-256 verify
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

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_PROCS_MAX 160
#define S_RTX_MAX 5
#define S_T1_US 500000ull
#define S_BATCH 64
#define S_DGRAM 65536

typedef struct {
    char *msg;
    size_t len;
    int sock;          /* index of the sending socket */
    uint64_t sent_us;  /* first send */
    uint64_t next_rtx; /* 0 = answered */
    int tries;
    int code; /* final answer, 0 = none yet */
    uint64_t ans_us;
    uint64_t dlv_us;  /* first delivery */
    uint64_t dlv_cid; /* hash of its Call-ID */
    int ndlv;
} s_req;

typedef struct {
    char name[64];
    int pid;
    unsigned long long t0, t1;
} s_proc;

typedef struct {
    /* options */
    const char *to, *src, *keyf, *x5u, *sink, *run_dir, *label, *json;
    const char *orig_s, *dest_s;
    long count, rate, window, bodylen, nports, drain_s;
    /* state */
    char nonce[17];
    s_req *reqs;
    int *socks;
    int ep, sinkfd;
    long sent, answered, ok, other, unanswered, rtx;
    long delivered, dups_same, dups_other, dlv_unknown, dlv_not_accepted;
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

/* ---- the messages ------------------------------------------------------- */

static int
s_make(s_load *L)
{
    const char *why;
    verify_key_t *key = verify_key_from_file(L->keyf, &why);
    proto_ident_t orig, dest;
    char host[64];
    int64_t now = (int64_t)time(NULL);
    uint64_t t0 = sg_clock_mono_us();

    if (key == NULL) {
        fprintf(stderr, "%s: %s\n", L->keyf, why);
        return -1;
    }
    if (proto_ident_parse(L->orig_s, strlen(L->orig_s), NULL, &orig) != NULL ||
        proto_ident_parse(L->dest_s, strlen(L->dest_s), NULL, &dest) != NULL) {
        fprintf(stderr, "bad --orig or --dest\n");
        verify_key_destroy(&key);
        return -1;
    }
    snprintf(host, sizeof(host), "%.*s", (int)strcspn(L->to, ":"), L->to);
    for (long i = 0; i < L->count; i++) {
        char body[4096], *tok, *ident;
        int bl = snprintf(body, sizeof(body), "sg_load %s %ld ", L->nonce, i);

        memset(body + bl, 'x', (size_t)(L->bodylen - bl));
        body[L->bodylen] = '\0';
        tok = verify_sign_passport(key, L->x5u, "msg", &orig, &dest, 1, now,
                                   (const uint8_t *)body, (size_t)L->bodylen);
        if (tok == NULL) {
            verify_key_destroy(&key);
            return -1;
        }
        ident = proto_identity_format(tok, L->x5u, "msg");
        L->reqs[i].msg = sg_malloc(8192);
        L->reqs[i].len = (size_t)snprintf(
            L->reqs[i].msg, 8192,
            "MESSAGE sip:+%s@%s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-%s-%ld\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:+%s@%s>;tag=t%ld\r\n"
            "To: <sip:+%s@%s>\r\n"
            "Call-ID: sgl-%s-%ld\r\n"
            "CSeq: 1 MESSAGE\r\n"
            "Identity: %s\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: %ld\r\n\r\n%s",
            L->dest_s, host, L->src, L->nonce, i, L->orig_s, L->src, i,
            L->dest_s, host, L->nonce, i, ident, L->bodylen, body);
        L->reqs[i].sock = (int)(i % L->nports);
        sg_free(tok);
        sg_free(ident);
    }
    verify_key_destroy(&key);
    fprintf(stderr, "sg_load: signed %ld PASSporTs in %.2f s\n", L->count,
            (double)(sg_clock_mono_us() - t0) / 1e6);
    return 0;
}

static void
s_send(s_load *L, long i, uint64_t now)
{
    s_req *r = &L->reqs[i];

    if (send(L->socks[r->sock], r->msg, r->len, 0) < 0 && errno != EAGAIN &&
        errno != ENOBUFS)
        perror("sg_load: send");
    if (r->tries == 0)
        r->sent_us = now;
    r->tries++;
    r->next_rtx = now + (S_T1_US << (r->tries - 1));
}

/* A final response from the gateway. */
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
    if (i < 0 || i >= L->count || L->reqs[i].code != 0)
        return;
    L->reqs[i].code = atoi(buf + 8);
    L->reqs[i].ans_us = now;
    L->reqs[i].next_rtx = 0;
    L->answered++;
    if (L->reqs[i].code == 202)
        L->ok++;
    else
        L->other++;
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

/* A MESSAGE the gateway delivered: answer 200, count it. */
static size_t
s_on_delivery(s_load *L, char *buf, size_t n, uint64_t now, char *out,
              size_t outsz)
{
    const char *via, *from, *to, *cid, *cseq, *body;
    size_t lv, lf, lt, lc, ls;
    char pfx[40];
    int k, w;
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
    k = snprintf(pfx, sizeof(pfx), "sg_load %s ", L->nonce);
    body = strstr(buf, "\r\n\r\n");
    if (body == NULL || strncmp(body + 4, pfx, (size_t)k) != 0) {
        L->dlv_unknown++;
        return (size_t)w;
    }
    i = atol(body + 4 + k);
    if (i < 0 || i >= L->count) {
        L->dlv_unknown++;
        return (size_t)w;
    }
    if (L->reqs[i].ndlv++ == 0) {
        L->reqs[i].dlv_us = now;
        L->reqs[i].dlv_cid = s_hash(cid, lc);
        L->delivered++;
        if (L->reqs[i].code != 202)
            L->dlv_not_accepted++;
    } else if (L->reqs[i].dlv_cid == s_hash(cid, lc)) {
        L->dups_same++;
    } else {
        L->dups_other++;
    }
    (void)n;
    return (size_t)w;
}

/* Read what one socket has: responses (sender) or MESSAGEs (sink). */
static void
s_read(s_load *L, int fd, int sink)
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
            if (!sink) {
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
    fputs("usage: sg_load --to HOST:PORT --src IP --key SIGNER.key --x5u URL\n"
          "  [--count N] [--rate R (0: as fast as --window allows)]\n"
          "  [--window W] [--bodylen B] [--ports P] [--orig TN] [--dest TN]\n"
          "  [--sink IP:PORT [--drain S]] [--run-dir DIR] [--pid PID]...\n"
          "  [--label TEXT] [--json FILE]\n",
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
    L->bodylen = 160;
    L->nports = 32;
    L->drain_s = 60;
    L->label = "";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--to") == 0)
            L->to = v;
        else if (strcmp(a, "--src") == 0)
            L->src = v;
        else if (strcmp(a, "--key") == 0)
            L->keyf = v;
        else if (strcmp(a, "--x5u") == 0)
            L->x5u = v;
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
            L->bodylen = atol(v);
        else if (strcmp(a, "--ports") == 0)
            L->nports = atol(v);
        else if (strcmp(a, "--sink") == 0)
            L->sink = v;
        else if (strcmp(a, "--drain") == 0)
            L->drain_s = atol(v);
        else if (strcmp(a, "--run-dir") == 0)
            L->run_dir = v;
        else if (strcmp(a, "--label") == 0)
            L->label = v;
        else if (strcmp(a, "--json") == 0)
            L->json = v;
        else if (strcmp(a, "--pid") == 0 && L->nprocs < S_PROCS_MAX) {
            s_proc *p = &L->procs[L->nprocs++];
            p->pid = atoi(v);
            snprintf(p->name, sizeof(p->name), "pid-%d", p->pid);
        } else
            s_usage();
    }
    if (!L->to || !L->src || !L->keyf || !L->x5u || L->count < 2 ||
        L->bodylen < 40 || L->bodylen > 4000 || L->window < 1 ||
        L->nports < 1 || L->nports > 1024 || L->rate < 0)
        s_usage();
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
    s_load L;
    struct sockaddr_in dst, me;
    struct epoll_event ev;
    uint64_t t0, t_sent = 0, t_acc = 0, t_end, deadline;
    uint8_t rnd[8];
    long next = 0, outstanding = 0;
    double self0, self1, secs;

    memset(&L, 0, sizeof(L));
    s_opts(&L, argc, argv);
    sg_rand_bytes(rnd, sizeof(rnd));
    for (int i = 0; i < 8; i++)
        snprintf(L.nonce + 2 * i, 3, "%02x", rnd[i]);
    L.reqs = sg_calloc((size_t)L.count, sizeof(*L.reqs));
    L.socks = sg_calloc((size_t)L.nports, sizeof(int));
    L.rbuf = sg_malloc((size_t)S_BATCH * (S_DGRAM + 1));
    L.mm = sg_calloc(S_BATCH, sizeof(*L.mm));
    L.iov = sg_calloc(S_BATCH, sizeof(*L.iov));
    L.addrs = sg_calloc(S_BATCH, sizeof(*L.addrs));
    L.obuf = sg_malloc(S_BATCH * 2048);
    L.sinkfd = -1;
    if (s_addr(L.to, &dst) != 0 ||
        inet_pton(AF_INET, L.src, &me.sin_addr) != 1) {
        fprintf(stderr, "sg_load: bad --to or --src\n");
        return 2;
    }
    me.sin_family = AF_INET;
    me.sin_port = 0;
    if (s_make(&L) != 0)
        return 2;
    L.ep = epoll_create1(EPOLL_CLOEXEC);
    for (long i = 0; i < L.nports; i++) {
        if ((L.socks[i] = s_udp_socket(&me, &dst)) < 0) {
            perror("sg_load: socket");
            return 2;
        }
        ev.events = EPOLLIN;
        ev.data.u64 = (uint64_t)i;
        epoll_ctl(L.ep, EPOLL_CTL_ADD, L.socks[i], &ev);
    }
    if (L.sink != NULL) {
        struct sockaddr_in sa;
        if (s_addr(L.sink, &sa) != 0 ||
            (L.sinkfd = s_udp_socket(&sa, NULL)) < 0) {
            fprintf(stderr, "sg_load: --sink %s: cannot bind\n", L.sink);
            return 2;
        }
        ev.events = EPOLLIN;
        ev.data.u64 = (uint64_t)-1;
        epoll_ctl(L.ep, EPOLL_CTL_ADD, L.sinkfd, &ev);
    }

    /* Warm-up: the first message alone (the gateway fetches the chain),
     * then one per socket so every ingest process has it too. */
    t0 = sg_clock_mono_us();
    for (next = 0; next < L.count && next < L.nports + 1; next++) {
        if (next == 1) {
            while (L.reqs[0].code == 0 && sg_clock_mono_us() - t0 < 10000000) {
                struct epoll_event evs[8];
                int n = epoll_wait(L.ep, evs, 8, 50);
                for (int k = 0; k < n; k++)
                    s_read(&L,
                           evs[k].data.u64 == (uint64_t)-1
                               ? L.sinkfd
                               : L.socks[evs[k].data.u64],
                           evs[k].data.u64 == (uint64_t)-1);
                if (L.reqs[0].code == 0 && sg_clock_mono_us() - t0 > 2000000 &&
                    L.reqs[0].tries < 2)
                    s_send(&L, 0, sg_clock_mono_us());
            }
            if (L.reqs[0].code != 202) {
                fprintf(stderr,
                        "sg_load: warm-up message answered %d, not "
                        "202\n",
                        L.reqs[0].code);
                return 1;
            }
        }
        L.reqs[next].sock = (int)(next % L.nports);
        s_send(&L, next, sg_clock_mono_us());
    }
    L.sent = next;
    while (L.answered < L.sent && sg_clock_mono_us() - t0 < 10000000) {
        struct epoll_event evs[64];
        int n = epoll_wait(L.ep, evs, 64, 50);
        for (int k = 0; k < n; k++)
            s_read(&L,
                   evs[k].data.u64 == (uint64_t)-1 ? L.sinkfd
                                                   : L.socks[evs[k].data.u64],
                   evs[k].data.u64 == (uint64_t)-1);
    }
    if (L.sink != NULL) {
        /* The warm-up's deliveries too, so the timed part starts clean. */
        while (L.delivered < L.ok && sg_clock_mono_us() - t0 < 20000000) {
            struct epoll_event evs[64];
            int n = epoll_wait(L.ep, evs, 64, 50);
            for (int k = 0; k < n; k++)
                s_read(&L,
                       evs[k].data.u64 == (uint64_t)-1
                           ? L.sinkfd
                           : L.socks[evs[k].data.u64],
                       evs[k].data.u64 == (uint64_t)-1);
        }
    }
    long warm = L.sent, warm_ok = L.ok, warm_dlv = L.delivered;

    if (L.run_dir != NULL)
        s_procs_from_run_dir(&L);
    for (int i = 0; i < L.nprocs; i++)
        L.procs[i].t0 = s_cpu_ticks(L.procs[i].pid);
    self0 = s_cpu_self();

    /* The timed part. */
    t0 = sg_clock_mono_us();
    deadline = t0 + 600000000ull;
    long rtx_scan = warm;
    for (;;) {
        uint64_t now = sg_clock_mono_us();
        int timeout = 5;
        struct epoll_event evs[256];
        int n;

        while (next < L.count && outstanding < L.window) {
            if (L.rate > 0 && now - t0 < (uint64_t)((double)(next - warm) *
                                                    1e6 / (double)L.rate)) {
                timeout = 1;
                break;
            }
            s_send(&L, next, now);
            next++;
            outstanding++;
            L.sent++;
        }
        if (next == L.count && t_sent == 0)
            t_sent = now;
        n = epoll_wait(L.ep, evs, 256, timeout);
        for (int k = 0; k < n; k++) {
            long before = L.answered;
            int sink = evs[k].data.u64 == (uint64_t)-1;
            s_read(&L, sink ? L.sinkfd : L.socks[evs[k].data.u64], sink);
            outstanding -= L.answered - before;
        }
        now = sg_clock_mono_us();
        /* Retransmissions (Timer A) and give-ups, oldest first. */
        while (rtx_scan < next && L.reqs[rtx_scan].next_rtx == 0)
            rtx_scan++;
        for (long i = rtx_scan; i < next && i < rtx_scan + 4096; i++) {
            s_req *r = &L.reqs[i];
            if (r->next_rtx == 0 || r->next_rtx > now)
                continue;
            if (r->tries > S_RTX_MAX) {
                r->next_rtx = 0;
                L.unanswered++;
                outstanding--;
                continue;
            }
            L.rtx++;
            s_send(&L, i, now);
        }
        if (L.answered + L.unanswered >= L.count) {
            if (t_acc == 0)
                t_acc = now;
            if (L.sink == NULL || L.delivered >= L.ok ||
                now - t_acc > (uint64_t)L.drain_s * 1000000)
                break;
        }
        if (now > deadline)
            break;
    }
    t_end = sg_clock_mono_us();
    for (int i = 0; i < L.nprocs; i++)
        L.procs[i].t1 = s_cpu_ticks(L.procs[i].pid);
    self1 = s_cpu_self();

    /* Figures. */
    long n_ok = L.ok - warm_ok, n_dlv = L.delivered - warm_dlv;
    uint64_t *lat = sg_calloc((size_t)L.count, sizeof(uint64_t));
    uint64_t *dl = sg_calloc((size_t)L.count, sizeof(uint64_t));
    size_t nl = 0, nd = 0;
    uint64_t last_ans = t0, last_dlv = t0;
    long lost = 0;

    for (long i = warm; i < L.count; i++) {
        s_req *r = &L.reqs[i];
        if (r->code == 202) {
            lat[nl++] = r->ans_us - r->sent_us;
            if (r->ans_us > last_ans)
                last_ans = r->ans_us;
            if (L.sink != NULL && r->ndlv == 0)
                lost++;
        }
        if (r->ndlv > 0) {
            dl[nd++] = r->dlv_us - r->sent_us;
            if (r->dlv_us > last_dlv)
                last_dlv = r->dlv_us;
        }
    }
    qsort(lat, nl, sizeof(*lat), s_cmp_u64);
    qsort(dl, nd, sizeof(*dl), s_cmp_u64);
    secs = (double)(last_ans - t0) / 1e6;
    double dsecs = (double)(last_dlv - t0) / 1e6;
    double hz = (double)sysconf(_SC_CLK_TCK), cpu = 0;
    double raw = s_raw_verify_rate();

    for (int i = 0; i < L.nprocs; i++)
        cpu += (double)(L.procs[i].t1 - L.procs[i].t0) / hz;

    printf("sg_load %s\n", L.label);
    printf("messages        %ld sent (+%ld warm-up), %ld x 202, %ld other, "
           "%ld unanswered, %ld retransmissions\n",
           L.count - warm, warm, n_ok, L.other, L.unanswered, L.rtx);
    if (L.rate > 0)
        printf("offered         %ld msg/s (fixed)\n", L.rate);
    else
        printf("offered         as fast as %ld outstanding allow\n", L.window);
    printf("accepted        %.0f msg/s over %.2f s\n",
           secs > 0 ? (double)n_ok / secs : 0.0, secs);
    printf("time to 202     p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max "
           "%.2f ms\n",
           s_pct(lat, nl, 0.5), s_pct(lat, nl, 0.9), s_pct(lat, nl, 0.99),
           s_pct(lat, nl, 0.999), nl ? (double)lat[nl - 1] / 1000.0 : 0.0);
    if (L.sink != NULL) {
        printf("delivered       %.0f msg/s (%ld over %.2f s)\n",
               dsecs > 0 ? (double)n_dlv / dsecs : 0.0, n_dlv, dsecs);
        printf("send->delivery  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms\n",
               s_pct(dl, nd, 0.5), s_pct(dl, nd, 0.9), s_pct(dl, nd, 0.99),
               nd ? (double)dl[nd - 1] / 1000.0 : 0.0);
        printf("loss            %ld accepted but not delivered; duplicates "
               "%ld same Call-ID, %ld other Call-ID; %ld unknown\n",
               lost, L.dups_same, L.dups_other, L.dlv_unknown);
    }
    for (int i = 0; i < L.nprocs; i++) {
        double c = (double)(L.procs[i].t1 - L.procs[i].t0) / hz;
        printf("cpu %-12s %.2f s, %.1f us per accepted message\n",
               L.procs[i].name, c, n_ok > 0 ? c * 1e6 / (double)n_ok : 0.0);
    }
    if (L.nprocs > 0 && n_ok > 0)
        printf("gateway CPU     %.1f us per accepted message (%d processes)\n",
               cpu * 1e6 / (double)n_ok, L.nprocs);
    printf("load generator  %.1f us per message\n",
           (self1 - self0) * 1e6 / (double)(L.count - warm));
    printf("raw OpenSSL     %.0f ECDSA P-256 verify/s on one core (now)\n",
           raw);

    if (L.json != NULL) {
        FILE *f = fopen(L.json, "w");
        if (f == NULL) {
            perror(L.json);
        } else {
            fprintf(f,
                    "{\"label\": \"%s\", \"count\": %ld, \"rate\": %ld, "
                    "\"window\": %ld, \"ports\": %ld, \"accepted\": %ld, "
                    "\"other\": %ld, \"unanswered\": %ld, "
                    "\"retransmissions\": %ld, \"accepted_per_s\": %.0f, "
                    "\"t202_ms\": {\"p50\": %.3f, \"p90\": %.3f, "
                    "\"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}",
                    L.label, L.count - warm, L.rate, L.window, L.nports, n_ok,
                    L.other, L.unanswered, L.rtx,
                    secs > 0 ? (double)n_ok / secs : 0.0, s_pct(lat, nl, 0.5),
                    s_pct(lat, nl, 0.9), s_pct(lat, nl, 0.99),
                    s_pct(lat, nl, 0.999),
                    nl ? (double)lat[nl - 1] / 1000.0 : 0.0);
            if (L.sink != NULL)
                fprintf(f,
                        ", \"delivered\": %ld, \"delivered_per_s\": %.0f, "
                        "\"delivery_ms\": {\"p50\": %.3f, \"p90\": %.3f, "
                        "\"p99\": %.3f, \"max\": %.3f}, \"lost\": %ld, "
                        "\"dups_same_callid\": %ld, \"dups_other_callid\": "
                        "%ld",
                        n_dlv, dsecs > 0 ? (double)n_dlv / dsecs : 0.0,
                        s_pct(dl, nd, 0.5), s_pct(dl, nd, 0.9),
                        s_pct(dl, nd, 0.99),
                        nd ? (double)dl[nd - 1] / 1000.0 : 0.0, lost,
                        L.dups_same, L.dups_other);
            fprintf(f, ", \"cpu_s\": {");
            for (int i = 0; i < L.nprocs; i++)
                fprintf(f, "%s\"%s\": %.3f", i ? ", " : "", L.procs[i].name,
                        (double)(L.procs[i].t1 - L.procs[i].t0) / hz);
            fprintf(f,
                    "}, \"gateway_cpu_us_per_msg\": %.1f, "
                    "\"loadgen_cpu_us_per_msg\": %.1f, "
                    "\"raw_verify_per_s\": %.0f, \"elapsed_s\": %.3f}\n",
                    n_ok > 0 ? cpu * 1e6 / (double)n_ok : 0.0,
                    (self1 - self0) * 1e6 / (double)(L.count - warm), raw,
                    (double)(t_end - t0) / 1e6);
            fclose(f);
        }
    }
    for (long i = 0; i < L.count; i++)
        sg_free(L.reqs[i].msg);
    sg_free(L.reqs);
    sg_free(lat);
    sg_free(dl);
    return 0;
}
