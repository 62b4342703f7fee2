/* A child's cache of verified tokens. Graph clients send the same token for
 * an hour, and verifying its signature (an RSA or ECDSA verify) and parsing
 * its claims is most of what authorizing a request costs; the cache keeps
 * what they gave, keyed by a SHA-256 of the whole token and the generation
 * of the key set that verified it (ra_keyset_generation), until the
 * token's exp. What depends on the request (time, audience, issuer,
 * tenant, permission) is still checked on every use (ra_token_verify_cached).
 * The cache knows key sets by their generation number alone, so it needs
 * nothing of ra_token.h or ra_keyset.h. One cache per child: nothing is
 * shared between processes, and a graceful restart starts empty. Inside a
 * child the cache is split into shards by hash, each with its own lock, so
 * no single lock serialises the hot path; each shard evicts its least
 * recently used entry.
 * A cached claims object is the cache's alone and only ever read under its
 * shard's lock: jansson's reference counts are not meant for objects that
 * several threads hold at once. */
#ifndef RA_TOKEN_CACHE_H
#define RA_TOKEN_CACHE_H

#include <apr_pools.h>
#include <jansson.h>

typedef struct ra_token_cache ra_token_cache_t;

#define RA_TOKEN_CACHE_KEY_LEN 32

typedef struct {
    unsigned char hash[RA_TOKEN_CACHE_KEY_LEN]; /* SHA-256 of the token */
} ra_token_cache_key_t;

/* A cache of capacity entries (> 0), rounded up so that its shards hold as
 * many each; freed with pool. */
apr_status_t ra_token_cache_create(apr_pool_t *pool, int capacity, ra_token_cache_t **cache);

void ra_token_cache_key(const char *token, size_t len, ra_token_cache_key_t *key);

/* When the token is cached for the key set of generation (its
 * ra_keyset_generation, which tells key sets apart: a refreshed key set
 * never finds what its predecessor verified) and not past its exp at now
 * (seconds): calls use(claims, baton) under the cache's lock (the claims
 * must not outlive the call: copy what is needed), copies the token
 * header's alg and kid into pool, and returns 1; else returns 0. */
int ra_token_cache_use(ra_token_cache_t *cache, const ra_token_cache_key_t *key,
                       apr_uint64_t generation, double now, apr_pool_t *pool,
                       const char **alg, const char **kid,
                       void (*use)(json_t *claims, void *baton), void *baton);

/* Gives claims (the caller's reference: the caller must not use it after)
 * to the cache, for the token until exp. */
void ra_token_cache_put(ra_token_cache_t *cache, const ra_token_cache_key_t *key,
                        apr_uint64_t generation, json_t *claims, double exp,
                        const char *alg, const char *kid);

/* Entries held now, for tests and logs. */
int ra_token_cache_count(ra_token_cache_t *cache);

#endif
