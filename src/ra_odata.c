/* OData/Graph protocol helpers: negotiation, URLs, GUIDs, error bodies. */
#include "ra_odata.h"
#include "ra_json_writer.h"
#include "ra_route.h"

#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uuid.h>

const char *ra_odata_context_url(apr_pool_t *pool, const char *service_root,
                                 ra_version_e version, unsigned select, int entity)
{
    const char *list = NULL;
    int all = 1;

    for (int i = 0; i < RA_PROP_COUNT; i++) {
        if (!ra_prop_in_version((ra_prop_e)i, version)) {
            continue;
        }
        if (select & RA_PROP_BIT(i)) {
            const char *name = ra_prop_name((ra_prop_e)i);
            list = list ? apr_pstrcat(pool, list, ",", name, NULL) : name;
        }
        else {
            all = 0;
        }
    }
    return apr_pstrcat(pool, service_root, "/$metadata#deviceManagement/remoteAssistancePartners",
                       list && !all ? apr_pstrcat(pool, "(", list, ")", NULL) : "",
                       entity ? "/$entity" : "", NULL);
}

const char *ra_odata_collection_url(apr_pool_t *pool, const char *service_root)
{
    return apr_pstrcat(pool, service_root, RA_ROUTE_COLLECTION_PATH, NULL);
}

const char *ra_odata_entity_url(apr_pool_t *pool, const char *service_root,
                                const char *id)
{
    return apr_pstrcat(pool, service_root, RA_ROUTE_COLLECTION_PATH "('", id, "')", NULL);
}

static char *trim(char *s)
{
    char *end;
    while (apr_isspace(*s)) {
        s++;
    }
    for (end = s + strlen(s); end > s && apr_isspace(end[-1]); end--)
        ;
    *end = '\0';
    return s;
}

/* Splits one header element "type/sub; a=b; q=0.5" in place: returns the
 * lower-cased media type and leaves *params at the parameter list. */
static char *media_type_of(char *element, char **params)
{
    char *semi = strchr(element, ';');
    *params = semi ? semi + 1 : NULL;
    if (semi) {
        *semi = '\0';
    }
    element = trim(element);
    for (char *c = element; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return element;
}

/* Value of parameter name in params (modified in place), quotes removed. */
static const char *media_param(char *params, const char *name)
{
    char *state, *param;
    for (param = apr_strtok(params, ";", &state); param;
         param = apr_strtok(NULL, ";", &state)) {
        char *eq = strchr(param, '=');
        if (!eq) {
            continue;
        }
        *eq = '\0';
        if (!strcasecmp(trim(param), name)) {
            char *value = trim(eq + 1);
            size_t len = strlen(value);
            if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
                value[len - 1] = '\0';
                value++;
            }
            return value;
        }
    }
    return NULL;
}

/* How specifically a media range names type/subtype: 0 not at all. */
static int specificity(const char *range, const char *media_type)
{
    size_t type_len = strcspn(media_type, "/");
    if (!strcmp(range, media_type)) {
        return 3;
    }
    if (!strncmp(range, media_type, type_len + 1) && !strcmp(range + type_len + 1, "*")) {
        return 2;
    }
    return !strcmp(range, "*/*");
}

int ra_odata_accepts(apr_pool_t *pool, const char *accept, const char *media_type)
{
    char *state, *range, *params;
    int best = 0;
    double quality = 0.0;

    if (!accept || !*trim(apr_pstrdup(pool, accept))) {
        return 1;
    }
    for (range = apr_strtok(apr_pstrdup(pool, accept), ",", &state); range;
         range = apr_strtok(NULL, ",", &state)) {
        int match = specificity(media_type_of(range, &params), media_type);
        if (match > best) {
            const char *q = params ? media_param(params, "q") : NULL;
            best = match;
            quality = q ? strtod(q, NULL) : 1.0;
        }
    }
    return quality > 0.0;
}

static const char *const metadata_levels[] = { [RA_JW_METADATA_NONE] = "none",
                                               [RA_JW_METADATA_MINIMAL] = "minimal",
                                               [RA_JW_METADATA_FULL] = "full" };

