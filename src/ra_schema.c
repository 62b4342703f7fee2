/* The database's schema: created from sql/schema.sql and its steps,
 * upgraded from version 1 and from lower levels, checked at start-up
 * (ra_schema.h, which states the compatibility rule). */
#include "ra_schema.h"

#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "ra_dbd.h"

/* The schema, compiled in from sql/schema.sql (see the Makefile). */
static const char schema_pgsql[] =
#include "ra_schema_pgsql.h"
    ;
static const char schema_sqlite[] =
#include "ra_schema_sqlite.h"
    ;

/* The steps after RA_SCHEMA_BASE_LEVEL, from sql/step-NNN.sql, in order. */
typedef struct {
    int level;
    const char *pgsql, *sqlite;
} schema_step_t;

static const schema_step_t steps[] = {
#define RA_SCHEMA_STEP(level, pgsql, sqlite) { level, pgsql, sqlite },
#include "ra_schema_steps.h"
#undef RA_SCHEMA_STEP
};
#define STEP_COUNT (sizeof(steps) / sizeof(steps[0]))

int ra_schema_level(void)
{
    return steps[STEP_COUNT - 1].level;
}

#define TABLE RA_SCHEMA_TABLE
#define SELECTED RA_SCHEMA_SELECTED

typedef struct {
    apr_pool_t *pool;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    ra_dialect_e dialect;
    const char *error;
    int needs_admin;   /* the error is one only an administrator can fix */
} setup_t;

/* A statement on the set-up connection that may return rows, all read. */
static int select_all(setup_t *st, const char *sql, const char **first)
{
    return ra_dbd_select_all(st->pool, st->driver, st->handle, sql, first);
}

