/* test_base.c -- base/ on its own: time text both ways, UUIDs, the byte
 * helpers, the bounded appender, the number formatters, the hash, the JSON scanner, field
 * selection (base_fields_parse, base_json_select) and the CSV reader. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base.h"
#include "testutil.h"

#define NOW 1605793157912LL

static int64_t
parse(const char *s)
{
    int64_t ms = 0;
    ck_assert_msg(base_parse_time(s, strlen(s), &ms) == 0, "cannot parse %s", s);
    return ms;
}

START_TEST(test_time_parse_format)
{
    char out[32];
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"2020-11-19T13:39:17.380Z", "2020-11-19T13:39:17.380Z"},
        {"2006-01-02", "2006-01-02T00:00:00.000Z"},
        {"2020-11-19T13:39:17Z", "2020-11-19T13:39:17.000Z"},
        {"2020-11-19T13:39Z", "2020-11-19T13:39:00.000Z"},
        {"2020-11-19T13:39:17.1Z", "2020-11-19T13:39:17.100Z"},
        {"2020-11-19T13:39:17.123456789Z", "2020-11-19T13:39:17.123Z"},
        {"2020-11-19T13:39:17.380+01:00", "2020-11-19T12:39:17.380Z"},
        {"2020-11-19T13:39:17-0530", "2020-11-19T19:09:17.000Z"},
        {"2020-11-19T01:00:00+02", "2020-11-18T23:00:00.000Z"},
        {"2020-11-19 13:39:17", "2020-11-19T13:39:17.000Z"},
        {"2020-02-29T23:59:59.999z", "2020-02-29T23:59:59.999Z"},
        {"2000-02-29", "2000-02-29T00:00:00.000Z"},
        {"1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"},
        {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ms = parse(ok[i].in);
        ck_assert_str_eq(base_format_time(ms, out), ok[i].out);
        /* and back */
        ck_assert_int_eq(parse(out), ms);
    }
    ck_assert_int_eq(parse("1970-01-01T00:00:00.000Z"), 0);
    ck_assert_int_eq(parse("1969-12-31T23:59:59.999Z"), -1);
    ck_assert_int_eq(parse("2020-11-19T13:39:17.912Z"), NOW);

    static const char *const bad[] = {
        "",
        "garbage",
        "2020",
        "2020-1-01",
        "2020-13-01",
        "2020-00-10",
        "2019-02-29",
        "1900-02-29",
        "2020-04-31",
        "2020-11-19T",
        "2020-11-19T25:00:00Z",
        "2020-11-19T13:60:00Z",
        "2020-11-19T13:39:61Z",
        "2020-11-19T13:39:17.Z",
        "2020-11-19T13:39:17+1",
        "2020-11-19T13:39:17+24:00",
        "2020-11-19T13:39:17ZZ",
        "2020-11-19T13:39:17Z ",
        "2020-11-19X13:39:17Z",
        "2020-11-19T13:39:17 UTC",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        ck_assert_msg(base_parse_time(bad[i], strlen(bad[i]), &ms) == BASE_EINVAL, "accepted %s", bad[i]);
    }
    /* The formatter agrees with gmtime over years 0001-9999, both sides of
     * 1970 and leap days. */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t t = -62135596800000LL + (int64_t)(x % 315537897600000ULL);
        int64_t secs = t / 1000, frac = t % 1000;
        if (frac < 0)
            frac += 1000, secs -= 1;
        time_t tt = (time_t)secs;
        struct tm tm;
        ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
        char want[64];
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
        ck_assert_str_eq(base_format_time(t, out), want);
    }
    /* Length is honoured: no NUL needed. */
    int64_t ms;
    ck_assert_int_eq(base_parse_time("2006-01-02garbage", 10, &ms), 0);
    ck_assert_str_eq(base_format_time(ms, out), "2006-01-02T00:00:00.000Z");
}
END_TEST

START_TEST(test_uuid_v4)
{
    char a[37], b[37];
    base_uuid_v4(a);
    base_uuid_v4(b);
    ck_assert_str_ne(a, b);
    ck_assert_uint_eq(strlen(a), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ck_assert_int_eq(a[i], '-');
        else
            ck_assert(strchr("0123456789abcdef", a[i]) != NULL);
    }
    ck_assert_int_eq(a[14], '4');
    ck_assert(strchr("89ab", a[19]) != NULL);
}
END_TEST

