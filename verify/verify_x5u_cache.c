/*
 * verify/verify_x5u_cache.c - the x5u certificate cache, its files and
 * the CRL checks.  See verify_x5u_cache.h for the contract.
 */
#include "verify/verify_x5u_cache.h"
#include "verify/verify_ktab.h"
#include "lib/sg_metrics.h"

#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "proto/proto_msgi.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_PLACE "verify.x5u"

const int verify_x5u_latency_ms[VERIFY_X5U_LAT_BUCKETS - 1] = {
    10, 50, 100, 250, 500, 1000, 2500};

/* ---- the file codec ----------------------------------------------------- */

/* One "key value\n" line; the value spans printable ASCII (may be empty). */
static const char *
s_line(const uint8_t **p, const uint8_t *end, const char *key, const char **val,
       size_t *vlen, size_t max) {
    size_t klen = strlen(key);
    const uint8_t *v, *nl;

    if ((size_t)(end - *p) < klen + 1 || memcmp(*p, key, klen) != 0 ||
        (*p)[klen] != ' ')
        return "unexpected header line";
    v = *p + klen + 1;
    nl = memchr(v, '\n', (size_t)(end - v));
    if (nl == NULL)
        return "unterminated header line";
    if ((size_t)(nl - v) > max)
        return "header value too long";
    for (const uint8_t *c = v; c < nl; c++)
        if (*c < 0x20 || *c > 0x7e)
            return "header value not printable";
    *val = (const char *)v;
    *vlen = (size_t)(nl - v);
    *p = nl + 1;
    return NULL;
}

static const char *
s_line_num(const uint8_t **p, const uint8_t *end, const char *key,
           int64_t *out) {
    const char *v, *why;
    size_t n;
    int64_t x = 0;

    if ((why = s_line(p, end, key, &v, &n, 19)) != NULL)
        return why;
    if (n == 0 || (n > 1 && v[0] == '0'))
        return "malformed number";
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return "malformed number";
        if (x > (INT64_MAX - 9) / 10)
            return "number out of range";
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return NULL;
}

const char *
verify_x5u_record_decode(const uint8_t *buf, size_t n,
                         verify_x5u_record_t *out) {
    static const char magic[] = "stirgate-x5u 1\n";
    const uint8_t *p = buf, *end = buf + n;
    const char *why, *kind;
    size_t klen;
    int64_t status, blen;

    memset(out, 0, sizeof(*out));
    if (n > VERIFY_X5U_FILE_MAX)
        return "file too large";
    if (n < sizeof(magic) - 1 || memcmp(p, magic, sizeof(magic) - 1) != 0)
        return "not a stirgate x5u cache file (version 1)";
    p += sizeof(magic) - 1;
    if ((why = s_line(&p, end, "kind", &kind, &klen, 5)) != NULL)
        return why;
    if (klen == 5 && memcmp(kind, "chain", 5) == 0)
        out->is_crl = 0;
    else if (klen == 3 && memcmp(kind, "crl", 3) == 0)
        out->is_crl = 1;
    else
        return "unknown kind";
    if ((why = s_line(&p, end, "url", &out->url, &out->url_len,
                      VERIFY_X5U_URL_MAX)) != NULL)
        return why;
    if (out->url_len == 0)
        return "empty url";
    if ((why = s_line_num(&p, end, "fetched", &out->fetched_at)) != NULL ||
        (why = s_line_num(&p, end, "expires", &out->expires_at)) != NULL ||
        (why = s_line_num(&p, end, "status", &status)) != NULL)
        return why;
    if (status > 999)
        return "status out of range";
    out->http_status = (long)status;
    if ((why = s_line(&p, end, "ctype", &out->content_type,
                      &out->content_type_len, 255)) != NULL ||
        (why = s_line(&p, end, "ttl", &out->ttl_why, &out->ttl_why_len, 255)) !=
            NULL ||
        (why = s_line_num(&p, end, "body", &blen)) != NULL)
        return why;
    if ((uint64_t)blen != (uint64_t)(end - p))
        return "body length does not match the file size";
    if (blen == 0)
        return "empty body";
    out->body = p;
    out->body_len = (size_t)blen;
    return NULL;
}

static int
s_printable(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

uint8_t *
verify_x5u_record_encode(const verify_x5u_record_t *r, size_t *n) {
    char head[VERIFY_X5U_URL_MAX + 800];
    int k;
    uint8_t *out;
    size_t total;

    if (r->url_len == 0 || r->url_len > VERIFY_X5U_URL_MAX ||
        r->content_type_len > 255 || r->ttl_why_len > 255 ||
        !s_printable(r->url, r->url_len) ||
        !s_printable(r->content_type, r->content_type_len) ||
        !s_printable(r->ttl_why, r->ttl_why_len) || r->fetched_at < 0 ||
        r->expires_at < 0 || r->http_status < 0 || r->http_status > 999 ||
        r->body_len == 0 || r->body_len > VERIFY_X5U_FILE_MAX / 2)
        return NULL;
    k = snprintf(head, sizeof(head),
                 "stirgate-x5u 1\nkind %s\nurl %.*s\nfetched %lld\n"
                 "expires %lld\nstatus %ld\nctype %.*s\nttl %.*s\n"
                 "body %zu\n",
                 r->is_crl ? "crl" : "chain", (int)r->url_len, r->url,
                 (long long)r->fetched_at, (long long)r->expires_at,
                 r->http_status, (int)r->content_type_len,
                 r->content_type ? r->content_type : "", (int)r->ttl_why_len,
                 r->ttl_why ? r->ttl_why : "", r->body_len);
    if (k < 0 || (size_t)k >= sizeof(head))
        return NULL;
    total = (size_t)k + r->body_len;
    out = sg_malloc(total);
    memcpy(out, head, (size_t)k);
    memcpy(out + k, r->body, r->body_len);
    *n = total;
    return out;
}

/* ---- entries ------------------------------------------------------------ */

typedef struct s_entry s_entry;
typedef struct s_waiter s_waiter;

struct s_waiter {
    s_waiter *next;
    verify_x5u_cb cb; /* an outside lookup ... */
    void *arg;
    s_entry *dep; /* ... or a chain entry waiting for this CRL */
};

typedef enum {
    S_IDLE = 0,
    S_FETCHING, /* the URL itself is being fetched */
    S_CRL,      /* chain known, waiting for CRL fetches */
} s_state;

struct s_entry {
    s_entry *hnext;
    verify_x5u_cache_t *owner;
    char *url;
    int is_crl;
    s_state state;
    int have; /* a settled answer is present */
    int used; /* looked up since the eviction hand last passed */
    proto_reason reason;
    char detail[200];
    const char *source;
    int64_t fetched_at, expires_at;
    char ttl_why[160];
    long http_status;
    char ctype[96];
    /* chain entries */
    char *pem;
    size_t pem_len;
    verify_chain_t *chain;
    int64_t crl_until; /* the CRL verdict holds until then */
    int has_cdp;       /* some certificate of the list names a CRL */
    char crl_detail[200];
    int crl_pending;
    /* CRL entries */
    X509_CRL *crl;
    s_waiter *waiters;
};

struct verify_x5u_cache {
    verify_x5u_cache_opts o;
    char *dir;
    STACK_OF(X509) * anchors;
    verify_x5u_fetcher_t *fetcher;
    s_entry **buckets;
    size_t n_buckets, n_entries, sweep_at;
    size_t pending;
    size_t hand; /* eviction: the next bucket to look at */
    DIR *warm;   /* verify_x5u_cache_warm's directory scan */
    int warm_done;
    verify_x5u_stats_t stats;
    char last_detail[200];
    unsigned tmp_seq;
};

static int64_t
s_now(const verify_x5u_cache_t *self) {
    return self->o.clock ? self->o.clock() : (int64_t)time(NULL);
}

static uint64_t
s_hash(const char *s, int is_crl) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)is_crl;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static s_entry *
s_find(const verify_x5u_cache_t *self, const char *url, int is_crl) {
    s_entry *e = self->buckets[s_hash(url, is_crl) & (self->n_buckets - 1)];

    for (; e != NULL; e = e->hnext)
        if (e->is_crl == is_crl && strcmp(e->url, url) == 0)
            return e;
    return NULL;
}

