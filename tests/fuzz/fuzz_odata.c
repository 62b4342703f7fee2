/* libFuzzer target: the request metadata the handler parses before the
 * body. The input is up to four lines, each handed to its parser as a C
 * string (a header value holds no line break): Accept (ra_odata_accepts_json),
 * Content-Type (ra_odata_is_json), the decoded request path
 * (ra_odata_service_path) and client-request-id
 * (ra_odata_client_request_id_ok, then echoed in a Graph error body). A
 * missing line is a missing header. */
#include <string.h>

#include <apr_pools.h>
#include <apr_time.h>
#include <jansson.h>

#include "fuzz.h"
#include "ra_odata.h"

enum { ACCEPT, CONTENT_TYPE, PATH, CLIENT_REQUEST_ID, FIELDS };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_apr_init();
    return 0;
}

/* The service root is what comes before the collection in the path. */
static void check_path(apr_pool_t *pool, const char *path)
{
    const char *root = ra_odata_service_path(pool, path);
    FUZZ_EXPECT(!root || !strncmp(root, path, strlen(root)));
}

/* An id that may be echoed comes back unchanged in the error body. */
static void check_client_request_id(apr_pool_t *pool, const char *id)
{
    apr_size_t len;

    if (!ra_odata_client_request_id_ok(id)) {
        return;
    }
    const char *body = ra_odata_error_body(pool, "BadRequest", "Fuzzing.", "request-id", id,
                                           apr_time_from_sec(1767225600), &len);
    json_t *json = json_loadb(body, len, 0, NULL);
    const char *echoed = json_string_value(
        json_object_get(json_object_get(json_object_get(json, "error"), "innerError"),
                        "client-request-id"));
    FUZZ_EXPECT(echoed && !strcmp(echoed, id));
    json_decref(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *field[FIELDS] = { NULL };
    apr_pool_t *pool;

    /* each field its own allocation of exactly its length, so ASan sees overreads */
    for (size_t i = 0, at = 0; i < FIELDS && at <= size && size > 0; i++) {
        const char *line = (const char *)data + at;
        const char *newline = memchr(line, '\n', size - at);
        size_t len = newline ? (size_t)(newline - line) : size - at;
        field[i] = strndup(line, len);
        at += len + 1;
    }
    FUZZ_EXPECT(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    ra_odata_accepts_json(pool, field[ACCEPT]);
    ra_odata_is_json(pool, field[CONTENT_TYPE]);
    if (field[PATH]) { /* httpd's r->uri is never NULL */
        check_path(pool, field[PATH]);
    }
    check_client_request_id(pool, field[CLIENT_REQUEST_ID]);
    apr_pool_destroy(pool);
    for (int i = 0; i < FIELDS; i++) {
        free(field[i]);
    }
    return 0;
}
