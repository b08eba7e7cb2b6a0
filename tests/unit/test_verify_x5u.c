/*
 * tests/unit/test_verify_x5u.c - the x5u policy functions, the HTTP cache
 * lifetime, the PEM sniff, the cache file codec and the cache's file layer
 * (verify/verify_x5u.h, verify/verify_x5u_cache.h).  Hermetic: time is
 * injected; the only socket is one connect to 127.0.0.1 port 1, refused
 * by the kernel, to show a corrupt file leads to a refetch.
 */
#include "tests/unit/test_verify_pkifx.h"
#include "tests/unit/tu.h"
#include "verify/verify_x5u.h"
#include "verify/verify_x5u_cache.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const verify_x5u_policy_t strict = {0};
static const verify_x5u_policy_t loopback = {.allow_loopback = 1};

/* ---- URL policy --------------------------------------------------------- */

static const struct {
    const char *url;
    int relaxed;     /* 1: with allow_loopback */
    const char *why; /* NULL = allowed; else a substring of the why */
} s_urls[] = {
    {"https://cert.example.org/leaf.pem", 0, NULL},
    {"https://cert.example.org:443/leaf.pem", 0, NULL},
    {"https://cert.example.org:8443/leaf.pem", 0, NULL},
    {"HTTPS://Cert.Example.ORG/leaf.pem", 0, NULL},
    {"https://cert.example.org", 0, NULL},
    {"https://cert.example.org/a/b%20c.pem", 0, NULL},
    {"http://cert.example.org/leaf.pem", 0, "scheme"},
    {"ftp://cert.example.org/leaf.pem", 0, "scheme"},
    {"cert.example.org/leaf.pem", 0, "absolute"},
    {"https:/cert.example.org/leaf.pem", 0, "absolute"},
    {"https://cert.example.org:8080/leaf.pem", 0, "port"},
    {"https://cert.example.org:80/leaf.pem", 0, "port"},
    {"https://cert.example.org:/leaf.pem", 0, "empty port"},
    {"https://cert.example.org:0/leaf.pem", 1, "range"},
    {"https://cert.example.org:65536/leaf.pem", 1, "range"},
    {"https://cert.example.org:44x/leaf.pem", 1, "number"},
    {"https://cert.example.org:8080/leaf.pem", 1, NULL},
    {"https://cert.example.org/leaf.pem?x=1", 0, "query"},
    {"https://cert.example.org/leaf.pem?", 0, "query"},
    {"https://cert.example.org/leaf.pem#f", 0, "fragment"},
    {"https://user@cert.example.org/leaf.pem", 0, "userinfo"},
    {"https://user:pw@cert.example.org/leaf.pem", 0, "userinfo"},
    {"https://cert.example.org/leaf.pem;type=a", 0, "parameters"},
    {"https://cert.example.org/le af.pem", 0, "space"},
    {"https://cert.example.org/l\x7f.pem", 0, "control"},
    {"https://cert.example.org/\xc3\xa9.pem", 0, "non-ASCII"},
    {"https:///leaf.pem", 0, "no host"},
    {"https://cert..example.org/leaf.pem", 0, "empty label"},
    {"https://cert_x.example.org/leaf.pem", 0, "character"},
    {"https://[2606:4700::1]/leaf.pem", 0, NULL},
    {"https://[2606:4700::1]:8443/leaf.pem", 0, NULL},
    {"https://[::1]/leaf.pem", 0, "loopback"},
    {"https://[::1]:9000/leaf.pem", 1, NULL},
    {"https://[fe80::1]/leaf.pem", 0, "link-local"},
    {"https://[::ffff:10.0.0.1]/leaf.pem", 0, "private"},
    {"https://[2606:4700::1/leaf.pem", 0, "unterminated"},
    {"https://[zz::1]/leaf.pem", 0, "malformed IPv6"},
    {"https://[::1]x/leaf.pem", 1, "junk"},
    {"https://8.8.8.8/leaf.pem", 0, NULL},
    {"https://127.0.0.1/leaf.pem", 0, "loopback"},
    {"https://127.0.0.1:4443/leaf.pem", 1, NULL},
    {"https://10.1.2.3/leaf.pem", 0, "private"},
    {"https://192.168.1.1/leaf.pem", 1, "private"},
    {"https://169.254.169.254/latest", 0, "link-local"},
    {"https://2130706433/leaf.pem", 0, "non-standard"},
    {"https://0x7f.0.0.1/leaf.pem", 0, "non-standard"},
    {"https://127.1/leaf.pem", 0, "non-standard"},
    {"https://010.0.0.1/leaf.pem", 0, "non-standard"},
    {"https://example.123/leaf.pem", 0, "non-standard"},
};

