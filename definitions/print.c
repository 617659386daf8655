/* print.c -- the compiled definitions written for humans, one line per
 * computed trait and audience (`profiled definitions list`). */
#include <stdio.h>
#include <string.h>
#include "definitions_internal.h"

static void
print_path(FILE *out, const path_t *path)
{
    for (size_t i = 0; i < path->depth; i++)
        fprintf(out, "%s%s", i > 0 ? "." : "", path->seg[i]);
}

static void
print_value(FILE *out, const cval_t *v)
{
    switch (v->type) {
    case CV_NUM:
        fprintf(out, "%.15g", v->num);
        break;
    case CV_STR: {
        jsonbuf_t b;
        base_jb_init(&b, v->n + 8);
        base_jb_str(&b, v->s, v->n);
        fwrite(b.data, 1, b.len, out);
        base_jb_free(&b);
        break;
    }
    case CV_BOOL:
        fputs(v->b ? "true" : "false", out);
        break;
    default:
        fputs("null", out);
    }
}

static void
print_compare(FILE *out, cmp_op_t op, const cval_t *v)
{
    if (op == OP_EXISTS) {
        fputs(v->b ? " exists" : " does not exist", out);
        return;
    }
    fprintf(out, " %s ", defs_op_names[op]);
    print_value(out, v);
}

static void
print_where(FILE *out, const comp_def_t *d)
{
    for (size_t i = 0; i < d->nwhere; i++) {
        fputs(i == 0 ? " where " : " and ", out);
        print_path(out, &d->where[i].path);
        print_compare(out, d->where[i].op, &d->where[i].value);
    }
}

static void
print_events(FILE *out, const comp_def_t *d)
{
    if (d->action != NULL)
        fprintf(out, "%s events", d->action);
    else
        fputs("all events", out);
    print_where(out, d);
}

static void
print_def(FILE *out, const comp_def_t *d)
{
    if (d->kind == DK_COUNT) {
        fputs("count of ", out);
    } else {
        fprintf(out, "%s ", d->kind == DK_MOST_FREQUENT ? "most frequent" : defs_kind_names[d->kind]);
        print_path(out, &d->property);
        fputs(" of ", out);
    }
    print_events(out, d);
    if (d->window_days > 0)
        fprintf(out, ", last %d day%s", d->window_days, d->window_days == 1 ? "" : "s");
    else
        fputs(", all time", out);
}

static void
print_rule(FILE *out, const tenant_defs_t *t, const rule_t *r, bool nested)
{
    switch (r->type) {
    case R_AND:
    case R_OR:
        if (nested)
            fputc('(', out);
        for (size_t i = 0; i < r->nkids; i++) {
            if (i > 0)
                fputs(r->type == R_AND ? " and " : " or ", out);
            print_rule(out, t, &r->kids[i], true);
        }
        if (nested)
            fputc(')', out);
        break;
    case R_NOT:
        fputs("not ", out);
        print_rule(out, t, &r->kids[0], true);
        break;
    case R_TRAIT:
        fputs("trait ", out);
        print_path(out, &r->path);
        print_compare(out, r->op, &r->value);
        break;
    case R_COMPUTED: {
        const comp_def_t *d = &t->defs[r->def];
        if (d->hidden) {
            fputs("eventCount(", out);
            print_events(out, d);
            if (d->window_days > 0)
                fprintf(out, ", last %d day%s", d->window_days, d->window_days == 1 ? "" : "s");
            fputc(')', out);
        } else {
            fprintf(out, "computed %s", d->name);
        }
        print_compare(out, r->op, &r->value);
        break;
    }
    case R_ACTIVE:
        fprintf(out, "active within the last %d day%s", r->days, r->days == 1 ? "" : "s");
        break;
    }
}

void
definitions_print(const definitions_t *defs, FILE *out)
{
    for (size_t i = 0; defs != NULL && i < defs->n; i++) {
        const tenant_defs_t *t = &defs->tenants[i];
        fprintf(out, "%s/%s/%s%s: %zu computed trait%s, %zu audience%s\n", t->client, t->account, t->brand,
                strcmp(t->brand, "*") == 0 ? " (every brand without its own entry)" : "", t->nvisible, t->nvisible == 1 ? "" : "s",
                t->nauds, t->nauds == 1 ? "" : "s");
        for (size_t k = 0; k < t->nvisible; k++) {
            fprintf(out, "  computed %s: ", t->defs[k].name);
            print_def(out, &t->defs[k]);
            fputc('\n', out);
        }
        for (size_t k = 0; k < t->nauds; k++) {
            fprintf(out, "  audience %s: ", t->auds[k].name);
            print_rule(out, t, &t->auds[k].rule, false);
            fputc('\n', out);
        }
    }
}
