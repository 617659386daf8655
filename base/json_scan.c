/* jscan.c -- strict JSON (RFC 8259, UTF-8) validation and member iteration
 * over text, without building a tree or allocating. Messages are checked
 * and taken apart this way: the text of a trait value or of a whole message
 * is stored as is, so nothing is parsed into objects and re-serialised. */
#include <string.h>
#include "base.h"

typedef struct {
    const char *p, *end;
    const char *why;
    int max_depth;
} scan_t;

static void
skip_ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool
fail(scan_t *s, const char *why)
{
    if (s->why == NULL)
        s->why = why;
    return false;
}

/* One UTF-8 character of two or more bytes at s->p. */
static bool
utf8_char(scan_t *s)
{
    size_t n = base_utf8_char(s->p, (size_t)(s->end - s->p));
    if (n == 0)
        return fail(s, "invalid UTF-8");
    s->p += n;
    return true;
}

static bool
scan_string(scan_t *s)
{
    s->p++; /* opening quote */
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c == '\\') {
            if (s->end - s->p < 2)
                break;
            char e = s->p[1];
            if (e == 'u') {
                if (s->end - s->p < 6 || base_hex_digit(s->p[2]) < 0 || base_hex_digit(s->p[3]) < 0 ||
                    base_hex_digit(s->p[4]) < 0 || base_hex_digit(s->p[5]) < 0)
                    return fail(s, "bad \\u escape");
                s->p += 6;
            } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
                s->p += 2;
            } else {
                return fail(s, "bad escape");
            }
        } else if (c < 0x20) {
            return fail(s, "control character in string");
        } else if (c >= 0x80) {
            if (!utf8_char(s))
                return false;
        } else {
            s->p++;
        }
    }
    return fail(s, "unterminated string");
}

static bool
digits(scan_t *s)
{
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static bool
scan_number(scan_t *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!digits(s))
        return fail(s, "bad number");
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s))
            return fail(s, "bad number");
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return fail(s, "bad number");
    }
    return true;
}

static bool
scan_literal(scan_t *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, "unexpected character");
    s->p += n;
    return true;
}

static bool scan_value(scan_t *s, int depth);

static bool
scan_container(scan_t *s, int depth, char close)
{
    if (depth >= s->max_depth)
        return fail(s, "nested too deeply");
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    for (;;) {
        if (close == '}') {
            if (s->p >= s->end || *s->p != '"')
                return fail(s, "expected a member name");
            if (!scan_string(s))
                return false;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return fail(s, "expected ':'");
            s->p++;
            skip_ws(s);
        }
        if (!scan_value(s, depth + 1))
            return false;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return true;
        }
        return fail(s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool
scan_value(scan_t *s, int depth)
{
    if (s->p >= s->end)
        return fail(s, "unexpected end");
    switch (*s->p) {
    case '{':
        return scan_container(s, depth, '}');
    case '[':
        return scan_container(s, depth, ']');
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return scan_number(s);
        return fail(s, "unexpected character");
    }
}

const char *
base_json_check(const char *text, size_t n)
{
    return base_json_check_depth(text, n, BASE_JSON_MAX_DEPTH);
}

const char *
base_json_check_depth(const char *text, size_t n, int max_depth)
{
    size_t at;
    return base_json_check_at(text, n, max_depth, &at);
}

const char *
base_json_check_at(const char *text, size_t n, int max_depth, size_t *at)
{
    scan_t s = {text, text + n, NULL, max_depth};
    const char *why = NULL;
    skip_ws(&s);
    if (!scan_value(&s, 0)) {
        why = s.why != NULL ? s.why : "invalid JSON";
    } else {
        skip_ws(&s);
        if (s.p != s.end)
            why = "trailing characters";
    }
    *at = why != NULL ? (size_t)(s.p - text) : n;
    return why;
}

/* Past the closing quote of a string whose body starts at p (valid
 * text): memchr finds each quote, the backslashes before it tell whether
 * it is escaped. */
static const char *
skip_string(const char *p, const char *end)
{
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL)
            return end;
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if (((q - b) & 1) == 0)
            return q + 1;
        p = q + 1;
    }
}

