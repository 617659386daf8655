/* config.c -- the settings table of `profiled serve` and its parser:
 * defaults, then PROFILED_* environment variables, then flags. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"

typedef enum { OPT_STR, OPT_INT, OPT_DOUBLE, OPT_ADDR } opt_type_t;

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
    {"db", OPT_STR, OFF(db), "./profiled.db", 0, 0, "SQLite database file", NULL},
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
    {"ingest-rate", OPT_DOUBLE, OFF(ingest_rate), "1000", 0.001, 1e9, "ingestion requests per second per token", NULL},
    {"scroll-ttl", OPT_INT, OFF(scroll_ttl), "300", 1, 86400, "seconds an unused events scrollId stays valid", NULL},
    {"ingest-burst", OPT_INT, OFF(ingest_burst), "5000", 1, 1000000000, "ingestion burst per token", NULL},
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
                 "Every option can also be set by its environment variable; flags win.\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        char env[64];
        env_name(&opts[i], env, sizeof(env));
        fprintf(out, "  --%-18s %-26s %s (default: %s)\n", opts[i].name, env, opts[i].help,
                opts[i].def[0] != '\0' ? opts[i].def : "none");
    }
}

int
config_load(config_t *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NOPTS; i++)
        if (set_opt(cfg, &opts[i], opts[i].def, "default", err) != 0)
            abort(); /* a default outside its own bounds is a programmer error */
    for (size_t i = 0; i < NOPTS; i++) {
        char env[64];
        env_name(&opts[i], env, sizeof(env));
        const char *v = getenv(env);
        if (v != NULL && set_opt(cfg, &opts[i], v, env, err) != 0)
            return -1;
    }
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(out);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(err, "profiled: unexpected argument '%s' (see profiled serve --help)\n", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const opt_t *o = NULL;
        for (size_t i = 0; i < NOPTS; i++)
            if (strlen(opts[i].name) == nlen && memcmp(opts[i].name, name, nlen) == 0)
                o = &opts[i];
        if (o == NULL) {
            fprintf(err, "profiled: unknown option '%s' (see profiled serve --help)\n", arg);
            return -1;
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (a + 1 < argc) {
            value = argv[++a];
        } else {
            fprintf(err, "profiled: option --%s needs a value\n", o->name);
            return -1;
        }
        if (set_opt(cfg, o, value, arg, err) != 0)
            return -1;
    }
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
