/* scenario.h -- what profiled-load asks for: the request kinds (traits by
 * userId or email, metadata, audiences, events pages, scroll chains, ingest
 * batches, a path template), a weighted mix of them, and for each request
 * the text a correct answer must contain. */
#ifndef PROFILED_BENCH_SCENARIO_H
#define PROFILED_BENCH_SCENARIO_H
#include <stddef.h>
#include <stdint.h>

typedef enum {
    OP_TRAITS_USER,
    OP_TRAITS_EMAIL,
    OP_METADATA,
    OP_AUDIENCES,
    OP_EVENTS_FIRST,
    OP_SCROLL,
    OP_INGEST,
    OP_BATCH_TRAITS,
    OP_TEMPLATE,
    OP_COUNT
} op_t;

typedef struct {
    char base[512];            /* "/track/{client}/{account}/{brand}/v1" */
    char host[64];             /* Host header value */
    const char *path_template; /* OP_TEMPLATE: path with {userId} {email} {i} */
    uint64_t profiles;         /* ids are drawn from profiles 0 .. profiles-1 */
    uint64_t seed;             /* the gendata seed of the dataset */
    int limit;                 /* events page size */
    int batch;                 /* events per ingest batch */
    uint64_t id_salt;          /* mixed into ingest messageIds: fresh every run */
    unsigned weights[OP_COUNT];
    unsigned weight_total;
} scenario_t;

/* A growable byte buffer; sbuf_dispose frees it. Aborts on OOM. */
typedef struct {
    char *p;
    size_t len, cap;
} sbuf_t;

void sbuf_dispose(sbuf_t *b);

typedef struct {
    op_t op;
    uint64_t profile;
    int page;         /* events ops: 1 for a first page, n for the n-th */
    char expect[160]; /* a correct 200 body contains this ("" none) */
    size_t expect_len;
} request_t;

/* Sets the weights for scenario `name` (an op name, or "mix" with `mix` =
 * "op=weight,..." or NULL for the default mix). Returns 0, or -1 for an
 * unknown name or a malformed mix. */
int scenario_select(scenario_t *s, const char *name, const char *mix);

/* The name of an op ("traits-user", ...). Borrowed, static. */
const char *scenario_op_name(op_t op);

/* Nonzero for the ops that use the events route. */
int scenario_op_is_events(op_t op);

/* Nonzero when every op with weight is an events op. */
int scenario_only_events(const scenario_t *s);

/* Drops the events ops from the mix. Returns the weight left. */
unsigned scenario_drop_events(scenario_t *s);

/* Picks an op by weight. */
op_t scenario_pick(const scenario_t *s, uint64_t *rng);

/* Picks an op by weight among all but OP_INGEST (all of them when only
 * ingest has weight). */
op_t scenario_pick_reads(const scenario_t *s, uint64_t *rng);

/* Writes the whole request for a new `op` on a random profile (ingest: a
 * batch of s->batch fresh events) into out, replacing its content, and
 * describes it in *req. token: the auth-token header value or NULL. */
void scenario_build(const scenario_t *s, op_t op, const char *token, uint64_t *rng, request_t *req, sbuf_t *out);

/* Writes the request for the page after `prev` of a scroll chain. */
void scenario_build_next(const scenario_t *s, const char *token, const request_t *prev, const char *scroll_id, request_t *req,
                         sbuf_t *out);

#endif
