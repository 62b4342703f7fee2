/* httpd glue: signing keys from files (RemoteAssistTokenKey,
 * RemoteAssistTokenSecret) and from a URL (RemoteAssistTokenJwksUri,
 * RemoteAssistTokenMetadataUrl). Of the second, one child, mod_watchdog's singleton,
 * fetches them with libcurl and leaves the bundle in shared memory, where
 * every child takes it, and in a cache file, which the next start reads.
 * Requests never fetch: they take the shared keys, or after an unknown kid
 * wait a bounded time for an early refresh the fetcher makes (see
 * ra_keyset.h and ra_url_keys.h for the parts that need no httpd). */
#ifndef MOD_RA_KEYS_H
#define MOD_RA_KEYS_H

#include "httpd.h"
#include "http_config.h"

#include "ra_url_keys.h"

/* Microsoft publishes a new signing key well before it signs with it, and
 * an unknown kid fetches early anyway: an hour keeps a removed key usable
 * for at most an hour at one request per hour to the identity provider. */
#define RA_KEYS_DEFAULT_REFRESH 3600
/* What a flood of made-up kids may cost: one fetch a minute. A key that
 * appears without notice waits at most this long after another early
 * refresh. */
#define RA_KEYS_DEFAULT_MIN_INTERVAL 60
#define RA_KEYS_MAX_INTERVAL (7 * 86400)
/* The cache directory, under DefaultRuntimeDir, unless
 * RemoteAssistTokenKeysCache names one. */
#define RA_KEYS_DEFAULT_CACHE "remoteassist-keys"

/* A section's keys from a file (RemoteAssistTokenKey, or with secret
 * RemoteAssistTokenSecret) at path: parsed once per configuration however
 * many sections name it. A file that no longer parses at a graceful
 * restart leaves the keys it held at the last good parse, with an error
 * logged; at start-up it is a directive error. NULL with *error. */
const ra_keyset_t *ra_keys_load_file(cmd_parms *cmd, int secret, const char *path,
                                     const char **error);

/* RemoteAssistTokenKeysCache (main server only): the directory of the
 * cache files, kept with the configuration it belongs to. */
const char *ra_keys_set_cache(cmd_parms *cmd, void *dcfg, const char *dir);

/* The cache directory of the configuration in pconf: RemoteAssistTokenKeysCache,
 * else DefaultRuntimeDir/RA_KEYS_DEFAULT_CACHE. */
const char *ra_keys_cache_directory(apr_pool_t *pconf);

/* How a source is fetched: the directives of the sections that use it. */
typedef struct {
    const char *ca;    /* RemoteAssistTokenCA; NULL: the system's CA store */
    int refresh;       /* RemoteAssistTokenKeysRefresh, seconds */
    int min_interval;  /* RemoteAssistTokenKeysMinInterval, seconds */
    int allow_http;    /* RemoteAssistTokenAllowHttp */
} ra_keys_fetch_t;

typedef struct ra_key_source ra_key_source_t;

/* The source for the URL of cmd's directive: a JWKS, or with metadata an
 * OpenID Connect discovery document. Sections naming the same URL share
 * one. NULL with *error when url is not an http(s) URL. */
ra_key_source_t *ra_keys_source(cmd_parms *cmd, int metadata, const char *url,
                                const char **error);

/* "RemoteAssistTokenMetadataUrl https://...", for log lines. */
const char *ra_keys_source_name(const ra_key_source_t *src);

/* check_config: how a section that serves requests fetches src. Returns 0,
 * or 1 after logging why not (plain http:// without
 * RemoteAssistTokenAllowHttp, or sections that disagree about a URL). */
int ra_keys_check_source(server_rec *s, ra_key_source_t *src, const ra_keys_fetch_t *fetch,
                         const char *where);

/* ra_keys_post_config, the hook that sets up the shared memory, the cache
 * directory, each source's first keys and the fetcher: mod_ra_hooks.h. */

/* The snapshot r verifies tokens with, held until r's pool is cleared;
 * NULL when src's keys have not arrived yet. */
const ra_fetched_keys_t *ra_keys_current(request_rec *r, const ra_key_source_t *src);

/* The first source in use whose keys have not arrived (its name), or NULL
 * when every one has keys: for the health check. */
const char *ra_keys_missing(const server_rec *s);

/* After a token's kid was unknown to held: a newer snapshot, from an early
 * refresh this request asked for or one in flight, waited for at most
 * RA_KEYS_WAIT seconds and never under a lock; NULL when none came. */
const ra_fetched_keys_t *ra_keys_after_unknown_kid(request_rec *r, const ra_key_source_t *src,
                                                   const ra_fetched_keys_t *held,
                                                   const char *request_id);

/* The longest a request waits for an early refresh. */
#define RA_KEYS_WAIT 5

#endif