TU_TEST(x5u_url_policy_table) {
    for (size_t i = 0; i < SG_NELEM(s_urls); i++) {
        const char *why = verify_x5u_check_url(
            s_urls[i].url, s_urls[i].relaxed ? &loopback : &strict, NULL);
        int ok = s_urls[i].why == NULL
                     ? why == NULL
                     : why != NULL && strstr(why, s_urls[i].why) != NULL;
        if (!ok) {
            tu_fail(__FILE__, __LINE__, "URL policy");
            tu_note("  %s: got \"%s\", want \"%s\"", s_urls[i].url,
                    why ? why : "(allowed)",
                    s_urls[i].why ? s_urls[i].why : "(allowed)");
        }
    }
}

TU_TEST(x5u_url_parts_and_limits) {
    verify_x5u_url_t u;
    char *big;

    TU_REQUIRE(verify_x5u_check_url("https://a.example:8443/x/y.pem", &strict,
                                    &u) == NULL);
    TU_INTEQ(u.port, 8443);
    TU_INTEQ(u.host_len, 9);
    TU_CHECK(memcmp(u.host, "a.example", 9) == 0);
    TU_CHECK(u.path_len == 8 && memcmp(u.path, "/x/y.pem", 8) == 0);
    TU_CHECK(!u.host_is_ip);
    TU_REQUIRE(verify_x5u_check_url("https://[2001:4860::8888]/c", &strict,
                                    &u) == NULL);
    TU_CHECK(u.host_is_ip && u.port == 443);
    TU_CHECK(verify_x5u_check_url(NULL, &strict, NULL) != NULL);

    big = malloc(VERIFY_X5U_URL_MAX + 32);
    strcpy(big, "https://a.example/");
    memset(big + 18, 'a', VERIFY_X5U_URL_MAX);
    big[VERIFY_X5U_URL_MAX + 1] = '\0';
    TU_CHECK(verify_x5u_check_url(big, &strict, NULL) != NULL);
    free(big);
}

/* ---- address policy ----------------------------------------------------- */

static const char *
s_v4(const char *ip, const verify_x5u_policy_t *p) {
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return "BAD TEST INPUT";
    return verify_x5u_check_addr((struct sockaddr *)&sa, sizeof(sa), p);
}

static const char *
s_v6(const char *ip, const verify_x5u_policy_t *p) {
    struct sockaddr_in6 sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, ip, &sa.sin6_addr) != 1)
        return "BAD TEST INPUT";
    return verify_x5u_check_addr((struct sockaddr *)&sa, sizeof(sa), p);
}

TU_TEST(x5u_addr_v4_table) {
    static const struct {
        const char *ip;
        int refused, refused_relaxed;
    } t[] = {
        {"0.0.0.0", 1, 1},         {"0.1.2.3", 1, 1},
        {"10.0.0.1", 1, 1},        {"10.255.255.255", 1, 1},
        {"100.64.0.1", 1, 1},      {"100.127.255.255", 1, 1},
        {"100.128.0.0", 0, 0},     {"100.63.255.255", 0, 0},
        {"127.0.0.1", 1, 0},       {"127.255.0.9", 1, 0},
        {"169.254.169.254", 1, 1}, {"172.16.0.1", 1, 1},
        {"172.31.255.255", 1, 1},  {"172.32.0.1", 0, 0},
        {"172.15.255.255", 0, 0},  {"192.0.0.8", 1, 1},
        {"192.0.2.1", 1, 1},       {"192.168.0.1", 1, 1},
        {"198.18.0.1", 1, 1},      {"198.19.255.255", 1, 1},
        {"198.20.0.1", 0, 0},      {"198.51.100.7", 1, 1},
        {"203.0.113.9", 1, 1},     {"224.0.0.1", 1, 1},
        {"239.255.255.255", 1, 1}, {"240.0.0.1", 1, 1},
        {"255.255.255.255", 1, 1}, {"8.8.8.8", 0, 0},
        {"1.1.1.1", 0, 0},         {"192.88.99.1", 1, 1},
        {"11.0.0.1", 0, 0},        {"126.255.255.255", 0, 0},
    };
    for (size_t i = 0; i < SG_NELEM(t); i++) {
        const char *a = s_v4(t[i].ip, &strict), *b = s_v4(t[i].ip, &loopback);
        if ((a != NULL) != t[i].refused ||
            (b != NULL) != t[i].refused_relaxed) {
            tu_fail(__FILE__, __LINE__, "IPv4 address policy");
            tu_note("  %s: strict %s, relaxed %s", t[i].ip, a ? a : "ok",
                    b ? b : "ok");
        }
    }
}

