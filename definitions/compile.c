/* definitions.c -- the definitions file of computed traits and audiences
 * (docs/DEFINITIONS.md): parsed with json-c, checked as a whole (the first
 * problem refuses the file, named by line, column and JSON path), compiled
 * into the per-tenant arrays that ingest and the views walk, and printed
 * for `profiled definitions list`. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "definitions.h"

#define MAX_FILE_BYTES (16 * 1024 * 1024)
#define MAX_NAME_BYTES 128
#define MAX_DAYS 3650
#define MAX_RULE_DEPTH 16
#define MAX_PATH_DEPTH 64 /* of the JSON path reported in messages */
/* Containers the file may nest: json-c's limit, and the scanner that
 * finds a node's position walks as deep (with a lower limit of its own,
 * positions would vanish from messages about any deeper file). */
#define MAX_FILE_DEPTH (MAX_RULE_DEPTH * 3 + 16)

static const char *const kind_names[] = {
    [DK_COUNT] = "count",
    [DK_SUM] = "sum",
    [DK_MIN] = "min",
    [DK_MAX] = "max",
    [DK_FIRST] = "first",
    [DK_LAST] = "last",
    [DK_MOST_FREQUENT] = "most_frequent",
};
static const comb_t kind_comb[] = {
    [DK_COUNT] = COMB_ADD,   [DK_SUM] = COMB_ADD,   [DK_MIN] = COMB_MIN,           [DK_MAX] = COMB_MAX,
    [DK_FIRST] = COMB_FIRST, [DK_LAST] = COMB_LAST, [DK_MOST_FREQUENT] = COMB_ADD,
};
static const char *const op_names[] = {
    [OP_EQ] = "eq", [OP_NE] = "ne",   [OP_GT] = "gt",         [OP_GTE] = "gte",
    [OP_LT] = "lt", [OP_LTE] = "lte", [OP_EXISTS] = "exists", [OP_CONTAINS] = "contains",
};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))
#define NOPS (sizeof(op_names) / sizeof(op_names[0]))

/* The checker's position: the JSON path of the node being looked at, kept
 * so that a message can name it and find it in the text. */
typedef struct {
    const char *key; /* NULL: an array index */
    size_t index;
} seg_t;

typedef struct {
    const char *text;
    size_t len;
    const char *name;
    seg_t seg[MAX_PATH_DEPTH];
    size_t depth;
    char *err;
    size_t errlen;
} parser_t;

static void
push_key(parser_t *p, const char *key)
{
    if (p->depth < MAX_PATH_DEPTH)
        p->seg[p->depth] = (seg_t){key, 0};
    p->depth++;
}

static void
push_index(parser_t *p, size_t i)
{
    if (p->depth < MAX_PATH_DEPTH)
        p->seg[p->depth] = (seg_t){NULL, i};
    p->depth++;
}

static void
pop(parser_t *p)
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

static void
line_col(const char *text, const char *at, size_t *line, size_t *col)
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
static int perr(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int
perr(parser_t *p, const char *fmt, ...)
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
            line_col(p->text, at, &line, &col);
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

static const char *
type_name(struct json_object *o)
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
static int
check_members(parser_t *p, struct json_object *obj, const char *const *allowed, const char *what)
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
            push_key(p, key);
            int ret = perr(p, "unknown member \"%s\" in %s (expected %s)", key, what, list);
            pop(p);
            return ret;
        }
    }
    return 0;
}

/* A member that must be a non-empty string: *out borrowed from obj; NULL
 * when absent and optional. */
static int
get_string(parser_t *p, struct json_object *obj, const char *key, bool required, const char **out, size_t *len)
{
    struct json_object *v;
    *out = NULL;
    *len = 0;
    if (!json_object_object_get_ex(obj, key, &v)) {
        if (required)
            return perr(p, "missing \"%s\"", key);
        return 0;
    }
    push_key(p, key);
    int ret = 0;
    if (!json_object_is_type(v, json_type_string))
        ret = perr(p, "\"%s\" must be a string, not %s", key, type_name(v));
    else if (json_object_get_string_len(v) == 0)
        ret = perr(p, "\"%s\" must not be empty", key);
    else if (memchr(json_object_get_string(v), '\0', (size_t)json_object_get_string_len(v)) != NULL)
        ret = perr(p, "\"%s\" must not contain NUL", key);
    pop(p);
    if (ret == 0) {
        *out = json_object_get_string(v);
        *len = (size_t)json_object_get_string_len(v);
    }
    return ret;
}

/* A member that must be a whole number of days in 1..MAX_DAYS; 0 when
 * absent. */
