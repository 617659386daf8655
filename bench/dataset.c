/* dataset.c -- the identity of profiled-gendata's profiles: userId, names
 * and email of profile i, the same in profiled-gendata (which writes them)
 * and profiled-load (which asks for them).
 *
 * Email sharing: profile i (i >= 2) shares its email with profile i - 1 when
 * hash3(seed, i, SALT_SHARE) % 10 == 0 (about 1 in 10): a second account of
 * the same person, with the same first/last name and email but its own userId,
 * phone and events. Runs are allowed (i - 2, i - 1, i may all share), the
 * email is always that of the first profile of the run (email_base). Profiles
 * 0 (Joe Bloggs) and 1 never share. Emails are
 * first.last<base>@example.com, and about 1 in 25 bases get a "+" tag
 * (first.last<base>+news@example.com) to exercise '+' in email lookups. */
#include <inttypes.h>
#include <stdio.h>
#include "dataset.h"

const dataset_name_t dataset_first_names[DATASET_FIRST_NAMES] = {
    {"Alice", "alice"}, {"Ben", "ben"},         {"Chloé", "chloe"},       {"Dmitri", "dmitri"}, {"Emma", "emma"},
    {"Farah", "farah"}, {"George", "george"},   {"Hannah", "hannah"},     {"Ian", "ian"},       {"Jasmine", "jasmine"},
    {"Kofi", "kofi"},   {"Laura", "laura"},     {"Mohammed", "mohammed"}, {"Niamh", "niamh"},   {"Oliver", "oliver"},
    {"Priya", "priya"}, {"Quentin", "quentin"}, {"Rosa", "rosa"},         {"Sam", "sam"},       {"Tomás", "tomas"},
    {"Uma", "uma"},     {"Victor", "victor"},   {"Wei", "wei"},           {"Xavier", "xavier"}, {"Yasmin", "yasmin"},
    {"Zoë", "zoe"},     {"Aoife", "aoife"},     {"Björn", "bjorn"},
};

const dataset_name_t dataset_last_names[DATASET_LAST_NAMES] = {
    {"Smith", "smith"},         {"Jones", "jones"},   {"O'Brien", "obrien"}, {"Müller", "muller"},
    {"Patel", "patel"},         {"Nguyen", "nguyen"}, {"García", "garcia"},  {"Kowalski", "kowalski"},
    {"Taylor", "taylor"},       {"Brown", "brown"},   {"Wilson", "wilson"},  {"Okafor", "okafor"},
    {"Rossi", "rossi"},         {"Dubois", "dubois"}, {"Khan", "khan"},      {"Murphy", "murphy"},
    {"Evans", "evans"},         {"Silva", "silva"},   {"Novak", "novak"},    {"Yamamoto", "yamamoto"},
    {"Andersson", "andersson"}, {"Walker", "walker"}, {"Hughes", "hughes"},  {"Fernández", "fernandez"},
};

uint64_t
dataset_hash3(uint64_t seed, uint64_t index, uint64_t salt)
{
    return dataset_mix64(dataset_mix64(dataset_mix64(seed ^ 0x5851f42d4c957f2dULL) ^ (index * 0x9e3779b97f4a7c15ULL)) ^
                         (salt * 0xd1b54a32d192ed03ULL));
}

/* The first profile of the run of profiles sharing i's email. */
static uint64_t
email_base(uint64_t seed, uint64_t i)
{
    while (i >= 2 && dataset_hash3(seed, i, DATASET_SALT_SHARE) % 10 == 0)
        i--;
    return i;
}

static void
names_of_base(uint64_t seed, uint64_t base, const dataset_name_t **first, const dataset_name_t **last)
{
    uint64_t h = dataset_hash3(seed, base, DATASET_SALT_NAME);
    *first = &dataset_first_names[h % DATASET_FIRST_NAMES];
    *last = &dataset_last_names[(h >> 32) % DATASET_LAST_NAMES];
}

void
dataset_names(uint64_t seed, uint64_t i, const dataset_name_t **first, const dataset_name_t **last)
{
    names_of_base(seed, email_base(seed, i), first, last);
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
    const dataset_name_t *first, *last;
    names_of_base(seed, base, &first, &last);
    const char *tag = dataset_hash3(seed, base, DATASET_SALT_PLUS) % 25 == 0 ? "+news" : "";
    return clamp_len(snprintf(buf, cap, "%s.%s%" PRIu64 "%s@example.com", first->slug, last->slug, base, tag), cap);
}
