/* server.h -- the public interface of server/: `profiled serve`. The rest
 * of server/ is internal: http/ (loops, routing, gate, answers), api/ (the
 * routes' handlers), jobs/ (job lifecycle, worker pool, writer) and ops/
 * (metrics, access log). Only server/ includes h2o.h. */
#ifndef PROFILED_SERVER_H
#define PROFILED_SERVER_H

/* Runs `profiled serve`. Returns the process exit code. */
int server_main(int argc, char **argv);

#endif
