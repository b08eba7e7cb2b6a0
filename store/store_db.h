/*
 * store/store_db.h - the LMDB layer of the store: the one place that
 * opens the message database (DESIGN.md section 1; STYLE.md: only store/
 * links LMDB).  store/FORMAT.md describes every named database and key.
 *
 * All operations take a write transaction the caller began with
 * store_db_begin(): the store groups everything that arrives together
 * into one transaction and one commit (group commit), and replies only
 * after store_db_commit() returned SG_OK.  Operations return
 *
 *   SG_OK      done (the outcome in an output argument),
 *   SG_AGAIN   the map is full (MDB_MAP_FULL / MDB_TXN_FULL): the
 *              transaction is dead, abort it, grow the map or refuse,
 *   SG_ERR     any other LMDB failure, logged; abort the transaction.
 *
 * Records read back are validated every time (store_record_decode); one
 * that fails is moved to the quarantine database, counted and logged, and
 * the operation continues as if the message did not exist.
 *
 * Pointers handed to callbacks (envelopes, records) point into the map
 * and are valid only during the callback: an MDB_val never outlives its
 * transaction, and in a write transaction not even the next write.
 */
#ifndef STORE_DB_H
#define STORE_DB_H

#include <lmdb.h>
#include <stdint.h>

#include "lib/sg.h"
#include "proto/proto_msg.h"
#include "proto/proto_wire.h"
#include "store/store_record.h"
#include "store/store_sched.h"

typedef struct store_db store_db;

/* meta/format: the layout of the databases (store/FORMAT.md); the
 * record's own version is STORE_RECORD_VERSION.  Format 1 is migrated to
 * 2 when opened. */
#define STORE_DB_FORMAT 2

/*
 * Open (creating) the environment in `dir` with a map of `map_size` bytes
 * that may grow up to `map_hard` (see store_db_grow).  New object or NULL
 * (logged).
 */
store_db *store_db_open(const char *dir, uint64_t map_size, uint64_t map_hard);
/* Close; accepts NULL and sets *p to NULL.  No transaction may be open. */
void store_db_destroy(store_db **p);

/* Begin the one write transaction. */
sg_rc store_db_begin(store_db *self, MDB_txn **txn) SG_WUR;
/*
 * Commit durably (never MDB_NOSYNC).  SG_OK only when mdb_txn_commit
 * returned 0: only then may anything in the transaction be acknowledged.
 * SG_AGAIN when the commit itself ran out of map; SG_REFUSED when the
 * filesystem is full (ENOSPC, EDQUOT: nothing of it is on disk, the
 * previous commit stays the database, and a smaller transaction or freed
 * space may pass).  The transaction is gone either way.
 */
sg_rc store_db_commit(store_db *self, MDB_txn **txn) SG_WUR;
void store_db_abort(MDB_txn **txn);

/* Current map size, and the map's high-water mark (bytes). */
uint64_t store_db_map_size(store_db *self);
uint64_t store_db_map_used(store_db *self);
/*
 * Double the map (no transaction open), up to `limit` bytes.  SG_AGAIN
 * when already at `limit`, SG_ERR on failure (logged).
 */
sg_rc store_db_grow(store_db *self, uint64_t limit) SG_WUR;
/*
 * Set the map back to `target` bytes (no transaction open); LMDB keeps it
 * at least as large as the data already in the file.
 */
void store_db_shrink(store_db *self, uint64_t target);

/* --- ingest side --- */

typedef enum {
    STORE_PUT_NEW = 1,  /* inserted */
    STORE_PUT_EXISTS,   /* already stored: idempotent, answer STORED */
    STORE_PUT_REPLAY,   /* its replay key belongs to another message */
} store_put_result;

/*
 * Insert the envelope `env` (already decoded into `m`) as a queued
 * message due now, unless its id is already stored.  A replay key in the
 * envelope is claimed for `replay_window_ms` in the same transaction.
 * On STORE_PUT_REPLAY, `holder` (when not NULL) receives the id of the
 * message that holds the key, for REFUSED(replay): an idempotent retry
 * is answered with the first request's id (ingest/INGEST.md).
 */
sg_rc store_db_put(store_db *self, MDB_txn *txn, const uint8_t *env,
                   size_t env_len, const proto_msg *m, uint64_t now_ms,
                   const store_sched_conf *sc, uint64_t replay_window_ms,
                   store_put_result *res,
                   uint8_t holder[PROTO_MSG_ID_LEN]) SG_WUR;

/*
 * The replay table (DESIGN.md 3.9): `*seen` = 1 if `key` is present and
 * not expired; otherwise it is inserted until now + window and *seen = 0.
 */
sg_rc store_db_replay_check(store_db *self, MDB_txn *txn,
                            const uint8_t key[PROTO_MSG_REPLAY_LEN],
                            uint64_t window_ms, uint64_t now_ms,
                            int *seen) SG_WUR;

/* --- worker side --- */

/* Called per leased job; `env` valid only during the call. */
typedef void store_db_job_fn(void *arg, const uint8_t id[PROTO_MSG_ID_LEN],
                             uint32_t attempt, uint64_t lease_until_ms,
                             const uint8_t *env, size_t env_len);

