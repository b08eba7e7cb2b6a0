/*
 * tests/unit/test_lib_log.c - lib/sg_log: the rate limiter of repeated
 * warn/error lines and the debug places.  Lines are captured by pointing
 * stderr at a file for the length of a test; the limiter's clock is
 * injected (sg_log_set_clock).
 */
#include "lib/sg_log.h"
#include "tu.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t s_now_ms;

static uint64_t
s_clock(void)
{
    return s_now_ms;
}

static int s_saved = -1;
static char s_path[512];

/* Send stderr to a fresh file; the limiter on the test clock. */
static void
s_capture(void)
{
    int fd;

    snprintf(s_path, sizeof(s_path), "%s/log-%d", tu_tmpdir(), rand());
    fd = open(s_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    s_saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    s_now_ms = 1000000;
    sg_log_set_clock(s_clock);
    sg_log_set_ratelimit(10000, 3);
}

/* Restore stderr and the defaults; the captured text (new). */
static char *
s_release(void)
{
    size_t len;

    dup2(s_saved, STDERR_FILENO);
    close(s_saved);
    sg_log_set_clock(NULL);
    sg_log_set_ratelimit(10000, 5);
    sg_log_set_debug_places(NULL, 0);
    sg_log_set_level(SG_LOG_INFO);
    return tu_read_file(s_path, &len);
}

static size_t
s_count(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void
s_fail_once(const char *peer)
{
    sg_warn("test.rl", "peer %s: connection refused", peer);
}

TU_TEST(log_ratelimit_burst_then_suppressed_count)
{
    char *t;

    s_capture();
    /* Ten of one kind in a window: three written, seven counted. */
    for (int i = 0; i < 10; i++)
        s_fail_once(i % 2 ? "a" : "b");
    s_now_ms += 10000; /* the window ends */
    s_fail_once("c");
    s_fail_once("d");
    t = s_release();
    TU_REQUIRE(t != NULL);
    TU_INTEQ(s_count(t, "connection refused"), 5);
    TU_INTEQ(s_count(t, "similar suppressed"), 1);
    TU_CHECK(strstr(t, "warn test.rl: peer c: connection refused (7 similar "
                       "suppressed)\n") != NULL);
    TU_CHECK(strstr(t, "peer d: connection refused\n") != NULL);
    free(t);
}

TU_TEST(log_ratelimit_kinds_apart_info_never)
{
    char *t;

    s_capture();
    for (int i = 0; i < 6; i++) {
        sg_error("test.rl", "disk %d full", i);
        sg_warn("test.rl", "slow %d", i);
        sg_warn("test.other", "slow %d", i);
        sg_info("test.rl", "msg=%d delivered", i);
    }
    t = s_release();
    TU_REQUIRE(t != NULL);
    TU_INTEQ(s_count(t, " full"), 3);
    TU_INTEQ(s_count(t, "test.rl: slow"), 3);
    TU_INTEQ(s_count(t, "test.other: slow"), 3);
    TU_INTEQ(s_count(t, " delivered"), 6); /* state changes: every one */
    TU_INTEQ(s_count(t, "suppressed"), 0);
    free(t);
}

TU_TEST(log_ratelimit_off)
{
    char *t;

    s_capture();
    sg_log_set_ratelimit(10000, 0);
    for (int i = 0; i < 20; i++)
        s_fail_once("x");
    t = s_release();
    TU_REQUIRE(t != NULL);
    TU_INTEQ(s_count(t, "connection refused"), 20);
    free(t);
}

TU_TEST(log_debug_places)
{
    static const char *const places[] = {"store", "deliver.http"};
    char *t;

    s_capture();
    sg_log_set_level(SG_LOG_INFO);
    sg_debug("store", "one");
    sg_log_set_debug_places(places, 2);
    sg_debug("store", "two");
    sg_debug("store.db", "three");
    sg_debug("storeX", "four");
    sg_debug("deliver", "five");
    sg_debug("deliver.http", "six");
    sg_log(SG_LOG_DEBUG, "ingest", "seven");
    sg_log_set_debug_places(NULL, 0);
    sg_debug("store", "eight");
    t = s_release();
    TU_REQUIRE(t != NULL);
    TU_CHECK(strstr(t, "debug store: two\n") != NULL);
    TU_CHECK(strstr(t, "debug store.db: three\n") != NULL);
    TU_CHECK(strstr(t, "debug deliver.http: six\n") != NULL);
    TU_CHECK(strstr(t, "one") == NULL && strstr(t, "four") == NULL &&
             strstr(t, "five") == NULL && strstr(t, "seven") == NULL &&
             strstr(t, "eight") == NULL);
    free(t);
}
