/* admin.c -- token administration on the store: create (the only moment a
 * token's text exists outside its holder, and the only moment its
 * permissions are set), revoke, and list. */
#include <assert.h>
#include <string.h>
#include <openssl/crypto.h>
#include "auth_internal.h"

/* Fresh random ids collide with probability ~n / 2^64; retry a few times. */
#define CREATE_ATTEMPTS 4

int
auth_token_create(storage_t *st, const char *pepper, const char *client, const char *account, const char *brand, const char *name,
                  double rate, double burst, int64_t now_ms, char *secret_out, size_t secret_len)
{
    return auth_token_create_perms(st, pepper, client, account, brand, name, rate, burst, AUTH_PERM_DEFAULT, now_ms, secret_out,
                                   secret_len);
}

int
auth_token_create_perms(storage_t *st, const char *pepper, const char *client, const char *account, const char *brand,
                        const char *name, double rate, double burst, unsigned permissions, int64_t now_ms, char *secret_out,
                        size_t secret_len)
{
    char text[AUTH_TOKEN_LEN + 1];
    char id[AUTH_TOKEN_ID_LEN + 1];
    uint8_t hash[AUTH_HASH_LEN];
    assert(st != NULL && client != NULL && account != NULL);
    assert(secret_out != NULL && secret_len >= AUTH_TOKEN_LEN + 1);
    assert(permissions != 0 && (permissions & ~(unsigned)AUTH_PERM_ALL) == 0);
    (void)secret_len;
    secret_out[0] = '\0';
    for (int attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
        /* A failing random generator or hash is reported as the only
         * failure this API knows; the token is never stored then. */
        if (auth_text_generate(text, id) != AUTH_OK || auth_text_hash(pepper, text, AUTH_TOKEN_LEN, hash) != AUTH_OK)
            goto fail;
        storage_token_row_t row = {
            .id = id,
            .hash = hash,
            .client = client,
            .account = account,
            .brand = brand,
            .name = name,
            .created_ms = now_ms,
            .revoked_ms = 0,
            .rate = rate,
            .burst = burst,
            .permissions = permissions,
        };
        int rc = storage_token_insert(st, &row);
        if (rc == STORAGE_EEXIST)
            continue;
        if (rc != STORAGE_OK)
            goto fail;
        memcpy(secret_out, text, AUTH_TOKEN_LEN + 1);
        OPENSSL_cleanse(text, sizeof(text));
        return AUTH_OK;
    }
fail:
    OPENSSL_cleanse(text, sizeof(text));
    return AUTH_ESTORAGE;
}

int
auth_token_revoke(storage_t *st, const char *id, int64_t now_ms)
{
    assert(st != NULL && id != NULL);
    switch (storage_token_revoke(st, id, now_ms)) {
    case STORAGE_OK:
        return AUTH_OK;
    case STORAGE_ENOTFOUND:
        return AUTH_ENOTFOUND;
    default:
        return AUTH_ESTORAGE;
    }
}

/* Writes s with control characters as '?', so a field cannot break the
 * tab-separated line; NULL or empty as "-". */
static void
put_field(FILE *out, const char *s)
{
    if (s == NULL || *s == '\0')
        s = "-";
    for (; *s != '\0'; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

static int
list_row(void *arg, const storage_token_row_t *row)
{
    FILE *out = arg;
    char created[32], revoked[32], perms[32];
    put_field(out, row->id);
    fputc('\t', out);
    put_field(out, row->client);
    fputc('/', out);
    put_field(out, row->account);
    fputc('/', out);
    put_field(out, row->brand != NULL ? row->brand : "*");
    fputc('\t', out);
    put_field(out, row->name);
    fprintf(out, "\t%s\t%s\t%s\n", base_format_time(row->created_ms, created),
            row->revoked_ms != 0 ? base_format_time(row->revoked_ms, revoked) : "-",
            auth_perms_format(row->permissions, perms, sizeof(perms)));
    return 0;
}

int
auth_token_list(storage_t *st, FILE *out)
{
    assert(st != NULL && out != NULL);
    fputs("id\tscope\tname\tcreated\trevoked\tpermissions\n", out);
    return storage_token_foreach(st, list_row, out) == STORAGE_OK ? AUTH_OK : AUTH_ESTORAGE;
}
