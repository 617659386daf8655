/* gendata_json.c -- profiled-gendata's line buffer and the JSON pieces its
 * messages are made of: strings, numbers, money, ISO timestamps, UUIDs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gendata.h"

void
put_raw(line_t *o, const char *s, size_t n)
{
    if (o->len + n > sizeof(o->buf)) {
        fprintf(stderr, "profiled-gendata: message longer than %d bytes\n", LINE_CAP);
        exit(2);
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

void
put_char(line_t *o, char c)
{
    put_raw(o, &c, 1);
}

void
put_str(line_t *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put_char(o, '"');
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put_raw(o, run, (size_t)(s - run));
        run = s + 1;
        const char *named = c == '"'    ? "\\\""
                            : c == '\\' ? "\\\\"
                            : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r"
                            : c == '\t' ? "\\t"
                                        : NULL;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
        if (named != NULL)
            put_raw(o, named, 2);
        else
            put_raw(o, esc, sizeof(esc));
    }
    put_raw(o, run, (size_t)(s - run));
    put_char(o, '"');
}

void
put_u64(line_t *o, uint64_t v)
{
    char tmp[24];
    size_t n = sizeof(tmp);
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_raw(o, tmp + n, sizeof(tmp) - n);
}

void
put_cents(line_t *o, uint64_t cents)
{
    put_u64(o, cents / 100);
    char frac[3] = {'.', (char)('0' + cents % 100 / 10), (char)('0' + cents % 10)};
    put_raw(o, frac, sizeof(frac));
}

static void
put_digits(line_t *o, unsigned v, int width)
{
    char tmp[8];
    for (int k = width - 1; k >= 0; k--) {
        tmp[k] = (char)('0' + v % 10);
        v /= 10;
    }
    put_raw(o, tmp, (size_t)width);
}

/* Howard Hinnant's civil-from-days / days-from-civil (proleptic Gregorian). */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void
put_time(line_t *o, int64_t ms)
{
    int64_t days = ms / DAY_MS, rem = ms % DAY_MS, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    put_char(o, '"');
    put_digits(o, (unsigned)y, 4);
    put_char(o, '-');
    put_digits(o, m, 2);
    put_char(o, '-');
    put_digits(o, d, 2);
    put_char(o, 'T');
    put_digits(o, (unsigned)(rem / 3600000), 2);
    put_char(o, ':');
    put_digits(o, (unsigned)(rem / 60000 % 60), 2);
    put_char(o, ':');
    put_digits(o, (unsigned)(rem / 1000 % 60), 2);
    put_char(o, '.');
    put_digits(o, (unsigned)(rem % 1000), 3);
    PUT_LIT(o, "Z\"");
}

void
put_uuid(line_t *o, uint64_t hi, uint64_t lo)
{
    static const char hex[] = "0123456789abcdef";
    hi = (hi & ~0xf000ULL) | 0x4000ULL;
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    char s[38];
    size_t n = 0;
    s[n++] = '"';
    for (int k = 15; k >= 0; k--) {
        s[n++] = hex[(hi >> (k * 4)) & 0xf];
        if (k == 8 || k == 4)
            s[n++] = '-';
    }
    s[n++] = '-';
    for (int k = 15; k >= 0; k--) {
        s[n++] = hex[(lo >> (k * 4)) & 0xf];
        if (k == 12)
            s[n++] = '-';
    }
    s[n++] = '"';
    put_raw(o, s, n);
}

void
put_rng_uuid(line_t *o, uint64_t *rng)
{
    uint64_t hi = dataset_rng_next(rng);
    put_uuid(o, hi, dataset_rng_next(rng));
}
