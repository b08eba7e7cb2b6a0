/* Unit tests: the LMDB layer against a temporary database. */
#include "store/store_db.h"
#include "lib/sg.h"
#include "lib/sg_log.h"
#include "tests/unit/tu.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static const store_sched_conf s_sc = {.backoff_min_ms = 1000,
                                      .backoff_max_ms = 8000,
                                      .lifetime_ms = 100000,
                                      .dead_keep_ms = 5000,
                                      .done_keep_ms = 5000,
                                      .lease_ms = 10000};

static const char *
s_dir(const char *name)
{
    static char buf[512];

    snprintf(buf, sizeof(buf), "%s/%s", tu_tmpdir(), name);
    return buf;
}

/* An envelope with id[0..1] = n, body of `blen` bytes; new. */
static uint8_t *
s_env(unsigned n, size_t blen, const uint8_t *replay, size_t *len,
      proto_msg *out)
{
    static uint8_t body[PROTO_MSG_BODY_MAX];
    proto_msg m;
    uint8_t *b;

    memset(&m, 0, sizeof(m));
    m.id[0] = (uint8_t)(n >> 8);
    m.id[1] = (uint8_t)n;
    m.id[15] = 0x5a;
    m.from.p = (const uint8_t *)"+1";
    m.from.len = 2;
    m.to.p = (const uint8_t *)"+2";
    m.to.len = 2;
    memset(body, 'x', blen);
    m.body.p = body;
    m.body.len = blen;
    if (replay) {
        m.flags |= PROTO_MSG_F_REPLAY_KEY;
        memcpy(m.replay_key, replay, 32);
    }
    b = proto_msg_encode_new(&m, len);
    if (proto_msg_decode(b, *len, out) != NULL)
        abort();
    return b;
}

/* The holder of the replay key of the last put refused as a replay. */
static uint8_t s_holder[PROTO_MSG_ID_LEN];

static sg_rc
s_put(store_db *db, unsigned n, uint64_t now, const uint8_t *replay,
      store_put_result *res)
{
    MDB_txn *txn;
    proto_msg m;
    size_t len;
    uint8_t *b = s_env(n, 10000, replay, &len, &m);
    sg_rc rc;

    if ((rc = store_db_begin(db, &txn)) != SG_OK)
        goto out;
    rc = store_db_put(db, txn, b, len, &m, now, &s_sc, 60000, res, s_holder);
    if (rc == SG_OK)
        rc = store_db_commit(db, &txn);
    else
        store_db_abort(&txn);
out:
    sg_free(b);
    return rc;
}

typedef struct {
    int n;
    uint8_t id[16];
    uint32_t attempt;
} s_jobs;

static void
s_on_job(void *arg, const uint8_t id[16], uint32_t attempt, uint64_t lease,
         const uint8_t *env, size_t env_len)
{
    s_jobs *j = arg;
    proto_msg m;

    (void)lease;
    if (proto_msg_decode(env, env_len, &m) != NULL)
        abort();
    memcpy(j->id, id, 16);
    j->attempt = attempt;
    j->n++;
}

static s_jobs
s_lease(store_db *db, uint64_t now, size_t max)
{
    s_jobs j = {0};
    MDB_txn *txn;
    size_t n;

    if (store_db_begin(db, &txn) != SG_OK ||
        store_db_lease_due(db, txn, now, &s_sc, max, s_on_job, &j, &n) !=
            SG_OK ||
        store_db_commit(db, &txn) != SG_OK)
        abort();
    return j;
}

static void
s_tick(store_db *db, uint64_t now)
{
    MDB_txn *txn;
    size_t n;

    if (store_db_begin(db, &txn) != SG_OK ||
        store_db_tick(db, txn, now, &s_sc, 1000, &n) != SG_OK ||
        store_db_commit(db, &txn) != SG_OK)
        abort();
}

