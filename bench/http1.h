/* http1.h -- the minimal HTTP/1.1 response-head parser of profiled-load:
 * status, Content-Length and whether the connection stays open. Enough for
 * profiled and nginx; chunked bodies are refused rather than half-handled. */
#ifndef PROFILED_BENCH_HTTP1_H
#define PROFILED_BENCH_HTTP1_H
#include <stddef.h>

typedef struct {
    int status;
    size_t head_len;       /* bytes up to and including the blank line */
    size_t content_length; /* body bytes that follow the head */
    int close;             /* the server will close after this response */
} http1_head_t;

/* Parses the response head in buf[0..len), which ends with "\r\n\r\n".
 * Returns 0, or -1 when it is malformed, has no usable length (chunked, or
 * read-until-close) or a length over 1 GB. */
int http1_parse_head(const char *buf, size_t len, http1_head_t *h);

#endif
