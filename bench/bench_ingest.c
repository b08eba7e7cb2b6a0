/*
 * bench/bench_ingest.c - a SIP load generator for a running gateway
 * (stirgate-ingest + stirgate-store): MESSAGEs over UDP from an
 * interconnect peer, each with its own valid PASSporT (full form, ppt msg,
 * msgi over a body of --bodylen bytes), at a fixed rate or as fast as a
 * window of outstanding requests allows.  Prints accepted messages/s,
 * p50/p99/max time to the 202, what was not a 202, the CPU the gateway
 * processes used per message (--pid, from /proc), and beside it the raw
 * OpenSSL ECDSA P-256 verify rate of one core.
 *
 *   bench_ingest --to HOST:PORT --src IP --key SIGNER.key --x5u URL
 *                [--orig TN] [--dest TN] [--count N] [--rate R]
 *                [--window W] [--bodylen B] [--pid PID]...
 *
 * The tokens are signed before the clock starts (signing is the sender's
 * cost, not the gateway's); the first message is sent alone, so the
 * gateway's certificate cache is warm for the rest.  Not a test: no
 * assertion on speed.
 */
#include "lib/sg.h"
#include "lib/sg_clock.h"
#include "proto/proto_identity.h"
#include "proto/proto_tn.h"
#include "verify/verify_key.h"
#include "verify/verify_passport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *msg;
    size_t len;
    uint64_t sent_us, done_us;
    int code;
} s_req;

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
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
    double rate = (double)n * 1e6 / (double)(sg_clock_mono_us() - t0);
    EVP_PKEY_CTX_free(sc);
    EVP_PKEY_CTX_free(vc);
    EVP_PKEY_free(k);
    return rate;
}

