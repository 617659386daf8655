/* events.c -- the events timeline: a scroll is a keyset walk over
 * (eventTime, eventId) of the events of one profile, or of every profile
 * with an email merged here in C, below a snapshot mark. Its state travels
 * in its sealed scrollId (cursor.c): a page is a read transaction, and a
 * scroll survives restarts and is shared by every process. */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "../read/read.h"

/* A row of a page: its texts lie back to back in the page's text buffer
 * (st->page_text) from off: eventId, eventAction, source, the message. */
typedef struct {
    int64_t time_ms, received_ms;
    size_t profile; /* index into the page's profiles */
    size_t off, id_len, action_len, source_len, raw_len;
} row_t;

/* The page's scratch, kept on the connection between pages. */
typedef struct {
    row_t *rows;
    size_t n, cap;
    jsonbuf_t *text;
    size_t dead; /* bytes of text no row points at (replaced rows) */
} page_t;

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

/* The statement of the page's profiles (pks: a JSON array), bound. */
static stg_stmt_t *
profiles_stmt(storage_t *st, int64_t tid, const char *pks)
{
    stg_stmt_t *s = stg_stmt(st, S_EVENTS_PROFILES);
    if (s != NULL) {
        stg_bind_text(s, 1, pks, strlen(pks));
        stg_bind_int64(s, 2, tid);
    }
    return s;
}

/* The statement of profile pk's events after sc's position, bound. ?5,
 * the page's limit: PostgreSQL's SQL orders by (time, eventId) and stops
 * there; SQLite's reads time order only and ignores it (fetch_rows). */
static stg_stmt_t *
rows_stmt(storage_t *st, const stg_scroll_t *sc, int64_t pk)
{
    enum stmt_id id = sc->desc ? (sc->has_pos ? S_EVENTS_DESC_NEXT : S_EVENTS_DESC_FIRST)
                               : (sc->has_pos ? S_EVENTS_ASC_NEXT : S_EVENTS_ASC_FIRST);
    stg_stmt_t *s = stg_stmt(st, id);
    if (s == NULL)
        return NULL;
    stg_bind_int64(s, 1, pk);
    stg_bind_int64(s, 2, sc->start_ms);
    stg_bind_int64(s, 3, sc->end_ms);
    stg_bind_int64(s, 4, sc->mark);
    stg_bind_int(s, 5, sc->limit);
    stg_bind_text(s, 6, sc->include, sc->include != NULL ? strlen(sc->include) : 0);
    stg_bind_text(s, 7, sc->exclude, sc->exclude != NULL ? strlen(sc->exclude) : 0);
    /* a first page's statement has no position, but PostgreSQL's has the
     * snapshot after it ($10): the two typed all the same */
    stg_bind_int64(s, 8, sc->has_pos ? sc->pos_time_ms : 0);
    stg_bind_text(s, 9, sc->has_pos ? sc->pos_id : "", sc->has_pos ? sc->pos_id_len : 0);
    stg_bind_text(s, 10, sc->snap, sc->snap_len);
    return s;
}

static int
load_profiles(storage_t *st, int64_t tid, const char *pks, stg_profile_t **out, size_t *count)
{
    stg_stmt_t *s = profiles_stmt(st, tid, pks);
    *out = NULL;
    *count = 0;
    if (s == NULL)
        return STORAGE_EIO;
    return stg_profile_rows(st, s, true, out, count);
}

static const char *
row_id(const page_t *pg, const row_t *r)
{
    return pg->text->data + r->off;
}

/* (eventTime, eventId) with eventId in SQLite's BINARY order. */
static int
row_cmp(const page_t *pg, const row_t *a, const row_t *b)
{
    if (a->time_ms != b->time_ms)
        return a->time_ms < b->time_ms ? -1 : 1;
    return base_text_cmp(row_id(pg, a), a->id_len, row_id(pg, b), b->id_len);
}

