/* timeutil.c -- small text helpers of the store: ISO 8601 times to and from
 * milliseconds (no time zone database: UTC and numeric offsets only),
 * UUID v4, base64, and the snake_case of event names. */
#include <ctype.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "base.h"

/* Writes v as exactly n digits. */
static void
put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *
base_format_time(int64_t ms, char out[32])
{
    /* Floor division, so times before 1970 keep a positive millisecond. */
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    /* civil_from_days (H. Hinnant): no gmtime, no locale, no formatting
     * machinery -- this runs for every time of every event page */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);
    y += m <= 2;
    /* ISO 8601 basic form has four year digits */
    if (y < 0 || y > 9999) {
        y = y < 0 ? 0 : 9999;
        m = y == 0 ? 1 : 12;
        d = y == 0 ? 1 : 31;
        sod = y == 0 ? 0 : 86399;
        frac = y == 0 ? 0 : 999;
    }
    put_digits(out, (unsigned)y, 4);
    out[4] = '-';
    put_digits(out + 5, (unsigned)m, 2);
    out[7] = '-';
    put_digits(out + 8, (unsigned)d, 2);
    out[10] = 'T';
    put_digits(out + 11, (unsigned)(sod / 3600), 2);
    out[13] = ':';
    put_digits(out + 14, (unsigned)(sod / 60 % 60), 2);
    out[16] = ':';
    put_digits(out + 17, (unsigned)(sod % 60), 2);
    out[19] = '.';
    put_digits(out + 20, (unsigned)frac, 3);
    out[23] = 'Z';
    out[24] = '\0';
    return out;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no timegm, no TZ environment. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly n digits at s[*pos]. */
static bool
digits(const char *s, size_t len, size_t *pos, int n, int *out)
{
    int v = 0;
    if (*pos + (size_t)n > len)
        return false;
    for (int i = 0; i < n; i++) {
        char c = s[*pos + i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *pos += n;
    *out = v;
    return true;
}

static bool
expect(const char *s, size_t len, size_t *pos, char c)
{
    if (*pos >= len || s[*pos] != c)
        return false;
    (*pos)++;
    return true;
}

/* "Z", "+hh:mm", "+hhmm", "+hh" or nothing (UTC) at s[*pos]. */
static bool
parse_offset(const char *s, size_t len, size_t *pos, int *offset_min)
{
    *offset_min = 0;
    if (*pos == len)
        return true;
    char c = s[*pos];
    if (c == 'Z' || c == 'z') {
        (*pos)++;
        return *pos == len;
    }
    if (c != '+' && c != '-')
        return false;
    (*pos)++;
    int hh, mm = 0;
    if (!digits(s, len, pos, 2, &hh) || hh > 23)
        return false;
    if (*pos < len) {
        expect(s, len, pos, ':');
        if (!digits(s, len, pos, 2, &mm) || mm > 59)
            return false;
    }
    *offset_min = (c == '-' ? -1 : 1) * (hh * 60 + mm);
    return *pos == len;
}

int
base_parse_time(const char *s, size_t len, int64_t *ms)
{
    size_t pos = 0;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, frac_ms = 0, offset_min = 0;
    if (s == NULL)
        return BASE_EINVAL;
    if (!digits(s, len, &pos, 4, &y) || !expect(s, len, &pos, '-') || !digits(s, len, &pos, 2, &mo) || !expect(s, len, &pos, '-') ||
        !digits(s, len, &pos, 2, &d))
        return BASE_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return BASE_EINVAL;
    if (pos < len) {
        if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')
            return BASE_EINVAL;
        pos++;
        if (!digits(s, len, &pos, 2, &h) || !expect(s, len, &pos, ':') || !digits(s, len, &pos, 2, &mi))
            return BASE_EINVAL;
        if (pos < len && s[pos] == ':') {
            pos++;
            if (!digits(s, len, &pos, 2, &sec))
                return BASE_EINVAL;
            if (pos < len && (s[pos] == '.' || s[pos] == ',')) {
                int scale = 100, ndig = 0;
                for (pos++; pos < len && s[pos] >= '0' && s[pos] <= '9'; pos++, ndig++) {
                    frac_ms += (s[pos] - '0') * scale; /* digits past milliseconds are truncated */
                    scale /= 10;
                }
                if (ndig == 0)
                    return BASE_EINVAL;
            }
        }
        if (h > 23 || mi > 59 || sec > 59)
            return BASE_EINVAL;
        if (!parse_offset(s, len, &pos, &offset_min))
            return BASE_EINVAL;
    }
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *ms = t * 1000 + frac_ms;
    return 0;
}

void
base_uuid_v4(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        /* OpenSSL's DRBG failing means a broken system; the kernel is the
         * last resort, and an id from no entropy is not an option. */
        if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
            abort();
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

size_t
base_base64(const unsigned char *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t
base_base64url(const unsigned char *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = tbl[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = tbl[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return o;
}

static bool
is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool
is_lower_or_digit(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

size_t
base_snake_case(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    bool sep = false, truncated = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        /* Bytes of multi-byte UTF-8 characters count as letters. */
        bool word = is_upper(c) || is_lower_or_digit(c) || c >= 0x80;
        if (!word) {
            sep = o > 0;
            continue;
        }
        if (is_upper(c) && i > 0) {
            unsigned char prev = (unsigned char)in[i - 1];
            unsigned char next = i + 1 < n ? (unsigned char)in[i + 1] : 0;
            /* "EmailOpened" -> email_opened; "HTMLParser" -> html_parser */
            if (is_lower_or_digit(prev) || (is_upper(prev) && next >= 'a' && next <= 'z'))
                sep = o > 0;
        }
        if (o + (sep ? 2 : 1) >= cap) {
            truncated = true;
            break;
        }
        if (sep)
            out[o++] = '_';
        sep = false;
        out[o++] = is_upper(c) ? (char)(c - 'A' + 'a') : (char)c;
    }
    if (truncated) {
        /* Never leave half a UTF-8 character at the cut. */
        while (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
            o--;
        if (o > 0 && (unsigned char)out[o - 1] >= 0xc0)
            o--;
        while (o > 0 && out[o - 1] == '_')
            o--;
    }
    if (cap > 0)
        out[o] = '\0';
    return o;
}

int
base_parse_time_query(const char *s, size_t len, int64_t *ms)
{
    const char *sp = memchr(s, ' ', len);
    if (sp == NULL)
        return base_parse_time(s, len, ms);
    size_t at = (size_t)(sp - s), tail = len - at - 1;
    /* one space, after "...Thh:mm" (a time, so a date-time), then hh,
     * hhmm or hh:mm */
    const char *t = memchr(s, 'T', at);
    if (t == NULL || at < 3 || !isdigit((unsigned char)s[at - 1]) || memchr(sp + 1, ' ', tail) != NULL)
        return BASE_EINVAL;
    bool shape = (tail == 2 || tail == 4 || (tail == 5 && sp[3] == ':'));
    for (size_t i = 1; shape && i <= tail; i++)
        shape = i == 3 && tail == 5 ? true : isdigit((unsigned char)sp[i]) != 0;
    if (!shape || len > 64)
        return BASE_EINVAL;
    char copy[64];
    memcpy(copy, s, len);
    copy[at] = '+';
    return base_parse_time(copy, len, ms);
}
