/* libFuzzer target: the request metadata the handler parses before the
 * body. The input is up to four lines, each handed to its parser as a C
 * string (a header value holds no line break): Accept (ra_odata_accepts, for
 * JSON and text/plain, and its odata.metadata level), Content-Type
 * (ra_odata_is_json, and as a $format value), the decoded request path
 * (ra_route_parse, and ra_route_service for what follows a version root)
 * and client-request-id (ra_odata_client_request_id_ok, then echoed in a
 * Graph error body). A missing line is a missing header. */
#include <string.h>

#include <apr_pools.h>
#include <apr_time.h>
#include <jansson.h>

#include "fuzz.h"
#include "ra_entity.h"
#include "ra_odata.h"
#include "ra_route.h"

enum { ACCEPT, CONTENT_TYPE, PATH, CLIENT_REQUEST_ID, FIELDS };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_apr_init();
    return 0;
}

/* The service root is what comes before the entity set (the partners or
 * the audit events) in the path; an entity's id is one a key literal or URL
 * may carry unescaped; a refusal says why. */
static void check_path(apr_pool_t *pool, const char *path)
{
    ra_route_t route;
    const char *message;

    if (ra_route_parse(pool, path, &route, &message) != RA_ROUTE_OK) {
        FUZZ_EXPECT(message != NULL);
        return;
    }
    FUZZ_EXPECT(!strncmp(route.root_path, path, strlen(route.root_path)));
    FUZZ_EXPECT(ra_route_under(path + strlen(route.root_path), RA_ROUTE_COLLECTION_PATH)
                || ra_route_under(path + strlen(route.root_path), RA_ROUTE_AUDIT_PATH));
    FUZZ_EXPECT((route.kind == RA_ROUTE_COLLECTION || route.kind == RA_ROUTE_COUNT
                 || route.kind == RA_ROUTE_AUDIT_COLLECTION
                 || route.kind == RA_ROUTE_AUDIT_CATEGORIES
                 || route.kind == RA_ROUTE_AUDIT_ACTIVITY_TYPES) == (route.id == NULL));
    FUZZ_EXPECT(!route.id || ra_entity_id_valid(route.id));
}

/* The service root's own resources: what follows a version root names one
 * of them or nothing, never an entity. */
static void check_service_path(const char *rest)
{
    ra_route_t route = { 0 };
    if (ra_route_service(rest, &route)) {
        FUZZ_EXPECT(route.kind == RA_ROUTE_SERVICE_DOCUMENT || route.kind == RA_ROUTE_METADATA
                    || route.kind == RA_ROUTE_DEVICE_MANAGEMENT || route.kind == RA_ROUTE_BATCH);
        FUZZ_EXPECT(route.id == NULL);
    }
}

/* A level from Accept or $format is one OData defines, or a refusal. */
static void check_metadata_levels(apr_pool_t *pool, const char *accept, const char *format)
{
    int level = ra_odata_accept_metadata(pool, accept), json;
    ra_jw_metadata_e format_level;
    FUZZ_EXPECT(level >= -1 && level <= RA_JW_METADATA_FULL);
    if (level >= 0) {
        FUZZ_EXPECT(ra_odata_content_type((ra_jw_metadata_e)level) != NULL);
    }
    if (format && ra_odata_format(pool, format, &json, &format_level)) {
        FUZZ_EXPECT(format_level <= RA_JW_METADATA_FULL);
        FUZZ_EXPECT(json || format_level == RA_JW_METADATA_MINIMAL);
    }
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
    ra_odata_accepts(pool, field[ACCEPT], "application/json");
    ra_odata_accepts(pool, field[ACCEPT], "text/plain");
    ra_odata_is_json(pool, field[CONTENT_TYPE]);
    check_metadata_levels(pool, field[ACCEPT], field[CONTENT_TYPE]);
    if (field[PATH]) { /* httpd's r->uri is never NULL */
        check_path(pool, field[PATH]);
        check_service_path(field[PATH]);
    }
    check_client_request_id(pool, field[CLIENT_REQUEST_ID]);
    apr_pool_destroy(pool);
    for (int i = 0; i < FIELDS; i++) {
        free(field[i]);
    }
    return 0;
}
