/* pgnotify.c -- the change mark and commit journal of a PostgreSQL
 * database (storage.h's storage_change_mark and journal, as SQLite's
 * WAL-index header and hooks give them), so the view cache works on every
 * replica of one database.
 *
 * The mark is the database's write generation (meta.write_generation,
 * raised by one by every write transaction under the write lock, pg.c),
 * as the commit counter of a storage_mark_t; equal marks: no commit in
 * between. Every write transaction's commit sends, inside it, a
 * notification "GEN TAGS" on channel profiled_changes: the tags (hex) of
 * what it changed, or "*" (unknown, or too many for a payload), which
 * PostgreSQL delivers when, and only if, it commits.
 *
 *   - The writer of this process journals its own commits as SQLite's
 *     does (pending before COMMIT, done after): its statements' tags come
 *     from stg_pg_journal_stmt, which knows, per statement id, which bound
 *     values name a profile or an identity; any other statement that
 *     changed rows touches everything. Its mark moves before it answers.
 *   - One watcher thread a process, on a connection of its own, LISTENs
 *     and journals the other replicas' commits from their notifications
 *     (a "*" one as a gap), moving the mark; every 500 ms it reads the
 *     generation too, so a notification lost (a reconnect, a stall) is a
 *     gap within half a second, never a stale answer for longer. While it
 *     is not connected there is no mark (storage_change_mark -1): the
 *     cache answers nothing from memory.
 * One database a process (the server's --db): the watcher is global. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>
#include "../db/db.h"

#define CHANNEL "profiled_changes"
/* PostgreSQL's payload limit is 8000 bytes: a tag is 16 hex digits and a
 * comma */
#define PAYLOAD_TAGS 400
#define RECHECK_MS 500

static struct {
    pthread_mutex_t mu;
    _Atomic bool started;
    char *url;
    PGconn *conn;
    _Atomic(storage_journal_t *) journal; /* set by the writer's attach, read by the watcher */
    _Atomic int64_t gen;                  /* the mark: every commit up to it journaled or a gap */
    _Atomic int ok;                       /* connected and listening */
} W = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void
raise_gen(int64_t g)
{
    int64_t cur = atomic_load(&W.gen);
    while (cur < g && !atomic_compare_exchange_weak(&W.gen, &cur, g))
        ;
}

static int64_t
read_gen(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT value FROM meta WHERE key = 'write_generation'");
    int64_t g = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        g = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return g;
}

/* Connects, LISTENs, then reads the generation (a commit after that read
 * is notified). A jump from the mark before is a gap the journal shows. */
static bool
connect_watch(void)
{
    PGconn *c = PQconnectdb(W.url);
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "LISTEN " CHANNEL);
        bool listening = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        int64_t g = listening ? read_gen(c) : -1;
        if (g >= 0) {
            W.conn = c;
            raise_gen(g);
            atomic_store(&W.ok, 1);
            return true;
        }
    }
    PQfinish(c);
    return false;
}

/* "GEN TAGS": the commit GEN-1 -> GEN of some replica. Ours are journaled
 * already (the slot is taken): stg_journal_record leaves them. */
static void
on_notify(const char *payload)
{
    char *end;
    int64_t g = strtoll(payload, &end, 10);
    if (end == payload || g <= 0)
        return;
    while (*end == ' ')
        end++;
    uint64_t tags[PAYLOAD_TAGS];
    size_t n = 0;
    bool all = *end == '*';
    for (const char *p = end; !all && *p != '\0' && n < PAYLOAD_TAGS;) {
        char *e;
        tags[n++] = strtoull(p, &e, 16);
        if (e == p)
            break;
        p = *e == ',' ? e + 1 : e;
    }
    storage_journal_t *j = atomic_load(&W.journal);
    if (j != NULL)
        stg_journal_record(j, g, tags, n, all);
    raise_gen(g);
}

