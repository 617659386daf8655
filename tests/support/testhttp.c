/* testhttp.c -- runs the real profiled binary for integration tests and
 * talks HTTP to it with libevent's client. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <check.h>
#include <zlib.h>
#include "testhttp.h"

static void
die(const char *what)
{
    fprintf(stderr, "test support: %s: %s\n", what, strerror(errno));
    abort();
}

void
test_server_start(test_server_t *s, const char *db, const char *const *extra)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe");
    const char *argv[64] = {PROFILED_BIN, "serve", "--listen", "127.0.0.1:0", "--db", db};
    int n = 6;
    for (; extra != NULL && *extra != NULL && n < 62; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(PROFILED_BIN, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[512];
    s->pid = pid;
    s->port = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "listening on http://127.0.0.1:");
        if (p != NULL) {
            s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
            break;
        }
    }
    /* keep reading the pipe in the child's lifetime is not needed: the
     * server prints nothing else on stdout */
    fclose(f);
    if (s->port == 0) {
        fprintf(stderr, "test support: server did not start\n");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        abort();
    }
}

int
test_server_stop(test_server_t *s)
{
    int status = 0;
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &status, 0);
    s->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *
slurp_fd(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 >= cap && (buf = realloc(buf, cap *= 2)) == NULL)
            abort();
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return buf;
}

int
test_cli(const char *const *argv, const char *in_path, char **out, char **err)
{
    char outtmp[] = "/tmp/profiled-cli-out-XXXXXX", errtmp[] = "/tmp/profiled-cli-err-XXXXXX";
    int ofd = mkstemp(outtmp), efd = mkstemp(errtmp);
    if (ofd < 0 || efd < 0)
        die("mkstemp");
    unlink(outtmp);
    unlink(errtmp);
    const char *args[64] = {PROFILED_BIN};
    int n = 1;
    for (; *argv != NULL && n < 63; argv++)
        args[n++] = *argv;
    args[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int in = open(in_path != NULL ? in_path : "/dev/null", O_RDONLY);
        if (in < 0)
            _exit(126);
        dup2(in, 0);
        dup2(ofd, 1);
        dup2(efd, 2);
        execv(PROFILED_BIN, (char *const *)args);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    lseek(ofd, 0, SEEK_SET);
    lseek(efd, 0, SEEK_SET);
    if (out != NULL)
        *out = slurp_fd(ofd);
    if (err != NULL)
        *err = slurp_fd(efd);
    close(ofd);
    close(efd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

typedef struct {
    test_resp_t *r;
    struct event_base *base;
    int *pending;
} one_ctx_t;

static void
copy_response(struct evhttp_request *req, test_resp_t *r)
{
    TAILQ_INIT(&r->headers);
    if (req == NULL)
        return;
    r->status = evhttp_request_get_response_code(req);
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
        evhttp_add_header(&r->headers, kv->key, kv->value);
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    r->len = evbuffer_get_length(b);
    r->body = malloc(r->len + 1);
    if (r->body == NULL)
        abort();
    evbuffer_remove(b, r->body, r->len);
    r->body[r->len] = '\0';
}

static void
on_one(struct evhttp_request *req, void *arg)
{
    one_ctx_t *c = arg;
    copy_response(req, c->r);
    event_base_loopexit(c->base, NULL);
}

static enum evhttp_cmd_type
method_of(const char *m)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } map[] = {{"GET", EVHTTP_REQ_GET},       {"POST", EVHTTP_REQ_POST},       {"HEAD", EVHTTP_REQ_HEAD},  {"PUT", EVHTTP_REQ_PUT},
               {"DELETE", EVHTTP_REQ_DELETE}, {"OPTIONS", EVHTTP_REQ_OPTIONS}, {"PATCH", EVHTTP_REQ_PATCH}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].name, m) == 0)
            return map[i].type;
    abort();
}

int
test_http(int port, const char *method, const char *uri, const char *const *headers, const char *body, size_t body_len,
          test_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    TAILQ_INIT(&r->headers);
    struct event_base *base = event_base_new();
    struct evhttp_connection *conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", (unsigned short)port);
    evhttp_connection_set_timeout(conn, 30);
    one_ctx_t ctx = {r, base, NULL};
    struct evhttp_request *req = evhttp_request_new(on_one, &ctx);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Host", "127.0.0.1");
    for (; headers != NULL && headers[0] != NULL; headers += 2)
        evhttp_add_header(out, headers[0], headers[1]);
    if (body != NULL)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, body_len);
    if (evhttp_make_request(conn, req, method_of(method), uri) != 0)
        abort();
    event_base_dispatch(base);
    evhttp_connection_free(conn);
    event_base_free(base);
    return r->status != 0 ? 0 : -1;
}

const char *
test_header(const test_resp_t *r, const char *name)
{
    return evhttp_find_header(&r->headers, name);
}

json_object *
test_json(const test_resp_t *r)
{
    return r->body != NULL ? json_tokener_parse(r->body) : NULL;
}

void
test_resp_free(test_resp_t *r)
{
    evhttp_clear_headers(&r->headers);
    free(r->body);
    r->body = NULL;
}

typedef struct {
    struct event_base *base;
    int *statuses;
    int index;
    int *remaining;
} many_ctx_t;

static void
on_many(struct evhttp_request *req, void *arg)
{
    many_ctx_t *c = arg;
    c->statuses[c->index] = req != NULL ? evhttp_request_get_response_code(req) : 0;
    if (--*c->remaining == 0)
        event_base_loopexit(c->base, NULL);
}