static void
s_entry_clear(s_entry *e) {
    verify_chain_destroy(&e->chain);
    sg_free(e->pem);
    e->pem = NULL;
    e->pem_len = 0;
    X509_CRL_free(e->crl);
    e->crl = NULL;
    e->have = 0;
    e->detail[0] = e->ttl_why[0] = e->ctype[0] = e->crl_detail[0] = '\0';
    e->fetched_at = e->expires_at = e->crl_until = 0;
    e->http_status = 0;
    e->source = "";
}

static void
s_entry_free(s_entry *e) {
    s_waiter *w, *wn;

    s_entry_clear(e);
    for (w = e->waiters; w != NULL; w = wn) {
        wn = w->next;
        sg_free(w);
    }
    sg_free(e->url);
    sg_free(e);
}

static void
s_rehash(verify_x5u_cache_t *self, size_t n) {
    s_entry **nb = sg_calloc(n, sizeof(*nb));

    for (size_t i = 0; i < self->n_buckets; i++) {
        s_entry *e = self->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            size_t b = s_hash(e->url, e->is_crl) & (n - 1);
            e->hnext = nb[b];
            nb[b] = e;
        }
    }
    sg_free(self->buckets);
    self->buckets = nb;
    self->n_buckets = n;
}

/*
 * Drop settled entries past their expiry, so URLs seen once do not stay
 * for ever.  Runs when the table has doubled since the last sweep, from
 * _get only (the documented point where a borrowed chain may go).
 */
static void
s_sweep(verify_x5u_cache_t *self, int64_t now) {
    for (size_t i = 0; i < self->n_buckets; i++) {
        s_entry **pp = &self->buckets[i];
        while (*pp != NULL) {
            s_entry *e = *pp;
            if (e->state == S_IDLE && e->waiters == NULL &&
                e->expires_at <= now) {
                *pp = e->hnext;
                s_entry_free(e);
                self->n_entries--;
            } else {
                pp = &e->hnext;
            }
        }
    }
    self->sweep_at = self->n_entries * 2 > 1024 ? self->n_entries * 2 : 1024;
}

/*
 * At max_entries: drop one settled entry nobody waits on, by the clock
 * (second chance) algorithm: the hand walks the buckets, clears the
 * `used` mark of entries looked up since it last passed and drops the
 * first unmarked one.  Two turns at most: the first clears every mark.
 * Runs from _get (through s_insert) only, the point where a borrowed
 * chain may go.
 */
static void
s_evict_one(verify_x5u_cache_t *self) {
    for (size_t k = 0; k < 2 * self->n_buckets; k++) {
        s_entry **pp = &self->buckets[self->hand];
        while (*pp != NULL) {
            s_entry *e = *pp;
            if (e->state == S_IDLE && e->waiters == NULL && !e->used) {
                *pp = e->hnext;
                s_entry_free(e);
                self->n_entries--;
                self->stats.evicted++;
                return;
            }
            e->used = 0;
            pp = &e->hnext;
        }
        self->hand = (self->hand + 1) & (self->n_buckets - 1);
    }
}

static s_entry *
s_insert(verify_x5u_cache_t *self, const char *url, int is_crl) {
    s_entry *e = sg_calloc(1, sizeof(*e));
    size_t b;

    if (self->n_entries >= self->sweep_at)
        s_sweep(self, s_now(self));
    if (self->o.max_entries > 0 && self->n_entries >= self->o.max_entries)
        s_sweep(self, s_now(self));
    while (self->o.max_entries > 0 && self->n_entries >= self->o.max_entries) {
        size_t before = self->n_entries;
        s_evict_one(self);
        if (self->n_entries == before)
            break; /* everything is in flight: over the limit for now */
    }
    if (self->n_entries + 1 > self->n_buckets) {
        s_rehash(self, self->n_buckets * 2);
        self->hand = 0;
    }
    e->owner = self;
    e->url = sg_strdup(url);
    e->is_crl = is_crl;
    e->source = "";
    b = s_hash(url, is_crl) & (self->n_buckets - 1);
    e->hnext = self->buckets[b];
    self->buckets[b] = e;
    self->n_entries++;
    return e;
}

static void
s_add_waiter(s_entry *e, verify_x5u_cb cb, void *arg, s_entry *dep) {
    s_waiter *w = sg_calloc(1, sizeof(*w)), **pp = &e->waiters;

    w->cb = cb;
    w->arg = arg;
    w->dep = dep;
    /* FIFO: callbacks in the order the lookups came. */
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = w;
}

static void
s_result(const s_entry *e, verify_x5u_result_t *res) {
    res->reason = e->reason;
    res->transient = proto_reason_get(e->reason)->transient;
    res->chain = e->reason == REASON_OK ? e->chain : NULL;
    res->detail = e->detail;
}

/* ---- files -------------------------------------------------------------- */

void
verify_x5u_cache_path(const char *dir, const char *url, int is_crl, char *out,
                      size_t outsz) {
    uint8_t md[32];
    char hex[65];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx == NULL)
        sg_panic("EVP_MD_CTX_new: out of memory");
    if (EVP_DigestInit_ex(ctx, proto_msgi_md(PROTO_MSGI_SHA256), NULL) != 1 ||
        EVP_DigestUpdate(ctx, is_crl ? "crl\n" : "chain\n", is_crl ? 4 : 6) !=
            1 ||
        EVP_DigestUpdate(ctx, url, strlen(url)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, NULL) != 1)
        sg_panic("SHA-256 failed");
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, outsz, "%s/%s.%s", dir, hex, is_crl ? "crl" : "x5u");
}

