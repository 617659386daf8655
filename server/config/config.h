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
    char *sync;  /* "normal" or "full" */
    char *sched; /* "batch" or "normal": the CPU policy of the server's threads */
    double ingest_rate;
    int ingest_burst;
    int scroll_ttl;   /* seconds a scroll cursor lives unused */
    int wal_limit_mb; /* the writer checkpoints past this log size */
    int checkpoint_ms;
    int writer_cache_mb;
    int compact_events; /* hot events before a compaction (writer.c) */
    int cache_mb;       /* rendered-view cache of the loops (server/http/cache.c); 0: off */
    char *config;       /* the config file read, if any */
    char *access_log;   /* PATH, "-" (stdout) or "off" */
    double drain_delay;
    double db_wait_s; /* --db-wait-s: retry an unreachable database at start */
    double shutdown_timeout;
    char *trusted_proxy; /* comma-separated addresses / CIDRs */
    char *metrics_listen;
    char *tls_cert;
    char *tls_key;
    int http2;
    int compress_min_size;
    int write_timeout_ms; /* a client taking no bytes of an answer this long is cut */
    int unsent_limit_mb;  /* answers held for clients; beyond it large ones get 503 */
    char *definitions;
    char *id_limits;        /* per-type identity limits (storage_id_limits_parse) */
    int trait_history_days; /* trait changes kept (storage_set_trait_history); 0: off */
    char *cors_origins;     /* "*" or a comma list of origins the ingestion routes answer CORS for */
    char *docs_dir;         /* api.html and openapi.json for /docs, /openapi.json ("": docs/ beside the binary) */
} config_t;

/* Parses "a.b.c.d[/n]" or an IPv6 address[/n] into family, 16 address
 * bytes and a prefix length. 0 or -1. */
int config_parse_cidr(const char *s, size_t len, int *family, unsigned char addr[16], int *prefix);

typedef struct {
    int family; /* AF_INET / AF_INET6 */
    unsigned char addr[16];
    int prefix;
} config_cidr_t;

/* Parses a comma-separated list of addresses / CIDRs (spaces allowed).
 * Returns 0 with *out malloc'd (caller frees; NULL when empty) and *n, or
 * -1 after writing the bad entry, named as setting, to err. */
int config_parse_cidr_list(const char *list, const char *setting, config_cidr_t **out, size_t *n, FILE *err);

/* Whether origin (len bytes, an Origin header's value) is in list (a
 * cors-origins value: "*" allows any; entries compare case-insensitively). */
int config_origin_allowed(const char *list, const char *origin, size_t len);

/* Whether list is "*" (any origin). */
int config_origin_any(const char *list);

/* Fills cfg from the defaults, then the file of --config (or
 * PROFILED_CONFIG; lines "name = value", '#' comments), then PROFILED_*
 * environment variables, then argv (flags "--name VALUE" or
 * "--name=VALUE"; a boolean flag alone means 1). On a bad value or unknown
 * flag writes a message naming the setting to err and returns -1. Returns 1
 * when --help was given (help printed to out), 0 otherwise. Strings in cfg
 * are malloc'd: free with config_dispose. */
int config_load(config_t *cfg, int argc, char **argv, FILE *out, FILE *err);

void config_dispose(config_t *cfg);

/* Usable CPU cores (affinity mask), at least 1. */
int config_cpu_count(void);

#endif
