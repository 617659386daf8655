/* table.c -- the immutable table of live tokens the server verifies against:
 * token records sorted by id, found by binary search on the id a token
 * carries, then accepted on a constant-time comparison of hashes. A reload
 * builds a new table and carries the rate-limit state over by id. A
 * thread's cache of verified texts (auth_table_verify_cached) skips the
 * hash for a token it has seen in the same table. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "base.h"
#include "auth_internal.h"

struct auth_table {
    uint64_t serial; /* auth_table_serial */
    size_t count;
    auth_token_t **by_id; /* sorted by id */
};

/* Serials handed out so far (auth_table_serial). */
static _Atomic uint64_t last_serial;

typedef struct {
    auth_token_t **tokens;
    size_t count;
    size_t cap;
} load_ctx_t;

static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        abort();
    return p;
}

static char *
xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

static void
token_free(auth_token_t *tok)
{
    if (tok == NULL)
        return;
    free(tok->client);
    free(tok->account);
    free(tok->brand);
    free(tok->name);
    free(tok);
}

static int
add_row(void *arg, const storage_token_row_t *row)
{
    load_ctx_t *ctx = arg;
    /* Revoked tokens stay out, and so does a row no token could match. */
    if (row->revoked_ms != 0 || row->id == NULL || strlen(row->id) != AUTH_TOKEN_ID_LEN || row->hash == NULL ||
        row->client == NULL || row->account == NULL)
        return 0;
    if (ctx->count == ctx->cap) {
        ctx->cap = ctx->cap ? 2 * ctx->cap : 64;
        ctx->tokens = realloc(ctx->tokens, ctx->cap * sizeof(*ctx->tokens));
        if (ctx->tokens == NULL)
            abort();
    }
    auth_token_t *tok = xcalloc(1, sizeof(*tok));
    memcpy(tok->id, row->id, AUTH_TOKEN_ID_LEN + 1);
    memcpy(tok->hash, row->hash, sizeof(tok->hash));
    tok->client = xstrdup(row->client);
    tok->account = xstrdup(row->account);
    tok->brand = xstrdup(row->brand);
    tok->name = xstrdup(row->name);
    tok->rate = row->rate;
    tok->burst = row->burst;
    tok->permissions = row->permissions;
    atomic_init(&tok->tat, 0);
    atomic_init(&tok->ingest_tat, 0);
    ctx->tokens[ctx->count++] = tok;
    return 0;
}

static int
cmp_token(const void *a, const void *b)
{
    const auth_token_t *x = *(auth_token_t *const *)a;
    const auth_token_t *y = *(auth_token_t *const *)b;
    return strcmp(x->id, y->id);
}

static auth_token_t *
find(const auth_table_t *t, const char *id)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(id, t->by_id[mid]->id);
        if (c == 0)
            return t->by_id[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int
auth_table_load(storage_t *st, const char *pepper, const auth_table_t *prev, auth_table_t **out)
{
    /* Rows hold hashes already: the pepper matters only to verification. */
    (void)pepper;
    assert(st != NULL && out != NULL);
    load_ctx_t ctx = {0};
    auth_table_t *t = NULL;
    if (storage_token_foreach(st, add_row, &ctx) != STORAGE_OK)
        goto fail;
    if (ctx.count > 1)
        qsort(ctx.tokens, ctx.count, sizeof(*ctx.tokens), cmp_token);
    t = xcalloc(1, sizeof(*t));
    t->serial = atomic_fetch_add_explicit(&last_serial, 1, memory_order_relaxed) + 1;
    t->by_id = ctx.tokens;
    t->count = ctx.count;
    if (prev != NULL) {
        for (size_t i = 0; i < t->count; i++) {
            const auth_token_t *old = find(prev, t->by_id[i]->id);
            if (old == NULL)
                continue;
            atomic_store_explicit(&t->by_id[i]->tat, atomic_load_explicit(&old->tat, memory_order_relaxed), memory_order_relaxed);
            atomic_store_explicit(&t->by_id[i]->ingest_tat, atomic_load_explicit(&old->ingest_tat, memory_order_relaxed),
                                  memory_order_relaxed);
        }
    }
    *out = t;
    return AUTH_OK;
fail:
    for (size_t i = 0; i < ctx.count; i++)
        token_free(ctx.tokens[i]);
    free(ctx.tokens);
    return AUTH_ESTORAGE;
}

void
auth_table_free(auth_table_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->count; i++)
        token_free(t->by_id[i]);
    free(t->by_id);
    free(t);
}

