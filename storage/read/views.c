/* views.c -- the JSON bodies of the profile endpoints (traits -- also
 * verbose, or as they stood at a time --, metadata, audiences, external
 * ids) and of the profile list, each read inside one
 * read transaction (a batch lookup: several views in one). Trait values and the messages of first/last events
 * are stored as JSON text and spliced in as stored, never re-serialised.
 * Computed traits and dynamic audiences come from evaluate.c. */
#include <stdlib.h>
#include <string.h>
#include "../read/read.h"

/* Fields each view adds after the traits: a trait of the same name is left
 * out so the body never has duplicate keys. */
static const char *const reserved_traits[] = {"id", "externalId", "computed", NULL};
static const char *const reserved_metadata[] = {"id",          "externalId",      "_subscriptionId",  "createdBy",
                                                "createdTime", "updatedTime",     "firstEvent",       "lastEvent",
                                                "audiences",   "audiencesStatic", "lastActivityTime", NULL};
static const char *const reserved_audiences[] = {"id", "externalId", "audiences", "audiencesStatic", NULL};
static const char *const *const reserved[] = {
    [STORAGE_VIEW_TRAITS] = reserved_traits,
    [STORAGE_VIEW_METADATA] = reserved_metadata,
    [STORAGE_VIEW_AUDIENCES] = reserved_audiences,
    [STORAGE_VIEW_EXTERNAL_IDS] = NULL, /* no traits in that view */
};

void
stg_profiles_free(stg_profile_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].uuid);
        free(p[i].user_id);
        free(p[i].created_by);
        free(p[i].email);
    }
    free(p);
}

/* The profile of s's row (columns PROFILE_COLS; with_email: pk, uuid,
 * user_id, the email trait) into r. */
static void
profile_row(stg_stmt_t *s, bool with_email, stg_profile_t *r)
{
    memset(r, 0, sizeof(*r));
    r->pk = stg_col_int64(s, 0);
    r->uuid = stg_col_copy(s, 1, &r->uuid_len);
    r->user_id = stg_col_copy(s, 2, &r->user_id_len);
    if (r->uuid == NULL && (r->uuid = strdup("")) == NULL) /* NOT NULL: only if SQLite ran out of memory */
        abort();
    if (with_email) {
        r->email = stg_col_copy(s, 3, &r->email_len);
        /* Only a string trait is an email (as in write_traits). */
        if (r->email != NULL && r->email[0] != '"') {
            free(r->email);
            r->email = NULL;
            r->email_len = 0;
        }
        return;
    }
    r->created_ms = stg_col_int64(s, 3);
    r->updated_ms = stg_col_int64(s, 4);
    r->active = stg_col_type(s, 5) != STG_NULL;
    r->last_ms = stg_col_int64(s, 5);
    r->created_by = stg_col_copy(s, 6, &r->created_by_len);
}

int
stg_profile_rows(storage_t *st, stg_stmt_t *s, bool with_email, stg_profile_t **out, size_t *count)
{
    stg_profile_t *p = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = 0;
    *out = NULL;
    *count = 0;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            stg_profile_t *q = base_xrealloc(p, cap * sizeof(*p));
            p = q;
        }
        profile_row(s, with_email, &p[n++]);
    }
    if (rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    if (ret != 0) {
        stg_profiles_free(p, n);
        return ret;
    }
    *out = p;
    *count = n;
    return 0;
}

static bool
is_reserved(const char *const *list, const char *key, size_t n)
{
    for (; list != NULL && *list != NULL; list++)
        if (strlen(*list) == n && memcmp(*list, key, n) == 0)
            return true;
    return false;
}

/* A trait's value with its provenance (?verbose=true): the columns value,
 * ts_ms, message_id, source of s from col. */
static void
write_verbose(jsonbuf_t *b, stg_stmt_t *s, int col)
{
    base_jb_open(b, '{');
    base_jb_rawkey(b, "value", 5);
    base_jb_raw(b, stg_col_text(s, col), (size_t)stg_col_bytes(s, col));
    base_jb_rawkey(b, "updatedTime", 11);
    base_jb_time(b, stg_col_int64(s, col + 1));
    static const char *const names[] = {"messageId", "source"};
    for (int i = 0; i < 2; i++) {
        const char *v = stg_col_text(s, col + 2 + i);
        if (v == NULL) /* unknown: the message had none, or before schema 8 */
            continue;
        base_jb_key(b, names[i], strlen(names[i]));
        base_jb_str(b, v, (size_t)stg_col_bytes(s, col + 2 + i));
    }
    base_jb_close(b, '}');
}