static void
s_usage(void)
{
    fputs("usage: bench_ingest --to HOST:PORT --src IP --key SIGNER.key "
          "--x5u URL\n  [--orig TN] [--dest TN] [--count N] [--rate R] "
          "[--window W]\n  [--bodylen B] [--pid PID]...\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
    const char *to = NULL, *src = NULL, *keyf = NULL, *x5u = NULL;
    const char *orig_s = "12025550001", *dest_s = "12025551234";
    long count = 20000, rate = 0, window = 2000, bodylen = 160;
    int pids[8], npids = 0, fd, port;
    struct sockaddr_in dst, me;
    verify_key_t *key;
    const char *why;
    proto_ident_t orig, dest;
    s_req *reqs;
    char host[64];
    uint64_t *lat;
    long sent = 0, done = 0, ok = 0, other = 0;
    unsigned long long cpu0[8], cpu1[8];
    uint64_t t0, t1;
    int64_t now;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--to") == 0)
            to = v;
        else if (strcmp(a, "--src") == 0)
            src = v;
        else if (strcmp(a, "--key") == 0)
            keyf = v;
        else if (strcmp(a, "--x5u") == 0)
            x5u = v;
        else if (strcmp(a, "--orig") == 0)
            orig_s = v;
        else if (strcmp(a, "--dest") == 0)
            dest_s = v;
        else if (strcmp(a, "--count") == 0)
            count = atol(v);
        else if (strcmp(a, "--rate") == 0)
            rate = atol(v);
        else if (strcmp(a, "--window") == 0)
            window = atol(v);
        else if (strcmp(a, "--bodylen") == 0)
            bodylen = atol(v);
        else if (strcmp(a, "--pid") == 0 && npids < 8)
            pids[npids++] = atoi(v);
        else
            s_usage();
    }
    if (!to || !src || !keyf || !x5u || count < 2 || bodylen < 16 ||
        bodylen > 4000 || window < 1 ||
        sscanf(to, "%63[^:]:%d", host, &port) != 2)
        s_usage();
    if ((key = verify_key_from_file(keyf, &why)) == NULL) {
        fprintf(stderr, "%s: %s\n", keyf, why);
        return 2;
    }
    if (proto_ident_parse(orig_s, strlen(orig_s), NULL, &orig) != NULL ||
        proto_ident_parse(dest_s, strlen(dest_s), NULL, &dest) != NULL) {
        fprintf(stderr, "bad --orig or --dest\n");
        return 2;
    }

    /* Sign every message first. */
    reqs = sg_calloc((size_t)count, sizeof(*reqs));
    lat = sg_calloc((size_t)count, sizeof(*lat));
    now = (int64_t)time(NULL);
    t0 = sg_clock_mono_us();
    for (long i = 0; i < count; i++) {
        char body[4096], *tok, *ident;
        int bl = snprintf(body, sizeof(body), "bench message %ld ", i);
        memset(body + bl, 'x', (size_t)(bodylen - bl));
        body[bodylen] = '\0';
        tok = verify_sign_passport(key, x5u, "msg", &orig, &dest, 1, now,
                                   (const uint8_t *)body, (size_t)bodylen);
        if (tok == NULL)
            return 2;
        ident = proto_identity_format(tok, x5u, "msg");
        reqs[i].msg = sg_malloc(8192);
        reqs[i].len =
            (size_t)snprintf(reqs[i].msg, 8192,
                             "MESSAGE sip:+%s@%s SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-b%ld\r\n"
                             "Max-Forwards: 70\r\n"
                             "From: <sip:+%s@%s>;tag=b%ld\r\n"
                             "To: <sip:+%s@%s>\r\n"
                             "Call-ID: bench-%ld\r\n"
                             "CSeq: 1 MESSAGE\r\n"
                             "Identity: %s\r\n"
                             "Content-Type: text/plain\r\n"
                             "Content-Length: %ld\r\n\r\n%s",
                             dest_s, host, src, i, orig_s, src, i, dest_s, host,
                             i, ident, bodylen, body);
        sg_free(tok);
        sg_free(ident);
    }
    fprintf(stderr, "signed %ld tokens in %.2f s\n", count,
            (double)(sg_clock_mono_us() - t0) / 1e6);

    memset(&dst, 0, sizeof(dst));
    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &dst.sin_addr);
    memset(&me, 0, sizeof(me));
    me.sin_family = AF_INET;
    inet_pton(AF_INET, src, &me.sin_addr);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    {
        int sz = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
        perror("socket");
        return 2;
    }

    /* Warm-up: the first message alone (the gateway fetches the chain). */
    for (int tries = 0; tries < 50 && reqs[0].code == 0; tries++) {
        char buf[2048];
        struct pollfd p = {fd, POLLIN, 0};
        if (send(fd, reqs[0].msg, reqs[0].len, 0) < 0)
            perror("send");
        while (poll(&p, 1, 200) > 0) {
            ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
            if (n > 12 && strncmp(buf, "SIP/2.0 ", 8) == 0 &&
                strncmp(buf + 8, "1", 1) != 0) {
                reqs[0].code = atoi(buf + 8);
                break;
            }
        }
    }
    if (reqs[0].code != 202) {
        fprintf(stderr, "warm-up message answered %d, not 202\n", reqs[0].code);
        return 1;
    }

    for (int i = 0; i < npids; i++)
        cpu0[i] = s_cpu_ticks(pids[i]);
    sent = done = 1;
    t0 = sg_clock_mono_us();
    while (done < count) {
        uint64_t now_us = sg_clock_mono_us();
        struct pollfd p = {fd, POLLIN, 0};
        char buf[2048];

        /* Send what the schedule (or the window) allows now. */
        while (sent < count && sent - done < window) {
            if (rate > 0 &&
                now_us - t0 < (uint64_t)((double)(sent - 1) * 1e6 / rate))
                break;
            reqs[sent].sent_us = sg_clock_mono_us();
            if (send(fd, reqs[sent].msg, reqs[sent].len, 0) < 0) {
                if (errno == EAGAIN || errno == ENOBUFS)
                    break;
                perror("send");
                return 2;
            }
            sent++;
        }
        if (poll(&p, 1, 5) <= 0) {
            if (sg_clock_mono_us() - t0 > 120000000ull) {
                fprintf(stderr, "gave up: %ld of %ld answered\n", done, count);
                break;
            }
            continue;
        }
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
            char *cid;
            long i;
            if (n <= 0)
                break;
            buf[n] = '\0';
            if (strncmp(buf, "SIP/2.0 1", 9) == 0)
                continue;
            if ((cid = strstr(buf, "\r\nCall-ID: bench-")) == NULL)
                continue;
            i = atol(cid + 17);
            if (i <= 0 || i >= count || reqs[i].done_us)
                continue;
            reqs[i].done_us = sg_clock_mono_us();
            reqs[i].code = atoi(buf + 8);
            lat[done - 1] = reqs[i].done_us - reqs[i].sent_us;
            done++;
            if (reqs[i].code == 202)
                ok++;
            else
                other++;
        }
    }
    t1 = sg_clock_mono_us();
    for (int i = 0; i < npids; i++)
        cpu1[i] = s_cpu_ticks(pids[i]);

    qsort(lat, (size_t)(done - 1), sizeof(*lat), s_cmp_u64);
    {
        double secs = (double)(t1 - t0) / 1e6;
        long n = done - 1;
        double cpu = 0;
        long hz = sysconf(_SC_CLK_TCK);

        for (int i = 0; i < npids; i++)
            cpu += (double)(cpu1[i] - cpu0[i]) / (double)hz;
        printf("messages        %ld sent, %ld answered, %ld x 202, "
               "%ld other\n",
               count - 1, n, ok, other);
        printf("offered rate    %s\n", rate > 0 ? "fixed" : "max (window)");
        if (rate > 0)
            printf("target          %ld msg/s\n", rate);
        printf("accepted        %.0f msg/s over %.2f s\n", (double)ok / secs,
               secs);
        if (n > 0)
            printf("time to 202     p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                   (double)lat[n / 2] / 1000.0,
                   (double)lat[(size_t)((double)n * 0.99)] / 1000.0,
                   (double)lat[n - 1] / 1000.0);
        if (npids > 0 && ok > 0)
            printf("gateway CPU     %.1f us per accepted message (%d "
                   "processes)\n",
                   cpu * 1e6 / (double)ok, npids);
        printf("raw OpenSSL     %.0f ECDSA P-256 verify/s on one core\n",
               s_raw_verify_rate());
    }
    for (long i = 0; i < count; i++)
        sg_free(reqs[i].msg);
    sg_free(reqs);
    sg_free(lat);
    verify_key_destroy(&key);
    close(fd);
    return 0;
}
