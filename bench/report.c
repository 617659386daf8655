/* report.c -- the summary profiled-load prints and the JSON it writes: the
 * numbers a benchmark table needs at top level, one per line (so a shell
 * script can pick them with awk), then the raw histograms. */
#include <errno.h>
#include <string.h>
#include "report.h"

static uint64_t
error_count(const load_result_t *r)
{
    uint64_t n = r->conn_errors + r->proto_errors + r->timeouts;
    for (int s = 0; s < 600; s++) {
        if (s < 200 || s > 299)
            n += r->status[s];
    }
    return n;
}

static double
rps(const load_result_t *r)
{
    return r->window_s > 0 ? (double)r->completed / r->window_s : 0.0;
}

static double
per_s(const load_result_t *r, uint64_t n)
{
    return r->window_s > 0 ? (double)n / r->window_s : 0.0;
}

/* More than one op has weight: the run is reported by kind and op too. */
static int
is_mix(const load_config_t *cfg)
{
    int n = 0;
    for (int op = 0; op < OP_COUNT; op++)
        n += cfg->sc.weights[op] > 0;
    return n > 1;
}

static const char *const kind_names[KIND_COUNT] = {"reads", "ingest"};

static const char *
mode_name(const load_config_t *cfg)
{
    return cfg->rate > 0 ? "open" : "closed";
}

static void
print_ms_line(FILE *f, const char *label, const hist_t *h)
{
    fprintf(f, "  %-9s p50 %.3f ms  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f, n %llu)\n", label,
            (double)hist_percentile(h, 50) / 1e6, (double)hist_percentile(h, 90) / 1e6, (double)hist_percentile(h, 99) / 1e6,
            (double)hist_percentile(h, 99.9) / 1e6, (double)h->max / 1e6 * (h->total > 0), hist_mean(h) / 1e6,
            (unsigned long long)h->total);
}

/* One line of a part of the mix: its answers in the window, req/s, latency. */
static void
print_part_line(FILE *f, const char *label, uint64_t n, double rate, const hist_t *h)
{
    fprintf(f, "  %-14s %8llu in window %9.1f req/s  p50 %.3f ms  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", label,
            (unsigned long long)n, rate, (double)hist_percentile(h, 50) / 1e6, (double)hist_percentile(h, 90) / 1e6,
            (double)hist_percentile(h, 99) / 1e6, (double)hist_percentile(h, 99.9) / 1e6, (double)h->max / 1e6 * (h->total > 0));
}

static void
print_parts(const load_config_t *cfg, const load_result_t *r, FILE *f)
{
    if (!is_mix(cfg))
        return;
    if (cfg->ingest_connections > 0)
        fprintf(f, "  split     ingest on %d of the connections, reads on the other %d\n", cfg->ingest_connections,
                cfg->connections - cfg->ingest_connections);
    for (int k = 0; k < KIND_COUNT; k++)
        print_part_line(f, kind_names[k], r->kind_completed[k], per_s(r, r->kind_completed[k]), r->kind_latency[k]);
    for (int op = 0; op < OP_COUNT; op++) {
        if (cfg->sc.weights[op] == 0 && r->op_latency[op]->total == 0)
            continue;
        char label[32];
        snprintf(label, sizeof(label), "  %s", scenario_op_name((op_t)op));
        print_part_line(f, label, r->op_completed[op], per_s(r, r->op_completed[op]), r->op_latency[op]);
    }
}

