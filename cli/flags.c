/* flags.c -- the one flag parser of the offline subcommands (--name VALUE,
 * --name=VALUE and positional arguments) and the small argument helpers
 * they share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* The table entry named by the n bytes at name, or NULL. The last entry of
 * that name wins. */
static const cli_flag_t *
find_flag(const cli_flag_t *flags, size_t nflags, const char *name, size_t n)
{
    const cli_flag_t *f = NULL;
    for (size_t k = 0; k < nflags; k++)
        if (strlen(flags[k].name) == n && memcmp(flags[k].name, name, n) == 0)
            f = &flags[k];
    return f;
}

int
cli_parse_flags(int argc, char **argv, const char *cmd, const cli_flag_t *flags, size_t nflags, const char **pos, size_t *npos,
                unsigned opts)
{
    size_t maxpos = *npos;
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || strcmp(a, "-") == 0) {
            if (*npos == maxpos && (!(opts & CLI_POS_LAST) || maxpos == 0)) {
                fprintf(stderr, "profiled %s: unexpected argument '%s'\n", cmd, a);
                return -1;
            }
            if (*npos == maxpos)
                pos[maxpos - 1] = a;
            else
                pos[(*npos)++] = a;
            continue;
        }
        const char *eq = strchr(a + 2, '=');
        const cli_flag_t *f = find_flag(flags, nflags, a + 2, eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2));
        if (f == NULL || (eq == NULL && i + 1 == argc && (opts & CLI_MISSING_VALUE_UNKNOWN))) {
            fprintf(stderr, "profiled %s: unknown option '%s'\n", cmd, a);
            return -1;
        }
        if (eq != NULL) {
            *f->value = eq + 1;
        } else if (i + 1 < argc) {
            *f->value = argv[++i];
        } else {
            fprintf(stderr, "profiled %s: option --%s needs a value\n", cmd, f->name);
            return -1;
        }
    }
    return 0;
}

const char *
cli_env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : def;
}

int
cli_need(const char *value, const char *flag, const char *cmd)
{
    if (value == NULL || value[0] == '\0') {
        fprintf(stderr, "profiled %s: --%s is required\n", cmd, flag);
        return -1;
    }
    return 0;
}

int
cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}
