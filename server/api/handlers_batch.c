/* handlers_batch.c -- the batch lookup: POST
 * .../profiles/batch/{endpoint} with {"ids":[...]} answers one view
 * (traits, metadata, audiences, external_ids) for each of 1..100 profile
 * ids, in request order, each as the single-id route answers it, all read
 * in one snapshot. The loop-thread half checks the body and charges the
 * token one request per 10 ids (ROUTE_COSTED); the worker half parses each
 * id as the path form does and reads them in one read transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"

#define BATCH_MAX_IDS 100
#define BATCH_IDS_PER_TOKEN 10
#define BATCH_MESSAGE_MAX 508 /* as respond_error cuts a message */

typedef struct {
    size_t off, len;    /* the decoded profileId in the job's text */
    int lone_surrogate; /* a \u escape of half a pair: not UTF-8 */
} batch_entry_t;

typedef struct {
    job_t job;
    storage_view_t view;
    size_t n;
    batch_entry_t *entries; /* inline after the struct */
    char *text;             /* inline after the entries */
    char *fields;           /* the `fields` list, inline after text */
    size_t fields_len;      /* 0: none */
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

static int
run_batch(job_t *job, storage_t *st)
{
    batch_job_t *bj = (batch_job_t *)job;
    storage_view_item_t items[BATCH_MAX_IDS];
    char(*msgs)[PROFILE_ID_MSG_MAX] = base_xcalloc(bj->n, sizeof(*msgs));
    for (size_t i = 0; i < bj->n; i++) {
        const batch_entry_t *e = &bj->entries[i];
        int type;
        h2o_iovec_t id;
        memset(&items[i], 0, sizeof(items[i]));
        if (e->lone_surrogate)
            snprintf(msgs[i], sizeof(msgs[i]), "The id in the ProfileID must be UTF-8 (no surrogates, no stray bytes).");
        else if (profile_id_split(h2o_iovec_init(bj->text + e->off, e->len), &type, &id, msgs[i], sizeof(msgs[i])) == 0) {
            items[i].type = (storage_id_type_t)type;
            items[i].id = id.base;
            items[i].id_len = id.len;
        }
    }
    int rc = storage_profile_views(st, &job->tenant, bj->view, items, bj->n);
    if (rc != 0) {
        free(msgs);
        return job_read_result(job, rc, NULL);
    }
    jsonbuf_t b;
    size_t cap = 64;
    for (size_t i = 0; i < bj->n; i++)
        cap += items[i].len + bj->entries[i].len + 128;
    base_jb_init(&b, cap);
    base_jb_open(&b, '{');
    base_jb_key(&b, "data", 4);
    base_jb_open(&b, '[');
    for (size_t i = 0; i < bj->n; i++) {
        base_jb_open(&b, '{');
        base_jb_key(&b, "profileId", 9);
        base_jb_str(&b, bj->text + bj->entries[i].off, bj->entries[i].len);
        base_jb_key(&b, "status", 6);
        if (items[i].id == NULL) {
            base_jb_int(&b, 400);
            put_error(&b, "validation_error", msgs[i]);
        } else if (items[i].rc != 0) {
            base_jb_int(&b, 404);
            put_error(&b, "not_found", "Profile was not found.");
        } else {
            base_jb_int(&b, 200);
            base_jb_key(&b, "result", 6);
            if (bj->fields_len > 0)
                view_select_fields(&items[i].body, &items[i].len, items[i].type == STORAGE_ID_EMAIL, bj->fields, bj->fields_len);
            base_jb_raw(&b, items[i].body, items[i].len);
        }
        base_jb_close(&b, '}');
        free(items[i].body);
    }
    base_jb_close(&b, ']');
    base_jb_close(&b, '}');
    free(msgs);
    job->body = b.data;
    job->body_len = b.len;
    return job_read_result(job, 0, NULL);
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
    span_t ids;
    size_t n = 0;
    err_kind_t kind;
    const char *bad = body_ids(req, &ids, &n, &kind);
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
    base_json_items(&it, ids);
    while (base_json_next_item(&it, &v))
        text += v.n - 2 + 1;
    batch_job_t *bj = job_new(req, rc, sizeof(*bj) + n * sizeof(batch_entry_t) + text + fields.len + 1, run_batch, &rc->tenant);
    bj->view = endpoints[e].view;
    bj->n = n;
    bj->entries = (batch_entry_t *)(bj + 1);
    bj->text = (char *)(bj->entries + n);
    bj->fields = bj->text + text;
    bj->fields_len = fields.len;
    memcpy(bj->fields, fields.base, fields.len);
    size_t i = 0, off = 0;
    base_json_items(&it, ids);
    while (base_json_next_item(&it, &v)) {
        span_t raw = {v.p + 1, v.n - 2};
        batch_entry_t *be = &bj->entries[i++];
        be->off = off;
        be->len = base_json_unescape(raw, bj->text + off);
        be->lone_surrogate = base_json_lone_surrogate(raw);
        bj->text[off + be->len] = '\0';
        off += be->len + 1;
    }
    job_submit(&bj->job);
}
