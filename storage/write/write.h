/* write.h -- what the files of storage/write/ share: ingest of checked
 * messages (ingest.c), merges (merge.c), identity limits (idlimits.c) and
 * bulk import (import.c). Stands on computed/ (and through it db/); read/
 * is not seen from here. */
#ifndef PROFILED_STORAGE_WRITE_H
#define PROFILED_STORAGE_WRITE_H

#include <stdbool.h>
#include <stdint.h>
#include "../computed/computed.h"

/* Materialises a checked message inside the open transaction. raw is the
 * message's JSON text (stored as the event's raw data). */
int stg_ingest_checked(storage_t *st, int64_t tenant_id, const message_t *m, const char *raw, size_t raw_len,
                       const char *created_by_type, int64_t now_ms, char *err, size_t errlen);

/* Gathers the message into the run whose questions are asked at once
 * (db/pgseen.c): its event, the ids the identity cache lacks; a run's
 * messages so, then stg_seen_fetch, then the messages. */
void stg_seen_want_message(storage_t *st, int64_t tenant_id, const message_t *m);

/* The email a message tells about, lower-cased: identify's traits.email,
 * else context.traits.email; its length, 0 when none (locks.c). */
#define STG_MAX_EMAIL_BYTES 320
size_t stg_message_email(const message_t *m, char out[STG_MAX_EMAIL_BYTES + 1]);

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

#endif
