/*
 * ingest/ingest_http.c - the HTTP API (DESIGN.md section 5) and the
 * publication of our own certificate chain at the path of sign.x5u.
 *
 *   POST /v1/messages        proto_api body -> ingest_core -> 202 after
 *                            STORED, with the ids and the verification
 *                            outcome; errors {"reason","message"}
 *   GET  /v1/messages/{id}   SHOW to the store -> the client's status
 *                            (proto_api_status_json: delivered,
 *                            deferred, expired, ...)
 *   GET  <x5u path>          sign.chain, application/pem-certificate-chain,
 *                            Cache-Control: max-age=sign.publish_max_age
 *
 * libmicrohttpd runs without threads of its own: MHD_USE_EPOLL gives one
 * descriptor for main's poll loop, and MHD_ALLOW_SUSPEND_RESUME parks a
 * POST until the store committed it (or a GET until SHOW answered).  Two
 * daemons share the handler: http.listen (plain) and http.tls_listen (TLS,
 * because an x5u URL must be https: DESIGN.md 3.7).
 *
 * Connection limits are libmicrohttpd's, each daemon counting its own:
 * http.max_connections (one more is not served while they stay open:
 * left in the listen backlog or closed) and http.max_connections_per_peer
 * per client address, port ignored (one more is accepted and closed at
 * once, MHD_OPTION_PER_IP_CONNECTION_LIMIT).  Like the SIP limits they
 * hold per ingest process.
 *
 * Clients: a bearer token names the API client (conf_peer_by_token, a
 * constant-time compare).  Without an Authorization header, a peer found
 * by the source address that has no token configured is the client (the
 * token is optional per client); otherwise 401.  A client sees only its
 * own messages: another client's id is 404 like an unknown one.
 */
#include "ingest/ingest_int.h"

#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "proto/proto_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PLACE "ingest.http"
#define S_SHOW_TIMEOUT_MS 5000
#define S_PEM_CHAIN "application/pem-certificate-chain"
#define S_JSON "application/json"

typedef enum {
    S_K_OTHER = 0,
    S_K_POST,
    S_K_SHOW,
    S_K_CHAIN,
} s_kind;

typedef struct s_hreq s_hreq;
struct s_hreq {
    ingest_http_t *h;
    struct MHD_Connection *conn;
    struct MHD_Daemon *daemon;
    s_kind kind;
    const conf_peer_t *peer;
    char *buf;
    size_t len;
    int too_large;
    int close; /* answer with "Connection: close" */
    int suspended;
    int waiting; /* core or store still to answer */
    /* The answer, once known. */
    int status;
    char *body;
    const char *ctype;
    uint32_t retry_after;
    /* SHOW */
    uint64_t corr;
    uint64_t deadline;
    uint8_t id[PROTO_MSG_ID_LEN];
    s_hreq *next; /* pending SHOW list */
};

struct ingest_http {
    const conf_t *conf;
    ingest_core_t *core;
    ingest_ctl_fn ctl;
    void *ctl_arg;
    struct MHD_Daemon *d[2];
    int efd[2];
    proto_api_limits_t lim;
    size_t req_max; /* largest request body (the JSON), see s_req_max */
    char *chain;
    size_t chain_len;
    char *chain_path;
    char *tls_key, *tls_cert;
    size_t tls_key_len;
    uint64_t next_corr;
    s_hreq *shows;
    size_t busy;
    int resumed;
};

/* ---- helpers ------------------------------------------------------------ */

static void
s_answer(s_hreq *q, int status, char *body_p, const char *ctype)
{
    sg_free(q->body);
    q->status = status;
    q->body = body_p;
    q->ctype = ctype;
}

static void
s_error(s_hreq *q, int status, const char *reason, const char *message)
{
    s_answer(q, status, proto_api_error_json(reason, message), S_JSON);
}