TU_TEST(x5u_addr_v6_table) {
    static const struct {
        const char *ip;
        int refused, refused_relaxed;
    } t[] = {
        {"::", 1, 1},
        {"::1", 1, 0},
        {"fc00::1", 1, 1},
        {"fdff:ffff::1", 1, 1},
        {"fe80::1", 1, 1},
        {"febf::1", 1, 1},
        {"fec0::1", 1, 1},
        {"ff02::1", 1, 1},
        {"::ffff:127.0.0.1", 1, 0},
        {"::ffff:10.0.0.1", 1, 1},
        {"::ffff:8.8.8.8", 0, 0},
        {"::10.0.0.1", 1, 1},
        {"64:ff9b::10.0.0.1", 1, 1},
        {"64:ff9b::8.8.8.8", 0, 0},
        {"64:ff9b:1::1", 1, 1},
        {"2002:0a00:0001::1", 1, 1},
        {"2002:0808:0808::1", 0, 0},
        {"2001:db8::1", 1, 1},
        {"2001::1", 1, 1},
        {"2001:1ff::1", 1, 1},
        {"2001:4860:4860::8888", 0, 0},
        {"100::1", 1, 1},
        {"2606:4700:4700::1111", 0, 0},
    };
    for (size_t i = 0; i < SG_NELEM(t); i++) {
        const char *a = s_v6(t[i].ip, &strict), *b = s_v6(t[i].ip, &loopback);
        if ((a != NULL) != t[i].refused ||
            (b != NULL) != t[i].refused_relaxed) {
            tu_fail(__FILE__, __LINE__, "IPv6 address policy");
            tu_note("  %s: strict %s, relaxed %s", t[i].ip, a ? a : "ok",
                    b ? b : "ok");
        }
    }
}

TU_TEST(x5u_addr_other_family) {
    struct sockaddr sa;
    struct sockaddr_in short4;

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    TU_CHECK(verify_x5u_check_addr(&sa, sizeof(sa), &loopback) != NULL);
    TU_CHECK(verify_x5u_check_addr(NULL, 0, &loopback) != NULL);
    memset(&short4, 0, sizeof(short4));
    short4.sin_family = AF_INET;
    TU_CHECK(verify_x5u_check_addr((struct sockaddr *)&short4, 4, &loopback) !=
             NULL);
}

/* ---- HTTP lifetime ------------------------------------------------------ */

TU_TEST(x5u_http_ttl_table) {
    static const struct {
        const char *cc, *expires, *date, *age;
        int64_t ttl;
        const char *why;
    } t[] = {
        {NULL, NULL, NULL, NULL, -1, ""},
        {"max-age=600", NULL, NULL, NULL, 600, "max-age=600"},
        {"public, max-age=172800", NULL, NULL, NULL, 172800, "max-age"},
        {"MAX-AGE=5", NULL, NULL, NULL, 5, "max-age=5"},
        {"max-age=\"90\"", NULL, NULL, NULL, 90, "max-age"},
        {"max-age=600", NULL, NULL, "100", 500, "age=100"},
        {"max-age=600", NULL, NULL, "9999", 0, "age"},
        {"max-age=abc", NULL, NULL, NULL, -1, ""},
        {"max-age=", NULL, NULL, NULL, -1, ""},
        {"max-age=-5", NULL, NULL, NULL, -1, ""},
        {"max-age=99999999999999999999", NULL, NULL, NULL, 2147483648LL,
         "max-age"},
        {"s-maxage=600", NULL, NULL, NULL, -1, ""},
        {"s-maxage=600, max-age=60", NULL, NULL, NULL, 60, "max-age=60"},
        {"private, max-age=100000", NULL, NULL, NULL, 100000, "max-age"},
        {"private", NULL, NULL, NULL, -1, ""},
        {"no-store", NULL, NULL, NULL, 0, "no-store"},
        {"max-age=999999, no-cache", NULL, NULL, NULL, 0, "no-cache"},
        {"no-cache=\"set-cookie\"", NULL, NULL, NULL, 0, "no-cache"},
        {NULL, "Thu, 01 Jan 2026 01:00:00 GMT", "Thu, 01 Jan 2026 00:00:00 GMT",
         NULL, 3600, "Expires - Date"},
        {NULL, "Thu, 01 Jan 2026 01:00:00 GMT", NULL, NULL,
         1767229200LL - 1767225600LL + 0, "Expires - now"},
        {NULL, "garbage", NULL, NULL, 0, "invalid Expires"},
        {NULL, "0", NULL, NULL, 0, "invalid"},
        {"max-age=10", "Thu, 01 Jan 2026 01:00:00 GMT",
         "Thu, 01 Jan 2026 00:00:00 GMT", NULL, 10, "max-age"},
        {",,, ,", NULL, NULL, NULL, -1, ""},
    };
    for (size_t i = 0; i < SG_NELEM(t); i++) {
        verify_x5u_http_t h = {t[i].cc, t[i].expires, t[i].date, t[i].age};
        char why[96];
        /* "now" for the Expires-without-Date row: 2026-01-01T00:00:00Z. */
        int64_t ttl = verify_x5u_http_ttl(&h, 1767225600LL, why, sizeof(why));
        if (ttl != t[i].ttl || strstr(why, t[i].why) == NULL) {
            tu_fail(__FILE__, __LINE__, "HTTP ttl");
            tu_note("  row %zu (%s): got %lld \"%s\", want %lld \"%s\"", i,
                    t[i].cc ? t[i].cc : "-", (long long)ttl, why,
                    (long long)t[i].ttl, t[i].why);
        }
    }
}