static void *
watch_main(void *arg)
{
    (void)arg;
    for (;;) {
        if (W.conn == NULL && !connect_watch()) {
            struct timespec ts = {0, RECHECK_MS * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd pfd = {.fd = PQsocket(W.conn), .events = POLLIN};
        int rc = poll(&pfd, 1, RECHECK_MS);
        bool alive = PQconsumeInput(W.conn) == 1;
        int64_t g = -1;
        if (alive && rc == 0) { /* quiet: has a commit gone unnoticed? */
            g = read_gen(W.conn);
            alive = g >= 0;
        }
        PGnotify *n;
        while ((n = PQnotifies(W.conn)) != NULL) {
            on_notify(n->extra);
            PQfreemem(n);
        }
        if (g >= 0) /* past what the notifications journaled: a gap, the cache empties */
            raise_gen(g);
        if (!alive || PQstatus(W.conn) != CONNECTION_OK) {
            atomic_store(&W.ok, 0);
            PQfinish(W.conn);
            W.conn = NULL;
        }
    }
    return NULL;
}

int
stg_pg_change_mark(storage_t *st, storage_mark_t *out)
{
    if (!atomic_load(&W.started)) {
        pthread_mutex_lock(&W.mu);
        if (!W.started && st->pg_url != NULL) {
            W.url = base_xstrndup(st->pg_url, strlen(st->pg_url));
            pthread_t t;
            /* the first connection here: the caller's first mark is real */
            if (connect_watch() && pthread_create(&t, NULL, watch_main, NULL) == 0) {
                pthread_detach(t);
                W.started = true;
            } else if (W.conn != NULL) {
                PQfinish(W.conn);
                W.conn = NULL;
                atomic_store(&W.ok, 0);
            }
        }
        pthread_mutex_unlock(&W.mu);
    }
    if (!atomic_load(&W.ok))
        return -1;
    stg_mark_of_generation(out, atomic_load(&W.gen));
    return 0;
}

void
stg_pg_watch_journal(storage_journal_t *j)
{
    atomic_store(&W.journal, j);
}

int
stg_pg_next_generation(storage_t *st, int64_t *gen)
{
    char buf[PAYLOAD_TAGS * 17 + 64];
    const char *payload = stg_pg_notify_payload(st, buf, sizeof(buf));
    PGresult *r = PQexecParams((PGconn *)st->db,
                               "WITH g AS (UPDATE meta SET value = value + 1 WHERE key = 'write_generation' RETURNING value)"
                               " SELECT value, pg_notify('" CHANNEL "', value::text || $1) FROM g",
                               1, NULL, &payload, NULL, NULL, 0);
    int ret = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        *gen = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        ret = stg_fail(st, PQstatus((PGconn *)st->db) == CONNECTION_OK ? STORAGE_EIO : STORAGE_EDOWN,
                       "postgres: raising the write generation: %s", PQerrorMessage((PGconn *)st->db));
    PQclear(r);
    if (ret == 0 && st->journal != NULL) { /* our own commit: pending until COMMIT answers */
        storage_mark_t before;
        stg_mark_of_generation(&before, *gen - 1);
        stg_journal_commit_begins(st, &before);
    }
    return ret;
}

void
stg_pg_generation_done(storage_t *st, int64_t gen, bool committed)
{
    if (st->journal == NULL)
        return;
    if (!committed) {
        stg_journal_settle(st);
        return;
    }
    storage_mark_t after;
    stg_mark_of_generation(&after, gen);
    stg_journal_committed(st, &after);
    raise_gen(gen); /* before the writer answers: the next read misses the cache */
}

/* ---- the tags of a statement ---- */

/* What a statement's bound values name: profile pks in $p and $p2
 * (1-based; 0: none), an identity (tenant $1, type $2, value $3), the new
 * row's id (a profile added). A view read through an identity carries
 * the pk it reached, so the moves of a merge are named by the two pks.
 * Statements not listed touch everything when they change a row. */
typedef struct {
    enum stmt_id id;
    int profile, profile2;
    bool identity, added;
} stmt_tags_t;

static const stmt_tags_t tagged[] = {
    {S_IDENTITY_ADD, 4, 0, true, false},
    {S_PROFILE_ADD, 0, 0, false, true},
    {S_PROFILE_ADD_AT, 6, 0, false, false},
    {S_PROFILE_TOUCH, 1, 0, false, false},
    {S_PROFILE_ACTIVITY, 1, 0, false, false},
    {S_TRAIT_PUT, 1, 0, false, false},
    {S_HISTORY_ADD, 2, 0, false, false},
    {S_EVENT_ADD, 2, 0, false, false},
    /* pending rows: each row's profile tagged as it joined (pgrows.c) */
    {S_EVENTS_ADD_MANY, 0, 0, false, false},
    {S_MARKS_UPSERT_MANY, 0, 0, false, false},
    {S_PROFILES_TOUCH_MANY, 0, 0, false, false},
    {S_PROFILES_ACTIVITY_MANY, 0, 0, false, false},
    {S_TRAITS_UPSERT_MANY, 0, 0, false, false},
    {S_MARK_UPSERT, 1, 0, false, false},
    {S_MARK_UPSERT_HOT, 1, 0, false, false},
    {S_COMP_UPSERT, 1, 0, false, false},
    {S_COMP_DAY_UPSERT, 1, 0, false, false},
    {S_COMP_DAY_PRUNE, 1, 0, false, false},
    {S_COMP_FREQ_UPSERT, 1, 0, false, false},
    {S_AUD_ADD, 1, 0, false, false},
    {S_AUD_REMOVE_MEMBER, 1, 0, false, false},
    /* a merge: winner $1, loser $2; the loser's rows dropped: $1 */
    {S_MERGE_IDENTITIES, 1, 2, false, false},
    {S_MERGE_IDENTITIES_DROP, 1, 0, false, false},
    {S_MERGE_EVENTS, 1, 2, false, false},
    {S_MERGE_TRAITS, 1, 2, false, false},
    {S_MERGE_TRAITS_DROP, 1, 0, false, false},
    {S_MERGE_HISTORY, 1, 2, false, false},
    {S_MERGE_MARKS, 1, 2, false, false},
    {S_MERGE_MARKS_DROP, 1, 0, false, false},
    {S_MERGE_AUDIENCES, 1, 2, false, false},
    {S_MERGE_AUDIENCES_DROP, 1, 0, false, false},
    {S_MERGE_PROFILE, 1, 2, false, false},
    {S_MERGE_PROFILE_DROP, 1, 0, false, false},
    {S_MERGE_COMP, 1, 2, false, false},
    {S_MERGE_COMP_DROP, 1, 0, false, false},
    {S_MERGE_COMP_DAYS, 1, 2, false, false},
    {S_MERGE_COMP_DAYS_DROP, 1, 0, false, false},
    {S_MERGE_COMP_FREQ, 1, 2, false, false},
    {S_MERGE_COMP_FREQ_DROP, 1, 0, false, false},
    /* an erasure: the profile $1 */
    {S_ERASE_SUPPRESS_IDS, 1, 0, false, false},
    {S_ERASE_EVENTS, 1, 0, false, false},
    {S_ERASE_HISTORY, 1, 0, false, false},
    /* rows no view reads */
    {S_TOKEN_ADD, 0, 0, false, false},
    {S_TOKEN_REVOKE, 0, 0, false, false},
    {S_SCROLL_KEY_ADD, 0, 0, false, false},
    {S_SUPPRESS_REMOVE, 0, 0, false, false},
};

void
stg_pg_journal_stmt(storage_t *st, enum stmt_id id, const char *const *vals, const int *lens, int64_t added_id)
{
    for (size_t i = 0; i < sizeof(tagged) / sizeof(tagged[0]); i++) {
        if (tagged[i].id != id)
            continue;
        const stmt_tags_t *t = &tagged[i];
        if (t->profile > 0 && vals[t->profile - 1] != NULL)
            stg_journal_tag(st, stg_tag_profile(strtoll(vals[t->profile - 1], NULL, 10)));
        if (t->profile2 > 0 && vals[t->profile2 - 1] != NULL)
            stg_journal_tag(st, stg_tag_profile(strtoll(vals[t->profile2 - 1], NULL, 10)));
        if (t->identity && vals[0] != NULL && vals[1] != NULL && vals[2] != NULL)
            stg_journal_tag(st,
                            stg_tag_identity(strtoll(vals[0], NULL, 10), (int)strtol(vals[1], NULL, 10), vals[2], (size_t)lens[2]));
        if (t->added)
            stg_journal_tag(st, stg_tag_profile(added_id));
        return;
    }
    stg_journal_everything(st);
}

const char *
stg_pg_notify_payload(const storage_t *st, char *buf, size_t cap)
{
    if (st->journal == NULL || st->jr_all || st->jr_n > PAYLOAD_TAGS || cap < 2)
        return " *";
    size_t o = 0;
    buf[o++] = ' ';
    for (size_t i = 0; i < st->jr_n; i++) {
        if (o + 18 >= cap)
            return " *";
        o += (size_t)snprintf(buf + o, cap - o, "%s%llx", i > 0 ? "," : "", (unsigned long long)st->jr_tags[i]);
    }
    buf[o] = '\0';
    return buf;
}
