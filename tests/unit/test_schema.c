/* ra_schema against a real SQLite file through apr_dbd's sqlite3 driver:
 * the schema sql/ defines (schema.sql and its steps, as build/schema-pgsql.sql
 * holds them whole), set-up, the upgrade from schema version 1, and the
 * schema-compatibility rule between levels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_file_info.h>
#include <apr_strings.h>

#include <sqlite3.h>

#include "ra_schema.h"
#include "store_fixture.h"

/* The oldest module level that can serve this module's tables: what the
 * last step that raised it (sql/step-003.sql) set oldest_reader to; steps 4
 * and 5 are additive and keep it. */
#define OLDEST_READER 3

/* build/schema-pgsql.sql: the whole schema an administrator runs (the
 * Makefile makes it from sql/schema.sql and the steps before the tests). */
static char *read_schema_file(void)
{
    const char *here = __FILE__;
    const char *slash = strrchr(here, '/');
    const char *relative = slash ? apr_pstrcat(pool, apr_pstrmemdup(pool, here,
                                                                     (apr_size_t)(slash - here)),
                                               "/../../build/schema-pgsql.sql", NULL)
                                 : "../../build/schema-pgsql.sql";
    FILE *f = fopen("build/schema-pgsql.sql", "r");
    if (!f) {
        f = fopen(relative, "r");
    }
    ck_assert_msg(f != NULL, "cannot find build/schema-pgsql.sql (make schema, then run from "
                             "the repository root)");
    char *out = apr_pstrdup(pool, "");
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "--", 2) != 0) {
            out = apr_pstrcat(pool, out, line, NULL);
        }
    }
    fclose(f);
    return out;
}

/* The schema objects of a database file, one "type name: sql" per line. */
static const char *schema_of(const char *path)
{
    apr_dbd_t *handle = NULL;
    const char *error = NULL;
    ck_assert_int_eq(apr_dbd_open_ex(driver, pool, path, &handle, &error), APR_SUCCESS);
    const char *out = query_value(handle, "SELECT group_concat(type || ' ' || name || ': ' || "
                                          "ifnull(sql, ''), char(10)) FROM "
                                          "(SELECT * FROM sqlite_master ORDER BY name)");
    apr_dbd_close(driver, handle);
    return out;
}

/* The module creates exactly the objects of the schema an administrator
 * runs, in its SQLite form: the PostgreSQL text without COLLATE "C", and
 * SQLite's random bytes for PostgreSQL's random UUIDs (step 4's key). */