/* RFC 4648 section 10's vectors, in both alphabets (base64url unpadded),
 * and the two characters only base64url has. */
START_TEST(test_base64)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[16];
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        ck_assert_uint_eq(base_base64((const unsigned char *)in[i], strlen(in[i]), out), strlen(std[i]));
        ck_assert_str_eq(out, std[i]);
        ck_assert_uint_eq(base_base64url((const unsigned char *)in[i], strlen(in[i]), out), strlen(url[i]));
        ck_assert_str_eq(out, url[i]);
    }
    static const unsigned char hi[] = {0xfb, 0xff};
    ck_assert_uint_eq(base_base64url(hi, 2, out), 3);
    ck_assert_str_eq(out, "-_8");
}
END_TEST

START_TEST(test_bytes)
{
    ck_assert_int_eq(base_hex_digit('0'), 0);
    ck_assert_int_eq(base_hex_digit('9'), 9);
    ck_assert_int_eq(base_hex_digit('a'), 10);
    ck_assert_int_eq(base_hex_digit('F'), 15);
    ck_assert_int_eq(base_hex_digit('g'), -1);
    ck_assert_int_eq(base_hex_digit(-23), -1);
    /* SQLite's BINARY order: bytes, then the shorter first */
    ck_assert_int_lt(base_text_cmp("ab", 2, "b", 1), 0);
    ck_assert_int_lt(base_text_cmp("ab", 2, "abc", 3), 0);
    ck_assert_int_gt(base_text_cmp("abc", 3, "ab", 2), 0);
    ck_assert_int_eq(base_text_cmp("ab", 2, "ab", 2), 0);
    ck_assert_int_eq(base_text_cmp(NULL, 0, NULL, 0), 0);
    ck_assert_int_gt(base_text_cmp("\xc3\xa9", 2, "z", 1), 0); /* unsigned bytes */
    /* FNV-1a 64 with its standard offset basis */
    ck_assert_uint_eq(base_fnv1a(14695981039346656037ull, "a", 1), 0xaf63dc4c8601ec8cull);
    ck_assert_uint_eq(base_fnv1a(14695981039346656037ull, "", 0), 14695981039346656037ull);
    ck_assert_uint_eq(base_fnv1a(14695981039346656037ull, "foobar", 6), 0x85944171f73967e8ull); /* the published vectors */
    ck_assert_uint_eq(base_fnv1a(base_fnv1a(14695981039346656037ull, "foo", 3), "bar", 3), 0x85944171f73967e8ull);
}
END_TEST

/* base_hash64: its values are pinned (an ETag must be the same on every
 * replica and version: a change here is a change of every tag), and every
 * byte of every length counts, through the lanes and the tails. */
START_TEST(test_hash64)
{
    char buf[256];
    for (int i = 0; i < (int)sizeof(buf); i++)
        buf[i] = (char)('a' + i % 26);
    static const struct {
        size_t n;
        uint64_t h;
    } pinned[] = {{0, 0xd8a310150df90781ull},  {1, 0x112ea4abef90e8ecull},  {7, 0xaadcd44ade88d454ull},
                  {8, 0x41d64839c658c2ccull},  {31, 0xe0eb56aa8b73bc9cull}, {32, 0x8c80188b00cc1e03ull},
                  {33, 0x65db3c8a582654a1ull}, {100, 0x175c7ea6a83bf57dull}};
    for (size_t k = 0; k < sizeof(pinned) / sizeof(pinned[0]); k++)
        ck_assert_uint_eq(base_hash64(buf, pinned[k].n), pinned[k].h);
    uint64_t seen[200];
    for (size_t n = 0; n < 200; n++) {
        uint64_t h = base_hash64(buf, n);
        for (size_t m = 0; m < n; m++)
            ck_assert_uint_ne(seen[m], h); /* each length its own value */
        seen[n] = h;
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit += 7) {
                buf[i] ^= (char)(1 << bit);
                ck_assert_uint_ne(base_hash64(buf, n), h);
                buf[i] ^= (char)(1 << bit);
            }
        /* the same bytes at an odd address: words are not read aligned */
        char shifted[201];
        memcpy(shifted + 1, buf, n);
        ck_assert_uint_eq(base_hash64(shifted + 1, n), h);
    }
}
END_TEST

