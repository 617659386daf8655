/* access_log.c -- the JSON access log: one line per answered request, each
 * line one write on an O_APPEND descriptor (lines never interleave), every
 * part bounded so a line is always one whole JSON object. The caller hands
 * over the line's parts; this file knows nothing of HTTP. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "base.h"
#include "ops.h"

static _Atomic int log_fd = -1;

int
access_log_open(const char *path)
{
    int fd;
    if (strcmp(path, "off") == 0)
        fd = -1;
    else if (strcmp(path, "-") == 0)
        fd = dup(1);
    else
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (strcmp(path, "off") != 0 && fd < 0)
        return -1;
    int old = atomic_load(&log_fd);
    if (old >= 0 && fd >= 0) {
        /* swap in place: writers keep using the same descriptor number */
        dup2(fd, old);
        close(fd);
    } else {
        atomic_store(&log_fd, fd);
    }
    return 0;
}

/* Longest parts of a request that a log line carries; a longer one is cut
 * (on a character boundary) and ends with LOG_CUT. With these the fixed
 * fields and the worst escaping (6 bytes a byte) fit in LOG_LINE_MAX, so a
 * line is always one whole JSON object. */
#define LOG_LINE_MAX 4096
#define LOG_METHOD_MAX 64
#define LOG_TENANT_PART_MAX 128
#define LOG_CUT "\xe2\x80\xa6" /* U+2026 */

typedef struct {
    char buf[LOG_LINE_MAX];
    size_t len;
    bool cut; /* a fixed part did not fit: never with the limits above */
} log_line_t;

/* Appends n bytes of s (a fixed part: no printf on the request path). */
static void
log_raw(log_line_t *l, const char *s, size_t n)
{
    if (n >= sizeof(l->buf) - l->len) {
        l->cut = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

#define log_lit(l, s) log_raw(l, s, sizeof(s) - 1)

static void
log_int(log_line_t *l, int64_t v)
{
    char num[BASE_FMT_INT_MAX];
    log_raw(l, num, base_fmt_i64(num, v));
}

/* The JSON-escaped text of at most max bytes of s, without quotes. */
static void
log_text(log_line_t *l, const char *s, size_t n, size_t max)
{
    size_t room = sizeof(l->buf) - 1 - l->len, used;
    size_t take = base_utf8_prefix(s, n, max);
    size_t w = base_json_escape(s, take, l->buf + l->len, room, &used);
    l->len += w;
    if (used < n)
        log_lit(l, LOG_CUT);
}

static void
log_str(log_line_t *l, const char *s, size_t n, size_t max)
{
    log_lit(l, "\"");
    log_text(l, s, n, max);
    log_lit(l, "\"");
}

int
access_log_enabled(void)
{
    return atomic_load_explicit(&log_fd, memory_order_relaxed) >= 0;
}

/* An address is at most this long (INET6_ADDRSTRLEN and its NUL). */
#define LOG_CLIENT_MAX 64

void
access_log_write(const access_entry_t *e)
{
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    if (fd < 0)
        return;
    log_line_t l;
    char ts[32];
    l.len = 0;
    l.cut = false;
    base_format_time(base_wall_ms(), ts);
    log_lit(&l, "{\"time\":\"");
    log_raw(&l, ts, strlen(ts));
    log_lit(&l, "\",\"request_id\":");
    log_str(&l, e->request_id, e->request_id_len, 128);
    log_lit(&l, ",\"client\":");
    log_str(&l, e->client, strlen(e->client), LOG_CLIENT_MAX);
    log_lit(&l, ",\"method\":");
    log_str(&l, e->method, e->method_len, LOG_METHOD_MAX);
    log_lit(&l, ",\"route\":\"");
    log_raw(&l, e->route, strlen(e->route));
    log_lit(&l, "\",\"status\":");
    log_int(&l, e->status);
    log_lit(&l, ",\"bytes\":");
    char num[BASE_FMT_FIXED3_MAX];
    log_raw(&l, num, base_fmt_u64(num, e->bytes));
    log_lit(&l, ",\"latency_ms\":");
    log_raw(&l, num, base_fmt_fixed3(num, e->seconds * 1000));
    log_lit(&l, ",\"tenant\":");
    const storage_tenant_t *t = e->tenant;
    if (t != NULL && t->client != NULL) {
        log_lit(&l, "\"");
        log_text(&l, t->client, t->client_len, LOG_TENANT_PART_MAX);
        log_lit(&l, "/");
        log_text(&l, t->account, t->account_len, LOG_TENANT_PART_MAX);
        log_lit(&l, "/");
        log_text(&l, t->brand, t->brand_len, LOG_TENANT_PART_MAX);
        log_lit(&l, "\"");
    } else {
        log_lit(&l, "null");
    }
    log_lit(&l, "}\n");
    if (l.cut) /* still one JSON line, without the request's parts */
        l.len = (size_t)snprintf(l.buf, sizeof(l.buf), "{\"time\":\"%s\",\"status\":%d,\"log_error\":\"line too long\"}\n", ts,
                                 e->status);
    /* one write per line on an O_APPEND descriptor: lines never interleave */
    ssize_t w = write(fd, l.buf, l.len);
    (void)w;
}
