/* Storage of partners through apr_dbd. The module reaches the database through
 * mod_dbd's connection pool; this unit holds the SQL and the driver-facing
 * logic, with no httpd symbols, so it is tested against a real SQLite file. */
#ifndef RA_STORE_H
#define RA_STORE_H

#include <apr_dbd.h>
#include <apr_hash.h>
#include <apr_pools.h>

#include "ra_entity.h"

/* Label under which the insert is prepared on every pooled connection. A
 * plain identifier: PostgreSQL uses it as the prepared statement's name. */
#define RA_STORE_INSERT_LABEL "remoteassist_insert"

/* The insert, in apr_dbd's portable placeholder syntax. ON CONFLICT DO
 * NOTHING reports a taken id as zero rows instead of an error whose text
 * would differ per driver. */
#define RA_STORE_INSERT_SQL                                                      \
    "INSERT INTO remote_assistance_partners (id, display_name, onboarding_url, " \
    "onboarding_status, last_connection_date_time, "                            \
    "onboarding_request_expiry_date_time, api_version) "                        \
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"

/* SQLite's own busy handler waits this long for another process's write
 * lock (commits take well under a millisecond) before apr_dbd_sqlite3 sees
 * SQLITE_BUSY; the driver then sleeps 100 ms and retries, 15 times at most,
 * so a stuck writer costs a request about 16 x 300 ms, then 503. */
#define RA_STORE_SQLITE_BUSY_TIMEOUT_MS 200

/* The start-up check may wait longer: on a graceful restart the old
 * children go on writing while the parent sets up. */
#define RA_STORE_SETUP_BUSY_TIMEOUT_MS 10000

/* The CREATE TABLE of sql/schema.sql. */
const char *ra_store_schema_sql(void);

/* Whether the insert's SQL runs on this apr_dbd driver (sqlite3, pgsql). */
int ra_store_driver_supported(const char *driver_name);

typedef enum {
    RA_STORE_READY,        /* the table exists */
    RA_STORE_UNREACHABLE,  /* could not connect */
    RA_STORE_BROKEN        /* connected, but the table is missing or unusable */
} ra_store_setup_e;

/* Start-up, before any pooled connection: connects with the driver, creates
 * the table when missing, switches SQLite to WAL, and checks the table is
 * usable. *error explains anything but RA_STORE_READY. */
ra_store_setup_e ra_store_setup_database(apr_pool_t *pool, const char *driver_name,
                                         const char *params, const char **error);

/* Per new pooled connection: SQLite busy timeout and synchronous=FULL (a
 * later DBDInitSQL may change the latter). NULL or an error message. */
const char *ra_store_connection_setup(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                                      apr_dbd_t *handle);

/* A pooled connection, as mod_dbd's ap_dbd_t holds it. */
typedef struct {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_pool_t *pool;       /* the connection's own pool */
    apr_hash_t *prepared;   /* label -> apr_dbd_prepared_t * */
} ra_store_conn_t;

typedef enum {
    RA_STORE_CREATED,   /* committed */
    RA_STORE_CONFLICT,  /* the id is taken; nothing written */
    RA_STORE_FAILED     /* nothing written; *error says why */
} ra_store_result_e;

/* Inserts partner (its id set) in one autocommit statement: when this
 * returns RA_STORE_CREATED the row is committed. */
ra_store_result_e ra_store_insert(apr_pool_t *pool, const ra_store_conn_t *conn,
                                  const ra_partner_t *partner, ra_version_e version,
                                  const char **error);

#endif
