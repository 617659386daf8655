/* evaluate.c -- the read-time side of computed traits and audiences: the
 * value of each definition from its maintained state (windows summed from
 * day rows at the connection's clock, so they need no sweep), the
 * "computed" object of the traits view, and dynamic audience rules
 * evaluated on those values, the traits and lastActivityTime. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../computed/computed.h"

/* A definition's value for one profile: a number, JSON text, or null. */
typedef struct {
    cval_type_t type; /* CV_NUM, CV_OTHER (text), CV_NULL */
    double num;
    char *text;
    size_t len;
} comp_value_t;

int64_t
stg_now(const storage_t *st)
{
    if (st->clock != NULL)
        return st->clock(st->clock_ctx);
    return base_wall_ms();
}

/* A view read the clock at now_ms, and its answer holds until until_ms
 * (exclusive) as far as time goes: narrows the view's window. */
static void
view_time(storage_t *st, int64_t now_ms, int64_t until_ms)
{
    if (now_ms > st->view_from_ms)
        st->view_from_ms = now_ms;
    if (until_ms < st->view_until_ms)
        st->view_until_ms = until_ms;
}

void
storage_view_validity(const storage_t *st, int64_t *from_ms, int64_t *until_ms)
{
    *from_ms = st->view_from_ms;
    *until_ms = st->view_until_ms;
}

void
storage_set_clock(storage_t *st, storage_clock_fn fn, void *ctx)
{
    st->clock = fn;
    st->clock_ctx = ctx;
}

static void
value_text(comp_value_t *v, stg_stmt_t *s, int col)
{
    const char *t = stg_col_text(s, col);
    if (t == NULL) {
        v->type = CV_NULL;
        return;
    }
    v->len = (size_t)stg_col_bytes(s, col);
    if ((v->text = malloc(v->len + 1)) == NULL)
        abort();
    memcpy(v->text, t, v->len + 1);
    v->type = CV_OTHER;
}

/* The value of d for profile pk at now_ms (see the schema's comments). */
static int
read_value(storage_t *st, int64_t pk, const comp_def_t *d, int64_t now_ms, comp_value_t *v)
{
    enum stmt_id id = d->window_days > 0 ? S_COMP_DAYS_GET : d->kind == DK_MOST_FREQUENT ? S_COMP_FREQ_TOP : S_COMP_GET;
    stg_stmt_t *s = stg_stmt(st, id);
    memset(v, 0, sizeof(*v));
    v->type = CV_NULL;
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_text(s, 2, d->key, DEFS_KEY_LEN);
    if (id == S_COMP_DAYS_GET) {
        stg_bind_int64(s, 3, defs_day_of(now_ms) - d->window_days + 1);
        /* the window's first day moves on at the next day boundary */
        view_time(st, now_ms, (defs_day_of(now_ms) + 1) * DEFS_DAY_MS);
    }
    int rc = stg_step(st, s), ret = 0;
    bool additive = d->kind == DK_COUNT || d->kind == DK_SUM;
    if (rc == STG_ROW) {
        if (id == S_COMP_DAYS_GET) {
            int col = additive ? 1 : d->kind == DK_MIN ? 2 : 3;
            if (stg_col_int64(s, 0) > 0 || additive) {
                v->type = CV_NUM;
                v->num = stg_col_double(s, col);
            }
        } else if (id == S_COMP_FREQ_TOP || d->kind == DK_FIRST || d->kind == DK_LAST) {
            value_text(v, s, id == S_COMP_FREQ_TOP ? 0 : 1);
        } else if (stg_col_type(s, 0) != STG_NULL) {
            v->type = CV_NUM;
            v->num = stg_col_double(s, 0);
        }
    } else if (rc != STG_DONE) {
        ret = rc;
    }
    /* No events yet: a count or a sum is 0, anything else null. */
    if (rc == STG_DONE && additive) {
        v->type = CV_NUM;
        v->num = 0;
    }
    stg_reset(s);
    return ret;
}

static void
values_free(comp_value_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].text);
    free(v);
}

static int
read_values(storage_t *st, int64_t pk, const tenant_defs_t *td, size_t n, int64_t now_ms, comp_value_t **out)
{
    comp_value_t *v = calloc(n ? n : 1, sizeof(*v));
    if (v == NULL)
        abort();
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++)
        ret = read_value(st, pk, &td->defs[i], now_ms, &v[i]);
    if (ret != 0) {
        values_free(v, n);
        return ret;
    }
    *out = v;
    return 0;
}

static void
write_number(jsonbuf_t *b, double x)
{
    char num[40];
    if (!isfinite(x)) {
        base_jb_raw(b, "null", 4);
        return;
    }
    if (x == floor(x) && fabs(x) < 1e15) {
        base_jb_int(b, (int64_t)x);
        return;
    }
    /* The shortest text that reads back as the same double. */
    int n = snprintf(num, sizeof(num), "%.15g", x);
    if (strtod(num, NULL) != x)
        n = snprintf(num, sizeof(num), "%.17g", x);
    base_jb_raw(b, num, (size_t)n);
}

