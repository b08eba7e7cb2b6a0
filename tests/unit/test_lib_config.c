/* Unit tests: the typed config engine (lib/sg_config.h). */
#include "lib/sg_config.h"
#include "tests/unit/tu.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *name;
    char *addr;
    int64_t weight;
    int mode;
    sg_cfg_strlist_t tags;
} peer_t;

typedef struct {
    int64_t workers;
    bool verbose;
    char *name;
    int policy;
    int64_t timeout;
    int64_t map_max;
    int64_t batch;
    int64_t retry_max;
    char *key_file;
    sg_cfg_list_t peers;
    sg_cfg_strlist_t anchors;
} opts_t;

static const char *const s_policies[] = {"sign", "verify", "both", NULL};
static const char *const s_modes[] = {"trusted", "untrusted", NULL};

static const sg_cfg_key_t s_peer_keys[] = {
    {.path = "name",
     .type = SG_CFG_STRING,
     .offset = offsetof(peer_t, name),
     .required = true,
     .maxlen = 32,
     .doc = "peer name"},
    {.path = "addr",
     .type = SG_CFG_STRING,
     .offset = offsetof(peer_t, addr),
     .def = "0.0.0.0",
     .doc = "address"},
    {.path = "weight",
     .type = SG_CFG_INT,
     .offset = offsetof(peer_t, weight),
     .min = 0,
     .max = 100,
     .def = "1",
     .doc = "weight"},
    {.path = "mode",
     .type = SG_CFG_ENUM,
     .offset = offsetof(peer_t, mode),
     .choices = s_modes,
     .def = "untrusted",
     .doc = "trust"},
    {.path = "tags",
     .type = SG_CFG_STRLIST,
     .offset = offsetof(peer_t, tags),
     .max = 2,
     .maxlen = 8,
     .doc = "tags"},
};
static const sg_cfg_table_t s_peer_table = {s_peer_keys, SG_NELEM(s_peer_keys),
                                            sizeof(peer_t)};

static const sg_cfg_key_t s_keys[] = {
    {.path = "workers",
     .type = SG_CFG_INT,
     .offset = offsetof(opts_t, workers),
     .min = 1,
     .max = 64,
     .def = "2",
     .doc = "worker processes"},
    {.path = "verbose",
     .type = SG_CFG_BOOL,
     .offset = offsetof(opts_t, verbose),
     .def = "false",
     .doc = "more logging"},
    {.path = "name",
     .type = SG_CFG_STRING,
     .offset = offsetof(opts_t, name),
     .maxlen = 8,
     .def = "gw",
     .doc = "node | name"},
    {.path = "policy",
     .type = SG_CFG_ENUM,
     .offset = offsetof(opts_t, policy),
     .choices = s_policies,
     .def = "verify",
     .doc = "what to do"},
    {.path = "timeout",
     .type = SG_CFG_DURATION,
     .offset = offsetof(opts_t, timeout),
     .min = 1,
     .max = 3600,
     .def = "30s",
     .doc = "a timeout"},
    {.path = "store.map_max",
     .type = SG_CFG_SIZE,
     .offset = offsetof(opts_t, map_max),
     .min = INT64_C(1) << 20,
     .max = INT64_C(1) << 40,
     .def = "64MiB",
     .doc = "LMDB map size"},
    {.path = "store.batch",
     .type = SG_CFG_INT,
     .offset = offsetof(opts_t, batch),
     .min = 1,
     .max = 1000,
     .def = "64",
     .doc = "records per commit"},
    {.path = "store.retry.max",
     .type = SG_CFG_INT,
     .offset = offsetof(opts_t, retry_max),
     .min = 0,
     .max = 10,
     .def = "3",
     .doc = "attempts"},
    {.path = "key_file",
     .type = SG_CFG_PATH,
     .offset = offsetof(opts_t, key_file),
     .required = true,
     .doc = "signing key"},
    {.path = "peers",
     .type = SG_CFG_OBJLIST,
     .offset = offsetof(opts_t, peers),
     .max = 4,
     .sub = &s_peer_table,
     .doc = "peers"},
    {.path = "anchors",
     .type = SG_CFG_STRLIST,
     .offset = offsetof(opts_t, anchors),
     .max = 3,
     .maxlen = 16,
     .doc = "trust anchors"},
};
static const sg_cfg_table_t s_table = {s_keys, SG_NELEM(s_keys),
                                       sizeof(opts_t)};

