/*
 * lib/sg_metrics.c - per-process registries, their text rendering, the
 * snapshot files and the master's merge (lib/sg_metrics.h).
 *
 * The text format is Prometheus' 0.0.4 exposition format.  We render a
 * strict subset of it and the parser accepts exactly that subset, so what
 * the merge emits is what the stages rendered, re-labeled: a snapshot
 * that does not parse is skipped as a whole rather than repaired.
 */
#include "lib/sg_metrics.h"

#include "lib/sg_log.h"
#include "lib/sg_utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAX_NAME 128    /* bytes of a metric or label name */
#define S_MAX_HELP 1024   /* bytes of a help text, unescaped */
#define S_MAX_ID 64       /* bytes of a stage or instance name */
#define S_MAX_NUM 40      /* bytes of a sample value as text */
#define S_PARSE_LABELS 16 /* labels of one parsed sample */

static const char s_up_name[] = "stirgate_up";
static const char s_age_name[] = "stirgate_snapshot_age_seconds";
static const char s_dropped_name[] = "stirgate_metrics_dropped_labels_total";
static const char s_bad_name[] = "stirgate_metrics_bad_snapshots_total";
static const char s_conflict_name[] =
    "stirgate_metrics_conflicting_families_total";

/* ---- a growing string ---------------------------------------------------*/

typedef struct {
    char *p;
    size_t len;
    size_t cap;
} s_buf;

static void
s_buf_reserve(s_buf *b, size_t more)
{
    size_t need;

    if (!sg_add_ok(b->len, more + 1, &need))
        sg_panic("metrics: buffer size overflow");
    if (need <= b->cap)
        return;
    if (b->cap == 0)
        b->cap = 256;
    while (b->cap < need)
        b->cap *= 2;
    b->p = sg_realloc(b->p, b->cap);
}

static void
s_buf_put(s_buf *b, const void *p, size_t n)
{
    s_buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
s_buf_puts(s_buf *b, const char *s)
{
    s_buf_put(b, s, strlen(s));
}

static void
s_buf_putc(s_buf *b, char c)
{
    s_buf_put(b, &c, 1);
}

/* The string, never NULL; the buffer is left empty. */
static char *
s_buf_take(s_buf *b)
{
    char *p;

    if (b->p == NULL)
        return sg_strdup("");
    p = b->p;
    memset(b, 0, sizeof(*b));
    return p;
}

/* ---- numbers ------------------------------------------------------------*/

static size_t
s_fmt_u64(uint64_t v, char *out)
{
    char tmp[24];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

/*
 * The shortest of %.15g and %.17g that reads back as the same double:
 * 0.1 stays "0.1", and no value loses bits on its way to Prometheus.
 * Infinities and NaN are spelled as the text format wants them.
 */
static size_t
s_fmt_double(double v, char *out, size_t outsz)
{
    int n;

    if (isnan(v))
        return (size_t)snprintf(out, outsz, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, outsz, v > 0 ? "+Inf" : "-Inf");
    n = snprintf(out, outsz, "%.15g", v);
    if (strtod(out, NULL) != v)
        n = snprintf(out, outsz, "%.17g", v);
    return (size_t)n;
}

static void
s_buf_u64(s_buf *b, uint64_t v)
{
    char t[24];

    s_buf_put(b, t, s_fmt_u64(v, t));
}

static void
s_buf_double(s_buf *b, double v)
{
    char t[S_MAX_NUM];

    s_buf_put(b, t, s_fmt_double(v, t, sizeof(t)));
}

/* ---- names and text -----------------------------------------------------*/

static int
s_span_is(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

static int
s_ends_with(const char *p, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(p + n - k, suffix, k) == 0;
}

static int
s_in_list(const char *p, size_t n, const char *const *list)
{
    for (; *list != NULL; list++)
        if (s_span_is(p, n, *list))
            return 1;
    return 0;
}

/*
 * promtool's lint rules on the words of a name (promlint: unit
 * abbreviations, non-base units, the type in the name).  Checked here so
 * that a family that would fail `promtool check metrics` cannot be
 * declared, and a snapshot holding one cannot reach the merged output.
 */
static const char *const s_abbrev[] = {"s",  "ms", "us", "ns", "sec",
                                       "b",  "kb", "mb", "gb", "tb",
                                       "pb", "m",  "h",  "d",  NULL};
static const char *const s_types[] = {"counter", "gauge",   "histogram",
                                      "summary", "untyped", NULL};
static const char *const s_nonbase[] = {
    "minutes",    "hours",    "days",   "weeks",  "kelvins",
    "fahrenheit", "rankine",  "inches", "yards",  "miles",
    "bits",       "calories", "pounds", "ounces", NULL};
static const char *const s_units[] = {
    "amperes",    "bytes",    "celsius", "grams",   "joules",
    "kelvin",     "meters",   "metres",  "seconds", "volts",
    "minutes",    "hours",    "days",    "weeks",   "kelvins",
    "fahrenheit", "rankine",  "inches",  "yards",   "miles",
    "bits",       "calories", "pounds",  "ounces",  NULL};
static const char *const s_prefixes[] = {
    "pico",  "nano", "micro", "milli", "centi", "deci", "deca",
    "hecto", "kilo", "kibi",  "mega",  "mebi",  "giga", "gibi",
    "tera",  "tebi", "peta",  "pebi",  NULL};

static const char *
s_word_why(const char *w, size_t n)
{
    if (s_in_list(w, n, s_abbrev))
        return "abbreviated unit in the name";
    if (s_in_list(w, n, s_types))
        return "metric type in the name";
    if (s_in_list(w, n, s_nonbase))
        return "non-base unit in the name";
    for (const char *const *p = s_prefixes; *p != NULL; p++) {
        size_t k = strlen(*p);
        if (n > k && memcmp(w, *p, k) == 0 && s_in_list(w + k, n - k, s_units))
            return "prefixed unit in the name (use the base unit)";
    }
    return NULL;
}

/* A metric family name of `type`; NULL when fine. */
static const char *
s_name_why(const char *p, size_t n, sg_metric_type type)
{
    size_t i, w = 0;
    const char *why;

    if (n == 0 || n > S_MAX_NAME)
        return "metric name empty or too long";
    if (p[0] >= '0' && p[0] <= '9')
        return "metric name starts with a digit";
    for (i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return "metric name not snake_case [a-z0-9_]";
    }
    for (i = 0; i <= n; i++) {
        if (i == n || p[i] == '_') {
            if ((why = s_word_why(p + w, i - w)) != NULL)
                return why;
            w = i + 1;
        }
    }
    if (type == SG_METRIC_COUNTER) {
        if (!s_ends_with(p, n, "_total"))
            return "counter name does not end in _total";
    } else if (s_ends_with(p, n, "_total")) {
        return "non-counter name ends in _total";
    }
    if (s_ends_with(p, n, "_bucket") || s_ends_with(p, n, "_count") ||
        s_ends_with(p, n, "_sum"))
        return "name ends in _bucket, _count or _sum";
    return NULL;
}

/*
 * A label name.  `le` belongs to histogram buckets, `quantile` to
 * summaries, `stage` and `instance` to the merge.
 */
static const char *
s_label_why(const char *p, size_t n)
{
    if (n == 0 || n > S_MAX_NAME)
        return "label name empty or too long";
    if (p[0] >= '0' && p[0] <= '9')
        return "label name starts with a digit";
    if (n >= 2 && p[0] == '_' && p[1] == '_')
        return "label name starts with __";
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return "label name not snake_case [a-z0-9_]";
    }
    if (s_span_is(p, n, "le") || s_span_is(p, n, "quantile") ||
        s_span_is(p, n, "stage") || s_span_is(p, n, "instance"))
        return "reserved label name";
    return NULL;
}

/* Text we escape (help, label values): UTF-8, no controls but '\n'. */
static int
s_text_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 && p[i] != '\n')
            return 0;
    return sg_utf8_valid((const unsigned char *)p, n);
}