static int
get_days(parser_t *p, struct json_object *obj, const char *key, int *out)
{
    struct json_object *v;
    *out = 0;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    push_key(p, key);
    int ret = 0;
    double d = json_object_get_double(v);
    if (!json_object_is_type(v, json_type_int) && !(json_object_is_type(v, json_type_double) && d == floor(d)))
        ret = perr(p, "\"%s\" must be a whole number of days, not %s", key, type_name(v));
    else if (d < 1 || d > MAX_DAYS)
        ret = perr(p, "\"%s\" must be between 1 and %d", key, MAX_DAYS);
    pop(p);
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

static int
get_name(parser_t *p, struct json_object *obj, const char **out, size_t *len)
{
    int ret = get_string(p, obj, "name", true, out, len);
    if (ret == 0 && !name_ok(*out, *len)) {
        push_key(p, "name");
        ret = perr(p, "name \"%s\" must be 1 to %d letters, digits, '_', '-' or '.'", *out, MAX_NAME_BYTES);
        pop(p);
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
            return perr(p, "path \"%s\" has an empty segment", s);
        if (out->depth == DEFS_MAX_PATH)
            return perr(p, "path \"%s\" is deeper than %d segments", s, DEFS_MAX_PATH);
        out->seg[out->depth] = base_xstrndup(s + start, i - start);
        out->len[out->depth] = i - start;
        out->depth++;
        start = i + 1;
    }
    return 0;
}

static void
path_free(path_t *path)
{
    for (size_t i = 0; i < path->depth; i++)
        free(path->seg[i]);
    path->depth = 0;
}

static int
get_path(parser_t *p, struct json_object *obj, const char *key, bool required, path_t *out)
{
    const char *s;
    size_t n;
    memset(out, 0, sizeof(*out));
    int ret = get_string(p, obj, key, required, &s, &n);
    if (ret != 0 || s == NULL)
        return ret;
    push_key(p, key);
    ret = compile_path(p, s, n, out);
    pop(p);
    return ret;
}

static int
get_op(parser_t *p, struct json_object *obj, cmp_op_t *op)
{
    const char *s;
    size_t n;
    int ret = get_string(p, obj, "op", true, &s, &n);
    if (ret != 0)
        return ret;
    for (size_t i = 0; i < NOPS; i++) {
        if (strcmp(op_names[i], s) == 0) {
            *op = (cmp_op_t)i;
            return 0;
        }
    }
    push_key(p, "op");
    ret = perr(p, "unknown op \"%s\" (expected eq, ne, gt, gte, lt, lte, exists or contains)", s);
    pop(p);
    return ret;
}

static void
cval_free(cval_t *v)
{
    if (v->type == CV_STR)
        free((char *)v->s);
    memset(v, 0, sizeof(*v));
}

/* The "value" of a comparison, checked against its op. numeric: only a
 * number makes sense (counts). */
static int
get_value(parser_t *p, struct json_object *obj, cmp_op_t op, bool numeric, cval_t *out)
{
    struct json_object *v;
    memset(out, 0, sizeof(*out));
    bool has = json_object_object_get_ex(obj, "value", &v);
    if (op == OP_EXISTS) {
        out->type = CV_BOOL;
        out->b = true;
        if (!has)
            return 0;
        push_key(p, "value");
        int ret = json_object_is_type(v, json_type_boolean) ? 0 : perr(p, "the value of exists must be true or false");
        pop(p);
        out->b = json_object_get_boolean(v);
        return ret;
    }
    if (!has)
        return perr(p, "missing \"value\" (op %s compares with it)", op_names[op]);
    push_key(p, "value");
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
        ret = perr(p, "value must be a string, number, boolean or null, not %s", type_name(v));
        break;
    }
    if (ret == 0 && numeric && out->type != CV_NUM)
        ret = perr(p, "value must be a number (it is compared with a count), not %s", type_name(v));
    else if (ret == 0 && op == OP_CONTAINS && out->type != CV_STR)
        ret = perr(p, "the value of contains must be a string, not %s", type_name(v));
    else if (ret == 0 && op >= OP_GT && op <= OP_LTE && out->type != CV_NUM && out->type != CV_STR)
        ret = perr(p, "the value of %s must be a number or a string, not %s", op_names[op], type_name(v));
    pop(p);
    if (ret != 0)
        cval_free(out);
    return ret;
}

static int
compile_cond(parser_t *p, struct json_object *obj, cond_t *c)
{
    static const char *const allowed[] = {"property", "op", "value", NULL};
    memset(c, 0, sizeof(*c));
    if (!json_object_is_type(obj, json_type_object))
        return perr(p, "a condition must be an object {\"property\", \"op\", \"value\"}, not %s", type_name(obj));
    int ret;
    if ((ret = check_members(p, obj, allowed, "a condition")) != 0 || (ret = get_path(p, obj, "property", true, &c->path)) != 0 ||
        (ret = get_op(p, obj, &c->op)) != 0 || (ret = get_value(p, obj, c->op, false, &c->value)) != 0)
        return ret;
    return 0;
}

