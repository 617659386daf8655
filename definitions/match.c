/* match.c -- what a definition compares, shared by the write side (where
 * conditions on event properties) and the read side (audience rules on
 * traits and computed values): the value at a path inside JSON text, the
 * scalar JSON text is, and the comparison operators. */
#include <stdlib.h>
#include <string.h>
#include "definitions.h"

bool
defs_json_at(span_t v, const path_t *path, size_t from, span_t *out)
{
    if (v.p == NULL)
        return false;
    for (size_t i = from; i < path->depth; i++) {
        jiter_t it;
        span_t key, value, found = {NULL, 0};
        if (v.n == 0 || v.p[0] != '{')
            return false;
        base_json_members(&it, v);
        /* A repeated member: the last one counts, as everywhere. */
        while (base_json_next(&it, &key, &value))
            if (base_json_key_is(key, path->seg[i], path->len[i]))
                found = value;
        if (found.p == NULL)
            return false;
        v = found;
    }
    *out = v;
    return true;
}

void
defs_cval_of(span_t v, cval_t *out, char **scratch)
{
    memset(out, 0, sizeof(*out));
    if (v.p == NULL || v.n == 0) {
        out->type = CV_ABSENT;
        return;
    }
    switch (v.p[0]) {
    case 'n':
        out->type = CV_NULL;
        return;
    case 't':
    case 'f':
        out->type = CV_BOOL;
        out->b = v.p[0] == 't';
        return;
    case '{':
    case '[':
        out->type = CV_OTHER;
        out->s = v.p;
        out->n = v.n;
        return;
    case '"': {
        span_t raw = {v.p + 1, v.n - 2};
        out->type = CV_STR;
        if (memchr(raw.p, '\\', raw.n) == NULL) {
            out->s = raw.p;
            out->n = raw.n;
            return;
        }
        free(*scratch);
        if ((*scratch = malloc(raw.n + 1)) == NULL)
            abort();
        out->n = base_json_unescape(raw, *scratch);
        out->s = *scratch;
        return;
    }
    default: {
        char small[64], *buf = small;
        if (v.n >= sizeof(small) && (buf = malloc(v.n + 1)) == NULL)
            abort();
        memcpy(buf, v.p, v.n);
        buf[v.n] = '\0';
        out->type = CV_NUM;
        out->num = strtod(buf, NULL);
        if (buf != small)
            free(buf);
    }
    }
}

static bool
cval_eq(const cval_t *a, const cval_t *e)
{
    cval_type_t at = a->type == CV_ABSENT ? CV_NULL : a->type;
    if (at != e->type)
        return false;
    switch (at) {
    case CV_NULL:
        return true;
    case CV_BOOL:
        return a->b == e->b;
    case CV_NUM:
        return a->num == e->num;
    case CV_STR:
        return a->n == e->n && memcmp(a->s, e->s, a->n) == 0;
    default:
        return false;
    }
}

bool
defs_cval_match(cmp_op_t op, const cval_t *a, const cval_t *e)
{
    switch (op) {
    case OP_EXISTS: {
        bool present = a->type != CV_ABSENT && a->type != CV_NULL;
        return e->b ? present : !present;
    }
    case OP_EQ:
        return cval_eq(a, e);
    case OP_NE:
        return !cval_eq(a, e);
    case OP_CONTAINS:
        return a->type == CV_STR && e->type == CV_STR && (e->n == 0 || (a->n >= e->n && memmem(a->s, a->n, e->s, e->n) != NULL));
    default:
        break;
    }
    int c;
    if (a->type == CV_NUM && e->type == CV_NUM)
        c = (a->num > e->num) - (a->num < e->num);
    else if (a->type == CV_STR && e->type == CV_STR)
        c = base_text_cmp(a->s, a->n, e->s, e->n);
    else
        return false;
    switch (op) {
    case OP_GT:
        return c > 0;
    case OP_GTE:
        return c >= 0;
    case OP_LT:
        return c < 0;
    default:
        return c <= 0;
    }
}
