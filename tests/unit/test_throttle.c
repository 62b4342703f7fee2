/* ra_throttle: the bucket arithmetic (bursts, refill, whole-second
 * Retry-After), the tenant and application buckets charged together, the
 * failed-authentication budget, the table when full (evicting the idlest,
 * probe chains intact), a kept table, threads sharing one table (run under
 * TSan by build/tsan/unit_tests) and a lock whose holder died. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_strings.h>

#include "ra_throttle.h"
#include "suites.h"

#define NOW apr_time_from_sec(1700000000)
#define T1 "11111111-1111-4111-8111-111111111111"
#define T2 "22222222-2222-4222-8222-222222222222"
#define APP_A "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define APP_B "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"

static ra_throttle_t *table(int entries)
{
    return ra_throttle_init(apr_palloc(pool, ra_throttle_size(entries)), entries);
}

/* Every limit n per window seconds; failed authentications likewise. */
static ra_throttle_limits_t limits_of(int n, int window)
{
    ra_throttle_limits_t l;
    ra_throttle_rate_t r = { n, window };
    l.tenant[0] = l.tenant[1] = l.app[0] = l.app[1] = l.failed_auth = r;
    return l;
}

/* How many of n charges at now are allowed. */
static int allowed(ra_throttle_t *t, const ra_throttle_limits_t *l, const char *tenant,
                   const char *app, ra_throttle_access_e access, int n, apr_time_t now)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        ok += ra_throttle_charge(t, l, tenant, app, access, now).allowed;
    }
    return ok;
}

START_TEST(test_defaults_are_intunes)
{
    ra_throttle_limits_t l;
    ra_throttle_default_limits(&l);
    for (int a = 0; a < 2; a++) {
        ck_assert_int_eq(l.app[a].limit, 2000);
        ck_assert_int_eq(l.app[a].window, 20);
        ck_assert_int_eq(l.tenant[a].limit, 4000);
        ck_assert_int_eq(l.tenant[a].window, 20);
    }
}
END_TEST

typedef struct {
    int limit, window;      /* the app's rate (the tenant's is unlimited) */
    int burst;              /* requests at one instant */
    int ok;                 /* allowed of them */
    int retry_after;        /* the first refusal's */
} burst_case_t;

static const burst_case_t bursts[] = {
    { 10, 20, 15, 10, 2 },      /* a token every 2 s */
    { 3, 10, 5, 3, 4 },         /* every 3.33 s: rounded up */
    { 2000, 20, 2100, 2000, 1 },/* Intune's: every 10 ms, said as 1 s */
    { 1, 3600, 3, 1, 3600 },
};

START_TEST(test_burst)
{
    const burst_case_t *c = &bursts[_i];
    ra_throttle_t *t = table(64);
    ra_throttle_limits_t l = limits_of(0, 1);
    ra_throttle_verdict_t v;
    l.app[RA_THROTTLE_READ] = (ra_throttle_rate_t){ c->limit, c->window };

    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_READ, c->burst, NOW), c->ok);
    v = ra_throttle_charge(t, &l, T1, APP_A, RA_THROTTLE_READ, NOW);
    ck_assert(!v.allowed);
    ck_assert_int_eq(v.refused_by, RA_THROTTLE_KEY_APP);
    ck_assert_int_eq(v.retry_after, c->retry_after);
    /* just before Retry-After may still be refused; at it, one is back */
    v = ra_throttle_charge(t, &l, T1, APP_A, RA_THROTTLE_READ,
                           NOW + apr_time_from_sec(c->retry_after));
    ck_assert(v.allowed);
}
END_TEST

START_TEST(test_refill_is_exact_and_capped)
{
    ra_throttle_t *t = table(64);
    ra_throttle_limits_t l = limits_of(10, 20); /* 0.5 a second */

    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_WRITE, 10, NOW), 10);
    /* 9.999 s: 4 tokens and a bit; 10 s: 5 */
    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_WRITE, 10,
                             NOW + apr_time_from_msec(9999)), 4);
    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_WRITE, 10,
                             NOW + apr_time_from_msec(10001)), 1);
    /* idle for an hour: full, never more */
    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_WRITE, 20,
                             NOW + apr_time_from_sec(3600)), 10);
    /* a clock that went back refills nothing and breaks nothing */
    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_WRITE, 2, NOW), 0);
}
END_TEST

