/* routes.c -- the API's route table: method, pattern, what the dispatch
 * path checks first (authentication, tenant scope, ingest limits), and the
 * handler. The operations routes come first (API_NOPS). Every ROUTE_INGEST
 * route answers CORS (server/http/cors.c), the others none. */
#include "api.h"

#define TENANT_PREFIX "/track/{client}/{account}/{brand}/v1"
#define AUTH_TENANT (ROUTE_AUTH | ROUTE_TENANT)

const route_t api_routes[] = {
    {"GET", "/healthz", 0, handle_health, 0},
    {"GET", "/readyz", 0, handle_ready, 0},
    {"GET", "/metrics", ROUTE_OPS_ONLY, handle_metrics, 0},
    {"GET", TENANT_PREFIX "/profiles", AUTH_TENANT, handle_profile_list, 0},
    {"GET", TENANT_PREFIX "/profiles/{profile}/traits", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_TRAITS},
    {"GET", TENANT_PREFIX "/profiles/{profile}/metadata", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_METADATA},
    {"GET", TENANT_PREFIX "/profiles/{profile}/meta", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_METADATA},
    {"GET", TENANT_PREFIX "/profiles/{profile}/audiences", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_AUDIENCES},
    {"GET", TENANT_PREFIX "/profiles/{profile}/external_ids", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_EXTERNAL_IDS},
    {"GET", TENANT_PREFIX "/profiles/{profile}/events", AUTH_TENANT, handle_events, 0},
    /* erasure: needs the token's delete permission */
    {"DELETE", TENANT_PREFIX "/profiles/{profile}", AUTH_TENANT | ROUTE_DELETE, handle_profile_delete, 0},
    {"POST", TENANT_PREFIX "/batch", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_BATCH},
    {"POST", TENANT_PREFIX "/track", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_TRACK},
    {"POST", TENANT_PREFIX "/identify", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_IDENTIFY},
    {"POST", TENANT_PREFIX "/page", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_PAGE},
    {"POST", TENANT_PREFIX "/screen", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_SCREEN},
    {"POST", TENANT_PREFIX "/group", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_GROUP},
    {"POST", TENANT_PREFIX "/alias", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_ALIAS},
    {"POST", "/v1/batch", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_BATCH},
    {"POST", "/v1/track", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_TRACK},
    {"POST", "/v1/identify", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_IDENTIFY},
    {"POST", "/v1/page", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_PAGE},
    {"POST", "/v1/screen", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_SCREEN},
    {"POST", "/v1/group", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_GROUP},
    {"POST", "/v1/alias", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_ALIAS},
    /* the short names @segment/analytics-next posts to ({apiHost}/t, ...;
     * /b for its batching delivery strategy) */
    {"POST", TENANT_PREFIX "/b", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_BATCH},
    {"POST", TENANT_PREFIX "/t", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_TRACK},
    {"POST", TENANT_PREFIX "/i", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_IDENTIFY},
    {"POST", TENANT_PREFIX "/p", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_PAGE},
    {"POST", TENANT_PREFIX "/s", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_SCREEN},
    {"POST", TENANT_PREFIX "/g", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_GROUP},
    {"POST", TENANT_PREFIX "/a", AUTH_TENANT | ROUTE_INGEST, handle_ingest, INGEST_ALIAS},
    {"POST", "/v1/b", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_BATCH},
    {"POST", "/v1/t", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_TRACK},
    {"POST", "/v1/i", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_IDENTIFY},
    {"POST", "/v1/p", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_PAGE},
    {"POST", "/v1/s", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_SCREEN},
    {"POST", "/v1/g", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_GROUP},
    {"POST", "/v1/a", ROUTE_AUTH | ROUTE_INGEST, handle_ingest, INGEST_ALIAS},
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