static void
s_file_path(const verify_x5u_cache_t *self, const char *url, int is_crl,
            char *out, size_t outsz) {
    verify_x5u_cache_path(self->dir, url, is_crl, out, outsz);
}

/* Write atomically; a failure only costs a refetch later, so it is a
 * warning and not an error. */
static void
s_file_write(verify_x5u_cache_t *self, const s_entry *e, const uint8_t *body,
             size_t n) {
    verify_x5u_record_t r;
    char path[1024], tmp[1100];
    uint8_t *buf;
    size_t len, off = 0;
    int fd = -1, dfd;

    if (self->dir == NULL)
        return;
    memset(&r, 0, sizeof(r));
    r.is_crl = e->is_crl;
    r.url = e->url;
    r.url_len = strlen(e->url);
    r.fetched_at = e->fetched_at;
    r.expires_at = e->expires_at;
    r.http_status = e->http_status;
    r.content_type = e->ctype;
    r.content_type_len = strlen(e->ctype);
    r.ttl_why = e->ttl_why;
    r.ttl_why_len = strlen(e->ttl_why);
    r.body = body;
    r.body_len = n;
    buf = verify_x5u_record_encode(&r, &len);
    if (buf == NULL) {
        sg_warn(S_PLACE, "cache entry not encodable; not persisted");
        return;
    }
    s_file_path(self, e->url, e->is_crl, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%d-%u", self->dir, (int)getpid(),
             self->tmp_seq++);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        sg_warn(S_PLACE, "open %s: %s", tmp, strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t k = write(fd, buf + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            sg_warn(S_PLACE, "write %s: %s", tmp, strerror(errno));
            goto fail;
        }
        off += (size_t)k;
    }
    if (fsync(fd) != 0) {
        sg_warn(S_PLACE, "fsync %s: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        sg_warn(S_PLACE, "rename %s: %s", path, strerror(errno));
        goto fail;
    }
    dfd = open(self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            sg_warn(S_PLACE, "fsync %s: %s", self->dir, strerror(errno));
        close(dfd);
    }
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    sg_free(buf);
}

/* Read a cache file: new buffer, or NULL when absent or unreadable. */
static uint8_t *
s_file_read(const char *path, size_t *n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf = NULL;
    size_t off = 0;

    if (fd < 0) {
        if (errno != ENOENT)
            sg_warn(S_PLACE, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uint64_t)st.st_size > VERIFY_X5U_FILE_MAX)
        goto fail;
    buf = sg_malloc((size_t)st.st_size);
    while (off < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + off, (size_t)st.st_size - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            goto fail;
        off += (size_t)k;
    }
    close(fd);
    *n = off;
    return buf;
fail:
    sg_free(buf);
    close(fd);
    return NULL;
}

/* ---- chains, CRLs ------------------------------------------------------- */

static STACK_OF(X509) * s_parse_pem_certs(const char *pem, size_t n) {
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    X509 *x;

    if (sk == NULL || bio == NULL)
        sg_panic("out of memory");
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x))
            sg_panic("sk_X509_push: out of memory");
    /* The end of the list shows as a PEM "no start line" error. */
    ERR_clear_error();
    BIO_free(bio);
    return sk;
}

/* CRL Distribution Point URIs of `cert` (fullName URIs only), appended to
 * urls[] up to max; returns how many. */
static size_t
s_cdp_urls(X509 *cert, char **urls, size_t max) {
    STACK_OF(DIST_POINT) *dps =
        X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
    size_t k = 0;

    if (dps == NULL) {
        ERR_clear_error();
        return 0;
    }
    for (int i = 0; i < sk_DIST_POINT_num(dps) && k < max; i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        if (dp->distpoint == NULL || dp->distpoint->type != 0)
            continue;
        GENERAL_NAMES *names = dp->distpoint->name.fullname;
        for (int j = 0; j < sk_GENERAL_NAME_num(names) && k < max; j++) {
            GENERAL_NAME *g = sk_GENERAL_NAME_value(names, j);
            if (g->type != GEN_URI)
                continue;
            const ASN1_IA5STRING *s = g->d.uniformResourceIdentifier;
            urls[k++] = sg_strndup((const char *)ASN1_STRING_get0_data(s),
                                   (size_t)ASN1_STRING_length(s));
        }
    }
    CRL_DIST_POINTS_free(dps);
    return k;
}

#define S_MAX_CDP 8

/* Does any certificate of the PEM list name a CRL distribution point?
 * Asked once when a chain is loaded: parsing the PEM again costs more
 * than the rest of a verification (OpenSSL 3's decoders), so the first
 * lookup of a chain without one must not do it. */
static int
s_any_cdp(const char *pem, size_t n) {
    STACK_OF(X509) *certs = s_parse_pem_certs(pem, n);
    int any = 0;

    for (int i = 0; i < sk_X509_num(certs) && !any; i++) {
        char *urls[S_MAX_CDP];
        size_t k = s_cdp_urls(sk_X509_value(certs, i), urls, S_MAX_CDP);
        any = k > 0;
        for (size_t u = 0; u < k; u++)
            sg_free(urls[u]);
    }
    sk_X509_pop_free(certs, X509_free);
    return any;
}

static s_entry *s_crl_entry(verify_x5u_cache_t *self, const char *url,
                            int64_t now, s_entry *dep);
static void s_settle(verify_x5u_cache_t *self, s_entry *e);

/*
 * Decide the CRL verdict of chain entry `e` from the CRL entries now in
 * the cache.  Each certificate of the list with distribution points must
 * have one usable CRL: fetched, signed by its issuer (found in the list
 * or the anchors), not past nextUpdate.
 */
