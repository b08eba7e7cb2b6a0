/*
 * ingest/ingest_sip.c - SIP in over UDP and TCP (RFC 3261 section 18,
 * RFC 3428): sockets, framing, the retransmission cache and responses.
 * The decisions are ingest_core's; parsing is proto_sip's.
 *
 * UDP.  One socket per sip.udp address.  A response goes to the packet's
 * source address and port (RFC 3581 rport behaviour, which is what NATed
 * peers need and what a peer sending from its listening port gets anyway).
 * Retransmissions: a MESSAGE is remembered by (source, Call-ID, CSeq, top
 * Via branch) from the moment it is received; a retransmission while the
 * store has not answered is absorbed (RFC 3261 17.2.2: a server
 * transaction in Trying discards it), and after the final response the
 * same bytes are sent again for 32 s (Timer J = 64*T1), so a lost 202
 * never turns into a second message.
 *
 * TCP.  Non-blocking listeners and connections; each connection has a
 * read buffer cut into requests by Content-Length (proto_sip_frame) and a
 * write buffer.  Limits: sip.max_connections in total, sip.max_conn_per_
 * peer per source address, sip.tcp_idle seconds without a byte or a
 * pending request, sip.tcp_idle seconds for one request to arrive whole
 * (a request trickled a byte at a time never resets that one), and at
 * most S_TCP_PENDING requests waiting for the store per connection (the
 * connection stops being read until answers go out: back-pressure
 * instead of unbounded memory).  A framing error is
 * answered when the fields of a response can be salvaged
 * (ingest_salvage.h), then the connection is closed: the stream cannot be
 * resynchronised.  The close waits until the answer is written, and is
 * then a lingering one (RFC 9112 9.6 explains it for HTTP; TCP is the
 * same under SIP): our side is shut down for writing and what the peer
 * still sends is read and dropped until it closes, for at most
 * S_TCP_LINGER_MS (sooner under sip.tcp_idle).  Closing at once with
 * unread bytes in the socket, the usual case for a request refused while
 * it is still being sent (a header section over the limit), sends a
 * RST, and a RST may cost the peer the answer: a segment of it not yet
 * acknowledged is never resent, and some stacks drop what the
 * application has not read yet.
 *
 * XXX poll(2) over every connection costs O(connections) per wake-up;
 * epoll would make that O(ready) for very many idle connections.
 */
#include "ingest/ingest_int.h"
#include "ingest/ingest_salvage.h"

#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "proto/proto_msgi.h"
#include "proto/proto_sip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_PLACE "ingest.sip"
#define S_TIMER_J_MS 32000
#define S_UDP_BATCH 32    /* datagrams per recvmmsg / sendmmsg */
#define S_UDP_DGRAM 65536 /* the largest UDP payload, and then some */
#define S_OUT_MAX 256     /* UDP responses queued before a flush */
#define S_OUT_BYTES (256u << 10)
#define S_TCP_PENDING 256     /* requests waiting per connection */
#define S_TCP_WMAX (4u << 20) /* unsent bytes before the peer is dropped */
#define S_TCP_LINGER_MS 5000  /* draining after a framing error's answer */
#define S_TCP_LINGER_READS 8  /* reads per wake-up while draining */
#define S_RTX_BUCKETS0 4096
#define S_PEND_FREE 1024 /* finished requests kept for reuse */

typedef struct s_conn s_conn;
typedef struct s_rtx s_rtx;

/* One UDP transaction remembered for retransmissions. */
struct s_rtx {
    uint8_t key[16];
    int final;
    char *resp;
    size_t resp_len;
    uint64_t expire_at;
    s_rtx *hnext;
    s_rtx *fnext; /* expiry FIFO (final entries only) */
};

struct s_conn {
    int fd;
    uint64_t serial;
    struct sockaddr_storage addr;
    socklen_t alen;
    const conf_peer_t *peer;
    uint8_t *rbuf;
    size_t rlen, rcap;
    char *wbuf;
    size_t wlen, woff;
    uint64_t last_ms;
    uint64_t part_ms; /* first byte of the incomplete request; 0 = none */
    size_t pending;
    int closing;        /* close once the write buffer is empty */
    uint64_t linger_ms; /* closing: written, shut down, draining since */
};

/* A UDP response queued for the next sendmmsg (bytes in `obuf`). */
typedef struct {
    int fd;
    struct sockaddr_storage addr;
    socklen_t alen;
    size_t off, len;
} s_out;

/* A request waiting for ingest_core's answer. */
typedef struct s_pend s_pend;
struct s_pend {
    s_pend *fnext; /* on the free list (S_PEND_FREE) */
    ingest_sip_t *sip;
    proto_sip_req_t req; /* header copies, for the response */
    int tcp;
    int fd;          /* UDP socket, or the connection's fd */
    uint64_t serial; /* the connection's, TCP only */
    struct sockaddr_storage addr;
    socklen_t alen;
    s_rtx *rtx; /* UDP only */
    uint64_t t0_us;
};

typedef struct {
    int fd;
    int tcp; /* 1: listener */
    char name[64];
} s_sock;

