/* Group commit across processes: a queue of creates in shared memory. */
#include "ra_commit_shared.h"

#include "ra_audit.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/futex.h>
#include <sys/syscall.h>

#include <apr_strings.h>

enum { FREE = 0, FILLING, READY, CLAIMED, DONE };

/* A slot's state word: the state in the low byte, the owner's pid above it,
 * so that one compare-and-swap checks both (a dead owner's slot is freed
 * only if it is still that owner's). */
#define WORD(pid, state) (((apr_uint64_t)(apr_uint32_t)(pid) << 8) | (apr_uint64_t)(state))
#define STATE_OF(word) ((int)((word) & 0xff))
#define OWNER_OF(word) ((pid_t)(apr_uint32_t)((word) >> 8))

#define MAGIC 0x52414743u /* "RAGC" */
#define ERROR_BYTES sizeof(((ra_commit_item_t *)0)->error)

typedef struct {
    apr_uint64_t word;          /* atomic: state and owner */
    apr_uint32_t wake;          /* atomic, a futex: bumped to wake the owner */
    /* the outcome: the committer's while CLAIMED */
    apr_int32_t result, batch_size, reports_batch, recommitted;
    char error[ERROR_BYTES];
    char row[RA_COMMIT_SHARED_ROW_BYTES];
} slot_t;

typedef struct {
    apr_uint32_t magic, slots;
    apr_uint32_t cursor;        /* atomic: where the next look for a slot starts */
    apr_uint32_t unused;
    apr_uint64_t batches, rows; /* atomic */
    slot_t slot[];
} segment_t;

struct ra_commit_shared {
    segment_t *segment;
    int max_batch;
};

apr_size_t ra_commit_shared_size(int slots)
{
    return sizeof(segment_t) + sizeof(slot_t) * (apr_size_t)(slots > 0 ? slots : 1);
}

ra_commit_shared_t *ra_commit_shared_create(apr_pool_t *pool, void *segment, int slots,
                                            int max_batch)
{
    ra_commit_shared_t *q = apr_palloc(pool, sizeof(*q));
    q->segment = segment;
    q->max_batch = max_batch > 0 ? max_batch : 1;
    memset(segment, 0, ra_commit_shared_size(slots));
    q->segment->magic = MAGIC;
    q->segment->slots = (apr_uint32_t)(slots > 0 ? slots : 1);
    return q;
}

/* ------------------------------------------------------------ waiting */

/* Sleeps until *word is bumped from seen, or timeout passes. Not
 * FUTEX_PRIVATE: the word is shared between processes. */
