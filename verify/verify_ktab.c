/*
 * verify/verify_ktab.c - key tables (verify/verify_ktab.h).
 *
 * The table is OpenSSL's own: P-256 with the key Q as its generator, and
 * EC_GROUP_precompute_mult, which on x86-64 fills the same 37 x 64 affine
 * table (ecp_nistz256) that OpenSSL keeps for G.  That call is marked
 * deprecated in OpenSSL 3.0 without a replacement; it is the only one
 * here, hence OPENSSL_SUPPRESS_DEPRECATED for this file alone.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "verify/verify_ktab.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- arithmetic modulo the group order ------------------------------- */

/* n, the order of P-256 (FIPS 186-4 D.1.2.3), in 64-bit limbs, least
 * significant first. */
static const uint64_t s_n[4] = {0xf3b9cac2fc632551ULL, 0xbce6faada7179e84ULL,
                                0xffffffffffffffffULL, 0xffffffff00000000ULL};

static void
s_load(uint64_t v[4], const uint8_t be[32])
{
    for (int i = 0; i < 4; i++) {
        uint64_t w = 0;
        for (int j = 0; j < 8; j++)
            w = w << 8 | be[(3 - i) * 8 + j];
        v[i] = w;
    }
}

static void
s_store(uint8_t be[32], const uint64_t v[4])
{
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            be[(3 - i) * 8 + j] = (uint8_t)(v[i] >> (56 - 8 * j));
}

/* a >= b */
static int
s_geq(const uint64_t a[4], const uint64_t b[4])
{
    for (int i = 3; i >= 0; i--)
        if (a[i] != b[i])
            return a[i] > b[i];
    return 1;
}

/* Load a big-endian 32-octet x into v; is 0 < x < n? */
static int
s_below_n(const uint8_t x[32], uint64_t v[4])
{
    s_load(v, x);
    return (v[0] | v[1] | v[2] | v[3]) != 0 && !s_geq(v, s_n);
}

/*
 * Multiplication modulo n and modulo p, by Montgomery's method (CIOS, four
 * 64-bit limbs): BN_mod_mul divides, and the verify did five of those.
 * Both moduli exceed 2^255, so a product of a < 2^256 and b < m reduces
 * to below 2m, and one conditional subtraction ends it.
 */
typedef struct {
    uint64_t m[4];
    uint64_t m0;    /* -m^-1 mod 2^64 */
    uint64_t rr[4]; /* 2^512 mod m */
} s_mont_t;

/* p, the field prime of P-256, least significant limb first. */
static const uint64_t s_p[4] = {0xffffffffffffffffULL, 0x00000000ffffffffULL,
                                0x0000000000000000ULL, 0xffffffff00000001ULL};
static s_mont_t s_mn, s_mp;
static pthread_once_t s_mont_once = PTHREAD_ONCE_INIT;

