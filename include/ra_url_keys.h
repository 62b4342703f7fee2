/* Signing keys that arrive by URL: the parts that need no httpd, so that
 * the unit tests and the fuzzers link them without a server.
 *
 * - Documents: what an identity provider serves, an OpenID Connect
 *   discovery document (jwks_uri, issuer) and a JWKS.
 * - Fetched keys (ra_fetched_keys_t): a snapshot, the keys of one good
 *   fetch, and the bytes (a "bundle") that carry them to every child and
 *   into the cache file. Only bytes cross
 *   processes and configuration generations: httpd unloads and reloads the
 *   module, and libcjose with it, between generations.
 * - The shared block (ra_shared_keys_t): the last good bundle in shared memory, written by the
 *   one fetcher and read by every child without a lock (a sequence lock),
 *   with the refresh schedule the fetcher and the children agree on.
 * - Local keys (ra_local_keys_t): one process's current snapshot, swapped
 *   under running threads; a snapshot is destroyed when no thread holds it
 *   any more.
 *
 * The names before issue 16 (ra_keys, ra_keysnap, ra_keyshare, ra_keyring):
 * see the map in ra_keyset.h.
 */
#ifndef RA_URL_KEYS_H
#define RA_URL_KEYS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ra_keyset.h"

/* The largest document (discovery document or JWKS) taken from a URL.
 * Microsoft's JWKS holds about ten keys with their certificates (~20 KB). */
#define RA_URL_KEYS_MAX_DOCUMENT (256 * 1024)

/* The largest bundle (a JWKS and the URLs and issuer around it), from a
 * fetch or a cache file: what the shared block holds. */
#define RA_URL_KEYS_MAX_BUNDLE (RA_URL_KEYS_MAX_DOCUMENT + 16 * 1024)

/* ------------------------------------------------------------- documents */

/* Whether url is an absolute https:// URL with a host (http:// too when
 * allow_http), printable ASCII without a fragment: NULL, or why not. */
const char *ra_url_keys_check_url(apr_pool_t *pool, const char *url, int allow_http);

/* Reads an OpenID Connect discovery document: its jwks_uri (which must pass
 * ra_url_keys_check_url) and its issuer (an http(s) URL, possibly with
 * RA_TOKEN_TENANT_PLACEHOLDER). NULL, or why not; the strings are
 * allocated from pool. */
const char *ra_url_keys_parse_metadata(apr_pool_t *pool, const char *data, apr_size_t len,
                                       int allow_http, const char **jwks_uri,
                                       const char **issuer);

/* --------------------------------------------------------- fetched keys */

/* The keys of one good fetch. Read-only once made; the members are valid
 * while the snapshot lives (local keys keep it alive for its holders). */
typedef struct ra_fetched_keys {
    const char *source;                /* the configured URL */
    const char *jwks_uri;              /* where the keys came from */
    const char *issuer;                /* the discovery document's, or NULL */
    const apr_array_header_t *issuers; /* const char *: issuer alone, or NULL */
    const ra_keyset_t *keys;
    const apr_array_header_t *skipped; /* const char *: keys left out, and why */
    const char *bundle;                /* the bytes that carry it (NUL-terminated) */
    apr_size_t bundle_len;
    apr_pool_t *pool;                  /* the snapshot's own */
    int holders;                       /* threads holding it (local keys' lock) */
} ra_fetched_keys_t;

/* A snapshot of a JWKS fetched from jwks_uri for the configured source
 * (issuer: from the discovery document, or NULL). The JWKS passes
 * ra_keyset_parse_jwks with skipped keys listed. NULL with *error (from
 * scratch) when it is not a JWKS with a usable key, or too large. */
ra_fetched_keys_t *ra_fetched_keys_from_jwks(apr_pool_t *scratch, const char *source,
                                             const char *jwks_uri, const char *issuer,
                                             const char *jwks, apr_size_t len,
                                             const char **error);

/* The snapshot a bundle carries; source, unless NULL, must be the one it was
 * made for. The keys pass the same checks as when it was made. */
ra_fetched_keys_t *ra_fetched_keys_decode(apr_pool_t *scratch, const char *source,
                                          const char *bundle, apr_size_t len,
                                          const char **error);

void ra_fetched_keys_destroy(ra_fetched_keys_t *snap);

/* ------------------------------------------------------ the shared block */

typedef struct ra_shared_keys ra_shared_keys_t;

/* Bytes of shared memory one block takes (a multiple of 8). */
apr_size_t ra_shared_keys_size(void);

/* A fresh block, without keys, in memory of ra_shared_keys_size() bytes
 * aligned to 8; the fetcher's first look finds it due. */
ra_shared_keys_t *ra_shared_keys_init(void *memory);

