/* cli.h -- the profiled binary's internal interface: the offline
 * subcommands main.c dispatches to, and the one flag parser and the
 * helpers they share. Only cli/ includes it. */
#ifndef PROFILED_CLI_H
#define PROFILED_CLI_H

#include <stddef.h>

/* ---- subcommands: argv[0] is the first argument after the command name;
 * each returns the process's exit status (0 ok, 1 failed, 2 bad usage). */
int cli_import(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_migrate(int argc, char **argv);
int cli_copy(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_audience(int argc, char **argv);
int cli_definitions(int argc, char **argv);
int cli_profile(int argc, char **argv);
int cli_suppression(int argc, char **argv);

/* ---- flags ------------------------------------------------------------- */
typedef struct {
    const char *name; /* without "--" */
    const char **value;
} cli_flag_t;

enum {
    /* A positional argument beyond the room in pos replaces the last one
     * (the last given wins) instead of being an error. */
    CLI_POS_LAST = 1 << 0,
    /* A flag given last without its value is reported as an unknown
     * option rather than as one that needs a value. */
    CLI_MISSING_VALUE_UNKNOWN = 1 << 1,
};

/* Parses --name VALUE / --name=VALUE flags of the table into their values
 * (the last given wins); other arguments ("-" among them) go to pos, at
 * most *npos of them, and *npos becomes their count. cmd names the command
 * in messages ("profiled <cmd>: ..."); opts is CLI_* bits. Returns 0, or -1
 * after printing the problem to stderr. The values point into argv. */
int cli_parse_flags(int argc, char **argv, const char *cmd, const cli_flag_t *flags, size_t nflags, const char **pos, size_t *npos,
                    unsigned opts);

/* The environment variable's value, or def when it is unset or empty. */
const char *cli_env_or(const char *name, const char *def);

/* 0 when value is set and not empty; else -1 after printing
 * "profiled <cmd>: --<flag> is required". */
int cli_need(const char *value, const char *flag, const char *cmd);

/* 1 when the argument asks for help (--help or -h). */
int cli_is_help(const char *arg);

#endif
