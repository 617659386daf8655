/* computed.c -- computed traits kept current as events are stored: each
 * event updates the state of every definition of its tenant that it
 * matches (a count, a sum, a min or max, a first or last value, a value's
 * occurrences, per day for windows), through defer.c, so a bulk import
 * combines them in memory. Also the announcement that keeps incomplete
 * state from passing as complete, and the rebuild of one profile's state
 * from its events (recompute, merges during a recompute). */
#include <stdlib.h>
#include <string.h>
#include "../computed/computed.h"

void
storage_use_definitions(storage_t *st, const definitions_t *defs)
{
    st->defs = defs;
    st->comp_tid = 0;
    st->comp_td = NULL;
    /* The keys this connection maintains changed: announce them again. */
    st->n_announced = 0;
}

int
stg_computed_tenant(storage_t *st, int64_t tid, const tenant_defs_t **td)
{
    *td = NULL;
    if (st->defs == NULL)
        return 0;
    if (st->comp_tid == tid && tid != 0) {
        *td = st->comp_td;
        return 0;
    }
    stg_stmt_t *s = stg_stmt(st, S_TENANT_NAMES);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    int rc = stg_step(st, s), ret = 0;
    if (rc == STG_ROW) {
        *td = definitions_find(st->defs, stg_col_text(s, 0), (size_t)stg_col_bytes(s, 0), stg_col_text(s, 1),
                               (size_t)stg_col_bytes(s, 1), stg_col_text(s, 2), (size_t)stg_col_bytes(s, 2));
        st->comp_tid = tid;
        st->comp_td = *td;
    } else if (rc != STG_DONE) {
        ret = rc;
    }
    stg_reset(s);
    return ret;
}

int
stg_keys_announce(storage_t *st, int64_t tid, const tenant_defs_t *td)
{
    stg_stmt_t *s = stg_stmt(st, S_KEYS_ANNOUNCE);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    const char *keys = td != NULL ? td->keys_json : "[]";
    stg_bind_text(s, 2, keys, strlen(keys));
    return stg_step_done(st, s);
}

int
stg_computed_announce(storage_t *st, int64_t tid)
{
    for (size_t i = 0; i < st->n_announced; i++)
        if (st->announced[i] == tid)
            return 0;
    const tenant_defs_t *td;
    int ret = stg_computed_tenant(st, tid, &td);
    if (ret != 0)
        return ret;
    if ((ret = stg_keys_announce(st, tid, td)) != 0)
        return ret;
    /* From its first profile on, this connection keeps all of them. */
    if (td != NULL && td->ndefs > 0) {
        stg_stmt_t *s = stg_stmt(st, S_KEYS_FRESH_TENANT);
        if (s == NULL)
            return STORAGE_EIO;
        stg_bind_int64(s, 1, tid);
        stg_bind_text(s, 2, td->keys_json, strlen(td->keys_json));
        if ((ret = stg_step_done(st, s)) != 0)
            return ret;
    }
    /* Full: start over; announcing twice costs one statement. */
    if (st->n_announced == sizeof(st->announced) / sizeof(st->announced[0]))
        st->n_announced = 0;
    st->announced[st->n_announced++] = tid;
    return 0;
}

static bool
where_holds(const comp_def_t *d, span_t props)
{
    char *scratch = NULL;
    bool ok = true;
    for (size_t i = 0; i < d->nwhere && ok; i++) {
        span_t v = {NULL, 0};
        cval_t a;
        if (!defs_json_at(props, &d->where[i].path, 0, &v))
            v.p = NULL;
        defs_cval_of(v, &a, &scratch);
        ok = defs_cval_match(d->where[i].op, &a, &d->where[i].value);
    }
    free(scratch);
    return ok;
}

/* One definition, one event that matches it. */
static int
apply_one(storage_t *st, int64_t pk, const comp_def_t *d, const comp_event_t *ev, int64_t now_ms)
{
    span_t v = {NULL, 0};
    cval_t a = {.type = CV_ABSENT};
    char *scratch = NULL;
    double num = 1;
    int ret = 0;

    if (d->kind != DK_COUNT) {
        if (!defs_json_at(ev->properties, &d->property, 0, &v))
            return 0;
        defs_cval_of(v, &a, &scratch);
        /* A null value is no value; sums, mins and maxes take numbers. */
        if (a.type == CV_NULL || a.type == CV_ABSENT || (d->kind <= DK_MAX && a.type != CV_NUM))
            goto done;
        num = a.num;
    }
    if (d->window_days > 0) {
        int64_t day = defs_day_of(ev->t), floor_day = defs_day_of(now_ms) - d->window_days + 1;
        /* Already out of the window, and it never comes back. */
        if (day >= floor_day)
            ret = stg_comp_day(st, pk, d->key, d->comb, day, num, floor_day);
        goto done;
    }
    switch (d->kind) {
    case DK_FIRST:
    case DK_LAST:
        ret = stg_comp_put(st, pk, d->key, d->comb, 0, v.p, v.n, ev->t, ev->event_id, ev->event_id_len);
        break;
    case DK_MOST_FREQUENT:
        if (a.type == CV_STR) {
            /* One text per string, however it was escaped. */
            jsonbuf_t b;
            base_jb_init(&b, a.n + 8);
            base_jb_str(&b, a.s, a.n);
            ret = stg_comp_freq(st, pk, d->key, b.data, b.len, ev->t);
            base_jb_free(&b);
        } else if (a.type == CV_NUM || a.type == CV_BOOL) {
            ret = stg_comp_freq(st, pk, d->key, v.p, v.n, ev->t);
        }
        break;
    default:
        ret = stg_comp_put(st, pk, d->key, d->comb, num, NULL, 0, 0, NULL, 0);
    }
done:
    free(scratch);
    return ret;
}

