/*
 * store/store_db.c - the LMDB layer (store/store_db.h, store/FORMAT.md).
 *
 * Every message has one record in "msg" and, depending on its state,
 * entries in the time indexes that tell the scheduler what to look at:
 *
 *   queued  due[next_due]     expire[expire_at]
 *   leased  lease[lease_until]
 *   held                      expire[expire_at]
 *   dead    purge[keep_until]
 *   done    purge[keep_until]
 *
 * A transition always removes the old state's index entries, rewrites the
 * record and adds the new state's entries, in one transaction, so the
 * indexes agree with the records after every commit.  Readers still treat
 * an index entry whose record disagrees (or is gone, or was quarantined)
 * as dangling and delete it: cheap insurance, and the only path by which
 * a quarantined record's index entries go away.
 */
#include "store/store_db.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "lib/sg_log.h"
#include "store/store_rindex.h"

#define S_PLACE "store.db"
#define S_IKEY 24 /* index key: due time BE u64 + message id */

struct store_db {
    MDB_env *env;
    MDB_dbi msg, due, lease, expire, purge, rexp, quar, meta;
    store_rindex *rx; /* replay key -> expiry, for rexp (FORMAT.md) */
    uint64_t map_size;
    uint8_t *scratch; /* a record's envelope and error, copied out */
    size_t scratch_cap;
};

/*
 * The one place LMDB results are converted: a full map (or a transaction
 * too big for the dirty list) is SG_AGAIN, for the caller to grow the map
 * or refuse; anything else is logged here, with the failing call named.
 */
static sg_rc
s_lmdb(int rc, const char *call)
{
    if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL)
        return SG_AGAIN;
    sg_error(S_PLACE, "%s: %s", call, mdb_strerror(rc));
    return SG_ERR;
}

static char *
s_hex(const uint8_t id[PROTO_MSG_ID_LEN], char out[PROTO_MSG_ID_HEX])
{
    return proto_msg_id_hex(id, out);
}

/* Time keys are big-endian so LMDB's byte order is time order. */
static void
s_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * (7 - i)));
}

static uint64_t
s_get_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static sg_rc
s_idx_put(MDB_txn *txn, MDB_dbi dbi, uint64_t t, const uint8_t *id,
          size_t idlen)
{
    uint8_t kb[8 + PROTO_MSG_REPLAY_LEN];
    MDB_val k = {8 + idlen, kb}, v = {0, NULL};
    int rc;

    s_be64(kb, t);
    memcpy(kb + 8, id, idlen);
    if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
        return s_lmdb(rc, "mdb_put(index)");
    return SG_OK;
}

static sg_rc
s_idx_del(MDB_txn *txn, MDB_dbi dbi, uint64_t t, const uint8_t *id,
          size_t idlen)
{
    uint8_t kb[8 + PROTO_MSG_REPLAY_LEN];
    MDB_val k = {8 + idlen, kb};
    int rc;

    s_be64(kb, t);
    memcpy(kb + 8, id, idlen);
    rc = mdb_del(txn, dbi, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return s_lmdb(rc, "mdb_del(index)");
    return SG_OK;
}

/*
 * The first entry of a time index: *found = 0 when the index is empty.
 * Copies the key out (the caller writes before looking at it again).
 */
static sg_rc
s_idx_first(MDB_txn *txn, MDB_dbi dbi, size_t idlen, int *found,
            uint64_t *t, uint8_t *id)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    *found = 0;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        return s_lmdb(rc, "mdb_cursor_open");
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return SG_OK;
    if (rc != 0)
        return s_lmdb(rc, "mdb_cursor_get(index)");
    if (k.mv_size != 8 + idlen) {
        /* A malformed index key: drop it, the record is the truth. */
        sg_warn(S_PLACE, "index key of %zu bytes dropped", k.mv_size);
        if ((rc = mdb_del(txn, dbi, &k, NULL)) != 0)
            return s_lmdb(rc, "mdb_del(index)");
        *found = -1;
        return SG_OK;
    }
    *t = s_get_be64(k.mv_data);
    memcpy(id, (uint8_t *)k.mv_data + 8, idlen);
    *found = 1;
    return SG_OK;
}

