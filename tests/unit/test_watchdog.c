/* ra_watchdog: a blocked read on a socket ends at its watch's deadline, and
 * a watch disarmed in time leaves the socket alone. */
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ra_watchdog.h"
#include "suites.h"

static int pair[2];

static void sockets_setup(void)
{
    pool_setup();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    ck_assert_int_eq(ra_watchdog_start(pool), APR_SUCCESS);
}

static void sockets_teardown(void)
{
    close(pair[0]);
    close(pair[1]);
    pool_teardown(); /* stops the watchdog */
    ck_assert(!ra_watchdog_running());
}

/* What libpq does while it waits for an answer: poll() with no timeout. */
START_TEST(a_blocked_wait_ends_at_the_deadline)
{
    ra_watch_t watch;
    struct pollfd p = { pair[0], POLLIN, 0 };
    char byte;
    apr_time_t start = apr_time_now();

    ra_watch_arm(&watch, pair[0], start + apr_time_from_msec(150));
    ck_assert_int_eq(poll(&p, 1, 10000), 1);
    apr_interval_time_t waited = apr_time_now() - start;
    ck_assert_int_eq(read(pair[0], &byte, 1), 0); /* shut: end of file */
    ck_assert_int_eq(ra_watch_disarm(&watch), 1);
    ck_assert_int_ge(waited, apr_time_from_msec(150));
    ck_assert_int_lt(waited, apr_time_from_msec(2000));
}
END_TEST

START_TEST(a_watch_disarmed_in_time_leaves_the_socket_alone)
{
    ra_watch_t early, late;
    char byte = 'x';

    /* the later watch is armed first, so the earlier one must wake the
     * thread, which was sleeping towards the later deadline */
    ra_watch_arm(&late, pair[0], apr_time_now() + apr_time_from_sec(60));
    ra_watch_arm(&early, pair[1], apr_time_now() + apr_time_from_msec(100));
    ck_assert_int_eq(ra_watch_disarm(&late), 0);
    apr_sleep(apr_time_from_msec(400));
    ck_assert_int_eq(ra_watch_disarm(&early), 1);
    /* pair[1] is shut, pair[0] (disarmed in time) still reads what is left */
    ck_assert_int_eq(send(pair[1], &byte, 1, MSG_NOSIGNAL), -1);
    ra_watch_arm(&late, pair[0], apr_time_now() + apr_time_from_sec(60));
    ck_assert_int_eq(ra_watch_disarm(&late), 0);
    ck_assert_int_eq(read(pair[0], &byte, 1), 0);
}
END_TEST

START_TEST(without_a_watchdog_nothing_is_armed)
{
    ra_watch_t watch;
    apr_pool_t *p;
    ck_assert_int_eq(apr_pool_create(&p, NULL), APR_SUCCESS);
    ck_assert_int_eq(ra_watchdog_start(p), APR_SUCCESS); /* the fixture's runs: a no-op */
    apr_pool_destroy(p);
    ck_assert(ra_watchdog_running());
    apr_pool_destroy(pool); /* the fixture's watchdog stops */
    ck_assert_int_eq(apr_pool_create(&pool, NULL), APR_SUCCESS);
    ra_watch_arm(&watch, pair[0], apr_time_now());
    apr_sleep(apr_time_from_msec(50));
    ck_assert_int_eq(ra_watch_disarm(&watch), 0);
}
END_TEST

Suite *watchdog_suite(void)
{
    Suite *s = suite_create("watchdog");
    TCase *tc = tcase_create("watchdog");
    tcase_add_checked_fixture(tc, sockets_setup, sockets_teardown);
    tcase_add_test(tc, a_blocked_wait_ends_at_the_deadline);
    tcase_add_test(tc, a_watch_disarmed_in_time_leaves_the_socket_alone);
    tcase_add_test(tc, without_a_watchdog_nothing_is_armed);
    suite_add_tcase(s, tc);
    return s;
}
