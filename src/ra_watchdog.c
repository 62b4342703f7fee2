/* The process's watchdog over blocking socket calls (ra_watchdog.h). */
#include "ra_watchdog.h"

#include <sys/socket.h>

#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

typedef struct {
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;
    apr_thread_t *thread;
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

static void *APR_THREAD_FUNC run(apr_thread_t *thread, void *data)
{
    watchdog_t *w = data;

    apr_thread_mutex_lock(w->mutex);
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
            apr_thread_cond_timedwait(w->cond, w->mutex, next - now);
        }
        else {
            apr_thread_cond_wait(w->cond, w->mutex);
        }
    }
    apr_thread_mutex_unlock(w->mutex);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

static apr_status_t stop(void *data)
{
    watchdog_t *w = data;
    apr_status_t rv;

    apr_thread_mutex_lock(w->mutex);
    w->stop = 1;
    apr_thread_cond_signal(w->cond);
    apr_thread_mutex_unlock(w->mutex);
    apr_thread_join(&rv, w->thread);
    __atomic_store_n(&watchdog, NULL, __ATOMIC_RELEASE);
    return APR_SUCCESS;
}

apr_status_t ra_watchdog_start(apr_pool_t *pool)
{
    watchdog_t *w;
    apr_status_t rv;

    if (ra_watchdog_running()) {
        return APR_SUCCESS;
    }
    w = apr_pcalloc(pool, sizeof(*w));
    if ((rv = apr_thread_mutex_create(&w->mutex, APR_THREAD_MUTEX_DEFAULT, pool))
        || (rv = apr_thread_cond_create(&w->cond, pool))
        || (rv = apr_thread_create(&w->thread, NULL, run, w, pool))) {
        return rv;
    }
    /* a pre-cleanup: it runs before the pool destroys its subpools (the
     * thread's own among them) and the mutex and condition */
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
    apr_thread_mutex_lock(w->mutex);
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
        apr_thread_cond_signal(w->cond);
    }
    apr_thread_mutex_unlock(w->mutex);
}

int ra_watch_disarm(ra_watch_t *watch)
{
    watchdog_t *w = __atomic_load_n(&watchdog, __ATOMIC_ACQUIRE);
    int fired;

    if (!w) {
        return 0;
    }
    apr_thread_mutex_lock(w->mutex);
    if (watch->armed) {
        unlink_watch(w, watch);
    }
    fired = watch->fired;
    apr_thread_mutex_unlock(w->mutex);
    return fired;
}
