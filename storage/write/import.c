/* import.c -- bulk import of NDJSON message files. A reader thread reads
 * and checks lines in batches while the calling thread writes them to
 * SQLite. One transaction per IMPORT_COMMIT_LINES lines, with the profile
 * writes of each combined (defer.c); each line's text is stored as the
 * event's raw message as is. Rejected lines are reported by number. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../write/write.h"

#define IMPORT_COMMIT_LINES 10000
#define IMPORT_PROGRESS_LINES 100000
#define BATCH_LINES 512
#define BATCHES 4 /* in flight between the two threads */
#define CHUNK_BYTES (1024 * 1024)
/* Checkpoint every 64 MiB of WAL (16 KiB pages) rather than SQLite's 1000
 * pages: fewer, larger checkpoints and fsyncs while importing. */
#define IMPORT_CHECKPOINT_PAGES 4096
/* The event entries and marks go hot (schema steps 10, 11), and a whole
 * compaction round runs between two transactions once this many are: the
 * messageId entries of a file arrive in random order, and a round merges
 * many of them into each page of the large table. */
#define IMPORT_COMPACT_HOT 200000
#define IMPORT_COMPACT_CHUNK 65536
#define DEFAULT_CHECKPOINT_PAGES 1000

typedef struct {
    uint64_t lineno;
    int status; /* 0, or STORAGE_EINVAL with err */
    message_t m;
    const char *text; /* in the batch's chunks: m points into it */
    size_t text_len;
    char err[160];
} line_t;

/* Line text lives in chunks that never move, unlike a growing buffer. */
typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk_t;

typedef struct batch {
    line_t lines[BATCH_LINES];
    size_t n;
    chunk_t *chunks, *cur;
    bool last; /* end of input (or a read error) after this batch */
    struct batch *next;
} batch_t;

typedef struct {
    FILE *in;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch_t *full, *full_tail; /* parsed, for the writer, in order */
    batch_t *free_list;        /* written, for the reader to recycle */
    int allocated;
    atomic_bool stop; /* the writer gave up (read by the reader unlocked) */
    bool read_error;
} pipe_t;

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
batch_clear(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        segment_message_free(&b->lines[i].m);
    for (chunk_t *c = b->chunks; c != NULL; c = c->next)
        c->used = 0;
    b->cur = b->chunks;
    b->n = 0;
    b->last = false;
    b->next = NULL;
}

