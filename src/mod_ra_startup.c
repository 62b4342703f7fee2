/* httpd glue: start-up and child initialisation: the database's tables
 * (created or upgraded in the parent, before mod_dbd's first pooled
 * connection prepares the statements), the SQLite writer mutex, and each
 * pooled connection's settings. */
#include "mod_ra_hooks.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
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

#include <apr_shm.h>
#include <apr_strings.h>
#include <apu_version.h>

#include <libpq-fe.h>

#include <cjose/version.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "mod_ra_config.h"
#include "mod_ra_keys.h"
#include "ra_dbd.h"
#include "ra_commit.h"
#include "ra_commit_shared.h"
#include "ra_schema.h"
#include "ra_store.h"
#include "ra_token_cache.h"
#include "ra_watchdog.h"

APLOG_USE_MODULE(remoteassist);

/* ------------------------------------------------ what a database needs */

/* What about a directory keeps this process (User, in a probe or a child)
 * from creating files in it, in words; NULL when nothing does. access()
 * asks the kernel, so supplementary groups, ACLs and read-only mounts
 * count. */
static const char *directory_problem(apr_pool_t *p, const char *dir, const char *purpose)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        return errno == ENOENT ? apr_psprintf(p, "directory %s does not exist", dir)
                               : apr_psprintf(p, "directory %s cannot be reached by User "
                                              "%s: %s", dir, ap_unixd_config.user_name,
                                              strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return apr_psprintf(p, "%s is not a directory", dir);
    }
    if (access(dir, W_OK | X_OK) != 0) {
        return apr_psprintf(p, "directory %s is not writable by User %s (%s): %s", dir,
                            ap_unixd_config.user_name, strerror(errno), purpose);
    }
    return NULL;
}

/* What keeps this process from using the SQLite database at path (or
 * creating it), in words; NULL when nothing visible does. SQLite itself
 * says the rest (a file that is not a database, ...) when it opens it. */
static const char *sqlite_path_problem(apr_pool_t *p, const char *path)
{
    static const char *const files[] = { "", "-wal", "-shm" };
    char *dir = ap_make_dirstr_parent(p, path);
    size_t len = strlen(dir);
    if (len > 1) {
        dir[len - 1] = '\0'; /* "/var/lib/x/" names the directory as "/var/lib/x" */
    }
    const char *problem = directory_problem(p, len ? dir : ".",
                                            "SQLite creates the database and its -wal and "
                                            "-shm files there");
    for (size_t i = 0; !problem && i < sizeof(files) / sizeof(files[0]); i++) {
        const char *file = apr_pstrcat(p, path, files[i], NULL);
        struct stat st;
        if (stat(file, &st) != 0) {
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            problem = apr_psprintf(p, "%s is not a regular file", file);
        }
        else if (access(file, R_OK | W_OK) != 0) {
            problem = apr_psprintf(p, "%s is not readable and writable by User %s (%s)",
                                   file, ap_unixd_config.user_name, strerror(errno));
        }
    }
    return problem;
}

/* The module's own PostgreSQL connections (the set-up, apachectl -t's look,
 * a child's retry, the connection limit) must not hang on a server that
 * never answers: without a connect_timeout of its own, libpq waits as long
 * as the kernel does, and the parent of a graceful restart serves nothing
 * meanwhile. NULL when libpq cannot read the parameters. */
#define RA_CONNECT_TIMEOUT "3"

static const char *bounded_params(apr_pool_t *p, const char *params)
{
    PQconninfoOption *options = PQconninfoParse(params, NULL);
    int bounded = 0;
    if (!options) {
        return NULL;
    }
    for (PQconninfoOption *o = options; o->keyword; o++) {
        bounded |= !strcmp(o->keyword, "connect_timeout") && o->val && *o->val;
    }
    PQconninfoFree(options);
    if (bounded) {
        return params;
    }
    if (!strncmp(params, "postgresql://", 13) || !strncmp(params, "postgres://", 11)) {
        return apr_pstrcat(p, params, strchr(params, '?') ? "&" : "?",
                           "connect_timeout=" RA_CONNECT_TIMEOUT, NULL);
    }
    return apr_pstrcat(p, params, " connect_timeout=" RA_CONNECT_TIMEOUT, NULL);
}

/* What a PostgreSQL DBDParams needs so that no wait on the server is
 * endless, and why (docs/deploy.md, "Bounded waits" gives values): mod_dbd
 * opens its pooled connections with DBDParams as written, which the module
 * only reads. */
static const struct {
    const char *keyword, *why;
} bounding_params[] = {
    { "connect_timeout", "a connection attempt to a host that does not answer" },
    { "keepalives_idle", "an idle pooled connection whose server went away" },
    { "tcp_user_timeout", "a request whose server stopped acknowledging what it sent" },
};

