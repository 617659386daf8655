/* parse.c -- reading the definitions file one member at a time: where the
 * checker is (a JSON path, found again in the text for a LINE:COL), the
 * one-line message for the first problem, and the readers of strings,
 * days, names, paths, ops, values, where conditions and event actions
 * that compile.c builds the compiled form with. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "definitions_internal.h"

const char *const defs_kind_names[NKINDS] = {
    [DK_COUNT] = "count",
    [DK_SUM] = "sum",
    [DK_MIN] = "min",
    [DK_MAX] = "max",
    [DK_FIRST] = "first",
    [DK_LAST] = "last",
    [DK_MOST_FREQUENT] = "most_frequent",
};
const char *const defs_op_names[NOPS] = {
    [OP_EQ] = "eq", [OP_NE] = "ne",   [OP_GT] = "gt",         [OP_GTE] = "gte",
    [OP_LT] = "lt", [OP_LTE] = "lte", [OP_EXISTS] = "exists", [OP_CONTAINS] = "contains",
};

void
defs_push_key(parser_t *p, const char *key)
{
    if (p->depth < MAX_PATH_DEPTH)
        p->seg[p->depth] = (seg_t){key, 0};
    p->depth++;
}

void
defs_push_index(parser_t *p, size_t i)
{
    if (p->depth < MAX_PATH_DEPTH)
        p->seg[p->depth] = (seg_t){NULL, i};
    p->depth++;
}

void
defs_pop(parser_t *p)
{
    p->depth--;
}

/* Where the current node starts in the text (which the scanner passed). */
static const char *
locate(const parser_t *p)
{
    span_t cur = {p->text, p->len};
    while (cur.n > 0 && (*cur.p == ' ' || *cur.p == '\t' || *cur.p == '\n' || *cur.p == '\r')) {
        cur.p++;
        cur.n--;
    }
    size_t depth = p->depth < MAX_PATH_DEPTH ? p->depth : MAX_PATH_DEPTH;
    for (size_t i = 0; i < depth; i++) {
        jiter_t it;
        span_t key, value, found = {NULL, 0};
        if (p->seg[i].key != NULL) {
            if (cur.n == 0 || cur.p[0] != '{')
                return cur.p;
            base_json_members(&it, cur);
            /* The last of repeated members is the one json-c keeps. */
            while (base_json_next(&it, &key, &value))
                if (base_json_key_is(key, p->seg[i].key, strlen(p->seg[i].key)))
                    found = value;
        } else {
            if (cur.n == 0 || cur.p[0] != '[')
                return cur.p;
            base_json_items(&it, cur);
            for (size_t k = 0; base_json_next_item(&it, &value); k++)
                if (k == p->seg[i].index) {
                    found = value;
                    break;
                }
        }
        if (found.p == NULL)
            return cur.p; /* a missing member: point at its object */
        cur = found;
    }
    return cur.p;
}

