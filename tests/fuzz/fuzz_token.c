/* libFuzzer target: the Authorization header and bearer-token verification
 * (ra_token_from_authorization, ra_token_verify) with fixed test keys.
 *
 * The first byte says what the rest of the input is:
 *   'R', 'E', 'S'  a JOSE header object followed by the claims bytes, which
 *                  the target signs with its RSA, EC or HMAC key (with the
 *                  header's alg when cjose can, else RS256, ES256, HS256), so
 *                  hostile headers and claims reach the claim checks behind a
 *                  valid signature; without a header object all of it is claims
 *   'T'            a bare token, straight to ra_token_verify
 *   anything else  an Authorization header value, as httpd hands it over
 * Every token is verified against the public keys (a JWKS of the RSA and EC
 * keys) and against the HMAC secret, as two httpd sections would. */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <cjose/cjose.h>
#include <jansson.h>
#include <sanitizer/lsan_interface.h>

#include "fuzz.h"
#include "ra_jose.h"
#include "ra_token.h"
#include "ra_token_cache.h"

/* 2026-01-01T00:00:00Z: the seed tokens are valid around it
 * (tests/fuzz/mint_seeds.py), and runs do not depend on the clock. */
#define NOW_SEC 1767225600
#define ISSUER "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"

/* Private test keys committed in tests/fuzz/keys (made by mint_seeds.py). */
static struct signer {
    char mode;
    const char *key_file;
    const char *alg; /* what the key signs with when the header's alg will not do */
    cjose_jwk_t *jwk;
} signers[] = {
    { 'R', "rsa.jwk", "RS256", NULL },
    { 'E', "ec.jwk", "ES256", NULL },
    { 'S', "hmac.secret", "HS256", NULL },
};
#define SIGNERS (sizeof(signers) / sizeof(signers[0]))

static apr_pool_t *keys_pool; /* the process's keys and policy */
static const ra_keyset_t *public_keys, *secret_keys;
static ra_token_policy_t policy;

static const char *key_file(const char *name, apr_size_t *len)
{
    char *data;
    const char *error = ra_keyset_read_file(
        keys_pool, apr_pstrcat(keys_pool, FUZZ_KEYS_DIR "/", name, NULL), &data, len);
    if (error) {
        fprintf(stderr, "fuzz_token: %s\n", error);
        exit(1);
    }
    return data;
}

/* The signing keys, the verifying key sets built from them through the
 * module's own parsers, and a policy as a configured section has it. */