/* Warns (RA00100) when a PostgreSQL DBDParams lacks any of bounding_params. */
static void warn_unbounded_params(apr_pool_t *p, server_rec *s, const char *driver,
                                  const char *params, const char *name)
{
    PQconninfoOption *options;
    const char *missing = "";

    if (ra_dbd_dialect(driver) != RA_DIALECT_PGSQL
        || !(options = PQconninfoParse(params, NULL))) {
        return; /* unreadable parameters are refused elsewhere */
    }
    for (size_t i = 0; i < sizeof(bounding_params) / sizeof(bounding_params[0]); i++) {
        int set = 0;
        for (PQconninfoOption *o = options; o->keyword; o++) {
            set |= !strcmp(o->keyword, bounding_params[i].keyword) && o->val && *o->val;
        }
        if (!set) {
            missing = apr_psprintf(p, "%s%s%s (%s)", missing, *missing ? ", " : "",
                                   bounding_params[i].keyword, bounding_params[i].why);
        }
    }
    PQconninfoFree(options);
    if (*missing) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00100)
                     "DBDParams (%s) sets no %s: such waits are bounded only by the kernel "
                     "(minutes) or not at all; see docs/deploy.md, \"Bounded waits\"",
                     name, missing);
    }
}

/* libpq quotes parts of parameters it cannot read in its message, and they
 * may hold a password: none of it is shown. */
#define RA_UNREADABLE_PARAMS "DBDParams is not a connection string libpq can read (its " \
    "message is not shown: it could quote a password)"

/* The set-up (or apachectl -t's look at it) in this process. A SQLite file
 * that does not exist yet is not opened by a look: opening creates it. */
static ra_schema_state_e setup_here(apr_pool_t *p, const ra_server_config_t *scfg, int apply,
                                    ra_schema_outcome_t *outcome, const char **error)
{
    const char *params = scfg->dbd_params;
    memset(outcome, 0, sizeof(*outcome));
    outcome->legacy_rows = -1;
    if (ra_dbd_dialect(scfg->dbd_driver) == RA_DIALECT_SQLITE) {
        struct stat st;
        if ((*error = sqlite_path_problem(p, params)) != NULL) {
            return RA_SCHEMA_BROKEN;
        }
        if (!apply && stat(params, &st) != 0) {
            return RA_SCHEMA_READY;
        }
    }
    else if (!(params = bounded_params(p, params))) {
        *error = RA_UNREADABLE_PARAMS;
        return RA_SCHEMA_BROKEN;
    }
    return apply ? ra_schema_setup(p, scfg->dbd_driver, params, scfg->legacy_tenant,
                                   outcome, error)
                 : ra_schema_check(p, scfg->dbd_driver, params, scfg->legacy_tenant, outcome,
                                   error);
}

/* What the administrator does for a role that may not create tables (the
 * module then runs no DDL at start-up): docs/operations.md, "A role that
 * cannot create tables". */
#define RA_NEEDS_ADMIN_REMEDY "an administrator runs the schema once as a role that may " \
    "(psql -f /usr/share/libapache2-mod-remoteassist/schema-pgsql.sql, or sql/schema.sql " \
    "and each sql/step-NNN.sql) and grants this role SELECT, INSERT, UPDATE, DELETE on " \
    "remote_assistance_partners and SELECT on remoteassist_schema"

/* What a check or set-up done in another process reports through a pipe. */
typedef struct {
    int state;
    ra_schema_outcome_t outcome;
    char error[1024];
} ra_setup_report_t;

typedef void (*ra_as_user_fn)(apr_pool_t *p, const void *arg, ra_setup_report_t *report);

/* In a forked process: the supplementary groups of User (as mod_unixd
 * gives httpd's children), Group, then User. 1, or 0 with errno. */
static int become_user(void)
{
    const char *name = ap_unixd_config.user_name;
    if (name[0] == '#') { /* User #uid */
        struct passwd *pw = getpwuid(ap_unixd_config.user_id);
        name = pw ? pw->pw_name : NULL;
    }
    if (name ? initgroups(name, ap_unixd_config.group_id) != 0
             : setgroups(1, &ap_unixd_config.group_id) != 0) {
        return 0;
    }
    return setgid(ap_unixd_config.group_id) == 0 && setuid(ap_unixd_config.user_id) == 0;
}

/* Runs fn in a forked process that has become User and Group, as httpd's
 * children will: apachectl -t and the parent run as root, to whom every
 * directory is writable. */
static void run_as_user(apr_pool_t *p, ra_as_user_fn fn, const void *arg,
                        ra_setup_report_t *report)
{
    int fds[2];
    pid_t pid;

    memset(report, 0, sizeof(*report));
    report->state = RA_SCHEMA_BROKEN;
    if (pipe(fds) != 0) {
        apr_snprintf(report->error, sizeof(report->error),
                     "cannot start a process as User: %s", strerror(errno));
        return;
    }
    if ((pid = fork()) < 0) {
        apr_snprintf(report->error, sizeof(report->error),
                     "cannot start a process as User: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        /* the groups httpd's children get (mod_unixd: initgroups, so
         * supplementary groups count), then Group and User */
        if (!become_user()) {
            apr_snprintf(report->error, sizeof(report->error), "cannot become User %s: %s",
                         ap_unixd_config.user_name, strerror(errno));
        }
        else {
            fn(p, arg, report);
        }
        _exit(write(fds[1], report, sizeof(*report)) == sizeof(*report) ? 0 : 1);
    }
    close(fds[1]);
    ssize_t got;
    do { /* a signal to the parent (a second restart) must not lose the report */
        got = read(fds[0], report, sizeof(*report));
    } while (got < 0 && errno == EINTR);
    close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof(*report)) {
        report->state = RA_SCHEMA_BROKEN;
        apr_cpystrn(report->error, "the process as User ended without a report",
                    sizeof(report->error));
    }
}

