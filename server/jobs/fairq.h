/* fairq.h -- a bounded queue shared fairly by keys (tenants): one FIFO per
 * key, taken from round-robin with a weight budget per take, so one key's
 * flood never starves another key's requests. Knows nothing of HTTP or
 * SQLite (the writer queues its ingest jobs in one). Not thread safe: the
 * caller locks. */
#ifndef PROFILED_FAIRQ_H
#define PROFILED_FAIRQ_H

#include <stddef.h>
#include <stdint.h>

enum {
    FAIRQ_FULL = -1,     /* max_items queued in all */
    FAIRQ_KEY_FULL = -2, /* max_per_key queued for this key */
};

typedef struct fairq fairq_t;

/* A queue of at most max_items items, at most max_per_key of them under
 * one key. Never fails (out of memory aborts). */
fairq_t *fairq_new(size_t max_items, size_t max_per_key);

/* Frees the queue; items still queued are the caller's (they are not
 * touched). NULL is a no-op. */
void fairq_free(fairq_t *q);

/* Queues item (borrowed until taken) under key (copied) with a weight
 * (e.g. messages). 0, FAIRQ_FULL or FAIRQ_KEY_FULL (nothing queued). */
int fairq_push(fairq_t *q, const char *key, size_t key_len, void *item, size_t weight);

/* Items queued. */
size_t fairq_count(const fairq_t *q);

/* The weight budget for the next take at now_ms (any monotonic clock):
 * fair while items of two or more keys have been queued together at some
 * call within the last alone_ms (and during the first alone_ms of the
 * queue), else alone (one key has had the queue to itself that long). */
size_t fairq_budget(fairq_t *q, int64_t now_ms, size_t fair, size_t alone, int64_t alone_ms);

/* Takes up to max_items items into out, in rounds: each round one item
 * from each key with items, in a rotating order, so a key with one item
 * is served in the first round of the next take. Stops before an item
 * whose weight would take the total past max_weight (but always takes one
 * when any is queued). Items of one key come out in their order of push.
 * Returns how many were taken (0: empty). */
size_t fairq_take(fairq_t *q, void **out, size_t max_items, size_t max_weight);

#endif
