/*
 * tests/unit/tu.h - the in-tree unit test runner.
 *
 *   TU_TEST(name) { TU_CHECK(x == 1); TU_REQUIRE(p != NULL); ... }
 *
 * Cases register themselves (a linker section), so a new test is a new
 * function.  TU_CHECK records a failure and goes on; TU_REQUIRE also returns
 * from the test.  Each binary ends with the line "N passed, N failed".
 * Run one binary with a substring argument to run only matching cases.
 */
#ifndef TU_H
#define TU_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} tu_case_t;

void tu_fail(const char *file, int line, const char *what);
/* Path of a file under the source tree (argv TU_SRCDIR or "."); static. */
const char *tu_path(const char *rel);
/* Read a whole file; new, NUL-terminated; NULL if missing. */
char *tu_read_file(const char *path, size_t *len);
/* Hex string to bytes; returns the number of bytes or -1. */
long tu_unhex(const char *hex, uint8_t *out, size_t outsz);
/* A fresh private temporary directory, removed at exit; static string. */
const char *tu_tmpdir(void);

#define TU_TEST(fn_)                                                          \
    static void fn_(void);                                                    \
    static const tu_case_t tu_case_##fn_                                      \
        __attribute__((used, section("tu_cases"), aligned(sizeof(void *)))) = \
            {#fn_, fn_};                                                      \
    static void fn_(void)

#define TU_CHECK(cond)                                                        \
    do {                                                                      \
        if (!(cond))                                                          \
            tu_fail(__FILE__, __LINE__, #cond);                               \
    } while (0)

#define TU_REQUIRE(cond)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            tu_fail(__FILE__, __LINE__, #cond);                               \
            return;                                                           \
        }                                                                     \
    } while (0)

#define TU_STREQ(a, b)                                                        \
    do {                                                                      \
        const char *tu_a_ = (a), *tu_b_ = (b);                                \
        if (tu_a_ == NULL || tu_b_ == NULL || strcmp(tu_a_, tu_b_) != 0) {    \
            tu_fail(__FILE__, __LINE__, #a " == " #b);                        \
            tu_note("  got \"%s\", want \"%s\"", tu_a_ ? tu_a_ : "(null)",    \
                    tu_b_ ? tu_b_ : "(null)");                                \
        }                                                                     \
    } while (0)

#define TU_INTEQ(a, b)                                                        \
    do {                                                                      \
        long long tu_a_ = (long long)(a), tu_b_ = (long long)(b);             \
        if (tu_a_ != tu_b_) {                                                 \
            tu_fail(__FILE__, __LINE__, #a " == " #b);                        \
            tu_note("  got %lld, want %lld", tu_a_, tu_b_);                   \
        }                                                                     \
    } while (0)

void tu_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
