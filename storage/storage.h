/* storage.h -- the SQLite store behind profiled: schema and migrations,
 * materialisation of Segment-spec messages into profiles, the JSON views the
 * API serves, and token rows. The only part of profiled that uses SQLite
 * (behind storage/db/); every query is keyed by tenant (clientId, accountId, brandId).
 *
 * A storage_t is one SQLite connection and its prepared statements. It is not
 * thread safe: use one per thread (the server gives each worker its own,
 * which only reads, and the writer thread its own for everything else). */
#ifndef PROFILED_STORAGE_H
#define PROFILED_STORAGE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <json-c/json.h>
#include "base.h"
#include "definitions.h"
#include "segment.h"

/* Return codes: 0 on success, one of these on failure (the values of
 * base.h's, which segment/ and definitions/ return too). */
enum {
    STORAGE_OK = 0,
    STORAGE_ENOTFOUND = BASE_ENOTFOUND, /* no such profile / token / row */
    STORAGE_EINVAL = BASE_EINVAL,       /* invalid argument or message (see storage_errmsg) */
    STORAGE_EIO = BASE_EIO,             /* the database failed (see storage_errmsg) */
    STORAGE_EBUSY = BASE_EBUSY,         /* database locked past the busy timeout */
    STORAGE_EEXIST = BASE_EEXIST,       /* already there (duplicate) */
    /* storage's own: the disk under the database is full (SQLITE_FULL, or
     * ENOSPC/EDQUOT under an I/O error); the transaction was rolled back,
     * and the same write succeeds once space is freed */
    STORAGE_EFULL = -6,
    /* the database server cannot be reached (PostgreSQL: the connection was
     * lost or refused); the transaction was rolled back, and the connection
     * is made again before its next transaction */
    STORAGE_EDOWN = -7,
};

/* storage_open flags */
enum {
    STORAGE_READONLY = 1,          /* open read-only; the schema must already exist */
    STORAGE_SYNC_FULL = 2,         /* PRAGMA synchronous=FULL (default NORMAL) */
    STORAGE_NO_AUTOCHECKPOINT = 4, /* commits never checkpoint the WAL: some
                                    * other connection calls storage_checkpoint */
    STORAGE_READS_HELD = 8         /* PostgreSQL: a read transaction's COMMIT goes
                                    * with the connection's next statement; the
                                    * owner calls storage_idle before it waits */
};

typedef struct storage storage_t;

/* Opens (creating when not read-only) the database at path and brings its
 * schema to the current version (PRAGMA user_version) inside one
 * transaction. Sets WAL, foreign keys off, a busy timeout of 5 s.
 * Tests: with PROFILED_DEBUG_DISK_FULL_FILE=path in the environment at the
 * first open, every connection of the process writes through a shim of
 * SQLite's file layer whose writes fail as a full disk (SQLITE_FULL) while
 * that path exists.
 * On success *out owns the connection (free with storage_close).
 * On failure returns STORAGE_EIO (STORAGE_EDOWN: a PostgreSQL server that
 * could not be reached, or refused the connection) and, when errbuf is not
 * NULL, writes a message into it. */
int storage_open(storage_t **out, const char *path, int flags, char *errbuf, size_t errlen);

/* path as it may be shown in a log line or a message: a PostgreSQL URL
 * with its password (user:PASSWORD@ or password=…) replaced by "***" in
 * buf; anything else is path itself. */
const char *storage_path_shown(const char *path, char *buf, size_t cap);

/* Whether path is a PostgreSQL URL (postgres:// or postgresql://). */
bool storage_is_url(const char *path);

/* Closes the connection and finalizes its statements. NULL is a no-op. */
void storage_close(storage_t *st);

/* Message of the last failure on this connection (borrowed, valid until the
 * next call on st). Never NULL. */
const char *storage_errmsg(const storage_t *st);

/* Copies what it can of the write-ahead log into the database without
 * waiting for readers or writers (a PASSIVE checkpoint), so that
 * connections opened with STORAGE_NO_AUTOCHECKPOINT never pay for it on
 * their commits. *log_bytes (may be NULL) receives the log's size. The log
 * starts over at the first commit whose transaction began after a copy
 * that left nothing behind (and no reader is in the log): under steady
 * commits, only if the caller holds its writers back during one. Needs a
 * connection that is not STORAGE_READONLY. 0, STORAGE_EBUSY, STORAGE_EFULL
 * (the database file cannot grow: the log stays, and is copied once space
 * is freed) or STORAGE_EIO. */
int storage_checkpoint(storage_t *st, int64_t *log_bytes);

/* Sets the connection's page cache size. 0 or STORAGE_EIO. */
int storage_cache_mb(storage_t *st, int mb);

/* Whether the index entries and first/last marks of events this
 * connection stores go to the small hot tables (schema steps 10 and 11)
 * rather than straight into the large ones. The server's writer and the
 * import store hot and compact; other connections store cold. */
void storage_hot_events(storage_t *st, bool on);

/* One step of a compaction round, in a transaction of its own (none may
 * be open): a round starts when at least min_hot entries are hot
 * (min_hot <= 0: any) and moves them into the large tables in chunks of
 * about chunk adjoining keys a step, one chunk of each table, so that a
 * step is short and each page of a large table is written about once a
 * round. Nothing any read sees changes (an entry is in one level or the
 * other at every commit), so the commit journal records nothing for it.
 * *moved (may be NULL) receives the entries this step moved (0: no round,
 * or nothing left). 0, STORAGE_EBUSY or STORAGE_EIO. */
