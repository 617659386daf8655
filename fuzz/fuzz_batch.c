/* fuzz_batch.c -- ingest bodies (storage/batch.c, message.c): the first
 * byte picks the route (/batch or one message of a type), the rest is the
 * body. What parses has its writeKey read and every message checked; what
 * passes is stored in a throwaway in-memory database and rolled back, as
 * the writer does with a failed group. */
#include "fuzz.h"

static storage_t *st;

static const char *const types[] = {NULL, "track", "identify", "page", "screen", "group", "alias"};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (st == NULL)
        st = fuzz_store_open(FUZZ_SEED_MESSAGES);
    if (size < 1)
        return 0;
    const char *type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    char *body = fuzz_copy(data + 1, size - 1, 0);
    segment_batch_t *b = NULL;
    segment_batch_err_t e;
    if (segment_batch_parse(body, size - 1, type, &b, &e) != 0) {
        FUZZ_ASSERT(b == NULL);
        FUZZ_ASSERT(memchr(e.message, '\0', sizeof(e.message)) != NULL);
        return 0;
    }
    size_t klen = 0;
    const char *key = segment_batch_write_key(b, &klen);
    if (key != NULL)
        FUZZ_ASSERT(klen <= size);
    if (type != NULL)
        FUZZ_ASSERT(segment_batch_count(b) == 1);
    if (segment_batch_check(b, &e) == 0) {
        storage_tenant_t t = storage_tenant("fuzz", "acct", "brand");
        char err[256];
        FUZZ_ASSERT(storage_begin(st) == 0);
        int rc = storage_batch_store(st, &t, b, "api", 1600000000000LL, err, sizeof(err));
        FUZZ_ASSERT(rc == 0 || rc == STORAGE_EINVAL || rc == STORAGE_EEXIST);
        storage_rollback(st);
    }
    segment_batch_free(b);
    return 0;
}