int
stg_computed_json(storage_t *st, int64_t tid, int64_t pk, jsonbuf_t *b)
{
    const tenant_defs_t *td;
    comp_value_t *v = NULL;
    int ret = stg_computed_tenant(st, tid, &td);
    base_jb_open(b, '{');
    if (ret == 0 && td != NULL && td->nvisible > 0 && (ret = read_values(st, pk, td, td->nvisible, stg_now(st), &v)) == 0) {
        for (size_t i = 0; i < td->nvisible; i++) {
            base_jb_key(b, td->defs[i].name, strlen(td->defs[i].name));
            if (v[i].type == CV_NUM)
                write_number(b, v[i].num);
            else if (v[i].type == CV_OTHER)
                base_jb_raw(b, v[i].text, v[i].len);
            else
                base_jb_raw(b, "null", 4);
        }
        values_free(v, td->nvisible);
    }
    base_jb_close(b, '}');
    return ret;
}

typedef struct {
    storage_t *st;
    const tenant_defs_t *td;
    int64_t pk;
    bool active;
    int64_t last_ms, now_ms;
    comp_value_t *values;
} eval_t;

static int
eval_trait(eval_t *e, const rule_t *r, bool *out)
{
    stg_stmt_t *s = stg_stmt(e->st, S_TRAIT_GET);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, e->pk);
    stg_bind_text(s, 2, r->path.seg[0], r->path.len[0]);
    int rc = stg_step(e->st, s), ret = 0;
    cval_t a = {.type = CV_ABSENT};
    char *scratch = NULL;
    span_t v;
    if (rc == STG_ROW) {
        span_t text = {stg_col_text(s, 0), (size_t)stg_col_bytes(s, 0)};
        if (defs_json_at(text, &r->path, 1, &v))
            defs_cval_of(v, &a, &scratch);
    } else if (rc != STG_DONE) {
        ret = rc;
    }
    /* a may point into the row: compare before the reset. */
    *out = defs_cval_match(r->op, &a, &r->value);
    stg_reset(s);
    free(scratch);
    return ret;
}

static int
eval_rule(eval_t *e, const rule_t *r, bool *out)
{
    int ret = 0;
    switch (r->type) {
    case R_AND:
    case R_OR:
        /* Short-circuits: and stops at the first false, or at the first
         * true. */
        *out = r->type == R_AND;
        for (size_t i = 0; i < r->nkids && ret == 0; i++) {
            bool k;
            if ((ret = eval_rule(e, &r->kids[i], &k)) == 0 && k != (r->type == R_AND)) {
                *out = k;
                break;
            }
        }
        return ret;
    case R_NOT:
        if ((ret = eval_rule(e, &r->kids[0], out)) == 0)
            *out = !*out;
        return ret;
    case R_TRAIT:
        return eval_trait(e, r, out);
    case R_COMPUTED: {
        if (e->values == NULL && (ret = read_values(e->st, e->pk, e->td, e->td->ndefs, e->now_ms, &e->values)) != 0)
            return ret;
        const comp_value_t *v = &e->values[r->def];
        cval_t a = {.type = CV_NULL};
        char *scratch = NULL;
        if (v->type == CV_NUM) {
            a.type = CV_NUM;
            a.num = v->num;
        } else if (v->type == CV_OTHER) {
            defs_cval_of((span_t){v->text, v->len}, &a, &scratch);
        }
        *out = defs_cval_match(r->op, &a, &r->value);
        free(scratch);
        return 0;
    }
    case R_ACTIVE:
        *out = e->active && e->last_ms >= e->now_ms - (int64_t)r->days * DEFS_DAY_MS;
        /* true until now passes lastActivityTime + days; false stays false
         * as time goes on (from the reading on) */
        view_time(e->st, e->now_ms, *out ? e->last_ms + (int64_t)r->days * DEFS_DAY_MS + 1 : INT64_MAX);
        return 0;
    }
    return 0;
}

int
stg_audiences_json(storage_t *st, int64_t tid, int64_t pk, bool active, int64_t last_activity_ms, jsonbuf_t *b)
{
    const tenant_defs_t *td;
    int ret = stg_computed_tenant(st, tid, &td);
    if (ret != 0 || td == NULL || td->nauds == 0)
        return ret;
    eval_t e = {.st = st, .td = td, .pk = pk, .active = active, .last_ms = last_activity_ms, .now_ms = stg_now(st)};
    for (size_t i = 0; i < td->nauds && ret == 0; i++) {
        bool in = false;
        if ((ret = eval_rule(&e, &td->auds[i].rule, &in)) == 0 && in)
            base_jb_str(b, td->auds[i].name, strlen(td->auds[i].name));
    }
    if (e.values != NULL)
        values_free(e.values, td->ndefs);
    return ret;
}