int storage_events_compact(storage_t *st, int64_t min_hot, int64_t chunk, int64_t *moved);

/* storage_events_compact step after step until a round that starts (at
 * least min_hot hot) is done; *moved (may be NULL) receives the entries
 * all its steps moved, also when one fails. 0 or as a step. */
int storage_events_compact_round(storage_t *st, int64_t min_hot, int64_t chunk, int64_t *moved);

/* Pages this connection wrote to the database or its write-ahead log since
 * the last call (every page a commit dirtied, whole), and their bytes in
 * *bytes (may be NULL): what a write costs. 0 when unknown. */
int64_t storage_pages_written(storage_t *st, int64_t *bytes);

/* Statements this connection has sent to a PostgreSQL server and had
 * answered (each a round trip, a prepare included; deferred writes travel
 * with the next one), since it opened; 0 on SQLite. */
uint64_t storage_round_trips(const storage_t *st);
/* The rows of statements' answers a PostgreSQL server has sent this
 * connection since it opened (what a read fetched); 0 on SQLite. */
uint64_t storage_rows_received(const storage_t *st);

/* The connection is about to sit idle: the COMMIT of a read transaction it
 * holds (STORAGE_READS_HELD) is sent now. No-op on SQLite and otherwise. */
void storage_idle(storage_t *st);

/* ---- a damaged database ---------------------------------------------------
 * Process-wide, as SQLite's error log is. After storage_watch_damage, the
 * first time SQLite finds the database damaged (SQLITE_CORRUPT or
 * SQLITE_NOTADB, on any connection and thread) fn(ctx, what) is called on
 * that thread, once, with SQLite's message (borrowed); from then on
 * storage_damaged says so and storage_begin refuses (STORAGE_EIO): a
 * damaged file takes no more writes. Call it once, before any connection
 * opens and any thread starts; fn may be NULL, and must be thread safe. */
typedef void (*storage_damage_fn)(void *ctx, const char *what);
void storage_watch_damage(storage_damage_fn fn, void *ctx);
/* Whether damage was found since the watch began; *what (may be NULL)
 * receives the first report (static, valid for the process's life). */
bool storage_damaged(const char **what);

/* `profiled check`: opens the database at path without changing it (no
 * migration, nothing written) and runs PRAGMA integrity_check plus checks
 * that every identity, trait, event and first/last mark belongs to a
 * profile that exists. Writes each problem found to out, one line each,
 * and *problems receives their number. Returns 0 when the checks ran
 * (problems may be > 0), or STORAGE_EIO when the file cannot be opened or
 * read as a database at all (that is damage too: *problems is then >= 1
 * and the reason is in out). */
int storage_check(const char *path, FILE *out, uint64_t *problems);

/* `profiled copy`: every row of from's database into to's, which must be
 * empty (no tenant, profile, token, event or any other copied row), of
 * either backend (SQLite file or PostgreSQL URL, opened by the caller: to
 * read-write, so its schema is current). Row ids stay what they are, and
 * so does the scrollId key: scrollIds of from go on working on to. Reads
 * from in one read transaction (one snapshot) and writes to in one write
 * transaction: on failure nothing of it is kept. What SQLite keeps in two
 * levels (schema steps 10, 11) is rebuilt or combined; on PostgreSQL each
 * identity column's sequence is moved past the copied ids. A line per
 * table goes to progress (may be NULL) every 10,000 rows and at its end;
 * *rows (may be NULL) receives the rows written. Returns 0; STORAGE_EEXIST
 * when to is not empty (nothing written); STORAGE_EINVAL when a value
 * cannot be stored in to (a text with a NUL character on PostgreSQL);
 * STORAGE_EIO / STORAGE_EBUSY; the message in err. */
int storage_copy(storage_t *from, storage_t *to, FILE *progress, uint64_t *rows, char *err, size_t errlen);

/* Current schema version this build writes. */
int storage_schema_version(void);

/* A tenant. Borrowed strings, not NUL-terminated copies: each with length. */
typedef struct {
    const char *client;
    size_t client_len;
    const char *account;
    size_t account_len;
    const char *brand;
    size_t brand_len;
} storage_tenant_t;

/* Convenience initialiser from NUL-terminated strings. */
storage_tenant_t storage_tenant(const char *client, const char *account, const char *brand);

/* ---- transactions (read-write connection) ---------------------------------
 * storage_ingest_* and the audience/token writers run inside whatever
 * transaction is open; when none is open each call is its own transaction
 * (the writer thread group-commits several requests in one). */
int storage_begin(storage_t *st); /* BEGIN IMMEDIATE */
/* The write transaction of the server's writer for a group of batches
 * (batches[i] of tenants[i]): storage_begin, except on PostgreSQL, where
 * groups of known tenants naming at most a few thousand ids hold the
 * write lock's shared form and lock what their messages name, so that
 * replicas store at once (write/locks.c). In that form a write that needs
 * the exclusive lock (a merge) fails with STORAGE_EBUSY, as does a
 * deadlock: roll back and store the group again after storage_begin.
 * storage_shared says which form the open transaction holds. */
int storage_begin_batches(storage_t *st, const storage_tenant_t *const *tenants, const segment_batch_t *const *batches, size_t n);
bool storage_shared(const storage_t *st);
/* A group of more messages takes the exclusive form. */
#define STORAGE_SHARED_MESSAGES 500
bool storage_is_postgres(const storage_t *st);
int storage_commit(storage_t *st);   /* COMMIT (STORAGE_EFULL: the disk is full) */
int storage_rollback(storage_t *st); /* ROLLBACK; safe when none open */