void
report_print(const load_config_t *cfg, const load_result_t *r, FILE *f)
{
    const char *name = cfg->path_template ? "template" : cfg->scenario;
    fprintf(f, "profiled-load: %s, %s loop", name, mode_name(cfg));
    if (cfg->rate > 0)
        fprintf(f, " at %.0f req/s", cfg->rate);
    fprintf(f, ", %d connections, %.1f s measured after %.1f s warm-up, %s\n", cfg->connections, cfg->duration, cfg->warmup,
            cfg->url);
    if (r->skipped != NULL) {
        fprintf(f, "  skipped: %s (n/a)\n", r->skipped);
        return;
    }
    fprintf(f, "  requests  %llu in window: %.1f req/s", (unsigned long long)r->completed, rps(r));
    if (strcmp(name, "ingest") == 0)
        fprintf(f, " = %.0f events/s", rps(r) * cfg->sc.batch);
    fprintf(f, ", %.1f MB/s in\n", r->window_s > 0 ? (double)r->bytes_in / r->window_s / 1e6 : 0.0);
    print_ms_line(f, "latency", r->latency);
    if (cfg->rate > 0)
        print_ms_line(f, "service", r->service);
    print_parts(cfg, r, f);
    if (r->page_first->total > 0)
        print_ms_line(f, "page 1", r->page_first);
    if (r->page_deep->total > 0) {
        char label[32];
        snprintf(label, sizeof(label), "page>=%d", cfg->deep_page);
        print_ms_line(f, label, r->page_deep);
    }
    if (r->pages > 0)
        fprintf(f, "  scroll    %llu pages, %llu chains completed\n", (unsigned long long)r->pages, (unsigned long long)r->chains);
    fprintf(f, "  status   ");
    for (int s = 0; s < 600; s++) {
        if (r->status[s])
            fprintf(f, " %d: %llu", s, (unsigned long long)r->status[s]);
    }
    fprintf(f, "\n  errors    %llu (connection %llu, protocol %llu, unanswered at the end %llu)\n",
            (unsigned long long)error_count(r), (unsigned long long)r->conn_errors, (unsigned long long)r->proto_errors,
            (unsigned long long)r->timeouts);
    if (r->unsent)
        fprintf(f,
                "  backlog   %llu requests due in the window were never sent (every connection busy); their latency runs from the "
                "slot time to the end\n",
                (unsigned long long)r->unsent);
    if (r->events_missing)
        fprintf(f, "  events    route missing: %llu answers 404, events left out of the mix\n",
                (unsigned long long)r->events_missing);
    fprintf(f, "  checks    %llu answers inspected, %llu failed\n", (unsigned long long)r->checks,
            (unsigned long long)r->check_failed);
    if (r->check_sample[0])
        fprintf(f, "  first failed check: %s\n", r->check_sample);
    if (r->error_sample[0])
        fprintf(f, "  first error answer: %s\n", r->error_sample);
    fprintf(f, "  client    %.0f%% of one core\n", r->window_s > 0 ? 100.0 * r->cpu_s / r->window_s : 0.0);
}

static void
put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void
put_us(FILE *f, const char *key, uint64_t ns)
{
    fprintf(f, "  \"%s\": %.1f,\n", key, (double)ns / 1e3);
}

static void
put_hist_summary(FILE *f, const char *prefix, const hist_t *h)
{
    char key[48];
    static const double pcts[] = {50, 90, 99, 99.9};
    static const char *const names[] = {"p50", "p90", "p99", "p999"};
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        snprintf(key, sizeof(key), "%s%s_us", prefix, names[i]);
        put_us(f, key, hist_percentile(h, pcts[i]));
    }
    snprintf(key, sizeof(key), "%smax_us", prefix);
    put_us(f, key, h->total ? h->max : 0);
    snprintf(key, sizeof(key), "%smean_us", prefix);
    fprintf(f, "  \"%s\": %.1f,\n", key, hist_mean(h) / 1e3);
    fprintf(f, "  \"%scount\": %llu,\n", prefix, (unsigned long long)h->total);
}

