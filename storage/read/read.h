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

/* The statement (bound, not yet stepped) whose rows are the profiles an id
 * leads to in tenant tid, the columns the views read. *lower receives a
 * malloc'd lower-cased copy of an email that the caller frees once done
 * with the statement (NULL otherwise). NULL on failure (see errmsg). */
stg_stmt_t *stg_profile_lookup(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len, char **lower);

#endif