static sg_rc
s_meta_add(store_db *self, MDB_txn *txn, const char *name, uint64_t add)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    uint8_t b[8];
    uint64_t cur = 0;
    int rc;

    rc = mdb_get(txn, self->meta, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        cur = proto_get_u64(v.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return s_lmdb(rc, "mdb_get(meta)");
    proto_put_u64(b, cur + add);
    v.mv_size = 8;
    v.mv_data = b;
    if ((rc = mdb_put(txn, self->meta, &k, &v, 0)) != 0)
        return s_lmdb(rc, "mdb_put(meta)");
    return SG_OK;
}

static uint64_t
s_meta_get(store_db *self, MDB_txn *txn, const char *name)
{
    MDB_val k = {strlen(name), (void *)name}, v;

    if (mdb_get(txn, self->meta, &k, &v) == 0 && v.mv_size == 8)
        return proto_get_u64(v.mv_data);
    return 0;
}

static void
s_scratch(store_db *self, size_t n)
{
    if (n > self->scratch_cap) {
        self->scratch = sg_realloc(self->scratch, n);
        self->scratch_cap = n;
    }
}

/*
 * Move a record that failed validation aside: its bytes go to "quar"
 * under the same key, it leaves "msg", the counter goes up.  The bytes are
 * copied first: they live in the map, which the writes may reuse.
 */
static sg_rc
s_quarantine(store_db *self, MDB_txn *txn, const MDB_val *key,
             const MDB_val *data, const char *why)
{
    char hex[2 * 64 + 1] = "";
    MDB_val k, v;
    sg_rc src;
    int rc;

    s_scratch(self, key->mv_size + data->mv_size);
    memcpy(self->scratch, key->mv_data, key->mv_size);
    memcpy(self->scratch + key->mv_size, data->mv_data, data->mv_size);
    k.mv_size = key->mv_size;
    k.mv_data = self->scratch;
    v.mv_size = data->mv_size;
    v.mv_data = self->scratch + key->mv_size;
    for (size_t i = 0; i < k.mv_size && i < 64; i++)
        snprintf(hex + 2 * i, 3, "%02x", ((uint8_t *)k.mv_data)[i]);
    if ((rc = mdb_put(txn, self->quar, &k, &v, 0)) != 0)
        return s_lmdb(rc, "mdb_put(quarantine)");
    if ((rc = mdb_del(txn, self->msg, &k, NULL)) != 0)
        return s_lmdb(rc, "mdb_del(msg)");
    if ((src = s_meta_add(self, txn, "quarantined", 1)) != SG_OK)
        return src;
    sg_error(S_PLACE, "msg=%s record quarantined: %s", hex, why);
    return SG_OK;
}

/*
 * Load and validate the record of `id`.  *found = 0 when absent or
 * quarantined just now.  `r` borrows from the map until the next write.
 */
static sg_rc
s_load(store_db *self, MDB_txn *txn, const uint8_t id[PROTO_MSG_ID_LEN],
       store_record *r, int *found)
{
    MDB_val k = {PROTO_MSG_ID_LEN, (void *)id}, v;
    const char *why;
    int rc;

    *found = 0;
    rc = mdb_get(txn, self->msg, &k, &v);
    if (rc == MDB_NOTFOUND)
        return SG_OK;
    if (rc != 0)
        return s_lmdb(rc, "mdb_get(msg)");
    why = store_record_decode(v.mv_data, v.mv_size, r);
    if (why == NULL && memcmp(r->msg.id, id, PROTO_MSG_ID_LEN) != 0)
        why = "envelope id differs from the key";
    if (why != NULL)
        return s_quarantine(self, txn, &k, &v, why);
    *found = 1;
    return SG_OK;
}

/*
 * Copy the parts of `r` that borrow from the map (error text, envelope)
 * into the scratch buffer, so `r` survives the writes that follow.
 */
static void
s_own(store_db *self, store_record *r)
{
    size_t n = r->last_error.len + r->env_len;

    s_scratch(self, n);
    if (r->last_error.len)
        memmove(self->scratch, r->last_error.p, r->last_error.len);
    memmove(self->scratch + r->last_error.len, r->env, r->env_len);
    r->last_error.p = r->last_error.len ? self->scratch : NULL;
    r->env = self->scratch + r->last_error.len;
    /* r->msg's pointers still point into the map: only scalars are used. */
}

static sg_rc
s_write(store_db *self, MDB_txn *txn, const uint8_t id[PROTO_MSG_ID_LEN],
        const store_record *r)
{
    MDB_val k = {PROTO_MSG_ID_LEN, (void *)id}, v;
    size_t n = store_record_len(r);
    int rc;

    if (n == 0)
        sg_panic("store_record_len: record out of bounds");
    v.mv_size = n;
    v.mv_data = NULL;
    /* Reserve and encode in place: one copy instead of two. */
    if ((rc = mdb_put(txn, self->msg, &k, &v, MDB_RESERVE)) != 0)
        return s_lmdb(rc, "mdb_put(msg)");
    if (store_record_encode(r, v.mv_data, n) != n)
        sg_panic("store_record_encode: length changed");
    return SG_OK;
}

static sg_rc
s_index(store_db *self, MDB_txn *txn, const uint8_t *id, const store_record *r,
        int add)
{
    sg_rc (*f)(MDB_txn *, MDB_dbi, uint64_t, const uint8_t *, size_t) =
        add ? s_idx_put : s_idx_del;
    sg_rc rc = SG_OK;

    switch (r->state) {
    case PROTO_STATE_QUEUED:
        if ((rc = f(txn, self->due, r->next_due_ms, id, 16)) == SG_OK)
            rc = f(txn, self->expire, r->expire_ms, id, 16);
        break;
    case PROTO_STATE_LEASED:
        rc = f(txn, self->lease, r->lease_until_ms, id, 16);
        break;
    case PROTO_STATE_HELD:
        rc = f(txn, self->expire, r->expire_ms, id, 16);
        break;
    default:
        rc = f(txn, self->purge, r->keep_until_ms, id, 16);
        break;
    }
    return rc;
}

/*
 * The one transition function: unindex, change, rewrite, reindex, and
 * the info line of STYLE.md ("one per message state change").
 */
typedef struct {
    uint8_t state, dead_reason;
    uint64_t next_due_ms, lease_until_ms, keep_until_ms, expire_ms;
    int attempt_inc;
    int set_error; /* replace last_error with `error` */
    proto_text error;
} s_change;

static sg_rc
s_move(store_db *self, MDB_txn *txn, const uint8_t *id, store_record *r,
       const s_change *c, uint64_t now_ms)
{
    char hex[PROTO_MSG_ID_HEX], q[160];
    uint8_t from = r->state;
    sg_rc rc;

    s_own(self, r);
    if ((rc = s_index(self, txn, id, r, 0)) != SG_OK)
        return rc;
    r->state = c->state;
    r->dead_reason = c->dead_reason;
    r->next_due_ms = c->next_due_ms;
    r->lease_until_ms = c->lease_until_ms;
    r->keep_until_ms = c->keep_until_ms;
    if (c->expire_ms)
        r->expire_ms = c->expire_ms;
    if (c->attempt_inc)
        r->attempts++;
    if (c->set_error)
        r->last_error = c->error;
    r->updated_ms = now_ms;
    if ((rc = s_write(self, txn, id, r)) != SG_OK)
        return rc;
    if ((rc = s_index(self, txn, id, r, 1)) != SG_OK)
        return rc;
    sg_log_quote(r->last_error.p, r->last_error.len, q, sizeof(q));
    sg_info(S_PLACE, "msg=%s %s -> %s%s%s attempts=%u%s%s%s", s_hex(id, hex),
            proto_state_name(from), proto_state_name(r->state),
            r->dead_reason ? " reason=" : "",
            store_record_dead_name(r->dead_reason), r->attempts,
            c->set_error && r->last_error.len ? " error=\"" : "",
            c->set_error && r->last_error.len ? q : "",
            c->set_error && r->last_error.len ? "\"" : "");
    return SG_OK;
}

static sg_rc
s_to_queued(store_db *self, MDB_txn *txn, const uint8_t *id, store_record *r,
            uint64_t due, uint64_t now_ms, const proto_text *err)
{
    s_change c = {.state = PROTO_STATE_QUEUED, .next_due_ms = due};

    if (err) {
        c.set_error = 1;
        c.error = *err;
    }
    return s_move(self, txn, id, r, &c, now_ms);
}

static sg_rc
s_to_final(store_db *self, MDB_txn *txn, const uint8_t *id, store_record *r,
           uint8_t state, uint8_t reason, const proto_text *err,
           uint64_t now_ms, const store_sched_conf *sc)
{
    s_change c = {.state = state,
                  .dead_reason = reason,
                  .keep_until_ms = store_sched_add(
                      now_ms, state == PROTO_STATE_DONE ? sc->done_keep_ms
                                                        : sc->dead_keep_ms)};

    if (err) {
        c.set_error = 1;
        c.error = *err;
    }
    return s_move(self, txn, id, r, &c, now_ms);
}

/*
 * Format 1 kept `replay` (key -> expiry LE u64 + id) beside `replay_exp`
 * (expiry BE u64 + key -> empty).  Format 2 keeps the id in `replay_exp`
 * and drops `replay`: every key moves, in the transaction that opens the
 * store, and `replay_exp` entries that had no `replay` entry (nothing
 * claims them) are dropped.
 */
static sg_rc
s_migrate_1(store_db *self, MDB_txn *txn, const char *dir)
{
    MDB_dbi old;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t moved = 0, bad = 0;
    int rc;

    rc = mdb_dbi_open(txn, "replay", 0, &old);
    if (rc == MDB_NOTFOUND)
        goto done;
    if (rc != 0)
        return s_lmdb(rc, "mdb_dbi_open(replay)");
    if ((rc = mdb_drop(txn, self->rexp, 0)) != 0)
        return s_lmdb(rc, "mdb_drop(replay_exp)");
    if ((rc = mdb_cursor_open(txn, old, &cur)) != 0)
        return s_lmdb(rc, "mdb_cursor_open(replay)");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint8_t kb[8 + PROTO_MSG_REPLAY_LEN];
        MDB_val nk = {sizeof(kb), kb}, nv;

        if (k.mv_size != PROTO_MSG_REPLAY_LEN ||
            v.mv_size != 8 + PROTO_MSG_ID_LEN) {
            bad++;
            continue;
        }
        s_be64(kb, proto_get_u64(v.mv_data));
        memcpy(kb + 8, k.mv_data, PROTO_MSG_REPLAY_LEN);
        nv.mv_size = PROTO_MSG_ID_LEN;
        nv.mv_data = (uint8_t *)v.mv_data + 8;
        if ((rc = mdb_put(txn, self->rexp, &nk, &nv, 0)) != 0)
            break;
        moved++;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return s_lmdb(rc, "migrating replay");
    if ((rc = mdb_drop(txn, old, 1)) != 0)
        return s_lmdb(rc, "mdb_drop(replay)");
done:
    sg_info(S_PLACE, "%s: format 1 -> %d: %zu replay keys moved%s", dir,
            STORE_DB_FORMAT, moved, bad ? " (malformed ones dropped)" : "");
    return SG_OK;
}

/* The in-memory index from `replay_exp`, at open. */
static sg_rc
s_rindex_build(store_db *self, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(txn, self->rexp, &cur)) != 0)
        return s_lmdb(rc, "mdb_cursor_open(replay_exp)");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (k.mv_size == 8 + PROTO_MSG_REPLAY_LEN)
            store_rindex_add(self->rx, (const uint8_t *)k.mv_data + 8,
                             s_get_be64(k.mv_data));
    mdb_cursor_close(cur);
    store_rindex_commit(self->rx);
    if (rc != MDB_NOTFOUND)
        return s_lmdb(rc, "reading replay_exp");
    return SG_OK;
}