static sg_rc
s_load(const char *text, opts_t *o, sg_config_err_t *err)
{
    memset(o, 0, sizeof(*o));
    return sg_config_load_buf(&s_table, "cfg.json", text, strlen(text), o, err);
}

/* Expect a refusal at LINE:COL about KEY whose text contains WHAT. */
static void
s_refused(const char *text, int line, int col, const char *key,
          const char *what, int srcline)
{
    sg_config_err_t err;
    opts_t o;
    sg_rc rc = s_load(text, &o, &err);

    if (rc != SG_REFUSED || err.line != line || err.column != col ||
        strcmp(err.key, key) != 0 || strstr(err.text, what) == NULL) {
        tu_fail(__FILE__, srcline, "refusal as expected");
        tu_note("  rc %d, got %d:%d key \"%s\" text \"%s\"", rc, err.line,
                err.column, err.key, err.text);
        tu_note("  want %d:%d key \"%s\" containing \"%s\"", line, col, key,
                what);
    }
    /* A refused load leaves nothing allocated. */
    TU_CHECK(o.name == NULL && o.key_file == NULL && o.peers.items == NULL &&
             o.anchors.v == NULL);
    if (rc == SG_OK)
        sg_config_free(&s_table, &o);
}
#define REFUSED(text, line, col, key, what)                                    \
    s_refused(text, line, col, key, what, __LINE__)

static void
s_accepted(const char *text, opts_t *o, int srcline)
{
    sg_config_err_t err;

    if (s_load(text, o, &err) != SG_OK) {
        tu_fail(__FILE__, srcline, "load succeeds");
        tu_note("  %s", err.text);
    }
}
#define ACCEPTED(text, o) s_accepted(text, o, __LINE__)

TU_TEST(config_table_is_consistent)
{
    TU_CHECK(sg_config_table_check(&s_table) == NULL);
}

TU_TEST(config_defaults_fill_unset_keys)
{
    opts_t o;

    ACCEPTED("{\"key_file\": \"/etc/k.pem\"}", &o);
    TU_INTEQ(o.workers, 2);
    TU_CHECK(o.verbose == false);
    TU_STREQ(o.name, "gw");
    TU_INTEQ(o.policy, 1);
    TU_INTEQ(o.timeout, 30);
    TU_INTEQ(o.map_max, 64 << 20);
    TU_INTEQ(o.batch, 64);
    TU_INTEQ(o.retry_max, 3);
    TU_STREQ(o.key_file, "/etc/k.pem");
    TU_INTEQ(o.peers.n, 0);
    TU_INTEQ(o.anchors.n, 0);
    sg_config_free(&s_table, &o);
    TU_CHECK(o.name == NULL && o.key_file == NULL);
}

TU_TEST(config_all_values_land_typed)
{
    opts_t o;

    ACCEPTED("{\"workers\": 8, \"verbose\": true, \"name\": \"edge-1\",\n"
             " \"policy\": \"both\", \"timeout\": \"5m\",\n"
             " \"store\": {\"map_max\": \"2GiB\", \"batch\": 128,\n"
             "           \"retry\": {\"max\": 0}},\n"
             " \"key_file\": \"k\", \"anchors\": [\"a.pem\", \"b.pem\"]}",
             &o);
    TU_INTEQ(o.workers, 8);
    TU_CHECK(o.verbose == true);
    TU_STREQ(o.name, "edge-1");
    TU_INTEQ(o.policy, 2);
    TU_INTEQ(o.timeout, 300);
    TU_INTEQ(o.map_max, INT64_C(2) << 30);
    TU_INTEQ(o.batch, 128);
    TU_INTEQ(o.retry_max, 0);
    TU_REQUIRE(o.anchors.n == 2);
    TU_STREQ(o.anchors.v[0], "a.pem");
    TU_STREQ(o.anchors.v[1], "b.pem");
    sg_config_free(&s_table, &o);
}

