/* message.c -- validation of one Segment-spec message from its JSON text
 * into a message_t of spans: type, ids, timestamp, event name and the
 * traits objects, with the reason and field of the first problem found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "segment.h"

#define MAX_ID_BYTES 1024

static const struct {
    const char *name;
    enum msg_type type;
} msg_types[] = {
    {"identify", MSG_IDENTIFY}, {"track", MSG_TRACK}, {"page", MSG_PAGE},
    {"screen", MSG_SCREEN},     {"group", MSG_GROUP}, {"alias", MSG_ALIAS},
};

/* The top-level members a message is read from. */
enum {
    F_TYPE,
    F_USER_ID,
    F_ANON_ID,
    F_PREVIOUS_ID,
    F_MESSAGE_ID,
    F_TIMESTAMP,
    F_EVENT,
    F_NAME,
    F_GROUP_ID,
    F_SOURCE,
    F_TRAITS,
    F_CONTEXT,
    F_PROPERTIES,
    F_COUNT
};
static const char *const field_names[F_COUNT] = {
    [F_TYPE] = "type",
    [F_USER_ID] = "userId",
    [F_ANON_ID] = "anonymousId",
    [F_PREVIOUS_ID] = "previousId",
    [F_MESSAGE_ID] = "messageId",
    [F_TIMESTAMP] = "timestamp",
    [F_EVENT] = "event",
    [F_NAME] = "name",
    [F_GROUP_ID] = "groupId",
    [F_SOURCE] = "source",
    [F_TRAITS] = "traits",
    [F_CONTEXT] = "context",
    [F_PROPERTIES] = "properties",
};

static bool
absent(span_t v)
{
    return v.p == NULL || (v.n == 4 && memcmp(v.p, "null", 4) == 0);
}

/* A string value's text: its body when it has no escapes (no copy), else
 * decoded into the message's arena. Decoding never grows text, so an arena
 * the size of the message always suffices. */
static span_t
string_value(message_t *m, span_t v, size_t text_len)
{
    span_t raw = {v.p + 1, v.n - 2};
    if (memchr(raw.p, '\\', raw.n) == NULL)
        return raw;
    if (m->arena == NULL && (m->arena = malloc(text_len + 1)) == NULL)
        abort();
    char *out = m->arena + m->arena_used;
    size_t n = base_json_unescape(raw, out);
    m->arena_used += n;
    return (span_t){out, n};
}

/* Why a string value is refused as an id: "\ud800" and "\udfff" would both
 * decode to U+FFFD, and so be one id. */
static const char lone_surrogate[] = "lone surrogate (\\ud800-\\udfff) is not a character";

/* An id: a non-empty string, or an integer (some libraries send numeric
 * userIds) taken as its digits. Absent, null and "" are all "no id". On
 * failure *why (when it has a reason more precise than the caller's) is
 * set. */
static bool
id_value(message_t *m, span_t v, size_t text_len, span_t *out, const char **why)
{
    *out = (span_t){NULL, 0};
    if (absent(v))
        return true;
    span_t id;
    if (v.p[0] == '"') {
        if (base_json_lone_surrogate((span_t){v.p + 1, v.n - 2})) {
            *why = lone_surrogate;
            return false;
        }
        id = string_value(m, v, text_len);
        if (memchr(id.p, '\0', id.n) != NULL)
            return false;
    } else if (v.p[0] == '-' || (v.p[0] >= '0' && v.p[0] <= '9')) {
        if (memchr(v.p, '.', v.n) != NULL || memchr(v.p, 'e', v.n) != NULL || memchr(v.p, 'E', v.n) != NULL)
            return false;
        id = v;
    } else {
        return false;
    }
    if (id.n > MAX_ID_BYTES)
        return false;
    if (id.n > 0)
        *out = id;
    return true;
}

/* An optional object member: absent and null are fine, anything else must
 * be an object. */
static bool
object_value(span_t v, span_t *out)
{
    *out = (span_t){NULL, 0};
    if (absent(v))
        return true;
    if (v.p[0] != '{')
        return false;
    *out = v;
    return true;
}

/* Whether an email member of a traits object holds a lone surrogate: the
 * email is an id too (ingest.c links it). */
static bool
email_lone_surrogate(span_t traits)
{
    jiter_t it;
    span_t key, value;
    if (traits.p == NULL || memmem(traits.p, traits.n, "\\u", 2) == NULL)
        return false;
    base_json_members(&it, traits);
    while (base_json_next(&it, &key, &value))
        if (base_json_key_is(key, "email", 5) && value.p[0] == '"' && base_json_lone_surrogate((span_t){value.p + 1, value.n - 2}))
            return true;
    return false;
}

static bool
is_string(span_t v)
{
    return v.p != NULL && v.p[0] == '"';
}

