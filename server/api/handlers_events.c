/* handlers_events.c -- the scrolled routes: a profile's events timeline
 * (include, exclude, start, end, sort, limit) and a trait's history
 * (trait, start, end, limit), or a scrollId of either; validated here, the
 * page built by a worker (storage seals the scroll into its scrollId, and
 * checks it against the path's profile id). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"

/* The first page of a profile's events: the query, whose include and
 * exclude lists point into text after the id. */
typedef struct {
    job_t job;
    storage_id_type_t id_type;
    storage_event_query_t q;
    size_t id_len;
    char *entry; /* what the cache keeps of the page (cache_entry); NULL: nothing */
    size_t entry_len;
    char text[]; /* the id, include and exclude, each ended by a NUL */
} events_job_t;

/* A first page's cache entry: the scroll's state after the page
 * (storage_scroll_kept: n, then n bytes), then the page's data array. Each
 * hit makes a body of its own from them (events_render). */
static char *
cache_entry(const storage_t *st, const char *body, size_t body_len, size_t *len)
{
    const unsigned char *state;
    size_t n, off, data_len;
    if (storage_scroll_kept(st, &state, &n, &off, &data_len) != 0 || n > UINT32_MAX || off + data_len > body_len)
        return NULL;
    uint32_t n32 = (uint32_t)n;
    *len = 4 + n + data_len;
    char *e = base_xmalloc(*len);
    memcpy(e, &n32, 4);
    memcpy(e + 4, state, n);
    memcpy(e + 4 + n, body + off, data_len);
    return e;
}

static int
run_events_begin(job_t *job, storage_t *st)
{
    events_job_t *ev = (events_job_t *)job;
    int rc = storage_events_begin(st, &job->tenant, ev->id_type, ev->text, ev->id_len, &ev->q, server_now_ms(job->loop->srv),
                                  (int64_t)job->loop->srv->cfg.scroll_ttl * 1000, &job->body, &job->body_len);
    if (rc == 0 && job->cache_key != NULL) {
        storage_view_tags(st, &job->stamp.tags, &job->stamp.n_tags);
        ev->entry = cache_entry(st, job->body, job->body_len, &ev->entry_len);
    }
    return job_read_result(job, rc, "Profile was not found.");
}

/* Loop thread, the page answered 200: into the cache (cache_fill keeps
 * nothing when a commit since the read touched it). */
static void
fill_events(job_t *job)
{
    events_job_t *ev = (events_job_t *)job;
    if (ev->entry != NULL)
        cache_fill(job->loop, job->cache_key, job->cache_key_len, &job->stamp, ev->entry, ev->entry_len, "");
    free(ev->entry);
    ev->entry = NULL;
}

/* The cache key of a first page: the path and every parameter (include
 * and exclude NULL when not given). */
static size_t
events_cache_key(char *buf, size_t cap, const reqctx_t *rc, int type, h2o_iovec_t id, const storage_event_query_t *q,
                 const h2o_iovec_t *include, const h2o_iovec_t *exclude)
{
    char f[VIEW_CACHE_KEY_MAX];
    size_t n = 0, il = include != NULL ? include->len : 0, xl = exclude != NULL ? exclude->len : 0;
    if (1 + 16 + 8 + il + xl > sizeof(f))
        return 0;
    uint32_t il32 = (uint32_t)il, xl32 = (uint32_t)xl;
    f[n++] = (char)((include != NULL ? 1 : 0) | (exclude != NULL ? 2 : 0));
    memcpy(f + n, &q->start_ms, 8);
    memcpy(f + n + 8, &q->end_ms, 8);
    n += 16;
    memcpy(f + n, &il32, 4);
    if (il > 0)
        memcpy(f + n + 4, include->base, il);
    n += 4 + il;
    memcpy(f + n, &xl32, 4);
    if (xl > 0)
        memcpy(f + n + 4, exclude->base, xl);
    n += 4 + xl;
    return cache_key(buf, cap, &rc->tenant, EVENTS_CACHE_KIND, (unsigned)type, id.base, id.len, (uint32_t)q->descending,
                     (uint32_t)q->limit, f, n);
}

/* A hit's path: the scrollId is sealed for it. */
typedef struct {
    loop_t *loop;
    storage_id_type_t type;
    h2o_iovec_t id;
} events_hit_t;

