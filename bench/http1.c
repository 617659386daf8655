/* http1.c -- HTTP/1.1 response heads: one pass over the header lines,
 * comparing names case-insensitively against the three that matter. */
#include <string.h>
#include <strings.h>
#include "http1.h"

#define MAX_BODY (1024u * 1024u * 1024u)

static int
name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static int
value_has(const char *v, size_t len, const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= len; i++) {
        if (strncasecmp(v + i, word, n) == 0)
            return 1;
    }
    return 0;
}

int
http1_parse_head(const char *buf, size_t len, http1_head_t *h)
{
    const char *p = buf, *end = buf + len;
    memset(h, 0, sizeof(*h));
    h->head_len = len;
    if (len < 16 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return -1;
    int http10 = p[7] == '0';
    if (p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
        return -1;
    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    const char *line = memchr(p, '\n', len);
    if (line == NULL)
        return -1;
    int have_length = 0, keep_alive = 0;
    for (line++; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            return -1;
        size_t llen = (size_t)(eol - line);
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (llen == 0)
            break;
        const char *colon = memchr(line, ':', llen);
        if (colon == NULL)
            return -1;
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1, *vend = line + llen;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        size_t vlen = (size_t)(vend - v);
        if (name_is(line, nlen, "content-length")) {
            size_t n = 0;
            if (vlen == 0)
                return -1;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9' || n > MAX_BODY)
                    return -1;
                n = n * 10 + (size_t)(v[i] - '0');
            }
            if (n > MAX_BODY)
                return -1;
            h->content_length = n;
            have_length = 1;
        } else if (name_is(line, nlen, "connection")) {
            if (value_has(v, vlen, "close"))
                h->close = 1;
            if (value_has(v, vlen, "keep-alive"))
                keep_alive = 1;
        } else if (name_is(line, nlen, "transfer-encoding")) {
            return -1;
        }
        line = eol + 1;
    }
    if (http10 && !keep_alive)
        h->close = 1;
    if (!have_length && !(h->status == 204 || h->status == 304 || h->status < 200))
        return -1;
    return 0;
}
