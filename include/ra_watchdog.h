/* A client-side bound on blocking socket I/O that the module does not drive
 * itself: apr_dbd_pgsql runs every statement through libpq's blocking calls,
 * which wait in poll() with no timeout. A PostgreSQL server that stops
 * answering without closing its sockets (a frozen VM, a SIGSTOPped
 * postmaster, a synchronous standby that is gone so every COMMIT waits)
 * would hold the calling thread for ever: statement_timeout runs in the
 * server (a frozen one runs nothing) and is switched off before a commit
 * waits for replication, and TCP keepalives are answered by the kernel of a
 * merely stopped process. So a thread arms a watch on the socket before the
 * call; if the call has not returned by the deadline, the process's watchdog
 * thread shuts the socket down (shutdown(2) wakes a poll() blocked on it in
 * another thread, close(2) would not), libpq sees the connection closed and
 * the call returns an error. The connection is then broken, and mod_dbd's
 * next check (apr_dbd_check_conn: PQreset) opens it again.
 * One watchdog per process, started after the fork (child_init); with none
 * started a watch is never armed and nothing is bounded. Pure APR and POSIX,
 * no httpd: the unit tests drive it with a socketpair. */
#ifndef RA_WATCHDOG_H
#define RA_WATCHDOG_H

#include <apr_pools.h>
#include <apr_time.h>

/* One armed bound; lives in its owner's memory (one per connection). */
typedef struct ra_watch {
    int fd;
    apr_time_t deadline;
    int armed;               /* the watchdog's list holds it */
    int fired;               /* its socket was shut down */
    struct ra_watch *prev, *next;
} ra_watch_t;

/* Starts this process's watchdog thread, stopped and joined when pool is
 * destroyed. A second call while one runs does nothing. */
apr_status_t ra_watchdog_start(apr_pool_t *pool);

/* Whether a watchdog runs in this process. */
int ra_watchdog_running(void);

/* Arms watch: unless disarmed first, fd is shut down (both ways) at
 * deadline. A no-op without a running watchdog. */
void ra_watch_arm(ra_watch_t *watch, int fd, apr_time_t deadline);

/* Disarms watch; 1 when it fired (the socket was shut down), else 0. */
int ra_watch_disarm(ra_watch_t *watch);

#endif