struct ingest_sip {
    const conf_t *conf;
    ingest_core_t *core;
    proto_sip_limits_t lim;
    const char **ctypes;
    s_sock *socks;
    size_t nsocks;
    s_conn **conns; /* by fd */
    size_t cap_conns, nconns;
    uint64_t next_serial;
    size_t pending;
    int stopping;
    s_rtx **rtx;
    size_t nrtx_buckets, nrtx;
    s_rtx *fhead, *ftail;
    uint64_t next_idle_scan;
    /* recvmmsg: S_UDP_BATCH datagram buffers and their headers. */
    uint8_t *ubuf;
    struct mmsghdr *rmsg;
    struct iovec *riov;
    struct sockaddr_storage *raddr;
    /* UDP responses waiting for ingest_sip_flush (see s_send_udp). */
    s_out *out;
    size_t nout;
    char *obuf;
    size_t olen;
    struct mmsghdr *smsg;
    struct iovec *siov;
    /* Finished s_pend kept for the next requests: at ~1.3 KB each a
     * calloc and free per message made glibc consolidate its bins. */
    s_pend *pfree;
    size_t npfree;
    ingest_sip_stats_t stats;
};

/* ---- addresses ---------------------------------------------------------- */

/* "1.2.3.4:5060" or "[::1]:5060" -> sockaddr; 0 on success. */
static int
s_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon, *h = s;
    size_t hl;
    char *end;
    long port;

    memset(ss, 0, sizeof(*ss));
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= sizeof(host))
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535 || end == colon + 1)
        return -1;
    {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons((uint16_t)port);
            *len = sizeof(*a4);
            return 0;
        }
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
            a6->sin6_family = AF_INET6;
            a6->sin6_port = htons((uint16_t)port);
            *len = sizeof(*a6);
            return 0;
        }
    }
    return -1;
}

static const char *
s_addr_str(const struct sockaddr *sa, char *buf, size_t n)
{
    char h[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
        snprintf(buf, n, "%s:%u", h, ntohs(a->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
        snprintf(buf, n, "[%s]:%u", h, ntohs(a->sin6_port));
    } else {
        snprintf(buf, n, "?");
    }
    return buf;
}

/* Same host (port ignored)? */
static int
s_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return 0;
}

static int
s_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int
s_bind(const char *spec, int tcp)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    if (s_parse_addr(spec, &ss, &len) != 0) {
        sg_error(S_PLACE, "sip.%s: \"%s\" is not ADDRESS:PORT",
                 tcp ? "tcp" : "udp", spec);
        return -1;
    }
    fd = socket(ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        sg_error(S_PLACE, "socket: %s", strerror(errno));
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Several ingest processes may share the address (ingest_main.c). */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (!tcp) {
        /* Bursts of datagrams wait here while the loop is busy. */
        int sz = 4 << 20;
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
        (tcp && listen(fd, 1024) != 0) || s_nonblock(fd) != 0) {
        sg_error(S_PLACE, "sip.%s %s: %s", tcp ? "tcp" : "udp", spec,
                 strerror(errno));
        close(fd);
        return -1;
    }
    sg_info(S_PLACE, "listening on %s %s", tcp ? "tcp" : "udp", spec);
    return fd;
}

/* ---- the retransmission cache ------------------------------------------ */

static void
s_rtx_key(const proto_sip_req_t *req, const struct sockaddr_storage *addr,
          socklen_t alen, uint8_t key[16])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t d[32];
    unsigned int dl = 0;
    uint8_t cseq[4];

    proto_put_u32(cseq, req->cseq);
    if (c == NULL ||
        EVP_DigestInit_ex(c, proto_msgi_md(PROTO_MSGI_SHA256), NULL) != 1 ||
        EVP_DigestUpdate(c, addr, alen) != 1 ||
        EVP_DigestUpdate(c, req->call_id.p, req->call_id.n) != 1 ||
        EVP_DigestUpdate(c, "\n", 1) != 1 ||
        EVP_DigestUpdate(c, cseq, 4) != 1 ||
        (req->via_branch.p &&
         EVP_DigestUpdate(c, req->via_branch.p, req->via_branch.n) != 1) ||
        EVP_DigestFinal_ex(c, d, &dl) != 1)
        sg_panic("SHA-256 failed");
    EVP_MD_CTX_free(c);
    memcpy(key, d, 16);
}

static size_t
s_rtx_bucket(const ingest_sip_t *self, const uint8_t key[16])
{
    uint64_t v;
    memcpy(&v, key, sizeof(v));
    return (size_t)(v & (self->nrtx_buckets - 1));
}

static s_rtx *
s_rtx_find(const ingest_sip_t *self, const uint8_t key[16])
{
    for (s_rtx *e = self->rtx[s_rtx_bucket(self, key)]; e; e = e->hnext)
        if (memcmp(e->key, key, 16) == 0)
            return e;
    return NULL;
}

static void
s_rtx_grow(ingest_sip_t *self)
{
    size_t n = self->nrtx_buckets * 2;
    s_rtx **b = sg_calloc(n, sizeof(*b));

    for (size_t i = 0; i < self->nrtx_buckets; i++) {
        s_rtx *e = self->rtx[i];
        while (e) {
            s_rtx *next = e->hnext;
            uint64_t v;
            memcpy(&v, e->key, sizeof(v));
            e->hnext = b[v & (n - 1)];
            b[v & (n - 1)] = e;
            e = next;
        }
    }
    sg_free(self->rtx);
    self->rtx = b;
    self->nrtx_buckets = n;
}

static s_rtx *
s_rtx_add(ingest_sip_t *self, const uint8_t key[16])
{
    s_rtx *e = sg_calloc(1, sizeof(*e));
    size_t k;

    if (self->nrtx + 1 > self->nrtx_buckets)
        s_rtx_grow(self);
    memcpy(e->key, key, 16);
    k = s_rtx_bucket(self, key);
    e->hnext = self->rtx[k];
    self->rtx[k] = e;
    self->nrtx++;
    return e;
}

