/* definitions.c -- `profiled definitions list|check`: reads a
 * definitions file of computed traits and audiences the way the server
 * does, and prints what it holds per tenant, or the position and reason
 * of the first problem. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "definitions.h"

static void
definitions_usage(FILE *out)
{
    fprintf(out, "usage: profiled definitions list [--definitions] FILE\n"
                 "       profiled definitions check [--definitions] FILE\n"
                 "Reads a definitions file of computed traits and audiences (docs/DEFINITIONS.md).\n"
                 "list prints what it defines per tenant; check prints a one-line summary.\n"
                 "A file with an error is refused as a whole: FILE:LINE:COLUMN: PATH: reason, exit status 1.\n"
                 "FILE defaults to $PROFILED_DEFINITIONS.\n");
}

int
cli_definitions(int argc, char **argv)
{
    const char *path = getenv("PROFILED_DEFINITIONS");
    const char *cmd = argc >= 1 ? argv[0] : "";
    bool list = strcmp(cmd, "list") == 0;
    if (argc >= 1 && cli_is_help(cmd)) {
        definitions_usage(stdout);
        return 0;
    }
    if (!list && strcmp(cmd, "check") != 0) {
        definitions_usage(stderr);
        return 2;
    }
    /* --definitions FILE or FILE, the last given wins. */
    const cli_flag_t flags[] = {{"definitions", &path}};
    size_t npos = 1;
    const char *what = list ? "definitions list" : "definitions check";
    if (cli_parse_flags(argc - 1, argv + 1, what, flags, 1, &path, &npos, CLI_POS_LAST | CLI_MISSING_VALUE_UNKNOWN) != 0)
        return 2;
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "profiled definitions %s: give the definitions file (or set PROFILED_DEFINITIONS)\n", cmd);
        return 2;
    }
    definitions_t *defs = NULL;
    char err[1024];
    if (definitions_load(path, &defs, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled definitions %s: %s\n", cmd, err);
        return 1;
    }
    if (list) {
        definitions_print(defs, stdout);
    } else {
        size_t tenants, traits, audiences;
        definitions_stats(defs, &tenants, &traits, &audiences);
        printf("%s: ok: %zu tenant entr%s, %zu computed trait%s, %zu audience%s\n", path, tenants, tenants == 1 ? "y" : "ies",
               traits, traits == 1 ? "" : "s", audiences, audiences == 1 ? "" : "s");
    }
    definitions_free(defs);
    return 0;
}
