/* ra_token: key loading (PEM, certificate, JWKS, HMAC secret), bearer header
 * parsing and token verification. Keys are generated with OpenSSL when a test
 * case starts, written to a mkdtemp directory, and tokens are signed with
 * cjose from claims built with jansson. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ra_token.h"
#include "ra_token_cache.h"
#include "suites.h"

#define AUDIENCE "api://remoteassist"
#define AUDIENCE2 "https://graph.microsoft.com"
#define ISSUER "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"
#define TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define SECRET "0123456789abcdef0123456789abcdef" /* 32 bytes */
#define NOW_SEC 1700000000
#define LEEWAY 60

/* ---- suite-wide key material (an unchecked fixture, in the runner) ---- */

#define PATH_LEN 512

static struct {
    char dir[64];
    char rsa_pem[PATH_LEN], ec_pem[PATH_LEN], ec384_pem[PATH_LEN], rsa1024_pem[PATH_LEN];
    char cert_pem[PATH_LEN], rsa_private_pem[PATH_LEN], garbage[PATH_LEN], empty[PATH_LEN];
    char missing[PATH_LEN];
    char jwks[PATH_LEN], jwks_enc_only[PATH_LEN], jwks_private[PATH_LEN];
    char jwks_empty[PATH_LEN], jwks_1024[PATH_LEN], jwks_pinned[PATH_LEN];
    char jwk_single[PATH_LEN], jwks_oct[PATH_LEN], jwks_nokeys[PATH_LEN];
    char jwks_broken[PATH_LEN];
    char secret[PATH_LEN], secret_short[PATH_LEN], secret64[PATH_LEN];
} f;

static EVP_PKEY *rsa_key, *rsa2_key, *ec_key, *ec384_key, *rsa1024_key;
/* private signing keys */
static cjose_jwk_t *rsa_jwk, *rsa2_jwk, *ec_jwk, *ec384_jwk, *hmac_jwk, *hmac64_jwk;
/* HMAC keys made of the RSA public key's PEM text (the classic key confusion) */
static cjose_jwk_t *confusion_jwk, *confusion_trimmed_jwk;

static uint8_t *bn_param(const EVP_PKEY *pkey, const char *name, int width, size_t *len)
{
    BIGNUM *bn = NULL;
    ck_assert_msg(EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, "no key parameter %s", name);
    int n = width > 0 ? width : BN_num_bytes(bn);
    uint8_t *out = malloc((size_t)n);
    ck_assert_int_eq(BN_bn2binpad(bn, out, n), n);
    BN_free(bn);
    *len = (size_t)n;
    return out;
}

static cjose_jwk_t *private_rsa_jwk(const EVP_PKEY *pkey)
{
    cjose_jwk_rsa_keyspec spec;
    cjose_err err;
    memset(&spec, 0, sizeof(spec));
    spec.n = bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, 0, &spec.nlen);
    spec.e = bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, 0, &spec.elen);
    spec.d = bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, 0, &spec.dlen);
    spec.p = bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, 0, &spec.plen);
    spec.q = bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, 0, &spec.qlen);
    spec.dp = bn_param(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0, &spec.dplen);
    spec.dq = bn_param(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0, &spec.dqlen);
    spec.qi = bn_param(pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0, &spec.qilen);
    cjose_jwk_t *jwk = cjose_jwk_create_RSA_spec(&spec, &err);
    free(spec.n), free(spec.e), free(spec.d), free(spec.p), free(spec.q);
    free(spec.dp), free(spec.dq), free(spec.qi);
    ck_assert_msg(jwk != NULL, "cjose_jwk_create_RSA_spec: %s", err.message);
    return jwk;
}

static cjose_jwk_t *private_ec_jwk(const EVP_PKEY *pkey, cjose_jwk_ec_curve crv, int width)
{
    cjose_jwk_ec_keyspec spec;
    cjose_err err;
    memset(&spec, 0, sizeof(spec));
    spec.crv = crv;
    spec.d = bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, width, &spec.dlen);
    spec.x = bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, width, &spec.xlen);
    spec.y = bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, width, &spec.ylen);
    cjose_jwk_t *jwk = cjose_jwk_create_EC_spec(&spec, &err);
    free(spec.d), free(spec.x), free(spec.y);
    ck_assert_msg(jwk != NULL, "cjose_jwk_create_EC_spec: %s", err.message);
    return jwk;
}

static cjose_jwk_t *oct_jwk(const void *data, size_t len)
{
    cjose_err err;
    cjose_jwk_t *jwk = cjose_jwk_create_oct_spec(data, len, &err);
    ck_assert_msg(jwk != NULL, "cjose_jwk_create_oct_spec: %s", err.message);
    return jwk;
}

static void set_path(char *path, const char *name)
{
    snprintf(path, PATH_LEN, "%s/%s", f.dir, name);
}

static void write_bytes(char *path, const char *name, const void *data, size_t len)
{
    set_path(path, name);
    FILE *out = fopen(path, "wb");
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(fwrite(data, 1, len, out), len);
    ck_assert_int_eq(fclose(out), 0);
}

/* The PEM public key of pkey, malloc'd. */
static char *pem_public(EVP_PKEY *pkey, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, pkey), 1);
    long n = BIO_get_mem_data(bio, &data);
    char *copy = malloc((size_t)n + 1);
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    BIO_free(bio);
    *len = (size_t)n;
    return copy;
}

static void write_pem_public(char *path, const char *name, EVP_PKEY *pkey)
{
    size_t len;
    char *pem = pem_public(pkey, &len);
    write_bytes(path, name, pem, len);
    free(pem);
}

static void write_pem_private(char *path, const char *name, EVP_PKEY *pkey)
{
    set_path(path, name);
    BIO *bio = BIO_new_file(path, "w");
    ck_assert_ptr_nonnull(bio);
    ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    BIO_free(bio);
}

static void write_certificate(char *path, const char *name, EVP_PKEY *pkey)
{
    X509 *cert = X509_new();
    ck_assert_ptr_nonnull(cert);
    ck_assert_int_eq(X509_set_version(cert, 2), 1);
    ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(cert), 1), 1);
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(cert), 0));
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * 365));
    ck_assert_int_eq(X509_set_pubkey(cert, pkey), 1);
    X509_NAME *subject = X509_get_subject_name(cert);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"remoteassist test",
                                                -1, -1, 0), 1);
    ck_assert_int_eq(X509_set_issuer_name(cert, subject), 1);
    ck_assert_int_gt(X509_sign(cert, pkey, EVP_sha256()), 0);
    set_path(path, name);
    BIO *bio = BIO_new_file(path, "w");
    ck_assert_ptr_nonnull(bio);
    ck_assert_int_eq(PEM_write_bio_X509(bio, cert), 1);
    BIO_free(bio);
    X509_free(cert);
}

/* The JWK of jwk as JSON (public part unless priv), with kid/use/alg added. */
static json_t *jwk_json(const cjose_jwk_t *jwk, int priv, const char *kid, const char *use,
                        const char *alg)
{
    cjose_err err;
    char *text = cjose_jwk_to_json(jwk, priv != 0, &err);
    ck_assert_msg(text != NULL, "cjose_jwk_to_json: %s", err.message);
    json_t *json = json_loads(text, 0, NULL);
    cjose_get_dealloc()(text);
    ck_assert_ptr_nonnull(json);
    if (kid) {
        json_object_set_new(json, "kid", json_string(kid));
    }
    if (use) {
        json_object_set_new(json, "use", json_string(use));
    }
    if (alg) {
        json_object_set_new(json, "alg", json_string(alg));
    }
    return json;
}

/* Writes {"keys":[...]} with the given JWKs (references taken). */
static void write_jwks(char *path, const char *name, int n, ...)
{
    va_list ap;
    json_t *keys = json_array();
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        json_array_append_new(keys, va_arg(ap, json_t *));
    }
    va_end(ap);
    json_t *doc = json_pack("{s:o}", "keys", keys);
    set_path(path, name);
    ck_assert_int_eq(json_dump_file(doc, path, JSON_INDENT(2)), 0);
    json_decref(doc);
}

static void write_json(char *path, const char *name, json_t *doc)
{
    set_path(path, name);
    ck_assert_int_eq(json_dump_file(doc, path, 0), 0);
    json_decref(doc);
}

