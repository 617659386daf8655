/* read.h -- what the files of storage/read/ share: the profile views
 * (views.c), the events timeline and metadata (events.c), trait history
 * (history.c) and the scroll cursors of both (cursor.c). Stands on
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
 * drop (a NULL-ended list) are left out, and text that is not an object
 * opens an empty one. The text was checked strictly when stored and is
 * trusted, as rawData is: its top-level names are compared and its values
 * skipped (strings by memchr), and with no name in drop it is spliced;
 * only a clash (or bytes the walk does not expect) has it checked
 * strictly, then its members walked again.
 * Shared by the events timeline and the metadata view. */
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

/* ---- a page's kept scratch (st->page_text, st->page_data) ---- */
#define STG_PAGE_SCRATCH_KEEP (4u << 20) /* a scratch past this is freed after its page */

/* b emptied for a page, allocated on its first use. */
static inline void
stg_scratch_take(jsonbuf_t *b)
{
    if (b->data == NULL)
        base_jb_init(b, 64 * 1024);
    b->len = 0;
    b->data[0] = '\0';
}

/* After the page: b kept for the next, unless it grew past the bound. */
static inline void
stg_scratch_done(jsonbuf_t *b)
{
    if (b->cap > STG_PAGE_SCRATCH_KEEP)
        base_jb_free(b);
}

/* ---- scroll cursors (cursor.c) ---- */
#define STG_SCROLL_MAX_LIMIT 100
#define STG_SCROLL_INLINE 16      /* profiles a scrollId carries; more: looked up again */
#define STG_SCROLL_MAX_QUERY 4096 /* include, exclude and trait bytes a scroll seals */
#define STG_SCROLL_ID_MAX 8192    /* the longest scrollId issued or accepted */
#define STG_SCROLL_EVENTS 'e'
#define STG_SCROLL_HISTORY 'h'
#define STG_SCROLL_NONCE_BYTES 16   /* a scroll's random identity */
#define STG_SCROLL_TABLE_MAX 100000 /* scrolls the process's table holds */

/* A scroll: what its scrollId seals. All strings malloc'd (NULL: none). */
typedef struct {
    char kind;   /* STG_SCROLL_EVENTS or STG_SCROLL_HISTORY */
    int64_t tid; /* the tenant's row id */
    /* The profiles of this page: pks[npks], and as a JSON array. */
    int64_t *pks;
    size_t npks;
    char *profiles;
    size_t nprofiles; /* found at the first page */
    bool resolve;     /* past STG_SCROLL_INLINE: looked up from the path each page, pk <= pmark */
    int64_t pmark;
    char *include, *exclude; /* events: JSON arrays of lower-cased keys */
    char *trait;             /* history: the trait key */
    size_t trait_len;
    int64_t start_ms, end_ms, mark;
    /* PostgreSQL: the snapshot the mark was taken in (pg_snapshot's text),
     * so that rows below the mark committed later are left out too
     * (replicas commit in any order); NULL on SQLite, whose one writer
     * commits in pk order */
    char *snap;
    size_t snap_len;
    bool desc;
    int limit;
    bool has_pos; /* (pos_time_ms, pos_id): the last row returned */
    int64_t pos_time_ms;
    char *pos_id;
    size_t pos_id_len;
    int64_t expires_ms; /* the scrollId's deadline */
    /* The scroll's identity, the same in each of its scrollIds, and the
     * page sequence number of this one (1: the first page's). */
    unsigned char nonce[STG_SCROLL_NONCE_BYTES];
    uint64_t seq;
} stg_scroll_t;

void stg_scroll_free(stg_scroll_t *sc);

/* Builds the "data" array of the page after sc's position into data and
 * moves sc's position to its last row. STORAGE_ENOTFOUND (events) when one
 * of the scroll's profiles is gone: erased, or merged away. */
typedef int (*stg_page_fn)(storage_t *st, const storage_tenant_t *t, int64_t tid, stg_scroll_t *sc, jsonbuf_t *data);

/* Starts a scroll over the profiles id leads to: sc holds the query (its
 * strings are taken over and freed here, whatever happens); the profiles
 * and the mark (mark_stmt's one integer) are found here, in one read
 * transaction with the first page (page). The body is {"scrollId", "data"}.
 * Returns 0 with *body, STORAGE_ENOTFOUND (no profile), STORAGE_EINVAL
 * (limit, or a query too long to seal), STORAGE_EIO / STORAGE_EBUSY. */
int stg_scroll_begin(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                     stg_scroll_t *sc, enum stmt_id mark_stmt, stg_page_fn page, int64_t now_ms, int64_t ttl_ms, char **body,
                     size_t *len);
/* The next page of the scroll scroll_id seals, presented on the path
 * (id_type, id), of kind and of the tenant: a read transaction, the body
 * with the scrollId of the page after. STORAGE_ENOTFOUND for any other id. */
int stg_scroll_next(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                    const char *scroll_id, size_t scroll_id_len, char kind, stg_page_fn page, int64_t now_ms, int64_t ttl_ms,
                    char **body, size_t *len);
/* Opens a scrollId for the path (id_type, id): 0 with sc filled (the
 * caller frees it) when it is authentic under st's key, of kind, and
 * before its deadline at now_ms; else STORAGE_ENOTFOUND, sc empty. Any
 * bytes at all are safe to pass. */
int stg_scroll_unseal(const storage_t *st, storage_id_type_t id_type, const char *id, size_t id_len, const char *scroll_id,
                      size_t scroll_id_len, char kind, int64_t now_ms, stg_scroll_t *sc);

/* ---- the process's scroll table (scrolltab.c) ----
 * nonce -> the newest position issued for that scroll, shared by every
 * thread, bounded (STG_SCROLL_TABLE_MAX, or PROFILED_DEBUG_SCROLL_TABLE
 * read once; 0 turns it off), the oldest evicted first, entries dead at
 * their deadline. */
/* True, with pos's position (has_pos, pos_time_ms, pos_id: malloc'd) and
 * seq set, when the table holds sc's scroll at a later sequence than sc's
 * and before its deadline at now_ms. */
bool stg_scrolltab_newer(const stg_scroll_t *sc, int64_t now_ms, stg_scroll_t *pos);
/* Records sc's position, sequence and deadline for its nonce (unless a
 * later sequence is there already). */
void stg_scrolltab_put(const stg_scroll_t *sc, int64_t now_ms);
/* Entries held (tests). */
size_t stg_scrolltab_count(void);

/* The oldest change time st's trait-history retention keeps now
 * (history.c). */
int64_t stg_history_oldest(const storage_t *st);

#endif
