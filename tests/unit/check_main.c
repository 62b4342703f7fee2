/* Runs every unit test suite; exits non-zero when any test fails.
 * Set CK_FORK=no to run in one process (e.g. under a debugger). */
#include <stdlib.h>

#include <apr_general.h>

#include "suites.h"

apr_pool_t *pool;

void pool_setup(void)
{
    ck_assert_int_eq(apr_pool_create(&pool, NULL), APR_SUCCESS);
}

void pool_teardown(void)
{
    apr_pool_destroy(pool);
    pool = NULL;
}

TCase *pool_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    suite_add_tcase(s, tc);
    return tc;
}

TCase *slow_fixture_tcase(Suite *s, const char *name, SFun setup, SFun teardown)
{
    TCase *tc = pool_tcase(s, name);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    return tc;
}

int main(void)
{
    int failed;
    SRunner *sr;

    if (apr_initialize() != APR_SUCCESS) {
        return EXIT_FAILURE;
    }
    atexit(apr_terminate);

    sr = srunner_create(jose_suite());
    srunner_add_suite(sr, token_suite());
    srunner_add_suite(sr, url_keys_suite());
    srunner_add_suite(sr, entity_suite());
    srunner_add_suite(sr, route_suite());
    srunner_add_suite(sr, query_suite());
    srunner_add_suite(sr, odata_suite());
    srunner_add_suite(sr, schema_suite());
    srunner_add_suite(sr, store_suite());
    srunner_add_suite(sr, sql_suite());
    srunner_add_suite(sr, metrics_suite());
    srunner_add_suite(sr, json_writer_suite());
    srunner_add_suite(sr, csdl_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
