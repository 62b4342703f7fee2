/* Baseline for `make bench`: bearer tokens verified per second by the
 * module's own token unit (src/ra_token.c, with its key set from
 * src/ra_keyset.c), in one thread, with no httpd.
 *
 *   verify_speed SECONDS ALG PUBLIC_KEY TOKEN_FILE [ALG PUBLIC_KEY TOKEN_FILE ...]
 *
 * For each triple: loads the key as RemoteAssistTokenKey does
 * (ra_keyset_load_public), checks the token verifies (RA_TOKEN_OK, else exit
 * 1), then for SECONDS each: calls ra_token_verify in a loop (a token seen
 * for the first time: signature and claims), then ra_token_verify_cached
 * with the token in a child's cache (what every later request with it
 * costs), with a pool cleared after every call, as a request pool would be.
 * Prints one JSON line per algorithm. Compare the first with
 * `openssl speed ... verify/s` in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ra_token.h"
#include "ra_token_cache.h"

static const char *read_token(apr_pool_t *pool, const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[RA_TOKEN_MAX_LENGTH + 2];
    size_t len;

    if (!f) {
        fprintf(stderr, "verify_speed: cannot read %s\n", path);
        exit(1);
    }
    len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) {
        len--;
    }
    return apr_pstrmemdup(pool, buf, len);
}

/* Calls verify for seconds (the clock read per call, as the module's
 * r->request_time is); returns the calls per second. */
static double timed(apr_pool_t *scratch, double seconds, const char *what,
                    ra_token_cache_t *cache, const ra_keyset_t *keys,
                    const ra_token_policy_t *policy, const char *token)
{
    ra_token_result_t result;
    apr_time_t start = apr_time_now(), now;
    apr_time_t end = start + (apr_time_t)(seconds * APR_USEC_PER_SEC);
    unsigned long n = 0;

    do {
        for (int i = 0; i < 64; i++) {
            now = apr_time_now();
            if (ra_token_verify_cached(scratch, cache, keys, policy, token, now, &result)
                != RA_TOKEN_OK) {
                fprintf(stderr, "verify_speed: %s failed in the loop\n", what);
                exit(1);
            }
            apr_pool_clear(scratch);
        }
        n += 64;
    } while (now < end);
    return (double)n / ((double)(now - start) / (double)APR_USEC_PER_SEC);
}

static void run(apr_pool_t *pool, double seconds, const char *alg, const char *key_path,
                const char *token_path)
{
    const char *error = NULL;
    const ra_keyset_t *keys = ra_keyset_load_public(pool, key_path, &error);
    const char *token = read_token(pool, token_path);
    apr_array_header_t *audiences = apr_array_make(pool, 1, sizeof(const char *));
    ra_token_policy_t policy = { audiences, NULL, 300 };
    ra_token_result_t result;
    ra_token_status_e status;
    ra_token_cache_t *cache;
    apr_pool_t *scratch;

    if (!keys) {
        fprintf(stderr, "verify_speed: %s\n", error);
        exit(1);
    }
    APR_ARRAY_PUSH(audiences, const char *) = "https://graph.microsoft.com";
    apr_pool_create(&scratch, pool);
    status = ra_token_verify(scratch, keys, &policy, token, apr_time_now(), &result);
    if (status != RA_TOKEN_OK || !result.alg || strcmp(result.alg, alg)) {
        fprintf(stderr, "verify_speed: %s token does not verify: %s (%s, alg %s)\n", alg,
                ra_token_status_name(status), result.reason ? result.reason : "-",
                result.alg ? result.alg : "-");
        exit(1);
    }
    apr_pool_clear(scratch);

    double first = timed(scratch, seconds, "verify", NULL, keys, &policy, token);
    /* the module's default size; the token goes in at its first check */
    if (ra_token_cache_create(pool, 1024, &cache) != APR_SUCCESS) {
        fprintf(stderr, "verify_speed: no token cache\n");
        exit(1);
    }
    double cached = timed(scratch, seconds, "cached check", cache, keys, &policy, token);
    if (ra_token_cache_count(cache) != 1) {
        fprintf(stderr, "verify_speed: the token was not cached\n");
        exit(1);
    }
    printf("{\"alg\": \"%s\", \"per_sec\": %.1f, \"cached_per_sec\": %.1f, "
           "\"token_bytes\": %zu}\n", alg, first, cached, strlen(token));
    fflush(stdout);
    apr_pool_destroy(scratch);
}

int main(int argc, char **argv)
{
    apr_pool_t *pool;
    double seconds = argc > 1 ? atof(argv[1]) : 0;

    if (argc < 5 || (argc - 2) % 3 != 0 || seconds <= 0) {
        fprintf(stderr, "usage: %s SECONDS ALG PUBLIC_KEY TOKEN_FILE [...]\n", argv[0]);
        return 2;
    }
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    for (int i = 2; i + 2 < argc; i += 3) {
        run(pool, seconds, argv[i], argv[i + 1], argv[i + 2]);
    }
    apr_pool_destroy(pool);
    return 0;
}
