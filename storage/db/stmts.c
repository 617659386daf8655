/* stmts.c -- the text of every SQL statement storage/ runs, indexed by
 * enum stmt_id. Each is prepared once per connection (stg_stmt) and reset
 * after use; every query that starts from outside a profile is keyed by
 * tenant. */
#include "../db/db.h"

/* The marks upsert (db.h), eventIds compared under BINARY. */
#define MARKS_MERGE_INTO(t) STG_MARKS_MERGE_INTO(t, "")
#define MARKS_MERGE MARKS_MERGE_INTO("event_marks")
#define MARK_COLS STG_MARK_COLS

/* A scroll's page from one profile: ?1 profile, ?2/?3 start/end, ?4 the
 * snapshot mark, ?5 limit, ?6/?7 include/exclude (JSON arrays of lower-cased
 * keys, NULL: no filter), ?8/?9 the position. Each statement walks
 * events_profile_time (profile, time) from the position's time, so a page
 * costs the same wherever it is in the scroll; ties in time are ordered by
 * eventId in a small sort of each run of equal times. The position is
 * spelt as a time range plus a tie test (not a row value) so that the
 * planner seeks on it. The key lists are read once per run (IN on an
 * uncorrelated subquery). */
#define EVENTS_SELECT(level)                                                                                                       \
    "SELECT e.event_id, i.event_time_ms, e.received_ms, e.event_action, e.source, e.raw FROM " level " i"                          \
    " CROSS JOIN events e ON e.pk = i.pk WHERE i.profile_pk = ?1 AND i.pk <= ?4"
#define EVENT_KEY_IN(p)                                                                                                            \
    "(coalesce(lower(e.event_name), '') IN (SELECT value FROM json_each(" p "))"                                                   \
    " OR lower(e.event_action) IN (SELECT value FROM json_each(" p ")) OR e.type IN (SELECT value FROM json_each(" p ")))"
#define EVENTS_FILTER " AND (?6 IS NULL OR " EVENT_KEY_IN("?6") ") AND (?7 IS NULL OR NOT " EVENT_KEY_IN("?7") ")"
/* In the index's order, time only: a plain range read of events_profile_time
 * (no sort, no temporary b-tree), stepped only as far as the page needs.
 * read/events.c orders each run of equal times by eventId itself (?5, the
 * page's limit, is not used by the SQL). */
#define EVENTS_ASC " ORDER BY 2"
#define EVENTS_DESC " ORDER BY 2 DESC"
/* Both levels of the by-profile entries (schema step 10), each arm a range
 * read of its table in time order, merged in that order by SQLite (a
 * compound ORDER BY over ordered arms: no sort). */
#define EVENTS_BOTH(rest) EVENTS_SELECT("ev_prof") rest " UNION ALL " EVENTS_SELECT("ev_prof_hot") rest

/* Combines a computed_state row with another partial state of the same
 * key (excluded): counts and sums add, min / max keep theirs, first / last
 * keep the earlier / later (time, eventId). Shared by the per-event upsert
 * and merges. */
#define COMP_REPLACES                                                                                                              \
    "((computed_state.comb = 3 AND (excluded.time_ms, excluded.event_id) < (computed_state.time_ms, computed_state.event_id))"     \
    " OR (computed_state.comb = 4 AND (excluded.time_ms, excluded.event_id) > (computed_state.time_ms, computed_state.event_id)))"
#define COMP_MERGE                                                                                                                 \
    " ON CONFLICT(profile_pk, key) DO UPDATE SET"                                                                                  \
    "  num = CASE computed_state.comb WHEN 0 THEN computed_state.num + excluded.num"                                               \
    "   WHEN 1 THEN min(computed_state.num, excluded.num) WHEN 2 THEN max(computed_state.num, excluded.num)"                       \
    "   ELSE computed_state.num END,"                                                                                              \
    "  value = CASE WHEN " COMP_REPLACES " THEN excluded.value ELSE computed_state.value END,"                                     \
    "  time_ms = CASE WHEN " COMP_REPLACES " THEN excluded.time_ms ELSE computed_state.time_ms END,"                               \
    "  event_id = CASE WHEN " COMP_REPLACES " THEN excluded.event_id ELSE computed_state.event_id END"
#define COMP_DAYS_MERGE                                                                                                            \
    " ON CONFLICT(profile_pk, key, day) DO UPDATE SET"                                                                             \
    "  num = CASE computed_days.comb WHEN 0 THEN computed_days.num + excluded.num"                                                 \
    "   WHEN 1 THEN min(computed_days.num, excluded.num) ELSE max(computed_days.num, excluded.num) END"
#define COMP_FREQ_MERGE                                                                                                            \
    " ON CONFLICT(profile_pk, key, value) DO UPDATE SET count = computed_freq.count + excluded.count,"                             \
    "  last_ms = max(computed_freq.last_ms, excluded.last_ms)"