static enum MHD_Result
s_queue(s_hreq *q)
{
    struct MHD_Response *r;
    enum MHD_Result rc;
    const char *b = q->body ? q->body : "";

    r = MHD_create_response_from_buffer(strlen(b), (void *)b,
                                        MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (q->ctype)
        (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      q->ctype);
    if (q->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", q->retry_after);
        (void)MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (q->status == 401)
        (void)MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                      "Bearer");
    if (q->close)
        (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    rc = MHD_queue_response(q->conn, (unsigned int)q->status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result
s_queue_chain(ingest_http_t *h, struct MHD_Connection *conn)
{
    struct MHD_Response *r;
    enum MHD_Result rc;
    char cc[48];

    r = MHD_create_response_from_buffer(h->chain_len, h->chain,
                                        MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    snprintf(cc, sizeof(cc), "max-age=%lld",
             (long long)h->conf->sign_publish_max_age);
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, S_PEM_CHAIN);
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc);
    rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* The client: bearer token, else a token-less peer by address. */
static const conf_peer_t *
s_client(ingest_http_t *h, struct MHD_Connection *conn, int *had_token)
{
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const union MHD_ConnectionInfo *ci;
    const conf_peer_t *p;

    *had_token = 0;
    if (auth != NULL) {
        *had_token = 1;
        if (strncasecmp(auth, "Bearer ", 7) != 0)
            return NULL;
        auth += 7;
        while (*auth == ' ')
            auth++;
        if (*auth == '\0')
            return NULL;
        return conf_peer_by_token(h->conf, auth, strlen(auth));
    }
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return NULL;
    p = conf_peer_by_addr(h->conf, ci->client_addr);
    if (p != NULL && (p->api_token == NULL || p->api_token[0] == '\0'))
        return p;
    return NULL;
}

static int
s_media_ok(const ingest_http_t *h, const char *ctype)
{
    const sg_cfg_strlist_t *l = &h->conf->sip_accept_types;
    size_t n = strcspn(ctype, "; \t");

    if (l->n == 0)
        return 1;
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == n && strncasecmp(l->v[i], ctype, n) == 0)
            return 1;
    return 0;
}

/* ---- POST /v1/messages -------------------------------------------------- */

static void
s_resume(s_hreq *q)
{
    q->waiting = 0;
    q->h->busy--;
    if (q->suspended) {
        q->suspended = 0;
        MHD_resume_connection(q->conn);
        q->h->resumed = 1;
    }
}

static void
s_post_done(void *arg, const ingest_outcome_t *out)
{
    s_hreq *q = arg;

    if (out->http_status == 202 || out->http_status == 200) {
        const char *reason =
            out->reason != REASON_OK ? proto_reason_name(out->reason) : NULL;
        s_answer(
            q, out->http_status,
            proto_api_accepted_json(out->msgs, out->n, out->verstat, reason),
            S_JSON);
    } else {
        s_error(q, out->http_status,
                out->api_reason ? out->api_reason : INGEST_R_INTERNAL,
                out->message ? out->message : "refused");
        q->retry_after = out->retry_after;
    }
    sg_debug(S_PLACE, "msg=%s API answer %d", out->log_id, out->http_status);
    s_resume(q);
}

static void
s_post(s_hreq *q)
{
    ingest_http_t *h = q->h;
    proto_api_msg_t m;
    proto_api_err_t err;
    ingest_submit_t in;
    ingest_str_t *to, *ids;

    if (proto_api_parse(q->buf ? q->buf : "", q->len, &h->lim, &m, &err) !=
        SG_OK) {
        s_error(q, strcmp(err.reason, "body_too_large") == 0 ? 413 : 400,
                err.reason, err.message);
        return;
    }
    if (!s_media_ok(h, m.content_type)) {
        s_error(q, 415, "unsupported_media_type",
                "content_type is not one of sip.accept_types");
        proto_api_msg_clear(&m);
        return;
    }
    to = sg_calloc(m.nto, sizeof(*to));
    ids = sg_calloc(m.nidentity + 1, sizeof(*ids));
    for (size_t i = 0; i < m.nto; i++) {
        to[i].p = m.to[i];
        to[i].n = strlen(m.to[i]);
    }
    for (size_t i = 0; i < m.nidentity; i++) {
        ids[i].p = m.identity[i];
        ids[i].n = strlen(m.identity[i]);
    }
    memset(&in, 0, sizeof(in));
    in.peer = q->peer;
    in.from.p = m.from;
    in.from.n = strlen(m.from);
    in.to = to;
    in.nto = m.nto;
    in.content_type.p = m.content_type;
    in.content_type.n = strlen(m.content_type);
    in.identity = ids;
    in.nidentity = m.nidentity;
    in.body = m.body;
    in.body_len = m.body_len;
    in.has_expires = m.has_expires;
    in.expires = m.expires;
    if (m.idempotency_id != NULL) {
        in.dedup.p = m.idempotency_id;
        in.dedup.n = strlen(m.idempotency_id);
        in.idem = in.dedup;
    }
    if (m.status_url != NULL) {
        in.status_url.p = m.status_url;
        in.status_url.n = strlen(m.status_url);
    }
    in.received_ms = sg_clock_wall_ms();
    in.iface = "http";
    q->waiting = 1;
    h->busy++;
    ingest_core_submit(h->core, &in, s_post_done, q);
    sg_free(to);
    sg_free(ids);
    proto_api_msg_clear(&m);
}

/* ---- GET /v1/messages/{id} ---------------------------------------------- */

static void
s_show_start(s_hreq *q, const char *hex)
{
    ingest_http_t *h = q->h;

    if (strlen(hex) != 32 || proto_msg_id_parse(hex, q->id) != NULL) {
        s_error(q, 404, "not_found", "no such message");
        return;
    }
    q->corr = INGEST_CORR_CTL | ++h->next_corr;
    if (h->ctl(h->ctl_arg, PROTO_CMD_SHOW, q->corr, q->id, PROTO_MSG_ID_LEN) !=
        0) {
        s_error(q, 503, INGEST_R_STORE_BUSY, "the store is not reachable");
        q->retry_after = 1;
        return;
    }
    q->deadline = sg_clock_mono_ms() + S_SHOW_TIMEOUT_MS;
    q->waiting = 1;
    h->busy++;
    q->next = h->shows;
    h->shows = q;
}

static void
s_show_unlink(ingest_http_t *h, s_hreq *q)
{
    for (s_hreq **pp = &h->shows; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            return;
        }
}

static void
s_show_json(s_hreq *q, const uint8_t *b, size_t n)
{
    char *out;
    int rc = proto_api_status_json((const char *)b, n, q->peer->name, &out);

    /* Only the client that sent a message may look at it. */
    if (rc == 1)
        s_error(q, 404, "not_found", "no such message");
    else if (rc != 0)
        s_error(q, 502, INGEST_R_INTERNAL, "the store answered nonsense");
    else
        s_answer(q, 200, out, S_JSON);
}

int
ingest_http_on_reply(ingest_http_t *self, const proto_wire_msg *m)
{
    s_hreq *q;

    if (!(m->corr & INGEST_CORR_CTL))
        return 0;
    for (q = self->shows; q; q = q->next)
        if (q->corr == m->corr)
            break;
    if (q == NULL)
        return 1; /* answered already (timed out) */
    s_show_unlink(self, q);
    if (m->cmd == PROTO_CMD_CTL_JSON) {
        s_show_json(q, m->body, m->body_len);
    } else if (m->cmd == PROTO_CMD_CTL_ERR) {
        proto_ctl_err e;
        if (proto_wire_ctl_err_decode(m->body, m->body_len, &e) == NULL &&
            e.code == PROTO_CTL_NO_SUCH)
            s_error(q, 404, "not_found", "no such message");
        else
            s_error(q, 503, INGEST_R_STORE_BUSY, "the store refused");
    } else {
        s_error(q, 502, INGEST_R_INTERNAL, "unexpected answer from the store");
    }
    s_resume(q);
    return 1;
}

/* ---- the handler -------------------------------------------------------- */

typedef struct {
    unsigned n_cl, n_te;
    int te_other;
} s_framing;

static enum MHD_Result
s_framing_field(void *cls, enum MHD_ValueKind kind, const char *key,
                const char *value)
{
    s_framing *f = cls;

    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->n_cl++;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->n_te++;
        if (value == NULL || strcasecmp(value, "chunked") != 0)
            f->te_other = 1;
    }
    return MHD_YES;
}

/*
 * Request smuggling (RFC 9112 6.1, 6.3, 11.2): a proxy in front of the API
 * and libmicrohttpd must never disagree on where a request ends, so a
 * request with both Content-Length and Transfer-Encoding, with more than
 * one Content-Length field, or with a transfer coding other than a single
 * "chunked" is refused (400) and its connection closed.  NULL when fine.
 */
static const char *
s_framing_why(struct MHD_Connection *conn)
{
    s_framing f = {0, 0, 0};

    (void)MHD_get_connection_values(conn, MHD_HEADER_KIND, s_framing_field,
                                    &f);
    if (f.n_cl > 0 && f.n_te > 0)
        return "both Content-Length and Transfer-Encoding";
    if (f.n_cl > 1)
        return "more than one Content-Length";
    if (f.n_te > 1 || f.te_other)
        return "a Transfer-Encoding other than chunked";
    return NULL;
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url,
         const char *method, const char *version, const char *upload_data,
         size_t *upload_data_size, void **con_cls)
{
    ingest_http_t *h = cls;
    s_hreq *q = *con_cls;
    int had_token;

    (void)version;
    if (q == NULL) {
        int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

        q = sg_calloc(1, sizeof(*q));
        q->h = h;
        q->conn = conn;
        *con_cls = q;
        {
            const char *why = s_framing_why(conn);
            if (why != NULL) {
                q->close = 1;
                s_error(q, 400, "bad_request", why);
                return s_queue(q);
            }
        }
        if (h->chain_path != NULL && strcmp(url, h->chain_path) == 0) {
            q->kind = S_K_CHAIN;
            if (!get)
                s_error(q, 405, "method_not_allowed", "GET only");
            return MHD_YES;
        }
        if (strcmp(url, "/v1/messages") == 0) {
            q->kind = S_K_POST;
            if (strcmp(method, "POST") != 0) {
                s_error(q, 405, "method_not_allowed", "POST only");
                return MHD_YES;
            }
        } else if (strncmp(url, "/v1/messages/", 13) == 0) {
            q->kind = S_K_SHOW;
            if (!get) {
                s_error(q, 405, "method_not_allowed", "GET only");
                return MHD_YES;
            }
        } else {
            s_error(q, 404, "not_found", "no such resource");
            return MHD_YES;
        }
        q->peer = s_client(h, conn, &had_token);
        if (q->peer == NULL) {
            s_error(q, 401, "unauthorized",
                    had_token ? "the bearer token is not valid"
                              : "a bearer token is required");
            return MHD_YES;
        }
        if (q->kind == S_K_POST) {
            const char *cl = MHD_lookup_connection_value(
                conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            /* Refuse before reading a body announced as too large. */
            if (cl != NULL &&
                strtoull(cl, NULL, 10) > (unsigned long long)h->req_max) {
                s_error(q, 413, "body_too_large",
                        "the request body is over http.max_body");
                return s_queue(q);
            }
        }
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (q->kind != S_K_POST || q->status != 0 || q->too_large)
            return MHD_YES;
        if (q->len + n > h->req_max) {
            q->too_large = 1;
            return MHD_YES;
        }
        q->buf = sg_realloc(q->buf, q->len + n + 1);
        memcpy(q->buf + q->len, upload_data, n);
        q->len += n;
        return MHD_YES;
    }

    /* The whole request is here (or we were resumed with the answer). */
    if (q->status != 0 && !q->waiting)
        return s_queue(q);
    if (q->waiting) {
        /* Spurious call while parked: stay parked. */
        if (!q->suspended) {
            q->suspended = 1;
            MHD_suspend_connection(conn);
        }
        return MHD_YES;
    }
    switch (q->kind) {
    case S_K_CHAIN:
        return s_queue_chain(h, conn);
    case S_K_POST:
        if (q->too_large)
            s_error(q, 413, "body_too_large",
                    "the request body is over http.max_body");
        else
            s_post(q);
        break;
    case S_K_SHOW:
        s_show_start(q, url + 13);
        break;
    default:
        s_error(q, 404, "not_found", "no such resource");
        break;
    }
    if (q->waiting) {
        q->suspended = 1;
        MHD_suspend_connection(conn);
        return MHD_YES;
    }
    return s_queue(q);
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    s_hreq *q = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (q == NULL)
        return;
    /* A suspended connection is never completed: q->waiting is 0 here. */
    sg_free(q->buf);
    sg_free(q->body);
    sg_free(q);
    *con_cls = NULL;
}

static void s_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    sg_debug(S_PLACE, "libmicrohttpd: %s", line);
}

/* ---- setup -------------------------------------------------------------- */

static char *
s_read_file(const char *path, size_t *len, int secret)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *buf = NULL;
    size_t n = 0;

    if (f == NULL) {
        sg_error(S_PLACE, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || st.st_size > (8 << 20)) {
        sg_error(S_PLACE, "%s: not a readable file of sane size", path);
        fclose(f);
        return NULL;
    }
    if (secret && (st.st_mode & 077) != 0) {
        sg_error(S_PLACE, "%s: a key file readable by others is refused", path);
        fclose(f);
        return NULL;
    }
    buf = sg_malloc((size_t)st.st_size + 1);
    n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* "https://host[:port]/path" -> "/path" (new), NULL without a path. */
static char *
s_url_path(const char *url)
{
    const char *p = strstr(url, "://");
    const char *q;
    size_t n;

    if (p == NULL)
        return NULL;
    p = strchr(p + 3, '/');
    if (p == NULL)
        return NULL;
    n = strcspn(p, "?#");
    q = p;
    return sg_strndup(q, n);
}

static int
s_parse_addr(const char *s, struct sockaddr_storage *ss)
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
        if ((colon = strrchr(s, ':')) == NULL)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= sizeof(host))
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
        return -1;
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) ==
        1) {
        ((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -1;
}

static struct MHD_Daemon *
s_start(ingest_http_t *h, const char *spec, int tls)
{
    struct sockaddr_storage ss;
    unsigned int flags =
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d;
    uint16_t port;

    if (s_parse_addr(spec, &ss) != 0) {
        sg_error(S_PLACE, "http.%s: \"%s\" is not ADDRESS:PORT",
                 tls ? "tls_listen" : "listen", spec);
        return NULL;
    }
    port = ntohs(ss.ss_family == AF_INET
                     ? ((struct sockaddr_in *)&ss)->sin_port
                     : ((struct sockaddr_in6 *)&ss)->sin6_port);
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls) {
        flags |= MHD_USE_TLS;
        d = MHD_start_daemon(
            flags, port, NULL, NULL, s_access, h, MHD_OPTION_EXTERNAL_LOGGER,
            s_mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_CONNECTION_LIMIT,
            (unsigned int)h->conf->http_max_connections,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (unsigned int)h->conf->http_max_conn_per_peer,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)h->conf->http_timeout,
            MHD_OPTION_NOTIFY_COMPLETED, s_completed, h,
            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
            MHD_OPTION_HTTPS_MEM_KEY, h->tls_key, MHD_OPTION_HTTPS_MEM_CERT,
            h->tls_cert, MHD_OPTION_END);
    } else {
        d = MHD_start_daemon(
            flags, port, NULL, NULL, s_access, h, MHD_OPTION_EXTERNAL_LOGGER,
            s_mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_CONNECTION_LIMIT,
            (unsigned int)h->conf->http_max_connections,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (unsigned int)h->conf->http_max_conn_per_peer,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)h->conf->http_timeout,
            MHD_OPTION_NOTIFY_COMPLETED, s_completed, h,
            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
            MHD_OPTION_END);
    }
    if (d == NULL) {
        sg_error(S_PLACE,
                 "http.%s %s: cannot start the server (address in "
                 "use, or bad TLS key/certificate)",
                 tls ? "tls_listen" : "listen", spec);
        return NULL;
    }
    sg_info(S_PLACE, "listening on http%s %s", tls ? "s" : "", spec);
    return d;
}