/* Stage: [a-z][a-z0-9_]*.  Instance: [A-Za-z0-9_][A-Za-z0-9_.-]*. */
static int
s_id_ok(const char *s, int is_stage)
{
    size_t n = strlen(s);

    if (n == 0 || n > S_MAX_ID)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!is_stage)
            ok = ok || (c >= 'A' && c <= 'Z') ||
                 (i > 0 && (c == '.' || c == '-'));
        else if (i == 0)
            ok = c >= 'a' && c <= 'z';
        if (!ok)
            return 0;
    }
    return 1;
}

static void
s_escape(s_buf *b, const char *s, size_t n, int quote)
{
    size_t run = 0;

    /* Runs of plain bytes in one copy: most text needs no escape. */
    for (size_t i = 0; i < n; i++) {
        const char *esc = s[i] == '\\'           ? "\\\\"
                          : s[i] == '\n'         ? "\\n"
                          : quote && s[i] == '"' ? "\\\""
                                                 : NULL;
        if (esc == NULL)
            continue;
        s_buf_put(b, s + run, i - run);
        s_buf_put(b, esc, 2);
        run = i + 1;
    }
    s_buf_put(b, s + run, n - run);
}

/* ---- the registry -------------------------------------------------------*/

typedef struct {
    char **values;
    char *ltext; /* `a="x",b="y"`, escaped; "" without labels */
    size_t ltext_n;
    union {
        sg_counter_t c;
        sg_gauge_t g;
        sg_hist_t h;
    } u;
} s_child;

struct sg_metrics_family {
    sg_metrics_t *reg;
    char *name;
    char *help; /* escaped */
    sg_metric_type type;
    char **labels;
    size_t n_labels;
    double *bounds;
    char **le; /* bounds as text, then "+Inf" */
    size_t n_bounds;
    size_t max_children;
    s_child **children; /* sorted by values */
    size_t n_children;
    size_t cap_children;
    bool warned; /* the cardinality warning was logged */
};

struct sg_metrics {
    char *stage;
    char *instance;
    sg_metrics_family_t **fams; /* sorted by name */
    size_t n_fams;
    sg_metrics_family_t *dropped;
    int write_errno; /* errno of the failing snapshot write; 0: working */
};

static const char *const s_family_label[] = {"family", NULL};

sg_metrics_t *
sg_metrics_new(const char *stage, const char *instance)
{
    sg_metrics_t *self;

    if (!s_id_ok(stage, 1) || !s_id_ok(instance, 0))
        sg_panic("metrics: invalid stage or instance name");
    self = sg_calloc(1, sizeof(*self));
    self->stage = sg_strdup(stage);
    self->instance = sg_strdup(instance);
    self->dropped = sg_metrics_declare(
        self, &(sg_metrics_desc_t){
                  .name = s_dropped_name,
                  .help = "Label tuples redirected to the \"other\" child "
                          "(cardinality cap or invalid value), by family.",
                  .type = SG_METRIC_COUNTER,
                  .labels = s_family_label});
    return self;
}

static void
s_child_free(const sg_metrics_family_t *fam, s_child *c)
{
    for (size_t i = 0; i < fam->n_labels; i++)
        sg_free(c->values[i]);
    sg_free(c->values);
    sg_free(c->ltext);
    if (fam->type == SG_METRIC_HISTOGRAM)
        sg_free(c->u.h.counts);
    sg_free(c);
}

static void
s_family_free(sg_metrics_family_t *fam)
{
    for (size_t i = 0; i < fam->n_children; i++)
        s_child_free(fam, fam->children[i]);
    sg_free(fam->children);
    for (size_t i = 0; i < fam->n_labels; i++)
        sg_free(fam->labels[i]);
    sg_free(fam->labels);
    if (fam->le != NULL)
        for (size_t i = 0; i <= fam->n_bounds; i++)
            sg_free(fam->le[i]);
    sg_free(fam->le);
    sg_free(fam->bounds);
    sg_free(fam->name);
    sg_free(fam->help);
    sg_free(fam);
}

void
sg_metrics_destroy(sg_metrics_t **self)
{
    sg_metrics_t *m;

    if (self == NULL || *self == NULL)
        return;
    m = *self;
    for (size_t i = 0; i < m->n_fams; i++)
        s_family_free(m->fams[i]);
    sg_free(m->fams);
    sg_free(m->stage);
    sg_free(m->instance);
    sg_free(m);
    *self = NULL;
}