/* Writes the traits of s's rows, the row stepped to (rc) and the rest
 * (columns key, value, ts_ms, message_id, source from col: a NULL key is
 * no trait), as members (when emit), and returns the JSON text of the
 * "email" trait when that is a string (for externalId). verbose: with
 * their provenance. 0 or the failed step's code. */
static int
trait_rows(storage_t *st, stg_stmt_t *s, int col, int rc, const char *const *skip, bool emit, bool verbose, jsonbuf_t *b,
           char **email)
{
    for (; rc == STG_ROW; rc = stg_step(st, s)) {
        const char *key = stg_col_text(s, col);
        size_t key_len = (size_t)stg_col_bytes(s, col);
        const char *value = stg_col_text(s, col + 1);
        size_t value_len = (size_t)stg_col_bytes(s, col + 1);
        if (key == NULL || value == NULL)
            continue;
        if (key_len == 5 && memcmp(key, "email", 5) == 0 && value[0] == '"' && *email == NULL) {
            if ((*email = strdup(value)) == NULL)
                abort();
        }
        if (emit && !is_reserved(skip, key, key_len)) {
            base_jb_key(b, key, key_len);
            if (verbose)
                write_verbose(b, s, col + 1);
            else
                base_jb_raw(b, value, value_len);
        }
    }
    return rc == STG_DONE ? 0 : rc;
}

/* trait_rows of the profile's traits, read by their own statement. With o
 * (may be NULL): verbose members, or the traits as they stood at o->at_ms
 * (from the kept history). */
static int
write_traits(storage_t *st, int64_t tid, const stg_profile_t *p, const char *const *skip, bool emit, const storage_traits_opts_t *o,
             jsonbuf_t *b, char **email)
{
    bool at = o != NULL && o->has_at;
    stg_stmt_t *s = stg_stmt(st, at ? S_VIEW_TRAITS_AT : S_VIEW_TRAITS);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, p->pk);
    if (at) {
        stg_bind_int64(s, 2, tid);
        stg_bind_int64(s, 3, o->at_ms);
        stg_bind_int64(s, 4, stg_history_oldest(st));
    }
    int ret = trait_rows(st, s, 0, stg_step(st, s), skip, emit, o != NULL && o->verbose, b, email);
    stg_reset(s);
    return ret;
}

/* The members a first/last event adds to its stored message. */
static const char *const mark_fields[] = {"eventId", "receivedTime", "eventTime", "action", NULL};

/* A text column as a JSON string (null if SQLite hands over none). */
static void
write_column_str(jsonbuf_t *b, stg_stmt_t *s, int col)
{
    const char *p = stg_col_text(s, col);
    if (p != NULL)
        base_jb_str(b, p, (size_t)stg_col_bytes(s, col));
    else
        base_jb_raw(b, "null", 4);
}

/* firstEvent / lastEvent: {eventAction: the stored message, its text as
 * stored, + eventId, receivedTime, eventTime, action}. */
static int
write_marks(storage_t *st, const stg_profile_t *p, bool last, jsonbuf_t *b)
{
    /* hot marks (schema step 11) are rare at read time: a seek says whether
     * this profile has any, and only then are both levels sorted together */
    stg_stmt_t *s = stg_stmt(st, S_VIEW_MARKS_HOT_HAS);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, p->pk);
    int has = stg_step(st, s);
    stg_reset(s);
    if (has != STG_ROW && has != STG_DONE)
        return has;
    if ((s = stg_stmt(st, has == STG_ROW ? S_VIEW_MARKS_BOTH : last ? S_VIEW_MARKS_LAST : S_VIEW_MARKS)) == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, p->pk);
    stg_bind_int(s, 2, last);
    base_jb_rawkey(b, last ? "lastEvent" : "firstEvent", last ? 9 : 10);
    base_jb_open(b, '{');
    int rc;
    char prev[256];
    int prev_len = -1; /* the action just written: its row from the other level comes next, and is not shown */
    while ((rc = stg_step(st, s)) == STG_ROW) {
        const char *action = stg_col_text(s, 0);
        int alen = action != NULL ? stg_col_bytes(s, 0) : 0;
        if (prev_len == alen && memcmp(prev, action != NULL ? action : "", (size_t)alen) == 0)
            continue;
        if (alen < (int)sizeof(prev)) {
            memcpy(prev, action != NULL ? action : "", (size_t)alen);
            prev_len = alen;
        } else {
            prev_len = -1; /* too long to remember: no eventAction is (segment/message.c caps them) */
        }
        base_jb_key(b, action != NULL ? action : "", (size_t)alen);
        const char *raw = stg_col_text(s, 5);
        stg_jb_message(b, raw, (size_t)stg_col_bytes(s, 5), mark_fields);
        base_jb_rawkey(b, "eventId", 7);
        write_column_str(b, s, 1);
        base_jb_rawkey(b, "receivedTime", 12);
        base_jb_time(b, stg_col_int64(s, 3));
        base_jb_rawkey(b, "eventTime", 9);
        base_jb_time(b, stg_col_int64(s, 2));
        base_jb_rawkey(b, "action", 6);
        write_column_str(b, s, 4);
        base_jb_close(b, '}');
    }
    base_jb_close(b, '}');
    int ret = rc == STG_DONE ? 0 : rc;
    stg_reset(s);
    return ret;
}

