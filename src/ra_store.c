/* Partner storage over apr_dbd (SQLite and PostgreSQL drivers). */
#include "ra_store.h"

#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

static const char schema_sql[] =
#include "ra_schema.h"
    ;

const char *ra_store_schema_sql(void)
{
    return schema_sql;
}

int ra_store_driver_supported(const char *driver_name)
{
    return !strcmp(driver_name, "sqlite3") || !strcmp(driver_name, "pgsql");
}

/* Runs a statement that may return rows, reading them all so the connection
 * is left idle. *first gets the first column of the first row, if wanted. */
static int select_all(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                      apr_dbd_t *handle, const char *sql, const char **first)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rv = apr_dbd_select(driver, pool, handle, &res, sql, 0);

    if (rv != 0) {
        return rv;
    }
    while (apr_dbd_get_row(driver, pool, res, &row, -1) == 0) {
        if (first && !*first) {
            *first = apr_pstrdup(pool, apr_dbd_get_entry(driver, row, 0));
        }
    }
    return 0;
}

static const char *db_error(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                            apr_dbd_t *handle, int rv, const char *what)
{
    const char *text = apr_dbd_error(driver, handle, rv);
    return apr_psprintf(pool, "%s: %s", what, text ? text : "unknown error");
}

ra_store_setup_e ra_store_setup_database(apr_pool_t *pool, const char *driver_name,
                                         const char *params, const char **error)
{
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    const char *open_error = NULL;
    const char *mode = NULL;
    int nrows, rv;
    ra_store_setup_e result = RA_STORE_READY;

    *error = NULL;
    rv = apr_dbd_get_driver(pool, driver_name, &driver);
    if (rv != APR_SUCCESS) {
        *error = apr_psprintf(pool, "cannot load the apr_dbd %s driver", driver_name);
        return RA_STORE_BROKEN;
    }
    rv = apr_dbd_open_ex(driver, pool, params, &handle, &open_error);
    if (rv != APR_SUCCESS) {
        *error = apr_psprintf(pool, "cannot connect: %s",
                              open_error ? open_error : "no reason given");
        return RA_STORE_UNREACHABLE;
    }
    if (!strcmp(driver_name, "sqlite3")
        && (select_all(pool, driver, handle, "PRAGMA journal_mode=WAL", &mode) != 0
            || !mode || strcasecmp(mode, "wal"))) {
        *error = apr_psprintf(pool, "cannot switch to WAL (journal mode %s): %s",
                              mode ? mode : "unknown", apr_dbd_error(driver, handle, 0));
        result = RA_STORE_BROKEN;
    }
    /* The CREATE may fail where the table exists but the user may not create
     * (or another node created it a moment ago); what matters is the probe. */
    rv = apr_dbd_query(driver, handle, &nrows, schema_sql);
    const char *create_error = rv ? db_error(pool, driver, handle, rv, "create table") : NULL;
    rv = select_all(pool, driver, handle,
                    "SELECT id FROM remote_assistance_partners WHERE 1 = 0", NULL);
    if (rv != 0 && result == RA_STORE_READY) {
        *error = create_error ? create_error
                              : db_error(pool, driver, handle, rv, "table check");
        result = RA_STORE_BROKEN;
    }
    apr_dbd_close(driver, handle);
    return result;
}

const char *ra_store_connection_setup(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                                      apr_dbd_t *handle)
{
    static const char busy[] = "PRAGMA busy_timeout = "
                               APR_STRINGIFY(RA_STORE_SQLITE_BUSY_TIMEOUT_MS);
    static const char sync[] = "PRAGMA synchronous = FULL";

    if (strcmp(apr_dbd_name(driver), "sqlite3")) {
        return NULL;
    }
    int rv = select_all(pool, driver, handle, busy, NULL);
    if (rv == 0) {
        rv = select_all(pool, driver, handle, sync, NULL);
    }
    return rv ? db_error(pool, driver, handle, rv, "connection setup") : NULL;
}

static int run_insert(apr_pool_t *pool, const ra_store_conn_t *conn,
                      apr_dbd_prepared_t *stmt, const char **values, int *nrows)
{
    return apr_dbd_pquery(conn->driver, pool, conn->handle, nrows, stmt, 7, values);
}

ra_store_result_e ra_store_insert(apr_pool_t *pool, const ra_store_conn_t *conn,
                                  const ra_partner_t *partner, ra_version_e version,
                                  const char **error)
{
    apr_dbd_prepared_t *stmt = apr_hash_get(conn->prepared, RA_STORE_INSERT_LABEL,
                                            APR_HASH_KEY_STRING);
    const char *values[] = { partner->id, partner->display_name, partner->onboarding_url,
                             partner->onboarding_status, partner->last_connection_date_time,
                             partner->onboarding_request_expiry_date_time,
                             ra_version_name(version) };
    int nrows = 0;

    *error = NULL;
    if (!stmt) {
        *error = "the insert statement is not prepared on this connection";
        return RA_STORE_FAILED;
    }
    int rv = run_insert(pool, conn, stmt, values, &nrows);
    if (rv != 0 && !strcmp(apr_dbd_name(conn->driver), "pgsql")) {
        /* PQreset after a server restart drops server-side prepared
         * statements and mod_dbd does not prepare them again: do it here,
         * into the same statement, and retry once. If the statement still
         * existed the PREPARE fails and the first error stands. */
        const char *first_error = db_error(pool, conn->driver, conn->handle, rv, "insert");
        if (apr_dbd_prepare(conn->driver, conn->pool, conn->handle, RA_STORE_INSERT_SQL,
                            RA_STORE_INSERT_LABEL, &stmt) == 0) {
            rv = run_insert(pool, conn, stmt, values, &nrows);
        }
        if (rv != 0) {
            *error = first_error;
            return RA_STORE_FAILED;
        }
    }
    if (rv != 0) {
        *error = db_error(pool, conn->driver, conn->handle, rv, "insert");
        return RA_STORE_FAILED;
    }
    return nrows == 0 ? RA_STORE_CONFLICT : RA_STORE_CREATED;
}
