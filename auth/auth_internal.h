/* auth_internal.h -- private to auth/: the text of a token ("pd_<id>_<secret>")
 * and the hash that is all the store keeps of it. */
#ifndef PROFILED_AUTH_TOKEN_TEXT_H
#define PROFILED_AUTH_TOKEN_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include "auth.h"

#define AUTH_HASH_LEN 32

/* Writes a new random token into text (NUL-terminated) and its id into id.
 * Returns AUTH_OK, or AUTH_ESTORAGE when the random generator fails. */
int auth_text_generate(char text[AUTH_TOKEN_LEN + 1], char id[AUTH_TOKEN_ID_LEN + 1]);

/* Checks the shape of a presented token (len bytes, not NUL-terminated) and
 * copies its id into id. Returns AUTH_OK, AUTH_EMISSING (len 0) or
 * AUTH_EINVALID. Takes the same time whatever the secret's characters. */
int auth_text_parse(const char *token, size_t len, char id[AUTH_TOKEN_ID_LEN + 1]);

/* HMAC-SHA-256(pepper, token), or SHA-256(token) when pepper is NULL or
 * empty, into out. Returns AUTH_OK, or AUTH_EINVALID when OpenSSL fails. */
int auth_text_hash(const char *pepper, const char *token, size_t len, uint8_t out[AUTH_HASH_LEN]);

#endif