void
defs_line_col(const char *text, const char *at, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (const char *c = text; c < at; c++) {
        if (*c == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static size_t
path_string(const parser_t *p, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    size_t depth = p->depth < MAX_PATH_DEPTH ? p->depth : MAX_PATH_DEPTH;
    for (size_t i = 0; i < depth && n < cap; i++) {
        int w = p->seg[i].key != NULL ? snprintf(out + n, cap - n, "%s%s", n > 0 ? "." : "", p->seg[i].key)
                                      : snprintf(out + n, cap - n, "[%zu]", p->seg[i].index);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    if (n == 0)
        n = (size_t)snprintf(out, cap, "(top level)");
    return n < cap ? n : cap - 1;
}

/* Reports a problem with the current node: "NAME:LINE:COL: PATH: reason". */
int
defs_perr(parser_t *p, const char *fmt, ...)
{
    char path[512], why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    path_string(p, path, sizeof(path));
    const char *at = locate(p);
    if (p->err != NULL && p->errlen > 0) {
        if (at != NULL) {
            size_t line, col;
            defs_line_col(p->text, at, &line, &col);
            snprintf(p->err, p->errlen, "%s:%zu:%zu: %s: %s", p->name, line, col, path, why);
        } else {
            snprintf(p->err, p->errlen, "%s: %s: %s", p->name, path, why);
        }
        /* one line, whatever keys or values it echoes (json-c lets raw
         * control bytes through in strings) */
        for (char *c = p->err; *c != '\0'; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
    }
    return BASE_EINVAL;
}

const char *
defs_type_name(struct json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
    case json_type_int:
        return "a number";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    }
    return "?";
}

/* Every member of obj must be one of allowed (NULL-terminated). */
int
defs_check_members(parser_t *p, struct json_object *obj, const char *const *allowed, const char *what)
{
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        bool ok = false;
        for (const char *const *a = allowed; *a != NULL && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char list[256] = "";
            size_t n = 0;
            for (const char *const *a = allowed; *a != NULL; a++)
                if (!base_appendf(list, sizeof(list), &n, "%s%s", n > 0 ? ", " : "", *a))
                    break;
            defs_push_key(p, key);
            int ret = defs_perr(p, "unknown member \"%s\" in %s (expected %s)", key, what, list);
            defs_pop(p);
            return ret;
        }
    }
    return 0;
}

/* A member that must be a non-empty string: *out borrowed from obj; NULL
 * when absent and optional. */
int
defs_get_string(parser_t *p, struct json_object *obj, const char *key, bool required, const char **out, size_t *len)
{
    struct json_object *v;
    *out = NULL;
    *len = 0;
    if (!json_object_object_get_ex(obj, key, &v)) {
        if (required)
            return defs_perr(p, "missing \"%s\"", key);
        return 0;
    }
    defs_push_key(p, key);
    int ret = 0;
    if (!json_object_is_type(v, json_type_string))
        ret = defs_perr(p, "\"%s\" must be a string, not %s", key, defs_type_name(v));
    else if (json_object_get_string_len(v) == 0)
        ret = defs_perr(p, "\"%s\" must not be empty", key);
    else if (memchr(json_object_get_string(v), '\0', (size_t)json_object_get_string_len(v)) != NULL)
        ret = defs_perr(p, "\"%s\" must not contain NUL", key);
    defs_pop(p);
    if (ret == 0) {
        *out = json_object_get_string(v);
        *len = (size_t)json_object_get_string_len(v);
    }
    return ret;
}

/* A member that must be a whole number of days in 1..MAX_DAYS; 0 when
 * absent. */
int
defs_get_days(parser_t *p, struct json_object *obj, const char *key, int *out)
{
    struct json_object *v;
    *out = 0;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    defs_push_key(p, key);
    int ret = 0;
    double d = json_object_get_double(v);
    if (!json_object_is_type(v, json_type_int) && !(json_object_is_type(v, json_type_double) && d == floor(d)))
        ret = defs_perr(p, "\"%s\" must be a whole number of days, not %s", key, defs_type_name(v));
    else if (d < 1 || d > MAX_DAYS)
        ret = defs_perr(p, "\"%s\" must be between 1 and %d", key, MAX_DAYS);
    defs_pop(p);
    if (ret == 0)
        *out = (int)d;
    return ret;
}

static bool
name_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_NAME_BYTES)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

int
defs_get_name(parser_t *p, struct json_object *obj, const char **out, size_t *len)
{
    int ret = defs_get_string(p, obj, "name", true, out, len);
    if (ret == 0 && !name_ok(*out, *len)) {
        defs_push_key(p, "name");
        ret = defs_perr(p, "name \"%s\" must be 1 to %d letters, digits, '_', '-' or '.'", *out, MAX_NAME_BYTES);
        defs_pop(p);
    }
    return ret;
}

/* "a.b.c": up to DEFS_MAX_PATH non-empty segments. */
static int
compile_path(parser_t *p, const char *s, size_t n, path_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (i == start)
            return defs_perr(p, "path \"%s\" has an empty segment", s);
        if (out->depth == DEFS_MAX_PATH)
            return defs_perr(p, "path \"%s\" is deeper than %d segments", s, DEFS_MAX_PATH);
        out->seg[out->depth] = base_xstrndup(s + start, i - start);
        out->len[out->depth] = i - start;
        out->depth++;
        start = i + 1;
    }
    return 0;
}

void
defs_path_free(path_t *path)
{
    for (size_t i = 0; i < path->depth; i++)
        free(path->seg[i]);
    path->depth = 0;
}

int
defs_get_path(parser_t *p, struct json_object *obj, const char *key, bool required, path_t *out)
{
    const char *s;
    size_t n;
    memset(out, 0, sizeof(*out));
    int ret = defs_get_string(p, obj, key, required, &s, &n);
    if (ret != 0 || s == NULL)
        return ret;
    defs_push_key(p, key);
    ret = compile_path(p, s, n, out);
    defs_pop(p);
    return ret;
}

int
defs_get_op(parser_t *p, struct json_object *obj, cmp_op_t *op)
{
    const char *s;
    size_t n;
    int ret = defs_get_string(p, obj, "op", true, &s, &n);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < NOPS; i++) {
        if (strcmp(defs_op_names[i], s) == 0) {
            *op = (cmp_op_t)i;
            return 0;
        }
    }
    defs_push_key(p, "op");
    ret = defs_perr(p, "unknown op \"%s\" (expected eq, ne, gt, gte, lt, lte, exists or contains)", s);
    defs_pop(p);
    return ret;
}

void
defs_cval_free(cval_t *v)
{
    if (v->type == CV_STR)
        free((char *)v->s);
    memset(v, 0, sizeof(*v));
}

/* The "value" of a comparison, checked against its op. numeric: only a
 * number makes sense (counts). */
