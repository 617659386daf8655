/* fuzz.h -- what the libFuzzer targets of fuzz/ share: a stand-in h2o
 * request (path, query, headers, pool: what the loop-thread parsers read)
 * and a throwaway in-memory database. */
#ifndef PROFILED_FUZZ_H
#define PROFILED_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a finding) with a message when cond is false. */
#define FUZZ_ASSERT(cond)                                                                                                          \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);                                           \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

/* Whether n bytes of s are valid UTF-8 (RFC 3629). */
static inline int
fuzz_utf8_ok(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else {
            return 0;
        }
        if (n - i < len || u[i + 1] < lo || u[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < len; k++)
            if (u[i + k] < 0x80 || u[i + k] > 0xbf)
                return 0;
        i += len;
    }
    return 1;
}

/* An exact-size heap copy (so ASan sees a read past the end), NUL added
 * after the size bytes only when nul is set. */
static inline char *
fuzz_copy(const uint8_t *data, size_t size, int nul)
{
    char *p = malloc(size + (nul ? 1 : 0) + (size == 0 && !nul));
    if (p == NULL)
        abort();
    if (size > 0)
        memcpy(p, data, size);
    if (nul)
        p[size] = '\0';
    return p;
}

/* A new in-memory database (a fuzz target's own, for its whole run) with
 * the NDJSON lines of ndjson (may be NULL) imported into tenant
 * fuzz/acct/brand. Aborts on failure. */
static inline storage_t *
fuzz_store_open(const char *ndjson)
{
    storage_t *st;
    char err[256];
    if (storage_open(&st, ":memory:", 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz: cannot open a database: %s\n", err);
        abort();
    }
    if (ndjson != NULL) {
        storage_tenant_t t = storage_tenant("fuzz", "acct", "brand");
        FILE *in = fmemopen((void *)ndjson, strlen(ndjson), "r");
        uint64_t imported = 0, rejected = 0;
        if (in == NULL || storage_import_ndjson(st, &t, in, stderr, NULL, 1600000000000LL, &imported, &rejected) != 0) {
            fprintf(stderr, "fuzz: the seed messages did not import\n");
            abort();
        }
        fclose(in);
    }
    return st;
}

/* A few messages of one profile (userId joe, anonymousId anon-joe, an
 * email), for the targets that read profiles. */
#define FUZZ_SEED_MESSAGES                                                                                                         \
    "{\"type\":\"identify\",\"userId\":\"joe\",\"anonymousId\":\"anon-joe\",\"messageId\":\"m1\","                                 \
    "\"timestamp\":\"2020-10-20T10:00:00.000Z\",\"traits\":{\"email\":\"Joe@Example.com\",\"plan\":\"pro\"}}\n"                    \
    "{\"type\":\"track\",\"userId\":\"joe\",\"messageId\":\"m2\",\"timestamp\":\"2020-10-21T10:00:00.000Z\","                      \
    "\"event\":\"Email Opened\",\"properties\":{\"n\":1}}\n"                                                                       \
    "{\"type\":\"page\",\"anonymousId\":\"anon-joe\",\"messageId\":\"m3\",\"timestamp\":\"2020-10-22T10:00:00.000Z\","             \
    "\"name\":\"Home\"}\n"                                                                                                         \
    "{\"type\":\"screen\",\"userId\":\"joe\",\"messageId\":\"m4\",\"timestamp\":\"2020-10-23T10:00:00Z\",\"name\":\"Cart\"}\n"     \
    "{\"type\":\"track\",\"userId\":\"joe\",\"messageId\":\"m5\",\"timestamp\":\"2020-10-24T10:00:00Z\",\"event\":\"Order "        \
    "Completed\"}\n"

#endif
