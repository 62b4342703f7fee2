/* Key files and documents -> key sets: PEM public keys and certificates
 * (OpenSSL turns them into JWKs), JWKS documents and single JWKs (through
 * the ra_jose gate), HMAC secrets. Every key is checked once, here, for what
 * it can verify (RSA: RS*, PS*; EC: the ES* of its curve; oct: HS*), so an
 * RSA public key can never serve as an HMAC secret. */
#include "ra_keyset.h"
#include "ra_jose.h"

#include <string.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

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

const char *ra_keyset_read_file(apr_pool_t *pool, const char *path, char **data,
                                apr_size_t *len)
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

static const char *load_jwk(apr_pool_t *pool, ra_keyset_t *set, json_t *key,
                            const char *where)
{
    const char *use = ra_jose_string_member(pool, key, "use");
    const char *kty = ra_jose_string_member(pool, key, "kty");
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
    error = keyset_add(pool, set, jwk, ra_jose_string_member(pool, key, "kid"),
                       ra_jose_string_member(pool, key, "alg"));
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
                                          i, kid ? " (kid " : "", kid ? ra_jose_printable(pool, kid)
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

    *error = ra_keyset_read_file(pool, path, &data, &len);
    return *error ? NULL : ra_keyset_parse_public(pool, path, data, len, error);
}

ra_keyset_t *ra_keyset_load_secret(apr_pool_t *pool, const char *path,
                                   const char **error)
{
    char *data;
    apr_size_t len;

    *error = ra_keyset_read_file(pool, path, &data, &len);
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
        kid = kid ? ra_jose_printable(pool, kid) : "-";
        list = list ? apr_pstrcat(pool, list, ",", kid, NULL) : kid;
    }
    return list ? list : "none";
}


int ra_keyset_algorithm_known(const char *alg)
{
    for (size_t i = 0; i < KNOWN_ALGORITHMS; i++) {
        if (!strcmp(alg, known_algorithms[i])) {
            return 1;
        }
    }
    return 0;
}

ra_keyset_verdict_e ra_keyset_verify(const ra_keyset_t *keys, cjose_jws_t *jws,
                                     const char *alg, const char *kid)
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
            return RA_KEYSET_VERIFIED;
        }
    }
    return !kid_known ? RA_KEYSET_UNKNOWN_KID
           : !alg_fits ? RA_KEYSET_ALGORITHM_MISMATCH : RA_KEYSET_BAD_SIGNATURE;
}
