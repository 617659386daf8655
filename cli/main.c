/* main.c -- the profiled binary: one table of its subcommands, from which
 * both the dispatch and the usage text come. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "server.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help; /* one line in the usage text; NULL: not listed */
} command_t;

static int help_main(int argc, char **argv);

static const command_t commands[] = {
    {"serve", server_main, "run the HTTP API server (profiled serve --help)"},
    {"import", cli_import, "load Segment-spec NDJSON messages into a database"},
    {"migrate", cli_migrate, "bring a database's schema up to this build's (SQLite file or PostgreSQL URL)"},
    {"copy", cli_copy, "copy a whole database into a new one (SQLite to PostgreSQL, or back)"},
    {"check", cli_check, "check a database file for damage (exit 1 on damage)"},
    {"token", cli_token, "create, list or revoke API tokens"},
    {"audience", cli_audience, "import, remove or list static audiences (CSV member lists)"},
    {"definitions", cli_definitions, "list or check a definitions file of computed traits and audiences"},
    {"profile", cli_profile, "delete a profile and everything of it (erasure; its ids are suppressed)"},
    {"suppression", cli_suppression, "list or remove the suppressed ids of erased profiles"},
    {"help", help_main, "this text"},
    {"--help", help_main, NULL},
    {"-h", help_main, NULL},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Names padded to 10 columns, and at least two spaces before the help. */
static void
usage(FILE *out)
{
    fprintf(out, "usage: profiled <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (commands[i].help == NULL)
            continue;
        int len = (int)strlen(commands[i].name);
        fprintf(out, "  %s%*s%s\n", commands[i].name, len < 8 ? 10 - len : 2, "", commands[i].help);
    }
}

static int
help_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "profiled: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
