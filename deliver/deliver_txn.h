/*
 * deliver/deliver_txn.h - the worker's bookkeeping of SIP client
 * transactions in flight, as pure code: which transaction a response
 * belongs to (by its Via branch), and which timer is due next.  No
 * sockets, no clock, no logging; deliver_main.c owns the transactions.
 *
 * Both replace scans over every job the worker holds: at full load a
 * worker holds hundreds, and the scans ran for every response and on
 * every pass of the loop.
 */
#ifndef DELIVER_TXN_H
#define DELIVER_TXN_H

#include <stddef.h>
#include <stdint.h>

/* --- transactions by branch --- */

/*
 * A hash table from a branch to the caller's object (open addressing,
 * linear probing, deletion by backward shift: no tombstones, so a table
 * that sees millions of transactions come and go never degrades).  The
 * key bytes are borrowed: they must stay valid and unchanged while the
 * entry is in the table (a branch kept in the job itself does).
 *
 * The same branch may be added twice (two objects); a lookup then
 * answers one of them, and each is removed on its own.  Branches are
 * chosen by us with randomness in them, so this does not happen in
 * practice; it is allowed so that nothing breaks if it does.
 *
 * Lookups take bytes from the network (a response's branch, any length,
 * possibly forged): an unknown branch answers NULL.  Only our own
 * branches are ever inserted, so a peer cannot lengthen the probe
 * sequences by choosing what it sends.
 */
typedef struct deliver_txn deliver_txn_t;

/* A new empty table; never NULL (out of memory aborts). */
deliver_txn_t *deliver_txn_new(void);
/* Frees the table (not the objects); sets *self to NULL; accepts NULL. */
void deliver_txn_destroy(deliver_txn_t **self);

/* Add `obj` under the `n` bytes at `branch` (borrowed, see above). */
void deliver_txn_add(deliver_txn_t *self, const char *branch, size_t n,
                     void *obj);

/* The object added under exactly these `n` bytes, or NULL. */
void *deliver_txn_find(const deliver_txn_t *self, const char *branch, size_t n);

/* Remove the entry of `obj` under `branch`: 1, or 0 when there is none. */
int deliver_txn_remove(deliver_txn_t *self, const char *branch, size_t n,
                       const void *obj);

/* The number of entries. */
size_t deliver_txn_count(const deliver_txn_t *self);

/* --- timers --- */

/*
 * A binary min-heap of timers, each embedded in the caller's object
 * (find the object again with offsetof).  A timer knows its place in the
 * heap, so setting, moving and cancelling one are O(log n) and the first
 * due is O(1).  The heap borrows the timers: an object must cancel its
 * timer before it is freed.
 */
typedef struct {
    uint64_t at; /* when it is due; meaningful while queued */
    size_t pos;  /* its place in the heap, or DELIVER_TIMER_IDLE */
} deliver_timer_t;

#define DELIVER_TIMER_IDLE ((size_t)-1)

/* A timer's initial state (not queued); a zeroed one is NOT idle. */
#define DELIVER_TIMER_INIT                                                     \
    {                                                                          \
        0, DELIVER_TIMER_IDLE                                                  \
    }

typedef struct {
    deliver_timer_t **v;
    size_t n, cap;
} deliver_timers_t;

/* Queue `t` due at `at`, or move it there when it is already queued. */
void deliver_timers_set(deliver_timers_t *self, deliver_timer_t *t,
                        uint64_t at);

/* Take `t` out of the heap; an idle timer is left as it is. */
void deliver_timers_cancel(deliver_timers_t *self, deliver_timer_t *t);

/* The timer due first (borrowed; still queued), or NULL when empty. */
deliver_timer_t *deliver_timers_first(const deliver_timers_t *self);

/* When the first timer is due, or UINT64_MAX when none is queued. */
uint64_t deliver_timers_next(const deliver_timers_t *self);

/* Free the heap's storage; the timers still queued are left as they are
 * (their owners are being freed too). */
void deliver_timers_clear(deliver_timers_t *self);

#endif
