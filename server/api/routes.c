/* routes.c -- the API's route table: method, pattern, what the dispatch
 * path checks first (authentication, tenant scope, ingest limits), and the
 * handler. The operations routes come first (API_NOPS). Every ROUTE_INGEST
 * route answers CORS (server/http/cors.c), the others none. */
#include "api.h"

#define TENANT_PREFIX "/track/{client}/{account}/{brand}/v1"
#define AUTH_TENANT (ROUTE_AUTH | ROUTE_TENANT)

/* The ingestion routes under prefix P with flags F, one per message kind,
 * named by the list N (batch, track, identify, page, screen, group, alias). */
#define LONG_NAMES "/batch", "/track", "/identify", "/page", "/screen", "/group", "/alias"
#define SHORT_NAMES "/b", "/t", "/i", "/p", "/s", "/g", "/a"
#define INGEST_ROUTES(P, F, N) INGEST_ROUTES_(P, F, N)
/* clang-format off */
#define INGEST_ROUTES_(P, F, B, T, I, PG, S, G, A) \
    {"POST", P B, F, handle_ingest, INGEST_BATCH}, \
    {"POST", P T, F, handle_ingest, INGEST_TRACK}, \
    {"POST", P I, F, handle_ingest, INGEST_IDENTIFY}, \
    {"POST", P PG, F, handle_ingest, INGEST_PAGE}, \
    {"POST", P S, F, handle_ingest, INGEST_SCREEN}, \
    {"POST", P G, F, handle_ingest, INGEST_GROUP}, \
    {"POST", P A, F, handle_ingest, INGEST_ALIAS}
/* clang-format on */

const route_t api_routes[] = {
    {"GET", "/healthz", 0, handle_health, 0},
    {"GET", "/readyz", 0, handle_ready, 0},
    {"GET", "/metrics", ROUTE_OPS_ONLY, handle_metrics, 0},
    /* the API reference (handlers_docs.c): no token */
    {"GET", "/docs", 0, handle_docs, DOCS_HTML},
    {"GET", "/openapi.json", 0, handle_docs, DOCS_JSON},
    {"GET", TENANT_PREFIX "/profiles", AUTH_TENANT, handle_profile_list, 0},
    {"GET", TENANT_PREFIX "/profiles/{profile}/traits", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_TRAITS},
    /* a trait's changes (handlers_events.c); 404 with --trait-history-days 0 */
    {"GET", TENANT_PREFIX "/profiles/{profile}/traits/history", AUTH_TENANT, handle_trait_history, 0},
    {"GET", TENANT_PREFIX "/profiles/{profile}/metadata", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_METADATA},
    {"GET", TENANT_PREFIX "/profiles/{profile}/meta", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_METADATA},
    {"GET", TENANT_PREFIX "/profiles/{profile}/audiences", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_AUDIENCES},
    {"GET", TENANT_PREFIX "/profiles/{profile}/external_ids", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_EXTERNAL_IDS},
    {"GET", TENANT_PREFIX "/profiles/{profile}/events", AUTH_TENANT, handle_events, 0},
    /* batch lookup (handlers_batch.c): needs read; charged one request per
     * 10 ids by its handler */
    {"POST", TENANT_PREFIX "/profiles/batch/{endpoint}", AUTH_TENANT | ROUTE_COSTED, handle_profile_batch, 0},
    /* erasure: needs the token's delete permission */
    {"DELETE", TENANT_PREFIX "/profiles/{profile}", AUTH_TENANT | ROUTE_DELETE, handle_profile_delete, 0},
    INGEST_ROUTES(TENANT_PREFIX, AUTH_TENANT | ROUTE_INGEST, LONG_NAMES),
    INGEST_ROUTES("/v1", ROUTE_AUTH | ROUTE_INGEST, LONG_NAMES),
    /* the short names @segment/analytics-next posts to ({apiHost}/t, ...;
     * /b for its batching delivery strategy) */
    INGEST_ROUTES(TENANT_PREFIX, AUTH_TENANT | ROUTE_INGEST, SHORT_NAMES),
    INGEST_ROUTES("/v1", ROUTE_AUTH | ROUTE_INGEST, SHORT_NAMES),
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