/* Remember the final response; `resp` (new, may be NULL) is stolen. */
static void
s_rtx_final(ingest_sip_t *self, s_rtx *e, char *resp, size_t len)
{
    e->final = 1;
    e->resp = resp;
    e->resp_len = resp != NULL ? len : 0;
    e->expire_at = sg_clock_mono_ms() + S_TIMER_J_MS;
    e->fnext = NULL;
    if (self->ftail)
        self->ftail->fnext = e;
    else
        self->fhead = e;
    self->ftail = e;
}

static void
s_rtx_expire(ingest_sip_t *self, uint64_t now)
{
    while (self->fhead && self->fhead->expire_at <= now) {
        s_rtx *e = self->fhead, **pp;
        self->fhead = e->fnext;
        if (self->fhead == NULL)
            self->ftail = NULL;
        for (pp = &self->rtx[s_rtx_bucket(self, e->key)]; *pp;
             pp = &(*pp)->hnext)
            if (*pp == e) {
                *pp = e->hnext;
                break;
            }
        self->nrtx--;
        sg_free(e->resp);
        sg_free(e);
    }
}

/* ---- connections -------------------------------------------------------- */

static s_conn *
s_conn_get(const ingest_sip_t *self, int fd, uint64_t serial)
{
    s_conn *c;

    if (fd < 0 || (size_t)fd >= self->cap_conns)
        return NULL;
    c = self->conns[fd];
    return c != NULL && c->serial == serial ? c : NULL;
}

static void
s_conn_close(ingest_sip_t *self, s_conn *c, const char *why)
{
    char a[80];

    sg_debug(S_PLACE, "tcp %s closed: %s",
             s_addr_str((struct sockaddr *)&c->addr, a, sizeof(a)), why);
    self->conns[c->fd] = NULL;
    self->nconns--;
    close(c->fd);
    sg_free(c->rbuf);
    sg_free(c->wbuf);
    sg_free(c);
}

/*
 * A closing connection whose answers are all written: shut our side down
 * and drain what the peer still sends (the top of the file says why);
 * s_tcp_read closes it at the peer's EOF, ingest_sip_run after
 * S_TCP_LINGER_MS.
 */
static void
s_conn_linger(ingest_sip_t *self, s_conn *c)
{
    if (c->linger_ms != 0)
        return;
    if (shutdown(c->fd, SHUT_WR) < 0) {
        s_conn_close(self, c, strerror(errno));
        return;
    }
    c->linger_ms = sg_clock_mono_ms();
    c->rlen = 0;
}

/* Read and drop, a bounded number of reads per wake-up. */
static void
s_conn_drain(ingest_sip_t *self, s_conn *c)
{
    for (int i = 0; i < S_TCP_LINGER_READS; i++) {
        ssize_t n = recv(c->fd, c->rbuf, c->rcap, 0);

        if (n == 0) {
            s_conn_close(self, c, "closed after a framing error");
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                s_conn_close(self, c, strerror(errno));
            return;
        }
    }
}

/* Queue bytes and try to write them now. */
static void
s_conn_write(ingest_sip_t *self, s_conn *c, const char *p, size_t n)
{
    if (c->wlen - c->woff + n > S_TCP_WMAX) {
        s_conn_close(self, c, "peer does not read its responses");
        return;
    }
    if (c->woff == c->wlen) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR) {
            s_conn_close(self, c, strerror(errno));
            return;
        }
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        }
        c->woff = c->wlen = 0;
    }
    if (n == 0)
        return;
    if (c->woff > 0 && c->woff == c->wlen)
        c->woff = c->wlen = 0;
    c->wbuf = sg_realloc(c->wbuf, c->wlen + n);
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
}

static void
s_conn_flush(ingest_sip_t *self, s_conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t w =
            send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            s_conn_close(self, c, strerror(errno));
            return;
        }
        c->woff += (size_t)w;
    }
    c->woff = c->wlen = 0;
    if (c->closing && c->pending == 0)
        s_conn_linger(self, c);
}

/* ---- responses ---------------------------------------------------------- */

static void
s_sendto_failed(const struct sockaddr_storage *addr, int err)
{
    char a[80];

    sg_warn(S_PLACE, "sendto %s: %s",
            s_addr_str((const struct sockaddr *)addr, a, sizeof(a)),
            strerror(err));
}

/*
 * Send the queued UDP responses, one sendmmsg(2) per run of responses on
 * the same socket.  A response the kernel refuses is logged and dropped,
 * as a failed sendto was (the peer retransmits; the cache answers).
 */
void
ingest_sip_flush(ingest_sip_t *self)
{
    size_t i = 0;

    while (i < self->nout) {
        size_t k = 0;
        int fd = self->out[i].fd;

        while (i + k < self->nout && k < S_UDP_BATCH &&
               self->out[i + k].fd == fd) {
            s_out *o = &self->out[i + k];
            self->siov[k].iov_base = self->obuf + o->off;
            self->siov[k].iov_len = o->len;
            memset(&self->smsg[k], 0, sizeof(self->smsg[k]));
            self->smsg[k].msg_hdr.msg_name = &o->addr;
            self->smsg[k].msg_hdr.msg_namelen = o->alen;
            self->smsg[k].msg_hdr.msg_iov = &self->siov[k];
            self->smsg[k].msg_hdr.msg_iovlen = 1;
            k++;
        }
        for (size_t done = 0; done < k;) {
            int r = sendmmsg(fd, self->smsg + done, (unsigned)(k - done),
                             MSG_NOSIGNAL);
            if (r > 0) {
                done += (size_t)r;
            } else if (r < 0 && errno == EINTR) {
                continue;
            } else {
                /* The first of the rest failed: name it, go past it. */
                s_sendto_failed(&self->out[i + done].addr, errno);
                done++;
            }
        }
        i += k;
    }
    self->nout = 0;
    self->olen = 0;
}

