/* Unit tests: registries, snapshots and the merge (lib/sg_metrics.h). */
#include "lib/sg_metrics.h"
#include "tests/unit/tu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const s_peer_outcome[] = {"peer", "outcome", NULL};
static const char *const s_route[] = {"route", NULL};

static char *
s_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void
s_put_file(const char *dir, const char *name, const char *text)
{
    char *p = s_join(dir, name);
    FILE *f = fopen(p, "w");

    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
    free(p);
}

/* A fresh directory under the test's temporary directory. */
static const char *
s_dir(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];

    snprintf(p, sizeof(buf[0]), "%s/%s", tu_tmpdir(), name);
    mkdir(p, 0700);
    return p;
}

TU_TEST(metrics_render_exact)
{
    static const double lat[] = {0.1, 1};
    sg_metrics_t *m = sg_metrics_new("ingest", "0");
    sg_metrics_family_t *msgs, *queue, *lat_f, *restarts;
    sg_counter_t *ok, *odd;
    sg_hist_t *h;
    char *text;

    restarts = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_ingest_restarts_total",
                                .help = "Restarts.",
                                .type = SG_METRIC_COUNTER});
    msgs = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_ingest_messages_total",
                                .help = "Messages \\ by peer\nand outcome.",
                                .type = SG_METRIC_COUNTER,
                                .labels = s_peer_outcome});
    queue = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_ingest_queue_depth",
                                .help = "Waiting messages.",
                                .type = SG_METRIC_GAUGE});
    lat_f = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_ingest_latency_seconds",
                                .help = "Time to store.",
                                .type = SG_METRIC_HISTOGRAM,
                                .labels = s_route,
                                .buckets = lat,
                                .n_buckets = SG_NELEM(lat)});
    (void)restarts;
    ok = sg_metrics_counter(msgs, "carrier-b", "stored", NULL);
    odd = sg_metrics_counter(msgs, "a\"b\\c\nd", "stored", NULL);
    sg_counter_add(ok, 41);
    sg_counter_add(ok, 1);
    sg_counter_add(odd, 2);
    TU_CHECK(sg_metrics_counter(msgs, "carrier-b", "stored", NULL) == ok);
    sg_gauge_set(sg_metrics_gauge(queue, NULL), 2.5);
    sg_gauge_add(sg_metrics_gauge(queue, NULL), -1);
    h = sg_metrics_hist(lat_f, "r1", NULL);
    sg_hist_observe(h, 0.05);
    sg_hist_observe(h, 0.1); /* le is inclusive */
    sg_hist_observe(h, 0.5);
    sg_hist_observe(h, 5);
    sg_hist_observe(h, NAN); /* ignored */

    text = sg_metrics_render(m);
    TU_STREQ(text,
             "# HELP stirgate_ingest_latency_seconds Time to store.\n"
             "# TYPE stirgate_ingest_latency_seconds histogram\n"
             "stirgate_ingest_latency_seconds_bucket{route=\"r1\",le=\"0.1\"}"
             " 2\n"
             "stirgate_ingest_latency_seconds_bucket{route=\"r1\",le=\"1\"}"
             " 3\n"
             "stirgate_ingest_latency_seconds_bucket{route=\"r1\","
             "le=\"+Inf\"} 4\n"
             "stirgate_ingest_latency_seconds_sum{route=\"r1\"} 5.65\n"
             "stirgate_ingest_latency_seconds_count{route=\"r1\"} 4\n"
             "# HELP stirgate_ingest_messages_total Messages \\\\ by "
             "peer\\nand outcome.\n"
             "# TYPE stirgate_ingest_messages_total counter\n"
             "stirgate_ingest_messages_total{peer=\"a\\\"b\\\\c\\nd\","
             "outcome=\"stored\"} 2\n"
             "stirgate_ingest_messages_total{peer=\"carrier-b\","
             "outcome=\"stored\"} 42\n"
             "# HELP stirgate_ingest_queue_depth Waiting messages.\n"
             "# TYPE stirgate_ingest_queue_depth gauge\n"
             "stirgate_ingest_queue_depth 1.5\n"
             "# HELP stirgate_ingest_restarts_total Restarts.\n"
             "# TYPE stirgate_ingest_restarts_total counter\n"
             "stirgate_ingest_restarts_total 0\n");
    TU_INTEQ(h->count, 4);
    TU_INTEQ(h->counts[0] + h->counts[1] + h->counts[2], h->count);
    free(text);
    sg_metrics_destroy(&m);
    TU_CHECK(m == NULL);
    sg_metrics_destroy(&m);
}

