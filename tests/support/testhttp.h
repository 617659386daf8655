/* testhttp.h -- HTTP integration test support: a real `profiled serve` on an
 * ephemeral port with a temporary database, the CLI run as a child process,
 * and a libevent HTTP client. */
#ifndef PROFILED_TESTHTTP_H
#define PROFILED_TESTHTTP_H

#include <stddef.h>
#include <sys/types.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

typedef struct {
    pid_t pid;
    int port;
} test_server_t;

/* Starts PROFILED_BIN serve --listen 127.0.0.1:0 --db db plus extra
 * (NULL-terminated, may be NULL) and waits for its "listening on" line.
 * Aborts the test on failure. */
void test_server_start(test_server_t *s, const char *db, const char *const *extra);

/* SIGTERM, then waits for the process. Returns its exit status. */
int test_server_stop(test_server_t *s);

/* Runs PROFILED_BIN with argv (NULL-terminated, without the program name),
 * stdin from in_path (NULL: /dev/null). Captures stdout into *out and
 * stderr into *err (malloc'd; either pointer may be NULL). Returns the exit
 * status (or -1). */
int test_cli(const char *const *argv, const char *in_path, char **out, char **err);

typedef struct {
    int status; /* 0: no response */
    char *body;
    size_t len;
    struct evkeyvalq headers;
} test_resp_t;

/* One request on a new connection. headers: name, value pairs, NULL-ended
 * (may be NULL). Returns 0, or -1 when no response came. */
int test_http(int port, const char *method, const char *uri, const char *const *headers, const char *body, size_t body_len,
              test_resp_t *r);

/* Header value (case-insensitive name), or NULL. */
const char *test_header(const test_resp_t *r, const char *name);

/* Parses the body as JSON (caller puts), NULL if it is not JSON. */
json_object *test_json(const test_resp_t *r);

void test_resp_free(test_resp_t *r);

/* Sends n GET requests for uri with headers over `conns` keep-alive
 * connections at once; statuses[i] receives each status (0: none). Returns
 * the number of responses. */
int test_http_many(int port, const char *uri, const char *const *headers, int n, int conns, int *statuses);

/* Writes raw bytes to a new connection and reads the answer until the peer
 * closes or timeout_ms passes (close_early: close right after writing).
 * Returns bytes read into buf (NUL-terminated), or -1. */
int test_raw(int port, const char *data, size_t len, int close_early, char *buf, size_t buflen, int timeout_ms);

/* Path of a JSON value: "a.b.0.c" (numbers index arrays). Borrowed or NULL. */
json_object *test_jget(json_object *root, const char *path);

/* Creates a token with the CLI (brand NULL: account-wide) into out (128
 * bytes). Aborts on failure: usable outside tests too. */
void test_token_create(const char *db, const char *client, const char *account, const char *brand, char *out);
/* The same with --permissions perms (NULL: the default, read,ingest). */
void test_token_create_perms(const char *db, const char *client, const char *account, const char *brand, const char *perms,
                             char *out);

/* GET with an auth-token (NULL: none); the parsed body (caller puts). */
json_object *test_get(int port, const char *uri, const char *token, test_resp_t *r);

/* POST body with headers (name, value pairs, NULL-ended); parsed body. */
json_object *test_post(int port, const char *uri, const char *const *headers, const char *body, size_t len, test_resp_t *r);

/* POSTs a JSON body with an auth-token and asserts (Check) a 200. */
void test_post_ok(int port, const char *token, const char *uri, const char *body);

/* "Basic base64(token:)", the Authorization value of token as a user
 * name (a static buffer: one at a time). */
char *test_basic_auth(const char *token);

/* String at a test_jget path, or NULL. */
const char *test_jstr(json_object *j, const char *path);

/* Asserts (Check) an error answer: status, {"error":{"code","message"}},
 * the JSON content type. */
void test_assert_error(const test_resp_t *r, json_object *j, int status, const char *code);

/* A counter or gauge of port's /metrics, by its whole name with labels
 * (the test fails when it is absent). */
long long test_metric(int port, const char *name);

/* Compresses in[0..len) as one gzip stream into out (cap bytes, which must
 * be enough: the test fails otherwise). Returns the compressed length. */
size_t test_gzip_body(const char *in, size_t len, unsigned char *out, size_t cap);

#endif