/*
 * Queue a UDP response.  Responses leave in batches (ingest_sip_flush,
 * called by the loop right after the store's replies are handled and
 * again at the end of each wake-up): at full load one sendmmsg carries
 * a whole batch of 202s, where a sendto per response was a system call
 * per message (about a tenth of ingest's CPU).  The bytes are copied
 * into one buffer, so the caller may free its response at once.
 */
static void
s_send_udp(ingest_sip_t *self, int fd, const struct sockaddr_storage *addr,
           socklen_t alen, const char *p, size_t n)
{
    s_out *o;

    self->stats.responses++;
    if (n > S_OUT_BYTES / 4) {
        /* Never happens with our responses; kept correct anyway. */
        if (sendto(fd, p, n, MSG_NOSIGNAL, (const struct sockaddr *)addr,
                   alen) < 0)
            s_sendto_failed(addr, errno);
        return;
    }
    if (self->nout == S_OUT_MAX || self->olen + n > S_OUT_BYTES)
        ingest_sip_flush(self);
    o = &self->out[self->nout++];
    o->fd = fd;
    memcpy(&o->addr, addr, alen);
    o->alen = alen;
    o->off = self->olen;
    o->len = n;
    memcpy(self->obuf + self->olen, p, n);
    self->olen += n;
}

/*
 * Build and send the response to `req`.  Returns the response (new) so a
 * UDP caller can remember it, or NULL when it could not be built (logged
 * at debug: only a request we could not answer anyway gets here).
 */
static char *
s_respond(ingest_sip_t *self, const proto_sip_req_t *req, int tcp, int fd,
          uint64_t serial, const struct sockaddr_storage *addr, socklen_t alen,
          int code, const char *text, const char *extra, size_t *outlen)
{
    char *resp = NULL;
    size_t n = 0;

    if (proto_sip_response(req, code, text, extra, NULL, &resp, &n) != SG_OK) {
        sg_debug(S_PLACE, "response %d not buildable", code);
        return NULL;
    }
    if (tcp) {
        s_conn *c = s_conn_get(self, fd, serial);
        if (c != NULL) {
            self->stats.responses++;
            s_conn_write(self, c, resp, n);
        }
    } else {
        s_send_udp(self, fd, addr, alen, resp, n);
    }
    if (outlen)
        *outlen = n;
    return resp;
}

/*
 * Answer a request the parser refused (err->code: 400, 413, 415, 505):
 * salvage the response fields from all of `buf` and parse them again, so
 * the builder only ever sees parsed values (ingest_salvage.h).  A request
 * without a usable Via, Call-ID or CSeq is dropped: RFC 3261 leaves no
 * way to answer it.  Counted in stats.unanswerable, named at debug.
 */
static void
s_respond_refused(ingest_sip_t *self, const uint8_t *buf, size_t n, int tcp,
                  int fd, uint64_t serial, const struct sockaddr_storage *addr,
                  socklen_t alen, const proto_sip_err_t *err)
{
    proto_sip_req_t req;
    const char *why = NULL, *text;
    char extra[512] = "";
    char *resp;

    self->stats.bad++;
    if (ingest_salvage_parse(buf, n, &req, &why) != SG_OK) {
        char a[80];

        self->stats.unanswerable++;
        sg_debug(S_PLACE, "%s from %s refused (%d %s), not answerable: %s",
                 tcp ? "tcp" : "udp",
                 s_addr_str((const struct sockaddr *)addr, a, sizeof(a)),
                 err->code, err->why, why);
        return;
    }
    /* An ACK is never answered (RFC 3261 17.2.1), refused or not. */
    if (req.method_id == PROTO_SIP_OTHER && req.method.n == 3 &&
        memcmp(req.method.p, "ACK", 3) == 0) {
        proto_sip_req_clear(&req);
        return;
    }
    text = err->code == 413   ? "Request Entity Too Large"
           : err->code == 415 ? "Unsupported Media Type"
           : err->code == 505 ? "Version Not Supported"
                              : "Bad Request";
    if (err->code == 415 && self->ctypes != NULL) {
        /* RFC 3261 21.4.13: list what is accepted (left out when the
         * list does not fit). */
        size_t o = (size_t)snprintf(extra, sizeof(extra), "Accept: ");
        for (size_t k = 0; self->ctypes[k] && o < sizeof(extra); k++)
            o += (size_t)snprintf(extra + o, sizeof(extra) - o, "%s%s",
                                  k ? ", " : "", self->ctypes[k]);
        if (o + 3 <= sizeof(extra))
            memcpy(extra + o, "\r\n", 3);
        else
            extra[0] = '\0';
    }
    resp = s_respond(self, &req, tcp, fd, serial, addr, alen, err->code, text,
                     extra[0] ? extra : NULL, NULL);
    sg_free(resp);
    proto_sip_req_clear(&req);
}

/* ---- requests ----------------------------------------------------------- */

/* A zeroed s_pend, from the free list when it has one. */
static s_pend *
s_pend_get(ingest_sip_t *self)
{
    s_pend *p = self->pfree;

    if (p == NULL)
        return sg_calloc(1, sizeof(*p));
    self->pfree = p->fnext;
    self->npfree--;
    memset(p, 0, sizeof(*p));
    return p;
}

static void
s_pend_put(ingest_sip_t *self, s_pend *p)
{
    if (self->npfree >= S_PEND_FREE) {
        sg_free(p);
        return;
    }
    p->fnext = self->pfree;
    self->pfree = p;
    self->npfree++;
}