/* cache_render_fn: the entry's page under a scrollId of its own. */
static int
events_render(void *ctx, const char *e, size_t len, char **body, size_t *body_len)
{
    events_hit_t *h = ctx;
    uint32_t n;
    if (len < 4)
        return -1;
    memcpy(&n, e, 4);
    if ((size_t)n > len - 4)
        return -1;
    *body = storage_scroll_reseal(h->loop->sealer, (const unsigned char *)e + 4, n, e + 4 + n, len - 4 - n, h->type, h->id.base,
                                  h->id.len, server_now_ms(h->loop->srv), (int64_t)h->loop->srv->cfg.scroll_ttl * 1000, body_len);
    return *body != NULL ? 0 : -1;
}

/* The next page of a scroll of either route: the scrollId and the path's
 * profile id it must have been started on. */
typedef struct {
    job_t job;
    storage_id_type_t id_type;
    bool history;
    size_t id_len, scroll_len;
    char text[]; /* the id, then the scrollId, each ended by a NUL */
} scroll_job_t;

static int
run_scroll_next(job_t *job, storage_t *st)
{
    scroll_job_t *s = (scroll_job_t *)job;
    const char *scroll = s->text + s->id_len + 1;
    int64_t ttl_ms = (int64_t)job->loop->srv->cfg.scroll_ttl * 1000;
    int rc = s->history ? storage_trait_history_next(st, &job->tenant, s->id_type, s->text, s->id_len, scroll, s->scroll_len,
                                                     server_now_ms(job->loop->srv), ttl_ms, &job->body, &job->body_len)
                        : storage_events_next(st, &job->tenant, s->id_type, s->text, s->id_len, scroll, s->scroll_len,
                                              server_now_ms(job->loop->srv), ttl_ms, &job->body, &job->body_len);
    if (rc == 0)
        job->status = 200;
    else if (rc == STORAGE_ENOTFOUND)
        job_error(job, ERR_INVALID_REQUEST, "scrollId is invalid or has timed out");
    else
        job_fail(job, rc, NULL);
    return JOB_DONE;
}

static void
submit_scroll_next(h2o_req_t *req, reqctx_t *rc, int type, h2o_iovec_t id, h2o_iovec_t scroll, bool history)
{
    scroll_job_t *s = job_new(req, rc, sizeof(*s) + id.len + scroll.len + 2, run_scroll_next, &rc->tenant);
    s->id_type = (storage_id_type_t)type;
    s->history = history;
    s->id_len = id.len;
    s->scroll_len = scroll.len;
    if (id.len > 0)
        memcpy(s->text, id.base, id.len);
    if (scroll.len > 0)
        memcpy(s->text + id.len + 1, scroll.base, scroll.len);
    job_submit(&s->job);
}

int
query_time_param(h2o_req_t *req, reqctx_t *rc, const char *name, int64_t *ms, bool *given)
{
    h2o_iovec_t v;
    if (given != NULL)
        *given = false;
    if (!query_param(req, name, &v))
        return 0;
    if (given != NULL)
        *given = true;
    if (base_parse_time_query(v.base, v.len, ms) != 0) {
        respond_error(req, rc, ERR_VALIDATION,
                      "Parameter '%s' must be an ISO 8601 date or date-time (e.g. 2018-01-02 or 2018-01-02T10:00:00Z); "
                      "write a '+' offset as %%2B (2018-01-02T10:00:00%%2B01:00): a bare '+' in a query is a space.",
                      name);
        return -1;
    }
    return 0;
}

/* `limit` of a first page: 0 (*limit set when given), or -1 once answered. */
static int
limit_param(h2o_req_t *req, reqctx_t *rc, int *limit)
{
    h2o_iovec_t v;
    if (query_param(req, "limit", &v) && parse_int(v, 1, 100, limit) != 0) {
        respond_error(req, rc, ERR_VALIDATION, "Parameter 'limit' must be an integer from 1 to 100.");
        return -1;
    }
    return 0;
}

