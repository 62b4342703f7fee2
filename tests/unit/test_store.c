/* ra_store against a real SQLite file through apr_dbd's sqlite3 driver. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_dbd.h>
#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "ra_store.h"
#include "suites.h"

static const apr_dbd_driver_t *driver;
/* base: made by the runner (unchecked fixture), removed when the test case
 * ends even when a forked test stopped early; dir: one per test, inside it */
static char base[64];
static char dir[128];
static const char *db_path;

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char child[1024];
            snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
            if (unlink(child) != 0) {
                remove_tree(child);
            }
        }
    }
    closedir(d);
    rmdir(path);
}

static void base_setup(void)
{
    snprintf(base, sizeof(base), "/tmp/ra_store_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
}

static void base_teardown(void)
{
    remove_tree(base);
    base[0] = '\0';
}

static void setup(void)
{
    pool_setup();
    ck_assert_int_eq(apr_dbd_init(pool), APR_SUCCESS);
    ck_assert_int_eq(apr_dbd_get_driver(pool, "sqlite3", &driver), APR_SUCCESS);
    snprintf(dir, sizeof(dir), "%s/test_XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    db_path = apr_pstrcat(pool, dir, "/partners.db", NULL);
}

static void teardown(void)
{
    pool_teardown(); /* closes the connections first */
    remove_tree(dir);
}

static apr_status_t db_cleanup(void *handle)
{
    return apr_dbd_close(driver, handle);
}

/* A connection that the test pool closes, should the test stop early. */
static apr_dbd_t *open_db(void)
{
    apr_dbd_t *handle = NULL;
    const char *error = NULL;
    int rv = apr_dbd_open_ex(driver, pool, db_path, &handle, &error);
    ck_assert_msg(rv == APR_SUCCESS, "cannot open %s: %s", db_path, error ? error : "?");
    apr_pool_cleanup_register(pool, handle, db_cleanup, apr_pool_cleanup_null);
    return handle;
}

static void close_db(apr_dbd_t *handle)
{
    apr_pool_cleanup_run(pool, handle, db_cleanup);
}

/* First column of the first row of sql ("(null)" for SQL NULL, NULL for no
 * row); reads every row. */
static const char *query_value(apr_dbd_t *handle, const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *value = NULL;
    int rv = apr_dbd_select(driver, pool, handle, &res, sql, 0);
    ck_assert_msg(rv == 0, "%s: %s", sql, apr_dbd_error(driver, handle, rv));
    int first = 1;
    while (apr_dbd_get_row(driver, pool, res, &row, -1) == 0) {
        if (first) {
            const char *v = apr_dbd_get_entry(driver, row, 0);
            value = apr_pstrdup(pool, v ? v : "(null)");
            first = 0;
        }
    }
    return value;
}

static void exec_sql(apr_dbd_t *handle, const char *sql)
{
    int nrows = 0;
    int rv = apr_dbd_query(driver, handle, &nrows, sql);
    ck_assert_msg(rv == 0, "%s: %s", sql, apr_dbd_error(driver, handle, rv));
}

static void setup_db(void)
{
    const char *error = "(unset)";
    ck_assert_int_eq(ra_store_setup_database(pool, "sqlite3", db_path, &error),
                     RA_STORE_READY);
    ck_assert_ptr_null(error);
}

/* A pooled connection as mod_dbd would hold it, with the insert prepared. */
static ra_store_conn_t make_conn(apr_dbd_t *handle, int prepare)
{
    ra_store_conn_t conn = { driver, handle, pool, apr_hash_make(pool) };
    if (prepare) {
        apr_dbd_prepared_t *stmt = NULL;
        int rv = apr_dbd_prepare(driver, pool, handle, RA_STORE_INSERT_SQL,
                                 RA_STORE_INSERT_LABEL, &stmt);
        ck_assert_msg(rv == 0, "prepare: %s", apr_dbd_error(driver, handle, rv));
        apr_hash_set(conn.prepared, RA_STORE_INSERT_LABEL, APR_HASH_KEY_STRING, stmt);
    }
    return conn;
}

static const char *column(apr_dbd_t *handle, const char *id, const char *expr)
{
    return query_value(handle, apr_psprintf(pool, "SELECT %s FROM remote_assistance_partners "
                                            "WHERE id = '%s'", expr, id));
}

/* ---- schema, drivers ---- */

static char *read_schema_file(void)
{
    static const char *const candidates[] = { "sql/schema.sql", NULL };
    const char *here = __FILE__;
    const char *slash = strrchr(here, '/');
    const char *relative = slash ? apr_pstrcat(pool, apr_pstrmemdup(pool, here,
                                                                     (apr_size_t)(slash - here)),
                                               "/../../sql/schema.sql", NULL)
                                 : "../../sql/schema.sql";
    FILE *f = fopen(candidates[0], "r");
    if (!f) {
        f = fopen(relative, "r");
    }
    ck_assert_msg(f != NULL, "cannot find sql/schema.sql (run from the repository root)");
    char *out = apr_pstrdup(pool, "");
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "--", 2) != 0) {
            size_t len = strlen(line);
            out = apr_pstrcat(pool, out, line, len && line[len - 1] == '\n' ? "" : "\n", NULL);
        }
    }
    fclose(f);
    return out;
}

