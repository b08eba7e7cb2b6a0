/* deliver/deliver_txn.c - transactions by branch, and the timer heap
 * (deliver/deliver_txn.h). */
#include "deliver/deliver_txn.h"

#include <stdlib.h>
#include <string.h>

#include "lib/sg.h"

/* --- transactions by branch --- */

typedef struct {
    const char *key; /* NULL: a free slot */
    size_t n;
    uint64_t h;
    void *obj;
} s_slot;

struct deliver_txn {
    s_slot *slots;
    size_t cap; /* a power of two */
    size_t count;
};

#define S_TXN_MIN 64

/* FNV-1a: branches are short, and ours carry randomness to spread. */
static uint64_t
s_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3u;
    }
    return h;
}

deliver_txn_t *
deliver_txn_new(void)
{
    deliver_txn_t *self = sg_calloc(1, sizeof(*self));

    self->cap = S_TXN_MIN;
    self->slots = sg_calloc(self->cap, sizeof(*self->slots));
    return self;
}

void
deliver_txn_destroy(deliver_txn_t **self)
{
    if (*self == NULL)
        return;
    sg_free((*self)->slots);
    sg_free(*self);
    *self = NULL;
}

static void
s_put(s_slot *slots, size_t cap, const s_slot *e)
{
    size_t i = (size_t)e->h & (cap - 1);

    while (slots[i].key != NULL)
        i = (i + 1) & (cap - 1);
    slots[i] = *e;
}

/* Kept at most half full: probe sequences stay a slot or two long. */
static void
s_grow(deliver_txn_t *self)
{
    size_t cap = self->cap * 2;
    s_slot *slots = sg_calloc(cap, sizeof(*slots));

    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].key != NULL)
            s_put(slots, cap, &self->slots[i]);
    sg_free(self->slots);
    self->slots = slots;
    self->cap = cap;
}

void
deliver_txn_add(deliver_txn_t *self, const char *branch, size_t n, void *obj)
{
    s_slot e = {branch, n, s_hash(branch, n), obj};

    if ((self->count + 1) * 2 > self->cap)
        s_grow(self);
    s_put(self->slots, self->cap, &e);
    self->count++;
}

/* The slot of `obj` under the key (any object when `obj` is NULL), or
 * the capacity when there is none. */
static size_t
s_lookup(const deliver_txn_t *self, const char *branch, size_t n,
         const void *obj)
{
    size_t mask = self->cap - 1;
    uint64_t h = s_hash(branch, n);

    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const s_slot *s = &self->slots[i];
        if (s->key == NULL)
            return self->cap;
        if (s->h == h && s->n == n && memcmp(s->key, branch, n) == 0 &&
            (obj == NULL || s->obj == obj))
            return i;
    }
}

void *
deliver_txn_find(const deliver_txn_t *self, const char *branch, size_t n)
{
    size_t i = s_lookup(self, branch, n, NULL);

    return i < self->cap ? self->slots[i].obj : NULL;
}

int
deliver_txn_remove(deliver_txn_t *self, const char *branch, size_t n,
                   const void *obj)
{
    size_t mask = self->cap - 1;
    size_t i = s_lookup(self, branch, n, obj), j;

    if (i == self->cap)
        return 0;
    /*
     * Backward shift: each entry after the hole that could have been
     * placed in it (its home slot is not between the hole and where it
     * sits) moves into it, and the hole moves on, until a free slot.
     * Every lookup then still finds its entry before a free slot.
     */
    for (j = (i + 1) & mask; self->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)self->slots[j].h & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    memset(&self->slots[i], 0, sizeof(self->slots[i]));
    self->count--;
    return 1;
}

size_t
deliver_txn_count(const deliver_txn_t *self)
{
    return self->count;
}

/* --- timers --- */

static void
s_place(deliver_timers_t *self, size_t i, deliver_timer_t *t)
{
    self->v[i] = t;
    t->pos = i;
}

static void
s_up(deliver_timers_t *self, size_t i)
{
    deliver_timer_t *t = self->v[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (self->v[parent]->at <= t->at)
            break;
        s_place(self, i, self->v[parent]);
        i = parent;
    }
    s_place(self, i, t);
}

static void
s_down(deliver_timers_t *self, size_t i)
{
    deliver_timer_t *t = self->v[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= self->n)
            break;
        if (c + 1 < self->n && self->v[c + 1]->at < self->v[c]->at)
            c++;
        if (t->at <= self->v[c]->at)
            break;
        s_place(self, i, self->v[c]);
        i = c;
    }
    s_place(self, i, t);
}

void
deliver_timers_set(deliver_timers_t *self, deliver_timer_t *t, uint64_t at)
{
    if (t->pos == DELIVER_TIMER_IDLE) {
        if (self->n == self->cap) {
            self->cap = self->cap ? self->cap * 2 : 64;
            self->v = sg_realloc(self->v, self->cap * sizeof(*self->v));
        }
        t->at = at;
        s_place(self, self->n++, t);
        s_up(self, t->pos);
        return;
    }
    if (at < t->at) {
        t->at = at;
        s_up(self, t->pos);
    } else {
        t->at = at;
        s_down(self, t->pos);
    }
}

void
deliver_timers_cancel(deliver_timers_t *self, deliver_timer_t *t)
{
    size_t i = t->pos;
    deliver_timer_t *last;

    if (i == DELIVER_TIMER_IDLE)
        return;
    t->pos = DELIVER_TIMER_IDLE;
    last = self->v[--self->n];
    if (last == t)
        return;
    /* The last one fills the hole, then finds its level either way. */
    s_place(self, i, last);
    if (i > 0 && self->v[(i - 1) / 2]->at > last->at)
        s_up(self, i);
    else
        s_down(self, i);
}

deliver_timer_t *
deliver_timers_first(const deliver_timers_t *self)
{
    return self->n > 0 ? self->v[0] : NULL;
}

uint64_t
deliver_timers_next(const deliver_timers_t *self)
{
    return self->n > 0 ? self->v[0]->at : UINT64_MAX;
}

void
deliver_timers_clear(deliver_timers_t *self)
{
    sg_free(self->v);
    memset(self, 0, sizeof(*self));
}
