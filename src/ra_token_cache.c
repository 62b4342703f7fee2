/* A sharded, bounded cache of verified token claims (ra_token_cache.h). */
#include "ra_token_cache.h"

#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <openssl/evp.h>

/* Shards of a cache that is not tiny, and the most entries one holds: a
 * lookup scans its shard under the shard's lock, so a large cache has more
 * shards, not longer ones. */
#define MIN_SHARDS 16
#define SHARD_ENTRIES 64

typedef struct {
    ra_token_cache_key_t key;
    /* the verifying key set's generation, not its address: a key set
     * fetched from a URL is freed at a refresh, and a later one may be
     * allocated where it was */
    apr_uint64_t generation;
    json_t *claims;          /* NULL: the slot is free */
    double exp;
    char *alg, *kid;         /* malloc'd: entries outlive requests */
    apr_uint64_t used;       /* the shard's clock at the last hit */
} entry_t;

typedef struct {
    apr_thread_mutex_t *mutex;
    entry_t *entries;
    apr_uint64_t clock;
} shard_t;

struct ra_token_cache {
    shard_t *shards;
    unsigned nshards;        /* a power of two */
    int per_shard;
};

static void clear(entry_t *e)
{
    json_decref(e->claims);
    free(e->alg);
    free(e->kid);
    memset(e, 0, sizeof(*e));
}

static apr_status_t cache_cleanup(void *data)
{
    ra_token_cache_t *cache = data;
    for (unsigned s = 0; s < cache->nshards; s++) {
        for (int i = 0; i < cache->per_shard; i++) {
            clear(&cache->shards[s].entries[i]);
        }
    }
    return APR_SUCCESS;
}

apr_status_t ra_token_cache_create(apr_pool_t *pool, int capacity, ra_token_cache_t **cache)
{
    ra_token_cache_t *c = apr_pcalloc(pool, sizeof(*c));
    apr_status_t rv = APR_SUCCESS;

    c->nshards = 1;
    while (c->nshards < MIN_SHARDS && c->nshards < (unsigned)capacity) {
        c->nshards <<= 1;
    }
    while ((apr_size_t)c->nshards * SHARD_ENTRIES < (apr_size_t)capacity) {
        c->nshards <<= 1;
    }
    c->per_shard = (int)((capacity + c->nshards - 1) / c->nshards);
    c->shards = apr_pcalloc(pool, sizeof(shard_t) * c->nshards);
    for (unsigned s = 0; s < c->nshards && rv == APR_SUCCESS; s++) {
        c->shards[s].entries = apr_pcalloc(pool, sizeof(entry_t) * (size_t)c->per_shard);
        rv = apr_thread_mutex_create(&c->shards[s].mutex, APR_THREAD_MUTEX_DEFAULT, pool);
    }
    if (rv != APR_SUCCESS) {
        *cache = NULL; /* nothing was put: nothing to clean up */
        return rv;
    }
    apr_pool_cleanup_register(pool, c, cache_cleanup, apr_pool_cleanup_null);
    *cache = c;
    return APR_SUCCESS;
}

void ra_token_cache_key(const char *token, size_t len, ra_token_cache_key_t *key)
{
    if (!EVP_Digest(token, len, key->hash, NULL, EVP_sha256(), NULL)) {
        memset(key->hash, 0, sizeof(key->hash)); /* looks nothing up: never put */
    }
}

static int empty_key(const ra_token_cache_key_t *key)
{
    static const ra_token_cache_key_t zero;
    return !memcmp(key, &zero, sizeof(zero));
}

static shard_t *shard_of(ra_token_cache_t *cache, const ra_token_cache_key_t *key)
{
    apr_uint32_t bits;
    memcpy(&bits, key->hash, sizeof(bits)); /* a hash: any of its bytes will do */
    return &cache->shards[bits & (cache->nshards - 1)];
}

static entry_t *find(ra_token_cache_t *cache, shard_t *shard, const ra_token_cache_key_t *key,
                     apr_uint64_t generation)
{
    for (int i = 0; i < cache->per_shard; i++) {
        entry_t *e = &shard->entries[i];
        if (e->claims && e->generation == generation && !memcmp(&e->key, key, sizeof(*key))) {
            return e;
        }
    }
    return NULL;
}

int ra_token_cache_use(ra_token_cache_t *cache, const ra_token_cache_key_t *key,
                       apr_uint64_t generation, double now, apr_pool_t *pool,
                       const char **alg, const char **kid,
                       void (*use)(json_t *claims, void *baton), void *baton)
{
    shard_t *shard = shard_of(cache, key);
    int found = 0;

    if (empty_key(key)) {
        return 0;
    }
    apr_thread_mutex_lock(shard->mutex);
    entry_t *e = find(cache, shard, key, generation);
    if (e && now >= e->exp) {
        clear(e); /* an entry lives until its token's exp, not a second more */
    }
    else if (e) {
        use(e->claims, baton);
        *alg = apr_pstrdup(pool, e->alg);
        *kid = e->kid ? apr_pstrdup(pool, e->kid) : NULL;
        e->used = ++shard->clock;
        found = 1;
    }
    apr_thread_mutex_unlock(shard->mutex);
    return found;
}

void ra_token_cache_put(ra_token_cache_t *cache, const ra_token_cache_key_t *key,
                        apr_uint64_t generation, json_t *claims, double exp,
                        const char *alg, const char *kid)
{
    shard_t *shard = shard_of(cache, key);
    entry_t *victim = NULL;

    if (empty_key(key)) {
        json_decref(claims);
        return;
    }
    apr_thread_mutex_lock(shard->mutex);
    if (find(cache, shard, key, generation)) { /* another thread was first */
        json_decref(claims);
    }
    else {
        for (int i = 0; i < cache->per_shard; i++) {
            entry_t *e = &shard->entries[i];
            if (!victim || !e->claims || (victim->claims && e->used < victim->used)) {
                victim = e;
            }
            if (!e->claims) {
                break;
            }
        }
        clear(victim);
        victim->key = *key;
        victim->generation = generation;
        victim->claims = claims;
        victim->exp = exp;
        victim->alg = strdup(alg ? alg : "");
        victim->kid = kid ? strdup(kid) : NULL;
        victim->used = ++shard->clock;
    }
    apr_thread_mutex_unlock(shard->mutex);
}

int ra_token_cache_count(ra_token_cache_t *cache)
{
    int n = 0;
    for (unsigned s = 0; s < cache->nshards; s++) {
        apr_thread_mutex_lock(cache->shards[s].mutex);
        for (int i = 0; i < cache->per_shard; i++) {
            n += cache->shards[s].entries[i].claims != NULL;
        }
        apr_thread_mutex_unlock(cache->shards[s].mutex);
    }
    return n;
}