/* out = a - b; the borrow. */
static uint64_t
s_sub(uint64_t out[4], const uint64_t a[4], const uint64_t b[4])
{
    uint64_t borrow = 0;

    for (int i = 0; i < 4; i++) {
        unsigned __int128 d = (unsigned __int128)a[i] - b[i] - borrow;
        out[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    return borrow;
}

/* out = a + b; the carry. */
static uint64_t
s_add(uint64_t out[4], const uint64_t a[4], const uint64_t b[4])
{
    unsigned __int128 c = 0;

    for (int i = 0; i < 4; i++) {
        c += (unsigned __int128)a[i] + b[i];
        out[i] = (uint64_t)c;
        c >>= 64;
    }
    return (uint64_t)c;
}

/* v = v - m if v >= m (v < 2m). */
static void
s_reduce_once(uint64_t v[4], const uint64_t m[4])
{
    uint64_t t[4];

    if (s_geq(v, m)) {
        s_sub(t, v, m);
        memcpy(v, t, sizeof(t));
    }
}

/* out = a b / 2^256 mod m, for a < 2^256 and b < m. */
static void
s_mont_mul(const s_mont_t *M, const uint64_t a[4], const uint64_t b[4],
           uint64_t out[4])
{
    uint64_t t[6] = {0}, u[4];

    for (int i = 0; i < 4; i++) {
        unsigned __int128 c = 0;
        uint64_t q;

        for (int j = 0; j < 4; j++) {
            c += (unsigned __int128)a[j] * b[i] + t[j];
            t[j] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (uint64_t)c;
        t[5] = (uint64_t)(c >> 64);
        q = t[0] * M->m0;
        c = ((unsigned __int128)q * M->m[0] + t[0]) >> 64;
        for (int j = 1; j < 4; j++) {
            c += (unsigned __int128)q * M->m[j] + t[j];
            t[j - 1] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[3] = (uint64_t)c;
        t[4] = t[5] + (uint64_t)(c >> 64);
    }
    /* t < 2m: subtract m once if t >= m. */
    if (s_sub(u, t, M->m) <= t[4])
        memcpy(out, u, sizeof(u));
    else
        memcpy(out, t, sizeof(u));
}

/* out = a b mod m, for a < 2^256 and b < m. */
static void
s_mul_mod(const s_mont_t *M, const uint64_t a[4], const uint64_t b[4],
          uint64_t out[4])
{
    uint64_t t[4];

    s_mont_mul(M, a, b, t);       /* a b / R */
    s_mont_mul(M, t, M->rr, out); /* a b */
}

static void
s_mont_setup(s_mont_t *M, const uint64_t m[4])
{
    uint64_t x = m[0], r[4], u[4];

    memcpy(M->m, m, sizeof(M->m));
    /* Newton: each step doubles the bits of m^-1 mod 2^64 that are
     * right (m odd: x = m is right in 3). */
    for (int i = 0; i < 5; i++)
        x *= 2 - m[0] * x;
    M->m0 = 0 - x;
    /* 2^256 mod m = 2^256 - m (m > 2^255), doubled 256 times. */
    s_sub(r, (const uint64_t[4]){0, 0, 0, 0}, m);
    for (int i = 0; i < 256; i++) {
        uint64_t c = s_add(r, r, r);
        if (c || s_geq(r, m)) {
            s_sub(u, r, m);
            memcpy(r, u, sizeof(r));
        }
    }
    memcpy(M->rr, r, sizeof(r));
}

static void
s_mont_init(void)
{
    s_mont_setup(&s_mn, s_n);
    s_mont_setup(&s_mp, s_p);
}

/*
 * The inverse modulo n by Bernstein and Yang's divsteps ("Fast
 * constant-time gcd computation and modular inversion", 2019), in the
 * variable-time form with 62 divsteps per round on the low 64 bits and
 * numbers in five signed 62-bit limbs, as Wuille's write-up of the
 * algorithm (libsecp256k1, doc/safegcd_implementation.md) explains it.
 * Invariants: d x = f and e x = g (mod n); each round applies the 2x2 matrix t
 * of its divsteps to (f, g) and, adding a multiple of n that clears the low 62
 * bits, to (d, e), then divides all four by 2^62.  g reaches 0 with f = +-1, so
 * x^-1 = +-d.  ~2 us here, against ~13 us for a binary extended GCD and ~20 us
 * for BN_mod_inverse. Variable time: only a signature's s goes through it.
 */
#define S_M62 (UINT64_MAX >> 2)

typedef struct {
    int64_t v[5]; /* value = sum v[i] 2^(62 i); v[0..3] in [0, 2^62) */
} s_s62_t;

typedef struct {
    int64_t u, v, q, r;
} s_trans_t;

static void
s_to62(s_s62_t *o, const uint64_t a[4])
{
    o->v[0] = (int64_t)(a[0] & S_M62);
    o->v[1] = (int64_t)((a[0] >> 62 | a[1] << 2) & S_M62);
    o->v[2] = (int64_t)((a[1] >> 60 | a[2] << 4) & S_M62);
    o->v[3] = (int64_t)((a[2] >> 58 | a[3] << 6) & S_M62);
    o->v[4] = (int64_t)(a[3] >> 56);
}

/* For 0 <= x < 2^256 with limbs normalised. */
static void
s_from62(uint64_t a[4], const s_s62_t *x)
{
    uint64_t v[5];

    for (int i = 0; i < 5; i++)
        v[i] = (uint64_t)x->v[i];
    a[0] = v[0] | v[1] << 62;
    a[1] = v[1] >> 2 | v[2] << 60;
    a[2] = v[2] >> 4 | v[3] << 58;
    a[3] = v[3] >> 6 | v[4] << 56;
}

/* 62 divsteps on the low bits of f (odd) and g; eta = -delta.  Runs of
 * zeros in g go at once; otherwise up to 6 (eta < 0, after the swap) or
 * 4 low bits of g are cancelled with a multiple of f (w = -g/f modulo
 * 2^6 or 2^4). */
static int64_t
s_divsteps(int64_t eta, uint64_t f, uint64_t g, s_trans_t *t)
{
    uint64_t u = 1, v = 0, q = 0, r = 1, m, w, tmp;
    int i = 62, limit, zeros;

    for (;;) {
        zeros = __builtin_ctzll(g | (UINT64_MAX << i));
        g >>= zeros;
        u <<= zeros;
        v <<= zeros;
        eta -= zeros;
        i -= zeros;
        if (i == 0)
            break;
        limit = (int)eta + 1;
        if (eta < 0) {
            eta = -eta;
            tmp = f;
            f = g;
            g = (uint64_t)0 - tmp;
            tmp = u;
            u = q;
            q = (uint64_t)0 - tmp;
            tmp = v;
            v = r;
            r = (uint64_t)0 - tmp;
            limit = (int)eta + 1;
            if (limit > i)
                limit = i;
            m = (UINT64_MAX >> (64 - limit)) & 63U;
            w = (f * g * (f * f - 2)) & m;
        } else {
            if (limit > i)
                limit = i;
            m = (UINT64_MAX >> (64 - limit)) & 15U;
            w = f + (((f + 1) & 4) << 1); /* 1/f modulo 16 */
            w = ((uint64_t)0 - w * g) & m;
        }
        g += f * w;
        q += u * w;
        r += v * w;
    }
    t->u = (int64_t)u;
    t->v = (int64_t)v;
    t->q = (int64_t)q;
    t->r = (int64_t)r;
    return eta;
}

/* (d, e) = t (d, e) / 2^62 modulo n; ninv = 1/n modulo 2^62.  d, e stay
 * in (-2n, n): n is added first to whichever is negative. */
static void
s_update_de(s_s62_t *d, s_s62_t *e, const s_trans_t *t, const s_s62_t *n,
            uint64_t ninv)
{
    const int64_t u = t->u, v = t->v, q = t->q, r = t->r;
    int64_t sd = d->v[4] >> 63, se = e->v[4] >> 63;
    int64_t md = (u & sd) + (v & se), me = (q & sd) + (r & se);
    __int128 cd = (__int128)u * d->v[0] + (__int128)v * e->v[0];
    __int128 ce = (__int128)q * d->v[0] + (__int128)r * e->v[0];

    md -= (int64_t)((ninv * (uint64_t)cd + (uint64_t)md) & S_M62);
    me -= (int64_t)((ninv * (uint64_t)ce + (uint64_t)me) & S_M62);
    cd += (__int128)n->v[0] * md;
    ce += (__int128)n->v[0] * me;
    cd >>= 62; /* the low 62 bits are zero now */
    ce >>= 62;
    for (int i = 1; i < 5; i++) {
        cd += (__int128)u * d->v[i] + (__int128)v * e->v[i] +
              (__int128)n->v[i] * md;
        ce += (__int128)q * d->v[i] + (__int128)r * e->v[i] +
              (__int128)n->v[i] * me;
        d->v[i - 1] = (int64_t)((uint64_t)cd & S_M62);
        e->v[i - 1] = (int64_t)((uint64_t)ce & S_M62);
        cd >>= 62;
        ce >>= 62;
    }
    d->v[4] = (int64_t)cd;
    e->v[4] = (int64_t)ce;
}

/* (f, g) = t (f, g) / 2^62, exactly. */
static void
s_update_fg(s_s62_t *f, s_s62_t *g, const s_trans_t *t)
{
    const int64_t u = t->u, v = t->v, q = t->q, r = t->r;
    __int128 cf = (__int128)u * f->v[0] + (__int128)v * g->v[0];
    __int128 cg = (__int128)q * f->v[0] + (__int128)r * g->v[0];

    cf >>= 62;
    cg >>= 62;
    for (int i = 1; i < 5; i++) {
        cf += (__int128)u * f->v[i] + (__int128)v * g->v[i];
        cg += (__int128)q * f->v[i] + (__int128)r * g->v[i];
        f->v[i - 1] = (int64_t)((uint64_t)cf & S_M62);
        g->v[i - 1] = (int64_t)((uint64_t)cg & S_M62);
        cf >>= 62;
        cg >>= 62;
    }
    f->v[4] = (int64_t)cf;
    g->v[4] = (int64_t)cg;
}

/* d in (-2n, n) to its residue in [0, n), negated first when sign < 0. */
static void
s_normalize(s_s62_t *d, int64_t sign, const s_s62_t *n)
{
    int64_t add = d->v[4] >> 63, neg = sign >> 63;

    for (int i = 0; i < 5; i++)
        d->v[i] += n->v[i] & add;
    for (int i = 0; i < 5; i++)
        d->v[i] = (d->v[i] ^ neg) - neg;
    for (int i = 0; i < 4; i++) {
        d->v[i + 1] += d->v[i] >> 62;
        d->v[i] &= (int64_t)S_M62;
    }
    add = d->v[4] >> 63;
    for (int i = 0; i < 5; i++)
        d->v[i] += n->v[i] & add;
    for (int i = 0; i < 4; i++) {
        d->v[i + 1] += d->v[i] >> 62;
        d->v[i] &= (int64_t)S_M62;
    }
}

sg_rc
verify_ktab_inv_order(const uint8_t a[32], uint8_t out[32])
{
    s_s62_t n, d = {{0, 0, 0, 0, 0}}, e = {{1, 0, 0, 0, 0}}, f, g;
    uint64_t x[4], ninv = s_n[0];
    int64_t eta = -1;

    if (!s_below_n(a, x))
        return SG_REFUSED;
    for (int i = 0; i < 5; i++) /* Newton: 3, 6, 12, 24, 48, 96 bits */
        ninv *= 2 - s_n[0] * ninv;
    ninv &= S_M62;
    s_to62(&n, s_n);
    f = n;
    s_to62(&g, x);
    for (;;) {
        s_trans_t t;

        eta = s_divsteps(eta, (uint64_t)f.v[0], (uint64_t)g.v[0], &t);
        s_update_de(&d, &e, &t, &n, ninv);
        s_update_fg(&f, &g, &t);
        if ((g.v[0] | g.v[1] | g.v[2] | g.v[3] | g.v[4]) == 0)
            break;
    }
    s_normalize(&d, f.v[4], &n);
    s_from62(x, &d);
    s_store(out, x);
    return SG_OK;
}

/* ---- one table -------------------------------------------------------- */

struct verify_ktab {
    EC_GROUP *g;  /* P-256 as named: G with OpenSSL's built-in table */
    EC_GROUP *gq; /* P-256 with generator Q, precomputed */
    BN_CTX *ctx;
    BIGNUM *u1, *u2, *x, *z;
    EC_POINT *p1, *p2;
};

void
verify_ktab_free(verify_ktab_t *self)
{
    if (self == NULL)
        return;
    EC_POINT_free(self->p1);
    EC_POINT_free(self->p2);
    BN_free(self->u1);
    BN_free(self->u2);
    BN_free(self->x);
    BN_free(self->z);
    BN_CTX_free(self->ctx);
    EC_GROUP_free(self->gq);
    EC_GROUP_free(self->g);
    free(self);
}

verify_ktab_t *
verify_ktab_build(EVP_PKEY *pkey)
{
    verify_ktab_t *self;
    uint8_t pub[65];
    char name[64];
    size_t len = 0, nlen = 0;
    EC_POINT *q = NULL;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        EVP_PKEY_get_group_name(pkey, name, sizeof(name), &nlen) != 1 ||
        (strcmp(name, "prime256v1") != 0 && strcmp(name, "P-256") != 0) ||
        EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                        sizeof(pub), &len) != 1) {
        ERR_clear_error();
        return NULL;
    }
    /* calloc, not sg_calloc: this runs on the builder thread too, and
     * sg_panic's logging is the main thread's. */
    if ((self = calloc(1, sizeof(*self))) == NULL)
        return NULL;
    (void)pthread_once(&s_mont_once, s_mont_init);
    if ((self->ctx = BN_CTX_new()) == NULL ||
        (self->g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) == NULL ||
        (q = EC_POINT_new(self->g)) == NULL ||
        EC_POINT_oct2point(self->g, q, pub, len, self->ctx) != 1 ||
        (self->gq = EC_GROUP_dup(self->g)) == NULL)
        goto fail;
    if (EC_GROUP_set_generator(self->gq, q, EC_GROUP_get0_order(self->g),
                               BN_value_one()) != 1 ||
        EC_GROUP_precompute_mult(self->gq, self->ctx) != 1)
        goto fail;
    if ((self->u1 = BN_new()) == NULL || (self->u2 = BN_new()) == NULL ||
        (self->x = BN_new()) == NULL || (self->z = BN_new()) == NULL ||
        (self->p1 = EC_POINT_new(self->g)) == NULL ||
        (self->p2 = EC_POINT_new(self->g)) == NULL)
        goto fail;
    EC_POINT_free(q);
    return self;
fail:
    ERR_clear_error();
    EC_POINT_free(q);
    verify_ktab_free(self);
    return NULL;
}

int
verify_ktab_verify(verify_ktab_t *self, const uint8_t md[32],
                   const uint8_t sig[64])
{
    uint8_t wb[32], b[32];
    uint64_t r[4], w[4], e[4], u[4], x[4], z[4], z2[4], t[4];

    /* SEC 1 4.1.4 step 1: r and s in [1, n-1], else invalid (the inverse
     * refuses an s out of that range). */
    if (!s_below_n(sig, r) || verify_ktab_inv_order(sig + 32, wb) != SG_OK)
        return 0;
    /* Steps 2-5: e is the whole digest (256 bits, the size of n; e may
     * exceed n, which the product allows); u1 = e / s, u2 = r / s,
     * R = u1 G + u2 Q. */
    s_load(w, wb);
    s_load(e, md);
    s_mul_mod(&s_mn, e, w, u);
    s_store(b, u);
    if (BN_bin2bn(b, 32, self->u1) == NULL)
        return -1;
    s_mul_mod(&s_mn, r, w, u);
    s_store(b, u);
    if (BN_bin2bn(b, 32, self->u2) == NULL ||
        EC_POINT_mul(self->g, self->p1, self->u1, NULL, NULL, self->ctx) != 1 ||
        EC_POINT_mul(self->gq, self->p2, self->u2, NULL, NULL, self->ctx) !=
            1 ||
        EC_POINT_add(self->g, self->p1, self->p1, self->p2, self->ctx) != 1)
        return -1;
    /*
     * Step 5: R at infinity is invalid.  Steps 6-8: x(R) mod n == r, where
     * x(R) = X / Z^2 in the Jacobian coordinates the sum comes in.  As
     * n < x(R) < p is possible, x(R) mod n == r means x(R) is r or r + n
     * (the latter only when r + n < p); comparing X with r Z^2 (and
     * (r + n) Z^2) spares the field inversion of the affine conversion.
     */
    if (EC_POINT_is_at_infinity(self->g, self->p1))
        return 0;
    if (EC_POINT_get_Jprojective_coordinates_GFp(
            self->g, self->p1, self->x, NULL, self->z, self->ctx) != 1 ||
        BN_bn2binpad(self->x, b, 32) != 32)
        return -1;
    s_load(x, b);
    if (BN_bn2binpad(self->z, b, 32) != 32)
        return -1;
    s_load(z, b);
    /* Both below p as OpenSSL hands them out; reduced anyway, once is
     * enough below 2^256 < 2p. */
    s_reduce_once(x, s_p);
    s_reduce_once(z, s_p);
    s_mul_mod(&s_mp, z, z, z2);
    s_mul_mod(&s_mp, r, z2, t); /* r < n < p */
    if (memcmp(t, x, sizeof(t)) == 0)
        return 1;
    if (s_add(u, r, s_n) != 0 || s_geq(u, s_p))
        return 0; /* r + n >= p: x(R) cannot be r + n */
    s_mul_mod(&s_mp, u, z2, t);
    return memcmp(t, x, sizeof(t)) == 0;
}

/* ---- the policy and the builder thread ------------------------------- */

struct verify_ktab_req {
    EVP_PKEY *pkey;     /* up-referenced; the builder reads it */
    void *owner;        /* main thread only; NULL once cancelled */
    verify_ktab_t *tab; /* the builder's result */
    verify_ktab_req_t *next;
};

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cv = PTHREAD_COND_INITIALIZER;
static verify_ktab_req_t *s_todo, **s_todo_tail = &s_todo; /* s_mu */
static verify_ktab_req_t *s_done;                          /* s_mu */
static int s_stop;                                         /* s_mu */
static atomic_uint s_ndone;
static pthread_t s_thread;
static int s_started, s_atexit;

/* main thread only */
static unsigned s_max = VERIFY_KTAB_MAX_DEFAULT;
static unsigned s_after = VERIFY_KTAB_AFTER_DEFAULT;
static unsigned s_inuse;
static uint64_t s_built, s_failed;

void
verify_ktab_configure(unsigned max, unsigned after)
{
    s_max = max;
    s_after = after > 0 ? after : 1;
    pthread_mutex_lock(&s_mu);
    s_stop = 0; /* after a verify_ktab_shutdown, the next request starts
                 * the builder again */
    pthread_mutex_unlock(&s_mu);
}

unsigned
verify_ktab_after(void)
{
    return s_max > 0 ? s_after : 0;
}

static void *
s_builder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&s_mu);
    for (;;) {
        verify_ktab_req_t *req;

        while (s_todo == NULL && !s_stop)
            pthread_cond_wait(&s_cv, &s_mu);
        if (s_stop)
            break;
        req = s_todo;
        s_todo = req->next;
        if (s_todo == NULL)
            s_todo_tail = &s_todo;
        pthread_mutex_unlock(&s_mu);

        req->tab = verify_ktab_build(req->pkey);

        pthread_mutex_lock(&s_mu);
        req->next = s_done;
        s_done = req;
        atomic_fetch_add(&s_ndone, 1);
    }
    pthread_mutex_unlock(&s_mu);
    return NULL;
}