size_t
auth_table_count(const auth_table_t *t)
{
    return t == NULL ? 0 : t->count;
}

int
auth_table_verify(const auth_table_t *t, const char *pepper, const char *token, size_t len, auth_token_t **out)
{
    static const uint8_t no_hash[AUTH_HASH_LEN];
    char id[AUTH_TOKEN_ID_LEN + 1];
    uint8_t hash[AUTH_HASH_LEN];
    assert(t != NULL && out != NULL);
    *out = NULL;
    int rc = auth_text_parse(token, len, id);
    if (rc != AUTH_OK)
        return rc;
    if (auth_text_hash(pepper, token, len, hash) != AUTH_OK)
        return AUTH_EINVALID;
    /* The id is public; an unknown one still pays for a comparison so the
     * answer takes the same time either way. */
    auth_token_t *tok = find(t, id);
    int differ = CRYPTO_memcmp(hash, tok != NULL ? tok->hash : no_hash, AUTH_HASH_LEN);
    OPENSSL_cleanse(hash, sizeof(hash));
    if (tok == NULL || differ != 0)
        return AUTH_EINVALID;
    *out = tok;
    return AUTH_OK;
}

uint64_t
auth_table_serial(const auth_table_t *t)
{
    return t->serial;
}

_Static_assert(AUTH_TOKEN_LEN < AUTH_VCACHE_TEXT && AUTH_VCACHE_TEXT % 8 == 0, "a kept text is the token and zeros");

/* Whether kept (AUTH_VCACHE_TEXT bytes) holds token (AUTH_TOKEN_LEN
 * bytes) and zeros, in constant time: every word is read and folded in,
 * whatever differs where (CRYPTO_memcmp's promise, a word at a time). */
static int
same_text(const unsigned char *kept, const char *token)
{
    uint64_t diff = 0, x, y;
    size_t i = 0;
    for (; i + 8 <= AUTH_TOKEN_LEN; i += 8) {
        memcpy(&x, kept + i, 8);
        memcpy(&y, token + i, 8);
        diff |= x ^ y;
    }
    for (; i < AUTH_VCACHE_TEXT; i += 8) {
        y = 0;
        memcpy(&x, kept + i, 8);
        if (i < AUTH_TOKEN_LEN)
            memcpy(&y, token + i, AUTH_TOKEN_LEN - i);
        diff |= x ^ y;
    }
    return diff == 0;
}

int
auth_table_verify_cached(const auth_table_t *t, const char *pepper, auth_vcache_t *c, const char *token, size_t len,
                         auth_token_t **out)
{
    assert(t != NULL && c != NULL && out != NULL);
    if (len != AUTH_TOKEN_LEN) /* no token of another length was ever kept */
        return auth_table_verify(t, pepper, token, len, out);
    /* the id's last two characters (public, hex when well formed) pick
     * the slot; a malformed text lands anywhere and simply misses */
    unsigned slot = ((unsigned char)token[3 + AUTH_TOKEN_ID_LEN - 2] * 16u + (unsigned char)token[3 + AUTH_TOKEN_ID_LEN - 1]) %
                    AUTH_VCACHE_SLOTS;
    auth_vcache_slot_t *s = &c->slot[slot];
    if (s->serial == t->serial && same_text(s->text, token)) {
        atomic_store_explicit(&c->hits, atomic_load_explicit(&c->hits, memory_order_relaxed) + 1, memory_order_relaxed);
        *out = s->token;
        return AUTH_OK;
    }
    atomic_store_explicit(&c->misses, atomic_load_explicit(&c->misses, memory_order_relaxed) + 1, memory_order_relaxed);
    int rc = auth_table_verify(t, pepper, token, len, out);
    if (rc == AUTH_OK) {
        s->serial = t->serial;
        s->token = *out;
        memset(s->text, 0, sizeof(s->text));
        memcpy(s->text, token, AUTH_TOKEN_LEN);
    }
    return rc;
}