/* ---- materialisation of Segment-spec messages ------------------------------
 * Message types: identify, track, page, screen, group, alias.
 *  - Every message needs userId or anonymousId (alias: previousId and userId).
 *  - timestamp: ISO 8601; absent -> now_ms. eventTime = timestamp,
 *    receivedTime = now_ms.
 *  - The profile is found through identities (tenant, idType, value):
 *    userId, anonymousId, email (lower-cased; from traits.email or
 *    context.traits.email). When none exists a profile is created with a new
 *    UUID v4 `id` and createdBy {"type": created_by_type, "createdTime": ISO}.
 *    A message's ids are taken in priority order (userId, previousId,
 *    anonymousId): each joins the profile the earlier ones lead to (linked
 *    when new; when it leads to another profile the two are merged into
 *    the older one: events, traits newest-wins, first/last events,
 *    audiences, identities) only if the result keeps within the per-type
 *    identity limits (storage_set_id_limits; by default a profile holds at
 *    most one userId) and the merge cap (STORAGE_MERGE_CAP). An id that
 *    would break one is left where it is: a known one stays with its
 *    profile, a new one is not linked. So a shared anonymousId never joins
 *    two userIds: the second user gets a profile of their own, the
 *    anonymousId stays with the first. Only alias (previousId -> userId)
 *    joins userIds on purpose: it ignores the limits (not the cap). When
 *    no id leads anywhere, the email attaches the message to a profile
 *    with that email (the most recently active one, among the
 *    STORAGE_EMAIL_CANDIDATES newest, that can take the message's ids),
 *    else a profile is created. No step reads more than a bounded number
 *    of rows, however many profiles share an email.
 *  - identify: traits merged per top-level key; the value with the newer
 *    timestamp wins (equal: the later write wins). context.traits of any
 *    message are merged the same way.
 *  - group: traits "groupId" set, and the group's traits stored under the
 *    trait "group" as {"id":..., "traits":{...}}.
 *  - track, page, screen: stored as events. eventId = messageId (a UUID v4
 *    is generated when absent); eventAction = snake_case of the track event
 *    name ("Email Opened" -> "email_opened", "EmailOpened" ->
 *    "email_opened"), or "page" / "screen"; source = message "source" when
 *    it is a string, else "SEGMENT_API". A messageId already stored for the
 *    tenant is skipped (idempotent) and reported as STORAGE_EEXIST by
 *    storage_ingest_message (callers treat it as success).
 *  - firstEvent / lastEvent per eventAction (by eventTime, then eventId) and
 *    lastActivityTime (max eventTime) are kept on the profile.
 * validation failures return STORAGE_EINVAL with a reason in err
 * ("missing userId or anonymousId", "invalid timestamp", "unknown type", ...)
 * and store nothing. */
#define STORAGE_MERGE_CAP 100
#define STORAGE_EMAIL_CANDIDATES 16

/* Per-type identity limits: max[storage_id_type_t] distinct ids of that
 * type a profile may gain (0: no limit; STORAGE_ID_INTERNAL unused). */
typedef struct {
    int max[3];
} storage_id_limits_t;

/* The default of storage_open: at most one userId, other types unlimited. */
#define STORAGE_ID_LIMITS_DEFAULT "userId=1"

/* Parses "type=N[,type=N...]" (type userId, anonymousId or email, also
 * user_id / anonymous_id; N 1..1000000 or "unlimited") on top of the
 * defaults into *out. 0, or STORAGE_EINVAL with a reason in err. */
int storage_id_limits_parse(const char *text, storage_id_limits_t *out, char *err, size_t errlen);

/* The limits ingest applies on st from now on (NULL: the defaults). */
void storage_set_id_limits(storage_t *st, const storage_id_limits_t *limits);

/* SQLite virtual-machine steps run by st's prepared statements so far: a
 * deterministic measure of work (tests and benchmarks). */
uint64_t storage_vm_steps(storage_t *st);

/* Stores one message for the tenant (validates it first). created_by_type is
 * the createdBy.type of a profile it creates ("import", "api"). now_ms is
 * the wall clock in milliseconds since the epoch (injected for tests).
 * Returns 0, STORAGE_EEXIST (duplicate messageId: nothing stored),
 * STORAGE_EINVAL (err says why; nothing stored), STORAGE_EIO. */
int storage_ingest_message(storage_t *st, const storage_tenant_t *tenant, struct json_object *msg, const char *created_by_type,
                           int64_t now_ms, char *err, size_t errlen);

/* Stores every message of b as storage_ingest_message does (duplicates are
 * skipped). In the caller's transaction when one is open, else in its own.
 * 0 or a STORAGE_* error (err says why). */
int storage_batch_store(storage_t *st, const storage_tenant_t *tenant, const segment_batch_t *b, const char *created_by_type,
                        int64_t now_ms, char *err, size_t errlen);
/* While on, the per-profile writes of ingested messages (traits, first/last
 * events, activity times, computed state) are combined in memory and
 * written at the transaction's commit: a group commit of many requests then
 * writes each profile's rows once. Reads on other connections see them at
 * the commit, as before. */
int storage_combine_writes(storage_t *st, bool on);