TU_TEST(config_malformed_json_reports_janssons_position)
{
    /* A trailing comma: jansson stops at the '}' on line 3, column 1. */
    REFUSED("{\n  \"workers\": 2,\n}", 3, 1, "", "cfg.json:3:1: ");
    /* An unterminated string at the end of line 2. */
    REFUSED("{\"key_file\": \"k\",\n \"name\": \"ab", 2, 12, "",
            "cfg.json:2:12");
    REFUSED("", 1, 0, "", "cfg.json:1:0:");
}

TU_TEST(config_duplicate_key_is_refused)
{
    REFUSED("{\"key_file\": \"k\",\n \"workers\": 1,\n \"workers\": 2}", 3, 10,
            "", "duplicate object key");
}

TU_TEST(config_unknown_key_named_with_position)
{
    REFUSED("{\"key_file\": \"k\",\n   \"wrokers\": 2}", 2, 4, "wrokers",
            "cfg.json:2:4: wrokers: unknown key");
    REFUSED("{\"key_file\": \"k\", \"store\": {\n  \"batch\": 5,\n"
            "  \"bogus\": 1}}",
            3, 3, "store.bogus", "unknown key");
    REFUSED("{\"key_file\": \"k\", \"store\": {\"retry\": {\"min\": 1}}}", 1,
            39, "store.retry.min", "unknown key");
    /* A dotted member name is not the nested key. */
    REFUSED("{\"key_file\": \"k\", \"store.batch\": 5}", 1, 19, "store.batch",
            "unknown key");
    REFUSED("{\"key_file\": \"k\", \"\": 5}", 1, 19, "", "unknown key");
    REFUSED("{\"key_file\": \"k\", \"peers\": [{\"name\": \"a\", \"x\": 1}]}",
            1, 43, "peers[0].x", "unknown key");
}

TU_TEST(config_positions_count_characters_and_decode_names)
{
    /* "é" is two bytes but one column, as jansson counts. */
    REFUSED("{\"key_file\": \"é\", \"bogus\": 1}", 1, 19, "bogus",
            "unknown key");
    /* Member names written with escapes are the decoded names. */
    {
        opts_t o;

        ACCEPTED("{\"\\u006Bey_file\": \"k\", \"w\\u006frkers\": 3}", &o);
        TU_INTEQ(o.workers, 3);
        sg_config_free(&s_table, &o);
    }
    REFUSED("{\"key_file\": \"k\", \"n\\u0061me\": \"x\", \"b\\u0061d\": 1}", 1,
            37, "bad", "unknown key");
    /* A value that is itself a string holding "bad" does not confuse it. */
    REFUSED("{\"name\": \"bad\", \"key_file\": \"k\",\n \"bad\": 1}", 2, 2,
            "bad", "unknown key");
    /* A tab is one column. */
    REFUSED("{\"key_file\": \"k\",\n\t\"zz\": 1}", 2, 2, "zz", "unknown key");
}

TU_TEST(config_wrong_type_names_what_was_expected)
{
    REFUSED("{\"key_file\": \"k\",\n \"workers\": \"2\"}", 2, 13, "workers",
            "cfg.json:2:13: workers: expected an integer in 1..64");
    REFUSED("{\"key_file\": \"k\", \"workers\": 2.5}", 1, 30, "workers",
            "expected an integer");
    REFUSED("{\"key_file\": \"k\", \"verbose\": 1}", 1, 30, "verbose",
            "expected true or false");
    REFUSED("{\"key_file\": \"k\", \"verbose\": \"true\"}", 1, 30, "verbose",
            "expected true or false");
    REFUSED("{\"key_file\": 5}", 1, 14, "key_file", "expected a file path");
    REFUSED("{\"key_file\": \"\"}", 1, 14, "key_file", "expected a file path");
    REFUSED("{\"key_file\": \"k\", \"name\": null}", 1, 27, "name",
            "expected a string");
    REFUSED("{\"key_file\": \"k\", \"store\": 5}", 1, 28, "store",
            "expected an object");
    REFUSED("{\"key_file\": \"k\", \"peers\": {}}", 1, 28, "peers",
            "expected a list of 0..4 objects");
    REFUSED("[1, 2]", 1, 1, "", "cfg.json:1:1: expected a JSON object");
}

