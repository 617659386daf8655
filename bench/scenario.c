/* scenario.c -- the request table of profiled-load and the request writers:
 * one row per kind of request (path suffix, id type, default mix weight),
 * one writer for GETs, one for ingest batches, one for scroll pages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dataset.h"
#include "scenario.h"

typedef struct {
    const char *name;
    const char *suffix; /* after /profiles/{idType}:{id}; NULL: not a profile read */
    int by_email;
    int events;
    unsigned mix_weight; /* weight in the default mix */
} op_info_t;

static const op_info_t ops[OP_COUNT] = {
    [OP_TRAITS_USER] = {"traits-user", "/traits", 0, 0, 50},
    [OP_TRAITS_EMAIL] = {"traits-email", "/traits", 1, 0, 10},
    [OP_METADATA] = {"metadata", "/metadata", 0, 0, 10},
    [OP_AUDIENCES] = {"audiences", "/audiences", 0, 0, 10},
    [OP_EVENTS_FIRST] = {"events-first", "/events", 0, 1, 15},
    [OP_SCROLL] = {"scroll", "/events", 0, 1, 0},
    [OP_INGEST] = {"ingest", NULL, 0, 0, 2},
    [OP_BATCH_TRAITS] = {"batch-traits", NULL, 0, 0, 0},
    [OP_TEMPLATE] = {"template", NULL, 0, 0, 0},
};

