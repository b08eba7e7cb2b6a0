/*
 * store/store_check.c - `stirgate-store --check --dir DIR`: walk a store
 * read-only and report every way it disagrees with store/FORMAT.md.
 *
 * The store itself treats a bad record or a dangling index entry as
 * something to repair when met (quarantine, delete).  This check repairs
 * nothing: it is what a crash test or an operator runs to ask "is what is
 * on disk exactly what a sequence of committed transactions leaves?"
 * Everything is read in one read transaction, so it sees one committed
 * state even while a store process keeps writing.
 */
#include "store/store_check.h"

#include <inttypes.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "proto/proto_msg.h"
#include "proto/proto_wire.h"
#include "store/store_db.h"
#include "store/store_record.h"

#define S_SHOW_MAX 50 /* problem lines printed; the rest only counted */

typedef struct {
    FILE *out;
    MDB_txn *txn;
    MDB_dbi msg, due, lease, expire, purge, replay, rexp, quar, meta;
    uint64_t problems, dangling;
    uint64_t states[PROTO_STATE_MAX + 1];
} s_check;

static void s_problem(s_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
s_problem(s_check *c, const char *fmt, ...)
{
    va_list ap;

    if (c->problems++ >= S_SHOW_MAX)
        return;
    va_start(ap, fmt);
    vfprintf(c->out, fmt, ap);
    va_end(ap);
    fputc('\n', c->out);
}

static uint64_t
s_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void
s_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * (7 - i)));
}

/* The index a record in `state` must appear in with time `t`, twice for
 * queued (due and expire); returns how many. */
static int
s_wanted(const s_check *c, const store_record *r, MDB_dbi dbi[2],
         uint64_t t[2])
{
    switch (r->state) {
    case PROTO_STATE_QUEUED:
        dbi[0] = c->due, t[0] = r->next_due_ms;
        dbi[1] = c->expire, t[1] = r->expire_ms;
        return 2;
    case PROTO_STATE_LEASED:
        dbi[0] = c->lease, t[0] = r->lease_until_ms;
        return 1;
    case PROTO_STATE_HELD:
        dbi[0] = c->expire, t[0] = r->expire_ms;
        return 1;
    default:
        dbi[0] = c->purge, t[0] = r->keep_until_ms;
        return 1;
    }
}

static const char *
s_dbname(const s_check *c, MDB_dbi d)
{
    return d == c->due      ? "due"
           : d == c->lease  ? "lease"
           : d == c->expire ? "expire"
                            : "purge";
}

/* Every record valid, and present in the indexes its state calls for. */
static int
s_walk_msg(s_check *c)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(c->txn, c->msg, &cur)) != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char hex[PROTO_MSG_ID_HEX] = "(bad key)";
        store_record r;
        const char *why;
        MDB_dbi dbi[2];
        uint64_t t[2];
        int n;

        if (k.mv_size == PROTO_MSG_ID_LEN)
            proto_msg_id_hex(k.mv_data, hex);
        else {
            s_problem(c, "msg: key of %zu bytes", k.mv_size);
            continue;
        }
        why = store_record_decode(v.mv_data, v.mv_size, &r);
        if (why == NULL && memcmp(r.msg.id, k.mv_data, PROTO_MSG_ID_LEN))
            why = "envelope id differs from the key";
        if (why != NULL) {
            s_problem(c, "msg=%s invalid record: %s", hex, why);
            continue;
        }
        c->states[r.state]++;
        n = s_wanted(c, &r, dbi, t);
        for (int i = 0; i < n; i++) {
            uint8_t kb[8 + PROTO_MSG_ID_LEN];
            MDB_val ik = {sizeof(kb), kb}, iv;

            s_put_be64(kb, t[i]);
            memcpy(kb + 8, k.mv_data, PROTO_MSG_ID_LEN);
            if ((rc = mdb_get(c->txn, dbi[i], &ik, &iv)) == MDB_NOTFOUND)
                s_problem(c, "msg=%s %s: no %s entry at %" PRIu64, hex,
                          proto_state_name(r.state), s_dbname(c, dbi[i]),
                          t[i]);
            else if (rc != 0)
                goto out;
        }
    }
    rc = rc == MDB_NOTFOUND ? 0 : rc;
out:
    mdb_cursor_close(cur);
    return rc;
}

