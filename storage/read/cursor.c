/* cursor.c -- scroll cursors, shared by the events timeline (events.c) and
 * trait history (history.c): a scroll's first and next page around a page
 * builder of each kind, and the sealed scrollId that carries the cursor.
 *
 * A scrollId is the cursor itself: its state (kind, tenant, the scroll's
 * random nonce and the page's sequence number, query, snapshot mark,
 * keyset position, deadline, profiles) in a compact binary form, then the
 * first 16 bytes of HMAC-SHA256 under the database's key (db/: schema step
 * 9, read at open) over a label, the profile path the scroll was started
 * on (idType and id, an email lower-cased) and that state; URL-safe base64
 * without padding. Nothing is stored in the database: a page is a read
 * transaction, and any process holding the database's key continues the
 * scroll from the position its id seals. Within one process the scroll
 * table (scrolltab.c) also keeps each scroll's newest position, so an
 * older id of the scroll (a client reusing its first scrollId) continues
 * where the scroll is. The path is authenticated but not carried, so a
 * scrollId is refused on any other path. */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include "../read/read.h"

#define SEAL_VERSION 2 /* 2: the nonce and sequence number */
#define TAG_BYTES 16
#define LABEL "profiled scrollId 1"

enum { F_DESC = 1, F_POS = 2, F_RESOLVE = 4, F_INCLUDE = 8, F_EXCLUDE = 16, F_START = 32, F_END = 64, F_SNAP = 128 };

void
stg_scroll_free(stg_scroll_t *sc)
{
    free(sc->profiles);
    free(sc->pks);
    free(sc->include);
    free(sc->exclude);
    free(sc->trait);
    free(sc->pos_id);
    free(sc->snap);
}

static int64_t
expiry(int64_t now_ms, int64_t ttl_ms)
{
    if (ttl_ms > 0 && now_ms > INT64_MAX - ttl_ms)
        return INT64_MAX;
    if (ttl_ms < 0 && now_ms < INT64_MIN - ttl_ms)
        return INT64_MIN;
    return now_ms + ttl_ms;
}

/* ---- the byte form ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} bytes_t;

static void
put(bytes_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = base_xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void
put_u8(bytes_t *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void
put_uvar(bytes_t *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            tmp[n] |= 0x80;
        n++;
    } while (v != 0);
    put(b, tmp, n);
}

static void
put_svar(bytes_t *b, int64_t v)
{
    put_uvar(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63)); /* zigzag */
}

static void
put_text(bytes_t *b, const char *s, size_t n)
{
    put_uvar(b, n);
    put(b, s, n);
}

/* A reader that fails for good on the first short or odd field. */
typedef struct {
    const unsigned char *p;
    size_t n;
    bool bad;
} reader_t;

static unsigned
get_u8(reader_t *r)
{
    if (r->bad || r->n < 1) {
        r->bad = true;
        return 0;
    }
    r->n--;
    return *r->p++;
}

static uint64_t
get_uvar(reader_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        unsigned c = get_u8(r);
        if (r->bad)
            return 0;
        v |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0)
            return v;
    }
    r->bad = true;
    return 0;
}

