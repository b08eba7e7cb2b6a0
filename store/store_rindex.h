/*
 * store/store_rindex.h - the store's in-memory index of replay keys
 * (store/FORMAT.md, format 2).
 *
 * The durable replay table is `replay_exp` alone: expiry BE u64 + replay
 * key -> holder id, in time order, so a STORE appends near the end of the
 * B-tree and the purge takes from its front instead of both touching a
 * random leaf per message.  What time order cannot give, finding a key
 * without knowing its expiry, this index gives: 64 bits of the key (the
 * fingerprint) -> the expiry, in an open-addressed table rebuilt from
 * `replay_exp` when the store opens.  A fingerprint match is only a
 * candidate: the caller confirms it with an exact lookup of (expiry, key)
 * in its transaction, so a collision costs one more lookup, never a wrong
 * verdict.
 *
 * Changes made during a write transaction are logged; commit() forgets
 * the log, rollback() undoes it (an aborted transaction leaves the index
 * as the last commit left the database).
 *
 * Memory: 16 bytes per slot, at most three quarters of them used: about
 * 21 to 43 bytes per live key as the table doubles (replay keys live
 * --replay-window, so the size follows the rate of replay-keyed messages
 * times the window; a million keys: 32 MB).
 */
#ifndef STORE_RINDEX_H
#define STORE_RINDEX_H

#include <stddef.h>
#include <stdint.h>

#define STORE_RINDEX_KEY 32

typedef struct store_rindex store_rindex;

store_rindex *store_rindex_new(void);
/* Accepts NULL and sets *p to NULL. */
void store_rindex_destroy(store_rindex **p);

/* Add (key, exp); logged for rollback. */
void store_rindex_add(store_rindex *self, const uint8_t *key, uint64_t exp);
/* Remove (key, exp) if present; logged for rollback. */
void store_rindex_del(store_rindex *self, const uint8_t *key, uint64_t exp);
/*
 * The candidates for `key`: start with *pos = 0; each call that returns 1
 * sets *exp to the expiry of the next entry with the key's fingerprint.
 * No add or del between the calls of one walk.
 */
int store_rindex_find(const store_rindex *self, const uint8_t *key, size_t *pos,
                      uint64_t *exp);

/* The transaction committed: keep the changes, forget the log. */
void store_rindex_commit(store_rindex *self);
/* The transaction is gone: undo every change since the last commit. */
void store_rindex_rollback(store_rindex *self);

/* Live entries; bytes held (slots and log). */
size_t store_rindex_count(const store_rindex *self);
size_t store_rindex_bytes(const store_rindex *self);

#endif
