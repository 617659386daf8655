/* compile.c -- the definitions file compiled: the tenants, their computed
 * traits (each keyed by a hash of what decides its value) and audiences
 * (rules, with the hidden counts behind eventCount), checked as a whole so
 * that the first problem refuses the file; and the public entry points
 * that load, free, count and find them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "definitions_internal.h"

static const comb_t kind_comb[] = {
    [DK_COUNT] = COMB_ADD,   [DK_SUM] = COMB_ADD,   [DK_MIN] = COMB_MIN,           [DK_MAX] = COMB_MAX,
    [DK_FIRST] = COMB_FIRST, [DK_LAST] = COMB_LAST, [DK_MOST_FREQUENT] = COMB_ADD,
};

/* The key: a hash of everything that decides the values (not the name). */
static void
canon_value(char *buf, size_t cap, size_t *n, const cval_t *v)
{
    switch (v->type) {
    case CV_NUM:
        base_appendf(buf, cap, n, "n%.17g", v->num);
        break;
    case CV_STR:
        base_appendf(buf, cap, n, "s%zu:", v->n);
        break;
    case CV_BOOL:
        base_appendf(buf, cap, n, "%s", v->b ? "t" : "f");
        break;
    default:
        base_appendf(buf, cap, n, "z");
    }
}

static uint64_t
fnv_path(uint64_t h, const path_t *path)
{
    for (size_t i = 0; i < path->depth; i++) {
        h = base_fnv1a(h, path->seg[i], path->len[i]);
        h = base_fnv1a(h, "\x1f", 1);
    }
    return base_fnv1a(h, "\x1e", 1);
}

