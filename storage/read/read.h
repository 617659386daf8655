/* read.h -- what the files of storage/read/ share: the profile views
 * (views.c) and the events timeline and metadata (events.c). Stands on
 * computed/ (and through it db/); write/ is not seen from here. */
#ifndef PROFILED_STORAGE_READ_H
#define PROFILED_STORAGE_READ_H

#include <stdbool.h>
#include <stdint.h>
#include "../computed/computed.h"

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

/* A profile as the views and the events timeline read it. */
typedef struct {
    int64_t pk;
    char *uuid, *user_id; /* uuid "" rather than NULL */
    size_t uuid_len, user_id_len;
    /* the views' columns (see stg_profile_rows) */
    int64_t created_ms, updated_ms, last_ms;
    bool active; /* last_ms is set */
    char *created_by;
    size_t created_by_len;
    /* the timeline's: JSON text of the "email" trait when it is a string */
    char *email;
    size_t email_len;
} stg_profile_t;

/* Collects the profile rows of the bound statement s (views.c), so it is
 * reset before any per-profile query runs. Its columns are pk, uuid,
 * user_id, then either (with_email) the email trait's JSON text, or the
 * created, updated and last-activity times and created_by (the views').
 * The array is the caller's to release with stg_profiles_free. */
int stg_profile_rows(storage_t *st, stg_stmt_t *s, bool with_email, stg_profile_t **out, size_t *count);
void stg_profiles_free(stg_profile_t *p, size_t n);

/* The statement (bound, not yet stepped) whose rows are the profiles an id
 * leads to in tenant tid, the columns the views read. *lower receives a
 * malloc'd lower-cased copy of an email that the caller frees once done
 * with the statement (NULL otherwise). NULL on failure (see errmsg). */
stg_stmt_t *stg_profile_lookup(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len, char **lower);

#endif
