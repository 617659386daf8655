/* gendata.h -- profiled-gendata's internal interface: a profile's fixed
 * attributes (gendata_profile.c), the JSON line writer (gendata_json.c) and
 * a profile's message stream (gendata_stream.c), which gendata.c drives in
 * grouped or shuffled order. */
#ifndef PROFILED_BENCH_GENDATA_H
#define PROFILED_BENCH_GENDATA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dataset.h"

#define DAY_MS (24LL * 3600 * 1000)
#define SPAN_MS (60 * DAY_MS)        /* profiles' activity spreads over ~60 days */
#define FIRST_START_MS (40 * DAY_MS) /* a profile's first message: start + [0, 40 days) */
#define LINE_CAP (64 * 1024)         /* one message; real ones stay under 2 KB */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- PRNG ------------------------------------------------------------------
 * splitmix64 (dataset.h). Each profile has two independent streams derived
 * from (seed, profile index): its fixed attributes (names, email, phone, ...)
 * come from dataset_hash3(seed, i, DATASET_SALT_*), its messages from a
 * sequential stream. So a profile's messages are the same bytes whether or
 * not the output is shuffled, and any profile's attributes (e.g. the one
 * whose email another shares) can be recomputed at any time. */

/* Uniform in [0, n); n > 0. The modulo bias is below 2^-40 for our n. */
static inline uint64_t
rng_below(uint64_t *state, uint64_t n)
{
    return dataset_rng_next(state) % n;
}

/* Uniform in [lo, hi]. */
static inline int64_t
rng_range(uint64_t *state, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(state, (uint64_t)(hi - lo + 1));
}

/* ---- a profile's fixed attributes (gendata_profile.c) ------------------------
 * Names and email come from dataset.c (see there for email sharing). */
typedef struct {
    uint64_t index;
    const char *first_name;
    const char *last_name;
    const char *organisation;
    const char *website;
    const char *industry;
    const char *user_agent;
    const char *currency;
    unsigned marketing; /* bit c: subscribed to channels[c] */
    bool anon_start;    /* first message is anonymous, then identify links */
    bool second_identify;
    int64_t first_ms; /* timestamp of the first message */
    char user_id[32];
    char anon_id[32];
    char email[96];
    char phone[24];
    char ip[16];
} profile_t;

/* Fills *p with profile i's attributes under seed; its first message is in
 * [start_ms, start_ms + 40 days). Profile 0 is Joe Bloggs. */
void profile_make(profile_t *p, uint64_t seed, uint64_t i, int64_t start_ms);

/* ---- one message as JSON (gendata_json.c) ------------------------------------ */
typedef struct {
    char buf[LINE_CAP];
    size_t len;
} line_t;

/* Appends n bytes; a line over LINE_CAP is fatal (exit 2). */
void put_raw(line_t *o, const char *s, size_t n);

#define PUT_LIT(o, s) put_raw((o), (s), sizeof(s) - 1)

void put_char(line_t *o, char c);

/* A JSON string: quotes, backslash and control characters escaped; UTF-8
 * passes through. */
void put_str(line_t *o, const char *s);

void put_u64(line_t *o, uint64_t v);

/* A money amount in minor units as a JSON number: 1999 -> 19.99. */
void put_cents(line_t *o, uint64_t cents);

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (quoted); ms >= 0, year <= 9999. */
void put_time(line_t *o, int64_t ms);

/* A version-4-shaped UUID (quoted) from 128 PRNG bits. */
void put_uuid(line_t *o, uint64_t hi, uint64_t lo);

/* A UUID from the next 128 bits of *rng. */
void put_rng_uuid(line_t *o, uint64_t *rng);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

/* Traits of an identify; `change` (0: none) picks the one trait a second
 * identify changes: 1 phone, 2 organisation, 3 industry, 4 lastName, 5 one
 * marketing channel flipped (gendata_profile.c). */
void put_traits(line_t *o, const profile_t *p, unsigned change, uint64_t *rng);

/* ---- a profile's message stream (gendata_stream.c) ---------------------------
 * Steps 0 .. total-1: [anonymous page/track] identify, then events with, for
 * some profiles, a second identify among them (changing one trait). The state
 * is small so --shuffle can keep one per profile and resume any of them. */
typedef struct {
    uint64_t rng;
    int64_t next_ms;  /* timestamp of step `step` */
    int64_t gap_ms;   /* mean gap between messages */
    uint64_t mail_hi; /* email_id of the last email sent */
    uint64_t mail_lo;
    uint32_t index;
    uint32_t step;
    uint32_t total;
    uint32_t identify_step;
    uint32_t second_step; /* UINT32_MAX: none */
    uint32_t product;     /* last product viewed */
    uint8_t mail;         /* mails[] index of the last email */
    uint8_t follow;       /* KIND_* the next event follows up with, or 0 */
    uint8_t anon_start;
} gen_t;

typedef struct {
    uint64_t seed;
    uint64_t profiles;
    uint32_t events;
    int64_t start_ms;
    bool shuffle;
} config_t;

/* Starts profile p's stream under cfg. */
void gen_init(gen_t *g, const config_t *cfg, const profile_t *p);

/* Writes step g->step of profile p as one NDJSON line into o (replacing its
 * content) and advances g to the next step. */
void gen_emit(gen_t *g, const profile_t *p, line_t *o);

#endif
