/* handlers_docs.c -- the API reference: `GET /docs` (the page
 * scripts/build-docs.sh renders from docs/openapi.yaml) and `GET
 * /openapi.json` (the document as JSON), read once at start from
 * --docs-dir. Neither needs a token. Without the files both answer 404
 * not_found saying how to build them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "api.h"

/* Larger files are refused at start (the page is ~1 MiB). */
#define DOCS_FILE_MAX (64u << 20)

typedef struct {
    char *body; /* NULL: not there */
    size_t len;
    char *gz; /* body's gzip, made once at start (NULL: none) */
    size_t gz_len;
    char etag[24]; /* "\"<16 hex>\"" of the bytes */
} docs_file_t;

struct api_docs {
    char dir[PATH_MAX];
    docs_file_t file[2]; /* DOCS_HTML, DOCS_JSON */
};

static const struct {
    const char *name, *content_type;
} docs_files[2] = {
    {"api.html", "text/html; charset=utf-8"},
    {"openapi.json", "application/json; charset=utf-8"},
};

/* The page runs only its own inline script and styles and fetches nothing
 * (Redoc's search runs in a blob: worker): a browser refuses any other
 * load, so the page cannot reach another host even if a later build of it
 * tried. */
#define DOCS_CSP                                                                                                                   \
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:; worker-src blob:; " \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* --docs-dir, or "docs" beside the executable. */
static void
docs_dir(const config_t *cfg, char *out, size_t len)
{
    if (cfg->docs_dir[0] != '\0') {
        snprintf(out, len, "%s", cfg->docs_dir);
        return;
    }
    /* room for "/docs" after the directory of the link's target */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash = n > 0 ? memrchr(exe, '/', (size_t)n) : NULL;
    size_t dlen = slash != NULL ? (size_t)(slash - exe) : 0;
    if (slash == NULL || dlen + sizeof("/docs") > len) {
        snprintf(out, len, "docs");
        return;
    }
    memcpy(out, exe, dlen);
    memcpy(out + dlen, "/docs", sizeof("/docs"));
}

/* The gzip of f's body (best compression: it is made once), or none. */
static void
compress_file(docs_file_t *f)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return;
    size_t cap = deflateBound(&zs, (uLong)f->len);
    char *out = base_xmalloc(cap);
    zs.next_in = (Bytef *)f->body;
    zs.avail_in = (uInt)f->len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END || n >= f->len) {
        free(out);
        return;
    }
    f->gz = out;
    f->gz_len = n;
}

/* Reads dir/name into f; 0, or -1 (f left empty) with why set. */
static int
read_file(const char *dir, const char *name, docs_file_t *f, const char **why)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        *why = strerror(errno);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            buf = base_xrealloc(buf, cap);
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (len > DOCS_FILE_MAX) {
            *why = "larger than 64 MiB";
            break;
        }
        if (got == 0) {
            *why = ferror(fp) ? "read error" : NULL;
            break;
        }
    }
    fclose(fp);
    if (*why != NULL || len == 0) {
        if (*why == NULL)
            *why = "empty";
        free(buf);
        return -1;
    }
    f->body = buf;
    f->len = len;
    snprintf(f->etag, sizeof(f->etag), "\"%016llx\"", (unsigned long long)base_fnv1a(1469598103934665603ULL, buf, len));
    return 0;
}

void
api_docs_load(server_t *srv)
{
    /* lives for the process, as srv does: loops read it until _exit */
    struct api_docs *docs = base_xcalloc(1, sizeof(*docs));
    docs_dir(&srv->cfg, docs->dir, sizeof(docs->dir));
    int have = 0;
    for (int i = 0; i < 2; i++) {
        const char *why = NULL;
        if (read_file(docs->dir, docs_files[i].name, &docs->file[i], &why) == 0) {
            compress_file(&docs->file[i]);
            have++;
        } else
            fprintf(stderr, "profiled: docs: %s/%s: %s: %s answers 404 (scripts/build-docs.sh %s builds it)\n", docs->dir,
                    docs_files[i].name, why, i == DOCS_HTML ? "/docs" : "/openapi.json", docs->dir);
    }
    if (have == 2)
        fprintf(stderr, "profiled: docs: serving /docs and /openapi.json from %s\n", docs->dir);
    srv->docs = docs;
}

void
handle_docs(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    (void)params;
    int which = rc->route->arg;
    const struct api_docs *docs = loop_of(req)->srv->docs;
    const docs_file_t *f = docs != NULL ? &docs->file[which] : NULL;
    if (f == NULL || f->body == NULL) {
        respond_error(req, rc, ERR_NOT_FOUND,
                      "The API reference was not built: %s is missing from the docs directory (--docs-dir, "
                      "PROFILED_DOCS_DIR: %s). Build it from docs/openapi.yaml with `make build` (needs Node.js and npm) or "
                      "`scripts/build-docs.sh DIR`, then restart.",
                      docs_files[which].name, docs != NULL ? docs->dir : "unset");
        return;
    }
    char *body = base_xmalloc(f->len);
    memcpy(body, f->body, f->len);
    /* revalidate every time (a rebuilt page shows at once), cheaply: 304 */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL, H2O_STRLIT("nosniff"));
    if (which == DOCS_HTML)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0, NULL, H2O_STRLIT(DOCS_CSP));
    respond_tagged(req, rc, docs_files[which].content_type, body, f->len, f->gz, f->gz_len, f->etag);
}
