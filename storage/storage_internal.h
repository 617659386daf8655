/* storage_internal.h -- what the files of storage/ share and nobody else
 * sees: the connection struct, the table of prepared statements, the
 * identity cache, a JSON text buffer and the time/uuid/text helpers.
 * Cross-file functions carry the stg_ prefix so they cannot be mistaken for
 * the public storage_* API. */
#ifndef PROFILED_STORAGE_INTERNAL_H
#define PROFILED_STORAGE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include "storage.h"

#include "db/db.h"

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

/* The statement (bound, not yet stepped) whose rows are the profiles an id
 * leads to in tenant tid, the columns the views read. *lower receives a
 * malloc'd lower-cased copy of an email that the caller frees once done
 * with the statement (NULL otherwise). NULL on failure (see errmsg). */
stg_stmt_t *stg_profile_lookup(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len, char **lower);

#endif