static void keys_setup(void)
{
    size_t len;

    snprintf(f.dir, sizeof(f.dir), "/tmp/ra_token_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f.dir));

    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa2_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa1024_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ck_assert_ptr_nonnull(rsa_key);
    ck_assert_ptr_nonnull(rsa2_key);
    ck_assert_ptr_nonnull(rsa1024_key);
    ck_assert_ptr_nonnull(ec_key);
    ck_assert_ptr_nonnull(ec384_key);

    rsa_jwk = private_rsa_jwk(rsa_key);
    rsa2_jwk = private_rsa_jwk(rsa2_key);
    ec_jwk = private_ec_jwk(ec_key, CJOSE_JWK_EC_P_256, 32);
    ec384_jwk = private_ec_jwk(ec384_key, CJOSE_JWK_EC_P_384, 48);
    hmac_jwk = oct_jwk(SECRET, strlen(SECRET));
    hmac64_jwk = oct_jwk(SECRET SECRET, 2 * strlen(SECRET));

    char *pem = pem_public(rsa_key, &len);
    write_bytes(f.rsa_pem, "rsa.pem", pem, len);
    confusion_jwk = oct_jwk(pem, len);
    confusion_trimmed_jwk = oct_jwk(pem, len - 1); /* without the final newline */
    free(pem);

    write_pem_public(f.ec_pem, "ec.pem", ec_key);
    write_pem_public(f.ec384_pem, "ec384.pem", ec384_key);
    write_pem_public(f.rsa1024_pem, "rsa1024.pem", rsa1024_key);
    write_certificate(f.cert_pem, "cert.pem", rsa_key);
    write_pem_private(f.rsa_private_pem, "rsa-private.pem", rsa_key);
    static const char garbage[] = "-----BEGIN PUBLIC KEY-----\nnot base64 at all!\n"
                                  "-----END PUBLIC KEY-----\n";
    write_bytes(f.garbage, "garbage.pem", garbage, strlen(garbage));
    write_bytes(f.empty, "empty.pem", "", 0);
    set_path(f.missing, "no-such-file.pem");

    write_jwks(f.jwks, "jwks.json", 4,
               jwk_json(rsa_jwk, 0, "rsa-1", "sig", NULL),
               jwk_json(ec_jwk, 0, "ec-1", NULL, NULL),
               jwk_json(rsa2_jwk, 0, "rsa-2", "sig", NULL),
               jwk_json(rsa2_jwk, 0, "enc-1", "enc", NULL));
    write_jwks(f.jwks_enc_only, "jwks-enc.json", 1, jwk_json(rsa_jwk, 0, "enc-1", "enc", NULL));
    write_jwks(f.jwks_private, "jwks-private.json", 1, jwk_json(rsa_jwk, 1, "priv", NULL, NULL));
    write_jwks(f.jwks_empty, "jwks-empty.json", 0);
    {
        cjose_jwk_t *small = private_rsa_jwk(rsa1024_key);
        write_jwks(f.jwks_1024, "jwks-1024.json", 1, jwk_json(small, 0, "small", NULL, NULL));
        cjose_jwk_release(small);
    }
    write_jwks(f.jwks_pinned, "jwks-pinned.json", 1,
               jwk_json(rsa_jwk, 0, "rsa-1", "sig", "RS256"));
    write_json(f.jwk_single, "jwk-single.json", jwk_json(ec_jwk, 0, "ec-1", NULL, NULL));
    write_jwks(f.jwks_oct, "jwks-oct.json", 1, jwk_json(hmac_jwk, 1, "oct-1", NULL, NULL));
    write_json(f.jwks_nokeys, "jwks-nokeys.json", json_pack("{s:i}", "foo", 1));
    write_bytes(f.jwks_broken, "jwks-broken.json", "{ \"keys\": [ ", 12);

    write_bytes(f.secret, "secret.txt", SECRET "\n", strlen(SECRET) + 1);
    write_bytes(f.secret_short, "secret-short.txt", "  0123456789abcdef0123456789abcde\n",
                strlen("  0123456789abcdef0123456789abcde\n"));
    write_bytes(f.secret64, "secret64.txt", "\n" SECRET SECRET "\r\n",
                2 * strlen(SECRET) + 3);
}

static void keys_teardown(void)
{
    cjose_jwk_release(rsa_jwk);
    cjose_jwk_release(rsa2_jwk);
    cjose_jwk_release(ec_jwk);
    cjose_jwk_release(ec384_jwk);
    cjose_jwk_release(hmac_jwk);
    cjose_jwk_release(hmac64_jwk);
    cjose_jwk_release(confusion_jwk);
    cjose_jwk_release(confusion_trimmed_jwk);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(rsa2_key);
    EVP_PKEY_free(rsa1024_key);
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(ec384_key);
    const char *files[] = { f.rsa_pem, f.ec_pem, f.ec384_pem, f.rsa1024_pem, f.cert_pem,
                            f.rsa_private_pem, f.garbage, f.empty, f.jwks, f.jwks_enc_only,
                            f.jwks_private, f.jwks_empty, f.jwks_1024, f.jwks_pinned,
                            f.jwk_single, f.jwks_oct, f.jwks_nokeys, f.jwks_broken,
                            f.secret, f.secret_short, f.secret64 };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (files[i][0]) {
            unlink(files[i]);
        }
    }
    rmdir(f.dir);
    memset(&f, 0, sizeof(f));
}

/* ---- per-test pool and helpers ---- */


static const ra_keyset_t *load_public(const char *path)
{
    const char *error = NULL;
    const ra_keyset_t *keys = ra_keyset_load_public(pool, path, &error);
    ck_assert_msg(keys != NULL, "%s: %s", path, error ? error : "(no error)");
    ck_assert_ptr_null(error);
    return keys;
}

static const char *load_public_error(const char *path)
{
    const char *error = NULL;
    const ra_keyset_t *keys = ra_keyset_load_public(pool, path, &error);
    ck_assert_msg(keys == NULL, "%s was loaded", path);
    ck_assert_ptr_nonnull(error);
    return error;
}

static const ra_keyset_t *load_secret(const char *path)
{
    const char *error = NULL;
    const ra_keyset_t *keys = ra_keyset_load_secret(pool, path, &error);
    ck_assert_msg(keys != NULL, "%s: %s", path, error ? error : "(no error)");
    return keys;
}

static char *b64url(const void *data, size_t len)
{
    char *out = NULL;
    size_t out_len = 0;
    cjose_err err;
    ck_assert(cjose_base64url_encode(data, len, &out, &out_len, &err));
    char *copy = apr_pstrmemdup(pool, out, out_len);
    cjose_get_dealloc()(out);
    return copy;
}

/* The standard claims of a delegated token valid at NOW_SEC. */
static json_t *claims(void)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s}",
                          "aud", AUDIENCE, "iss", ISSUER,
                          "iat", (json_int_t)(NOW_SEC - 300),
                          "nbf", (json_int_t)(NOW_SEC - 300),
                          "exp", (json_int_t)(NOW_SEC + 3600),
                          "scp", "User.Read " RA_TOKEN_WRITE_PERMISSION,
                          "tid", TENANT, "oid", "oid-1", "sub", "sub-1");
    ck_assert_ptr_nonnull(c);
    return c;
}

/* Signs payload with jwk under header (both references taken). */
static const char *sign_raw(const cjose_jwk_t *jwk, json_t *header, const char *payload,
                            size_t len)
{
    cjose_err err;
    const char *compact = NULL;
    cjose_jws_t *jws = cjose_jws_sign(jwk, (cjose_header_t *)header, (const uint8_t *)payload,
                                      len, &err);
    json_decref(header);
    ck_assert_msg(jws != NULL, "cjose_jws_sign: %s", err.message);
    ck_assert(cjose_jws_export(jws, &compact, &err));
    char *copy = apr_pstrdup(pool, compact);
    cjose_jws_release(jws);
    return copy;
}

static json_t *header(const char *alg, const char *kid)
{
    json_t *h = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
    if (kid) {
        json_object_set_new(h, "kid", json_string(kid));
    }
    return h;
}

/* Signs claims c (reference taken). */
static const char *sign(const cjose_jwk_t *jwk, const char *alg, const char *kid, json_t *c)
{
    char *payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    ck_assert_ptr_nonnull(payload);
    const char *token = sign_raw(jwk, header(alg, kid), payload, strlen(payload));
    free(payload);
    return token;
}

/* The claims with one member replaced (value NULL: removed). */
static json_t *with(json_t *c, const char *name, json_t *value)
{
    if (value) {
        json_object_set_new(c, name, value);
    }
    else {
        json_object_del(c, name);
    }
    return c;
}

static apr_array_header_t *list(int n, ...)
{
    va_list ap;
    apr_array_header_t *a = apr_array_make(pool, n > 0 ? n : 1, sizeof(const char *));
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        APR_ARRAY_PUSH(a, const char *) = va_arg(ap, const char *);
    }
    va_end(ap);
    return a;
}

static ra_token_status_e verify_with(const ra_keyset_t *keys, const apr_array_header_t *issuers,
                                     int leeway, const char *token, ra_token_result_t *result)
{
    ra_token_policy_t policy = { list(2, AUDIENCE2, AUDIENCE), issuers, leeway };
    return ra_token_verify(pool, keys, &policy, token, apr_time_from_sec(NOW_SEC), result);
}

static ra_token_status_e verify(const ra_keyset_t *keys, const char *token,
                                ra_token_result_t *result)
{
    return verify_with(keys, NULL, LEEWAY, token, result);
}

#define assert_status(got, want, result)                                              \
    do {                                                                              \
        ra_token_status_e got_ = (got);                                               \
        ck_assert_msg(got_ == (want), "status %s, expected %s (reason: %s)",          \
                      ra_token_status_name(got_), ra_token_status_name(want),         \
                      (result).reason ? (result).reason : "none");                    \
    } while (0)

/* Verifies claims c signed with the RSA key against its PEM key set. */
static ra_token_status_e verify_claims(json_t *c, ra_token_result_t *result)
{
    return verify(load_public(f.rsa_pem), sign(rsa_jwk, "RS256", NULL, c), result);
}

/* ---- key loading ---- */

START_TEST(load_pem_rsa)
{
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    ck_assert_int_eq(ra_keyset_count(keys), 1);
    ck_assert_str_eq(ra_keyset_algorithms(pool, keys), "RS256,RS384,RS512,PS256,PS384,PS512");
}
END_TEST

START_TEST(load_pem_ec)
{
    const ra_keyset_t *keys = load_public(f.ec_pem);
    ck_assert_int_eq(ra_keyset_count(keys), 1);
    ck_assert_str_eq(ra_keyset_algorithms(pool, keys), "ES256");
    keys = load_public(f.ec384_pem);
    ck_assert_int_eq(ra_keyset_count(keys), 1);
    ck_assert_str_eq(ra_keyset_algorithms(pool, keys), "ES384");
}
END_TEST

