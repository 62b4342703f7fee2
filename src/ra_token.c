/* Bearer token verification against a key set (ra_keyset.h): cjose for JWS
 * parsing and signatures, jansson for claims. The algorithm is never chosen
 * by the token alone: the key set lets a key verify only the algorithms its
 * type supports. */
#include "ra_token.h"
#include "ra_jose.h"
#include "ra_token_cache.h"

#include <math.h>
#include <string.h>

#include <apr_strings.h>

#include <cjose/cjose.h>
#include <jansson.h>

const char *ra_token_from_authorization(apr_pool_t *pool, const char *header)
{
    const char *token;
    apr_size_t len;

    if (!header || strncasecmp(header, "Bearer ", 7)) {
        return NULL;
    }
    for (token = header + 7; *token == ' '; token++)
        ;
    /* RFC 6750 b64token: base64url and '.', plus the padding some issuers add */
    len = strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789-._~+/=");
    if (len == 0 || len > RA_TOKEN_MAX_LENGTH || token[len + strspn(token + len, " ")]) {
        return NULL;
    }
    return apr_pstrmemdup(pool, token, len);
}

static ra_token_status_e fail(ra_token_result_t *result, ra_token_status_e status,
                              const char *reason)
{
    result->reason = reason;
    return status;
}

/* Diagnoses a token the gate or cjose would not import: a readable header
 * whose alg is none or unknown is an algorithm error; with a usable alg, the
 * fault is elsewhere and the token is malformed. */
static ra_token_status_e diagnose_import(apr_pool_t *pool, const char *token, size_t len,
                                         ra_token_result_t *result)
{
    json_t *hdr = ra_jose_header(token, len);
    ra_token_status_e status = fail(result, RA_TOKEN_MALFORMED,
                                    "the token is not a signed JWT (JWS compact form)");
    const char *alg = json_string_value(json_object_get(hdr, "alg"));

    if (alg && !ra_keyset_algorithm_known(alg)) {
        result->alg = ra_jose_printable(pool, alg);
        status = fail(result, RA_TOKEN_BAD_ALGORITHM,
                      apr_psprintf(pool, "algorithm %s is not accepted", result->alg));
    }
    json_decref(hdr);
    return status;
}

/* Finds a key for alg/kid and verifies the signature with it. */
static ra_token_status_e verify_signature(apr_pool_t *pool, const ra_keyset_t *keys,
                                          cjose_jws_t *jws, const char *alg,
                                          const char *kid, ra_token_result_t *result)
{
    switch (ra_keyset_verify(keys, jws, alg, kid)) {
    case RA_KEYSET_VERIFIED:
        return RA_TOKEN_OK;
    case RA_KEYSET_UNKNOWN_KID:
        return fail(result, RA_TOKEN_UNKNOWN_KEY, "no signing key has the token's kid");
    case RA_KEYSET_ALGORITHM_MISMATCH:
        return fail(result, RA_TOKEN_BAD_ALGORITHM,
                    apr_psprintf(pool, "algorithm %s does not match the signing key", alg));
    default:
        return fail(result, RA_TOKEN_BAD_SIGNATURE, "the signature is invalid");
    }
}

/* NumericDate claim: absent is fine unless required; present must be finite. */
static int numeric_date(json_t *claims, const char *name, int required, double *value)
{
    json_t *v = json_object_get(claims, name);
    if (!v) {
        *value = NAN;
        return !required;
    }
    *value = json_number_value(v);
    return json_is_number(v) && isfinite(*value);
}

static int string_matches_any(const char *value, const apr_array_header_t *list)
{
    for (int i = 0; value && i < list->nelts; i++) {
        if (!strcmp(value, APR_ARRAY_IDX(list, i, const char *))) {
            return 1;
        }
    }
    return 0;
}

int ra_token_issuer_matches(const char *accepted, const char *iss, const char *tid)
{
    static const size_t placeholder_len = sizeof(RA_TOKEN_TENANT_PLACEHOLDER) - 1;
    size_t tid_len = tid ? strlen(tid) : 0;

    if (!accepted || !iss) {
        return 0;
    }
    for (;;) {
        const char *placeholder = strstr(accepted, RA_TOKEN_TENANT_PLACEHOLDER);
        size_t literal = placeholder ? (size_t)(placeholder - accepted) : strlen(accepted);
        if (strncmp(accepted, iss, literal)) {
            return 0;
        }
        iss += literal;
        if (!placeholder) {
            return *iss == '\0';
        }
        if (tid_len == 0 || strncmp(iss, tid, tid_len)) {
            return 0;
        }
        iss += tid_len;
        accepted = placeholder + placeholder_len;
    }
}