START_TEST(test_reads_and_writes_apart)
{
    ra_throttle_t *t = table(64);
    ra_throttle_limits_t l = limits_of(5, 20);
    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_WRITE, 8, NOW), 5);
    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_READ, 8, NOW), 5);
}
END_TEST

START_TEST(test_tenant_and_app)
{
    ra_throttle_t *t = table(64);
    ra_throttle_limits_t l = limits_of(0, 1);
    ra_throttle_verdict_t v;
    l.tenant[RA_THROTTLE_READ] = (ra_throttle_rate_t){ 6, 20 };
    l.app[RA_THROTTLE_READ] = (ra_throttle_rate_t){ 4, 20 };

    /* app A stops at its own limit; B gets what is left of the tenant's */
    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_READ, 10, NOW), 4);
    ck_assert_int_eq(allowed(t, &l, T1, APP_B, RA_THROTTLE_READ, 10, NOW), 2);
    v = ra_throttle_charge(t, &l, T1, APP_B, RA_THROTTLE_READ, NOW);
    ck_assert_int_eq(v.refused_by, RA_THROTTLE_KEY_TENANT);
    /* A's refusals did not spend the tenant's tokens: both or neither */
    ck_assert_int_eq(allowed(t, &l, T1, NULL, RA_THROTTLE_READ, 1, NOW), 0);
    /* another tenant, the same application: untouched */
    ck_assert_int_eq(allowed(t, &l, T2, APP_A, RA_THROTTLE_READ, 10, NOW), 4);
    /* no application claim: the tenant's bucket alone */
    ck_assert_int_eq(allowed(t, &l, T2, "", RA_THROTTLE_READ, 10, NOW), 2);
}
END_TEST

START_TEST(test_both_empty_says_the_longer_wait)
{
    ra_throttle_t *t = table(64);
    ra_throttle_limits_t l = limits_of(0, 1);
    ra_throttle_verdict_t v;
    l.tenant[RA_THROTTLE_READ] = (ra_throttle_rate_t){ 2, 60 };  /* 30 s a token */
    l.app[RA_THROTTLE_READ] = (ra_throttle_rate_t){ 2, 10 };     /* 5 s */
    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_READ, 2, NOW), 2);
    v = ra_throttle_charge(t, &l, T1, APP_A, RA_THROTTLE_READ, NOW);
    ck_assert_int_eq(v.refused_by, RA_THROTTLE_KEY_TENANT);
    ck_assert_int_eq(v.retry_after, 30);
}
END_TEST

START_TEST(test_unlimited)
{
    ra_throttle_t *t = table(16);
    ra_throttle_limits_t l = limits_of(0, 1);
    ck_assert_int_eq(allowed(t, &l, T1, APP_A, RA_THROTTLE_WRITE, 1000, NOW), 1000);
    ck_assert(ra_throttle_address_check(t, &l, "192.0.2.1", NOW).allowed);
    ra_throttle_address_failed(t, &l, "192.0.2.1", NOW);
    ck_assert_int_eq(ra_throttle_used(t), 2); /* no address entry */
}
END_TEST

START_TEST(test_failed_authentications)
{
    ra_throttle_t *t = table(16);
    ra_throttle_limits_t l = limits_of(3, 30);
    ra_throttle_verdict_t v;

    /* checking charges nothing and makes no entry */
    for (int i = 0; i < 10; i++) {
        ck_assert(ra_throttle_address_check(t, &l, "192.0.2.1", NOW).allowed);
    }
    ck_assert_int_eq(ra_throttle_used(t), 0);
    for (int i = 0; i < 3; i++) {
        ra_throttle_address_failed(t, &l, "192.0.2.1", NOW);
    }
    v = ra_throttle_address_check(t, &l, "192.0.2.1", NOW);
    ck_assert(!v.allowed);
    ck_assert_int_eq(v.refused_by, RA_THROTTLE_KEY_ADDRESS);
    ck_assert_int_eq(v.retry_after, 10);
    /* more failures (requests that passed the check together) stay at empty */
    ra_throttle_address_failed(t, &l, "192.0.2.1", NOW);
    ck_assert(ra_throttle_address_check(t, &l, "192.0.2.1", NOW + apr_time_from_sec(10))
                  .allowed);
    ck_assert(ra_throttle_address_check(t, &l, "2001:db8::1", NOW).allowed);
    /* an address is not a tenant: the same text is another key */
    ck_assert_int_eq(allowed(t, &l, "192.0.2.1", NULL, RA_THROTTLE_READ, 3, NOW), 3);
}
END_TEST

