/* copy.c -- `profiled copy --from SRC --to DST`: a whole database, every
 * tenant, into a new one of either backend (a SQLite file or a PostgreSQL
 * URL each), for a move between them (storage_copy). */
#include <stdint.h>
#include <stdio.h>
#include "base.h"
#include "cli.h"
#include "storage.h"

int
cli_copy(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    const cli_flag_t flags[] = {{"from", &from}, {"to", &to}};
    size_t npos = 0;
    if (argc > 0 && cli_is_help(argv[0])) {
        printf("usage: profiled copy --from PATH|URL --to PATH|URL\n"
               "Copies a whole database, every tenant, into a new one: SQLite to PostgreSQL, PostgreSQL to\n"
               "SQLite (or alike). The target is made or migrated first and must hold no rows (no tenant,\n"
               "profile, token, event...): copy refuses it otherwise. Ids, tokens and the scrollId key are\n"
               "kept, so tokens and scrollIds of the source work on the copy. The source is read as one\n"
               "snapshot and the target written in one transaction (nothing is kept when it fails); stop\n"
               "the writers of the source first, or what they write after the snapshot is not copied.\n"
               "Progress per table goes to stderr.\n");
        return 0;
    }
    if (cli_parse_flags(argc, argv, "copy", flags, sizeof(flags) / sizeof(flags[0]), NULL, &npos, 0) != 0 ||
        cli_need(from, "from", "copy") != 0 || cli_need(to, "to", "copy") != 0)
        return 2;
    char err[512], shown_from[512], shown_to[512];
    const char *sf = storage_path_shown(from, shown_from, sizeof(shown_from));
    const char *stt = storage_path_shown(to, shown_to, sizeof(shown_to));
    storage_t *src = NULL, *dst = NULL;
    int code = 1;
    if (storage_open(&src, from, STORAGE_READONLY, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled copy: %s: %s\n", sf, err);
        goto done;
    }
    if (storage_open(&dst, to, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled copy: %s: %s\n", stt, err);
        goto done;
    }
    int64_t t0 = base_clock_ns(0);
    uint64_t rows = 0;
    if (storage_copy(src, dst, stderr, &rows, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled copy: %s (nothing written to %s)\n", err, stt);
        goto done;
    }
    fprintf(stderr, "profiled copy: %llu rows copied from %s to %s in %.1f s\n", (unsigned long long)rows, sf, stt,
            (double)(base_clock_ns(0) - t0) / 1e9);
    code = 0;
done:
    storage_close(src);
    storage_close(dst);
    return code;
}
