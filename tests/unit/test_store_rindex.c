/*
 * Unit tests: the store's in-memory replay index (store/store_rindex.c)
 * against a plain array doing the same operations, with keys drawn from
 * a small pool so that fingerprints collide, the table grows and shrinks,
 * and transactions commit or roll back at random.
 */
#include "store/store_rindex.h"
#include "tests/unit/tu.h"
#include "tests/unit/tu_rand.h"

#include <string.h>

#define S_POOL 64
#define S_MAXM 20000

typedef struct {
    int key; /* index into s_keys */
    uint64_t exp;
} s_ent;

static uint8_t s_keys[S_POOL][STORE_RINDEX_KEY];

/* Pool keys: pairs share their first 8 bytes (one fingerprint for two
 * keys), and key 0 starts with 8 zero bytes. */
static void
s_make_keys(void)
{
    for (int i = 0; i < S_POOL; i++) {
        for (int b = 0; b < STORE_RINDEX_KEY; b++)
            s_keys[i][b] = (uint8_t)tu_rand();
        if (i % 2 == 1)
            memcpy(s_keys[i], s_keys[i - 1], 8);
    }
    memset(s_keys[0], 0, 8);
    memset(s_keys[1], 0, 8);
}

/* The expiries the index names for key k, sorted; their count. */
static size_t
s_found(const store_rindex *x, int k, uint64_t *out, size_t max)
{
    size_t pos = 0, n = 0;
    uint64_t e;

    while (store_rindex_find(x, s_keys[k], &pos, &e))
        if (n < max)
            out[n++] = e;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/* The model's entries whose key shares k's first 8 bytes, sorted. */
static size_t
s_expected(const s_ent *m, size_t nm, int k, uint64_t *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < nm; i++)
        if (memcmp(s_keys[m[i].key], s_keys[k], 8) == 0 && n < max)
            out[n++] = m[i].exp;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static int
s_same(const store_rindex *x, const s_ent *m, size_t nm)
{
    static uint64_t a[S_MAXM], b[S_MAXM];

    if (store_rindex_count(x) != nm)
        return 0;
    for (int k = 0; k < S_POOL; k++) {
        size_t na = s_found(x, k, a, S_MAXM);
        size_t nb = s_expected(m, nm, k, b, S_MAXM);
        if (na != nb || memcmp(a, b, na * sizeof(*a)) != 0)
            return 0;
    }
    return 1;
}

static void
s_model_del(s_ent *m, size_t *nm, int k, uint64_t exp)
{
    for (size_t i = 0; i < *nm; i++)
        if (m[i].key == k && m[i].exp == exp) {
            m[i] = m[--*nm];
            return;
        }
}

TU_TEST(rindex_matches_a_model_through_commits_and_rollbacks)
{
    static s_ent model[S_MAXM], saved[S_MAXM];
    size_t nm = 0, nsaved = 0, maxcap = 0;
    store_rindex *x = store_rindex_new();
    int bad = 0;

    tu_rand_state = 0x5eed1234;
    s_make_keys();
    for (int round = 0; round < 400 && !bad; round++) {
        /* A transaction of 1..200 operations; grow for the first half of
         * the rounds, then shrink. */
        int ops = 1 + (int)tu_below(200), grow = round < 200 ? 3 : 1;
        for (int o = 0; o < ops; o++) {
            int k = (int)tu_below(S_POOL);
            if (tu_below(4) < (unsigned)grow && nm < S_MAXM) {
                uint64_t exp = 1000 + tu_below(500);
                store_rindex_add(x, s_keys[k], exp);
                model[nm].key = k;
                model[nm].exp = exp;
                nm++;
            } else if (nm > 0) {
                /* Delete an entry that exists, or one that does not. */
                const s_ent *e = &model[tu_below((unsigned)nm)];
                int dk = e->key;
                uint64_t de = tu_below(8) == 0 ? 1 : e->exp;
                store_rindex_del(x, s_keys[dk], de);
                s_model_del(model, &nm, dk, de);
            }
        }
        if (store_rindex_bytes(x) > maxcap)
            maxcap = store_rindex_bytes(x);
        if (tu_below(3) == 0) {
            store_rindex_rollback(x);
            memcpy(model, saved, nsaved * sizeof(*model));
            nm = nsaved;
        } else {
            store_rindex_commit(x);
            memcpy(saved, model, nm * sizeof(*model));
            nsaved = nm;
        }
        if (!s_same(x, model, nm)) {
            tu_note("round %d: index and model differ", round);
            bad = 1;
        }
    }
    TU_CHECK(!bad);
    /* It grew past its first size and came back down. */
    TU_CHECK(maxcap > 4 * 1024 * 16);
    TU_CHECK(store_rindex_bytes(x) < maxcap);
    store_rindex_destroy(&x);
    TU_CHECK(x == NULL);
}

TU_TEST(rindex_collisions_are_only_candidates)
{
    store_rindex *x = store_rindex_new();
    uint8_t a[32], b[32];
    uint64_t e[4];
    size_t n;

    memset(a, 7, sizeof(a));
    memcpy(b, a, sizeof(b));
    b[31] = 8; /* same fingerprint, another key */
    store_rindex_add(x, a, 100);
    store_rindex_add(x, b, 200);
    store_rindex_commit(x);
    /* Both expiries are candidates for either key: the caller confirms. */
    tu_rand_state = 1;
    memcpy(s_keys[0], a, 32);
    n = s_found(x, 0, e, 4);
    TU_INTEQ(n, 2);
    TU_INTEQ(e[0], 100);
    TU_INTEQ(e[1], 200);
    /* Deleting (b, 200) leaves (a, 100); a delete of what is not there
     * changes nothing, and rolls back to nothing. */
    store_rindex_del(x, b, 200);
    store_rindex_del(x, b, 999);
    TU_INTEQ(store_rindex_count(x), 1);
    store_rindex_rollback(x);
    TU_INTEQ(store_rindex_count(x), 2);
    store_rindex_destroy(&x);
    store_rindex_destroy(&x); /* NULL is fine */
}
