/* libFuzzer target: the bytes of a key file, as RemoteAssistTokenKey
 * (ra_keyset_parse_public: PEM public key, certificate, JWK, JWKS) and as
 * RemoteAssistTokenSecret (ra_keyset_parse_secret) read them. */
#include <apr_pools.h>

#include "fuzz.h"
#include "ra_token.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_apr_init();
    return 0;
}

/* A key set holds a key and can name its algorithms; a refusal says why. */
static void check(apr_pool_t *pool, const ra_keyset_t *keys, const char *error)
{
    if (keys) {
        FUZZ_EXPECT(error == NULL && ra_keyset_count(keys) > 0
                    && ra_keyset_algorithms(pool, keys) != NULL);
    }
    else {
        FUZZ_EXPECT(error != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;
    const char *error = NULL;

    FUZZ_EXPECT(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    /* data is exactly size bytes, not NUL-terminated, as the API allows */
    check(pool, ra_keyset_parse_public(pool, "key file", (const char *)data, size, &error),
          error);
    error = NULL;
    check(pool, ra_keyset_parse_secret(pool, "secret file", (const char *)data, size, &error),
          error);
    apr_pool_destroy(pool); /* its cleanups release the cjose keys */
    return 0;
}
