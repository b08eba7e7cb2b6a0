/*
 * tests/fuzz/fuzz_metrics.c - metrics snapshot files read back by the
 * master (lib/sg_metrics.h): sg_metrics_parse(), then, for what parses,
 * the merge over the same bytes as a snapshot file (a temporary
 * directory, removed at exit).
 *
 * The parser accepts exactly what the registry writes, with one spelling
 * for everything, so what parses must re-serialize to the same bytes; and
 * every span must lie inside the input.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/sg_log.h"
#include "lib/sg_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const s_types[] = {"", "counter", "gauge", "histogram"};

static void
s_span(const uint8_t *data, size_t size, sg_metrics_span_t s, char **out,
       size_t *n)
{
    if (s.n != 0 &&
        (s.p < (const char *)data || s.p + s.n > (const char *)data + size))
        abort();
    memcpy(*out + *n, s.p, s.n);
    *n += s.n;
}

static void
s_lit(const char *t, char **out, size_t *n)
{
    memcpy(*out + *n, t, strlen(t));
    *n += strlen(t);
}

/* The snapshot written back; aborts unless it equals the input. */
static void
s_reserialize(const uint8_t *data, size_t size, const sg_metrics_snap_t *s)
{
    char *out = malloc(size + 64), head[64];
    size_t n = 0;

    snprintf(head, sizeof(head), "# stirgate-snapshot %llu %u\n",
             (unsigned long long)s->time_ms, (unsigned)s->pid);
    if (out == NULL || strlen(head) > size)
        abort();
    s_lit(head, &out, &n);
    for (size_t i = 0; i < s->n_families; i++) {
        const sg_metrics_pfamily_t *f = &s->families[i];

        if (f->type < SG_METRIC_COUNTER || f->type > SG_METRIC_HISTOGRAM ||
            f->n_samples == 0)
            abort();
        s_lit("# HELP ", &out, &n);
        s_span(data, size, f->name, &out, &n);
        s_lit(" ", &out, &n);
        s_span(data, size, f->help, &out, &n);
        s_lit("\n# TYPE ", &out, &n);
        s_span(data, size, f->name, &out, &n);
        s_lit(" ", &out, &n);
        s_lit(s_types[f->type], &out, &n);
        s_lit("\n", &out, &n);
        for (size_t k = 0; k < f->n_samples; k++) {
            const sg_metrics_sample_t *x = &f->samples[k];
            s_span(data, size, x->name, &out, &n);
            if (x->labels.n != 0) {
                s_lit("{", &out, &n);
                s_span(data, size, x->labels, &out, &n);
                s_lit("}", &out, &n);
            }
            s_lit(" ", &out, &n);
            s_span(data, size, x->value, &out, &n);
            s_lit("\n", &out, &n);
            if (n > size)
                abort();
        }
    }
    if (n != size || memcmp(out, data, size) != 0)
        abort();
    free(out);
}

static char s_dir[64];

static void
s_cleanup(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/fz-0.prom", s_dir);
    unlink(path);
    rmdir(s_dir);
}

/* The same bytes as the one snapshot file of a merge. */
static void
s_merge(const uint8_t *data, size_t size, const sg_metrics_snap_t *snap)
{
    static sg_metrics_t *self;
    char *dir = s_dir;
    char path[128], *out;
    sg_metrics_expect_t e = {"fz", "0", snap ? (pid_t)snap->pid : 1};
    int fd;

    if (dir[0] == '\0') {
        snprintf(s_dir, sizeof(s_dir), "/tmp/sg-fuzz-metrics-XXXXXX");
        if (mkdtemp(s_dir) == NULL)
            abort();
        atexit(s_cleanup);
        self = sg_metrics_new("master", "0");
    }
    snprintf(path, sizeof(path), "%s/fz-0.prom", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    out = sg_metrics_merge(self, dir, &e, 1, snap ? snap->time_ms : 0, 1000);
    if (out == NULL || (out[0] != '\0' && out[strlen(out) - 1] != '\n'))
        abort();
    if (snap != NULL && strstr(out, "stirgate_up{stage=\"fz\",instance=\"0\"}"
                                    " 1\n") == NULL)
        abort();
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    sg_metrics_snap_t *snap = NULL;
    const char *why;

    if (!init) {
        sg_log_init("fuzz_metrics", SG_LOG_ERROR);
        init = 1;
    }
    why = sg_metrics_parse(data, size, &snap);
    if ((why == NULL) != (snap != NULL))
        abort();
    if (snap != NULL)
        s_reserialize(data, size, snap);
    /*
     * Only what parses goes through the merge: files cost time, and bytes
     * that do not parse only take the "bad snapshot" path there.
     */
    if (snap != NULL && size <= SG_METRICS_MAX_SNAPSHOT)
        s_merge(data, size, snap);
    sg_metrics_snap_free(&snap);
    return 0;
}