static void
conds_free(cond_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        path_free(&c[i].path);
        cval_free(&c[i].value);
    }
    free(c);
}

/* "where": one condition or an array of them (all must hold). */
static int
compile_where(parser_t *p, struct json_object *obj, comp_def_t *d)
{
    struct json_object *w;
    if (!json_object_object_get_ex(obj, "where", &w))
        return 0;
    push_key(p, "where");
    int ret = 0;
    if (json_object_is_type(w, json_type_array)) {
        size_t n = json_object_array_length(w);
        if (n == 0)
            ret = perr(p, "where must not be an empty array");
        d->where = base_xcalloc(n, sizeof(*d->where));
        for (size_t i = 0; i < n && ret == 0; i++) {
            push_index(p, i);
            ret = compile_cond(p, json_object_array_get_idx(w, i), &d->where[i]);
            pop(p);
            d->nwhere = i + 1;
        }
    } else {
        d->where = base_xcalloc(1, sizeof(*d->where));
        d->nwhere = 1;
        ret = compile_cond(p, w, &d->where[0]);
    }
    pop(p);
    return ret;
}

static int
compile_action(parser_t *p, struct json_object *obj, comp_def_t *d)
{
    const char *s;
    size_t n;
    char snake[128];
    int ret = get_string(p, obj, "eventAction", false, &s, &n);
    if (ret != 0 || s == NULL)
        return ret;
    /* Events are stored under the snake_case of their name: "Email
     * Opened" and "email_opened" name the same events. */
    size_t m = base_snake_case(s, n, snake, sizeof(snake));
    if (m == 0) {
        push_key(p, "eventAction");
        ret = perr(p, "eventAction \"%s\" has no letters or digits", s);
        pop(p);
        return ret;
    }
    d->action = base_xstrndup(snake, m);
    d->action_len = m;
    return 0;
}

static void
def_free(comp_def_t *d)
{
    free(d->name);
    free(d->action);
    path_free(&d->property);
    conds_free(d->where, d->nwhere);
    memset(d, 0, sizeof(*d));
}

/* The key: a hash of everything that decides the values (not the name). */
static void
canon_value(char *buf, size_t cap, size_t *n, const cval_t *v)
{
    switch (v->type) {
    case CV_NUM:
        base_appendf(buf, cap, n, "n%.17g", v->num);
        break;
    case CV_STR:
        base_appendf(buf, cap, n, "s%zu:", v->n);
        break;
    case CV_BOOL:
        base_appendf(buf, cap, n, "%s", v->b ? "t" : "f");
        break;
    default:
        base_appendf(buf, cap, n, "z");
    }
}

static uint64_t
fnv_path(uint64_t h, const path_t *path)
{
    for (size_t i = 0; i < path->depth; i++) {
        h = base_fnv1a(h, path->seg[i], path->len[i]);
        h = base_fnv1a(h, "\x1f", 1);
    }
    return base_fnv1a(h, "\x1e", 1);
}