/* Index of `name` in the sorted family list, or where it would go. */
static size_t
s_family_pos(const sg_metrics_t *self, const char *name, int *found)
{
    size_t lo = 0, hi = self->n_fams;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(self->fams[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static s_child *s_lookup(sg_metrics_family_t *fam, const char *const *vals,
                         int count_drops);

sg_metrics_family_t *
sg_metrics_declare(sg_metrics_t *self, const sg_metrics_desc_t *d)
{
    sg_metrics_family_t *fam;
    const char *why;
    size_t n_labels = 0, pos;
    int found;
    s_buf help = {0};

    why = s_name_why(d->name, strlen(d->name), d->type);
    if (why == NULL &&
        (d->type < SG_METRIC_COUNTER || d->type > SG_METRIC_HISTOGRAM))
        why = "unknown type";
    if (why == NULL &&
        (strcmp(d->name, s_up_name) == 0 || strcmp(d->name, s_age_name) == 0))
        why = "name reserved for the merge";
    if (why == NULL &&
        (d->help == NULL || d->help[0] == '\0' ||
         strlen(d->help) > S_MAX_HELP || !s_text_ok(d->help, strlen(d->help))))
        why = "help empty, too long, or not UTF-8 text";
    if (why == NULL && d->labels != NULL) {
        for (; d->labels[n_labels] != NULL && why == NULL; n_labels++) {
            const char *l = d->labels[n_labels];
            if (n_labels == SG_METRICS_MAX_LABELS)
                why = "too many labels";
            else if ((why = s_label_why(l, strlen(l))) == NULL)
                for (size_t j = 0; j < n_labels; j++)
                    if (strcmp(d->labels[j], l) == 0)
                        why = "label declared twice";
        }
    }
    if (why == NULL && d->type == SG_METRIC_HISTOGRAM) {
        if (d->buckets == NULL || d->n_buckets == 0 ||
            d->n_buckets > SG_METRICS_MAX_BUCKETS)
            why = "histogram needs 1..SG_METRICS_MAX_BUCKETS buckets";
        for (size_t i = 0; why == NULL && i < d->n_buckets; i++)
            if (!isfinite(d->buckets[i]) ||
                (i > 0 && !(d->buckets[i] > d->buckets[i - 1])))
                why = "bucket bounds not finite and strictly increasing";
    } else if (why == NULL && (d->buckets != NULL || d->n_buckets != 0)) {
        why = "buckets on a non-histogram";
    }
    if (why == NULL) {
        pos = s_family_pos(self, d->name, &found);
        if (found)
            why = "family declared twice";
    }
    if (why != NULL)
        sg_panic("metrics: family %s: %s", d->name, why);

    fam = sg_calloc(1, sizeof(*fam));
    fam->reg = self;
    fam->name = sg_strdup(d->name);
    s_escape(&help, d->help, strlen(d->help), 0);
    fam->help = s_buf_take(&help);
    fam->type = d->type;
    fam->n_labels = n_labels;
    fam->labels = sg_calloc(n_labels, sizeof(char *));
    for (size_t i = 0; i < n_labels; i++)
        fam->labels[i] = sg_strdup(d->labels[i]);
    if (d->type == SG_METRIC_HISTOGRAM) {
        char t[S_MAX_NUM];
        fam->n_bounds = d->n_buckets;
        fam->bounds = sg_memdup(d->buckets, d->n_buckets * sizeof(double));
        fam->le = sg_calloc(d->n_buckets + 1, sizeof(char *));
        for (size_t i = 0; i < d->n_buckets; i++) {
            s_fmt_double(d->buckets[i], t, sizeof(t));
            fam->le[i] = sg_strdup(t);
        }
        fam->le[d->n_buckets] = sg_strdup("+Inf");
    }
    fam->max_children =
        d->max_children ? d->max_children : SG_METRICS_MAX_CHILDREN;

    self->fams = sg_realloc(self->fams, (self->n_fams + 1) * sizeof(*fam));
    memmove(self->fams + pos + 1, self->fams + pos,
            (self->n_fams - pos) * sizeof(*self->fams));
    self->fams[pos] = fam;
    self->n_fams++;

    if (n_labels == 0)
        (void)s_lookup(fam, NULL, 0);
    return fam;
}

static int
s_tuple_cmp(const sg_metrics_family_t *fam, char *const *a,
            const char *const *b)
{
    for (size_t i = 0; i < fam->n_labels; i++) {
        int c = strcmp(a[i], b[i]);
        if (c != 0)
            return c;
    }
    return 0;
}

static size_t
s_child_pos(const sg_metrics_family_t *fam, const char *const *vals, int *found)
{
    size_t lo = 0, hi = fam->n_children;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = s_tuple_cmp(fam, fam->children[mid]->values, vals);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static s_child *
s_child_insert(sg_metrics_family_t *fam, size_t pos, const char *const *vals)
{
    s_child *c = sg_calloc(1, sizeof(*c));
    s_buf lt = {0};

    c->values = sg_calloc(fam->n_labels, sizeof(char *));
    for (size_t i = 0; i < fam->n_labels; i++) {
        c->values[i] = sg_strdup(vals[i]);
        if (i > 0)
            s_buf_putc(&lt, ',');
        s_buf_puts(&lt, fam->labels[i]);
        s_buf_put(&lt, "=\"", 2);
        s_escape(&lt, vals[i], strlen(vals[i]), 1);
        s_buf_putc(&lt, '"');
    }
    c->ltext_n = lt.len;
    c->ltext = s_buf_take(&lt);
    if (fam->type == SG_METRIC_HISTOGRAM) {
        c->u.h.bounds = fam->bounds;
        c->u.h.n_bounds = fam->n_bounds;
        c->u.h.counts = sg_calloc(fam->n_bounds + 1, sizeof(uint64_t));
    }
    if (fam->n_children == fam->cap_children) {
        fam->cap_children = fam->cap_children ? 2 * fam->cap_children : 8;
        fam->children =
            sg_realloc(fam->children, fam->cap_children * sizeof(s_child *));
    }
    memmove(fam->children + pos + 1, fam->children + pos,
            (fam->n_children - pos) * sizeof(s_child *));
    fam->children[pos] = c;
    fam->n_children++;
    return c;
}

static void
s_count_drop(sg_metrics_family_t *fam)
{
    const char *v[1] = {fam->name};
    s_child *c;

    if (!fam->warned) {
        sg_warn("metrics",
                "family %s: a label value is invalid or the family has "
                "%zu label tuples already; counting into \"other\"",
                fam->name, fam->max_children);
        fam->warned = true;
    }
    c = s_lookup(fam->reg->dropped, v, fam != fam->reg->dropped);
    c->u.c.value++;
}

/*
 * The child for `vals`.  The "other" tuple lives in the same sorted list
 * as every other tuple, one past the cap, so a real tuple that happens to
 * be all "other" is the same series and never a duplicate one.
 */
_Static_assert(SG_METRICS_MAX_LABELS == 8, "one \"other\" per label");

static s_child *
s_lookup(sg_metrics_family_t *fam, const char *const *vals, int count_drops)
{
    static const char *const others[SG_METRICS_MAX_LABELS] = {
        "other", "other", "other", "other", "other", "other", "other", "other"};
    int found, valid = 1;
    size_t pos;

    for (size_t i = 0; i < fam->n_labels && valid; i++) {
        size_t n = strlen(vals[i]);
        valid = n <= SG_METRICS_MAX_VALUE && s_text_ok(vals[i], n);
    }
    if (valid) {
        pos = s_child_pos(fam, vals, &found);
        if (found)
            return fam->children[pos];
        if (fam->n_children < fam->max_children)
            return s_child_insert(fam, pos, vals);
    }
    if (count_drops)
        s_count_drop(fam);
    pos = s_child_pos(fam, others, &found);
    if (found)
        return fam->children[pos];
    return s_child_insert(fam, pos, others);
}

static s_child *
s_child_get(sg_metrics_family_t *fam, sg_metric_type want, va_list ap)
{
    const char *vals[SG_METRICS_MAX_LABELS];
    const char *v;
    size_t n = 0;

    if (fam->type != want)
        sg_panic("metrics: family %s used with the wrong type", fam->name);
    while ((v = va_arg(ap, const char *)) != NULL) {
        if (n == fam->n_labels)
            sg_panic("metrics: family %s: too many label values", fam->name);
        vals[n++] = v;
    }
    if (n != fam->n_labels)
        sg_panic("metrics: family %s: %zu label values for %zu labels",
                 fam->name, n, fam->n_labels);
    return s_lookup(fam, vals, 1);
}

sg_counter_t *
sg_metrics_counter(sg_metrics_family_t *fam, ...)
{
    va_list ap;
    s_child *c;

    va_start(ap, fam);
    c = s_child_get(fam, SG_METRIC_COUNTER, ap);
    va_end(ap);
    return &c->u.c;
}

sg_gauge_t *
sg_metrics_gauge(sg_metrics_family_t *fam, ...)
{
    va_list ap;
    s_child *c;

    va_start(ap, fam);
    c = s_child_get(fam, SG_METRIC_GAUGE, ap);
    va_end(ap);
    return &c->u.g;
}

sg_hist_t *
sg_metrics_hist(sg_metrics_family_t *fam, ...)
{
    va_list ap;
    s_child *c;

    va_start(ap, fam);
    c = s_child_get(fam, SG_METRIC_HISTOGRAM, ap);
    va_end(ap);
    return &c->u.h;
}

void
sg_hist_observe(sg_hist_t *h, double v)
{
    size_t i = 0;

    if (isnan(v))
        return;
    /* Buckets are inclusive upper bounds: v == le counts in that bucket. */
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

void
sg_hist_load(sg_hist_t *h, const uint64_t *counts, size_t n_counts, double sum)
{
    uint64_t total = 0;

    if (n_counts != h->n_bounds + 1)
        sg_panic("sg_hist_load: %zu counts for %zu buckets", n_counts,
                 h->n_bounds + 1);
    for (size_t i = 0; i < n_counts; i++) {
        h->counts[i] = counts[i];
        total += counts[i];
    }
    h->count = total;
    h->sum = isnan(sum) ? h->sum : sum;
}

/* ---- rendering ----------------------------------------------------------*/

static const char *
s_type_name(sg_metric_type t)
{
    switch (t) {
    case SG_METRIC_COUNTER:
        return "counter";
    case SG_METRIC_GAUGE:
        return "gauge";
    case SG_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

/* name[suffix]{ltext[,le="…"]} */
static void
s_series(s_buf *b, const sg_metrics_family_t *fam, const char *suffix,
         const s_child *c, const char *le)
{
    s_buf_puts(b, fam->name);
    s_buf_puts(b, suffix);
    if (c->ltext_n == 0 && le == NULL)
        return;
    s_buf_putc(b, '{');
    s_buf_put(b, c->ltext, c->ltext_n);
    if (le != NULL) {
        if (c->ltext_n != 0)
            s_buf_putc(b, ',');
        s_buf_put(b, "le=\"", 4);
        s_buf_puts(b, le);
        s_buf_putc(b, '"');
    }
    s_buf_putc(b, '}');
}

static void
s_render_family(s_buf *b, const sg_metrics_family_t *fam)
{
    s_buf_put(b, "# HELP ", 7);
    s_buf_puts(b, fam->name);
    s_buf_putc(b, ' ');
    s_buf_puts(b, fam->help);
    s_buf_put(b, "\n# TYPE ", 8);
    s_buf_puts(b, fam->name);
    s_buf_putc(b, ' ');
    s_buf_puts(b, s_type_name(fam->type));
    s_buf_putc(b, '\n');
    for (size_t i = 0; i < fam->n_children; i++) {
        const s_child *c = fam->children[i];
        uint64_t cum = 0;

        switch (fam->type) {
        case SG_METRIC_COUNTER:
            s_series(b, fam, "", c, NULL);
            s_buf_putc(b, ' ');
            s_buf_u64(b, c->u.c.value);
            s_buf_putc(b, '\n');
            break;
        case SG_METRIC_GAUGE:
            s_series(b, fam, "", c, NULL);
            s_buf_putc(b, ' ');
            s_buf_double(b, c->u.g.value);
            s_buf_putc(b, '\n');
            break;
        case SG_METRIC_HISTOGRAM:
            for (size_t k = 0; k <= fam->n_bounds; k++) {
                cum += c->u.h.counts[k];
                s_series(b, fam, "_bucket", c, fam->le[k]);
                s_buf_putc(b, ' ');
                s_buf_u64(b, cum);
                s_buf_putc(b, '\n');
            }
            s_series(b, fam, "_sum", c, NULL);
            s_buf_putc(b, ' ');
            s_buf_double(b, c->u.h.sum);
            s_buf_putc(b, '\n');
            s_series(b, fam, "_count", c, NULL);
            s_buf_putc(b, ' ');
            s_buf_u64(b, c->u.h.count);
            s_buf_putc(b, '\n');
            break;
        }
    }
}

static void
s_render(s_buf *b, const sg_metrics_t *self)
{
    for (size_t i = 0; i < self->n_fams; i++)
        if (self->fams[i]->n_children != 0)
            s_render_family(b, self->fams[i]);
}

char *
sg_metrics_render(const sg_metrics_t *self)
{
    s_buf b = {0};

    s_render(&b, self);
    return s_buf_take(&b);
}

/* ---- snapshot files -----------------------------------------------------*/

/* dir/<dot><stage>-<instance>.prom<tail>; new. */
static char *
s_path(const char *dir, const char *dot, const char *stage,
       const char *instance, const char *tail)
{
    size_t n = strlen(dir) + strlen(dot) + strlen(stage) + strlen(instance) +
               strlen(tail) + 8;
    char *p = sg_malloc(n);

    snprintf(p, n, "%s/%s%s-%s.prom%s", dir, dot, stage, instance, tail);
    return p;
}

static int
s_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Log a failing write once, when it starts failing (and once more, with
 * the new cause, if the cause changes); the loop calls this every second.
 */
static sg_rc
s_write_failed(sg_metrics_t *self, const char *call, const char *path)
{
    int e = errno;

    if (self->write_errno != e)
        sg_warn("metrics",
                "snapshot %s(%s): %s; not logged again until "
                "the cause changes",
                call, path, strerror(e));
    self->write_errno = e;
    return SG_ERR;
}

sg_rc
sg_metrics_write_snapshot(sg_metrics_t *self, const char *dir, uint64_t now_ms)
{
    char tail[48], head[80];
    char *path = s_path(dir, "", self->stage, self->instance, "");
    char *tmp;
    s_buf b = {0};
    sg_rc rc = SG_ERR;
    int fd = -1;

    /*
     * The temporary name carries the pid, so a stage that is still exiting
     * and its replacement never write into one file; it starts with '.'
     * and does not end in .prom, so nothing reads it as a snapshot.
     */
    snprintf(tail, sizeof(tail), ".%ld.tmp", (long)getpid());
    tmp = s_path(dir, ".", self->stage, self->instance, tail);
    snprintf(head, sizeof(head), "# stirgate-snapshot %" PRIu64 " %ld\n",
             now_ms, (long)getpid());
    s_buf_puts(&b, head);
    s_render(&b, self);

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = s_write_failed(self, "mkdir", dir);
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = s_write_failed(self, "open", tmp);
        goto out;
    }
    if (s_write_all(fd, b.p, b.len) != 0) {
        rc = s_write_failed(self, "write", tmp);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = s_write_failed(self, "close", tmp);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = s_write_failed(self, "rename", path);
        goto fail;
    }
    if (self->write_errno != 0)
        sg_info("metrics", "snapshot %s written again", path);
    self->write_errno = 0;
    rc = SG_OK;
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    sg_free(b.p);
    sg_free(tmp);
    sg_free(path);
    return rc;
}

/* ---- the parser ---------------------------------------------------------*/

typedef struct {
    const char *p;
    const char *end;
} s_cur;

static int
s_lit(s_cur *c, const char *s)
{
    size_t n = strlen(s);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* A run of [A-Za-z0-9_:] (what a name could be; checked afterwards). */
static sg_metrics_span_t
s_word(s_cur *c)
{
    sg_metrics_span_t s = {c->p, 0};

    while (c->p < c->end) {
        char ch = *c->p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == ':'))
            break;
        c->p++;
    }
    s.n = (size_t)(c->p - s.p);
    return s;
}

/* Up to '\n' (consumed, not included); NULL-span if there is none. */
static int
s_rest_of_line(s_cur *c, sg_metrics_span_t *out)
{
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));

    if (nl == NULL)
        return 0;
    out->p = c->p;
    out->n = (size_t)(nl - c->p);
    c->p = nl + 1;
    return 1;
}

static int
s_digits(const char *p, size_t n, size_t *i)
{
    size_t s = *i;

    while (*i < n && p[*i] >= '0' && p[*i] <= '9')
        (*i)++;
    return *i > s;
}

/*
 * A sample value as we render it: an unsigned integer, %.15g/%.17g
 * output, NaN or ±Inf.  `allow_nan` is off for le.
 */
static int
s_value_ok(const char *p, size_t n, int allow_nan)
{
    size_t i = 0;

    if (n == 0 || n > S_MAX_NUM)
        return 0;
    if (s_span_is(p, n, "+Inf") || s_span_is(p, n, "-Inf"))
        return 1;
    if (s_span_is(p, n, "NaN"))
        return allow_nan;
    if (p[i] == '-')
        i++;
    if (!s_digits(p, n, &i))
        return 0;
    if (i < n && p[i] == '.') {
        i++;
        if (!s_digits(p, n, &i))
            return 0;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (!s_digits(p, n, &i))
            return 0;
    }
    return i == n;
}

/* Help text as escaped by s_escape(…, 0). */
static int
s_help_ok(const char *p, size_t n)
{
    if (n == 0 || n > 2 * S_MAX_HELP)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] < 0x20)
            return 0;
        if (p[i] == '\\') {
            if (i + 1 == n || (p[i + 1] != '\\' && p[i + 1] != 'n'))
                return 0;
            i++;
        }
    }
    return sg_utf8_valid((const unsigned char *)p, n);
}

