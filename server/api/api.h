/* api.h -- the API (server/api/): the route table and its handlers, the
 * profile and events reads (handlers_profile.c, handlers_events.c) and
 * Segment-compatible ingestion (ingest.c). Each handler validates on the
 * loop thread and submits a job of its own kind (jobs/). Uses jobs/,
 * http/ and ops/. */
#ifndef PROFILED_SERVER_API_H
#define PROFILED_SERVER_API_H

#include <stddef.h>
#include "../http/http.h"
#include "../jobs/jobs.h"
#include "../ops/ops.h"

/* The route table (routes.c), for router_init: api_nroutes entries, the
 * first API_NOPS of them all the operations listener serves. */
extern const route_t api_routes[];
extern const size_t api_nroutes;
#define API_NOPS 3 /* /healthz, /readyz, /metrics */

enum { INGEST_BATCH = 0, INGEST_TRACK, INGEST_IDENTIFY, INGEST_PAGE, INGEST_SCREEN, INGEST_GROUP, INGEST_ALIAS };

/* Route handlers. */
void handle_health(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_ready(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_metrics(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_profile_view(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_profile_list(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_ingest(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_events(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_profile_delete(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_profile_batch(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_trait_history(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_docs(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);

/* The API reference (handlers_docs.c): handle_docs's route arg. */
enum { DOCS_HTML = 0, DOCS_JSON = 1 };
/* Reads api.html and openapi.json from --docs-dir (default: docs/ beside
 * the executable) into srv->docs, at start; a missing file is logged and
 * its route answers 404. */
void api_docs_load(server_t *srv);

/* A job about one id (a profile's, or a scrollId): the kind of the
 * profile views and of a scroll's next page. */
typedef struct {
    job_t job;
    storage_id_type_t id_type;
    storage_view_t view;
    size_t id_len;
    size_t fields_len;            /* a profile view's `fields` list after id's NUL (0: none) */
    storage_traits_opts_t traits; /* the traits view's `verbose` and `at` */
    int from, size;               /* an email lookup's page */
    char id[];                    /* id_len bytes and a NUL */
} id_job_t;

/* A new id job for req, with rc's tenant and a copy of id. Never fails
 * (out of memory aborts). */
id_job_t *id_job_new(h2o_req_t *req, reqctx_t *rc, job_run_fn run, h2o_iovec_t id);

/* Splits "{idType}:{id}" (decoded); answers 400 and returns -1 when it is
 * malformed or the idType unknown. */
int parse_profile_id(h2o_req_t *req, reqctx_t *rc, h2o_iovec_t pid, int *type, h2o_iovec_t *id);
/* The same check without an answer: 0, or -1 with the 400's message in
 * msg (msglen bytes, NUL-terminated). *id points into pid. */
int profile_id_split(h2o_iovec_t pid, int *type, h2o_iovec_t *id, char *msg, size_t msglen);
/* Room for profile_id_split's message: as much as respond_error formats
 * into before it cuts to whole characters. */
#define PROFILE_ID_MSG_MAX 2048

/* The query parameter name as a time (ISO 8601 date or date-time, as the
 * events route's start and end, an unencoded "+" offset that arrived as
 * a space taken: base_parse_time_query; handlers_events.c): 0 with *ms set, or
 * left alone when absent (*given, may be NULL, says which); -1 once
 * answered 400. */
int query_time_param(h2o_req_t *req, reqctx_t *rc, const char *name, int64_t *ms, bool *given);

/* 404 invalid_request_error of the trait history routes when the server
 * keeps none (--trait-history-days 0): 1 when answered, else 0. */
int history_off(h2o_req_t *req, reqctx_t *rc);

/* The paging parameters of the profile list and the email form: `from`
 * (0..STORAGE_PAGE_FROM_MAX, default 0) and `size` (1..max_size, default
 * max_size). 0, or -1 once answered 400. */
int page_params(h2o_req_t *req, reqctx_t *rc, int max_size, int *from, int *size);
/* "from" or "size" when the query has one of them (the first found), else
 * NULL. */
const char *page_param_given(h2o_req_t *req);

/* Parses a decimal integer within [min, max]: 0, or -1. */
int parse_int(h2o_iovec_t v, long min, long max, int *out);

/* The capped gzip inflate of ingest bodies (also for fuzz/): 0, -1 over
 * cap, -2 bad gzip, *out malloc'd. */
int ingest_gunzip(const char *in, size_t len, size_t cap, char **out, size_t *outlen);

/* `fields` (handlers_profile.c): the parameter checked on the loop thread
 * (0, or -1 once answered 400, also on external_ids; empty when absent), and
 * the selection applied to a view body on the worker. */
int view_fields_param(h2o_req_t *req, reqctx_t *rc, storage_view_t view, h2o_iovec_t *fields);
void view_select_fields(char **body, size_t *len, bool each, const char *list, size_t list_len);

/* The rendered-view cache's key of a profile view (http/cache.c), the one
 * the single-id route looks up and the batch route shares: the view and
 * its variant (verbose traits), the tenant, id type and id, the email
 * form's page and the `fields` text. 0 when it does not fit in cap bytes
 * (then the view is not cached). */
#define VIEW_CACHE_KEY_MAX 1024
/* the cache key kind of a first events page (handlers_events.c); views'
 * kinds are 2 * view + verbose */
#define EVENTS_CACHE_KIND 0xE0u
size_t view_cache_key(char *buf, size_t cap, const storage_tenant_t *t, storage_view_t view, bool verbose, int type, h2o_iovec_t id,
                      int from, int size, h2o_iovec_t fields);

#endif