typedef struct {
    const ra_server_config_t *scfg;
    int apply;
} ra_setup_job_t;

static void setup_as_user(apr_pool_t *p, const void *arg, ra_setup_report_t *report)
{
    const ra_setup_job_t *job = arg;
    const char *why = NULL;
    report->state = setup_here(p, job->scfg, job->apply, &report->outcome, &why);
    apr_cpystrn(report->error, why ? why : "", sizeof(report->error));
}

/* SQLite creates the database, -wal and -shm as whoever opens it. Opened by
 * the parent as root, they would leave the children (User) read-only: the
 * file until handed over, and at a graceful restart for good any connection
 * an old child opened meanwhile ("attempt to write a readonly database",
 * 503s under load). So when httpd runs as root, a SQLite database is set
 * up, or looked at, as User. */
static ra_schema_state_e setup_database(apr_pool_t *p, const ra_server_config_t *scfg,
                                       int apply, ra_schema_outcome_t *outcome,
                                       const char **error)
{
    ra_setup_job_t job = { scfg, apply };
    ra_setup_report_t report;

    if (geteuid() != 0 || ra_dbd_dialect(scfg->dbd_driver) != RA_DIALECT_SQLITE) {
        return setup_here(p, scfg, apply, outcome, error);
    }
    run_as_user(p, setup_as_user, &job, &report);
    *outcome = report.outcome;
    *error = report.error[0] ? apr_pstrdup(p, report.error) : NULL;
    return (ra_schema_state_e)report.state;
}

static void directory_as_user(apr_pool_t *p, const void *arg, ra_setup_report_t *report)
{
    const char *why = directory_problem(p, arg, "fetched keys are kept there");
    report->state = why ? RA_SCHEMA_BROKEN : RA_SCHEMA_READY;
    apr_cpystrn(report->error, why ? why : "", sizeof(report->error));
}

/* What keeps the key cache directory from taking User's files: the
 * directory as User when it exists, else the parent that start-up creates
 * it in (as root). NULL when nothing does. */
static const char *key_cache_problem(apr_pool_t *p, const char *dir)
{
    ra_setup_report_t report;
    struct stat st;

    if (stat(dir, &st) != 0) {
        /* start-up creates it and its missing parents (as root): the
         * nearest one that exists must be a directory */
        char *ancestor = apr_pstrdup(p, dir);
        while (stat(ancestor, &st) != 0) {
            char *slash = strrchr(ancestor, '/');
            if (!slash) {
                return NULL; /* relative to a working directory that exists */
            }
            slash[slash == ancestor] = '\0'; /* "/x" leaves "/" */
        }
        return S_ISDIR(st.st_mode) ? NULL
               : apr_psprintf(p, "%s cannot be created: %s is not a directory", dir, ancestor);
    }
    if (geteuid() != 0) {
        return directory_problem(p, dir, "fetched keys are kept there");
    }
    run_as_user(p, directory_as_user, dir, &report);
    return report.error[0] ? apr_pstrdup(p, report.error) : NULL;
}

/* The database as logs may name it: a SQLite path, or PostgreSQL's host,
 * port, database and user, never the password or the rest of DBDParams. */
static const char *database_name(apr_pool_t *p, const char *driver, const char *params)
{
    static const char *const shown[] = { "host", "hostaddr", "port", "dbname", "user" };
    PQconninfoOption *options;
    const char *name = "";

    if (ra_dbd_dialect(driver) != RA_DIALECT_PGSQL) {
        return apr_pstrcat(p, driver, " ", params, NULL);
    }
    if (!(options = PQconninfoParse(params, NULL))) {
        return "pgsql (DBDParams that libpq cannot parse)";
    }
    for (PQconninfoOption *o = options; o->keyword; o++) {
        for (size_t i = 0; o->val && *o->val && i < sizeof(shown) / sizeof(shown[0]); i++) {
            if (!strcmp(o->keyword, shown[i])) {
                name = apr_pstrcat(p, name, " ", o->keyword, "=", o->val, NULL);
            }
        }
    }
    PQconninfoFree(options);
    return apr_pstrcat(p, "pgsql", *name ? name : " (libpq's defaults)", NULL);
}

/* libpq takes PGPASSWORD from httpd's environment before any passfile. */
static const char *login_hint(apr_pool_t *p, const char *error)
{
    if (error && strstr(error, "password authentication failed") && getenv("PGPASSWORD")) {
        return apr_pstrcat(p, error, " (PGPASSWORD is set in httpd's environment, e.g. "
                           "/etc/apache2/envvars, and libpq uses it before any passfile)",
                           NULL);
    }
    return error;
}

