/* SQLite databases for the storage suites (schema, store): a directory per
 * test, connections the test pool closes, and quick looks at the rows. */
#include "store_fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "ra_schema.h"

const apr_dbd_driver_t *driver;
/* base: made by the runner (unchecked fixture), removed when the test case
 * ends even when a forked test stopped early; dir: one per test, inside it */
static char base[64];
char dir[128];
const char *db_path;

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

/* The connections make_conn made, so that closing a handle first releases
 * what the store keeps prepared on it (ra_store_connection_release), as
 * mod_dbd's pool cleanup order does in httpd. */
static ra_store_conn_t made[16];
static int made_count;

static void setup(void)
{
    made_count = 0;
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
    for (int i = 0; i < made_count; i++) {
        if (made[i].handle == handle) {
            ra_store_connection_release(&made[i]);
            made[i].handle = NULL;
        }
    }
    return apr_dbd_close(driver, handle);
}

apr_dbd_t *open_db(void)
{
    apr_dbd_t *handle = NULL;
    const char *error = NULL;
    int rv = apr_dbd_open_ex(driver, pool, db_path, &handle, &error);
    ck_assert_msg(rv == APR_SUCCESS, "cannot open %s: %s", db_path, error ? error : "?");
    apr_pool_cleanup_register(pool, handle, db_cleanup, apr_pool_cleanup_null);
    return handle;
}

void close_db(apr_dbd_t *handle)
{
    apr_pool_cleanup_run(pool, handle, db_cleanup);
}

const char *query_value(apr_dbd_t *handle, const char *sql)
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

const char *query_list(apr_dbd_t *handle, const char *sql)
{
    return query_value(handle, apr_psprintf(pool, "SELECT group_concat(v, ',') FROM (%s)", sql));
}

void exec_sql(apr_dbd_t *handle, const char *sql)
{
    int nrows = 0;
    int rv = apr_dbd_query(driver, handle, &nrows, sql);
    ck_assert_msg(rv == 0, "%s: %s", sql, apr_dbd_error(driver, handle, rv));
}

void setup_db(void)
{
    const char *error = "(unset)";
    ra_schema_outcome_t outcome;
    ck_assert_int_eq(ra_schema_setup(pool, "sqlite3", db_path, NULL, &outcome, &error),
                     RA_SCHEMA_READY);
    ck_assert_ptr_null(error);
    ck_assert_int_eq(outcome.legacy_rows, -1);
    ck_assert_int_eq(outcome.level, ra_schema_level());
}

ra_store_conn_t make_conn(apr_dbd_t *handle, int prepare)
{
    ra_store_conn_t conn = { driver, handle, pool, apr_hash_make(pool), 0 };
    if (made_count < (int)COUNT_OF(made)) {
        made[made_count++] = conn;
    }
    if (prepare) {
        const char *error = ra_store_prepare_statements(&conn);
        ck_assert_msg(!error, "%s", error);
    }
    return conn;
}

ra_partner_t partner(const char *id, const char *name, const char *url,
                     const char *status, const char *last, const char *expiry)
{
    ra_partner_t p = { .values = { id, name, url, status, last, expiry },
                       .etag = ra_entity_new_etag(pool) };
    return p;
}

void insert(const ra_store_conn_t *conn, const char *tenant, const ra_partner_t *p)
{
    const char *error = "(unset)";
    ra_store_result_e result = ra_store_insert(pool, conn, tenant, p, RA_VERSION_BETA, &error);
    ck_assert_msg(result == RA_STORE_DONE, "insert %s: %d (%s)", p->values[RA_PROP_ID],
                  (int)result, error ? error : "no error");
}

const char *column(apr_dbd_t *handle, const char *tenant, const char *id,
                   const char *expr)
{
    return query_value(handle, apr_psprintf(pool, "SELECT %s FROM remote_assistance_partners "
                                            "WHERE tenant_id = '%s' AND id = '%s'", expr,
                                            tenant, id));
}

const char *row_count(apr_dbd_t *handle)
{
    return query_value(handle, "SELECT count(*) FROM remote_assistance_partners");
}

int table_exists(apr_dbd_t *handle, const char *name)
{
    return atoi(query_value(handle, apr_psprintf(pool, "SELECT count(*) FROM sqlite_master "
                                                 "WHERE type = 'table' AND name = '%s'",
                                                 name)));
}

void parse(ra_version_e version, const char *args, ra_query_t *query)
{
    const char *message = NULL;
    ck_assert_msg(ra_query_parse(pool, version, RA_QUERY_LIST, args, query, &message),
                  "%s: %s", args, message);
}

TCase *db_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return tc;
}

static void collect_row(const ra_partner_t *partner, void *baton)
{
    apr_array_header_t *rows = baton;
    ra_partner_t *copy = apr_array_push(rows);
    memset(copy, 0, sizeof(*copy));
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        copy->values[i] = partner->values[i] ? apr_pstrdup(rows->pool, partner->values[i]) : NULL;
    }
    copy->etag = apr_pstrdup(rows->pool, partner->etag);
}

ra_store_result_e list_rows(apr_pool_t *p, const ra_store_conn_t *conn, const char *tenant,
                            const ra_query_t *query, apr_int64_t limit, apr_int64_t offset,
                            apr_array_header_t **rows, const char **error)
{
    *rows = apr_array_make(p, 16, sizeof(ra_partner_t));
    return ra_store_list(p, conn, tenant, query, limit, offset, collect_row, *rows, error);
}

const ra_store_row_t *row_of(apr_pool_t *p, const char *tenant, const char *id,
                             const char *name)
{
    ra_store_row_t *row = apr_palloc(p, sizeof(*row));
    ra_partner_t *partner = apr_palloc(p, sizeof(*partner));
    *partner = (ra_partner_t){ .values = { id, name, NULL, "notOnboarded", UNSET, UNSET },
                               .etag = ra_entity_new_etag(p) };
    *row = (ra_store_row_t){ tenant, partner, RA_VERSION_V1, NULL };
    return row;
}
