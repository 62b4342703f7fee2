/* Partner storage over apr_dbd (SQLite and PostgreSQL drivers). */
#include "ra_store.h"

#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include <sqlite3.h>

#include "ra_dbd.h"
#include "ra_schema.h"
#include "ra_sql.h"

#define TABLE RA_SCHEMA_TABLE
#define SELECTED RA_SCHEMA_SELECTED
#define SELECTED_COUNT RA_SCHEMA_SELECTED_COUNT

static const struct {
    const char *label;
    const char *sql;
} statements[RA_STMT_KINDS] = {
    /* ON CONFLICT DO NOTHING reports a taken id as zero rows instead of an
     * error whose text would differ per driver */
    [RA_STMT_INSERT] = { "remoteassist_insert",
        "INSERT INTO " TABLE " (tenant_id, id, display_name, onboarding_url, "
        "onboarding_status, last_connection_date_time, last_connection_ticks, "
        "onboarding_request_expiry_date_time, onboarding_request_expiry_ticks, etag, "
        "api_version) VALUES (%s, %s, %s, %s, %s, %s, %lld, %s, %lld, %s, %s) "
        "ON CONFLICT (tenant_id, id) DO NOTHING" },
    [RA_STMT_GET] = { "remoteassist_get",
        "SELECT " SELECTED " FROM " TABLE " WHERE tenant_id = %s AND id = %s" },
    [RA_STMT_REPLACE] = { "remoteassist_replace",
        "UPDATE " TABLE " SET display_name = %s, onboarding_url = %s, "
        "onboarding_status = %s, last_connection_date_time = %s, "
        "last_connection_ticks = %lld, onboarding_request_expiry_date_time = %s, "
        "onboarding_request_expiry_ticks = %lld, etag = %s "
        "WHERE tenant_id = %s AND id = %s AND etag = %s" },
    [RA_STMT_DELETE] = { "remoteassist_delete",
        "DELETE FROM " TABLE " WHERE tenant_id = %s AND id = %s" },
    [RA_STMT_DELETE_IF] = { "remoteassist_delete_if",
        "DELETE FROM " TABLE " WHERE tenant_id = %s AND id = %s AND etag = %s" },
};

const char *ra_store_statement_label(ra_stmt_e stmt)
{
    return statements[stmt].label;
}

const char *ra_store_statement_sql(ra_stmt_e stmt)
{
    return statements[stmt].sql;
}

static ra_dialect_e dialect_of(const apr_dbd_driver_t *driver)
{
    return ra_dbd_dialect(apr_dbd_name(driver));
}

/* Column n of row, NULL for SQL NULL: apr_dbd_get_entry cannot tell, as
 * apr_dbd_pgsql returns PQgetvalue's "" for a NULL; apr_dbd_datum_get says
 * APR_ENOENT on both drivers. */
static const char *entry(const apr_dbd_driver_t *driver, apr_dbd_row_t *row, int n)
{
    char *value = NULL;
    return apr_dbd_datum_get(driver, row, n, APR_DBD_TYPE_STRING, &value) == APR_SUCCESS
           ? value : NULL;
}

/* ---------------------------------------------------------- connections */

const char *ra_store_connection_setup(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                                      apr_dbd_t *handle)
{
    static const char busy[] = "PRAGMA busy_timeout = "
                               APR_STRINGIFY(RA_STORE_SQLITE_BUSY_TIMEOUT_MS);
    static const char sync[] = "PRAGMA synchronous = FULL";

    if (dialect_of(driver) != RA_DIALECT_SQLITE) {
        return NULL;
    }
    int rv = ra_dbd_select_all(pool, driver, handle, busy, NULL);
    if (rv == 0) {
        rv = ra_dbd_select_all(pool, driver, handle, sync, NULL);
    }
    return rv ? ra_dbd_error(pool, driver, handle, rv, "connection setup") : NULL;
}

/* ---------------------------------------------------- fixed statements */

/* Whether a failed statement may be one the connection lost or outgrew, so
 * that preparing it again and retrying is worthwhile; attempt counts the
 * retries so far. Nothing else is retried: on SQLite each new copy stays
 * linked to the connection until it closes. */