void
handle_events(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    int type;
    h2o_iovec_t id, v;
    if (parse_profile_id(req, rc, params[3], &type, &id) != 0)
        return;

    /* a scroll continues its original query: other parameters are ignored */
    if (query_param(req, "scrollId", &v)) {
        submit_scroll_next(req, rc, type, id, v, false);
        return;
    }

    storage_event_query_t q = {NULL, 0, NULL, 0, INT64_MIN, INT64_MAX, 1, 100};
    h2o_iovec_t include = {NULL, 0}, exclude = {NULL, 0};
    int has_include = query_param(req, "include", &include), has_exclude = query_param(req, "exclude", &exclude);
    if (query_time_param(req, rc, "start", &q.start_ms, NULL) != 0 || query_time_param(req, rc, "end", &q.end_ms, NULL) != 0)
        return;
    if (query_param(req, "sort", &v)) {
        if (h2o_memis(v.base, v.len, H2O_STRLIT("asc")))
            q.descending = 0;
        else if (!h2o_memis(v.base, v.len, H2O_STRLIT("desc"))) {
            respond_error(req, rc, ERR_VALIDATION, "Parameter 'sort' must be 'asc' or 'desc'.");
            return;
        }
    }
    if (limit_param(req, rc, &q.limit) != 0)
        return;

    /* a first page the loop's cache has: the same page, a scroll of its own */
    char key[VIEW_CACHE_KEY_MAX];
    size_t key_len = 0;
    loop_t *loop = loop_of(req);
    if (loop->cache != NULL && loop->sealer != NULL) {
        key_len =
            events_cache_key(key, sizeof(key), rc, type, id, &q, has_include ? &include : NULL, has_exclude ? &exclude : NULL);
        events_hit_t hit = {loop, (storage_id_type_t)type, id};
        if (key_len > 0 && cache_answer_rendered(req, rc, key, key_len, events_render, &hit))
            return;
    }

    /* one allocation: the id, then include, then exclude */
    events_job_t *ev = job_new(req, rc, sizeof(*ev) + id.len + include.len + exclude.len + 3, run_events_begin, &rc->tenant);
    if (key_len > 0) {
        job_set_cache_key(&ev->job, key, key_len);
        ev->job.fill_cache = fill_events;
    }
    char *text = ev->text, *inc = text + id.len + 1, *exc = inc + include.len + 1;
    ev->id_type = (storage_id_type_t)type;
    ev->id_len = id.len;
    if (id.len > 0)
        memcpy(text, id.base, id.len);
    if (include.len > 0)
        memcpy(inc, include.base, include.len);
    if (exclude.len > 0)
        memcpy(exc, exclude.base, exclude.len);
    if (has_include) {
        q.include = inc;
        q.include_len = include.len;
    }
    if (has_exclude) {
        q.exclude = exc;
        q.exclude_len = exclude.len;
    }
    ev->q = q;
    job_submit(&ev->job);
}

int
history_off(h2o_req_t *req, reqctx_t *rc)
{
    if (loop_of(req)->srv->cfg.trait_history_days > 0)
        return 0;
    respond_error(req, rc, ERR_NO_ROUTE, "Trait history is turned off on this server (--trait-history-days 0).");
    return 1;
}

/* The first page of a trait's history: the query, whose trait key is the
 * text after the id. */
typedef struct {
    job_t job;
    storage_id_type_t id_type;
    storage_history_query_t q;
    size_t id_len;
    char text[]; /* the id and the trait key, each ended by a NUL */
} history_job_t;

static int
run_history_begin(job_t *job, storage_t *st)
{
    history_job_t *h = (history_job_t *)job;
    int rc = storage_trait_history_begin(st, &job->tenant, h->id_type, h->text, h->id_len, &h->q, server_now_ms(job->loop->srv),
                                         (int64_t)job->loop->srv->cfg.scroll_ttl * 1000, &job->body, &job->body_len);
    return job_read_result(job, rc, "Profile was not found.");
}

void
handle_trait_history(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    int type;
    h2o_iovec_t id, v, trait;
    if (parse_profile_id(req, rc, params[3], &type, &id) != 0 || history_off(req, rc))
        return;
    /* a scroll continues its original query: other parameters are ignored */
    if (query_param(req, "scrollId", &v)) {
        submit_scroll_next(req, rc, type, id, v, true);
        return;
    }
    if (!query_param(req, "trait", &trait) || trait.len == 0) {
        respond_error(req, rc, ERR_VALIDATION, "Parameter 'trait' is required: the key of the trait whose changes to list.");
        return;
    }
    storage_history_query_t q = {NULL, 0, INT64_MIN, INT64_MAX, 100};
    if (query_time_param(req, rc, "start", &q.start_ms, NULL) != 0 || query_time_param(req, rc, "end", &q.end_ms, NULL) != 0 ||
        limit_param(req, rc, &q.limit) != 0)
        return;
    history_job_t *h = job_new(req, rc, sizeof(*h) + id.len + trait.len + 2, run_history_begin, &rc->tenant);
    h->id_type = (storage_id_type_t)type;
    h->id_len = id.len;
    memcpy(h->text, id.base, id.len);
    memcpy(h->text + id.len + 1, trait.base, trait.len);
    q.trait = h->text + id.len + 1;
    q.trait_len = trait.len;
    h->q = q;
    job_submit(&h->job);
}
