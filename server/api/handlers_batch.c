/* handlers_batch.c -- the batch lookup: POST
 * .../profiles/batch/{endpoint} with {"ids":[...]} answers one view
 * (traits, metadata, audiences, external_ids) for each of 1..100 profile
 * ids, in request order, each as the single-id route answers it, all read
 * in one snapshot. The loop-thread half checks the body and charges the
 * token one request per 10 ids (ROUTE_COSTED), then answers from the
 * loop's view cache (http/cache.c) when every valid id's view is current
 * there under one reading of the change mark (one snapshot: no commit since
 * any of them was read); else the worker half parses each id as the path
 * form does and reads them in one read transaction, and its completion puts
 * each view found into the cache under the single-id route's key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"

#define BATCH_MAX_IDS 100
#define BATCH_IDS_PER_TOKEN 10
#define BATCH_MESSAGE_MAX 508 /* as respond_error cuts a message */

typedef struct {
    size_t off, len;    /* the decoded profileId in the text */
    int lone_surrogate; /* a \u escape of half a pair: not UTF-8 */
    /* the job's outputs for the cache: status, the result's span in the
     * answer (200), its tag and its time window */
    int status;
    size_t res_off, res_len;
    char etag[20];
    int64_t from_ms, until_ms;
    uint64_t *tags; /* storage_view_tags of its view (malloc'd) */
    size_t n_tags;
} batch_entry_t;

/* The ids of a request, decoded: one allocation, entries then text. */
typedef struct {
    size_t n;
    batch_entry_t *entries;
    char *text;
} batch_ids_t;

typedef struct {
    job_t job;
    storage_view_t view;
    batch_ids_t *ids;
    char *fields;      /* the `fields` list, inline after the struct */
    size_t fields_len; /* 0: none */
} batch_job_t;

static const struct {
    const char *name;
    storage_view_t view;
} endpoints[] = {
    {"traits", STORAGE_VIEW_TRAITS},
    {"metadata", STORAGE_VIEW_METADATA},
    {"audiences", STORAGE_VIEW_AUDIENCES},
    {"external_ids", STORAGE_VIEW_EXTERNAL_IDS},
};

static void
put_error(jsonbuf_t *b, const char *code, const char *msg)
{
    char cut[BATCH_MESSAGE_MAX + 4];
    size_t used, n = strlen(msg);
    size_t len = base_utf8_copy(msg, n, cut, BATCH_MESSAGE_MAX, &used);
    if (used < n) {
        memcpy(cut + len, "\xe2\x80\xa6", 3); /* U+2026, as respond_error */
        len += 3;
    }
    base_jb_key(b, "error", 5);
    base_jb_open(b, '{');
    base_jb_key(b, "code", 4);
    base_jb_str(b, code, strlen(code));
    base_jb_key(b, "message", 7);
    base_jb_str(b, cut, len);
    base_jb_close(b, '}');
}

/* Entry i's profileId split as the path form's: 0 with type and id (in
 * the text), else -1 with the 400's message. */
static int
entry_split(const batch_ids_t *ids, size_t i, int *type, h2o_iovec_t *id, char *msg, size_t msglen)
{
    const batch_entry_t *e = &ids->entries[i];
    if (e->lone_surrogate) {
        snprintf(msg, msglen, "The id in the ProfileID must be UTF-8 (no surrogates, no stray bytes).");
        return -1;
    }
    return profile_id_split(h2o_iovec_init(ids->text + e->off, e->len), type, id, msg, msglen);
}

/* One element of "data": status 400 (msg), 404 (result NULL) or 200 with
 * result, whose span in the answer goes to *res_off. */
static void
put_entry(jsonbuf_t *b, const batch_ids_t *ids, size_t i, int status, const char *msg, const char *result, size_t len,
          size_t *res_off)
{
    base_jb_open(b, '{');
    base_jb_key(b, "profileId", 9);
    base_jb_str(b, ids->text + ids->entries[i].off, ids->entries[i].len);
    base_jb_key(b, "status", 6);
    base_jb_int(b, status);
    if (status == 400) {
        put_error(b, "validation_error", msg);
    } else if (status == 404) {
        put_error(b, "not_found", "Profile was not found.");
    } else {
        base_jb_key(b, "result", 6);
        base_jb_raw(b, result, len);
        *res_off = b->len - len;
    }
    base_jb_close(b, '}');
}

