/* Group commit across processes: one queue of creates in shared memory for
 * every child of a server that writes one SQLite database, so that
 * concurrent creates share a commit however the MPM spreads connections
 * over children (prefork included). SQLite has one writer per database:
 * batching per child (ra_commit.h) splits what could be one commit into as
 * many as there are children with a create waiting.
 *
 * Each create copies its row into a free slot of the segment and waits on
 * it. Whichever waiting thread of any child takes the writer lock (the
 * cross-process mutex SQLite writers already share) commits: its own row
 * and every other row queued, up to max_batch, with one statement
 * (ra_store_insert_batch) and one commit, writes each row's outcome into
 * its slot and wakes its thread (a futex on the slot). It then lets the
 * lock go and wakes one thread whose row is still queued, which commits the
 * next batch. No thread waits for a timer to form a batch.
 *
 * The segment's one locking rule: a slot changes hands by atomic
 * compare-and-swap of its state word (state and owner's pid together), and
 * only these moves exist:
 *   FREE -> FILLING      a create claiming the slot (any process)
 *   FILLING -> READY     its owner, once the row is in
 *   READY -> CLAIMED     the holder of the writer lock, taking it for a batch
 *   CLAIMED -> DONE      the holder of the writer lock, once the outcome is in
 *   READY -> DONE        the same, for its own row when it got no connection
 *   DONE -> FREE         the owner, having read the outcome
 *   READY -> FREE        the owner, taking its row back when the writer
 *                        lock failed (it commits the row on its own)
 *   FILLING, READY, DONE -> FREE  anyone, for an owner that is dead (kill -9)
 * The row and the outcome are plain bytes published by the state store
 * (release) and read after the state load (acquire). As the lock holder
 * keeps the lock until every row it claimed is DONE, a holder that finds a
 * row CLAIMED knows its committer died (kill -9, at any point of the batch):
 * it commits it again. A row the dead committer did commit is then found
 * taken with its own ETag, which ra_store_insert_batch reports as created;
 * one it did not commit was rolled back by SQLite and is inserted now. So
 * no answer is lost with its committer, and a thread whose committer died
 * is answered by the next one: waits are slices of RA_COMMIT_SHARED_SLICE,
 * after each of which the waiter tries the lock itself (a lock whose holder
 * died is free again: fcntl, flock, SysV semaphores and APR's robust
 * process-shared pthread mutexes all let go).
 *
 * No httpd here: the unit tests drive it with threads and with forked
 * processes, killing the committing one mid-batch. */
#ifndef RA_COMMIT_SHARED_H
#define RA_COMMIT_SHARED_H

#include <apr_pools.h>
#include <apr_time.h>

#include "ra_commit.h"
#include "ra_store.h"

/* The bytes of a row a slot holds (tenant, properties, ETag): a create
 * whose row is larger commits on its own. Graph's properties are short: a
 * partner with a 1,000-character display name and URL fits. */
#define RA_COMMIT_SHARED_ROW_BYTES 3072

/* How long a waiter sleeps before it looks for a committer that died. */
#define RA_COMMIT_SHARED_SLICE apr_time_from_msec(50)

typedef struct ra_commit_shared ra_commit_shared_t;

/* How a create reaches the database when it commits for everyone: the
 * writer lock (try only: a thread that cannot have it waits for its row),
 * and a connection for its request, asked for once by a thread that won the
 * lock, after it gave the lock back (never with the lock held: see
 * ra_commit_shared_submit). */
typedef struct {
    /* 1: this thread holds the writer lock; 0: another holds it; -1: the
     * lock failed (neither), so no thread may count on it any more */
    int (*trylock)(void *baton);
    void (*unlock)(void *baton);
    int (*connect)(void *baton, ra_store_conn_t *conn, const char **error);
    void *baton;
} ra_commit_shared_access_t;

/* Bytes of a segment with slots slots (>= 1). */
apr_size_t ra_commit_shared_size(int slots);

/* Lays a new queue out in segment (ra_commit_shared_size(slots) bytes,
 * shared by every process that uses it: made before they fork) and returns
 * this process's handle on it, allocated from pool, committing at most
 * max_batch rows a transaction. Processes forked afterwards use the same
 * handle. */
ra_commit_shared_t *ra_commit_shared_create(apr_pool_t *pool, void *segment, int slots,
                                            int max_batch);

/* Queues item's row and returns 1 once its outcome is in item (as
 * ra_commit_submit: RA_STORE_DONE only once committed), maybe after
 * committing a batch for everyone with access; pool is the caller's
 * request's. Returns 0, having queued nothing, when the row does not fit a
 * slot or every slot is taken, or when the writer lock failed before
 * another thread claimed the row: the caller commits it on its own. */
int ra_commit_shared_submit(ra_commit_shared_t *queue, ra_commit_item_t *item,
                            const ra_commit_shared_access_t *access, apr_pool_t *pool);

/* Wakes one thread whose row is queued, so that it takes the writer lock:
 * for other writers (an update, a delete) after they let the lock go. */
void ra_commit_shared_nudge(ra_commit_shared_t *queue);

/* Batches committed so far through this segment, by every process, and the
 * rows they held; rows committed again after their committer died count
 * twice. */
void ra_commit_shared_stats(ra_commit_shared_t *queue, apr_uint64_t *batches,
                            apr_uint64_t *rows);

#endif
