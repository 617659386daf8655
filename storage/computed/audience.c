/* audience.c -- static audiences: member lists imported from CSV (a userId
 * or email column; profiles created for ids nobody has, with createdBy
 * type "audience-csv"), removed by list or as a whole, and listed with
 * their member counts. Bad rows are reported by line; the rest go in. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "../computed/computed.h"

#define COMMIT_ROWS 10000
#define MAX_ID_BYTES 1024
#define MAX_EMAIL_BYTES 320
#define MAX_AUDIENCE_NAME 256

/* ---- members ---- */
typedef struct {
    storage_t *st;
    int64_t tid;
    const char *name;
    size_t name_len;
    bool remove;
    char *created_by;
    int64_t now_ms;
    FILE *errout;
    storage_audience_counts_t c;
    int uid_col, email_col; /* -1: none */
    bool header_done;
    int64_t *pks;
    size_t npks, pk_cap;
} members_t;

static void
bad_row(members_t *m, uint64_t line, const char *fmt, const char *value, size_t n)
{
    m->c.rejected++;
    if (m->errout == NULL)
        return;
    fprintf(m->errout, "line %llu: ", (unsigned long long)line);
    if (value != NULL) {
        /* Quoted as JSON: a value may hold anything. */
        jsonbuf_t b;
        base_jb_init(&b, n + 8);
        base_jb_str(&b, value, n > 200 ? 200 : n);
        fprintf(m->errout, fmt, b.data);
        base_jb_free(&b);
    } else {
        fputs(fmt, m->errout);
    }
    fputc('\n', m->errout);
}

static bool
utf8_ok(const char *s, size_t n)
{
    jsonbuf_t b;
    base_jb_init(&b, n + 8);
    base_jb_str(&b, s, n);
    bool ok = base_json_check(b.data, b.len) == NULL;
    base_jb_free(&b);
    return ok;
}

static bool
header_name(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* The profiles an id leads to, into m->pks. */
static int
resolve(members_t *m, int type, const char *v, size_t n)
{
    m->npks = 0;
    stg_stmt_t *s = stg_stmt(m->st, type == STORAGE_ID_USER ? S_IDENTITY_GET : S_EMAIL_CANDIDATES);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, m->tid);
    if (type == STORAGE_ID_USER) {
        stg_bind_int(s, 2, STORAGE_ID_USER);
        stg_bind_text(s, 3, v, n);
    } else {
        stg_bind_text(s, 2, v, n);
    }
    int rc, ret = 0;
    while ((rc = stg_step(m->st, s)) == STG_ROW) {
        if (m->npks == m->pk_cap) {
            m->pk_cap = m->pk_cap ? m->pk_cap * 2 : 8;
            if ((m->pks = realloc(m->pks, m->pk_cap * sizeof(*m->pks))) == NULL)
                abort();
        }
        m->pks[m->npks++] = stg_col_int64(s, 0);
    }
    if (rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    return ret;
}

static int
create_member(members_t *m, int type, const char *v, size_t n, const char *original, size_t original_len)
{
    char uuid[37];
    base_uuid_v4(uuid);
    stg_stmt_t *s = stg_stmt(m->st, S_PROFILE_ADD);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, m->tid);
    stg_bind_text(s, 2, uuid, 36);
    stg_bind_text(s, 3, type == STORAGE_ID_USER ? v : NULL, n);
    stg_bind_int64(s, 4, m->now_ms);
    stg_bind_text(s, 5, m->created_by, strlen(m->created_by));
    int ret = stg_step_done(m->st, s);
    if (ret != 0)
        return ret;
    int64_t pk = stg_last_id(m->st);
    if ((s = stg_stmt(m->st, S_IDENTITY_ADD)) == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, m->tid);
    stg_bind_int(s, 2, type);
    stg_bind_text(s, 3, v, n);
    stg_bind_int64(s, 4, pk);
    if ((ret = stg_step_done(m->st, s)) != 0)
        return ret;
    if (type == STORAGE_ID_EMAIL) {
        jsonbuf_t b;
        base_jb_init(&b, original_len + 8);
        base_jb_str(&b, original, original_len);
        stg_trait_src_t src = {m->tid, NULL, 0, "audience-csv", 12};
        ret = stg_trait_put(m->st, &src, pk, "email", 5, b.data, b.len, m->now_ms);
        base_jb_free(&b);
        if (ret != 0)
            return ret;
    }
    m->c.created++;
    m->npks = 1;
    if (m->pk_cap == 0 && (m->pks = malloc(sizeof(*m->pks) * (m->pk_cap = 8))) == NULL)
        abort();
    m->pks[0] = pk;
    return 0;
}

