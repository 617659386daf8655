/* db.h -- the core of storage/ that every other part of it stands on:
 * the connection struct, the statement interface the upper layers (write/,
 * read/, computed/) speak instead of SQLite, transactions, tenant row ids,
 * errors, the identity cache and the transaction's combined writes.
 *
 * The statement interface is the backend boundary: only the SQLite backend
 * (sqlite.c, integrity.c for `profiled check`, diskfull.c for tests) sees
 * SQLite's header;
 * its SQL text is in stmts.c and schema.c. The second backend, PostgreSQL
 * (pg.c, pgsql.c, at the end of this file), implements the section marked
 * "backend" below, its own table of statement texts (keyed by the same
 * ids) and the public calls that are about the database itself (storage_open, storage_close, storage_checkpoint,
 * storage_cache_mb, storage_vm_steps, storage_watch_damage,
 * storage_damaged, storage_check); what sits above -- view building,
 * event pages, merge rules, computed traits, the write combiner -- is
 * unchanged.
 * Cross-file functions carry the stg_ prefix so they cannot be mistaken
 * for the public storage_* API. */
#ifndef PROFILED_STORAGE_DB_H
#define PROFILED_STORAGE_DB_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "storage.h"

#define STG_SCROLL_KEY_BYTES 32 /* the scrollId key (stg_scroll_key_load) */

/* Every SQL statement of the module, prepared lazily once per connection
 * (the backend holds the text: stmts.c for SQLite). The ids are the
 * backend-neutral names of what each statement does. */
enum stmt_id {
    S_BEGIN,
    S_BEGIN_IMMEDIATE,
    S_COMMIT,
    S_DATA_VERSION,
    S_PAGE_SIZE,
    S_ROLLBACK,
    S_TENANT_GET,
    S_TENANT_ADD,
    S_IDENTITY_GET,
    S_IDENTITY_ADD,
    S_EMAIL_CANDIDATES,
    S_EMAIL_RECENT,
    S_IDENTITY_COUNT,
    S_IDENTITY_HAS,
    S_PROFILE_ADD,
    S_PROFILE_TOUCH,
    S_PROFILE_TOUCH_EVENT,
    S_PROFILE_USER_ID,
    S_PROFILE_ACTIVITY,
    S_PROFILE_AGE,
    S_TRAIT_STORED,
    S_TRAIT_PUT,
    S_HISTORY_ADD,
    S_EVENT_EXISTS,
    S_EVENT_ADD,
    S_EVENT_INDEX,
    S_EVENT_INDEX_KEY,
    S_EVENT_INDEX_HOT,
    S_EVENT_INDEX_KEY_HOT,
    S_EVENTS_HOT_COUNT,
    S_COMPACT_PROF_BOUND,
    S_COMPACT_PROF_MOVE,
    S_COMPACT_PROF_DROP,
    S_COMPACT_KEY_BOUND,
    S_COMPACT_KEY_MOVE,
    S_COMPACT_KEY_DROP,
    S_MARK_UPSERT_HOT,
    S_COMPACT_MARKS_BOUND,
    S_COMPACT_MARKS_MOVE,
    S_COMPACT_MARKS_DROP,
    S_MERGE_MARKS_HOT,
    S_MERGE_MARKS_HOT_DROP,
    S_VIEW_MARKS_HOT_HAS,
    S_VIEW_MARKS_BOTH,
    S_MARK_UPSERT,
    S_MERGE_IDENTITIES,
    S_MERGE_IDENTITIES_DROP,
    S_MERGE_EVENTS,
    S_MERGE_EVENT_PROF,
    S_MERGE_EVENT_PROF_HOT,
    S_MERGE_TRAITS,
    S_MERGE_HISTORY,
    S_MERGE_TRAITS_DROP,
    S_MERGE_MARKS,
    S_MERGE_MARKS_DROP,
    S_MERGE_AUDIENCES,
    S_MERGE_AUDIENCES_DROP,
    S_MERGE_PROFILE,
    S_MERGE_PROFILE_TIMES,
    S_MERGE_PROFILE_DROP,
    S_VIEW_BY_UUID,
    S_VIEW_BY_IDENTITY,
    S_VIEW_EMAIL_PAGE,
    S_VIEW_TRAITS,
    S_VIEW_TRAITS_BY_IDENTITY,
    S_VIEW_TRAITS_BY_UUID,
    S_VIEW_TRAITS_AT,
    S_VIEW_MARKS,
    S_VIEW_MARKS_LAST,
    S_VIEW_AUDIENCES,
    S_VIEW_IDENTITIES,
    S_LIST,
    S_TOKEN_ADD,
    S_TOKEN_REVOKE,
    S_TOKEN_ALL,
    S_TOKEN_GENERATION,
    S_EVENTS_ASC_FIRST,
    S_EVENTS_ASC_NEXT,
    S_EVENTS_DESC_FIRST,
    S_EVENTS_DESC_NEXT,
    S_EVENTS_MARK,
    S_EVENTS_PROFILES,
    S_SCROLL_KEY_ADD,
    S_SCROLL_KEY_GET,
    S_HISTORY_PAGE,
    S_HISTORY_MARK,
    S_HISTORY_SWEEP,
    /* computed traits and audiences */
    S_TENANT_NAMES,
    S_TENANTS_ALL,
    S_TRAIT_GET,
    S_COMP_UPSERT,
    S_COMP_DAY_UPSERT,
    S_COMP_DAY_PRUNE,
    S_COMP_FREQ_UPSERT,
    S_COMP_GET,
    S_COMP_DAYS_GET,
    S_COMP_FREQ_TOP,
    S_COMP_CLEAR,
    S_COMP_DAYS_CLEAR,
    S_COMP_FREQ_CLEAR,
    S_MERGE_COMP,
    S_MERGE_COMP_DROP,
    S_MERGE_COMP_DAYS,
    S_MERGE_COMP_DAYS_DROP,
    S_MERGE_COMP_FREQ,
    S_MERGE_COMP_FREQ_DROP,
    S_KEYS_ANNOUNCE,
    S_KEYS_FRESH_TENANT,
    S_KEYS_GET,
    S_KEYS_PUT,
    S_KEYS_PASSED,
    S_RECOMPUTE_PROFILES,
    S_RECOMPUTE_COUNT,
    S_PROFILE_EVENTS,
    S_AUD_ADD,
    S_AUD_REMOVE_MEMBER,
    S_AUD_DELETE,
    S_AUD_LIST,
    /* erasure (write/erase.c) */
    S_ERASE_BY_UUID,
    S_ERASE_SUPPRESS_IDS,
    S_ERASE_EVENT_KEYS,
    S_ERASE_EVENT_KEYS_HOT,
    S_ERASE_EVENTS,
    S_ERASE_EVENT_PROF,
    S_ERASE_EVENT_PROF_HOT,
    S_ERASE_HISTORY,
    S_SUPPRESS_HAS,
    S_SUPPRESS_LIST,
    S_SUPPRESS_REMOVE,
    /* an ingest group's locks on PostgreSQL (write/locks.c) */
    S_LOCK_KEYS,
    S_LOCK_PROFILES,
    /* a run's messageIds stored already, pks for its events (pgseen.c);
     * a transaction's pending rows, a set a statement (pgrows.c);
     * PostgreSQL's only */
    S_EVENTS_SEEN,
    S_EVENT_PKS,
    S_PROFILE_PKS,
    S_PROFILE_ADD_AT,
    S_IDS_LOOKUP,
    S_EVENTS_ADD_MANY,
    S_MARKS_UPSERT_MANY,
    S_PROFILES_TOUCH_MANY,
    S_PROFILES_ACTIVITY_MANY,
    S_TRAITS_UPSERT_MANY,
    S_COUNT
};