static const char *const ingest_events[] = {"Product Viewed", "Email Opened", "Order Completed", "Email Clicked"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

void
sbuf_dispose(sbuf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static void
sbuf_reserve(sbuf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1)
        cap *= 2;
    if ((b->p = realloc(b->p, cap)) == NULL)
        abort();
    b->cap = cap;
}

static void
sbuf_put(sbuf_t *b, const char *s, size_t n)
{
    sbuf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sbuf_puts(sbuf_t *b, const char *s)
{
    sbuf_put(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) sbuf_printf(sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    sbuf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *
scenario_op_name(op_t op)
{
    return ops[op].name;
}

int
scenario_op_is_events(op_t op)
{
    return ops[op].events;
}

static op_t
op_by_name(const char *name, size_t len)
{
    for (int i = 0; i < OP_COUNT; i++) {
        if (strlen(ops[i].name) == len && memcmp(ops[i].name, name, len) == 0)
            return (op_t)i;
    }
    return OP_COUNT;
}

static void
sum_weights(scenario_t *s)
{
    s->weight_total = 0;
    for (int i = 0; i < OP_COUNT; i++)
        s->weight_total += s->weights[i];
}

int
scenario_select(scenario_t *s, const char *name, const char *mix)
{
    memset(s->weights, 0, sizeof(s->weights));
    if (strcmp(name, "mix") != 0) {
        op_t op = op_by_name(name, strlen(name));
        if (op == OP_COUNT || mix != NULL)
            return -1;
        s->weights[op] = 1;
        sum_weights(s);
        return 0;
    }
    if (mix == NULL) {
        for (int i = 0; i < OP_COUNT; i++)
            s->weights[i] = ops[i].mix_weight;
        sum_weights(s);
        return 0;
    }
    for (const char *p = mix; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq == NULL)
            return -1;
        op_t op = op_by_name(p, (size_t)(eq - p));
        char *end;
        unsigned long w = strtoul(eq + 1, &end, 10);
        if (op == OP_COUNT || end != p + len || end == eq + 1 || w > 1000000)
            return -1;
        s->weights[op] = (unsigned)w;
        p += len + (comma ? 1 : 0);
    }
    sum_weights(s);
    return s->weight_total > 0 ? 0 : -1;
}

int
scenario_only_events(const scenario_t *s)
{
    for (int i = 0; i < OP_COUNT; i++) {
        if (s->weights[i] && !ops[i].events)
            return 0;
    }
    return 1;
}

unsigned
scenario_drop_events(scenario_t *s)
{
    for (int i = 0; i < OP_COUNT; i++) {
        if (ops[i].events)
            s->weights[i] = 0;
    }
    sum_weights(s);
    return s->weight_total;
}

op_t
scenario_pick(const scenario_t *s, uint64_t *rng)
{
    unsigned r = (unsigned)(dataset_rng_next(rng) % s->weight_total);
    for (int i = 0; i < OP_COUNT; i++) {
        if (r < s->weights[i])
            return (op_t)i;
        r -= s->weights[i];
    }
    return OP_TRAITS_USER;
}

op_t
scenario_pick_reads(const scenario_t *s, uint64_t *rng)
{
    unsigned total = s->weight_total - s->weights[OP_INGEST];
    if (total == 0)
        return scenario_pick(s, rng);
    unsigned r = (unsigned)(dataset_rng_next(rng) % total);
    for (int i = 0; i < OP_COUNT; i++) {
        unsigned w = i == OP_INGEST ? 0 : s->weights[i];
        if (r < w)
            return (op_t)i;
        r -= w;
    }
    return OP_TRAITS_USER;
}

/* " HTTP/1.1", Host and auth-token lines; the caller ends the head. */
static void
put_head(sbuf_t *out, const scenario_t *s, const char *token)
{
    sbuf_puts(out, " HTTP/1.1\r\nHost: ");
    sbuf_puts(out, s->host);
    if (token != NULL) {
        sbuf_puts(out, "\r\nauth-token: ");
        sbuf_puts(out, token);
    }
    sbuf_puts(out, "\r\n");
}

/* Expands {userId}, {email} and {i} in the path template. */
static void
put_template(sbuf_t *out, const scenario_t *s, uint64_t profile)
{
    char id[128];
    for (const char *p = s->path_template; *p != '\0';) {
        if (strncmp(p, "{userId}", 8) == 0) {
            sbuf_put(out, id, dataset_user_id(profile, id, sizeof(id)));
            p += 8;
        } else if (strncmp(p, "{email}", 7) == 0) {
            sbuf_put(out, id, dataset_email(s->seed, profile, id, sizeof(id)));
            p += 7;
        } else if (strncmp(p, "{i}", 3) == 0) {
            sbuf_printf(out, "%llu", (unsigned long long)profile);
            p += 3;
        } else {
            sbuf_put(out, p++, 1);
        }
    }
}

/* {"type":"track",...} for one fresh event of a random dataset profile;
 * the messageId is random and salted per run (the op picks repeat from run
 * to run with the seed: ids that repeated would be deduplicated away, and a
 * second run on one database would only measure duplicate checks). */
static void
put_ingest_event(sbuf_t *out, const scenario_t *s, uint64_t *rng)
{
    char uid[32];
    uint64_t a = dataset_rng_next(rng), b = dataset_rng_next(rng), c = dataset_rng_next(rng);
    a ^= s->id_salt;
    b ^= s->id_salt * 0x9e3779b97f4a7c15ULL;
    dataset_user_id(c % s->profiles, uid, sizeof(uid));
    unsigned r = (unsigned)(c >> 32);
    sbuf_printf(out,
                "{\"type\":\"track\",\"messageId\":\"%08x-%04x-4%03x-%04x-%012llx\",\"userId\":\"%s\",\"event\":\"%s\","
                "\"properties\":{\"product_id\":\"SKU-%05u\",\"price\":%u.%02u,\"currency\":\"GBP\"},"
                "\"context\":{\"ip\":\"10.%u.%u.%u\",\"user_agent\":\"profiled-load\"},"
                "\"timestamp\":\"2020-11-%02uT%02u:%02u:%02u.%03uZ\"}",
                (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff, 0x8000 | ((unsigned)(b >> 48) & 0x3fff),
                (unsigned long long)(b & 0xffffffffffffULL), uid, ingest_events[r % COUNT(ingest_events)], r % 2000, 5 + r % 190,
                r % 100, (r >> 8) & 0xff, (r >> 16) & 0xff, 1 + (r >> 24) % 254, 1 + (unsigned)(a % 28), (unsigned)(b % 24),
                (unsigned)(c % 60), (unsigned)(a % 60), (unsigned)(b % 1000));
}

/* POST {base}{path} with a JSON body (disposed). */
static void
put_post(sbuf_t *out, const scenario_t *s, const char *token, const char *path, sbuf_t *body)
{
    sbuf_puts(out, "POST ");
    sbuf_puts(out, s->base);
    sbuf_puts(out, path);
    put_head(out, s, token);
    sbuf_printf(out, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", body->len);
    sbuf_put(out, body->p, body->len);
    sbuf_dispose(body);
}

static void
build_ingest(const scenario_t *s, const char *token, uint64_t *rng, sbuf_t *out)
{
    sbuf_t body = {0};
    sbuf_puts(&body, "{\"batch\":[");
    for (int k = 0; k < s->batch; k++) {
        if (k)
            sbuf_put(&body, ",", 1);
        put_ingest_event(&body, s, rng);
    }
    sbuf_puts(&body, "]}");
    put_post(out, s, token, "/batch", &body);
}

/* POST .../profiles/batch/traits with s->batch random userIds. */
static void
build_batch(const scenario_t *s, const char *token, uint64_t *rng, sbuf_t *out)
{
    char id[128];
    sbuf_t body = {0};
    sbuf_puts(&body, "{\"ids\":[");
    for (int k = 0; k < s->batch; k++) {
        size_t n = dataset_user_id(dataset_rng_next(rng) % s->profiles, id, sizeof(id));
        sbuf_puts(&body, k ? ",\"userId:" : "\"userId:");
        sbuf_put(&body, id, n);
        sbuf_put(&body, "\"", 1);
    }
    sbuf_puts(&body, "]}");
    put_post(out, s, token, "/profiles/batch/traits", &body);
}

void
scenario_build(const scenario_t *s, op_t op, const char *token, uint64_t *rng, request_t *req, sbuf_t *out)
{
    char id[128];
    out->len = 0;
    memset(req, 0, sizeof(*req));
    req->op = op;
    req->profile = dataset_rng_next(rng) % s->profiles;
    if (op == OP_INGEST) {
        build_ingest(s, token, rng, out);
        req->expect_len = (size_t)snprintf(req->expect, sizeof(req->expect), "\"success\":true");
        return;
    }
    if (op == OP_BATCH_TRAITS) {
        build_batch(s, token, rng, out);
        req->expect_len = (size_t)snprintf(req->expect, sizeof(req->expect), "\"status\":200,\"result\":{");
        return;
    }
    sbuf_puts(out, "GET ");
    if (op == OP_TEMPLATE) {
        put_template(out, s, req->profile);
    } else {
        const op_info_t *info = &ops[op];
        size_t n =
            info->by_email ? dataset_email(s->seed, req->profile, id, sizeof(id)) : dataset_user_id(req->profile, id, sizeof(id));
        sbuf_puts(out, s->base);
        sbuf_puts(out, info->by_email ? "/profiles/email:" : "/profiles/userId:");
        sbuf_put(out, id, n);
        sbuf_puts(out, info->suffix);
        if (info->events) {
            sbuf_printf(out, "?limit=%d", s->limit);
            req->page = 1;
            req->expect_len = (size_t)snprintf(req->expect, sizeof(req->expect), "\"scrollId\":\"");
        } else if (info->by_email) {
            req->expect_len = (size_t)snprintf(req->expect, sizeof(req->expect), "\"email\":\"%s\"", id);
        } else {
            req->expect_len = (size_t)snprintf(req->expect, sizeof(req->expect), "\"externalId\":\"%s\"", id);
        }
    }
    put_head(out, s, token);
    sbuf_puts(out, "\r\n");
}

void
scenario_build_next(const scenario_t *s, const char *token, const request_t *prev, const char *scroll_id, request_t *req,
                    sbuf_t *out)
{
    char id[128];
    out->len = 0;
    *req = *prev;
    req->page = prev->page + 1;
    sbuf_puts(out, "GET ");
    sbuf_puts(out, s->base);
    sbuf_puts(out, "/profiles/userId:");
    sbuf_put(out, id, dataset_user_id(prev->profile, id, sizeof(id)));
    sbuf_puts(out, "/events?scrollId=");
    sbuf_puts(out, scroll_id);
    put_head(out, s, token);
    sbuf_puts(out, "\r\n");
}
