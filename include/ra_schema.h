/* The database's schema: created from sql/schema.sql and the steps
 * sql/step-NNN.sql (compiled in, in each driver's form), upgraded from
 * version 1 and from any lower level, and checked at start-up, before any
 * pooled connection exists. No httpd symbols: tested against a real SQLite
 * file.
 *
 * The schema-compatibility rule (docs/operations.md): the schema row holds
 * the level the tables are at and the oldest module level that can serve
 * them. A module serves a database whose oldest reader is at most its own
 * level, whatever the database's level, and then changes nothing of the
 * schema; it brings a database below its level up by the steps in between,
 * each additive (expand now, contract in a later release); it refuses only a
 * database whose oldest reader is above its level. */
#ifndef RA_SCHEMA_H
#define RA_SCHEMA_H

#include <apr_pools.h>

#include "ra_entity.h"

/* The level sql/schema.sql creates; the steps start above it. */
#define RA_SCHEMA_BASE_LEVEL 2

/* The newest level this module knows: its last step's. */
int ra_schema_level(void);

/* Longest $skiptoken key the table remoteassist_secrets holds. */
#define RA_SCHEMA_TOKEN_KEY_MAX 128

/* What the set-up, or a look at it, found and left. */
typedef struct {
    int found;          /* the level the database was at: 0 no tables, 1 before tenants */
    int level;          /* the level it is at now (after a look: would be) */
    int oldest_reader;  /* the oldest module level that can serve it */
    long legacy_rows;   /* rows an upgrade from version 1 gave RemoteAssistLegacyTenant, or -1 */
    /* the key that signs $skiptoken (level 4 on), made with the schema so
     * that every node of a database shares it; fixed-size, as a set-up run
     * as User reports through a pipe */
    char token_key[RA_SCHEMA_TOKEN_KEY_MAX + 1];
} ra_schema_outcome_t;


/* The start-up check may wait longer: on a graceful restart the old
 * children go on writing while the parent sets up. */
#define RA_SCHEMA_SETUP_BUSY_TIMEOUT_MS 10000
/* PostgreSQL's bound on each lock and statement of the set-up: as long */
#define RA_SCHEMA_SETUP_WAIT "10s"

/* The partners' table, and what a read selects from it: every property in
 * ra_prop_e order, then the ETag. */
#define RA_SCHEMA_TABLE "remote_assistance_partners"
#define RA_SCHEMA_SELECTED "id, display_name, onboarding_url, onboarding_status, " \
    "last_connection_date_time, onboarding_request_expiry_date_time, etag"
#define RA_SCHEMA_SELECTED_COUNT (RA_PROP_COUNT + 1)

/* What a read selects from the audit events' table (sql/audit.sql): the
 * properties a query names, in ra_audit_prop_e order, then the rest. */
#define RA_SCHEMA_AUDIT_SELECTED "id, activity_date_time, category, activity_type, " \
    "activity_operation_type, correlation_id, actor_application, user_id, " \
    "user_principal_name, application_id, ip_address, user_permissions, resource_id, " \
    "resource_display_name, modified_properties"
#define RA_SCHEMA_AUDIT_SELECTED_COUNT 15

typedef enum {
    RA_SCHEMA_READY,        /* the tables exist, and this module can serve them */
    RA_SCHEMA_UNREACHABLE,  /* could not connect */
    RA_SCHEMA_BROKEN,       /* connected, but unusable or not upgradable: *error says why */
    RA_SCHEMA_NEEDS_ADMIN   /* PostgreSQL: the tables are missing (or not granted) and this
                             * role may not create them; *error says which */
} ra_schema_state_e;

/* Start-up, before any pooled connection: connects with the driver, creates
 * the tables when missing, upgrades a database of schema version 1 (no
 * tenants: its rows go to legacy_tenant, which must be set when there are
 * any) and one below this module's level, switches SQLite to WAL, and
 * checks the table is usable. *outcome says what it found and did. */
ra_schema_state_e ra_schema_setup(apr_pool_t *pool, const char *driver_name,
                                  const char *params, const char *legacy_tenant,
                                  ra_schema_outcome_t *outcome, const char **error);

/* apachectl -t's look at a database: the steps of ra_schema_setup inside a
 * transaction that is rolled back, without switching SQLite's journal mode,
 * so nothing changes: READY when the set-up would succeed. Opening a SQLite
 * file that does not exist creates it: look first. */
ra_schema_state_e ra_schema_check(apr_pool_t *pool, const char *driver_name,
                                  const char *params, const char *legacy_tenant,
                                  ra_schema_outcome_t *outcome, const char **error);

/* PostgreSQL: how many connections ordinary roles may open (max_connections
 * less superuser_reserved_connections), over a connection of its own. */
ra_schema_state_e ra_schema_connection_limit(apr_pool_t *pool, const char *driver_name,
                                             const char *params, long *limit,
                                             const char **error);

/* The directive that names the tenant of a version 1 database's rows. */
#define RA_SCHEMA_LEGACY_TENANT_DIRECTIVE "RemoteAssistLegacyTenant"

#endif
