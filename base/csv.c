/* csv.c -- a CSV reader (RFC 4180, forgiving: blanks around unquoted
 * fields go, a lone CR is ignored), one row at a time from a FILE. */
#include <stdlib.h>
#include <string.h>
#include "base.h"

static int
next_char(base_csv_t *c)
{
    if (c->nback > 0)
        return c->back[--c->nback];
    return getc(c->in);
}

static void
push_back(base_csv_t *c, int ch)
{
    c->back[c->nback++] = ch;
}

static void
put_byte(base_csv_t *c, char ch)
{
    if (c->len == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->buf = base_xrealloc(c->buf, c->cap);
    }
    c->buf[c->len++] = ch;
}

static void
field_begin(base_csv_t *c)
{
    if (c->nfields == c->fcap) {
        c->fcap = c->fcap ? c->fcap * 2 : 8;
        c->start = base_xrealloc(c->start, c->fcap * sizeof(*c->start));
        c->flen = base_xrealloc(c->flen, c->fcap * sizeof(*c->flen));
    }
    c->start[c->nfields] = c->len;
    c->flen[c->nfields] = 0;
    c->nfields++;
}

static void
field_end(base_csv_t *c, bool quoted)
{
    size_t i = c->nfields - 1, s = c->start[i], e = c->len;
    if (!quoted) {
        while (s < e && (c->buf[s] == ' ' || c->buf[s] == '\t'))
            s++;
        while (e > s && (c->buf[e - 1] == ' ' || c->buf[e - 1] == '\t'))
            e--;
    }
    c->start[i] = s;
    c->flen[i] = e - s;
}

/* Skips the rest of a bad row. */
static void
skip_line(base_csv_t *c)
{
    int ch;
    while ((ch = next_char(c)) != EOF && ch != '\n')
        ;
    if (ch == '\n')
        c->line++;
}

/* Reads one row: 1, 0 at the end, -1 for a bad one (why says how; the row
 * is skipped). *line: where the row starts. */
int
base_csv_row(base_csv_t *c, uint64_t *line, const char **why)
{
    int ch;
    bool quoted = false, in_quotes = false, closed = false, any = false;
    if (!c->started) {
        c->started = true;
        c->line = 1;
        /* A UTF-8 byte order mark is no data. */
        int b0 = next_char(c);
        if (b0 == 0xef) {
            int b1 = next_char(c), b2 = b1 != EOF ? next_char(c) : EOF;
            if (b1 != 0xbb || b2 != 0xbf) {
                if (b2 != EOF)
                    push_back(c, b2);
                if (b1 != EOF)
                    push_back(c, b1);
                push_back(c, b0);
            }
        } else if (b0 != EOF) {
            push_back(c, b0);
        }
    }
    *line = c->line;
    /* fields point into buf, empty ones too: it is never NULL */
    if (c->buf == NULL)
        c->buf = base_xmalloc(c->cap = 256);
    c->len = 0;
    c->nfields = 0;
    field_begin(c);
    for (;;) {
        ch = next_char(c);
        if (ch == EOF) {
            if (in_quotes) {
                *why = "unterminated quoted field";
                return -1;
            }
            if (!any)
                return 0;
            field_end(c, quoted);
            return 1;
        }
        any = true;
        if (in_quotes) {
            if (ch == '"') {
                int nx = next_char(c);
                if (nx == '"') {
                    put_byte(c, '"');
                    continue;
                }
                if (nx != EOF)
                    push_back(c, nx);
                in_quotes = false;
                closed = true;
                continue;
            }
            if (ch == '\n')
                c->line++;
            put_byte(c, (char)ch);
            continue;
        }
        if (ch == '\r')
            continue;
        if (ch == ',' || ch == '\n') {
            field_end(c, quoted);
            if (ch == '\n') {
                c->line++;
                return 1;
            }
            field_begin(c);
            quoted = closed = false;
            continue;
        }
        if (closed) {
            if (ch == ' ' || ch == '\t')
                continue;
            *why = "text after a closing quote";
            skip_line(c);
            return -1;
        }
        if (ch == '"') {
            bool blank = true;
            for (size_t i = c->start[c->nfields - 1]; i < c->len && blank; i++)
                blank = c->buf[i] == ' ' || c->buf[i] == '\t';
            if (blank) {
                c->len = c->start[c->nfields - 1];
                quoted = in_quotes = true;
                continue;
            }
        }
        put_byte(c, (char)ch);
    }
}

void
base_csv_dispose(base_csv_t *c)
{
    free(c->buf);
    free(c->start);
    free(c->flen);
}