static int
apply_member(members_t *m, uint64_t line, int type, const char *v, size_t n)
{
    char lower[MAX_EMAIL_BYTES];
    const char *key = v;
    int ret;
    if (type == STORAGE_ID_EMAIL) {
        /* Emails are kept lower-cased, as ingest does. */
        for (size_t i = 0; i < n; i++)
            lower[i] = (char)tolower((unsigned char)v[i]);
        key = lower;
    }
    if ((ret = resolve(m, type, key, n)) != 0)
        return ret;
    if (m->npks > 0)
        m->c.matched++;
    if (m->npks == 0) {
        if (m->remove) {
            bad_row(m, line, type == STORAGE_ID_USER ? "no profile with userId %s" : "no profile with email %s", v, n);
            return 0;
        }
        /* an erased person's userId makes no profile again */
        bool suppressed = false;
        if (type == STORAGE_ID_USER && (ret = stg_suppressed(m->st, m->tid, type, key, n, &suppressed)) != 0)
            return ret;
        if (suppressed) {
            bad_row(m, line, "userId %s is suppressed (its profile was deleted)", v, n);
            return 0;
        }
        if ((ret = create_member(m, type, key, n, v, n)) != 0)
            return ret;
    }
    stg_stmt_t *s = stg_stmt(m->st, m->remove ? S_AUD_REMOVE_MEMBER : S_AUD_ADD);
    if (s == NULL)
        return STORAGE_EIO;
    for (size_t i = 0; i < m->npks; i++) {
        stg_bind_int64(s, 1, m->pks[i]);
        stg_bind_text(s, 2, m->name, m->name_len);
        if (!m->remove)
            stg_bind_int64(s, 3, m->now_ms);
        if ((ret = stg_step_done(m->st, s)) != 0)
            return ret;
        m->c.changed += (uint64_t)stg_changes(m->st);
    }
    return 0;
}

/* The first row: a header naming the id columns, or the first member of
 * a single column. 1: it was a header; 0: data; STORAGE_EINVAL: unusable. */
static int
read_header(members_t *m, const base_csv_t *c, uint64_t line)
{
    m->uid_col = m->email_col = -1;
    for (size_t i = 0; i < c->nfields; i++) {
        const char *f = c->buf + c->start[i];
        size_t n = c->flen[i];
        if ((header_name(f, n, "userId") || header_name(f, n, "user_id")) && m->uid_col < 0)
            m->uid_col = (int)i;
        else if (header_name(f, n, "email") && m->email_col < 0)
            m->email_col = (int)i;
    }
    if (m->uid_col >= 0 || m->email_col >= 0)
        return 1;
    if (c->nfields > 1) {
        if (m->errout != NULL)
            fprintf(m->errout, "line %llu: %zu columns and no header naming a userId or email column\n", (unsigned long long)line,
                    c->nfields);
        return stg_fail(m->st, STORAGE_EINVAL, "line %llu: %zu columns and no header naming a userId or email column",
                        (unsigned long long)line, c->nfields);
    }
    return 0;
}

