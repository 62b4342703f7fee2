/* Bearer token (JWS compact serialisation) verification for mod_remoteassist:
 * a token against a key set (ra_keyset.h) and a policy, and what the
 * verified token grants.
 *
 * Pure logic over APR, jansson and cjose: no httpd symbols, so the unit
 * tests and the benchmark driver link it without a server.
 */
#ifndef RA_TOKEN_H
#define RA_TOKEN_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ra_keyset.h"

/* Graph's permissions for this resource, delegated (scp) or application
 * (roles): reads take either, writes the second. Beta list and get also
 * take the third as an application permission. */
#define RA_TOKEN_READ_PERMISSION "DeviceManagementServiceConfig.Read.All"
#define RA_TOKEN_WRITE_PERMISSION "DeviceManagementServiceConfig.ReadWrite.All"
#define RA_TOKEN_BETA_APP_READ_PERMISSION "DeviceManagementConfiguration.Read.All"
#define RA_TOKEN_AUDIT_READ_PERMISSION "DeviceManagementApps.Read.All"
#define RA_TOKEN_AUDIT_WRITE_PERMISSION "DeviceManagementApps.ReadWrite.All"

/* Tenant id of personal Microsoft accounts: delegated use is "not supported". */
#define RA_TOKEN_MSA_TENANT "9188040d-6c67-4c5b-b112-36a304b66dad"

/* Longest token accepted before any decoding (httpd's default header limit is 8190). */
#define RA_TOKEN_MAX_LENGTH 16384

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
    const char *upn;     /* upn, else preferred_username (delegated tokens) */
    const char *app_id;  /* appid (v1.0 tokens), else azp (v2.0) */
    int application;     /* no scp: an application (app-only) token, granted roles */
    const char *scopes;  /* scp, space-separated (delegated tokens) */
    apr_array_header_t *roles; /* const char *: the roles claim */
    int cached;          /* the signature check was the cache's, earlier */
} ra_token_result_t;

typedef enum {
    RA_ACCESS_READ,   /* list, get, $count */
    RA_ACCESS_WRITE,  /* create, update, delete, actions */
    RA_ACCESS_AUDIT   /* audit events: Intune's DeviceManagementApps permissions */
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
