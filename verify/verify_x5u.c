/*
 * verify/verify_x5u.c - x5u URL/address policy, HTTP cache lifetime and the
 * curl multi fetcher.  See verify_x5u.h for the contract.
 */
#include "verify/verify_x5u.h"

#include "lib/sg_fdset.h"
#include "lib/sg_log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_PLACE "verify.x5u"

/* ---- 1. URL policy ------------------------------------------------------ */

/* Host names: LDH labels of 1..63 octets, 253 in all (RFC 1123). */
static const char *
s_check_hostname(const char *h, size_t n) {
    size_t label = 0, i;

    if (n == 0)
        return "no host";
    if (n > 253)
        return "host name too long";
    for (i = 0; i < n; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0)
                return "empty label in host name";
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-')
            return "host name has a character outside letters, digits, "
                   "'-' and '.'";
        if (++label > 63)
            return "host name label longer than 63";
    }
    if (label == 0)
        return "empty label in host name";
    return NULL;
}

/*
 * Resolvers (and curl's URL parser) read "2130706433", "0x7f.1" or
 * "127.1" as IPv4 addresses.  No top-level domain is numeric, so a host
 * whose last label is all digits or starts with 0x must be a plain dotted
 * quad, which is then checked as an address.
 */
static int
s_looks_numeric(const char *h, size_t n) {
    size_t start = n;

    while (start > 0 && h[start - 1] != '.')
        start--;
    if (n - start >= 2 && h[start] == '0' &&
        (h[start + 1] == 'x' || h[start + 1] == 'X'))
        return 1;
    for (size_t i = start; i < n; i++)
        if (!isdigit((unsigned char)h[i]))
            return 0;
    return 1;
}

const char *
verify_x5u_check_url(const char *url, const verify_x5u_policy_t *policy,
                     verify_x5u_url_t *out) {
    verify_x5u_url_t u;
    const char *auth, *auth_end, *host_end, *p, *why;
    size_t len, i;
    char hostbuf[256];
    struct sockaddr_storage ss;
    socklen_t sslen = 0;

    if (url == NULL)
        return "no URL";
    len = strlen(url);
    if (len > VERIFY_X5U_URL_MAX)
        return "URL too long";
    for (i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return "URL has a space, control or non-ASCII character";
    if (strncasecmp(url, "https://", 8) != 0)
        return strstr(url, "://") != NULL ? "scheme is not https"
                                          : "not an absolute https URL";
    if (strchr(url, '?') != NULL)
        return "URL has a query";
    if (strchr(url, '#') != NULL)
        return "URL has a fragment";

    memset(&u, 0, sizeof(u));
    auth = url + 8;
    auth_end = auth + strcspn(auth, "/");
    if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL)
        return "URL has userinfo";
    if (auth == auth_end)
        return "no host";

    if (auth[0] == '[') {
        const char *rb = memchr(auth, ']', (size_t)(auth_end - auth));
        if (rb == NULL)
            return "unterminated IPv6 literal";
        u.host = auth + 1;
        u.host_len = (size_t)(rb - u.host);
        u.host_is_ip = 1;
        host_end = rb + 1;
        if (host_end != auth_end && *host_end != ':')
            return "junk after IPv6 literal";
    } else {
        host_end = memchr(auth, ':', (size_t)(auth_end - auth));
        if (host_end == NULL)
            host_end = auth_end;
        u.host = auth;
        u.host_len = (size_t)(host_end - auth);
    }

    u.port = 443;
    if (host_end != auth_end) {
        long port = 0;
        p = host_end + 1;
        if (p == auth_end)
            return "empty port";
        if (auth_end - p > 5)
            return "port out of range";
        for (; p < auth_end; p++) {
            if (!isdigit((unsigned char)*p))
                return "port is not a number";
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
            return "port out of range";
        u.port = (int)port;
    }
    if (u.port != 443 && u.port != 8443 && !policy->allow_loopback)
        return "port not 443 or 8443";

    if (u.host_len == 0)
        return "no host";
    if (u.host_len >= sizeof(hostbuf))
        return "host name too long";
    memcpy(hostbuf, u.host, u.host_len);
    hostbuf[u.host_len] = '\0';
    memset(&ss, 0, sizeof(ss));
    if (u.host_is_ip) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET6, hostbuf, &s6->sin6_addr) != 1)
            return "malformed IPv6 literal";
        s6->sin6_family = AF_INET6;
        sslen = sizeof(*s6);
    } else if (s_looks_numeric(u.host, u.host_len)) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        if (inet_pton(AF_INET, hostbuf, &s4->sin_addr) != 1)
            return "numeric host in a non-standard form";
        s4->sin_family = AF_INET;
        sslen = sizeof(*s4);
        u.host_is_ip = 1;
    } else if ((why = s_check_hostname(u.host, u.host_len)) != NULL) {
        return why;
    }
    if (sslen != 0 && (why = verify_x5u_check_addr((struct sockaddr *)&ss,
                                                   sslen, policy)) != NULL)
        return why;

    u.path = auth_end;
    u.path_len = strlen(auth_end);
    if (memchr(u.path, ';', u.path_len) != NULL)
        return "URL path has parameters";
    if (out != NULL)
        *out = u;
    return NULL;
}