static void
s_done(void *arg, const ingest_outcome_t *out)
{
    s_pend *p = arg;
    ingest_sip_t *self = p->sip;
    char extra[512];
    size_t o = 0, n = 0;
    char *resp;

    extra[0] = '\0';
    if (out->reason_hdr && out->reason_hdr[0])
        o += (size_t)snprintf(extra + o, sizeof(extra) - o, "%s",
                              out->reason_hdr);
    if (out->retry_after > 0 && o < sizeof(extra))
        o += (size_t)snprintf(extra + o, sizeof(extra) - o,
                              "Retry-After: %u\r\n", out->retry_after);
    resp = s_respond(self, &p->req, p->tcp, p->fd, p->serial, &p->addr, p->alen,
                     out->sip_code, out->sip_text, extra[0] ? extra : NULL, &n);
    sg_debug(S_PLACE, "msg=%s answered %d in %llu us", out->log_id,
             out->sip_code,
             (unsigned long long)(sg_clock_mono_us() - p->t0_us));
    if (p->rtx != NULL) {
        s_rtx_final(self, p->rtx, resp, n);
        resp = NULL;
    }
    sg_free(resp);
    if (p->tcp) {
        s_conn *c = s_conn_get(self, p->fd, p->serial);
        if (c != NULL) {
            c->pending--;
            c->last_ms = sg_clock_mono_ms();
        }
    }
    self->pending--;
    proto_sip_req_clear(&p->req);
    s_pend_put(self, p);
}

/* Dedup input for unsigned messages: "Call-ID CSeq" (DESIGN.md 3.9). */
static size_t
s_dedup(const proto_sip_req_t *req, char *out, size_t n)
{
    int k = snprintf(out, n, "%.*s %u", (int)req->call_id.n, req->call_id.p,
                     req->cseq);
    return k < 0 ? 0 : (size_t)k >= n ? n - 1 : (size_t)k;
}

/*
 * One parsed request.  `req` is stolen (cleared by the caller only when
 * this returns 0).
 */
static int
s_request(ingest_sip_t *self, proto_sip_req_t *req, int tcp, int fd,
          uint64_t serial, const struct sockaddr_storage *addr, socklen_t alen,
          const conf_peer_t *peer)
{
    ingest_str_t pai[PROTO_SIP_PAI_CAP], ids[PROTO_SIP_IDENTITY_CAP], to;
    ingest_submit_t in;
    s_pend *p;
    s_rtx *rtx = NULL;
    char *resp;
    char dedup[1100];

    if (req->method_id == PROTO_SIP_OPTIONS) {
        resp = s_respond(self, req, tcp, fd, serial, addr, alen, 200, "OK",
                         "Allow: MESSAGE, OPTIONS\r\n", NULL);
        sg_free(resp);
        return 0;
    }
    if (req->method_id != PROTO_SIP_MESSAGE) {
        /* An ACK is never answered (RFC 3261 17.2.1). */
        if (!(req->method.n == 3 && memcmp(req->method.p, "ACK", 3) == 0)) {
            resp = s_respond(self, req, tcp, fd, serial, addr, alen, 405,
                             "Method Not Allowed",
                             "Allow: MESSAGE, OPTIONS\r\n", NULL);
            sg_free(resp);
        }
        return 0;
    }
    if (!tcp) {
        uint8_t key[16];
        s_rtx_key(req, addr, alen, key);
        if ((rtx = s_rtx_find(self, key)) != NULL) {
            self->stats.retransmits++;
            if (rtx->final && rtx->resp_len > 0)
                s_send_udp(self, fd, addr, alen, rtx->resp, rtx->resp_len);
            return 0;
        }
        rtx = s_rtx_add(self, key);
    }
    if (peer == NULL) {
        char a[80];
        sg_info(S_PLACE, "MESSAGE from unknown peer %s refused",
                s_addr_str((const struct sockaddr *)addr, a, sizeof(a)));
        resp = s_respond(self, req, tcp, fd, serial, addr, alen, 403,
                         "Unknown Peer", NULL, NULL);
        if (rtx != NULL) {
            s_rtx_final(self, rtx, resp, resp ? strlen(resp) : 0);
            resp = NULL;
        }
        sg_free(resp);
        return 0;
    }

    p = s_pend_get(self);
    p->sip = self;
    p->req = *req;
    memset(req, 0, sizeof(*req));
    p->tcp = tcp;
    p->fd = fd;
    p->serial = serial;
    p->addr = *addr;
    p->alen = alen;
    p->rtx = rtx;
    p->t0_us = sg_clock_mono_us();
    self->pending++;
    if (tcp) {
        s_conn *c = s_conn_get(self, fd, serial);
        if (c != NULL)
            c->pending++;
    }

    memset(&in, 0, sizeof(in));
    in.peer = peer;
    in.from.p = p->req.from.p;
    in.from.n = p->req.from.n;
    for (size_t i = 0; i < p->req.npai; i++) {
        pai[i].p = p->req.pai[i].p;
        pai[i].n = p->req.pai[i].n;
    }
    in.pai = pai;
    in.npai = p->req.npai;
    in.ruri.p = p->req.ruri.p;
    in.ruri.n = p->req.ruri.n;
    to.p = p->req.to_uri.p;
    to.n = p->req.to_uri.n;
    in.to = &to;
    in.nto = 1;
    in.content_type.p = p->req.content_type.p;
    in.content_type.n = p->req.content_type.n;
    for (size_t i = 0; i < p->req.nidentity; i++) {
        ids[i].p = p->req.identity[i].p;
        ids[i].n = p->req.identity[i].n;
    }
    in.identity = ids;
    in.nidentity = p->req.nidentity;
    in.body = p->req.body;
    in.body_len = p->req.body_len;
    in.has_expires = p->req.has_expires;
    in.expires = p->req.expires;
    in.date = p->req.date.p ? p->req.date_epoch : 0;
    in.dedup.p = dedup;
    in.dedup.n = s_dedup(&p->req, dedup, sizeof(dedup));
    in.received_ms = sg_clock_wall_ms();
    in.iface = tcp ? "sip_tcp" : "sip_udp";
    if (tcp)
        self->stats.tcp_in++;
    else
        self->stats.udp_in++;
    /* The body pointer is into the caller's buffer: the core copies it
     * before returning, and the response needs only header copies. */
    ingest_core_submit(self->core, &in, s_done, p);
    return 0;
}

