/* Partner storage over apr_dbd (SQLite and PostgreSQL drivers). */
#include "ra_store.h"

#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "ra_dbd.h"
#include "ra_schema.h"
#include "ra_sql.h"
#include "ra_watchdog.h"

#define TABLE RA_SCHEMA_TABLE
#define SELECTED RA_SCHEMA_SELECTED
#define SELECTED_COUNT RA_SCHEMA_SELECTED_COUNT

/* The audit events' columns, in the order of the values written. */
#define AUDIT_COLUMNS "tenant_id, id, activity_date_time, activity_ticks, category, " \
    "activity_type, activity_operation_type, correlation_id, actor_application, user_id, " \
    "user_principal_name, application_id, ip_address, user_permissions, resource_id, " \
    "resource_display_name, modified_properties"

static const struct {
    const char *label;
    const char *sql;
    int pgsql_only; /* not prepared on SQLite, which never runs it */
} statements[RA_STMT_KINDS] = {
    /* ON CONFLICT DO NOTHING reports a taken id as zero rows instead of an
     * error whose text would differ per driver */
    [RA_STMT_INSERT] = { .label = "remoteassist_insert", .sql =
        "INSERT INTO " TABLE " (tenant_id, id, display_name, onboarding_url, "
        "onboarding_status, last_connection_date_time, last_connection_ticks, "
        "onboarding_request_expiry_date_time, onboarding_request_expiry_ticks, etag, "
        "api_version) VALUES (%s, %s, %s, %s, %s, %s, %lld, %s, %lld, %s, %s) "
        "ON CONFLICT (tenant_id, id) DO NOTHING" },
    [RA_STMT_GET] = { .label = "remoteassist_get", .sql =
        "SELECT " SELECTED " FROM " TABLE " WHERE tenant_id = %s AND id = %s" },
    [RA_STMT_REPLACE] = { .label = "remoteassist_replace", .sql =
        "UPDATE " TABLE " SET display_name = %s, onboarding_url = %s, "
        "onboarding_status = %s, last_connection_date_time = %s, "
        "last_connection_ticks = %lld, onboarding_request_expiry_date_time = %s, "
        "onboarding_request_expiry_ticks = %lld, etag = %s "
        "WHERE tenant_id = %s AND id = %s AND etag = %s" },
    [RA_STMT_DELETE] = { .label = "remoteassist_delete", .sql =
        "DELETE FROM " TABLE " WHERE tenant_id = %s AND id = %s" },
    [RA_STMT_DELETE_IF] = { .label = "remoteassist_delete_if", .sql =
        "DELETE FROM " TABLE " WHERE tenant_id = %s AND id = %s AND etag = %s" },
    /* a write that changes nothing but still writes WAL and commits with a
     * transaction id, so its COMMIT waits for synchronous replication, which
     * covers every earlier commit (see settle_taken) */
    [RA_STMT_TOUCH] = { .label = "remoteassist_touch", .sql =
        "UPDATE " TABLE " SET etag = etag WHERE tenant_id = %s AND id = %s" },
    /* one audit event, inside its write's transaction */
    [RA_STMT_EVENT] = { .label = "remoteassist_event", .sql =
        "INSERT INTO " RA_AUDIT_TABLE " (" AUDIT_COLUMNS ") "
        "VALUES (%s, %s, %s, %lld, %s, %s, %s, %s, %lld, %s, %s, %s, %s, %s, %s, %s, %s)" },
    /* sent in a pipeline behind the batch's inserts, before any of their
     * outcomes is known: the event goes in only if its partner row is the
     * one with this create's ETag (random per create), which only this
     * transaction's insert can have made; ON CONFLICT: a retry of a batch
     * that committed writes no second copy */
    [RA_STMT_INSERT_EVENT] = { .label = "remoteassist_insert_event", .sql =
        "INSERT INTO " RA_AUDIT_TABLE " (" AUDIT_COLUMNS ") "
        "SELECT %s, %s, %s, %lld, %s, %s, %s, %s, %lld, %s, %s, %s, %s, %s, %s, %s, %s "
        "WHERE EXISTS (SELECT 1 FROM " TABLE " WHERE tenant_id = %s AND id = %s AND etag = %s) "
        "ON CONFLICT (tenant_id, id) DO NOTHING", .pgsql_only = 1 },
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

/* What the module keeps of a PostgreSQL connection, among its prepared
 * statements (whose labels are plain identifiers, so none can be this key):
 * whether the server sent a WARNING during the statement running now, and
 * the watch that bounds it. */
#define PG_SESSION "(remoteassist PostgreSQL session)"

typedef struct {
    int warned;
    ra_watch_t watch;
} pg_session_t;

/* PostgreSQL tells of a synchronous-replication wait that was cancelled (a
 * statement cancel, an administrator, a terminated backend) only with a
 * WARNING after the commit, which still reports success: "The transaction
 * has already committed locally, but might not have been replicated to the
 * standby." apr_dbd_pgsql installs a receiver that drops every notice. The
 * severity is read in its untranslated form (lc_messages may be any
 * language), and any WARNING during a write is taken as that one: a write
 * of the module's draws no other, and one taken wrongly costs a 503. */
static void pg_notice(void *arg, const PGresult *res)
{
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && !strcmp(severity, "WARNING")) {
        ((pg_session_t *)arg)->warned = 1;
    }
}

void ra_store_connection_observe(const ra_store_conn_t *conn)
{
    pg_session_t *session;

    if (dialect_of(conn->driver) != RA_DIALECT_PGSQL
        || apr_hash_get(conn->prepared, PG_SESSION, APR_HASH_KEY_STRING)) {
        return; /* PQreset keeps the receiver: it belongs to the PGconn */
    }
    session = apr_pcalloc(conn->pool, sizeof(*session));
    PQsetNoticeReceiver(apr_dbd_native_handle(conn->driver, conn->handle), pg_notice, session);
    apr_hash_set(conn->prepared, PG_SESSION, APR_HASH_KEY_STRING, session);
}

static pg_session_t *pg_session(const ra_store_conn_t *conn)
{
    return dialect_of(conn->driver) == RA_DIALECT_PGSQL
           ? apr_hash_get(conn->prepared, PG_SESSION, APR_HASH_KEY_STRING) : NULL;
}

/* Arms the client-side bound of one PostgreSQL round trip (none with bound
 * 0, on SQLite, or on a connection not set up by the module) and forgets
 * any earlier warning. The session, or NULL. */
static pg_session_t *pg_watch(const ra_store_conn_t *conn, apr_interval_time_t bound)
{
    pg_session_t *session = pg_session(conn);
    if (session) {
        session->warned = 0;
        if (bound > 0) {
            ra_watch_arm(&session->watch,
                         PQsocket(apr_dbd_native_handle(conn->driver, conn->handle)),
                         apr_time_now() + bound);
        }
        else {
            session->watch.fired = 0; /* not armed: the watchdog never sees it */
        }
    }
    return session;
}

/* Ends pg_watch's bound: 1 when it tripped and the connection was shut. */
static int pg_unwatch(pg_session_t *session)
{
    return session ? ra_watch_disarm(&session->watch) : 0;
}

/* Whether the connection is lost (not: a statement failed on it). */
static int pg_connection_lost(const ra_store_conn_t *conn)
{
    return dialect_of(conn->driver) == RA_DIALECT_PGSQL
           && PQstatus(apr_dbd_native_handle(conn->driver, conn->handle)) != CONNECTION_OK;
}

/* Receives one row of a read: its values, NULL for SQL NULL. */
typedef void (*row_fn)(apr_pool_t *pool, const char *const *values, void *baton);

/* ------------------------------------- SQLite: on the native handle */

/* Every SQLite statement of this unit runs on the pooled connection's
 * native handle, none through apr_dbd_sqlite3's query and select calls:
 * those hold apr-util's one process-wide driver mutex (apr_dbd_mutex_lock)
 * for the whole of each statement, SQLite's busy wait and a COMMIT's fsync
 * included, so in a child a single write stalled every other thread's
 * statements, reads too, and any other module's SQLite queries with them
 * (bench/NOTES.md, "SQLite statements off apr_dbd's process-wide mutex").
 * SQLite needs no such lock: mod_dbd hands a pooled connection to one
 * thread at a time. */

/* The generator's text with apr_dbd's placeholders (%s, %lld; it writes no
 * other '%') as the engine's own: SQLite's '?', or PostgreSQL's $1, $2, ... */