/* Imports NDJSON (one message per line) from in. Commits every 10,000 lines.
 * Prints each rejected line to errout as "line N: reason" and, when progress
 * is not NULL, a progress line to it every 100,000 lines. Blank lines are
 * skipped. *imported and *rejected receive the counts (duplicates count as
 * imported). Returns 0 when every line was imported, STORAGE_EINVAL when any
 * was rejected (the valid ones are still stored), STORAGE_EIO on failure. */
int storage_import_ndjson(storage_t *st, const storage_tenant_t *tenant, FILE *in, FILE *errout, FILE *progress, int64_t now_ms,
                          uint64_t *imported, uint64_t *rejected);

/* ---- the profile views the API serves --------------------------------------
 * All built as one JSON text in a malloc'd, NUL-terminated buffer: on
 * success *body is the caller's to free() and *len its length. Reads run in
 * one read transaction, so a view is consistent. Times are ISO 8601 UTC with
 * milliseconds ("2020-11-19T13:39:17.380Z"). */
typedef enum {
    STORAGE_ID_USER = 0,  /* userId (API also accepts user_id) */
    STORAGE_ID_ANONYMOUS, /* anonymousId (anonymous_id) */
    STORAGE_ID_EMAIL,     /* email: may match several profiles */
    STORAGE_ID_INTERNAL,  /* id: the profile's UUID */
} storage_id_type_t;

/* The id type n bytes of name stand for: "userId" / "user_id",
 * "anonymousId" / "anonymous_id", "email", "id". 0 and *out, or -1. */
int storage_id_type_parse(const char *name, size_t n, storage_id_type_t *out);
/* The name of an id type as the API writes it ("userId", "anonymousId",
 * "email", "id"). */
const char *storage_id_type_name(storage_id_type_t type);

typedef enum {
    /* traits + "id", "externalId", "computed": {...} */
    STORAGE_VIEW_TRAITS = 0,
    /* traits + "id", "externalId", "_subscriptionId" (base64 of
     * "clientId:accountId:id"), "createdBy", "createdTime", "updatedTime",
     * "firstEvent" {eventAction: event}, "lastEvent" {eventAction: event},
     * "audiences" [dynamic names], "audiencesStatic" [static names],
     * "lastActivityTime" (ISO or null). An event there is its raw message
     * plus "eventId", "receivedTime", "eventTime", "action" (the type). */
    STORAGE_VIEW_METADATA,
    /* traits + "id", "externalId", "audiences", "audiencesStatic" */
    STORAGE_VIEW_AUDIENCES,
    /* {"id", "externalId", "externalIds": [{"type": "userId"|"anonymousId"|
     *  "email"|"id", "id": value}, ...]} */
    STORAGE_VIEW_EXTERNAL_IDS,
} storage_view_t;

/* Bounds of a page: `from` (a page number) of the email form and of the
 * profile list, and the email form's largest (and default) `size`. */
#define STORAGE_PAGE_FROM_MAX 1000000
#define STORAGE_EMAIL_PAGE_MAX 100

/* Builds a view of the profile(s) that id (id_len bytes, already
 * percent-decoded) of id_type leads to in the tenant. For STORAGE_ID_EMAIL
 * the answer is always {"data":[view, ...],"from":F,"size":S}: page `from`
 * (0..STORAGE_PAGE_FROM_MAX) of `size` (1..STORAGE_EMAIL_PAGE_MAX) of the
 * profiles with that email in profile-key order (oldest profile first; one
 * made later goes last, so a walk over the pages sees each once); a page
 * past the end has an empty "data". Otherwise the single view object
 * (from and size unused).
 * Returns 0, STORAGE_ENOTFOUND (no profile; also an email matching none),
 * STORAGE_EINVAL (bounds), STORAGE_EIO. */
int storage_profile_view_page(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id,
                              size_t id_len, storage_view_t view, int from, int size, char **body, size_t *len);
/* storage_profile_view_page of the first page (from 0, size 100). */
int storage_profile_view(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                         storage_view_t view, char **body, size_t *len);

/* One id of a batch lookup: inputs type, id, id_len (id NULL: skipped,
 * left as given); outputs rc (0 or STORAGE_ENOTFOUND) and with rc 0 body
 * and len (malloc'd, the caller's to free) and the view's time window
 * (storage_view_validity of it). */
typedef struct {
    storage_id_type_t type;
    const char *id;
    size_t id_len;
    int rc;
    char *body;
    size_t len;
    int64_t from_ms, until_ms;
    uint64_t *tags; /* storage_view_tags of it (rc 0; malloc'd, the caller frees) */
    size_t n_tags;
} storage_view_item_t;

/* storage_profile_view of each of items[0..n) with one view, all inside one
 * read transaction (one snapshot; joins an open transaction). Returns 0
 * with every item's rc set, or a STORAGE_* code (STORAGE_EIO, ...) with no
 * body left allocated. */
int storage_profile_views(storage_t *st, const storage_tenant_t *tenant, storage_view_t view, storage_view_item_t *items, size_t n);

/* ---- trait provenance and history -----------------------------------------
 * Every trait row names the message that set its current value (the newest
 * by message timestamp: the one newest-wins kept), its time and its source
 * (as an event's: the message's "source", else "SEGMENT_API"). Each change
 * of a trait's stored value (not an identical value arriving again) also
 * appends a history row (value, time, messageId, source) in the same
 * transaction, kept for the connection's retention; merges carry the rows
 * to the surviving profile, erasure deletes them. Traits stored before
 * schema 8 have no messageId, no source and no history. */
#define STORAGE_TRAIT_HISTORY_DAYS_DEFAULT 90