START_TEST(load_certificate)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.cert_pem);
    ck_assert_int_eq(ra_keyset_count(keys), 1);
    ck_assert_str_eq(ra_keyset_algorithms(pool, keys), "RS256,RS384,RS512,PS256,PS384,PS512");
    /* the certificate's key is the RSA key, and only that one */
    assert_status(verify(keys, sign(rsa_jwk, "RS256", NULL, claims()), &r), RA_TOKEN_OK, r);
    assert_status(verify(keys, sign(rsa2_jwk, "RS256", NULL, claims()), &r),
                  RA_TOKEN_BAD_SIGNATURE, r);
}
END_TEST

START_TEST(load_jwks_several)
{
    const ra_keyset_t *keys = load_public(f.jwks);
    /* rsa-1, ec-1, rsa-2; enc-1 is an encryption key and skipped */
    ck_assert_int_eq(ra_keyset_count(keys), 3);
    ck_assert_str_eq(ra_keyset_algorithms(pool, keys),
                     "RS256,RS384,RS512,PS256,PS384,PS512,ES256");
}
END_TEST

START_TEST(load_jwks_kid_selects_key)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.jwks);
    assert_status(verify(keys, sign(rsa2_jwk, "RS256", "rsa-2", claims()), &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.kid, "rsa-2");
    assert_status(verify(keys, sign(rsa_jwk, "RS256", "rsa-1", claims()), &r), RA_TOKEN_OK, r);
    /* signed by rsa-1 but naming rsa-2 */
    assert_status(verify(keys, sign(rsa_jwk, "RS256", "rsa-2", claims()), &r),
                  RA_TOKEN_BAD_SIGNATURE, r);
    /* the skipped encryption key is not there to verify with */
    assert_status(verify(keys, sign(rsa2_jwk, "RS256", "enc-1", claims()), &r),
                  RA_TOKEN_UNKNOWN_KEY, r);
    /* no kid: every key is tried */
    assert_status(verify(keys, sign(rsa2_jwk, "RS256", NULL, claims()), &r), RA_TOKEN_OK, r);
    ck_assert_ptr_null(r.kid);
}
END_TEST

START_TEST(load_jwks_enc_only_rejected)
{
    const char *error = load_public_error(f.jwks_enc_only);
    ck_assert_msg(strstr(error, "no signature key") != NULL, "error: %s", error);
}
END_TEST

START_TEST(load_jwks_private_rejected)
{
    const char *error = load_public_error(f.jwks_private);
    ck_assert_msg(strstr(error, "private key") != NULL, "error: %s", error);
}
END_TEST

START_TEST(load_jwks_empty_rejected)
{
    const char *error = load_public_error(f.jwks_empty);
    ck_assert_msg(strstr(error, "no signature key") != NULL, "error: %s", error);
}
END_TEST

START_TEST(load_jwks_other_errors)
{
    const char *error = load_public_error(f.jwks_oct);
    ck_assert_msg(strstr(error, "kty") != NULL, "error: %s", error);
    error = load_public_error(f.jwks_nokeys);
    ck_assert_msg(strstr(error, "\"keys\" array") != NULL, "error: %s", error);
    error = load_public_error(f.jwks_broken);
    ck_assert_msg(strstr(error, "invalid JSON") != NULL, "error: %s", error);
    error = load_public_error(f.jwks_1024);
    ck_assert_msg(strstr(error, "too small") != NULL, "error: %s", error);
}
END_TEST

START_TEST(load_single_jwk)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.jwk_single);
    ck_assert_int_eq(ra_keyset_count(keys), 1);
    ck_assert_str_eq(ra_keyset_algorithms(pool, keys), "ES256");
    assert_status(verify(keys, sign(ec_jwk, "ES256", "ec-1", claims()), &r), RA_TOKEN_OK, r);
}
END_TEST

START_TEST(load_jwks_alg_pin)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.jwks_pinned);
    ck_assert_str_eq(ra_keyset_algorithms(pool, keys), "RS256");
    assert_status(verify(keys, sign(rsa_jwk, "RS256", "rsa-1", claims()), &r), RA_TOKEN_OK, r);
    assert_status(verify(keys, sign(rsa_jwk, "PS256", "rsa-1", claims()), &r),
                  RA_TOKEN_BAD_ALGORITHM, r);
}
END_TEST

/* A JWK pinned to an algorithm its key type cannot verify would refuse
 * every token: it is a load error, which apachectl -t shows (RA00008). */
START_TEST(load_jwk_alg_that_cannot_fit_is_refused)
{
    static const struct {
        int ec;
        const char *alg;
    } pins[] = { { 0, "HS256" }, { 0, "ES256" }, { 0, "none" }, { 0, "XS256" },
                 { 1, "RS256" }, { 1, "ES384" }, { 1, "HS256" } };
    for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
        char path[PATH_LEN];
        write_jwks(path, "jwks-bad-pin.json", 1,
                   jwk_json(pins[i].ec ? ec_jwk : rsa_jwk, 0, "k", "sig", pins[i].alg));
        const char *error = load_public_error(path);
        ck_assert_msg(strstr(error, pins[i].alg) && strstr(error, "cannot be verified"),
                      "%s: %s", pins[i].alg, error);
        unlink(path);
    }
}
END_TEST

START_TEST(load_missing_file)
{
    const char *error = load_public_error(f.missing);
    ck_assert_msg(strstr(error, "cannot read") != NULL, "error: %s", error);
    ck_assert_msg(strstr(error, f.missing) != NULL, "error does not name the file: %s", error);
    error = NULL;
    ck_assert_ptr_null(ra_keyset_load_secret(pool, f.missing, &error));
    ck_assert_ptr_nonnull(error);
}
END_TEST

START_TEST(load_garbage_rejected)
{
    const char *error = load_public_error(f.garbage);
    ck_assert_msg(strstr(error, "no PEM public key") != NULL, "error: %s", error);
    error = load_public_error(f.empty);
    ck_assert_msg(strstr(error, "no PEM public key") != NULL, "error: %s", error);
    /* a private key PEM is not a public key */
    error = load_public_error(f.rsa_private_pem);
    ck_assert_msg(strstr(error, "no PEM public key") != NULL, "error: %s", error);
    /* a directory */
    error = load_public_error(f.dir);
    ck_assert_ptr_nonnull(error);
}
END_TEST

START_TEST(load_rsa_1024_rejected)
{
    const char *error = load_public_error(f.rsa1024_pem);
    ck_assert_msg(strstr(error, "1024") != NULL && strstr(error, "too small") != NULL,
                  "error: %s", error);
}
END_TEST

START_TEST(load_secret_ok)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_secret(f.secret);
    ck_assert_int_eq(ra_keyset_count(keys), 1);
    ck_assert_str_eq(ra_keyset_algorithms(pool, keys), "HS256");
    /* the trailing newline is not part of the secret */
    assert_status(verify(keys, sign(hmac_jwk, "HS256", NULL, claims()), &r), RA_TOKEN_OK, r);
    /* a 32-byte secret is too short for HS384/HS512 (RFC 7518 3.2) */
    assert_status(verify(keys, sign(hmac_jwk, "HS512", NULL, claims()), &r),
                  RA_TOKEN_BAD_ALGORITHM, r);
}
END_TEST

START_TEST(load_secret_64)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_secret(f.secret64);
    ck_assert_str_eq(ra_keyset_algorithms(pool, keys), "HS256,HS384,HS512");
    assert_status(verify(keys, sign(hmac64_jwk, "HS512", NULL, claims()), &r), RA_TOKEN_OK, r);
    assert_status(verify(keys, sign(hmac64_jwk, "HS384", NULL, claims()), &r), RA_TOKEN_OK, r);
}
END_TEST

START_TEST(load_secret_too_short)
{
    const char *error = NULL;
    ck_assert_ptr_null(ra_keyset_load_secret(pool, f.secret_short, &error));
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, "31 bytes") != NULL, "error: %s", error);
    error = NULL;
    ck_assert_ptr_null(ra_keyset_load_secret(pool, f.empty, &error));
    ck_assert_ptr_nonnull(error);
}
END_TEST

START_TEST(keyset_count_null)
{
    ck_assert_int_eq(ra_keyset_count(NULL), 0);
}
END_TEST

/* ---- ra_token_from_authorization ---- */

START_TEST(authorization_header)
{
    const char *t;
    t = ra_token_from_authorization(pool, "Bearer abc.def.ghi");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, "abc.def.ghi");
    t = ra_token_from_authorization(pool, "bearer abc.def.ghi");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, "abc.def.ghi");
    t = ra_token_from_authorization(pool, "BEARER abc");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, "abc");
    t = ra_token_from_authorization(pool, "Bearer    a-b_c.d~e+f/g==   ");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, "a-b_c.d~e+f/g==");

    ck_assert_ptr_null(ra_token_from_authorization(pool, NULL));
    ck_assert_ptr_null(ra_token_from_authorization(pool, ""));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer "));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer     "));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearerabc"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Basic dXNlcjpwYXNz"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Negotiate abc"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer abc def"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer abc<script>"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer abc\"def"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer abc,def"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer abc\tdef"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer abc\r\nX: y"));
    ck_assert_ptr_null(ra_token_from_authorization(pool, "Bearer abc\xc3\xa9"));
}
END_TEST

START_TEST(authorization_header_length)
{
    char *header = apr_palloc(pool, 7 + RA_TOKEN_MAX_LENGTH + 2);
    memcpy(header, "Bearer ", 7);
    memset(header + 7, 'a', RA_TOKEN_MAX_LENGTH);
    header[7 + RA_TOKEN_MAX_LENGTH] = '\0';
    const char *t = ra_token_from_authorization(pool, header);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(strlen(t), RA_TOKEN_MAX_LENGTH);
    header[7 + RA_TOKEN_MAX_LENGTH] = 'a';
    header[7 + RA_TOKEN_MAX_LENGTH + 1] = '\0';
    ck_assert_ptr_null(ra_token_from_authorization(pool, header));
}
END_TEST

