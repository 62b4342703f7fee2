/* Partner storage over apr_dbd (SQLite and PostgreSQL drivers). */
#include "ra_store.h"

#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include <sqlite3.h>

/* The schema, compiled in from sql/schema.sql (see the Makefile). */
static const char schema_pgsql[] =
#include "ra_schema_pgsql.h"
    ;
static const char schema_sqlite[] =
#include "ra_schema_sqlite.h"
    ;

#define TABLE "remote_assistance_partners"

/* The columns a property is stored in: its value, and what it sorts and
 * compares by (DateTimeOffsets by instant). Indexed by ra_prop_e: the one
 * whitelist generated SQL takes column names from. */
static const struct {
    const char *column;
    const char *key_column;
} columns[RA_PROP_COUNT] = {
    [RA_PROP_ID] = { "id", "id" },
    [RA_PROP_DISPLAY_NAME] = { "display_name", "display_name" },
    [RA_PROP_ONBOARDING_URL] = { "onboarding_url", "onboarding_url" },
    [RA_PROP_ONBOARDING_STATUS] = { "onboarding_status", "onboarding_status" },
    [RA_PROP_LAST_CONNECTION] = { "last_connection_date_time", "last_connection_ticks" },
    [RA_PROP_EXPIRY] = { "onboarding_request_expiry_date_time",
                         "onboarding_request_expiry_ticks" },
};

/* What a read selects: every property in ra_prop_e order, then the ETag. */
#define SELECTED "id, display_name, onboarding_url, onboarding_status, " \
    "last_connection_date_time, onboarding_request_expiry_date_time, etag"
#define SELECTED_COUNT (RA_PROP_COUNT + 1)

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

int ra_store_driver_supported(const char *driver_name)
{
    return !strcmp(driver_name, "sqlite3") || !strcmp(driver_name, "pgsql");
}

static ra_dialect_e dialect_of(const apr_dbd_driver_t *driver)
{
    return strcmp(apr_dbd_name(driver), "pgsql") ? RA_DIALECT_SQLITE : RA_DIALECT_PGSQL;
}

static const char *db_error(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                            apr_dbd_t *handle, int rv, const char *what)
{
    const char *text = apr_dbd_error(driver, handle, rv);
    return apr_psprintf(pool, "%s: %s", what, text ? text : "unknown error");
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

/* ------------------------------------------------------------- start-up */

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
            const char *value = apr_dbd_get_entry(driver, row, 0);
            *first = apr_pstrdup(pool, value ? value : "");
        }
    }
    return 0;
}

typedef struct {
    apr_pool_t *pool;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    ra_dialect_e dialect;
    const char *error;
} setup_t;

static int run(setup_t *st, const char *sql, const char *what)
{
    int nrows, rv = apr_dbd_query(st->driver, st->handle, &nrows, sql);
    if (rv != 0 && !st->error) {
        st->error = db_error(st->pool, st->driver, st->handle, rv, what);
    }
    return rv == 0;
}

static int table_exists(setup_t *st, const char *table)
{
    const char *found = NULL;
    const char *sql = st->dialect == RA_DIALECT_PGSQL
        ? "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
          "AND table_name = '%s'"
        : "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '%s'";
    /* table is one of this file's constants, never outside text */
    select_all(st->pool, st->driver, st->handle, apr_psprintf(st->pool, sql, table), &found);
    return found != NULL;
}

/* The schema's statements, one at a time (SQLite runs one per call). */
static int create_schema(setup_t *st)
{
    char *state;
    char *text = apr_pstrdup(st->pool, st->dialect == RA_DIALECT_PGSQL ? schema_pgsql
                                                                         : schema_sqlite);
    for (char *sql = apr_strtok(text, ";", &state); sql; sql = apr_strtok(NULL, ";", &state)) {
        if (sql[strspn(sql, " \n")] && !run(st, sql, "create the schema")) {
            return 0;
        }
    }
    return 1;
}

/* Runs a statement prepared for this set-up connection (closed right after,
 * so apr_dbd_sqlite3 keeping it until then costs nothing). */