/* ------------------------------------------------- one database at run time */

/* Seconds between two set-up tries of a child whose database was not ready
 * at start-up; below Retry-After, so a client that waits finds it tried. */
#define RA_SETUP_RETRY_INTERVAL 2

/* A database of the module's, shared by the servers that name it. Made in
 * the parent at start-up; after the fork each child has its own copy, which
 * its threads update with atomics only: ready once set stays set, one
 * thread at a time claims a retry (trying), and next_try spaces them. */
struct ra_database_s {
    const char *key;          /* driver:params */
    const char *name;         /* database_name() */
    const ra_server_config_t *scfg;
    int ready;
    int trying;
    apr_time_t next_try;
    int level;                /* its schema level, once ready */
    char token_key[RA_SCHEMA_TOKEN_KEY_MAX + 1]; /* its $skiptoken key, once ready */
};

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

/* What a set-up that left the database ready found (its level, its
 * $skiptoken key), and what it changed, or a level above this module's
 * that it serves as the rule allows: at notice, as an administrator in a
 * rolling upgrade wants to see it. */
static void log_upgrade(server_rec *s, ra_database_t *db, const ra_schema_outcome_t *outcome)
{
    db->level = outcome->level;
    apr_cpystrn(db->token_key, outcome->token_key, sizeof(db->token_key));
    if (outcome->legacy_rows >= 0) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00025)
                     "%s: upgraded to schema version %d; %ld partner(s) from before "
                     "tenants now belong to tenant %s", db->name, outcome->level,
                     outcome->legacy_rows, db->scfg->legacy_tenant ? db->scfg->legacy_tenant
                                                       : "(none: it was empty)");
    }
    else if (outcome->found >= RA_SCHEMA_BASE_LEVEL && outcome->found < outcome->level) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00077)
                     "%s: upgraded from schema level %d to %d; modules of level %d and "
                     "later can serve it", db->name, outcome->found, outcome->level,
                     outcome->oldest_reader);
    }
    else if (outcome->level > ra_schema_level()) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00078)
                     "%s: schema level %d, newer than this module's %d: served, as modules "
                     "of level %d and later can serve it; this node changes nothing of the "
                     "schema (upgrade it to finish the rolling upgrade)", db->name,
                     outcome->level, ra_schema_level(), outcome->oldest_reader);
    }
}

const char *ra_startup_token_key(request_rec *r)
{
    const ra_database_t *db = ra_server_config(r->server)->database;
    return db && db->token_key[0] ? db->token_key : NULL;
}

int ra_startup_database_ready(request_rec *r, const char **why)
{
    ra_database_t *db = ra_server_config(r->server)->database;
    ra_schema_outcome_t outcome;
    const char *error;

    *why = NULL;
    if (!db || __atomic_load_n(&db->ready, __ATOMIC_ACQUIRE)) {
        return 1;
    }
    *why = "its database could not be set up (see RA00015 or RA00014 in the error log)";
    if (r->request_time < __atomic_load_n(&db->next_try, __ATOMIC_RELAXED)
        || __atomic_exchange_n(&db->trying, 1, __ATOMIC_ACQUIRE)) {
        return 0;
    }
    if (__atomic_load_n(&db->ready, __ATOMIC_ACQUIRE)) { /* another thread's retry won */
        __atomic_store_n(&db->trying, 0, __ATOMIC_RELEASE);
        return 1;
    }
    __atomic_store_n(&db->next_try, r->request_time + apr_time_from_sec(RA_SETUP_RETRY_INTERVAL),
                     __ATOMIC_RELAXED);
    /* a child runs as User already: the set-up runs right here */
    ra_schema_state_e state = setup_here(r->pool, db->scfg, 1, &outcome, &error);
    if (state == RA_SCHEMA_READY) {
        log_upgrade(r->server, db, &outcome);
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, RALOGNO(00066)
                      "%s: the tables are ready now; this child serves its locations",
                      db->name);
        __atomic_store_n(&db->ready, 1, __ATOMIC_RELEASE);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00067)
                      "%s: still not usable: %s; next try in %d s", db->name,
                      login_hint(r->pool, error), RA_SETUP_RETRY_INTERVAL);
    }
    __atomic_store_n(&db->trying, 0, __ATOMIC_RELEASE);
    return state == RA_SCHEMA_READY;
}

/* ------------------------------------------------------------ start-up */

