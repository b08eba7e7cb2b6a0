/* Unit tests: the store record codec and scheduler arithmetic. */
#include "store/store_record.h"
#include "lib/sg.h"

#include <stdlib.h>
#include "lib/sg_crc32c.h"
#include "store/store_sched.h"
#include "tests/unit/tu.h"

static uint8_t *
s_env(size_t *n)
{
    proto_msg m;

    memset(&m, 0, sizeof(m));
    m.id[0] = 0x42;
    m.from.p = (const uint8_t *)"+1";
    m.from.len = 2;
    m.to.p = (const uint8_t *)"+2";
    m.to.len = 2;
    m.body.p = (const uint8_t *)"hello";
    m.body.len = 5;
    return proto_msg_encode_new(&m, n);
}

TU_TEST(crc32c_known_vector)
{
    TU_INTEQ(sg_crc32c(0, "123456789", 9), 0xE3069283u);
    /* Chaining equals one pass; the slicing path equals the byte path. */
    TU_INTEQ(sg_crc32c(sg_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    TU_INTEQ(sg_crc32c(0, "", 0), 0);
}

TU_TEST(record_round_trip)
{
    size_t en, n;
    uint8_t *env = s_env(&en), buf[1024];
    store_record r = {.state = PROTO_STATE_DEAD,
                      .dead_reason = STORE_DEAD_FAILED,
                      .attempts = 7,
                      .created_ms = 1,
                      .next_due_ms = 2,
                      .lease_until_ms = 3,
                      .expire_ms = 4,
                      .keep_until_ms = 5,
                      .updated_ms = 6,
                      .last_error = {(const uint8_t *)"550 no", 6},
                      .env = env,
                      .env_len = en},
                 d;

    n = store_record_encode(&r, buf, sizeof(buf));
    TU_INTEQ(n, STORE_RECORD_HDR + 6 + en);
    TU_CHECK(store_record_decode(buf, n, &d) == NULL);
    TU_INTEQ(d.state, PROTO_STATE_DEAD);
    TU_INTEQ(d.dead_reason, STORE_DEAD_FAILED);
    TU_INTEQ(d.attempts, 7);
    TU_INTEQ(d.keep_until_ms, 5);
    TU_CHECK(d.last_error.len == 6);
    TU_INTEQ(d.msg.id[0], 0x42);
    TU_CHECK(d.msg.body.len == 5);
    sg_free(env);
}

TU_TEST(record_every_flipped_byte_is_caught)
{
    size_t en, n;
    uint8_t *env = s_env(&en), buf[1024];
    store_record r = {.state = PROTO_STATE_QUEUED, .env = env, .env_len = en},
                 d;

    n = store_record_encode(&r, buf, sizeof(buf));
    TU_REQUIRE(n > 0);
    /* CRC-32C detects every single-bit error: no flip may pass. */
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1 << bit);
            if (store_record_decode(buf, n, &d) == NULL)
                TU_CHECK(!"a flipped bit passed validation");
            buf[i] ^= (uint8_t)(1 << bit);
        }
    }
    TU_CHECK(store_record_decode(buf, n, &d) == NULL);
    TU_CHECK(store_record_decode(buf, n - 1, &d) != NULL);
    TU_CHECK(store_record_decode(buf, 10, &d) != NULL);
    sg_free(env);
}

TU_TEST(record_rejects_inconsistent_fields)
{
    size_t en;
    uint8_t *env = s_env(&en), buf[1024];
    store_record r = {.state = PROTO_STATE_DEAD, .env = env, .env_len = en};

    /* dead without a reason, a reason without dead, unknown state */
    TU_INTEQ(store_record_encode(&r, buf, sizeof(buf)), 0);
    r.state = PROTO_STATE_QUEUED;
    r.dead_reason = STORE_DEAD_LIFETIME;
    TU_INTEQ(store_record_encode(&r, buf, sizeof(buf)), 0);
    r.dead_reason = 0;
    r.state = 9;
    TU_INTEQ(store_record_encode(&r, buf, sizeof(buf)), 0);
    r.state = PROTO_STATE_QUEUED;
    TU_CHECK(store_record_encode(&r, buf, 10) == 0);
    sg_free(env);
}

