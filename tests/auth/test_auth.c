/* test_auth.c -- Check suite for auth/: token creation and verification
 * against a real temporary store, malformed and revoked tokens, scopes,
 * the pepper, listing, and carrying rate-limit state across reloads. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "auth.h"
#include "testutil.h"

#define NOW_MS 1700000000000LL

static char *db_path;
static storage_t *st;

static void
setup(void)
{
    char err[256] = "";
    db_path = test_tmp_path("auth.db");
    int rc = storage_open(&st, db_path, 0, err, sizeof(err));
    ck_assert_msg(rc == STORAGE_OK, "storage_open: %s", err);
}

static void
teardown(void)
{
    storage_close(st);
    st = NULL;
    test_rm_db(db_path);
    free(db_path);
}

/* Creates a token for client c1 / account a1 and returns its text. */
static void
create(const char *pepper, const char *brand, const char *name, char text[AUTH_TOKEN_LEN + 1])
{
    ck_assert_int_eq(auth_token_create(st, pepper, "c1", "a1", brand, name, 0, 0, NOW_MS, text, AUTH_TOKEN_LEN + 1), AUTH_OK);
}

static auth_table_t *
load(const char *pepper, const auth_table_t *prev)
{
    auth_table_t *t = NULL;
    ck_assert_int_eq(auth_table_load(st, pepper, prev, &t), AUTH_OK);
    ck_assert_ptr_nonnull(t);
    return t;
}

static int
verify(const auth_table_t *t, const char *pepper, const char *text, size_t len)
{
    auth_token_t *tok = (auth_token_t *)1;
    int rc = auth_table_verify(t, pepper, text, len, &tok);
    if (rc == AUTH_OK)
        ck_assert_ptr_nonnull(tok);
    else
        ck_assert_ptr_null(tok);
    return rc;
}

