/* fuzz_query.c -- query parameters (server/http/router.c query_param and
 * query_check, the handlers' parse_int and the date bounds,
 * base_parse_time_query): the input is
 * the query string of a request. Each parameter of the profile list (from,
 * size) and of the events route (start, end, sort, limit, include, exclude)
 * is read as the handlers read it; what the events handler would accept
 * starts a scroll on an in-memory database, so the include/exclude lists
 * reach the storage's key lists. */
#include "fuzz.h"
#include "../server/http/http.h"
#include "../server/api/api.h"

static storage_t *st;
static h2o_req_t req;

static void
check_int(const char *name, long min, long max)
{
    h2o_iovec_t v;
    int n = -1;
    if (query_param(&req, name, &v) && parse_int(v, min, max, &n) == 0)
        FUZZ_ASSERT(n >= min && n <= max);
}

static int
time_bound(const char *name, int64_t *ms)
{
    h2o_iovec_t v;
    if (!query_param(&req, name, &v))
        return 0;
    if (base_parse_time_query(v.base, v.len, ms) != 0)
        return -1;
    char iso[32];
    base_format_time(*ms, iso); /* every parsed bound prints */
    FUZZ_ASSERT(strlen(iso) < sizeof(iso));
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (st == NULL)
        st = fuzz_store_open(FUZZ_SEED_MESSAGES);
    /* "/p?" + the input, as h2o hands the path over */
    char *path = malloc(size + 3);
    FUZZ_ASSERT(path != NULL);
    memcpy(path, "/p?", 3);
    if (size > 0)
        memcpy(path + 3, data, size);
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    req.path = h2o_iovec_init(path, size + 3);
    req.query_at = 2;

    /* the read routes' check (router.c query_check): any answer is a
     * bounded, printable message */
    static const char *const allowed[] = {"from", "size", "fields", "start", "end", "limit", NULL};
    static const char *const hints[] = {"include", "Parameter 'include' applies only to the events route.", NULL};
    const route_query_t rq = {allowed, hints};
    char qmsg[512];
    if (query_check(&req, &rq, qmsg, sizeof(qmsg)) != 0)
        FUZZ_ASSERT(strlen(qmsg) < sizeof(qmsg) && base_utf8_valid(qmsg, strlen(qmsg)));

    check_int("from", 0, 1000000);
    check_int("size", 1, 100);

    storage_event_query_t q = {NULL, 0, NULL, 0, INT64_MIN, INT64_MAX, 1, 100};
    h2o_iovec_t include = {NULL, 0}, exclude = {NULL, 0}, v;
    int has_include = query_param(&req, "include", &include), has_exclude = query_param(&req, "exclude", &exclude);
    int ok = time_bound("start", &q.start_ms) == 0 && time_bound("end", &q.end_ms) == 0;
    if (query_param(&req, "sort", &v)) {
        if (h2o_memis(v.base, v.len, H2O_STRLIT("asc")))
            q.descending = 0;
        else if (!h2o_memis(v.base, v.len, H2O_STRLIT("desc")))
            ok = 0;
    }
    if (query_param(&req, "limit", &v) && parse_int(v, 1, 100, &q.limit) != 0)
        ok = 0;
    if (query_param(&req, "scrollId", &v))
        FUZZ_ASSERT(v.len <= size);
    if (ok) {
        if (has_include) {
            q.include = include.base;
            q.include_len = include.len;
        }
        if (has_exclude) {
            q.exclude = exclude.base;
            q.exclude_len = exclude.len;
        }
        storage_tenant_t t = storage_tenant("fuzz", "acct", "brand");
        char *body = NULL;
        size_t len = 0;
        int rc = storage_events_begin(st, &t, STORAGE_ID_USER, "joe", 3, &q, 1600000000000LL, 1000, &body, &len);
        FUZZ_ASSERT(rc == 0 || rc == STORAGE_EINVAL);
        if (rc == 0) {
            FUZZ_ASSERT(body != NULL && strlen(body) == len);
            free(body);
        }
    }
    h2o_mem_clear_pool(&req.pool);
    free(path);
    return 0;
}
