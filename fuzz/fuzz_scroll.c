/* fuzz_scroll.c -- sealed scrollId opening (storage/read/cursor.c
 * stg_scroll_unseal through storage_events_next, reached from ?scrollId=):
 * the input is a presented scrollId on the path userId:joe. A first byte
 * '!' instead overlays the rest on the id of a live scroll, so the fuzzer
 * also reaches the tag check of ids that are almost right. Only the live
 * id itself opens (no forgery without the key); every other input is
 * refused, never a crash; an answer is one JSON object. */
#include <json-c/json.h>
#include "fuzz.h"

static storage_t *st;
static char live[64];

#define NOW 1600000000000LL

static void
start_scroll(void)
{
    storage_tenant_t t = storage_tenant("fuzz", "acct", "brand");
    storage_event_query_t q = {NULL, 0, NULL, 0, INT64_MIN, INT64_MAX, 1, 1};
    char *body = NULL;
    size_t len = 0;
    FUZZ_ASSERT(storage_events_begin(st, &t, STORAGE_ID_USER, "joe", 3, &q, NOW, 1000000000, &body, &len) == 0);
    struct json_object *o = json_tokener_parse(body), *id;
    FUZZ_ASSERT(o != NULL && json_object_object_get_ex(o, "scrollId", &id));
    snprintf(live, sizeof(live), "%s", json_object_get_string(id));
    json_object_put(o);
    free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (st == NULL) {
        st = fuzz_store_open(FUZZ_SEED_MESSAGES);
        start_scroll();
    }
    char *id;
    size_t n;
    if (size > 0 && data[0] == '!') {
        n = strlen(live);
        id = fuzz_copy((const uint8_t *)live, n, 0);
        for (size_t i = 1; i < size && i - 1 < n; i++)
            id[i - 1] = (char)data[i];
    } else {
        id = fuzz_copy(data, size, 0);
        n = size;
    }
    storage_tenant_t t = storage_tenant("fuzz", "acct", "brand");
    char *body = NULL;
    size_t len = 0;
    int rc = storage_events_next(st, &t, STORAGE_ID_USER, "joe", 3, id, n, NOW, 1000000000, &body, &len);
    FUZZ_ASSERT(rc == 0 || rc == STORAGE_ENOTFOUND);
    if (rc == 0) {
        FUZZ_ASSERT(n == strlen(live) && memcmp(id, live, n) == 0);
        struct json_object *o = json_tokener_parse(body);
        FUZZ_ASSERT(o != NULL && json_object_is_type(o, json_type_object));
        json_object_put(o);
        free(body);
    } else {
        FUZZ_ASSERT(body == NULL);
    }
    free(id);
    return 0;
}