static void
s_crl_apply(verify_x5u_cache_t *self, s_entry *e, int64_t now) {
    STACK_OF(X509) *certs = s_parse_pem_certs(e->pem, e->pem_len);
    int64_t until = e->expires_at;
    char problem[160] = "";
    int revoked = -1, checked = 0;

    for (int i = 0; i < sk_X509_num(certs) && revoked < 0; i++) {
        X509 *cert = sk_X509_value(certs, i), *issuer = NULL;
        char *urls[S_MAX_CDP];
        size_t n = s_cdp_urls(cert, urls, S_MAX_CDP);
        int usable = 0;

        if (n == 0)
            continue;
        for (int j = 0; j < sk_X509_num(certs) && !issuer; j++)
            if (j != i &&
                X509_check_issued(sk_X509_value(certs, j), cert) == X509_V_OK)
                issuer = sk_X509_value(certs, j);
        for (int j = 0;
             self->anchors && !issuer && j < sk_X509_num(self->anchors); j++)
            if (X509_check_issued(sk_X509_value(self->anchors, j), cert) ==
                X509_V_OK)
                issuer = sk_X509_value(self->anchors, j);

        for (size_t u = 0; u < n; u++) {
            s_entry *c = s_find(self, urls[u], 1);
            X509_REVOKED *rev = NULL;
            const ASN1_TIME *nu;
            int64_t next = 0;

            if (usable || c == NULL || c->crl == NULL) {
                if (!usable && problem[0] == '\0')
                    snprintf(problem, sizeof(problem),
                             "CRL of cert %d "
                             "unavailable: %.100s",
                             i, c ? c->detail : "not fetched");
                continue;
            }
            if (issuer == NULL ||
                X509_NAME_cmp(X509_CRL_get_issuer(c->crl),
                              X509_get_subject_name(issuer)) != 0 ||
                X509_CRL_verify(c->crl, X509_get0_pubkey(issuer)) != 1) {
                ERR_clear_error();
                snprintf(problem, sizeof(problem),
                         "CRL of cert %d: "
                         "signature not verified by its issuer",
                         i);
                continue;
            }
            nu = X509_CRL_get0_nextUpdate(c->crl);
            if (nu != NULL) {
                struct tm tm;
                if (ASN1_TIME_to_tm(nu, &tm) == 1)
                    next = (int64_t)timegm(&tm);
            }
            if (next != 0 && next <= now) {
                snprintf(problem, sizeof(problem),
                         "CRL of cert %d is "
                         "stale (nextUpdate passed)",
                         i);
                continue;
            }
            usable = 1;
            checked++;
            if (c->expires_at < until)
                until = c->expires_at;
            if (X509_CRL_get0_by_cert(c->crl, &rev, cert) == 1)
                revoked = i;
        }
        for (size_t u = 0; u < n; u++)
            sg_free(urls[u]);
        if (!usable && revoked < 0) {
            self->stats.crl_unavailable++;
            /* Retry the CRL soon rather than at the chain's expiry. */
            if (now + self->o.negative_ttl < until)
                until = now + self->o.negative_ttl;
            if (self->o.crl_unavailable == VERIFY_CRL_REJECT) {
                e->reason = REASON_X5U_FETCH_FAILED;
                snprintf(e->detail, sizeof(e->detail), "%s (policy reject)",
                         problem);
                snprintf(e->crl_detail, sizeof(e->crl_detail),
                         "%s; "
                         "rejected (crl policy reject)",
                         problem);
                sg_warn(S_PLACE,
                        "%s; verification deferred (crl policy "
                        "reject)",
                        problem);
                goto out;
            }
            sg_warn(S_PLACE, "%s; accepted (crl policy accept)", problem);
        }
    }
    if (revoked >= 0) {
        self->stats.revoked++;
        e->reason = REASON_CERT_REVOKED;
        snprintf(e->detail, sizeof(e->detail),
                 "certificate %d of the "
                 "chain is revoked by its CRL",
                 revoked);
        snprintf(e->crl_detail, sizeof(e->crl_detail), "revoked (cert %d)",
                 revoked);
    } else if (problem[0] != '\0') {
        snprintf(e->crl_detail, sizeof(e->crl_detail), "%s; accepted", problem);
    } else {
        snprintf(e->crl_detail, sizeof(e->crl_detail),
                 "%d CRL%s checked, "
                 "not revoked",
                 checked, checked == 1 ? "" : "s");
    }
out:
    e->crl_until = until;
    sk_X509_pop_free(certs, X509_free);
}

/*
 * Start the CRL stage of a chain entry whose path validated.  Returns 1
 * when the verdict is settled now (every CRL cached or no distribution
 * point), 0 when CRL fetches are pending (the entry is then S_CRL).
 */
static int
s_crl_stage(verify_x5u_cache_t *self, s_entry *e, int64_t now) {
    STACK_OF(X509) * certs;

    if (!self->o.crl_fetch || e->chain == NULL ||
        verify_chain_status(e->chain) != REASON_OK) {
        e->crl_until = e->expires_at;
        return 1;
    }
    e->reason = verify_chain_status(e->chain);
    e->crl_pending = 0;
    if (!e->has_cdp) {
        /* What s_crl_apply finds for a list without distribution points. */
        e->crl_until = e->expires_at;
        snprintf(e->crl_detail, sizeof(e->crl_detail),
                 "0 CRLs checked, not revoked");
        return 1;
    }
    certs = s_parse_pem_certs(e->pem, e->pem_len);
    for (int i = 0; i < sk_X509_num(certs); i++) {
        char *urls[S_MAX_CDP];
        size_t n = s_cdp_urls(sk_X509_value(certs, i), urls, S_MAX_CDP);
        for (size_t u = 0; u < n; u++) {
            if (s_crl_entry(self, urls[u], now, e) != NULL)
                e->crl_pending++;
            sg_free(urls[u]);
        }
    }
    sk_X509_pop_free(certs, X509_free);
    if (e->crl_pending > 0) {
        e->state = S_CRL;
        return 0;
    }
    s_crl_apply(self, e, now);
    return 1;
}

/* Fill a chain entry from a PEM body.  `h` (network) or `expires` (file)
 * gives the lifetime. */
static void
s_set_chain(verify_x5u_cache_t *self, s_entry *e, const char *pem, size_t n,
            const verify_x5u_http_t *h, int64_t fetched, int64_t expires,
            int64_t now) {
    verify_chain_t *chain = NULL;
    char detail[200];
    proto_reason r;
    int64_t leaf_na;

    detail[0] = '\0';
    r = verify_chain_build(self->o.trust, pem, n, &chain, detail,
                           sizeof(detail));
    verify_chain_destroy(&e->chain);
    sg_free(e->pem);
    e->pem = sg_strndup(pem, n);
    e->pem_len = n;
    e->chain = chain;
    e->have = 1;
    e->reason = chain == NULL && r == REASON_OK ? REASON_CERT_UNTRUSTED : r;
    e->has_cdp = chain != NULL && self->o.crl_fetch && s_any_cdp(pem, n);
    snprintf(e->detail, sizeof(e->detail), "%s",
             detail[0] ? detail
                       : (e->reason == REASON_OK ? "chain validated"
                                                 : "chain not validated"));
    e->fetched_at = fetched;
    e->crl_detail[0] = '\0';
    leaf_na = chain != NULL ? verify_chain_leaf_not_after(chain) : 0;
    if (h != NULL) {
        e->expires_at = verify_x5u_expiry(h, fetched, leaf_na, e->ttl_why,
                                          sizeof(e->ttl_why));
    } else {
        e->expires_at = expires;
        if (leaf_na > 0 && e->expires_at > leaf_na)
            e->expires_at = leaf_na;
    }
    /*
     * An untrusted chain may be fixed by its repository, and an expired
     * leaf would otherwise be refetched by every message that names it:
     * both are kept for the negative TTL.
     */
    if (e->reason != REASON_OK || (leaf_na > 0 && leaf_na <= now)) {
        int64_t neg = now + self->o.negative_ttl;
        if (e->reason != REASON_OK ? e->expires_at > neg
                                   : e->expires_at < neg) {
            e->expires_at = neg;
            size_t used = strlen(e->ttl_why);
            snprintf(e->ttl_why + used, sizeof(e->ttl_why) - used, "%s%s",
                     used ? "; " : "",
                     e->reason != REASON_OK ? "chain not valid: negative TTL"
                                            : "leaf expired: negative TTL");
        }
    }
}