/* ---- address policy ----------------------------------------------------- */

typedef struct {
    uint32_t net;
    int bits;
    const char *why;
} s_v4range;

/* RFC 6890 and successors: everything that is not the public Internet. */
static const s_v4range s_v4_special[] = {
    {0x00000000, 8, "address in 0.0.0.0/8 (this network)"},
    {0x0a000000, 8, "private address (10/8)"},
    {0x64400000, 10, "shared address space (100.64/10, CGNAT)"},
    {0x7f000000, 8, "loopback address"},
    {0xa9fe0000, 16, "link-local address"},
    {0xac100000, 12, "private address (172.16/12)"},
    {0xc0000000, 24, "IETF protocol assignment (192.0.0/24)"},
    {0xc0000200, 24, "documentation address (192.0.2/24)"},
    {0xc0586300, 24, "6to4 relay anycast (192.88.99/24)"},
    {0xc0a80000, 16, "private address (192.168/16)"},
    {0xc6120000, 15, "benchmarking address (198.18/15)"},
    {0xc6336400, 24, "documentation address (198.51.100/24)"},
    {0xcb007100, 24, "documentation address (203.0.113/24)"},
    {0xe0000000, 4, "multicast address"},
    {0xf0000000, 4, "reserved address (240/4)"},
};

static const char *
s_check_v4(uint32_t a, const verify_x5u_policy_t *policy) {
    if (a == 0xffffffffu)
        return "broadcast address";
    for (size_t i = 0; i < SG_NELEM(s_v4_special); i++) {
        const s_v4range *r = &s_v4_special[i];
        uint32_t mask = 0xffffffffu << (32 - r->bits);
        if ((a & mask) == r->net) {
            if (r->net == 0x7f000000 && policy->allow_loopback)
                return NULL;
            return r->why;
        }
    }
    return NULL;
}

typedef struct {
    uint8_t net[16];
    int bits;
    const char *why; /* NULL: the range embeds an IPv4 address */
    int v4_at;       /* byte offset of the embedded IPv4 */
} s_v6range;

static const s_v6range s_v6_special[] = {
    /* ::ffff:0:0/96 mapped and ::/96 compatible: the IPv4 decides (:: and
     * ::1 are handled before this table). */
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, NULL, 12},
    {{0}, 96, NULL, 12},
    /* NAT64 well-known prefix: the embedded IPv4 decides. */
    {{0, 0x64, 0xff, 0x9b}, 96, NULL, 12},
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, "local-use NAT64 address", 0},
    /* 6to4: 2002:V4ADDR::/48. */
    {{0x20, 0x02}, 16, NULL, 2},
    {{0x01, 0x00}, 64, "discard-only address (100::/64)", 0},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation address (2001:db8::/32)", 0},
    {{0x20, 0x01}, 23, "IETF protocol assignment (2001::/23)", 0},
    {{0xfc}, 7, "unique local address (fc00::/7)", 0},
    {{0xfe, 0x80}, 10, "link-local address", 0},
    {{0xfe, 0xc0}, 10, "site-local address", 0},
    {{0xff}, 8, "multicast address", 0},
};