/* "audiences": [dynamic names], "audiencesStatic": [static names]. The
 * dynamic ones are the definitions' audiences the profile is in now, then
 * any stored membership rows (is_static = 0), which come first. */
static int
write_audiences(storage_t *st, int64_t tid, const stg_profile_t *p, jsonbuf_t *b)
{
    base_jb_rawkey(b, "audiences", 9);
    base_jb_open(b, '[');
    int ret = stg_audiences_json(st, tid, p->pk, p->active, p->last_ms, b);
    if (ret != 0)
        return ret;
    stg_stmt_t *s = stg_stmt(st, S_VIEW_AUDIENCES);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, p->pk);
    bool in_static = false;
    int rc;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        if (stg_col_int(s, 1) != 0 && !in_static) {
            base_jb_close(b, ']');
            base_jb_rawkey(b, "audiencesStatic", 15);
            base_jb_open(b, '[');
            in_static = true;
        }
        base_jb_str(b, stg_col_text(s, 0), (size_t)stg_col_bytes(s, 0));
    }
    base_jb_close(b, ']');
    if (!in_static) {
        base_jb_rawkey(b, "audiencesStatic", 15);
        base_jb_open(b, '[');
        base_jb_close(b, ']');
    }
    ret = rc == STG_DONE ? 0 : rc;
    stg_reset(s);
    return ret;
}

static int
write_external_ids(storage_t *st, int64_t tid, const stg_profile_t *p, jsonbuf_t *b)
{
    stg_stmt_t *s = stg_stmt(st, S_VIEW_IDENTITIES);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, p->pk);
    stg_bind_int64(s, 2, tid);
    base_jb_rawkey(b, "externalIds", 11);
    base_jb_open(b, '[');
    int rc;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        int type = stg_col_int(s, 0);
        if (type < 0 || type > STORAGE_ID_EMAIL)
            continue;
        base_jb_open(b, '{');
        base_jb_rawkey(b, "type", 4);
        base_jb_str(b, storage_id_type_name(type), strlen(storage_id_type_name(type)));
        base_jb_rawkey(b, "id", 2);
        base_jb_str(b, stg_col_text(s, 1), (size_t)stg_col_bytes(s, 1));
        base_jb_close(b, '}');
    }
    base_jb_open(b, '{');
    base_jb_rawkey(b, "type", 4);
    base_jb_str(b, "id", 2);
    base_jb_rawkey(b, "id", 2);
    base_jb_str(b, p->uuid, strlen(p->uuid));
    base_jb_close(b, '}');
    base_jb_close(b, ']');
    int ret = rc == STG_DONE ? 0 : rc;
    stg_reset(s);
    return ret;
}

/* base64 of "clientId:accountId:id" */
static void
write_subscription_id(const storage_tenant_t *t, const stg_profile_t *p, jsonbuf_t *b)
{
    size_t uuid_len = strlen(p->uuid);
    size_t n = t->client_len + t->account_len + uuid_len + 2;
    unsigned char *plain = malloc(n);
    char *enc = malloc(4 * ((n + 2) / 3) + 1);
    if (plain == NULL || enc == NULL)
        abort();
    memcpy(plain, t->client, t->client_len);
    plain[t->client_len] = ':';
    memcpy(plain + t->client_len + 1, t->account, t->account_len);
    plain[t->client_len + 1 + t->account_len] = ':';
    memcpy(plain + t->client_len + t->account_len + 2, p->uuid, uuid_len);
    size_t enc_len = base_base64(plain, n, enc);
    base_jb_rawkey(b, "_subscriptionId", 15);
    base_jb_str(b, enc, enc_len);
    free(plain);
    free(enc);
}