TU_TEST(metrics_values_and_presets)
{
    static const double lat[] = {SG_METRICS_LATENCY_BUCKETS};
    static const double fetch[] = {SG_METRICS_FETCH_BUCKETS};
    static const double batch[] = {SG_METRICS_BATCH_BUCKETS};
    sg_metrics_t *m = sg_metrics_new("store", "0");
    sg_gauge_t *g;
    char *text;

    sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_store_commit_seconds",
                                .help = "Commit time.",
                                .type = SG_METRIC_HISTOGRAM,
                                .buckets = lat,
                                .n_buckets = SG_NELEM(lat)});
    sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_store_fetch_seconds",
                                .help = "Fetch.",
                                .type = SG_METRIC_HISTOGRAM,
                                .buckets = fetch,
                                .n_buckets = SG_NELEM(fetch)});
    sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_store_batch_records",
                                .help = "Records per commit.",
                                .type = SG_METRIC_HISTOGRAM,
                                .buckets = batch,
                                .n_buckets = SG_NELEM(batch)});
    g = sg_metrics_gauge(
        sg_metrics_declare(
            m, &(sg_metrics_desc_t){.name = "stirgate_store_map_bytes",
                                    .help = "Map size.",
                                    .type = SG_METRIC_GAUGE}),
        NULL);
    sg_gauge_set(g, 0.1);
    text = sg_metrics_render(m);
    TU_CHECK(strstr(text, "stirgate_store_map_bytes 0.1\n") != NULL);
    TU_CHECK(strstr(text, "stirgate_store_commit_seconds_bucket{le=\"0.0005\"}"
                          " 0\n") != NULL);
    TU_CHECK(strstr(text, "stirgate_store_commit_seconds_bucket{le=\"+Inf\"}"
                          " 0\n") != NULL);
    TU_CHECK(
        strstr(text, "stirgate_store_fetch_seconds_bucket{le=\"30\"} 0\n") !=
        NULL);
    TU_CHECK(strstr(text, "stirgate_store_batch_records_bucket{le=\"1024\"} "
                          "0\n") != NULL);
    free(text);

    /* Round trip of awkward doubles; infinities and NaN spelled out. */
    sg_gauge_set(g, 1.0 / 3.0);
    text = sg_metrics_render(m);
    TU_CHECK(strstr(text, "stirgate_store_map_bytes 0.33333333333333331\n") !=
             NULL);
    free(text);
    sg_gauge_set(g, INFINITY);
    text = sg_metrics_render(m);
    TU_CHECK(strstr(text, "stirgate_store_map_bytes +Inf\n") != NULL);
    free(text);
    sg_gauge_set(g, NAN);
    text = sg_metrics_render(m);
    TU_CHECK(strstr(text, "stirgate_store_map_bytes NaN\n") != NULL);
    free(text);
    sg_metrics_destroy(&m);
}