/*
 * Up to S_UDP_BATCH datagrams with one recvmmsg(2): under load a system
 * call per datagram was a large part of ingest's kernel time, and a batch
 * also lets the STOREs of the batch leave together (ingest_main.c).  At
 * low rates a batch is one datagram, so nothing waits for company.
 */
static void
s_udp_read(ingest_sip_t *self, int fd)
{
    int got;

    for (int i = 0; i < S_UDP_BATCH; i++) {
        memset(&self->rmsg[i].msg_hdr, 0, sizeof(self->rmsg[i].msg_hdr));
        self->riov[i].iov_base = self->ubuf + (size_t)i * (S_UDP_DGRAM + 1);
        self->riov[i].iov_len = S_UDP_DGRAM;
        self->rmsg[i].msg_hdr.msg_name = &self->raddr[i];
        self->rmsg[i].msg_hdr.msg_namelen = sizeof(self->raddr[i]);
        self->rmsg[i].msg_hdr.msg_iov = &self->riov[i];
        self->rmsg[i].msg_hdr.msg_iovlen = 1;
    }
    got = recvmmsg(fd, self->rmsg, S_UDP_BATCH, MSG_DONTWAIT, NULL);
    if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            sg_warn(S_PLACE, "recvmmsg: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < got; i++) {
        uint8_t *buf = self->riov[i].iov_base;
        size_t n = self->rmsg[i].msg_len;
        const struct sockaddr_storage *ss = &self->raddr[i];
        socklen_t alen = self->rmsg[i].msg_hdr.msg_namelen;
        proto_sip_req_t req;
        proto_sip_err_t err;

        buf[n] = '\0';
        /* Keep-alive CRLFs (RFC 5626 style) and empty datagrams. */
        if (n <= 4 && strspn((char *)buf, "\r\n") >= n)
            continue;
        if (proto_sip_parse(buf, n, 0, &self->lim, &req, &err) != SG_OK) {
            s_respond_refused(self, buf, n, 0, fd, 0, ss, alen, &err);
            continue;
        }
        (void)s_request(
            self, &req, 0, fd, 0, ss, alen,
            conf_peer_by_addr(self->conf, (const struct sockaddr *)ss));
        proto_sip_req_clear(&req);
    }
}

static void
s_tcp_accept(ingest_sip_t *self, int lfd)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t alen = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &alen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        size_t same = 0;
        s_conn *c;
        char a[80];

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                sg_warn(S_PLACE, "accept: %s", strerror(errno));
            return;
        }
        for (size_t i = 0; i < self->cap_conns; i++)
            if (self->conns[i] && s_same_host(&self->conns[i]->addr, &ss))
                same++;
        if (self->nconns >= (size_t)self->conf->sip_max_connections ||
            same >= (size_t)self->conf->sip_max_conn_per_peer) {
            self->stats.tcp_refused++;
            sg_warn(S_PLACE, "tcp %s refused: connection limit",
                    s_addr_str((struct sockaddr *)&ss, a, sizeof(a)));
            close(fd);
            continue;
        }
        if ((size_t)fd >= self->cap_conns) {
            size_t n = (size_t)fd * 2 + 16;
            self->conns = sg_realloc(self->conns, n * sizeof(*self->conns));
            memset(self->conns + self->cap_conns, 0,
                   (n - self->cap_conns) * sizeof(*self->conns));
            self->cap_conns = n;
        }
        c = sg_calloc(1, sizeof(*c));
        c->fd = fd;
        c->serial = ++self->next_serial;
        c->addr = ss;
        c->alen = alen;
        c->peer = conf_peer_by_addr(self->conf, (struct sockaddr *)&ss);
        c->last_ms = sg_clock_mono_ms();
        {
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        self->conns[fd] = c;
        self->nconns++;
        self->stats.tcp_accepted++;
    }
}

/* Cut and handle every complete request in the read buffer. */
static void
s_tcp_frames(ingest_sip_t *self, s_conn *c)
{
    size_t off = 0;
    int fd = c->fd;
    uint64_t serial = c->serial;

    while (off < c->rlen && c->pending < S_TCP_PENDING && !c->closing) {
        proto_sip_err_t err;
        proto_sip_req_t req;
        size_t len = 0;
        proto_sip_frame_rc fr = proto_sip_frame(c->rbuf + off, c->rlen - off,
                                                &self->lim, &len, &err);

        if (fr == PROTO_SIP_FRAME_MORE)
            break;
        if (fr == PROTO_SIP_FRAME_BAD) {
            s_respond_refused(self, c->rbuf + off, c->rlen - off, 1, fd, serial,
                              &c->addr, c->alen, &err);
            if ((c = s_conn_get(self, fd, serial)) == NULL)
                return;
            c->closing = 1;
            c->rlen = off = 0;
            break;
        }
        /* Only CRLF keep-alives: framing consumed them. */
        if (proto_sip_parse(c->rbuf + off, len, PROTO_SIP_STREAM, &self->lim,
                            &req, &err) != SG_OK) {
            /* Framing held, so the stream is still in step: answer and go
             * on with the next request. */
            s_respond_refused(self, c->rbuf + off, len, 1, fd, serial, &c->addr,
                              c->alen, &err);
        } else {
            (void)s_request(self, &req, 1, fd, serial, &c->addr, c->alen,
                            c->peer);
            proto_sip_req_clear(&req);
        }
        if ((c = s_conn_get(self, fd, serial)) == NULL)
            return;
        off += len;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
        c->part_ms = c->rlen > 0 ? sg_clock_mono_ms() : 0;
    }
    if (c->closing && c->woff == c->wlen && c->pending == 0)
        s_conn_linger(self, c);
}

