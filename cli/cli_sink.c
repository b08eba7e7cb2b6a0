/*
 * cli/cli_sink.c - `stirgate sink`: a demo webhook receiver for the
 * README's walk-through.  It listens on 127.0.0.1 (plain HTTP/1.1, keep-
 * alive, one process, poll), answers every POST with 200 (or --status N)
 * and prints one line per webhook the delivery workers send:
 *
 *   msg=<Idempotency-Key> from=+12025550100 to=+12025550111
 *   verstat=TN-Validation-Passed reason=ok body_len=12 iat=N
 *   [resign_iat=N] [state=S] path=/PATH
 *
 * A demo, not a server to face the Internet: no TLS, a request size cap,
 * no pipelining beyond what the poll loop reads.
 */
#include "cli/cli.h"
#include "cli/cli_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/sg_log.h"

#define S_CMD "sink"
#define S_CONNS 64
#define S_REQ_MAX (4u << 20)

typedef struct {
    int fd;
    char *buf;
    size_t n, cap;
} s_conn;

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static const char *
s_str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v ? v : "-";
}

/* One line per webhook; outside text printed quoted where it could hold
 * spaces or control characters. */
static void
s_print(const char *path, const char *key, const char *body, size_t n)
{
    json_error_t err;
    json_t *o = json_loadb(body, n, 0, &err);
    size_t blen = 0;
    char q[160];

    if (o == NULL) {
        printf("path=%s not JSON: line %d column %d: %s\n", path, err.line,
               err.column, err.text);
        fflush(stdout);
        return;
    }
    if (json_is_string(json_object_get(o, "body")))
        blen = json_string_length(json_object_get(o, "body"));
    else if (json_is_string(json_object_get(o, "body_base64"))) {
        const char *b = json_string_value(json_object_get(o, "body_base64"));
        blen = strlen(b) / 4 * 3 - (strlen(b) > 0 && b[strlen(b) - 1] == '='
                                        ? (b[strlen(b) - 2] == '=' ? 2 : 1)
                                        : 0);
    }
    printf("msg=%s from=%s to=%s verstat=%s reason=%s body_len=%zu "
           "iat=%lld",
           key, s_str(o, "from"), s_str(o, "to"), s_str(o, "verstat"),
           s_str(o, "reason"), blen,
           (long long)json_integer_value(json_object_get(o, "iat")));
    if (json_object_get(o, "resign_iat"))
        printf(" resign_iat=%lld", (long long)json_integer_value(
                                       json_object_get(o, "resign_iat")));
    if (json_object_get(o, "state"))
        printf(" state=%s", s_str(o, "state"));
    printf(" path=%s\n", sg_log_quote(path, strlen(path), q, sizeof(q)));
    fflush(stdout);
    json_decref(o);
}

/* Find header `name` in the head; copy its value (trimmed) into out. */
static int
s_header(const char *head, size_t hn, const char *name, char *out,
         size_t outsz)
{
    size_t nl = strlen(name);

    for (const char *p = head; p < head + hn;) {
        const char *e = memchr(p, '\n', (size_t)(head + hn - p));
        if (e == NULL)
            e = head + hn;
        if ((size_t)(e - p) > nl + 1 && strncasecmp(p, name, nl) == 0 &&
            p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t k = 0;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (v < e && *v != '\r' && k + 1 < outsz)
                out[k++] = (*v >= 0x20 && *v < 0x7f) ? *v++ : (v++, '?');
            out[k] = '\0';
            return 1;
        }
        p = e + 1;
    }
    return 0;
}