TU_TEST(metrics_cardinality_cap)
{
    sg_metrics_t *m = sg_metrics_new("deliver", "3");
    sg_metrics_family_t *f;
    sg_counter_t *a, *b, *c, *d, *o, *bad;
    char *text;

    f = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_deliver_sent_total",
                                .help = "Sent.",
                                .type = SG_METRIC_COUNTER,
                                .labels = s_route,
                                .max_children = 2});
    a = sg_metrics_counter(f, "a", NULL);
    b = sg_metrics_counter(f, "b", NULL);
    c = sg_metrics_counter(f, "c", NULL); /* over the cap */
    d = sg_metrics_counter(f, "d", NULL);
    o = sg_metrics_counter(f, "other", NULL);
    bad = sg_metrics_counter(f, "\xff", NULL); /* not UTF-8 */
    TU_CHECK(a != b && a != c && b != c);
    TU_CHECK(c == d && c == o && c == bad);
    TU_CHECK(sg_metrics_counter(f, "a", NULL) == a);
    sg_counter_add(a, 1);
    sg_counter_add(c, 5);
    text = sg_metrics_render(m);
    /* "other" is requested by name once: 3 redirected lookups counted. */
    TU_STREQ(text,
             "# HELP stirgate_deliver_sent_total Sent.\n"
             "# TYPE stirgate_deliver_sent_total counter\n"
             "stirgate_deliver_sent_total{route=\"a\"} 1\n"
             "stirgate_deliver_sent_total{route=\"b\"} 0\n"
             "stirgate_deliver_sent_total{route=\"other\"} 5\n"
             "# HELP stirgate_metrics_dropped_labels_total Label tuples "
             "redirected to the \"other\" child (cardinality cap or invalid "
             "value), by family.\n"
             "# TYPE stirgate_metrics_dropped_labels_total counter\n"
             "stirgate_metrics_dropped_labels_total{family=\"stirgate_"
             "deliver_sent_total\"} 3\n");
    free(text);
    sg_metrics_destroy(&m);
}

TU_TEST(metrics_cap_default_256)
{
    sg_metrics_t *m = sg_metrics_new("deliver", "0");
    sg_metrics_family_t *f;
    sg_counter_t *first_over;
    char v[24];

    f = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_deliver_peer_total",
                                .help = "Per peer.",
                                .type = SG_METRIC_COUNTER,
                                .labels = s_route});
    for (int i = 0; i < SG_METRICS_MAX_CHILDREN; i++) {
        snprintf(v, sizeof(v), "p%03d", i);
        sg_counter_add(sg_metrics_counter(f, v, NULL), 1);
    }
    first_over = sg_metrics_counter(f, "zzz", NULL);
    TU_CHECK(first_over == sg_metrics_counter(f, "other", NULL));
    TU_CHECK(first_over->value == 0);
    TU_CHECK(sg_metrics_counter(f, "p000", NULL)->value == 1);
    sg_metrics_destroy(&m);
}

TU_TEST(metrics_snapshot_round_trip)
{
    const char *base = s_dir("snap");
    char dir[600], *path, *text, *file;
    sg_metrics_t *m = sg_metrics_new("ingest", "0");
    sg_metrics_family_t *f;
    sg_metrics_snap_t *snap = NULL;
    size_t len;
    char head[64];

    snprintf(dir, sizeof(dir), "%s/metrics", base);
    f = sg_metrics_declare(
        m, &(sg_metrics_desc_t){.name = "stirgate_ingest_messages_total",
                                .help = "Messages.",
                                .type = SG_METRIC_COUNTER,
                                .labels = s_peer_outcome});
    sg_counter_add(sg_metrics_counter(f, "p", "ok", NULL), 7);
    TU_REQUIRE(sg_metrics_write_snapshot(m, dir, 1234567) == SG_OK);
    TU_REQUIRE(sg_metrics_write_snapshot(m, dir, 1234568) == SG_OK);
    path = s_join(dir, "ingest-0.prom");
    file = tu_read_file(path, &len);
    TU_REQUIRE(file != NULL);
    snprintf(head, sizeof(head), "# stirgate-snapshot 1234568 %ld\n",
             (long)getpid());
    TU_CHECK(strncmp(file, head, strlen(head)) == 0);
    text = sg_metrics_render(m);
    TU_STREQ(file + strlen(head), text);

    TU_CHECK(sg_metrics_parse(file, len, &snap) == NULL);
    TU_REQUIRE(snap != NULL);
    TU_INTEQ(snap->time_ms, 1234568);
    TU_INTEQ(snap->pid, getpid());
    TU_INTEQ(snap->n_families, 1);
    TU_INTEQ(snap->families[0].type, SG_METRIC_COUNTER);
    TU_INTEQ(snap->families[0].n_samples, 1);
    TU_CHECK(snap->families[0].samples[0].labels.n ==
             strlen("peer=\"p\",outcome=\"ok\""));
    TU_CHECK(memcmp(snap->families[0].samples[0].value.p, "7", 1) == 0);
    sg_metrics_snap_free(&snap);
    TU_CHECK(snap == NULL);

    /* Only the snapshot is left in the directory: no temporary file. */
    {
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
        TU_CHECK(system(cmd) == 0);
    }
    free(text);
    free(file);
    free(path);
    sg_metrics_destroy(&m);
}