/* ---- ra_token_verify: algorithms and keys ---- */

START_TEST(verify_rs256)
{
    ra_token_result_t r;
    const char *token = sign(rsa_jwk, "RS256", NULL, claims());
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.alg, "RS256");
    ck_assert_ptr_null(r.kid);
    ck_assert_str_eq(r.caller, "oid-1");
    ck_assert_int_eq(r.application, 0);
}
END_TEST

START_TEST(verify_other_rsa_algorithms)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    static const char *const algs[] = { "RS384", "RS512", "PS256", "PS384", "PS512" };
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        assert_status(verify(keys, sign(rsa_jwk, algs[i], NULL, claims()), &r), RA_TOKEN_OK, r);
        ck_assert_str_eq(r.alg, algs[i]);
    }
}
END_TEST

START_TEST(verify_es256_jwks_kid)
{
    ra_token_result_t r;
    const char *token = sign(ec_jwk, "ES256", "ec-1", claims());
    assert_status(verify(load_public(f.jwks), token, &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.alg, "ES256");
    ck_assert_str_eq(r.kid, "ec-1");
    assert_status(verify(load_public(f.ec_pem), token, &r), RA_TOKEN_OK, r);
}
END_TEST

START_TEST(verify_es384_pem)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.ec384_pem);
    assert_status(verify(keys, sign(ec384_jwk, "ES384", NULL, claims()), &r), RA_TOKEN_OK, r);
    /* a P-384 key verifies ES384 only */
    assert_status(verify(keys, sign(ec_jwk, "ES256", NULL, claims()), &r),
                  RA_TOKEN_BAD_ALGORITHM, r);
}
END_TEST

START_TEST(verify_hs256)
{
    ra_token_result_t r;
    const char *token = sign(hmac_jwk, "HS256", NULL, claims());
    assert_status(verify(load_secret(f.secret), token, &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.alg, "HS256");
    /* an HMAC token against public keys */
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_BAD_ALGORITHM, r);
}
END_TEST

START_TEST(verify_alg_none)
{
    ra_token_result_t r;
    json_t *c = claims();
    char *payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    const char *body = b64url(payload, strlen(payload));
    free(payload);
    const ra_keyset_t *keys = load_public(f.rsa_pem);

    const char *token = apr_pstrcat(pool, "eyJhbGciOiJub25lIn0.", body, ".", NULL);
    assert_status(verify(keys, token, &r), RA_TOKEN_BAD_ALGORITHM, r);
    ck_assert_str_eq(r.alg, "none");

    const char *hdr = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    token = apr_pstrcat(pool, b64url(hdr, strlen(hdr)), ".", body, ".", NULL);
    assert_status(verify(keys, token, &r), RA_TOKEN_BAD_ALGORITHM, r);

    hdr = "{\"alg\":\"NONE\"}";
    token = apr_pstrcat(pool, b64url(hdr, strlen(hdr)), ".", body, ".", NULL);
    assert_status(verify(load_secret(f.secret), token, &r), RA_TOKEN_BAD_ALGORITHM, r);

    /* alg none with a made-up signature */
    token = apr_pstrcat(pool, "eyJhbGciOiJub25lIn0.", body, ".c2ln", NULL);
    assert_status(verify(keys, token, &r), RA_TOKEN_BAD_ALGORITHM, r);
}
END_TEST

START_TEST(verify_key_confusion)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    const char *token = sign(confusion_jwk, "HS256", NULL, claims());
    ra_token_status_e status = verify(keys, token, &r);
    ck_assert_int_ne(status, RA_TOKEN_OK);
    assert_status(status, RA_TOKEN_BAD_ALGORITHM, r);
    token = sign(confusion_trimmed_jwk, "HS256", NULL, claims());
    assert_status(verify(keys, token, &r), RA_TOKEN_BAD_ALGORITHM, r);
    /* the same through the certificate and the JWKS */
    assert_status(verify(load_public(f.cert_pem), token, &r), RA_TOKEN_BAD_ALGORITHM, r);
    token = sign(confusion_jwk, "HS256", "rsa-1", claims());
    assert_status(verify(load_public(f.jwks), token, &r), RA_TOKEN_BAD_ALGORITHM, r);
}
END_TEST

START_TEST(verify_rs256_against_ec)
{
    ra_token_result_t r;
    const char *token = sign(rsa_jwk, "RS256", NULL, claims());
    assert_status(verify(load_public(f.ec_pem), token, &r), RA_TOKEN_BAD_ALGORITHM, r);
    ck_assert_str_eq(r.alg, "RS256");
    /* ES256 against an RSA-only key set */
    token = sign(ec_jwk, "ES256", NULL, claims());
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_BAD_ALGORITHM, r);
}
END_TEST

START_TEST(verify_unknown_kid)
{
    ra_token_result_t r;
    const char *token = sign(rsa_jwk, "RS256", "nope", claims());
    assert_status(verify(load_public(f.jwks), token, &r), RA_TOKEN_UNKNOWN_KEY, r);
    ck_assert_str_eq(r.kid, "nope");
    /* a PEM key has no kid and serves any */
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.kid, "nope");
}
END_TEST

/* token with its part index part replaced by text */
static const char *replace_part(const char *token, int part, const char *text)
{
    const char *d1 = strchr(token, '.');
    const char *d2 = strchr(d1 + 1, '.');
    const char *head = apr_pstrmemdup(pool, token, (apr_size_t)(d1 - token));
    const char *body = apr_pstrmemdup(pool, d1 + 1, (apr_size_t)(d2 - d1 - 1));
    const char *sig = d2 + 1;
    return apr_pstrcat(pool, part == 0 ? text : head, ".", part == 1 ? text : body, ".",
                       part == 2 ? text : sig, NULL);
}

START_TEST(verify_tampered)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    const char *token = sign(rsa_jwk, "RS256", NULL, claims());
    json_t *c = with(claims(), "oid", json_string("someone-else"));
    char *payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    const char *forged = replace_part(token, 1, b64url(payload, strlen(payload)));
    free(payload);
    assert_status(verify(keys, forged, &r), RA_TOKEN_BAD_SIGNATURE, r);
    ck_assert_ptr_null(r.caller);

    /* one signature character changed */
    char *sig = apr_pstrdup(pool, strrchr(token, '.') + 1);
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_status(verify(keys, replace_part(token, 2, sig), &r), RA_TOKEN_BAD_SIGNATURE, r);
    /* the signature of another token */
    const char *other = sign(rsa_jwk, "RS256", NULL, with(claims(), "sub", json_string("x")));
    assert_status(verify(keys, replace_part(token, 2, strrchr(other, '.') + 1), &r),
                  RA_TOKEN_BAD_SIGNATURE, r);
    /* HS256 and ES256 */
    token = sign(hmac_jwk, "HS256", NULL, claims());
    sig = apr_pstrdup(pool, strrchr(token, '.') + 1);
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_status(verify(load_secret(f.secret), replace_part(token, 2, sig), &r),
                  RA_TOKEN_BAD_SIGNATURE, r);
    token = sign(ec_jwk, "ES256", NULL, claims());
    sig = apr_pstrdup(pool, strrchr(token, '.') + 1);
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_status(verify(load_public(f.ec_pem), replace_part(token, 2, sig), &r),
                  RA_TOKEN_BAD_SIGNATURE, r);
    /* and the RS256 token with its signature removed */
    token = sign(rsa_jwk, "RS256", NULL, claims());
    assert_status(verify(keys, replace_part(token, 2, ""), &r), RA_TOKEN_BAD_SIGNATURE, r);
}
END_TEST

/* Header-supplied keys (jwk, jku, x5u) are never trusted: a token signed by
 * an attacker who embeds their own public key still fails. */
START_TEST(verify_embedded_key_ignored)
{
    ra_token_result_t r;
    json_t *h = header("RS256", NULL);
    json_object_set_new(h, "jwk", jwk_json(rsa2_jwk, 0, NULL, NULL, NULL));
    json_object_set_new(h, "jku", json_string("https://evil.example/jwks.json"));
    json_t *c = claims();
    char *payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    const char *token = sign_raw(rsa2_jwk, h, payload, strlen(payload));
    free(payload);
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_BAD_SIGNATURE, r);
    assert_status(verify(load_public(f.jwks_pinned), token, &r), RA_TOKEN_BAD_SIGNATURE, r);
}
END_TEST

/* ---- ra_token_verify: time claims ---- */

START_TEST(verify_exp)
{
    ra_token_result_t r;
    json_int_t now = NOW_SEC;
    assert_status(verify_claims(with(claims(), "exp", json_integer(now - LEEWAY - 1)), &r),
                  RA_TOKEN_EXPIRED, r);
    assert_status(verify_claims(with(claims(), "exp", json_integer(now - 3600)), &r),
                  RA_TOKEN_EXPIRED, r);
    assert_status(verify_claims(with(claims(), "exp", json_integer(now - 30)), &r),
                  RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "exp", json_integer(now - LEEWAY)), &r),
                  RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "exp", json_real((double)now - 60.5)), &r),
                  RA_TOKEN_EXPIRED, r);
    /* no leeway */
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    const char *token = sign(rsa_jwk, "RS256", NULL, with(claims(), "exp",
                                                          json_integer(now - 1)));
    assert_status(verify_with(keys, NULL, 0, token, &r), RA_TOKEN_EXPIRED, r);
    assert_status(verify_with(keys, NULL, 5, token, &r), RA_TOKEN_OK, r);
}
END_TEST