START_TEST(test_create_verify)
{
    char text[AUTH_TOKEN_LEN + 1];
    ck_assert_int_eq(auth_token_create(st, NULL, "c1", "a1", "b1", "ci", 50, 200, NOW_MS, text, sizeof(text)), AUTH_OK);
    ck_assert_uint_eq(strlen(text), AUTH_TOKEN_LEN);
    ck_assert_int_eq(strncmp(text, "pd_", 3), 0);
    ck_assert_int_eq(text[3 + AUTH_TOKEN_ID_LEN], '_');
    for (size_t i = 3; i < 3 + AUTH_TOKEN_ID_LEN; i++)
        ck_assert_ptr_nonnull(strchr("0123456789abcdef", text[i]));

    auth_table_t *t = load(NULL, NULL);
    ck_assert_uint_eq(auth_table_count(t), 1);
    auth_token_t *tok = NULL;
    ck_assert_int_eq(auth_table_verify(t, NULL, text, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_ptr_nonnull(tok);
    ck_assert_int_eq(strncmp(tok->id, text + 3, AUTH_TOKEN_ID_LEN), 0);
    ck_assert_str_eq(tok->client, "c1");
    ck_assert_str_eq(tok->account, "a1");
    ck_assert_str_eq(tok->brand, "b1");
    ck_assert_str_eq(tok->name, "ci");
    ck_assert_double_eq(tok->rate, 50);
    ck_assert_double_eq(tok->burst, 200);

    /* Not NUL-terminated: the token inside a longer header value. */
    char header[128];
    snprintf(header, sizeof(header), "%s, more", text);
    ck_assert_int_eq(verify(t, NULL, header, AUTH_TOKEN_LEN), AUTH_OK);

    /* Two tokens never share an id or a secret. */
    char other[AUTH_TOKEN_LEN + 1];
    create(NULL, NULL, NULL, other);
    ck_assert_int_ne(strncmp(text + 3, other + 3, AUTH_TOKEN_ID_LEN), 0);
    ck_assert_int_ne(strcmp(text + 20, other + 20), 0);
    auth_table_free(t);
    ck_assert_uint_eq(auth_table_count(NULL), 0);
    auth_table_free(NULL);
}
END_TEST

START_TEST(test_wrong_secret)
{
    char text[AUTH_TOKEN_LEN + 1];
    create(NULL, NULL, NULL, text);
    auth_table_t *t = load(NULL, NULL);
    /* Right id, each position of the secret altered in turn. */
    for (size_t i = 3 + AUTH_TOKEN_ID_LEN + 1; i < AUTH_TOKEN_LEN; i++) {
        char bad[AUTH_TOKEN_LEN + 1];
        memcpy(bad, text, sizeof(bad));
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        ck_assert_int_eq(verify(t, NULL, bad, AUTH_TOKEN_LEN), AUTH_EINVALID);
    }
    /* A valid-looking token with an id nobody has. */
    char unknown[AUTH_TOKEN_LEN + 1];
    memcpy(unknown, text, sizeof(unknown));
    unknown[3] = unknown[3] == '0' ? '1' : '0';
    ck_assert_int_eq(verify(t, NULL, unknown, AUTH_TOKEN_LEN), AUTH_EINVALID);
    ck_assert_int_eq(verify(t, NULL, text, AUTH_TOKEN_LEN), AUTH_OK);
    auth_table_free(t);
}
END_TEST

/* A database with no tokens yet (a fresh server): an empty table that
 * verifies nothing. */
START_TEST(test_empty_table)
{
    auth_table_t *t = load(NULL, NULL);
    ck_assert_uint_eq(auth_table_count(t), 0);
    ck_assert_int_eq(verify(t, NULL, "pd_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", AUTH_TOKEN_LEN),
                     AUTH_EINVALID);
    auth_table_t *t2 = load(NULL, t);
    ck_assert_uint_eq(auth_table_count(t2), 0);
    auth_table_free(t2);
    auth_table_free(t);
}
END_TEST

START_TEST(test_malformed)
{
    char text[AUTH_TOKEN_LEN + 1];
    create(NULL, NULL, NULL, text);
    auth_table_t *t = load(NULL, NULL);
    char bad[AUTH_TOKEN_LEN + 2];

    ck_assert_int_eq(verify(t, NULL, "", 0), AUTH_EMISSING);
    ck_assert_int_eq(verify(t, NULL, text, 0), AUTH_EMISSING);
    ck_assert_int_eq(verify(t, NULL, text, AUTH_TOKEN_LEN - 1), AUTH_EINVALID); /* short */
    ck_assert_int_eq(verify(t, NULL, "pd_", 3), AUTH_EINVALID);
    ck_assert_int_eq(verify(t, NULL, "x", 1), AUTH_EINVALID);

    memcpy(bad, text, AUTH_TOKEN_LEN + 1);
    bad[AUTH_TOKEN_LEN] = 'A';
    bad[AUTH_TOKEN_LEN + 1] = '\0';
    ck_assert_int_eq(verify(t, NULL, bad, AUTH_TOKEN_LEN + 1), AUTH_EINVALID); /* long */

    memcpy(bad, text, AUTH_TOKEN_LEN + 1);
    bad[0] = 'x';
    ck_assert_int_eq(verify(t, NULL, bad, AUTH_TOKEN_LEN), AUTH_EINVALID); /* prefix */
    memcpy(bad, text, AUTH_TOKEN_LEN + 1);
    bad[2] = '-';
    ck_assert_int_eq(verify(t, NULL, bad, AUTH_TOKEN_LEN), AUTH_EINVALID);
    memcpy(bad, text, AUTH_TOKEN_LEN + 1);
    bad[3 + AUTH_TOKEN_ID_LEN] = '-';
    ck_assert_int_eq(verify(t, NULL, bad, AUTH_TOKEN_LEN), AUTH_EINVALID); /* separator */

    /* Upper-case hex in the id, characters outside base64url in the secret. */
    memcpy(bad, text, AUTH_TOKEN_LEN + 1);
    bad[3] = 'G';
    ck_assert_int_eq(verify(t, NULL, bad, AUTH_TOKEN_LEN), AUTH_EINVALID);
    const char *outside = "=+/ .\n";
    for (const char *c = outside; *c != '\0'; c++) {
        memcpy(bad, text, AUTH_TOKEN_LEN + 1);
        bad[AUTH_TOKEN_LEN - 5] = *c;
        ck_assert_int_eq(verify(t, NULL, bad, AUTH_TOKEN_LEN), AUTH_EINVALID);
    }
    /* Bearer prefix or surrounding space is the caller's to strip. */
    snprintf(bad, sizeof(bad), " %.*s", AUTH_TOKEN_LEN, text);
    ck_assert_int_eq(verify(t, NULL, bad, AUTH_TOKEN_LEN), AUTH_EINVALID);
    auth_table_free(t);
}
END_TEST

START_TEST(test_revoked)
{
    char keep[AUTH_TOKEN_LEN + 1], gone[AUTH_TOKEN_LEN + 1];
    create(NULL, NULL, "keep", keep);
    create(NULL, NULL, "gone", gone);
    auth_table_t *before = load(NULL, NULL);
    ck_assert_uint_eq(auth_table_count(before), 2);

    char id[AUTH_TOKEN_ID_LEN + 1];
    memcpy(id, gone + 3, AUTH_TOKEN_ID_LEN);
    id[AUTH_TOKEN_ID_LEN] = '\0';
    ck_assert_int_eq(auth_token_revoke(st, id, NOW_MS + 1000), AUTH_OK);
    ck_assert_int_eq(auth_token_revoke(st, id, NOW_MS + 2000), AUTH_ENOTFOUND);
    ck_assert_int_eq(auth_token_revoke(st, "0123456789abcdef", NOW_MS), AUTH_ENOTFOUND);

    /* A loaded table is immutable; the reloaded one no longer has it. */
    ck_assert_int_eq(verify(before, NULL, gone, AUTH_TOKEN_LEN), AUTH_OK);
    auth_table_t *after = load(NULL, before);
    ck_assert_uint_eq(auth_table_count(after), 1);
    ck_assert_int_eq(verify(after, NULL, gone, AUTH_TOKEN_LEN), AUTH_EINVALID);
    ck_assert_int_eq(verify(after, NULL, keep, AUTH_TOKEN_LEN), AUTH_OK);
    auth_table_free(before);
    auth_table_free(after);
}
END_TEST

START_TEST(test_permits)
{
    char branded[AUTH_TOKEN_LEN + 1], wide[AUTH_TOKEN_LEN + 1];
    create(NULL, "b1", NULL, branded);
    create(NULL, NULL, NULL, wide);
    auth_table_t *t = load(NULL, NULL);
    auth_token_t *b = NULL, *w = NULL;
    ck_assert_int_eq(auth_table_verify(t, NULL, branded, AUTH_TOKEN_LEN, &b), AUTH_OK);
    ck_assert_int_eq(auth_table_verify(t, NULL, wide, AUTH_TOKEN_LEN, &w), AUTH_OK);
    ck_assert_ptr_null(w->brand);

    storage_tenant_t own = storage_tenant("c1", "a1", "b1");
    storage_tenant_t other_brand = storage_tenant("c1", "a1", "b2");
    storage_tenant_t other_account = storage_tenant("c1", "a2", "b1");
    storage_tenant_t other_client = storage_tenant("c2", "a1", "b1");
    storage_tenant_t longer_client = storage_tenant("c10", "a1", "b1");
    storage_tenant_t longer_brand = storage_tenant("c1", "a1", "b1x");
    storage_tenant_t shorter_account = storage_tenant("c1", "a", "b1");

    ck_assert_int_eq(auth_token_permits(b, &own), AUTH_OK);
    ck_assert_int_eq(auth_token_permits(b, &other_brand), AUTH_EFORBIDDEN);
    ck_assert_int_eq(auth_token_permits(b, &other_account), AUTH_EFORBIDDEN);
    ck_assert_int_eq(auth_token_permits(b, &other_client), AUTH_EFORBIDDEN);
    ck_assert_int_eq(auth_token_permits(b, &longer_client), AUTH_EFORBIDDEN);
    ck_assert_int_eq(auth_token_permits(b, &longer_brand), AUTH_EFORBIDDEN);
    ck_assert_int_eq(auth_token_permits(b, &shorter_account), AUTH_EFORBIDDEN);

    ck_assert_int_eq(auth_token_permits(w, &own), AUTH_OK);
    ck_assert_int_eq(auth_token_permits(w, &other_brand), AUTH_OK);
    ck_assert_int_eq(auth_token_permits(w, &longer_brand), AUTH_OK);
    ck_assert_int_eq(auth_token_permits(w, &other_account), AUTH_EFORBIDDEN);
    ck_assert_int_eq(auth_token_permits(w, &other_client), AUTH_EFORBIDDEN);

    /* Tenant strings are lengths into a larger buffer (a URL path). */
    const char *path = "c1/a1/b1/profiles";
    storage_tenant_t slice = {path, 2, path + 3, 2, path + 6, 2};
    ck_assert_int_eq(auth_token_permits(b, &slice), AUTH_OK);
    slice.brand_len = 3;
    ck_assert_int_eq(auth_token_permits(b, &slice), AUTH_EFORBIDDEN);
    ck_assert_int_eq(auth_token_permits(w, &slice), AUTH_OK);
    auth_table_free(t);
}
END_TEST

START_TEST(test_pepper)
{
    char a[AUTH_TOKEN_LEN + 1], plain[AUTH_TOKEN_LEN + 1];
    create("pepper-A", NULL, NULL, a);
    create(NULL, NULL, NULL, plain);
    auth_table_t *t = load("pepper-A", NULL);
    ck_assert_int_eq(verify(t, "pepper-A", a, AUTH_TOKEN_LEN), AUTH_OK);
    ck_assert_int_eq(verify(t, "pepper-B", a, AUTH_TOKEN_LEN), AUTH_EINVALID);
    ck_assert_int_eq(verify(t, NULL, a, AUTH_TOKEN_LEN), AUTH_EINVALID);
    ck_assert_int_eq(verify(t, "pepper-A", plain, AUTH_TOKEN_LEN), AUTH_EINVALID);
    /* No pepper and an empty one both mean plain SHA-256. */
    ck_assert_int_eq(verify(t, NULL, plain, AUTH_TOKEN_LEN), AUTH_OK);
    ck_assert_int_eq(verify(t, "", plain, AUTH_TOKEN_LEN), AUTH_OK);
    auth_table_free(t);
}
END_TEST

static int
read_to_string(FILE *f, char *buf, size_t size)
{
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    return (int)n;
}

typedef struct {
    char text[AUTH_TOKEN_LEN + 1];
    int found;
    uint8_t hash[32];
    char id[AUTH_TOKEN_ID_LEN + 1];
    int64_t created_ms;
    int64_t revoked_ms;
} row_probe_t;

static int
probe_row(void *arg, const storage_token_row_t *row)
{
    row_probe_t *p = arg;
    if (strncmp(row->id, p->text + 3, AUTH_TOKEN_ID_LEN) != 0)
        return 0;
    p->found++;
    memcpy(p->hash, row->hash, 32);
    snprintf(p->id, sizeof(p->id), "%s", row->id);
    p->created_ms = row->created_ms;
    p->revoked_ms = row->revoked_ms;
    return 0;
}

static void
hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

START_TEST(test_list)
{
    char wide[AUTH_TOKEN_LEN + 1], branded[AUTH_TOKEN_LEN + 1];
    create(NULL, NULL, "dashboard", wide);
    create(NULL, "b1", "bad\tname\n", branded);
    char id[AUTH_TOKEN_ID_LEN + 1];
    snprintf(id, sizeof(id), "%.*s", AUTH_TOKEN_ID_LEN, branded + 3);
    ck_assert_int_eq(auth_token_revoke(st, id, NOW_MS + 60000), AUTH_OK);

    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(auth_token_list(st, f), AUTH_OK);
    char out[4096];
    read_to_string(f, out, sizeof(out));
    fclose(f);

    /* Header, then one line per token (revoked too), six fields each. */
    int lines = 0;
    for (char *p = out; *p != '\0'; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 3);
    ck_assert_int_eq(strncmp(out, "id\tscope\tname\tcreated\trevoked\tpermissions\n", 42), 0);

    char expect[256];
    snprintf(expect, sizeof(expect), "%.*s\tc1/a1/*\tdashboard\t2023-11-14T22:13:20.000Z\t-\tread,ingest\n", AUTH_TOKEN_ID_LEN,
             wide + 3);
    ck_assert_msg(strstr(out, expect) != NULL, "no line %s in\n%s", expect, out);
    snprintf(expect, sizeof(expect), "%s\tc1/a1/b1\tbad?name?\t2023-11-14T22:13:20.000Z\t2023-11-14T22:14:20.000Z\tread,ingest\n",
             id);
    ck_assert_msg(strstr(out, expect) != NULL, "no line %s in\n%s", expect, out);

    /* Neither a secret (whole or in part) nor a hash. */
    const char *texts[] = {wide, branded};
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_null(strstr(out, texts[i]));
        ck_assert_ptr_null(strstr(out, texts[i] + 3 + AUTH_TOKEN_ID_LEN + 1));
        char part[12];
        snprintf(part, sizeof(part), "%.11s", texts[i] + 3 + AUTH_TOKEN_ID_LEN + 1);
        ck_assert_ptr_null(strstr(out, part));
        row_probe_t p = {0};
        memcpy(p.text, texts[i], sizeof(p.text));
        ck_assert_int_eq(storage_token_foreach(st, probe_row, &p), STORAGE_OK);
        char h[65];
        hex(p.hash, 32, h);
        ck_assert_ptr_null(strstr(out, h));
        h[16] = '\0';
        ck_assert_ptr_null(strstr(out, h));
    }
}
END_TEST

/* Permission names both ways, and what a loaded token may do. */
START_TEST(test_permissions)
{
    unsigned p = 0;
    const char *bad = NULL;
    size_t bad_len = 0;
    ck_assert_int_eq(auth_perms_parse("read", &p, NULL, NULL), AUTH_OK);
    ck_assert_uint_eq(p, AUTH_PERM_READ);
    ck_assert_int_eq(auth_perms_parse("delete, ingest,ingest", &p, NULL, NULL), AUTH_OK);
    ck_assert_uint_eq(p, AUTH_PERM_INGEST | AUTH_PERM_DELETE);
    ck_assert_int_eq(auth_perms_parse("read,ingest,delete", &p, NULL, NULL), AUTH_OK);
    ck_assert_uint_eq(p, AUTH_PERM_ALL);
    p = 99;
    ck_assert_int_eq(auth_perms_parse("read,writ", &p, &bad, &bad_len), AUTH_EINVALID);
    ck_assert_uint_eq(p, 99); /* untouched */
    ck_assert_uint_eq(bad_len, 4);
    ck_assert_int_eq(strncmp(bad, "writ", 4), 0);
    ck_assert_int_eq(auth_perms_parse("", &p, &bad, &bad_len), AUTH_EINVALID);
    ck_assert_uint_eq(bad_len, 0);
    ck_assert_int_eq(auth_perms_parse("read,", &p, NULL, NULL), AUTH_EINVALID);
    ck_assert_int_eq(auth_perms_parse("Read", &p, NULL, NULL), AUTH_EINVALID);

    char out[32];
    ck_assert_str_eq(auth_perms_format(AUTH_PERM_DELETE | AUTH_PERM_READ, out, sizeof(out)), "read,delete");
    ck_assert_str_eq(auth_perms_format(AUTH_PERM_ALL, out, sizeof(out)), "read,ingest,delete");
    ck_assert_str_eq(auth_perms_format(AUTH_PERM_DEFAULT, out, sizeof(out)), "read,ingest");
    ck_assert_str_eq(auth_perms_format(0, out, sizeof(out)), "-");

    char ingest_only[AUTH_TOKEN_LEN + 1], deflt[AUTH_TOKEN_LEN + 1];
    ck_assert_int_eq(auth_token_create_perms(st, NULL, "c1", "a1", "b1", "web", 0, 0, AUTH_PERM_INGEST, NOW_MS, ingest_only,
                                             sizeof(ingest_only)),
                     AUTH_OK);
    create(NULL, "b1", "server", deflt);
    auth_table_t *t = load(NULL, NULL);
    auth_token_t *tok = NULL;
    ck_assert_int_eq(auth_table_verify(t, NULL, ingest_only, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_uint_eq(tok->permissions, AUTH_PERM_INGEST);
    ck_assert_int_eq(auth_token_allows(tok, AUTH_PERM_INGEST), AUTH_OK);
    ck_assert_int_eq(auth_token_allows(tok, AUTH_PERM_READ), AUTH_EFORBIDDEN);
    ck_assert_int_eq(auth_token_allows(tok, AUTH_PERM_READ | AUTH_PERM_INGEST), AUTH_EFORBIDDEN);
    ck_assert_int_eq(auth_table_verify(t, NULL, deflt, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_uint_eq(tok->permissions, AUTH_PERM_READ | AUTH_PERM_INGEST);
    ck_assert_int_eq(auth_token_allows(tok, AUTH_PERM_DELETE), AUTH_EFORBIDDEN);
    auth_table_free(t);
}
END_TEST

START_TEST(test_stored_hash)
{
    char text[AUTH_TOKEN_LEN + 1];
    const char *pepper = "server-pepper";
    create(pepper, NULL, NULL, text);
    row_probe_t p = {0};
    memcpy(p.text, text, sizeof(p.text));
    ck_assert_int_eq(storage_token_foreach(st, probe_row, &p), STORAGE_OK);
    ck_assert_int_eq(p.found, 1);
    ck_assert_int_eq(strncmp(p.id, text + 3, AUTH_TOKEN_ID_LEN), 0);
    ck_assert_int_eq(p.created_ms, NOW_MS);
    ck_assert_int_eq(p.revoked_ms, 0);

    /* The row holds HMAC-SHA-256(pepper, token) and nothing of the secret. */
    uint8_t want[32];
    unsigned int n = 0;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), pepper, (int)strlen(pepper), (const unsigned char *)text, AUTH_TOKEN_LEN, want, &n));
    ck_assert_int_eq(memcmp(p.hash, want, 32), 0);
    const char *secret = text + 3 + AUTH_TOKEN_ID_LEN + 1;
    ck_assert_int_ne(memcmp(p.hash, secret, 32), 0);
    ck_assert_int_ne(memcmp(p.hash, text, 32), 0);
    char h[65];
    hex(p.hash, 32, h);
    ck_assert_ptr_null(strstr(text, h));

    /* Without a pepper: plain SHA-256 of the whole text. */
    char plain[AUTH_TOKEN_LEN + 1];
    create(NULL, NULL, NULL, plain);
    row_probe_t q = {0};
    memcpy(q.text, plain, sizeof(q.text));
    ck_assert_int_eq(storage_token_foreach(st, probe_row, &q), STORAGE_OK);
    ck_assert_int_eq(EVP_Digest(plain, AUTH_TOKEN_LEN, want, &n, EVP_sha256(), NULL), 1);
    ck_assert_int_eq(memcmp(q.hash, want, 32), 0);
}
END_TEST

static int64_t
load_tat(_Atomic int64_t *tat)
{
    return atomic_load(tat);
}

START_TEST(test_reload_carries_tat)
{
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    create(NULL, NULL, NULL, a);
    auth_table_t *t1 = load(NULL, NULL);
    auth_token_t *tok = NULL;
    ck_assert_int_eq(auth_table_verify(t1, NULL, a, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_int_eq(load_tat(&tok->tat), 0);
    atomic_store(&tok->tat, 123456789);
    atomic_store(&tok->ingest_tat, 987654321);

    create(NULL, NULL, NULL, b);
    auth_table_t *t2 = load(NULL, t1);
    ck_assert_uint_eq(auth_table_count(t2), 2);
    auth_table_free(t1);
    ck_assert_int_eq(auth_table_verify(t2, NULL, a, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_int_eq(load_tat(&tok->tat), 123456789);
    ck_assert_int_eq(load_tat(&tok->ingest_tat), 987654321);
    ck_assert_int_eq(auth_table_verify(t2, NULL, b, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_int_eq(load_tat(&tok->tat), 0);
    ck_assert_int_eq(load_tat(&tok->ingest_tat), 0);

    /* Without a previous table every bucket starts full. */
    auth_table_t *t3 = load(NULL, NULL);
    ck_assert_int_eq(auth_table_verify(t3, NULL, a, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_int_eq(load_tat(&tok->tat), 0);
    auth_table_free(t2);
    auth_table_free(t3);
}
END_TEST

/* The per-thread cache answers as verification does: a hit once seen in
 * the same table, never another secret of the same id, never a token of
 * a table it was not found in (a reload's table drops a revoked one). */
START_TEST(test_verify_cached)
{
    static auth_vcache_t c; /* zeroed: empty */
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    create(NULL, "b1", "a", a);
    create(NULL, "b1", "b", b);
    auth_table_t *t = load(NULL, NULL);
    auth_token_t *tok = NULL, *first = NULL;
    ck_assert_int_eq(auth_table_verify_cached(t, NULL, &c, a, AUTH_TOKEN_LEN, &first), AUTH_OK);
    ck_assert_uint_eq(atomic_load(&c.misses), 1);
    ck_assert_int_eq(auth_table_verify_cached(t, NULL, &c, a, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_ptr_eq(tok, first);
    ck_assert_uint_eq(atomic_load(&c.hits), 1);
    /* the same id, each secret character changed in turn: refused */
    for (size_t i = 4 + AUTH_TOKEN_ID_LEN; i < AUTH_TOKEN_LEN; i++) {
        char forged[AUTH_TOKEN_LEN + 1];
        memcpy(forged, a, sizeof(forged));
        forged[i] = forged[i] == 'x' ? 'y' : 'x';
        tok = (auth_token_t *)1;
        ck_assert_int_eq(auth_table_verify_cached(t, NULL, &c, forged, AUTH_TOKEN_LEN, &tok), AUTH_EINVALID);
        ck_assert_ptr_null(tok);
    }
    ck_assert_int_eq(auth_table_verify_cached(t, NULL, &c, a, AUTH_TOKEN_LEN - 1, &tok), AUTH_EINVALID);
    ck_assert_int_eq(auth_table_verify_cached(t, NULL, &c, a, 0, &tok), AUTH_EMISSING);
    ck_assert_int_eq(auth_table_verify_cached(t, NULL, &c, b, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_str_eq(tok->name, "b");
    /* a revoked, the table reloaded: a's entry is of the old table */
    char id[AUTH_TOKEN_ID_LEN + 1];
    memcpy(id, a + 3, AUTH_TOKEN_ID_LEN);
    id[AUTH_TOKEN_ID_LEN] = '\0';
    ck_assert_int_eq(auth_token_revoke(st, id, NOW_MS + 1), AUTH_OK);
    auth_table_t *t2 = load(NULL, t);
    ck_assert_uint_ne(auth_table_serial(t2), auth_table_serial(t));
    tok = (auth_token_t *)1;
    ck_assert_int_eq(auth_table_verify_cached(t2, NULL, &c, a, AUTH_TOKEN_LEN, &tok), AUTH_EINVALID);
    ck_assert_ptr_null(tok);
    ck_assert_int_eq(auth_table_verify_cached(t2, NULL, &c, b, AUTH_TOKEN_LEN, &tok), AUTH_OK);
    ck_assert_str_eq(tok->name, "b");
    auth_table_free(t);
    auth_table_free(t2);
}
END_TEST

START_TEST(test_many_tokens)
{
    enum { N = 200 };
    static char texts[N][AUTH_TOKEN_LEN + 1];
    for (int i = 0; i < N; i++)
        create(NULL, NULL, NULL, texts[i]);
    auth_table_t *t = load(NULL, NULL);
    ck_assert_uint_eq(auth_table_count(t), N);
    for (int i = 0; i < N; i++) {
        auth_token_t *tok = NULL;
        ck_assert_int_eq(auth_table_verify(t, NULL, texts[i], AUTH_TOKEN_LEN, &tok), AUTH_OK);
        ck_assert_int_eq(strncmp(tok->id, texts[i] + 3, AUTH_TOKEN_ID_LEN), 0);
    }
    auth_table_free(t);
}
END_TEST

static Suite *
auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("tokens");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_create_verify);
    tcase_add_test(tc, test_wrong_secret);
    tcase_add_test(tc, test_empty_table);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_revoked);
    tcase_add_test(tc, test_permits);
    tcase_add_test(tc, test_pepper);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_permissions);
    tcase_add_test(tc, test_stored_hash);
    tcase_add_test(tc, test_reload_carries_tat);
    tcase_add_test(tc, test_many_tokens);
    tcase_add_test(tc, test_verify_cached);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    int failed = test_run_suite(auth_suite());
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
