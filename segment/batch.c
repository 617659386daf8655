/* batch.c -- request bodies of Segment messages, taken apart in place: the
 * body is checked once as JSON, each message is checked where it lies, and
 * its text is what gets stored (as `profiled import` stores lines). Nothing
 * is parsed into objects and serialised again. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "segment.h"

typedef struct {
    message_t m;
    span_t text;
} batch_msg_t;

struct segment_batch {
    char *body; /* the request body (owned): texts point into it */
    char *own;  /* a single message's text, rewritten (owned) */
    char *write_key;
    size_t write_key_len;
    batch_msg_t *msgs;
    size_t n;
    bool single;
};

static void set_err(segment_batch_err_t *e, bool bad_body, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
set_err(segment_batch_err_t *e, bool bad_body, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    e->bad_body = bad_body;
}

static span_t
trim(span_t s)
{
    while (s.n > 0 && (*s.p == ' ' || *s.p == '\t' || *s.p == '\n' || *s.p == '\r'))
        s.p++, s.n--;
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\n' || s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

/* One message of its own route: "type" must be the route's (it is added
 * when absent) and a "writeKey" member, a credential, is left out of the
 * stored text. */
static bool
single_text(segment_batch_t *b, span_t all, const char *type, segment_batch_err_t *e)
{
    jiter_t it;
    span_t key, value;
    bool has_type = false, has_key = false;
    size_t type_len = strlen(type);
    base_json_members(&it, all);
    while (base_json_next(&it, &key, &value)) {
        if (base_json_key_is(key, "type", 4)) {
            has_type = true;
            if (value.p[0] != '"' || !base_json_key_is((span_t){value.p + 1, value.n - 2}, type, type_len)) {
                set_err(e, false, "type: this route takes '%s' messages.", type);
                return false;
            }
        } else if (base_json_key_is(key, "writeKey", 8)) {
            has_key = true;
        }
    }
    if (has_type && !has_key) {
        b->msgs[0].text = all;
        return true;
    }
    jsonbuf_t out;
    base_jb_init(&out, all.n + type_len + 16);
    base_jb_open(&out, '{');
    if (!has_type) {
        base_jb_key(&out, "type", 4);
        base_jb_str(&out, type, type_len);
    }
    base_json_members(&it, all);
    while (base_json_next(&it, &key, &value)) {
        if (base_json_key_is(key, "writeKey", 8))
            continue;
        /* the member as it was sent: "name": value */
        const char *from = key.p - 1;
        base_jb_raw(&out, from, (size_t)(value.p + value.n - from));
    }
    base_jb_close(&out, '}');
    b->own = out.data;
    b->msgs[0].text = (span_t){out.data, out.len};
    return true;
}

int
segment_batch_parse(char *body, size_t len, const char *single_type, segment_batch_t **out, segment_batch_err_t *e)
{
    segment_batch_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        abort();
    b->body = body;
    b->single = single_type != NULL;
    *out = NULL;
    memset(e, 0, sizeof(*e));

    /* A batch's messages sit two levels down: they get the same depth as
     * a message of its own. */
    const char *why = base_json_check_depth(body, len, BASE_JSON_MAX_DEPTH + (single_type == NULL ? 2 : 0));
    span_t all = trim((span_t){body, len});
    if (why != NULL || all.p[0] != '{') {
        set_err(e, true, "The request body must be one JSON object%s%s.", why != NULL ? ": " : "", why != NULL ? why : "");
        goto fail;
    }
    jiter_t it;
    span_t key, value, list = {NULL, 0};
    base_json_members(&it, all);
    /* A repeated member: the last one counts. */
    while (base_json_next(&it, &key, &value)) {
        if (base_json_key_is(key, "writeKey", 8)) {
            free(b->write_key);
            b->write_key = NULL;
            b->write_key_len = 0;
            if (value.p[0] == '"') {
                if ((b->write_key = malloc(value.n)) == NULL)
                    abort();
                b->write_key_len = base_json_unescape((span_t){value.p + 1, value.n - 2}, b->write_key);
            }
        } else if (single_type == NULL && base_json_key_is(key, "batch", 5)) {
            list = value;
        }
    }

    if (single_type != NULL) {
        if ((b->msgs = calloc(1, sizeof(*b->msgs))) == NULL)
            abort();
        b->n = 1;
        if (!single_text(b, all, single_type, e))
            goto fail;
    } else {
        if (list.p == NULL || list.p[0] != '[') {
            set_err(e, false, "batch: expected an array of messages.");
            goto fail;
        }
        size_t cap = 0;
        base_json_items(&it, list);
        while (base_json_next_item(&it, &value)) {
            if (b->n == cap) {
                cap = cap == 0 ? 128 : cap * 2;
                if ((b->msgs = realloc(b->msgs, cap * sizeof(*b->msgs))) == NULL)
                    abort();
            }
            memset(&b->msgs[b->n], 0, sizeof(b->msgs[0]));
            b->msgs[b->n++].text = value;
        }
    }
    *out = b;
    return 0;
fail:
    segment_batch_free(b);
    return BASE_EINVAL;
}

int
segment_batch_check(segment_batch_t *b, segment_batch_err_t *e)
{
    for (size_t i = 0; i < b->n; i++) {
        const char *field = NULL;
        char reason[160];
        span_t t = b->msgs[i].text;
        if (segment_message_fields(t.p, t.n, &b->msgs[i].m, &field, reason, sizeof(reason)) != 0) {
            if (b->single)
                set_err(e, false, "%s: %s", field != NULL ? field : "message", reason);
            else
                set_err(e, false, "batch[%zu].%s: %s", i, field != NULL ? field : "message", reason);
            return BASE_EINVAL;
        }
    }
    return 0;
}

const char *
segment_batch_write_key(const segment_batch_t *b, size_t *len)
{
    *len = b->write_key_len;
    return b->write_key;
}

size_t
segment_batch_count(const segment_batch_t *b)
{
    return b->n;
}

void
segment_batch_free(segment_batch_t *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        segment_message_free(&b->msgs[i].m);
    free(b->msgs);
    free(b->own);
    free(b->write_key);
    free(b->body);
    free(b);
}

const message_t *
segment_batch_message(const segment_batch_t *b, size_t i, span_t *text)
{
    *text = b->msgs[i].text;
    return &b->msgs[i].m;
}