static int
member_row(members_t *m, const base_csv_t *c, uint64_t line)
{
    const char *v = NULL;
    size_t n = 0;
    int type = STORAGE_ID_USER;
    if (m->uid_col < 0 && m->email_col < 0) {
        if (c->nfields > 1) {
            bad_row(m, line, "expected one column", NULL, 0);
            return 0;
        }
        v = c->buf + c->start[0];
        n = c->flen[0];
        type = memchr(v, '@', n) != NULL ? STORAGE_ID_EMAIL : STORAGE_ID_USER;
    } else {
        if (m->uid_col >= 0 && (size_t)m->uid_col < c->nfields && c->flen[m->uid_col] > 0) {
            v = c->buf + c->start[m->uid_col];
            n = c->flen[m->uid_col];
        } else if (m->email_col >= 0 && (size_t)m->email_col < c->nfields && c->flen[m->email_col] > 0) {
            v = c->buf + c->start[m->email_col];
            n = c->flen[m->email_col];
            type = STORAGE_ID_EMAIL;
        }
        if (v == NULL) {
            bad_row(m, line,
                    m->uid_col >= 0 && m->email_col >= 0 ? "no userId or email"
                    : m->uid_col >= 0                    ? "no userId"
                                                         : "no email",
                    NULL, 0);
            return 0;
        }
        if (type == STORAGE_ID_EMAIL && memchr(v, '@', n) == NULL) {
            bad_row(m, line, "not an email address: %s", v, n);
            return 0;
        }
    }
    if (memchr(v, '\0', n) != NULL || !utf8_ok(v, n)) {
        bad_row(m, line, "not valid UTF-8 text", NULL, 0);
        return 0;
    }
    if (n > (type == STORAGE_ID_EMAIL ? MAX_EMAIL_BYTES : MAX_ID_BYTES)) {
        bad_row(m, line, type == STORAGE_ID_EMAIL ? "email longer than 320 bytes" : "userId longer than 1024 bytes", NULL, 0);
        return 0;
    }
    return apply_member(m, line, type, v, n);
}

static int
check_name(storage_t *st, const char *name, size_t *n)
{
    *n = name != NULL ? strlen(name) : 0;
    if (*n == 0 || *n > MAX_AUDIENCE_NAME || !utf8_ok(name, *n))
        return stg_fail(st, STORAGE_EINVAL, "audience name must be 1 to %d bytes of UTF-8 text", MAX_AUDIENCE_NAME);
    for (size_t i = 0; i < *n; i++)
        if ((unsigned char)name[i] < 0x20)
            return stg_fail(st, STORAGE_EINVAL, "audience name must not contain control characters");
    return 0;
}

/* createdBy of the profiles an import creates, as in the spec. */
static char *
created_by(const char *filename, int64_t now_ms)
{
    jsonbuf_t b;
    base_jb_init(&b, 128);
    base_jb_open(&b, '{');
    if (filename != NULL && strcmp(filename, "-") != 0) {
        const char *base = strrchr(filename, '/');
        base = base != NULL ? base + 1 : filename;
        base_jb_key(&b, "filename", 8);
        base_jb_str(&b, base, strlen(base));
    }
    base_jb_key(&b, "createdTime", 11);
    base_jb_time(&b, now_ms);
    base_jb_key(&b, "type", 4);
    base_jb_str(&b, "audience-csv", 12);
    base_jb_close(&b, '}');
    return b.data;
}

