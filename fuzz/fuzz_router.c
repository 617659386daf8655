/* fuzz_router.c -- the route match and the path's percent-decoding
 * (server/http/router.c): the input is a raw request path (a query after '?'
 * and one trailing '/' are cut as dispatch cuts them), matched against
 * every pattern of the route table; each capture is percent-decoded. */
#include "fuzz.h"
#include "../server/http/http.h"
#include "../server/api/api.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = (const char *)data;
    size_t plen = size;
    const char *q = memchr(path, '?', size);
    if (q != NULL)
        plen = (size_t)(q - path);
    if (plen > 1 && path[plen - 1] == '/')
        plen--;
    router_init(api_routes, api_nroutes, API_NOPS); /* the server's table, as server_main installs it */
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    for (size_t r = 0; r < router_route_count(); r++) {
        const char *pattern = router_route_name(r);
        h2o_iovec_t caps[ROUTE_MAX_PARAMS];
        size_t ncaps = 0;
        if (!router_match(pattern, path, plen, caps, &ncaps))
            continue;
        FUZZ_ASSERT(ncaps <= ROUTE_MAX_PARAMS);
        size_t braces = 0;
        for (const char *p = pattern; *p != '\0'; p++)
            braces += *p == '{';
        FUZZ_ASSERT(ncaps == braces);
        for (size_t c = 0; c < ncaps; c++) {
            FUZZ_ASSERT(caps[c].len > 0 && caps[c].base >= path && caps[c].base + caps[c].len <= path + plen);
            FUZZ_ASSERT(memchr(caps[c].base, '/', caps[c].len) == NULL);
            h2o_iovec_t dec;
            if (percent_decode(&pool, caps[c], &dec) == 0)
                FUZZ_ASSERT(dec.len <= caps[c].len);
        }
    }
    /* the decoder on its own, over the whole input */
    h2o_iovec_t dec;
    if (percent_decode(&pool, h2o_iovec_init(path, size), &dec) == 0)
        FUZZ_ASSERT(dec.len <= size);
    h2o_mem_clear_pool(&pool);
    return 0;
}
