/* config.c -- the settings table of `profiled serve` and its parser:
 * defaults, then a config file, then PROFILED_* environment variables, then
 * flags. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "config.h"
#include "storage.h"

typedef enum { OPT_STR, OPT_INT, OPT_DOUBLE, OPT_ADDR, OPT_BOOL } opt_type_t;

typedef struct {
    const char *name; /* flag is "--" name; env is PROFILED_ + upper(name) */
    opt_type_t type;
    size_t offset;
    const char *def;
    double min, max;
    const char *help;
    const char *choices; /* OPT_STR: "a|b" when only these are valid */
} opt_t;

#define OFF(f) offsetof(config_t, f)

static const opt_t opts[] = {
    {"listen", OPT_ADDR, OFF(listen), "127.0.0.1:8080", 0, 0, "address and port to listen on (port 0: ephemeral)", NULL},
    {"db", OPT_STR, OFF(db), "./profiled.db", 0, 0, "SQLite database file, or a PostgreSQL URL (postgres://...)", NULL},
    {"threads", OPT_INT, OFF(threads), "0", 0, 256, "HTTP event-loop threads (0: usable cores)", NULL},
    {"workers", OPT_INT, OFF(workers), "0", 0, 256, "SQLite worker threads (0: usable cores)", NULL},
    {"queue", OPT_INT, OFF(queue), "4096", 1, 1 << 20, "job queue capacity; beyond it requests get 503", NULL},
    {"job-timeout-ms", OPT_INT, OFF(job_timeout_ms), "5000", 1, 600000, "deadline of a database job; past it 504", NULL},
    {"rate", OPT_DOUBLE, OFF(rate), "100", 0.001, 1e9, "default requests per second per token", NULL},
    {"burst", OPT_INT, OFF(burst), "500", 1, 1000000000, "default burst per token", NULL},
    {"token-pepper", OPT_STR, OFF(token_pepper), "", 0, 0, "secret mixed into token hashes (HMAC key); keep it out of the db",
     NULL},
    {"token-reload-ms", OPT_INT, OFF(token_reload_ms), "1000", 50, 60000, "how often the token table is checked for changes", NULL},
    {"max-body", OPT_INT, OFF(max_body), "1048576", 1, 16 << 20, "largest request body in bytes; beyond it 413", NULL},
    {"ratelimit-keys", OPT_INT, OFF(ratelimit_keys), "1048576", 1024, 1 << 26,
     "client-address buckets kept for unauthenticated limits", NULL},
    {"sync", OPT_STR, OFF(sync), "normal", 0, 0,
     "durability of ingest commits: normal (survives a crash of the process) or full (also power loss)", "normal|full"},
    {"sched", OPT_STR, OFF(sched), "normal", 0, 0,
     "CPU scheduling of the server's threads: normal, or batch (SCHED_BATCH: a thread woken does not preempt a running one,"
     " so loops hand requests to the workers in batches and a worker gives the CPU back after 256 KiB or 1 ms of answers:"
     " more reads per core, but reads wait behind the writer's commits)",
     "batch|normal"},
    {"ingest-rate", OPT_DOUBLE, OFF(ingest_rate), "1000", 0.001, 1e9, "ingestion requests per second per token", NULL},
    {"wal-limit-mb", OPT_INT, OFF(wal_limit_mb), "64", 1, 65536,
     "past this size the checkpointer holds the writer back to finish copying the write-ahead log, so that it starts over", NULL},
    {"checkpoint-ms", OPT_INT, OFF(checkpoint_ms), "100", 10, 600000,
     "how often a background thread copies the write-ahead log into the database", NULL},
    {"writer-cache-mb", OPT_INT, OFF(writer_cache_mb), "256", 2, 65536,
     "page cache of the writer's connection: a group commit's pages should fit", NULL},
    {"compact-events", OPT_INT, OFF(compact_events), "100000", 1, 100000000,
     "ingested events whose index entries wait in small hot tables before the writer moves them into the large ones"
     " (more: fewer pages written per event, a larger hot table per commit)",
     NULL},
    {"cache-mb", OPT_INT, OFF(cache_mb), "64", 0, 65536,
     "memory for rendered profile views and first events pages answered without a job, shared by the loop threads (0: no cache)",
     NULL},
    {"scroll-ttl", OPT_INT, OFF(scroll_ttl), "300", 1, 86400, "seconds an unused events scrollId stays valid", NULL},
    {"ingest-burst", OPT_INT, OFF(ingest_burst), "5000", 1, 1000000000, "ingestion burst per token", NULL},
    {"config", OPT_STR, OFF(config), "", 0, 0, "file of 'name = value' lines for any of these settings", NULL},
    {"access-log", OPT_STR, OFF(access_log), "-", 0, 0, "JSON access log: a PATH, - (stdout) or off; SIGHUP reopens it", NULL},
    {"drain-delay", OPT_DOUBLE, OFF(drain_delay), "0", 0, 3600,
     "seconds between SIGTERM (readyz turns 503) and closing the listeners", NULL},
    {"db-wait-s", OPT_DOUBLE, OFF(db_wait_s), "0", 0, 86400,
     "seconds to keep trying a PostgreSQL --db that cannot be reached at start (0: exit at once)", NULL},
    {"shutdown-timeout", OPT_DOUBLE, OFF(shutdown_timeout), "30", 0.1, 3600, "seconds to finish in-flight work after SIGTERM",
     NULL},
    {"trusted-proxy", OPT_STR, OFF(trusted_proxy), "", 0, 0, "comma-separated addresses/CIDRs whose X-Forwarded-For is believed",
     NULL},
    {"metrics-listen", OPT_STR, OFF(metrics_listen), "", 0, 0,
     "ADDR:PORT serving only /metrics, /healthz, /readyz (then not on --listen)", NULL},
    {"tls-cert", OPT_STR, OFF(tls_cert), "", 0, 0, "PEM certificate chain: serve HTTPS", NULL},
    {"tls-key", OPT_STR, OFF(tls_key), "", 0, 0, "PEM private key for --tls-cert", NULL},
    {"http2", OPT_BOOL, OFF(http2), "0", 0, 1, "allow HTTP/2 (ALPN h2 with TLS, h2c upgrade without); see the README's warning",
     NULL},
    {"definitions", OPT_STR, OFF(definitions), "", 0, 0,
     "JSON file of computed traits and audiences (docs/DEFINITIONS.md); SIGHUP reloads it", NULL},
    {"id-limits", OPT_STR, OFF(id_limits), "userId=1", 0, 0,
     "most ids of a type one profile may gain, e.g. userId=1,email=5 (alias ignores them; see the README)", NULL},
    {"compress-min-size", OPT_INT, OFF(compress_min_size), "1024", 0, 1 << 30,
     "gzip responses at least this large when the client accepts it (0: never)", NULL},
    {"write-timeout-ms", OPT_INT, OFF(write_timeout_ms), "10000", 100, 3600000,
     "a connection whose client takes no bytes of an answer for this long is closed", NULL},
    {"unsent-limit-mb", OPT_INT, OFF(unsent_limit_mb), "256", 1, 1 << 20,
     "answers held until their clients take them; beyond it answers over 64 KiB get 503", NULL},
    {"trait-history-days", OPT_INT, OFF(trait_history_days), "90", 0, 36500,
     "days of trait changes kept for traits/history and traits?at= (0: none recorded, both answer 404)", NULL},
    {"cors-origins", OPT_STR, OFF(cors_origins), "*", 0, 0,
     "origins browsers may send events from to the ingestion routes: * (any) or a comma list of scheme://host[:port]", NULL},
    {"docs-dir", OPT_STR, OFF(docs_dir), "", 0, 0,
     "directory of api.html and openapi.json (scripts/build-docs.sh) served at /docs and /openapi.json (empty: docs/ beside "
     "the binary)",
     NULL},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

int
config_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void
env_name(const opt_t *o, char *buf, size_t len)
{
    size_t i = 0, j = 0;
    const char prefix[] = "PROFILED_";
    for (; prefix[i] != '\0' && i + 1 < len; i++)
        buf[i] = prefix[i];
    for (j = 0; o->name[j] != '\0' && i + 1 < len; j++, i++)
        buf[i] = o->name[j] == '-' ? '_' : (char)toupper((unsigned char)o->name[j]);
    buf[i] = '\0';
}

static int
check_addr(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v)
        return -1;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || colon[1] == '\0' || port < 0 || port > 65535)
        return -1;
    return 0;
}

