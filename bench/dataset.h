/* dataset.h -- who the profiles of profiled-gendata are, without generating
 * their messages: the hash both tools draw from, and the userId, names and
 * email of profile i for a given seed. profiled-gendata writes them,
 * profiled-load looks them up. */
#ifndef PROFILED_BENCH_DATASET_H
#define PROFILED_BENCH_DATASET_H
#include <stddef.h>
#include <stdint.h>

/* splitmix64's finaliser (Steele, Lea, Flood 2014): a bijective mix of z. */
static inline uint64_t
dataset_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64's step, the PRNG of both tools: advances *state and returns
 * its next 64 bits. */
static inline uint64_t
dataset_rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return dataset_mix64(*state);
}

/* The salts of dataset_hash3: each of a profile's fixed attributes, and the
 * seed of its message stream, draws from its own one. */
enum {
    DATASET_SALT_NAME = 1,
    DATASET_SALT_SHARE,
    DATASET_SALT_PLUS,
    DATASET_SALT_PHONE,
    DATASET_SALT_ORG,
    DATASET_SALT_INDUSTRY,
    DATASET_SALT_MARKETING,
    DATASET_SALT_DEVICE,
    DATASET_SALT_CURRENCY,
    DATASET_SALT_ANON,
    DATASET_SALT_SECOND,
    DATASET_SALT_START,
    DATASET_SALT_MESSAGES,
};

/* 64 bits of profile `index`'s attribute `salt` under `seed`. */
uint64_t dataset_hash3(uint64_t seed, uint64_t index, uint64_t salt);

/* A name as shown (quotes and non-ASCII UTF-8 included, to exercise JSON
 * escaping) and as it goes into an email address. */
typedef struct {
    const char *display;
    const char *slug;
} dataset_name_t;

#define DATASET_FIRST_NAMES 28
#define DATASET_LAST_NAMES 24
extern const dataset_name_t dataset_first_names[DATASET_FIRST_NAMES];
extern const dataset_name_t dataset_last_names[DATASET_LAST_NAMES];

/* The first and last name of profile i >= 1 (those of the profile whose
 * email it shares). Borrowed from the tables above. */
void dataset_names(uint64_t seed, uint64_t i, const dataset_name_t **first, const dataset_name_t **last);

/* Writes profile i's userId ("joe.bloggs" for 0, else "user-%06d") into
 * buf (NUL-terminated, truncated to cap). Returns its length. */
size_t dataset_user_id(uint64_t i, char *buf, size_t cap);

/* Writes profile i's email under gendata seed `seed` into buf, as gendata
 * does: lower-case, shared with the profile before it for ~1 in 10, a
 * "+news" tag for ~1 in 25. Returns its length. */
size_t dataset_email(uint64_t seed, uint64_t i, char *buf, size_t cap);

#endif
