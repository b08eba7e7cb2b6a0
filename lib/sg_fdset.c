/* lib/sg_fdset.c - file descriptors and their poll events. */
#include "lib/sg_fdset.h"

#include "lib/sg.h"

#include <stdlib.h>

void
sg_fdset_set(sg_fdset_t *self, int fd, int events)
{
    size_t i;

    for (i = 0; i < self->n; i++)
        if (self->v[i].fd == fd)
            break;
    if (events < 0) {
        /* Order does not matter to poll: move the last one into the gap. */
        if (i < self->n)
            self->v[i] = self->v[--self->n];
        return;
    }
    if (i == self->n) {
        if (self->n == self->cap) {
            self->cap = self->cap ? self->cap * 2 : 16;
            self->v = sg_realloc(self->v, self->cap * sizeof(*self->v));
        }
        self->v[self->n++].fd = fd;
    }
    self->v[i].events = (short)events;
    self->v[i].revents = 0;
}

size_t
sg_fdset_fill(const sg_fdset_t *self, struct pollfd *out, size_t max)
{
    for (size_t i = 0; i < self->n && i < max; i++) {
        out[i] = self->v[i];
        out[i].revents = 0;
    }
    return self->n;
}

void
sg_fdset_clear(sg_fdset_t *self)
{
    sg_free(self->v);
    self->v = NULL;
    self->n = self->cap = 0;
}
