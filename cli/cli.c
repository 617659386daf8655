/* cli.c -- the offline subcommands: `profiled import` (NDJSON into a
 * database), `profiled check` (is the file damaged?) and `profiled token
 * create|list|revoke`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "base.h"
#include "cli.h"
#include "definitions.h"
#include "storage.h"

int
cli_import(int argc, char **argv)
{
    const char *db = cli_env_or("PROFILED_DB", "./profiled.db"), *client = NULL, *account = NULL, *brand = NULL;
    const char *definitions = cli_env_or("PROFILED_DEFINITIONS", NULL);
    const char *id_limits = cli_env_or("PROFILED_ID_LIMITS", STORAGE_ID_LIMITS_DEFAULT);
    const char *history_days = cli_env_or("PROFILED_TRAIT_HISTORY_DAYS", "90");
    const cli_flag_t flags[] = {{"db", &db},
                                {"client", &client},
                                {"account", &account},
                                {"brand", &brand},
                                {"definitions", &definitions},
                                {"id-limits", &id_limits},
                                {"trait-history-days", &history_days}};
    const char *pos[1] = {NULL};
    size_t npos = 1;
    if (argc > 0 && cli_is_help(argv[0])) {
        printf("usage: profiled import --db PATH --client C --account A --brand B [--definitions FILE]\n"
               "                       [--id-limits userId=1,...] [--trait-history-days N] [FILE|-]\n"
               "Loads Segment-spec messages, one JSON object per line, into the tenant's profiles.\n"
               "--id-limits (PROFILED_ID_LIMITS) as for serve: give both the same.\n"
               "--trait-history-days (PROFILED_TRAIT_HISTORY_DAYS) as for serve: 0 records no trait history.\n"
               "Rejected lines are reported with their line number; the exit status is 1 if any was.\n"
               "With the server's --definitions, computed traits are kept up to date during the import\n"
               "(without, the server recomputes that tenant when it next starts or reloads).\n");
        return 0;
    }
    if (cli_parse_flags(argc, argv, "import", flags, sizeof(flags) / sizeof(flags[0]), pos, &npos, 0) != 0 ||
        cli_need(client, "client", "import") != 0 || cli_need(account, "account", "import") != 0 ||
        cli_need(brand, "brand", "import") != 0)
        return 2;
    char err[512];
    int code = 2;
    FILE *in = stdin;
    storage_t *st = NULL;
    definitions_t *defs = NULL;
    storage_id_limits_t limits;
    if (storage_id_limits_parse(id_limits, &limits, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled import: invalid --id-limits %s\n", err);
        goto done;
    }
    char *end;
    long days = strtol(history_days, &end, 10);
    if (*history_days == '\0' || *end != '\0' || days < 0 || days > 36500) {
        fprintf(stderr, "profiled import: invalid --trait-history-days %s: expected 0..36500\n", history_days);
        goto done;
    }
    if (definitions != NULL && definitions_load(definitions, &defs, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled import: invalid definitions: %s\n", err);
        goto done;
    }
    if (npos == 1 && strcmp(pos[0], "-") != 0 && (in = fopen(pos[0], "r")) == NULL) {
        fprintf(stderr, "profiled import: cannot open %s: %s\n", pos[0], strerror(errno));
        goto done;
    }
    code = 1;
    if (storage_open(&st, db, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled import: %s\n", err);
        goto done;
    }
    storage_use_definitions(st, defs);
    storage_set_id_limits(st, &limits);
    storage_set_trait_history(st, (int)days);
    storage_tenant_t tenant = storage_tenant(client, account, brand);
    uint64_t imported = 0, rejected = 0;
    int rv = storage_import_ndjson(st, &tenant, in, stderr, stderr, base_wall_ms(), &imported, &rejected);
    if (rv == STORAGE_EIO || rv == STORAGE_EBUSY || rv == STORAGE_EFULL || rv == STORAGE_EDOWN)
        fprintf(stderr, "profiled import: %s\n", storage_errmsg(st));
    fprintf(stderr, "profiled import: %llu imported, %llu rejected\n", (unsigned long long)imported, (unsigned long long)rejected);
    code = rv == 0 ? 0 : 1;
done:
    storage_close(st);
    definitions_free(defs);
    if (in != stdin && in != NULL)
        fclose(in);
    return code;
}

int
cli_check(int argc, char **argv)
{
    const char *db = cli_env_or("PROFILED_DB", "./profiled.db");
    const cli_flag_t flags[] = {{"db", &db}};
    size_t npos = 0;
    if (argc > 0 && cli_is_help(argv[0])) {
        printf("usage: profiled check --db PATH|URL\n"
               "Checks a database without changing it. A SQLite file: SQLite's integrity check of every\n"
               "page and index, then that every identity, trait, event and first/last mark has its profile.\n"
               "PostgreSQL: the same rows, then each index against its table with amcheck when the\n"
               "database has that extension. Prints each problem found; the exit status is 0 when there\n"
               "is none, 1 on damage, 2 when the file is missing or the server cannot be reached.\n"
               "Run it on a stopped server's file, or on a copy.\n");
        return 0;
    }
    if (cli_parse_flags(argc, argv, "check", flags, 1, NULL, &npos, 0) != 0 || cli_need(db, "db", "check") != 0)
        return 2;
    char shown[1024];
    const char *name = storage_path_shown(db, shown, sizeof(shown)); /* a URL's password hidden */
    if (!storage_is_url(db) && access(db, F_OK) != 0) {
        fprintf(stderr, "profiled check: %s: %s\n", db, strerror(errno));
        return 2;
    }
    uint64_t problems = 0;
    int rv = storage_check(db, stdout, &problems);
    if (rv == 0 && problems == 0) {
        printf("%s: ok\n", name);
        return 0;
    }
    if (rv == STORAGE_EDOWN) {
        fprintf(stderr, "profiled check: %s: not reached\n", name);
        return 2;
    }
    fprintf(stderr, "profiled check: %s is damaged: %llu problem%s (stop the server, restore a backup)\n", name,
            (unsigned long long)problems, problems == 1 ? "" : "s");
    return 1;
}

