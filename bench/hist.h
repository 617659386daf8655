/* hist.h -- log-linear latency histogram in the manner of HdrHistogram: 128
 * linear sub-buckets per power of two, so any recorded value is known to
 * within 1/128 (< 0.8%), from 1 ns to over an hour, in a fixed 46 KB. */
#ifndef PROFILED_BENCH_HIST_H
#define PROFILED_BENCH_HIST_H
#include <stdint.h>
#include <stdio.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_SHIFT 42
#define HIST_BUCKETS ((HIST_MAX_SHIFT + 2) * HIST_SUB)

typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max; /* exact; min is UINT64_MAX while empty */
    double sum;
} hist_t;

/* A zeroed histogram on the heap; hist_free releases it. Aborts on OOM. */
hist_t *hist_new(void);
void hist_free(hist_t *h);

/* Records one value (any unit; the load generator uses nanoseconds). */
void hist_record(hist_t *h, uint64_t v);

/* The value at percentile p (0..100): the highest value equivalent to the
 * bucket holding the p-th ranked sample, clipped to the exact max; 0 when
 * empty. p = 100 gives the exact max. */
uint64_t hist_percentile(const hist_t *h, double p);

/* Mean of the recorded values; 0 when empty. */
double hist_mean(const hist_t *h);

/* Writes the non-empty buckets as a JSON array of [low, high, count]. */
void hist_write_json(const hist_t *h, FILE *f);

#endif