static void
s_tcp_read(ingest_sip_t *self, s_conn *c)
{
    size_t want = (size_t)self->lim.max_message + 4096;
    int fd = c->fd;
    uint64_t serial = c->serial;

    if (c->rcap < want) {
        c->rbuf = sg_realloc(c->rbuf, want);
        c->rcap = want;
    }
    if (c->linger_ms != 0) {
        s_conn_drain(self, c);
        return;
    }
    for (;;) {
        ssize_t n;
        if (c->rlen == c->rcap) {
            /* A full buffer that does not frame is a framing error the
             * framer reports; this is only reached with requests waiting
             * (back-pressure). */
            break;
        }
        n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n == 0) {
            /* The peer closed its side: answers still pending are lost
             * with the connection (RFC 3261 18.2.2 would open a new one;
             * a MESSAGE peer retries instead). */
            s_conn_close(self, c, "peer closed");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            s_conn_close(self, c, strerror(errno));
            return;
        }
        c->rlen += (size_t)n;
        c->last_ms = sg_clock_mono_ms();
        if (c->part_ms == 0)
            c->part_ms = c->last_ms;
        s_tcp_frames(self, c);
        if ((c = s_conn_get(self, fd, serial)) == NULL)
            return;
        if (c->pending >= S_TCP_PENDING || c->closing)
            break;
    }
}

/* ---- the poll-loop interface -------------------------------------------- */

size_t
ingest_sip_fds(ingest_sip_t *self, struct pollfd *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < self->nsocks && n < max; i++) {
        if (self->socks[i].fd < 0)
            continue;
        out[n].fd = self->stopping ? -1 : self->socks[i].fd;
        out[n].events = POLLIN;
        out[n].revents = 0;
        n++;
    }
    for (size_t i = 0; i < self->cap_conns && n < max; i++) {
        s_conn *c = self->conns[i];
        if (c == NULL)
            continue;
        out[n].fd = c->fd;
        out[n].events = 0;
        if (!self->stopping &&
            (c->linger_ms != 0 || (!c->closing && c->pending < S_TCP_PENDING)))
            out[n].events |= POLLIN;
        if (c->woff < c->wlen)
            out[n].events |= POLLOUT;
        out[n].revents = 0;
        n++;
    }
    return n;
}

void
ingest_sip_handle(ingest_sip_t *self, const struct pollfd *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int fd = fds[i].fd;
        s_sock *sk = NULL;
        s_conn *c;
        uint64_t serial;

        if (fds[i].revents == 0 || fd < 0)
            continue;
        for (size_t k = 0; k < self->nsocks; k++)
            if (self->socks[k].fd == fd) {
                sk = &self->socks[k];
                break;
            }
        if (sk != NULL) {
            if (sk->tcp)
                s_tcp_accept(self, fd);
            else
                s_udp_read(self, fd);
            continue;
        }
        if ((size_t)fd >= self->cap_conns || (c = self->conns[fd]) == NULL)
            continue;
        serial = c->serial;
        if (fds[i].revents & POLLOUT)
            s_conn_flush(self, c);
        if ((c = s_conn_get(self, fd, serial)) == NULL)
            continue;
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
            s_tcp_read(self, c);
    }
}

void
ingest_sip_run(ingest_sip_t *self)
{
    uint64_t now = sg_clock_mono_ms();

    s_rtx_expire(self, now);
    /* Requests held back by back-pressure, once answers went out. */
    for (size_t i = 0; i < self->cap_conns; i++) {
        s_conn *c = self->conns[i];
        if (c != NULL && c->rlen > 0 && c->pending < S_TCP_PENDING &&
            !c->closing && !self->stopping)
            s_tcp_frames(self, c);
        else if (c != NULL && c->closing && c->linger_ms == 0 &&
                 c->pending == 0 && c->woff == c->wlen)
            s_conn_linger(self, c); /* its last answer came from the store */
    }
    if (now < self->next_idle_scan)
        return;
    self->next_idle_scan = now + 1000;
    for (size_t i = 0; i < self->cap_conns; i++) {
        s_conn *c = self->conns[i];
        uint64_t idle = (uint64_t)self->conf->sip_tcp_idle * 1000;

        if (c == NULL || c->pending != 0 || c->woff != c->wlen)
            continue;
        if (c->linger_ms != 0 && now - c->linger_ms >= S_TCP_LINGER_MS) {
            s_conn_close(self, c, "still sending after a framing error");
        } else if (now - c->last_ms >= idle) {
            self->stats.tcp_idle_closed++;
            s_conn_close(self, c, "idle");
        } else if (c->rlen > 0 && c->part_ms != 0 && now - c->part_ms >= idle) {
            /* Slowloris: bytes keep coming, the request never completes. */
            self->stats.tcp_idle_closed++;
            s_conn_close(self, c, "request incomplete after sip.tcp_idle");
        }
    }
}