/* ---- the statement interface (backend) ---- */

/* A prepared statement of the backend; opaque above db/. */
typedef struct stg_stmt stg_stmt_t;
/* The backend's connection handle; opaque above the backend. */
typedef struct stg_conn stg_conn_t;

/* What stg_step returns besides a STORAGE_* error (always < 0). */
enum { STG_DONE = 0, STG_ROW = 1 };

/* Column types (stg_col_type). */
enum { STG_INTEGER = 1, STG_FLOAT = 2, STG_TEXT = 3, STG_BLOB = 4, STG_NULL = 5 };

/* The statement id of st, prepared on first use and kept for the life of
 * the connection; NULL (and st->err set) when the backend refuses it. */
stg_stmt_t *stg_stmt(storage_t *st, enum stmt_id id);

/* Runs s to its next row: STG_ROW, STG_DONE, or a STORAGE_* error whose
 * message is in st->err (STORAGE_EBUSY when locked, else STORAGE_EIO). */
int stg_step(storage_t *st, stg_stmt_t *s);

/* Makes s ready to run again; its bindings stay. */
void stg_reset(stg_stmt_t *s);

/* Statements v[0..n) (at most STG_PG_PIPE_MAX), each bound, are about to
 * be run inside a read transaction, none depends on another's rows, and
 * nothing runs in between that could change what they read: on PostgreSQL
 * they are sent in one exchange and each answer kept for its first
 * stg_step (pgpipe.c); on SQLite nothing happens. A NULL entry is
 * skipped. */
void stg_prefetch(storage_t *st, stg_stmt_t *const *v, int n);

/* The read transaction open on st, in which nothing has run yet, will run
 * one statement: on PostgreSQL it goes alone, with no BEGIN or COMMIT
 * (one statement sees one snapshot); on SQLite nothing happens. A
 * statement run after it anyway opens the transaction, with a snapshot of
 * its own. */
void stg_read_one(storage_t *st);

/* The statement's text, for messages. */
const char *stg_stmt_text(stg_stmt_t *s);

/* Parameters are numbered from 1. Text and blobs are copied. */
void stg_bind_int64(stg_stmt_t *s, int idx, int64_t v);
void stg_bind_int(stg_stmt_t *s, int idx, int v);
void stg_bind_double(stg_stmt_t *s, int idx, double v);
void stg_bind_null(stg_stmt_t *s, int idx);
/* NULL p binds NULL. */
void stg_bind_text(stg_stmt_t *s, int idx, const char *p, size_t n);
void stg_bind_blob(stg_stmt_t *s, int idx, const void *p, size_t n);