/*
 * The largest request body (the JSON) read at all.  http.max_body bounds
 * the decoded message body, and a body at that bound arrives base64 (4/3)
 * or as a JSON string with escapes, next to up to max_recipients "to"
 * entries and max_identity Identity values: refusing the request at
 * max_body refused bodies the API accepts.  Anything larger is 413 before
 * it is read.
 */
static size_t
s_req_max(const proto_api_limits_t *lim)
{
    return lim->max_body * 2 + lim->max_recipients * (PROTO_API_ADDR_MAX + 8) +
           lim->max_identity * (PROTO_API_IDENTITY_MAX + 8) + 16384;
}

ingest_http_t *
ingest_http_new(const conf_t *conf, ingest_core_t *core, ingest_ctl_fn ctl,
                void *ctl_arg)
{
    ingest_http_t *h = sg_calloc(1, sizeof(*h));
    const char *tls_listen = conf->http_tls_listen;

    h->conf = conf;
    h->core = core;
    h->ctl = ctl;
    h->ctl_arg = ctl_arg;
    h->efd[0] = h->efd[1] = -1;
    proto_api_limits_default(&h->lim);
    h->lim.max_body = (size_t)conf->http_max_body;
    if (conf->sip_max_recipients > 0)
        h->lim.max_recipients = (size_t)conf->sip_max_recipients;
    if (conf->sip_max_identity > 0)
        h->lim.max_identity = (size_t)conf->sip_max_identity;
    h->req_max = s_req_max(&h->lim);
    if (conf->sign_publish && conf->sign_chain && conf->sign_x5u) {
        h->chain = s_read_file(conf->sign_chain, &h->chain_len, 0);
        h->chain_path = s_url_path(conf->sign_x5u);
        if (h->chain == NULL || h->chain_path == NULL) {
            if (h->chain_path == NULL)
                sg_error(S_PLACE, "sign.x5u \"%s\" has no path to publish at",
                         conf->sign_x5u);
            goto fail;
        }
    }
    if (conf->http_listen && conf->http_listen[0] &&
        (h->d[0] = s_start(h, conf->http_listen, 0)) == NULL)
        goto fail;
    if (tls_listen && tls_listen[0]) {
        size_t n;
        if (conf->http_tls_cert == NULL || conf->http_tls_key == NULL) {
            sg_error(S_PLACE, "http.tls_listen needs http.tls_cert and "
                              "http.tls_key");
            goto fail;
        }
        if ((h->tls_cert = s_read_file(conf->http_tls_cert, &n, 0)) == NULL ||
            (h->tls_key =
                 s_read_file(conf->http_tls_key, &h->tls_key_len, 1)) == NULL)
            goto fail;
        if ((h->d[1] = s_start(h, tls_listen, 1)) == NULL)
            goto fail;
    }
    for (int i = 0; i < 2; i++)
        if (h->d[i]) {
            const union MHD_DaemonInfo *di =
                MHD_get_daemon_info(h->d[i], MHD_DAEMON_INFO_EPOLL_FD);
            if (di == NULL) {
                sg_error(S_PLACE, "libmicrohttpd gives no epoll descriptor");
                goto fail;
            }
            h->efd[i] = di->epoll_fd;
        }
    return h;
fail:
    ingest_http_destroy(&h);
    return NULL;
}