static void
def_key(comp_def_t *d)
{
    char buf[128];
    size_t n = 0;
    base_appendf(buf, sizeof(buf), &n, "v1|%s|w%d|", defs_kind_names[d->kind], d->window_days);
    uint64_t h = base_fnv1a(14695981039346656037ull, buf, n);
    h = base_fnv1a(h, d->action != NULL ? d->action : "\x1d", d->action != NULL ? d->action_len + 1 : 1);
    h = fnv_path(h, &d->property);
    for (size_t i = 0; i < d->nwhere; i++) {
        const cond_t *c = &d->where[i];
        h = fnv_path(h, &c->path);
        n = 0;
        base_appendf(buf, sizeof(buf), &n, "%s|", defs_op_names[c->op]);
        canon_value(buf, sizeof(buf), &n, &c->value);
        h = base_fnv1a(h, buf, n);
        if (c->value.type == CV_STR)
            h = base_fnv1a(h, c->value.s, c->value.n);
    }
    /* Mix the bits so near-identical definitions differ everywhere. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    snprintf(d->key, sizeof(d->key), "%016llx", (unsigned long long)h);
}

static int
compile_trait(parser_t *p, struct json_object *obj, comp_def_t *d)
{
    static const char *const allowed[] = {"name", "kind", "eventAction", "property", "where", "windowDays", "description", NULL};
    const char *s;
    size_t n;
    int ret;
    memset(d, 0, sizeof(*d));
    if (!json_object_is_type(obj, json_type_object))
        return defs_perr(p, "a computed trait must be an object, not %s", defs_type_name(obj));
    if ((ret = defs_check_members(p, obj, allowed, "a computed trait")) != 0 || (ret = defs_get_name(p, obj, &s, &n)) != 0)
        return ret;
    d->name = base_xstrndup(s, n);
    if ((ret = defs_get_string(p, obj, "kind", true, &s, &n)) != 0)
        return ret;
    size_t k = 0;
    while (k < NKINDS && strcmp(defs_kind_names[k], s) != 0)
        k++;
    if (k == NKINDS) {
        defs_push_key(p, "kind");
        ret = defs_perr(p, "unknown kind \"%s\" (expected count, sum, min, max, first, last or most_frequent)", s);
        defs_pop(p);
        return ret;
    }
    d->kind = (comp_kind_t)k;
    d->comb = kind_comb[k];
    if ((ret = defs_compile_action(p, obj, d)) != 0 ||
        (ret = defs_get_path(p, obj, "property", d->kind != DK_COUNT, &d->property)) != 0)
        return ret;
    if (d->kind == DK_COUNT && d->property.depth > 0) {
        defs_push_key(p, "property");
        ret = defs_perr(p, "kind count takes no property (use where to count events by a property)");
        defs_pop(p);
        return ret;
    }
    if ((ret = defs_get_string(p, obj, "description", false, &s, &n)) != 0 || (ret = defs_compile_where(p, obj, d)) != 0 ||
        (ret = defs_get_days(p, obj, "windowDays", &d->window_days)) != 0)
        return ret;
    if (d->window_days > 0 && d->kind > DK_MAX) {
        defs_push_key(p, "windowDays");
        ret = defs_perr(p, "kind %s is all time only (windowDays applies to count, sum, min and max)", defs_kind_names[d->kind]);
        defs_pop(p);
        return ret;
    }
    def_key(d);
    return 0;
}

static void
rule_free(rule_t *r)
{
    for (size_t i = 0; i < r->nkids; i++)
        rule_free(&r->kids[i]);
    free(r->kids);
    defs_path_free(&r->path);
    defs_cval_free(&r->value);
    memset(r, 0, sizeof(*r));
}

static void
tenant_free(tenant_defs_t *t)
{
    free(t->client);
    free(t->account);
    free(t->brand);
    for (size_t i = 0; i < t->ndefs; i++)
        defs_def_free(&t->defs[i]);
    free(t->defs);
    for (size_t i = 0; i < t->nauds; i++) {
        free(t->auds[i].name);
        rule_free(&t->auds[i].rule);
    }
    free(t->auds);
    free(t->keys_json);
}

/* The index of the hidden count definition behind an eventCount rule,
 * shared with any definition of the tenant that computes the same. */
static int
compile_event_count(parser_t *p, struct json_object *obj, tenant_defs_t *t, size_t *cap, size_t *index)
{
    static const char *const allowed[] = {"eventAction", "windowDays", "where", NULL};
    comp_def_t d = {0};
    int ret;
    defs_push_key(p, "eventCount");
    if (!json_object_is_type(obj, json_type_object))
        ret =
            defs_perr(p, "eventCount must be an object {\"eventAction\", \"windowDays\", \"where\"}, not %s", defs_type_name(obj));
    else if ((ret = defs_check_members(p, obj, allowed, "eventCount")) == 0 && (ret = defs_compile_action(p, obj, &d)) == 0 &&
             (ret = defs_compile_where(p, obj, &d)) == 0)
        ret = defs_get_days(p, obj, "windowDays", &d.window_days);
    defs_pop(p);
    if (ret != 0) {
        defs_def_free(&d);
        return ret;
    }
    d.kind = DK_COUNT;
    d.comb = COMB_ADD;
    def_key(&d);
    for (size_t i = 0; i < t->ndefs; i++) {
        if (strcmp(t->defs[i].key, d.key) == 0) {
            *index = i;
            defs_def_free(&d);
            return 0;
        }
    }
    if (t->ndefs == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        comp_def_t *n = realloc(t->defs, *cap * sizeof(*n));
        if (n == NULL)
            abort();
        t->defs = n;
    }
    d.name = base_xstrndup("", 0);
    d.hidden = true;
    *index = t->ndefs;
    t->defs[t->ndefs++] = d;
    return 0;
}

static int compile_rule(parser_t *p, struct json_object *obj, tenant_defs_t *t, size_t *cap, rule_t *r, int depth);

static int
compile_rule_list(parser_t *p, struct json_object *list, const char *key, tenant_defs_t *t, size_t *cap, rule_t *r, int depth)
{
    int ret = 0;
    defs_push_key(p, key);
    size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
    if (!json_object_is_type(list, json_type_array))
        ret = defs_perr(p, "%s must be an array of rules, not %s", key, defs_type_name(list));
    else if (n == 0)
        ret = defs_perr(p, "%s must not be empty", key);
    if (ret == 0)
        r->kids = base_xcalloc(n, sizeof(*r->kids));
    for (size_t i = 0; i < n && ret == 0; i++) {
        defs_push_index(p, i);
        ret = compile_rule(p, json_object_array_get_idx(list, i), t, cap, &r->kids[i], depth + 1);
        defs_pop(p);
        r->nkids = i + 1;
    }
    defs_pop(p);
    return ret;
}

static int
compile_rule(parser_t *p, struct json_object *obj, tenant_defs_t *t, size_t *cap, rule_t *r, int depth)
{
    static const char *const allowed[] = {"and", "or",    "not", "trait", "computed", "eventCount", "activeWithinDays",
                                          "op",  "value", NULL};
    static const char *const forms[] = {"and", "or", "not", "trait", "computed", "eventCount", "activeWithinDays"};
    struct json_object *v, *form = NULL;
    const char *which = NULL;
    int ret;
    memset(r, 0, sizeof(*r));
    if (depth > MAX_RULE_DEPTH)
        return defs_perr(p, "rules nest deeper than %d", MAX_RULE_DEPTH);
    if (!json_object_is_type(obj, json_type_object))
        return defs_perr(p, "a rule must be an object, not %s", defs_type_name(obj));
    if ((ret = defs_check_members(p, obj, allowed, "a rule")) != 0)
        return ret;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        if (!json_object_object_get_ex(obj, forms[i], &v))
            continue;
        if (which != NULL) {
            defs_push_key(p, forms[i]);
            ret = defs_perr(p,
                            "a rule has one of and, or, not, trait, computed, eventCount, activeWithinDays: this one has both "
                            "\"%s\" and \"%s\"",
                            which, forms[i]);
            defs_pop(p);
            return ret;
        }
        which = forms[i];
        form = v;
    }
    if (which == NULL)
        return defs_perr(p, "a rule needs one of and, or, not, trait, computed, eventCount, activeWithinDays");
    bool compares = strcmp(which, "trait") == 0 || strcmp(which, "computed") == 0 || strcmp(which, "eventCount") == 0;
    if (!compares && (json_object_object_get_ex(obj, "op", &v) || json_object_object_get_ex(obj, "value", &v))) {
        defs_push_key(p, json_object_object_get_ex(obj, "op", &v) ? "op" : "value");
        ret = defs_perr(p, "a rule with \"%s\" takes no op or value", which);
        defs_pop(p);
        return ret;
    }

    if (strcmp(which, "and") == 0 || strcmp(which, "or") == 0) {
        r->type = which[0] == 'a' ? R_AND : R_OR;
        return compile_rule_list(p, form, which, t, cap, r, depth);
    }
    if (strcmp(which, "not") == 0) {
        r->type = R_NOT;
        r->kids = base_xcalloc(1, sizeof(*r->kids));
        r->nkids = 1;
        defs_push_key(p, "not");
        ret = compile_rule(p, form, t, cap, &r->kids[0], depth + 1);
        defs_pop(p);
        return ret;
    }
    if (strcmp(which, "activeWithinDays") == 0) {
        r->type = R_ACTIVE;
        return defs_get_days(p, obj, "activeWithinDays", &r->days);
    }
    if ((ret = defs_get_op(p, obj, &r->op)) != 0)
        return ret;
    if (strcmp(which, "trait") == 0) {
        r->type = R_TRAIT;
        if ((ret = defs_get_path(p, obj, "trait", true, &r->path)) != 0)
            return ret;
        return defs_get_value(p, obj, r->op, false, &r->value);
    }
    if (strcmp(which, "computed") == 0) {
        const char *name;
        size_t n;
        r->type = R_COMPUTED;
        if ((ret = defs_get_string(p, obj, "computed", true, &name, &n)) != 0)
            return ret;
        size_t i = 0;
        while (i < t->nvisible && strcmp(t->defs[i].name, name) != 0)
            i++;
        if (i == t->nvisible) {
            defs_push_key(p, "computed");
            ret = defs_perr(p, "no computed trait \"%s\" in this tenant's computedTraits", name);
            defs_pop(p);
            return ret;
        }
        r->def = i;
        return defs_get_value(p, obj, r->op, false, &r->value);
    }
    /* eventCount: a count compared with a number. */
    r->type = R_COMPUTED;
    if (r->op == OP_EXISTS || r->op == OP_CONTAINS) {
        defs_push_key(p, "op");
        ret = defs_perr(p, "an event count compares with eq, ne, gt, gte, lt or lte, not %s", defs_op_names[r->op]);
        defs_pop(p);
        return ret;
    }
    if ((ret = compile_event_count(p, form, t, cap, &r->def)) != 0)
        return ret;
    return defs_get_value(p, obj, r->op, true, &r->value);
}

