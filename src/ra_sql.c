/* SQL generated from a parsed query (ra_sql.h). */
#include "ra_sql.h"

#include <string.h>

#include <apr_strings.h>

#include "ra_odata.h"
#include "ra_schema.h"

/* The columns a property is stored in: its value, and what it sorts and
 * compares by (DateTimeOffsets by instant). Indexed by each set's property
 * enum: with the tables below, the one whitelist generated SQL takes names
 * from. */
typedef struct {
    const char *column;
    const char *key_column;
} column_t;

static const column_t partner_columns[RA_PROP_COUNT] = {
    [RA_PROP_ID] = { "id", "id" },
    [RA_PROP_DISPLAY_NAME] = { "display_name", "display_name" },
    [RA_PROP_ONBOARDING_URL] = { "onboarding_url", "onboarding_url" },
    /* OData orders and compares an enum by its members' values (ra_entity.h):
     * the text column maps to them here, with no schema change; like every
     * sort key but the id, it has no index (tenant_id leads the key, so a
     * tenant's rows are found by it and sorted) */
    [RA_PROP_ONBOARDING_STATUS] = { "onboarding_status",
                                    "(CASE onboarding_status WHEN 'notOnboarded' THEN 0 "
                                    "WHEN 'onboarding' THEN 1 WHEN 'onboarded' THEN 2 END)" },
    [RA_PROP_LAST_CONNECTION] = { "last_connection_date_time", "last_connection_ticks" },
    [RA_PROP_EXPIRY] = { "onboarding_request_expiry_date_time",
                         "onboarding_request_expiry_ticks" },
};

static const column_t audit_columns[RA_AUDIT_PROP_COUNT] = {
    [RA_AUDIT_PROP_ID] = { "id", "id" },
    [RA_AUDIT_PROP_DATE_TIME] = { "activity_date_time", "activity_ticks" },
    [RA_AUDIT_PROP_CATEGORY] = { "category", "category" },
    [RA_AUDIT_PROP_ACTIVITY_TYPE] = { "activity_type", "activity_type" },
    [RA_AUDIT_PROP_OPERATION_TYPE] = { "activity_operation_type", "activity_operation_type" },
    /* an Edm.Guid compares as a value, whatever its case; events of module
     * 0.5.0 hold the client-request-id as the client spelt it, so the key
     * is the lower-case text (no index serves correlationId either way) */
    [RA_AUDIT_PROP_CORRELATION_ID] = { "correlation_id", "lower(correlation_id)" },
};

static const struct {
    const char *table;
    const char *selected;
    const column_t *columns;
} sets[] = {
    [RA_ENTITY_SET_PARTNERS] = { RA_SCHEMA_TABLE, RA_SCHEMA_SELECTED, partner_columns },
    [RA_ENTITY_SET_AUDIT] = { RA_AUDIT_TABLE, RA_SCHEMA_AUDIT_SELECTED, audit_columns },
};

static const column_t *column_of(ra_entity_set_e set, int prop)
{
    return &sets[set].columns[prop];
}

/* Appends to the text in a buffer that doubles when full: a batch's INSERT
 * is built from hundreds of pieces. */
void ra_sql_append(ra_sql_t *sql, const char *text)
{
    apr_size_t n = strlen(text);
    if (!sql->capacity) { /* the text so far is not in a buffer of its own */
        sql->length = sql->text ? strlen(sql->text) : 0;
    }
    if (sql->length + n + 1 > sql->capacity) {
        apr_size_t capacity = 2 * (sql->length + n + 1);
        char *grown = apr_palloc(sql->params->pool, capacity);
        memcpy(grown, sql->text, sql->length);
        sql->text = grown;
        sql->capacity = capacity;
    }
    memcpy((char *)sql->text + sql->length, text, n + 1);
    sql->length += n;
}

/* Appends a placeholder and its parameter. */
void ra_sql_append_param(ra_sql_t *sql, const char *text, const apr_int64_t *number)
{
    ra_sql_param_t *param = apr_array_push(sql->params);
    param->is_number = number != NULL;
    param->text = text;
    param->number = number ? *number : 0;
    ra_sql_append(sql, number ? "%lld" : "%s");
}

/* A value of prop as its key column holds it: the instant of a
 * DateTimeOffset, the member value of the status, a Guid in lower case,
 * else the text. */
static void add_key_param(ra_sql_t *sql, ra_entity_set_e set, int prop, const char *text,
                          apr_int64_t ticks)
{
    apr_int64_t number;
    switch (ra_query_prop_kind(set, prop)) {
    case RA_KIND_DATETIME:
        ra_sql_append_param(sql, NULL, &ticks);
        break;
    case RA_KIND_STATUS:
        number = ra_entity_status_value(text);
        ra_sql_append_param(sql, NULL, &number);
        break;
    case RA_KIND_GUID: /* a $skiptoken's value is the row's, as stored */
        ra_sql_append_param(sql, ra_odata_lower(sql->params->pool, text, strlen(text)), NULL);
        break;
    default:
        ra_sql_append_param(sql, text, NULL);
    }
}

