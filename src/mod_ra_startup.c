/* httpd glue: start-up and child initialisation: the database's tables
 * (created or upgraded in the parent, before mod_dbd's first pooled
 * connection prepares the statements), the SQLite writer mutex, and each
 * pooled connection's settings. */
#include "mod_ra_hooks.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "ap_mpm.h"
#include "unixd.h"
#include "util_mutex.h"

#include <apr_strings.h>
#include <apu_version.h>

#include <cjose/version.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "mod_ra_config.h"
#include "ra_commit.h"
#include "ra_schema.h"
#include "ra_sql.h"
#include "ra_store.h"
#include "ra_token_cache.h"

APLOG_USE_MODULE(remoteassist);

/* The children, running as User, must be able to create SQLite's -wal and
 * -shm files beside the database: warn when its directory does not look
 * writable by User (the set-up below then fails as it would for them). */
static void sqlite_directory_check(apr_pool_t *p, server_rec *s, const char *path)
{
    struct stat st;
    char *dir = ap_make_dirstr_parent(p, path);
    uid_t uid = ap_unixd_config.user_id;
    gid_t gid = ap_unixd_config.group_id;

    if (geteuid() == 0 && stat(*dir ? dir : ".", &st) == 0
        && !((st.st_uid == uid && (st.st_mode & S_IWUSR))
             || (st.st_gid == gid && (st.st_mode & S_IWGRP)) || (st.st_mode & S_IWOTH))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00012)
                     "directory %s does not look writable by User %s: SQLite must "
                     "create %s-wal and -shm there, or every write fails with 503",
                     dir, ap_unixd_config.user_name, path);
    }
}

/* What a set-up done in another process reports through a pipe. */
typedef struct {
    int state;
    long upgraded;
    char error[1024];
} ra_setup_report_t;

/* SQLite creates the database, -wal and -shm as whoever opens it. Opened by
 * the parent as root, they would leave the children (User) read-only: the
 * file until handed over, and at a graceful restart for good any connection
 * an old child opened meanwhile ("attempt to write a readonly database",
 * 503s under load). So when httpd starts as root, a SQLite database is set
 * up by a forked process that has become User, as the children will. */
static ra_schema_state_e setup_database(apr_pool_t *p, const ra_server_config_t *scfg,
                                        long *upgraded, const char **error)
{
    ra_setup_report_t report;
    int fds[2];
    pid_t pid;

    if (geteuid() != 0 || ra_sql_dialect(scfg->dbd_driver) != RA_DIALECT_SQLITE) {
        return ra_schema_setup(p, scfg->dbd_driver, scfg->dbd_params,
                               scfg->legacy_tenant, upgraded, error);
    }
    if (pipe(fds) != 0 || (pid = fork()) < 0) {
        *error = apr_psprintf(p, "cannot start the set-up as User: %s", strerror(errno));
        return RA_SCHEMA_BROKEN;
    }
    if (pid == 0) {
        gid_t gid = ap_unixd_config.group_id;
        memset(&report, 0, sizeof(report));
        close(fds[0]);
        if (setgroups(1, &gid) != 0 || setgid(gid) != 0
            || setuid(ap_unixd_config.user_id) != 0) {
            report.state = RA_SCHEMA_BROKEN;
            apr_snprintf(report.error, sizeof(report.error), "cannot become User %s: %s",
                         ap_unixd_config.user_name, strerror(errno));
        }
        else {
            const char *why = NULL;
            report.state = ra_schema_setup(p, scfg->dbd_driver, scfg->dbd_params,
                                           scfg->legacy_tenant, &report.upgraded,
                                           &why);
            apr_cpystrn(report.error, why ? why : "", sizeof(report.error));
        }
        _exit(write(fds[1], &report, sizeof(report)) == sizeof(report) ? 0 : 1);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], &report, sizeof(report));
    close(fds[0]);
    waitpid(pid, NULL, 0);
    if (got != sizeof(report)) {
        *error = "the set-up as User ended without a report";
        return RA_SCHEMA_BROKEN;
    }
    *upgraded = report.upgraded;
    *error = report.error[0] ? apr_pstrdup(p, report.error) : NULL;
    return (ra_schema_state_e)report.state;
}

/* Whether this database was set up before in this httpd's life: the
 * process pool outlives restarts (and this module's own reloading). */
static int set_up_before(server_rec *s, const char *key, int mark)
{
    apr_pool_t *pool = s->process->pool;
    const char *name = apr_pstrcat(pool, "remoteassist-db-ready:", key, NULL);
    void *seen = NULL;
    apr_pool_userdata_get(&seen, name, pool);
    if (mark && !seen) {
        apr_pool_userdata_set("1", name, apr_pool_cleanup_null, pool);
    }
    return seen != NULL;
}