static store_done_result
s_done(store_db *db, const uint8_t *id, uint32_t attempt, uint32_t outcome,
       uint32_t retry_after, uint64_t now, uint64_t rnd)
{
    proto_done d = {.attempt = attempt,
                    .outcome = outcome,
                    .retry_after_ms = retry_after,
                    .error = {(const uint8_t *)"boom", 4}};
    store_done_result res;
    MDB_txn *txn;

    memcpy(d.id, id, 16);
    if (store_db_begin(db, &txn) != SG_OK ||
        store_db_done(db, txn, &d, now, &s_sc, rnd, &res) != SG_OK ||
        store_db_commit(db, &txn) != SG_OK)
        abort();
    return res;
}

static void
s_on_rec(void *arg, const uint8_t id[16], const store_record *r)
{
    (void)id;
    *(store_record *)arg = *r; /* scalars only are read after the txn */
}

/* State of message n, or 0 when absent. */
static int
s_state(store_db *db, unsigned n, store_record *out)
{
    uint8_t id[16] = {(uint8_t)(n >> 8), (uint8_t)n};
    store_record r;
    MDB_txn *txn;
    int found;

    id[15] = 0x5a;
    if (store_db_begin(db, &txn) != SG_OK ||
        store_db_show(db, txn, id, s_on_rec, &r, &found) != SG_OK ||
        store_db_commit(db, &txn) != SG_OK)
        abort();
    if (out && found)
        *out = r;
    return found ? r.state : 0;
}

static store_db_stats
s_stats(store_db *db)
{
    store_db_stats st;
    MDB_txn *txn;

    if (store_db_begin(db, &txn) != SG_OK ||
        store_db_stats_get(db, txn, 0, &st) != SG_OK)
        abort();
    store_db_abort(&txn);
    return st;
}

TU_TEST(db_put_is_idempotent)
{
    store_db *db = store_db_open(s_dir("idem"), 1 << 20, 1 << 20);
    store_put_result res;

    TU_REQUIRE(db != NULL);
    TU_CHECK(s_put(db, 1, 1000, NULL, &res) == SG_OK && res == STORE_PUT_NEW);
    TU_CHECK(s_put(db, 1, 2000, NULL, &res) == SG_OK &&
             res == STORE_PUT_EXISTS);
    TU_CHECK(s_put(db, 2, 2000, NULL, &res) == SG_OK && res == STORE_PUT_NEW);
    TU_INTEQ(s_stats(db).total, 2);
    TU_INTEQ(s_stats(db).queued, 2);
    store_db_destroy(&db);
    TU_CHECK(db == NULL);
    store_db_destroy(&db); /* accepts NULL */
}