static int run_prepared(setup_t *st, const char *sql, const void **args, const char *what)
{
    apr_dbd_prepared_t *stmt = NULL;
    int nrows, rv = apr_dbd_prepare(st->driver, st->pool, st->handle, sql, NULL, &stmt);
    if (rv == 0) {
        rv = apr_dbd_pbquery(st->driver, st->pool, st->handle, &nrows, stmt, args);
    }
    if (rv != 0 && !st->error) {
        st->error = db_error(st->pool, st->driver, st->handle, rv, what);
    }
    return rv == 0;
}

/* Schema version 1 (no tenant, nullable status and date-times) to 2: the
 * rows move to legacy_tenant with Intune's defaults where they had nulls,
 * then get their sort ticks and an ETag. */
static int upgrade_from_v1(setup_t *st, const char *legacy_tenant, long *rows)
{
    const void *copy_args[] = { legacy_tenant };
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;

    if (!run(st, "ALTER TABLE " TABLE " RENAME TO " TABLE "_v1", "rename the old table")
        || !create_schema(st)
        || !run_prepared(st, "INSERT INTO " TABLE " (tenant_id, id, display_name, "
                         "onboarding_url, onboarding_status, last_connection_date_time, "
                         "last_connection_ticks, onboarding_request_expiry_date_time, "
                         "onboarding_request_expiry_ticks, etag, api_version, "
                         "created_date_time) SELECT %s, id, display_name, onboarding_url, "
                         "COALESCE(onboarding_status, '" RA_ENTITY_STATUS_DEFAULT "'), "
                         "COALESCE(last_connection_date_time, '" RA_ENTITY_DATETIME_UNSET
                         "'), 0, COALESCE(onboarding_request_expiry_date_time, '"
                         RA_ENTITY_DATETIME_UNSET "'), 0, '', api_version, created_date_time "
                         "FROM " TABLE "_v1", copy_args, "copy the rows")) {
        return 0;
    }
    int rv = apr_dbd_select(st->driver, st->pool, st->handle, &res,
                            "SELECT id, last_connection_date_time, "
                            "onboarding_request_expiry_date_time FROM " TABLE, 1);
    if (rv != 0) {
        st->error = db_error(st->pool, st->driver, st->handle, rv, "read the copied rows");
        return 0;
    }
    *rows = 0;
    while (apr_dbd_get_row(st->driver, st->pool, res, &row, -1) == 0) {
        const char *id = apr_pstrdup(st->pool, apr_dbd_get_entry(st->driver, row, 0));
        apr_int64_t last, expiry;
        if (!ra_entity_datetime_parse(apr_dbd_get_entry(st->driver, row, 1), &last)
            || !ra_entity_datetime_parse(apr_dbd_get_entry(st->driver, row, 2),
                                         &expiry)) {
            st->error = apr_psprintf(st->pool, "row '%s' has a date-time that is not an "
                                     "Edm.DateTimeOffset; correct it and start again", id);
            return 0;
        }
        const void *args[] = { &last, &expiry, ra_entity_new_etag(st->pool), legacy_tenant, id };
        if (!run_prepared(st, "UPDATE " TABLE " SET last_connection_ticks = %lld, "
                          "onboarding_request_expiry_ticks = %lld, etag = %s "
                          "WHERE tenant_id = %s AND id = %s", args, "set sort keys")) {
            return 0;
        }
        (*rows)++;
    }
    return run(st, "DROP TABLE " TABLE "_v1", "drop the old table");
}

/* Brings the tables to RA_STORE_SCHEMA_VERSION inside the open transaction. */
static int migrate(setup_t *st, const char *legacy_tenant, long *upgraded)
{
    const char *version = NULL;

    if (table_exists(st, "remoteassist_schema")) {
        select_all(st->pool, st->driver, st->handle,
                   "SELECT version FROM remoteassist_schema", &version);
        if (version && atoi(version) == RA_STORE_SCHEMA_VERSION) {
            return 1;
        }
        st->error = apr_psprintf(st->pool, "the database has schema version %s; this "
                                 "module knows version %d", version ? version : "(none)",
                                 RA_STORE_SCHEMA_VERSION);
        return 0;
    }
    if (!table_exists(st, TABLE)) {
        return create_schema(st);
    }
    const char *count = NULL;
    select_all(st->pool, st->driver, st->handle, "SELECT COUNT(*) FROM " TABLE, &count);
    if (count && atol(count) > 0 && !legacy_tenant) {
        st->error = apr_psprintf(st->pool, "the database holds %s partners from before "
                                 "tenants (schema version 1): name the tenant they belong "
                                 "to with " RA_STORE_LEGACY_TENANT_DIRECTIVE " (a tenant id, "
                                 "the tid of its tokens) so the upgrade can keep them",
                                 count);
        return 0;
    }
    return upgrade_from_v1(st, legacy_tenant, upgraded);
}