static void
def_key(comp_def_t *d)
{
    char buf[128];
    size_t n = 0;
    base_appendf(buf, sizeof(buf), &n, "v1|%s|w%d|", kind_names[d->kind], d->window_days);
    uint64_t h = base_fnv1a(14695981039346656037ull, buf, n);
    h = base_fnv1a(h, d->action != NULL ? d->action : "\x1d", d->action != NULL ? d->action_len + 1 : 1);
    h = fnv_path(h, &d->property);
    for (size_t i = 0; i < d->nwhere; i++) {
        const cond_t *c = &d->where[i];
        h = fnv_path(h, &c->path);
        n = 0;
        base_appendf(buf, sizeof(buf), &n, "%s|", op_names[c->op]);
        canon_value(buf, sizeof(buf), &n, &c->value);
        h = base_fnv1a(h, buf, n);
        if (c->value.type == CV_STR)
            h = base_fnv1a(h, c->value.s, c->value.n);
    }
    /* Mix the bits so near-identical definitions differ everywhere. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    snprintf(d->key, sizeof(d->key), "%016llx", (unsigned long long)h);
}

static int
compile_trait(parser_t *p, struct json_object *obj, comp_def_t *d)
{
    static const char *const allowed[] = {"name", "kind", "eventAction", "property", "where", "windowDays", "description", NULL};
    const char *s;
    size_t n;
    int ret;
    memset(d, 0, sizeof(*d));
    if (!json_object_is_type(obj, json_type_object))
        return perr(p, "a computed trait must be an object, not %s", type_name(obj));
    if ((ret = check_members(p, obj, allowed, "a computed trait")) != 0 || (ret = get_name(p, obj, &s, &n)) != 0)
        return ret;
    d->name = base_xstrndup(s, n);
    if ((ret = get_string(p, obj, "kind", true, &s, &n)) != 0)
        return ret;
    size_t k = 0;
    while (k < NKINDS && strcmp(kind_names[k], s) != 0)
        k++;
    if (k == NKINDS) {
        push_key(p, "kind");
        ret = perr(p, "unknown kind \"%s\" (expected count, sum, min, max, first, last or most_frequent)", s);
        pop(p);
        return ret;
    }
    d->kind = (comp_kind_t)k;
    d->comb = kind_comb[k];
    if ((ret = compile_action(p, obj, d)) != 0 || (ret = get_path(p, obj, "property", d->kind != DK_COUNT, &d->property)) != 0)
        return ret;
    if (d->kind == DK_COUNT && d->property.depth > 0) {
        push_key(p, "property");
        ret = perr(p, "kind count takes no property (use where to count events by a property)");
        pop(p);
        return ret;
    }
    if ((ret = get_string(p, obj, "description", false, &s, &n)) != 0 || (ret = compile_where(p, obj, d)) != 0 ||
        (ret = get_days(p, obj, "windowDays", &d->window_days)) != 0)
        return ret;
    if (d->window_days > 0 && d->kind > DK_MAX) {
        push_key(p, "windowDays");
        ret = perr(p, "kind %s is all time only (windowDays applies to count, sum, min and max)", kind_names[d->kind]);
        pop(p);
        return ret;
    }
    def_key(d);
    return 0;
}

static void
rule_free(rule_t *r)
{
    for (size_t i = 0; i < r->nkids; i++)
        rule_free(&r->kids[i]);
    free(r->kids);
    path_free(&r->path);
    cval_free(&r->value);
    memset(r, 0, sizeof(*r));
}

static void
tenant_free(tenant_defs_t *t)
{
    free(t->client);
    free(t->account);
    free(t->brand);
    for (size_t i = 0; i < t->ndefs; i++)
        def_free(&t->defs[i]);
    free(t->defs);
    for (size_t i = 0; i < t->nauds; i++) {
        free(t->auds[i].name);
        rule_free(&t->auds[i].rule);
    }
    free(t->auds);
    free(t->keys_json);
}

/* The index of the hidden count definition behind an eventCount rule,
 * shared with any definition of the tenant that computes the same. */
static int
compile_event_count(parser_t *p, struct json_object *obj, tenant_defs_t *t, size_t *cap, size_t *index)
{
    static const char *const allowed[] = {"eventAction", "windowDays", "where", NULL};
    comp_def_t d = {0};
    int ret;
    push_key(p, "eventCount");
    if (!json_object_is_type(obj, json_type_object))
        ret = perr(p, "eventCount must be an object {\"eventAction\", \"windowDays\", \"where\"}, not %s", type_name(obj));
    else if ((ret = check_members(p, obj, allowed, "eventCount")) == 0 && (ret = compile_action(p, obj, &d)) == 0 &&
             (ret = compile_where(p, obj, &d)) == 0)
        ret = get_days(p, obj, "windowDays", &d.window_days);
    pop(p);
    if (ret != 0) {
        def_free(&d);
        return ret;
    }
    d.kind = DK_COUNT;
    d.comb = COMB_ADD;
    def_key(&d);
    for (size_t i = 0; i < t->ndefs; i++) {
        if (strcmp(t->defs[i].key, d.key) == 0) {
            *index = i;
            def_free(&d);
            return 0;
        }
    }
    if (t->ndefs == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        comp_def_t *n = realloc(t->defs, *cap * sizeof(*n));
        if (n == NULL)
            abort();
        t->defs = n;
    }
    d.name = base_xstrndup("", 0);
    d.hidden = true;
    *index = t->ndefs;
    t->defs[t->ndefs++] = d;
    return 0;
}

static int compile_rule(parser_t *p, struct json_object *obj, tenant_defs_t *t, size_t *cap, rule_t *r, int depth);

static int
compile_rule_list(parser_t *p, struct json_object *list, const char *key, tenant_defs_t *t, size_t *cap, rule_t *r, int depth)
{
    int ret = 0;
    push_key(p, key);
    size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
    if (!json_object_is_type(list, json_type_array))
        ret = perr(p, "%s must be an array of rules, not %s", key, type_name(list));
    else if (n == 0)
        ret = perr(p, "%s must not be empty", key);
    if (ret == 0)
        r->kids = base_xcalloc(n, sizeof(*r->kids));
    for (size_t i = 0; i < n && ret == 0; i++) {
        push_index(p, i);
        ret = compile_rule(p, json_object_array_get_idx(list, i), t, cap, &r->kids[i], depth + 1);
        pop(p);
        r->nkids = i + 1;
    }
    pop(p);
    return ret;
}

static int
compile_rule(parser_t *p, struct json_object *obj, tenant_defs_t *t, size_t *cap, rule_t *r, int depth)
{
    static const char *const allowed[] = {"and", "or",    "not", "trait", "computed", "eventCount", "activeWithinDays",
                                          "op",  "value", NULL};
    static const char *const forms[] = {"and", "or", "not", "trait", "computed", "eventCount", "activeWithinDays"};
    struct json_object *v, *form = NULL;
    const char *which = NULL;
    int ret;
    memset(r, 0, sizeof(*r));
    if (depth > MAX_RULE_DEPTH)
        return perr(p, "rules nest deeper than %d", MAX_RULE_DEPTH);
    if (!json_object_is_type(obj, json_type_object))
        return perr(p, "a rule must be an object, not %s", type_name(obj));
    if ((ret = check_members(p, obj, allowed, "a rule")) != 0)
        return ret;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        if (!json_object_object_get_ex(obj, forms[i], &v))
            continue;
        if (which != NULL) {
            push_key(p, forms[i]);
            ret = perr(p,
                       "a rule has one of and, or, not, trait, computed, eventCount, activeWithinDays: this one has both "
                       "\"%s\" and \"%s\"",
                       which, forms[i]);
            pop(p);
            return ret;
        }
        which = forms[i];
        form = v;
    }
    if (which == NULL)
        return perr(p, "a rule needs one of and, or, not, trait, computed, eventCount, activeWithinDays");
    bool compares = strcmp(which, "trait") == 0 || strcmp(which, "computed") == 0 || strcmp(which, "eventCount") == 0;
    if (!compares && (json_object_object_get_ex(obj, "op", &v) || json_object_object_get_ex(obj, "value", &v))) {
        push_key(p, json_object_object_get_ex(obj, "op", &v) ? "op" : "value");
        ret = perr(p, "a rule with \"%s\" takes no op or value", which);
        pop(p);
        return ret;
    }

    if (strcmp(which, "and") == 0 || strcmp(which, "or") == 0) {
        r->type = which[0] == 'a' ? R_AND : R_OR;
        return compile_rule_list(p, form, which, t, cap, r, depth);
    }
    if (strcmp(which, "not") == 0) {
        r->type = R_NOT;
        r->kids = base_xcalloc(1, sizeof(*r->kids));
        r->nkids = 1;
        push_key(p, "not");
        ret = compile_rule(p, form, t, cap, &r->kids[0], depth + 1);
        pop(p);
        return ret;
    }
    if (strcmp(which, "activeWithinDays") == 0) {
        r->type = R_ACTIVE;
        return get_days(p, obj, "activeWithinDays", &r->days);
    }
    if ((ret = get_op(p, obj, &r->op)) != 0)
        return ret;
    if (strcmp(which, "trait") == 0) {
        r->type = R_TRAIT;
        if ((ret = get_path(p, obj, "trait", true, &r->path)) != 0)
            return ret;
        return get_value(p, obj, r->op, false, &r->value);
    }
    if (strcmp(which, "computed") == 0) {
        const char *name;
        size_t n;
        r->type = R_COMPUTED;
        if ((ret = get_string(p, obj, "computed", true, &name, &n)) != 0)
            return ret;
        size_t i = 0;
        while (i < t->nvisible && strcmp(t->defs[i].name, name) != 0)
            i++;
        if (i == t->nvisible) {
            push_key(p, "computed");
            ret = perr(p, "no computed trait \"%s\" in this tenant's computedTraits", name);
            pop(p);
            return ret;
        }
        r->def = i;
        return get_value(p, obj, r->op, false, &r->value);
    }
    /* eventCount: a count compared with a number. */
    r->type = R_COMPUTED;
    if (r->op == OP_EXISTS || r->op == OP_CONTAINS) {
        push_key(p, "op");
        ret = perr(p, "an event count compares with eq, ne, gt, gte, lt or lte, not %s", op_names[r->op]);
        pop(p);
        return ret;
    }
    if ((ret = compile_event_count(p, form, t, cap, &r->def)) != 0)
        return ret;
    return get_value(p, obj, r->op, true, &r->value);
}