/* SQLite has one writer at a time. httpd's children otherwise take turns
 * through SQLite's busy handler, which sleeps while apr_dbd_sqlite3 holds its
 * process-wide mutex (stalling every database call of that child) and then
 * falls back to the driver's 100 ms sleeps: p99 of 0.3-0.6 s at 16
 * connections with two children. A cross-process mutex per database lets the
 * waiting child sleep in the kernel until the writer is done. */
static apr_global_mutex_t *sqlite_writer_mutex(apr_pool_t *pconf, server_rec *s,
                                               apr_hash_t *made, const char *path)
{
    apr_global_mutex_t *mutex = apr_hash_get(made, path, APR_HASH_KEY_STRING);
    if (!mutex) {
        const char *instance = apr_itoa(pconf, (int)apr_hash_count(made) + 1);
        apr_status_t rv = ap_global_mutex_create(&mutex, NULL, RA_SQLITE_MUTEX, instance,
                                                 s, pconf, 0);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RALOGNO(00019)
                         "cannot create the %s mutex for %s", RA_SQLITE_MUTEX, path);
            return NULL;
        }
        apr_hash_set(made, path, APR_HASH_KEY_STRING, mutex);
    }
    return mutex;
}

/* Creates or upgrades the tables (and SQLite's WAL mode) once per database,
 * in the parent, before mod_dbd's first pooled connection prepares the
 * statements. A database
 * that worked before and fails during a restart is logged, not fatal: the
 * site stays up and the running children keep their connections. */
static int setup_databases(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *main_server)
{
    apr_table_t *done = apr_table_make(ptemp, 4);
    apr_hash_t *mutexes = apr_hash_make(ptemp);

    for (server_rec *s = main_server; s; s = s->next) {
        ra_server_config_t *scfg = ra_server_config(s);
        const char *error, *key;
        if (!scfg->serves || !scfg->dbd_driver || !scfg->dbd_params
            || ra_sql_dialect(scfg->dbd_driver) == RA_DIALECT_UNSUPPORTED) {
            continue;
        }
        int sqlite = ra_sql_dialect(scfg->dbd_driver) == RA_DIALECT_SQLITE;
        if (sqlite && !(scfg->sqlite_writer = sqlite_writer_mutex(pconf, s, mutexes,
                                                                  scfg->dbd_params))) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        key = apr_pstrcat(ptemp, scfg->dbd_driver, ":", scfg->dbd_params, NULL);
        if (apr_table_get(done, key)) {
            continue;
        }
        apr_table_setn(done, key, "1");
        long upgraded;
        if (sqlite) {
            sqlite_directory_check(ptemp, s, scfg->dbd_params);
        }
        ra_schema_state_e state = setup_database(ptemp, scfg, &upgraded, &error);
        /* the file path is not secret; PostgreSQL parameters may hold a password */
        const char *db = sqlite ? scfg->dbd_params : "the pgsql database";
        if (state == RA_SCHEMA_READY && upgraded >= 0) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00025)
                         "%s %s: upgraded to schema version %d; %ld partner(s) from before "
                         "tenants now belong to tenant %s", scfg->dbd_driver, db,
                         RA_SCHEMA_VERSION, upgraded,
                         scfg->legacy_tenant ? scfg->legacy_tenant : "(none: it was empty)");
        }
        if (state == RA_SCHEMA_READY) {
            set_up_before(s, key, 1);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, RALOGNO(00013)
                         "%s %s: tables ready (schema version %d)",
                         scfg->dbd_driver, db, RA_SCHEMA_VERSION);
        }
        else if (set_up_before(s, key, 0)) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, RALOGNO(00017)
                         "%s %s: %s; it worked before, so the restart goes on",
                         scfg->dbd_driver, db, error);
        }
        else if (state == RA_SCHEMA_UNREACHABLE && !sqlite) {
            /* a database that starts after httpd is normal: answer 503 meanwhile */
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00014)
                         "%s: %s; requests answer 503 until it is reachable and has the "
                         "tables of sql/schema.sql", db, error);
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00015)
                         "%s %s: %s", scfg->dbd_driver, db, error);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

int ra_startup_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    (void)pconf, (void)plog;
    /* the first of httpd's two configuration passes only tests the config */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00001)
                 "mod_remoteassist/" RA_MODULE_VERSION " running with jansson %s, "
                 "cjose %s, %s, apr-util %s", jansson_version_str(), cjose_version(),
                 OpenSSL_version(OPENSSL_VERSION), apu_version_string());
    return setup_databases(pconf, ptemp, s);
}