static int
s_prefix_match(const uint8_t *a, const uint8_t *net, int bits) {
    int full = bits / 8, rest = bits % 8;

    if (memcmp(a, net, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static const char *
s_check_v6(const uint8_t *a, const verify_x5u_policy_t *policy) {
    static const uint8_t zero[16], one[16] = {[15] = 1};

    if (memcmp(a, zero, 16) == 0)
        return "unspecified address";
    if (memcmp(a, one, 16) == 0)
        return policy->allow_loopback ? NULL : "loopback address";
    for (size_t i = 0; i < SG_NELEM(s_v6_special); i++) {
        const s_v6range *r = &s_v6_special[i];
        if (!s_prefix_match(a, r->net, r->bits))
            continue;
        if (r->why != NULL)
            return r->why;
        uint32_t v4 = (uint32_t)a[r->v4_at] << 24 |
                      (uint32_t)a[r->v4_at + 1] << 16 |
                      (uint32_t)a[r->v4_at + 2] << 8 | a[r->v4_at + 3];
        return s_check_v4(v4, policy);
    }
    return NULL;
}

const char *
verify_x5u_check_addr(const struct sockaddr *sa, socklen_t len,
                      const verify_x5u_policy_t *policy) {
    if (sa == NULL)
        return "no address";
    if (sa->sa_family == AF_INET &&
        len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        return s_check_v4(ntohl(s4->sin_addr.s_addr), policy);
    }
    if (sa->sa_family == AF_INET6 &&
        len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        return s_check_v6(s6->sin6_addr.s6_addr, policy);
    }
    return "not an IPv4 or IPv6 address";
}

/* ---- 2. HTTP cache lifetime --------------------------------------------- */

/* delta-seconds (RFC 9111 1.2.2): digits only; saturates at 2^31. */
static int
s_delta_seconds(const char *s, size_t n, int64_t *out) {
    int64_t v = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        if (v < 2147483648LL)
            v = v * 10 + (s[i] - '0');
    }
    *out = v > 2147483648LL ? 2147483648LL : v;
    return 0;
}

int64_t
verify_x5u_http_ttl(const verify_x5u_http_t *h, int64_t now, char *why,
                    size_t whysz) {
    int64_t max_age = -1, ttl = -1, age = 0;
    int no_store = 0, no_cache = 0;
    const char *p;

    if (whysz > 0)
        why[0] = '\0';
    for (p = h->cache_control; p != NULL && *p != '\0';) {
        const char *name, *val = NULL;
        size_t nlen, vlen = 0;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        name = p;
        while (*p != '\0' && *p != '=' && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        nlen = (size_t)(p - name);
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '=') {
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '"') {
                val = ++p;
                while (*p != '\0' && *p != '"')
                    p++;
                vlen = (size_t)(p - val);
                if (*p == '"')
                    p++;
            } else {
                val = p;
                while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
                    p++;
                vlen = (size_t)(p - val);
            }
        }
        /* Skip anything up to the next directive. */
        while (*p != '\0' && *p != ',')
            p++;

        if (nlen == 7 && strncasecmp(name, "max-age", 7) == 0 && val) {
            int64_t v;
            if (s_delta_seconds(val, vlen, &v) == 0 && max_age < 0)
                max_age = v;
        } else if (nlen == 8 && strncasecmp(name, "no-store", 8) == 0) {
            no_store = 1;
        } else if (nlen == 8 && strncasecmp(name, "no-cache", 8) == 0) {
            no_cache = 1;
        }
    }
    if (h->age != NULL) {
        int64_t v;
        if (s_delta_seconds(h->age, strlen(h->age), &v) == 0)
            age = v;
    }

    if (no_store || no_cache) {
        snprintf(why, whysz, "%s", no_store ? "no-store" : "no-cache");
        return 0;
    }
    if (max_age >= 0) {
        ttl = max_age - age;
        if (age > 0)
            snprintf(why, whysz, "max-age=%lld, age=%lld", (long long)max_age,
                     (long long)age);
        else
            snprintf(why, whysz, "max-age=%lld", (long long)max_age);
    } else if (h->expires != NULL) {
        time_t exp = curl_getdate(h->expires, NULL);
        time_t date = h->date != NULL ? curl_getdate(h->date, NULL) : -1;

        /* An invalid Expires means "already expired" (RFC 9111 5.3). */
        if (exp < 0) {
            snprintf(why, whysz, "invalid Expires");
            return 0;
        }
        ttl = (int64_t)exp - (date >= 0 ? (int64_t)date : now) - age;
        snprintf(why, whysz, "Expires%s", date >= 0 ? " - Date" : " - now");
    } else {
        return -1;
    }
    return ttl < 0 ? 0 : ttl;
}

int64_t
verify_x5u_expiry(const verify_x5u_http_t *h, int64_t fetched,
                  int64_t leaf_not_after, char *why, size_t whysz) {
    char d[96];
    int64_t ttl = verify_x5u_http_ttl(h, fetched, d, sizeof(d)), exp;
    int capped = 0;

    if (ttl < 0)
        snprintf(why, whysz, "no caching directive: 24 h floor");
    else if (ttl < VERIFY_X5U_MIN_TTL)
        snprintf(why, whysz, "%s below the 24 h floor", d);
    else
        snprintf(why, whysz, "%s", d);
    if (ttl < VERIFY_X5U_MIN_TTL)
        ttl = VERIFY_X5U_MIN_TTL;
    exp = fetched + ttl;
    if (leaf_not_after > 0 && exp > leaf_not_after) {
        exp = leaf_not_after;
        capped = 1;
    }
    if (capped) {
        size_t used = strlen(why);
        if (used < whysz)
            snprintf(why + used, whysz - used, "; capped at leaf notAfter");
    }
    return exp;
}

const char *
verify_x5u_sniff_pem(const uint8_t *body, size_t n) {
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char key[] = "PRIVATE KEY-----";
    size_t i = 0;

    if (memchr(body, '\0', n) != NULL)
        return "body is not PEM (NUL byte)";
    while (i < n && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' ||
                     body[i] == '\n'))
        i++;
    if (n - i < sizeof(begin) - 1 ||
        memcmp(body + i, begin, sizeof(begin) - 1) != 0)
        return "body is not a PEM certificate list";
    /* Asterisk's "DANGER" check: a repository serving a private key has
     * leaked it; refuse rather than trust anything signed with it. */
    if (memmem(body, n, key, sizeof(key) - 1) != NULL)
        return "body holds a private key";
    return NULL;
}

