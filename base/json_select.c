/* json_select.c -- field selection over a view's JSON text: the `fields`
 * list parsed and bounded, and the filter that keeps only the members it
 * names. Backend-neutral: it reads the text a view produced and splices
 * what it keeps exactly as it was (names, numbers, strings), in the
 * original order. */
#include <string.h>
#include "base.h"

int
base_fields_parse(const char *s, size_t n, field_list_t *out, const char **why)
{
    out->n = 0;
    if (n == 0) {
        *why = "must name at least one field";
        return BASE_EINVAL;
    }
    const char *p = s, *end = s + n;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *nend = comma != NULL ? comma : end;
        size_t len = (size_t)(nend - p);
        if (len == 0) {
            *why = "must not hold an empty name";
            return BASE_EINVAL;
        }
        if (len > BASE_FIELD_MAX_BYTES) {
            *why = "holds a name longer than 256 bytes";
            return BASE_EINVAL;
        }
        if (out->n == BASE_FIELDS_MAX) {
            *why = "names more than 64 fields";
            return BASE_EINVAL;
        }
        size_t i = out->n;
        out->f[i].name.p = p;
        out->f[i].name.n = len;
        out->f[i].nseg = 0;
        size_t start = 0;
        for (size_t k = 0; k <= len; k++) {
            if (k < len && p[k] != '.')
                continue;
            if (k == start) {
                *why = "holds a name with an empty segment (a dot at an end or two in a row)";
                return BASE_EINVAL;
            }
            if (out->f[i].nseg == BASE_FIELD_MAX_SEGMENTS) {
                *why = "holds a name of more than 8 dotted segments";
                return BASE_EINVAL;
            }
            out->f[i].seg[out->f[i].nseg++] = (uint16_t)start;
            start = k + 1;
        }
        out->n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return 0;
}

/* Field f, of which the path below the object at hand starts at its
 * segment d. */
typedef struct {
    uint8_t f, d;
} active_t;

/* Decoded names longer than a name can be match nothing; the longest raw
 * text that can decode to BASE_FIELD_MAX_BYTES is six bytes a byte. */
#define RAW_KEY_MAX (BASE_FIELD_MAX_BYTES * 6)

/* Whether member key of the current object is to be kept whole (1), or
 * gives the paths going below it in *child (returns 0, *nchild set). */
static int
match_member(const field_list_t *fl, const active_t *act, size_t nact, const char *k, size_t kn, active_t *child, size_t *nchild)
{
    *nchild = 0;
    for (size_t a = 0; a < nact; a++) {
        size_t f = act[a].f, d = act[a].d;
        const char *name = fl->f[f].name.p;
        size_t off = fl->f[f].seg[d], nlen = fl->f[f].name.n;
        if (nlen - off == kn && memcmp(name + off, k, kn) == 0)
            return 1;
        /* the key may be one segment or several with their dots */
        for (size_t e = d + 1; e < fl->f[f].nseg; e++) {
            size_t plen = fl->f[f].seg[e] - 1 - off;
            if (plen == kn && memcmp(name + off, k, kn) == 0) {
                child[*nchild].f = (uint8_t)f;
                child[*nchild].d = (uint8_t)e;
                (*nchild)++;
                break;
            }
        }
    }
    return 0;
}

static bool
is_object(span_t v)
{
    return v.n > 0 && v.p[0] == '{';
}

/* The members of object that act selects, into out (inside an object
 * already opened). Returns how many were written. */
static size_t
select_object(span_t object, const field_list_t *fl, const active_t *act, size_t nact, bool top, jsonbuf_t *out)
{
    jiter_t it;
    span_t key, value;
    size_t written = 0;
    char buf[RAW_KEY_MAX];
    base_json_members(&it, object);
    while (base_json_next(&it, &key, &value)) {
        const char *k = key.p;
        size_t kn = key.n;
        if (memchr(key.p, '\\', key.n) != NULL) {
            if (key.n > sizeof(buf))
                continue; /* longer than any name once decoded */
            kn = base_json_unescape(key, buf);
            k = buf;
        }
        if (top && ((kn == 2 && memcmp(k, "id", 2) == 0) || (kn == 10 && memcmp(k, "externalId", 10) == 0))) {
            base_jb_rawkey(out, key.p, key.n);
            base_jb_raw(out, value.p, value.n);
            written++;
            continue;
        }
        active_t child[BASE_FIELDS_MAX];
        size_t nchild;
        if (match_member(fl, act, nact, k, kn, child, &nchild)) {
            base_jb_rawkey(out, key.p, key.n);
            base_jb_raw(out, value.p, value.n);
            written++;
        } else if (nchild > 0 && is_object(value)) {
            size_t mark = out->len;
            base_jb_rawkey(out, key.p, key.n);
            base_jb_open(out, '{');
            if (select_object(value, fl, child, nchild, false, out) == 0) {
                out->len = mark; /* nothing below it was selected */
                out->data[mark] = '\0';
                continue;
            }
            base_jb_close(out, '}');
            written++;
        }
    }
    return written;
}

void
base_json_select(const char *json, size_t n, const field_list_t *fields, jsonbuf_t *out)
{
    size_t i = 0;
    while (i < n && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
        i++;
    if (i == n || json[i] != '{') {
        base_jb_raw(out, json, n);
        return;
    }
    active_t act[BASE_FIELDS_MAX];
    for (size_t f = 0; f < fields->n; f++) {
        act[f].f = (uint8_t)f;
        act[f].d = 0;
    }
    base_jb_open(out, '{');
    select_object((span_t){json + i, n - i}, fields, act, fields->n, true, out);
    base_jb_close(out, '}');
}

void
base_json_select_data(const char *json, size_t n, const field_list_t *fields, jsonbuf_t *out)
{
    jiter_t it;
    span_t key, value;
    base_json_members(&it, (span_t){json, n});
    base_jb_open(out, '{');
    while (base_json_next(&it, &key, &value)) {
        base_jb_rawkey(out, key.p, key.n);
        if (!base_json_key_is(key, "data", 4) || value.n == 0 || value.p[0] != '[') {
            base_jb_raw(out, value.p, value.n);
            continue;
        }
        jiter_t items;
        span_t item;
        base_jb_open(out, '[');
        base_json_items(&items, value);
        while (base_json_next_item(&items, &item))
            base_json_select(item.p, item.n, fields, out);
        base_jb_close(out, ']');
    }
    base_jb_close(out, '}');
}
