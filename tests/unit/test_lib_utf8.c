/* Unit tests: lib/sg_utf8 (UTF-8 well-formedness) and lib/sg_fdset. */
#include "lib/sg_fdset.h"
#include "lib/sg_utf8.h"
#include "tests/unit/tu.h"

TU_TEST(utf8_valid_table)
{
    static const struct {
        const char *bytes;
        size_t n;
        int ok;
    } rows[] = {
        {"", 0, 1},
        {"plain ascii", 11, 1},
        {"a\0b", 3, 1},                  /* NUL is a code point */
        {"\xc3\xa9", 2, 1},              /* U+00E9 */
        {"\xe2\x82\xac", 3, 1},          /* U+20AC */
        {"\xf0\x9f\x98\x80", 4, 1},      /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 1},      /* U+10FFFF */
        {"\xc0\xaf", 2, 0},              /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},          /* overlong */
        {"\xf0\x80\x80\xaf", 4, 0},      /* overlong */
        {"\xed\xa0\x80", 3, 0},          /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0},      /* past U+10FFFF */
        {"\xc3", 1, 0},                  /* truncated */
        {"\xe2\x82", 2, 0},              /* truncated */
        {"\x80", 1, 0},                  /* lone continuation */
        {"\xc3\x28", 2, 0},              /* bad continuation */
        {"\xff", 1, 0},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (sg_utf8_valid(rows[i].bytes, rows[i].n) != rows[i].ok)
            tu_note("    row %zu", i);
        TU_CHECK(sg_utf8_valid(rows[i].bytes, rows[i].n) == rows[i].ok);
    }
}

TU_TEST(fdset_set_update_remove)
{
    sg_fdset_t set = {0};
    struct pollfd out[4];

    sg_fdset_set(&set, 5, POLLIN);
    sg_fdset_set(&set, 7, POLLOUT);
    sg_fdset_set(&set, 5, POLLIN | POLLOUT); /* update, not a second 5 */
    TU_INTEQ(sg_fdset_fill(&set, out, 4), 2);
    TU_INTEQ(out[0].fd, 5);
    TU_INTEQ(out[0].events, POLLIN | POLLOUT);
    TU_INTEQ(out[1].fd, 7);
    sg_fdset_set(&set, 5, -1);
    TU_INTEQ(sg_fdset_fill(&set, out, 4), 1);
    TU_INTEQ(out[0].fd, 7);
    sg_fdset_set(&set, 9, -1); /* forgetting an unknown fd is harmless */
    for (int fd = 10; fd < 50; fd++)
        sg_fdset_set(&set, fd, POLLIN);
    TU_INTEQ(sg_fdset_fill(&set, out, 4), 41); /* count, not what fit */
    sg_fdset_clear(&set);
    TU_INTEQ(set.n, 0);
    TU_CHECK(set.v == NULL);
}
