/*
 * tests/tools/metrics_demo.c - lib/sg_metrics.h end to end, for the system
 * test tests/system/test_metrics_format.py and for measuring its cost.
 *
 *   metrics_demo merge DIR
 *       Two fake stages (ingest 0 and deliver 0) with every kind of family
 *       write their snapshots into DIR; a third expected stage (deliver 1)
 *       is not running.  Prints the master's merged exposition.
 *   metrics_demo render
 *       Prints one registry's own rendering (a snapshot without its
 *       first line).
 *   metrics_demo bench
 *       Prints the cost of a counter increment, a histogram observation
 *       and a render of about 300 series.
 */
#include "lib/sg.h"
#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "lib/sg_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const s_peer_outcome[] = {"peer", "outcome", NULL};
static const char *const s_route_outcome[] = {"route", "outcome", NULL};
static const char *const s_state[] = {"state", NULL};
static const char *const s_result[] = {"result", NULL};
static const char *const s_peer[] = {"peer", NULL};
static const double s_lat[] = {SG_METRICS_LATENCY_BUCKETS};
static const double s_fetch[] = {SG_METRICS_FETCH_BUCKETS};
static const double s_batch[] = {SG_METRICS_BATCH_BUCKETS};

/* Families of the shape the stages will declare (DESIGN.md section 5). */
static sg_metrics_t *
s_ingest(void)
{
    sg_metrics_t *m = sg_metrics_new("ingest", "0");
    sg_metrics_family_t *msgs, *lat, *fetch, *cache;

    msgs = sg_metrics_declare(
        m,
        &(sg_metrics_desc_t){.name = "stirgate_ingest_messages_total",
                             .help = "Messages received, by peer and outcome.",
                             .type = SG_METRIC_COUNTER,
                             .labels = s_peer_outcome});
    lat = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_ingest_latency_seconds",
                                .help = "Receive to stored acknowledgement.",
                                .type = SG_METRIC_HISTOGRAM,
                                .labels = s_peer,
                                .buckets = s_lat,
                                .n_buckets = SG_NELEM(s_lat)});
    fetch = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_x5u_fetch_seconds",
                                .help = "x5u certificate fetch time.",
                                .type = SG_METRIC_HISTOGRAM,
                                .buckets = s_fetch,
                                .n_buckets = SG_NELEM(s_fetch)});
    cache = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_x5u_cache_lookups_total",
                                .help = "Certificate cache lookups.",
                                .type = SG_METRIC_COUNTER,
                                .labels = s_result});
    sg_counter_add(sg_metrics_counter(msgs, "carrier-a", "stored", NULL), 40);
    sg_counter_add(sg_metrics_counter(msgs, "carrier-a", "bad_signature", NULL),
                   2);
    /* Outside text in a label: quote, backslash, newline, UTF-8. */
    sg_counter_add(
        sg_metrics_counter(msgs, "odd \"peer\"\\\nn\xc3\xa9", "stored", NULL),
        1);
    for (int i = 0; i < 50; i++)
        sg_hist_observe(sg_metrics_hist(lat, "carrier-a", NULL), 0.0004 * i);
    sg_hist_observe(sg_metrics_hist(fetch, NULL), 0.12);
    sg_counter_add(sg_metrics_counter(cache, "hit", NULL), 39);
    sg_counter_add(sg_metrics_counter(cache, "miss", NULL), 1);
    return m;
}

static sg_metrics_t *
s_deliver(void)
{
    sg_metrics_t *m = sg_metrics_new("deliver", "0");
    sg_metrics_family_t *att, *state, *oldest, *batch, *fetch;

    att = sg_metrics_declare(
        m,
        &(sg_metrics_desc_t){.name = "stirgate_deliver_attempts_total",
                             .help = "Delivery attempts, by route and outcome.",
                             .type = SG_METRIC_COUNTER,
                             .labels = s_route_outcome});
    state = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_deliver_jobs",
                                .help = "Jobs held, by state.",
                                .type = SG_METRIC_GAUGE,
                                .labels = s_state});
    oldest = sg_metrics_declare(
        m,
        &(sg_metrics_desc_t){.name = "stirgate_deliver_oldest_job_age_seconds",
                             .help = "Age of the oldest job held.",
                             .type = SG_METRIC_GAUGE});
    batch = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_deliver_batch_jobs",
                                .help = "Jobs per credit grant.",
                                .type = SG_METRIC_HISTOGRAM,
                                .buckets = s_batch,
                                .n_buckets = SG_NELEM(s_batch)});
    /* The same family as the ingest stage's: merged into one block. */
    fetch = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_x5u_fetch_seconds",
                                .help = "x5u certificate fetch time.",
                                .type = SG_METRIC_HISTOGRAM,
                                .buckets = s_fetch,
                                .n_buckets = SG_NELEM(s_fetch)});
    sg_counter_add(sg_metrics_counter(att, "sip-out", "delivered", NULL), 30);
    sg_counter_add(sg_metrics_counter(att, "webhook", "retry", NULL), 3);
    sg_gauge_set(sg_metrics_gauge(state, "leased", NULL), 4);
    sg_gauge_set(sg_metrics_gauge(state, "sending", NULL), 1);
    sg_gauge_set(sg_metrics_gauge(oldest, NULL), 0.25);
    sg_hist_observe(sg_metrics_hist(batch, NULL), 16);
    sg_hist_observe(sg_metrics_hist(fetch, NULL), 2.5);
    return m;
}