/* ---- 3. the fetcher ----------------------------------------------------- */

typedef struct s_xfer s_xfer;

struct verify_x5u_fetcher {
    CURLM *multi;
    CURLSH *share; /* TLS sessions, across the transfers of this fetcher */
    verify_x5u_policy_t pol;
    char *tls_ca;
    sg_fdset_t socks; /* what curl asked us to watch */
    int64_t timer_at_ms; /* -1: no timer */
    size_t running;
    s_xfer *xfers; /* every transfer in flight (for destroy) */
};

#define S_HDR 256

struct s_xfer {
    verify_x5u_fetcher_t *owner;
    s_xfer *prev, *next;
    CURL *easy;
    struct curl_slist *hdrs;
    char *url;
    int expect_pem;
    int port_relaxed;
    uint8_t *body;
    size_t n, cap;
    int too_big;
    const char *addr_refused; /* why the address callback refused */
    char ctype[S_HDR], cc[S_HDR], expires[S_HDR], date[S_HDR], age[32];
    int64_t started_us;
    verify_x5u_done_fn done;
    void *arg;
};

static int s_curl_ready;

static int64_t
s_mono_us(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * THE table: libcurl result codes into OK / AGAIN / REFUSED.  Refusals are
 * what the policy stopped; everything the network or the server did wrong
 * is transient, including a TLS certificate the repository gets wrong (its
 * operator can fix it; it says nothing about the STIR chain).  HTTP status
 * classes follow in s_http_table.
 */
static const struct {
    CURLcode code;
    sg_rc rc;
    const char *why;
} s_curl_table[] = {
    {CURLE_OK, SG_OK, NULL},
    {CURLE_UNSUPPORTED_PROTOCOL, SG_REFUSED, "scheme refused"},
    {CURLE_URL_MALFORMAT, SG_REFUSED, "malformed URL"},
    {CURLE_FILESIZE_EXCEEDED, SG_REFUSED, "response larger than the cap"},
    {CURLE_TOO_MANY_REDIRECTS, SG_REFUSED, "redirect refused"},
    {CURLE_COULDNT_RESOLVE_HOST, SG_AGAIN, "cannot resolve host"},
    {CURLE_COULDNT_CONNECT, SG_AGAIN, "cannot connect"},
    {CURLE_OPERATION_TIMEDOUT, SG_AGAIN, "timed out"},
    {CURLE_PEER_FAILED_VERIFICATION, SG_AGAIN,
     "repository TLS certificate not trusted"},
    {CURLE_SSL_CONNECT_ERROR, SG_AGAIN, "TLS handshake failed"},
    {CURLE_SSL_CACERT_BADFILE, SG_AGAIN, "cannot read the TLS CA bundle"},
    {CURLE_GOT_NOTHING, SG_AGAIN, "empty reply"},
    {CURLE_RECV_ERROR, SG_AGAIN, "receive error"},
    {CURLE_SEND_ERROR, SG_AGAIN, "send error"},
    {CURLE_PARTIAL_FILE, SG_AGAIN, "truncated response"},
    {CURLE_HTTP2, SG_AGAIN, "HTTP/2 error"},
    {CURLE_HTTP2_STREAM, SG_AGAIN, "HTTP/2 stream error"},
    {CURLE_WEIRD_SERVER_REPLY, SG_AGAIN, "malformed HTTP reply"},
};

static const struct {
    long lo, hi;
    sg_rc rc;
    const char *why;
} s_http_table[] = {
    {200, 200, SG_OK, NULL},
    {300, 399, SG_REFUSED, "redirect refused"},
    {400, 499, SG_AGAIN, "HTTP client error status"},
    {500, 599, SG_AGAIN, "HTTP server error status"},
    {0, 999, SG_AGAIN, "unexpected HTTP status"},
};

/* Classify a finished transfer: our own refusals first (they surface in
 * curl as generic connect or write errors), then the curl code, then the
 * HTTP status. */
static sg_rc
s_outcome(const s_xfer *x, CURLcode cc, long status, const char **why) {
    size_t i;

    if (x->addr_refused != NULL) {
        *why = x->addr_refused;
        return SG_REFUSED;
    }
    if (x->too_big || (cc == CURLE_WRITE_ERROR)) {
        *why = "response larger than the cap";
        return SG_REFUSED;
    }
    for (i = 0; i < SG_NELEM(s_curl_table); i++) {
        if (s_curl_table[i].code == cc)
            break;
    }
    if (i == SG_NELEM(s_curl_table)) {
        *why = curl_easy_strerror(cc);
        return SG_AGAIN;
    }
    if (s_curl_table[i].rc != SG_OK) {
        *why = s_curl_table[i].why;
        return s_curl_table[i].rc;
    }
    for (i = 0; i < SG_NELEM(s_http_table); i++) {
        if (status >= s_http_table[i].lo && status <= s_http_table[i].hi) {
            *why = s_http_table[i].why;
            return s_http_table[i].rc;
        }
    }
    *why = "unexpected HTTP status";
    return SG_AGAIN;
}

/* Keep "Name: value" of the headers that matter; a new status line (a 1xx
 * before the final response) starts over. */
static size_t
s_on_header(char *buf, size_t size, size_t nitems, void *arg) {
    s_xfer *x = arg;
    size_t n = size * nitems, vlen;
    static const struct {
        const char *name;
        size_t off, cap;
    } keep[] = {
        {"content-type", offsetof(s_xfer, ctype), S_HDR},
        {"cache-control", offsetof(s_xfer, cc), S_HDR},
        {"expires", offsetof(s_xfer, expires), S_HDR},
        {"date", offsetof(s_xfer, date), S_HDR},
        {"age", offsetof(s_xfer, age), 32},
    };
    const char *colon, *v;

    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        x->ctype[0] = x->cc[0] = x->expires[0] = x->date[0] = x->age[0] = 0;
        return n;
    }
    colon = memchr(buf, ':', n);
    if (colon == NULL)
        return n;
    v = colon + 1;
    while (v < buf + n && (*v == ' ' || *v == '\t'))
        v++;
    vlen = (size_t)(buf + n - v);
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
                        v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    for (size_t i = 0; i < SG_NELEM(keep); i++) {
        size_t nl = strlen(keep[i].name);
        if ((size_t)(colon - buf) != nl ||
            strncasecmp(buf, keep[i].name, nl) != 0)
            continue;
        char *dst = (char *)x + keep[i].off;
        size_t used = strlen(dst);
        /* Repeated Cache-Control lines are one comma-separated list. */
        if (used > 0 && used + 2 < keep[i].cap) {
            memcpy(dst + used, ", ", 2);
            used += 2;
        }
        size_t room = keep[i].cap - 1 - used;
        size_t k = vlen < room ? vlen : room;
        for (size_t j = 0; j < k; j++) {
            unsigned char c = (unsigned char)v[j];
            dst[used + j] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
        }
        dst[used + k] = '\0';
    }
    return n;
}

