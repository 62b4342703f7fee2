/* ra_commit_shared: the group-commit queue in shared memory, with a real
 * SQLite file, driven by the threads of one process and by forked
 * processes (as httpd's children share it), and with the committing
 * process killed (SIGKILL) in the middle of its batch, before and after its
 * commit is durable. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_proc_mutex.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include <sqlite3.h>

#include "ra_commit_shared.h"
#include "store_fixture.h"

/* What the processes of a test share besides the queue. */
typedef struct {
    int holding;              /* hold_lock's process holds the lock */
    int connected;            /* members with their connection set up */
    int commits;              /* commits seen by die(): the first kills its process */
    int kill_at;              /* KILL_*: where the first committer dies */
    int results[8][8];        /* [member][row]: ra_store_result_e, or -1 */
    int batch_sizes[8][8];
    int recommitted;          /* rows reported committed again */
} shared_t;

enum { KILL_NONE, KILL_BEFORE_COMMIT, KILL_AFTER_COMMIT };

typedef struct {
    ra_commit_shared_t *queue;
    ra_store_conn_t conn;
    apr_pool_t *pool;
    apr_thread_mutex_t *thread_lock;  /* threads: the writer lock */
    apr_proc_mutex_t *proc_lock;      /* processes: the writer lock */
    shared_t *shared;
    int n, rows;
    ra_commit_item_t items[64];
} member_t;

static int thread_trylock(void *baton)
{
    return apr_thread_mutex_trylock(((member_t *)baton)->thread_lock) == APR_SUCCESS;
}

static void thread_unlock(void *baton)
{
    apr_thread_mutex_unlock(((member_t *)baton)->thread_lock);
}

static int proc_trylock(void *baton)
{
    return apr_proc_mutex_trylock(((member_t *)baton)->proc_lock) == APR_SUCCESS;
}

static void proc_unlock(void *baton)
{
    apr_proc_mutex_unlock(((member_t *)baton)->proc_lock);
}

/* SQLite's hook on every member's connection (arg: the shared state): the
 * first commit of any of them kills its process, the others go on. */
static int die(void *arg)
{
    shared_t *shared = arg;
    if (__atomic_fetch_add(&shared->commits, 1, __ATOMIC_SEQ_CST) == 0) {
        raise(SIGKILL);
    }
    return 0;
}

static int die_after(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db, (void)name, (void)pages;
    return die(arg);
}

/* The member's connection (asked for before the member first tries the
 * lock); in a kill test every member's is armed, and the first batch
 * committed by any of them kills its committer (die): in SQLite's commit
 * (nothing of the batch is durable) or right after it (all of it is, and
 * nobody was told). */
static int member_connect(void *baton, ra_store_conn_t *conn, const char **error)
{
    member_t *m = baton;
    (void)error;
    *conn = m->conn;
    if (m->shared) {
        sqlite3 *db = apr_dbd_native_handle(driver, m->conn.handle);
        if (m->shared->kill_at == KILL_BEFORE_COMMIT) {
            sqlite3_commit_hook(db, die, m->shared);
        }
        else if (m->shared->kill_at == KILL_AFTER_COMMIT) {
            sqlite3_wal_hook(db, die_after, m->shared);
        }
    }
    return 1;
}

static void submit_all(member_t *m)
{
    ra_commit_shared_access_t access = { m->thread_lock ? thread_trylock : proc_trylock,
                                         m->thread_lock ? thread_unlock : proc_unlock,
                                         member_connect, m };
    for (int i = 0; i < m->rows; i++) {
        ck_assert_int_eq(ra_commit_shared_submit(m->queue, &m->items[i], &access, m->pool), 1);
        if (m->shared) {
            m->shared->results[m->n][i] = m->items[i].result;
            m->shared->batch_sizes[m->n][i] = m->items[i].batch_size;
            __atomic_add_fetch(&m->shared->recommitted, m->items[i].recommitted,
                               __ATOMIC_SEQ_CST);
        }
    }
}

static void *APR_THREAD_FUNC work(apr_thread_t *thread, void *data)
{
    (void)thread;
    submit_all(data);
    return NULL;
}

/* Rows of tenant T1 for members; every fifth id is the same for all of
 * them when twins. */