void
stg_jb_external_id(jsonbuf_t *b, const char *user_id, size_t user_id_len, const char *email, size_t email_len)
{
    base_jb_rawkey(b, "externalId", 10);
    if (user_id != NULL)
        base_jb_str(b, user_id, user_id_len);
    else if (email != NULL)
        base_jb_raw(b, email, email_len);
    else
        base_jb_raw(b, "null", 4);
}

/* A view's statements once its profile is known, asked at once (see
 * stg_prefetch; on PostgreSQL one exchange instead of one each), bound as
 * write_traits, write_marks, write_audiences and write_external_ids bind
 * them. The marks are those of a profile with no hot level, which
 * PostgreSQL does not keep (on SQLite prefetching does nothing). */
static void
prefetch_view(storage_t *st, int64_t tid, const stg_profile_t *p, storage_view_t view)
{
    stg_stmt_t *v[4] = {stg_stmt(st, S_VIEW_TRAITS), NULL, NULL, NULL};
    int n = 1;
    if (view == STORAGE_VIEW_METADATA) {
        v[n++] = stg_stmt(st, S_VIEW_MARKS);
        v[n++] = stg_stmt(st, S_VIEW_MARKS_LAST);
    }
    if (view == STORAGE_VIEW_METADATA || view == STORAGE_VIEW_AUDIENCES)
        v[n++] = stg_stmt(st, S_VIEW_AUDIENCES);
    if (view == STORAGE_VIEW_EXTERNAL_IDS && (v[n++] = stg_stmt(st, S_VIEW_IDENTITIES)) != NULL)
        stg_bind_int64(v[n - 1], 2, tid);
    for (int i = 0; i < n; i++)
        if (v[i] != NULL)
            stg_bind_int64(v[i], 1, p->pk);
    if (view == STORAGE_VIEW_METADATA && v[1] != NULL && v[2] != NULL) {
        stg_bind_int(v[1], 2, 0);
        stg_bind_int(v[2], 2, 1);
    }
    stg_prefetch(st, v, n);
}

/* The view of profile p; joined: the statement its traits come from,
 * stepped to their first row (TRAIT_COLS from column 7: load_joined), or
 * NULL. */
static int
build_view(storage_t *st, const storage_tenant_t *t, int64_t tid, const stg_profile_t *p, storage_view_t view,
           const storage_traits_opts_t *o, stg_stmt_t *joined, jsonbuf_t *b)
{
    char *email = NULL;
    int ret;
    if (view != STORAGE_VIEW_TRAITS)
        prefetch_view(st, tid, p, view);
    base_jb_open(b, '{');
    if (joined != NULL)
        ret = trait_rows(st, joined, 7, STG_ROW, reserved[view], true, o != NULL && o->verbose, b, &email);
    else
        ret = write_traits(st, tid, p, reserved[view], view != STORAGE_VIEW_EXTERNAL_IDS, o, b, &email);
    if (ret != 0)
        goto fail;
    base_jb_rawkey(b, "id", 2);
    base_jb_str(b, p->uuid, strlen(p->uuid));
    stg_jb_external_id(b, p->user_id, p->user_id != NULL ? strlen(p->user_id) : 0, email, email != NULL ? strlen(email) : 0);

    switch (view) {
    case STORAGE_VIEW_TRAITS:
        if (o != NULL && o->has_at) /* computed traits have no history */
            break;
        base_jb_rawkey(b, "computed", 8);
        if ((ret = stg_computed_json(st, tid, p->pk, b)) != 0)
            goto fail;
        break;
    case STORAGE_VIEW_METADATA:
        write_subscription_id(t, p, b);
        base_jb_rawkey(b, "createdBy", 9);
        if (p->created_by != NULL)
            base_jb_raw(b, p->created_by, strlen(p->created_by));
        else
            base_jb_raw(b, "null", 4);
        base_jb_rawkey(b, "createdTime", 11);
        base_jb_time(b, p->created_ms);
        base_jb_rawkey(b, "updatedTime", 11);
        base_jb_time(b, p->updated_ms);
        if ((ret = write_marks(st, p, false, b)) != 0 || (ret = write_marks(st, p, true, b)) != 0)
            goto fail;
        if ((ret = write_audiences(st, tid, p, b)) != 0)
            goto fail;
        base_jb_rawkey(b, "lastActivityTime", 16);
        if (p->active)
            base_jb_time(b, p->last_ms);
        else
            base_jb_raw(b, "null", 4);
        break;
    case STORAGE_VIEW_AUDIENCES:
        if ((ret = write_audiences(st, tid, p, b)) != 0)
            goto fail;
        break;
    case STORAGE_VIEW_EXTERNAL_IDS:
        if ((ret = write_external_ids(st, tid, p, b)) != 0)
            goto fail;
        break;
    }
    base_jb_close(b, '}');
fail:
    free(email);
    return ret;
}