/* Columns of the current row, numbered from 0. Text and blob pointers stay
 * valid until the next step or reset of s; stg_col_bytes is their length
 * (read it after the pointer). */
int64_t stg_col_int64(stg_stmt_t *s, int i);
int stg_col_int(stg_stmt_t *s, int i);
double stg_col_double(stg_stmt_t *s, int i);
const char *stg_col_text(stg_stmt_t *s, int i);
const void *stg_col_blob(stg_stmt_t *s, int i);
int stg_col_bytes(stg_stmt_t *s, int i);
int stg_col_type(stg_stmt_t *s, int i);

/* A statement of sql outside enum stmt_id (?n placeholders, SQL both
 * backends read alike): for storage/'s whole-table work (copy.c), whose
 * statements are made from a table of columns. Prepared now (SQLite) or
 * at its first step (PostgreSQL); the caller's, freed by stg_stmt_free
 * before st closes (NULL: nothing). NULL, and st->err set, when SQLite
 * refuses it; PostgreSQL's refusal comes from the first stg_step. */
stg_stmt_t *stg_stmt_sql(storage_t *st, const char *sql);
void stg_stmt_free(stg_stmt_t *s);

/* Rows the last finished insert, update or delete changed, and the row id
 * of the last insert, on st. */
int64_t stg_changes(storage_t *st);
int64_t stg_last_id(storage_t *st);

/* Whether a transaction is open on st. */
bool stg_in_txn(const storage_t *st);

/* Sets the log size (in pages) past which a commit copies the log back
 * into the database; 0: never (the caller checkpoints). */
void stg_autocheckpoint(storage_t *st, int pages);

/* ---- identity cache (idcache.c) ---- */

/* (tenant, id type, value) -> profile pk, valid while no other connection
 * commits (see storage.c). Cleared in O(1) by bumping a generation number. */
typedef struct {
    uint64_t hash;
    int64_t tenant_id;
    int64_t profile_pk;
    char *value;
    uint32_t len;
    uint32_t cap;
    uint32_t gen;
    int id_type;
} idcache_slot_t;

typedef struct {
    idcache_slot_t *slots;
    size_t mask;
    size_t used;
    uint32_t gen;
} idcache_t;

void stg_idcache_init(idcache_t *c, size_t slots_pow2);
void stg_idcache_dispose(idcache_t *c);
void stg_idcache_clear(idcache_t *c);
/* Returns the cached pk or 0. */
int64_t stg_idcache_get(const idcache_t *c, int64_t tenant_id, int id_type, const char *v, size_t n);
void stg_idcache_put(idcache_t *c, int64_t tenant_id, int id_type, const char *v, size_t n, int64_t pk);

/* Pending writes of a bulk import (defer.c). */
typedef struct deferred deferred_t;
typedef struct {
    deferred_t *items;
    size_t n, cap;
    uint32_t *index; /* open addressing: item index + 1, 0 empty */
    size_t index_mask;
    bool enabled;
} defer_t;