static int
is_choice(const char *choices, const char *value)
{
    size_t n = strlen(value);
    for (const char *c = choices; *c != '\0';) {
        const char *bar = strchr(c, '|');
        size_t len = bar != NULL ? (size_t)(bar - c) : strlen(c);
        if (len == n && memcmp(c, value, n) == 0)
            return 1;
        c += len + (bar != NULL);
    }
    return 0;
}

/* Stores value into cfg for o; -1 with a message on a bad value. */
static int
set_opt(config_t *cfg, const opt_t *o, const char *value, const char *from, FILE *err)
{
    char *field = (char *)cfg + o->offset;
    char *end;
    switch (o->type) {
    case OPT_ADDR:
        if (check_addr(value) != 0) {
            fprintf(err, "profiled: invalid %s '%s' (from %s): expected ADDR:PORT\n", o->name, value, from);
            return -1;
        }
        /* fallthrough */
    case OPT_STR: {
        if (o->choices != NULL && !is_choice(o->choices, value)) {
            fprintf(err, "profiled: invalid %s '%s' (from %s): expected one of %s\n", o->name, value, from, o->choices);
            return -1;
        }
        char **s = (char **)field;
        free(*s);
        *s = strdup(value);
        if (*s == NULL)
            abort();
        return 0;
    }
    case OPT_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < o->min || v > o->max) {
            fprintf(err, "profiled: invalid %s '%s' (from %s): expected an integer from %.0f to %.0f\n", o->name, value, from,
                    o->min, o->max);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case OPT_BOOL: {
        int v = -1;
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "on") == 0)
            v = 1;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "off") == 0)
            v = 0;
        if (v < 0) {
            fprintf(err, "profiled: invalid %s '%s' (from %s): expected 1/0, true/false, yes/no or on/off\n", o->name, value, from);
            return -1;
        }
        *(int *)field = v;
        return 0;
    }
    case OPT_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno != 0 || end == value || *end != '\0' || !(v >= o->min && v <= o->max)) {
            fprintf(err, "profiled: invalid %s '%s' (from %s): expected a number from %g to %g\n", o->name, value, from, o->min,
                    o->max);
            return -1;
        }
        *(double *)field = v;
        return 0;
    }
    }
    return -1;
}

