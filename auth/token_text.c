/* token_text.c -- making, parsing and hashing token texts: 8 random bytes of
 * id in lower-case hex, 32 random bytes of secret in unpadded base64url, and
 * HMAC-SHA-256 with the server's pepper over the whole text. */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "auth_internal.h"

#define PREFIX "pd_"
#define PREFIX_LEN 3
#define ID_BYTES (AUTH_TOKEN_ID_LEN / 2)
#define SECRET_BYTES 32
#define SECRET_OFF (PREFIX_LEN + AUTH_TOKEN_ID_LEN + 1)
#define SECRET_LEN (AUTH_TOKEN_LEN - SECRET_OFF)

_Static_assert(SECRET_LEN == (SECRET_BYTES * 8 + 5) / 6, "43 base64url characters carry 256 bits");

static const char hex_digits[] = "0123456789abcdef";

/* 1 when c is in the base64url alphabet. Comparisons without branches, so
 * the time taken says nothing about the secret. */
static unsigned
is_b64url(unsigned char c)
{
    return (unsigned)((unsigned char)(c - 'A') < 26) | (unsigned)((unsigned char)(c - 'a') < 26) |
           (unsigned)((unsigned char)(c - '0') < 10) | (unsigned)(c == '-') | (unsigned)(c == '_');
}

int
auth_text_generate(char text[AUTH_TOKEN_LEN + 1], char id[AUTH_TOKEN_ID_LEN + 1])
{
    uint8_t id_bytes[ID_BYTES];
    uint8_t secret[SECRET_BYTES];
    int rc = AUTH_ESTORAGE;
    if (RAND_bytes(id_bytes, sizeof(id_bytes)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1)
        goto fail;
    for (size_t i = 0; i < ID_BYTES; i++) {
        id[2 * i] = hex_digits[id_bytes[i] >> 4];
        id[2 * i + 1] = hex_digits[id_bytes[i] & 15];
    }
    id[AUTH_TOKEN_ID_LEN] = '\0';
    memcpy(text, PREFIX, PREFIX_LEN);
    memcpy(text + PREFIX_LEN, id, AUTH_TOKEN_ID_LEN);
    text[PREFIX_LEN + AUTH_TOKEN_ID_LEN] = '_';
    base_base64url(secret, sizeof(secret), text + SECRET_OFF); /* its NUL is text[AUTH_TOKEN_LEN] */
    text[AUTH_TOKEN_LEN] = '\0';
    rc = AUTH_OK;
fail:
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

int
auth_text_parse(const char *token, size_t len, char id[AUTH_TOKEN_ID_LEN + 1])
{
    if (len == 0)
        return AUTH_EMISSING;
    if (len != AUTH_TOKEN_LEN || memcmp(token, PREFIX, PREFIX_LEN) != 0 || token[SECRET_OFF - 1] != '_')
        return AUTH_EINVALID;
    /* The id is public: it may be checked with early exits. */
    for (size_t i = 0; i < AUTH_TOKEN_ID_LEN; i++) {
        char c = token[PREFIX_LEN + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return AUTH_EINVALID;
        id[i] = c;
    }
    id[AUTH_TOKEN_ID_LEN] = '\0';
    unsigned ok = 1;
    for (size_t i = 0; i < SECRET_LEN; i++)
        ok &= is_b64url((unsigned char)token[SECRET_OFF + i]);
    return ok ? AUTH_OK : AUTH_EINVALID;
}

int
auth_text_hash(const char *pepper, const char *token, size_t len, uint8_t out[AUTH_HASH_LEN])
{
    unsigned int n = 0;
    if (pepper != NULL && pepper[0] != '\0') {
        if (HMAC(EVP_sha256(), pepper, (int)strlen(pepper), (const unsigned char *)token, len, out, &n) == NULL)
            return AUTH_EINVALID;
    } else if (EVP_Digest(token, len, out, &n, EVP_sha256(), NULL) != 1) {
        return AUTH_EINVALID;
    }
    return n == AUTH_HASH_LEN ? AUTH_OK : AUTH_EINVALID;
}