static void fill(member_t *members, int n, int rows, int twins)
{
    for (int w = 0; w < n; w++) {
        members[w].n = w;
        members[w].rows = rows;
        for (int i = 0; i < rows; i++) {
            const char *id = twins && i % 5 == 0 ? apr_psprintf(pool, "shared-%d", i)
                                                 : apr_psprintf(pool, "m%d-%d", w, i);
            memset(&members[w].items[i], 0, sizeof(members[w].items[i]));
            members[w].items[i].row = *row_of(pool, T1, id, "x");
        }
    }
}

/* A member's connection, set up in mod_dbd's post_connect order
 * (ra_startup_dbd_post_connect): the busy timeout before any statement is
 * prepared. Forked members open the database at once, and the first to
 * read a WAL database whose wal-index is new rebuilds it: without a busy
 * handler, a prepare beside it fails at once with "database is locked". */
static ra_store_conn_t member_conn(void)
{
    apr_dbd_t *handle = open_db();
    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, handle));
    return make_conn(handle, 1);
}

static ra_commit_shared_t *new_queue(int slots, int max_batch)
{
    apr_shm_t *shm;
    ck_assert_int_eq(apr_shm_create(&shm, ra_commit_shared_size(slots), NULL, pool),
                     APR_SUCCESS);
    return ra_commit_shared_create(pool, apr_shm_baseaddr_get(shm), slots, max_batch);
}

/* Each item's outcome against the table: created means its own row is
 * there, taken means another's is. Returns the rows created. */
static int check_outcomes(apr_dbd_t *h, member_t *members, int n)
{
    int done = 0;
    for (int w = 0; w < n; w++) {
        for (int i = 0; i < members[w].rows; i++) {
            const ra_commit_item_t *item = &members[w].items[i];
            const char *etag = column(h, T1, item->row.partner->values[RA_PROP_ID], "etag");
            ck_assert_msg(item->result == RA_STORE_DONE || item->result == RA_STORE_CONFLICT,
                          "%s: %d %s", item->row.partner->values[RA_PROP_ID], item->result,
                          item->error);
            ck_assert_ptr_nonnull(etag);
            ck_assert_int_eq(!strcmp(etag, item->row.partner->etag),
                             item->result == RA_STORE_DONE);
            ck_assert_int_ge(item->batch_size, 1);
            done += item->result == RA_STORE_DONE;
        }
    }
    return done;
}

#define THREADS 16
#define PER_THREAD 40

/* The threads of one process, each with its own connection: rows share
 * transactions, each keeps its own outcome. */
START_TEST(threads_share_transactions)
{
    static member_t members[THREADS];
    apr_thread_t *threads[THREADS];
    apr_thread_mutex_t *lock;
    apr_uint64_t batches, rows;

    setup_db();
    ra_commit_shared_t *queue = new_queue(2 * THREADS, 64);
    ck_assert_int_eq(apr_thread_mutex_create(&lock, APR_THREAD_MUTEX_DEFAULT, pool),
                     APR_SUCCESS);
    fill(members, THREADS, PER_THREAD, 1);
    for (int w = 0; w < THREADS; w++) {
        members[w].queue = queue;
        members[w].thread_lock = lock;
        members[w].conn = member_conn();
        ck_assert_int_eq(apr_pool_create(&members[w].pool, pool), APR_SUCCESS);
    }
    for (int w = 0; w < THREADS; w++) {
        ck_assert_int_eq(apr_thread_create(&threads[w], NULL, work, &members[w], pool),
                         APR_SUCCESS);
    }
    for (int w = 0; w < THREADS; w++) {
        apr_status_t rv;
        apr_thread_join(&rv, threads[w]);
    }
    apr_dbd_t *h = open_db();
    int done = check_outcomes(h, members, THREADS);
    ck_assert_int_eq(done, THREADS * PER_THREAD * 4 / 5 + PER_THREAD / 5);
    ck_assert_str_eq(row_count(h), apr_itoa(pool, done));
    ra_commit_shared_stats(queue, &batches, &rows);
    ck_assert_uint_eq(rows, THREADS * PER_THREAD);
    ck_assert_msg(batches < rows, "no transaction held more than one row");
    close_db(h);
}
END_TEST

/* Processes forked from the test, as httpd's children: members[0..n-1],
 * each its own connection, submitting its rows after start is set. The
 * writer lock is a process-shared mutex of APR's default kind (httpd's
 * too). Returns how each ended, by wait status. */
#define MEMBERS 4