TU_TEST(x5u_expiry_floor_and_cap) {
    verify_x5u_http_t none = {0}, short_ = {"max-age=60", 0, 0, 0},
                      long_ = {"max-age=604800", 0, 0, 0},
                      nostore = {"no-store", 0, 0, 0};
    const int64_t t0 = 1700000000;
    char why[160];

    TU_INTEQ(verify_x5u_expiry(&none, t0, 0, why, sizeof(why)), t0 + 86400);
    TU_CHECK(strstr(why, "24 h floor") != NULL);
    TU_INTEQ(verify_x5u_expiry(&short_, t0, 0, why, sizeof(why)), t0 + 86400);
    TU_CHECK(strstr(why, "below the 24 h floor") != NULL);
    TU_INTEQ(verify_x5u_expiry(&nostore, t0, 0, why, sizeof(why)), t0 + 86400);
    TU_INTEQ(verify_x5u_expiry(&long_, t0, 0, why, sizeof(why)), t0 + 604800);
    /* Never past the leaf's notAfter. */
    TU_INTEQ(verify_x5u_expiry(&long_, t0, t0 + 1000, why, sizeof(why)),
             t0 + 1000);
    TU_CHECK(strstr(why, "capped at leaf notAfter") != NULL);
    TU_INTEQ(verify_x5u_expiry(&none, t0, t0 + 3600, why, sizeof(why)),
             t0 + 3600);
    TU_INTEQ(verify_x5u_expiry(&none, t0, t0 + 10 * 86400, why, sizeof(why)),
             t0 + 86400);
}

