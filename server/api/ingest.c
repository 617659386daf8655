/* ingest.c -- the Segment-compatible ingestion routes (/v1/batch, /v1/track,
 * ...). The loop thread checks the body's envelope and hands a copy to a
 * worker, which in one straight line parses the batch (segment/), checks a
 * body writeKey (auth) and takes from its ingest bucket (rate limit), checks
 * every message in place (segment/) and hands the job to the writer thread
 * (jobs/writer.c), which commits it. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "api.h"

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

/* An ingest request's job: the body as it came, then its checked batch
 * (the writer's part, first). */
typedef struct {
    write_job_t w;
    char *payload; /* copy of the request body; the batch owns it once parsed */
    size_t payload_len;
    int gzip;
    int kind;          /* INGEST_* */
    int auth_deferred; /* check the body's writeKey */
    int tenant_from_token;
    uint64_t peer;
} ingest_job_t;

static void
ingest_dispose(job_t *job)
{
    ingest_job_t *ij = (ingest_job_t *)job;
    free(ij->payload);
    segment_batch_free(ij->w.batch);
}

/* The body, inflated when it came gzip'd, parsed into *batch (which owns
 * it from here). 0, or -1 with the job's error set. */
static int
ingest_parse(ingest_job_t *ij, segment_batch_t **batch)
{
    job_t *job = &ij->w.job;
    int max_body = job->loop->srv->cfg.max_body;
    char *body = ij->payload;
    size_t len = ij->payload_len;
    segment_batch_err_t err;

    ij->payload = NULL;
    if (ij->gzip) {
        char *inflated;
        int rc = ingest_gunzip(body, len, (size_t)max_body, &inflated, &len);
        free(body);
        if (rc == -1) {
            job_error(job, ERR_TOO_LARGE, "The decompressed request body is larger than %d bytes.", max_body);
            return -1;
        }
        if (rc != 0) {
            job_error(job, ERR_INVALID_REQUEST, "The request body is not valid gzip.");
            return -1;
        }
        body = inflated;
    }
    if (segment_batch_parse(body, len, kind_type[ij->kind], batch, &err) != 0) {
        job_error(job, err.bad_body ? ERR_INVALID_REQUEST : ERR_VALIDATION, "%s", err.message);
        return -1;
    }
    return 0;
}

/* The gate's failure as the job's error; a missing or unknown writeKey
 * says so. */
static void
ingest_refuse(job_t *job, h2o_iovec_t cred)
{
    const char *m = job->gate.message;
    if (job->gate.err == ERR_UNAUTHENTICATED)
        m = cred.len == 0 ? "Missing credentials: send an auth-token header, HTTP Basic or a writeKey." : "Invalid writeKey.";
    job_error(job, job->gate.err, m != NULL ? "%s" : NULL, m);
}

/* The worker's step, in order: parse, authenticate the body's writeKey
 * (when no header credential came) and take from its ingest bucket, check
 * the messages, hand the job to the writer. Nothing about the messages
 * beyond the parse is told before the credential passes. */
static int
run_ingest(job_t *job, storage_t *st)
{
    (void)st;
    ingest_job_t *ij = (ingest_job_t *)job;
    server_t *srv = job->loop->srv;
    segment_batch_t *batch = NULL;
    segment_batch_err_t err;

    if (ingest_parse(ij, &batch) != 0)
        return JOB_DONE;
    ij->w.batch = batch; /* freed with the job from here */
    if (ij->auth_deferred) {
        size_t key_len;
        const char *key = segment_batch_write_key(batch, &key_len);
        h2o_iovec_t cred = h2o_iovec_init(key, key != NULL ? key_len : 0);
        storage_tenant_t tenant = job->tenant;
        if (gate_authenticate(srv, cred, ij->peer, &tenant, ij->tenant_from_token, gate_route_needs(ROUTE_INGEST), &job->gate) !=
                0 ||
            gate_limit(srv, 1, &job->gate) != 0) {
            ingest_refuse(job, cred);
            return JOB_DONE;
        }
        if (ij->tenant_from_token)
            job_set_tenant(job, &tenant);
    }
    if (segment_batch_check(batch, &err) != 0) {
        job_error(job, ERR_VALIDATION, "%s", err.message);
        return JOB_DONE;
    }
    writer_push(srv->writer, &ij->w);
    return JOB_PASSED;
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
    int tenant_from_token = !(rc->route->flags & ROUTE_TENANT);
    ingest_job_t *ij = job_new(req, rc, sizeof(*ij), run_ingest, rc->auth_deferred && tenant_from_token ? NULL : &rc->tenant);
    ij->w.job.dispose = ingest_dispose;
    ij->payload = malloc(req->entity.len);
    if (ij->payload == NULL)
        abort();
    memcpy(ij->payload, req->entity.base, req->entity.len);
    ij->payload_len = req->entity.len;
    ij->gzip = gzip;
    ij->kind = rc->route->arg;
    ij->auth_deferred = rc->auth_deferred;
    ij->tenant_from_token = tenant_from_token;
    ij->peer = rc->peer;
    job_submit(&ij->w.job);
}