/* SQLite's journal mode is kept in the file: switch it once, before any
 * child connects. */
static int sqlite_wal(setup_t *st)
{
    const char *mode = NULL;

    /* httpd's children may be writing (a graceful restart): wait for them
     * rather than fail, and change the journal only when needed */
    select_all(st->pool, st->driver, st->handle,
               "PRAGMA busy_timeout = " APR_STRINGIFY(RA_STORE_SETUP_BUSY_TIMEOUT_MS), NULL);
    if (select_all(st->pool, st->driver, st->handle, "PRAGMA journal_mode", &mode) == 0
        && mode && strcasecmp(mode, "wal")) {
        mode = NULL;
        select_all(st->pool, st->driver, st->handle, "PRAGMA journal_mode=WAL", &mode);
    }
    if (!mode || strcasecmp(mode, "wal")) {
        st->error = apr_psprintf(st->pool, "cannot switch to WAL (journal mode %s): %s",
                                 mode ? mode : "unknown",
                                 apr_dbd_error(st->driver, st->handle, 0));
        return 0;
    }
    return 1;
}

/* Whether the module's statements will find their columns. */
static int table_usable(setup_t *st)
{
    int rv = select_all(st->pool, st->driver, st->handle,
                        "SELECT " SELECTED " FROM " TABLE " WHERE 1 = 0", NULL);
    if (rv != 0) {
        st->error = db_error(st->pool, st->driver, st->handle, rv, "table check");
    }
    return rv == 0;
}

/* The set-up, or (apply 0) apachectl -t's look at it: the same steps inside a
 * transaction that is rolled back, without switching SQLite's journal, so
 * that whatever would fail fails here and nothing is changed. */
static ra_store_setup_e set_up(apr_pool_t *pool, const char *driver_name, const char *params,
                               const char *legacy_tenant, int apply, long *upgraded,
                               const char **error)
{
    const char *open_error = NULL;
    setup_t st = { pool, NULL, NULL, RA_DIALECT_SQLITE, NULL };
    int ok;

    *error = NULL;
    *upgraded = -1;
    if (apr_dbd_get_driver(pool, driver_name, &st.driver) != APR_SUCCESS) {
        *error = apr_psprintf(pool, "cannot load the apr_dbd %s driver", driver_name);
        return RA_STORE_BROKEN;
    }
    if (apr_dbd_open_ex(st.driver, pool, params, &st.handle, &open_error) != APR_SUCCESS) {
        *error = apr_psprintf(pool, "cannot connect: %s",
                              ra_store_one_line(pool, open_error ? open_error
                                                                 : "no reason given"));
        return RA_STORE_UNREACHABLE;
    }
    st.dialect = dialect_of(st.driver);
    ok = st.dialect == RA_DIALECT_PGSQL || !apply || sqlite_wal(&st);
    /* one transaction: a failed upgrade leaves the database as it was, and
     * on PostgreSQL the lock keeps nodes starting together from racing */
    ok = ok && run(&st, st.dialect == RA_DIALECT_PGSQL ? "BEGIN" : "BEGIN IMMEDIATE", "begin");
    if (ok && st.dialect == RA_DIALECT_PGSQL
        && select_all(pool, st.driver, st.handle, "SELECT pg_advisory_xact_lock(7243010)",
                      NULL) != 0) {
        st.error = db_error(pool, st.driver, st.handle, 1, "advisory lock");
        run(&st, "ROLLBACK", "roll back");
        ok = 0;
    }
    if (ok) {
        /* the check of the table runs inside the transaction: in a look,
         * the tables it would create exist only there */
        ok = migrate(&st, legacy_tenant, upgraded) && table_usable(&st);
        run(&st, ok && apply ? "COMMIT" : "ROLLBACK", ok && apply ? "commit" : "roll back");
        ok = ok && !st.error;
    }
    apr_dbd_close(st.driver, st.handle);
    *error = st.error ? ra_store_one_line(pool, st.error) : NULL;
    if (!ok || !apply) {
        *upgraded = -1; /* rolled back: no row was carried over */
    }
    return ok ? RA_STORE_READY : RA_STORE_BROKEN;
}