/* How many bundles were stored so far; a change means new keys. */
apr_uint64_t ra_shared_keys_published(const ra_shared_keys_t *share);

/* Stores a snapshot's bundle, at most RA_URL_KEYS_MAX_BUNDLE bytes (one writer
 * at a time: the fetcher). */
void ra_shared_keys_store(ra_shared_keys_t *share, const char *bundle, apr_size_t len);

/* Whether the stored bundle is exactly these bytes (for the fetcher, the
 * only writer). */
int ra_shared_keys_holds(const ra_shared_keys_t *share, const char *bundle, apr_size_t len);

/* A copy of the stored bundle from pool and, in *stamp, the publication it
 * is at least as new as. NULL when none is stored, or when no consistent
 * copy could be taken within a few milliseconds (a writer that died while
 * writing; the next fetch repairs it). */
const char *ra_shared_keys_load(const ra_shared_keys_t *share, apr_pool_t *pool,
                                apr_size_t *len, apr_uint64_t *stamp);

/* The refresh schedule. Times are apr_time_t; intervals microseconds. */

/* Sets when the next scheduled fetch is due. */
void ra_shared_keys_schedule(ra_shared_keys_t *share, apr_time_t due);

/* For the fetcher: whether to fetch now (an early refresh was asked for, or
 * the scheduled one is due). If so the fetch is marked in flight. */
int ra_shared_keys_begin(ra_shared_keys_t *share, apr_time_t now);

/* For the fetcher, after the fetch began at ra_shared_keys_begin: a good one
 * schedules the next after refresh; a failed one retries after a back-off
 * of min_interval, doubled after each further failure, at most
 * max(refresh, min_interval). Wakes the requests waiting for it. Returns
 * the delay until the next fetch. */
apr_interval_time_t ra_shared_keys_end(ra_shared_keys_t *share, apr_time_t now, int good,
                                       apr_interval_time_t refresh,
                                       apr_interval_time_t min_interval);

/* For a fetcher that takes over from one that died (a killed child): a
 * fetch it left in flight, or a bundle it left half-written, is fetched
 * again at once. */
void ra_shared_keys_adopt(ra_shared_keys_t *share);

/* Consecutive failed fetches (0 after a good one). */
apr_uint32_t ra_shared_keys_failures(const ra_shared_keys_t *share);

/* What a request that met an unknown kid may wait for. */
typedef enum {
    RA_SHARED_KEYS_NO_FETCH = 0,    /* the last early refresh is less than
                                     * min_interval old: none is coming, do
                                     * not wait */
    RA_SHARED_KEYS_FETCH_COMING,    /* an early refresh begins after this call
                                     * (this one may have asked for it) */
    RA_SHARED_KEYS_FETCH_IN_FLIGHT  /* a fetch is under way, which may have
                                     * begun before the key was published: ask
                                     * again once it ends */
} ra_shared_keys_ask_e;

/* A request met a kid no key has, at now: at most one early refresh per
 * min_interval is asked for, whatever the number of children and threads
 * asking. *ticket is what to wait with (ra_shared_keys_wait). */
ra_shared_keys_ask_e ra_shared_keys_ask(ra_shared_keys_t *share, apr_time_t now,
                                        apr_interval_time_t min_interval, apr_uint64_t *ticket);

/* Waits, holding no lock, until a fetch that was in flight or asked for at
 * ticket has finished (good or not), at most timeout. 1 when it finished. */
int ra_shared_keys_wait(const ra_shared_keys_t *share, apr_uint64_t ticket,
                        apr_interval_time_t timeout);

/* ----------------------------------------------------------- local keys */

typedef struct ra_local_keys ra_local_keys_t;

/* Empty local keys whose current snapshot is destroyed with pool; NULL when
 * its mutexes cannot be made. */
ra_local_keys_t *ra_local_keys_create(apr_pool_t *pool);

/* The current snapshot, held (never destroyed) until holder is cleared or
 * destroyed; NULL when local has none yet. */
const ra_fetched_keys_t *ra_local_keys_hold(ra_local_keys_t *local, apr_pool_t *holder);

/* Takes the shared block's bundle when it is newer than local's current
 * snapshot, which the new one replaces (the old one is destroyed when its
 * last holder lets go). With wait 0 a thread finding another one decoding
 * returns at once. Returns 1 when local took a new snapshot, 0 when
 * there was nothing (else) to take, -1 with *error (from scratch) when the
 * bundle could not be taken; a bundle that does not decode is not tried
 * again. */
int ra_local_keys_update(ra_local_keys_t *local, const ra_shared_keys_t *share,
                         const char *source, int wait, apr_pool_t *scratch, const char **error);

#endif