/* SQLite has one writer at a time. httpd's children otherwise take turns
 * through SQLite's busy handler, which polls with sleeps of growing length
 * (up to 50 ms), then through the module's 100 ms pauses (ra_store.c): p99
 * of 0.3-0.6 s at 16 connections with two children when the statements
 * still ran through apr_dbd_sqlite3. A cross-process mutex per database lets
 * the waiting child sleep in the kernel until the writer is done. Without
 * one (it could not be made), SQLite's own locking still keeps the data
 * safe. */
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
                         "cannot create the %s mutex for %s; its writers wait through "
                         "SQLite's busy handler instead", RA_SQLITE_MUTEX, path);
            return NULL;
        }
        if (apr_global_mutex_mech(mutex) == APR_LOCK_PROC_PTHREAD) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00144)
                         "the %s mutex for %s is a pthread mutex (Mutex): after a graceful "
                         "restart it can be destroyed under children of the generation "
                         "before, whose creates then commit one by one; prefer fcntl, the "
                         "module's default", RA_SQLITE_MUTEX, path);
        }
        apr_hash_set(made, path, APR_HASH_KEY_STRING, mutex);
    }
    return mutex;
}

/* The group-commit queue that every child of this generation shares for
 * the SQLite database at path (ra_commit_shared.h): anonymous shared memory
 * in pconf, made before the children fork and inherited by them; servers
 * that write the same database share it, as they share its writer mutex,
 * which its committers hold. A graceful restart's new children get a new
 * queue and a new mutex: the old children finish with theirs, and SQLite's
 * own locking keeps the two generations' writers apart. NULL (each child
 * then batches its own creates) with RemoteAssistCommitQueue 0, without
 * the writer mutex, or without the memory (RA00140). */
static ra_commit_shared_t *shared_commit_queue(apr_pool_t *pconf, server_rec *s,
                                               apr_hash_t *made, const char *path,
                                               const ra_server_config_t *scfg)
{
    ra_commit_shared_t *queue = apr_hash_get(made, path, APR_HASH_KEY_STRING);
    int slots = scfg->commit_slots, daemons = 0, threads = 0;
    apr_shm_t *shm;

    if (queue || !scfg->sqlite_writer || slots == 0) {
        return queue;
    }
    if (slots < 0) { /* every worker thread of the server may have a create waiting */
        ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons);
        ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
        slots = daemons * (threads > 0 ? threads : 1);
        slots = slots < 1 ? 1 : slots > RA_MAX_COMMIT_SLOTS ? RA_MAX_COMMIT_SLOTS : slots;
    }
    apr_status_t rv = apr_shm_create(&shm, ra_commit_shared_size(slots), NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, RALOGNO(00140)
                     "no shared memory for the commit queue of %s (%d slots); each child "
                     "commits its own creates", path, slots);
        return NULL;
    }
    queue = ra_commit_shared_create(pconf, apr_shm_baseaddr_get(shm), slots,
                                    scfg->commit_batch ? scfg->commit_batch
                                                       : RA_DEFAULT_COMMIT_BATCH);
    apr_hash_set(made, path, APR_HASH_KEY_STRING, queue);
    return queue;
}

/* The connections one node may open to PostgreSQL: each child at most
 * DBDMax (and at least DBDMin), and no more than it has threads; a
 * graceful restart runs old and new children side by side, so twice that.
 * Warns when PostgreSQL's limit for ordinary roles is lower. */
static void check_pool_size(apr_pool_t *p, server_rec *s, const ra_server_config_t *scfg,
                            const ra_database_t *db)
{
    int children = 0, threads = 1;
    long limit;
    const char *error;

    const char *params = bounded_params(p, scfg->dbd_params);
    if (ra_dbd_dialect(scfg->dbd_driver) != RA_DIALECT_PGSQL || !params
        || ra_schema_connection_limit(p, scfg->dbd_driver, params, &limit, &error)
           != RA_SCHEMA_READY) {
        return;
    }
    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &children);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    int dbd_max = scfg->dbd_max ? scfg->dbd_max : RA_DBD_DEFAULT_MAX;
    int dbd_min = scfg->dbd_min ? scfg->dbd_min : RA_DBD_DEFAULT_MIN;
    int per_child = dbd_max < threads ? dbd_max : (threads > 0 ? threads : 1);
    per_child = per_child > dbd_min ? per_child : dbd_min;
    long needed = 2L * children * per_child;
    if (needed > limit) {
        /* DBDMax lowers a child's share down to one connection and to
         * DBDMin, no further (prefork's children have one thread: DBDMax
         * cannot help them at all); past that, fewer children must */
        long fits = limit / (2L * (children > 0 ? children : 1));
        long least = dbd_min > 1 ? dbd_min : 1;
        long workers = limit / (2L * least) * (threads > 0 ? threads : 1);
        const char *remedy = fits >= least
            ? apr_psprintf(p, "lower DBDMax to %ld", fits)
            : apr_psprintf(p, "no DBDMax fits (a child keeps at least %ld): lower "
                           "MaxRequestWorkers to %ld", least, workers);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00068)
                     "%s allows %ld connections to ordinary roles, but this node may open "
                     "%ld: up to %d children (MaxRequestWorkers / ThreadsPerChild) x %d each "
                     "(DBDMax %d, ThreadsPerChild %d), twice during a graceful restart; "
                     "%s or raise max_connections (and multiply by the number of nodes)",
                     db->name, limit, needed, children, per_child, dbd_max, threads, remedy);
    }
}