static const proto_text s_lifetime_text = {
    (const uint8_t *)"lifetime exceeded", sizeof("lifetime exceeded") - 1};

store_db *
store_db_open(const char *dir, uint64_t map_size, uint64_t map_hard)
{
    static const struct {
        const char *name;
        size_t off;
    } dbs[] = {
        {"msg", offsetof(store_db, msg)},
        {"due", offsetof(store_db, due)},
        {"lease", offsetof(store_db, lease)},
        {"expire", offsetof(store_db, expire)},
        {"purge", offsetof(store_db, purge)},
        {"replay_exp", offsetof(store_db, rexp)},
        {"quarantine", offsetof(store_db, quar)},
        {"meta", offsetof(store_db, meta)},
    };
    store_db *self = sg_calloc(1, sizeof(*self));
    MDB_txn *txn = NULL;
    MDB_envinfo info;
    MDB_val k = {6, "format"}, v;
    uint8_t fmt[4];
    int rc;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        sg_error(S_PLACE, "mkdir %s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((rc = mdb_env_create(&self->env)) != 0) {
        sg_error(S_PLACE, "mdb_env_create: %s", mdb_strerror(rc));
        goto fail;
    }
    if ((rc = mdb_env_set_maxdbs(self->env, 16)) != 0 ||
        (rc = mdb_env_set_mapsize(self->env, (size_t)map_size)) != 0) {
        sg_error(S_PLACE, "mdb_env_set: %s", mdb_strerror(rc));
        goto fail;
    }
    /*
     * No MDB_NOSYNC, MDB_NOMETASYNC or MDB_MAPASYNC: every commit is on
     * disk when mdb_txn_commit returns 0, which is what STORED promises.
     * MDB_NOTLS: the one writer is the only thread anyway.
     */
    if ((rc = mdb_env_open(self->env, dir, MDB_NOTLS, 0600)) != 0) {
        sg_error(S_PLACE, "mdb_env_open %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    {
        int dead = 0;
        mdb_reader_check(self->env, &dead);
    }
    if ((rc = mdb_txn_begin(self->env, NULL, 0, &txn)) != 0) {
        sg_error(S_PLACE, "mdb_txn_begin: %s", mdb_strerror(rc));
        goto fail;
    }
    for (size_t i = 0; i < SG_NELEM(dbs); i++) {
        MDB_dbi *d = (MDB_dbi *)((char *)self + dbs[i].off);
        if ((rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, d)) != 0) {
            sg_error(S_PLACE, "mdb_dbi_open %s: %s", dbs[i].name,
                     mdb_strerror(rc));
            goto fail;
        }
    }
    rc = mdb_get(txn, self->meta, &k, &v);
    if (rc == 0 && v.mv_size == 4 && proto_get_u32(v.mv_data) == 1) {
        if (s_migrate_1(self, txn, dir) != SG_OK)
            goto fail;
        rc = MDB_NOTFOUND; /* now write format 2 */
    }
    if (rc == 0) {
        if (v.mv_size != 4 || proto_get_u32(v.mv_data) != STORE_DB_FORMAT) {
            sg_error(S_PLACE, "%s: unknown store format; refusing to open",
                     dir);
            goto fail;
        }
    } else if (rc == MDB_NOTFOUND) {
        proto_put_u32(fmt, STORE_DB_FORMAT);
        v.mv_size = 4;
        v.mv_data = fmt;
        if ((rc = mdb_put(txn, self->meta, &k, &v, 0)) != 0) {
            sg_error(S_PLACE, "mdb_put(meta): %s", mdb_strerror(rc));
            goto fail;
        }
    } else {
        sg_error(S_PLACE, "mdb_get(meta): %s", mdb_strerror(rc));
        goto fail;
    }
    self->rx = store_rindex_new();
    if (s_rindex_build(self, txn) != SG_OK)
        goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        sg_error(S_PLACE, "mdb_txn_commit: %s", mdb_strerror(rc));
        goto fail;
    }
    /* An existing file bigger than map_size keeps its size. */
    mdb_env_info(self->env, &info);
    self->map_size = info.me_mapsize;
    if (self->map_size > map_hard)
        sg_warn(S_PLACE, "%s: map of %llu bytes exceeds the maximum %llu",
                dir, (unsigned long long)self->map_size,
                (unsigned long long)map_hard);
    return self;