/* Every entry of one time index points at a record that wants it. */
static int
s_walk_index(s_check *c, MDB_dbi dbi)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(c->txn, dbi, &cur)) != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char hex[PROTO_MSG_ID_HEX];
        MDB_val mk, mv;
        store_record r;
        MDB_dbi want[2];
        uint64_t t[2], at;
        int n, ok = 0;

        if (k.mv_size != 8 + PROTO_MSG_ID_LEN || v.mv_size != 0) {
            s_problem(c, "%s: entry of %zu+%zu bytes", s_dbname(c, dbi),
                      k.mv_size, v.mv_size);
            continue;
        }
        at = s_be64(k.mv_data);
        proto_msg_id_hex((const uint8_t *)k.mv_data + 8, hex);
        mk.mv_size = PROTO_MSG_ID_LEN;
        mk.mv_data = (uint8_t *)k.mv_data + 8;
        if ((rc = mdb_get(c->txn, c->msg, &mk, &mv)) == MDB_NOTFOUND) {
            c->dangling++;
            continue;
        }
        if (rc != 0)
            goto out;
        if (store_record_decode(mv.mv_data, mv.mv_size, &r) != NULL)
            continue; /* reported by s_walk_msg */
        n = s_wanted(c, &r, want, t);
        for (int i = 0; i < n; i++)
            ok |= want[i] == dbi && t[i] == at;
        if (!ok)
            s_problem(c, "msg=%s: %s entry at %" PRIu64 " but the record "
                      "is %s", hex, s_dbname(c, dbi), at,
                      proto_state_name(r.state));
    }
    rc = rc == MDB_NOTFOUND ? 0 : rc;
out:
    mdb_cursor_close(cur);
    return rc;
}

/* Format 2: replay_exp alone, expiry BE + key -> holder id. */
static int
s_walk_replay_exp(s_check *c, uint64_t *keys)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(c->txn, c->rexp, &cur)) != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        (*keys)++;
        if (k.mv_size != 8 + PROTO_MSG_REPLAY_LEN ||
            v.mv_size != PROTO_MSG_ID_LEN)
            s_problem(c, "replay_exp: entry of %zu+%zu bytes", k.mv_size,
                      v.mv_size);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Format 1: replay (key -> expiry LE + id) and replay_exp (expiry BE +
 * key) agree both ways. */
static int
s_walk_replay(s_check *c, uint64_t *keys)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(c->txn, c->replay, &cur)) != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint8_t kb[8 + PROTO_MSG_REPLAY_LEN];
        MDB_val ek = {sizeof(kb), kb}, ev;

        (*keys)++;
        if (k.mv_size != PROTO_MSG_REPLAY_LEN ||
            v.mv_size != 8 + PROTO_MSG_ID_LEN) {
            s_problem(c, "replay: entry of %zu+%zu bytes", k.mv_size,
                      v.mv_size);
            continue;
        }
        s_put_be64(kb, proto_get_u64(v.mv_data));
        memcpy(kb + 8, k.mv_data, PROTO_MSG_REPLAY_LEN);
        if ((rc = mdb_get(c->txn, c->rexp, &ek, &ev)) == MDB_NOTFOUND)
            s_problem(c, "replay: a key without its replay_exp entry");
        else if (rc != 0)
            goto out;
    }
    if (rc != MDB_NOTFOUND)
        goto out;
    mdb_cursor_close(cur);
    if ((rc = mdb_cursor_open(c->txn, c->rexp, &cur)) != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        MDB_val rk, rv;

        if (k.mv_size != 8 + PROTO_MSG_REPLAY_LEN) {
            s_problem(c, "replay_exp: key of %zu bytes", k.mv_size);
            continue;
        }
        rk.mv_size = PROTO_MSG_REPLAY_LEN;
        rk.mv_data = (uint8_t *)k.mv_data + 8;
        rc = mdb_get(c->txn, c->replay, &rk, &rv);
        if (rc == MDB_NOTFOUND || (rc == 0 && rv.mv_size == 24 &&
                                   proto_get_u64(rv.mv_data) !=
                                       s_be64(k.mv_data)))
            s_problem(c, "replay_exp: an entry whose key expires "
                      "elsewhere or is gone");
        else if (rc != 0)
            goto out;
    }
    rc = rc == MDB_NOTFOUND ? 0 : rc;
out:
    mdb_cursor_close(cur);
    return rc;
}