/* Creates or upgrades the tables (and SQLite's WAL mode) once per database,
 * in the parent, before mod_dbd's first pooled connection prepares the
 * statements. Nothing here may end the server: a database that cannot be
 * set up is logged once, and its locations answer 503 while each child
 * retries on requests (ra_startup_database_ready). One that worked before
 * and fails during a restart is logged and taken as ready: the running
 * children kept their connections and the tables were there. */
static void setup_databases(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *main_server)
{
    apr_hash_t *databases = apr_hash_make(ptemp);
    apr_hash_t *mutexes = apr_hash_make(ptemp);
    apr_hash_t *queues = apr_hash_make(ptemp);

    for (server_rec *s = main_server; s; s = s->next) {
        ra_server_config_t *scfg = ra_server_config(s);
        const char *error;
        ra_schema_outcome_t outcome;
        scfg->database = NULL;
        if (!scfg->serves || !scfg->dbd_driver || !scfg->dbd_params
            || ra_dbd_dialect(scfg->dbd_driver) == RA_DIALECT_UNSUPPORTED) {
            continue;
        }
        int sqlite = ra_dbd_dialect(scfg->dbd_driver) == RA_DIALECT_SQLITE;
        if (sqlite) {
            scfg->sqlite_writer = sqlite_writer_mutex(pconf, s, mutexes, scfg->dbd_params);
            scfg->commit_shared = shared_commit_queue(pconf, s, queues, scfg->dbd_params, scfg);
        }
        const char *key = apr_pstrcat(pconf, scfg->dbd_driver, ":", scfg->dbd_params, NULL);
        ra_database_t *db = apr_hash_get(databases, key, APR_HASH_KEY_STRING);
        if (db) {
            scfg->database = db;
            continue;
        }
        db = apr_pcalloc(pconf, sizeof(*db));
        db->key = key;
        db->name = database_name(pconf, scfg->dbd_driver, scfg->dbd_params);
        db->scfg = scfg;
        scfg->database = db;
        apr_hash_set(databases, key, APR_HASH_KEY_STRING, db);
        warn_unbounded_params(ptemp, s, scfg->dbd_driver, scfg->dbd_params, db->name);

        ra_schema_state_e state = setup_database(ptemp, scfg, 1, &outcome, &error);
        error = login_hint(ptemp, error);
        if (state == RA_SCHEMA_READY) {
            log_upgrade(s, db, &outcome);
            set_up_before(s, key, 1);
            db->ready = 1;
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, RALOGNO(00013)
                         "%s: tables ready (schema version %d)", db->name, db->level);
            check_pool_size(ptemp, s, scfg, db);
        }
        else if (set_up_before(s, key, 0)) {
            /* not taken as ready: the cause may be one its tables do not
             * survive (a directory removed), and a child's retry costs one
             * quick look when they are there */
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, RALOGNO(00017)
                         "%s: %s; it worked before this restart: its locations answer 503 "
                         "until a child's retry (every %d s) finds it usable again",
                         db->name, error, RA_SETUP_RETRY_INTERVAL);
        }
        else if (state == RA_SCHEMA_NEEDS_ADMIN) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00121)
                         "%s: %s: " RA_NEEDS_ADMIN_REMEDY "; its locations answer 503 until "
                         "then (each child retries every %d s, no restart needed)", db->name,
                         error, RA_SETUP_RETRY_INTERVAL);
        }
        else if (state == RA_SCHEMA_UNREACHABLE && !sqlite) {
            /* a database that starts after httpd is normal: answer 503 meanwhile */
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00014)
                         "%s: %s; its locations answer 503 until it is reachable and has "
                         "the tables of sql/schema.sql (each child retries every %d s)",
                         db->name, error, RA_SETUP_RETRY_INTERVAL);
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00015)
                         "%s: %s; its locations answer 503, and each child retries the "
                         "set-up every %d s until it works (no restart needed); the rest of "
                         "the site serves", db->name, error, RA_SETUP_RETRY_INTERVAL);
        }
    }
}

/* One line per section that serves requests, at notice: what it serves,
 * from which database and with which keys. Never a secret. */
static void log_sections(apr_pool_t *ptemp, server_rec *main_server)
{
    for (server_rec *s = main_server; s; s = s->next) {
        ra_server_config_t *scfg = ra_server_config(s);
        for (int i = 0; scfg->sections && i < scfg->sections->nelts; i++) {
            const ra_section_t *section = &APR_ARRAY_IDX(scfg->sections, i, ra_section_t);
            const ra_dir_config_t *cfg = section->cfg;
            const ra_database_t *db = scfg->database;
            const char *keys = cfg->keys
                ? apr_psprintf(ptemp, "%d key(s) from %s (%s)", ra_keyset_count(cfg->keys),
                               cfg->key_source, ra_keyset_algorithms(ptemp, cfg->keys))
                : apr_psprintf(ptemp, "keys from %s, refreshed every %d s",
                               cfg->key_source ? cfg->key_source : "(none)",
                               cfg->keys_refresh);
            const char *state = cfg->unusable ? apr_pstrcat(ptemp, "; it answers 503: ",
                                                            cfg->unusable, NULL)
                                : !db ? "; it answers 503: it has no usable database"
                                : db->ready ? ""
                                : "; it answers 503 until its database is usable";
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00069)
                         "%s serves %s: database %s%s, %s; creates commit in groups of up "
                         "to %d%s, pages of %d%s", section->where,
                         ra_version_name(cfg->version), db ? db->name : "(none)",
                         db && db->ready ? apr_psprintf(ptemp, " (schema version %d)",
                                                        db->level) : "", keys,
                         scfg->commit_batch ? scfg->commit_batch : RA_DEFAULT_COMMIT_BATCH,
                         scfg->commit_shared ? " shared by all children" : "",
                         cfg->page_size, state);
        }
    }
}