struct storage {
    int page_bytes; /* of the database, once a checkpoint asked */
    stg_conn_t *db; /* the backend's */
    int flags;
    stg_stmt_t *stmts[S_COUNT];
    char err[512];
    /* Last tenant resolved: API calls come in runs for one tenant. */
    char *tenant_key; /* client, account and brand bytes, back to back */
    size_t tenant_lens[3];
    int64_t tenant_id; /* 0: nothing cached */
    idcache_t ids;
    int64_t data_version; /* when ids was last known valid (storage.c) */
    defer_t defer;
    /* Computed traits and audiences (computed/): the definitions in use
     * (borrowed), the last tenant's entry in them, and the tenants whose
     * computed keys this transaction has announced. */
    const definitions_t *defs;
    int64_t comp_tid; /* 0: nothing cached */
    const struct tenant_defs *comp_td;
    int64_t announced[8];
    size_t n_announced;
    storage_clock_fn clock; /* NULL: the wall clock */
    void *clock_ctx;
    /* the last view's time window (storage_view_validity): readings of
     * the clock it made, and the earliest moment its answer could change */
    int64_t view_from_ms, view_until_ms;
    /* the WAL index header SQLite maps (storage_change_mark); shm_tried:
     * looked for it once */
    const volatile uint32_t *shm;
    bool shm_tried;
    storage_id_limits_t id_limits; /* when id_limits_set, else the defaults */
    bool id_limits_set;
    int trait_history_days; /* storage_set_trait_history; 0: off */
    /* Messages ingest refused for a suppressed id (write/erase.c): those of
     * the open transaction, and those committed on this connection. */
    uint64_t suppressed_pending;
    uint64_t suppressed_total;
    /* The database's key sealing scrollIds (read/cursor.c), read at open. */
    unsigned char scroll_key[STG_SCROLL_KEY_BYTES];
    /* HMAC-SHA256 under that key, set up once at the load (an EVP_MAC_CTX
     * that read/cursor.c re-initialises per tag: no algorithm lookup per
     * scrollId); NULL when OpenSSL would not make one. */
    void *scroll_mac;
    /* The last first page's scroll state after it (read/cursor.c, for
     * storage_scroll_kept): its sealed bytes without the tag, and where
     * the page's data array stands in its body (offset, length). NULL:
     * none. */
    unsigned char *scroll_kept;
    size_t scroll_kept_len, scroll_kept_data, scroll_kept_data_len;
    /* An events page's scratch (read/events.c): its rows and their texts,
     * kept for the next page on this connection (freed at close, or after
     * a page that grew them past 4 MiB). */
    void *page_rows;
    size_t page_rows_cap;
    jsonbuf_t page_text;
    /* A page's data array before its head is put in front (read/cursor.c
     * build), kept likewise: a 100-event page is then one copy into its
     * body, not a chain of reallocs growing from 4 KB. */
    jsonbuf_t page_data;
    /* Write transactions committed on this connection (storage_commits):
     * read by other threads, hence atomic. */
    _Atomic uint64_t commits;
    /* The commit journal (journal.c): the one this connection records in
     * (NULL: none), the tags the open transaction's row changes named (all:
     * one it cannot name), and the commit number the commit hook announced
     * that the WAL hook has not yet confirmed (pending). */
    struct storage_journal *journal;
    uint64_t *jr_tags;
    size_t jr_n, jr_cap;
    bool jr_all, jr_pending;
    uint32_t jr_commit;
    bool hot_events;   /* storage_hot_events */
    int64_t hot_count; /* events stored hot, as last counted (-1: unknown) */
    /* a compaction round (storage_events_compact): the cursors of its three
     * tables (entries by profile, by key; marks), each past the last key
     * moved (INT64_MAX: that one is done) */
    bool cmp_round;
    int64_t cmp_prof, cmp_key, cmp_marks;
    bool jr_quiet; /* a compaction step: its row changes change no view */
    /* The last view's tags (storage_view_tags): its lookup key and the pk
     * of each profile it read; over: too many to keep. */
    uint64_t *view_tags;
    size_t view_ntags, view_tags_cap;
    bool view_tags_over;
    /* The PostgreSQL backend (pg.c): this connection is one; the row count
     * and id of its last statement (stg_changes, stg_last_id); the write
     * generation it last saw; a write transaction is open. */
    bool pg;
    int64_t pg_changes, pg_last_id, pg_gen;
    bool pg_writing;
    bool pg_shared; /* the write transaction holds the write lock's shared form (write/locks.c) */
    bool pg_dirty;  /* a statement of the open transaction changed rows */
    /* A transaction was begun and not yet ended by COMMIT or ROLLBACK: kept
     * here, not asked of libpq, which says "none" once the connection is
     * lost -- and a statement must then fail, not run on a new connection
     * outside the transaction. */
    bool pg_txn;
    unsigned pg_sql_seq; /* statements stg_stmt_sql made (their names) */
    char *pg_url;        /* the URL it was opened with (pgnotify.c's watcher) */
    char *pg_wb;         /* deferred writes, sent with the next statement (pgdefer.c) */
    size_t pg_wb_len, pg_wb_cap;
    struct stg_seen *pg_seen; /* the run's messageIds and event pks (pgseen.c) */
    struct stg_rows *pg_rows; /* the transaction's pending rows (pgrows.c) */
    uint64_t pg_round_trips;  /* statements sent and answered (storage_round_trips) */
    uint64_t pg_rows_in;      /* rows of their answers (storage_rows_received) */
    /* pgpipe.c: a read transaction begun, its BEGIN not sent yet (it goes
     * with the first statement); a read transaction ended, its COMMIT (the
     * prepared statement pg_commit_name) not sent yet. */
    bool pg_begin_lazy;
    bool pg_commit_held;
    bool pg_read_one;    /* stg_read_one: the lazy BEGIN is not sent with the next statement */
    uint64_t pg_txn_seq; /* transactions begun and ended: an answer asked ahead is for its own only */
    const char *pg_commit_name;
};

/* ---- a run of messages' questions, asked once (pgseen.c) ---- */
/* The dedup key of an eventId: a 47-bit hash (see the events table). */
int64_t stg_event_key(const char *id, size_t n);
/* Gathers an event of the run: its messageId (NULL: none given, it needs a
 * pk only). The text must stay until the run is dropped. No-op on SQLite. */
void stg_seen_want(storage_t *st, const char *id, size_t n);
/* Gathers an id of the run whose profile the identity cache lacks: the
 * fetch puts the ones stored there (unless the group's locks did:
 * write/locks.c). The text must stay until the fetch. */
void stg_seen_want_id(storage_t *st, int type, const char *v, size_t n);
/* What the run's lookup said of an id it gathered, when the run holds the
 * exclusive write lock (no one else links ids meanwhile); 0: unknown, ask
 * the database. Linked by the run since: present. */