static size_t
s_on_body(char *buf, size_t size, size_t nitems, void *arg) {
    s_xfer *x = arg;
    size_t n = size * nitems, need;

    /* Servers that send no Content-Length get past MAXFILESIZE: the cap
     * is enforced here as well, aborting the transfer. */
    if (!sg_add_ok(x->n, n, &need) || need > x->owner->pol.max_bytes) {
        x->too_big = 1;
        return 0;
    }
    if (need > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < need)
            cap *= 2;
        x->body = sg_realloc(x->body, cap);
        x->cap = cap;
    }
    memcpy(x->body + x->n, buf, n);
    x->n = need;
    return n;
}

/*
 * The address policy applied to the address curl is about to connect to,
 * whatever DNS said earlier (DNS rebinding) and whatever curl resolved.
 */
static curl_socket_t
s_on_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr) {
    s_xfer *x = arg;
    const char *why;
    char ip[INET6_ADDRSTRLEN] = "?";

    if (purpose != CURLSOCKTYPE_IPCXN) {
        x->addr_refused = "unexpected socket purpose";
        return CURL_SOCKET_BAD;
    }
    if (addr->family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&addr->addr)->sin_addr, ip,
                  sizeof(ip));
    else if (addr->family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr->addr)->sin6_addr,
                  ip, sizeof(ip));
    why = verify_x5u_check_addr(&addr->addr, addr->addrlen, &x->owner->pol);
    if (why != NULL) {
        x->addr_refused = why;
        return CURL_SOCKET_BAD;
    }
    if (x->owner->pol.allow_loopback) {
        verify_x5u_policy_t strict = x->owner->pol;
        strict.allow_loopback = 0;
        if (verify_x5u_check_addr(&addr->addr, addr->addrlen, &strict))
            sg_warn(S_PLACE,
                    "x5u relaxation used: loopback address %s "
                    "allowed (x5u.allow_loopback)",
                    ip);
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

/*
 * Which CAs check the repositories' TLS servers.  libcurl keeps the parsed
 * CA store in the multi handle and reuses it for later connections, but
 * only when the store comes from a CA file alone: the CA directory
 * Debian's libcurl sets by default (/etc/ssl/certs) disables that cache,
 * and every new connection read and parsed the whole bundle again (144
 * certificates, ~16 ms, some twenty handshakes' worth).  So the directory
 * is cleared:
 *   - with x5u.tls_ca, the file is then the only source, as the policy
 *     says ("instead of the system bundle"; the system directory was
 *     trusted as well before);
 *   - without it, the system bundle file, when libcurl has one (on Debian
 *     it holds what the directory holds); a libcurl built with only a CA
 *     directory keeps it, and the parse.
 * The store is kept S_CA_CACHE_S rather than libcurl's 24 h, so a bundle
 * changed on disk (a CA withdrawn) applies within that time without a
 * restart, for one parse per period.
 */
#define S_CA_CACHE_S 3600L

static CURLcode
s_ca_options(const verify_x5u_fetcher_t *self, CURL *e) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    CURLcode cc = CURLE_OK;

    if (self->tls_ca != NULL)
        cc = curl_easy_setopt(e, CURLOPT_CAINFO, self->tls_ca);
    if (cc == CURLE_OK && (self->tls_ca != NULL || v->cainfo != NULL))
        cc = curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, S_CA_CACHE_S);
    return cc;
}