/* Days of trait history st records and shows (default
 * STORAGE_TRAIT_HISTORY_DAYS_DEFAULT): changes whose time is older than
 * that (by st's clock, storage_set_clock) are not shown and are deleted by
 * storage_trait_history_sweep. 0: none recorded, and the history reads
 * answer STORAGE_EINVAL. Cannot fail. */
void storage_set_trait_history(storage_t *st, int days);

/* How the traits view is built (storage_traits_view). */
typedef struct {
    /* each trait as {"value", "updatedTime", "messageId", "source"}
     * (messageId and source left out when unknown: the message had no
     * messageId, or the trait predates schema 8); computed traits plain */
    bool verbose;
    /* the traits as they stood at at_ms (their latest change at or before
     * it, from the kept history; traits with none absent); no "computed" */
    bool has_at;
    int64_t at_ms;
} storage_traits_opts_t;

/* storage_profile_view_page of STORAGE_VIEW_TRAITS with opts (NULL: as
 * storage_profile_view_page). Same returns, and STORAGE_EINVAL when has_at is
 * asked of a connection without history. */
int storage_traits_view(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                        const storage_traits_opts_t *opts, int from, int size, char **body, size_t *len);

/* A trait's history: the changes of one key, newest first (by time, then
 * order of recording), of the profile(s) an id leads to (an email: every
 * profile with it, merged), paged as the events timeline is (a sealed
 * scrollId with a snapshot mark: rows recorded after the first page are not
 * in it; the events route's scrollIds are not valid here, nor these
 * there). Each page is {"scrollId":"…","data":[{"value":…,"time":"…",
 * "messageId":"…"|null}, …]}; a page shorter than the limit is the end. */
typedef struct {
    const char *trait; /* the key, exact */
    size_t trait_len;
    int64_t start_ms; /* inclusive; INT64_MIN: no bound */
    int64_t end_ms;   /* exclusive; INT64_MAX: no bound */
    int limit;        /* 1..100 */
} storage_history_query_t;

/* The first page. 0, STORAGE_ENOTFOUND (no such profile), STORAGE_EINVAL
 * (bad query, or history off on st), STORAGE_EIO / STORAGE_EBUSY. */
int storage_trait_history_begin(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id,
                                size_t id_len, const storage_history_query_t *q, int64_t now_ms, int64_t ttl_ms, char **body,
                                size_t *len);
/* The next page; as storage_events_next (STORAGE_ENOTFOUND also for an
 * events scrollId). */
int storage_trait_history_next(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id,
                               size_t id_len, const char *scroll_id, size_t scroll_id_len, int64_t now_ms, int64_t ttl_ms,
                               char **body, size_t *len);

/* Deletes history rows older than st's retention at now_ms, at most
 * 10,000 per call (*deleted, may be NULL, says how many: call again while
 * it is 10,000). Nothing when history is off on st. 0 or STORAGE_EIO. */
int storage_trait_history_sweep(storage_t *st, int64_t now_ms, int64_t *deleted);

/* Profiles of the tenant by lastActivityTime, newest first (never active
 * last, then by creation): page `from` (0-based) of `size` (1..100).
 * Body {"data":[traits view, ...],"from":F,"size":S}. 0 or STORAGE_EIO. */
int storage_profile_list(storage_t *st, const storage_tenant_t *tenant, int from, int size, char **body, size_t *len);

/* ---- events timeline and scroll cursors ------------------------------------
 * A scroll is a keyset walk over (eventTime, eventId) of the events of the
 * profile(s) an id leads to, fixed at its start: the profiles (for an email,
 * every profile with it, merged into one order), the filters, and a snapshot
 * mark (the highest event rowid then), so events stored later are never in
 * it and none is returned twice or skipped. Its state travels in the
 * scrollId itself, sealed (read/cursor.c: tenant, kind, query, mark,
 * keyset position, deadline, and the profile path it was started on,
 * authenticated with HMAC-SHA256 under the database's key, URL-safe
 * base64), so a page is a pure read transaction, and a scroll continues
 * after a restart and in any process sharing the database. Each page is
 *   {"scrollId":"…","data":[event, …]}
 * an event being {"id","externalId","email","eventId","eventTime",
 * "receivedTime","eventAction","clientId","accountId","brandId",
 * "customerId","userId","source","rawData"} (id/customerId: the profile's
 * UUID; rawData: the stored message). Every page carries a new scrollId for
 * the page after it, the last one too; a page shorter than the limit, or
 * empty, is the end. A scrollId already used stays valid until its own
 * deadline: in the process that paged its scroll further it continues the
 * scroll (read/scrolltab.c), elsewhere it answers its own page again. */
typedef struct {
    const char *include; /* comma-separated keys; NULL: every event */
    size_t include_len;
    const char *exclude; /* comma-separated keys; NULL: none. Exclude wins. */
    size_t exclude_len;
    /* A key matches an event when it equals, case-insensitively, the event's
     * name (track "event"), its eventAction, or its type ("page",
     * "screen"). Empty items in the lists are ignored. */
    int64_t start_ms; /* inclusive; INT64_MIN: no bound */
    int64_t end_ms;   /* exclusive; INT64_MAX: no bound */
    int descending;   /* newest first (the API's default) */
    int limit;        /* 1..100 */
} storage_event_query_t;

