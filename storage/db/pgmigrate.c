/* pgmigrate.c -- the PostgreSQL schema's versions: the missing steps
 * (pgsql.c's stg_pg_migration_sql) run at open under an advisory lock, so
 * replicas starting together migrate once; a read-only open checks the
 * version instead. */
#include <stdio.h>
#include <stdlib.h>
#include <libpq-fe.h>
#include "../db/db.h"

/* the migration lock's key (beside pg.c's write lock: "prof" "ilee") */
#define LOCK_MIGRATE 0x70726f66696c6565LL
#define CONN(st) ((PGconn *)(st)->db)

static int
schema_version(storage_t *st, int *version)
{
    int64_t v = 0;
    int ret = stg_pg_exec(st, "CREATE TABLE IF NOT EXISTS profiled_schema(version BIGINT NOT NULL);"
                              " INSERT INTO profiled_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM profiled_schema)");
    if (ret == 0)
        ret = stg_pg_exec_int64(st, "SELECT version FROM profiled_schema", &v);
    *version = (int)v;
    return ret;
}

/* The missing steps in one transaction, under the migration lock: replicas
 * starting together migrate once, the others wait and find it done. */
int
stg_pg_migrate(storage_t *st)
{
    char sql[128];
    int version = 0, ret;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)", (long long)LOCK_MIGRATE);
    if ((ret = stg_pg_exec(st, sql)) != 0)
        return ret;
    if ((ret = stg_pg_exec(st, "BEGIN")) != 0 || (ret = schema_version(st, &version)) != 0)
        goto fail;
    st->pg_txn = true;
    if (version > stg_pg_schema_version()) {
        ret =
            stg_fail(st, STORAGE_EIO, "database schema version %d is newer than this build (%d)", version, stg_pg_schema_version());
        goto fail;
    }
    for (int v = version; v < stg_pg_schema_version(); v++)
        if ((ret = stg_pg_exec(st, stg_pg_migration_sql(v))) != 0)
            goto fail;
    if (version < 1 && (ret = stg_scroll_key_create(st)) != 0)
        goto fail;
    snprintf(sql, sizeof(sql), "UPDATE profiled_schema SET version = %d", stg_pg_schema_version());
    if ((ret = stg_pg_exec(st, sql)) != 0 || (ret = stg_pg_exec(st, "COMMIT")) != 0)
        goto fail;
    st->pg_txn = false;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)", (long long)LOCK_MIGRATE);
    return stg_pg_exec(st, sql);
fail:
    PQclear(PQexec(CONN(st), "ROLLBACK"));
    st->pg_txn = false;
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)", (long long)LOCK_MIGRATE);
    PQclear(PQexec(CONN(st), sql));
    return ret;
}

int
stg_pg_check_version(storage_t *st)
{
    int64_t v = 0;
    PGresult *r = PQexec(CONN(st), "SELECT version FROM profiled_schema");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (!ok || v == 0)
        return stg_fail(st, STORAGE_EIO, "database has no schema (run profiled migrate, or open it read-write once)");
    if (v != stg_pg_schema_version())
        return stg_fail(st, STORAGE_EIO, "database schema version %lld is not this build's (%d): run profiled migrate",
                        (long long)v, stg_pg_schema_version());
    return 0;
}
