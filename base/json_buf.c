/* jsonbuf.c -- a growing buffer that views write JSON text into. Commas are
 * placed automatically: a value or key written after another member of the
 * same container gets one. Stored JSON (trait values, createdBy) is spliced
 * in as is, without re-parsing. Strings come out as valid UTF-8. No printf:
 * numbers and times are written by hand, plain strings copied whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base.h"

void
base_jb_init(jsonbuf_t *b, size_t cap)
{
    b->cap = cap < 64 ? 64 : cap;
    b->len = 0;
    b->data = malloc(b->cap);
    if (b->data == NULL)
        abort();
    b->data[0] = '\0';
}

void
base_jb_free(jsonbuf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void
reserve(jsonbuf_t *b, size_t n)
{
    if (b->data == NULL)
        base_jb_init(b, n + 1);
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap * 2;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        abort();
    b->data = p;
    b->cap = cap;
}

static void
put(jsonbuf_t *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void
put_char(jsonbuf_t *b, char c)
{
    reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

/* A comma unless this is the first thing in a container or a member value. */
static void
sep(jsonbuf_t *b)
{
    if (b->len == 0)
        return;
    char last = b->data[b->len - 1];
    if (last != '{' && last != '[' && last != ':')
        put_char(b, ',');
}

void
base_jb_reserve(jsonbuf_t *b, size_t n)
{
    reserve(b, n);
}

void
base_jb_append(jsonbuf_t *b, const char *s, size_t n)
{
    put(b, s, n);
}

void
base_jb_raw(jsonbuf_t *b, const char *s, size_t n)
{
    sep(b);
    put(b, s, n);
}

/* The length of the start of s that JSON strings hold as is: printable
 * ASCII but '"' and '\\', eight bytes a step (each test below is exact
 * for the word as a whole). */
static size_t
plain_prefix(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, q, bs;
        memcpy(&x, s + i, 8);
        q = x ^ (ones * '"');
        bs = x ^ (ones * '\\');
        if (((x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high) != 0)
            break;
    }
    while (i < n && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

void
base_jb_str(jsonbuf_t *b, const char *s, size_t n)
{
    sep(b);
    size_t plain = plain_prefix(s, n);
    reserve(b, plain + 2);
    b->data[b->len++] = '"';
    memcpy(b->data + b->len, s, plain);
    b->len += plain;
    if (plain == n) {
        b->data[b->len++] = '"';
        b->data[b->len] = '\0';
        return;
    }
    /* the rest escaped piece by piece: room for the plain text plus a few
     * escapes, more when they run out; what is not UTF-8 comes out as
     * U+FFFD */
    for (size_t done = plain; done < n;) {
        reserve(b, n - done + 8);
        size_t used;
        b->len += base_json_escape(s + done, n - done, b->data + b->len, b->cap - b->len - 1, &used);
        done += used;
    }
    b->data[b->len] = '\0';
    put_char(b, '"');
}

void
base_jb_key(jsonbuf_t *b, const char *s, size_t n)
{
    base_jb_str(b, s, n);
    put_char(b, ':');
}

void
base_jb_int(jsonbuf_t *b, int64_t v)
{
    char num[BASE_FMT_INT_MAX];
    base_jb_raw(b, num, base_fmt_i64(num, v));
}

/* Two decimal digits of v (0..99). */
static void
put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

#define DAY_MS 86400000LL
#define YEAR_10000_MS 253402300800000LL /* the first time with five year digits */

void
base_jb_time(jsonbuf_t *b, int64_t ms)
{
    /* Times of a page mostly share a few days (the receivedTime of an
     * import, the events of a session): the date texts of the last days
     * this thread wrote are kept (four, by day mod 4, so an event's two
     * times do not push each other out), and only the time of day is
     * written. */
    static _Thread_local int64_t last_day[4] = {-1, -1, -1, -1};
    static _Thread_local char last_date[4][10];
    sep(b);
    reserve(b, 26);
    char *p = b->data + b->len;
    p[0] = '"';
    if (ms >= 0 && ms < YEAR_10000_MS) {
        int64_t day = ms / DAY_MS;
        unsigned tod = (unsigned)(ms % DAY_MS), secs = tod / 1000;
        unsigned slot = (unsigned)(day & 3);
        if (day != last_day[slot]) {
            char iso[32];
            base_format_time(day * DAY_MS, iso);
            memcpy(last_date[slot], iso, 10);
            last_day[slot] = day;
        }
        memcpy(p + 1, last_date[slot], 10);
        p[11] = 'T';
        put2(p + 12, secs / 3600);
        p[14] = ':';
        put2(p + 15, secs / 60 % 60);
        p[17] = ':';
        put2(p + 18, secs % 60);
        p[20] = '.';
        p[21] = (char)('0' + tod % 1000 / 100);
        put2(p + 22, tod % 100);
        p[24] = 'Z';
    } else {
        char iso[32];
        base_format_time(ms, iso); /* 24 bytes, all plain */
        memcpy(p + 1, iso, 24);
    }
    p[25] = '"';
    b->len += 26;
    b->data[b->len] = '\0';
}

void
base_jb_open(jsonbuf_t *b, char c)
{
    sep(b);
    put_char(b, c);
}

void
base_jb_close(jsonbuf_t *b, char c)
{
    put_char(b, c);
}

void
base_jb_rawkey(jsonbuf_t *b, const char *raw, size_t n)
{
    sep(b);
    reserve(b, n + 3);
    char *p = b->data + b->len;
    p[0] = '"';
    memcpy(p + 1, raw, n);
    p[n + 1] = '"';
    p[n + 2] = ':';
    p[n + 3] = '\0';
    b->len += n + 3;
}