static int
compile_array(parser_t *p, struct json_object *obj, const char *key, struct json_object **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_object_object_get_ex(obj, key, out))
        return 0;
    if (!json_object_is_type(*out, json_type_array)) {
        defs_push_key(p, key);
        int ret = defs_perr(p, "%s must be an array, not %s", key, defs_type_name(*out));
        defs_pop(p);
        return ret;
    }
    *n = json_object_array_length(*out);
    return 0;
}

static void
keys_json(tenant_defs_t *t)
{
    jsonbuf_t b;
    base_jb_init(&b, 32 + t->ndefs * (DEFS_KEY_LEN + 3));
    base_jb_open(&b, '[');
    for (size_t i = 0; i < t->ndefs; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(t->defs[k].key, t->defs[i].key) == 0;
        t->defs[i].dup = seen;
        if (!seen)
            base_jb_str(&b, t->defs[i].key, DEFS_KEY_LEN);
    }
    base_jb_close(&b, ']');
    t->keys_json = base_xstrndup(b.data, b.len);
    base_jb_free(&b);
}

static int
compile_tenant(parser_t *p, struct json_object *obj, tenant_defs_t *t)
{
    static const char *const allowed[] = {"client", "account", "brand", "computedTraits", "audiences", "description", NULL};
    struct json_object *traits, *auds;
    size_t ntraits, nauds, cap = 0, n;
    const char *s;
    int ret;
    if (!json_object_is_type(obj, json_type_object))
        return defs_perr(p, "a tenant entry must be an object {\"client\", \"account\", \"brand\", ...}, not %s",
                         defs_type_name(obj));
    if ((ret = defs_check_members(p, obj, allowed, "a tenant entry")) != 0 ||
        (ret = defs_get_string(p, obj, "client", true, &s, &n)) != 0)
        return ret;
    t->client = base_xstrndup(s, n);
    if ((ret = defs_get_string(p, obj, "account", true, &s, &n)) != 0)
        return ret;
    t->account = base_xstrndup(s, n);
    if ((ret = defs_get_string(p, obj, "brand", true, &s, &n)) != 0)
        return ret;
    t->brand = base_xstrndup(s, n);
    if ((ret = defs_get_string(p, obj, "description", false, &s, &n)) != 0 ||
        (ret = compile_array(p, obj, "computedTraits", &traits, &ntraits)) != 0 ||
        (ret = compile_array(p, obj, "audiences", &auds, &nauds)) != 0)
        return ret;

    /* All computed traits first: audiences may name any of them. */
    cap = ntraits;
    t->defs = base_xcalloc(cap, sizeof(*t->defs));
    defs_push_key(p, "computedTraits");
    for (size_t i = 0; i < ntraits && ret == 0; i++) {
        defs_push_index(p, i);
        ret = compile_trait(p, json_object_array_get_idx(traits, i), &t->defs[i]);
        t->ndefs = t->nvisible = i + 1;
        for (size_t k = 0; k < i && ret == 0; k++) {
            if (strcmp(t->defs[k].name, t->defs[i].name) == 0) {
                defs_push_key(p, "name");
                ret = defs_perr(p, "computed trait \"%s\" is defined twice (also computedTraits[%zu])", t->defs[i].name, k);
                defs_pop(p);
            }
        }
        defs_pop(p);
    }
    defs_pop(p);
    if (ret != 0)
        return ret;

    t->auds = base_xcalloc(nauds, sizeof(*t->auds));
    defs_push_key(p, "audiences");
    for (size_t i = 0; i < nauds && ret == 0; i++) {
        static const char *const aud_allowed[] = {"name", "rule", "description", NULL};
        struct json_object *a = json_object_array_get_idx(auds, i), *rule;
        audience_def_t *ad = &t->auds[i];
        t->nauds = i + 1;
        defs_push_index(p, i);
        if (!json_object_is_type(a, json_type_object))
            ret = defs_perr(p, "an audience must be an object {\"name\", \"rule\"}, not %s", defs_type_name(a));
        else if ((ret = defs_check_members(p, a, aud_allowed, "an audience")) == 0 && (ret = defs_get_name(p, a, &s, &n)) == 0)
            ad->name = base_xstrndup(s, n);
        for (size_t k = 0; k < i && ret == 0; k++) {
            if (strcmp(t->auds[k].name, ad->name) == 0) {
                defs_push_key(p, "name");
                ret = defs_perr(p, "audience \"%s\" is defined twice (also audiences[%zu])", ad->name, k);
                defs_pop(p);
            }
        }
        if (ret == 0 && (ret = defs_get_string(p, a, "description", false, &s, &n)) == 0) {
            if (!json_object_object_get_ex(a, "rule", &rule)) {
                ret = defs_perr(p, "missing \"rule\"");
            } else {
                defs_push_key(p, "rule");
                ret = compile_rule(p, rule, t, &cap, &ad->rule, 0);
                defs_pop(p);
            }
        }
        defs_pop(p);
    }
    defs_pop(p);
    if (ret == 0)
        keys_json(t);
    return ret;
}