START_TEST(test_appendf_clamps)
{
    char buf[8];
    size_t len = 0;
    ck_assert(base_appendf(buf, sizeof(buf), &len, "%s", "abc"));
    ck_assert(!base_appendf(buf, sizeof(buf), &len, "%d", 123456));
    ck_assert_uint_eq(len, sizeof(buf) - 1);
    ck_assert_str_eq(buf, "abc1234");
    ck_assert(!base_appendf(buf, sizeof(buf), &len, "more"));
    ck_assert_uint_eq(len, sizeof(buf) - 1);
}
END_TEST

/* The hand-written number formatters write what snprintf would, at the
 * edges (0, +-1, powers of ten, INT64 and UINT64 bounds) and over a sweep. */
START_TEST(test_fmt_numbers)
{
    static const int64_t iv[] = {0,
                                 1,
                                 -1,
                                 9,
                                 10,
                                 -10,
                                 99,
                                 100,
                                 999999999,
                                 1000000000,
                                 -1000000000,
                                 4294967295LL,
                                 4294967296LL,
                                 INT64_MAX,
                                 INT64_MAX - 1,
                                 INT64_MIN,
                                 INT64_MIN + 1};
    char want[64], got[BASE_FMT_INT_MAX + 8];
    for (size_t i = 0; i < sizeof(iv) / sizeof(iv[0]); i++) {
        memset(got, 'x', sizeof(got));
        int n = snprintf(want, sizeof(want), "%lld", (long long)iv[i]);
        ck_assert_uint_eq(base_fmt_i64(got, iv[i]), (size_t)n);
        ck_assert_str_eq(got, want);
        n = snprintf(want, sizeof(want), "%llu", (unsigned long long)iv[i]);
        ck_assert_uint_eq(base_fmt_u64(got, (uint64_t)iv[i]), (size_t)n);
        ck_assert_str_eq(got, want);
    }
    ck_assert_uint_eq(base_fmt_u64(got, UINT64_MAX), 20);
    ck_assert_str_eq(got, "18446744073709551615");
    ck_assert_uint_eq(base_fmt_i64(got, INT64_MIN), 20);
    ck_assert_str_eq(got, "-9223372036854775808");
    /* a sweep over every magnitude, both signs */
    for (uint64_t v = 1, k = 0; k < 64; k++, v = v * 3 + k) {
        int64_t sv = (int64_t)v;
        snprintf(want, sizeof(want), "%lld", (long long)sv);
        base_fmt_i64(got, sv);
        ck_assert_str_eq(got, want);
        snprintf(want, sizeof(want), "%lld", (long long)-sv);
        base_fmt_i64(got, -sv);
        ck_assert_str_eq(got, want);
    }
    static const struct {
        uint64_t v;
        int width;
    } hv[] = {{0, 1},  {0, 8},          {0xf, 1}, {0xabc, 4}, {0xffff, 4}, {0xffffffffULL, 8}, {0x123456789abcULL, 12},
              {0, 12}, {UINT64_MAX, 16}};
    /* three decimals: at the edges, and away from ties (where printf's
     * exact rounding and half-up agree by construction) */
    static const double fv[] = {0.0,
                                -0.0,
                                1.0,
                                -1.0,
                                0.25,
                                -0.25,
                                0.0001,
                                -0.0001,
                                0.9996,
                                999.9996,
                                1.5,
                                12.345678,
                                0.123,
                                1e14,
                                -1e14,
                                123456789.012,
                                9.0071992547409e14,
                                1e15,
                                -1e15,
                                1e300,
                                -1e300,
                                INFINITY,
                                -INFINITY,
                                (double)INT64_MAX,
                                (double)INT64_MIN};
    for (size_t i = 0; i < sizeof(fv) / sizeof(fv[0]); i++) {
        char fgot[BASE_FMT_FIXED3_MAX + 300];
        char fwant[400];
        int n = snprintf(fwant, sizeof(fwant), "%.3f", fv[i]);
        if ((size_t)n >= BASE_FMT_FIXED3_MAX) { /* 1e300: cut to the buffer */
            ck_assert_uint_eq(base_fmt_fixed3(fgot, fv[i]), BASE_FMT_FIXED3_MAX - 1);
            ck_assert_int_eq(strncmp(fgot, fwant, BASE_FMT_FIXED3_MAX - 1), 0);
            continue;
        }
        ck_assert_uint_eq(base_fmt_fixed3(fgot, fv[i]), (size_t)n);
        ck_assert_str_eq(fgot, fwant);
    }
    for (int64_t us = -2000000; us <= 2000000; us += 997) {
        double v = ((double)us + 0.25) / 1000.0; /* a quarter of a thousandth past: never a tie */
        char fgot[BASE_FMT_FIXED3_MAX], fwant[64];
        snprintf(fwant, sizeof(fwant), "%.3f", v);
        base_fmt_fixed3(fgot, v);
        ck_assert_str_eq(fgot, fwant);
    }
    for (size_t i = 0; i < sizeof(hv) / sizeof(hv[0]); i++) {
        int n = snprintf(want, sizeof(want), "%0*llx", hv[i].width, (unsigned long long)hv[i].v);
        ck_assert_uint_eq(base_fmt_hex(got, hv[i].v, hv[i].width), (size_t)n);
        ck_assert_str_eq(got, want);
    }
}
END_TEST