static void
print_help(FILE *out)
{
    fprintf(out, "usage: profiled serve [options]\n\n"
                 "Settings come from the defaults, then --config FILE (lines \"name = value\"), then\n"
                 "the environment variables, then flags: the later wins.\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        char env[64];
        env_name(&opts[i], env, sizeof(env));
        fprintf(out, "  --%-18s %-26s %s (default: %s)\n", opts[i].name, env, opts[i].help,
                opts[i].def[0] != '\0' ? opts[i].def : "none");
    }
}

static const opt_t *
find_opt(const char *name, size_t nlen)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == nlen && memcmp(opts[i].name, name, nlen) == 0)
            return &opts[i];
    return NULL;
}

static char *
trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Reads "name = value" lines (value may be quoted); '#' starts a comment. */
static int
load_file(config_t *cfg, const char *path, FILE *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(err, "profiled: cannot read config file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rv = 0;
    while (rv == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL && (hash == line || isspace((unsigned char)hash[-1])))
            *hash = '\0';
        char *l = trim(line);
        if (*l == '\0')
            continue;
        char *eq = strchr(l, '=');
        char from[4200];
        snprintf(from, sizeof(from), "%s:%d", path, lineno);
        if (eq == NULL) {
            fprintf(err, "profiled: %s: expected 'name = value'\n", from);
            rv = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(l), *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }
        const opt_t *o = find_opt(name, strlen(name));
        if (o == NULL || strcmp(o->name, "config") == 0) {
            fprintf(err, "profiled: %s: unknown setting '%s' (see profiled serve --help)\n", from, name);
            rv = -1;
        } else {
            rv = set_opt(cfg, o, value, from, err);
        }
    }
    fclose(f);
    return rv;
}