static int
compile_array(parser_t *p, struct json_object *obj, const char *key, struct json_object **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_object_object_get_ex(obj, key, out))
        return 0;
    if (!json_object_is_type(*out, json_type_array)) {
        push_key(p, key);
        int ret = perr(p, "%s must be an array, not %s", key, type_name(*out));
        pop(p);
        return ret;
    }
    *n = json_object_array_length(*out);
    return 0;
}

static void
keys_json(tenant_defs_t *t)
{
    jsonbuf_t b;
    base_jb_init(&b, 32 + t->ndefs * (DEFS_KEY_LEN + 3));
    base_jb_open(&b, '[');
    for (size_t i = 0; i < t->ndefs; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(t->defs[k].key, t->defs[i].key) == 0;
        t->defs[i].dup = seen;
        if (!seen)
            base_jb_str(&b, t->defs[i].key, DEFS_KEY_LEN);
    }
    base_jb_close(&b, ']');
    t->keys_json = base_xstrndup(b.data, b.len);
    base_jb_free(&b);
}

static int
compile_tenant(parser_t *p, struct json_object *obj, tenant_defs_t *t)
{
    static const char *const allowed[] = {"client", "account", "brand", "computedTraits", "audiences", "description", NULL};
    struct json_object *traits, *auds;
    size_t ntraits, nauds, cap = 0, n;
    const char *s;
    int ret;
    if (!json_object_is_type(obj, json_type_object))
        return perr(p, "a tenant entry must be an object {\"client\", \"account\", \"brand\", ...}, not %s", type_name(obj));
    if ((ret = check_members(p, obj, allowed, "a tenant entry")) != 0 || (ret = get_string(p, obj, "client", true, &s, &n)) != 0)
        return ret;
    t->client = base_xstrndup(s, n);
    if ((ret = get_string(p, obj, "account", true, &s, &n)) != 0)
        return ret;
    t->account = base_xstrndup(s, n);
    if ((ret = get_string(p, obj, "brand", true, &s, &n)) != 0)
        return ret;
    t->brand = base_xstrndup(s, n);
    if ((ret = get_string(p, obj, "description", false, &s, &n)) != 0 ||
        (ret = compile_array(p, obj, "computedTraits", &traits, &ntraits)) != 0 ||
        (ret = compile_array(p, obj, "audiences", &auds, &nauds)) != 0)
        return ret;

    /* All computed traits first: audiences may name any of them. */
    cap = ntraits;
    t->defs = base_xcalloc(cap, sizeof(*t->defs));
    push_key(p, "computedTraits");
    for (size_t i = 0; i < ntraits && ret == 0; i++) {
        push_index(p, i);
        ret = compile_trait(p, json_object_array_get_idx(traits, i), &t->defs[i]);
        t->ndefs = t->nvisible = i + 1;
        for (size_t k = 0; k < i && ret == 0; k++) {
            if (strcmp(t->defs[k].name, t->defs[i].name) == 0) {
                push_key(p, "name");
                ret = perr(p, "computed trait \"%s\" is defined twice (also computedTraits[%zu])", t->defs[i].name, k);
                pop(p);
            }
        }
        pop(p);
    }
    pop(p);
    if (ret != 0)
        return ret;

    t->auds = base_xcalloc(nauds, sizeof(*t->auds));
    push_key(p, "audiences");
    for (size_t i = 0; i < nauds && ret == 0; i++) {
        static const char *const aud_allowed[] = {"name", "rule", "description", NULL};
        struct json_object *a = json_object_array_get_idx(auds, i), *rule;
        audience_def_t *ad = &t->auds[i];
        t->nauds = i + 1;
        push_index(p, i);
        if (!json_object_is_type(a, json_type_object))
            ret = perr(p, "an audience must be an object {\"name\", \"rule\"}, not %s", type_name(a));
        else if ((ret = check_members(p, a, aud_allowed, "an audience")) == 0 && (ret = get_name(p, a, &s, &n)) == 0)
            ad->name = base_xstrndup(s, n);
        for (size_t k = 0; k < i && ret == 0; k++) {
            if (strcmp(t->auds[k].name, ad->name) == 0) {
                push_key(p, "name");
                ret = perr(p, "audience \"%s\" is defined twice (also audiences[%zu])", ad->name, k);
                pop(p);
            }
        }
        if (ret == 0 && (ret = get_string(p, a, "description", false, &s, &n)) == 0) {
            if (!json_object_object_get_ex(a, "rule", &rule)) {
                ret = perr(p, "missing \"rule\"");
            } else {
                push_key(p, "rule");
                ret = compile_rule(p, rule, t, &cap, &ad->rule, 0);
                pop(p);
            }
        }
        pop(p);
    }
    pop(p);
    if (ret == 0)
        keys_json(t);
    return ret;
}

