/* ingest.c -- checked Segment-spec messages into profiles: finding or
 * creating the profile a message belongs to (linking its ids, merging
 * profiles they disagree on, within the per-type identity limits of
 * idlimits.c), newest-wins traits, events with their
 * first/last marks, and the profile's activity times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../write/write.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define DEFAULT_SOURCE "SEGMENT_API"
/* previousId of an alias: a userId or an anonymousId, we cannot tell. */
#define ID_PREVIOUS (-1)

static int
find_identity(storage_t *st, int64_t tid, int type, const char *v, size_t n, int64_t *pk)
{
    *pk = stg_idcache_get(&st->ids, tid, type, v, n);
    if (*pk != 0 || stg_seen_absent(st, type, v, n)) /* the run's lookup: not stored */
        return 0;
    stg_stmt_t *s = stg_stmt(st, S_IDENTITY_GET);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_int(s, 2, type);
    stg_bind_text(s, 3, v, n);
    int rc = stg_step(st, s), ret = 0;
    if (rc == STG_ROW) {
        *pk = stg_col_int64(s, 0);
        stg_idcache_put(&st->ids, tid, type, v, n, *pk);
    } else if (rc != STG_DONE) {
        ret = rc;
    }
    stg_reset(s);
    return ret;
}

static int
link_identity(storage_t *st, int64_t tid, int type, const char *v, size_t n, int64_t pk)
{
    if (stg_idcache_get(&st->ids, tid, type, v, n) == pk)
        return 0;
    stg_stmt_t *s = stg_stmt(st, S_IDENTITY_ADD);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_int(s, 2, type);
    stg_bind_text(s, 3, v, n);
    stg_bind_int64(s, 4, pk);
    int ret = stg_step_done(st, s);
    if (ret == 0) {
        stg_idcache_put(&st->ids, tid, type, v, n, pk);
        stg_seen_id_linked(st, type, v, n);
    }
    return ret;
}

/* The id type of each of a message's ids (previousId: see find_ids). */
typedef struct {
    int type;
    const char *v;
    size_t n;
    int64_t pk;   /* the profile it leads to; 0: none */
    bool dropped; /* joining it would break a limit: left as it is */
} id_ref_t;

static int
id_type_of(const id_ref_t *id)
{
    /* An unknown previousId is linked as a userId: alias names a former
     * identity of the user. */
    return id->type == ID_PREVIOUS ? STORAGE_ID_USER : id->type;
}

/* A profile with this email to attach a message none of whose ids leads
 * anywhere: among the STORAGE_EMAIL_CANDIDATES newest profiles with the
 * email, the most recently active that can take the message's new ids
 * (add, per type) within the limits; none (0) when none can. Bounded
 * whatever the number of profiles sharing the email. */