static void
defs_free(definitions_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        tenant_free(&d->tenants[i]);
    free(d->tenants);
    free(d);
}

static int
compile(parser_t *p, struct json_object *root, definitions_t *d)
{
    static const char *const allowed[] = {"tenants", "version", "description", NULL};
    struct json_object *tenants, *v;
    size_t n;
    int ret;
    if (!json_object_is_type(root, json_type_object))
        return defs_perr(p, "the definitions must be an object {\"tenants\": [...]}, not %s", defs_type_name(root));
    if ((ret = defs_check_members(p, root, allowed, "the definitions")) != 0)
        return ret;
    if (json_object_object_get_ex(root, "version", &v) && !(json_object_is_type(v, json_type_int) && json_object_get_int(v) == 1)) {
        defs_push_key(p, "version");
        ret = defs_perr(p, "version must be 1");
        defs_pop(p);
        return ret;
    }
    const char *s;
    if ((ret = defs_get_string(p, root, "description", false, &s, &n)) != 0)
        return ret;
    if (!json_object_object_get_ex(root, "tenants", &tenants))
        return defs_perr(p, "missing \"tenants\"");
    if ((ret = compile_array(p, root, "tenants", &tenants, &n)) != 0)
        return ret;
    d->tenants = base_xcalloc(n, sizeof(*d->tenants));
    defs_push_key(p, "tenants");
    for (size_t i = 0; i < n && ret == 0; i++) {
        tenant_defs_t *t = &d->tenants[i];
        d->n = i + 1;
        defs_push_index(p, i);
        ret = compile_tenant(p, json_object_array_get_idx(tenants, i), t);
        for (size_t k = 0; k < i && ret == 0; k++) {
            const tenant_defs_t *o = &d->tenants[k];
            if (strcmp(o->client, t->client) == 0 && strcmp(o->account, t->account) == 0 && strcmp(o->brand, t->brand) == 0)
                ret = defs_perr(p, "%s/%s/%s has two entries (also tenants[%zu])", t->client, t->account, t->brand, k);
        }
        defs_pop(p);
    }
    defs_pop(p);
    return ret;
}

