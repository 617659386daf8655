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

/* Runs every test of s (CK_ENV: CK_FORK=no works under a debugger), frees
 * the runner and the suite. Returns the number of failed tests. */
int test_run_suite(Suite *s);

#endif