static int
s_on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
    verify_x5u_fetcher_t *self = userp;

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
s_on_timer(CURLM *multi, long timeout_ms, void *userp) {
    verify_x5u_fetcher_t *self = userp;

    self->timer_at_ms = timeout_ms < 0 ? -1 : s_mono_us() / 1000 + timeout_ms;
    return 0;
}

verify_x5u_fetcher_t *
verify_x5u_fetcher_new(const verify_x5u_policy_t *pol) {
    verify_x5u_fetcher_t *self;

    if (!s_curl_ready) {
        CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (cc != CURLE_OK) {
            sg_error(S_PLACE, "curl_global_init failed: %s",
                     curl_easy_strerror(cc));
            return NULL;
        }
        s_curl_ready = 1;
    }
    self = sg_calloc(1, sizeof(*self));
    self->pol = *pol;
    if (pol->tls_ca != NULL)
        self->tls_ca = sg_strdup(pol->tls_ca);
    self->pol.tls_ca = self->tls_ca;
    if (self->pol.connect_timeout_ms <= 0)
        self->pol.connect_timeout_ms = VERIFY_X5U_CONNECT_MS;
    if (self->pol.timeout_ms <= 0)
        self->pol.timeout_ms = VERIFY_X5U_TOTAL_MS;
    if (self->pol.max_bytes == 0)
        self->pol.max_bytes = VERIFY_X5U_MAX_BYTES;
    self->timer_at_ms = -1;
    self->multi = curl_multi_init();
    if (self->multi == NULL)
        sg_panic("curl_multi_init: out of memory");
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_on_timer);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);

    /*
     * The multi handle already keeps what its transfers have in common:
     * idle connections (a second URL on the same repository reuses the
     * connection, no new handshake), the DNS cache and the parsed CA store
     * (see s_ca_options).  TLS sessions are the exception: libcurl keeps
     * them per easy handle, and every fetch has a new one, so without a
     * share every new connection to a repository that closed the last one
     * paid a full handshake.  The share is used from the loop thread only,
     * hence no lock callbacks.
     */
    self->share = curl_share_init();
    if (self->share == NULL)
        sg_panic("curl_share_init: out of memory");
    if (curl_share_setopt(self->share, CURLSHOPT_SHARE,
                          CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        sg_error(S_PLACE, "curl_share_setopt(SSL_SESSION) failed");
        verify_x5u_fetcher_destroy(&self);
        return NULL;
    }
    return self;
}

