/* testdb.h -- storage-level test helpers shared by the Check suites: a
 * database in a fresh temporary directory, and one message ingested from
 * JSON text. */
#ifndef PROFILED_TESTDB_H
#define PROFILED_TESTDB_H

#include <stdint.h>
#include "storage.h"

/* Opens a new database "<fresh temp dir>/<name>"; *path receives its path
 * (malloc'd: test_db_close frees it). Fails the test when it cannot. */
storage_t *test_db_open(const char *name, char **path);

/* Closes st, removes the database files and their directory, frees path. */
void test_db_close(storage_t *st, char *path);

/* Ingests one message given as JSON text (which must parse: the test fails
 * otherwise) for tenant t at `now` (ms), source "api". Returns what
 * storage_ingest_message returned; the caller judges it. */
int test_db_ingest(storage_t *st, const storage_tenant_t *t, const char *json, int64_t now);

/* The integer the first row of sql answers on the database at path (a
 * SQLite file or a PostgreSQL URL; "?N" placeholders: text, when not NULL,
 * then n). Fails the test when sql does not run. */
int64_t test_db_int(const char *path, const char *sql, const char *text, int64_t n);

/* The tables of path's database with a column of that name, in name
 * order (at most max). */
size_t test_db_tables_with(const char *path, const char *column, char names[][32], size_t max);

#endif
