/* Throttling's token buckets in a fixed table (see ra_throttle.h for the
 * arithmetic and the locking rule).
 *
 * The table is open addressing with linear probing over twice as many
 * slots as entries, so a probe stays short even when every entry is used;
 * a removed entry is closed up by backward shifting (no tombstones). When
 * every entry is used, a new key evicts the idlest entry (the one touched
 * longest ago): an entry idle for longer than its window has full buckets
 * again, so evicting it loses nothing. */
#include "ra_throttle.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <apr_general.h>

/* tid + '\n' + appid fit whole (two GUIDs); a longer key is told apart by
 * its hash beyond these bytes. */
#define KEY_BYTES 95
#define LAYOUT 0x5241545200000001ull /* "RATR", version 1 */

typedef struct {
    apr_uint64_t hash;          /* 0: empty slot */
    apr_time_t last;            /* last touched: the idlest goes first */
    apr_int64_t credit[2];      /* [ra_throttle_access_e]; an address uses [0] */
    apr_time_t stamp[2];        /* when credit was last brought up to date */
    unsigned char kind;         /* ra_throttle_key_e */
    char key[KEY_BYTES];
} entry_t;

struct ra_throttle {
    apr_uint64_t layout;
    apr_uint32_t lock;          /* holder's pid; 0: free */
    apr_uint32_t slots;         /* 2 * entries */
    apr_uint32_t entries;
    apr_uint32_t used;
    apr_uint64_t seed;
    apr_uint64_t evictions;
    entry_t slot[];
};

void ra_throttle_default_limits(ra_throttle_limits_t *limits)
{
    for (int a = 0; a < 2; a++) {
        limits->tenant[a] = (ra_throttle_rate_t){ RA_THROTTLE_DEFAULT_TENANT_LIMIT,
                                                  RA_THROTTLE_DEFAULT_WINDOW };
        limits->app[a] = (ra_throttle_rate_t){ RA_THROTTLE_DEFAULT_APP_LIMIT,
                                               RA_THROTTLE_DEFAULT_WINDOW };
    }
    limits->failed_auth = (ra_throttle_rate_t){ RA_THROTTLE_DEFAULT_FAILED_AUTH_LIMIT,
                                                RA_THROTTLE_DEFAULT_FAILED_AUTH_WINDOW };
}

apr_size_t ra_throttle_size(int entries)
{
    return sizeof(ra_throttle_t) + 2 * (apr_size_t)entries * sizeof(entry_t);
}

ra_throttle_t *ra_throttle_init(void *memory, int entries)
{
    ra_throttle_t *t = memory;
    memset(t, 0, ra_throttle_size(entries));
    t->entries = (apr_uint32_t)entries;
    t->slots = 2 * (apr_uint32_t)entries;
    /* keys are verified tids and addresses, but an attacker with many
     * addresses must not be able to aim them at one probe chain */
    if (apr_generate_random_bytes((unsigned char *)&t->seed, sizeof(t->seed)) != APR_SUCCESS) {
        t->seed = (apr_uint64_t)apr_time_now();
    }
    __atomic_store_n(&t->layout, LAYOUT, __ATOMIC_RELEASE);
    return t;
}

ra_throttle_t *ra_throttle_attach(void *memory, apr_size_t size, int entries)
{
    ra_throttle_t *t = memory;
    if (!t || size < ra_throttle_size(entries)
        || __atomic_load_n(&t->layout, __ATOMIC_ACQUIRE) != LAYOUT
        || t->entries != (apr_uint32_t)entries) {
        return NULL;
    }
    return t;
}

/* ------------------------------------------------------------ the lock */

/* This process's pid, as the lock word holds it. getpid() is a system call
 * (3.7 us measured in a sandboxed VM, where it was most of a charge), so
 * the pid is kept, and forgotten in a forked child. */
static apr_uint32_t own_pid;
static pthread_once_t own_pid_once = PTHREAD_ONCE_INIT;

static void forget_pid(void)
{
    __atomic_store_n(&own_pid, 0, __ATOMIC_RELAXED);
}

static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, forget_pid);
}