/* a goes before b in the scroll's order */
static bool
row_before(const page_t *pg, bool desc, const row_t *a, const row_t *b)
{
    int c = row_cmp(pg, a, b);
    return desc ? c > 0 : c < 0;
}

/* The current row of s (columns event_id, time, received, action, source,
 * raw) into r, its texts appended to the page's text. */
static void
take_row(page_t *pg, stg_stmt_t *s, size_t profile, row_t *r)
{
    static const int cols[4] = {0, 3, 4, 5};
    const char *text[4];
    size_t len[4], total = 0;
    for (int i = 0; i < 4; i++) {
        text[i] = stg_col_text(s, cols[i]);
        len[i] = text[i] != NULL ? (size_t)stg_col_bytes(s, cols[i]) : 0;
        total += len[i];
    }
    base_jb_reserve(pg->text, total);
    r->off = pg->text->len;
    for (int i = 0; i < 4; i++)
        base_jb_append(pg->text, text[i] != NULL ? text[i] : "", len[i]);
    r->id_len = len[0];
    r->action_len = len[1];
    r->source_len = len[2];
    /* NOT NULL, stored after a strict check: none (0) only if SQLite
     * failed to hand the text over */
    r->raw_len = len[3];
    r->time_ms = stg_col_int64(s, 1);
    r->received_ms = stg_col_int64(s, 2);
    r->profile = profile;
}

static size_t
row_bytes(const row_t *r)
{
    return r->id_len + r->action_len + r->source_len + r->raw_len;
}

/* Copies the live rows' texts into a fresh buffer once replaced rows left
 * more dead text than live. */
static void
compact(page_t *pg)
{
    if (pg->dead < (1u << 20) || pg->dead < pg->text->len / 2)
        return;
    jsonbuf_t fresh;
    base_jb_init(&fresh, pg->text->len - pg->dead + 64);
    for (size_t i = 0; i < pg->n; i++) {
        row_t *r = &pg->rows[i];
        size_t off = fresh.len;
        base_jb_append(&fresh, pg->text->data + r->off, row_bytes(r));
        r->off = off;
    }
    base_jb_free(pg->text);
    *pg->text = fresh;
    pg->dead = 0;
}

/* Appends the first sc->limit events of profile pk after the position, in
 * the scroll's order. The statement reads them in time order only (the
 * index's: no sort in SQLite), so each run of equal times is ordered by
 * eventId here: rows are read until the limit is reached and the last
 * run has ended; past the limit a row of that run only replaces the kept
 * one that goes last, so at most sc->limit rows are ever held. */
static int
fetch_rows(storage_t *st, const stg_scroll_t *sc, int64_t pk, size_t profile, page_t *pg)
{
    stg_stmt_t *s = rows_stmt(st, sc, pk);
    int rc, ret = 0;
    if (s == NULL)
        return STORAGE_EIO;
    size_t first = pg->n, limit = (size_t)sc->limit;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        int64_t t = stg_col_int64(s, 1);
        if (pg->n - first < limit) {
            if (pg->n == pg->cap) {
                pg->cap = pg->cap ? pg->cap * 2 : 128;
                pg->rows = base_xrealloc(pg->rows, pg->cap * sizeof(*pg->rows));
            }
            take_row(pg, s, profile, &pg->rows[pg->n++]);
            continue;
        }
        if (t != pg->rows[pg->n - 1].time_ms)
            break; /* the last run is whole */
        /* the run goes on past the limit: keep the limit's best of it */
        row_t cand;
        size_t mark = pg->text->len;
        take_row(pg, s, profile, &cand);
        size_t worst = pg->n - 1;
        for (size_t i = pg->n - 1; i > first && pg->rows[i - 1].time_ms == t; i--)
            if (row_before(pg, sc->desc, &pg->rows[worst], &pg->rows[i - 1]))
                worst = i - 1;
        if (row_before(pg, sc->desc, &cand, &pg->rows[worst])) {
            pg->dead += row_bytes(&pg->rows[worst]);
            pg->rows[worst] = cand;
            compact(pg);
        } else {
            pg->text->len = mark; /* not kept: its text goes again */
            pg->text->data[mark] = '\0';
        }
    }
    if (rc != STG_DONE && rc != STG_ROW) /* STG_ROW: stopped early */
        ret = rc;
    stg_reset(s);
    /* Runs of equal times in eventId order: an insertion sort, the rows
     * being in order but for those runs. */
    for (size_t i = first + 1; i < pg->n; i++) {
        row_t r = pg->rows[i];
        size_t j = i;
        while (j > first && row_before(pg, sc->desc, &r, &pg->rows[j - 1])) {
            pg->rows[j] = pg->rows[j - 1];
            j--;
        }
        pg->rows[j] = r;
    }
    return ret;
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