static const char *native_placeholders(apr_pool_t *pool, const char *text, int numbered)
{
    /* room for a '$' and five digits in place of each two-byte %s */
    char *native = apr_palloc(pool, strlen(text) * 3 + 1), *out = native;
    int n = 0;

    for (const char *in = text; *in;) {
        if (*in == '%') {
            out += numbered ? sprintf(out, "$%d", ++n) : sprintf(out, "?");
            in += in[1] == 's' ? 2 : 4; /* %s or %lld */
        }
        else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return native;
}

/* The statements that open and end a write's transaction. */
typedef enum {
    RA_SQLITE_BEGIN, RA_SQLITE_COMMIT, RA_SQLITE_ROLLBACK, RA_SQLITE_CONTROLS
} sqlite_control_e;

static const char *const sqlite_control_sql[RA_SQLITE_CONTROLS] = {
    /* takes the write lock first, so nothing read or written in the
     * transaction can be changed by another writer before the COMMIT */
    [RA_SQLITE_BEGIN] = "BEGIN IMMEDIATE",
    [RA_SQLITE_COMMIT] = "COMMIT",
    [RA_SQLITE_ROLLBACK] = "ROLLBACK",
};

/* A SQLite connection's statements, each prepared once on it
 * (SQLITE_PREPARE_PERSISTENT; SQLite compiles one again by itself after a
 * schema change): the fixed ones and the transaction's, when first used,
 * and those of generated reads (lists and counts) by their text, at most
 * SQLITE_READ_SHAPES of them, replaced in turn, since the text varies with
 * $filter and $orderby (their values are parameters). Each is reset after
 * its use, so that none holds a read transaction open. Kept in
 * conn->prepared under a key no label can be (labels are identifiers). */
#define SQLITE_READ_SHAPES 16
#define SQLITE_STATEMENTS_KEY "(remoteassist SQLite statements)"

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *fixed[RA_STMT_KINDS];
    const char *kinds[RA_STMT_KINDS];      /* its placeholders: 's' %s, 'n' %lld */
    sqlite3_stmt *control[RA_SQLITE_CONTROLS];
    int next;                              /* the read shape replaced next */
    sqlite3_stmt *shape[SQLITE_READ_SHAPES];
} sqlite_statements_t;

/* Finalizes every statement kept in a sqlite_statements_t. */
static void sqlite_finalize_all(sqlite3_stmt **stmt, int n)
{
    for (int i = 0; i < n; i++) {
        sqlite3_finalize(stmt[i]);
        stmt[i] = NULL;
    }
}

/* A cleanup of the connection's pool, registered after mod_dbd's own (which
 * closes the connection) and so run before it: sqlite3_close finds no
 * statement left. */
static apr_status_t sqlite_statements_finalize(void *data)
{
    sqlite_statements_t *kept = data;
    sqlite_finalize_all(kept->fixed, RA_STMT_KINDS);
    sqlite_finalize_all(kept->control, RA_SQLITE_CONTROLS);
    sqlite_finalize_all(kept->shape, SQLITE_READ_SHAPES);
    return APR_SUCCESS;
}

void ra_store_connection_release(const ra_store_conn_t *conn)
{
    sqlite_statements_t *kept = dialect_of(conn->driver) == RA_DIALECT_SQLITE
                                ? apr_hash_get(conn->prepared, SQLITE_STATEMENTS_KEY,
                                               APR_HASH_KEY_STRING) : NULL;
    if (kept) {
        apr_pool_cleanup_run(conn->pool, kept, sqlite_statements_finalize);
        apr_hash_set(conn->prepared, SQLITE_STATEMENTS_KEY, APR_HASH_KEY_STRING, NULL);
    }
}

/* The connection's kept statements, made at the first use. */
static sqlite_statements_t *sqlite_statements(const ra_store_conn_t *conn)
{
    sqlite_statements_t *kept = apr_hash_get(conn->prepared, SQLITE_STATEMENTS_KEY,
                                             APR_HASH_KEY_STRING);
    if (!kept) {
        kept = apr_pcalloc(conn->pool, sizeof(*kept));
        kept->db = apr_dbd_native_handle(conn->driver, conn->handle);
        apr_pool_cleanup_register(conn->pool, kept, sqlite_statements_finalize,
                                  apr_pool_cleanup_null);
        apr_hash_set(conn->prepared, SQLITE_STATEMENTS_KEY, APR_HASH_KEY_STRING, kept);
    }
    return kept;
}

