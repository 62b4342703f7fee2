/* Bearer token verification: cjose for JWS parsing and signatures, jansson
 * for claims, OpenSSL only to turn PEM keys into JWKs. The algorithm is never
 * chosen by the token alone: it must be one the selected key's type supports
 * (RSA: RS*, PS*; EC: the ES* of its curve; oct: HS*), so an RSA public key can
 * never serve as an HMAC secret. */
#include "ra_token.h"
#include "ra_jose.h"
#include "ra_token_cache.h"

#include <math.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define RA_KEY_FILE_MAX (1024 * 1024)
#define RA_RSA_MIN_BITS 2048
#define RA_HMAC_MIN_BYTES 32

typedef struct {
    cjose_jwk_t *jwk;
    const char *kid;  /* NULL: the key matches any kid */
    const char *alg;  /* the JWK's own "alg" pin, or NULL */
    cjose_jwk_kty_t kty;
    const char *ec_alg;   /* EC keys: the one ES* algorithm of the curve */
    size_t hmac_bytes;    /* oct keys: secret length */
} ra_key_t;

struct ra_keyset {
    apr_array_header_t *keys; /* ra_key_t */
    apr_uint64_t generation;  /* see ra_keyset_generation */
};

/* The last generation handed out in this process. */
static apr_uint64_t last_generation;

/* Every JWS algorithm some key type can verify (see key_accepts). */
static const char *const known_algorithms[] = { "RS256", "RS384", "RS512", "PS256",
                                                "PS384", "PS512", "ES256", "ES384",
                                                "ES512", "HS256", "HS384", "HS512" };
#define KNOWN_ALGORITHMS (sizeof(known_algorithms) / sizeof(known_algorithms[0]))

static apr_status_t keyset_release(void *data)
{
    ra_keyset_t *set = data;
    for (int i = 0; i < set->keys->nelts; i++) {
        cjose_jwk_release(APR_ARRAY_IDX(set->keys, i, ra_key_t).jwk);
    }
    set->keys->nelts = 0;
    return APR_SUCCESS;
}

static ra_keyset_t *keyset_make(apr_pool_t *pool)
{
    ra_keyset_t *set = apr_palloc(pool, sizeof(*set));
    set->keys = apr_array_make(pool, 2, sizeof(ra_key_t));
    /* key sets are parsed by several threads at once (one per child that
     * takes a refresh): the counter is atomic */
    set->generation = __atomic_add_fetch(&last_generation, 1, __ATOMIC_RELAXED);
    apr_pool_cleanup_register(pool, set, keyset_release, apr_pool_cleanup_null);
    return set;
}

int ra_keyset_count(const ra_keyset_t *keys)
{
    return keys ? keys->keys->nelts : 0;
}

apr_uint64_t ra_keyset_generation(const ra_keyset_t *keys)
{
    return keys ? keys->generation : 0;
}

static const char *ec_alg_for_curve(cjose_jwk_ec_curve crv)
{
    switch (crv) {
    case CJOSE_JWK_EC_P_256: return "ES256";
    case CJOSE_JWK_EC_P_384: return "ES384";
    case CJOSE_JWK_EC_P_521: return "ES512";
    default: return NULL;
    }
}

static int key_accepts(const ra_key_t *key, const char *alg);
static const char *safe_copy(apr_pool_t *pool, const char *value);

/* Adds jwk to set (taking ownership) after checking it is usable for signatures. */
static const char *keyset_add(apr_pool_t *pool, ra_keyset_t *set,
                              cjose_jwk_t *jwk, const char *kid, const char *alg)
{
    ra_key_t key = { jwk, kid, alg, cjose_jwk_get_kty(jwk, NULL), NULL, 0 };

    if (key.kty == CJOSE_JWK_KTY_RSA) {
        size_t bits = cjose_jwk_get_keysize(jwk, NULL);
        if (bits < RA_RSA_MIN_BITS) {
            cjose_jwk_release(jwk);
            return apr_psprintf(pool, "RSA key of %" APR_SIZE_T_FMT " bits is "
                                "too small (%d minimum)", bits, RA_RSA_MIN_BITS);
        }
    }
    else if (key.kty == CJOSE_JWK_KTY_EC) {
        key.ec_alg = ec_alg_for_curve(cjose_jwk_EC_get_curve(jwk, NULL));
        if (!key.ec_alg) {
            cjose_jwk_release(jwk);
            return "EC key on an unsupported curve (P-256, P-384, P-521 only)";
        }
    }
    else {
        key.hmac_bytes = cjose_jwk_get_keysize(jwk, NULL) / 8;
    }
    /* a pin no token could satisfy would refuse every token, silently */
    if (alg && !key_accepts(&key, alg)) {
        cjose_jwk_release(jwk);
        return apr_psprintf(pool, "its alg %s cannot be verified with a key of its type",
                            alg);
    }
    APR_ARRAY_PUSH(set->keys, ra_key_t) = key;
    return NULL;
}

