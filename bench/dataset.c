/* dataset.c -- recomputes the ids of bench/gendata.c's profiles. The hash,
 * the salts and the name slugs below mirror gendata.c's profile_make() and
 * must change with it; profiled-load's correctness checks (the email must
 * appear in the answer) catch any drift. */
#include <inttypes.h>
#include <stdio.h>
#include "dataset.h"

enum { SALT_NAME = 1, SALT_SHARE, SALT_PLUS };

static const char *const first_slugs[] = {
    "alice", "ben",    "chloe",    "dmitri", "emma",   "farah", "george",  "hannah", "ian", "jasmine",
    "kofi",  "laura",  "mohammed", "niamh",  "oliver", "priya", "quentin", "rosa",   "sam", "tomas",
    "uma",   "victor", "wei",      "xavier", "yasmin", "zoe",   "aoife",   "bjorn",
};

static const char *const last_slugs[] = {
    "smith", "jones",  "obrien", "muller", "patel", "nguyen", "garcia", "kowalski", "taylor",    "brown",  "wilson", "okafor",
    "rossi", "dubois", "khan",   "murphy", "evans", "silva",  "novak",  "yamamoto", "andersson", "walker", "hughes", "fernandez",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t
mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
hash3(uint64_t seed, uint64_t index, uint64_t salt)
{
    return mix64(mix64(mix64(seed ^ 0x5851f42d4c957f2dULL) ^ (index * 0x9e3779b97f4a7c15ULL)) ^ (salt * 0xd1b54a32d192ed03ULL));
}

static uint64_t
email_base(uint64_t seed, uint64_t i)
{
    while (i >= 2 && hash3(seed, i, SALT_SHARE) % 10 == 0)
        i--;
    return i;
}

static size_t
clamp_len(int n, size_t cap)
{
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t
dataset_user_id(uint64_t i, char *buf, size_t cap)
{
    if (i == 0)
        return clamp_len(snprintf(buf, cap, "joe.bloggs"), cap);
    return clamp_len(snprintf(buf, cap, "user-%06" PRIu64, i), cap);
}

size_t
dataset_email(uint64_t seed, uint64_t i, char *buf, size_t cap)
{
    if (i == 0)
        return clamp_len(snprintf(buf, cap, "joe.bloggs@intilery.com"), cap);
    uint64_t base = email_base(seed, i);
    uint64_t h = hash3(seed, base, SALT_NAME);
    const char *first = first_slugs[h % COUNT(first_slugs)];
    const char *last = last_slugs[(h >> 32) % COUNT(last_slugs)];
    const char *tag = hash3(seed, base, SALT_PLUS) % 25 == 0 ? "+news" : "";
    return clamp_len(snprintf(buf, cap, "%s.%s%" PRIu64 "%s@example.com", first, last, base, tag), cap);
}