static int issuer_ok(const char *iss, const char *tid, const apr_array_header_t *issuers)
{
    for (int i = 0; i < issuers->nelts; i++) {
        if (ra_token_issuer_matches(APR_ARRAY_IDX(issuers, i, const char *), iss, tid)) {
            return 1;
        }
    }
    return 0;
}

static int audience_ok(json_t *aud, const apr_array_header_t *audiences)
{
    if (json_is_array(aud)) {
        for (size_t i = 0; i < json_array_size(aud); i++) {
            if (string_matches_any(json_string_value(json_array_get(aud, i)), audiences)) {
                return 1;
            }
        }
        return 0;
    }
    return string_matches_any(json_string_value(aud), audiences);
}

static int scope_listed(const char *scopes, const char *wanted)
{
    size_t n = strlen(wanted);
    if (!scopes) {
        return 0;
    }
    for (const char *p = scopes; (p = strstr(p, wanted)) != NULL; p += n) {
        if ((p == scopes || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ')) {
            return 1;
        }
    }
    return 0;
}

static ra_token_status_e check_time(apr_pool_t *pool, json_t *claims,
                                    const ra_token_policy_t *policy, apr_time_t now,
                                    ra_token_result_t *result)
{
    double exp, nbf, iat, t = (double)apr_time_sec(now);

    if (!numeric_date(claims, "exp", 1, &exp) || !numeric_date(claims, "nbf", 0, &nbf)
        || !numeric_date(claims, "iat", 0, &iat)) {
        return fail(result, RA_TOKEN_MALFORMED,
                    "exp is required; exp, nbf and iat must be NumericDate numbers");
    }
    /* compared as doubles: no overflow on absurd values such as 1e300 */
    if (t > exp + policy->leeway) {
        return fail(result, RA_TOKEN_EXPIRED,
                    apr_psprintf(pool, "the token expired %.6g s ago (leeway %d s)",
                                 t - exp, policy->leeway));
    }
    if (t + policy->leeway < nbf) {
        return fail(result, RA_TOKEN_NOT_YET_VALID,
                    apr_psprintf(pool, "the token is not valid for another %.6g s "
                                 "(leeway %d s)", nbf - t, policy->leeway));
    }
    if (t + policy->leeway < iat) {
        return fail(result, RA_TOKEN_NOT_YET_VALID,
                    apr_psprintf(pool, "the token was issued %.6g s in the future "
                                 "(leeway %d s)", iat - t, policy->leeway));
    }
    return RA_TOKEN_OK;
}

/* Audience, issuer, tenant and the caller's identity and grants; whether the
 * grants permit an operation is ra_token_authorize's question. */
static ra_token_status_e check_claims(apr_pool_t *pool, json_t *claims,
                                      const ra_token_policy_t *policy,
                                      ra_token_result_t *result)
{
    json_t *scp = json_object_get(claims, "scp");
    json_t *roles = json_object_get(claims, "roles");

    if (!audience_ok(json_object_get(claims, "aud"), policy->audiences)) {
        return fail(result, RA_TOKEN_BAD_AUDIENCE,
                    "the token's aud is not an accepted audience");
    }
    if (policy->issuers && policy->issuers->nelts > 0
        && !issuer_ok(json_string_value(json_object_get(claims, "iss")),
                      json_string_value(json_object_get(claims, "tid")), policy->issuers)) {
        return fail(result, RA_TOKEN_BAD_ISSUER, "the token's iss is not an accepted issuer");
    }
    if ((scp && !json_is_string(scp)) || (roles && !json_is_array(roles))) {
        return fail(result, RA_TOKEN_MALFORMED,
                    "scp must be a string and roles an array of strings");
    }
    result->tenant = ra_jose_string_member(pool, claims, "tid");
    if (!result->tenant || !*result->tenant) {
        return fail(result, RA_TOKEN_NO_TENANT, "the token has no tid (tenant) claim");
    }
    result->caller = ra_jose_string_member(pool, claims, "oid");
    if (!result->caller) {
        result->caller = ra_jose_string_member(pool, claims, "sub");
    }
    result->upn = ra_jose_string_member(pool, claims, "upn");
    if (!result->upn) {
        result->upn = ra_jose_string_member(pool, claims, "preferred_username");
    }
    result->app_id = ra_jose_string_member(pool, claims, "appid");
    if (!result->app_id) {
        result->app_id = ra_jose_string_member(pool, claims, "azp");
    }
    result->application = scp == NULL;
    result->scopes = scp ? apr_pstrdup(pool, json_string_value(scp)) : NULL;
    result->roles = apr_array_make(pool, (int)json_array_size(roles), sizeof(const char *));
    for (size_t i = 0; i < json_array_size(roles); i++) {
        const char *role = json_string_value(json_array_get(roles, i));
        if (role) {
            APR_ARRAY_PUSH(result->roles, const char *) = apr_pstrdup(pool, role);
        }
    }
    return RA_TOKEN_OK;
}

/* The permissions that grant each access, strongest last. */
static const char *const read_permissions[] = { RA_TOKEN_READ_PERMISSION,
                                                RA_TOKEN_WRITE_PERMISSION, NULL };
static const char *const write_permissions[] = { RA_TOKEN_WRITE_PERMISSION, NULL };
static const char *const audit_permissions[] = { RA_TOKEN_AUDIT_READ_PERMISSION,
                                                 RA_TOKEN_AUDIT_WRITE_PERMISSION, NULL };

static int granted(const ra_token_result_t *token, const char *permission)
{
    if (!token->application) {
        return scope_listed(token->scopes, permission);
    }
    for (int i = 0; i < token->roles->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(token->roles, i, const char *), permission)) {
            return 1;
        }
    }
    return 0;
}

