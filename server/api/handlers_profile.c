/* handlers_profile.c -- the profile routes: a profile's traits, metadata,
 * audiences and external ids by `idType:id`, and the list of profiles by
 * recent activity. The loop-thread half validates (the id, `fields`); the
 * worker half reads, and keeps only the selected fields (`fields`). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"

/* 200 with a fixed JSON text. */
static void
respond_fixed(h2o_req_t *req, reqctx_t *rc, const char *text)
{
    size_t len = strlen(text);
    char *body = malloc(len + 1);
    if (body == NULL)
        abort();
    memcpy(body, text, len + 1);
    respond_json(req, rc, 200, body, len);
}

void
handle_health(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    (void)params;
    respond_fixed(req, rc, "{\"status\":\"ok\"}");
}

void
handle_ready(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    (void)params;
    server_t *srv = loop_of(req)->srv;
    if (atomic_load(&srv->draining)) {
        respond_error(req, rc, ERR_UNAVAILABLE, "Draining: shutting down.");
        return;
    }
    if (!atomic_load(&srv->db_ok)) {
        respond_error(req, rc, ERR_UNAVAILABLE, "The database is not reachable.");
        return;
    }
    const char *damage;
    if (storage_damaged(&damage)) {
        respond_error(req, rc, ERR_UNAVAILABLE, "The database is damaged (%s): writes are refused; restore it from a backup.",
                      damage);
        return;
    }
    respond_fixed(req, rc, "{\"status\":\"ready\"}");
}