typedef struct {
    sg_metrics_span_t name;
    sg_metrics_span_t value; /* escaped */
} s_label;

/* The labels between { and } (c->p just past '{'); consumes the '}'. */
static const char *
s_parse_labels(s_cur *c, s_label *ls, size_t *n_ls)
{
    *n_ls = 0;
    for (;;) {
        s_label *l;
        const char *why;

        if (*n_ls == S_PARSE_LABELS)
            return "too many labels";
        l = &ls[(*n_ls)++];
        l->name = s_word(c);
        if (s_span_is(l->name.p, l->name.n, "le"))
            why = NULL; /* placement checked by the caller */
        else if ((why = s_label_why(l->name.p, l->name.n)) != NULL)
            return why;
        if (!s_lit(c, "=\""))
            return "label without =\"";
        l->value.p = c->p;
        while (c->p < c->end && *c->p != '"') {
            unsigned char ch = (unsigned char)*c->p;
            if (ch < 0x20)
                return "control character in a label value";
            if (ch == '\\') {
                if (c->end - c->p < 2 ||
                    (c->p[1] != '\\' && c->p[1] != '"' && c->p[1] != 'n'))
                    return "bad escape in a label value";
                c->p++;
            }
            c->p++;
        }
        if (c->p == c->end)
            return "unterminated label value";
        l->value.n = (size_t)(c->p - l->value.p);
        c->p++;
        if (l->value.n > 2 * SG_METRICS_MAX_VALUE ||
            !sg_utf8_valid((const unsigned char *)l->value.p, l->value.n))
            return "label value too long or not UTF-8";
        for (size_t j = 0; j + 1 < *n_ls; j++)
            if (ls[j].name.n == l->name.n &&
                memcmp(ls[j].name.p, l->name.p, l->name.n) == 0)
                return "label twice in a sample";
        if (s_lit(c, "}"))
            return NULL;
        if (!s_lit(c, ","))
            return "expected , or } after a label";
    }
}

