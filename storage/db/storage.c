/* storage.c -- the connection above its backend: the connection struct's
 * life, errors, transactions (and the identity cache's validity across
 * them), tenant row ids, and the small statement helpers every layer uses.
 * Backend-neutral: it speaks the statement interface of db.h only. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../db/db.h"

#define IDCACHE_SLOTS (1u << 15)

int
stg_fail(storage_t *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
    return code;
}

int
stg_step_done(storage_t *st, stg_stmt_t *s)
{
    int rc = stg_step(st, s);
    stg_reset(s);
    return rc < 0 ? rc : 0;
}

void
stg_forget(storage_t *st)
{
    stg_idcache_clear(&st->ids);
    stg_defer_discard(st);
    st->tenant_id = 0;
    st->comp_tid = 0;
    st->n_announced = 0;
    st->suppressed_pending = 0;
}

void
stg_committed(storage_t *st)
{
    atomic_fetch_add_explicit(&st->commits, 1, memory_order_relaxed);
    /* Announcements hold for one transaction (computed/). */
    st->n_announced = 0;
    st->suppressed_total += st->suppressed_pending;
    st->suppressed_pending = 0;
}

storage_t *
stg_conn_new(int flags)
{
    storage_t *st = base_xcalloc(1, sizeof(*st));
    st->flags = flags;
    st->trait_history_days = STORAGE_TRAIT_HISTORY_DAYS_DEFAULT;
    stg_idcache_init(&st->ids, (flags & STORAGE_READONLY) ? 16 : IDCACHE_SLOTS);
    return st;
}

void
stg_conn_free(storage_t *st)
{
    stg_idcache_dispose(&st->ids);
    stg_defer_dispose(st);
    stg_seen_free(st);
    stg_rows_free(st);
    EVP_MAC_CTX_free(st->scroll_mac);
    free(st->scroll_kept);
    free(st->page_rows);
    base_jb_free(&st->page_text);
    base_jb_free(&st->page_data);
    free(st->tenant_key);
    free(st->jr_tags);
    free(st->view_tags);
    free(st);
}

const char *
storage_errmsg(const storage_t *st)
{
    return st->err;
}

static int
run(storage_t *st, enum stmt_id id)
{
    stg_stmt_t *s = stg_stmt(st, id);
    if (s == NULL)
        return STORAGE_EIO;
    return stg_step_done(st, s);
}

/* The identity cache outlives our transactions only while no other
 * connection (of this process or another) commits: PRAGMA data_version
 * changes exactly then. Checked when a transaction begins. */
static int
check_cache(storage_t *st)
{
    stg_stmt_t *s = stg_stmt(st, S_DATA_VERSION);
    int64_t v = 0;
    int ret = s != NULL ? stg_step_int64(st, s, &v) : STORAGE_EIO;
    if (ret == 0 && v != st->data_version) {
        stg_idcache_clear(&st->ids);
        st->data_version = v;
    }
    return ret;
}

int
storage_begin(storage_t *st)
{
    if (storage_damaged(NULL))
        return stg_fail(st, STORAGE_EIO, "the database is damaged: writes are refused (see profiled check)");
    stg_seen_drop(st);
    int ret = run(st, S_BEGIN_IMMEDIATE);
    return ret != 0 ? ret : check_cache(st);
}

int
storage_commit(storage_t *st)
{
    int ret = stg_defer_flush(st);
    stg_seen_drop(st);
    ret = ret != 0 ? ret : run(st, S_COMMIT);
    if (!stg_in_txn(st))
        st->pg_shared = false;
    return ret;
}

int
storage_rollback(storage_t *st)
{
    st->pg_shared = false;
    stg_seen_drop(st);
    if (!stg_in_txn(st))
        return 0;
    return run(st, S_ROLLBACK);
}

storage_tenant_t
storage_tenant(const char *client, const char *account, const char *brand)
{
    storage_tenant_t t = {
        .client = client,
        .client_len = client != NULL ? strlen(client) : 0,
        .account = account,
        .account_len = account != NULL ? strlen(account) : 0,
        .brand = brand,
        .brand_len = brand != NULL ? strlen(brand) : 0,
    };
    return t;
}

static bool
tenant_cached(const storage_t *st, const storage_tenant_t *t)
{
    if (st->tenant_id == 0 || st->tenant_lens[0] != t->client_len || st->tenant_lens[1] != t->account_len ||
        st->tenant_lens[2] != t->brand_len)
        return false;
    const char *k = st->tenant_key;
    return memcmp(k, t->client, t->client_len) == 0 && memcmp(k + t->client_len, t->account, t->account_len) == 0 &&
           (t->brand_len == 0 || memcmp(k + t->client_len + t->account_len, t->brand, t->brand_len) == 0);
}