static const char *read_key_file(apr_pool_t *pool, const char *path,
                                 char **data, apr_size_t *len)
{
    apr_file_t *file;
    apr_finfo_t info;
    char errbuf[128];
    apr_status_t rv = apr_file_open(&file, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                                    APR_FPROT_OS_DEFAULT, pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&info, APR_FINFO_SIZE | APR_FINFO_TYPE, file);
    }
    if (rv != APR_SUCCESS) {
        return apr_psprintf(pool, "cannot read %s: %s", path,
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    if (info.filetype != APR_REG || info.size > RA_KEY_FILE_MAX) {
        apr_file_close(file);
        return apr_psprintf(pool, "%s is not a regular file of at most %d bytes",
                            path, RA_KEY_FILE_MAX);
    }
    *data = apr_palloc(pool, (apr_size_t)info.size + 1);
    rv = apr_file_read_full(file, *data, (apr_size_t)info.size, len);
    apr_file_close(file);
    if (rv != APR_SUCCESS && !(APR_STATUS_IS_EOF(rv) && *len == 0)) {
        return apr_psprintf(pool, "cannot read %s: %s", path,
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    (*data)[*len] = '\0';
    return NULL;
}

/* Big-endian bytes of a BIGNUM key parameter, left-padded to width when > 0. */
static uint8_t *pkey_param_bytes(apr_pool_t *pool, const EVP_PKEY *pkey,
                                 const char *name, int width, size_t *len)
{
    BIGNUM *bn = NULL;
    uint8_t *out = NULL;
    if (EVP_PKEY_get_bn_param(pkey, name, &bn) == 1) {
        int n = width > 0 ? width : BN_num_bytes(bn);
        out = apr_palloc(pool, (apr_size_t)n);
        if (BN_bn2binpad(bn, out, n) == n) {
            *len = (size_t)n;
        }
        else {
            out = NULL;
        }
    }
    BN_free(bn);
    return out;
}

static cjose_jwk_t *jwk_from_pkey(apr_pool_t *pool, const EVP_PKEY *pkey,
                                  const char **error)
{
    cjose_err err;
    cjose_jwk_t *jwk = NULL;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        cjose_jwk_rsa_keyspec spec;
        memset(&spec, 0, sizeof(spec));
        spec.n = pkey_param_bytes(pool, pkey, OSSL_PKEY_PARAM_RSA_N, 0, &spec.nlen);
        spec.e = pkey_param_bytes(pool, pkey, OSSL_PKEY_PARAM_RSA_E, 0, &spec.elen);
        if (spec.n && spec.e) {
            jwk = cjose_jwk_create_RSA_spec(&spec, &err);
        }
    }
    else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        cjose_jwk_ec_keyspec spec;
        int width;
        memset(&spec, 0, sizeof(spec));
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                            group, sizeof(group), NULL)) {
            group[0] = '\0';
        }
        if (!strcmp(group, "prime256v1")) {
            spec.crv = CJOSE_JWK_EC_P_256, width = 32;
        }
        else if (!strcmp(group, "secp384r1")) {
            spec.crv = CJOSE_JWK_EC_P_384, width = 48;
        }
        else if (!strcmp(group, "secp521r1")) {
            spec.crv = CJOSE_JWK_EC_P_521, width = 66;
        }
        else {
            *error = apr_psprintf(pool, "EC curve %s is not supported "
                                  "(P-256, P-384, P-521 only)", group);
            return NULL;
        }
        spec.x = pkey_param_bytes(pool, pkey, OSSL_PKEY_PARAM_EC_PUB_X, width, &spec.xlen);
        spec.y = pkey_param_bytes(pool, pkey, OSSL_PKEY_PARAM_EC_PUB_Y, width, &spec.ylen);
        if (spec.x && spec.y) {
            jwk = cjose_jwk_create_EC_spec(&spec, &err);
        }
    }
    else {
        *error = "only RSA and EC public keys are supported";
        return NULL;
    }
    if (!jwk) {
        *error = "the public key could not be converted";
    }
    return jwk;
}