TU_TEST(config_int_bounds_at_both_edges)
{
    opts_t o;

    REFUSED("{\"key_file\": \"k\", \"workers\": 0}", 1, 30, "workers",
            "in 1..64");
    ACCEPTED("{\"key_file\": \"k\", \"workers\": 1}", &o);
    TU_INTEQ(o.workers, 1);
    sg_config_free(&s_table, &o);
    ACCEPTED("{\"key_file\": \"k\", \"workers\": 64}", &o);
    TU_INTEQ(o.workers, 64);
    sg_config_free(&s_table, &o);
    REFUSED("{\"key_file\": \"k\", \"workers\": 65}", 1, 30, "workers",
            "in 1..64");
    REFUSED("{\"key_file\": \"k\", \"workers\": -9223372036854775808}", 1, 30,
            "workers", "in 1..64");
}

TU_TEST(config_string_length_bound)
{
    opts_t o;

    ACCEPTED("{\"key_file\": \"k\", \"name\": \"12345678\"}", &o);
    TU_STREQ(o.name, "12345678");
    sg_config_free(&s_table, &o);
    REFUSED("{\"key_file\": \"k\", \"name\": \"123456789\"}", 1, 27, "name",
            "at most 8 bytes");
}

TU_TEST(config_enum_accepts_only_its_choices)
{
    opts_t o;

    ACCEPTED("{\"key_file\": \"k\", \"policy\": \"sign\"}", &o);
    TU_INTEQ(o.policy, 0);
    sg_config_free(&s_table, &o);
    REFUSED("{\"key_file\": \"k\", \"policy\": \"Sign\"}", 1, 29, "policy",
            "expected one of \"sign\", \"verify\", \"both\"");
    REFUSED("{\"key_file\": \"k\", \"policy\": 1}", 1, 29, "policy",
            "expected one of");
}

TU_TEST(config_durations_parse_and_bound)
{
    static const struct {
        const char *text;
        int64_t secs; /* -1: refused */
    } rows[] = {
        {"1", 1},        {"3600", 3600},  {"0", -1},       {"3601", -1},
        {"-1", -1},      {"\"1s\"", 1},   {"\"5m\"", 300}, {"\"1h\"", 3600},
        {"\"2d\"", -1},  {"\"61m\"", -1}, {"\"30x\"", -1}, {"\"\"", -1},
        {"\"30\"", 30},  {"\"s\"", -1},   {"\"1 h\"", -1}, {"\"1H\"", -1},
        {"\"-5s\"", -1}, {"true", -1},
    };

    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        char text[128];
        sg_config_err_t err;
        opts_t o;
        sg_rc rc;

        snprintf(text, sizeof(text), "{\"key_file\": \"k\", \"timeout\": %s}",
                 rows[i].text);
        rc = s_load(text, &o, &err);
        if (rows[i].secs < 0) {
            TU_INTEQ(rc, SG_REFUSED);
            TU_INTEQ(err.column, 30);
            TU_CHECK(strstr(err.text, "expected a duration in 1s..1h"));
        } else {
            TU_INTEQ(rc, SG_OK);
            TU_INTEQ(o.timeout, rows[i].secs);
            sg_config_free(&s_table, &o);
        }
    }
}

TU_TEST(config_duration_and_size_parsers)
{
    int64_t v = -7;

    TU_CHECK(sg_config_parse_duration("2d", &v) == NULL && v == 172800);
    TU_CHECK(sg_config_parse_duration("90", &v) == NULL && v == 90);
    TU_CHECK(sg_config_parse_duration("9223372036854775807s", &v) == NULL);
    TU_STREQ(sg_config_parse_duration("9223372036854775808s", &v), "too large");
    TU_STREQ(sg_config_parse_duration("106751991167301d", &v), "too large");
    TU_STREQ(sg_config_parse_duration("1w", &v), "not a duration");
    TU_CHECK(sg_config_parse_size("512B", &v) == NULL && v == 512);
    TU_CHECK(sg_config_parse_size("64KiB", &v) == NULL && v == 65536);
    TU_CHECK(sg_config_parse_size("1TiB", &v) == NULL && v == INT64_C(1) << 40);
    TU_STREQ(sg_config_parse_size("64MB", &v), "not a size");
    TU_STREQ(sg_config_parse_size("64mib", &v), "not a size");
    TU_STREQ(sg_config_parse_size("8388608TiB", &v), "too large");
}