fail:
    if (txn)
        mdb_txn_abort(txn);
    store_db_destroy(&self);
    return NULL;
}

void
store_db_destroy(store_db **p)
{
    store_db *self = *p;

    if (self == NULL)
        return;
    if (self->env)
        mdb_env_close(self->env);
    store_rindex_destroy(&self->rx);
    sg_free(self->scratch);
    sg_free(self);
    *p = NULL;
}

sg_rc
store_db_begin(store_db *self, MDB_txn **txn)
{
    int rc;

    /* What the last transaction changed in the index and did not commit
     * (aborted, or its commit failed) is undone first. */
    store_rindex_rollback(self->rx);
    rc = mdb_txn_begin(self->env, NULL, 0, txn);

    if (rc != 0) {
        *txn = NULL;
        return s_lmdb(rc, "mdb_txn_begin");
    }
    return SG_OK;
}

/*
 * LMDB reports a short pwrite as EIO, and on a full filesystem a page
 * write is short rather than failing with ENOSPC: so EIO with less than
 * 1 MiB left on the store's filesystem is taken for a full disk.
 */
static int
s_disk_full(store_db *self)
{
    const char *dir = NULL;
    struct statvfs st;

    if (mdb_env_get_path(self->env, &dir) != 0 || statvfs(dir, &st) != 0)
        return 0;
    return (uint64_t)st.f_bavail * st.f_frsize < (1u << 20);
}

sg_rc
store_db_commit(store_db *self, MDB_txn **txn)
{
    int rc = mdb_txn_commit(*txn);

    *txn = NULL;
    if (rc == ENOSPC || rc == EDQUOT || (rc == EIO && s_disk_full(self))) {
        /* LMDB writes the data pages before the meta page: a write that
         * failed for space left the last committed state intact. */
        sg_warn(S_PLACE, "mdb_txn_commit: %s (filesystem full)",
                mdb_strerror(rc));
        return SG_REFUSED;
    }
    if (rc != 0)
        return s_lmdb(rc, "mdb_txn_commit");
    store_rindex_commit(self->rx);
    return SG_OK;
}

void
store_db_abort(MDB_txn **txn)
{
    if (*txn) {
        mdb_txn_abort(*txn);
        *txn = NULL;
    }
}

uint64_t
store_db_map_size(store_db *self)
{
    return self->map_size;
}

