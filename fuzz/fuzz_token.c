/* fuzz_token.c -- the text of a presented token (auth/token_text.c) and its
 * verification against a table holding one live token: only that token's
 * exact text may pass. A first byte '!' overlays the rest on the live
 * token's text, so near misses (a right id, a wrong secret) are reached. */
#include "fuzz.h"
#include "auth_internal.h"

static storage_t *st;
static auth_table_t *table;
static char secret[AUTH_TOKEN_LEN + 1];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (st == NULL) {
        st = fuzz_store_open(NULL);
        FUZZ_ASSERT(auth_token_create(st, "pepper", "fuzz", "acct", "brand", "fuzz", 0, 0, 1600000000000LL, secret,
                                      sizeof(secret)) == AUTH_OK);
        FUZZ_ASSERT(auth_table_load(st, "pepper", NULL, &table) == AUTH_OK);
    }
    char *text;
    size_t n;
    if (size > 0 && data[0] == '!') {
        n = AUTH_TOKEN_LEN;
        text = fuzz_copy((const uint8_t *)secret, n, 0);
        for (size_t i = 1; i < size && i - 1 < n; i++)
            text[i - 1] = (char)data[i];
    } else {
        n = size;
        text = fuzz_copy(data, size, 0);
    }
    char id[AUTH_TOKEN_ID_LEN + 1];
    int rc = auth_text_parse(text, n, id);
    FUZZ_ASSERT(rc == AUTH_OK || rc == AUTH_EMISSING || rc == AUTH_EINVALID);
    if (rc == AUTH_OK)
        FUZZ_ASSERT(strlen(id) == AUTH_TOKEN_ID_LEN && memcmp(id, text + 3, AUTH_TOKEN_ID_LEN) == 0);
    auth_token_t *tok = NULL;
    int vrc = auth_table_verify(table, "pepper", text, n, &tok);
    int exact = n == AUTH_TOKEN_LEN && memcmp(text, secret, n) == 0;
    FUZZ_ASSERT((vrc == AUTH_OK) == exact);
    if (vrc == AUTH_OK) {
        storage_tenant_t t = storage_tenant("fuzz", "acct", "brand");
        FUZZ_ASSERT(tok != NULL && auth_token_permits(tok, &t) == AUTH_OK);
    }
    free(text);
    return 0;
}
