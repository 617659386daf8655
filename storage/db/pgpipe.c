/* pgpipe.c -- the exchanges of a PostgreSQL connection (pg.c) that are
 * not one statement's: opening it (stg_pg_open), SQL run as text
 * (stg_pg_exec), errors mapped to codes (stg_pg_error), and pipelines, which make fewer exchanges for a
 * read transaction (libpq's pipeline mode). A worker's read is a few statements a
 * request, and on this box every exchange with the server costs more than
 * the statement it carries (two context switches and the socket's work on
 * each side), so:
 * - a read's BEGIN is not sent alone: it goes with the transaction's first
 *   statement (st->pg_begin_lazy);
 * - on a connection opened with STORAGE_READS_HELD, a read's COMMIT is
 *   held (st->pg_commit_held) and goes in front of the connection's next
 *   read, in the same exchange; the owner calls storage_idle before it
 *   waits, which sends a held COMMIT alone, so no snapshot stays open
 *   while the connection is idle. A read transaction's COMMIT changes
 *   nothing: nobody waits for it.
 * Either way the next read opens a new transaction: it sees every commit
 * made before it began. A pipeline ends with one Sync: PostgreSQL answers
 * all of it in one write and runs nothing after a statement that failed. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../db/db.h"

#define CONN(st) ((PGconn *)(st)->db)

/* ---- one-off SQL and errors ---- */

static int
code_of(const char *sqlstate)
{
    if (sqlstate == NULL)
        return STORAGE_EIO;
    /* serialization failure, deadlock, lock not available: try again */
    if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "55P03") == 0)
        return STORAGE_EBUSY;
    if (strcmp(sqlstate, "53100") == 0) /* disk_full */
        return STORAGE_EFULL;
    /* connection exceptions; the server shutting down, or starting */
    if (strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0 ||
        strcmp(sqlstate, "57P03") == 0)
        return STORAGE_EDOWN;
    return STORAGE_EIO;
}

/* Records the failure of res (or of the connection) and maps it. */
int
stg_pg_error(storage_t *st, PGresult *res, const char *what)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(CONN(st));
    if (msg == NULL || *msg == '\0')
        msg = PQerrorMessage(CONN(st));
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    snprintf(st->err, sizeof(st->err), "postgres: %.*s%s%s", (int)n, msg, what != NULL ? " in: " : "", what != NULL ? what : "");
    if (PQstatus(CONN(st)) != CONNECTION_OK)
        return STORAGE_EDOWN;
    return code_of(res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL);
}

/* Runs sql (no parameters; several statements allowed). 0 or a code. */
int
stg_pg_exec(storage_t *st, const char *sql)
{
    stg_pg_pipe_settle(st);
    st->pg_round_trips++;
    PGresult *r = PQexec(CONN(st), sql);
    ExecStatusType t = PQresultStatus(r);
    int ret = (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK) ? 0 : stg_pg_error(st, r, sql);
    PQclear(r);
    return ret;
}

/* One integer of sql's last row into *v. */
int
stg_pg_exec_int64(storage_t *st, const char *sql, int64_t *v)
{
    stg_pg_pipe_settle(st);
    st->pg_round_trips++;
    PGresult *r = PQexec(CONN(st), sql);
    int ret = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        ret = stg_pg_error(st, r, sql);
    else if (PQntuples(r) < 1)
        ret = stg_fail(st, STORAGE_EIO, "postgres: no row from: %s", sql);
    else
        *v = strtoll(PQgetvalue(r, PQntuples(r) - 1, 0), NULL, 10);
    PQclear(r);
    return ret;
}

/* ---- the connection (closed in pg.c) ---- */

/* The session's settings, on a connection just made (or made again). */
int
stg_pg_session(storage_t *st)
{
    int ret = stg_pg_exec(st, "SET client_min_messages = warning");
    if (ret == 0 && (st->flags & STORAGE_READONLY))
        ret = stg_pg_exec(st, "SET default_transaction_read_only = on");
    return ret;
}