const char *ra_odata_content_type(ra_jw_metadata_e level)
{
    switch (level) {
    case RA_JW_METADATA_NONE:
        return "application/json;odata.metadata=none;odata.streaming=true;"
               "IEEE754Compatible=false;charset=utf-8";
    case RA_JW_METADATA_FULL:
        return "application/json;odata.metadata=full;odata.streaming=true;"
               "IEEE754Compatible=false;charset=utf-8";
    case RA_JW_METADATA_MINIMAL:
        break;
    }
    return RA_ODATA_CONTENT_TYPE;
}

/* The level an odata.metadata value names (minimal for none), or -1. */
static int metadata_level(const char *value)
{
    if (!value) {
        return RA_JW_METADATA_MINIMAL;
    }
    for (int i = 0; i < (int)(sizeof(metadata_levels) / sizeof(metadata_levels[0])); i++) {
        if (!strcasecmp(value, metadata_levels[i])) {
            return i;
        }
    }
    return -1;
}

int ra_odata_format(apr_pool_t *pool, const char *format, int *json,
                    ra_jw_metadata_e *level)
{
    char *params;
    const char *type = media_type_of(apr_pstrdup(pool, format), &params);
    int found;

    *level = RA_JW_METADATA_MINIMAL;
    if (!strcmp(type, "json") || !strcmp(type, "application/json")) {
        *json = 1;
        if ((found = metadata_level(params ? media_param(params, "odata.metadata") : NULL))
            < 0) {
            return 0;
        }
        *level = (ra_jw_metadata_e)found;
        return 1;
    }
    *json = 0;
    return !strcmp(type, "xml") || !strcmp(type, "application/xml");
}

int ra_odata_accept_metadata(apr_pool_t *pool, const char *accept)
{
    char *state, *range, *params;
    const char *value;

    for (range = accept ? apr_strtok(apr_pstrdup(pool, accept), ",", &state) : NULL; range;
         range = apr_strtok(NULL, ",", &state)) {
        if (!strcmp(media_type_of(range, &params), "application/json") && params
            && (value = media_param(params, "odata.metadata")) != NULL) {
            return metadata_level(value);
        }
    }
    return RA_JW_METADATA_MINIMAL;
}

int ra_odata_is_json(apr_pool_t *pool, const char *content_type)
{
    char *params;

    if (!content_type) {
        return 0;
    }
    if (strcmp(media_type_of(apr_pstrdup(pool, content_type), &params), "application/json")) {
        return 0;
    }
    const char *charset = params ? media_param(params, "charset") : NULL;
    return !charset || !strcasecmp(charset, "utf-8");
}

/* Random bits with the given version and RFC 9562's variant. */
static void random_uuid(apr_uuid_t *uuid, int version)
{
    /* random, not apr_uuid_get(): its clock state is shared by all threads,
     * which stays the fallback should the system's random source fail */
    if (apr_generate_random_bytes(uuid->data, sizeof(uuid->data)) != APR_SUCCESS) {
        apr_uuid_get(uuid);
    }
    uuid->data[6] = (unsigned char)((uuid->data[6] & 0x0F) | (version << 4));
    uuid->data[8] = (unsigned char)((uuid->data[8] & 0x3F) | 0x80);
}

static const char *formatted(apr_pool_t *pool, const apr_uuid_t *uuid)
{
    char *text = apr_palloc(pool, APR_UUID_FORMATTED_LENGTH + 1);
    apr_uuid_format(text, uuid);
    return text;
}

const char *ra_odata_new_guid(apr_pool_t *pool)
{
    apr_uuid_t uuid;
    random_uuid(&uuid, 4);
    return formatted(pool, &uuid);
}

const char *ra_odata_new_time_guid(apr_pool_t *pool)
{
    apr_uuid_t uuid;
    apr_uint64_t ms = (apr_uint64_t)apr_time_as_msec(apr_time_now());

    random_uuid(&uuid, 7);
    for (int i = 5; i >= 0; i--, ms >>= 8) { /* 48 bits, big-endian: text sorts by time */
        uuid.data[i] = (unsigned char)(ms & 0xff);
    }
    return formatted(pool, &uuid);
}

int ra_odata_guid_at(const char *s)
{
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !apr_isxdigit(s[i])) {
            return 0; /* a NUL ends the loop here too */
        }
    }
    return 1;
}