static void
tenant_remember(storage_t *st, const storage_tenant_t *t, int64_t id)
{
    char *k = base_xrealloc(st->tenant_key, t->client_len + t->account_len + t->brand_len + 1);
    memcpy(k, t->client, t->client_len);
    memcpy(k + t->client_len, t->account, t->account_len);
    if (t->brand_len > 0)
        memcpy(k + t->client_len + t->account_len, t->brand, t->brand_len);
    st->tenant_key = k;
    st->tenant_lens[0] = t->client_len;
    st->tenant_lens[1] = t->account_len;
    st->tenant_lens[2] = t->brand_len;
    st->tenant_id = id;
}

int
stg_tenant_id(storage_t *st, const storage_tenant_t *t, bool create, int64_t *id)
{
    if (t == NULL || t->client == NULL || t->account == NULL)
        return stg_fail(st, STORAGE_EINVAL, "tenant needs clientId and accountId");
    if (tenant_cached(st, t)) {
        *id = st->tenant_id;
        return 0;
    }
    /* A NULL brand is the empty brand. */
    const char *brand = t->brand != NULL ? t->brand : "";
    stg_stmt_t *s = stg_stmt(st, S_TENANT_GET);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_text(s, 1, t->client, t->client_len);
    stg_bind_text(s, 2, t->account, t->account_len);
    stg_bind_text(s, 3, brand, t->brand_len);
    int rc = stg_step(st, s);
    if (rc == STG_ROW) {
        *id = stg_col_int64(s, 0);
        stg_reset(s);
        tenant_remember(st, t, *id);
        return 0;
    }
    int ret = rc == STG_DONE ? STORAGE_ENOTFOUND : rc;
    stg_reset(s);
    if (ret != STORAGE_ENOTFOUND || !create)
        return ret == STORAGE_ENOTFOUND ? stg_fail(st, ret, "no such tenant") : ret;

    if ((s = stg_stmt(st, S_TENANT_ADD)) == NULL)
        return STORAGE_EIO;
    stg_bind_text(s, 1, t->client, t->client_len);
    stg_bind_text(s, 2, t->account, t->account_len);
    stg_bind_text(s, 3, brand, t->brand_len);
    if ((ret = stg_step_done(st, s)) != 0)
        return ret;
    *id = stg_last_id(st);
    tenant_remember(st, t, *id);
    return 0;
}

int
stg_txn_open(storage_t *st, bool immediate, bool *began)
{
    *began = false;
    /* inside the caller's transaction (the writer's), pending writes must
     * be visible: flush them and join it */
    if (stg_in_txn(st))
        return stg_defer_flush(st);
    stg_stmt_t *s = stg_stmt(st, immediate ? S_BEGIN_IMMEDIATE : S_BEGIN);
    if (s == NULL)
        return STORAGE_EIO;
    int ret = stg_step_done(st, s);
    *began = ret == 0;
    return ret != 0 || !immediate ? ret : check_cache(st);
}

int
stg_txn_close(storage_t *st, bool began, int ret)
{
    if (!began)
        return ret;
    if (ret == 0) {
        stg_stmt_t *s = stg_stmt(st, S_COMMIT);
        ret = s != NULL ? stg_step_done(st, s) : STORAGE_EIO;
    }
    if (ret != 0)
        storage_rollback(st);
    return ret;
}

int
stg_txn_close_body(storage_t *st, bool began, int ret, jsonbuf_t *b, char **body, size_t *len)
{
    ret = stg_txn_close(st, began, ret);
    if (ret != 0) {
        base_jb_free(b);
        return ret;
    }
    *body = b->data;
    *len = b->len;
    return 0;
}

char *
stg_col_copy(stg_stmt_t *s, int col, size_t *len)
{
    const char *p = stg_col_text(s, col);
    *len = 0;
    if (p == NULL)
        return NULL;
    *len = (size_t)stg_col_bytes(s, col);
    return base_xstrndup(p, *len);
}

int
stg_suppressed(storage_t *st, int64_t tid, int type, const char *v, size_t n, bool *suppressed)
{
    stg_stmt_t *s = stg_stmt(st, S_SUPPRESS_HAS);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_int(s, 2, type);
    stg_bind_text(s, 3, v, n);
    int rc = stg_step(st, s);
    stg_reset(s);
    if (rc != STG_ROW && rc != STG_DONE)
        return rc;
    *suppressed = rc == STG_ROW;
    return 0;
}

int
stg_step_int64(storage_t *st, stg_stmt_t *s, int64_t *out)
{
    int rc = stg_step(st, s), ret = 0;
    if (rc == STG_ROW)
        *out = stg_col_int64(s, 0);
    else if (rc == STG_DONE)
        ret = stg_fail(st, STORAGE_EIO, "no row from: %s", stg_stmt_text(s));
    else
        ret = rc;
    stg_reset(s);
    return ret;
}