static apr_uint32_t me(void)
{
    apr_uint32_t pid = __atomic_load_n(&own_pid, __ATOMIC_RELAXED);
    if (!pid) {
        pthread_once(&own_pid_once, watch_forks);
        pid = (apr_uint32_t)getpid();
        __atomic_store_n(&own_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

void ra_throttle_lock(ra_throttle_t *t)
{
    apr_uint32_t self = me();
    for (unsigned spins = 1;; spins++) {
        apr_uint32_t holder = 0;
        if (__atomic_compare_exchange_n(&t->lock, &holder, self, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            return;
        }
        if (spins % 64 == 0) {
            sched_yield(); /* the holder may be descheduled: let it run */
        }
        /* a holder that died (a child killed mid-charge) never unlocks */
        if (spins % 4096 == 0 && holder != self && holder != 0
            && kill((pid_t)holder, 0) != 0 && errno == ESRCH
            && __atomic_compare_exchange_n(&t->lock, &holder, self, 0, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED)) {
            return;
        }
    }
}

void ra_throttle_unlock(ra_throttle_t *t)
{
    __atomic_store_n(&t->lock, 0, __ATOMIC_RELEASE);
}

/* ---------------------------------------------------------- the table */

/* FNV-1a over the seed, the kind and the key's parts; never 0 (empty). */
static apr_uint64_t key_hash(const ra_throttle_t *t, ra_throttle_key_e kind, const char *a,
                             const char *b)
{
    apr_uint64_t h = 0xcbf29ce484222325ull ^ t->seed;
    const char *parts[] = { a, "\n", b };
    h = (h ^ (unsigned char)kind) * 0x100000001b3ull;
    for (int p = 0; p < (b ? 3 : 1); p++) {
        for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++) {
            h = (h ^ *c) * 0x100000001b3ull;
        }
    }
    return h ? h : 1;
}

/* The key as stored: its first KEY_BYTES - 1 bytes. */
static void key_text(char *out, const char *a, const char *b)
{
    size_t n = strlen(a);
    n = n < KEY_BYTES - 1 ? n : KEY_BYTES - 1;
    memcpy(out, a, n);
    out[n] = '\0';
    if (b && n < KEY_BYTES - 1) {
        out[n++] = '\n';
        size_t m = strlen(b);
        m = m < KEY_BYTES - 1 - n ? m : KEY_BYTES - 1 - n;
        memcpy(out + n, b, m);
        out[n + m] = '\0';
    }
}

static apr_uint32_t home(const ra_throttle_t *t, apr_uint64_t hash)
{
    return (apr_uint32_t)(hash % t->slots);
}

/* The slot holding the key, or the empty slot where it would go. */
static apr_uint32_t probe(const ra_throttle_t *t, apr_uint64_t hash, ra_throttle_key_e kind,
                          const char *key)
{
    apr_uint32_t i = home(t, hash);
    while (t->slot[i].hash
           && !(t->slot[i].hash == hash && t->slot[i].kind == kind
                && !strcmp(t->slot[i].key, key))) {
        i = (i + 1) % t->slots;
    }
    return i;
}

/* Empties slot i and moves later members of its probe chain back, so
 * that no chain has a hole. */
static void remove_slot(ra_throttle_t *t, apr_uint32_t i)
{
    apr_uint32_t j = i;
    for (;;) {
        j = (j + 1) % t->slots;
        if (!t->slot[j].hash) {
            break;
        }
        apr_uint32_t k = home(t, t->slot[j].hash);
        /* j stays when its home lies cyclically in (i, j] */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) {
            continue;
        }
        t->slot[i] = t->slot[j];
        i = j;
    }
    memset(&t->slot[i], 0, sizeof(t->slot[i]));
    t->used--;
}

/* Evicts the entry touched longest ago, never the one of hash keep (the
 * other half of a charge in progress). */
static void evict_idlest(ra_throttle_t *t, apr_uint64_t keep)
{
    apr_uint32_t idlest = t->slots;
    for (apr_uint32_t i = 0; i < t->slots; i++) {
        if (t->slot[i].hash && t->slot[i].hash != keep
            && (idlest == t->slots || t->slot[i].last < t->slot[idlest].last)) {
            idlest = i;
        }
    }
    remove_slot(t, idlest);
    t->evictions++;
}

/* The key's entry, NULL when the table does not hold it (create 0) or a
 * new one with full buckets (create 1), touched at now. Making one may
 * evict any entry but keep's, and move others: entries found before are
 * found again. */
static entry_t *find(ra_throttle_t *t, ra_throttle_key_e kind, const char *a, const char *b,
                     int create, apr_uint64_t keep, apr_time_t now)
{
    char key[KEY_BYTES];
    apr_uint64_t hash = key_hash(t, kind, a, b);
    apr_uint32_t i;

    key_text(key, a, b);
    i = probe(t, hash, kind, key);
    if (!t->slot[i].hash) {
        if (!create) {
            return NULL;
        }
        if (t->used >= t->entries) {
            evict_idlest(t, keep);
            i = probe(t, hash, kind, key); /* the shift may have freed an earlier slot */
        }
        entry_t *e = &t->slot[i];
        e->hash = hash;
        e->kind = (unsigned char)kind;
        memcpy(e->key, key, sizeof(key));
        e->credit[0] = e->credit[1] = -1; /* full, once a rate is known */
        t->used++;
    }
    t->slot[i].last = now;
    return &t->slot[i];
}

/* ---------------------------------------------------------- the buckets */

static apr_int64_t cost(ra_throttle_rate_t rate)
{
    return (apr_int64_t)rate.window * APR_USEC_PER_SEC;
}

/* The bucket's credit brought up to now under rate. */
static apr_int64_t refill(entry_t *e, int b, ra_throttle_rate_t rate, apr_time_t now)
{
    apr_int64_t full = (apr_int64_t)rate.limit * cost(rate);
    if (e->credit[b] < 0 || e->credit[b] > full) { /* new, or the limit was lowered */
        e->credit[b] = full;
    }
    else if (now > e->stamp[b]) {
        apr_int64_t elapsed = now - e->stamp[b];
        /* a bucket idle for a whole window is full whatever the numbers */
        e->credit[b] = elapsed >= cost(rate) ? full
                       : e->credit[b] + elapsed * rate.limit < full
                       ? e->credit[b] + elapsed * rate.limit : full;
    }
    e->stamp[b] = now;
    return e->credit[b];
}

/* Whole seconds until the bucket holds a token again, at least 1. */
static int wait_seconds(apr_int64_t credit, ra_throttle_rate_t rate)
{
    apr_int64_t missing = cost(rate) - credit;
    apr_int64_t usec = (missing + rate.limit - 1) / rate.limit;
    apr_int64_t secs = (usec + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC;
    return secs < 1 ? 1 : (int)secs;
}

/* Whether the bucket holds a token; when not, the verdict says why. */
static int has_token(entry_t *e, int b, ra_throttle_rate_t rate, apr_time_t now,
                     ra_throttle_key_e kind, ra_throttle_verdict_t *v)
{
    apr_int64_t credit;
    int wait;
    if (!e || rate.limit <= 0) {
        return 1;
    }
    if ((credit = refill(e, b, rate, now)) >= cost(rate)) {
        return 1;
    }
    wait = wait_seconds(credit, rate);
    if (v->allowed || wait > v->retry_after) {
        v->refused_by = kind;
        v->retry_after = wait;
    }
    v->allowed = 0;
    return 0;
}

static void take(entry_t *e, int b, ra_throttle_rate_t rate)
{
    if (e && rate.limit > 0) {
        e->credit[b] = e->credit[b] >= cost(rate) ? e->credit[b] - cost(rate) : 0;
    }
}

ra_throttle_verdict_t ra_throttle_charge(ra_throttle_t *t, const ra_throttle_limits_t *limits,
                                         const char *tenant, const char *app,
                                         ra_throttle_access_e access, apr_time_t now)
{
    ra_throttle_verdict_t v = { 1, 0, 0 };
    ra_throttle_rate_t tenant_rate = limits->tenant[access], app_rate = limits->app[access];
    entry_t *te, *ae = NULL;
    int b = access == RA_THROTTLE_WRITE;

    if (app && !*app) {
        app = NULL;
    }
    ra_throttle_lock(t);
    te = find(t, RA_THROTTLE_KEY_TENANT, tenant, NULL, 1, 0, now);
    if (app) {
        /* making the application's entry keeps the tenant's, but may move it */
        ae = find(t, RA_THROTTLE_KEY_APP, tenant, app, 1, te->hash, now);
        te = find(t, RA_THROTTLE_KEY_TENANT, tenant, NULL, 0, 0, now);
    }
    /* both are checked (for the longer wait), and charged together */
    int ok = has_token(te, b, tenant_rate, now, RA_THROTTLE_KEY_TENANT, &v);
    ok &= has_token(ae, b, app_rate, now, RA_THROTTLE_KEY_APP, &v);
    if (ok) {
        take(te, b, tenant_rate);
        take(ae, b, app_rate);
    }
    ra_throttle_unlock(t);
    return v;
}

ra_throttle_verdict_t ra_throttle_address_check(ra_throttle_t *t,
                                                const ra_throttle_limits_t *limits,
                                                const char *address, apr_time_t now)
{
    ra_throttle_verdict_t v = { 1, 0, 0 };
    if (limits->failed_auth.limit <= 0) {
        return v;
    }
    ra_throttle_lock(t);
    /* an address that never failed has no entry, and a full bucket */
    has_token(find(t, RA_THROTTLE_KEY_ADDRESS, address, NULL, 0, 0, now), 0, limits->failed_auth,
              now, RA_THROTTLE_KEY_ADDRESS, &v);
    ra_throttle_unlock(t);
    return v;
}

void ra_throttle_address_failed(ra_throttle_t *t, const ra_throttle_limits_t *limits,
                                const char *address, apr_time_t now)
{
    if (limits->failed_auth.limit <= 0) {
        return;
    }
    ra_throttle_lock(t);
    entry_t *e = find(t, RA_THROTTLE_KEY_ADDRESS, address, NULL, 1, 0, now);
    refill(e, 0, limits->failed_auth, now);
    take(e, 0, limits->failed_auth);
    ra_throttle_unlock(t);
}

int ra_throttle_used(ra_throttle_t *t)
{
    ra_throttle_lock(t);
    int used = (int)t->used;
    ra_throttle_unlock(t);
    return used;
}

apr_uint64_t ra_throttle_evictions(ra_throttle_t *t)
{
    ra_throttle_lock(t);
    apr_uint64_t n = t->evictions;
    ra_throttle_unlock(t);
    return n;
}
