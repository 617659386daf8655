/* fuzz_gunzip.c -- the capped gzip inflate of ingest bodies (server/api/ingest.c):
 * two bytes pick the cap (what --max-body sets), the rest is the body. An
 * answer of 0 is never over the cap and is what zlib inflates; -1 (over
 * the cap) only when the stream really gives more than cap bytes. */
#include <zlib.h>
#include "fuzz.h"
#include "../server/api/api.h"

/* Reference: inflates at most cap + 1 bytes of the first gzip member in one
 * call. Returns the bytes produced (into ref), or -1 for a bad stream. */
static long
reference(const char *in, size_t len, size_t cap, char *ref)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    FUZZ_ASSERT(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)ref;
    zs.avail_out = (uInt)(cap + 1);
    int rc = inflate(&zs, Z_FINISH);
    long total = (long)zs.total_out;
    inflateEnd(&zs);
    if (rc == Z_STREAM_END || (zs.avail_out == 0 && (rc == Z_OK || rc == Z_BUF_ERROR)))
        return total;
    return -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t cap = 1 + ((size_t)data[0] << 8 | data[1]);
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    char *out = NULL;
    size_t outlen = 0;
    int rc = ingest_gunzip(in, len, cap, &out, &outlen);
    FUZZ_ASSERT(rc == 0 || rc == -1 || rc == -2);
    char *ref = malloc(cap + 1);
    FUZZ_ASSERT(ref != NULL);
    long want = reference(in, len, cap, ref);
    if (rc == 0) {
        FUZZ_ASSERT(outlen <= cap);
        FUZZ_ASSERT(want >= 0 && (size_t)want == outlen);
        FUZZ_ASSERT(outlen == 0 || memcmp(out, ref, outlen) == 0);
        free(out);
    } else if (rc == -1) {
        FUZZ_ASSERT(want < 0 || (size_t)want == cap + 1);
    }
    free(ref);
    return 0;
}