TU_TEST(db_lease_retry_backoff_and_stale_done)
{
    store_db *db = store_db_open(s_dir("lease"), 1 << 20, 1 << 20);
    store_put_result res;
    store_record r;
    s_jobs j;

    TU_REQUIRE(db != NULL);
    TU_REQUIRE(s_put(db, 1, 1000, NULL, &res) == SG_OK);
    /* Not due before its time; due at it. */
    TU_INTEQ(s_lease(db, 999, 10).n, 0);
    j = s_lease(db, 1000, 10);
    TU_INTEQ(j.n, 1);
    TU_INTEQ(j.attempt, 1);
    TU_INTEQ(s_state(db, 1, &r), PROTO_STATE_LEASED);
    TU_INTEQ(r.lease_until_ms, 1000 + s_sc.lease_ms);
    /* Leased: not handed out again. */
    TU_INTEQ(s_lease(db, 1500, 10).n, 0);
    /* A report for another attempt is stale. */
    TU_INTEQ(s_done(db, j.id, 2, PROTO_OUTCOME_RETRY, 0, 2000, 0),
             STORE_DONE_STALE);
    /* Retry: due again within the first backoff interval [1 s, 2 s]. */
    TU_INTEQ(s_done(db, j.id, 1, PROTO_OUTCOME_RETRY, 0, 2000, 999),
             STORE_DONE_APPLIED);
    TU_INTEQ(s_state(db, 1, &r), PROTO_STATE_QUEUED);
    TU_INTEQ(r.next_due_ms, 2000 + 1000 + 999);
    TU_INTEQ(s_lease(db, 3998, 10).n, 0);
    j = s_lease(db, 3999, 10);
    TU_INTEQ(j.attempt, 2);
    /* Second retry: [2 s, 4 s] after now, and Retry-After as a floor. */
    TU_INTEQ(s_done(db, j.id, 2, PROTO_OUTCOME_RETRY, 7000, 4000, 0),
             STORE_DONE_APPLIED);
    TU_INTEQ(s_state(db, 1, &r), PROTO_STATE_QUEUED);
    TU_INTEQ(r.next_due_ms, 11000);
    j = s_lease(db, 11000, 10);
    TU_INTEQ(s_done(db, j.id, 3, PROTO_OUTCOME_DELIVERED, 0, 11001, 0),
             STORE_DONE_APPLIED);
    TU_INTEQ(s_state(db, 1, &r), PROTO_STATE_DONE);
    /* A late "delivered" after done changes nothing. */
    TU_INTEQ(s_done(db, j.id, 3, PROTO_OUTCOME_DELIVERED, 0, 11002, 0),
             STORE_DONE_STALE);
    /* Done records are purged after their keep time. */
    s_tick(db, 11001 + s_sc.dead_keep_ms);
    TU_INTEQ(s_state(db, 1, NULL), 0);
    store_db_destroy(&db);
}

TU_TEST(db_expired_lease_comes_back_and_restart_recovers)
{
    store_db *db = store_db_open(s_dir("expire"), 1 << 20, 1 << 20);
    store_put_result res;
    store_record r;
    MDB_txn *txn;
    size_t n;
    s_jobs j;

    TU_REQUIRE(db != NULL);
    TU_REQUIRE(s_put(db, 1, 1000, NULL, &res) == SG_OK);
    TU_REQUIRE(s_put(db, 2, 1000, NULL, &res) == SG_OK);
    TU_INTEQ(s_lease(db, 1000, 10).n, 2);
    /* Lease of 10 s: nothing before, both due again after. */
    s_tick(db, 10999);
    TU_INTEQ(s_state(db, 1, NULL), PROTO_STATE_LEASED);
    s_tick(db, 11000);
    TU_INTEQ(s_state(db, 1, &r), PROTO_STATE_QUEUED);
    TU_INTEQ(r.attempts, 1);
    j = s_lease(db, 11000, 1);
    TU_INTEQ(j.attempt, 2);
    /* A restart: every lease ends at once. */
    store_db_destroy(&db);
    db = store_db_open(s_dir("expire"), 1 << 20, 1 << 20);
    TU_REQUIRE(db != NULL);
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_recover(db, txn, 12000, &s_sc, &n) == SG_OK);
    TU_CHECK(store_db_commit(db, &txn) == SG_OK);
    TU_INTEQ(n, 1); /* the one leased; the other was queued */
    TU_INTEQ(s_lease(db, 12000, 10).n, 2);
    store_db_destroy(&db);
}

TU_TEST(db_lifetime_dead_set)
{
    store_db *db = store_db_open(s_dir("dead"), 1 << 20, 1 << 20);
    store_put_result res;
    store_record r;
    s_jobs j;

    TU_REQUIRE(db != NULL);
    TU_REQUIRE(s_put(db, 1, 1000, NULL, &res) == SG_OK);
    TU_REQUIRE(s_put(db, 2, 1000, NULL, &res) == SG_OK);
    j = s_lease(db, 1000, 1);
    TU_INTEQ(s_done(db, j.id, 1, PROTO_OUTCOME_FAILED, 0, 100000, 0),
             STORE_DONE_APPLIED);
    TU_INTEQ(s_state(db, j.id[1], &r), PROTO_STATE_DEAD);
    TU_INTEQ(r.dead_reason, STORE_DEAD_FAILED);
    /* The other one outlives its lifetime with no worker at all. */
    s_tick(db, 1000 + s_sc.lifetime_ms);
    TU_INTEQ(s_state(db, j.id[1] == 1 ? 2 : 1, &r), PROTO_STATE_DEAD);
    TU_INTEQ(r.dead_reason, STORE_DEAD_LIFETIME);
    TU_INTEQ(s_stats(db).finished, 2);
    store_db_destroy(&db);
}