static void
defs_free(definitions_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        tenant_free(&d->tenants[i]);
    free(d->tenants);
    free(d);
}

static int
compile(parser_t *p, struct json_object *root, definitions_t *d)
{
    static const char *const allowed[] = {"tenants", "version", "description", NULL};
    struct json_object *tenants, *v;
    size_t n;
    int ret;
    if (!json_object_is_type(root, json_type_object))
        return perr(p, "the definitions must be an object {\"tenants\": [...]}, not %s", type_name(root));
    if ((ret = check_members(p, root, allowed, "the definitions")) != 0)
        return ret;
    if (json_object_object_get_ex(root, "version", &v) && !(json_object_is_type(v, json_type_int) && json_object_get_int(v) == 1)) {
        push_key(p, "version");
        ret = perr(p, "version must be 1");
        pop(p);
        return ret;
    }
    const char *s;
    if ((ret = get_string(p, root, "description", false, &s, &n)) != 0)
        return ret;
    if (!json_object_object_get_ex(root, "tenants", &tenants))
        return perr(p, "missing \"tenants\"");
    if ((ret = compile_array(p, root, "tenants", &tenants, &n)) != 0)
        return ret;
    d->tenants = base_xcalloc(n, sizeof(*d->tenants));
    push_key(p, "tenants");
    for (size_t i = 0; i < n && ret == 0; i++) {
        tenant_defs_t *t = &d->tenants[i];
        d->n = i + 1;
        push_index(p, i);
        ret = compile_tenant(p, json_object_array_get_idx(tenants, i), t);
        for (size_t k = 0; k < i && ret == 0; k++) {
            const tenant_defs_t *o = &d->tenants[k];
            if (strcmp(o->client, t->client) == 0 && strcmp(o->account, t->account) == 0 && strcmp(o->brand, t->brand) == 0)
                ret = perr(p, "%s/%s/%s has two entries (also tenants[%zu])", t->client, t->account, t->brand, k);
        }
        pop(p);
    }
    pop(p);
    return ret;
}

