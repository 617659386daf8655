/* load.h -- the settings and the results of one profiled-load run, shared by
 * the command line (load_main.c), the engine (load.c) and the report
 * writer (report.c). */
#ifndef PROFILED_BENCH_LOAD_H
#define PROFILED_BENCH_LOAD_H
#include <stdint.h>
#include "hist.h"
#include "scenario.h"

typedef enum { CHECK_FULL, CHECK_STATUS, CHECK_NONE } check_mode_t;

typedef struct {
    const char *url;
    const char *scenario;      /* op name or "mix" */
    const char *path_template; /* when set, the scenario is "template" */
    const char *tenant;        /* client/account/brand */
    const char *token;
    const char *tokens_file;
    const char *mix;
    const char *check;
    const char *json;
    int connections;
    int check_every;        /* inspect one 200 answer in this many */
    int max_pages;          /* scroll chain length cap; 0: to the end */
    int deep_page;          /* scroll pages >= this go to the "deep" histogram */
    int ingest_connections; /* closed loop: this many of the connections carry only the
                               mix's ingest (paced to its share), the rest only reads */
    int quiet;
    double duration, warmup, drain, rate;
    uint64_t rng_seed;
    /* derived from the above */
    int port;
    check_mode_t check_mode;
    scenario_t sc;
} load_config_t;

/* The two kinds a mix is reported by: every op but ingest is a read. */
typedef enum { KIND_READS, KIND_INGEST, KIND_COUNT } kind_t;

typedef struct {
    hist_t *latency;    /* from the intended send time (open loop) or the send */
    hist_t *service;    /* from the actual send */
    hist_t *page_first; /* scroll: first pages */
    hist_t *page_deep;  /* scroll: pages >= deep_page */
    uint64_t status[600];
    uint64_t conn_errors;  /* connection lost with a request in flight */
    uint64_t proto_errors; /* unparsable answers */
    uint64_t timeouts;     /* still unanswered when the run ended */
    uint64_t unsent;       /* open loop: due but never sent (all connections busy) */
    uint64_t completed;    /* answers that arrived inside the window */
    /* The same split by kind and by op: completed and latency (from the
     * intended send time) as above; each sums to the total, except that
     * open-loop slots never sent (unsent) are in the total only. */
    uint64_t kind_completed[KIND_COUNT], op_completed[OP_COUNT];
    hist_t *kind_latency[KIND_COUNT], *op_latency[OP_COUNT];
    uint64_t checks, check_failed;
    uint64_t bytes_in;
    uint64_t chains, pages;
    uint64_t events_missing; /* 404 invalid_request_error on the events route */
    double window_s;
    double cpu_s; /* client CPU seconds inside the window */
    const char *skipped;
    char check_sample[320];
    char error_sample[320];
} load_result_t;

/* Makes r's histograms (zeroing *r first); load_result_dispose frees them. */
void load_result_init(load_result_t *r);
void load_result_dispose(load_result_t *r);

/* The kind of an op: KIND_INGEST for OP_INGEST, else KIND_READS. */
kind_t load_kind_of(op_t op);

/* Accounting of one answer to an op: load_tally_completed when it arrived
 * inside the window (bytes: its size), load_tally_latency when it was due
 * inside the window (latency from the intended send, service from the
 * actual send; service < 0: not recorded, for what never got an answer).
 * Each updates the total and the op's and its kind's share together. */
void load_tally_completed(load_result_t *r, op_t op, uint64_t bytes);
void load_tally_latency(load_result_t *r, op_t op, uint64_t latency, int64_t service);

/* Runs the load cfg describes to its end (or SIGINT/SIGTERM) and fills
 * *res, whose histograms the caller made. Returns 0, or -1 after printing
 * why it could not start (a --tokens file). */
int load_execute(load_config_t *cfg, load_result_t *res);

#endif
