/* What one throttling charge costs, and why the table's lock is an atomic
 * spin lock in the segment rather than a global mutex (ra_throttle.h).
 *
 *   throttle_lock [PROCESSES [CHARGES]]
 *
 * PROCESSES processes (default 2, as httpd's children) share one table in
 * anonymous shared memory, as the module's children do, and each charges
 * CHARGES (default 1,000,000) requests of 50 tenants, each with 2
 * applications, limits never reached. Runs: the table as built (its
 * in-segment lock), then the same with every charge also inside an
 * apr_global_mutex of each mechanism httpd's Mutex directive offers on
 * Linux (what a mutex around the table would add; the inner lock is then
 * never contended). Prints
 * one JSON line per run: nanoseconds a charge, wall time over all charges
 * of all processes. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_global_mutex.h>
#include <apr_strings.h>

#include "ra_throttle.h"

#define TENANTS 50

static void charge_all(ra_throttle_t *t, const ra_throttle_limits_t *l, long charges,
                       apr_global_mutex_t *mutex, int seed)
{
    char tenant[16], app[16];
    for (long i = 0; i < charges; i++) {
        snprintf(tenant, sizeof(tenant), "t%ld", (i + seed) % TENANTS);
        snprintf(app, sizeof(app), "a%ld", (i / TENANTS) % 2);
        if (mutex) {
            apr_global_mutex_lock(mutex);
        }
        if (!ra_throttle_charge(t, l, tenant, app, RA_THROTTLE_READ, apr_time_now()).allowed) {
            fprintf(stderr, "throttle_lock: a charge was refused\n");
            _exit(1);
        }
        if (mutex) {
            apr_global_mutex_unlock(mutex);
        }
    }
}

static double run(int processes, long charges, apr_global_mutex_t *mutex, apr_pool_t *pool)
{
    apr_size_t size = ra_throttle_size(1000);
    void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ra_throttle_limits_t l;
    ra_throttle_rate_t unreached = { 100000000, 1 };
    apr_time_t start;

    if (memory == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    ra_throttle_t *t = ra_throttle_init(memory, 1000);
    l.tenant[0] = l.tenant[1] = l.app[0] = l.app[1] = l.failed_auth = unreached;
    start = apr_time_now();
    for (int p = 0; p < processes; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            if (mutex && apr_global_mutex_child_init(&mutex, NULL, pool) != APR_SUCCESS) {
                _exit(1);
            }
            charge_all(t, &l, charges, mutex, p * 7);
            _exit(0);
        }
    }
    for (int p = 0; p < processes; p++) {
        int status;
        wait(&status);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "throttle_lock: a process failed\n");
            exit(1);
        }
    }
    double ns = (double)(apr_time_now() - start) * 1000.0 / ((double)charges * processes);
    munmap(memory, size);
    return ns;
}

int main(int argc, char **argv)
{
    int processes = argc > 1 ? atoi(argv[1]) : 2;
    long charges = argc > 2 ? atol(argv[2]) : 1000000;
    apr_pool_t *pool;
    apr_global_mutex_t *mutex;

    if (processes < 1 || charges < 1 || apr_initialize() != APR_SUCCESS
        || apr_pool_create(&pool, NULL) != APR_SUCCESS) {
        fprintf(stderr, "usage: throttle_lock [PROCESSES [CHARGES]]\n");
        return 2;
    }
    printf("{\"lock\": \"in-segment spin lock\", \"processes\": %d, \"ns_per_charge\": %.0f}\n",
           processes, run(processes, charges, NULL, pool));
    /* httpd's Mutex directive picks among these (file: is fcntl) */
    static const apr_lockmech_e mechs[] = { APR_LOCK_PROC_PTHREAD, APR_LOCK_SYSVSEM,
                                            APR_LOCK_FCNTL };
    for (size_t m = 0; m < sizeof(mechs) / sizeof(mechs[0]); m++) {
        if (apr_global_mutex_create(&mutex, apr_psprintf(pool, "/tmp/throttle_lock.%d",
                                                         getpid()), mechs[m], pool)
            != APR_SUCCESS) {
            fprintf(stderr, "throttle_lock: no global mutex of mechanism %d\n", (int)mechs[m]);
            return 1;
        }
        printf("{\"lock\": \"apr_global_mutex (%s) around it\", \"processes\": %d, "
               "\"ns_per_charge\": %.0f}\n", apr_global_mutex_name(mutex), processes,
               run(processes, charges, mutex, pool));
        apr_global_mutex_destroy(mutex);
    }
    apr_terminate();
    return 0;
}