START_TEST(schema_matches_file)
{
    char *file = read_schema_file();
    ck_assert_ptr_nonnull(strstr(file, " COLLATE \"C\""));
    const char *sqlite_form = "";
    char *rest = file;
    for (char *c; (c = strstr(rest, " COLLATE \"C\"")) != NULL; rest = c + 12) {
        sqlite_form = apr_pstrcat(pool, sqlite_form, apr_pstrmemdup(pool, rest,
                                                                    (apr_size_t)(c - rest)),
                                  NULL);
    }
    sqlite_form = apr_pstrcat(pool, sqlite_form, rest, NULL);
    static const char uuids[] = "gen_random_uuid()::text || gen_random_uuid()::text";
    char *at = strstr(sqlite_form, uuids);
    ck_assert_ptr_nonnull(at);
    *at = '\0';
    sqlite_form = apr_pstrcat(pool, sqlite_form, "hex(randomblob(32))", at + strlen(uuids),
                              NULL);
    const char *reference = apr_pstrcat(pool, dir, "/reference.db", NULL);
    sqlite3 *db = NULL;
    char *error = NULL;
    ck_assert_int_eq(sqlite3_open(reference, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sqlite_form, NULL, NULL, &error);
    char *shown = apr_pstrdup(pool, error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
    ck_assert_msg(rc == SQLITE_OK, "build/schema-pgsql.sql on SQLite: %s", shown);

    setup_db();
    const char *created = schema_of(db_path);
    ck_assert_ptr_nonnull(strstr(created, "table remote_assistance_partners: CREATE TABLE"));
    ck_assert_ptr_null(strstr(created, "COLLATE"));
    ck_assert_str_eq(created, schema_of(reference));
}
END_TEST

/* ---- ra_schema_setup ---- */

START_TEST(setup_fresh)
{
    setup_db();
    apr_dbd_t *h = open_db();
    ck_assert_str_eq(query_value(h, "PRAGMA journal_mode"), "wal");
    ck_assert_int_eq(table_exists(h, "remote_assistance_partners"), 1);
    ck_assert_str_eq(query_list(h, "SELECT name AS v FROM pragma_table_info("
                                   "'remote_assistance_partners') ORDER BY cid"),
                     "tenant_id,id,display_name,onboarding_url,onboarding_status,"
                     "last_connection_date_time,last_connection_ticks,"
                     "onboarding_request_expiry_date_time,onboarding_request_expiry_ticks,"
                     "etag,api_version,created_date_time");
    /* the key is the tenant and the id, in that order */
    ck_assert_str_eq(query_list(h, "SELECT name AS v FROM pragma_table_info("
                                   "'remote_assistance_partners') WHERE pk > 0 ORDER BY pk"),
                     "tenant_id,id");
    ck_assert_str_eq(query_value(h, "SELECT group_concat(version || '/' || oldest_reader) "
                                    "FROM remoteassist_schema"),
                     apr_psprintf(pool, "%d/%d", ra_schema_level(), OLDEST_READER));
    close_db(h);
}
END_TEST

START_TEST(setup_twice_keeps_rows)
{
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    ra_partner_t p = partner("keep", NULL, NULL, "onboarded", UNSET, UNSET);
    insert(&conn, T1, &p);
    close_db(h);
    setup_db();
    h = open_db();
    ck_assert_str_eq(query_value(h, "PRAGMA journal_mode"), "wal");
    ck_assert_str_eq(row_count(h), "1");
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM remoteassist_schema"), "1");
    close_db(h);
}
END_TEST

static void assert_setup_fails(const char *driver_name, const char *path, const char *tenant,
                               ra_schema_state_e want, const char *error_part)
{
    const char *error = NULL;
    ra_schema_outcome_t outcome;
    ck_assert_int_eq(ra_schema_setup(pool, driver_name, path, tenant, &outcome,
                                     &error), want);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, error_part) != NULL, "error: %s", error);
    ck_assert_int_eq(outcome.legacy_rows, -1);
}

START_TEST(setup_missing_directory_unreachable)
{
    const char *path = apr_pstrcat(pool, dir, "/missing/partners.db", NULL);
    assert_setup_fails("sqlite3", path, NULL, RA_SCHEMA_UNREACHABLE, "cannot connect");
    ck_assert_int_eq(access(apr_pstrcat(pool, dir, "/missing", NULL), F_OK), -1);
}
END_TEST

START_TEST(setup_not_a_database_broken)
{
    FILE *f = fopen(db_path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 200; i++) {
        fputs("this is not an SQLite database file at all. ", f);
    }
    fclose(f);
    assert_setup_fails("sqlite3", db_path, NULL, RA_SCHEMA_BROKEN, "");
}
END_TEST

START_TEST(setup_unknown_driver_broken)
{
    assert_setup_fails("nosuchdriver", db_path, NULL, RA_SCHEMA_BROKEN, "nosuchdriver");
}
END_TEST

/* ---- the schema-compatibility rule ---- */

/* The schema row, as "version/oldest_reader". */
static const char *schema_row(void)
{
    apr_dbd_t *h = open_db();
    const char *row = query_value(h, "SELECT version || '/' || oldest_reader "
                                     "FROM remoteassist_schema");
    close_db(h);
    return row;
}

/* A database whose oldest reader is above this module's level is refused,
 * naming both levels, and left as it was. */
START_TEST(setup_refuses_a_schema_it_cannot_serve)
{
    setup_db();
    apr_dbd_t *h = open_db();
    exec_sql(h, "UPDATE remoteassist_schema SET version = 99, oldest_reader = 98");
    close_db(h);
    assert_setup_fails("sqlite3", db_path, T1, RA_SCHEMA_BROKEN,
                       apr_psprintf(pool, "the database is at schema level 99, which needs a "
                                    "module of schema level 98 or later; this module is at "
                                    "level %d", ra_schema_level()));
    ck_assert_str_eq(schema_row(), "99/98");
}
END_TEST

/* A newer database that declares this module's level able to serve it is
 * served, and neither its schema row nor its tables change: an additive
 * column of the newer release is there and stays. */