/* Starts a scroll and builds its first page into *body (malloc'd, caller
 * frees). Its scrollId is valid until now_ms + ttl_ms. Returns 0,
 * STORAGE_ENOTFOUND (no such profile), STORAGE_EINVAL (bad query, or one
 * too long to seal: include, exclude and the trait key past 4,096 bytes),
 * STORAGE_EIO / STORAGE_EBUSY. */
int storage_events_begin(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                         const storage_event_query_t *q, int64_t now_ms, int64_t ttl_ms, char **body, size_t *len);

/* The next page of a scroll presented on the profile path (id_type, id);
 * its scrollId is valid until now_ms + ttl_ms. Returns 0,
 * STORAGE_ENOTFOUND when scroll_id is malformed, forged or altered, past
 * its deadline, another tenant's, another kind's, started on another
 * path, or over a profile set that changed since (one erased or merged
 * away; an email's gained or lost a profile); STORAGE_EIO / STORAGE_EBUSY.
 * Writes nothing. */
int storage_events_next(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                        const char *scroll_id, size_t scroll_id_len, int64_t now_ms, int64_t ttl_ms, char **body, size_t *len);

/* First events pages kept by a cache (the server's, on its loop threads):
 * a first page is the same for every request until a commit touches what
 * it was built from (storage_view_tags, set by storage_events_begin as by
 * a view), but each answer starts a scroll of its own. After a first page
 * storage_scroll_kept gives what a cache keeps: the scroll's state after
 * the page (*state, *n bytes, st's own until its next page) and where the
 * page's data array stands in the body (*data_off, *data_len); -1 when st
 * built none. storage_scroll_reseal makes the body of a new scroll from
 * such a state and data for the same path (id_type, id): a new nonce,
 * deadline now_ms + ttl_ms, the page's position and snapshot mark, framed
 * as storage_events_begin frames it (malloc'd, its length in *len); NULL
 * when the state is not a first events page's. A sealer holds a copy of
 * st's scrollId key (any thread, one at a time). */
typedef struct storage_sealer storage_sealer_t;
storage_sealer_t *storage_sealer_new(const storage_t *st);
void storage_sealer_free(storage_sealer_t *s);
int storage_scroll_kept(const storage_t *st, const unsigned char **state, size_t *n, size_t *data_off, size_t *data_len);
char *storage_scroll_reseal(storage_sealer_t *s, const unsigned char *state, size_t n, const char *data, size_t data_len,
                            storage_id_type_t id_type, const char *id, size_t id_len, int64_t now_ms, int64_t ttl_ms, size_t *len);

/* Write transactions committed on st since it was opened (any thread may
 * ask): a worker connection's stays 0, the read path writes nothing. */
uint64_t storage_commits(const storage_t *st);

/* ---- erasure and the suppression list -------------------------------------
 * Deleting a profile removes, in one write transaction (the caller's when
 * one is open), the profile and every row of it: events, traits, trait history,
 * identities, first/last event marks, computed state, static and dynamic
 * audience memberships, and the scroll cursors that walk it (their next
 * page is an unknown scrollId). Its userIds and anonymousIds go on the
 * tenant's suppression list: from then on a message carrying one of them
 * (userId, anonymousId, or an alias's previousId) is acknowledged and not
 * stored -- storage_ingest_message and storage_batch_store return 0 and
 * storage_import_ndjson counts it as imported -- and counted
 * (storage_suppressed_messages). Emails are not suppressed. */

/* Deletes the profile id (id_len bytes) of id_type leads to in the tenant.
 * userId, anonymousId and id are accepted; an email may name several
 * profiles and is refused (STORAGE_EINVAL: delete by userId, anonymousId or
 * id). Returns 0, STORAGE_ENOTFOUND (no such profile), STORAGE_EINVAL,
 * STORAGE_EIO / STORAGE_EBUSY (err says why; nothing changed). */
int storage_profile_delete(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                           int64_t now_ms, char *err, size_t errlen);

/* Messages ingest on st refused as suppressed, in committed transactions
 * since st opened. */
uint64_t storage_suppressed_messages(const storage_t *st);

/* Calls cb for each suppressed id of the tenant (by type, then value);
 * value (value_len bytes) is borrowed for the call. Stops and returns cb's
 * value when it is non-zero. 0 (also for an unknown tenant) or
 * STORAGE_EIO. */
typedef int (*storage_suppression_cb)(void *ctx, storage_id_type_t id_type, const char *value, size_t value_len,
                                      int64_t created_ms);
int storage_suppression_list(storage_t *st, const storage_tenant_t *tenant, storage_suppression_cb cb, void *ctx);

/* Takes an id off the tenant's suppression list: new messages with it are
 * stored again (nothing deleted comes back). 0, STORAGE_ENOTFOUND (not on
 * the list), STORAGE_EINVAL (not a userId or anonymousId), STORAGE_EIO. */
int storage_suppression_remove(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id,
                               size_t id_len);

/* ---- tokens (rows only: hashing and formats belong to auth/) -------------- */
/* What a token may do, as bits of storage_token_row_t.permissions. Rows
 * created before permissions existed hold read and ingest (migration 6). */
enum {
    STORAGE_PERM_READ = 1,   /* the Profile API read routes */
    STORAGE_PERM_INGEST = 2, /* the ingestion routes */
    STORAGE_PERM_DELETE = 4, /* profile erasure */
};
#define STORAGE_PERM_ALL (STORAGE_PERM_READ | STORAGE_PERM_INGEST | STORAGE_PERM_DELETE)

