/*
 * store/store_check.h - an offline consistency check of a message store
 * (store/FORMAT.md), `stirgate-store --check --dir DIR`.
 */
#ifndef STORE_STORE_CHECK_H
#define STORE_STORE_CHECK_H

#include <stdio.h>

/*
 * Open the LMDB environment in `dir` read-only and walk it in one read
 * transaction (a consistent snapshot, so it may run next to a live
 * store): every record of "msg" decodes and validates (CRC included) and
 * its envelope id equals its key; every record has exactly the index
 * entries its state calls for; every index entry points at a record in
 * the matching state and time; "replay" and "replay_exp" agree; the
 * format version is known.  Index entries whose record is gone are
 * dangling: an inconsistency unless records were quarantined (FORMAT.md:
 * readers delete such entries when they meet them).
 *
 * Writes one line per problem (at most 50) and a summary to `out`.
 * Returns 0 when consistent, 1 when not, 2 when the store cannot be
 * opened.  Never writes to the database.
 */
int store_check_run(const char *dir, FILE *out);

#endif