void
ingest_http_destroy(ingest_http_t **self_p)
{
    ingest_http_t *h;

    if (self_p == NULL || (h = *self_p) == NULL)
        return;
    /* Parked requests first: a daemon does not stop with them suspended. */
    while (h->shows) {
        s_hreq *q = h->shows;
        h->shows = q->next;
        s_error(q, 503, INGEST_R_STORE_BUSY, "shutting down");
        s_resume(q);
    }
    for (int i = 0; i < 2; i++)
        if (h->d[i])
            MHD_stop_daemon(h->d[i]);
    sg_free(h->chain);
    sg_free(h->chain_path);
    sg_free(h->tls_cert);
    if (h->tls_key) {
        OPENSSL_cleanse(h->tls_key, h->tls_key_len);
        sg_free(h->tls_key);
    }
    sg_free(h);
    *self_p = NULL;
}

size_t
ingest_http_fds(ingest_http_t *self, struct pollfd *out, size_t max)
{
    size_t n = 0;

    for (int i = 0; i < 2 && n < max; i++)
        if (self->d[i]) {
            out[n].fd = self->efd[i];
            out[n].events = POLLIN;
            out[n].revents = 0;
            n++;
        }
    return n;
}

void
ingest_http_handle(ingest_http_t *self, const struct pollfd *fds, size_t n)
{
    (void)fds;
    (void)n;
    /* MHD_run does the work of both: readiness, timers, resumed ones. */
    ingest_http_run(self);
}