static int statement_may_be_stale(const ra_store_conn_t *conn, int rv, int attempt)
{
    if (dialect_of(conn->driver) == RA_DIALECT_PGSQL) {
        /* PQreset after a server restart drops server-side prepared
         * statements and mod_dbd does not prepare them again. If it still
         * exists, PREPARE fails and the first error stands. */
        return attempt == 0;
    }
    /* apr_dbd_sqlite3 prepares with the legacy sqlite3_prepare(), whose
     * statements are not recompiled after a schema change (even a new index
     * elsewhere) or a PRAGMA that expired them: they fail with SQLITE_ERROR,
     * then SQLITE_SCHEMA, until prepared again, leaving no code or
     * SQLITE_SCHEMA on the connection. A lasting failure fails with
     * SQLITE_ERROR too, but leaves its own (SQLITE_FULL, SQLITE_READONLY). */
    int code = sqlite3_errcode(apr_dbd_native_handle(conn->driver, conn->handle)) & 0xff;
    return (rv == SQLITE_ERROR || rv == SQLITE_SCHEMA)
           && (code == SQLITE_OK || code == SQLITE_ERROR || code == SQLITE_SCHEMA);
}

/* Prepares a statement (again) on this connection and keeps it where mod_dbd
 * keeps a connection's statements: the hash belongs to the connection, which
 * this request (or mod_dbd's hook) holds. *rv gets the driver's code. */
static apr_dbd_prepared_t *prepare(const ra_store_conn_t *conn, ra_stmt_e which,
                                   apr_dbd_prepared_t *stmt, int *rv)
{
    *rv = apr_dbd_prepare(conn->driver, conn->pool, conn->handle, statements[which].sql,
                          statements[which].label, &stmt);
    if (*rv != 0) {
        return NULL;
    }
    apr_hash_set(conn->prepared, statements[which].label, APR_HASH_KEY_STRING, stmt);
    return stmt;
}

const char *ra_store_prepare_statements(const ra_store_conn_t *conn)
{
    int rv;
    for (int i = 0; i < RA_STMT_KINDS; i++) {
        if (!prepare(conn, (ra_stmt_e)i, NULL, &rv)) {
            return ra_dbd_error(conn->pool, conn->driver, conn->handle, rv,
                                     apr_pstrcat(conn->pool, "prepare ", statements[i].label,
                                                 NULL));
        }
    }
    return NULL;
}

/* How often a failed statement is prepared again. Twice, for SQLite: a
 * statement that the connection expired (a PRAGMA from DBDInitSQL after the
 * statements were prepared does) fails before SQLite has looked at the
 * schema, so after another connection changed it (a trigger, an index) the
 * first new copy is compiled against the old schema and fails once more,
 * which makes SQLite read the new one. */
#define STALE_RETRIES 2

/* Runs a fixed statement: a write (res NULL: *nrows gets the rows changed)
 * or a read (all rows buffered in *res). Prepares it again after a failure
 * that may mean it is stale; the error reported is the first one. */
static int execute(apr_pool_t *pool, const ra_store_conn_t *conn, ra_stmt_e which,
                   const void **args, int *nrows, apr_dbd_results_t **res,
                   const char **error)
{
    apr_dbd_prepared_t *stmt = apr_hash_get(conn->prepared, statements[which].label,
                                            APR_HASH_KEY_STRING);
    const char *first_error = NULL;
    int rv;

    if (!stmt && !(stmt = prepare(conn, which, NULL, &rv))) {
        *error = ra_dbd_error(pool, conn->driver, conn->handle, rv,
                                   apr_pstrcat(pool, "prepare ", statements[which].label, NULL));
        return 0;
    }
    for (int attempt = 0;; attempt++) {
        rv = res ? apr_dbd_pbselect(conn->driver, pool, conn->handle, res, stmt, 1, args)
                 : apr_dbd_pbquery(conn->driver, pool, conn->handle, nrows, stmt, args);
        if (rv == 0) {
            return 1;
        }
        if (!first_error) {
            first_error = ra_dbd_error(pool, conn->driver, conn->handle, rv,
                                            statements[which].label);
        }
        if (attempt == STALE_RETRIES || !statement_may_be_stale(conn, rv, attempt)
            || !(stmt = prepare(conn, which, stmt, &rv))) {
            *error = first_error;
            return 0;
        }
    }
}