ra_store_setup_e ra_store_setup_database(apr_pool_t *pool, const char *driver_name,
                                         const char *params, const char *legacy_tenant,
                                         long *upgraded, const char **error)
{
    return set_up(pool, driver_name, params, legacy_tenant, 1, upgraded, error);
}

ra_store_setup_e ra_store_check_database(apr_pool_t *pool, const char *driver_name,
                                         const char *params, const char *legacy_tenant,
                                         const char **error)
{
    long upgraded;
    return set_up(pool, driver_name, params, legacy_tenant, 0, &upgraded, error);
}

ra_store_setup_e ra_store_connection_limit(apr_pool_t *pool, const char *driver_name,
                                           const char *params, long *limit,
                                           const char **error)
{
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    const char *value = NULL;

    *error = NULL;
    if (apr_dbd_get_driver(pool, driver_name, &driver) != APR_SUCCESS
        || apr_dbd_open_ex(driver, pool, params, &handle, error) != APR_SUCCESS) {
        *error = ra_store_one_line(pool, *error ? *error : "cannot connect");
        return RA_STORE_UNREACHABLE;
    }
    int rv = select_all(pool, driver, handle,
                        "SELECT current_setting('max_connections')::int - "
                        "current_setting('superuser_reserved_connections')::int", &value);
    if (rv != 0 || !value) {
        *error = db_error(pool, driver, handle, rv, "read max_connections");
    }
    apr_dbd_close(driver, handle);
    *limit = value ? atol(value) : 0;
    return *error ? RA_STORE_BROKEN : RA_STORE_READY;
}

/* Drivers' messages run over several lines (libpq's end in a newline), which
 * httpd's log would show as literal \n: one line, blanks folded. */
const char *ra_store_one_line(apr_pool_t *pool, const char *text)
{
    char *line = apr_palloc(pool, strlen(text) + 1), *out = line;
    for (const char *in = text; *in; in++) {
        int blank = *in == '\n' || *in == '\r' || *in == '\t' || *in == ' ';
        if (!blank) {
            *out++ = *in;
        }
        else if (out > line && out[-1] != ' ') {
            *out++ = ' ';
        }
    }
    while (out > line && out[-1] == ' ') {
        out--;
    }
    *out = '\0';
    return line;
}