TU_TEST(x5u_sniff_pem) {
    static const char good[] = "\r\n -----BEGIN CERTIFICATE-----\nMIIB\n";
    static const char key[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END "
                              "CERTIFICATE-----\n-----BEGIN PRIVATE "
                              "KEY-----\nMIG\n";
    static const char eckey[] = "-----BEGIN CERTIFICATE-----\n-----BEGIN EC "
                                "PRIVATE KEY-----\n";
    static const uint8_t nul[] = "-----BEGIN CERTIFICATE-----\n\0x";

    TU_CHECK(verify_x5u_sniff_pem((const uint8_t *)good, strlen(good)) == NULL);
    TU_CHECK(verify_x5u_sniff_pem((const uint8_t *)"<html>", 6) != NULL);
    TU_CHECK(verify_x5u_sniff_pem((const uint8_t *)"", 0) != NULL);
    TU_CHECK(verify_x5u_sniff_pem((const uint8_t *)"-----BEGIN X509 CRL", 19) !=
             NULL);
    TU_CHECK(verify_x5u_sniff_pem((const uint8_t *)key, strlen(key)) != NULL);
    TU_CHECK(verify_x5u_sniff_pem((const uint8_t *)eckey, strlen(eckey)) !=
             NULL);
    TU_CHECK(verify_x5u_sniff_pem(nul, sizeof(nul) - 1) != NULL);
}

/* ---- the cache file codec ------------------------------------------------ */

static uint8_t *
s_encode(const char *url, const char *body, int64_t fetched, int64_t expires,
         size_t *n) {
    verify_x5u_record_t r;

    memset(&r, 0, sizeof(r));
    r.url = url;
    r.url_len = strlen(url);
    r.fetched_at = fetched;
    r.expires_at = expires;
    r.http_status = 200;
    r.content_type = "application/pem-certificate-chain";
    r.content_type_len = strlen(r.content_type);
    r.ttl_why = "max-age=600 below the 24 h floor";
    r.ttl_why_len = strlen(r.ttl_why);
    r.body = (const uint8_t *)body;
    r.body_len = strlen(body);
    return verify_x5u_record_encode(&r, n);
}

TU_TEST(x5u_record_roundtrip) {
    size_t n;
    uint8_t *buf =
        s_encode("https://a.example/x.pem", "PEM\nBODY\n", 10, 20, &n);
    verify_x5u_record_t r;

    TU_REQUIRE(buf != NULL);
    TU_REQUIRE(verify_x5u_record_decode(buf, n, &r) == NULL);
    TU_CHECK(!r.is_crl);
    TU_CHECK(r.url_len == 23 &&
             memcmp(r.url, "https://a.example/x.pem", 23) == 0);
    TU_INTEQ(r.fetched_at, 10);
    TU_INTEQ(r.expires_at, 20);
    TU_INTEQ(r.http_status, 200);
    TU_CHECK(r.body_len == 9 && memcmp(r.body, "PEM\nBODY\n", 9) == 0);
    free(buf);
}

TU_TEST(x5u_record_corrupt) {
    static const char *const bad[] = {
        "",
        "stirgate-x5u 2\n",
        "stirgate-x5u 1\nkind chain\n",
        "stirgate-x5u 1\nkind blob\nurl u\nfetched 1\nexpires 2\nstatus "
        "200\nctype \nttl \nbody 1\nx",
        "stirgate-x5u 1\nkind chain\nurl \nfetched 1\nexpires 2\nstatus "
        "200\nctype \nttl \nbody 1\nx",
        "stirgate-x5u 1\nkind chain\nurl u\nfetched 01\nexpires 2\nstatus "
        "200\nctype \nttl \nbody 1\nx",
        "stirgate-x5u 1\nkind chain\nurl u\nfetched -1\nexpires 2\nstatus "
        "200\nctype \nttl \nbody 1\nx",
        "stirgate-x5u 1\nkind chain\nurl u\nfetched 1\nexpires "
        "99999999999999999999\nstatus 200\nctype \nttl \nbody 1\nx",
        "stirgate-x5u 1\nkind chain\nurl u\nfetched 1\nexpires 2\nstatus "
        "1000\nctype \nttl \nbody 1\nx",
        "stirgate-x5u 1\nkind chain\nurl u\nfetched 1\nexpires 2\nstatus "
        "200\nctype \nttl \nbody 2\nx",
        "stirgate-x5u 1\nkind chain\nurl u\nfetched 1\nexpires 2\nstatus "
        "200\nctype \nttl \nbody 0\nx",
        "stirgate-x5u 1\nkind chain\nurl u\nfetched 1\nexpires 2\nstatus "
        "200\nctype \nttl \nbody 0\n",
        "stirgate-x5u 1\nkind chain\nurl u\nfetched 1\nexpires 2\nstatus "
        "200\nctype \x01\nttl \nbody 1\nx",
        "stirgate-x5u 1\nkind chain\nurl u\nexpires 2\nfetched 1\nstatus "
        "200\nctype \nttl \nbody 1\nx",
        "stirgate-x5u 1\nkind chain\nurl u\nfetched 1\nexpires 2\nstatus "
        "200\nctype \nttl \nbody 1",
    };
    verify_x5u_record_t r;

    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        if (verify_x5u_record_decode((const uint8_t *)bad[i], strlen(bad[i]),
                                     &r) == NULL) {
            tu_fail(__FILE__, __LINE__, "corrupt record accepted");
            tu_note("  row %zu", i);
        }
    }
    /* The one well-formed sibling of the rows above. */
    static const char ok[] = "stirgate-x5u 1\nkind crl\nurl u\nfetched 1\n"
                             "expires 2\nstatus 200\nctype \nttl \nbody 1\nx";
    TU_CHECK(verify_x5u_record_decode((const uint8_t *)ok, strlen(ok), &r) ==
             NULL);
    TU_CHECK(r.is_crl);
    /* Encoder refusals. */
    size_t n;
    TU_CHECK(s_encode("https://a/\n", "x", 1, 2, &n) == NULL);
    TU_CHECK(s_encode("", "x", 1, 2, &n) == NULL);
    TU_CHECK(s_encode("https://a/", "", 1, 2, &n) == NULL);
}

/* ---- the cache's file layer --------------------------------------------- */

static int64_t s_clock_now = FX_IAT;

static int64_t
s_clock(void) {
    return s_clock_now;
}

static verify_x5u_cache_t *
s_cache(fx_t *fx, const char *dir) {
    verify_x5u_cache_opts o;

    memset(&o, 0, sizeof(o));
    o.policy.allow_loopback = 1;
    o.policy.connect_timeout_ms = 2000;
    o.dir = dir;
    o.trust = fx->trust;
    o.clock = s_clock;
    return verify_x5u_cache_new(&o);
}

typedef struct {
    int calls;
    proto_reason reason;
} s_seen;

static void
s_cb(void *arg, const char *url, const verify_x5u_result_t *res) {
    s_seen *s = arg;

    s->calls++;
    s->reason = res->reason;
}

/* Write `url`'s chain file into `dir` under the name the cache looks for
 * (the encoder is shared; the name is SHA-256("chain\n" + url) in hex);
 * its path in `path` when not NULL. */
static void
s_put_file(const char *dir, const char *url, const char *pem, int64_t fetched,
           int64_t expires, char *path_out, size_t path_n) {
    uint8_t md[32], *buf;
    char hex[65], path[600];
    size_t n;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FILE *f;

    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, "chain\n", 6);
    EVP_DigestUpdate(ctx, url, strlen(url));
    EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(path, sizeof(path), "%s/%s.x5u", dir, hex);
    buf = s_encode(url, pem, fetched, expires, &n);
    TU_REQUIRE(buf != NULL);
    f = fopen(path, "wb");
    TU_REQUIRE(f != NULL);
    TU_CHECK(fwrite(buf, 1, n, f) == n);
    fclose(f);
    free(buf);
    if (path_out != NULL)
        snprintf(path_out, path_n, "%s", path);
}

