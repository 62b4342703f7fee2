/* ra_sql: the SQL of lists and counts generated from parsed queries, in
 * both dialects, with their parameters. */
#include <string.h>

#include <apr_escape.h>
#include <apr_strings.h>

#include "ra_sql.h"
#include "store_fixture.h"

/* apr_dbd driver names, exactly as DBDriver and apr_dbd_name() spell them. */
START_TEST(dialect_of_driver_names)
{
    static const struct {
        const char *driver;
        ra_dialect_e dialect;
    } cases[] = {
        { "sqlite3", RA_DIALECT_SQLITE },
        { "pgsql", RA_DIALECT_PGSQL },
        { "mysql", RA_DIALECT_UNSUPPORTED },
        { "odbc", RA_DIALECT_UNSUPPORTED },
        { "sqlite2", RA_DIALECT_UNSUPPORTED },
        { "SQLITE3", RA_DIALECT_UNSUPPORTED },
        { "sqlite", RA_DIALECT_UNSUPPORTED },
        { "pgsql ", RA_DIALECT_UNSUPPORTED },
        { "", RA_DIALECT_UNSUPPORTED },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ck_assert_msg(ra_dbd_dialect(cases[i].driver) == cases[i].dialect, "'%s': %d",
                      cases[i].driver, (int)ra_dbd_dialect(cases[i].driver));
    }
}
END_TEST

/* The parameters as text: 'text', numbers, null. */
static const char *params_of(const ra_sql_t *sql)
{
    const char *out = "";
    for (int i = 0; i < sql->params->nelts; i++) {
        const ra_sql_param_t *p = &APR_ARRAY_IDX(sql->params, i, ra_sql_param_t);
        out = apr_pstrcat(pool, out, i ? "," : "",
                          p->is_number ? apr_psprintf(pool, "%" APR_INT64_T_FMT, p->number)
                          : p->text ? apr_pstrcat(pool, "'", p->text, "'", NULL) : "null",
                          NULL);
    }
    return out;
}

/* onboardingStatus sorts and compares by member value */
#define STATUS_KEY "(CASE onboarding_status WHEN 'notOnboarded' THEN 0 WHEN 'onboarding' " \
    "THEN 1 WHEN 'onboarded' THEN 2 END)"
#define COUNT_SQL "SELECT COUNT(*) FROM remote_assistance_partners WHERE tenant_id = %s AND "

/* Filters as SQL: whitelisted columns, placeholders, two-valued logic for
 * nullable columns, each dialect's string functions. */