const char *ra_odata_lower(apr_pool_t *pool, const char *s, size_t len)
{
    char *lower = apr_pstrmemdup(pool, s, len);
    for (char *c = lower; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return lower;
}

int ra_odata_client_request_id_ok(const char *value)
{
    size_t len = value ? strlen(value) : 0;
    if (len < 1 || len > RA_ODATA_CLIENT_REQUEST_ID_MAX) {
        return 0;
    }
    for (const char *c = value; *c; c++) {
        if (*c < 0x21 || *c > 0x7E || *c == '"' || *c == '\\') {
            return 0;
        }
    }
    return 1;
}

static const struct {
    int status;
    const char *code;
    const char *message;
} statuses[] = {
    { 400, "BadRequest", "The request is malformed (for example its framing, chunked "
                         "encoding, headers or an encoded NUL in its path)." },
    { 401, "InvalidAuthenticationToken", "The request needs a valid bearer token." },
    { 403, "Forbidden", "The request is not allowed." },
    { 404, "ResourceNotFound", "Resource not found (an encoded '/' in a path segment "
                               "names no resource)." },
    { 405, "MethodNotAllowed", "The HTTP method is not allowed on this resource." },
    { 406, "NotAcceptable", "The response is application/json, which the Accept header "
                            "excludes." },
    { 408, "RequestTimeout", "The request was not received in time." },
    { 409, "Conflict", "The request conflicts with the resource's state." },
    { 411, "LengthRequired", "The request body needs a Content-Length or chunked "
                             "encoding." },
    { 412, "PreconditionFailed", "The resource's ETag does not match If-Match." },
    { 413, "RequestEntityTooLarge", "The request body is too large." },
    { 414, "RequestUriTooLong", "The request URI is too long." },
    { 415, "UnsupportedMediaType", "The request body must be application/json." },
    { 417, "ExpectationFailed", "The Expect header cannot be met." },
    { 431, "RequestHeaderFieldsTooLarge", "The request's headers are too large." },
    { 500, "InternalServerError", "The service failed to process the request." },
    { 501, "NotImplemented", "The request uses a feature the service does not "
                             "implement (for example a Transfer-Encoding)." },
    { 503, "ServiceNotAvailable", "The service is unavailable; try again later." },
};

static int status_index(int status)
{
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        if (statuses[i].status == status) {
            return (int)i;
        }
    }
    return -1;
}

const char *ra_odata_status_code(int status)
{
    int i = status_index(status);
    return i >= 0 ? statuses[i].code : status < 500 ? "BadRequest" : "InternalServerError";
}

const char *ra_odata_status_message(int status)
{
    int i = status_index(status);
    return i >= 0 ? statuses[i].message : "The request could not be processed.";
}

/* Bytes of a message that are not UTF-8 (a message may quote a request and
 * cut a character in two) come out as U+FFFD, which the writer does. */
char *ra_odata_error_body(apr_pool_t *pool, const char *code, const char *message,
                          const char *request_id, const char *client_request_id,
                          apr_time_t now, apr_size_t *len)
{
    apr_time_exp_t t;
    char date[32];
    apr_size_t date_len;
    ra_jw_text_t text = { .pool = pool };
    ra_jw_t jw;

    apr_time_exp_gmt(&t, now);
    apr_strftime(date, &date_len, sizeof(date), "%Y-%m-%dT%H:%M:%S", &t);
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    ra_jw_object_open(&jw);
    ra_jw_name(&jw, "error");
    ra_jw_object_open(&jw);
    ra_jw_member_string(&jw, "code", code);
    ra_jw_member_string(&jw, "message", message);
    ra_jw_name(&jw, "innerError");
    ra_jw_object_open(&jw);
    ra_jw_member_string(&jw, "date", date);
    ra_jw_member_string(&jw, "request-id", request_id);
    ra_jw_member_string(&jw, "client-request-id", client_request_id);
    ra_jw_object_close(&jw);
    ra_jw_object_close(&jw);
    ra_jw_object_close(&jw);
    ra_jw_finish(&jw); /* the text sink cannot fail, nor these calls */
    *len = text.len;
    return text.text;
}
