/* base.h -- what every folder may use and that uses nothing of ours: the
 * clock, one hash, allocation that aborts, bounded text and UTF-8, time and
 * UUID text, base64 and snake_case, the JSON scanner and writer, and a CSV
 * reader. No SQL, no HTTP, no json-c. */
#ifndef PROFILED_BASE_H
#define PROFILED_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Return codes of every folder: 0 on success, one of these on failure. */
enum {
    BASE_ENOTFOUND = -1, /* no such thing */
    BASE_EINVAL = -2,    /* invalid input */
    BASE_EIO = -3,       /* reading or writing failed */
    BASE_EBUSY = -4,     /* locked past the timeout */
    BASE_EEXIST = -5,    /* already there (duplicate) */
};

/* ---- clock (clock.c) ---- */
/* Monotonic clock in ns (CLOCK_MONOTONIC_COARSE when fine is 0). */
int64_t base_clock_ns(int fine);
/* The wall clock in ms since the epoch. */
int64_t base_wall_ms(void);

/* ---- allocation (alloc.c): these abort when memory runs out ---- */
void *base_xmalloc(size_t n);
void *base_xcalloc(size_t n, size_t size); /* n may be 0 */
void *base_xrealloc(void *p, size_t n);
char *base_xstrndup(const char *s, size_t n);
/* base_xstrndup with ASCII letters lower-cased (emails are stored so). */
char *base_xstrndup_lower(const char *s, size_t n);

/* ---- bytes (text.c) ---- */
/* The value of a hexadecimal digit, -1 for any other byte. */
int base_hex_digit(int c);
/* Byte order of a[0..an) and b[0..bn) (memcmp, then the shorter first):
 * <0, 0 or >0. */
int base_text_cmp(const char *a, size_t an, const char *b, size_t bn);

/* ---- time and UUID text (time.c) ---- */

/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (at
 * least 25 bytes). Returns out. */
char *base_format_time(int64_t ms, char out[32]);

/* Parses ISO 8601: a date ("2006-01-02"), or date-time with optional
 * fraction and "Z" / "+hh:mm" / "-hhmm" offset. Returns 0 and *ms, or BASE_EINVAL. */
int base_parse_time(const char *s, size_t len, int64_t *ms);
/* The same for a query parameter after form decoding, where an unencoded
 * "+hh:mm" / "+hhmm" / "+hh" offset arrived as " hh:mm": a space right
 * after the date-time's time and followed by only the offset's digits
 * (and a colon) is read as '+'; a space anywhere else stays an error. */
int base_parse_time_query(const char *s, size_t len, int64_t *ms);

/* Writes a new random UUID v4 (36 chars + NUL) into out. */
void base_uuid_v4(char out[37]);

/* Bounded text (text.c). Length of the well-formed UTF-8 character at s
 * (of at most left bytes; RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF): 1 to 4, or 0 when s does not start one. */
size_t base_utf8_char(const char *s, size_t left);
/* Whether s[0..n) is well-formed UTF-8. */
bool base_utf8_valid(const char *s, size_t n);
/* The length of s[0..n) cut to at most max bytes without splitting a
 * character: n when n <= max. */
size_t base_utf8_prefix(const char *s, size_t n, size_t max);
/* Copies s[0..n) into out[0..cap) as well-formed UTF-8: a byte that starts
 * no character becomes U+FFFD; stops before a character that would not fit
 * whole. Returns the bytes written (no NUL); *used (may be NULL) receives
 * the input bytes taken, n unless cut. Cannot fail. */
size_t base_utf8_copy(const char *s, size_t n, char *out, size_t cap, size_t *used);
/* The same as the body of a JSON string (no quotes): '"', '\\' and control
 * characters escaped, what is not UTF-8 replaced; never splits an escape or
 * a character. Returns bytes written, *used (may be NULL) bytes taken. */
size_t base_json_escape(const char *s, size_t n, char *out, size_t cap, size_t *used);
/* Appends printf output at buf + *len, buf holding cap bytes (always
 * NUL-terminated). Returns false when it was cut, *len then cap - 1: *len
 * never passes the buffer, unlike `len += snprintf(...)`. */