static void load_keys(void)
{
    json_t *jwks = json_pack("{s:[]}", "keys");
    apr_size_t len;
    const char *error = NULL;

    for (size_t i = 0; i < SIGNERS; i++) {
        const char *data = key_file(signers[i].key_file, &len);
        if (signers[i].mode == 'S') {
            secret_keys = ra_keyset_parse_secret(keys_pool, signers[i].key_file, data, len,
                                                 &error);
            FUZZ_EXPECT(secret_keys != NULL);
            signers[i].jwk = cjose_jwk_create_oct_spec((const uint8_t *)data,
                                                       strcspn(data, "\n"), NULL);
        }
        else {
            /* our own committed key, not fuzz input: cjose may import it */
            signers[i].jwk = cjose_jwk_import(data, len, NULL);
            char *public_json = signers[i].jwk ? cjose_jwk_to_json(signers[i].jwk, false, NULL)
                                               : NULL;
            FUZZ_EXPECT(public_json != NULL);
            json_array_append_new(json_object_get(jwks, "keys"), json_loads(public_json, 0, NULL));
            cjose_get_dealloc()(public_json);
        }
        FUZZ_EXPECT(signers[i].jwk != NULL);
    }
    char *jwks_text = json_dumps(jwks, 0);
    public_keys = ra_keyset_parse_public(keys_pool, "fuzz JWKS", jwks_text, strlen(jwks_text),
                                         &error);
    if (!public_keys) {
        fprintf(stderr, "fuzz_token: %s\n", error);
    }
    FUZZ_EXPECT(ra_keyset_count(public_keys) == 2);
    free(jwks_text);
    json_decref(jwks);

    apr_array_header_t *audiences = apr_array_make(keys_pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(audiences, const char *) = "https://graph.microsoft.com";
    APR_ARRAY_PUSH(audiences, const char *) = "00000003-0000-0000-c000-000000000000";
    apr_array_header_t *issuers = apr_array_make(keys_pool, 1, sizeof(const char *));
    APR_ARRAY_PUSH(issuers, const char *) = ISSUER;
    policy = (ra_token_policy_t){ audiences, issuers, 300 };
}

static void release_keys(void)
{
    for (size_t i = 0; i < SIGNERS; i++) {
        cjose_jwk_release(signers[i].jwk);
    }
    apr_pool_destroy(keys_pool);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_apr_init();
    FUZZ_EXPECT(apr_pool_create(&keys_pool, NULL) == APR_SUCCESS);
    /* The key sets are meant to live as long as the process, and only pool
     * memory points to them, which APR takes from mmap, where LeakSanitizer
     * finds no pointers: without this its checks between runs call them leaked. */
    __lsan_disable();
    load_keys();
    __lsan_enable();
    atexit(release_keys);
    return 0;
}

/* Strings the handler puts into WWW-Authenticate, its logs and the Graph error
 * body: printable ASCII only. */
static int header_safe(const char *s)
{
    for (; s && *s; s++) {
        if (*s < 0x20 || *s > 0x7E) {
            return 0;
        }
    }
    return 1;
}

static int same_text(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Whether the cache keeps a token that passed: only until its exp, so one
 * accepted inside the leeway after exp is never kept (ra_token_verify_cached).
 * The claims come from the token's own payload, which verified. */
static int cacheable(const char *token)
{
    cjose_jws_t *jws = ra_jose_jws_import(token, strlen(token));
    uint8_t *payload;
    size_t len;

    FUZZ_EXPECT(jws != NULL && cjose_jws_get_plaintext(jws, &payload, &len, NULL));
    json_t *claims = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, NULL);
    int keep = json_number_value(json_object_get(claims, "exp")) > (double)NOW_SEC;
    json_decref(claims);
    cjose_jws_release(jws);
    return keep;
}

/* The verified-token cache never changes an answer: verified twice through
 * a cache (a miss, then a hit when it passed and is before its exp), a token
 * gets what it got without one. The cache lives in the input's pool: nothing
 * carries over. */
static void verify(apr_pool_t *pool, const char *token)
{
    const ra_keyset_t *const sets[] = { public_keys, secret_keys };
    ra_token_cache_t *cache;

    FUZZ_EXPECT(ra_token_cache_create(pool, 4, &cache) == APR_SUCCESS);
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        ra_token_result_t result;
        ra_token_status_e status = ra_token_verify(pool, sets[i], &policy, token,
                                                   apr_time_from_sec(NOW_SEC), &result);
        /* every refusal says why, a success does not */
        FUZZ_EXPECT((status == RA_TOKEN_OK) == (result.reason == NULL));
        FUZZ_EXPECT(header_safe(result.reason) && header_safe(result.alg)
                    && header_safe(result.kid));
        int kept = status == RA_TOKEN_OK && cacheable(token);
        for (int use = 0; use < 2; use++) {
            ra_token_result_t cached;
            FUZZ_EXPECT(ra_token_verify_cached(pool, cache, sets[i], &policy, token,
                                               apr_time_from_sec(NOW_SEC), &cached) == status);
            FUZZ_EXPECT(cached.cached == (use == 1 && kept));
            FUZZ_EXPECT(same_text(cached.tenant, result.tenant)
                        && same_text(cached.caller, result.caller)
                        && same_text(cached.scopes, result.scopes)
                        && same_text(cached.alg, result.alg) && same_text(cached.kid, result.kid));
        }
    }
}

/* Signs a header object and the claims bytes after it; NULL when cjose
 * cannot. The caller frees the token. */
static char *sign(const struct signer *signer, const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *header = json_loadb((const char *)data, size, JSON_DISABLE_EOF_CHECK, &jerr);
    size_t used = header ? (size_t)jerr.position : 0;
    const char *compact;
    char *token = NULL;

    if (!json_is_object(header)) {
        json_decref(header);
        header = json_object();
        used = 0;
    }
    if (!json_is_string(json_object_get(header, "alg"))) {
        json_object_set_new(header, "alg", json_string(signer->alg));
    }
    cjose_jws_t *jws = cjose_jws_sign(signer->jwk, header, data + used, size - used, NULL);
    if (!jws) { /* an alg this key cannot make */
        json_object_set_new(header, "alg", json_string(signer->alg));
        jws = cjose_jws_sign(signer->jwk, header, data + used, size - used, NULL);
    }
    if (jws && cjose_jws_export(jws, &compact, NULL)) {
        token = strdup(compact);
    }
    cjose_jws_release(jws);
    json_decref(header);
    return token;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;
    const struct signer *signer = NULL;
    char *text;

    if (size == 0) {
        return 0;
    }
    for (size_t i = 0; i < SIGNERS; i++) {
        signer = signers[i].mode == (char)data[0] ? &signers[i] : signer;
    }
    FUZZ_EXPECT(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    if (signer) {
        text = sign(signer, data + 1, size - 1);
        if (text) {
            verify(pool, text);
        }
    }
    else {
        /* a C string of exactly its length, so ASan sees any overread */
        text = strndup((const char *)data + 1, size - 1);
        const char *token = data[0] == 'T' ? text : ra_token_from_authorization(pool, text);
        if (token) {
            verify(pool, token);
        }
    }
    free(text);
    apr_pool_destroy(pool);
    return 0;
}