int
definitions_parse(const char *text, size_t len, const char *name, definitions_t **out, char *errbuf, size_t errlen)
{
    parser_t p = {.text = text, .len = len, .name = name != NULL ? name : "definitions", .err = errbuf, .errlen = errlen};
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    definitions_t *d = NULL;
    int ret;
    *out = NULL;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';

    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        size_t line, col;
        line_col(text, nul, &line, &col);
        snprintf(errbuf, errlen, "%s:%zu:%zu: a NUL byte", p.name, line, col);
        return BASE_EINVAL;
    }
    if ((tok = json_tokener_new_ex(MAX_FILE_DEPTH)) == NULL)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_success) {
        while (end < len && (text[end] == ' ' || text[end] == '\t' || text[end] == '\n' || text[end] == '\r'))
            end++;
        if (end < len)
            jerr = json_tokener_error_parse_unexpected;
    }
    const char *why = NULL;
    if (jerr != json_tokener_success) {
        why = jerr == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(jerr);
        /* json-c stops at the offending character. */
        if (jerr == json_tokener_continue)
            end = len;
    } else {
        /* json-c 0.16 lets raw control characters and invalid UTF-8 through
         * even when strict: the scanner refuses them, so what is accepted
         * is text the position lookup walks (at any depth json-c takes). */
        why = base_json_check_at(text, len, MAX_FILE_DEPTH, &end);
    }
    if (why != NULL) {
        size_t line, col;
        line_col(text, text + (end < len ? end : len), &line, &col);
        snprintf(errbuf, errlen, "%s:%zu:%zu: invalid JSON: %s", p.name, line, col, why);
        ret = BASE_EINVAL;
        goto done;
    }
    d = base_xcalloc(1, sizeof(*d));
    if ((ret = compile(&p, root, d)) != 0) {
        defs_free(d);
        goto done;
    }
    *out = d;
    ret = 0;
done:
    json_object_put(root);
    json_tokener_free(tok);
    return ret;
}

int
definitions_load(const char *path, definitions_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return BASE_EIO;
    }
    size_t cap = 64 * 1024, n = 0;
    char *text = malloc(cap);
    if (text == NULL)
        abort();
    for (;;) {
        if (n == cap) {
            cap *= 2;
            if ((text = realloc(text, cap)) == NULL)
                abort();
        }
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > MAX_FILE_BYTES)
            break;
    }
    int ret;
    if (ferror(f)) {
        snprintf(errbuf, errlen, "%s: read error: %s", path, strerror(errno));
        ret = BASE_EIO;
    } else if (n > MAX_FILE_BYTES) {
        snprintf(errbuf, errlen, "%s: larger than %d bytes", path, MAX_FILE_BYTES);
        ret = BASE_EINVAL;
    } else {
        ret = definitions_parse(text, n, path, out, errbuf, errlen);
    }
    free(text);
    fclose(f);
    return ret;
}

void
definitions_free(definitions_t *defs)
{
    if (defs != NULL)
        defs_free(defs);
}

void
definitions_stats(const definitions_t *defs, size_t *tenants, size_t *traits, size_t *audiences)
{
    size_t nt = 0, nc = 0, na = 0;
    for (size_t i = 0; defs != NULL && i < defs->n; i++) {
        nt++;
        nc += defs->tenants[i].nvisible;
        na += defs->tenants[i].nauds;
    }
    if (tenants != NULL)
        *tenants = nt;
    if (traits != NULL)
        *traits = nc;
    if (audiences != NULL)
        *audiences = na;
}

const tenant_defs_t *
definitions_find(const definitions_t *defs, const char *client, size_t client_len, const char *account, size_t account_len,
                 const char *brand, size_t brand_len)
{
    const tenant_defs_t *any = NULL;
    for (size_t i = 0; defs != NULL && i < defs->n; i++) {
        const tenant_defs_t *t = &defs->tenants[i];
        if (strlen(t->client) != client_len || memcmp(t->client, client, client_len) != 0 || strlen(t->account) != account_len ||
            memcmp(t->account, account, account_len) != 0)
            continue;
        if (strlen(t->brand) == brand_len && memcmp(t->brand, brand, brand_len) == 0)
            return t;
        if (strcmp(t->brand, "*") == 0)
            any = t;
    }
    return any;
}

