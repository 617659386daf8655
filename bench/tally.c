/* tally.c -- profiled-load's accounting of answers: the run's totals and
 * the same numbers split by kind (reads, ingest) and by op, updated in one
 * place so the parts always add up to the whole. */
#include <string.h>
#include "load.h"

void
load_result_init(load_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->latency = hist_new();
    r->service = hist_new();
    r->page_first = hist_new();
    r->page_deep = hist_new();
    for (int k = 0; k < KIND_COUNT; k++)
        r->kind_latency[k] = hist_new();
    for (int op = 0; op < OP_COUNT; op++)
        r->op_latency[op] = hist_new();
}

void
load_result_dispose(load_result_t *r)
{
    hist_free(r->latency);
    hist_free(r->service);
    hist_free(r->page_first);
    hist_free(r->page_deep);
    for (int k = 0; k < KIND_COUNT; k++)
        hist_free(r->kind_latency[k]);
    for (int op = 0; op < OP_COUNT; op++)
        hist_free(r->op_latency[op]);
}

kind_t
load_kind_of(op_t op)
{
    return op == OP_INGEST ? KIND_INGEST : KIND_READS;
}

void
load_tally_completed(load_result_t *r, op_t op, uint64_t bytes)
{
    r->completed++;
    r->bytes_in += bytes;
    r->kind_completed[load_kind_of(op)]++;
    r->op_completed[op]++;
}

void
load_tally_latency(load_result_t *r, op_t op, uint64_t latency, int64_t service)
{
    hist_record(r->latency, latency);
    if (service >= 0)
        hist_record(r->service, (uint64_t)service);
    hist_record(r->kind_latency[load_kind_of(op)], latency);
    hist_record(r->op_latency[op], latency);
}
