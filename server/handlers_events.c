/* handlers_events.c -- a profile's events timeline: validates include,
 * exclude, start, end, sort and limit, or takes a scrollId, and hands the
 * page to a worker (storage keeps the scroll cursor). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "server.h"

static void
run_events_begin(job_t *job, storage_t *st)
{
    int rc = storage_events_begin(st, &job->tenant, (storage_id_type_t)job->id_type, job->id, job->id_len, &job->events,
                                  base_wall_ms(), (int64_t)job->loop->srv->cfg.scroll_ttl * 1000, &job->body, &job->body_len);
    if (rc == 0)
        job->status = 200;
    else
        job_fail(job, rc, rc == STORAGE_ENOTFOUND ? "Profile was not found." : NULL);
}

static void
run_events_next(job_t *job, storage_t *st)
{
    int rc = storage_events_next(st, &job->tenant, job->id, job->id_len, base_wall_ms(),
                                 (int64_t)job->loop->srv->cfg.scroll_ttl * 1000, &job->body, &job->body_len);
    if (rc == 0)
        job->status = 200;
    else if (rc == STORAGE_ENOTFOUND)
        job_error(job, ERR_INVALID_REQUEST, "scrollId is invalid or has timed out");
    else
        job_fail(job, rc, NULL);
}

/* A time bound: ISO 8601 date or date-time. */
static int
time_param(h2o_req_t *req, reqctx_t *rc, const char *name, int64_t *ms)
{
    h2o_iovec_t v;
    if (!query_param(req, name, &v))
        return 0;
    if (base_parse_time(v.base, v.len, ms) != 0) {
        respond_error(req, rc, ERR_VALIDATION,
                      "Parameter '%s' must be an ISO 8601 date or date-time (e.g. 2018-01-02 or 2018-01-02T10:00:00Z).", name);
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
        job_t *job = job_new(req, rc, run_events_next, &rc->tenant, v.base, v.len);
        job_submit(job);
        return;
    }

    storage_event_query_t q = {NULL, 0, NULL, 0, INT64_MIN, INT64_MAX, 1, 100};
    h2o_iovec_t include = {NULL, 0}, exclude = {NULL, 0};
    int has_include = query_param(req, "include", &include), has_exclude = query_param(req, "exclude", &exclude);
    if (time_param(req, rc, "start", &q.start_ms) != 0 || time_param(req, rc, "end", &q.end_ms) != 0)
        return;
    if (query_param(req, "sort", &v)) {
        if (h2o_memis(v.base, v.len, H2O_STRLIT("asc")))
            q.descending = 0;
        else if (!h2o_memis(v.base, v.len, H2O_STRLIT("desc"))) {
            respond_error(req, rc, ERR_VALIDATION, "Parameter 'sort' must be 'asc' or 'desc'.");
            return;
        }
    }
    if (query_param(req, "limit", &v) && parse_int(v, 1, 100, &q.limit) != 0) {
        respond_error(req, rc, ERR_VALIDATION, "Parameter 'limit' must be an integer from 1 to 100.");
        return;
    }

    job_t *job = job_new(req, rc, run_events_begin, &rc->tenant, id.base, id.len);
    job->id_type = type;
    job->extra = malloc(include.len + exclude.len + 2);
    if (job->extra == NULL)
        abort();
    if (include.len > 0)
        memcpy(job->extra, include.base, include.len);
    job->extra[include.len] = '\0';
    if (exclude.len > 0)
        memcpy(job->extra + include.len + 1, exclude.base, exclude.len);
    job->extra[include.len + 1 + exclude.len] = '\0';
    if (has_include) {
        q.include = job->extra;
        q.include_len = include.len;
    }
    if (has_exclude) {
        q.exclude = job->extra + include.len + 1;
        q.exclude_len = exclude.len;
    }
    job->events = q;
    job_submit(job);
}