/* stg_profile_lookup with statements by_uuid (tenant, uuid) and
 * by_identity (tenant, id type, value) of the caller's choice. */
static stg_stmt_t *
lookup_with(storage_t *st, enum stmt_id by_uuid, enum stmt_id by_identity, int64_t tid, storage_id_type_t id_type, const char *id,
            size_t id_len, char **lower)
{
    stg_stmt_t *s;
    *lower = NULL;
    if (id_type == STORAGE_ID_INTERNAL) {
        if ((s = stg_stmt(st, by_uuid)) == NULL)
            return NULL;
        stg_bind_int64(s, 1, tid);
        stg_bind_text(s, 2, id, id_len);
        return s;
    }
    if ((s = stg_stmt(st, by_identity)) == NULL)
        return NULL;
    stg_bind_int64(s, 1, tid);
    stg_bind_int(s, 2, id_type);
    if (id_type == STORAGE_ID_EMAIL) {
        *lower = base_xstrndup_lower(id, id_len); /* emails are stored lower-cased */
        id = *lower;
    }
    stg_bind_text(s, 3, id, id_len);
    return s;
}

stg_stmt_t *
stg_profile_lookup(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len, char **lower)
{
    return lookup_with(st, S_VIEW_BY_UUID, S_VIEW_BY_IDENTITY, tid, id_type, id, id_len, lower);
}

/* The email form's page: rows from*size .. +size of the email's profiles in
 * profile-key order; *any tells whether the email names any profile at all
 * (a page past the end is empty, not "not found"). */
static int
load_email_page(storage_t *st, int64_t tid, const char *id, size_t id_len, int from, int size, stg_profile_t **rows, size_t *n,
                bool *any)
{
    char *lower = base_xstrndup_lower(id, id_len); /* emails are stored lower-cased */
    int ret = STORAGE_EIO;
    stg_stmt_t *s = stg_stmt(st, S_VIEW_EMAIL_PAGE);
    if (s == NULL)
        goto done;
    stg_bind_int64(s, 1, tid);
    stg_bind_int(s, 2, STORAGE_ID_EMAIL);
    stg_bind_text(s, 3, lower, id_len);
    stg_bind_int(s, 4, size);
    stg_bind_int64(s, 5, (int64_t)from * size);
    if ((ret = stg_profile_rows(st, s, false, rows, n)) != 0 || *n > 0 || from == 0) {
        *any = *n > 0;
        goto done;
    }
    /* past the end, or no such email: the first row tells */
    stg_bind_int64(s, 1, tid);
    stg_bind_int(s, 2, STORAGE_ID_EMAIL);
    stg_bind_text(s, 3, lower, id_len);
    stg_bind_int(s, 4, 1);
    stg_bind_int64(s, 5, 0);
    int rc = stg_step(st, s);
    *any = rc == STG_ROW;
    ret = rc == STG_ROW || rc == STG_DONE ? 0 : rc;
    stg_reset(s);
done:
    free(lower);
    return ret;
}

/* The traits view of a userId, anonymousId or id in one statement: the
 * profile, its traits joined (S_VIEW_TRAITS_BY_*), stepped to the first
 * row into *joined (NULL: no such profile). When the view began the
 * transaction (alone: not one of a batch lookup's, which share one
 * snapshot) and nothing else will be read (no computed trait to show),
 * that is the transaction's one statement. */