#define STG_SEEN_KNOWN 1
#define STG_SEEN_PRESENT 2 /* stored, or linked by the run */
#define STG_SEEN_SUPPRESSED 4
int stg_seen_id(storage_t *st, int type, const char *v, size_t n);
/* Known to the run's lookup and not stored (nor linked since). */
bool stg_seen_absent(storage_t *st, int type, const char *v, size_t n);
void stg_seen_id_linked(storage_t *st, int type, const char *v, size_t n);
/* A pk for a new profile of such a run, taken from the sequence with the
 * others the run may need at its first call (S_PROFILE_PKS; one a new
 * id, in order); 0: none (not such a run, none left, or *err set). */
int64_t stg_seen_profile_pk(storage_t *st, int *err);
/* Asks, inside the open transaction, for what the run gathered; then the
 * run is ready (until dropped). */
int stg_seen_fetch(storage_t *st, int64_t tenant_id);
bool stg_seen_ready(const storage_t *st);
/* Whether the run's messageId is stored (1) or not (0), counting what the
 * run stored (stg_seen_stored); -1: not gathered, ask the database. The
 * run is of one tenant: the caller's. */
int stg_seen_lookup(storage_t *st, const char *id, size_t n);
void stg_seen_stored(storage_t *st, const char *id, size_t n);
/* The next pk fetched for the run's events; 0: none left. */
int64_t stg_seen_pk(storage_t *st);
/* Runs statement id with tenant $1 and the array literals of id types $2
 * and values $3 (closed here), each answered row (type, value, profile)
 * into the identity cache (pgseen.c; write/locks.c). */
int stg_pg_ids_to_cache(storage_t *st, enum stmt_id id, int64_t tid, jsonbuf_t *types, jsonbuf_t *values);
/* One array literal's element, after a comma unless b holds "{" alone;
 * a text ("..." escaped) or an integer. */
void stg_pg_array_text(jsonbuf_t *b, const char *v, size_t n);
void stg_pg_array_int(jsonbuf_t *b, int64_t v);
/* An id appended to the array literals of id types and values, which it
 * opens when types is empty (stg_pg_ids_to_cache closes them). */
void stg_pg_ids_add(jsonbuf_t *types, jsonbuf_t *values, int type, const char *v, size_t n);

/* ---- a write transaction's pending rows (pgrows.c, PostgreSQL) ---- */
/* Whether rows can be pending (a PostgreSQL transaction is open). An
 * event with its pk; a mark, a touch, an activity time (defer.c's flush,
 * each key once a set); each set sent as one statement by stg_rows_flush
 * (pg.c: before any other statement, and before COMMIT); _discard forgets
 * them (BEGIN, ROLLBACK). */
typedef struct {
    int64_t pk, tenant_id, profile_pk, time_ms, received_ms, key;
    const char *event_id, *action, *name, *type, *source, *raw; /* name may be NULL */
    size_t event_id_len, action_len, name_len, type_len, source_len, raw_len;
} stg_event_row_t;
/* A message behind a trait value: its time, messageId (NULL: none) and
 * source. */
typedef struct {
    int64_t ts;
    const char *message_id, *source;
    size_t message_id_len, source_len;
} stg_provenance_t;
bool stg_rows_on(const storage_t *st);
/* A trait's value upserted with latest's provenance; when it replaces a
 * different value and history is kept, a history row with first's
 * provenance, unless first is older than the value replaced (latest's
 * then), as the one-row upsert of defer.c does. A key already in the set
 * sends the sets first (the error of that, or 0). */
int stg_rows_trait(storage_t *st, int64_t tid, int64_t pk, const char *key, size_t key_len, const char *value, size_t value_len,
                   const stg_provenance_t *latest, const stg_provenance_t *first);
void stg_rows_event(storage_t *st, const stg_event_row_t *r);
void stg_rows_mark(storage_t *st, int64_t pk, const char *action, size_t action_len, int64_t first_pk, int64_t first_t,
                   int64_t last_pk, int64_t last_t);
void stg_rows_touch(storage_t *st, int64_t pk, int64_t now_ms, const char *user_id, size_t user_id_len);
void stg_rows_activity(storage_t *st, int64_t pk, int64_t t);
/* id may run before the pending rows are sent: one of the sets' own
 * statements, or one that reads and writes nothing they write. */
bool stg_rows_pass(enum stmt_id id);
bool stg_rows_pending(const storage_t *st);
int stg_rows_flush(storage_t *st);
void stg_rows_discard(storage_t *st);
void stg_rows_free(storage_t *st);
/* Ends the run (also on every begin, commit and rollback); _free at close. */
void stg_seen_drop(storage_t *st);
void stg_seen_free(storage_t *st);

/* ---- the commit journal (journal.c) ---- */
/* The tag of a profile pk, and of an identity key (an email's value as
 * stored: lower-cased). */
uint64_t stg_tag_profile(int64_t pk);
uint64_t stg_tag_identity(int64_t tenant_id, int id_type, const char *v, size_t n);
/* From the backend's hooks, on a connection with a journal: a row change
 * of the open transaction names tag / cannot be named; the commit hook
 * (write lock held; before: the WAL-index header then, NULL when it could
 * not be read); the WAL hook after a commit (after: the header then, NULL
 * when unreadable); the end of every statement or exec (an announced
 * commit the WAL hook did not confirm made no commit: void); a rollback. */
