/* load_main.c -- profiled-load's command line: the option table (which
 * also writes --help), the checks of the values, and main, which runs the
 * engine (load.c) once and reports (report.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "load.h"
#include "report.h"

typedef enum { OPT_STR, OPT_INT, OPT_DOUBLE, OPT_U64, OPT_FLAG } opt_type_t;

typedef struct {
    const char *name;
    opt_type_t type;
    size_t offset;
    double min, max;
    const char *help;
} opt_t;

#define OFF(f) offsetof(load_config_t, f)
#define SC(f) (offsetof(load_config_t, sc) + offsetof(scenario_t, f))

static const opt_t opts[] = {
    {"url", OPT_STR, OFF(url), 0, 0, "server, http://127.0.0.1:PORT (loopback only)"},
    {"scenario", OPT_STR, OFF(scenario), 0, 0,
     "traits-user | traits-email | metadata | audiences | events-first | scroll | ingest | batch-traits | mix (default "
     "traits-user)"},
    {"path-template", OPT_STR, OFF(path_template), 0, 0, "GET this path instead; {userId} {email} {i} are replaced"},
    {"mix", OPT_STR, OFF(mix), 0, 0, "weights of --scenario mix, e.g. traits-user=50,events-first=15,ingest=2"},
    {"tenant", OPT_STR, OFF(tenant), 0, 0, "client/account/brand (default intilery/marketing/MARKETING)"},
    {"token", OPT_STR, OFF(token), 0, 0, "auth-token header value"},
    {"tokens", OPT_STR, OFF(tokens_file), 0, 0, "file of tokens, one a line, used round-robin per connection"},
    {"connections", OPT_INT, OFF(connections), 1, 20000, "keep-alive connections (default 64)"},
    {"ingest-connections", OPT_INT, OFF(ingest_connections), 0, 20000,
     "mix, closed loop: N of the connections send only the mix's ingest, paced to its weight's share of the requests "
     "sent (or as fast as ingest goes when slower), the others only reads, so reads never queue behind a batch on the "
     "client (default 0: every connection picks from the whole mix)"},
    {"duration", OPT_DOUBLE, OFF(duration), 0.1, 3600, "seconds measured (default 10)"},
    {"warmup", OPT_DOUBLE, OFF(warmup), 0, 600, "seconds run before measuring (default 2)"},
    {"drain", OPT_DOUBLE, OFF(drain), 0.1, 60, "seconds to wait for answers in flight at the end (default 2)"},
    {"rate", OPT_DOUBLE, OFF(rate), 0, 1e6, "open loop: requests per second over all connections (default 0: closed loop)"},
    {"profiles", OPT_U64, SC(profiles), 1, 4e9, "ids are drawn from gendata profiles 0..N-1 (default 100000)"},
    {"seed", OPT_U64, SC(seed), 0, 1.8e19, "gendata seed of the dataset, for emails (default 1)"},
    {"limit", OPT_INT, SC(limit), 1, 100, "events page size (default 100)"},
    {"max-pages", OPT_INT, OFF(max_pages), 0, 1e9, "scroll: pages per chain at most (default 0: to the end)"},
    {"deep-page", OPT_INT, OFF(deep_page), 1, 1e9, "scroll: pages from this one on are reported apart (default 1000)"},
    {"batch", OPT_INT, SC(batch), 1, 10000, "ingest: events per batch; batch-traits: ids per call, at most 100 (default 100)"},
    {"check", OPT_STR, OFF(check), 0, 0, "full (status and body) | status | none (default full)"},
    {"check-every", OPT_INT, OFF(check_every), 1, 1e9, "inspect the body of one 200 answer in N (default 8)"},
    {"rng-seed", OPT_U64, OFF(rng_seed), 0, 1.8e19, "seed of the id and op picks (default 42)"},
    {"json", OPT_STR, OFF(json), 0, 0, "write the raw results as JSON to this file"},
    {"quiet", OPT_FLAG, OFF(quiet), 0, 0, "no summary on stdout"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void
usage(FILE *f)
{
    fprintf(f, "usage: profiled-load --url http://127.0.0.1:PORT [options]\n"
               "HTTP/1.1 load against profiled (or anything serving the same paths) on loopback.\n"
               "Exit status: 0 done, 1 failed (no answer at all, or a file error), 2 bad arguments,\n"
               "3 skipped (the events route is missing).\n");
    for (size_t i = 0; i < NOPTS; i++)
        fprintf(f, "  --%-18s %s\n", opts[i].name, opts[i].help);
}

static int
set_opt(load_config_t *cfg, const opt_t *o, const char *v)
{
    char *base = (char *)cfg + o->offset, *end;
    errno = 0;
    switch (o->type) {
    case OPT_STR:
        *(const char **)base = v;
        return 0;
    case OPT_FLAG:
        *(int *)base = 1;
        return 0;
    case OPT_INT: {
        long n = strtol(v, &end, 10);
        if (errno || *end || end == v || n < o->min || n > o->max)
            return -1;
        *(int *)base = (int)n;
        return 0;
    }
    case OPT_DOUBLE: {
        double d = strtod(v, &end);
        if (errno || *end || end == v || !(d >= o->min && d <= o->max))
            return -1;
        *(double *)base = d;
        return 0;
    }
    case OPT_U64: {
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || *end || end == v || *v == '-' || (double)n < o->min || (double)n > o->max)
            return -1;
        *(uint64_t *)base = n;
        return 0;
    }
    }
    return -1;
}

/* http://127.0.0.1:PORT or http://localhost:PORT, optional trailing '/'. */
static int
parse_url(load_config_t *cfg)
{
    const char *p = cfg->url;
    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    const char *colon = strrchr(p, ':');
    if (colon == NULL)
        return -1;
    char host[64];
    size_t hlen = (size_t)(colon - p);
    if (hlen == 0 || hlen >= sizeof(host))
        return -1;
    memcpy(host, p, hlen);
    host[hlen] = '\0';
    struct in_addr a;
    if (strcmp(host, "localhost") != 0 && (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127))
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end != '\0' && strcmp(end, "/") != 0) || port < 1 || port > 65535)
        return -1;
    cfg->port = (int)port;
    snprintf(cfg->sc.host, sizeof(cfg->sc.host), "127.0.0.1:%ld", port);
    return 0;
}

