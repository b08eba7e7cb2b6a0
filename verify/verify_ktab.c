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

/* n, the order of P-256 (FIPS 186-4 D.1.2.3), big-endian and in 64-bit
 * limbs, least significant first. */
static const uint8_t s_n_be[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
    0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
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

static int
s_is_one(const uint64_t v[4])
{
    return v[0] == 1 && (v[1] | v[2] | v[3]) == 0;
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

/* a -= b, returns the borrow */
static unsigned
s_sub(uint64_t a[4], const uint64_t b[4])
{
    unsigned borrow = 0;

    for (int i = 0; i < 4; i++) {
        uint64_t x = a[i], y = b[i];
        uint64_t d = x - y - borrow;
        borrow = (x < y) || (x == y && borrow);
        a[i] = d;
    }
    return borrow;
}

/* a += b, returns the carry */
static unsigned
s_add(uint64_t a[4], const uint64_t b[4])
{
    unsigned carry = 0;

    for (int i = 0; i < 4; i++) {
        uint64_t s = a[i] + b[i];
        unsigned c1 = s < a[i];
        uint64_t t = s + carry;
        carry = c1 | (t < s);
        a[i] = t;
    }
    return carry;
}

/* x = x - y modulo n, for x, y < n */
static void
s_sub_mod(uint64_t x[4], const uint64_t y[4])
{
    if (s_sub(x, y))
        (void)s_add(x, s_n);
}

/* -1/n modulo 2^64 (Newton's iteration: each step doubles the bits). */
static uint64_t
s_ninv(void)
{
    uint64_t inv = s_n[0]; /* right to 3 bits for any odd n */

    for (int i = 0; i < 5; i++)
        inv *= 2 - s_n[0] * inv;
    return (uint64_t)0 - inv;
}

/*
 * x = x / 2^t modulo n, for x < n and 1 <= t <= 63: add the multiple m n
 * (m < 2^t) that clears the low t bits, shift, and subtract n once if the
 * result is not below n (x + m n < 2^t n + n, so the quotient is < 2n).
 */
static void
s_div2k(uint64_t x[4], unsigned t, uint64_t ninv)
{
    uint64_t m = (x[0] * ninv) & (((uint64_t)1 << t) - 1);
    uint64_t w[5];
    unsigned __int128 acc = 0;

    for (int i = 0; i < 4; i++) {
        acc += (unsigned __int128)m * s_n[i] + x[i];
        w[i] = (uint64_t)acc;
        acc >>= 64;
    }
    w[4] = (uint64_t)acc;
    for (int i = 0; i < 4; i++)
        x[i] = w[i] >> t | w[i + 1] << (64 - t);
    if ((w[4] >> t) != 0 || s_geq(x, s_n))
        (void)s_sub(x, s_n);
}

/* v >>= t for 1 <= t <= 63 */
static void
s_shr(uint64_t v[4], unsigned t)
{
    for (int i = 0; i < 3; i++)
        v[i] = v[i] >> t | v[i + 1] << (64 - t);
    v[3] >>= t;
}

/* Make u odd (u != 0), dividing x by the same power of two modulo n. */
static void
s_strip(uint64_t u[4], uint64_t x[4], uint64_t ninv)
{
    while ((u[0] & 1) == 0) {
        unsigned t;

        if (u[0] == 0) {
            /* a whole limb of zeros: 64 = 32 + 32 */
            u[0] = u[1];
            u[1] = u[2];
            u[2] = u[3];
            u[3] = 0;
            s_div2k(x, 32, ninv);
            s_div2k(x, 32, ninv);
            continue;
        }
        t = (unsigned)__builtin_ctzll(u[0]);
        s_shr(u, t);
        s_div2k(x, t, ninv);
    }
}

/*
 * The binary extended Euclidean algorithm (Knuth, TAOCP vol. 2, 4.5.2;
 * Menezes et al., Handbook of Applied Cryptography, 14.61 specialised to
 * an odd prime modulus): u = a, v = n with x1 a = u and x2 a = v (mod n)
 * kept true while the pair shrinks to 1.  The powers of two come off a
 * whole run of zero bits at a time (count trailing zeros), the matching
 * division of x1 or x2 in one Montgomery-style step.  OpenSSL's
 * BN_mod_inverse costs ~20 us here, this a few.
 */
sg_rc
verify_ktab_inv_order(const uint8_t a[32], uint8_t out[32])
{
    uint64_t u[4], v[4], x1[4] = {1, 0, 0, 0}, x2[4] = {0, 0, 0, 0};
    uint64_t ninv = s_ninv();

    s_load(u, a);
    if ((u[0] | u[1] | u[2] | u[3]) == 0 || s_geq(u, s_n))
        return SG_REFUSED;
    memcpy(v, s_n, sizeof(v));
    s_strip(u, x1, ninv);
    /* u and v odd; u - v or v - u even and, while neither is 1, nonzero
     * (gcd(a, n) = 1: u = v only at 1). */
    while (!s_is_one(u) && !s_is_one(v)) {
        if (s_geq(u, v)) {
            (void)s_sub(u, v);
            s_sub_mod(x1, x2);
            s_strip(u, x1, ninv);
        } else {
            (void)s_sub(v, u);
            s_sub_mod(x2, x1);
            s_strip(v, x2, ninv);
        }
    }
    s_store(out, s_is_one(u) ? x1 : x2);
    return SG_OK;
}

/* 0 < x < n, for a big-endian 32-octet x */
static int
s_in_range(const uint8_t x[32])
{
    static const uint8_t zero[32];

    return memcmp(x, zero, 32) != 0 && memcmp(x, s_n_be, 32) < 0;
}

/* ---- one table -------------------------------------------------------- */

struct verify_ktab {
    EC_GROUP *g;  /* P-256 as named: G with OpenSSL's built-in table */
    EC_GROUP *gq; /* P-256 with generator Q, precomputed */
    const BIGNUM *n;
    BIGNUM *p; /* the field prime */
    BN_CTX *ctx;
    BIGNUM *r, *e, *w, *u1, *u2, *x, *z, *t;
    EC_POINT *p1, *p2;
};

void
verify_ktab_free(verify_ktab_t *self)
{
    if (self == NULL)
        return;
    EC_POINT_free(self->p1);
    EC_POINT_free(self->p2);
    BN_free(self->r);
    BN_free(self->e);
    BN_free(self->w);
    BN_free(self->u1);
    BN_free(self->u2);
    BN_free(self->x);
    BN_free(self->z);
    BN_free(self->t);
    BN_free(self->p);
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
    if ((self->ctx = BN_CTX_new()) == NULL ||
        (self->g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) ==
            NULL ||
        (q = EC_POINT_new(self->g)) == NULL ||
        EC_POINT_oct2point(self->g, q, pub, len, self->ctx) != 1 ||
        (self->gq = EC_GROUP_dup(self->g)) == NULL)
        goto fail;
    self->n = EC_GROUP_get0_order(self->g);
    if (EC_GROUP_set_generator(self->gq, q, self->n, BN_value_one()) != 1 ||
        EC_GROUP_precompute_mult(self->gq, self->ctx) != 1)
        goto fail;
    if ((self->r = BN_new()) == NULL || (self->e = BN_new()) == NULL ||
        (self->w = BN_new()) == NULL || (self->u1 = BN_new()) == NULL ||
        (self->u2 = BN_new()) == NULL || (self->x = BN_new()) == NULL ||
        (self->z = BN_new()) == NULL || (self->t = BN_new()) == NULL ||
        (self->p = BN_new()) == NULL ||
        EC_GROUP_get_curve(self->g, self->p, NULL, NULL, self->ctx) != 1 ||
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
    uint8_t w[32];

    /* SEC 1 4.1.4 step 1: r and s in [1, n-1], else invalid. */
    if (!s_in_range(sig) || !s_in_range(sig + 32))
        return 0;
    if (verify_ktab_inv_order(sig + 32, w) != SG_OK)
        return 0;
    /* Steps 2-5: e is the whole digest (256 bits, the size of n);
     * u1 = e / s, u2 = r / s, R = u1 G + u2 Q. */
    if (BN_bin2bn(sig, 32, self->r) == NULL ||
        BN_bin2bn(md, 32, self->e) == NULL ||
        BN_bin2bn(w, 32, self->w) == NULL ||
        BN_mod_mul(self->u1, self->e, self->w, self->n, self->ctx) != 1 ||
        BN_mod_mul(self->u2, self->r, self->w, self->n, self->ctx) != 1 ||
        EC_POINT_mul(self->g, self->p1, self->u1, NULL, NULL, self->ctx) !=
            1 ||
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
    if (EC_POINT_get_Jprojective_coordinates_GFp(self->g, self->p1, self->x,
                                                 NULL, self->z,
                                                 self->ctx) != 1 ||
        BN_nnmod(self->x, self->x, self->p, self->ctx) != 1 ||
        BN_mod_sqr(self->z, self->z, self->p, self->ctx) != 1 ||
        BN_mod_mul(self->t, self->r, self->z, self->p, self->ctx) != 1)
        return -1;
    if (BN_cmp(self->t, self->x) == 0)
        return 1;
    if (BN_add(self->t, self->r, self->n) != 1)
        return -1;
    if (BN_cmp(self->t, self->p) >= 0)
        return 0;
    if (BN_mod_mul(self->t, self->t, self->z, self->p, self->ctx) != 1)
        return -1;
    return BN_cmp(self->t, self->x) == 0;
}

/* ---- the policy and the builder thread ------------------------------- */

struct verify_ktab_req {
    EVP_PKEY *pkey;      /* up-referenced; the builder reads it */
    void *owner;         /* main thread only; NULL once cancelled */
    verify_ktab_t *tab;  /* the builder's result */
    verify_ktab_req_t *next;
};

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cv = PTHREAD_COND_INITIALIZER;
static verify_ktab_req_t *s_todo, **s_todo_tail = &s_todo; /* s_mu */
static verify_ktab_req_t *s_done;                           /* s_mu */
static int s_stop;                                          /* s_mu */
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