TU_TEST(x5u_cache_answers_from_file_then_memory) {
    fx_t fx;
    char dir[300], path[600];
    const char *url = "https://127.0.0.1:1/chain.pem";
    verify_x5u_cache_t *c;
    verify_x5u_result_t res;
    s_seen seen = {0, REASON__COUNT};
    verify_x5u_info_t info;
    uint8_t *buf;
    size_t n;
    FILE *f;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    snprintf(dir, sizeof(dir), "%s/cache1", tu_tmpdir());
    s_clock_now = FX_IAT;

    /* A first cache writes nothing (no fetch possible); put a file in
     * place the way another ingest process would have. */
    c = s_cache(&fx, dir);
    TU_REQUIRE(c != NULL);
    verify_x5u_cache_destroy(&c);
    TU_CHECK(c == NULL);
    c = s_cache(&fx, dir);
    /* Learn the file name: a get with no file starts a fetch (to port 1,
     * refused) whose failure stays in memory only. */
    TU_CHECK(verify_x5u_cache_get(c, url, s_cb, &seen, &res) == 0);
    while (seen.calls == 0)
        verify_x5u_cache_wait(c, 100);
    TU_INTEQ(seen.reason, REASON_X5U_FETCH_FAILED);
    TU_INTEQ(verify_x5u_cache_stats(c)->misses, 1);
    TU_INTEQ(verify_x5u_cache_stats(c)->fetch_failed, 1);
    /* A cached failure answers at once (negative cache). */
    TU_CHECK(verify_x5u_cache_get(c, url, s_cb, &seen, &res) == 1);
    TU_INTEQ(res.reason, REASON_X5U_FETCH_FAILED);
    TU_CHECK(res.transient);
    TU_INTEQ(verify_x5u_cache_stats(c)->negative_hits, 1);
    verify_x5u_cache_destroy(&c);

    s_put_file(dir, url, fx.chain_pem, FX_IAT - 10, FX_IAT + 86400, path,
               sizeof(path));

    c = s_cache(&fx, dir);
    TU_CHECK(verify_x5u_cache_get(c, url, s_cb, &seen, &res) == 1);
    TU_INTEQ(res.reason, REASON_OK);
    TU_CHECK(res.chain != NULL);
    TU_INTEQ(verify_x5u_cache_stats(c)->disk_hits, 1);
    TU_REQUIRE(verify_x5u_cache_info(c, url, &info) == 0);
    TU_STREQ(info.source, "disk");
    TU_INTEQ(info.expires_at, FX_IAT + 86400);
    /* The whole chain (leaf and intermediate) came back. */
    TU_CHECK(info.pem_len == strlen(fx.chain_pem));
    /* Second lookup: memory. */
    TU_CHECK(verify_x5u_cache_get(c, url, s_cb, &seen, &res) == 1);
    TU_INTEQ(verify_x5u_cache_stats(c)->hits, 1);
    TU_INTEQ(verify_x5u_cache_stats(c)->misses, 0);
    /* The synchronous provider gives the same chain. */
    verify_chain_t *ch = NULL;
    TU_INTEQ(verify_x5u_cache_chain_fn(c, url, &ch), REASON_OK);
    TU_CHECK(ch == res.chain);
    verify_x5u_cache_destroy(&c);

    /* Past its expiry the file is not used. */
    s_clock_now = FX_IAT + 86400;
    c = s_cache(&fx, dir);
    seen.calls = 0;
    TU_CHECK(verify_x5u_cache_get(c, url, s_cb, &seen, &res) == 0);
    while (seen.calls == 0)
        verify_x5u_cache_wait(c, 100);
    TU_INTEQ(verify_x5u_cache_stats(c)->disk_hits, 0);
    verify_x5u_cache_destroy(&c);

    /* A corrupt file is ignored and the URL refetched. */
    s_clock_now = FX_IAT;
    f = fopen(path, "r+b");
    TU_REQUIRE(f != NULL);
    fseek(f, 20, SEEK_SET);
    fputc('#', f);
    fclose(f);
    c = s_cache(&fx, dir);
    seen.calls = 0;
    TU_CHECK(verify_x5u_cache_get(c, url, s_cb, &seen, &res) == 0);
    while (seen.calls == 0)
        verify_x5u_cache_wait(c, 100);
    TU_INTEQ(verify_x5u_cache_stats(c)->disk_hits, 0);
    TU_INTEQ(verify_x5u_cache_stats(c)->misses, 1);
    verify_x5u_cache_destroy(&c);

    /* A file for another URL under this name is ignored too. */
    buf = s_encode("https://127.0.0.1:1/other.pem", fx.chain_pem, FX_IAT,
                   FX_IAT + 86400, &n);
    f = fopen(path, "wb");
    TU_REQUIRE(f != NULL);
    TU_CHECK(fwrite(buf, 1, n, f) == n);
    fclose(f);
    free(buf);
    c = s_cache(&fx, dir);
    seen.calls = 0;
    TU_CHECK(verify_x5u_cache_get(c, url, s_cb, &seen, &res) == 0);
    while (seen.calls == 0)
        verify_x5u_cache_wait(c, 100);
    TU_INTEQ(verify_x5u_cache_stats(c)->disk_hits, 0);
    verify_x5u_cache_destroy(&c);
    fx_fini(&fx);
}

