/* schema.c -- the database schema as an ordered list of migration steps.
 * Step i brings PRAGMA user_version from i to i+1; storage_open applies the
 * missing ones in one transaction. Never edit a released step: append one. */
#include "../db/db.h"

static const char *const migrations[] = {
    /* 1: tenants, profiles and what hangs off them, tokens. */
    "CREATE TABLE tenants("
    "  id INTEGER PRIMARY KEY,"
    "  client TEXT NOT NULL,"
    "  account TEXT NOT NULL,"
    "  brand TEXT NOT NULL,"
    "  UNIQUE(client, account, brand));"

    "CREATE TABLE profiles("
    "  pk INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  uuid TEXT NOT NULL,"
    "  user_id TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  last_activity_ms INTEGER,"
    "  created_by TEXT NOT NULL,"
    "  merges INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(tenant_id, uuid));"
    /* The profile list walks this index: NULL (never active) sorts last. */
    "CREATE INDEX profiles_activity ON profiles(tenant_id, last_activity_ms DESC, pk DESC);"

    "CREATE TABLE identities("
    "  tenant_id INTEGER NOT NULL,"
    "  id_type INTEGER NOT NULL,"
    "  value TEXT NOT NULL,"
    "  profile_pk INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, id_type, value, profile_pk)) WITHOUT ROWID;"
    "CREATE INDEX identities_profile ON identities(profile_pk);"
    /* userId (0) and anonymousId (1) lead to one profile; emails may not. */
    "CREATE UNIQUE INDEX identities_single ON identities(tenant_id, id_type, value) WHERE id_type IN (0, 1);"

    "CREATE TABLE traits("
    "  profile_pk INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(profile_pk, key)) WITHOUT ROWID;"

    "CREATE TABLE events("
    "  pk INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  profile_pk INTEGER NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  event_time_ms INTEGER NOT NULL,"
    "  received_ms INTEGER NOT NULL,"
    "  event_action TEXT NOT NULL,"
    "  event_name TEXT,"
    "  type TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  raw TEXT NOT NULL,"
    "  event_key INTEGER NOT NULL);"
    /* messageIds are random: a unique index on their text would have each
     * new event dirty a random leaf, and rewrite most of a large index on
     * every commit. A 47-bit hash (event_key) makes a third of that index;
     * ingest checks event_id on a hash match, so duplicates stay exact. */
    "CREATE INDEX events_key ON events(tenant_id, event_key);"
    "CREATE INDEX events_profile_time ON events(profile_pk, event_time_ms, event_id);"

    /* First and last event per (profile, eventAction), ordered by
     * (event_time_ms, event_id), kept up to date by upserts. */
    "CREATE TABLE event_marks("
    "  profile_pk INTEGER NOT NULL,"
    "  event_action TEXT NOT NULL,"
    "  first_pk INTEGER NOT NULL,"
    "  first_time_ms INTEGER NOT NULL,"
    "  first_event_id TEXT NOT NULL,"
    "  last_pk INTEGER NOT NULL,"
    "  last_time_ms INTEGER NOT NULL,"
    "  last_event_id TEXT NOT NULL,"
    "  PRIMARY KEY(profile_pk, event_action)) WITHOUT ROWID;"

    "CREATE TABLE audience_members("
    "  profile_pk INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  is_static INTEGER NOT NULL,"
    "  added_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(profile_pk, is_static, name)) WITHOUT ROWID;"

    /* rowid order is creation order (storage_token_foreach). */
    "CREATE TABLE tokens("
    "  id TEXT PRIMARY KEY,"
    "  hash BLOB NOT NULL,"
    "  client TEXT NOT NULL,"
    "  account TEXT NOT NULL,"
    "  brand TEXT,"
    "  name TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  revoked_ms INTEGER,"
    "  rate REAL NOT NULL DEFAULT 0,"
    "  burst REAL NOT NULL DEFAULT 0);"

    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta(key, value) VALUES('token_generation', 0);"
    /* Triggers, not callers, bump the generation: any write to tokens, from
     * any process, is seen by pollers. */
    "CREATE TRIGGER tokens_gen_insert AFTER INSERT ON tokens BEGIN"
    "  UPDATE meta SET value = value + 1 WHERE key = 'token_generation'; END;"
    "CREATE TRIGGER tokens_gen_update AFTER UPDATE ON tokens BEGIN"
    "  UPDATE meta SET value = value + 1 WHERE key = 'token_generation'; END;"
    "CREATE TRIGGER tokens_gen_delete AFTER DELETE ON tokens BEGIN"
    "  UPDATE meta SET value = value + 1 WHERE key = 'token_generation'; END;",

    /* 2: scroll cursors of the events timeline. query is JSON: {"p": [profile
     * pks], "i"/"x": [lower-cased include/exclude keys] or null, "s"/"e":
     * start/end ms or null, "d": descending, "l": limit}. mark is the highest
     * event rowid when the scroll began; (pos_time_ms, pos_event_id) the last
     * event returned, NULL before the first. */
    "CREATE TABLE cursors("
    "  id TEXT PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  query TEXT NOT NULL,"
    "  mark INTEGER NOT NULL,"
    "  pos_time_ms INTEGER,"
    "  pos_event_id TEXT,"
    "  expires_ms INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX cursors_expiry ON cursors(expires_ms);",

    /* 3: computed traits and audiences. State rows are keyed by a
     * definition's key (a hash of what it computes) and carry how two
     * partial states combine (comb: 0 add, 1 min, 2 max, 3 first, 4 last),
     * so merges need no definitions. computed_state: all-time values (num
     * for count/sum/min/max; value, the JSON text, with the (time_ms,
     * event_id) of its event for first/last). computed_days: windowed
     * values per UTC day (day = floor(ms / 86400000)), summed over the
     * window when read. computed_freq: occurrences of each value (JSON
     * text) for most_frequent. */
    "CREATE TABLE computed_state("
    "  profile_pk INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  comb INTEGER NOT NULL,"
    "  num REAL,"
    "  value TEXT,"
    "  time_ms INTEGER,"
    "  event_id TEXT,"
    "  PRIMARY KEY(profile_pk, key)) WITHOUT ROWID;"
    "CREATE TABLE computed_days("
    "  profile_pk INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  day INTEGER NOT NULL,"
    "  comb INTEGER NOT NULL,"
    "  num REAL NOT NULL,"
    "  PRIMARY KEY(profile_pk, key, day)) WITHOUT ROWID;"
    "CREATE TABLE computed_freq("
    "  profile_pk INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  last_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(profile_pk, key, value)) WITHOUT ROWID;"
    /* Which keys of a tenant have complete state (ready = 1), or how far a
     * recompute has got (next_pk: profiles up to it are rebuilt). A write
     * transaction that stores events for the tenant without maintaining a
     * key deletes its row first, so a key is never taken as complete after
     * writes that skipped it; one that keeps every key of a tenant without
     * profiles marks them complete. */
    "CREATE TABLE computed_keys("
    "  tenant_id INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  ready INTEGER NOT NULL,"
    "  next_pk INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, key)) WITHOUT ROWID;"
    /* Static audiences are listed and removed by name. */
    "CREATE INDEX audience_members_name ON audience_members(name, is_static);",

    /* 4: a profile's events by time without the eventId: entries a third
     * the size, so a group commit of ingested events dirties a third of
     * the pages of this index (+30% ingest measured at 5k profiles). Event
     * pages still order ties by eventId: SQLite sorts just the runs of equal
     * times ("right part of ORDER BY"), from rows it reads anyway. Rebuilt
     * once, at the first start after an upgrade. */
    "DROP INDEX events_profile_time;"
    "CREATE INDEX events_profile_time ON events(profile_pk, event_time_ms);",

    /* 5: first/last marks without their eventIds (two thirds of each row):
     * the upsert reads them from the events on a tie in time. Fewer pages
     * per group commit again. */
    "CREATE TABLE event_marks_5("
    "  profile_pk INTEGER NOT NULL,"
    "  event_action TEXT NOT NULL,"
    "  first_pk INTEGER NOT NULL,"
    "  first_time_ms INTEGER NOT NULL,"
    "  last_pk INTEGER NOT NULL,"
    "  last_time_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(profile_pk, event_action)) WITHOUT ROWID;"
    "INSERT INTO event_marks_5 SELECT profile_pk, event_action, first_pk, first_time_ms, last_pk, last_time_ms FROM event_marks;"
    "DROP TABLE event_marks;"
    "ALTER TABLE event_marks_5 RENAME TO event_marks;",

    /* 6: what a token may do (STORAGE_PERM_* bits: 1 read, 2 ingest, 4
     * delete). Tokens from before could read and ingest, and still can. */
    "ALTER TABLE tokens ADD COLUMN permissions INTEGER NOT NULL DEFAULT 3;",
    /* 7: the suppression list of erasure (storage_profile_delete): the
     * userIds and anonymousIds of deleted profiles, which ingest refuses
     * from then on. id_type as in identities (0 userId, 1 anonymousId). */
    "CREATE TABLE suppressions("
    "  tenant_id INTEGER NOT NULL,"
    "  id_type INTEGER NOT NULL,"
    "  value TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, id_type, value)) WITHOUT ROWID;",
    /* 8: trait provenance and history. Each trait row names the message
     * that set it (message_id: NULL when it had none, or the row predates
     * this step; source as events.source) and what its last write replaced
     * (replaced_ms: the time of the value it changed, the smallest integer
     * for a new row, NULL when the value stayed). The upsert RETURNs it, so
     * ingest knows a change (and appends a trait_history row) without a
     * read of the old value.
     * trait_history: one row per change of a trait's stored value (an
     * identical value arriving appends none), in the transaction of the
     * write; merges move the rows, erasure deletes them, rows older than
     * --trait-history-days by ts_ms (the message's time) are swept. Traits
     * set before this step have no history. */
    "ALTER TABLE traits ADD COLUMN message_id TEXT;"
    "ALTER TABLE traits ADD COLUMN source TEXT;"
    "ALTER TABLE traits ADD COLUMN replaced_ms INTEGER;"
    "CREATE TABLE trait_history("
    "  pk INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  profile_pk INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  message_id TEXT,"
    "  source TEXT NOT NULL);"
    "CREATE INDEX trait_history_key ON trait_history(profile_pk, key, ts_ms);"
    "CREATE INDEX trait_history_time ON trait_history(ts_ms);",
    /* 9: sealed scrollIds (read/cursor.c). A scroll's state travels in its
     * scrollId, authenticated with this key (HMAC-SHA256), so a page writes
     * nothing: the cursor rows go. One row, 32 random bytes, written by
     * storage_open (OpenSSL's RAND_bytes) in the transaction of this step;
     * every process sharing the file reads the same key at open, so a
     * scroll continues after a restart and on another replica. */
    "DROP TABLE cursors;"
    "CREATE TABLE scroll_key("
    "  id INTEGER PRIMARY KEY CHECK(id = 1),"
    "  key BLOB NOT NULL CHECK(length(key) = 32));",
    /* 10: the two event indexes that every event dirtied a random page of
     * (by profile and time; by messageId hash) become tables of two levels
     * each. The server's writer adds an event's entries to the small hot
     * tables (storage_hot_events): a group commit rewrites their few hundred
     * pages whatever the number of profiles, instead of a page of a large
     * index per event. storage_events_compact moves them into the large
     * tables in chunks of adjoining keys, so each page of those is written
     * once for many events. An entry is in exactly one level; every query
     * reads both (UNION ALL, one arm per level). The import stores hot too;
     * other connections add straight into the large ones. ev_key leads with the hash so that a
     * compaction chunk is a range of it. Built once from the events, at the
     * first start after an upgrade. */
    "CREATE TABLE ev_prof("
    "  profile_pk INTEGER NOT NULL,"
    "  event_time_ms INTEGER NOT NULL,"
    "  pk INTEGER NOT NULL,"
    "  PRIMARY KEY(profile_pk, event_time_ms, pk)) WITHOUT ROWID;"
    "CREATE TABLE ev_prof_hot("
    "  profile_pk INTEGER NOT NULL,"
    "  event_time_ms INTEGER NOT NULL,"
    "  pk INTEGER NOT NULL,"
    "  PRIMARY KEY(profile_pk, event_time_ms, pk)) WITHOUT ROWID;"
    "CREATE TABLE ev_key("
    "  event_key INTEGER NOT NULL,"
    "  tenant_id INTEGER NOT NULL,"
    "  pk INTEGER NOT NULL,"
    "  PRIMARY KEY(event_key, tenant_id, pk)) WITHOUT ROWID;"
    "CREATE TABLE ev_key_hot("
    "  event_key INTEGER NOT NULL,"
    "  tenant_id INTEGER NOT NULL,"
    "  pk INTEGER NOT NULL,"
    "  PRIMARY KEY(event_key, tenant_id, pk)) WITHOUT ROWID;"
    "INSERT INTO ev_prof SELECT profile_pk, event_time_ms, pk FROM events ORDER BY 1, 2, 3;"
    "INSERT INTO ev_key SELECT event_key, tenant_id, pk FROM events ORDER BY 1, 2, 3;"
    "DROP INDEX events_profile_time;"
    "DROP INDEX events_key;",
    /* 11: first/last marks in two levels too (the next largest random write
     * of an event): the writer upserts a profile's marks into the small hot
     * table, a compaction round combines them into event_marks (the same
     * upsert as a merge), and the metadata view takes, per eventAction, the
     * earlier first and the later last of the two. */
    "CREATE TABLE event_marks_hot("
    "  profile_pk INTEGER NOT NULL,"
    "  event_action TEXT NOT NULL,"
    "  first_pk INTEGER NOT NULL,"
    "  first_time_ms INTEGER NOT NULL,"
    "  last_pk INTEGER NOT NULL,"
    "  last_time_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(profile_pk, event_action)) WITHOUT ROWID;",
    /* 12: a profile's two times, which nearly every message changes, in a
     * narrow table of their own: a group commit spread over many profiles
     * rewrote a page of the wide profile rows (uuid, userId, ...) a profile,
     * 16 KiB for 16 bytes; the narrow rows fit seven times as many a page.
     * profile_times has one row a profile, made and dropped with it by the
     * triggers; profile_rows shows both as the old row did (profiled copy
     * reads and writes it). */
    "CREATE TABLE profile_times("
    "  pk INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  last_activity_ms INTEGER);"
    "INSERT INTO profile_times SELECT pk, tenant_id, updated_ms, last_activity_ms FROM profiles ORDER BY pk;"
    /* The profile list walks this index: NULL (never active) sorts last. */
    "CREATE INDEX profile_times_activity ON profile_times(tenant_id, last_activity_ms DESC, pk DESC);"
    "DROP INDEX profiles_activity;"
    "ALTER TABLE profiles DROP COLUMN updated_ms;"
    "ALTER TABLE profiles DROP COLUMN last_activity_ms;"
    "CREATE TRIGGER profiles_times_add AFTER INSERT ON profiles BEGIN"
    "  INSERT INTO profile_times(pk, tenant_id, updated_ms) VALUES(new.pk, new.tenant_id, new.created_ms); END;"
    "CREATE TRIGGER profiles_times_drop AFTER DELETE ON profiles BEGIN"
    "  DELETE FROM profile_times WHERE pk = old.pk; END;"
    "CREATE VIEW profile_rows AS SELECT p.pk AS pk, p.tenant_id AS tenant_id, p.uuid AS uuid, p.user_id AS user_id,"
    "  p.created_ms AS created_ms, t.updated_ms AS updated_ms, t.last_activity_ms AS last_activity_ms,"
    "  p.created_by AS created_by, p.merges AS merges FROM profiles p CROSS JOIN profile_times t ON t.pk = p.pk;"
    "CREATE TRIGGER profile_rows_add INSTEAD OF INSERT ON profile_rows BEGIN"
    "  INSERT INTO profiles(pk, tenant_id, uuid, user_id, created_ms, created_by, merges)"
    "  VALUES(new.pk, new.tenant_id, new.uuid, new.user_id, new.created_ms, new.created_by, new.merges);"
    "  UPDATE profile_times SET updated_ms = new.updated_ms, last_activity_ms = new.last_activity_ms WHERE pk = new.pk; END;",
};

int
storage_schema_version(void)
{
    return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

const char *
stg_migration_sql(int version)
{
    if (version < 0 || version >= storage_schema_version())
        return NULL;
    return migrations[version];
}