bool base_appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool base_vappendf(char *buf, size_t cap, size_t *len, const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
/* Decimal and hex numbers without printf (the request path formats a few
 * an answer). base_fmt_i64 writes v as "%lld" would (INT64_MIN too),
 * base_fmt_u64 as "%llu", base_fmt_hex the low 4 * width bits of v as
 * "%0<width>llx" would for a v that fits them (lower case, zero-padded,
 * 1 <= width <= 16). out needs BASE_FMT_INT_MAX bytes (or width + 1); each
 * writes a NUL and returns the length without it. Cannot fail. */
#define BASE_FMT_INT_MAX 21
size_t base_fmt_i64(char *out, int64_t v);
size_t base_fmt_u64(char *out, uint64_t v);
size_t base_fmt_hex(char *out, uint64_t v, int width);
/* v with three decimals, as "%.3f" would, rounded half away from zero at
 * the last digit (printf rounds the exact binary value: the two differ
 * only for a v within one rounding error of a tie). Past +-1e9 or not
 * finite, printf's own text (cut to BASE_FMT_FIXED3_MAX - 1 bytes). out
 * needs BASE_FMT_FIXED3_MAX bytes. */
#define BASE_FMT_FIXED3_MAX 32
size_t base_fmt_fixed3(char *out, double v);
/* FNV-1a of n bytes of p, starting from h: each caller keeps the seed its
 * values were made with (some are stored). Cannot fail. */
uint64_t base_fnv1a(uint64_t h, const void *p, size_t n);
/* A 64-bit hash of n bytes of p for long texts (ETags of whole bodies):
 * four independent multiply lanes over 32 bytes a round, words read
 * little-endian, so the value is the same on every host and build. Not
 * keyed: no defence against crafted collisions. Cannot fail. */
uint64_t base_hash64(const void *p, size_t n);

/* ---- text (time.c) ---- */
/* snake_case of n bytes of in into out (cap bytes incl. NUL); returns the
 * length written, 0 when in has no letters or digits. */
size_t base_snake_case(const char *in, size_t n, char *out, size_t cap);
/* Standard base64 with padding; out needs 4*((n+2)/3)+1 bytes. */
size_t base_base64(const unsigned char *in, size_t n, char *out);
/* URL-safe base64 without padding (RFC 4648 section 5); out needs
 * (n*8+5)/6+1 bytes. Returns the length, out NUL-terminated. */
size_t base_base64url(const unsigned char *in, size_t n, char *out);

/* ---- JSON text building (json_buf.c) ---- */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} jsonbuf_t;

void base_jb_init(jsonbuf_t *b, size_t cap);
void base_jb_free(jsonbuf_t *b);
void base_jb_raw(jsonbuf_t *b, const char *s, size_t n); /* a value already in JSON */
/* Room for n more bytes (and the NUL) at once: a page that knows its size
 * grows its buffer once. */
void base_jb_reserve(jsonbuf_t *b, size_t n);
/* n bytes of JSON text as they are, no comma placed: the continuation of
 * what is already written (a prebuilt run of members). */
void base_jb_append(jsonbuf_t *b, const char *s, size_t n);
void base_jb_str(jsonbuf_t *b, const char *s, size_t n); /* a string value */
void base_jb_key(jsonbuf_t *b, const char *s, size_t n);
void base_jb_int(jsonbuf_t *b, int64_t v);
void base_jb_time(jsonbuf_t *b, int64_t ms); /* ISO string */
void base_jb_open(jsonbuf_t *b, char c);     /* '{' or '[' as a value */
void base_jb_close(jsonbuf_t *b, char c);
/* A member name already escaped as JSON (the raw text between its quotes,
 * as base_json_next gives it), spliced as is, with its quotes and ':'. */
void base_jb_rawkey(jsonbuf_t *b, const char *raw, size_t n);

/* ---- JSON text scanning (json_scan.c) ---- */
typedef struct {
    const char *p;
    size_t n;
} span_t;

