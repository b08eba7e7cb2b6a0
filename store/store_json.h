/*
 * store/store_json.h - records and counters as JSON for the control
 * replies (CTL_JSON, proto/PROTOCOL.md "Control").  The queue tool prints
 * these; field names are a contract with it and with operators' scripts.
 */
#ifndef STORE_JSON_H
#define STORE_JSON_H

#include <jansson.h>

#include "store/store_db.h"
#include "store/store_record.h"

/*
 * A record as a new JSON object: the summary fields, and with `full` the
 * whole envelope except the body bytes and the PASSporT tokens (their
 * sizes only: a tool's output ends up in tickets and chat).
 */
json_t *store_json_record(const uint8_t id[PROTO_MSG_ID_LEN],
                          const store_record *r, int full);
/* The counters of STATS as a new JSON object. */
json_t *store_json_stats(const store_db_stats *st);

#endif
