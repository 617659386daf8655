/* storage_internal.h -- what the files of storage/ share and nobody else
 * sees: the connection struct, the table of prepared statements, the
 * identity cache, a JSON text buffer and the time/uuid/text helpers.
 * Cross-file functions carry the stg_ prefix so they cannot be mistaken for
 * the public storage_* API. */
#ifndef PROFILED_STORAGE_INTERNAL_H
#define PROFILED_STORAGE_INTERNAL_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include "storage.h"

/* Every SQL statement of the module, prepared lazily once per connection
 * (stmts.c holds the text). */
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
    S_PROFILE_ACTIVITY,
    S_PROFILE_AGE,
    S_TRAIT_UPSERT,
    S_EVENT_EXISTS,
    S_EVENT_ADD,
    S_MARK_UPSERT,
    S_MERGE_IDENTITIES,
    S_MERGE_IDENTITIES_DROP,
    S_MERGE_EVENTS,
    S_MERGE_TRAITS,
    S_MERGE_TRAITS_DROP,
    S_MERGE_MARKS,
    S_MERGE_MARKS_DROP,
    S_MERGE_AUDIENCES,
    S_MERGE_AUDIENCES_DROP,
    S_MERGE_PROFILE,
    S_MERGE_PROFILE_DROP,
    S_VIEW_BY_UUID,
    S_VIEW_BY_IDENTITY,
    S_VIEW_TRAITS,
    S_VIEW_MARKS,
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
    S_CURSOR_ADD,
    S_CURSOR_GET,
    S_CURSOR_MOVE,
    S_CURSOR_SWEEP,
    S_CURSOR_COUNT,
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
    S_COUNT
};

extern const char *const stg_stmt_sql[S_COUNT];

/* Identity cache: (tenant, id type, value) -> profile pk, valid for one
 * transaction. Cleared in O(1) by bumping a generation number. */
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
    sqlite3 *db;
    int flags;
    sqlite3_stmt *stmts[S_COUNT];
    char err[512];
    /* Last tenant resolved: API calls come in runs for one tenant. */
    char *tenant_key; /* client, account and brand bytes, back to back */
    size_t tenant_lens[3];
    int64_t tenant_id; /* 0: nothing cached */
    idcache_t ids;
    int64_t data_version; /* when ids was last known valid (storage.c) */
    defer_t defer;
    /* Computed traits and audiences (computed.c): the definitions in use
     * (borrowed), the last tenant's entry in them, and the tenants whose
     * computed keys this transaction has announced. */
    const definitions_t *defs;
    int64_t comp_tid; /* 0: nothing cached */
    const struct tenant_defs *comp_td;
    int64_t announced[8];
    size_t n_announced;
    storage_clock_fn clock; /* NULL: the wall clock */
    void *clock_ctx;
    storage_id_limits_t id_limits; /* when id_limits_set, else the defaults */
    bool id_limits_set;
};

/* The statement id of st, prepared on first use; NULL (and st->err set)
 * when SQLite refuses it. */
sqlite3_stmt *stg_stmt(storage_t *st, enum stmt_id id);

/* Records SQLite's message for rc and maps rc to STORAGE_EBUSY/EIO. */
int stg_db_error(storage_t *st, int rc);