int ra_startup_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog, (void)ptemp;
    return ap_mutex_register(pconf, RA_SQLITE_MUTEX, NULL, APR_LOCK_DEFAULT, 0);
}

/* Each child reattaches the SQLite writer mutexes; servers that share a
 * database share its mutex, which is reattached once. A threaded child also
 * gets a group-commit queue per server (under prefork one thread per child
 * never has company to commit with). */
void ra_startup_child_init(apr_pool_t *p, server_rec *main_server)
{
    apr_hash_t *attached = apr_hash_make(p);
    int threaded = 0, cache_size = ra_server_config(main_server)->token_cache_size;
    ra_token_cache_t *cache = NULL;

    if (cache_size < 0) {
        cache_size = RA_DEFAULT_TOKEN_CACHE;
    }
    if (cache_size > 0 && ra_token_cache_create(p, cache_size, &cache) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, main_server, RALOGNO(00027)
                     "cannot create the token cache; every request's token is verified");
    }
    for (server_rec *s = main_server; s; s = s->next) {
        ra_server_config(s)->token_cache = cache;
    }

    ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded);
    for (server_rec *s = main_server; threaded != AP_MPMQ_NOT_SUPPORTED && s; s = s->next) {
        ra_server_config_t *scfg = ra_server_config(s);
        int batch = scfg->commit_batch ? scfg->commit_batch : RA_DEFAULT_COMMIT_BATCH;
        if (!scfg->serves || batch == 1) {
            continue;
        }
        apr_status_t rv = ra_commit_queue_create(p, batch, &scfg->commit_queue);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RALOGNO(00026)
                         "cannot create the group-commit queue; each create commits "
                         "on its own");
        }
    }

    for (server_rec *s = main_server; s; s = s->next) {
        ra_server_config_t *scfg = ra_server_config(s);
        apr_global_mutex_t **mine;
        if (!scfg->sqlite_writer) {
            continue;
        }
        mine = apr_hash_get(attached, &scfg->sqlite_writer, sizeof(scfg->sqlite_writer));
        if (!mine) {
            mine = apr_palloc(p, sizeof(*mine));
            *mine = scfg->sqlite_writer;
            apr_status_t rv = apr_global_mutex_child_init(
                mine, apr_global_mutex_lockfile(*mine), p);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RALOGNO(00021)
                             "cannot reattach the %s mutex; SQLite writers of this "
                             "child will wait through SQLite's busy handler", RA_SQLITE_MUTEX);
                *mine = NULL;
            }
            apr_hash_set(attached, apr_pmemdup(p, &scfg->sqlite_writer,
                                               sizeof(scfg->sqlite_writer)),
                         sizeof(scfg->sqlite_writer), mine);
        }
        scfg->sqlite_writer = *mine;
    }
}

/* Whether a mod_dbd pool group is one of the module's databases: a server
 * that serves a section uses that driver and those parameters. */
static int our_database(const dbd_cfg_t *dbd_cfg)
{
    for (server_rec *s = ap_server_conf; s; s = s->next) {
        const ra_server_config_t *scfg = ra_server_config(s);
        if (scfg->serves && scfg->dbd_driver && scfg->dbd_params && dbd_cfg->name
            && dbd_cfg->params && !strcmp(scfg->dbd_driver, dbd_cfg->name)
            && !strcmp(scfg->dbd_params, dbd_cfg->params)) {
            return 1;
        }
    }
    return 0;
}

/* mod_dbd's per-connection hook: the busy timeout and durability settings
 * (SQLite), then the module's statements, in that order (see use_server in
 * mod_ra_config.c). A statement that cannot be prepared here is prepared at
 * its first use (ra_store.c). Always APR_SUCCESS: mod_dbd ignores the
 * result, but any other one would stop the hooks after this one, DBDInitSQL's
 * among them. */
apr_status_t ra_startup_dbd_post_connect(apr_pool_t *pool, dbd_cfg_t *dbd_cfg,
                                         ap_dbd_t *dbd)
{
    ra_store_conn_t conn = { dbd->driver, dbd->handle, dbd->pool, dbd->prepared };
    const char *error;

    if (!our_database(dbd_cfg)) {
        return APR_SUCCESS;
    }
    error = ra_store_connection_setup(pool, dbd->driver, dbd->handle);
    if (!error) {
        error = ra_store_prepare_statements(&conn);
    }
    if (error) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, dbd_cfg->server, RALOGNO(00016)
                     "%s; each request prepares what it needs", error);
        return APR_SUCCESS;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, dbd_cfg->server, RALOGNO(00018)
                 "new %s connection set up", apr_dbd_name(dbd->driver));
    return APR_SUCCESS;
}