ra_token_status_e ra_token_authorize(const ra_token_result_t *token, ra_access_e access,
                                     int beta, const char **reason)
{
    const char *const *accepted = access == RA_ACCESS_READ ? read_permissions
                                  : access == RA_ACCESS_AUDIT ? audit_permissions
                                                              : write_permissions;
    if (!token->application && !strcmp(token->tenant, RA_TOKEN_MSA_TENANT)) {
        *reason = "personal Microsoft accounts are not supported";
        return RA_TOKEN_PERSONAL_ACCOUNT;
    }
    for (; *accepted; accepted++) {
        if (granted(token, *accepted)) {
            return RA_TOKEN_OK;
        }
    }
    /* Graph's beta list and get also take this application permission */
    if (access == RA_ACCESS_READ && beta && token->application
        && granted(token, RA_TOKEN_BETA_APP_READ_PERMISSION)) {
        return RA_TOKEN_OK;
    }
    *reason = access == RA_ACCESS_READ
              ? "the token grants neither " RA_TOKEN_READ_PERMISSION " nor "
                RA_TOKEN_WRITE_PERMISSION
              : access == RA_ACCESS_AUDIT
              ? "the token grants neither " RA_TOKEN_AUDIT_READ_PERMISSION " nor "
                RA_TOKEN_AUDIT_WRITE_PERMISSION
              : "the token does not grant " RA_TOKEN_WRITE_PERMISSION;
    return RA_TOKEN_NO_PERMISSION;
}

const char *ra_token_permission(ra_access_e access)
{
    return access == RA_ACCESS_READ ? RA_TOKEN_READ_PERMISSION
           : access == RA_ACCESS_AUDIT ? RA_TOKEN_AUDIT_READ_PERMISSION
                                       : RA_TOKEN_WRITE_PERMISSION;
}

/* The signature and the claims' parse, what the cache saves: *claims gets
 * the claims object of a token one of keys signed. */
static ra_token_status_e verify_jws(apr_pool_t *pool, const ra_keyset_t *keys,
                                    cjose_jws_t *jws, ra_token_result_t *result,
                                    json_t **claims)
{
    cjose_header_t *hdr = cjose_jws_get_protected(jws);
    json_t *kid = json_object_get((json_t *)hdr, "kid");
    uint8_t *payload;
    size_t payload_len;
    ra_token_status_e status;

    result->alg = apr_pstrdup(pool, cjose_header_get(hdr, CJOSE_HDR_ALG, NULL));
    if (kid && !json_is_string(kid)) {
        return fail(result, RA_TOKEN_MALFORMED, "kid must be a string");
    }
    result->kid = kid ? ra_jose_printable(pool, json_string_value(kid)) : NULL;
    if (json_object_get((json_t *)hdr, "crit")) {
        return fail(result, RA_TOKEN_MALFORMED, "critical header extensions are not supported");
    }
    status = verify_signature(pool, keys, jws, result->alg,
                              kid ? json_string_value(kid) : NULL, result);
    if (status != RA_TOKEN_OK) {
        return status;
    }
    if (!cjose_jws_get_plaintext(jws, &payload, &payload_len, NULL)) {
        return fail(result, RA_TOKEN_MALFORMED, "the token has no payload");
    }
    *claims = json_loadb((const char *)payload, payload_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(*claims)) {
        json_decref(*claims);
        *claims = NULL;
        return fail(result, RA_TOKEN_MALFORMED, "the token's claims are not a JSON object");
    }
    return RA_TOKEN_OK;
}