static void
s_set_failure(verify_x5u_cache_t *self, s_entry *e, sg_rc rc, const char *why,
              int64_t now) {
    s_entry_clear(e);
    e->have = 1;
    e->reason = rc == SG_REFUSED ? REASON_X5U_POLICY : REASON_X5U_FETCH_FAILED;
    snprintf(e->detail, sizeof(e->detail), "%s", why ? why : "failed");
    e->expires_at = now + self->o.negative_ttl;
    snprintf(e->ttl_why, sizeof(e->ttl_why), "failure: negative TTL %llds",
             (long long)self->o.negative_ttl);
}

/* Settle a CRL entry from a body (PEM or DER). */
static void
s_set_crl(verify_x5u_cache_t *self, s_entry *e, const uint8_t *body, size_t n,
          int64_t fetched, int64_t expires, int64_t now) {
    X509_CRL *crl = NULL;
    const ASN1_TIME *nu;
    int64_t next = 0;

    s_entry_clear(e);
    e->have = 1;
    e->fetched_at = fetched;
    if (n > 10 && memmem(body, n, "-----BEGIN X509 CRL-----", 24)) {
        BIO *bio = BIO_new_mem_buf(body, (int)n);
        if (bio == NULL)
            sg_panic("BIO_new_mem_buf: out of memory");
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = body;
        crl = d2i_X509_CRL(NULL, &p, (long)n);
    }
    if (crl == NULL) {
        ERR_clear_error();
        e->reason = REASON_X5U_FETCH_FAILED;
        snprintf(e->detail, sizeof(e->detail), "CRL does not parse");
        e->expires_at = now + self->o.negative_ttl;
        return;
    }
    e->crl = crl;
    e->reason = REASON_OK;
    snprintf(e->detail, sizeof(e->detail), "CRL loaded");
    nu = X509_CRL_get0_nextUpdate(crl);
    if (nu != NULL) {
        struct tm tm;
        if (ASN1_TIME_to_tm(nu, &tm) == 1)
            next = (int64_t)timegm(&tm);
    }
    /* Cached until nextUpdate; a stale CRL (or one without nextUpdate)
     * is retried after the negative TTL, kept meanwhile for the policy. */
    if (expires > 0)
        e->expires_at = expires;
    else if (next > now)
        e->expires_at = next;
    else
        e->expires_at = now + self->o.negative_ttl;
    snprintf(e->ttl_why, sizeof(e->ttl_why), "%s",
             next > now ? "CRL nextUpdate" : "CRL stale: negative TTL");
}

static int
s_load_file(verify_x5u_cache_t *self, s_entry *e, int64_t now) {
    char path[1024];
    uint8_t *buf;
    size_t n = 0;
    verify_x5u_record_t r;
    const char *why;
    int ok = 0;

    if (self->dir == NULL)
        return 0;
    s_file_path(self, e->url, e->is_crl, path, sizeof(path));
    buf = s_file_read(path, &n);
    if (buf == NULL)
        return 0;
    why = verify_x5u_record_decode(buf, n, &r);
    if (why == NULL && (r.is_crl != e->is_crl || r.url_len != strlen(e->url) ||
                        memcmp(r.url, e->url, r.url_len) != 0))
        why = "file is for another URL";
    if (why == NULL && r.fetched_at > now + 300)
        why = "fetched in the future";
    if (why != NULL) {
        sg_warn(S_PLACE, "ignoring cache file %s: %s", path, why);
        goto out;
    }
    if (r.expires_at <= now)
        goto out;
    if (e->is_crl) {
        s_set_crl(self, e, r.body, r.body_len, r.fetched_at, r.expires_at, now);
        ok = e->crl != NULL;
    } else {
        if (verify_x5u_sniff_pem(r.body, r.body_len) != NULL) {
            sg_warn(S_PLACE, "ignoring cache file %s: body is not PEM", path);
            goto out;
        }
        s_set_chain(self, e, (const char *)r.body, r.body_len, NULL,
                    r.fetched_at, r.expires_at, now);
        ok = 1;
    }
    if (ok) {
        snprintf(e->ttl_why, sizeof(e->ttl_why), "%.*s", (int)r.ttl_why_len,
                 r.ttl_why);
        snprintf(e->ctype, sizeof(e->ctype), "%.*s", (int)r.content_type_len,
                 r.content_type);
        e->http_status = r.http_status;
        e->source = "disk";
        self->stats.disk_hits++;
    }
out:
    sg_free(buf);
    return ok;
}

/* ---- fetch completion ---------------------------------------------------- */

static void
s_latency(verify_x5u_cache_t *self, int64_t us) {
    size_t i;

    for (i = 0; i < VERIFY_X5U_LAT_BUCKETS - 1; i++)
        if (us <= (int64_t)verify_x5u_latency_ms[i] * 1000)
            break;
    self->stats.latency[i]++;
    self->stats.latency_sum_us += us > 0 ? (uint64_t)us : 0;
}

/* Answer every waiter of a settled entry.  CRL entries wake the chain
 * entries that depend on them. */
static void
s_settle(verify_x5u_cache_t *self, s_entry *e) {
    s_waiter *w = e->waiters, *next;
    verify_x5u_result_t res;

    e->state = S_IDLE;
    e->waiters = NULL;
    for (; w != NULL; w = next) {
        next = w->next;
        if (w->dep != NULL) {
            s_entry *d = w->dep;
            if (--d->crl_pending == 0) {
                s_crl_apply(self, d, s_now(self));
                s_settle(self, d);
            }
        } else {
            self->pending--;
            s_result(e, &res);
            w->cb(w->arg, e->url, &res);
        }
        sg_free(w);
    }
}

static void
s_on_fetched(void *arg, const verify_x5u_response_t *resp) {
    s_entry *e = arg;
    verify_x5u_cache_t *self = e->owner;
    int64_t now = s_now(self);

    s_latency(self, resp->elapsed_us);
    if (e->is_crl) {
        if (resp->rc == SG_OK) {
            self->stats.crl_fetch_ok++;
            s_set_crl(self, e, resp->body, resp->body_len, now, 0, now);
            snprintf(e->ctype, sizeof(e->ctype), "%s", resp->content_type);
            e->http_status = resp->http_status;
            if (e->crl != NULL)
                s_file_write(self, e, resp->body, resp->body_len);
        } else {
            self->stats.crl_fetch_failed++;
            s_set_failure(self, e, resp->rc, resp->why, now);
        }
        e->source = "network";
        s_settle(self, e);
        return;
    }
    if (resp->rc == SG_OK) {
        self->stats.fetch_ok++;
        s_set_chain(self, e, (const char *)resp->body, resp->body_len,
                    &resp->http, now, 0, now);
        snprintf(e->ctype, sizeof(e->ctype), "%s", resp->content_type);
        e->http_status = resp->http_status;
        s_file_write(self, e, resp->body, resp->body_len);
    } else {
        if (resp->rc == SG_REFUSED)
            self->stats.fetch_refused++;
        else
            self->stats.fetch_failed++;
        s_set_failure(self, e, resp->rc, resp->why, now);
        e->http_status = resp->http_status;
    }
    e->source = "network";
    if (e->reason == REASON_OK && !s_crl_stage(self, e, now))
        return; /* settled when its CRLs arrive */
    s_settle(self, e);
}