TU_TEST(x5u_cache_warm_loads_directory_ahead) {
    fx_t fx;
    char dir[300], url[64], path[400];
    verify_x5u_cache_t *c;
    verify_x5u_result_t res;
    s_seen seen = {0, REASON__COUNT};
    FILE *f;

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    snprintf(dir, sizeof(dir), "%s/cache-warm", tu_tmpdir());
    s_clock_now = FX_IAT;
    c = s_cache(&fx, dir); /* creates the directory */
    TU_REQUIRE(c != NULL);
    verify_x5u_cache_destroy(&c);
    for (int i = 0; i < 5; i++) {
        snprintf(url, sizeof(url), "https://127.0.0.1:1/c%d.pem", i);
        s_put_file(dir, url, fx.chain_pem, FX_IAT - 10, FX_IAT + 86400, NULL,
                   0);
    }
    /* Not loaded: expired, a URL the policy refuses (http), a file under
     * a name that is not its URL's, a foreign file. */
    s_put_file(dir, "https://127.0.0.1:1/old.pem", fx.chain_pem, FX_IAT - 10,
               FX_IAT - 1, NULL, 0);
    s_put_file(dir, "http://127.0.0.1:1/plain.pem", fx.chain_pem, FX_IAT - 10,
               FX_IAT + 86400, NULL, 0);
    snprintf(path, sizeof(path), "%s/%064d.x5u", dir, 0);
    f = fopen(path, "wb");
    TU_REQUIRE(f != NULL);
    fputs("not a record", f);
    fclose(f);

    c = s_cache(&fx, dir);
    TU_REQUIRE(c != NULL);
    while (verify_x5u_cache_warm(c, 1000000))
        ;
    TU_INTEQ(verify_x5u_cache_stats(c)->warmed, 5);
    TU_INTEQ(verify_x5u_cache_entries(c), 5);
    TU_INTEQ(verify_x5u_cache_stats(c)->disk_hits, 0);
    /* Done for good: a second call does nothing. */
    TU_INTEQ(verify_x5u_cache_warm(c, 1000000), 0);
    /* Every one answers from memory, with no file read or fetch. */
    for (int i = 0; i < 5; i++) {
        snprintf(url, sizeof(url), "https://127.0.0.1:1/c%d.pem", i);
        TU_CHECK(verify_x5u_cache_get(c, url, s_cb, &seen, &res) == 1);
        TU_INTEQ(res.reason, REASON_OK);
    }
    TU_INTEQ(verify_x5u_cache_stats(c)->hits, 5);
    TU_INTEQ(verify_x5u_cache_stats(c)->disk_hits, 0);
    TU_INTEQ(verify_x5u_cache_stats(c)->misses, 0);
    verify_x5u_cache_destroy(&c);
    fx_fini(&fx);
}

TU_TEST(x5u_cache_entries_bounded_least_recently_used_go) {
    fx_t fx;
    char dir[300], url[64];
    verify_x5u_cache_opts o;
    verify_x5u_cache_t *c;
    verify_x5u_result_t res;
    s_seen seen = {0, REASON__COUNT};

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    snprintf(dir, sizeof(dir), "%s/cache-cap", tu_tmpdir());
    s_clock_now = FX_IAT;
    memset(&o, 0, sizeof(o));
    o.policy.allow_loopback = 1;
    o.policy.connect_timeout_ms = 2000;
    o.dir = dir;
    o.trust = fx.trust;
    o.clock = s_clock;
    o.max_entries = 4;
    c = verify_x5u_cache_new(&o);
    TU_REQUIRE(c != NULL);
    for (int i = 0; i < 10; i++) {
        snprintf(url, sizeof(url), "https://127.0.0.1:1/e%d.pem", i);
        s_put_file(dir, url, fx.chain_pem, FX_IAT - 10, FX_IAT + 86400, NULL,
                   0);
    }
    /* Warming stops at the limit. */
    while (verify_x5u_cache_warm(c, 1000000))
        ;
    TU_INTEQ(verify_x5u_cache_stats(c)->warmed, 4);
    TU_INTEQ(verify_x5u_cache_entries(c), 4);
    /* Ten distinct URLs, with e0 looked up between each: never more than
     * four held, and e0 (always recently used) is never the one to go. */
    for (int i = 0; i < 10; i++) {
        snprintf(url, sizeof(url), "https://127.0.0.1:1/e%d.pem", i);
        TU_CHECK(verify_x5u_cache_get(c, url, s_cb, &seen, &res) == 1);
        TU_INTEQ(res.reason, REASON_OK);
        TU_CHECK(verify_x5u_cache_entries(c) <= 4);
        uint64_t disk = verify_x5u_cache_stats(c)->disk_hits;
        TU_CHECK(verify_x5u_cache_get(c, "https://127.0.0.1:1/e0.pem", s_cb,
                                      &seen, &res) == 1);
        TU_INTEQ(res.reason, REASON_OK);
        if (i > 0)
            TU_INTEQ(verify_x5u_cache_stats(c)->disk_hits, disk);
    }
    TU_CHECK(verify_x5u_cache_stats(c)->evicted >= 6);
    TU_INTEQ(verify_x5u_cache_stats(c)->misses, 0);
    verify_x5u_cache_destroy(&c);
    fx_fini(&fx);
}