static int
check(const char *text, size_t n, bool valid, message_t *m, const char **field, char *err, size_t errlen)
{
    const char *f = "message", *why = NULL;
    char whybuf[96];
    span_t v[F_COUNT] = {{0}}, context = {0}, props, key, value;
    jiter_t it;
    memset(m, 0, sizeof(*m));

    if (n > SEGMENT_MAX_MESSAGE_BYTES) {
        snprintf(whybuf, sizeof(whybuf), "message larger than %d bytes", SEGMENT_MAX_MESSAGE_BYTES);
        why = whybuf;
        goto fail;
    }
    if (!valid && (why = base_json_check(text, n)) != NULL) {
        snprintf(whybuf, sizeof(whybuf), "invalid JSON: %s", why);
        why = whybuf;
        goto fail;
    }
    span_t all = {text, n};
    while (all.n > 0 && (*all.p == ' ' || *all.p == '\t' || *all.p == '\n' || *all.p == '\r')) {
        all.p++;
        all.n--;
    }
    why = "message must be a JSON object";
    if (all.p[0] != '{')
        goto fail;
    why = NULL;
    /* A repeated member: the last one counts, as with json-c. */
    base_json_members(&it, all);
    while (base_json_next(&it, &key, &value)) {
        for (int i = 0; i < F_COUNT; i++) {
            if (base_json_key_is(key, field_names[i], strlen(field_names[i]))) {
                v[i] = value;
                break;
            }
        }
    }

    f = "type";
    if (absent(v[F_TYPE])) {
        why = "missing type";
        goto fail;
    }
    why = "unknown type";
    if (!is_string(v[F_TYPE]))
        goto fail;
    span_t type = string_value(m, v[F_TYPE], n);
    for (size_t i = 0; i < sizeof(msg_types) / sizeof(msg_types[0]); i++) {
        if (type.n == strlen(msg_types[i].name) && memcmp(type.p, msg_types[i].name, type.n) == 0) {
            m->type = msg_types[i].type;
            m->type_name = msg_types[i].name;
            why = NULL;
        }
    }
    if (why != NULL)
        goto fail;

    f = "userId";
    why = "invalid userId";
    if (!id_value(m, v[F_USER_ID], n, &m->user_id, &why))
        goto fail;
    f = "anonymousId";
    why = "invalid anonymousId";
    if (!id_value(m, v[F_ANON_ID], n, &m->anon_id, &why))
        goto fail;
    if (m->type == MSG_ALIAS) {
        f = "previousId";
        why = "missing previousId";
        if (!id_value(m, v[F_PREVIOUS_ID], n, &m->previous_id, &why) || m->previous_id.p == NULL)
            goto fail;
        f = "userId";
        why = "missing userId";
        if (m->user_id.p == NULL)
            goto fail;
    } else if (m->user_id.p == NULL && m->anon_id.p == NULL) {
        f = "userId";
        why = "missing userId or anonymousId";
        goto fail;
    }

    if (!absent(v[F_TIMESTAMP])) {
        f = "timestamp";
        why = "invalid timestamp";
        if (!is_string(v[F_TIMESTAMP]))
            goto fail;
        span_t ts = string_value(m, v[F_TIMESTAMP], n);
        if (base_parse_time(ts.p, ts.n, &m->time_ms) != 0)
            goto fail;
        m->has_time = true;
    }
    f = "messageId";
    why = "invalid messageId";
    if (!id_value(m, v[F_MESSAGE_ID], n, &m->message_id, &why))
        goto fail;

    f = "traits";
    why = "traits must be an object";
    if (!object_value(v[F_TRAITS], &m->traits))
        goto fail;
    f = "context";
    why = "context must be an object";
    if (!object_value(v[F_CONTEXT], &context))
        goto fail;
    if (context.p != NULL) {
        f = "context.traits";
        why = "context.traits must be an object";
        base_json_members(&it, context);
        while (base_json_next(&it, &key, &value))
            if (base_json_key_is(key, "traits", 6) && !object_value(value, &m->context_traits))
                goto fail;
    }
    why = lone_surrogate;
    f = "traits.email";
    if (m->type == MSG_IDENTIFY && email_lone_surrogate(m->traits))
        goto fail;
    f = "context.traits.email";
    if (email_lone_surrogate(m->context_traits))
        goto fail;
    f = "properties";
    why = "properties must be an object";
    if (!object_value(v[F_PROPERTIES], &props))
        goto fail;
    m->properties = props;

    switch (m->type) {
    case MSG_TRACK:
        f = "event";
        why = "missing event";
        if (!is_string(v[F_EVENT]))
            goto fail;
        m->name = string_value(m, v[F_EVENT], n);
        if (m->name.n == 0)
            goto fail;
        why = "event name has no letters or digits";
        if ((m->action_len = base_snake_case(m->name.p, m->name.n, m->action, sizeof(m->action))) == 0)
            goto fail;
        break;
    case MSG_PAGE:
    case MSG_SCREEN:
        if (!absent(v[F_NAME])) {
            f = "name";
            why = "name must be a string";
            if (!is_string(v[F_NAME]))
                goto fail;
            m->name = string_value(m, v[F_NAME], n);
        }
        m->action_len = strlen(m->type_name);
        memcpy(m->action, m->type_name, m->action_len + 1);
        break;
    case MSG_GROUP:
        f = "groupId";
        why = "missing groupId";
        if (!id_value(m, v[F_GROUP_ID], n, &m->group_id, &why) || m->group_id.p == NULL)
            goto fail;
        break;
    case MSG_IDENTIFY:
    case MSG_ALIAS:
        break;
    }
    if (is_string(v[F_SOURCE]))
        m->source = string_value(m, v[F_SOURCE], n);
    return 0;
fail:
    if (field != NULL)
        *field = f;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return BASE_EINVAL;
}

int
segment_message_check(const char *text, size_t n, message_t *m, const char **field, char *err, size_t errlen)
{
    return check(text, n, false, m, field, err, errlen);
}

int
segment_message_fields(const char *text, size_t n, message_t *m, const char **field, char *err, size_t errlen)
{
    return check(text, n, true, m, field, err, errlen);
}

void
segment_message_free(message_t *m)
{
    free(m->arena);
    m->arena = NULL;
    m->arena_used = 0;
}

int
segment_message_validate(struct json_object *msg, const char **field, char *err, size_t errlen)
{
    message_t m;
    size_t n = 0;
    const char *text = "null";
    /* The checks run on JSON text (the size limit is on it anyway): a
     * caller holding only the object pays for one serialisation. */
    if (msg != NULL)
        text = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    else
        n = 4;
    int ret = segment_message_check(text, n, &m, field, err, errlen);
    segment_message_free(&m);
    return ret;
}