int
report_write_json(const load_config_t *cfg, const load_result_t *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    const char *name = cfg->path_template ? "template" : cfg->scenario;
    fprintf(f, "{\n  \"tool\": \"profiled-load\",\n  \"scenario\": ");
    put_json_string(f, name);
    fprintf(f, ",\n  \"url\": ");
    put_json_string(f, cfg->url);
    fprintf(f, ",\n  \"mode\": \"%s\",\n  \"rate\": %.1f,\n  \"connections\": %d,\n", mode_name(cfg), cfg->rate, cfg->connections);
    fprintf(f, "  \"duration_s\": %.3f,\n  \"warmup_s\": %.3f,\n  \"window_s\": %.3f,\n", cfg->duration, cfg->warmup, r->window_s);
    fprintf(f, "  \"skipped\": ");
    if (r->skipped)
        put_json_string(f, r->skipped);
    else
        fputs("null", f);
    fprintf(f, ",\n  \"requests\": %llu,\n  \"rps\": %.1f,\n", (unsigned long long)r->completed, rps(r));
    if (strcmp(name, "ingest") == 0)
        fprintf(f, "  \"events_per_s\": %.1f,\n  \"batch\": %d,\n", rps(r) * cfg->sc.batch, cfg->sc.batch);
    put_hist_summary(f, "", r->latency);
    put_hist_summary(f, "svc_", r->service);
    put_hist_summary(f, "page1_", r->page_first);
    put_hist_summary(f, "deep_", r->page_deep);
    fprintf(f, "  \"deep_page\": %d,\n  \"pages\": %llu,\n  \"chains\": %llu,\n", cfg->deep_page, (unsigned long long)r->pages,
            (unsigned long long)r->chains);
    fprintf(f, "  \"errors\": %llu,\n  \"conn_errors\": %llu,\n  \"proto_errors\": %llu,\n  \"unanswered\": %llu,\n",
            (unsigned long long)error_count(r), (unsigned long long)r->conn_errors, (unsigned long long)r->proto_errors,
            (unsigned long long)r->timeouts);
    fprintf(f, "  \"unsent\": %llu,\n  \"events_route_missing\": %llu,\n", (unsigned long long)r->unsent,
            (unsigned long long)r->events_missing);
    fprintf(f, "  \"checks\": %llu,\n  \"check_failed\": %llu,\n", (unsigned long long)r->checks,
            (unsigned long long)r->check_failed);
    fprintf(f, "  \"bytes_in\": %llu,\n  \"client_cpu\": %.3f,\n", (unsigned long long)r->bytes_in,
            r->window_s > 0 ? r->cpu_s / r->window_s : 0.0);
    fprintf(f, "  \"ingest_connections\": %d,\n", cfg->ingest_connections);
    for (int k = 0; k < KIND_COUNT; k++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "%s_", kind_names[k]);
        fprintf(f, "  \"%srequests\": %llu,\n  \"%srps\": %.1f,\n", prefix, (unsigned long long)r->kind_completed[k], prefix,
                per_s(r, r->kind_completed[k]));
        put_hist_summary(f, prefix, r->kind_latency[k]);
    }
    /* By op, one line (so its keys never shadow the top-level ones for
     * a line-based reader). */
    fprintf(f, "  \"ops\": {");
    int first_op = 1;
    for (int op = 0; op < OP_COUNT; op++) {
        const hist_t *h = r->op_latency[op];
        if (cfg->sc.weights[op] == 0 && h->total == 0)
            continue;
        fprintf(f,
                "%s\"%s\": {\"requests\": %llu, \"rps\": %.1f, \"count\": %llu, \"p50_us\": %.1f, \"p99_us\": %.1f, "
                "\"max_us\": %.1f}",
                first_op ? "" : ", ", scenario_op_name((op_t)op), (unsigned long long)r->op_completed[op],
                per_s(r, r->op_completed[op]), (unsigned long long)h->total, (double)hist_percentile(h, 50) / 1e3,
                (double)hist_percentile(h, 99) / 1e3, (double)(h->total ? h->max : 0) / 1e3);
        first_op = 0;
    }
    fprintf(f, "},\n");
    fprintf(f, "  \"status\": {");
    int first = 1;
    for (int s = 0; s < 600; s++) {
        if (r->status[s]) {
            fprintf(f, "%s\"%d\": %llu", first ? "" : ", ", s, (unsigned long long)r->status[s]);
            first = 0;
        }
    }
    fprintf(f, "},\n  \"check_sample\": ");
    put_json_string(f, r->check_sample);
    fprintf(f, ",\n  \"error_sample\": ");
    put_json_string(f, r->error_sample);
    fprintf(f, ",\n  \"latency_hist_ns\": ");
    hist_write_json(r->latency, f);
    fprintf(f, ",\n  \"service_hist_ns\": ");
    hist_write_json(r->service, f);
    fprintf(f, "\n}\n");
    int err = ferror(f);
    if (fclose(f) != 0 || err) {
        if (errno == 0)
            errno = EIO;
        return -1;
    }
    return 0;
}