START_TEST(verify_nbf_iat)
{
    ra_token_result_t r;
    json_int_t now = NOW_SEC;
    assert_status(verify_claims(with(claims(), "nbf", json_integer(now + LEEWAY + 1)), &r),
                  RA_TOKEN_NOT_YET_VALID, r);
    assert_status(verify_claims(with(claims(), "nbf", json_integer(now + LEEWAY)), &r),
                  RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "nbf", json_integer(now + 30)), &r),
                  RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "nbf", NULL), &r), RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "iat", json_integer(now + LEEWAY + 1)), &r),
                  RA_TOKEN_NOT_YET_VALID, r);
    assert_status(verify_claims(with(claims(), "iat", json_integer(now + 3600)), &r),
                  RA_TOKEN_NOT_YET_VALID, r);
    assert_status(verify_claims(with(claims(), "iat", json_integer(now + 30)), &r),
                  RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "iat", NULL), &r), RA_TOKEN_OK, r);
}
END_TEST

START_TEST(verify_exp_types)
{
    ra_token_result_t r;
    assert_status(verify_claims(with(claims(), "exp", NULL), &r), RA_TOKEN_MALFORMED, r);
    assert_status(verify_claims(with(claims(), "exp", json_string("1800000000")), &r),
                  RA_TOKEN_MALFORMED, r);
    assert_status(verify_claims(with(claims(), "exp", json_null()), &r), RA_TOKEN_MALFORMED, r);
    assert_status(verify_claims(with(claims(), "exp", json_true()), &r), RA_TOKEN_MALFORMED, r);
    assert_status(verify_claims(with(claims(), "exp", json_pack("[I]", (json_int_t)NOW_SEC)),
                                &r), RA_TOKEN_MALFORMED, r);
    assert_status(verify_claims(with(claims(), "nbf", json_string("0")), &r),
                  RA_TOKEN_MALFORMED, r);
    assert_status(verify_claims(with(claims(), "iat", json_string("0")), &r),
                  RA_TOKEN_MALFORMED, r);
    /* absurdly far, but a number: not expired */
    assert_status(verify_claims(with(claims(), "exp", json_real(1e300)), &r), RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "exp", json_real(-1e300)), &r),
                  RA_TOKEN_EXPIRED, r);
    assert_status(verify_claims(with(claims(), "exp",
                                     json_integer((json_int_t)9223372036854775807LL)), &r),
                  RA_TOKEN_OK, r);
}
END_TEST

/* Signs a raw payload text with the RSA key and verifies it. */
static ra_token_status_e verify_payload(const char *payload, ra_token_result_t *r)
{
    return verify(load_public(f.rsa_pem),
                  sign_raw(rsa_jwk, header("RS256", NULL), payload, strlen(payload)), r);
}

START_TEST(verify_exp_not_json_numbers)
{
    ra_token_result_t r;
#define GRANTS ",\"scp\":\"" RA_TOKEN_WRITE_PERMISSION "\",\"tid\":\"" TENANT "\"}"
    static const char *const payloads[] = {
        "{\"aud\":\"" AUDIENCE "\",\"exp\":NaN" GRANTS,
        "{\"aud\":\"" AUDIENCE "\",\"exp\":Infinity" GRANTS,
        "{\"aud\":\"" AUDIENCE "\",\"exp\":1e400" GRANTS,
        "{\"aud\":\"" AUDIENCE "\",\"exp\":-" GRANTS,
        /* duplicate claims are refused rather than resolved */
        "{\"aud\":\"" AUDIENCE "\",\"exp\":1,\"exp\":1800000000" GRANTS,
        "[\"" AUDIENCE "\"]",
        "\"just a string\"",
        "",
    };
    /* the control: the same shape with a real exp passes */
    assert_status(verify_payload("{\"aud\":\"" AUDIENCE "\",\"exp\":1800000000" GRANTS, &r),
                  RA_TOKEN_OK, r);
#undef GRANTS
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        ra_token_status_e status = verify_payload(payloads[i], &r);
        ck_assert_msg(status == RA_TOKEN_MALFORMED, "payload %s: %s", payloads[i],
                      ra_token_status_name(status));
    }
}
END_TEST

/* ---- ra_token_verify: audience, issuer ---- */

START_TEST(verify_audience)
{
    ra_token_result_t r;
    assert_status(verify_claims(with(claims(), "aud", json_string(AUDIENCE2)), &r),
                  RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "aud", json_pack("[s, s]", "other", AUDIENCE)),
                                &r), RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "aud", json_pack("[i, s]", 1, AUDIENCE)),
                                &r), RA_TOKEN_OK, r);
    assert_status(verify_claims(with(claims(), "aud", json_string("api://other")), &r),
                  RA_TOKEN_BAD_AUDIENCE, r);
    assert_status(verify_claims(with(claims(), "aud", json_string(AUDIENCE "/")), &r),
                  RA_TOKEN_BAD_AUDIENCE, r);
    assert_status(verify_claims(with(claims(), "aud", json_string("API://REMOTEASSIST")), &r),
                  RA_TOKEN_BAD_AUDIENCE, r);
    assert_status(verify_claims(with(claims(), "aud", json_pack("[s, s]", "a", "b")), &r),
                  RA_TOKEN_BAD_AUDIENCE, r);
    assert_status(verify_claims(with(claims(), "aud", json_array()), &r),
                  RA_TOKEN_BAD_AUDIENCE, r);
    assert_status(verify_claims(with(claims(), "aud", json_integer(1)), &r),
                  RA_TOKEN_BAD_AUDIENCE, r);
    assert_status(verify_claims(with(claims(), "aud", NULL), &r), RA_TOKEN_BAD_AUDIENCE, r);
}
END_TEST

START_TEST(verify_issuer)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    const char *token = sign(rsa_jwk, "RS256", NULL, claims());
    const char *other = sign(rsa_jwk, "RS256", NULL,
                             with(claims(), "iss", json_string("https://evil.example/")));
    const char *none = sign(rsa_jwk, "RS256", NULL, with(claims(), "iss", NULL));
    apr_array_header_t *issuers = list(2, "https://login.example/v2.0", ISSUER);

    assert_status(verify_with(keys, issuers, LEEWAY, token, &r), RA_TOKEN_OK, r);
    assert_status(verify_with(keys, issuers, LEEWAY, other, &r), RA_TOKEN_BAD_ISSUER, r);
    assert_status(verify_with(keys, issuers, LEEWAY, none, &r), RA_TOKEN_BAD_ISSUER, r);
    assert_status(verify_with(keys, list(1, "https://login.example/v2.0"), LEEWAY, token, &r),
                  RA_TOKEN_BAD_ISSUER, r);
    /* no issuer list: any issuer, or none */
    assert_status(verify_with(keys, NULL, LEEWAY, other, &r), RA_TOKEN_OK, r);
    assert_status(verify_with(keys, list(0), LEEWAY, other, &r), RA_TOKEN_OK, r);
    assert_status(verify_with(keys, list(0), LEEWAY, none, &r), RA_TOKEN_OK, r);
}
END_TEST

/* ---- ra_token_verify: tenant and grants; ra_token_authorize ---- */

/* Verifies claims c (expecting success), then asks for access. */
static ra_token_status_e authorize_claims(json_t *c, ra_access_e access, int beta,
                                          ra_token_result_t *r, const char **reason)
{
    assert_status(verify_claims(c, r), RA_TOKEN_OK, *r);
    *reason = NULL;
    ra_token_status_e status = ra_token_authorize(r, access, beta, reason);
    ck_assert_msg((status == RA_TOKEN_OK) == (*reason == NULL), "reason %s with status %s",
                  *reason ? *reason : "none", ra_token_status_name(status));
    return status;
}

