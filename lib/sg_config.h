/*
 * lib/sg_config.h - the typed config engine (STYLE.md "Config").
 *
 * One JSON file is validated against a table of typed rows.  Each row names
 * a dotted key path ("store.map_max" is {"store": {"map_max": ...}}), a
 * type with bounds, a default, a one-line doc and the offset of the field
 * in the caller's options struct, so a loaded value lands typed:
 *
 *   type               JSON accepted                      C field
 *   SG_CFG_INT         integer, min..max                  int64_t
 *   SG_CFG_BOOL        true / false                       bool
 *   SG_CFG_STRING      string, at most maxlen bytes       char * (new)
 *   SG_CFG_ENUM        one of `choices`                   int (the index)
 *   SG_CFG_DURATION    integer seconds or "30s" "5m"      int64_t seconds
 *                      "1h" "2d", min..max
 *   SG_CFG_SIZE        integer bytes or "512B" "64KiB"    int64_t bytes
 *                      "64MiB" "2GiB" "1TiB", min..max
 *   SG_CFG_PATH        non-empty string, no NUL           char * (new)
 *   SG_CFG_OBJLIST     array of objects, each checked     sg_cfg_list_t
 *                      against `sub`; min..max items
 *   SG_CFG_STRLIST     array of strings, min..max items,  sg_cfg_strlist_t
 *                      each at most maxlen bytes
 *
 * Defaults are written as text in the file's own syntax ("30s", "64MiB",
 * "true", an enum name, "100") and parsed by the same code as the file, so
 * the reference table shows exactly what a user would write.  A row with
 * no default and not required leaves its field zero (NULL for strings and
 * paths, empty for lists).
 *
 * The engine is generic: it knows no stirgate key.  It does no logging;
 * a failure fills an sg_config_err_t whose `text` the caller logs once.
 *
 * Positions: jansson keeps no node positions, so on a failure the engine
 * rescans the (already accepted) text to find the member; lines and
 * columns are 1-based and columns count characters, as jansson's do.
 * Unknown keys point at the member name, bad values at the value, a
 * missing required key at the object that should hold it.
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include "lib/sg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SG_CFG_INT = 1,
    SG_CFG_BOOL,
    SG_CFG_STRING,
    SG_CFG_ENUM,
    SG_CFG_DURATION,
    SG_CFG_SIZE,
    SG_CFG_PATH,
    SG_CFG_OBJLIST,
    SG_CFG_STRLIST,
} sg_cfg_type;

struct sg_cfg_table;

typedef struct {
    const char *path; /* dotted, relative to the table's object */
    sg_cfg_type type;
    size_t offset;    /* offsetof(options struct, field) */
    bool required;    /* no default; absence is an error */
    int64_t min, max; /* INT/DURATION/SIZE value, OBJLIST/STRLIST items */
    size_t maxlen;    /* STRING/PATH/STRLIST item bytes; 0 = 4096 */
    const char *def;  /* default in file syntax, NULL = none */
    const char *const *choices;     /* ENUM: NULL-terminated */
    const struct sg_cfg_table *sub; /* OBJLIST: the items' table */
    const char *doc;                /* one line for the reference */
} sg_cfg_key_t;

typedef struct sg_cfg_table {
    const sg_cfg_key_t *keys;
    size_t nkeys;
    size_t size; /* sizeof the struct the rows fill (OBJLIST items) */
} sg_cfg_table_t;

/* An OBJLIST field: `n` items of the sub-table's struct, new. */
typedef struct {
    void *items;
    size_t n;
} sg_cfg_list_t;

/* A STRLIST field: `n` new strings. */
typedef struct {
    char **v;
    size_t n;
} sg_cfg_strlist_t;

typedef struct {
    int line, column; /* 0 when no position applies (file unreadable) */
    char key[256];    /* "peers[1].name"; "" when not about one key */
    char text[768];   /* "FILE:LINE:COL: KEY: what was expected" */
} sg_config_err_t;

/*
 * Check a table's own consistency: every default parses and lies within
 * bounds, enums have choices, OBJLIST rows have a sub-table, no two rows
 * share a path, no path is both a key and a prefix of another.  Returns
 * NULL or a why (static, or in a static buffer overwritten by the next
 * call).  Loading panics on a table that fails this: it is a broken
 * invariant, not bad input.
 */
const char *sg_config_table_check(const sg_cfg_table_t *t);

/*
 * Load `n` bytes of JSON text (named `file` in messages) into `opts`, a
 * zeroed struct the table describes.  Returns SG_OK, or SG_REFUSED with
 * `err` filled and `opts` freed back to zeros.  Pure: no I/O.
 */
sg_rc sg_config_load_buf(const sg_cfg_table_t *t, const char *file,
                         const char *buf, size_t n, void *opts,
                         sg_config_err_t *err) SG_WUR;

/*
 * Read `path` and load it as above.  SG_ERR when the file cannot be read
 * (err->text names the failing call and errno), SG_REFUSED when invalid.
 */
sg_rc sg_config_load_file(const sg_cfg_table_t *t, const char *path, void *opts,
                          sg_config_err_t *err) SG_WUR;

/*
 * Read a whole config file (a regular file of bounded size) into a new,
 * NUL-terminated buffer.  SG_OK, or SG_ERR with err->text naming the
 * failing call and errno.
 */
sg_rc sg_config_read_file(const char *path, char **buf, size_t *len,
                          sg_config_err_t *err) SG_WUR;

/*
 * Line and column (1-based, characters) of the value at a dotted/indexed
 * path such as "peers[1].sip[0]" in text the engine already accepted, as
 * deep as the path is found: for rules checked after loading that span
 * several keys.
 */
void sg_config_position(const char *buf, size_t n, const char *path,
                        int *line, int *col);

/* Free what loading allocated in `opts` and zero those fields. */
void sg_config_free(const sg_cfg_table_t *t, void *opts);

/*
 * The effective config as indented JSON, defaults filled in, in table
 * order; durations and sizes in the largest exact unit ("1h", "64MiB"),
 * so the output loads back to the same values.  Unset optional strings
 * are left out.  Secrets are only file paths, so printing is safe.  New.
 */
char *sg_config_dump(const sg_cfg_table_t *t, const void *opts);

/*
 * The reference table as Markdown: | key | type | default | range |
 * meaning |, one row per key, OBJLIST items as "peers[].name".  New.
 */
char *sg_config_reference(const sg_cfg_table_t *t);

/*
 * Parse a duration ("30s", "5m", "1h", "2d", or digits meaning seconds)
 * or a size ("512B", "64KiB", "64MiB", "2GiB", "1TiB", or digits meaning
 * bytes).  Returns NULL or a why; the value is not range-checked.
 */
const char *sg_config_parse_duration(const char *s, int64_t *out);
const char *sg_config_parse_size(const char *s, int64_t *out);

/*
 * Refuse a key file that is not a regular file or that group or others can
 * access in any way (chmod 600 or 400 passes).  Returns SG_OK, or
 * SG_REFUSED with *why set to a static string.
 */
sg_rc sg_config_check_secret_file(const char *path, const char **why) SG_WUR;

#endif
