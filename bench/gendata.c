/* gendata.c -- profiled-gendata: deterministic generator of Segment-spec NDJSON
 * (identify, track, page, screen messages) for benchmarks, tests and the demo
 * data in deploy/demo/sample.ndjson. Same arguments, same bytes: an own PRNG
 * (splitmix64) seeded per profile, no clock. Profile 0 is Joe Bloggs from the
 * Profile API spec. Usage: see usage() below. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gendata.h"

/* ---- output ------------------------------------------------------------------ */
static void
write_line(const line_t *o)
{
    if (fwrite(o->buf, 1, o->len, stdout) != o->len) {
        fprintf(stderr, "profiled-gendata: write: %s\n", strerror(errno));
        exit(1);
    }
}

static void
run_grouped(const config_t *cfg)
{
    static line_t line;
    profile_t p;
    gen_t g;
    for (uint64_t i = 0; i < cfg->profiles; i++) {
        profile_make(&p, cfg->seed, i, cfg->start_ms);
        gen_init(&g, cfg, &p);
        while (g.step < g.total) {
            gen_emit(&g, &p, &line);
            write_line(&line);
        }
    }
}

/* Min-heap of profile streams by (next timestamp, profile index). */
static bool
heap_less(const gen_t *a, const gen_t *b)
{
    return a->next_ms != b->next_ms ? a->next_ms < b->next_ms : a->index < b->index;
}

static void
heap_down(gen_t *gens, uint32_t *heap, size_t n, size_t k)
{
    uint32_t v = heap[k];
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&gens[heap[c + 1]], &gens[heap[c]]))
            c++;
        if (!heap_less(&gens[heap[c]], &gens[v]))
            break;
        heap[k] = heap[c];
        k = c;
    }
    heap[k] = v;
}

/* Every message in global timestamp order (ties by profile index). A
 * profile's attributes are recomputed when its stream changes (cheap). */
static void
run_shuffled(const config_t *cfg)
{
    static line_t line;
    size_t n = (size_t)cfg->profiles;
    if (n == 0)
        return;
    gen_t *gens = calloc(n, sizeof(*gens));
    uint32_t *heap = calloc(n, sizeof(*heap));
    if (gens == NULL || heap == NULL) {
        fprintf(stderr, "profiled-gendata: out of memory for %zu profiles\n", n);
        exit(1);
    }
    profile_t p;
    for (size_t i = 0; i < n; i++) {
        profile_make(&p, cfg->seed, i, cfg->start_ms);
        gen_init(&gens[i], cfg, &p);
        heap[i] = (uint32_t)i;
    }
    for (size_t k = n / 2; k-- > 0;)
        heap_down(gens, heap, n, k);
    uint64_t current = UINT64_MAX;
    while (n > 0) {
        gen_t *g = &gens[heap[0]];
        if (g->index != current) {
            current = g->index;
            profile_make(&p, cfg->seed, current, cfg->start_ms);
        }
        gen_emit(g, &p, &line);
        write_line(&line);
        if (g->step >= g->total)
            heap[0] = heap[--n];
        if (n > 0)
            heap_down(gens, heap, n, 0);
    }
    free(heap);
    free(gens);
}

/* ---- arguments ---------------------------------------------------------------- */
static void
usage(FILE *f)
{
    fprintf(f, "usage: profiled-gendata [--profiles N] [--events M] [--seed S] [--start ISO-DATE] [--shuffle]\n"
               "Writes Segment-spec NDJSON (identify, track, page, screen; one message a line) to stdout.\n"
               "  --profiles N   profiles (default 300); profile 0 is Joe Bloggs\n"
               "  --events M     track/page/screen events per profile (default 10), plus 1-3 identify/anonymous\n"
               "  --seed S       PRNG seed (default 1); same arguments give the same bytes\n"
               "  --start DATE   first day, YYYY-MM-DD[THH:MM:SS[.mmm]Z] (default 2020-10-01T00:00:00Z);\n"
               "                 messages spread over ~60 days from it\n"
               "  --shuffle      interleave profiles in global timestamp order (default: grouped by profile)\n");
}

static bool
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* YYYY-MM-DD, optionally followed by THH:MM:SS, optional .mmm, optional Z. */
static bool
parse_start(const char *s, int64_t *ms)
{
    unsigned y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    int n = 0;
    if (sscanf(s, "%4u-%2u-%2u%n", &y, &mo, &d, &n) != 3 || n != 10)
        return false;
    s += n;
    if (*s == 'T' || *s == ' ') {
        if (sscanf(s + 1, "%2u:%2u:%2u%n", &h, &mi, &sec, &n) != 3 || n != 8)
            return false;
        s += 1 + n;
        if (*s == '.') {
            if (sscanf(s + 1, "%3u%n", &frac, &n) != 1 || n != 3)
                return false;
            s += 1 + n;
        }
        if (*s == 'Z')
            s++;
    }
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (*s || (mo == 2 && d == 29 && !leap) || y < 1970 || y > 9000 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || sec > 59)
        return false;
    *ms = days_from_civil(y, mo, d) * DAY_MS + ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac;
    return true;
}

int
main(int argc, char **argv)
{
    config_t cfg = {.seed = 1, .profiles = 300, .events = 10, .start_ms = 0, .shuffle = false};
    parse_start("2020-10-01T00:00:00Z", &cfg.start_ms);
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
        uint64_t n;
        if (strcmp(a, "--shuffle") == 0) {
            cfg.shuffle = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--profiles") == 0 && parse_u64(v, UINT32_MAX - 1, &n))
            cfg.profiles = n;
        else if (strcmp(a, "--events") == 0 && parse_u64(v, 1000000, &n))
            cfg.events = (uint32_t)n;
        else if (strcmp(a, "--seed") == 0 && parse_u64(v, UINT64_MAX, &n))
            cfg.seed = n;
        else if (strcmp(a, "--start") == 0 && v != NULL && parse_start(v, &cfg.start_ms))
            ;
        else {
            bool known =
                strcmp(a, "--profiles") == 0 || strcmp(a, "--events") == 0 || strcmp(a, "--seed") == 0 || strcmp(a, "--start") == 0;
            if (!known)
                fprintf(stderr, "profiled-gendata: unknown argument: %s\n", a);
            else if (v == NULL)
                fprintf(stderr, "profiled-gendata: %s needs a value\n", a);
            else
                fprintf(stderr, "profiled-gendata: bad value for %s: %s\n", a, v);
            usage(stderr);
            return 2;
        }
        k++;
    }

    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    if (cfg.shuffle)
        run_shuffled(&cfg);
    else
        run_grouped(&cfg);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "profiled-gendata: write: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