int
definitions_parse(const char *text, size_t len, const char *name, definitions_t **out, char *errbuf, size_t errlen)
{
    parser_t p = {.text = text, .len = len, .name = name != NULL ? name : "definitions", .err = errbuf, .errlen = errlen};
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    definitions_t *d = NULL;
    int ret;
    *out = NULL;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';

    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        size_t line, col;
        defs_line_col(text, nul, &line, &col);
        snprintf(errbuf, errlen, "%s:%zu:%zu: a NUL byte", p.name, line, col);
        return BASE_EINVAL;
    }
    if ((tok = json_tokener_new_ex(MAX_FILE_DEPTH)) == NULL)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_success) {
        while (end < len && (text[end] == ' ' || text[end] == '\t' || text[end] == '\n' || text[end] == '\r'))
            end++;
        if (end < len)
            jerr = json_tokener_error_parse_unexpected;
    }
    const char *why = NULL;
    if (jerr != json_tokener_success) {
        why = jerr == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(jerr);
        /* json-c stops at the offending character. */
        if (jerr == json_tokener_continue)
            end = len;
    } else {
        /* json-c 0.16 lets raw control characters and invalid UTF-8 through
         * even when strict: the scanner refuses them, so what is accepted
         * is text the position lookup walks (at any depth json-c takes). */
        why = base_json_check_at(text, len, MAX_FILE_DEPTH, &end);
    }
    if (why != NULL) {
        size_t line, col;
        defs_line_col(text, text + (end < len ? end : len), &line, &col);
        snprintf(errbuf, errlen, "%s:%zu:%zu: invalid JSON: %s", p.name, line, col, why);
        ret = BASE_EINVAL;
        goto done;
    }
    d = base_xcalloc(1, sizeof(*d));
    if ((ret = compile(&p, root, d)) != 0) {
        defs_free(d);
        goto done;
    }
    *out = d;
    ret = 0;