static int
s_merge(const char *dir)
{
    sg_metrics_t *in = s_ingest(), *de = s_deliver();
    sg_metrics_t *self = sg_metrics_new("master", "0");
    uint64_t now = sg_clock_wall_ms();
    const sg_metrics_expect_t expect[] = {
        {"ingest", "0", getpid()},
        {"deliver", "0", getpid()},
        {"deliver", "1", 0},
    };
    char *out;
    int rc = 0;

    if (sg_metrics_write_snapshot(in, dir, now) != SG_OK ||
        sg_metrics_write_snapshot(de, dir, now) != SG_OK)
        rc = 1;
    out = sg_metrics_merge(self, dir, expect, SG_NELEM(expect), now, 5000);
    fputs(out, stdout);
    free(out);
    sg_metrics_destroy(&in);
    sg_metrics_destroy(&de);
    sg_metrics_destroy(&self);
    return rc;
}

static double
s_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
s_bench(void)
{
    enum { N_INC = 100000000, N_OBS = 20000000, N_RENDER = 2000 };
    sg_metrics_t *m = sg_metrics_new("bench", "0");
    sg_metrics_family_t *c, *g, *h;
    sg_counter_t *cs[150];
    sg_hist_t *hs[4];
    size_t lines = 0, bytes = 0;
    char v[24], *text;
    double t;

    c = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_bench_events_total",
                                .help = "Events.",
                                .type = SG_METRIC_COUNTER,
                                .labels = s_peer});
    g = sg_metrics_declare(m,
                           &(sg_metrics_desc_t){.name = "stirgate_bench_level",
                                                .help = "Level.",
                                                .type = SG_METRIC_GAUGE,
                                                .labels = s_peer});
    h = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_bench_latency_seconds",
                                .help = "Latency.",
                                .type = SG_METRIC_HISTOGRAM,
                                .labels = s_peer,
                                .buckets = s_lat,
                                .n_buckets = SG_NELEM(s_lat)});
    for (int i = 0; i < 150; i++) {
        snprintf(v, sizeof(v), "peer-%03d", i);
        cs[i] = sg_metrics_counter(c, v, NULL);
        if (i < 100)
            sg_gauge_set(sg_metrics_gauge(g, v, NULL), i * 1.5);
        if (i < 4)
            hs[i] = sg_metrics_hist(h, v, NULL);
    }

    t = s_now();
    for (unsigned i = 0; i < N_INC; i++)
        sg_counter_add(cs[i % 150], 1);
    t = s_now() - t;
    printf("counter add: %.2f ns/op (%u ops, value check %llu)\n",
           t * 1e9 / N_INC, (unsigned)N_INC, (unsigned long long)cs[0]->value);

    t = s_now();
    for (unsigned i = 0; i < N_OBS; i++)
        sg_hist_observe(hs[i & 3], (double)(i % 1000) * 0.0001);
    t = s_now() - t;
    printf("hist observe: %.2f ns/op\n", t * 1e9 / N_OBS);

    text = sg_metrics_render(m);
    for (const char *p = text; *p != '\0'; p = strchr(p, '\n') + 1)
        if (*p != '#')
            lines++;
    bytes = strlen(text);
    free(text);
    t = s_now();
    for (int i = 0; i < N_RENDER; i++) {
        text = sg_metrics_render(m);
        free(text);
    }
    t = s_now() - t;
    printf("render: %.1f us for %zu series (%zu bytes)\n", t * 1e6 / N_RENDER,
           lines, bytes);

    /*
     * The master's side: 8 stages of this size merged per scrape (one
     * snapshot, hard-linked under the 8 instance names).
     */
    {
        char dir[] = "/tmp/sg-metrics-bench-XXXXXX", src[64], path[64];
        static const char *const inst[8] = {"0", "1", "2", "3",
                                            "4", "5", "6", "7"};
        sg_metrics_expect_t e[8];
        size_t out_n = 0;

        if (mkdtemp(dir) == NULL ||
            sg_metrics_write_snapshot(m, dir, sg_clock_wall_ms()) != SG_OK)
            return 1;
        snprintf(src, sizeof(src), "%s/bench-0.prom", dir);
        for (int i = 0; i < 8; i++) {
            e[i] = (sg_metrics_expect_t){"bench", inst[i], getpid()};
            snprintf(path, sizeof(path), "%s/bench-%d.prom", dir, i);
            if (i > 0 && link(src, path) != 0)
                return 1;
        }
        t = s_now();
        for (int i = 0; i < 200; i++) {
            text = sg_metrics_merge(NULL, dir, e, 8, sg_clock_wall_ms(), 60000);
            out_n = strlen(text);
            free(text);
        }
        t = s_now() - t;
        printf("merge: %.0f us for 8 snapshots of %zu series (%zu bytes "
               "out)\n",
               t * 1e6 / 200, lines, out_n);
        for (int i = 0; i < 8; i++) {
            snprintf(path, sizeof(path), "%s/bench-%d.prom", dir, i);
            unlink(path);
        }
        rmdir(dir);
    }
    sg_metrics_destroy(&m);
    return 0;
}

int
main(int argc, char **argv)
{
    sg_log_init("metrics_demo", SG_LOG_WARN);
    if (argc == 3 && strcmp(argv[1], "merge") == 0)
        return s_merge(argv[2]);
    if (argc == 2 && strcmp(argv[1], "render") == 0) {
        sg_metrics_t *m = s_deliver();
        char *text = sg_metrics_render(m);
        fputs(text, stdout);
        free(text);
        sg_metrics_destroy(&m);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "bench") == 0)
        return s_bench();
    fprintf(stderr, "usage: metrics_demo merge DIR | render | bench\n");
    return 2;
}
