/* fuzz_definitions.c -- the definitions file (storage/definitions.c): the
 * input is the file's text. A refusal is one line "NAME:…"; accepted
 * definitions print, count and serve a connection (storage_use_definitions)
 * while a message is stored, then are freed. */
#include "fuzz.h"

static storage_t *st;
static FILE *devnull;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (st == NULL) {
        st = fuzz_store_open(FUZZ_SEED_MESSAGES);
        devnull = fopen("/dev/null", "w");
        FUZZ_ASSERT(devnull != NULL);
    }
    definitions_t *defs = NULL;
    char err[512];
    err[0] = '\0';
    int rc = definitions_parse((const char *)data, size, "fuzz.json", &defs, err, sizeof(err));
    if (rc != 0) {
        FUZZ_ASSERT(rc == STORAGE_EINVAL && defs == NULL);
        FUZZ_ASSERT(strncmp(err, "fuzz.json", 9) == 0);
        for (const char *c = err; *c != '\0'; c++) /* one line of text */
            FUZZ_ASSERT((unsigned char)*c >= 0x20 && *c != 0x7f);
        return 0;
    }
    FUZZ_ASSERT(defs != NULL);
    definitions_print(defs, devnull);
    size_t tenants, traits, audiences;
    definitions_stats(defs, &tenants, &traits, &audiences);
    /* a connection with them stores an event and reads a profile */
    storage_use_definitions(st, defs);
    storage_tenant_t t = storage_tenant("fuzz", "acct", "brand");
    FUZZ_ASSERT(storage_begin(st) == 0);
    static const char msg[] = "{\"type\":\"track\",\"userId\":\"joe\",\"event\":\"Email Opened\",\"timestamp\":"
                              "\"2020-10-25T10:00:00Z\",\"properties\":{\"revenue\":3,\"currency\":\"GBP\"}}";
    char *body = malloc(sizeof(msg) - 1);
    FUZZ_ASSERT(body != NULL);
    memcpy(body, msg, sizeof(msg) - 1);
    segment_batch_t *b = NULL;
    segment_batch_err_t e;
    FUZZ_ASSERT(segment_batch_parse(body, sizeof(msg) - 1, "track", &b, &e) == 0 && segment_batch_check(b, &e) == 0);
    char serr[256];
    FUZZ_ASSERT(storage_batch_store(st, &t, b, "api", 1603620000000LL, serr, sizeof(serr)) == 0);
    segment_batch_free(b);
    char *view = NULL;
    size_t vlen = 0;
    FUZZ_ASSERT(storage_profile_view(st, &t, STORAGE_ID_USER, "joe", 3, STORAGE_VIEW_METADATA, &view, &vlen) == 0);
    free(view);
    storage_rollback(st);
    storage_use_definitions(st, NULL);
    definitions_free(defs);
    return 0;
}