int
test_http_many(int port, const char *uri, const char *const *headers, int n, int conns, int *statuses)
{
    struct event_base *base = event_base_new();
    struct evhttp_connection **cs = calloc((size_t)conns, sizeof(*cs));
    many_ctx_t *ctx = calloc((size_t)n, sizeof(*ctx));
    int remaining = n;
    for (int i = 0; i < conns; i++) {
        cs[i] = evhttp_connection_base_new(base, NULL, "127.0.0.1", (unsigned short)port);
        evhttp_connection_set_timeout(cs[i], 30);
    }
    for (int i = 0; i < n; i++) {
        ctx[i] = (many_ctx_t){base, statuses, i, &remaining};
        statuses[i] = 0;
        struct evhttp_request *req = evhttp_request_new(on_many, &ctx[i]);
        struct evkeyvalq *out = evhttp_request_get_output_headers(req);
        evhttp_add_header(out, "Host", "127.0.0.1");
        for (const char *const *h = headers; h != NULL && h[0] != NULL; h += 2)
            evhttp_add_header(out, h[0], h[1]);
        if (evhttp_make_request(cs[i % conns], req, EVHTTP_REQ_GET, uri) != 0)
            abort();
    }
    event_base_dispatch(base);
    int got = 0;
    for (int i = 0; i < n; i++)
        got += statuses[i] != 0;
    for (int i = 0; i < conns; i++)
        evhttp_connection_free(cs[i]);
    free(cs);
    free(ctx);
    event_base_free(base);
    return got;
}

int
test_raw(int port, const char *data, size_t len, int close_early, char *buf, size_t buflen, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    size_t got = 0;
    if (!close_early) {
        struct pollfd p = {fd, POLLIN, 0};
        while (got + 1 < buflen && poll(&p, 1, timeout_ms) > 0) {
            ssize_t r = read(fd, buf + got, buflen - got - 1);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
    }
    if (buflen > 0)
        buf[got] = '\0';
    close(fd);
    return (int)got;
}

json_object *
test_jget(json_object *root, const char *path)
{
    char key[256];
    json_object *cur = root;
    while (cur != NULL && *path != '\0') {
        const char *dot = strchr(path, '.');
        size_t n = dot != NULL ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        if (json_object_is_type(cur, json_type_array)) {
            char *end;
            long idx = strtol(key, &end, 10);
            cur = *end == '\0' ? json_object_array_get_idx(cur, (size_t)idx) : NULL;
        } else if (!json_object_object_get_ex(cur, key, &cur)) {
            cur = NULL;
        }
        path += n + (dot != NULL);
    }
    return cur;
}

void
test_token_create_perms(const char *db, const char *client, const char *account, const char *brand, const char *perms, char *out)
{
    char *o = NULL;
    const char *argv[16];
    int n = 0;
    const char *fixed[] = {"token", "create", "--db", db, "--client", client, "--account", account, "--name", "test"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[n++] = fixed[i];
    if (brand != NULL) {
        argv[n++] = "--brand";
        argv[n++] = brand;
    }
    if (perms != NULL) {
        argv[n++] = "--permissions";
        argv[n++] = perms;
    }
    argv[n] = NULL;
    if (test_cli(argv, NULL, &o, NULL) != 0 || strncmp(o, "pd_", 3) != 0) {
        fprintf(stderr, "token create failed: %s\n", o);
        abort();
    }
    o[strcspn(o, "\n")] = '\0';
    snprintf(out, 128, "%s", o);
    free(o);
}

void
test_token_create(const char *db, const char *client, const char *account, const char *brand, char *out)
{
    test_token_create_perms(db, client, account, brand, NULL, out);
}

json_object *
test_get(int port, const char *uri, const char *token, test_resp_t *r)
{
    const char *h[] = {"auth-token", token, "content-type", "application/json", NULL};
    ck_assert_int_eq(test_http(port, "GET", uri, token ? h : NULL, NULL, 0, r), 0);
    return test_json(r);
}

json_object *
test_post(int port, const char *uri, const char *const *headers, const char *body, size_t len, test_resp_t *r)
{
    int rc = test_http(port, "POST", uri, headers, body, len, r);
    ck_assert_msg(rc == 0, "POST %s (%zu bytes): no response", uri, len);
    return test_json(r);
}

void
test_post_ok(int port, const char *token, const char *uri, const char *body)
{
    const char *h[] = {"content-type", "application/json", "auth-token", token, NULL};
    test_resp_t r;
    ck_assert_msg(test_http(port, "POST", uri, h, body, strlen(body), &r) == 0, "POST %s: no response", uri);
    ck_assert_msg(r.status == 200, "POST %s -> %d %s", uri, r.status, r.body);
    test_resp_free(&r);
}

const char *
test_jstr(json_object *j, const char *path)
{
    json_object *v = test_jget(j, path);
    return v != NULL ? json_object_get_string(v) : NULL;
}

void
test_assert_error(const test_resp_t *r, json_object *j, int status, const char *code)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(test_jstr(j, "error.code"), code);
    ck_assert_ptr_nonnull(test_jget(j, "error.message"));
    ck_assert_str_eq(test_header(r, "Content-Type"), "application/json; charset=utf-8");
}

long long
test_metric(int port, const char *name)
{
    test_resp_t r;
    ck_assert_int_eq(test_http(port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    char pat[128];
    snprintf(pat, sizeof(pat), "\n%s ", name);
    const char *p = strstr(r.body, pat);
    ck_assert_msg(p != NULL, "no %s in /metrics", name);
    long long v = strtoll(p + strlen(pat), NULL, 10);
    test_resp_free(&r);
    return v;
}

size_t
test_gzip_body(const char *in, size_t len, unsigned char *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    return n;
}

char *
test_basic_auth(const char *token)
{
    static char out[256];
    char in[160];
    int n = snprintf(in, sizeof(in), "%s:", token);
    strcpy(out, "Basic ");
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)in, n);
    return out;
}
