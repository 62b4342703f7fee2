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
#include "ra_dbd.h"

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

/* Appends text to sql (allocated from its params' pool), or a placeholder
 * with its parameter: text, or number when that is not NULL. */
void ra_sql_append(ra_sql_t *sql, const char *text);
void ra_sql_append_param(ra_sql_t *sql, const char *text, const apr_int64_t *number);

/* Up to limit of the tenant's rows of query->set that match the query, in its order,
 * after its $skiptoken position, skipping offset rows; and how many of the
 * tenant's partners match filter (NULL: all). */
ra_sql_t *ra_sql_list(apr_pool_t *pool, ra_dialect_e dialect, const char *tenant,
                      const ra_query_t *query, apr_int64_t limit, apr_int64_t offset);
ra_sql_t *ra_sql_count(apr_pool_t *pool, ra_dialect_e dialect, ra_entity_set_e set,
                       const char *tenant, const ra_qnode_t *filter);

/* The sort key values of a row for query's order, for its $skiptoken:
 * by_prop holds the row's values indexed by its set's properties (a
 * partner's values[]). */
void ra_sql_key_values(const ra_query_t *query, const char *const *by_prop,
                       ra_key_value_t *values);

#endif
