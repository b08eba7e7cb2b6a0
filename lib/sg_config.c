/*
 * lib/sg_config.c - the typed config engine: a JSON file checked against a
 * table of typed rows (see the header for the types and conventions).
 */
#include "lib/sg_config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAXLEN_DEFAULT 4096
#define S_DEPTH_MAX 32       /* nesting the walk follows; tables are shallow */
#define S_FILE_MAX (1 << 20) /* a config file larger than this is a mistake */

/* One step of the path from the root to a value: a member or an element. */
typedef struct {
    const char *key; /* NULL: an array element */
    size_t index;
} s_comp_t;

typedef struct {
    const char *file, *buf;
    size_t n;
    s_comp_t comp[S_DEPTH_MAX];
    size_t depth;
    sg_config_err_t *err;
} s_ctx_t;

typedef enum { S_AT_KEY, S_AT_VALUE, S_AT_OBJECT } s_at;

/* A growing string for the dump and the reference. */
typedef struct {
    char *p;
    size_t n, cap;
} s_buf_t;

static void s_buf_add(s_buf_t *b, const char *fmt, ...) SG_PRINTF(2, 3);

static void
s_buf_add(s_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int k;

    for (;;) {
        size_t room = b->cap - b->n;

        va_start(ap, fmt);
        k = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0)
            sg_panic("vsnprintf failed");
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->p = sg_realloc(b->p, b->cap);
    }
}

/* ---- the position scanner ------------------------------------------------
 *
 * jansson gives positions only for syntax errors, so a semantic error is
 * placed by walking the text again along the path of the offending value.
 * The text has already been accepted by jansson (valid JSON, no duplicate
 * keys), which keeps this scanner small: it never has to report a syntax
 * error, only to stay inside the buffer whatever it meets.
 */

