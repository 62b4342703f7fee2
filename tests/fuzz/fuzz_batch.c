/* libFuzzer target: a $batch request body, as ra_batch_parse reads it, and
 * each inner url as ra_batch_url_path resolves it. An accepted batch must
 * keep its promises: 1 to 20 requests, unique ids, a run order that holds
 * each request once and after everything it depends on, a body only with a
 * Content-Type; a resolved url stays below the version root; and the
 * responses serialise to JSON that parses back. */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "fuzz.h"
#include "ra_batch.h"

#define ROOT "/v1.0"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_apr_init();
    return 0;
}

static void check_order(const ra_batch_t *batch)
{
    int position[RA_BATCH_MAX_REQUESTS];
    for (int i = 0; i < batch->count; i++) {
        position[i] = -1;
    }
    for (int n = 0; n < batch->count; n++) {
        FUZZ_EXPECT(batch->order[n] >= 0 && batch->order[n] < batch->count);
        FUZZ_EXPECT(position[batch->order[n]] < 0);
        position[batch->order[n]] = n;
    }
    for (int i = 0; i < batch->count; i++) {
        const ra_batch_request_t *r = &batch->requests[i];
        for (int d = 0; d < r->depends_count; d++) {
            FUZZ_EXPECT(r->depends_on[d] != i);
            FUZZ_EXPECT(position[r->depends_on[d]] < position[i]);
        }
        for (int j = 0; j < i; j++) {
            FUZZ_EXPECT(strcmp(batch->requests[j].id, r->id));
        }
    }
}

static void check_url(apr_pool_t *pool, const char *url)
{
    const char *message = NULL, *path = ra_batch_url_path(pool, ROOT, url, &message);
    if (!path) {
        FUZZ_EXPECT(message != NULL);
        return;
    }
    /* the root itself, or below it */
    FUZZ_EXPECT(!strncmp(path, ROOT, sizeof(ROOT) - 1)
                && (path[sizeof(ROOT) - 1] == '\0' || path[sizeof(ROOT) - 1] == '/'
                    || path[sizeof(ROOT) - 1] == '?'));
    FUZZ_EXPECT(strcspn(path, " #\\\r\n") == strlen(path));
    /* no dot segment in the path (a query may hold anything) */
    char *only_path = apr_pstrndup(pool, path, strcspn(path, "?"));
    FUZZ_EXPECT(strstr(only_path, "/../") == NULL && strstr(only_path, "/./") == NULL);
    size_t n = strlen(only_path);
    FUZZ_EXPECT(!(n >= 3 && !strcmp(only_path + n - 3, "/..")));
    FUZZ_EXPECT(!(n >= 2 && !strcmp(only_path + n - 2, "/.")));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;
    ra_batch_t batch;
    ra_batch_response_t responses[RA_BATCH_MAX_REQUESTS];
    const char *message = NULL;

    FUZZ_EXPECT(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    if (!ra_batch_parse(pool, (const char *)data, size, &batch, &message)) {
        FUZZ_EXPECT(message != NULL);
        apr_pool_destroy(pool);
        return 0;
    }
    FUZZ_EXPECT(batch.count >= 1 && batch.count <= RA_BATCH_MAX_REQUESTS);
    check_order(&batch);
    memset(responses, 0, sizeof(responses));
    for (int i = 0; i < batch.count; i++) {
        const ra_batch_request_t *r = &batch.requests[i];
        FUZZ_EXPECT(!r->body || ra_batch_header(r, "content-type"));
        check_url(pool, r->url);
        /* the request's body sent back as its answer */
        responses[i].id = r->id;
        responses[i].status = 200;
        responses[i].headers = r->headers;
        responses[i].header_count = r->header_count;
        responses[i].content_type = r->body ? "application/json" : NULL;
        responses[i].body = r->body;
        responses[i].body_len = r->body_len;
    }
    ra_jw_text_t text = { .pool = pool };
    ra_jw_t jw;
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    ra_batch_write_responses(&jw, pool, responses, batch.count);
    FUZZ_EXPECT(ra_jw_finish(&jw) == APR_SUCCESS);
    json_t *back = json_loadb(text.text, text.len, 0, NULL);
    FUZZ_EXPECT(back != NULL);
    FUZZ_EXPECT(json_array_size(json_object_get(back, "responses")) == (size_t)batch.count);
    json_decref(back);
    apr_pool_destroy(pool);
    return 0;
}