static int
s_label_cmp(const void *a, const void *b)
{
    const s_label *x = a, *y = b;
    size_t n = x->name.n < y->name.n ? x->name.n : y->name.n;
    int c = memcmp(x->name.p, y->name.p, n);

    return c != 0 ? c : (x->name.n > y->name.n) - (x->name.n < y->name.n);
}

/* "name\0l1\0v1\0…" with the labels sorted: one series, one key. */
static char *
s_series_key(const sg_metrics_span_t *name, s_label *ls, size_t n_ls,
             size_t *keylen)
{
    s_buf b = {0};

    qsort(ls, n_ls, sizeof(*ls), s_label_cmp);
    s_buf_put(&b, name->p, name->n);
    for (size_t i = 0; i < n_ls; i++) {
        s_buf_putc(&b, '\0');
        s_buf_put(&b, ls[i].name.p, ls[i].name.n);
        s_buf_putc(&b, '\0');
        s_buf_put(&b, ls[i].value.p, ls[i].value.n);
    }
    *keylen = b.len;
    return s_buf_take(&b);
}

typedef struct {
    char *p;
    size_t n;
} s_key;

static int
s_key_cmp(const void *a, const void *b)
{
    const s_key *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->p, y->p, n);

    return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

static const char *
s_parse_sample(s_cur *c, const sg_metrics_pfamily_t *fam,
               sg_metrics_sample_t *s, s_key *key)
{
    s_label ls[S_PARSE_LABELS];
    size_t n_ls = 0, rest;
    const char *why, *nl;
    int has_le = 0, is_bucket = 0;

    s->name = s_word(c);
    if (s->name.n < fam->name.n ||
        memcmp(s->name.p, fam->name.p, fam->name.n) != 0)
        return "sample outside its family";
    rest = s->name.n - fam->name.n;
    if (fam->type == SG_METRIC_HISTOGRAM) {
        const char *sfx = s->name.p + fam->name.n;
        is_bucket = s_span_is(sfx, rest, "_bucket");
        if (!is_bucket && !s_span_is(sfx, rest, "_sum") &&
            !s_span_is(sfx, rest, "_count"))
            return "histogram sample not _bucket, _sum or _count";
    } else if (rest != 0) {
        return "sample outside its family";
    }
    s->labels.p = c->p;
    s->labels.n = 0;
    if (s_lit(c, "{")) {
        s->labels.p = c->p;
        if ((why = s_parse_labels(c, ls, &n_ls)) != NULL)
            return why;
        s->labels.n = (size_t)(c->p - 1 - s->labels.p);
    }
    for (size_t i = 0; i < n_ls; i++) {
        if (!s_span_is(ls[i].name.p, ls[i].name.n, "le"))
            continue;
        if (!is_bucket)
            return "le on a sample that is no histogram bucket";
        if (!s_value_ok(ls[i].value.p, ls[i].value.n, 0))
            return "le is not a number";
        has_le = 1;
    }
    if (is_bucket && !has_le)
        return "histogram bucket without le";
    if (!s_lit(c, " "))
        return "expected one space before the value";
    nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (nl == NULL)
        return "unterminated line";
    s->value.p = c->p;
    s->value.n = (size_t)(nl - c->p);
    c->p = nl + 1;
    if (!s_value_ok(s->value.p, s->value.n, 1))
        return "bad sample value (or a timestamp)";
    key->p = s_series_key(&s->name, ls, n_ls, &key->n);
    return NULL;
}

