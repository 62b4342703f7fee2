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
    if (!strcmp(driver_name, "sqlite3")) {
        /* httpd's children may be writing (a graceful restart): wait for
         * them rather than fail, and change the journal only when needed */
        select_all(pool, driver, handle, "PRAGMA busy_timeout = "
                   APR_STRINGIFY(RA_STORE_SETUP_BUSY_TIMEOUT_MS), NULL);
        if (select_all(pool, driver, handle, "PRAGMA journal_mode", &mode) == 0 && mode
            && strcasecmp(mode, "wal")) {
            mode = NULL;
            select_all(pool, driver, handle, "PRAGMA journal_mode=WAL", &mode);
        }
        if (!mode || strcasecmp(mode, "wal")) {
            *error = apr_psprintf(pool, "cannot switch to WAL (journal mode %s): %s",
                                  mode ? mode : "unknown", apr_dbd_error(driver, handle, 0));
            result = RA_STORE_BROKEN;
        }
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

/* apr_dbd_sqlite3 returns SQLite result codes. It prepares with the legacy
 * sqlite3_prepare(), whose statements are not recompiled after a schema
 * change (even a new index elsewhere): they fail with SQLITE_ERROR, then
 * SQLITE_SCHEMA, until prepared again. */
#define SQLITE_RC_ERROR 1
#define SQLITE_RC_SCHEMA 17

/* Whether a failed insert may be due to a statement the connection lost
 * or outgrew, so that preparing it again and retrying once is worthwhile. */
static int statement_may_be_stale(const apr_dbd_driver_t *driver, int rv)
{
    if (!strcmp(apr_dbd_name(driver), "pgsql")) {
        /* PQreset after a server restart drops server-side prepared
         * statements and mod_dbd does not prepare them again. If it still
         * exists, PREPARE fails and the first error stands. */
        return 1;
    }
    return rv == SQLITE_RC_ERROR || rv == SQLITE_RC_SCHEMA;
}

/* Prepares the insert again on this connection and keeps it where mod_dbd
 * looks it up: the hash belongs to the connection, which this request holds. */
static apr_dbd_prepared_t *prepare_again(const ra_store_conn_t *conn,
                                         apr_dbd_prepared_t *stmt)
{
    if (apr_dbd_prepare(conn->driver, conn->pool, conn->handle, RA_STORE_INSERT_SQL,
                        RA_STORE_INSERT_LABEL, &stmt) != 0) {
        return NULL;
    }
    apr_hash_set(conn->prepared, RA_STORE_INSERT_LABEL, APR_HASH_KEY_STRING, stmt);
    return stmt;
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
    int rv = apr_dbd_pquery(conn->driver, pool, conn->handle, &nrows, stmt, 7, values);
    if (rv != 0 && statement_may_be_stale(conn->driver, rv)) {
        const char *first_error = db_error(pool, conn->driver, conn->handle, rv, "insert");
        apr_dbd_prepared_t *fresh = prepare_again(conn, stmt);
        rv = fresh ? apr_dbd_pquery(conn->driver, pool, conn->handle, &nrows, fresh, 7, values)
                   : rv;
        if (rv != 0 && !fresh) {
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