/* The two sort ticks of a partner's DateTimeOffsets; 0 if one is invalid. */
static int partner_ticks(const ra_partner_t *p, apr_int64_t *last, apr_int64_t *expiry)
{
    return ra_entity_datetime_parse(p->values[RA_PROP_LAST_CONNECTION], last)
           && ra_entity_datetime_parse(p->values[RA_PROP_EXPIRY], expiry);
}

ra_store_result_e ra_store_insert(apr_pool_t *pool, const ra_store_conn_t *conn,
                                  const char *tenant, const ra_partner_t *partner,
                                  ra_version_e version, const char **error)
{
    apr_int64_t last, expiry;
    int nrows = 0;

    *error = NULL;
    if (!partner_ticks(partner, &last, &expiry)) {
        *error = "a date-time is not an Edm.DateTimeOffset";
        return RA_STORE_FAILED;
    }
    const void *args[] = { tenant, partner->values[RA_PROP_ID],
                           partner->values[RA_PROP_DISPLAY_NAME],
                           partner->values[RA_PROP_ONBOARDING_URL],
                           partner->values[RA_PROP_ONBOARDING_STATUS],
                           partner->values[RA_PROP_LAST_CONNECTION], &last,
                           partner->values[RA_PROP_EXPIRY], &expiry, partner->etag,
                           ra_version_name(version) };
    if (!execute(pool, conn, RA_STMT_INSERT, args, &nrows, NULL, error)) {
        return RA_STORE_FAILED;
    }
    return nrows == 0 ? RA_STORE_CONFLICT : RA_STORE_DONE;
}

/* Whether the tenant's row id carries etag: then it is the row a create
 * with that ETag wrote (ETags are random per write). */
static int stored_with_etag(apr_pool_t *pool, const ra_store_conn_t *conn,
                            const ra_store_row_t *row)
{
    ra_partner_t stored;
    const char *error;
    return ra_store_get(pool, conn, row->tenant, row->partner->values[RA_PROP_ID], &stored,
                        &error) == RA_STORE_DONE
           && !strcmp(stored.etag, row->partner->etag);
}

static int select_generated(apr_pool_t *pool, const ra_store_conn_t *conn,
                            const ra_sql_t *sql, int ncols,
                            void (*each)(apr_pool_t *, const char *const *, void *),
                            void *baton, const char **error);

/* One statement for the whole batch: a multi-row INSERT ... ON CONFLICT DO
 * NOTHING RETURNING etag. It is atomic, one round trip, one commit; the
 * ETags it returns (random per row) are the rows it created, and a row it
 * skipped had its id taken, by the tenant or by an earlier row of the batch.
 * NULL when a row's date-times cannot be sorted (never, once validated). */
static ra_sql_t *batch_insert_sql(apr_pool_t *pool, const ra_store_row_t *const *rows, int n)
{
    ra_sql_t *sql = apr_pcalloc(pool, sizeof(*sql));
    sql->params = apr_array_make(pool, 11 * n, sizeof(ra_sql_param_t));
    sql->text = "INSERT INTO " TABLE " (tenant_id, id, display_name, onboarding_url, "
                "onboarding_status, last_connection_date_time, last_connection_ticks, "
                "onboarding_request_expiry_date_time, onboarding_request_expiry_ticks, etag, "
                "api_version) VALUES ";
    for (int i = 0; i < n; i++) {
        const ra_partner_t *p = rows[i]->partner;
        apr_int64_t last, expiry;
        if (!partner_ticks(p, &last, &expiry)) {
            return NULL;
        }
        const char *texts[] = { rows[i]->tenant, p->values[RA_PROP_ID],
                                p->values[RA_PROP_DISPLAY_NAME],
                                p->values[RA_PROP_ONBOARDING_URL],
                                p->values[RA_PROP_ONBOARDING_STATUS],
                                p->values[RA_PROP_LAST_CONNECTION] };
        ra_sql_append(sql, i ? ", (" : "(");
        for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
            ra_sql_append_param(sql, texts[t], NULL);
            ra_sql_append(sql, ", ");
        }
        ra_sql_append_param(sql, NULL, &last);
        ra_sql_append(sql, ", ");
        ra_sql_append_param(sql, p->values[RA_PROP_EXPIRY], NULL);
        ra_sql_append(sql, ", ");
        ra_sql_append_param(sql, NULL, &expiry);
        ra_sql_append(sql, ", ");
        ra_sql_append_param(sql, p->etag, NULL);
        ra_sql_append(sql, ", ");
        ra_sql_append_param(sql, ra_version_name(rows[i]->version), NULL);
        ra_sql_append(sql, ")");
    }
    ra_sql_append(sql, " ON CONFLICT (tenant_id, id) DO NOTHING RETURNING etag");
    return sql;
}