long
ingest_sip_timeout_ms(const ingest_sip_t *self)
{
    uint64_t now = sg_clock_mono_ms(), t = now + 1000;

    if (self->fhead && self->fhead->expire_at < t)
        t = self->fhead->expire_at;
    if (self->nconns > 0 && self->next_idle_scan < t)
        t = self->next_idle_scan;
    return t <= now ? 0 : (long)(t - now);
}

void
ingest_sip_stop(ingest_sip_t *self)
{
    self->stopping = 1;
    for (size_t i = 0; i < self->nsocks; i++)
        if (self->socks[i].tcp && self->socks[i].fd >= 0) {
            close(self->socks[i].fd);
            self->socks[i].fd = -1;
        }
}

size_t
ingest_sip_busy(const ingest_sip_t *self)
{
    size_t n = self->pending + self->nout;

    for (size_t i = 0; i < self->cap_conns; i++)
        if (self->conns[i] && self->conns[i]->woff < self->conns[i]->wlen)
            n++;
    return n;
}

const ingest_sip_stats_t *
ingest_sip_stats(const ingest_sip_t *self)
{
    return &self->stats;
}

ingest_sip_t *
ingest_sip_new(const conf_t *conf, ingest_core_t *core)
{
    ingest_sip_t *self = sg_calloc(1, sizeof(*self));
    size_t nt = conf->sip_udp.n + conf->sip_tcp.n;

    self->conf = conf;
    self->core = core;
    proto_sip_limits_default(&self->lim);
    if (conf->sip_max_message > 0) {
        self->lim.max_message = (size_t)conf->sip_max_message;
        self->lim.max_body = (size_t)conf->sip_max_message;
        if (self->lim.max_header_bytes > self->lim.max_message)
            self->lim.max_header_bytes = self->lim.max_message;
    }
    if (conf->sip_max_headers > 0)
        self->lim.max_headers = (size_t)conf->sip_max_headers;
    if (conf->sip_max_identity > 0)
        self->lim.max_identity =
            (size_t)conf->sip_max_identity > PROTO_SIP_IDENTITY_CAP
                ? PROTO_SIP_IDENTITY_CAP
                : (size_t)conf->sip_max_identity;
    if (conf->sip_accept_types.n > 0) {
        self->ctypes = sg_calloc(conf->sip_accept_types.n + 1, sizeof(char *));
        for (size_t i = 0; i < conf->sip_accept_types.n; i++)
            self->ctypes[i] = conf->sip_accept_types.v[i];
        self->lim.content_types = self->ctypes;
    }
    self->nrtx_buckets = S_RTX_BUCKETS0;
    self->rtx = sg_calloc(self->nrtx_buckets, sizeof(*self->rtx));
    self->ubuf = sg_malloc((size_t)S_UDP_BATCH * (S_UDP_DGRAM + 1));
    self->rmsg = sg_calloc(S_UDP_BATCH, sizeof(*self->rmsg));
    self->riov = sg_calloc(S_UDP_BATCH, sizeof(*self->riov));
    self->raddr = sg_calloc(S_UDP_BATCH, sizeof(*self->raddr));
    self->out = sg_calloc(S_OUT_MAX, sizeof(*self->out));
    self->obuf = sg_malloc(S_OUT_BYTES);
    self->smsg = sg_calloc(S_UDP_BATCH, sizeof(*self->smsg));
    self->siov = sg_calloc(S_UDP_BATCH, sizeof(*self->siov));
    self->socks = sg_calloc(nt ? nt : 1, sizeof(*self->socks));
    for (size_t i = 0; i < nt; i++) {
        int tcp = i >= conf->sip_udp.n;
        const char *spec =
            tcp ? conf->sip_tcp.v[i - conf->sip_udp.n] : conf->sip_udp.v[i];
        int fd = s_bind(spec, tcp);
        if (fd < 0) {
            self->nsocks = i;
            ingest_sip_destroy(&self);
            return NULL;
        }
        self->socks[i].fd = fd;
        self->socks[i].tcp = tcp;
        snprintf(self->socks[i].name, sizeof(self->socks[i].name), "%s", spec);
    }
    self->nsocks = nt;
    return self;
}

void
ingest_sip_destroy(ingest_sip_t **self_p)
{
    ingest_sip_t *self;

    if (self_p == NULL || (self = *self_p) == NULL)
        return;
    ingest_sip_flush(self);
    for (size_t i = 0; i < self->nsocks; i++)
        if (self->socks[i].fd >= 0)
            close(self->socks[i].fd);
    for (size_t i = 0; i < self->cap_conns; i++)
        if (self->conns[i])
            s_conn_close(self, self->conns[i], "shutdown");
    for (size_t i = 0; i < self->nrtx_buckets; i++) {
        s_rtx *e = self->rtx[i];
        while (e) {
            s_rtx *next = e->hnext;
            sg_free(e->resp);
            sg_free(e);
            e = next;
        }
    }
    while (self->pfree != NULL) {
        s_pend *p = self->pfree;
        self->pfree = p->fnext;
        sg_free(p);
    }
    sg_free(self->rtx);
    sg_free(self->conns);
    sg_free(self->socks);
    sg_free(self->ctypes);
    sg_free(self->ubuf);
    sg_free(self->rmsg);
    sg_free(self->riov);
    sg_free(self->raddr);
    sg_free(self->out);
    sg_free(self->obuf);
    sg_free(self->smsg);
    sg_free(self->siov);
    sg_free(self);
    *self_p = NULL;
}
