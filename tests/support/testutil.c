/* testutil.c -- temporary paths for tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"

char *
test_tmp_path(const char *name)
{
    char tmpl[] = "/tmp/profiled-test-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        abort();
    size_t n = strlen(tmpl) + strlen(name) + 2;
    char *p = malloc(n);
    if (p == NULL)
        abort();
    snprintf(p, n, "%s/%s", tmpl, name);
    return p;
}

void
test_rm_db(const char *path)
{
    char buf[4096];
    unlink(path);
    snprintf(buf, sizeof(buf), "%s-wal", path);
    unlink(buf);
    snprintf(buf, sizeof(buf), "%s-shm", path);
    unlink(buf);
}

int
test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