TU_TEST(db_replay_table)
{
    store_db *db = store_db_open(s_dir("replay"), 1 << 20, 1 << 20);
    uint8_t key[32] = {1, 2, 3}, other[32] = {9};
    store_put_result res;
    MDB_txn *txn;
    int seen = -1;

    TU_REQUIRE(db != NULL);
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_replay_check(db, txn, key, 5000, 1000, &seen) == SG_OK);
    TU_INTEQ(seen, 0);
    /* Seen within the same transaction: a group commit sees its own. */
    TU_CHECK(store_db_replay_check(db, txn, key, 5000, 1001, &seen) == SG_OK);
    TU_INTEQ(seen, 1);
    TU_CHECK(store_db_commit(db, &txn) == SG_OK);
    /* Purged after its window, then new again. */
    s_tick(db, 6000);
    TU_INTEQ(s_stats(db).replay_keys, 0);
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_replay_check(db, txn, key, 5000, 6001, &seen) == SG_OK);
    TU_INTEQ(seen, 0);
    TU_CHECK(store_db_commit(db, &txn) == SG_OK);
    /* STORE with a replay key: claimed by the first message only. */
    TU_CHECK(s_put(db, 1, 7000, other, &res) == SG_OK && res == STORE_PUT_NEW);
    TU_CHECK(s_put(db, 1, 7001, other, &res) == SG_OK &&
             res == STORE_PUT_EXISTS);
    memset(s_holder, 0, sizeof(s_holder));
    TU_CHECK(s_put(db, 2, 7002, other, &res) == SG_OK &&
             res == STORE_PUT_REPLAY);
    TU_INTEQ(s_state(db, 2, NULL), 0);
    /* The refusal names the message that holds the key (message 1). */
    TU_CHECK(s_holder[0] == 0 && s_holder[1] == 1 && s_holder[15] == 0x5a);
    store_db_destroy(&db);
}

