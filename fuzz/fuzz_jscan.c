/* fuzz_jscan.c -- the strict JSON scanner (storage/jscan.c): whatever it
 * accepts is walked member by member and item by item as batch.c and
 * message.c walk it, every string is unescaped into a buffer of exactly the
 * size the header promises, and json-c (which reads stored text back) must
 * accept it too. */
#include <json-c/json.h>
#include "fuzz.h"
#include "base.h"

static void walk(span_t v, int depth);

static void
unescape_check(span_t raw)
{
    char *out = malloc(raw.n + 1);
    FUZZ_ASSERT(out != NULL);
    size_t n = base_json_unescape(raw, out);
    FUZZ_ASSERT(n <= raw.n);
    FUZZ_ASSERT(fuzz_utf8_ok(out, n));
    free(out);
}

static void
walk(span_t v, int depth)
{
    FUZZ_ASSERT(v.n > 0);
    FUZZ_ASSERT(depth <= BASE_JSON_MAX_DEPTH + 1);
    /* every value the iterators hand out is itself one valid value */
    FUZZ_ASSERT(base_json_check(v.p, v.n) == NULL);
    jiter_t it;
    span_t key, value;
    switch (v.p[0]) {
    case '{':
        base_json_members(&it, v);
        while (base_json_next(&it, &key, &value)) {
            unescape_check(key);
            (void)base_json_key_is(key, "userId", 6);
            walk(value, depth + 1);
        }
        break;
    case '[':
        base_json_items(&it, v);
        while (base_json_next_item(&it, &value))
            walk(value, depth + 1);
        break;
    case '"':
        FUZZ_ASSERT(v.n >= 2 && v.p[v.n - 1] == '"');
        unescape_check((span_t){v.p + 1, v.n - 2});
        break;
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *why = base_json_check_depth(text, size, BASE_JSON_MAX_DEPTH);
    if (why != NULL)
        return 0;
    span_t all = {text, size};
    while (all.n > 0 && (*all.p == ' ' || *all.p == '\t' || *all.p == '\n' || *all.p == '\r'))
        all.p++, all.n--;
    while (all.n > 0 &&
           (all.p[all.n - 1] == ' ' || all.p[all.n - 1] == '\t' || all.p[all.n - 1] == '\n' || all.p[all.n - 1] == '\r'))
        all.n--;
    walk(all, 0);

    /* stored text parses again (json-c's default depth, as the views use) */
    struct json_tokener *tok = json_tokener_new();
    FUZZ_ASSERT(tok != NULL);
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)size);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (jerr == json_tokener_continue) { /* a bare number needs its end */
        o = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    if (jerr != json_tokener_success) /* (o is NULL for null itself) */
        fprintf(stderr, "json-c refused what jscan accepted: %s\n", json_tokener_error_desc(jerr));
    FUZZ_ASSERT(jerr == json_tokener_success);
    json_object_put(o);
    json_tokener_free(tok);
    return 0;
}
