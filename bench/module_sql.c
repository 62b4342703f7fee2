/* `make bench` helper: prints the SQL the module runs, as src/ra_store.c
 * and src/ra_sql.c build it, so the raw baselines run the module's own
 * statements instead of copies that could drift.
 *
 *   module_sql TENANT QUERY LIMIT
 *
 * Prints one JSON object: "statements", each fixed statement's label and
 * text (ra_store_statement_sql), and "list", the SQL and parameters
 * ra_sql_list generates for the tenant, the list query string QUERY
 * (as a request's, e.g. "$top=100") and LIMIT rows, in both dialects. The
 * texts keep apr_dbd's placeholders (%s, %lld). Exits 1 on a query the
 * module would refuse. */
#include <stdio.h>
#include <stdlib.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <jansson.h>

#include "ra_query.h"
#include "ra_schema.h"
#include "ra_store.h"

static json_t *generated(const ra_sql_t *sql)
{
    json_t *params = json_array();
    for (int i = 0; i < sql->params->nelts; i++) {
        const ra_sql_param_t *p = &APR_ARRAY_IDX(sql->params, i, ra_sql_param_t);
        json_array_append_new(params, p->is_number ? json_integer(p->number)
                                      : p->text ? json_string(p->text) : json_null());
    }
    return json_pack("{s:s, s:o}", "text", sql->text, "params", params);
}

int main(int argc, char **argv)
{
    apr_pool_t *pool;
    ra_query_t query;
    const char *message;

    if (argc != 4 || atoll(argv[3]) <= 0) {
        fprintf(stderr, "usage: %s TENANT QUERY LIMIT\n", argv[0]);
        return 2;
    }
    apr_initialize();
    apr_pool_create(&pool, NULL);
    if (!ra_query_parse(pool, RA_VERSION_V1, RA_QUERY_LIST, argv[2], &query, &message)) {
        fprintf(stderr, "module_sql: %s: %s\n", argv[2], message);
        return 1;
    }
    json_t *statements = json_object();
    for (int s = 0; s < RA_STMT_KINDS; s++) {
        json_object_set_new(statements, ra_store_statement_label(s),
                            json_string(ra_store_statement_sql(s)));
    }
    apr_int64_t limit = atoll(argv[3]);
    json_t *out = json_pack(
        "{s:i, s:o, s:{s:o, s:o}}", "schema_version", ra_schema_level(),
        "statements", statements, "list",
        "sqlite", generated(ra_sql_list(pool, RA_DIALECT_SQLITE, argv[1], &query, limit, 0)),
        "pgsql", generated(ra_sql_list(pool, RA_DIALECT_PGSQL, argv[1], &query, limit, 0)));
    json_dumpf(out, stdout, JSON_INDENT(1));
    putchar('\n');
    json_decref(out);
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}