static int
parse_args(load_config_t *cfg, int argc, char **argv)
{
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        const opt_t *o = NULL;
        const char *v = NULL;
        for (size_t i = 0; i < NOPTS && o == NULL; i++) {
            size_t n = strlen(opts[i].name);
            if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, opts[i].name, n) != 0)
                continue;
            if (a[2 + n] == '=')
                o = &opts[i], v = a + 3 + n;
            else if (a[2 + n] == '\0')
                o = &opts[i];
        }
        if (o == NULL) {
            fprintf(stderr, "profiled-load: unknown argument: %s\n", a);
            return -1;
        }
        if (v == NULL && o->type != OPT_FLAG) {
            if (k + 1 >= argc) {
                fprintf(stderr, "profiled-load: --%s needs a value\n", o->name);
                return -1;
            }
            v = argv[++k];
        }
        if (set_opt(cfg, o, v) != 0) {
            fprintf(stderr, "profiled-load: bad value for --%s: %s\n", o->name, v);
            return -1;
        }
    }
    if (cfg->url == NULL || parse_url(cfg) != 0) {
        fprintf(stderr, "profiled-load: --url must be http://127.0.0.1:PORT (loopback only)\n");
        return -1;
    }
    const char *t = cfg->tenant;
    const char *s1 = strchr(t, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (s1 == NULL || s2 == NULL || strchr(s2 + 1, '/') != NULL || s1 == t || s2 == s1 + 1 || s2[1] == '\0' ||
        strpbrk(t, " ?#%") != NULL) {
        fprintf(stderr, "profiled-load: --tenant must be client/account/brand\n");
        return -1;
    }
    snprintf(cfg->sc.base, sizeof(cfg->sc.base), "/track/%s/v1", t);
    if (cfg->path_template != NULL) {
        if (cfg->path_template[0] != '/' || strpbrk(cfg->path_template, " \r\n") != NULL) {
            fprintf(stderr, "profiled-load: --path-template must be a path starting with '/'\n");
            return -1;
        }
        memset(cfg->sc.weights, 0, sizeof(cfg->sc.weights));
        cfg->sc.weights[OP_TEMPLATE] = cfg->sc.weight_total = 1;
        cfg->sc.path_template = cfg->path_template;
    } else if (scenario_select(&cfg->sc, cfg->scenario, cfg->mix) != 0) {
        fprintf(stderr, "profiled-load: unknown --scenario %s or bad --mix\n", cfg->scenario);
        return -1;
    }
    if (strcmp(cfg->check, "full") == 0)
        cfg->check_mode = CHECK_FULL;
    else if (strcmp(cfg->check, "status") == 0)
        cfg->check_mode = CHECK_STATUS;
    else if (strcmp(cfg->check, "none") == 0)
        cfg->check_mode = CHECK_NONE;
    else {
        fprintf(stderr, "profiled-load: --check must be full, status or none\n");
        return -1;
    }
    if (cfg->ingest_connections > 0) {
        unsigned w = cfg->sc.weights[OP_INGEST];
        if (cfg->rate > 0 || cfg->ingest_connections >= cfg->connections || w == 0 || w == cfg->sc.weight_total) {
            fprintf(stderr, "profiled-load: --ingest-connections needs the closed loop (no --rate), fewer than --connections, "
                            "and a mix with both ingest and reads\n");
            return -1;
        }
    }
    if (cfg->token != NULL && cfg->tokens_file != NULL) {
        fprintf(stderr, "profiled-load: --token and --tokens are exclusive\n");
        return -1;
    }
    return 0;
}

static void
raise_fd_limit(int connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)connections + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)connections + 64 ? rl.rlim_max : (rlim_t)connections + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
main(int argc, char **argv)
{
    load_config_t cfg = {
        .scenario = "traits-user",
        .tenant = "intilery/marketing/MARKETING",
        .check = "full",
        .connections = 64,
        .check_every = 8,
        .deep_page = 1000,
        .duration = 10,
        .warmup = 2,
        .drain = 2,
        .rng_seed = 42,
        .sc = {.profiles = 100000, .seed = 1, .limit = 100, .batch = 100},
    };
    if (parse_args(&cfg, argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(cfg.connections);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    cfg.sc.id_salt = ((uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec) ^ ((uint64_t)getpid() << 40);

    load_result_t res;
    load_result_init(&res);
    int rc = 0;
    if (load_execute(&cfg, &res) != 0) {
        load_result_dispose(&res);
        return 1;
    }

    if (!cfg.quiet)
        report_print(&cfg, &res, stdout);
    if (cfg.json != NULL && report_write_json(&cfg, &res, cfg.json) != 0) {
        fprintf(stderr, "profiled-load: --json %s: %s\n", cfg.json, strerror(errno));
        rc = 1;
    }
    if (res.skipped != NULL)
        rc = 3;
    else if (res.latency->total == 0 || res.completed == 0) {
        fprintf(stderr, "profiled-load: no answer was measured (is the server up at %s?)\n", cfg.url);
        rc = 1;
    }
    load_result_dispose(&res);
    return rc;
}