START_TEST(test_json_scan)
{
    static const char *const ok[] = {"{}", " [1, -0, 2.5e3, true, null, \"\\u00e9\"] ", "\"x\"", "{\"a\":{\"b\":[]}}"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(base_json_check(ok[i], strlen(ok[i])) == NULL, "%s refused", ok[i]);
    static const char *const bad[] = {"", "{", "[1,]", "01", "{\"a\" 1}", "\"\\x\"", "[1] 2", "nul", "\"\x01\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(base_json_check(bad[i], strlen(bad[i])) != NULL, "%s accepted", bad[i]);
    ck_assert_ptr_nonnull(base_json_check_depth("[[[]]]", 6, 2));
    ck_assert_ptr_null(base_json_check_depth("[[[]]]", 6, 3));

    const char *obj = "{\"k\\u0031\":\"v\",\"n\":[1,{\"x\":2}]}";
    span_t all = {obj, strlen(obj)}, key, value;
    jiter_t it;
    base_json_members(&it, all);
    ck_assert(base_json_next(&it, &key, &value));
    ck_assert(base_json_key_is(key, "k1", 2));
    ck_assert_uint_eq(value.n, 3);
    ck_assert(base_json_next(&it, &key, &value));
    ck_assert(base_json_key_is(key, "n", 1));
    ck_assert_int_eq(memcmp(value.p, "[1,{\"x\":2}]", value.n), 0);
    ck_assert(!base_json_next(&it, &key, &value));

    char out[16];
    span_t raw = {"a\\n\\u00e9", 9};
    size_t n = base_json_unescape(raw, out);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(memcmp(out, "a\n\xc3\xa9", 4), 0);
    ck_assert(base_json_lone_surrogate((span_t){"\\ud800", 6}));
    ck_assert(!base_json_lone_surrogate((span_t){"\\ud83d\\ude00", 12}));

    jsonbuf_t b;
    base_jb_init(&b, 4);
    base_jb_open(&b, '{');
    base_jb_key(&b, "s", 1);
    base_jb_str(&b, "q\"\n", 3);
    base_jb_key(&b, "i", 1);
    base_jb_int(&b, -42);
    base_jb_close(&b, '}');
    ck_assert_uint_eq(b.len, strlen("{\"s\":\"q\\\"\\n\",\"i\":-42}"));
    ck_assert_int_eq(memcmp(b.data, "{\"s\":\"q\\\"\\n\",\"i\":-42}", b.len), 0);
    base_jb_free(&b);
}
END_TEST

/* One value written alone: the text base_jb_* gives. */
static void
jb_str_is(const char *s, size_t n, const char *want)
{
    jsonbuf_t b;
    base_jb_init(&b, 1);
    base_jb_str(&b, s, n);
    ck_assert_msg(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0 && b.data[b.len] == '\0', "got %s, want %s", b.data,
                  want);
    base_jb_free(&b);
}

static void
jb_int_is(int64_t v, const char *want)
{
    jsonbuf_t b;
    base_jb_init(&b, 1);
    base_jb_int(&b, v);
    ck_assert_str_eq(b.data, want);
    base_jb_free(&b);
}

/* Strings copied whole when plain (eight bytes a step), escaped from the
 * first byte that is not, wherever it falls in a word; integers and times
 * written without printf. */
START_TEST(test_jb_fast_paths)
{
    jb_str_is("", 0, "\"\"");
    jb_str_is("abcdefgh", 8, "\"abcdefgh\"");
    jb_str_is("abcdefghijklmnopq", 17, "\"abcdefghijklmnopq\"");
    static const char *const odd[] = {"\"", "\\", "\n", "\x1f", "\x7f", "\xc3\xa9", "\xff", " "};
    static const char *const esc[] = {"\\\"", "\\\\", "\\n", "\\u001f", "\x7f", "\xc3\xa9", "\xef\xbf\xbd", " "};
    for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++)
        for (size_t at = 0; at < 20; at++) {
            char in[64], want[96];
            memset(in, 'x', sizeof(in));
            size_t m = strlen(odd[k]);
            memcpy(in + at, odd[k], m);
            size_t n = at + m + 5;
            snprintf(want, sizeof(want), "\"%.*s%s%.*s\"", (int)at, in, esc[k], 5, in + at + m);
            jb_str_is(in, n, want);
        }
    jb_int_is(0, "0");
    jb_int_is(7, "7");
    jb_int_is(-42, "-42");
    jb_int_is(1000000, "1000000");
    jb_int_is(INT64_MAX, "9223372036854775807");
    jb_int_is(INT64_MIN, "-9223372036854775808");
    jsonbuf_t b;
    base_jb_init(&b, 1);
    base_jb_open(&b, '[');
    base_jb_time(&b, 1605793157912LL);
    base_jb_time(&b, -1);
    base_jb_append(&b, ",1", 2);
    base_jb_close(&b, ']');
    ck_assert_str_eq(b.data, "[\"2020-11-19T13:39:17.912Z\",\"1969-12-31T23:59:59.999Z\",1]");
    base_jb_free(&b);
    /* the day kept between calls: each time still as base_format_time writes
     * it, through day changes, both ends of a day and the clamped years */
    static const int64_t times[] = {0,
                                    1,
                                    86399999,
                                    86400000,
                                    1605793157912LL,
                                    1605793157913LL,
                                    1605830399999LL,
                                    1605830400000LL,
                                    1605793157912LL,
                                    951782400000LL /* 2000-02-29 */,
                                    253402300799999LL,
                                    253402300800000LL,
                                    -62167219200001LL,
                                    INT64_MAX,
                                    INT64_MIN,
                                    7};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        char iso[32], want[40];
        base_format_time(times[i], iso);
        snprintf(want, sizeof(want), "\"%s\"", iso);
        base_jb_init(&b, 1);
        base_jb_time(&b, times[i]);
        ck_assert_str_eq(b.data, want);
        base_jb_free(&b);
    }
}
END_TEST