static const char *
s_parse_type(const sg_metrics_span_t *t, sg_metric_type *out)
{
    if (s_span_is(t->p, t->n, "counter"))
        *out = SG_METRIC_COUNTER;
    else if (s_span_is(t->p, t->n, "gauge"))
        *out = SG_METRIC_GAUGE;
    else if (s_span_is(t->p, t->n, "histogram"))
        *out = SG_METRIC_HISTOGRAM;
    else
        return "unknown TYPE";
    return NULL;
}

/* One family: HELP, TYPE, samples; its series checked for duplicates. */
static const char *
s_parse_family(s_cur *c, sg_metrics_pfamily_t *f)
{
    sg_metrics_span_t name2, type;
    s_key *keys = NULL;
    size_t cap = 0;
    const char *why = NULL;

    if (!s_lit(c, "# HELP "))
        return "expected # HELP";
    f->name = s_word(c);
    if (!s_lit(c, " ") || !s_rest_of_line(c, &f->help))
        return "bad HELP line";
    if (!s_help_ok(f->help.p, f->help.n))
        return "bad help text";
    if (!s_lit(c, "# TYPE "))
        return "expected # TYPE after # HELP";
    name2 = s_word(c);
    if (name2.n != f->name.n || memcmp(name2.p, f->name.p, f->name.n) != 0)
        return "TYPE names another family";
    if (!s_lit(c, " ") || !s_rest_of_line(c, &type))
        return "bad TYPE line";
    if ((why = s_parse_type(&type, &f->type)) != NULL)
        return why;
    if ((why = s_name_why(f->name.p, f->name.n, f->type)) != NULL)
        return why;

    while (c->p < c->end && *c->p != '#') {
        if (f->n_samples == cap) {
            cap = cap ? 2 * cap : 16;
            f->samples = sg_realloc(f->samples, cap * sizeof(*f->samples));
            keys = sg_realloc(keys, cap * sizeof(*keys));
        }
        why = s_parse_sample(c, f, &f->samples[f->n_samples],
                             &keys[f->n_samples]);
        if (why != NULL)
            goto out;
        f->n_samples++;
    }
    if (f->n_samples == 0) {
        why = "family without samples";
        goto out;
    }
    qsort(keys, f->n_samples, sizeof(*keys), s_key_cmp);
    for (size_t i = 1; i < f->n_samples; i++)
        if (s_key_cmp(&keys[i - 1], &keys[i]) == 0) {
            why = "series twice in a family";
            goto out;
        }
out:
    for (size_t i = 0; i < f->n_samples; i++)
        sg_free(keys[i].p);
    sg_free(keys);
    return why;
}

static int
s_span_cmp(const sg_metrics_span_t *a, const sg_metrics_span_t *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->p, b->p, n);

    return c != 0 ? c : (a->n > b->n) - (a->n < b->n);
}

static int
s_pfam_name_cmp(const void *a, const void *b)
{
    const sg_metrics_span_t *const *x = a, *const *y = b;

    return s_span_cmp(*x, *y);
}