static shared_t *new_shared(void)
{
    apr_shm_t *shm;
    ck_assert_int_eq(apr_shm_create(&shm, sizeof(shared_t), NULL, pool), APR_SUCCESS);
    shared_t *shared = apr_shm_baseaddr_get(shm);
    memset(shared, 0, sizeof(*shared));
    memset(shared->results, -1, sizeof(shared->results));
    return shared;
}

static void fork_members(member_t *members, int n, pid_t *pids)
{
    for (int w = 0; w < n; w++) {
        pids[w] = fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] == 0) {
            members[w].conn = member_conn();
            if (members[w].shared) {
                __atomic_add_fetch(&members[w].shared->connected, 1, __ATOMIC_SEQ_CST);
            }
            apr_pool_create(&members[w].pool, pool);
            submit_all(&members[w]);
            _exit(0);
        }
    }
}

/* Waits for every member, 20 s at most (a waiter left hanging fails):
 * how many were killed. */
static int wait_members(pid_t *pids, int n)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(20);
    int killed = 0, left = n;
    while (left) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0) {
            if (apr_time_now() > deadline) {
                for (int w = 0; w < n; w++) {
                    kill(pids[w], SIGKILL);
                }
                ck_abort_msg("a member still waits after 20 s");
            }
            apr_sleep(apr_time_from_msec(10));
            continue;
        }
        ck_assert_int_gt(pid, 0);
        left--;
        if (WIFSIGNALED(status)) {
            ck_assert_int_eq(WTERMSIG(status), SIGKILL);
            killed++;
        }
        else {
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "member failed");
        }
    }
    return killed;
}

/* Holds lock in a process of its own until the MEMBERS members have set
 * up their connections (10 s at most), then 500 ms more while they queue
 * their first rows: once it is free, one member commits them all. Counted,
 * not timed from the fork: under the sanitizers and a loaded machine,
 * forking, opening and preparing alone can take longer than the fixed
 * wait. Not the test's own process: ThreadSanitizer takes a mutex locked
 * before fork() as still held in every child. */
static pid_t hold_lock(apr_proc_mutex_t *lock, shared_t *shared)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        apr_proc_mutex_lock(lock);
        __atomic_store_n(&shared->holding, 1, __ATOMIC_SEQ_CST);
        apr_time_t deadline = apr_time_now() + apr_time_from_sec(10);
        while (__atomic_load_n(&shared->connected, __ATOMIC_SEQ_CST) < MEMBERS
               && apr_time_now() < deadline) {
            apr_sleep(apr_time_from_msec(5));
        }
        apr_sleep(apr_time_from_msec(500));
        apr_proc_mutex_unlock(lock);
        _exit(0);
    }
    while (!__atomic_load_n(&shared->holding, __ATOMIC_SEQ_CST)) {
        apr_sleep(apr_time_from_msec(1));
    }
    return pid;
}

static void start_members(member_t *members, int n, int rows, shared_t *shared,
                          ra_commit_shared_t *queue, apr_proc_mutex_t *lock)
{
    fill(members, n, rows, 0);
    for (int w = 0; w < n; w++) {
        members[w].queue = queue;
        members[w].proc_lock = lock;
        members[w].shared = shared;
    }
}

/* The processes' first rows wait while the lock is held elsewhere; once it
 * is free, one process commits them in one transaction. */
START_TEST(processes_share_transactions)
{
    static member_t members[MEMBERS];
    pid_t pids[MEMBERS + 1];
    apr_proc_mutex_t *lock;
    apr_uint64_t batches, rows;

    setup_db();
    shared_t *shared = new_shared();
    ra_commit_shared_t *queue = new_queue(2 * MEMBERS, 64);
    ck_assert_int_eq(apr_proc_mutex_create(&lock, NULL, APR_LOCK_DEFAULT, pool), APR_SUCCESS);
    start_members(members, MEMBERS, 5, shared, queue, lock);
    pids[MEMBERS] = hold_lock(lock, shared);
    fork_members(members, MEMBERS, pids);
    ck_assert_int_eq(wait_members(pids, MEMBERS + 1), 0);

    apr_dbd_t *h = open_db();
    int largest = 0;
    for (int w = 0; w < MEMBERS; w++) {
        for (int i = 0; i < 5; i++) {
            members[w].items[i].result = shared->results[w][i];
            members[w].items[i].batch_size = shared->batch_sizes[w][i];
            largest = shared->batch_sizes[w][i] > largest ? shared->batch_sizes[w][i] : largest;
        }
    }
    ck_assert_int_eq(check_outcomes(h, members, MEMBERS), MEMBERS * 5);
    /* a transaction held rows of several processes (all of them, unless
     * one started too late, as under ThreadSanitizer) */
    ck_assert_int_ge(largest, 2);
    ra_commit_shared_stats(queue, &batches, &rows);
    ck_assert_uint_eq(rows, MEMBERS * 5);
    ck_assert_uint_lt(batches, rows);
    close_db(h);
}
END_TEST

