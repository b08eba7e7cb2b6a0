/*
 * lib/sg_fdset.h - a small set of file descriptors with poll events, for
 * libraries that tell their caller which sockets to watch (libcurl's
 * CURLMOPT_SOCKETFUNCTION) and a poll loop that asks for them.
 */
#ifndef SG_FDSET_H
#define SG_FDSET_H

#include <poll.h>
#include <stddef.h>

typedef struct {
    struct pollfd *v; /* new; revents always 0 here */
    size_t n, cap;
} sg_fdset_t;

/* Watch `fd` for `events` (POLLIN|POLLOUT); events < 0 forgets it. */
void sg_fdset_set(sg_fdset_t *self, int fd, int events);

/* Copy at most `max` entries into `out`; returns how many there are. */
size_t sg_fdset_fill(const sg_fdset_t *self, struct pollfd *out, size_t max);

/* Free the entries; the set is empty and reusable afterwards. */
void sg_fdset_clear(sg_fdset_t *self);

#endif