/* A profile's rows of the keys being rebuilt (?2) and of keys its tenant no
 * longer defines (not in ?3); both JSON arrays. */
#define COMP_CLEAR_WHERE                                                                                                           \
    " WHERE profile_pk = ?1 AND (key IN (SELECT value FROM json_each(?2)) OR key NOT IN (SELECT value FROM json_each(?3)))"

#define PROFILE_COLS "p.pk, p.uuid, p.user_id, p.created_ms, pt.updated_ms, pt.last_activity_ms, p.created_by"
/* a profile's times (schema step 12), joined to its row p */
#define PROFILE_TIMES " CROSS JOIN profile_times pt ON pt.pk = p.pk"
/* the same columns with no times: for the traits view alone, which shows
 * neither (a seek saved on every miss) */
#define PROFILE_COLS_UNTIMED "p.pk, p.uuid, p.user_id, p.created_ms, NULL, NULL, p.created_by"
#define TRAIT_COLS "t.key, t.value, t.ts_ms, t.message_id, t.source"
#define VIEW_MARKS                                                                                                                 \
    "SELECT m.event_action, e.event_id, e.event_time_ms, e.received_ms, e.type, e.raw"                                             \
    " FROM event_marks m JOIN events e ON e.pk = (CASE WHEN ?2 THEN m.last_pk ELSE m.first_pk END)"                                \
    " WHERE m.profile_pk = ?1 ORDER BY m.event_action"