static const struct {
    const char *name;
    storage_id_type_t type;
} id_type_names[] = {
    {"userId", STORAGE_ID_USER}, {"anonymousId", STORAGE_ID_ANONYMOUS}, {"email", STORAGE_ID_EMAIL},
    {"id", STORAGE_ID_INTERNAL}, {"user_id", STORAGE_ID_USER},          {"anonymous_id", STORAGE_ID_ANONYMOUS},
};

int
storage_id_type_parse(const char *name, size_t n, storage_id_type_t *out)
{
    for (size_t i = 0; i < sizeof(id_type_names) / sizeof(id_type_names[0]); i++)
        if (strlen(id_type_names[i].name) == n && memcmp(id_type_names[i].name, name, n) == 0) {
            *out = id_type_names[i].type;
            return 0;
        }
    return -1;
}

const char *
storage_id_type_name(storage_id_type_t type)
{
    /* the first four rows are the types in order */
    return (unsigned)type < 4 ? id_type_names[type].name : "?";
}

uint64_t
storage_round_trips(const storage_t *st)
{
    return st->pg_round_trips;
}

uint64_t
storage_rows_received(const storage_t *st)
{
    return st->pg_rows_in;
}

void
storage_idle(storage_t *st)
{
    if (st != NULL && st->pg)
        stg_pg_pipe_settle(st);
}

uint64_t
storage_commits(const storage_t *st)
{
    return atomic_load_explicit(&((storage_t *)st)->commits, memory_order_relaxed);
}

int
stg_scroll_key_create(storage_t *st)
{
    unsigned char key[STG_SCROLL_KEY_BYTES];
    if (RAND_bytes(key, sizeof(key)) != 1)
        return stg_fail(st, STORAGE_EIO, "no random bytes for the scrollId key");
    stg_stmt_t *s = stg_stmt(st, S_SCROLL_KEY_ADD);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_blob(s, 1, key, sizeof(key));
    int ret = stg_step_done(st, s);
    OPENSSL_cleanse(key, sizeof(key));
    return ret;
}

int
stg_scroll_key_load(storage_t *st)
{
    stg_stmt_t *s = stg_stmt(st, S_SCROLL_KEY_GET);
    if (s == NULL)
        return STORAGE_EIO;
    int rc = stg_step(st, s), ret = 0;
    if (rc != STG_ROW || stg_col_bytes(s, 0) != STG_SCROLL_KEY_BYTES)
        ret = rc < 0 ? rc : stg_fail(st, STORAGE_EIO, "the database has no scrollId key");
    else
        memcpy(st->scroll_key, stg_col_blob(s, 0), STG_SCROLL_KEY_BYTES);
    stg_reset(s);
    if (ret == 0) {
        EVP_MAC_CTX_free(st->scroll_mac);
        st->scroll_mac = NULL;
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                               OSSL_PARAM_construct_end()};
        if (ctx != NULL && EVP_MAC_init(ctx, st->scroll_key, STG_SCROLL_KEY_BYTES, params) == 1)
            st->scroll_mac = ctx;
        else
            EVP_MAC_CTX_free(ctx); /* cursor.c falls back to HMAC() */
        EVP_MAC_free(mac);
    }
    return ret;
}

/* ---- a database path as a log line may show it (storage.h) ---- */

/* Appends n bytes of p to buf (cap bytes, *o used), as far as they fit. */
static void
shown_put(char *buf, size_t cap, size_t *o, const char *p, size_t n)
{
    if (n > cap - 1 - *o)
        n = cap - 1 - *o;
    memcpy(buf + *o, p, n);
    *o += n;
}

bool
storage_is_url(const char *path)
{
    return stg_pg_url(path);
}

const char *
storage_path_shown(const char *path, char *buf, size_t cap)
{
    if (!stg_pg_url(path) || cap == 0)
        return path;
    const char *auth = strstr(path, "://") + 3, *query = auth + strcspn(auth, "/?");
    const char *at = memchr(auth, '@', (size_t)(query - auth));
    const char *colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    query = strchr(query, '?');
    size_t o = 0;
    if (colon != NULL) { /* user:PASSWORD@host */
        shown_put(buf, cap, &o, path, (size_t)(colon + 1 - path));
        shown_put(buf, cap, &o, "***", 3);
        shown_put(buf, cap, &o, at, (size_t)((query != NULL ? query : at + strlen(at)) - at));
    } else {
        shown_put(buf, cap, &o, path, (size_t)((query != NULL ? query : path + strlen(path)) - path));
    }
    /* ?key=value&...: password=*** */
    for (const char *k = query; k != NULL && *k != '\0';) {
        const char *next = strchr(k + 1, '&');
        size_t n = next != NULL ? (size_t)(next - k) : strlen(k);
        if (strncmp(k + 1, "password=", 9) == 0) {
            shown_put(buf, cap, &o, k, 10);
            shown_put(buf, cap, &o, "***", 3);
        } else {
            shown_put(buf, cap, &o, k, n);
        }
        k = next;
    }
    buf[o] = '\0';
    return buf;
}
