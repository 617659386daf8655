/* cli_audience.c -- `profiled audience import|remove|list`: static audience
 * member lists from CSV files (a userId or email column) into a database,
 * reporting bad rows by line, and the audiences of a tenant with their
 * member counts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server.h"

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

/* --name VALUE / --name=VALUE flags and at most one positional argument.
 * -1 with a message on a bad argument. */
static int
parse_args(int argc, char **argv, const char *cmd, audience_args_t *a)
{
    struct {
        const char *name;
        const char **value;
    } flags[] = {{"db", &a->db}, {"client", &a->client}, {"account", &a->account}, {"brand", &a->brand}, {"name", &a->name}};
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || strcmp(arg, "-") == 0) {
            if (a->file != NULL) {
                fprintf(stderr, "profiled audience %s: unexpected argument '%s'\n", cmd, arg);
                return -1;
            }
            a->file = arg;
            continue;
        }
        const char *eq = strchr(arg + 2, '=');
        size_t n = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        const char **value = NULL;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (strlen(flags[k].name) == n && memcmp(flags[k].name, arg + 2, n) == 0)
                value = flags[k].value;
        if (value == NULL) {
            fprintf(stderr, "profiled audience %s: unknown option '%s'\n", cmd, arg);
            return -1;
        }
        if (eq != NULL) {
            *value = eq + 1;
        } else if (i + 1 < argc) {
            *value = argv[++i];
        } else {
            fprintf(stderr, "profiled audience %s: option %s needs a value\n", cmd, arg);
            return -1;
        }
    }
    const char *missing = a->client == NULL || a->client[0] == '\0'                             ? "client"
                          : a->account == NULL || a->account[0] == '\0'                         ? "account"
                          : a->brand == NULL || a->brand[0] == '\0'                             ? "brand"
                          : strcmp(cmd, "list") != 0 && (a->name == NULL || a->name[0] == '\0') ? "name"
                                                                                                : NULL;
    if (missing != NULL) {
        fprintf(stderr, "profiled audience %s: --%s is required\n", cmd, missing);
        return -1;
    }
    if (strcmp(cmd, "import") == 0 && a->file == NULL) {
        fprintf(stderr, "profiled audience import: give the CSV file (or - for stdin)\n");
        return -1;
    }
    if (strcmp(cmd, "list") == 0 && a->file != NULL) {
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
    const char *cmd = argc >= 1 ? argv[0] : "";
    if (argc >= 1 && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)) {
        audience_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "import") != 0 && strcmp(cmd, "remove") != 0 && strcmp(cmd, "list") != 0) {
        audience_usage(stderr);
        return 2;
    }
    const char *env_db = getenv("PROFILED_DB");
    audience_args_t a = {.db = env_db != NULL && env_db[0] != '\0' ? env_db : "./profiled.db"};
    if (parse_args(argc - 1, argv + 1, cmd, &a) != 0)
        return 2;
    FILE *in = NULL;
    if (a.file != NULL && (in = strcmp(a.file, "-") == 0 ? stdin : fopen(a.file, "r")) == NULL) {
        fprintf(stderr, "profiled audience %s: cannot open %s: %s\n", cmd, a.file, strerror(errno));
        return 2;
    }
    storage_t *st = NULL;
    char err[512];
    int rv;
    if (storage_open(&st, a.db, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled audience %s: %s\n", cmd, err);
        rv = STORAGE_EIO;
        goto done;
    }
    storage_tenant_t tenant = storage_tenant(a.client, a.account, a.brand);
    storage_audience_counts_t c = {0};
    if (strcmp(cmd, "list") == 0) {
        if ((rv = storage_audience_list(st, &tenant, print_audience, NULL)) != 0)
            fprintf(stderr, "profiled audience list: %s\n", storage_errmsg(st));
    } else if (strcmp(cmd, "import") == 0) {
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
