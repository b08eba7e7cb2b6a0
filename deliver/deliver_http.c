/* deliver/deliver_http.c - webhooks and status callbacks (deliver_http.h). */
#include "deliver/deliver_http.h"

#include <curl/curl.h>
#include <jansson.h>
#include <string.h>

#include "lib/sg_clock.h"
#include "lib/sg_fdset.h"
#include "lib/sg_log.h"
#include "lib/sg_utf8.h"
#include "proto/proto_b64.h"

#define S_PLACE "deliver.http"

static void
s_set(json_t *o, const char *k, json_t *v)
{
    if (v == NULL || json_object_set_new(o, k, v) != 0)
        sg_panic("jansson: out of memory");
}

static json_t *
s_text(const proto_bytes *b)
{
    /* Envelope text fields are printable ASCII (proto_msg_check). */
    return json_stringn(b->len ? (const char *)b->p : "", b->len);
}

int
deliver_http_utf8_ok(const uint8_t *p, size_t n)
{
    /* JSON strings could carry U+0000, but a webhook receiver is better
     * served by body_base64 than by an escaped NUL. */
    return memchr(p, 0, n) == NULL && sg_utf8_valid(p, n);
}

/* The token of an Identity value: everything before the first ';'. */
static json_t *
s_token(const proto_bytes *v)
{
    const uint8_t *semi = memchr(v->p, ';', v->len);
    size_t n = semi ? (size_t)(semi - v->p) : v->len;

    while (n > 0 && (v->p[n - 1] == ' ' || v->p[n - 1] == '\t'))
        n--;
    return json_stringn((const char *)v->p, n);
}

char *
deliver_http_webhook_json(const deliver_http_webhook_t *w)
{
    const proto_msg *m = w->m;
    char hex[PROTO_MSG_ID_HEX], *txt;
    json_t *o = json_object(), *pp = json_array(), *ids = json_array();

    if (o == NULL || pp == NULL || ids == NULL)
        sg_panic("jansson: out of memory");
    s_set(o, "id", json_string(proto_msg_id_hex(m->id, hex)));
    s_set(o, "from", s_text(&m->from));
    s_set(o, "to", s_text(&m->to));
    s_set(o, "content_type",
          m->content_type.len ? s_text(&m->content_type)
                              : json_string("text/plain"));
    if (deliver_http_utf8_ok(m->body.p, m->body.len)) {
        s_set(o, "body", json_stringn(m->body.len ? (const char *)m->body.p
                                                  : "",
                                      m->body.len));
    } else {
        char *b = sg_malloc(proto_b64_enc_len(m->body.len) + 1);
        proto_b64_encode(m->body.p, m->body.len, b);
        s_set(o, "body_base64", json_string(b));
        sg_free(b);
    }
    s_set(o, "verstat", json_string(w->verstat));
    s_set(o, "reason", json_string(w->reason));
    s_set(o, "iat", json_integer((json_int_t)m->iat));
    if (w->resign_iat)
        s_set(o, "resign_iat", json_integer((json_int_t)w->resign_iat));
    for (size_t i = 0; i < w->n_identity; i++) {
        if (json_array_append_new(pp, s_token(&w->identity[i])) != 0 ||
            json_array_append_new(ids, s_text(&w->identity[i])) != 0)
            sg_panic("jansson: out of memory");
    }
    s_set(o, "passport", pp);
    s_set(o, "identity", ids);
    s_set(o, "attempt", json_integer(w->attempt));
    txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (txt == NULL)
        sg_panic("json_dumps: out of memory");
    return txt;
}

sg_rc
deliver_http_outcome(long curl_code, long status)
{
    static const struct {
        CURLcode code;
        sg_rc rc;
    } t[] = {
        /* Our request can never work as configured: permanent. */
        {CURLE_UNSUPPORTED_PROTOCOL, SG_REFUSED},
        {CURLE_URL_MALFORMAT, SG_REFUSED},
        {CURLE_TOO_MANY_REDIRECTS, SG_REFUSED},
    };

    if (curl_code != CURLE_OK) {
        for (size_t i = 0; i < SG_NELEM(t); i++)
            if ((long)t[i].code == curl_code)
                return t[i].rc;
        /* DNS, connect, TLS, send, receive, timeout: the peer may come
         * back, so it is the store's backoff that decides. */
        return SG_AGAIN;
    }
    if (status >= 200 && status < 300)
        return SG_OK;
    if (status == 408 || status == 429 || (status >= 500 && status < 600))
        return SG_AGAIN;
    return SG_REFUSED;
}

/* --- the client: one curl multi handle on the worker's loop --- */

typedef struct s_xfer {
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
    deliver_http_cb cb;
    void *arg;
    char err[CURL_ERROR_SIZE];
    struct s_xfer *prev, *next;
} s_xfer;

struct deliver_http {
    CURLM *multi;
    s_xfer *xfers;
    size_t running;
    sg_fdset_t socks; /* what curl asked us to watch */
    int64_t timer_at_ms; /* monotonic; -1 none */
};

static int
s_on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
    deliver_http_t *self = userp;

    (void)easy;
    (void)sockp;
    sg_fdset_set(&self->socks, s,
                 what == CURL_POLL_REMOVE
                     ? -1
                     : (what & CURL_POLL_IN ? POLLIN : 0) |
                           (what & CURL_POLL_OUT ? POLLOUT : 0));
    return 0;
}