TU_TEST(metrics_snapshot_write_fails)
{
    sg_metrics_t *m = sg_metrics_new("ingest", "0");
    char dir[600];

    snprintf(dir, sizeof(dir), "%s/missing/parent/metrics", tu_tmpdir());
    TU_CHECK(sg_metrics_write_snapshot(m, dir, 1) == SG_ERR);
    TU_CHECK(sg_metrics_write_snapshot(m, dir, 2) == SG_ERR);
    sg_metrics_destroy(&m);
}

/* ---- the parser ---------------------------------------------------------*/

#define HDR "# stirgate-snapshot 5 9\n"
#define CNT "# HELP a_total A.\n# TYPE a_total counter\n"

static const struct {
    const char *text;
    int ok;
} s_parse_cases[] = {
    {HDR, 1},
    {HDR CNT "a_total 1\n", 1},
    {HDR CNT "a_total{x=\"\\\\\\\"\\n\"} 1e+21\n", 1},
    {HDR "# HELP t_seconds T.\n# TYPE t_seconds histogram\n"
         "t_seconds_bucket{le=\"0.5\"} 1\nt_seconds_bucket{le=\"+Inf\"} 1\n"
         "t_seconds_sum 0.25\nt_seconds_count 1\n",
     1},
    {HDR "# HELP h_seconds H.\n# TYPE h_seconds gauge\nh_seconds 1\n", 0},
    {HDR "# HELP g G.\n# TYPE g gauge\ng -Inf\ng{a=\"1\"} NaN\n", 1},
    {"", 0},
    {"# stirgate-snapshot 5\n", 0},
    {"# stirgate-snapshot 5 0\n", 0},
    {"# stirgate-snapshot 99999999999999999999 9\n", 0},
    {"# stirgate-snapshot 18446744073709551615 2147483647\n", 1},
    {"# stirgate-snapshot 0 1\n", 1},
    {"# stirgate-snapshot 05 9\n", 0},
    {"# stirgate-snapshot 5 2147483648\n", 0},
    {"# stirgate-snapshot -5 9\n", 0},
    {HDR CNT "a_total 1", 0},                 /* no final newline */
    {HDR CNT "a_total 1 1700000000000\n", 0}, /* timestamp */
    {HDR CNT "a_total  1\n", 0},
    {HDR CNT "\na_total 1\n", 0}, /* blank line */
    {HDR "# a comment\n" CNT "a_total 1\n", 0},
    {HDR CNT "a_total{x=\"\\t\"} 1\n", 0},  /* unknown escape */
    {HDR CNT "a_total{x=\"\xff\"} 1\n", 0}, /* not UTF-8 */
    {HDR CNT "a_total{x=\"1\",x=\"2\"} 1\n", 0},
    {HDR CNT "a_total{x=\"1\"} 1\na_total{x=\"1\"} 2\n", 0},
    {HDR CNT "a_total{x=\"1\",y=\"2\"} 1\na_total{y=\"2\",x=\"1\"} 2\n", 0},
    {HDR CNT "a_total 1\n" CNT "a_total 2\n", 0},
    {HDR CNT "a_total{le=\"1\"} 1\n", 0},
    {HDR CNT "a_total{stage=\"x\"} 1\n", 0},
    {HDR CNT "a_total{instance=\"x\"} 1\n", 0},
    {HDR CNT "a_total{quantile=\"x\"} 1\n", 0},
    {HDR CNT "a_total{} 1\n", 0},
    {HDR CNT "a_total{x=\"1\",} 1\n", 0},
    {HDR CNT "b_total 1\n", 0},
    {HDR CNT, 0}, /* no samples */
    {HDR CNT "a_total one\n", 0},
    {HDR CNT "a_total 1.\n", 0},
    {HDR "# HELP a A.\n# TYPE a counter\na 1\n", 0},
    {HDR "# HELP a_total A.\n# TYPE a_total gauge\na_total 1\n", 0},
    {HDR "# HELP a_ms A.\n# TYPE a_ms gauge\na_ms 1\n", 0},
    {HDR "# HELP a_milliseconds A.\n# TYPE a_milliseconds gauge\n"
         "a_milliseconds 1\n",
     0},
    {HDR "# HELP a_gauge A.\n# TYPE a_gauge gauge\na_gauge 1\n", 0},
    {HDR "# HELP aB A.\n# TYPE aB gauge\naB 1\n", 0},
    {HDR "# HELP a_count A.\n# TYPE a_count gauge\na_count 1\n", 0},
    {HDR "# HELP a A.\n# TYPE a summary\na 1\n", 0},
    {HDR "# HELP a A.\n# TYPE b gauge\na 1\n", 0},
    {HDR "# HELP a \n# TYPE a gauge\na 1\n", 0},
    {HDR "# HELP a\n# TYPE a gauge\na 1\n", 0},
    {HDR "# HELP a A\\x.\n# TYPE a gauge\na 1\n", 0},
    {HDR "# HELP h H.\n# TYPE h histogram\nh_bucket 1\n", 0},
    {HDR "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", 0},
    {HDR "# HELP h H.\n# TYPE h histogram\nh_sum{le=\"1\"} 1\n", 0},
    {HDR "# HELP h H.\n# TYPE h histogram\nh 1\n", 0},
};

