/* testutil.h -- small helpers shared by the Check suites: temporary paths,
 * and (testhttp.h) a real profiled server on an ephemeral port with a
 * libevent HTTP client. */
#ifndef PROFILED_TESTUTIL_H
#define PROFILED_TESTUTIL_H

#include <stddef.h>
#include <check.h>

/* Makes a fresh temporary directory and returns "<dir>/<name>" in a static
 * per-call malloc'd string (caller frees). Aborts on failure. */
char *test_tmp_path(const char *name);

/* Removes path, path-wal and path-shm (ignores errors). */
void test_rm_db(const char *path);

/* Whether the tests run on PostgreSQL (PROFILED_TEST_PG set: see
 * testutil.c); a test about SQLite's files returns at once then. */
int test_on_pg(void);

/* Writes text into path (made or emptied); aborts when it cannot. */
void test_write_file(const char *path, const char *text);
#define TEST_SQLITE_ONLY()                                                                                                         \
    do {                                                                                                                           \
        if (test_on_pg())                                                                                                          \
            return;                                                                                                                \
    } while (0)

/* Runs every test of s (CK_ENV: CK_FORK=no works under a debugger), frees
 * the runner and the suite. Returns the number of failed tests. */
int test_run_suite(Suite *s);

#endif
