/* Unit tests: transactions by branch and the timer heap
 * (deliver/deliver_txn.h). */
#include <stdio.h>
#include <stdlib.h>

#include "deliver/deliver_txn.h"
#include "tests/unit/tu.h"

/* A fixed sequence, so a failure repeats. */
static uint64_t s_seed;

static uint64_t
s_rand(void)
{
    s_seed ^= s_seed << 13;
    s_seed ^= s_seed >> 7;
    s_seed ^= s_seed << 17;
    return s_seed;
}

TU_TEST(txn_add_find_remove)
{
    deliver_txn_t *t = deliver_txn_new();
    char a[] = "z9hG4bK0190f3c2.1.0000abcd", b[] = "z9hG4bK0190f3c2.2.0000abcd";
    int x, y;

    TU_CHECK(deliver_txn_find(t, a, strlen(a)) == NULL);
    deliver_txn_add(t, a, strlen(a), &x);
    deliver_txn_add(t, b, strlen(b), &y);
    TU_INTEQ(deliver_txn_count(t), 2);
    TU_CHECK(deliver_txn_find(t, a, strlen(a)) == &x);
    TU_CHECK(deliver_txn_find(t, b, strlen(b)) == &y);
    /* Exactly these bytes: a prefix, a longer key or another case is
     * not the same branch. */
    TU_CHECK(deliver_txn_find(t, a, strlen(a) - 1) == NULL);
    TU_CHECK(deliver_txn_find(t, "z9hG4bK0190F3C2.1.0000abcd", strlen(a)) ==
             NULL);
    TU_CHECK(deliver_txn_find(t, "z9hG4bK0190f3c2.1.0000abcdX",
                              strlen(a) + 1) == NULL);
    TU_CHECK(deliver_txn_find(t, "", 0) == NULL);
    /* Only the entry of that object goes. */
    TU_INTEQ(deliver_txn_remove(t, a, strlen(a), &y), 0);
    TU_INTEQ(deliver_txn_remove(t, a, strlen(a), &x), 1);
    TU_INTEQ(deliver_txn_remove(t, a, strlen(a), &x), 0);
    TU_CHECK(deliver_txn_find(t, a, strlen(a)) == NULL);
    TU_CHECK(deliver_txn_find(t, b, strlen(b)) == &y);
    TU_INTEQ(deliver_txn_count(t), 1);
    deliver_txn_destroy(&t);
    TU_CHECK(t == NULL);
    deliver_txn_destroy(&t);
}

TU_TEST(txn_same_branch_twice)
{
    deliver_txn_t *t = deliver_txn_new();
    const char *k = "z9hG4bKsame";
    int x, y;
    void *first;

    deliver_txn_add(t, k, strlen(k), &x);
    deliver_txn_add(t, k, strlen(k), &y);
    first = deliver_txn_find(t, k, strlen(k));
    TU_CHECK(first == &x || first == &y);
    TU_INTEQ(deliver_txn_remove(t, k, strlen(k), first), 1);
    TU_CHECK(deliver_txn_find(t, k, strlen(k)) ==
             (first == &x ? (void *)&y : (void *)&x));
    TU_INTEQ(deliver_txn_remove(t, k, strlen(k), first == &x ? &y : &x), 1);
    TU_CHECK(deliver_txn_find(t, k, strlen(k)) == NULL);
    TU_INTEQ(deliver_txn_count(t), 0);
    deliver_txn_destroy(&t);
}

/*
 * Against a plain array: adds and removes in a random order through
 * several growths, so that removal shifts entries around clusters (and
 * around the end of the table), and every live key stays findable.
 */
#define S_KEYS 3000

TU_TEST(txn_random_against_a_model)
{
    static char keys[S_KEYS][48];
    static int live[S_KEYS];
    deliver_txn_t *t = deliver_txn_new();
    size_t nlive = 0;
    int bad = 0;

    s_seed = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < S_KEYS; i++)
        snprintf(keys[i], sizeof(keys[i]), "z9hG4bK%016llx.%zu.%08llx",
                 (unsigned long long)s_rand(), i % 7,
                 (unsigned long long)(s_rand() & 0xffffffffu));
    memset(live, 0, sizeof(live));
    for (int round = 0; round < 40000; round++) {
        size_t i = (size_t)(s_rand() % S_KEYS);
        /* Grow to about two thirds of the keys, then churn. */
        int add = !live[i] && (nlive < S_KEYS * 2 / 3 || s_rand() % 2);
        if (add) {
            deliver_txn_add(t, keys[i], strlen(keys[i]), &live[i]);
            live[i] = 1;
            nlive++;
        } else if (live[i]) {
            if (deliver_txn_remove(t, keys[i], strlen(keys[i]), &live[i]) != 1)
                bad++;
            live[i] = 0;
            nlive--;
        }
        if (round % 997 == 0)
            for (size_t k = 0; k < S_KEYS; k++)
                if (deliver_txn_find(t, keys[k], strlen(keys[k])) !=
                    (live[k] ? (void *)&live[k] : NULL))
                    bad++;
    }
    TU_INTEQ(bad, 0);
    TU_INTEQ(deliver_txn_count(t), nlive);
    for (size_t k = 0; k < S_KEYS; k++)
        if (live[k])
            TU_INTEQ(deliver_txn_remove(t, keys[k], strlen(keys[k]), &live[k]),
                     1);
    TU_INTEQ(deliver_txn_count(t), 0);
    for (size_t k = 0; k < S_KEYS; k++)
        if (deliver_txn_find(t, keys[k], strlen(keys[k])) != NULL)
            bad++;
    TU_INTEQ(bad, 0);
    deliver_txn_destroy(&t);
}

