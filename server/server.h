/* server.h -- the public interface of server/: `profiled serve`. The rest
 * of server/ is internal: http/ (loops, routing, gate, answers), api/ (the
 * routes' handlers), jobs/ (job lifecycle, worker pool, writer) and ops/
 * (metrics, access log). Only server/ and cli/ include h2o.h. */
#ifndef PROFILED_SERVER_H
#define PROFILED_SERVER_H

/* Runs `profiled serve`. Returns the process exit code. */
int server_main(int argc, char **argv);

/* TRANSITIONAL, for cli/ until its own cli/cli.h declares its subcommands
 * (issue 15, the cli part): delete this block when that lands. */
#include <stdint.h>
#include "auth.h"
#include "storage.h"
int cli_import(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_audience(int argc, char **argv);
int cli_definitions(int argc, char **argv);

#endif