TU_TEST(metrics_parse_table)
{
    for (size_t i = 0; i < SG_NELEM(s_parse_cases); i++) {
        sg_metrics_snap_t *snap = (sg_metrics_snap_t *)1;
        const char *why = sg_metrics_parse(
            s_parse_cases[i].text, strlen(s_parse_cases[i].text), &snap);
        if ((why == NULL) != s_parse_cases[i].ok) {
            tu_fail(__FILE__, __LINE__, "parse verdict");
            tu_note("  case %zu: %s", i, why ? why : "accepted");
        }
        TU_CHECK((why == NULL) == (snap != NULL));
        sg_metrics_snap_free(&snap);
    }
    /* A NUL byte inside is refused even where a C string would end. */
    {
        static const char nul[] = HDR CNT "a_total 1\n\0";
        sg_metrics_snap_t *snap;
        TU_CHECK(sg_metrics_parse(nul, sizeof(nul) - 1, &snap) != NULL);
        TU_CHECK(sg_metrics_parse(nul, sizeof(nul) - 2, &snap) == NULL);
        sg_metrics_snap_free(&snap);
    }
}

/* ---- the merge ----------------------------------------------------------*/

TU_TEST(metrics_merge)
{
    const char *dir = s_dir("merge");
    sg_metrics_t *self = sg_metrics_new("master", "0");
    const sg_metrics_expect_t expect[] = {
        {"ingest", "0", 100},  {"ingest", "1", 101},
        {"deliver", "0", 0},   /* not running, no snapshot */
        {"store", "0", 102},   /* stale */
        {"deliver", "1", 103}, /* corrupt */
        {"ingest", "0", 100},  /* a duplicate: ignored */
        {"../x", "0", 104},    /* not a stage name: ignored */
        {"master", "0", 105},  /* the master itself: ignored */
    };
    char *out;

    s_put_file(dir, "ingest-0.prom",
               "# stirgate-snapshot 1000000 100\n"
               "# HELP stirgate_ingest_messages_total Messages.\n"
               "# TYPE stirgate_ingest_messages_total counter\n"
               "stirgate_ingest_messages_total{outcome=\"ok\"} 3\n"
               "# HELP stirgate_x_seconds X.\n"
               "# TYPE stirgate_x_seconds gauge\n"
               "stirgate_x_seconds 1.5\n");
    /* The same family with another help; x as another type: skipped. */
    s_put_file(dir, "ingest-1.prom",
               "# stirgate-snapshot 999500 101\n"
               "# HELP stirgate_ingest_messages_total Other help.\n"
               "# TYPE stirgate_ingest_messages_total counter\n"
               "stirgate_ingest_messages_total{outcome=\"ok\"} 4\n"
               "# HELP stirgate_x_seconds X as a histogram.\n"
               "# TYPE stirgate_x_seconds histogram\n"
               "stirgate_x_seconds_bucket{le=\"1\"} 1\n"
               "stirgate_x_seconds_bucket{le=\"+Inf\"} 1\n"
               "stirgate_x_seconds_sum 0.5\n"
               "stirgate_x_seconds_count 1\n");
    s_put_file(dir, "store-0.prom",
               "# stirgate-snapshot 900000 102\n"
               "# HELP stirgate_store_messages Stored.\n"
               "# TYPE stirgate_store_messages gauge\n"
               "stirgate_store_messages 12\n");
    s_put_file(dir, "deliver-1.prom", "# stirgate-snapshot 1000000 103\nx");
    /* Not expected: a leftover of an earlier configuration. */
    s_put_file(dir, "deliver-7.prom",
               "# stirgate-snapshot 1000000 107\n"
               "# HELP stirgate_store_messages Stored.\n"
               "# TYPE stirgate_store_messages gauge\n"
               "stirgate_store_messages 99\n");

    out = sg_metrics_merge(self, dir, expect, SG_NELEM(expect), 1000000, 5000);
    TU_STREQ(
        out,
        "# HELP stirgate_ingest_messages_total Messages.\n"
        "# TYPE stirgate_ingest_messages_total counter\n"
        "stirgate_ingest_messages_total{stage=\"ingest\",instance=\"0\","
        "outcome=\"ok\"} 3\n"
        "stirgate_ingest_messages_total{stage=\"ingest\",instance=\"1\","
        "outcome=\"ok\"} 4\n"
        "# HELP stirgate_metrics_bad_snapshots_total Snapshot files skipped "
        "because they were unreadable, too big or did not parse (counted on "
        "every merge that met one).\n"
        "# TYPE stirgate_metrics_bad_snapshots_total counter\n"
        "stirgate_metrics_bad_snapshots_total{stage=\"master\","
        "instance=\"0\"} 1\n"
        "# HELP stirgate_metrics_conflicting_families_total Families skipped "
        "because a family of the same name and another type came first.\n"
        "# TYPE stirgate_metrics_conflicting_families_total counter\n"
        "stirgate_metrics_conflicting_families_total{stage=\"master\","
        "instance=\"0\"} 1\n"
        "# HELP stirgate_snapshot_age_seconds Seconds since the stage wrote "
        "its last metrics snapshot.\n"
        "# TYPE stirgate_snapshot_age_seconds gauge\n"
        "stirgate_snapshot_age_seconds{stage=\"ingest\",instance=\"0\"} 0\n"
        "stirgate_snapshot_age_seconds{stage=\"ingest\",instance=\"1\"} 0.5\n"
        "stirgate_snapshot_age_seconds{stage=\"store\",instance=\"0\"} 100\n"
        "# HELP stirgate_up 1 when the stage runs and its metrics snapshot is "
        "fresh, else 0.\n"
        "# TYPE stirgate_up gauge\n"
        "stirgate_up{stage=\"ingest\",instance=\"0\"} 1\n"
        "stirgate_up{stage=\"ingest\",instance=\"1\"} 1\n"
        "stirgate_up{stage=\"deliver\",instance=\"0\"} 0\n"
        "stirgate_up{stage=\"store\",instance=\"0\"} 0\n"
        "stirgate_up{stage=\"deliver\",instance=\"1\"} 0\n"
        "# HELP stirgate_x_seconds X.\n"
        "# TYPE stirgate_x_seconds gauge\n"
        "stirgate_x_seconds{stage=\"ingest\",instance=\"0\"} 1.5\n");
    free(out);

    /* Counters of the master count on: 2 bad reads, 2 conflicts now. */
    out = sg_metrics_merge(self, dir, expect, SG_NELEM(expect), 1000000, 5000);
    TU_CHECK(strstr(out, "stirgate_metrics_bad_snapshots_total{stage=\""
                         "master\",instance=\"0\"} 2\n") != NULL);
    TU_CHECK(strstr(out, "stirgate_metrics_conflicting_families_total{stage="
                         "\"master\",instance=\"0\"} 2\n") != NULL);
    free(out);
    sg_metrics_destroy(&self);
}