TU_TEST(db_control_operations)
{
    store_db *db = store_db_open(s_dir("ctl"), 1 << 20, 1 << 20);
    uint8_t id1[16] = {0, 1}, id9[16] = {0, 9};
    store_put_result res;
    uint32_t code, count;
    const char *why;
    MDB_txn *txn;

    id1[15] = id9[15] = 0x5a;
    TU_REQUIRE(db != NULL);
    TU_REQUIRE(s_put(db, 1, 1000, NULL, &res) == SG_OK);
    TU_REQUIRE(s_put(db, 2, 1000, NULL, &res) == SG_OK);
#define CTL(op, id, all)                                                      \
    (store_db_begin(db, &txn) == SG_OK &&                                     \
     store_db_ctl(db, txn, op, id, all, 2000, &s_sc, &code, &why, &count) ==  \
         SG_OK &&                                                             \
     store_db_commit(db, &txn) == SG_OK)
    TU_CHECK(CTL(STORE_CTL_HOLD, id9, 0));
    TU_INTEQ(code, PROTO_CTL_NO_SUCH);
    TU_CHECK(CTL(STORE_CTL_HOLD, id1, 0));
    TU_INTEQ(code, 0);
    TU_INTEQ(s_state(db, 1, NULL), PROTO_STATE_HELD);
    TU_INTEQ(s_stats(db).held, 1);
    /* Held messages are not handed out. */
    TU_INTEQ(s_lease(db, 2000, 10).n, 1);
    TU_CHECK(CTL(STORE_CTL_REQUEUE, id1, 0)); /* requeue of held = release */
    TU_INTEQ(s_state(db, 1, NULL), PROTO_STATE_QUEUED);
    TU_CHECK(CTL(STORE_CTL_RELEASE, id1, 0));
    TU_INTEQ(code, PROTO_CTL_BAD_STATE);
    TU_CHECK(CTL(STORE_CTL_HOLD, id1, 0));
    TU_CHECK(CTL(STORE_CTL_RELEASE, id1, 0));
    TU_INTEQ(code, 0);
    TU_INTEQ(s_state(db, 1, NULL), PROTO_STATE_QUEUED);
    /* Requeue of a leased message is refused. */
    uint8_t id2[16] = {0, 2};
    id2[15] = 0x5a;
    TU_CHECK(CTL(STORE_CTL_REQUEUE, id2, 0));
    TU_INTEQ(code, PROTO_CTL_BAD_STATE);
    TU_CHECK(CTL(STORE_CTL_DELETE, id1, 0));
    TU_INTEQ(code, 0);
    TU_INTEQ(s_state(db, 1, NULL), 0);
    TU_CHECK(CTL(STORE_CTL_DELETE, id1, 0));
    TU_INTEQ(code, PROTO_CTL_NO_SUCH);
    /* Requeue --all revives the dead. */
    TU_REQUIRE(s_put(db, 3, 1000, NULL, &res) == SG_OK);
    s_tick(db, 1000 + s_sc.lifetime_ms);
    TU_INTEQ(s_state(db, 3, NULL), PROTO_STATE_DEAD);
    TU_CHECK(store_db_begin(db, &txn) == SG_OK &&
             store_db_ctl(db, txn, STORE_CTL_REQUEUE, id1, 1,
                          2000 + s_sc.lifetime_ms, &s_sc, &code, &why,
                          &count) == SG_OK &&
             store_db_commit(db, &txn) == SG_OK);
    TU_CHECK(count >= 1);
    TU_INTEQ(s_state(db, 3, NULL), PROTO_STATE_QUEUED);
#undef CTL
    store_db_destroy(&db);
}

/* Flip one byte of message n's stored record, behind the store's back. */
static int
s_corrupt(const char *dir, unsigned n)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k, v;
    uint8_t id[16] = {(uint8_t)(n >> 8), (uint8_t)n}, *copy;
    int ok = 0;

    id[15] = 0x5a;
    k.mv_size = 16;
    k.mv_data = id;
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
        mdb_env_set_mapsize(env, 1 << 20) || mdb_env_open(env, dir, 0, 0600))
        return 0;
    if (mdb_txn_begin(env, NULL, 0, &txn) == 0 &&
        mdb_dbi_open(txn, "msg", 0, &dbi) == 0 &&
        mdb_get(txn, dbi, &k, &v) == 0) {
        copy = sg_memdup(v.mv_data, v.mv_size);
        copy[v.mv_size - 3] ^= 0x20; /* inside the body */
        v.mv_data = copy;
        ok = mdb_put(txn, dbi, &k, &v, 0) == 0 && mdb_txn_commit(txn) == 0;
        sg_free(copy);
    } else {
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return ok;
}

TU_TEST(db_corrupt_record_is_quarantined)
{
    const char *dir = s_dir("corrupt");
    store_db *db = store_db_open(dir, 1 << 20, 1 << 20);
    store_put_result res;
    s_jobs j;

    TU_REQUIRE(db != NULL);
    for (unsigned i = 1; i <= 3; i++)
        TU_REQUIRE(s_put(db, i, 1000, NULL, &res) == SG_OK);
    store_db_destroy(&db);
    TU_REQUIRE(s_corrupt(dir, 2));
    db = store_db_open(dir, 1 << 20, 1 << 20);
    TU_REQUIRE(db != NULL);
    /* The scheduler meets it first: quarantined, the others served. */
    sg_log_set_level(SG_LOG_FATAL);
    j = s_lease(db, 1000, 10);
    sg_log_set_level(SG_LOG_WARN);
    TU_INTEQ(j.n, 2);
    TU_INTEQ(s_state(db, 2, NULL), 0);
    TU_INTEQ(s_stats(db).quarantined, 1);
    TU_INTEQ(s_stats(db).total, 2);
    /* Its index entries went with it: nothing dangling is due. */
    TU_INTEQ(s_lease(db, 1000, 10).n, 0);
    store_db_destroy(&db);
}