static int run(setup_t *st, const char *sql, const char *what)
{
    int nrows, rv = apr_dbd_query(st->driver, st->handle, &nrows, sql);
    if (rv != 0 && !st->error) {
        st->error = ra_dbd_error(st->pool, st->driver, st->handle, rv, what);
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
    select_all(st, apr_psprintf(st->pool, sql, table), &found);
    return found != NULL;
}

/* A script's statements, one at a time (SQLite runs one per call). */
static int run_script(setup_t *st, const char *script, const char *what)
{
    char *state;
    char *text = apr_pstrdup(st->pool, script);
    for (char *sql = apr_strtok(text, ";", &state); sql; sql = apr_strtok(NULL, ";", &state)) {
        if (sql[strspn(sql, " \n")] && !run(st, sql, what)) {
            return 0;
        }
    }
    return 1;
}

/* The tables of level 2; the steps follow. */
static int create_schema(setup_t *st)
{
    return run_script(st, st->dialect == RA_DIALECT_PGSQL ? schema_pgsql : schema_sqlite,
                      "create the schema");
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
        st->error = ra_dbd_error(st->pool, st->driver, st->handle, rv, what);
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
        st->error = ra_dbd_error(st->pool, st->driver, st->handle, rv,
                                      "read the copied rows");
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

/* The schema row: its level, and (from level 3, the rule's own step) the
 * oldest module level that can serve it; level 2 was served by its own
 * module only. */
static int read_schema_row(setup_t *st, int *level, int *oldest_reader)
{
    const char *version = NULL, *oldest = NULL;

    select_all(st, "SELECT version FROM remoteassist_schema", &version);
    if (!version || atoi(version) < RA_SCHEMA_BASE_LEVEL) {
        st->error = apr_psprintf(st->pool, "the table remoteassist_schema holds no schema "
                                 "level this module knows (%s)", version ? version : "no row");
        return 0;
    }
    *level = atoi(version);
    if (*level == RA_SCHEMA_BASE_LEVEL) {
        *oldest_reader = RA_SCHEMA_BASE_LEVEL;
        return 1;
    }
    select_all(st, "SELECT oldest_reader FROM remoteassist_schema", &oldest);
    if (!oldest || atoi(oldest) < RA_SCHEMA_BASE_LEVEL) {
        st->error = apr_psprintf(st->pool, "the schema row of level %d names no oldest "
                                 "module level that can serve it", *level);
        return 0;
    }
    *oldest_reader = atoi(oldest);
    return 1;
}

/* The steps from the database's level up to this module's, each checked to
 * leave the level it names. */
static int run_steps(setup_t *st, ra_schema_outcome_t *out)
{
    for (size_t i = 0; i < STEP_COUNT; i++) {
        if (steps[i].level <= out->level) {
            continue;
        }
        const char *what = apr_psprintf(st->pool, "upgrade to schema level %d (a role that "
                                        "may not alter tables needs an administrator to "
                                        "run step-%03d-%s.sql)", steps[i].level,
                                        steps[i].level, st->dialect == RA_DIALECT_PGSQL
                                                            ? "pgsql" : "sqlite");
        if (!run_script(st, st->dialect == RA_DIALECT_PGSQL ? steps[i].pgsql
                                                             : steps[i].sqlite, what)
            || !read_schema_row(st, &out->level, &out->oldest_reader)) {
            return 0;
        }
        if (out->level != steps[i].level || out->oldest_reader > out->level) {
            st->error = apr_psprintf(st->pool, "step %d of the schema left level %d, oldest "
                                     "reader %d", steps[i].level, out->level,
                                     out->oldest_reader);
            return 0;
        }
    }
    return 1;
}

/* PostgreSQL, when the tables are not to be seen: whether this role could
 * create them. A least-privilege role (docs/operations.md) may not, and then
 * says which of the administrator's steps is missing: the tables, or the
 * grants on tables that exist (information_schema shows a role only what it
 * may use; to_regclass sees past that). */
static int may_create_tables(setup_t *st)
{
    const char *why = NULL;

    if (st->dialect != RA_DIALECT_PGSQL) {
        return 1;
    }
    select_all(st, "SELECT CASE "
               "WHEN to_regclass('" TABLE "') IS NOT NULL THEN format('the tables exist, "
               "but role %I has no privileges on them', current_user) "
               "WHEN current_schema() IS NULL THEN format('the tables are missing, and role "
               "%I has no schema on its search_path to create them in', current_user) "
               "WHEN NOT has_schema_privilege(current_schema(), 'CREATE') THEN format('the "
               "tables are missing, and role %I may not create tables in schema %I', "
               "current_user, current_schema()) END", &why);
    if (!why || !*why) {
        return 1;
    }
    st->error = apr_pstrdup(st->pool, why);
    st->needs_admin = 1;
    return 0;
}

/* Brings the tables to this module's level inside the open transaction, or
 * serves a higher level that declares this module able to (the rule in
 * ra_schema.h). */
static int migrate(setup_t *st, const char *legacy_tenant, ra_schema_outcome_t *out)
{
    const int mine = ra_schema_level();

    if (table_exists(st, "remoteassist_schema")) {
        if (!read_schema_row(st, &out->level, &out->oldest_reader)) {
            return 0;
        }
        out->found = out->level;
        if (out->oldest_reader > mine) {
            st->error = apr_psprintf(st->pool, "the database is at schema level %d, which "
                                     "needs a module of schema level %d or later; this "
                                     "module is at level %d (a release older than the one "
                                     "that wrote it): upgrade this node", out->level,
                                     out->oldest_reader, mine);
            return 0;
        }
        return run_steps(st, out);
    }
    out->level = RA_SCHEMA_BASE_LEVEL;
    out->oldest_reader = RA_SCHEMA_BASE_LEVEL;
    if (!table_exists(st, TABLE)) {
        out->found = 0;
        return may_create_tables(st) && create_schema(st) && run_steps(st, out);
    }
    out->found = 1;
    const char *count = NULL;
    select_all(st, "SELECT COUNT(*) FROM " TABLE, &count);
    if (count && atol(count) > 0 && !legacy_tenant) {
        st->error = apr_psprintf(st->pool, "the database holds %s partners from before "
                                 "tenants (schema version 1): name the tenant they belong "
                                 "to with " RA_SCHEMA_LEGACY_TENANT_DIRECTIVE " (a tenant id, "
                                 "the tid of its tokens) so the upgrade can keep them",
                                 count);
        return 0;
    }
    return upgrade_from_v1(st, legacy_tenant, &out->legacy_rows) && run_steps(st, out);
}

/* SQLite's journal mode is kept in the file: switch it once, before any
 * child connects. */
static int sqlite_wal(setup_t *st)
{
    const char *mode = NULL;

    /* change the journal only when needed */
    if (select_all(st, "PRAGMA journal_mode", &mode) == 0
        && mode && strcasecmp(mode, "wal")) {
        mode = NULL;
        select_all(st, "PRAGMA journal_mode=WAL", &mode);
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
    int rv = select_all(st, "SELECT " SELECTED " FROM " TABLE " WHERE 1 = 0", NULL);
    if (rv != 0) {
        st->error = ra_dbd_error(st->pool, st->driver, st->handle, rv, "table check");
    }
    return rv == 0;
}

/* The $skiptoken key that step 4 made (ra_schema_outcome_t.token_key). */
static int read_token_key(setup_t *st, ra_schema_outcome_t *out)
{
    const char *key = NULL;
    select_all(st, "SELECT value FROM remoteassist_secrets WHERE name = 'skiptoken-hmac'", &key);
    if (!key || strlen(key) < 32 || strlen(key) > RA_SCHEMA_TOKEN_KEY_MAX) {
        st->error = "the table remoteassist_secrets holds no $skiptoken key (skiptoken-hmac, "
                    "32 to " APR_STRINGIFY(RA_SCHEMA_TOKEN_KEY_MAX) " characters)";
        return 0;
    }
    apr_cpystrn(out->token_key, key, sizeof(out->token_key));
    return 1;
}

/* The set-up, or (apply 0) apachectl -t's look at it: the same steps inside a
 * transaction that is rolled back, without switching SQLite's journal, so
 * that whatever would fail fails here and nothing is changed. */
static ra_schema_state_e set_up(apr_pool_t *pool, const char *driver_name, const char *params,
                                const char *legacy_tenant, int apply,
                                ra_schema_outcome_t *outcome, const char **error)
{
    const char *open_error = NULL;
    setup_t st = { pool, NULL, NULL, RA_DIALECT_SQLITE, NULL, 0 };
    int ok;

    *error = NULL;
    memset(outcome, 0, sizeof(*outcome));
    outcome->legacy_rows = -1;
    if (apr_dbd_get_driver(pool, driver_name, &st.driver) != APR_SUCCESS) {
        *error = apr_psprintf(pool, "cannot load the apr_dbd %s driver", driver_name);
        return RA_SCHEMA_BROKEN;
    }
    if (apr_dbd_open_ex(st.driver, pool, params, &st.handle, &open_error) != APR_SUCCESS) {
        *error = apr_psprintf(pool, "cannot connect: %s",
                              ra_dbd_one_line(pool, open_error ? open_error
                                                                 : "no reason given"));
        return RA_SCHEMA_UNREACHABLE;
    }
    st.dialect = ra_dbd_dialect(driver_name);
    /* httpd's children may be writing (a graceful restart, a -t of a busy
     * site): SQLite waits for them rather than fail */
    if (st.dialect == RA_DIALECT_SQLITE) {
        select_all(&st, "PRAGMA busy_timeout = "
                        APR_STRINGIFY(RA_SCHEMA_SETUP_BUSY_TIMEOUT_MS), NULL);
    }
    ok = st.dialect == RA_DIALECT_PGSQL || !apply || sqlite_wal(&st);
    /* one transaction: a failed upgrade leaves the database as it was, and
     * on PostgreSQL the lock keeps nodes starting together from racing. A
     * look takes SQLite's write lock only if it comes to write (a deferred
     * BEGIN), and no wait of PostgreSQL's is without bound: not the
     * advisory lock of a node that hangs, nor a table lock. READ COMMITTED
     * whatever default_transaction_isolation says: under REPEATABLE READ
     * the snapshot is taken before the lock is granted, so a node that
     * waited for another's upgrade would not see it and run the step again */
    ok = ok && run(&st, st.dialect == RA_DIALECT_PGSQL ? "BEGIN ISOLATION LEVEL READ COMMITTED"
                        : apply ? "BEGIN IMMEDIATE" : "BEGIN", "begin");
    if (ok && st.dialect == RA_DIALECT_PGSQL
        && (!run(&st, "SET LOCAL lock_timeout = '" RA_SCHEMA_SETUP_WAIT "'", "lock timeout")
            || !run(&st, "SET LOCAL statement_timeout = '" RA_SCHEMA_SETUP_WAIT "'",
                    "statement timeout"))) {
        run(&st, "ROLLBACK", "roll back");
        ok = 0;
    }
    if (ok && st.dialect == RA_DIALECT_PGSQL
        && select_all(&st, "SELECT pg_advisory_xact_lock(7243010)", NULL) != 0) {
        st.error = ra_dbd_error(pool, st.driver, st.handle, 1, "advisory lock");
        run(&st, "ROLLBACK", "roll back");
        ok = 0;
    }
    if (ok) {
        /* the check of the table runs inside the transaction: in a look,
         * the tables it would create exist only there */
        ok = migrate(&st, legacy_tenant, outcome) && table_usable(&st)
             && read_token_key(&st, outcome);
        run(&st, ok && apply ? "COMMIT" : "ROLLBACK", ok && apply ? "commit" : "roll back");
        ok = ok && !st.error;
    }
    apr_dbd_close(st.driver, st.handle);
    *error = st.error ? ra_dbd_one_line(pool, st.error) : NULL;
    if (!ok || !apply) {
        outcome->legacy_rows = -1; /* rolled back: no row was carried over */
    }
    return ok ? RA_SCHEMA_READY : st.needs_admin ? RA_SCHEMA_NEEDS_ADMIN : RA_SCHEMA_BROKEN;
}

ra_schema_state_e ra_schema_setup(apr_pool_t *pool, const char *driver_name,
                                  const char *params, const char *legacy_tenant,
                                  ra_schema_outcome_t *outcome, const char **error)
{
    return set_up(pool, driver_name, params, legacy_tenant, 1, outcome, error);
}

ra_schema_state_e ra_schema_check(apr_pool_t *pool, const char *driver_name,
                                  const char *params, const char *legacy_tenant,
                                  ra_schema_outcome_t *outcome, const char **error)
{
    return set_up(pool, driver_name, params, legacy_tenant, 0, outcome, error);
}

ra_schema_state_e ra_schema_connection_limit(apr_pool_t *pool, const char *driver_name,
                                             const char *params, long *limit,
                                             const char **error)
{
    setup_t st = { pool, NULL, NULL, RA_DIALECT_PGSQL, NULL, 0 };
    const char *value = NULL;

    *error = NULL;
    if (apr_dbd_get_driver(pool, driver_name, &st.driver) != APR_SUCCESS
        || apr_dbd_open_ex(st.driver, pool, params, &st.handle, error) != APR_SUCCESS) {
        *error = ra_dbd_one_line(pool, *error ? *error : "cannot connect");
        return RA_SCHEMA_UNREACHABLE;
    }
    int rv = select_all(&st, "SELECT current_setting('max_connections')::int - "
                             "current_setting('superuser_reserved_connections')::int", &value);
    if (rv != 0 || !value) {
        *error = ra_dbd_error(pool, st.driver, st.handle, rv, "read max_connections");
    }
    apr_dbd_close(st.driver, st.handle);
    *limit = value ? atol(value) : 0;
    return *error ? RA_SCHEMA_BROKEN : RA_SCHEMA_READY;
}
