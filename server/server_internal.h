/* server_internal.h -- internal to the root of server/: what server.c (startup, loop
 * threads, background threads, wiring) and definitions.c (the definitions
 * reload and recompute) give each other. Includes the subfolders they
 * wire together; no subfolder includes this. */
#ifndef PROFILED_SERVER_SERVE_H
#define PROFILED_SERVER_SERVE_H

#include "api/api.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "ops/ops.h"

/* The connection of a background thread (NULL, logged, when the database
 * cannot be opened). server.c. */
storage_t *side_connection(server_t *srv, const char *who);

/* ---- computed traits and audiences (definitions.c) ------------------------ */
/* Loads --definitions at start (none when unset); -1 with a message. */
int defs_init(server_t *srv);
/* SIGHUP: loads the file again; a bad file is refused and logged; the
 * writer is woken to adopt the new set. */
void defs_reload(server_t *srv);
/* Frees replaced definitions nothing can still be using. */
void defs_housekeeping(server_t *srv);
/* The background recompute thread. */
void *recompute_main(void *arg);

#endif
