/* segment.h -- Segment-spec messages and request bodies as text: a message
 * checked where it lies into spans (type, ids, timestamp, event name,
 * traits), a batch body taken apart in place, its writeKey kept apart. No
 * SQL: what is checked here is what storage stores. */
#ifndef PROFILED_SEGMENT_H
#define PROFILED_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "base.h"

/* The largest message accepted, in bytes of JSON text. */
#define SEGMENT_MAX_MESSAGE_BYTES (32 * 1024)

enum msg_type { MSG_IDENTIFY, MSG_TRACK, MSG_PAGE, MSG_SCREEN, MSG_GROUP, MSG_ALIAS };

/* A checked message: spans into its JSON text (which must outlive it), or
 * into its arena for strings that had escapes. Absent fields: p == NULL. */
typedef struct {
    enum msg_type type;
    const char *type_name;
    span_t user_id, anon_id, previous_id, message_id, group_id, name, source; /* decoded text */
    span_t traits, context_traits, properties;                                /* object JSON text */
    bool has_time;
    int64_t time_ms;
    char action[128]; /* eventAction of track/page/screen */
    size_t action_len;
    char *arena;
    size_t arena_used;
} message_t;

/* Validates the n bytes of JSON text of a message and fills m (release with
 * segment_message_free, also after a failure). 0, or STORAGE_EINVAL with the
 * offending field and a reason. */
int segment_message_check(const char *text, size_t n, message_t *m, const char **field, char *err, size_t errlen);
/* The same for text already known to be valid JSON within the depth limit
 * (checked as part of a larger document). */
int segment_message_fields(const char *text, size_t n, message_t *m, const char **field, char *err, size_t errlen);
void segment_message_free(message_t *m);

/* Checks one message without storing it. 0 or BASE_EINVAL with a reason
 * naming the field ("userId", "timestamp", "type", ...). field (may be NULL)
 * receives the offending field name (a static string). */
int segment_message_validate(struct json_object *msg, const char **field, char *err, size_t errlen);

/* A request body of messages (ingestion), checked and taken apart in place
 * (segment_batch_parse takes ownership of body; segment_batch_free frees it). */
typedef struct segment_batch segment_batch_t;
typedef struct {
    bool bad_body;     /* the body is not one JSON object (else: a message or the envelope failed the checks) */
    char message[256]; /* "batch[3].userId: invalid userId", "type: ...", ... */
} segment_batch_err_t;

/* single_type NULL: body is {"batch":[message, ...]}; else body is one
 * message of that type ("type" may be absent; it is added). A "writeKey"
 * member of the body is kept apart (segment_batch_write_key) and never
 * stored. 0, or BASE_EINVAL with e filled (nothing is kept). */
int segment_batch_parse(char *body, size_t len, const char *single_type, segment_batch_t **out, segment_batch_err_t *e);
/* Checks every message (after the credentials: a stranger learns nothing of
 * the messages). 0, or BASE_EINVAL naming the first bad one in e. */
int segment_batch_check(segment_batch_t *b, segment_batch_err_t *e);
/* The body's writeKey string, decoded; NULL when none. */
const char *segment_batch_write_key(const segment_batch_t *b, size_t *len);
size_t segment_batch_count(const segment_batch_t *b);
void segment_batch_free(segment_batch_t *b);
/* Message i (< segment_batch_count) of a checked batch, and its text (the
 * part of the body it is stored as). */
const message_t *segment_batch_message(const segment_batch_t *b, size_t i, span_t *text);

#endif
