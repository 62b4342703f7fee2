/* Group commit for creates, inside one httpd child. Databases have long
 * beaten the one-fsync-per-transaction rate by committing many transactions
 * at once; this does the same one level up. Concurrent creates join a queue;
 * one of their threads leads: it takes the database (a pooled connection and,
 * on SQLite, the cross-child writer lock), inserts every queued row with one
 * statement (ra_store_insert_batch), committed once, and wakes each waiting
 * thread with its own row's outcome. While a batch commits, the next one
 * fills; batches form on their own, with no artificial delay. Pure logic
 * over APR threads (no httpd), so the unit tests drive it with real threads
 * and a real SQLite file. */
#ifndef RA_COMMIT_H
#define RA_COMMIT_H

#include <apr_pools.h>

#include "ra_store.h"

typedef struct ra_commit_queue ra_commit_queue_t;

/* One create waiting to be committed; its outcome is filled in. */
typedef struct ra_commit_item {
    ra_store_row_t row;
    ra_store_result_e result;
    char error[256];              /* RA_STORE_FAILED: why */
    int batch_size;               /* rows in the transaction that held it */
    int reports_batch;            /* 1 for one row of each batch: its thread
                                   * counts the batch in the metrics */
    int recommitted;              /* with reports_batch, shared queue only: rows
                                   * of the batch whose committer had died
                                   * (ra_commit_shared.h) */
    struct ra_commit_item *next;  /* the queue's */
    struct apr_thread_cond_t *wake; /* the queue's: this item's thread waits on it */
    int done;                     /* the queue's */
} ra_commit_item_t;

/* How the thread that leads a batch reaches the database: acquire() gets a
 * connection (and any lock writers need) for its request, release() lets the
 * lock go. The connection stays the leader's request's. */
typedef struct {
    int (*acquire)(void *baton, ra_store_conn_t *conn, const char **error);
    void (*release)(void *baton);
    void *baton;
} ra_commit_access_t;

/* A queue whose batches hold at most max_batch rows (>= 1). */
apr_status_t ra_commit_queue_create(apr_pool_t *pool, int max_batch,
                                    ra_commit_queue_t **queue);

/* Queues item and returns once its row is committed (RA_STORE_DONE), found
 * taken (RA_STORE_CONFLICT) or failed (RA_STORE_FAILED, nothing written):
 * maybe after leading a batch with access and pool. pool is the caller's
 * (its request's): the item's wait is allocated there. */
void ra_commit_submit(ra_commit_queue_t *queue, ra_commit_item_t *item,
                      const ra_commit_access_t *access, apr_pool_t *pool);

/* Batches committed so far and the rows they held, for the debug log and
 * the benchmark. */
void ra_commit_stats(ra_commit_queue_t *queue, apr_uint64_t *batches, apr_uint64_t *rows);

#endif