TU_TEST(metrics_merge_up_rules)
{
    const char *dir = s_dir("merge_up");
    sg_metrics_expect_t e = {"ingest", "0", 100};
    char *out;

    s_put_file(dir, "ingest-0.prom",
               "# stirgate-snapshot 1000000 100\n"
               "# HELP stirgate_up Not ours.\n"
               "# TYPE stirgate_up gauge\n"
               "stirgate_up 1\n"
               "# HELP stirgate_a_total A.\n"
               "# TYPE stirgate_a_total counter\n"
               "stirgate_a_total 1\n");

    /* Fresh and the right pid: up, its own stirgate_up refused. */
    out = sg_metrics_merge(NULL, dir, &e, 1, 1000000, 5000);
    TU_CHECK(strstr(out, "stirgate_a_total{stage=\"ingest\",instance=\"0\"}"
                         " 1\n") != NULL);
    TU_CHECK(strstr(out, "stirgate_up{stage=\"ingest\",instance=\"0\"} 1\n") !=
             NULL);
    TU_CHECK(strstr(out, "\nstirgate_up 1\n") == NULL);
    free(out);

    /* Exactly stale_ms old: still fresh (inclusive). */
    out = sg_metrics_merge(NULL, dir, &e, 1, 1005000, 5000);
    TU_CHECK(strstr(out, "stirgate_up{stage=\"ingest\",instance=\"0\"} 1\n") !=
             NULL);
    free(out);
    out = sg_metrics_merge(NULL, dir, &e, 1, 1005001, 5000);
    TU_CHECK(strstr(out, "stirgate_up{stage=\"ingest\",instance=\"0\"} 0\n") !=
             NULL);
    free(out);

    /* The snapshot of the process before a restart: up 0, no samples. */
    e.pid = 200;
    out = sg_metrics_merge(NULL, dir, &e, 1, 1000000, 5000);
    TU_CHECK(strstr(out, "stirgate_up{stage=\"ingest\",instance=\"0\"} 0\n") !=
             NULL);
    TU_CHECK(strstr(out, "stirgate_a_total") == NULL);
    TU_CHECK(strstr(out, "stirgate_snapshot_age_seconds{stage=\"ingest\","
                         "instance=\"0\"} 0\n") != NULL);
    free(out);

    /* A wall clock stepped back: a snapshot from the future is stale too. */
    e.pid = 100;
    out = sg_metrics_merge(NULL, dir, &e, 1, 990000, 5000);
    TU_CHECK(strstr(out, "stirgate_up{stage=\"ingest\",instance=\"0\"} 0\n") !=
             NULL);
    TU_CHECK(strstr(out, "instance=\"0\"} -10\n") != NULL);
    free(out);

    /* No directory at all: every stage down, still a valid body. */
    out = sg_metrics_merge(NULL, "/nonexistent/metrics", &e, 1, 1, 5000);
    TU_STREQ(out, "# HELP stirgate_up 1 when the stage runs and its metrics "
                  "snapshot is fresh, else 0.\n"
                  "# TYPE stirgate_up gauge\n"
                  "stirgate_up{stage=\"ingest\",instance=\"0\"} 0\n");
    free(out);
    out = sg_metrics_merge(NULL, dir, NULL, 0, 1, 5000);
    TU_STREQ(out, "");
    free(out);
}