void stg_journal_tag(storage_t *st, uint64_t tag);
void stg_journal_everything(storage_t *st);
void stg_journal_commit_begins(storage_t *st, const storage_mark_t *before);
void stg_journal_committed(storage_t *st, const storage_mark_t *after);
void stg_journal_settle(storage_t *st);
void stg_journal_rolled_back(storage_t *st);
/* The backend's part of storage_journal_attach: installs the row and WAL
 * hooks on st. 0 or STORAGE_EINVAL. */
int stg_journal_hooks(storage_t *st);
/* A commit the backend learnt of otherwise (PostgreSQL: another replica's,
 * from its notification): generation gen-1 -> gen with its n tags, or
 * touching everything (all). A slot the writer's own commit holds is left. */
void stg_journal_record(storage_journal_t *j, int64_t gen, const uint64_t *tags, size_t n, bool all);
/* The mark of a PostgreSQL database at write generation gen. */
void stg_mark_of_generation(storage_mark_t *m, int64_t gen);
/* views.c, as it reads a view: the lookup (first), then each profile. */
void stg_view_tags_begin(storage_t *st, int64_t tenant_id, storage_id_type_t type, const char *id, size_t id_len);
void stg_view_tags_pk(storage_t *st, int64_t pk);

/* ---- the connection (storage.c) ---- */

/* A connection struct with nothing open yet, and its release (the backend
 * has closed its handle and statements by then). */
storage_t *stg_conn_new(int flags);
void stg_conn_free(storage_t *st);