/* kill -9 of the committing process in its batch, before its commit
 * (_i = KILL_BEFORE_COMMIT) or just after it (KILL_AFTER_COMMIT): the
 * other processes' rows of that batch are committed again by the next
 * committer, each answered created (once committed, found with its own
 * ETag), and nobody waits for ever. */
START_TEST(committer_killed_mid_batch)
{
    static member_t members[MEMBERS];
    pid_t pids[MEMBERS + 1];
    apr_proc_mutex_t *lock;
    apr_uint64_t batches, rows;

    setup_db();
    shared_t *shared = new_shared();
    shared->kill_at = _i;
    ra_commit_shared_t *queue = new_queue(2 * MEMBERS, 64);
    ck_assert_int_eq(apr_proc_mutex_create(&lock, NULL, APR_LOCK_DEFAULT, pool), APR_SUCCESS);
    start_members(members, MEMBERS, 3, shared, queue, lock);
    pids[MEMBERS] = hold_lock(lock, shared);
    fork_members(members, MEMBERS, pids);
    ck_assert_int_eq(wait_members(pids, MEMBERS + 1), 1);

    apr_dbd_t *h = open_db();
    int victim = -1;
    for (int w = 0; w < MEMBERS; w++) {
        if (shared->results[w][0] == -1) { /* killed before its first answer */
            ck_assert_int_eq(victim, -1);
            victim = w;
            continue;
        }
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(shared->results[w][i], RA_STORE_DONE);
            members[w].items[i].result = RA_STORE_DONE;
            members[w].items[i].batch_size = shared->batch_sizes[w][i];
        }
    }
    ck_assert_int_ge(victim, 0);
    members[victim].rows = 0;
    ck_assert_int_eq(check_outcomes(h, members, MEMBERS), (MEMBERS - 1) * 3);
    /* the victim's batch held every process's first row, its own too, and
     * was committed again whole, once: its own row is there as well */
    ck_assert_str_eq(column(h, T1, members[victim].items[0].row.partner->values[RA_PROP_ID],
                            "count(*)"), "1");
    ck_assert_str_eq(row_count(h), apr_itoa(pool, (MEMBERS - 1) * 3 + 1));
    ra_commit_shared_stats(queue, &batches, &rows);
    ck_assert_uint_eq(rows, (MEMBERS - 1) * 3 + 1);
    /* the next committer said so: the dead one's batch, at least its own row */
    ck_assert_int_ge(shared->recommitted, 1);
    ck_assert_int_le(shared->recommitted, MEMBERS);
    close_db(h);
}
END_TEST

/* A process killed while its row waited leaves its slot; the next create
 * that finds no other slot free takes it. */
START_TEST(slot_of_a_killed_owner_serves_again)
{
    static member_t members[2];
    pid_t pid;
    apr_proc_mutex_t *lock;

    setup_db();
    ra_commit_shared_t *queue = new_queue(1, 64);
    ck_assert_int_eq(apr_proc_mutex_create(&lock, NULL, APR_LOCK_DEFAULT, pool), APR_SUCCESS);
    start_members(members, 2, 1, NULL, queue, lock);
    apr_proc_mutex_lock(lock);
    fork_members(members, 1, &pid);
    apr_sleep(apr_time_from_msec(200));
    kill(pid, SIGKILL);
    ck_assert_int_eq(wait_members(&pid, 1), 1);
    apr_proc_mutex_unlock(lock);

    members[1].conn = member_conn();
    members[1].pool = pool;
    submit_all(&members[1]);
    apr_dbd_t *h = open_db();
    ck_assert_int_eq(check_outcomes(h, members + 1, 1), 1);
    ck_assert_str_eq(row_count(h), "1");
    close_db(h);
}
END_TEST

