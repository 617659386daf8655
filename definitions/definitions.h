/* definitions.h -- the definitions file (computed traits and audiences per
 * tenant): parsed and checked with a LINE:COL for every problem, compiled
 * into the immutable form below that storage's write side (incremental
 * state) and read side (values, audience rules) both run, printed for
 * humans, and the matchers both sides share. No SQL. */
#ifndef PROFILED_DEFINITIONS_H
#define PROFILED_DEFINITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "base.h"

typedef struct definitions definitions_t;

/* Reads and checks the definitions file at path. All or nothing: on any
 * problem nothing is returned and errbuf receives one line
 * "PATH:LINE:COL: WHERE: REASON" (WHERE a JSON path such as
 * tenants[0].computedTraits[2].kind). Returns 0 with *out the caller's (free
 * with definitions_free), BASE_EINVAL (bad content) or
 * BASE_EIO (cannot read the file). The result is immutable: any number
 * of threads and connections may share it read-only. */
int definitions_load(const char *path, definitions_t **out, char *errbuf, size_t errlen);

/* The same from len bytes of text; name stands for the file in messages. */
int definitions_parse(const char *text, size_t len, const char *name, definitions_t **out, char *errbuf, size_t errlen);

/* Frees definitions no connection uses any more. NULL is a no-op. */
void definitions_free(definitions_t *defs);

/* Writes what defs holds, per tenant, one line per computed trait and
 * audience, for humans (`profiled definitions list`). Cannot fail. */
void definitions_print(const definitions_t *defs, FILE *out);

/* Counts of tenant entries, computed traits and audiences in defs (any
 * pointer may be NULL). */
void definitions_stats(const definitions_t *defs, size_t *tenants, size_t *traits, size_t *audiences);

/* The compiled form, shared read-only by every connection. State rows are keyed by a definition's key: 16 hex digits of a hash of
 * everything that decides its value (kind, eventAction, property, where,
 * window), not of its name, so a changed definition starts from nothing
 * and an unchanged one survives a reload and a rename. */
#define DEFS_KEY_LEN 16
#define DEFS_MAX_PATH 8 /* segments of a property or trait path */
#define DEFS_DAY_MS 86400000LL

typedef enum { DK_COUNT, DK_SUM, DK_MIN, DK_MAX, DK_FIRST, DK_LAST, DK_MOST_FREQUENT } comp_kind_t;
/* How two partial states combine (stored with each row, so merges need no
 * definitions). */
typedef enum { COMB_ADD = 0, COMB_MIN = 1, COMB_MAX = 2, COMB_FIRST = 3, COMB_LAST = 4 } comb_t;
typedef enum { OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE, OP_EXISTS, OP_CONTAINS } cmp_op_t;

/* A JSON scalar to compare (CV_ABSENT: no such value; CV_OTHER: object or
 * array). s points into whatever holds the text. */
typedef enum { CV_ABSENT, CV_NULL, CV_BOOL, CV_NUM, CV_STR, CV_OTHER } cval_type_t;
typedef struct {
    cval_type_t type;
    bool b;
    double num;
    const char *s;
    size_t n;
} cval_t;

typedef struct {
    char *seg[DEFS_MAX_PATH];
    size_t len[DEFS_MAX_PATH];
    size_t depth; /* 0: no path */
} path_t;

typedef struct {
    path_t path;
    cmp_op_t op;
    cval_t value; /* its string owned by the definitions */
} cond_t;

typedef struct {
    char *name; /* "" for the hidden ones behind eventCount rules */
    bool hidden;
    comp_kind_t kind;
    comb_t comb;
    char *action; /* NULL: every event */
    size_t action_len;
    path_t property;
    cond_t *where;
    size_t nwhere;
    int window_days; /* 0: all time */
    char key[DEFS_KEY_LEN + 1];
    bool dup; /* an earlier definition of the tenant has the same key */
} comp_def_t;

typedef enum { R_AND, R_OR, R_NOT, R_TRAIT, R_COMPUTED, R_ACTIVE } rule_type_t;
typedef struct rule {
    rule_type_t type;
    struct rule *kids; /* and / or / not */
    size_t nkids;
    path_t path; /* trait */
    size_t def;  /* computed, eventCount: index in the tenant's defs */
    cmp_op_t op; /* trait, computed */
    cval_t value;
    int days; /* activeWithinDays */
} rule_t;

typedef struct {
    char *name;
    rule_t rule;
} audience_def_t;

typedef struct tenant_defs {
    char *client, *account, *brand; /* brand "*": every brand of the account */
    comp_def_t *defs;               /* visible ones first, in file order, then hidden */
    size_t ndefs, nvisible;
    audience_def_t *auds;
    size_t nauds;
    char *keys_json; /* JSON array of the distinct keys of defs */
} tenant_defs_t;

struct definitions {
    tenant_defs_t *tenants;
    size_t n;
};

/* The entry of defs for a tenant: its own brand's, else the account's "*"
 * one, else NULL. */
const tenant_defs_t *definitions_find(const definitions_t *defs, const char *client, size_t client_len, const char *account,
                                      size_t account_len, const char *brand, size_t brand_len);

/* ---- matchers (match.c) ---- */
/* Value comparison shared by where conditions and rules. */
bool defs_cval_match(cmp_op_t op, const cval_t *actual, const cval_t *expected);
/* The text of the value at path (segments from `from` on) inside the JSON
 * text v, which passed base_json_check; false when there is none. */
bool defs_json_at(span_t v, const path_t *path, size_t from, span_t *out);
/* The scalar the JSON text v is (v.p NULL: CV_ABSENT). A string with
 * escapes is decoded into *scratch, which is freed first (malloc'd; the
 * caller frees the last one): one value at a time per scratch. */
void defs_cval_of(span_t v, cval_t *out, char **scratch);

/* UTC day number of ms since the epoch (floor division). */
static inline int64_t
defs_day_of(int64_t ms)
{
    return ms >= 0 ? ms / DEFS_DAY_MS : -((-ms + DEFS_DAY_MS - 1) / DEFS_DAY_MS);
}

#endif
