/*
 * tests/fuzz/fuzz_config.c - the typed config engine (lib/sg_config.h)
 * with a small fixed table: loading arbitrary text, and for what loads,
 * dumping it and loading the dump back to the same dump.
 */
#include "lib/sg_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    char *name;
    int64_t weight;
    int mode;
    sg_cfg_strlist_t tags;
} peer_t;

typedef struct {
    int64_t workers;
    bool verbose;
    int policy;
    int64_t timeout;
    int64_t map_max;
    char *key_file;
    sg_cfg_list_t peers;
    sg_cfg_strlist_t anchors;
} opts_t;

static const char *const s_policies[] = {"sign", "verify", NULL};
static const char *const s_modes[] = {"trusted", "untrusted", NULL};

static const sg_cfg_key_t s_peer_keys[] = {
    {.path = "name",
     .type = SG_CFG_STRING,
     .offset = offsetof(peer_t, name),
     .required = true,
     .maxlen = 16},
    {.path = "weight",
     .type = SG_CFG_INT,
     .offset = offsetof(peer_t, weight),
     .min = -5,
     .max = 100,
     .def = "1"},
    {.path = "mode",
     .type = SG_CFG_ENUM,
     .offset = offsetof(peer_t, mode),
     .choices = s_modes,
     .def = "untrusted"},
    {.path = "tags",
     .type = SG_CFG_STRLIST,
     .offset = offsetof(peer_t, tags),
     .max = 3,
     .maxlen = 8},
};
static const sg_cfg_table_t s_peer_table = {s_peer_keys, SG_NELEM(s_peer_keys),
                                            sizeof(peer_t)};

static const sg_cfg_key_t s_keys[] = {
    {.path = "workers",
     .type = SG_CFG_INT,
     .offset = offsetof(opts_t, workers),
     .min = 1,
     .max = 64,
     .def = "2"},
    {.path = "log.verbose",
     .type = SG_CFG_BOOL,
     .offset = offsetof(opts_t, verbose),
     .def = "false"},
    {.path = "policy",
     .type = SG_CFG_ENUM,
     .offset = offsetof(opts_t, policy),
     .choices = s_policies,
     .def = "verify"},
    {.path = "a.b.timeout",
     .type = SG_CFG_DURATION,
     .offset = offsetof(opts_t, timeout),
     .min = 0,
     .max = INT64_MAX,
     .def = "30s"},
    {.path = "a.map_max",
     .type = SG_CFG_SIZE,
     .offset = offsetof(opts_t, map_max),
     .min = 0,
     .max = INT64_MAX,
     .def = "64MiB"},
    {.path = "key_file",
     .type = SG_CFG_PATH,
     .offset = offsetof(opts_t, key_file),
     .maxlen = 64},
    {.path = "peers",
     .type = SG_CFG_OBJLIST,
     .offset = offsetof(opts_t, peers),
     .max = 8,
     .sub = &s_peer_table},
    {.path = "anchors",
     .type = SG_CFG_STRLIST,
     .offset = offsetof(opts_t, anchors)},
};
static const sg_cfg_table_t s_table = {s_keys, SG_NELEM(s_keys),
                                       sizeof(opts_t)};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_config_err_t err;
    opts_t o, again;
    char *dump, *dump2;

    memset(&o, 0, sizeof(o));
    if (sg_config_load_buf(&s_table, "fuzz.json", (const char *)data, size, &o,
                           &err) != SG_OK) {
        if (err.text[0] == '\0' || err.line < 0 || err.column < 0)
            abort();
        return 0;
    }
    dump = sg_config_dump(&s_table, &o);
    memset(&again, 0, sizeof(again));
    if (sg_config_load_buf(&s_table, "dump", dump, strlen(dump), &again,
                           &err) != SG_OK)
        abort(); /* what we print must load back */
    dump2 = sg_config_dump(&s_table, &again);
    if (strcmp(dump, dump2) != 0)
        abort();
    free(dump);
    free(dump2);
    sg_config_free(&s_table, &again);
    sg_config_free(&s_table, &o);
    return 0;
}