START_TEST(test_full_table_evicts_the_idlest)
{
    ra_throttle_t *t = table(16);
    ra_throttle_limits_t l = limits_of(1, 3600);
    char tenant[32];

    for (int i = 0; i < 16; i++) { /* tenant i drained at NOW + i s */
        ck_assert_int_eq(allowed(t, &l, apr_itoa(pool, i), NULL, RA_THROTTLE_READ, 1,
                                 NOW + apr_time_from_sec(i)), 1);
    }
    ck_assert_int_eq(ra_throttle_used(t), 16);
    ck_assert_int_eq(ra_throttle_evictions(t), 0);
    /* a 17th tenant is served, at the cost of the idlest (tenant 0) */
    ck_assert_int_eq(allowed(t, &l, "new", NULL, RA_THROTTLE_READ, 1, NOW + apr_time_from_sec(20)),
                     1);
    ck_assert_int_eq(ra_throttle_used(t), 16);
    ck_assert_int_eq(ra_throttle_evictions(t), 1);
    /* the rest are still drained; tenant 0 starts over with a full bucket
     * (evicting tenant 1 in turn) */
    for (int i = 2; i < 16; i++) {
        apr_snprintf(tenant, sizeof(tenant), "%d", i);
        ck_assert_int_eq(allowed(t, &l, tenant, NULL, RA_THROTTLE_READ, 1,
                                 NOW + apr_time_from_sec(21)), 0);
    }
    ck_assert_int_eq(allowed(t, &l, "0", NULL, RA_THROTTLE_READ, 1, NOW + apr_time_from_sec(22)),
                     1);
    ck_assert_int_eq(ra_throttle_evictions(t), 2);
}
END_TEST

/* Many keys through a small table: whatever was just charged is found again
 * (the backward shift never breaks a probe chain), and the count holds. */
START_TEST(test_churn_keeps_chains)
{
    ra_throttle_t *t = table(16);
    ra_throttle_limits_t l = limits_of(1, 3600);
    unsigned seed = 7;
    apr_time_t now = NOW;

    for (int i = 0; i < 20000; i++) {
        char tenant[16], app[16];
        apr_snprintf(tenant, sizeof(tenant), "t%d", rand_r(&seed) % 40);
        apr_snprintf(app, sizeof(app), "a%d", rand_r(&seed) % 3);
        now += 1 + rand_r(&seed) % 1000;
        ra_throttle_charge(t, &l, tenant, app, RA_THROTTLE_READ, now);
        /* drained just now, so refused: the entries were found again */
        ck_assert(!ra_throttle_charge(t, &l, tenant, app, RA_THROTTLE_READ, now).allowed);
        ck_assert_int_le(ra_throttle_used(t), 16);
    }
    ck_assert_int_eq(ra_throttle_used(t), 16);
}
END_TEST

START_TEST(test_long_keys)
{
    ra_throttle_t *t = table(16);
    ra_throttle_limits_t l = limits_of(1, 3600);
    char a[200], b[200];
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[150] = 'y'; /* differs only past the stored bytes */
    ck_assert_int_eq(allowed(t, &l, a, NULL, RA_THROTTLE_READ, 2, NOW), 1);
    ck_assert_int_eq(allowed(t, &l, b, NULL, RA_THROTTLE_READ, 2, NOW), 1);
    ck_assert_int_eq(allowed(t, &l, T1, a, RA_THROTTLE_READ, 2, NOW), 1);
    ck_assert_int_eq(allowed(t, &l, T1, b, RA_THROTTLE_READ, 2, NOW), 0); /* T1 spent */
}
END_TEST

