/*
 * store/store_rindex.c - the in-memory index of replay keys
 * (store/store_rindex.h).
 *
 * Linear probing over a power-of-two table of (fingerprint, expiry)
 * slots; fingerprint 0 marks an empty slot (a key whose first 8 bytes are
 * 0 gets fingerprint 1).  The home slot mixes the fingerprint with a
 * per-process seed, so keys chosen to share a home slot cannot be chosen
 * in advance.  Deletion shifts the rest of the run back (no tombstones),
 * so a lookup stops at the first empty slot.  The table doubles above
 * three quarters full and halves below an eighth, never under S_MIN
 * slots: 16 bytes a slot, so about 21 to 43 bytes per key as it grows.
 */
#include "store/store_rindex.h"

#include <stdlib.h>
#include <string.h>

#include "lib/sg.h"
#include "lib/sg_rand.h"

#define S_MIN 1024

typedef struct {
    uint64_t fp, exp;
} s_slot;

typedef struct {
    uint64_t fp, exp;
    int added; /* 1: undo by deleting, 0: undo by adding back */
} s_undo;

struct store_rindex {
    s_slot *slot;
    size_t cap, n; /* cap a power of two */
    unsigned bits;
    uint64_t seed;
    s_undo *log;
    size_t nlog, log_cap;
};

static uint64_t
s_fp(const uint8_t *key)
{
    uint64_t fp;

    memcpy(&fp, key, sizeof(fp));
    return fp != 0 ? fp : 1;
}

static size_t
s_home(const store_rindex *self, uint64_t fp)
{
    return (size_t)(((fp ^ self->seed) * 0x9e3779b97f4a7c15ull) >>
                    (64 - self->bits));
}

static void
s_place(store_rindex *self, uint64_t fp, uint64_t exp)
{
    size_t i = s_home(self, fp);

    while (self->slot[i].fp != 0)
        i = (i + 1) & (self->cap - 1);
    self->slot[i].fp = fp;
    self->slot[i].exp = exp;
    self->n++;
}

static void
s_resize(store_rindex *self, unsigned bits)
{
    s_slot *old = self->slot;
    size_t ocap = self->cap;

    self->bits = bits;
    self->cap = (size_t)1 << bits;
    self->slot = sg_calloc(self->cap, sizeof(*self->slot));
    self->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].fp != 0)
            s_place(self, old[i].fp, old[i].exp);
    sg_free(old);
}

store_rindex *
store_rindex_new(void)
{
    store_rindex *self = sg_calloc(1, sizeof(*self));
    unsigned bits = 0;

    while (((size_t)1 << bits) < S_MIN)
        bits++;
    self->seed = sg_rand_u64();
    s_resize(self, bits);
    return self;
}

void
store_rindex_destroy(store_rindex **p)
{
    if (*p == NULL)
        return;
    sg_free((*p)->slot);
    sg_free((*p)->log);
    sg_free(*p);
    *p = NULL;
}

static void
s_log(store_rindex *self, uint64_t fp, uint64_t exp, int added)
{
    if (self->nlog == self->log_cap) {
        self->log_cap = self->log_cap ? 2 * self->log_cap : 256;
        self->log = sg_realloc(self->log, self->log_cap * sizeof(*self->log));
    }
    self->log[self->nlog].fp = fp;
    self->log[self->nlog].exp = exp;
    self->log[self->nlog].added = added;
    self->nlog++;
}

static void
s_add(store_rindex *self, uint64_t fp, uint64_t exp)
{
    if (4 * (self->n + 1) > 3 * self->cap)
        s_resize(self, self->bits + 1);
    s_place(self, fp, exp);
}

/* Remove one slot equal to (fp, exp); 1 if there was one. */
static int
s_del(store_rindex *self, uint64_t fp, uint64_t exp)
{
    size_t mask = self->cap - 1, i = s_home(self, fp), j;

    for (; self->slot[i].fp != 0; i = (i + 1) & mask)
        if (self->slot[i].fp == fp && self->slot[i].exp == exp)
            break;
    if (self->slot[i].fp == 0)
        return 0;
    /* Shift back every later slot of the run that may live at i. */
    for (j = (i + 1) & mask; self->slot[j].fp != 0; j = (j + 1) & mask) {
        size_t h = s_home(self, self->slot[j].fp);
        /* The slot at j may move to i unless its home lies in (i, j]. */
        if (((j - h) & mask) >= ((j - i) & mask)) {
            self->slot[i] = self->slot[j];
            i = j;
        }
    }
    self->slot[i].fp = 0;
    self->slot[i].exp = 0;
    self->n--;
    if (self->cap > S_MIN && 8 * self->n < self->cap)
        s_resize(self, self->bits - 1);
    return 1;
}

void
store_rindex_add(store_rindex *self, const uint8_t *key, uint64_t exp)
{
    uint64_t fp = s_fp(key);

    s_add(self, fp, exp);
    s_log(self, fp, exp, 1);
}

void
store_rindex_del(store_rindex *self, const uint8_t *key, uint64_t exp)
{
    uint64_t fp = s_fp(key);

    if (s_del(self, fp, exp))
        s_log(self, fp, exp, 0);
}

int
store_rindex_find(const store_rindex *self, const uint8_t *key, size_t *pos,
                  uint64_t *exp)
{
    uint64_t fp = s_fp(key);
    size_t mask = self->cap - 1;

    /* *pos counts the slots of the run already walked. */
    for (size_t i = (s_home(self, fp) + *pos) & mask; self->slot[i].fp != 0;
         i = (i + 1) & mask) {
        (*pos)++;
        if (self->slot[i].fp == fp) {
            *exp = self->slot[i].exp;
            return 1;
        }
        if (*pos > self->cap)
            break;
    }
    return 0;
}

void
store_rindex_commit(store_rindex *self)
{
    self->nlog = 0;
    if (self->log_cap > 4096) { /* a big transaction's log is not kept */
        sg_free(self->log);
        self->log = NULL;
        self->log_cap = 0;
    }
}

void
store_rindex_rollback(store_rindex *self)
{
    while (self->nlog > 0) {
        const s_undo *u = &self->log[--self->nlog];
        if (u->added)
            (void)s_del(self, u->fp, u->exp);
        else
            s_add(self, u->fp, u->exp);
    }
    store_rindex_commit(self);
}

size_t
store_rindex_count(const store_rindex *self)
{
    return self->n;
}

size_t
store_rindex_bytes(const store_rindex *self)
{
    return self->cap * sizeof(s_slot) + self->log_cap * sizeof(s_undo);
}
