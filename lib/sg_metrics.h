/*
 * lib/sg_metrics.h - Prometheus metrics for a multi-process gateway
 * (DESIGN.md section 5 "Metrics").
 *
 * Every stage process (store, ingest, each deliver worker) keeps its
 * metrics in one registry in process memory and, on a timer in its loop
 * and once at exit, writes a snapshot file atomically:
 *
 *   RUN_DIR/metrics/<stage>-<instance>.prom
 *
 *   # stirgate-snapshot <unix-ms> <pid>
 *   <the registry in the Prometheus text format 0.0.4>
 *
 * The master serves GET /metrics with sg_metrics_merge(): it reads the
 * snapshot of every stage it expects, adds the labels stage="…" and
 * instance="…" to each sample, groups the samples by family (one HELP/TYPE
 * block per family), and adds stirgate_up{stage,instance} (1 only when the
 * stage runs and its snapshot is fresh) and
 * stirgate_snapshot_age_seconds{stage,instance}.  A stage that is down
 * shows up 0 and none of its samples: it never silently vanishes.
 *
 * Use in a stage:
 *
 *   static const char *const s_outcome[] = {"peer", "outcome", NULL};
 *   static const double s_lat[] = {SG_METRICS_LATENCY_BUCKETS};
 *
 *   m = sg_metrics_new("ingest", "0");
 *   fam = sg_metrics_declare(m, &(sg_metrics_desc_t){
 *       .name = "stirgate_ingest_messages_total",
 *       .help = "Messages received, by peer and outcome.",
 *       .type = SG_METRIC_COUNTER, .labels = s_outcome});
 *   ok = sg_metrics_counter(fam, peer->name, "stored", NULL);  (once)
 *   sg_counter_add(ok, 1);                                     (hot path)
 *   ...every second and at exit:
 *   (void)sg_metrics_write_snapshot(m, dir, sg_clock_wall_ms());
 *
 * Cost: a handle is looked up once (by label values, a binary search over
 * the family's children) and kept; sg_counter_add() and sg_gauge_set()
 * are one inline store, sg_hist_observe() a scan of the bucket bounds.
 * Nothing on that path allocates.
 *
 * Threads: a registry belongs to one thread.  Stages are single-threaded
 * event loops, so values are plain uint64_t / double without atomics; a
 * multi-threaded user would need one registry per thread.
 *
 * Names (checked at declaration; a bad name is a programming error and
 * aborts): metric names are snake_case [a-z_][a-z0-9_]*, in base units
 * (_seconds, _bytes), counters end in _total and nothing else does, no
 * name ends in _bucket/_count/_sum or holds a type name or an abbreviated
 * unit; these are promtool's lint rules, so the merged output passes
 * `promtool check metrics`.  Label names are snake_case and never `le`,
 * `quantile`, `stage` or `instance` (the last two are added by the merge).
 *
 * Cardinality: label values are low-cardinality enums, route names and peer
 * names, never ids or numbers.  Each family holds at most `max_children`
 * label tuples (default 256); past that, and for a value that is not
 * UTF-8 or longer than SG_METRICS_MAX_VALUE bytes, the lookup returns the
 * child whose values are all "other" and counts
 * stirgate_metrics_dropped_labels_total{family="…"}.
 *
 * Prometheus note: a scrape without `honor_labels: true` renames our
 * `instance` label to `exported_instance`, because Prometheus sets its own
 * `instance` (host:port) on every scraped series.
 */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include "lib/sg.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
    SG_METRIC_COUNTER = 1,
    SG_METRIC_GAUGE,
    SG_METRIC_HISTOGRAM,
} sg_metric_type;

/* Limits. */
#define SG_METRICS_MAX_CHILDREN 256        /* default label tuples per family */
#define SG_METRICS_MAX_LABELS 8            /* label names per family */
#define SG_METRICS_MAX_BUCKETS 32          /* histogram bounds (+Inf implied) */
#define SG_METRICS_MAX_VALUE 128           /* bytes of one label value */
#define SG_METRICS_MAX_SNAPSHOT (1u << 20) /* bytes of one snapshot file */
#define SG_METRICS_MAX_EXPECT 1024         /* stages one merge looks at */

/*
 * Bucket presets (upper bounds in the family's unit), for
 *   static const double b[] = {SG_METRICS_LATENCY_BUCKETS};
 * LATENCY: a stage's processing time (0.5 ms … 10 s); FETCH: a network
 * fetch such as x5u (5 ms … 30 s); BATCH: records per group commit.
 */