/* The builder is started with every signal blocked, so the stage's
 * signals keep going to its main thread (the loop that handles them). */
static int
s_start(void)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s_thread, NULL, s_builder, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    if (!s_atexit) {
        /* OpenSSL frees its own state at exit: the builder must not be
         * in the middle of a table then. */
        atexit(verify_ktab_shutdown);
        s_atexit = 1;
    }
    s_started = 1;
    return 0;
}

verify_ktab_req_t *
verify_ktab_request(EVP_PKEY *pkey, void *owner)
{
    verify_ktab_req_t *req;

    if (s_max == 0 || s_inuse >= s_max || s_stop)
        return NULL;
    if (!s_started && s_start() != 0)
        return NULL;
    if (EVP_PKEY_up_ref(pkey) != 1)
        return NULL;
    req = sg_calloc(1, sizeof(*req));
    req->pkey = pkey;
    req->owner = owner;
    s_inuse++;
    pthread_mutex_lock(&s_mu);
    *s_todo_tail = req;
    s_todo_tail = &req->next;
    pthread_cond_signal(&s_cv);
    pthread_mutex_unlock(&s_mu);
    return req;
}

void
verify_ktab_cancel(verify_ktab_req_t *req)
{
    if (req != NULL)
        req->owner = NULL;
}

