/* Group commit: a queue of creates, led by one of their threads at a time. */
#include "ra_commit.h"

#include <string.h>

#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

struct ra_commit_queue {
    apr_thread_mutex_t *mutex;
    ra_commit_item_t *head, *tail;  /* waiting, not yet in a batch */
    int leading;                    /* a batch is being committed */
    int max_batch;
    apr_uint64_t batches, rows;
};

apr_status_t ra_commit_queue_create(apr_pool_t *pool, int max_batch,
                                    ra_commit_queue_t **queue)
{
    ra_commit_queue_t *q = apr_pcalloc(pool, sizeof(*q));
    apr_status_t rv = apr_thread_mutex_create(&q->mutex, APR_THREAD_MUTEX_DEFAULT, pool);

    q->max_batch = max_batch > 0 ? max_batch : 1;
    *queue = rv == APR_SUCCESS ? q : NULL;
    return rv;
}

/* Takes up to max_batch waiting items, oldest first: the next batch. */
static ra_commit_item_t *take_batch(ra_commit_queue_t *q, int *n)
{
    ra_commit_item_t *first = q->head, *last = first;

    for (*n = 1; *n < q->max_batch && last->next; (*n)++) {
        last = last->next;
    }
    q->head = last->next;
    if (!q->head) {
        q->tail = NULL;
    }
    last->next = NULL;
    return first;
}

/* The leader's part, outside the queue's lock: one statement for the batch
 * on the leader's connection. Errors are copied into each item, as
 * they live in the leader's pool and the items outlive its request. */
static void commit_batch(ra_commit_item_t *batch, int n, const ra_commit_access_t *access,
                         apr_pool_t *pool)
{
    const ra_store_row_t **rows = apr_palloc(pool, sizeof(*rows) * (size_t)n);
    ra_store_result_e *results = apr_palloc(pool, sizeof(*results) * (size_t)n);
    const char **errors = apr_pcalloc(pool, sizeof(*errors) * (size_t)n);
    ra_store_conn_t conn;
    const char *error = NULL;
    ra_commit_item_t *item;
    int i;

    for (item = batch, i = 0; item; item = item->next, i++) {
        rows[i] = &item->row;
    }
    if (access->acquire(access->baton, &conn, &error)) {
        ra_store_insert_batch(pool, &conn, rows, n, results, errors);
        access->release(access->baton);
    }
    else {
        for (i = 0; i < n; i++) {
            results[i] = RA_STORE_FAILED;
            errors[i] = error;
        }
    }
    for (item = batch, i = 0; item; item = item->next, i++) {
        item->result = results[i];
        item->batch_size = n;
        item->reports_batch = i == 0;
        apr_cpystrn(item->error, errors[i] ? errors[i] : "", sizeof(item->error));
    }
}

/* Each waiting thread has a condition of its own, so that a batch's end
 * wakes exactly its rows' threads, and the first waiting one to lead the
 * next: waking every waiter to find most with nothing to do cost more CPU in
 * context switches than the creates themselves. */
void ra_commit_submit(ra_commit_queue_t *q, ra_commit_item_t *item,
                      const ra_commit_access_t *access, apr_pool_t *pool)
{
    item->next = NULL;
    item->done = 0;
    if (apr_thread_cond_create(&item->wake, pool) != APR_SUCCESS) {
        item->result = RA_STORE_FAILED;
        apr_cpystrn(item->error, "cannot wait for a group commit", sizeof(item->error));
        item->batch_size = 0;
        return;
    }
    apr_thread_mutex_lock(q->mutex);
    if (q->tail) {
        q->tail->next = item;
    }
    else {
        q->head = item;
    }
    q->tail = item;
    while (!item->done) {
        if (q->leading) {
            apr_thread_cond_wait(item->wake, q->mutex);
            continue;
        }
        /* no batch is committing: this thread leads the next one, which
         * holds its own item unless more than a batch was waiting */
        int n;
        ra_commit_item_t *batch = take_batch(q, &n);
        q->leading = 1;
        apr_thread_mutex_unlock(q->mutex);
        commit_batch(batch, n, access, pool);
        apr_thread_mutex_lock(q->mutex);
        for (ra_commit_item_t *done = batch, *next; done; done = next) {
            next = done->next; /* done's thread may return once woken */
            done->done = 1;
            if (done != item) {
                apr_thread_cond_signal(done->wake);
            }
        }
        q->batches++;
        q->rows += (apr_uint64_t)n;
        q->leading = 0;
        if (q->head) {
            apr_thread_cond_signal(q->head->wake); /* the next leader */
        }
    }
    apr_thread_mutex_unlock(q->mutex);
}

void ra_commit_stats(ra_commit_queue_t *q, apr_uint64_t *batches, apr_uint64_t *rows)
{
    apr_thread_mutex_lock(q->mutex);
    *batches = q->batches;
    *rows = q->rows;
    apr_thread_mutex_unlock(q->mutex);
}
