/* test_disk_full.c -- ingestion when the disk under the database fills up,
 * against the real server: every refused batch is a 500 JSON error saying
 * the disk is full and stores nothing, nothing acknowledged is lost, reads
 * still answer, one log line per failed commit (no retry of each request
 * alone), and writes succeed again once space is freed, also after kill -9.
 * Run twice: on a real tmpfs of 4 MiB (root: mount(2), remounted bigger to
 * free space) and through the fault injector PROFILED_DEBUG_DISK_FULL_FILE
 * (storage/db/diskfull.c), which is the only case where mounting is
 * refused. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/c/a/b/v1"
#define EVENTS 10       /* track messages of a batch, each with its messageId */
#define MAX_BATCHES 600 /* indexes of one scenario */
#define POSTERS 8       /* concurrent posters while the disk is full */
#define POSTS_EACH 4
#define SMALL_FS "size=4m"
#define BIG_FS "size=64m"

static char *mnt; /* the tmpfs mount point, when mounting works */
static int mounted;
static pid_t main_pid;

enum { MODE_TMPFS, MODE_INJECTED };

/* A scenario's state: each batch index's last answer (0: never sent). */
typedef struct {
    int mode;
    char *db, *flag, *log;
    char tok[128];
    test_server_t srv;
    int status[MAX_BATCHES];
    int next; /* first index never sent */
} scen_t;

static void
unmount_all(void)
{
    if (!mounted || getpid() != main_pid) /* a forked test case inherits this */
        return;
    for (int i = 0; i < 50; i++) {
        if (umount2(mnt, 0) == 0) {
            mounted = 0;
            return;
        }
        usleep(100000); /* a killed server's files are still being closed */
    }
    if (umount2(mnt, MNT_DETACH) != 0)
        fprintf(stderr, "disk_full: cannot unmount %s: %s\n", mnt, strerror(errno));
    mounted = 0;
}

