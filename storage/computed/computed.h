/* computed.h -- what the files of storage/computed/ share with the layers
 * above (write/ and read/): keeping computed traits and audiences up to
 * date as events arrive (computed.c, recompute.c, audience.c) and
 * evaluating them when a profile is read (evaluate.c). Stands on db/ only. */
#ifndef PROFILED_STORAGE_COMPUTED_H
#define PROFILED_STORAGE_COMPUTED_H

#include <stdbool.h>
#include <stdint.h>
#include "../db/db.h"

/* See definitions.h for the compiled form of the definitions. */
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

/* Read-time side (evaluate.c): writes the "computed" object of profile pk,
 * or the names of the dynamic audiences it is in now (as strings, no
 * brackets). */
int stg_computed_json(storage_t *st, int64_t tid, int64_t pk, jsonbuf_t *b);
int stg_audiences_json(storage_t *st, int64_t tid, int64_t pk, bool active, int64_t last_activity_ms, jsonbuf_t *b);
/* The clock of read-time evaluation. */
int64_t stg_now(const storage_t *st);

#endif