START_TEST(setup_serves_a_newer_compatible_schema_untouched)
{
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    ra_partner_t p = partner("kept", NULL, NULL, "onboarded", UNSET, UNSET);
    insert(&conn, T1, &p);
    exec_sql(h, "ALTER TABLE remote_assistance_partners ADD COLUMN added_later TEXT");
    exec_sql(h, apr_psprintf(pool, "UPDATE remoteassist_schema SET version = %d, "
                                   "oldest_reader = %d", ra_schema_level() + 1,
                             ra_schema_level()));
    const char *before = schema_of(db_path);
    close_db(h);

    const char *error = "(unset)";
    ra_schema_outcome_t outcome;
    ck_assert_int_eq(ra_schema_setup(pool, "sqlite3", db_path, T1, &outcome, &error),
                     RA_SCHEMA_READY);
    ck_assert_ptr_null(error);
    ck_assert_int_eq(outcome.found, ra_schema_level() + 1);
    ck_assert_int_eq(outcome.level, ra_schema_level() + 1);
    ck_assert_int_eq(outcome.oldest_reader, ra_schema_level());
    ck_assert_str_eq(schema_of(db_path), before);
    ck_assert_str_eq(schema_row(), apr_psprintf(pool, "%d/%d", ra_schema_level() + 1,
                                                ra_schema_level()));
    h = open_db();
    ck_assert_str_eq(row_count(h), "1");
    close_db(h);
}
END_TEST

/* A database of level 2 (module 0.2.0: sql/schema.sql alone, no
 * oldest_reader) is brought up by the steps, its rows kept. */