START_TEST(verify_tenant_required)
{
    ra_token_result_t r;
    assert_status(verify_claims(claims(), &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.tenant, TENANT);
    static json_t *(*const bad[])(void) = { json_null, json_true, json_object };
    assert_status(verify_claims(with(claims(), "tid", NULL), &r), RA_TOKEN_NO_TENANT, r);
    ck_assert_int_eq(ra_token_status_is_forbidden(RA_TOKEN_NO_TENANT), 0);
    ck_assert_str_eq(r.reason, "the token has no tid (tenant) claim");
    assert_status(verify_claims(with(claims(), "tid", json_string("")), &r),
                  RA_TOKEN_NO_TENANT, r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_status(verify_claims(with(claims(), "tid", bad[i]()), &r), RA_TOKEN_NO_TENANT, r);
    }
}
END_TEST

/* The client application throttling charges: appid (v1), else azp (v2). */
START_TEST(verify_app_id)
{
    ra_token_result_t r;
    assert_status(verify_claims(with(with(claims(), "appid", NULL), "azp", NULL), &r),
                  RA_TOKEN_OK, r);
    ck_assert_ptr_null(r.app_id);
    assert_status(verify_claims(with(with(claims(), "appid", NULL), "azp",
                                     json_string("app-v2")), &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.app_id, "app-v2");
    assert_status(verify_claims(with(with(claims(), "appid", json_string("app-v1")), "azp",
                                     json_string("app-v2")), &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.app_id, "app-v1");
}
END_TEST

/* What a verified token carries for authorisation. */
START_TEST(verify_fills_grants)
{
    ra_token_result_t r;
    assert_status(verify_claims(with(claims(), "roles", json_pack("[s]", "Ignored.Role")), &r),
                  RA_TOKEN_OK, r);
    ck_assert_int_eq(r.application, 0);
    ck_assert_str_eq(r.scopes, "User.Read " RA_TOKEN_WRITE_PERMISSION);
    ck_assert_str_eq(r.tenant, TENANT);

    json_t *c = with(with(claims(), "scp", NULL), "roles",
                     json_pack("[s, i, s]", "Role.One", 7, RA_TOKEN_READ_PERMISSION));
    assert_status(verify_claims(c, &r), RA_TOKEN_OK, r);
    ck_assert_int_eq(r.application, 1);
    ck_assert_ptr_null(r.scopes);
    /* entries that are not strings grant nothing and are left out */
    ck_assert_int_eq(r.roles->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(r.roles, 0, const char *), "Role.One");
    ck_assert_str_eq(APR_ARRAY_IDX(r.roles, 1, const char *), RA_TOKEN_READ_PERMISSION);
    ck_assert_str_eq(r.caller, "oid-1");

    /* roles must be an array */
    c = with(with(claims(), "scp", NULL), "roles", json_string(RA_TOKEN_WRITE_PERMISSION));
    assert_status(verify_claims(c, &r), RA_TOKEN_MALFORMED, r);
    /* scp must be a string */
    c = with(claims(), "scp", json_pack("[s]", RA_TOKEN_WRITE_PERMISSION));
    assert_status(verify_claims(c, &r), RA_TOKEN_MALFORMED, r);
}
END_TEST

#define READ_ALL RA_TOKEN_READ_PERMISSION
#define READWRITE_ALL RA_TOKEN_WRITE_PERMISSION
#define BETA_APP_READ RA_TOKEN_BETA_APP_READ_PERMISSION

/* Who may do what: delegated (scp) or application (roles) tokens, read or
 * write, v1.0 or beta. */
START_TEST(authorize_matrix)
{
    enum { NO = RA_TOKEN_NO_PERMISSION, OK = RA_TOKEN_OK, MSA = RA_TOKEN_PERSONAL_ACCOUNT };
    static const struct {
        const char *scp;      /* NULL: an application token */
        const char *role;     /* NULL: no roles claim */
        const char *tenant;
        int read_v1, read_beta, write_v1, write_beta;
    } cases[] = {
        { READ_ALL, NULL, TENANT, OK, OK, NO, NO },
        { READWRITE_ALL, NULL, TENANT, OK, OK, OK, OK },
        { "openid " READ_ALL " User.Read", NULL, TENANT, OK, OK, NO, NO },
        { READ_ALL " " READWRITE_ALL, NULL, TENANT, OK, OK, OK, OK },
        /* the beta application permission is not a delegated one */
        { BETA_APP_READ, NULL, TENANT, NO, NO, NO, NO },
        { "User.Read", NULL, TENANT, NO, NO, NO, NO },
        { "", NULL, TENANT, NO, NO, NO, NO },
        /* a delegated token is judged by its scopes, never its roles */
        { "User.Read", READWRITE_ALL, TENANT, NO, NO, NO, NO },
        /* personal accounts, whatever they were granted */
        { READWRITE_ALL, NULL, RA_TOKEN_MSA_TENANT, MSA, MSA, MSA, MSA },
        { READ_ALL, NULL, RA_TOKEN_MSA_TENANT, MSA, MSA, MSA, MSA },
        { NULL, READ_ALL, TENANT, OK, OK, NO, NO },
        { NULL, READWRITE_ALL, TENANT, OK, OK, OK, OK },
        { NULL, BETA_APP_READ, TENANT, NO, OK, NO, NO },
        { NULL, "Other.Role", TENANT, NO, NO, NO, NO },
        { NULL, NULL, TENANT, NO, NO, NO, NO },
        /* application tokens are judged by their roles, even in that tenant */
        { NULL, READWRITE_ALL, RA_TOKEN_MSA_TENANT, OK, OK, OK, OK },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const int want[4] = { cases[i].read_v1, cases[i].read_beta, cases[i].write_v1,
                              cases[i].write_beta };
        for (int k = 0; k < 4; k++) {
            ra_token_result_t r;
            const char *reason;
            json_t *c = with(with(with(claims(), "tid", json_string(cases[i].tenant)), "scp",
                                  cases[i].scp ? json_string(cases[i].scp) : NULL),
                             "roles", cases[i].role ? json_pack("[s]", cases[i].role) : NULL);
            ra_access_e access = k < 2 ? RA_ACCESS_READ : RA_ACCESS_WRITE;
            ra_token_status_e got = authorize_claims(c, access, k % 2, &r, &reason);
            ck_assert_msg(got == (ra_token_status_e)want[k],
                          "scp \"%s\", role %s, tenant %s, %s %s: %s, expected %s",
                          cases[i].scp ? cases[i].scp : "(none)",
                          cases[i].role ? cases[i].role : "(none)", cases[i].tenant,
                          access == RA_ACCESS_READ ? "read" : "write", k % 2 ? "beta" : "v1.0",
                          ra_token_status_name(got), ra_token_status_name(want[k]));
            ck_assert_int_eq(ra_token_status_is_forbidden(got), got != RA_TOKEN_OK);
        }
    }
}
END_TEST

START_TEST(authorize_reasons)
{
    ra_token_result_t r;
    const char *reason;
    ck_assert_int_eq(authorize_claims(with(claims(), "scp", json_string("User.Read")),
                                      RA_ACCESS_READ, 0, &r, &reason), RA_TOKEN_NO_PERMISSION);
    ck_assert_str_eq(reason, "the token grants neither DeviceManagementServiceConfig.Read.All "
                             "nor DeviceManagementServiceConfig.ReadWrite.All");
    ck_assert_int_eq(authorize_claims(with(claims(), "scp", json_string(READ_ALL)),
                                      RA_ACCESS_WRITE, 1, &r, &reason), RA_TOKEN_NO_PERMISSION);
    ck_assert_str_eq(reason, "the token does not grant "
                             "DeviceManagementServiceConfig.ReadWrite.All");
    ck_assert_int_eq(authorize_claims(with(claims(), "tid", json_string(RA_TOKEN_MSA_TENANT)),
                                      RA_ACCESS_READ, 0, &r, &reason),
                     RA_TOKEN_PERSONAL_ACCOUNT);
    ck_assert_str_eq(reason, "personal Microsoft accounts are not supported");
    /* what a 403 names in WWW-Authenticate */
    ck_assert_str_eq(ra_token_permission(RA_ACCESS_READ), READ_ALL);
    ck_assert_str_eq(ra_token_permission(RA_ACCESS_WRITE), READWRITE_ALL);
}
END_TEST

/* A permission is a whole, case-sensitive, space-separated word of scp. */
START_TEST(authorize_scope_words)
{
    static const char *const granting[] = {
        READWRITE_ALL,
        "openid " READWRITE_ALL " User.Read",
        READWRITE_ALL "X " READWRITE_ALL,
    };
    static const char *const refused[] = {
        READWRITE_ALL "X",
        "User.Read " READWRITE_ALL "X",
        "X" READWRITE_ALL,
        "User.Read X" READWRITE_ALL " Mail.Read",
        "DeviceManagementServiceConfig.ReadWrite",
        READ_ALL,
        "devicemanagementserviceconfig.readwrite.all",
        READWRITE_ALL ",User.Read",
        "",
    };
    ra_token_result_t r;
    const char *reason;
    for (size_t i = 0; i < sizeof(granting) / sizeof(granting[0]); i++) {
        ck_assert_msg(authorize_claims(with(claims(), "scp", json_string(granting[i])),
                                       RA_ACCESS_WRITE, 0, &r, &reason) == RA_TOKEN_OK,
                      "scp \"%s\" refused: %s", granting[i], reason);
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        ck_assert_msg(authorize_claims(with(claims(), "scp", json_string(refused[i])),
                                       RA_ACCESS_WRITE, 0, &r, &reason)
                      == RA_TOKEN_NO_PERMISSION, "scp \"%s\" granted writing", refused[i]);
    }
    /* roles compare whole strings too */
    json_t *c = with(with(claims(), "scp", NULL), "roles", json_pack("[s]", READWRITE_ALL "X"));
    ck_assert_int_eq(authorize_claims(c, RA_ACCESS_READ, 1, &r, &reason),
                     RA_TOKEN_NO_PERMISSION);
}
END_TEST

START_TEST(verify_caller_falls_back_to_sub)
{
    ra_token_result_t r;
    assert_status(verify_claims(with(claims(), "oid", NULL), &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.caller, "sub-1");
    assert_status(verify_claims(with(with(claims(), "oid", NULL), "sub", NULL), &r),
                  RA_TOKEN_OK, r);
    ck_assert_ptr_null(r.caller);
}
END_TEST

/* ---- ra_token_verify: header and form ---- */

START_TEST(verify_crit_header)
{
    ra_token_result_t r;
    json_t *h = header("RS256", NULL);
    json_object_set_new(h, "crit", json_pack("[s]", "exp"));
    json_object_set_new(h, "exp", json_integer(NOW_SEC + 60));
    json_t *c = claims();
    char *payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    const char *token = sign_raw(rsa_jwk, h, payload, strlen(payload));
    free(payload);
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_MALFORMED, r);
}
END_TEST

START_TEST(verify_kid_not_string)
{
    ra_token_result_t r;
    json_t *h = header("RS256", NULL);
    json_object_set_new(h, "kid", json_integer(1));
    json_t *c = claims();
    char *payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    const char *token = sign_raw(rsa_jwk, h, payload, strlen(payload));
    free(payload);
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_MALFORMED, r);
    assert_status(verify(load_public(f.jwks), token, &r), RA_TOKEN_MALFORMED, r);
}
END_TEST

START_TEST(verify_kid_not_printable)
{
    ra_token_result_t r;
    const char *token = sign(rsa_jwk, "RS256", "rsa-1\nX-Injected: 1", claims());
    assert_status(verify(load_public(f.jwks), token, &r), RA_TOKEN_UNKNOWN_KEY, r);
    ck_assert_str_eq(r.kid, "(not printable)");
    token = sign(rsa_jwk, "RS256", "rsa-1\n", claims());
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.kid, "(not printable)");
    token = sign(rsa_jwk, "RS256", "with space", claims());
    assert_status(verify(load_public(f.jwks), token, &r), RA_TOKEN_UNKNOWN_KEY, r);
    ck_assert_str_eq(r.kid, "(not printable)");
    token = sign(rsa_jwk, "RS256", "", claims());
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.kid, "(not printable)");
    token = sign(rsa_jwk, "RS256", "Ab0+/=._-", claims());
    assert_status(verify(load_public(f.rsa_pem), token, &r), RA_TOKEN_OK, r);
    ck_assert_str_eq(r.kid, "Ab0+/=._-");
}
END_TEST