START_TEST(filter_sql)
{
    static const struct {
        const char *filter;
        const char *sqlite, *sqlite_params;
        const char *pgsql, *pgsql_params;  /* NULL: as SQLite */
    } cases[] = {
        { "displayName eq 'x'", "(display_name IS NOT NULL AND display_name = %s)", "'t','x'",
          NULL, NULL },
        { "displayName ne 'x'", "(display_name IS NULL OR display_name <> %s)", "'t','x'",
          NULL, NULL },
        { "displayName gt 'x'", "(display_name IS NOT NULL AND display_name > %s)", "'t','x'",
          NULL, NULL },
        { "'x' ge onboardingUrl", "(onboarding_url IS NOT NULL AND onboarding_url <= %s)",
          "'t','x'", NULL, NULL },
        { "displayName eq null", "(display_name IS NULL)", "'t'", NULL, NULL },
        { "displayName ne null", "(display_name IS NOT NULL)", "'t'", NULL, NULL },
        { "id ge 'a'", "(id >= %s)", "'t','a'", NULL, NULL },
        { "id lt 'a'", "(id < %s)", "'t','a'", NULL, NULL },
        /* the enum compares by member value */
        { "onboardingStatus eq 'onboarded'", "(" STATUS_KEY " = %lld)", "'t',2", NULL, NULL },
        { "onboardingStatus lt 'onboarding'", "(" STATUS_KEY " < %lld)", "'t',1", NULL, NULL },
        { "'notOnboarded' lt onboardingStatus", "(" STATUS_KEY " > %lld)", "'t',0", NULL,
          NULL },
        { "onboardingStatus in ('onboarded','notOnboarded')",
          "((" STATUS_KEY " = %lld) OR (" STATUS_KEY " = %lld))", "'t',2,0", NULL, NULL },
        { "onboardingStatus eq null", "(onboarding_status IS NULL)", "'t'", NULL, NULL },
        /* DateTimeOffsets compare by instant */
        { "lastConnectionDateTime le 1970-01-01T01:00:00+01:00",
          "(last_connection_ticks <= %lld)", "'t',621355968000000000", NULL, NULL },
        { "onboardingRequestExpiryDateTime ne 0001-01-01T00:00:00Z",
          "(onboarding_request_expiry_ticks <> %lld)", "'t',0", NULL, NULL },
        { "lastConnectionDateTime eq null", "(1 = 0)", "'t'", NULL, NULL },
        { "lastConnectionDateTime ne null", "(1 = 1)", "'t'", NULL, NULL },
        { "startswith(displayName,'ab')",
          "(display_name IS NOT NULL AND substr(display_name, 1, length(%s)) = %s)",
          "'t','ab','ab'", NULL, NULL },
        { "endswith(onboardingUrl,'/')",
          "(onboarding_url IS NOT NULL AND (length(%s) = 0 OR "
          "substr(onboarding_url, -length(%s)) = %s))", "'t','/','/','/'",
          "(onboarding_url IS NOT NULL AND right(onboarding_url, length(%s)) = %s)",
          "'t','/','/'" },
        { "contains(id,'x')", "(id IS NOT NULL AND instr(id, %s) > 0)", "'t','x'",
          "(id IS NOT NULL AND strpos(id, %s) > 0)", NULL },
        { "not (id eq 'a' or id eq 'b') and contains(displayName,'c')",
          "((NOT ((id = %s) OR (id = %s))) AND (display_name IS NOT NULL AND "
          "instr(display_name, %s) > 0))", "'t','a','b','c'",
          "((NOT ((id = %s) OR (id = %s))) AND (display_name IS NOT NULL AND "
          "strpos(display_name, %s) > 0))", NULL },
        /* a literal is never SQL text */
        { "displayName eq '''; DROP TABLE remote_assistance_partners; --'",
          "(display_name IS NOT NULL AND display_name = %s)",
          "'t',''; DROP TABLE remote_assistance_partners; --'", NULL, NULL },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_query_t q;
        const char *message;
        ck_assert_msg(ra_query_parse(pool, RA_VERSION_BETA, RA_QUERY_COUNT,
                                     apr_pstrcat(pool, "$filter=",
                                                 apr_pescape_urlencoded(pool, cases[i].filter),
                                                 NULL), &q,
                                     &message), "%s: %s", cases[i].filter, message);
        ra_sql_t *sqlite = ra_sql_count(pool, RA_DIALECT_SQLITE, "t", q.filter);
        ra_sql_t *pgsql = ra_sql_count(pool, RA_DIALECT_PGSQL, "t", q.filter);
        ck_assert_str_eq(sqlite->text, apr_pstrcat(pool, COUNT_SQL, cases[i].sqlite, NULL));
        ck_assert_str_eq(params_of(sqlite), cases[i].sqlite_params);
        ck_assert_str_eq(pgsql->text, apr_pstrcat(pool, COUNT_SQL, cases[i].pgsql
                                                  ? cases[i].pgsql : cases[i].sqlite, NULL));
        ck_assert_str_eq(params_of(pgsql), cases[i].pgsql_params ? cases[i].pgsql_params
                                                                 : cases[i].sqlite_params);
    }
    ck_assert_str_eq(ra_sql_count(pool, RA_DIALECT_SQLITE, "t", NULL)->text,
                     "SELECT COUNT(*) FROM remote_assistance_partners WHERE tenant_id = %s");
}
END_TEST

#define LIST_SQL "SELECT " SELECTED " FROM remote_assistance_partners WHERE tenant_id = %s"

