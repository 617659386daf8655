/* idcache.c -- the per-transaction identity cache of the read-write
 * connection: (tenant, id type, value) -> profile pk, so a run of messages
 * from one user resolves its profile without touching SQLite. Open
 * addressing; emptied in O(1) by bumping a generation number. */
#include <stdlib.h>
#include <string.h>
#include "../db/db.h"

void
stg_idcache_init(idcache_t *c, size_t slots_pow2)
{
    c->slots = calloc(slots_pow2, sizeof(*c->slots));
    if (c->slots == NULL)
        abort();
    c->mask = slots_pow2 - 1;
    c->used = 0;
    c->gen = 1; /* slot gen 0 is never current: calloc'd slots are empty */
}

void
stg_idcache_dispose(idcache_t *c)
{
    if (c->slots == NULL)
        return;
    for (size_t i = 0; i <= c->mask; i++)
        free(c->slots[i].value);
    free(c->slots);
    c->slots = NULL;
}

void
stg_idcache_clear(idcache_t *c)
{
    c->used = 0;
    if (++c->gen == 0) {
        /* Wrapped after 2^32 clears: old generations could look current. */
        for (size_t i = 0; i <= c->mask; i++)
            c->slots[i].gen = 0;
        c->gen = 1;
    }
}

static uint64_t
hash_key(int64_t tenant_id, int id_type, const char *v, size_t n)
{
    uint64_t h = base_fnv1a(1469598103934665603ull ^ (uint64_t)tenant_id * 0x9e3779b97f4a7c15ull ^ (uint64_t)id_type, v, n);
    return h ^ (h >> 29);
}

static bool
slot_matches(const idcache_slot_t *s, uint64_t h, int64_t tenant_id, int id_type, const char *v, size_t n)
{
    return s->hash == h && s->tenant_id == tenant_id && s->id_type == id_type && s->len == n && memcmp(s->value, v, n) == 0;
}

int64_t
stg_idcache_get(const idcache_t *c, int64_t tenant_id, int id_type, const char *v, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t h = hash_key(tenant_id, id_type, v, n);
    for (size_t i = h & c->mask;; i = (i + 1) & c->mask) {
        const idcache_slot_t *s = &c->slots[i];
        if (s->gen != c->gen)
            return 0;
        if (slot_matches(s, h, tenant_id, id_type, v, n))
            return s->profile_pk;
    }
}

void
stg_idcache_put(idcache_t *c, int64_t tenant_id, int id_type, const char *v, size_t n, int64_t pk)
{
    if (n == 0 || n > UINT32_MAX)
        return;
    /* Keep probes short: start over rather than grow (it is only a cache). */
    if (c->used >= (c->mask + 1) / 2)
        stg_idcache_clear(c);
    uint64_t h = hash_key(tenant_id, id_type, v, n);
    size_t i = h & c->mask;
    for (;; i = (i + 1) & c->mask) {
        idcache_slot_t *s = &c->slots[i];
        if (s->gen != c->gen)
            break;
        if (slot_matches(s, h, tenant_id, id_type, v, n)) {
            s->profile_pk = pk;
            return;
        }
    }
    idcache_slot_t *s = &c->slots[i];
    if (s->cap < n) {
        char *p = realloc(s->value, n > 64 ? n : 64);
        if (p == NULL)
            abort();
        s->value = p;
        s->cap = (uint32_t)(n > 64 ? n : 64);
    }
    memcpy(s->value, v, n);
    s->len = (uint32_t)n;
    s->hash = h;
    s->tenant_id = tenant_id;
    s->id_type = id_type;
    s->profile_pk = pk;
    s->gen = c->gen;
    c->used++;
}
