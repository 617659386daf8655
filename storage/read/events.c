/* events.c -- the events timeline: a scroll is a keyset walk over
 * (eventTime, eventId) of the events of one profile, or of every profile
 * with an email merged here in C, below a snapshot mark. Its state travels
 * in its sealed scrollId (cursor.c): a page is a read transaction, and a
 * scroll survives restarts and is shared by every process. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "../read/read.h"

typedef struct {
    int64_t time_ms, received_ms;
    size_t profile; /* index into the page's profiles */
    char *id;       /* one allocation holding the four texts */
    const char *action, *source, *raw;
    size_t id_len, action_len, source_len, raw_len;
} row_t;

/* The non-empty items of a comma-separated list as a JSON array, ASCII
 * lower-cased as SQLite's lower() does; NULL when there are none. */
static char *
key_list(const char *list, size_t n)
{
    if (list == NULL)
        return NULL;
    jsonbuf_t b;
    char *lower = malloc(n + 1);
    if (lower == NULL)
        abort();
    size_t items = 0, start = 0;
    base_jb_init(&b, n + 16);
    base_jb_open(&b, '[');
    for (size_t i = 0; i <= n; i++) {
        if (i < n && list[i] != ',')
            continue;
        if (i > start) {
            for (size_t j = start; j < i; j++) {
                char c = list[j];
                lower[j - start] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
            }
            base_jb_str(&b, lower, i - start);
            items++;
        }
        start = i + 1;
    }
    base_jb_close(&b, ']');
    free(lower);
    if (items == 0) {
        base_jb_free(&b);
        return NULL;
    }
    return b.data;
}

static int
load_profiles(storage_t *st, int64_t tid, const char *pks, stg_profile_t **out, size_t *count)
{
    stg_stmt_t *s = stg_stmt(st, S_EVENTS_PROFILES);
    *out = NULL;
    *count = 0;
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_text(s, 1, pks, strlen(pks));
    stg_bind_int64(s, 2, tid);
    return stg_profile_rows(st, s, true, out, count);
}

/* Appends up to sc->limit events of profile pk after the position, in the
 * scroll's order. */
static int
fetch_rows(storage_t *st, const stg_scroll_t *sc, int64_t pk, size_t profile, row_t **rows, size_t *n, size_t *cap)
{
    enum stmt_id id = sc->desc ? (sc->has_pos ? S_EVENTS_DESC_NEXT : S_EVENTS_DESC_FIRST)
                               : (sc->has_pos ? S_EVENTS_ASC_NEXT : S_EVENTS_ASC_FIRST);
    stg_stmt_t *s = stg_stmt(st, id);
    int rc, ret = 0;
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_int64(s, 2, sc->start_ms);
    stg_bind_int64(s, 3, sc->end_ms);
    stg_bind_int64(s, 4, sc->mark);
    stg_bind_int(s, 5, sc->limit);
    stg_bind_text(s, 6, sc->include, sc->include != NULL ? strlen(sc->include) : 0);
    stg_bind_text(s, 7, sc->exclude, sc->exclude != NULL ? strlen(sc->exclude) : 0);
    if (sc->has_pos) {
        stg_bind_int64(s, 8, sc->pos_time_ms);
        stg_bind_text(s, 9, sc->pos_id, sc->pos_id_len);
    }
    while ((rc = stg_step(st, s)) == STG_ROW) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : (size_t)sc->limit;
            row_t *p = realloc(*rows, *cap * sizeof(**rows));
            if (p == NULL)
                abort();
            *rows = p;
        }
        row_t *r = &(*rows)[(*n)++];
        const char *text[4];
        size_t len[4], total = 0;
        static const int cols[4] = {0, 3, 4, 5}; /* event_id, event_action, source, raw */
        for (int i = 0; i < 4; i++) {
            text[i] = stg_col_text(s, cols[i]);
            len[i] = text[i] != NULL ? (size_t)stg_col_bytes(s, cols[i]) : 0;
            total += len[i] + 1;
        }
        char *mem = malloc(total);
        if (mem == NULL)
            abort();
        char *f[4];
        for (int i = 0; i < 4; i++) {
            f[i] = mem;
            if (len[i] > 0)
                memcpy(mem, text[i], len[i]);
            mem[len[i]] = '\0';
            mem += len[i] + 1;
        }
        r->id = f[0];
        r->id_len = len[0];
        r->action = f[1];
        r->action_len = len[1];
        r->source = f[2];
        r->source_len = len[2];
        /* NOT NULL, stored after a strict check: none only if SQLite
         * failed to hand the text over. */
        r->raw = len[3] > 0 ? f[3] : NULL;
        r->raw_len = len[3];
        r->time_ms = stg_col_int64(s, 1);
        r->received_ms = stg_col_int64(s, 2);
        r->profile = profile;
    }
    if (rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    return ret;
}

