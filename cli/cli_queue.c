/*
 * cli/cli_queue.c - `stirgate queue`: inspect and act on the message store
 * through its control commands (proto/PROTOCOL.md "Control").
 *
 *   stirgate queue list [--state S] [--limit N] [--json]
 *   stirgate queue show ID [--json]
 *   stirgate queue requeue ID | --all
 *   stirgate queue hold ID | release ID | delete ID
 *   common: --run-dir DIR | --endpoint E, --timeout MS
 *
 * Exit codes: 0 done; 1 the store said no (no such message, wrong state);
 * 2 usage errors and a store that does not answer.
 */
#include "cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_int.h"
#include "lib/sg.h"
#include "lib/sg_clock.h"
#include "proto/proto_msg.h"
#include "proto/proto_wire.h"
#include "store/store_client.h"

#define S_DEFAULT_RUN_DIR "/run/stirgate"

typedef struct {
    const char *sub, *id, *state, *run_dir, *endpoint;
    long limit, timeout_ms;
    int json, all;
} s_args;

static int
s_usage(void)
{
    fputs("usage: stirgate queue list [--state "
          "queued|leased|held|dead|done] [--limit N] [--json]\n"
          "       stirgate queue show ID [--json]\n"
          "       stirgate queue requeue ID|--all\n"
          "       stirgate queue hold|release|delete ID\n"
          "  [--run-dir DIR | --endpoint E] [--timeout MS]\n",
          stderr);
    return CLI_EXIT_USAGE;
}

static int
s_parse(int argc, char **argv, s_args *a)
{
    memset(a, 0, sizeof(*a));
    a->limit = 1000;
    a->timeout_ms = 3000;
    a->run_dir = getenv("STIRGATE_RUN_DIR") ? getenv("STIRGATE_RUN_DIR")
                                            : S_DEFAULT_RUN_DIR;
    if (argc < 2)
        return -1;
    a->sub = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(o, "--all") == 0) {
            a->all = 1;
        } else if (strncmp(o, "--", 2) == 0) {
            if (v == NULL) {
                cli_err("queue", "%s: missing value", o);
                return -1;
            }
            i++;
            if (strcmp(o, "--state") == 0)
                a->state = v;
            else if (strcmp(o, "--run-dir") == 0)
                a->run_dir = v;
            else if (strcmp(o, "--endpoint") == 0)
                a->endpoint = v;
            else if (strcmp(o, "--limit") == 0 || strcmp(o, "--timeout") == 0) {
                char *end;
                long n = strtol(v, &end, 10);
                long max = o[2] == 'l' ? (long)PROTO_WIRE_LIST_MAX : 600000;
                if (*v == '\0' || *end != '\0' || n < 1 || n > max) {
                    cli_err("queue", "%s: not a number in [1, %ld]: \"%s\"",
                            o, max, v);
                    return -1;
                }
                if (o[2] == 'l')
                    a->limit = n;
                else
                    a->timeout_ms = n;
            } else {
                cli_err("queue", "unknown option %s", o);
                return -1;
            }
        } else if (a->id == NULL) {
            a->id = o;
        } else {
            cli_err("queue", "unexpected argument \"%s\"", o);
            return -1;
        }
    }
    return 0;
}

/* Milliseconds since the epoch as UTC, or "-" for 0. */
static const char *
s_time(json_int_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0)
        return "-";
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static const char *
s_jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static void
s_print_list(json_t *arr)
{
    size_t i;
    json_t *o;
    char t1[32];

    printf("%-32s  %-6s  %4s  %-20s  %-16s  %-16s  %s\n", "ID", "STATE",
           "ATT", "NEXT/UNTIL", "FROM", "TO", "LAST ERROR");
    json_array_foreach(arr, i, o)
    {
        json_int_t when = json_integer_value(json_object_get(o, "next_due_ms"));
        if (when == 0)
            when = json_integer_value(json_object_get(o, "lease_until_ms"));
        if (when == 0)
            when = json_integer_value(json_object_get(o, "keep_until_ms"));
        printf("%-32s  %-6s  %4lld  %-20s  %-16.16s  %-16.16s  %s\n",
               s_jstr(o, "id"), s_jstr(o, "state"),
               (long long)json_integer_value(json_object_get(o, "attempts")),
               s_time(when, t1, sizeof(t1)), s_jstr(o, "from"),
               s_jstr(o, "to"), s_jstr(o, "last_error"));
    }
    printf("%zu message%s\n", json_array_size(arr),
           json_array_size(arr) == 1 ? "" : "s");
}

static void
s_print_show(json_t *o)
{
    const char *k;
    json_t *v;
    char t[32];

    json_object_foreach(o, k, v)
    {
        size_t kl = strlen(k);
        if (json_is_integer(v) && kl > 3 && strcmp(k + kl - 3, "_ms") == 0)
            printf("%-22s %s\n", k, s_time(json_integer_value(v), t, sizeof(t)));
        else if (json_is_string(v))
            printf("%-22s %s\n", k, json_string_value(v));
        else if (strcmp(k, "identity") == 0 && json_is_array(v)) {
            /* One Identity value per line: they are long, and a terminal
             * user copies one into `stirgate passport verify`. */
            size_t i;
            json_t *e;
            char name[32];
            json_array_foreach(v, i, e)
            {
                snprintf(name, sizeof(name), "identity[%zu]", i);
                printf("%-22s %s\n", name,
                       json_is_string(e) ? json_string_value(e) : "?");
            }
        } else {
            char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%-22s %s\n", k, d ? d : "?");
            free(d);
        }
    }
}

