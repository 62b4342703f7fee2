/* Signing keys from files and documents: a key set, the keys that verify
 * bearer tokens (ra_token.h). One home for the module's keys:
 *
 *   ra_keyset.h    (this file) key file formats -> key set, generation number
 *   ra_url_keys.h  keys from a URL: documents, fetched keys, the shared block,
 *                  a process's local keys
 *   mod_ra_keys.h  httpd glue: key file directives (keeping the last good
 *                  file over a restart), the fetcher, requests' keys
 *
 * Old name -> new name (issue 16):
 *   ra_keyset_* (ra_token.h/.c)          -> ra_keyset_* (ra_keyset.h/.c)
 *   ra_keys_check_url, _parse_metadata   -> ra_url_keys_check_url, _parse_metadata
 *   RA_KEYS_MAX_DOCUMENT, _MAX_BUNDLE    -> RA_URL_KEYS_MAX_DOCUMENT, _MAX_BUNDLE
 *   ra_keysnap_t (one good fetch)        -> ra_fetched_keys_t
 *   ra_keyshare_t (the shared block)     -> ra_shared_keys_t
 *   ra_keys_ask_e, RA_KEYS_*FETCH*       -> ra_shared_keys_ask_e, RA_SHARED_KEYS_*
 *   ra_keyring_t (a process's current)   -> ra_local_keys_t
 *   ra_keys_* (mod_ra_keys.h, the glue)  -> ra_keys_*, now the glue's alone
 *   load_keys (mod_ra_config.c)          -> ra_keys_load_file (mod_ra_keys.c)
 *
 * Pure logic over APR, jansson, cjose and OpenSSL: no httpd symbols. A key
 * set is read-only once parsed, so one may be shared by every worker
 * thread; key sets fetched from a URL are replaced by new ones, never
 * changed.
 */
#ifndef RA_KEYSET_H
#define RA_KEYSET_H

#include <apr_pools.h>
#include <apr_tables.h>

#include <cjose/cjose.h>

typedef struct ra_keyset ra_keyset_t;

/* Parses a PEM public key or certificate (RSA or EC P-256/P-384/P-521), or a
 * JWKS document ({"keys":[...]}, keys chosen by "kid"), from data; source
 * names it in errors. The keys are freed by a cleanup on pool. Returns NULL
 * with *error set on failure. */
ra_keyset_t *ra_keyset_parse_public(apr_pool_t *pool, const char *source, const char *data,
                                    apr_size_t len, const char **error);

/* Parses an HMAC secret (HS256/HS384/HS512); surrounding white space is
 * ignored and at least 32 bytes must remain. */
ra_keyset_t *ra_keyset_parse_secret(apr_pool_t *pool, const char *source, const char *data,
                                    apr_size_t len, const char **error);

/* Reads a key file of at most 1 MiB into pool memory: NULL, or why not. */
const char *ra_keyset_read_file(apr_pool_t *pool, const char *path, char **data,
                                apr_size_t *len);

/* ra_keyset_read_file, then the matching parse. */
ra_keyset_t *ra_keyset_load_public(apr_pool_t *pool, const char *path,
                                   const char **error);
ra_keyset_t *ra_keyset_load_secret(apr_pool_t *pool, const char *path,
                                   const char **error);

/* Parses a JWKS document ({"keys":[...]}) as an identity provider serves
 * it. With skipped NULL, as ra_keyset_parse_public does for a JWKS file:
 * any unusable key refuses the document. Otherwise a key that fails the
 * same checks (strict base64url members, RSA of 2048 bits or more, a
 * supported curve, an alg its type can verify, a public key) is left out
 * and *skipped gets "keys[i] (kid X): why" (allocated from pool), so that a
 * key type the module does not know cannot stop a rotation; the document
 * is refused only when no usable key remains. Encryption keys ("use" other
 * than "sig") are left out silently either way. */
ra_keyset_t *ra_keyset_parse_jwks(apr_pool_t *pool, const char *source, const char *data,
                                  apr_size_t len, apr_array_header_t *skipped,
                                  const char **error);

int ra_keyset_count(const ra_keyset_t *keys);

/* A number that tells key sets apart for a cache of verified tokens: each
 * key set parsed in this process gets a larger one than every key set
 * before it (a refresh from a URL included), so a result cached with one
 * generation is stale once the current key set has another. Key sets of
 * different processes, or of different configuration generations, may
 * share numbers. 0 for NULL. */
apr_uint64_t ra_keyset_generation(const ra_keyset_t *keys);

/* Comma-separated JWS algorithms the key set can verify, for log lines. */
const char *ra_keyset_algorithms(apr_pool_t *pool, const ra_keyset_t *keys);

/* Comma-separated kids of the key set ("-" for a key without one), for log
 * lines: they name keys, they are not key material. */
const char *ra_keyset_kids(apr_pool_t *pool, const ra_keyset_t *keys);

/* Whether alg is a JWS algorithm some key type can verify. */
int ra_keyset_algorithm_known(const char *alg);

typedef enum {
    RA_KEYSET_VERIFIED = 0,
    RA_KEYSET_UNKNOWN_KID,          /* no key has kid */
    RA_KEYSET_ALGORITHM_MISMATCH,   /* keys with kid, none can verify alg */
    RA_KEYSET_BAD_SIGNATURE         /* keys that could, none did */
} ra_keyset_verdict_e;

/* Verifies jws's signature with a key of keys that has kid (NULL: any key;
 * a key without a kid matches every kid) and can verify alg. */
ra_keyset_verdict_e ra_keyset_verify(const ra_keyset_t *keys, cjose_jws_t *jws,
                                     const char *alg, const char *kid);

#endif