START_TEST(verify_too_long)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    /* a valid token padded with a huge extra claim */
    json_t *c = claims();
    char *pad = apr_palloc(pool, RA_TOKEN_MAX_LENGTH);
    memset(pad, 'x', RA_TOKEN_MAX_LENGTH - 1);
    pad[RA_TOKEN_MAX_LENGTH - 1] = '\0';
    json_object_set_new(c, "pad", json_string(pad));
    const char *token = sign(rsa_jwk, "RS256", NULL, c);
    ck_assert_uint_gt(strlen(token), RA_TOKEN_MAX_LENGTH);
    assert_status(verify(keys, token, &r), RA_TOKEN_MALFORMED, r);

    char *junk = apr_palloc(pool, RA_TOKEN_MAX_LENGTH + 2);
    memset(junk, 'a', RA_TOKEN_MAX_LENGTH + 1);
    junk[10] = junk[20] = '.';
    junk[RA_TOKEN_MAX_LENGTH + 1] = '\0';
    assert_status(verify(keys, junk, &r), RA_TOKEN_MALFORMED, r);
}
END_TEST

START_TEST(verify_missing_and_garbage)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    assert_status(verify(keys, NULL, &r), RA_TOKEN_MISSING, r);
    assert_status(verify(keys, "", &r), RA_TOKEN_MALFORMED, r);
    assert_status(verify(keys, "abc", &r), RA_TOKEN_MALFORMED, r);
    assert_status(verify(keys, "..", &r), RA_TOKEN_MALFORMED, r);
    assert_status(verify(keys, "!!!.abc.def", &r), RA_TOKEN_MALFORMED, r);
    /* a header that is not JSON, or has no alg */
    assert_status(verify(keys, apr_pstrcat(pool, b64url("nope", 4), ".e30.c2ln", NULL), &r),
                  RA_TOKEN_MALFORMED, r);
    assert_status(verify(keys, apr_pstrcat(pool, b64url("{}", 2), ".e30.c2ln", NULL), &r),
                  RA_TOKEN_MALFORMED, r);
}
END_TEST

START_TEST(verify_not_three_parts)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    const char *token = sign(rsa_jwk, "RS256", NULL, claims());
    const char *last_dot = strrchr(token, '.');
    /* two parts: the signature dropped */
    assert_status(verify(keys, apr_pstrmemdup(pool, token, (apr_size_t)(last_dot - token)), &r),
                  RA_TOKEN_MALFORMED, r);
    /* four parts: a valid token with a part appended */
    assert_status(verify(keys, apr_pstrcat(pool, token, ".eA", NULL), &r),
                  RA_TOKEN_MALFORMED, r);
    /* five parts, JWE-like */
    assert_status(verify(keys, apr_pstrcat(pool, token, ".eA.eA", NULL), &r),
                  RA_TOKEN_MALFORMED, r);
}
END_TEST

START_TEST(verify_bad_base64url_parts)
{
    ra_token_result_t r;
    const ra_keyset_t *keys = load_public(f.rsa_pem);
    const char *token = sign(rsa_jwk, "RS256", NULL, claims());
    /* a readable RS256 header, but the payload or signature is not base64url */
    assert_status(verify(keys, replace_part(token, 1, "!!!!"), &r), RA_TOKEN_MALFORMED, r);
    assert_status(verify(keys, replace_part(token, 2, "*sig*"), &r), RA_TOKEN_MALFORMED, r);
}
END_TEST

/* ---- the verified-token cache ---- */

static ra_token_status_e verify_cached(ra_token_cache_t *cache, const ra_keyset_t *keys,
                                       const char *audience, int leeway, long at,
                                       const char *token, ra_token_result_t *result)
{
    ra_token_policy_t policy = { list(1, audience), NULL, leeway };
    return ra_token_verify_cached(pool, cache, keys, &policy, token, apr_time_from_sec(at),
                                  result);
}

static ra_token_cache_t *new_cache(int capacity)
{
    ra_token_cache_t *cache;
    ck_assert_int_eq(ra_token_cache_create(pool, capacity, &cache), APR_SUCCESS);
    return cache;
}

/* A hit answers as a miss did, claims and all. */
START_TEST(cache_remembers_a_verified_token)
{
    ra_token_result_t first, second;
    ra_token_cache_t *cache = new_cache(64);
    const ra_keyset_t *keys = load_public(f.jwks);
    const char *token = sign(rsa_jwk, "RS256", "rsa-1", claims());

    assert_status(verify_cached(cache, keys, AUDIENCE, 0, NOW_SEC, token, &first),
                  RA_TOKEN_OK, first);
    ck_assert_int_eq(ra_token_cache_count(cache), 1);
    assert_status(verify_cached(cache, keys, AUDIENCE, 0, NOW_SEC, token, &second),
                  RA_TOKEN_OK, second);
    ck_assert_int_eq(ra_token_cache_count(cache), 1);
    ck_assert_str_eq(second.alg, "RS256");
    ck_assert_str_eq(second.kid, "rsa-1");
    ck_assert_str_eq(second.tenant, first.tenant);
    ck_assert_str_eq(second.caller, first.caller);
    ck_assert_str_eq(second.scopes, first.scopes);
}
END_TEST

/* What depends on the request is checked on every use, cached or not. */
START_TEST(cache_checks_time_and_policy_on_every_use)
{
    static const struct {
        const char *name;
        const char *audience;
        long at;
        int other_keys;
        ra_token_status_e expected;
    } uses[] = {
        { "the same location again", AUDIENCE, NOW_SEC, 0, RA_TOKEN_OK },
        { "another location's audience", "api://other", NOW_SEC, 0, RA_TOKEN_BAD_AUDIENCE },
        { "before nbf", AUDIENCE, NOW_SEC - 400, 0, RA_TOKEN_NOT_YET_VALID },
        { "past exp (the entry ends there)", AUDIENCE, NOW_SEC + 3601, 0, RA_TOKEN_EXPIRED },
        { "another location's keys", AUDIENCE, NOW_SEC, 1, RA_TOKEN_BAD_ALGORITHM },
    };
    /* keys has the RSA key that signs; others an EC key only */
    const ra_keyset_t *keys = load_public(f.rsa_pem), *others = load_public(f.ec_pem);
    for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
        ra_token_result_t r;
        ra_token_cache_t *cache = new_cache(64);
        const char *token = sign(rsa_jwk, "RS256", NULL, claims());
        assert_status(verify_cached(cache, keys, AUDIENCE, 0, NOW_SEC, token, &r),
                      RA_TOKEN_OK, r);
        ra_token_status_e got = verify_cached(cache, uses[i].other_keys ? others : keys,
                                              uses[i].audience, 0, uses[i].at, token, &r);
        ck_assert_msg(got == uses[i].expected, "%s: %s", uses[i].name,
                      ra_token_status_name(got));
    }
}
END_TEST

/* A key set refreshed from a URL replaces the one it followed, which is
 * freed; the next may be allocated at the same address. An entry belongs to
 * the generation that verified it, so a token whose key the refresh dropped
 * is verified again, and refused, whatever the new set's address. */
START_TEST(cache_tells_a_refreshed_key_set_from_the_one_it_replaced)
{
    ra_token_result_t r;
    ra_token_cache_t *cache = new_cache(64);
    const char *token = sign(rsa_jwk, "RS256", NULL, claims());
    const char *error = NULL;
    apr_pool_t *before, *after;

    apr_pool_create(&before, pool);
    const ra_keyset_t *old_keys = ra_keyset_load_public(before, f.rsa_pem, &error);
    ck_assert_ptr_nonnull(old_keys);
    assert_status(verify_cached(cache, old_keys, AUDIENCE, 0, NOW_SEC, token, &r),
                  RA_TOKEN_OK, r);
    apr_uint64_t old_generation = ra_keyset_generation(old_keys);
    apr_pool_destroy(before);

    apr_pool_create(&after, pool);
    const ra_keyset_t *new_keys = ra_keyset_load_public(after, f.ec_pem, &error);
    ck_assert_ptr_nonnull(new_keys);
    ck_assert_uint_gt(ra_keyset_generation(new_keys), old_generation);
    ck_assert_int_eq(verify_cached(cache, new_keys, AUDIENCE, 0, NOW_SEC, token, &r),
                     RA_TOKEN_BAD_ALGORITHM);
    apr_pool_destroy(after);
}
END_TEST

/* Failures are never remembered: not a bad signature, not a token valid
 * but refused by the policy (another audience, expired). */
START_TEST(cache_never_remembers_a_failure)
{
    ra_token_result_t r;
    ra_token_cache_t *cache = new_cache(64);
    const ra_keyset_t *keys = load_public(f.jwks);
    const char *token = sign(rsa_jwk, "RS256", "rsa-1", claims());
    const char *forged = sign(rsa2_jwk, "RS256", "rsa-1", claims());

    assert_status(verify_cached(cache, keys, AUDIENCE, 0, NOW_SEC, forged, &r),
                  RA_TOKEN_BAD_SIGNATURE, r);
    assert_status(verify_cached(cache, keys, "api://other", 0, NOW_SEC, token, &r),
                  RA_TOKEN_BAD_AUDIENCE, r);
    assert_status(verify_cached(cache, keys, AUDIENCE, 0, NOW_SEC + 7200, token, &r),
                  RA_TOKEN_EXPIRED, r);
    ck_assert_int_eq(ra_token_cache_count(cache), 0);
    /* accepted in the leeway after exp, but no use could find it any more */
    assert_status(verify_cached(cache, keys, AUDIENCE, 300, NOW_SEC + 3610, token, &r),
                  RA_TOKEN_OK, r);
    ck_assert_int_eq(ra_token_cache_count(cache), 0);
}
END_TEST