static int
email_candidate(storage_t *st, int64_t tid, const char *email, size_t n, const int add[3], int64_t *pk)
{
    /* An email the run's lookup found on no profile has no candidate. */
    if (stg_seen_absent(st, STORAGE_ID_EMAIL, email, n))
        return 0;
    /* The order is by activity: deferred activity times first. Limits
     * apply even to an alias here: the email is a guess, not its words. */
    int ret = stg_defer_flush(st);
    if (ret != 0)
        return ret;
    stg_stmt_t *s = stg_stmt(st, S_EMAIL_RECENT);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_text(s, 2, email, n);
    stg_bind_int(s, 3, STORAGE_EMAIL_CANDIDATES);
    int rc = STG_DONE, count = 0;
    int64_t pks[STORAGE_EMAIL_CANDIDATES];
    /* A profile with a userId (the column is set with the first one) has
     * no room for another under a limit of one: skipped without a count. */
    bool full = add[STORAGE_ID_USER] > 0 && stg_id_limit(st, STORAGE_ID_USER) > 0 &&
                stg_id_limit(st, STORAGE_ID_USER) - add[STORAGE_ID_USER] < 1;
    while (count < STORAGE_EMAIL_CANDIDATES && (rc = stg_step(st, s)) == STG_ROW)
        if (!full || stg_col_int(s, 1) == 0)
            pks[count++] = stg_col_int64(s, 0);
    if (count < STORAGE_EMAIL_CANDIDATES && rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    for (int i = 0; ret == 0 && i < count; i++) {
        bool fits;
        if ((ret = stg_ids_fit(st, tid, pks[i], pks[i], add, &fits)) == 0 && fits) {
            *pk = pks[i];
            break;
        }
    }
    return ret;
}

static int
create_profile(storage_t *st, int64_t tid, const message_t *m, const char *created_by_type, int64_t now_ms, int64_t *pk)
{
    char uuid[37];
    jsonbuf_t by;
    base_uuid_v4(uuid);
    base_jb_init(&by, 96);
    base_jb_open(&by, '{');
    base_jb_key(&by, "type", 4);
    base_jb_str(&by, created_by_type, strlen(created_by_type));
    base_jb_key(&by, "createdTime", 11);
    base_jb_time(&by, now_ms);
    base_jb_close(&by, '}');

    /* PostgreSQL, a run under the exclusive lock: its pk taken already,
     * the INSERT sent with a later statement (pgseen.c) */
    int ret;
    int64_t taken = stg_seen_profile_pk(st, &ret);
    stg_stmt_t *s = ret == 0 ? stg_stmt(st, taken > 0 ? S_PROFILE_ADD_AT : S_PROFILE_ADD) : NULL;
    if (s != NULL) {
        stg_bind_int64(s, 1, tid);
        stg_bind_text(s, 2, uuid, 36);
        stg_bind_text(s, 3, m->user_id.p, m->user_id.n);
        stg_bind_int64(s, 4, now_ms);
        stg_bind_text(s, 5, by.data, by.len);
        if (taken > 0)
            stg_bind_int64(s, 6, taken);
        ret = stg_step_done(st, s);
    } else if (ret == 0) {
        ret = STORAGE_EIO;
    }
    base_jb_free(&by);
    if (ret == 0)
        *pk = taken > 0 ? taken : stg_last_id(st);
    return ret;
}

/* The ids a message carries, in priority order (userId, previousId,
 * anonymousId), each with the profile it leads to now (0: none). */
static int
find_ids(storage_t *st, int64_t tid, const message_t *m, id_ref_t ids[3], int *count)
{
    int n = 0, ret;
    if (m->user_id.p != NULL)
        ids[n++] = (id_ref_t){STORAGE_ID_USER, m->user_id.p, m->user_id.n, 0, false};
    if (m->previous_id.p != NULL)
        ids[n++] = (id_ref_t){ID_PREVIOUS, m->previous_id.p, m->previous_id.n, 0, false};
    if (m->anon_id.p != NULL)
        ids[n++] = (id_ref_t){STORAGE_ID_ANONYMOUS, m->anon_id.p, m->anon_id.n, 0, false};
    for (int i = 0; i < n; i++) {
        if ((ret = find_identity(st, tid, id_type_of(&ids[i]), ids[i].v, ids[i].n, &ids[i].pk)) != 0)
            return ret;
        if (ids[i].pk == 0 && ids[i].type == ID_PREVIOUS &&
            (ret = find_identity(st, tid, STORAGE_ID_ANONYMOUS, ids[i].v, ids[i].n, &ids[i].pk)) != 0)
            return ret;
    }
    *count = n;
    return 0;
}

/* Whether any of the message's ids is on the tenant's suppression list.
 * Only ids that lead to no profile are looked up: erasure deletes the
 * identities it suppresses and ingest never links a suppressed one, so a
 * known id is not suppressed (and a run of messages from one user costs
 * nothing more). previousId is either type. */
static int
suppressed_id(storage_t *st, int64_t tid, int type, const char *v, size_t n, bool *suppressed)
{
    int seen = stg_seen_id(st, type, v, n); /* the run's lookup asked its suppressions too */
    if (seen & STG_SEEN_KNOWN) {
        *suppressed = (seen & STG_SEEN_SUPPRESSED) != 0;
        return 0;
    }
    return stg_suppressed(st, tid, type, v, n, suppressed);
}

static int
suppressed_ids(storage_t *st, int64_t tid, const id_ref_t *ids, int n, bool *suppressed)
{
    *suppressed = false;
    for (int i = 0; i < n && !*suppressed; i++) {
        if (ids[i].pk != 0)
            continue;
        int ret = suppressed_id(st, tid, id_type_of(&ids[i]), ids[i].v, ids[i].n, suppressed);
        if (ret == 0 && !*suppressed && ids[i].type == ID_PREVIOUS)
            ret = suppressed_id(st, tid, STORAGE_ID_ANONYMOUS, ids[i].v, ids[i].n, suppressed);
        if (ret != 0)
            return ret;
    }
    return 0;
}

/* The profile when the message needs no identity writes at all: every id
 * known and on one profile, its email already linked there; 0 otherwise.
 * The common case: a run of messages from one user. */
static int64_t
settled_profile(storage_t *st, int64_t tid, const id_ref_t *ids, int n, const char *email, size_t email_len)
{
    if (n == 0)
        return 0;
    int64_t pk = ids[0].pk;
    for (int i = 0; i < n; i++)
        if (ids[i].pk == 0 || ids[i].pk != pk)
            return 0;
    if (email_len > 0 && stg_idcache_get(&st->ids, tid, STORAGE_ID_EMAIL, email, email_len) != pk)
        return 0;
    return pk;
}

/* Links the message's email to its profile unless the profile is at its
 * email limit without it. */
static int
link_email(storage_t *st, int64_t tid, const char *email, size_t n, int64_t pk, bool override)
{
    if (stg_idcache_get(&st->ids, tid, STORAGE_ID_EMAIL, email, n) == pk)
        return 0;
    if (!override && stg_id_limit(st, STORAGE_ID_EMAIL) > 0) {
        stg_stmt_t *s = stg_stmt(st, S_IDENTITY_HAS);
        if (s == NULL)
            return STORAGE_EIO;
        stg_bind_int64(s, 1, tid);
        stg_bind_int(s, 2, STORAGE_ID_EMAIL);
        stg_bind_text(s, 3, email, n);
        stg_bind_int64(s, 4, pk);
        int rc = stg_step(st, s);
        stg_reset(s);
        if (rc != STG_ROW && rc != STG_DONE)
            return rc;
        if (rc == STG_ROW) {
            stg_idcache_put(&st->ids, tid, STORAGE_ID_EMAIL, email, n, pk);
            return 0;
        }
        const int add[3] = {[STORAGE_ID_EMAIL] = 1};
        bool fits;
        int ret = stg_ids_fit(st, tid, pk, pk, add, &fits);
        if (ret != 0 || !fits)
            return ret;
    }
    return link_identity(st, tid, STORAGE_ID_EMAIL, email, n, pk);
}

/* The profile the message belongs to (see storage.h): its ids in priority
 * order each join what the earlier ones led to -- a new id to be linked, a
 * known one's profile merged -- unless that breaks a per-type limit (alias
 * ignores them) or the merge cap; then the email's candidate, or a new
 * profile; then the new ids are linked. */
static int
settle_profile(storage_t *st, int64_t tid, const message_t *m, id_ref_t *ids, int n, const char *email, size_t email_len,
               const char *created_by_type, int64_t now_ms, int64_t *out)
{
    bool override = m->type == MSG_ALIAS;
    int add[3] = {0, 0, 0}; /* new ids joining so far, by type */
    int64_t target = 0;
    bool fits = true;
    int ret;
    for (int i = 0; i < n; i++) {
        id_ref_t *id = &ids[i];
        fits = true;
        if (id->pk != 0 && id->pk == target)
            continue;
        if (id->pk == 0) {
            add[id_type_of(id)]++;
            if (!override && target != 0 && (ret = stg_ids_fit(st, tid, target, target, add, &fits)) != 0)
                return ret;
            if (!fits) {
                add[id_type_of(id)]--;
                id->dropped = true;
            }
            continue;
        }
        if (!override && (ret = stg_ids_fit(st, tid, target != 0 ? target : id->pk, id->pk, add, &fits)) != 0)
            return ret;
        if (!fits) {
            id->dropped = true;
            continue;
        }
        if (target == 0) {
            target = id->pk;
            continue;
        }
        int64_t older, newer;
        if ((ret = stg_profile_order(st, target, id->pk, &older, &newer)) != 0)
            return ret;
        if ((ret = stg_profile_merge(st, older, newer, now_ms)) < 0)
            return ret;
        if (ret == 1) { /* the merge cap: it stays apart */
            id->dropped = true;
            continue;
        }
        for (int j = 0; j < n; j++)
            if (ids[j].pk == newer)
                ids[j].pk = older;
        target = older;
    }

    if (target == 0 && email_len > 0 && (ret = email_candidate(st, tid, email, email_len, add, &target)) != 0)
        return ret;
    if (target == 0 && (ret = create_profile(st, tid, m, created_by_type, now_ms, &target)) != 0)
        return ret;

    for (int i = 0; i < n; i++) {
        if (ids[i].pk != 0 || ids[i].dropped)
            continue;
        if ((ret = link_identity(st, tid, id_type_of(&ids[i]), ids[i].v, ids[i].n, target)) != 0)
            return ret;
    }
    if (email_len > 0 && (ret = link_email(st, tid, email, email_len, target, override)) != 0)
        return ret;
    *out = target;
    return 0;
}

/* Each top-level member of a traits object, its value's text as is. */
static int
merge_traits(storage_t *st, const stg_trait_src_t *src, int64_t pk, span_t traits, int64_t ts)
{
    jiter_t it;
    span_t key, value;
    char small[256];
    base_json_members(&it, traits);
    while (base_json_next(&it, &key, &value)) {
        char *name = key.n <= sizeof(small) ? small : malloc(key.n);
        if (name == NULL)
            abort();
        size_t n = base_json_unescape(key, name);
        int ret = stg_trait_put(st, src, pk, name, n, value.p, value.n, ts);
        if (name != small)
            free(name);
        if (ret != 0)
            return ret;
    }
    return 0;
}

/* group: traits "groupId" and "group" {"id", "traits"}. */
static int
group_traits(storage_t *st, const stg_trait_src_t *src, int64_t pk, const message_t *m, int64_t ts)
{
    jsonbuf_t b;
    base_jb_init(&b, 256);
    base_jb_str(&b, m->group_id.p, m->group_id.n);
    int ret = stg_trait_put(st, src, pk, "groupId", 7, b.data, b.len, ts);
    if (ret == 0) {
        b.len = 0;
        base_jb_open(&b, '{');
        base_jb_key(&b, "id", 2);
        base_jb_str(&b, m->group_id.p, m->group_id.n);
        base_jb_key(&b, "traits", 6);
        if (m->traits.p != NULL)
            base_jb_raw(&b, m->traits.p, m->traits.n);
        else
            base_jb_raw(&b, "{}", 2);
        base_jb_close(&b, '}');
        ret = stg_trait_put(st, src, pk, "group", 5, b.data, b.len, ts);
    }
    base_jb_free(&b);
    return ret;
}

static int
event_exists(storage_t *st, int64_t tid, const char *id, size_t n, bool *exists)
{
    int known = stg_seen_lookup(st, id, n); /* asked for the whole run */
    if (known >= 0) {
        *exists = known == 1;
        return 0;
    }
    stg_stmt_t *s = stg_stmt(st, S_EVENT_EXISTS);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_int64(s, 2, stg_event_key(id, n));
    stg_bind_text(s, 3, id, n);
    int rc = stg_step(st, s), ret = 0;
    *exists = rc == STG_ROW;
    if (rc != STG_ROW && rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    return ret;
}

/* One event's INSERT, its pk chosen by the database (stg_last_id). */
static int
add_event_row(storage_t *st, const stg_event_row_t *r)
{
    stg_stmt_t *s = stg_stmt(st, S_EVENT_ADD);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, r->tenant_id);
    stg_bind_int64(s, 2, r->profile_pk);
    stg_bind_text(s, 3, r->event_id, r->event_id_len);
    stg_bind_int64(s, 4, r->time_ms);
    stg_bind_int64(s, 5, r->received_ms);
    stg_bind_text(s, 6, r->action, r->action_len);
    stg_bind_text(s, 7, r->name, r->name_len);
    stg_bind_text(s, 8, r->type, r->type_len);
    stg_bind_text(s, 9, r->source, r->source_len);
    stg_bind_text(s, 10, r->raw, r->raw_len);
    stg_bind_int64(s, 11, r->key);
    return stg_step_done(st, s);
}

static int
add_event(storage_t *st, int64_t tid, int64_t pk, const message_t *m, const char *event_id, size_t event_id_len, int64_t t,
          int64_t now_ms, const char *raw, size_t raw_len)
{
    stg_event_row_t r = {
        .pk = stg_seen_pk(st), /* given: a row of the run's one INSERT */
        .tenant_id = tid,
        .profile_pk = pk,
        .time_ms = t,
        .received_ms = now_ms,
        .key = stg_event_key(event_id, event_id_len),
        .event_id = event_id,
        .event_id_len = event_id_len,
        .action = m->action,
        .action_len = m->action_len,
        .name = m->name.p,
        .name_len = m->name.n,
        .type = m->type_name,
        .type_len = strlen(m->type_name),
        .source = m->source.p != NULL ? m->source.p : DEFAULT_SOURCE,
        .source_len = m->source.p != NULL ? m->source.n : sizeof(DEFAULT_SOURCE) - 1,
        .raw = raw,
        .raw_len = raw_len,
    };
    int ret = r.pk != 0 ? 0 : add_event_row(st, &r);
    if (ret != 0)
        return ret;
    if (r.pk != 0)
        stg_rows_event(st, &r);
    else
        r.pk = stg_last_id(st);
    stg_seen_stored(st, event_id, event_id_len);
    int64_t event_pk = r.pk, key = r.key;
    stg_stmt_t *s;
    /* its entries: in the hot tables (the server's writer) or the large ones */
    const enum stmt_id ix[2] = {st->hot_events ? S_EVENT_INDEX_HOT : S_EVENT_INDEX,
                                st->hot_events ? S_EVENT_INDEX_KEY_HOT : S_EVENT_INDEX_KEY};
    for (int i = 0; i < 2; i++) {
        if ((s = stg_stmt(st, ix[i])) == NULL)
            return STORAGE_EIO;
        stg_bind_int64(s, 1, pk);
        stg_bind_int64(s, 2, t);
        stg_bind_int64(s, 3, event_pk);
        stg_bind_int64(s, 4, tid);
        stg_bind_int64(s, 5, key);
        if ((ret = stg_step_done(st, s)) != 0)
            return ret;
    }
    if (st->hot_events && st->hot_count >= 0)
        st->hot_count++;
    return stg_mark_event(st, pk, m->action, m->action_len, event_pk, t, event_id, event_id_len);
}

/* The event's contribution to the tenant's computed traits. */
static int
computed_event(storage_t *st, int64_t tid, int64_t pk, const message_t *m, const char *event_id, size_t event_id_len, int64_t t,
               int64_t now_ms)
{
    const tenant_defs_t *td;
    int ret = stg_computed_tenant(st, tid, &td);
    if (ret != 0 || td == NULL)
        return ret;
    comp_event_t ev = {
        .action = m->action,
        .action_len = m->action_len,
        .properties = m->properties,
        .event_id = event_id,
        .event_id_len = event_id_len,
        .t = t,
    };
    return stg_computed_apply(st, pk, td, NULL, &ev, now_ms);
}

/* Whether JSON text escapes a NUL character (\u0000 after an even number of
 * backslashes): PostgreSQL's text, where the decoded strings (trait names,
 * ids, event names) go, cannot hold one. */
static bool
nul_escaped(const char *raw, size_t n)
{
    for (const char *p = raw, *end = raw + n; (p = memmem(p, (size_t)(end - p), "u0000", 5)) != NULL; p += 5) {
        size_t slashes = 0;
        while ((size_t)(p - raw) > slashes && p[-1 - (ptrdiff_t)slashes] == '\\')
            slashes++;
        if (slashes % 2 == 1)
            return true;
    }
    return false;
}

void
stg_seen_want_message(storage_t *st, int64_t tid, const message_t *m)
{
    if (!st->pg)
        return;
    if (m->type == MSG_TRACK || m->type == MSG_PAGE || m->type == MSG_SCREEN)
        stg_seen_want(st, m->message_id.p, m->message_id.n);
    /* the ids find_ids looks up (previousId: either type) */
    const struct {
        int type;
        span_t v;
    } ids[] = {{STORAGE_ID_USER, m->user_id},
               {STORAGE_ID_USER, m->previous_id},
               {STORAGE_ID_ANONYMOUS, m->previous_id},
               {STORAGE_ID_ANONYMOUS, m->anon_id}};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        if (ids[i].v.p != NULL && stg_idcache_get(&st->ids, tid, ids[i].type, ids[i].v.p, ids[i].v.n) == 0)
            stg_seen_want_id(st, ids[i].type, ids[i].v.p, ids[i].v.n);
    /* and its email, for a new profile's candidates (email_candidate) */
    char email[STG_MAX_EMAIL_BYTES + 1];
    size_t email_len = stg_message_email(m, email);
    if (email_len > 0 && stg_idcache_get(&st->ids, tid, STORAGE_ID_EMAIL, email, email_len) == 0)
        stg_seen_want_id(st, STORAGE_ID_EMAIL, email, email_len);
}

int
stg_ingest_checked(storage_t *st, int64_t tid, const message_t *m, const char *raw, size_t raw_len, const char *created_by_type,
                   int64_t now_ms, char *err, size_t errlen)
{
    bool is_event = m->type == MSG_TRACK || m->type == MSG_PAGE || m->type == MSG_SCREEN;
    int64_t t = m->has_time ? m->time_ms : now_ms, pk;
    const char *event_id = m->message_id.p;
    size_t event_id_len = m->message_id.n;
    char uuid[37], email[STG_MAX_EMAIL_BYTES + 1];
    id_ref_t ids[3];
    int n = 0, ret;

    if (st->pg && nul_escaped(raw, raw_len)) { /* before anything is written */
        ret = stg_fail(st, STORAGE_EINVAL, "a string holds a NUL character (\\u0000), which the PostgreSQL backend cannot store");
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", st->err);
        return ret;
    }
    if (is_event && event_id == NULL) {
        base_uuid_v4(uuid);
        event_id = uuid;
        event_id_len = 36;
    }
    if (is_event && m->message_id.p != NULL) {
        /* Before any write, so a retried message changes nothing. */
        bool exists;
        if ((ret = event_exists(st, tid, event_id, event_id_len, &exists)) != 0)
            goto fail;
        if (exists) {
            ret = stg_fail(st, STORAGE_EEXIST, "duplicate messageId");
            goto fail;
        }
    }
    if ((ret = find_ids(st, tid, m, ids, &n)) != 0)
        goto fail;
    bool suppressed;
    if ((ret = suppressed_ids(st, tid, ids, n, &suppressed)) != 0)
        goto fail;
    if (suppressed) { /* an erased person's: acknowledged, not stored */
        st->suppressed_pending++;
        return 0;
    }
    /* Before the first write: whatever this connection does not keep of
     * the tenant's computed state stops counting as complete. */
    if ((ret = stg_computed_announce(st, tid)) != 0)
        goto fail;
    size_t email_len = stg_message_email(m, email);
    pk = settled_profile(st, tid, ids, n, email, email_len);
    if (pk == 0 && (ret = settle_profile(st, tid, m, ids, n, email, email_len, created_by_type != NULL ? created_by_type : "api",
                                         now_ms, &pk)) != 0)
        goto fail;
    if (is_event && (ret = add_event(st, tid, pk, m, event_id, event_id_len, t, now_ms, raw, raw_len)) != 0)
        goto fail;
    if (is_event && (ret = computed_event(st, tid, pk, m, event_id, event_id_len, t, now_ms)) != 0)
        goto fail;
    /* The traits' provenance: the message as the events store it. */
    stg_trait_src_t src = {tid, is_event ? event_id : m->message_id.p, is_event ? event_id_len : m->message_id.n,
                           m->source.p != NULL ? m->source.p : DEFAULT_SOURCE,
                           m->source.p != NULL ? m->source.n : sizeof(DEFAULT_SOURCE) - 1};
    /* context.traits first: the message's own traits win a tie. */
    if (m->context_traits.p != NULL && (ret = merge_traits(st, &src, pk, m->context_traits, t)) != 0)
        goto fail;
    if (m->type == MSG_IDENTIFY && m->traits.p != NULL && (ret = merge_traits(st, &src, pk, m->traits, t)) != 0)
        goto fail;
    if (m->type == MSG_GROUP && (ret = group_traits(st, &src, pk, m, t)) != 0)
        goto fail;
    if ((ret = stg_profile_touch(st, pk, m->user_id.p, m->user_id.n, is_event, t, now_ms)) != 0)
        goto fail;
    return 0;
fail:
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", st->err);
    return ret;
}

int
storage_ingest_message(storage_t *st, const storage_tenant_t *tenant, struct json_object *msg, const char *created_by_type,
                       int64_t now_ms, char *err, size_t errlen)
{
    message_t m;
    size_t raw_len = 4;
    const char *raw = "null";
    int64_t tid;
    int ret;
    bool own = false;

    /* The text serves both the checks and the event's raw data. */
    if (msg != NULL)
        raw = json_object_to_json_string_length(msg, JSON_FLAGS, &raw_len);
    if ((ret = segment_message_check(raw, raw_len, &m, NULL, st->err, sizeof(st->err))) != 0)
        goto fail;
    own = !stg_in_txn(st);
    if (own && (ret = storage_begin(st)) != 0)
        goto fail;
    if ((ret = stg_tenant_id(st, tenant, true, &tid)) != 0)
        goto fail;
    if ((ret = stg_ingest_checked(st, tid, &m, raw, raw_len, created_by_type, now_ms, NULL, 0)) != 0 && ret != STORAGE_EEXIST)
        goto fail;
    if (own) {
        int cret = storage_commit(st);
        if (cret != 0) {
            ret = cret;
            goto fail;
        }
    }
    segment_message_free(&m);
    if (ret == STORAGE_EEXIST && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", st->err);
    return ret;
fail:
    if (own)
        storage_rollback(st);
    segment_message_free(&m);
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", st->err);
    return ret;
}

int
storage_batch_store(storage_t *st, const storage_tenant_t *tenant, const segment_batch_t *b, const char *created_by_type,
                    int64_t now_ms, char *err, size_t errlen)
{
    /* In the caller's transaction, deferred writes stay deferred (the
     * writer's group commit combines them across requests). */
    bool own = !stg_in_txn(st);
    int64_t tid;
    int ret = own ? storage_begin(st) : 0;
    if (ret == 0)
        ret = stg_tenant_id(st, tenant, true, &tid);
    for (size_t i = 0; ret == 0 && st->pg && i < segment_batch_count(b); i++) {
        span_t text;
        stg_seen_want_message(st, tid, segment_batch_message(b, i, &text));
    }
    if (ret == 0)
        ret = stg_seen_fetch(st, tid);
    for (size_t i = 0; ret == 0 && i < segment_batch_count(b); i++) {
        span_t text;
        const message_t *m = segment_batch_message(b, i, &text);
        ret = stg_ingest_checked(st, tid, m, text.p, text.n, created_by_type, now_ms, NULL, 0);
        if (ret == STORAGE_EEXIST) /* a retried message: stored already */
            ret = 0;
    }
    stg_seen_drop(st);
    if (own && ret == 0)
        ret = storage_commit(st);
    if (own && ret != 0)
        storage_rollback(st);
    if (ret != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", st->err);
    return ret;
}

void
storage_hot_events(storage_t *st, bool on)
{
    st->hot_events = on && !st->pg; /* PostgreSQL indexes events on their own table: one level */
    st->hot_count = -1;
}

/* One chunk of one table: the entries of at most n keys' worth of rows
 * past *cursor moved from the hot table into the large one; *cursor moves
 * past them (INT64_MAX when nothing is left past it). */
static int
compact_chunk(storage_t *st, enum stmt_id bound, enum stmt_id move, enum stmt_id drop, int64_t n, int64_t *cursor, int64_t *moved)
{
    stg_stmt_t *s = stg_stmt(st, bound);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, *cursor);
    stg_bind_int64(s, 2, n - 1);
    int64_t hi = INT64_MAX;
    int rc = stg_step(st, s);
    if (rc == STG_ROW)
        hi = stg_col_int64(s, 0);
    stg_reset(s);
    if (rc != STG_ROW && rc != STG_DONE)
        return rc;
    for (int k = 0; k < 2; k++) {
        if ((s = stg_stmt(st, k == 0 ? move : drop)) == NULL)
            return STORAGE_EIO;
        stg_bind_int64(s, 1, *cursor);
        stg_bind_int64(s, 2, hi);
        if ((rc = stg_step_done(st, s)) != 0)
            return rc;
        if (k == 0)
            *moved += stg_changes(st);
    }
    *cursor = hi;
    return 0;
}

int
storage_events_compact(storage_t *st, int64_t min_hot, int64_t chunk, int64_t *moved)
{
    if (moved != NULL)
        *moved = 0;
    if (!st->cmp_round) {
        if (st->hot_count < 0 || st->hot_count >= min_hot) { /* count again: another connection may have compacted */
            stg_stmt_t *c = stg_stmt(st, S_EVENTS_HOT_COUNT);
            if (c == NULL || stg_step_int64(st, c, &st->hot_count) != 0)
                return STORAGE_EIO;
        }
        if (st->hot_count == 0 || st->hot_count < min_hot)
            return 0;
        st->cmp_round = true;
        st->cmp_prof = st->cmp_key = st->cmp_marks = -1; /* below every pk and every (non-negative) event_key */
    }
    int rc = storage_begin(st);
    if (rc != 0)
        return rc;
    int64_t n = 0, prof = st->cmp_prof, key = st->cmp_key, marks = st->cmp_marks;
    st->jr_quiet = true;
    if (prof != INT64_MAX)
        rc = compact_chunk(st, S_COMPACT_PROF_BOUND, S_COMPACT_PROF_MOVE, S_COMPACT_PROF_DROP, chunk, &prof, &n);
    int64_t keys = 0, marked = 0; /* as many keys as by profile: one of each an event */
    if (rc == 0 && key != INT64_MAX)
        rc = compact_chunk(st, S_COMPACT_KEY_BOUND, S_COMPACT_KEY_MOVE, S_COMPACT_KEY_DROP, chunk, &key, &keys);
    if (rc == 0 && marks != INT64_MAX) /* schema step 11: a profile's marks combined with its large ones */
        rc = compact_chunk(st, S_COMPACT_MARKS_BOUND, S_COMPACT_MARKS_MOVE, S_COMPACT_MARKS_DROP, chunk, &marks, &marked);
    if (rc == 0)
        rc = storage_commit(st);
    st->jr_quiet = false;
    if (rc != 0) {
        storage_rollback(st);
        st->cmp_round = false; /* start over: nothing of this chunk moved */
        st->hot_count = -1;
        return rc;
    }
    st->cmp_prof = prof;
    st->cmp_key = key;
    st->cmp_marks = marks;
    if (prof == INT64_MAX && key == INT64_MAX && marks == INT64_MAX) {
        st->cmp_round = false;
        st->hot_count = -1; /* entries added behind the cursors wait for the next round */
    }
    if (moved != NULL)
        *moved = n + keys + marked;
    return 0;
}

int
storage_events_compact_round(storage_t *st, int64_t min_hot, int64_t chunk, int64_t *moved)
{
    int64_t step = 0, total = 0;
    int ret;
    do {
        if ((ret = storage_events_compact(st, min_hot, chunk, &step)) != 0)
            break;
        total += step;
        min_hot = 1; /* the rest of a round that started */
    } while (step > 0);
    if (moved != NULL)
        *moved = total;
    return ret;
}