static const store_sched_conf s_sc = {.backoff_min_ms = 1000,
                                      .backoff_max_ms = 60000,
                                      .lifetime_ms = 86400000,
                                      .dead_keep_ms = 1000,
                                      .lease_ms = 30000};

TU_TEST(sched_backoff_grows_and_stays_in_bounds)
{
    /* Table: attempt -> [lo, hi]. */
    static const struct {
        uint32_t a;
        uint64_t lo, hi;
    } rows[] = {
        {0, 1000, 2000},   {1, 1000, 2000},   {2, 2000, 4000},
        {3, 4000, 8000},   {5, 16000, 32000}, {6, 32000, 60000},
        {7, 45000, 60000}, {40, 45000, 60000}, {UINT32_MAX, 45000, 60000},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        uint64_t lo, hi;
        store_sched_backoff_bounds(&s_sc, rows[i].a, &lo, &hi);
        TU_INTEQ(lo, rows[i].lo);
        TU_INTEQ(hi, rows[i].hi);
        /* The extremes of rnd map to the ends of the interval. */
        TU_INTEQ(store_sched_backoff(&s_sc, rows[i].a, 0), lo);
        TU_INTEQ(store_sched_backoff(&s_sc, rows[i].a, hi - lo), hi);
    }
}

TU_TEST(sched_backoff_is_jittered)
{
    /* Different draws give different delays at every attempt. */
    for (uint32_t a = 1; a < 12; a++) {
        uint64_t d1 = store_sched_backoff(&s_sc, a, 12345);
        uint64_t d2 = store_sched_backoff(&s_sc, a, 987654321);
        TU_CHECK(d1 != d2);
        TU_CHECK(d1 >= s_sc.backoff_min_ms && d1 <= s_sc.backoff_max_ms);
    }
}

TU_TEST(sched_retry_due_respects_retry_after_and_expiry)
{
    /* Retry-After above the backoff wins. */
    TU_INTEQ(store_sched_retry_due(&s_sc, 1000, 1, 50000, UINT64_MAX, 0),
             51000);
    /* Backoff above Retry-After wins. */
    TU_INTEQ(store_sched_retry_due(&s_sc, 1000, 1, 10, UINT64_MAX, 0), 2000);
    /* Never past the expiry. */
    TU_INTEQ(store_sched_retry_due(&s_sc, 1000, 1, 50000, 5000, 0), 5000);
}

TU_TEST(sched_wait_due_grows_with_the_wait)
{
    /* Fresh message: the route's next probe, or backoff_min if later. */
    TU_INTEQ(store_sched_wait_due(&s_sc, 1000, 1000, 5000, UINT64_MAX, 7),
             6000);
    uint64_t f = store_sched_wait_due(&s_sc, 1000, 1000, 0, UINT64_MAX, 7);
    TU_CHECK(f >= 1000 + s_sc.backoff_min_ms &&
             f <= 1000 + s_sc.backoff_min_ms * 5 / 4);
    /* Waited 40 s already: at least 40 more (jitter up to 1/4), however
     * soon the probe. */
    uint64_t w = store_sched_wait_due(&s_sc, 41000, 1000, 5000, UINT64_MAX,
                                      123456789);
    TU_CHECK(w >= 41000 + 40000 && w <= 41000 + 50000);
    TU_CHECK(w != store_sched_wait_due(&s_sc, 41000, 1000, 5000, UINT64_MAX,
                                       987654));
    /* Capped at backoff_max (plus its jitter), and never past expiry. */
    w = store_sched_wait_due(&s_sc, 90000000000ull, 1000, 5000, UINT64_MAX,
                             0);
    TU_INTEQ(w, 90000000000ull + s_sc.backoff_max_ms);
    TU_INTEQ(store_sched_wait_due(&s_sc, 41000, 1000, 5000, 70000, 0),
             70000);
}

TU_TEST(sched_expire_at)
{
    TU_INTEQ(store_sched_expire_at(&s_sc, 1000, 0), 1000 + 86400000);
    TU_INTEQ(store_sched_expire_at(&s_sc, 1000, 5000), 5000);
    TU_INTEQ(store_sched_expire_at(&s_sc, 1000, UINT64_MAX), 1000 + 86400000);
    TU_INTEQ(store_sched_add(UINT64_MAX - 1, 5), UINT64_MAX);
}