/* A full cache stays within its size: the least recently used goes. */
START_TEST(cache_is_bounded)
{
    ra_token_result_t r;
    ra_token_cache_t *cache = new_cache(16);
    const ra_keyset_t *keys = load_secret(f.secret);

    for (int i = 0; i < 200; i++) {
        const char *token = sign(hmac_jwk, "HS256", NULL,
                                 with(claims(), "oid", json_string(apr_itoa(pool, i))));
        assert_status(verify_cached(cache, keys, AUDIENCE, 0, NOW_SEC, token, &r),
                      RA_TOKEN_OK, r);
        ck_assert_int_le(ra_token_cache_count(cache), 16);
    }
    ck_assert_int_gt(ra_token_cache_count(cache), 0);

    /* a cache of one holds one; a large one has more shards, not longer
     * ones, and holds what it was sized for */
    static const int sizes[] = { 1, 5000 };
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        cache = new_cache(sizes[s]);
        for (int i = 0; i < 2 * sizes[s] && i < 400; i++) {
            const char *token = sign(hmac_jwk, "HS256", NULL,
                                     with(claims(), "oid", json_string(apr_itoa(pool, i))));
            assert_status(verify_cached(cache, keys, AUDIENCE, 0, NOW_SEC, token, &r),
                          RA_TOKEN_OK, r);
        }
        ck_assert_int_eq(ra_token_cache_count(cache), sizes[s] == 1 ? 1 : 400);
    }
}
END_TEST

/* Many threads of a child share the cache; the sanitized build runs this. */
#define CACHE_THREADS 16
#define CACHE_ROUNDS 200
#define CACHE_TOKENS 24

typedef struct {
    ra_token_cache_t *cache;
    const ra_keyset_t *keys;
    const char *const *tokens;
    int failures;
} cache_worker_t;

/* Returns rather than apr_thread_exit(), as test_store.c's workers do. */
static void *APR_THREAD_FUNC use_cache(apr_thread_t *thread, void *data)
{
    cache_worker_t *w = data;
    apr_pool_t *p;
    (void)thread;
    apr_pool_create_unmanaged(&p);
    for (int i = 0; i < CACHE_ROUNDS; i++) {
        ra_token_result_t r;
        ra_token_policy_t policy = { NULL, NULL, 0 };
        apr_array_header_t *audiences = apr_array_make(p, 1, sizeof(const char *));
        APR_ARRAY_PUSH(audiences, const char *) = AUDIENCE;
        policy.audiences = audiences;
        w->failures += ra_token_verify_cached(p, w->cache, w->keys, &policy,
                                              w->tokens[i % CACHE_TOKENS],
                                              apr_time_from_sec(NOW_SEC), &r) != RA_TOKEN_OK;
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    return NULL;
}

START_TEST(cache_is_shared_by_threads)
{
    const char *tokens[CACHE_TOKENS];
    cache_worker_t workers[CACHE_THREADS];
    apr_thread_t *threads[CACHE_THREADS];
    ra_token_cache_t *cache = new_cache(CACHE_TOKENS / 2); /* hits, misses and evictions */
    const ra_keyset_t *keys = load_secret(f.secret);

    for (int i = 0; i < CACHE_TOKENS; i++) {
        tokens[i] = sign(hmac_jwk, "HS256", NULL,
                         with(claims(), "oid", json_string(apr_itoa(pool, i))));
    }
    for (int t = 0; t < CACHE_THREADS; t++) {
        workers[t] = (cache_worker_t){ cache, keys, tokens, 0 };
        ck_assert_int_eq(apr_thread_create(&threads[t], NULL, use_cache, &workers[t], pool),
                         APR_SUCCESS);
    }
    for (int t = 0; t < CACHE_THREADS; t++) {
        apr_status_t rv;
        apr_thread_join(&rv, threads[t]);
        ck_assert_int_eq(workers[t].failures, 0);
    }
    ck_assert_int_le(ra_token_cache_count(cache), CACHE_TOKENS);
}
END_TEST

/* ---- status helpers ---- */

START_TEST(status_names)
{
    static const struct {
        ra_token_status_e status;
        const char *name;
        int forbidden;
    } all[] = {
        { RA_TOKEN_OK, "ok", 0 },
        { RA_TOKEN_MISSING, "missing", 0 },
        { RA_TOKEN_MALFORMED, "malformed", 0 },
        { RA_TOKEN_BAD_ALGORITHM, "bad_algorithm", 0 },
        { RA_TOKEN_UNKNOWN_KEY, "unknown_kid", 0 },
        { RA_TOKEN_BAD_SIGNATURE, "bad_signature", 0 },
        { RA_TOKEN_EXPIRED, "expired", 0 },
        { RA_TOKEN_NOT_YET_VALID, "not_yet_valid", 0 },
        { RA_TOKEN_BAD_AUDIENCE, "bad_audience", 0 },
        { RA_TOKEN_BAD_ISSUER, "bad_issuer", 0 },
        { RA_TOKEN_NO_TENANT, "no_tenant", 0 },
        { RA_TOKEN_NO_PERMISSION, "insufficient_permission", 1 },
        { RA_TOKEN_PERSONAL_ACCOUNT, "personal_account", 1 },
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        ck_assert_str_eq(ra_token_status_name(all[i].status), all[i].name);
        ck_assert_msg(ra_token_status_is_forbidden(all[i].status) == all[i].forbidden,
                      "%s: forbidden should be %d", all[i].name, all[i].forbidden);
    }
    ck_assert_str_eq(ra_token_status_name((ra_token_status_e)99), "unknown");
    ck_assert_int_eq(ra_token_status_is_forbidden((ra_token_status_e)99), 0);
}
END_TEST

Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = slow_fixture_tcase(s, "keys", keys_setup, keys_teardown);
    tcase_add_test(tc, load_pem_rsa);
    tcase_add_test(tc, load_pem_ec);
    tcase_add_test(tc, load_certificate);
    tcase_add_test(tc, load_jwks_several);
    tcase_add_test(tc, load_jwks_kid_selects_key);
    tcase_add_test(tc, load_jwks_enc_only_rejected);
    tcase_add_test(tc, load_jwks_private_rejected);
    tcase_add_test(tc, load_jwks_empty_rejected);
    tcase_add_test(tc, load_jwks_other_errors);
    tcase_add_test(tc, load_single_jwk);
    tcase_add_test(tc, load_jwks_alg_pin);
    tcase_add_test(tc, load_jwk_alg_that_cannot_fit_is_refused);
    tcase_add_test(tc, load_missing_file);
    tcase_add_test(tc, load_garbage_rejected);
    tcase_add_test(tc, load_rsa_1024_rejected);
    tcase_add_test(tc, load_secret_ok);
    tcase_add_test(tc, load_secret_64);
    tcase_add_test(tc, load_secret_too_short);
    tcase_add_test(tc, keyset_count_null);

    tc = pool_tcase(s, "authorization");
    tcase_add_test(tc, authorization_header);
    tcase_add_test(tc, authorization_header_length);
    tcase_add_test(tc, status_names);

    tc = slow_fixture_tcase(s, "cache", keys_setup, keys_teardown);
    tcase_add_test(tc, cache_remembers_a_verified_token);
    tcase_add_test(tc, cache_checks_time_and_policy_on_every_use);
    tcase_add_test(tc, cache_tells_a_refreshed_key_set_from_the_one_it_replaced);
    tcase_add_test(tc, cache_never_remembers_a_failure);
    tcase_add_test(tc, cache_is_bounded);
    tcase_add_test(tc, cache_is_shared_by_threads);

    tc = slow_fixture_tcase(s, "verify", keys_setup, keys_teardown);
    tcase_add_test(tc, verify_rs256);
    tcase_add_test(tc, verify_other_rsa_algorithms);
    tcase_add_test(tc, verify_es256_jwks_kid);
    tcase_add_test(tc, verify_es384_pem);
    tcase_add_test(tc, verify_hs256);
    tcase_add_test(tc, verify_alg_none);
    tcase_add_test(tc, verify_key_confusion);
    tcase_add_test(tc, verify_rs256_against_ec);
    tcase_add_test(tc, verify_unknown_kid);
    tcase_add_test(tc, verify_tampered);
    tcase_add_test(tc, verify_embedded_key_ignored);
    tcase_add_test(tc, verify_exp);
    tcase_add_test(tc, verify_nbf_iat);
    tcase_add_test(tc, verify_exp_types);
    tcase_add_test(tc, verify_exp_not_json_numbers);
    tcase_add_test(tc, verify_audience);
    tcase_add_test(tc, verify_issuer);
    tcase_add_test(tc, verify_tenant_required);
    tcase_add_test(tc, verify_app_id);
    tcase_add_test(tc, verify_fills_grants);
    tcase_add_test(tc, authorize_matrix);
    tcase_add_test(tc, authorize_reasons);
    tcase_add_test(tc, authorize_scope_words);
    tcase_add_test(tc, verify_caller_falls_back_to_sub);
    tcase_add_test(tc, verify_crit_header);
    tcase_add_test(tc, verify_kid_not_string);
    tcase_add_test(tc, verify_kid_not_printable);
    tcase_add_test(tc, verify_too_long);
    tcase_add_test(tc, verify_missing_and_garbage);
    tcase_add_test(tc, verify_not_three_parts);
    tcase_add_test(tc, verify_bad_base64url_parts);
    return s;
}
