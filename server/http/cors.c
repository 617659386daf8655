/* cors.c -- CORS for the ingestion routes (browser sources: analytics.js,
 * @segment/analytics-next): the origin check against --cors-origins, the
 * headers of an allowed answer and the preflight's 204. The read routes
 * never get here: they answer no CORS, so no page can read a profile. */
#include <string.h>
#include "http.h"

/* What analytics-next and the other clients may send beyond the
 * safelisted headers (Authorization: Basic writeKey, its retry count). */
#define CORS_ALLOW_HEADERS "content-type, content-encoding, authorization, auth-token, x-retry-count, x-request-id"
#define CORS_MAX_AGE "7200" /* Chromium's ceiling */

static h2o_iovec_t
origin_of(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    return i >= 0 ? req->headers.entries[i].value : h2o_iovec_init(NULL, 0);
}

static void
add(h2o_req_t *req, const char *name, const char *value, size_t len)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, value, len);
}

int
cors_allow(h2o_req_t *req, reqctx_t *rc)
{
    h2o_iovec_t origin = origin_of(req);
    if (origin.base == NULL)
        return 0; /* not a browser's cross-origin request */
    const char *list = loop_of(req)->srv->cfg.cors_origins;
    if (!config_origin_allowed(list, origin.base, origin.len)) {
        respond_error(req, rc, ERR_FORBIDDEN, "Origin %.*s may not send to this server (see --cors-origins).", (int)origin.len,
                      origin.base);
        return -1;
    }
    if (config_origin_any(list)) {
        add(req, "access-control-allow-origin", H2O_STRLIT("*"));
    } else {
        add(req, "access-control-allow-origin", origin.base, origin.len);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("origin"));
    }
    return 0;
}

void
cors_preflight(h2o_req_t *req, reqctx_t *rc)
{
    add(req, "access-control-allow-methods", H2O_STRLIT("POST, OPTIONS"));
    add(req, "access-control-allow-headers", H2O_STRLIT(CORS_ALLOW_HEADERS));
    add(req, "access-control-max-age", H2O_STRLIT(CORS_MAX_AGE));
    respond_empty(req, rc, 204);
}