uint64_t
store_db_map_used(store_db *self)
{
    MDB_envinfo info;
    MDB_stat st;

    mdb_env_info(self->env, &info);
    mdb_env_stat(self->env, &st);
    return ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

sg_rc
store_db_grow(store_db *self, uint64_t limit)
{
    uint64_t n = self->map_size;
    int rc;

    if (n >= limit)
        return SG_AGAIN;
    n = n > limit / 2 ? limit : n * 2;
    if ((rc = mdb_env_set_mapsize(self->env, (size_t)n)) != 0) {
        sg_error(S_PLACE, "mdb_env_set_mapsize(%llu): %s",
                 (unsigned long long)n, mdb_strerror(rc));
        return SG_ERR;
    }
    self->map_size = n;
    return SG_OK;
}

void
store_db_shrink(store_db *self, uint64_t target)
{
    MDB_envinfo info;

    if (target >= self->map_size)
        return;
    if (mdb_env_set_mapsize(self->env, (size_t)target) != 0)
        return; /* keeping the bigger map is harmless */
    mdb_env_info(self->env, &info);
    self->map_size = info.me_mapsize;
}

/*
 * The claim on `key`: *found = 1 with its expiry and holder id (zero: a
 * CHECK_REPLAY with no message), else 0.  The index names candidates; the
 * transaction's own `replay_exp` decides.
 */
static sg_rc
s_replay_find(store_db *self, MDB_txn *txn, const uint8_t *key, int *found,
              uint64_t *exp, uint8_t holder[PROTO_MSG_ID_LEN])
{
    uint8_t kb[8 + PROTO_MSG_REPLAY_LEN];
    MDB_val k = {sizeof(kb), kb}, v;
    size_t pos = 0;
    uint64_t t;

    *found = 0;
    memcpy(kb + 8, key, PROTO_MSG_REPLAY_LEN);
    while (store_rindex_find(self->rx, key, &pos, &t)) {
        int rc;

        s_be64(kb, t);
        rc = mdb_get(txn, self->rexp, &k, &v);
        if (rc == MDB_NOTFOUND)
            continue; /* another key with the same fingerprint */
        if (rc != 0)
            return s_lmdb(rc, "mdb_get(replay_exp)");
        *found = 1;
        *exp = t;
        if (v.mv_size == PROTO_MSG_ID_LEN)
            memcpy(holder, v.mv_data, PROTO_MSG_ID_LEN);
        else
            memset(holder, 0, PROTO_MSG_ID_LEN);
        return SG_OK;
    }
    return SG_OK;
}

/*
 * Claim `key` for `id` (zero id: a CHECK_REPLAY with no message yet) until
 * `exp`, replacing the claim that expired at `old` if `had_old`.
 */
static sg_rc
s_replay_set(store_db *self, MDB_txn *txn, const uint8_t *key, int had_old,
             uint64_t old, uint64_t exp, const uint8_t *id)
{
    uint8_t kb[8 + PROTO_MSG_REPLAY_LEN];
    MDB_val k = {sizeof(kb), kb}, v = {PROTO_MSG_ID_LEN, (void *)id};
    sg_rc src;
    int rc;

    if (had_old) {
        if ((src = s_idx_del(txn, self->rexp, old, key,
                             PROTO_MSG_REPLAY_LEN)) != SG_OK)
            return src;
        store_rindex_del(self->rx, key, old);
    }
    s_be64(kb, exp);
    memcpy(kb + 8, key, PROTO_MSG_REPLAY_LEN);
    if ((rc = mdb_put(txn, self->rexp, &k, &v, 0)) != 0)
        return s_lmdb(rc, "mdb_put(replay_exp)");
    store_rindex_add(self->rx, key, exp);
    return SG_OK;
}

sg_rc
store_db_put(store_db *self, MDB_txn *txn, const uint8_t *env, size_t env_len,
             const proto_msg *m, uint64_t now_ms, const store_sched_conf *sc,
             uint64_t replay_window_ms, store_put_result *res,
             uint8_t holder[PROTO_MSG_ID_LEN])
{
    static const uint8_t zero[PROTO_MSG_ID_LEN];
    char hex[PROTO_MSG_ID_HEX];
    store_record r;
    int found;
    sg_rc rc;

    if ((rc = s_load(self, txn, m->id, &r, &found)) != SG_OK)
        return rc;
    if (found) {
        *res = STORE_PUT_EXISTS;
        return SG_OK;
    }
    if (m->flags & PROTO_MSG_F_REPLAY_KEY) {
        uint8_t who[PROTO_MSG_ID_LEN];
        uint64_t old = 0;
        int had;

        if ((rc = s_replay_find(self, txn, m->replay_key, &had, &old, who)) !=
            SG_OK)
            return rc;
        if (had && old > now_ms &&
            memcmp(who, zero, PROTO_MSG_ID_LEN) != 0 &&
            memcmp(who, m->id, PROTO_MSG_ID_LEN) != 0) {
            sg_info(S_PLACE, "msg=%s refused: replay key already seen",
                    s_hex(m->id, hex));
            if (holder != NULL)
                memcpy(holder, who, PROTO_MSG_ID_LEN);
            *res = STORE_PUT_REPLAY;
            return SG_OK;
        }
        rc = s_replay_set(self, txn, m->replay_key, had, old,
                          store_sched_add(now_ms, replay_window_ms), m->id);
        if (rc != SG_OK)
            return rc;
    }
    memset(&r, 0, sizeof(r));
    r.state = PROTO_STATE_QUEUED;
    r.created_ms = now_ms;
    r.next_due_ms = now_ms;
    r.expire_ms = store_sched_expire_at(sc, now_ms, m->expires_ms);
    r.updated_ms = now_ms;
    r.env = env;
    r.env_len = env_len;
    if ((rc = s_write(self, txn, m->id, &r)) != SG_OK ||
        (rc = s_index(self, txn, m->id, &r, 1)) != SG_OK)
        return rc;
    sg_info(S_PLACE, "msg=%s queued", s_hex(m->id, hex));
    *res = STORE_PUT_NEW;
    return SG_OK;
}

sg_rc
store_db_replay_check(store_db *self, MDB_txn *txn,
                      const uint8_t key[PROTO_MSG_REPLAY_LEN],
                      uint64_t window_ms, uint64_t now_ms, int *seen)
{
    static const uint8_t zero[PROTO_MSG_ID_LEN];
    uint8_t who[PROTO_MSG_ID_LEN];
    uint64_t old = 0;
    int had;
    sg_rc rc;

    if ((rc = s_replay_find(self, txn, key, &had, &old, who)) != SG_OK)
        return rc;
    if (had && old > now_ms) {
        *seen = 1;
        return SG_OK;
    }
    *seen = 0;
    return s_replay_set(self, txn, key, had, old,
                        store_sched_add(now_ms, window_ms), zero);
}

sg_rc
store_db_lease_due(store_db *self, MDB_txn *txn, uint64_t now_ms,
                   const store_sched_conf *sc, size_t max,
                   store_db_job_fn *fn, void *arg, size_t *n)
{
    uint8_t id[PROTO_MSG_ID_LEN];
    store_record r;
    uint64_t t;
    int found;
    sg_rc rc;

    *n = 0;
    while (*n < max) {
        if ((rc = s_idx_first(txn, self->due, 16, &found, &t, id)) != SG_OK)
            return rc;
        if (found < 0)
            continue;
        if (found == 0 || t > now_ms)
            break;
        if ((rc = s_load(self, txn, id, &r, &found)) != SG_OK)
            return rc;
        if (!found || r.state != PROTO_STATE_QUEUED || r.next_due_ms != t) {
            if ((rc = s_idx_del(txn, self->due, t, id, 16)) != SG_OK)
                return rc;
            continue;
        }
        if (now_ms >= r.expire_ms) {
            rc = s_to_final(self, txn, id, &r, PROTO_STATE_DEAD,
                            STORE_DEAD_LIFETIME, &s_lifetime_text, now_ms, sc);
            if (rc != SG_OK)
                return rc;
            continue;
        }
        s_change c = {.state = PROTO_STATE_LEASED,
                      .lease_until_ms = store_sched_add(now_ms, sc->lease_ms),
                      .attempt_inc = 1};
        if ((rc = s_move(self, txn, id, &r, &c, now_ms)) != SG_OK)
            return rc;
        /* r.env is in the scratch buffer now: valid through the call. */
        fn(arg, id, r.attempts, r.lease_until_ms, r.env, r.env_len);
        (*n)++;
    }
    return SG_OK;
}

sg_rc
store_db_done(store_db *self, MDB_txn *txn, const proto_done *d,
              uint64_t now_ms, const store_sched_conf *sc, uint64_t rnd,
              store_done_result *res)
{
    store_record r;
    int found, current;
    sg_rc rc;

    if ((rc = s_load(self, txn, d->id, &r, &found)) != SG_OK)
        return rc;
    if (!found) {
        *res = STORE_DONE_UNKNOWN;
        return SG_OK;
    }
    /*
     * A DONE answers one lease: the attempt number tells an old worker's
     * late report from the current one.  "Delivered" is accepted from any
     * attempt, because it is a fact about the world (the message went
     * out) and sending it again would only duplicate it; retry and
     * failure reports count only from the current lease.
     */
    current = r.state == PROTO_STATE_LEASED && r.attempts == d->attempt;
    /* What deliver decided rides along with the state change below. */
    if ((d->dverstat || d->dreason) &&
        (current || d->outcome == PROTO_OUTCOME_DELIVERED)) {
        r.dverstat = d->dverstat;
        r.dreason = d->dreason;
    }
    if (d->outcome == PROTO_OUTCOME_DELIVERED) {
        if (r.state == PROTO_STATE_DONE) {
            *res = STORE_DONE_STALE;
            return SG_OK;
        }
        rc = s_to_final(self, txn, d->id, &r, PROTO_STATE_DONE,
                        STORE_DEAD_NONE, &d->error, now_ms, sc);
    } else if (!current) {
        *res = STORE_DONE_STALE;
        return SG_OK;
    } else if (d->outcome == PROTO_OUTCOME_WAIT) {
        /*
         * The destination is down (deliver's route state): the message
         * waits without counting the attempt it was handed, so a long
         * outage does not push it towards the backoff cap; it waits for
         * the next probe, backoff_min, and at least as long again as it
         * has waited (store_sched_wait_due), so a backlog of a million
         * behind a dead route is not handed out and back at every probe.  The lifetime
         * still binds.
         */
        if (r.attempts > 0)
            r.attempts--;
        if (now_ms >= r.expire_ms)
            rc = s_to_final(self, txn, d->id, &r, PROTO_STATE_DEAD,
                            STORE_DEAD_LIFETIME, &d->error, now_ms, sc);
        else
            rc = s_to_queued(self, txn, d->id, &r,
                             store_sched_wait_due(sc, now_ms, r.created_ms,
                                                  d->retry_after_ms,
                                                  r.expire_ms, rnd),
                             now_ms, &d->error);
    } else if (d->outcome == PROTO_OUTCOME_RETRY) {
        if (now_ms >= r.expire_ms)
            rc = s_to_final(self, txn, d->id, &r, PROTO_STATE_DEAD,
                            STORE_DEAD_LIFETIME, &d->error, now_ms, sc);
        else
            rc = s_to_queued(self, txn, d->id, &r,
                             store_sched_retry_due(sc, now_ms, r.attempts,
                                                   d->retry_after_ms,
                                                   r.expire_ms, rnd),
                             now_ms, &d->error);
    } else {
        rc = s_to_final(self, txn, d->id, &r, PROTO_STATE_DEAD,
                        d->outcome == PROTO_OUTCOME_FAILED ? STORE_DEAD_FAILED
                                                           : STORE_DEAD_EXPIRED,
                        &d->error, now_ms, sc);
    }
    if (rc == SG_OK)
        *res = STORE_DONE_APPLIED;
    return rc;
}

sg_rc
store_db_resigned(store_db *self, MDB_txn *txn, const proto_resigned *v,
                  store_done_result *res)
{
    store_record r;
    int found;
    sg_rc rc;

    if ((rc = s_load(self, txn, v->id, &r, &found)) != SG_OK)
        return rc;
    if (!found) {
        *res = STORE_DONE_UNKNOWN;
        return SG_OK;
    }
    /*
     * Any state but "queued again for a later attempt" may take it: the
     * re-signed copy may already have gone out (a DONE in the same batch
     * made it done).  The original iat stays; only the second signing
     * time is written, in place, so the record shows both.
     */
    if (r.attempts != v->attempt) {
        *res = STORE_DONE_STALE;
        return SG_OK;
    }
    s_own(self, &r);
    proto_put_u64((uint8_t *)r.env + 32, v->resign_iat);
    if ((rc = s_write(self, txn, v->id, &r)) != SG_OK)
        return rc;
    *res = STORE_DONE_APPLIED;
    return SG_OK;
}

/* Expired leases: due again now, or dead past the lifetime. */
static sg_rc
s_tick_leases(store_db *self, MDB_txn *txn, uint64_t now_ms, uint64_t upto,
              const store_sched_conf *sc, size_t max, size_t *n)
{
    uint8_t id[PROTO_MSG_ID_LEN];
    store_record r;
    uint64_t t;
    int found;
    sg_rc rc;

    while (*n < max) {
        if ((rc = s_idx_first(txn, self->lease, 16, &found, &t, id)) != SG_OK)
            return rc;
        if (found < 0)
            continue;
        if (found == 0 || t > upto)
            break;
        (*n)++;
        if ((rc = s_load(self, txn, id, &r, &found)) != SG_OK)
            return rc;
        if (!found || r.state != PROTO_STATE_LEASED || r.lease_until_ms != t) {
            if ((rc = s_idx_del(txn, self->lease, t, id, 16)) != SG_OK)
                return rc;
            continue;
        }
        if (now_ms >= r.expire_ms)
            rc = s_to_final(self, txn, id, &r, PROTO_STATE_DEAD,
                            STORE_DEAD_LIFETIME, &s_lifetime_text, now_ms, sc);
        else
            rc = s_to_queued(self, txn, id, &r, now_ms, now_ms, NULL);
        if (rc != SG_OK)
            return rc;
    }
    return SG_OK;
}

sg_rc
store_db_tick(store_db *self, MDB_txn *txn, uint64_t now_ms,
              const store_sched_conf *sc, size_t max, size_t *n)
{
    uint8_t id[PROTO_MSG_REPLAY_LEN];
    char hex[PROTO_MSG_ID_HEX];
    store_record r;
    uint64_t t;
    int found;
    sg_rc rc;

    *n = 0;
    if ((rc = s_tick_leases(self, txn, now_ms, now_ms, sc, max, n)) != SG_OK)
        return rc;
    /* Queued or held past the lifetime: the dead set. */
    while (*n < max) {
        if ((rc = s_idx_first(txn, self->expire, 16, &found, &t, id)) != SG_OK)
            return rc;
        if (found < 0)
            continue;
        if (found == 0 || t > now_ms)
            break;
        (*n)++;
        if ((rc = s_load(self, txn, id, &r, &found)) != SG_OK)
            return rc;
        if (!found ||
            (r.state != PROTO_STATE_QUEUED && r.state != PROTO_STATE_HELD) ||
            r.expire_ms != t) {
            if ((rc = s_idx_del(txn, self->expire, t, id, 16)) != SG_OK)
                return rc;
            continue;
        }
        rc = s_to_final(self, txn, id, &r, PROTO_STATE_DEAD,
                        STORE_DEAD_LIFETIME, &s_lifetime_text, now_ms, sc);
        if (rc != SG_OK)
            return rc;
    }
    /* Dead and done records past their keep time: gone. */
    while (*n < max) {
        if ((rc = s_idx_first(txn, self->purge, 16, &found, &t, id)) != SG_OK)
            return rc;
        if (found < 0)
            continue;
        if (found == 0 || t > now_ms)
            break;
        (*n)++;
        if ((rc = s_idx_del(txn, self->purge, t, id, 16)) != SG_OK)
            return rc;
        if ((rc = s_load(self, txn, id, &r, &found)) != SG_OK)
            return rc;
        if (!found ||
            (r.state != PROTO_STATE_DEAD && r.state != PROTO_STATE_DONE) ||
            r.keep_until_ms != t)
            continue;
        MDB_val k = {PROTO_MSG_ID_LEN, id};
        int lrc = mdb_del(txn, self->msg, &k, NULL);
        if (lrc != 0)
            return s_lmdb(lrc, "mdb_del(msg)");
        sg_info(S_PLACE, "msg=%s %s -> purged", s_hex(id, hex),
                proto_state_name(r.state));
    }
    /* Replay keys past their window. */
    while (*n < max) {
        if ((rc = s_idx_first(txn, self->rexp, PROTO_MSG_REPLAY_LEN, &found,
                              &t, id)) != SG_OK)
            return rc;
        if (found < 0)
            continue;
        if (found == 0 || t > now_ms)
            break;
        (*n)++;
        if ((rc = s_idx_del(txn, self->rexp, t, id, PROTO_MSG_REPLAY_LEN)) !=
            SG_OK)
            return rc;
        store_rindex_del(self->rx, id, t);
    }
    return SG_OK;
}

sg_rc
store_db_recover(store_db *self, MDB_txn *txn, uint64_t now_ms,
                 const store_sched_conf *sc, size_t *n)
{
    *n = 0;
    /* Every lease, whatever its deadline: no worker holds one now. */
    return s_tick_leases(self, txn, now_ms, UINT64_MAX, sc, SIZE_MAX, n);
}

sg_rc
store_db_next_event(store_db *self, MDB_txn *txn, uint64_t *timer_ms,
                    uint64_t *due_ms)
{
    const MDB_dbi timers[] = {self->lease, self->expire, self->purge,
                              self->rexp};
    uint8_t id[PROTO_MSG_REPLAY_LEN];
    uint64_t t;
    int found;
    sg_rc rc;

    *timer_ms = UINT64_MAX;
    *due_ms = UINT64_MAX;
    for (size_t i = 0; i < SG_NELEM(timers); i++) {
        size_t idl = timers[i] == self->rexp ? PROTO_MSG_REPLAY_LEN : 16;
        do
            rc = s_idx_first(txn, timers[i], idl, &found, &t, id);
        while (rc == SG_OK && found < 0);
        if (rc != SG_OK)
            return rc;
        if (found && t < *timer_ms)
            *timer_ms = t;
    }
    do
        rc = s_idx_first(txn, self->due, 16, &found, &t, id);
    while (rc == SG_OK && found < 0);
    if (rc == SG_OK && found)
        *due_ms = t;
    return rc;
}

sg_rc
store_db_list(store_db *self, MDB_txn *txn, unsigned state, size_t limit,
              store_db_rec_fn *fn, void *arg)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t id[PROTO_MSG_ID_LEN];
    store_record r;
    size_t n = 0;
    sg_rc src = SG_OK;
    int rc;

    if ((rc = mdb_cursor_open(txn, self->msg, &cur)) != 0)
        return s_lmdb(rc, "mdb_cursor_open");
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && n < limit) {
        const char *why = NULL;
        if (k.mv_size != PROTO_MSG_ID_LEN)
            why = "key is not a message id";
        else if ((why = store_record_decode(v.mv_data, v.mv_size, &r)) ==
                     NULL &&
                 memcmp(r.msg.id, k.mv_data, PROTO_MSG_ID_LEN) != 0)
            why = "envelope id differs from the key";
        if (why != NULL) {
            /*
             * Quarantining deletes under the cursor: note the key, then
             * reposition at the first key after it.
             */
            uint8_t kb[511];
            MDB_val kk = {k.mv_size < sizeof(kb) ? k.mv_size : sizeof(kb),
                          kb};
            memcpy(kb, k.mv_data, kk.mv_size);
            if ((src = s_quarantine(self, txn, &k, &v, why)) != SG_OK)
                goto out;
            rc = mdb_cursor_get(cur, &kk, &v, MDB_SET_RANGE);
            k = kk;
            continue;
        }
        memcpy(id, k.mv_data, PROTO_MSG_ID_LEN);
        if (state == 0 || r.state == state) {
            fn(arg, id, &r);
            n++;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        src = s_lmdb(rc, "mdb_cursor_get(msg)");
out:
    mdb_cursor_close(cur);
    return src;
}

sg_rc
store_db_show(store_db *self, MDB_txn *txn, const uint8_t id[PROTO_MSG_ID_LEN],
              store_db_rec_fn *fn, void *arg, int *found)
{
    store_record r;
    sg_rc rc;

    if ((rc = s_load(self, txn, id, &r, found)) != SG_OK)
        return rc;
    if (*found)
        fn(arg, id, &r);
    return SG_OK;
}

static sg_rc
s_ctl_one(store_db *self, MDB_txn *txn, store_ctl_op op, const uint8_t *id,
          int all, uint64_t now_ms, const store_sched_conf *sc,
          uint32_t *code, const char **why, uint32_t *count)
{
    char hex[PROTO_MSG_ID_HEX];
    store_record r;
    int found;
    sg_rc rc;

    if ((rc = s_load(self, txn, id, &r, &found)) != SG_OK)
        return rc;
    if (!found) {
        *code = PROTO_CTL_NO_SUCH;
        *why = "no such message";
        return SG_OK;
    }
    switch (op) {
    case STORE_CTL_REQUEUE:
        if (r.state == PROTO_STATE_LEASED) {
            *code = PROTO_CTL_BAD_STATE;
            *why = "message is leased to a worker; wait for its lease";
            return SG_OK;
        }
        if (r.state == PROTO_STATE_DONE) {
            *code = PROTO_CTL_BAD_STATE;
            *why = "message was already delivered";
            return SG_OK;
        }
        /* "--all" flushes the waiting and revives the dead, as postqueue -f
         * and postsuper -r do; it leaves held messages to RELEASE. */
        if (all && r.state == PROTO_STATE_HELD)
            return SG_OK;
        if (all && r.state == PROTO_STATE_QUEUED && r.next_due_ms <= now_ms)
            return SG_OK;
        if (r.state == PROTO_STATE_DEAD) {
            /* A revived message gets a new lifetime, or it would die on
             * the next tick; the envelope's own expiry still binds. */
            s_change c = {.state = PROTO_STATE_QUEUED,
                          .next_due_ms = now_ms,
                          .expire_ms = store_sched_expire_at(
                              sc, now_ms, r.msg.expires_ms)};
            rc = s_move(self, txn, id, &r, &c, now_ms);
        } else {
            rc = s_to_queued(self, txn, id, &r, now_ms, now_ms, NULL);
        }
        break;
    case STORE_CTL_HOLD:
        if (r.state == PROTO_STATE_HELD)
            return SG_OK;
        if (r.state != PROTO_STATE_QUEUED && r.state != PROTO_STATE_LEASED) {
            *code = PROTO_CTL_BAD_STATE;
            *why = "only queued or leased messages can be held";
            return SG_OK;
        }
        {
            /* Holding a leased message ends its lease: the worker's late
             * "delivered" still counts, its "retry" is ignored. */
            s_change c = {.state = PROTO_STATE_HELD};
            rc = s_move(self, txn, id, &r, &c, now_ms);
        }
        break;
    case STORE_CTL_RELEASE:
        if (r.state != PROTO_STATE_HELD) {
            *code = PROTO_CTL_BAD_STATE;
            *why = "message is not held";
            return SG_OK;
        }
        rc = s_to_queued(self, txn, id, &r, now_ms, now_ms, NULL);
        break;
    case STORE_CTL_DELETE: {
        MDB_val k = {PROTO_MSG_ID_LEN, (void *)id};
        uint8_t st = r.state;
        int lrc;
        if ((rc = s_index(self, txn, id, &r, 0)) != SG_OK)
            return rc;
        if ((lrc = mdb_del(txn, self->msg, &k, NULL)) != 0)
            return s_lmdb(lrc, "mdb_del(msg)");
        sg_info(S_PLACE, "msg=%s %s -> deleted", s_hex(id, hex),
                proto_state_name(st));
        rc = SG_OK;
        break;
    }
    default:
        sg_panic("store_db_ctl: unknown op %d", (int)op);
    }
    if (rc == SG_OK)
        (*count)++;
    return rc;
}

sg_rc
store_db_ctl(store_db *self, MDB_txn *txn, store_ctl_op op,
             const uint8_t id[PROTO_MSG_ID_LEN], int all, uint64_t now_ms,
             const store_sched_conf *sc, uint32_t *code, const char **why,
             uint32_t *count)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t *ids = NULL;
    size_t n = 0, cap = 0;
    sg_rc src = SG_OK;
    int rc;

    *code = 0;
    *why = NULL;
    *count = 0;
    if (!all)
        return s_ctl_one(self, txn, op, id, 0, now_ms, sc, code, why, count);
    /* Collect first: the moves below rewrite records under any cursor. */
    if ((rc = mdb_cursor_open(txn, self->msg, &cur)) != 0)
        return s_lmdb(rc, "mdb_cursor_open");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != PROTO_MSG_ID_LEN)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            ids = sg_realloc(ids, cap * PROTO_MSG_ID_LEN);
        }
        memcpy(ids + n++ * PROTO_MSG_ID_LEN, k.mv_data, PROTO_MSG_ID_LEN);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        src = s_lmdb(rc, "mdb_cursor_get(msg)");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t c = 0;
        const char *w = NULL;
        src = s_ctl_one(self, txn, op, ids + i * PROTO_MSG_ID_LEN, 1, now_ms,
                        sc, &c, &w, count);
        if (src != SG_OK)
            goto out;
    }
