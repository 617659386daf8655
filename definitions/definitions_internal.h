/* definitions_internal.h -- what the files of definitions/ share and no
 * other folder sees: the checker's position in the file (parser_t), the
 * names of kinds and ops, and the readers of parse.c that compile.c builds
 * the compiled form with. parse.c reads one member at a time and reports
 * a problem with it as "NAME:LINE:COL: PATH: reason"; compile.c walks the
 * tenants, computed traits and audiences and keys each definition;
 * print.c writes the compiled form for humans. Every reader returns 0 or
 * BASE_EINVAL with the message in the parser's errbuf. */
#ifndef PROFILED_DEFINITIONS_INTERNAL_H
#define PROFILED_DEFINITIONS_INTERNAL_H

#include <json-c/json.h>
#include "definitions.h"

#define MAX_FILE_BYTES (16 * 1024 * 1024)
#define MAX_NAME_BYTES 128
#define MAX_DAYS 3650
#define MAX_RULE_DEPTH 16
#define MAX_PATH_DEPTH 64 /* of the JSON path reported in messages */
/* Containers the file may nest: json-c's limit, and the scanner that
 * finds a node's position walks as deep (with a lower limit of its own,
 * positions would vanish from messages about any deeper file). */
#define MAX_FILE_DEPTH (MAX_RULE_DEPTH * 3 + 16)

/* The names of the file's kinds and ops, indexed by comp_kind_t and
 * cmp_op_t (parse.c). */
#define NKINDS ((size_t)DK_MOST_FREQUENT + 1)
#define NOPS ((size_t)OP_CONTAINS + 1)
extern const char *const defs_kind_names[NKINDS];
extern const char *const defs_op_names[NOPS];

/* The checker's position: the JSON path of the node being looked at, kept
 * so that a message can name it and find it in the text. */
typedef struct {
    const char *key; /* NULL: an array index */
    size_t index;
} seg_t;

typedef struct {
    const char *text;
    size_t len;
    const char *name;
    seg_t seg[MAX_PATH_DEPTH];
    size_t depth;
    char *err;
    size_t errlen;
} parser_t;

/* ---- position and messages (parse.c) ---- */
/* Enter the member key / the item i of the current node; defs_pop leaves
 * it again. */
void defs_push_key(parser_t *p, const char *key);
void defs_push_index(parser_t *p, size_t i);
void defs_pop(parser_t *p);
/* Reports a problem with the current node: "NAME:LINE:COL: PATH: reason".
 * Returns BASE_EINVAL. */
int defs_perr(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The 1-based line and column of at inside text. */
void defs_line_col(const char *text, const char *at, size_t *line, size_t *col);
/* "a string", "an object", ... for messages. */
const char *defs_type_name(struct json_object *o);

/* ---- readers of one member (parse.c) ---- */
/* Every member of obj must be one of allowed (NULL-terminated). */
int defs_check_members(parser_t *p, struct json_object *obj, const char *const *allowed, const char *what);
/* A member that must be a non-empty string: *out borrowed from obj; NULL
 * when absent and optional. */
int defs_get_string(parser_t *p, struct json_object *obj, const char *key, bool required, const char **out, size_t *len);
/* A member that must be a whole number of days in 1..MAX_DAYS; 0 when
 * absent. */
int defs_get_days(parser_t *p, struct json_object *obj, const char *key, int *out);
/* The "name" member: 1 to MAX_NAME_BYTES letters, digits, '_', '-', '.'. */
int defs_get_name(parser_t *p, struct json_object *obj, const char **out, size_t *len);
/* A member holding a path "a.b.c" (*out all zero when absent). */
int defs_get_path(parser_t *p, struct json_object *obj, const char *key, bool required, path_t *out);
/* The "op" member. */
int defs_get_op(parser_t *p, struct json_object *obj, cmp_op_t *op);
/* The "value" of a comparison, checked against its op. numeric: only a
 * number makes sense (counts). */
int defs_get_value(parser_t *p, struct json_object *obj, cmp_op_t op, bool numeric, cval_t *out);
/* "where": one condition or an array of them (all must hold), into d. */
int defs_compile_where(parser_t *p, struct json_object *obj, comp_def_t *d);
/* "eventAction", stored as its snake_case, into d (NULL when absent). */
int defs_compile_action(parser_t *p, struct json_object *obj, comp_def_t *d);

/* Free what a reader filled in and zero it. */
void defs_path_free(path_t *path);
void defs_cval_free(cval_t *v);
void defs_def_free(comp_def_t *d);

#endif