static int64_t
get_svar(reader_t *r)
{
    uint64_t u = get_uvar(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A malloc'd NUL-ended copy of a length-prefixed text (no NUL inside). */
static char *
get_text(reader_t *r, size_t *len)
{
    uint64_t n = get_uvar(r);
    if (r->bad || n > r->n || memchr(r->p, '\0', (size_t)n) != NULL) {
        r->bad = true;
        return NULL;
    }
    char *s = base_xstrndup((const char *)r->p, (size_t)n);
    r->p += n;
    r->n -= (size_t)n;
    if (len != NULL)
        *len = (size_t)n;
    return s;
}

/* ---- URL-safe base64 without padding: the decoder (base_base64url
 * encodes) ---- */

static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Decodes into out (n * 3 / 4 bytes); false for any other character, a
 * length no encoding has, or stray low bits. */
static bool
b64_decode(const char *in, size_t n, unsigned char *out, size_t *out_len)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    if (n % 4 == 1)
        return false;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return false; /* one id, one spelling */
    *out_len = o;
    return true;
}

/* ---- sealing ---- */

/* A scrollId key: its bytes and the keyed HMAC context made from them
 * (NULL: none, HMAC() each time). A connection's (st->scroll_key,
 * st->scroll_mac) or a sealer's (storage_sealer_new). */
typedef struct {
    const unsigned char *key;
    void *mac;
} sealkey_t;

static sealkey_t
key_of(const storage_t *st)
{
    return (sealkey_t){st->scroll_key, st->scroll_mac};
}

/* The tag of body for the path (id_type, id): HMAC-SHA256 of the label,
 * the path and body, truncated. */
static void
tag_of(const sealkey_t *k, storage_id_type_t id_type, const char *id, size_t id_len, const unsigned char *body, size_t n,
       unsigned char tag[TAG_BYTES])
{
    bytes_t m = {0};
    put(&m, LABEL, sizeof(LABEL));
    put_u8(&m, (unsigned)id_type);
    put_uvar(&m, id_len);
    size_t at = m.n;
    put(&m, id, id_len);
    if (id_type == STORAGE_ID_EMAIL) /* as the lookup: emails are stored lower-cased */
        for (size_t i = at; i < m.n; i++)
            m.p[i] = (unsigned char)tolower(m.p[i]);
    put(&m, body, n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    size_t out = 0;
    EVP_MAC_CTX *mac = k->mac;
    /* the key's context made at open, restarted (a NULL key keeps its
     * own); the one-shot HMAC() looks the algorithms up every time */
    if (mac != NULL && EVP_MAC_init(mac, NULL, 0, NULL) == 1 && EVP_MAC_update(mac, m.p, m.n) == 1 &&
        EVP_MAC_final(mac, md, &out, sizeof(md)) == 1 && out >= TAG_BYTES)
        md_len = (unsigned)out;
    else if (HMAC(EVP_sha256(), k->key, STG_SCROLL_KEY_BYTES, m.p, m.n, md, &md_len) == NULL || md_len < TAG_BYTES)
        abort(); /* SHA-256 is always there */
    memcpy(tag, md, TAG_BYTES);
    free(m.p);
}

/* sc's state in its byte form (what a scrollId seals) into b. */
static void
state_of(const stg_scroll_t *sc, bytes_t *b_out)
{
    bytes_t b = {0};
    unsigned flags = (sc->desc ? F_DESC : 0) | (sc->has_pos ? F_POS : 0) | (sc->resolve ? F_RESOLVE : 0) |
                     (sc->include != NULL ? F_INCLUDE : 0) | (sc->exclude != NULL ? F_EXCLUDE : 0) |
                     (sc->start_ms != INT64_MIN ? F_START : 0) | (sc->end_ms != INT64_MAX ? F_END : 0) |
                     (sc->snap != NULL ? F_SNAP : 0);
    put_u8(&b, SEAL_VERSION);
    put_u8(&b, (unsigned char)sc->kind);
    put_u8(&b, flags);
    put(&b, sc->nonce, STG_SCROLL_NONCE_BYTES);
    put_uvar(&b, sc->seq);
    put_uvar(&b, (uint64_t)sc->tid);
    put_svar(&b, sc->expires_ms);
    put_svar(&b, sc->mark);
    if (sc->snap != NULL)
        put_text(&b, sc->snap, sc->snap_len);
    if (sc->start_ms != INT64_MIN)
        put_svar(&b, sc->start_ms);
    if (sc->end_ms != INT64_MAX)
        put_svar(&b, sc->end_ms);
    put_uvar(&b, (uint64_t)sc->limit);
    put_uvar(&b, sc->nprofiles);
    if (sc->resolve)
        put_svar(&b, sc->pmark);
    else
        for (size_t i = 0; i < sc->nprofiles; i++)
            put_svar(&b, sc->pks[i]);
    if (sc->include != NULL)
        put_text(&b, sc->include, strlen(sc->include));
    if (sc->exclude != NULL)
        put_text(&b, sc->exclude, strlen(sc->exclude));
    if (sc->kind == STG_SCROLL_HISTORY)
        put_text(&b, sc->trait != NULL ? sc->trait : "", sc->trait != NULL ? sc->trait_len : 0);
    if (sc->has_pos) {
        put_svar(&b, sc->pos_time_ms);
        put_text(&b, sc->pos_id, sc->pos_id_len);
    }
    *b_out = b;
}

/* The scrollId of state bytes p[0..n) on path (id_type, id) under key k:
 * malloc'd, its length in *len. */
static char *
seal_bytes(const sealkey_t *k, const unsigned char *p, size_t n, storage_id_type_t id_type, const char *id, size_t id_len,
           size_t *len)
{
    bytes_t b = {0};
    put(&b, p, n);
    unsigned char tag[TAG_BYTES];
    tag_of(k, id_type, id, id_len, b.p, b.n, tag);
    put(&b, tag, TAG_BYTES);
    char *out = base_xmalloc((b.n * 8 + 5) / 6 + 1);
    *len = base_base64url(b.p, b.n, out);
    free(b.p);
    return out;
}

/* The scrollId of sc's state on path (id_type, id): malloc'd, its length
 * in *len. With kept: its state bytes are also left there (malloc'd). */
static char *
seal(const storage_t *st, const stg_scroll_t *sc, storage_id_type_t id_type, const char *id, size_t id_len, size_t *len,
     bytes_t *kept)
{
    bytes_t b;
    state_of(sc, &b);
    sealkey_t k = key_of(st);
    char *out = seal_bytes(&k, b.p, b.n, id_type, id, id_len, len);
    if (kept != NULL)
        *kept = b;
    else
        free(b.p);
    return out;
}

/* The JSON array text of n pks. */
static char *
pk_array(const int64_t *pks, size_t n)
{
    jsonbuf_t j;
    base_jb_init(&j, 16 + n * 8);
    base_jb_open(&j, '[');
    for (size_t i = 0; i < n; i++)
        base_jb_int(&j, pks[i]);
    base_jb_close(&j, ']');
    return j.data;
}

/* sc (zeroed first) from state bytes p[0..n) of kind: 0, or -1 when they
 * are not a whole state of ours (sc then holds what was read: free it). */
static int
parse_state(const unsigned char *p, size_t n, char kind, stg_scroll_t *sc)
{
    reader_t r = {p, n, false};
    memset(sc, 0, sizeof(*sc));
    unsigned version = get_u8(&r);
    sc->kind = (char)get_u8(&r);
    unsigned flags = get_u8(&r);
    for (size_t i = 0; i < STG_SCROLL_NONCE_BYTES; i++)
        sc->nonce[i] = (unsigned char)get_u8(&r);
    sc->seq = get_uvar(&r);
    sc->tid = (int64_t)get_uvar(&r);
    sc->expires_ms = get_svar(&r);
    sc->mark = get_svar(&r);
    if (flags & F_SNAP)
        sc->snap = get_text(&r, &sc->snap_len);
    sc->start_ms = (flags & F_START) ? get_svar(&r) : INT64_MIN;
    sc->end_ms = (flags & F_END) ? get_svar(&r) : INT64_MAX;
    uint64_t limit = get_uvar(&r), np = get_uvar(&r);
    sc->desc = (flags & F_DESC) != 0;
    sc->has_pos = (flags & F_POS) != 0;
    sc->resolve = (flags & F_RESOLVE) != 0;
    if (r.bad || version != SEAL_VERSION || sc->kind != kind || limit < 1 || limit > STG_SCROLL_MAX_LIMIT || np < 1 ||
        (!sc->resolve && np > STG_SCROLL_INLINE))
        return -1;
    sc->limit = (int)limit;
    sc->nprofiles = (size_t)np;
    if (sc->resolve) {
        sc->pmark = get_svar(&r);
    } else {
        sc->pks = base_xcalloc((size_t)np, sizeof(*sc->pks));
        sc->npks = (size_t)np;
        for (size_t i = 0; i < np; i++)
            sc->pks[i] = get_svar(&r);
        sc->profiles = pk_array(sc->pks, sc->npks);
    }
    if (flags & F_INCLUDE)
        sc->include = get_text(&r, NULL);
    if (flags & F_EXCLUDE)
        sc->exclude = get_text(&r, NULL);
    if (sc->kind == STG_SCROLL_HISTORY)
        sc->trait = get_text(&r, &sc->trait_len);
    if (sc->has_pos) {
        sc->pos_time_ms = get_svar(&r);
        sc->pos_id = get_text(&r, &sc->pos_id_len);
    }
    return r.bad || r.n != 0 ? -1 : 0;
}

int
stg_scroll_unseal(const storage_t *st, storage_id_type_t id_type, const char *id, size_t id_len, const char *scroll_id,
                  size_t scroll_id_len, char kind, int64_t now_ms, stg_scroll_t *sc)
{
    unsigned char *raw;
    size_t n = 0;
    int ret = STORAGE_ENOTFOUND;
    memset(sc, 0, sizeof(*sc));
    if (scroll_id == NULL || scroll_id_len > STG_SCROLL_ID_MAX || id == NULL)
        return ret;
    raw = base_xmalloc(scroll_id_len * 3 / 4 + 1);
    if (!b64_decode(scroll_id, scroll_id_len, raw, &n) || n < 3 + TAG_BYTES)
        goto out;
    unsigned char tag[TAG_BYTES];
    sealkey_t k = key_of(st);
    tag_of(&k, id_type, id, id_len, raw, n - TAG_BYTES, tag);
    if (CRYPTO_memcmp(tag, raw + n - TAG_BYTES, TAG_BYTES) != 0)
        goto out;
    /* Ours from here on; still read with every bound checked. Authentic,
     * so only its age and owner are left to check. */
    if (parse_state(raw, n - TAG_BYTES, kind, sc) != 0 || sc->expires_ms <= now_ms)
        goto out;
    ret = 0;
out:
    free(raw);
    if (ret != 0) {
        stg_scroll_free(sc);
        memset(sc, 0, sizeof(*sc));
    }
    return ret;
}

/* ---- the profiles ---- */

/* The pks of the profiles id leads to (at most the first cap counted past,
 * those above pmark left out), malloc'd into *out, their count in *count. */
static int
find_profiles(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len, int64_t pmark, int64_t **out,
              size_t *count)
{
    char *lower;
    int rc, ret = 0;
    size_t cap = 0;
    *out = NULL;
    *count = 0;
    stg_stmt_t *s = stg_profile_lookup(st, tid, id_type, id, id_len, &lower);
    if (s == NULL)
        return STORAGE_EIO;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        int64_t pk = stg_col_int64(s, 0);
        if (pk > pmark)
            continue; /* created after the scroll began */
        if (*count == cap) {
            cap = cap ? cap * 2 : 8;
            *out = base_xrealloc(*out, cap * sizeof(**out));
        }
        (*out)[(*count)++] = pk;
    }
    if (rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    free(lower);
    return ret;
}

/* A scroll's first statements, the path's profiles and the snapshot mark,
 * do not depend on each other: asked at once (stg_prefetch; on
 * PostgreSQL one exchange), bound as find_profiles binds them. */
static void
prefetch_begin(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len, enum stmt_id mark_stmt)
{
    char *lower;
    stg_stmt_t *v[2] = {stg_profile_lookup(st, tid, id_type, id, id_len, &lower), stg_stmt(st, mark_stmt)};
    stg_prefetch(st, v, 2);
    free(lower);
}

/* The snapshot mark into sc: the highest row id, and on PostgreSQL the
 * snapshot it was read in (its second column). */
static int
read_mark(storage_t *st, enum stmt_id mark_stmt, stg_scroll_t *sc)
{
    stg_stmt_t *s = stg_stmt(st, mark_stmt);
    if (s == NULL)
        return STORAGE_EIO;
    int rc = stg_step(st, s), ret = 0;
    if (rc == STG_ROW) {
        sc->mark = stg_col_int64(s, 0);
        if (STG_IS_PG(s))
            sc->snap = stg_col_copy(s, 1, &sc->snap_len);
    } else {
        ret = rc == STG_DONE ? stg_fail(st, STORAGE_EIO, "no row from: %s", stg_stmt_text(s)) : rc;
    }
    stg_reset(s);
    return ret;
}

/* A page's body into b: {"scrollId": sid, "data": data}. */
static void
frame(jsonbuf_t *b, const char *sid, size_t n, const char *data, size_t data_len)
{
    base_jb_init(b, data_len + n + 32);
    base_jb_open(b, '{');
    base_jb_key(b, "scrollId", 8);
    base_jb_str(b, sid, n);
    base_jb_key(b, "data", 4);
    base_jb_raw(b, data, data_len);
    base_jb_close(b, '}');
}

/* Builds the page after sc's position and its body (frame). With keep (a
 * first page, st->scroll_kept NULL): the state after it and where its data
 * stands in the body are left on st for storage_scroll_kept. */
static int
build(storage_t *st, const storage_tenant_t *tenant, stg_scroll_t *sc, storage_id_type_t id_type, const char *id, size_t id_len,
      stg_page_fn page, bool keep, jsonbuf_t *b)
{
    jsonbuf_t *data = &st->page_data;
    stg_scratch_take(data);
    int ret = page(st, tenant, sc->tid, sc, data);
    if (ret == 0) {
        size_t n;
        bytes_t kept = {0};
        char *sid = seal(st, sc, id_type, id, id_len, &n, keep ? &kept : NULL);
        if (n > STG_SCROLL_ID_MAX) {
            ret = stg_fail(st, STORAGE_EINVAL, "the query is too long to scroll");
            free(kept.p);
        } else {
            frame(b, sid, n, data->data, data->len);
            if (keep) {
                st->scroll_kept = kept.p;
                st->scroll_kept_len = kept.n;
                st->scroll_kept_data = b->len - 1 - data->len; /* before the closing brace */
                st->scroll_kept_data_len = data->len;
            }
        }
        free(sid);
    }
    stg_scratch_done(data);
    return ret;
}

int
stg_scroll_begin(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                 stg_scroll_t *sc, enum stmt_id mark_stmt, stg_page_fn page, int64_t now_ms, int64_t ttl_ms, char **body,
                 size_t *len)
{
    jsonbuf_t b = {0};
    bool began = false;
    int ret;
    *body = NULL;
    *len = 0;
    if (id == NULL || (unsigned)id_type > STORAGE_ID_INTERNAL) {
        ret = stg_fail(st, STORAGE_EINVAL, "invalid id type or query");
        goto out;
    }
    if (sc->limit < 1 || sc->limit > STG_SCROLL_MAX_LIMIT) {
        ret = stg_fail(st, STORAGE_EINVAL, "limit must be 1..%d", STG_SCROLL_MAX_LIMIT);
        goto out;
    }
    size_t query = (sc->include != NULL ? strlen(sc->include) : 0) + (sc->exclude != NULL ? strlen(sc->exclude) : 0) +
                   (sc->trait != NULL ? sc->trait_len : 0);
    if (query > STG_SCROLL_MAX_QUERY) {
        ret = stg_fail(st, STORAGE_EINVAL, "include, exclude and trait may have %d bytes at most", STG_SCROLL_MAX_QUERY);
        goto out;
    }
    free(st->scroll_kept);
    st->scroll_kept = NULL;
    st->scroll_kept_len = 0;
    /* A read transaction: the lookup, the mark and the page see one state. */
    if ((ret = stg_txn_open(st, false, &began)) != 0)
        goto done;
    if ((ret = stg_tenant_id(st, tenant, false, &sc->tid)) != 0)
        goto done;
    prefetch_begin(st, sc->tid, id_type, id, id_len, mark_stmt);
    if ((ret = find_profiles(st, sc->tid, id_type, id, id_len, INT64_MAX, &sc->pks, &sc->npks)) != 0)
        goto done;
    /* what the page is built from, for a cache of first pages
     * (storage_view_tags): the path's lookup and its profiles */
    stg_view_tags_begin(st, sc->tid, id_type, id, id_len);
    for (size_t i = 0; i < sc->npks; i++)
        stg_view_tags_pk(st, sc->pks[i]);
    if (sc->npks == 0) {
        ret = STORAGE_ENOTFOUND;
        goto done;
    }
    sc->nprofiles = sc->npks;
    if (sc->npks > STG_SCROLL_INLINE) {
        /* Too many to carry: later pages look the path up again and keep
         * the profiles that existed now (pks only grow). */
        sc->resolve = true;
        sc->pmark = sc->pks[0];
        for (size_t i = 1; i < sc->npks; i++)
            sc->pmark = sc->pks[i] > sc->pmark ? sc->pks[i] : sc->pmark;
    }
    sc->profiles = pk_array(sc->pks, sc->npks);
    if ((ret = read_mark(st, mark_stmt, sc)) != 0)
        goto done;
    sc->expires_ms = expiry(now_ms, ttl_ms);
    if (RAND_bytes(sc->nonce, STG_SCROLL_NONCE_BYTES) != 1) {
        ret = stg_fail(st, STORAGE_EIO, "no random bytes for a scroll");
        goto done;
    }
    sc->seq = 1;
    ret = build(st, tenant, sc, id_type, id, id_len, page, true, &b);
done:
    if (ret == STORAGE_ENOTFOUND)
        stg_fail(st, ret, "profile not found");
    ret = stg_txn_close_body(st, began, ret, &b, body, len);
out:
    stg_scroll_free(sc);
    return ret;
}

int
stg_scroll_next(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                const char *scroll_id, size_t scroll_id_len, char kind, stg_page_fn page, int64_t now_ms, int64_t ttl_ms,
                char **body, size_t *len)
{
    stg_scroll_t sc;
    jsonbuf_t b = {0};
    int64_t tid;
    bool began = false;
    int ret;
    *body = NULL;
    *len = 0;
    if (stg_scroll_unseal(st, id_type, id, id_len, scroll_id, scroll_id_len, kind, now_ms, &sc) != 0)
        return stg_fail(st, STORAGE_ENOTFOUND, "scrollId is invalid or has timed out");
    /* An older id of a scroll this process paged further: from where the
     * scroll is, not from where that id was. */
    stg_scroll_t pos = {0};
    if (stg_scrolltab_newer(&sc, now_ms, &pos)) {
        free(sc.pos_id);
        sc.seq = pos.seq;
        sc.has_pos = pos.has_pos;
        sc.pos_time_ms = pos.pos_time_ms;
        sc.pos_id = pos.pos_id;
        sc.pos_id_len = pos.pos_id_len;
    }
    sc.seq++;
    if ((ret = stg_txn_open(st, false, &began)) != 0)
        goto done;
    if ((ret = stg_tenant_id(st, tenant, false, &tid)) != 0)
        goto done;
    if (tid != sc.tid) {
        ret = STORAGE_ENOTFOUND; /* another tenant's */
        goto done;
    }
    if (sc.resolve) {
        if ((ret = find_profiles(st, tid, id_type, id, id_len, sc.pmark, &sc.pks, &sc.npks)) != 0)
            goto done;
        if (sc.npks != sc.nprofiles) {
            ret = STORAGE_ENOTFOUND; /* the email's profiles changed */
            goto done;
        }
        sc.profiles = pk_array(sc.pks, sc.npks);
    }
    sc.expires_ms = expiry(now_ms, ttl_ms);
    ret = build(st, tenant, &sc, id_type, id, id_len, page, false, &b);
done:
    if (ret == STORAGE_ENOTFOUND)
        stg_fail(st, ret, "scrollId is invalid or has timed out");
    ret = stg_txn_close_body(st, began, ret, &b, body, len);
    if (ret == 0) /* the position of the scrollId just answered */
        stg_scrolltab_put(&sc, now_ms);
    stg_scroll_free(&sc);
    return ret;
}

/* ---- first pages kept by a cache ---- */

struct storage_sealer {
    unsigned char key[STG_SCROLL_KEY_BYTES];
    EVP_MAC_CTX *mac;
};

storage_sealer_t *
storage_sealer_new(const storage_t *st)
{
    storage_sealer_t *s = base_xcalloc(1, sizeof(*s));
    memcpy(s->key, st->scroll_key, STG_SCROLL_KEY_BYTES);
    if (st->scroll_mac != NULL)
        s->mac = EVP_MAC_CTX_dup(st->scroll_mac); /* NULL: HMAC() each time */
    return s;
}

void
storage_sealer_free(storage_sealer_t *s)
{
    if (s == NULL)
        return;
    EVP_MAC_CTX_free(s->mac);
    OPENSSL_cleanse(s->key, sizeof(s->key));
    free(s);
}

int
storage_scroll_kept(const storage_t *st, const unsigned char **state, size_t *n, size_t *data_off, size_t *data_len)
{
    *state = st->scroll_kept;
    *n = st->scroll_kept_len;
    *data_off = st->scroll_kept_data;
    *data_len = st->scroll_kept_data_len;
    return st->scroll_kept != NULL ? 0 : -1;
}

char *
storage_scroll_reseal(storage_sealer_t *s, const unsigned char *state, size_t n, const char *data, size_t data_len,
                      storage_id_type_t id_type, const char *id, size_t id_len, int64_t now_ms, int64_t ttl_ms, size_t *len)
{
    stg_scroll_t sc;
    jsonbuf_t body = {0};
    *len = 0;
    /* a first page's state: no scroll of its own yet (the page's position
     * and mark stay; nonce, page number and deadline are this answer's) */
    if (parse_state(state, n, STG_SCROLL_EVENTS, &sc) == 0 && sc.seq == 1 && RAND_bytes(sc.nonce, STG_SCROLL_NONCE_BYTES) == 1) {
        sc.expires_ms = expiry(now_ms, ttl_ms);
        bytes_t b;
        state_of(&sc, &b);
        sealkey_t k = {s->key, s->mac};
        size_t sid_len;
        char *sid = seal_bytes(&k, b.p, b.n, id_type, id, id_len, &sid_len);
        frame(&body, sid, sid_len, data, data_len);
        *len = body.len;
        free(sid);
        free(b.p);
    }
    stg_scroll_free(&sc);
    return body.data;
}
