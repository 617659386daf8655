/* pgsql.c -- the PostgreSQL backend's SQL: the text of every statement of
 * enum stmt_id (the same ids as stmts.c, the same meaning), and the schema
 * as an ordered list of migration steps.
 *
 * Where the two differ, and why:
 * - Events are indexed on the events table itself (by profile and time, by
 *   messageId hash): PostgreSQL's heap takes new rows at its end and its
 *   indexes are what they are, so the two-level entry tables of SQLite's
 *   schema step 10 and 11 have nothing to save here. Their statements are
 *   NULL: the backend answers them at once with no row and no round trip.
 * - Text is compared and ordered byte by byte (COLLATE "C"), as SQLite's
 *   BINARY collation does, whatever the database's locale; lower() is
 *   ASCII-only under "C", as SQLite's is.
 * - An events page is ordered by (time, eventId) and limited in SQL: the
 *   whole result of a query crosses the wire at once, so it must be only the
 *   page (SQLite is stepped only as far as the page needs).
 * - Inserts whose row id the caller asks for (stg_last_id) return it
 *   (stg_pg_returns_id); the backend reads it and reports no row.
 * - Parameters are $n; where the statement alone cannot tell a parameter's
 *   type (IS NULL, a SELECT list), it is cast.
 * - A statement both spell alike but for the placeholders is SAME.
 *
 * Keys: every table is keyed by tenant_id (tenants, identities, events,
 * suppressions, computed_keys, trait_history) or by profile_pk (the rows of
 * a profile), so each can be hash-partitioned by that column later
 * (docs/ARCHITECTURE.md, "PostgreSQL"). */
#include "../db/db.h"

#define C " COLLATE \"C\""

/* SQLite's two-argument min/max: NULL when either is. */
#define PG_MIN(a, b) "(CASE WHEN " a " IS NULL OR " b " IS NULL THEN NULL ELSE LEAST(" a ", " b ") END)"
#define PG_MAX(a, b) "(CASE WHEN " a " IS NULL OR " b " IS NULL THEN NULL ELSE GREATEST(" a ", " b ") END)"

/* The marks upsert (db.h), eventIds compared byte by byte. */
#define MARKS_MERGE STG_MARKS_MERGE_INTO("event_marks", C)
#define MARK_COLS STG_MARK_COLS

/* A row a scroll's snapshot saw committed, or that the transaction which
 * took the snapshot wrote itself (schema step 2). snap: "SNAPSHOT/XID",
 * pg_snapshot's text and the taker's own transaction (0: none), as
 * MARK_SNAP makes it; NULL: a scroll begun on SQLite, whose mark alone
 * decides. */
#define SNAP_SEES(xid, snap)                                                                                                       \
    "(" snap "::text IS NULL OR pg_visible_in_snapshot(" xid ", split_part(" snap "::text, '/', 1)::pg_snapshot)"                  \
    " OR " xid " = split_part(" snap "::text, '/', 2)::xid8)"
#define MARK_SNAP "pg_current_snapshot()::text || '/' || coalesce(pg_current_xact_id_if_assigned(), '0')::text"

/* An events page from one profile: $1 profile, $2/$3 start/end, $4 the
 * snapshot mark, $5 limit, $6/$7 include/exclude (JSON arrays of
 * lower-cased keys, NULL: no filter), $8/$9 the position, $10 the mark's
 * snapshot. */
#define EVENTS_SELECT                                                                                                              \
    "SELECT e.event_id, e.event_time_ms, e.received_ms, e.event_action, e.source, e.raw FROM events e"                             \
    " WHERE e.profile_pk = $1 AND e.pk <= $4 AND " SNAP_SEES("e.ins_xid", "$10")
#define EVENT_KEY_IN(p)                                                                                                            \
    "(coalesce(lower(e.event_name" C "), '') IN (SELECT jsonb_array_elements_text(" p "::jsonb))"                                  \
    " OR lower(e.event_action" C ") IN (SELECT jsonb_array_elements_text(" p "::jsonb))"                                           \
    " OR e.type IN (SELECT jsonb_array_elements_text(" p "::jsonb)))"
#define EVENTS_FILTER " AND ($6::text IS NULL OR " EVENT_KEY_IN("$6") ") AND ($7::text IS NULL OR NOT " EVENT_KEY_IN("$7") ")"
#define EVENTS_ASC " ORDER BY e.event_time_ms, e.event_id" C " LIMIT $5"
#define EVENTS_DESC " ORDER BY e.event_time_ms DESC, e.event_id" C " DESC LIMIT $5"

#define COMP_REPLACES                                                                                                              \
    "((computed_state.comb = 3 AND (excluded.time_ms, excluded.event_id" C                                                         \
    ") < (computed_state.time_ms, computed_state.event_id" C "))"                                                                  \
    " OR (computed_state.comb = 4 AND (excluded.time_ms, excluded.event_id" C ") > (computed_state.time_ms,"                       \
    " computed_state.event_id" C ")))"