/* base_json_select of json under the list fields: the text it writes. */
static void
select_is(const char *json, const char *fields, const char *want)
{
    field_list_t fl;
    const char *why = NULL;
    ck_assert_msg(base_fields_parse(fields, strlen(fields), &fl, &why) == 0, "%s refused: %s", fields, why);
    ck_assert_msg(base_json_check(json, strlen(json)) == NULL, "bad test input %s", json);
    jsonbuf_t b;
    base_jb_init(&b, 16);
    base_json_select(json, strlen(json), &fl, &b);
    ck_assert_msg(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "fields=%s: got %s, want %s", fields, b.data, want);
    ck_assert_ptr_null(base_json_check(b.data, b.len));
    base_jb_free(&b);
}

START_TEST(test_json_select)
{
    const char *view = "{\"email\":\"a@x.com\",\"id\":\"p1\",\"firstName\":\"Ann\",\"externalId\":\"u1\","
                       "\"n\":1.50e2,\"tags\":[1,{\"x\":2}],\"marketingPreferences\":{\"email\":true,\"sms\":false},"
                       "\"computed\":{\"orders_30d\":3,\"ltv\":10.0}}";
    /* order of the body, not of the list; id and externalId always kept */
    select_is(view, "firstName,email", "{\"email\":\"a@x.com\",\"id\":\"p1\",\"firstName\":\"Ann\",\"externalId\":\"u1\"}");
    /* numbers spliced as stored, arrays and whole objects kept whole */
    select_is(view, "n,tags,marketingPreferences",
              "{\"id\":\"p1\",\"externalId\":\"u1\",\"n\":1.50e2,\"tags\":[1,{\"x\":2}],"
              "\"marketingPreferences\":{\"email\":true,\"sms\":false}}");
    /* a dotted path keeps the object with only that member */
    select_is(view, "computed.orders_30d", "{\"id\":\"p1\",\"externalId\":\"u1\",\"computed\":{\"orders_30d\":3}}");
    select_is(view, "computed.ltv,computed.orders_30d,marketingPreferences.sms",
              "{\"id\":\"p1\",\"externalId\":\"u1\",\"marketingPreferences\":{\"sms\":false},"
              "\"computed\":{\"orders_30d\":3,\"ltv\":10.0}}");
    /* the whole object wins over a path into it */
    select_is(view, "computed.ltv,computed", "{\"id\":\"p1\",\"externalId\":\"u1\",\"computed\":{\"orders_30d\":3,\"ltv\":10.0}}");
    /* unknown names are absent, as is an object none of whose members is kept,
     * and a path into what is not an object (arrays are not entered) */
    select_is(view, "nope,computed.nope,firstName.x,tags.x,id.x", "{\"id\":\"p1\",\"externalId\":\"u1\"}");
    /* id and externalId only at the top */
    select_is("{\"id\":1,\"o\":{\"id\":2,\"externalId\":3,\"k\":4}}", "o.k", "{\"id\":1,\"o\":{\"k\":4}}");
    /* escaped names match their decoded names and are written as stored */
    select_is("{\"id\":\"p\",\"k\\u0031\":\"v\",\"a\\\"b\":{\"c\\nd\":1,\"e\":2}}", "k1,a\"b.c\nd",
              "{\"id\":\"p\",\"k\\u0031\":\"v\",\"a\\\"b\":{\"c\\nd\":1}}");
    /* a member whose own name holds dots */
    select_is("{\"a.b\":1,\"a\":{\"b\":2,\"c\":3},\"x.y\":{\"z\":4,\"w\":5}}", "a.b,x.y.z",
              "{\"a.b\":1,\"a\":{\"b\":2},\"x.y\":{\"z\":4}}");
    /* deep paths, eight segments */
    select_is("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":1,\"i\":2}}}}}}}}", "a.b.c.d.e.f.g.h",
              "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":1}}}}}}}}");
    /* blanks in stored text are tolerated; what is not an object is copied */
    select_is(" { \"id\" : 1 , \"a\" : [ 1 ] , \"b\" : 2 } ", "a", "{\"id\":1,\"a\":[ 1 ]}");
    select_is("[1,2]", "a", "[1,2]");

    /* the email form: each element of "data" */
    field_list_t fl;
    const char *why;
    ck_assert_int_eq(base_fields_parse("plan", 4, &fl, &why), 0);
    const char *data = "{\"data\":[{\"id\":\"p1\",\"plan\":\"a\",\"x\":1},{\"id\":\"p2\",\"x\":2}],\"more\":true}";
    jsonbuf_t b;
    base_jb_init(&b, 8);
    base_json_select_data(data, strlen(data), &fl, &b);
    ck_assert_str_eq(b.data, "{\"data\":[{\"id\":\"p1\",\"plan\":\"a\"},{\"id\":\"p2\"}],\"more\":true}");
    base_jb_free(&b);
}
END_TEST