int
config_parse_cidr(const char *s, size_t len, int *family, unsigned char addr[16], int *prefix)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *family = AF_INET;
        *prefix = 32;
    } else if (inet_pton(AF_INET6, buf, addr) == 1) {
        *family = AF_INET6;
        *prefix = 128;
    } else {
        return -1;
    }
    if (slash != NULL) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (*end != '\0' || slash[1] == '\0' || p < 0 || p > *prefix)
            return -1;
        *prefix = (int)p;
    }
    return 0;
}

int
config_parse_cidr_list(const char *list, const char *setting, config_cidr_t **out, size_t *n, FILE *err)
{
    *out = NULL;
    *n = 0;
    for (const char *p = list; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && *p == ' ')
            p++, len--;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0) {
            config_cidr_t c;
            if (config_parse_cidr(p, len, &c.family, c.addr, &c.prefix) != 0) {
                fprintf(err, "profiled: invalid %s entry '%.*s': expected an IP address or CIDR\n", setting, (int)len, p);
                free(*out);
                *out = NULL;
                *n = 0;
                return -1;
            }
            if ((*out = realloc(*out, (*n + 1) * sizeof(**out))) == NULL)
                abort();
            (*out)[(*n)++] = c;
        }
        p += len;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

/* Calls fn on each entry of a comma list, spaces around entries dropped;
 * stops at fn's first nonzero answer and returns it. */
static int
each_entry(const char *list, int (*fn)(const char *s, size_t len, const void *arg), const void *arg)
{
    for (const char *p = list; *p != '\0';) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *next = p + len;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0) {
            int rv = fn(p, len, arg);
            if (rv != 0)
                return rv;
        }
        p = next;
    }
    return 0;
}

typedef struct {
    const char *s;
    size_t len;
} origin_arg_t;

static int
origin_is(const char *s, size_t len, const void *arg)
{
    const origin_arg_t *o = arg;
    return (len == 1 && s[0] == '*') || (len == o->len && strncasecmp(s, o->s, len) == 0);
}

int
config_origin_allowed(const char *list, const char *origin, size_t len)
{
    origin_arg_t o = {origin, len};
    return each_entry(list, origin_is, &o);
}

int
config_origin_any(const char *list)
{
    return config_origin_allowed(list, "*", 1);
}

/* One entry of cors-origins: "*", or scheme://host[:port] and nothing more
 * (an Origin header never has a path). 0, or -1 after a message. */
static int
origin_entry_bad(const char *s, size_t len, const void *arg)
{
    FILE *err = (FILE *)arg;
    if (len == 1 && s[0] == '*')
        return 0;
    size_t scheme = len > 7 && strncasecmp(s, "http://", 7) == 0 ? 7 : len > 8 && strncasecmp(s, "https://", 8) == 0 ? 8 : 0;
    int ok = scheme != 0;
    for (size_t i = scheme; ok && i < len; i++)
        ok = isalnum((unsigned char)s[i]) || strchr(".-:[]_", s[i]) != NULL;
    if (!ok) {
        fprintf(err, "profiled: invalid cors-origins entry '%.*s': expected * or scheme://host[:port] (no path)\n", (int)len, s);
        return -1;
    }
    return 0;
}