int
stg_pg_open(storage_t **out, const char *url, int flags, char *errbuf, size_t errlen)
{
    storage_t *st = stg_conn_new(flags);
    st->pg = true;
    st->pg_url = base_xstrndup(url, strlen(url));
    *out = NULL;
    int ret = STORAGE_EIO;
    PGconn *c = PQconnectdb(url);
    st->db = (stg_conn_t *)c;
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        ret = c != NULL ? STORAGE_EDOWN : STORAGE_EIO; /* refused, unreachable, or starting up */
        /* libpq's message names host and port, never the password */
        const char *m = c != NULL ? PQerrorMessage(c) : "out of memory";
        size_t n = strlen(m);
        while (n > 0 && m[n - 1] == '\n')
            n--;
        snprintf(st->err, sizeof(st->err), "cannot connect to PostgreSQL: %.*s", (int)n, m);
        goto fail;
    }
    if (stg_pg_session(st) != 0 || ((flags & STORAGE_READONLY) ? stg_pg_check_version(st) : stg_pg_migrate(st)) != 0 ||
        stg_scroll_key_load(st) != 0)
        goto fail;
    *out = st;
    return 0;
fail:
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "%s", st->err);
    stg_pg_close(st);
    return ret;
}

/* ---- pipelines ---- */

/* Reads the answers up to the pipeline's Sync and leaves pipeline mode.
 * The first answer of message i goes to res[i] when i < n; the others are
 * dropped. */
static void
collect(PGconn *c, PGresult **res, int n)
{
    int i = 0, idle = 0;
    for (;;) {
        PGresult *r = PQgetResult(c);
        if (r == NULL) { /* the end of one message's answers */
            i++;
            if (++idle >= 2) /* twice: nothing more is coming (a lost connection) */
                break;
            continue;
        }
        idle = 0;
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (i < n && res[i] == NULL)
            res[i] = r;
        else
            PQclear(r);
    }
    if (PQpipelineStatus(c) != PQ_PIPELINE_OFF)
        PQexitPipelineMode(c);
}

void
stg_pg_pipe_settle(storage_t *st)
{
    if (!st->pg_commit_held)
        return;
    st->pg_commit_held = false;
    st->pg_round_trips++;
    PQclear(PQexecPrepared(CONN(st), st->pg_commit_name, 0, NULL, NULL, NULL, 0));
}

void
stg_pg_pipe_run(storage_t *st, const char *begin, stg_pg_call_t *calls, int n)
{
    PGconn *c = CONN(st);
    PGresult *res[STG_PG_PIPE_MAX + 2] = {NULL};
    const char *lead[2];
    int nlead = 0;
    if (st->pg_commit_held) /* the last read's */
        lead[nlead++] = st->pg_commit_name;
    if (begin != NULL)
        lead[nlead++] = begin;
    st->pg_commit_held = false;
    st->pg_round_trips++;
    bool sent = PQenterPipelineMode(c) == 1;
    for (int i = 0; sent && i < nlead; i++)
        sent = PQsendQueryPrepared(c, lead[i], 0, NULL, NULL, NULL, 0) == 1;
    for (int i = 0; sent && i < n; i++)
        sent = PQsendQueryPrepared(c, calls[i].name, calls[i].nparams, calls[i].vals, calls[i].lens, calls[i].fmts, 0) == 1;
    if (sent)
        sent = PQpipelineSync(c) == 1;
    collect(c, res, nlead + n);
    for (int i = 0; i < n; i++)
        calls[i].res = res[nlead + i];
    bool failed = false;
    for (int i = 0; i < nlead; i++) {
        if (!failed && n > 0 && res[i] != NULL && PQresultStatus(res[i]) != PGRES_COMMAND_OK) {
            failed = true;
            /* it failed, and nothing after it ran: its answer stands for
             * the statements' */
            PQclear(calls[0].res);
            calls[0].res = res[i];
            res[i] = NULL;
        }
        PQclear(res[i]);
    }
}