void
ingest_http_run(ingest_http_t *self)
{
    uint64_t now = sg_clock_mono_ms();

    for (s_hreq **pp = &self->shows; *pp;) {
        s_hreq *q = *pp;
        if (now >= q->deadline) {
            *pp = q->next;
            s_error(q, 503, INGEST_R_STORE_BUSY,
                    "the store did not answer in time");
            q->retry_after = 1;
            s_resume(q);
            continue;
        }
        pp = &q->next;
    }
    self->resumed = 0;
    for (int i = 0; i < 2; i++)
        if (self->d[i])
            (void)MHD_run(self->d[i]);
}

long
ingest_http_timeout_ms(const ingest_http_t *self)
{
    long t = -1;

    if (self->resumed)
        return 0;
    for (int i = 0; i < 2; i++) {
        MHD_UNSIGNED_LONG_LONG ms;
        if (self->d[i] && MHD_get_timeout(self->d[i], &ms) == MHD_YES) {
            long v = ms > 60000 ? 60000 : (long)ms;
            if (t < 0 || v < t)
                t = v;
        }
    }
    if (self->shows) {
        uint64_t now = sg_clock_mono_ms();
        long v = 0;
        for (s_hreq *q = self->shows; q; q = q->next) {
            v = q->deadline > now ? (long)(q->deadline - now) : 0;
            if (t < 0 || v < t)
                t = v;
        }
    }
    return t;
}

void
ingest_http_stop(ingest_http_t *self)
{
    for (int i = 0; i < 2; i++)
        if (self->d[i]) {
            MHD_socket s = MHD_quiesce_daemon(self->d[i]);
            if (s != MHD_INVALID_SOCKET)
                close(s);
        }
}

size_t
ingest_http_busy(const ingest_http_t *self)
{
    return self->busy;
}