int
cli_migrate(int argc, char **argv)
{
    const char *db = cli_env_or("PROFILED_DB", "./profiled.db");
    const cli_flag_t flags[] = {{"db", &db}};
    size_t npos = 0;
    if (argc > 0 && cli_is_help(argv[0])) {
        printf("usage: profiled migrate --db PATH|URL\n"
               "Brings the database's schema up to this build's and exits (a SQLite file is made when\n"
               "missing). Every subcommand does this when it opens a database read-write; run it alone\n"
               "before replicas start (a Kubernetes Job or init container). On PostgreSQL the steps run\n"
               "under an advisory lock: replicas that start together migrate once.\n");
        return 0;
    }
    if (cli_parse_flags(argc, argv, "migrate", flags, 1, NULL, &npos, 0) != 0 || cli_need(db, "db", "migrate") != 0)
        return 2;
    storage_t *st = NULL;
    char err[512];
    if (storage_open(&st, db, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled migrate: %s\n", err);
        return 1;
    }
    storage_close(st);
    printf("profiled migrate: the schema is current\n");
    return 0;
}

static int
token_create(int argc, char **argv, const char *pepper)
{
    const char *db = cli_env_or("PROFILED_DB", "./profiled.db"), *client = NULL, *account = NULL, *brand = NULL, *name = NULL;
    const char *rate_s = NULL, *burst_s = NULL, *perms_s = "read,ingest";
    const cli_flag_t flags[] = {{"db", &db},     {"client", &client}, {"account", &account}, {"brand", &brand},
                                {"name", &name}, {"rate", &rate_s},   {"burst", &burst_s},   {"permissions", &perms_s}};
    size_t npos = 0;
    if (cli_parse_flags(argc, argv, "token create", flags, sizeof(flags) / sizeof(flags[0]), NULL, &npos, 0) != 0 ||
        cli_need(client, "client", "token create") != 0 || cli_need(account, "account", "token create") != 0)
        return 2;
    double rate = 0, burst = 0;
    char *end;
    if (rate_s != NULL && ((rate = strtod(rate_s, &end)) <= 0 || *end != '\0')) {
        fprintf(stderr, "profiled token create: invalid --rate '%s': expected a positive number\n", rate_s);
        return 2;
    }
    if (burst_s != NULL && ((burst = strtod(burst_s, &end)) < 1 || *end != '\0' || burst > 1e9)) {
        fprintf(stderr, "profiled token create: invalid --burst '%s': expected a whole number >= 1\n", burst_s);
        return 2;
    }
    unsigned perms;
    const char *bad = NULL;
    size_t bad_len = 0;
    if (auth_perms_parse(perms_s, &perms, &bad, &bad_len) != AUTH_OK) {
        fprintf(stderr,
                "profiled token create: invalid --permissions '%s': unknown permission '%.*s' (expected a comma list of read, "
                "ingest, delete)\n",
                perms_s, (int)bad_len, bad);
        return 2;
    }
    storage_t *st = NULL;
    char err[512], secret[AUTH_TOKEN_LEN + 1];
    if (storage_open(&st, db, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled token create: %s\n", err);
        return 1;
    }
    int rv = auth_token_create_perms(st, pepper, client, account, brand != NULL && brand[0] != '\0' ? brand : NULL, name, rate,
                                     burst, perms, base_wall_ms(), secret, sizeof(secret));
    if (rv != AUTH_OK)
        fprintf(stderr, "profiled token create: %s\n", storage_errmsg(st));
    else
        printf("%s\n", secret);
    storage_close(st);
    return rv == AUTH_OK ? 0 : 1;
}

static int
token_list_or_revoke(int argc, char **argv, int revoke)
{
    const char *db = cli_env_or("PROFILED_DB", "./profiled.db");
    const cli_flag_t flags[] = {{"db", &db}};
    const char *pos[1] = {NULL};
    size_t npos = revoke ? 1 : 0;
    const char *cmd = revoke ? "token revoke" : "token list";
    if (cli_parse_flags(argc, argv, cmd, flags, 1, pos, &npos, 0) != 0)
        return 2;
    if (revoke && npos != 1) {
        fprintf(stderr, "profiled token revoke: give the token id (see profiled token list)\n");
        return 2;
    }
    storage_t *st = NULL;
    char err[512];
    if (storage_open(&st, db, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled %s: %s\n", cmd, err);
        return 1;
    }
    int rv = revoke ? auth_token_revoke(st, pos[0], base_wall_ms()) : auth_token_list(st, stdout);
    if (rv == AUTH_ENOTFOUND)
        fprintf(stderr, "profiled token revoke: no live token with id '%s'\n", pos[0]);
    else if (rv != AUTH_OK)
        fprintf(stderr, "profiled %s: %s\n", cmd, storage_errmsg(st));
    else if (revoke)
        fprintf(stderr, "profiled token revoke: revoked %s\n", pos[0]);
    storage_close(st);
    return rv == AUTH_OK ? 0 : 1;
}

int
cli_token(int argc, char **argv)
{
    const char *pepper = cli_env_or("PROFILED_TOKEN_PEPPER", "");
    if (argc >= 1 && strcmp(argv[0], "create") == 0)
        return token_create(argc - 1, argv + 1, pepper);
    if (argc >= 1 && strcmp(argv[0], "list") == 0)
        return token_list_or_revoke(argc - 1, argv + 1, 0);
    if (argc >= 1 && strcmp(argv[0], "revoke") == 0)
        return token_list_or_revoke(argc - 1, argv + 1, 1);
    fprintf(argc >= 1 && strcmp(argv[0], "--help") == 0 ? stdout : stderr,
            "usage: profiled token create --db PATH --client C --account A [--brand B] [--name NAME] [--rate R] [--burst B]\n"
            "                              [--permissions read,ingest,delete]   (default read,ingest)\n"
            "       profiled token list --db PATH\n"
            "       profiled token revoke --db PATH ID\n"
            "The pepper (HMAC key for token hashes) comes from PROFILED_TOKEN_PEPPER.\n");
    return argc >= 1 && strcmp(argv[0], "--help") == 0 ? 0 : 2;
}