#define SG_METRICS_LATENCY_BUCKETS                                             \
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,   \
        5, 10
#define SG_METRICS_FETCH_BUCKETS                                               \
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
#define SG_METRICS_BATCH_BUCKETS 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024

/*
 * Metric handles.  The fields are private (read them only in tests); they
 * are in the header so the hot-path operations below inline to one
 * instruction.  A handle stays valid until sg_metrics_destroy().
 */
typedef struct sg_counter {
    uint64_t value;
} sg_counter_t;

typedef struct sg_gauge {
    double value;
} sg_gauge_t;

typedef struct sg_hist {
    const double *bounds; /* the family's, n_bounds of them */
    size_t n_bounds;
    uint64_t *counts; /* per bucket, not cumulative; [n_bounds] is +Inf */
    uint64_t count;
    double sum;
} sg_hist_t;

typedef struct sg_metrics sg_metrics_t;
typedef struct sg_metrics_family sg_metrics_family_t;

/* One family to declare.  Everything is copied by sg_metrics_declare(). */
typedef struct {
    const char *name; /* stirgate_<stage>_<what>_<unit>[_total] */
    const char *help; /* non-empty UTF-8; escaped when rendered */
    sg_metric_type type;
    const char *const *labels; /* label names, NULL-terminated; NULL: none */
    const double *buckets;     /* histogram: strictly increasing, finite */
    size_t n_buckets;          /* histogram: 1 … SG_METRICS_MAX_BUCKETS */
    size_t max_children;       /* 0: SG_METRICS_MAX_CHILDREN */
} sg_metrics_desc_t;

/*
 * A new registry for one process.  `stage` is [a-z][a-z0-9_]* (no '-', so no
 * two stage-instance pairs share a snapshot file name), `instance` is
 * [A-Za-z0-9_.-], not starting with '.' or '-'; both at most 64 bytes.  Invalid
 * names abort. The registry declares stirgate_metrics_dropped_labels_total
 * itself.
 */
sg_metrics_t *sg_metrics_new(const char *stage, const char *instance);

/* Destroy a registry and every handle in it; NULL-safe, sets *self NULL. */
void sg_metrics_destroy(sg_metrics_t **self);

/*
 * Declare a family, once, at start.  Returns a handle valid for the life
 * of the registry.  An invalid description (bad name or label, duplicate
 * name, histogram without buckets) aborts: it is a programming error.
 * A family without labels has its one child from the start, so it is
 * rendered (as 0) before its first use; a labeled family appears once its
 * first child is looked up.
 */
sg_metrics_family_t *sg_metrics_declare(sg_metrics_t *self,
                                        const sg_metrics_desc_t *desc);

/*
 * The child of `fam` for one tuple of label values, created on first use:
 * pass exactly one value per declared label, then NULL.  Call it once and
 * keep the handle; it never returns NULL.  A type mismatch or a wrong
 * number of values aborts.  Past the cardinality cap the "other" child is
 * returned (see the top of this file).
 */
sg_counter_t *sg_metrics_counter(sg_metrics_family_t *fam, ...)
    __attribute__((sentinel));
sg_gauge_t *sg_metrics_gauge(sg_metrics_family_t *fam, ...)
    __attribute__((sentinel));
sg_hist_t *sg_metrics_hist(sg_metrics_family_t *fam, ...)
    __attribute__((sentinel));

static inline void
sg_counter_add(sg_counter_t *c, uint64_t n)
{
    c->value += n;
}

static inline void
sg_gauge_set(sg_gauge_t *g, double v)
{
    g->value = v;
}

static inline void
sg_gauge_add(sg_gauge_t *g, double v)
{
    g->value += v;
}

/*
 * Count one observation (seconds for a latency family).  NaN is ignored:
 * it would turn the sum into NaN for the life of the process.
 */
void sg_hist_observe(sg_hist_t *h, double v);

/*
 * Replace a histogram's state with one kept elsewhere (a library's own
 * counters, copied once per tick): `counts` per bucket, not cumulative,
 * n_counts = the family's bucket count + 1 (the last is +Inf), and the
 * sum of the observations.  A wrong n_counts aborts.  The values must
 * only grow between calls, as a histogram's do.
 */
void sg_hist_load(sg_hist_t *h, const uint64_t *counts, size_t n_counts,
                  double sum);

/*
 * The registry in the text format 0.0.4: families sorted by name, each
 * with HELP and TYPE, children sorted by label values; histograms with
 * cumulative _bucket{le=…} lines ending in le="+Inf", then _sum and
 * _count.  New string; never NULL.
 */