/* The registry's own output through the parser and the merge. */
TU_TEST(metrics_write_then_merge)
{
    const char *dir = s_dir("wm");
    static const double b[] = {SG_METRICS_LATENCY_BUCKETS};
    sg_metrics_t *a = sg_metrics_new("deliver", "0");
    sg_metrics_t *c = sg_metrics_new("deliver", "1");
    sg_metrics_t *self = sg_metrics_new("master", "0");
    sg_metrics_expect_t e[] = {{"deliver", "0", getpid()},
                               {"deliver", "1", getpid()}};
    const sg_metrics_desc_t d = {.name = "stirgate_deliver_latency_seconds",
                                 .help = "Delivery.",
                                 .type = SG_METRIC_HISTOGRAM,
                                 .labels = s_route,
                                 .buckets = b,
                                 .n_buckets = SG_NELEM(b)};
    char *out;

    sg_hist_observe(sg_metrics_hist(sg_metrics_declare(a, &d), "x\"y", NULL),
                    0.003);
    sg_hist_observe(sg_metrics_hist(sg_metrics_declare(c, &d), "z", NULL), 20);
    TU_REQUIRE(sg_metrics_write_snapshot(a, dir, 5000) == SG_OK);
    TU_REQUIRE(sg_metrics_write_snapshot(c, dir, 5000) == SG_OK);
    out = sg_metrics_merge(self, dir, e, 2, 5100, 2000);
    TU_CHECK(strstr(out, "stirgate_deliver_latency_seconds_bucket{stage=\""
                         "deliver\",instance=\"0\",route=\"x\\\"y\","
                         "le=\"0.005\"} 1\n") != NULL);
    TU_CHECK(strstr(out, "stirgate_deliver_latency_seconds_bucket{stage=\""
                         "deliver\",instance=\"1\",route=\"z\","
                         "le=\"10\"} 0\n") != NULL);
    TU_CHECK(strstr(out, "stirgate_deliver_latency_seconds_count{stage=\""
                         "deliver\",instance=\"1\",route=\"z\"} 1\n") != NULL);
    TU_CHECK(strstr(out, "stirgate_snapshot_age_seconds{stage=\"deliver\","
                         "instance=\"1\"} 0.1\n") != NULL);
    free(out);
    sg_metrics_destroy(&a);
    sg_metrics_destroy(&c);
    sg_metrics_destroy(&self);
}