static int
run_members(members_t *m, FILE *in)
{
    base_csv_t c = {.in = in};
    bool own = !stg_in_txn(m->st);
    uint64_t line, since_commit = 0;
    const char *why = NULL;
    int r, ret = 0;
    if (own && (ret = storage_begin(m->st)) != 0)
        goto done;
    while ((r = base_csv_row(&c, &line, &why)) != 0) {
        if (r < 0) {
            m->c.rows++;
            bad_row(m, line, why, NULL, 0);
            continue;
        }
        if (c.nfields == 1 && c.flen[0] == 0)
            continue; /* blank line */
        if (!m->header_done) {
            m->header_done = true;
            if ((ret = read_header(m, &c, line)) < 0)
                goto done;
            if (ret == 1) {
                ret = 0;
                continue;
            }
        }
        m->c.rows++;
        if ((ret = member_row(m, &c, line)) != 0)
            goto done;
        if (own && ++since_commit == COMMIT_ROWS) {
            since_commit = 0;
            if ((ret = storage_commit(m->st)) != 0 || (ret = storage_begin(m->st)) != 0)
                goto done;
        }
    }
    if (ferror(in)) {
        ret = stg_fail(m->st, STORAGE_EIO, "read error at line %llu", (unsigned long long)c.line);
        goto done;
    }
    if (own && (ret = storage_commit(m->st)) != 0)
        goto done;
    own = false;
    if (m->c.rejected > 0)
        ret = stg_fail(m->st, STORAGE_EINVAL, "%llu of %llu rows rejected", (unsigned long long)m->c.rejected,
                       (unsigned long long)m->c.rows);
done:
    /* Failed (or an unusable header, before any member): what was not
     * committed goes. */
    if (own)
        storage_rollback(m->st);
    base_csv_dispose(&c);
    return ret;
}

int
storage_audience_import_csv(storage_t *st, const storage_tenant_t *tenant, const char *name, FILE *in, const char *filename,
                            FILE *errout, int64_t now_ms, storage_audience_counts_t *counts)
{
    members_t m = {.st = st, .name = name, .now_ms = now_ms, .errout = errout};
    int ret;
    bool own = !stg_in_txn(st);
    if ((ret = check_name(st, name, &m.name_len)) != 0)
        goto done;
    /* The tenant row goes with the first transaction of members. */
    if (own && (ret = storage_begin(st)) != 0)
        goto done;
    if ((ret = stg_tenant_id(st, tenant, true, &m.tid)) != 0 || (own && (ret = storage_commit(st)) != 0)) {
        if (own)
            storage_rollback(st);
        goto done;
    }
    m.created_by = created_by(filename, now_ms);
    ret = run_members(&m, in);
done:
    free(m.created_by);
    free(m.pks);
    if (counts != NULL)
        *counts = m.c;
    return ret;
}

int
storage_audience_remove(storage_t *st, const storage_tenant_t *tenant, const char *name, FILE *in, FILE *errout,
                        storage_audience_counts_t *counts)
{
    members_t m = {.st = st, .name = name, .remove = true, .errout = errout};
    int ret;
    if ((ret = check_name(st, name, &m.name_len)) != 0 || (ret = stg_tenant_id(st, tenant, false, &m.tid)) != 0)
        goto done;
    if (in != NULL) {
        ret = run_members(&m, in);
        goto done;
    }
    stg_stmt_t *s = stg_stmt(st, S_AUD_DELETE);
    if (s == NULL) {
        ret = STORAGE_EIO;
        goto done;
    }
    stg_bind_int64(s, 1, m.tid);
    stg_bind_text(s, 2, name, m.name_len);
    if ((ret = stg_step_done(st, s)) == 0) {
        m.c.changed = (uint64_t)stg_changes(st);
        if (m.c.changed == 0)
            ret = stg_fail(st, STORAGE_ENOTFOUND, "no static audience \"%s\"", name);
    }
done:
    if (ret == STORAGE_ENOTFOUND && in == NULL && m.tid == 0)
        stg_fail(st, ret, "no static audience \"%s\"", name);
    free(m.pks);
    if (counts != NULL)
        *counts = m.c;
    return ret;
}

int
storage_audience_list(storage_t *st, const storage_tenant_t *tenant, storage_audience_cb cb, void *ctx)
{
    int64_t tid;
    int ret = stg_tenant_id(st, tenant, false, &tid);
    if (ret == STORAGE_ENOTFOUND)
        return 0;
    if (ret != 0)
        return ret;
    stg_stmt_t *s = stg_stmt(st, S_AUD_LIST);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    int rc;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        if ((ret = cb(ctx, stg_col_text(s, 0), (uint64_t)stg_col_int64(s, 1))) != 0)
            break;
    }
    if (ret == 0 && rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    return ret;
}
