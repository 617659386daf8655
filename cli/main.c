/* main.c -- the profiled binary: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>
#include "server.h"

static void
usage(FILE *out)
{
    fprintf(out, "usage: profiled <command> [options]\n\n"
                 "commands:\n"
                 "  serve     run the HTTP API server (profiled serve --help)\n"
                 "  import    load Segment-spec NDJSON messages into a database\n"
                 "  check     check a database file for damage (exit 1 on damage)\n"
                 "  token     create, list or revoke API tokens\n"
                 "  audience  import, remove or list static audiences (CSV member lists)\n"
                 "  definitions  list or check a definitions file of computed traits and audiences\n"
                 "  help      this text\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return server_main(argc - 2, argv + 2);
    if (strcmp(cmd, "import") == 0)
        return cli_import(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0)
        return cli_check(argc - 2, argv + 2);
    if (strcmp(cmd, "token") == 0)
        return cli_token(argc - 2, argv + 2);
    if (strcmp(cmd, "audience") == 0)
        return cli_audience(argc - 2, argv + 2);
    if (strcmp(cmd, "definitions") == 0)
        return cli_definitions(argc - 2, argv + 2);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "profiled: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