TU_TEST(config_sizes_bound_at_both_edges)
{
    opts_t o;

    ACCEPTED("{\"key_file\": \"k\", \"store\": {\"map_max\": \"1MiB\"}}", &o);
    TU_INTEQ(o.map_max, 1 << 20);
    sg_config_free(&s_table, &o);
    ACCEPTED("{\"key_file\": \"k\", \"store\": {\"map_max\": 1048576}}", &o);
    TU_INTEQ(o.map_max, 1 << 20);
    sg_config_free(&s_table, &o);
    ACCEPTED("{\"key_file\": \"k\", \"store\": {\"map_max\": \"1TiB\"}}", &o);
    TU_INTEQ(o.map_max, INT64_C(1) << 40);
    sg_config_free(&s_table, &o);
    REFUSED("{\"key_file\": \"k\", \"store\": {\"map_max\": \"1023KiB\"}}", 1,
            40, "store.map_max", "expected a size in 1MiB..1TiB");
    REFUSED("{\"key_file\": \"k\", \"store\": {\"map_max\": 1048575}}", 1, 40,
            "store.map_max", "expected a size");
    REFUSED("{\"key_file\": \"k\", \"store\": {\"map_max\": \"1025GiB\"}}", 1,
            40, "store.map_max", "expected a size");
    REFUSED("{\"key_file\": \"k\", \"store\": {\"map_max\": \"2 GiB\"}}", 1, 40,
            "store.map_max", "expected a size");
}

TU_TEST(config_missing_required_points_at_the_object)
{
    REFUSED("  {\"workers\": 3}", 1, 3, "key_file", "missing required key");
    REFUSED("{\"key_file\": \"k\", \"peers\": [\n  {\"name\": \"a\"},\n"
            "  {\"addr\": \"1.2.3.4\"}]}",
            3, 3, "peers[1].name", "cfg.json:3:3: peers[1].name: missing");
}

TU_TEST(config_list_of_objects)
{
    opts_t o;
    peer_t *p;

    ACCEPTED("{\"key_file\": \"k\", \"peers\": [\n"
             "  {\"name\": \"carrier-a\", \"addr\": \"10.0.0.1\",\n"
             "   \"weight\": 100, \"mode\": \"trusted\", \"tags\": [\"x\"]},\n"
             "  {\"name\": \"carrier-b\"}]}",
             &o);
    TU_REQUIRE(o.peers.n == 2);
    p = o.peers.items;
    TU_STREQ(p[0].name, "carrier-a");
    TU_STREQ(p[0].addr, "10.0.0.1");
    TU_INTEQ(p[0].weight, 100);
    TU_INTEQ(p[0].mode, 0);
    TU_REQUIRE(p[0].tags.n == 1);
    TU_STREQ(p[0].tags.v[0], "x");
    /* Defaults apply inside each item too. */
    TU_STREQ(p[1].name, "carrier-b");
    TU_STREQ(p[1].addr, "0.0.0.0");
    TU_INTEQ(p[1].weight, 1);
    TU_INTEQ(p[1].mode, 1);
    TU_INTEQ(p[1].tags.n, 0);
    sg_config_free(&s_table, &o);
    TU_CHECK(o.peers.items == NULL && o.peers.n == 0);
}

TU_TEST(config_list_item_errors_carry_the_index)
{
    /* The first item is fully loaded (allocations) before the second fails:
     * the refusal must free it (ASan checks). */
    REFUSED("{\"key_file\": \"k\", \"peers\": [\n"
            "  {\"name\": \"a\", \"tags\": [\"t\"]},\n"
            "  {\"name\": \"b\",\n   \"weight\": 101}]}",
            4, 14, "peers[1].weight", "expected an integer in 0..100");
    REFUSED("{\"key_file\": \"k\", \"peers\": [{\"name\": \"a\"}, 7]}", 1, 44,
            "peers[1]", "expected an object");
    REFUSED("{\"key_file\": \"k\", \"peers\": [{\"name\": \"a\",\n"
            "  \"tags\": [\"x\", \"y\", \"z\"]}]}",
            2, 11, "peers[0].tags", "expected a list of 0..2 strings");
    REFUSED("{\"key_file\": \"k\", \"peers\": [{\"name\": \"a\",\n"
            "  \"tags\": [\"x\", \"123456789\"]}]}",
            2, 17, "peers[0].tags[1]", "at most 8 bytes");
    REFUSED("{\"key_file\": \"k\", \"peers\": [{}, {}, {}, {}, {}]}", 1, 28,
            "peers", "expected a list of 0..4 objects");
}