/* What depends on the request: time, audience, issuer, tenant. */
static ra_token_status_e check_policy(apr_pool_t *pool, json_t *claims,
                                      const ra_token_policy_t *policy, apr_time_t now,
                                      ra_token_result_t *result)
{
    ra_token_status_e status = check_time(pool, claims, policy, now, result);
    return status == RA_TOKEN_OK ? check_claims(pool, claims, policy, result) : status;
}

typedef struct {
    apr_pool_t *pool;
    const ra_token_policy_t *policy;
    apr_time_t now;
    ra_token_result_t *result;
    ra_token_status_e status;
} cached_check_t;

static void check_cached(json_t *claims, void *baton)
{
    cached_check_t *c = baton;
    c->status = check_policy(c->pool, claims, c->policy, c->now, c->result);
}

ra_token_status_e ra_token_verify_cached(apr_pool_t *pool, ra_token_cache_t *cache,
                                         const ra_keyset_t *keys,
                                         const ra_token_policy_t *policy,
                                         const char *token, apr_time_t now,
                                         ra_token_result_t *result)
{
    ra_token_cache_key_t key;
    cached_check_t cached = { pool, policy, now, result, RA_TOKEN_OK };
    json_t *claims = NULL;
    ra_token_status_e status;

    memset(result, 0, sizeof(*result));
    if (!token) {
        return fail(result, RA_TOKEN_MISSING, "no bearer token");
    }
    size_t len = strlen(token);
    if (len > RA_TOKEN_MAX_LENGTH) {
        return fail(result, RA_TOKEN_MALFORMED, "the token is too long");
    }
    if (cache) {
        ra_token_cache_key(token, len, &key);
        if (ra_token_cache_use(cache, &key, ra_keyset_generation(keys),
                               (double)apr_time_sec(now), pool, &result->alg, &result->kid,
                               check_cached, &cached)) {
            result->cached = 1;
            return cached.status;
        }
    }
    cjose_jws_t *jws = ra_jose_jws_import(token, len);
    if (!jws) {
        return diagnose_import(pool, token, len, result);
    }
    status = verify_jws(pool, keys, jws, result, &claims);
    cjose_jws_release(jws);
    if (status == RA_TOKEN_OK) {
        status = check_policy(pool, claims, policy, now, result);
    }
    /* only tokens that passed everything: a failure is never remembered, nor
     * a token in its leeway after exp, which no later use would find */
    double exp = claims ? json_number_value(json_object_get(claims, "exp")) : 0;
    if (status == RA_TOKEN_OK && cache && exp > (double)apr_time_sec(now)) {
        ra_token_cache_put(cache, &key, ra_keyset_generation(keys), claims, exp,
                           result->alg, result->kid);
    }
    else {
        json_decref(claims);
    }
    return status;
}

ra_token_status_e ra_token_verify(apr_pool_t *pool, const ra_keyset_t *keys,
                                  const ra_token_policy_t *policy,
                                  const char *token, apr_time_t now,
                                  ra_token_result_t *result)
{
    return ra_token_verify_cached(pool, NULL, keys, policy, token, now, result);
}

const char *ra_token_status_name(ra_token_status_e status)
{
    switch (status) {
    case RA_TOKEN_OK: return "ok";
    case RA_TOKEN_MISSING: return "missing";
    case RA_TOKEN_MALFORMED: return "malformed";
    case RA_TOKEN_BAD_ALGORITHM: return "bad_algorithm";
    case RA_TOKEN_UNKNOWN_KEY: return "unknown_kid";
    case RA_TOKEN_BAD_SIGNATURE: return "bad_signature";
    case RA_TOKEN_EXPIRED: return "expired";
    case RA_TOKEN_NOT_YET_VALID: return "not_yet_valid";
    case RA_TOKEN_BAD_AUDIENCE: return "bad_audience";
    case RA_TOKEN_BAD_ISSUER: return "bad_issuer";
    case RA_TOKEN_NO_TENANT: return "no_tenant";
    case RA_TOKEN_NO_PERMISSION: return "insufficient_permission";
    case RA_TOKEN_PERSONAL_ACCOUNT: return "personal_account";
    }
    return "unknown";
}

int ra_token_status_is_forbidden(ra_token_status_e status)
{
    return status == RA_TOKEN_NO_PERMISSION || status == RA_TOKEN_PERSONAL_ACCOUNT;
}
