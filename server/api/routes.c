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
    {"POST", P B, F, handle_ingest, INGEST_BATCH, NULL}, \
    {"POST", P T, F, handle_ingest, INGEST_TRACK, NULL}, \
    {"POST", P I, F, handle_ingest, INGEST_IDENTIFY, NULL}, \
    {"POST", P PG, F, handle_ingest, INGEST_PAGE, NULL}, \
    {"POST", P S, F, handle_ingest, INGEST_SCREEN, NULL}, \
    {"POST", P G, F, handle_ingest, INGEST_GROUP, NULL}, \
    {"POST", P A, F, handle_ingest, INGEST_ALIAS, NULL}
/* clang-format on */

/* ---- the query parameters of the read routes -------------------------------
 * Each read route lists what it takes; anything else answers 400 naming it
 * (a typo such as `sise` must not pass for the default), and a repeated
 * one 400 too (query_check, server/http/router.c). A name another route
 * takes gets the hint below instead. Routes without a list (ingestion,
 * whose Segment clients may add parameters of their own, and the
 * operations routes) take any query. To add a parameter to a route, add
 * its name to the route's list (and, when another route should point to
 * it, a hint). */
#define EMAIL_ONLY(p)                                                                                                              \
    "Parameter '" p "' applies only to email lookups of traits, metadata, audiences and external_ids (a page of the "              \
    "profiles with that email) and to the profile list."
#define EVENTS_ONLY(p) "Parameter '" p "' applies only to the events route (.../profiles/{id}/events)."
#define PAGED_ONLY(p)                                                                                                              \
    "Parameter '" p "' applies only to the events route (.../profiles/{id}/events) and the trait history "                         \
    "(.../profiles/{id}/traits/history)."
#define TRAITS_ONLY(p) "Parameter '" p "' applies only to traits (.../profiles/{id}/traits)."
static const char *const hints[] = {
    "from",     EMAIL_ONLY("from"),
    "size",     EMAIL_ONLY("size"),
    "fields",   "Parameter 'fields' applies only to traits, metadata, audiences and the batch lookup.",
    "include",  EVENTS_ONLY("include"),
    "exclude",  EVENTS_ONLY("exclude"),
    "start",    PAGED_ONLY("start"),
    "end",      PAGED_ONLY("end"),
    "sort",     EVENTS_ONLY("sort"),
    "limit",    PAGED_ONLY("limit"),
    "scrollId", PAGED_ONLY("scrollId"),
    "verbose",  TRAITS_ONLY("verbose"),
    "at",       TRAITS_ONLY("at"),
    "trait",    "Parameter 'trait' applies only to the trait history (.../profiles/{id}/traits/history).",
    NULL,
};
static const char *const q_traits[] = {"fields", "from", "size", "verbose", "at", NULL};
static const char *const q_history[] = {"trait", "start", "end", "limit", "scrollId", NULL};
static const char *const q_view[] = {"fields", "from", "size", NULL};
static const char *const q_external_ids[] = {"from", "size", NULL};
static const char *const q_events[] = {"include", "exclude", "start", "end", "sort", "limit", "scrollId", NULL};
static const char *const q_list[] = {"from", "size", NULL};
static const char *const q_batch[] = {"fields", NULL};
static const char *const q_none[] = {NULL};
static const char *const hints_external_ids[] = {
    "fields",
    "Parameter 'fields' does not apply to external_ids: its shape is fixed.",
    NULL,
};
static const char *const hints_batch[] = {
    "from",
    "The batch lookup answers an email id with its first page (size 100): page further with GET "
    ".../profiles/email:.../{endpoint}?from=&size=.",
    "size",
    "The batch lookup answers an email id with its first page (size 100): page further with GET "
    ".../profiles/email:.../{endpoint}?from=&size=.",
    NULL,
};
static const route_query_t Q_TRAITS = {q_traits, hints}, Q_VIEW = {q_view, hints},
                           Q_EXTERNAL_IDS = {q_external_ids, hints_external_ids}, Q_EVENTS = {q_events, hints},
                           Q_HISTORY = {q_history, hints}, Q_LIST = {q_list, hints}, Q_BATCH = {q_batch, hints_batch},
                           Q_DELETE = {q_none, hints};

const route_t api_routes[] = {
    {"GET", "/healthz", 0, handle_health, 0, NULL},
    {"GET", "/readyz", 0, handle_ready, 0, NULL},
    {"GET", "/metrics", ROUTE_OPS_ONLY, handle_metrics, 0, NULL},
    /* the API reference (handlers_docs.c): no token */
    {"GET", "/docs", 0, handle_docs, DOCS_HTML, NULL},
    {"GET", "/openapi.json", 0, handle_docs, DOCS_JSON, NULL},
    {"GET", TENANT_PREFIX "/profiles", AUTH_TENANT, handle_profile_list, 0, &Q_LIST},
    {"GET", TENANT_PREFIX "/profiles/{profile}/traits", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_TRAITS, &Q_TRAITS},
    /* a trait's changes (handlers_events.c); 404 with --trait-history-days 0 */
    {"GET", TENANT_PREFIX "/profiles/{profile}/traits/history", AUTH_TENANT, handle_trait_history, 0, &Q_HISTORY},
    {"GET", TENANT_PREFIX "/profiles/{profile}/metadata", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_METADATA, &Q_VIEW},
    {"GET", TENANT_PREFIX "/profiles/{profile}/meta", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_METADATA, &Q_VIEW},
    {"GET", TENANT_PREFIX "/profiles/{profile}/audiences", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_AUDIENCES, &Q_VIEW},
    {"GET", TENANT_PREFIX "/profiles/{profile}/external_ids", AUTH_TENANT, handle_profile_view, STORAGE_VIEW_EXTERNAL_IDS,
     &Q_EXTERNAL_IDS},
    {"GET", TENANT_PREFIX "/profiles/{profile}/events", AUTH_TENANT, handle_events, 0, &Q_EVENTS},
    /* batch lookup (handlers_batch.c): needs read; charged one request per
     * 10 ids by its handler */
    {"POST", TENANT_PREFIX "/profiles/batch/{endpoint}", AUTH_TENANT | ROUTE_COSTED, handle_profile_batch, 0, &Q_BATCH},
    /* erasure: needs the token's delete permission */
    {"DELETE", TENANT_PREFIX "/profiles/{profile}", AUTH_TENANT | ROUTE_DELETE, handle_profile_delete, 0, &Q_DELETE},
    INGEST_ROUTES(TENANT_PREFIX, AUTH_TENANT | ROUTE_INGEST, LONG_NAMES),
    INGEST_ROUTES("/v1", ROUTE_AUTH | ROUTE_INGEST, LONG_NAMES),
    /* the short names @segment/analytics-next posts to ({apiHost}/t, ...;
     * /b for its batching delivery strategy) */
    INGEST_ROUTES(TENANT_PREFIX, AUTH_TENANT | ROUTE_INGEST, SHORT_NAMES),
    INGEST_ROUTES("/v1", ROUTE_AUTH | ROUTE_INGEST, SHORT_NAMES),
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