/*
 * Lease up to `max` messages due at `now_ms`, oldest due first: attempts
 * + 1, leased until now + lease.  A due message past its expiry goes to
 * the dead set instead.  *n = jobs handed to `fn`.
 */
sg_rc store_db_lease_due(store_db *self, MDB_txn *txn, uint64_t now_ms,
                         const store_sched_conf *sc, size_t max,
                         store_db_job_fn *fn, void *arg, size_t *n) SG_WUR;

typedef enum {
    STORE_DONE_APPLIED = 1,
    STORE_DONE_STALE,   /* not leased, or another attempt: ignored */
    STORE_DONE_UNKNOWN, /* no such message */
} store_done_result;

/* Apply a worker's DONE.  `rnd` draws the jitter of a retry. */
sg_rc store_db_done(store_db *self, MDB_txn *txn, const proto_done *d,
                    uint64_t now_ms, const store_sched_conf *sc,
                    uint64_t rnd, store_done_result *res) SG_WUR;

/*
 * Apply a worker's RESIGNED: write the second signing time into the
 * envelope of the record (its attempt must match; else STALE).
 */
sg_rc store_db_resigned(store_db *self, MDB_txn *txn, const proto_resigned *v,
                        store_done_result *res) SG_WUR;

/*
 * Timer work, each bounded by `max` entries per call so one transaction
 * stays short: expired leases become due again (or dead when past their
 * lifetime); queued and held messages past their lifetime go to the dead
 * set; dead and done records past their keep time and expired replay
 * keys are purged.  *n = entries handled.
 */
sg_rc store_db_tick(store_db *self, MDB_txn *txn, uint64_t now_ms,
                    const store_sched_conf *sc, size_t max,
                    size_t *n) SG_WUR;

/*
 * After a restart: every leased message is due now (its worker, if it
 * still runs, reports to a store that no longer holds its lease; its DONE
 * is applied if it says delivered, ignored otherwise).  *n = requeued.
 */
sg_rc store_db_recover(store_db *self, MDB_txn *txn, uint64_t now_ms,
                       const store_sched_conf *sc, size_t *n) SG_WUR;

/*
 * When the loop must wake next: *timer_ms for timer work (lease expiry,
 * lifetime, purges), *due_ms for the first queued message (it matters
 * only while some worker has credit).  UINT64_MAX when nothing waits.
 */
sg_rc store_db_next_event(store_db *self, MDB_txn *txn, uint64_t *timer_ms,
                          uint64_t *due_ms) SG_WUR;

/* --- control (the queue tool) --- */

typedef void store_db_rec_fn(void *arg, const uint8_t id[PROTO_MSG_ID_LEN],
                             const store_record *r);

/* Up to `limit` records in id (time) order, `state` 0 for any. */
sg_rc store_db_list(store_db *self, MDB_txn *txn, unsigned state,
                    size_t limit, store_db_rec_fn *fn, void *arg) SG_WUR;
/* One record; *found = 0 when there is none (or it was quarantined). */
sg_rc store_db_show(store_db *self, MDB_txn *txn,
                    const uint8_t id[PROTO_MSG_ID_LEN], store_db_rec_fn *fn,
                    void *arg, int *found) SG_WUR;

/*
 * REQUEUE / HOLD / RELEASE / DELETE.  *code = 0 on success or a
 * PROTO_CTL_* code; *count = messages changed.
 */
typedef enum {
    STORE_CTL_REQUEUE = 1,
    STORE_CTL_HOLD,
    STORE_CTL_RELEASE,
    STORE_CTL_DELETE,
} store_ctl_op;

sg_rc store_db_ctl(store_db *self, MDB_txn *txn, store_ctl_op op,
                   const uint8_t id[PROTO_MSG_ID_LEN], int all,
                   uint64_t now_ms, const store_sched_conf *sc,
                   uint32_t *code, const char **why, uint32_t *count) SG_WUR;

typedef struct {
    uint64_t total, queued, leased, held, finished; /* finished: dead+done */
    uint64_t replay_keys, quarantined;
    /* The in-memory replay index (store/store_rindex.h): entries (equal
     * to replay_keys between transactions) and bytes held. */
    uint64_t replay_index, replay_index_bytes;
    uint64_t map_size, map_used;
} store_db_stats;

sg_rc store_db_stats_get(store_db *self, MDB_txn *txn, uint64_t now_ms,
                         store_db_stats *st) SG_WUR;

/*
 * The receive time (ms, from the UUIDv7 id) of the waiting message
 * (queued or held) whose lifetime ends first: the first entry of the
 * expire index, one cursor read, for the "oldest message" gauge.
 * *found = 0 when nothing waits.  XXX a message whose envelope Expires
 * cut its lifetime short sorts before older ones; an exact answer needs
 * an index by receive time.
 */
sg_rc store_db_oldest_waiting(store_db *self, MDB_txn *txn,
                              uint64_t *received_ms, int *found) SG_WUR;


#endif