/* A literal of node's property, for its key column. */
static void add_literal(ra_sql_t *sql, ra_entity_set_e set, const ra_qnode_t *node)
{
    add_key_param(sql, set, node->prop, node->text, node->ticks);
}

static const char *const comparison_sql[] = { [RA_Q_EQ] = " = ", [RA_Q_NE] = " <> ",
                                              [RA_Q_GT] = " > ", [RA_Q_GE] = " >= ",
                                              [RA_Q_LT] = " < ", [RA_Q_LE] = " <= " };

/* OData compares with two-valued logic: a null property is simply unequal to
 * a value and not ordered before or after it, so "displayName ne 'x'" holds
 * for a null displayName and "not (displayName eq 'x')" too; SQL's null
 * would make both unknown. Nullable columns are guarded to match. */
static void compare_sql(ra_sql_t *sql, ra_entity_set_e set, const ra_qnode_t *node)
{
    const char *column = column_of(set, node->prop)->key_column;
    int nullable = ra_query_prop_nullable(set, node->prop);

    if (!node->text && ra_query_prop_kind(set, node->prop) != RA_KIND_DATETIME) {
        ra_sql_append(sql, apr_pstrcat(sql->params->pool, "(", column_of(set, node->prop)->column,
                                  node->op == RA_Q_EQ ? " IS NULL)" : " IS NOT NULL)", NULL));
        return;
    }
    if (!node->text) { /* a DateTimeOffset is never null: eq null never holds */
        ra_sql_append(sql, node->op == RA_Q_EQ ? "(1 = 0)" : "(1 = 1)");
        return;
    }
    ra_sql_append(sql, "(");
    if (nullable) {
        ra_sql_append(sql, apr_pstrcat(sql->params->pool, column, node->op == RA_Q_NE
                                  ? " IS NULL OR " : " IS NOT NULL AND ", NULL));
    }
    ra_sql_append(sql, apr_pstrcat(sql->params->pool, column, comparison_sql[node->op], NULL));
    add_literal(sql, set, node);
    ra_sql_append(sql, ")");
}

/* startswith, endswith and contains, case-sensitive and counting characters
 * as OData does, on either database. */
static void function_sql(ra_sql_t *sql, ra_dialect_e dialect, ra_entity_set_e set,
                         const ra_qnode_t *node)
{
    const char *c = column_of(set, node->prop)->column;
    apr_pool_t *pool = sql->params->pool;

    ra_sql_append(sql, apr_pstrcat(pool, "(", c, " IS NOT NULL AND ", NULL));
    switch ((ra_q_function_e)node->op) {
    case RA_Q_STARTSWITH:
        ra_sql_append(sql, apr_pstrcat(pool, "substr(", c, ", 1, length(", NULL));
        add_literal(sql, set, node);
        ra_sql_append(sql, ")) = ");
        add_literal(sql, set, node);
        break;
    case RA_Q_ENDSWITH:
        if (dialect == RA_DIALECT_PGSQL) {
            ra_sql_append(sql, apr_pstrcat(pool, "right(", c, ", length(", NULL));
        }
        else { /* SQLite's substr(x, -0) is all of x: an empty suffix apart */
            ra_sql_append(sql, "(length(");
            add_literal(sql, set, node);
            ra_sql_append(sql, apr_pstrcat(pool, ") = 0 OR substr(", c, ", -length(", NULL));
        }
        add_literal(sql, set, node);
        ra_sql_append(sql, ")) = ");
        add_literal(sql, set, node);
        if (dialect == RA_DIALECT_SQLITE) {
            ra_sql_append(sql, ")");
        }
        break;
    case RA_Q_CONTAINS:
        ra_sql_append(sql, apr_pstrcat(pool, dialect == RA_DIALECT_PGSQL ? "strpos(" : "instr(",
                                  c, ", ", NULL));
        add_literal(sql, set, node);
        ra_sql_append(sql, ") > 0");
        break;
    }
    ra_sql_append(sql, ")");
}

static void filter_sql(ra_sql_t *sql, ra_dialect_e dialect, ra_entity_set_e set,
                       const ra_qnode_t *node)
{
    switch (node->kind) {
    case RA_QNODE_OR:
    case RA_QNODE_AND:
        ra_sql_append(sql, "(");
        filter_sql(sql, dialect, set, node->left);
        ra_sql_append(sql, node->kind == RA_QNODE_OR ? " OR " : " AND ");
        filter_sql(sql, dialect, set, node->right);
        ra_sql_append(sql, ")");
        break;
    case RA_QNODE_NOT:
        ra_sql_append(sql, "(NOT ");
        filter_sql(sql, dialect, set, node->left);
        ra_sql_append(sql, ")");
        break;
    case RA_QNODE_COMPARE:
        compare_sql(sql, set, node);
        break;
    case RA_QNODE_FUNCTION:
        function_sql(sql, dialect, set, node);
        break;
    }
}