static void
on_signal(int sig)
{
    unmount_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int
batch_body(int i, char *body, size_t cap)
{
    char pad[1201];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    int n = snprintf(body, cap, "{\"batch\":[{\"type\":\"identify\",\"userId\":\"d-%d\",\"traits\":{\"n\":\"%d\",\"pad\":\"%s\"}}",
                     i, i, pad);
    for (int e = 0; e < EVENTS; e++)
        n += snprintf(
            body + n, cap - (size_t)n,
            ",{\"type\":\"track\",\"userId\":\"d-%d\",\"event\":\"E\",\"messageId\":\"d-%d-%d\",\"properties\":{\"p\":\"%.*s\"}}",
            i, i, e, 300, pad);
    return n + snprintf(body + n, cap - (size_t)n, "]}");
}

/* Posts batch i. 0 when the answer is a 200 or a well-formed disk-full 500
 * (*status says which), else -1 with why (no Check here: posters are
 * forked). */
static int
post_batch(int port, const char *tok, int i, int *status, char *why, size_t whylen)
{
    static char body[32768];
    int n = batch_body(i, body, sizeof(body));
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    test_resp_t r;
    *status = 0;
    if (test_http(port, "POST", BASE "/batch", h, body, (size_t)n, &r) != 0) {
        snprintf(why, whylen, "batch %d: no answer", i);
        return -1;
    }
    *status = r.status;
    int ok = r.status == 200;
    if (r.status == 500) {
        json_object *j = test_json(&r);
        const char *code = test_jstr(j, "error.code"), *msg = test_jstr(j, "error.message"),
                   *type = test_header(&r, "Content-Type");
        ok = code != NULL && strcmp(code, "internal_server_error") == 0 && msg != NULL && strstr(msg, "disk is full") != NULL &&
             strstr(msg, "nothing of this request was stored") != NULL && type != NULL &&
             strcmp(type, "application/json; charset=utf-8") == 0;
        json_object_put(j);
    }
    if (!ok)
        snprintf(why, whylen, "batch %d: %d %.*s", i, r.status, (int)(r.len < 300 ? r.len : 300), r.body ? r.body : "");
    test_resp_free(&r);
    return ok ? 0 : -1;
}

static int
post_checked(scen_t *sc, int i)
{
    char why[512];
    int status;
    ck_assert_msg(post_batch(sc->srv.port, sc->tok, i, &status, why, sizeof(why)) == 0, "%s", why);
    sc->status[i] = status;
    return status;
}

/* POSTERS processes post POSTS_EACH new batches each at once, so that the
 * writer takes several of them into one group. */
static void
post_concurrently(scen_t *sc)
{
    typedef struct {
        int i, status, ok;
    } rec_t;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    int first = sc->next;
    pid_t pids[POSTERS];
    for (int p = 0; p < POSTERS; p++) {
        pid_t pid = pids[p] = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            for (int k = 0; k < POSTS_EACH; k++) {
                char why[512];
                rec_t rec = {first + p * POSTS_EACH + k, 0, 0};
                rec.ok = post_batch(sc->srv.port, sc->tok, rec.i, &rec.status, why, sizeof(why)) == 0;
                if (!rec.ok)
                    fprintf(stderr, "disk_full: %s\n", why);
                if (write(fds[1], &rec, sizeof(rec)) != (ssize_t)sizeof(rec))
                    _exit(1);
            }
            _exit(0);
        }
    }
    close(fds[1]);
    rec_t rec;
    int got = 0;
    while (read(fds[0], &rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
        ck_assert_msg(rec.ok, "batch %d while full: answered %d (see above)", rec.i, rec.status);
        sc->status[rec.i] = rec.status;
        got++;
    }
    close(fds[0]);
    for (int p = 0; p < POSTERS; p++)
        waitpid(pids[p], NULL, 0);
    ck_assert_int_eq(got, POSTERS * POSTS_EACH);
    sc->next = first + POSTERS * POSTS_EACH;
}

/* Events of a profile (at most 100), or -1; *distinct: each eventId one of
 * its batch's, none twice. */
static int
count_events(int port, const char *tok, int i, int *distinct)
{
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:d-%d/events?limit=100", i);
    test_resp_t r;
    json_object *j = test_get(port, uri, tok, &r);
    json_object *data = test_jget(j, "data");
    int n = r.status == 200 && data != NULL ? (int)json_object_array_length(data) : -1;
    int seen[EVENTS] = {0};
    *distinct = n >= 0;
    for (int k = 0; k < n; k++) {
        const char *id = test_jstr(json_object_array_get_idx(data, (size_t)k), "eventId");
        char want[64];
        int e = -1;
        for (int c = 0; c < EVENTS && id != NULL; c++) {
            snprintf(want, sizeof(want), "d-%d-%d", i, c);
            if (strcmp(id, want) == 0)
                e = c;
        }
        if (e < 0 || seen[e]++)
            *distinct = 0;
    }
    json_object_put(j);
    test_resp_free(&r);
    return n;
}

static int
traits_status(int port, const char *tok, int i, const char **n_out, json_object **keep)
{
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:d-%d/traits", i);
    test_resp_t r;
    json_object *j = test_get(port, uri, tok, &r);
    int s = r.status;
    if (n_out != NULL)
        *n_out = test_jstr(j, "n");
    test_resp_free(&r);
    *keep = j;
    return s;
}

/* Every batch answered 200 is stored once: its profile with its trait, and
 * exactly its EVENTS events. */
static void
verify_acknowledged(scen_t *sc, int port)
{
    int checked = 0;
    for (int i = 0; i < sc->next; i++) {
        if (sc->status[i] != 200)
            continue;
        const char *n;
        json_object *j;
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        ck_assert_msg(traits_status(port, sc->tok, i, &n, &j) == 200, "acknowledged batch %d lost", i);
        ck_assert_msg(n != NULL && strcmp(n, want) == 0, "batch %d: trait n is %s", i, n ? n : "(none)");
        json_object_put(j);
        int distinct, events = count_events(port, sc->tok, i, &distinct);
        ck_assert_msg(events == EVENTS && distinct, "acknowledged batch %d: %d events (distinct %d), not %d", i, events, distinct,
                      EVENTS);
        checked++;
    }
    ck_assert_int_gt(checked, 0);
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int
count_lines(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

/* Starts the server with its stderr into sc->log (appended), in the
 * injected mode with the fault injector's variable set. */
static void
start_server(scen_t *sc)
{
    int saved = dup(2), fd = open(sc->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    dup2(fd, 2);
    close(fd);
    if (sc->mode == MODE_INJECTED)
        setenv("PROFILED_DEBUG_DISK_FULL_FILE", sc->flag, 1);
    const char *extra[] = {"--threads", "2", "--workers", "2", NULL};
    test_server_start(&sc->srv, sc->db, extra);
    unsetenv("PROFILED_DEBUG_DISK_FULL_FILE");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

static void
set_full(scen_t *sc, int full)
{
    if (sc->mode == MODE_INJECTED) {
        if (full) {
            int fd = open(sc->flag, O_WRONLY | O_CREAT, 0644);
            ck_assert_int_ge(fd, 0);
            close(fd);
        } else {
            ck_assert_int_eq(unlink(sc->flag), 0);
        }
    } else if (!full) {
        ck_assert_msg(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, BIG_FS) == 0, "remount %s: %s", mnt, strerror(errno));
    }
}

static void
scenario(int mode)
{
    static scen_t sc;
    memset(&sc, 0, sizeof(sc));
    sc.mode = mode;
    if (mode == MODE_TMPFS) {
        ck_assert_msg(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, SMALL_FS) == 0, "remount %s: %s", mnt, strerror(errno));
        size_t n = strlen(mnt) + 16;
        sc.db = malloc(n);
        snprintf(sc.db, n, "%s/full.db", mnt);
    } else {
        sc.db = test_tmp_path("full.db");
    }
    sc.flag = test_tmp_path("disk-full");
    sc.log = test_tmp_path("server.log");
    const char *imp[] = {"import", "--db", sc.db, "--client", "c", "--account", "a", "--brand", "b", "-", NULL};
    ck_assert_int_eq(test_cli(imp, NULL, NULL, NULL), 0);
    test_token_create(sc.db, "c", "a", "b", sc.tok);
    start_server(&sc);
    time_t t0 = time(NULL);

    /* acknowledged batches until the disk is full (the injector: after 5) */
    int first_failure = -1;
    for (int i = 0; i < MAX_BATCHES / 2 && first_failure < 0; i++) {
        if (mode == MODE_INJECTED && i == 5)
            set_full(&sc, 1);
        if (post_checked(&sc, i) != 200)
            first_failure = i;
        sc.next = i + 1;
    }
    ck_assert_msg(first_failure >= 3, "the disk was full at batch %d", first_failure);
    if (mode == MODE_INJECTED)
        ck_assert_int_eq(first_failure, 5);

    /* full: concurrent batches are refused (on tmpfs a few may still fit
     * where a checkpoint freed log space: then they are stored), reads
     * answer, the server is ready */
    post_concurrently(&sc);
    int refused = 0;
    for (int i = 0; i < sc.next; i++)
        refused += sc.status[i] == 500;
    if (mode == MODE_INJECTED)
        ck_assert_int_eq(refused, 1 + POSTERS * POSTS_EACH);
    ck_assert_int_ge(refused, 1 + POSTERS * POSTS_EACH / 2);
    const char *n;
    json_object *j;
    ck_assert_int_eq(traits_status(sc.srv.port, sc.tok, 0, &n, &j), 200);
    ck_assert_str_eq(n, "0");
    json_object_put(j);
    test_resp_t r;
    ck_assert_int_eq(test_http(sc.srv.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    test_resp_free(&r);
    /* the checkpointer's rounds (every 100 ms) while full log once */
    usleep(1000000);
    /* nothing of a refused batch was stored */
    for (int i = 0; i < sc.next; i++)
        if (sc.status[i] == 500) {
            ck_assert_msg(traits_status(sc.srv.port, sc.tok, i, NULL, &j) == 404, "refused batch %d was stored", i);
            json_object_put(j);
        }

    /* space freed: the next batches commit, and the refused ones retried
     * (same messageIds) are stored once */
    set_full(&sc, 0);
    for (int k = 0; k < 10; k++) {
        int i = sc.next++;
        ck_assert_msg(post_checked(&sc, i) == 200, "batch %d after space was freed: %d", i, sc.status[i]);
    }
    for (int i = 0; i < sc.next; i++)
        if (sc.status[i] == 500)
            ck_assert_msg(post_checked(&sc, i) == 200, "retried batch %d: %d", i, sc.status[i]);
    /* twice: a retry of an acknowledged batch stores nothing more */
    ck_assert_int_eq(post_checked(&sc, 0), 200);
    verify_acknowledged(&sc, sc.srv.port);

    /* kill -9 after the recovery: the file is whole and everything is there */
    kill(sc.srv.pid, SIGKILL);
    waitpid(sc.srv.pid, NULL, 0);
    const char *chk[] = {"check", "--db", sc.db, NULL};
    char *out = NULL, *err = NULL;
    int rc = test_cli(chk, NULL, &out, &err);
    ck_assert_msg(rc == 0, "profiled check: %d %s %s", rc, out, err);
    free(out);
    free(err);
    start_server(&sc);
    verify_acknowledged(&sc, sc.srv.port);
    ck_assert_int_eq(post_checked(&sc, sc.next), 200);
    sc.next++;
    test_server_stop(&sc.srv);

    /* the log: one writer line per failed commit (a group that failed is
     * not retried request by request), no line per request, the
     * checkpointer's failure once, not every round (on tmpfs it had frames
     * to copy that the file could not grow for; the injector may have
     * found the log copied already) */
    char *log = slurp(sc.log);
    int writer = count_lines(log, "profiled: writer: Commit failed"), internal = count_lines(log, "internal error on request"),
        ckpt = count_lines(log, "profiled: checkpoint: "), full = count_lines(log, "profiled: disk full: ");
    long seconds = (long)(time(NULL) - t0);
    fprintf(stderr, "disk_full (%s): %d refused; log: %d writer, %d disk-full, %d checkpoint lines in %ld s\n",
            mode == MODE_TMPFS ? "tmpfs" : "injected", refused, writer, full, ckpt, seconds);
    int bad = writer < 1 || writer > refused || internal != 0 || full < 1 || full > 1 + seconds / 10 + 1 || ckpt > 4 ||
              (mode == MODE_TMPFS && ckpt < 1);
    if (bad)
        fprintf(stderr, "---- server log ----\n%s---- end ----\n", log);
    ck_assert_msg(!bad, "log: %d writer lines for %d refused, %d internal, %d disk-full, %d checkpoint", writer, refused, internal,
                  full, ckpt);
    test_rm_db(sc.db);
    unlink(sc.flag);
    unlink(sc.log);
    free(sc.db);
    free(sc.flag);
    free(sc.log);
}

START_TEST(test_tmpfs_full)
{
    scenario(MODE_TMPFS);
}
END_TEST

START_TEST(test_injected_full)
{
    scenario(MODE_INJECTED);
}
END_TEST

int
main(void)
{
    main_pid = getpid();
    mnt = test_tmp_path("mnt");
    if (mkdir(mnt, 0755) != 0)
        abort();
    if (mount("tmpfs", mnt, "tmpfs", 0, SMALL_FS) == 0) {
        mounted = 1;
        atexit(unmount_all);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    } else {
        fprintf(stderr, "disk_full: cannot mount a tmpfs on %s (%s): only the fault injector's case runs\n", mnt, strerror(errno));
    }
    Suite *s = suite_create("disk_full");
    TCase *tc = tcase_create("disk_full");
    tcase_set_timeout(tc, 300);
    if (mounted)
        tcase_add_test(tc, test_tmpfs_full);
    tcase_add_test(tc, test_injected_full);
    suite_add_tcase(s, tc);
    int failed = test_run_suite(s);
    unmount_all();
    rmdir(mnt);
    free(mnt);
    return failed == 0 ? 0 : 1;
}
