/* cli/cli_util.c - argument parsing, file reading and JSON output. */
#include "cli/cli_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void
cli_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "stirgate: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static cli_opt_t *
s_find(cli_opt_t *opts, size_t n_opts, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < n_opts; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

int
cli_opts_parse(const char *cmd, cli_opt_t *opts, size_t n_opts, int argc,
               char **argv, const char **pos, size_t max_pos, size_t *n_pos)
{
    int i;

    *n_pos = 0;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        cli_opt_t *o;
        size_t len;

        /* "-" alone and anything not starting with "--" is positional;
         * "--" ends the options. */
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (*n_pos == max_pos)
                    goto too_many;
                pos[(*n_pos)++] = argv[i];
            }
            break;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (a[0] == '-' && a[1] != '\0') {
                cli_err(cmd, "unknown option \"%s\"", a);
                return -1;
            }
            if (*n_pos == max_pos)
                goto too_many;
            pos[(*n_pos)++] = a;
            continue;
        }
        eq = strchr(a + 2, '=');
        len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        o = s_find(opts, n_opts, a + 2, len);
        if (o == NULL) {
            cli_err(cmd, "unknown option \"%.*s\"", (int)len + 2, a);
            return -1;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            cli_err(cmd, "--%s: missing value", o->name);
            return -1;
        }
        if (o->value != NULL) {
            cli_err(cmd, "--%s: given twice", o->name);
            return -1;
        }
        o->value = val;
    }
    return 0;

too_many:
    cli_err(cmd, "unexpected argument \"%s\"", argv[i]);
    return -1;
}

const char *
cli_opt(const cli_opt_t *opts, size_t n_opts, const char *name)
{
    size_t i;

    for (i = 0; i < n_opts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return opts[i].value;
    sg_panic("cli_opt: no option \"%s\" in the table", name);
}

int
cli_parse_i64(const char *cmd, const char *opt, const char *s, int64_t min,
              int64_t max, int64_t *out)
{
    const char *p = s;
    long long v;
    char *end;

    /* strtoll accepts leading blanks and a '+'; a number on the command
     * line is plain digits with an optional '-'. */
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9') {
        cli_err(cmd, "%s: not a number: \"%s\"", opt, s);
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0') {
        cli_err(cmd, "%s: not a number: \"%s\"", opt, s);
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        cli_err(cmd, "%s: out of range [%lld, %lld]: \"%s\"", opt,
                (long long)min, (long long)max, s);
        return -1;
    }
    *out = v;
    return 0;
}

char *
cli_read_file(const char *cmd, const char *opt, const char *path, size_t cap,
              size_t *len)
{
    FILE *f = NULL;
    struct stat st;
    char *buf = NULL;
    size_t n = 0, got;

    f = fopen(path, "rb");
    if (f == NULL) {
        cli_err(cmd, "%s: %s: %s", opt, path, strerror(errno));
        goto fail;
    }
    if (fstat(fileno(f), &st) != 0) {
        cli_err(cmd, "%s: %s: %s", opt, path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        cli_err(cmd, "%s: %s: is a directory", opt, path);
        goto fail;
    }
    /* Read up to cap + 1 bytes whatever stat says: pipes and /proc files
     * report no size. */
    buf = sg_malloc(cap + 2);
    while ((got = fread(buf + n, 1, cap + 1 - n, f)) > 0) {
        n += got;
        if (n > cap)
            break;
    }
    if (ferror(f)) {
        cli_err(cmd, "%s: %s: read error", opt, path);
        goto fail;
    }
    if (n > cap) {
        cli_err(cmd, "%s: %s: larger than %zu bytes", opt, path, cap);
        goto fail;
    }
    buf[n] = '\0';
    fclose(f);
    *len = n;
    return buf;

fail:
    if (f != NULL)
        fclose(f);
    sg_free(buf);
    return NULL;
}

int
cli_join(const char *cmd, char *out, size_t outsz, const char *dir,
         const char *name)
{
    int n = snprintf(out, outsz, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= outsz) {
        cli_err(cmd, "%s/%s: path too long", dir, name);
        return -1;
    }
    return 0;
}

int
cli_parse_ident(const char *cmd, const char *opt, const char *s,
                const char *default_cc, proto_ident_t *out)
{
    const char *why;

    why = proto_ident_parse(s, strlen(s), default_cc, out);
    if (why != NULL) {
        cli_err(cmd, "%s: %s: \"%s\"", opt, why, s);
        return -1;
    }
    return 0;
}

int
cli_parse_ident_list(const char *cmd, const char *opt, const char *s,
                     const char *default_cc, proto_ident_t *out, size_t max)
{
    const char *p = s;
    size_t n = 0;

    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *one;
        int rc;

        if (len == 0) {
            cli_err(cmd, "%s: empty entry in \"%s\"", opt, s);
            return -1;
        }
        if (n == max) {
            cli_err(cmd, "%s: more than %zu entries", opt, max);
            return -1;
        }
        one = sg_strndup(p, len);
        rc = cli_parse_ident(cmd, opt, one, default_cc, &out[n]);
        sg_free(one);
        if (rc != 0)
            return -1;
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return (int)n;
}

int
cli_json_print(json_t *v)
{
    char *s;

    if (v == NULL)
        sg_panic("cli_json_print: out of memory");
    s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (s == NULL)
        sg_panic("json_dumps: out of memory");
    puts(s);
    free(s);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "stirgate: stdout: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

json_t *
cli_json_str_or_null(const char *s)
{
    json_t *j = s != NULL ? json_string(s) : NULL;

    /* json_string refuses invalid UTF-8; jansson-parsed text never is. */
    return j != NULL ? j : json_null();
}