const char *const stg_sqlite_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN",
    [S_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_DATA_VERSION] = "PRAGMA data_version",
    [S_PAGE_SIZE] = "PRAGMA page_size",
    [S_ROLLBACK] = "ROLLBACK",

    [S_TENANT_GET] = "SELECT id FROM tenants WHERE client = ?1 AND account = ?2 AND brand = ?3",
    [S_TENANT_ADD] = "INSERT INTO tenants(client, account, brand) VALUES(?1, ?2, ?3)",

    [S_IDENTITY_GET] = "SELECT profile_pk FROM identities WHERE tenant_id = ?1 AND id_type = ?2 AND value = ?3 LIMIT 1",
    [S_IDENTITY_ADD] = "INSERT INTO identities(tenant_id, id_type, value, profile_pk) VALUES(?1, ?2, ?3, ?4)"
                       " ON CONFLICT DO NOTHING",
    /* CROSS JOIN pins identities as the outer loop: otherwise the planner
     * may walk every profile of the tenant in ORDER BY order. */
    [S_EMAIL_CANDIDATES] =
        "SELECT p.pk, p.user_id IS NOT NULL FROM identities i CROSS JOIN profiles p ON p.pk = i.profile_pk" PROFILE_TIMES
        " WHERE i.tenant_id = ?1 AND i.id_type = 2 AND i.value = ?2 AND p.tenant_id = ?1"
        " ORDER BY pt.last_activity_ms DESC, p.pk DESC",
    /* Ingest's email match: only the ?3 newest profiles with the email (a
     * walk down the primary key), so a message costs the same however many
     * profiles share it; those by activity. */
    [S_EMAIL_RECENT] = "SELECT p.pk, p.user_id IS NOT NULL FROM (SELECT profile_pk FROM identities"
                       " WHERE tenant_id = ?1 AND id_type = 2 AND value = ?2 ORDER BY profile_pk DESC LIMIT ?3) i"
                       " CROSS JOIN profiles p ON p.pk = i.profile_pk" PROFILE_TIMES
                       " WHERE p.tenant_id = ?1 ORDER BY pt.last_activity_ms DESC, p.pk DESC",
    /* Distinct ids of type ?4 on profiles ?1 and ?2, at most ?5 of them.
     * INDEXED BY: the planner would walk every id of that type of the
     * tenant otherwise (the index holds the key's columns after profile_pk). */
    [S_IDENTITY_COUNT] = "SELECT count(*) FROM (SELECT DISTINCT value FROM identities INDEXED BY identities_profile"
                         " WHERE profile_pk IN (?1, ?2) AND tenant_id = ?3 AND id_type = ?4 LIMIT ?5)",
    [S_IDENTITY_HAS] = "SELECT 1 FROM identities WHERE tenant_id = ?1 AND id_type = ?2 AND value = ?3 AND profile_pk = ?4",

    /* its profile_times row (updated when created) by the trigger */
    [S_PROFILE_ADD] = "INSERT INTO profiles(tenant_id, uuid, user_id, created_ms, created_by) VALUES(?1, ?2, ?3, ?4, ?5)",
    /* A touch (touch_now): the times, then the userId on the wide row
     * (the message's most recent one becomes the externalId). */
    [S_PROFILE_TOUCH] = "UPDATE profile_times SET updated_ms = ?2 WHERE pk = ?1",
    /* an event's touch: both times at once (the activity index entry is
     * rewritten even when the time stays; a touch carries the latest event
     * of its group, and live events come in time order, so that is rare) */
    [S_PROFILE_TOUCH_EVENT] = "UPDATE profile_times SET updated_ms = ?2, last_activity_ms ="
                              " CASE WHEN last_activity_ms IS NULL OR last_activity_ms < ?3 THEN ?3 ELSE last_activity_ms END"
                              " WHERE pk = ?1",
    /* only when it differs: the wide row's page stays clean otherwise */
    [S_PROFILE_USER_ID] = "UPDATE profiles SET user_id = ?2 WHERE pk = ?1 AND user_id IS NOT ?2",
    /* PostgreSQL's only: SQLite's event touch is S_PROFILE_TOUCH_EVENT */
    [S_PROFILE_ACTIVITY] = "SELECT 0",
    [S_PROFILE_AGE] = "SELECT created_ms, merges FROM profiles WHERE pk = ?1",

    /* A trait's write (trait_now): its stored value and time read first,
     * then the row put with replaced_ms (?7: the time of the value this
     * write changed, the smallest integer for a new trait, NULL when the
     * value stayed; nothing is put when an older message lost). An
     * upsert with RETURNING did both in one statement at twice the cost:
     * SQLite keeps a RETURNING statement's rows in a table of their own. */
    [S_TRAIT_STORED] = "SELECT value, ts_ms FROM traits WHERE profile_pk = ?1 AND key = ?2",
    [S_TRAIT_PUT] = "INSERT INTO traits(profile_pk, key, value, ts_ms, message_id, source, replaced_ms)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    " ON CONFLICT(profile_pk, key) DO UPDATE SET value = excluded.value, ts_ms = excluded.ts_ms,"
                    " message_id = excluded.message_id, source = excluded.source, replaced_ms = excluded.replaced_ms",
    [S_HISTORY_ADD] = "INSERT INTO trait_history(tenant_id, profile_pk, key, value, ts_ms, message_id, source)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",

    /* Both levels of the messageId index (schema step 10). */
    [S_EVENT_EXISTS] = "SELECT 1 FROM ev_key k CROSS JOIN events e ON e.pk = k.pk"
                       " WHERE k.event_key = ?2 AND k.tenant_id = ?1 AND e.event_id = ?3"
                       " UNION ALL SELECT 1 FROM ev_key_hot k CROSS JOIN events e ON e.pk = k.pk"
                       " WHERE k.event_key = ?2 AND k.tenant_id = ?1 AND e.event_id = ?3",
    [S_EVENT_ADD] = "INSERT INTO events(tenant_id, profile_pk, event_id, event_time_ms, received_ms, event_action,"
                    " event_name, type, source, raw, event_key) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    /* An event's two index entries: ?1 profile, ?2 time, ?3 event pk, ?4
     * tenant, ?5 event_key; in the large tables or the hot ones. */
    [S_EVENT_INDEX] = "INSERT INTO ev_prof(profile_pk, event_time_ms, pk) VALUES(?1, ?2, ?3)",
    [S_EVENT_INDEX_KEY] = "INSERT INTO ev_key(event_key, tenant_id, pk) VALUES(?5, ?4, ?3)",
    [S_EVENT_INDEX_HOT] = "INSERT INTO ev_prof_hot(profile_pk, event_time_ms, pk) VALUES(?1, ?2, ?3)",
    [S_EVENT_INDEX_KEY_HOT] = "INSERT INTO ev_key_hot(event_key, tenant_id, pk) VALUES(?5, ?4, ?3)",
    [S_EVENTS_HOT_COUNT] = "SELECT count(*) FROM ev_prof_hot",
    /* A compaction chunk (storage_events_compact): the key ?2 rows past the
     * cursor ?1 (no row: the rest), then the rows in (?1, ?2] moved. */
    [S_COMPACT_PROF_BOUND] = "SELECT profile_pk FROM ev_prof_hot WHERE profile_pk > ?1 ORDER BY profile_pk LIMIT 1 OFFSET ?2",
    [S_COMPACT_PROF_MOVE] = "INSERT INTO ev_prof SELECT profile_pk, event_time_ms, pk FROM ev_prof_hot"
                            " WHERE profile_pk > ?1 AND profile_pk <= ?2",
    [S_COMPACT_PROF_DROP] = "DELETE FROM ev_prof_hot WHERE profile_pk > ?1 AND profile_pk <= ?2",
    [S_COMPACT_KEY_BOUND] = "SELECT event_key FROM ev_key_hot WHERE event_key > ?1 ORDER BY event_key LIMIT 1 OFFSET ?2",
    [S_COMPACT_KEY_MOVE] = "INSERT INTO ev_key SELECT event_key, tenant_id, pk FROM ev_key_hot"
                           " WHERE event_key > ?1 AND event_key <= ?2",
    [S_COMPACT_KEY_DROP] = "DELETE FROM ev_key_hot WHERE event_key > ?1 AND event_key <= ?2",
    [S_MARK_UPSERT] = "INSERT INTO event_marks(" MARK_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6)" MARKS_MERGE,
    /* schema step 11: the writer's marks, combined in event_marks later */
    [S_MARK_UPSERT_HOT] =
        "INSERT INTO event_marks_hot(" MARK_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6)" MARKS_MERGE_INTO("event_marks_hot"),
    [S_COMPACT_MARKS_BOUND] = "SELECT profile_pk FROM event_marks_hot WHERE profile_pk > ?1 ORDER BY profile_pk LIMIT 1 OFFSET ?2",
    [S_COMPACT_MARKS_MOVE] = "INSERT INTO event_marks(" MARK_COLS ") SELECT " MARK_COLS " FROM event_marks_hot"
                             " WHERE profile_pk > ?1 AND profile_pk <= ?2" MARKS_MERGE,
    [S_COMPACT_MARKS_DROP] = "DELETE FROM event_marks_hot WHERE profile_pk > ?1 AND profile_pk <= ?2",

    /* Merge of profile ?2 into ?1. Identities both profiles hold (a shared
     * email) stay once on ?1; traits of ?2 win only when strictly newer. */
    [S_MERGE_IDENTITIES] = "UPDATE OR IGNORE identities SET profile_pk = ?1 WHERE profile_pk = ?2",
    [S_MERGE_IDENTITIES_DROP] = "DELETE FROM identities WHERE profile_pk = ?1",
    /* The events first (found through their entries), then the entries of
     * each level. */
    [S_MERGE_EVENTS] = "UPDATE events SET profile_pk = ?1 WHERE pk IN (SELECT pk FROM ev_prof WHERE profile_pk = ?2"
                       " UNION ALL SELECT pk FROM ev_prof_hot WHERE profile_pk = ?2)",
    [S_MERGE_EVENT_PROF] = "UPDATE ev_prof SET profile_pk = ?1 WHERE profile_pk = ?2",
    [S_MERGE_EVENT_PROF_HOT] = "UPDATE ev_prof_hot SET profile_pk = ?1 WHERE profile_pk = ?2",
    [S_MERGE_TRAITS] = "INSERT INTO traits(profile_pk, key, value, ts_ms, message_id, source)"
                       " SELECT ?1, key, value, ts_ms, message_id, source FROM traits WHERE profile_pk = ?2"
                       " ON CONFLICT(profile_pk, key) DO UPDATE SET value = excluded.value, ts_ms = excluded.ts_ms,"
                       " message_id = excluded.message_id, source = excluded.source"
                       " WHERE excluded.ts_ms > traits.ts_ms",
    [S_MERGE_HISTORY] = "UPDATE trait_history SET profile_pk = ?1 WHERE profile_pk = ?2",
    [S_MERGE_TRAITS_DROP] = "DELETE FROM traits WHERE profile_pk = ?1",
    [S_MERGE_MARKS] = "INSERT INTO event_marks(profile_pk, event_action, first_pk, first_time_ms, last_pk, last_time_ms)"
                      " SELECT ?1, event_action, first_pk, first_time_ms, last_pk, last_time_ms"
                      " FROM event_marks WHERE profile_pk = ?2" MARKS_MERGE,
    [S_MERGE_MARKS_DROP] = "DELETE FROM event_marks WHERE profile_pk = ?1",
    [S_MERGE_MARKS_HOT] = "INSERT INTO event_marks_hot(" MARK_COLS ") SELECT ?1, event_action, first_pk, first_time_ms, last_pk,"
                          " last_time_ms FROM event_marks_hot WHERE profile_pk = ?2" MARKS_MERGE_INTO("event_marks_hot"),
    [S_MERGE_MARKS_HOT_DROP] = "DELETE FROM event_marks_hot WHERE profile_pk = ?1",
    [S_MERGE_AUDIENCES] = "INSERT INTO audience_members(profile_pk, name, is_static, added_ms)"
                          " SELECT ?1, name, is_static, added_ms FROM audience_members WHERE profile_pk = ?2"
                          " ON CONFLICT DO NOTHING",
    [S_MERGE_AUDIENCES_DROP] = "DELETE FROM audience_members WHERE profile_pk = ?1",
    [S_MERGE_PROFILE] = "UPDATE profiles AS p SET merges = p.merges + d.merges + 1, user_id = COALESCE(p.user_id, d.uid)"
                        " FROM (SELECT merges, user_id AS uid FROM profiles WHERE pk = ?2) AS d WHERE p.pk = ?1",
    [S_MERGE_PROFILE_TIMES] = "UPDATE profile_times AS p SET"
                              " last_activity_ms = CASE WHEN d.la IS NULL THEN p.last_activity_ms"
                              "   WHEN p.last_activity_ms IS NULL OR d.la > p.last_activity_ms THEN d.la"
                              "   ELSE p.last_activity_ms END, updated_ms = ?3"
                              " FROM (SELECT last_activity_ms AS la FROM profile_times WHERE pk = ?2) AS d WHERE p.pk = ?1",
    [S_MERGE_PROFILE_DROP] = "DELETE FROM profiles WHERE pk = ?1",

    [S_VIEW_BY_UUID] = "SELECT " PROFILE_COLS " FROM profiles p" PROFILE_TIMES " WHERE p.tenant_id = ?1 AND p.uuid = ?2",
    [S_VIEW_BY_IDENTITY] = "SELECT " PROFILE_COLS " FROM identities i CROSS JOIN profiles p ON p.pk = i.profile_pk" PROFILE_TIMES
                           " WHERE i.tenant_id = ?1 AND i.id_type = ?2 AND i.value = ?3 AND p.tenant_id = ?1"
                           " ORDER BY pt.last_activity_ms DESC, p.pk DESC",
    /* a page of an email's profiles, in profile-key order (the identity
     * key's own order: no sort; a profile made later goes last, so earlier
     * pages stay put) */
    [S_VIEW_EMAIL_PAGE] = "SELECT " PROFILE_COLS " FROM identities i CROSS JOIN profiles p ON p.pk = i.profile_pk" PROFILE_TIMES
                          " WHERE i.tenant_id = ?1 AND i.id_type = ?2 AND i.value = ?3 AND p.tenant_id = ?1"
                          " ORDER BY i.profile_pk LIMIT ?4 OFFSET ?5",
    [S_VIEW_TRAITS] = "SELECT key, value, ts_ms, message_id, source FROM traits WHERE profile_pk = ?1 ORDER BY key",
    /* the profile an id names with its traits, in one statement (the
     * traits view: views.c); a profile with none is one row of NULLs */
    [S_VIEW_TRAITS_BY_IDENTITY] =
        "SELECT " PROFILE_COLS_UNTIMED ", " TRAIT_COLS " FROM identities i CROSS JOIN profiles p ON p.pk = i.profile_pk"
        " LEFT JOIN traits t ON t.profile_pk = p.pk"
        " WHERE i.tenant_id = ?1 AND i.id_type = ?2 AND i.value = ?3 AND p.tenant_id = ?1"
        " ORDER BY i.profile_pk, t.key", /* the keys' order in both indexes: no sort (p.pk would be one) */
    [S_VIEW_TRAITS_BY_UUID] =
        "SELECT " PROFILE_COLS_UNTIMED ", " TRAIT_COLS " FROM profiles p LEFT JOIN traits t ON t.profile_pk = p.pk"
        " WHERE p.tenant_id = ?1 AND p.uuid = ?2 ORDER BY p.pk, t.key",
    /* The traits as they stood at ?3: each key's latest change at or
     * before it, of the changes kept (?4: the retention's oldest time). */
    [S_VIEW_TRAITS_AT] = "SELECT key, value, ts_ms, message_id, source FROM (SELECT key, value, ts_ms, message_id, source,"
                         " row_number() OVER (PARTITION BY key ORDER BY ts_ms DESC, pk DESC) AS rn FROM trait_history"
                         " WHERE profile_pk = ?1 AND tenant_id = ?2 AND ts_ms <= ?3 AND ts_ms >= ?4) WHERE rn = 1 ORDER BY key",
    /* A profile's marks when none is hot (the common case: no sort). */
    [S_VIEW_MARKS] = VIEW_MARKS,
    /* the same text: a statement of its own, so that a view can ask for its
     * first and last marks at once (stg_prefetch) */
    [S_VIEW_MARKS_LAST] = VIEW_MARKS,
    [S_VIEW_MARKS_HOT_HAS] = "SELECT 1 FROM event_marks_hot WHERE profile_pk = ?1 LIMIT 1",
    /* Both levels of the marks (schema step 11): per eventAction the row to
     * show comes first (the earliest first, or with ?2 the latest last, by
     * time then eventId); write_marks skips the other. */
    [S_VIEW_MARKS_BOTH] = "SELECT m.a, e.event_id, e.event_time_ms, e.received_ms, e.type, e.raw FROM"
                          " (SELECT event_action AS a, CASE WHEN ?2 THEN last_pk ELSE first_pk END AS p FROM event_marks"
                          " WHERE profile_pk = ?1 UNION ALL SELECT event_action, CASE WHEN ?2 THEN last_pk ELSE first_pk END"
                          " FROM event_marks_hot WHERE profile_pk = ?1) m CROSS JOIN events e ON e.pk = m.p"
                          " ORDER BY m.a, CASE WHEN ?2 THEN -e.event_time_ms ELSE e.event_time_ms END,"
                          " CASE WHEN ?2 THEN NULL ELSE e.event_id END, e.event_id DESC",
    [S_VIEW_AUDIENCES] = "SELECT name, is_static FROM audience_members WHERE profile_pk = ?1 ORDER BY is_static, name",
    [S_VIEW_IDENTITIES] = "SELECT id_type, value FROM identities WHERE profile_pk = ?1 AND tenant_id = ?2"
                          " ORDER BY id_type, value",
    /* down profile_times_activity, each row's profile joined */
    [S_LIST] = "SELECT " PROFILE_COLS " FROM profile_times pt CROSS JOIN profiles p ON p.pk = pt.pk WHERE pt.tenant_id = ?1"
               " ORDER BY pt.last_activity_ms DESC, pt.pk DESC LIMIT ?2 OFFSET ?3",

    [S_TOKEN_ADD] = "INSERT INTO tokens(id, hash, client, account, brand, name, created_ms, revoked_ms, rate, burst, permissions)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT(id) DO NOTHING",
    [S_TOKEN_REVOKE] = "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
    [S_TOKEN_ALL] = "SELECT id, hash, client, account, brand, name, created_ms, revoked_ms, rate, burst, permissions FROM tokens"
                    " ORDER BY rowid",
    [S_TOKEN_GENERATION] = "SELECT value FROM meta WHERE key = 'token_generation'",

    [S_EVENTS_ASC_FIRST] = EVENTS_BOTH(" AND i.event_time_ms >= ?2 AND i.event_time_ms < ?3" EVENTS_FILTER) EVENTS_ASC,
    [S_EVENTS_ASC_NEXT] = EVENTS_BOTH(" AND i.event_time_ms >= ?8 AND (i.event_time_ms > ?8 OR e.event_id > ?9)"
                                      " AND i.event_time_ms < ?3" EVENTS_FILTER) EVENTS_ASC,
    [S_EVENTS_DESC_FIRST] = EVENTS_BOTH(" AND i.event_time_ms >= ?2 AND i.event_time_ms < ?3" EVENTS_FILTER) EVENTS_DESC,
    [S_EVENTS_DESC_NEXT] = EVENTS_BOTH(" AND i.event_time_ms <= ?8 AND (i.event_time_ms < ?8 OR e.event_id < ?9)"
                                       " AND i.event_time_ms >= ?2" EVENTS_FILTER) EVENTS_DESC,
    /* Rowids grow: everything stored after this has a larger pk (but after
     * an erasure removed the newest events, new ones may take their pks
     * again: see storage_profile_delete). */
    [S_EVENTS_MARK] = "SELECT coalesce(max(pk), 0) FROM events",
    /* The profiles of a scroll (?1: JSON array of pks) with what each event
     * shows of them; one merged away since is simply gone. */
    [S_EVENTS_PROFILES] = "SELECT p.pk, p.uuid, p.user_id,"
                          " (SELECT t.value FROM traits t WHERE t.profile_pk = p.pk AND t.key = 'email')"
                          " FROM json_each(?1) j CROSS JOIN profiles p ON p.pk = j.value WHERE p.tenant_id = ?2 ORDER BY j.key",

    /* The key sealing scrollIds (read/cursor.c): written once, by the
     * migration that made the table, read at every open. */
    [S_SCROLL_KEY_ADD] = "INSERT OR IGNORE INTO scroll_key(id, key) VALUES(1, ?1)",
    [S_SCROLL_KEY_GET] = "SELECT key FROM scroll_key WHERE id = 1",
    /* A page of a trait's history scroll, newest first: ?1 tenant, ?2 JSON
     * array of profile pks, ?3 the key, ?4 the snapshot mark, ?5/?6
     * start (inclusive, the retention's oldest time folded in) / end
     * (exclusive), ?7/?8 the position (NULL before the first page), ?9
     * limit. */
    [S_HISTORY_PAGE] = "SELECT pk, value, ts_ms, message_id FROM trait_history"
                       " WHERE tenant_id = ?1 AND profile_pk IN (SELECT value FROM json_each(?2)) AND key = ?3 AND pk <= ?4"
                       " AND ts_ms >= ?5 AND ts_ms < ?6 AND (?7 IS NULL OR ts_ms < ?7 OR (ts_ms = ?7 AND pk < ?8))"
                       " ORDER BY ts_ms DESC, pk DESC LIMIT ?9",
    [S_HISTORY_MARK] = "SELECT coalesce(max(pk), 0) FROM trait_history",
    /* Retention: a bounded batch at a time, so a sweep never holds the
     * write lock long. */
    [S_HISTORY_SWEEP] = "DELETE FROM trait_history WHERE pk IN (SELECT pk FROM trait_history WHERE ts_ms < ?1 LIMIT ?2)",

    [S_TENANT_NAMES] = "SELECT client, account, brand FROM tenants WHERE id = ?1",
    [S_TENANTS_ALL] = "SELECT id, client, account, brand FROM tenants ORDER BY id",
    [S_TRAIT_GET] = "SELECT value FROM traits WHERE profile_pk = ?1 AND key = ?2",

    [S_COMP_UPSERT] = "INSERT INTO computed_state(profile_pk, key, comb, num, value, time_ms, event_id)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)" COMP_MERGE,
    [S_COMP_DAY_UPSERT] = "INSERT INTO computed_days(profile_pk, key, day, comb, num) VALUES(?1, ?2, ?3, ?4, ?5)" COMP_DAYS_MERGE,
    /* Days before every window that will ever include them again. */
    [S_COMP_DAY_PRUNE] = "DELETE FROM computed_days WHERE profile_pk = ?1 AND key = ?2 AND day < ?3",
    [S_COMP_FREQ_UPSERT] =
        "INSERT INTO computed_freq(profile_pk, key, value, count, last_ms) VALUES(?1, ?2, ?3, ?4, ?5)" COMP_FREQ_MERGE,
    [S_COMP_GET] = "SELECT num, value FROM computed_state WHERE profile_pk = ?1 AND key = ?2",
    [S_COMP_DAYS_GET] = "SELECT count(*), total(num), min(num), max(num) FROM computed_days"
                        " WHERE profile_pk = ?1 AND key = ?2 AND day >= ?3",
    /* Ties: the value seen most recently, then the smallest text. */
    [S_COMP_FREQ_TOP] = "SELECT value FROM computed_freq WHERE profile_pk = ?1 AND key = ?2"
                        " ORDER BY count DESC, last_ms DESC, value LIMIT 1",
    [S_COMP_CLEAR] = "DELETE FROM computed_state" COMP_CLEAR_WHERE,
    [S_COMP_DAYS_CLEAR] = "DELETE FROM computed_days" COMP_CLEAR_WHERE,
    [S_COMP_FREQ_CLEAR] = "DELETE FROM computed_freq" COMP_CLEAR_WHERE,
    [S_MERGE_COMP] = "INSERT INTO computed_state(profile_pk, key, comb, num, value, time_ms, event_id)"
                     " SELECT ?1, key, comb, num, value, time_ms, event_id FROM computed_state WHERE profile_pk = ?2" COMP_MERGE,
    [S_MERGE_COMP_DROP] = "DELETE FROM computed_state WHERE profile_pk = ?1",
    [S_MERGE_COMP_DAYS] = "INSERT INTO computed_days(profile_pk, key, day, comb, num)"
                          " SELECT ?1, key, day, comb, num FROM computed_days WHERE profile_pk = ?2" COMP_DAYS_MERGE,
    [S_MERGE_COMP_DAYS_DROP] = "DELETE FROM computed_days WHERE profile_pk = ?1",
    [S_MERGE_COMP_FREQ] = "INSERT INTO computed_freq(profile_pk, key, value, count, last_ms)"
                          " SELECT ?1, key, value, count, last_ms FROM computed_freq WHERE profile_pk = ?2" COMP_FREQ_MERGE,
    [S_MERGE_COMP_FREQ_DROP] = "DELETE FROM computed_freq WHERE profile_pk = ?1",

    [S_KEYS_ANNOUNCE] = "DELETE FROM computed_keys WHERE tenant_id = ?1 AND key NOT IN (SELECT value FROM json_each(?2))",
    /* A tenant without profiles has complete state of every key. */
    [S_KEYS_FRESH_TENANT] =
        "INSERT INTO computed_keys(tenant_id, key, ready, next_pk) SELECT ?1, j.value, 1, 0 FROM json_each(?2) j"
        " WHERE NOT EXISTS (SELECT 1 FROM profiles WHERE tenant_id = ?1) ON CONFLICT DO NOTHING",
    [S_KEYS_GET] = "SELECT key, ready, next_pk FROM computed_keys WHERE tenant_id = ?1",
    [S_KEYS_PUT] = "INSERT INTO computed_keys(tenant_id, key, ready, next_pk) VALUES(?1, ?2, ?3, ?4)"
                   " ON CONFLICT(tenant_id, key) DO UPDATE SET ready = excluded.ready, next_pk = excluded.next_pk",
    /* Keys of the profile's tenant a recompute in progress has gone past it. */
    [S_KEYS_PASSED] = "SELECT key, tenant_id FROM computed_keys WHERE tenant_id = (SELECT tenant_id FROM profiles WHERE pk = ?1)"
                      " AND ready = 0 AND next_pk >= ?1",
    [S_RECOMPUTE_PROFILES] = "SELECT pk FROM profiles WHERE tenant_id = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3",
    [S_RECOMPUTE_COUNT] = "SELECT count(*) FROM profiles WHERE tenant_id = ?1 AND pk > ?2",
    [S_PROFILE_EVENTS] =
        "SELECT e.event_id, i.event_time_ms, e.event_action, e.raw FROM ev_prof i CROSS JOIN events e ON e.pk = i.pk"
        " WHERE i.profile_pk = ?1 UNION ALL"
        " SELECT e.event_id, i.event_time_ms, e.event_action, e.raw FROM ev_prof_hot i CROSS JOIN events e ON e.pk = i.pk"
        " WHERE i.profile_pk = ?1 ORDER BY 2, 1",

    [S_AUD_ADD] =
        "INSERT INTO audience_members(profile_pk, name, is_static, added_ms) VALUES(?1, ?2, 1, ?3) ON CONFLICT DO NOTHING",
    [S_AUD_REMOVE_MEMBER] = "DELETE FROM audience_members WHERE profile_pk = ?1 AND is_static = 1 AND name = ?2",
    [S_AUD_DELETE] = "DELETE FROM audience_members WHERE name = ?2 AND is_static = 1"
                     " AND profile_pk IN (SELECT pk FROM profiles WHERE tenant_id = ?1)",
    [S_AUD_LIST] = "SELECT a.name, count(*) FROM audience_members a JOIN profiles p ON p.pk = a.profile_pk"
                   " WHERE a.is_static = 1 AND p.tenant_id = ?1 GROUP BY a.name ORDER BY a.name",

    /* Erasure: the profile an id names (?1 tenant, ?2 type, ?3 value / uuid),
     * then every row of profile ?1 (the tables a merge moves, plus its
     * events: ?2 the tenant). */
    [S_ERASE_BY_UUID] = "SELECT pk FROM profiles WHERE tenant_id = ?1 AND uuid = ?2",
    [S_ERASE_SUPPRESS_IDS] = "INSERT INTO suppressions(tenant_id, id_type, value, created_ms)"
                             " SELECT tenant_id, id_type, value, ?3 FROM identities"
                             " WHERE profile_pk = ?1 AND tenant_id = ?2 AND id_type IN (0, 1) ON CONFLICT DO NOTHING",
    /* A profile's events and both their entries of both levels: the key
     * entries first (read through the events), the profile entries last
     * (the events are found through them). */
    [S_ERASE_EVENT_KEYS] = "DELETE FROM ev_key WHERE (event_key, tenant_id, pk) IN (SELECT e.event_key, e.tenant_id, e.pk"
                           " FROM ev_prof i CROSS JOIN events e ON e.pk = i.pk WHERE i.profile_pk = ?1 UNION ALL"
                           " SELECT e.event_key, e.tenant_id, e.pk FROM ev_prof_hot i CROSS JOIN events e ON e.pk = i.pk"
                           " WHERE i.profile_pk = ?1)",
    [S_ERASE_EVENT_KEYS_HOT] = "DELETE FROM ev_key_hot WHERE (event_key, tenant_id, pk) IN (SELECT e.event_key, e.tenant_id, e.pk"
                               " FROM ev_prof i CROSS JOIN events e ON e.pk = i.pk WHERE i.profile_pk = ?1 UNION ALL"
                               " SELECT e.event_key, e.tenant_id, e.pk FROM ev_prof_hot i CROSS JOIN events e ON e.pk = i.pk"
                               " WHERE i.profile_pk = ?1)",
    [S_ERASE_EVENTS] = "DELETE FROM events WHERE pk IN (SELECT pk FROM ev_prof WHERE profile_pk = ?1"
                       " UNION ALL SELECT pk FROM ev_prof_hot WHERE profile_pk = ?1)",
    [S_ERASE_EVENT_PROF] = "DELETE FROM ev_prof WHERE profile_pk = ?1",
    [S_ERASE_EVENT_PROF_HOT] = "DELETE FROM ev_prof_hot WHERE profile_pk = ?1",
    [S_ERASE_HISTORY] = "DELETE FROM trait_history WHERE profile_pk = ?1",
    [S_SUPPRESS_HAS] = "SELECT 1 FROM suppressions WHERE tenant_id = ?1 AND id_type = ?2 AND value = ?3",
    [S_SUPPRESS_LIST] = "SELECT id_type, value, created_ms FROM suppressions WHERE tenant_id = ?1 ORDER BY id_type, value",
    [S_SUPPRESS_REMOVE] = "DELETE FROM suppressions WHERE tenant_id = ?1 AND id_type = ?2 AND value = ?3",
    /* PostgreSQL's only: SQLite's writer holds the one write lock */
    [S_LOCK_KEYS] = "SELECT 0",
    [S_LOCK_PROFILES] = "SELECT 0",
    /* and these: SQLite asks each event's in the process */
    [S_EVENTS_SEEN] = "SELECT 0",
    [S_EVENT_PKS] = "SELECT 0",
    [S_PROFILE_PKS] = "SELECT 0",
    [S_PROFILE_ADD_AT] = "SELECT 0",
    [S_IDS_LOOKUP] = "SELECT 0",
    [S_EVENTS_ADD_MANY] = "SELECT 0",
    [S_MARKS_UPSERT_MANY] = "SELECT 0",
    [S_PROFILES_TOUCH_MANY] = "SELECT 0",
    [S_PROFILES_ACTIVITY_MANY] = "SELECT 0",
    [S_TRAITS_UPSERT_MANY] = "SELECT 0",
};