/* Formats a message into st->err and returns code. */
int stg_fail(storage_t *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Steps a statement that returns no rows and resets it. */
int stg_step_done(storage_t *st, stg_stmt_t *s);

/* Steps a bound statement that yields one row and reads its first column
 * as an integer into *out, then resets it. 0, or STORAGE_EIO (also when no
 * row came). */
int stg_step_int64(storage_t *st, stg_stmt_t *s, int64_t *out);

/* Resolves the tenant to its row id; creates the row when create is set
 * (read-write connection). 0, STORAGE_ENOTFOUND or STORAGE_EIO. */
int stg_tenant_id(storage_t *st, const storage_tenant_t *t, bool create, int64_t *id);

/* After a commit: what held for one transaction only. */
void stg_committed(storage_t *st);

/* The scrollId key (schema step 9): stg_scroll_key_create writes 32 random
 * bytes (OpenSSL's RAND_bytes) unless a key is there, inside the migration's
 * transaction; stg_scroll_key_load reads it into st->scroll_key. 0 or
 * STORAGE_EIO. */
int stg_scroll_key_create(storage_t *st);
int stg_scroll_key_load(storage_t *st);

/* Forgets everything cached about rows (after a rollback). */
void stg_forget(storage_t *st);

/* Opens a transaction (BEGIN, or BEGIN IMMEDIATE for one that will write)
 * unless one is open, in which case pending deferred writes are flushed and
 * the caller's transaction is joined. *began says whether stg_txn_close must
 * end it. 0 or a STORAGE_* code. */
int stg_txn_open(storage_t *st, bool immediate, bool *began);

/* Ends what stg_txn_open began: COMMIT when ret is 0, else ROLLBACK.
 * Returns ret, or the COMMIT's failure. */
int stg_txn_close(storage_t *st, bool began, int ret);

/* The tail of a read that built a JSON body in b: ends the transaction as
 * stg_txn_close does, then hands b's text over to the caller (*body, *len;
 * theirs to free) when all went well, else frees it. Returns what
 * stg_txn_close returned. */
int stg_txn_close_body(storage_t *st, bool began, int ret, jsonbuf_t *b, char **body, size_t *len);

/* Whether (type, v) is on the tenant's suppression list (erasure, see
 * write/erase.c): ingest and static-audience imports refuse such ids.
 * 0 or a STORAGE_* error. */
int stg_suppressed(storage_t *st, int64_t tid, int type, const char *v, size_t n, bool *suppressed);

/* A malloc'd, NUL-terminated copy of text column col of s's current row,
 * its length in *len; NULL (and 0) when the column is NULL. */
char *stg_col_copy(stg_stmt_t *s, int col, size_t *len);

/* ---- the row writes of one message (defer.c): immediate, or -- while
 * deferral is on -- combined in memory per (profile, key) and written by
 * stg_defer_flush, which the transaction code runs before a commit or a
 * read that joins the transaction (and stg_forget discards after a
 * rollback). Used by write/ (touch, traits, marks) and computed/ (state):
 * so it sits here, below both. ---- */
/* Sets updatedTime (now_ms), lastActivityTime (max with t when has_event)
 * and, when user_id is not NULL, the profile's userId. */
int stg_profile_touch(storage_t *st, int64_t pk, const char *user_id, size_t user_id_len, bool has_event, int64_t t,
                      int64_t now_ms);
/* The message a trait write comes from (its provenance; borrowed): the
 * tenant (history rows carry it), the messageId (NULL: the message has
 * none) and the source (as events.source). */
typedef struct {
    int64_t tenant_id;
    const char *message_id;
    size_t message_id_len;
    const char *source;
    size_t source_len;
} stg_trait_src_t;
/* Upserts a trait: value is JSON text; the newer ts wins, equal: this one.
 * The row keeps src's messageId and source; when the value changes and the
 * connection keeps history (st->trait_history_days > 0) a trait_history row
 * is appended in the same transaction. */
int stg_trait_put(storage_t *st, const stg_trait_src_t *src, int64_t pk, const char *key, size_t key_len, const char *value,
                  size_t value_len, int64_t ts);
/* Records an event as a candidate first/last of its action. */
int stg_mark_event(storage_t *st, int64_t pk, const char *action, size_t action_len, int64_t event_pk, int64_t t,
                   const char *event_id, size_t event_id_len);
/* Turns deferral on, or off after flushing. */
int stg_defer_enable(storage_t *st, bool on);
/* Writes what is pending: before a commit, a merge, or a query
 * that reads those rows. */
int stg_defer_flush(storage_t *st);
/* Forgets it (its transaction was rolled back). */
void stg_defer_discard(storage_t *st);
void stg_defer_dispose(storage_t *st);

/* Computed trait state (see definitions.h for comb_t), combined the same way. */
int stg_comp_put(storage_t *st, int64_t pk, const char *key, comb_t comb, double num, const char *value, size_t value_len,
                 int64_t t, const char *event_id, size_t event_id_len);
int stg_comp_day(storage_t *st, int64_t pk, const char *key, comb_t comb, int64_t day, double num, int64_t floor_day);
int stg_comp_freq(storage_t *st, int64_t pk, const char *key, const char *value, size_t value_len, int64_t t);

/* ---- shared by the SQLite backend's files only ---- */

/* The SQL text of each statement id (stmts.c). */
extern const char *const stg_sqlite_sql[S_COUNT];
/* SQL of migration step version -> version+1 (schema.c); NULL past the end. */
const char *stg_migration_sql(int version);
/* Tests (diskfull.c): with PROFILED_DEBUG_DISK_FULL_FILE set, makes a shim
 * of SQLite's default VFS the default, whose writes answer SQLITE_FULL
 * while that file exists; otherwise does nothing. Called once, after
 * sqlite3_config and before the first connection opens. */
void stg_disk_full_shim_install(void);

/* ---- SQL text both backends' statements share (stmts.c, pgsql.c) ----
 * The first/last-event upsert: keeps the earliest (time, eventId) as first
 * and the latest as last; used by the per-event upsert, the merge of two
 * profiles' marks and (SQLite) the compaction of the hot marks. The rows
 * hold no eventIds (schema 5): a tie in time, rare, reads them from the
 * events. t is the target table; coll the collation the eventIds compare
 * under ("" for SQLite's BINARY, " COLLATE \"C\"" for PostgreSQL). */
#define STG_MARK_COLS "profile_pk, event_action, first_pk, first_time_ms, last_pk, last_time_ms"

#define STG_FIRST_TIE(t, coll)                                                                                                     \
    "(SELECT event_id" coll " FROM events WHERE pk = excluded.first_pk) < (SELECT event_id FROM events WHERE pk = " t ".first_pk)"
#define STG_LAST_TIE(t, coll)                                                                                                      \
    "(SELECT event_id" coll " FROM events WHERE pk = excluded.last_pk) > (SELECT event_id FROM events WHERE pk = " t ".last_pk)"
#define STG_FIRST_EARLIER(t, coll)                                                                                                 \
    "(excluded.first_time_ms < " t ".first_time_ms"                                                                                \
    " OR (excluded.first_time_ms = " t ".first_time_ms AND " STG_FIRST_TIE(t, coll) "))"
#define STG_LAST_LATER(t, coll)                                                                                                    \
    "(excluded.last_time_ms > " t ".last_time_ms"                                                                                  \
    " OR (excluded.last_time_ms = " t ".last_time_ms AND " STG_LAST_TIE(t, coll) "))"
#define STG_MARKS_MERGE_INTO(t, coll)                                                                                              \
    " ON CONFLICT(profile_pk, event_action) DO UPDATE SET"                                                                         \
    "  first_pk = CASE WHEN " STG_FIRST_EARLIER(                                                                                   \
        t, coll) " THEN excluded.first_pk ELSE " t ".first_pk END,"                                                                \
                 "  first_time_ms = CASE WHEN " STG_FIRST_EARLIER(                                                                 \
                     t, coll) " THEN excluded.first_time_ms ELSE " t ".first_time_ms END,"                                         \
                              "  last_pk = CASE WHEN " STG_LAST_LATER(                                                             \
                                  t, coll) " THEN excluded.last_pk ELSE " t ".last_pk END,"                                        \
                                           "  last_time_ms = CASE WHEN " STG_LAST_LATER(                                           \
                                               t, coll) " THEN excluded.last_time_ms ELSE " t ".last_time_ms END"                  \
                                                        " WHERE " STG_FIRST_EARLIER(t, coll) " OR " STG_LAST_LATER(t, coll)

/* ---- the PostgreSQL backend (pg.c, pgsql.c) ----
 * sqlite.c hands each call of the statement interface here for a
 * connection with st->pg set, or a statement whose pointer carries
 * STG_PG_TAG (a low bit no allocation has). */
struct pg_result; /* libpq's PGresult */
#define STG_PG_TAG 1u
#define STG_IS_PG(s) (((uintptr_t)(s)&STG_PG_TAG) != 0)
extern const char *const stg_pg_sql[S_COUNT];
extern const char stg_pg_same[]; /* an entry of stg_pg_sql: stg_sqlite_sql's text, ?n as $n */
extern const bool stg_pg_returns_id[S_COUNT];
int stg_pg_schema_version(void);
const char *stg_pg_migration_sql(int version);
/* Whether path is a libpq connection URL (postgres:// or postgresql://). */
bool stg_pg_url(const char *path);
int stg_pg_open(storage_t **out, const char *url, int flags, char *errbuf, size_t errlen);
void stg_pg_close(storage_t *st);
/* pgpipe.c: sql (no parameters; several statements allowed) run: 0 or a
 * code; and the first column of its last row into *v. */
int stg_pg_exec(storage_t *st, const char *sql);
int stg_pg_exec_int64(storage_t *st, const char *sql, int64_t *v);
/* pgpipe.c: the session's settings, on a connection just made. */
int stg_pg_session(storage_t *st);
/* Records the failure of res (NULL: of the connection) in st->err with
 * what (may be NULL) and maps it to a code. */
int stg_pg_error(storage_t *st, struct pg_result *res, const char *what);
/* At open (pgmigrate.c): the missing schema steps, or (read-only) the
 * version checked. */
int stg_pg_migrate(storage_t *st);
int stg_pg_check_version(storage_t *st);
stg_stmt_t *stg_pg_stmt(storage_t *st, enum stmt_id id);
stg_stmt_t *stg_pg_stmt_sql(storage_t *st, const char *sql);
void stg_pg_stmt_free(stg_stmt_t *s);
int stg_pg_step(storage_t *st, stg_stmt_t *s);
/* pgdefer.c: writes sent with the next statement that needs an answer */
bool stg_pg_deferrable(enum stmt_id id, const char *sql);
bool stg_pg_defer_add(storage_t *st, const char *name, int n, const char *const *vals, const int *lens, const int *fmts);
void stg_pg_defer_drop(storage_t *st);
/* pgpipe.c: statements sent in one pipeline (see there). A call is a
 * prepared statement and its values; res its answer (NULL: none came, the
 * connection failed), for the caller to clear. */
#define STG_PG_PIPE_MAX 8
typedef struct stg_pg_call {
    const char *name;
    int nparams;
    const char *const *vals;
    const int *lens;
    const int *fmts;
    struct pg_result *res;
} stg_pg_call_t;
/* A held COMMIT, then the prepared statement begin (NULL: none), then
 * calls[0..n), n <= STG_PG_PIPE_MAX, in one exchange; the answer of a
 * COMMIT or BEGIN that failed becomes calls[0]'s. */
void stg_pg_pipe_run(storage_t *st, const char *begin, stg_pg_call_t *calls, int n);
/* A held COMMIT sent alone: before anything else is sent on the
 * connection, and by storage_idle. */
void stg_pg_pipe_settle(storage_t *st);
/* pgnotify.c: the change mark and the other replicas' commits (see there) */
int stg_pg_change_mark(storage_t *st, storage_mark_t *out);
void stg_pg_watch_journal(storage_journal_t *j);
/* In COMMIT of a write transaction: raises meta.write_generation into *gen
 * and notifies it with the transaction's tags (journaled as pending);
 * after COMMIT answered, whether it committed. */
int stg_pg_next_generation(storage_t *st, int64_t *gen);
void stg_pg_generation_done(storage_t *st, int64_t gen, bool committed);
void stg_pg_journal_stmt(storage_t *st, enum stmt_id id, const char *const *vals, const int *lens, int64_t added_id);
const char *stg_pg_notify_payload(const storage_t *st, char *buf, size_t cap);
void stg_pg_reset(stg_stmt_t *s);
const char *stg_pg_stmt_text(stg_stmt_t *s);
void stg_pg_bind_int64(stg_stmt_t *s, int idx, int64_t v);
void stg_pg_bind_double(stg_stmt_t *s, int idx, double v);
void stg_pg_bind_null(stg_stmt_t *s, int idx);
void stg_pg_bind_text(stg_stmt_t *s, int idx, const char *p, size_t n);
void stg_pg_bind_blob(stg_stmt_t *s, int idx, const void *p, size_t n);
int64_t stg_pg_col_int64(stg_stmt_t *s, int i);
double stg_pg_col_double(stg_stmt_t *s, int i);
const char *stg_pg_col_text(stg_stmt_t *s, int i);
const void *stg_pg_col_blob(stg_stmt_t *s, int i);
int stg_pg_col_bytes(stg_stmt_t *s, int i);
int stg_pg_col_type(stg_stmt_t *s, int i);
bool stg_pg_in_txn(const storage_t *st);
void stg_pg_prefetch(storage_t *st, stg_stmt_t *const *v, int n);
void stg_pg_read_one(storage_t *st);

#endif