TU_TEST(db_map_full_is_again_and_loses_nothing)
{
    store_db *db = store_db_open(s_dir("full"), 1 << 20, 2 << 20);
    store_put_result res;
    unsigned n = 0;
    sg_rc rc = SG_OK;

    TU_REQUIRE(db != NULL);
    /* Fill the 1 MiB map with 10 KiB messages. */
    while (n < 1000 && (rc = s_put(db, n + 1, 1000, NULL, &res)) == SG_OK)
        n++;
    TU_INTEQ(rc, SG_AGAIN);
    TU_CHECK(n > 10);
    /* Grow once to the limit, then no more. */
    TU_INTEQ(store_db_grow(db, 2 << 20), SG_OK);
    TU_INTEQ(store_db_map_size(db), 2 << 20);
    TU_INTEQ(store_db_grow(db, 2 << 20), SG_AGAIN);
    TU_CHECK(s_put(db, n + 1, 1000, NULL, &res) == SG_OK);
    /* Everything committed before is intact. */
    for (unsigned i = 1; i <= n + 1; i++)
        TU_INTEQ(s_state(db, i, NULL), PROTO_STATE_QUEUED);
    store_db_destroy(&db);
}

/* The delivery issue: DONE wait gives the attempt back; RESIGNED writes
 * the second signing time; DONE's delivery verstat/reason are kept. */
TU_TEST(db_wait_resigned_and_delivery_verdict)
{
    store_db *db = store_db_open(s_dir("wait"), 1 << 20, 1 << 20);
    store_put_result res;
    store_done_result dres;
    store_record r;
    s_jobs j;
    MDB_txn *txn;

    TU_REQUIRE(db != NULL);
    TU_REQUIRE(s_put(db, 1, 1000, NULL, &res) == SG_OK);
    j = s_lease(db, 1000, 10);
    TU_INTEQ(j.attempt, 1);
    /* Wait: queued at now + retry-after, exactly, attempts back to 0. */
    TU_INTEQ(s_done(db, j.id, 1, PROTO_OUTCOME_WAIT, 2500, 1100, 12345),
             STORE_DONE_APPLIED);
    TU_INTEQ(s_state(db, 1, &r), PROTO_STATE_QUEUED);
    TU_INTEQ(r.attempts, 0);
    TU_INTEQ(r.next_due_ms, 3600);
    j = s_lease(db, 3600, 10);
    TU_INTEQ(j.attempt, 1);

    /* RESIGNED for another attempt is stale; for this one it lands. */
    {
        proto_resigned v = {.attempt = 2, .resign_iat = 1800000100};
        memcpy(v.id, j.id, 16);
        TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
        TU_REQUIRE(store_db_resigned(db, txn, &v, &dres) == SG_OK);
        TU_INTEQ(dres, STORE_DONE_STALE);
        v.attempt = 1;
        TU_REQUIRE(store_db_resigned(db, txn, &v, &dres) == SG_OK);
        TU_INTEQ(dres, STORE_DONE_APPLIED);
        TU_REQUIRE(store_db_commit(db, &txn) == SG_OK);
    }
    {
        proto_done d = {.attempt = 1,
                        .outcome = PROTO_OUTCOME_DELIVERED,
                        .dverstat = PROTO_MSG_VERSTAT_PASSED + 1,
                        .dreason = REASON_OK + 1};
        memcpy(d.id, j.id, 16);
        TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
        TU_REQUIRE(store_db_done(db, txn, &d, 3700, &s_sc, 0, &dres) ==
                   SG_OK);
        TU_REQUIRE(store_db_commit(db, &txn) == SG_OK);
    }
    TU_INTEQ(s_state(db, 1, &r), PROTO_STATE_DONE);
    TU_INTEQ(r.dverstat, PROTO_MSG_VERSTAT_PASSED + 1);
    TU_INTEQ(r.dreason, REASON_OK + 1);
    TU_INTEQ(r.msg.resign_iat, 1800000100);
    store_db_destroy(&db);
}

