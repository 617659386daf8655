/* testdb.c -- storage-level test helpers (see testdb.h). */
#include <check.h>
#include <libgen.h>
#include <stdlib.h>
#include <unistd.h>
#include <json-c/json.h>
#include "testdb.h"
#include "testutil.h"

storage_t *
test_db_open(const char *name, char **path)
{
    storage_t *st = NULL;
    char err[256] = "";
    *path = test_tmp_path(name);
    int ret = storage_open(&st, *path, 0, err, sizeof(err));
    ck_assert_msg(ret == 0, "open %s: %s", *path, err);
    return st;
}

void
test_db_close(storage_t *st, char *path)
{
    storage_close(st);
    test_rm_db(path);
    rmdir(dirname(path));
    free(path);
}

int
test_db_ingest(storage_t *st, const storage_tenant_t *t, const char *json, int64_t now)
{
    struct json_object *m = json_tokener_parse(json);
    ck_assert_msg(m != NULL, "bad test JSON: %s", json);
    char err[256] = "";
    int ret = storage_ingest_message(st, t, m, "api", now, err, sizeof(err));
    json_object_put(m);
    return ret;
}