/*
 * The CRL entry for `url`, making sure it is settled or on its way.
 * Returns the entry when `dep` must wait for it (a waiter was added), or
 * NULL when it is already settled (cached, loaded, or refused at once).
 */
static s_entry *
s_crl_entry(verify_x5u_cache_t *self, const char *url, int64_t now,
            s_entry *dep) {
    s_entry *c = s_find(self, url, 1);
    const char *why;

    if (c != NULL && c->state != S_IDLE) {
        s_add_waiter(c, NULL, NULL, dep);
        return c;
    }
    if (c != NULL && c->have && now < c->expires_at)
        return NULL;
    if (c == NULL)
        c = s_insert(self, url, 1);
    if (s_load_file(self, c, now))
        return NULL;
    if (verify_x5u_fetcher_start(self->fetcher, url, 0, s_on_fetched, c,
                                 &why) != SG_OK) {
        char q[160];
        sg_warn(S_PLACE, "CRL url=\"%s\" refused by x5u policy: %s",
                sg_log_quote(url, strlen(url), q, sizeof(q)), why);
        s_set_failure(self, c, SG_REFUSED, why, now);
        return NULL;
    }
    c->state = S_FETCHING;
    s_add_waiter(c, NULL, NULL, dep);
    return c;
}

/* ---- public ------------------------------------------------------------- */

verify_x5u_cache_t *
verify_x5u_cache_new(const verify_x5u_cache_opts *opts) {
    verify_x5u_cache_t *self = sg_calloc(1, sizeof(*self));

    self->o = *opts;
    if (self->o.negative_ttl <= 0)
        self->o.negative_ttl = VERIFY_X5U_NEGATIVE_TTL;
    self->n_buckets = 64;
    self->buckets = sg_calloc(self->n_buckets, sizeof(*self->buckets));
    self->sweep_at = 1024;
    if (opts->dir != NULL) {
        self->dir = sg_strdup(opts->dir);
        if (mkdir(self->dir, 0755) != 0 && errno != EEXIST) {
            sg_error(S_PLACE, "mkdir %s: %s", self->dir, strerror(errno));
            goto fail;
        }
    }
    self->o.dir = self->dir;
    if (opts->anchors_file != NULL) {
        FILE *f = fopen(opts->anchors_file, "r");
        X509 *x;
        if (f == NULL) {
            sg_error(S_PLACE, "open %s: %s", opts->anchors_file,
                     strerror(errno));
            goto fail;
        }
        self->anchors = sk_X509_new_null();
        if (self->anchors == NULL)
            sg_panic("sk_X509_new_null: out of memory");
        while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
            if (!sk_X509_push(self->anchors, x))
                sg_panic("sk_X509_push: out of memory");
        ERR_clear_error();
        fclose(f);
    }
    self->o.anchors_file = NULL;
    self->fetcher = verify_x5u_fetcher_new(&opts->policy);
    if (self->fetcher == NULL)
        goto fail;
    self->o.policy.tls_ca = NULL;
    return self;
fail:
    verify_x5u_cache_destroy(&self);
    return NULL;
}

void
verify_x5u_cache_destroy(verify_x5u_cache_t **self_p) {
    verify_x5u_cache_t *self = self_p ? *self_p : NULL;

    if (self == NULL)
        return;
    verify_x5u_fetcher_destroy(&self->fetcher);
    if (self->warm != NULL)
        closedir(self->warm);
    for (size_t i = 0; i < self->n_buckets; i++) {
        s_entry *e = self->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            s_entry_free(e);
        }
    }
    sg_free(self->buckets);
    sk_X509_pop_free(self->anchors, X509_free);
    sg_free(self->dir);
    sg_free(self);
    *self_p = NULL;
}

int
verify_x5u_cache_get(verify_x5u_cache_t *self, const char *url,
                     verify_x5u_cb cb, void *arg, verify_x5u_result_t *res) {
    int64_t now = s_now(self);
    const char *why;
    s_entry *e;

    /* The URL policy is pure and cheap: checked every time, never cached,
     * so a policy change applies at once. */
    why = verify_x5u_check_url(url, &self->o.policy, NULL);
    if (why != NULL) {
        self->stats.policy_refused++;
        snprintf(self->last_detail, sizeof(self->last_detail), "%s", why);
        res->reason = REASON_X5U_POLICY;
        res->transient = 0;
        res->chain = NULL;
        res->detail = self->last_detail;
        return 1;
    }
    e = s_find(self, url, 0);
    if (e != NULL && e->state != S_IDLE) {
        self->stats.joined++;
        self->pending++;
        s_add_waiter(e, cb, arg, NULL);
        return 0;
    }
    if (e != NULL && e->have && now < e->expires_at) {
        if (e->reason == REASON_OK || e->reason == REASON_CERT_REVOKED ||
            e->chain != NULL) {
            /* A CRL verdict past its time is renewed before answering. */
            if (e->chain != NULL && e->crl_until <= now && self->o.crl_fetch &&
                verify_chain_status(e->chain) == REASON_OK &&
                !s_crl_stage(self, e, now)) {
                self->pending++;
                s_add_waiter(e, cb, arg, NULL);
                return 0;
            }
            self->stats.hits++;
        } else {
            self->stats.negative_hits++;
        }
        e->source = "memory";
        e->used = 1;
        s_result(e, res);
        return 1;
    }
    if (e == NULL)
        e = s_insert(self, url, 0);
    e->used = 1;
    if (s_load_file(self, e, now)) {
        if (e->reason == REASON_OK && !s_crl_stage(self, e, now)) {
            self->pending++;
            s_add_waiter(e, cb, arg, NULL);
            return 0;
        }
        s_result(e, res);
        return 1;
    }
    self->stats.misses++;
    if (verify_x5u_fetcher_start(self->fetcher, url, 1, s_on_fetched, e,
                                 &why) != SG_OK) {
        s_set_failure(self, e, SG_AGAIN, why, now);
        s_result(e, res);
        return 1;
    }
    e->state = S_FETCHING;
    self->pending++;
    s_add_waiter(e, cb, arg, NULL);
    return 0;
}

