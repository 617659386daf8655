/* table.c -- a fixed-size, lock-free table of GCRA buckets keyed by 64-bit
 * keys (client addresses): open addressing over a power-of-two array of
 * {key, tat} slots, a short linear probe, and reuse of any slot whose bucket
 * is full again, which is as good as no entry at all. */
#include <assert.h>
#include <stdlib.h>
#include "ratelimit.h"

/* Slots examined per key (eight cache lines); a key lives in the first of
 * them that was free (empty or full again) when it arrived. Linear probing
 * clusters: with 1M keys in 2^21 slots, a window of 8 leaves ~3,500 keys
 * without a slot of their own, 16 ~200, 32 about one. */
#define PROBE 32
/* Lookups restarted after losing a slot to a concurrent reuse. */
#define MAX_RETRIES 4

typedef struct {
    _Atomic uint64_t key; /* 0: never used */
    _Atomic int64_t tat;
} slot_t;

struct ratelimit_table {
    size_t mask;
    slot_t *slots;
};

ratelimit_table_t *
ratelimit_table_new(size_t capacity)
{
    size_t n = 1;
    while (n < capacity) {
        if (n > SIZE_MAX / 2 / sizeof(slot_t))
            return NULL;
        n <<= 1;
    }
    ratelimit_table_t *t = malloc(sizeof(*t));
    if (t == NULL)
        return NULL;
    /* calloc's zero pages are key 0 / tat 0 (empty, full bucket) on every
     * platform with lock-free 64-bit atomics, and stay unmapped until used. */
    t->slots = calloc(n, sizeof(slot_t));
    if (t->slots == NULL)
        goto fail;
    t->mask = n - 1;
    return t;
fail:
    free(t);
    return NULL;
}

void
ratelimit_table_free(ratelimit_table_t *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t);
}

size_t
ratelimit_table_memory(const ratelimit_table_t *t)
{
    return sizeof(*t) + (t->mask + 1) * sizeof(slot_t);
}

/* splitmix64's finaliser: consecutive addresses land far apart. */
static uint64_t
mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Finds key's slot in its probe window or claims one for it. Returns the
 * slot and sets *owned, or, when every slot is busy with a bucket that is not
 * full, returns the last one with *owned = 0 (shared, conservative). */
static slot_t *
find_slot(ratelimit_table_t *t, uint64_t key, int64_t now_ns, int *owned)
{
    size_t home = (size_t)mix(key);
    size_t probe = t->mask < PROBE ? t->mask + 1 : PROBE;
    slot_t *last = NULL;
    for (;;) {
        slot_t *free_slot = NULL;
        uint64_t free_key = 0;
        for (size_t i = 0; i < probe; i++) {
            slot_t *s = &t->slots[(home + i) & t->mask];
            uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
            last = s;
            if (k == key) {
                *owned = 1;
                return s;
            }
            if (k == 0) {
                /* Slots never become empty again, so key is not further on. */
                if (free_slot == NULL) {
                    free_slot = s;
                    free_key = 0;
                }
                break;
            }
            if (free_slot == NULL && atomic_load_explicit(&s->tat, memory_order_acquire) <= now_ns) {
                free_slot = s;
                free_key = k;
            }
        }
        if (free_slot == NULL) {
            *owned = 0;
            return last;
        }
        uint64_t expected = free_key;
        if (atomic_compare_exchange_strong_explicit(&free_slot->key, &expected, key, memory_order_acq_rel, memory_order_acquire)) {
            *owned = 1;
            return free_slot;
        }
        if (expected == key) {
            /* Another thread claimed it for this key first. */
            *owned = 1;
            return free_slot;
        }
        /* Lost the slot to another key: look again with the new picture. */
    }
}

/* Race handling. A reused slot's bucket was full, so the new key starts from
 * the same state a fresh slot would give it. A request for the old key that
 * read the key before the claim may still move the slot's tat afterwards;
 * every take therefore re-reads the key after touching the bucket and, when
 * it changed, retries on the key's own slot: the stray charge stays on the new
 * key's bucket (it may deny that key early, never admits extra). What remains
 * is a request for the old key that completes between the claimer's tat check
 * and its key swap; its charge is then forgotten, which can give the old key
 * one extra request per such in-flight request. Two threads bringing in the
 * same new key at once may, when they disagree on which slot is free, leave it
 * in two slots; lookups use the first and the other ages out. */
int
ratelimit_table_take(ratelimit_table_t *t, uint64_t key, const ratelimit_policy_t *p, int64_t now_ns, ratelimit_result_t *res)
{
    assert(t != NULL && p != NULL);
    assert(key != 0);
    int allowed = 0;
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        int owned;
        slot_t *s = find_slot(t, key, now_ns, &owned);
        allowed = ratelimit_take(&s->tat, p, now_ns, res);
        if (!owned || atomic_load_explicit(&s->key, memory_order_acquire) == key)
            break;
    }
    return allowed;
}