/* Format 2 keeps replay claims in replay_exp with an index in memory:
 * rebuilt when the store opens, and put back as it was when a
 * transaction that changed it does not commit. */
TU_TEST(db_replay_index_reopen_and_abort)
{
    const char *dir = s_dir("replay2");
    store_db *db = store_db_open(dir, 1 << 20, 1 << 20);
    uint8_t key[32] = {4, 5, 6}, k2[32] = {7}, k3[32] = {8};
    store_put_result res;
    MDB_txn *txn;
    size_t n;
    int seen = -1;

    TU_REQUIRE(db != NULL);
    TU_CHECK(s_put(db, 1, 7000, key, &res) == SG_OK && res == STORE_PUT_NEW);
    store_db_destroy(&db);
    db = store_db_open(dir, 1 << 20, 1 << 20);
    TU_REQUIRE(db != NULL);
    memset(s_holder, 0, sizeof(s_holder));
    TU_CHECK(s_put(db, 2, 7001, key, &res) == SG_OK &&
             res == STORE_PUT_REPLAY);
    TU_CHECK(s_holder[1] == 1 && s_holder[15] == 0x5a);
    TU_INTEQ(s_stats(db).replay_keys, 1);

    /* A claim made in a transaction that is aborted is not a claim. */
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_replay_check(db, txn, k2, 5000, 8000, &seen) == SG_OK);
    TU_INTEQ(seen, 0);
    store_db_abort(&txn);
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_replay_check(db, txn, k2, 5000, 8000, &seen) == SG_OK);
    TU_INTEQ(seen, 0);
    TU_CHECK(store_db_commit(db, &txn) == SG_OK);
    TU_INTEQ(s_stats(db).replay_keys, 2);
    TU_INTEQ(s_stats(db).replay_index, 2); /* the aborted claim is gone */

    /* A purge in a transaction that is aborted purges nothing: k2 (until
     * 13000) is still claimed, and a claim renewed after its window moves
     * to its new expiry. */
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_replay_check(db, txn, k3, 5000, 13000, &seen) == SG_OK);
    TU_INTEQ(seen, 0);
    TU_CHECK(store_db_commit(db, &txn) == SG_OK);
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_tick(db, txn, 14000, &s_sc, 1000, &n) == SG_OK);
    store_db_abort(&txn);
    TU_INTEQ(s_stats(db).replay_keys, 3);
    TU_INTEQ(s_stats(db).replay_index, 3);
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_replay_check(db, txn, k2, 5000, 12999, &seen) == SG_OK);
    TU_INTEQ(seen, 1);
    TU_CHECK(store_db_commit(db, &txn) == SG_OK);
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_replay_check(db, txn, k2, 5000, 13001, &seen) == SG_OK);
    TU_INTEQ(seen, 0); /* expired: claimed again until 18001 */
    TU_CHECK(store_db_commit(db, &txn) == SG_OK);
    TU_INTEQ(s_stats(db).replay_keys, 3);
    s_tick(db, 18000); /* k3 (18000) goes, key (67000) stays... */
    TU_INTEQ(s_stats(db).replay_keys, 2);
    s_tick(db, 18001); /* ...k2's renewed claim goes */
    TU_INTEQ(s_stats(db).replay_keys, 1);
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_replay_check(db, txn, k3, 5000, 18001, &seen) == SG_OK);
    TU_INTEQ(seen, 0);
    TU_CHECK(store_db_replay_check(db, txn, key, 5000, 18001, &seen) ==
             SG_OK);
    TU_INTEQ(seen, 1);
    store_db_abort(&txn);
    store_db_destroy(&db);
}

