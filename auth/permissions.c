/* permissions.c -- what a token may do: read profiles, send events, delete
 * profiles. Names as `token create --permissions` takes them and `token
 * list` prints them, and the check the gate makes on every route. */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include "auth.h"

static const struct {
    const char *name;
    unsigned bit;
} names[] = {
    {"read", AUTH_PERM_READ},
    {"ingest", AUTH_PERM_INGEST},
    {"delete", AUTH_PERM_DELETE},
};

#define NNAMES (sizeof(names) / sizeof(names[0]))

int
auth_token_allows(const auth_token_t *tok, unsigned need)
{
    assert(tok != NULL);
    return (tok->permissions & need) == need ? AUTH_OK : AUTH_EFORBIDDEN;
}

int
auth_perms_parse(const char *list, unsigned *out, const char **bad, size_t *bad_len)
{
    assert(list != NULL && out != NULL);
    unsigned perms = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && *s == ' ')
            s++;
        while (e > s && e[-1] == ' ')
            e--;
        size_t i = 0;
        while (i < NNAMES && !(strlen(names[i].name) == (size_t)(e - s) && memcmp(names[i].name, s, (size_t)(e - s)) == 0))
            i++;
        if (i == NNAMES) {
            if (bad != NULL)
                *bad = s;
            if (bad_len != NULL)
                *bad_len = (size_t)(e - s);
            return AUTH_EINVALID;
        }
        perms |= names[i].bit;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    *out = perms;
    return AUTH_OK;
}

char *
auth_perms_format(unsigned perms, char *out, size_t len)
{
    assert(out != NULL && len > 0);
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NNAMES; i++) {
        if (!(perms & names[i].bit))
            continue;
        int n = snprintf(out + at, len - at, "%s%s", at > 0 ? "," : "", names[i].name);
        if (n < 0 || (size_t)n >= len - at)
            break;
        at += (size_t)n;
    }
    if (at == 0)
        snprintf(out, len, "-");
    return out;
}