int ra_startup_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    (void)plog;
    /* the first of httpd's two configuration passes only tests the config */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, RALOGNO(00001)
                 "mod_remoteassist/" RA_MODULE_VERSION " running with jansson %s, "
                 "cjose %s, %s, apr-util %s", jansson_version_str(), cjose_version(),
                 OpenSSL_version(OPENSSL_VERSION), apu_version_string());
    setup_databases(pconf, ptemp, s);
    log_sections(ptemp, s);
    return OK;
}

/* The key cache directory, when a serving section takes keys from a URL. */
static int check_key_cache(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *main_server)
{
    for (server_rec *s = main_server; s; s = s->next) {
        const apr_array_header_t *sections = ra_server_config(s)->sections;
        for (int i = 0; sections && i < sections->nelts; i++) {
            if (!APR_ARRAY_IDX(sections, i, ra_section_t).cfg->key_url) {
                continue;
            }
            const char *problem = key_cache_problem(ptemp, ra_keys_cache_directory(pconf));
            if (problem) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, main_server, RALOGNO(00075)
                             "RemoteAssistTokenKeysCache: %s", problem);
            }
            return problem != NULL;
        }
    }
    return 0;
}

/* apachectl -t's look at each database the configuration serves: what the
 * start-up would meet, as User, changing nothing. Only there: at a real
 * start post_config sets up (and reports) the same. A PostgreSQL server
 * that does not answer now is no reason to refuse a configuration. */
int ra_startup_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *main_server)
{
    apr_table_t *done = apr_table_make(ptemp, 4);
    int problems = 0;
    (void)plog;

    if (!ra_config_testing()) {
        return OK;
    }
    for (server_rec *s = main_server; s; s = s->next) {
        const ra_server_config_t *scfg = ra_server_config(s);
        const char *error;
        ra_schema_outcome_t outcome;
        if (!scfg->serves || !scfg->dbd_driver || !scfg->dbd_params
            || ra_dbd_dialect(scfg->dbd_driver) == RA_DIALECT_UNSUPPORTED) {
            continue;
        }
        const char *key = apr_pstrcat(ptemp, scfg->dbd_driver, ":", scfg->dbd_params, NULL);
        if (apr_table_get(done, key)) {
            continue;
        }
        apr_table_setn(done, key, "1");
        const char *name = database_name(ptemp, scfg->dbd_driver, scfg->dbd_params);
        warn_unbounded_params(ptemp, s, scfg->dbd_driver, scfg->dbd_params, name);
        ra_schema_state_e state = setup_database(ptemp, scfg, 0, &outcome, &error);
        if (state == RA_SCHEMA_UNREACHABLE
            && ra_dbd_dialect(scfg->dbd_driver) == RA_DIALECT_PGSQL) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, RALOGNO(00070)
                         "DBDParams (%s): %s; not refused, as PostgreSQL may start later, "
                         "but its locations will answer 503 until it answers", name,
                         login_hint(ptemp, error));
        }
        else if (state == RA_SCHEMA_NEEDS_ADMIN) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00120)
                         "DBDParams (%s): %s: " RA_NEEDS_ADMIN_REMEDY, name, error);
            problems++;
        }
        else if (state != RA_SCHEMA_READY) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, RALOGNO(00071)
                         "DBDParams (%s): %s", name, login_hint(ptemp, error));
            problems++;
        }
    }
    problems += check_key_cache(pconf, ptemp, main_server);
    return problems ? HTTP_INTERNAL_SERVER_ERROR : OK;
}

/* The writer mutex is a file lock (fcntl) unless the administrator names
 * another mechanism: APR's default on Linux, a process-shared pthread mutex,
 * counts its users, and httpd's children give it up twice when they exit
 * (their child pool, then pconf at exit), so after a graceful restart it was
 * found destroyed (EINVAL for every caller) under an old child still
 * serving; a file lock is the kernel's, released with its holder, and stays
 * valid for as long as a process holds its descriptor. */
#if APR_HAS_FCNTL_SERIALIZE
#define RA_SQLITE_MUTEX_MECH APR_LOCK_FCNTL
#else
#define RA_SQLITE_MUTEX_MECH APR_LOCK_DEFAULT
#endif