static void created_etag(apr_pool_t *pool, const char *const *values, void *baton)
{
    apr_hash_t *created = baton;
    if (values[0]) {
        apr_hash_set(created, apr_pstrdup(pool, values[0]), APR_HASH_KEY_STRING, "");
    }
}

/* Whether the last statement on an SQLite connection failed because another
 * writer held the database past the busy timeout: it wrote nothing. */
static int sqlite_busy(const ra_store_conn_t *conn)
{
    if (dialect_of(conn->driver) != RA_DIALECT_SQLITE) {
        return 0;
    }
    int rc = sqlite3_errcode(apr_dbd_native_handle(conn->driver, conn->handle)) & 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

void ra_store_insert_batch(apr_pool_t *pool, const ra_store_conn_t *conn,
                           const ra_store_row_t *const *rows, int n,
                           ra_store_result_e *results, const char **errors)
{
    apr_hash_t *created = apr_hash_make(pool);
    ra_sql_t *sql = n > 1 ? batch_insert_sql(pool, rows, n) : NULL;
    apr_time_t give_up = apr_time_now() + RA_STORE_SQLITE_WRITE_PATIENCE;
    const char *error = NULL;
    int inserted = 0;

    /* SQLite busy: the batch waits as long as one statement through
     * apr_dbd_sqlite3 would, trying again after each busy timeout */
    while (sql && !(inserted = select_generated(pool, conn, sql, 1, created_etag, created,
                                                &error))
           && sqlite_busy(conn) && apr_time_now() < give_up) {
        apr_hash_clear(created);
    }
    if (inserted) {
        for (int i = 0; i < n; i++) {
            results[i] = apr_hash_get(created, rows[i]->partner->etag, APR_HASH_KEY_STRING)
                         ? RA_STORE_DONE : RA_STORE_CONFLICT;
            errors[i] = NULL;
        }
        return;
    }
    if (sql && sqlite_busy(conn)) {
        /* one by one, each row would wait as long again, while this leader
         * holds the writer lock of every child */
        for (int i = 0; i < n; i++) {
            results[i] = RA_STORE_FAILED;
            errors[i] = error;
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        results[i] = ra_store_insert(pool, conn, rows[i]->tenant, rows[i]->partner,
                                     rows[i]->version, &errors[i]);
        if (results[i] == RA_STORE_CONFLICT && n > 1 && stored_with_etag(pool, conn, rows[i])) {
            results[i] = RA_STORE_DONE;
        }
    }
}

/* A row of SELECTED as a partner; values are copied into pool. */
static void partner_from_values(apr_pool_t *pool, const char *const *values,
                                ra_partner_t *partner)
{
    memset(partner, 0, sizeof(*partner));
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        partner->values[i] = values[i] ? apr_pstrdup(pool, values[i]) : NULL;
    }
    partner->etag = apr_pstrdup(pool, values[RA_PROP_COUNT] ? values[RA_PROP_COUNT] : "");
}

ra_store_result_e ra_store_get(apr_pool_t *pool, const ra_store_conn_t *conn,
                               const char *tenant, const char *id, ra_partner_t *partner,
                               const char **error)
{
    const void *args[] = { tenant, id };
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    ra_store_result_e result = RA_STORE_MISSING;

    *error = NULL;
    if (!execute(pool, conn, RA_STMT_GET, args, NULL, &res, error)) {
        return RA_STORE_FAILED;
    }
    while (apr_dbd_get_row(conn->driver, pool, res, &row, -1) == 0) {
        const char *values[SELECTED_COUNT];
        for (int i = 0; i < SELECTED_COUNT; i++) {
            values[i] = entry(conn->driver, row, i);
        }
        partner_from_values(pool, values, partner);
        result = RA_STORE_DONE;
    }
    return result;
}

ra_store_result_e ra_store_replace(apr_pool_t *pool, const ra_store_conn_t *conn,
                                   const char *tenant, const ra_partner_t *partner,
                                   const char *expected_etag, const char **error)
{
    apr_int64_t last, expiry;
    int nrows = 0;

    *error = NULL;
    if (!partner_ticks(partner, &last, &expiry)) {
        *error = "a date-time is not an Edm.DateTimeOffset";
        return RA_STORE_FAILED;
    }
    const void *args[] = { partner->values[RA_PROP_DISPLAY_NAME],
                           partner->values[RA_PROP_ONBOARDING_URL],
                           partner->values[RA_PROP_ONBOARDING_STATUS],
                           partner->values[RA_PROP_LAST_CONNECTION], &last,
                           partner->values[RA_PROP_EXPIRY], &expiry, partner->etag,
                           tenant, partner->values[RA_PROP_ID], expected_etag };
    if (!execute(pool, conn, RA_STMT_REPLACE, args, &nrows, NULL, error)) {
        return RA_STORE_FAILED;
    }
    return nrows == 0 ? RA_STORE_MISSING : RA_STORE_DONE;
}

ra_store_result_e ra_store_delete(apr_pool_t *pool, const ra_store_conn_t *conn,
                                  const char *tenant, const char *id,
                                  const char *expected_etag, const char **error)
{
    const void *args[] = { tenant, id, expected_etag };
    int nrows = 0;

    *error = NULL;
    if (!execute(pool, conn, expected_etag ? RA_STMT_DELETE_IF : RA_STMT_DELETE, args,
                 &nrows, NULL, error)) {
        return RA_STORE_FAILED;
    }
    return nrows == 0 ? RA_STORE_MISSING : RA_STORE_DONE;
}

/* ------------------------------------------------ running generated SQL */

typedef void (*row_fn)(apr_pool_t *pool, const char *const *values, void *baton);

/* PostgreSQL: apr_dbd with no label runs the text through PQexecParams, so
 * nothing is prepared on the server and the statement lives in pool. */
static int select_apr_dbd(apr_pool_t *pool, const ra_store_conn_t *conn, const ra_sql_t *sql,
                          int ncols, row_fn each, void *baton, const char **error)
{
    apr_dbd_prepared_t *stmt = NULL;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const void **args = apr_pcalloc(pool, sizeof(void *) * (size_t)(sql->params->nelts + 1));
    const char **values = apr_pcalloc(pool, sizeof(char *) * (size_t)ncols);

    for (int i = 0; i < sql->params->nelts; i++) {
        ra_sql_param_t *param = &APR_ARRAY_IDX(sql->params, i, ra_sql_param_t);
        if (param->is_number) {
            apr_int64_t *number = apr_palloc(pool, sizeof(*number));
            *number = param->number;
            args[i] = number;
        }
        else {
            args[i] = param->text;
        }
    }
    int rv = apr_dbd_prepare(conn->driver, pool, conn->handle, sql->text, NULL, &stmt);
    if (rv == 0) {
        rv = apr_dbd_pbselect(conn->driver, pool, conn->handle, &res, stmt, 1, args);
    }
    if (rv != 0) {
        *error = ra_dbd_error(pool, conn->driver, conn->handle, rv, "select");
        return 0;
    }
    while (apr_dbd_get_row(conn->driver, pool, res, &row, -1) == 0) {
        for (int i = 0; i < ncols; i++) {
            values[i] = entry(conn->driver, row, i);
        }
        each(pool, values, baton);
    }
    return 1;
}

/* PostgreSQL with a bound: the select runs in a transaction of its own whose
 * statement_timeout is the bound (SET LOCAL). A session-wide SET would be
 * lost when libpq's PQreset reconnects a pooled connection (apr_dbd_pgsql
 * does on a failed check), would outlive this connection's use behind a
 * pooler, and would bound the writes too; SET LOCAL ends with its own
 * transaction. It costs two round trips (one for BEGIN and SET LOCAL, one
 * for the COMMIT). A cancelled select is told
 * from other failures by the time it took (libpq's SQLSTATE 57014 does not
 * reach apr_dbd's callers, and its message is localised): a failure after the
 * bound on a connection that still commits. */
static ra_store_result_e select_pgsql(apr_pool_t *pool, const ra_store_conn_t *conn,
                                      const ra_sql_t *sql, apr_interval_time_t bound,
                                      int ncols, row_fn each, void *baton, const char **error)
{
    apr_time_t start = apr_time_now();
    int nrows;

    if (bound <= 0) {
        return select_apr_dbd(pool, conn, sql, ncols, each, baton, error)
               ? RA_STORE_DONE : RA_STORE_FAILED;
    }
    int rv = apr_dbd_query(conn->driver, conn->handle, &nrows,
                           apr_psprintf(pool, "BEGIN; SET LOCAL statement_timeout = %"
                                        APR_TIME_T_FMT, apr_time_as_msec(bound)));
    if (rv != 0) {
        *error = ra_dbd_error(pool, conn->driver, conn->handle, rv, "begin");
        apr_dbd_query(conn->driver, conn->handle, &nrows, "ROLLBACK");
        return RA_STORE_FAILED;
    }
    int selected = select_apr_dbd(pool, conn, sql, ncols, each, baton, error);
    /* after a failed select COMMIT rolls back, as PostgreSQL does in a
     * failed transaction */
    rv = apr_dbd_query(conn->driver, conn->handle, &nrows, "COMMIT");
    if (rv != 0) {
        *error = ra_dbd_error(pool, conn->driver, conn->handle, rv, "commit");
        apr_dbd_query(conn->driver, conn->handle, &nrows, "ROLLBACK");
        return RA_STORE_FAILED;
    }
    if (selected) {
        return RA_STORE_DONE;
    }
    return apr_time_now() - start >= bound ? RA_STORE_TIMED_OUT : RA_STORE_FAILED;
}

/* SQLite's progress handler: a nonzero answer interrupts the statement. */
static int past_deadline(void *deadline)
{
    return apr_time_now() >= *(const apr_time_t *)deadline;
}

/* SQLite virtual machine instructions between two looks at the clock: a
 * few microseconds of work, so the bound is kept to well under a
 * millisecond, while the look itself (a vDSO clock read) costs nothing. */
#define SQLITE_PROGRESS_STEPS 1000

/* SQLite: apr_dbd_sqlite3 keeps every statement prepared on a connection
 * until the connection closes (dbd_sqlite3_prepare links it into the
 * handle), so preparing each generated query through it would grow a pooled
 * connection without bound. These run on the same pooled connection through
 * its native handle instead, prepared, bound and finalized per request. */
static ra_store_result_e select_sqlite(apr_pool_t *pool, const ra_store_conn_t *conn,
                                       const ra_sql_t *sql, apr_interval_time_t bound,
                                       int ncols, row_fn each, void *baton, const char **error)
{
    sqlite3 *db = apr_dbd_native_handle(conn->driver, conn->handle);
    sqlite3_stmt *stmt = NULL;
    char *text = apr_palloc(pool, strlen(sql->text) + 1), *out = text;
    const char **values = apr_pcalloc(pool, sizeof(char *) * (size_t)ncols);
    apr_time_t deadline = apr_time_now() + bound;
    int rc;

    /* apr_dbd's placeholders become SQLite's '?' (the generator writes no
     * other '%') */
    for (const char *in = sql->text; *in;) {
        if (*in == '%') {
            *out++ = '?';
            in += in[1] == 's' ? 2 : 4; /* %s or %lld */
        }
        else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    if (bound > 0) {
        sqlite3_progress_handler(db, SQLITE_PROGRESS_STEPS, past_deadline, &deadline);
    }
    rc = sqlite3_prepare_v2(db, text, -1, &stmt, NULL);
    for (int i = 0; rc == SQLITE_OK && i < sql->params->nelts; i++) {
        ra_sql_param_t *param = &APR_ARRAY_IDX(sql->params, i, ra_sql_param_t);
        rc = param->is_number ? sqlite3_bind_int64(stmt, i + 1, param->number)
             : param->text ? sqlite3_bind_text(stmt, i + 1, param->text, -1, SQLITE_STATIC)
                           : sqlite3_bind_null(stmt, i + 1);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (int i = 0; i < ncols; i++) {
            values[i] = (const char *)sqlite3_column_text(stmt, i);
        }
        each(pool, values, baton);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE) {
        *error = apr_psprintf(pool, "select: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(stmt);
    if (bound > 0) { /* the connection's other statements run unbounded */
        sqlite3_progress_handler(db, 0, NULL, NULL);
    }
    return rc == SQLITE_DONE ? RA_STORE_DONE
           : rc == SQLITE_INTERRUPT ? RA_STORE_TIMED_OUT : RA_STORE_FAILED;
}

/* Generated SQL with no bound: the batch insert. */
static int select_generated(apr_pool_t *pool, const ra_store_conn_t *conn,
                            const ra_sql_t *sql, int ncols, row_fn each, void *baton,
                            const char **error)
{
    return dialect_of(conn->driver) == RA_DIALECT_SQLITE
           ? select_sqlite(pool, conn, sql, 0, ncols, each, baton, error) == RA_STORE_DONE
           : select_apr_dbd(pool, conn, sql, ncols, each, baton, error);
}

/* A list or count, within conn->query_timeout. */
static ra_store_result_e select_bounded(apr_pool_t *pool, const ra_store_conn_t *conn,
                                        const ra_sql_t *sql, int ncols, row_fn each,
                                        void *baton, const char **error)
{
    return dialect_of(conn->driver) == RA_DIALECT_SQLITE
           ? select_sqlite(pool, conn, sql, conn->query_timeout, ncols, each, baton, error)
           : select_pgsql(pool, conn, sql, conn->query_timeout, ncols, each, baton, error);
}

static void count_row(apr_pool_t *pool, const char *const *values, void *baton)
{
    (void)pool;
    *(apr_int64_t *)baton = values[0] ? apr_atoi64(values[0]) : 0;
}

ra_store_result_e ra_store_count(apr_pool_t *pool, const ra_store_conn_t *conn,
                                 const char *tenant, const ra_qnode_t *filter,
                                 apr_int64_t *count, const char **error)
{
    *count = 0;
    *error = NULL;
    return select_bounded(pool, conn,
                          ra_sql_count(pool, dialect_of(conn->driver), tenant, filter),
                          1, count_row, count, error);
}

typedef struct {
    ra_store_partner_fn each;
    void *baton;
} list_each_t;

/* The row as a partner whose values are the driver's own: no copy. */
static void list_row(apr_pool_t *pool, const char *const *values, void *baton)
{
    const list_each_t *list = baton;
    ra_partner_t partner;

    (void)pool;
    memset(&partner, 0, sizeof(partner));
    memcpy(partner.values, values, sizeof(partner.values));
    partner.etag = values[RA_PROP_COUNT] ? values[RA_PROP_COUNT] : "";
    list->each(&partner, list->baton);
}

ra_store_result_e ra_store_list(apr_pool_t *pool, const ra_store_conn_t *conn,
                                const char *tenant, const ra_query_t *query,
                                apr_int64_t limit, apr_int64_t offset,
                                ra_store_partner_fn each, void *baton, const char **error)
{
    list_each_t list = { each, baton };
    *error = NULL;
    return select_bounded(pool, conn,
                          ra_sql_list(pool, dialect_of(conn->driver), tenant, query, limit,
                                      offset),
                          SELECTED_COUNT, list_row, &list, error);
}
