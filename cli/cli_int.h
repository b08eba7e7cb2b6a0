/*
 * cli/cli_int.h - helpers shared by the cli/ files (cli/cli_util.c) and the
 * few calls one command makes into another.
 *
 * Every helper that can fail prints one line on stderr in the house form
 *     stirgate: passport verify: --now: not a number: "abc"
 * and returns -1 (or NULL); the caller then exits 2 without printing more.
 */
#ifndef CLI_INT_H
#define CLI_INT_H

#include "lib/sg.h"
#include "proto/proto_reason.h"
#include "proto/proto_tn.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_NEGATIVE 1
#define CLI_EXIT_USAGE 2

/* Size caps on files the CLI reads: nothing legitimate comes close. */
#define CLI_MAX_PEM (1u << 20)   /* certificates, keys, CRLs, maps */
#define CLI_MAX_BODY (16u << 20) /* a message body */

/* "stirgate: <cmd>: <message>\n" on stderr; `cmd` like "passport verify". */
void cli_err(const char *cmd, const char *fmt, ...) SG_PRINTF(2, 3);

/*
 * Options of one command.  Every option takes a value ("--name VALUE" or
 * "--name=VALUE"); a repeated option is an error.  Values are borrowed from
 * argv.
 */
typedef struct {
    const char *name; /* without the leading "--" */
    const char *value; /* NULL when not given; filled by cli_opts_parse */
} cli_opt_t;

/*
 * Parse argv[0..argc) into `opts` and positional arguments (at most
 * `max_pos`, borrowed into pos[]).  Returns 0, or -1 after printing the
 * problem (unknown option, missing value, repeated option, too many
 * arguments).
 */
int cli_opts_parse(const char *cmd, cli_opt_t *opts, size_t n_opts, int argc,
                   char **argv, const char **pos, size_t max_pos,
                   size_t *n_pos);

/* The value of option `name` (NULL when absent).  `name` must be one of
 * the table's names. */
const char *cli_opt(const cli_opt_t *opts, size_t n_opts, const char *name);

/* A decimal integer in [min, max] ("-" allowed when min < 0).  0 or -1. */
int cli_parse_i64(const char *cmd, const char *opt, const char *s,
                  int64_t min, int64_t max, int64_t *out);

/*
 * Read a whole file of at most `cap` bytes; new, NUL-terminated (the NUL
 * not counted in *len).  NULL after printing "<opt>: <path>: <why>".
 */
char *cli_read_file(const char *cmd, const char *opt, const char *path,
                    size_t cap, size_t *len);

/* "<dir>/<name>" into out[outsz].  0, or -1 after printing "path too
 * long". */
int cli_join(const char *cmd, char *out, size_t outsz, const char *dir,
             const char *name);

/* Canonicalize one identity (a TN or a SIP/tel URI).  0 or -1. */
int cli_parse_ident(const char *cmd, const char *opt, const char *s,
                    const char *default_cc, proto_ident_t *out);

/*
 * A comma-separated list of identities (at most `max`).  Returns the count
 * (>= 1), or -1 after printing the problem.
 */
int cli_parse_ident_list(const char *cmd, const char *opt, const char *s,
                         const char *default_cc, proto_ident_t *out,
                         size_t max);

/* Print `v` as one compact JSON line on stdout (insertion order kept).
 * Steals the reference.  0 or -1. */
int cli_json_print(json_t *v);

/* A json string, or null when s is NULL: a new reference. */
json_t *cli_json_str_or_null(const char *s);

/*
 * passport verify with an argv (as after "passport verify"): the CLI command
 * itself, and what the demo runs.  Prints the JSON verdict; returns the exit
 * code and, when a verdict was reached, the reason in *reason (else
 * REASON__COUNT).
 */
int cli_passport_verify(int argc, char **argv, proto_reason *reason);

/* Demo PKI options of `pki demo`. */
typedef struct {
    const char *range_start; /* default "12025550000" */
    uint64_t range_count;    /* default 10000 */
    const char *spc;         /* NULL = no SPC entry */
    int64_t days;            /* signer validity, default 365 */
    int quiet;               /* 1: do not list the files written */
} cli_pki_demo_opts;

/* Write the demo PKI files into `dir` (created when missing).  0 or -1
 * after printing the problem. */
int cli_pki_demo_write(const char *cmd, const char *dir,
                       const cli_pki_demo_opts *opts);

/*
 * A TLS server certificate for 127.0.0.1 (SAN IP:127.0.0.1, serverAuth)
 * signed by the demo anchor in `dir` (ca.pem, ca.key of
 * cli_pki_demo_write), written as dir/tls.pem and dir/tls.key (0600):
 * what the embedded default's HTTPS listener serves the x5u with.  0 or
 * -1 after printing the problem.
 */
int cli_pki_tls_write(const char *cmd, const char *dir);

/* run: the master (cli/cli_run.c); config check|reference
 * (cli/cli_config.c). */
int cli_run_main(int argc, char **argv);
int cli_config_main(int argc, char **argv);

/*
 * The arguments of run and config check (argv[0] is the command): "-c
 * FILE", "--config FILE" or "--config=FILE" into *path (NULL when absent,
 * borrowed from argv) and, when `strict` is not NULL, "--strict".  0, or
 * -1 after printing the problem.
 */
int cli_conf_args(const char *cmd, int argc, char **argv, const char **path,
                  int *strict);

/*
 * The embedded default of `stirgate run` (cli/cli_run.c).  The data
 * directory: $STIRGATE_DATA, else ./stirgate-data, made absolute (not
 * created).  0, or -1 after printing the problem.
 */
int cli_run_default_dir(const char *cmd, char *out, size_t outsz);

/* The embedded default config for data directory `dir` (absolute): new
 * JSON text. */
char *cli_run_default_json(const char *dir);

/* The x5u flags of `cert fetch` and `passport verify` (cli/cli_cert.c). */
typedef struct {
    int allow_loopback;
    const char *tls_ca;
    const char *cache_dir;
} cli_x5u_opts;

/* Take --x5u-allow-loopback, --x5u-tls-ca FILE and --cache-dir DIR out of
 * argv (in place).  0, or -1 after printing the problem. */
int cli_x5u_take_opts(const char *cmd, int *argc, char **argv,
                      cli_x5u_opts *out);

/* An x5u cache configured from the flags (relaxations logged).  New, or
 * NULL after printing the problem. */
struct verify_x5u_cache;
struct verify_trust;
struct verify_x5u_cache *cli_x5u_cache_new(const char *cmd,
                                           const cli_x5u_opts *xo,
                                           struct verify_trust *trust,
                                           const char *trust_file);

#endif