static void
s_xfer_free(s_xfer *x) {
    if (x == NULL)
        return;
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    sg_free(x->url);
    sg_free(x->body);
    sg_free(x);
}

static void
s_unlink(verify_x5u_fetcher_t *self, s_xfer *x) {
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
verify_x5u_fetcher_destroy(verify_x5u_fetcher_t **self_p) {
    verify_x5u_fetcher_t *self = self_p ? *self_p : NULL;

    if (self == NULL)
        return;
    while (self->xfers != NULL) {
        s_xfer *x = self->xfers;
        s_unlink(self, x);
        s_xfer_free(x);
    }
    curl_multi_cleanup(self->multi);
    /* After the multi: closing its cached connections may still store
     * sessions in the share.  Every easy handle is gone by now. */
    if (self->share != NULL && curl_share_cleanup(self->share) != CURLSHE_OK)
        sg_warn(S_PLACE, "curl_share_cleanup: share still in use, leaked");
    sg_fdset_clear(&self->socks);
    sg_free(self->tls_ca);
    sg_free(self);
    *self_p = NULL;
}

sg_rc
verify_x5u_fetcher_start(verify_x5u_fetcher_t *self, const char *url,
                         int expect_pem, verify_x5u_done_fn done, void *arg,
                         const char **why) {
    verify_x5u_url_t u;
    s_xfer *x;
    CURL *e;
    char q[160];

    *why = verify_x5u_check_url(url, &self->pol, &u);
    if (*why != NULL)
        return SG_REFUSED;
    e = curl_easy_init();
    if (e == NULL)
        sg_panic("curl_easy_init: out of memory");
    x = sg_calloc(1, sizeof(*x));
    x->owner = self;
    x->easy = e;
    x->url = sg_strdup(url);
    x->expect_pem = expect_pem;
    x->done = done;
    x->arg = arg;
    x->started_us = s_mono_us();
    x->hdrs =
        curl_slist_append(NULL, expect_pem ? "Accept: application/"
                                             "pem-certificate-chain"
                                           : "Accept: application/pkix-crl");
    if (x->hdrs == NULL)
        sg_panic("curl_slist_append: out of memory");

    if (u.port != 443 && u.port != 8443)
        sg_warn(S_PLACE,
                "x5u relaxation used: port %d allowed "
                "(x5u.allow_loopback) url=\"%s\"",
                u.port, sg_log_quote(url, strlen(url), q, sizeof(q)));
    if (self->tls_ca != NULL)
        sg_warn(S_PLACE,
                "x5u relaxation used: repository TLS checked "
                "against %s instead of the system bundle (x5u.tls_ca)",
                self->tls_ca);

    /* Each option is a line of the policy in verify_x5u.h.  Proxies are
     * off: a proxy from the environment would move the connection (and
     * the address check) to the proxy. */
    if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         self->pol.connect_timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, self->pol.timeout_ms) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                         (curl_off_t)self->pol.max_bytes) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        s_ca_options(self, e) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SHARE, self->share) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_USERAGENT, "stirgate") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s_on_header) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, s_on_opensocket) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, x) != CURLE_OK) {
        sg_error(S_PLACE, "curl_easy_setopt failed (libcurl too old?)");
        s_xfer_free(x);
        *why = "fetcher setup failed";
        return SG_AGAIN;
    }
    x->next = self->xfers;
    if (self->xfers)
        self->xfers->prev = x;
    self->xfers = x;
    self->running++;
    if (curl_multi_add_handle(self->multi, e) != CURLM_OK) {
        sg_error(S_PLACE, "curl_multi_add_handle failed");
        s_unlink(self, x);
        s_xfer_free(x);
        *why = "fetcher setup failed";
        return SG_AGAIN;
    }
    return SG_OK;
}

size_t
verify_x5u_fetcher_running(const verify_x5u_fetcher_t *self) {
    return self->running;
}