int ra_startup_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog, (void)ptemp;
    return ap_mutex_register(pconf, RA_SQLITE_MUTEX, NULL, RA_SQLITE_MUTEX_MECH, 0);
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

    for (server_rec *s = main_server; s; s = s->next) {
        const ra_server_config_t *scfg = ra_server_config(s);
        if (scfg->serves && scfg->dbd_driver
            && ra_dbd_dialect(scfg->dbd_driver) == RA_DIALECT_PGSQL) {
            /* the client-side bound of every PostgreSQL round trip */
            apr_status_t rv = ra_watchdog_start(p);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, rv, main_server, RALOGNO(00102)
                             "cannot start the watchdog thread: PostgreSQL statements of "
                             "this child are not bounded on the client's side");
            }
            break;
        }
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

/* The mark of a pooled connection that mod_dbd opened while its database
 * was not ready, kept among its prepared statements (whose labels are
 * plain identifiers, so none can be this). */
#define RA_OPENED_EARLY "(opened before the tables were ready)"

void ra_startup_connection_ready(request_rec *r, ap_dbd_t *dbd)
{
    const ra_database_t *db = ra_server_config(r->server)->database;
    ra_store_conn_t conn = { dbd->driver, dbd->handle, dbd->pool, dbd->prepared, 0 };
    const char *error = NULL;
    apr_dbd_t *fresh;

    if (!db || !apr_hash_get(dbd->prepared, RA_OPENED_EARLY, APR_HASH_KEY_STRING)) {
        return;
    }
    /* once per connection, whatever comes of it */
    apr_hash_set(dbd->prepared, RA_OPENED_EARLY, APR_HASH_KEY_STRING, NULL);
    /* A SQLite connection from then may hold a file that has since been
     * replaced, or be read-only because the file was: it is opened again,
     * in place, before its first use. Only when no other module prepared a
     * statement on it (DBDPrepareSQL, mod_authn_dbd's queries): closing the
     * handle finalizes them all, and theirs would be left dangling. */
    if (ra_dbd_dialect(apr_dbd_name(dbd->driver)) == RA_DIALECT_SQLITE
        && apr_hash_count(dbd->prepared) == 0) {
        if (apr_dbd_open_ex(dbd->driver, dbd->pool, db->scfg->dbd_params, &fresh, &error)
            == APR_SUCCESS) {
            ra_store_connection_release(&conn);
            apr_dbd_close(dbd->driver, dbd->handle);
            dbd->handle = conn.handle = fresh;
            error = ra_store_connection_setup(r->pool, dbd->driver, dbd->handle);
        }
        else {
            /* the old connection is used as it is: its errors answer 503 */
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, RALOGNO(00074)
                          "%s: a connection opened before the tables were ready cannot be "
                          "opened again (%s); it is used as it is", db->name,
                          error ? error : "no reason given");
            return;
        }
    }
    if (!error) {
        error = ra_store_prepare_statements(&conn);
    }
    if (error) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, RALOGNO(00073)
                      "%s; each request prepares what it needs", error);
    }
}

/* The module's database a mod_dbd pool group connects to (a server that
 * serves a section uses that driver and those parameters), or NULL. */
static const ra_database_t *our_database(const dbd_cfg_t *dbd_cfg)
{
    for (server_rec *s = ap_server_conf; s; s = s->next) {
        const ra_server_config_t *scfg = ra_server_config(s);
        if (scfg->serves && scfg->database && dbd_cfg->name && dbd_cfg->params
            && !strcmp(scfg->dbd_driver, dbd_cfg->name)
            && !strcmp(scfg->dbd_params, dbd_cfg->params)) {
            return scfg->database;
        }
    }
    return NULL;
}

/* mod_dbd's per-connection hook: the busy timeout and durability settings
 * (SQLite), then the module's statements, in that order (see use_server in
 * mod_ra_config.c). A statement that cannot be prepared here, or while the
 * tables are not ready, is prepared at its first use (ra_store.c). Always
 * APR_SUCCESS: mod_dbd ignores the result, but any other one would stop the
 * hooks after this one, DBDInitSQL's among them. */
apr_status_t ra_startup_dbd_post_connect(apr_pool_t *pool, dbd_cfg_t *dbd_cfg,
                                         ap_dbd_t *dbd)
{
    ra_store_conn_t conn = { dbd->driver, dbd->handle, dbd->pool, dbd->prepared, 0 };
    const ra_database_t *db = our_database(dbd_cfg);
    const char *error;

    if (!db) {
        return APR_SUCCESS;
    }
    error = ra_store_connection_setup(pool, dbd->driver, dbd->handle);
    ra_store_connection_observe(&conn);
    if (!__atomic_load_n(&db->ready, __ATOMIC_ACQUIRE)) {
        /* no statement can be prepared on tables that are not there yet */
        apr_hash_set(dbd->prepared, RA_OPENED_EARLY, APR_HASH_KEY_STRING, RA_OPENED_EARLY);
        return APR_SUCCESS;
    }
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
