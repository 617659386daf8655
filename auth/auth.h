/* auth.h -- API tokens: format, hashing, verification and scopes.
 *
 * A token reads "pd_<id>_<secret>": <id> is 16 lower-case hex characters
 * (public, names the token in lists and logs), <secret> 43 base64url
 * characters (256 random bits). Only HMAC-SHA-256(pepper, whole token) is
 * stored (plain SHA-256 when no pepper is set); verification compares hashes
 * in constant time. A token is scoped to a client and account, and to one
 * brand or (brand NULL) every brand of the account. */
#ifndef PROFILED_AUTH_H
#define PROFILED_AUTH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "storage.h"

enum {
    AUTH_OK = 0,
    AUTH_EMISSING = -1,   /* no token given */
    AUTH_EINVALID = -2,   /* unknown, malformed or revoked token */
    AUTH_EFORBIDDEN = -3, /* valid token outside its scope */
    AUTH_ESTORAGE = -4,   /* the store failed */
    AUTH_ENOTFOUND = -5,  /* no such token id (revoke) */
};

/* What a token may do (bits; the store keeps them as they are). */
enum {
    AUTH_PERM_READ = STORAGE_PERM_READ,     /* the Profile API read routes */
    AUTH_PERM_INGEST = STORAGE_PERM_INGEST, /* the ingestion routes */
    AUTH_PERM_DELETE = STORAGE_PERM_DELETE, /* profile erasure */
};
#define AUTH_PERM_ALL STORAGE_PERM_ALL
/* What `token create` gives without --permissions: what every token could
 * do before permissions existed. */
#define AUTH_PERM_DEFAULT (AUTH_PERM_READ | AUTH_PERM_INGEST)

#define AUTH_TOKEN_ID_LEN 16
#define AUTH_TOKEN_LEN (3 + AUTH_TOKEN_ID_LEN + 1 + 43)

/* One token as the server holds it. Immutable once loaded, except the
 * rate-limit state, which belongs to ratelimit/ and is carried over from the
 * previous table on reload so a reload hands out no free burst. */
typedef struct auth_token {
    char id[AUTH_TOKEN_ID_LEN + 1];
    uint8_t hash[32];
    char *client;
    char *account;
    char *brand; /* NULL: every brand of the account */
    char *name;  /* may be NULL */
    double rate; /* 0: server default */
    double burst;
    unsigned permissions;       /* AUTH_PERM_* bits */
    _Atomic int64_t tat;        /* read API bucket (ratelimit_take) */
    _Atomic int64_t ingest_tat; /* ingestion bucket */
} auth_token_t;

typedef struct auth_table auth_table_t;

/* Loads every live (not revoked) token from st into a new immutable table.
 * When prev is not NULL the rate-limit state of tokens present in both is
 * copied over. pepper may be NULL. On success *out is the caller's (free with
 * auth_table_free); returns AUTH_OK or AUTH_ESTORAGE. */
int auth_table_load(storage_t *st, const char *pepper, const auth_table_t *prev, auth_table_t **out);

/* Frees a table. NULL is a no-op. */
void auth_table_free(auth_table_t *t);

/* Number of live tokens in the table. */
size_t auth_table_count(const auth_table_t *t);

/* Verifies a presented token (len bytes, not NUL-terminated). Returns
 * AUTH_OK and *out (borrowed from t: valid while t lives), AUTH_EMISSING
 * when len is 0, or AUTH_EINVALID. Runs in constant time in the secret. */
int auth_table_verify(const auth_table_t *t, const char *pepper, const char *token, size_t len, auth_token_t **out);

/* A cache of tokens verified against a table, for one thread (a loop
 * keeps one; zeroed storage is an empty cache): up to AUTH_VCACHE_SLOTS
 * token texts, each with the token found for it and the serial of the
 * table it was found in (auth_table_serial). An entry answers only while
 * that table is the one given, so once the reloader swaps in a table
 * without a revoked token the next request misses and is refused, as
 * uncached. The slot is chosen by the token's public id; the secret is
 * compared in constant time. Failures are never kept. */
#define AUTH_VCACHE_SLOTS 64
#define AUTH_VCACHE_TEXT 64 /* AUTH_TOKEN_LEN and zeros */
typedef struct {
    uint64_t serial; /* 0: empty */
    auth_token_t *token;
    unsigned char text[AUTH_VCACHE_TEXT];
} auth_vcache_slot_t;
typedef struct {
    auth_vcache_slot_t slot[AUTH_VCACHE_SLOTS];
    _Atomic uint64_t hits, misses; /* written by the owner only; others may read them */
} auth_vcache_t;

/* The table's serial: unique to it among every table this process loads
 * (never 0), so a new table never passes for an old one at its address. */
uint64_t auth_table_serial(const auth_table_t *t);

/* auth_table_verify through cache c (the caller's thread's alone): the
 * same answers, the token borrowed from t. Misses verify and, on AUTH_OK,
 * keep the token in c. */
int auth_table_verify_cached(const auth_table_t *t, const char *pepper, auth_vcache_t *c, const char *token, size_t len,
                             auth_token_t **out);

/* Whether the token's scope covers the tenant: AUTH_OK or AUTH_EFORBIDDEN. */
int auth_token_permits(const auth_token_t *tok, const storage_tenant_t *tenant);

/* Whether the token may do everything in need (AUTH_PERM_* bits): AUTH_OK
 * or AUTH_EFORBIDDEN. */
int auth_token_allows(const auth_token_t *tok, unsigned need);

/* Parses a comma-separated list of permission names ("read", "ingest",
 * "delete"; spaces around names allowed, repeats harmless) into *out.
 * Returns AUTH_OK, or AUTH_EINVALID on an empty list or an unknown name;
 * then *bad (may be NULL) points at the offending name in list and *bad_len
 * is its length. */
int auth_perms_parse(const char *list, unsigned *out, const char **bad, size_t *bad_len);

/* Writes perms as names in the order read,ingest,delete ("-" for none)
 * into out (NUL-terminated; 32 bytes always suffice). Returns out. */
char *auth_perms_format(unsigned perms, char *out, size_t len);

/* Creates a token: writes its row and its whole text into secret_out
 * (at least AUTH_TOKEN_LEN + 1 bytes). brand and name may be NULL; rate and
 * burst 0 mean the server defaults. The token gets AUTH_PERM_DEFAULT.
 * Returns AUTH_OK or AUTH_ESTORAGE. */
int auth_token_create(storage_t *st, const char *pepper, const char *client, const char *account, const char *brand,
                      const char *name, double rate, double burst, int64_t now_ms, char *secret_out, size_t secret_len);

/* auth_token_create with the token's permissions (AUTH_PERM_* bits, not 0). */
int auth_token_create_perms(storage_t *st, const char *pepper, const char *client, const char *account, const char *brand,
                            const char *name, double rate, double burst, unsigned permissions, int64_t now_ms, char *secret_out,
                            size_t secret_len);

/* Revokes the token with this id: AUTH_OK, AUTH_ENOTFOUND, AUTH_ESTORAGE. */
int auth_token_revoke(storage_t *st, const char *id, int64_t now_ms);

/* Prints one line per token to out: id, scope (client/account/brand or
 * client/account* for every brand), name, created and revoked times (ISO 8601 or "-"),
 * permissions (auth_perms_format), tab-separated, after a header line.
 * Never a secret or hash. */
int auth_token_list(storage_t *st, FILE *out);

#endif