static size_t
s_ws(const char *b, size_t n, size_t i)
{
    while (i < n &&
           (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    return i;
}

static int
s_hex4(const char *b, size_t n, size_t i, unsigned *out)
{
    unsigned v = 0;

    if (i + 4 > n)
        return -1;
    for (size_t k = 0; k < 4; k++) {
        char c = b[i + k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Encode code point `cp` as UTF-8 into `out` (4 bytes); returns the length. */
static size_t
s_utf8(unsigned cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * `*i` is at the opening quote of a string.  Decode it, compare it with
 * `want` (NULL: only skip) and leave `*i` after the closing quote.  Member
 * names may be written with escapes ("\u0070eers" is "peers"), so the
 * comparison is on decoded bytes.
 */
static int
s_string(const char *b, size_t n, size_t *i, const char *want)
{
    size_t k = *i + 1, w = 0, wlen = want ? strlen(want) : 0;
    int same = want != NULL;

    while (k < n && b[k] != '"') {
        unsigned char tmp[4];
        size_t tn = 1;

        if (b[k] == '\\' && k + 1 < n) {
            char e = b[k + 1];
            unsigned cp, lo;

            k += 2;
            switch (e) {
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u':
                if (s_hex4(b, n, k, &cp) < 0)
                    break;
                k += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && k + 6 <= n && b[k] == '\\' &&
                    b[k + 1] == 'u' && s_hex4(b, n, k + 2, &lo) == 0 &&
                    lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    k += 6;
                }
                tn = s_utf8(cp, tmp);
                break;
            default:
                tmp[0] = (unsigned char)e;
                break;
            }
        } else {
            tmp[0] = (unsigned char)b[k++];
        }
        if (same) {
            if (w + tn > wlen || memcmp(want + w, tmp, tn) != 0)
                same = 0;
            w += tn;
        }
    }
    *i = k < n ? k + 1 : n;
    return same && w == wlen;
}

/* Skip one value starting at `i`; returns the offset after it. */
static size_t
s_skip_value(const char *b, size_t n, size_t i)
{
    size_t depth = 0;

    if (i >= n)
        return n;
    if (b[i] == '"') {
        s_string(b, n, &i, NULL);
        return i;
    }
    if (b[i] != '{' && b[i] != '[') {
        while (i < n && !strchr(",}] \t\r\n", b[i]))
            i++;
        return i;
    }
    while (i < n) {
        if (b[i] == '"') {
            s_string(b, n, &i, NULL);
            continue;
        }
        if (b[i] == '{' || b[i] == '[')
            depth++;
        else if (b[i] == '}' || b[i] == ']') {
            if (--depth == 0)
                return i + 1;
        }
        i++;
    }
    return n;
}

/*
 * Follow `depth` steps from the root; set the offsets of the last member's
 * name (of the element itself for an array step, of the root for no step)
 * and of its value.  Returns -1 when the path is not in the text.
 */
static int
s_locate(const char *b, size_t n, const s_comp_t *c, size_t depth,
         size_t *keyoff, size_t *valoff)
{
    size_t i = s_ws(b, n, 0), key = i;

    for (size_t d = 0; d < depth; d++) {
        if (i >= n || b[i] != (c[d].key ? '{' : '['))
            return -1;
        i++;
        for (size_t e = 0;; e++) {
            i = s_ws(b, n, i);
            if (i >= n)
                return -1;
            if (c[d].key) {
                size_t k = i;
                int same;

                if (b[i] != '"')
                    return -1;
                same = s_string(b, n, &i, c[d].key);
                i = s_ws(b, n, i);
                if (i >= n || b[i] != ':')
                    return -1;
                i = s_ws(b, n, i + 1);
                if (same) {
                    key = k;
                    break;
                }
            } else if (e == c[d].index) {
                key = i;
                break;
            }
            i = s_ws(b, n, s_skip_value(b, n, i));
            if (i >= n || b[i] != ',')
                return -1;
            i++;
        }
    }
    *keyoff = key;
    *valoff = i;
    return 0;
}

/* 1-based line and character column of byte offset `off`, as jansson. */
static void
s_linecol(const char *b, size_t off, int *line, int *col)
{
    int l = 1, c = 1;

    for (size_t i = 0; i < off; i++) {
        if (b[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)b[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/*
 * The position of the value at a dotted/indexed path ("peers[1].sip[0]")
 * in text already accepted: for errors found after loading, by rules that
 * span keys.  As deep as the path is found; the root when nothing is.
 */
void
sg_config_position(const char *buf, size_t n, const char *path, int *line,
                   int *col)
{
    s_comp_t c[S_DEPTH_MAX];
    char names[S_DEPTH_MAX][128];
    size_t depth = 0, koff = 0, voff = 0, found = s_ws(buf, n, 0);
    const char *p = path;

    while (*p && depth < S_DEPTH_MAX) {
        if (*p == '[') {
            c[depth].key = NULL;
            c[depth].index = (size_t)strtoul(p + 1, NULL, 10);
            p = strchr(p, ']') ? strchr(p, ']') + 1 : p + strlen(p);
        } else {
            size_t len = strcspn(p, ".[");

            if (len >= sizeof(names[0]))
                break;
            memcpy(names[depth], p, len);
            names[depth][len] = '\0';
            c[depth].key = names[depth];
            p += len;
        }
        depth++;
        if (s_locate(buf, n, c, depth, &koff, &voff) != 0)
            break;
        found = voff;
        if (*p == '.')
            p++;
    }
    s_linecol(buf, found, line, col);
}

/* ---- errors --------------------------------------------------------------*/

static void
s_path_text(const s_comp_t *c, size_t depth, const char *suffix, char *out,
            size_t outsz)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t d = 0; d < depth && o < outsz; d++) {
        int k = c[d].key ? snprintf(out + o, outsz - o, "%s%s", o ? "." : "",
                                    c[d].key)
                         : snprintf(out + o, outsz - o, "[%zu]", c[d].index);
        if (k < 0)
            break;
        o += (size_t)k;
    }
    if (suffix && o < outsz)
        snprintf(out + o, outsz - o, "%s%s", o ? "." : "", suffix);
}

static sg_rc s_fail(s_ctx_t *ctx, s_at at, const char *suffix, const char *fmt,
                    ...) SG_PRINTF(4, 5);

/*
 * Fill the error for the value at the current path: `suffix` names a key
 * below it (a missing key), `at` says which position to report.
 */
static sg_rc
s_fail(s_ctx_t *ctx, s_at at, const char *suffix, const char *fmt, ...)
{
    sg_config_err_t *err = ctx->err;
    size_t koff = 0, voff = 0;
    char what[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    s_path_text(ctx->comp, ctx->depth, suffix, err->key, sizeof(err->key));
    if (s_locate(ctx->buf, ctx->n, ctx->comp, ctx->depth, &koff, &voff) < 0)
        koff = voff = 0;
    s_linecol(ctx->buf, at == S_AT_KEY ? koff : voff, &err->line, &err->column);
    if (err->key[0])
        snprintf(err->text, sizeof(err->text), "%s:%d:%d: %s: %s", ctx->file,
                 err->line, err->column, err->key, what);
    else
        snprintf(err->text, sizeof(err->text), "%s:%d:%d: %s", ctx->file,
                 err->line, err->column, what);
    return SG_REFUSED;
}

/* ---- durations and sizes -------------------------------------------------*/

typedef struct {
    const char *suffix;
    int64_t mul;
} s_unit_t;

static const s_unit_t s_dur_units[] = {{"s", 1},
                                       {"m", 60},
                                       {"h", 3600},
                                       {"d", 86400}},
                      s_size_units[] = {{"B", 1},
                                        {"KiB", INT64_C(1) << 10},
                                        {"MiB", INT64_C(1) << 20},
                                        {"GiB", INT64_C(1) << 30},
                                        {"TiB", INT64_C(1) << 40}};

/* Digits then one of the units (or none, meaning the first unit). */
static const char *
s_parse_unit(const char *s, int64_t *out, const s_unit_t *units, size_t nunits,
             const char *what)
{
    int64_t v = 0;
    size_t i = 0;

    if (s[0] < '0' || s[0] > '9')
        return what;
    for (; s[i] >= '0' && s[i] <= '9'; i++)
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, s[i] - '0', &v))
            return "too large";
    if (s[i] == '\0') {
        *out = v;
        return NULL;
    }
    for (size_t u = 0; u < nunits; u++) {
        if (strcmp(s + i, units[u].suffix) == 0) {
            if (__builtin_mul_overflow(v, units[u].mul, &v))
                return "too large";
            *out = v;
            return NULL;
        }
    }
    return what;
}

const char *
sg_config_parse_duration(const char *s, int64_t *out)
{
    return s_parse_unit(s, out, s_dur_units, SG_NELEM(s_dur_units),
                        "not a duration");
}

const char *
sg_config_parse_size(const char *s, int64_t *out)
{
    return s_parse_unit(s, out, s_size_units, SG_NELEM(s_size_units),
                        "not a size");
}

/* The largest unit that divides `v` exactly ("90s", "1h", "64MiB"). */
static void
s_fmt_unit(int64_t v, const s_unit_t *units, size_t nunits, int bare_bytes,
           char *out, size_t outsz)
{

    for (size_t u = nunits; u-- > 1;) {
        if (v != 0 && v % units[u].mul == 0) {
            snprintf(out, outsz, "%" PRId64 "%s", v / units[u].mul,
                     units[u].suffix);
            return;
        }
    }
    if (bare_bytes)
        snprintf(out, outsz, "%" PRId64, v);
    else
        snprintf(out, outsz, "%" PRId64 "%s", v, units[0].suffix);
}

static void
s_fmt_duration(int64_t v, char *out, size_t outsz)
{
    s_fmt_unit(v, s_dur_units, SG_NELEM(s_dur_units), 0, out, outsz);
}

static void
s_fmt_size(int64_t v, char *out, size_t outsz)
{
    s_fmt_unit(v, s_size_units, SG_NELEM(s_size_units), 1, out, outsz);
}

/* ---- one value -----------------------------------------------------------*/

static size_t
s_maxlen(const sg_cfg_key_t *k)
{
    return k->maxlen ? k->maxlen : S_MAXLEN_DEFAULT;
}

/* What a row accepts, for error messages. */
static void
s_expect(const sg_cfg_key_t *k, char *out, size_t outsz)
{
    char lo[32], hi[32];
    size_t o;

    switch (k->type) {
    case SG_CFG_INT:
        snprintf(out, outsz, "an integer in %" PRId64 "..%" PRId64, k->min,
                 k->max);
        break;
    case SG_CFG_BOOL:
        snprintf(out, outsz, "true or false");
        break;
    case SG_CFG_STRING:
        snprintf(out, outsz, "a string of at most %zu bytes", s_maxlen(k));
        break;
    case SG_CFG_ENUM:
        o = (size_t)snprintf(out, outsz, "one of");
        for (size_t i = 0; k->choices[i] && o < outsz; i++)
            o += (size_t)snprintf(out + o, outsz - o, "%s \"%s\"", i ? "," : "",
                                  k->choices[i]);
        break;
    case SG_CFG_DURATION:
        s_fmt_duration(k->min, lo, sizeof(lo));
        s_fmt_duration(k->max, hi, sizeof(hi));
        snprintf(out, outsz,
                 "a duration in %s..%s (seconds, or e.g. \"30s\", \"5m\", "
                 "\"1h\", \"2d\")",
                 lo, hi);
        break;
    case SG_CFG_SIZE:
        s_fmt_size(k->min, lo, sizeof(lo));
        s_fmt_size(k->max, hi, sizeof(hi));
        snprintf(out, outsz,
                 "a size in %s..%s (bytes, or e.g. \"64MiB\", \"2GiB\")", lo,
                 hi);
        break;
    case SG_CFG_PATH:
        snprintf(out, outsz, "a file path of 1..%zu bytes", s_maxlen(k));
        break;
    case SG_CFG_OBJLIST:
    case SG_CFG_STRLIST:
        if (k->max)
            snprintf(out, outsz, "a list of %" PRId64 "..%" PRId64 " %s",
                     k->min, k->max,
                     k->type == SG_CFG_OBJLIST ? "objects" : "strings");
        else
            snprintf(out, outsz, "a list of at least %" PRId64 " %s", k->min,
                     k->type == SG_CFG_OBJLIST ? "objects" : "strings");
        break;
    }
}

/*
 * Store one scalar given either as text (`s`, `len`; a JSON string or a
 * table default) or as a JSON integer (`s` NULL, `ival`).  Returns 0, or -1
 * when the row does not accept it.
 */
static int
s_store(const sg_cfg_key_t *k, const char *s, size_t len, int64_t ival,
        void *base)
{
    char *field = (char *)base + k->offset;
    int64_t v = ival;

    switch (k->type) {
    case SG_CFG_INT:
        if (s) {
            char *end;

            /* Only table defaults reach here as text. */
            errno = 0;
            v = strtoll(s, &end, 10);
            if (errno || end == s || *end)
                return -1;
        }
        if (v < k->min || v > k->max)
            return -1;
        memcpy(field, &v, sizeof(v));
        return 0;
    case SG_CFG_BOOL: {
        bool b;

        if (s == NULL || (strcmp(s, "true") != 0 && strcmp(s, "false") != 0))
            return -1;
        b = s[0] == 't';
        memcpy(field, &b, sizeof(b));
        return 0;
    }
    case SG_CFG_STRING:
    case SG_CFG_PATH: {
        char *copy;

        if (s == NULL || len > s_maxlen(k) || memchr(s, '\0', len) ||
            (k->type == SG_CFG_PATH && len == 0))
            return -1;
        copy = sg_strndup(s, len);
        memcpy(field, &copy, sizeof(copy));
        return 0;
    }
    case SG_CFG_ENUM:
        if (s == NULL || strlen(s) != len)
            return -1;
        for (int i = 0; k->choices[i]; i++) {
            if (strcmp(k->choices[i], s) == 0) {
                memcpy(field, &i, sizeof(i));
                return 0;
            }
        }
        return -1;
    case SG_CFG_DURATION:
    case SG_CFG_SIZE:
        if (s &&
            (strlen(s) != len || (k->type == SG_CFG_DURATION
                                      ? sg_config_parse_duration(s, &v)
                                      : sg_config_parse_size(s, &v)) != NULL))
            return -1;
        if (v < k->min || v > k->max)
            return -1;
        memcpy(field, &v, sizeof(v));
        return 0;
    case SG_CFG_OBJLIST:
    case SG_CFG_STRLIST:
        return -1;
    }
    return -1;
}

static void s_free_object(const sg_cfg_table_t *t, void *base);

static void
s_free_row(const sg_cfg_key_t *k, void *base)
{
    char *field = (char *)base + k->offset;

    if (k->type == SG_CFG_STRING || k->type == SG_CFG_PATH) {
        char *p;

        memcpy(&p, field, sizeof(p));
        sg_free(p);
        p = NULL;
        memcpy(field, &p, sizeof(p));
    } else if (k->type == SG_CFG_OBJLIST) {
        sg_cfg_list_t *l = (sg_cfg_list_t *)(void *)field;

        for (size_t i = 0; i < l->n; i++)
            s_free_object(k->sub, (char *)l->items + i * k->sub->size);
        sg_free(l->items);
        memset(l, 0, sizeof(*l));
    } else if (k->type == SG_CFG_STRLIST) {
        sg_cfg_strlist_t *l = (sg_cfg_strlist_t *)(void *)field;

        for (size_t i = 0; i < l->n; i++)
            sg_free(l->v[i]);
        sg_free(l->v);
        memset(l, 0, sizeof(*l));
    }
}

static void
s_free_object(const sg_cfg_table_t *t, void *base)
{
    for (size_t i = 0; i < t->nkeys; i++)
        s_free_row(&t->keys[i], base);
}

void
sg_config_free(const sg_cfg_table_t *t, void *opts)
{
    if (opts)
        s_free_object(t, opts);
}

/* ---- the table walk ------------------------------------------------------*/

static sg_rc s_load_object(s_ctx_t *ctx, const sg_cfg_table_t *t, json_t *obj,
                           void *base);

static void
s_push(s_ctx_t *ctx, const char *key, size_t index)
{
    /* The walk descends only where a table does; tables are shallow. */
    if (ctx->depth == S_DEPTH_MAX)
        sg_panic("sg_config: table nested deeper than %d", S_DEPTH_MAX);
    ctx->comp[ctx->depth].key = key;
    ctx->comp[ctx->depth].index = index;
    ctx->depth++;
}

static sg_rc
s_load_list(s_ctx_t *ctx, const sg_cfg_key_t *k, json_t *v, void *base)
{
    char *field = (char *)base + k->offset, expect[384];
    size_t n = json_array_size(v);
    sg_rc rc = SG_OK;

    s_expect(k, expect, sizeof(expect));
    if (!json_is_array(v) || (int64_t)n < k->min ||
        (k->max && (int64_t)n > k->max))
        return s_fail(ctx, S_AT_VALUE, NULL, "expected %s", expect);
    if (k->type == SG_CFG_OBJLIST) {
        sg_cfg_list_t *l = (sg_cfg_list_t *)(void *)field;

        l->items = sg_calloc(n, k->sub->size);
        for (size_t i = 0; i < n && rc == SG_OK; i++) {
            json_t *item = json_array_get(v, i);

            s_push(ctx, NULL, i);
            if (!json_is_object(item))
                rc = s_fail(ctx, S_AT_VALUE, NULL, "expected an object");
            else
                rc = s_load_object(ctx, k->sub, item,
                                   (char *)l->items + i * k->sub->size);
            ctx->depth--;
            /* Count the item even when it failed: it may hold allocations. */
            l->n = i + 1;
        }
        return rc;
    }

    sg_cfg_strlist_t *l = (sg_cfg_strlist_t *)(void *)field;

    l->v = sg_calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(v, i);
        size_t len = json_string_length(item);

        if (!json_is_string(item) || len > s_maxlen(k) ||
            memchr(json_string_value(item), '\0', len)) {
            s_push(ctx, NULL, i);
            rc = s_fail(ctx, S_AT_VALUE, NULL,
                        "expected a string of at most %zu bytes", s_maxlen(k));
            ctx->depth--;
            return rc;
        }
        l->v[i] = sg_strndup(json_string_value(item), len);
        l->n = i + 1;
    }
    return SG_OK;
}

static sg_rc
s_load_value(s_ctx_t *ctx, const sg_cfg_key_t *k, json_t *v, void *base)
{
    char expect[384];
    int bad;

    if (k->type == SG_CFG_OBJLIST || k->type == SG_CFG_STRLIST)
        return s_load_list(ctx, k, v, base);
    if (json_is_string(v) && (k->type == SG_CFG_INT || k->type == SG_CFG_BOOL))
        bad = -1; /* "5" is not 5, "true" is not true: types stay exact */
    else if (json_is_string(v))
        bad = s_store(k, json_string_value(v), json_string_length(v), 0, base);
    else if (json_is_integer(v) &&
             (k->type == SG_CFG_INT || k->type == SG_CFG_DURATION ||
              k->type == SG_CFG_SIZE))
        bad = s_store(k, NULL, 0, json_integer_value(v), base);
    else if (json_is_boolean(v) && k->type == SG_CFG_BOOL)
        bad = s_store(k, json_is_true(v) ? "true" : "false", 0, 0, base);
    else
        bad = -1;
    if (bad == 0)
        return SG_OK;
    s_expect(k, expect, sizeof(expect));
    return s_fail(ctx, S_AT_VALUE, NULL, "expected %s", expect);
}

/* Is `full` + "." a prefix of some row's path (an intermediate object)? */
static int
s_is_prefix(const sg_cfg_table_t *t, const char *full, size_t len)
{
    for (size_t i = 0; i < t->nkeys; i++)
        if (strncmp(t->keys[i].path, full, len) == 0 &&
            t->keys[i].path[len] == '.')
            return 1;
    return 0;
}

static sg_rc
s_walk(s_ctx_t *ctx, const sg_cfg_table_t *t, json_t *obj, const char *prefix,
       void *base, bool *seen)
{
    const char *name;
    json_t *v;
    sg_rc rc = SG_OK;

    json_object_foreach(obj, name, v)
    {
        char full[256];
        size_t i;
        int k;

        s_push(ctx, name, 0);
        k = snprintf(full, sizeof(full), "%s%s", prefix, name);
        /*
         * A member named "store.map_max" must not match the row of that
         * path: dots separate objects, they are not part of a name.
         */
        if (k < 0 || (size_t)k >= sizeof(full) || name[0] == '\0' ||
            strchr(name, '.')) {
            rc = s_fail(ctx, S_AT_KEY, NULL, "unknown key");
            goto out;
        }
        for (i = 0; i < t->nkeys; i++)
            if (strcmp(t->keys[i].path, full) == 0)
                break;
        if (i < t->nkeys) {
            seen[i] = true;
            rc = s_load_value(ctx, &t->keys[i], v, base);
        } else if (s_is_prefix(t, full, (size_t)k)) {
            if (!json_is_object(v)) {
                rc = s_fail(ctx, S_AT_VALUE, NULL, "expected an object");
                goto out;
            }
            char sub[sizeof(full) + 1];

            snprintf(sub, sizeof(sub), "%s.", full);
            rc = s_walk(ctx, t, v, sub, base, seen);
        } else {
            rc = s_fail(ctx, S_AT_KEY, NULL, "unknown key");
        }
    out:
        ctx->depth--;
        if (rc != SG_OK)
            return rc;
    }
    return SG_OK;
}

static sg_rc
s_load_object(s_ctx_t *ctx, const sg_cfg_table_t *t, json_t *obj, void *base)
{
    bool *seen = sg_calloc(t->nkeys, sizeof(bool));
    sg_rc rc;

    rc = s_walk(ctx, t, obj, "", base, seen);
    for (size_t i = 0; i < t->nkeys && rc == SG_OK; i++) {
        const sg_cfg_key_t *k = &t->keys[i];

        if (seen[i])
            continue;
        if (k->required)
            rc = s_fail(ctx, S_AT_VALUE, k->path, "missing required key");
        else if (k->def && s_store(k, k->def, strlen(k->def), 0, base) < 0)
            sg_panic("sg_config: default of %s does not load", k->path);
    }
    sg_free(seen);
    return rc;
}

/* ---- the table's own check -----------------------------------------------*/

static const char *
s_check_row(const sg_cfg_table_t *t, size_t idx, char *why, size_t whysz)
{
    const sg_cfg_key_t *k = &t->keys[idx];
    size_t len = k->path ? strlen(k->path) : 0;

    if (len == 0 || k->path[0] == '.' || k->path[len - 1] == '.' ||
        strstr(k->path, "..") || strpbrk(k->path, "[]\"")) {
        snprintf(why, whysz, "row %zu: bad path", idx);
        return why;
    }
    for (size_t j = 0; j < t->nkeys; j++) {
        const char *o = t->keys[j].path;

        if (j != idx && o &&
            (strcmp(o, k->path) == 0 ||
             (strncmp(o, k->path, len) == 0 && o[len] == '.'))) {
            snprintf(why, whysz, "%s: clashes with %s", k->path, o);
            return why;
        }
    }
    if (k->required && k->def) {
        snprintf(why, whysz, "%s: required with a default", k->path);
        return why;
    }
    switch (k->type) {
    case SG_CFG_INT:
    case SG_CFG_DURATION:
    case SG_CFG_SIZE:
        if (k->min > k->max || (k->type != SG_CFG_INT && k->min < 0)) {
            snprintf(why, whysz, "%s: bad bounds", k->path);
            return why;
        }
        break;
    case SG_CFG_ENUM:
        if (k->choices == NULL || k->choices[0] == NULL) {
            snprintf(why, whysz, "%s: enum without choices", k->path);
            return why;
        }
        break;
    case SG_CFG_OBJLIST:
    case SG_CFG_STRLIST:
        if (k->def || k->min < 0 || (k->max && k->max < k->min) ||
            (k->type == SG_CFG_OBJLIST &&
             (k->sub == NULL || k->sub->size == 0))) {
            snprintf(why, whysz, "%s: bad list row", k->path);
            return why;
        }
        if (k->type == SG_CFG_OBJLIST) {
            const char *sub = sg_config_table_check(k->sub);
            char copy[256];

            if (sub) {
                /* `sub` may be `why` itself: copy before writing. */
                snprintf(copy, sizeof(copy), "%s", sub);
                snprintf(why, whysz, "%s[]: %s", k->path, copy);
                return why;
            }
        }
        break;
    case SG_CFG_BOOL:
    case SG_CFG_STRING:
    case SG_CFG_PATH:
        break;
    default:
        snprintf(why, whysz, "%s: unknown type", k->path);
        return why;
    }
    if (k->def && k->type != SG_CFG_OBJLIST && k->type != SG_CFG_STRLIST) {
        /* A scratch struct big enough for any one field at its offset. */
        size_t sz = k->offset + sizeof(int64_t) + sizeof(char *);
        char *scratch = sg_calloc(1, sz);
        int bad = s_store(k, k->def, strlen(k->def), 0, scratch);

        if (bad == 0)
            s_free_row(k, scratch);
        sg_free(scratch);
        if (bad) {
            snprintf(why, whysz, "%s: default \"%s\" does not load", k->path,
                     k->def);
            return why;
        }
    }
    return NULL;
}

const char *
sg_config_table_check(const sg_cfg_table_t *t)
{
    static char why[512];

    if (t == NULL || t->keys == NULL || t->nkeys == 0)
        return "empty table";
    for (size_t i = 0; i < t->nkeys; i++)
        if (s_check_row(t, i, why, sizeof(why)))
            return why;
    return NULL;
}

/* ---- loading -------------------------------------------------------------*/

sg_rc
sg_config_load_buf(const sg_cfg_table_t *t, const char *file, const char *buf,
                   size_t n, void *opts, sg_config_err_t *err)
{
    const char *bad = sg_config_table_check(t);
    s_ctx_t ctx = {.file = file, .buf = buf, .n = n, .err = err};
    json_error_t je;
    json_t *root;
    sg_rc rc;

    if (bad)
        sg_panic("sg_config: broken table: %s", bad);
    memset(err, 0, sizeof(*err));
    /* Duplicate keys are refused: which of the two would win is a guess. */
    root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        err->line = je.line;
        err->column = je.column;
        snprintf(err->text, sizeof(err->text), "%s:%d:%d: %s", file, je.line,
                 je.column, je.text);
        return SG_REFUSED;
    }
    if (!json_is_object(root))
        rc = s_fail(&ctx, S_AT_VALUE, NULL, "expected a JSON object");
    else
        rc = s_load_object(&ctx, t, root, opts);
    json_decref(root);
    if (rc != SG_OK)
        sg_config_free(t, opts);
    return rc;
}

sg_rc
sg_config_read_file(const char *path, char **buf_out, size_t *len,
                    sg_config_err_t *err)
{
    char *buf = NULL;
    size_t n = 0;
    struct stat st;
    sg_rc rc = SG_ERR;
    int fd;

    memset(err, 0, sizeof(*err));
    *buf_out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err->text, sizeof(err->text), "%s: open: %s", path,
                 strerror(errno));
        return SG_ERR;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err->text, sizeof(err->text), "%s: fstat: %s", path,
                 strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > S_FILE_MAX) {
        snprintf(err->text, sizeof(err->text),
                 "%s: not a regular file of at most %d bytes", path,
                 S_FILE_MAX);
        goto out;
    }
    buf = sg_malloc((size_t)st.st_size + 1);
    while (n < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err->text, sizeof(err->text), "%s: read: %s", path,
                     k < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        n += (size_t)k;
    }
    buf[n] = '\0';
    *buf_out = buf;
    *len = n;
    buf = NULL;
    rc = SG_OK;
out:
    sg_free(buf);
    close(fd);
    return rc;
}

sg_rc
sg_config_load_file(const sg_cfg_table_t *t, const char *path, void *opts,
                    sg_config_err_t *err)
{
    char *buf;
    size_t n;
    sg_rc rc;

    if (sg_config_read_file(path, &buf, &n, err) != SG_OK)
        return SG_ERR;
    rc = sg_config_load_buf(t, path, buf, n, opts, err);
    sg_free(buf);
    return rc;
}

/* ---- printing ------------------------------------------------------------*/

static json_t *s_dump_object(const sg_cfg_table_t *t, const void *base);

static json_t *
s_dump_row(const sg_cfg_key_t *k, const void *base)
{
    const char *field = (const char *)base + k->offset;
    char tmp[32];
    int64_t v;
    json_t *a;

    switch (k->type) {
    case SG_CFG_INT:
        memcpy(&v, field, sizeof(v));
        return json_integer(v);
    case SG_CFG_BOOL: {
        bool b;

        memcpy(&b, field, sizeof(b));
        return json_boolean(b);
    }
    case SG_CFG_STRING:
    case SG_CFG_PATH: {
        const char *s;

        memcpy(&s, field, sizeof(s));
        return s ? json_string(s) : NULL;
    }
    case SG_CFG_ENUM: {
        int i;

        memcpy(&i, field, sizeof(i));
        return json_string(k->choices[i]);
    }
    case SG_CFG_DURATION:
        memcpy(&v, field, sizeof(v));
        s_fmt_duration(v, tmp, sizeof(tmp));
        return json_string(tmp);
    case SG_CFG_SIZE:
        memcpy(&v, field, sizeof(v));
        s_fmt_size(v, tmp, sizeof(tmp));
        return strchr(tmp, 'B') ? json_string(tmp) : json_integer(v);
    case SG_CFG_OBJLIST: {
        const sg_cfg_list_t *l = (const sg_cfg_list_t *)(const void *)field;

        a = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(a,
                                  s_dump_object(k->sub, (const char *)l->items +
                                                            i * k->sub->size));
        return a;
    }
    case SG_CFG_STRLIST: {
        const sg_cfg_strlist_t *l =
            (const sg_cfg_strlist_t *)(const void *)field;

        a = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(a, json_string(l->v[i]));
        return a;
    }
    }
    return NULL;
}

static json_t *
s_dump_object(const sg_cfg_table_t *t, const void *base)
{
    json_t *root = json_object();

    for (size_t i = 0; i < t->nkeys; i++) {
        const char *path = t->keys[i].path, *dot;
        json_t *obj = root, *v = s_dump_row(&t->keys[i], base);

        if (v == NULL)
            continue;
        /* Walk or create the objects named by the path's leading parts. */
        while ((dot = strchr(path, '.')) != NULL) {
            char part[256];
            json_t *next;

            snprintf(part, sizeof(part), "%.*s", (int)(dot - path), path);
            next = json_object_get(obj, part);
            if (next == NULL) {
                next = json_object();
                json_object_set_new(obj, part, next);
            }
            obj = next;
            path = dot + 1;
        }
        json_object_set_new(obj, path, v);
    }
    return root;
}

char *
sg_config_dump(const sg_cfg_table_t *t, const void *opts)
{
    json_t *root = s_dump_object(t, opts);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    json_decref(root);
    if (s == NULL)
        sg_panic("json_dumps: out of memory");
    return s;
}

/* ---- the reference table -------------------------------------------------*/

static const char *const s_type_names[] = {
    [SG_CFG_INT] = "integer",
    [SG_CFG_BOOL] = "bool",
    [SG_CFG_STRING] = "string",
    [SG_CFG_ENUM] = "enum",
    [SG_CFG_DURATION] = "duration",
    [SG_CFG_SIZE] = "size",
    [SG_CFG_PATH] = "path",
    [SG_CFG_OBJLIST] = "list of objects",
    [SG_CFG_STRLIST] = "list of strings",
};

/* Markdown cells: a '|' inside one would split the row. */
static void
s_cell(s_buf_t *b, const char *s)
{
    for (; *s; s++)
        s_buf_add(b, *s == '|' ? "\\|" : "%c", *s);
    s_buf_add(b, " | ");
}

static void
s_reference(s_buf_t *b, const sg_cfg_table_t *t, const char *prefix)
{
    for (size_t i = 0; i < t->nkeys; i++) {
        const sg_cfg_key_t *k = &t->keys[i];
        char range[384] = "", lo[32], hi[32], key[300];

        switch (k->type) {
        case SG_CFG_INT:
            snprintf(range, sizeof(range), "%" PRId64 "..%" PRId64, k->min,
                     k->max);
            break;
        case SG_CFG_DURATION:
            s_fmt_duration(k->min, lo, sizeof(lo));
            s_fmt_duration(k->max, hi, sizeof(hi));
            snprintf(range, sizeof(range), "%s..%s", lo, hi);
            break;
        case SG_CFG_SIZE:
            s_fmt_size(k->min, lo, sizeof(lo));
            s_fmt_size(k->max, hi, sizeof(hi));
            snprintf(range, sizeof(range), "%s..%s", lo, hi);
            break;
        case SG_CFG_STRING:
        case SG_CFG_PATH:
            snprintf(range, sizeof(range), "at most %zu bytes", s_maxlen(k));
            break;
        case SG_CFG_ENUM: {
            size_t o = 0;

            for (size_t c = 0; k->choices[c] && o < sizeof(range); c++)
                o += (size_t)snprintf(range + o, sizeof(range) - o, "%s%s",
                                      c ? ", " : "", k->choices[c]);
            break;
        }
        case SG_CFG_OBJLIST:
        case SG_CFG_STRLIST:
            if (k->max)
                snprintf(range, sizeof(range), "%" PRId64 "..%" PRId64 " items",
                         k->min, k->max);
            else
                snprintf(range, sizeof(range), "at least %" PRId64 " items",
                         k->min);
            break;
        case SG_CFG_BOOL:
            snprintf(range, sizeof(range), "true, false");
            break;
        }
        snprintf(key, sizeof(key), "%s%s", prefix, k->path);
        s_buf_add(b, "| ");
        s_cell(b, key);
        s_cell(b, s_type_names[k->type]);
        s_cell(b, k->required ? "required" : k->def ? k->def : "-");
        s_cell(b, range);
        s_cell(b, k->doc ? k->doc : "");
        b->n--; /* the cell's trailing space */
        s_buf_add(b, "\n");
        if (k->type == SG_CFG_OBJLIST) {
            snprintf(key, sizeof(key), "%s%s[].", prefix, k->path);
            s_reference(b, k->sub, key);
        }
    }
}

char *
sg_config_reference(const sg_cfg_table_t *t)
{
    s_buf_t b = {0};

    s_buf_add(&b, "| key | type | default | range | meaning |\n"
                  "|---|---|---|---|---|\n");
    s_reference(&b, t, "");
    return b.p;
}

/* ---- key files -----------------------------------------------------------*/

sg_rc
sg_config_check_secret_file(const char *path, const char **why)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        *why = errno == ENOENT ? "does not exist" : "cannot be examined";
        return SG_REFUSED;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return SG_REFUSED;
    }
    /* A private key others can read is already disclosed: refuse to use it
     * rather than let the deployment carry on believing it is secret. */
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        *why = "accessible by group or others (chmod 600)";
        return SG_REFUSED;
    }
    *why = NULL;
    return SG_OK;
}
