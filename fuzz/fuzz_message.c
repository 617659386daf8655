/* fuzz_message.c -- one message's checks (storage/message.c, as `profiled
 * import` runs them on each line): the checked fields must lie inside the
 * text or the message's arena, decoded ids are valid UTF-8, and the
 * eventAction fits its buffer. */
#include "fuzz.h"
#include "segment.h"

static void
span_ok(const message_t *m, span_t s, const char *text, size_t n)
{
    if (s.p == NULL)
        return;
    int in_text = s.p >= text && s.p + s.n <= text + n;
    int in_arena = m->arena != NULL && s.p >= m->arena && s.p + s.n <= m->arena + m->arena_used;
    FUZZ_ASSERT(in_text || in_arena);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    message_t m;
    const char *field = NULL;
    char err[160];
    memset(&m, 0, sizeof(m));
    int rc = segment_message_check(text, size, &m, &field, err, sizeof(err));
    if (rc == 0) {
        span_t ids[] = {m.user_id, m.anon_id, m.previous_id, m.message_id, m.group_id, m.name, m.source};
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
            span_ok(&m, ids[i], text, size);
            if (ids[i].p != NULL)
                FUZZ_ASSERT(fuzz_utf8_ok(ids[i].p, ids[i].n));
        }
        span_t objs[] = {m.traits, m.context_traits, m.properties};
        for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
            span_ok(&m, objs[i], text, size);
            if (objs[i].p != NULL)
                FUZZ_ASSERT(base_json_check(objs[i].p, objs[i].n) == NULL);
        }
        FUZZ_ASSERT(m.action_len < sizeof(m.action));
    } else {
        FUZZ_ASSERT(rc == STORAGE_EINVAL);
        FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
    }
    segment_message_free(&m);
    return 0;
}