/* Decimal as %" PRIu64 " writes it: no sign, no leading zero. */
static int
s_decimal(s_cur *c, uint64_t max, uint64_t *out)
{
    const char *start = c->p;
    uint64_t v = 0;

    for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++) {
        unsigned d = (unsigned)(*c->p - '0');
        if (v > (max - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (c->p == start || (*start == '0' && c->p - start > 1))
        return 0;
    *out = v;
    return 1;
}

/* "# stirgate-snapshot <ms> <pid>\n" */
static const char *
s_parse_header(s_cur *c, sg_metrics_snap_t *snap)
{
    uint64_t pid;

    if (!s_lit(c, "# stirgate-snapshot "))
        return "no stirgate-snapshot line";
    if (!s_decimal(c, UINT64_MAX, &snap->time_ms) || !s_lit(c, " "))
        return "bad snapshot time";
    if (!s_decimal(c, INT32_MAX, &pid) || pid == 0 || !s_lit(c, "\n"))
        return "bad snapshot pid";
    snap->pid = (uint32_t)pid;
    return NULL;
}

const char *
sg_metrics_parse(const void *buf, size_t len, sg_metrics_snap_t **out)
{
    sg_metrics_snap_t *snap = sg_calloc(1, sizeof(*snap));
    s_cur c = {buf, (const char *)buf + len};
    const sg_metrics_span_t **names = NULL;
    const char *why;
    size_t cap = 0;

    *out = NULL;
    if (memchr(buf, '\0', len) != NULL) {
        why = "NUL byte";
        goto fail;
    }
    if ((why = s_parse_header(&c, snap)) != NULL)
        goto fail;
    while (c.p < c.end) {
        if (snap->n_families == cap) {
            cap = cap ? 2 * cap : 16;
            snap->families =
                sg_realloc(snap->families, cap * sizeof(*snap->families));
        }
        memset(&snap->families[snap->n_families], 0, sizeof(*snap->families));
        why = s_parse_family(&c, &snap->families[snap->n_families]);
        snap->n_families++;
        if (why != NULL)
            goto fail;
    }
    names = sg_calloc(snap->n_families, sizeof(*names));
    for (size_t i = 0; i < snap->n_families; i++)
        names[i] = &snap->families[i].name;
    qsort(names, snap->n_families, sizeof(*names), s_pfam_name_cmp);
    for (size_t i = 1; i < snap->n_families; i++)
        if (s_span_cmp(names[i - 1], names[i]) == 0) {
            why = "family twice";
            goto fail;
        }
    sg_free(names);
    *out = snap;
    return NULL;
fail:
    sg_free(names);
    sg_metrics_snap_free(&snap);
    return why;
}

void
sg_metrics_snap_free(sg_metrics_snap_t **snap)
{
    if (snap == NULL || *snap == NULL)
        return;
    for (size_t i = 0; i < (*snap)->n_families; i++)
        sg_free((*snap)->families[i].samples);
    sg_free((*snap)->families);
    sg_free(*snap);
    *snap = NULL;
}

/* ---- the merge ----------------------------------------------------------*/

typedef struct {
    char *name;
    char *help; /* escaped */
    sg_metric_type type;
    s_buf body; /* the sample lines */
} s_group;

typedef struct {
    s_group *g; /* sorted by name */
    size_t n;
    size_t cap;
} s_groups;

/* The group named `name`; created (sorted in) when missing. */
static s_group *
s_group_get(s_groups *gs, const char *name, size_t name_n, const char *help,
            size_t help_n, sg_metric_type type, int *created)
{
    size_t lo = 0, hi = gs->n;
    sg_metrics_span_t want = {name, name_n};
    s_group *g;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        sg_metrics_span_t have = {gs->g[mid].name, strlen(gs->g[mid].name)};
        int c = s_span_cmp(&have, &want);
        if (c == 0) {
            *created = 0;
            return &gs->g[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (gs->n == gs->cap) {
        gs->cap = gs->cap ? 2 * gs->cap : 32;
        gs->g = sg_realloc(gs->g, gs->cap * sizeof(*gs->g));
    }
    memmove(gs->g + lo + 1, gs->g + lo, (gs->n - lo) * sizeof(*gs->g));
    g = &gs->g[lo];
    memset(g, 0, sizeof(*g));
    g->name = sg_strndup(name, name_n);
    g->help = sg_strndup(help, help_n);
    g->type = type;
    gs->n++;
    *created = 1;
    return g;
}

/* name{stage="…",instance="…"[,labels]} value */
static void
s_merged_line(s_buf *b, const char *name, size_t name_n, const char *stage,
              const char *instance, const char *labels, size_t labels_n,
              const char *value, size_t value_n)
{
    s_buf_put(b, name, name_n);
    s_buf_put(b, "{stage=\"", 8);
    s_escape(b, stage, strlen(stage), 1);
    s_buf_put(b, "\",instance=\"", 12);
    s_escape(b, instance, strlen(instance), 1);
    s_buf_putc(b, '"');
    if (labels_n != 0) {
        s_buf_putc(b, ',');
        s_buf_put(b, labels, labels_n);
    }
    s_buf_put(b, "} ", 2);
    s_buf_put(b, value, value_n);
    s_buf_putc(b, '\n');
}

typedef struct {
    sg_metrics_t *self;
    s_groups gs;
    uint64_t conflicts;
} s_merge;

/* Add every family of one up snapshot, labeled with its stage. */
static void
s_merge_snap(s_merge *m, const sg_metrics_snap_t *snap, const char *stage,
             const char *instance)
{
    for (size_t i = 0; i < snap->n_families; i++) {
        const sg_metrics_pfamily_t *f = &snap->families[i];
        s_group *g;
        int created;

        if (s_span_is(f->name.p, f->name.n, s_up_name) ||
            s_span_is(f->name.p, f->name.n, s_age_name)) {
            m->conflicts++;
            continue;
        }
        g = s_group_get(&m->gs, f->name.p, f->name.n, f->help.p, f->help.n,
                        f->type, &created);
        if (!created && g->type != f->type) {
            m->conflicts++;
            continue;
        }
        for (size_t k = 0; k < f->n_samples; k++) {
            const sg_metrics_sample_t *s = &f->samples[k];
            s_merged_line(&g->body, s->name.p, s->name.n, stage, instance,
                          s->labels.p, s->labels.n, s->value.p, s->value.n);
        }
    }
}

/*
 * Read one snapshot: NULL when it is missing (`*bad` 0) or unusable
 * (`*bad` 1: not a regular file, too big, unreadable).
 */
static char *
s_read_snapshot(const char *path, size_t *len, int *bad)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0, cap;
    int fd;

    *bad = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno != ENOENT) {
            sg_debug("metrics", "open(%s): %s", path, strerror(errno));
            *bad = 1;
        }
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > (off_t)SG_METRICS_MAX_SNAPSHOT)
        goto fail;
    /*
     * Snapshots are replaced by rename, never written in place, so the
     * size fstat() saw is the size; one byte more is read to catch a file
     * that some other writer is growing.
     */
    cap = (size_t)st.st_size + 1;
    buf = sg_malloc(cap);
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap)
            goto fail;
    }
    close(fd);
    *len = n;
    return buf;
fail:
    sg_debug("metrics",
             "snapshot %s unusable (not a regular file, too big "
             "or unreadable)",
             path);
    sg_free(buf);
    close(fd);
    *bad = 1;
    return NULL;
}