typedef struct {
    const char *id;      /* public token id */
    const uint8_t *hash; /* 32 bytes */
    const char *client;
    const char *account;
    const char *brand; /* NULL: every brand of the account */
    const char *name;  /* may be NULL */
    int64_t created_ms;
    int64_t revoked_ms;   /* 0: not revoked */
    double rate;          /* requests/s; 0: server default */
    double burst;         /* 0: server default */
    unsigned permissions; /* STORAGE_PERM_* bits */
} storage_token_row_t;

/* Inserts a token row. STORAGE_EEXIST when the id is taken. */
int storage_token_insert(storage_t *st, const storage_token_row_t *row);

/* Marks a token revoked at now_ms. STORAGE_ENOTFOUND when no such id (or
 * already revoked). */
int storage_token_revoke(storage_t *st, const char *id, int64_t now_ms);

/* Calls cb for every token row (revoked ones too) in creation order; the row
 * and its strings are borrowed for the call only. Stops and returns cb's
 * value when it is non-zero. */
typedef int (*storage_token_cb)(void *ctx, const storage_token_row_t *row);
int storage_token_foreach(storage_t *st, storage_token_cb cb, void *ctx);

/* A number that changes whenever the token table changes (cheap: for
 * polling). 0 or STORAGE_EIO. */
int storage_token_generation(storage_t *st, int64_t *gen);

/* ---- computed traits and audiences -----------------------------------------
 * Definitions (docs/DEFINITIONS.md) say, per tenant, which computed traits
 * to keep (count, sum, min, max, first, last, most_frequent of events, all
 * time or over a window of days) and which dynamic audiences exist (rules
 * on traits, computed traits, event counts and lastActivityTime).
 *
 * A connection given definitions (storage_use_definitions) maintains their
 * state incrementally as it stores events (storage_ingest_message,
 * storage_import_ndjson; merges combine it), and its views show
 * "computed" (traits view) and the dynamic "audiences" (metadata and
 * audiences views), evaluated at read time from that state, the traits and
 * lastActivityTime with the connection's clock: windows never need a sweep.
 * A definition whose state is not complete yet (new or changed, until
 * storage_recompute has been through the tenant's profiles) shows what the
 * events since it was loaded give. State is keyed by what a definition
 * computes, not its name: renaming one or reloading the same file needs no
 * recompute. */

/* Makes st maintain and show defs (borrowed: it must outlive its use on st;
 * replace it, or pass NULL for none, before freeing it). Call on the thread
 * that uses st, between transactions. A connection that stores events
 * without the definitions another one maintains marks their state
 * incomplete, which the next storage_recompute repairs. Cannot fail. */
void storage_use_definitions(storage_t *st, const definitions_t *defs);

/* The clock read-time evaluation uses (windows, activeWithinDays): fn(ctx)
 * returns ms since the epoch. NULL restores the wall clock. For tests. */
typedef int64_t (*storage_clock_fn)(void *ctx);
void storage_set_clock(storage_t *st, storage_clock_fn fn, void *ctx);

/* The window of time over which the last view built on st
 * (storage_profile_view, storage_traits_view without `at`) keeps its
 * answer, by st's clock: it holds at every t with *from_ms <= t < *until_ms
 * unless the database or the definitions change. Windowed computed traits
 * change at the next UTC day boundary, an activeWithinDays rule a
 * millisecond after lastActivityTime + days; a view that read neither has
 * INT64_MIN and INT64_MAX. */
void storage_view_validity(const storage_t *st, int64_t *from_ms, int64_t *until_ms);

/* The change mark of st's database file: a copy of the header of SQLite's
 * WAL index (its shared memory), which every commit of any connection of
 * any process rewrites. Reading it takes no lock and never waits (plain
 * loads of the mapped memory, both copies compared as SQLite does), so it
 * may be called from any thread once the connection's owner has called it
 * (the first call maps the memory and must be made on that thread, after
 * storage_open). Two equal marks mean no commit in between. Returns 0, or
 * -1 when there is no mark (not WAL, header being written: treat as
 * changed). */
typedef struct {
    uint32_t w[12];
} storage_mark_t;
int storage_change_mark(storage_t *st, storage_mark_t *out);

/* ---- the commit journal (db/journal.c) -------------------------------------
 * What each commit of one connection (the server's writer) changed, kept in
 * a bounded ring of the last STORAGE_JOURNAL_SLOTS commits, so a reader of
 * change marks can tell which cached views a commit made old instead of
 * dropping them all. A commit is journaled from SQLite's own hooks: every
 * row it changed (preupdate hook) names the profile it belongs to (and an
 * identity row its (tenant, idType, value) too); a row of any other table
 * marks the commit as touching everything. The commit hook runs with the
 * write lock held, so the WAL-index header it reads is the one just
 * before the commit (its commit counter, iChange, then goes up by exactly
 * one); the WAL hook, after the commit, reads the one just after. A reader
 * follows the chain before -> after from a mark it saw to the one it sees
 * now; any gap (another connection or process committed, the ring
 * wrapped, a commit touched everything) is "broken": drop everything.
 * Tags are 64-bit hashes of a profile pk or of an identity key; two equal
 * tags may stand for different things (a harmless extra drop). */
#define STORAGE_JOURNAL_SLOTS 1024
typedef struct storage_journal storage_journal_t;
storage_journal_t *storage_journal_new(void);
void storage_journal_free(storage_journal_t *j);
/* Makes every commit of st recorded in j (one connection per journal; it
 * must be opened with STORAGE_NO_AUTOCHECKPOINT: the journal takes its WAL
 * hook). Call before st's first transaction, on the thread that opened it.
 * 0, or STORAGE_EINVAL (no WAL index, or autocheckpointing). */