void
handle_metrics(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    (void)params;
    size_t len;
    char *body = metrics_render(loop_of(req)->srv->metrics, &len);
    respond_text(req, rc, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

id_job_t *
id_job_new(h2o_req_t *req, reqctx_t *rc, job_run_fn run, h2o_iovec_t id)
{
    id_job_t *j = job_new(req, rc, sizeof(*j) + id.len + 1, run, &rc->tenant);
    j->id_len = id.len;
    if (id.len > 0)
        memcpy(j->id, id.base, id.len);
    return j;
}

/* Keeps in *body only the members the `fields` list names (checked before
 * the job was made), each element of "data" for an email lookup (each).
 * Shared with the batch route. */
void
view_select_fields(char **body, size_t *len, bool each, const char *list, size_t list_len)
{
    field_list_t fl;
    const char *why;
    if (base_fields_parse(list, list_len, &fl, &why) != 0)
        return; /* cannot happen: checked on the loop thread */
    jsonbuf_t b;
    base_jb_init(&b, *len + 1);
    if (each)
        base_json_select_data(*body, *len, &fl, &b);
    else
        base_json_select(*body, *len, &fl, &b);
    free(*body);
    *body = b.data;
    *len = b.len;
}

/* The `fields` parameter of a view route (refused on external_ids, whose
 * shape is fixed): 0 with *fields (empty when absent), or -1 once answered
 * 400. */
int
view_fields_param(h2o_req_t *req, reqctx_t *rc, storage_view_t view, h2o_iovec_t *fields)
{
    *fields = h2o_iovec_init("", 0);
    if (!query_param(req, "fields", fields))
        return 0;
    if (view == STORAGE_VIEW_EXTERNAL_IDS) {
        respond_error(req, rc, ERR_INVALID_REQUEST, "Parameter 'fields' does not apply to external_ids: its shape is fixed.");
        return -1;
    }
    field_list_t fl;
    const char *why;
    if (base_fields_parse(fields->base, fields->len, &fl, &why) != 0) {
        respond_error(req, rc, ERR_VALIDATION, "Parameter 'fields' %s.", why);
        return -1;
    }
    return 0;
}

size_t
view_cache_key(char *buf, size_t cap, const storage_tenant_t *t, storage_view_t view, bool verbose, int type, h2o_iovec_t id,
               int from, int size, h2o_iovec_t fields)
{
    unsigned kind = (unsigned)view * 2 + (verbose ? 1 : 0);
    return cache_key(buf, cap, t, kind, (unsigned)type, id.base, id.len, (uint32_t)from, (uint32_t)size, fields.base, fields.len);
}

static int
run_profile_view(job_t *job, storage_t *st)
{
    id_job_t *v = (id_job_t *)job;
    int rc = v->view == STORAGE_VIEW_TRAITS && (v->traits.verbose || v->traits.has_at)
                 ? storage_traits_view(st, &job->tenant, v->id_type, v->id, v->id_len, &v->traits, v->from, v->size, &job->body,
                                       &job->body_len)
                 : storage_profile_view_page(st, &job->tenant, v->id_type, v->id, v->id_len, v->view, v->from, v->size, &job->body,
                                             &job->body_len);
    if (rc == 0 && v->fields_len > 0)
        view_select_fields(&job->body, &job->body_len, v->id_type == STORAGE_ID_EMAIL, v->id + v->id_len + 1, v->fields_len);
    if (rc == 0)
        job_set_etag(job); /* last: of the final body (after any step that changes it) */
    if (rc == 0 && job->cache_key != NULL) {
        storage_view_validity(st, &job->stamp.from_ms, &job->stamp.until_ms);
        storage_view_tags(st, &job->stamp.tags, &job->stamp.n_tags);
    }
    return job_read_result(job, rc, "Profile was not found.");
}

int
profile_id_split(h2o_iovec_t pid, int *type, h2o_iovec_t *id, char *msg, size_t msglen)
{
    const char *colon = memchr(pid.base, ':', pid.len);
    if (colon == NULL || colon == pid.base || colon == pid.base + pid.len - 1) {
        snprintf(msg, msglen, "ProfileID must be in format of id_type:id");
        return -1;
    }
    size_t tlen = (size_t)(colon - pid.base);
    storage_id_type_t t;
    *type = storage_id_type_parse(pid.base, tlen, &t) == 0 ? (int)t : -1;
    if (*type < 0) {
        snprintf(msg, msglen, "Unknown idType '%.*s': expected userId (or user_id), email, anonymousId (or anonymous_id) or id.",
                 (int)tlen, pid.base);
        return -1;
    }
    *id = h2o_iovec_init(colon + 1, pid.len - tlen - 1);
    /* ids are stored as UTF-8; percent-encoded surrogates (%ED%A0%80) or
     * stray bytes name no profile, and must not be turned into one */
    if (!base_utf8_valid(id->base, id->len)) {
        snprintf(msg, msglen, "The id in the ProfileID must be UTF-8 (no surrogates, no stray bytes).");
        return -1;
    }
    return 0;
}

int
parse_profile_id(h2o_req_t *req, reqctx_t *rc, h2o_iovec_t pid, int *type, h2o_iovec_t *id)
{
    char msg[PROFILE_ID_MSG_MAX]; /* respond_error cuts it */
    if (profile_id_split(pid, type, id, msg, sizeof(msg)) != 0) {
        respond_error(req, rc, ERR_VALIDATION, "%s", msg);
        return -1;
    }
    return 0;
}

/* `verbose` and `at` of the traits route: 0, or -1 once answered (400;
 * 404 for `at` when the server keeps no history). */
static int
traits_params(h2o_req_t *req, reqctx_t *rc, storage_traits_opts_t *o)
{
    h2o_iovec_t v;
    if (query_param(req, "verbose", &v)) {
        if (h2o_memis(v.base, v.len, H2O_STRLIT("true")))
            o->verbose = true;
        else if (!h2o_memis(v.base, v.len, H2O_STRLIT("false"))) {
            respond_error(req, rc, ERR_VALIDATION, "Parameter 'verbose' must be 'true' or 'false'.");
            return -1;
        }
    }
    if (query_time_param(req, rc, "at", &o->at_ms, &o->has_at) != 0)
        return -1;
    if (o->has_at && history_off(req, rc))
        return -1;
    return 0;
}

void
handle_profile_view(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    int type;
    h2o_iovec_t id;
    if (parse_profile_id(req, rc, params[3], &type, &id) != 0)
        return;
    storage_view_t view = (storage_view_t)rc->route->arg;
    h2o_iovec_t fields; /* not on external_ids: the route's query list refuses it */
    if (view_fields_param(req, rc, view, &fields) != 0)
        return;
    int from = 0, size = STORAGE_EMAIL_PAGE_MAX;
    if (type != STORAGE_ID_EMAIL) {
        const char *given = page_param_given(req);
        if (given != NULL) {
            respond_error(req, rc, ERR_INVALID_REQUEST,
                          "Parameter '%s' applies only to email lookups (idType email, which may name several profiles) and to "
                          "the profile list: a %s names one profile.",
                          given, storage_id_type_name((storage_id_type_t)type));
            return;
        }
    } else if (page_params(req, rc, STORAGE_EMAIL_PAGE_MAX, &from, &size) != 0) {
        return;
    }
    storage_traits_opts_t traits = {0};
    if (view == STORAGE_VIEW_TRAITS && traits_params(req, rc, &traits) != 0)
        return;
    /* a current view comes from the loop's cache (not `at`: the past) */
    char key[VIEW_CACHE_KEY_MAX];
    size_t key_len = 0;
    if (!traits.has_at && loop_of(req)->cache != NULL) {
        key_len = view_cache_key(key, sizeof(key), &rc->tenant, view, traits.verbose, type, id, from, size, fields);
        if (cache_answer(req, rc, key, key_len))
            return;
    }
    id_job_t *v = job_new(req, rc, sizeof(*v) + id.len + 1 + fields.len + 1, run_profile_view, &rc->tenant);
    if (key_len > 0)
        job_set_cache_key(&v->job, key, key_len);
    v->id_len = id.len;
    memcpy(v->id, id.base, id.len);
    v->fields_len = fields.len;
    memcpy(v->id + id.len + 1, fields.base, fields.len);
    v->id_type = (storage_id_type_t)type;
    v->view = view;
    v->traits = traits;
    v->from = from;
    v->size = size;
    job_submit(&v->job);
}

int
parse_int(h2o_iovec_t v, long min, long max, int *out)
{
    if (v.len == 0 || v.len > 10)
        return -1;
    long n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        n = n * 10 + (v.base[i] - '0');
    }
    if (n < min || n > max)
        return -1;
    *out = (int)n;
    return 0;
}

/* A profile's erasure: run by the writer, in its group commit (so in
 * order with ingest), answered once committed. */
typedef struct {
    write_job_t w;
    storage_id_type_t id_type;
    size_t id_len;
    char id[]; /* id_len bytes and a NUL */
} delete_job_t;

static int
store_delete(write_job_t *wj, storage_t *st, int64_t now_ms, char *err, size_t errlen)
{
    delete_job_t *d = (delete_job_t *)wj;
    return storage_profile_delete(st, &wj->job.tenant, d->id_type, d->id, d->id_len, now_ms, err, errlen);
}

static int
run_delete(job_t *job, storage_t *st)
{
    (void)st;
    writer_push(job->loop->srv->writer, (write_job_t *)job);
    return JOB_PASSED;
}

void
handle_profile_delete(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    int type;
    h2o_iovec_t id;
    if (storage_damaged(NULL)) {
        respond_error(req, rc, ERR_UNAVAILABLE, "The database is damaged: writes are refused until it is restored.");
        return;
    }
    if (parse_profile_id(req, rc, params[3], &type, &id) != 0)
        return;
    if (type == STORAGE_ID_EMAIL) {
        respond_error(req, rc, ERR_VALIDATION,
                      "An email may name several profiles: delete by userId, anonymousId or id (see the profile's external_ids).");
        return;
    }
    delete_job_t *d = job_new(req, rc, sizeof(*d) + id.len + 1, run_delete, &rc->tenant);
    d->w.store = store_delete;
    d->id_type = (storage_id_type_t)type;
    d->id_len = id.len;
    memcpy(d->id, id.base, id.len);
    job_submit(&d->w.job);
}

/* A page of the profile list. */
typedef struct {
    job_t job;
    int from, size;
} list_job_t;

static int
run_profile_list(job_t *job, storage_t *st)
{
    list_job_t *l = (list_job_t *)job;
    int rc = storage_profile_list(st, &job->tenant, l->from, l->size, &job->body, &job->body_len);
    return job_read_result(job, rc, NULL);
}

const char *
page_param_given(h2o_req_t *req)
{
    h2o_iovec_t v;
    return query_param(req, "from", &v) ? "from" : query_param(req, "size", &v) ? "size" : NULL;
}

int
page_params(h2o_req_t *req, reqctx_t *rc, int max_size, int *from, int *size)
{
    h2o_iovec_t v;
    *from = 0;
    *size = max_size;
    if (query_param(req, "from", &v) && parse_int(v, 0, STORAGE_PAGE_FROM_MAX, from) != 0) {
        respond_error(req, rc, ERR_VALIDATION, "Parameter 'from' must be an integer from 0 to %d.", STORAGE_PAGE_FROM_MAX);
        return -1;
    }
    if (query_param(req, "size", &v) && parse_int(v, 1, max_size, size) != 0) {
        respond_error(req, rc, ERR_VALIDATION, "Parameter 'size' must be an integer from 1 to %d.", max_size);
        return -1;
    }
    return 0;
}

void
handle_profile_list(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    (void)params;
    int from, size;
    if (page_params(req, rc, 100, &from, &size) != 0)
        return;
    list_job_t *l = job_new(req, rc, sizeof(*l), run_profile_list, &rc->tenant);
    l->from = from;
    l->size = size;
    job_submit(&l->job);
}