/* A format-1 store (replay: key -> expiry LE + id, replay_exp: expiry BE
 * + key -> empty) is migrated when opened; its claims still hold. */
TU_TEST(db_format_1_is_migrated)
{
    const char *dir = s_dir("fmt1");
    static const char *const names[] = {"msg",    "due",        "lease",
                                        "expire", "purge",      "replay",
                                        "replay_exp", "quarantine", "meta"};
    MDB_dbi dbi[SG_NELEM(names)];
    uint8_t key[32] = {0xaa, 1}, stale[32] = {0xbb}, fmt[4], rv[24],
            ek[40];
    MDB_val k, v;
    MDB_env *env;
    MDB_txn *txn;
    store_put_result res;
    store_db *db;
    int seen = -1;

    TU_REQUIRE(mkdir(dir, 0700) == 0);
    TU_REQUIRE(mdb_env_create(&env) == 0);
    TU_REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
    TU_REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
    TU_REQUIRE(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    for (size_t i = 0; i < SG_NELEM(names); i++)
        TU_REQUIRE(mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi[i]) == 0);
    proto_put_u32(fmt, 1);
    k.mv_size = 6, k.mv_data = "format", v.mv_size = 4, v.mv_data = fmt;
    TU_REQUIRE(mdb_put(txn, dbi[8], &k, &v, 0) == 0);
    /* key: claimed by message 0x0009...5a until 50000. */
    proto_put_u64(rv, 50000);
    memset(rv + 8, 0, 16);
    rv[9] = 9;
    rv[23] = 0x5a;
    k.mv_size = 32, k.mv_data = key, v.mv_size = 24, v.mv_data = rv;
    TU_REQUIRE(mdb_put(txn, dbi[5], &k, &v, 0) == 0);
    for (int i = 0; i < 8; i++)
        ek[i] = (uint8_t)((uint64_t)50000 >> (8 * (7 - i)));
    memcpy(ek + 8, key, 32);
    k.mv_size = 40, k.mv_data = ek, v.mv_size = 0, v.mv_data = NULL;
    TU_REQUIRE(mdb_put(txn, dbi[6], &k, &v, 0) == 0);
    /* An expiry entry with no claim behind it: dropped. */
    memcpy(ek + 8, stale, 32);
    TU_REQUIRE(mdb_put(txn, dbi[6], &k, &v, 0) == 0);
    TU_REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);

    db = store_db_open(dir, 1 << 20, 1 << 20);
    TU_REQUIRE(db != NULL);
    TU_INTEQ(s_stats(db).replay_keys, 1);
    memset(s_holder, 0, sizeof(s_holder));
    TU_CHECK(s_put(db, 3, 40000, key, &res) == SG_OK &&
             res == STORE_PUT_REPLAY);
    TU_CHECK(s_holder[1] == 9 && s_holder[15] == 0x5a);
    TU_REQUIRE(store_db_begin(db, &txn) == SG_OK);
    TU_CHECK(store_db_replay_check(db, txn, stale, 5000, 40000, &seen) ==
             SG_OK);
    TU_INTEQ(seen, 0);
    store_db_abort(&txn);
    store_db_destroy(&db);

    /* Format 2 now, and no replay database left. */
    TU_REQUIRE(mdb_env_create(&env) == 0);
    TU_REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
    TU_REQUIRE(mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0);
    TU_REQUIRE(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
    TU_REQUIRE(mdb_dbi_open(txn, "meta", 0, &dbi[8]) == 0);
    k.mv_size = 6, k.mv_data = "format";
    TU_REQUIRE(mdb_get(txn, dbi[8], &k, &v) == 0 && v.mv_size == 4);
    TU_INTEQ(proto_get_u32(v.mv_data), STORE_DB_FORMAT);
    TU_INTEQ(mdb_dbi_open(txn, "replay", 0, &dbi[5]), MDB_NOTFOUND);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}
