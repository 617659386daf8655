/* erase.c -- `profiled profile delete` (erasure of one profile and
 * everything of it, its ids suppressed) and `profiled suppression
 * list|remove` (the tenant's suppression list), on a database file. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "base.h"
#include "cli.h"
#include "storage.h"

typedef struct {
    const char *db, *client, *account, *brand;
    const char *id; /* idType:id; NULL: none given */
} erase_args_t;

static void
profile_usage(FILE *out)
{
    fprintf(out, "usage: profiled profile delete --db PATH --client C --account A --brand B idType:id\n"
                 "Deletes the profile the id (userId, anonymousId or id) leads to and everything of it: events,\n"
                 "traits, ids, first/last events, computed state, audience memberships, open scrolls. Its userIds\n"
                 "and anonymousIds go on the tenant's suppression list: later messages carrying one are\n"
                 "acknowledged and not stored. An email may name several profiles: delete by one of their ids.\n"
                 "Exit 0 when deleted, 1 when there is no such profile or it failed, 2 on bad usage.\n");
}

static void
suppression_usage(FILE *out)
{
    fprintf(out, "usage: profiled suppression list --db PATH --client C --account A --brand B\n"
                 "       profiled suppression remove --db PATH --client C --account A --brand B idType:id\n"
                 "list prints the tenant's suppressed ids (idType:id and when, one a line); remove takes one\n"
                 "(userId or anonymousId) off the list, so new messages with it are stored again.\n");
}

/* The flags and at most one idType:id; need_id: it is required (else
 * refused). -1 with a message on a bad argument. */
static int
parse_args(int argc, char **argv, const char *cmd, bool need_id, erase_args_t *a)
{
    const cli_flag_t flags[] = {{"db", &a->db}, {"client", &a->client}, {"account", &a->account}, {"brand", &a->brand}};
    size_t npos = 1;
    if (cli_parse_flags(argc, argv, cmd, flags, sizeof(flags) / sizeof(flags[0]), &a->id, &npos, 0) != 0 ||
        cli_need(a->client, "client", cmd) != 0 || cli_need(a->account, "account", cmd) != 0 ||
        cli_need(a->brand, "brand", cmd) != 0)
        return -1;
    if (need_id && a->id == NULL) {
        fprintf(stderr, "profiled %s: give the profile as idType:id (e.g. userId:joe.bloggs)\n", cmd);
        return -1;
    }
    if (!need_id && a->id != NULL) {
        fprintf(stderr, "profiled %s: unexpected argument '%s'\n", cmd, a->id);
        return -1;
    }
    return 0;
}

/* Splits "idType:id". -1 with a message when malformed. */
static int
parse_id(const char *cmd, const char *text, storage_id_type_t *type, const char **id)
{
    const char *colon = strchr(text, ':');
    if (colon != NULL && colon != text && colon[1] != '\0' && storage_id_type_parse(text, (size_t)(colon - text), type) == 0) {
        *id = colon + 1;
        return 0;
    }
    fprintf(stderr, "profiled %s: '%s' is not idType:id (idType userId, anonymousId, email or id)\n", cmd, text);
    return -1;
}

static storage_t *
open_db(const char *cmd, const char *path)
{
    storage_t *st = NULL;
    char err[512];
    if (storage_open(&st, path, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled %s: %s\n", cmd, err);
        return NULL;
    }
    return st;
}

int
cli_profile(int argc, char **argv)
{
    const char *sub = argc >= 1 ? argv[0] : "";
    if (argc >= 1 && cli_is_help(sub)) {
        profile_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "delete") != 0) {
        profile_usage(stderr);
        return 2;
    }
    const char *cmd = "profile delete", *id;
    erase_args_t a = {.db = cli_env_or("PROFILED_DB", "./profiled.db")};
    storage_id_type_t type;
    if (parse_args(argc - 1, argv + 1, cmd, true, &a) != 0 || parse_id(cmd, a.id, &type, &id) != 0)
        return 2;
    if (type == STORAGE_ID_EMAIL) {
        fprintf(stderr, "profiled %s: an email may name several profiles: delete by userId, anonymousId or id\n", cmd);
        return 2;
    }
    storage_t *st = open_db(cmd, a.db);
    if (st == NULL)
        return 1;
    storage_tenant_t tenant = storage_tenant(a.client, a.account, a.brand);
    char err[512] = "";
    int rv = storage_profile_delete(st, &tenant, type, id, strlen(id), base_wall_ms(), err, sizeof(err));
    if (rv == 0)
        fprintf(stderr, "profiled %s: deleted the profile of %s; its userIds and anonymousIds are suppressed\n", cmd, a.id);
    else if (rv == STORAGE_ENOTFOUND)
        fprintf(stderr, "profiled %s: no profile with %s\n", cmd, a.id);
    else
        fprintf(stderr, "profiled %s: %s\n", cmd, err);
    storage_close(st);
    return rv == 0 ? 0 : 1;
}

static int
print_suppressed(void *ctx, storage_id_type_t type, const char *value, size_t len, int64_t created_ms)
{
    (void)ctx;
    char when[32];
    base_format_time(created_ms, when);
    printf("%s:%.*s\t%s\n", storage_id_type_name(type), (int)len, value, when);
    return 0;
}

int
cli_suppression(int argc, char **argv)
{
    const char *sub = argc >= 1 ? argv[0] : "";
    if (argc >= 1 && cli_is_help(sub)) {
        suppression_usage(stdout);
        return 0;
    }
    bool list = strcmp(sub, "list") == 0;
    if (!list && strcmp(sub, "remove") != 0) {
        suppression_usage(stderr);
        return 2;
    }
    const char *cmd = list ? "suppression list" : "suppression remove", *id = NULL;
    erase_args_t a = {.db = cli_env_or("PROFILED_DB", "./profiled.db")};
    storage_id_type_t type = STORAGE_ID_USER;
    if (parse_args(argc - 1, argv + 1, cmd, !list, &a) != 0 || (!list && parse_id(cmd, a.id, &type, &id) != 0))
        return 2;
    if (!list && type != STORAGE_ID_USER && type != STORAGE_ID_ANONYMOUS) {
        fprintf(stderr, "profiled %s: only userIds and anonymousIds are suppressed\n", cmd);
        return 2;
    }
    storage_t *st = open_db(cmd, a.db);
    if (st == NULL)
        return 1;
    storage_tenant_t tenant = storage_tenant(a.client, a.account, a.brand);
    int rv;
    if (list) {
        if ((rv = storage_suppression_list(st, &tenant, print_suppressed, NULL)) != 0)
            fprintf(stderr, "profiled %s: %s\n", cmd, storage_errmsg(st));
    } else {
        rv = storage_suppression_remove(st, &tenant, type, id, strlen(id));
        if (rv == 0)
            fprintf(stderr, "profiled %s: removed %s: new messages with it are stored again\n", cmd, a.id);
        else if (rv == STORAGE_ENOTFOUND)
            fprintf(stderr, "profiled %s: %s is not on the suppression list\n", cmd, a.id);
        else
            fprintf(stderr, "profiled %s: %s\n", cmd, storage_errmsg(st));
    }
    storage_close(st);
    return rv == 0 ? 0 : 1;
}