const char *ra_store_connection_setup(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                                      apr_dbd_t *handle)
{
    static const char busy[] = "PRAGMA busy_timeout = "
                               APR_STRINGIFY(RA_STORE_SQLITE_BUSY_TIMEOUT_MS);
    static const char sync[] = "PRAGMA synchronous = FULL";

    if (dialect_of(driver) != RA_DIALECT_SQLITE) {
        return NULL;
    }
    int rv = select_all(pool, driver, handle, busy, NULL);
    if (rv == 0) {
        rv = select_all(pool, driver, handle, sync, NULL);
    }
    return rv ? db_error(pool, driver, handle, rv, "connection setup") : NULL;
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
            return db_error(conn->pool, conn->driver, conn->handle, rv,
                            apr_pstrcat(conn->pool, "prepare ", statements[i].label, NULL));
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
        *error = db_error(pool, conn->driver, conn->handle, rv,
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
            first_error = db_error(pool, conn->driver, conn->handle, rv,
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

static void add_text(ra_sql_t *sql, const char *text);
static void add_param(ra_sql_t *sql, const char *text, const apr_int64_t *number);

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
        add_text(sql, i ? ", (" : "(");
        for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
            add_param(sql, texts[t], NULL);
            add_text(sql, ", ");
        }
        add_param(sql, NULL, &last);
        add_text(sql, ", ");
        add_param(sql, p->values[RA_PROP_EXPIRY], NULL);
        add_text(sql, ", ");
        add_param(sql, NULL, &expiry);
        add_text(sql, ", ");
        add_param(sql, p->etag, NULL);
        add_text(sql, ", ");
        add_param(sql, ra_version_name(rows[i]->version), NULL);
        add_text(sql, ")");
    }
    add_text(sql, " ON CONFLICT (tenant_id, id) DO NOTHING RETURNING etag");
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

/* -------------------------------------------------------- generated SQL */

/* Appends to the text in a buffer that doubles when full: a batch's INSERT
 * is built from hundreds of pieces. */
static void add_text(ra_sql_t *sql, const char *text)
{
    apr_size_t n = strlen(text);
    if (!sql->capacity) { /* the text so far is not in a buffer of its own */
        sql->length = sql->text ? strlen(sql->text) : 0;
    }
    if (sql->length + n + 1 > sql->capacity) {
        apr_size_t capacity = 2 * (sql->length + n + 1);
        char *grown = apr_palloc(sql->params->pool, capacity);
        memcpy(grown, sql->text, sql->length);
        sql->text = grown;
        sql->capacity = capacity;
    }
    memcpy((char *)sql->text + sql->length, text, n + 1);
    sql->length += n;
}

/* Appends a placeholder and its parameter. */
static void add_param(ra_sql_t *sql, const char *text, const apr_int64_t *number)
{
    ra_sql_param_t *param = apr_array_push(sql->params);
    param->is_number = number != NULL;
    param->text = text;
    param->number = number ? *number : 0;
    add_text(sql, number ? "%lld" : "%s");
}

/* A literal of node's property: its instant for a DateTimeOffset. */
static void add_literal(ra_sql_t *sql, const ra_qnode_t *node)
{
    int datetime = ra_prop_kind(node->prop) == RA_KIND_DATETIME;
    add_param(sql, datetime ? NULL : node->text, datetime ? &node->ticks : NULL);
}

static const char *const comparison_sql[] = { [RA_Q_EQ] = " = ", [RA_Q_NE] = " <> ",
                                              [RA_Q_GT] = " > ", [RA_Q_GE] = " >= ",
                                              [RA_Q_LT] = " < ", [RA_Q_LE] = " <= " };

/* OData compares with two-valued logic: a null property is simply unequal to
 * a value and not ordered before or after it, so "displayName ne 'x'" holds
 * for a null displayName and "not (displayName eq 'x')" too; SQL's null
 * would make both unknown. Nullable columns are guarded to match. */
static void compare_sql(ra_sql_t *sql, const ra_qnode_t *node)
{
    const char *column = columns[node->prop].key_column;
    int nullable = ra_prop_nullable(node->prop);

    if (!node->text && ra_prop_kind(node->prop) != RA_KIND_DATETIME) {
        add_text(sql, apr_pstrcat(sql->params->pool, "(", columns[node->prop].column,
                                  node->op == RA_Q_EQ ? " IS NULL)" : " IS NOT NULL)", NULL));
        return;
    }
    if (!node->text) { /* a DateTimeOffset is never null: eq null never holds */
        add_text(sql, node->op == RA_Q_EQ ? "(1 = 0)" : "(1 = 1)");
        return;
    }
    add_text(sql, "(");
    if (nullable) {
        add_text(sql, apr_pstrcat(sql->params->pool, column, node->op == RA_Q_NE
                                  ? " IS NULL OR " : " IS NOT NULL AND ", NULL));
    }
    add_text(sql, apr_pstrcat(sql->params->pool, column, comparison_sql[node->op], NULL));
    add_literal(sql, node);
    add_text(sql, ")");
}

/* startswith, endswith and contains, case-sensitive and counting characters
 * as OData does, on either database. */
static void function_sql(ra_sql_t *sql, ra_dialect_e dialect, const ra_qnode_t *node)
{
    const char *c = columns[node->prop].column;
    apr_pool_t *pool = sql->params->pool;

    add_text(sql, apr_pstrcat(pool, "(", c, " IS NOT NULL AND ", NULL));
    switch ((ra_q_function_e)node->op) {
    case RA_Q_STARTSWITH:
        add_text(sql, apr_pstrcat(pool, "substr(", c, ", 1, length(", NULL));
        add_literal(sql, node);
        add_text(sql, ")) = ");
        add_literal(sql, node);
        break;
    case RA_Q_ENDSWITH:
        if (dialect == RA_DIALECT_PGSQL) {
            add_text(sql, apr_pstrcat(pool, "right(", c, ", length(", NULL));
        }
        else { /* SQLite's substr(x, -0) is all of x: an empty suffix apart */
            add_text(sql, "(length(");
            add_literal(sql, node);
            add_text(sql, apr_pstrcat(pool, ") = 0 OR substr(", c, ", -length(", NULL));
        }
        add_literal(sql, node);
        add_text(sql, ")) = ");
        add_literal(sql, node);
        if (dialect == RA_DIALECT_SQLITE) {
            add_text(sql, ")");
        }
        break;
    case RA_Q_CONTAINS:
        add_text(sql, apr_pstrcat(pool, dialect == RA_DIALECT_PGSQL ? "strpos(" : "instr(",
                                  c, ", ", NULL));
        add_literal(sql, node);
        add_text(sql, ") > 0");
        break;
    }
    add_text(sql, ")");
}

static void filter_sql(ra_sql_t *sql, ra_dialect_e dialect, const ra_qnode_t *node)
{
    switch (node->kind) {
    case RA_QNODE_OR:
    case RA_QNODE_AND:
        add_text(sql, "(");
        filter_sql(sql, dialect, node->left);
        add_text(sql, node->kind == RA_QNODE_OR ? " OR " : " AND ");
        filter_sql(sql, dialect, node->right);
        add_text(sql, ")");
        break;
    case RA_QNODE_NOT:
        add_text(sql, "(NOT ");
        filter_sql(sql, dialect, node->left);
        add_text(sql, ")");
        break;
    case RA_QNODE_COMPARE:
        compare_sql(sql, node);
        break;
    case RA_QNODE_FUNCTION:
        function_sql(sql, dialect, node);
        break;
    }
}

static ra_sql_t *where_tenant(apr_pool_t *pool, const char *select, const char *tenant,
                              ra_dialect_e dialect, const ra_qnode_t *filter)
{
    ra_sql_t *sql = apr_pcalloc(pool, sizeof(*sql));
    sql->params = apr_array_make(pool, 8, sizeof(ra_sql_param_t));
    sql->text = apr_pstrcat(pool, "SELECT ", select, " FROM " TABLE " WHERE tenant_id = ",
                            NULL);
    add_param(sql, tenant, NULL);
    if (filter) {
        add_text(sql, " AND ");
        filter_sql(sql, dialect, filter);
    }
    return sql;
}

/* One sort key's value, as the key column holds it. */
static void add_key_value(ra_sql_t *sql, const ra_order_t *key, const ra_key_value_t *value)
{
    int datetime = ra_prop_kind(key->prop) == RA_KIND_DATETIME;
    add_param(sql, datetime ? NULL : value->text, datetime ? &value->ticks : NULL);
}

/* key = value; a null value (of a nullable string key) is IS NULL. */
static void equal_sql(ra_sql_t *sql, const ra_order_t *key, const ra_key_value_t *value)
{
    const char *column = columns[key->prop].key_column;
    int is_null = !value->text && ra_prop_kind(key->prop) != RA_KIND_DATETIME;

    add_text(sql, apr_pstrcat(sql->params->pool, column, is_null ? " IS NULL" : " = ", NULL));
    if (!is_null) {
        add_key_value(sql, key, value);
    }
}

/* key sorts after value in its direction; nulls sort first ascending and
 * last descending (OData: null is less than any value). */
static void after_sql(ra_sql_t *sql, const ra_order_t *key, const ra_key_value_t *value)
{
    apr_pool_t *pool = sql->params->pool;
    const char *column = columns[key->prop].key_column;

    if (!value->text && ra_prop_kind(key->prop) != RA_KIND_DATETIME) {
        add_text(sql, key->descending ? "1 = 0"
                 : apr_pstrcat(pool, column, " IS NOT NULL", NULL));
        return;
    }
    add_text(sql, apr_pstrcat(pool, "(", column, key->descending ? " < " : " > ", NULL));
    add_key_value(sql, key, value);
    if (key->descending && ra_prop_nullable(key->prop)) {
        add_text(sql, apr_pstrcat(pool, " OR ", column, " IS NULL", NULL));
    }
    add_text(sql, ")");
}

/* Rows strictly after the $skiptoken's row in the query's order: for keys
 * k1..kn, (k1 after v1) OR (k1 = v1 AND k2 after v2) OR ... */
static void keyset_sql(ra_sql_t *sql, const ra_query_t *query)
{
    add_text(sql, " AND (");
    for (int i = 0; i < query->order_count; i++) {
        add_text(sql, i ? " OR (" : "(");
        for (int j = 0; j < i; j++) {
            equal_sql(sql, &query->order[j], &query->after[j]);
            add_text(sql, " AND ");
        }
        after_sql(sql, &query->order[i], &query->after[i]);
        add_text(sql, ")");
    }
    add_text(sql, ")");
}

ra_sql_t *ra_store_list_sql(apr_pool_t *pool, ra_dialect_e dialect, const char *tenant,
                            const ra_query_t *query, apr_int64_t limit, apr_int64_t offset)
{
    ra_sql_t *sql = where_tenant(pool, SELECTED, tenant, dialect, query->filter);

    if (query->after_set) {
        keyset_sql(sql, query);
    }
    add_text(sql, " ORDER BY ");
    for (int i = 0; i < query->order_count; i++) {
        const ra_order_t *key = &query->order[i];
        add_text(sql, apr_pstrcat(pool, i ? ", " : "", columns[key->prop].key_column,
                                  key->descending ? " DESC" : " ASC",
                                  !ra_prop_nullable(key->prop) ? ""
                                  : key->descending ? " NULLS LAST" : " NULLS FIRST", NULL));
    }
    add_text(sql, " LIMIT ");
    add_param(sql, NULL, &limit);
    if (offset > 0) {
        add_text(sql, " OFFSET ");
        add_param(sql, NULL, &offset);
    }
    return sql;
}

ra_sql_t *ra_store_count_sql(apr_pool_t *pool, ra_dialect_e dialect, const char *tenant,
                             const ra_qnode_t *filter)
{
    return where_tenant(pool, "COUNT(*)", tenant, dialect, filter);
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
        *error = db_error(pool, conn->driver, conn->handle, rv, "select");
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

/* SQLite: apr_dbd_sqlite3 keeps every statement prepared on a connection
 * until the connection closes (dbd_sqlite3_prepare links it into the
 * handle), so preparing each generated query through it would grow a pooled
 * connection without bound. These run on the same pooled connection through
 * its native handle instead, prepared, bound and finalized per request. */
static int select_sqlite(apr_pool_t *pool, const ra_store_conn_t *conn, const ra_sql_t *sql,
                         int ncols, row_fn each, void *baton, const char **error)
{
    sqlite3 *db = apr_dbd_native_handle(conn->driver, conn->handle);
    sqlite3_stmt *stmt = NULL;
    char *text = apr_palloc(pool, strlen(sql->text) + 1), *out = text;
    const char **values = apr_pcalloc(pool, sizeof(char *) * (size_t)ncols);
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
    return rc == SQLITE_DONE;
}

static int select_generated(apr_pool_t *pool, const ra_store_conn_t *conn,
                            const ra_sql_t *sql, int ncols, row_fn each, void *baton,
                            const char **error)
{
    return dialect_of(conn->driver) == RA_DIALECT_SQLITE
           ? select_sqlite(pool, conn, sql, ncols, each, baton, error)
           : select_apr_dbd(pool, conn, sql, ncols, each, baton, error);
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
    return select_generated(pool, conn, ra_store_count_sql(pool, dialect_of(conn->driver),
                                                           tenant, filter),
                            1, count_row, count, error) ? RA_STORE_DONE : RA_STORE_FAILED;
}

static void list_row(apr_pool_t *pool, const char *const *values, void *baton)
{
    partner_from_values(pool, values, apr_array_push(baton));
}

ra_store_result_e ra_store_list(apr_pool_t *pool, const ra_store_conn_t *conn,
                                const char *tenant, const ra_query_t *query,
                                apr_int64_t limit, apr_int64_t offset,
                                apr_array_header_t **rows, const char **error)
{
    *rows = apr_array_make(pool, (int)(limit < 64 ? limit + 1 : 64), sizeof(ra_partner_t));
    *error = NULL;
    return select_generated(pool, conn, ra_store_list_sql(pool, dialect_of(conn->driver),
                                                          tenant, query, limit, offset),
                            SELECTED_COUNT, list_row, *rows, error)
           ? RA_STORE_DONE : RA_STORE_FAILED;
}

void ra_store_key_values(const ra_query_t *query, const ra_partner_t *partner,
                         ra_key_value_t *values)
{
    for (int i = 0; i < query->order_count; i++) {
        ra_prop_e prop = query->order[i].prop;
        values[i].text = partner->values[prop];
        values[i].ticks = 0;
        if (ra_prop_kind(prop) == RA_KIND_DATETIME) {
            ra_entity_datetime_parse(partner->values[prop], &values[i].ticks);
        }
    }
}
