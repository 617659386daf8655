/* audience.c -- `profiled audience import|remove|list`: static audience
 * member lists from CSV files (a userId or email column) into a database,
 * reporting bad rows by line, and the audiences of a tenant with their
 * member counts. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base.h"
#include "cli.h"
#include "storage.h"

typedef struct {
    const char *db, *client, *account, *brand, *name;
    const char *file; /* NULL: none given */
} audience_args_t;

static void
audience_usage(FILE *out)
{
    fprintf(out, "usage: profiled audience import --db PATH --client C --account A --brand B --name NAME FILE.csv|-\n"
                 "       profiled audience remove --db PATH --client C --account A --brand B --name NAME [FILE.csv|-]\n"
                 "       profiled audience list --db PATH --client C --account A --brand B\n"
                 "A member list is CSV: a header naming a userId and/or email column, or one column without\n"
                 "header (a value with '@' is an email). import adds the members, creating profiles for ids\n"
                 "nobody has; remove takes the listed members out, or without FILE the whole audience.\n"
                 "Bad rows are reported as 'line N: reason' and the exit status is 1 if there was any.\n");
}

/* The flags, at most one positional argument (the CSV file) and the ones
 * each of cmd ("audience import", "audience remove", "audience list")
 * requires. -1 with a message on a bad argument. */
static int
parse_args(int argc, char **argv, const char *cmd, audience_args_t *a)
{
    const cli_flag_t flags[] = {
        {"db", &a->db}, {"client", &a->client}, {"account", &a->account}, {"brand", &a->brand}, {"name", &a->name}};
    size_t npos = 1;
    bool list = strcmp(cmd, "audience list") == 0;
    if (cli_parse_flags(argc, argv, cmd, flags, sizeof(flags) / sizeof(flags[0]), &a->file, &npos, 0) != 0 ||
        cli_need(a->client, "client", cmd) != 0 || cli_need(a->account, "account", cmd) != 0 ||
        cli_need(a->brand, "brand", cmd) != 0 || (!list && cli_need(a->name, "name", cmd) != 0))
        return -1;
    if (strcmp(cmd, "audience import") == 0 && a->file == NULL) {
        fprintf(stderr, "profiled audience import: give the CSV file (or - for stdin)\n");
        return -1;
    }
    if (list && a->file != NULL) {
        fprintf(stderr, "profiled audience list: unexpected argument '%s'\n", a->file);
        return -1;
    }
    return 0;
}

static int
print_audience(void *ctx, const char *name, uint64_t members)
{
    (void)ctx;
    printf("%s\t%llu\n", name, (unsigned long long)members);
    return 0;
}

int
cli_audience(int argc, char **argv)
{
    const char *sub = argc >= 1 ? argv[0] : "";
    if (argc >= 1 && cli_is_help(sub)) {
        audience_usage(stdout);
        return 0;
    }
    const char *cmd = strcmp(sub, "import") == 0   ? "audience import"
                      : strcmp(sub, "remove") == 0 ? "audience remove"
                      : strcmp(sub, "list") == 0   ? "audience list"
                                                   : NULL;
    if (cmd == NULL) {
        audience_usage(stderr);
        return 2;
    }
    audience_args_t a = {.db = cli_env_or("PROFILED_DB", "./profiled.db")};
    if (parse_args(argc - 1, argv + 1, cmd, &a) != 0)
        return 2;
    FILE *in = NULL;
    if (a.file != NULL && (in = strcmp(a.file, "-") == 0 ? stdin : fopen(a.file, "r")) == NULL) {
        fprintf(stderr, "profiled %s: cannot open %s: %s\n", cmd, a.file, strerror(errno));
        return 2;
    }
    storage_t *st = NULL;
    char err[512];
    int rv;
    if (storage_open(&st, a.db, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled %s: %s\n", cmd, err);
        rv = STORAGE_EIO;
        goto done;
    }
    storage_tenant_t tenant = storage_tenant(a.client, a.account, a.brand);
    storage_audience_counts_t c = {0};
    if (strcmp(sub, "list") == 0) {
        if ((rv = storage_audience_list(st, &tenant, print_audience, NULL)) != 0)
            fprintf(stderr, "profiled audience list: %s\n", storage_errmsg(st));
    } else if (strcmp(sub, "import") == 0) {
        rv = storage_audience_import_csv(st, &tenant, a.name, in, a.file, stderr, base_wall_ms(), &c);
        if (rv != 0 && (rv != STORAGE_EINVAL || c.rejected == 0))
            fprintf(stderr, "profiled audience import: %s\n", storage_errmsg(st));
        fprintf(stderr, "profiled audience import: %llu rows: %llu members added, %llu profiles created, %llu rejected\n",
                (unsigned long long)c.rows, (unsigned long long)c.changed, (unsigned long long)c.created,
                (unsigned long long)c.rejected);
    } else {
        rv = storage_audience_remove(st, &tenant, a.name, in, stderr, &c);
        if (rv != 0 && (rv != STORAGE_EINVAL || c.rejected == 0))
            fprintf(stderr, "profiled audience remove: %s\n", storage_errmsg(st));
        else
            fprintf(stderr, "profiled audience remove: %llu members removed, %llu rejected\n", (unsigned long long)c.changed,
                    (unsigned long long)c.rejected);
    }
done:
    storage_close(st);
    if (in != NULL && in != stdin)
        fclose(in);
    return rv == 0 ? 0 : 1;
}
