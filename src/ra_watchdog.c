/* The process's watchdog over blocking socket calls (ra_watchdog.h). */
#include "ra_watchdog.h"

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

/* POSIX threads, not APR's: an APR thread has a pool of its own under the
 * one it is created in, and prefork gives its child pool an allocator
 * without a mutex (the child has one thread), which the thread's pool
 * would share. This thread allocates nothing. */
typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;       /* on CLOCK_MONOTONIC */
    pthread_t thread;
    ra_watch_t *head;          /* armed watches, unordered: a child has a few dozen */
    apr_time_t waiting_until;  /* the deadline the thread sleeps towards; 0: none */
    int stop;
} watchdog_t;

/* Set after the thread started, cleared when it stops; read by every
 * statement of the process, written only by the start and its cleanup. */
static watchdog_t *watchdog;

static void unlink_watch(watchdog_t *w, ra_watch_t *watch)
{
    if (watch->prev) {
        watch->prev->next = watch->next;
    }
    else {
        w->head = watch->next;
    }
    if (watch->next) {
        watch->next->prev = watch->prev;
    }
    watch->prev = watch->next = NULL;
    watch->armed = 0;
}

/* Deadlines are apr_time_now() values (the wall clock, as the callers
 * compute them); the wait itself runs on the monotonic clock, for the
 * interval left. */
static void wait_until(watchdog_t *w, apr_time_t now, apr_time_t next)
{
    struct timespec at;
    apr_interval_time_t left = next - now;

    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_sec += (time_t)apr_time_sec(left);
    at.tv_nsec += (long)apr_time_usec(left) * 1000;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w->cond, &w->mutex, &at);
}

static void *run(void *data)
{
    watchdog_t *w = data;

    pthread_mutex_lock(&w->mutex);
    while (!w->stop) {
        apr_time_t now = apr_time_now(), next = 0;
        for (ra_watch_t *watch = w->head, *after; watch; watch = after) {
            after = watch->next;
            if (watch->deadline <= now) {
                shutdown(watch->fd, SHUT_RDWR);
                watch->fired = 1;
                unlink_watch(w, watch);
            }
            else if (!next || watch->deadline < next) {
                next = watch->deadline;
            }
        }
        w->waiting_until = next;
        if (next) {
            wait_until(w, now, next);
        }
        else {
            pthread_cond_wait(&w->cond, &w->mutex);
        }
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

static apr_status_t stop(void *data)
{
    watchdog_t *w = data;

    __atomic_store_n(&watchdog, NULL, __ATOMIC_RELEASE);
    pthread_mutex_lock(&w->mutex);
    w->stop = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mutex);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mutex);
    return APR_SUCCESS;
}

apr_status_t ra_watchdog_start(apr_pool_t *pool)
{
    watchdog_t *w;
    pthread_condattr_t attr;
    int rv;

    if (ra_watchdog_running()) {
        return APR_SUCCESS;
    }
    w = apr_pcalloc(pool, sizeof(*w));
    if ((rv = pthread_mutex_init(&w->mutex, NULL))) {
        return rv;
    }
    if ((rv = pthread_condattr_init(&attr))
        || (rv = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC))
        || (rv = pthread_cond_init(&w->cond, &attr))) {
        pthread_mutex_destroy(&w->mutex);
        return rv;
    }
    pthread_condattr_destroy(&attr);
    if ((rv = pthread_create(&w->thread, NULL, run, w))) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mutex);
        return rv;
    }
    /* a pre-cleanup: the thread stops before anything of the pool goes */
    apr_pool_pre_cleanup_register(pool, w, stop);
    __atomic_store_n(&watchdog, w, __ATOMIC_RELEASE);
    return APR_SUCCESS;
}

int ra_watchdog_running(void)
{
    return __atomic_load_n(&watchdog, __ATOMIC_ACQUIRE) != NULL;
}

void ra_watch_arm(ra_watch_t *watch, int fd, apr_time_t deadline)
{
    watchdog_t *w = __atomic_load_n(&watchdog, __ATOMIC_ACQUIRE);

    watch->fired = 0;
    watch->armed = 0;
    if (!w || fd < 0) {
        return;
    }
    pthread_mutex_lock(&w->mutex);
    watch->fd = fd;
    watch->deadline = deadline;
    watch->prev = NULL;
    watch->next = w->head;
    if (w->head) {
        w->head->prev = watch;
    }
    w->head = watch;
    watch->armed = 1;
    /* the thread need only wake when this comes before what it sleeps
     * towards: with one bound for all, a new watch almost never does */
    if (!w->waiting_until || deadline < w->waiting_until) {
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->mutex);
}

int ra_watch_disarm(ra_watch_t *watch)
{
    watchdog_t *w = __atomic_load_n(&watchdog, __ATOMIC_ACQUIRE);
    int fired;

    if (!w) {
        return 0;
    }
    pthread_mutex_lock(&w->mutex);
    if (watch->armed) {
        unlink_watch(w, watch);
    }
    fired = watch->fired;
    pthread_mutex_unlock(&w->mutex);
    return fired;
}