/* p at a string's opening quote: just past its closing one (NULL if the
 * text ends first). memchr to each quote; one after an odd run of
 * backslashes is escaped. */
static const char *
skip_string(const char *p, const char *end)
{
    const char *q = p + 1;
    for (;;) {
        if ((q = memchr(q, '"', (size_t)(end - q))) == NULL)
            return NULL;
        size_t bs = 0;
        while (q - bs > p + 1 && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q + 1;
        q++;
    }
}

/* p at a value: the end of it (NULL if the text ends first). Bounded by
 * end whatever the bytes are; only strings and brackets are looked at. */
static const char *
skip_value(const char *p, const char *end)
{
    if (p < end && *p == '"')
        return skip_string(p, end);
    if (p < end && *p != '{' && *p != '[') {
        while (p < end && *p != ',' && !is_blank(*p))
            p++; /* a number, true, false or null */
        return p;
    }
    /* 1: a string, 2: opens, 3: closes */
    static const unsigned char cls[256] = {['"'] = 1, ['{'] = 2, ['['] = 2, ['}'] = 3, [']'] = 3};
    int depth = 0;
    do {
        if (p >= end)
            return NULL;
        switch (cls[(unsigned char)*p]) {
        case 0:
            p++;
            break;
        case 1:
            if ((p = skip_string(p, end)) == NULL)
                return NULL;
            break;
        case 2:
            depth++;
            p++;
            break;
        default:
            depth--;
            p++;
        }
    } while (depth > 0);
    return p;
}

#define DROP_MAX 8 /* names a drop list may have */

/* Whether a top-level member of obj (trimmed, '{' to '}') is, or could
 * be, named in drop: its members are walked, names compared (decoded when
 * they hold an escape), values skipped. Bounded and safe on any bytes:
 * anything unexpected answers true, and the caller then checks the text
 * strictly and walks it again. */
static bool
may_clash(span_t obj, const char *const *drop)
{
    size_t lens[DROP_MAX], nd = 0;
    for (; drop[nd] != NULL; nd++) {
        if (nd == DROP_MAX)
            return true;
        lens[nd] = strlen(drop[nd]);
    }
    const char *p = obj.p + 1, *end = obj.p + obj.n - 1; /* inside the braces */
    for (;;) {
        while (p < end && (is_blank(*p) || *p == ','))
            p++;
        if (p >= end)
            return false;
        if (*p != '"')
            return true;
        const char *q = skip_string(p, end);
        if (q == NULL)
            return true;
        span_t key = {p + 1, (size_t)(q - 1 - (p + 1))};
        bool escaped = memchr(key.p, '\\', key.n) != NULL;
        /* base_json_key_is decodes only valid escapes: check such a name */
        if (escaped && base_json_check(p, (size_t)(q - p)) != NULL)
            return true;
        for (size_t i = 0; i < nd; i++)
            if (escaped ? base_json_key_is(key, drop[i], lens[i]) : key.n == lens[i] && memcmp(drop[i], key.p, key.n) == 0)
                return true;
        p = q;
        while (p < end && is_blank(*p))
            p++;
        if (p >= end || *p != ':')
            return true;
        p++;
        while (p < end && is_blank(*p))
            p++;
        if ((p = skip_value(p, end)) == NULL)
            return true;
    }
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
    /* The member iteration below trusts its text: it checks it first, as
     * nothing else did since it was stored. Most messages need neither. */
    span_t obj = {raw, n};
    while (obj.n > 0 && is_blank(obj.p[obj.n - 1]))
        obj.n--;
    while (obj.n > 0 && is_blank(obj.p[0])) {
        obj.p++;
        obj.n--;
    }
    if (raw == NULL || obj.n < 2 || obj.p[0] != '{' || obj.p[obj.n - 1] != '}') {
        base_jb_open(b, '{');
        return;
    }
    if (!may_clash(obj, drop)) {
        /* As stored, up to (not including) its closing brace. The text was
         * checked strictly when it was stored and is trusted here, as the
         * events' rawData is: no second check of it. */
        size_t end = obj.n - 1;
        while (end > 1 && is_blank(obj.p[end - 1]))
            end--;
        base_jb_raw(b, obj.p, end);
        return;
    }
    if (base_json_check(obj.p, obj.n) != NULL) {
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

/* What every event of a profile shows of it and of the tenant, written
 * once a page: head, the event's members up to its eventId's value
 * (`{"id":…,"externalId":…,"email":…,"eventId":`), and mid, those between
 * its eventAction and its source (`"clientId":…,"userId":…,"source":`). */
typedef struct {
    size_t head_off, head_len, mid_off, mid_len;
} frag_t;

static void
write_frags(jsonbuf_t *f, const storage_tenant_t *t, const stg_profile_t *p, frag_t *out)
{
    out->head_off = f->len;
    base_jb_open(f, '{');
    base_jb_rawkey(f, "id", 2);
    base_jb_str(f, p->uuid, p->uuid_len);
    stg_jb_external_id(f, p->user_id, p->user_id_len, p->email, p->email_len);
    base_jb_rawkey(f, "email", 5);
    write_null_or_raw(f, p->email, p->email_len);
    base_jb_rawkey(f, "eventId", 7);
    out->head_len = f->len - out->head_off;
    out->mid_off = f->len; /* after a ':', so no comma before it */
    base_jb_rawkey(f, "clientId", 8);
    base_jb_str(f, t->client, t->client_len);
    base_jb_rawkey(f, "accountId", 9);
    base_jb_str(f, t->account, t->account_len);
    base_jb_rawkey(f, "brandId", 7);
    base_jb_str(f, t->brand != NULL ? t->brand : "", t->brand != NULL ? t->brand_len : 0);
    base_jb_rawkey(f, "customerId", 10);
    base_jb_str(f, p->uuid, p->uuid_len);
    base_jb_rawkey(f, "userId", 6);
    if (p->user_id != NULL)
        base_jb_str(f, p->user_id, p->user_id_len);
    else
        base_jb_raw(f, "null", 4);
    base_jb_rawkey(f, "source", 6);
    out->mid_len = f->len - out->mid_off;
}

/* One event: its profile's prebuilt members spliced around its own, its
 * message as stored. */
static void
write_event(jsonbuf_t *b, const jsonbuf_t *f, const frag_t *fr, const page_t *pg, const row_t *r)
{
    const char *text = pg->text->data + r->off;
    base_jb_raw(b, f->data + fr->head_off, fr->head_len);
    base_jb_str(b, text, r->id_len);
    /* the names between the values as constant runs (each after a value:
     * the comma is theirs) */
    base_jb_append(b, ",\"eventTime\":", 13);
    base_jb_time(b, r->time_ms);
    base_jb_append(b, ",\"receivedTime\":", 16);
    base_jb_time(b, r->received_ms);
    base_jb_append(b, ",\"eventAction\":", 15);
    base_jb_str(b, text + r->id_len, r->action_len);
    base_jb_raw(b, f->data + fr->mid_off, fr->mid_len);
    base_jb_str(b, text + r->id_len + r->action_len, r->source_len);
    base_jb_append(b, ",\"rawData\":", 11);
    stg_jb_message(b, r->raw_len > 0 ? text + r->id_len + r->action_len + r->source_len : NULL, r->raw_len, NULL);
    base_jb_close(b, '}');
}

/* Builds the "data" array of the page after sc's position into b and
 * moves the position to its last event. Each profile gives at most a page
 * of candidates from its own keyset seek; they are merged here. The rows
 * and their texts go into the connection's scratch (reused, grown
 * geometrically), b grows once: to the size the rows tell. */
static int
read_page(storage_t *st, const storage_tenant_t *t, int64_t tid, stg_scroll_t *sc, jsonbuf_t *b)
{
    stg_profile_t *profiles = NULL;
    size_t np = 0, *head = NULL, *end = NULL;
    frag_t *frags = NULL;
    jsonbuf_t f = {0};
    stg_scratch_take(&st->page_text);
    page_t pg = {st->page_rows, 0, st->page_rows_cap, &st->page_text, 0};
    if (sc->npks == 1) { /* the profile and its events asked at once (stg_prefetch): a statement holds one answer */
        stg_stmt_t *v[2] = {profiles_stmt(st, tid, sc->profiles), rows_stmt(st, sc, sc->pks[0])};
        stg_prefetch(st, v, 2);
    }
    int ret = load_profiles(st, tid, sc->profiles, &profiles, &np);
    if (ret != 0)
        return ret;
    if (np != sc->npks) {
        stg_profiles_free(profiles, np);
        return STORAGE_ENOTFOUND; /* one erased or merged away since the scroll began */
    }
    head = base_xcalloc(2 * np + 1, sizeof(*head));
    end = head + np;
    for (size_t i = 0; i < np; i++) {
        head[i] = pg.n;
        if ((ret = fetch_rows(st, sc, profiles[i].pk, i, &pg)) != 0)
            goto fail;
        end[i] = pg.n;
    }

    frags = base_xcalloc(np + 1, sizeof(*frags));
    base_jb_init(&f, 512 * np);
    for (size_t i = 0; i < np; i++)
        write_frags(&f, t, &profiles[i], &frags[i]);
    /* the page's size, but for escapes in eventIds, actions and sources */
    size_t want = 2;
    for (size_t i = 0; i < pg.n; i++) {
        const frag_t *fr = &frags[pg.rows[i].profile];
        want += row_bytes(&pg.rows[i]) + fr->head_len + fr->mid_len + 128;
    }
    if (pg.n > (size_t)sc->limit) /* an email's profiles: a page of them goes out */
        want = want / pg.n * (size_t)sc->limit;
    base_jb_reserve(b, want);

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
            if (row_before(&pg, sc->desc, &pg.rows[head[i]], &pg.rows[head[best]]))
                best = i;
        }
        if (best == np)
            break;
        last = &pg.rows[head[best]++];
        write_event(b, &f, &frags[last->profile], &pg, last);
    }
    base_jb_close(b, ']');
    if (last != NULL) {
        free(sc->pos_id);
        sc->pos_id = base_xmalloc(last->id_len + 1);
        memcpy(sc->pos_id, row_id(&pg, last), last->id_len);
        sc->pos_id[last->id_len] = '\0';
        sc->pos_id_len = last->id_len;
        sc->pos_time_ms = last->time_ms;
        sc->has_pos = true;
    }
fail:
    st->page_rows = pg.rows;
    st->page_rows_cap = pg.cap;
    stg_scratch_done(&st->page_text);
    if (st->page_rows_cap * sizeof(row_t) > STG_PAGE_SCRATCH_KEEP) {
        free(st->page_rows);
        st->page_rows = NULL;
        st->page_rows_cap = 0;
    }
    base_jb_free(&f);
    free(frags);
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