/* Formats a message into st->err and returns code. */
int stg_fail(storage_t *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Steps a statement that returns no rows and resets it. */
int stg_step_done(storage_t *st, sqlite3_stmt *s);

/* Binds text with SQLITE_TRANSIENT; NULL binds NULL. */
int stg_bind_text(sqlite3_stmt *s, int idx, const char *p, size_t n);

/* Resolves the tenant to its row id; creates the row when create is set
 * (read-write connection). 0, STORAGE_ENOTFOUND or STORAGE_EIO. */
int stg_tenant_id(storage_t *st, const storage_tenant_t *t, bool create, int64_t *id);

/* Whether a transaction is open on st. */
bool stg_in_txn(const storage_t *st);

/* Forgets everything cached about rows (after a rollback). */
void stg_forget(storage_t *st);

/* SQL of migration step version -> version+1 (schema.c); NULL past the end. */
const char *stg_migration_sql(int version);

/* The "externalId" member of a profile (views.c): its userId, else its
 * email trait (email: that trait's JSON text, a string), else null. Shared
 * by the views and the events timeline. */
void stg_jb_external_id(jsonbuf_t *b, const char *user_id, size_t user_id_len, const char *email, size_t email_len);

/* A stored message's JSON text (raw, n bytes; NULL: none), spliced in
 * exactly as stored, never parsed and re-serialised (events.c). With drop
 * NULL it is a whole value (null when there is none): the events' rawData.
 * Otherwise it is written as an object left open for the caller to add its
 * members to and close (first/last events): the top-level members named in
 * drop (a NULL-ended list) are left out, and text that is not a valid
 * object opens an empty one. Shared by the events timeline and the
 * metadata view. */
void stg_jb_message(jsonbuf_t *b, const char *raw, size_t n, const char *const *drop);

/* Materialises a checked message inside the open transaction. raw is the
 * message's JSON text (stored as the event's raw data). */
int stg_ingest_checked(storage_t *st, int64_t tenant_id, const message_t *m, const char *raw, size_t raw_len,
                       const char *created_by_type, int64_t now_ms, char *err, size_t errlen);

/* ---- identity limits (idlimits.c) ---- */
/* The limit of id type (storage_id_type_t) on st; 0: none. */
int stg_id_limit(const storage_t *st, int type);
/* Distinct ids of type on profiles a and b together (b may equal a),
 * counting at most cap (reads at most about 2 * cap rows). */
int stg_id_count(storage_t *st, int64_t tid, int64_t a, int64_t b, int type, int cap, int *count);
/* Whether profiles a and b together (b may equal a: one profile) can also
 * take add[type] new ids of each type within st's limits. */
int stg_ids_fit(storage_t *st, int64_t tid, int64_t a, int64_t b, const int add[3], bool *fits);

/* Merges profile drop into keep (merge.c). Returns 0, 1 when the merge cap
 * forbids it (nothing changed) or a STORAGE_* error. */
int stg_profile_merge(storage_t *st, int64_t keep, int64_t drop, int64_t now_ms);
/* Orders two profiles by age (creation time, then pk). */
int stg_profile_order(storage_t *st, int64_t a, int64_t b, int64_t *older, int64_t *newer);

/* ---- per-message profile writes (defer.c): immediate, or combined in
 * memory while deferral is on and written by stg_defer_flush. ---- */
/* Sets updatedTime (now_ms), lastActivityTime (max with t when has_event)
 * and, when user_id is not NULL, the profile's userId. */
int stg_profile_touch(storage_t *st, int64_t pk, const char *user_id, size_t user_id_len, bool has_event, int64_t t,
                      int64_t now_ms);
/* Upserts a trait: value is JSON text; the newer ts wins, equal: this one. */
int stg_trait_put(storage_t *st, int64_t pk, const char *key, size_t key_len, const char *value, size_t value_len, int64_t ts);
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

/* ---- computed traits and audiences (computed/): see definitions.h for
 * the compiled form. */
/* The definitions entry of tenant row tid under st->defs (cached; NULL
 * when none). 0 or a STORAGE_* error. */
int stg_computed_tenant(storage_t *st, int64_t tid, const tenant_defs_t **td);

/* Forgets the recompute progress (computed_keys rows) of tenant tid's keys
 * that td (NULL: no definitions) no longer defines. */
int stg_keys_announce(storage_t *st, int64_t tid, const tenant_defs_t *td);

/* Before a write transaction changes a tenant's profiles: forgets every
 * key of the tenant that this connection does not maintain, so no state
 * is taken as complete after writes that skipped it (see recompute.c). */
int stg_computed_announce(storage_t *st, int64_t tid);

/* One event, as the definitions see it. */
typedef struct {
    const char *action;
    size_t action_len;
    span_t properties; /* object text; p NULL: none */
    const char *event_id;
    size_t event_id_len;
    int64_t t;
} comp_event_t;

/* Applies an event to the state of the profile for each definition of td
 * (only those with only[i] set when only is not NULL). Windowed values
 * before the window at now_ms are not kept. */
int stg_computed_apply(storage_t *st, int64_t pk, const tenant_defs_t *td, const bool *only, const comp_event_t *ev,
                       int64_t now_ms);

/* Rebuilds from its events the state of profile pk for the definitions of
 * td with only[i] set (NULL: all), and drops its state of keys td no longer
 * has. */
int stg_computed_rebuild(storage_t *st, int64_t pk, const tenant_defs_t *td, const bool *only, int64_t now_ms, uint64_t *events);

/* After a merge into keep: rebuilds keep's state of keys a recompute in
 * progress has already passed (its events changed under it). */
int stg_computed_after_merge(storage_t *st, int64_t keep, int64_t now_ms);

/* State writes (defer.c), combined in memory while deferral is on. */
int stg_comp_put(storage_t *st, int64_t pk, const char *key, comb_t comb, double num, const char *value, size_t value_len,
                 int64_t t, const char *event_id, size_t event_id_len);
int stg_comp_day(storage_t *st, int64_t pk, const char *key, comb_t comb, int64_t day, double num, int64_t floor_day);
int stg_comp_freq(storage_t *st, int64_t pk, const char *key, const char *value, size_t value_len, int64_t t);

/* Read-time side (evaluate.c): writes the "computed" object of profile pk,
 * or the names of the dynamic audiences it is in now (as strings, no
 * brackets). */
int stg_computed_json(storage_t *st, int64_t tid, int64_t pk, jsonbuf_t *b);
int stg_audiences_json(storage_t *st, int64_t tid, int64_t pk, bool active, int64_t last_activity_ms, jsonbuf_t *b);
/* The clock of read-time evaluation. */
int64_t stg_now(const storage_t *st);

/* Opens a transaction (BEGIN, or BEGIN IMMEDIATE for one that will write)
 * unless one is open, in which case pending deferred writes are flushed and
 * the caller's transaction is joined. *began says whether stg_txn_close must
 * end it. 0 or a STORAGE_* code. */
int stg_txn_open(storage_t *st, bool immediate, bool *began);

/* Ends what stg_txn_open began: COMMIT when ret is 0, else ROLLBACK.
 * Returns ret, or the COMMIT's failure. */
int stg_txn_close(storage_t *st, bool began, int ret);

/* The statement (bound, not yet stepped) whose rows are the profiles an id
 * leads to in tenant tid, the columns the views read. *lower receives a
 * malloc'd lower-cased copy of an email that the caller frees once done
 * with the statement (NULL otherwise). NULL on failure (see errmsg). */
sqlite3_stmt *stg_profile_lookup(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len,
                                 char **lower);

/* Steps a bound statement that yields one row and reads its first column
 * as an integer into *out, then resets it. 0, or STORAGE_EIO (also when no
 * row came). */
int stg_step_int64(storage_t *st, sqlite3_stmt *s, int64_t *out);

#endif