char *sg_metrics_render(const sg_metrics_t *self);

/*
 * Write `dir`/<stage>-<instance>.prom atomically (a temporary file in
 * `dir`, then rename; no fsync: a snapshot lost in a crash is rewritten a
 * second later).  `dir` is created 0700 if missing (its parent must
 * exist).  `now_ms` is the wall clock, sg_clock_wall_ms().  SG_ERR when
 * the file could not be written: logged once when writing starts failing
 * and once when it works again, not on every tick.  Not async-signal-safe:
 * call it from the loop, not from a signal handler.
 */
sg_rc sg_metrics_write_snapshot(sg_metrics_t *self, const char *dir,
                                uint64_t now_ms);

/* ---- the master side --------------------------------------------------*/

/* One stage the master expects, and its pid (0 when it is not running). */
typedef struct {
    const char *stage;
    const char *instance;
    pid_t pid;
} sg_metrics_expect_t;

/*
 * The body of GET /metrics.  For each expected stage (invalid names,
 * duplicates and the pair of `self` are skipped), reads
 * `dir`/<stage>-<instance>.prom (at most SG_METRICS_MAX_SNAPSHOT bytes, a
 * regular file).  The stage is up (and its samples are included) only when its
 * pid is not 0, the snapshot parses, was written by that pid (not by the
 * process before a restart) and is at most `stale_ms` away from `now_ms`
 * (either way: a wall clock stepped back must not keep a hung stage up).
 *
 * Snapshots that are not expected are not read: they are leftovers of an
 * earlier configuration and have no `up` to pair with.
 *
 * `self` is the master's own registry: the merge counts into it
 * stirgate_metrics_bad_snapshots_total (a file that does not parse or is
 * too big; counted on every merge that meets it) and
 * stirgate_metrics_conflicting_families_total (a family whose type differs
 * from the same name met earlier; the later one is skipped), and its own
 * families are merged in with its stage and instance labels.  A conflict
 * met in the master's own families is counted in the next merge's output.
 *
 * Families are sorted by name, each with one HELP/TYPE block (the first
 * help met wins).  New string; never NULL.
 */
char *sg_metrics_merge(sg_metrics_t *self, const char *dir,
                       const sg_metrics_expect_t *expect, size_t n_expect,
                       uint64_t now_ms, uint64_t stale_ms);

/* ---- the snapshot parser (pure; tests/fuzz/fuzz_metrics.c) ------------*/

/* Bytes of the parsed buffer; borrowed from it. */
typedef struct {
    const char *p;
    size_t n;
} sg_metrics_span_t;

typedef struct {
    sg_metrics_span_t name;   /* as written: x, x_bucket, x_sum, x_count */
    sg_metrics_span_t labels; /* between { and }, escaped; n 0 if none */
    sg_metrics_span_t value;  /* as written: 12, 0.5, NaN, +Inf, … */
} sg_metrics_sample_t;

typedef struct {
    sg_metrics_span_t name;
    sg_metrics_span_t help; /* escaped, as written */
    sg_metric_type type;
    sg_metrics_sample_t *samples;
    size_t n_samples;
} sg_metrics_pfamily_t;

typedef struct {
    uint64_t time_ms;
    uint32_t pid;
    sg_metrics_pfamily_t *families;
    size_t n_families;
} sg_metrics_snap_t;

/*
 * Parse a snapshot: exactly the subset sg_metrics_write_snapshot()
 * writes, and nothing else.  The first line is the stirgate-snapshot
 * comment; then families, each "# HELP", "# TYPE" and at least one
 * sample, every line ending in '\n'.  Rejected: other comments, blank
 * lines, timestamps, spaces other than the single separators, unknown
 * escapes, invalid UTF-8, NUL, a family named twice, a sample outside its
 * family, a series twice, the labels `stage`, `instance` and `quantile`,
 * `le` other than on _bucket (where it is required), names that break the
 * declaration rules above.
 *
 * Returns NULL and a new *out (free with sg_metrics_snap_free; its spans
 * borrow `buf`, so keep `buf` while using them), or a static reason and
 * *out NULL.  No I/O, no logging.
 */
const char *sg_metrics_parse(const void *buf, size_t len,
                             sg_metrics_snap_t **out);

/* Free a parsed snapshot; NULL-safe, sets *snap NULL. */
void sg_metrics_snap_free(sg_metrics_snap_t **snap);

#endif
