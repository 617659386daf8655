/* fairq.c -- the fair queue of fairq.h: a hash of per-key FIFOs, the keys
 * with items on a ring that a take walks one item per key at a time, and
 * that the next take carries on from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fairq.h"
#include "storage.h"

#define BUCKETS 1024

typedef struct node {
    struct node *next;
    void *item;
    size_t weight;
} node_t;

typedef struct keyq {
    struct keyq *ring_next, *ring_prev; /* the keys with items */
    struct keyq *hash_next;
    uint64_t hash;
    node_t *head, *tail;
    size_t count;
    size_t len;
    char key[];
} keyq_t;

struct fairq {
    size_t max_items, max_per_key;
    size_t count;
    keyq_t *ring;      /* the key served next; NULL: empty */
    int64_t shared_ms; /* fairq_budget: when two keys last shared the queue */
    int shared_seen;
    keyq_t *buckets[BUCKETS];
};

static uint64_t
hash_key(const char *k, size_t n)
{
    uint64_t h = base_fnv1a(1469598103934665603ull, k, n);
    return h ^ (h >> 29);
}

fairq_t *
fairq_new(size_t max_items, size_t max_per_key)
{
    fairq_t *q = calloc(1, sizeof(*q));
    if (q == NULL)
        abort();
    q->max_items = max_items;
    q->max_per_key = max_per_key;
    return q;
}

void
fairq_free(fairq_t *q)
{
    if (q == NULL)
        return;
    for (size_t b = 0; b < BUCKETS; b++) {
        for (keyq_t *k = q->buckets[b], *next; k != NULL; k = next) {
            next = k->hash_next;
            for (node_t *n = k->head, *nn; n != NULL; n = nn) {
                nn = n->next;
                free(n);
            }
            free(k);
        }
    }
    free(q);
}

/* The key's queue, created (on the ring, last in the current round) when
 * create is set. */
static keyq_t *
find_key(fairq_t *q, const char *key, size_t len, int create)
{
    uint64_t h = hash_key(key, len);
    keyq_t **slot = &q->buckets[h % BUCKETS];
    for (keyq_t *k = *slot; k != NULL; k = k->hash_next)
        if (k->hash == h && k->len == len && memcmp(k->key, key, len) == 0)
            return k;
    if (!create)
        return NULL;
    keyq_t *k = calloc(1, sizeof(*k) + len);
    if (k == NULL)
        abort();
    memcpy(k->key, key, len);
    k->len = len;
    k->hash = h;
    k->hash_next = *slot;
    *slot = k;
    if (q->ring == NULL) {
        k->ring_next = k->ring_prev = k;
        q->ring = k;
    } else {
        k->ring_next = q->ring;
        k->ring_prev = q->ring->ring_prev;
        k->ring_prev->ring_next = k;
        q->ring->ring_prev = k;
    }
    return k;
}

/* Drops an emptied key from the ring and the hash. */
static void
drop_key(fairq_t *q, keyq_t *k)
{
    if (k->ring_next == k) {
        q->ring = NULL;
    } else {
        k->ring_prev->ring_next = k->ring_next;
        k->ring_next->ring_prev = k->ring_prev;
        if (q->ring == k)
            q->ring = k->ring_next;
    }
    keyq_t **slot = &q->buckets[k->hash % BUCKETS];
    while (*slot != k)
        slot = &(*slot)->hash_next;
    *slot = k->hash_next;
    free(k);
}

int
fairq_push(fairq_t *q, const char *key, size_t key_len, void *item, size_t weight)
{
    if (q->count >= q->max_items)
        return FAIRQ_FULL;
    keyq_t *k = find_key(q, key, key_len, 0);
    if (k != NULL && k->count >= q->max_per_key)
        return FAIRQ_KEY_FULL;
    if (k == NULL)
        k = find_key(q, key, key_len, 1);
    node_t *n = malloc(sizeof(*n));
    if (n == NULL)
        abort();
    *n = (node_t){NULL, item, weight};
    if (k->tail != NULL)
        k->tail->next = n;
    else
        k->head = n;
    k->tail = n;
    k->count++;
    q->count++;
    return 0;
}

size_t
fairq_count(const fairq_t *q)
{
    return q->count;
}

size_t
fairq_budget(fairq_t *q, int64_t now_ms, size_t fair, size_t alone, int64_t alone_ms)
{
    if (!q->shared_seen || (q->ring != NULL && q->ring->ring_next != q->ring)) {
        q->shared_ms = now_ms;
        q->shared_seen = 1;
    }
    return now_ms - q->shared_ms < alone_ms ? fair : alone;
}

size_t
fairq_take(fairq_t *q, void **out, size_t max_items, size_t max_weight)
{
    size_t taken = 0, weight = 0;
    while (taken < max_items && q->ring != NULL) {
        keyq_t *k = q->ring;
        node_t *n = k->head;
        if (taken > 0 && n->weight > max_weight - weight)
            break; /* this key goes first next time */
        weight += n->weight < max_weight - weight ? n->weight : max_weight - weight;
        out[taken++] = n->item;
        if ((k->head = n->next) == NULL)
            k->tail = NULL;
        free(n);
        k->count--;
        q->count--;
        if (k->count == 0)
            drop_key(q, k); /* moves the ring on */
        else
            q->ring = k->ring_next;
    }
    return taken;
}