/* text prepared into *slot, to be kept: a SQLite code. */
static int sqlite_prepare_kept(sqlite3 *db, const char *text, sqlite3_stmt **slot)
{
    return sqlite3_prepare_v3(db, text, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
}

/* The kinds of a fixed statement's placeholders, in order: 's' for %s,
 * 'n' for %lld. */
static const char *placeholder_kinds(apr_pool_t *pool, const char *sql)
{
    char *kinds = apr_palloc(pool, strlen(sql) / 2 + 1), *out = kinds;
    for (const char *p = strchr(sql, '%'); p; p = strchr(p + 1, '%')) {
        *out++ = p[1] == 's' ? 's' : 'n';
    }
    *out = '\0';
    return kinds;
}

/* The fixed statement which on conn, prepared now or kept from before.
 * When prepared, its native text is made in pool, which must not be the
 * connection's (a statement that keeps failing to prepare would grow it
 * with every request), and its placeholders' kinds, once, in the
 * connection's. */
static int sqlite_fixed(apr_pool_t *pool, const ra_store_conn_t *conn, ra_stmt_e which,
                        sqlite3_stmt **stmt)
{
    sqlite_statements_t *kept = sqlite_statements(conn);
    int rc = SQLITE_OK;

    if (!kept->fixed[which]) {
        rc = sqlite_prepare_kept(kept->db, native_placeholders(pool, statements[which].sql, 0),
                                 &kept->fixed[which]);
        if (rc == SQLITE_OK && !kept->kinds[which]) {
            kept->kinds[which] = placeholder_kinds(conn->pool, statements[which].sql);
        }
    }
    *stmt = kept->fixed[which];
    return rc;
}

/* The generated read of text on conn, prepared now or kept from before. */
static int sqlite_read_statement(const ra_store_conn_t *conn, const char *text,
                                 sqlite3_stmt **stmt)
{
    sqlite_statements_t *kept = sqlite_statements(conn);

    for (int i = 0; i < SQLITE_READ_SHAPES; i++) {
        if (kept->shape[i] && !strcmp(sqlite3_sql(kept->shape[i]), text)) {
            *stmt = kept->shape[i];
            return SQLITE_OK;
        }
    }
    int rc = sqlite_prepare_kept(kept->db, text, stmt);
    if (rc == SQLITE_OK) {
        sqlite3_finalize(kept->shape[kept->next]);
        kept->shape[kept->next] = *stmt;
        kept->next = (kept->next + 1) % SQLITE_READ_SHAPES;
    }
    return rc;
}

/* Binds a fixed statement's arguments as apr_dbd's binary form gives them
 * (kinds: placeholder_kinds): text for %s, a pointer to an apr_int64_t for
 * %lld, SQL NULL for NULL. */
static int sqlite_bind(sqlite3_stmt *stmt, const char *kinds, const void **args)
{
    int rc = SQLITE_OK;

    for (int i = 0; kinds[i] && rc == SQLITE_OK; i++) {
        rc = !args[i] ? sqlite3_bind_null(stmt, i + 1)
             : kinds[i] == 's' ? sqlite3_bind_text(stmt, i + 1, args[i], -1, SQLITE_STATIC)
                               : sqlite3_bind_int64(stmt, i + 1, *(const apr_int64_t *)args[i]);
    }
    return rc;
}

/* Between two tries of a statement that another writer kept out. */
#define SQLITE_BUSY_PAUSE apr_time_from_msec(100)

/* Runs a bound statement to its end, handing each row (ncols values, NULL
 * for SQL NULL) to each, then resets it and clears its bindings: SQLITE_DONE,
 * or the failure, which stays the connection's error code and message. A
 * statement another writer kept out past SQLite's busy timeout
 * (SQLITE_BUSY before any row) is tried again after a pause until patience
 * has passed: RA_STORE_SQLITE_WRITE_PATIENCE for the fixed statements and
 * the transactions' (the patience apr_dbd_sqlite3 had with them), 0 for the
 * generated ones, whose own bound a pause would overrun. */
static int sqlite_run(apr_pool_t *pool, sqlite3_stmt *stmt, apr_interval_time_t patience,
                      int ncols, row_fn each, void *baton)
{
    const char **values = ncols ? apr_palloc(pool, sizeof(char *) * (apr_size_t)ncols) : NULL;
    apr_time_t give_up = apr_time_now() + patience;
    int rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_BUSY && apr_time_now() < give_up) {
        sqlite3_reset(stmt);
        apr_sleep(SQLITE_BUSY_PAUSE);
    }
    while (rc == SQLITE_ROW) {
        for (int i = 0; i < ncols; i++) {
            values[i] = (const char *)sqlite3_column_text(stmt, i);
        }
        each(pool, values, baton);
        rc = sqlite3_step(stmt);
    }
    /* reset, not finalized: it stays prepared; no read transaction is left
     * open, and no request's text stays bound */
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* BEGIN IMMEDIATE, COMMIT or ROLLBACK on conn: a SQLite code. */
static int sqlite_control(const ra_store_conn_t *conn, sqlite_control_e which)
{
    sqlite_statements_t *kept = sqlite_statements(conn);
    int rc = kept->control[which]
             ? SQLITE_OK
             : sqlite_prepare_kept(kept->db, sqlite_control_sql[which], &kept->control[which]);
    return rc == SQLITE_OK
           ? sqlite_run(NULL, kept->control[which], RA_STORE_SQLITE_WRITE_PATIENCE, 0, NULL, NULL)
           : rc;
}

/* A fixed statement on SQLite: a write (*nrows gets the rows changed) or a
 * read (each row to each). */
static ra_store_result_e sqlite_execute(apr_pool_t *pool, const ra_store_conn_t *conn,
                                        ra_stmt_e which, const void **args, int *nrows,
                                        int ncols, row_fn each, void *baton,
                                        const char **error)
{
    const char *label = statements[which].label;
    sqlite3_stmt *stmt;
    int rc = sqlite_fixed(pool, conn, which, &stmt);

    if (rc != SQLITE_OK) {
        *error = ra_dbd_error(pool, conn->driver, conn->handle, rc,
                              apr_pstrcat(pool, "prepare ", label, NULL));
        return RA_STORE_FAILED;
    }
    rc = sqlite_bind(stmt, sqlite_statements(conn)->kinds[which], args);
    if (rc == SQLITE_OK) {
        rc = sqlite_run(pool, stmt, RA_STORE_SQLITE_WRITE_PATIENCE, ncols, each, baton);
    }
    else { /* not run, so not cleared by sqlite_run */
        sqlite3_clear_bindings(stmt);
    }
    if (rc != SQLITE_DONE) {
        *error = ra_dbd_error(pool, conn->driver, conn->handle, rc, label);
        return RA_STORE_FAILED;
    }
    if (nrows) {
        *nrows = sqlite3_changes(sqlite3_db_handle(stmt));
    }
    return RA_STORE_DONE;
}

/* ---------------------------------------------------- fixed statements */

/* PostgreSQL: prepares a statement (again) on this connection and keeps it
 * where mod_dbd keeps a connection's statements: the hash belongs to the
 * connection, which this request (or mod_dbd's hook) holds. *rv gets the
 * driver's code. */
static apr_dbd_prepared_t *prepare(const ra_store_conn_t *conn, ra_stmt_e which,
                                   apr_dbd_prepared_t *stmt, int *rv)
{
    pg_session_t *session = pg_watch(conn, conn->query_timeout);
    *rv = apr_dbd_prepare(conn->driver, conn->pool, conn->handle, statements[which].sql,
                          statements[which].label, &stmt);
    pg_unwatch(session);
    if (*rv != 0) {
        return NULL;
    }
    apr_hash_set(conn->prepared, statements[which].label, APR_HASH_KEY_STRING, stmt);
    return stmt;
}

const char *ra_store_prepare_statements(const ra_store_conn_t *conn)
{
    int sqlite = dialect_of(conn->driver) == RA_DIALECT_SQLITE;
    const char *error = NULL;
    apr_pool_t *scratch;

    apr_pool_create(&scratch, conn->pool);
    for (int i = 0; i < RA_STMT_KINDS && !error; i++) {
        sqlite3_stmt *native;
        int rv;
        if (sqlite ? statements[i].pgsql_only
                         || sqlite_fixed(scratch, conn, (ra_stmt_e)i, &native) == SQLITE_OK
                   : prepare(conn, (ra_stmt_e)i, NULL, &rv) != NULL) {
            continue;
        }
        if (sqlite) {
            rv = sqlite3_errcode(apr_dbd_native_handle(conn->driver, conn->handle));
        }
        error = ra_dbd_error(conn->pool, conn->driver, conn->handle, rv,
                             apr_pstrcat(conn->pool, "prepare ", statements[i].label, NULL));
    }
    apr_pool_destroy(scratch);
    return error;
}

int ra_store_statement_prepared(const ra_store_conn_t *conn, ra_stmt_e which)
{
    if (dialect_of(conn->driver) == RA_DIALECT_SQLITE) {
        const sqlite_statements_t *kept = apr_hash_get(conn->prepared, SQLITE_STATEMENTS_KEY,
                                                       APR_HASH_KEY_STRING);
        return kept && kept->fixed[which];
    }
    return apr_hash_get(conn->prepared, statements[which].label, APR_HASH_KEY_STRING) != NULL;
}

/* A lost PostgreSQL connection opened again where it stands, once:
 * apr_dbd_check_conn runs PQreset (within DBDParams' connect_timeout; with
 * several hosts and target_session_attrs=read-write it finds the promoted
 * primary), which keeps the notice receiver but drops the server's prepared
 * statements, so they are prepared again, as after mod_dbd's own reset.
 * mod_dbd has no way to swap a request's pooled connection, and the request
 * holds this one: resetting it in place is that swap. */
static int pg_reconnect(apr_pool_t *pool, const ra_store_conn_t *conn)
{
    return apr_dbd_check_conn(conn->driver, pool, conn->handle) == APR_SUCCESS
           && !ra_store_prepare_statements(conn);
}

/* Prepares again, on a PostgreSQL connection that is still open, the n
 * statements a failed transaction used: a pooler's DISCARD ALL, or a
 * DEALLOCATE, drops them and leaves the connection. PREPARE fails for one
 * still there, so the count of those prepared again is 0 when none was
 * missing, and the failure was the transaction's own. */
static int prepare_missing(const ra_store_conn_t *conn, const ra_stmt_e *used, int n)
{
    int rv, missing = 0;
    for (int i = 0; i < n; i++) {
        missing += prepare(conn, used[i], NULL, &rv) != NULL;
    }
    return missing;
}

/* What a round trip whose bound tripped gets: a read failed, a write may
 * have committed without its replication being confirmed. */
static ra_store_result_e tripped(apr_pool_t *pool, apr_interval_time_t bound, int write,
                                 const char *what, const char **error)
{
    *error = apr_psprintf(pool, "%s: no answer from PostgreSQL within %" APR_TIME_T_FMT
                          " ms (RemoteAssistQueryTimeout); the connection was closed", what,
                          apr_time_as_msec(bound));
    return write ? RA_STORE_UNREPLICATED : RA_STORE_TIMED_OUT;
}

/* Runs a fixed statement: a write (each NULL: *nrows gets the rows changed)
 * or a read (each row, ncols values, to each). On SQLite on the native
 * handle (sqlite_execute). On PostgreSQL each round trip is bounded by
 * conn->query_timeout, a write whose commit drew a WARNING is
 * RA_STORE_UNREPLICATED, a statement the connection lost (PQreset after a
 * server restart drops them, and mod_dbd does not prepare them again) is
 * prepared again and run once more, and after a lost connection the
 * statement runs once more on a fresh one (retry); the error reported is
 * the first one. */
static ra_store_result_e execute_as(apr_pool_t *pool, const ra_store_conn_t *conn,
                                    ra_stmt_e which, const void **args, int *nrows,
                                    int ncols, row_fn each, void *baton, int retry,
                                    const char **error)
{
    if (dialect_of(conn->driver) == RA_DIALECT_SQLITE) {
        return sqlite_execute(pool, conn, which, args, nrows, ncols, each, baton, error);
    }

    const char *label = statements[which].label;
    apr_dbd_prepared_t *stmt = apr_hash_get(conn->prepared, label, APR_HASH_KEY_STRING);
    const char *first_error = NULL;
    int rv, reconnected = 0;

    if (!stmt && !(stmt = prepare(conn, which, NULL, &rv))) {
        if (!retry || !pg_connection_lost(conn) || !pg_reconnect(pool, conn)
            || !(stmt = apr_hash_get(conn->prepared, label, APR_HASH_KEY_STRING))) {
            *error = ra_dbd_error(pool, conn->driver, conn->handle, rv,
                                  apr_pstrcat(pool, "prepare ", label, NULL));
            return RA_STORE_FAILED;
        }
        reconnected = 1;
    }
    for (int attempt = 0;; attempt++) {
        apr_dbd_results_t *res = NULL;
        pg_session_t *session = pg_watch(conn, conn->query_timeout);
        rv = each ? apr_dbd_pbselect(conn->driver, pool, conn->handle, &res, stmt, 1, args)
                  : apr_dbd_pbquery(conn->driver, pool, conn->handle, nrows, stmt, args);
        int timed_out = pg_unwatch(session);
        if (rv == 0) {
            if (!each && session && session->warned) {
                *error = apr_pstrcat(pool, label, ": committed on the primary, but PostgreSQL "
                                     "warned that its wait for synchronous replication was "
                                     "cancelled", NULL);
                return RA_STORE_UNREPLICATED;
            }
            const char **values = each ? apr_palloc(pool, sizeof(char *) * (apr_size_t)ncols)
                                       : NULL;
            for (apr_dbd_row_t *row = NULL;
                 each && apr_dbd_get_row(conn->driver, pool, res, &row, -1) == 0;) {
                for (int i = 0; i < ncols; i++) {
                    values[i] = entry(conn->driver, row, i);
                }
                each(pool, values, baton);
            }
            return RA_STORE_DONE;
        }
        if (timed_out) {
            return tripped(pool, conn->query_timeout, !each, label, error);
        }
        if (!first_error) {
            first_error = ra_dbd_error(pool, conn->driver, conn->handle, rv, label);
        }
        if (!retry) { /* in a transaction: the failure aborted it */
            *error = first_error;
            return RA_STORE_FAILED;
        }
        if (!reconnected && pg_connection_lost(conn)) {
            reconnected = 1;
            if (pg_reconnect(pool, conn)
                && (stmt = apr_hash_get(conn->prepared, label, APR_HASH_KEY_STRING))) {
                continue;
            }
            *error = first_error;
            return RA_STORE_FAILED;
        }
        /* a statement the connection lost is prepared again; if it is still
         * there, PREPARE fails and the first error stands */
        if (attempt > 0 || !(stmt = prepare(conn, which, stmt, &rv))) {
            *error = first_error;
            return RA_STORE_FAILED;
        }
    }
}

/* A fixed write, or a fixed read (each row to each). */
static ra_store_result_e execute(apr_pool_t *pool, const ra_store_conn_t *conn,
                                 ra_stmt_e which, const void **args, int *nrows,
                                 int ncols, row_fn each, void *baton, const char **error)
{
    return execute_as(pool, conn, which, args, nrows, ncols, each, baton, 1, error);
}

/* A write inside the caller's transaction: never on a fresh connection (it
 * would leave the transaction behind), and on PostgreSQL tried once (a
 * failed statement aborts the transaction). */
static ra_store_result_e execute_once(apr_pool_t *pool, const ra_store_conn_t *conn,
                                      ra_stmt_e which, const void **args, int *nrows,
                                      const char **error)
{
    return execute_as(pool, conn, which, args, nrows, 0, NULL, NULL, 0, error);
}

/* The two sort ticks of a partner's DateTimeOffsets; 0 if one is invalid. */
static int partner_ticks(const ra_partner_t *p, apr_int64_t *last, apr_int64_t *expiry)
{
    return ra_entity_datetime_parse(p->values[RA_PROP_LAST_CONNECTION], last)
           && ra_entity_datetime_parse(p->values[RA_PROP_EXPIRY], expiry);
}

/* PostgreSQL: an id found taken. A 409 tells the client that its create,
 * or an earlier try of it, is stored, and a 201 that it is: both must hold
 * after a failover. The row may be one whose commit's wait for synchronous
 * replication was cancelled (that try answered 503), so far on the primary
 * alone; pg_stat_replication would say, but the least-privileged role may
 * not read it. So a write that waits for replication itself runs first,
 * touching the row: its commit comes later in the WAL than the row's, and a
 * standby confirms WAL in order, so when it is confirmed the row is too.
 * Then the row is this create's own (its ETag, random per create: a try
 * whose answer was lost, or a retry on a fresh connection) or another's. */
static ra_store_result_e settle_taken(apr_pool_t *pool, const ra_store_conn_t *conn,
                                      const char *tenant, const ra_partner_t *partner,
                                      const char **error)
{
    const char *id = partner->values[RA_PROP_ID];
    const void *args[] = { tenant, id };
    ra_partner_t stored;
    int nrows = 0;

    ra_store_result_e proved = execute(pool, conn, RA_STMT_TOUCH, args, &nrows, 0, NULL, NULL,
                                          error);
    if (proved != RA_STORE_DONE) {
        return proved;
    }
    switch (ra_store_get(pool, conn, tenant, id, &stored, error)) {
    case RA_STORE_DONE:
        return strcmp(stored.etag, partner->etag) ? RA_STORE_CONFLICT : RA_STORE_DONE;
    case RA_STORE_MISSING: /* deleted meanwhile: the client's retry creates it */
        *error = "the id was taken, then deleted while this create looked";
        return RA_STORE_FAILED;
    default:
        return RA_STORE_FAILED;
    }
}

/* ------------------------------------------ transactions and audit events */

static int pg_query(const ra_store_conn_t *conn, apr_interval_time_t bound, const char *sql,
                    int *timed_out);
static ra_store_result_e select_generated(apr_pool_t *pool, const ra_store_conn_t *conn,
                                          const ra_sql_t *sql, int ncols, row_fn each,
                                          void *baton, const char **error);

/* A transaction for a write and its audit events: on SQLite BEGIN
 * IMMEDIATE (sqlite_control_sql), on PostgreSQL a round trip bounded like
 * every other (RemoteAssistQueryTimeout). */
static int begin(apr_pool_t *pool, const ra_store_conn_t *conn, const char **error)
{
    int timed_out = 0;
    int sqlite = dialect_of(conn->driver) == RA_DIALECT_SQLITE;
    int rv = sqlite ? sqlite_control(conn, RA_SQLITE_BEGIN)
                    : pg_query(conn, conn->query_timeout, "BEGIN", &timed_out);
    if (rv != (sqlite ? SQLITE_DONE : 0)) {
        *error = ra_dbd_error(pool, conn->driver, conn->handle, rv, "begin");
        return 0;
    }
    return 1;
}

/* COMMIT when commit, else (or when the COMMIT fails) ROLLBACK. The
 * COMMIT is where PostgreSQL waits for a synchronous standby: bounded on the
 * client's side, and a wait that was cancelled (its WARNING) or cut short
 * by the bound makes the transaction RA_STORE_UNREPLICATED, as an
 * autocommit write's is (execute). RA_STORE_DONE only when it committed
 * and, on PostgreSQL, was confirmed. */
static ra_store_result_e finish(apr_pool_t *pool, const ra_store_conn_t *conn, int commit,
                                const char **error)
{
    int nrows, rv;

    if (dialect_of(conn->driver) == RA_DIALECT_SQLITE) {
        if (commit && (rv = sqlite_control(conn, RA_SQLITE_COMMIT)) == SQLITE_DONE) {
            return RA_STORE_DONE;
        }
        if (commit) {
            *error = ra_dbd_error(pool, conn->driver, conn->handle, rv, "commit");
        }
        sqlite_control(conn, RA_SQLITE_ROLLBACK);
        return RA_STORE_FAILED;
    }
    if (commit) {
        pg_session_t *session = pg_watch(conn, conn->query_timeout);
        rv = apr_dbd_query(conn->driver, conn->handle, &nrows, "COMMIT");
        if (pg_unwatch(session)) {
            return tripped(pool, conn->query_timeout, 1, "commit", error);
        }
        if (rv == 0 && session && session->warned) {
            *error = "commit: committed on the primary, but PostgreSQL warned that its wait "
                     "for synchronous replication was cancelled";
            return RA_STORE_UNREPLICATED;
        }
        if (rv == 0) {
            return RA_STORE_DONE;
        }
        *error = ra_dbd_error(pool, conn->driver, conn->handle, rv, "commit");
    }
    apr_dbd_query(conn->driver, conn->handle, &nrows, "ROLLBACK");
    return RA_STORE_FAILED;
}

static void count_returned(apr_pool_t *pool, const char *const *values, void *baton)
{
    (void)pool, (void)values;
    ++*(int *)baton;
}

/* Inserts event with the prepared statement, inside the caller's
 * transaction. */
static int insert_event(apr_pool_t *pool, const ra_store_conn_t *conn,
                        const ra_audit_event_t *e, const char **error)
{
    apr_int64_t application = e->actor.application;
    const void *args[] = { e->tenant, e->id, e->date_time, &e->ticks, RA_AUDIT_CATEGORY,
                           e->activity, e->operation_type, e->correlation_id, &application,
                           e->actor.user_id, e->actor.upn, e->actor.app_id,
                           e->actor.ip_address, e->actor.permissions, e->resource_id,
                           e->resource_name, e->modified };
    int nrows = 0;

    if (execute_once(pool, conn, RA_STMT_EVENT, args, &nrows, error) != RA_STORE_DONE) {
        return 0;
    }
    if (nrows != 1) {
        *error = "an audit event was not written";
        return 0;
    }
    return 1;
}

/* A fixed write (replace, delete, insert) and, when it changed a row, its
 * audit event, in one transaction. Inside it a statement is tried once (a
 * reconnect would leave the transaction behind, and a failed statement
 * aborts it), so a PostgreSQL connection that was lost, or is open but lost
 * its prepared statements (mod_dbd's reset after a server restart, a
 * pooler's DISCARD ALL), is opened again or prepares the transaction's
 * statements after the ROLLBACK, and the transaction runs once more. */
static ra_store_result_e audited_write(apr_pool_t *pool, const ra_store_conn_t *conn,
                                       ra_stmt_e which, const void **args,
                                       const ra_audit_event_t *event, const char **error)
{
    int nrows = 0;

    if (!event) {
        ra_store_result_e result = execute(pool, conn, which, args, &nrows, 0, NULL, NULL,
                                           error);
        return result != RA_STORE_DONE ? result : nrows == 0 ? RA_STORE_MISSING : RA_STORE_DONE;
    }
    for (int attempt = 0;; attempt++) {
        if (begin(pool, conn, error)) {
            /* nothing is committed before the COMMIT: a statement whose
             * bound tripped in here is a failure, not an unconfirmed write */
            int written = execute_once(pool, conn, which, args, &nrows, error)
                              == RA_STORE_DONE
                          && (nrows == 0 || insert_event(pool, conn, event, error));
            if (written && nrows == 0) {
                finish(pool, conn, 0, error);
                return RA_STORE_MISSING;
            }
            ra_store_result_e finished = finish(pool, conn, written, error);
            if (finished != RA_STORE_FAILED) {
                return finished;
            }
        }
        if (attempt > 0 || dialect_of(conn->driver) != RA_DIALECT_PGSQL) {
            return RA_STORE_FAILED;
        }
        const ra_stmt_e used[] = { which, RA_STMT_EVENT };
        if (pg_connection_lost(conn) ? !pg_reconnect(pool, conn)
                                     : !prepare_missing(conn, used, 2)) {
            return RA_STORE_FAILED;
        }
    }
}

#define INSERT_ARGS 11

/* The prepared insert's arguments for row (ticks: room for its two sort
 * ticks); 0 when a date-time of it is not an Edm.DateTimeOffset. */
static int insert_args(const ra_store_row_t *row, apr_int64_t ticks[2],
                       const void *args[INSERT_ARGS], const char **error)
{
    const ra_partner_t *partner = row->partner;
    if (!partner_ticks(partner, &ticks[0], &ticks[1])) {
        *error = "a date-time is not an Edm.DateTimeOffset";
        return 0;
    }
    const void *values[INSERT_ARGS] = {
        row->tenant, partner->values[RA_PROP_ID], partner->values[RA_PROP_DISPLAY_NAME],
        partner->values[RA_PROP_ONBOARDING_URL], partner->values[RA_PROP_ONBOARDING_STATUS],
        partner->values[RA_PROP_LAST_CONNECTION], &ticks[0], partner->values[RA_PROP_EXPIRY],
        &ticks[1], partner->etag, ra_version_name(row->version) };
    memcpy(args, values, sizeof(values));
    return 1;
}

/* One row, with its event if it has one: RA_STORE_CONFLICT when its id is
 * taken. */
static ra_store_result_e insert_row(apr_pool_t *pool, const ra_store_conn_t *conn,
                                    const ra_store_row_t *row, const char **error)
{
    apr_int64_t ticks[2];
    const void *args[INSERT_ARGS];

    *error = NULL;
    if (!insert_args(row, ticks, args, error)) {
        return RA_STORE_FAILED;
    }
    ra_store_result_e result = audited_write(pool, conn, RA_STMT_INSERT, args, row->event,
                                             error);
    if (result != RA_STORE_MISSING) {
        return result;
    }
    return dialect_of(conn->driver) == RA_DIALECT_PGSQL
           ? settle_taken(pool, conn, row->tenant, row->partner, error) : RA_STORE_CONFLICT;
}

ra_store_result_e ra_store_insert(apr_pool_t *pool, const ra_store_conn_t *conn,
                                  const char *tenant, const ra_partner_t *partner,
                                  ra_version_e version, const char **error)
{
    ra_store_row_t row = { tenant, partner, version, NULL };
    return insert_row(pool, conn, &row, error);
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

/* Whether the last statement on an SQLite connection failed because another
 * writer held the database past RA_STORE_SQLITE_WRITE_PATIENCE: it wrote
 * nothing. */
static int sqlite_busy(const ra_store_conn_t *conn)
{
    int rc = sqlite3_errcode(apr_dbd_native_handle(conn->driver, conn->handle)) & 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* SQLite: the batch in one transaction, each row by the prepared insert
 * and, when that created it, its event by the prepared event insert; a row
 * the insert skipped (ON CONFLICT DO NOTHING) had its id taken, by the
 * tenant or by an earlier row of the batch. A statement per row rather than
 * one over all rows: inside a transaction, a statement that writes several
 * rows keeps a journal of every page it changes so that it can be undone
 * alone (past 64 KiB a temporary file: an open, a write per page, an
 * unlink), and a text that changes with the batch's size is compiled anew
 * for each batch; a single-row insert needs neither (bench/NOTES.md,
 * "where a SQLite batch's time goes"). created[i]: row i's insert created
 * it. *busy: it failed because another SQLite writer held the database
 * (nothing was written). */
static ra_store_result_e sqlite_batch(apr_pool_t *pool, const ra_store_conn_t *conn,
                                      const ra_store_row_t *const *rows, int n, int *created,
                                      int *busy, const char **error)
{
    int ok = 1;

    if (!begin(pool, conn, error)) {
        *busy = sqlite_busy(conn);
        return RA_STORE_FAILED;
    }
    for (int i = 0; ok && i < n; i++) {
        apr_int64_t ticks[2];
        const void *args[INSERT_ARGS];
        int nrows = 0;
        ok = insert_args(rows[i], ticks, args, error)
             && execute_once(pool, conn, RA_STMT_INSERT, args, &nrows, error) == RA_STORE_DONE;
        created[i] = ok && nrows == 1;
        if (created[i] && rows[i]->event) {
            ok = insert_event(pool, conn, rows[i]->event, error);
        }
    }
    *busy = !ok && sqlite_busy(conn);
    return finish(pool, conn, ok, error);
}

/* ------------------------------------------ PostgreSQL: a pipelined batch */

static const char *decimal(apr_pool_t *pool, apr_int64_t number)
{
    return apr_psprintf(pool, "%" APR_INT64_T_FMT, number);
}

/* Queues the prepared insert of row, its values as text (as apr_dbd_pgsql
 * sends them); 0 when it cannot. */
static int pg_send_row(apr_pool_t *pool, PGconn *pg, const ra_store_row_t *row)
{
    const ra_partner_t *p = row->partner;
    apr_int64_t last, expiry;

    if (!partner_ticks(p, &last, &expiry)) {
        return 0;
    }
    const char *values[] = { row->tenant, p->values[RA_PROP_ID], p->values[RA_PROP_DISPLAY_NAME],
                             p->values[RA_PROP_ONBOARDING_URL],
                             p->values[RA_PROP_ONBOARDING_STATUS],
                             p->values[RA_PROP_LAST_CONNECTION], decimal(pool, last),
                             p->values[RA_PROP_EXPIRY], decimal(pool, expiry), p->etag,
                             ra_version_name(row->version) };
    return PQsendQueryPrepared(pg, statements[RA_STMT_INSERT].label,
                               (int)(sizeof(values) / sizeof(values[0])), values, NULL, NULL, 0);
}

/* Queues the prepared insert of row's event (RA_STMT_INSERT_EVENT). */
static int pg_send_event(apr_pool_t *pool, PGconn *pg, const ra_store_row_t *row)
{
    const ra_audit_event_t *e = row->event;
    const char *values[] = { e->tenant, e->id, e->date_time, decimal(pool, e->ticks),
                             RA_AUDIT_CATEGORY, e->activity, e->operation_type,
                             e->correlation_id, decimal(pool, e->actor.application),
                             e->actor.user_id, e->actor.upn, e->actor.app_id,
                             e->actor.ip_address, e->actor.permissions, e->resource_id,
                             e->resource_name, e->modified,
                             row->tenant, row->partner->values[RA_PROP_ID], row->partner->etag };
    return PQsendQueryPrepared(pg, statements[RA_STMT_INSERT_EVENT].label,
                               (int)(sizeof(values) / sizeof(values[0])), values, NULL, NULL, 0);
}

/* What a pipeline's sender makes of one statement's result (not the
 * Sync's): 0 when it is a failure. first: no failure came before it, so
 * this one's message is the one to keep. */
typedef int (*pg_result_fn)(PGresult *res, ExecStatusType status, int first, void *baton);

/* Reads a pipeline's answers up to its Sync's: every statement sent answers
 * one result, then NULL; a failed commit answers one more (its error, then
 * NULL); the Sync answers PGRES_PIPELINE_SYNC. A broken connection answers
 * NULL from then on, and so does one whose Sync could not be queued once the
 * statements' answers are read. *ok is cleared by any failure; 1 when the
 * Sync's answer was read. */
static int pg_pipeline_read(PGconn *pg, int sync_queued, int sent, pg_result_fn each,
                            void *baton, int *ok)
{
    int synced = 0, ended = 0;

    for (PGresult *res; !synced;) {
        if (!(res = PQgetResult(pg))) {
            if (PQstatus(pg) != CONNECTION_OK || (!sync_queued && ++ended > sent)) {
                *ok = 0;
                break;
            }
            continue;
        }
        ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_PIPELINE_SYNC) {
            synced = 1;
        }
        else if (!each(res, status, *ok, baton)) {
            *ok = 0;
        }
        PQclear(res);
    }
    return synced;
}

/* Leaves pipeline mode once the pipeline's watch is off: after its Sync's
 * answer; without it the connection can neither leave nor end what it sent,
 * and a new one (PQreset) ends both, its statements prepared again when
 * next missed. */
static void pg_pipeline_leave(PGconn *pg, int synced)
{
    if (synced) {
        PQexitPipelineMode(pg);
    }
    else if (PQstatus(pg) == CONNECTION_OK) {
        PQreset(pg);
    }
}

typedef struct {
    apr_pool_t *pool;
    int *created;
    const int *order; /* the rows in the order sent */
    int n, k;
    const char **error;
} pg_batch_reading_t;

/* A batch's statement: an insert's row count, or its failure. */
static int pg_batch_result(PGresult *res, ExecStatusType status, int first, void *baton)
{
    pg_batch_reading_t *b = baton;
    if (status == PGRES_COMMAND_OK) {
        if (b->k < b->n) {
            b->created[b->order[b->k]] = !strcmp(PQcmdTuples(res), "1");
        }
        b->k++;
        return 1;
    }
    if (first && status != PGRES_PIPELINE_ABORTED) {
        *b->error = apr_psprintf(b->pool, "batch insert: %s", PQresultErrorMessage(res));
    }
    return 0;
}

static int by_key(const void *a, const void *b, void *rows_arg)
{
    const ra_store_row_t *const *rows = rows_arg;
    const ra_store_row_t *x = rows[*(const int *)a], *y = rows[*(const int *)b];
    int by_tenant = strcmp(x->tenant, y->tenant);
    return by_tenant ? by_tenant
                     : strcmp(x->partner->values[RA_PROP_ID], y->partner->values[RA_PROP_ID]);
}

/* The rows' indexes ordered by (tenant, id). Batches commit side by side
 * (each child's, each node's), and an insert waits for another
 * transaction's uncommitted row of the same key: two batches holding the
 * same two new ids in opposite orders would wait for each other until
 * PostgreSQL's deadlock_timeout broke one. In one order, the later one
 * only waits. */
static int *in_key_order(apr_pool_t *pool, const ra_store_row_t *const *rows, int n)
{
    int *order = apr_palloc(pool, sizeof(*order) * (size_t)n);
    for (int i = 0; i < n; i++) {
        order[i] = i;
    }
    qsort_r(order, (size_t)n, sizeof(*order), by_key, (void *)rows);
    return order;
}

/* The batch as one pipeline: each row's prepared insert, each event's, one
 * Sync. Between Syncs PostgreSQL runs the statements as one implicit
 * transaction, so the batch and its events commit together at the Sync, or
 * on the first error none of it does (the later statements come back
 * PGRES_PIPELINE_ABORTED); the COMMIT's wait for a synchronous standby
 * happens before the Sync's answer, its WARNING too. One round trip in all,
 * bounded as one (conn->query_timeout). created[i]: row i's insert wrote
 * it (ON CONFLICT DO NOTHING: one row, or none when the id was taken). A
 * connection left in pipeline mode would refuse apr_dbd's next statement:
 * it leaves only once the Sync's answer is read, or broken, which PQreset
 * (mod_dbd's check, pg_reconnect) clears. */
static ra_store_result_e pg_pipeline(apr_pool_t *pool, const ra_store_conn_t *conn,
                                     const ra_store_row_t *const *rows, int n, int *created,
                                     const char **error)
{
    PGconn *pg = apr_dbd_native_handle(conn->driver, conn->handle);
    int ok = 1, sent = 0;

    *error = NULL;
    if (!PQenterPipelineMode(pg)) {
        *error = apr_psprintf(pool, "batch insert: %s", PQerrorMessage(pg));
        return RA_STORE_FAILED;
    }
    int *order = in_key_order(pool, rows, n);
    pg_session_t *session = pg_watch(conn, conn->query_timeout);
    for (int i = 0; ok && i < n; i++) {
        ok = pg_send_row(pool, pg, rows[order[i]]);
        sent += ok;
    }
    for (int i = 0; ok && i < n; i++) {
        if (rows[order[i]]->event) {
            ok = pg_send_event(pool, pg, rows[order[i]]);
            sent += ok;
        }
    }
    int sync_queued = PQpipelineSync(pg);
    ok &= sync_queued;
    pg_batch_reading_t reading = { pool, created, order, n, 0, error };
    int synced = pg_pipeline_read(pg, sync_queued, sent, pg_batch_result, &reading, &ok);
    int timed_out = pg_unwatch(session);
    pg_pipeline_leave(pg, synced);
    if (timed_out) {
        return tripped(pool, conn->query_timeout, 1, "batch insert", error);
    }
    if (!ok) {
        if (!*error) {
            *error = apr_psprintf(pool, "batch insert: %s", PQerrorMessage(pg));
        }
        return RA_STORE_FAILED;
    }
    if (session && session->warned) {
        *error = "batch insert: committed on the primary, but PostgreSQL warned that its "
                 "wait for synchronous replication was cancelled";
        return RA_STORE_UNREPLICATED;
    }
    return RA_STORE_DONE;
}

/* The batch's pipeline, once more after a lost connection (opened again,
 * as a statement's is) or after statements the connection lost (mod_dbd's
 * own PQreset drops them: prepared again, which fails for one still there).
 * A batch whose first try was cut off by its bound is not retried: it may
 * have committed, and is RA_STORE_UNREPLICATED. */
static ra_store_result_e pg_batch(apr_pool_t *pool, const ra_store_conn_t *conn,
                                  const ra_store_row_t *const *rows, int n, int *created,
                                  const char **error)
{
    for (int attempt = 0;; attempt++) {
        ra_store_result_e result = pg_pipeline(pool, conn, rows, n, created, error);
        if (result != RA_STORE_FAILED || attempt > 0) {
            return result;
        }
        if (pg_connection_lost(conn)) {
            if (!pg_reconnect(pool, conn)) {
                return RA_STORE_FAILED;
            }
        }
        else {
            static const ra_stmt_e used[] = { RA_STMT_INSERT, RA_STMT_INSERT_EVENT };
            if (!prepare_missing(conn, used, 2)) {
                return RA_STORE_FAILED;
            }
        }
    }
}

/* PostgreSQL's ra_store_insert_batch. */
static void pg_insert_batch(apr_pool_t *pool, const ra_store_conn_t *conn,
                            const ra_store_row_t *const *rows, int n,
                            ra_store_result_e *results, const char **errors)
{
    int *created = apr_pcalloc(pool, sizeof(*created) * (size_t)n);
    const char *error = NULL;
    ra_store_result_e batch = pg_batch(pool, conn, rows, n, created, &error);

    for (int i = 0; i < n; i++) {
        errors[i] = NULL;
        switch (batch) {
        case RA_STORE_DONE:
            results[i] = created[i] ? RA_STORE_DONE
                         : settle_taken(pool, conn, rows[i]->tenant, rows[i]->partner,
                                        &errors[i]);
            break;
        case RA_STORE_UNREPLICATED:
            /* committed or not, it is not known to be on the standby: no
             * row is created, nor taken (a retry finds out, see
             * settle_taken), and trying them one by one would wait as long
             * again */
            results[i] = RA_STORE_UNREPLICATED;
            errors[i] = error;
            break;
        default: /* nothing was written: each row on its own */
            results[i] = insert_row(pool, conn, rows[i], &errors[i]);
        }
    }
}

void ra_store_insert_batch(apr_pool_t *pool, const ra_store_conn_t *conn,
                           const ra_store_row_t *const *rows, int n,
                           ra_store_result_e *results, const char **errors)
{
    if (dialect_of(conn->driver) == RA_DIALECT_PGSQL) {
        pg_insert_batch(pool, conn, rows, n, results, errors);
        return;
    }

    int *created = apr_pcalloc(pool, sizeof(*created) * (apr_size_t)n);
    const char *error = NULL;
    int busy = 0, batched = n > 1;
    /* SQLite busy: its BEGIN IMMEDIATE waits RA_STORE_SQLITE_WRITE_PATIENCE
     * (sqlite_run), once for the whole batch */
    ra_store_result_e batch = batched
                              ? sqlite_batch(pool, conn, rows, n, created, &busy, &error)
                              : RA_STORE_FAILED;

    if (batch == RA_STORE_DONE) {
        for (int i = 0; i < n; i++) {
            results[i] = created[i] || stored_with_etag(pool, conn, rows[i])
                         ? RA_STORE_DONE : RA_STORE_CONFLICT;
            errors[i] = NULL;
        }
        return;
    }
    if (batched && busy) {
        /* one by one, each row would wait as long again, while this leader
         * holds the writer lock of every child */
        for (int i = 0; i < n; i++) {
            results[i] = RA_STORE_FAILED;
            errors[i] = error;
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        results[i] = insert_row(pool, conn, rows[i], &errors[i]);
        if (results[i] == RA_STORE_CONFLICT && stored_with_etag(pool, conn, rows[i])) {
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

typedef struct {
    ra_partner_t *partner;
    int found;
} get_reading_t;

static void got_row(apr_pool_t *pool, const char *const *values, void *baton)
{
    get_reading_t *reading = baton;
    partner_from_values(pool, values, reading->partner);
    reading->found = 1;
}

ra_store_result_e ra_store_get(apr_pool_t *pool, const ra_store_conn_t *conn,
                               const char *tenant, const char *id, ra_partner_t *partner,
                               const char **error)
{
    const void *args[] = { tenant, id };
    get_reading_t reading = { partner, 0 };

    *error = NULL;
    if (execute(pool, conn, RA_STMT_GET, args, NULL, SELECTED_COUNT, got_row, &reading, error)
        != RA_STORE_DONE) {
        return RA_STORE_FAILED;
    }
    return reading.found ? RA_STORE_DONE : RA_STORE_MISSING;
}

ra_store_result_e ra_store_replace(apr_pool_t *pool, const ra_store_conn_t *conn,
                                   const char *tenant, const ra_partner_t *partner,
                                   const char *expected_etag, const ra_audit_event_t *event,
                                   const char **error)
{
    apr_int64_t last, expiry;

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
    return audited_write(pool, conn, RA_STMT_REPLACE, args, event, error);
}

ra_store_result_e ra_store_delete(apr_pool_t *pool, const ra_store_conn_t *conn,
                                  const char *tenant, const char *id,
                                  const char *expected_etag, const ra_audit_event_t *event,
                                  const char **error)
{
    const void *args[] = { tenant, id, expected_etag };

    *error = NULL;
    return audited_write(pool, conn, expected_etag ? RA_STMT_DELETE_IF : RA_STMT_DELETE, args,
                         event, error);
}

/* ------------------------------------------------ running generated SQL */

/* Grace beyond RemoteAssistQueryTimeout before the client-side bound of a
 * bounded list or count trips: the server's statement_timeout should stop
 * it first and keep the connection; the client's bound is for a server
 * that answers nothing. */
#define PG_SELECT_GRACE apr_time_from_msec(1000)

/* PostgreSQL: apr_dbd with no label runs the text through PQexecParams, so
 * nothing is prepared on the server and the statement lives in pool. The
 * round trip is bounded by bound (0: none); write says whether the
 * statement writes (the batch insert), so that a WARNING or a tripped bound
 * makes it RA_STORE_UNREPLICATED rather than a failed or timed out read. */
static ra_store_result_e select_apr_dbd(apr_pool_t *pool, const ra_store_conn_t *conn,
                                        const ra_sql_t *sql, apr_interval_time_t bound,
                                        int write, int ncols, row_fn each, void *baton,
                                        const char **error)
{
    apr_dbd_prepared_t *stmt = NULL;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const void **args = apr_pcalloc(pool, sizeof(void *) * (size_t)(sql->params->nelts + 1));
    const char **values = apr_pcalloc(pool, sizeof(char *) * (size_t)ncols);
    pg_session_t *session = NULL;
    int timed_out = 0;

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
        session = pg_watch(conn, bound);
        rv = apr_dbd_pbselect(conn->driver, pool, conn->handle, &res, stmt, 1, args);
        timed_out = pg_unwatch(session);
    }
    if (rv != 0) {
        if (timed_out) {
            return tripped(pool, bound, write, "select", error);
        }
        *error = ra_dbd_error(pool, conn->driver, conn->handle, rv, "select");
        return RA_STORE_FAILED;
    }
    while (apr_dbd_get_row(conn->driver, pool, res, &row, -1) == 0) {
        for (int i = 0; i < ncols; i++) {
            values[i] = entry(conn->driver, row, i);
        }
        each(pool, values, baton);
    }
    if (write && session && session->warned) {
        *error = "batch insert: committed on the primary, but PostgreSQL warned that its "
                 "wait for synchronous replication was cancelled";
        return RA_STORE_UNREPLICATED;
    }
    return RA_STORE_DONE;
}

/* apr_dbd_query within the client-side bound; *timed_out says it tripped. */
static int pg_query(const ra_store_conn_t *conn, apr_interval_time_t bound, const char *sql,
                    int *timed_out)
{
    pg_session_t *session = pg_watch(conn, bound);
    int nrows, rv = apr_dbd_query(conn->driver, conn->handle, &nrows, sql);
    *timed_out |= pg_unwatch(session);
    return rv;
}

/* SQLSTATE query_canceled: statement_timeout (or a cancel request) */
#define PG_QUERY_CANCELED "57014"

typedef struct {
    apr_pool_t *pool;
    int results, ncols, canceled;
    const char **values;
    row_fn each;
    void *baton;
    const char **error;
} pg_select_reading_t;

/* A bounded select's statement: set_config's row, then the select's rows
 * (NULL for SQL NULL), or a failure, a cancelled one (SQLSTATE 57014) told
 * apart. */
static int pg_select_result(PGresult *res, ExecStatusType status, int first, void *baton)
{
    pg_select_reading_t *s = baton;
    if (status == PGRES_TUPLES_OK) {
        if (s->results++ == 1) { /* the select's */
            int rows = PQntuples(res), cols = PQnfields(res) < s->ncols ? PQnfields(res)
                                                                        : s->ncols;
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    s->values[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
                }
                s->each(s->pool, s->values, s->baton);
            }
        }
        return 1;
    }
    if (first && status != PGRES_PIPELINE_ABORTED) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        *s->error = apr_psprintf(s->pool, "select: %s", PQresultErrorMessage(res));
        s->canceled = state && !strcmp(state, PG_QUERY_CANCELED);
    }
    return 0;
}

/* PostgreSQL with a bound: one pipeline, one round trip. set_config(...,
 * true) sets statement_timeout for the transaction alone, and between two
 * Syncs PostgreSQL runs the statements as one implicit transaction, so the
 * bound holds for the select after it and for nothing else: a reconnect
 * (PQreset) cannot lose it, nor a pooler carry it to another client, and on
 * any error the Sync rolls the transaction back and leaves the connection
 * idle. (It was BEGIN and SET LOCAL, the select, COMMIT: three round trips.)
 * The select is cancelled by the server at the bound (SQLSTATE 57014:
 * RA_STORE_TIMED_OUT); the round trip is also bounded on the client's side, a
 * little later (PG_SELECT_GRACE), for a server that answers nothing. Rows
 * are read from libpq's result as they stand, NULL for SQL NULL. As in
 * pg_pipeline, a connection that could not read its Sync is reset. */
static ra_store_result_e select_pgsql(apr_pool_t *pool, const ra_store_conn_t *conn,
                                      const ra_sql_t *sql, apr_interval_time_t bound,
                                      int ncols, row_fn each, void *baton, const char **error)
{
    PGconn *pg = apr_dbd_native_handle(conn->driver, conn->handle);
    const char **args = apr_pcalloc(pool, sizeof(char *) * (size_t)(sql->params->nelts + 1));
    const char **values = apr_pcalloc(pool, sizeof(char *) * (size_t)ncols);
    const char *timeout[] = { decimal(pool, apr_time_as_msec(bound)) };
    int ok = 1, sent = 0;

    if (bound <= 0) {
        return select_apr_dbd(pool, conn, sql, 0, 0, ncols, each, baton, error);
    }
    for (int i = 0; i < sql->params->nelts; i++) {
        const ra_sql_param_t *param = &APR_ARRAY_IDX(sql->params, i, ra_sql_param_t);
        args[i] = param->is_number ? decimal(pool, param->number) : param->text;
    }
    *error = NULL;
    if (!PQenterPipelineMode(pg)) {
        *error = apr_psprintf(pool, "select: %s", PQerrorMessage(pg));
        return RA_STORE_FAILED;
    }
    pg_session_t *session = pg_watch(conn, bound + PG_SELECT_GRACE);
    if (PQsendQueryParams(pg, "SELECT set_config('statement_timeout', $1, true)", 1, NULL,
                          timeout, NULL, NULL, 0)) {
        sent = 1 + PQsendQueryParams(pg, native_placeholders(pool, sql->text, 1),
                                     sql->params->nelts, NULL, args, NULL, NULL, 0);
    }
    ok = sent == 2;
    int sync_queued = PQpipelineSync(pg);
    ok &= sync_queued;
    pg_select_reading_t reading = { pool, 0, ncols, 0, values, each, baton, error };
    int synced = pg_pipeline_read(pg, sync_queued, sent, pg_select_result, &reading, &ok);
    int timed_out = pg_unwatch(session);
    pg_pipeline_leave(pg, synced);
    if (timed_out) {
        return tripped(pool, bound + PG_SELECT_GRACE, 0, "select", error);
    }
    if (!ok) {
        if (!*error) {
            *error = apr_psprintf(pool, "select: %s", PQerrorMessage(pg));
        }
        return reading.canceled ? RA_STORE_TIMED_OUT : RA_STORE_FAILED;
    }
    return RA_STORE_DONE;
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

/* SQLite: generated SQL on the native handle, as every statement there
 * (apr_dbd_sqlite3 would also keep each text it prepared linked to the
 * connection until it closes): a read (keep) with the statements the
 * connection keeps, a write (the audit events' retention, whose text comes
 * once a run) prepared, bound and finalized here. */
static ra_store_result_e select_sqlite(apr_pool_t *pool, const ra_store_conn_t *conn,
                                       const ra_sql_t *sql, apr_interval_time_t bound,
                                       int keep, int ncols, row_fn each, void *baton,
                                       const char **error)
{
    sqlite3 *db = apr_dbd_native_handle(conn->driver, conn->handle);
    const char *text = native_placeholders(pool, sql->text, 0);
    sqlite3_stmt *stmt = NULL;
    apr_time_t deadline = apr_time_now() + bound;
    int rc;

    if (bound > 0) {
        sqlite3_progress_handler(db, SQLITE_PROGRESS_STEPS, past_deadline, &deadline);
    }
    rc = keep ? sqlite_read_statement(conn, text, &stmt)
              : sqlite3_prepare_v2(db, text, -1, &stmt, NULL);
    for (int i = 0; rc == SQLITE_OK && i < sql->params->nelts; i++) {
        ra_sql_param_t *param = &APR_ARRAY_IDX(sql->params, i, ra_sql_param_t);
        rc = param->is_number ? sqlite3_bind_int64(stmt, i + 1, param->number)
             : param->text ? sqlite3_bind_text(stmt, i + 1, param->text, -1, SQLITE_STATIC)
                           : sqlite3_bind_null(stmt, i + 1);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite_run(pool, stmt, 0, ncols, each, baton);
    }
    if (rc != SQLITE_DONE) {
        *error = apr_psprintf(pool, "select: %s", sqlite3_errmsg(db));
    }
    if (!keep) {
        sqlite3_finalize(stmt);
    }
    else if (stmt) { /* a failed bind left it unrun */
        sqlite3_clear_bindings(stmt);
    }
    if (bound > 0) { /* the connection's other statements run unbounded */
        sqlite3_progress_handler(db, 0, NULL, NULL);
    }
    return rc == SQLITE_DONE ? RA_STORE_DONE
           : rc == SQLITE_INTERRUPT ? RA_STORE_TIMED_OUT : RA_STORE_FAILED;
}

/* A generated write that returns rows: on PostgreSQL within
 * conn->query_timeout. */
static ra_store_result_e select_generated(apr_pool_t *pool, const ra_store_conn_t *conn,
                                          const ra_sql_t *sql, int ncols, row_fn each,
                                          void *baton, const char **error)
{
    return dialect_of(conn->driver) == RA_DIALECT_SQLITE
           ? select_sqlite(pool, conn, sql, 0, 0, ncols, each, baton, error)
           : select_apr_dbd(pool, conn, sql, conn->query_timeout, 1, ncols, each, baton,
                            error);
}

/* A list or count, within conn->query_timeout. */
static ra_store_result_e select_bounded(apr_pool_t *pool, const ra_store_conn_t *conn,
                                        const ra_sql_t *sql, int ncols, row_fn each,
                                        void *baton, const char **error)
{
    return dialect_of(conn->driver) == RA_DIALECT_SQLITE
           ? select_sqlite(pool, conn, sql, conn->query_timeout, 1, ncols, each, baton, error)
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
                          ra_sql_count(pool, dialect_of(conn->driver), RA_ENTITY_SET_PARTNERS, tenant,
                                       filter),
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

/* ---------------------------------------------------------- audit events */

/* A row of RA_SCHEMA_AUDIT_SELECTED as an event; values copied into pool. */
static void audit_row(apr_pool_t *pool, const char *const *values, void *baton)
{
    ra_audit_event_t *e = apr_array_push(baton);
    const char *v[RA_SCHEMA_AUDIT_SELECTED_COUNT];

    for (int i = 0; i < RA_SCHEMA_AUDIT_SELECTED_COUNT; i++) {
        v[i] = values[i] ? apr_pstrdup(pool, values[i]) : NULL;
    }
    memset(e, 0, sizeof(*e));
    e->id = v[0];
    e->date_time = v[1];
    ra_entity_datetime_parse(e->date_time ? e->date_time : "", &e->ticks);
    /* v[2], the category, is RA_AUDIT_CATEGORY in every row */
    e->activity = v[3];
    e->operation_type = v[4];
    e->correlation_id = v[5];
    e->actor.application = v[6] && apr_atoi64(v[6]) != 0;
    e->actor.user_id = v[7];
    e->actor.upn = v[8];
    e->actor.app_id = v[9];
    e->actor.ip_address = v[10];
    e->actor.permissions = v[11];
    e->resource_id = v[12];
    e->resource_name = v[13];
    e->modified = v[14];
}

ra_store_result_e ra_store_audit_list(apr_pool_t *pool, const ra_store_conn_t *conn,
                                      const char *tenant, const ra_query_t *query,
                                      apr_int64_t limit, apr_int64_t offset,
                                      apr_array_header_t **rows, const char **error)
{
    *rows = apr_array_make(pool, (int)(limit < 64 ? limit + 1 : 64), sizeof(ra_audit_event_t));
    *error = NULL;
    return select_bounded(pool, conn,
                          ra_sql_list(pool, dialect_of(conn->driver), tenant, query, limit,
                                      offset),
                          RA_SCHEMA_AUDIT_SELECTED_COUNT, audit_row, *rows, error);
}

ra_store_result_e ra_store_audit_count(apr_pool_t *pool, const ra_store_conn_t *conn,
                                       const char *tenant, const ra_qnode_t *filter,
                                       apr_int64_t *count, const char **error)
{
    *count = 0;
    *error = NULL;
    return select_bounded(pool, conn,
                          ra_sql_count(pool, dialect_of(conn->driver), RA_ENTITY_SET_AUDIT,
                                       tenant, filter),
                          1, count_row, count, error);
}

ra_store_result_e ra_store_audit_get(apr_pool_t *pool, const ra_store_conn_t *conn,
                                     const char *tenant, const char *id,
                                     ra_audit_event_t *event, const char **error)
{
    /* the list's SQL with the filter id eq 'id': the same whitelist */
    ra_qnode_t by_id = { RA_QNODE_COMPARE, NULL, NULL, (ra_prop_e)RA_AUDIT_PROP_ID, RA_Q_EQ, id,
                         0 };
    ra_query_t query;
    apr_array_header_t *rows;

    memset(&query, 0, sizeof(query));
    query.set = RA_ENTITY_SET_AUDIT;
    query.filter = &by_id;
    query.order[0].prop = (ra_prop_e)RA_AUDIT_PROP_ID;
    query.order_count = 1;
    ra_store_result_e result = ra_store_audit_list(pool, conn, tenant, &query, 1, 0, &rows,
                                                   error);
    if (result == RA_STORE_DONE && rows->nelts == 0) {
        return RA_STORE_MISSING;
    }
    if (result == RA_STORE_DONE) {
        *event = APR_ARRAY_IDX(rows, 0, ra_audit_event_t);
        event->tenant = tenant;
    }
    return result;
}

ra_store_result_e ra_store_audit_purge(apr_pool_t *pool, const ra_store_conn_t *conn,
                                       apr_int64_t before, apr_int64_t limit,
                                       int *removed, const char **error)
{
    /* a bounded DELETE both databases take: the oldest keys by the age
     * index, then those rows by the primary key */
    ra_sql_t sql = { "DELETE FROM " RA_AUDIT_TABLE " WHERE (tenant_id, id) IN "
                     "(SELECT tenant_id, id FROM " RA_AUDIT_TABLE " WHERE activity_ticks < ",
                     apr_array_make(pool, 2, sizeof(ra_sql_param_t)), 0, 0 };

    ra_sql_append_param(&sql, NULL, &before);
    ra_sql_append(&sql, " ORDER BY activity_ticks LIMIT ");
    ra_sql_append_param(&sql, NULL, &limit);
    ra_sql_append(&sql, ") RETURNING id");
    *removed = 0;
    *error = NULL;
    /* no change a client waits for: an unconfirmed removal is just done */
    ra_store_result_e result = select_generated(pool, conn, &sql, 1, count_returned, removed,
                                                error);
    return result == RA_STORE_UNREPLICATED ? RA_STORE_DONE : result;
}