TU_TEST(timers_order_move_cancel)
{
    deliver_timers_t h = {0};
    deliver_timer_t a = DELIVER_TIMER_INIT, b = DELIVER_TIMER_INIT,
                    c = DELIVER_TIMER_INIT;

    TU_CHECK(deliver_timers_first(&h) == NULL);
    TU_CHECK(deliver_timers_next(&h) == UINT64_MAX);
    deliver_timers_cancel(&h, &a); /* idle: nothing happens */
    deliver_timers_set(&h, &a, 300);
    deliver_timers_set(&h, &b, 100);
    deliver_timers_set(&h, &c, 200);
    TU_CHECK(deliver_timers_first(&h) == &b);
    TU_INTEQ(deliver_timers_next(&h), 100);
    /* Moved later, then earlier than the rest. */
    deliver_timers_set(&h, &b, 400);
    TU_CHECK(deliver_timers_first(&h) == &c);
    deliver_timers_set(&h, &a, 50);
    TU_CHECK(deliver_timers_first(&h) == &a);
    deliver_timers_cancel(&h, &a);
    TU_CHECK(a.pos == DELIVER_TIMER_IDLE);
    TU_CHECK(deliver_timers_first(&h) == &c);
    deliver_timers_cancel(&h, &c);
    deliver_timers_cancel(&h, &c);
    TU_CHECK(deliver_timers_first(&h) == &b);
    deliver_timers_cancel(&h, &b);
    TU_CHECK(deliver_timers_first(&h) == NULL);
    /* Equal times are all kept. */
    deliver_timers_set(&h, &a, 7);
    deliver_timers_set(&h, &b, 7);
    TU_INTEQ(deliver_timers_next(&h), 7);
    deliver_timers_cancel(&h, deliver_timers_first(&h));
    TU_INTEQ(deliver_timers_next(&h), 7);
    deliver_timers_cancel(&h, deliver_timers_first(&h));
    TU_CHECK(deliver_timers_first(&h) == NULL);
    deliver_timers_clear(&h);
    TU_CHECK(h.v == NULL && h.n == 0);
}

/* Against a plain array: the first is always the minimum, and popping
 * everything comes out sorted. */
#define S_TIMERS 500

TU_TEST(timers_random_against_a_model)
{
    static deliver_timer_t t[S_TIMERS];
    deliver_timers_t h = {0};
    int bad = 0;
    uint64_t last = 0;

    s_seed = 0x2545f4914f6cdd1du;
    for (size_t i = 0; i < S_TIMERS; i++)
        t[i] = (deliver_timer_t)DELIVER_TIMER_INIT;
    for (int round = 0; round < 20000; round++) {
        deliver_timer_t *x = &t[s_rand() % S_TIMERS], *f;
        uint64_t min = UINT64_MAX;
        if (s_rand() % 3 == 0)
            deliver_timers_cancel(&h, x);
        else
            deliver_timers_set(&h, x, s_rand() % 10000);
        for (size_t i = 0; i < S_TIMERS; i++)
            if (t[i].pos != DELIVER_TIMER_IDLE) {
                if (t[i].pos >= h.n || h.v[t[i].pos] != &t[i])
                    bad++;
                if (t[i].at < min)
                    min = t[i].at;
            }
        f = deliver_timers_first(&h);
        if (deliver_timers_next(&h) != min || (f != NULL && f->at != min))
            bad++;
    }
    TU_INTEQ(bad, 0);
    while ((deliver_timers_first(&h)) != NULL) {
        deliver_timer_t *f = deliver_timers_first(&h);
        if (f->at < last)
            bad++;
        last = f->at;
        deliver_timers_cancel(&h, f);
    }
    TU_INTEQ(bad, 0);
    deliver_timers_clear(&h);
}