/* Past one value of text already known to be valid. */
static const char *
skip_value(const char *p, const char *end)
{
    int depth = 0;
    do {
        switch (*p) {
        case '{':
        case '[':
            depth++;
            p++;
            break;
        case '}':
        case ']':
            depth--;
            p++;
            break;
        case '"':
            p = skip_string(p + 1, end);
            break;
        default:
            /* scalars, and the separators and blanks inside containers */
            p++;
            while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != '{' && *p != '[' && *p != '"')
                p++;
        }
    } while (depth > 0 && p < end);
    return p;
}

/* Points it just inside the first `open` of span. */
static void
enter(jiter_t *it, span_t span, char open)
{
    const char *p = span.p, *end = span.p + span.n;
    while (p < end && *p != open)
        p++;
    it->p = p < end ? p + 1 : end;
    it->end = end;
}

/* Sets *value to the value starting at p (trailing blanks excluded: a
 * scalar's span stops at its last character, not at the separator) and
 * returns where it ends. */
static const char *
take_value(const char *p, const char *end, span_t *value)
{
    const char *v = p;
    p = skip_value(p, end);
    const char *vend = p;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\n' || vend[-1] == '\r'))
        vend--;
    value->p = v;
    value->n = (size_t)(vend - v);
    return p;
}

void
base_json_members(jiter_t *it, span_t object)
{
    enter(it, object, '{');
}

bool
base_json_next(jiter_t *it, span_t *key, span_t *value)
{
    const char *p = it->p, *end = it->end;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ','))
        p++;
    if (p >= end || *p != '"') {
        it->p = end;
        return false;
    }
    const char *k = ++p;
    for (; *p != '"'; p++)
        if (*p == '\\')
            p++;
    key->p = k;
    key->n = (size_t)(p - k);
    p++;
    while (*p != ':')
        p++;
    p++;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    it->p = take_value(p, end, value);
    return true;
}

void
base_json_items(jiter_t *it, span_t array)
{
    enter(it, array, '[');
}

bool
base_json_next_item(jiter_t *it, span_t *value)
{
    const char *p = it->p, *end = it->end;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ','))
        p++;
    if (p >= end || *p == ']') {
        it->p = end;
        return false;
    }
    it->p = take_value(p, end, value);
    return true;
}

static size_t
put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static unsigned
hex4(const char *p)
{
    return (unsigned)(base_hex_digit(p[0]) << 12 | base_hex_digit(p[1]) << 8 | base_hex_digit(p[2]) << 4 | base_hex_digit(p[3]));
}

size_t
base_json_unescape(span_t raw, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < raw.n; i++) {
        char c = raw.p[i];
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        char e = raw.p[++i];
        switch (e) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            unsigned cp = hex4(raw.p + i + 1);
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && i + 6 < raw.n && raw.p[i + 1] == '\\' && raw.p[i + 2] == 'u') {
                unsigned lo = hex4(raw.p + i + 3);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                }
            }
            /* A lone surrogate is no character: U+FFFD keeps the text
             * valid UTF-8. */
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd;
            o += put_utf8(out + o, cp);
            break;
        }
        default: /* " \ / */
            out[o++] = e;
        }
    }
    return o;
}

bool
base_json_lone_surrogate(span_t raw)
{
    for (size_t i = 0; i + 1 < raw.n; i++) {
        if (raw.p[i] != '\\')
            continue;
        if (raw.p[++i] != 'u')
            continue;
        unsigned cp = hex4(raw.p + i + 1);
        i += 4;
        if (cp < 0xd800 || cp > 0xdfff)
            continue;
        /* the pairing rule of base_json_unescape */
        if (cp <= 0xdbff && i + 6 < raw.n && raw.p[i + 1] == '\\' && raw.p[i + 2] == 'u') {
            unsigned lo = hex4(raw.p + i + 3);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                i += 6;
                continue;
            }
        }
        return true;
    }
    return false;
}

bool
base_json_key_is(span_t key, const char *name, size_t n)
{
    if (memchr(key.p, '\\', key.n) == NULL)
        return key.n == n && memcmp(key.p, name, n) == 0;
    /* An escaped name ("user\u0049d") is still that name. Decoding never
     * grows text, and no escape is shorter than two bytes. */
    char buf[128];
    if (key.n > sizeof(buf) || n > sizeof(buf))
        return false;
    size_t m = base_json_unescape(key, buf);
    return m == n && memcmp(buf, name, n) == 0;
}