/* One directory entry for verify_x5u_cache_warm: 1 if a chain loaded. */
static int
s_warm_file(verify_x5u_cache_t *self, const char *name, int64_t now) {
    char path[1024], want[1024], *url;
    uint8_t *buf;
    size_t n = 0, len = strlen(name);
    verify_x5u_record_t r;
    s_entry *e;
    int ok = 0;

    /* Our names only: 64 hex digits of SHA-256 and ".x5u". */
    if (len != 68 || strcmp(name + 64, ".x5u") != 0 ||
        strspn(name, "0123456789abcdef") != 64)
        return 0;
    snprintf(path, sizeof(path), "%s/%s", self->dir, name);
    if ((buf = s_file_read(path, &n)) == NULL)
        return 0;
    if (verify_x5u_record_decode(buf, n, &r) != NULL || r.is_crl ||
        r.expires_at <= now || r.fetched_at > now + 300) {
        sg_free(buf);
        return 0;
    }
    url = sg_strndup(r.url, r.url_len);
    sg_free(buf);
    /* The file must be the one _get would read for its URL, the URL must
     * pass today's policy, and memory must not know it already. */
    s_file_path(self, url, 0, want, sizeof(want));
    if (strcmp(want, path) == 0 && strlen(url) == r.url_len &&
        verify_x5u_check_url(url, &self->o.policy, NULL) == NULL &&
        s_find(self, url, 0) == NULL) {
        e = s_insert(self, url, 0);
        if (s_load_file(self, e, now)) {
            /* Loaded ahead, not asked for: not a disk hit yet, and the
             * CRL check waits for the first lookup (crl_until is 0). */
            self->stats.disk_hits--;
            self->stats.warmed++;
            e->source = "disk";
            ok = 1;
        } else {
            s_entry **pp = &self->buckets[s_hash(url, 0) &
                                          (self->n_buckets - 1)];
            while (*pp != e)
                pp = &(*pp)->hnext;
            *pp = e->hnext;
            s_entry_free(e);
            self->n_entries--;
        }
    }
    sg_free(url);
    return ok;
}

int
verify_x5u_cache_warm(verify_x5u_cache_t *self, long budget_us) {
    int64_t now = s_now(self);
    uint64_t t0 = sg_clock_mono_us();
    struct dirent *d;

    if (self->dir == NULL || self->warm_done)
        return 0;
    if (self->warm == NULL && (self->warm = opendir(self->dir)) == NULL) {
        self->warm_done = 1;
        return 0;
    }
    while (sg_clock_mono_us() - t0 < (uint64_t)budget_us) {
        if ((self->o.max_entries > 0 &&
             self->n_entries >= self->o.max_entries) ||
            (d = readdir(self->warm)) == NULL) {
            closedir(self->warm);
            self->warm = NULL;
            self->warm_done = 1;
            if (self->stats.warmed > 0)
                sg_info(S_PLACE, "x5u cache: %" PRIu64 " chains loaded ahead",
                        self->stats.warmed);
            return 0;
        }
        (void)s_warm_file(self, d->d_name, now);
    }
    return 1;
}

size_t
verify_x5u_cache_fds(const verify_x5u_cache_t *self, struct pollfd *out,
                     size_t max) {
    return verify_x5u_fetcher_fds(self->fetcher, out, max);
}

long
verify_x5u_cache_timeout_ms(const verify_x5u_cache_t *self) {
    return verify_x5u_fetcher_timeout_ms(self->fetcher);
}

void
verify_x5u_cache_perform(verify_x5u_cache_t *self, const struct pollfd *fds,
                         size_t n) {
    verify_x5u_fetcher_perform(self->fetcher, fds, n);
}

void
verify_x5u_cache_wait(verify_x5u_cache_t *self, long max_ms) {
    verify_x5u_fetcher_wait(self->fetcher, max_ms);
}

size_t
verify_x5u_cache_pending(const verify_x5u_cache_t *self) {
    return self->pending;
}

typedef struct {
    int done;
    proto_reason reason;
} s_sync;

static void
s_sync_cb(void *arg, const char *url, const verify_x5u_result_t *res) {
    s_sync *s = arg;

    s->done = 1;
    s->reason = res->reason;
}

proto_reason
verify_x5u_cache_chain_fn(void *arg, const char *x5u, verify_chain_t **chain) {
    verify_x5u_cache_t *self = arg;
    verify_x5u_result_t res;
    s_sync s = {0, REASON_OK};
    s_entry *e;

    *chain = NULL;
    if (verify_x5u_cache_get(self, x5u, s_sync_cb, &s, &res)) {
        if (res.detail != self->last_detail)
            snprintf(self->last_detail, sizeof(self->last_detail), "%s",
                     res.detail);
        *chain = res.chain;
        return res.reason;
    }
    /* The fetcher's own timeouts bound this loop. */
    while (!s.done)
        verify_x5u_fetcher_wait(self->fetcher, 1000);
    e = s_find(self, x5u, 0);
    snprintf(self->last_detail, sizeof(self->last_detail), "%s",
             e ? e->detail : "");
    if (s.reason == REASON_OK && e != NULL)
        *chain = e->chain;
    return s.reason;
}

const char *
verify_x5u_cache_last_detail(const verify_x5u_cache_t *self) {
    return self->last_detail;
}

const verify_x5u_stats_t *
verify_x5u_cache_stats(const verify_x5u_cache_t *self) {
    return &self->stats;
}

size_t
verify_x5u_cache_entries(const verify_x5u_cache_t *self) {
    return self->n_entries;
}

int64_t
verify_x5u_cache_crl_oldest(const verify_x5u_cache_t *self) {
    int64_t oldest = 0;

    for (size_t b = 0; b < self->n_buckets; b++)
        for (const s_entry *e = self->buckets[b]; e != NULL; e = e->hnext)
            if (e->is_crl && e->crl != NULL &&
                (oldest == 0 || e->fetched_at < oldest))
                oldest = e->fetched_at;
    return oldest;
}

int
verify_x5u_cache_info(const verify_x5u_cache_t *self, const char *url,
                      verify_x5u_info_t *out) {
    const s_entry *e = s_find(self, url, 0);

    if (e == NULL || !e->have)
        return -1;
    memset(out, 0, sizeof(*out));
    out->reason = e->reason;
    out->detail = e->detail;
    out->source = e->source;
    out->fetched_at = e->fetched_at;
    out->expires_at = e->expires_at;
    out->ttl_why = e->ttl_why;
    out->http_status = e->http_status;
    out->content_type = e->ctype;
    out->pem = e->pem;
    out->pem_len = e->pem_len;
    out->chain = e->chain;
    out->crl_detail = e->crl_detail;
    return 0;
}

/* ---- metrics ------------------------------------------------------------ */

struct verify_x5u_metrics {
    sg_counter_t *hits[3], *misses, *fetches[2], *failures[4], *warmed,
        *evicted;
    sg_gauge_t *entries, *crl_age;
    sg_hist_t *latency;
    verify_x5u_stats_t last; /* the cache's counters at the last update */
    sg_gauge_t *key_tables;
    sg_counter_t *key_built, *key_failed;
    verify_ktab_stats_t key_last;
};

/* The cache's latency buckets in seconds (verify_x5u_latency_ms). */
static double s_lat_bounds[VERIFY_X5U_LAT_BUCKETS - 1];