TU_TEST(config_list_of_strings)
{
    opts_t o;

    ACCEPTED("{\"key_file\": \"k\", \"anchors\": []}", &o);
    TU_INTEQ(o.anchors.n, 0);
    sg_config_free(&s_table, &o);
    ACCEPTED("{\"key_file\": \"k\", \"anchors\": [\"a\", \"b\", \"c\"]}", &o);
    TU_INTEQ(o.anchors.n, 3);
    sg_config_free(&s_table, &o);
    REFUSED("{\"key_file\": \"k\", \"anchors\": [\"a\", \"b\", \"c\", \"d\"]}",
            1, 30, "anchors", "expected a list of 0..3 strings");
    REFUSED("{\"key_file\": \"k\", \"anchors\": [\"a\", 2]}", 1, 36,
            "anchors[1]", "expected a string");
    REFUSED("{\"key_file\": \"k\", \"anchors\": \"a\"}", 1, 30, "anchors",
            "expected a list");
}

TU_TEST(config_dump_round_trips)
{
    sg_config_err_t err;
    opts_t o, again;
    char *dump;

    ACCEPTED("{\"key_file\": \"/k\", \"timeout\": 3600, \"store\": "
             "{\"map_max\": 3000000}, \"peers\": [{\"name\": \"p\"}],"
             " \"anchors\": [\"a\"]}",
             &o);
    dump = sg_config_dump(&s_table, &o);
    TU_REQUIRE(dump != NULL);
    /* Defaults are shown, units are the largest exact one. */
    TU_CHECK(strstr(dump, "\"workers\": 2"));
    TU_CHECK(strstr(dump, "\"timeout\": \"1h\""));
    TU_CHECK(strstr(dump, "\"map_max\": 3000000"));
    TU_CHECK(strstr(dump, "\"policy\": \"verify\""));
    TU_CHECK(strstr(dump, "\"addr\": \"0.0.0.0\""));
    TU_CHECK(strstr(dump, "\"retry\": {"));
    memset(&again, 0, sizeof(again));
    TU_INTEQ(
        sg_config_load_buf(&s_table, "dump", dump, strlen(dump), &again, &err),
        SG_OK);
    TU_INTEQ(again.timeout, 3600);
    TU_INTEQ(again.map_max, 3000000);
    TU_INTEQ(again.peers.n, 1);
    TU_STREQ(again.key_file, "/k");
    free(dump);
    sg_config_free(&s_table, &again);
    sg_config_free(&s_table, &o);

    ACCEPTED("{\"key_file\": \"/k\"}", &o);
    dump = sg_config_dump(&s_table, &o);
    TU_CHECK(strstr(dump, "\"timeout\": \"30s\""));
    TU_CHECK(strstr(dump, "\"map_max\": \"64MiB\""));
    free(dump);
    sg_config_free(&s_table, &o);
}

TU_TEST(config_reference_lists_every_key)
{
    char *ref = sg_config_reference(&s_table);

    TU_REQUIRE(ref != NULL);
    TU_CHECK(strncmp(ref,
                     "| key | type | default | range | meaning |\n"
                     "|---|---|---|---|---|\n",
                     64) == 0);
    TU_CHECK(strstr(ref, "| workers | integer | 2 | 1..64 | worker processes "
                         "|\n"));
    TU_CHECK(strstr(ref, "| store.map_max | size | 64MiB | 1MiB..1TiB | "
                         "LMDB map size |\n"));
    TU_CHECK(strstr(ref, "| timeout | duration | 30s | 1s..1h | a timeout "
                         "|\n"));
    TU_CHECK(strstr(ref, "| policy | enum | verify | sign, verify, both |"));
    TU_CHECK(strstr(ref, "| key_file | path | required |"));
    TU_CHECK(strstr(ref, "| name | string | gw | at most 8 bytes | "
                         "node \\| name |\n"));
    TU_CHECK(strstr(ref, "| peers[].name | string | required |"));
    TU_CHECK(
        strstr(ref, "| peers[].tags | list of strings | - | 0..2 items |"));
    free(ref);
}

