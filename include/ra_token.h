/* Bearer token (JWS compact serialisation) verification for mod_remoteassist.
 *
 * Pure logic over APR, jansson, cjose and OpenSSL: no httpd symbols, so the
 * unit tests and the benchmark driver link it without a server. A key set is
 * read-only once parsed, so one may be shared by every worker thread; key
 * sets fetched from a URL are replaced by new ones (see ra_keys.h), never
 * changed.
 */
#ifndef RA_TOKEN_H
#define RA_TOKEN_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

/* Graph's permissions for this resource, delegated (scp) or application
 * (roles): reads take either, writes the second. Beta list and get also
 * take the third as an application permission. */
#define RA_TOKEN_READ_PERMISSION "DeviceManagementServiceConfig.Read.All"
#define RA_TOKEN_WRITE_PERMISSION "DeviceManagementServiceConfig.ReadWrite.All"
#define RA_TOKEN_BETA_APP_READ_PERMISSION "DeviceManagementConfiguration.Read.All"

/* Tenant id of personal Microsoft accounts: delegated use is "not supported". */
#define RA_TOKEN_MSA_TENANT "9188040d-6c67-4c5b-b112-36a304b66dad"

/* Longest token accepted before any decoding (httpd's default header limit is 8190). */
#define RA_TOKEN_MAX_LENGTH 16384

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

/* The placeholder an accepted issuer may hold (Microsoft's multi-tenant
 * metadata does: https://login.microsoftonline.com/{tenantid}/v2.0). */
#define RA_TOKEN_TENANT_PLACEHOLDER "{tenantid}"

typedef struct {
    const apr_array_header_t *audiences; /* const char *; one must match aud */
    const apr_array_header_t *issuers;   /* const char *; NULL or empty: any;
                                          * may hold RA_TOKEN_TENANT_PLACEHOLDER */
    int leeway;                          /* seconds of clock skew allowed */
} ra_token_policy_t;

/* Whether iss is the accepted issuer, where each RA_TOKEN_TENANT_PLACEHOLDER
 * in accepted stands for the token's own tid (which must then be a
 * non-empty string): how multi-tenant applications check the issuer of
 * tokens from every tenant. */
int ra_token_issuer_matches(const char *accepted, const char *iss, const char *tid);

typedef enum {
    RA_TOKEN_OK = 0,
    RA_TOKEN_MISSING,          /* no credentials at all */
    RA_TOKEN_MALFORMED,        /* not a JWS, bad base64url/JSON, bad claim types */
    RA_TOKEN_BAD_ALGORITHM,    /* none, unknown, or not matching the key type */
    RA_TOKEN_UNKNOWN_KEY,      /* kid not in the key set */
    RA_TOKEN_BAD_SIGNATURE,
    RA_TOKEN_EXPIRED,
    RA_TOKEN_NOT_YET_VALID,
    RA_TOKEN_BAD_AUDIENCE,
    RA_TOKEN_BAD_ISSUER,
    RA_TOKEN_NO_TENANT,        /* no tid claim: tenants are kept apart by it */
    /* valid token, but the caller may not do this (HTTP 403) */
    RA_TOKEN_NO_PERMISSION,
    RA_TOKEN_PERSONAL_ACCOUNT
} ra_token_status_e;

typedef struct {
    const char *reason;  /* why it failed; names claims, never quotes the token */
    const char *alg;     /* header alg, when it could be read */
    const char *kid;     /* header kid, when present */
    /* of a verified token: */
    const char *caller;  /* oid, else sub */
    const char *tenant;  /* tid */
    int application;     /* no scp: an application (app-only) token, granted roles */
    const char *scopes;  /* scp, space-separated (delegated tokens) */
    apr_array_header_t *roles; /* const char *: the roles claim */
    int cached;          /* the signature check was the cache's, earlier */
} ra_token_result_t;

typedef enum {
    RA_ACCESS_READ,   /* list, get, $count */
    RA_ACCESS_WRITE   /* create, update, delete, actions */
} ra_access_e;

/* Extracts the token from an Authorization header value ("Bearer <token>",
 * scheme case-insensitive). Returns NULL when the header is not a bearer
 * credential of plausible form. */
const char *ra_token_from_authorization(apr_pool_t *pool, const char *header);

/* Verifies signature, time, audience, issuer and tenant of token at time
 * now, and reads the caller's grants. The result's strings are allocated
 * from pool. Whether the grants permit an operation: ra_token_authorize. */
ra_token_status_e ra_token_verify(apr_pool_t *pool, const ra_keyset_t *keys,
                                  const ra_token_policy_t *policy,
                                  const char *token, apr_time_t now,
                                  ra_token_result_t *result);

/* ra_token_verify with a cache of verified tokens (ra_token_cache.h; NULL:
 * none): a token it holds for keys skips the signature and the claims'
 * parse; time, audience, issuer and tenant are checked all the same. */
typedef struct ra_token_cache ra_token_cache_t;
ra_token_status_e ra_token_verify_cached(apr_pool_t *pool, ra_token_cache_t *cache,
                                         const ra_keyset_t *keys,
                                         const ra_token_policy_t *policy,
                                         const char *token, apr_time_t now,
                                         ra_token_result_t *result);

/* Whether a verified token may have access: RA_TOKEN_OK, or (403)
 * RA_TOKEN_PERSONAL_ACCOUNT or RA_TOKEN_NO_PERMISSION with *reason set.
 * beta: the request is for the beta API. */
ra_token_status_e ra_token_authorize(const ra_token_result_t *token, ra_access_e access,
                                     int beta, const char **reason);

/* The permission a 403 names for access (WWW-Authenticate scope=). */
const char *ra_token_permission(ra_access_e access);

/* Stable machine-readable name of a status, for logs and error_description. */
const char *ra_token_status_name(ra_token_status_e status);

/* 1 when the status answers 403 (authenticated, not authorised), else 401. */
int ra_token_status_is_forbidden(ra_token_status_e status);

#endif