int
cli_queue_main(int argc, char **argv)
{
    char cmdname[64], ep[4200];
    uint8_t body[24], id[PROTO_MSG_ID_LEN], *rbody = NULL;
    size_t blen = 0, rlen = 0;
    proto_cmd cmd, rcmd;
    store_client *c = NULL;
    s_args a;
    const char *why;
    int ret = CLI_EXIT_USAGE;
    sg_rc rc;

    if (s_parse(argc, argv, &a) != 0)
        return s_usage();
    snprintf(cmdname, sizeof(cmdname), "queue %s", a.sub);
    memset(id, 0, sizeof(id));
    if (strcmp(a.sub, "list") == 0) {
        proto_list l = {0, (uint32_t)a.limit};
        if (a.id)
            return s_usage();
        if (a.state && (l.state = proto_state_from_name(a.state)) == 0) {
            cli_err(cmdname, "--state: unknown state \"%s\"", a.state);
            return CLI_EXIT_USAGE;
        }
        proto_wire_list_encode(&l, body);
        blen = 8;
        cmd = PROTO_CMD_LIST;
    } else if (strcmp(a.sub, "stats") == 0) {
        cmd = PROTO_CMD_STATS;
    } else {
        if (strcmp(a.sub, "show") == 0)
            cmd = PROTO_CMD_SHOW;
        else if (strcmp(a.sub, "requeue") == 0)
            cmd = PROTO_CMD_REQUEUE;
        else if (strcmp(a.sub, "hold") == 0)
            cmd = PROTO_CMD_HOLD;
        else if (strcmp(a.sub, "release") == 0)
            cmd = PROTO_CMD_RELEASE;
        else if (strcmp(a.sub, "delete") == 0)
            cmd = PROTO_CMD_DELETE;
        else
            return s_usage();
        if (a.all && cmd != PROTO_CMD_REQUEUE) {
            cli_err(cmdname, "--all applies to requeue only");
            return CLI_EXIT_USAGE;
        }
        if (!a.all && a.id == NULL) {
            cli_err(cmdname, "missing message id");
            return CLI_EXIT_USAGE;
        }
        if (a.all && a.id) {
            cli_err(cmdname, "an id and --all together");
            return CLI_EXIT_USAGE;
        }
        if (a.id && (why = proto_msg_id_parse(a.id, id)) != NULL) {
            cli_err(cmdname, "%s: \"%s\"", why, a.id);
            return CLI_EXIT_USAGE;
        }
        if (cmd == PROTO_CMD_REQUEUE) {
            proto_requeue q = {a.all ? PROTO_REQUEUE_ALL : 0, {0}};
            memcpy(q.id, id, sizeof(id));
            proto_wire_requeue_encode(&q, body);
            blen = 24;
        } else {
            memcpy(body, id, sizeof(id));
            blen = sizeof(id);
        }
    }
    if (store_client_endpoint(a.run_dir, a.endpoint, ep, sizeof(ep)) ==
        NULL) {
        cli_err(cmdname, "run directory path too long");
        return CLI_EXIT_USAGE;
    }
    if ((c = store_client_new(ep)) == NULL) {
        cli_err(cmdname, "cannot connect to %s", ep);
        return CLI_EXIT_USAGE;
    }
    rc = store_client_call(c, cmd, body, blen, (int)a.timeout_ms, &rcmd,
                           &rbody, &rlen);
    if (rc == SG_AGAIN) {
        cli_err(cmdname, "no answer from the store at %s within %ld ms "
                         "(is stirgate-store running?)",
                ep, a.timeout_ms);
        goto out;
    }
    if (rc != SG_OK) {
        cli_err(cmdname, "request to %s failed", ep);
        goto out;
    }
    if (rcmd == PROTO_CMD_CTL_ERR) {
        proto_ctl_err e;
        if (proto_wire_ctl_err_decode(rbody, rlen, &e) != NULL) {
            cli_err(cmdname, "malformed error reply");
            goto out;
        }
        cli_err(cmdname, "%.*s", (int)e.text.len,
                e.text.len ? (const char *)e.text.p : "");
        ret = e.code == PROTO_CTL_NO_SUCH || e.code == PROTO_CTL_BAD_STATE
                  ? CLI_EXIT_NEGATIVE
                  : CLI_EXIT_USAGE;
        goto out;
    }
    if (rcmd == PROTO_CMD_CTL_OK) {
        uint32_t n = 0;
        if (proto_wire_u32_decode(rbody, rlen, &n) != NULL) {
            cli_err(cmdname, "malformed reply");
            goto out;
        }
        if (a.json)
            printf("{\"changed\":%u}\n", n);
        else
            printf("%s: %u message%s changed\n", a.sub, n, n == 1 ? "" : "s");
        ret = CLI_EXIT_OK;
        goto out;
    }
    if (rcmd == PROTO_CMD_CTL_JSON) {
        json_error_t err;
        json_t *j = json_loadb((const char *)rbody, rlen, 0, &err);
        if (j == NULL) {
            cli_err(cmdname, "malformed JSON from the store: line %d: %s",
                    err.line, err.text);
            goto out;
        }
        if (a.json) {
            json_dumpf(j, stdout, JSON_INDENT(2));
            putchar('\n');
        } else if (json_is_array(j)) {
            s_print_list(j);
        } else {
            s_print_show(j);
        }
        json_decref(j);
        ret = CLI_EXIT_OK;
        goto out;
    }
    cli_err(cmdname, "unexpected reply %s", proto_wire_cmd_name(rcmd));
out:
    sg_free(rbody);
    store_client_destroy(&c);
    return ret;
}
