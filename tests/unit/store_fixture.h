/* SQLite databases for the storage suites (test_schema.c, test_store.c) and
 * the helpers they share. */
#ifndef RA_UNIT_STORE_FIXTURE_H
#define RA_UNIT_STORE_FIXTURE_H

#include <apr_dbd.h>

#include "ra_query.h"
#include "ra_store.h"
#include "suites.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define UNSET RA_ENTITY_DATETIME_UNSET
#define T1 "11111111-1111-4111-8111-111111111111"
#define T2 "22222222-2222-4222-8222-222222222222"
#define T3 "33333333-3333-4333-8333-333333333333"
#define SELECTED "id, display_name, onboarding_url, onboarding_status, " \
    "last_connection_date_time, onboarding_request_expiry_date_time, etag"

/* apr_dbd's sqlite3 driver; the test's own directory and its database file
 * (not created until something opens it). */
extern const apr_dbd_driver_t *driver;
extern char dir[128];
extern const char *db_path;

/* A test case of s whose tests each get a database directory and a pool. */
TCase *db_tcase(Suite *s, const char *name);

/* A connection that the test pool closes, should the test stop early. */
apr_dbd_t *open_db(void);
void close_db(apr_dbd_t *handle);

/* First column of the first row of sql ("(null)" for SQL NULL, NULL for no
 * row); reads every row. */
const char *query_value(apr_dbd_t *handle, const char *sql);

/* Every row of a one-column query (its column named v), comma-separated. */
const char *query_list(apr_dbd_t *handle, const char *sql);

void exec_sql(apr_dbd_t *handle, const char *sql);

/* The database set up as the module does at start-up, asserted ready. */
void setup_db(void);

/* A pooled connection as mod_dbd would hold it, every statement prepared
 * under its label (or none). */
ra_store_conn_t make_conn(apr_dbd_t *handle, int prepare);

/* A partner with a fresh ETag. */
ra_partner_t partner(const char *id, const char *name, const char *url, const char *status,
                     const char *last, const char *expiry);

/* Inserts p for tenant, asserted done. */
void insert(const ra_store_conn_t *conn, const char *tenant, const ra_partner_t *p);

/* expr of the tenant's row id; the number of rows; whether a table exists. */
const char *column(apr_dbd_t *handle, const char *tenant, const char *id, const char *expr);
const char *row_count(apr_dbd_t *handle);
int table_exists(apr_dbd_t *handle, const char *name);

/* ra_store_list's rows, copied into *rows (ra_partner_t) in p. */
ra_store_result_e list_rows(apr_pool_t *p, const ra_store_conn_t *conn, const char *tenant,
                            const ra_query_t *query, apr_int64_t limit, apr_int64_t offset,
                            apr_array_header_t **rows, const char **error);

/* A list's query options, asserted valid. */
void parse(ra_version_e version, const char *args, ra_query_t *query);

#endif