/* Order, limit, offset and the keyset predicate after a $skiptoken. */
START_TEST(list_sql)
{
    static const struct {
        const char *args;
        ra_key_value_t after[3];  /* for a $skiptoken; .text "-": none */
        apr_int64_t limit, offset;
        const char *sql, *params;
    } cases[] = {
        { NULL, { { "-", 0 } }, 26, 0, LIST_SQL " ORDER BY id ASC LIMIT %lld", "'t',26" },
        { "$orderby=displayName desc,lastConnectionDateTime&$filter=id ne 'x'",
          { { "-", 0 } }, 5, 10,
          LIST_SQL " AND (id <> %s) ORDER BY display_name DESC NULLS LAST, "
          "last_connection_ticks ASC, id ASC LIMIT %lld OFFSET %lld", "'t','x',5,10" },
        { "$orderby=onboardingUrl,onboardingStatus desc,id desc", { { "-", 0 } }, 1, 0,
          LIST_SQL " ORDER BY onboarding_url ASC NULLS FIRST, " STATUS_KEY " DESC, "
          "id DESC LIMIT %lld", "'t',1" },
        { NULL, { { "p-5", 0 } }, 3, 0,
          LIST_SQL " AND (((id > %s))) ORDER BY id ASC LIMIT %lld", "'t','p-5',3" },
        { "$orderby=displayName", { { "m", 0 }, { "p-5", 0 } }, 3, 0,
          LIST_SQL " AND (((display_name > %s)) OR (display_name = %s AND (id > %s))) "
          "ORDER BY display_name ASC NULLS FIRST, id ASC LIMIT %lld", "'t','m','m','p-5',3" },
        /* the enum continues after its member's value */
        { "$orderby=onboardingStatus", { { "onboarding", 0 }, { "p-5", 0 } }, 3, 0,
          LIST_SQL " AND (((" STATUS_KEY " > %lld)) OR (" STATUS_KEY " = %lld AND (id > %s))) "
          "ORDER BY " STATUS_KEY " ASC, id ASC LIMIT %lld", "'t',1,1,'p-5',3" },
        /* null sorts first ascending: every non-null comes after it */
        { "$orderby=displayName", { { NULL, 0 }, { "p-5", 0 } }, 3, 0,
          LIST_SQL " AND ((display_name IS NOT NULL) OR (display_name IS NULL AND (id > %s))) "
          "ORDER BY display_name ASC NULLS FIRST, id ASC LIMIT %lld", "'t','p-5',3" },
        /* and last descending: after a value come the smaller ones and nulls */
        { "$orderby=displayName desc", { { "m", 0 }, { "p-5", 0 } }, 3, 0,
          LIST_SQL " AND (((display_name < %s OR display_name IS NULL)) OR "
          "(display_name = %s AND (id > %s))) ORDER BY display_name DESC NULLS LAST, id ASC "
          "LIMIT %lld", "'t','m','m','p-5',3" },
        { "$orderby=displayName desc", { { NULL, 0 }, { "p-5", 0 } }, 3, 0,
          LIST_SQL " AND ((1 = 0) OR (display_name IS NULL AND (id > %s))) "
          "ORDER BY display_name DESC NULLS LAST, id ASC LIMIT %lld", "'t','p-5',3" },
        { "$orderby=lastConnectionDateTime desc&$filter=id ne 'x'",
          { { NULL, 42 }, { "p-5", 0 } }, 3, 2,
          LIST_SQL " AND (id <> %s) AND (((last_connection_ticks < %lld)) OR "
          "(last_connection_ticks = %lld AND (id > %s))) ORDER BY last_connection_ticks DESC, "
          "id ASC LIMIT %lld OFFSET %lld", "'t','x',42,42,'p-5',3,2" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_query_t q;
        parse(RA_VERSION_BETA, cases[i].args, &q);
        if (!cases[i].after[0].text || strcmp(cases[i].after[0].text, "-")) {
            const char *token = ra_query_skiptoken(pool, &q, cases[i].after);
            parse(RA_VERSION_BETA, apr_pstrcat(pool, cases[i].args ? cases[i].args : "",
                                               "&$skiptoken=", token, NULL), &q);
        }
        static const ra_dialect_e dialects[] = { RA_DIALECT_SQLITE, RA_DIALECT_PGSQL };
        for (size_t d = 0; d < COUNT_OF(dialects); d++) {
            ra_sql_t *sql = ra_sql_list(pool, dialects[d], "t", &q, cases[i].limit,
                                        cases[i].offset);
            ck_assert_str_eq(sql->text, cases[i].sql);
            ck_assert_str_eq(params_of(sql), cases[i].params);
        }
    }
}
END_TEST

Suite *sql_suite(void)
{
    Suite *s = suite_create("sql");
    TCase *tc = pool_tcase(s, "dialects");
    tcase_add_test(tc, dialect_of_driver_names);

    tc = pool_tcase(s, "generated_sql");
    tcase_add_test(tc, filter_sql);
    tcase_add_test(tc, list_sql);
    return s;
}