/* ---- printing ---- */

static void
print_path(FILE *out, const path_t *path)
{
    for (size_t i = 0; i < path->depth; i++)
        fprintf(out, "%s%s", i > 0 ? "." : "", path->seg[i]);
}

static void
print_value(FILE *out, const cval_t *v)
{
    switch (v->type) {
    case CV_NUM:
        fprintf(out, "%.15g", v->num);
        break;
    case CV_STR: {
        jsonbuf_t b;
        base_jb_init(&b, v->n + 8);
        base_jb_str(&b, v->s, v->n);
        fwrite(b.data, 1, b.len, out);
        base_jb_free(&b);
        break;
    }
    case CV_BOOL:
        fputs(v->b ? "true" : "false", out);
        break;
    default:
        fputs("null", out);
    }
}

static void
print_compare(FILE *out, cmp_op_t op, const cval_t *v)
{
    if (op == OP_EXISTS) {
        fputs(v->b ? " exists" : " does not exist", out);
        return;
    }
    fprintf(out, " %s ", op_names[op]);
    print_value(out, v);
}

static void
print_where(FILE *out, const comp_def_t *d)
{
    for (size_t i = 0; i < d->nwhere; i++) {
        fputs(i == 0 ? " where " : " and ", out);
        print_path(out, &d->where[i].path);
        print_compare(out, d->where[i].op, &d->where[i].value);
    }
}

static void
print_events(FILE *out, const comp_def_t *d)
{
    if (d->action != NULL)
        fprintf(out, "%s events", d->action);
    else
        fputs("all events", out);
    print_where(out, d);
}

static void
print_def(FILE *out, const comp_def_t *d)
{
    if (d->kind == DK_COUNT) {
        fputs("count of ", out);
    } else {
        fprintf(out, "%s ", d->kind == DK_MOST_FREQUENT ? "most frequent" : kind_names[d->kind]);
        print_path(out, &d->property);
        fputs(" of ", out);
    }
    print_events(out, d);
    if (d->window_days > 0)
        fprintf(out, ", last %d day%s", d->window_days, d->window_days == 1 ? "" : "s");
    else
        fputs(", all time", out);
}

static void
print_rule(FILE *out, const tenant_defs_t *t, const rule_t *r, bool nested)
{
    switch (r->type) {
    case R_AND:
    case R_OR:
        if (nested)
            fputc('(', out);
        for (size_t i = 0; i < r->nkids; i++) {
            if (i > 0)
                fputs(r->type == R_AND ? " and " : " or ", out);
            print_rule(out, t, &r->kids[i], true);
        }
        if (nested)
            fputc(')', out);
        break;
    case R_NOT:
        fputs("not ", out);
        print_rule(out, t, &r->kids[0], true);
        break;
    case R_TRAIT:
        fputs("trait ", out);
        print_path(out, &r->path);
        print_compare(out, r->op, &r->value);
        break;
    case R_COMPUTED: {
        const comp_def_t *d = &t->defs[r->def];
        if (d->hidden) {
            fputs("eventCount(", out);
            print_events(out, d);
            if (d->window_days > 0)
                fprintf(out, ", last %d day%s", d->window_days, d->window_days == 1 ? "" : "s");
            fputc(')', out);
        } else {
            fprintf(out, "computed %s", d->name);
        }
        print_compare(out, r->op, &r->value);
        break;
    }
    case R_ACTIVE:
        fprintf(out, "active within the last %d day%s", r->days, r->days == 1 ? "" : "s");
        break;
    }
}

void
definitions_print(const definitions_t *defs, FILE *out)
{
    for (size_t i = 0; defs != NULL && i < defs->n; i++) {
        const tenant_defs_t *t = &defs->tenants[i];
        fprintf(out, "%s/%s/%s%s: %zu computed trait%s, %zu audience%s\n", t->client, t->account, t->brand,
                strcmp(t->brand, "*") == 0 ? " (every brand without its own entry)" : "", t->nvisible, t->nvisible == 1 ? "" : "s",
                t->nauds, t->nauds == 1 ? "" : "s");
        for (size_t k = 0; k < t->nvisible; k++) {
            fprintf(out, "  computed %s: ", t->defs[k].name);
            print_def(out, &t->defs[k]);
            fputc('\n', out);
        }
        for (size_t k = 0; k < t->nauds; k++) {
            fprintf(out, "  audience %s: ", t->auds[k].name);
            print_rule(out, t, &t->auds[k].rule, false);
            fputc('\n', out);
        }
    }
}