TU_TEST(config_table_check_catches_mistakes)
{
    static const char *const none[] = {NULL};
    sg_cfg_key_t k[2] = {
        {.path = "a", .type = SG_CFG_INT, .min = 1, .max = 5, .def = "9"},
        {.path = "b", .type = SG_CFG_BOOL},
    };
    sg_cfg_table_t t = {k, 2, sizeof(int64_t) * 4};

    TU_CHECK(strstr(sg_config_table_check(&t), "default \"9\""));
    k[0].def = "5";
    TU_CHECK(sg_config_table_check(&t) == NULL);
    k[1].path = "a.x";
    TU_CHECK(strstr(sg_config_table_check(&t), "clashes"));
    k[1].path = "b";
    k[1].required = true;
    k[1].def = "true";
    TU_CHECK(strstr(sg_config_table_check(&t), "required with a default"));
    k[1].required = false;
    k[1].type = SG_CFG_ENUM;
    k[1].choices = none;
    k[1].def = NULL;
    TU_CHECK(strstr(sg_config_table_check(&t), "without choices"));
    k[1].type = SG_CFG_DURATION;
    k[1].min = 10;
    k[1].max = 5;
    TU_CHECK(strstr(sg_config_table_check(&t), "bad bounds"));
    k[1].type = SG_CFG_OBJLIST;
    k[1].sub = NULL;
    k[1].min = 0;
    TU_CHECK(strstr(sg_config_table_check(&t), "bad list row"));
    k[1].path = "b..c";
    TU_CHECK(strstr(sg_config_table_check(&t), "bad path"));
}

TU_TEST(config_load_file_names_the_file)
{
    char path[512];
    sg_config_err_t err;
    opts_t o;
    FILE *f;

    snprintf(path, sizeof(path), "%s/c.json", tu_tmpdir());
    memset(&o, 0, sizeof(o));
    TU_INTEQ(sg_config_load_file(&s_table, path, &o, &err), SG_ERR);
    TU_CHECK(strstr(err.text, "open: No such file"));
    f = fopen(path, "w");
    TU_REQUIRE(f != NULL);
    fputs("{\"key_file\": \"k\",\n \"nope\": 1}\n", f);
    fclose(f);
    TU_INTEQ(sg_config_load_file(&s_table, path, &o, &err), SG_REFUSED);
    TU_CHECK(strncmp(err.text, path, strlen(path)) == 0);
    TU_CHECK(strstr(err.text, ":2:2: nope: unknown key"));
    TU_INTEQ(sg_config_load_file(&s_table, tu_tmpdir(), &o, &err), SG_ERR);
}

TU_TEST(config_secret_file_permissions)
{
    static const struct {
        mode_t mode;
        int ok;
    } rows[] = {{0600, 1}, {0400, 1}, {0640, 0}, {0604, 0},
                {0620, 0}, {0601, 0}, {0644, 0}};
    char path[512];
    const char *why;

    snprintf(path, sizeof(path), "%s/key.pem", tu_tmpdir());
    TU_INTEQ(sg_config_check_secret_file(path, &why), SG_REFUSED);
    TU_STREQ(why, "does not exist");
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        int fd = open(path, O_CREAT | O_WRONLY, 0600);

        TU_REQUIRE(fd >= 0);
        close(fd);
        TU_REQUIRE(chmod(path, rows[i].mode) == 0);
        if (rows[i].ok) {
            TU_INTEQ(sg_config_check_secret_file(path, &why), SG_OK);
            TU_CHECK(why == NULL);
        } else {
            TU_INTEQ(sg_config_check_secret_file(path, &why), SG_REFUSED);
            TU_STREQ(why, "accessible by group or others (chmod 600)");
        }
    }
    unlink(path);
    TU_INTEQ(sg_config_check_secret_file(tu_tmpdir(), &why), SG_REFUSED);
    TU_STREQ(why, "not a regular file");
}