int
stg_computed_apply(storage_t *st, int64_t pk, const tenant_defs_t *td, const bool *only, const comp_event_t *ev, int64_t now_ms)
{
    for (size_t i = 0; i < td->ndefs; i++) {
        const comp_def_t *d = &td->defs[i];
        if (d->dup || (only != NULL && !only[i]))
            continue;
        if (d->action != NULL && (d->action_len != ev->action_len || memcmp(d->action, ev->action, ev->action_len) != 0))
            continue;
        if (d->nwhere > 0 && !where_holds(d, ev->properties))
            continue;
        int ret = apply_one(st, pk, d, ev, now_ms);
        if (ret != 0)
            return ret;
    }
    return 0;
}

/* The "properties" object of a stored raw message. */
static span_t
raw_properties(const char *raw, size_t n)
{
    jiter_t it;
    span_t key, value, found = {NULL, 0};
    if (raw == NULL)
        return found;
    base_json_members(&it, (span_t){raw, n});
    while (base_json_next(&it, &key, &value))
        if (base_json_key_is(key, "properties", 10))
            found = value;
    if (found.p != NULL && found.p[0] != '{')
        found.p = NULL;
    return found;
}

static int
clear(storage_t *st, enum stmt_id id, int64_t pk, const char *pending, size_t pending_len, const char *all)
{
    stg_stmt_t *s = stg_stmt(st, id);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_text(s, 2, pending, pending_len);
    stg_bind_text(s, 3, all, strlen(all));
    return stg_step_done(st, s);
}

int
stg_computed_rebuild(storage_t *st, int64_t pk, const tenant_defs_t *td, const bool *only, int64_t now_ms, uint64_t *events)
{
    jsonbuf_t keys;
    int ret;
    base_jb_init(&keys, 32 + td->ndefs * (DEFS_KEY_LEN + 3));
    base_jb_open(&keys, '[');
    for (size_t i = 0; i < td->ndefs; i++)
        if (!td->defs[i].dup && (only == NULL || only[i]))
            base_jb_str(&keys, td->defs[i].key, DEFS_KEY_LEN);
    base_jb_close(&keys, ']');
    if ((ret = clear(st, S_COMP_CLEAR, pk, keys.data, keys.len, td->keys_json)) != 0 ||
        (ret = clear(st, S_COMP_DAYS_CLEAR, pk, keys.data, keys.len, td->keys_json)) != 0 ||
        (ret = clear(st, S_COMP_FREQ_CLEAR, pk, keys.data, keys.len, td->keys_json)) != 0)
        goto done;

    stg_stmt_t *s = stg_stmt(st, S_PROFILE_EVENTS);
    if (s == NULL) {
        ret = STORAGE_EIO;
        goto done;
    }
    stg_bind_int64(s, 1, pk);
    int rc = STG_DONE;
    while (ret == 0 && (rc = stg_step(st, s)) == STG_ROW) {
        const char *raw = stg_col_text(s, 3);
        comp_event_t ev = {
            .action = stg_col_text(s, 2),
            .action_len = (size_t)stg_col_bytes(s, 2),
            .properties = raw_properties(raw, (size_t)stg_col_bytes(s, 3)),
            .event_id = stg_col_text(s, 0),
            .event_id_len = (size_t)stg_col_bytes(s, 0),
            .t = stg_col_int64(s, 1),
        };
        if (ev.action == NULL || ev.event_id == NULL)
            continue;
        ret = stg_computed_apply(st, pk, td, only, &ev, now_ms);
        if (events != NULL)
            (*events)++;
    }
    if (ret == 0 && rc != STG_DONE)
        ret = rc;
    stg_reset(s);
done:
    base_jb_free(&keys);
    return ret;
}

int
stg_computed_after_merge(storage_t *st, int64_t keep, int64_t now_ms)
{
    stg_stmt_t *s = stg_stmt(st, S_KEYS_PASSED);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, keep);
    char(*keys)[DEFS_KEY_LEN + 1] = NULL;
    size_t n = 0, cap = 0;
    int64_t tid = 0;
    int rc, ret = 0;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            if ((keys = realloc(keys, cap * sizeof(*keys))) == NULL)
                abort();
        }
        const char *k = stg_col_text(s, 0);
        snprintf(keys[n++], DEFS_KEY_LEN + 1, "%s", k != NULL ? k : "");
        tid = stg_col_int64(s, 1);
    }
    if (rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    const tenant_defs_t *td = NULL;
    if (ret == 0 && n > 0 && (ret = stg_computed_tenant(st, tid, &td)) == 0 && td != NULL) {
        bool *only = calloc(td->ndefs, sizeof(*only));
        bool any = false;
        if (only == NULL)
            abort();
        for (size_t i = 0; i < td->ndefs; i++)
            for (size_t k = 0; k < n && !only[i]; k++)
                any |= only[i] = strcmp(td->defs[i].key, keys[k]) == 0;
        if (any)
            ret = stg_computed_rebuild(st, keep, td, only, now_ms, NULL);
        free(only);
    }
    free(keys);
    return ret;
}