static const char *load_pem(apr_pool_t *pool, ra_keyset_t *set, const char *path,
                            const char *data, apr_size_t len)
{
    const char *error = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_mem_buf(data, (int)len);

    if (strstr(data, "-----BEGIN CERTIFICATE-----")) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert) {
            pkey = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }
    else {
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    if (!pkey) {
        return apr_psprintf(pool, "%s holds no PEM public key, certificate "
                            "or JWKS", path);
    }
    cjose_jwk_t *jwk = jwk_from_pkey(pool, pkey, &error);
    EVP_PKEY_free(pkey);
    if (!jwk) {
        return apr_psprintf(pool, "%s: %s", path, error);
    }
    error = keyset_add(pool, set, jwk, NULL, NULL);
    return error ? apr_psprintf(pool, "%s: %s", path, error) : NULL;
}

static const char *json_member_string(apr_pool_t *pool, json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? apr_pstrdup(pool, json_string_value(v)) : NULL;
}

static const char *load_jwk(apr_pool_t *pool, ra_keyset_t *set, json_t *key,
                            const char *where)
{
    const char *use = json_member_string(pool, key, "use");
    const char *kty = json_member_string(pool, key, "kty");
    const char *error = NULL;

    if (use && strcmp(use, "sig")) {
        return NULL; /* an encryption key: not ours to use */
    }
    if (!kty || (strcmp(kty, "RSA") && strcmp(kty, "EC"))) {
        return apr_psprintf(pool, "%s: kty must be \"RSA\" or \"EC\" (HMAC "
                            "secrets belong in RemoteAssistTokenSecret)", where);
    }
    if (json_object_get(key, "d")) {
        return apr_psprintf(pool, "%s is a private key; give the public key only", where);
    }
    cjose_jwk_t *jwk = ra_jose_jwk_import(pool, key, &error);
    if (!jwk) {
        return apr_psprintf(pool, "%s is not a valid JWK: %s", where, error);
    }
    error = keyset_add(pool, set, jwk, json_member_string(pool, key, "kid"),
                       json_member_string(pool, key, "alg"));
    return error ? apr_psprintf(pool, "%s: %s", where, error) : NULL;
}

/* A JWKS, or (single_jwk) one JWK object. With skipped, an unusable key is
 * listed there rather than refusing the document (ra_keyset_parse_jwks). */
static const char *load_jwks(apr_pool_t *pool, ra_keyset_t *set, const char *path,
                             const char *data, apr_size_t len, int single_jwk,
                             apr_array_header_t *skipped)
{
    json_error_t jerr;
    const char *error = NULL;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *keys = doc ? json_object_get(doc, "keys") : NULL;

    if (!doc) {
        return apr_psprintf(pool, "%s: invalid JSON at line %d: %s", path,
                            jerr.line, jerr.text);
    }
    if (json_is_array(keys)) {
        for (size_t i = 0; i < json_array_size(keys) && !error; i++) {
            json_t *key = json_array_get(keys, i);
            const char *kid = json_string_value(json_object_get(key, "kid"));
            error = load_jwk(pool, set, key,
                             apr_psprintf(pool, "%s: keys[%" APR_SIZE_T_FMT "]%s%s%s", path,
                                          i, kid ? " (kid " : "", kid ? safe_copy(pool, kid)
                                                                      : "", kid ? ")" : ""));
            if (error && skipped) {
                APR_ARRAY_PUSH(skipped, const char *) = error;
                error = NULL;
            }
        }
    }
    else if (single_jwk && json_is_object(doc) && json_object_get(doc, "kty")) {
        error = load_jwk(pool, set, doc, path);
    }
    else {
        error = apr_psprintf(pool, "%s: a JWKS needs a \"keys\" array", path);
    }
    json_decref(doc);
    return error;
}