START_TEST(test_fields_parse)
{
    field_list_t fl;
    const char *why;
    const char *s = "firstName,computed.orders_30d,a.b.c";
    ck_assert_int_eq(base_fields_parse(s, strlen(s), &fl, &why), 0);
    ck_assert_uint_eq(fl.n, 3);
    ck_assert_uint_eq(fl.f[0].nseg, 1);
    ck_assert_uint_eq(fl.f[1].nseg, 2);
    ck_assert_uint_eq(fl.f[1].seg[1], 9);
    ck_assert_uint_eq(fl.f[2].nseg, 3);
    ck_assert_uint_eq(fl.f[2].name.n, 5);
    static const char *const bad[] = {"", ",", "a,,b", "a,", ",a", "a..b", ".a", "a.", "a.b.c.d.e.f.g.h.i"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        ck_assert_msg(base_fields_parse(bad[i], strlen(bad[i]), &fl, &why) == BASE_EINVAL, "'%s' accepted", bad[i]);
        ck_assert_ptr_nonnull(why);
    }
    ck_assert_int_eq(base_fields_parse("a.b.c.d.e.f.g.h", 15, &fl, &why), 0);
    /* 64 names pass, 65 do not; 256 bytes pass, 257 do not */
    char many[65 * 3];
    size_t len = 0;
    for (int i = 0; i < 65; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "%s%c", i ? "," : "", 'a' + i % 26);
    ck_assert_int_eq(base_fields_parse(many, len - 2, &fl, &why), 0);
    ck_assert_uint_eq(fl.n, 64);
    ck_assert_int_eq(base_fields_parse(many, len, &fl, &why), BASE_EINVAL);
    char longname[258];
    memset(longname, 'x', sizeof(longname));
    ck_assert_int_eq(base_fields_parse(longname, 256, &fl, &why), 0);
    ck_assert_int_eq(base_fields_parse(longname, 257, &fl, &why), BASE_EINVAL);
}
END_TEST