/* (eventTime, eventId) with eventId in SQLite's BINARY order. */
static int
row_cmp(const row_t *a, const row_t *b)
{
    if (a->time_ms != b->time_ms)
        return a->time_ms < b->time_ms ? -1 : 1;
    size_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
    int c = memcmp(a->id, b->id, n);
    if (c != 0)
        return c;
    return a->id_len < b->id_len ? -1 : a->id_len > b->id_len;
}

static void
write_null_or_raw(jsonbuf_t *b, const char *s, size_t n)
{
    if (s != NULL)
        base_jb_raw(b, s, n);
    else
        base_jb_raw(b, "null", 4);
}

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_dropped(span_t key, const char *const *drop)
{
    for (; *drop != NULL; drop++)
        if (base_json_key_is(key, *drop, strlen(*drop)))
            return true;
    return false;
}

void
stg_jb_message(jsonbuf_t *b, const char *raw, size_t n, const char *const *drop)
{
    if (drop == NULL) {
        if (raw != NULL && n > 0)
            base_jb_raw(b, raw, n);
        else
            base_jb_raw(b, "null", 4);
        return;
    }
    /* The member iteration trusts its text: check it, as nothing else did
     * since it was stored. */
    span_t obj = {raw, n};
    while (obj.n > 0 && is_blank(obj.p[obj.n - 1]))
        obj.n--;
    while (obj.n > 0 && is_blank(obj.p[0])) {
        obj.p++;
        obj.n--;
    }
    if (raw == NULL || obj.n < 2 || obj.p[0] != '{' || base_json_check(obj.p, obj.n) != NULL) {
        base_jb_open(b, '{');
        return;
    }
    jiter_t it;
    span_t key, value;
    bool clash = false;
    base_json_members(&it, obj);
    while (!clash && base_json_next(&it, &key, &value))
        clash = is_dropped(key, drop);
    if (!clash) {
        /* As stored, up to (not including) its closing brace. */
        size_t end = obj.n - 1;
        while (end > 1 && is_blank(obj.p[end - 1]))
            end--;
        base_jb_raw(b, obj.p, end);
        return;
    }
    /* Each member the caller does not replace, its text as stored: only the
     * blanks between members are lost. */
    base_jb_open(b, '{');
    base_json_members(&it, obj);
    while (base_json_next(&it, &key, &value))
        if (!is_dropped(key, drop))
            base_jb_raw(b, key.p - 1, (size_t)(value.p + value.n - (key.p - 1)));
}

static void
write_event(jsonbuf_t *b, const storage_tenant_t *t, const stg_profile_t *p, const row_t *r)
{
    base_jb_open(b, '{');
    base_jb_key(b, "id", 2);
    base_jb_str(b, p->uuid, p->uuid_len);
    stg_jb_external_id(b, p->user_id, p->user_id_len, p->email, p->email_len);
    base_jb_key(b, "email", 5);
    write_null_or_raw(b, p->email, p->email_len);
    base_jb_key(b, "eventId", 7);
    base_jb_str(b, r->id, r->id_len);
    base_jb_key(b, "eventTime", 9);
    base_jb_time(b, r->time_ms);
    base_jb_key(b, "receivedTime", 12);
    base_jb_time(b, r->received_ms);
    base_jb_key(b, "eventAction", 11);
    base_jb_str(b, r->action, r->action_len);
    base_jb_key(b, "clientId", 8);
    base_jb_str(b, t->client, t->client_len);
    base_jb_key(b, "accountId", 9);
    base_jb_str(b, t->account, t->account_len);
    base_jb_key(b, "brandId", 7);
    base_jb_str(b, t->brand != NULL ? t->brand : "", t->brand != NULL ? t->brand_len : 0);
    base_jb_key(b, "customerId", 10);
    base_jb_str(b, p->uuid, p->uuid_len);
    base_jb_key(b, "userId", 6);
    if (p->user_id != NULL)
        base_jb_str(b, p->user_id, p->user_id_len);
    else
        base_jb_raw(b, "null", 4);
    base_jb_key(b, "source", 6);
    base_jb_str(b, r->source, r->source_len);
    base_jb_key(b, "rawData", 7);
    stg_jb_message(b, r->raw, r->raw_len, NULL);
    base_jb_close(b, '}');
}