const char *ra_keyset_read_file(apr_pool_t *pool, const char *path, char **data,
                                apr_size_t *len)
{
    return read_key_file(pool, path, data, len);
}

ra_keyset_t *ra_keyset_parse_public(apr_pool_t *pool, const char *source, const char *data,
                                    apr_size_t len, const char **error)
{
    ra_keyset_t *set = keyset_make(pool);
    const char *first;

    /* the parsers below want a NUL-terminated copy */
    char *text = apr_pstrmemdup(pool, data, len);
    for (first = text; apr_isspace(*first); first++)
        ;
    *error = *first == '{' ? load_jwks(pool, set, source, text, len, 1, NULL)
                           : load_pem(pool, set, source, text, len);
    if (!*error && set->keys->nelts == 0) {
        *error = apr_psprintf(pool, "%s holds no signature key", source);
    }
    return *error ? NULL : set;
}

ra_keyset_t *ra_keyset_parse_jwks(apr_pool_t *pool, const char *source, const char *data,
                                  apr_size_t len, apr_array_header_t *skipped,
                                  const char **error)
{
    ra_keyset_t *set = keyset_make(pool);

    *error = load_jwks(pool, set, source, data, len, 0, skipped);
    if (!*error && set->keys->nelts == 0) {
        *error = skipped && skipped->nelts > 0
                 ? apr_psprintf(pool, "%s holds no usable signature key: %s", source,
                                APR_ARRAY_IDX(skipped, 0, const char *))
                 : apr_psprintf(pool, "%s holds no signature key", source);
    }
    return *error ? NULL : set;
}

ra_keyset_t *ra_keyset_parse_secret(apr_pool_t *pool, const char *source, const char *data,
                                    apr_size_t len, const char **error)
{
    cjose_err err;

    while (len > 0 && apr_isspace(data[len - 1])) {
        len--;
    }
    while (len > 0 && apr_isspace(*data)) {
        data++, len--;
    }
    if (len < RA_HMAC_MIN_BYTES) {
        *error = apr_psprintf(pool, "%s: the secret has %" APR_SIZE_T_FMT
                              " bytes; HS256 needs at least %d", source, len,
                              RA_HMAC_MIN_BYTES);
        return NULL;
    }
    ra_keyset_t *set = keyset_make(pool);
    cjose_jwk_t *jwk = cjose_jwk_create_oct_spec((const uint8_t *)data, len, &err);
    if (!jwk) {
        *error = apr_psprintf(pool, "%s: %s", source, err.message);
        return NULL;
    }
    *error = keyset_add(pool, set, jwk, NULL, NULL);
    return *error ? NULL : set;
}

ra_keyset_t *ra_keyset_load_public(apr_pool_t *pool, const char *path,
                                   const char **error)
{
    char *data;
    apr_size_t len;

    *error = read_key_file(pool, path, &data, &len);
    return *error ? NULL : ra_keyset_parse_public(pool, path, data, len, error);
}

ra_keyset_t *ra_keyset_load_secret(apr_pool_t *pool, const char *path,
                                   const char **error)
{
    char *data;
    apr_size_t len;

    *error = read_key_file(pool, path, &data, &len);
    return *error ? NULL : ra_keyset_parse_secret(pool, path, data, len, error);
}

/* Whether key may verify a signature made with alg. */
static int key_accepts(const ra_key_t *key, const char *alg)
{
    if (key->alg && strcmp(key->alg, alg)) {
        return 0;
    }
    switch (key->kty) {
    case CJOSE_JWK_KTY_RSA:
        return (alg[0] == 'R' || alg[0] == 'P') && alg[1] == 'S'
               && (!strcmp(alg + 2, "256") || !strcmp(alg + 2, "384")
                   || !strcmp(alg + 2, "512"));
    case CJOSE_JWK_KTY_EC:
        return !strcmp(alg, key->ec_alg);
    case CJOSE_JWK_KTY_OCT:
        /* RFC 7518 3.2: the secret is at least as long as the hash */
        return (!strcmp(alg, "HS256") && key->hmac_bytes >= 32)
               || (!strcmp(alg, "HS384") && key->hmac_bytes >= 48)
               || (!strcmp(alg, "HS512") && key->hmac_bytes >= 64);
    default:
        return 0;
    }
}