static int
load_joined(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len, bool alone, stg_profile_t **rows,
            size_t *n, stg_stmt_t **joined)
{
    const tenant_defs_t *td;
    int ret = stg_computed_tenant(st, tid, &td);
    *joined = NULL;
    if (ret != 0)
        return ret;
    char *lower; /* none: not an email */
    stg_stmt_t *s = lookup_with(st, S_VIEW_TRAITS_BY_UUID, S_VIEW_TRAITS_BY_IDENTITY, tid, id_type, id, id_len, &lower);
    free(lower);
    if (s == NULL)
        return STORAGE_EIO;
    if (alone && (td == NULL || td->nvisible == 0))
        stg_read_one(st);
    int rc = stg_step(st, s);
    if (rc != STG_ROW) {
        stg_reset(s);
        return rc == STG_DONE ? 0 : rc;
    }
    *rows = base_xmalloc(sizeof(**rows));
    profile_row(s, false, *rows);
    *n = 1;
    *joined = s;
    return 0;
}

static int
load_profiles(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len, stg_profile_t **rows, size_t *n)
{
    char *lower;
    stg_stmt_t *s = stg_profile_lookup(st, tid, id_type, id, id_len, &lower);
    if (s == NULL)
        return STORAGE_EIO;
    int ret = stg_profile_rows(st, s, false, rows, n);
    free(lower);
    return ret;
}

/* A view (o: the traits view's options, or NULL) of the profile id names,
 * or of page (from, size) of an email's profiles. */
static int
view_page(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
          storage_view_t view, const storage_traits_opts_t *o, int from, int size, char **body, size_t *len)
{
    stg_profile_t *rows = NULL;
    stg_stmt_t *joined = NULL;
    size_t n = 0;
    int64_t tid;
    bool began, any = true, email = id_type == STORAGE_ID_EMAIL;
    jsonbuf_t b = {0};
    *body = NULL;
    *len = 0;
    if ((unsigned)id_type > STORAGE_ID_INTERNAL || (unsigned)view > STORAGE_VIEW_EXTERNAL_IDS || id == NULL)
        return stg_fail(st, STORAGE_EINVAL, "invalid id type or view");
    st->view_from_ms = INT64_MIN; /* storage_view_validity: narrowed by evaluate.c */
    st->view_until_ms = INT64_MAX;
    if (email && (from < 0 || from > STORAGE_PAGE_FROM_MAX || size < 1 || size > STORAGE_EMAIL_PAGE_MAX))
        return stg_fail(st, STORAGE_EINVAL, "from must be 0..1000000 and size 1..100");

    int ret = stg_txn_open(st, false, &began);
    if (ret != 0)
        return ret;
    if ((ret = stg_tenant_id(st, tenant, false, &tid)) != 0)
        goto done;
    stg_view_tags_begin(st, tid, id_type, id, id_len); /* the cache's tags (db/journal.c) */
    if (email)
        ret = load_email_page(st, tid, id, id_len, from, size, &rows, &n, &any);
    else if (view == STORAGE_VIEW_TRAITS && (o == NULL || !o->has_at))
        ret = load_joined(st, tid, id_type, id, id_len, began, &rows, &n, &joined);
    else
        ret = load_profiles(st, tid, id_type, id, id_len, &rows, &n);
    if (ret != 0)
        goto done;
    if (n == 0 && !(email && any)) {
        ret = stg_fail(st, STORAGE_ENOTFOUND, "profile not found");
        goto done;
    }
    /* a metadata view holds its first and last events' stored messages
     * (8.5 KB for the benchmark's profiles): sized for them, it is not
     * grown three times on the way */
    base_jb_init(&b, view == STORAGE_VIEW_METADATA && !email ? 16384 : 1024);
    if (email) {
        base_jb_open(&b, '{');
        base_jb_key(&b, "data", 4);
        base_jb_open(&b, '[');
    }
    for (size_t i = 0; i < n && ret == 0; i++) {
        stg_view_tags_pk(st, rows[i].pk);
        ret = build_view(st, tenant, tid, &rows[i], view, o, joined, &b);
    }
    if (email) {
        base_jb_close(&b, ']');
        base_jb_key(&b, "from", 4);
        base_jb_int(&b, from);
        base_jb_key(&b, "size", 4);
        base_jb_int(&b, size);
        base_jb_close(&b, '}');
    }
done:
    if (joined != NULL)
        stg_reset(joined);
    if (ret == STORAGE_ENOTFOUND)
        stg_fail(st, ret, "profile not found");
    ret = stg_txn_close_body(st, began, ret, &b, body, len);
    stg_profiles_free(rows, n);
    return ret;
}