static int
s_on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    deliver_http_t *self = userp;

    (void)multi;
    self->timer_at_ms =
        timeout_ms < 0 ? -1 : (int64_t)sg_clock_mono_ms() + timeout_ms;
    return 0;
}

/* The response body is not ours to keep: count it away. */
static size_t
s_on_write(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

deliver_http_t *
deliver_http_new(void)
{
    static int ready;
    deliver_http_t *self;

    if (!ready) {
        CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (cc != CURLE_OK) {
            sg_error(S_PLACE, "curl_global_init: %s", curl_easy_strerror(cc));
            return NULL;
        }
        ready = 1;
    }
    self = sg_calloc(1, sizeof(*self));
    self->timer_at_ms = -1;
    if ((self->multi = curl_multi_init()) == NULL)
        sg_panic("curl_multi_init: out of memory");
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_on_timer);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    return self;
}

static void
s_xfer_free(s_xfer *x)
{
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    sg_free(x->body);
    sg_free(x);
}

static void
s_unlink(deliver_http_t *self, s_xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        self->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    curl_multi_remove_handle(self->multi, x->easy);
    self->running--;
}

void
deliver_http_destroy(deliver_http_t **self_p)
{
    deliver_http_t *self = self_p ? *self_p : NULL;

    if (self == NULL)
        return;
    while (self->xfers) {
        s_xfer *x = self->xfers;
        s_unlink(self, x);
        s_xfer_free(x);
    }
    curl_multi_cleanup(self->multi);
    sg_fdset_clear(&self->socks);
    sg_free(self);
    *self_p = NULL;
}

static struct curl_slist *
s_hdr(struct curl_slist *l, const char *h)
{
    struct curl_slist *n = curl_slist_append(l, h);

    if (n == NULL)
        sg_panic("curl_slist_append: out of memory");
    return n;
}

sg_rc
deliver_http_post(deliver_http_t *self, const char *url, const char *idem_key,
                  const char *body, size_t len, long timeout_ms,
                  deliver_http_cb cb, void *arg)
{
    s_xfer *x = sg_calloc(1, sizeof(*x));
    CURL *e;

    if ((e = x->easy = curl_easy_init()) == NULL)
        sg_panic("curl_easy_init: out of memory");
    x->body = sg_memdup(body, len ? len : 1);
    x->cb = cb;
    x->arg = arg;
    x->hdrs = s_hdr(NULL, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip before every POST. */
    x->hdrs = s_hdr(x->hdrs, "Expect:");
    if (idem_key != NULL) {
        char h[128];
        snprintf(h, sizeof(h), "Idempotency-Key: %s", idem_key);
        x->hdrs = s_hdr(x->hdrs, h);
    }
    if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         timeout_ms < 5000 ? timeout_ms : 5000L) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_write) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->err) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, x) != CURLE_OK) {
        sg_error(S_PLACE, "curl_easy_setopt failed");
        s_xfer_free(x);
        return SG_ERR;
    }
    if (curl_multi_add_handle(self->multi, e) != CURLM_OK) {
        sg_error(S_PLACE, "curl_multi_add_handle failed");
        s_xfer_free(x);
        return SG_ERR;
    }
    x->next = self->xfers;
    if (self->xfers)
        self->xfers->prev = x;
    self->xfers = x;
    self->running++;
    return SG_OK;
}

static void
s_drain(deliver_http_t *self)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(self->multi, &left)) != NULL) {
        s_xfer *x = NULL;
        long status = 0;
        CURLcode cc;
        char err[CURL_ERROR_SIZE + 32];
        if (m->msg != CURLMSG_DONE)
            continue;
        cc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK)
            snprintf(err, sizeof(err), "%s",
                     x->err[0] ? x->err : curl_easy_strerror(cc));
        else
            snprintf(err, sizeof(err), "HTTP %ld", status);
        s_unlink(self, x);
        x->cb(x->arg, deliver_http_outcome((long)cc, status),
              cc == CURLE_OK ? status : 0, err);
        s_xfer_free(x);
    }
}

size_t
deliver_http_fds(const deliver_http_t *self, struct pollfd *out, size_t max)
{
    return sg_fdset_fill(&self->socks, out, max);
}

long
deliver_http_timeout_ms(const deliver_http_t *self)
{
    int64_t left;

    if (self->timer_at_ms < 0)
        return -1;
    left = self->timer_at_ms - (int64_t)sg_clock_mono_ms();
    return left < 0 ? 0 : (long)left;
}

void
deliver_http_perform(deliver_http_t *self, const struct pollfd *fds, size_t n)
{
    int running;

    for (size_t i = 0; i < n; i++) {
        int ev = 0;
        if (fds[i].revents == 0)
            continue;
        if (fds[i].revents & (POLLIN | POLLHUP))
            ev |= CURL_CSELECT_IN;
        if (fds[i].revents & POLLOUT)
            ev |= CURL_CSELECT_OUT;
        if (fds[i].revents & (POLLERR | POLLNVAL))
            ev |= CURL_CSELECT_ERR;
        curl_multi_socket_action(self->multi, fds[i].fd, ev, &running);
    }
    if (self->timer_at_ms >= 0 &&
        (int64_t)sg_clock_mono_ms() >= self->timer_at_ms) {
        self->timer_at_ms = -1;
        curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0,
                                 &running);
    }
    s_drain(self);
}

size_t
deliver_http_pending(const deliver_http_t *self)
{
    return self->running;
}