/* Builds the "data" array of the page after sc's position into b and
 * moves the position to its last event. Each profile gives at most a page
 * of candidates from its own keyset seek; they are merged here. */
static int
read_page(storage_t *st, const storage_tenant_t *t, int64_t tid, stg_scroll_t *sc, jsonbuf_t *b)
{
    stg_profile_t *profiles = NULL;
    row_t *rows = NULL;
    size_t np = 0, nr = 0, cap = 0, *head = NULL, *end = NULL;
    int ret = load_profiles(st, tid, sc->profiles, &profiles, &np);
    if (ret != 0)
        return ret;
    if (np != sc->npks) {
        stg_profiles_free(profiles, np);
        return STORAGE_ENOTFOUND; /* one erased or merged away since the scroll began */
    }
    if ((head = calloc(2 * np + 1, sizeof(*head))) == NULL)
        abort();
    end = head + np;
    for (size_t i = 0; i < np; i++) {
        head[i] = nr;
        if ((ret = fetch_rows(st, sc, profiles[i].pk, i, &rows, &nr, &cap)) != 0)
            goto fail;
        end[i] = nr;
    }

    base_jb_open(b, '[');
    const row_t *last = NULL;
    for (int k = 0; k < sc->limit; k++) {
        size_t best = np;
        for (size_t i = 0; i < np; i++) {
            if (head[i] == end[i])
                continue;
            if (best == np) {
                best = i;
                continue;
            }
            int c = row_cmp(&rows[head[i]], &rows[head[best]]);
            if (sc->desc ? c > 0 : c < 0)
                best = i;
        }
        if (best == np)
            break;
        last = &rows[head[best]++];
        write_event(b, t, &profiles[last->profile], last);
    }
    base_jb_close(b, ']');
    if (last != NULL) {
        free(sc->pos_id);
        if ((sc->pos_id = malloc(last->id_len + 1)) == NULL)
            abort();
        memcpy(sc->pos_id, last->id, last->id_len + 1);
        sc->pos_id_len = last->id_len;
        sc->pos_time_ms = last->time_ms;
        sc->has_pos = true;
    }
fail:
    for (size_t i = 0; i < nr; i++)
        free(rows[i].id);
    free(rows);
    free(head);
    stg_profiles_free(profiles, np);
    return ret;
}

int
storage_events_begin(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                     const storage_event_query_t *q, int64_t now_ms, int64_t ttl_ms, char **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    if (q == NULL)
        return stg_fail(st, STORAGE_EINVAL, "invalid id type or query");
    stg_scroll_t sc = {
        .kind = STG_SCROLL_EVENTS,
        .include = key_list(q->include, q->include_len),
        .exclude = key_list(q->exclude, q->exclude_len),
        .start_ms = q->start_ms,
        .end_ms = q->end_ms,
        .desc = q->descending != 0,
        .limit = q->limit,
    };
    return stg_scroll_begin(st, tenant, id_type, id, id_len, &sc, S_EVENTS_MARK, read_page, now_ms, ttl_ms, body, len);
}

int
storage_events_next(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                    const char *scroll_id, size_t scroll_id_len, int64_t now_ms, int64_t ttl_ms, char **body, size_t *len)
{
    return stg_scroll_next(st, tenant, id_type, id, id_len, scroll_id, scroll_id_len, STG_SCROLL_EVENTS, read_page, now_ms, ttl_ms,
                           body, len);
}