TU_TEST(x5u_cache_policy_refusal_is_immediate) {
    fx_t fx;
    verify_x5u_cache_opts o;
    verify_x5u_cache_t *c;
    verify_x5u_result_t res;
    s_seen seen = {0, REASON__COUNT};

    TU_REQUIRE(fx_init(&fx, NULL) == 0);
    memset(&o, 0, sizeof(o));
    o.trust = fx.trust;
    c = verify_x5u_cache_new(&o);
    TU_REQUIRE(c != NULL);
    TU_CHECK(verify_x5u_cache_get(c, "http://a.example/x.pem", s_cb, &seen,
                                  &res) == 1);
    TU_INTEQ(res.reason, REASON_X5U_POLICY);
    TU_CHECK(!res.transient);
    TU_CHECK(strstr(res.detail, "scheme") != NULL);
    TU_CHECK(verify_x5u_cache_get(c, "https://127.0.0.1/x.pem", s_cb, &seen,
                                  &res) == 1);
    TU_INTEQ(res.reason, REASON_X5U_POLICY);
    TU_INTEQ(verify_x5u_cache_stats(c)->policy_refused, 2);
    TU_INTEQ(verify_x5u_cache_pending(c), 0);
    TU_INTEQ(seen.calls, 0);
    verify_x5u_cache_destroy(&c);
    verify_x5u_cache_destroy(&c);
    fx_fini(&fx);
}

/* ---- the fetcher's set-up ------------------------------------------------ */

typedef struct {
    int calls;
    sg_rc rc;
    char why[64];
} s_done_t;

static void
s_done(void *arg, const verify_x5u_response_t *resp) {
    s_done_t *d = arg;

    d->calls++;
    d->rc = resp->rc;
    snprintf(d->why, sizeof(d->why), "%s", resp->why ? resp->why : "");
}

/*
 * Every transfer gets the CA options (the CA file alone, the CA store
 * cache) and the fetcher's TLS-session share; a libcurl refusing one of
 * them would fail the start with "fetcher setup failed".  Two transfers
 * share the handle at once, with and without x5u.tls_ca; the only socket
 * is a connect to 127.0.0.1 port 1, refused by the kernel.
 */
TU_TEST(x5u_fetcher_shared_setup) {
    for (int with_ca = 0; with_ca < 2; with_ca++) {
        verify_x5u_policy_t pol = loopback;
        verify_x5u_fetcher_t *f;
        s_done_t d[2];
        const char *why = NULL;

        memset(d, 0, sizeof(d));
        if (with_ca)
            pol.tls_ca = tu_path("tests/unit/test_verify_x5u.c");
        f = verify_x5u_fetcher_new(&pol);
        TU_REQUIRE(f != NULL);
        TU_INTEQ(verify_x5u_fetcher_start(f, "https://127.0.0.1:1/a.pem", 1,
                                          s_done, &d[0], &why),
                 SG_OK);
        TU_INTEQ(verify_x5u_fetcher_start(f, "https://127.0.0.1:1/b.pem", 1,
                                          s_done, &d[1], &why),
                 SG_OK);
        TU_INTEQ(verify_x5u_fetcher_running(f), 2);
        while (verify_x5u_fetcher_running(f) > 0)
            verify_x5u_fetcher_wait(f, 100);
        for (int i = 0; i < 2; i++) {
            TU_INTEQ(d[i].calls, 1);
            TU_INTEQ(d[i].rc, SG_AGAIN);
            TU_STREQ(d[i].why, "cannot connect");
        }
        verify_x5u_fetcher_destroy(&f);
        TU_CHECK(f == NULL);
        verify_x5u_fetcher_destroy(&f);
    }
}