static int
s_expect_seen(const sg_metrics_expect_t *e, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(e[j].stage, e[i].stage) == 0 &&
            strcmp(e[j].instance, e[i].instance) == 0)
            return 1;
    return 0;
}

/*
 * The up and age samples of one expected stage into `up` and `age`, and
 * its families if it is up.  Returns 1 when its snapshot was bad.
 */
static uint64_t
s_merge_stage(s_merge *m, const char *dir, const sg_metrics_expect_t *e,
              uint64_t now_ms, uint64_t stale_ms, s_buf *up, s_buf *age)
{
    sg_metrics_snap_t *snap = NULL;
    char *path = s_path(dir, "", e->stage, e->instance, "");
    size_t len = 0;
    int bad, is_up = 0;
    char *buf = s_read_snapshot(path, &len, &bad);
    const char *why;

    if (buf != NULL && (why = sg_metrics_parse(buf, len, &snap)) != NULL) {
        sg_debug("metrics", "snapshot %s skipped: %s", path, why);
        bad = 1;
    }
    if (snap != NULL) {
        uint64_t d = now_ms > snap->time_ms ? now_ms - snap->time_ms
                                            : snap->time_ms - now_ms;
        double secs = (double)d / 1000.0;
        char t[S_MAX_NUM];
        size_t tn;

        is_up = e->pid > 0 && (uint64_t)e->pid == snap->pid && d <= stale_ms;
        /* Negative when the wall clock stepped back: shown, not hidden. */
        tn = s_fmt_double(now_ms >= snap->time_ms ? secs : -secs, t, sizeof(t));
        s_merged_line(age, s_age_name, strlen(s_age_name), e->stage,
                      e->instance, NULL, 0, t, tn);
        if (is_up)
            s_merge_snap(m, snap, e->stage, e->instance);
    }
    s_merged_line(up, s_up_name, strlen(s_up_name), e->stage, e->instance, NULL,
                  0, is_up ? "1" : "0", 1);
    sg_metrics_snap_free(&snap);
    sg_free(buf);
    sg_free(path);
    return (uint64_t)bad;
}

/* A synthetic family of the merge (up, age) into the sorted groups. */
static void
s_merge_add(s_merge *m, const char *name, const char *help, s_buf *body)
{
    int created;
    s_group *g = s_group_get(&m->gs, name, strlen(name), help, strlen(help),
                             SG_METRIC_GAUGE, &created);

    /* s_merge_snap() refuses these names: the group is always new. */
    g->body = *body;
    memset(body, 0, sizeof(*body));
}

static sg_metrics_family_t *
s_master_family(sg_metrics_t *self, const char *name, const char *help)
{
    int found;
    size_t pos = s_family_pos(self, name, &found);

    if (found)
        return self->fams[pos];
    return sg_metrics_declare(
        self, &(sg_metrics_desc_t){
                  .name = name, .help = help, .type = SG_METRIC_COUNTER});
}

/* The master's own registry, through the same parser as a stage's. */
static void
s_merge_self(s_merge *m)
{
    s_buf b = {0};
    sg_metrics_snap_t *snap;
    const char *why;

    s_buf_puts(&b, "# stirgate-snapshot 0 1\n");
    s_render(&b, m->self);
    if ((why = sg_metrics_parse(b.p, b.len, &snap)) != NULL)
        sg_panic("metrics: own rendering does not parse: %s", why);
    s_merge_snap(m, snap, m->self->stage, m->self->instance);
    sg_metrics_snap_free(&snap);
    sg_free(b.p);
}

char *
sg_metrics_merge(sg_metrics_t *self, const char *dir,
                 const sg_metrics_expect_t *expect, size_t n_expect,
                 uint64_t now_ms, uint64_t stale_ms)
{
    s_merge m = {.self = self};
    s_buf out = {0}, up = {0}, age = {0};
    uint64_t bad = 0;

    if (n_expect > SG_METRICS_MAX_EXPECT) {
        sg_warn("metrics", "%zu stages expected; merging the first %d",
                n_expect, SG_METRICS_MAX_EXPECT);
        n_expect = SG_METRICS_MAX_EXPECT;
    }
    for (size_t i = 0; i < n_expect; i++) {
        const sg_metrics_expect_t *e = &expect[i];

        /*
         * A bad name would be a path outside `dir` or a broken label; the
         * master's own pair would give its series twice.
         */
        if (e->stage == NULL || e->instance == NULL || !s_id_ok(e->stage, 1) ||
            !s_id_ok(e->instance, 0) || s_expect_seen(expect, i) ||
            (self != NULL && strcmp(e->stage, self->stage) == 0 &&
             strcmp(e->instance, self->instance) == 0))
            continue;
        bad += s_merge_stage(&m, dir, e, now_ms, stale_ms, &up, &age);
    }
    if (self != NULL) {
        sg_counter_t *c_bad, *c_conflict;

        c_bad = sg_metrics_counter(
            s_master_family(self, s_bad_name,
                            "Snapshot files skipped because they were "
                            "unreadable, too big or did not parse (counted "
                            "on every merge that met one)."),
            NULL);
        c_conflict = sg_metrics_counter(
            s_master_family(self, s_conflict_name,
                            "Families skipped because a family of the same "
                            "name and another type came first."),
            NULL);
        sg_counter_add(c_bad, bad);
        sg_counter_add(c_conflict, m.conflicts);
        m.conflicts = 0;
        s_merge_self(&m);
        /* Met in the master's own families: shown by the next merge. */
        sg_counter_add(c_conflict, m.conflicts);
    }
    s_merge_add(&m, s_up_name,
                "1 when the stage runs and its metrics snapshot is fresh, "
                "else 0.",
                &up);
    s_merge_add(&m, s_age_name,
                "Seconds since the stage wrote its last metrics snapshot.",
                &age);
    for (size_t i = 0; i < m.gs.n; i++) {
        s_group *g = &m.gs.g[i];

        if (g->body.len != 0) {
            s_buf_put(&out, "# HELP ", 7);
            s_buf_puts(&out, g->name);
            s_buf_putc(&out, ' ');
            s_buf_puts(&out, g->help);
            s_buf_put(&out, "\n# TYPE ", 8);
            s_buf_puts(&out, g->name);
            s_buf_putc(&out, ' ');
            s_buf_puts(&out, s_type_name(g->type));
            s_buf_putc(&out, '\n');
            s_buf_put(&out, g->body.p, g->body.len);
        }
        sg_free(g->name);
        sg_free(g->help);
        sg_free(g->body.p);
    }
    sg_free(m.gs.g);
    return s_buf_take(&out);
}
