/*
 * tests/fuzz/fuzz_x5u_url.c - the pure x5u parsers: URL policy, the HTTP
 * cache headers, the PEM sniff and the cache file decoder (files read back
 * from a directory other processes write).
 *
 * The first byte picks the parser; the rest is its input.  Invariants
 * checked besides "no crash, no leak": an accepted URL's parts lie inside
 * it; a decoded record re-encodes to the same bytes.
 */
#include "verify/verify_x5u.h"
#include "verify/verify_x5u_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_url(const uint8_t *data, size_t size) {
    static const verify_x5u_policy_t strict = {0},
                                     relaxed = {.allow_loopback = 1};
    char *url = malloc(size + 1);
    verify_x5u_url_t u;

    memcpy(url, data, size);
    url[size] = '\0';
    for (int i = 0; i < 2; i++) {
        if (verify_x5u_check_url(url, i ? &relaxed : &strict, &u) != NULL)
            continue;
        if (u.host < url || u.host + u.host_len > url + strlen(url) ||
            u.path < url || u.path + u.path_len != url + strlen(url) ||
            u.port < 1 || u.port > 65535)
            abort();
    }
    free(url);
}

static void
s_http(const uint8_t *data, size_t size) {
    /* Four NUL-separated header values; missing ones are absent. */
    char *buf = malloc(size + 1), *p, *f[4] = {NULL, NULL, NULL, NULL};
    char why[160];
    verify_x5u_http_t h;
    int64_t ttl, exp;
    size_t k = 0;

    memcpy(buf, data, size);
    buf[size] = '\0';
    for (p = buf; k < 4 && p <= buf + size; k++) {
        f[k] = p;
        p += strlen(p) + 1;
    }
    h.cache_control = f[0];
    h.expires = f[1];
    h.date = f[2];
    h.age = f[3];
    ttl = verify_x5u_http_ttl(&h, 1700000000, why, sizeof(why));
    if (ttl < -1)
        abort();
    exp = verify_x5u_expiry(&h, 1700000000, 0, why, sizeof(why));
    if (exp < 1700000000 + VERIFY_X5U_MIN_TTL)
        abort();
    (void)verify_x5u_sniff_pem(data, size);
    free(buf);
}

static void
s_record(const uint8_t *data, size_t size) {
    verify_x5u_record_t r;
    uint8_t *again;
    size_t n;

    if (verify_x5u_record_decode(data, size, &r) != NULL)
        return;
    again = verify_x5u_record_encode(&r, &n);
    if (again != NULL && (n != size || memcmp(again, data, n) != 0))
        abort();
    free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        s_url(data + 1, size - 1);
        break;
    case 1:
        s_http(data + 1, size - 1);
        break;
    default:
        s_record(data + 1, size - 1);
        break;
    }
    return 0;
}