START_TEST(schema_matches_file)
{
    const char *want = read_schema_file();
    ck_assert_ptr_nonnull(strstr(want, "CREATE TABLE"));
    ck_assert_str_eq(ra_store_schema_sql(), want);
    ck_assert_ptr_null(strstr(ra_store_schema_sql(), "--"));
}
END_TEST

START_TEST(driver_supported)
{
    ck_assert_int_eq(ra_store_driver_supported("sqlite3"), 1);
    ck_assert_int_eq(ra_store_driver_supported("pgsql"), 1);
    ck_assert_int_eq(ra_store_driver_supported("mysql"), 0);
    ck_assert_int_eq(ra_store_driver_supported("odbc"), 0);
    ck_assert_int_eq(ra_store_driver_supported("SQLITE3"), 0);
    ck_assert_int_eq(ra_store_driver_supported("sqlite"), 0);
    ck_assert_int_eq(ra_store_driver_supported(""), 0);
}
END_TEST

/* ---- ra_store_setup_database ---- */

START_TEST(setup_creates_table_and_wal)
{
    setup_db();
    apr_dbd_t *h = open_db();
    ck_assert_str_eq(query_value(h, "PRAGMA journal_mode"), "wal");
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                    "AND name = 'remote_assistance_partners'"), "1");
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM pragma_table_info("
                                    "'remote_assistance_partners')"), "8");
    ck_assert_str_eq(query_value(h, "SELECT pk FROM pragma_table_info("
                                    "'remote_assistance_partners') WHERE name = 'id'"), "1");
    close_db(h);
}
END_TEST

START_TEST(setup_twice_keeps_rows)
{
    setup_db();
    apr_dbd_t *h = open_db();
    exec_sql(h, "INSERT INTO remote_assistance_partners (id, api_version) VALUES ('keep', 'v1.0')");
    close_db(h);
    setup_db();
    h = open_db();
    ck_assert_str_eq(query_value(h, "PRAGMA journal_mode"), "wal");
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM remote_assistance_partners"), "1");
    close_db(h);
}
END_TEST

START_TEST(setup_missing_directory_unreachable)
{
    const char *error = NULL;
    const char *path = apr_pstrcat(pool, dir, "/missing/partners.db", NULL);
    ck_assert_int_eq(ra_store_setup_database(pool, "sqlite3", path, &error),
                     RA_STORE_UNREACHABLE);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, "cannot connect") != NULL, "error: %s", error);
    ck_assert_int_eq(access(apr_pstrcat(pool, dir, "/missing", NULL), F_OK), -1);
}
END_TEST

START_TEST(setup_not_a_database_broken)
{
    const char *error = NULL;
    FILE *f = fopen(db_path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 200; i++) {
        fputs("this is not an SQLite database file at all. ", f);
    }
    fclose(f);
    ck_assert_int_eq(ra_store_setup_database(pool, "sqlite3", db_path, &error),
                     RA_STORE_BROKEN);
    ck_assert_ptr_nonnull(error);
}
END_TEST

START_TEST(setup_unknown_driver_broken)
{
    const char *error = NULL;
    ck_assert_int_eq(ra_store_setup_database(pool, "nosuchdriver", db_path, &error),
                     RA_STORE_BROKEN);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, "nosuchdriver"));
}
END_TEST

/* ---- ra_store_connection_setup ---- */

START_TEST(connection_setup_pragmas)
{
    setup_db();
    apr_dbd_t *h = open_db();
    /* start from values the setup must change */
    query_value(h, "PRAGMA busy_timeout = 0");
    query_value(h, "PRAGMA synchronous = OFF");
    ck_assert_str_eq(query_value(h, "PRAGMA busy_timeout"), "0");
    ck_assert_str_eq(query_value(h, "PRAGMA synchronous"), "0");

    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h));
    ck_assert_str_eq(query_value(h, "PRAGMA busy_timeout"),
                     apr_itoa(pool, RA_STORE_SQLITE_BUSY_TIMEOUT_MS));
    ck_assert_str_eq(query_value(h, "PRAGMA synchronous"), "2");
    close_db(h);
}
END_TEST

