/* dataset.h -- the ids of the profiles profiled-gendata generates, without
 * generating them: userId and email of profile i for a given seed. */
#ifndef PROFILED_BENCH_DATASET_H
#define PROFILED_BENCH_DATASET_H
#include <stddef.h>
#include <stdint.h>

/* Writes profile i's userId ("joe.bloggs" for 0, else "user-%06d") into
 * buf (NUL-terminated, truncated to cap). Returns its length. */
size_t dataset_user_id(uint64_t i, char *buf, size_t cap);

/* Writes profile i's email under gendata seed `seed` into buf, as gendata
 * does: lower-case, shared with the profile before it for ~1 in 10, a
 * "+news" tag for ~1 in 25. Returns its length. */
size_t dataset_email(uint64_t seed, uint64_t i, char *buf, size_t cap);

#endif
