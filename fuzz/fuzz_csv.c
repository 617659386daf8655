/* fuzz_csv.c -- the member lists of static audiences (storage/audience.c):
 * the input is the CSV file. It is imported into an audience and removed
 * again, in a transaction that is rolled back, on a database with one
 * profile; bad rows are counted, never fatal. */
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
    storage_tenant_t t = storage_tenant("fuzz", "acct", "brand");
    storage_audience_counts_t c;
    FUZZ_ASSERT(storage_begin(st) == 0);
    FILE *in = fmemopen((void *)(size > 0 ? data : (const uint8_t *)""), size, "r");
    FUZZ_ASSERT(in != NULL);
    int rc = storage_audience_import_csv(st, &t, "vip", in, "fuzz.csv", devnull, 1600000000000LL, &c);
    FUZZ_ASSERT(rc == 0 || rc == STORAGE_EINVAL);
    FUZZ_ASSERT(c.matched <= c.rows && c.rejected <= c.rows);
    fclose(in);
    in = fmemopen((void *)(size > 0 ? data : (const uint8_t *)""), size, "r");
    FUZZ_ASSERT(in != NULL);
    rc = storage_audience_remove(st, &t, "vip", in, devnull, &c);
    FUZZ_ASSERT(rc == 0 || rc == STORAGE_EINVAL || rc == STORAGE_ENOTFOUND);
    fclose(in);
    storage_rollback(st);
    return 0;
}