#define COMP_MERGE                                                                                                                 \
    " ON CONFLICT(profile_pk, key) DO UPDATE SET"                                                                                  \
    "  num = CASE computed_state.comb WHEN 0 THEN computed_state.num + excluded.num"                                               \
    "   WHEN 1 THEN " PG_MIN("computed_state.num", "excluded.num") " WHEN 2 THEN " PG_MAX(                                         \
        "computed_state.num", "excluded.num") " ELSE computed_state.num END,"                                                      \
                                              "  value = CASE WHEN " COMP_REPLACES " THEN excluded.value ELSE "                    \
                                              "computed_state.value END,"                                                          \
                                              "  time_ms = CASE WHEN " COMP_REPLACES " THEN excluded.time_ms ELSE "                \
                                              "computed_state.time_ms END,"                                                        \
                                              "  event_id = CASE WHEN " COMP_REPLACES " THEN excluded.event_id "                   \
                                              "ELSE computed_state.event_id END"
#define COMP_DAYS_MERGE                                                                                                            \
    " ON CONFLICT(profile_pk, key, day) DO UPDATE SET"                                                                             \
    "  num = CASE computed_days.comb WHEN 0 THEN computed_days.num + excluded.num"                                                 \
    "   WHEN 1 THEN " PG_MIN("computed_days.num", "excluded.num") " ELSE " PG_MAX("computed_days.num", "excluded.num") " END"
#define COMP_FREQ_MERGE                                                                                                            \
    " ON CONFLICT(profile_pk, key, value) DO UPDATE SET count = computed_freq.count + excluded.count,"                             \
    "  last_ms = " PG_MAX("computed_freq.last_ms", "excluded.last_ms")
#define COMP_CLEAR_WHERE                                                                                                           \
    " WHERE profile_pk = $1 AND (key IN (SELECT jsonb_array_elements_text($2::jsonb))"                                             \
    " OR key NOT IN (SELECT jsonb_array_elements_text($3::jsonb)))"

#define PROFILE_COLS "p.pk, p.uuid, p.user_id, p.created_ms, p.updated_ms, p.last_activity_ms, p.created_by"
#define TRAIT_COLS "t.key, t.value, t.ts_ms, t.message_id, t.source"

/* SAME: SQLite's text (stmts.c) with ?n spelt $n: the statement is plain
 * SQL both understand alike. */
const char stg_pg_same[] = "";
#define SAME stg_pg_same
#define VIEW_MARKS                                                                                                                 \
    "SELECT m.event_action, e.event_id, e.event_time_ms, e.received_ms, e.type, e.raw"                                             \
    " FROM event_marks m JOIN events e ON e.pk = (CASE WHEN $2::bigint <> 0 THEN m.last_pk ELSE m.first_pk END)"                   \
    " WHERE m.profile_pk = $1 ORDER BY m.event_action" C

