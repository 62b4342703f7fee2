/* The SQL of a list or count, generated from a parsed query (ra_query.h):
 * column names from a whitelist, every value a placeholder in apr_dbd's
 * syntax with its parameter beside it, so no request text ever becomes SQL.
 * Pure text building, for either database's dialect. */
#ifndef RA_SQL_H
#define RA_SQL_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "ra_entity.h"
#include "ra_query.h"

typedef struct {
    int is_number;
    const char *text;   /* NULL and !is_number: SQL NULL */
    apr_int64_t number;
} ra_sql_param_t;

typedef struct {
    const char *text;
    apr_array_header_t *params;  /* ra_sql_param_t */
    apr_size_t length, capacity; /* of text, once it is built in a buffer */
} ra_sql_t;

/* The SQL the module speaks, one dialect per apr_dbd driver it runs on. */
typedef enum { RA_DIALECT_SQLITE, RA_DIALECT_PGSQL, RA_DIALECT_UNSUPPORTED } ra_dialect_e;

/* The dialect of the apr_dbd driver so named (DBDriver's argument, or
 * apr_dbd_name() of a loaded driver); RA_DIALECT_UNSUPPORTED for any other.
 * The one place that compares driver names. */
ra_dialect_e ra_sql_dialect(const char *driver_name);

/* Appends text to sql (allocated from its params' pool), or a placeholder
 * with its parameter: text, or number when that is not NULL. */
void ra_sql_append(ra_sql_t *sql, const char *text);
void ra_sql_append_param(ra_sql_t *sql, const char *text, const apr_int64_t *number);

/* Up to limit of the tenant's partners that match the query, in its order,
 * after its $skiptoken position, skipping offset rows; and how many of the
 * tenant's partners match filter (NULL: all). */
ra_sql_t *ra_sql_list(apr_pool_t *pool, ra_dialect_e dialect, const char *tenant,
                      const ra_query_t *query, apr_int64_t limit, apr_int64_t offset);
ra_sql_t *ra_sql_count(apr_pool_t *pool, ra_dialect_e dialect, const char *tenant,
                       const ra_qnode_t *filter);

/* The sort key values of partner for query's order, for its $skiptoken. */
void ra_sql_key_values(const ra_query_t *query, const ra_partner_t *partner,
                       ra_key_value_t *values);

#endif