/* Handle every complete request in the buffer; -1 closes. */
static int
s_serve(s_conn *c, int status)
{
    for (;;) {
        char *end = c->n >= 4 ? memmem(c->buf, c->n, "\r\n\r\n", 4) : NULL;
        char cl[32] = "0", key[160] = "-", path[256] = "/", reply[128];
        size_t hn, blen, total;
        if (end == NULL)
            return c->n > 65536 ? -1 : 0;
        hn = (size_t)(end - c->buf) + 4;
        s_header(c->buf, hn, "Content-Length", cl, sizeof(cl));
        s_header(c->buf, hn, "Idempotency-Key", key, sizeof(key));
        blen = strtoul(cl, NULL, 10);
        if (blen > S_REQ_MAX)
            return -1;
        total = hn + blen;
        if (c->n < total)
            return 0;
        if (sscanf(c->buf, "%*s %255s", path) != 1)
            snprintf(path, sizeof(path), "/");
        if (strncmp(c->buf, "POST ", 5) == 0)
            s_print(path, key, c->buf + hn, blen);
        snprintf(reply, sizeof(reply),
                 "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n", status,
                 status < 300 ? "OK" : "Not OK");
        if (send(c->fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
            return -1;
        memmove(c->buf, c->buf + total, c->n - total);
        c->n -= total;
    }
}

int
cli_sink_main(int argc, char **argv)
{
    const char *listen_at = "127.0.0.1:8090";
    struct sockaddr_in sa;
    struct pollfd pf[S_CONNS + 1];
    s_conn conns[S_CONNS];
    char host[64];
    int lfd, port, status = 200, one = 1;
    struct sigaction sg;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen_at = argv[++i];
        else if (strcmp(argv[i], "--status") == 0 && i + 1 < argc)
            status = atoi(argv[++i]);
        else {
            cli_err(S_CMD, "usage: stirgate sink [--listen 127.0.0.1:PORT] "
                           "[--status CODE]");
            return CLI_EXIT_USAGE;
        }
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (sscanf(listen_at, "%63[^:]:%d", host, &port) != 2 || port < 1 ||
        port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        status < 200 || status > 599) {
        cli_err(S_CMD, "--listen wants IPv4:PORT, --status 200..599");
        return CLI_EXIT_USAGE;
    }
    sa.sin_port = htons((uint16_t)port);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(lfd, 64) != 0) {
        cli_err(S_CMD, "listen %s: %s", listen_at, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        return 1;
    }
    memset(&sg, 0, sizeof(sg));
    sg.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sg, NULL);
    sigaction(SIGINT, &sg, NULL);
    {
        /* The master starts stages with these blocked (cli/cli_run.c). */
        sigset_t stop;

        sigemptyset(&stop);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGINT);
        sigprocmask(SIG_UNBLOCK, &stop, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "stirgate sink: listening on http://%s/ (Ctrl-C stops)\n",
            listen_at);
    for (int i = 0; i < S_CONNS; i++)
        conns[i] = (s_conn){-1, NULL, 0, 0};
    while (!s_stop) {
        int n = 0;
        pf[n++] = (struct pollfd){lfd, POLLIN, 0};
        for (int i = 0; i < S_CONNS; i++)
            pf[n++] = (struct pollfd){conns[i].fd, POLLIN, 0};
        if (poll(pf, (nfds_t)n, 1000) <= 0)
            continue;
        if (pf[0].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            for (int i = 0; fd >= 0 && i < S_CONNS; i++)
                if (conns[i].fd < 0) {
                    conns[i].fd = fd;
                    fd = -1;
                }
            if (fd >= 0)
                close(fd); /* full: the client retries */
        }
        for (int i = 0; i < S_CONNS; i++) {
            s_conn *c = &conns[i];
            ssize_t k;
            if (c->fd < 0 || !(pf[i + 1].revents & (POLLIN | POLLHUP)))
                continue;
            if (c->cap - c->n < 65536) {
                c->cap = c->n + 65536;
                c->buf = sg_realloc(c->buf, c->cap);
            }
            k = recv(c->fd, c->buf + c->n, c->cap - c->n, 0);
            if (k > 0) {
                c->n += (size_t)k;
                if (s_serve(c, status) == 0 && c->n <= S_REQ_MAX + 65536)
                    continue;
            } else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            close(c->fd);
            c->fd = -1;
            c->n = 0;
        }
    }
    for (int i = 0; i < S_CONNS; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
        sg_free(conns[i].buf);
    }
    close(lfd);
    return CLI_EXIT_OK;
}