out:
    sg_free(ids);
    return src;
}

static uint64_t
s_entries(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat st;

    if (mdb_stat(txn, dbi, &st) != 0)
        return 0;
    return st.ms_entries;
}

sg_rc
store_db_stats_get(store_db *self, MDB_txn *txn, uint64_t now_ms,
                   store_db_stats *st)
{
    uint64_t qh;

    memset(st, 0, sizeof(*st));
    st->total = s_entries(txn, self->msg);
    st->queued = s_entries(txn, self->due);
    st->leased = s_entries(txn, self->lease);
    qh = s_entries(txn, self->expire); /* queued + held */
    st->held = qh > st->queued ? qh - st->queued : 0;
    st->finished = s_entries(txn, self->purge);
    st->replay_keys = s_entries(txn, self->rexp);
    st->replay_index = store_rindex_count(self->rx);
    st->replay_index_bytes = store_rindex_bytes(self->rx);
    st->quarantined = s_meta_get(self, txn, "quarantined");
    st->map_size = self->map_size;
    st->map_used = store_db_map_used(self);
    (void)now_ms;
    return SG_OK;
}

sg_rc
store_db_oldest_waiting(store_db *self, MDB_txn *txn, uint64_t *received_ms,
                        int *found)
{
    uint8_t id[PROTO_MSG_ID_LEN];
    uint64_t t;
    sg_rc rc;

    *received_ms = 0;
    if ((rc = s_idx_first(txn, self->expire, PROTO_MSG_ID_LEN, found, &t,
                          id)) != SG_OK || *found != 1) {
        *found = 0; /* -1: a malformed key was dropped; ask again later */
        return rc;
    }
    /* UUIDv7: the first 48 bits are the receive time in ms. */
    for (int i = 0; i < 6; i++)
        *received_ms = *received_ms << 8 | id[i];
    return SG_OK;
}