static ra_sql_t *where_tenant(apr_pool_t *pool, ra_entity_set_e set, const char *select,
                              const char *tenant, ra_dialect_e dialect,
                              const ra_qnode_t *filter)
{
    ra_sql_t *sql = apr_pcalloc(pool, sizeof(*sql));
    sql->params = apr_array_make(pool, 8, sizeof(ra_sql_param_t));
    sql->text = apr_pstrcat(pool, "SELECT ", select, " FROM ", sets[set].table,
                            " WHERE tenant_id = ", NULL);
    ra_sql_append_param(sql, tenant, NULL);
    if (filter) {
        ra_sql_append(sql, " AND ");
        filter_sql(sql, dialect, set, filter);
    }
    return sql;
}

/* One sort key's value, as the key column holds it. */
static void add_key_value(ra_sql_t *sql, ra_entity_set_e set, const ra_order_t *key,
                          const ra_key_value_t *value)
{
    add_key_param(sql, set, key->prop, value->text, value->ticks);
}

/* key = value; a null value (of a nullable string key) is IS NULL. */
static void equal_sql(ra_sql_t *sql, ra_entity_set_e set, const ra_order_t *key,
                      const ra_key_value_t *value)
{
    const char *column = column_of(set, key->prop)->key_column;
    int is_null = !value->text && ra_query_prop_kind(set, key->prop) != RA_KIND_DATETIME;

    ra_sql_append(sql, apr_pstrcat(sql->params->pool, column, is_null ? " IS NULL" : " = ", NULL));
    if (!is_null) {
        add_key_value(sql, set, key, value);
    }
}

/* key sorts after value in its direction; nulls sort first ascending and
 * last descending (OData: null is less than any value). */
static void after_sql(ra_sql_t *sql, ra_entity_set_e set, const ra_order_t *key,
                      const ra_key_value_t *value)
{
    apr_pool_t *pool = sql->params->pool;
    const char *column = column_of(set, key->prop)->key_column;

    if (!value->text && ra_query_prop_kind(set, key->prop) != RA_KIND_DATETIME) {
        ra_sql_append(sql, key->descending ? "1 = 0"
                 : apr_pstrcat(pool, column, " IS NOT NULL", NULL));
        return;
    }
    ra_sql_append(sql, apr_pstrcat(pool, "(", column, key->descending ? " < " : " > ", NULL));
    add_key_value(sql, set, key, value);
    if (key->descending && ra_query_prop_nullable(set, key->prop)) {
        ra_sql_append(sql, apr_pstrcat(pool, " OR ", column, " IS NULL", NULL));
    }
    ra_sql_append(sql, ")");
}

/* Rows strictly after the $skiptoken's row in the query's order: for keys
 * k1..kn, (k1 after v1) OR (k1 = v1 AND k2 after v2) OR ... */
static void keyset_sql(ra_sql_t *sql, const ra_query_t *query)
{
    ra_sql_append(sql, " AND (");
    for (int i = 0; i < query->order_count; i++) {
        ra_sql_append(sql, i ? " OR (" : "(");
        for (int j = 0; j < i; j++) {
            equal_sql(sql, query->set, &query->order[j], &query->after[j]);
            ra_sql_append(sql, " AND ");
        }
        after_sql(sql, query->set, &query->order[i], &query->after[i]);
        ra_sql_append(sql, ")");
    }
    ra_sql_append(sql, ")");
}

ra_sql_t *ra_sql_list(apr_pool_t *pool, ra_dialect_e dialect, const char *tenant,
                      const ra_query_t *query, apr_int64_t limit, apr_int64_t offset)
{
    ra_entity_set_e set = query->set;
    ra_sql_t *sql = where_tenant(pool, set, sets[set].selected, tenant, dialect, query->filter);

    if (query->after_set) {
        keyset_sql(sql, query);
    }
    ra_sql_append(sql, " ORDER BY ");
    for (int i = 0; i < query->order_count; i++) {
        const ra_order_t *key = &query->order[i];
        ra_sql_append(sql, apr_pstrcat(pool, i ? ", " : "", column_of(set, key->prop)->key_column,
                                  key->descending ? " DESC" : " ASC",
                                  !ra_query_prop_nullable(set, key->prop) ? ""
                                  : key->descending ? " NULLS LAST" : " NULLS FIRST", NULL));
    }
    ra_sql_append(sql, " LIMIT ");
    ra_sql_append_param(sql, NULL, &limit);
    if (offset > 0) {
        ra_sql_append(sql, " OFFSET ");
        ra_sql_append_param(sql, NULL, &offset);
    }
    return sql;
}

ra_sql_t *ra_sql_count(apr_pool_t *pool, ra_dialect_e dialect, ra_entity_set_e set,
                       const char *tenant, const ra_qnode_t *filter)
{
    return where_tenant(pool, set, "COUNT(*)", tenant, dialect, filter);
}

void ra_sql_key_values(const ra_query_t *query, const char *const *by_prop,
                       ra_key_value_t *values)
{
    for (int i = 0; i < query->order_count; i++) {
        int prop = query->order[i].prop;
        values[i].text = by_prop[prop];
        values[i].ticks = 0;
        if (ra_query_prop_kind(query->set, prop) == RA_KIND_DATETIME) {
            ra_entity_datetime_parse(by_prop[prop], &values[i].ticks);
        }
    }
}