static void
batch_free(batch_t *b)
{
    batch_clear(b);
    for (chunk_t *c = b->chunks, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(b);
}

/* Room for n bytes of text in the batch's chunks. */
static char *
batch_text(batch_t *b, size_t n)
{
    while (b->cur != NULL && b->cur->cap - b->cur->used < n)
        b->cur = b->cur->next;
    if (b->cur == NULL) {
        size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
        chunk_t *c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            abort();
        c->used = 0;
        c->cap = cap;
        c->next = b->chunks;
        b->chunks = b->cur = c;
    }
    char *p = b->cur->data + b->cur->used;
    b->cur->used += n;
    return p;
}

static void
read_one(batch_t *b, uint64_t lineno, const char *p, size_t n)
{
    line_t *l = &b->lines[b->n++];
    l->lineno = lineno;
    memset(&l->m, 0, sizeof(l->m));
    l->status = STORAGE_EINVAL;
    if (n > SEGMENT_MAX_MESSAGE_BYTES) {
        snprintf(l->err, sizeof(l->err), "message larger than %d bytes", SEGMENT_MAX_MESSAGE_BYTES);
        return;
    }
    char *text = batch_text(b, n);
    memcpy(text, p, n);
    l->text = text;
    l->text_len = n;
    l->status = segment_message_check(text, n, &l->m, NULL, l->err, sizeof(l->err));
}

/* A batch to fill: recycled from the writer, or new while few exist. NULL
 * when the writer stopped. */
static batch_t *
take_free(pipe_t *p)
{
    batch_t *b = NULL;
    bool make = false;
    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->free_list == NULL && p->allocated >= BATCHES)
        pthread_cond_wait(&p->cv, &p->mu);
    if (!p->stop) {
        if (p->free_list != NULL) {
            b = p->free_list;
            p->free_list = b->next;
        } else {
            p->allocated++;
            make = true;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (make && (b = calloc(1, sizeof(*b))) == NULL)
        abort();
    if (b != NULL)
        batch_clear(b);
    return b;
}

static void
publish(pipe_t *p, batch_t *b)
{
    pthread_mutex_lock(&p->mu);
    if (p->full_tail != NULL)
        p->full_tail->next = b;
    else
        p->full = b;
    p->full_tail = b;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *
reader_main(void *arg)
{
    pipe_t *p = arg;
    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0;
    bool eof = false;
    while (!eof) {
        batch_t *b = take_free(p);
        if (b == NULL)
            break;
        while (b->n < BATCH_LINES && !atomic_load(&p->stop)) {
            ssize_t got = getline(&line, &cap, p->in);
            if (got == -1) {
                eof = true;
                p->read_error = ferror(p->in) != 0;
                break;
            }
            size_t n = (size_t)got;
            const char *s = line;
            lineno++;
            while (n > 0 && is_space(s[n - 1]))
                n--;
            while (n > 0 && is_space(*s)) {
                s++;
                n--;
            }
            if (n > 0)
                read_one(b, lineno, s, n);
        }
        b->last = eof;
        publish(p, b);
    }
    free(line);
    return NULL;
}

static batch_t *
take_full(pipe_t *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->full == NULL)
        pthread_cond_wait(&p->cv, &p->mu);
    batch_t *b = p->full;
    p->full = b->next;
    if (p->full == NULL)
        p->full_tail = NULL;
    pthread_mutex_unlock(&p->mu);
    return b;
}

static void
give_back(pipe_t *p, batch_t *b, bool stop)
{
    pthread_mutex_lock(&p->mu);
    b->next = p->free_list;
    p->free_list = b;
    if (stop)
        p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

typedef struct {
    storage_t *st;
    int64_t tid;
    int64_t now_ms;
    bool own_txn;
    FILE *errout, *progress;
    uint64_t ok, bad, ok_committed;
    uint64_t next_commit, next_progress;
} writer_t;

/* Writes one parsed line; a negative return other than EINVAL/EEXIST ends
 * the import. */
static int
write_line(writer_t *w, line_t *l)
{
    int ret = l->status;
    char err[256];
    if (ret == 0)
        ret = stg_ingest_checked(w->st, w->tid, &l->m, l->text, l->text_len, "import", w->now_ms, err, sizeof(err));
    else
        snprintf(err, sizeof(err), "%s", l->err);
    if (ret == 0 || ret == STORAGE_EEXIST) {
        w->ok++;
    } else if (ret == STORAGE_EINVAL) {
        w->bad++;
        if (w->errout != NULL)
            fprintf(w->errout, "line %llu: %s\n", (unsigned long long)l->lineno, err);
    } else {
        return ret;
    }
    if (w->own_txn && l->lineno >= w->next_commit) {
        if ((ret = storage_commit(w->st)) != 0)
            return ret;
        w->ok_committed = w->ok;
        if ((ret = storage_events_compact_round(w->st, IMPORT_COMPACT_HOT, IMPORT_COMPACT_CHUNK, NULL)) != 0 ||
            (ret = storage_begin(w->st)) != 0)
            return ret;
        w->next_commit = (l->lineno / IMPORT_COMMIT_LINES + 1) * IMPORT_COMMIT_LINES;
    }
    if (w->progress != NULL && l->lineno >= w->next_progress) {
        fprintf(w->progress, "%llu lines: %llu imported, %llu rejected\n", (unsigned long long)l->lineno, (unsigned long long)w->ok,
                (unsigned long long)w->bad);
        w->next_progress = (l->lineno / IMPORT_PROGRESS_LINES + 1) * IMPORT_PROGRESS_LINES;
    }
    return 0;
}

int
storage_import_ndjson(storage_t *st, const storage_tenant_t *tenant, FILE *in, FILE *errout, FILE *progress, int64_t now_ms,
                      uint64_t *imported, uint64_t *rejected)
{
    writer_t w = {.st = st,
                  .now_ms = now_ms,
                  .own_txn = !stg_in_txn(st),
                  .errout = errout,
                  .progress = progress,
                  .next_commit = IMPORT_COMMIT_LINES,
                  .next_progress = IMPORT_PROGRESS_LINES};
    pipe_t p = {.in = in};
    pthread_t reader;
    bool started = false, last = false;
    int ret;

    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if (w.own_txn)
        storage_hot_events(st, true);
    if (w.own_txn && (ret = storage_begin(st)) != 0)
        goto fail;
    if ((ret = stg_tenant_id(st, tenant, true, &w.tid)) != 0)
        goto fail;
    if (pthread_create(&reader, NULL, reader_main, &p) != 0) {
        ret = stg_fail(st, STORAGE_EIO, "cannot start the reader thread");
        goto fail;
    }
    started = true;
    stg_defer_enable(st, true);
    stg_autocheckpoint(st, IMPORT_CHECKPOINT_PAGES);
    while (!last) {
        batch_t *b = take_full(&p);
        ret = 0;
        for (size_t i = 0; i < b->n && ret == 0; i++) {
            /* the slice's run (PostgreSQL), from here on after a commit */
            for (size_t k = i; st->pg && !stg_seen_ready(st) && k < b->n; k++)
                if (b->lines[k].status == 0)
                    stg_seen_want_message(st, w.tid, &b->lines[k].m);
            if ((ret = stg_seen_fetch(st, w.tid)) == 0)
                ret = write_line(&w, &b->lines[i]);
        }
        stg_seen_drop(st);
        last = b->last;
        give_back(&p, b, ret != 0);
        if (ret != 0)
            goto fail;
    }
    if (p.read_error) {
        ret = stg_fail(st, STORAGE_EIO, "read error after %llu lines", (unsigned long long)(w.ok + w.bad));
        goto fail;
    }
    if ((ret = stg_defer_enable(st, false)) != 0)
        goto fail;
    if (w.own_txn && (ret = storage_commit(st)) != 0)
        goto fail;
    if (w.own_txn && (ret = storage_events_compact_round(st, 1, IMPORT_COMPACT_CHUNK, NULL)) != 0) /* nothing left hot */
        goto fail;
    ret = w.bad > 0 ? STORAGE_EINVAL : 0;
    if (w.bad > 0)
        stg_fail(st, ret, "%llu of %llu lines rejected", (unsigned long long)w.bad, (unsigned long long)(w.ok + w.bad));
    goto done;
fail:
    /* Batches already committed stay; the one in flight is lost. In the
     * caller's transaction, keep what was written consistent (events with
     * their marks) for the caller to commit or roll back. */
    if (w.own_txn) {
        stg_defer_discard(st);
        storage_rollback(st);
        w.ok = w.ok_committed;
    } else {
        stg_defer_flush(st);
    }
done:
    stg_defer_enable(st, false);
    stg_autocheckpoint(st, DEFAULT_CHECKPOINT_PAGES);
    if (started) {
        /* Unblock a reader waiting for a batch, then drain what it made. */
        pthread_mutex_lock(&p.mu);
        p.stop = true;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        pthread_join(reader, NULL);
    }
    for (batch_t *b = p.full, *next; b != NULL; b = next) {
        next = b->next;
        batch_free(b);
    }
    for (batch_t *b = p.free_list, *next; b != NULL; b = next) {
        next = b->next;
        batch_free(b);
    }
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    if (imported != NULL)
        *imported = w.ok;
    if (rejected != NULL)
        *rejected = w.bad;
    return ret;
}