START_TEST(setup_upgrades_level_2_by_the_steps)
{
    char *base = read_schema_file();
    char *step3 = strstr(base, "ALTER TABLE remoteassist_schema");
    ck_assert_ptr_nonnull(step3);
    *step3 = '\0'; /* the file up to the first step: level 2 */
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    char *collate;
    while ((collate = strstr(base, " COLLATE \"C\"")) != NULL) {
        memset(collate, ' ', 12);
    }
    ck_assert_int_eq(sqlite3_exec(db, base, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO remote_assistance_partners (tenant_id, id, "
                                      "onboarding_status, last_connection_date_time, "
                                      "last_connection_ticks, "
                                      "onboarding_request_expiry_date_time, "
                                      "onboarding_request_expiry_ticks, etag, api_version) "
                                      "VALUES ('t', 'old', 'onboarded', 'x', 0, 'x', 0, 'e', "
                                      "'v1.0')", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* a look says it would work, and changes nothing */
    const char *error = "(unset)";
    ra_schema_outcome_t outcome;
    ck_assert_int_eq(ra_schema_check(pool, "sqlite3", db_path, T1, &outcome, &error),
                     RA_SCHEMA_READY);
    ck_assert_int_eq(outcome.found, 2);
    apr_dbd_t *h = open_db();
    ck_assert_str_eq(query_value(h, "SELECT group_concat(version) FROM remoteassist_schema"),
                     "2");
    close_db(h);

    ck_assert_int_eq(ra_schema_setup(pool, "sqlite3", db_path, T1, &outcome, &error),
                     RA_SCHEMA_READY);
    ck_assert_ptr_null(error);
    ck_assert_int_eq(outcome.found, 2);
    ck_assert_int_eq(outcome.level, ra_schema_level());
    ck_assert_int_eq(outcome.legacy_rows, -1);
    ck_assert_str_eq(schema_row(), apr_psprintf(pool, "%d/%d", ra_schema_level(), OLDEST_READER));
    h = open_db();
    ck_assert_str_eq(row_count(h), "1");
    close_db(h);
}
END_TEST

/* ---- upgrading a schema version 1 database ---- */

/* The table of schema version 1, as `git show 7b9b737:sql/schema.sql` has it. */
static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS remote_assistance_partners ("
    "    id TEXT PRIMARY KEY,"
    "    display_name TEXT,"
    "    onboarding_url TEXT,"
    "    onboarding_status TEXT"
    "        CHECK (onboarding_status IN ('notOnboarded', 'onboarding', 'onboarded')),"
    "    last_connection_date_time TEXT,"
    "    onboarding_request_expiry_date_time TEXT,"
    "    api_version TEXT NOT NULL,"
    "    created_date_time TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP"
    ")";

/* A version 1 database with the given rows (SQL value lists). */
static void make_v1_database(const char *const *rows, size_t n)
{
    apr_dbd_t *h = open_db();
    exec_sql(h, schema_v1);
    for (size_t i = 0; i < n; i++) {
        exec_sql(h, apr_pstrcat(pool, "INSERT INTO remote_assistance_partners (id, "
                                "display_name, onboarding_url, onboarding_status, "
                                "last_connection_date_time, onboarding_request_expiry_date_time, "
                                "api_version, created_date_time) VALUES (", rows[i], ")", NULL));
    }
    close_db(h);
}

static const char *const v1_rows[] = {
    "'full', 'Full', 'https://full/', 'onboarded', '2016-12-31T23:58:36.6670033-08:00', "
    "'2017-01-01T00:02:07.7573274-08:00', 'beta', '2020-05-01 10:00:00'",
    "'nulls', NULL, NULL, NULL, NULL, NULL, 'v1.0', '2020-05-02 10:00:00'",
    "'half', 'Half', NULL, 'onboarding', '2016-12-31T23:58Z', NULL, 'v1.0', "
    "'2020-05-03 10:00:00'",
};

/* The v1 database as it was: its table and rows, nothing of version 2. */
static void assert_v1_untouched(size_t rows)
{
    apr_dbd_t *h = open_db();
    ck_assert_str_eq(row_count(h), apr_itoa(pool, (int)rows));
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM pragma_table_info("
                                    "'remote_assistance_partners') WHERE name = 'tenant_id'"),
                     "0");
    ck_assert_int_eq(table_exists(h, "remoteassist_schema"), 0);
    ck_assert_int_eq(table_exists(h, "remote_assistance_partners_v1"), 0);
    close_db(h);
}

START_TEST(upgrade_keeps_rows_for_legacy_tenant)
{
    const char *error = "(unset)";
    ra_schema_outcome_t outcome;
    make_v1_database(v1_rows, COUNT_OF(v1_rows));
    ck_assert_int_eq(ra_schema_setup(pool, "sqlite3", db_path, T1, &outcome, &error),
                     RA_SCHEMA_READY);
    ck_assert_ptr_null(error);
    ck_assert_int_eq(outcome.legacy_rows, 3);
    ck_assert_int_eq(outcome.found, 1);
    ck_assert_int_eq(outcome.level, ra_schema_level());

    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    static const struct {
        const char *id;
        const char *values[RA_PROP_COUNT];
        const char *api_version, *created;
    } want[] = {
        { "full", { "full", "Full", "https://full/", "onboarded",
                    "2016-12-31T23:58:36.6670033-08:00", "2017-01-01T00:02:07.7573274-08:00" },
          "beta", "2020-05-01 10:00:00" },
        /* nulls where version 2 has none: Intune's defaults */
        { "nulls", { "nulls", NULL, NULL, "notOnboarded", UNSET, UNSET }, "v1.0",
          "2020-05-02 10:00:00" },
        { "half", { "half", "Half", NULL, "onboarding", "2016-12-31T23:58Z", UNSET }, "v1.0",
          "2020-05-03 10:00:00" },
    };
    apr_hash_t *etags = apr_hash_make(pool);
    for (size_t i = 0; i < COUNT_OF(want); i++) {
        ra_partner_t p;
        ck_assert_int_eq(ra_store_get(pool, &conn, T1, want[i].id, &p, &error), RA_STORE_DONE);
        for (int k = 0; k < RA_PROP_COUNT; k++) {
            ck_assert_pstr_eq(p.values[k], want[i].values[k]);
        }
        /* every row gets its own ETag */
        ck_assert_uint_eq(strlen(p.etag), 24);
        ck_assert_ptr_null(apr_hash_get(etags, p.etag, APR_HASH_KEY_STRING));
        apr_hash_set(etags, p.etag, APR_HASH_KEY_STRING, p.etag);
        /* and its sort keys */
        apr_int64_t last, expiry;
        ck_assert(ra_entity_datetime_parse(p.values[RA_PROP_LAST_CONNECTION], &last));
        ck_assert(ra_entity_datetime_parse(p.values[RA_PROP_EXPIRY], &expiry));
        ck_assert_str_eq(column(h, T1, want[i].id, "last_connection_ticks"),
                         apr_psprintf(pool, "%" APR_INT64_T_FMT, last));
        ck_assert_str_eq(column(h, T1, want[i].id, "onboarding_request_expiry_ticks"),
                         apr_psprintf(pool, "%" APR_INT64_T_FMT, expiry));
        ck_assert_str_eq(column(h, T1, want[i].id, "api_version"), want[i].api_version);
        ck_assert_str_eq(column(h, T1, want[i].id, "created_date_time"), want[i].created);
        /* the rows are the legacy tenant's only */
        ck_assert_int_eq(ra_store_get(pool, &conn, T2, want[i].id, &p, &error),
                         RA_STORE_MISSING);
    }
    ck_assert_int_eq(table_exists(h, "remote_assistance_partners_v1"), 0);
    ck_assert_str_eq(query_value(h, "SELECT group_concat(version) FROM remoteassist_schema"),
                     apr_psprintf(pool, "%d", ra_schema_level()));

    /* ordered by instant: the ticks are right */
    ra_query_t q;
    apr_array_header_t *rows;
    parse(RA_VERSION_BETA, "$orderby=lastConnectionDateTime desc", &q);
    ck_assert_int_eq(list_rows(pool, &conn, T1, &q, 10, 0, &rows, &error), RA_STORE_DONE);
    ck_assert_int_eq(rows->nelts, 3);
    ck_assert_str_eq(APR_ARRAY_IDX(rows, 0, ra_partner_t).values[RA_PROP_ID], "full");
    ck_assert_str_eq(APR_ARRAY_IDX(rows, 1, ra_partner_t).values[RA_PROP_ID], "half");
    ck_assert_str_eq(APR_ARRAY_IDX(rows, 2, ra_partner_t).values[RA_PROP_ID], "nulls");
    close_db(h);

    /* done once: the next start finds this module's level */
    ck_assert_int_eq(ra_schema_setup(pool, "sqlite3", db_path, T2, &outcome, &error),
                     RA_SCHEMA_READY);
    ck_assert_int_eq(outcome.legacy_rows, -1);
    ck_assert_int_eq(outcome.found, ra_schema_level());
    h = open_db();
    ck_assert_str_eq(query_value(h, "SELECT group_concat(DISTINCT tenant_id) FROM "
                                    "remote_assistance_partners"), T1);
    close_db(h);
}
END_TEST

/* Rows with no tenant to give them to: refused, naming the directive and
 * the count, and nothing changed. */
START_TEST(upgrade_refused_without_legacy_tenant)
{
    make_v1_database(v1_rows, COUNT_OF(v1_rows));
    assert_setup_fails("sqlite3", db_path, NULL, RA_SCHEMA_BROKEN,
                       "the database holds 3 partners from before tenants (schema version 1): "
                       "name the tenant they belong to with RemoteAssistLegacyTenant");
    assert_v1_untouched(3);
}
END_TEST

/* An empty version 1 table needs no tenant. */
START_TEST(upgrade_empty_without_legacy_tenant)
{
    const char *error = "(unset)";
    ra_schema_outcome_t outcome;
    make_v1_database(NULL, 0);
    ck_assert_int_eq(ra_schema_setup(pool, "sqlite3", db_path, NULL, &outcome, &error),
                     RA_SCHEMA_READY);
    ck_assert_ptr_null(error);
    ck_assert_int_eq(outcome.legacy_rows, 0);
    apr_dbd_t *h = open_db();
    ck_assert_str_eq(query_value(h, "SELECT group_concat(version) FROM remoteassist_schema"),
                     apr_psprintf(pool, "%d", ra_schema_level()));
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM pragma_table_info("
                                    "'remote_assistance_partners') WHERE name = 'tenant_id'"),
                     "1");
    close_db(h);
}
END_TEST

/* A row the upgrade cannot carry over rolls the whole upgrade back. */
START_TEST(upgrade_bad_datetime_rolls_back)
{
    static const char *const rows[] = {
        "'good', NULL, NULL, NULL, '2016-12-31T23:58Z', NULL, 'v1.0', '2020-05-01 10:00:00'",
        "'bad', NULL, NULL, NULL, 'yesterday', NULL, 'v1.0', '2020-05-01 10:00:00'",
    };
    make_v1_database(rows, COUNT_OF(rows));
    assert_setup_fails("sqlite3", db_path, T1, RA_SCHEMA_BROKEN,
                       "row 'bad' has a date-time that is not an Edm.DateTimeOffset");
    assert_v1_untouched(2);
}
END_TEST

/* ---- ra_schema_check: apachectl -t's look ---- */

/* What a look says of a database, and that it left the file as it was. */
static void assert_check(const char *tenant, ra_schema_state_e want, const char *error_part)
{
    const char *error = "(unset)";
    apr_finfo_t before, after;
    ck_assert_int_eq(apr_stat(&before, db_path, APR_FINFO_SIZE | APR_FINFO_MTIME, pool),
                     APR_SUCCESS);
    ra_schema_outcome_t outcome;
    ck_assert_int_eq(ra_schema_check(pool, "sqlite3", db_path, tenant, &outcome, &error),
                     want);
    if (error_part) {
        ck_assert_msg(error && strstr(error, error_part), "error: %s", error);
    }
    else {
        ck_assert_msg(!error, "error: %s", error);
    }
    ck_assert_int_eq(apr_stat(&after, db_path, APR_FINFO_SIZE | APR_FINFO_MTIME, pool),
                     APR_SUCCESS);
    ck_assert_int_eq(after.size, before.size);
    ck_assert_int_eq(after.mtime, before.mtime);
}

START_TEST(check_creates_no_table)
{
    apr_dbd_t *h = open_db(); /* an empty database file */
    close_db(h);
    assert_check(NULL, RA_SCHEMA_READY, NULL);
    h = open_db();
    ck_assert_int_eq(table_exists(h, "remote_assistance_partners"), 0);
    ck_assert_int_eq(table_exists(h, "remoteassist_schema"), 0);
    ck_assert_str_ne(query_value(h, "PRAGMA journal_mode"), "wal");
    close_db(h);
}
END_TEST

START_TEST(check_ready_database)
{
    setup_db();
    assert_check(NULL, RA_SCHEMA_READY, NULL);
}
END_TEST

START_TEST(check_refuses_what_setup_refuses)
{
    setup_db();
    apr_dbd_t *h = open_db();
    exec_sql(h, "UPDATE remoteassist_schema SET version = 99, oldest_reader = 99");
    close_db(h);
    assert_check(T1, RA_SCHEMA_BROKEN, "needs a module of schema level 99");
}
END_TEST

START_TEST(check_legacy_rows_need_a_tenant_and_upgrade_nothing)
{
    make_v1_database(v1_rows, COUNT_OF(v1_rows));
    assert_check(NULL, RA_SCHEMA_BROKEN, "RemoteAssistLegacyTenant");
    /* with the tenant the upgrade would work, and a look still changes nothing */
    assert_check(T1, RA_SCHEMA_READY, NULL);
    assert_v1_untouched(3);
}
END_TEST

Suite *schema_suite(void)
{
    Suite *s = suite_create("schema");
    TCase *tc = db_tcase(s, "setup");
    tcase_add_test(tc, schema_matches_file);
    tcase_add_test(tc, setup_fresh);
    tcase_add_test(tc, setup_twice_keeps_rows);
    tcase_add_test(tc, setup_missing_directory_unreachable);
    tcase_add_test(tc, setup_not_a_database_broken);
    tcase_add_test(tc, setup_unknown_driver_broken);
    tcase_add_test(tc, setup_refuses_a_schema_it_cannot_serve);
    tcase_add_test(tc, setup_serves_a_newer_compatible_schema_untouched);
    tcase_add_test(tc, setup_upgrades_level_2_by_the_steps);

    tc = db_tcase(s, "upgrade");
    tcase_add_test(tc, upgrade_keeps_rows_for_legacy_tenant);
    tcase_add_test(tc, upgrade_refused_without_legacy_tenant);
    tcase_add_test(tc, upgrade_empty_without_legacy_tenant);
    tcase_add_test(tc, upgrade_bad_datetime_rolls_back);
    tcase_add_test(tc, check_creates_no_table);
    tcase_add_test(tc, check_ready_database);
    tcase_add_test(tc, check_refuses_what_setup_refuses);
    tcase_add_test(tc, check_legacy_rows_need_a_tenant_and_upgrade_nothing);
    return s;
}