/* ---- ra_store_insert ---- */

START_TEST(insert_created_v1)
{
    const char *error = "(unset)";
    ra_partner_t p = { "p-1", "Display Name value", "https://example.com/onboardingUrl/",
                       "onboarding", "2016-12-31T23:58:36.6670033-08:00", NULL };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);

    ck_assert_int_eq(ra_store_insert(pool, &conn, &p, RA_VERSION_V1, &error), RA_STORE_CREATED);
    ck_assert_ptr_null(error);
    ck_assert_str_eq(column(h, "p-1", "display_name"), "Display Name value");
    ck_assert_str_eq(column(h, "p-1", "onboarding_url"), "https://example.com/onboardingUrl/");
    ck_assert_str_eq(column(h, "p-1", "onboarding_status"), "onboarding");
    ck_assert_str_eq(column(h, "p-1", "last_connection_date_time"),
                     "2016-12-31T23:58:36.6670033-08:00");
    ck_assert_str_eq(column(h, "p-1", "typeof(onboarding_request_expiry_date_time)"), "null");
    ck_assert_str_eq(column(h, "p-1", "api_version"), "v1.0");
    ck_assert_str_eq(column(h, "p-1", "created_date_time IS NOT NULL"), "1");
    close_db(h);
}
END_TEST

START_TEST(insert_nulls_and_beta)
{
    const char *error = "(unset)";
    ra_partner_t p = { "p-2", NULL, NULL, NULL, NULL, "2017-01-01T00:02:07.7573274-08:00" };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);

    ck_assert_int_eq(ra_store_insert(pool, &conn, &p, RA_VERSION_BETA, &error),
                     RA_STORE_CREATED);
    ck_assert_ptr_null(error);
    ck_assert_str_eq(column(h, "p-2", "typeof(display_name)"), "null");
    ck_assert_str_eq(column(h, "p-2", "typeof(onboarding_url)"), "null");
    ck_assert_str_eq(column(h, "p-2", "typeof(onboarding_status)"), "null");
    ck_assert_str_eq(column(h, "p-2", "typeof(last_connection_date_time)"), "null");
    ck_assert_str_eq(column(h, "p-2", "onboarding_request_expiry_date_time"),
                     "2017-01-01T00:02:07.7573274-08:00");
    ck_assert_str_eq(column(h, "p-2", "api_version"), "beta");
    close_db(h);
}
END_TEST

START_TEST(insert_conflict_keeps_row)
{
    const char *error = "(unset)";
    ra_partner_t first = { "dup", "first", NULL, "onboarded", NULL, NULL };
    ra_partner_t second = { "dup", "second", "https://other/", "notOnboarded",
                            "2016-12-31T23:58Z", "2017-01-01T00:00Z" };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);

    ck_assert_int_eq(ra_store_insert(pool, &conn, &first, RA_VERSION_V1, &error),
                     RA_STORE_CREATED);
    ck_assert_int_eq(ra_store_insert(pool, &conn, &second, RA_VERSION_BETA, &error),
                     RA_STORE_CONFLICT);
    ck_assert_ptr_null(error);
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM remote_assistance_partners"), "1");
    ck_assert_str_eq(column(h, "dup", "display_name"), "first");
    ck_assert_str_eq(column(h, "dup", "typeof(onboarding_url)"), "null");
    ck_assert_str_eq(column(h, "dup", "onboarding_status"), "onboarded");
    ck_assert_str_eq(column(h, "dup", "typeof(onboarding_request_expiry_date_time)"), "null");
    ck_assert_str_eq(column(h, "dup", "api_version"), "v1.0");

    /* the statement is still usable for another id */
    ra_partner_t third = { "other", NULL, NULL, NULL, NULL, NULL };
    ck_assert_int_eq(ra_store_insert(pool, &conn, &third, RA_VERSION_V1, &error),
                     RA_STORE_CREATED);
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM remote_assistance_partners"), "2");
    close_db(h);
}
END_TEST

START_TEST(insert_conflict_across_connections)
{
    const char *error = "(unset)";
    ra_partner_t p = { "shared", "one", NULL, NULL, NULL, NULL };
    ra_partner_t q = { "shared", "two", NULL, NULL, NULL, NULL };
    setup_db();
    apr_dbd_t *h1 = open_db(), *h2 = open_db();
    ra_store_conn_t c1 = make_conn(h1, 1), c2 = make_conn(h2, 1);
    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h1));
    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h2));

    ck_assert_int_eq(ra_store_insert(pool, &c1, &p, RA_VERSION_V1, &error), RA_STORE_CREATED);
    ck_assert_int_eq(ra_store_insert(pool, &c2, &q, RA_VERSION_V1, &error), RA_STORE_CONFLICT);
    /* committed: the first connection's row is visible to the second */
    ck_assert_str_eq(column(h2, "shared", "display_name"), "one");
    close_db(h1);
    close_db(h2);
}
END_TEST