static int
run_batch(job_t *job, storage_t *st)
{
    batch_job_t *bj = (batch_job_t *)job;
    batch_ids_t *ids = bj->ids;
    storage_view_item_t items[BATCH_MAX_IDS];
    char(*msgs)[PROFILE_ID_MSG_MAX] = base_xcalloc(ids->n, sizeof(*msgs));
    for (size_t i = 0; i < ids->n; i++) {
        int type;
        h2o_iovec_t id;
        memset(&items[i], 0, sizeof(items[i]));
        if (entry_split(ids, i, &type, &id, msgs[i], sizeof(msgs[i])) == 0) {
            items[i].type = (storage_id_type_t)type;
            items[i].id = id.base;
            items[i].id_len = id.len;
        }
    }
    int rc = storage_profile_views(st, &job->tenant, bj->view, items, ids->n);
    if (rc != 0) {
        free(msgs);
        return job_read_result(job, rc, NULL);
    }
    jsonbuf_t b;
    size_t cap = 64;
    for (size_t i = 0; i < ids->n; i++)
        cap += items[i].len + ids->entries[i].len + 128;
    base_jb_init(&b, cap);
    base_jb_open(&b, '{');
    base_jb_key(&b, "data", 4);
    base_jb_open(&b, '[');
    for (size_t i = 0; i < ids->n; i++) {
        batch_entry_t *e = &ids->entries[i];
        e->status = items[i].id == NULL ? 400 : items[i].rc != 0 ? 404 : 200;
        if (e->status == 200) {
            if (bj->fields_len > 0)
                view_select_fields(&items[i].body, &items[i].len, items[i].type == STORAGE_ID_EMAIL, bj->fields, bj->fields_len);
            job_etag_of(items[i].body, items[i].len, e->etag);
            e->res_len = items[i].len;
            e->from_ms = items[i].from_ms;
            e->until_ms = items[i].until_ms;
            e->tags = items[i].tags;
            e->n_tags = items[i].n_tags;
            items[i].tags = NULL;
        }
        free(items[i].tags);
        put_entry(&b, ids, i, e->status, msgs[i], items[i].body, items[i].len, &e->res_off);
        free(items[i].body);
    }
    base_jb_close(&b, ']');
    base_jb_close(&b, '}');
    free(msgs);
    job->body = b.data;
    job->body_len = b.len;
    return job_read_result(job, 0, NULL);
}

/* Loop thread, with the job's answer: each view found goes into the cache
 * as the single-id route would put it (its stamp's mark was read before
 * the batch's read, so cache_fill keeps nothing when a commit came since). */
static void
fill_batch(job_t *job)
{
    batch_job_t *bj = (batch_job_t *)job;
    char key[VIEW_CACHE_KEY_MAX], msg[PROFILE_ID_MSG_MAX];
    for (size_t i = 0; i < bj->ids->n; i++) {
        const batch_entry_t *e = &bj->ids->entries[i];
        int type;
        h2o_iovec_t id;
        if (e->status != 200 || entry_split(bj->ids, i, &type, &id, msg, sizeof(msg)) != 0)
            continue;
        size_t key_len = view_cache_key(key, sizeof(key), &job->tenant, bj->view, false, type, id, 0, STORAGE_EMAIL_PAGE_MAX,
                                        h2o_iovec_init(bj->fields, bj->fields_len));
        cache_stamp_t s = job->stamp;
        s.from_ms = e->from_ms;
        s.until_ms = e->until_ms;
        s.tags = e->tags;
        s.n_tags = e->n_tags;
        cache_fill(job->loop, key, key_len, &s, job->body + e->res_off, e->res_len, e->etag);
    }
}

static void
dispose_batch(job_t *job)
{
    batch_ids_t *ids = ((batch_job_t *)job)->ids;
    for (size_t i = 0; ids != NULL && i < ids->n; i++)
        free(ids->entries[i].tags);
    free(ids);
}

/* Answers req from the loop's cache when the view of every valid id is
 * current there (as the single-id route would find it: the first page of
 * an email's, the same `fields`): 1, or 0 with the miss counted for every
 * valid id (the job reads them all). Counts one lookup per valid id. */
static int
answer_from_cache(h2o_req_t *req, reqctx_t *rc, storage_view_t view, const batch_ids_t *ids, h2o_iovec_t fields)
{
    loop_t *loop = loop_of(req);
    if (!cache_snapshot(loop))
        return 0;
    char key[VIEW_CACHE_KEY_MAX];
    char *msg = base_xmalloc(PROFILE_ID_MSG_MAX);
    size_t lookups = 0, cap = 64;
    int all = 1;
    for (size_t i = 0; i < ids->n; i++)
        cap += ids->entries[i].len + 512;
    jsonbuf_t b;
    base_jb_init(&b, cap);
    base_jb_open(&b, '{');
    base_jb_key(&b, "data", 4);
    base_jb_open(&b, '[');
    for (size_t i = 0; i < ids->n; i++) {
        int type;
        h2o_iovec_t id, body;
        size_t off;
        if (entry_split(ids, i, &type, &id, msg, PROFILE_ID_MSG_MAX) != 0) {
            if (all)
                put_entry(&b, ids, i, 400, msg, NULL, 0, &off);
            continue;
        }
        lookups++;
        if (!all)
            continue; /* only counted */
        size_t key_len = view_cache_key(key, sizeof(key), &rc->tenant, view, false, type, id, 0, STORAGE_EMAIL_PAGE_MAX, fields);
        if (cache_peek(loop, key, key_len, &body))
            put_entry(&b, ids, i, 200, NULL, body.base, body.len, &off);
        else
            all = 0;
    }
    free(msg);
    if (!all) {
        free(b.data);
        cache_count(loop, 0, lookups);
        return 0;
    }
    base_jb_close(&b, ']');
    base_jb_close(&b, '}');
    cache_count(loop, lookups, 0);
    respond_json(req, rc, 200, b.data, b.len);
    return 1;
}