static sg_metrics_family_t *
s_m_declare(sg_metrics_t *reg, const char *name, sg_metric_type type,
            const char *help, const char *const *labels)
{
    int hist = type == SG_METRIC_HISTOGRAM;

    return sg_metrics_declare(
        reg, &(sg_metrics_desc_t){.name = name,
                                  .help = help,
                                  .type = type,
                                  .labels = labels,
                                  .buckets = hist ? s_lat_bounds : NULL,
                                  .n_buckets = hist ? SG_NELEM(s_lat_bounds)
                                                    : 0});
}

verify_x5u_metrics_t *
verify_x5u_metrics_new(sg_metrics_t *reg) {
    static const char *const l_source[] = {"source", NULL};
    static const char *const l_kind[] = {"kind", NULL};
    static const char *const sources[3] = {"memory", "negative", "disk"};
    static const char *const fetch_kinds[2] = {"chain", "crl"};
    static const char *const fail_kinds[4] = {"policy", "refused", "failed",
                                              "crl_failed"};
    verify_x5u_metrics_t *m = sg_calloc(1, sizeof(*m));
    sg_metrics_family_t *f;

    for (size_t i = 0; i < SG_NELEM(s_lat_bounds); i++)
        s_lat_bounds[i] = verify_x5u_latency_ms[i] / 1000.0;
    f = s_m_declare(reg, "stirgate_x5u_cache_hits_total", SG_METRIC_COUNTER,
                    "x5u lookups answered without a fetch, by source "
                    "(memory, a cached failure, the cache directory).",
                    l_source);
    for (int i = 0; i < 3; i++)
        m->hits[i] = sg_metrics_counter(f, sources[i], NULL);
    m->misses = sg_metrics_counter(
        s_m_declare(reg, "stirgate_x5u_cache_misses_total", SG_METRIC_COUNTER,
                    "x5u lookups that started a fetch.", NULL),
        NULL);
    f = s_m_declare(reg, "stirgate_x5u_fetches_total", SG_METRIC_COUNTER,
                    "Successful fetches, by kind (certificate chain, CRL).",
                    l_kind);
    for (int i = 0; i < 2; i++)
        m->fetches[i] = sg_metrics_counter(f, fetch_kinds[i], NULL);
    f = s_m_declare(reg, "stirgate_x5u_fetch_failures_total",
                    SG_METRIC_COUNTER,
                    "x5u and CRL fetch failures, by kind: policy (URL "
                    "refused before fetching), refused (answer unusable), "
                    "failed (transient), crl_failed.",
                    l_kind);
    for (int i = 0; i < 4; i++)
        m->failures[i] = sg_metrics_counter(f, fail_kinds[i], NULL);
    m->warmed = sg_metrics_counter(
        s_m_declare(reg, "stirgate_x5u_cache_warmed_total", SG_METRIC_COUNTER,
                    "Chains loaded from the cache directory ahead of their "
                    "first lookup (x5u.warm).",
                    NULL),
        NULL);
    m->evicted = sg_metrics_counter(
        s_m_declare(reg, "stirgate_x5u_cache_evicted_total",
                    SG_METRIC_COUNTER,
                    "Entries dropped from memory at x5u.cache_entries "
                    "(least recently used first).",
                    NULL),
        NULL);
    m->entries = sg_metrics_gauge(
        s_m_declare(reg, "stirgate_x5u_cache_entries", SG_METRIC_GAUGE,
                    "Entries in the x5u cache (chains, CRLs, failures).",
                    NULL),
        NULL);
    m->key_tables = sg_metrics_gauge(
        s_m_declare(reg, "stirgate_verify_key_tables", SG_METRIC_GAUGE,
                    "Peer keys with a precomputed verification table, or "
                    "one being built (at most verify.key_tables).",
                    NULL),
        NULL);
    m->key_built = sg_metrics_counter(
        s_m_declare(reg, "stirgate_verify_key_tables_built_total",
                    SG_METRIC_COUNTER,
                    "Verification tables built for peer keys used "
                    "verify.key_table_after times.",
                    NULL),
        NULL);
    m->key_failed = sg_metrics_counter(
        s_m_declare(reg, "stirgate_verify_key_table_failures_total",
                    SG_METRIC_COUNTER,
                    "Verification tables that could not be built (the key "
                    "goes on without one).",
                    NULL),
        NULL);
    m->crl_age = sg_metrics_gauge(
        s_m_declare(reg, "stirgate_x5u_crl_age_seconds", SG_METRIC_GAUGE,
                    "Age of the oldest CRL held (0 when none is).", NULL),
        NULL);
    m->latency = sg_metrics_hist(
        s_m_declare(reg, "stirgate_x5u_fetch_duration_seconds",
                    SG_METRIC_HISTOGRAM, "Time of one x5u or CRL fetch.",
                    NULL),
        NULL);
    return m;
}

void
verify_x5u_metrics_update(verify_x5u_metrics_t *self,
                          const verify_x5u_cache_t *cache, int64_t now_s) {
    const verify_x5u_stats_t *st;
    verify_ktab_stats_t kt;
    int64_t crl;

    if (self == NULL || cache == NULL)
        return;
    verify_key_collect_tables();
    verify_ktab_stats(&kt);
    sg_gauge_set(self->key_tables, (double)kt.tables);
    sg_counter_add(self->key_built, kt.built - self->key_last.built);
    sg_counter_add(self->key_failed, kt.failed - self->key_last.failed);
    self->key_last = kt;
    st = &cache->stats;
    /* The cache's counters only grow: add what changed since the last
     * update. */
#define S_DELTA(c, f) sg_counter_add(c, st->f - self->last.f)
    S_DELTA(self->hits[0], hits);
    S_DELTA(self->hits[1], negative_hits);
    S_DELTA(self->hits[2], disk_hits);
    S_DELTA(self->misses, misses);
    S_DELTA(self->fetches[0], fetch_ok);
    S_DELTA(self->fetches[1], crl_fetch_ok);
    S_DELTA(self->failures[0], policy_refused);
    S_DELTA(self->failures[1], fetch_refused);
    S_DELTA(self->failures[2], fetch_failed);
    S_DELTA(self->failures[3], crl_fetch_failed);
    S_DELTA(self->warmed, warmed);
    S_DELTA(self->evicted, evicted);
#undef S_DELTA
    self->last = *st;
    sg_gauge_set(self->entries, (double)cache->n_entries);
    crl = verify_x5u_cache_crl_oldest(cache);
    sg_gauge_set(self->crl_age,
                 crl > 0 && now_s > crl ? (double)(now_s - crl) : 0.0);
    sg_hist_load(self->latency, st->latency, VERIFY_X5U_LAT_BUCKETS,
                 (double)st->latency_sum_us / 1e6);
}

void
verify_x5u_metrics_destroy(verify_x5u_metrics_t **self_p) {
    if (self_p == NULL)
        return;
    sg_free(*self_p);
    *self_p = NULL;
}