const char *const stg_pg_sql[S_COUNT] = {
    /* transactions are run by the backend itself (pg.c) */
    [S_BEGIN] = "BEGIN ISOLATION LEVEL REPEATABLE READ",
    [S_BEGIN_IMMEDIATE] = "BEGIN",
    [S_COMMIT] = SAME,
    [S_ROLLBACK] = SAME,
    /* the identity cache's validity is the backend's (pg.c): constant */
    [S_DATA_VERSION] = "SELECT 0",
    [S_PAGE_SIZE] = "SELECT current_setting('block_size')::bigint",

    [S_TENANT_GET] = SAME,
    [S_TENANT_ADD] = "INSERT INTO tenants(client, account, brand) VALUES($1, $2, $3) RETURNING id",

    [S_IDENTITY_GET] = SAME,
    [S_IDENTITY_ADD] = SAME,
    [S_EMAIL_CANDIDATES] = "SELECT p.pk, (p.user_id IS NOT NULL)::int FROM identities i JOIN profiles p ON p.pk = i.profile_pk"
                           " WHERE i.tenant_id = $1 AND i.id_type = 2 AND i.value = $2 AND p.tenant_id = $1"
                           " ORDER BY p.last_activity_ms DESC NULLS LAST, p.pk DESC",
    [S_EMAIL_RECENT] = "SELECT p.pk, (p.user_id IS NOT NULL)::int FROM (SELECT profile_pk FROM identities"
                       " WHERE tenant_id = $1 AND id_type = 2 AND value = $2 ORDER BY profile_pk DESC LIMIT $3) i"
                       " JOIN profiles p ON p.pk = i.profile_pk"
                       " WHERE p.tenant_id = $1 ORDER BY p.last_activity_ms DESC NULLS LAST, p.pk DESC",
    [S_IDENTITY_COUNT] = "SELECT count(*) FROM (SELECT DISTINCT value FROM identities"
                         " WHERE profile_pk IN ($1, $2) AND tenant_id = $3 AND id_type = $4 LIMIT $5) d",
    [S_IDENTITY_HAS] = SAME,

    [S_PROFILE_ADD] = "INSERT INTO profiles(tenant_id, uuid, user_id, created_ms, updated_ms, created_by)"
                      " VALUES($1, $2, $3, $4, $4, $5) RETURNING pk",
    /* one row holds both times (SQLite: profile_times, schema step 12) */
    [S_PROFILE_TOUCH] = "UPDATE profiles SET updated_ms = $2, user_id = COALESCE($3, user_id) WHERE pk = $1",
    [S_PROFILE_TOUCH_EVENT] = NULL, /* S_PROFILE_TOUCH then S_PROFILE_ACTIVITY */
    [S_PROFILE_USER_ID] = NULL,     /* in S_PROFILE_TOUCH */
    /* apart, and only when later: a row whose indexed columns stay keeps
     * its index entries (a heap-only update) */
    [S_PROFILE_ACTIVITY] = "UPDATE profiles SET last_activity_ms = $2"
                           " WHERE pk = $1 AND (last_activity_ms IS NULL OR last_activity_ms < $2)",
    [S_PROFILE_AGE] = SAME,

    [S_TRAIT_STORED] = SAME,
    [S_TRAIT_PUT] = SAME,
    [S_HISTORY_ADD] = SAME,

    [S_EVENT_EXISTS] = "SELECT 1 FROM events WHERE event_key = $2 AND tenant_id = $1 AND event_id = $3",
    [S_EVENT_ADD] = "INSERT INTO events(tenant_id, profile_pk, event_id, event_time_ms, received_ms, event_action,"
                    " event_name, type, source, raw, event_key) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING pk",
    /* one level: the events table's own indexes (see the top) */
    [S_EVENT_INDEX] = NULL,
    [S_EVENT_INDEX_KEY] = NULL,
    [S_EVENT_INDEX_HOT] = NULL,
    [S_EVENT_INDEX_KEY_HOT] = NULL,
    [S_EVENTS_HOT_COUNT] = "SELECT 0",
    [S_COMPACT_PROF_BOUND] = NULL,
    [S_COMPACT_PROF_MOVE] = NULL,
    [S_COMPACT_PROF_DROP] = NULL,
    [S_COMPACT_KEY_BOUND] = NULL,
    [S_COMPACT_KEY_MOVE] = NULL,
    [S_COMPACT_KEY_DROP] = NULL,
    [S_MARK_UPSERT] = "INSERT INTO event_marks(" MARK_COLS ") VALUES($1, $2, $3, $4, $5, $6)" MARKS_MERGE,
    [S_MARK_UPSERT_HOT] = "INSERT INTO event_marks(" MARK_COLS ") VALUES($1, $2, $3, $4, $5, $6)" MARKS_MERGE,
    [S_COMPACT_MARKS_BOUND] = NULL,
    [S_COMPACT_MARKS_MOVE] = NULL,
    [S_COMPACT_MARKS_DROP] = NULL,
    [S_MERGE_MARKS_HOT] = NULL,
    [S_MERGE_MARKS_HOT_DROP] = NULL,
    [S_VIEW_MARKS_HOT_HAS] = NULL,
    [S_VIEW_MARKS_BOTH] = NULL,

    /* Merge of profile $2 into $1 (see stmts.c). An identity both hold
     * stays on $1 only: UPDATE OR IGNORE, spelt out. */
    [S_MERGE_IDENTITIES] = "UPDATE identities i SET profile_pk = $1 WHERE i.profile_pk = $2 AND NOT EXISTS (SELECT 1 FROM"
                           " identities j WHERE j.tenant_id = i.tenant_id AND j.id_type = i.id_type AND j.value = i.value"
                           " AND j.profile_pk = $1)",
    [S_MERGE_IDENTITIES_DROP] = SAME,
    [S_MERGE_EVENTS] = "UPDATE events SET profile_pk = $1 WHERE profile_pk = $2",
    [S_MERGE_EVENT_PROF] = NULL,
    [S_MERGE_EVENT_PROF_HOT] = NULL,
    [S_MERGE_TRAITS] = "INSERT INTO traits(profile_pk, key, value, ts_ms, message_id, source)"
                       " SELECT $1::bigint, key, value, ts_ms, message_id, source FROM traits WHERE profile_pk = $2"
                       " ON CONFLICT(profile_pk, key) DO UPDATE SET value = excluded.value, ts_ms = excluded.ts_ms,"
                       " message_id = excluded.message_id, source = excluded.source"
                       " WHERE excluded.ts_ms > traits.ts_ms",
    [S_MERGE_HISTORY] = SAME,
    [S_MERGE_TRAITS_DROP] = SAME,
    [S_MERGE_MARKS] = "INSERT INTO event_marks(" MARK_COLS ") SELECT $1::bigint, event_action, first_pk, first_time_ms, last_pk,"
                      " last_time_ms FROM event_marks WHERE profile_pk = $2" MARKS_MERGE,
    [S_MERGE_MARKS_DROP] = SAME,
    [S_MERGE_AUDIENCES] = "INSERT INTO audience_members(profile_pk, name, is_static, added_ms)"
                          " SELECT $1::bigint, name, is_static, added_ms FROM audience_members WHERE profile_pk = $2"
                          " ON CONFLICT DO NOTHING",
    [S_MERGE_AUDIENCES_DROP] = SAME,
    [S_MERGE_PROFILE] = "UPDATE profiles AS p SET merges = p.merges + d.merges + 1,"
                        " last_activity_ms = CASE WHEN d.la IS NULL THEN p.last_activity_ms"
                        "   WHEN p.last_activity_ms IS NULL OR d.la > p.last_activity_ms THEN d.la"
                        "   ELSE p.last_activity_ms END,"
                        " user_id = COALESCE(p.user_id, d.uid), updated_ms = $3"
                        " FROM (SELECT merges, last_activity_ms AS la, user_id AS uid FROM profiles WHERE pk = $2) AS d"
                        " WHERE p.pk = $1",
    [S_MERGE_PROFILE_TIMES] = NULL, /* in S_MERGE_PROFILE */
    [S_MERGE_PROFILE_DROP] = SAME,

    [S_VIEW_BY_UUID] = "SELECT " PROFILE_COLS " FROM profiles p WHERE p.tenant_id = $1 AND p.uuid = $2",
    [S_VIEW_BY_IDENTITY] = "SELECT " PROFILE_COLS " FROM identities i JOIN profiles p ON p.pk = i.profile_pk"
                           " WHERE i.tenant_id = $1 AND i.id_type = $2 AND i.value = $3 AND p.tenant_id = $1"
                           " ORDER BY p.last_activity_ms DESC NULLS LAST, p.pk DESC",
    [S_VIEW_EMAIL_PAGE] = "SELECT " PROFILE_COLS " FROM identities i JOIN profiles p ON p.pk = i.profile_pk"
                          " WHERE i.tenant_id = $1 AND i.id_type = $2 AND i.value = $3 AND p.tenant_id = $1"
                          " ORDER BY i.profile_pk LIMIT $4 OFFSET $5",
    [S_VIEW_TRAITS] = "SELECT key, value, ts_ms, message_id, source FROM traits WHERE profile_pk = $1 ORDER BY key" C,
    [S_VIEW_TRAITS_BY_IDENTITY] = "SELECT " PROFILE_COLS ", " TRAIT_COLS " FROM identities i JOIN profiles p ON p.pk = i.profile_pk"
                                  " LEFT JOIN traits t ON t.profile_pk = p.pk"
                                  " WHERE i.tenant_id = $1 AND i.id_type = $2 AND i.value = $3 AND p.tenant_id = $1"
                                  " ORDER BY p.pk, t.key" C,
    [S_VIEW_TRAITS_BY_UUID] = "SELECT " PROFILE_COLS ", " TRAIT_COLS " FROM profiles p LEFT JOIN traits t ON t.profile_pk = p.pk"
                              " WHERE p.tenant_id = $1 AND p.uuid = $2 ORDER BY p.pk, t.key" C,
    [S_VIEW_TRAITS_AT] = "SELECT key, value, ts_ms, message_id, source FROM (SELECT key, value, ts_ms, message_id, source,"
                         " row_number() OVER (PARTITION BY key ORDER BY ts_ms DESC, pk DESC) AS rn FROM trait_history"
                         " WHERE profile_pk = $1 AND tenant_id = $2 AND ts_ms <= $3 AND ts_ms >= $4) h WHERE rn = 1"
                         " ORDER BY key" C,
    [S_VIEW_MARKS] = VIEW_MARKS,
    [S_VIEW_MARKS_LAST] = VIEW_MARKS,
    [S_VIEW_AUDIENCES] = "SELECT name, is_static FROM audience_members WHERE profile_pk = $1 ORDER BY is_static, name" C,
    [S_VIEW_IDENTITIES] = "SELECT id_type, value FROM identities WHERE profile_pk = $1 AND tenant_id = $2"
                          " ORDER BY id_type, value" C,
    [S_LIST] = "SELECT " PROFILE_COLS " FROM profiles p WHERE p.tenant_id = $1"
               " ORDER BY p.last_activity_ms DESC NULLS LAST, p.pk DESC LIMIT $2 OFFSET $3",

    [S_TOKEN_ADD] = SAME,
    [S_TOKEN_REVOKE] = SAME,
    [S_TOKEN_ALL] = "SELECT id, hash, client, account, brand, name, created_ms, revoked_ms, rate, burst, permissions FROM tokens"
                    " ORDER BY seq",
    [S_TOKEN_GENERATION] = SAME,

    [S_EVENTS_ASC_FIRST] = EVENTS_SELECT " AND e.event_time_ms >= $2 AND e.event_time_ms < $3" EVENTS_FILTER EVENTS_ASC,
    [S_EVENTS_ASC_NEXT] = EVENTS_SELECT " AND e.event_time_ms >= $8 AND (e.event_time_ms > $8 OR e.event_id" C " > $9)"
                                        " AND e.event_time_ms < $3" EVENTS_FILTER EVENTS_ASC,
    [S_EVENTS_DESC_FIRST] = EVENTS_SELECT " AND e.event_time_ms >= $2 AND e.event_time_ms < $3" EVENTS_FILTER EVENTS_DESC,
    [S_EVENTS_DESC_NEXT] = EVENTS_SELECT " AND e.event_time_ms <= $8 AND (e.event_time_ms < $8 OR e.event_id" C " < $9)"
                                         " AND e.event_time_ms >= $2" EVENTS_FILTER EVENTS_DESC,
    /* the mark and the snapshot it was taken in (schema step 2) */
    [S_EVENTS_MARK] = "SELECT coalesce(max(pk), 0), " MARK_SNAP " FROM events",
    /* Each pk looked up by itself (LATERAL ... LIMIT 1): a join let the
     * generic plan, which cannot see the array's size, scan every
     * profile of the tenant into a hash (2.1 ms a page at 2,000
     * profiles, 0.2 ms so). */
    [S_EVENTS_PROFILES] = "SELECT p.pk, p.uuid, p.user_id,"
                          " (SELECT t.value FROM traits t WHERE t.profile_pk = p.pk AND t.key = 'email')"
                          " FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS j(value, ord)"
                          " CROSS JOIN LATERAL (SELECT p.pk, p.uuid, p.user_id FROM profiles p"
                          " WHERE p.pk = j.value::bigint AND p.tenant_id = $2 LIMIT 1) p ORDER BY j.ord",

    [S_SCROLL_KEY_ADD] = "INSERT INTO scroll_key(id, key) VALUES(1, $1) ON CONFLICT DO NOTHING",
    [S_SCROLL_KEY_GET] = SAME,
    [S_HISTORY_PAGE] = "SELECT pk, value, ts_ms, message_id FROM trait_history"
                       " WHERE tenant_id = $1 AND profile_pk IN (SELECT jsonb_array_elements_text($2::jsonb)::bigint)"
                       " AND key = $3 AND pk <= $4 AND ts_ms >= $5 AND ts_ms < $6"
                       " AND ($7::bigint IS NULL OR ts_ms < $7 OR (ts_ms = $7 AND pk < $8))"
                       " AND " SNAP_SEES("ins_xid", "$10") " ORDER BY ts_ms DESC, pk DESC LIMIT $9",
    [S_HISTORY_MARK] = "SELECT coalesce(max(pk), 0), " MARK_SNAP " FROM trait_history",
    [S_HISTORY_SWEEP] = SAME,

    [S_TENANT_NAMES] = SAME,
    [S_TENANTS_ALL] = SAME,
    [S_TRAIT_GET] = SAME,

    [S_COMP_UPSERT] = "INSERT INTO computed_state(profile_pk, key, comb, num, value, time_ms, event_id)"
                      " VALUES($1, $2, $3, $4, $5, $6, $7)" COMP_MERGE,
    [S_COMP_DAY_UPSERT] = "INSERT INTO computed_days(profile_pk, key, day, comb, num) VALUES($1, $2, $3, $4, $5)" COMP_DAYS_MERGE,
    [S_COMP_DAY_PRUNE] = SAME,
    [S_COMP_FREQ_UPSERT] =
        "INSERT INTO computed_freq(profile_pk, key, value, count, last_ms) VALUES($1, $2, $3, $4, $5)" COMP_FREQ_MERGE,
    [S_COMP_GET] = SAME,
    [S_COMP_DAYS_GET] = "SELECT count(*), coalesce(sum(num), 0)::float8, min(num), max(num) FROM computed_days"
                        " WHERE profile_pk = $1 AND key = $2 AND day >= $3",
    [S_COMP_FREQ_TOP] = "SELECT value FROM computed_freq WHERE profile_pk = $1 AND key = $2"
                        " ORDER BY count DESC, last_ms DESC, value" C " LIMIT 1",
    [S_COMP_CLEAR] = "DELETE FROM computed_state" COMP_CLEAR_WHERE,
    [S_COMP_DAYS_CLEAR] = "DELETE FROM computed_days" COMP_CLEAR_WHERE,
    [S_COMP_FREQ_CLEAR] = "DELETE FROM computed_freq" COMP_CLEAR_WHERE,
    [S_MERGE_COMP] =
        "INSERT INTO computed_state(profile_pk, key, comb, num, value, time_ms, event_id)"
        " SELECT $1::bigint, key, comb, num, value, time_ms, event_id FROM computed_state WHERE profile_pk = $2" COMP_MERGE,
    [S_MERGE_COMP_DROP] = SAME,
    [S_MERGE_COMP_DAYS] = "INSERT INTO computed_days(profile_pk, key, day, comb, num)"
                          " SELECT $1::bigint, key, day, comb, num FROM computed_days WHERE profile_pk = $2" COMP_DAYS_MERGE,
    [S_MERGE_COMP_DAYS_DROP] = SAME,
    [S_MERGE_COMP_FREQ] = "INSERT INTO computed_freq(profile_pk, key, value, count, last_ms)"
                          " SELECT $1::bigint, key, value, count, last_ms FROM computed_freq WHERE profile_pk = $2" COMP_FREQ_MERGE,
    [S_MERGE_COMP_FREQ_DROP] = SAME,

    [S_KEYS_ANNOUNCE] =
        "DELETE FROM computed_keys WHERE tenant_id = $1 AND key NOT IN (SELECT jsonb_array_elements_text($2::jsonb))",
    [S_KEYS_FRESH_TENANT] = "INSERT INTO computed_keys(tenant_id, key, ready, next_pk) SELECT $1::bigint, j.value, 1, 0"
                            " FROM jsonb_array_elements_text($2::jsonb) AS j(value)"
                            " WHERE NOT EXISTS (SELECT 1 FROM profiles WHERE tenant_id = $1) ON CONFLICT DO NOTHING",
    [S_KEYS_GET] = SAME,
    [S_KEYS_PUT] = SAME,
    [S_KEYS_PASSED] = SAME,
    [S_RECOMPUTE_PROFILES] = SAME,
    [S_RECOMPUTE_COUNT] = SAME,
    [S_PROFILE_EVENTS] = "SELECT e.event_id, e.event_time_ms, e.event_action, e.raw FROM events e WHERE e.profile_pk = $1"
                         " ORDER BY e.event_time_ms, e.event_id" C,

    [S_AUD_ADD] = SAME,
    [S_AUD_REMOVE_MEMBER] = SAME,
    [S_AUD_DELETE] = SAME,
    [S_AUD_LIST] = "SELECT a.name, count(*) FROM audience_members a JOIN profiles p ON p.pk = a.profile_pk"
                   " WHERE a.is_static = 1 AND p.tenant_id = $1 GROUP BY a.name ORDER BY a.name" C,

    [S_ERASE_BY_UUID] = SAME,
    [S_ERASE_SUPPRESS_IDS] = "INSERT INTO suppressions(tenant_id, id_type, value, created_ms)"
                             " SELECT tenant_id, id_type, value, $3::bigint FROM identities"
                             " WHERE profile_pk = $1 AND tenant_id = $2 AND id_type IN (0, 1) ON CONFLICT DO NOTHING",
    [S_ERASE_EVENT_KEYS] = NULL,
    [S_ERASE_EVENT_KEYS_HOT] = NULL,
    [S_ERASE_EVENTS] = "DELETE FROM events WHERE profile_pk = $1",
    [S_ERASE_EVENT_PROF] = NULL,
    [S_ERASE_EVENT_PROF_HOT] = NULL,
    [S_ERASE_HISTORY] = SAME,
    [S_SUPPRESS_HAS] = SAME,
    [S_SUPPRESS_LIST] = "SELECT id_type, value, created_ms FROM suppressions WHERE tenant_id = $1 ORDER BY id_type, value" C,
    [S_SUPPRESS_REMOVE] = SAME,
    /* In the array's order (sorted by the caller); each key (62 bits) as
     * the two-int4 form of advisory lock, apart from LOCK_WRITE's. */
    [S_LOCK_KEYS] = "SELECT pg_advisory_xact_lock((k >> 31)::int4, (k & 2147483647)::int4) FROM unnest($1::int8[]) AS u(k)",
    /* The profiles the ids (type $2, value $3) of tenant $1 lead to,
     * locked after sorting, so in pk order (materialized, and counted in
     * a one-time filter: all of them, in that order, before any row is
     * answered); the ids with their profiles are the answer, for the
     * identity cache. */
    [S_LOCK_PROFILES] = "WITH ids AS (SELECT i.id_type, i.value, i.profile_pk FROM identities i"
                        " JOIN unnest($2::int8[], $3::text[]) AS u(t, v) ON i.id_type = u.t AND i.value = u.v"
                        " WHERE i.tenant_id = $1),"
                        " locked AS MATERIALIZED (SELECT p.pk FROM profiles p WHERE p.pk IN (SELECT profile_pk FROM ids)"
                        " ORDER BY p.pk FOR UPDATE OF p)"
                        " SELECT ids.id_type, ids.value, ids.profile_pk FROM ids WHERE (SELECT count(*) FROM locked) >= 0",
    /* Of the pairs (event_key, messageId) $2, $3, those of tenant $1
     * stored already; $1 pks of the events' sequence. */
    [S_EVENTS_SEEN] = "SELECT k.id FROM unnest($2::int8[], $3::text[]) AS k(key, id) WHERE EXISTS (SELECT 1 FROM events e"
                      " WHERE e.event_key = k.key AND e.tenant_id = $1 AND e.event_id = k.id)",
    /* The profiles of tenant $1's ids (type $2, value $3), for the
     * identity cache (pgseen.c). */
    [S_IDS_LOOKUP] = "SELECT i.id_type, i.value, i.profile_pk FROM identities i"
                     " JOIN unnest($2::int8[], $3::text[]) AS u(t, v) ON i.id_type = u.t AND i.value = u.v WHERE i.tenant_id = $1"
                     " UNION ALL SELECT s.id_type, s.value, -1 FROM suppressions s"
                     " JOIN unnest($2::int8[], $3::text[]) AS u(t, v) ON s.id_type = u.t AND s.value = u.v WHERE s.tenant_id = $1",
    [S_EVENT_PKS] = "SELECT nextval(q.seq) FROM (SELECT pg_get_serial_sequence('events', 'pk')::regclass AS seq) q"
                    " CROSS JOIN generate_series(1, $1::int8)",
    /* pks for the new profiles of a run under the exclusive lock (pgseen.c),
     * each then added with its pk, as a deferred write */
    [S_PROFILE_PKS] = "SELECT nextval(q.seq) FROM (SELECT pg_get_serial_sequence('profiles', 'pk')::regclass AS seq) q"
                      " CROSS JOIN generate_series(1, $1::int8)",
    [S_PROFILE_ADD_AT] = "INSERT INTO profiles(pk, tenant_id, uuid, user_id, created_ms, updated_ms, created_by)"
                         " VALUES($6, $1, $2, $3, $4, $4, $5)",
    /* A run's events (pgrows.c), a column an array, in pk order. */
    [S_EVENTS_ADD_MANY] = "INSERT INTO events(pk, tenant_id, profile_pk, event_id, event_time_ms, received_ms, event_action,"
                          " event_name, type, source, raw, event_key) SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[],"
                          " $4::text[], $5::int8[], $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],"
                          " $12::int8[])",
    /* defer.c's marks, touches and activity times of a flush (pgrows.c) */
    [S_MARKS_UPSERT_MANY] = "INSERT INTO event_marks(" MARK_COLS ") SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[],"
                            " $4::int8[], $5::int8[], $6::int8[])" MARKS_MERGE,
    [S_PROFILES_TOUCH_MANY] = "UPDATE profiles p SET updated_ms = u.t, user_id = COALESCE(u.uid, p.user_id)"
                              " FROM unnest($1::int8[], $2::int8[], $3::text[]) AS u(pk, t, uid) WHERE p.pk = u.pk",
    [S_PROFILES_ACTIVITY_MANY] = "UPDATE profiles p SET last_activity_ms = u.t FROM unnest($1::int8[], $2::int8[]) AS u(pk, t)"
                                 " WHERE p.pk = u.pk AND (p.last_activity_ms IS NULL OR p.last_activity_ms < u.t)",
    /* defer.c's trait upserts of a flush, each key once, and their history
     * rows (column 11: history is kept), in the order of the rows: as
     * S_TRAIT_STORED, S_TRAIT_PUT then S_HISTORY_ADD would, a row at a time */
    [S_TRAITS_UPSERT_MANY] =
        "WITH v AS (SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::int8[],"
        " $8::int8[], $9::text[], $10::text[], $11::int8[]) WITH ORDINALITY"
        " AS v(pk, key, value, ts, mid, src, tid, fts, fmid, fsrc, hist, ord)),"
        " u AS (INSERT INTO traits(profile_pk, key, value, ts_ms, message_id, source, replaced_ms)"
        " SELECT pk, key, value, ts, mid, src, -9223372036854775808 FROM v"
        " ON CONFLICT(profile_pk, key) DO UPDATE SET value = excluded.value, ts_ms = excluded.ts_ms,"
        " message_id = excluded.message_id, source = excluded.source,"
        " replaced_ms = CASE WHEN traits.value IS NOT DISTINCT FROM excluded.value THEN NULL ELSE traits.ts_ms END"
        " WHERE excluded.ts_ms >= traits.ts_ms RETURNING profile_pk, key, replaced_ms)"
        " INSERT INTO trait_history(tenant_id, profile_pk, key, value, ts_ms, message_id, source)"
        " SELECT v.tid, v.pk, v.key, v.value, CASE WHEN v.fts >= u.replaced_ms THEN v.fts ELSE v.ts END,"
        " CASE WHEN v.fts >= u.replaced_ms THEN v.fmid ELSE v.mid END,"
        " CASE WHEN v.fts >= u.replaced_ms THEN v.fsrc ELSE v.src END"
        " FROM u JOIN v ON v.pk = u.profile_pk AND v.key = u.key"
        " WHERE u.replaced_ms IS NOT NULL AND v.hist <> 0 ORDER BY v.ord",
};