done:
    json_object_put(root);
    json_tokener_free(tok);
    return ret;
}

int
definitions_load(const char *path, definitions_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return BASE_EIO;
    }
    size_t cap = 64 * 1024, n = 0;
    char *text = malloc(cap);
    if (text == NULL)
        abort();
    for (;;) {
        if (n == cap) {
            cap *= 2;
            if ((text = realloc(text, cap)) == NULL)
                abort();
        }
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > MAX_FILE_BYTES)
            break;
    }
    int ret;
    if (ferror(f)) {
        snprintf(errbuf, errlen, "%s: read error: %s", path, strerror(errno));
        ret = BASE_EIO;
    } else if (n > MAX_FILE_BYTES) {
        snprintf(errbuf, errlen, "%s: larger than %d bytes", path, MAX_FILE_BYTES);
        ret = BASE_EINVAL;
    } else {
        ret = definitions_parse(text, n, path, out, errbuf, errlen);
    }
    free(text);
    fclose(f);
    return ret;
}

void
definitions_free(definitions_t *defs)
{
    if (defs != NULL)
        defs_free(defs);
}

void
definitions_stats(const definitions_t *defs, size_t *tenants, size_t *traits, size_t *audiences)
{
    size_t nt = 0, nc = 0, na = 0;
    for (size_t i = 0; defs != NULL && i < defs->n; i++) {
        nt++;
        nc += defs->tenants[i].nvisible;
        na += defs->tenants[i].nauds;
    }
    if (tenants != NULL)
        *tenants = nt;
    if (traits != NULL)
        *traits = nc;
    if (audiences != NULL)
        *audiences = na;
}

const tenant_defs_t *
definitions_find(const definitions_t *defs, const char *client, size_t client_len, const char *account, size_t account_len,
                 const char *brand, size_t brand_len)
{
    const tenant_defs_t *any = NULL;
    for (size_t i = 0; defs != NULL && i < defs->n; i++) {
        const tenant_defs_t *t = &defs->tenants[i];
        if (strlen(t->client) != client_len || memcmp(t->client, client, client_len) != 0 || strlen(t->account) != account_len ||
            memcmp(t->account, account, account_len) != 0)
            continue;
        if (strlen(t->brand) == brand_len && memcmp(t->brand, brand, brand_len) == 0)
            return t;
        if (strcmp(t->brand, "*") == 0)
            any = t;
    }
    return any;
}