/* A row larger than a slot, or no slot free: nothing queued, the caller
 * commits it on its own. */
START_TEST(row_too_large_is_not_queued)
{
    member_t m = { 0 };
    ra_commit_shared_access_t access = { proc_trylock, proc_unlock, member_connect, &m };
    char *name = apr_palloc(pool, RA_COMMIT_SHARED_ROW_BYTES + 1);

    memset(name, 'n', RA_COMMIT_SHARED_ROW_BYTES);
    name[RA_COMMIT_SHARED_ROW_BYTES] = '\0';
    m.items[0].row = *row_of(pool, T1, "big", name);
    ck_assert_int_eq(ra_commit_shared_submit(new_queue(1, 8), &m.items[0], &access, pool), 0);
}
END_TEST

static int refuse_connect(void *baton, ra_store_conn_t *conn, const char **error)
{
    (void)baton, (void)conn;
    *error = "no database connection";
    return 0;
}

/* A member with two rows to create (fill), on a fresh database, and a queue
 * of slots slots: the tests below submit its first row through an access of
 * theirs, then its second as usual (the_next_create_commits). */
static ra_commit_shared_t *one_member(member_t *m, int slots)
{
    apr_thread_mutex_t *lock;

    setup_db();
    ra_commit_shared_t *queue = new_queue(slots, 8);
    ck_assert_int_eq(apr_thread_mutex_create(&lock, APR_THREAD_MUTEX_DEFAULT, pool),
                     APR_SUCCESS);
    fill(m, 1, 2, 0);
    m->thread_lock = lock;
    m->conn = member_conn();
    return queue;
}

/* The member's second row, submitted with the queue's own access, is
 * committed, and it is the one row stored. */
static void the_next_create_commits(member_t *m, ra_commit_shared_t *queue)
{
    m->rows = 1;
    m->items[0] = m->items[1];
    m->queue = queue;
    m->pool = pool;
    submit_all(m);
    apr_dbd_t *h = open_db();
    ck_assert_int_eq(check_outcomes(h, m, 1), 1);
    ck_assert_str_eq(row_count(h), "1");
    close_db(h);
}

/* A committer without a connection fails its own row and leaves the queue
 * as it was: the next create commits. */
START_TEST(committer_without_a_connection_fails_its_row)
{
    static member_t m;
    ra_commit_shared_t *queue = one_member(&m, 2);
    ra_commit_shared_access_t refusing = { thread_trylock, thread_unlock, refuse_connect, &m };
    ck_assert_int_eq(ra_commit_shared_submit(queue, &m.items[0], &refusing, pool), 1);
    ck_assert_int_eq(m.items[0].result, RA_STORE_FAILED);
    ck_assert_str_eq(m.items[0].error, "no database connection");
    the_next_create_commits(&m, queue);
}
END_TEST

static int broken_trylock(void *baton)
{
    (void)baton;
    return -1;
}

/* A writer lock that fails (neither held nor busy: a destroyed mutex)
 * would keep a row waiting for ever: the row is taken back, unqueued, and
 * its slot serves the next create, which commits once the lock works. A
 * one-slot queue: a row left behind would leave no room for the second. */
START_TEST(row_is_taken_back_when_the_lock_fails)
{
    static member_t m;
    ra_commit_shared_t *queue = one_member(&m, 1);
    ra_commit_shared_access_t broken = { broken_trylock, thread_unlock, member_connect, &m };
    ck_assert_int_eq(ra_commit_shared_submit(queue, &m.items[0], &broken, pool), 0);
    the_next_create_commits(&m, queue);
}
END_TEST

Suite *commit_shared_suite(void)
{
    Suite *s = suite_create("commit_shared");
    TCase *tc = db_tcase(s, "shared group commit");
    tcase_add_test(tc, threads_share_transactions);
    tcase_add_test(tc, processes_share_transactions);
    tcase_add_loop_test(tc, committer_killed_mid_batch, KILL_BEFORE_COMMIT,
                        KILL_AFTER_COMMIT + 1);
    tcase_add_test(tc, slot_of_a_killed_owner_serves_again);
    tcase_add_test(tc, row_too_large_is_not_queued);
    tcase_add_test(tc, committer_without_a_connection_fails_its_row);
    tcase_add_test(tc, row_is_taken_back_when_the_lock_fails);
    return s;
}