int storage_journal_attach(storage_t *st, storage_journal_t *j);
enum {
    STORAGE_JOURNAL_OK = 0,      /* every commit from..to journaled; fn saw their tags */
    STORAGE_JOURNAL_PENDING = 1, /* the last is being committed: ask again */
    STORAGE_JOURNAL_BROKEN = -1, /* a commit in between is not journaled */
};
typedef void (*storage_tag_fn)(void *ctx, uint64_t tag);
/* Walks the commits between marks from and to (to not older than from),
 * calling fn(ctx, tag) for each tag of each (under the journal's lock:
 * fn must not call back into j). Two marks of the same database state
 * (equal, or a WAL restart in between) are OK at once. j may be NULL
 * (BROKEN unless the state is the same). Any thread. */
int storage_journal_walk(storage_journal_t *j, const storage_mark_t *from, const storage_mark_t *to, storage_tag_fn fn, void *ctx);
/* Whether two marks show the same database state: equal, or one is the
 * other with the WAL started over (no commit in between). */
bool storage_mark_same_state(const storage_mark_t *a, const storage_mark_t *b);
/* The tags of the last view built on st (storage_profile_view*,
 * storage_traits_view, and a first page of storage_events_begin;
 * storage_profile_views sets each item's): the
 * lookup key (tenant, idType, id) and the pk of every profile it read.
 * *tags is malloc'd (the caller frees), NULL with *n 0 when the view had
 * too many profiles to tag. */
void storage_view_tags(const storage_t *st, uint64_t **tags, size_t *n);

/* Completes the state of defs for existing profiles: for each tenant, the
 * keys of its definitions that are not complete are rebuilt from the
 * profiles' events, in short transactions of at most 500 profiles (and
 * about 5,000 events), so it can run on its own read-write connection
 * while the writer works. Progress is kept in the database: a later call
 * (after a stop, a failure or a restart) resumes. State of keys no longer
 * defined is dropped from the profiles it rebuilds.
 * Requirement: every connection that stores events must already use defs
 * (storage_use_definitions) when this starts; a write without them is
 * detected and makes the next call redo that tenant.
 * progress (may be NULL) is called with (done, total) profiles before the
 * first batch and after each committed one; a non-zero return stops the
 * rebuild after that batch. now_ms dates the windows.
 * Returns 0 (everything complete), 1 (stopped by progress), STORAGE_EINVAL
 * (a transaction is open on st), STORAGE_EIO / STORAGE_EBUSY (the batch in
 * flight is rolled back; call again later). */
typedef int (*storage_progress_cb)(void *ctx, uint64_t done, uint64_t total);
int storage_recompute(storage_t *st, const definitions_t *defs, int64_t now_ms, storage_progress_cb progress, void *ctx);

/* ---- static audiences -------------------------------------------------------
 * Static audience membership lives in the database (audience_members,
 * shown as "audiencesStatic"). A member list is CSV: an optional header row
 * naming a userId (or user_id) and/or an email column, or a single column
 * without header; fields may be quoted ("a,b", "" for a quote). Under an
 * email header a value must contain '@'; in a single headerless column a
 * value with '@' is an email, anything else a userId. Blank lines are
 * skipped; a UTF-8 BOM is ignored. Emails match case-insensitively and an
 * email leads to every profile that has it. */
typedef struct {
    uint64_t rows;     /* member rows read (not the header, not blank lines) */
    uint64_t matched;  /* rows whose profile(s) existed */
    uint64_t created;  /* profiles created (import) */
    uint64_t changed;  /* memberships added (import) or removed (remove) */
    uint64_t rejected; /* bad rows, each reported as "line N: reason" */
} storage_audience_counts_t;

/* Adds the members listed in the CSV text read from in to the tenant's
 * static audience name, creating a profile for an id no profile has
 * (createdBy {"filename": basename of filename, "createdTime", "type":
 * "audience-csv"}; a created email profile gets the "email" trait). Commits
 * every 10,000 rows. Bad rows go to errout (may be NULL) as "line N: reason"
 * and the others are imported. Returns 0, STORAGE_EINVAL when any row was
 * rejected or the header is unusable (st's message says which), STORAGE_EIO
 * / STORAGE_EBUSY. *counts (may be NULL) receives the counts. */
int storage_audience_import_csv(storage_t *st, const storage_tenant_t *tenant, const char *name, FILE *in, const char *filename,
                                FILE *errout, int64_t now_ms, storage_audience_counts_t *counts);

/* Removes the members listed in the CSV (same format) from the audience;
 * when in is NULL, removes the whole audience. A listed id that leads to no
 * profile is a bad row. Profiles are never deleted. Same returns as
 * storage_audience_import_csv; removing an audience that has no members is
 * STORAGE_ENOTFOUND. */
int storage_audience_remove(storage_t *st, const storage_tenant_t *tenant, const char *name, FILE *in, FILE *errout,
                            storage_audience_counts_t *counts);

/* Calls cb with each static audience of the tenant (by name) and its member
 * count; name is borrowed for the call. Stops and returns cb's value when
 * it is non-zero. 0 (also for an unknown tenant), or STORAGE_EIO. */
typedef int (*storage_audience_cb)(void *ctx, const char *name, uint64_t members);
int storage_audience_list(storage_t *st, const storage_tenant_t *tenant, storage_audience_cb cb, void *ctx);

#endif
