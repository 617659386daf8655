/* idlimits.c -- per-type identity limits: how many distinct userIds,
 * anonymousIds and emails one profile may gain through ingest (by default
 * one userId, so strangers sharing a device id never become one profile),
 * their parsing, and the bounded counts ingest checks them with. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../write/write.h"

#define LIMIT_MAX 1000000

static void
defaults(storage_id_limits_t *l)
{
    memset(l, 0, sizeof(*l));
    l->max[STORAGE_ID_USER] = 1;
}

int
storage_id_limits_parse(const char *text, storage_id_limits_t *out, char *err, size_t errlen)
{
    storage_id_limits_t l;
    defaults(&l);
    for (const char *p = text != NULL ? text : ""; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && isspace((unsigned char)*p))
            p++, len--;
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            int type = -1;
            size_t nlen = eq != NULL ? (size_t)(eq - p) : len;
            while (nlen > 0 && isspace((unsigned char)p[nlen - 1]))
                nlen--;
            storage_id_type_t t;
            if (storage_id_type_parse(p, nlen, &t) == 0 && t != STORAGE_ID_INTERNAL)
                type = (int)t;
            if (eq == NULL || type < 0) {
                snprintf(err, errlen, "'%.*s': expected TYPE=N with TYPE userId, anonymousId or email", (int)(len > 64 ? 64 : len),
                         p);
                return STORAGE_EINVAL;
            }
            char value[16];
            const char *v = eq + 1;
            size_t vlen = len - (size_t)(v - p);
            while (vlen > 0 && isspace((unsigned char)*v))
                v++, vlen--;
            if (vlen == 0 || vlen >= sizeof(value)) {
                snprintf(err, errlen, "'%.*s': expected a number from 1 to %d or unlimited", (int)(len > 64 ? 64 : len), p,
                         LIMIT_MAX);
                return STORAGE_EINVAL;
            }
            memcpy(value, v, vlen);
            value[vlen] = '\0';
            if (strcmp(value, "unlimited") == 0) {
                l.max[type] = 0;
            } else {
                char *end;
                errno = 0;
                long n = strtol(value, &end, 10);
                if (errno != 0 || *end != '\0' || n < 1 || n > LIMIT_MAX) {
                    snprintf(err, errlen, "'%.*s': expected a number from 1 to %d or unlimited", (int)(len > 64 ? 64 : len), p,
                             LIMIT_MAX);
                    return STORAGE_EINVAL;
                }
                l.max[type] = (int)n;
            }
        }
        p += len;
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
    }
    *out = l;
    return 0;
}

void
storage_set_id_limits(storage_t *st, const storage_id_limits_t *limits)
{
    if (limits == NULL) {
        st->id_limits_set = false;
        return;
    }
    st->id_limits = *limits;
    st->id_limits_set = true;
}

int
stg_id_limit(const storage_t *st, int type)
{
    if (type < 0 || type > STORAGE_ID_EMAIL)
        return 0;
    if (st->id_limits_set)
        return st->id_limits.max[type];
    return type == STORAGE_ID_USER ? 1 : 0;
}

int
stg_id_count(storage_t *st, int64_t tid, int64_t a, int64_t b, int type, int cap, int *count)
{
    stg_stmt_t *s = stg_stmt(st, S_IDENTITY_COUNT);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, a);
    stg_bind_int64(s, 2, b);
    stg_bind_int64(s, 3, tid);
    stg_bind_int(s, 4, type);
    stg_bind_int(s, 5, cap);
    int64_t n = 0;
    int ret = stg_step_int64(st, s, &n);
    *count = (int)n;
    return ret;
}

int
stg_ids_fit(storage_t *st, int64_t tid, int64_t a, int64_t b, const int add[3], bool *fits)
{
    *fits = true;
    for (int type = 0; type <= STORAGE_ID_EMAIL; type++) {
        int limit = stg_id_limit(st, type), n = 0, ret;
        /* Nothing to count for an unlimited type, or one profile gaining
         * none of it (a profile already over a limit keeps its ids). */
        if (limit == 0 || (a == b && add[type] == 0))
            continue;
        if (add[type] > limit) {
            *fits = false;
            return 0;
        }
        if ((ret = stg_id_count(st, tid, a, b, type, limit - add[type] + 1, &n)) != 0)
            return ret;
        if (n + add[type] > limit) {
            *fits = false;
            return 0;
        }
    }
    return 0;
}
