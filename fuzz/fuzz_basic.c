/* fuzz_basic.c -- where a request's credential comes from (server/http/gate.c
 * gate_credential: `auth-token`, or the user name of HTTP Basic) and the
 * writeKey of an ingest body (segment_batch_write_key). The first byte
 * says which headers the rest fills: 0 Authorization, 1 auth-token, 2 both
 * (split at the first newline), 3 a body {"writeKey":"<rest>"}. Whatever is
 * extracted is then verified as gate_check does, against one live token. */
#include "fuzz.h"
#include "../server/http/http.h"

static storage_t *st;
static auth_table_t *table;
static char secret[AUTH_TOKEN_LEN + 1];

static void
verify(const char *cred, size_t len)
{
    auth_token_t *tok = NULL;
    int rc = auth_table_verify(table, NULL, cred, len, &tok);
    FUZZ_ASSERT(rc == AUTH_OK || rc == AUTH_EMISSING || rc == AUTH_EINVALID);
    FUZZ_ASSERT((rc == AUTH_OK) == (len == AUTH_TOKEN_LEN && memcmp(cred, secret, len) == 0));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (st == NULL) {
        st = fuzz_store_open(NULL);
        FUZZ_ASSERT(auth_token_create(st, NULL, "fuzz", "acct", "brand", NULL, 0, 0, 1600000000000LL, secret, sizeof(secret)) ==
                    AUTH_OK);
        FUZZ_ASSERT(auth_table_load(st, NULL, NULL, &table) == AUTH_OK);
    }
    if (size < 1)
        return 0;
    int mode = data[0] % 4;
    const char *v = (const char *)data + 1;
    size_t vlen = size - 1;
    if (mode == 3) {
        static const char pre[] = "{\"writeKey\":\"", post[] = "\"}";
        size_t blen = sizeof(pre) - 1 + vlen + sizeof(post) - 1;
        char *body = malloc(blen);
        FUZZ_ASSERT(body != NULL);
        memcpy(body, pre, sizeof(pre) - 1);
        if (vlen > 0)
            memcpy(body + sizeof(pre) - 1, v, vlen);
        memcpy(body + sizeof(pre) - 1 + vlen, post, sizeof(post) - 1);
        segment_batch_t *b = NULL;
        segment_batch_err_t e;
        if (segment_batch_parse(body, blen, "track", &b, &e) == 0) {
            size_t klen = 0;
            const char *key = segment_batch_write_key(b, &klen);
            /* (the text may close the string and repeat the member: the
             * last one counts, and a writeKey that is not a string is none) */
            FUZZ_ASSERT(key == NULL || klen <= vlen);
            if (key != NULL)
                verify(key, klen);
            segment_batch_free(b);
        }
        return 0;
    }
    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    const char *a = v, *t = v;
    size_t alen = vlen, tlen = vlen;
    if (mode == 2) {
        const char *nl = memchr(v, '\n', vlen);
        alen = nl != NULL ? (size_t)(nl - v) : vlen;
        t = nl != NULL ? nl + 1 : v + vlen;
        tlen = vlen - (size_t)(t - v);
    }
    /* header values in the pool, exact size, as h2o keeps them */
    if (mode == 0 || mode == 2) {
        char *copy = h2o_mem_alloc_pool(&req.pool, alen + 1);
        memcpy(copy, a, alen);
        h2o_add_header(&req.pool, &req.headers, H2O_TOKEN_AUTHORIZATION, NULL, copy, alen);
    }
    if (mode == 1 || mode == 2) {
        char *copy = h2o_mem_alloc_pool(&req.pool, tlen + 1);
        memcpy(copy, t, tlen);
        h2o_add_header_by_str(&req.pool, &req.headers, H2O_STRLIT("auth-token"), 0, NULL, copy, tlen);
    }
    h2o_iovec_t cred = gate_credential(&req);
    if (mode != 0)
        FUZZ_ASSERT(cred.len == tlen); /* auth-token wins, as it is */
    else
        FUZZ_ASSERT(cred.len <= alen);
    if (cred.len > 0)
        verify(cred.base, cred.len);
    h2o_mem_clear_pool(&req.pool);
    return 0;
}