const char *ra_keyset_algorithms(apr_pool_t *pool, const ra_keyset_t *keys)
{
    const char *list = NULL;
    for (size_t a = 0; a < KNOWN_ALGORITHMS; a++) {
        const char *alg = known_algorithms[a];
        for (int i = 0; i < keys->keys->nelts; i++) {
            if (key_accepts(&APR_ARRAY_IDX(keys->keys, i, ra_key_t), alg)) {
                list = list ? apr_pstrcat(pool, list, ",", alg, NULL) : alg;
                break;
            }
        }
    }
    return list ? list : "none";
}

const char *ra_keyset_kids(apr_pool_t *pool, const ra_keyset_t *keys)
{
    const char *list = NULL;
    for (int i = 0; i < keys->keys->nelts; i++) {
        const char *kid = APR_ARRAY_IDX(keys->keys, i, ra_key_t).kid;
        kid = kid ? safe_copy(pool, kid) : "-";
        list = list ? apr_pstrcat(pool, list, ",", kid, NULL) : kid;
    }
    return list ? list : "none";
}

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

/* Header values end up in logs and WWW-Authenticate: keep them only when
 * they are plain tokens. */
static const char *safe_copy(apr_pool_t *pool, const char *value)
{
    size_t len = strlen(value);
    if (len == 0 || len > 128
        || strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789+/=._-") != len) {
        return "(not printable)";
    }
    return apr_pstrdup(pool, value);
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
    int known = 0;

    for (size_t i = 0; alg && i < KNOWN_ALGORITHMS; i++) {
        known |= !strcmp(alg, known_algorithms[i]);
    }
    if (alg && !known) {
        result->alg = safe_copy(pool, alg);
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
    int kid_known = 0, alg_fits = 0;

    for (int i = 0; i < keys->keys->nelts; i++) {
        const ra_key_t *key = &APR_ARRAY_IDX(keys->keys, i, ra_key_t);
        if (kid && key->kid && strcmp(kid, key->kid)) {
            continue;
        }
        kid_known = 1;
        if (!key_accepts(key, alg)) {
            continue;
        }
        alg_fits = 1;
        if (cjose_jws_verify(jws, key->jwk, NULL)) {
            return RA_TOKEN_OK;
        }
    }
    if (!kid_known) {
        return fail(result, RA_TOKEN_UNKNOWN_KEY,
                    "no signing key has the token's kid");
    }
    if (!alg_fits) {
        return fail(result, RA_TOKEN_BAD_ALGORITHM,
                    apr_psprintf(pool, "algorithm %s does not match the signing key", alg));
    }
    return fail(result, RA_TOKEN_BAD_SIGNATURE, "the signature is invalid");
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
    result->tenant = json_member_string(pool, claims, "tid");
    if (!result->tenant || !*result->tenant) {
        return fail(result, RA_TOKEN_NO_TENANT, "the token has no tid (tenant) claim");
    }
    result->caller = json_member_string(pool, claims, "oid");
    if (!result->caller) {
        result->caller = json_member_string(pool, claims, "sub");
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
              : "the token does not grant " RA_TOKEN_WRITE_PERMISSION;
    return RA_TOKEN_NO_PERMISSION;
}

const char *ra_token_permission(ra_access_e access)
{
    return access == RA_ACCESS_READ ? RA_TOKEN_READ_PERMISSION : RA_TOKEN_WRITE_PERMISSION;
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
    result->kid = kid ? safe_copy(pool, json_string_value(kid)) : NULL;
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
        if (ra_token_cache_use(cache, &key, keys, (double)apr_time_sec(now), pool,
                               &result->alg, &result->kid, check_cached, &cached)) {
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
        ra_token_cache_put(cache, &key, keys, claims, exp, result->alg, result->kid);
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
