/* Baseline for `make bench`: what signing the $skiptoken costs a list page,
 * measured on the module's own query unit (src/ra_query.c) in one thread,
 * with no httpd.
 *
 *   skiptoken_speed SECONDS QUERY
 *
 * QUERY is the list cell's query string (the bench's "$top=100"). A page
 * with a next page makes one token (ra_query_skiptoken: the last row's sort
 * keys as JSON, HMAC-SHA256, base64url); following it parses the token with
 * the query (ra_query_parse) and verifies its signature
 * (ra_query_skiptoken_verify). For SECONDS each, with a pool cleared after
 * every call as a request pool would be, this times: making a token, parsing
 * the query with it, verifying it, and parsing the query alone. Signing is
 * the HMAC inside the first and the whole of the third; an unsigned token
 * would still be made and parsed. Prints one JSON line of calls per second.
 * No directive turns the signature off (a site must not run unsigned
 * tokens), so bench/cells.py sets these costs against a list page's httpd
 * CPU in the same run, in place of an On ÷ Off pair of servers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "ra_query.h"

/* A key as schema level 4 makes it (sql/step-004.sql: 32 random bytes, hex) */
#define KEY "6f1c0d3a9b8e47f2a5c3d1e0b9a87f6e5d4c3b2a19081726354453627180a9bc"
/* The last row of a page in the bench's tenant: an id the module made */
#define LAST_ID "01938a5e-7c2b-7d41-9a3e-5f6b7c8d9e0f"

typedef enum { MAKE, PARSE_WITH_TOKEN, VERIFY, PARSE_ALONE } step_e;

static void fail(const char *what)
{
    fprintf(stderr, "skiptoken_speed: %s\n", what);
    exit(1);
}

/* One call of step; exits on any failure, so no timing counts a refusal. */
static void call(apr_pool_t *scratch, step_e step, const char *query_args,
                 const char *with_token, const ra_query_t *parsed,
                 const ra_key_value_t *last)
{
    ra_query_t q;
    const char *message = NULL;

    switch (step) {
    case MAKE:
        if (!ra_query_skiptoken(scratch, parsed, last, KEY)) {
            fail("no token made");
        }
        break;
    case PARSE_WITH_TOKEN:
    case PARSE_ALONE:
        if (!ra_query_parse(scratch, RA_VERSION_V1, RA_QUERY_LIST,
                            step == PARSE_ALONE ? query_args : with_token, &q, &message)) {
            fail(message ? message : "the query does not parse");
        }
        break;
    case VERIFY:
        if (!ra_query_skiptoken_verify(parsed, KEY)) {
            fail("the token does not verify");
        }
        break;
    }
}

/* Calls step for seconds; returns the calls per second. */
static double timed(apr_pool_t *scratch, double seconds, step_e step, const char *query_args,
                    const char *with_token, const ra_query_t *parsed,
                    const ra_key_value_t *last)
{
    apr_time_t start = apr_time_now(), now;
    apr_time_t end = start + (apr_time_t)(seconds * APR_USEC_PER_SEC);
    unsigned long n = 0;

    do {
        for (int i = 0; i < 256; i++) {
            call(scratch, step, query_args, with_token, parsed, last);
            apr_pool_clear(scratch);
        }
        n += 256;
        now = apr_time_now();
    } while (now < end);
    return (double)n / ((double)(now - start) / (double)APR_USEC_PER_SEC);
}

int main(int argc, char **argv)
{
    apr_pool_t *pool, *scratch;
    double seconds = argc > 1 ? atof(argv[1]) : 0;
    ra_query_t first, next;
    const char *message = NULL;
    ra_key_value_t last[RA_PROP_COUNT];

    if (argc != 3 || seconds <= 0) {
        fprintf(stderr, "usage: %s SECONDS QUERY\n", argv[0]);
        return 2;
    }
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    apr_pool_create(&scratch, pool);
    const char *args = argv[2];
    if (!ra_query_parse(pool, RA_VERSION_V1, RA_QUERY_LIST, args, &first, &message)) {
        fail(message ? message : "the query does not parse");
    }
    /* the last row's sort keys: its id for every key, as a text key would
     * hold (the bench's query sorts by the id alone) */
    memset(last, 0, sizeof(last));
    for (int i = 0; i < first.order_count; i++) {
        last[i].text = LAST_ID;
    }
    const char *token = ra_query_skiptoken(pool, &first, last, KEY);
    const char *with_token = apr_pstrcat(pool, args, "&$skiptoken=", token, NULL);
    if (!ra_query_parse(pool, RA_VERSION_V1, RA_QUERY_LIST, with_token, &next, &message)
        || !next.after_set || !ra_query_skiptoken_verify(&next, KEY)) {
        fail("the token made does not come back");
    }

    double make = timed(scratch, seconds, MAKE, args, with_token, &first, last);
    double parse_with = timed(scratch, seconds, PARSE_WITH_TOKEN, args, with_token, NULL, NULL);
    double verify = timed(scratch, seconds, VERIFY, args, with_token, &next, NULL);
    double parse_alone = timed(scratch, seconds, PARSE_ALONE, args, with_token, NULL, NULL);
    printf("{\"make_per_sec\": %.1f, \"parse_with_token_per_sec\": %.1f, "
           "\"verify_per_sec\": %.1f, \"parse_alone_per_sec\": %.1f, \"token_chars\": %zu}\n",
           make, parse_with, verify, parse_alone, strlen(token));
    apr_pool_destroy(pool);
    return 0;
}