/* The inserts whose callers read stg_last_id. */
const bool stg_pg_returns_id[S_COUNT] = {
    [S_TENANT_ADD] = true,
    [S_PROFILE_ADD] = true,
    [S_EVENT_ADD] = true,
};

/* Step i brings profiled_schema.version from i to i+1 (pg.c runs the
 * missing ones in one transaction, under an advisory lock). Never edit a
 * released step: append one. */
static const char *const pg_migrations[] = {
    /* 1: the whole schema of SQLite's step 11, one level of event entries. */
    "CREATE TABLE tenants("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  client TEXT NOT NULL, account TEXT NOT NULL, brand TEXT NOT NULL,"
    "  UNIQUE(client, account, brand));"
    "CREATE TABLE profiles("
    "  pk BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL, uuid TEXT NOT NULL, user_id TEXT,"
    "  created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL, last_activity_ms BIGINT,"
    "  created_by TEXT NOT NULL, merges BIGINT NOT NULL DEFAULT 0,"
    "  UNIQUE(tenant_id, uuid));"
    "CREATE INDEX profiles_activity ON profiles(tenant_id, last_activity_ms DESC NULLS LAST, pk DESC);"
    "CREATE TABLE identities("
    "  tenant_id BIGINT NOT NULL, id_type BIGINT NOT NULL, value TEXT NOT NULL, profile_pk BIGINT NOT NULL,"
    "  PRIMARY KEY(tenant_id, id_type, value, profile_pk));"
    "CREATE INDEX identities_profile ON identities(profile_pk);"
    "CREATE UNIQUE INDEX identities_single ON identities(tenant_id, id_type, value) WHERE id_type IN (0, 1);"
    "CREATE TABLE traits("
    "  profile_pk BIGINT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, ts_ms BIGINT NOT NULL,"
    "  message_id TEXT, source TEXT, replaced_ms BIGINT,"
    "  PRIMARY KEY(profile_pk, key));"
    "CREATE TABLE events("
    "  pk BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL, profile_pk BIGINT NOT NULL, event_id TEXT NOT NULL,"
    "  event_time_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, event_action TEXT NOT NULL,"
    "  event_name TEXT, type TEXT NOT NULL, source TEXT NOT NULL, raw TEXT NOT NULL, event_key BIGINT NOT NULL);"
    "CREATE INDEX events_profile_time ON events(profile_pk, event_time_ms, event_id COLLATE \"C\");"
    "CREATE INDEX events_key ON events(event_key, tenant_id);"
    "CREATE TABLE event_marks("
    "  profile_pk BIGINT NOT NULL, event_action TEXT NOT NULL,"
    "  first_pk BIGINT NOT NULL, first_time_ms BIGINT NOT NULL, last_pk BIGINT NOT NULL, last_time_ms BIGINT NOT NULL,"
    "  PRIMARY KEY(profile_pk, event_action));"
    "CREATE TABLE audience_members("
    "  profile_pk BIGINT NOT NULL, name TEXT NOT NULL, is_static BIGINT NOT NULL, added_ms BIGINT NOT NULL,"
    "  PRIMARY KEY(profile_pk, is_static, name));"
    "CREATE INDEX audience_members_name ON audience_members(name, is_static);"
    "CREATE TABLE tokens("
    "  id TEXT PRIMARY KEY, seq BIGINT GENERATED ALWAYS AS IDENTITY, hash BYTEA NOT NULL,"
    "  client TEXT NOT NULL, account TEXT NOT NULL, brand TEXT, name TEXT,"
    "  created_ms BIGINT NOT NULL, revoked_ms BIGINT,"
    "  rate DOUBLE PRECISION NOT NULL DEFAULT 0, burst DOUBLE PRECISION NOT NULL DEFAULT 0,"
    "  permissions BIGINT NOT NULL DEFAULT 3);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value BIGINT NOT NULL);"
    "INSERT INTO meta(key, value) VALUES('token_generation', 0), ('write_generation', 0);"
    "CREATE FUNCTION profiled_token_generation() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN UPDATE meta SET value = value + 1 WHERE key = 'token_generation'; RETURN NULL; END $$;"
    "CREATE TRIGGER tokens_gen AFTER INSERT OR UPDATE OR DELETE ON tokens"
    "  FOR EACH ROW EXECUTE FUNCTION profiled_token_generation();"
    "CREATE TABLE computed_state("
    "  profile_pk BIGINT NOT NULL, key TEXT NOT NULL, comb BIGINT NOT NULL, num DOUBLE PRECISION, value TEXT,"
    "  time_ms BIGINT, event_id TEXT, PRIMARY KEY(profile_pk, key));"
    "CREATE TABLE computed_days("
    "  profile_pk BIGINT NOT NULL, key TEXT NOT NULL, day BIGINT NOT NULL, comb BIGINT NOT NULL,"
    "  num DOUBLE PRECISION NOT NULL, PRIMARY KEY(profile_pk, key, day));"
    "CREATE TABLE computed_freq("
    "  profile_pk BIGINT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, count BIGINT NOT NULL,"
    "  last_ms BIGINT NOT NULL, PRIMARY KEY(profile_pk, key, value));"
    "CREATE TABLE computed_keys("
    "  tenant_id BIGINT NOT NULL, key TEXT NOT NULL, ready BIGINT NOT NULL, next_pk BIGINT NOT NULL,"
    "  PRIMARY KEY(tenant_id, key));"
    "CREATE TABLE suppressions("
    "  tenant_id BIGINT NOT NULL, id_type BIGINT NOT NULL, value TEXT NOT NULL, created_ms BIGINT NOT NULL,"
    "  PRIMARY KEY(tenant_id, id_type, value));"
    "CREATE TABLE trait_history("
    "  pk BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL, profile_pk BIGINT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    "  ts_ms BIGINT NOT NULL, message_id TEXT, source TEXT NOT NULL);"
    "CREATE INDEX trait_history_key ON trait_history(profile_pk, key, ts_ms);"
    "CREATE INDEX trait_history_time ON trait_history(ts_ms);"
    "CREATE TABLE scroll_key(id BIGINT PRIMARY KEY CHECK(id = 1), key BYTEA NOT NULL CHECK(length(key) = 32));",
    /* 2: the transaction that stored each event and history row. Replicas
     * take pks from one sequence and commit in any order, so a row whose pk
     * is below a scroll's mark (max(pk) then) may commit after the scroll
     * began: its mark also carries the first page's snapshot
     * (pg_current_snapshot), and a page keeps only the rows whose inserting
     * transaction that snapshot sees as committed (pg_visible_in_snapshot).
     * A merge's UPDATE leaves the column as it was. Rows from before this
     * step read 0: committed before any scroll. */
    "ALTER TABLE events ADD COLUMN ins_xid xid8 NOT NULL DEFAULT '0';"
    "ALTER TABLE events ALTER COLUMN ins_xid SET DEFAULT pg_current_xact_id();"
    "ALTER TABLE trait_history ADD COLUMN ins_xid xid8 NOT NULL DEFAULT '0';"
    "ALTER TABLE trait_history ALTER COLUMN ins_xid SET DEFAULT pg_current_xact_id();",
};

int
stg_pg_schema_version(void)
{
    return (int)(sizeof(pg_migrations) / sizeof(pg_migrations[0]));
}

const char *
stg_pg_migration_sql(int version)
{
    if (version < 0 || version >= stg_pg_schema_version())
        return NULL;
    return pg_migrations[version];
}
