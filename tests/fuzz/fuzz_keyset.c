/* libFuzzer target: the bytes of a key file, as RemoteAssistTokenKey
 * (ra_keyset_parse_public: PEM public key, certificate, JWK, JWKS) and as
 * RemoteAssistTokenSecret (ra_keyset_parse_secret) read them; and the same
 * bytes as documents arriving by URL (RemoteAssistTokenJwksUri,
 * RemoteAssistTokenMetadataUrl): an OpenID Connect discovery document
 * (ra_url_keys_parse_metadata), a JWKS as the fetcher takes it
 * (ra_fetched_keys_from_jwks, which leaves unusable keys out), and a key bundle
 * as a child or the next start reads it from shared memory or the cache
 * file (ra_fetched_keys_decode). */
#include <string.h>

#include <apr_pools.h>

#include "fuzz.h"
#include "ra_url_keys.h"
#include "ra_token.h"

#define SOURCE "https://login.example/tenant/v2.0/.well-known/openid-configuration"
#define JWKS_URI "https://login.example/tenant/discovery/v2.0/keys"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_apr_init();
    return 0;
}

/* A key set holds a key and can name its algorithms and kids; a refusal
 * says why. */
static void check(apr_pool_t *pool, const ra_keyset_t *keys, const char *error)
{
    if (keys) {
        FUZZ_EXPECT(error == NULL && ra_keyset_count(keys) > 0
                    && ra_keyset_algorithms(pool, keys) != NULL
                    && ra_keyset_kids(pool, keys) != NULL);
    }
    else {
        FUZZ_EXPECT(error != NULL);
    }
}

/* A snapshot holds a key set and the bundle that carries it, which decodes
 * to the same keys; a refusal says why. */
static void check_snapshot(apr_pool_t *pool, ra_fetched_keys_t *snap, const char *error)
{
    if (!snap) {
        FUZZ_EXPECT(error != NULL);
        return;
    }
    check(pool, snap->keys, NULL);
    FUZZ_EXPECT(snap->bundle_len <= RA_URL_KEYS_MAX_BUNDLE);
    ra_fetched_keys_t *again = ra_fetched_keys_decode(pool, snap->source, snap->bundle,
                                                      snap->bundle_len, &error);
    FUZZ_EXPECT(again != NULL);
    FUZZ_EXPECT(!strcmp(ra_keyset_kids(pool, again->keys), ra_keyset_kids(pool, snap->keys)));
    FUZZ_EXPECT((again->issuer == NULL) == (snap->issuer == NULL));
    ra_fetched_keys_destroy(again);
    ra_fetched_keys_destroy(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;
    const char *text = (const char *)data; /* exactly size bytes, not NUL-terminated */
    const char *error = NULL, *jwks_uri = NULL, *issuer = NULL;
    apr_array_header_t *skipped;

    FUZZ_EXPECT(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    check(pool, ra_keyset_parse_public(pool, "key file", text, size, &error), error);
    error = NULL;
    check(pool, ra_keyset_parse_secret(pool, "secret file", text, size, &error), error);

    skipped = apr_array_make(pool, 1, sizeof(const char *));
    error = NULL;
    check(pool, ra_keyset_parse_jwks(pool, JWKS_URI, text, size, skipped, &error), error);
    for (int i = 0; i < skipped->nelts; i++) {
        FUZZ_EXPECT(APR_ARRAY_IDX(skipped, i, const char *) != NULL);
    }

    error = ra_url_keys_parse_metadata(pool, text, size, 0, &jwks_uri, &issuer);
    if (!error) {
        FUZZ_EXPECT(ra_url_keys_check_url(pool, jwks_uri, 0) == NULL);
        FUZZ_EXPECT(ra_url_keys_check_url(pool, issuer, 0) == NULL);
    }
    error = NULL;
    check_snapshot(pool, ra_fetched_keys_from_jwks(pool, SOURCE, JWKS_URI,
                                                   "https://login.example/{tenantid}/v2.0", text,
                                                   size, &error), error);
    error = NULL;
    check_snapshot(pool, ra_fetched_keys_decode(pool, NULL, text, size, &error), error);
    apr_pool_destroy(pool); /* its cleanups release the cjose keys */
    return 0;
}