typedef struct {
    const char *p, *end;
} jiter_t;

/* Containers nested in a message at most: what json-c's default tokener
 * accepts (31), so whatever the server parsed is accepted, and stored text
 * parses again. */
#define BASE_JSON_MAX_DEPTH 31

/* NULL when text is exactly one strict JSON value (blanks around allowed),
 * else a static reason. */
const char *base_json_check(const char *text, size_t n);
/* The same with containers nested at most max_depth deep. */
const char *base_json_check_depth(const char *text, size_t n, int max_depth);
/* The same, and *at receives the offset of the offending byte (n when
 * the text is valid). */
const char *base_json_check_at(const char *text, size_t n, int max_depth, size_t *at);
/* Iterates the members of an object span from text that passed the check:
 * key is the raw (still escaped) name between its quotes, value the
 * value's text. */
void base_json_members(jiter_t *it, span_t object);
bool base_json_next(jiter_t *it, span_t *key, span_t *value);
/* Decodes the escapes of a raw string body into out (at least raw.n
 * bytes: decoding never grows text); returns the decoded length. */
size_t base_json_unescape(span_t raw, char *out);
/* Whether a raw string body holds a \u escape of a surrogate that is not
 * half of a pair (which base_json_unescape turns into U+FFFD). */
bool base_json_lone_surrogate(span_t raw);
/* Whether a raw member name is name (escapes decoded). */
bool base_json_key_is(span_t key, const char *name, size_t n);
/* Array items of JSON text that passed base_json_check (json_scan.c). */
void base_json_items(jiter_t *it, span_t array);
bool base_json_next_item(jiter_t *it, span_t *value);

/* ---- field selection (json_select.c) ---- */
/* The bounds of a field list: names, bytes of one name, dotted segments
 * of one name. */
#define BASE_FIELDS_MAX 64
#define BASE_FIELD_MAX_BYTES 256
#define BASE_FIELD_MAX_SEGMENTS 8

/* A parsed `fields` list: the names point into the text it was parsed
 * from (which must outlive it); each name keeps where its segments start. */
typedef struct {
    size_t n;
    struct {
        span_t name;
        uint8_t nseg;
        uint16_t seg[BASE_FIELD_MAX_SEGMENTS]; /* offsets in name */
    } f[BASE_FIELDS_MAX];
} field_list_t;

/* Parses "a,b.c,d" (already percent-decoded): 0 and *out, or BASE_EINVAL
 * with a static reason in *why (empty list, empty name or segment, over
 * the bounds). Names are taken as they are (no trimming). */
int base_fields_parse(const char *s, size_t n, field_list_t *out, const char **why);

/* Writes into out (initialised by the caller) the JSON object json[0..n)
 * keeping only the members fields name, in their order: a name is a
 * member's (decoded) name, or a dotted path into objects ("a.b" keeps "a"
 * with only its member "b"; a member whose own name holds the dots
 * matches too); an object left with no selected member is left out;
 * "id" and "externalId" of the top level are always kept. Kept values
 * and names are spliced exactly as they are in json. Text that is not an
 * object is copied whole. json must have passed base_json_check (a view). */
void base_json_select(const char *json, size_t n, const field_list_t *fields, jsonbuf_t *out);
/* The same for each element of the top-level "data" array of json (the
 * answer to an email lookup); its other members are copied whole. */
void base_json_select_data(const char *json, size_t n, const field_list_t *fields, jsonbuf_t *out);

/* ---- CSV (csv.c) ---- */
typedef struct {
    FILE *in;
    uint64_t line; /* of the next character */
    int back[4];   /* pushed-back characters */
    int nback;
    bool started;
    char *buf; /* the row's fields, back to back */
    size_t len, cap;
    size_t *start, *flen;
    size_t nfields, fcap;
} base_csv_t;
/* Reads one row: 1, 0 at the end, -1 for a bad one (why says how; the row
 * is skipped). *line: where the row starts. Start from {.in = file}. */
int base_csv_row(base_csv_t *c, uint64_t *line, const char **why);
void base_csv_dispose(base_csv_t *c);

#endif