TU_TEST(metrics_hist_load)
{
    static const double b[] = {0.1, 1};
    sg_metrics_t *m = sg_metrics_new("ingest", "0");
    const sg_metrics_desc_t d = {.name = "stirgate_x5u_fetch_duration_seconds",
                                 .help = "Fetches.",
                                 .type = SG_METRIC_HISTOGRAM,
                                 .buckets = b,
                                 .n_buckets = SG_NELEM(b)};
    sg_hist_t *h = sg_metrics_hist(sg_metrics_declare(m, &d), NULL);
    const uint64_t counts[3] = {2, 1, 4};
    char *text;

    sg_hist_load(h, counts, 3, 9.5);
    text = sg_metrics_render(m);
    TU_CHECK(strstr(text, "stirgate_x5u_fetch_duration_seconds_bucket{le=\"0."
                          "1\"} 2\n") != NULL);
    TU_CHECK(strstr(text, "stirgate_x5u_fetch_duration_seconds_bucket{le=\"1"
                          "\"} 3\n") != NULL);
    TU_CHECK(strstr(text, "stirgate_x5u_fetch_duration_seconds_bucket{le=\"+"
                          "Inf\"} 7\n") != NULL);
    TU_CHECK(strstr(text, "stirgate_x5u_fetch_duration_seconds_sum 9.5\n") !=
             NULL);
    TU_CHECK(strstr(text, "stirgate_x5u_fetch_duration_seconds_count 7\n") !=
             NULL);
    free(text);
    sg_metrics_destroy(&m);
}