static void wait_for_bump(apr_uint32_t *word, apr_uint32_t seen, apr_interval_time_t timeout)
{
    struct timespec ts = { (time_t)apr_time_sec(timeout),
                           (long)apr_time_usec(timeout) * 1000 };
    syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

static void bump(slot_t *slot)
{
    __atomic_add_fetch(&slot->wake, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &slot->wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* -------------------------------------------------------------- rows */

/* A row in a slot: the version and the present bits, then the tenant, the
 * ETag and each property as a length (0: NULL, else the length + 1) and
 * its bytes; then whether it has an audit event (it rides in the batch's
 * transaction, so it travels with the row) and, if so, the event's ticks,
 * whether its actor is an application, and its strings the same way. */
#define STRINGS (2 + RA_PROP_COUNT)

static const char *string_of(const ra_store_row_t *row, int i)
{
    return i == 0 ? row->tenant : i == 1 ? row->partner->etag : row->partner->values[i - 2];
}

/* The event's strings, by their place in ra_audit_event_t. */
static const apr_size_t event_strings[] = {
    APR_OFFSETOF(ra_audit_event_t, tenant), APR_OFFSETOF(ra_audit_event_t, id),
    APR_OFFSETOF(ra_audit_event_t, date_time), APR_OFFSETOF(ra_audit_event_t, activity),
    APR_OFFSETOF(ra_audit_event_t, operation_type),
    APR_OFFSETOF(ra_audit_event_t, correlation_id),
    APR_OFFSETOF(ra_audit_event_t, actor.user_id), APR_OFFSETOF(ra_audit_event_t, actor.upn),
    APR_OFFSETOF(ra_audit_event_t, actor.app_id),
    APR_OFFSETOF(ra_audit_event_t, actor.ip_address),
    APR_OFFSETOF(ra_audit_event_t, actor.permissions),
    APR_OFFSETOF(ra_audit_event_t, resource_id), APR_OFFSETOF(ra_audit_event_t, resource_name),
    APR_OFFSETOF(ra_audit_event_t, modified),
};
#define EVENT_STRINGS (sizeof(event_strings) / sizeof(event_strings[0]))

static const char **event_string(const ra_audit_event_t *event, apr_size_t i)
{
    return (const char **)((const char *)event + event_strings[i]);
}

static apr_size_t string_size(const char *s)
{
    return sizeof(apr_uint32_t) + (s ? strlen(s) : 0);
}

static apr_size_t encoded_size(const ra_store_row_t *row)
{
    apr_size_t size = 3 * sizeof(apr_uint32_t);
    for (int i = 0; i < STRINGS; i++) {
        size += string_size(string_of(row, i));
    }
    if (row->event) {
        size += sizeof(apr_int64_t) + sizeof(apr_uint32_t);
        for (apr_size_t i = 0; i < EVENT_STRINGS; i++) {
            size += string_size(*event_string(row->event, i));
        }
    }
    return size;
}

static void put_u32(char **at, apr_uint32_t value)
{
    memcpy(*at, &value, sizeof(value));
    *at += sizeof(value);
}

static apr_uint32_t get_u32(const char **at)
{
    apr_uint32_t value;
    memcpy(&value, *at, sizeof(value));
    *at += sizeof(value);
    return value;
}

static void put_string(char **at, const char *s)
{
    apr_size_t len = s ? strlen(s) : 0;
    put_u32(at, s ? (apr_uint32_t)len + 1 : 0);
    memcpy(*at, s ? s : "", len);
    *at += len;
}

static const char *get_string(apr_pool_t *pool, const char **at)
{
    apr_uint32_t len = get_u32(at);
    const char *s = len ? apr_pstrmemdup(pool, *at, len - 1) : NULL;
    *at += len ? len - 1 : 0;
    return s;
}

static void encode(char *to, const ra_store_row_t *row)
{
    char *at = to;
    put_u32(&at, (apr_uint32_t)row->version);
    put_u32(&at, row->partner->present);
    for (int i = 0; i < STRINGS; i++) {
        put_string(&at, string_of(row, i));
    }
    put_u32(&at, row->event != NULL);
    if (row->event) {
        memcpy(at, &row->event->ticks, sizeof(row->event->ticks));
        at += sizeof(row->event->ticks);
        put_u32(&at, (apr_uint32_t)row->event->actor.application);
        for (apr_size_t i = 0; i < EVENT_STRINGS; i++) {
            put_string(&at, *event_string(row->event, i));
        }
    }
}

/* The row of a claimed slot, copied into pool. */
static const ra_store_row_t *decode(apr_pool_t *pool, const slot_t *slot)
{
    ra_store_row_t *row = apr_pcalloc(pool, sizeof(*row));
    ra_partner_t *partner = apr_pcalloc(pool, sizeof(*partner));
    const char *at = slot->row;
    const char *strings[STRINGS];

    row->version = (ra_version_e)get_u32(&at);
    partner->present = get_u32(&at);
    for (int i = 0; i < STRINGS; i++) {
        strings[i] = get_string(pool, &at);
    }
    row->tenant = strings[0];
    partner->etag = strings[1];
    memcpy(partner->values, strings + 2, sizeof(partner->values));
    row->partner = partner;
    if (get_u32(&at)) {
        ra_audit_event_t *event = apr_pcalloc(pool, sizeof(*event));
        memcpy(&event->ticks, at, sizeof(event->ticks));
        at += sizeof(event->ticks);
        event->actor.application = (int)get_u32(&at);
        for (apr_size_t i = 0; i < EVENT_STRINGS; i++) {
            *event_string(event, i) = get_string(pool, &at);
        }
        row->event = event;
    }
    return row;
}

/* ------------------------------------------------------------ slots */

static apr_uint64_t load(const slot_t *slot)
{
    return __atomic_load_n(&slot->word, __ATOMIC_ACQUIRE);
}

static int move(slot_t *slot, apr_uint64_t from, apr_uint64_t to)
{
    return __atomic_compare_exchange_n(&slot->word, &from, to, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

static void set(slot_t *slot, apr_uint64_t to)
{
    __atomic_store_n(&slot->word, to, __ATOMIC_SEQ_CST);
}

/* Each look over the slots starts one further than the last one, so that
 * no queued row is passed over by batch after batch, and creates spread
 * over the slots. */
static apr_uint32_t first_slot(segment_t *seg)
{
    return __atomic_fetch_add(&seg->cursor, 1, __ATOMIC_RELAXED);
}

static slot_t *nth_slot(segment_t *seg, apr_uint32_t first, apr_uint32_t i)
{
    return &seg->slot[(first + i) % seg->slots];
}

/* Looks for a free slot a few times over: with as many slots as creates,
 * one is always free, but it may be freed behind a look that passed it and
 * taken ahead of it. */
#define TAKE_PASSES 3

static slot_t *take_free(segment_t *seg, pid_t pid)
{
    for (int pass = 0; pass < TAKE_PASSES; pass++) {
        for (apr_uint32_t first = first_slot(seg), i = 0; i < seg->slots; i++) {
            slot_t *slot = nth_slot(seg, first, i);
            if (load(slot) == WORD(0, FREE)
                && move(slot, WORD(0, FREE), WORD(pid, FILLING))) {
                return slot;
            }
        }
    }
    return NULL;
}

/* Frees the slots whose owners were killed: while filling them, while
 * their row waited (nobody was told it was created, so it need not be), or
 * before they read its outcome. A committer claiming a waiting row at the
 * same time wins or loses the compare-and-swap as a whole. Looked for only
 * when no slot is free: kill(pid, 0) is a system call. A pid in use again
 * by another process counts as alive, so a slot may stay taken longer,
 * never be taken from a live owner. */
static int free_the_dead(segment_t *seg)
{
    int freed = 0;
    for (apr_uint32_t first = first_slot(seg), i = 0; i < seg->slots; i++) {
        slot_t *slot = nth_slot(seg, first, i);
        apr_uint64_t word = load(slot);
        int state = STATE_OF(word);
        if ((state == FILLING || state == READY || state == DONE)
            && kill(OWNER_OF(word), 0) != 0 && errno == ESRCH) {
            freed += move(slot, word, WORD(0, FREE));
        }
    }
    return freed;
}

/* ------------------------------------------------------------ committing */

static void finish(slot_t *slot, ra_store_result_e result, const char *error, int batch_size,
                   int reports_batch, int recommitted)
{
    apr_uint64_t word = load(slot);
    slot->result = result;
    slot->batch_size = batch_size;
    slot->reports_batch = reports_batch;
    slot->recommitted = recommitted;
    apr_cpystrn(slot->error, error ? error : "", sizeof(slot->error));
    set(slot, WORD(OWNER_OF(word), DONE));
    bump(slot);
}

/* Claims mine (READY, or CLAIMED by a committer that died) and up to
 * room - 1 other queued rows into batch: how many. Called with the writer
 * lock held, so a CLAIMED row is one whose committer died: *orphans counts
 * them. */
static int claim_batch(segment_t *seg, slot_t *mine, slot_t **batch, int room, int *orphans)
{
    apr_uint64_t word = load(mine);
    int n = 0;

    *orphans = STATE_OF(word) == CLAIMED;
    if (STATE_OF(word) == READY) {
        set(mine, WORD(OWNER_OF(word), CLAIMED));
    }
    batch[n++] = mine;
    for (apr_uint32_t first = first_slot(seg), i = 0; n < room && i < seg->slots; i++) {
        slot_t *slot = nth_slot(seg, first, i);
        word = load(slot);
        if (slot != mine && (STATE_OF(word) == CLAIMED
            || (STATE_OF(word) == READY
                && move(slot, word, WORD(OWNER_OF(word), CLAIMED))))) {
            *orphans += STATE_OF(word) == CLAIMED;
            batch[n++] = slot;
        }
    }
    return n;
}

/* The lock holder's part: one batch holding its own row, committed on its
 * connection (conn, asked for while the lock was given back; NULL when it
 * could not be had: error); every row's outcome into its slot. */
static void commit_batch(ra_commit_shared_t *q, slot_t *mine, const ra_store_conn_t *conn,
                         const char *error, apr_pool_t *pool)
{
    apr_pool_t *p;

    if (!conn) {
        /* its own row fails (503) and the others wait for a committer with
         * a connection. Had a dead committer claimed it, it may be stored
         * all the same, as when any connection breaks before a commit's
         * answer arrives. */
        finish(mine, RA_STORE_FAILED, error, 1, 1, 0);
        return;
    }
    apr_pool_create(&p, pool);
    slot_t **batch = apr_palloc(p, sizeof(*batch) * (apr_size_t)q->max_batch);
    int orphans;
    int n = claim_batch(q->segment, mine, batch, q->max_batch, &orphans);
    const ra_store_row_t **rows = apr_palloc(p, sizeof(*rows) * (apr_size_t)n);
    ra_store_result_e *results = apr_palloc(p, sizeof(*results) * (apr_size_t)n);
    const char **errors = apr_pcalloc(p, sizeof(*errors) * (apr_size_t)n);

    for (int i = 0; i < n; i++) {
        rows[i] = decode(p, batch[i]);
    }
    ra_store_insert_batch(p, conn, rows, n, results, errors);
    for (int i = 0; i < n; i++) {
        finish(batch[i], results[i], errors[i], n, i == 0, i == 0 ? orphans : 0);
    }
    __atomic_add_fetch(&q->segment->batches, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&q->segment->rows, (apr_uint64_t)n, __ATOMIC_RELAXED);
    apr_pool_destroy(p);
}

/* Wakes the owner of one queued row other than except: it tries the lock. */
static void nudge(segment_t *seg, const slot_t *except)
{
    for (apr_uint32_t first = first_slot(seg), i = 0; i < seg->slots; i++) {
        slot_t *slot = nth_slot(seg, first, i);
        if (slot != except && STATE_OF(load(slot)) == READY) {
            bump(slot);
            return;
        }
    }
}

void ra_commit_shared_nudge(ra_commit_shared_t *q)
{
    nudge(q->segment, NULL);
}

int ra_commit_shared_submit(ra_commit_shared_t *q, ra_commit_item_t *item,
                            const ra_commit_shared_access_t *access, apr_pool_t *pool)
{
    segment_t *seg = q->segment;
    pid_t pid = getpid();
    slot_t *slot;

    if (encoded_size(&item->row) > RA_COMMIT_SHARED_ROW_BYTES
        || (!(slot = take_free(seg, pid)) && !(free_the_dead(seg) && (slot = take_free(seg, pid))))) {
        return 0;
    }
    encode(slot->row, &item->row);
    set(slot, WORD(pid, READY));
    ra_store_conn_t conn;
    const char *error = NULL;
    int asked = 0, connected = 0;
    for (;;) {
        apr_uint32_t seen = __atomic_load_n(&slot->wake, __ATOMIC_SEQ_CST);
        if (STATE_OF(load(slot)) == DONE) {
            break;
        }
        int locked = access->trylock(access->baton);
        if (locked < 0 && move(slot, WORD(pid, READY), WORD(0, FREE))) {
            /* a lock nobody can take again would keep the row waiting for
             * ever: it is taken back, unless a committer claimed it before
             * the lock failed (it is then waited for, as any claimed row) */
            return 0;
        }
        if (locked > 0) {
            if (!asked) {
                /* Never wait for a pooled connection with the lock held: a
                 * PATCH holds its connection while it waits for the lock, so
                 * once such writers held every connection of the pool
                 * (DBDMax), the committer and they would wait for each other
                 * for ever. The lock goes back, the connection is asked for
                 * in the order of every other writer (connection, then lock),
                 * and the row, perhaps done meanwhile, is looked at again.
                 * Only a thread that won the lock asks: the rows' other
                 * owners take no connection they would hold idle. */
                access->unlock(access->baton);
                nudge(seg, slot);
                asked = 1;
                connected = access->connect(access->baton, &conn, &error);
                continue;
            }
            commit_batch(q, slot, connected ? &conn : NULL, error, pool);
            access->unlock(access->baton);
            nudge(seg, slot);
            continue;
        }
        wait_for_bump(&slot->wake, seen, RA_COMMIT_SHARED_SLICE);
    }
    item->result = (ra_store_result_e)slot->result;
    item->batch_size = slot->batch_size;
    item->reports_batch = slot->reports_batch;
    item->recommitted = slot->recommitted;
    apr_cpystrn(item->error, slot->error, sizeof(item->error));
    set(slot, WORD(0, FREE));
    return 1;
}

void ra_commit_shared_stats(ra_commit_shared_t *q, apr_uint64_t *batches, apr_uint64_t *rows)
{
    *batches = __atomic_load_n(&q->segment->batches, __ATOMIC_RELAXED);
    *rows = __atomic_load_n(&q->segment->rows, __ATOMIC_RELAXED);
}