START_TEST(insert_not_prepared_fails)
{
    const char *error = NULL;
    ra_partner_t p = { "np", NULL, NULL, NULL, NULL, NULL };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 0);

    ck_assert_int_eq(ra_store_insert(pool, &conn, &p, RA_VERSION_V1, &error), RA_STORE_FAILED);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, "not prepared"));
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM remote_assistance_partners"), "0");
    close_db(h);
}
END_TEST

START_TEST(insert_check_constraint_fails)
{
    const char *error = NULL;
    ra_partner_t p = { "bad-status", NULL, NULL, "Onboarding", NULL, NULL };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);

    ck_assert_int_eq(ra_store_insert(pool, &conn, &p, RA_VERSION_V1, &error), RA_STORE_FAILED);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strncmp(error, "insert: ", 8) == 0, "error: %s", error);
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM remote_assistance_partners"), "0");
    close_db(h);
}
END_TEST

START_TEST(insert_table_dropped_fails)
{
    const char *error = NULL;
    ra_partner_t p = { "gone", "x", NULL, NULL, NULL, NULL };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    apr_dbd_t *other = open_db();
    exec_sql(other, "DROP TABLE remote_assistance_partners");
    close_db(other);

    ck_assert_int_eq(ra_store_insert(pool, &conn, &p, RA_VERSION_V1, &error), RA_STORE_FAILED);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strncmp(error, "insert: ", 8) == 0, "error: %s", error);
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM sqlite_master WHERE name = "
                                    "'remote_assistance_partners'"), "0");
    close_db(h);
}
END_TEST

/* Another connection changes the schema without touching the table (an
 * administrator adds an index): the statement prepared earlier must still
 * insert. apr_dbd_sqlite3 prepares with the legacy sqlite3_prepare(), whose
 * statements are not recompiled after a schema change; ra_store_insert only
 * re-prepares for pgsql. */
START_TEST(insert_after_schema_change)
{
    const char *error = NULL;
    ra_partner_t p = { "after-index", "x", NULL, NULL, NULL, NULL };
    ra_partner_t q = { "after-index-2", "y", NULL, NULL, NULL, NULL };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h));
    apr_dbd_t *other = open_db();
    exec_sql(other, "CREATE INDEX partners_by_status ON remote_assistance_partners "
                    "(onboarding_status)");
    close_db(other);

    const char *error2 = NULL;
    ra_store_result_e first = ra_store_insert(pool, &conn, &p, RA_VERSION_V1, &error);
    /* not a one-off either: the next insert on the connection must work too */
    ra_store_result_e second = ra_store_insert(pool, &conn, &q, RA_VERSION_V1, &error2);
    ck_assert_msg(first == RA_STORE_CREATED && second == RA_STORE_CREATED,
                  "inserts after CREATE INDEX on another connection: %s (%s), then %s (%s)",
                  first == RA_STORE_CREATED ? "CREATED" : first == RA_STORE_CONFLICT
                  ? "CONFLICT" : "FAILED", error ? error : "no error",
                  second == RA_STORE_CREATED ? "CREATED" : second == RA_STORE_CONFLICT
                  ? "CONFLICT" : "FAILED", error2 ? error2 : "no error");
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM remote_assistance_partners"), "2");
    close_db(h);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("setup");
    tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, schema_matches_file);
    tcase_add_test(tc, driver_supported);
    tcase_add_test(tc, setup_creates_table_and_wal);
    tcase_add_test(tc, setup_twice_keeps_rows);
    tcase_add_test(tc, setup_missing_directory_unreachable);
    tcase_add_test(tc, setup_not_a_database_broken);
    tcase_add_test(tc, setup_unknown_driver_broken);
    tcase_add_test(tc, connection_setup_pragmas);
    suite_add_tcase(s, tc);

    tc = tcase_create("insert");
    tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, insert_created_v1);
    tcase_add_test(tc, insert_nulls_and_beta);
    tcase_add_test(tc, insert_conflict_keeps_row);
    tcase_add_test(tc, insert_conflict_across_connections);
    tcase_add_test(tc, insert_not_prepared_fails);
    tcase_add_test(tc, insert_check_constraint_fails);
    tcase_add_test(tc, insert_table_dropped_fails);
    tcase_add_test(tc, insert_after_schema_change);
    suite_add_tcase(s, tc);
    return s;
}
