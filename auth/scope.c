/* scope.c -- what a verified token may reach: exactly its client and
 * account, and one brand of that account or (brand NULL) all of them. */
#include <assert.h>
#include <string.h>
#include "auth.h"

/* s (NUL-terminated) equals the len bytes at b. */
static int
same(const char *s, const char *b, size_t len)
{
    return strlen(s) == len && (len == 0 || memcmp(s, b, len) == 0);
}

int
auth_token_permits(const auth_token_t *tok, const storage_tenant_t *tenant)
{
    assert(tok != NULL && tenant != NULL);
    if (!same(tok->client, tenant->client, tenant->client_len) || !same(tok->account, tenant->account, tenant->account_len))
        return AUTH_EFORBIDDEN;
    if (tok->brand != NULL && !same(tok->brand, tenant->brand, tenant->brand_len))
        return AUTH_EFORBIDDEN;
    return AUTH_OK;
}
