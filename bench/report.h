/* report.h -- profiled-load's output: a human summary and the raw results
 * as JSON (summary numbers first, one per line, then histograms). */
#ifndef PROFILED_BENCH_REPORT_H
#define PROFILED_BENCH_REPORT_H
#include <stdio.h>
#include "load.h"

/* Prints the summary of a run to f. */
void report_print(const load_config_t *cfg, const load_result_t *r, FILE *f);

/* Writes the raw results to path. Returns 0, or -1 (errno set) when the
 * file cannot be written. */
int report_write_json(const load_config_t *cfg, const load_result_t *r, const char *path);

#endif