int
verify_ktab_pending(void)
{
    return atomic_load_explicit(&s_ndone, memory_order_relaxed) != 0;
}

int
verify_ktab_collect(verify_ktab_attach_fn *attach)
{
    verify_ktab_req_t *list, *next;
    int n = 0;

    pthread_mutex_lock(&s_mu);
    list = s_done;
    s_done = NULL;
    atomic_store(&s_ndone, 0);
    pthread_mutex_unlock(&s_mu);
    for (; list != NULL; list = next) {
        next = list->next;
        if (list->tab != NULL)
            s_built++;
        else
            s_failed++;
        if (list->owner != NULL && attach != NULL) {
            attach(list->owner, list->tab);
            if (list->tab == NULL)
                s_inuse--;
        } else {
            verify_ktab_free(list->tab);
            s_inuse--;
        }
        EVP_PKEY_free(list->pkey);
        free(list);
        n++;
    }
    return n;
}

void
verify_ktab_release(verify_ktab_t *tab)
{
    if (tab == NULL)
        return;
    verify_ktab_free(tab);
    if (s_inuse > 0)
        s_inuse--;
}

void
verify_ktab_stats(verify_ktab_stats_t *out)
{
    out->tables = s_inuse;
    out->built = s_built;
    out->failed = s_failed;
}

void
verify_ktab_shutdown(void)
{
    verify_ktab_req_t *req;

    pthread_mutex_lock(&s_mu);
    s_stop = 1;
    pthread_cond_broadcast(&s_cv);
    pthread_mutex_unlock(&s_mu);
    if (s_started) {
        pthread_join(s_thread, NULL);
        s_started = 0;
    }
    /* What was never built goes to the done list without a table, so
     * its owner still hears of it (or its cancel is honoured) at the
     * next verify_ktab_collect. */
    pthread_mutex_lock(&s_mu);
    while ((req = s_todo) != NULL) {
        s_todo = req->next;
        req->tab = NULL;
        req->next = s_done;
        s_done = req;
        atomic_fetch_add(&s_ndone, 1);
    }
    s_todo_tail = &s_todo;
    pthread_mutex_unlock(&s_mu);
}