static int
check_origins(const char *list, FILE *err)
{
    if (each_entry(list, origin_entry_bad, err) != 0)
        return -1;
    if (config_origin_any(list) && strcmp(list, "*") != 0) {
        fprintf(err, "profiled: invalid cors-origins '%s': * stands alone\n", list);
        return -1;
    }
    return 0;
}

/* Cross-setting checks, each naming its setting. */
static int
validate(const config_t *cfg, FILE *err)
{
    config_cidr_t *trusted = NULL;
    size_t ntrusted = 0;
    if (config_parse_cidr_list(cfg->trusted_proxy, "trusted-proxy", &trusted, &ntrusted, err) != 0)
        return -1;
    free(trusted);
    if (cfg->metrics_listen[0] != '\0' && check_addr(cfg->metrics_listen) != 0) {
        fprintf(err, "profiled: invalid metrics-listen '%s': expected ADDR:PORT\n", cfg->metrics_listen);
        return -1;
    }
    storage_id_limits_t limits;
    char why[160];
    if (storage_id_limits_parse(cfg->id_limits, &limits, why, sizeof(why)) != 0) {
        fprintf(err, "profiled: invalid id-limits %s\n", why);
        return -1;
    }
    if (check_origins(cfg->cors_origins, err) != 0)
        return -1;
    if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        fprintf(err, "profiled: invalid tls-cert/tls-key: give both or neither\n");
        return -1;
    }
    return 0;
}

int
config_load(config_t *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NOPTS; i++)
        if (set_opt(cfg, &opts[i], opts[i].def, "default", err) != 0)
            abort(); /* a default outside its own bounds is a programmer error */

    /* the config file first, so the environment and flags override it */
    const char *file = getenv("PROFILED_CONFIG");
    for (int a = 0; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            print_help(out);
            return 1;
        }
        if (strncmp(argv[a], "--config=", 9) == 0)
            file = argv[a] + 9;
        else if (strcmp(argv[a], "--config") == 0 && a + 1 < argc)
            file = argv[a + 1];
    }
    if (file != NULL && file[0] != '\0') {
        if (load_file(cfg, file, err) != 0)
            return -1;
        set_opt(cfg, find_opt("config", 6), file, "flag", err);
    }

    for (size_t i = 0; i < NOPTS; i++) {
        char env[64];
        env_name(&opts[i], env, sizeof(env));
        const char *v = getenv(env);
        if (v != NULL && strcmp(opts[i].name, "config") != 0 && set_opt(cfg, &opts[i], v, env, err) != 0)
            return -1;
    }
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(err, "profiled: unexpected argument '%s' (see profiled serve --help)\n", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const opt_t *o = find_opt(name, nlen);
        if (o == NULL) {
            fprintf(err, "profiled: unknown option '%s' (see profiled serve --help)\n", arg);
            return -1;
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (o->type == OPT_BOOL && (a + 1 >= argc || strncmp(argv[a + 1], "--", 2) == 0)) {
            value = "1";
        } else if (a + 1 < argc) {
            value = argv[++a];
        } else {
            fprintf(err, "profiled: option --%s needs a value\n", o->name);
            return -1;
        }
        if (strcmp(o->name, "config") == 0)
            continue; /* already read */
        if (set_opt(cfg, o, value, arg, err) != 0)
            return -1;
    }
    if (validate(cfg, err) != 0)
        return -1;
    if (cfg->threads == 0)
        cfg->threads = config_cpu_count();
    if (cfg->workers == 0)
        cfg->workers = config_cpu_count();
    return 0;
}

void
config_dispose(config_t *cfg)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type == OPT_STR || opts[i].type == OPT_ADDR) {
            char **s = (char **)((char *)cfg + opts[i].offset);
            free(*s);
            *s = NULL;
        }
}
