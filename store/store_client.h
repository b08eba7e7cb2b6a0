/*
 * store/store_client.h - a small synchronous client of the store for
 * control requests (the queue tool) and tests: connect a DEALER, send one
 * request, wait for the reply carrying the same correlation id.
 *
 * "The stable side binds, the volatile side connects": the store binds,
 * this connects; ZeroMQ connects lazily, so a store that is not running
 * shows up as a timeout, not as an error from connect.
 */
#ifndef STORE_CLIENT_H
#define STORE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/sg.h"
#include "proto/proto_wire.h"

typedef struct store_client store_client;

/*
 * The store's endpoint: `endpoint` if given, else ipc://RUN_DIR/store.sock.
 * Writes into `buf`; NULL if it does not fit.
 */
const char *store_client_endpoint(const char *run_dir, const char *endpoint,
                                  char *buf, size_t n);

/* New client connected (lazily) to `endpoint`; NULL on error (logged). */
store_client *store_client_new(const char *endpoint);
void store_client_destroy(store_client **p);

/*
 * Send `cmd` with `body` and wait up to `timeout_ms` for the reply.
 * SG_OK: *rcmd and *rbody (new, sg_free it; NULL when empty) are set and
 * the reply passed proto_wire_decode.  SG_AGAIN: no reply in time (the
 * store is not running or is overloaded).  SG_ERR: failed, logged.
 * Replies to earlier, timed-out requests are skipped by correlation id.
 */
sg_rc store_client_call(store_client *self, proto_cmd cmd, const void *body,
                        size_t len, int timeout_ms, proto_cmd *rcmd,
                        uint8_t **rbody, size_t *rlen) SG_WUR;

#endif
