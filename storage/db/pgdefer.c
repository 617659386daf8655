/* pgdefer.c -- write-behind for PostgreSQL (pg.c): inside a transaction,
 * a write whose answer no caller reads (no row back, no count) costs no
 * round trip of its own. It becomes "EXECUTE name(literal, ...);" in the
 * connection's buffer, sent in front of the next statement that needs an
 * answer, in one simple query whose last result is that statement's, or
 * before COMMIT. PostgreSQL runs them in order, so every read sees them;
 * an error in one fails the query that carried it and with it the
 * transaction (rolled back by the caller), as it would have alone. A
 * deferred statement counts as having changed its row (stg_changes 1; its
 * view-cache tags are taken all the same). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include "../db/db.h"

/* A buffer this large is sent before more is added. */
#define DEFER_MAX (256 * 1024)

bool
stg_pg_deferrable(enum stmt_id id, const char *sql)
{
    switch (id) {
    case S_IDENTITY_ADD:   /* ON CONFLICT DO NOTHING: no caller asks whether it did */
    case S_PROFILE_ADD_AT: /* its pk taken before (pgseen.c), its uuid random */
    case S_HISTORY_ADD:
    case S_MARK_UPSERT:
    case S_MARK_UPSERT_HOT:
    case S_PROFILE_TOUCH:
    case S_PROFILE_ACTIVITY:
    case S_COMP_UPSERT:
    case S_COMP_DAY_UPSERT:
    case S_COMP_DAY_PRUNE:
    case S_COMP_FREQ_UPSERT:
    case S_EVENTS_ADD_MANY: /* pending rows (pgrows.c) */
    case S_MARKS_UPSERT_MANY:
    case S_PROFILES_TOUCH_MANY:
    case S_PROFILES_ACTIVITY_MANY:
        return strstr(sql, "RETURNING") == NULL;
    case S_TRAITS_UPSERT_MANY: /* its RETURNING feeds its own history rows */
        return true;
    default:
        return false;
    }
}

static void
put(storage_t *st, const char *p, size_t n)
{
    if (st->pg_wb_len + n + 1 > st->pg_wb_cap) {
        size_t cap = st->pg_wb_cap ? st->pg_wb_cap : 4096;
        while (cap < st->pg_wb_len + n + 1)
            cap *= 2;
        st->pg_wb = base_xrealloc(st->pg_wb, cap);
        st->pg_wb_cap = cap;
    }
    memcpy(st->pg_wb + st->pg_wb_len, p, n);
    st->pg_wb_len += n;
    st->pg_wb[st->pg_wb_len] = '\0';
}

bool
stg_pg_defer_add(storage_t *st, const char *name, int n, const char *const *vals, const int *lens, const int *fmts)
{
    size_t mark = st->pg_wb_len;
    if (mark > DEFER_MAX)
        return false;
    put(st, "EXECUTE ", 8);
    put(st, name, strlen(name));
    if (n > 0) /* EXECUTE name() is a syntax error */
        put(st, "(", 1);
    for (int i = 0; i < n; i++) {
        if (i > 0)
            put(st, ", ", 2);
        if (vals[i] == NULL) {
            put(st, "NULL", 4);
            continue;
        }
        char *lit = fmts[i] == 0 ? PQescapeLiteral((PGconn *)st->db, vals[i], (size_t)lens[i]) : NULL;
        if (lit == NULL) { /* a binary value, or no memory: not deferred */
            st->pg_wb_len = mark;
            if (st->pg_wb != NULL)
                st->pg_wb[mark] = '\0';
            return false;
        }
        put(st, lit, strlen(lit));
        PQfreemem(lit);
    }
    put(st, n > 0 ? ");" : ";", n > 0 ? 2 : 1);
    return true;
}

void
stg_pg_defer_drop(storage_t *st)
{
    st->pg_wb_len = 0;
}