int
storage_profile_view_page(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                          storage_view_t view, int from, int size, char **body, size_t *len)
{
    return view_page(st, tenant, id_type, id, id_len, view, NULL, from, size, body, len);
}

int
storage_profile_view(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                     storage_view_t view, char **body, size_t *len)
{
    return view_page(st, tenant, id_type, id, id_len, view, NULL, 0, STORAGE_EMAIL_PAGE_MAX, body, len);
}

int
storage_traits_view(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                    const storage_traits_opts_t *opts, int from, int size, char **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    if (opts != NULL && opts->has_at && st->trait_history_days <= 0)
        return stg_fail(st, STORAGE_EINVAL, "trait history is turned off");
    return view_page(st, tenant, id_type, id, id_len, STORAGE_VIEW_TRAITS, opts, from, size, body, len);
}

int
storage_profile_views(storage_t *st, const storage_tenant_t *tenant, storage_view_t view, storage_view_item_t *items, size_t n)
{
    bool began;
    for (size_t i = 0; i < n; i++) {
        items[i].rc = 0;
        items[i].body = NULL;
        items[i].len = 0;
        items[i].tags = NULL;
        items[i].n_tags = 0;
    }
    /* a plain BEGIN: each view below joins it, so all read one snapshot */
    int ret = stg_txn_open(st, false, &began);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < n && ret == 0; i++) {
        if (items[i].id == NULL)
            continue;
        int rc = storage_profile_view(st, tenant, items[i].type, items[i].id, items[i].id_len, view, &items[i].body, &items[i].len);
        storage_view_validity(st, &items[i].from_ms, &items[i].until_ms);
        if (rc == 0)
            storage_view_tags(st, &items[i].tags, &items[i].n_tags);
        if (rc == 0 || rc == STORAGE_ENOTFOUND)
            items[i].rc = rc;
        else
            ret = rc;
    }
    ret = stg_txn_close(st, began, ret);
    if (ret != 0)
        for (size_t i = 0; i < n; i++) {
            free(items[i].body);
            free(items[i].tags);
            items[i].body = NULL;
            items[i].tags = NULL;
            items[i].len = items[i].n_tags = 0;
        }
    return ret;
}

int
storage_profile_list(storage_t *st, const storage_tenant_t *tenant, int from, int size, char **body, size_t *len)
{
    stg_profile_t *rows = NULL;
    size_t n = 0;
    int64_t tid = 0;
    bool began;
    jsonbuf_t b;
    *body = NULL;
    *len = 0;
    if (from < 0 || size < 1 || size > 100)
        return stg_fail(st, STORAGE_EINVAL, "from must be >= 0 and size 1..100");

    int ret = stg_txn_open(st, false, &began);
    if (ret != 0)
        return ret;
    base_jb_init(&b, 4096);
    base_jb_open(&b, '{');
    base_jb_key(&b, "data", 4);
    base_jb_open(&b, '[');
    /* A tenant that never sent anything has an empty list, not an error. */
    ret = stg_tenant_id(st, tenant, false, &tid);
    if (ret == 0) {
        stg_stmt_t *s = stg_stmt(st, S_LIST);
        if (s == NULL) {
            ret = STORAGE_EIO;
            goto done;
        }
        stg_bind_int64(s, 1, tid);
        stg_bind_int(s, 2, size);
        stg_bind_int64(s, 3, (int64_t)from * size);
        if ((ret = stg_profile_rows(st, s, false, &rows, &n)) != 0)
            goto done;
        for (size_t i = 0; i < n && ret == 0; i++)
            ret = build_view(st, tenant, tid, &rows[i], STORAGE_VIEW_TRAITS, NULL, NULL, &b);
        if (ret != 0)
            goto done;
    } else if (ret != STORAGE_ENOTFOUND) {
        goto done;
    }
    ret = 0;
    base_jb_close(&b, ']');
    base_jb_key(&b, "from", 4);
    base_jb_int(&b, from);
    base_jb_key(&b, "size", 4);
    base_jb_int(&b, size);
    base_jb_close(&b, '}');
done:
    ret = stg_txn_close_body(st, began, ret, &b, body, len);
    stg_profiles_free(rows, n);
    return ret;
}
