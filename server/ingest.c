/* ingest.c -- the Segment-compatible ingestion routes (/v1/batch, /v1/track,
 * ...). The loop thread checks the body's envelope and hands a copy to a
 * worker, which inflates it and checks every message in place (and a body
 * writeKey); the writer thread then commits it (writer.c). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "server.h"

static const char *const kind_type[] = {
    [INGEST_BATCH] = NULL,      [INGEST_TRACK] = "track", [INGEST_IDENTIFY] = "identify", [INGEST_PAGE] = "page",
    [INGEST_SCREEN] = "screen", [INGEST_GROUP] = "group", [INGEST_ALIAS] = "alias",
};

/* Inflates one gzip stream, stopping at cap bytes. 0, -1 over the cap, -2
 * not valid gzip (also: bytes after the stream). *out is malloc'd. */
int
ingest_gunzip(const char *in, size_t len, size_t cap, char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        abort();
    size_t size = len * 4 < cap ? len * 4 + 64 : cap + 1;
    char *buf = malloc(size);
    if (buf == NULL)
        abort();
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (zs.total_out == size) {
            if (size > cap) {
                rc = -1;
                break;
            }
            size = size * 2 > cap + 1 ? cap + 1 : size * 2;
            if ((buf = realloc(buf, size)) == NULL)
                abort();
        }
        zs.next_out = (Bytef *)buf + zs.total_out;
        zs.avail_out = (uInt)(size - zs.total_out);
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK && !(rc == Z_BUF_ERROR && zs.avail_out == 0)) {
            rc = -2;
            break;
        }
        if (zs.avail_in == 0 && zs.avail_out != 0) {
            rc = -2; /* truncated */
            break;
        }
    }
    size_t total = zs.total_out;
    /* bytes after the stream (garbage, or a second member) are refused:
     * what the body means must not depend on who reads it */
    if (rc == Z_STREAM_END && zs.avail_in != 0)
        rc = -2;
    inflateEnd(&zs);
    if (rc == Z_STREAM_END && total > cap)
        rc = -1;
    if (rc != Z_STREAM_END) {
        free(buf);
        return rc == -1 ? -1 : -2;
    }
    *out = buf;
    *outlen = total;
    return 0;
}

static void
run_ingest_prepare(job_t *job, storage_t *st)
{
    (void)st;
    server_t *srv = job->loop->srv;
    char *body = job->payload;
    size_t len = job->payload_len;
    segment_batch_t *batch = NULL;
    segment_batch_err_t err;

    job->payload = NULL; /* the batch owns the body from here */
    if (job->gzip) {
        char *inflated;
        int rc = ingest_gunzip(body, len, (size_t)srv->cfg.max_body, &inflated, &len);
        free(body);
        if (rc == -1) {
            job_error(job, ERR_TOO_LARGE, "The decompressed request body is larger than %d bytes.", srv->cfg.max_body);
            return;
        }
        if (rc != 0) {
            job_error(job, ERR_INVALID_REQUEST, "The request body is not valid gzip.");
            return;
        }
        body = inflated;
    }
    if (segment_batch_parse(body, len, kind_type[job->kind], &batch, &err) != 0) {
        job_error(job, err.bad_body ? ERR_INVALID_REQUEST : ERR_VALIDATION, "%s", err.message);
        return;
    }
    if (job->auth_deferred) {
        size_t key_len;
        const char *key = segment_batch_write_key(batch, &key_len);
        h2o_iovec_t cred = h2o_iovec_init(key, key != NULL ? key_len : 0);
        storage_tenant_t tenant = job->tenant;
        if (gate_check(srv, cred, job->peer, &tenant, job->tenant_from_token, 1, &job->gate) != 0) {
            const char *m = job->gate.message;
            if (job->gate.err == ERR_UNAUTHENTICATED)
                m = cred.len == 0 ? "Missing credentials: send an auth-token header, HTTP Basic or a writeKey."
                                  : "Invalid writeKey.";
            job_error(job, job->gate.err, m != NULL ? "%s" : NULL, m);
            segment_batch_free(batch);
            return;
        }
        if (job->tenant_from_token)
            job_set_tenant(job, &tenant);
    }
    if (segment_batch_check(batch, &err) != 0) {
        job_error(job, ERR_VALIDATION, "%s", err.message);
        segment_batch_free(batch);
        return;
    }
    job->batch = batch;
    job->forwarded = 1; /* the worker passes it on */
}

void
handle_ingest(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    (void)params;
    if (storage_damaged(NULL)) {
        respond_error(req, rc, ERR_UNAVAILABLE, "The database is damaged: writes are refused until it is restored.");
        return;
    }
    if (req->entity.base == NULL || req->entity.len == 0) {
        respond_error(req, rc, ERR_INVALID_REQUEST, "The request body must be a JSON object.");
        return;
    }
    int gzip = 0;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_ENCODING, -1);
    if (i >= 0) {
        h2o_iovec_t enc = req->headers.entries[i].value;
        if (h2o_lcstris(enc.base, enc.len, H2O_STRLIT("gzip")) || h2o_lcstris(enc.base, enc.len, H2O_STRLIT("x-gzip")))
            gzip = 1;
        else if (!h2o_lcstris(enc.base, enc.len, H2O_STRLIT("identity"))) {
            respond_error(req, rc, ERR_INVALID_REQUEST, "Unsupported Content-Encoding '%.*s': send gzip or identity.", (int)enc.len,
                          enc.base);
            return;
        }
    }
    job_t *job =
        job_new(req, rc, run_ingest_prepare, rc->auth_deferred && !(rc->route->flags & ROUTE_TENANT) ? NULL : &rc->tenant, NULL, 0);
    job->payload = malloc(req->entity.len);
    if (job->payload == NULL)
        abort();
    memcpy(job->payload, req->entity.base, req->entity.len);
    job->payload_len = req->entity.len;
    job->gzip = gzip;
    job->kind = rc->route->arg;
    job->auth_deferred = rc->auth_deferred;
    job->tenant_from_token = !(rc->route->flags & ROUTE_TENANT);
    job->peer = rc->peer;
    job_submit(job);
}