static void
s_finish(verify_x5u_fetcher_t *self, s_xfer *x, CURLcode cc) {
    verify_x5u_response_t r;
    long status = 0;
    char *ip = NULL;
    char q[200];

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_IP, &ip);
    memset(&r, 0, sizeof(r));
    r.url = x->url;
    r.http_status = status;
    r.content_type = x->ctype;
    r.primary_ip = ip != NULL ? ip : "";
    r.http.cache_control = x->cc[0] ? x->cc : NULL;
    r.http.expires = x->expires[0] ? x->expires : NULL;
    r.http.date = x->date[0] ? x->date : NULL;
    r.http.age = x->age[0] ? x->age : NULL;
    r.elapsed_us = s_mono_us() - x->started_us;
    r.rc = s_outcome(x, cc, status, &r.why);

    /* Belt and braces: the address the response came from is checked
     * again (the socket callback already refused anything else). */
    if (r.rc == SG_OK && r.primary_ip[0] != '\0') {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        memset(&ss, 0, sizeof(ss));
        if (inet_pton(AF_INET, r.primary_ip,
                      &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
            ss.ss_family = AF_INET;
            len = sizeof(struct sockaddr_in);
        } else if (inet_pton(AF_INET6, r.primary_ip,
                             &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
            ss.ss_family = AF_INET6;
            len = sizeof(struct sockaddr_in6);
        }
        r.why = verify_x5u_check_addr((struct sockaddr *)&ss, len, &self->pol);
        if (r.why != NULL)
            r.rc = SG_REFUSED;
    }
    if (r.rc == SG_OK && x->expect_pem) {
        r.why = verify_x5u_sniff_pem(x->body, x->n);
        if (r.why != NULL)
            r.rc = SG_REFUSED;
    }
    if (r.rc == SG_OK) {
        r.body = x->body;
        r.body_len = x->n;
    }

    sg_log_quote(x->url, strlen(x->url), q, sizeof(q));
    if (r.rc == SG_OK) {
        sg_info(S_PLACE,
                "fetched url=\"%s\" from %s: %ld, %zu bytes, "
                "%lld ms",
                q, r.primary_ip, status, x->n,
                (long long)(r.elapsed_us / 1000));
        if (x->expect_pem &&
            strncasecmp(x->ctype, "application/pem-certificate-chain", 33) !=
                0) {
            char t[80];
            sg_warn(S_PLACE,
                    "url=\"%s\" served as \"%s\", not "
                    "application/pem-certificate-chain; accepted",
                    q, sg_log_quote(x->ctype, strlen(x->ctype), t, sizeof(t)));
        }
    } else {
        sg_warn(S_PLACE, "%s url=\"%s\"%s%s: %s (HTTP %ld, %lld ms)",
                r.rc == SG_REFUSED ? "refused by x5u policy"
                                   : "fetch failed (transient)",
                q, r.primary_ip[0] ? " from " : "", r.primary_ip, r.why, status,
                (long long)(r.elapsed_us / 1000));
    }
    x->done(x->arg, &r);
}

static void
s_drain(verify_x5u_fetcher_t *self) {
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(self->multi, &left)) != NULL) {
        s_xfer *x = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode cc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        s_unlink(self, x);
        s_finish(self, x, cc);
        s_xfer_free(x);
    }
}

size_t
verify_x5u_fetcher_fds(const verify_x5u_fetcher_t *self, struct pollfd *out,
                       size_t max)
{
    return sg_fdset_fill(&self->socks, out, max);
}

long
verify_x5u_fetcher_timeout_ms(const verify_x5u_fetcher_t *self) {
    int64_t left;

    if (self->timer_at_ms < 0)
        return -1;
    left = self->timer_at_ms - s_mono_us() / 1000;
    return left < 0 ? 0 : (long)left;
}

void
verify_x5u_fetcher_perform(verify_x5u_fetcher_t *self, const struct pollfd *fds,
                           size_t n) {
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
    if (self->timer_at_ms >= 0 && s_mono_us() / 1000 >= self->timer_at_ms) {
        self->timer_at_ms = -1;
        curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    s_drain(self);
}

void
verify_x5u_fetcher_wait(verify_x5u_fetcher_t *self, long max_ms) {
    struct pollfd stackfds[16], *fds = stackfds;
    size_t n = verify_x5u_fetcher_fds(self, stackfds, SG_NELEM(stackfds));
    long t = verify_x5u_fetcher_timeout_ms(self);

    if (n > SG_NELEM(stackfds)) {
        fds = sg_calloc(n, sizeof(*fds));
        n = verify_x5u_fetcher_fds(self, fds, n);
    }
    if (t < 0 || t > max_ms)
        t = max_ms;
    if (n > 0 || t > 0) {
        if (poll(fds, n, (int)t) < 0 && errno != EINTR)
            sg_warn(S_PLACE, "poll: %s", strerror(errno));
    }
    verify_x5u_fetcher_perform(self, fds, n);
    if (fds != stackfds)
        sg_free(fds);
}