START_TEST(test_csv_rows)
{
    static const char text[] = "\xef\xbb\xbfuserId, email\r\n"
                               "\"u,1\",\"a\"\"b\"\n"
                               "\n"
                               "\"open\n";
    FILE *in = fmemopen((void *)text, sizeof(text) - 1, "r");
    ck_assert_ptr_nonnull(in);
    base_csv_t c = {.in = in};
    uint64_t line = 0;
    const char *why = NULL;
    ck_assert_int_eq(base_csv_row(&c, &line, &why), 1); /* the BOM is no data, blanks go */
    ck_assert_uint_eq(line, 1);
    ck_assert_uint_eq(c.nfields, 2);
    ck_assert_int_eq(memcmp(c.buf + c.start[0], "userId", c.flen[0]), 0);
    ck_assert_int_eq(memcmp(c.buf + c.start[1], "email", c.flen[1]), 0);
    ck_assert_int_eq(base_csv_row(&c, &line, &why), 1);
    ck_assert_uint_eq(line, 2);
    ck_assert_uint_eq(c.flen[0], 3);
    ck_assert_int_eq(memcmp(c.buf + c.start[0], "u,1", 3), 0);
    ck_assert_int_eq(memcmp(c.buf + c.start[1], "a\"b", c.flen[1]), 0);
    int r;
    while ((r = base_csv_row(&c, &line, &why)) == 1 && c.nfields == 1 && c.flen[0] == 0)
        ;                    /* an empty line, however the reader reports it */
    ck_assert_int_eq(r, -1); /* the quote never closes */
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(base_csv_row(&c, &line, &why), 0);
    base_csv_dispose(&c);
    fclose(in);
}
END_TEST

static Suite *
base_suite(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("core");
    /* counted, not timed: Check's 4 s default is too short on a loaded
     * 2-core machine (test_time_parse_format compares 200,000 times with gmtime) */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_time_parse_format);
    tcase_add_test(tc, test_jb_fast_paths);
    tcase_add_test(tc, test_uuid_v4);
    tcase_add_test(tc, test_base64);
    tcase_add_test(tc, test_bytes);
    tcase_add_test(tc, test_hash64);
    tcase_add_test(tc, test_appendf_clamps);
    tcase_add_test(tc, test_fmt_numbers);
    tcase_add_test(tc, test_json_scan);
    tcase_add_test(tc, test_json_select);
    tcase_add_test(tc, test_fields_parse);
    tcase_add_test(tc, test_csv_rows);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(base_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