/* The ids array of the body: NULL when it is fine (*ids its span, *n its
 * length), else the 400's kind in *kind and its message. */
static const char *
body_ids(h2o_req_t *req, span_t *ids, size_t *n, err_kind_t *kind)
{
    *kind = ERR_INVALID_REQUEST;
    if (req->entity.base == NULL || req->entity.len == 0)
        return "The request body must be a JSON object: {\"ids\":[\"idType:id\", ...]}.";
    if (base_json_check(req->entity.base, req->entity.len) != NULL)
        return "The request body is not valid JSON.";
    span_t root = {req->entity.base, req->entity.len};
    while (root.n > 0 && (*root.p == ' ' || *root.p == '\t' || *root.p == '\r' || *root.p == '\n'))
        root.p++, root.n--;
    if (root.n == 0 || *root.p != '{')
        return "The request body must be a JSON object: {\"ids\":[\"idType:id\", ...]}.";
    *kind = ERR_VALIDATION;
    jiter_t it;
    span_t key, value;
    int found = 0;
    base_json_members(&it, root);
    while (base_json_next(&it, &key, &value)) {
        if (!base_json_key_is(key, "ids", 3))
            continue; /* other members are ignored */
        if (found++)
            return "'ids' must be given once.";
        *ids = value;
    }
    if (!found)
        return "'ids' is required: an array of 1 to 100 profile ids (idType:id).";
    if (ids->n == 0 || ids->p[0] != '[')
        return "'ids' must be an array of strings (idType:id).";
    *n = 0;
    base_json_items(&it, *ids);
    while (base_json_next_item(&it, &value)) {
        if (value.n == 0 || value.p[0] != '"')
            return "'ids' must be an array of strings (idType:id).";
        ++*n;
    }
    if (*n == 0 || *n > BATCH_MAX_IDS)
        return *n == 0 ? "'ids' must hold 1 to 100 profile ids; it is empty."
                       : "'ids' must hold 1 to 100 profile ids; it has more than 100.";
    return NULL;
}

void
handle_profile_batch(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    h2o_iovec_t ep = params[3];
    size_t e = 0, ne = sizeof(endpoints) / sizeof(endpoints[0]);
    while (e < ne && !h2o_memis(ep.base, ep.len, endpoints[e].name, strlen(endpoints[e].name)))
        e++;
    if (e == ne) {
        respond_error(req, rc, ERR_NO_ROUTE, "No batch endpoint '%.*s': expected traits, metadata, audiences or external_ids.",
                      (int)ep.len, ep.base);
        return;
    }
    h2o_iovec_t fields;
    if (view_fields_param(req, rc, endpoints[e].view, &fields) != 0)
        return;
    span_t idspan;
    size_t n = 0;
    err_kind_t kind;
    const char *bad = body_ids(req, &idspan, &n, &kind);
    /* one request per 10 ids; a refused body costs one */
    uint32_t cost = bad != NULL ? 1 : (uint32_t)((n + BATCH_IDS_PER_TOKEN - 1) / BATCH_IDS_PER_TOKEN);
    if (gate_limit_n(loop_of(req)->srv, 0, cost, &rc->gate) != 0) {
        respond_error(req, rc, rc->gate.err, NULL);
        return;
    }
    if (bad != NULL) {
        respond_error(req, rc, kind, "%s", bad);
        return;
    }
    size_t text = 0;
    jiter_t it;
    span_t v;
    base_json_items(&it, idspan);
    while (base_json_next_item(&it, &v))
        text += v.n - 2 + 1;
    batch_ids_t *ids = base_xcalloc(1, sizeof(*ids) + n * sizeof(batch_entry_t) + text);
    ids->n = n;
    ids->entries = (batch_entry_t *)(ids + 1);
    ids->text = (char *)(ids->entries + n);
    size_t i = 0, off = 0;
    base_json_items(&it, idspan);
    while (base_json_next_item(&it, &v)) {
        span_t raw = {v.p + 1, v.n - 2};
        batch_entry_t *be = &ids->entries[i++];
        be->off = off;
        be->len = base_json_unescape(raw, ids->text + off);
        be->lone_surrogate = base_json_lone_surrogate(raw);
        ids->text[off + be->len] = '\0';
        off += be->len + 1;
    }
    if (answer_from_cache(req, rc, endpoints[e].view, ids, fields)) {
        free(ids);
        return;
    }
    batch_job_t *bj = job_new(req, rc, sizeof(*bj) + fields.len + 1, run_batch, &rc->tenant);
    bj->view = endpoints[e].view;
    bj->ids = ids;
    bj->job.dispose = dispose_batch;
    bj->fields = (char *)(bj + 1);
    bj->fields_len = fields.len;
    memcpy(bj->fields, fields.base, fields.len);
    if (loop_of(req)->cache != NULL) {
        bj->job.cache_many = 1;
        bj->job.fill_cache = fill_batch;
    }
    job_submit(&bj->job);
}
