/* libFuzzer target: a request's query string, as ra_query_parse reads it for
 * each kind of request, both API versions and both entity sets (partners and
 * audit events), and the SQL the store
 * generates from what it accepts (ra_sql_list, ra_sql_count, for
 * SQLite and PostgreSQL). An accepted query must generate SQL whose
 * placeholders match its parameters one to one, and whose $skiptoken,
 * made from any row, is bounded, accepted back by the same query (its
 * nextLink carries the query's parameter aliases and $format too) and
 * verified with its key only; a $skiptoken of the input never verifies.
 * The grammar covers issue 19's additions: in, parameter aliases, enum
 * comparisons, beta's $-less option names, $format. */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>

#include "fuzz.h"
#include "ra_json_writer.h"
#include "ra_query.h"
#include "ra_store.h"

#define TEST_TOKEN_KEY "fuzz-token-key"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_apr_init();
    return 0;
}

/* apr_dbd's placeholders in generated SQL: %s and %lld, nothing else. */
static int placeholders(const char *sql)
{
    int n = 0;
    for (const char *p = sql; (p = strchr(p, '%')) != NULL; n++) {
        FUZZ_EXPECT(!strncmp(p, "%s", 2) || !strncmp(p, "%lld", 4));
        p += p[1] == 's' ? 2 : 4;
    }
    return n;
}

static void check_sql(const ra_sql_t *sql)
{
    FUZZ_EXPECT(placeholders(sql->text) == sql->params->nelts);
    FUZZ_EXPECT(strstr(sql->text, "WHERE tenant_id = %s") != NULL);
}

/* The order is total: every key once, the id among them (the tie-breaker,
 * last unless the client's $orderby names it earlier: `id,displayName` is as
 * total as `displayName,id`). */
static void check_total_order(const ra_query_t *query)
{
    int ids = 0;
    unsigned seen = 0;
    for (int i = 0; i < query->order_count; i++) {
        FUZZ_EXPECT(!(seen & RA_PROP_BIT(query->order[i].prop)));
        seen |= RA_PROP_BIT(query->order[i].prop);
        ids += query->order[i].prop == RA_PROP_ID;
    }
    FUZZ_EXPECT(ids == 1);
    FUZZ_EXPECT(query->order[query->order_count - 1].prop == RA_PROP_ID
                || query->orderby_text != NULL);
}

/* A row with text in every property: its keys make a $skiptoken that the
 * same query must take back. */
static void check_skiptoken(apr_pool_t *pool, ra_version_e version, const ra_query_t *query)
{
    static const ra_partner_t row = { { "id-1", "name", "https://x.example/", "onboarding",
                                        "2024-01-01T00:00:00Z", RA_ENTITY_DATETIME_UNSET },
                                      "etag", 0 };
    /* an audit event's values, by ra_audit_prop_e */
    static const char *const event[RA_AUDIT_PROP_COUNT] = {
        "6f0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", "2024-01-01T00:00:00.0000000Z",
        "RemoteAssistance", "Create RemoteAssistancePartner", "Create",
        "5D0B6C1E-3F2A-4E8B-9C47-1A2B3C4D5E6F" };
    ra_key_value_t keys[RA_PROP_COUNT];
    ra_query_t next;
    const char *message;

    ra_sql_key_values(query, query->set == RA_ENTITY_SET_AUDIT ? event : row.values, keys);
    const char *token = ra_query_skiptoken(pool, query, keys, TEST_TOKEN_KEY);
    FUZZ_EXPECT(strlen(token) <= RA_QUERY_TOKEN_MAX);
    const char *next_args = ra_query_next_args(pool, query, token);
    FUZZ_EXPECT(ra_query_parse_set(pool, query->set, version, RA_QUERY_LIST, next_args, &next,
                                   &message));
    FUZZ_EXPECT(next.after_set && next.order_count == query->order_count);
    FUZZ_EXPECT(ra_query_skiptoken_verify(&next, TEST_TOKEN_KEY));
    FUZZ_EXPECT(!ra_query_skiptoken_verify(&next, "another key"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ra_query_target_e targets[] = { RA_QUERY_LIST, RA_QUERY_COUNT,
                                                 RA_QUERY_ENTITY, RA_QUERY_SERVICE,
                                                 RA_QUERY_NONE };
    apr_pool_t *pool;
    ra_query_t query;
    const char *message;

    FUZZ_EXPECT(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    /* a query string never holds a NUL: httpd's r->args ends at the first */
    const char *args = apr_pstrndup(pool, (const char *)data, size);
    for (int set = RA_ENTITY_SET_PARTNERS; set <= RA_ENTITY_SET_AUDIT; set++) {
        for (ra_version_e version = RA_VERSION_V1; version <= RA_VERSION_BETA; version++) {
            for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
                if (!ra_query_parse_set(pool, (ra_entity_set_e)set, version, targets[t], args,
                                        &query, &message)) {
                    FUZZ_EXPECT(message != NULL);
                    continue;
                }
                check_total_order(&query);
                FUZZ_EXPECT(!query.format || query.metadata <= RA_JW_METADATA_FULL);
                /* a $skiptoken from the input is not one this key made */
                FUZZ_EXPECT(!query.after_set
                            || !ra_query_skiptoken_verify(&query, TEST_TOKEN_KEY));
                for (ra_dialect_e d = RA_DIALECT_SQLITE; d <= RA_DIALECT_PGSQL; d++) {
                    check_sql(ra_sql_list(pool, d, "tenant", &query, 101, query.skip));
                    check_sql(ra_sql_count(pool, d, query.set, "tenant", query.filter));
                }
                if (targets[t] == RA_QUERY_LIST) {
                    check_skiptoken(pool, version, &query);
                }
            }
        }
    }
    apr_pool_destroy(pool);
    return 0;
}
