/* text.c -- bounded text, the one copy every part uses: well-formed UTF-8
 * (RFC 3629) for the JSON scanner and for ids, a copy of untrusted bytes as
 * UTF-8 that never cuts a character, JSON string escaping into a fixed
 * buffer (views, the access log), and a printf appender that clamps instead
 * of running past its buffer. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "base.h"

static const char replacement[3] = {(char)0xef, (char)0xbf, (char)0xbd}; /* U+FFFD */

size_t
base_utf8_char(const char *s, size_t left)
{
    const unsigned char *u = (const unsigned char *)s;
    if (left == 0)
        return 0;
    unsigned char c = u[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* U+D800..U+DFFF: surrogates are no characters */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (left < n || u[1] < lo || u[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (u[i] < 0x80 || u[i] > 0xbf)
            return 0;
    return n;
}

bool
base_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = base_utf8_char(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

size_t
base_utf8_prefix(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    /* back to the start of the character that max falls in (at most three
     * continuation bytes), and cut before it when it is one that goes on */
    size_t k = max;
    while (k > 0 && max - k < 3 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--;
    size_t len = base_utf8_char(s + k, n - k);
    return len > 0 && k + len > max ? k : max;
}

size_t
base_utf8_copy(const char *s, size_t n, char *out, size_t cap, size_t *used)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t k = base_utf8_char(s + i, n - i);
        const char *src = k > 0 ? s + i : replacement;
        size_t w = k > 0 ? k : sizeof(replacement);
        if (w > cap - o)
            break;
        memcpy(out + o, src, w);
        o += w;
        i += k > 0 ? k : 1;
    }
    if (used != NULL)
        *used = i;
    return o;
}

size_t
base_json_escape(const char *s, size_t n, char *out, size_t cap, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        const char *src = esc;
        size_t w, k = 1;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            /* a run of plain ASCII: the common case, copied at once */
            size_t j = i + 1;
            while (j < n && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x80 && s[j] != '"' && s[j] != '\\')
                j++;
            w = k = j - i;
            if (w > cap - o)
                w = k = cap - o;
            if (w == 0)
                break;
            src = s + i;
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            w = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            w = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            w = 6;
        } else if ((k = base_utf8_char(s + i, n - i)) > 0) {
            src = s + i;
            w = k;
        } else {
            src = replacement;
            w = sizeof(replacement);
            k = 1;
        }
        if (w > cap - o)
            break;
        memcpy(out + o, src, w);
        o += w;
        i += k;
    }
    if (used != NULL)
        *used = i;
    return o;
}

bool
base_vappendf(char *buf, size_t cap, size_t *len, const char *fmt, va_list ap)
{
    if (*len + 1 >= cap) {
        *len = cap > 0 ? cap - 1 : 0;
        return false;
    }
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    if (n < 0) {
        buf[*len] = '\0';
        return false;
    }
    if ((size_t)n >= cap - *len) {
        *len = cap - 1;
        return false;
    }
    *len += (size_t)n;
    return true;
}

bool
base_appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool ok = base_vappendf(buf, cap, len, fmt, ap);
    va_end(ap);
    return ok;
}

uint64_t
base_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    const uint64_t prime = 1099511628211ull;
    size_t i = 0;
    /* four bytes a turn (the same steps, less loop): an ETag hashes every
     * body a view answers */
    for (; i + 4 <= n; i += 4) {
        h = (h ^ c[i]) * prime;
        h = (h ^ c[i + 1]) * prime;
        h = (h ^ c[i + 2]) * prime;
        h = (h ^ c[i + 3]) * prime;
    }
    for (; i < n; i++)
        h = (h ^ c[i]) * prime;
    return h;
}

/* base_hash64: the shape of xxHash64 (its primes, lane round and final
 * mix), not its exact value. FNV-1a's one multiply a byte, each waiting
 * for the last, cost a view of 8 KB about 10 us; this is one multiply
 * per 8 bytes, four lanes in flight. */
#define H_P1 0x9E3779B185EBCA87ull
#define H_P2 0xC2B2AE3D27D4EB4Full
#define H_P3 0x165667B19E3779F9ull

static inline uint64_t
h_rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t
h_le64(const unsigned char *c)
{
    uint64_t w;
    memcpy(&w, c, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

static inline uint64_t
h_round(uint64_t acc, uint64_t w)
{
    return h_rotl(acc + w * H_P2, 31) * H_P1;
}

uint64_t
base_hash64(const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i = 0;
    uint64_t h;
    if (n >= 32) {
        uint64_t v[4] = {H_P1 + H_P2, H_P2, 0, -H_P1};
        for (; i + 32 <= n; i += 32)
            for (int k = 0; k < 4; k++)
                v[k] = h_round(v[k], h_le64(c + i + 8 * k));
        h = h_rotl(v[0], 1) + h_rotl(v[1], 7) + h_rotl(v[2], 12) + h_rotl(v[3], 18);
        for (int k = 0; k < 4; k++)
            h = (h ^ h_round(0, v[k])) * H_P1 + H_P3;
    } else {
        h = H_P3;
    }
    h += (uint64_t)n;
    for (; i + 8 <= n; i += 8)
        h = h_rotl(h ^ h_round(0, h_le64(c + i)), 27) * H_P1 + H_P2;
    for (; i < n; i++)
        h = h_rotl(h ^ (c[i] * H_P3), 11) * H_P1;
    h ^= h >> 33;
    h *= H_P2;
    h ^= h >> 29;
    h *= H_P3;
    return h ^ (h >> 32);
}

int
base_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* SQLite's BINARY collation on UTF-8 text: bytes, then length. */
int
base_text_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    return c != 0 ? c : (an > bn) - (an < bn);
}

size_t
base_fmt_u64(char *out, uint64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[BASE_FMT_INT_MAX];
    char *p = tmp + sizeof(tmp);
    while (v >= 100) { /* two digits a division */
        unsigned d = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * d, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

size_t
base_fmt_i64(char *out, int64_t v)
{
    if (v >= 0)
        return base_fmt_u64(out, (uint64_t)v);
    out[0] = '-';
    /* the magnitude in unsigned arithmetic: -INT64_MIN does not fit */
    return 1 + base_fmt_u64(out + 1, 0 - (uint64_t)v);
}

size_t
base_fmt_hex(char *out, uint64_t v, int width)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = width - 1; i >= 0; i--) {
        out[i] = digits[v & 15];
        v >>= 4;
    }
    out[width] = '\0';
    return (size_t)width;
}

size_t
base_fmt_fixed3(char *out, double v)
{
    if (!(v > -1e9 && v < 1e9)) { /* also NaN; cut to the buffer */
        int n = snprintf(out, BASE_FMT_FIXED3_MAX, "%.3f", v);
        return n < 0 ? 0 : (size_t)n < BASE_FMT_FIXED3_MAX ? (size_t)n : BASE_FMT_FIXED3_MAX - 1;
    }
    size_t n = 0;
    if (signbit(v)) { /* "%.3f" keeps the sign of what rounds to 0, and of -0 */
        out[n++] = '-';
        v = -v;
    }
    uint64_t thousandths = (uint64_t)(v * 1000.0 + 0.5);
    unsigned frac = (unsigned)(thousandths % 1000);
    n += base_fmt_u64(out + n, thousandths / 1000);
    out[n++] = '.';
    out[n++] = (char)('0' + frac / 100);
    out[n++] = (char)('0' + frac / 10 % 10);
    out[n++] = (char)('0' + frac % 10);
    out[n] = '\0';
    return n;
}
