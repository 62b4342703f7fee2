/* The Check suites of the unit tests, one per unit under src/. */
#ifndef RA_UNIT_SUITES_H
#define RA_UNIT_SUITES_H

#include <apr_pools.h>
#include <check.h>

/* A fresh pool for each test (a checked fixture), shared by the suites. */
extern apr_pool_t *pool;
void pool_setup(void);
void pool_teardown(void);

/* A test case of s whose tests each get that pool. */
TCase *pool_tcase(Suite *s, const char *name);

/* The same, with an unchecked fixture run once for the whole case (keys that
 * take seconds to generate) and a timeout that allows for it. */
TCase *slow_fixture_tcase(Suite *s, const char *name, SFun setup, SFun teardown);

Suite *jose_suite(void);
Suite *token_suite(void);
Suite *url_keys_suite(void);
Suite *entity_suite(void);
Suite *route_suite(void);
Suite *query_suite(void);
Suite *odata_suite(void);
Suite *schema_suite(void);
Suite *store_suite(void);
Suite *sql_suite(void);
Suite *metrics_suite(void);
Suite *json_writer_suite(void);
Suite *csdl_suite(void);

#endif
