/* hist.c -- log-linear histogram: values below 2 * HIST_SUB are their own
 * bucket; above, a value keeps its top HIST_SUB_BITS + 1 bits and the bucket
 * is (shift, mantissa). Index arithmetic only, no floating point on record. */
#include <stdlib.h>
#include "hist.h"

hist_t *
hist_new(void)
{
    hist_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        abort();
    h->min = UINT64_MAX;
    return h;
}

void
hist_free(hist_t *h)
{
    free(h);
}

static unsigned
bucket_of(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
    if (shift > HIST_MAX_SHIFT)
        return HIST_BUCKETS - 1;
    return shift * HIST_SUB + (unsigned)(v >> shift);
}

static uint64_t
bucket_low(unsigned b)
{
    if (b < 2 * HIST_SUB)
        return b;
    unsigned shift = b / HIST_SUB - 1;
    return (uint64_t)(b - shift * HIST_SUB) << shift;
}

static uint64_t
bucket_high(unsigned b)
{
    if (b < 2 * HIST_SUB)
        return b;
    unsigned shift = b / HIST_SUB - 1;
    return bucket_low(b) + (UINT64_C(1) << shift) - 1;
}

void
hist_record(hist_t *h, uint64_t v)
{
    h->counts[bucket_of(v)]++;
    h->total++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

uint64_t
hist_percentile(const hist_t *h, double p)
{
    if (h->total == 0)
        return 0;
    if (p >= 100.0)
        return h->max;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->total + 0.999999);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t v = bucket_high(b);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

double
hist_mean(const hist_t *h)
{
    return h->total ? h->sum / (double)h->total : 0.0;
}

void
hist_write_json(const hist_t *h, FILE *f)
{
    int first = 1;
    fputc('[', f);
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        if (h->counts[b] == 0)
            continue;
        fprintf(f, "%s[%llu,%llu,%llu]", first ? "" : ",", (unsigned long long)bucket_low(b), (unsigned long long)bucket_high(b),
                (unsigned long long)h->counts[b]);
        first = 0;
    }
    fputc(']', f);
}