int
defs_get_value(parser_t *p, struct json_object *obj, cmp_op_t op, bool numeric, cval_t *out)
{
    struct json_object *v;
    memset(out, 0, sizeof(*out));
    bool has = json_object_object_get_ex(obj, "value", &v);
    if (op == OP_EXISTS) {
        out->type = CV_BOOL;
        out->b = true;
        if (!has)
            return 0;
        defs_push_key(p, "value");
        int ret = json_object_is_type(v, json_type_boolean) ? 0 : defs_perr(p, "the value of exists must be true or false");
        defs_pop(p);
        out->b = json_object_get_boolean(v);
        return ret;
    }
    if (!has)
        return defs_perr(p, "missing \"value\" (op %s compares with it)", defs_op_names[op]);
    defs_push_key(p, "value");
    int ret = 0;
    switch (json_object_get_type(v)) {
    case json_type_null:
        out->type = CV_NULL;
        break;
    case json_type_boolean:
        out->type = CV_BOOL;
        out->b = json_object_get_boolean(v);
        break;
    case json_type_int:
    case json_type_double:
        out->type = CV_NUM;
        out->num = json_object_get_double(v);
        break;
    case json_type_string:
        out->type = CV_STR;
        out->n = (size_t)json_object_get_string_len(v);
        out->s = base_xstrndup(json_object_get_string(v), out->n);
        break;
    default:
        ret = defs_perr(p, "value must be a string, number, boolean or null, not %s", defs_type_name(v));
        break;
    }
    if (ret == 0 && numeric && out->type != CV_NUM)
        ret = defs_perr(p, "value must be a number (it is compared with a count), not %s", defs_type_name(v));
    else if (ret == 0 && op == OP_CONTAINS && out->type != CV_STR)
        ret = defs_perr(p, "the value of contains must be a string, not %s", defs_type_name(v));
    else if (ret == 0 && op >= OP_GT && op <= OP_LTE && out->type != CV_NUM && out->type != CV_STR)
        ret = defs_perr(p, "the value of %s must be a number or a string, not %s", defs_op_names[op], defs_type_name(v));
    defs_pop(p);
    if (ret != 0)
        defs_cval_free(out);
    return ret;
}

static int
compile_cond(parser_t *p, struct json_object *obj, cond_t *c)
{
    static const char *const allowed[] = {"property", "op", "value", NULL};
    memset(c, 0, sizeof(*c));
    if (!json_object_is_type(obj, json_type_object))
        return defs_perr(p, "a condition must be an object {\"property\", \"op\", \"value\"}, not %s", defs_type_name(obj));
    int ret;
    if ((ret = defs_check_members(p, obj, allowed, "a condition")) != 0 ||
        (ret = defs_get_path(p, obj, "property", true, &c->path)) != 0 || (ret = defs_get_op(p, obj, &c->op)) != 0 ||
        (ret = defs_get_value(p, obj, c->op, false, &c->value)) != 0)
        return ret;
    return 0;
}

static void
conds_free(cond_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        defs_path_free(&c[i].path);
        defs_cval_free(&c[i].value);
    }
    free(c);
}

/* "where": one condition or an array of them (all must hold). */
int
defs_compile_where(parser_t *p, struct json_object *obj, comp_def_t *d)
{
    struct json_object *w;
    if (!json_object_object_get_ex(obj, "where", &w))
        return 0;
    defs_push_key(p, "where");
    int ret = 0;
    if (json_object_is_type(w, json_type_array)) {
        size_t n = json_object_array_length(w);
        if (n == 0)
            ret = defs_perr(p, "where must not be an empty array");
        d->where = base_xcalloc(n, sizeof(*d->where));
        for (size_t i = 0; i < n && ret == 0; i++) {
            defs_push_index(p, i);
            ret = compile_cond(p, json_object_array_get_idx(w, i), &d->where[i]);
            defs_pop(p);
            d->nwhere = i + 1;
        }
    } else {
        d->where = base_xcalloc(1, sizeof(*d->where));
        d->nwhere = 1;
        ret = compile_cond(p, w, &d->where[0]);
    }
    defs_pop(p);
    return ret;
}

int
defs_compile_action(parser_t *p, struct json_object *obj, comp_def_t *d)
{
    const char *s;
    size_t n;
    char snake[128];
    int ret = defs_get_string(p, obj, "eventAction", false, &s, &n);
    if (ret != 0 || s == NULL)
        return ret;
    /* Events are stored under the snake_case of their name: "Email
     * Opened" and "email_opened" name the same events. */
    size_t m = base_snake_case(s, n, snake, sizeof(snake));
    if (m == 0) {
        defs_push_key(p, "eventAction");
        ret = defs_perr(p, "eventAction \"%s\" has no letters or digits", s);
        defs_pop(p);
        return ret;
    }
    d->action = base_xstrndup(snake, m);
    d->action_len = m;
    return 0;
}

void
defs_def_free(comp_def_t *d)
{
    free(d->name);
    free(d->action);
    defs_path_free(&d->property);
    conds_free(d->where, d->nwhere);
    memset(d, 0, sizeof(*d));
}
