/* alloc.c -- allocation that aborts when memory runs out: for state whose
 * loss the program cannot answer for (a request's failure is answered with
 * 503 by the callers that check instead). */
#include <stdlib.h>
#include <string.h>
#include "base.h"

void *
base_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

void *
base_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        abort();
    return p;
}

void *
base_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        abort();
    return q;
}

char *
base_xstrndup(const char *s, size_t n)
{
    char *d = base_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *
base_xstrndup_lower(const char *s, size_t n)
{
    char *d = base_xstrndup(s, n);
    for (size_t i = 0; i < n; i++)
        if (d[i] >= 'A' && d[i] <= 'Z')
            d[i] = (char)(d[i] - 'A' + 'a');
    return d;
}