START_TEST(test_attach)
{
    apr_size_t size = ra_throttle_size(32);
    void *memory = apr_palloc(pool, size);
    ra_throttle_limits_t l = limits_of(1, 3600);
    ra_throttle_t *t = ra_throttle_init(memory, 32);

    ck_assert_int_eq(allowed(t, &l, T1, NULL, RA_THROTTLE_READ, 1, NOW), 1);
    /* kept over a restart: the same buckets */
    ck_assert_ptr_eq(ra_throttle_attach(memory, size, 32), t);
    ck_assert_int_eq(allowed(t, &l, T1, NULL, RA_THROTTLE_READ, 1, NOW), 0);
    /* another size, or memory that never held a table: none */
    ck_assert_ptr_null(ra_throttle_attach(memory, size, 16));
    ck_assert_ptr_null(ra_throttle_attach(memory, size - 1, 32));
    ck_assert_ptr_null(ra_throttle_attach(apr_pcalloc(pool, size), size, 32));
}
END_TEST

START_TEST(test_lowered_limit_applies_at_once)
{
    ra_throttle_t *t = table(16);
    ra_throttle_limits_t high = limits_of(100, 20), low = limits_of(2, 20);
    ck_assert_int_eq(allowed(t, &high, T1, NULL, RA_THROTTLE_READ, 1, NOW), 1);
    ck_assert_int_eq(allowed(t, &low, T1, NULL, RA_THROTTLE_READ, 5, NOW), 2);
}
END_TEST

/* ------------------------------------------------------------ threads */

typedef struct {
    ra_throttle_t *t;
    const ra_throttle_limits_t *l;
    int ok;
} worker_t;

#define PER_THREAD 20000

static void *charge_many(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        w->ok += ra_throttle_charge(w->t, w->l, T1, i % 2 ? APP_A : APP_B, RA_THROTTLE_WRITE,
                                    NOW).allowed;
    }
    return NULL;
}

START_TEST(test_threads_share_exactly)
{
    ra_throttle_t *t = table(16);
    ra_throttle_limits_t l = limits_of(0, 1);
    worker_t w[4];
    pthread_t th[4];
    int total = 0;
    l.tenant[RA_THROTTLE_WRITE] = (ra_throttle_rate_t){ 30000, 3600 };

    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){ t, &l, 0 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, charge_many, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += w[i].ok;
    }
    ck_assert_int_eq(total, 30000); /* not one token lost or spent twice */
}
END_TEST

START_TEST(test_dead_holder_is_overtaken)
{
    /* shared as the segment is between children */
    apr_size_t size = ra_throttle_size(16);
    void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(memory, MAP_FAILED);
    ra_throttle_t *t = ra_throttle_init(memory, 16);
    ra_throttle_limits_t l = limits_of(5, 20);
    pid_t child = fork();
    if (child == 0) {
        ra_throttle_lock(t); /* and dies holding it */
        _exit(0);
    }
    ck_assert_int_gt(child, 0);
    waitpid(child, NULL, 0);
    ck_assert_int_eq(allowed(t, &l, T1, NULL, RA_THROTTLE_READ, 1, NOW), 1);
    munmap(memory, size);
}
END_TEST

Suite *throttle_suite(void)
{
    Suite *s = suite_create("throttle");
    TCase *tc = pool_tcase(s, "buckets");
    tcase_add_test(tc, test_defaults_are_intunes);
    tcase_add_loop_test(tc, test_burst, 0, (int)(sizeof(bursts) / sizeof(bursts[0])));
    tcase_add_test(tc, test_refill_is_exact_and_capped);
    tcase_add_test(tc, test_reads_and_writes_apart);
    tcase_add_test(tc, test_tenant_and_app);
    tcase_add_test(tc, test_both_empty_says_the_longer_wait);
    tcase_add_test(tc, test_unlimited);
    tcase_add_test(tc, test_failed_authentications);
    tcase_add_test(tc, test_lowered_limit_applies_at_once);
    tc = pool_tcase(s, "table");
    tcase_add_test(tc, test_full_table_evicts_the_idlest);
    tcase_add_test(tc, test_churn_keeps_chains);
    tcase_add_test(tc, test_long_keys);
    tcase_add_test(tc, test_attach);
    tc = pool_tcase(s, "sharing");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_threads_share_exactly);
    tcase_add_test(tc, test_dead_holder_is_overtaken);
    return s;
}
