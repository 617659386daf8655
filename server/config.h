/* config.h -- every setting of `profiled serve` in one table: name, flag,
 * environment variable, default, bounds and help. --help, environment
 * parsing and validation all read the table. */
#ifndef PROFILED_CONFIG_H
#define PROFILED_CONFIG_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *listen; /* "ADDR:PORT"; port 0 picks an ephemeral port */
    char *db;
    int threads; /* HTTP loop threads */
    int workers; /* SQLite worker threads */
    int queue;   /* job queue capacity */
    int job_timeout_ms;
    double rate; /* default requests/s per token */
    int burst;
    char *token_pepper;
    int token_reload_ms;
    int max_body; /* bytes; larger requests get 413 */
    int ratelimit_keys;
    char *sync; /* "normal" or "full" */
    double ingest_rate;
    int ingest_burst;
    int scroll_ttl; /* seconds a scroll cursor lives unused */
} config_t;

/* Fills cfg from the defaults, then PROFILED_* environment variables, then
 * argv (flags "--name VALUE" or "--name=VALUE"). On a bad value or unknown
 * flag writes a message naming the setting to err and returns -1. Returns 1
 * when --help was given (help printed to out), 0 otherwise. Strings in cfg
 * are malloc'd: free with config_dispose. */
int config_load(config_t *cfg, int argc, char **argv, FILE *out, FILE *err);

void config_dispose(config_t *cfg);

/* Usable CPU cores (affinity mask), at least 1. */
int config_cpu_count(void);

#endif