int
store_check_run(const char *dir, FILE *out)
{
    static const struct {
        const char *name;
        size_t off;
    } dbs[] = {
        {"msg", offsetof(s_check, msg)},
        {"due", offsetof(s_check, due)},
        {"lease", offsetof(s_check, lease)},
        {"expire", offsetof(s_check, expire)},
        {"purge", offsetof(s_check, purge)},
        {"replay_exp", offsetof(s_check, rexp)},
        {"quarantine", offsetof(s_check, quar)},
        {"meta", offsetof(s_check, meta)},
    };
    s_check c;
    MDB_env *env = NULL;
    MDB_val k, v;
    MDB_stat st;
    uint64_t quarantined = 0, keys = 0, nquar = 0, total = 0;
    unsigned format;
    int rc, ret = 2;

    memset(&c, 0, sizeof(c));
    c.out = out;
    if ((rc = mdb_env_create(&env)) != 0 ||
        (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
        (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600)) != 0 ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &c.txn)) != 0) {
        fprintf(out, "%s: cannot open the store: %s\n", dir, mdb_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        MDB_dbi *d = (MDB_dbi *)((char *)&c + dbs[i].off);
        if ((rc = mdb_dbi_open(c.txn, dbs[i].name, 0, d)) != 0) {
            fprintf(out, "%s: database %s: %s\n", dir, dbs[i].name,
                    mdb_strerror(rc));
            goto out;
        }
    }
    k.mv_size = 6;
    k.mv_data = "format";
    if (mdb_get(c.txn, c.meta, &k, &v) != 0 || v.mv_size != 4 ||
        (proto_get_u32(v.mv_data) != 1 &&
         proto_get_u32(v.mv_data) != STORE_DB_FORMAT)) {
        fprintf(out, "%s: meta/format missing or unknown\n", dir);
        goto out;
    }
    format = proto_get_u32(v.mv_data);
    /* Format 1 has `replay`; format 2 must not (the store drops it when
     * it migrates). */
    rc = mdb_dbi_open(c.txn, "replay", 0, &c.replay);
    if (format == 1 && rc != 0) {
        fprintf(out, "%s: database replay: %s\n", dir, mdb_strerror(rc));
        goto out;
    }
    if (format != 1 && rc == 0)
        s_problem(&c, "format %u with a replay database", format);
    k.mv_size = 11;
    k.mv_data = "quarantined";
    if (mdb_get(c.txn, c.meta, &k, &v) == 0 && v.mv_size == 8)
        quarantined = proto_get_u64(v.mv_data);
    if (mdb_stat(c.txn, c.quar, &st) == 0)
        nquar = st.ms_entries;
    if ((rc = s_walk_msg(&c)) != 0 || (rc = s_walk_index(&c, c.due)) != 0 ||
        (rc = s_walk_index(&c, c.lease)) != 0 ||
        (rc = s_walk_index(&c, c.expire)) != 0 ||
        (rc = s_walk_index(&c, c.purge)) != 0 ||
        (rc = format == 1 ? s_walk_replay(&c, &keys)
                          : s_walk_replay_exp(&c, &keys)) != 0) {
        fprintf(out, "%s: reading: %s\n", dir, mdb_strerror(rc));
        goto out;
    }
    /* Dangling entries are what a quarantine leaves behind; without one
     * they mean a transaction changed a record without its indexes. */
    if (c.dangling && quarantined == 0)
        s_problem(&c, "%" PRIu64 " index entries without a record and no "
                  "record ever quarantined", c.dangling);
    for (int s = 1; s <= PROTO_STATE_MAX; s++)
        total += c.states[s];
    if (c.problems > S_SHOW_MAX)
        fprintf(out, "(%" PRIu64 " more problems not shown)\n",
                c.problems - S_SHOW_MAX);
    fprintf(out,
            "%s: %" PRIu64 " records (queued %" PRIu64 ", leased %" PRIu64
            ", held %" PRIu64 ", dead %" PRIu64 ", done %" PRIu64
            "), %" PRIu64 " replay keys, %" PRIu64 " dangling index "
            "entries, %" PRIu64 " quarantined (%" PRIu64 " held): %" PRIu64
            " problems\n",
            dir, total, c.states[1], c.states[2], c.states[3], c.states[4],
            c.states[5], keys, c.dangling, quarantined, nquar, c.problems);
    ret = c.problems ? 1 : 0;
out:
    if (c.txn != NULL)
        mdb_txn_abort(c.txn);
    if (env != NULL)
        mdb_env_close(env);
    return ret;
}
